/*
 * The tenant's security health check (GET /api/v1/security/health,
 * permission "settings.security"): a score from 0 to 100 and a list of
 * findings, each with a stable id, a severity, and what to do about it.
 * Computed on each request from the tenant's own data only (its settings,
 * users, sessions, audit log and API keys, all through the caller's tenant
 * handle), so another tenant can never influence it. Read-only: nothing is
 * written and nothing is audited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/settings.h"

#define DAY_US (86400LL * 1000000)
#define STALE_US (90 * DAY_US)
#define MAX_SUPER_ADMINS 3
/* A tenant with more users than this is checked on the first ones only. */
#define MAX_USERS 100000

enum sev { SEV_HIGH, SEV_MEDIUM, SEV_LOW };

static const char *const sev_name[] = {"high", "medium", "low"};
static const int sev_weight[] = {25, 10, 5};

/* What the check needs of a user (the hash never leaves the store callback). */
struct user_row {
	int64_t id;
	bool super;
	bool admin;      /* admin or super admin */
	bool mfa;        /* signs in with a second factor */
	bool active;
	int64_t since;   /* the newest of password_changed_at and created_at */
};

struct users_ctx {
	struct user_row *rows;
	size_t n, cap;
	bool nomem;
};

struct keys_ctx {
	int64_t now;
	unsigned live, no_expiry, unused;
	unsigned open;    /* live keys without address ranges of their own */
};

struct report {
	json_t *findings;
	int score;
};

static void
add_finding(struct report *rep, const char *id, enum sev sev, const char *title,
	    const char *detail, const char *action)
{
	json_array_append_new(rep->findings,
			      json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "severity",
					sev_name[sev], "title", title, "detail", detail, "action",
					action));
	rep->score -= sev_weight[sev];
}

static void
collect_user(void *ctx, const struct kura_user *u)
{
	struct users_ctx *c = ctx;
	struct user_row *row;

	if (c->nomem || c->n >= MAX_USERS)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap == 0 ? 64 : c->cap * 2;
		struct user_row *p = realloc(c->rows, cap * sizeof(*p));

		if (p == NULL) {
			c->nomem = true;
			return;
		}
		c->rows = p;
		c->cap = cap;
	}
	row = &c->rows[c->n++];
	row->id = u->id;
	row->super = strcmp(u->role, "super_admin") == 0;
	row->admin = row->super || strcmp(u->role, "admin") == 0;
	row->mfa = u->mfa_enabled;
	row->active = u->status == KURA_USER_ACTIVE;
	row->since = u->password_changed_at > u->created_at ? u->password_changed_at
							    : u->created_at;
}

static void
newest_session(void *ctx, const struct kura_session *s)
{
	int64_t *newest = ctx;
	int64_t t = s->last_seen_at > s->created_at ? s->last_seen_at : s->created_at;

	if (t > *newest)
		*newest = t;
}

static bool
newest_login(void *ctx, const struct kura_audit_entry *e)
{
	int64_t *newest = ctx;

	if (e->ts_us > *newest)
		*newest = e->ts_us;
	return false; /* newest first: the first one is the answer */
}

/*
 * The user's last sign-in as far as the tenant's data tells: Kura keeps no
 * "last sign-in" column, so this is the newest of the user's successful
 * "auth.login" audit entries, the user's sessions (still stored), and, with
 * neither, the last password change or the account's creation.
 */
static enum kura_err
last_activity(struct kura_tenant_db *db, const struct user_row *u, int64_t *out)
{
	struct kura_audit_filter f;
	int64_t t = u->since;
	enum kura_err e;

	kura_audit_filter_init(&f);
	snprintf(f.action, sizeof(f.action), "auth.login");
	f.actor_id = u->id;
	f.outcome = KURA_AUDIT_SUCCESS;
	f.limit = 1;
	e = kura_audit_query(db, &f, newest_login, &t);
	if (e == KURA_OK)
		e = kura_store_session_list_user(db, u->id, newest_session, &t);
	*out = e == KURA_OK ? t : 0;
	return e;
}

static void
count_key(void *ctx, const struct kura_apikey *k)
{
	struct keys_ctx *c = ctx;
	int64_t used = k->last_used_at != 0 ? k->last_used_at : k->created_at;

	/* Revoked and expired keys open nothing. */
	if (k->revoked_at != 0 || (k->expires_at != 0 && k->expires_at <= c->now))
		return;
	c->live++;
	if (k->cidrs[0] == '\0')
		c->open++;
	if (k->expires_at == 0)
		c->no_expiry++;
	if (used < c->now - STALE_US)
		c->unused++;
}

static void
check_settings(struct report *rep, const struct kura_security_settings *s)
{
	char detail[256];

	if (s->lockout_threshold == 0)
		add_finding(rep, "lockout_off", SEV_HIGH, "Account lockout is off",
			    "Failed sign-ins never lock an account (lockoutThreshold is 0), so "
			    "passwords can be guessed without limit.",
			    "Set lockoutThreshold to 5 in the security settings.");
	if (s->password_min_length < 12) {
		snprintf(detail, sizeof(detail),
			 "Passwords may be as short as %u characters (passwordMinLength).",
			 s->password_min_length);
		add_finding(rep, "weak_password_policy", SEV_MEDIUM,
			    "The password policy allows short passwords", detail,
			    "Set passwordMinLength to 12 or more in the security settings.");
	}
}

static void
check_super_admins(struct report *rep, unsigned n)
{
	char detail[256];

	if (n > MAX_SUPER_ADMINS) {
		snprintf(detail, sizeof(detail),
			 "%u active users are super admins; each can change every setting and "
			 "every user of the tenant.",
			 n);
		add_finding(rep, "too_many_super_admins", SEV_MEDIUM, "Too many super admins",
			    detail,
			    "Keep two or three super admins; give the others the admin role.");
	} else if (n == 1) {
		add_finding(rep, "single_super_admin", SEV_LOW, "Only one super admin",
			    "Exactly one active user is a super admin: if that account is lost, "
			    "no one in the tenant can manage super admins or security settings.",
			    "Make a second trusted user a super admin, for recovery.");
	}
}

static enum kura_err
check_inactive(struct report *rep, struct kura_tenant_db *db, const struct users_ctx *users,
	       int64_t now)
{
	char detail[512];
	unsigned n = 0;

	for (size_t i = 0; i < users->n; i++) {
		int64_t t = 0;
		enum kura_err e;

		if (!users->rows[i].active)
			continue;
		e = last_activity(db, &users->rows[i], &t);
		if (e != KURA_OK)
			return e;
		if (t < now - STALE_US)
			n++;
	}
	if (n == 0)
		return KURA_OK;
	snprintf(detail, sizeof(detail),
		 "%u active user%s did not sign in for 90 days. Kura stores no last sign-in "
		 "time: this uses the newest of the user's successful sign-ins in the audit log "
		 "and the user's stored sessions, and for a user with neither, the last password "
		 "change or the account's creation.",
		 n, n == 1 ? "" : "s");
	add_finding(rep, "inactive_users", SEV_MEDIUM, "Inactive users", detail,
		    "Disable or delete the accounts that are no longer needed.");
	return KURA_OK;
}

static void
check_keys(struct report *rep, const struct keys_ctx *k)
{
	char detail[256];

	if (k->no_expiry > 0) {
		snprintf(detail, sizeof(detail), "%u live API key%s never expire%s.", k->no_expiry,
			 k->no_expiry == 1 ? "" : "s", k->no_expiry == 1 ? "s" : "");
		add_finding(rep, "api_keys_without_expiry", SEV_MEDIUM, "API keys without expiry",
			    detail,
			    "Replace them with keys that have an expiresAt, then revoke them.");
	}
	if (k->unused > 0) {
		snprintf(detail, sizeof(detail),
			 "%u live API key%s not used for 90 days (or never used since created "
			 "90 days ago).",
			 k->unused, k->unused == 1 ? " was" : "s were");
		add_finding(rep, "api_keys_unused_90_days", SEV_LOW, "Unused API keys", detail,
			    "Revoke the keys that are no longer needed.");
	}
}

static void
check_access(struct report *rep, const struct kura_security_settings *set,
	     const struct users_ctx *users)
{
	unsigned admins = 0, admins_mfa = 0, active = 0, with_mfa = 0;
	char detail[320];

	for (size_t i = 0; i < users->n; i++) {
		if (!users->rows[i].active)
			continue;
		active++;
		with_mfa += users->rows[i].mfa;
		admins += users->rows[i].admin;
		admins_mfa += users->rows[i].admin && users->rows[i].mfa;
	}
	if (!set->mfa_required) {
		snprintf(detail, sizeof(detail),
			 "Users may sign in with a password alone. %u of %u active administrators "
			 "and %u of %u active users have turned on two-step sign-in.", admins_mfa,
			 admins, with_mfa, active);
		add_finding(rep, "mfa_not_required", SEV_HIGH, "Multi-factor sign-in is not required",
			    detail,
			    "Ask every user to set up two-step sign-in (an authenticator app), then "
			    "turn on mfaRequired in the security settings.");
	}
}

/*
 * No allow-list where one would restrict something: sign-in and sessions
 * without ipAllowlist, or live API keys without ranges of their own while
 * apiKeyIpAllowlist is empty (a tenant without such keys has nothing there
 * to restrict). One finding, whose detail says which.
 */
static void
check_allowlists(struct report *rep, const struct kura_security_settings *set,
		 const struct keys_ctx *k)
{
	bool users_open = set->ip_allowlist[0] == '\0';
	bool keys_open = set->apikey_ip_allowlist[0] == '\0' && k->open > 0;
	char detail[256];

	if (!users_open && !keys_open)
		return;
	if (users_open && keys_open)
		snprintf(detail, sizeof(detail),
			 "Users can sign in, and %u API key%s can be used, from any address.",
			 k->open, k->open == 1 ? "" : "s");
	else if (users_open)
		snprintf(detail, sizeof(detail), "Users can sign in from any address.");
	else
		snprintf(detail, sizeof(detail), "%u API key%s can be used from any address.",
			 k->open, k->open == 1 ? "" : "s");
	add_finding(rep, "no_ip_allowlist", SEV_LOW, "No IP allow-list", detail,
		    "Where your users work from known networks, list them in the security "
		    "settings (ipAllowlist); list where API keys are used from "
		    "(apiKeyIpAllowlist), or give each key address ranges (cidrs).");
}

void
kura_api_security_health(struct kura_req *r)
{
	struct kura_tenant_db *db = r->principal.db;
	struct kura_security_settings set;
	struct users_ctx users;
	struct keys_ctx keys;
	struct report rep;
	unsigned supers = 0;
	int64_t now = kura_now_us();
	enum kura_err e;

	memset(&users, 0, sizeof(users));
	memset(&keys, 0, sizeof(keys));
	keys.now = now;
	rep.findings = json_array();
	rep.score = 100;
	if (rep.findings == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	e = kura_settings_load(db, &set);
	if (e != KURA_OK)
		goto out;
	e = kura_store_user_list(db, collect_user, &users);
	if (e == KURA_OK && users.nomem)
		e = KURA_E_NOMEM;
	if (e != KURA_OK)
		goto out;
	/* user_id 0: every key of the tenant, whoever made it. */
	e = kura_store_apikey_list(db, 0, count_key, &keys);
	if (e != KURA_OK)
		goto out;
	for (size_t i = 0; i < users.n; i++)
		supers += users.rows[i].super && users.rows[i].active;

	check_access(&rep, &set, &users);
	check_settings(&rep, &set);
	check_super_admins(&rep, supers);
	e = check_inactive(&rep, db, &users, now);
	if (e != KURA_OK)
		goto out;
	check_keys(&rep, &keys);
	check_allowlists(&rep, &set, &keys);
out:
	free(users.rows);
	if (e != KURA_OK) {
		json_decref(rep.findings);
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 200, json_pack("{s:i, s:o}", "score", rep.score < 0 ? 0 : rep.score,
					  "findings", rep.findings));
}
