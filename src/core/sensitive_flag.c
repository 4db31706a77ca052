/*
 * Turning the sensitive flag of a property that already holds values.
 *
 * On: the property is sensitive from the request that turns it on (new
 * writes seal, reads apply field-level permissions, its values leave the
 * text index) and is marked pending; kurad's housekeeping then encrypts
 * the values still in clear, and the history entries that hold them, a
 * batch per short transaction (kura_sensitive_flag_step), and ends the
 * state when a pass finds nothing left. A value's form tells which it
 * is: ciphertext is a BLOB, a value in clear is not.
 *
 * Off (forced by a super admin): everything is decrypted back at once, in
 * the request's transaction (kura_sensitive_flag_off).
 *
 * The blind index of a sensitive property ("indexed") turned on while it
 * holds values goes the same way: pending, and the job computes the index
 * of each sealed value still without one (kura_sensitive_flag_on, then
 * the same steps).
 */
#include <stdlib.h>
#include <string.h>

#include "kura/clock.h"
#include "kura/core.h"

/*
 * A step stops sealing after this much work even before its batch is
 * full: a blind index can be deliberately slow to compute (low-entropy
 * types), and requests wait for the write lock meanwhile.
 */
#define STEP_BUDGET_US 150000

static bool
textual(const struct kura_prop *p)
{
	return p->type == KURA_PT_STRING || p->type == KURA_PT_TEXT || p->type == KURA_PT_EMAIL ||
	       p->type == KURA_PT_PHONE || p->type == KURA_PT_URL;
}

static bool
count_one(void *ctx, int64_t id, const struct kura_val *v)
{
	(void)id;
	(void)v;
	(*(int64_t *)ctx)++;
	return true;
}

enum kura_err
kura_sensitive_flag_on(const struct kura_rec_ctx *x, const struct kura_prop *p, int64_t *total)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	enum kura_err e;

	*total = 0;
	e = ops->prop_values(conn, x->obj->row.id, p->row.id, count_one, total);
	if (e == KURA_OK && *total > 0)
		e = ops->prop_enc_set(conn, p->row.id, KURA_ENC_PENDING, *total);
	if (e != KURA_OK)
		*total = 0;
	return e;
}

/* Values (or history rows) copied out of a store callback. */
struct batch {
	int64_t *ids;
	int64_t *recs;
	bool *initial;
	struct kura_val *vals;
	char **texts;
	struct kura_strpool *sp;
	size_t n, cap;
	enum kura_err e;
};

static enum kura_err
batch_init(struct batch *b, unsigned max, struct kura_strpool *sp)
{
	memset(b, 0, sizeof(*b));
	b->sp = sp;
	b->cap = max;
	b->ids = calloc(max + 1, sizeof(*b->ids));
	b->recs = calloc(max + 1, sizeof(*b->recs));
	b->initial = calloc(max + 1, sizeof(*b->initial));
	b->vals = calloc(max + 1, sizeof(*b->vals));
	b->texts = calloc(max + 1, sizeof(*b->texts));
	if (b->ids == NULL || b->recs == NULL || b->initial == NULL || b->vals == NULL ||
	    b->texts == NULL)
		return KURA_E_NOMEM;
	return KURA_OK;
}

static void
batch_free(struct batch *b)
{
	free(b->ids);
	free(b->recs);
	free(b->initial);
	free(b->vals);
	free(b->texts);
	memset(b, 0, sizeof(*b));
}

static bool
collect_value(void *ctx, int64_t id, const struct kura_val *v)
{
	struct batch *b = ctx;

	if (b->n == b->cap)
		return false;
	b->ids[b->n] = id;
	b->vals[b->n] = *v;
	if (v->kind == KURA_V_TEXT || v->kind == KURA_V_BLOB) {
		b->vals[b->n].s = kura_strpool_dup(b->sp, v->s, v->n);
		if (b->vals[b->n].s == NULL) {
			b->e = KURA_E_NOMEM;
			return false;
		}
	}
	b->n++;
	return true;
}

static bool
collect_history(void *ctx, const struct kura_history_row *h)
{
	struct batch *b = ctx;

	if (b->n == b->cap)
		return false;
	b->ids[b->n] = h->id;
	b->recs[b->n] = h->record_id;
	b->initial[b->n] = h->initial;
	b->texts[b->n] = kura_strpool_dup(b->sp, h->changes, strlen(h->changes));
	if (b->texts[b->n] == NULL) {
		b->e = KURA_E_NOMEM;
		return false;
	}
	b->n++;
	return true;
}

/*
 * One history value of p: sealed (to_clear false: a value in clear becomes
 * {"$enc": ...}) or opened (to_clear true: {"$enc": ...} becomes the
 * value). Anything else is kept. A new reference, or NULL with *e set.
 */
static json_t *
turn_value(const struct kura_rec_ctx *x, const struct kura_prop *p, int64_t record_id,
	   json_t *v, bool to_clear, struct kura_strpool *sp, enum kura_err *e)
{
	struct kura_val in, out;

	if (v == NULL || json_is_null(v))
		return json_null();
	if (to_clear) {
		if (!json_is_object(v))
			return json_incref(v);
		*e = kura_sensitive_ct_from_json(v, sp, &in);
		if (*e == KURA_OK)
			*e = kura_sensitive_open(x, record_id, p, &in, sp, &out);
		return *e == KURA_OK ? kura_value_to_json(p, &out) : NULL;
	}
	if (json_is_object(v))
		return json_incref(v);
	if (!kura_value_from_json(p, v, false, sp, &in, NULL)) {
		/* an entry from before a type change: sealed as the text of its JSON */
		char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

		memset(&in, 0, sizeof(in));
		in.kind = KURA_V_TEXT;
		in.s = t != NULL ? kura_strpool_dup(sp, t, strlen(t)) : NULL;
		in.n = t != NULL ? strlen(t) : 0;
		free(t);
		if (in.s == NULL) {
			*e = KURA_E_NOMEM;
			return NULL;
		}
	}
	/* a history entry needs no blind index */
	*e = kura_sensitive_encrypt(x, record_id, p, &in, sp, &out);
	if (*e != KURA_OK)
		return NULL;
	return out.kind == KURA_V_BLOB ? kura_sensitive_ct_json(&out) : json_null();
}

/*
 * Rewrites the history entries of b (texts) with p's values turned; with
 * started (not 0), stops once STEP_BUDGET_US have passed since then (the
 * entries left are found again by the next step).
 */
static enum kura_err
turn_history(const struct kura_rec_ctx *x, const struct kura_prop *p, struct batch *b,
	     bool to_clear, struct kura_strpool *sp, int64_t started)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	enum kura_err e = KURA_OK;

	for (size_t i = 0; e == KURA_OK && i < b->n; i++) {
		if (started != 0 && i > 0 && kura_mono_us() - started > STEP_BUDGET_US)
			break;
		json_error_t je;
		json_t *changes = json_loads(b->texts[i], 0, &je), *v, *nv = NULL;
		char *text = NULL;

		v = json_object_get(changes, p->row.name);
		if (v == NULL) {
			e = KURA_E_INTERNAL;
		} else if (b->initial[i]) {
			nv = turn_value(x, p, b->recs[i], v, to_clear, sp, &e);
		} else {
			json_t *a = turn_value(x, p, b->recs[i], json_array_get(v, 0), to_clear, sp,
					       &e);
			json_t *c = a != NULL ? turn_value(x, p, b->recs[i], json_array_get(v, 1),
							   to_clear, sp, &e)
					      : NULL;

			if (a != NULL && c != NULL)
				nv = json_pack("[o, o]", a, c);
			else {
				json_decref(a);
				json_decref(c);
			}
		}
		if (e == KURA_OK && nv == NULL)
			e = KURA_E_NOMEM;
		if (e == KURA_OK) {
			json_object_set_new(changes, p->row.name, nv);
			text = json_dumps(changes, JSON_COMPACT | JSON_REAL_PRECISION(17));
			e = text != NULL ? ops->history_set(conn, b->ids[i], text) : KURA_E_NOMEM;
		}
		free(text);
		json_decref(changes);
	}
	return e;
}

enum kura_err
kura_sensitive_flag_step(const struct kura_rec_ctx *x, const struct kura_prop *p, unsigned max,
			 size_t *done, enum kura_enc_step *step)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	struct kura_strpool sp = {0};
	struct batch b;
	int state = 0;
	int64_t n_done = 0, total = 0;
	size_t values = 0;
	int64_t started;
	bool out_of_time = false;
	enum kura_err e;

	*done = 0;
	*step = KURA_ENC_IDLE;
	e = batch_init(&b, max, &sp);
	/* Read inside the transaction: a forced turn-off since the catalogue was read ends it. */
	if (e == KURA_OK)
		e = ops->prop_enc_get(conn, p->row.id, &state, &n_done, &total);
	if (e != KURA_OK || state != KURA_ENC_PENDING)
		goto out;
	if (x->keys == NULL) {
		e = KURA_E_CRYPTO;
		goto out;
	}
	*step = KURA_ENC_MORE;
	e = ops->prop_values_form(conn, x->obj->row.id, p->row.id, KURA_FORM_CLEAR, max,
				  collect_value, &b);
	if (e == KURA_OK)
		e = b.e;
	/* then, with a blind index, the sealed values still without theirs */
	if (e == KURA_OK && b.n < max && kura_prop_blind_indexed(p))
		e = ops->prop_values_form(conn, x->obj->row.id, p->row.id, KURA_FORM_UNBLINDED,
					  (unsigned)(max - b.n), collect_value, &b);
	if (e == KURA_OK)
		e = b.e;
	started = kura_mono_us();
	for (size_t i = 0; e == KURA_OK && i < b.n; i++) {
		struct kura_val ct, blind;

		if (i > 0 && kura_mono_us() - started > STEP_BUDGET_US) {
			b.n = i;
			out_of_time = true;
			break;
		}
		if (b.vals[i].kind == KURA_V_BLOB) {
			struct kura_val clear;

			e = kura_sensitive_open(x, b.ids[i], p, &b.vals[i], &sp, &clear);
			if (e == KURA_OK)
				e = kura_sensitive_blind(x, p, &clear, &blind.i);
			if (e == KURA_OK)
				e = ops->prop_blind_put_if(conn, x->obj->row.id, p->row.id,
							   b.ids[i], &b.vals[i], blind.i);
			continue;
		}
		e = kura_sensitive_seal(x, b.ids[i], p, &b.vals[i], &sp, &ct, &blind);
		if (e == KURA_OK)
			e = ops->prop_value_put(conn, x->obj->row.id, p->row.id, b.ids[i], &ct,
						&blind);
		/* the body may still hold the value, if a write put it back meanwhile */
		if (e == KURA_OK && textual(p))
			e = kura_record_reindex_one(x, b.ids[i]);
	}
	values = b.n;
	if (e == KURA_OK && values > 0)
		e = ops->prop_enc_step(conn, p->row.id, (int64_t)values);
	if (e != KURA_OK || values == max || out_of_time)
		goto out;
	/* Then the history entries that hold its values in clear. */
	kura_strpool_free(&sp);
	b.n = 0;
	b.cap = max - values;
	e = ops->history_of_prop(conn, x->obj->row.id, p->row.name, false, (unsigned)b.cap,
				 collect_history, &b);
	if (e == KURA_OK)
		e = b.e;
	if (e == KURA_OK)
		e = turn_history(x, p, &b, false, &sp, started);
	if (e != KURA_OK || values + b.n > 0)
		goto out;
	/* A pass that found nothing: the property is fully encrypted. */
	e = ops->prop_enc_set(conn, p->row.id, KURA_ENC_NONE, 0);
	if (e == KURA_OK && textual(p))
		e = kura_sensitive_flag_fts_purge(x);
	if (e == KURA_OK)
		*step = KURA_ENC_FINISHED;
out:
	*done = e == KURA_OK ? values : 0;
	batch_free(&b);
	kura_strpool_free(&sp);
	return e;
}

enum kura_err
kura_sensitive_flag_off(const struct kura_rec_ctx *x, const struct kura_prop *p, size_t *done)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	struct kura_strpool sp = {0};
	struct batch b;
	int state = 0;
	int64_t n_done = 0, total = 0;
	enum kura_err e;

	*done = 0;
	e = batch_init(&b, KURA_ENC_BATCH, &sp);
	if (e == KURA_OK && x->keys == NULL)
		e = KURA_E_CRYPTO;
	/*
	 * Each pass takes what is still sealed, so it ends when nothing is;
	 * all of it in the caller's transaction (all or nothing).
	 */
	while (e == KURA_OK) {
		b.n = 0;
		e = ops->prop_values_form(conn, x->obj->row.id, p->row.id, KURA_FORM_SEALED,
					  KURA_ENC_BATCH, collect_value, &b);
		if (e == KURA_OK)
			e = b.e;
		for (size_t i = 0; e == KURA_OK && i < b.n; i++) {
			struct kura_val clear;

			e = kura_sensitive_open(x, b.ids[i], p, &b.vals[i], &sp, &clear);
			if (e == KURA_OK)
				e = ops->prop_value_put(conn, x->obj->row.id, p->row.id, b.ids[i],
							&clear, NULL);
		}
		*done += e == KURA_OK ? b.n : 0;
		kura_strpool_free(&sp);
		if (b.n < KURA_ENC_BATCH)
			break;
	}
	while (e == KURA_OK) {
		b.n = 0;
		e = ops->history_of_prop(conn, x->obj->row.id, p->row.name, true, KURA_ENC_BATCH,
					 collect_history, &b);
		if (e == KURA_OK)
			e = b.e;
		if (e == KURA_OK)
			e = turn_history(x, p, &b, true, &sp, 0);
		kura_strpool_free(&sp);
		if (b.n < KURA_ENC_BATCH)
			break;
	}
	if (e == KURA_OK)
		e = ops->prop_enc_get(conn, p->row.id, &state, &n_done, &total);
	if (e == KURA_OK && state != KURA_ENC_NONE)
		e = ops->prop_enc_set(conn, p->row.id, KURA_ENC_NONE, 0);
	if (e != KURA_OK)
		*done = 0;
	batch_free(&b);
	kura_strpool_free(&sp);
	return e;
}

enum kura_err
kura_sensitive_flag_progress(const struct kura_rec_ctx *x, const struct kura_prop *p, int *state,
			     int64_t *done, int64_t *total)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);

	return ops->prop_enc_get(conn, p->row.id, state, done, total);
}

enum kura_err
kura_sensitive_flag_fts_purge(const struct kura_rec_ctx *x)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);

	return ops->fts_optimize(conn, x->obj->row.id);
}
