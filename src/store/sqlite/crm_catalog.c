/*
 * The catalogue of the customer database in SQLite: object types, their
 * properties, and the tables and columns that hold them (r_<object id>,
 * p_<property id>, f_<object id>; see migrations/sqlite/tenant/0006_crm.sql).
 * DDL text is made from integer ids only.
 */
#include "sqlite_crm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kura_err
kura_sqlite_crm_exec(struct kura_sqlite_conn *c, const char *sql, const char *op)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? KURA_OK : kura_sqlite_error(c, op, rc);
}

enum kura_err
kura_sqlite_crm_write_ids(struct kura_sqlite_conn *c, const char *sql, const char *op,
			 bool need_row, size_t n, const int64_t *ids)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = kura_sqlite_dyn(c, sql, &st);

	for (size_t i = 0; e == KURA_OK && i < n; i++)
		sqlite3_bind_int64(st, (int)i + 1, ids[i]);
	if (e == KURA_OK)
		e = kura_sqlite_write(c, st, op, need_row);
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_catalog_bump(struct kura_sqlite_conn *c)
{
	return kura_sqlite_crm_exec(c, "UPDATE catalog_meta SET version = version + 1",
				    "catalog_version");
}

enum kura_err
kura_sqlite_crm_catalog_version(void *conn, int64_t *version)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	*version = 0;
	e = kura_sqlite_dyn(c, "SELECT version FROM catalog_meta WHERE id = 1", &st);
	if (e != KURA_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int64(st, 0);
	else
		e = rc == SQLITE_DONE ? KURA_E_STORE : kura_sqlite_error(c, "catalog_version", rc);
out:
	kura_sqlite_done(st);
	return e;
}

struct each_ctx {
	kura_object_row_cb ocb;
	kura_prop_row_cb pcb;
	void *ctx;
	bool stop;
};

static void
object_row(sqlite3_stmt *st, void *p)
{
	struct each_ctx *x = p;
	struct kura_object_row o;

	if (x->stop)
		return;
	memset(&o, 0, sizeof(o));
	o.id = sqlite3_column_int64(st, 0);
	kura_sqlite_col_text(st, 1, o.name, sizeof(o.name));
	kura_sqlite_col_text(st, 2, o.label_en, sizeof(o.label_en));
	kura_sqlite_col_text(st, 3, o.label_ja, sizeof(o.label_ja));
	kura_sqlite_col_text(st, 4, o.primary_prop, sizeof(o.primary_prop));
	o.standard = sqlite3_column_int(st, 5) != 0;
	o.created_at = sqlite3_column_int64(st, 6);
	o.updated_at = sqlite3_column_int64(st, 7);
	x->stop = !x->ocb(x->ctx, &o);
}

enum kura_err
kura_sqlite_crm_object_list(void *conn, kura_object_row_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct each_ctx x = {.ocb = cb, .ctx = ctx};
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "SELECT id, name, label_en, label_ja, primary_prop, standard, created_at, "
			    "updated_at FROM objects ORDER BY id",
			    &st);
	if (e == KURA_OK)
		e = kura_sqlite_each(c, st, "object_list", object_row, &x);
	kura_sqlite_done(st);
	return e;
}

static const char *
col_str(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s != NULL ? (const char *)s : "";
}

static void
prop_row(sqlite3_stmt *st, void *p)
{
	struct each_ctx *x = p;
	struct kura_prop_row r;

	if (x->stop)
		return;
	memset(&r, 0, sizeof(r));
	r.id = sqlite3_column_int64(st, 0);
	r.object_id = sqlite3_column_int64(st, 1);
	kura_sqlite_col_text(st, 2, r.name, sizeof(r.name));
	kura_sqlite_col_text(st, 3, r.label_en, sizeof(r.label_en));
	kura_sqlite_col_text(st, 4, r.label_ja, sizeof(r.label_ja));
	kura_sqlite_col_text(st, 5, r.type, sizeof(r.type));
	r.required = sqlite3_column_int(st, 6) != 0;
	r.unique = sqlite3_column_int(st, 7) != 0;
	r.indexed = sqlite3_column_int(st, 8) != 0;
	r.sensitive = sqlite3_column_int(st, 9) != 0;
	kura_sqlite_col_text(st, 10, r.classification, sizeof(r.classification));
	r.description = col_str(st, 11);
	r.options = col_str(st, 12);
	r.validation = col_str(st, 13);
	r.standard = sqlite3_column_int(st, 14) != 0;
	r.archived_at = sqlite3_column_int64(st, 15);
	r.created_at = sqlite3_column_int64(st, 16);
	r.updated_at = sqlite3_column_int64(st, 17);
	r.permissions = col_str(st, 18);
	r.enc_state = sqlite3_column_int(st, 19);
	r.enc_total = sqlite3_column_int64(st, 20);
	r.bidx_version = (uint32_t)sqlite3_column_int64(st, 21);
	r.bidx_next = (uint32_t)sqlite3_column_int64(st, 22);
	r.bidx_started_at = sqlite3_column_int64(st, 23);
	x->stop = !x->pcb(x->ctx, &r);
}

enum kura_err
kura_sqlite_crm_prop_list(void *conn, kura_prop_row_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct each_ctx x = {.pcb = cb, .ctx = ctx};
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "SELECT id, object_id, name, label_en, label_ja, type, required, uniq, "
			    "indexed, sensitive, classification, description, options, validation, "
			    "standard, coalesce(archived_at, 0), created_at, updated_at, permissions, "
			    "enc_state, enc_total, bidx_version, bidx_next, bidx_started_at "
			    "FROM properties ORDER BY id",
			    &st);
	if (e == KURA_OK)
		e = kura_sqlite_each(c, st, "prop_list", prop_row, &x);
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_object_create(void *conn, struct kura_object_row *o)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char ddl[768];
	enum kura_err e;
	int rc;

	e = kura_sqlite_dyn(c,
			    "INSERT INTO objects (name, label_en, label_ja, primary_prop, standard, "
			    "created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)",
			    &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, o->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, o->label_en, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, o->label_ja, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, o->primary_prop, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, o->created_at);
	sqlite3_bind_int64(st, 6, o->created_at);
	rc = sqlite3_step(st);
	if (kura_sqlite_is_dup(rc)) {
		e = KURA_E_EXISTS;
		goto out;
	}
	if (rc != SQLITE_DONE) {
		e = kura_sqlite_error(c, "object_create", rc);
		goto out;
	}
	o->id = sqlite3_last_insert_rowid(c->db);
	o->updated_at = o->created_at;
	snprintf(ddl, sizeof(ddl),
		 "CREATE TABLE r_%lld (id INTEGER PRIMARY KEY AUTOINCREMENT, "
		 "created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, "
		 "created_by INTEGER NOT NULL DEFAULT 0, archived_at INTEGER);"
		 "CREATE INDEX x_%lld_archived ON r_%lld (archived_at) "
		 "WHERE archived_at IS NOT NULL;"
		 "CREATE VIRTUAL TABLE f_%lld USING fts5 (body, "
		 "tokenize = 'unicode61 remove_diacritics 2', columnsize = 0);",
		 (long long)o->id, (long long)o->id, (long long)o->id, (long long)o->id);
	e = kura_sqlite_crm_exec(c, ddl, "object_create");
	if (e == KURA_OK)
		e = kura_sqlite_crm_catalog_bump(c);
out:
	kura_sqlite_done(st);
	return e;
}

/* Drops and re-creates the column's index as the flags say. */
static enum kura_err
sync_index(struct kura_sqlite_conn *c, int64_t object_id, int64_t prop_id, bool unique,
	   bool indexed)
{
	char ddl[256];
	enum kura_err e;
	int rc;

	snprintf(ddl, sizeof(ddl), "DROP INDEX IF EXISTS x_%lld_%lld", (long long)object_id,
		 (long long)prop_id);
	e = kura_sqlite_crm_exec(c, ddl, "prop_index");
	if (e != KURA_OK || (!unique && !indexed))
		return e;
	if (unique)
		snprintf(ddl, sizeof(ddl),
			 "CREATE UNIQUE INDEX x_%lld_%lld ON r_%lld (p_%lld) "
			 "WHERE archived_at IS NULL",
			 (long long)object_id, (long long)prop_id, (long long)object_id,
			 (long long)prop_id);
	else
		snprintf(ddl, sizeof(ddl), "CREATE INDEX x_%lld_%lld ON r_%lld (p_%lld)",
			 (long long)object_id, (long long)prop_id, (long long)object_id,
			 (long long)prop_id);
	rc = sqlite3_exec(c->db, ddl, NULL, NULL, NULL);
	/* Existing duplicates make a unique index impossible: the caller's conflict. */
	if (kura_sqlite_is_dup(rc) || rc == SQLITE_CONSTRAINT)
		return KURA_E_CONFLICT;
	return rc == SQLITE_OK ? KURA_OK : kura_sqlite_error(c, "prop_index", rc);
}

/*
 * A sensitive property's blind-index column, b_<id>, and its index when
 * indexed. The column stays when the flag or the index goes (a column
 * cannot be dropped cheaply); its values do not: a blind index nobody
 * uses must not stay in the file.
 */
static enum kura_err
sync_blind(struct kura_sqlite_conn *c, int64_t object_id, int64_t prop_id, bool sensitive,
	   bool indexed)
{
	char ddl[256];
	enum kura_err e;
	int rc;

	if (sensitive) {
		snprintf(ddl, sizeof(ddl), "ALTER TABLE r_%lld ADD COLUMN b_%lld",
			 (long long)object_id, (long long)prop_id);
		rc = sqlite3_exec(c->db, ddl, NULL, NULL, NULL);
		/* Added by an earlier turn of the flag: the column is there already. */
		if (rc != SQLITE_OK && strstr(sqlite3_errmsg(c->db), "duplicate column") == NULL)
			return kura_sqlite_error(c, "prop_blind", rc);
	}
	if (sensitive && indexed) {
		snprintf(ddl, sizeof(ddl),
			 "CREATE INDEX IF NOT EXISTS x_%lld_%lld_b ON r_%lld (b_%lld)",
			 (long long)object_id, (long long)prop_id, (long long)object_id,
			 (long long)prop_id);
		return kura_sqlite_crm_exec(c, ddl, "prop_blind");
	}
	snprintf(ddl, sizeof(ddl), "DROP INDEX IF EXISTS x_%lld_%lld_b", (long long)object_id,
		 (long long)prop_id);
	e = kura_sqlite_crm_exec(c, ddl, "prop_blind");
	if (e != KURA_OK || !sensitive)
		return e;
	snprintf(ddl, sizeof(ddl), "UPDATE r_%lld SET b_%lld = NULL WHERE b_%lld IS NOT NULL",
		 (long long)object_id, (long long)prop_id, (long long)prop_id);
	return kura_sqlite_crm_exec(c, ddl, "prop_blind");
}

static void
bind_prop_fields(sqlite3_stmt *st, const struct kura_prop_row *p, int at)
{
	sqlite3_bind_text(st, at, p->label_en, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, at + 1, p->label_ja, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, at + 2, p->type, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, at + 3, p->required);
	sqlite3_bind_int(st, at + 4, p->unique);
	sqlite3_bind_int(st, at + 5, p->indexed);
	sqlite3_bind_int(st, at + 6, p->sensitive);
	sqlite3_bind_text(st, at + 7, p->classification, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, at + 8, p->description != NULL ? p->description : "", -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, at + 9, p->options != NULL ? p->options : "[]", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, at + 10, p->validation != NULL ? p->validation : "{}", -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, at + 11, p->permissions != NULL ? p->permissions : "{}", -1,
			  SQLITE_STATIC);
}

enum kura_err
kura_sqlite_crm_prop_create(void *conn, struct kura_prop_row *p)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char ddl[160];
	enum kura_err e;
	int rc;

	e = kura_sqlite_dyn(c,
			    "INSERT INTO properties (object_id, name, label_en, label_ja, type, "
			    "required, uniq, indexed, sensitive, classification, description, options, "
			    "validation, permissions, standard, created_at, updated_at) "
			    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
			    &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, p->object_id);
	sqlite3_bind_text(st, 2, p->name, -1, SQLITE_STATIC);
	bind_prop_fields(st, p, 3);
	sqlite3_bind_int64(st, 15, p->created_at);
	sqlite3_bind_int64(st, 16, p->created_at);
	rc = sqlite3_step(st);
	if (kura_sqlite_is_dup(rc)) {
		e = KURA_E_EXISTS;
		goto out;
	}
	if (rc != SQLITE_DONE) {
		e = kura_sqlite_error(c, "prop_create", rc);
		goto out;
	}
	p->id = sqlite3_last_insert_rowid(c->db);
	p->updated_at = p->created_at;
	snprintf(ddl, sizeof(ddl), "ALTER TABLE r_%lld ADD COLUMN p_%lld", (long long)p->object_id,
		 (long long)p->id);
	e = kura_sqlite_crm_exec(c, ddl, "prop_create");
	/* a sensitive value is ciphertext with a fresh nonce: no ordinary index means anything */
	if (e == KURA_OK)
		e = sync_index(c, p->object_id, p->id, p->unique, p->indexed && !p->sensitive);
	if (e == KURA_OK && p->sensitive)
		e = sync_blind(c, p->object_id, p->id, true, p->indexed);
	if (e == KURA_OK)
		e = kura_sqlite_crm_catalog_bump(c);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_prop_update(void *conn, const struct kura_prop_row *p)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	bool was_unique = false, was_indexed = false, was_sensitive = false;
	enum kura_err e;
	int rc;

	e = kura_sqlite_dyn(c,
			    "SELECT uniq, indexed, sensitive FROM properties WHERE id = ? AND "
			    "object_id = ?",
			    &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, p->id);
	sqlite3_bind_int64(st, 2, p->object_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		e = kura_sqlite_error(c, "prop_update", rc);
		goto out;
	}
	was_unique = sqlite3_column_int(st, 0) != 0;
	was_indexed = sqlite3_column_int(st, 1) != 0;
	was_sensitive = sqlite3_column_int(st, 2) != 0;
	kura_sqlite_done(st);
	st = NULL;
	e = kura_sqlite_dyn(c,
			    "UPDATE properties SET label_en = ?, label_ja = ?, type = ?, required = ?, "
			    "uniq = ?, indexed = ?, sensitive = ?, classification = ?, description = ?, "
			    "options = ?, validation = ?, permissions = ?, archived_at = nullif(?, 0), "
			    "updated_at = ? WHERE id = ?",
			    &st);
	if (e != KURA_OK)
		goto out;
	bind_prop_fields(st, p, 1);
	sqlite3_bind_int64(st, 13, p->archived_at);
	sqlite3_bind_int64(st, 14, p->updated_at);
	sqlite3_bind_int64(st, 15, p->id);
	e = kura_sqlite_write(c, st, "prop_update", true);
	if (e == KURA_OK && (was_unique != p->unique ||
			     (was_indexed && !was_sensitive) != (p->indexed && !p->sensitive)))
		e = sync_index(c, p->object_id, p->id, p->unique, p->indexed && !p->sensitive);
	if (e == KURA_OK && (was_sensitive != p->sensitive ||
			     (p->sensitive && was_indexed != p->indexed)))
		e = sync_blind(c, p->object_id, p->id, p->sensitive, p->indexed);
	if (e == KURA_OK)
		e = kura_sqlite_crm_catalog_bump(c);
out:
	kura_sqlite_done(st);
	return e;
}

/*
 * Indexes over several properties: a row of object_indexes (props: the
 * property ids in column order, "12,15") and the index x_<object>_c<id>.
 */
struct index_each {
	kura_index_row_cb cb;
	void *ctx;
	bool stop;
};

/* "12,15" into ix (false when it is not a list of 2..KURA_INDEX_PROPS_MAX ids). */
static bool
index_props_parse(const char *s, struct kura_index_row *ix)
{
	ix->nprops = 0;
	while (s != NULL && *s != '\0') {
		char *end;
		long long v = strtoll(s, &end, 10);

		if (end == s || v <= 0 || ix->nprops == KURA_INDEX_PROPS_MAX)
			return false;
		ix->props[ix->nprops++] = v;
		s = *end == ',' ? end + 1 : end;
		if (*end != ',' && *end != '\0')
			return false;
	}
	return ix->nprops >= 2;
}

/* Columns id, object_id, props, created_at of st into ix; false when props cannot be read. */
static bool
index_read(sqlite3_stmt *st, struct kura_index_row *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->id = sqlite3_column_int64(st, 0);
	ix->object_id = sqlite3_column_int64(st, 1);
	ix->created_at = sqlite3_column_int64(st, 3);
	return index_props_parse((const char *)sqlite3_column_text(st, 2), ix);
}

static void
index_row(sqlite3_stmt *st, void *p)
{
	struct index_each *x = p;
	struct kura_index_row ix;

	/* only this file writes the column: a row it cannot read is skipped, never half used */
	if (!x->stop && index_read(st, &ix))
		x->stop = !x->cb(x->ctx, &ix);
}

enum kura_err
kura_sqlite_crm_index_list(void *conn, int64_t object_id, kura_index_row_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct index_each x = {.cb = cb, .ctx = ctx};
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "SELECT id, object_id, props, created_at FROM object_indexes "
			    "WHERE object_id = ? ORDER BY id",
			    &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, object_id);
		e = kura_sqlite_each(c, st, "index_list", index_row, &x);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_index_create(void *conn, struct kura_index_row *ix)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char props[KURA_INDEX_PROPS_MAX * 21], cols[KURA_INDEX_PROPS_MAX * 23], ddl[256];
	size_t np = 0, nc = 0;
	enum kura_err e;
	int rc;

	if (ix->nprops < 2 || ix->nprops > KURA_INDEX_PROPS_MAX)
		return KURA_E_BAD_REQUEST;
	for (size_t i = 0; i < ix->nprops; i++) {
		np += (size_t)snprintf(props + np, sizeof(props) - np, "%s%lld", i > 0 ? "," : "",
				       (long long)ix->props[i]);
		nc += (size_t)snprintf(cols + nc, sizeof(cols) - nc, "%sp_%lld", i > 0 ? ", " : "",
				       (long long)ix->props[i]);
	}
	e = kura_sqlite_dyn(c,
			    "INSERT INTO object_indexes (object_id, props, created_at) VALUES (?, ?, ?)",
			    &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, ix->object_id);
	sqlite3_bind_text(st, 2, props, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, ix->created_at);
	rc = sqlite3_step(st);
	if (kura_sqlite_is_dup(rc)) {
		e = KURA_E_EXISTS;
		goto out;
	}
	if (rc != SQLITE_DONE) {
		e = kura_sqlite_error(c, "index_create", rc);
		goto out;
	}
	ix->id = sqlite3_last_insert_rowid(c->db);
	snprintf(ddl, sizeof(ddl), "CREATE INDEX x_%lld_c%lld ON r_%lld (%s)",
		 (long long)ix->object_id, (long long)ix->id, (long long)ix->object_id, cols);
	e = kura_sqlite_crm_exec(c, ddl, "index_create");
	if (e == KURA_OK)
		e = kura_sqlite_crm_catalog_bump(c);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_index_drop(void *conn, int64_t object_id, int64_t id, struct kura_index_row *ix)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char ddl[96];
	enum kura_err e;
	int rc;

	e = kura_sqlite_dyn(c,
			    "DELETE FROM object_indexes WHERE id = ? AND object_id = ? "
			    "RETURNING id, object_id, props, created_at",
			    &st);
	if (e != KURA_OK)
		return e;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, object_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && ix != NULL)
		(void)index_read(st, ix);
	if (rc == SQLITE_ROW)
		rc = sqlite3_step(st); /* the statement's end */
	else if (rc == SQLITE_DONE)
		e = KURA_E_NOT_FOUND; /* no row came back: nothing deleted */
	if (e == KURA_OK && rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "index_drop", rc);
	kura_sqlite_done(st);
	if (e != KURA_OK)
		return e;
	snprintf(ddl, sizeof(ddl), "DROP INDEX IF EXISTS x_%lld_c%lld", (long long)object_id,
		 (long long)id);
	e = kura_sqlite_crm_exec(c, ddl, "index_drop");
	if (e == KURA_OK)
		e = kura_sqlite_crm_catalog_bump(c);
	return e;
}
