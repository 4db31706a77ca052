/*
 * The SQLite back end's foundation: opening a connection with Kura's
 * settings, the per-connection prepared-statement cache, error mapping,
 * transactions, schema migrations, and the back end's open/close/ping.
 * The connection pools are in pool.c; the resources in tenants.c, users.c
 * and sessions.c.
 */
#include "sqlite_int.h"
#include "sqlite_crm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kura/log.h"
#include "kura/monitor.h"

/* Connections to system.db: enough for the HTTP and hashing threads. */
#define SYSTEM_CONNS 8

static const char sql_begin[] = "BEGIN IMMEDIATE";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";
static const char sql_ping[] = "SELECT 1";
static const char sql_info_get[] = "SELECT tenant_id FROM tenant_info WHERE id = 1";

static void
seterr(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || n == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

bool
kura_sqlite_tenant_id_ok(const char *id)
{
	size_t i;

	if (id == NULL || !(id[0] >= 'a' && id[0] <= 'z'))
		return false;
	for (i = 0; id[i] != '\0'; i++) {
		char ch = id[i];

		if (i >= KURA_TENANT_ID_MAX)
			return false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
	}
	return i >= 2;
}

char *
kura_sqlite_tenant_path(const struct kura_sqlite_be *be, const char *id, bool file)
{
	char *p = NULL;
	int r;

	/* The id becomes a path component: never let a malformed one through. */
	if (!kura_sqlite_tenant_id_ok(id))
		return NULL;
	r = asprintf(&p, "%s/tenants/%s%s", be->data_dir, id, file ? "/tenant.db" : "");
	if (r < 0)
		return NULL;
	return p;
}

enum kura_err
kura_sqlite_mkdir(const char *path, char *err, size_t n)
{
	struct stat sb;

	if (mkdir(path, 0700) == 0)
		return KURA_OK;
	if (errno == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return KURA_OK;
	seterr(err, n, "cannot create directory %s: %s", path, strerror(errno));
	return KURA_E_IO;
}

enum kura_err
kura_sqlite_touch(const char *path, bool excl, char *err, size_t n)
{
	enum kura_err e = KURA_OK;
	struct stat sb;
	int flags = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
	int fd;

	if (excl)
		flags |= O_EXCL;
	fd = open(path, flags, 0600);
	if (fd < 0) {
		e = (excl && errno == EEXIST) ? KURA_E_EXISTS : KURA_E_IO;
		seterr(err, n, "cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		e = KURA_E_IO;
		seterr(err, n, "%s is not a regular file", path);
		goto out;
	}
	/*
	 * An existing database readable by others holds personal data in the
	 * open: tighten it. SQLite gives -wal and -shm the main file's mode.
	 */
	if ((sb.st_mode & 077) != 0) {
		kura_log(KURA_LOG_WARN, "store_file_mode", "path=%s mode=%o action=chmod_0600",
			 path, (unsigned)(sb.st_mode & 0777));
		if (fchmod(fd, 0600) != 0) {
			e = KURA_E_IO;
			seterr(err, n, "cannot chmod %s: %s", path, strerror(errno));
			goto out;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return e;
}

bool
kura_sqlite_is_dup(int rc)
{
	return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY;
}

enum kura_err
kura_sqlite_error(struct kura_sqlite_conn *c, const char *op, int rc)
{
	char msg[256];
	int prim = rc & 0xff;

	kura_log_quote(msg, sizeof(msg),
		       (c != NULL && c->db != NULL) ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
	kura_log(KURA_LOG_ERROR, "store_error", "op=%s rc=%d msg=%s", op, rc, msg);
	kura_metrics_store_error();
	/* BUSY reaches us only once busy_wait has given up: the store is overloaded. */
	if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
		return KURA_E_UNAVAILABLE;
	return KURA_E_STORE;
}

void
kura_sqlite_col_text(sqlite3_stmt *st, int col, char *dst, size_t n)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	size_t len = (size_t)sqlite3_column_bytes(st, col);

	if (n == 0)
		return;
	if (s == NULL)
		len = 0;
	if (len > n - 1)
		len = n - 1;
	if (len > 0)
		memcpy(dst, s, len);
	dst[len] = '\0';
}

enum kura_err
kura_sqlite_stmt(struct kura_sqlite_conn *c, enum kura_sqlite_stmt_id id, const char *sql,
		 sqlite3_stmt **out)
{
	enum kura_err e = KURA_OK;
	int rc;

	*out = NULL;
	if (c->stmt[id] == NULL) {
		/* PERSISTENT: these live as long as the connection. */
		rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[id],
					NULL);
		if (rc != SQLITE_OK) {
			e = kura_sqlite_error(c, "prepare", rc);
			c->stmt[id] = NULL;
			goto out;
		}
	}
	*out = c->stmt[id];
out:
	return e;
}

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

enum kura_err
kura_sqlite_dyn(struct kura_sqlite_conn *c, const char *sql, sqlite3_stmt **out)
{
	struct kura_sqlite_dyn_slot *slot = NULL, *victim = &c->dyn[0];
	uint64_t h = fnv1a(sql);
	enum kura_err e = KURA_OK;
	int rc;

	*out = NULL;
	for (size_t i = 0; i < KURA_SQ_DYN_MAX; i++) {
		struct kura_sqlite_dyn_slot *d = &c->dyn[i];

		if (d->st != NULL && d->hash == h && strcmp(d->sql, sql) == 0) {
			slot = d;
			break;
		}
		if (d->st == NULL || d->used < victim->used)
			victim = d;
	}
	if (slot == NULL) {
		char *copy = strdup(sql);
		sqlite3_stmt *st = NULL;

		if (copy == NULL) {
			e = KURA_E_NOMEM;
			goto out;
		}
		rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
		if (rc != SQLITE_OK) {
			free(copy);
			e = kura_sqlite_error(c, "prepare", rc);
			goto out;
		}
		sqlite3_finalize(victim->st);
		free(victim->sql);
		victim->sql = copy;
		victim->hash = h;
		victim->st = st;
		slot = victim;
	}
	slot->used = ++c->dyn_clock;
	*out = slot->st;
out:
	return e;
}

void
kura_sqlite_done(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

enum kura_err
kura_sqlite_each(struct kura_sqlite_conn *c, sqlite3_stmt *st, const char *op,
		 kura_sqlite_row_fn fn, void *ctx)
{
	int rc;

	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			return KURA_OK;
		if (rc != SQLITE_ROW)
			return kura_sqlite_error(c, op, rc);
		fn(st, ctx);
	}
}

enum kura_err
kura_sqlite_write(struct kura_sqlite_conn *c, sqlite3_stmt *st, const char *op, bool need_row)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		return kura_sqlite_error(c, op, rc);
	if (need_row && sqlite3_changes(c->db) == 0)
		return KURA_E_NOT_FOUND;
	return KURA_OK;
}

/* Runs a cached statement that returns no rows. */
static enum kura_err
run_simple(struct kura_sqlite_conn *c, enum kura_sqlite_stmt_id id, const char *sql,
	   const char *op)
{
	enum kura_err e;
	sqlite3_stmt *st = NULL;
	int rc;

	e = kura_sqlite_stmt(c, id, sql, &st);
	if (e != KURA_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		e = kura_sqlite_error(c, op, rc);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_begin(struct kura_sqlite_conn *c)
{
	/* IMMEDIATE: take the write lock now, so the busy wait applies to it
	 * instead of a read transaction failing at its first write. */
	return run_simple(c, KURA_SQ_BEGIN, sql_begin, "begin");
}

enum kura_err
kura_sqlite_begin_nowait(struct kura_sqlite_conn *c)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_BEGIN, sql_begin, &st);
	if (e != KURA_OK)
		return e;
	c->no_wait = true;
	rc = sqlite3_step(st);
	c->no_wait = false;
	if ((rc & 0xff) == SQLITE_BUSY)
		e = KURA_E_BUSY;
	else if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		e = kura_sqlite_error(c, "begin", rc);
	kura_sqlite_done(st);
	return e;
}

/* A transaction of a pool's connection runs on its tenant's writer (kura_sqlite_writer_take). */
static enum kura_err
begin_on_writer(struct kura_sqlite_conn *c, bool nowait)
{
	bool took = false;
	enum kura_err e = kura_sqlite_writer_take(c, nowait, &took);

	if (e == KURA_OK)
		e = nowait ? kura_sqlite_begin_nowait(c) : kura_sqlite_begin(c);
	if (e != KURA_OK && took)
		kura_sqlite_writer_give(c);
	return e;
}

enum kura_err
kura_sqlite_op_begin_nowait(void *conn)
{
	return begin_on_writer(conn, true);
}

/* The files of the transaction: unlinked (commit true) or kept; the list emptied. */
static void
pending_unlinks(struct kura_sqlite_conn *c, bool commit)
{
	for (size_t i = 0; i < c->n_unlink; i++) {
		if (commit && unlink(c->unlink_on_commit[i]) != 0 && errno != ENOENT)
			kura_log(KURA_LOG_ERROR, "unlink_failed", "path=%s errno=%d",
				 c->unlink_on_commit[i], errno);
		free(c->unlink_on_commit[i]);
	}
	c->n_unlink = 0;
}

enum kura_err
kura_sqlite_unlink_on_commit(struct kura_sqlite_conn *c, char *path)
{
	if (sqlite3_get_autocommit(c->db)) {
		enum kura_err e = unlink(path) != 0 && errno != ENOENT ? KURA_E_IO : KURA_OK;

		free(path);
		return e;
	}
	if (c->n_unlink == c->cap_unlink) {
		size_t cap = c->cap_unlink ? c->cap_unlink * 2 : 8;
		char **nv = realloc(c->unlink_on_commit, cap * sizeof(*nv));

		if (nv == NULL) {
			free(path);
			return KURA_E_NOMEM;
		}
		c->unlink_on_commit = nv;
		c->cap_unlink = cap;
	}
	c->unlink_on_commit[c->n_unlink++] = path;
	return KURA_OK;
}

enum kura_err
kura_sqlite_commit(struct kura_sqlite_conn *c)
{
	enum kura_err e = run_simple(c, KURA_SQ_COMMIT, sql_commit, "commit");

	/* A failed commit is rolled back by the caller, which drops the list. */
	if (e == KURA_OK) {
		pending_unlinks(c, true);
		kura_sqlite_spool_trim(c);
	}
	return e;
}

void
kura_sqlite_rollback(struct kura_sqlite_conn *c)
{
	pending_unlinks(c, false);
	c->spool_moved.set = false;
	/* Nothing to undo (or SQLite already rolled back after an error). */
	if (sqlite3_get_autocommit(c->db))
		return;
	(void)run_simple(c, KURA_SQ_ROLLBACK, sql_rollback, "rollback");
}

enum kura_err
kura_sqlite_op_begin(void *conn)
{
	return begin_on_writer(conn, false);
}

/*
 * The writer goes back with its transaction ended: a failed commit is
 * rolled back here (the caller's own rollback then finds nothing to undo).
 */
enum kura_err
kura_sqlite_op_commit(void *conn)
{
	struct kura_sqlite_conn *c = conn;
	enum kura_err e = kura_sqlite_commit(c);

	if (c->wslot != NULL) {
		if (e != KURA_OK)
			kura_sqlite_rollback(c);
		kura_sqlite_writer_give(c);
	}
	return e;
}

void
kura_sqlite_op_rollback(void *conn)
{
	struct kura_sqlite_conn *c = conn;

	kura_sqlite_rollback(c);
	if (c->wslot != NULL)
		kura_sqlite_writer_give(c);
}

static enum kura_err
user_version(struct kura_sqlite_conn *c, int *out)
{
	enum kura_err e = KURA_OK;
	sqlite3_stmt *st = NULL;
	int rc;

	*out = 0;
	/* Only at connection open: not worth a cache slot. */
	rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		e = kura_sqlite_error(c, "user_version", rc);
		goto out;
	}
	*out = sqlite3_column_int(st, 0);
out:
	sqlite3_finalize(st);
	return e;
}

static enum kura_err
exec(struct kura_sqlite_conn *c, const char *sql, const char *op)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return kura_sqlite_error(c, op, rc);
	return KURA_OK;
}

static enum kura_err
too_new(const char *path, int v, int max, char *err, size_t n)
{
	seterr(err, n, "database %s has schema version %d, this kurad knows up to %d; "
		       "upgrade kurad", path, v, max);
	kura_log(KURA_LOG_ERROR, "store_db_too_new", "path=%s version=%d known=%d", path, v,
		 max);
	return KURA_E_DB_TOO_NEW;
}

/*
 * Brings the schema to the newest version this binary knows, all pending
 * steps in one transaction: a crash or a failing step leaves the database
 * at its old version, never half-way.
 */
static enum kura_err
migrate(struct kura_sqlite_conn *c, const char *path, enum kura_sqlite_kind kind, char *err,
	size_t n)
{
	const char *const *steps = kind == KURA_SQ_SYSTEM ? kura_sqlite_migrations_system
							  : kura_sqlite_migrations_tenant;
	int max = kind == KURA_SQ_SYSTEM ? kura_store_schema_version_system
					 : kura_store_schema_version_tenant;
	enum kura_err e;
	bool in_tx = false;
	int from, v;

	/* The usual case, checked without taking the write lock. */
	e = user_version(c, &v);
	if (e != KURA_OK)
		goto fail;
	if (v > max) {
		e = too_new(path, v, max, err, n);
		goto out;
	}
	if (v == max)
		goto out;

	e = kura_sqlite_begin(c);
	if (e != KURA_OK)
		goto fail;
	in_tx = true;
	/* Another connection may have migrated while we waited for the lock. */
	e = user_version(c, &v);
	if (e != KURA_OK)
		goto fail;
	if (v > max) {
		e = too_new(path, v, max, err, n);
		goto out;
	}
	from = v;
	for (; v < max; v++) {
		char pragma[48];

		e = exec(c, steps[v], "migrate");
		if (e != KURA_OK) {
			seterr(err, n, "database %s: migration %d failed: %s", path, v + 1,
			       sqlite3_errmsg(c->db));
			goto out;
		}
		/* PRAGMA takes no parameters; v is our own counter, not outside text. */
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		e = exec(c, pragma, "migrate");
		if (e != KURA_OK)
			goto fail;
	}
	e = kura_sqlite_commit(c);
	if (e != KURA_OK)
		goto fail;
	in_tx = false;
	if (from != max)
		kura_log(KURA_LOG_INFO, "store_migrated", "path=%s from=%d to=%d", path, from,
			 max);
	goto out;
fail:
	seterr(err, n, "database %s: cannot read or migrate the schema: %s", path,
	       sqlite3_errmsg(c->db));
out:
	if (in_tx)
		kura_sqlite_rollback(c);
	return e;
}

/* The tenant id recorded in a tenant database must be the one asked for. */
static enum kura_err
check_tenant(struct kura_sqlite_conn *c, const char *path, const char *tenant_id, char *err,
	     size_t n)
{
	enum kura_err e = KURA_OK;
	sqlite3_stmt *st = NULL;
	char got[KURA_TENANT_ID_MAX + 1];
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_TENANT_INFO_GET, sql_info_get, &st);
	if (e != KURA_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		e = kura_sqlite_error(c, "tenant_info_get", rc);
		goto out;
	}
	got[0] = '\0';
	if (rc == SQLITE_ROW)
		kura_sqlite_col_text(st, 0, got, sizeof(got));
	if (strcmp(got, tenant_id) != 0) {
		kura_log(KURA_LOG_ERROR, "store_tenant_mismatch", "path=%s expected=%s", path,
			 tenant_id);
		seterr(err, n, "database %s does not belong to tenant %s", path, tenant_id);
		e = KURA_E_STORE;
	}
out:
	kura_sqlite_done(st);
	return e;
}

/* journal_mode answers with the mode in force; anything but "wal" is a failure. */
static int
wal_cb(void *ctx, int ncol, char **val, char **name)
{
	bool *ok = ctx;

	*ok = ncol == 1 && val[0] != NULL && strcmp(val[0], "wal") == 0;
	return 0;
}

/*
 * Waiting for another connection's write lock. SQLite's own busy timeout
 * sleeps 1, 2, 5, 10 ... 100 ms between tries: a writer then sleeps far
 * longer than the few milliseconds a batch holds the lock, and concurrent
 * writers of one tenant go slower together than one alone. Here the wait
 * is short and steady (0.2 ms, then 1 ms after the first 50 tries) up to
 * the same total of KURA_SQ_BUSY_TIMEOUT_MS.
 */
static int
busy_wait(void *arg, int count)
{
	const struct kura_sqlite_conn *c = arg;
	struct timespec ts = {0, count < 50 ? 200000 : 1000000};
	long waited_us = count < 50 ? count * 200L : 50 * 200L + (count - 50) * 1000L;

	if (c->no_wait || waited_us >= KURA_SQ_BUSY_TIMEOUT_MS * 1000L)
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

void
kura_sqlite_busy_rebind(struct kura_sqlite_conn *c)
{
	(void)sqlite3_busy_handler(c->db, busy_wait, c);
}

int
kura_sqlite_checkpoint(sqlite3 *db, const char *name, int pages)
{
	if (pages < KURA_SQ_WAL_PASSIVE_PAGES)
		return SQLITE_OK;
	return sqlite3_wal_checkpoint_v2(db, name,
					 pages >= KURA_SQ_WAL_RESTART_PAGES ? SQLITE_CHECKPOINT_RESTART
									    : SQLITE_CHECKPOINT_PASSIVE,
					 NULL, NULL);
}

/* After each commit, in the committing thread (see pool.c for tenant pools). */
static int
wal_checkpoint(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)arg;
	(void)kura_sqlite_checkpoint(db, name, pages);
	return SQLITE_OK;
}

enum kura_err
kura_sqlite_conn_open(const char *path, enum kura_sqlite_kind kind, const char *tenant_id,
		      struct kura_sqlite_conn **out, char *err, size_t n)
{
	/*
	 * NOMUTEX: the pool guarantees one thread at a time per connection.
	 * No CREATE: the caller made the file with the right mode already, and a
	 * tenant whose database went missing must fail, not start empty.
	 */
	const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
	/*
	 * synchronous=NORMAL is durable enough with WAL (a power cut may lose the
	 * last commits, never corrupt). secure_delete overwrites deleted rows, so
	 * erased personal data and destroyed keys do not linger in free pages.
	 * trusted_schema=OFF keeps a tampered schema from calling functions.
	 * A 32 MiB page cache (filled only as pages are used) keeps the upper
	 * levels of a big tenant's indexes in memory; the rest is read with
	 * pread from the kernel's page cache. No memory map (mmap_size 0): once
	 * another connection has committed, SQLite unmaps a reader's whole map
	 * at its next read transaction and faults every page in again; with a
	 * commit a second (the audit spool's moves) the readers of a 1M-record
	 * tenant stalled together for 30-80 ms each time (bench/README.md).
	 */
	static const char pragmas[] = "PRAGMA foreign_keys = ON;"
				      "PRAGMA synchronous = NORMAL;"
				      "PRAGMA secure_delete = ON;"
				      "PRAGMA trusted_schema = OFF;"
				      "PRAGMA cache_size = -32768;"
				      "PRAGMA mmap_size = 0;"
				      "PRAGMA journal_size_limit = 67108864;";
	struct kura_sqlite_conn *c = NULL;
	enum kura_err e = KURA_OK;
	bool wal = false;
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		e = KURA_E_NOMEM;
		seterr(err, n, "out of memory");
		goto out;
	}
	rc = sqlite3_open_v2(path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		e = kura_sqlite_error(c, "open", rc);
		seterr(err, n, "cannot open %s: %s", path,
		       c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(c->db, 1);
	/* Defensive: no writable_schema tricks; no double-quoted string literals. */
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DQS_DDL, 0, NULL);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DQS_DML, 0, NULL);
	/* Before anything that may need a lock. */
	rc = sqlite3_busy_handler(c->db, busy_wait, c);
	if (rc != SQLITE_OK) {
		e = kura_sqlite_error(c, "busy_timeout", rc);
		goto fail;
	}
	sqlite3_wal_hook(c->db, wal_checkpoint, NULL);
	rc = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", wal_cb, &wal, NULL);
	if (rc != SQLITE_OK) {
		e = kura_sqlite_error(c, "journal_mode", rc);
		goto fail;
	}
	if (!wal) {
		e = KURA_E_STORE;
		seterr(err, n, "cannot put %s in WAL mode", path);
		goto out;
	}
	e = exec(c, pragmas, "pragma");
	if (e != KURA_OK)
		goto fail;
	if (kind == KURA_SQ_SPOOL) {
		/* One table that never changes shape (spool.c). */
		e = exec(c, kura_sqlite_spool_schema, "spool_schema");
		if (e != KURA_OK)
			goto fail;
	} else {
		e = migrate(c, path, kind, err, n);
		if (e != KURA_OK)
			goto out;
	}
	if (kind == KURA_SQ_TENANT && tenant_id != NULL) {
		e = check_tenant(c, path, tenant_id, err, n);
		if (e != KURA_OK)
			goto out;
	}
	if (kind == KURA_SQ_TENANT && kura_sqlite_crm_functions(c->db) != SQLITE_OK) {
		e = KURA_E_STORE;
		goto fail;
	}
	*out = c;
	c = NULL;
	goto out;
fail:
	seterr(err, n, "cannot set up %s: %s", path, sqlite3_errmsg(c->db));
out:
	kura_sqlite_conn_close(c);
	return e;
}

void
kura_sqlite_conn_close(struct kura_sqlite_conn *c)
{
	size_t i;
	int rc;

	if (c == NULL)
		return;
	pending_unlinks(c, false);
	free(c->unlink_on_commit);
	for (i = 0; i < KURA_SQ__COUNT; i++)
		sqlite3_finalize(c->stmt[i]);
	for (i = 0; i < KURA_SQ_DYN_MAX; i++) {
		sqlite3_finalize(c->dyn[i].st);
		free(c->dyn[i].sql);
	}
	if (c->db != NULL) {
		rc = sqlite3_close(c->db);
		if (rc != SQLITE_OK)
			(void)kura_sqlite_error(c, "close", rc);
	}
	free(c);
}

enum kura_err
kura_sqlite_open(const char *data_dir, unsigned max_conns_per_tenant, void **out, char *err,
		 size_t n)
{
	struct kura_sqlite_be *be = NULL;
	struct kura_sqlite_conn *c = NULL;
	enum kura_err e = KURA_OK;
	char *path = NULL;
	bool mu = false, sys = false;

	*out = NULL;
	/* NOMUTEX connections are only safe in a library built thread-safe. */
	if (!sqlite3_threadsafe()) {
		e = KURA_E_CONFIG;
		seterr(err, n, "the SQLite library is built without thread support");
		goto out;
	}
	be = calloc(1, sizeof(*be));
	if (be == NULL)
		goto nomem;
	be->data_dir = strdup(data_dir);
	if (be->data_dir == NULL)
		goto nomem;
	be->max_conns = max_conns_per_tenant;
	atomic_store(&be->spool_max, KURA_SQ_SPOOL_MAX_DEFAULT);
	be->gen_fd = -1;
	if (pthread_mutex_init(&be->mu, NULL) != 0)
		goto nomem;
	mu = true;

	e = kura_sqlite_mkdir(data_dir, err, n);
	if (e != KURA_OK)
		goto out;
	if (asprintf(&path, "%s/tenants", data_dir) < 0) {
		path = NULL;
		goto nomem;
	}
	e = kura_sqlite_mkdir(path, err, n);
	if (e != KURA_OK)
		goto out;
	free(path);
	if (asprintf(&path, "%s/system.db", data_dir) < 0) {
		path = NULL;
		goto nomem;
	}
	e = kura_sqlite_touch(path, false, err, n);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_pool_init(&be->system, KURA_SQ_SYSTEM, "", path, SYSTEM_CONNS);
	if (e != KURA_OK)
		goto out;
	sys = true;
	/* The first connection migrates system.db now, so a too-new one stops start-up. */
	e = kura_sqlite_conn_open(path, KURA_SQ_SYSTEM, NULL, &c, err, n);
	if (e != KURA_OK)
		goto out;
	kura_sqlite_system_adopt(be, c);
	if (!kura_sqlite_checkpointer_start(be))
		kura_log(KURA_LOG_WARN, "checkpointer_off", "dir=%s", data_dir);
	/* Without the generation file every request reads its tenant row: slower, as correct. */
	if (!kura_sqlite_tenant_cache_init(be))
		kura_log(KURA_LOG_WARN, "tenant_cache_off", "dir=%s", data_dir);
	*out = be;
	be = NULL;
	goto out;
nomem:
	e = KURA_E_NOMEM;
	seterr(err, n, "out of memory");
out:
	free(path);
	if (be != NULL) {
		if (sys)
			kura_sqlite_pool_fini(&be->system);
		if (mu)
			pthread_mutex_destroy(&be->mu);
		free(be->data_dir);
		free(be);
	}
	return e;
}

void
kura_sqlite_close(void *p)
{
	struct kura_sqlite_be *be = p;

	if (be == NULL)
		return;
	kura_sqlite_checkpointer_stop(be);
	kura_sqlite_pools_free(be);
	kura_sqlite_pool_fini(&be->system);
	kura_sqlite_tenant_cache_fini(be);
	pthread_mutex_destroy(&be->mu);
	free(be->data_dir);
	free(be);
}

enum kura_err
kura_sqlite_ping(void *p)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	enum kura_err e;

	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	e = run_simple(c, KURA_SQ_PING, sql_ping, "ping");
out:
	kura_sqlite_release(be, c);
	return e;
}
