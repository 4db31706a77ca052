/*
 * Turns a request's credentials into a principal. Session cookies carry
 * "<tenant_id>.<secret>"; only SHA-256(secret) is stored, so a copy of the
 * database does not yield usable sessions. The tenant part only picks which
 * tenant store to look in: a secret is valid in exactly one of them.
 *
 * Every failure to authenticate gives the same 401, whatever was wrong, so
 * the answer says nothing about which tenants or sessions exist. Requests
 * with an Authorization header are API-key requests instead (apikey.c).
 */
#include <string.h>

#include <sodium.h>

#include "kura/audit.h"
#include "kura/auth.h"
#include "kura/settings.h"
#include "kura/clock.h"
#include "kura/crypto.h"
#include "kura/log.h"
#include "kura/server.h"
#include "kura/store.h"

/* Write last_seen at most this often, so a busy session is not a write per request. */
#define TOUCH_INTERVAL_US (60LL * 1000000)

void
kura_session_short_id(const uint8_t id_hash[32], char out[17])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[id_hash[i] >> 4];
		out[2 * i + 1] = hex[id_hash[i] & 15];
	}
	out[16] = '\0';
}

/* A session that ended by time: recorded for its user, by the system. */
static void
audit_timeout(struct kura_req *r, struct kura_tenant_db *db, const struct kura_session *s,
	      bool absolute)
{
	struct kura_audit_entry a;
	char sid[17];

	kura_session_short_id(s->id_hash, sid);
	kura_req_audit_init(r, &a, absolute ? "session.expired" : "session.idle_timeout", "session",
			    sid);
	a.actor_type = KURA_ACTOR_SYSTEM;
	a.actor_id = 0;
	a.actor_email[0] = '\0';
	a.actor_role[0] = '\0';
	snprintf(a.target_props, sizeof(a.target_props), "user:%lld", (long long)s->user_id);
	kura_audit_set_outcome(&a, KURA_OK);
	if (kura_audit_append(db, &a) != KURA_OK)
		kura_log(KURA_LOG_ERROR, "audit_append_failed", "rid=%s action=%s", r->rid, a.action);
}

void
kura_req_audit_denied(struct kura_req *r, enum kura_err why)
{
	char target[KURA_AUDIT_TARGET_ID_MAX + 1];
	char m[16];

	kura_method_mask_str(r->method, m, sizeof(m));
	snprintf(target, sizeof(target), "%s %s", m, r->route != NULL ? r->route->pattern : r->path);
	kura_req_audit(r, NULL, "access.denied", "route", target, why);
}

static bool
is_unsafe(unsigned method)
{
	return (method & (KURA_POST | KURA_PUT | KURA_PATCH | KURA_DELETE)) != 0;
}

bool
kura_tenant_token_parse(const char *v, char tenant[KURA_TENANT_ID_MAX + 1], uint8_t secret[32])
{
	const char *dot;
	size_t tlen, got = 0;

	if (v == NULL)
		return false;
	dot = strchr(v, '.');
	if (dot == NULL)
		return false;
	tlen = (size_t)(dot - v);
	if (tlen == 0 || tlen > KURA_TENANT_ID_MAX)
		return false;
	memcpy(tenant, v, tlen);
	tenant[tlen] = '\0';
	if (!kura_tenant_id_valid(tenant))
		return false;
	if (strlen(dot + 1) != KURA_TOKEN_CHARS - 1)
		return false;
	if (kura_b64url_decode(dot + 1, secret, 32, &got) != KURA_OK || got != 32)
		return false;
	return true;
}

static enum kura_err
authenticate_session(struct kura_req *r, const char **msg)
{
	struct kura_server *srv = r->srv;
	struct kura_principal *p = &r->principal;
	struct kura_session s;
	struct kura_tenant *t = &p->tenant;
	uint8_t secret[32];
	int64_t now = kura_now_us();
	int64_t idle = (int64_t)srv->cfg.session_idle_timeout_s * 1000000;
	int64_t touch_every;
	enum kura_err e = KURA_E_UNAUTHENTICATED;

	*msg = "sign in first";
	if (!kura_tenant_token_parse(kura_req_cookie(r, KURA_SESSION_COOKIE), p->tenant_id, secret))
		goto out;
	/* One system read (tenant and its status) and one tenant read (session and user). */
	if (kura_store_tenant_acquire_get(srv->store, p->tenant_id, t, &p->db) != KURA_OK)
		goto out;
	kura_sha256(secret, sizeof(secret), p->session_hash);
	if (kura_store_session_auth(p->db, p->session_hash, &s, &p->user, &p->auth_read) != KURA_OK)
		goto out;
	/* The tenant's idle timeout, fixed into the session at sign-in, wins. */
	if (s.idle_timeout_s > 0)
		idle = s.idle_timeout_s * 1000000;
	touch_every = idle / 4 < TOUCH_INTERVAL_US ? idle / 4 : TOUCH_INTERVAL_US;
	if (now >= s.expires_at || now - s.last_seen_at >= idle) {
		if (kura_store_session_delete(p->db, p->session_hash) == KURA_OK)
			audit_timeout(r, p->db, &s, now >= s.expires_at);
		*msg = "the session has ended; sign in again";
		goto out;
	}
	if (p->user.status != KURA_USER_ACTIVE) {
		kura_store_session_delete_user(p->db, p->user.id, NULL);
		goto out;
	}
	if (t->status != KURA_TENANT_ACTIVE) {
		e = KURA_E_TENANT_SUSPENDED;
		*msg = "this tenant is suspended";
		kura_req_audit_denied(r, e);
		goto out;
	}
	kura_csrf_token(srv->keys, secret, sizeof(secret), p->csrf_token);
	if (is_unsafe(r->method)) {
		const char *sent = kura_req_header(r, KURA_CSRF_HEADER);

		if (sent == NULL || strlen(sent) != strlen(p->csrf_token) ||
		    !kura_ct_equal(sent, p->csrf_token, strlen(p->csrf_token))) {
			e = KURA_E_CSRF;
			*msg = "missing or wrong X-CSRF-Token header";
			kura_req_audit_denied(r, e);
			goto out;
		}
	}
	/* A session bound to a client certificate is only good with that certificate. */
	if (s.client_cert_bound) {
		uint8_t fp[32];

		if (!kura_req_client_cert_sha256(r, fp) ||
		    !kura_ct_equal(fp, s.client_cert, sizeof(fp))) {
			e = KURA_E_CLIENT_CERT_REQUIRED;
			*msg = "this session belongs to a client certificate that this connection did "
			       "not present";
			kura_req_audit_denied(r, e);
			goto out;
		}
	}
	if (now - s.last_seen_at >= touch_every)
		kura_store_session_touch(p->db, p->session_hash, now);
	p->session_created_at = s.created_at;
	p->session_mfa = (int)s.mfa;
	p->authenticated = true;
	e = KURA_OK;
out:
	sodium_memzero(secret, sizeof(secret));
	if (e != KURA_OK) {
		kura_store_tenant_release(p->db);
		memset(p, 0, sizeof(*p));
	}
	return e;
}

enum kura_err
kura_auth_request(struct kura_req *r, const char **msg)
{
	const struct kura_route *rt = r->route;
	enum kura_err e;

	*msg = NULL;
	if (rt == NULL || rt->auth == KURA_AUTH_NONE)
		return KURA_OK;
	if (rt->auth == KURA_AUTH_METRICS)
		return kura_auth_metrics(r, msg);
	/* An Authorization header means an API key, instead of the cookie (see apikey.c). */
	if (kura_req_header(r, "Authorization") != NULL)
		e = kura_auth_apikey(r, msg);
	else
		e = authenticate_session(r, msg);
	if (e != KURA_OK)
		return e;
	/*
	 * The tenant's IP allow-lists: ipAllowlist for sessions, apiKeyIpAllowlist
	 * for API keys (whose own ranges were checked in apikey.c), each read in
	 * the same query as the credential.
	 */
	if (!kura_settings_allowlist_admits(r->principal.auth_read.ip_allowlist, r->ip)) {
		*msg = "this tenant does not accept requests from your address";
		kura_req_audit_denied(r, KURA_E_IP_NOT_ALLOWED);
		return KURA_E_IP_NOT_ALLOWED;
	}
	if (r->principal.api_key_id != 0 && (rt->flags & KURA_ROUTE_SESSION_ONLY) != 0) {
		*msg = "sign in as yourself for this; API keys cannot do it";
		kura_req_audit_denied(r, KURA_E_FORBIDDEN);
		return KURA_E_FORBIDDEN;
	}
	if (r->principal.user.must_change_password && (rt->flags & KURA_ROUTE_PWCHANGE_OK) == 0) {
		*msg = "change your password first (POST /api/v1/auth/password)";
		kura_req_audit_denied(r, KURA_E_PASSWORD_CHANGE_REQUIRED);
		return KURA_E_PASSWORD_CHANGE_REQUIRED;
	}
	if (r->principal.session_mfa == KURA_SESSION_MFA_ENROL &&
	    (rt->flags & KURA_ROUTE_MFA_ENROL_OK) == 0) {
		*msg = "this tenant requires multi-factor authentication: enrol first "
		       "(POST /api/v1/me/mfa/totp)";
		kura_req_audit_denied(r, KURA_E_MFA_ENROLMENT_REQUIRED);
		return KURA_E_MFA_ENROLMENT_REQUIRED;
	}
	if (!kura_user_has_permission(&r->principal.user, rt->permission)) {
		*msg = "your role does not allow this";
		kura_req_audit_denied(r, KURA_E_FORBIDDEN);
		return KURA_E_FORBIDDEN;
	}
	return KURA_OK;
}

void
kura_auth_release(struct kura_req *r)
{
	kura_store_tenant_release(r->principal.db);
	r->principal.db = NULL;
	sodium_memzero(r->principal.user.password_hash, sizeof(r->principal.user.password_hash));
}
