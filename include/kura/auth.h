/*
 * Authentication and authorisation of requests: session cookies, CSRF
 * tokens, built-in roles and their permissions, and the login/logout flows
 * the API handlers call.
 *
 * Session cookie: __Host-kura_session = "<tenant_id>.<secret>", the secret
 * being 32 random bytes in base64url; the store keeps only SHA-256(secret).
 */
#ifndef KURA_AUTH_H
#define KURA_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "kura/cidr.h"
#include "kura/err.h"
#include "kura/http.h"
#include "kura/text.h"

#define KURA_SESSION_COOKIE "__Host-kura_session"
#define KURA_CSRF_HEADER "X-CSRF-Token"

/*
 * Resolves the caller of r according to r->route->auth and checks the route's
 * permission and CSRF. On success fills r->principal (with an acquired tenant
 * handle). On failure returns the error to answer with and a message in msg.
 */
enum kura_err kura_auth_request(struct kura_req *r, const char **msg);

/*
 * true when authorization is "Bearer <token>" and SHA-256(token) equals
 * want_sha256, compared in constant time. NULL arguments give false.
 */
bool kura_bearer_ok(const char *authorization, const uint8_t want_sha256[32]);

/*
 * The KURA_AUTH_METRICS step: KURA_E_NOT_FOUND while no metrics token is
 * configured, KURA_E_UNAUTHENTICATED without the right bearer token.
 */
enum kura_err kura_auth_metrics(struct kura_req *r, const char **msg);

/*
 * API keys: "Authorization: Bearer kura_<tenant_id>_<secret>", the secret
 * being 32 random bytes in base64url; the store keeps only SHA-256 of the
 * secret's text and its first KURA_APIKEY_PREFIX_LEN characters (to tell
 * keys apart in lists).
 */
#define KURA_APIKEY_TOKEN_MAX (5 + KURA_TENANT_ID_MAX + 1 + KURA_TOKEN_CHARS)

/*
 * Draws a new key for tenant_id: the token to show once, its prefix and
 * the hash to store. The caller wipes token after use.
 */
void kura_apikey_mint(const char *tenant_id, char token[KURA_APIKEY_TOKEN_MAX],
		      char prefix[KURA_APIKEY_PREFIX_LEN + 1], uint8_t secret_hash[32]);

/*
 * The API-key step of kura_auth_request, for a KURA_AUTH_SESSION route
 * called with an Authorization header: KURA_E_BAD_REQUEST when a session
 * cookie came too; KURA_E_UNAUTHENTICATED for an unknown, revoked or
 * expired key or a disabled creator; KURA_E_TENANT_SUSPENDED; and
 * KURA_E_FORBIDDEN (audited) from an address outside the key's CIDRs or
 * for a permission outside its scopes. On success fills r->principal as a
 * session does (user = the creator) and sets api_key_id; the creator's role
 * is checked by the caller.
 */
enum kura_err kura_auth_apikey(struct kura_req *r, const char **msg);

/* kura_cidr_valid, kura_cidr_list_match: see kura/cidr.h (base/). */

struct kura_security_settings;
/*
 * The connection's client certificate as the tenant's settings require it:
 * KURA_OK with the leaf's SHA-256 when its chain verifies against an
 * authority the tenant allows, else KURA_E_CLIENT_CERT_REQUIRED (none sent,
 * another authority, expired, not for client authentication, or the server
 * asks for none).
 */
enum kura_err kura_auth_client_cert(const struct kura_req *r,
				    const struct kura_security_settings *set,
				    uint8_t leaf_sha256[32]);

/* Releases what kura_auth_request acquired. Safe to call twice. */
void kura_auth_release(struct kura_req *r);

/* true when the built-in role grants permission ("self" is granted to every known role). */
bool kura_role_has_permission(const char *role, const char *permission);
/* true when role names a built-in role. */
bool kura_role_valid(const char *role);
/* The permissions of a built-in role (NULL-terminated; "*" = all), or NULL. */
const char *const *kura_role_builtin_perms(const char *name);
/* true when perm is one of the permissions roles and API keys can hold. */
bool kura_permission_known(const char *perm);
/* All of those, *n of them. */
const char *const *kura_permissions_all(size_t *n);
/* true when the comma-separated list holds perm. */
bool kura_perm_list_has(const char *list, const char *perm);
/*
 * Whether u's role grants permission: a built-in role by the fixed table,
 * one of the tenant's own roles by the permissions read with the user
 * (u->custom_role, u->role_perms). An unknown role grants nothing.
 */
bool kura_user_has_permission(const struct kura_user *u, const char *permission);

/*
 * Splits "<tenant_id>.<secret>" (a session cookie, an MFA sign-in token)
 * into the tenant id and the 32-byte secret; false when malformed.
 */
bool kura_tenant_token_parse(const char *v, char tenant[KURA_TENANT_ID_MAX + 1],
			     uint8_t secret[32]);

/* Validates a tenant id: 2..32 chars of [a-z0-9-], starting with a letter. */
bool kura_tenant_id_valid(const char *id);

#endif

struct kura_audit_entry;

/*
 * A session's public name: hex of the first 8 bytes of its id hash (itself
 * SHA-256 of the secret). Names sessions in audit entries and lists without
 * revealing anything usable.
 */
void kura_session_short_id(const uint8_t id_hash[32], char out[17]);

/*
 * Fills e for an operation of this request: actor from the principal (its
 * role at this moment), IP, user agent, request id, action and target.
 */
void kura_req_audit_init(const struct kura_req *r, struct kura_audit_entry *e, const char *action,
			 const char *target_type, const char *target_id);
/*
 * Records that this request of an identified caller was refused (action
 * "access.denied", target the route "METHOD /pattern", the error's code).
 */
void kura_req_audit_denied(struct kura_req *r, enum kura_err why);
/* Sets outcome and error code from an error: 401/403 are "denied", others "failed". */
void kura_audit_set_outcome(struct kura_audit_entry *e, enum kura_err err);
/*
 * Appends one entry for this request to db (NULL = the principal's handle),
 * joining its open transaction if any. Logs and returns the error if the
 * append fails: a caller inside a transaction must then roll back.
 */
enum kura_err kura_req_audit(struct kura_req *r, struct kura_tenant_db *db, const char *action,
			     const char *target_type, const char *target_id, enum kura_err outcome);

#ifndef KURA_AUTH_FLOWS
#define KURA_AUTH_FLOWS
struct kura_server;

struct kura_login_result {
	struct kura_user user;
	char tenant_id[KURA_TENANT_ID_MAX + 1];
	char cookie[KURA_TENANT_ID_MAX + 1 + KURA_TOKEN_CHARS + 1]; /* cookie value */
	char csrf_token[KURA_TOKEN_CHARS];
	int64_t expires_at;
	/* Password accepted, code owed: no session yet, this token for the second step. */
	bool mfa_pending;
	char mfa_token[KURA_TENANT_ID_MAX + 1 + KURA_TOKEN_CHARS + 1];
	int64_t mfa_expires_at;
	bool mfa_enrolment_required;   /* the session may only enrol */
};

/*
 * Checks credentials and opens a session. Slow (Argon2id): call only from
 * the hash pool. A wrong tenant, e-mail or password, and a disabled user, all
 * give KURA_E_INVALID_CREDENTIALS after the same hashing work. A suspended
 * tenant gives KURA_E_TENANT_SUSPENDED only to correct credentials. Hashes
 * below the configured cost are upgraded on success. Every attempt on an
 * existing tenant is audited there ("auth.login", success or denied); the
 * session and its audit entry commit together. On success r->principal
 * names the tenant and user (for the log line), without a tenant handle.
 */
enum kura_err kura_auth_login(struct kura_req *r, const char *tenant_id, const char *email,
			      const char *password, size_t pwlen, struct kura_login_result *out);

/*
 * The second step of a sign-in with MFA: token from the first step and
 * either a TOTP code or a recovery code. Opens the session like
 * kura_auth_login. Wrong codes count toward the account's lockout and the
 * address's failed sign-ins; KURA_MFA_CHALLENGE_TRIES of them end the
 * challenge. KURA_E_MFA_CHALLENGE_INVALID for an unknown, expired or used
 * token (sign in again), KURA_E_MFA_CODE_INVALID for a wrong or replayed
 * code (a replay is audited as such).
 */
enum kura_err kura_auth_login_mfa(struct kura_req *r, const char *token, const char *code,
				  const char *recovery_code, struct kura_login_result *out);

/* Ends the caller's session. */
enum kura_err kura_auth_logout(struct kura_req *r);

/*
 * Checks the caller's password again before a change to how they sign in
 * (fresh: the user as just re-read; slow: hash pool only). A wrong password
 * counts toward the account lockout like a failed sign-in; the failure that
 * locks the account also ends every session of the user (someone holding a
 * session who cannot confirm the password is treated as not its owner).
 * Returns KURA_OK, KURA_E_INVALID_CREDENTIALS, KURA_E_ACCOUNT_LOCKED (now
 * or already locked: no password is checked while locked) or
 * KURA_E_UNAVAILABLE.
 */
enum kura_err kura_auth_reauthenticate(struct kura_req *r, const struct kura_user *fresh,
				       const char *pw, size_t len);

/*
 * Changes the caller's password after checking the old one with
 * kura_auth_reauthenticate (slow: hash pool only). Ends every other session of the user; the caller's session stays.
 * A new password that breaks the policy gives KURA_E_VALIDATION with one
 * entry per broken rule appended to details (if not NULL).
 */
enum kura_err kura_auth_change_password(struct kura_req *r, const char *old_pw, size_t oldlen,
					const char *new_pw, size_t newlen, json_t *details);

/*
 * Checks a new password against the tenant's policy (set; NULL = defaults):
 * minimum length in code points, at most 1024 bytes, required character
 * classes (waived from 128 characters on), not the e-mail or its local part,
 * and (always, whatever the settings) not a common password
 * (kura_password_breached, code "breached").
 * Appends {"field","code","message"} objects to details, one per broken rule.
 * Returns KURA_OK or KURA_E_VALIDATION.
 */
struct kura_security_settings;
enum kura_err kura_password_policy_check(const char *pw, size_t len, const struct kura_user *u,
					 const struct kura_security_settings *set, json_t *details);

/*
 * true when pw (len bytes, not NUL-terminated) equals, ignoring the case of
 * ASCII letters, an entry of the embedded common-password list (Openwall's
 * password.lst from Debian's john-data). NULL or empty gives false.
 */
bool kura_password_breached(const char *pw, size_t len);
/*
 * The embedded list itself (generated at build time by
 * scripts/embed_wordlist.py): kura_breached_list_count entries, ASCII
 * lower-case, unique, sorted by strcmp.
 */
extern const char *const kura_breached_list[];
extern const size_t kura_breached_list_count;

/*
 * Most previous password hashes kept per user, and so the most Argon2id
 * verifications one password change can cost for the reuse rule
 * (passwordHistory, at most this many).
 */
#define KURA_PASSWORD_HISTORY_MAX 24
#endif
