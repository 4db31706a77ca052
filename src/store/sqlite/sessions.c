/*
 * Login sessions, in the tenant's database. A session is found by the
 * SHA-256 of the secret in the cookie, so a copy of the database does not
 * hand out live sessions. Sessions die with their user (ON DELETE CASCADE).
 */
#include "sqlite_int.h"

#include <string.h>

#include "kura/monitor.h"

#define SESSION_COLS                                                                       \
	"id_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent, idle_timeout_s, mfa, "  \
	"client_cert"

static const char sql_insert[] = "INSERT INTO sessions (" SESSION_COLS ") "
				 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char sql_get[] = "SELECT " SESSION_COLS " FROM sessions WHERE id_hash = ?1";
/* Session columns first (row_to_session reads 0..9), then the user's from 10. */
static const char sql_auth[] =
	"SELECT s.id_hash, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.ip, "
	"s.user_agent, s.idle_timeout_s, s.mfa, s.client_cert, u.id, u.email, u.display_name, u.role, u.status, "
	"u.password_hash, u.must_change_password, u.password_changed_at, u.created_at, "
	"u.updated_at, u.mfa_enabled, r.permissions, "
	"(SELECT value FROM settings WHERE key = '" KURA_SETTING_IP_ALLOWLIST "'), "
	"(SELECT version FROM catalog_meta WHERE id = 1) "
	"FROM sessions s JOIN users u ON u.id = s.user_id "
	"LEFT JOIN roles r ON r.name = u.role WHERE s.id_hash = ?1";
/* max(): of two requests racing on one session, the older time must not win. */
static const char sql_touch[] =
	"UPDATE sessions SET last_seen_at = max(last_seen_at, ?2) WHERE id_hash = ?1";
static const char sql_delete[] = "DELETE FROM sessions WHERE id_hash = ?1";
/* ?2 NULL keeps none: "id_hash IS NOT NULL" holds for every row. */
static const char sql_delete_user[] =
	"DELETE FROM sessions WHERE user_id = ?1 AND id_hash IS NOT ?2";
static const char sql_purge[] =
	"DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at < ?2";

static void
row_to_session(sqlite3_stmt *st, struct kura_session *s)
{
	const void *h = sqlite3_column_blob(st, 0);

	memset(s, 0, sizeof(*s));
	if (h != NULL && sqlite3_column_bytes(st, 0) == (int)sizeof(s->id_hash))
		memcpy(s->id_hash, h, sizeof(s->id_hash));
	s->user_id = sqlite3_column_int64(st, 1);
	s->created_at = sqlite3_column_int64(st, 2);
	s->last_seen_at = sqlite3_column_int64(st, 3);
	s->expires_at = sqlite3_column_int64(st, 4);
	kura_sqlite_col_text(st, 5, s->ip, sizeof(s->ip));
	kura_sqlite_col_text(st, 6, s->user_agent, sizeof(s->user_agent));
	s->idle_timeout_s = sqlite3_column_int64(st, 7);
	s->mfa = (enum kura_session_mfa)sqlite3_column_int(st, 8);
	if (sqlite3_column_bytes(st, 9) == (int)sizeof(s->client_cert)) {
		memcpy(s->client_cert, sqlite3_column_blob(st, 9), sizeof(s->client_cert));
		s->client_cert_bound = true;
	}
}

enum kura_err
kura_sqlite_session_create(void *conn, const struct kura_session *s)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_SESSION_INSERT, sql_insert, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_blob(st, 1, s->id_hash, sizeof(s->id_hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, s->user_id);
	sqlite3_bind_int64(st, 3, s->created_at);
	sqlite3_bind_int64(st, 4, s->last_seen_at);
	sqlite3_bind_int64(st, 5, s->expires_at);
	sqlite3_bind_text(st, 6, s->ip, (int)strnlen(s->ip, sizeof(s->ip)), SQLITE_STATIC);
	sqlite3_bind_text(st, 7, s->user_agent, (int)strnlen(s->user_agent, sizeof(s->user_agent)),
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, s->idle_timeout_s);
	sqlite3_bind_int(st, 9, (int)s->mfa);
	if (s->client_cert_bound)
		sqlite3_bind_blob(st, 10, s->client_cert, sizeof(s->client_cert), SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 10);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		goto out;
	if (kura_sqlite_is_dup(rc))
		e = KURA_E_EXISTS;
	else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		e = KURA_E_NOT_FOUND; /* no such user (any more) */
	else
		e = kura_sqlite_error(c, "session_create", rc);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_session_get(void *conn, const uint8_t id_hash[32], struct kura_session *out)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	memset(out, 0, sizeof(*out));
	e = kura_sqlite_stmt(c, KURA_SQ_SESSION_GET, sql_get, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_blob(st, 1, id_hash, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_to_session(st, out);
	else if (rc == SQLITE_DONE)
		e = KURA_E_NOT_FOUND;
	else
		e = kura_sqlite_error(c, "session_get", rc);
out:
	kura_sqlite_done(st);
	if (e != KURA_OK)
		memset(out, 0, sizeof(*out));
	return e;
}

enum kura_err
kura_sqlite_session_auth(void *conn, const uint8_t id_hash[32], struct kura_session *s,
			 struct kura_user *u, struct kura_auth_read *x)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	memset(s, 0, sizeof(*s));
	memset(u, 0, sizeof(*u));
	e = kura_sqlite_stmt(c, KURA_SQ_SESSION_AUTH, sql_auth, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_blob(st, 1, id_hash, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_to_session(st, s);
		kura_sqlite_row_to_user(st, 10, u);
		kura_sqlite_row_role_perms(st, 10 + KURA_SQLITE_USER_NCOLS, u);
		kura_sqlite_auth_read(st, 10 + KURA_SQLITE_USER_NCOLS + 1, x);
	} else if (rc == SQLITE_DONE) {
		e = KURA_E_NOT_FOUND;
	} else {
		e = kura_sqlite_error(c, "session_auth", rc);
	}
out:
	kura_sqlite_done(st);
	if (e != KURA_OK) {
		memset(s, 0, sizeof(*s));
		memset(u, 0, sizeof(*u));
	}
	return e;
}

/*
 * A delete of sessions: as kura_sqlite_write, and the rows it removed count as
 * ended sessions in the metrics (counted here, where every way a session
 * ends passes: sign-out, timeout, forced sign-out, purge).
 */
static enum kura_err
delete_sessions(struct kura_sqlite_conn *c, sqlite3_stmt *st, const char *op, bool need_row)
{
	enum kura_err e = kura_sqlite_write(c, st, op, need_row);

	if (e == KURA_OK)
		kura_metrics_sessions_ended((uint64_t)sqlite3_changes(c->db));
	return e;
}

enum kura_err
kura_sqlite_session_touch(void *conn, const uint8_t id_hash[32], int64_t now)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_stmt(c, KURA_SQ_SESSION_TOUCH, sql_touch, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_blob(st, 1, id_hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	e = kura_sqlite_write(c, st, "session_touch", true);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_session_delete(void *conn, const uint8_t id_hash[32])
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_stmt(c, KURA_SQ_SESSION_DELETE, sql_delete, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_blob(st, 1, id_hash, 32, SQLITE_STATIC);
	e = delete_sessions(c, st, "session_delete", true);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_session_delete_user(void *conn, int64_t user_id, const uint8_t *keep_id_hash)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_stmt(c, KURA_SQ_SESSION_DELETE_USER, sql_delete_user, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	if (keep_id_hash != NULL)
		sqlite3_bind_blob(st, 2, keep_id_hash, 32, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	/* Zero sessions is a fine outcome: the user is logged out everywhere. */
	e = delete_sessions(c, st, "session_delete_user", false);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_session_purge_expired(void *conn, int64_t now, int64_t idle_cutoff)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_stmt(c, KURA_SQ_SESSION_PURGE, sql_purge, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, idle_cutoff);
	e = delete_sessions(c, st, "session_purge_expired", false);
out:
	kura_sqlite_done(st);
	return e;
}

static const char sql_list_user[] = "SELECT " SESSION_COLS
				    " FROM sessions WHERE user_id = ?1 ORDER BY created_at DESC";

struct session_rows {
	kura_session_cb cb;
	void *ctx;
};

static void
session_row(sqlite3_stmt *st, void *ctx)
{
	struct session_rows *r = ctx;
	struct kura_session s;

	row_to_session(st, &s);
	r->cb(r->ctx, &s);
}

enum kura_err
kura_sqlite_session_list_user(void *conn, int64_t user_id, kura_session_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct session_rows rows = {cb, ctx};
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_stmt(c, KURA_SQ_SESSION_LIST_USER, sql_list_user, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	e = kura_sqlite_each(c, st, "session_list_user", session_row, &rows);
out:
	kura_sqlite_done(st);
	return e;
}
