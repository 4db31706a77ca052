/*
 * Tenant users, in the tenant's own database (one database per tenant, so
 * e-mail uniqueness is per tenant by construction). E-mail addresses are
 * stored and looked up lower-cased; ids are random, so they reveal neither
 * how many users a tenant has nor when they joined.
 */
#include "sqlite_int.h"

#include <stdio.h>
#include <string.h>

#include "kura/crypto.h"

/* Ids stay below 2^53 so that JSON clients can hold them as numbers. */
#define ID_MASK ((UINT64_C(1) << 53) - 1)
/* Collisions in 2^53 are rare; several in a row mean a broken RNG. */
#define ID_TRIES 8

#define USER_INSERT_COLS                                                                   \
	"id, email, display_name, role, status, password_hash, must_change_password, "      \
	"password_changed_at, created_at, updated_at"
/* What kura_sqlite_row_to_user reads (KURA_SQLITE_USER_NCOLS columns). */
#define USER_COLS USER_INSERT_COLS ", mfa_enabled"

static const char sql_insert[] = "INSERT INTO users (" USER_INSERT_COLS ") "
				 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char sql_get[] = "SELECT " USER_COLS " FROM users WHERE id = ?1";
static const char sql_get_by_email[] = "SELECT " USER_COLS " FROM users WHERE email = ?1";
static const char sql_list[] = "SELECT " USER_COLS " FROM users ORDER BY id";
static const char sql_set_password[] =
	"UPDATE users SET password_hash = ?2, must_change_password = ?3, "
	"password_changed_at = ?4, updated_at = ?4 WHERE id = ?1";

/* ASCII lower-casing into dst; false when src does not fit. */
static bool
lower(char *dst, size_t n, const char *src, size_t len)
{
	size_t i;

	if (len >= n)
		return false;
	for (i = 0; i < len; i++) {
		char ch = src[i];

		dst[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
	}
	dst[len] = '\0';
	return true;
}

void
kura_sqlite_row_to_user(sqlite3_stmt *st, int off, struct kura_user *u)
{
	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(st, off + 0);
	kura_sqlite_col_text(st, off + 1, u->email, sizeof(u->email));
	kura_sqlite_col_text(st, off + 2, u->display_name, sizeof(u->display_name));
	kura_sqlite_col_text(st, off + 3, u->role, sizeof(u->role));
	u->status = sqlite3_column_int(st, off + 4) == KURA_USER_DISABLED ? KURA_USER_DISABLED
									  : KURA_USER_ACTIVE;
	kura_sqlite_col_text(st, off + 5, u->password_hash, sizeof(u->password_hash));
	u->must_change_password = sqlite3_column_int(st, off + 6) != 0;
	u->password_changed_at = sqlite3_column_int64(st, off + 7);
	u->created_at = sqlite3_column_int64(st, off + 8);
	u->updated_at = sqlite3_column_int64(st, off + 9);
	u->mfa_enabled = sqlite3_column_int(st, off + 10) != 0;
}

void
kura_sqlite_auth_read(sqlite3_stmt *st, int col, struct kura_auth_read *x)
{
	/* NULL (no such setting) reads as "" */
	if ((size_t)sqlite3_column_bytes(st, col) >= sizeof(x->ip_allowlist))
		snprintf(x->ip_allowlist, sizeof(x->ip_allowlist), "!");
	else
		kura_sqlite_col_text(st, col, x->ip_allowlist, sizeof(x->ip_allowlist));
	x->catalog_version = sqlite3_column_int64(st, col + 1);
}

void
kura_sqlite_row_role_perms(sqlite3_stmt *st, int col, struct kura_user *u)
{
	u->custom_role = sqlite3_column_type(st, col) != SQLITE_NULL;
	kura_sqlite_col_text(st, col, u->role_perms, sizeof(u->role_perms));
}

static int64_t
random_id(void)
{
	uint64_t r = 0;

	while (r == 0) {
		kura_random_bytes(&r, sizeof(r));
		r &= ID_MASK;
	}
	return (int64_t)r;
}

enum kura_err
kura_sqlite_user_create(void *conn, struct kura_user *u)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	char email[KURA_EMAIL_MAX + 1];
	bool assign = u->id == 0;
	int64_t id = u->id;
	int rc, tries;

	if (u->id < 0 || u->id > (int64_t)ID_MASK || u->email[0] == '\0' ||
	    (u->status != KURA_USER_ACTIVE && u->status != KURA_USER_DISABLED) ||
	    !lower(email, sizeof(email), u->email, strnlen(u->email, sizeof(u->email)))) {
		e = KURA_E_VALIDATION;
		goto out;
	}
	e = kura_sqlite_stmt(c, KURA_SQ_USER_INSERT, sql_insert, &st);
	if (e != KURA_OK)
		goto out;
	for (tries = 0;; tries++) {
		if (assign)
			id = random_id();
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, email, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, u->display_name,
				  (int)strnlen(u->display_name, sizeof(u->display_name)),
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 4, u->role, (int)strnlen(u->role, sizeof(u->role)),
				  SQLITE_STATIC);
		sqlite3_bind_int(st, 5, (int)u->status);
		sqlite3_bind_text(st, 6, u->password_hash,
				  (int)strnlen(u->password_hash, sizeof(u->password_hash)),
				  SQLITE_STATIC);
		sqlite3_bind_int(st, 7, u->must_change_password ? 1 : 0);
		sqlite3_bind_int64(st, 8, u->password_changed_at);
		sqlite3_bind_int64(st, 9, u->created_at);
		sqlite3_bind_int64(st, 10, u->updated_at);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		/* Our random id hit another user's: draw again. */
		if (rc == SQLITE_CONSTRAINT_PRIMARYKEY && assign && tries + 1 < ID_TRIES) {
			sqlite3_reset(st);
			continue;
		}
		if (kura_sqlite_is_dup(rc))
			e = KURA_E_EXISTS;
		else
			e = kura_sqlite_error(c, "user_create", rc);
		goto out;
	}
	u->id = id;
out:
	kura_sqlite_done(st);
	return e;
}

/* Runs a cached single-row user query whose parameter 1 is already bound. */
static enum kura_err
get_one(struct kura_sqlite_conn *c, sqlite3_stmt *st, const char *op, struct kura_user *out)
{
	enum kura_err e = KURA_OK;
	int rc;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		kura_sqlite_row_to_user(st, 0, out);
	else if (rc == SQLITE_DONE)
		e = KURA_E_NOT_FOUND;
	else
		e = kura_sqlite_error(c, op, rc);
	return e;
}

enum kura_err
kura_sqlite_user_get(void *conn, int64_t id, struct kura_user *out)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	memset(out, 0, sizeof(*out));
	e = kura_sqlite_stmt(c, KURA_SQ_USER_GET, sql_get, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	e = get_one(c, st, "user_get", out);
out:
	kura_sqlite_done(st);
	if (e != KURA_OK)
		memset(out, 0, sizeof(*out));
	return e;
}

enum kura_err
kura_sqlite_user_get_by_email(void *conn, const char *email, struct kura_user *out)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	char key[KURA_EMAIL_MAX + 1];

	memset(out, 0, sizeof(*out));
	/* Longer than any stored address: cannot match. */
	if (!lower(key, sizeof(key), email, strnlen(email, sizeof(key)))) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	e = kura_sqlite_stmt(c, KURA_SQ_USER_GET_BY_EMAIL, sql_get_by_email, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	e = get_one(c, st, "user_get_by_email", out);
out:
	kura_sqlite_done(st);
	if (e != KURA_OK)
		memset(out, 0, sizeof(*out));
	return e;
}

enum kura_err
kura_sqlite_user_list(void *conn, kura_user_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct kura_user u;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_USER_LIST, sql_list, &st);
	if (e != KURA_OK)
		goto out;
	/*
	 * Streamed: the caller holds this handle, and may use it from the
	 * callback for other calls (but not for another user_list).
	 */
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			e = kura_sqlite_error(c, "user_list", rc);
			goto out;
		}
		kura_sqlite_row_to_user(st, 0, &u);
		cb(ctx, &u);
	}
out:
	kura_sqlite_done(st);
	/* The password hash need not outlive the callback on our stack. */
	explicit_bzero(&u, sizeof(u));
	return e;
}

enum kura_err
kura_sqlite_user_set_password(void *conn, int64_t id, const char *hash, bool must_change,
			      int64_t now)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	size_t len = strnlen(hash, sizeof(((struct kura_user *)0)->password_hash));
	int rc;

	/* A hash that would come back truncated could never verify again. */
	if (len >= sizeof(((struct kura_user *)0)->password_hash)) {
		e = KURA_E_VALIDATION;
		goto out;
	}
	e = kura_sqlite_stmt(c, KURA_SQ_USER_SET_PASSWORD, sql_set_password, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, hash, (int)len, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, must_change ? 1 : 0);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		e = kura_sqlite_error(c, "user_set_password", rc);
		goto out;
	}
	if (sqlite3_changes(c->db) == 0)
		e = KURA_E_NOT_FOUND;
out:
	kura_sqlite_done(st);
	return e;
}

static const char sql_update[] =
	"UPDATE users SET display_name = ?2, role = ?3, status = ?4, updated_at = ?5 WHERE id = ?1";
static const char sql_delete[] = "DELETE FROM users WHERE id = ?1";
static const char sql_count_role[] = "SELECT count(*) FROM users WHERE role = ?1 AND status = 0";

enum kura_err
kura_sqlite_user_update(void *conn, const struct kura_user *u, int64_t now)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_stmt(c, KURA_SQ_USER_UPDATE, sql_update, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, u->id);
	sqlite3_bind_text(st, 2, u->display_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, u->role, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, u->status == KURA_USER_DISABLED ? 1 : 0);
	sqlite3_bind_int64(st, 5, now);
	e = kura_sqlite_write(c, st, "user_update", true);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_user_delete(void *conn, int64_t id)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	/*
	 * The sessions go first, explicitly: the cascade would delete them too,
	 * but out of sight of sqlite3_changes() and so of the ended-sessions count.
	 */
	e = kura_sqlite_session_delete_user(c, id, NULL);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_stmt(c, KURA_SQ_USER_DELETE, sql_delete, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	e = kura_sqlite_write(c, st, "user_delete", true);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_user_count_active_role(void *conn, const char *role, int64_t *n)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	*n = 0;
	e = kura_sqlite_stmt(c, KURA_SQ_USER_COUNT_ROLE, sql_count_role, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, role, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		e = kura_sqlite_error(c, "user_count_active_role", rc);
		goto out;
	}
	*n = sqlite3_column_int64(st, 0);
out:
	kura_sqlite_done(st);
	return e;
}
