/*
 * API keys, in the tenant's database. A key is found by the SHA-256 of its
 * secret, in the same read as its creator (the identity it acts with), so
 * authenticating a key costs one query. Keys die with their creator (ON
 * DELETE CASCADE); revoking keeps the row, so lists and audit entries still
 * name it.
 */
#include "sqlite_int.h"

#include <string.h>

#include "kura/crypto.h"

/* Ids stay below 2^53 so that JSON clients can hold them as numbers (as users.c). */
#define APIKEY_ID_MASK ((UINT64_C(1) << 53) - 1)
#define APIKEY_ID_TRIES 8

#define APIKEY_COLS                                                                        \
	"k.id, k.user_id, k.name, k.prefix, k.secret_hash, k.scopes, k.cidrs, k.expires_at, "  \
	"k.created_at, k.last_used_at, k.last_used_ip, k.revoked_at"
#define APIKEY_NCOLS 12

static const char sql_insert[] =
	"INSERT INTO api_keys (id, user_id, name, prefix, secret_hash, scopes, cidrs, expires_at, "
	"created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
/* Key columns first (row_to_key reads 0..11), then the creator's from 12. */
static const char sql_auth[] =
	"SELECT " APIKEY_COLS ", u.id, u.email, u.display_name, u.role, u.status, "
	"u.password_hash, u.must_change_password, u.password_changed_at, u.created_at, "
	"u.updated_at, u.mfa_enabled, r.permissions, "
	"(SELECT value FROM settings WHERE key = '" KURA_SETTING_APIKEY_IP_ALLOWLIST "'), "
	"(SELECT version FROM catalog_meta WHERE id = 1) "
	"FROM api_keys k JOIN users u ON u.id = k.user_id "
	"LEFT JOIN roles r ON r.name = u.role WHERE k.secret_hash = ?1";
/* ?1 = 0: every key of the tenant. */
static const char sql_list[] = "SELECT " APIKEY_COLS " FROM api_keys k "
			       "WHERE ?1 = 0 OR k.user_id = ?1 ORDER BY k.created_at DESC, k.id";
/* Revoking twice keeps the first time; the row still counts as found. */
static const char sql_revoke[] =
	"UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN ?3 ELSE revoked_at END "
	"WHERE id = ?1 AND (?2 = 0 OR user_id = ?2)";
/* max(): of two requests racing on one key, the older time must not win. */
static const char sql_touch[] =
	"UPDATE api_keys SET last_used_at = max(last_used_at, ?2), last_used_ip = ?3 WHERE id = ?1";

static void
row_to_key(sqlite3_stmt *st, struct kura_apikey *k)
{
	const void *h;

	memset(k, 0, sizeof(*k));
	k->id = sqlite3_column_int64(st, 0);
	k->user_id = sqlite3_column_int64(st, 1);
	kura_sqlite_col_text(st, 2, k->name, sizeof(k->name));
	kura_sqlite_col_text(st, 3, k->prefix, sizeof(k->prefix));
	h = sqlite3_column_blob(st, 4);
	if (h != NULL && sqlite3_column_bytes(st, 4) == (int)sizeof(k->secret_hash))
		memcpy(k->secret_hash, h, sizeof(k->secret_hash));
	kura_sqlite_col_text(st, 5, k->scopes, sizeof(k->scopes));
	kura_sqlite_col_text(st, 6, k->cidrs, sizeof(k->cidrs));
	k->expires_at = sqlite3_column_int64(st, 7);
	k->created_at = sqlite3_column_int64(st, 8);
	k->last_used_at = sqlite3_column_int64(st, 9);
	kura_sqlite_col_text(st, 10, k->last_used_ip, sizeof(k->last_used_ip));
	k->revoked_at = sqlite3_column_int64(st, 11);
}

static int64_t
random_id(void)
{
	uint64_t r = 0;

	while (r == 0) {
		kura_random_bytes(&r, sizeof(r));
		r &= APIKEY_ID_MASK;
	}
	return (int64_t)r;
}

static void
bind_str(sqlite3_stmt *st, int i, const char *s, size_t cap)
{
	sqlite3_bind_text(st, i, s, (int)strnlen(s, cap), SQLITE_STATIC);
}

enum kura_err
kura_sqlite_apikey_create(void *conn, struct kura_apikey *k)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int64_t id = 0;
	int rc, tries;

	e = kura_sqlite_stmt(c, KURA_SQ_APIKEY_INSERT, sql_insert, &st);
	if (e != KURA_OK)
		goto out;
	for (tries = 0;; tries++) {
		id = random_id();
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, k->user_id);
		bind_str(st, 3, k->name, sizeof(k->name));
		bind_str(st, 4, k->prefix, sizeof(k->prefix));
		sqlite3_bind_blob(st, 5, k->secret_hash, sizeof(k->secret_hash), SQLITE_STATIC);
		bind_str(st, 6, k->scopes, sizeof(k->scopes));
		bind_str(st, 7, k->cidrs, sizeof(k->cidrs));
		sqlite3_bind_int64(st, 8, k->expires_at);
		sqlite3_bind_int64(st, 9, k->created_at);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		/* Our random id hit another key's: draw again. */
		if (rc == SQLITE_CONSTRAINT_PRIMARYKEY && tries + 1 < APIKEY_ID_TRIES) {
			sqlite3_reset(st);
			continue;
		}
		if (kura_sqlite_is_dup(rc))
			e = KURA_E_EXISTS;
		else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			e = KURA_E_NOT_FOUND; /* no such user (any more) */
		else if (rc == SQLITE_CONSTRAINT_CHECK)
			e = KURA_E_VALIDATION;
		else
			e = kura_sqlite_error(c, "apikey_create", rc);
		goto out;
	}
	k->id = id;
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_apikey_auth(void *conn, const uint8_t secret_hash[32], struct kura_apikey *k,
			struct kura_user *u, struct kura_auth_read *x)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	memset(k, 0, sizeof(*k));
	memset(u, 0, sizeof(*u));
	e = kura_sqlite_stmt(c, KURA_SQ_APIKEY_AUTH, sql_auth, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_blob(st, 1, secret_hash, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_to_key(st, k);
		kura_sqlite_row_to_user(st, APIKEY_NCOLS, u);
		kura_sqlite_row_role_perms(st, APIKEY_NCOLS + KURA_SQLITE_USER_NCOLS, u);
		kura_sqlite_auth_read(st, APIKEY_NCOLS + KURA_SQLITE_USER_NCOLS + 1, x);
	} else if (rc == SQLITE_DONE) {
		e = KURA_E_NOT_FOUND;
	} else {
		e = kura_sqlite_error(c, "apikey_auth", rc);
	}
out:
	kura_sqlite_done(st);
	if (e != KURA_OK) {
		memset(k, 0, sizeof(*k));
		memset(u, 0, sizeof(*u));
	}
	return e;
}

struct key_rows {
	kura_apikey_cb cb;
	void *ctx;
};

static void
key_row(sqlite3_stmt *st, void *ctx)
{
	struct key_rows *r = ctx;
	struct kura_apikey k;

	row_to_key(st, &k);
	r->cb(r->ctx, &k);
}

enum kura_err
kura_sqlite_apikey_list(void *conn, int64_t user_id, kura_apikey_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct key_rows rows = {cb, ctx};
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_stmt(c, KURA_SQ_APIKEY_LIST, sql_list, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	e = kura_sqlite_each(c, st, "apikey_list", key_row, &rows);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_apikey_revoke(void *conn, int64_t id, int64_t user_id, int64_t now)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_APIKEY_REVOKE, sql_revoke, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "apikey_revoke", rc);
	else if (sqlite3_changes(c->db) == 0)
		e = KURA_E_NOT_FOUND;
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_apikey_touch(void *conn, int64_t id, int64_t now, const char *ip)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_APIKEY_TOUCH, sql_touch, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, ip, (int)strnlen(ip, KURA_IP_MAX), SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "apikey_touch", rc);
	else if (sqlite3_changes(c->db) == 0)
		e = KURA_E_NOT_FOUND;
out:
	kura_sqlite_done(st);
	return e;
}
