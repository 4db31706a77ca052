/*
 * Search (POST /api/v1/objects/{object}/search) and lists (segments):
 * static lists hold members added and removed explicitly; dynamic lists
 * hold a saved filter (the search's filterGroups, same grammar and
 * limits) whose members are found when the list is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "kura/clock.h"
#include "kura/text.h"

#define LISTS_MAX 1000

static void
reply_parse_error(struct kura_req *r, enum kura_err e, json_t *details)
{
	if (e == KURA_E_BAD_REQUEST)
		kura_reply_error_details(r, e, "a search limit was exceeded", details);
	else if (e == KURA_E_VALIDATION)
		kura_reply_error_details(r, e, "check the listed fields", details);
	else {
		json_decref(details);
		kura_reply_error(r, e, NULL);
	}
}

void
kura_api_records_search(struct kura_req *r)
{
	static const char *const fields[] = {"filterGroups", "query", "sorts", "properties",
					     "limit", "after", NULL};
	struct kura_api_crm c;
	struct kura_search_req s;
	json_t *details = json_array(), *out = NULL;
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	if (!kura_api_crm_begin(r, &c, "object")) {
		json_decref(details);
		return;
	}
	e = kura_search_parse(c.obj, r->json, true, &s, details);
	if (e != KURA_OK) {
		reply_parse_error(r, e, details);
		goto out;
	}
	json_decref(details);
	e = kura_search_run(&c.x, &s, true, &out);
	if (e == KURA_E_FORBIDDEN) {
		kura_req_audit_denied(r, e);
		kura_reply_error(r, e, "your role may not filter or sort on one of these properties");
	} else if (e == KURA_E_CONFLICT) {
		kura_reply_error(r, e, KURA_ENC_PENDING_MSG);
	} else if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
	} else {
		kura_reply_json(r, 200, out);
	}
out:
	kura_search_req_free(&s);
	kura_api_crm_end(r, &c);
}

/* --- lists --- */

static const char *
object_name(const struct kura_catalog *cat, int64_t id)
{
	const struct kura_object *o = kura_catalog_object_by_id(cat, id);

	return o != NULL ? o->row.name : "";
}

static json_t *
list_json(const struct kura_catalog *cat, const struct kura_list_row *l)
{
	char id[24], t1[40], t2[40];
	json_t *o;

	snprintf(id, sizeof(id), "%lld", (long long)l->id);
	kura_time_rfc3339(l->created_at, t1, sizeof(t1));
	kura_time_rfc3339(l->updated_at, t2, sizeof(t2));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "name", l->name, "object",
		      object_name(cat, l->object_id), "type", l->dynamic ? "dynamic" : "static",
		      "createdAt", t1, "updatedAt", t2);
	if (l->dynamic) {
		json_error_t je;
		json_t *f = json_loads(l->filter, 0, &je);

		json_object_set_new(o, "filterGroups", f != NULL ? f : json_array());
	} else {
		json_object_set_new(o, "size", json_integer(l->size));
	}
	return o;
}

struct list_ctx {
	const struct kura_catalog *cat;
	json_t *out;
	struct kura_list_row row;   /* a copy of the last row (filter in filter_copy) */
	char *filter_copy;
	size_t count;
};

static bool
add_list(void *ctx, const struct kura_list_row *l)
{
	struct list_ctx *x = ctx;

	x->count++;
	json_array_append_new(x->out, list_json(x->cat, l));
	return true;
}

static bool
keep_list(void *ctx, const struct kura_list_row *l)
{
	struct list_ctx *x = ctx;

	x->row = *l;
	free(x->filter_copy);
	x->filter_copy = strdup(l->filter != NULL ? l->filter : "");
	x->row.filter = x->filter_copy;
	return false;
}

void
kura_api_lists_list(struct kura_req *r)
{
	struct kura_api_crm c;
	struct list_ctx x = {0};
	void *conn;
	const struct kura_crm_ops *ops;
	enum kura_err e;

	if (!kura_api_crm_begin(r, &c, NULL))
		return;
	x.cat = c.cat;
	x.out = json_array();
	ops = kura_store_crm(r->principal.db, &conn);
	e = ops->list_all(conn, add_list, &x);
	kura_api_reply_results(r, e, x.out);
	kura_api_crm_end(r, &c);
}

/* Loads the list named by {id}; 404 when there is none. */
static bool
load_list(struct kura_req *r, struct list_ctx *x)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(r->principal.db, &conn);
	int64_t id;
	enum kura_err e;

	if (!kura_record_id_parse(kura_req_param(r, "id"), &id)) {
		kura_reply_error(r, KURA_E_NOT_FOUND, "no such list");
		return false;
	}
	e = ops->list_get(conn, id, keep_list, x);
	if (e != KURA_OK) {
		kura_reply_error(r, e, e == KURA_E_NOT_FOUND ? "no such list" : NULL);
		return false;
	}
	return true;
}

/* Validates name (1..128 characters, no control characters) into out. */
static bool
read_name(json_t *v, char *out, size_t n, json_t *details)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	bool ok = s != NULL && len > 0 && strlen(s) == len &&
		  kura_utf8_chars(s, len) <= KURA_LIST_NAME_MAX;

	for (size_t i = 0; ok && i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			ok = false;
	}
	if (!ok) {
		kura_api_detail(details, "name", "invalid", "name is 1..128 characters");
		return false;
	}
	snprintf(out, n, "%s", s);
	return true;
}

/* Checks filterGroups against o; on success *text is its compact JSON (malloc'd). */
static enum kura_err
read_filter(const struct kura_object *o, json_t *groups, char **text, json_t *details)
{
	struct kura_search_req s;
	json_t *body;
	enum kura_err e;

	*text = NULL;
	if (!json_is_array(groups) || json_array_size(groups) == 0) {
		kura_api_detail(details, "filterGroups", "required",
				"a dynamic list needs a non-empty filterGroups");
		return KURA_E_VALIDATION;
	}
	body = json_pack("{s:O}", "filterGroups", groups);
	e = kura_search_parse(o, body, false, &s, details);
	kura_search_req_free(&s);
	json_decref(body);
	if (e == KURA_OK) {
		*text = json_dumps(groups, JSON_COMPACT | JSON_REAL_PRECISION(15));
		if (*text == NULL)
			e = KURA_E_NOMEM;
	}
	return e;
}

void
kura_api_lists_create(struct kura_req *r)
{
	static const char *const fields[] = {"name", "object", "type", "filterGroups", NULL};
	struct kura_api_crm c;
	struct kura_list_row l;
	json_t *details = json_array();
	const struct kura_object *o = NULL;
	const char *type;
	char *filter = NULL;
	void *conn;
	const struct kura_crm_ops *ops;
	struct list_ctx count = {0};
	enum kura_err e = KURA_OK;

	if (!kura_api_object_only(r, fields, details))
		return;
	if (!kura_api_crm_begin(r, &c, NULL)) {
		json_decref(details);
		return;
	}
	memset(&l, 0, sizeof(l));
	read_name(json_object_get(r->json, "name"), l.name, sizeof(l.name), details);
	o = kura_catalog_object(c.cat, json_string_value(json_object_get(r->json, "object")));
	if (o == NULL)
		kura_api_detail(details, "object", "invalid", "object names an object type");
	type = json_string_value(json_object_get(r->json, "type"));
	if (type == NULL || (strcmp(type, "static") != 0 && strcmp(type, "dynamic") != 0))
		kura_api_detail(details, "type", "invalid", "type is static or dynamic");
	else
		l.dynamic = strcmp(type, "dynamic") == 0;
	if (type != NULL && !l.dynamic && json_object_get(r->json, "filterGroups") != NULL)
		kura_api_detail(details, "filterGroups", "not_applicable",
				"a static list has members, not filters");
	if (json_array_size(details) == 0 && l.dynamic)
		e = read_filter(o, json_object_get(r->json, "filterGroups"), &filter, details);
	if (json_array_size(details) > 0 || e != KURA_OK) {
		reply_parse_error(r, e != KURA_OK ? e : KURA_E_VALIDATION, details);
		goto out;
	}
	ops = kura_store_crm(r->principal.db, &conn);
	count.out = json_array();
	count.cat = c.cat;
	e = ops->list_all(conn, add_list, &count);
	json_decref(count.out);
	if (e == KURA_OK && count.count >= LISTS_MAX) {
		kura_api_detail(details, "name", "limit", "at most 1000 lists");
		kura_reply_error_details(r, KURA_E_BAD_REQUEST, "too many lists", details);
		goto out;
	}
	json_decref(details);
	details = NULL;
	l.object_id = o->row.id;
	l.filter = filter;
	l.created_by = r->principal.user.id;
	l.created_at = c.x.now;
	if (e == KURA_OK)
		e = kura_api_crm_write_begin(r, &c);
	if (e == KURA_OK)
		e = ops->list_create(conn, &l);
	if (e == KURA_OK)
		e = kura_api_crm_audit(r, "list.create", "list", l.id, NULL);
	e = kura_store_finish(r->principal.db, e);
	if (e != KURA_OK)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_json(r, 201, list_json(c.cat, &l));
out:
	free(filter);
	kura_api_crm_end(r, &c);
}

void
kura_api_lists_get(struct kura_req *r)
{
	struct kura_api_crm c;
	struct list_ctx x = {0};

	if (!kura_api_crm_begin(r, &c, NULL))
		return;
	if (load_list(r, &x))
		kura_reply_json(r, 200, list_json(c.cat, &x.row));
	free(x.filter_copy);
	kura_api_crm_end(r, &c);
}

static const struct kura_object *
list_object(const struct kura_catalog *cat, const struct kura_list_row *l)
{
	return kura_catalog_object(cat, object_name(cat, l->object_id));
}

void
kura_api_lists_update(struct kura_req *r)
{
	static const char *const fields[] = {"name", "filterGroups", NULL};
	struct kura_api_crm c;
	struct list_ctx x = {0};
	json_t *details = json_array();
	char *filter = NULL;
	void *conn;
	const struct kura_crm_ops *ops;
	enum kura_err e = KURA_OK;

	if (!kura_api_object_only(r, fields, details))
		return;
	if (!kura_api_crm_begin(r, &c, NULL)) {
		json_decref(details);
		return;
	}
	if (!load_list(r, &x)) {
		json_decref(details);
		goto out;
	}
	if (json_object_get(r->json, "name") != NULL)
		read_name(json_object_get(r->json, "name"), x.row.name, sizeof(x.row.name), details);
	if (json_object_get(r->json, "filterGroups") != NULL) {
		if (!x.row.dynamic)
			kura_api_detail(details, "filterGroups", "not_applicable",
					"a static list has members, not filters");
		else
			e = read_filter(list_object(c.cat, &x.row),
					json_object_get(r->json, "filterGroups"), &filter, details);
	}
	if (json_array_size(details) > 0 || e != KURA_OK) {
		reply_parse_error(r, e != KURA_OK ? e : KURA_E_VALIDATION, details);
		goto out;
	}
	json_decref(details);
	if (filter != NULL)
		x.row.filter = filter;
	x.row.updated_at = c.x.now;
	ops = kura_store_crm(r->principal.db, &conn);
	e = kura_api_crm_write_begin(r, &c);
	if (e == KURA_OK)
		e = ops->list_update(conn, &x.row);
	if (e == KURA_OK)
		e = kura_api_crm_audit(r, "list.update", "list", x.row.id, NULL);
	e = kura_store_finish(r->principal.db, e);
	if (e != KURA_OK)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_json(r, 200, list_json(c.cat, &x.row));
out:
	free(filter);
	free(x.filter_copy);
	kura_api_crm_end(r, &c);
}

void
kura_api_lists_delete(struct kura_req *r)
{
	struct kura_api_crm c;
	struct list_ctx x = {0};
	void *conn;
	const struct kura_crm_ops *ops;
	enum kura_err e;

	if (!kura_api_crm_begin(r, &c, NULL))
		return;
	if (!load_list(r, &x))
		goto out;
	ops = kura_store_crm(r->principal.db, &conn);
	e = kura_api_crm_write_begin(r, &c);
	if (e == KURA_OK)
		e = ops->list_delete(conn, x.row.id);
	if (e == KURA_OK)
		e = kura_api_crm_audit(r, "list.delete", "list", x.row.id, NULL);
	e = kura_store_finish(r->principal.db, e);
	if (e != KURA_OK)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_empty(r, 204);
out:
	free(x.filter_copy);
	kura_api_crm_end(r, &c);
}

void
kura_api_list_members(struct kura_req *r)
{
	static const char *const allowed[] = {"limit", "after", NULL};
	struct kura_api_crm c;
	struct list_ctx x = {0};
	struct kura_search_req s;
	const struct kura_object *o;
	json_t *details = NULL, *out = NULL, *body = NULL;
	const char *bad = NULL, *ls, *as;
	char kind = 0;
	int64_t after = 0;
	long limit = 10;
	char *end = NULL;
	enum kura_err e;

	memset(&s, 0, sizeof(s));
	if (!kura_req_query_only(r, allowed, &bad)) {
		kura_reply_error(r, KURA_E_BAD_REQUEST, "unknown or repeated query argument");
		return;
	}
	ls = kura_req_query(r, "limit");
	as = kura_req_query(r, "after");
	if (ls != NULL)
		limit = strtol(ls, &end, 10);
	if ((ls != NULL && (end == ls || *end != '\0' || limit < 1 || limit > 100)) ||
	    (as != NULL && (!kura_cursor_parse(as, &kind, &after) || kind != 'k'))) {
		kura_reply_error(r, KURA_E_VALIDATION, "limit is 1..100; after is a cursor");
		return;
	}
	if (!kura_api_crm_begin(r, &c, NULL))
		return;
	if (!load_list(r, &x))
		goto out;
	o = list_object(c.cat, &x.row);
	details = json_array();
	body = json_object();
	if (x.row.dynamic) {
		json_error_t je;

		json_object_set_new(body, "filterGroups", json_loads(x.row.filter, 0, &je));
	}
	c.obj = o;
	c.x.obj = o;
	e = kura_search_parse(o, body, false, &s, details);
	if (e != KURA_OK) {
		/*
		 * A saved filter that no longer holds: a property was deleted, or
		 * became sensitive and may now only be matched exactly in a single
		 * filter group. details says which.
		 */
		kura_reply_error_details(r, KURA_E_CONFLICT,
					 "the list's saved filter no longer holds for the object type's "
					 "properties as they are now (see details); change the filter",
					 details);
		details = NULL;
		goto out;
	}
	s.q.limit = (unsigned)limit;
	s.q.after_id = after;
	s.q.list_id = x.row.dynamic ? 0 : x.row.id;
	e = kura_search_run(&c.x, &s, false, &out);
	if (e == KURA_E_FORBIDDEN) {
		kura_req_audit_denied(r, e);
		kura_reply_error(r, e, "this list filters on a property your role may not view");
	} else if (e == KURA_E_CONFLICT) {
		kura_reply_error(r, e, KURA_ENC_PENDING_MSG);
	} else if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
	} else {
		kura_reply_json(r, 200, out);
	}
out:
	json_decref(details);
	json_decref(body);
	kura_search_req_free(&s);
	free(x.filter_copy);
	kura_api_crm_end(r, &c);
}

static void
members_change(struct kura_req *r, bool add)
{
	static const char *const fields[] = {"ids", NULL};
	struct kura_api_crm c;
	struct list_ctx x = {0};
	json_t *details = json_array(), *ids, *v;
	int64_t vals[100], changed = 0;
	size_t n = 0, i;
	void *conn;
	const struct kura_crm_ops *ops;
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	ids = json_object_get(r->json, "ids");
	if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > 100) {
		kura_api_detail(details, "ids", json_array_size(ids) > 100 ? "limit" : "required",
				"ids is an array of 1..100 record ids");
		kura_reply_error_details(r, json_array_size(ids) > 100 ? KURA_E_BAD_REQUEST
								     : KURA_E_VALIDATION,
					 "ids is an array of 1..100 record ids", details);
		return;
	}
	json_array_foreach(ids, i, v) {
		if (!json_is_string(v) || !kura_record_id_parse(json_string_value(v), &vals[n])) {
			kura_api_detail(details, "ids", "invalid", "each id is a record id string");
			kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields",
						 details);
			return;
		}
		n++;
	}
	json_decref(details);
	if (!kura_api_crm_begin(r, &c, NULL))
		return;
	if (!load_list(r, &x))
		goto out;
	if (x.row.dynamic) {
		kura_reply_error(r, KURA_E_CONFLICT,
				 "a dynamic list's members follow its filter");
		goto out;
	}
	ops = kura_store_crm(r->principal.db, &conn);
	e = kura_api_crm_write_begin(r, &c);
	if (e == KURA_OK)
		e = add ? ops->list_members_add(conn, x.row.id, x.row.object_id, vals, n, c.x.now,
						&changed)
			: ops->list_members_remove(conn, x.row.id, vals, n, &changed);
	if (e == KURA_OK)
		e = kura_api_crm_audit(r, add ? "list.members_add" : "list.members_remove", "list",
				       x.row.id, NULL);
	e = kura_store_finish(r->principal.db, e);
	if (e != KURA_OK)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_json(r, 200, json_pack("{s:I}", add ? "added" : "removed",
						  (json_int_t)changed));
out:
	free(x.filter_copy);
	kura_api_crm_end(r, &c);
}

void
kura_api_list_members_add(struct kura_req *r)
{
	members_change(r, true);
}

void
kura_api_list_members_remove(struct kura_req *r)
{
	members_change(r, false);
}
