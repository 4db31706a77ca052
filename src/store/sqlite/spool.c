/*
 * The audit spool of a tenant: entries that record reads are appended to
 * tenants/<id>/audit-spool.log (the reply that showed the values leaves
 * once its entry is written there), then moved into tenant.db's audit_log
 * in batches by whoever next writes to the chain: the mover about twice a
 * second, a change's transaction, or a reader of the log (src/audit/group.c
 * and audit.c). A commit to tenant.db makes every other connection to it
 * drop its page cache and memory map; an append here does not, and it is
 * one write(2) by the request's own thread, with no lock of SQLite's.
 *
 * The file: a header (the magic "KURASPL1" and a random 16-byte epoch,
 * made with the file), then one frame per entry:
 *   u32le n | n bytes of entry | BLAKE2b-128 of (u32le n | entry)
 * The entry: i64le ts_us, u8 actor_type, i64le actor_id, u8 outcome, then
 * actor_email, actor_role, ip, user_agent, request_id, action, target_type,
 * target_id, target_props, error_code, each u16le length | bytes (no NUL).
 * A frame whose length or sum is wrong ends what is read of a file: a torn
 * last write (power lost mid-write), or the frame another process is
 * writing at this moment. The process that appends cuts a torn end off
 * when it first opens a file (logged with the bytes dropped).
 *
 * The transaction that moves entries into audit_log also records in
 * tenant.db's audit_spool_mark how far: (epoch of the file, offset past
 * the last frame moved). A move reads, in this order, the spool files
 * that exist: audit-spool.db (a spool table, from before the log file:
 * epoch and row ids in the mark), audit-spool.log.1 (the log, rolled aside
 * once it grew past SPOOL_ROLL_BYTES), audit-spool.log. Every file before
 * the one the mark names was moved whole, the one it names is moved from
 * its offset, the ones after it whole: a move always reads every file to
 * its end, so the mark naming a file means every earlier one was read
 * whole by a committed move. Files read whole are deleted once the move
 * commits, and so is the log when nothing was appended after what the
 * move read; a crash in between leaves files the mark covers, and they are
 * skipped (and deleted) by the next move. A log made afresh has another
 * epoch and is moved from its first frame.
 *
 * Only a process that appends (kurad) rolls or deletes the log, under
 * spool_mu and its tenant's write lock; one that only moves (a kura command
 * while kurad runs) reads what is there and leaves it.
 */
#include "sqlite_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/clock.h"
#include "kura/crypto.h"
#include "kura/log.h"

#define SPOOL_COLS                                                                          \
	"ts_us, actor_type, actor_id, actor_email, actor_role, ip, user_agent, request_id, " \
	"action, target_type, target_id, target_props, outcome, error_code"

/* Run by kura_sqlite_conn_open for a KURA_SQ_SPOOL connection (the spool table of before). */
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

static const char sql_epoch[] = "SELECT epoch FROM spool_meta WHERE one = 1";
static const char sql_take[] =
	"SELECT id, " SPOOL_COLS " FROM spool WHERE id > ?1 ORDER BY id LIMIT ?2";
static const char sql_mark_get[] = "SELECT epoch, last_id FROM audit_spool_mark WHERE one = 1";
static const char sql_mark_put[] =
	"INSERT INTO audit_spool_mark (one, epoch, last_id) VALUES (1, ?1, ?2) "
	"ON CONFLICT (one) DO UPDATE SET epoch = excluded.epoch, last_id = excluded.last_id";

/* Entries of the spool table of before read at a time (each is some 1.5 KB in memory). */
#define SPOOL_CHUNK 1024

#define EPOCH_BYTES 16
static const char magic[8] = {'K', 'U', 'R', 'A', 'S', 'P', 'L', '1'};
#define HEADER_BYTES (sizeof(magic) + EPOCH_BYTES)
#define SUM_BYTES 16
/* Ten strings, each with its length. */
#define ENTRY_MAX                                                                           \
	(8 + 1 + 8 + 1 + 10 * 2 + KURA_EMAIL_MAX + KURA_ROLE_MAX + KURA_IP_MAX + KURA_UA_MAX + \
	 16 + KURA_AUDIT_ACTION_MAX + KURA_AUDIT_TARGET_TYPE_MAX + KURA_AUDIT_TARGET_ID_MAX +  \
	 KURA_AUDIT_PROPS_MAX + KURA_AUDIT_CODE_MAX)
#define FRAME_MAX (4 + ENTRY_MAX + SUM_BYTES)

/*
 * Past this size (or a quarter of the limit, if less) the log is rolled
 * aside at the next move, so that it can be deleted whole.
 */
#define SPOOL_ROLL_BYTES ((int64_t)4 << 20)
/* Read at a time by a move. */
#define READ_BYTES (256u << 10)

/* The spool files beside the tenant database file at db_path, in a new string. */
static char *
spool_file(const char *db_path, const char *name)
{
	const char *slash = strrchr(db_path, '/');
	size_t dir = slash != NULL ? (size_t)(slash - db_path) : 0;
	char *p = NULL;

	if (asprintf(&p, "%.*s%s%s", (int)dir, db_path, slash != NULL ? "/" : "", name) < 0)
		return NULL;
	return p;
}

char *
kura_sqlite_spool_path(const char *db_path, enum kura_sqlite_spool_file which)
{
	switch (which) {
	case KURA_SPOOL_TABLE:
		return spool_file(db_path, "audit-spool.db");
	case KURA_SPOOL_ROLLED:
		return spool_file(db_path, "audit-spool.log.1");
	case KURA_SPOOL_LOG:
	default:
		return spool_file(db_path, "audit-spool.log");
	}
}

void
kura_sqlite_audit_spool_max(void *be, int64_t bytes)
{
	atomic_store(&((struct kura_sqlite_be *)be)->spool_max, bytes);
}

/* ------------------------------------------------------------ frames */

static uint8_t *
put_u64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return b + 8;
}

static uint64_t
get_u64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

static uint32_t
get_u32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* s (a NUL-terminated field of cap bytes) as u16le length | bytes. */
static uint8_t *
put_str(uint8_t *b, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap - 1);

	b[0] = (uint8_t)n;
	b[1] = (uint8_t)(n >> 8);
	memcpy(b + 2, s, n);
	return b + 2 + n;
}

static void
frame_sum(const uint8_t *frame, size_t n, uint8_t out[SUM_BYTES])
{
	crypto_generichash(out, SUM_BYTES, frame, 4 + n, NULL, 0);
}

/* e as one frame at b (FRAME_MAX bytes); returns its size. */
static size_t
encode(const struct kura_audit_entry *e, uint8_t *b)
{
	uint8_t *p = b + 4;
	size_t n;

	p = put_u64(p, (uint64_t)e->ts_us);
	*p++ = (uint8_t)e->actor_type;
	p = put_u64(p, (uint64_t)e->actor_id);
	*p++ = (uint8_t)e->outcome;
	p = put_str(p, e->actor_email, sizeof(e->actor_email));
	p = put_str(p, e->actor_role, sizeof(e->actor_role));
	p = put_str(p, e->ip, sizeof(e->ip));
	p = put_str(p, e->user_agent, sizeof(e->user_agent));
	p = put_str(p, e->request_id, sizeof(e->request_id));
	p = put_str(p, e->action, sizeof(e->action));
	p = put_str(p, e->target_type, sizeof(e->target_type));
	p = put_str(p, e->target_id, sizeof(e->target_id));
	p = put_str(p, e->target_props, sizeof(e->target_props));
	p = put_str(p, e->error_code, sizeof(e->error_code));
	n = (size_t)(p - (b + 4));
	b[0] = (uint8_t)n;
	b[1] = (uint8_t)(n >> 8);
	b[2] = (uint8_t)(n >> 16);
	b[3] = (uint8_t)(n >> 24);
	frame_sum(b, n, p);
	return 4 + n + SUM_BYTES;
}

static bool
get_str(const uint8_t **p, const uint8_t *end, char *out, size_t cap)
{
	size_t n;

	if (end - *p < 2)
		return false;
	n = (size_t)(*p)[0] | (size_t)(*p)[1] << 8;
	if (n >= cap || (size_t)(end - *p - 2) < n || memchr(*p + 2, '\0', n) != NULL)
		return false;
	memcpy(out, *p + 2, n);
	out[n] = '\0';
	*p += 2 + n;
	return true;
}

/* The entry of n bytes at p into e; false when it is not one. */
static bool
decode(const uint8_t *p, size_t n, struct kura_audit_entry *e)
{
	const uint8_t *end = p + n;

	memset(e, 0, sizeof(*e));
	if (n < 18)
		return false;
	e->ts_us = (int64_t)get_u64(p);
	e->actor_type = (enum kura_actor_type)p[8];
	e->actor_id = (int64_t)get_u64(p + 9);
	e->outcome = (enum kura_audit_outcome)p[17];
	p += 18;
	if ((int)e->actor_type > (int)KURA_ACTOR_SYSTEM ||
	    (int)e->outcome > (int)KURA_AUDIT_FAILED)
		return false;
	return get_str(&p, end, e->actor_email, sizeof(e->actor_email)) &&
	       get_str(&p, end, e->actor_role, sizeof(e->actor_role)) &&
	       get_str(&p, end, e->ip, sizeof(e->ip)) &&
	       get_str(&p, end, e->user_agent, sizeof(e->user_agent)) &&
	       get_str(&p, end, e->request_id, sizeof(e->request_id)) &&
	       get_str(&p, end, e->action, sizeof(e->action)) &&
	       get_str(&p, end, e->target_type, sizeof(e->target_type)) &&
	       get_str(&p, end, e->target_id, sizeof(e->target_id)) &&
	       get_str(&p, end, e->target_props, sizeof(e->target_props)) &&
	       get_str(&p, end, e->error_code, sizeof(e->error_code)) && p == end &&
	       e->action[0] != '\0';
}

/*
 * Reads the frames of fd from offset from up to offset to, calling cb for
 * each entry (none: only checks them). *valid is where the frames stop
 * being whole and right (length, sum, an entry inside): to, or the start
 * of the first bad one. An error is a failed read, or what cb returned.
 */
static enum kura_err
scan(int fd, int64_t from, int64_t to, kura_audit_unspool_cb cb, void *ctx, int64_t *valid,
     size_t *count)
{
	uint8_t *buf = malloc(READ_BYTES);
	struct kura_audit_entry *e = malloc(sizeof(*e));
	enum kura_err err = KURA_OK;
	int64_t at = from;
	size_t have = 0, off = 0;

	*valid = from;
	if (count != NULL)
		*count = 0;
	if (buf == NULL || e == NULL) {
		free(buf);
		free(e);
		return KURA_E_NOMEM;
	}
	/* buf[off, have) holds the file from offset at */
	while (err == KURA_OK && at < to) {
		uint32_t n;
		size_t frame;
		uint8_t sum[SUM_BYTES];

		if (have - off < FRAME_MAX && (int64_t)(at + (int64_t)(have - off)) < to) {
			size_t want;
			ssize_t r;

			memmove(buf, buf + off, have - off);
			have -= off;
			off = 0;
			want = READ_BYTES - have;
			if ((int64_t)want > to - at - (int64_t)have)
				want = (size_t)(to - at - (int64_t)have);
			r = pread(fd, buf + have, want, at + (off_t)have);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				kura_log(KURA_LOG_ERROR, "audit_spool_read_failed", "errno=%d", errno);
				err = KURA_E_IO;
				break;
			}
			have += (size_t)r;
			if (r == 0)
				to = at + (int64_t)have; /* shorter than it was said to be */
		}
		if (have - off < 4)
			break;
		n = get_u32(buf + off);
		frame = 4 + (size_t)n + SUM_BYTES;
		if (n > ENTRY_MAX || frame > have - off)
			break;
		frame_sum(buf + off, n, sum);
		if (sodium_memcmp(sum, buf + off + 4 + n, SUM_BYTES) != 0)
			break;
		if (!decode(buf + off + 4, n, e))
			break;
		if (cb != NULL) {
			err = cb(ctx, e);
			if (err != KURA_OK)
				break;
		}
		if (count != NULL)
			(*count)++;
		off += frame;
		at += (int64_t)frame;
		*valid = at;
	}
	free(buf);
	free(e);
	return err;
}

/* The header of the file fd into epoch; false when it has none that is whole and right. */
static bool
read_header(int fd, uint8_t epoch[EPOCH_BYTES])
{
	uint8_t h[HEADER_BYTES];

	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || memcmp(h, magic, sizeof(magic)) != 0)
		return false;
	memcpy(epoch, h + sizeof(magic), EPOCH_BYTES);
	return true;
}

static bool
write_all(int fd, const uint8_t *b, size_t n, int64_t at)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, b, n, at);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		b += w;
		n -= (size_t)w;
		at += w;
	}
	return true;
}

/* ------------------------------------------------------------ appending */

/* The pool of a tenant connection; NULL for any other. */
static struct kura_sqlite_pool *
tenant_pool(struct kura_sqlite_conn *c)
{
	if (c == NULL || c->pool == NULL || c->pool->kind != KURA_SQ_TENANT)
		return NULL;
	return c->pool;
}

/*
 * Opens the log for appending (spool_mu held): a new one gets its header;
 * one left by an earlier process is checked to its end, and a torn end
 * is cut off (logged). A file without a right header is set aside as
 * audit-spool.log.damaged (logged) and a new one made.
 */
static enum kura_err
open_log(struct kura_sqlite_pool *p)
{
	char *path = kura_sqlite_spool_path(p->path, KURA_SPOOL_LOG);
	enum kura_err e = KURA_OK;
	struct stat st;
	int64_t valid = 0;
	int fd = -1;

	if (path == NULL)
		return KURA_E_NOMEM;
	for (int tries = 0; tries < 2 && fd < 0; tries++) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 || fstat(fd, &st) != 0) {
			kura_log(KURA_LOG_ERROR, "audit_spool_open_failed", "tenant=%s errno=%d",
				 p->tenant_id, errno);
			e = KURA_E_IO;
			break;
		}
		if (st.st_size < (off_t)HEADER_BYTES) {
			/* new, or made by a write cut short before its first entry */
			if (st.st_size > 0 && ftruncate(fd, 0) != 0)
				e = KURA_E_IO;
			st.st_size = 0;
			break;
		}
		if (read_header(fd, p->spool_epoch)) {
			e = scan(fd, HEADER_BYTES, st.st_size, NULL, NULL, &valid, NULL);
			if (e == KURA_OK && valid < st.st_size) {
				kura_log(KURA_LOG_ERROR, "audit_spool_truncated",
					 "tenant=%s at=%lld dropped_bytes=%lld", p->tenant_id,
					 (long long)valid, (long long)(st.st_size - valid));
				if (ftruncate(fd, valid) != 0)
					e = KURA_E_IO;
			}
			break;
		}
		/* not a spool log: kept aside for whoever looks into it */
		{
			char *aside = NULL;

			if (asprintf(&aside, "%s.damaged", path) < 0 || rename(path, aside) != 0)
				e = KURA_E_IO;
			kura_log(KURA_LOG_ERROR, "audit_spool_damaged", "tenant=%s moved_aside=%s",
				 p->tenant_id, e == KURA_OK ? "yes" : "no");
			free(aside);
		}
		close(fd);
		fd = -1;
		if (e != KURA_OK)
			break;
	}
	if (e == KURA_OK && fd >= 0 && st.st_size == 0) {
		uint8_t h[HEADER_BYTES];

		kura_random_bytes(p->spool_epoch, EPOCH_BYTES);
		memcpy(h, magic, sizeof(magic));
		memcpy(h + sizeof(magic), p->spool_epoch, EPOCH_BYTES);
		if (!write_all(fd, h, sizeof(h), 0)) {
			kura_log(KURA_LOG_ERROR, "audit_spool_write_failed", "tenant=%s errno=%d",
				 p->tenant_id, errno);
			(void)ftruncate(fd, 0);
			e = KURA_E_IO;
		}
		valid = HEADER_BYTES;
	}
	if (e != KURA_OK) {
		if (fd >= 0)
			close(fd);
		free(path);
		return e;
	}
	p->spool_fd = fd;
	p->spool_end = valid;
	free(path);
	return KURA_OK;
}

enum kura_err
kura_sqlite_audit_spool(void *conn, const struct kura_audit_entry *const *es, size_t n)
{
	struct kura_sqlite_pool *p = tenant_pool(conn);
	uint8_t one[FRAME_MAX], *buf = one;
	enum kura_err e = KURA_OK;
	size_t len = 0, i;
	int64_t max;

	if (p == NULL)
		return KURA_E_INTERNAL;
	if (n == 0)
		return KURA_OK;
	if (n > 1) {
		buf = malloc(n * FRAME_MAX);
		if (buf == NULL)
			return KURA_E_NOMEM;
	}
	for (i = 0; i < n; i++)
		len += encode(es[i], buf + len);
	max = atomic_load(&p->be->spool_max);
	pthread_mutex_lock(&p->spool_mu);
	if (p->spool_fd < 0)
		e = open_log(p);
	if (e == KURA_OK && p->spool_end + (int64_t)len > max) {
		/* Its moves are held up (another process keeps the write lock): refuse, said once. */
		if (!p->spool_full)
			kura_log(KURA_LOG_ERROR, "audit_spool_full", "tenant=%s bytes=%lld",
				 p->tenant_id, (long long)p->spool_end);
		p->spool_full = true;
		e = KURA_E_UNAVAILABLE;
	}
	if (e == KURA_OK && !write_all(p->spool_fd, buf, len, p->spool_end)) {
		kura_log(KURA_LOG_ERROR, "audit_spool_write_failed", "tenant=%s errno=%d",
			 p->tenant_id, errno);
		/* nothing of it stays, so that the next frame follows a whole one */
		if (ftruncate(p->spool_fd, p->spool_end) != 0) {
			close(p->spool_fd);
			p->spool_fd = -1; /* opened again (and its end checked) by the next append */
		}
		e = KURA_E_IO;
	}
	if (e == KURA_OK) {
		/* the first entry since the spool was last all moved */
		if (!p->spool_dirty)
			p->spool_since_us = kura_mono_us();
		p->spool_end += (int64_t)len;
		p->spool_pending += (int64_t)n;
		p->spool_dirty = true;
		p->spool_checked = true;
		p->spool_full = false;
	}
	pthread_mutex_unlock(&p->spool_mu);
	if (buf != one)
		free(buf);
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
		static const enum kura_sqlite_spool_file files[] = {KURA_SPOOL_TABLE,
								    KURA_SPOOL_ROLLED, KURA_SPOOL_LOG};

		p->spool_checked = true;
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && !p->spool_dirty; i++) {
			char *path = kura_sqlite_spool_path(p->path, files[i]);

			if (path == NULL || access(path, F_OK) == 0) {
				p->spool_dirty = true;
				p->spool_since_us = kura_mono_us();
			}
			free(path);
		}
	}
	r = p->spool_dirty;
	if (since_us != NULL)
		*since_us = r ? p->spool_since_us : 0;
	if (count != NULL)
		*count = r ? p->spool_pending : 0;
	pthread_mutex_unlock(&p->spool_mu);
	return r;
}

/* ------------------------------------------------------------ moving */

/* The mark: which file (its epoch) was moved how far; *found false when there is none. */
static enum kura_err
mark_get(struct kura_sqlite_conn *c, uint8_t epoch[EPOCH_BYTES], int64_t *last, bool *found)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = kura_sqlite_dyn(c, sql_mark_get, &st);
	int rc;

	*last = 0;
	*found = false;
	if (e != KURA_OK)
		return e;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) == EPOCH_BYTES) {
			memcpy(epoch, sqlite3_column_blob(st, 0), EPOCH_BYTES);
			*last = sqlite3_column_int64(st, 1);
			*found = true;
		}
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

/* The spool table's epoch into out; KURA_E_NOT_FOUND when it has none. */
static enum kura_err
table_epoch(struct kura_sqlite_conn *s, uint8_t out[EPOCH_BYTES])
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

/* Up to SPOOL_CHUNK rows of the spool table after id last into es; *n how many. */
static enum kura_err
table_take(struct kura_sqlite_conn *s, int64_t last, struct kura_audit_entry *es, size_t *n)
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

/* One spool file of a move: how it is read, and how far. */
struct source {
	enum kura_sqlite_spool_file which;
	char *path;
	bool there;
	uint8_t epoch[EPOCH_BYTES];
	struct kura_sqlite_conn *table; /* KURA_SPOOL_TABLE */
	int fd;                         /* the logs */
	bool own_fd;                    /* fd opened here (not the appender's) */
	int64_t start, end;             /* offsets (the table: row ids) */
	int64_t reached;                /* where the move stopped */
};

/* Opens s when its file is there; an unreadable one is an error (logged). */
static enum kura_err
source_open(struct kura_sqlite_pool *p, struct source *s)
{
	char err[512], q[600];
	struct stat st;
	enum kura_err e;

	if (s->path == NULL)
		return KURA_E_NOMEM;
	if (access(s->path, F_OK) != 0)
		return KURA_OK;
	s->there = true;
	if (s->which == KURA_SPOOL_TABLE) {
		err[0] = '\0';
		e = kura_sqlite_conn_open(s->path, KURA_SQ_SPOOL, NULL, &s->table, err,
					  sizeof(err));
		if (e != KURA_OK) {
			kura_log(KURA_LOG_ERROR, "audit_spool_open_failed", "tenant=%s err=%s",
				 p->tenant_id, kura_log_quote(q, sizeof(q), err));
			return e;
		}
		return table_epoch(s->table, s->epoch);
	}
	s->fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (s->fd < 0 || fstat(s->fd, &st) != 0) {
		kura_log(KURA_LOG_ERROR, "audit_spool_open_failed", "tenant=%s errno=%d",
			 p->tenant_id, errno);
		return KURA_E_IO;
	}
	s->own_fd = true;
	s->end = st.st_size;
	/* Without a whole header (made this instant, or damaged): nothing to move from it. */
	if (s->end < (int64_t)HEADER_BYTES || !read_header(s->fd, s->epoch)) {
		s->end = 0;
		s->there = false;
	}
	return KURA_OK;
}

static void
source_close(struct source *s)
{
	if (s->own_fd && s->fd >= 0)
		close(s->fd);
	kura_sqlite_conn_close(s->table);
	free(s->path);
}

/* Moves s from s->start: through cb, in order; *n how many. */
static enum kura_err
source_move(struct kura_sqlite_pool *p, struct source *s, kura_audit_unspool_cb cb, void *ctx,
	    size_t *n)
{
	enum kura_err e = KURA_OK;
	size_t got, i;

	*n = 0;
	s->reached = s->start;
	if (s->which != KURA_SPOOL_TABLE) {
		e = scan(s->fd, s->start, s->end, cb, ctx, &s->reached, n);
		/*
		 * Short of the end: in the rolled log, what follows is lost (it
		 * goes with the file); in the log this process appends to, every
		 * frame was written whole, so the file was changed behind its back
		 * and no move gets past that point (reads of values answer 503
		 * once the spool is full). A log another process appends to may
		 * end in the frame being written: nothing to say.
		 */
		if (e == KURA_OK && s->reached < s->end && s->which == KURA_SPOOL_ROLLED)
			kura_log(KURA_LOG_ERROR, "audit_spool_truncated",
				 "tenant=%s file=rolled at=%lld dropped_bytes=%lld", p->tenant_id,
				 (long long)s->reached, (long long)(s->end - s->reached));
		else if (e == KURA_OK && s->reached < s->end && !s->own_fd)
			kura_log(KURA_LOG_ERROR, "audit_spool_damaged", "tenant=%s at=%lld bytes=%lld",
				 p->tenant_id, (long long)s->reached, (long long)(s->end - s->reached));
		return e;
	}
	{
		struct kura_audit_entry *es = malloc(SPOOL_CHUNK * sizeof(*es));

		if (es == NULL)
			return KURA_E_NOMEM;
		do {
			e = table_take(s->table, s->reached, es, &got);
			for (i = 0; e == KURA_OK && i < got; i++) {
				s->reached = es[i].seq;
				es[i].seq = 0;
				e = cb(ctx, &es[i]);
			}
			*n += i;
		} while (e == KURA_OK && got == SPOOL_CHUNK);
		free(es);
	}
	return e;
}

static enum kura_err
savepoint(struct kura_sqlite_conn *c, const char *sql)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? KURA_OK : kura_sqlite_error(c, "audit_unspool_savepoint", rc);
}

/*
 * The log rolled aside when it has grown past its roll size and no rolled
 * one waits (spool_mu held, and the tenant's write lock): appends go on in
 * a new log, and this move reads the old one whole.
 */
static void
maybe_roll(struct kura_sqlite_pool *p, const char *log, const char *rolled)
{
	int64_t roll = atomic_load(&p->be->spool_max) / 4;

	if (roll > SPOOL_ROLL_BYTES)
		roll = SPOOL_ROLL_BYTES;
	if (p->spool_fd < 0 || p->spool_end <= roll || access(rolled, F_OK) == 0)
		return;
	if (rename(log, rolled) != 0) {
		kura_log(KURA_LOG_ERROR, "audit_spool_roll_failed", "tenant=%s errno=%d",
			 p->tenant_id, errno);
		return;
	}
	close(p->spool_fd);
	p->spool_fd = -1;
	p->spool_end = 0;
}

enum kura_err
kura_sqlite_audit_unspool(void *conn, kura_audit_unspool_cb cb, void *ctx, size_t *moved)
{
	struct kura_sqlite_conn *c = conn;
	struct kura_sqlite_pool *p = tenant_pool(c);
	struct source src[3];
	uint8_t mark[EPOCH_BYTES];
	int64_t mark_at = 0;
	enum kura_err e;
	size_t total = 0, n, i, nsrc = sizeof(src) / sizeof(src[0]);
	bool has_mark = false, past_mark = false;
	int named = -1, last = -1;

	if (moved != NULL)
		*moved = 0;
	if (p == NULL)
		return KURA_E_INTERNAL;
	if (!kura_sqlite_audit_spooled(conn, NULL, NULL))
		return KURA_OK;
	memset(src, 0, sizeof(src));
	src[0].which = KURA_SPOOL_TABLE;
	src[1].which = KURA_SPOOL_ROLLED;
	src[2].which = KURA_SPOOL_LOG;
	for (i = 0; i < nsrc; i++) {
		src[i].fd = -1;
		src[i].path = kura_sqlite_spool_path(p->path, src[i].which);
	}
	e = mark_get(c, mark, &mark_at, &has_mark);
	/*
	 * No other move runs (the caller holds the tenant's write lock);
	 * spool_mu is held only while the appender's log is looked at: appends
	 * go on meanwhile, past the end this move reads to.
	 */
	if (e == KURA_OK && src[1].path != NULL && src[2].path != NULL) {
		pthread_mutex_lock(&p->spool_mu);
		maybe_roll(p, src[2].path, src[1].path);
		pthread_mutex_unlock(&p->spool_mu);
	}
	for (i = 0; e == KURA_OK && i < nsrc; i++) {
		if (src[i].which == KURA_SPOOL_LOG) {
			pthread_mutex_lock(&p->spool_mu);
			if (p->spool_fd >= 0) {
				src[i].there = true;
				src[i].fd = p->spool_fd;
				src[i].end = p->spool_end;
				memcpy(src[i].epoch, p->spool_epoch, EPOCH_BYTES);
			}
			pthread_mutex_unlock(&p->spool_mu);
			if (src[i].there)
				continue;
		}
		e = source_open(p, &src[i]);
	}
	for (i = 0; e == KURA_OK && i < nsrc; i++) {
		if (!src[i].there)
			continue;
		last = (int)i;
		if (has_mark && sodium_memcmp(src[i].epoch, mark, EPOCH_BYTES) == 0)
			named = (int)i;
	}
	if (e == KURA_OK)
		e = savepoint(c, "SAVEPOINT audit_unspool");
	if (e != KURA_OK)
		goto out;
	for (i = 0; e == KURA_OK && i < nsrc; i++) {
		struct source *s = &src[i];

		if (!s->there)
			continue;
		if (named >= 0 && (int)i < named) {
			s->reached = s->end; /* moved whole by an earlier move */
			continue;
		}
		past_mark = true;
		s->start = (int)i == named ? mark_at
					     : (s->which == KURA_SPOOL_TABLE ? 0 : (int64_t)HEADER_BYTES);
		if (s->which != KURA_SPOOL_TABLE && s->start < (int64_t)HEADER_BYTES)
			s->start = HEADER_BYTES;
		e = source_move(p, s, cb, ctx, &n);
		total += n;
	}
	if (e == KURA_OK && past_mark && last >= 0 &&
	    (!has_mark || named != last || src[last].reached != mark_at))
		e = mark_put(c, src[last].epoch, src[last].reached);
	if (e != KURA_OK) {
		(void)savepoint(c, "ROLLBACK TO audit_unspool");
		total = 0;
	}
	if (savepoint(c, "RELEASE audit_unspool") != KURA_OK && e == KURA_OK)
		e = KURA_E_STORE;
	if (e == KURA_OK) {
		/* What goes once the caller's transaction commits (kura_sqlite_spool_trim). */
		struct kura_sqlite_spool_moved *m = &c->spool_moved;

		memset(m, 0, sizeof(*m));
		m->set = true;
		m->table = src[0].there;
		m->rolled = src[1].there;
		m->log = src[2].there;
		memcpy(m->epoch, src[2].epoch, EPOCH_BYTES);
		m->to = src[2].reached;
		m->entries = (int64_t)total;
	}
out:
	for (i = 0; i < nsrc; i++)
		source_close(&src[i]);
	if (moved != NULL)
		*moved = total;
	return e;
}

/* Overwrites nothing: the spool holds no values, only who read which record. */
static void
remove_table_files(const char *path)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char *f = NULL;

		if (asprintf(&f, "%s%s", path, suffix[i]) >= 0)
			unlink(f);
		free(f);
	}
}

/* True when path is the file open as fd (not another put in its place). */
static bool
same_file(const char *path, int fd)
{
	struct stat a, b;

	return stat(path, &a) == 0 && fstat(fd, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

void
kura_sqlite_spool_trim(struct kura_sqlite_conn *c)
{
	struct kura_sqlite_pool *p = tenant_pool(c);
	struct kura_sqlite_spool_moved m = c->spool_moved;
	char *path;

	memset(&c->spool_moved, 0, sizeof(c->spool_moved));
	if (p == NULL || !m.set)
		return;
	/* Read whole by the move that just committed. */
	if (m.table && (path = kura_sqlite_spool_path(p->path, KURA_SPOOL_TABLE)) != NULL) {
		remove_table_files(path);
		free(path);
	}
	if (m.rolled && (path = kura_sqlite_spool_path(p->path, KURA_SPOOL_ROLLED)) != NULL) {
		unlink(path);
		free(path);
	}
	path = kura_sqlite_spool_path(p->path, KURA_SPOOL_LOG);
	pthread_mutex_lock(&p->spool_mu);
	p->spool_pending = p->spool_pending > m.entries ? p->spool_pending - m.entries : 0;
	if (p->spool_fd < 0) {
		/* Not appended to by this process (or rolled): as far as it knows, all moved. */
		p->spool_dirty = p->spool_pending > 0;
	} else if (m.log && memcmp(m.epoch, p->spool_epoch, EPOCH_BYTES) == 0 &&
		   m.to >= p->spool_end) {
		/* Nothing appended since what was moved: the log goes, a new one comes with the next entry. */
		if (path != NULL && same_file(path, p->spool_fd))
			unlink(path);
		close(p->spool_fd);
		p->spool_fd = -1;
		p->spool_end = 0;
		p->spool_pending = 0;
		p->spool_dirty = false;
	} else {
		/* appended while the move ran: the oldest of those is that recent */
		p->spool_dirty = true;
		p->spool_since_us = kura_mono_us();
	}
	pthread_mutex_unlock(&p->spool_mu);
	free(path);
}

void
kura_sqlite_spool_fini(struct kura_sqlite_pool *p)
{
	if (p->spool_fd >= 0)
		close(p->spool_fd);
	p->spool_fd = -1;
}
