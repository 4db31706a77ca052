/*
 * The consumer access log (table form_access_log, tenant migration 12).
 * A row is one INSERT: outside a transaction SQLite commits it on its own,
 * so a request to a public form costs one short write. Queries read newest
 * first by id (the rowid), optionally bounded by time, address, form and
 * outcome; the purge deletes the oldest rows first, through the at_us index.
 */
#include <stdio.h>
#include <string.h>

#include "sqlite_int.h"

static const char sql_insert[] =
	"INSERT INTO form_access_log (at_us, ip, form, method, status, outcome, user_agent, "
	"request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
/* One statement for every filter: an unset one (0 or '') passes everything. */
static const char sql_query[] =
	"SELECT id, at_us, ip, form, method, status, outcome, user_agent, request_id "
	"FROM form_access_log WHERE (?1 = 0 OR id < ?1) AND (?2 = 0 OR at_us >= ?2) "
	"AND (?3 = 0 OR at_us < ?3) AND (?4 = '' OR ip = ?4) AND (?5 = '' OR form = ?5) "
	"AND (?6 = '' OR outcome = ?6) ORDER BY id DESC LIMIT ?7";
static const char sql_purge[] =
	"DELETE FROM form_access_log WHERE id IN (SELECT id FROM form_access_log "
	"WHERE at_us < ?1 ORDER BY at_us LIMIT ?2)";

enum kura_err
kura_sqlite_form_access_add(void *conn, struct kura_form_access *a)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_FORM_ACCESS_INSERT, sql_insert, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, a->at_us);
	sqlite3_bind_text(st, 2, a->ip, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a->form, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->method, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, (int)a->status);
	sqlite3_bind_text(st, 6, a->outcome, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, a->user_agent, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, a->request_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		e = kura_sqlite_error(c, "form_access_add", rc);
		goto out;
	}
	a->id = sqlite3_last_insert_rowid(c->db);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_form_access_query(void *conn, const struct kura_form_access_filter *f,
			      kura_form_access_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct kura_form_access a;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_FORM_ACCESS_QUERY, sql_query, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, f->before_id);
	sqlite3_bind_int64(st, 2, f->from_us);
	sqlite3_bind_int64(st, 3, f->to_us);
	sqlite3_bind_text(st, 4, f->ip, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, f->form, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, f->outcome, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, f->limit);
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			e = kura_sqlite_error(c, "form_access_query", rc);
			goto out;
		}
		memset(&a, 0, sizeof(a));
		a.id = sqlite3_column_int64(st, 0);
		a.at_us = sqlite3_column_int64(st, 1);
		kura_sqlite_col_text(st, 2, a.ip, sizeof(a.ip));
		kura_sqlite_col_text(st, 3, a.form, sizeof(a.form));
		kura_sqlite_col_text(st, 4, a.method, sizeof(a.method));
		a.status = (unsigned)sqlite3_column_int(st, 5);
		kura_sqlite_col_text(st, 6, a.outcome, sizeof(a.outcome));
		kura_sqlite_col_text(st, 7, a.user_agent, sizeof(a.user_agent));
		kura_sqlite_col_text(st, 8, a.request_id, sizeof(a.request_id));
		if (!cb(ctx, &a))
			break;
	}
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_form_access_purge(void *conn, int64_t before_us, unsigned limit, int64_t *deleted)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_FORM_ACCESS_PURGE, sql_purge, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, before_us);
	sqlite3_bind_int64(st, 2, limit);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		e = kura_sqlite_error(c, "form_access_purge", rc);
		goto out;
	}
	*deleted = sqlite3_changes64(c->db);
out:
	kura_sqlite_done(st);
	return e;
}
