/*
 * The catalogue over HTTP: object types (/api/v1/schemas) and their
 * properties (/api/v1/properties/{object}). Reading needs records.read;
 * changing needs properties.manage. A property's name is an identifier
 * that never changes; its type can change only when every stored value
 * converts (the reply says which would not), and a dry run reports that
 * without changing anything.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "kura/store_org.h"
#include "kura/clock.h"
#include "kura/text.h"

#define OPTION_VALUE_MAX 128
#define PATTERN_MAX 512

static json_t *
time_json(int64_t t)
{
	char buf[40];

	kura_time_rfc3339(t, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
schema_json(const struct kura_object *o)
{
	return json_pack("{s:s, s:{s:s, s:s}, s:s, s:b, s:o, s:o}", "name", o->row.name, "labels",
			 "en", o->row.label_en, "ja", o->row.label_ja, "primaryDisplayProperty",
			 o->row.primary_prop, "standard", o->row.standard, "createdAt",
			 time_json(o->row.created_at), "updatedAt", time_json(o->row.updated_at));
}

static json_t *
prop_json(const struct kura_prop *p)
{
	json_error_t je;
	json_t *val = json_loads(p->row.validation, 0, &je);

	json_t *perm = json_loads(p->row.permissions != NULL ? p->row.permissions : "{}", 0, &je);
	json_t *o = json_pack("{s:s, s:{s:s, s:s}, s:s, s:b, s:b, s:b, s:b, s:s, s:s, s:O, s:o, "
			      "s:b, s:o, s:o}",
			      "name", p->row.name, "labels", "en", p->row.label_en, "ja",
			      p->row.label_ja, "type", p->row.type, "required", p->row.required,
			      "unique", p->row.unique, "indexed", p->row.indexed, "sensitive",
			      p->row.sensitive, "classification", p->row.classification,
			      "description", p->row.description, "options", p->options,
			      "validation", val != NULL ? val : json_object(), "standard",
			      p->row.standard, "createdAt", time_json(p->row.created_at),
			      "updatedAt", time_json(p->row.updated_at));

	json_object_set_new(o, "permissions", perm != NULL ? perm : json_object());
	json_object_set_new(o, "encryption", json_null());
	return o;
}

/*
 * prop_json with the progress of a pending encryption (see
 * core/sensitive_flag.c), read from the store: the job counts without
 * changing the catalogue.
 */
static json_t *
prop_json_live(struct kura_api_crm *c, const struct kura_prop *p)
{
	json_t *o = prop_json(p);
	int state = KURA_ENC_NONE;
	int64_t done = 0, total = 0;

	if (p->row.enc_state != KURA_ENC_PENDING)
		return o;
	if (kura_sensitive_flag_progress(&c->x, p, &state, &done, &total) != KURA_OK) {
		state = KURA_ENC_PENDING;
		done = 0;
		total = p->row.enc_total;
	}
	if (state == KURA_ENC_PENDING)
		json_object_set_new(o, "encryption",
				    json_pack("{s:s, s:I, s:I}", "state", "pending", "done",
					      (json_int_t)done, "total", (json_int_t)total));
	return o;
}

static bool
ident_ok(const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > max || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* A "labels" object: en and/or ja, each 1..128 characters; one fills in for the other. */
static bool
read_labels(json_t *v, char *en, char *ja, json_t *details, bool required)
{
	const char *code = NULL;
	const char *ken, *kja;

	if (v == NULL || json_is_null(v)) {
		if (required)
			kura_api_detail(details, "labels", "required", "labels are required");
		return !required;
	}
	ken = json_string_value(json_object_get(v, "en"));
	kja = json_string_value(json_object_get(v, "ja"));
	if (!json_is_object(v))
		code = "invalid_type";
	else if (json_object_size(v) > (size_t)((ken != NULL) + (kja != NULL)) ||
		 (ken == NULL && kja == NULL))
		code = "invalid";
	else if ((ken != NULL && (ken[0] == '\0' || kura_utf8_chars(ken, strlen(ken)) > KURA_LABEL_MAX ||
				 strlen(ken) > KURA_LABEL_MAX * 3)) ||
		 (kja != NULL && (kja[0] == '\0' || kura_utf8_chars(kja, strlen(kja)) > KURA_LABEL_MAX ||
				 strlen(kja) > KURA_LABEL_MAX * 3)))
		code = "too_long";
	if (code != NULL) {
		kura_api_detail(details, "labels", code,
				"labels is {\"en\": \"...\", \"ja\": \"...\"}, each 1..128 characters");
		return false;
	}
	if (ken == NULL)
		ken = kja;
	if (kja == NULL)
		kja = ken;
	snprintf(en, KURA_LABEL_MAX * 3 + 1, "%s", ken != NULL ? ken : "");
	snprintf(ja, KURA_LABEL_MAX * 3 + 1, "%s", kja != NULL ? kja : "");
	return true;
}

/* --- schemas --- */

void
kura_api_schemas_list(struct kura_req *r)
{
	struct kura_api_crm c;
	json_t *results;

	if (!kura_api_crm_begin(r, &c, NULL))
		return;
	results = json_array();
	for (size_t i = 0; i < c.cat->nobjects; i++)
		json_array_append_new(results, schema_json(&c.cat->objects[i]));
	kura_reply_json(r, 200, json_pack("{s:o}", "results", results));
	kura_api_crm_end(r, &c);
}

void
kura_api_schemas_get(struct kura_req *r)
{
	struct kura_api_crm c;

	if (!kura_api_crm_begin(r, &c, "object"))
		return;
	kura_reply_json(r, 200, schema_json(c.obj));
	kura_api_crm_end(r, &c);
}

void
kura_api_schemas_create(struct kura_req *r)
{
	static const char *const fields[] = {"name", "labels", "primaryDisplayProperty", NULL};
	static const char *const reserved[] = {"contacts", "companies", "deals", "tickets",
					       "schemas", "search", "batch", NULL};
	struct kura_api_crm c;
	json_t *details = json_array(), *out = NULL;
	struct kura_object_row o;
	struct kura_prop_row p;
	char en[KURA_LABEL_MAX * 3 + 1], ja[KURA_LABEL_MAX * 3 + 1];
	const char *name, *primary;
	size_t custom = 0;
	void *conn;
	const struct kura_crm_ops *ops;
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	if (!kura_api_crm_begin(r, &c, NULL)) {
		json_decref(details);
		return;
	}
	name = json_string_value(json_object_get(r->json, "name"));
	if (!ident_ok(name, KURA_OBJECT_NAME_MAX) || strlen(name) < 2)
		kura_api_detail(details, "name", "invalid",
				"name is 2..50 of a-z, 0-9 and _, starting with a letter");
	for (size_t i = 0; name != NULL && reserved[i] != NULL; i++) {
		if (strcmp(reserved[i], name) == 0)
			kura_api_detail(details, "name", "reserved", "this name is reserved");
	}
	read_labels(json_object_get(r->json, "labels"), en, ja, details, true);
	primary = json_string_value(json_object_get(r->json, "primaryDisplayProperty"));
	if (json_object_get(r->json, "primaryDisplayProperty") != NULL &&
	    (primary == NULL || strcmp(primary, "name") != 0))
		kura_api_detail(details, "primaryDisplayProperty", "invalid",
				"a new object type starts with the property \"name\" as its primary "
				"display property");
	for (size_t i = 0; i < c.cat->nobjects; i++)
		custom += !c.cat->objects[i].row.standard;
	if (json_array_size(details) == 0 && custom >= KURA_OBJECTS_CUSTOM_MAX) {
		kura_api_detail(details, "name", "limit", "at most 50 custom object types");
		kura_reply_error_details(r, KURA_E_BAD_REQUEST, "too many object types", details);
		goto out;
	}
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		goto out;
	}
	memset(&o, 0, sizeof(o));
	snprintf(o.name, sizeof(o.name), "%s", name);
	snprintf(o.label_en, sizeof(o.label_en), "%s", en);
	snprintf(o.label_ja, sizeof(o.label_ja), "%s", ja);
	snprintf(o.primary_prop, sizeof(o.primary_prop), "name");
	o.created_at = c.x.now;
	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "name");
	snprintf(p.label_en, sizeof(p.label_en), "Name");
	snprintf(p.label_ja, sizeof(p.label_ja), "名前");
	snprintf(p.type, sizeof(p.type), "string");
	snprintf(p.classification, sizeof(p.classification), "internal");
	p.indexed = true;
	p.created_at = c.x.now;
	ops = kura_store_crm(r->principal.db, &conn);
	e = kura_store_begin(r->principal.db);
	if (e == KURA_OK)
		e = ops->object_create(conn, &o);
	if (e == KURA_OK) {
		p.object_id = o.id;
		e = ops->prop_create(conn, &p);
	}
	if (e == KURA_OK)
		e = kura_api_crm_audit_named(r, "schema.create", "schema", o.name, NULL);
	e = kura_store_finish(r->principal.db, e);
	if (e == KURA_E_EXISTS) {
		kura_api_detail(details, "name", "already_exists", "an object type has this name");
		kura_reply_error_details(r, e, "an object type has this name", details);
		goto out;
	}
	json_decref(details);
	details = NULL;
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		goto out;
	}
	{
		struct kura_object tmp = {.row = o};

		out = schema_json(&tmp);
	}
	kura_reply_json(r, 201, out);
out:
	kura_api_crm_end(r, &c);
}

/* --- properties --- */

static enum kura_err prop_in_index(const struct kura_crm_ops *ops, void *conn, int64_t object_id,
				   int64_t prop, bool *in);

/*
 * A property that is a column of an index over several properties keeps
 * its values in clear and stays live: true (answered 409) when prop is one.
 */
static bool
refuse_indexed(struct kura_req *r, const struct kura_crm_ops *ops, void *conn,
	       const struct kura_prop *prop, const char *field, enum kura_err *e)
{
	json_t *details;
	bool in = false;

	*e = prop_in_index(ops, conn, prop->row.object_id, prop->row.id, &in);
	if (*e != KURA_OK || !in)
		return false;
	kura_store_rollback(r->principal.db);
	details = json_array();
	kura_api_detail(details, field, "in_index",
			"the property is a column of an index over several properties "
			"(/api/v1/schemas/{object}/indexes): drop that index first");
	kura_reply_error_details(r, KURA_E_CONFLICT, "the property is in an index", details);
	return true;
}

static const char *const classifications[] = {"public", "internal", "confidential", "secret",
					      NULL};

static bool
bool_member(json_t *body, const char *k, bool *out, json_t *details)
{
	json_t *v = json_object_get(body, k);

	if (v == NULL)
		return true;
	if (!json_is_boolean(v)) {
		kura_api_detail(details, k, "invalid_type", "must be true or false");
		return false;
	}
	*out = json_is_true(v);
	return true;
}

/* Validates "options" for an enumeration into compact JSON text (malloc'd). */
static char *
read_options(json_t *v, json_t *details)
{
	size_t i;
	json_t *o, *norm;
	char *text;

	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > KURA_ENUM_OPTIONS_MAX) {
		kura_api_detail(details, "options", "invalid",
				"an enumeration has 1..500 options [{\"value\", \"labels\"}]");
		return NULL;
	}
	norm = json_array();
	json_array_foreach(v, i, o) {
		const char *val = json_string_value(json_object_get(o, "value"));
		char en[KURA_LABEL_MAX * 3 + 1], ja[KURA_LABEL_MAX * 3 + 1];
		bool dup = false;

		for (size_t j = 0; val != NULL && j < i; j++) {
			const char *w = json_string_value(json_object_get(json_array_get(v, j), "value"));

			dup = dup || (w != NULL && strcmp(w, val) == 0);
		}
		if (!json_is_object(o) || val == NULL || val[0] == '\0' ||
		    strlen(val) > OPTION_VALUE_MAX || dup ||
		    json_object_size(o) > (size_t)(1 + (json_object_get(o, "labels") != NULL))) {
			kura_api_detail(details, "options", "invalid",
					"each option is {\"value\": 1..128 characters, unique, "
					"\"labels\": {...}}");
			json_decref(norm);
			return NULL;
		}
		if (json_object_get(o, "labels") != NULL) {
			if (!read_labels(json_object_get(o, "labels"), en, ja, details, false)) {
				json_decref(norm);
				return NULL;
			}
		} else {
			snprintf(en, sizeof(en), "%s", val);
			snprintf(ja, sizeof(ja), "%s", val);
		}
		json_array_append_new(norm, json_pack("{s:s, s:{s:s, s:s}}", "value", val, "labels",
						      "en", en, "ja", ja));
	}
	text = json_dumps(norm, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(norm);
	return text;
}

/* Validates "validation" for type t into compact JSON text (malloc'd). */
static char *
read_validation(json_t *v, enum kura_ptype t, json_t *details)
{
	static const char *const members[] = {"minLength", "maxLength", "pattern",
					      "characterClasses", "min", "max", NULL};
	bool textual = t != KURA_PT_NUMBER && t != KURA_PT_BOOL && t != KURA_PT_DATE &&
		       t != KURA_PT_DATETIME && t != KURA_PT_ENUM;
	const char *key;
	json_t *m;
	size_t before = json_array_size(details);

	if (v == NULL || json_is_null(v))
		return strdup("{}");
	if (!json_is_object(v)) {
		kura_api_detail(details, "validation", "invalid_type", "validation is an object");
		return NULL;
	}
	json_object_foreach(v, key, m) {
		size_t i;

		for (i = 0; members[i] != NULL && strcmp(members[i], key) != 0; i++)
			;
		if (members[i] == NULL) {
			kura_api_detail(details, "validation", "unknown",
					"validation knows minLength, maxLength, pattern, "
					"characterClasses, min, max");
			return NULL;
		}
		if ((i <= 3 && !textual) || (i >= 4 && t != KURA_PT_NUMBER)) {
			kura_api_detail(details, "validation", "not_applicable",
					"this rule does not apply to the property's type");
			return NULL;
		}
		if (i <= 1 && (!json_is_integer(m) || json_integer_value(m) < 0 ||
			       json_integer_value(m) > KURA_TEXT_MAX_CHARS))
			kura_api_detail(details, "validation", "invalid",
					"minLength and maxLength are integers 0..65536");
		if (i >= 4 && !json_is_number(m))
			kura_api_detail(details, "validation", "invalid", "min and max are numbers");
		if (i == 2) {
			regex_t re;

			if (!json_is_string(m) || json_string_length(m) == 0 ||
			    json_string_length(m) > PATTERN_MAX ||
			    regcomp(&re, json_string_value(m), REG_EXTENDED | REG_NOSUB) != 0) {
				kura_api_detail(details, "validation", "invalid_pattern",
						"pattern is a POSIX extended regular expression of "
						"1..512 characters");
			} else {
				regfree(&re);
			}
		}
	}
	if (json_array_size(details) == before && json_is_integer(json_object_get(v, "minLength")) &&
	    json_is_integer(json_object_get(v, "maxLength")) &&
	    json_integer_value(json_object_get(v, "minLength")) >
		    json_integer_value(json_object_get(v, "maxLength")))
		kura_api_detail(details, "validation", "invalid", "minLength exceeds maxLength");
	if (json_array_size(details) == before && json_is_number(json_object_get(v, "min")) &&
	    json_is_number(json_object_get(v, "max")) &&
	    json_number_value(json_object_get(v, "min")) >
		    json_number_value(json_object_get(v, "max")))
		kura_api_detail(details, "validation", "invalid", "min exceeds max");
	if (json_array_size(details) > before)
		return NULL;
	return json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
}

/*
 * Every custom role and team a property's permissions name exists in the
 * caller's tenant; a "permissions" detail (code unknown_grantee) otherwise.
 */
static void
check_grantees(struct kura_req *r, const char *text, json_t *details)
{
	void *conn;
	const struct kura_org_ops *ops = kura_store_org(r->principal.db, &conn);
	json_t *o = json_loads(text != NULL ? text : "{}", 0, NULL), *list;
	const char *k;

	json_object_foreach(o, k, list) {
		size_t i;
		json_t *g;

		json_array_foreach(list, i, g) {
			const char *name = json_string_value(g);
			bool builtin;
			int64_t team;
			enum kura_err e = KURA_E_NOT_FOUND;

			if (!kura_grantee_parse(name, &builtin, &team) || builtin)
				continue;
			if (team != 0) {
				struct kura_team_row *t = calloc(1, sizeof(*t));

				if (t != NULL)
					e = ops->team_get(conn, team, t);
				free(t);
			} else {
				struct kura_role_row *rr = calloc(1, sizeof(*rr));

				if (rr != NULL)
					e = ops->role_get(conn, name, rr);
				free(rr);
			}
			if (e != KURA_OK) {
				char msg[160];

				snprintf(msg, sizeof(msg), "no role or team \"%.48s\" in this tenant",
					 name);
				kura_api_detail(details, "permissions", "unknown_grantee", msg);
				json_decref(o);
				return;
			}
		}
	}
	json_decref(o);
}

/*
 * Reads the settable fields of a property from body into p (which holds
 * the current state for PATCH). Compiles it to check that everything
 * holds together.
 */
static bool
read_prop_fields(json_t *body, struct kura_prop *p, bool create, json_t *details)
{
	char en[KURA_LABEL_MAX * 3 + 1], ja[KURA_LABEL_MAX * 3 + 1];
	json_t *v;
	int t = kura_ptype_parse(p->row.type);
	size_t before = json_array_size(details);
	char err[128];

	v = json_object_get(body, "type");
	if (v != NULL || create) {
		t = kura_ptype_parse(json_string_value(v));
		if (t < 0) {
			kura_api_detail(details, "type", create && v == NULL ? "required" : "invalid",
					"type is one of string, text, number, bool, date, datetime, "
					"enumeration, email, phone, url");
			return false;
		}
		snprintf(p->row.type, sizeof(p->row.type), "%s", kura_ptype_name((enum kura_ptype)t));
	}
	if (read_labels(json_object_get(body, "labels"), en, ja, details, create)) {
		if (json_object_get(body, "labels") != NULL) {
			snprintf(p->row.label_en, sizeof(p->row.label_en), "%s", en);
			snprintf(p->row.label_ja, sizeof(p->row.label_ja), "%s", ja);
		}
	}
	bool_member(body, "required", &p->row.required, details);
	bool_member(body, "unique", &p->row.unique, details);
	bool_member(body, "indexed", &p->row.indexed, details);
	bool_member(body, "sensitive", &p->row.sensitive, details);
	v = json_object_get(body, "classification");
	if (v != NULL) {
		size_t i;

		for (i = 0; classifications[i] != NULL; i++) {
			if (json_is_string(v) && strcmp(json_string_value(v), classifications[i]) == 0)
				break;
		}
		if (classifications[i] == NULL)
			kura_api_detail(details, "classification", "invalid",
					"classification is public, internal, confidential or secret");
		else
			snprintf(p->row.classification, sizeof(p->row.classification), "%s",
				 classifications[i]);
	}
	v = json_object_get(body, "description");
	if (v != NULL) {
		if (!json_is_string(v) || kura_utf8_chars(json_string_value(v), json_string_length(v)) >
						  KURA_PROP_DESC_MAX) {
			kura_api_detail(details, "description", "too_long",
					"description is a string of at most 1000 characters");
		} else {
			free(p->description);
			p->description = strdup(json_string_value(v));
		}
	}
	if (t == KURA_PT_ENUM) {
		v = json_object_get(body, "options");
		if (v != NULL || create || strcmp(p->options_text ? p->options_text : "[]", "[]") == 0) {
			char *o = read_options(v, details);

			if (o != NULL) {
				free(p->options_text);
				p->options_text = o;
			}
		}
	} else if (json_object_get(body, "options") != NULL) {
		kura_api_detail(details, "options", "not_applicable", "only enumerations have options");
	} else {
		free(p->options_text);
		p->options_text = strdup("[]");
	}
	v = json_object_get(body, "validation");
	if (v != NULL || create || json_object_get(body, "type") != NULL) {
		json_error_t je;
		json_t *cur = v != NULL ? json_incref(v)
					: json_loads(p->validation_text ? p->validation_text : "{}",
						     0, &je);
		char *val;

		/* A type change drops rules that no longer apply. */
		if (v == NULL && cur != NULL && (t == KURA_PT_NUMBER) !=
						     (json_object_get(cur, "min") != NULL ||
						      json_object_get(cur, "max") != NULL)) {
			json_decref(cur);
			cur = json_object();
		}
		val = read_validation(cur, (enum kura_ptype)t, details);
		json_decref(cur);
		if (val != NULL) {
			free(p->validation_text);
			p->validation_text = val;
		}
	}
	if (p->row.unique && (t == KURA_PT_TEXT || t == KURA_PT_BOOL || t == KURA_PT_ENUM))
		kura_api_detail(details, "unique", "not_applicable",
				"text, bool and enumeration properties cannot be unique");
	/*
	 * A sensitive value is stored as ciphertext with a fresh nonce: a
	 * unique or ordinary index over it would mean nothing. Exact search
	 * goes through its blind index instead.
	 */
	if (p->row.sensitive && p->row.unique)
		kura_api_detail(details, "unique", "not_applicable",
				"a sensitive property cannot be unique");
	if (p->row.unique)
		p->row.indexed = true;
	v = json_object_get(body, "permissions");
	if (v != NULL) {
		bool ok = json_is_object(v);
		const char *k;
		json_t *list;

		json_object_foreach(v, k, list) {
			size_t i;
			json_t *role;

			if ((strcmp(k, "view") != 0 && strcmp(k, "edit") != 0) || !json_is_array(list))
				ok = false;
			json_array_foreach(list, i, role) {
				bool builtin;
				int64_t team;

				if (!kura_grantee_parse(json_string_value(role), &builtin, &team) ||
				    i >= 100)
					ok = false;
			}
		}
		if (!ok) {
			kura_api_detail(details, "permissions", "invalid",
					"permissions is {\"view\": [grantees], \"edit\": [grantees]}, "
					"at most 100 each: built-in roles (super_admin, admin, member, "
					"read_only), the tenant's own roles and teams as team:<id>");
		} else {
			free(p->permissions_text);
			p->permissions_text = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
		}
	}
	/* Field-level permissions are for sensitive properties. */
	if (!p->row.sensitive && p->permissions_text != NULL &&
	    strcmp(p->permissions_text, "{}") != 0)
		kura_api_detail(details, "permissions", "not_applicable",
				"only sensitive properties have field-level permissions");
	if (json_array_size(details) > before)
		return false;
	json_decref(p->options);
	p->options = NULL;
	if (p->has_pattern) {
		regfree(&p->pattern);
		p->has_pattern = false;
	}
	p->classes = 0;
	if (!kura_prop_compile(p, err, sizeof(err))) {
		kura_api_detail(details, "validation", "invalid", err);
		return false;
	}
	return true;
}

/* A property is named "<object>.<property>" in the audit log. */
static enum kura_err
prop_audit(struct kura_req *r, const char *action, const struct kura_object *o, const char *name,
	   const char *props)
{
	char target[KURA_OBJECT_NAME_MAX + KURA_PROP_NAME_MAX + 2];

	snprintf(target, sizeof(target), "%s.%s", o->row.name, name);
	return kura_api_crm_audit_named(r, action, "property", target, props);
}

void
kura_api_props_list(struct kura_req *r)
{
	struct kura_api_crm c;
	json_t *results;

	if (!kura_api_crm_begin(r, &c, "object"))
		return;
	results = json_array();
	for (size_t i = 0; i < c.obj->nprops; i++)
		json_array_append_new(results, prop_json_live(&c, c.obj->props[i]));
	kura_reply_json(r, 200, json_pack("{s:o}", "results", results));
	kura_api_crm_end(r, &c);
}

static const struct kura_prop *
route_prop(struct kura_req *r, struct kura_api_crm *c)
{
	const struct kura_prop *p = kura_object_prop(c->obj, kura_req_param(r, "name"));

	if (p == NULL)
		kura_reply_error(r, KURA_E_NOT_FOUND, "no such property");
	return p;
}

void
kura_api_props_get(struct kura_req *r)
{
	struct kura_api_crm c;
	const struct kura_prop *p;

	if (!kura_api_crm_begin(r, &c, "object"))
		return;
	p = route_prop(r, &c);
	if (p != NULL)
		kura_reply_json(r, 200, prop_json_live(&c, p));
	kura_api_crm_end(r, &c);
}

/*
 * "indexed" when the caller says nothing. A sensitive property gets its
 * blind index (exact search; "indexed": false leaves it out: no search by
 * the value, no equality of values visible in the file, no Argon2id per
 * write for a low-entropy type). Otherwise the types people filter and
 * sort on get an index (each one costs every write a B-tree insert); free
 * text is found through the full-text index instead.
 */
static bool
default_indexed(const struct kura_prop *p)
{
	if (p->row.sensitive)
		return true;
	return p->row.unique || p->type == KURA_PT_NUMBER || p->type == KURA_PT_DATE ||
	       p->type == KURA_PT_DATETIME || p->type == KURA_PT_ENUM || p->type == KURA_PT_EMAIL;
}

void
kura_api_props_create(struct kura_req *r)
{
	static const char *const fields[] = {"name",	   "labels",	  "type",
					     "required",   "unique",	  "indexed",
					     "options",	   "validation",  "sensitive",
					     "classification", "description", "permissions",
					     NULL};
	struct kura_api_crm c;
	struct kura_prop p;
	json_t *details = json_array();
	const char *name;
	void *conn;
	const struct kura_crm_ops *ops;
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	if (!kura_api_crm_begin(r, &c, "object")) {
		json_decref(details);
		return;
	}
	memset(&p, 0, sizeof(p));
	name = json_string_value(json_object_get(r->json, "name"));
	if (!ident_ok(name, KURA_PROP_NAME_MAX) || strcmp(name, "id") == 0)
		kura_api_detail(details, "name", "invalid",
				"name is 1..64 of a-z, 0-9 and _, starting with a letter (not \"id\")");
	else
		snprintf(p.row.name, sizeof(p.row.name), "%s", name);
	snprintf(p.row.classification, sizeof(p.row.classification), "internal");
	p.row.indexed = true;
	p.description = strdup("");
	p.options_text = strdup("[]");
	p.validation_text = strdup("{}");
	p.permissions_text = strdup("{}");
	read_prop_fields(r->json, &p, true, details);
	if (json_array_size(details) == 0)
		check_grantees(r, p.permissions_text, details);
	if (json_array_size(details) == 0 && c.obj->nprops >= KURA_PROPS_PER_OBJECT_MAX) {
		kura_api_detail(details, "name", "limit", "at most 500 properties per object type");
		kura_reply_error_details(r, KURA_E_BAD_REQUEST, "too many properties", details);
		goto out;
	}
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		goto out;
	}
	if (json_object_get(r->json, "indexed") == NULL)
		p.row.indexed = default_indexed(&p);
	p.row.object_id = c.obj->row.id;
	p.row.created_at = c.x.now;
	p.row.description = p.description;
	p.row.options = p.options_text;
	p.row.validation = p.validation_text;
	p.row.permissions = p.permissions_text;
	ops = kura_store_crm(r->principal.db, &conn);
	e = kura_store_begin(r->principal.db);
	if (e == KURA_OK)
		e = ops->prop_create(conn, &p.row);
	/* a new sensitive property's blind index comes from the current data key */
	if (e == KURA_OK && p.row.sensitive)
		e = ops->prop_bidx_set(conn, p.row.id, r->principal.tenant.key_version, 0, 0);
	if (e == KURA_OK)
		e = prop_audit(r, "property.create", c.obj, p.row.name, NULL);
	e = kura_store_finish(r->principal.db, e);
	if (e == KURA_E_EXISTS) {
		kura_api_detail(details, "name", "already_exists",
				"this object type has (or had) a property of this name");
		kura_reply_error_details(r, e, "the name is taken", details);
		goto out;
	}
	json_decref(details);
	details = NULL;
	if (e != KURA_OK)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_json(r, 201, prop_json(&p));
out:
	kura_prop_clear(&p);
	kura_api_crm_end(r, &c);
}

/* A copy of a catalogue property that PATCH can change. */
static bool
prop_copy(const struct kura_prop *src, struct kura_prop *dst)
{
	char err[128];

	memset(dst, 0, sizeof(*dst));
	dst->row = src->row;
	dst->description = strdup(src->row.description);
	dst->options_text = strdup(src->row.options);
	dst->validation_text = strdup(src->row.validation);
	dst->permissions_text = strdup(src->row.permissions != NULL ? src->row.permissions : "{}");
	if (dst->description == NULL || dst->options_text == NULL || dst->validation_text == NULL ||
	    dst->permissions_text == NULL)
		return false;
	return kura_prop_compile(dst, err, sizeof(err));
}

struct conv {
	const struct kura_prop *from, *to;
	struct kura_strpool sp;
	int64_t ok, bad;
	json_t *examples;
	bool apply;
	void *conn;
	const struct kura_crm_ops *ops;
	int64_t object_id;
	enum kura_err e;
};

/* The stored value of from, as a JSON value that to's reader may accept. */
static json_t *
convert_json(const struct kura_prop *from, const struct kura_prop *to, const struct kura_val *v)
{
	json_t *j = kura_value_to_json(from, v);
	bool textual = to->type != KURA_PT_NUMBER && to->type != KURA_PT_BOOL &&
		       to->type != KURA_PT_DATETIME;

	if (textual && !json_is_string(j)) {
		char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));

		json_decref(j);
		j = json_string(s != NULL ? s : "");
		free(s);
	} else if (to->type == KURA_PT_NUMBER && json_is_string(j)) {
		char *end = NULL;
		const char *s = json_string_value(j);
		double d = strtod(s, &end);

		if (end != s && *end == '\0') {
			json_decref(j);
			j = json_real(d);
		}
	} else if (to->type == KURA_PT_BOOL && json_is_string(j)) {
		const char *s = json_string_value(j);

		if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
			bool b = strcmp(s, "true") == 0;

			json_decref(j);
			j = json_boolean(b);
		}
	}
	return j;
}

static bool
convert_one(void *ctx, int64_t id, const struct kura_val *v)
{
	struct conv *c = ctx;
	json_t *j = convert_json(c->from, c->to, v);
	struct kura_val out;

	if (kura_value_from_json(c->to, j, false, &c->sp, &out, NULL)) {
		c->ok++;
		if (c->apply && !kura_val_equal(v, &out)) {
			c->e = c->ops->prop_value_set(c->conn, c->object_id, c->to->row.id, id, &out);
			if (c->e != KURA_OK) {
				json_decref(j);
				return false;
			}
		}
	} else {
		char sid[24];

		c->bad++;
		if (json_array_size(c->examples) < 10) {
			snprintf(sid, sizeof(sid), "%lld", (long long)id);
			json_array_append_new(c->examples, json_string(sid));
		}
	}
	json_decref(j);
	/* Keep the pool small on big tables: converted texts are not needed after. */
	if (c->sp.n > 1024)
		kura_strpool_free(&c->sp);
	return true;
}

static bool
count_value(void *ctx, int64_t id, const struct kura_val *v)
{
	(void)id;
	(void)v;
	(*(int64_t *)ctx)++;
	return false; /* one is enough */
}

void
kura_api_props_update(struct kura_req *r)
{
	static const char *const fields[] = {"labels",	   "type",	  "required",
					     "unique",	   "indexed",	  "options",
					     "validation", "sensitive",	  "classification",
					     "description", "dryRun",	  "permissions",
					     "force",	   NULL};
	struct kura_api_crm c;
	const struct kura_prop *cur;
	struct kura_prop p;
	struct conv cv;
	json_t *details = json_array(), *dry, *force, *sens;
	bool type_change, check_values, reindex, turn_on = false, turn_off = false, accepted;
	bool index_on = false, index_off = false;
	int64_t held = 0;
	void *conn;
	const struct kura_crm_ops *ops;
	enum kura_err e = KURA_OK;

	memset(&p, 0, sizeof(p));
	memset(&cv, 0, sizeof(cv));
	if (!kura_api_object_only(r, fields, details))
		return;
	if (!kura_api_crm_begin(r, &c, "object")) {
		json_decref(details);
		return;
	}
	cur = route_prop(r, &c);
	if (cur == NULL)
		goto out;
	dry = json_object_get(r->json, "dryRun");
	if (dry != NULL && !json_is_boolean(dry))
		kura_api_detail(details, "dryRun", "invalid_type", "must be true or false");
	force = json_object_get(r->json, "force");
	sens = json_object_get(r->json, "sensitive");
	if (force != NULL && !json_is_boolean(force))
		kura_api_detail(details, "force", "invalid_type", "must be true or false");
	else if (force != NULL && !json_is_false(sens))
		kura_api_detail(details, "force", "not_applicable",
				"force goes with \"sensitive\": false only");
	if (!prop_copy(cur, &p)) {
		kura_reply_error(r, KURA_E_NOMEM, NULL);
		goto out;
	}
	/* Field-level permissions are for sensitive properties: they go with the flag. */
	if (cur->row.sensitive && json_is_false(sens) &&
	    json_object_get(r->json, "permissions") == NULL) {
		free(p.permissions_text);
		p.permissions_text = strdup("{}");
		if (p.permissions_text == NULL) {
			kura_reply_error(r, KURA_E_NOMEM, NULL);
			goto out;
		}
	}
	read_prop_fields(r->json, &p, false, details);
	/* the flag turned without a say on "indexed": the default of what it becomes */
	if (json_object_get(r->json, "indexed") == NULL && p.row.sensitive != cur->row.sensitive)
		p.row.indexed = default_indexed(&p);
	if (json_array_size(details) == 0 && json_object_get(r->json, "permissions") != NULL)
		check_grantees(r, p.permissions_text, details);
	type_change = p.type != cur->type;
	index_on = cur->row.sensitive && p.row.sensitive && !cur->row.indexed && p.row.indexed;
	index_off = cur->row.sensitive && p.row.sensitive && cur->row.indexed && !p.row.indexed;
	if (type_change && cur->row.standard)
		kura_api_detail(details, "type", "read_only",
				"a standard property's type cannot change");
	if (type_change && (cur->row.sensitive || p.row.sensitive))
		kura_api_detail(details, "type", "read_only",
				"a sensitive property's type cannot change");
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		details = NULL;
		goto out;
	}
	/* New options or a new type must hold every stored value. */
	check_values = type_change || (p.type == KURA_PT_ENUM &&
				       strcmp(p.options_text, cur->row.options) != 0);
	/* Enumeration options of a sensitive property are checked at write time only. */
	if (cur->row.sensitive && p.row.sensitive)
		check_values = false;
	reindex = p.searchable != cur->searchable;
	ops = kura_store_crm(r->principal.db, &conn);
	cv.from = cur;
	cv.to = &p;
	cv.examples = json_array();
	cv.conn = conn;
	cv.ops = ops;
	cv.object_id = c.obj->row.id;
	e = kura_store_begin(r->principal.db);
	if (e == KURA_OK && p.row.sensitive && !cur->row.sensitive &&
	    refuse_indexed(r, ops, conn, cur, "sensitive", &e))
		goto out;
	/*
	 * Turning the flag on marks the property pending: housekeeping encrypts
	 * its values in the background. Turning it off decrypts them at once,
	 * and only when a super admin forces it (the values leave protection).
	 */
	if (e == KURA_OK && p.row.sensitive != cur->row.sensitive) {
		e = ops->prop_values(conn, c.obj->row.id, cur->row.id, count_value, &held);
		turn_on = p.row.sensitive && held > 0;
		turn_off = !p.row.sensitive && held > 0;
		if (e == KURA_OK && turn_off && !json_is_true(force)) {
			kura_store_rollback(r->principal.db);
			kura_api_detail(details, "sensitive", "values_present",
					"records hold values of this property: a super admin can "
					"turn the flag off with \"force\": true, which decrypts them");
			kura_reply_error_details(r, KURA_E_CONFLICT,
						 "the property holds values", details);
			details = NULL;
			goto out;
		}
		if (e == KURA_OK && turn_off && (c.x.role == NULL ||
						 strcmp(c.x.role, "super_admin") != 0)) {
			kura_store_rollback(r->principal.db);
			kura_req_audit_denied(r, KURA_E_FORBIDDEN);
			kura_reply_error(r, KURA_E_FORBIDDEN,
					 "only a super admin can turn the flag off while values exist");
			goto out;
		}
	}
	if (e == KURA_OK && check_values)
		e = ops->prop_values(conn, c.obj->row.id, cur->row.id, convert_one, &cv);
	if (e == KURA_OK && json_is_true(dry)) {
		kura_store_rollback(r->principal.db);
		kura_reply_json(r, 200, json_pack("{s:I, s:I, s:O}", "convertible", (json_int_t)cv.ok,
						  "incompatible", (json_int_t)cv.bad, "examples",
						  cv.examples));
		goto out;
	}
	if (e == KURA_OK && cv.bad > 0) {
		char msg[200];

		kura_store_rollback(r->principal.db);
		snprintf(msg, sizeof(msg), "%lld stored values cannot become %s, e.g. record %s",
			 (long long)cv.bad, p.row.type, json_string_value(json_array_get(cv.examples, 0)));
		kura_api_detail(details, type_change ? "type" : "options", "incompatible_values", msg);
		kura_reply_error_details(r, KURA_E_CONFLICT, msg, details);
		details = NULL;
		goto out;
	}
	if (e == KURA_OK && check_values) {
		cv.apply = true;
		cv.ok = 0;
		e = ops->prop_values(conn, c.obj->row.id, cur->row.id, convert_one, &cv);
		if (e == KURA_OK)
			e = cv.e;
	}
	p.row.updated_at = c.x.now;
	p.row.description = p.description;
	p.row.options = p.options_text;
	p.row.validation = p.validation_text;
	p.row.permissions = p.permissions_text;
	if (e == KURA_OK && turn_off) {
		/* in clear before the text index is rebuilt from them below */
		struct kura_rec_ctx x = c.x;
		size_t n = 0;
		char count[48];

		x.obj = c.obj;
		e = kura_sensitive_flag_off(&x, cur, &n);
		snprintf(count, sizeof(count), "%zu values", n);
		if (e == KURA_OK)
			e = prop_audit(r, "property.decrypted", c.obj, p.row.name, count);
	}
	if (e == KURA_OK)
		e = ops->prop_update(conn, &p.row);
	/*
	 * So does one turned sensitive, or whose blind index is turned on (an
	 * older version may have been retired); a blind index turned off ends
	 * its rotation, if one was under way.
	 */
	if (e == KURA_OK && p.row.sensitive && (!cur->row.sensitive || index_on))
		e = ops->prop_bidx_set(conn, p.row.id, r->principal.tenant.key_version, 0, 0);
	else if (e == KURA_OK && index_off && cur->row.bidx_next != 0)
		e = ops->prop_bidx_set(conn, p.row.id, cur->row.bidx_version, 0, 0);
	/* values already sealed get their index from the background job, as above */
	if (e == KURA_OK && index_on) {
		struct kura_rec_ctx x = c.x;

		x.obj = c.obj;
		e = kura_sensitive_flag_on(&x, cur, &held);
	}
	if (e == KURA_OK && reindex) {
		/* the object as it is after this change */
		struct kura_object o = *c.obj;
		struct kura_prop **props = calloc(o.nprops + 1, sizeof(*props));
		struct kura_rec_ctx x = c.x;

		if (props == NULL) {
			e = KURA_E_NOMEM;
		} else {
			for (size_t i = 0; i < o.nprops; i++)
				props[i] = o.props[i] == cur ? &p : o.props[i];
			o.props = props;
			x.obj = &o;
			e = kura_records_reindex(&x, p.row.id);
			/* words taken out must not linger in older segments */
			if (e == KURA_OK && !p.searchable)
				e = kura_sensitive_flag_fts_purge(&x);
			if (e == KURA_OK && turn_on)
				e = kura_sensitive_flag_on(&x, cur, &held);
			turn_on = false;
			free(props);
		}
	}
	if (e == KURA_OK && turn_on) {
		struct kura_rec_ctx x = c.x;

		x.obj = c.obj;
		e = kura_sensitive_flag_on(&x, cur, &held);
	}
	accepted = p.row.sensitive && held > 0 && (!cur->row.sensitive || index_on);
	if (accepted) {
		p.row.enc_state = KURA_ENC_PENDING;
		p.row.enc_total = held;
	} else if (!p.row.sensitive) {
		p.row.enc_state = KURA_ENC_NONE;
	}
	if (e == KURA_OK) {
		char names[KURA_AUDIT_PROPS_MAX + 1];

		kura_api_prop_names(r->json, names, sizeof(names));
		e = prop_audit(r, "property.update", c.obj, p.row.name, names);
	}
	e = kura_store_finish(r->principal.db, e);
	if (e == KURA_E_CONFLICT) {
		kura_api_detail(details, "unique", "duplicate_values",
				"stored values repeat: the property cannot be unique");
		kura_reply_error_details(r, e, "stored values repeat", details);
		details = NULL;
	} else if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
	} else if (accepted) {
		/* Accepted: the values are encrypted in the background (see "encryption"). */
		json_t *o = prop_json(&p);

		json_object_set_new(o, "encryption",
				    json_pack("{s:s, s:I, s:I}", "state", "pending", "done",
					      (json_int_t)0, "total", (json_int_t)p.row.enc_total));
		kura_reply_json(r, 202, o);
	} else {
		kura_reply_json(r, 200, prop_json_live(&c, &p));
	}
out:
	json_decref(details);
	json_decref(cv.examples);
	kura_strpool_free(&cv.sp);
	kura_prop_clear(&p);
	kura_api_crm_end(r, &c);
}

void
kura_api_props_delete(struct kura_req *r)
{
	struct kura_api_crm c;
	const struct kura_prop *cur;
	struct kura_prop p;
	void *conn;
	const struct kura_crm_ops *ops;
	enum kura_err e;

	memset(&p, 0, sizeof(p));
	if (!kura_api_crm_begin(r, &c, "object"))
		return;
	cur = route_prop(r, &c);
	if (cur == NULL)
		goto out;
	if (cur->row.standard || strcmp(cur->row.name, c.obj->row.primary_prop) == 0) {
		kura_reply_error(r, KURA_E_CONFLICT,
				 "standard and primary display properties cannot be deleted");
		goto out;
	}
	if (!prop_copy(cur, &p)) {
		kura_reply_error(r, KURA_E_NOMEM, NULL);
		goto out;
	}
	p.row.archived_at = c.x.now;
	p.row.updated_at = c.x.now;
	ops = kura_store_crm(r->principal.db, &conn);
	e = kura_store_begin(r->principal.db);
	if (e == KURA_OK && refuse_indexed(r, ops, conn, cur, "name", &e))
		goto out;
	if (e == KURA_OK)
		e = ops->prop_update(conn, &p.row);
	if (e == KURA_OK && cur->searchable) {
		/* its values leave the text index with it */
		struct kura_object o = *c.obj;
		struct kura_prop **props = calloc(o.nprops + 1, sizeof(*props));
		struct kura_rec_ctx x = c.x;
		size_t n = 0;

		if (props == NULL) {
			e = KURA_E_NOMEM;
		} else {
			for (size_t i = 0; i < o.nprops; i++) {
				if (o.props[i] != cur)
					props[n++] = o.props[i];
			}
			o.props = props;
			o.nprops = n;
			x.obj = &o;
			e = kura_records_reindex(&x, cur->row.id);
			free(props);
		}
	}
	if (e == KURA_OK)
		e = prop_audit(r, "property.archive", c.obj, cur->row.name, NULL);
	e = kura_store_finish(r->principal.db, e);
	if (e != KURA_OK)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_empty(r, 204);
out:
	kura_prop_clear(&p);
	kura_api_crm_end(r, &c);
}

/* --- indexes over several properties --- */

struct index_walk {
	const struct kura_catalog *cat;
	json_t *out;       /* index_list: the JSON of each */
	int64_t prop;      /* prop_in_index: the property looked for */
	size_t n;
	bool hit;
};

static json_t *
index_json(const struct kura_catalog *cat, const struct kura_index_row *ix)
{
	json_t *props = json_array();
	char id[24];

	for (size_t i = 0; i < ix->nprops; i++) {
		const struct kura_prop *p = kura_catalog_prop_by_id(cat, ix->props[i]);

		json_array_append_new(props, p != NULL ? json_string(p->row.name) : json_null());
	}
	snprintf(id, sizeof(id), "%lld", (long long)ix->id);
	return json_pack("{s:s, s:o, s:o}", "id", id, "properties", props, "createdAt",
			 time_json(ix->created_at));
}

static bool
index_walk_one(void *ctx, const struct kura_index_row *ix)
{
	struct index_walk *w = ctx;

	w->n++;
	if (w->out != NULL)
		json_array_append_new(w->out, index_json(w->cat, ix));
	for (size_t i = 0; i < ix->nprops; i++)
		w->hit = w->hit || ix->props[i] == w->prop;
	return true;
}

/* The names of ix's properties, comma-separated (for the audit log). */
static void
index_names(const struct kura_catalog *cat, const struct kura_index_row *ix, char *out, size_t n)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < ix->nprops && used < n; i++) {
		const struct kura_prop *p = kura_catalog_prop_by_id(cat, ix->props[i]);

		used += (size_t)snprintf(out + used, n - used, "%s%s", i > 0 ? "," : "",
					 p != NULL ? p->row.name : "?");
	}
}

/* Whether an index over several properties of the object type has prop among its columns. */
static enum kura_err
prop_in_index(const struct kura_crm_ops *ops, void *conn, int64_t object_id, int64_t prop,
	      bool *in)
{
	struct index_walk w = {.prop = prop};
	enum kura_err e = ops->index_list(conn, object_id, index_walk_one, &w);

	*in = w.hit;
	return e;
}

void
kura_api_indexes_list(struct kura_req *r)
{
	struct kura_api_crm c;
	struct index_walk w;
	void *conn;
	const struct kura_crm_ops *ops;
	enum kura_err e;

	if (!kura_api_crm_begin(r, &c, "object"))
		return;
	memset(&w, 0, sizeof(w));
	w.cat = c.cat;
	w.out = json_array();
	ops = kura_store_crm(r->principal.db, &conn);
	e = ops->index_list(conn, c.obj->row.id, index_walk_one, &w);
	kura_api_reply_results(r, e, w.out);
	kura_api_crm_end(r, &c);
}

/*
 * The properties of a new index: 2..KURA_INDEX_PROPS_MAX distinct, live,
 * not sensitive (their values are ciphertext under a fresh nonce: an index
 * over them would find nothing and order nothing).
 */
static void
read_index_props(const struct kura_object *o, json_t *v, struct kura_index_row *ix,
		 json_t *details)
{
	size_t i;
	json_t *el;

	if (!json_is_array(v) || json_array_size(v) < 2 ||
	    json_array_size(v) > KURA_INDEX_PROPS_MAX) {
		kura_api_detail(details, "properties", "invalid",
				"an array of 2 to 4 property names, in the index's column order");
		return;
	}
	json_array_foreach(v, i, el) {
		const struct kura_prop *p = kura_object_prop(o, json_string_value(el));
		char field[32];

		snprintf(field, sizeof(field), "properties[%u]", (unsigned)(i % 100));
		if (p == NULL || p->row.archived_at != 0) {
			kura_api_detail(details, field, "unknown_property",
					"the object type has no such property");
			continue;
		}
		if (p->row.sensitive || p->row.enc_state != KURA_ENC_NONE) {
			kura_api_detail(details, field, "sensitive",
					"a sensitive property's values are encrypted: only its own "
					"blind index can search them");
			continue;
		}
		for (size_t j = 0; j < ix->nprops; j++) {
			if (ix->props[j] == p->row.id) {
				kura_api_detail(details, field, "duplicate",
						"a property appears once in an index");
				p = NULL;
				break;
			}
		}
		if (p != NULL)
			ix->props[ix->nprops++] = p->row.id;
	}
}

void
kura_api_indexes_create(struct kura_req *r)
{
	static const char *const fields[] = {"properties", NULL};
	struct kura_api_crm c;
	struct kura_index_row ix;
	struct index_walk w;
	json_t *details = json_array();
	char names[KURA_INDEX_PROPS_MAX * (KURA_PROP_NAME_MAX + 1) + 1];
	void *conn;
	const struct kura_crm_ops *ops;
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	if (!kura_api_crm_begin(r, &c, "object")) {
		json_decref(details);
		return;
	}
	memset(&ix, 0, sizeof(ix));
	read_index_props(c.obj, json_object_get(r->json, "properties"), &ix, details);
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		details = NULL;
		goto out;
	}
	ix.object_id = c.obj->row.id;
	ix.created_at = c.x.now;
	ops = kura_store_crm(r->principal.db, &conn);
	memset(&w, 0, sizeof(w));
	/* against the catalogue it checked: a property turned sensitive meanwhile fails here */
	e = kura_api_crm_write_begin(r, &c);
	if (e != KURA_OK)
		goto reply;
	e = ops->index_list(conn, ix.object_id, index_walk_one, &w);
	if (e == KURA_OK && w.n >= KURA_INDEXES_PER_OBJECT_MAX) {
		kura_store_rollback(r->principal.db);
		kura_api_detail(details, "properties", "limit",
				"at most 10 indexes over several properties per object type");
		kura_reply_error_details(r, KURA_E_BAD_REQUEST, "too many indexes", details);
		details = NULL;
		goto out;
	}
	if (e == KURA_OK)
		e = ops->index_create(conn, &ix);
	if (e == KURA_OK) {
		index_names(c.cat, &ix, names, sizeof(names));
		e = kura_api_crm_audit_named(r, "schema.index_create", "schema", c.obj->row.name,
					     names);
	}
	e = kura_store_finish(r->principal.db, e);
reply:
	if (e == KURA_E_EXISTS) {
		kura_api_detail(details, "properties", "already_exists",
				"the object type has an index over these properties in this order");
		kura_reply_error_details(r, e, "the index exists", details);
		details = NULL;
	} else if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
	} else {
		kura_reply_json(r, 201, index_json(c.cat, &ix));
	}
out:
	json_decref(details);
	kura_api_crm_end(r, &c);
}

void
kura_api_indexes_delete(struct kura_req *r)
{
	struct kura_api_crm c;
	struct kura_index_row ix;
	char names[KURA_INDEX_PROPS_MAX * (KURA_PROP_NAME_MAX + 1) + 1];
	int64_t id;
	void *conn;
	const struct kura_crm_ops *ops;
	enum kura_err e;

	if (!kura_api_crm_begin(r, &c, "object"))
		return;
	/* index ids are numbered like records: a malformed one is answered like a missing one */
	if (!kura_record_id_parse(kura_req_param(r, "id"), &id)) {
		kura_reply_error(r, KURA_E_NOT_FOUND, "no such index");
		goto out;
	}
	ops = kura_store_crm(r->principal.db, &conn);
	memset(&ix, 0, sizeof(ix));
	e = kura_store_begin(r->principal.db);
	if (e == KURA_OK) {
		e = ops->index_drop(conn, c.obj->row.id, id, &ix);
		if (e == KURA_OK) {
			index_names(c.cat, &ix, names, sizeof(names));
			e = kura_api_crm_audit_named(r, "schema.index_drop", "schema", c.obj->row.name,
						     names);
		}
		e = kura_store_finish(r->principal.db, e);
	}
	if (e == KURA_E_NOT_FOUND)
		kura_reply_error(r, e, "no such index");
	else if (e != KURA_OK)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_empty(r, 204);
out:
	kura_api_crm_end(r, &c);
}
