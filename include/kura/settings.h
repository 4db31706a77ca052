/*
 * A tenant's security settings: password policy, account lockout, session
 * timeouts, IP allow-lists. Stored as key/value rows in the tenant's database (absent keys
 * take the defaults below) and changed through GET/PATCH
 * /api/v1/settings/security by users with "settings.security".
 */
#ifndef KURA_SETTINGS_H
#define KURA_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kura/err.h"
#include "kura/store.h"

#define KURA_PW_CLASS_LOWER (1u << 0)
#define KURA_PW_CLASS_UPPER (1u << 1)
#define KURA_PW_CLASS_DIGIT (1u << 2)
#define KURA_PW_CLASS_SYMBOL (1u << 3)

/* KURA_IP_ALLOWLIST_* and KURA_SETTING_*IP_ALLOWLIST: kura/store.h (the authenticating reads use them) */
/* Not a setting: a PATCH member that lets a list exclude its own caller. */
#define KURA_SETTING_CONFIRM_LOCKOUT "confirmLockout"

/* What a sign-in does when the user already has a live session. */
enum kura_concurrent_sessions {
	KURA_SESSIONS_ALLOW = 0,     /* several sessions at once (default) */
	KURA_SESSIONS_END_OLDER,     /* the new sign-in ends the others */
	KURA_SESSIONS_REFUSE,        /* the new sign-in is refused (409) */
};

/* At most 15 fingerprints of 64 hex digits, comma-separated. */
#define KURA_CLIENT_CAS_MAX 15
#define KURA_CLIENT_CAS_TEXT_MAX (KURA_CLIENT_CAS_MAX * 65)

struct kura_security_settings {
	unsigned password_min_length;    /* 8..30 code points; default 12 */
	unsigned password_classes;       /* KURA_PW_CLASS_* required; default none */
	unsigned password_expiry_days;   /* 0 = never, else 30..365 */
	unsigned lockout_threshold;      /* 0 = off, else 3..9 consecutive failures; default 5 */
	unsigned lockout_minutes;        /* 1..1440; default 30 */
	unsigned session_idle_minutes;   /* 0 = the server's setting, else 5..1440 */
	unsigned session_absolute_minutes; /* 0 = the server's setting, else 15..1440 */
	enum kura_concurrent_sessions concurrent_sessions;
	unsigned password_history;       /* 0 = off, else 1..24 previous passwords refused; default 5 */
	/* Addresses that may sign in and use sessions: comma-separated CIDRs; "" = any. */
	char ip_allowlist[KURA_IP_ALLOWLIST_TEXT_MAX];
	/*
	 * Addresses API keys may be used from, the same way (each key's own
	 * ranges apply on top). Tenant migration 9 copied ipAllowlist here for
	 * tenants that had one, so keys stayed as restricted as before.
	 */
	char apikey_ip_allowlist[KURA_IP_ALLOWLIST_TEXT_MAX];
	/* Every user signs in with a second factor; those without one may only enrol. */
	bool mfa_required;
	/*
	 * Sign-in and sessions need a client certificate (mutual TLS) from one of
	 * the server's authorities listed in client_cas (hex SHA-256 fingerprints,
	 * comma-separated; "" = any of them).
	 */
	bool client_cert_required;
	char client_cas[KURA_CLIENT_CAS_TEXT_MAX];
};

void kura_settings_defaults(struct kura_security_settings *s);

/* Reads the tenant's settings (defaults for keys never set). */
enum kura_err kura_settings_load(struct kura_tenant_db *db, struct kura_security_settings *out);

/* The settings as the API shows them. */
json_t *kura_settings_json(const struct kura_security_settings *s);

/*
 * Applies a PATCH body to s: every member must be a known setting with a
 * valid value; otherwise appends {"field","code","message"} per problem to
 * details and returns KURA_E_VALIDATION (s is then unspecified). On success
 * writes the names of the settings that changed, comma-separated, into
 * changed (size n; "" when none).
 */
enum kura_err kura_settings_apply(struct kura_security_settings *s, json_t *patch,
				  json_t *details, char *changed, size_t n);

/*
 * Whether ip may sign in to, or use a session of, the tenant of db
 * (ipAllowlist): true when the tenant keeps no such list or ip is in one of
 * its ranges. A store error counts as "no" (fail closed) with *e set.
 */
bool kura_settings_ip_allowed(struct kura_tenant_db *db, const char *ip, enum kura_err *e);

/*
 * Whether list (a stored allow-list setting, "" = none) admits ip; a list
 * that does not parse admits nobody.
 */
bool kura_settings_allowlist_admits(const char *list, const char *ip);

/*
 * The lock-out guard of a change from before to after, made by a caller at
 * ip (a session when api_key is false, else an API key): the name of the
 * list the change sets so that it leaves ip out (ipAllowlist for a session,
 * apiKeyIpAllowlist for a key), or NULL when the caller keeps access. A list
 * the change leaves as it was is not the change's doing and gives NULL.
 */
const char *kura_settings_lockout(const struct kura_security_settings *before,
				  const struct kura_security_settings *after, bool api_key,
				  const char *ip);

/* Stores every setting of s (inside the caller's transaction). */
enum kura_err kura_settings_save(struct kura_tenant_db *db, const struct kura_security_settings *s,
				 int64_t now);

#endif
