/*
 * The tenant's security settings (GET / PATCH, permission
 * "settings.security"), and unlocking a locked account (users.manage).
 * A change commits together with its audit entry, which names the settings
 * that changed.
 */
#include <stdio.h>
#include <string.h>

#include "api_int.h"
#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/log.h"
#include "kura/settings.h"
#include "kura/store_mfa.h"

void
kura_api_settings_get(struct kura_req *r)
{
	struct kura_security_settings s;
	enum kura_err e = kura_settings_load(r->principal.db, &s);

	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 200, kura_settings_json(&s));
}

void
kura_api_settings_patch(struct kura_req *r)
{
	struct kura_tenant_db *db = r->principal.db;
	struct kura_security_settings s;
	json_t *details = json_array();
	char changed[KURA_AUDIT_PROPS_MAX + 1];
	bool was_required;
	void *conn;
	const struct kura_mfa_ops *mfa = kura_store_mfa(db, &conn);
	enum kura_err e;

	e = kura_settings_load(db, &s);
	if (e != KURA_OK) {
		json_decref(details);
		kura_reply_error(r, e, NULL);
		return;
	}
	was_required = s.mfa_required;
	if (kura_settings_apply(&s, r->json, details, changed, sizeof(changed)) != KURA_OK) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "no setting was changed", details);
		return;
	}
	/* An allow-list that leaves out the address changing it would lock its admin out. */
	if (s.ip_allowlist[0] != '\0' && !kura_cidr_list_match(s.ip_allowlist, r->ip)) {
		kura_api_detail(details, KURA_SETTING_IP_ALLOWLIST, "would_lock_you_out",
				"the list does not contain the address you are calling from");
		kura_reply_error_details(r, KURA_E_VALIDATION, "no setting was changed", details);
		return;
	}
	/*
	 * Requiring MFA ends every session opened without it, so whoever turns
	 * it on must have signed in with it: otherwise they would end their own.
	 */
	if (s.mfa_required && !was_required &&
	    r->principal.session_mfa != KURA_SESSION_MFA_DONE) {
		kura_api_detail(details, "mfaRequired", "would_lock_you_out",
				"turn on multi-factor authentication for yourself and sign in with "
				"it first");
		kura_reply_error_details(r, KURA_E_VALIDATION, "no setting was changed", details);
		return;
	}
	json_decref(details);
	if (changed[0] != '\0') {
		e = kura_store_begin(db);
		if (e == KURA_OK)
			e = kura_settings_save(db, &s, kura_now_us());
		if (e == KURA_OK && s.mfa_required && !was_required) {
			unsigned ended = 0;

			e = mfa->sessions_end_without_mfa(conn, NULL, &ended);
			if (e == KURA_OK && ended > 0)
				kura_log(KURA_LOG_INFO, "mfa_required_sessions_ended",
					 "rid=%s tenant=%s sessions=%u", r->rid,
					 r->principal.tenant_id, ended);
		}
		if (e == KURA_OK && !s.mfa_required && was_required)
			e = mfa->sessions_release_enrol(conn);
		if (e == KURA_OK) {
			struct kura_audit_entry a;

			kura_req_audit_init(r, &a, "settings.update", "settings", "security");
			snprintf(a.target_props, sizeof(a.target_props), "%s", changed);
			kura_audit_set_outcome(&a, KURA_OK);
			e = kura_audit_append(db, &a);
		}
		e = kura_store_finish(db, e);
		if (e != KURA_OK) {
			kura_reply_error(r, e, NULL);
			return;
		}
	}
	kura_reply_json(r, 200, kura_settings_json(&s));
}

void
kura_api_users_unlock(struct kura_req *r)
{
	struct kura_tenant_db *db = r->principal.db;
	struct kura_user u;
	char uid[24];
	enum kura_err e;

	if (!kura_api_load_user(r, &u))
		return;
	snprintf(uid, sizeof(uid), "%lld", (long long)u.id);
	e = kura_store_begin(db);
	if (e == KURA_OK)
		e = kura_store_lockout_put(db, u.id, 0, 0);
	if (e == KURA_OK)
		e = kura_req_audit(r, NULL, "user.unlock", "user", uid, KURA_OK);
	e = kura_store_finish(db, e);
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_empty(r, 204);
}
