/*
 * The audit spool of a tenant: tenants/<id>/audit-spool.db. Entries that
 * record reads are committed here (the reply that showed the values waits
 * for that), then moved into tenant.db's audit_log in batches by whoever
 * next writes to the chain: the audit committer every SPOOL_MOVE_US or so,
 * a change's transaction, or a reader of the log (src/audit/group.c and
 * audit.c). A commit to tenant.db makes every other connection to it drop
 * its page cache and memory map; a commit here does not.
 *
 * The spool file gets a random epoch when it is made. The transaction that
 * moves entries into audit_log also records (epoch, last id moved) in
 * tenant.db's audit_spool_mark; the moved rows are deleted from the spool
 * only after that commit. A crash in between leaves rows the mark already
 * covers: they are skipped (and deleted) by the next move. A spool file
 * made afresh (another epoch) starts from its first row.
 *
 * One spool connection per tenant pool, guarded by the pool's spool_mu;
 * it is opened when first needed and closed once the spool is empty. Its
 * commits never checkpoint (a checkpoint syncs the file, and the committer,
 * whose replies wait for those commits, must not wait for a sync): after
 * a move, the thread that made it checkpoints the spool on a connection of
 * its own, without spool_mu (a passive checkpoint lets writers go on).
 */
#include "sqlite_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kura/clock.h"
#include "kura/log.h"

#define SPOOL_COLS                                                                          \
	"ts_us, actor_type, actor_id, actor_email, actor_role, ip, user_agent, request_id, " \
	"action, target_type, target_id, target_props, outcome, error_code"

/* Run by kura_sqlite_conn_open for a KURA_SQ_SPOOL connection. */
const char kura_sqlite_spool_schema[] =
	"CREATE TABLE IF NOT EXISTS spool_meta ("
	" one INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),"
	" epoch BLOB NOT NULL CHECK (length(epoch) = 16));"
	"INSERT OR IGNORE INTO spool_meta (one, epoch) VALUES (1, randomblob(16));"
	"CREATE TABLE IF NOT EXISTS spool ("
	" id INTEGER PRIMARY KEY,"
	" ts_us INTEGER NOT NULL, actor_type INTEGER NOT NULL, actor_id INTEGER NOT NULL,"
	" actor_email TEXT NOT NULL, actor_role TEXT NOT NULL, ip TEXT NOT NULL,"
	" user_agent TEXT NOT NULL, request_id TEXT NOT NULL, action TEXT NOT NULL,"
	" target_type TEXT NOT NULL, target_id TEXT NOT NULL, target_props TEXT NOT NULL,"
	" outcome INTEGER NOT NULL, error_code TEXT NOT NULL);";

static const char sql_put[] =
	"INSERT INTO spool (" SPOOL_COLS ") "
	"VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
static const char sql_epoch[] = "SELECT epoch FROM spool_meta WHERE one = 1";
static const char sql_take[] =
	"SELECT id, " SPOOL_COLS " FROM spool WHERE id > ?1 ORDER BY id LIMIT ?2";
/*
 * The newest row stays (the mark covers it: it is never moved again), so
 * that the next id is past every one handed out in this file -- what
 * AUTOINCREMENT would give, without writing sqlite_sequence's page in
 * every commit. Files from before keep their AUTOINCREMENT; both work.
 */
static const char sql_trim[] =
	"DELETE FROM spool WHERE id <= ?1 AND id < (SELECT max(id) FROM spool)";
static const char sql_mark_get[] = "SELECT epoch, last_id FROM audit_spool_mark WHERE one = 1";
static const char sql_mark_put[] =
	"INSERT INTO audit_spool_mark (one, epoch, last_id) VALUES (1, ?1, ?2) "
	"ON CONFLICT (one) DO UPDATE SET epoch = excluded.epoch, last_id = excluded.last_id";

/* Entries read from the spool at a time (each is some 1.5 KB in memory). */
#define SPOOL_CHUNK 1024

#define EPOCH_BYTES 16

char *
kura_sqlite_spool_path(const char *db_path)
{
	const char *slash = strrchr(db_path, '/');
	size_t dir = slash != NULL ? (size_t)(slash - db_path) : 0;
	char *p = NULL;

	if (asprintf(&p, "%.*s%saudit-spool.db", (int)dir, db_path, slash != NULL ? "/" : "") < 0)
		return NULL;
	return p;
}

/* Notes the WAL's size after each commit of the spool connection (spool_mu held). */
static int
spool_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct kura_sqlite_pool *p = arg;

	(void)db;
	(void)name;
	p->spool_wal_pages = pages;
	return SQLITE_OK;
}

/* A new connection to the spool at path; logged when it cannot be opened. */
static enum kura_err
spool_open(struct kura_sqlite_pool *p, const char *path, struct kura_sqlite_conn **out)
{
	char err[512], q[600];
	enum kura_err e;

	err[0] = '\0';
	e = kura_sqlite_touch(path, false, err, sizeof(err));
	if (e == KURA_OK)
		e = kura_sqlite_conn_open(path, KURA_SQ_SPOOL, NULL, out, err, sizeof(err));
	if (e != KURA_OK)
		kura_log(KURA_LOG_ERROR, "audit_spool_open_failed", "tenant=%s err=%s", p->tenant_id,
			 kura_log_quote(q, sizeof(q), err));
	return e;
}

/* The pool's spool connection, opened (and with create, the file made) if need be; spool_mu held. */
static enum kura_err
spool_conn(struct kura_sqlite_pool *p, bool create, struct kura_sqlite_conn **out)
{
	char *path = NULL;
	enum kura_err e;

	*out = p->spool;
	if (p->spool != NULL)
		return KURA_OK;
	path = kura_sqlite_spool_path(p->path);
	if (path == NULL)
		return KURA_E_NOMEM;
	if (!create && access(path, F_OK) != 0) {
		free(path);
		return KURA_E_NOT_FOUND;
	}
	e = spool_open(p, path, &p->spool);
	free(path);
	if (e == KURA_OK)
		sqlite3_wal_hook(p->spool->db, spool_wal_hook, p);
	*out = p->spool;
	return e;
}

/* The pool of a tenant connection; NULL for any other. */
static struct kura_sqlite_pool *
tenant_pool(struct kura_sqlite_conn *c)
{
	if (c == NULL || c->pool == NULL || c->pool->kind != KURA_SQ_TENANT)
		return NULL;
	return c->pool;
}

enum kura_err
kura_sqlite_audit_spool(void *conn, const struct kura_audit_entry *const *es, size_t n)
{
	struct kura_sqlite_pool *p = tenant_pool(conn);
	struct kura_sqlite_conn *s = NULL;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	bool in_tx = false;
	size_t i;

	if (p == NULL)
		return KURA_E_INTERNAL;
	pthread_mutex_lock(&p->spool_mu);
	e = spool_conn(p, true, &s);
	if (e == KURA_OK)
		e = kura_sqlite_begin(s);
	in_tx = e == KURA_OK;
	if (e == KURA_OK)
		e = kura_sqlite_dyn(s, sql_put, &st);
	for (i = 0; e == KURA_OK && i < n; i++) {
		kura_sqlite_audit_bind_fields(st, es[i]);
		e = kura_sqlite_write(s, st, "audit_spool", false);
		sqlite3_reset(st);
	}
	kura_sqlite_done(st);
	if (e == KURA_OK)
		e = kura_sqlite_commit(s);
	if (e != KURA_OK && in_tx)
		kura_sqlite_rollback(s);
	if (e == KURA_OK) {
		/* the first entry since the spool was last all moved */
		if (p->spool_last_id <= p->spool_moved_id)
			p->spool_since_us = kura_mono_us();
		p->spool_last_id = sqlite3_last_insert_rowid(s->db);
		p->spool_checked = true;
	}
	pthread_mutex_unlock(&p->spool_mu);
	return e;
}

bool
kura_sqlite_audit_spooled(void *conn, int64_t *since_us, int64_t *count)
{
	struct kura_sqlite_pool *p = tenant_pool(conn);
	bool r;

	if (p == NULL)
		return false;
	pthread_mutex_lock(&p->spool_mu);
	if (!p->spool_checked) {
		/* Left by an earlier process (or another one): look inside at the next move. */
		char *path = kura_sqlite_spool_path(p->path);

		p->spool_checked = true;
		if (path == NULL || access(path, F_OK) == 0) {
			p->spool_last_id = INT64_MAX;
			p->spool_since_us = kura_mono_us();
		}
		free(path);
	}
	r = p->spool_last_id > p->spool_moved_id;
	if (since_us != NULL)
		*since_us = r ? p->spool_since_us : 0;
	/* ids of one process's entries follow each other: how many is their difference */
	if (count != NULL)
		*count = r && p->spool_last_id != INT64_MAX ? p->spool_last_id - p->spool_moved_id
							   : 0;
	pthread_mutex_unlock(&p->spool_mu);
	return r;
}

/* The spool's epoch into out; KURA_E_NOT_FOUND when it has none. */
static enum kura_err
spool_epoch(struct kura_sqlite_conn *s, uint8_t out[EPOCH_BYTES])
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = kura_sqlite_dyn(s, sql_epoch, &st);
	int rc;

	if (e != KURA_OK)
		return e;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == EPOCH_BYTES)
		memcpy(out, sqlite3_column_blob(st, 0), EPOCH_BYTES);
	else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		e = KURA_E_NOT_FOUND;
	else
		e = kura_sqlite_error(s, "audit_spool_epoch", rc);
	kura_sqlite_done(st);
	return e;
}

/* How far the spool with this epoch was moved (0: never, or another spool). */
static enum kura_err
mark_get(struct kura_sqlite_conn *c, const uint8_t epoch[EPOCH_BYTES], int64_t *last)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = kura_sqlite_dyn(c, sql_mark_get, &st);
	int rc;

	*last = 0;
	if (e != KURA_OK)
		return e;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) == EPOCH_BYTES &&
		    memcmp(sqlite3_column_blob(st, 0), epoch, EPOCH_BYTES) == 0)
			*last = sqlite3_column_int64(st, 1);
	} else if (rc != SQLITE_DONE) {
		e = kura_sqlite_error(c, "audit_spool_mark", rc);
	}
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
mark_put(struct kura_sqlite_conn *c, const uint8_t epoch[EPOCH_BYTES], int64_t last)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = kura_sqlite_dyn(c, sql_mark_put, &st);

	if (e != KURA_OK)
		return e;
	sqlite3_bind_blob(st, 1, epoch, EPOCH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, last);
	e = kura_sqlite_write(c, st, "audit_spool_mark", false);
	kura_sqlite_done(st);
	return e;
}

/* Up to SPOOL_CHUNK entries after id last into es (their ids in seq); *n how many. */
static enum kura_err
take(struct kura_sqlite_conn *s, int64_t last, struct kura_audit_entry *es, size_t *n)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = kura_sqlite_dyn(s, sql_take, &st);
	int rc;

	*n = 0;
	if (e != KURA_OK)
		return e;
	sqlite3_bind_int64(st, 1, last);
	sqlite3_bind_int(st, 2, SPOOL_CHUNK);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < SPOOL_CHUNK)
		kura_sqlite_audit_fields(st, &es[(*n)++]);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		e = kura_sqlite_error(s, "audit_spool_take", rc);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
savepoint(struct kura_sqlite_conn *c, const char *sql)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? KURA_OK : kura_sqlite_error(c, "audit_unspool_savepoint", rc);
}

enum kura_err
kura_sqlite_audit_unspool(void *conn, kura_audit_unspool_cb cb, void *ctx, size_t *moved)
{
	struct kura_sqlite_conn *c = conn;
	struct kura_sqlite_pool *p = tenant_pool(c);
	struct kura_sqlite_conn *s = NULL;
	struct kura_audit_entry *es = NULL;
	uint8_t epoch[EPOCH_BYTES];
	int64_t last = 0, start;
	enum kura_err e;
	size_t n, i, total = 0;

	if (p == NULL)
		return KURA_E_INTERNAL;
	if (!kura_sqlite_audit_spooled(conn, NULL, NULL))
		return KURA_OK;
	es = malloc(SPOOL_CHUNK * sizeof(*es));
	if (es == NULL)
		return KURA_E_NOMEM;
	/*
	 * spool_mu is held while the spool is read, not while the entries are
	 * chained: the committer goes on spooling meanwhile (rows with higher
	 * ids, for the next move). No other move runs: the caller holds the
	 * tenant's write lock.
	 */
	pthread_mutex_lock(&p->spool_mu);
	e = spool_conn(p, false, &s);
	if (e == KURA_E_NOT_FOUND) {
		/* no spool file: nothing was ever spooled */
		p->spool_moved_id = p->spool_last_id = 0;
		e = KURA_OK;
		goto out;
	}
	if (e == KURA_OK)
		e = spool_epoch(s, epoch);
	if (e == KURA_OK)
		e = mark_get(c, epoch, &last);
	if (e != KURA_OK)
		goto out;
	start = last;
	e = savepoint(c, "SAVEPOINT audit_unspool");
	if (e != KURA_OK)
		goto out;
	do {
		e = take(s, last, es, &n);
		pthread_mutex_unlock(&p->spool_mu);
		for (i = 0; e == KURA_OK && i < n; i++) {
			last = es[i].seq;
			es[i].seq = 0;
			e = cb(ctx, &es[i]);
		}
		total += i;
		/* s stays open meanwhile: only a move's commit (which this caller holds off) closes it */
		pthread_mutex_lock(&p->spool_mu);
	} while (e == KURA_OK && n == SPOOL_CHUNK);
	if (e == KURA_OK && last > start)
		e = mark_put(c, epoch, last);
	if (e != KURA_OK) {
		(void)savepoint(c, "ROLLBACK TO audit_unspool");
		total = 0;
	}
	if (savepoint(c, "RELEASE audit_unspool") != KURA_OK && e == KURA_OK)
		e = KURA_E_STORE;
	if (e == KURA_OK) {
		/*
		 * Trimmed (up to the mark: rows a crash kept from an earlier trim
		 * too) once the caller's transaction commits (kura_sqlite_commit).
		 */
		if (p->spool_last_id == INT64_MAX)
			p->spool_last_id = last; /* what an earlier process left is all read now */
		if (last > 0)
			c->spool_trim_to = last;
		else
			p->spool_moved_id = p->spool_last_id; /* an empty spool */
	}
out:
	pthread_mutex_unlock(&p->spool_mu);
	free(es);
	if (moved != NULL)
		*moved = total;
	return e;
}

/* A passive checkpoint of the spool on the pool's checkpoint connection; no mutex held. */
static void
spool_checkpoint(struct kura_sqlite_pool *p)
{
	struct kura_sqlite_conn *ck, *spare;
	char *path;
	int rc;

	pthread_mutex_lock(&p->spool_mu);
	ck = p->spool_ckpt;
	p->spool_ckpt = NULL;
	pthread_mutex_unlock(&p->spool_mu);
	if (ck == NULL) {
		path = kura_sqlite_spool_path(p->path);
		if (path == NULL || spool_open(p, path, &ck) != KURA_OK) {
			free(path);
			return;
		}
		free(path);
		sqlite3_wal_hook(ck->db, NULL, NULL);
	}
	rc = sqlite3_wal_checkpoint_v2(ck->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
		(void)kura_sqlite_error(ck, "audit_spool_checkpoint", rc);
	pthread_mutex_lock(&p->spool_mu);
	spare = p->spool_ckpt;
	if (spare == NULL)
		p->spool_ckpt = ck;
	pthread_mutex_unlock(&p->spool_mu);
	if (spare != NULL)
		kura_sqlite_conn_close(ck);
}

void
kura_sqlite_spool_trim(struct kura_sqlite_conn *c)
{
	struct kura_sqlite_pool *p = tenant_pool(c);
	struct kura_sqlite_conn *s = NULL, *gone = NULL, *gone_ck = NULL;
	sqlite3_stmt *st = NULL;
	int64_t to = c->spool_trim_to;
	enum kura_err e;
	bool checkpoint = false;

	c->spool_trim_to = 0;
	if (p == NULL || to <= 0)
		return;
	pthread_mutex_lock(&p->spool_mu);
	if (to > p->spool_moved_id)
		p->spool_moved_id = to;
	/* spooled while the move ran: the oldest of them is that recent */
	if (p->spool_last_id > p->spool_moved_id)
		p->spool_since_us = kura_mono_us();
	e = spool_conn(p, false, &s);
	if (e == KURA_OK)
		e = kura_sqlite_dyn(s, sql_trim, &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, to);
		/* On failure the rows stay; the mark keeps them out of the next move. */
		e = kura_sqlite_write(s, st, "audit_spool_trim", false);
		kura_sqlite_done(st);
	}
	if (e == KURA_OK && p->spool_last_id <= p->spool_moved_id) {
		/* Empty: its descriptors go back until the next spooled entry (closed below). */
		gone = p->spool;
		gone_ck = p->spool_ckpt;
		p->spool = NULL;
		p->spool_ckpt = NULL;
		p->spool_wal_pages = 0;
	} else {
		checkpoint = p->spool_wal_pages >= KURA_SQ_WAL_PASSIVE_PAGES;
	}
	pthread_mutex_unlock(&p->spool_mu);
	/* Closing the last connection checkpoints and syncs: never under spool_mu. */
	kura_sqlite_conn_close(gone_ck);
	kura_sqlite_conn_close(gone);
	if (checkpoint)
		spool_checkpoint(p);
}

void
kura_sqlite_spool_fini(struct kura_sqlite_pool *p)
{
	kura_sqlite_conn_close(p->spool_ckpt);
	kura_sqlite_conn_close(p->spool);
	p->spool_ckpt = NULL;
	p->spool = NULL;
}
