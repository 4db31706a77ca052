/*
 * Sign-in endpoints: login, logout, the caller's own identity, and changing
 * one's password. The two that hash passwords validate the body here and
 * then move to the hash pool with kura_req_defer().
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "api_int.h"
#include "kura/clock.h"
#include "kura/log.h"
#include "kura/password.h"

static json_t *
tenant_json(struct kura_server *srv, const char *tenant_id)
{
	struct kura_tenant t;

	if (kura_store_tenant_get(srv->store, tenant_id, &t) != KURA_OK)
		return json_pack("{s:s, s:s}", "id", tenant_id, "name", tenant_id);
	return json_pack("{s:s, s:s}", "id", t.id, "name", t.name);
}

void
kura_api_login_finish(struct kura_req *r, enum kura_err e, struct kura_login_result *res)
{
	char cookie[256], expires[40];

	switch (e) {
	case KURA_OK:
		break;
	case KURA_E_INVALID_CREDENTIALS:
		kura_reply_error(r, e,
				 "the tenant, e-mail or password is wrong (after repeated failures an "
				 "account is locked for a while)");
		return;
	case KURA_E_MFA_CODE_INVALID:
	case KURA_E_MFA_CODE_REPLAYED:
		/* A replay is told apart only in the audit log. */
		kura_reply_error(r, KURA_E_MFA_CODE_INVALID,
				 "the code is wrong or was used already; wait for the next code");
		return;
	case KURA_E_MFA_CHALLENGE_INVALID:
		kura_reply_error(r, e, "this sign-in has expired or ended; sign in again");
		return;
	case KURA_E_CONFLICT:
		kura_reply_error(r, e,
				 "you are signed in elsewhere and this tenant allows one session per "
				 "user: sign out there first, or ask an administrator to end it");
		return;
	case KURA_E_TENANT_SUSPENDED:
		kura_reply_error(r, e, "this tenant is suspended; contact your administrator");
		return;
	case KURA_E_CLIENT_CERT_REQUIRED:
		kura_reply_error(r, e,
				 "this tenant requires a client certificate from one of its "
				 "authorities; connect with one");
		return;
	default:
		kura_reply_error(r, e, NULL);
		return;
	}
	if (res->mfa_pending) {
		/* No session yet: the code goes to POST /api/v1/auth/login/mfa with this token. */
		kura_time_rfc3339(res->mfa_expires_at, expires, sizeof(expires));
		kura_reply_json(r, 200, json_pack("{s:b, s:s, s:s}", "mfaRequired", 1, "mfaToken",
						  res->mfa_token, "mfaExpiresAt", expires));
		sodium_memzero(res, sizeof(*res));
		return;
	}
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; Max-Age=%u; Secure; HttpOnly; SameSite=Strict",
		 KURA_SESSION_COOKIE, res->cookie, r->srv->cfg.session_absolute_timeout_s);
	kura_reply_set_cookie(r, cookie);
	kura_time_rfc3339(res->expires_at, expires, sizeof(expires));
	kura_reply_json(r, 200,
			json_pack("{s:o, s:o, s:s, s:b, s:b, s:b, s:s}", "user",
				  kura_api_user_json(&res->user), "tenant",
				  tenant_json(r->srv, res->tenant_id), "csrfToken", res->csrf_token,
				  "passwordChangeRequired", res->user.must_change_password, "mfaRequired",
				  0, "mfaEnrolmentRequired", res->mfa_enrolment_required, "expiresAt",
				  expires));
	sodium_memzero(cookie, sizeof(cookie));
	sodium_memzero(res, sizeof(*res));
}

static void
do_login(struct kura_req *r)
{
	struct kura_login_result res;
	json_t *body = r->json;
	const char *pw = json_string_value(json_object_get(body, "password"));
	size_t pwlen = json_string_length(json_object_get(body, "password"));
	enum kura_err e;

	e = kura_auth_login(r, json_string_value(json_object_get(body, "tenant")),
			    json_string_value(json_object_get(body, "email")), pw, pwlen, &res);
	kura_api_login_finish(r, e, &res);
}

void
kura_api_login(struct kura_req *r)
{
	json_t *details = json_array();

	if (!json_is_object(r->json)) {
		json_decref(details);
		kura_reply_error(r, KURA_E_VALIDATION, "the body must be a JSON object");
		return;
	}
	kura_api_str(r->json, "tenant", KURA_TENANT_ID_MAX, details, NULL);
	kura_api_str(r->json, "email", KURA_EMAIL_MAX, details, NULL);
	kura_api_str(r->json, "password", KURA_PASSWORD_MAX_BYTES, details, NULL);
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		return;
	}
	json_decref(details);
	kura_req_defer(r, do_login);
}

void
kura_api_logout(struct kura_req *r)
{
	enum kura_err e = kura_auth_logout(r);

	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_set_cookie(r, KURA_SESSION_COOKIE
			      "=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict");
	kura_reply_empty(r, 204);
}

/* The permissions the user's role grants now (what the UI may offer). */
static json_t *
my_permissions(const struct kura_user *u)
{
	json_t *a = json_array();
	size_t n;
	const char *const *all = kura_permissions_all(&n);

	for (size_t i = 0; i < n; i++) {
		if (kura_user_has_permission(u, all[i]))
			json_array_append_new(a, json_string(all[i]));
	}
	return a;
}

void
kura_api_me(struct kura_req *r)
{
	const struct kura_principal *p = &r->principal;

	kura_reply_json(r, 200,
			json_pack("{s:o, s:{s:s, s:s}, s:s, s:b, s:b, s:o}", "user",
				  kura_api_user_json(&p->user), "tenant", "id", p->tenant.id, "name",
				  p->tenant.name, "csrfToken", p->csrf_token, "passwordChangeRequired",
				  p->user.must_change_password, "mfaEnrolmentRequired",
				  p->session_mfa == KURA_SESSION_MFA_ENROL, "permissions",
				  my_permissions(&p->user)));
}

static void
do_change_password(struct kura_req *r)
{
	json_t *cur = json_object_get(r->json, "currentPassword");
	json_t *nw = json_object_get(r->json, "newPassword");
	json_t *details = json_array();
	enum kura_err e;

	e = kura_auth_change_password(r, json_string_value(cur), json_string_length(cur),
				      json_string_value(nw), json_string_length(nw), details);
	if (e == KURA_E_VALIDATION) {
		kura_reply_error_details(r, e, "the password was not changed", details);
		return;
	}
	json_decref(details);
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_log(KURA_LOG_INFO, "password_changed", "rid=%s tenant=%s user=%lld", r->rid,
		 r->principal.tenant_id, (long long)r->principal.user.id);
	kura_reply_empty(r, 204);
}

void
kura_api_change_password(struct kura_req *r)
{
	json_t *details = json_array();

	if (!json_is_object(r->json)) {
		json_decref(details);
		kura_reply_error(r, KURA_E_VALIDATION, "the body must be a JSON object");
		return;
	}
	kura_api_str(r->json, "currentPassword", KURA_PASSWORD_MAX_BYTES, details, NULL);
	/* The new password's length is a policy matter, reported with the other rules. */
	kura_api_str(r->json, "newPassword", KURA_PASSWORD_MAX_BYTES * 4, details, NULL);
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		return;
	}
	json_decref(details);
	kura_req_defer(r, do_change_password);
}
