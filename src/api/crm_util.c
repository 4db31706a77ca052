/*
 * Shared by the customer-database handlers: the catalogue and object type
 * of a request, who is writing (for history and audit), record ids from
 * the path, and the audit entry of a record operation (which properties,
 * never their values).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "kura/buf.h"
#include "kura/store_org.h"
#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/log.h"
#include "kura/monitor.h"

static void
add_team(void *ctx, int64_t id)
{
	struct kura_buf *b = ctx;

	kura_buf_printf(b, "%lld,", (long long)id);
}

/* The caller's teams as ",<id>,<id>," into c->teams (",": none). */
static bool
load_teams(struct kura_req *r, struct kura_api_crm *c)
{
	void *conn;
	const struct kura_org_ops *ops = kura_store_org(r->principal.db, &conn);
	struct kura_buf b;
	enum kura_err e;

	kura_buf_init(&b, 64 * 1024);
	kura_buf_printf(&b, ",");
	e = ops->user_teams(conn, r->principal.user.id, add_team, &b);
	if (e == KURA_OK)
		e = kura_buf_append(&b, "", 1);
	if (e != KURA_OK) {
		kura_buf_free(&b);
		return false;
	}
	c->teams = b.data;
	c->x.teams = c->teams;
	return true;
}

bool
kura_api_crm_begin(struct kura_req *r, struct kura_api_crm *c, const char *object_param)
{
	const struct kura_principal *p = &r->principal;
	enum kura_err e;

	memset(c, 0, sizeof(*c));
	/*
	 * A GET uses the catalogue version read with its credential (one query
	 * less); a change writes against the version it reads now.
	 */
	e = kura_catalog_get_at(r->srv->catalogs, p->db,
				r->method == KURA_GET ? p->auth_read.catalog_version : 0, &c->cat);
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return false;
	}
	c->x.db = p->db;
	c->x.cat = c->cat;
	c->x.now = kura_now_us();
	c->x.keys = r->srv->field_keys;
	c->x.key_version = p->tenant.key_version;
	c->x.sensitive_reads = json_array();
	c->x.role = p->user.role;
	/* Teams only matter when some field permission names one. */
	if (c->cat->team_grants && !load_teams(r, c)) {
		kura_api_crm_end(r, c);
		kura_reply_error(r, KURA_E_UNAVAILABLE, NULL);
		return false;
	}
	if (p->api_key_id != 0) {
		c->x.actor.type = KURA_ACTOR_APIKEY;
		c->x.actor.id = p->api_key_id;
		c->x.actor.source = "API";
	} else {
		c->x.actor.type = KURA_ACTOR_USER;
		c->x.actor.id = p->user.id;
		c->x.actor.source = "UI";
	}
	if (object_param != NULL) {
		c->obj = kura_catalog_object(c->cat, kura_req_param(r, object_param));
		if (c->obj == NULL) {
			kura_api_crm_end(r, c);
			kura_reply_error(r, KURA_E_NOT_FOUND, "no such object type");
			return false;
		}
		c->x.obj = c->obj;
	}
	return true;
}

/* Appends name to the comma-separated list out[n] unless it is there already. */
static void
add_name(char *out, size_t n, const char *name, size_t nlen)
{
	size_t used = strlen(out);
	const char *p = out;

	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (len == nlen && memcmp(p, name, nlen) == 0)
			return;
		p += len + (comma != NULL ? 1 : 0);
	}
	if (used + (used > 0 ? 1 : 0) + nlen + 1 > n)
		return;
	if (used > 0)
		out[used++] = ',';
	memcpy(out + used, name, nlen);
	out[used + nlen] = '\0';
}

/*
 * The record.read_sensitive entry of a reply: one per request, however many
 * records it shows. One record: its id is the target and the properties
 * opened are target_props. Several: the target is "<n> records", and
 * target_props lists the properties opened (in any of them), then "; ids "
 * and the ids, as many as fit (with "+<k> more" when they do not).
 */
static void
read_entry(struct kura_req *r, struct kura_api_crm *c, struct kura_audit_entry *e)
{
	size_t n = json_array_size(c->x.sensitive_reads), i, used, shown = 0;
	char names[KURA_AUDIT_PROPS_MAX + 1] = "", tid[KURA_AUDIT_TARGET_ID_MAX + 1];
	json_t *read;

	json_array_foreach(c->x.sensitive_reads, i, read) {
		const char *props = json_string_value(json_object_get(read, "props"));

		while (props != NULL && *props != '\0') {
			const char *comma = strchr(props, ',');
			size_t len = comma != NULL ? (size_t)(comma - props) : strlen(props);

			add_name(names, sizeof(names), props, len);
			props += len + (comma != NULL ? 1 : 0);
		}
	}
	if (n == 1)
		snprintf(tid, sizeof(tid), "%lld",
			 (long long)json_integer_value(
				 json_object_get(json_array_get(c->x.sensitive_reads, 0), "id")));
	else
		snprintf(tid, sizeof(tid), "%zu records", n);
	kura_req_audit_init(r, e, "record.read_sensitive", c->obj->row.name, tid);
	snprintf(e->target_props, sizeof(e->target_props), "%s", names);
	if (n > 1) {
		/* Room is kept for the "+<k> more" that may follow. */
		const size_t reserve = 16;

		used = strlen(e->target_props);
		used += (size_t)snprintf(e->target_props + used, sizeof(e->target_props) - used,
					 "; ids ");
		json_array_foreach(c->x.sensitive_reads, i, read) {
			char id[24];
			int w = snprintf(id, sizeof(id), "%s%lld", shown > 0 ? "," : "",
					 (long long)json_integer_value(json_object_get(read, "id")));

			if (used + (size_t)w + reserve >= sizeof(e->target_props))
				break;
			memcpy(e->target_props + used, id, (size_t)w + 1);
			used += (size_t)w;
			shown++;
		}
		if (shown < n)
			snprintf(e->target_props + used, sizeof(e->target_props) - used,
				 " +%zu more", n - shown);
	}
	kura_audit_set_outcome(e, KURA_OK);
}

/* Requests that read records: every GET, and the reads sent with POST. */
static bool
is_read(const struct kura_req *r)
{
	const char *pat = r->route != NULL ? r->route->pattern : "";
	size_t n = strlen(pat);

	return r->method == KURA_GET ||
	       (n >= 7 && strcmp(pat + n - 7, "/search") == 0) ||
	       (n >= 11 && strcmp(pat + n - 11, "/batch/read") == 0);
}

/*
 * Counts this reply toward its user's hour (records, sensitive values); a
 * threshold crossed raises an operator alert and leaves a system entry
 * "security.volume_alert" in the tenant's audit log, which its admins see.
 */
static void
note_volume(struct kura_req *r, struct kura_api_crm *c)
{
	struct kura_volume_counts n;
	uint64_t sensitive = 0;
	unsigned crossed;
	size_t i;
	json_t *read;

	json_array_foreach(c->x.sensitive_reads, i, read) {
		const char *props = json_string_value(json_object_get(read, "props"));

		while (props != NULL && *props != '\0') {
			const char *comma = strchr(props, ',');

			sensitive++;
			props = comma != NULL ? comma + 1 : props + strlen(props);
		}
	}
	crossed = kura_volume_add(r->srv->volume, r->principal.tenant_id, r->principal.user.id,
				  r->reply_items, sensitive, kura_now_us(), &n);
	for (unsigned bit = KURA_VOLUME_RECORDS; bit <= KURA_VOLUME_SENSITIVE; bit <<= 1) {
		struct kura_audit_entry a;
		char uid[24], detail[KURA_EMAIL_MAX + 200];
		bool records = bit == KURA_VOLUME_RECORDS;

		if ((crossed & bit) == 0)
			continue;
		snprintf(uid, sizeof(uid), "%lld", (long long)r->principal.user.id);
		snprintf(detail, sizeof(detail),
			 "user %s (%s) read %llu %s within the hour, more than the %u allowed "
			 "before an alert", uid, r->principal.user.email,
			 (unsigned long long)(records ? n.records : n.sensitive),
			 records ? "records" : "sensitive values",
			 records ? r->srv->cfg.alert_user_records_per_hour
				 : r->srv->cfg.alert_user_sensitive_per_hour);
		kura_alert_raise(r->srv->alerts, KURA_ALERT_USER_VOLUME, r->principal.tenant_id, r->ip,
				 0, detail);
		kura_req_audit_init(r, &a, "security.volume_alert", "user", uid);
		a.actor_type = KURA_ACTOR_SYSTEM;
		a.actor_id = 0;
		a.actor_email[0] = '\0';
		a.actor_role[0] = '\0';
		snprintf(a.target_props, sizeof(a.target_props), "%s:%llu",
			 records ? "records" : "sensitive_values",
			 (unsigned long long)(records ? n.records : n.sensitive));
		kura_audit_set_outcome(&a, KURA_OK);
		if (kura_audit_append(r->principal.db, &a) != KURA_OK)
			kura_log(KURA_LOG_ERROR, "audit_append_failed",
				 "rid=%s action=security.volume_alert", r->rid);
	}
}

void
kura_api_crm_end(struct kura_req *r, struct kura_api_crm *c)
{
	if (r->status > 0 && r->status < 400 && c->obj != NULL && r->srv->volume != NULL &&
	    r->principal.db != NULL && is_read(r))
		note_volume(r, c);
	/*
	 * Every sensitive value in this reply is recorded before the reply can
	 * leave (it is queued only after the handler returns): who, which
	 * records, which properties, never the values. In kurad the entry is
	 * appended to the tenant's audit spool by this thread, and moved into
	 * the chain within about a second (audit/group.c). When it cannot
	 * be written, the reply is replaced by an error: no value leaves
	 * without its record.
	 */
	if (r->status > 0 && r->status < 400 && c->obj != NULL &&
	    json_array_size(c->x.sensitive_reads) > 0) {
		struct kura_audit_entry e;
		enum kura_err err;

		read_entry(r, c, &e);
		err = kura_audit_append_grouped(r->srv->audit_group, r->principal.db, &e);
		if (err != KURA_OK) {
			kura_log(KURA_LOG_ERROR, "audit_append_failed",
				 "rid=%s action=record.read_sensitive err=%s", r->rid,
				 kura_err_name(err));
			kura_reply_discard(r);
			if (err == KURA_E_UNAVAILABLE)
				kura_reply_error(r, err,
						 "the audit log cannot record this read right now; "
						 "try again shortly");
			else
				kura_reply_error(r, KURA_E_INTERNAL, NULL);
		}
	}
	json_decref(c->x.sensitive_reads);
	c->x.sensitive_reads = NULL;
	free(c->teams);
	c->teams = NULL;
	c->x.teams = NULL;
	kura_catalog_release(r->srv->catalogs, c->cat);
	c->cat = NULL;
	c->obj = NULL;
}

enum kura_err
kura_api_crm_write_begin(struct kura_req *r, struct kura_api_crm *c)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(r->principal.db, &conn);
	int64_t version = 0;
	enum kura_err e = kura_store_begin(r->principal.db);

	/*
	 * Inside the write lock, the catalogue this request validated against
	 * must still be the tenant's: a property turned sensitive, retyped or
	 * archived meanwhile would otherwise get a value in its old form.
	 */
	if (e == KURA_OK)
		e = ops->catalog_version(conn, &version);
	if (e == KURA_OK && c->cat != NULL && version != c->cat->version)
		e = KURA_E_SCHEMA_CHANGED;
	if (e != KURA_OK)
		kura_store_rollback(r->principal.db);
	return e;
}

bool
kura_api_record_id(struct kura_req *r, const char *param, int64_t *id)
{
	if (!kura_record_id_parse(kura_req_param(r, param), id)) {
		/* A malformed id is answered like a missing one: ids are opaque to clients. */
		kura_reply_error(r, KURA_E_NOT_FOUND, "no such record");
		return false;
	}
	return true;
}

enum kura_err
kura_api_crm_audit(struct kura_req *r, const char *action, const char *target_type, int64_t id,
		   const char *props)
{
	char sid[24];

	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	return kura_api_crm_audit_named(r, action, target_type, sid, props);
}

enum kura_err
kura_api_crm_audit_named(struct kura_req *r, const char *action, const char *target_type,
			 const char *target_id, const char *props)
{
	struct kura_audit_entry e;

	kura_req_audit_init(r, &e, action, target_type, target_id);
	if (props != NULL)
		snprintf(e.target_props, sizeof(e.target_props), "%s", props);
	kura_audit_set_outcome(&e, KURA_OK);
	return kura_audit_append(r->principal.db, &e);
}

/* Comma-separated property names of a "properties" object, truncated to fit. */
void
kura_api_prop_names(json_t *props, char *out, size_t n)
{
	const char *key;
	json_t *v;
	size_t used = 0;

	out[0] = '\0';
	json_object_foreach(props, key, v) {
		size_t len = strlen(key);

		(void)v;
		if (used + len + 2 >= n)
			break;
		used += (size_t)snprintf(out + used, n - used, "%s%s", used > 0 ? "," : "", key);
	}
}

json_t *
kura_api_want(struct kura_req *r, const struct kura_object *o, bool *ok)
{
	const char *q = kura_req_query(r, "properties");
	json_t *want;
	const char *s;

	*ok = true;
	if (q == NULL)
		return NULL;
	want = json_array();
	s = q;
	while (*s != '\0') {
		const char *end = strchr(s, ',');
		char name[KURA_PROP_NAME_MAX + 1];
		size_t len;

		if (end == NULL)
			end = s + strlen(s);
		len = (size_t)(end - s);
		if (len == 0 || len > KURA_PROP_NAME_MAX || json_array_size(want) >= 500) {
			*ok = false;
			break;
		}
		memcpy(name, s, len);
		name[len] = '\0';
		if (kura_object_prop(o, name) == NULL) {
			*ok = false;
			break;
		}
		json_array_append_new(want, json_string(name));
		s = *end == ',' ? end + 1 : end;
	}
	if (!*ok) {
		json_decref(want);
		kura_reply_error_details(
			r, KURA_E_VALIDATION, "check the listed fields",
			json_pack("[{s:s, s:s, s:s}]", "field", "properties", "code", "unknown_property",
				  "message", "properties names a property this object does not have"));
		return NULL;
	}
	return want;
}

void
kura_api_reply_results(struct kura_req *r, enum kura_err e, json_t *results)
{
	if (e != KURA_OK) {
		json_decref(results);
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 200, json_pack("{s:o}", "results", results));
}

json_t *
kura_api_page(json_t *results, bool more, int64_t last)
{
	json_t *out = json_pack("{s:o}", "results", results);
	char cur[64];

	if (out != NULL && more) {
		kura_cursor_make('k', last, cur, sizeof(cur));
		json_object_set_new(out, "paging", json_pack("{s:{s:s}}", "next", "after", cur));
	}
	return out;
}
