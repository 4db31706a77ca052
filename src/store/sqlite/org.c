/*
 * A tenant's own roles and its teams (tenant migration 8). Fixed statement
 * texts, cached per connection by text.
 */
#include <string.h>

#include "kura/store_org.h"
#include "sqlite_int.h"

static const char sql_role_list[] =
	"SELECT r.name, r.label, r.description, r.permissions, r.created_at, r.updated_at, "
	"(SELECT count(*) FROM users u WHERE u.role = r.name) FROM roles r ORDER BY r.name";
static const char sql_role_get[] =
	"SELECT r.name, r.label, r.description, r.permissions, r.created_at, r.updated_at, "
	"(SELECT count(*) FROM users u WHERE u.role = r.name) FROM roles r WHERE r.name = ?1";
static const char sql_role_insert[] =
	"INSERT INTO roles (name, label, description, permissions, created_at, updated_at) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_role_update[] =
	"UPDATE roles SET label = ?2, description = ?3, permissions = ?4, updated_at = ?6 "
	"WHERE name = ?1";
static const char sql_role_in_use[] = "SELECT count(*) FROM users WHERE role = ?1";
static const char sql_role_delete[] = "DELETE FROM roles WHERE name = ?1";
static const char sql_role_count[] = "SELECT count(*) FROM roles";

static const char sql_team_list[] =
	"SELECT t.id, t.name, t.description, t.created_at, t.updated_at, "
	"(SELECT count(*) FROM team_members m WHERE m.team_id = t.id) FROM teams t ORDER BY t.id";
static const char sql_team_get[] =
	"SELECT t.id, t.name, t.description, t.created_at, t.updated_at, "
	"(SELECT count(*) FROM team_members m WHERE m.team_id = t.id) FROM teams t WHERE t.id = ?1";
static const char sql_team_insert[] =
	"INSERT INTO teams (name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?4)";
static const char sql_team_update[] =
	"UPDATE teams SET name = ?2, description = ?3, updated_at = ?4 WHERE id = ?1";
static const char sql_team_delete[] = "DELETE FROM teams WHERE id = ?1";
static const char sql_team_count[] = "SELECT count(*) FROM teams";
static const char sql_member_add[] =
	"INSERT INTO team_members (team_id, user_id, added_at) VALUES (?1, ?2, ?3) "
	"ON CONFLICT (team_id, user_id) DO NOTHING";
static const char sql_member_exists[] =
	"SELECT (SELECT count(*) FROM teams WHERE id = ?1) + (SELECT count(*) FROM users WHERE id = ?2)";
static const char sql_member_remove[] =
	"DELETE FROM team_members WHERE team_id = ?1 AND user_id = ?2";
static const char sql_members[] =
	"SELECT user_id FROM team_members WHERE team_id = ?1 ORDER BY user_id";
static const char sql_user_teams[] =
	"SELECT team_id FROM team_members WHERE user_id = ?1 ORDER BY team_id";

static void
role_row(sqlite3_stmt *st, struct kura_role_row *r)
{
	memset(r, 0, sizeof(*r));
	kura_sqlite_col_text(st, 0, r->name, sizeof(r->name));
	kura_sqlite_col_text(st, 1, r->label, sizeof(r->label));
	kura_sqlite_col_text(st, 2, r->description, sizeof(r->description));
	kura_sqlite_col_text(st, 3, r->permissions, sizeof(r->permissions));
	r->created_at = sqlite3_column_int64(st, 4);
	r->updated_at = sqlite3_column_int64(st, 5);
	r->users = sqlite3_column_int64(st, 6);
}

static void
team_row(sqlite3_stmt *st, struct kura_team_row *t)
{
	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(st, 0);
	kura_sqlite_col_text(st, 1, t->name, sizeof(t->name));
	kura_sqlite_col_text(st, 2, t->description, sizeof(t->description));
	t->created_at = sqlite3_column_int64(st, 3);
	t->updated_at = sqlite3_column_int64(st, 4);
	t->members = sqlite3_column_int64(st, 5);
}

struct each {
	kura_role_cb role;
	kura_team_cb team;
	kura_id_cb id;
	void *ctx;
};

static void
each_row(sqlite3_stmt *st, void *ctx)
{
	struct each *x = ctx;

	if (x->role != NULL) {
		struct kura_role_row r;

		role_row(st, &r);
		x->role(x->ctx, &r);
	} else if (x->team != NULL) {
		struct kura_team_row t;

		team_row(st, &t);
		x->team(x->ctx, &t);
	} else {
		x->id(x->ctx, sqlite3_column_int64(st, 0));
	}
}

/* Runs sql with ?1 = id (when has_id) and calls x for each row. */
static enum kura_err
list(void *conn, const char *sql, const char *op, bool has_id, int64_t id, struct each *x)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = kura_sqlite_dyn(conn, sql, &st);

	if (e != KURA_OK)
		return e;
	if (has_id)
		sqlite3_bind_int64(st, 1, id);
	e = kura_sqlite_each(conn, st, op, each_row, x);
	kura_sqlite_done(st);
	return e;
}

/* One integer from a query with ?1 = text (or none) and ?2 = id. */
static enum kura_err
scalar(void *conn, const char *sql, const char *op, const char *text, int64_t a, int64_t b,
       int64_t *out)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = kura_sqlite_dyn(conn, sql, &st);
	int rc;

	*out = 0;
	if (e != KURA_OK)
		return e;
	if (text != NULL)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	else if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		e = kura_sqlite_error(conn, op, rc);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
role_list(void *conn, kura_role_cb cb, void *ctx)
{
	struct each x = {cb, NULL, NULL, ctx};

	return list(conn, sql_role_list, "role_list", false, 0, &x);
}

static enum kura_err
role_get(void *conn, const char *name, struct kura_role_row *out)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = kura_sqlite_dyn(conn, sql_role_get, &st);
	int rc;

	memset(out, 0, sizeof(*out));
	if (e != KURA_OK)
		return e;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		role_row(st, out);
	else if (rc == SQLITE_DONE)
		e = KURA_E_NOT_FOUND;
	else
		e = kura_sqlite_error(conn, "role_get", rc);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
role_write(void *conn, const char *sql, const char *op, const struct kura_role_row *r, bool insert)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = kura_sqlite_dyn(conn, sql, &st);
	int rc;

	if (e != KURA_OK)
		return e;
	sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->label, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->permissions, -1, SQLITE_STATIC);
	if (insert)
		sqlite3_bind_int64(st, 5, r->created_at);
	sqlite3_bind_int64(st, 6, r->updated_at);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		e = sqlite3_changes(((struct kura_sqlite_conn *)conn)->db) > 0 ? KURA_OK
										: KURA_E_NOT_FOUND;
	else if (kura_sqlite_is_dup(rc))
		e = KURA_E_EXISTS;
	else
		e = kura_sqlite_error(conn, op, rc);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
role_create(void *conn, const struct kura_role_row *r)
{
	return role_write(conn, sql_role_insert, "role_create", r, true);
}

static enum kura_err
role_update(void *conn, const struct kura_role_row *r)
{
	return role_write(conn, sql_role_update, "role_update", r, false);
}

static enum kura_err
role_delete(void *conn, const char *name)
{
	sqlite3_stmt *st = NULL;
	int64_t holders = 0;
	enum kura_err e = scalar(conn, sql_role_in_use, "role_in_use", name, 0, 0, &holders);

	if (e != KURA_OK)
		return e;
	if (holders > 0)
		return KURA_E_CONFLICT;
	e = kura_sqlite_dyn(conn, sql_role_delete, &st);
	if (e != KURA_OK)
		return e;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	e = kura_sqlite_write(conn, st, "role_delete", true);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
role_count(void *conn, int64_t *n)
{
	return scalar(conn, sql_role_count, "role_count", NULL, 0, 0, n);
}

static enum kura_err
team_list(void *conn, kura_team_cb cb, void *ctx)
{
	struct each x = {NULL, cb, NULL, ctx};

	return list(conn, sql_team_list, "team_list", false, 0, &x);
}

static enum kura_err
team_get(void *conn, int64_t id, struct kura_team_row *out)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = kura_sqlite_dyn(conn, sql_team_get, &st);
	int rc;

	memset(out, 0, sizeof(*out));
	if (e != KURA_OK)
		return e;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		team_row(st, out);
	else if (rc == SQLITE_DONE)
		e = KURA_E_NOT_FOUND;
	else
		e = kura_sqlite_error(conn, "team_get", rc);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
team_write(void *conn, const struct kura_team_row *t, bool insert, int64_t *id)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = kura_sqlite_dyn(conn, insert ? sql_team_insert : sql_team_update, &st);
	int rc, i = 1;

	if (e != KURA_OK)
		return e;
	if (!insert)
		sqlite3_bind_int64(st, i++, t->id);
	sqlite3_bind_text(st, i++, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, i++, t->description, -1, SQLITE_STATIC);
	if (insert)
		sqlite3_bind_int64(st, i++, t->created_at);
	sqlite3_bind_int64(st, i, t->updated_at);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3 *db = ((struct kura_sqlite_conn *)conn)->db;

		if (sqlite3_changes(db) == 0)
			e = KURA_E_NOT_FOUND;
		else if (id != NULL)
			*id = sqlite3_last_insert_rowid(db);
	} else if (kura_sqlite_is_dup(rc)) {
		e = KURA_E_EXISTS;
	} else {
		e = kura_sqlite_error(conn, insert ? "team_create" : "team_update", rc);
	}
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
team_create(void *conn, struct kura_team_row *t)
{
	return team_write(conn, t, true, &t->id);
}

static enum kura_err
team_update(void *conn, const struct kura_team_row *t)
{
	return team_write(conn, t, false, NULL);
}

/* A write bound to (a, b[, now]); need_row as kura_sqlite_write. */
static enum kura_err
write_ids(void *conn, const char *sql, const char *op, int64_t a, int64_t b, int64_t now,
	  bool need_row)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = kura_sqlite_dyn(conn, sql, &st);
	int n;

	if (e != KURA_OK)
		return e;
	n = sqlite3_bind_parameter_count(st);
	sqlite3_bind_int64(st, 1, a);
	if (n >= 2)
		sqlite3_bind_int64(st, 2, b);
	if (n >= 3)
		sqlite3_bind_int64(st, 3, now);
	e = kura_sqlite_write(conn, st, op, need_row);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
team_delete(void *conn, int64_t id)
{
	return write_ids(conn, sql_team_delete, "team_delete", id, 0, 0, true);
}

static enum kura_err
team_count(void *conn, int64_t *n)
{
	return scalar(conn, sql_team_count, "team_count", NULL, 0, 0, n);
}

static enum kura_err
member_add(void *conn, int64_t team_id, int64_t user_id, int64_t now)
{
	int64_t found = 0;
	enum kura_err e = scalar(conn, sql_member_exists, "member_exists", NULL, team_id, user_id,
				 &found);

	if (e != KURA_OK)
		return e;
	if (found != 2)
		return KURA_E_NOT_FOUND;
	/* Already a member: nothing to do, and no error (PUT is idempotent). */
	return write_ids(conn, sql_member_add, "member_add", team_id, user_id, now, false);
}

static enum kura_err
member_remove(void *conn, int64_t team_id, int64_t user_id)
{
	return write_ids(conn, sql_member_remove, "member_remove", team_id, user_id, 0, true);
}

static enum kura_err
members(void *conn, int64_t team_id, kura_id_cb cb, void *ctx)
{
	struct each x = {NULL, NULL, cb, ctx};

	return list(conn, sql_members, "team_members", true, team_id, &x);
}

static enum kura_err
user_teams(void *conn, int64_t user_id, kura_id_cb cb, void *ctx)
{
	struct each x = {NULL, NULL, cb, ctx};

	return list(conn, sql_user_teams, "user_teams", true, user_id, &x);
}

const struct kura_org_ops kura_store_sqlite_org_ops = {
	.role_list = role_list,
	.role_get = role_get,
	.role_create = role_create,
	.role_update = role_update,
	.role_delete = role_delete,
	.role_count = role_count,
	.team_list = team_list,
	.team_get = team_get,
	.team_create = team_create,
	.team_update = team_update,
	.team_delete = team_delete,
	.team_count = team_count,
	.member_add = member_add,
	.member_remove = member_remove,
	.members = members,
	.user_teams = user_teams,
};
