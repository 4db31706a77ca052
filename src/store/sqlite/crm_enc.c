/*
 * Turning the sensitive flag of a property that holds values, in SQLite:
 * the state of the change (properties.enc_*, tenant migration 0011), the
 * values still in one form or the other (told apart by their storage
 * class: ciphertext is a BLOB, every stored form of a value in clear is
 * TEXT, INTEGER or REAL, and the record columns have no declared type, so
 * nothing converts one into the other), and the history entries holding
 * them. core/sensitive_flag.c drives it.
 */
#include "sqlite_crm.h"

#include <stdio.h>
#include <string.h>

enum kura_err
kura_sqlite_crm_prop_values_form(void *conn, int64_t object_id, int64_t prop_id,
				 enum kura_value_form form, unsigned limit, kura_colval_cb cb,
				 void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[240], where[80];
	enum kura_err e;

	if (form == KURA_FORM_UNBLINDED) /* b_ IS NULL: a lookup in the blind index itself */
		snprintf(where, sizeof(where), "b_%lld IS NULL AND typeof(p_%lld) = 'blob'",
			 (long long)prop_id, (long long)prop_id);
	else
		snprintf(where, sizeof(where), "typeof(p_%lld) %s", (long long)prop_id,
			 form == KURA_FORM_SEALED ? "= 'blob'" : "IN ('text', 'integer', 'real')");
	snprintf(sql, sizeof(sql), "SELECT id, p_%lld FROM r_%lld WHERE %s ORDER BY id LIMIT ?",
		 (long long)prop_id, (long long)object_id, where);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, limit);
	e = kura_sqlite_crm_each_id_val(c, st, "prop_values_form", cb, ctx);
out:
	kura_sqlite_done(st);
	return e;
}

static void
bind_v(sqlite3_stmt *st, int at, const struct kura_val *v)
{
	if (v == NULL || v->kind == KURA_V_NULL)
		sqlite3_bind_null(st, at);
	else if (v->kind == KURA_V_INT)
		sqlite3_bind_int64(st, at, v->i);
	else if (v->kind == KURA_V_REAL)
		sqlite3_bind_double(st, at, v->d);
	else if (v->kind == KURA_V_TEXT)
		sqlite3_bind_text(st, at, v->s, (int)v->n, SQLITE_STATIC);
	else
		sqlite3_bind_blob(st, at, v->s, (int)v->n, SQLITE_STATIC);
}

enum kura_err
kura_sqlite_crm_prop_value_put(void *conn, int64_t object_id, int64_t prop_id, int64_t id,
			       const struct kura_val *v, const struct kura_val *blind)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[160];
	enum kura_err e;

	snprintf(sql, sizeof(sql), "UPDATE r_%lld SET p_%lld = ?, b_%lld = ? WHERE id = ?",
		 (long long)object_id, (long long)prop_id, (long long)prop_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e == KURA_OK) {
		bind_v(st, 1, v);
		bind_v(st, 2, blind);
		sqlite3_bind_int64(st, 3, id);
		e = kura_sqlite_write(c, st, "prop_value_put", true);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_history_of_prop(void *conn, int64_t object_id, const char *name, bool sealed,
				unsigned limit, kura_history_row_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char path[KURA_PROP_NAME_MAX + 8], p0[KURA_PROP_NAME_MAX + 12],
		p1[KURA_PROP_NAME_MAX + 12];
	enum kura_err e;
	int rc;

	/* Names are [a-z0-9_]: quoted, they are a JSON path member as they stand. */
	snprintf(path, sizeof(path), "$.\"%s\"", name);
	snprintf(p0, sizeof(p0), "$.\"%s\"[0]", name);
	snprintf(p1, sizeof(p1), "$.\"%s\"[1]", name);
	e = kura_sqlite_dyn(
		c,
		sealed ? "SELECT id, record_id, initial, changes FROM record_history "
			 "WHERE object_id = ?1 AND (json_type(changes, ?2) = 'object' OR "
			 "(initial = 0 AND (json_type(changes, ?3) = 'object' OR "
			 "json_type(changes, ?4) = 'object'))) ORDER BY id LIMIT ?5"
		       : "SELECT id, record_id, initial, changes FROM record_history "
			 "WHERE object_id = ?1 AND ((initial = 1 AND json_type(changes, ?2) NOT IN "
			 "('object', 'null')) OR (initial = 0 AND (json_type(changes, ?3) NOT IN "
			 "('object', 'null') OR json_type(changes, ?4) NOT IN ('object', 'null')))) "
			 "ORDER BY id LIMIT ?5",
		&st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, object_id);
	sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p0, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p1, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct kura_history_row h;
		const unsigned char *ch = sqlite3_column_text(st, 3);

		memset(&h, 0, sizeof(h));
		h.id = sqlite3_column_int64(st, 0);
		h.record_id = sqlite3_column_int64(st, 1);
		h.initial = sqlite3_column_int(st, 2) != 0;
		h.changes = ch != NULL ? (const char *)ch : "{}";
		if (!cb(ctx, &h)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "history_of_prop", rc);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_history_set(void *conn, int64_t id, const char *changes)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c, "UPDATE record_history SET changes = ? WHERE id = ?", &st);
	if (e == KURA_OK) {
		sqlite3_bind_text(st, 1, changes, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, id);
		e = kura_sqlite_write(c, st, "history_set", true);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_prop_enc_get(void *conn, int64_t prop_id, int *state, int64_t *done,
			     int64_t *total)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	*state = 0;
	*done = 0;
	*total = 0;
	e = kura_sqlite_dyn(c, "SELECT enc_state, enc_done, enc_total FROM properties WHERE id = ?",
			    &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, prop_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*state = sqlite3_column_int(st, 0);
		*done = sqlite3_column_int64(st, 1);
		*total = sqlite3_column_int64(st, 2);
	} else {
		e = rc == SQLITE_DONE ? KURA_E_NOT_FOUND : kura_sqlite_error(c, "prop_enc_get", rc);
	}
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_prop_enc_set(void *conn, int64_t prop_id, int state, int64_t total)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "UPDATE properties SET enc_state = ?, enc_total = ?, enc_done = 0 "
			    "WHERE id = ?",
			    &st);
	if (e == KURA_OK) {
		sqlite3_bind_int(st, 1, state);
		sqlite3_bind_int64(st, 2, total);
		sqlite3_bind_int64(st, 3, prop_id);
		e = kura_sqlite_write(c, st, "prop_enc_set", true);
	}
	kura_sqlite_done(st);
	/* The state is part of the catalogue: requests see it with their next one. */
	if (e == KURA_OK)
		e = kura_sqlite_crm_catalog_bump(c);
	return e;
}

enum kura_err
kura_sqlite_crm_prop_enc_step(void *conn, int64_t prop_id, int64_t done)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	/* Progress only: not a catalogue change (no version bump, no reload). */
	e = kura_sqlite_dyn(c, "UPDATE properties SET enc_done = enc_done + ? WHERE id = ?", &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, done);
		sqlite3_bind_int64(st, 2, prop_id);
		e = kura_sqlite_write(c, st, "prop_enc_step", true);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_fts_optimize(void *conn, int64_t object_id)
{
	struct kura_sqlite_conn *c = conn;
	char sql[96];

	/*
	 * FTS5 deletes by writing a marker into a new segment: the words of a
	 * deleted body stay in the older segments until they are merged. One
	 * merge of everything drops them (and secure_delete zeroes the pages).
	 */
	snprintf(sql, sizeof(sql), "INSERT INTO f_%lld (f_%lld) VALUES ('optimize')",
		 (long long)object_id, (long long)object_id);
	return kura_sqlite_crm_exec(c, sql, "fts_optimize");
}

enum kura_err
kura_sqlite_crm_history_sealed_after(void *conn, int64_t after_id, unsigned limit,
				     kura_history_row_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	/* Along the rowid from the cursor; a sealed value is the only "$enc" key there is. */
	e = kura_sqlite_dyn(c,
			    "SELECT id, record_id, object_id, initial, changes FROM record_history "
			    "WHERE id > ?1 AND instr(changes, '\"$enc\"') > 0 ORDER BY id LIMIT ?2",
			    &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int64(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct kura_history_row h;
		const unsigned char *ch = sqlite3_column_text(st, 4);

		memset(&h, 0, sizeof(h));
		h.id = sqlite3_column_int64(st, 0);
		h.record_id = sqlite3_column_int64(st, 1);
		h.object_id = sqlite3_column_int64(st, 2);
		h.initial = sqlite3_column_int(st, 3) != 0;
		h.changes = ch != NULL ? (const char *)ch : "{}";
		if (!cb(ctx, &h)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "history_sealed_after", rc);
out:
	kura_sqlite_done(st);
	return e;
}

/* ---------------------------------------------------------------- other sealed values */

/* Where each kind lives: fixed names only (no caller text in SQL). */
static const struct {
	const char *table, *id, *blob, *object, *record;
} sealed_at[KURA_SEALED__COUNT] = {
	[KURA_SEALED_MFA_SECRET] = {"mfa_totp", "user_id", "secret", "0", "user_id"},
	[KURA_SEALED_ATTACHMENT_KEY] = {"attachments", "id", "wrapped_key", "object_id",
					"record_id"},
	[KURA_SEALED_ATTACHMENT_NAME] = {"attachments", "id", "filename", "object_id",
					 "record_id"},
};

static void
version_bytes(uint32_t v, uint8_t out[4])
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

enum kura_err
kura_sqlite_crm_sealed_stale(void *conn, int kind, uint32_t version, unsigned limit,
			     kura_sealed_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	uint8_t want[4];
	char sql[320];
	enum kura_err e;
	int rc;

	if (kind < 0 || kind >= KURA_SEALED__COUNT)
		return KURA_E_INTERNAL;
	version_bytes(version, want);
	/* the key version is bytes 2..5 of a ciphertext */
	snprintf(sql, sizeof(sql),
		 "SELECT %s, %s, %s, %s FROM %s WHERE substr(%s, 2, 4) <> ?1 ORDER BY %s LIMIT ?2",
		 sealed_at[kind].id, sealed_at[kind].blob, sealed_at[kind].object,
		 sealed_at[kind].record, sealed_at[kind].table, sealed_at[kind].blob,
		 sealed_at[kind].id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_blob(st, 1, want, 4, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct kura_sealed_row r = {0};

		r.id = sqlite3_column_int64(st, 0);
		r.ct = sqlite3_column_blob(st, 1);
		r.n = (size_t)sqlite3_column_bytes(st, 1);
		r.object_id = sqlite3_column_int64(st, 2);
		r.record_id = sqlite3_column_int64(st, 3);
		if (!cb(ctx, &r)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "sealed_stale", rc);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_sealed_replace(void *conn, int kind, int64_t id, const uint8_t *ct, size_t n,
			       const uint8_t *nct, size_t nn)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[240];
	enum kura_err e;

	if (kind < 0 || kind >= KURA_SEALED__COUNT)
		return KURA_E_INTERNAL;
	snprintf(sql, sizeof(sql), "UPDATE %s SET %s = ?1 WHERE %s = ?2 AND %s = ?3",
		 sealed_at[kind].table, sealed_at[kind].blob, sealed_at[kind].id,
		 sealed_at[kind].blob);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e == KURA_OK) {
		sqlite3_bind_blob(st, 1, nct, (int)nn, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, id);
		sqlite3_bind_blob(st, 3, ct, (int)n, SQLITE_STATIC);
		e = kura_sqlite_write(c, st, "sealed_replace", false);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_sealed_versions(void *conn, int kind,
				void (*cb)(void *ctx, uint32_t version, int64_t n), void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[240];
	enum kura_err e;
	int rc;

	if (kind < 0 || kind >= KURA_SEALED__COUNT)
		return KURA_E_INTERNAL;
	snprintf(sql, sizeof(sql),
		 "SELECT substr(%s, 2, 4) AS v, count(*) FROM %s GROUP BY v ORDER BY v",
		 sealed_at[kind].blob, sealed_at[kind].table);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e != KURA_OK)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const uint8_t *b = sqlite3_column_blob(st, 0);
		uint32_t v = 0;

		if (b != NULL && sqlite3_column_bytes(st, 0) == 4)
			v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		cb(ctx, v, sqlite3_column_int64(st, 1));
	}
	if (rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "sealed_versions", rc);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_idem_older(void *conn, int64_t before, int64_t *n)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	*n = 0;
	e = kura_sqlite_dyn(c, "SELECT count(*) FROM idempotency WHERE created_at < ?", &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, before);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	else
		e = kura_sqlite_error(c, "idem_older", rc);
out:
	kura_sqlite_done(st);
	return e;
}

/* ---------------------------------------------------------------- blind-index rotation */

enum kura_err
kura_sqlite_crm_prop_bidx_set(void *conn, int64_t prop_id, uint32_t version, uint32_t next,
			      int64_t started_at)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "UPDATE properties SET bidx_version = ?, bidx_next = ?, "
			    "bidx_started_at = ? WHERE id = ?",
			    &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, version);
		sqlite3_bind_int64(st, 2, next);
		sqlite3_bind_int64(st, 3, started_at);
		sqlite3_bind_int64(st, 4, prop_id);
		e = kura_sqlite_write(c, st, "prop_bidx_set", true);
	}
	kura_sqlite_done(st);
	/* Which keys a search must try is part of the catalogue. */
	if (e == KURA_OK)
		e = kura_sqlite_crm_catalog_bump(c);
	return e;
}

enum kura_err
kura_sqlite_crm_prop_blind_stale(void *conn, int64_t object_id, int64_t prop_id, int64_t lo,
				 int64_t hi, unsigned limit, kura_colval_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[240];
	enum kura_err e;

	/* Two ranges of the column's own index; values still in clear have no index yet. */
	snprintf(sql, sizeof(sql),
		 "SELECT id, p_%lld FROM r_%lld WHERE (b_%lld < ?1 OR b_%lld >= ?2) "
		 "AND typeof(p_%lld) = 'blob' ORDER BY id LIMIT ?3",
		 (long long)prop_id, (long long)object_id, (long long)prop_id, (long long)prop_id,
		 (long long)prop_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, hi);
	sqlite3_bind_int64(st, 3, limit);
	e = kura_sqlite_crm_each_id_val(c, st, "prop_blind_stale", cb, ctx);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_prop_blind_put_if(void *conn, int64_t object_id, int64_t prop_id, int64_t id,
				  const struct kura_val *ct, int64_t blind)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	char sql[200];
	enum kura_err e;

	snprintf(sql, sizeof(sql), "UPDATE r_%lld SET b_%lld = ? WHERE id = ? AND p_%lld = ?",
		 (long long)object_id, (long long)prop_id, (long long)prop_id);
	e = kura_sqlite_dyn(c, sql, &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, blind);
		sqlite3_bind_int64(st, 2, id);
		bind_v(st, 3, ct);
		e = kura_sqlite_write(c, st, "prop_blind_put_if", false);
	}
	kura_sqlite_done(st);
	return e;
}
