/*
 * API keys: "Authorization: Bearer kura_<tenant_id>_<secret>" on the routes
 * that otherwise take a session cookie. As with the cookie, the tenant part
 * only picks which tenant store to look in, and the store keeps only
 * SHA-256(secret), so a copy of the database yields no usable keys.
 *
 * A key acts as the user who created it, but only within its scopes: a
 * route's permission must be in the key's scopes and still granted to the
 * creator's current role (checked by kura_auth_request, as for a session),
 * so demoting the creator narrows the key at once. Keys never carry CSRF
 * tokens (no browser sends them on its own) and never receive cookies.
 *
 * Every failure to identify a key gives the same 401 as a bad cookie, so
 * the answer says nothing about which tenants or keys exist.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "kura/audit.h"
#include "kura/auth.h"
#include "kura/clock.h"
#include "kura/crypto.h"
#include "kura/server.h"
#include "kura/store.h"

#define TOKEN_PREFIX "kura_"
#define TOKEN_PREFIX_LEN 5
/* Write last_used at most this often, so a busy key is not a write per request. */
#define TOUCH_INTERVAL_US (60LL * 1000000)

void
kura_apikey_mint(const char *tenant_id, char token[KURA_APIKEY_TOKEN_MAX],
		 char prefix[KURA_APIKEY_PREFIX_LEN + 1], uint8_t secret_hash[32])
{
	char secret[KURA_TOKEN_CHARS];
	uint8_t raw[32];

	kura_random_token(secret, raw, sizeof(raw));
	snprintf(token, KURA_APIKEY_TOKEN_MAX, TOKEN_PREFIX "%s_%s", tenant_id, secret);
	memcpy(prefix, secret, KURA_APIKEY_PREFIX_LEN);
	prefix[KURA_APIKEY_PREFIX_LEN] = '\0';
	kura_sha256(secret, strlen(secret), secret_hash);
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(raw, sizeof(raw));
}

static bool
b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/*
 * Splits "Bearer kura_<tenant>_<secret>" into the tenant id and SHA-256 of
 * the secret. Tenant ids have no '_', so the first one after "kura_" ends it.
 * The secret's text is hashed as sent (not decoded): then every spelling
 * that differs is a different key, whatever base64's spare bits hold.
 */
static bool
parse_bearer(const char *v, char tenant[KURA_TENANT_ID_MAX + 1], uint8_t hash[32])
{
	const char *tok, *sep;
	size_t tlen, slen;

	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	tok = v + 7;
	while (*tok == ' ')
		tok++;
	if (strncmp(tok, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
		return false;
	tok += TOKEN_PREFIX_LEN;
	sep = strchr(tok, '_');
	if (sep == NULL)
		return false;
	tlen = (size_t)(sep - tok);
	if (tlen == 0 || tlen > KURA_TENANT_ID_MAX)
		return false;
	memcpy(tenant, tok, tlen);
	tenant[tlen] = '\0';
	if (!kura_tenant_id_valid(tenant))
		return false;
	slen = strlen(sep + 1);
	while (slen > 0 && (sep[1 + slen - 1] == ' ' || sep[1 + slen - 1] == '\t'))
		slen--;
	if (slen != KURA_TOKEN_CHARS - 1)
		return false;
	for (size_t i = 0; i < slen; i++) {
		if (!b64url_char(sep[1 + i]))
			return false;
	}
	kura_sha256(sep + 1, slen, hash);
	return true;
}

/* true when permission is one of the comma-separated scopes. */
static bool
scope_has(const char *scopes, const char *permission)
{
	size_t n = strlen(permission);
	const char *p = scopes;

	while (*p != '\0') {
		const char *end = strchr(p, ',');

		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) == n && memcmp(p, permission, n) == 0)
			return true;
		p = *end == ',' ? end + 1 : end;
	}
	return false;
}

enum kura_err
kura_auth_apikey(struct kura_req *r, const char **msg)
{
	struct kura_principal *p = &r->principal;
	const struct kura_route *rt = r->route;
	struct kura_apikey k;
	uint8_t hash[32];
	int64_t now = kura_now_us();
	enum kura_err e = KURA_E_UNAUTHENTICATED;

	memset(&k, 0, sizeof(k));
	memset(hash, 0, sizeof(hash));
	*msg = "sign in first";
	/* Two credentials could name two identities: refuse rather than pick one. */
	if (kura_req_cookie(r, KURA_SESSION_COOKIE) != NULL) {
		e = KURA_E_BAD_REQUEST;
		*msg = "ambiguous: send either a session cookie or an API key, not both";
		goto out;
	}
	if (!parse_bearer(kura_req_header(r, "Authorization"), p->tenant_id, hash))
		goto out;
	if (kura_store_tenant_acquire_get(r->srv->store, p->tenant_id, &p->tenant, &p->db) !=
	    KURA_OK)
		goto out;
	if (kura_store_apikey_auth(p->db, hash, &k, &p->user, &p->auth_read) != KURA_OK)
		goto out;
	if (k.revoked_at != 0 || (k.expires_at != 0 && now >= k.expires_at) ||
	    p->user.status != KURA_USER_ACTIVE)
		goto out;
	/* From here on the caller is known: refusals are audited under the key. */
	p->api_key_id = k.id;
	if (p->tenant.status != KURA_TENANT_ACTIVE) {
		e = KURA_E_TENANT_SUSPENDED;
		*msg = "this tenant is suspended";
		kura_req_audit_denied(r, e);
		goto out;
	}
	if (k.cidrs[0] != '\0' && !kura_cidr_list_match(k.cidrs, r->ip)) {
		e = KURA_E_FORBIDDEN;
		*msg = "this API key may not be used from this address";
		kura_req_audit_denied(r, e);
		goto out;
	}
	/* "self" routes act on the creator's own account: open to every key. */
	if (rt == NULL || rt->permission == NULL ||
	    (strcmp(rt->permission, "self") != 0 && !scope_has(k.scopes, rt->permission))) {
		e = KURA_E_FORBIDDEN;
		*msg = "this API key's scopes do not allow this";
		kura_req_audit_denied(r, e);
		goto out;
	}
	if (now - k.last_used_at >= TOUCH_INTERVAL_US)
		kura_store_apikey_touch(p->db, k.id, now, r->ip);
	p->authenticated = true;
	e = KURA_OK;
out:
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(&k, sizeof(k));
	if (e != KURA_OK) {
		kura_store_tenant_release(p->db);
		sodium_memzero(p->user.password_hash, sizeof(p->user.password_hash));
		memset(p, 0, sizeof(*p));
	}
	return e;
}
