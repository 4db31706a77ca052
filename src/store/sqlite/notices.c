/*
 * Notices of incidents and maintenance, in system.db. A notice names one
 * tenant or (tenant_id NULL) every tenant; the list for a tenant is its
 * own notices and the ones for all, newest first.
 */
#include "sqlite_int.h"

#include <string.h>

static const char sql_insert[] =
	"INSERT INTO notices (tenant_id, kind, title, body, starts_at, ends_at, created_at) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
/* ?1 NULL: every notice; otherwise that tenant's and everyone's. LIMIT -1: none. */
static const char sql_list[] =
	"SELECT id, tenant_id, kind, title, body, starts_at, ends_at, created_at FROM notices "
	"WHERE (?1 IS NULL OR tenant_id IS NULL OR tenant_id = ?1) AND ends_at > ?2 "
	"ORDER BY id DESC LIMIT ?3";

static const char *
kind_name(enum kura_notice_kind k)
{
	return k == KURA_NOTICE_INCIDENT ? "incident" : "maintenance";
}

enum kura_err
kura_sqlite_notice_create(void *p, struct kura_notice *n)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	n->id = 0;
	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_stmt(c, KURA_SQ_NOTICE_INSERT, sql_insert, &st);
	if (e != KURA_OK)
		goto out;
	if (n->tenant_id[0] != '\0')
		sqlite3_bind_text(st, 1, n->tenant_id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 1);
	sqlite3_bind_text(st, 2, kind_name(n->kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, n->title, (int)strnlen(n->title, sizeof(n->title)), SQLITE_STATIC);
	sqlite3_bind_text(st, 4, n->body, (int)strnlen(n->body, sizeof(n->body)), SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, n->starts_at);
	sqlite3_bind_int64(st, 6, n->ends_at);
	sqlite3_bind_int64(st, 7, n->created_at);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		n->id = sqlite3_last_insert_rowid(c->db);
	else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		e = KURA_E_NOT_FOUND;
	else if ((rc & 0xff) == SQLITE_CONSTRAINT)
		e = KURA_E_VALIDATION; /* a CHECK the caller should have made first */
	else
		e = kura_sqlite_error(c, "notice_create", rc);
out:
	kura_sqlite_done(st);
	kura_sqlite_release(be, c);
	return e;
}

enum kura_err
kura_sqlite_notice_list(void *p, const char *tenant_id, int64_t now, unsigned limit,
			kura_notice_cb cb, void *ctx)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	struct kura_notice n;
	sqlite3_stmt *st = NULL;
	char kind[16];
	enum kura_err e;
	int rc;

	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_stmt(c, KURA_SQ_NOTICE_LIST, sql_list, &st);
	if (e != KURA_OK)
		goto out;
	if (tenant_id != NULL)
		sqlite3_bind_text(st, 1, tenant_id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 1);
	sqlite3_bind_int64(st, 2, now > 0 ? now : INT64_MIN);
	sqlite3_bind_int64(st, 3, limit > 0 ? (int64_t)limit : -1);
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			e = kura_sqlite_error(c, "notice_list", rc);
			goto out;
		}
		memset(&n, 0, sizeof(n));
		n.id = sqlite3_column_int64(st, 0);
		kura_sqlite_col_text(st, 1, n.tenant_id, sizeof(n.tenant_id));
		kura_sqlite_col_text(st, 2, kind, sizeof(kind));
		n.kind = strcmp(kind, "incident") == 0 ? KURA_NOTICE_INCIDENT : KURA_NOTICE_MAINTENANCE;
		kura_sqlite_col_text(st, 3, n.title, sizeof(n.title));
		kura_sqlite_col_text(st, 4, n.body, sizeof(n.body));
		n.starts_at = sqlite3_column_int64(st, 5);
		n.ends_at = sqlite3_column_int64(st, 6);
		n.created_at = sqlite3_column_int64(st, 7);
		if (!cb(ctx, &n))
			break;
	}
out:
	kura_sqlite_done(st);
	kura_sqlite_release(be, c);
	return e;
}
