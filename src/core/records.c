/*
 * Record writes and reads: validation of a "properties" object against the
 * catalogue (every problem reported, unknown properties refused), the
 * stored form of each value, the full-text body, and one history entry per
 * write holding the old and new value of every property that changed, who
 * changed it, when, and through what (UI, API, import, form).
 *
 * Writes join the caller's transaction: the API layer begins it, calls
 * these, appends its audit entry, and commits, so a record, its history
 * and its audit entry are stored together or not at all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/clock.h"
#include "kura/core.h"

bool
kura_record_id_parse(const char *s, int64_t *id)
{
	char *end = NULL;
	long long v;

	*id = 0;
	if (s == NULL || *s < '1' || *s > '9' || strlen(s) > 18)
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0)
		return false;
	*id = v;
	return true;
}

static void
detail(json_t *details, const char *field, const char *code, const char *msg)
{
	json_array_append_new(details,
			      json_pack("{s:s, s:s, s:s}", "field", field, "code", code, "message", msg));
}

/* A record's values, copied out of a store callback. */
struct rec {
	bool found;
	int64_t id, created_at, updated_at, archived_at;
	struct kura_colval *cols;
	size_t n;
	struct kura_strpool *sp;
	enum kura_err e;
};

static bool
copy_row(void *ctx, const struct kura_record_row *r)
{
	struct rec *x = ctx;

	x->found = true;
	x->id = r->id;
	x->created_at = r->created_at;
	x->updated_at = r->updated_at;
	x->archived_at = r->archived_at;
	x->cols = calloc(r->ncols + 1, sizeof(*x->cols));
	if (x->cols == NULL) {
		x->e = KURA_E_NOMEM;
		return false;
	}
	for (size_t i = 0; i < r->ncols; i++) {
		x->cols[i] = r->cols[i];
		if (r->cols[i].v.kind == KURA_V_TEXT || r->cols[i].v.kind == KURA_V_BLOB) {
			x->cols[i].v.s = kura_strpool_dup(x->sp, r->cols[i].v.s, r->cols[i].v.n);
			if (x->cols[i].v.s == NULL) {
				x->e = KURA_E_NOMEM;
				return false;
			}
		}
	}
	x->n = r->ncols;
	return false;
}

/*
 * Validates properties into cols (one per given property, in the object's
 * order is not needed: in the object's iteration order). On create, a
 * required property must be given.
 */
static bool
read_props(const struct kura_rec_ctx *x, json_t *props, bool create, struct kura_strpool *sp,
	   struct kura_colval **cols, size_t *n, json_t *details)
{
	const struct kura_object *o = x->obj;
	size_t before = json_array_size(details);
	const char *key;
	json_t *v;

	*cols = NULL;
	*n = 0;
	if (!json_is_object(props)) {
		detail(details, "properties", "invalid_type", "properties must be an object");
		return false;
	}
	if (json_object_size(props) > KURA_PROPS_PER_OBJECT_MAX) {
		detail(details, "properties", "too_many", "too many properties");
		return false;
	}
	*cols = calloc(json_object_size(props) + 1, sizeof(**cols));
	if (*cols == NULL) {
		detail(details, "properties", "internal", "out of memory");
		return false;
	}
	json_object_foreach(props, key, v) {
		const struct kura_prop *p = kura_object_prop(o, key);
		struct kura_colval *cv;

		if (p == NULL) {
			detail(details, key, "unknown_property",
			       "no such property on this object");
			continue;
		}
		if (!kura_prop_can_edit(p, x->role, x->teams)) {
			detail(details, key, "forbidden", "your role may not change this property");
			continue;
		}
		cv = &(*cols)[*n];
		if (!kura_value_from_json(p, v, true, sp, &cv->v, details))
			continue;
		if (cv->v.kind == KURA_V_NULL && p->row.required) {
			detail(details, key, "required", "this property is required");
			continue;
		}
		cv->prop_id = p->row.id;
		(*n)++;
	}
	if (create) {
		for (size_t i = 0; i < o->nprops; i++) {
			const struct kura_prop *p = o->props[i];

			if (p->row.required && json_object_get(props, p->row.name) == NULL)
				detail(details, p->row.name, "required", "this property is required");
		}
	}
	return json_array_size(details) == before;
}

/* KURA_E_FORBIDDEN when a detail says a property may not be changed, else KURA_E_VALIDATION. */
static enum kura_err
refusal(json_t *details)
{
	size_t i;
	json_t *d;

	json_array_foreach(details, i, d) {
		if (strcmp(json_string_value(json_object_get(d, "code")), "forbidden") == 0)
			return KURA_E_FORBIDDEN;
	}
	return KURA_E_VALIDATION;
}

static const struct kura_prop *
prop_of(const struct kura_catalog *cat, int64_t id)
{
	return kura_catalog_prop_by_id(cat, id);
}

static enum kura_err
dup_detail(const struct kura_rec_ctx *x, int64_t dup_prop, json_t *details)
{
	const struct kura_prop *p = prop_of(x->cat, dup_prop);

	detail(details, p != NULL ? p->row.name : "properties", "not_unique",
	       "another record has this value");
	return KURA_E_EXISTS;
}

static enum kura_err
add_history(const struct kura_rec_ctx *x, int64_t id, json_t *changes)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	char *text;
	enum kura_err e;

	if (json_object_size(changes) == 0)
		return KURA_OK;
	text = json_dumps(changes, JSON_COMPACT | JSON_REAL_PRECISION(15));
	if (text == NULL)
		return KURA_E_NOMEM;
	e = ops->history_add(conn, x->obj->row.id, id, x->now, &x->actor, false, text);
	free(text);
	return e;
}

/* Drops what draft_seal made. */
static void
draft_unseal(struct kura_record_draft *d)
{
	free(d->sealed);
	free(d->sealed_history);
	kura_strpool_free(&d->sealed_sp);
	d->sealed = NULL;
	d->sealed_history = NULL;
	d->nsealed = 0;
}

void
kura_record_draft_free(struct kura_record_draft *d)
{
	draft_unseal(d);
	json_decref(d->props);
	free(d->cols);
	free(d->changes);
	kura_buf_free(&d->fts);
	kura_strpool_free(&d->sp);
	memset(d, 0, sizeof(*d));
}

enum kura_err
kura_record_draft_make(const struct kura_rec_ctx *x, json_t *properties, json_t *details,
		       struct kura_record_draft *d)
{
	enum kura_err e;

	memset(d, 0, sizeof(*d));
	kura_buf_init(&d->fts, 4 * 1024 * 1024);
	if (!read_props(x, properties, true, &d->sp, &d->cols, &d->n, details))
		return refusal(details);
	e = kura_fts_body(x->obj, d->cols, d->n, &d->fts);
	if (e != KURA_OK)
		return e;
	/*
	 * The stored values as the API shows them, serialised once: the same
	 * text is the creation's history entry and goes into the reply.
	 */
	d->props = json_object();
	for (size_t i = 0; i < d->n; i++) {
		const struct kura_prop *p = prop_of(x->cat, d->cols[i].prop_id);

		if (d->cols[i].v.kind != KURA_V_NULL)
			json_object_set_new(d->props, p->row.name,
					    kura_value_to_json(p, &d->cols[i].v));
	}
	d->changes = json_dumps(d->props, JSON_COMPACT | JSON_REAL_PRECISION(15));
	if (d->changes == NULL)
		e = KURA_E_NOMEM;
	return e;
}

/*
 * Seals d's sensitive values under record id into d->sealed (ciphertext
 * and blind index in place of each value) and d->sealed_history (the
 * creation's history entry, ciphertexts instead of values). Nothing to do
 * for a draft without sensitive values.
 */
static enum kura_err
draft_seal(const struct kura_rec_ctx *x, struct kura_record_draft *d, int64_t id)
{
	struct kura_colval *cols = NULL;
	json_t *h = NULL;
	bool sealed = false;
	size_t n = 0;
	enum kura_err e = KURA_OK;

	for (size_t i = 0; i < d->n && !sealed; i++) {
		const struct kura_prop *p = prop_of(x->cat, d->cols[i].prop_id);

		sealed = p != NULL && p->row.sensitive && d->cols[i].v.kind != KURA_V_NULL;
	}
	draft_unseal(d);
	if (!sealed)
		return KURA_OK;
	h = json_deep_copy(d->props);
	cols = calloc(2 * d->n + 1, sizeof(*cols));
	if (cols == NULL || h == NULL)
		e = KURA_E_NOMEM;
	for (size_t i = 0; e == KURA_OK && i < d->n; i++) {
		const struct kura_prop *p = prop_of(x->cat, d->cols[i].prop_id);
		struct kura_colval ct = {.prop_id = d->cols[i].prop_id},
				   bl = {.prop_id = d->cols[i].prop_id, .blind = true};

		if (!p->row.sensitive) {
			cols[n++] = d->cols[i];
			continue;
		}
		e = kura_sensitive_seal(x, id, p, &d->cols[i].v, &d->sealed_sp, &ct.v, &bl.v);
		cols[n++] = ct;
		cols[n++] = bl;
		/* the history holds the ciphertext, never the value */
		if (e == KURA_OK && ct.v.kind == KURA_V_BLOB)
			json_object_set_new(h, p->row.name, kura_sensitive_ct_json(&ct.v));
	}
	if (e == KURA_OK) {
		d->sealed_history = json_dumps(h, JSON_COMPACT | JSON_REAL_PRECISION(15));
		if (d->sealed_history == NULL)
			e = KURA_E_NOMEM;
	}
	json_decref(h);
	d->sealed = cols;
	d->nsealed = n;
	if (e != KURA_OK)
		draft_unseal(d);
	return e;
}

enum kura_err
kura_record_drafts_number(const struct kura_rec_ctx *x, struct kura_record_draft *const *d,
			  size_t n, bool resync)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	int64_t first = 0;
	enum kura_err e;

	if (n == 0)
		return KURA_OK;
	e = ops->record_ids(conn, x->obj->row.id, (unsigned)n, resync, &first);
	for (size_t i = 0; e == KURA_OK && i < n; i++) {
		d[i]->id = first + (int64_t)i;
		e = draft_seal(x, d[i], d[i]->id);
	}
	if (e != KURA_OK) {
		for (size_t i = 0; i < n; i++) {
			draft_unseal(d[i]);
			d[i]->id = 0;
		}
	}
	return e;
}

enum kura_err
kura_record_draft_store(const struct kura_rec_ctx *x, struct kura_record_draft *d,
			json_t *details, int64_t *id)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	bool numbered = d->id > 0;
	int64_t dup = 0;
	enum kura_err e = KURA_OK;

	*id = 0;
	/*
	 * Not numbered by kura_record_drafts_number: numbered (and sealed)
	 * here, inside the transaction; a taken id means another process
	 * numbered records meanwhile: once more past what the table holds now.
	 */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!numbered) {
			e = kura_record_drafts_number(x, &d, 1, attempt > 0);
			if (e != KURA_OK)
				break;
		}
		*id = d->id;
		e = ops->record_insert(conn, x->obj->row.id, x->now, x->actor.id,
				       d->sealed != NULL ? d->sealed : d->cols,
				       d->sealed != NULL ? d->nsealed : d->n,
				       d->fts.len > 0 ? d->fts.data : NULL, id, &dup);
		if (e != KURA_E_CONFLICT || numbered)
			break;
	}
	if (e == KURA_E_EXISTS) {
		e = dup_detail(x, dup, details);
		goto out;
	}
	if (e == KURA_OK && d->n > 0)
		e = ops->history_add(conn, x->obj->row.id, *id, x->now, &x->actor, true,
				     d->sealed_history != NULL ? d->sealed_history : d->changes);
out:
	if (e != KURA_OK)
		*id = 0;
	return e;
}

json_t *
kura_record_draft_json(const struct kura_rec_ctx *x, const struct kura_record_draft *d,
		       int64_t id)
{
	char sid[24], t[40];
	json_t *out;

	/* What was stored, without reading it back. */
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	kura_time_rfc3339(x->now, t, sizeof(t));
	out = json_pack("{s:s, s:O, s:b, s:s, s:s}", "id", sid, "properties", d->props, "archived",
			0, "createdAt", t, "updatedAt", t);
	return out;
}

enum kura_err
kura_record_create(const struct kura_rec_ctx *x, json_t *properties, json_t *details,
		   int64_t *id, json_t **rec)
{
	struct kura_record_draft d;
	enum kura_err e;

	*id = 0;
	if (rec != NULL)
		*rec = NULL;
	e = kura_record_draft_make(x, properties, details, &d);
	if (e == KURA_OK)
		e = kura_record_draft_store(x, &d, details, id);
	if (e == KURA_OK && rec != NULL) {
		*rec = kura_record_draft_json(x, &d, *id);
		if (*rec == NULL)
			e = KURA_E_NOMEM;
	}
	kura_record_draft_free(&d);
	if (e != KURA_OK)
		*id = 0;
	return e;
}

static struct kura_val *
find_col(struct kura_colval *cols, size_t n, int64_t prop_id)
{
	for (size_t i = 0; i < n; i++) {
		if (cols[i].prop_id == prop_id)
			return &cols[i].v;
	}
	return NULL;
}

enum kura_err
kura_record_update(const struct kura_rec_ctx *x, int64_t id, json_t *properties,
		   json_t *details, char *changed, size_t cn)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	struct kura_strpool sp = {0};
	struct rec cur = {.sp = &sp};
	struct kura_colval *cols = NULL, *merged = NULL, *diff = NULL, *cur_ct = NULL;
	struct kura_buf fts;
	json_t *changes = json_object();
	size_t n = 0, nm = 0, nd = 0, used = 0;
	bool text_changed = false;
	int64_t dup = 0;
	enum kura_err e;

	if (changed != NULL && cn > 0)
		changed[0] = '\0';
	kura_buf_init(&fts, 4 * 1024 * 1024);
	if (!read_props(x, properties, false, &sp, &cols, &n, details)) {
		e = refusal(details);
		goto out;
	}
	e = ops->record_get(conn, x->obj->row.id, id, false, copy_row, &cur);
	if (e == KURA_OK)
		e = cur.e;
	if (e != KURA_OK)
		goto out;
	/* Sensitive values are compared in clear; their stored ciphertexts go to the history. */
	cur_ct = calloc(cur.n + 1, sizeof(*cur_ct));
	if (cur_ct == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; e == KURA_OK && i < cur.n; i++) {
		const struct kura_prop *p = prop_of(x->cat, cur.cols[i].prop_id);

		cur_ct[i] = cur.cols[i];
		if (p != NULL && p->row.sensitive && cur.cols[i].v.kind == KURA_V_BLOB)
			e = kura_sensitive_open(x, id, p, &cur_ct[i].v, &sp, &cur.cols[i].v);
	}
	if (e != KURA_OK)
		goto out;
	merged = calloc(cur.n + n + 1, sizeof(*merged));
	diff = calloc(2 * n + 1, sizeof(*diff));
	if (merged == NULL || diff == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	memcpy(merged, cur.cols, cur.n * sizeof(*merged));
	nm = cur.n;
	for (size_t i = 0; i < n; i++) {
		const struct kura_prop *p = prop_of(x->cat, cols[i].prop_id);
		static const struct kura_val null_val = {.kind = KURA_V_NULL};
		struct kura_val *old = find_col(merged, nm, cols[i].prop_id);
		const struct kura_val *ov = old != NULL ? old : &null_val;

		if (kura_val_equal(ov, &cols[i].v) || find_col(diff, nd, cols[i].prop_id) != NULL)
			continue;
		if (p->row.sensitive) {
			struct kura_val *oct = find_col(cur_ct, cur.n, cols[i].prop_id);
			struct kura_colval ct = {.prop_id = p->row.id}, bl = {.prop_id = p->row.id,
									  .blind = true};

			e = kura_sensitive_seal(x, id, p, &cols[i].v, &sp, &ct.v, &bl.v);
			/*
			 * An old value still in clear (the property is being
			 * encrypted) enters the history sealed, as the job would.
			 */
			if (e == KURA_OK && oct != NULL && oct->kind != KURA_V_BLOB &&
			    oct->kind != KURA_V_NULL) {
				struct kura_val oc;

				e = kura_sensitive_encrypt(x, id, p, oct, &sp, &oc);
				if (e == KURA_OK)
					*oct = oc;
			}
			if (e != KURA_OK)
				goto out;
			json_object_set_new(changes, p->row.name,
					    json_pack("[o, o]",
						      oct != NULL && oct->kind == KURA_V_BLOB
							      ? kura_sensitive_ct_json(oct)
							      : json_null(),
						      ct.v.kind == KURA_V_BLOB
							      ? kura_sensitive_ct_json(&ct.v)
							      : json_null()));
			diff[nd++] = ct;
			diff[nd++] = bl;
		} else {
			json_object_set_new(changes, p->row.name,
					    json_pack("[o, o]", kura_value_to_json(p, ov),
						      kura_value_to_json(p, &cols[i].v)));
			diff[nd++] = cols[i];
		}
		if (p->searchable)
			text_changed = true;
		if (old != NULL)
			*old = cols[i].v;
		else
			merged[nm++] = cols[i];
		if (changed != NULL && used + strlen(p->row.name) + 2 < cn)
			used += (size_t)snprintf(changed + used, cn - used, "%s%s",
						 used > 0 ? "," : "", p->row.name);
	}
	if (nd == 0)
		goto out; /* nothing changed: no write, no history */
	if (text_changed) {
		e = kura_fts_body(x->obj, merged, nm, &fts);
		if (e != KURA_OK)
			goto out;
	}
	e = ops->record_update(conn, x->obj->row.id, id, x->now, diff, nd,
			       text_changed ? (fts.len > 0 ? fts.data : "") : NULL, &dup);
	if (e == KURA_E_EXISTS) {
		e = dup_detail(x, dup, details);
		goto out;
	}
	if (e == KURA_OK)
		e = add_history(x, id, changes);
out:
	json_decref(changes);
	kura_buf_free(&fts);
	free(cols);
	free(merged);
	free(diff);
	free(cur_ct);
	free(cur.cols);
	kura_strpool_free(&sp);
	return e;
}

/* The JSON of one stored value, opening a sensitive one (and noting the read). */
static json_t *
value_json(const struct kura_rec_ctx *x, const struct kura_prop *p, int64_t record_id,
	   const struct kura_val *v, struct kura_strpool *sp, bool *opened, enum kura_err *e)
{
	struct kura_val clear;

	if (p->row.sensitive && v->kind != KURA_V_BLOB && v->kind != KURA_V_NULL) {
		/*
		 * Clear text where ciphertext belongs: a value the encryption job
		 * has not reached yet while the property is being encrypted (shown
		 * and noted like an opened one), tampering otherwise.
		 */
		if (p->row.enc_state != KURA_ENC_PENDING) {
			*e = KURA_E_CRYPTO;
			return NULL;
		}
		*opened = true;
		return kura_value_to_json(p, v);
	}
	if (!p->row.sensitive || v->kind != KURA_V_BLOB)
		return kura_value_to_json(p, v);
	*e = kura_sensitive_open(x, record_id, p, v, sp, &clear);
	if (*e != KURA_OK)
		return NULL;
	*opened = true;
	return kura_value_to_json(p, &clear);
}

json_t *
kura_record_row_json(const struct kura_rec_ctx *x, const struct kura_record_row *r, json_t *want,
		     enum kura_err *e)
{
	const struct kura_object *o = x->obj;
	json_t *props = json_object();
	struct kura_strpool sp = {0};
	char id[24], t[40], read[KURA_AUDIT_PROPS_MAX + 1];
	size_t used = 0;
	json_t *out = NULL;

	*e = KURA_OK;
	read[0] = '\0';
	for (size_t k = 0; k < r->ncols && *e == KURA_OK; k++) {
		const struct kura_prop *p = kura_catalog_prop_by_id(x->cat, r->cols[k].prop_id);
		bool opened = false, wanted = want == NULL;
		json_t *v;

		/*
		 * Archived properties keep their values but are no longer shown;
		 * one the caller's role may not view is left out (not masked).
		 */
		if (p == NULL || p->row.archived_at != 0 || p->row.object_id != o->row.id ||
		    !kura_prop_can_view(p, x->role, x->teams))
			continue;
		for (size_t w = 0; !wanted && w < json_array_size(want); w++)
			wanted = strcmp(json_string_value(json_array_get(want, w)), p->row.name) == 0;
		if (!wanted)
			continue;
		v = value_json(x, p, r->id, &r->cols[k].v, &sp, &opened, e);
		if (v == NULL) {
			if (*e == KURA_OK)
				*e = KURA_E_NOMEM;
			break;
		}
		json_object_set_new(props, p->row.name, v);
		if (opened && used + strlen(p->row.name) + 2 < sizeof(read))
			used += (size_t)snprintf(read + used, sizeof(read) - used, "%s%s",
						 used > 0 ? "," : "", p->row.name);
	}
	kura_strpool_free(&sp);
	if (*e != KURA_OK) {
		json_decref(props);
		return NULL;
	}
	/* Asked-for properties without a value are shown as null. */
	for (size_t w = 0; want != NULL && w < json_array_size(want); w++) {
		const char *name = json_string_value(json_array_get(want, w));

		const struct kura_prop *p = kura_object_prop(o, name);

		if (name != NULL && json_object_get(props, name) == NULL && p != NULL &&
		    kura_prop_can_view(p, x->role, x->teams))
			json_object_set_new(props, name, json_null());
	}
	if (read[0] != '\0' && x->sensitive_reads != NULL)
		json_array_append_new(x->sensitive_reads,
				      json_pack("{s:I, s:s}", "id", (json_int_t)r->id, "props", read));
	snprintf(id, sizeof(id), "%lld", (long long)r->id);
	out = json_pack("{s:s, s:o, s:b}", "id", id, "properties", props, "archived",
			r->archived_at != 0);
	kura_time_rfc3339(r->created_at, t, sizeof(t));
	json_object_set_new(out, "createdAt", json_string(t));
	kura_time_rfc3339(r->updated_at, t, sizeof(t));
	json_object_set_new(out, "updatedAt", json_string(t));
	if (r->archived_at != 0) {
		kura_time_rfc3339(r->archived_at, t, sizeof(t));
		json_object_set_new(out, "archivedAt", json_string(t));
	}
	return out;
}

struct json_ctx {
	const struct kura_rec_ctx *x;
	json_t *want;
	json_t *out;
	enum kura_err e;
};

static bool
row_to_json(void *ctx, const struct kura_record_row *r)
{
	struct json_ctx *j = ctx;

	j->out = kura_record_row_json(j->x, r, j->want, &j->e);
	return false;
}

enum kura_err
kura_record_json(const struct kura_rec_ctx *x, int64_t id, bool archived, json_t *want,
		 json_t **out)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	struct json_ctx j = {.x = x, .want = want};
	enum kura_err e;

	*out = NULL;
	e = ops->record_get(conn, x->obj->row.id, id, archived, row_to_json, &j);
	if (e == KURA_OK && j.out == NULL)
		e = j.e != KURA_OK ? j.e : KURA_E_NOMEM;
	if (e != KURA_OK) {
		json_decref(j.out);
		return e;
	}
	*out = j.out;
	return KURA_OK;
}

enum kura_err
kura_record_archive(const struct kura_rec_ctx *x, int64_t id)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);

	return ops->record_archive(conn, x->obj->row.id, id, x->now);
}

enum kura_err
kura_record_restore(const struct kura_rec_ctx *x, int64_t id, json_t *details)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	struct kura_strpool sp = {0};
	struct rec cur = {.sp = &sp};
	struct kura_buf fts;
	int64_t dup = 0;
	enum kura_err e;

	kura_buf_init(&fts, 4 * 1024 * 1024);
	e = ops->record_get(conn, x->obj->row.id, id, true, copy_row, &cur);
	if (e == KURA_OK)
		e = cur.e;
	if (e == KURA_OK && cur.archived_at == 0)
		e = KURA_E_NOT_FOUND; /* not archived: nothing to restore */
	if (e == KURA_OK)
		e = kura_fts_body(x->obj, cur.cols, cur.n, &fts);
	if (e == KURA_OK)
		e = ops->record_restore(conn, x->obj->row.id, id, x->now,
					fts.len > 0 ? fts.data : NULL, &dup);
	if (e == KURA_E_EXISTS)
		e = dup_detail(x, dup, details);
	kura_buf_free(&fts);
	free(cur.cols);
	kura_strpool_free(&sp);
	return e;
}

struct att_ids {
	int64_t ids[256];
	size_t n;
	bool more;
};

static bool
note_attachment(void *ctx, const struct kura_attachment_row *a)
{
	struct att_ids *x = ctx;

	if (x->n == sizeof(x->ids) / sizeof(x->ids[0])) {
		x->more = true;
		return false;
	}
	x->ids[x->n++] = a->id;
	return true;
}

enum kura_err
kura_record_purge(const struct kura_rec_ctx *x, int64_t id)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	struct att_ids a = {0};
	enum kura_err e;

	/* The attachments' files go with the record (their rows go in record_purge). */
	do {
		a.n = 0;
		a.more = false;
		e = ops->attachment_list(conn, x->obj->row.id, id, note_attachment, &a);
		for (size_t i = 0; e == KURA_OK && i < a.n; i++) {
			e = ops->file_delete(conn, a.ids[i]);
			if (e == KURA_OK)
				e = ops->attachment_delete(conn, x->obj->row.id, id, a.ids[i]);
		}
	} while (e == KURA_OK && a.more);
	if (e == KURA_OK)
		e = ops->record_purge(conn, x->obj->row.id, id);
	return e;
}

enum kura_err
kura_records_sweep(struct kura_tenant_db *db, const struct kura_catalog *cat, int64_t now,
		   unsigned max, size_t *n)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(db, &conn);
	int64_t ids[256];
	enum kura_err e = KURA_OK;

	*n = 0;
	if (max > 256)
		max = 256;
	for (size_t o = 0; e == KURA_OK && o < cat->nobjects && *n < max; o++) {
		size_t got = 0;

		e = ops->record_archived_before(conn, cat->objects[o].row.id,
						now - KURA_RESTORE_WINDOW_US, (unsigned)(max - *n),
						ids, &got);
		for (size_t i = 0; e == KURA_OK && i < got; i++) {
			struct kura_rec_ctx x = {.db = db, .cat = cat, .obj = &cat->objects[o]};

			e = kura_record_purge(&x, ids[i]);
		}
		if (e == KURA_OK)
			*n += got;
	}
	return e;
}

struct ids {
	int64_t *v;
	size_t n, cap;
	enum kura_err e;
};

static bool
collect_id(void *ctx, int64_t record_id, const struct kura_val *v)
{
	struct ids *x = ctx;

	(void)v;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 256;
		int64_t *nv = realloc(x->v, cap * sizeof(*nv));

		if (nv == NULL) {
			x->e = KURA_E_NOMEM;
			return false;
		}
		x->v = nv;
		x->cap = cap;
	}
	x->v[x->n++] = record_id;
	return true;
}

enum kura_err
kura_records_reindex(const struct kura_rec_ctx *x, int64_t prop_id)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	struct ids ids = {0};
	enum kura_err e;

	e = ops->prop_values(conn, x->obj->row.id, prop_id, collect_id, &ids);
	if (e == KURA_OK)
		e = ids.e;
	for (size_t i = 0; e == KURA_OK && i < ids.n; i++)
		e = kura_record_reindex_one(x, ids.v[i]);
	free(ids.v);
	return e;
}

enum kura_err
kura_record_reindex_one(const struct kura_rec_ctx *x, int64_t id)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	struct kura_strpool sp = {0};
	struct rec cur = {.sp = &sp};
	struct kura_buf fts;
	enum kura_err e;

	kura_buf_init(&fts, 4 * 1024 * 1024);
	e = ops->record_get(conn, x->obj->row.id, id, false, copy_row, &cur);
	if (e == KURA_E_NOT_FOUND) {
		e = KURA_OK; /* archived: out of the index until restored */
	} else {
		if (e == KURA_OK)
			e = cur.e;
		if (e == KURA_OK)
			e = kura_fts_body(x->obj, cur.cols, cur.n, &fts);
		if (e == KURA_OK)
			e = ops->fts_set(conn, x->obj->row.id, id, fts.len > 0 ? fts.data : NULL);
	}
	kura_buf_free(&fts);
	free(cur.cols);
	kura_strpool_free(&sp);
	return e;
}
