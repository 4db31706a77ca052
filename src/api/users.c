/*
 * Users of the caller's tenant: list, read, invite (with a one-time
 * password), change (name, role, status), delete. Every lookup goes through
 * the caller's own tenant handle, so another tenant's user id is simply not
 * found. Each change commits together with its audit entry.
 *
 * Rules a demanding admin expects: only a super admin may create, change,
 * or remove a super admin (an admin cannot lock the owner out), and the last
 * active super admin can be neither demoted, disabled nor deleted. A change
 * of role or a disable ends the user's sessions at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api_int.h"
#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/password.h"
#include "kura/settings.h"

static void
add_user(void *ctx, const struct kura_user *u)
{
	json_array_append_new((json_t *)ctx, kura_api_user_json(u));
}

void
kura_api_users_list(struct kura_req *r)
{
	json_t *results = json_array();
	enum kura_err e;

	e = kura_store_user_list(r->principal.db, add_user, results);
	if (e != KURA_OK) {
		json_decref(results);
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 200, json_pack("{s:o}", "results", results));
}

bool
kura_api_load_user(struct kura_req *r, struct kura_user *u)
{
	const char *s = kura_req_param(r, "id");
	char *end = NULL;
	long long id;

	memset(u, 0, sizeof(*u));
	errno = 0;
	id = s != NULL ? strtoll(s, &end, 10) : 0;
	/* A malformed id is answered like a missing one: ids are opaque to clients. */
	if (s == NULL || errno != 0 || end == s || *end != '\0' || id <= 0 ||
	    kura_store_user_get(r->principal.db, id, u) != KURA_OK) {
		kura_reply_error(r, KURA_E_NOT_FOUND, "no such user");
		return false;
	}
	sodium_memzero(u->password_hash, sizeof(u->password_hash));
	return true;
}

void
kura_api_users_get(struct kura_req *r)
{
	struct kura_user u;

	if (kura_api_load_user(r, &u))
		kura_reply_json(r, 200, kura_api_user_json(&u));
}

static bool
is_super(const char *role)
{
	return strcmp(role, "super_admin") == 0;
}

/* kura_api_may_manage_user, and only a super admin makes one. */
static bool
may_manage(struct kura_req *r, const struct kura_user *target, const char *new_role)
{
	if (!kura_api_may_manage_user(r, target))
		return false;
	if (new_role != NULL && is_super(new_role) && !is_super(r->principal.user.role)) {
		kura_req_audit_denied(r, KURA_E_FORBIDDEN);
		kura_reply_error(r, KURA_E_FORBIDDEN, "only a super admin can manage super admins");
		return false;
	}
	return true;
}

/* true when removing target's super-admin power would leave the tenant without one. */
static bool
is_last_super(struct kura_req *r, const struct kura_user *target)
{
	int64_t n = 0;

	if (!is_super(target->role) || target->status != KURA_USER_ACTIVE)
		return false;
	if (kura_store_user_count_active_role(r->principal.db, "super_admin", &n) != KURA_OK)
		return true; /* when unsure, refuse */
	return n <= 1;
}

static void
do_create(struct kura_req *r)
{
	struct kura_user *u = r->defer_ctx;
	struct kura_tenant_db *db = r->principal.db;
	struct kura_security_settings set;
	char otp[40], uid[24];
	size_t otp_len = 20;
	enum kura_err e;

	/* A one-time password that the tenant's own policy would refuse helps no one. */
	if (kura_settings_load(db, &set) == KURA_OK && set.password_min_length > otp_len)
		otp_len = set.password_min_length;
	kura_password_generate(otp, otp_len + 1);
	e = kura_password_hash(&r->srv->pw, otp, strlen(otp), u->password_hash);
	if (e != KURA_OK)
		goto out;
	e = kura_store_begin(db);
	if (e != KURA_OK)
		goto out;
	e = kura_store_user_create(db, u);
	if (e == KURA_OK) {
		snprintf(uid, sizeof(uid), "%lld", (long long)u->id);
		e = kura_req_audit(r, NULL, "user.create", "user", uid, KURA_OK);
	}
	e = kura_store_finish(db, e);
out:
	if (e == KURA_E_EXISTS)
		kura_reply_error(r, e, "a user with this e-mail exists in this tenant");
	else if (e != KURA_OK)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_json(r, 201, json_pack("{s:o, s:s}", "user", kura_api_user_json(u),
						  "oneTimePassword", otp));
	sodium_memzero(otp, sizeof(otp));
	sodium_memzero(u, sizeof(*u));
	free(u);
	r->defer_ctx = NULL;
}

void
kura_api_users_create(struct kura_req *r)
{
	static const char *const fields[] = {"email", "displayName", "role", NULL};
	json_t *details = json_array();
	const char *email, *name, *role;
	struct kura_user *u;
	int64_t now = kura_now_us();
	bool forbidden = false;

	if (!kura_api_object_only(r, fields, details))
		return;
	email = kura_api_str(r->json, "email", KURA_EMAIL_MAX, details, NULL);
	role = kura_api_str(r->json, "role", KURA_ROLE_MAX, details, NULL);
	name = json_object_get(r->json, "displayName") != NULL
		       ? kura_api_str(r->json, "displayName", KURA_NAME_MAX, details, NULL)
		       : email;
	if (email != NULL && !kura_email_valid(email))
		kura_api_detail(details, "email", "invalid", "not an e-mail address");
	if (role != NULL && !kura_api_role_assignable(r, role, details, &forbidden) && forbidden) {
		json_decref(details);
		kura_req_audit_denied(r, KURA_E_FORBIDDEN);
		kura_reply_error(r, KURA_E_FORBIDDEN,
				 "that role holds permissions you do not: you cannot give it");
		return;
	}
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		return;
	}
	json_decref(details);
	if (is_super(role) && !is_super(r->principal.user.role)) {
		kura_req_audit_denied(r, KURA_E_FORBIDDEN);
		kura_reply_error(r, KURA_E_FORBIDDEN, "only a super admin can create super admins");
		return;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		kura_reply_error(r, KURA_E_NOMEM, NULL);
		return;
	}
	/* Stored lower-cased (the store's rule); the reply must show it as stored. */
	for (size_t i = 0; email[i] != '\0' && i < sizeof(u->email) - 1; i++)
		u->email[i] = (email[i] >= 'A' && email[i] <= 'Z') ? (char)(email[i] - 'A' + 'a')
								 : email[i];
	snprintf(u->display_name, sizeof(u->display_name), "%s", name);
	snprintf(u->role, sizeof(u->role), "%s", role);
	u->status = KURA_USER_ACTIVE;
	u->must_change_password = true;
	u->created_at = u->updated_at = u->password_changed_at = now;
	r->defer_ctx = u;
	kura_req_defer(r, do_create);
	/* Refused at once (queue full): the context is still ours. */
	if (!r->deferred && r->defer_ctx != NULL) {
		free(r->defer_ctx);
		r->defer_ctx = NULL;
	}
}

void
kura_api_users_update(struct kura_req *r)
{
	static const char *const fields[] = {"displayName", "role", "status", NULL};
	json_t *details = json_array();
	struct kura_user u, before;
	const char *name = NULL, *role = NULL, *status = NULL;
	char changed[96] = "", uid[24];
	struct kura_tenant_db *db = r->principal.db;
	bool end_sessions = false, forbidden = false;
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	if (json_object_get(r->json, "displayName") != NULL)
		name = kura_api_str(r->json, "displayName", KURA_NAME_MAX, details, NULL);
	if (json_object_get(r->json, "role") != NULL) {
		role = kura_api_str(r->json, "role", KURA_ROLE_MAX, details, NULL);
		if (role != NULL && !kura_api_role_assignable(r, role, details, &forbidden) &&
		    forbidden) {
			json_decref(details);
			kura_req_audit_denied(r, KURA_E_FORBIDDEN);
			kura_reply_error(r, KURA_E_FORBIDDEN,
					 "that role holds permissions you do not: you cannot give it");
			return;
		}
	}
	if (json_object_get(r->json, "status") != NULL) {
		status = kura_api_str(r->json, "status", 16, details, NULL);
		if (status != NULL && strcmp(status, "active") != 0 && strcmp(status, "disabled") != 0)
			kura_api_detail(details, "status", "invalid", "active or disabled");
	}
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		return;
	}
	json_decref(details);
	if (!kura_api_load_user(r, &u))
		return;
	before = u;
	if (!may_manage(r, &u, role))
		return;
	if (name != NULL && strcmp(name, u.display_name) != 0) {
		snprintf(u.display_name, sizeof(u.display_name), "%s", name);
		strcat(changed, "displayName,");
	}
	if (role != NULL && strcmp(role, u.role) != 0) {
		snprintf(u.role, sizeof(u.role), "%s", role);
		strcat(changed, "role,");
		end_sessions = true;
	}
	if (status != NULL) {
		enum kura_user_status st =
			strcmp(status, "disabled") == 0 ? KURA_USER_DISABLED : KURA_USER_ACTIVE;

		if (st != u.status) {
			u.status = st;
			strcat(changed, "status,");
			end_sessions = end_sessions || st == KURA_USER_DISABLED;
		}
	}
	if (changed[0] == '\0') {
		kura_reply_json(r, 200, kura_api_user_json(&u));
		return;
	}
	changed[strlen(changed) - 1] = '\0';
	snprintf(uid, sizeof(uid), "%lld", (long long)u.id);
	/*
	 * The last-super-admin rule is checked inside the write transaction
	 * (BEGIN IMMEDIATE serialises writers): two super admins demoting each
	 * other at once must not both succeed.
	 */
	e = kura_store_begin(db);
	if (e == KURA_OK && (!is_super(u.role) || u.status != KURA_USER_ACTIVE) &&
	    is_last_super(r, &before))
		e = KURA_E_CONFLICT;
	if (e == KURA_OK)
		e = kura_store_user_update(db, &u, kura_now_us());
	if (e == KURA_OK && end_sessions)
		e = kura_store_session_delete_user(db, u.id, NULL);
	if (e == KURA_OK) {
		struct kura_audit_entry a;

		kura_req_audit_init(r, &a, "user.update", "user", uid);
		snprintf(a.target_props, sizeof(a.target_props), "%s", changed);
		kura_audit_set_outcome(&a, KURA_OK);
		e = kura_audit_append(db, &a);
	}
	e = kura_store_finish(db, e);
	if (e == KURA_E_CONFLICT) {
		kura_reply_error(r, e, "the last active super admin cannot be demoted or disabled");
		return;
	}
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	/* A caller who demoted or disabled themselves has just ended their own session too. */
	kura_reply_json(r, 200, kura_api_user_json(&u));
}

void
kura_api_users_delete(struct kura_req *r)
{
	struct kura_user u;
	struct kura_tenant_db *db = r->principal.db;
	char uid[24];
	enum kura_err e;

	if (!kura_api_load_user(r, &u) || !may_manage(r, &u, NULL))
		return;
	snprintf(uid, sizeof(uid), "%lld", (long long)u.id);
	/* Checked inside the write transaction, as in update. */
	e = kura_store_begin(db);
	if (e == KURA_OK && is_last_super(r, &u))
		e = KURA_E_CONFLICT;
	if (e == KURA_OK)
		e = kura_store_user_delete(db, u.id);
	if (e == KURA_OK)
		e = kura_req_audit(r, NULL, "user.delete", "user", uid, KURA_OK);
	e = kura_store_finish(db, e);
	if (e == KURA_E_CONFLICT) {
		kura_reply_error(r, e, "the last active super admin cannot be deleted");
		return;
	}
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_empty(r, 204);
}
