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

#include "kura/err.h"
#include "kura/http.h"

#define KURA_SESSION_COOKIE "__Host-kura_session"
#define KURA_CSRF_HEADER "X-CSRF-Token"

/*
 * Resolves the caller of r according to r->route->auth and checks the route's
 * permission and CSRF. On success fills r->principal (with an acquired tenant
 * handle). On failure returns the error to answer with and a message in msg.
 */
enum kura_err kura_auth_request(struct kura_req *r, const char **msg);

/* Releases what kura_auth_request acquired. Safe to call twice. */
void kura_auth_release(struct kura_req *r);

/* true when the built-in role grants permission ("self" is granted to every known role). */
bool kura_role_has_permission(const char *role, const char *permission);
/* true when role names a built-in role. */
bool kura_role_valid(const char *role);

/* Validates a tenant id: 2..32 chars of [a-z0-9-], starting with a letter. */
bool kura_tenant_id_valid(const char *id);
/* Light e-mail syntax check (local@domain, length limits, no spaces/controls). */
bool kura_email_valid(const char *email);

#endif

#ifndef KURA_AUTH_FLOWS
#define KURA_AUTH_FLOWS
struct kura_server;

struct kura_login_result {
	struct kura_user user;
	char tenant_id[KURA_TENANT_ID_MAX + 1];
	char cookie[KURA_TENANT_ID_MAX + 1 + KURA_TOKEN_CHARS + 1]; /* cookie value */
	char csrf_token[KURA_TOKEN_CHARS];
	int64_t expires_at;
};

/*
 * Checks credentials and opens a session. Slow (Argon2id): call only from
 * the hash pool. A wrong tenant, e-mail or password, and a disabled user, all
 * give KURA_E_INVALID_CREDENTIALS after the same hashing work. A suspended
 * tenant gives KURA_E_TENANT_SUSPENDED only to correct credentials. Hashes
 * below the configured cost are upgraded on success.
 */
enum kura_err kura_auth_login(struct kura_server *srv, const char *tenant_id, const char *email,
			      const char *password, size_t pwlen, const char *ip, const char *ua,
			      struct kura_login_result *out);

/* Ends the caller's session. */
enum kura_err kura_auth_logout(struct kura_req *r);

/*
 * Changes the caller's password after checking the old one (slow: hash pool
 * only). Ends every other session of the user; the caller's session stays.
 * A new password that breaks the policy gives KURA_E_VALIDATION with one
 * entry per broken rule appended to details (if not NULL).
 */
enum kura_err kura_auth_change_password(struct kura_req *r, const char *old_pw, size_t oldlen,
					const char *new_pw, size_t newlen, json_t *details);

/*
 * Checks a new password against the policy (length 12..1024 bytes by
 * default, not equal to the e-mail). Appends {"field","code","message"}
 * objects to details. Returns KURA_OK or KURA_E_VALIDATION.
 */
enum kura_err kura_password_policy_check(const char *pw, size_t len, const struct kura_user *u,
					 json_t *details);
#endif
