/*
 * API keys (permission "apikeys.manage"): create one (its token is shown in
 * that reply only; the store keeps only its hash), list one's own (a super
 * admin sees every key of the tenant), revoke. A key's scopes are
 * permissions the creator's role grants when it is made; authentication
 * checks the role again on every request (src/auth/apikey.c), so a key
 * never does more than its creator can do now.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api_int.h"
#include "kura/audit.h"
#include "kura/clock.h"

#define MAX_SCOPES 32
#define MAX_CIDRS 32
#define CIDR_TEXT_MAX 43
/* Two years and a leap day: a longer-lived key should be a deliberate renewal. */
#define MAX_LIFETIME_US (731LL * 86400 * 1000000)

static bool
is_super(const char *role)
{
	return strcmp(role, "super_admin") == 0;
}

/* Appends the comma-separated items of list to a JSON array. */
static json_t *
list_json(const char *list)
{
	json_t *a = json_array();
	const char *p = list;

	while (*p != '\0') {
		const char *end = strchr(p, ',');

		if (end == NULL)
			end = p + strlen(p);
		if (end > p)
			json_array_append_new(a, json_stringn(p, (size_t)(end - p)));
		p = *end == ',' ? end + 1 : end;
	}
	return a;
}

static json_t *
time_or_null(int64_t t)
{
	char buf[40];

	if (t == 0)
		return json_null();
	kura_time_rfc3339(t, buf, sizeof(buf));
	return json_string(buf);
}

/* JSON of a key as the API shows it: never the secret or its hash. */
static json_t *
key_json(const struct kura_apikey *k)
{
	char id[24], uid[24];

	snprintf(id, sizeof(id), "%lld", (long long)k->id);
	snprintf(uid, sizeof(uid), "%lld", (long long)k->user_id);
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "id", id,
			 "userId", uid, "name", k->name, "prefix", k->prefix, "scopes",
			 list_json(k->scopes), "cidrs", list_json(k->cidrs), "expiresAt",
			 time_or_null(k->expires_at), "createdAt", time_or_null(k->created_at),
			 "lastUsedAt", time_or_null(k->last_used_at), "lastUsedIp",
			 k->last_used_ip[0] != '\0' ? json_string(k->last_used_ip) : json_null(),
			 "revoked", k->revoked_at != 0);
}

/*
 * A permission some session route asks for, or one the built-in roles hand
 * out: anything else would be a scope that can never mean anything.
 */
static bool
known_permission(const char *perm)
{
	if (strcmp(perm, "self") == 0 || strcmp(perm, "*") == 0)
		return false;
	for (size_t i = 0; i < kura_api_routes_count; i++) {
		const struct kura_route *rt = &kura_api_routes[i];

		if (rt->auth == KURA_AUTH_SESSION && rt->permission != NULL &&
		    strcmp(rt->permission, perm) == 0)
			return true;
	}
	return kura_permission_known(perm);
}

/* Validates "scopes" into a comma-separated list in out. */
static void
read_scopes(struct kura_req *r, json_t *details, char *out, size_t n)
{
	json_t *v = json_object_get(r->json, "scopes");
	size_t i, used = 0;
	json_t *s;

	out[0] = '\0';
	if (v == NULL || json_is_null(v)) {
		kura_api_detail(details, "scopes", "required", "scopes is required");
		return;
	}
	if (!json_is_array(v)) {
		kura_api_detail(details, "scopes", "invalid_type", "scopes must be an array");
		return;
	}
	if (json_array_size(v) > MAX_SCOPES) {
		kura_api_detail(details, "scopes", "too_many", "at most 32 scopes");
		return;
	}
	json_array_foreach(v, i, s) {
		const char *perm = json_string_value(s);
		size_t len = json_string_length(s);

		if (perm == NULL || len == 0 || len > KURA_ROLE_MAX || strlen(perm) != len ||
		    !known_permission(perm)) {
			kura_api_detail(details, "scopes", "invalid",
					"each scope must be a permission (\"*\" is not one)");
			return;
		}
		if (!kura_user_has_permission(&r->principal.user, perm)) {
			kura_api_detail(details, "scopes", "not_granted",
					"your role does not grant one of these scopes");
			return;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(json_string_value(json_array_get(v, j)), perm) == 0) {
				kura_api_detail(details, "scopes", "duplicate",
						"a scope is listed twice");
				return;
			}
		}
		if (used + len + 2 > n) {
			kura_api_detail(details, "scopes", "too_long", "too many scopes");
			return;
		}
		used += (size_t)snprintf(out + used, n - used, "%s%s", used > 0 ? "," : "", perm);
	}
}

/* Validates the optional "cidrs" into a comma-separated list in out. */
static void
read_cidrs(struct kura_req *r, json_t *details, char *out, size_t n)
{
	json_t *v = json_object_get(r->json, "cidrs");
	size_t i, used = 0;
	json_t *s;

	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return;
	if (!json_is_array(v)) {
		kura_api_detail(details, "cidrs", "invalid_type", "cidrs must be an array");
		return;
	}
	if (json_array_size(v) > MAX_CIDRS) {
		kura_api_detail(details, "cidrs", "too_many", "at most 32 address ranges");
		return;
	}
	json_array_foreach(v, i, s) {
		const char *c = json_string_value(s);
		size_t len = json_string_length(s);

		if (c == NULL || len == 0 || len > CIDR_TEXT_MAX || strlen(c) != len ||
		    !kura_cidr_valid(c)) {
			kura_api_detail(details, "cidrs", "invalid",
					"each entry must be an address range such as 10.0.0.0/8 "
					"or 2001:db8::/32");
			return;
		}
		if (used + len + 2 > n) {
			kura_api_detail(details, "cidrs", "too_long", "too many address ranges");
			return;
		}
		used += (size_t)snprintf(out + used, n - used, "%s%s", used > 0 ? "," : "", c);
	}
}

/* Validates the optional "expiresAt": in the future, at most two years ahead. */
static int64_t
read_expiry(struct kura_req *r, json_t *details, int64_t now)
{
	json_t *v = json_object_get(r->json, "expiresAt");
	int64_t t = 0;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || kura_time_parse_rfc3339(json_string_value(v), &t) != KURA_OK) {
		kura_api_detail(details, "expiresAt", "invalid",
				"expiresAt must be an RFC 3339 time");
		return 0;
	}
	if (t <= now || t - now > MAX_LIFETIME_US) {
		kura_api_detail(details, "expiresAt", "out_of_range",
				"expiresAt must lie in the future, at most two years ahead");
		return 0;
	}
	return t;
}

void
kura_api_apikeys_create(struct kura_req *r)
{
	static const char *const fields[] = {"name", "scopes", "expiresAt", "cidrs", NULL};
	struct kura_tenant_db *db = r->principal.db;
	json_t *details = json_array();
	struct kura_apikey *k = NULL;
	char token[KURA_APIKEY_TOKEN_MAX];
	char id[24];
	const char *name;
	int64_t now = kura_now_us();
	enum kura_err e;

	memset(token, 0, sizeof(token));
	if (!kura_api_object_only(r, fields, details))
		goto out;
	/* A key making keys could hand out more than its own scopes: people only. */
	if (r->principal.api_key_id != 0) {
		json_decref(details);
		kura_req_audit_denied(r, KURA_E_FORBIDDEN);
		kura_reply_error(r, KURA_E_FORBIDDEN, "API keys are created by signed-in users only");
		goto out;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		json_decref(details);
		kura_reply_error(r, KURA_E_NOMEM, NULL);
		goto out;
	}
	name = kura_api_str(r->json, "name", KURA_APIKEY_NAME_MAX, details, NULL);
	read_scopes(r, details, k->scopes, sizeof(k->scopes));
	read_cidrs(r, details, k->cidrs, sizeof(k->cidrs));
	k->expires_at = read_expiry(r, details, now);
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		goto out;
	}
	json_decref(details);
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->user_id = r->principal.user.id;
	k->created_at = now;
	kura_apikey_mint(r->principal.tenant_id, token, k->prefix, k->secret_hash);
	e = kura_store_begin(db);
	if (e == KURA_OK)
		e = kura_store_apikey_create(db, k);
	if (e == KURA_OK) {
		snprintf(id, sizeof(id), "%lld", (long long)k->id);
		e = kura_req_audit(r, NULL, "apikey.create", "api_key", id, KURA_OK);
	}
	e = kura_store_finish(db, e);
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		goto out;
	}
	kura_reply_json(r, 201, json_pack("{s:o, s:s}", "apiKey", key_json(k), "token", token));
out:
	sodium_memzero(token, sizeof(token));
	if (k != NULL)
		sodium_memzero(k, sizeof(*k));
	free(k);
}

static void
add_key(void *ctx, const struct kura_apikey *k)
{
	json_array_append_new(ctx, key_json(k));
}

void
kura_api_apikeys_list(struct kura_req *r)
{
	const struct kura_principal *p = &r->principal;
	json_t *results = json_array();
	enum kura_err e;

	e = kura_store_apikey_list(p->db, is_super(p->user.role) ? 0 : p->user.id, add_key,
				   results);
	if (e != KURA_OK) {
		json_decref(results);
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 200, json_pack("{s:o}", "results", results));
}

void
kura_api_apikeys_delete(struct kura_req *r)
{
	const struct kura_principal *p = &r->principal;
	const char *s = kura_req_param(r, "id");
	char *end = NULL;
	long long id;
	enum kura_err e;

	errno = 0;
	id = s != NULL ? strtoll(s, &end, 10) : 0;
	/* A malformed id is answered like a missing one: ids are opaque to clients. */
	if (s == NULL || errno != 0 || end == s || *end != '\0' || id <= 0) {
		kura_reply_error(r, KURA_E_NOT_FOUND, "no such API key");
		return;
	}
	e = kura_store_begin(p->db);
	/* Another user's key is "not found" unless the caller is a super admin. */
	if (e == KURA_OK)
		e = kura_store_apikey_revoke(p->db, id, is_super(p->user.role) ? 0 : p->user.id,
					     kura_now_us());
	if (e == KURA_OK)
		e = kura_req_audit(r, NULL, "apikey.revoke", "api_key", s, KURA_OK);
	e = kura_store_finish(p->db, e);
	if (e == KURA_E_NOT_FOUND) {
		kura_reply_error(r, e, "no such API key");
		return;
	}
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_empty(r, 204);
}
