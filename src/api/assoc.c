/*
 * What hangs off a record: associations with other records (symmetric,
 * one optional label per pair) and activities (notes, calls, e-mails,
 * meetings, tasks) with their author and time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "kura/clock.h"
#include "kura/text.h"

#define ACTIVITY_BODY_MAX 65535

/* The record named by {object}/{param} must exist and be live. */
static bool
record_exists(struct kura_req *r, struct kura_api_crm *c, const struct kura_object *o,
	      int64_t id)
{
	struct kura_rec_ctx x = c->x;
	json_t *rec = NULL, *none = json_array();
	enum kura_err e;

	x.obj = o;
	e = kura_record_json(&x, id, false, none, &rec);
	json_decref(none);
	json_decref(rec);
	if (e != KURA_OK) {
		kura_reply_error(r, e, e == KURA_E_NOT_FOUND ? "no such record" : NULL);
		return false;
	}
	return true;
}

static bool
page_params(struct kura_req *r, unsigned *limit, int64_t *after)
{
	static const char *const allowed[] = {"limit", "after", NULL};
	const char *bad = NULL, *ls = kura_req_query(r, "limit"), *as = kura_req_query(r, "after");
	char *end = NULL, kind = 0;
	long l = 10;

	*after = 0;
	if (!kura_req_query_only(r, allowed, &bad)) {
		kura_reply_error(r, KURA_E_BAD_REQUEST, "unknown or repeated query argument");
		return false;
	}
	if (ls != NULL)
		l = strtol(ls, &end, 10);
	if ((ls != NULL && (end == ls || *end != '\0' || l < 1 || l > 100)) ||
	    (as != NULL && (!kura_cursor_parse(as, &kind, after) || kind != 'k'))) {
		kura_reply_error(r, KURA_E_VALIDATION, "limit is 1..100; after is a cursor");
		return false;
	}
	*limit = (unsigned)l;
	return true;
}

struct assoc_ctx {
	json_t *results;
	int64_t last;
	unsigned n;
};

static bool
add_assoc(void *ctx, const struct kura_assoc_row *a)
{
	struct assoc_ctx *x = ctx;
	char id[24];

	snprintf(id, sizeof(id), "%lld", (long long)a->to_id);
	json_array_append_new(x->results, json_pack("{s:s, s:s}", "id", id, "label", a->label));
	x->last = a->to_id;
	x->n++;
	return true;
}

void
kura_api_assoc_list(struct kura_req *r)
{
	struct kura_api_crm c;
	struct assoc_ctx x = {0};
	const struct kura_object *to;
	void *conn;
	const struct kura_crm_ops *ops;
	unsigned limit;
	int64_t id, after;
	enum kura_err e;

	if (!page_params(r, &limit, &after) || !kura_api_record_id(r, "id", &id) ||
	    !kura_api_crm_begin(r, &c, "object"))
		return;
	to = kura_catalog_object(c.cat, kura_req_param(r, "to"));
	if (to == NULL) {
		kura_reply_error(r, KURA_E_NOT_FOUND, "no such object type");
		goto out;
	}
	if (!record_exists(r, &c, c.obj, id))
		goto out;
	ops = kura_store_crm(r->principal.db, &conn);
	x.results = json_array();
	e = ops->assoc_list(conn, c.obj->row.id, id, to->row.id, after, limit, add_assoc, &x);
	if (e != KURA_OK) {
		json_decref(x.results);
		kura_reply_error(r, e, NULL);
		goto out;
	}
	kura_reply_json(r, 200, kura_api_page(x.results, x.n == limit, x.last));
out:
	kura_api_crm_end(r, &c);
}

/* Reads both ends of an association from the route; answers on failure. */
static bool
assoc_ends(struct kura_req *r, struct kura_api_crm *c, const struct kura_object **to,
	   int64_t *id, int64_t *to_id)
{
	*to = kura_catalog_object(c->cat, kura_req_param(r, "to"));
	if (*to == NULL) {
		kura_reply_error(r, KURA_E_NOT_FOUND, "no such object type");
		return false;
	}
	if (!kura_api_record_id(r, "id", id) || !kura_api_record_id(r, "toId", to_id))
		return false;
	return true;
}

void
kura_api_assoc_put(struct kura_req *r)
{
	static const char *const fields[] = {"label", NULL};
	struct kura_api_crm c;
	const struct kura_object *to;
	json_t *details = json_array(), *lv;
	const char *label = "";
	void *conn;
	const struct kura_crm_ops *ops;
	int64_t id, to_id;
	char sid[24], tid[24];
	enum kura_err e;

	/* The body is optional: none (or an empty one) is no label; one that is there is JSON. */
	if (r->body.len > 0) {
		const char *ct = kura_req_header(r, "Content-Type");
		char msg[256];

		if (ct == NULL || strncmp(ct, "application/json", 16) != 0) {
			json_decref(details);
			kura_reply_error(r, KURA_E_UNSUPPORTED_MEDIA_TYPE,
					 "Content-Type must be application/json");
			return;
		}
		e = kura_json_parse(r->body.data, r->body.len, r->srv->cfg.json_max_depth, &r->json,
				    msg, sizeof(msg));
		if (e != KURA_OK) {
			json_decref(details);
			kura_reply_error(r, e, msg);
			return;
		}
		if (!kura_api_object_only(r, fields, details))
			return;
	}
	lv = r->json != NULL ? json_object_get(r->json, "label") : NULL;
	if (lv != NULL && !json_is_null(lv)) {
		label = json_string_value(lv);
		if (label == NULL || strlen(label) != json_string_length(lv) ||
		    kura_utf8_chars(label, strlen(label)) > KURA_ASSOC_LABEL_MAX) {
			kura_api_detail(details, "label", "invalid", "label is at most 64 characters");
			kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields",
						 details);
			return;
		}
	}
	json_decref(details);
	if (!kura_api_crm_begin(r, &c, "object"))
		return;
	if (!assoc_ends(r, &c, &to, &id, &to_id) || !record_exists(r, &c, c.obj, id) ||
	    !record_exists(r, &c, to, to_id))
		goto out;
	ops = kura_store_crm(r->principal.db, &conn);
	e = kura_api_crm_write_begin(r, &c);
	if (e == KURA_OK)
		e = ops->assoc_put(conn, c.obj->row.id, id, to->row.id, to_id, label, c.x.now);
	if (e == KURA_OK)
		e = kura_api_crm_audit(r, "association.put", c.obj->row.name, id, to->row.name);
	e = kura_store_finish(r->principal.db, e);
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		goto out;
	}
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	snprintf(tid, sizeof(tid), "%lld", (long long)to_id);
	kura_reply_json(r, 200, json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:s}", "from", "object",
					  c.obj->row.name, "id", sid, "to", "object", to->row.name,
					  "id", tid, "label", label));
out:
	kura_api_crm_end(r, &c);
}

void
kura_api_assoc_delete(struct kura_req *r)
{
	struct kura_api_crm c;
	const struct kura_object *to;
	void *conn;
	const struct kura_crm_ops *ops;
	int64_t id, to_id;
	enum kura_err e;

	if (!kura_api_crm_begin(r, &c, "object"))
		return;
	if (!assoc_ends(r, &c, &to, &id, &to_id))
		goto out;
	ops = kura_store_crm(r->principal.db, &conn);
	e = kura_api_crm_write_begin(r, &c);
	if (e == KURA_OK)
		e = ops->assoc_delete(conn, c.obj->row.id, id, to->row.id, to_id);
	if (e == KURA_OK)
		e = kura_api_crm_audit(r, "association.delete", c.obj->row.name, id, to->row.name);
	e = kura_store_finish(r->principal.db, e);
	if (e != KURA_OK)
		kura_reply_error(r, e, e == KURA_E_NOT_FOUND ? "no such association" : NULL);
	else
		kura_reply_empty(r, 204);
out:
	kura_api_crm_end(r, &c);
}

/* --- activities --- */

static const char *const activity_types[] = {"note", "call", "email", "meeting", "task", NULL};

static json_t *
activity_json(const struct kura_activity_row *a)
{
	char id[24], who[24], t1[40], t2[40];

	snprintf(id, sizeof(id), "%lld", (long long)a->id);
	snprintf(who, sizeof(who), "%lld", (long long)a->author_id);
	kura_time_rfc3339(a->occurred_at, t1, sizeof(t1));
	kura_time_rfc3339(a->created_at, t2, sizeof(t2));
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:s}", "id", id, "type", a->type,
			 "body", a->body, "occurredAt", t1, "author", "type",
			 a->author_type == KURA_ACTOR_APIKEY ? "api_key" : "user", "id", who,
			 "createdAt", t2);
}

struct act_ctx {
	json_t *results;
	int64_t last;
	unsigned n;
};

static bool
add_activity(void *ctx, const struct kura_activity_row *a)
{
	struct act_ctx *x = ctx;

	json_array_append_new(x->results, activity_json(a));
	x->last = a->id;
	x->n++;
	return true;
}

void
kura_api_activities_list(struct kura_req *r)
{
	struct kura_api_crm c;
	struct act_ctx x = {0};
	void *conn;
	const struct kura_crm_ops *ops;
	unsigned limit;
	int64_t id, after;
	enum kura_err e;

	if (!page_params(r, &limit, &after) || !kura_api_record_id(r, "id", &id) ||
	    !kura_api_crm_begin(r, &c, "object"))
		return;
	if (!record_exists(r, &c, c.obj, id))
		goto out;
	ops = kura_store_crm(r->principal.db, &conn);
	x.results = json_array();
	e = ops->activity_list(conn, c.obj->row.id, id, after, limit, add_activity, &x);
	if (e != KURA_OK) {
		json_decref(x.results);
		kura_reply_error(r, e, NULL);
		goto out;
	}
	kura_reply_json(r, 200, kura_api_page(x.results, x.n == limit, x.last));
out:
	kura_api_crm_end(r, &c);
}

void
kura_api_activities_create(struct kura_req *r)
{
	static const char *const fields[] = {"type", "body", "occurredAt", NULL};
	struct kura_api_crm c;
	struct kura_activity_row a;
	json_t *details = json_array(), *v;
	const char *type, *body;
	size_t i;
	void *conn;
	const struct kura_crm_ops *ops;
	int64_t id;
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	memset(&a, 0, sizeof(a));
	type = json_string_value(json_object_get(r->json, "type"));
	for (i = 0; type != NULL && activity_types[i] != NULL; i++) {
		if (strcmp(type, activity_types[i]) == 0)
			break;
	}
	if (type == NULL || activity_types[i] == NULL)
		kura_api_detail(details, "type", "invalid",
				"type is note, call, email, meeting or task");
	v = json_object_get(r->json, "body");
	body = json_string_value(v);
	if (body == NULL || json_string_length(v) == 0 || strlen(body) != json_string_length(v) ||
	    kura_utf8_chars(body, strlen(body)) > ACTIVITY_BODY_MAX)
		kura_api_detail(details, "body", "invalid", "body is 1..65535 characters");
	v = json_object_get(r->json, "occurredAt");
	if (v != NULL && (!json_is_string(v) ||
			  kura_time_parse_rfc3339(json_string_value(v), &a.occurred_at) != KURA_OK))
		kura_api_detail(details, "occurredAt", "invalid_datetime",
				"occurredAt is an RFC 3339 time");
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		return;
	}
	json_decref(details);
	if (!kura_api_record_id(r, "id", &id) || !kura_api_crm_begin(r, &c, "object"))
		return;
	if (!record_exists(r, &c, c.obj, id))
		goto out;
	a.object_id = c.obj->row.id;
	a.record_id = id;
	a.type = type;
	a.body = body;
	a.created_at = c.x.now;
	if (a.occurred_at == 0)
		a.occurred_at = c.x.now;
	a.author_type = c.x.actor.type;
	a.author_id = c.x.actor.id;
	ops = kura_store_crm(r->principal.db, &conn);
	e = kura_api_crm_write_begin(r, &c);
	if (e == KURA_OK)
		e = ops->activity_add(conn, &a);
	if (e == KURA_OK)
		e = kura_api_crm_audit(r, "activity.create", c.obj->row.name, id, type);
	e = kura_store_finish(r->principal.db, e);
	if (e != KURA_OK)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_json(r, 201, activity_json(&a));
out:
	kura_api_crm_end(r, &c);
}
