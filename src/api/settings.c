/*
 * The tenant's security settings (GET / PATCH, permission
 * "settings.security"), and unlocking a locked account (users.manage).
 * A change commits together with its audit entry, which names the settings
 * that changed (and "confirmLockout" when that flag let an allow-list leave
 * out its own caller).
 */
#include <stdio.h>
#include <string.h>

#include "api_int.h"
#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/crypto.h"
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

/*
 * Before requiring client certificates: the server must ask for them, the
 * allowed authorities must be its own, and a session caller's connection
 * must present one that passes (else it would shut itself out); its leaf's
 * SHA-256 goes to cert. Appends details and returns false otherwise.
 */
static bool
cert_settings_ok(struct kura_req *r, const struct kura_security_settings *s, json_t *details,
		 uint8_t cert[32])
{
	const char *p = s->client_cas;

	if (r->srv->client_cas == NULL) {
		kura_api_detail(details, "clientCertRequired", "not_available",
				"this server asks for no client certificates (its operator sets "
				"tls_client_ca_file)");
		return false;
	}
	while (*p != '\0') {
		char fp[65];
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		snprintf(fp, sizeof(fp), "%.*s", (int)(len < 64 ? len : 64), p);
		if (!kura_client_cas_has(r->srv->client_cas, fp)) {
			kura_api_detail(details, "clientCas", "unknown_authority",
					"each must be the fingerprint of one of the server's client "
					"authorities (GET /api/v1/security/client-cas)");
			return false;
		}
		p += len + (end != NULL ? 1 : 0);
	}
	if (r->principal.api_key_id == 0 && kura_auth_client_cert(r, s, cert) != KURA_OK) {
		kura_api_detail(details, "clientCertRequired", "would_lock_you_out",
				"this connection presents no valid certificate from the allowed "
				"authorities: connect with one first");
		return false;
	}
	return true;
}

void
kura_api_client_cas_list(struct kura_req *r)
{
	const struct kura_client_cas *c = r->srv->client_cas;
	json_t *results = json_array();

	for (size_t i = 0; i < kura_client_cas_count(c); i++)
		json_array_append_new(results,
				      json_pack("{s:s, s:s}", "fingerprint",
						kura_client_cas_fingerprint(c, i), "subject",
						kura_client_cas_subject(c, i)));
	kura_reply_json(r, 200, json_pack("{s:b, s:o}", "requested", c != NULL, "results",
					  results));
}

void
kura_api_settings_patch(struct kura_req *r)
{
	struct kura_tenant_db *db = r->principal.db;
	struct kura_security_settings before, s;
	json_t *details = json_array();
	json_t *body = NULL, *confirm;
	/* Room left in the audit entry for ",confirmLockout". */
	char changed[KURA_AUDIT_PROPS_MAX + 2 - sizeof("," KURA_SETTING_CONFIRM_LOCKOUT)];
	const char *locks_out;
	bool was_required, cert_change;
	uint8_t caller_cert[32] = {0};
	void *conn;
	const struct kura_mfa_ops *mfa = kura_store_mfa(db, &conn);
	enum kura_err e;

	e = kura_settings_load(db, &s);
	if (e != KURA_OK) {
		json_decref(details);
		kura_reply_error(r, e, NULL);
		return;
	}
	before = s;
	was_required = s.mfa_required;
	/* confirmLockout belongs to this request, not to the settings: taken out before applying. */
	confirm = json_object_get(r->json, KURA_SETTING_CONFIRM_LOCKOUT);
	if (confirm != NULL) {
		if (!json_is_boolean(confirm))
			kura_api_detail(details, KURA_SETTING_CONFIRM_LOCKOUT, "invalid",
					"true or false");
		body = json_copy(r->json);
		if (body == NULL) {
			json_decref(details);
			kura_reply_error(r, KURA_E_NOMEM, NULL);
			return;
		}
		json_object_del(body, KURA_SETTING_CONFIRM_LOCKOUT);
	}
	if (kura_settings_apply(&s, body != NULL ? body : r->json, details, changed,
				sizeof(changed)) != KURA_OK ||
	    json_array_size(details) > 0) {
		json_decref(body);
		kura_reply_error_details(r, KURA_E_VALIDATION, "no setting was changed", details);
		return;
	}
	json_decref(body);
	/*
	 * A list that leaves out the address changing it would lock its caller
	 * out (a session by ipAllowlist, an API key by apiKeyIpAllowlist): only
	 * with "confirmLockout": true, and then the very next request is refused.
	 */
	locks_out = kura_settings_lockout(&before, &s, r->principal.api_key_id != 0, r->ip);
	if (locks_out != NULL && !json_is_true(confirm)) {
		kura_api_detail(details, locks_out, "would_lock_you_out",
				"the list does not contain the address you are calling from; send "
				"\"confirmLockout\": true as well to save it all the same");
		kura_reply_error_details(r, KURA_E_VALIDATION, "no setting was changed", details);
		return;
	}
	/*
	 * Requiring MFA ends every session opened without it, so whoever turns
	 * it on from a session must have signed in with it: otherwise they
	 * would end their own. API keys are not subject to MFA.
	 */
	if (s.mfa_required && !was_required && r->principal.api_key_id == 0 &&
	    r->principal.session_mfa != KURA_SESSION_MFA_DONE) {
		kura_api_detail(details, "mfaRequired", "would_lock_you_out",
				"turn on multi-factor authentication for yourself and sign in with "
				"it first");
		kura_reply_error_details(r, KURA_E_VALIDATION, "no setting was changed", details);
		return;
	}
	cert_change = s.client_cert_required != before.client_cert_required ||
		      (s.client_cert_required && strcmp(s.client_cas, before.client_cas) != 0);
	if (cert_change && s.client_cert_required &&
	    !cert_settings_ok(r, &s, details, caller_cert)) {
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
		/*
		 * Certificates required (or other authorities allowed): every other
		 * session ends, the caller's is bound to the certificate it presents.
		 * No longer required: sessions are no longer bound.
		 */
		if (e == KURA_OK && cert_change)
			e = mfa->sessions_unbind_certs(conn);
		if (e == KURA_OK && cert_change && s.client_cert_required) {
			unsigned ended = 0;
			bool session = r->principal.api_key_id == 0;

			if (session)
				e = mfa->session_bind_cert(conn, r->principal.session_hash,
							   caller_cert);
			if (e == KURA_OK)
				e = mfa->sessions_end_without_cert(
					conn, session ? r->principal.session_hash : NULL, &ended);
			if (e == KURA_OK && ended > 0)
				kura_log(KURA_LOG_INFO, "client_cert_required_sessions_ended",
					 "rid=%s tenant=%s sessions=%u", r->rid,
					 r->principal.tenant_id, ended);
		}
		if (e == KURA_OK) {
			struct kura_audit_entry a;

			kura_req_audit_init(r, &a, "settings.update", "settings", "security");
			snprintf(a.target_props, sizeof(a.target_props), "%s%s", changed,
				 locks_out != NULL ? "," KURA_SETTING_CONFIRM_LOCKOUT : "");
			kura_audit_set_outcome(&a, KURA_OK);
			e = kura_audit_append(db, &a);
		}
		e = kura_store_finish(db, e);
		if (e != KURA_OK) {
			kura_reply_error(r, e, NULL);
			return;
		}
		if (locks_out != NULL)
			kura_log(KURA_LOG_INFO, "ip_allowlist_lockout_confirmed",
				 "rid=%s tenant=%s list=%s", r->rid, r->principal.tenant_id,
				 locks_out);
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
