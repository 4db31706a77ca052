/*
 * What hangs off records in SQLite: property history, associations (kept
 * in both directions), activities, lists and their members, and the
 * replies kept for Idempotency-Key.
 */
#include "sqlite_crm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
text_or_empty(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s != NULL ? (const char *)s : "";
}

enum kura_err
kura_sqlite_crm_history_add(void *conn, int64_t object_id, int64_t record_id, int64_t at,
			    const struct kura_actor *a, bool initial, const char *changes)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "INSERT INTO record_history (object_id, record_id, at, actor_type, "
			    "actor_id, source, initial, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			    &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, object_id);
		sqlite3_bind_int64(st, 2, record_id);
		sqlite3_bind_int64(st, 3, at);
		sqlite3_bind_int(st, 4, a->type);
		sqlite3_bind_int64(st, 5, a->id);
		sqlite3_bind_text(st, 6, a->source, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 7, initial);
		sqlite3_bind_text(st, 8, changes, -1, SQLITE_STATIC);
		e = kura_sqlite_write(c, st, "history_add", false);
	}
	kura_sqlite_done(st);
	return e;
}

struct cb_ctx {
	void *cb;
	void *ctx;
	bool stop;
	bool found;
};

static void
history_row(sqlite3_stmt *st, void *p)
{
	struct cb_ctx *x = p;
	struct kura_history_row h;

	if (x->stop)
		return;
	h.id = sqlite3_column_int64(st, 0);
	h.at = sqlite3_column_int64(st, 1);
	h.actor_type = sqlite3_column_int(st, 2);
	h.actor_id = sqlite3_column_int64(st, 3);
	h.source = text_or_empty(st, 4);
	h.changes = text_or_empty(st, 5);
	h.initial = sqlite3_column_int(st, 6) != 0;
	x->stop = !((kura_history_row_cb)x->cb)(x->ctx, &h);
}

enum kura_err
kura_sqlite_crm_history_list(void *conn, int64_t object_id, int64_t record_id, int64_t before,
			     unsigned limit, kura_history_row_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct cb_ctx x = {.cb = (void *)cb, .ctx = ctx};
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "SELECT id, at, actor_type, actor_id, source, changes, initial FROM record_history "
			    "WHERE object_id = ? AND record_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
			    &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, object_id);
		sqlite3_bind_int64(st, 2, record_id);
		sqlite3_bind_int64(st, 3, before > 0 ? before : INT64_MAX);
		sqlite3_bind_int64(st, 4, limit);
		e = kura_sqlite_each(c, st, "history_list", history_row, &x);
	}
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
assoc_one(struct kura_sqlite_conn *c, int64_t fo, int64_t fi, int64_t to, int64_t ti,
	  const char *label, int64_t now)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "INSERT INTO associations (from_object, from_id, to_object, to_id, label, "
			    "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
			    "label = excluded.label",
			    &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, fo);
		sqlite3_bind_int64(st, 2, fi);
		sqlite3_bind_int64(st, 3, to);
		sqlite3_bind_int64(st, 4, ti);
		sqlite3_bind_text(st, 5, label != NULL ? label : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, now);
		e = kura_sqlite_write(c, st, "assoc_put", false);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_assoc_put(void *conn, int64_t from_obj, int64_t from_id, int64_t to_obj,
			  int64_t to_id, const char *label, int64_t now)
{
	enum kura_err e = assoc_one(conn, from_obj, from_id, to_obj, to_id, label, now);

	if (e == KURA_OK && !(from_obj == to_obj && from_id == to_id))
		e = assoc_one(conn, to_obj, to_id, from_obj, from_id, label, now);
	return e;
}

enum kura_err
kura_sqlite_crm_assoc_delete(void *conn, int64_t from_obj, int64_t from_id, int64_t to_obj,
			     int64_t to_id)
{
	struct kura_sqlite_conn *c = conn;
	const int64_t ids[4] = {from_obj, from_id, to_obj, to_id};

	return kura_sqlite_crm_write_ids(c,
					 "DELETE FROM associations WHERE (from_object = ?1 AND "
					 "from_id = ?2 AND to_object = ?3 AND to_id = ?4) OR "
					 "(from_object = ?3 AND from_id = ?4 AND to_object = ?1 AND "
					 "to_id = ?2)",
					 "assoc_delete", true, 4, ids);
}

static void
assoc_row(sqlite3_stmt *st, void *p)
{
	struct cb_ctx *x = p;
	struct kura_assoc_row a;

	if (x->stop)
		return;
	a.to_id = sqlite3_column_int64(st, 0);
	a.label = text_or_empty(st, 1);
	a.created_at = sqlite3_column_int64(st, 2);
	x->stop = !((kura_assoc_row_cb)x->cb)(x->ctx, &a);
}

enum kura_err
kura_sqlite_crm_assoc_list(void *conn, int64_t from_obj, int64_t from_id, int64_t to_obj,
			   int64_t after, unsigned limit, kura_assoc_row_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct cb_ctx x = {.cb = (void *)cb, .ctx = ctx};
	sqlite3_stmt *st = NULL;
	char sql[320];
	enum kura_err e;

	/* Only live records: an archived one is hidden until it is restored. */
	snprintf(sql, sizeof(sql),
		 "SELECT a.to_id, a.label, a.created_at FROM associations a JOIN r_%lld r "
		 "ON r.id = a.to_id AND r.archived_at IS NULL WHERE a.from_object = ? AND "
		 "a.from_id = ? AND a.to_object = ? AND a.to_id > ? ORDER BY a.to_id LIMIT ?",
		 (long long)to_obj);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, from_obj);
		sqlite3_bind_int64(st, 2, from_id);
		sqlite3_bind_int64(st, 3, to_obj);
		sqlite3_bind_int64(st, 4, after);
		sqlite3_bind_int64(st, 5, limit);
		e = kura_sqlite_each(c, st, "assoc_list", assoc_row, &x);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_activity_add(void *conn, struct kura_activity_row *a)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "INSERT INTO activities (object_id, record_id, type, body, occurred_at, "
			    "author_type, author_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			    &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, a->object_id);
		sqlite3_bind_int64(st, 2, a->record_id);
		sqlite3_bind_text(st, 3, a->type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, a->body, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, a->occurred_at);
		sqlite3_bind_int(st, 6, a->author_type);
		sqlite3_bind_int64(st, 7, a->author_id);
		sqlite3_bind_int64(st, 8, a->created_at);
		e = kura_sqlite_write(c, st, "activity_add", false);
	}
	if (e == KURA_OK)
		a->id = sqlite3_last_insert_rowid(c->db);
	kura_sqlite_done(st);
	return e;
}

static void
activity_row(sqlite3_stmt *st, void *p)
{
	struct cb_ctx *x = p;
	struct kura_activity_row a;

	if (x->stop)
		return;
	a.id = sqlite3_column_int64(st, 0);
	a.object_id = sqlite3_column_int64(st, 1);
	a.record_id = sqlite3_column_int64(st, 2);
	a.type = text_or_empty(st, 3);
	a.body = text_or_empty(st, 4);
	a.occurred_at = sqlite3_column_int64(st, 5);
	a.author_type = sqlite3_column_int(st, 6);
	a.author_id = sqlite3_column_int64(st, 7);
	a.created_at = sqlite3_column_int64(st, 8);
	x->stop = !((kura_activity_row_cb)x->cb)(x->ctx, &a);
}

enum kura_err
kura_sqlite_crm_activity_list(void *conn, int64_t object_id, int64_t record_id, int64_t before,
			      unsigned limit, kura_activity_row_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct cb_ctx x = {.cb = (void *)cb, .ctx = ctx};
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "SELECT id, object_id, record_id, type, body, occurred_at, author_type, "
			    "author_id, created_at FROM activities WHERE object_id = ? AND "
			    "record_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
			    &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, object_id);
		sqlite3_bind_int64(st, 2, record_id);
		sqlite3_bind_int64(st, 3, before > 0 ? before : INT64_MAX);
		sqlite3_bind_int64(st, 4, limit);
		e = kura_sqlite_each(c, st, "activity_list", activity_row, &x);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_list_create(void *conn, struct kura_list_row *l)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "INSERT INTO lists (object_id, name, type, filter, created_by, created_at, "
			    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			    &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, l->object_id);
		sqlite3_bind_text(st, 2, l->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, l->dynamic ? "dynamic" : "static", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, l->filter != NULL ? l->filter : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, l->created_by);
		sqlite3_bind_int64(st, 6, l->created_at);
		sqlite3_bind_int64(st, 7, l->created_at);
		e = kura_sqlite_write(c, st, "list_create", false);
	}
	if (e == KURA_OK) {
		l->id = sqlite3_last_insert_rowid(c->db);
		l->updated_at = l->created_at;
		l->size = 0;
	}
	kura_sqlite_done(st);
	return e;
}

#define LIST_COLS                                                                                  \
	"SELECT l.id, l.object_id, l.name, l.type, l.filter, l.created_by, l.created_at, "         \
	"l.updated_at, CASE l.type WHEN 'static' THEN (SELECT count(*) FROM list_members m "       \
	"WHERE m.list_id = l.id) ELSE -1 END FROM lists l"

static void
list_row(sqlite3_stmt *st, void *p)
{
	struct cb_ctx *x = p;
	struct kura_list_row l;

	if (x->stop)
		return;
	memset(&l, 0, sizeof(l));
	l.id = sqlite3_column_int64(st, 0);
	l.object_id = sqlite3_column_int64(st, 1);
	kura_sqlite_col_text(st, 2, l.name, sizeof(l.name));
	l.dynamic = strcmp(text_or_empty(st, 3), "dynamic") == 0;
	l.filter = text_or_empty(st, 4);
	l.created_by = sqlite3_column_int64(st, 5);
	l.created_at = sqlite3_column_int64(st, 6);
	l.updated_at = sqlite3_column_int64(st, 7);
	l.size = sqlite3_column_int64(st, 8);
	x->found = true;
	x->stop = !((kura_list_row_cb)x->cb)(x->ctx, &l);
}

enum kura_err
kura_sqlite_crm_list_get(void *conn, int64_t id, kura_list_row_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct cb_ctx x = {.cb = (void *)cb, .ctx = ctx};
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c, LIST_COLS " WHERE l.id = ?", &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, id);
		e = kura_sqlite_each(c, st, "list_get", list_row, &x);
	}
	kura_sqlite_done(st);
	if (e == KURA_OK && !x.found)
		e = KURA_E_NOT_FOUND;
	return e;
}

enum kura_err
kura_sqlite_crm_list_all(void *conn, kura_list_row_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct cb_ctx x = {.cb = (void *)cb, .ctx = ctx};
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c, LIST_COLS " ORDER BY l.id", &st);
	if (e == KURA_OK)
		e = kura_sqlite_each(c, st, "list_all", list_row, &x);
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_list_update(void *conn, const struct kura_list_row *l)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c, "UPDATE lists SET name = ?, filter = ?, updated_at = ? WHERE id = ?",
			    &st);
	if (e == KURA_OK) {
		sqlite3_bind_text(st, 1, l->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, l->filter != NULL ? l->filter : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, l->updated_at);
		sqlite3_bind_int64(st, 4, l->id);
		e = kura_sqlite_write(c, st, "list_update", true);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_list_delete(void *conn, int64_t id)
{
	return kura_sqlite_crm_write_ids(conn, "DELETE FROM lists WHERE id = ?1", "list_delete", true,
					 1, &id);
}

enum kura_err
kura_sqlite_crm_list_members_add(void *conn, int64_t list_id, int64_t object_id,
				 const int64_t *ids, size_t n, int64_t now, int64_t *changed)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[256];
	enum kura_err e;

	*changed = 0;
	/* Only live records of the list's own type can join. */
	snprintf(sql, sizeof(sql),
		 "INSERT OR IGNORE INTO list_members (list_id, record_id, added_at) "
		 "SELECT ?, id, ? FROM r_%lld WHERE id = ? AND archived_at IS NULL",
		 (long long)object_id);
	e = kura_sqlite_dyn(c, sql, &st);
	for (size_t i = 0; e == KURA_OK && i < n; i++) {
		sqlite3_bind_int64(st, 1, list_id);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int64(st, 3, ids[i]);
		e = kura_sqlite_write(c, st, "list_members_add", false);
		if (e == KURA_OK)
			*changed += sqlite3_changes(c->db);
		sqlite3_reset(st);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_list_members_remove(void *conn, int64_t list_id, const int64_t *ids, size_t n,
				    int64_t *changed)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	*changed = 0;
	e = kura_sqlite_dyn(c, "DELETE FROM list_members WHERE list_id = ? AND record_id = ?", &st);
	for (size_t i = 0; e == KURA_OK && i < n; i++) {
		sqlite3_bind_int64(st, 1, list_id);
		sqlite3_bind_int64(st, 2, ids[i]);
		e = kura_sqlite_write(c, st, "list_members_remove", false);
		if (e == KURA_OK)
			*changed += sqlite3_changes(c->db);
		sqlite3_reset(st);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_idem_get(void *conn, int actor_type, int64_t actor_id, const char *key,
			 int64_t min_created, uint8_t body_hash[32], int *status, char **response)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	*status = 0;
	*response = NULL;
	e = kura_sqlite_dyn(c,
			    "SELECT body_hash, status, response FROM idempotency WHERE actor_type = ? "
			    "AND actor_id = ? AND key = ? AND created_at >= ?",
			    &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int(st, 1, actor_type);
	sqlite3_bind_int64(st, 2, actor_id);
	sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, min_created);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		e = kura_sqlite_error(c, "idem_get", rc);
		goto out;
	}
	if (sqlite3_column_bytes(st, 0) == 32)
		memcpy(body_hash, sqlite3_column_blob(st, 0), 32);
	else
		memset(body_hash, 0, 32);
	*status = sqlite3_column_int(st, 1);
	*response = strdup(text_or_empty(st, 2));
	if (*response == NULL)
		e = KURA_E_NOMEM;
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_idem_put(void *conn, int actor_type, int64_t actor_id, const char *key,
			 const uint8_t body_hash[32], int status, const char *response, int64_t now)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "INSERT OR REPLACE INTO idempotency (actor_type, actor_id, key, body_hash, "
			    "status, response, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			    &st);
	if (e == KURA_OK) {
		sqlite3_bind_int(st, 1, actor_type);
		sqlite3_bind_int64(st, 2, actor_id);
		sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, body_hash, 32, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, status);
		sqlite3_bind_text(st, 6, response, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, now);
		e = kura_sqlite_write(c, st, "idem_put", false);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_idem_expire(void *conn, int64_t cutoff)
{
	return kura_sqlite_crm_write_ids(conn, "DELETE FROM idempotency WHERE created_at < ?1",
					 "idem_expire", false, 1, &cutoff);
}

enum kura_err
kura_sqlite_crm_optimize(void *conn)
{
	/*
	 * Planner statistics: what lets the planner pick the most selective
	 * index among a search's filters. Not sampled: with a row limit every
	 * index looked equally selective (about a thousand rows per value),
	 * which is worse than no statistics; the whole analysis of a
	 * 1M-record tenant takes under a second, once per housekeeping round.
	 */
	return kura_sqlite_crm_exec(conn, "ANALYZE;", "optimize");
}
