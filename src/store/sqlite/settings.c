/* The tenant's security settings (key/value rows) and account lockout state. */
#include <string.h>

#include "sqlite_int.h"

static const char sql_list[] = "SELECT key, value FROM settings ORDER BY key";
static const char sql_put[] =
	"INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3) "
	"ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
static const char sql_lock_get[] = "SELECT failed, locked_until FROM user_lockout WHERE user_id = ?1";
static const char sql_lock_put[] =
	"INSERT INTO user_lockout (user_id, failed, locked_until) VALUES (?1, ?2, ?3) "
	"ON CONFLICT (user_id) DO UPDATE SET failed = excluded.failed, "
	"locked_until = excluded.locked_until";

struct setting_rows {
	kura_setting_cb cb;
	void *ctx;
};

static void
setting_row(sqlite3_stmt *st, void *ctx)
{
	struct setting_rows *r = ctx;

	r->cb(r->ctx, (const char *)sqlite3_column_text(st, 0),
	      (const char *)sqlite3_column_text(st, 1));
}

enum kura_err
kura_sqlite_settings_list(void *conn, kura_setting_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct setting_rows rows = {cb, ctx};
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_stmt(c, KURA_SQ_SETTINGS_LIST, sql_list, &st);
	if (e == KURA_OK)
		e = kura_sqlite_each(c, st, "settings_list", setting_row, &rows);
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_setting_put(void *conn, const char *key, const char *value, int64_t now)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_SETTING_PUT, sql_put, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "setting_put", rc);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_lockout_get(void *conn, int64_t user_id, int64_t *failed, int64_t *locked_until)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	*failed = 0;
	*locked_until = 0;
	e = kura_sqlite_stmt(c, KURA_SQ_LOCKOUT_GET, sql_lock_get, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*failed = sqlite3_column_int64(st, 0);
		*locked_until = sqlite3_column_int64(st, 1);
	} else if (rc != SQLITE_DONE) {
		e = kura_sqlite_error(c, "lockout_get", rc);
	}
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_lockout_put(void *conn, int64_t user_id, int64_t failed, int64_t locked_until)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_LOCKOUT_PUT, sql_lock_put, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, failed);
	sqlite3_bind_int64(st, 3, locked_until);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		e = KURA_E_NOT_FOUND;
	else if (rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "lockout_put", rc);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_setting_get(void *conn, const char *key, char *out, size_t cap)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	out[0] = '\0';
	e = kura_sqlite_dyn(c, "SELECT value FROM settings WHERE key = ?", &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		kura_sqlite_col_text(st, 0, out, cap);
	else if (rc == SQLITE_DONE)
		e = KURA_E_NOT_FOUND;
	else
		e = kura_sqlite_error(c, "setting_get", rc);
out:
	kura_sqlite_done(st);
	return e;
}
