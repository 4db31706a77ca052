/*
 * Sensitive properties: their values are stored only as AES-256-GCM
 * ciphertext (crypto/field.c) bound to tenant, object type, record and
 * property, next to a blind index for exact-match search. This file turns
 * a stored-form value into ciphertext and back, and computes the blind
 * index of a value's normalised form:
 *     text     NFKC (full-width and half-width forms meet), spaces trimmed
 *     e-mail   also lower-cased
 *     phone    digits only
 *     numbers  their decimal form
 * The plaintext under the ciphertext is one kind byte ('t' text, 'i'
 * integer, 'r' real) and the value (text bytes, or 8 bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uninorm.h>

#include "kura/core.h"
#include "kura/crypto.h"

/* "<object>.<property>": selects the property's subkeys. */
static void
object_prop(const struct kura_rec_ctx *x, const struct kura_prop *p, char *out, size_t n)
{
	snprintf(out, n, "%s.%s", x->obj->row.name, p->row.name);
}

static void
field_ctx(const struct kura_rec_ctx *x, const struct kura_prop *p, int64_t record_id,
	  const char *op, struct kura_field_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->tenant = kura_store_tenant_id(x->db);
	c->key_version = x->key_version;
	c->object = x->obj->row.name;
	c->record_id = record_id;
	c->name = p->row.name;
	c->object_prop = op;
}

/* The normalised text of a stored-form value, for its blind index (malloc'd). */
static char *
normalise(const struct kura_prop *p, const struct kura_val *v, size_t *len)
{
	char num[40];
	uint8_t *nf = NULL;
	size_t nlen = 0, a, b;
	char *out;

	*len = 0;
	if (v->kind == KURA_V_INT || v->kind == KURA_V_REAL) {
		if (v->kind == KURA_V_INT)
			snprintf(num, sizeof(num), "%lld", (long long)v->i);
		else
			snprintf(num, sizeof(num), "%.17g", v->d);
		*len = strlen(num);
		return strdup(num);
	}
	if (v->kind != KURA_V_TEXT)
		return NULL;
	nf = u8_normalize(UNINORM_NFKC, (const uint8_t *)v->s, v->n, NULL, &nlen);
	if (nf == NULL)
		return NULL;
	out = malloc(nlen + 1);
	if (out == NULL) {
		free(nf);
		return NULL;
	}
	/* trim ASCII spaces at both ends (NFKC made ideographic spaces plain) */
	for (a = 0; a < nlen && nf[a] == ' '; a++)
		;
	for (b = nlen; b > a && nf[b - 1] == ' '; b--)
		;
	nlen = 0;
	for (size_t i = a; i < b; i++) {
		char c = (char)nf[i];

		if (p->type == KURA_PT_PHONE) {
			if (c >= '0' && c <= '9')
				out[nlen++] = c;
			continue;
		}
		if (p->type == KURA_PT_EMAIL && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[nlen++] = c;
	}
	out[nlen] = '\0';
	free(nf);
	*len = nlen;
	return out;
}

bool
kura_prop_low_entropy(const struct kura_prop *p)
{
	switch (p->type) {
	case KURA_PT_DATE:
	case KURA_PT_NUMBER:
	case KURA_PT_BOOL:
	case KURA_PT_ENUM:
		return true;
	default:
		return false;
	}
}

bool
kura_prop_blind_indexed(const struct kura_prop *p)
{
	return p->row.sensitive && p->row.indexed;
}

uint32_t
kura_blind_write_version(const struct kura_prop *p)
{
	if (p->row.bidx_next != 0)
		return p->row.bidx_next;
	return p->row.bidx_version != 0 ? p->row.bidx_version : 1;
}

enum kura_err
kura_sensitive_blind_at(const struct kura_rec_ctx *x, const struct kura_prop *p,
			const struct kura_val *v, uint32_t version, int64_t *blind)
{
	uint8_t b[KURA_BLIND_BYTES];
	char op[KURA_OBJECT_NAME_MAX + KURA_PROP_NAME_MAX + 2];
	size_t n = 0;
	char *norm;
	enum kura_err e;

	*blind = 0;
	if (x->keys == NULL || version == 0)
		return KURA_E_CRYPTO;
	norm = normalise(p, v, &n);
	if (norm == NULL)
		return KURA_E_NOMEM;
	object_prop(x, p, op, sizeof(op));
	if (kura_prop_low_entropy(p))
		e = kura_field_blind_slow(x->keys, kura_store_tenant_id(x->db), version, op, norm,
					  n, b);
	else
		e = kura_field_blind(x->keys, kura_store_tenant_id(x->db), version, op, norm, n, b);
	sodium_memzero(norm, n);
	free(norm);
	if (e == KURA_OK)
		*blind = kura_blind_lo(version) + (((int64_t)b[0] << 8) | b[1]);
	return e;
}

enum kura_err
kura_sensitive_blind(const struct kura_rec_ctx *x, const struct kura_prop *p,
		     const struct kura_val *v, int64_t *blind)
{
	return kura_sensitive_blind_at(x, p, v, kura_blind_write_version(p), blind);
}

size_t
kura_sensitive_blind_lookup(const struct kura_rec_ctx *x, const struct kura_prop *p,
			    const struct kura_val *v, int64_t out[2], enum kura_err *err)
{
	uint32_t cur = p->row.bidx_version != 0 ? p->row.bidx_version : 1;

	*err = kura_sensitive_blind_at(x, p, v, cur, &out[0]);
	if (*err != KURA_OK)
		return 0;
	if (p->row.bidx_next == 0)
		return 1;
	*err = kura_sensitive_blind_at(x, p, v, p->row.bidx_next, &out[1]);
	return *err == KURA_OK ? 2 : 0;
}

enum kura_err
kura_sensitive_encrypt(const struct kura_rec_ctx *x, int64_t record_id, const struct kura_prop *p,
		       const struct kura_val *in, struct kura_strpool *sp, struct kura_val *ct)
{
	struct kura_field_ctx c;
	char op[KURA_OBJECT_NAME_MAX + KURA_PROP_NAME_MAX + 2];
	uint8_t *pt = NULL, *out = NULL;
	size_t ptlen, outlen = 0;
	enum kura_err e;

	memset(ct, 0, sizeof(*ct));
	if (in->kind == KURA_V_NULL) {
		ct->kind = KURA_V_NULL;
		return KURA_OK;
	}
	if (x->keys == NULL)
		return KURA_E_CRYPTO;
	ptlen = in->kind == KURA_V_TEXT ? 1 + in->n : 1 + 8;
	pt = malloc(ptlen);
	if (pt == NULL)
		return KURA_E_NOMEM;
	if (in->kind == KURA_V_TEXT) {
		pt[0] = 't';
		memcpy(pt + 1, in->s, in->n);
	} else if (in->kind == KURA_V_INT) {
		pt[0] = 'i';
		memcpy(pt + 1, &in->i, 8);
	} else {
		pt[0] = 'r';
		memcpy(pt + 1, &in->d, 8);
	}
	object_prop(x, p, op, sizeof(op));
	field_ctx(x, p, record_id, op, &c);
	e = kura_field_encrypt(x->keys, &c, pt, ptlen, &out, &outlen);
	sodium_memzero(pt, ptlen);
	free(pt);
	if (e != KURA_OK)
		return e;
	ct->kind = KURA_V_BLOB;
	ct->s = kura_strpool_dup(sp, (const char *)out, outlen);
	ct->n = outlen;
	free(out);
	return ct->s != NULL ? KURA_OK : KURA_E_NOMEM;
}

enum kura_err
kura_sensitive_seal(const struct kura_rec_ctx *x, int64_t record_id, const struct kura_prop *p,
		    const struct kura_val *in, struct kura_strpool *sp, struct kura_val *ct,
		    struct kura_val *blind)
{
	enum kura_err e;

	memset(blind, 0, sizeof(*blind));
	e = kura_sensitive_encrypt(x, record_id, p, in, sp, ct);
	/* "indexed": false: no blind index, so nothing to find it by (nor to compare) */
	if (e != KURA_OK || in->kind == KURA_V_NULL || !kura_prop_blind_indexed(p)) {
		blind->kind = KURA_V_NULL;
		return e;
	}
	blind->kind = KURA_V_INT;
	return kura_sensitive_blind(x, p, in, &blind->i);
}

enum kura_err
kura_sensitive_open(const struct kura_rec_ctx *x, int64_t record_id, const struct kura_prop *p,
		    const struct kura_val *ct, struct kura_strpool *sp, struct kura_val *out)
{
	struct kura_field_ctx c;
	char op[KURA_OBJECT_NAME_MAX + KURA_PROP_NAME_MAX + 2];
	uint8_t *pt = NULL;
	size_t n = 0;
	enum kura_err e;

	memset(out, 0, sizeof(*out));
	if (ct->kind == KURA_V_NULL)
		return KURA_OK;
	/* A sensitive property holds ciphertext only: anything else is tampering. */
	if (ct->kind != KURA_V_BLOB || x->keys == NULL)
		return KURA_E_CRYPTO;
	object_prop(x, p, op, sizeof(op));
	field_ctx(x, p, record_id, op, &c);
	e = kura_field_decrypt(x->keys, &c, (const uint8_t *)ct->s, ct->n, &pt, &n);
	if (e != KURA_OK)
		return e;
	if (n >= 1 && pt[0] == 't') {
		out->kind = KURA_V_TEXT;
		out->s = kura_strpool_dup(sp, (const char *)pt + 1, n - 1);
		out->n = n - 1;
		if (out->s == NULL)
			e = KURA_E_NOMEM;
	} else if (n == 9 && pt[0] == 'i') {
		out->kind = KURA_V_INT;
		memcpy(&out->i, pt + 1, 8);
	} else if (n == 9 && pt[0] == 'r') {
		out->kind = KURA_V_REAL;
		memcpy(&out->d, pt + 1, 8);
	} else {
		e = KURA_E_CRYPTO;
	}
	sodium_memzero(pt, n);
	free(pt);
	return e;
}

/* Base64 (standard) of a ciphertext, for the JSON of history entries. */
json_t *
kura_sensitive_ct_json(const struct kura_val *ct)
{
	size_t cap = sodium_base64_ENCODED_LEN(ct->n, sodium_base64_VARIANT_ORIGINAL);
	char *b = malloc(cap);
	json_t *j;

	if (b == NULL)
		return NULL;
	sodium_bin2base64(b, cap, (const unsigned char *)ct->s, ct->n,
			  sodium_base64_VARIANT_ORIGINAL);
	j = json_pack("{s:s}", "$enc", b);
	free(b);
	return j;
}

enum kura_err
kura_sensitive_ct_from_json(json_t *j, struct kura_strpool *sp, struct kura_val *ct)
{
	const char *b = json_string_value(json_object_get(j, "$enc"));
	size_t len = 0, cap;
	unsigned char *buf;

	memset(ct, 0, sizeof(*ct));
	if (b == NULL)
		return KURA_E_CRYPTO;
	cap = strlen(b);
	buf = malloc(cap + 1);
	if (buf == NULL)
		return KURA_E_NOMEM;
	if (sodium_base642bin(buf, cap, b, strlen(b), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(buf);
		return KURA_E_CRYPTO;
	}
	ct->kind = KURA_V_BLOB;
	ct->s = kura_strpool_dup(sp, (const char *)buf, len);
	ct->n = len;
	free(buf);
	return ct->s != NULL ? KURA_OK : KURA_E_NOMEM;
}

struct stale {
	int64_t *ids;
	struct kura_val *vals;
	struct kura_strpool *sp;
	size_t n, cap;
	enum kura_err e;
};

static bool
collect_stale(void *ctx, int64_t id, const struct kura_val *v)
{
	struct stale *s = ctx;

	if (s->n == s->cap)
		return false;
	s->ids[s->n] = id;
	s->vals[s->n] = *v;
	s->vals[s->n].s = kura_strpool_dup(s->sp, v->s, v->n);
	if (s->vals[s->n].s == NULL) {
		s->e = KURA_E_NOMEM;
		return false;
	}
	s->n++;
	return true;
}

enum kura_err
kura_sensitive_rekey(const struct kura_rec_ctx *base, unsigned max, struct kura_rekey_cursor *cur,
		     size_t *done)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(base->db, &conn);
	struct kura_strpool sp = {0};
	struct stale s = {.sp = &sp};
	enum kura_err e = KURA_OK;

	*done = 0;
	s.ids = calloc(max + 1, sizeof(*s.ids));
	s.vals = calloc(max + 1, sizeof(*s.vals));
	if (s.ids == NULL || s.vals == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	for (; e == KURA_OK && cur->prop < base->cat->nprops && *done < max;
	     cur->prop++, cur->after_id = 0) {
		const struct kura_prop *p = &base->cat->props[cur->prop];
		struct kura_rec_ctx x = *base;

		if (!p->row.sensitive)
			continue;
		x.obj = kura_catalog_object_by_id(base->cat, p->row.object_id);
		s.n = 0;
		s.cap = max - *done;
		e = ops->prop_values_stale(conn, p->row.object_id, p->row.id, x.key_version,
					   cur->after_id, (unsigned)s.cap, collect_stale, &s);
		if (e == KURA_OK)
			e = s.e;
		/*
		 * Each value is opened under its old version and encrypted under the
		 * current one. The blind index stays: it is keyed from the property's
		 * own key version (bidx_version, moved only by kura keys
		 * rotate-index), and recomputing it would cost an Argon2id per value
		 * of a low-entropy property inside this transaction.
		 */
		for (size_t i = 0; e == KURA_OK && i < s.n; i++) {
			struct kura_val clear, ct;

			e = kura_sensitive_open(&x, s.ids[i], p, &s.vals[i], &sp, &clear);
			if (e == KURA_OK)
				e = kura_sensitive_encrypt(&x, s.ids[i], p, &clear, &sp, &ct);
			if (e == KURA_OK)
				e = ops->prop_value_set(conn, p->row.object_id, p->row.id, s.ids[i], &ct);
			if (e == KURA_OK) {
				(*done)++;
				cur->after_id = s.ids[i];
			}
		}
		kura_strpool_free(&sp);
		/* the batch is full: this property may hold more after after_id */
		if (e == KURA_OK && *done == max)
			break;
	}
out:
	free(s.ids);
	free(s.vals);
	kura_strpool_free(&sp);
	return e;
}

/* ---------------------------------------------------------------- history after a rotation */

struct hist_batch {
	int64_t *ids, *recs, *objs;
	bool *initial;
	char **texts;
	size_t n, cap;
	enum kura_err e;
};

static bool
collect_hist(void *ctx, const struct kura_history_row *h)
{
	struct hist_batch *b = ctx;

	if (b->n == b->cap)
		return false;
	b->texts[b->n] = strdup(h->changes);
	if (b->texts[b->n] == NULL) {
		b->e = KURA_E_NOMEM;
		return false;
	}
	b->ids[b->n] = h->id;
	b->recs[b->n] = h->record_id;
	b->objs[b->n] = h->object_id;
	b->initial[b->n] = h->initial;
	b->n++;
	return true;
}

/* The property `name` of object_id, archived ones too (their history stays). */
static const struct kura_prop *
prop_named(const struct kura_catalog *cat, int64_t object_id, const char *name)
{
	for (size_t i = 0; i < cat->nprops; i++) {
		if (cat->props[i].row.object_id == object_id &&
		    strcmp(cat->props[i].row.name, name) == 0)
			return &cat->props[i];
	}
	return NULL;
}

/*
 * v, if it is a sealed value of p under another version than x's, re-sealed
 * under x's (a new reference in *out, *changed set); otherwise left alone.
 */
static enum kura_err
reseal(const struct kura_rec_ctx *x, const struct kura_prop *p, int64_t record_id, json_t *v,
       struct kura_strpool *sp, json_t **out, size_t *done)
{
	struct kura_val ct, clear, nct;
	enum kura_err e;

	*out = NULL;
	if (!json_is_object(v) || json_object_get(v, "$enc") == NULL)
		return KURA_OK;
	e = kura_sensitive_ct_from_json(v, sp, &ct);
	if (e != KURA_OK)
		return e;
	if (kura_field_key_version((const uint8_t *)ct.s, ct.n) == x->key_version)
		return KURA_OK;
	e = kura_sensitive_open(x, record_id, p, &ct, sp, &clear);
	if (e == KURA_OK)
		e = kura_sensitive_encrypt(x, record_id, p, &clear, sp, &nct);
	if (e != KURA_OK)
		return e;
	*out = kura_sensitive_ct_json(&nct);
	if (*out == NULL)
		return KURA_E_NOMEM;
	(*done)++;
	return KURA_OK;
}

/* One entry's changes with every sealed value under another version re-sealed; NULL: unchanged. */
static enum kura_err
reseal_entry(const struct kura_rec_ctx *base, int64_t object_id, int64_t record_id,
	     bool initial, const char *text, struct kura_strpool *sp, char **out, size_t *done)
{
	struct kura_rec_ctx x = *base;
	json_error_t je;
	json_t *changes = json_loads(text, 0, &je), *v;
	const char *name;
	size_t before = *done;
	enum kura_err e = KURA_OK;

	*out = NULL;
	if (!json_is_object(changes)) {
		json_decref(changes);
		return KURA_E_INTERNAL;
	}
	x.obj = kura_catalog_object_by_id(base->cat, object_id);
	json_object_foreach(changes, name, v) {
		const struct kura_prop *p = prop_named(base->cat, object_id, name);
		json_t *nv = NULL;

		if (p == NULL || x.obj == NULL)
			continue;
		if (initial) {
			e = reseal(&x, p, record_id, v, sp, &nv, done);
			if (e == KURA_OK && nv != NULL)
				e = json_object_set_new(changes, name, nv) == 0 ? KURA_OK
										: KURA_E_NOMEM;
		} else {
			for (size_t k = 0; e == KURA_OK && k < 2 && json_is_array(v); k++) {
				e = reseal(&x, p, record_id, json_array_get(v, k), sp, &nv, done);
				if (e == KURA_OK && nv != NULL)
					e = json_array_set_new(v, k, nv) == 0 ? KURA_OK
									      : KURA_E_NOMEM;
			}
		}
		if (e != KURA_OK)
			break;
	}
	if (e == KURA_OK && *done > before) {
		*out = json_dumps(changes, JSON_COMPACT | JSON_REAL_PRECISION(17));
		if (*out == NULL)
			e = KURA_E_NOMEM;
	}
	json_decref(changes);
	return e;
}

enum kura_err
kura_sensitive_rekey_history(const struct kura_rec_ctx *base, unsigned max, int64_t *after_id,
			     size_t *done, bool *more)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(base->db, &conn);
	struct kura_strpool sp = {0};
	struct hist_batch b = {0};
	enum kura_err e;

	*done = 0;
	*more = false;
	b.cap = max;
	b.ids = calloc(max + 1, sizeof(*b.ids));
	b.recs = calloc(max + 1, sizeof(*b.recs));
	b.objs = calloc(max + 1, sizeof(*b.objs));
	b.initial = calloc(max + 1, sizeof(*b.initial));
	b.texts = calloc(max + 1, sizeof(*b.texts));
	if (b.ids == NULL || b.recs == NULL || b.objs == NULL || b.initial == NULL ||
	    b.texts == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	e = ops->history_sealed_after(conn, *after_id, max, collect_hist, &b);
	if (e == KURA_OK)
		e = b.e;
	for (size_t i = 0; e == KURA_OK && i < b.n; i++) {
		char *text = NULL;

		e = reseal_entry(base, b.objs[i], b.recs[i], b.initial[i], b.texts[i], &sp, &text,
				 done);
		if (e == KURA_OK && text != NULL)
			e = ops->history_set(conn, b.ids[i], text);
		free(text);
		if (e == KURA_OK)
			*after_id = b.ids[i];
	}
	if (e == KURA_OK)
		*more = b.n == max;
out:
	for (size_t i = 0; i < b.n; i++)
		free(b.texts[i]);
	free(b.ids);
	free(b.recs);
	free(b.objs);
	free(b.initial);
	free(b.texts);
	kura_strpool_free(&sp);
	return e;
}

void
kura_attachment_field_ctx(struct kura_field_ctx *f, char *name, size_t n, const char *tenant,
			  uint32_t version, const char *object, int64_t record_id,
			  int64_t attachment_id, bool filename)
{
	memset(f, 0, sizeof(*f));
	snprintf(name, n, "%s:%lld", filename ? "attachment-name" : "attachment",
		 (long long)attachment_id);
	f->tenant = tenant;
	f->key_version = version;
	f->object = object;
	f->record_id = record_id;
	f->name = name;
	f->purpose = filename ? "attachment-name" : "attachment-key";
}
