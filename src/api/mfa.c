/*
 * Multi-factor authentication endpoints: the second step of sign-in, the
 * caller's own authenticator (status, enrol, confirm, disable, new recovery
 * codes) and an administrator's reset of another user's. Enrolling,
 * disabling and new recovery codes need the caller's password again; they
 * check it on the hash pool (kura_req_defer), like a change of password.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "api_int.h"
#include "kura/audit.h"
#include "kura/mfa.h"
#include "kura/password.h"

/* The longest token: "<tenant>.<secret>". */
#define TOKEN_MAX (KURA_TENANT_ID_MAX + 1 + KURA_TOKEN_CHARS)

void
kura_api_login_mfa(struct kura_req *r)
{
	static const char *const fields[] = {"mfaToken", "code", "recoveryCode", NULL};
	struct kura_login_result res;
	json_t *details = json_array();
	json_t *code = json_object_get(r->json, "code");
	json_t *rec = json_object_get(r->json, "recoveryCode");
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	kura_api_str(r->json, "mfaToken", TOKEN_MAX, details, NULL);
	if ((code == NULL) == (rec == NULL))
		kura_api_detail(details, "code", "required",
				"send either code (from your authenticator app) or recoveryCode");
	else if (code != NULL)
		kura_api_str(r->json, "code", 16, details, NULL);
	else
		kura_api_str(r->json, "recoveryCode", 64, details, NULL);
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		return;
	}
	json_decref(details);
	e = kura_auth_login_mfa(r, json_string_value(json_object_get(r->json, "mfaToken")),
				json_string_value(code), json_string_value(rec), &res);
	kura_api_login_finish(r, e, &res);
}

void
kura_api_mfa_get(struct kura_req *r)
{
	json_t *out = NULL;
	enum kura_err e = kura_mfa_status(r, &out);

	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 200, out);
}

/*
 * The caller's password, checked again before a change to how they sign in.
 * A wrong one answers 422 (field "password") and is recorded as a denied
 * `action`: it may be someone else at an unlocked screen. It counts toward
 * the account lockout; the one that locks ends the user's sessions (401
 * account_locked).
 */
static bool
reauthenticated(struct kura_req *r, const char *action)
{
	struct kura_principal *p = &r->principal;
	json_t *pw = json_object_get(r->json, "password");
	struct kura_user fresh;
	char uid[24];
	enum kura_err e;

	snprintf(uid, sizeof(uid), "%lld", (long long)p->user.id);
	if (kura_store_user_get(p->db, p->user.id, &fresh) != KURA_OK) {
		kura_reply_error(r, KURA_E_UNAVAILABLE, NULL);
		return false;
	}
	e = kura_auth_reauthenticate(r, &fresh, json_string_value(pw), json_string_length(pw));
	sodium_memzero(&fresh, sizeof(fresh));
	if (e == KURA_E_INVALID_CREDENTIALS) {
		json_t *details = json_array();

		kura_req_audit(r, NULL, action, "user", uid, KURA_E_VALIDATION);
		kura_api_detail(details, "password", "incorrect", "the password is wrong");
		kura_reply_error_details(r, KURA_E_VALIDATION, "confirm with your password",
					 details);
	} else if (e != KURA_OK) {
		kura_req_audit(r, NULL, action, "user", uid, e);
		kura_reply_error(r, e, NULL);
	}
	return e == KURA_OK;
}

/* Validates {"password": ...} and moves on to the hash pool with fn. */
static void
with_password(struct kura_req *r, void (*fn)(struct kura_req *))
{
	static const char *const fields[] = {"password", NULL};
	json_t *details = json_array();

	if (!kura_api_object_only(r, fields, details))
		return;
	kura_api_str(r->json, "password", KURA_PASSWORD_MAX_BYTES, details, NULL);
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		return;
	}
	json_decref(details);
	kura_req_defer(r, fn);
}

static void
do_enrol(struct kura_req *r)
{
	json_t *out = NULL;
	enum kura_err e;

	if (!reauthenticated(r, "mfa.enrol"))
		return;
	e = kura_mfa_enrol(r, &out);
	if (e == KURA_E_EXISTS) {
		kura_reply_error(r, e, "multi-factor authentication is on already; turn it off first "
				 "to change the authenticator");
		return;
	}
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 201, out);
}

void
kura_api_mfa_enrol(struct kura_req *r)
{
	with_password(r, do_enrol);
}

void
kura_api_mfa_confirm(struct kura_req *r)
{
	static const char *const fields[] = {"code", NULL};
	json_t *details = json_array();
	json_t *out = NULL;
	enum kura_err e;

	if (!kura_api_object_only(r, fields, details))
		return;
	kura_api_str(r->json, "code", 16, details, NULL);
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		return;
	}
	json_decref(details);
	e = kura_mfa_confirm(r, json_string_value(json_object_get(r->json, "code")), &out);
	if (e == KURA_E_MFA_CODE_INVALID) {
		details = json_array();
		kura_api_detail(details, "code", "incorrect",
				"the code does not match; check the time on your device and try the "
				"next code");
		kura_reply_error_details(r, KURA_E_VALIDATION, "multi-factor authentication is not on",
					 details);
		return;
	}
	if (e == KURA_E_NOT_FOUND) {
		kura_reply_error(r, e, "no enrolment is waiting: start with POST /api/v1/me/mfa/totp");
		return;
	}
	if (e == KURA_E_EXISTS) {
		kura_reply_error(r, e, "multi-factor authentication is on already");
		return;
	}
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 200, out);
}

static void
do_disable(struct kura_req *r)
{
	enum kura_err e;

	if (!reauthenticated(r, "mfa.disable"))
		return;
	e = kura_mfa_disable(r);
	if (e == KURA_E_CONFLICT) {
		kura_reply_error(r, e, "this tenant requires multi-factor authentication");
		return;
	}
	if (e == KURA_E_NOT_FOUND) {
		kura_reply_error(r, e, "multi-factor authentication is not on");
		return;
	}
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_empty(r, 204);
}

void
kura_api_mfa_disable(struct kura_req *r)
{
	with_password(r, do_disable);
}

static void
do_recovery(struct kura_req *r)
{
	json_t *out = NULL;
	enum kura_err e;

	if (!reauthenticated(r, "mfa.recovery_renew"))
		return;
	e = kura_mfa_recovery_renew(r, &out);
	if (e == KURA_E_NOT_FOUND) {
		kura_reply_error(r, e, "multi-factor authentication is not on");
		return;
	}
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 200, out);
}

void
kura_api_mfa_recovery(struct kura_req *r)
{
	with_password(r, do_recovery);
}

void
kura_api_users_mfa_reset(struct kura_req *r)
{
	struct kura_user u;
	enum kura_err e;

	if (!kura_api_load_user(r, &u))
		return;
	if (!kura_api_may_manage_user(r, &u))
		return;
	e = kura_mfa_reset_user(r, u.id);
	if (e == KURA_E_CONFLICT) {
		kura_reply_error(r, e,
				 "to turn off your own multi-factor authentication, use "
				 "POST /api/v1/me/mfa/disable");
		return;
	}
	if (e == KURA_E_NOT_FOUND) {
		kura_reply_error(r, e, "this user has no authenticator");
		return;
	}
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_empty(r, 204);
}
