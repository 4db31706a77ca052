/*
 * Each user's previous password hashes (table password_history, tenant
 * migration 0005), for the rule that refuses the last N passwords. Inserts
 * prune the user's history to the newest `keep` rows in the same call, so a
 * user never has more than KURA_STORE_PWHISTORY_KEEP of them.
 */
#include "sqlite_int.h"

static const char sql_insert[] =
	"INSERT INTO password_history (user_id, hash, created_at) VALUES (?1, ?2, ?3)";
static const char sql_prune[] =
	"DELETE FROM password_history WHERE user_id = ?1 AND id NOT IN "
	"(SELECT id FROM password_history WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2)";
static const char sql_list[] =
	"SELECT hash FROM password_history WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2";

enum kura_err
kura_sqlite_pwhistory_add(void *conn, int64_t user_id, const char *hash, int64_t now,
			  unsigned keep)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_PWHISTORY_INSERT, sql_insert, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	if (rc != SQLITE_DONE) {
		e = kura_sqlite_error(c, "pwhistory_add", rc);
		goto out;
	}
	kura_sqlite_done(st);
	st = NULL;
	e = kura_sqlite_stmt(c, KURA_SQ_PWHISTORY_PRUNE, sql_prune, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, keep);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "pwhistory_prune", rc);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_pwhistory_list(void *conn, int64_t user_id, unsigned limit, kura_pwhistory_cb cb,
			   void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_PWHISTORY_LIST, sql_list, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, limit);
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			e = kura_sqlite_error(c, "pwhistory_list", rc);
			goto out;
		}
		if (!cb(ctx, (const char *)sqlite3_column_text(st, 0)))
			break;
	}
out:
	kura_sqlite_done(st);
	return e;
}
