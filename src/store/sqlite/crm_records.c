/*
 * Records of the customer database in SQLite: one table per object type
 * (r_<object id>, a column p_<property id> per property) and its full-text
 * index (f_<object id>). Statement texts are built from catalogue ids and
 * cached per connection by text (kura_sqlite_dyn), so a batch that writes
 * the same properties prepares once. Search turns struct kura_search into
 * one parameterised SELECT: OR of AND groups, optional FTS5 match, sorts,
 * keyset or offset paging, and a bounded count.
 */
#include "sqlite_crm.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/buf.h"

#define SQL_MAX (64 * 1024)

static void
colname(int64_t prop_id, bool blind, char *buf, size_t n)
{
	if (blind)
		snprintf(buf, n, "r.b_%lld", (long long)prop_id);
	else if (prop_id == KURA_COL_ID)
		snprintf(buf, n, "r.id");
	else if (prop_id == KURA_COL_CREATED)
		snprintf(buf, n, "r.created_at");
	else if (prop_id == KURA_COL_UPDATED)
		snprintf(buf, n, "r.updated_at");
	else
		snprintf(buf, n, "r.p_%lld", (long long)prop_id);
}

static void
bind_val(sqlite3_stmt *st, int at, const struct kura_val *v)
{
	switch (v->kind) {
	case KURA_V_INT:
		sqlite3_bind_int64(st, at, v->i);
		break;
	case KURA_V_REAL:
		sqlite3_bind_double(st, at, v->d);
		break;
	case KURA_V_TEXT:
		sqlite3_bind_text(st, at, v->s, (int)v->n, SQLITE_STATIC);
		break;
	case KURA_V_BLOB:
		sqlite3_bind_blob(st, at, v->s, (int)v->n, SQLITE_STATIC);
		break;
	default:
		sqlite3_bind_null(st, at);
		break;
	}
}

/*
 * Appends pre, the decimal id, then post: statement texts are built for
 * every write, and printf's formatting machinery was a tenth of a batch's
 * work.
 */
static enum kura_err
put_id(struct kura_buf *b, const char *pre, int64_t id, const char *post)
{
	char digits[24];
	size_t n = 0;
	uint64_t v = id < 0 ? (uint64_t)0 - (uint64_t)id : (uint64_t)id;
	enum kura_err e = kura_buf_append(b, pre, strlen(pre));

	do {
		digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && n < sizeof(digits) - 1);
	if (e == KURA_OK && id < 0)
		e = kura_buf_append(b, "-", 1);
	if (e == KURA_OK)
		e = kura_buf_append(b, digits + sizeof(digits) - n, n);
	if (e == KURA_OK)
		e = kura_buf_append(b, post, strlen(post));
	return e;
}

/* "UNIQUE constraint failed: r_1.p_3" names the property whose value is taken. */
static int64_t
dup_prop_of(struct kura_sqlite_conn *c)
{
	const char *m = sqlite3_errmsg(c->db);
	const char *p = m != NULL ? strstr(m, ".p_") : NULL;

	return p != NULL ? strtoll(p + 3, NULL, 10) : 0;
}

/* A row of SELECT r.* as a struct kura_record_row (cols in buf, ncol entries). */
static void
read_row(sqlite3_stmt *st, struct kura_colval *buf, int ncol, struct kura_record_row *row)
{
	size_t n = 0;

	memset(row, 0, sizeof(*row));
	for (int i = 0; i < ncol; i++) {
		const char *name = sqlite3_column_name(st, i);
		int t = sqlite3_column_type(st, i);
		struct kura_colval *cv;

		if (name == NULL)
			continue;
		if (name[0] == 'p' && name[1] == '_') {
			if (t == SQLITE_NULL)
				continue;
			cv = &buf[n++];
			memset(cv, 0, sizeof(*cv));
			cv->prop_id = strtoll(name + 2, NULL, 10);
			if (t == SQLITE_INTEGER) {
				cv->v.kind = KURA_V_INT;
				cv->v.i = sqlite3_column_int64(st, i);
			} else if (t == SQLITE_FLOAT) {
				cv->v.kind = KURA_V_REAL;
				cv->v.d = sqlite3_column_double(st, i);
			} else if (t == SQLITE_BLOB) {
				cv->v.kind = KURA_V_BLOB;
				cv->v.s = sqlite3_column_blob(st, i);
				cv->v.n = (size_t)sqlite3_column_bytes(st, i);
				if (cv->v.s == NULL)
					cv->v.s = "";
			} else {
				cv->v.kind = KURA_V_TEXT;
				cv->v.s = (const char *)sqlite3_column_text(st, i);
				cv->v.n = (size_t)sqlite3_column_bytes(st, i);
				if (cv->v.s == NULL) {
					cv->v.s = "";
					cv->v.n = 0;
				}
			}
		} else if (strcmp(name, "id") == 0) {
			row->id = sqlite3_column_int64(st, i);
		} else if (strcmp(name, "created_at") == 0) {
			row->created_at = sqlite3_column_int64(st, i);
		} else if (strcmp(name, "updated_at") == 0) {
			row->updated_at = sqlite3_column_int64(st, i);
		} else if (strcmp(name, "archived_at") == 0) {
			row->archived_at = sqlite3_column_int64(st, i);
		}
	}
	row->ncols = n;
	row->cols = buf;
}

/* Makes *buf (*ncol entries) hold a row of st: a statement re-prepared after a new column may have grown. */
static bool
fit_row_buf(sqlite3_stmt *st, struct kura_colval **buf, int *ncol)
{
	struct kura_colval *nb;

	if (sqlite3_column_count(st) <= *ncol)
		return true;
	nb = realloc(*buf, (size_t)sqlite3_column_count(st) * sizeof(**buf));
	if (nb == NULL)
		return false;
	*buf = nb;
	*ncol = sqlite3_column_count(st);
	return true;
}

/* Steps st (SELECT r.* ...) calling cb per row until it returns false. */
static enum kura_err
each_record(struct kura_sqlite_conn *c, sqlite3_stmt *st, const char *op,
	    kura_record_row_cb cb, void *ctx, size_t *nrows)
{
	int ncol = sqlite3_column_count(st);
	struct kura_colval *buf = calloc((size_t)(ncol > 0 ? ncol : 1), sizeof(*buf));
	struct kura_record_row row;
	enum kura_err e = KURA_OK;
	size_t n = 0;
	int rc;

	if (buf == NULL)
		return KURA_E_NOMEM;
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			e = kura_sqlite_error(c, op, rc);
			break;
		}
		if (!fit_row_buf(st, &buf, &ncol)) {
			e = KURA_E_NOMEM;
			break;
		}
		read_row(st, buf, ncol, &row);
		n++;
		if (!cb(ctx, &row))
			break;
	}
	free(buf);
	if (nrows != NULL)
		*nrows = n;
	return e;
}

static enum kura_err
fts_put(struct kura_sqlite_conn *c, int64_t object_id, int64_t id, const char *fts)
{
	sqlite3_stmt *st = NULL;
	char sql[96];
	enum kura_err e;

	if (fts == NULL || fts[0] == '\0')
		return KURA_OK;
	snprintf(sql, sizeof(sql), "INSERT INTO f_%lld (rowid, body) VALUES (?, ?)",
		 (long long)object_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, fts, -1, SQLITE_STATIC);
		e = kura_sqlite_write(c, st, "fts_put", false);
	}
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
fts_delete(struct kura_sqlite_conn *c, int64_t object_id, int64_t id)
{
	sqlite3_stmt *st = NULL;
	char sql[80];
	enum kura_err e;

	snprintf(sql, sizeof(sql), "DELETE FROM f_%lld WHERE rowid = ?", (long long)object_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, id);
		e = kura_sqlite_write(c, st, "fts_delete", false);
	}
	kura_sqlite_done(st);
	return e;
}

/* Steps a write whose unique indexes may refuse it. */
static enum kura_err
write_checked(struct kura_sqlite_conn *c, sqlite3_stmt *st, const char *op, int64_t *dup_prop,
	      bool need_row)
{
	int rc = sqlite3_step(st);

	/* the id chosen for an insert is taken: not a unique property's value */
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return KURA_E_CONFLICT;
	if (kura_sqlite_is_dup(rc)) {
		if (dup_prop != NULL)
			*dup_prop = dup_prop_of(c);
		return KURA_E_EXISTS;
	}
	if (rc != SQLITE_DONE)
		return kura_sqlite_error(c, op, rc);
	if (need_row && sqlite3_changes(c->db) == 0)
		return KURA_E_NOT_FOUND;
	return KURA_OK;
}

enum kura_err
kura_sqlite_crm_record_insert(void *conn, int64_t object_id, int64_t now, int64_t actor_id,
			      const struct kura_colval *cols, size_t n, const char *fts,
			      int64_t *id, int64_t *dup_prop)
{
	struct kura_sqlite_conn *c = conn;
	struct kura_buf sql;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	if (dup_prop != NULL)
		*dup_prop = 0;
	kura_buf_init(&sql, SQL_MAX);
	e = put_id(&sql, "INSERT INTO r_", object_id, " (created_at, updated_at, created_by, id");
	for (size_t i = 0; e == KURA_OK && i < n; i++)
		e = put_id(&sql, cols[i].blind ? ", b_" : ", p_", cols[i].prop_id, "");
	if (e == KURA_OK)
		e = kura_buf_append(&sql, ") VALUES (?, ?, ?, ?", 20);
	for (size_t i = 0; e == KURA_OK && i < n; i++)
		e = kura_buf_append(&sql, ", ?", 3);
	if (e == KURA_OK)
		e = kura_buf_append(&sql, ")", 1);
	if (e == KURA_OK)
		e = kura_sqlite_dyn(c, sql.data, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, actor_id);
	if (*id > 0)
		sqlite3_bind_int64(st, 4, *id);
	else
		sqlite3_bind_null(st, 4); /* numbered by the table */
	for (size_t i = 0; i < n; i++)
		bind_val(st, (int)i + 5, &cols[i].v);
	e = write_checked(c, st, "record_insert", dup_prop, false);
	if (e != KURA_OK)
		goto out;
	*id = sqlite3_last_insert_rowid(c->db);
	e = fts_put(c, object_id, *id, fts);
out:
	kura_sqlite_done(st);
	kura_buf_free(&sql);
	if (e != KURA_OK)
		*id = 0;
	return e;
}

enum kura_err
kura_sqlite_crm_record_update(void *conn, int64_t object_id, int64_t id, int64_t now,
			      const struct kura_colval *cols, size_t n, const char *fts,
			      int64_t *dup_prop)
{
	struct kura_sqlite_conn *c = conn;
	struct kura_buf sql;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	if (dup_prop != NULL)
		*dup_prop = 0;
	kura_buf_init(&sql, SQL_MAX);
	e = put_id(&sql, "UPDATE r_", object_id, " SET updated_at = ?");
	for (size_t i = 0; e == KURA_OK && i < n; i++)
		e = put_id(&sql, cols[i].blind ? ", b_" : ", p_", cols[i].prop_id, " = ?");
	if (e == KURA_OK)
		e = kura_buf_printf(&sql, " WHERE id = ? AND archived_at IS NULL");
	if (e == KURA_OK)
		e = kura_sqlite_dyn(c, sql.data, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, now);
	for (size_t i = 0; i < n; i++)
		bind_val(st, (int)i + 2, &cols[i].v);
	sqlite3_bind_int64(st, (int)n + 2, id);
	e = write_checked(c, st, "record_update", dup_prop, true);
	if (e == KURA_OK && fts != NULL) {
		e = fts_delete(c, object_id, id);
		if (e == KURA_OK)
			e = fts_put(c, object_id, id, fts);
	}
out:
	kura_sqlite_done(st);
	kura_buf_free(&sql);
	return e;
}

enum kura_err
kura_sqlite_crm_record_next_id(void *conn, int64_t object_id, int64_t *id)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[256];
	enum kura_err e;
	int rc;

	*id = 0;
	/* AUTOINCREMENT's rule: past the highest id ever used, even if purged since. */
	snprintf(sql, sizeof(sql),
		 "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'r_%lld'), 0), "
		 "coalesce((SELECT max(id) FROM r_%lld), 0)) + 1",
		 (long long)object_id, (long long)object_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e != KURA_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else
		e = kura_sqlite_error(c, "record_next_id", rc);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_record_ids(void *conn, int64_t object_id, unsigned n, bool resync, int64_t *first)
{
	struct kura_sqlite_conn *c = conn;
	struct kura_sqlite_pool *p = c->pool;
	struct kura_sqlite_next_id *slot = NULL;
	int64_t next = 0;
	enum kura_err e = KURA_OK;

	*first = 0;
	/* A loose connection (a command-line tool) is the tenant's only writer. */
	if (p == NULL)
		return kura_sqlite_crm_record_next_id(conn, object_id, first);
	pthread_mutex_lock(&p->ids_mu);
	for (size_t i = 0; i < p->nids && slot == NULL; i++) {
		if (p->ids[i].object_id == object_id)
			slot = &p->ids[i];
	}
	/* Read under the mutex: no other thread of this process numbers the type meanwhile. */
	if (slot == NULL || resync)
		e = kura_sqlite_crm_record_next_id(conn, object_id, &next);
	if (e == KURA_OK && slot == NULL) {
		if (p->nids == p->capids) {
			size_t cap = p->capids > 0 ? 2 * p->capids : 8;
			struct kura_sqlite_next_id *grown = realloc(p->ids, cap * sizeof(*grown));

			if (grown == NULL)
				e = KURA_E_NOMEM;
			else {
				p->ids = grown;
				p->capids = cap;
			}
		}
		if (e == KURA_OK) {
			slot = &p->ids[p->nids++];
			slot->object_id = object_id;
			slot->next = next;
		}
	}
	if (e == KURA_OK) {
		if (next > slot->next)
			slot->next = next;
		*first = slot->next;
		slot->next += n;
	}
	pthread_mutex_unlock(&p->ids_mu);
	return e;
}

struct get_ctx {
	kura_record_row_cb cb;
	void *ctx;
	bool archived;
	bool found;
};

static bool
get_row(void *p, const struct kura_record_row *row)
{
	struct get_ctx *g = p;

	if (row->archived_at != 0 && !g->archived)
		return false;
	g->found = true;
	g->cb(g->ctx, row);
	return false;
}

enum kura_err
kura_sqlite_crm_record_get(void *conn, int64_t object_id, int64_t id, bool archived,
			   kura_record_row_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct get_ctx g = {.cb = cb, .ctx = ctx, .archived = archived};
	sqlite3_stmt *st = NULL;
	char sql[80];
	enum kura_err e;

	snprintf(sql, sizeof(sql), "SELECT * FROM r_%lld WHERE id = ?", (long long)object_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, id);
		e = each_record(c, st, "record_get", get_row, &g, NULL);
	}
	kura_sqlite_done(st);
	if (e == KURA_OK && !g.found)
		e = KURA_E_NOT_FOUND;
	return e;
}

enum kura_err
kura_sqlite_crm_record_archive(void *conn, int64_t object_id, int64_t id, int64_t now)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[128];
	enum kura_err e;

	snprintf(sql, sizeof(sql),
		 "UPDATE r_%lld SET archived_at = ? WHERE id = ? AND archived_at IS NULL",
		 (long long)object_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, id);
		e = kura_sqlite_write(c, st, "record_archive", true);
	}
	kura_sqlite_done(st);
	if (e == KURA_OK)
		e = fts_delete(c, object_id, id);
	return e;
}

enum kura_err
kura_sqlite_crm_record_restore(void *conn, int64_t object_id, int64_t id, int64_t now,
			       const char *fts, int64_t *dup_prop)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[160];
	enum kura_err e;

	if (dup_prop != NULL)
		*dup_prop = 0;
	snprintf(sql, sizeof(sql),
		 "UPDATE r_%lld SET archived_at = NULL, updated_at = ? "
		 "WHERE id = ? AND archived_at IS NOT NULL",
		 (long long)object_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, id);
		e = write_checked(c, st, "record_restore", dup_prop, true);
	}
	kura_sqlite_done(st);
	if (e == KURA_OK)
		e = fts_put(c, object_id, id, fts);
	return e;
}

/* Runs one statement with (object_id, id) bound as ?1, ?2. */
static enum kura_err
exec2(struct kura_sqlite_conn *c, const char *sql, int64_t a, int64_t b, bool need_row)
{
	const int64_t ids[2] = {a, b};

	return kura_sqlite_crm_write_ids(c, sql, "record_purge", need_row, 2, ids);
}

enum kura_err
kura_sqlite_crm_record_purge(void *conn, int64_t object_id, int64_t id)
{
	struct kura_sqlite_conn *c = conn;
	char sql[96];
	enum kura_err e;

	snprintf(sql, sizeof(sql), "DELETE FROM r_%lld WHERE id = ?2 AND ?1 = ?1",
		 (long long)object_id);
	e = exec2(c, sql, object_id, id, true);
	if (e == KURA_OK)
		e = fts_delete(c, object_id, id);
	if (e == KURA_OK)
		e = exec2(c, "DELETE FROM record_history WHERE object_id = ?1 AND record_id = ?2",
			  object_id, id, false);
	/* The far side's rows first: they are found through this side's. */
	if (e == KURA_OK)
		e = exec2(c,
			  "DELETE FROM associations WHERE (from_object, from_id, to_object, to_id) "
			  "IN (SELECT to_object, to_id, from_object, from_id FROM associations "
			  "WHERE from_object = ?1 AND from_id = ?2)",
			  object_id, id, false);
	if (e == KURA_OK)
		e = exec2(c, "DELETE FROM associations WHERE from_object = ?1 AND from_id = ?2",
			  object_id, id, false);
	if (e == KURA_OK)
		e = exec2(c, "DELETE FROM activities WHERE object_id = ?1 AND record_id = ?2",
			  object_id, id, false);
	if (e == KURA_OK)
		e = exec2(c, "DELETE FROM attachments WHERE object_id = ?1 AND record_id = ?2",
			  object_id, id, false);
	if (e == KURA_OK)
		e = exec2(c,
			  "DELETE FROM list_members WHERE record_id = ?2 AND list_id IN "
			  "(SELECT id FROM lists WHERE object_id = ?1)",
			  object_id, id, false);
	return e;
}

enum kura_err
kura_sqlite_crm_record_archived_before(void *conn, int64_t object_id, int64_t cutoff,
				       unsigned limit, int64_t *ids, size_t *n)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[192];
	enum kura_err e;
	int rc;

	*n = 0;
	snprintf(sql, sizeof(sql),
		 "SELECT id FROM r_%lld WHERE archived_at IS NOT NULL AND archived_at < ? "
		 "ORDER BY archived_at LIMIT ?",
		 (long long)object_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, cutoff);
	sqlite3_bind_int64(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < limit)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "record_archived_before", rc);
out:
	kura_sqlite_done(st);
	return e;
}

/* --- search --- */

#define MAX_BINDS 4096

struct binds {
	const struct kura_val *v[MAX_BINDS];
	struct kura_val own[8];   /* values made here (STARTS_WITH bounds, ids) */
	char *strs[4];
	size_t nown, nstrs;
	size_t n;
};

static enum kura_err
add_bind(struct binds *b, const struct kura_val *v)
{
	if (v == NULL || b->n >= MAX_BINDS)
		return KURA_E_BAD_REQUEST;
	b->v[b->n++] = v;
	return KURA_OK;
}

static struct kura_val *
own_int(struct binds *b, int64_t i)
{
	struct kura_val *v;

	if (b->nown >= sizeof(b->own) / sizeof(b->own[0]))
		return NULL;
	v = &b->own[b->nown++];
	memset(v, 0, sizeof(*v));
	v->kind = KURA_V_INT;
	v->i = i;
	return v;
}

static const struct kura_val *
own_text(struct binds *b, const char *s)
{
	struct kura_val *v = own_int(b, 0);

	if (v != NULL) {
		v->kind = KURA_V_TEXT;
		v->s = s;
		v->n = strlen(s);
	}
	return v;
}

/* Operators an index on the property can serve. */
static bool
sargable(const struct kura_filter *f)
{
	switch (f->op) {
	case KURA_OP_EQ:
	case KURA_OP_LT:
	case KURA_OP_LTE:
	case KURA_OP_GT:
	case KURA_OP_GTE:
	case KURA_OP_BETWEEN:
	case KURA_OP_IN:
	case KURA_OP_STARTS_WITH:
		return !f->blind && f->prop_id > 0;
	default:
		return false;
	}
}

/*
 * block: write the column as "+col", which SQLite's planner cannot serve
 * from an index (the value is the same: unary + is a no-op, and these
 * columns have no affinity), so that the index chosen by pick_driver is
 * the one the search walks.
 */
static enum kura_err
filter_sql(struct kura_buf *sql, struct binds *b, const struct kura_filter *f, bool block)
{
	static const char *const cmp[] = {
		[KURA_OP_EQ] = "=",  [KURA_OP_LT] = "<",  [KURA_OP_LTE] = "<=",
		[KURA_OP_GT] = ">",  [KURA_OP_GTE] = ">=",
	};
	char name[40], col[41];
	enum kura_err e = KURA_OK;

	colname(f->prop_id, f->blind, name, sizeof(name));
	snprintf(col, sizeof(col), "%s%s", block ? "+" : "", name);
	switch (f->op) {
	case KURA_OP_EQ:
	case KURA_OP_LT:
	case KURA_OP_LTE:
	case KURA_OP_GT:
	case KURA_OP_GTE:
		e = kura_buf_printf(sql, "%s %s ?", col, cmp[f->op]);
		if (e == KURA_OK)
			e = add_bind(b, &f->v);
		break;
	case KURA_OP_NEQ:
		/* A record without a value does not equal the value. */
		e = kura_buf_printf(sql, "%s IS NOT ?", col);
		if (e == KURA_OK)
			e = add_bind(b, &f->v);
		break;
	case KURA_OP_BETWEEN:
		e = kura_buf_printf(sql, "%s BETWEEN ? AND ?", col);
		if (e == KURA_OK)
			e = add_bind(b, &f->v);
		if (e == KURA_OK)
			e = add_bind(b, &f->v2);
		break;
	case KURA_OP_IN:
	case KURA_OP_NOT_IN:
		if (f->op == KURA_OP_IN)
			e = kura_buf_printf(sql, "%s IN (", col);
		else
			e = kura_buf_printf(sql, "(%s IS NULL OR %s NOT IN (", col, col);
		for (size_t i = 0; e == KURA_OK && i < f->nvals; i++) {
			e = kura_buf_printf(sql, i > 0 ? ", ?" : "?");
			if (e == KURA_OK)
				e = add_bind(b, &f->vals[i]);
		}
		if (e == KURA_OK)
			e = kura_buf_printf(sql, f->op == KURA_OP_IN ? ")" : "))");
		break;
	case KURA_OP_HAS:
		e = kura_buf_printf(sql, "%s IS NOT NULL", col);
		break;
	case KURA_OP_NOT_HAS:
		e = kura_buf_printf(sql, "%s IS NULL", col);
		break;
	case KURA_OP_CONTAINS_TOKEN:
		/* Case-insensitive for ASCII letters, like the text core/ hands in (lower-cased). */
		e = kura_buf_printf(sql, "instr(lower(%s), ?) > 0", col);
		if (e == KURA_OK)
			e = add_bind(b, &f->v);
		break;
	case KURA_OP_STARTS_WITH: {
		/*
		 * A range the column's index can serve: every UTF-8 text that
		 * starts with the prefix sorts below prefix + F4 90, a byte pair
		 * past the last code point.
		 */
		struct kura_val *hi;
		char *s;

		if (b->nown >= sizeof(b->own) / sizeof(b->own[0]) ||
		    b->nstrs >= sizeof(b->strs) / sizeof(b->strs[0]))
			return KURA_E_BAD_REQUEST;
		s = malloc(f->v.n + 3);
		if (s == NULL)
			return KURA_E_NOMEM;
		memcpy(s, f->v.s, f->v.n);
		s[f->v.n] = (char)0xF4;
		s[f->v.n + 1] = (char)0x90;
		s[f->v.n + 2] = '\0';
		b->strs[b->nstrs++] = s;
		hi = &b->own[b->nown++];
		memset(hi, 0, sizeof(*hi));
		hi->kind = KURA_V_TEXT;
		hi->s = s;
		hi->n = f->v.n + 2;
		e = kura_buf_printf(sql, "(%s >= ? AND %s < ?)", col, col);
		if (e == KURA_OK)
			e = add_bind(b, &f->v);
		if (e == KURA_OK)
			e = add_bind(b, hi);
		break;
	}
	default:
		e = KURA_E_BAD_REQUEST;
	}
	return e;
}

static bool blocked(int64_t driver, const struct kura_filter *f);

/* FROM and WHERE of a search, shared by its SELECT and its count (driver: see pick_driver). */
static enum kura_err
from_where(struct kura_buf *sql, struct binds *b, const struct kura_search *q, bool paging,
	   int64_t driver)
{
	long long o = (long long)q->object_id;
	enum kura_err e;

	if (q->match != NULL)
		e = kura_buf_printf(sql, " FROM f_%lld JOIN r_%lld r ON r.id = f_%lld.rowid", o, o,
				    o);
	else
		e = kura_buf_printf(sql, " FROM r_%lld r", o);
	if (e == KURA_OK && q->list_id != 0) {
		e = kura_buf_printf(sql, " JOIN list_members m ON m.record_id = r.id AND "
					 "m.list_id = ?");
		if (e == KURA_OK)
			e = add_bind(b, own_int(b, q->list_id));
	}
	if (e == KURA_OK)
		e = kura_buf_printf(sql, " WHERE r.archived_at IS %s",
				    q->archived ? "NOT NULL" : "NULL");
	if (e == KURA_OK && q->match != NULL) {
		e = kura_buf_printf(sql, " AND f_%lld MATCH ?", o);
		if (e == KURA_OK)
			e = add_bind(b, own_text(b, q->match));
	}
	if (e == KURA_OK && q->ngroups > 0) {
		e = kura_buf_printf(sql, " AND (");
		for (size_t g = 0; e == KURA_OK && g < q->ngroups; g++) {
			const struct kura_filter_group *grp = &q->groups[g];

			e = kura_buf_printf(sql, g > 0 ? " OR (" : "(");
			for (size_t i = 0; e == KURA_OK && i < grp->n; i++) {
				if (i > 0)
					e = kura_buf_printf(sql, " AND ");
				if (e == KURA_OK)
					e = filter_sql(sql, b, &grp->filters[i],
						       blocked(driver, &grp->filters[i]));
			}
			if (e == KURA_OK && grp->n == 0)
				e = kura_buf_printf(sql, "1");
			if (e == KURA_OK)
				e = kura_buf_printf(sql, ")");
		}
		if (e == KURA_OK)
			e = kura_buf_printf(sql, ")");
	}
	if (e == KURA_OK && paging && q->nsorts == 0 && q->after_id > 0) {
		e = kura_buf_printf(sql, " AND r.id > ?");
		if (e == KURA_OK)
			e = add_bind(b, own_int(b, q->after_id));
	}
	return e;
}

static void
free_binds(struct binds *b)
{
	for (size_t i = 0; i < b->nstrs; i++)
		free(b->strs[i]);
	b->nstrs = 0;
}

static enum kura_err
prepare_bound(struct kura_sqlite_conn *c, const char *sql, const struct binds *b,
	      sqlite3_stmt **st)
{
	enum kura_err e = kura_sqlite_dyn(c, sql, st);

	if (e != KURA_OK)
		return e;
	for (size_t i = 0; i < b->n; i++)
		bind_val(*st, (int)i + 1, b->v[i]);
	return KURA_OK;
}

/* The count's budget: COUNT_BUDGET_TICKS times COUNT_TICK_OPS virtual-machine steps. */
#define COUNT_TICK_OPS 1000
#define COUNT_BUDGET_TICKS 100

static int
count_budget(void *arg)
{
	unsigned *left = arg;

	if (*left == 0)
		return 1; /* interrupt */
	(*left)--;
	return 0;
}

/*
 * Which index a search of one AND group walks, when it filters two or more
 * properties with ordinary indexes and has no sorts. Results come in id
 * order, and an EQ (or IN) walks its index in id order too: LIMIT stops
 * after the first page of matches, and the count stops at its budget. A
 * range walks its index in value order: every entry must be read and its
 * row fetched before the page can be sorted. Debian's SQLite (no STAT4
 * histograms) cannot see this and guesses range sizes: with statistics it
 * took a 5-year birth-date range (62,000 entries at 1M contacts) over an
 * EQ on a prefecture (6,500, a page after ~340). So an EQ drives -- the
 * ranges are written +col, which keeps the planner off their indexes --
 * unless a range is small: then reading it whole is cheaper than an EQ
 * walk that may find the range's few matches only far down. A range is
 * probed with one index-only count that stops past RANGE_SMALL entries.
 * Returns DRIVE_EQ, DRIVE_NONE (the planner decides) or the id of the
 * small range's property (every other indexed filter is written +col).
 */
#define RANGE_SMALL 2000
#define DRIVE_NONE 0
#define DRIVE_EQ (-1)
#define PROBE_PROPS_MAX 8

static bool
is_eq(const struct kura_filter *f)
{
	return f->op == KURA_OP_EQ || f->op == KURA_OP_IN;
}

/*
 * " AND <filter>" for each of g's filters that prop's ordinary index serves
 * (multi: that an index over several properties with prop among its
 * columns serves, whether or not prop has an index of its own).
 */
static enum kura_err
prop_filters_sql(struct kura_buf *sql, struct binds *b, const struct kura_filter_group *g,
		 int64_t prop, bool multi)
{
	enum kura_err e = KURA_OK;

	for (size_t i = 0; e == KURA_OK && i < g->n; i++) {
		if (!sargable(&g->filters[i]) || (!multi && !g->filters[i].indexed) ||
		    g->filters[i].prop_id != prop)
			continue;
		e = kura_buf_printf(sql, " AND ");
		if (e == KURA_OK)
			e = filter_sql(sql, b, &g->filters[i], false);
	}
	return e;
}

/* The slot of prop in props[0 .. *np), added when new; -1 when props (PROBE_PROPS_MAX) is full. */
static int
prop_slot(int64_t *props, size_t *np, int64_t prop)
{
	size_t k = 0;

	while (k < *np && props[k] != prop)
		k++;
	if (k == *np) {
		if (*np == PROBE_PROPS_MAX)
			return -1;
		props[(*np)++] = prop;
	}
	return (int)k;
}

/* Entries of prop's index that its range filters keep, counted up to RANGE_SMALL + 1; -1 on error. */
static int64_t
range_entries(struct kura_sqlite_conn *c, const struct kura_search *q, int64_t prop)
{
	const struct kura_filter_group *g = &q->groups[0];
	struct binds *b = calloc(1, sizeof(*b));
	struct kura_buf sql;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int64_t n = -1;

	if (b == NULL)
		return -1;
	kura_buf_init(&sql, SQL_MAX);
	e = kura_buf_printf(&sql,
			    "SELECT count(*) FROM (SELECT 1 FROM r_%lld r INDEXED BY x_%lld_%lld WHERE 1",
			    (long long)q->object_id, (long long)q->object_id, (long long)prop);
	if (e == KURA_OK)
		e = prop_filters_sql(&sql, b, g, prop, false);
	if (e == KURA_OK)
		e = kura_buf_printf(&sql, " LIMIT %d)", RANGE_SMALL + 1);
	if (e == KURA_OK)
		e = prepare_bound(c, sql.data, b, &st);
	if (e == KURA_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	kura_sqlite_done(st);
	kura_buf_free(&sql);
	free_binds(b);
	free(b);
	return n;
}

static int64_t
pick_driver(struct kura_sqlite_conn *c, const struct kura_search *q)
{
	const struct kura_filter_group *g;
	int64_t props[PROBE_PROPS_MAX], best = 0, best_n = RANGE_SMALL + 1;
	bool eq[PROBE_PROPS_MAX] = {false}, any_eq = false, any_range = false;
	size_t np = 0;

	if (q->ngroups != 1 || q->match != NULL || q->list_id != 0 || q->nsorts != 0)
		return DRIVE_NONE;
	g = &q->groups[0];
	for (size_t i = 0; i < g->n; i++) {
		int k;

		/* only properties with an ordinary index take part */
		if (!sargable(&g->filters[i]) || !g->filters[i].indexed)
			continue;
		k = prop_slot(props, &np, g->filters[i].prop_id);
		if (k < 0)
			return DRIVE_NONE;
		eq[k] = eq[k] || is_eq(&g->filters[i]);
	}
	for (size_t k = 0; k < np; k++) {
		any_eq = any_eq || eq[k];
		any_range = any_range || !eq[k];
	}
	if (!any_eq || !any_range)
		return DRIVE_NONE;
	for (size_t k = 0; k < np; k++) {
		int64_t n;

		if (eq[k])
			continue;
		n = range_entries(c, q, props[k]);
		if (n < 0)
			return DRIVE_NONE;
		if (n < best_n) {
			best_n = n;
			best = props[k];
		}
	}
	return best != 0 ? best : DRIVE_EQ;
}

/* Whether filter f is written +col under driver (see pick_driver). */
static bool
blocked(int64_t driver, const struct kura_filter *f)
{
	if (driver == DRIVE_NONE || !sargable(f) || !f->indexed)
		return false;
	if (driver == DRIVE_EQ)
		return !is_eq(f);
	return f->prop_id != driver;
}

/*
 * Index intersection. A search of one AND group that filters two or more
 * properties with ordinary indexes takes, from each index, the ids its
 * filters keep -- index entries only (each holds the value and the id),
 * marked in a bitmap by kura_mark() inside SQLite, about 70 ns an entry --
 * and intersects the bitmaps, instead of walking one index and fetching
 * the row of every entry to test the others (1-1.5 us a row at 1M records,
 * and the exact count needed one per candidate).
 *
 * The sets are read smallest first by the planner's statistics: EQ and IN
 * up to half of set_max entries, then ranges (their size is unknown), then
 * larger EQ and IN. The first set may hold set_max ids; past that the
 * search goes pick_driver's way (so does one whose first set is a larger
 * EQ: it is not even read). Each further set is read within the id span
 * of the candidates so far (an EQ walks its index in id order, so the
 * span narrows the walk itself) and only while it is worth it: it may
 * hold no more than ROW_COST times the candidates (then checking their
 * rows is cheaper) and no more than what is left of mark_budget, the
 * entries all sets of a search may read. A set past its limit is left to
 * the rows (an EQ whose statistics say so is not read at all); archived
 * records are taken out with their partial index the same way.
 *
 * The page is read row by row in id order from the candidates with the
 * search's whole WHERE clause, so every result is checked against every
 * filter whatever the sets said. When the sets answered every filter, the
 * number of candidates is the exact total. Otherwise up to rows_exact
 * candidates are counted row by row (exact); more are estimated from
 * `sample` rows spread evenly over them (by id), and the total is not
 * exact. The work of a search is so bounded by mark_budget entries and
 * rows_exact rows, whatever the data.
 */
#define SET_MAX 131072
#define MARK_BUDGET 100000
#define ROWS_EXACT 3000
#define SAMPLE_ROWS 1000
#define SAMPLE_HITS 150 /* matches that end the sample: about 8 % relative error */
#define ROW_COST 16 /* index entries marked in the time of one row check */
#define ARCHIVED_MIN 4096 /* the archived set is read to at least this, whatever the budget */
#define SET_SPAN_MAX (1LL << 25) /* ids in a bitmap (4 MiB) */
#define KURA_BITS_TYPE "kura_bits"

static const struct kura_sqlite_set_limits set_defaults = {
	.set_max = SET_MAX,
	.mark_budget = MARK_BUDGET,
	.rows_exact = ROWS_EXACT,
	.sample = SAMPLE_ROWS,
	.sample_hits = SAMPLE_HITS,
};
static struct kura_sqlite_set_limits set_lim = set_defaults;

void
kura_sqlite_crm_set_limits(const struct kura_sqlite_set_limits *l)
{
	set_lim = l != NULL ? *l : set_defaults;
}

/* The candidates: a bitmap of the ids in [lo, lo + span). */
struct kura_bits {
	int64_t lo, span;
	uint64_t *bits;
	int64_t marked; /* by kura_mark(), which stops the statement past limit */
	int64_t limit;
};

static void
mark_fn(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	struct kura_bits *k = sqlite3_value_pointer(argv[0], KURA_BITS_TYPE);
	int64_t i;

	(void)argc;
	if (k == NULL) {
		sqlite3_result_error(cx, "kura_mark: no bitmap", -1);
		return;
	}
	if (++k->marked > k->limit) {
		sqlite3_result_error_code(cx, SQLITE_TOOBIG); /* too large: not read on */
		return;
	}
	i = sqlite3_value_int64(argv[1]) - k->lo;
	if (i >= 0 && i < k->span)
		k->bits[i >> 6] |= 1ULL << (i & 63);
	sqlite3_result_int(cx, 1);
}

int
kura_sqlite_crm_functions(sqlite3 *db)
{
	/* DIRECTONLY: never from a view, a trigger or the schema. */
	return sqlite3_create_function_v2(db, "kura_mark", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL,
					  mark_fn, NULL, NULL, NULL);
}

static enum kura_err
bits_init(struct kura_bits *k, int64_t lo, int64_t hi)
{
	k->lo = lo;
	k->span = hi - lo + 1;
	k->bits = calloc((size_t)((k->span + 63) / 64), sizeof(uint64_t));
	return k->bits != NULL ? KURA_OK : KURA_E_NOMEM;
}

/* The next id in k after id, or 0 when there is none. */
static int64_t
bits_next(const struct kura_bits *k, int64_t id)
{
	int64_t i = id < k->lo ? 0 : id - k->lo + 1;

	while (i < k->span) {
		uint64_t w = k->bits[i >> 6] >> (i & 63);

		if (w != 0)
			return k->lo + i + __builtin_ctzll(w);
		i = (i | 63) + 1;
	}
	return 0;
}

/* The first and last id in k; false when k is empty. */
static bool
bits_bounds(const struct kura_bits *k, int64_t *lo, int64_t *hi)
{
	size_t words = (size_t)((k->span + 63) / 64);
	size_t a = 0, b = words;

	while (a < words && k->bits[a] == 0)
		a++;
	if (a == words)
		return false;
	while (k->bits[b - 1] == 0)
		b--;
	*lo = k->lo + (int64_t)(a * 64) + __builtin_ctzll(k->bits[a]);
	*hi = k->lo + (int64_t)((b - 1) * 64) + 63 - __builtin_clzll(k->bits[b - 1]);
	return true;
}

/*
 * Marks in k the ids of prop's index that the group's filters on it keep
 * (prop 0: the archived records, from their partial index; multi, when
 * not NULL: the ids of that index over several properties that the
 * filters on its first multi->nprops columns keep), within [lo, hi] when
 * that is narrower than k; *big when there are more than limit of them
 * (then k is incomplete). k->marked tells how many were read.
 */
static enum kura_err
set_mark(struct kura_sqlite_conn *c, const struct kura_search *q, int64_t prop,
	 const struct kura_index_row *multi, int64_t lo, int64_t hi, int64_t limit,
	 struct kura_bits *k, bool *big)
{
	const struct kura_filter_group *g = &q->groups[0];
	long long o = (long long)q->object_id;
	struct binds *b = calloc(1, sizeof(*b));
	struct kura_buf sql;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	*big = false;
	k->marked = 0;
	k->limit = limit;
	if (b == NULL)
		return KURA_E_NOMEM;
	kura_buf_init(&sql, SQL_MAX);
	if (multi != NULL) {
		e = kura_buf_printf(&sql,
				    "SELECT count(*) FROM r_%lld r INDEXED BY x_%lld_c%lld WHERE 1", o,
				    o, (long long)multi->id);
		for (size_t i = 0; e == KURA_OK && i < multi->nprops; i++)
			e = prop_filters_sql(&sql, b, g, multi->props[i], true);
	} else if (prop == 0) {
		e = kura_buf_printf(&sql,
				    "SELECT count(*) FROM r_%lld r INDEXED BY x_%lld_archived "
				    "WHERE r.archived_at IS NOT NULL",
				    o, o);
	} else {
		e = kura_buf_printf(&sql, "SELECT count(*) FROM r_%lld r INDEXED BY x_%lld_%lld WHERE 1",
				    o, o, (long long)prop);
		if (e == KURA_OK)
			e = prop_filters_sql(&sql, b, g, prop, false);
	}
	if (e == KURA_OK && (lo > k->lo || hi < k->lo + k->span - 1)) {
		e = kura_buf_printf(&sql, " AND r.id BETWEEN ? AND ?");
		if (e == KURA_OK)
			e = add_bind(b, own_int(b, lo));
		if (e == KURA_OK)
			e = add_bind(b, own_int(b, hi));
	}
	if (e == KURA_OK)
		e = kura_buf_printf(&sql, " AND kura_mark(?%zu, r.id)", b->n + 1);
	if (e == KURA_OK)
		e = prepare_bound(c, sql.data, b, &st);
	if (e == KURA_OK) {
		sqlite3_bind_pointer(st, (int)b->n + 1, k, KURA_BITS_TYPE, NULL);
		rc = sqlite3_step(st);
		if (k->marked > limit)
			*big = true;
		else if (rc != SQLITE_ROW)
			e = kura_sqlite_error(c, "search_ids", rc);
	}
	kura_sqlite_done(st);
	kura_buf_free(&sql);
	free_binds(b);
	free(b);
	return e;
}

/* Average entries per value of prop's index by the planner's statistics; -1 when unknown. */
static int64_t
stat_per_value(struct kura_sqlite_conn *c, int64_t object_id, int64_t prop)
{
	sqlite3_stmt *st = NULL;
	char idx[64];
	int64_t per = -1;

	snprintf(idx, sizeof(idx), "x_%lld_%lld", (long long)object_id, (long long)prop);
	/* no statistics yet (no table): unknown */
	if (sqlite3_table_column_metadata(c->db, "main", "sqlite_stat1", "stat", NULL, NULL, NULL,
					  NULL, NULL) != SQLITE_OK ||
	    kura_sqlite_dyn(c, "SELECT stat FROM sqlite_stat1 WHERE idx = ?", &st) != KURA_OK)
		return -1;
	sqlite3_bind_text(st, 1, idx, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		const char *sp = t != NULL ? strchr(t, ' ') : NULL;

		if (sp != NULL)
			per = strtoll(sp + 1, NULL, 10);
	}
	kura_sqlite_done(st);
	return per;
}

/*
 * Steps st (SELECT r.* ... AND r.id = ?at) for one id: SQLITE_ROW when it
 * matched (then *row, when row is given), SQLITE_DONE when not, else an error.
 */
static int
check_row(sqlite3_stmt *st, int at, int64_t id, struct kura_colval **buf, int *ncol,
	  struct kura_record_row *row)
{
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, at, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && row != NULL) {
		if (!fit_row_buf(st, buf, ncol))
			return SQLITE_NOMEM;
		read_row(st, *buf, *ncol, row);
	}
	return rc;
}

static atomic_ulong searches_by_sets, searches_by_multi;

unsigned long
kura_sqlite_crm_searches_by_sets(void)
{
	return atomic_load(&searches_by_sets);
}

unsigned long
kura_sqlite_crm_searches_by_multi(void)
{
	return atomic_load(&searches_by_multi);
}

/*
 * Candidates of a search by index intersection: the properties in the
 * order they are read; with an index over several properties (multi.nprops > 0)
 * that one first (its prop 0, est SET_EST_MULTI).
 */
#define SET_EST_MULTI (-1)
struct set_plan {
	int64_t prop[PROBE_PROPS_MAX];
	int64_t est[PROBE_PROPS_MAX]; /* entries by the statistics; INT64_MAX: a range, unknown */
	size_t n;
	bool rows_left;               /* a filter the sets do not answer */
	struct kura_index_row multi;  /* nprops: the columns the search's filters use; 0: none */
};

/* The filters of group g on prop: any an index serves (*any), an EQ or IN among them (*eq). */
static void
prop_ops(const struct kura_filter_group *g, int64_t prop, bool *any, bool *eq)
{
	*any = *eq = false;
	for (size_t i = 0; i < g->n; i++) {
		if (g->filters[i].prop_id != prop || !sargable(&g->filters[i]))
			continue;
		*any = true;
		*eq = *eq || is_eq(&g->filters[i]);
	}
}

struct multi_pick {
	const struct kura_filter_group *g;
	struct kura_index_row *best;
};

/*
 * How many leading columns of ix the group's filters use: each column up
 * to the last has an EQ or IN, the last any filter an index serves.
 */
static bool
multi_one(void *ctx, const struct kura_index_row *ix)
{
	struct multi_pick *x = ctx;
	size_t used = 0;

	for (size_t i = 0; i < ix->nprops; i++) {
		bool any, eq;

		prop_ops(x->g, ix->props[i], &any, &eq);
		if (!any)
			break;
		used = i + 1;
		if (!eq)
			break;
	}
	if (used >= 2 && used > x->best->nprops) {
		*x->best = *ix;
		x->best->nprops = used;
	}
	return true;
}

static bool
in_multi(const struct set_plan *p, int64_t prop)
{
	for (size_t i = 0; i < p->multi.nprops; i++) {
		if (p->multi.props[i] == prop)
			return true;
	}
	return false;
}

/* Where a set comes in the order it is read: see the comment on index intersection. */
static int64_t
set_rank(int64_t est)
{
	if (est == INT64_MAX)
		return set_lim.set_max / 2 + 1; /* a range: after the small EQs */
	return est <= set_lim.set_max / 2 ? est : est + set_lim.set_max;
}

/* The plan of q, false when q is not of the shape or its first set is surely too large. */
static bool
set_plan(struct kura_sqlite_conn *c, const struct kura_search *q, struct set_plan *p)
{
	const struct kura_filter_group *g;

	memset(p, 0, sizeof(*p));
	if (q->ngroups != 1 || q->match != NULL || q->list_id != 0 || q->nsorts != 0 ||
	    q->archived)
		return false;
	g = &q->groups[0];
	if (g->n < 2)
		return false; /* one filter: its own index, walked as it is */
	for (size_t i = 0; i < PROBE_PROPS_MAX; i++)
		p->est[i] = INT64_MAX;
	/*
	 * The index over several properties that serves most of the filters,
	 * if any: read here, in the search's own read transaction, not from
	 * the catalogue, so that the index named in INDEXED BY exists in the
	 * snapshot the search reads even when one was dropped meanwhile.
	 */
	{
		struct multi_pick x = {.g = g, .best = &p->multi};

		if (kura_sqlite_crm_index_list(c, q->object_id, multi_one, &x) != KURA_OK)
			return false;
		if (p->multi.nprops > 0)
			p->est[p->n++] = SET_EST_MULTI;
	}
	for (size_t i = 0; i < g->n; i++) {
		const struct kura_filter *f = &g->filters[i];
		int j;

		if (sargable(f) && in_multi(p, f->prop_id))
			continue; /* the first set answers it */
		if (!sargable(f) || !f->indexed) {
			p->rows_left = true;
			continue;
		}
		j = prop_slot(p->prop, &p->n, f->prop_id);
		if (j < 0)
			return false;
		if (f->op == KURA_OP_EQ || f->op == KURA_OP_IN) {
			int64_t per = stat_per_value(c, q->object_id, f->prop_id);
			int64_t est = per < 0 ? INT64_MAX
					      : per * (int64_t)(f->op == KURA_OP_IN ? f->nvals : 1);

			p->est[j] = est < p->est[j] ? est : p->est[j];
		}
	}
	if (p->n < 2 && p->multi.nprops == 0)
		return false;
	/* in the order they are read (an index over several properties first: SET_EST_MULTI) */
	for (size_t a = 1; a < p->n; a++) {
		for (size_t b = a; b > 0 && set_rank(p->est[b]) < set_rank(p->est[b - 1]); b--) {
			int64_t tp = p->prop[b], te = p->est[b];

			p->prop[b] = p->prop[b - 1];
			p->est[b] = p->est[b - 1];
			p->prop[b - 1] = tp;
			p->est[b - 1] = te;
		}
	}
	/*
	 * The first set is read whole or not at all. An average past half its
	 * limit: some values surely hold more (a set read to its limit and
	 * dropped costs ~9 ms at the default).
	 */
	return p->est[0] == INT64_MAX || p->est[0] <= set_lim.set_max / 2;
}

/* The table's first and last id; *any false when it is empty. */
static enum kura_err
id_bounds(struct kura_sqlite_conn *c, int64_t object_id, int64_t *lo, int64_t *hi, bool *any)
{
	char sql[160];
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	*any = false;
	snprintf(sql, sizeof(sql),
		 "SELECT (SELECT id FROM r_%lld ORDER BY id LIMIT 1), "
		 "(SELECT id FROM r_%lld ORDER BY id DESC LIMIT 1)",
		 (long long)object_id, (long long)object_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e != KURA_OK)
		return e;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*lo = sqlite3_column_int64(st, 0);
		*hi = sqlite3_column_int64(st, 1);
		*any = true;
	} else if (rc != SQLITE_ROW) {
		e = kura_sqlite_error(c, "search_ids", rc);
	}
	kura_sqlite_done(st);
	return e;
}

/* The number of ids in k. */
static int64_t
bits_count(const struct kura_bits *k)
{
	size_t words = (size_t)((k->span + 63) / 64);
	int64_t n = 0;

	for (size_t w = 0; w < words; w++)
		n += __builtin_popcountll(k->bits[w]);
	return n;
}

/*
 * Reads the plan's sets into k (the candidates, *ncand of them; m is
 * scratch over the same span): *used false when its first set is too
 * large, *rows_left true when a filter is left to the rows.
 */
static enum kura_err
sets_read(struct kura_sqlite_conn *c, const struct kura_search *q, const struct set_plan *p,
	  struct kura_bits *k, struct kura_bits *m, bool *used, bool *rows_left, int64_t *ncand)
{
	size_t words = (size_t)((k->span + 63) / 64);
	int64_t left = set_lim.mark_budget;
	enum kura_err e = KURA_OK;

	*used = false;
	*ncand = 0;
	*rows_left = p->rows_left;
	/* after the properties, the archived records */
	for (size_t j = 0; j <= p->n; j++) {
		bool first = j == 0, arch = j == p->n, big = false;
		int64_t a = k->lo, z = k->lo + k->span - 1, limit = set_lim.set_max;

		if (!first) {
			if (*ncand == 0)
				break; /* nothing can match */
			(void)bits_bounds(k, &a, &z);
			/* worth reading only while cheaper than checking the candidates' rows */
			limit = *ncand < set_lim.set_max / ROW_COST ? *ncand * ROW_COST
								    : set_lim.set_max;
			if (arch)
				limit = limit > ARCHIVED_MIN ? limit : ARCHIVED_MIN;
			else if (limit > left)
				limit = left;
			if (limit <= 0 || (!arch && p->est[j] != INT64_MAX && p->est[j] > limit)) {
				*rows_left = true;
				continue;
			}
			memset(m->bits, 0, words * sizeof(uint64_t));
		}
		e = set_mark(c, q, arch ? 0 : p->prop[j],
			     !arch && p->est[j] == SET_EST_MULTI ? &p->multi : NULL, a, z, limit,
			     first ? k : m, &big);
		left -= first ? k->marked : m->marked;
		if (e != KURA_OK || (big && first))
			return e; /* too large: pick_driver's way */
		if (big) {
			*rows_left = true;
			continue;
		}
		if (!first) {
			for (size_t w = 0; w < words; w++)
				k->bits[w] &= arch ? ~m->bits[w] : m->bits[w];
		}
		*ncand = bits_count(k);
	}
	*used = true;
	return KURA_OK;
}

/* i's lowest `bits` bits in reverse order. */
static uint32_t
bit_reverse(uint32_t i, unsigned bits)
{
	uint32_t r = 0;

	for (unsigned j = 0; j < bits; j++, i >>= 1)
		r = (r << 1) | (i & 1);
	return r;
}

/*
 * The total of a search whose sets left a filter to the rows (the ncand
 * candidates in k; st, with r.id = ?at, checks one): every one counted
 * when there are at most rows_exact, else an estimate from a sample of at
 * most `sample` of them, evenly spaced by id. The sample is read in bit-reversed order (every
 * part of it read first is spread over all the ids, not the oldest) and
 * stops after sample_hits matches: the estimate's relative error then
 * depends little on how common the matches are (about 1/sqrt(hits)).
 */
static enum kura_err
rows_total(struct kura_sqlite_conn *c, const struct kura_search *q, const struct kura_bits *k,
	   int64_t ncand, sqlite3_stmt *st, int at, struct kura_colval **buf, int *ncol,
	   int64_t *total, bool *exact)
{
	bool all = ncand <= set_lim.rows_exact || ncand <= set_lim.sample;
	int64_t cap = all ? ncand : set_lim.sample, step = all ? 1 : (ncand + cap - 1) / cap;
	int64_t stop = all ? (int64_t)q->count_cap + 1 : set_lim.sample_hits;
	int64_t i = 0, n = 0, checked = 0, hits = 0;
	int64_t *ids = malloc((size_t)cap * sizeof(*ids));
	unsigned bits = 0;

	if (ids == NULL)
		return KURA_E_NOMEM;
	for (int64_t id = bits_next(k, INT64_MIN); id != 0 && n < cap; id = bits_next(k, id), i++) {
		if (i % step == 0)
			ids[n++] = id;
	}
	while (((int64_t)1 << bits) < n)
		bits++;
	for (uint32_t r = 0; r < ((uint32_t)1 << bits) && hits < stop; r++) {
		uint32_t at_i = bit_reverse(r, bits);
		int rc;

		if (at_i >= (uint64_t)n)
			continue;
		rc = check_row(st, at, ids[at_i], buf, ncol, NULL);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			free(ids);
			return kura_sqlite_error(c, "search_count", rc);
		}
		checked++;
		hits += rc == SQLITE_ROW ? 1 : 0;
	}
	free(ids);
	if (all) {
		*total = hits;
	} else {
		*total = checked > 0 ? (hits * ncand + checked / 2) / checked : 0;
		*exact = false;
	}
	return KURA_OK;
}

/*
 * The search by index intersection; *used false (nothing returned) when
 * the search is not of that shape or its first set is too large.
 */
static enum kura_err
search_by_sets(struct kura_sqlite_conn *c, const struct kura_search *q, kura_record_row_cb cb,
	       void *ctx, int64_t *total, bool *exact, bool *used)
{
	struct set_plan p;
	struct kura_bits k = {0}, m = {0};
	struct binds *b = NULL;
	struct kura_buf sql;
	struct kura_colval *buf = NULL;
	sqlite3_stmt *st = NULL;
	int64_t lo = 0, hi = -1, id, ncand = 0;
	bool any = false, rows_left = false;
	int ncol = 0, at;
	unsigned got = 0;
	enum kura_err e;

	*used = false;
	if (!set_plan(c, q, &p))
		return KURA_OK;
	kura_buf_init(&sql, SQL_MAX);
	e = id_bounds(c, q->object_id, &lo, &hi, &any);
	if (e != KURA_OK || !any || hi - lo >= SET_SPAN_MAX)
		goto out;
	e = bits_init(&k, lo, hi);
	if (e == KURA_OK)
		e = bits_init(&m, lo, hi);
	if (e == KURA_OK)
		e = sets_read(c, q, &p, &k, &m, used, &rows_left, &ncand);
	if (e != KURA_OK || !*used)
		goto out;
	atomic_fetch_add(&searches_by_sets, 1);
	if (p.multi.nprops > 0)
		atomic_fetch_add(&searches_by_multi, 1);
	if (ncand == 0)
		goto out;
	/* the rows, with the whole WHERE clause */
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	e = kura_buf_printf(&sql, "SELECT r.*");
	if (e == KURA_OK)
		e = from_where(&sql, b, q, false, DRIVE_NONE);
	if (e == KURA_OK)
		e = kura_buf_printf(&sql, " AND r.id = ?");
	if (e == KURA_OK)
		e = prepare_bound(c, sql.data, b, &st);
	if (e != KURA_OK)
		goto out;
	at = (int)b->n + 1;
	if (q->count_cap > 0 && !rows_left) {
		*total = ncand;
	} else if (q->count_cap > 0) {
		e = rows_total(c, q, &k, ncand, st, at, &buf, &ncol, total, exact);
	}
	if (e == KURA_OK && *total > (int64_t)q->count_cap) {
		*total = q->count_cap;
		*exact = false;
	}
	/* the page: the first q->limit matches past the cursor, in id order */
	for (id = bits_next(&k, q->after_id > 0 ? q->after_id : INT64_MIN);
	     e == KURA_OK && id != 0 && got < q->limit; id = bits_next(&k, id)) {
		struct kura_record_row row;
		int rc = check_row(st, at, id, &buf, &ncol, &row);

		if (rc == SQLITE_DONE)
			continue;
		if (rc != SQLITE_ROW) {
			e = rc == SQLITE_NOMEM ? KURA_E_NOMEM : kura_sqlite_error(c, "search", rc);
			break;
		}
		got++;
		if (!cb(ctx, &row))
			break;
	}
	/* an estimate is never below what the first page found */
	if (e == KURA_OK && q->count_cap > 0 && q->after_id <= 0 && *total < (int64_t)got)
		*total = got;
out:
	kura_sqlite_done(st);
	if (b != NULL)
		free_binds(b);
	free(b);
	free(buf);
	free(k.bits);
	free(m.bits);
	kura_buf_free(&sql);
	return e;
}

/* A search of live records by text alone: no filter, no list. */
static bool
text_only(const struct kura_search *q)
{
	return q->match != NULL && q->ngroups == 0 && q->list_id == 0 && !q->archived;
}

/*
 * One read transaction for a whole search, when none is open: its probes,
 * sets, count and page see one snapshot, and the read lock is taken once
 * (each statement on its own takes and drops it, a system call or more).
 */
static bool
read_begin(struct kura_sqlite_conn *c)
{
	sqlite3_stmt *st = NULL;
	bool began;

	if (!sqlite3_get_autocommit(c->db) || kura_sqlite_dyn(c, "BEGIN DEFERRED", &st) != KURA_OK)
		return false;
	began = sqlite3_step(st) == SQLITE_DONE;
	kura_sqlite_done(st);
	return began;
}

static void
read_end(struct kura_sqlite_conn *c, bool began)
{
	sqlite3_stmt *st = NULL;

	if (!began)
		return;
	if (kura_sqlite_dyn(c, "COMMIT", &st) != KURA_OK || sqlite3_step(st) != SQLITE_DONE)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	kura_sqlite_done(st);
}

enum kura_err
kura_sqlite_crm_search(void *conn, const struct kura_search *q, kura_record_row_cb cb,
		       void *ctx, int64_t *total, bool *exact)
{
	struct kura_sqlite_conn *c = conn;
	struct binds *b = calloc(1, sizeof(*b));
	struct kura_buf sql;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	char col[40];
	int64_t driver = DRIVE_NONE;
	bool by_sets = false, began = read_begin(c);

	*total = 0;
	*exact = true;
	kura_buf_init(&sql, SQL_MAX);
	if (b == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	e = search_by_sets(c, q, cb, ctx, total, exact, &by_sets);
	if (e != KURA_OK || by_sets)
		goto out;
	driver = pick_driver(c, q);
	if (q->count_cap > 0) {
		unsigned budget = COUNT_BUDGET_TICKS;
		int rc;

		if (text_only(q)) {
			/*
			 * The text index holds live records only (archiving takes a
			 * record out, restoring puts it back, purging removes it):
			 * counted there, no table row is read (a row lookup each was
			 * 80-95 % of such a count at 1M contacts).
			 */
			e = kura_buf_printf(&sql, "SELECT 1 FROM f_%lld WHERE f_%lld MATCH ?",
					    (long long)q->object_id, (long long)q->object_id);
			if (e == KURA_OK)
				e = add_bind(b, own_text(b, q->match));
		} else {
			e = kura_buf_printf(&sql, "SELECT 1");
			if (e == KURA_OK)
				e = from_where(&sql, b, q, false, driver);
		}
		if (e == KURA_OK)
			e = kura_buf_printf(&sql, " LIMIT %u", q->count_cap + 1);
		if (e == KURA_OK)
			e = prepare_bound(c, sql.data, b, &st);
		if (e != KURA_OK)
			goto out;
		/*
		 * The count is bounded twice: by count_cap matches, and by a
		 * budget of SQLite work (not of time, so that it is the same on
		 * every run): past it, the matches counted so far are a lower
		 * bound and the total is not exact. A filter that matches many
		 * rows only after checking many more cannot make a search slow.
		 */
		sqlite3_progress_handler(c->db, COUNT_TICK_OPS, count_budget, &budget);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			(*total)++;
		sqlite3_progress_handler(c->db, 0, NULL, NULL);
		if (rc == SQLITE_INTERRUPT) {
			*exact = false;
		} else if (rc != SQLITE_DONE) {
			e = kura_sqlite_error(c, "search_count", rc);
			goto out;
		}
		if (*total > q->count_cap) {
			*total = q->count_cap;
			*exact = false;
		}
		kura_sqlite_done(st);
		st = NULL;
		kura_buf_reset(&sql);
		free_binds(b);
		memset(b, 0, sizeof(*b));
	}
	e = kura_buf_printf(&sql, "SELECT r.*");
	if (e == KURA_OK)
		e = from_where(&sql, b, q, true, driver);
	if (e == KURA_OK)
		e = kura_buf_printf(&sql, " ORDER BY ");
	for (size_t i = 0; e == KURA_OK && i < q->nsorts; i++) {
		colname(q->sorts[i].prop_id, false, col, sizeof(col));
		e = kura_buf_printf(&sql, "%s %s, ", col, q->sorts[i].desc ? "DESC" : "ASC");
	}
	/* With a text match, walking the index in rowid order lets LIMIT stop early. */
	if (e == KURA_OK)
		e = q->match != NULL && q->nsorts == 0
			    ? kura_buf_printf(&sql, "f_%lld.rowid LIMIT ? OFFSET ?",
					      (long long)q->object_id)
			    : kura_buf_printf(&sql, "r.id LIMIT ? OFFSET ?");
	if (e == KURA_OK)
		e = add_bind(b, own_int(b, q->limit));
	if (e == KURA_OK)
		e = add_bind(b, own_int(b, q->nsorts > 0 ? q->offset : 0));
	if (e == KURA_OK)
		e = prepare_bound(c, sql.data, b, &st);
	if (e == KURA_OK)
		e = each_record(c, st, "search", cb, ctx, NULL);
out:
	kura_sqlite_done(st);
	read_end(c, began);
	kura_buf_free(&sql);
	if (b != NULL)
		free_binds(b);
	free(b);
	return e;
}

enum kura_err
kura_sqlite_crm_fts_set(void *conn, int64_t object_id, int64_t id, const char *fts)
{
	struct kura_sqlite_conn *c = conn;
	enum kura_err e = fts_delete(c, object_id, id);

	if (e == KURA_OK)
		e = fts_put(c, object_id, id, fts);
	return e;
}

enum kura_err
kura_sqlite_crm_prop_values(void *conn, int64_t object_id, int64_t prop_id, kura_colval_cb cb,
			    void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[128];
	enum kura_err e;

	snprintf(sql, sizeof(sql), "SELECT id, p_%lld FROM r_%lld WHERE p_%lld IS NOT NULL",
		 (long long)prop_id, (long long)object_id, (long long)prop_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_crm_each_id_val(c, st, "prop_values", cb, ctx);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_prop_value_set(void *conn, int64_t object_id, int64_t prop_id, int64_t id,
			       const struct kura_val *v)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[128];
	enum kura_err e;

	snprintf(sql, sizeof(sql), "UPDATE r_%lld SET p_%lld = ? WHERE id = ?",
		 (long long)object_id, (long long)prop_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e == KURA_OK) {
		bind_val(st, 1, v);
		sqlite3_bind_int64(st, 2, id);
		e = write_checked(c, st, "prop_value_set", NULL, true);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_prop_key_versions(void *conn, int64_t object_id, int64_t prop_id,
				  void (*cb)(void *ctx, uint32_t version, int64_t n), void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[200];
	enum kura_err e;
	int rc;

	snprintf(sql, sizeof(sql),
		 "SELECT substr(p_%lld, 2, 4), count(*) FROM r_%lld WHERE typeof(p_%lld) = 'blob' "
		 "GROUP BY 1",
		 (long long)prop_id, (long long)object_id, (long long)prop_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e != KURA_OK)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const uint8_t *v = sqlite3_column_blob(st, 0);
		uint32_t ver = 0;

		if (v != NULL && sqlite3_column_bytes(st, 0) == 4)
			ver = ((uint32_t)v[0] << 24) | ((uint32_t)v[1] << 16) | ((uint32_t)v[2] << 8) |
			      v[3];
		cb(ctx, ver, sqlite3_column_int64(st, 1));
	}
	if (rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "prop_key_versions", rc);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_prop_values_stale(void *conn, int64_t object_id, int64_t prop_id,
				  uint32_t version, int64_t after_id, unsigned limit,
				  kura_colval_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	uint8_t want[4] = {(uint8_t)(version >> 24), (uint8_t)(version >> 16),
			   (uint8_t)(version >> 8), (uint8_t)version};
	char sql[240];
	enum kura_err e;

	snprintf(sql, sizeof(sql),
		 "SELECT id, p_%lld FROM r_%lld WHERE id > ?3 AND typeof(p_%lld) = 'blob' AND "
		 "substr(p_%lld, 2, 4) <> ?1 ORDER BY id LIMIT ?2",
		 (long long)prop_id, (long long)object_id, (long long)prop_id, (long long)prop_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_blob(st, 1, want, 4, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit);
	sqlite3_bind_int64(st, 3, after_id);
	e = kura_sqlite_crm_each_id_val(c, st, "prop_values_stale", cb, ctx);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_each_id_val(struct kura_sqlite_conn *c, sqlite3_stmt *st, const char *op,
			    kura_colval_cb cb, void *ctx)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct kura_val v;
		int t = sqlite3_column_type(st, 1);

		memset(&v, 0, sizeof(v));
		if (t == SQLITE_INTEGER) {
			v.kind = KURA_V_INT;
			v.i = sqlite3_column_int64(st, 1);
		} else if (t == SQLITE_FLOAT) {
			v.kind = KURA_V_REAL;
			v.d = sqlite3_column_double(st, 1);
		} else if (t == SQLITE_BLOB) {
			v.kind = KURA_V_BLOB;
			v.s = sqlite3_column_blob(st, 1);
			v.n = (size_t)sqlite3_column_bytes(st, 1);
		} else if (t == SQLITE_TEXT) {
			v.kind = KURA_V_TEXT;
			v.s = (const char *)sqlite3_column_text(st, 1);
			v.n = (size_t)sqlite3_column_bytes(st, 1);
		} else {
			v.kind = KURA_V_NULL;
		}
		if ((v.kind == KURA_V_BLOB || v.kind == KURA_V_TEXT) && v.s == NULL)
			v.s = "";
		if (!cb(ctx, sqlite3_column_int64(st, 0), &v))
			return KURA_OK;
	}
	return rc == SQLITE_DONE ? KURA_OK : kura_sqlite_error(c, op, rc);
}
