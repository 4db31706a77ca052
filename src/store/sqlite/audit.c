/*
 * The audit log's rows: entries in the tenant's own database (audit_log),
 * seals of each tenant's chain in system.db (audit_seals). This file only
 * stores and reads them; hashing, chaining, sealing and verifying are
 * audit/'s work (src/audit/audit.c), which reaches them through the store
 * interface.
 *
 * Queries for the audit viewer combine optional filters. Their WHERE is put
 * together from a fixed set of clauses, each with '?' bound parameters: no
 * filter value ever becomes SQL text. Those statements vary, so they are
 * prepared per call instead of cached (the viewer is not a hot path).
 */
#include "sqlite_int.h"

#include <stdio.h>
#include <string.h>

#define AUDIT_COLS                                                                          \
	"seq, ts_us, actor_type, actor_id, actor_email, actor_role, ip, user_agent, "       \
	"request_id, action, target_type, target_id, target_props, outcome, error_code, "   \
	"prev_hash, hash"

static const char sql_head[] = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
static const char sql_insert[] =
	"INSERT INTO audit_log (" AUDIT_COLS ") "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";
static const char sql_scan[] =
	"SELECT " AUDIT_COLS " FROM audit_log WHERE seq >= ?1 ORDER BY seq";
static const char sql_seal_insert[] =
	"INSERT INTO audit_seals (tenant_id, seq, hash, mac, sealed_at) "
	"VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_seal_list[] =
	"SELECT seq, hash, mac, sealed_at FROM audit_seals WHERE tenant_id = ?1 ORDER BY seq";

/* The query's building blocks. Nothing else is ever appended to its SQL. */
static const char q_select[] = "SELECT " AUDIT_COLS " FROM audit_log";
static const char q_from[] = "ts_us >= ?";
static const char q_to[] = "ts_us < ?";
static const char q_actor_id[] = "actor_id = ?";
static const char q_actor_email[] = "actor_email = ? COLLATE NOCASE";
static const char q_action[] = "action = ?";
/* LIKE ignores ASCII case; instr() = 1 makes the prefix match exact. */
static const char q_action_prefix[] = "action LIKE ? ESCAPE '\\' AND instr(action, ?) = 1";
static const char q_target_type[] = "target_type = ?";
static const char q_target_id[] = "target_id = ?";
static const char q_outcome[] = "outcome = ?";
static const char q_ip[] = "ip = ?";
static const char q_before[] = "seq < ?";
/*
 * The leading column of audit_log_target (tenant migration 17), spelt as
 * there: an entry's run of 65,536.
 */
#define AUDIT_RUN_SHIFT 16
#define AUDIT_STR_(x) #x
#define AUDIT_STR(x) AUDIT_STR_(x)
static const char q_run[] = "(seq >> " AUDIT_STR(AUDIT_RUN_SHIFT) ") = ?";
static const char q_order[] = " ORDER BY seq DESC";
static const char q_limit[] = " LIMIT ?";

/* Every clause above at most once, plus the prefix pattern's second value. */
#define Q_BINDS_MAX 16
#define Q_SQL_MAX 1024

struct q_bind {
	bool text;
	int64_t i;
	const char *s;
	int len;
};

struct query {
	char sql[Q_SQL_MAX];
	size_t len;
	struct q_bind b[Q_BINDS_MAX];
	int n;
	bool where;
	bool overflow;
};

static void
q_append(struct query *q, const char *s)
{
	size_t n = strlen(s);

	if (q->overflow || q->len + n >= sizeof(q->sql)) {
		q->overflow = true;
		return;
	}
	memcpy(q->sql + q->len, s, n + 1);
	q->len += n;
}

static void
q_clause(struct query *q, const char *clause)
{
	q_append(q, q->where ? " AND " : " WHERE ");
	q->where = true;
	q_append(q, clause);
}

static void
q_int(struct query *q, int64_t v)
{
	if (q->n >= Q_BINDS_MAX) {
		q->overflow = true;
		return;
	}
	q->b[q->n].text = false;
	q->b[q->n].i = v;
	q->n++;
}

static void
q_text(struct query *q, const char *s, size_t len)
{
	if (q->n >= Q_BINDS_MAX) {
		q->overflow = true;
		return;
	}
	q->b[q->n].text = true;
	q->b[q->n].s = s;
	q->b[q->n].len = (int)len;
	q->n++;
}

/* Fixed-size blob column into dst; anything else (tampering) reads as zeros. */
static void
col_hash(sqlite3_stmt *st, int col, uint8_t dst[32])
{
	const void *p = sqlite3_column_blob(st, col);

	memset(dst, 0, 32);
	if (p != NULL && sqlite3_column_bytes(st, col) == 32)
		memcpy(dst, p, 32);
}

void
kura_sqlite_audit_fields(sqlite3_stmt *st, struct kura_audit_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->seq = sqlite3_column_int64(st, 0);
	e->ts_us = sqlite3_column_int64(st, 1);
	/* Kept as stored, even out of range: the hash covers the raw number. */
	e->actor_type = (enum kura_actor_type)sqlite3_column_int(st, 2);
	e->actor_id = sqlite3_column_int64(st, 3);
	kura_sqlite_col_text(st, 4, e->actor_email, sizeof(e->actor_email));
	kura_sqlite_col_text(st, 5, e->actor_role, sizeof(e->actor_role));
	kura_sqlite_col_text(st, 6, e->ip, sizeof(e->ip));
	kura_sqlite_col_text(st, 7, e->user_agent, sizeof(e->user_agent));
	kura_sqlite_col_text(st, 8, e->request_id, sizeof(e->request_id));
	kura_sqlite_col_text(st, 9, e->action, sizeof(e->action));
	kura_sqlite_col_text(st, 10, e->target_type, sizeof(e->target_type));
	kura_sqlite_col_text(st, 11, e->target_id, sizeof(e->target_id));
	kura_sqlite_col_text(st, 12, e->target_props, sizeof(e->target_props));
	e->outcome = (enum kura_audit_outcome)sqlite3_column_int(st, 13);
	kura_sqlite_col_text(st, 14, e->error_code, sizeof(e->error_code));
}

static void
row_to_entry(sqlite3_stmt *st, struct kura_audit_entry *e)
{
	kura_sqlite_audit_fields(st, e);
	col_hash(st, 15, e->prev_hash);
	col_hash(st, 16, e->hash);
}

/*
 * Steps st to the end, one entry to cb per row, until cb says stop (then
 * *stopped, when given, is set). *rows, when given, counts the rows given.
 */
static enum kura_err
stream_rows(struct kura_sqlite_conn *c, sqlite3_stmt *st, const char *op, kura_audit_cb cb,
	    void *ctx, int64_t *rows, bool *stopped)
{
	struct kura_audit_entry e;
	enum kura_err err = KURA_OK;
	int rc;

	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			err = kura_sqlite_error(c, op, rc);
			break;
		}
		row_to_entry(st, &e);
		if (rows != NULL)
			(*rows)++;
		if (!cb(ctx, &e)) {
			if (stopped != NULL)
				*stopped = true;
			break;
		}
	}
	return err;
}

enum kura_err
kura_sqlite_audit_head(void *conn, int64_t *seq, uint8_t hash[32])
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	*seq = 0;
	memset(hash, 0, 32);
	e = kura_sqlite_stmt(c, KURA_SQ_AUDIT_HEAD, sql_head, &st);
	if (e != KURA_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*seq = sqlite3_column_int64(st, 0);
		col_hash(st, 1, hash);
	} else if (rc != SQLITE_DONE) {
		/* DONE: an empty log, whose head is seq 0 and the zero hash. */
		e = kura_sqlite_error(c, "audit_head", rc);
	}
out:
	kura_sqlite_done(st);
	if (e != KURA_OK) {
		*seq = 0;
		memset(hash, 0, 32);
	}
	return e;
}

/*
 * A string field of cap bytes holds at most cap - 1 characters: without a
 * NUL it is cut there, exactly as it will read back (kura_sqlite_col_text).
 */
static void
bind_str(sqlite3_stmt *st, int i, const char *s, size_t cap)
{
	sqlite3_bind_text(st, i, s, (int)strnlen(s, cap - 1), SQLITE_STATIC);
}

void
kura_sqlite_audit_bind_fields(sqlite3_stmt *st, const struct kura_audit_entry *e)
{
	sqlite3_bind_int64(st, 2, e->ts_us);
	sqlite3_bind_int(st, 3, (int)e->actor_type);
	sqlite3_bind_int64(st, 4, e->actor_id);
	bind_str(st, 5, e->actor_email, sizeof(e->actor_email));
	bind_str(st, 6, e->actor_role, sizeof(e->actor_role));
	bind_str(st, 7, e->ip, sizeof(e->ip));
	bind_str(st, 8, e->user_agent, sizeof(e->user_agent));
	bind_str(st, 9, e->request_id, sizeof(e->request_id));
	bind_str(st, 10, e->action, sizeof(e->action));
	bind_str(st, 11, e->target_type, sizeof(e->target_type));
	bind_str(st, 12, e->target_id, sizeof(e->target_id));
	bind_str(st, 13, e->target_props, sizeof(e->target_props));
	sqlite3_bind_int(st, 14, (int)e->outcome);
	bind_str(st, 15, e->error_code, sizeof(e->error_code));
}

enum kura_err
kura_sqlite_audit_insert(void *conn, const struct kura_audit_entry *e)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err err;
	int rc;

	if (e->seq < 1) {
		err = KURA_E_VALIDATION;
		goto out;
	}
	err = kura_sqlite_stmt(c, KURA_SQ_AUDIT_INSERT, sql_insert, &st);
	if (err != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, e->seq);
	kura_sqlite_audit_bind_fields(st, e);
	sqlite3_bind_blob(st, 16, e->prev_hash, sizeof(e->prev_hash), SQLITE_STATIC);
	sqlite3_bind_blob(st, 17, e->hash, sizeof(e->hash), SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		goto out;
	/* Someone else appended at this seq: the caller's head was stale. */
	if (kura_sqlite_is_dup(rc))
		err = KURA_E_CONFLICT;
	else
		err = kura_sqlite_error(c, "audit_insert", rc);
out:
	kura_sqlite_done(st);
	return err;
}

enum kura_err
kura_sqlite_audit_scan(void *conn, int64_t from_seq, kura_audit_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_stmt(c, KURA_SQ_AUDIT_SCAN, sql_scan, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, from_seq);
	/* One statement, so one read snapshot of the log however long it is. */
	e = stream_rows(c, st, "audit_scan", cb, ctx, NULL, NULL);
out:
	kura_sqlite_done(st);
	return e;
}

/*
 * Escapes LIKE's wildcards (and the escape character itself) in the first
 * n bytes of src and appends '%'. dst must hold 2 * n + 2 bytes.
 */
static size_t
like_prefix(char *dst, const char *src, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (src[i] == '%' || src[i] == '_' || src[i] == '\\')
			dst[o++] = '\\';
		dst[o++] = src[i];
	}
	dst[o++] = '%';
	dst[o] = '\0';
	return o;
}

enum kura_err
kura_sqlite_audit_query(void *conn, const struct kura_audit_filter *f, kura_audit_cb cb,
			void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct query q;
	char pattern[2 * KURA_AUDIT_ACTION_MAX + 2];
	sqlite3_stmt *st = NULL;
	enum kura_err e = KURA_OK;
	int64_t run = 0, left = f->limit > 0 ? (int64_t)f->limit : 0, rows;
	bool by_run = false, stopped = false;
	size_t n;
	int i, rc, run_bind = 0, limit_bind = 0;

	memset(&q, 0, sizeof(q));
	/* Filter strings are bounded like stored ones (bind_str), NUL or not. */
	if (f->outcome > KURA_AUDIT_FAILED) {
		e = KURA_E_VALIDATION;
		goto out;
	}
	q_append(&q, q_select);
	if (f->from_us != 0) {
		q_clause(&q, q_from);
		q_int(&q, f->from_us);
	}
	if (f->to_us != 0) {
		q_clause(&q, q_to);
		q_int(&q, f->to_us);
	}
	if (f->actor_id != 0) {
		q_clause(&q, q_actor_id);
		q_int(&q, f->actor_id);
	}
	n = strnlen(f->actor_email, sizeof(f->actor_email) - 1);
	if (n > 0) {
		q_clause(&q, q_actor_email);
		q_text(&q, f->actor_email, n);
	}
	n = strnlen(f->action, sizeof(f->action) - 1);
	if (n > 0 && f->action[n - 1] == '*') {
		/* "auth.*": a prefix; a lone "*" is no filter at all. */
		n--;
		if (n > 0) {
			q_clause(&q, q_action_prefix);
			q_text(&q, pattern, like_prefix(pattern, f->action, n));
			q_text(&q, f->action, n);
		}
	} else if (n > 0) {
		q_clause(&q, q_action);
		q_text(&q, f->action, n);
	}
	n = strnlen(f->target_type, sizeof(f->target_type) - 1);
	if (n > 0) {
		q_clause(&q, q_target_type);
		q_text(&q, f->target_type, n);
		by_run = true;
	}
	n = strnlen(f->target_id, sizeof(f->target_id) - 1);
	if (n > 0) {
		q_clause(&q, q_target_id);
		q_text(&q, f->target_id, n);
		by_run = true;
	}
	if (f->outcome >= 0) {
		q_clause(&q, q_outcome);
		q_int(&q, f->outcome);
	}
	n = strnlen(f->ip, sizeof(f->ip) - 1);
	if (n > 0) {
		q_clause(&q, q_ip);
		q_text(&q, f->ip, n);
	}
	if (f->before_seq > 0) {
		q_clause(&q, q_before);
		q_int(&q, f->before_seq);
	}
	if (by_run) {
		q_clause(&q, q_run);
		q_int(&q, 0);
		run_bind = q.n;
	}
	q_append(&q, q_order);
	if (f->limit > 0) {
		q_append(&q, q_limit);
		q_int(&q, left);
		limit_bind = q.n;
	}
	if (q.overflow) {
		/* Fixed clauses into a fixed buffer: only a coding error gets here. */
		e = KURA_E_INTERNAL;
		goto out;
	}
	rc = sqlite3_prepare_v2(c->db, q.sql, (int)q.len, &st, NULL);
	if (rc != SQLITE_OK) {
		e = kura_sqlite_error(c, "audit_query_prepare", rc);
		st = NULL;
		goto out;
	}
	for (i = 0; i < q.n; i++) {
		if (q.b[i].text)
			rc = sqlite3_bind_text(st, i + 1, q.b[i].s, q.b[i].len, SQLITE_STATIC);
		else
			rc = sqlite3_bind_int64(st, i + 1, q.b[i].i);
		if (rc != SQLITE_OK) {
			e = kura_sqlite_error(c, "audit_query_bind", rc);
			goto out;
		}
	}
	/*
	 * By target: through audit_log_target, one run (65,536 entries) at a
	 * time, newest first, from the run of the newest entry the query can
	 * return down to run 0: the runs' answers, in that order, are the
	 * answer. An entry appended meanwhile comes after that head, so only
	 * the first run's statement can see it, still newest first.
	 */
	if (by_run) {
		uint8_t hash[32];
		int64_t head;

		e = kura_sqlite_audit_head(c, &head, hash);
		if (e != KURA_OK)
			goto out;
		if (f->before_seq > 0 && f->before_seq - 1 < head)
			head = f->before_seq - 1;
		run = head >> AUDIT_RUN_SHIFT;
	}
	for (; run >= 0 && !stopped; run--) {
		if (run_bind > 0)
			sqlite3_bind_int64(st, run_bind, run);
		if (limit_bind > 0)
			sqlite3_bind_int64(st, limit_bind, left);
		rows = 0;
		e = stream_rows(c, st, "audit_query", cb, ctx, &rows, &stopped);
		if (e != KURA_OK || (limit_bind > 0 && (left -= rows) <= 0))
			break;
		sqlite3_reset(st);
	}
out:
	sqlite3_finalize(st);
	return e;
}

bool
kura_sqlite_in_transaction(void *conn)
{
	struct kura_sqlite_conn *c = conn;

	return sqlite3_get_autocommit(c->db) == 0;
}

enum kura_err
kura_sqlite_seal_put(void *p, const char *tenant_id, int64_t seq, const uint8_t hash[32],
		     const uint8_t mac[32], int64_t now)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	if (!kura_sqlite_tenant_id_ok(tenant_id)) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	if (seq < 1) {
		e = KURA_E_VALIDATION;
		goto out;
	}
	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_stmt(c, KURA_SQ_SEAL_INSERT, sql_seal_insert, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, tenant_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_blob(st, 3, hash, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, mac, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		goto out;
	/* A seal is never replaced: the first one for a seq is the evidence. */
	if (kura_sqlite_is_dup(rc))
		e = KURA_E_EXISTS;
	else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		e = KURA_E_NOT_FOUND;
	else
		e = kura_sqlite_error(c, "seal_put", rc);
out:
	kura_sqlite_done(st);
	kura_sqlite_release(be, c);
	return e;
}

enum kura_err
kura_sqlite_seal_list(void *p, const char *tenant_id, kura_audit_seal_cb cb, void *ctx)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	struct kura_audit_seal s;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	if (!kura_sqlite_tenant_id_ok(tenant_id)) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_stmt(c, KURA_SQ_SEAL_LIST, sql_seal_list, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, tenant_id, -1, SQLITE_STATIC);
	/*
	 * Streamed, unlike tenant_list: a busy tenant gathers a seal a minute,
	 * too many to collect. The callback is told not to use the system store.
	 */
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			e = kura_sqlite_error(c, "seal_list", rc);
			goto out;
		}
		memset(&s, 0, sizeof(s));
		s.seq = sqlite3_column_int64(st, 0);
		col_hash(st, 1, s.hash);
		col_hash(st, 2, s.mac);
		s.sealed_at = sqlite3_column_int64(st, 3);
		if (!cb(ctx, &s))
			break;
	}
out:
	kura_sqlite_done(st);
	kura_sqlite_release(be, c);
	return e;
}
