/*
 * Records: /api/v1/objects/{object}[/{id}] — create (with Idempotency-Key),
 * read, list, update, archive (restorable for 90 days), restore, purge,
 * property history, and the batch forms of create, read, update and
 * archive (up to 100 items, one result per item in input order).
 *
 * Each write runs in one transaction with its history and audit entries.
 * Another tenant's record cannot be named at all: the handle is the
 * caller's tenant's store, so a foreign id is simply "no such record".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/crypto.h"

#include <sodium.h>

#define BATCH_MAX 100
#define IDEM_TTL_US (24LL * 3600 * 1000000)

static bool
query_ok(struct kura_req *r, const char *const *allowed)
{
	const char *bad = NULL;
	char msg[160];

	if (kura_req_query_only(r, allowed, &bad))
		return true;
	snprintf(msg, sizeof(msg), "unknown or repeated query argument \"%.64s\"", bad);
	kura_reply_error_details(r, KURA_E_BAD_REQUEST, msg,
				 json_pack("[{s:s, s:s, s:s}]", "field", bad, "code", "unknown",
					   "message", msg));
	return false;
}

static bool
limit_param(struct kura_req *r, unsigned *limit)
{
	const char *s = kura_req_query(r, "limit");
	char *end = NULL;
	long v;

	*limit = 10;
	if (s == NULL)
		return true;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || v < 1 || v > KURA_SEARCH_LIMIT_MAX) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields",
					 json_pack("[{s:s, s:s, s:s}]", "field", "limit", "code",
						   "out_of_range", "message", "limit is 1..100"));
		return false;
	}
	*limit = (unsigned)v;
	return true;
}

static bool
after_param(struct kura_req *r, int64_t *after)
{
	const char *s = kura_req_query(r, "after");
	char kind;

	*after = 0;
	if (s == NULL)
		return true;
	if (!kura_cursor_parse(s, &kind, after) || kind != 'k') {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields",
					 json_pack("[{s:s, s:s, s:s}]", "field", "after", "code",
						   "invalid_cursor", "message",
						   "after is not a cursor of this list"));
		return false;
	}
	return true;
}

void
kura_api_records_list(struct kura_req *r)
{
	static const char *const allowed[] = {"limit", "after", "properties", "archived", NULL};
	struct kura_api_crm c;
	struct kura_search_req s;
	const char *arch;
	json_t *out = NULL, *want;
	unsigned limit;
	int64_t after;
	bool ok;
	enum kura_err e;

	if (!query_ok(r, allowed) || !limit_param(r, &limit) || !after_param(r, &after))
		return;
	arch = kura_req_query(r, "archived");
	if (arch != NULL && strcmp(arch, "true") != 0 && strcmp(arch, "false") != 0) {
		kura_reply_error(r, KURA_E_BAD_REQUEST, "archived is true or false");
		return;
	}
	if (!kura_api_crm_begin(r, &c, "object"))
		return;
	want = kura_api_want(r, c.obj, &ok);
	if (!ok)
		goto out;
	memset(&s, 0, sizeof(s));
	kura_buf_init(&s.match, 16);
	s.q.object_id = c.obj->row.id;
	s.q.limit = limit;
	s.q.after_id = after;
	s.q.archived = arch != NULL && strcmp(arch, "true") == 0;
	s.want = want;
	e = kura_search_run(&c.x, &s, false, &out);
	kura_search_req_free(&s);
	if (e != KURA_OK)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_json(r, 200, out);
out:
	kura_api_crm_end(r, &c);
}

void
kura_api_records_get(struct kura_req *r)
{
	static const char *const allowed[] = {"properties", "archived", NULL};
	struct kura_api_crm c;
	json_t *out = NULL, *want;
	const char *arch;
	int64_t id;
	bool ok;
	enum kura_err e;

	if (!query_ok(r, allowed) || !kura_api_record_id(r, "id", &id))
		return;
	arch = kura_req_query(r, "archived");
	if (!kura_api_crm_begin(r, &c, "object"))
		return;
	want = kura_api_want(r, c.obj, &ok);
	if (!ok)
		goto out;
	e = kura_record_json(&c.x, id, arch != NULL && strcmp(arch, "true") == 0, want, &out);
	json_decref(want);
	if (e == KURA_E_NOT_FOUND)
		kura_reply_error(r, e, "no such record");
	else if (e != KURA_OK)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_json(r, 200, out);
out:
	kura_api_crm_end(r, &c);
}

/* The reply of a failed record operation (validation and uniqueness keep their details). */
static void
reply_write_error(struct kura_req *r, enum kura_err e, json_t *details)
{
	if (e == KURA_E_FORBIDDEN) {
		kura_req_audit_denied(r, e);
		kura_reply_error_details(r, e, "your role may not change some of these properties",
					 details);
	} else if (e == KURA_E_VALIDATION)
		kura_reply_error_details(r, e, "check the listed properties", details);
	else if (e == KURA_E_EXISTS)
		kura_reply_error_details(r, e, "a unique property's value is taken", details);
	else {
		json_decref(details);
		kura_reply_error(r, e, e == KURA_E_NOT_FOUND ? "no such record" : NULL);
	}
}

/* Idempotency-Key: 1..128 visible ASCII characters. */
static bool
idem_key(struct kura_req *r, const char **key)
{
	const char *k = kura_req_header(r, "Idempotency-Key");
	size_t n;

	*key = NULL;
	if (k == NULL)
		return true;
	n = strlen(k);
	for (size_t i = 0; i < n; i++) {
		if (k[i] < 0x21 || k[i] > 0x7e)
			n = 0;
	}
	if (n == 0 || n > KURA_IDEM_KEY_MAX) {
		kura_reply_error_details(
			r, KURA_E_BAD_REQUEST, "Idempotency-Key is 1..128 visible ASCII characters",
			json_pack("[{s:s, s:s, s:s}]", "field", "Idempotency-Key", "code", "invalid",
				  "message", "1..128 visible ASCII characters"));
		return false;
	}
	*key = k;
	return true;
}

/* Hash of what the key protects: the route's path and the exact body. */
static void
idem_hash(struct kura_req *r, uint8_t out[32])
{
	size_t pl = strlen(r->path);
	char *buf = malloc(pl + 1 + r->body.len + 1);

	if (buf == NULL) {
		memset(out, 0, 32);
		return;
	}
	memcpy(buf, r->path, pl);
	buf[pl] = '\n';
	if (r->body.len > 0)
		memcpy(buf + pl + 1, r->body.data, r->body.len);
	kura_sha256(buf, pl + 1 + r->body.len, out);
	free(buf);
}

/*
 * A stored reply may hold sensitive values: it is kept encrypted under the
 * tenant's key (purpose "idempotency", bound to the object type and the
 * key), as base64 text.
 */
static void
idem_field(struct kura_api_crm *c, struct kura_req *r, const char *key, struct kura_field_ctx *f)
{
	memset(f, 0, sizeof(*f));
	f->tenant = r->principal.tenant_id;
	f->key_version = c->x.key_version;
	f->object = c->obj->row.name;
	f->name = key;
	f->purpose = "idempotency";
}

static enum kura_err
idem_store_text(struct kura_req *r, struct kura_api_crm *c, const char *key,
		const uint8_t hash[32], int status, const char *text)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(r->principal.db, &conn);
	struct kura_field_ctx f;
	uint8_t *ct = NULL;
	size_t ctlen = 0, cap;
	char *b64 = NULL;
	enum kura_err e;

	idem_field(c, r, key, &f);
	e = kura_field_encrypt(c->x.keys, &f, text, strlen(text), &ct, &ctlen);
	if (e != KURA_OK)
		return e;
	cap = sodium_base64_ENCODED_LEN(ctlen, sodium_base64_VARIANT_ORIGINAL);
	b64 = malloc(cap);
	if (b64 == NULL) {
		free(ct);
		return KURA_E_NOMEM;
	}
	sodium_bin2base64(b64, cap, ct, ctlen, sodium_base64_VARIANT_ORIGINAL);
	free(ct);
	e = ops->idem_put(conn, c->x.actor.type, c->x.actor.id, key, hash, status, b64, c->x.now);
	free(b64);
	return e;
}

/* The stored reply in clear (malloc'd), or NULL when it does not open. */
static char *
idem_open(struct kura_req *r, struct kura_api_crm *c, const char *key, const char *b64)
{
	struct kura_field_ctx f;
	size_t n = strlen(b64), len = 0, ptlen = 0;
	uint8_t *bin = malloc(n + 1), *pt = NULL;

	if (bin == NULL)
		return NULL;
	if (sodium_base642bin(bin, n, b64, n, NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) !=
	    0) {
		free(bin);
		return NULL;
	}
	idem_field(c, r, key, &f);
	if (kura_field_decrypt(c->x.keys, &f, bin, len, &pt, &ptlen) != KURA_OK)
		pt = NULL;
	free(bin);
	return (char *)pt;
}

/*
 * With a key already used: replays the stored reply (true) or refuses a
 * different body (true, answered). false: not used yet (or an error was answered
 * and *failed set).
 */
static bool
idem_replay(struct kura_req *r, struct kura_api_crm *c, const char *key, const uint8_t hash[32],
	    bool *failed)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(r->principal.db, &conn);
	uint8_t stored[32];
	char *resp = NULL;
	int status = 0;
	json_error_t je;
	json_t *body;
	enum kura_err e;

	*failed = false;
	e = ops->idem_get(conn, c->x.actor.type, c->x.actor.id, key, c->x.now - IDEM_TTL_US, stored,
			  &status, &resp);
	if (e == KURA_E_NOT_FOUND)
		return false;
	if (e != KURA_OK) {
		*failed = true;
		kura_reply_error(r, e, NULL);
		return false;
	}
	if (sodium_memcmp(stored, hash, 32) != 0) {
		free(resp);
		kura_reply_error_details(
			r, KURA_E_VALIDATION, "this Idempotency-Key was used with another request",
			json_pack("[{s:s, s:s, s:s}]", "field", "Idempotency-Key", "code",
				  "idempotency_key_reused",
				  "message", "this key was used with another request"));
		return true;
	}
	{
		char *clear = idem_open(r, c, key, resp);

		free(resp);
		if (clear == NULL) {
			*failed = true;
			kura_reply_error(r, KURA_E_CRYPTO, NULL);
			return false;
		}
		body = json_loads(clear, 0, &je);
		sodium_memzero(clear, strlen(clear));
		free(clear);
	}
	kura_reply_json(r, (unsigned)status, body);
	kura_reply_add_header(r, "Idempotent-Replayed", "true");
	return true;
}

static enum kura_err
idem_store(struct kura_req *r, struct kura_api_crm *c, const char *key, const uint8_t hash[32],
	   int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
	enum kura_err e;

	if (text == NULL)
		return KURA_E_NOMEM;
	e = idem_store_text(r, c, key, hash, status, text);
	free(text);
	return e;
}

void
kura_api_records_create(struct kura_req *r)
{
	static const char *const fields[] = {"properties", NULL};
	struct kura_api_crm c;
	json_t *details = json_array(), *out = NULL;
	const char *key = NULL;
	uint8_t hash[32];
	char names[KURA_AUDIT_PROPS_MAX + 1];
	int64_t id = 0;
	bool failed = false;
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	if (!idem_key(r, &key)) {
		json_decref(details);
		return;
	}
	if (!kura_api_crm_begin(r, &c, "object")) {
		json_decref(details);
		return;
	}
	e = kura_api_crm_write_begin(r, &c);
	if (e == KURA_OK && key != NULL) {
		idem_hash(r, hash);
		if (idem_replay(r, &c, key, hash, &failed) || failed) {
			kura_store_rollback(r->principal.db);
			json_decref(details);
			goto out;
		}
	}
	if (e == KURA_OK)
		e = kura_record_create(&c.x, json_object_get(r->json, "properties"), details, &id,
				       &out);
	if (e == KURA_OK) {
		kura_api_prop_names(json_object_get(r->json, "properties"), names, sizeof(names));
		e = kura_api_crm_audit(r, "record.create", c.obj->row.name, id, names);
	}
	if (e == KURA_OK && key != NULL)
		e = idem_store(r, &c, key, hash, 201, out);
	e = kura_store_finish(r->principal.db, e);
	if (e != KURA_OK) {
		json_decref(out);
		reply_write_error(r, e, details);
		goto out;
	}
	json_decref(details);
	kura_reply_json(r, 201, out);
out:
	kura_api_crm_end(r, &c);
}

void
kura_api_records_update(struct kura_req *r)
{
	static const char *const fields[] = {"properties", NULL};
	struct kura_api_crm c;
	json_t *details = json_array(), *out = NULL;
	char changed[KURA_AUDIT_PROPS_MAX + 1];
	int64_t id;
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	if (!kura_api_record_id(r, "id", &id) || !kura_api_crm_begin(r, &c, "object")) {
		json_decref(details);
		return;
	}
	e = kura_api_crm_write_begin(r, &c);
	if (e == KURA_OK)
		e = kura_record_update(&c.x, id, json_object_get(r->json, "properties"), details,
				       changed, sizeof(changed));
	if (e == KURA_OK && changed[0] != '\0')
		e = kura_api_crm_audit(r, "record.update", c.obj->row.name, id, changed);
	if (e == KURA_OK)
		e = kura_record_json(&c.x, id, false, NULL, &out);
	e = kura_store_finish(r->principal.db, e);
	if (e != KURA_OK) {
		json_decref(out);
		reply_write_error(r, e, details);
	} else {
		json_decref(details);
		kura_reply_json(r, 200, out);
	}
	kura_api_crm_end(r, &c);
}

/* archive / restore / purge: one record, one state change, one audit entry. */
static void
lifecycle(struct kura_req *r, const char *action)
{
	struct kura_api_crm c;
	json_t *details = json_array(), *out = NULL;
	int64_t id;
	enum kura_err e;

	if (!kura_api_record_id(r, "id", &id) || !kura_api_crm_begin(r, &c, "object")) {
		json_decref(details);
		return;
	}
	e = kura_api_crm_write_begin(r, &c);
	if (e == KURA_OK) {
		if (strcmp(action, "record.archive") == 0)
			e = kura_record_archive(&c.x, id);
		else if (strcmp(action, "record.restore") == 0)
			e = kura_record_restore(&c.x, id, details);
		else
			e = kura_record_purge(&c.x, id);
	}
	if (e == KURA_OK)
		e = kura_api_crm_audit(r, action, c.obj->row.name, id, NULL);
	if (e == KURA_OK && strcmp(action, "record.restore") == 0)
		e = kura_record_json(&c.x, id, false, NULL, &out);
	e = kura_store_finish(r->principal.db, e);
	if (e != KURA_OK) {
		json_decref(out);
		reply_write_error(r, e, details);
	} else if (out != NULL) {
		json_decref(details);
		kura_reply_json(r, 200, out);
	} else {
		json_decref(details);
		kura_reply_empty(r, 204);
	}
	kura_api_crm_end(r, &c);
}

void
kura_api_records_archive(struct kura_req *r)
{
	lifecycle(r, "record.archive");
}

void
kura_api_records_restore(struct kura_req *r)
{
	lifecycle(r, "record.restore");
}

void
kura_api_records_purge(struct kura_req *r)
{
	lifecycle(r, "record.purge");
}

/* --- history --- */

struct hist_ctx {
	const struct kura_object *obj;
	const struct kura_rec_ctx *rx;
	int64_t record_id;
	const char *only;
	json_t *results;
	int64_t last_id;
	unsigned rows;
	bool opened;               /* a sensitive value was shown */
	enum kura_err e;
};

/* A history value as shown: a sensitive one ({"$enc": ...}) opened. */
static json_t *
hist_value(struct hist_ctx *x, const struct kura_prop *p, json_t *v)
{
	struct kura_strpool sp = {0};
	struct kura_val ct, clear;
	json_t *out = NULL;

	if (v == NULL || json_is_null(v) || !p->row.sensitive)
		return json_incref(v != NULL ? v : json_null());
	/* not reached yet by the encryption of a property that is being encrypted */
	if (!json_is_object(v) && p->row.enc_state == KURA_ENC_PENDING) {
		x->opened = true;
		return json_incref(v);
	}
	x->e = kura_sensitive_ct_from_json(v, &sp, &ct);
	if (x->e == KURA_OK)
		x->e = kura_sensitive_open(x->rx, x->record_id, p, &ct, &sp, &clear);
	if (x->e == KURA_OK) {
		out = kura_value_to_json(p, &clear);
		x->opened = true;
	}
	kura_strpool_free(&sp);
	return out;
}

static bool
add_history(void *ctx, const struct kura_history_row *h)
{
	struct hist_ctx *x = ctx;
	json_error_t je;
	json_t *changes = json_loads(h->changes, 0, &je), *v;
	const char *name;
	char t[40], who[24];

	x->last_id = h->id;
	x->rows++;
	kura_time_rfc3339(h->at, t, sizeof(t));
	snprintf(who, sizeof(who), "%lld", (long long)h->actor_id);
	json_object_foreach(changes, name, v) {
		const struct kura_prop *p = kura_object_prop(x->obj, name);
		json_t *ov, *nv;

		/* A property archived since, or one the caller may not view, is not shown. */
		if (p == NULL || !kura_prop_can_view(p, x->rx->role, x->rx->teams))
			continue;
		if (x->only != NULL && strcmp(x->only, name) != 0)
			continue;
		ov = h->initial ? json_null() : hist_value(x, p, json_array_get(v, 0));
		nv = hist_value(x, p, h->initial ? v : json_array_get(v, 1));
		if (ov == NULL || nv == NULL) {
			json_decref(ov);
			json_decref(nv);
			if (x->e == KURA_OK)
				x->e = KURA_E_INTERNAL;
			json_decref(changes);
			return false;
		}
		json_array_append_new(
			x->results,
			json_pack("{s:s, s:o, s:o, s:s, s:{s:s, s:s}, s:s}", "property", name,
				  "oldValue", ov, "newValue", nv,
				  "changedAt", t, "changedBy", "type",
				  h->actor_type == KURA_ACTOR_APIKEY  ? "api_key"
				  : h->actor_type == KURA_ACTOR_USER ? "user"
								      : "system",
				  "id", who, "source", h->source));
	}
	json_decref(changes);
	return true;
}

void
kura_api_records_history(struct kura_req *r)
{
	static const char *const allowed[] = {"property", "limit", "after", NULL};
	struct kura_api_crm c;
	struct hist_ctx h = {0};
	void *conn;
	const struct kura_crm_ops *ops;
	json_t *rec = NULL;
	unsigned limit;
	int64_t id, after;
	enum kura_err e;

	if (!query_ok(r, allowed) || !limit_param(r, &limit) || !after_param(r, &after) ||
	    !kura_api_record_id(r, "id", &id) || !kura_api_crm_begin(r, &c, "object"))
		return;
	h.obj = c.obj;
	h.rx = &c.x;
	h.record_id = id;
	h.only = kura_req_query(r, "property");
	if (h.only != NULL && kura_object_prop(c.obj, h.only) == NULL) {
		kura_reply_error_details(
			r, KURA_E_VALIDATION, "check the listed fields",
			json_pack("[{s:s, s:s, s:s}]", "field", "property", "code", "unknown_property",
				  "message", "no such property on this object"));
		goto out;
	}
	/* The record must exist (archived ones keep their history readable). */
	{
		json_t *none = json_array();

		e = kura_record_json(&c.x, id, true, none, &rec);
		json_decref(none);
		json_decref(rec);
	}
	if (e != KURA_OK) {
		kura_reply_error(r, e, e == KURA_E_NOT_FOUND ? "no such record" : NULL);
		goto out;
	}
	h.results = json_array();
	ops = kura_store_crm(r->principal.db, &conn);
	e = ops->history_list(conn, c.obj->row.id, id, after, limit, add_history, &h);
	if (e == KURA_OK)
		e = h.e;
	if (e != KURA_OK) {
		json_decref(h.results);
		kura_reply_error(r, e, NULL);
		goto out;
	}
	if (h.opened)
		json_array_append_new(c.x.sensitive_reads,
				      json_pack("{s:I, s:s}", "id", (json_int_t)id, "props",
						h.only != NULL ? h.only : "history"));
	kura_reply_json(r, 200, kura_api_page(h.results, h.rows == limit, h.last_id));
out:
	kura_api_crm_end(r, &c);
}

/* --- batch --- */

static json_t *
item_error(enum kura_err e, const char *message, json_t *details)
{
	json_t *err = json_pack("{s:s, s:s}", "code", kura_err_code(e), "message",
				message != NULL ? message : kura_err_code(e));

	if (details != NULL && json_array_size(details) > 0)
		json_object_set(err, "details", details);
	return json_pack("{s:i, s:o}", "status", (int)kura_err_http_status(e), "error", err);
}

/* The array member name of a batch body with 1..100 items; answers on a problem. */
static json_t *
batch_items(struct kura_req *r, const char *member)
{
	json_t *a = json_object_get(r->json, member);
	char msg[96];

	if (!json_is_array(a) || json_array_size(a) == 0) {
		snprintf(msg, sizeof(msg), "%s must be a non-empty array", member);
		kura_reply_error_details(r, KURA_E_VALIDATION, msg,
					 json_pack("[{s:s, s:s, s:s}]", "field", member, "code",
						   "required", "message", msg));
		return NULL;
	}
	if (json_array_size(a) > BATCH_MAX) {
		snprintf(msg, sizeof(msg), "at most 100 %s per call", member);
		kura_reply_error_details(r, KURA_E_BAD_REQUEST, msg,
					 json_pack("[{s:s, s:s, s:s}]", "field", member, "code",
						   "limit", "message", msg));
		return NULL;
	}
	return a;
}

static void
batch_reply(struct kura_req *r, enum kura_err e, json_t *results, bool all_ok)
{
	if (e != KURA_OK) {
		json_decref(results);
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, all_ok ? 200 : 207, json_pack("{s:o}", "results", results));
}

/*
 * The reply of a batch create, {"results": [...]} in input order, as text:
 * each record's properties were serialised once already (their text is
 * also the record's first history entry), so the reply is put together
 * from those pieces instead of building and serialising every value again.
 * Ids and times are digits and RFC 3339; everything else comes from jansson.
 */
static char *
batch_created_text(struct kura_api_crm *c, const struct kura_record_draft *drafts,
		   const enum kura_err *status, const int64_t *ids, json_t *const *errs, size_t n,
		   bool *all_ok, size_t *len)
{
	struct kura_buf b;
	char t[40];
	enum kura_err e;

	*all_ok = true;
	*len = 0;
	kura_buf_init(&b, (size_t)64 << 20);
	kura_time_rfc3339(c->x.now, t, sizeof(t));
	e = kura_buf_append(&b, "{\"results\":[", 12);
	for (size_t i = 0; e == KURA_OK && i < n; i++) {
		if (i > 0)
			e = kura_buf_append(&b, ",", 1);
		if (e != KURA_OK)
			break;
		if (status[i] == KURA_OK) {
			e = kura_buf_printf(&b,
					    "{\"status\":201,\"record\":{\"id\":\"%lld\",\"properties\":",
					    (long long)ids[i]);
			if (e == KURA_OK)
				e = kura_buf_append(&b, drafts[i].changes, strlen(drafts[i].changes));
			if (e == KURA_OK)
				e = kura_buf_printf(&b,
						    ",\"archived\":false,\"createdAt\":\"%s\","
						    "\"updatedAt\":\"%s\"}}",
						    t, t);
		} else {
			json_t *item = item_error(status[i],
						  status[i] == KURA_E_EXISTS
							  ? "a unique property's value is taken"
						  : status[i] == KURA_E_FORBIDDEN
							  ? "your role may not change some of these "
							    "properties"
							  : "check the listed properties",
						  errs[i]);
			char *text = json_dumps(item, JSON_COMPACT | JSON_REAL_PRECISION(15));

			*all_ok = false;
			e = text != NULL ? kura_buf_append(&b, text, strlen(text)) : KURA_E_NOMEM;
			free(text);
			json_decref(item);
		}
	}
	if (e == KURA_OK)
		e = kura_buf_append(&b, "]}", 2);
	if (e != KURA_OK) {
		kura_buf_free(&b);
		return NULL;
	}
	*len = b.len;
	return b.data;
}

void
kura_api_batch_create(struct kura_req *r)
{
	static const char *const fields[] = {"inputs", NULL};
	struct kura_api_crm c;
	struct kura_record_draft drafts[BATCH_MAX], *valid[BATCH_MAX];
	enum kura_err status[BATCH_MAX];
	bool ok[BATCH_MAX];
	int64_t ids[BATCH_MAX];
	json_t *errs[BATCH_MAX];
	json_t *details = json_array(), *inputs, *in;
	const char *key = NULL;
	char *text = NULL;
	size_t tlen = 0;
	uint8_t hash[32];
	int64_t first = 0, last = 0;
	size_t created = 0, n = 0, nvalid = 0;
	bool all_ok = true, failed = false;
	size_t i;
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	json_decref(details);
	inputs = batch_items(r, "inputs");
	if (inputs == NULL || !idem_key(r, &key) || !kura_api_crm_begin(r, &c, "object"))
		return;
	/*
	 * Validation and conversion first, outside the write transaction: while
	 * one batch holds the database, another can be getting ready.
	 */
	n = json_array_size(inputs);
	memset(drafts, 0, sizeof(drafts));
	json_array_foreach(inputs, i, in) {
		errs[i] = json_array();
		ids[i] = 0;
		if (!json_is_object(in) || json_object_size(in) != 1 ||
		    json_object_get(in, "properties") == NULL) {
			kura_api_detail(errs[i], "inputs", "invalid_type",
					"each input is {\"properties\": {...}}");
			status[i] = KURA_E_VALIDATION;
		} else {
			status[i] = kura_record_draft_make(&c.x, json_object_get(in, "properties"),
							   errs[i], &drafts[i]);
		}
	}
	for (i = 0; i < n; i++) {
		ok[i] = status[i] == KURA_OK;
		if (ok[i])
			valid[nvalid++] = &drafts[i];
	}
	/*
	 * Numbered and sealed outside the transaction too (a ciphertext is
	 * bound to its record's id): the encryption of one batch runs while
	 * another holds the write lock. Once more, past what the table holds,
	 * when another process numbered records meanwhile (a taken id).
	 */
	for (int attempt = 0; attempt < 2; attempt++) {
		e = kura_record_drafts_number(&c.x, valid, nvalid, attempt > 0);
		if (e != KURA_OK) {
			kura_reply_error(r, e, NULL);
			goto out;
		}
		e = kura_api_crm_write_begin(r, &c);
		if (e != KURA_OK)
			break;
		if (key != NULL) {
			idem_hash(r, hash);
			if (idem_replay(r, &c, key, hash, &failed) || failed) {
				kura_store_rollback(r->principal.db);
				goto out;
			}
		}
		first = last = 0;
		created = 0;
		for (i = 0; e == KURA_OK && i < n; i++) {
			if (!ok[i])
				continue;
			json_array_clear(errs[i]); /* from an attempt rolled back */
			status[i] = kura_record_draft_store(&c.x, &drafts[i], errs[i], &ids[i]);
			if (status[i] == KURA_OK) {
				if (first == 0)
					first = ids[i];
				last = ids[i];
				created++;
			} else if (status[i] != KURA_E_EXISTS) {
				e = status[i];
			}
		}
		if (e != KURA_E_CONFLICT || attempt > 0)
			break;
		kura_store_rollback(r->principal.db);
	}
	/*
	 * One audit entry for the batch: its inputs were numbered one after
	 * the other, from ids reserved for it alone (an invalid input takes
	 * none; one refused for a taken unique value leaves its id unused for
	 * good), so "first-last" names exactly the records it created.
	 */
	if (e == KURA_OK && created > 0) {
		struct kura_audit_entry ae;
		char range[KURA_AUDIT_TARGET_ID_MAX + 1];

		snprintf(range, sizeof(range), "%lld-%lld", (long long)first, (long long)last);
		kura_req_audit_init(r, &ae, "record.batch_create", c.obj->row.name, range);
		snprintf(ae.target_props, sizeof(ae.target_props), "%zu records", created);
		kura_audit_set_outcome(&ae, KURA_OK);
		e = kura_audit_append(r->principal.db, &ae);
	}
	/* The reply is stored with the key; without one it is made after the commit. */
	if (e == KURA_OK && key != NULL) {
		text = batch_created_text(&c, drafts, status, ids, errs, n, &all_ok, &tlen);
		e = text == NULL ? KURA_E_NOMEM
				 : idem_store_text(r, &c, key, hash, all_ok ? 200 : 207, text);
	}
	e = kura_store_finish(r->principal.db, e);
	if (e == KURA_OK && text == NULL) {
		text = batch_created_text(&c, drafts, status, ids, errs, n, &all_ok, &tlen);
		if (text == NULL)
			e = KURA_E_NOMEM;
	}
	if (e != KURA_OK)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_text(r, all_ok ? 200 : 207, "application/json; charset=utf-8", text,
				tlen);
	free(text);
out:
	for (i = 0; i < n; i++) {
		kura_record_draft_free(&drafts[i]);
		json_decref(errs[i]);
	}
	kura_api_crm_end(r, &c);
}

static bool
id_of(json_t *v, int64_t *id)
{
	return json_is_string(v) && kura_record_id_parse(json_string_value(v), id);
}

void
kura_api_batch_read(struct kura_req *r)
{
	static const char *const fields[] = {"ids", "properties", NULL};
	struct kura_api_crm c;
	struct kura_search_req s;
	json_t *details = json_array(), *ids, *results, *v;
	bool all_ok = true;
	size_t i;
	enum kura_err e = KURA_OK;

	if (!kura_api_object_only(r, fields, details))
		return;
	ids = batch_items(r, "ids");
	if (ids == NULL || !kura_api_crm_begin(r, &c, "object")) {
		json_decref(details);
		return;
	}
	/* "properties" is read with the search's rules (known names only). */
	v = json_pack("{s:O?}", "properties", json_object_get(r->json, "properties"));
	e = kura_search_parse(c.obj, v, true, &s, details);
	json_decref(v);
	if (e != KURA_OK) {
		kura_search_req_free(&s);
		kura_reply_error_details(r, e, "check the listed fields", details);
		goto out;
	}
	json_decref(details);
	results = json_array();
	json_array_foreach(ids, i, v) {
		json_t *rec = NULL;
		int64_t id = 0;
		enum kura_err ie = id_of(v, &id) ? kura_record_json(&c.x, id, false, s.want, &rec)
						 : KURA_E_NOT_FOUND;

		if (ie == KURA_OK) {
			json_array_append_new(results,
					      json_pack("{s:i, s:o}", "status", 200, "record", rec));
		} else if (ie == KURA_E_NOT_FOUND) {
			all_ok = false;
			json_array_append_new(results, item_error(ie, "no such record", NULL));
		} else {
			e = ie;
			break;
		}
	}
	kura_search_req_free(&s);
	batch_reply(r, e, results, all_ok);
out:
	kura_api_crm_end(r, &c);
}

void
kura_api_batch_update(struct kura_req *r)
{
	static const char *const fields[] = {"inputs", NULL};
	struct kura_api_crm c;
	json_t *details = json_array(), *inputs, *results = NULL, *in;
	char changed[KURA_AUDIT_PROPS_MAX + 1];
	bool all_ok = true;
	size_t i;
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	json_decref(details);
	inputs = batch_items(r, "inputs");
	if (inputs == NULL || !kura_api_crm_begin(r, &c, "object"))
		return;
	e = kura_api_crm_write_begin(r, &c);
	results = json_array();
	json_array_foreach(inputs, i, in) {
		json_t *d = json_array(), *rec = NULL;
		int64_t id = 0;
		enum kura_err ie;

		if (e != KURA_OK)
			break;
		if (!json_is_object(in) || json_object_size(in) != 2 ||
		    json_object_get(in, "properties") == NULL) {
			kura_api_detail(d, "inputs", "invalid_type",
					"each input is {\"id\": \"...\", \"properties\": {...}}");
			ie = KURA_E_VALIDATION;
		} else if (!id_of(json_object_get(in, "id"), &id)) {
			ie = KURA_E_NOT_FOUND;
		} else {
			ie = kura_record_update(&c.x, id, json_object_get(in, "properties"), d,
						changed, sizeof(changed));
		}
		if (ie == KURA_OK) {
			if (changed[0] != '\0')
				e = kura_api_crm_audit(r, "record.update", c.obj->row.name, id,
						       changed);
			if (e == KURA_OK)
				e = kura_record_json(&c.x, id, false, NULL, &rec);
			if (e == KURA_OK)
				json_array_append_new(results, json_pack("{s:i, s:o}", "status", 200,
									  "record", rec));
		} else if (ie == KURA_E_VALIDATION || ie == KURA_E_EXISTS ||
			   ie == KURA_E_NOT_FOUND || ie == KURA_E_FORBIDDEN) {
			all_ok = false;
			json_array_append_new(
				results, item_error(ie,
						    ie == KURA_E_NOT_FOUND ? "no such record"
						    : ie == KURA_E_EXISTS
							    ? "a unique property's value is taken"
						    : ie == KURA_E_FORBIDDEN
							    ? "your role may not change some of these "
							      "properties"
							    : "check the listed properties",
						    d));
		} else {
			e = ie;
		}
		json_decref(d);
	}
	e = kura_store_finish(r->principal.db, e);
	batch_reply(r, e, results, all_ok);
	kura_api_crm_end(r, &c);
}

void
kura_api_batch_archive(struct kura_req *r)
{
	static const char *const fields[] = {"ids", NULL};
	struct kura_api_crm c;
	json_t *details = json_array(), *ids, *results, *v;
	bool all_ok = true;
	size_t i;
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	json_decref(details);
	ids = batch_items(r, "ids");
	if (ids == NULL || !kura_api_crm_begin(r, &c, "object"))
		return;
	e = kura_api_crm_write_begin(r, &c);
	results = json_array();
	json_array_foreach(ids, i, v) {
		int64_t id = 0;
		enum kura_err ie;

		if (e != KURA_OK)
			break;
		ie = id_of(v, &id) ? kura_record_archive(&c.x, id) : KURA_E_NOT_FOUND;
		if (ie == KURA_OK) {
			e = kura_api_crm_audit(r, "record.archive", c.obj->row.name, id, NULL);
			json_array_append_new(results, json_pack("{s:i}", "status", 204));
		} else if (ie == KURA_E_NOT_FOUND) {
			all_ok = false;
			json_array_append_new(results, item_error(ie, "no such record", NULL));
		} else {
			e = ie;
		}
	}
	e = kura_store_finish(r->principal.db, e);
	batch_reply(r, e, results, all_ok);
	kura_api_crm_end(r, &c);
}
