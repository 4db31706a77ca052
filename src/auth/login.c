/*
 * The sign-in flows: login, logout, change of password, and the password
 * policy. Login and password change hash with Argon2id and so run on the
 * hash pool, never on an HTTP thread.
 *
 * Login is uniform on purpose: an unknown tenant or e-mail is checked
 * against a dummy hash of the same cost, so the answer and its timing do
 * not tell which part was wrong.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "kura/audit.h"
#include "kura/auth.h"
#include "kura/clock.h"
#include "kura/crypto.h"
#include "kura/log.h"
#include "kura/monitor.h"
#include "kura/password.h"
#include "kura/server.h"
#include "kura/settings.h"
#include "kura/store.h"
#include "kura/store_mfa.h"
#include "kura/mfa.h"


/* Copies src into dst (size n), cut to fit: fields are bounded, inputs may not be. */
static void
copy_str(char *dst, size_t n, const char *src)
{
	size_t len = src != NULL ? strnlen(src, n - 1) : 0;

	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

struct live_ctx {
	int64_t now;
	int64_t default_idle_us;
	unsigned live;
};

static void
count_live(void *ctx, const struct kura_session *s)
{
	struct live_ctx *c = ctx;
	int64_t idle = s->idle_timeout_s > 0 ? s->idle_timeout_s * 1000000 : c->default_idle_us;

	if (c->now < s->expires_at && c->now - s->last_seen_at < idle)
		c->live++;
}

/* KURA_E_CONFLICT when the user has a session that has not ended by time. */
static enum kura_err
refuse_if_live(struct kura_server *srv, struct kura_tenant_db *db, int64_t user_id, int64_t now)
{
	struct live_ctx c = {now, (int64_t)srv->cfg.session_idle_timeout_s * 1000000, 0};
	enum kura_err e = kura_store_session_list_user(db, user_id, count_live, &c);

	if (e == KURA_OK && c.live > 0)
		e = KURA_E_CONFLICT;
	return e;
}

/*
 * The second factor of a sign-in, spent in the transaction that opens the
 * session: the TOTP step marked used (only if still newer than the last, so
 * two requests with one code cannot both pass) or the recovery code marked
 * used, and the challenge deleted.
 */
struct second_factor {
	const char *kind;            /* "totp" or "recovery" */
	int64_t user_id;
	int64_t step;                /* totp */
	uint8_t recovery_hash[32];   /* recovery */
	uint8_t challenge[32];
};

static enum kura_err
spend_second_factor(struct kura_tenant_db *db, const struct second_factor *sf)
{
	void *conn;
	const struct kura_mfa_ops *ops = kura_store_mfa(db, &conn);
	enum kura_err e;

	if (strcmp(sf->kind, "totp") == 0) {
		e = ops->totp_use_step(conn, sf->user_id, sf->step);
		if (e == KURA_E_CONFLICT)
			e = KURA_E_MFA_CODE_REPLAYED;
	} else {
		e = ops->recovery_use(conn, sf->user_id, sf->recovery_hash, kura_now_us());
		if (e == KURA_E_NOT_FOUND)
			e = KURA_E_MFA_CODE_INVALID;
	}
	if (e == KURA_OK)
		e = ops->challenge_delete(conn, sf->challenge);
	/* The run of failed attempts ends with a complete sign-in. */
	if (e == KURA_OK)
		e = kura_store_lockout_put(db, sf->user_id, 0, 0);
	return e;
}

static enum kura_err
open_session(struct kura_req *r, struct kura_tenant_db *db, const struct kura_user *u,
	     const struct kura_security_settings *set, enum kura_session_mfa mfa,
	     const struct second_factor *sf, const uint8_t *client_cert,
	     struct kura_login_result *out)
{
	struct kura_server *srv = r->srv;
	struct kura_session s;
	uint8_t secret[32];
	char tok[KURA_TOKEN_CHARS];
	int64_t now = kura_now_us();
	enum kura_err e;

	memset(&s, 0, sizeof(s));
	kura_random_token(tok, secret, sizeof(secret));
	kura_sha256(secret, sizeof(secret), s.id_hash);
	s.user_id = u->id;
	s.created_at = now;
	s.last_seen_at = now;
	/* The tenant's timeouts, when it set them, are fixed into the session here. */
	s.expires_at = now + (set->session_absolute_minutes > 0
				      ? (int64_t)set->session_absolute_minutes * 60
				      : (int64_t)srv->cfg.session_absolute_timeout_s) * 1000000;
	s.idle_timeout_s = (int64_t)set->session_idle_minutes * 60;
	copy_str(s.ip, sizeof(s.ip), r->ip);
	copy_str(s.user_agent, sizeof(s.user_agent), r->user_agent);
	s.mfa = mfa;
	if (client_cert != NULL) {
		memcpy(s.client_cert, client_cert, sizeof(s.client_cert));
		s.client_cert_bound = true;
	}
	/* The session exists only if its "auth.login" record does. */
	e = kura_store_begin(db);
	if (e != KURA_OK)
		goto out;
	if (sf != NULL)
		e = spend_second_factor(db, sf);
	if (e != KURA_OK) {
		kura_store_rollback(db);
		goto out;
	}
	/* Inside the transaction, so two sign-ins at once cannot both pass "refuse". */
	if (set->concurrent_sessions == KURA_SESSIONS_REFUSE)
		e = refuse_if_live(srv, db, u->id, now);
	else if (set->concurrent_sessions == KURA_SESSIONS_END_OLDER)
		e = kura_store_session_delete_user(db, u->id, NULL);
	if (e == KURA_OK)
		e = kura_store_session_create(db, &s);
	if (e == KURA_OK) {
		char sid[17];

		struct kura_audit_entry a;

		kura_session_short_id(s.id_hash, sid);
		kura_req_audit_init(r, &a, "auth.login", "session", sid);
		/* How the second factor stood: "mfa:totp", "mfa:recovery", "mfa:enrol". */
		if (sf != NULL || mfa == KURA_SESSION_MFA_ENROL)
			snprintf(a.target_props, sizeof(a.target_props), "mfa:%s",
				 sf != NULL ? sf->kind : "enrol");
		kura_audit_set_outcome(&a, KURA_OK);
		e = kura_audit_append(db, &a);
	}
	if (e == KURA_OK)
		e = kura_store_commit(db);
	else
		kura_store_rollback(db);
	if (e != KURA_OK)
		goto out;
	snprintf(out->cookie, sizeof(out->cookie), "%s.%s", kura_store_tenant_id(db), tok);
	kura_csrf_token(srv->keys, secret, sizeof(secret), out->csrf_token);
	out->expires_at = s.expires_at;
	/* Keep the table small: ended sessions of this tenant go at each login. */
	kura_store_session_purge_expired(db, now,
					 now - (int64_t)srv->cfg.session_idle_timeout_s * 1000000);
out:
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(tok, sizeof(tok));
	return e;
}

/* A refused login on an existing tenant: recorded there, with what was typed as the actor. */
static void
audit_refusal(struct kura_req *r, struct kura_tenant_db *db, const struct kura_user *u,
	      const char *email, enum kura_err why)
{
	struct kura_audit_entry a;

	kura_req_audit_init(r, &a, "auth.login", "session", NULL);
	if (u != NULL && u->id != 0) {
		a.actor_type = KURA_ACTOR_USER;
		a.actor_id = u->id;
		copy_str(a.actor_role, sizeof(a.actor_role), u->role);
	} else {
		a.actor_type = KURA_ACTOR_ANONYMOUS;
	}
	copy_str(a.actor_email, sizeof(a.actor_email), email);
	kura_audit_set_outcome(&a, why);
	if (kura_audit_append(db, &a) != KURA_OK)
		kura_log(KURA_LOG_ERROR, "audit_append_failed", "rid=%s action=auth.login", r->rid);
}

/*
 * One more consecutive failure for an existing account; at the tenant's
 * threshold the account locks for lockout_minutes, recorded in the audit
 * log ("auth.lockout", by the system) in the same transaction; with
 * end_sessions, every session of the user ends with it. True when this
 * failure locked the account.
 */
static bool
count_failure(struct kura_req *r, struct kura_tenant_db *db, const struct kura_user *u,
	      const struct kura_security_settings *set, int64_t now, bool end_sessions)
{
	int64_t failed = 0, locked_until = 0, until = 0;
	enum kura_err e;

	/*
	 * The count is read again inside the write transaction (BEGIN IMMEDIATE
	 * holds the write lock), not taken from the request's earlier read:
	 * parallel failures must each add one, and one that finds the account
	 * locked meanwhile must not undo the lock.
	 */
	e = kura_store_begin(db);
	if (e == KURA_OK)
		e = kura_store_lockout_get(db, u->id, &failed, &locked_until);
	/* Already locked: nothing to add (the lock's entry was written then). */
	if (e == KURA_OK && locked_until <= now) {
		failed++;
		if (set->lockout_threshold > 0 && failed >= set->lockout_threshold)
			until = now + (int64_t)set->lockout_minutes * 60 * 1000000;
		e = kura_store_lockout_put(db, u->id, until > 0 ? 0 : failed, until);
	}
	if (e == KURA_OK && until > 0 && end_sessions)
		e = kura_store_session_delete_user(db, u->id, NULL);
	if (e == KURA_OK && until > 0) {
		struct kura_audit_entry a;
		char uid[24];

		snprintf(uid, sizeof(uid), "%lld", (long long)u->id);
		kura_req_audit_init(r, &a, "auth.lockout", "user", uid);
		a.actor_type = KURA_ACTOR_SYSTEM;
		a.actor_id = 0;
		a.actor_email[0] = '\0';
		a.actor_role[0] = '\0';
		kura_audit_set_outcome(&a, KURA_OK);
		e = kura_audit_append(db, &a);
	}
	if (e == KURA_OK)
		e = kura_store_commit(db);
	else
		kura_store_rollback(db);
	if (e != KURA_OK)
		kura_log(KURA_LOG_ERROR, "lockout_update_failed", "rid=%s err=%s", r->rid,
			 kura_err_name(e));
	else if (until > 0)
		kura_log(KURA_LOG_WARN, "account_locked", "rid=%s tenant=%s user=%lld ip=%s", r->rid,
			 kura_store_tenant_id(db), (long long)u->id, r->ip);
	return e == KURA_OK && until > 0;
}

enum kura_err
kura_auth_reauthenticate(struct kura_req *r, const struct kura_user *fresh, const char *pw,
			 size_t len)
{
	struct kura_tenant_db *db = r->principal.db;
	struct kura_security_settings set;
	int64_t failed = 0, locked_until = 0, now = kura_now_us();
	enum kura_err e;

	if (kura_store_lockout_get(db, fresh->id, &failed, &locked_until) != KURA_OK ||
	    kura_settings_load(db, &set) != KURA_OK)
		return KURA_E_UNAVAILABLE;
	/* Locked: no verdict on any password until the lock ends. */
	if (locked_until > now)
		return KURA_E_ACCOUNT_LOCKED;
	if (kura_password_verify(fresh->password_hash, pw, len) != KURA_OK)
		return count_failure(r, db, fresh, &set, now, true) ? KURA_E_ACCOUNT_LOCKED
								     : KURA_E_INVALID_CREDENTIALS;
	if (failed == 0)
		return KURA_OK;
	/* A success ends the run of failures, unless a parallel one has locked meanwhile. */
	e = kura_store_begin(db);
	if (e == KURA_OK)
		e = kura_store_lockout_get(db, fresh->id, &failed, &locked_until);
	if (e == KURA_OK && locked_until <= now && failed > 0)
		e = kura_store_lockout_put(db, fresh->id, 0, 0);
	if (e == KURA_OK)
		e = kura_store_commit(db);
	else if (kura_store_in_transaction(db))
		kura_store_rollback(db);
	if (e != KURA_OK)
		return KURA_E_UNAVAILABLE;
	return locked_until > now ? KURA_E_ACCOUNT_LOCKED : KURA_OK;
}

/*
 * Monitoring (kura/monitor.h), kept apart from the flow above: the attempt
 * is counted by outcome, and a failure with bad credentials also counts
 * against the client's address. The failure that takes an address past
 * login_fail_ip_limit blocks it (the HTTP layer then refuses all its
 * requests): an operator alert, and an entry in this tenant's audit log,
 * by the system, when the tenant exists.
 */
static void
monitor_login(struct kura_req *r, struct kura_tenant_db *db, enum kura_err e)
{
	struct kura_server *srv = r->srv;
	enum kura_login_outcome o = KURA_LOGIN_ERROR;
	char ipname[KURA_AUDIT_TARGET_ID_MAX + 1], detail[200];
	int64_t until = 0;

	if (e == KURA_OK) {
		o = KURA_LOGIN_SUCCESS;
		kura_metrics_sessions_created(1);
	} else if (e == KURA_E_INVALID_CREDENTIALS) {
		o = KURA_LOGIN_INVALID_CREDENTIALS;
	} else if (e == KURA_E_TENANT_SUSPENDED) {
		o = KURA_LOGIN_TENANT_SUSPENDED;
	}
	kura_metrics_login(o);
	if (e != KURA_E_INVALID_CREDENTIALS ||
	    !kura_ipblock_fail(srv->ipblock, r->ip, kura_now_us(), &until))
		return;
	kura_metrics_ip_block();
	kura_ipblock_key_name(r->ip, ipname, sizeof(ipname));
	if (db != NULL) {
		struct kura_audit_entry a;

		kura_req_audit_init(r, &a, "security.ip_blocked", "ip", ipname);
		a.actor_type = KURA_ACTOR_SYSTEM;
		a.actor_id = 0;
		a.actor_email[0] = '\0';
		a.actor_role[0] = '\0';
		kura_audit_set_outcome(&a, KURA_OK);
		if (kura_audit_append(db, &a) != KURA_OK)
			kura_log(KURA_LOG_ERROR, "audit_append_failed", "rid=%s action=%s", r->rid,
				 a.action);
	}
	snprintf(detail, sizeof(detail),
		 "more than %u failed sign-ins within a minute; every request from this address "
		 "is refused for %u minutes", srv->cfg.login_fail_ip_limit,
		 srv->cfg.login_block_minutes);
	kura_alert_raise(srv->alerts, KURA_ALERT_IP_BLOCKED,
			 db != NULL ? kura_store_tenant_id(db) : NULL, ipname, until, detail);
}

/*
 * What a caller with the right credentials may still be refused for, told
 * only to them (like a suspended tenant) and audited by the caller: a
 * suspended tenant, an address outside the tenant's allow-list, no client
 * certificate from its authorities when it requires one (its leaf's SHA-256
 * then goes to cert, for the session).
 */
static enum kura_err
admit(struct kura_req *r, struct kura_tenant_db *db, const struct kura_tenant *t,
      const struct kura_security_settings *set, uint8_t cert[32])
{
	enum kura_err e = KURA_OK;

	if (t->status != KURA_TENANT_ACTIVE)
		return KURA_E_TENANT_SUSPENDED;
	if (set->ip_allowlist[0] != '\0' && !kura_settings_ip_allowed(db, r->ip, &e))
		return e != KURA_OK ? e : KURA_E_IP_NOT_ALLOWED;
	if (set->client_cert_required)
		return kura_auth_client_cert(r, set, cert);
	return KURA_OK;
}

/*
 * Password right, code owed: a challenge for KURA_MFA_CHALLENGE_US, found
 * by SHA-256 of the token's secret, recorded as "auth.mfa_challenge".
 */
static enum kura_err
begin_challenge(struct kura_req *r, struct kura_tenant_db *db, const struct kura_user *u,
		const char *tenant_id, struct kura_login_result *out)
{
	void *conn;
	const struct kura_mfa_ops *ops = kura_store_mfa(db, &conn);
	struct kura_mfa_challenge c;
	uint8_t secret[32];
	char tok[KURA_TOKEN_CHARS], uid[24];
	int64_t now = kura_now_us();
	enum kura_err e;

	memset(&c, 0, sizeof(c));
	kura_random_token(tok, secret, sizeof(secret));
	kura_sha256(secret, sizeof(secret), c.id_hash);
	c.user_id = u->id;
	c.created_at = now;
	c.expires_at = now + KURA_MFA_CHALLENGE_US;
	snprintf(uid, sizeof(uid), "%lld", (long long)u->id);
	e = kura_store_begin(db);
	if (e == KURA_OK)
		e = ops->challenge_purge(conn, now);
	if (e == KURA_OK)
		e = ops->challenge_put(conn, &c);
	if (e == KURA_OK)
		e = kura_req_audit(r, db, "auth.mfa_challenge", "user", uid, KURA_OK);
	e = kura_store_finish(db, e);
	if (e == KURA_OK) {
		snprintf(out->mfa_token, sizeof(out->mfa_token), "%s.%s", tenant_id, tok);
		out->mfa_pending = true;
		out->mfa_expires_at = c.expires_at;
	}
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(tok, sizeof(tok));
	return e;
}

enum kura_err
kura_auth_login(struct kura_req *r, const char *tenant_id, const char *email,
		const char *password, size_t pwlen, struct kura_login_result *out)
{
	struct kura_server *srv = r->srv;
	struct kura_tenant_db *db = NULL;
	struct kura_tenant t;
	struct kura_user u;
	struct kura_security_settings set;
	bool have_user = false, locked = false, mfa_pending = false;
	uint8_t cert[32] = {0};
	int64_t failed = 0, locked_until = 0, now = kura_now_us();
	enum kura_err e = KURA_E_INVALID_CREDENTIALS;
	enum kura_err ve;

	kura_settings_defaults(&set);
	memset(out, 0, sizeof(*out));
	memset(&u, 0, sizeof(u));
	memset(&t, 0, sizeof(t));
	if (kura_tenant_id_valid(tenant_id) &&
	    kura_store_tenant_get(srv->store, tenant_id, &t) == KURA_OK &&
	    kura_store_tenant_acquire(srv->store, tenant_id, &db) == KURA_OK &&
	    kura_store_user_get_by_email(db, email, &u) == KURA_OK)
		have_user = true;
	if (have_user && (kura_settings_load(db, &set) != KURA_OK ||
			  kura_store_lockout_get(db, u.id, &failed, &locked_until) != KURA_OK)) {
		e = KURA_E_UNAVAILABLE;
		goto out;
	}
	/*
	 * A locked account is checked against the dummy hash: the same work and
	 * the same answer as a wrong password, so the lock neither tells that
	 * the account exists nor lets guessing go on behind it.
	 */
	locked = have_user && locked_until > now;
	ve = kura_password_verify(have_user && !locked ? u.password_hash : srv->dummy_hash, password,
				  pwlen);
	if (!have_user || locked || ve != KURA_OK || u.status != KURA_USER_ACTIVE)
		goto out;
	e = admit(r, db, &t, &set, cert);
	if (e != KURA_OK)
		goto out;
	if (kura_password_needs_rehash(&srv->pw, u.password_hash)) {
		char h[KURA_PASSWORD_HASH_MAX];

		if (kura_password_hash(&srv->pw, password, pwlen, h) == KURA_OK &&
		    kura_store_user_set_password(db, u.id, h, u.must_change_password,
						 kura_now_us()) == KURA_OK)
			kura_log(KURA_LOG_INFO, "password_rehashed", "tenant=%s user=%lld", tenant_id,
				 (long long)u.id);
		sodium_memzero(h, sizeof(h));
	}
	/* An expired password allows only the change of password. */
	if (set.password_expiry_days > 0 &&
	    now - u.password_changed_at > (int64_t)set.password_expiry_days * 86400 * 1000000 &&
	    !u.must_change_password) {
		u.must_change_password = true;
		if (kura_store_user_set_password(db, u.id, u.password_hash, true, now) != KURA_OK) {
			e = KURA_E_UNAVAILABLE;
			goto out;
		}
	}
	/* A success ends the run of failures (with MFA: once the code is right too). */
	if (failed > 0 && !u.mfa_enabled && kura_store_lockout_put(db, u.id, 0, 0) != KURA_OK) {
		e = KURA_E_UNAVAILABLE;
		goto out;
	}
	/* Who is signing in, for the audit entry and the request's log line. */
	copy_str(r->principal.tenant_id, sizeof(r->principal.tenant_id), tenant_id);
	r->principal.tenant = t;
	r->principal.user = u;
	sodium_memzero(r->principal.user.password_hash, sizeof(r->principal.user.password_hash));
	if (u.mfa_enabled) {
		e = begin_challenge(r, db, &u, tenant_id, out);
		mfa_pending = e == KURA_OK;
	} else {
		/* Required but not set up: a session that may only enrol. */
		e = open_session(r, db, &u, &set,
				 set.mfa_required ? KURA_SESSION_MFA_ENROL : KURA_SESSION_MFA_NONE,
				 NULL, set.client_cert_required ? cert : NULL, out);
		out->mfa_enrolment_required = set.mfa_required;
	}
	if (e != KURA_OK)
		goto out;
	out->user = u;
	sodium_memzero(out->user.password_hash, sizeof(out->user.password_hash));
	copy_str(out->tenant_id, sizeof(out->tenant_id), tenant_id);
out:
	if (e == KURA_E_INVALID_CREDENTIALS && have_user && !locked)
		(void)count_failure(r, db, &u, &set, now, false);
	if (e != KURA_OK && db != NULL)
		audit_refusal(r, db, have_user ? &u : NULL, email,
			      locked && e == KURA_E_INVALID_CREDENTIALS ? KURA_E_ACCOUNT_LOCKED : e);
	/* A password accepted with a code still owed counts at the second step. */
	if (!mfa_pending)
		monitor_login(r, db, e);
	sodium_memzero(u.password_hash, sizeof(u.password_hash));
	kura_store_tenant_release(db);
	if (e != KURA_OK) {
		char tq[80];

		memset(out, 0, sizeof(*out));
		kura_log(KURA_LOG_INFO, "login_failed", "rid=%s tenant=%s ip=%s reason=%s", r->rid,
			 kura_log_quote(tq, sizeof(tq), tenant_id), r->ip, kura_err_code(e));
	}
	return e;
}

/*
 * Checks the code of a second step against the user's authenticator or
 * recovery codes, filling sf to be spent with the session. Nothing is
 * written here.
 */
static enum kura_err
check_second_factor(struct kura_req *r, struct kura_tenant_db *db, const char *tenant_id,
		    const struct kura_user *u, const char *code, const char *recovery,
		    struct second_factor *sf)
{
	void *conn;
	const struct kura_mfa_ops *ops = kura_store_mfa(db, &conn);
	struct kura_mfa_totp t;
	uint8_t *secret = NULL;
	size_t slen = 0;
	enum kura_err e;

	sf->user_id = u->id;
	if (recovery != NULL) {
		sf->kind = "recovery";
		return kura_recovery_code_hash(recovery, sf->recovery_hash) ? KURA_OK
									     : KURA_E_MFA_CODE_INVALID;
	}
	sf->kind = "totp";
	e = ops->totp_get(conn, u->id, &t);
	if (e == KURA_OK && t.confirmed_at == 0)
		e = KURA_E_MFA_CHALLENGE_INVALID;
	if (e == KURA_OK)
		e = kura_mfa_secret_open(r, tenant_id, u->id, t.secret, t.secret_len, &secret, &slen);
	if (e == KURA_OK) {
		switch (kura_totp_check(secret, slen, kura_now_us() / 1000000, t.last_step, code,
					&sf->step)) {
		case KURA_TOTP_OK:
			break;
		case KURA_TOTP_REPLAYED:
			e = KURA_E_MFA_CODE_REPLAYED;
			break;
		default:
			e = KURA_E_MFA_CODE_INVALID;
		}
	}
	if (secret != NULL) {
		sodium_memzero(secret, slen);
		free(secret);
	}
	sodium_memzero(&t, sizeof(t));
	return e;
}

/* A wrong code: its try was taken already; the challenge ends with its last try. */
static void
challenge_failed(struct kura_tenant_db *db, const uint8_t id_hash[32], int64_t tries)
{
	void *conn;
	const struct kura_mfa_ops *ops = kura_store_mfa(db, &conn);

	if (tries >= KURA_MFA_CHALLENGE_TRIES)
		ops->challenge_delete(conn, id_hash);
}

enum kura_err
kura_auth_login_mfa(struct kura_req *r, const char *token, const char *code,
		    const char *recovery_code, struct kura_login_result *out)
{
	struct kura_server *srv = r->srv;
	struct kura_tenant_db *db = NULL;
	struct kura_tenant t;
	struct kura_user u;
	struct kura_security_settings set;
	struct kura_mfa_challenge c;
	struct second_factor sf;
	char tenant_id[KURA_TENANT_ID_MAX + 1] = "";
	uint8_t secret[32], id_hash[32], cert[32] = {0};
	bool have_user = false, have_challenge = false;
	int64_t failed = 0, locked_until = 0, tries = 0, now = kura_now_us();
	void *conn = NULL;
	const struct kura_mfa_ops *ops = NULL;
	enum kura_err e = KURA_E_MFA_CHALLENGE_INVALID;

	kura_settings_defaults(&set);
	memset(out, 0, sizeof(*out));
	memset(&u, 0, sizeof(u));
	memset(&t, 0, sizeof(t));
	memset(&c, 0, sizeof(c));
	memset(&sf, 0, sizeof(sf));
	if (!kura_tenant_token_parse(token, tenant_id, secret) ||
	    kura_store_tenant_get(srv->store, tenant_id, &t) != KURA_OK ||
	    kura_store_tenant_acquire(srv->store, tenant_id, &db) != KURA_OK)
		goto out;
	ops = kura_store_mfa(db, &conn);
	kura_sha256(secret, sizeof(secret), id_hash);
	if (ops->challenge_get(conn, id_hash, &c) != KURA_OK)
		goto out;
	have_challenge = true;
	if (c.expires_at <= now || c.failures >= KURA_MFA_CHALLENGE_TRIES ||
	    kura_store_user_get(db, c.user_id, &u) != KURA_OK || u.status != KURA_USER_ACTIVE ||
	    !u.mfa_enabled)
		goto out;
	have_user = true;
	if (kura_settings_load(db, &set) != KURA_OK ||
	    kura_store_lockout_get(db, u.id, &failed, &locked_until) != KURA_OK) {
		e = KURA_E_UNAVAILABLE;
		goto out;
	}
	/* Locked meanwhile (by wrong codes or passwords): this sign-in is over. */
	if (locked_until > now) {
		e = KURA_E_MFA_CHALLENGE_INVALID;
		goto out;
	}
	/* The second step may come over another connection: its address and certificate count. */
	e = admit(r, db, &t, &set, cert);
	if (e != KURA_OK)
		goto out;
	copy_str(r->principal.tenant_id, sizeof(r->principal.tenant_id), tenant_id);
	r->principal.tenant = t;
	r->principal.user = u;
	sodium_memzero(r->principal.user.password_hash, sizeof(r->principal.user.password_hash));
	memcpy(sf.challenge, c.id_hash, sizeof(sf.challenge));
	/*
	 * The try is taken before the code is checked, in one statement: of
	 * parallel requests on one challenge only KURA_MFA_CHALLENGE_TRIES get
	 * a guess; the others find it used up, like a challenge already ended.
	 */
	e = ops->challenge_take(conn, c.id_hash, KURA_MFA_CHALLENGE_TRIES, now, &tries);
	if (e == KURA_E_NOT_FOUND)
		e = KURA_E_MFA_CHALLENGE_INVALID;
	if (e != KURA_OK)
		goto out;
	e = check_second_factor(r, db, tenant_id, &u, code, recovery_code, &sf);
	if (e == KURA_OK)
		e = open_session(r, db, &u, &set, KURA_SESSION_MFA_DONE, &sf,
				 set.client_cert_required ? cert : NULL, out);
	if (e != KURA_OK)
		goto out;
	out->user = u;
	sodium_memzero(out->user.password_hash, sizeof(out->user.password_hash));
	copy_str(out->tenant_id, sizeof(out->tenant_id), tenant_id);
out:
	if ((e == KURA_E_MFA_CODE_INVALID || e == KURA_E_MFA_CODE_REPLAYED) && have_user) {
		challenge_failed(db, c.id_hash, tries);
		(void)count_failure(r, db, &u, &set, now, false);
	} else if (e == KURA_E_MFA_CHALLENGE_INVALID && have_challenge) {
		ops->challenge_delete(conn, c.id_hash);
	}
	if (e != KURA_OK && db != NULL && have_user)
		audit_refusal(r, db, &u, u.email, e);
	/* Wrong codes count against the address like wrong passwords. */
	monitor_login(r, db, e == KURA_E_MFA_CODE_INVALID || e == KURA_E_MFA_CODE_REPLAYED
				     ? KURA_E_INVALID_CREDENTIALS
				     : e);
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(&sf, sizeof(sf));
	sodium_memzero(u.password_hash, sizeof(u.password_hash));
	kura_store_tenant_release(db);
	if (e != KURA_OK) {
		memset(out, 0, sizeof(*out));
		kura_log(KURA_LOG_INFO, "login_failed", "rid=%s tenant=%s ip=%s reason=%s step=mfa",
			 r->rid, tenant_id, r->ip, kura_err_code(e));
	}
	return e;
}

enum kura_err
kura_auth_logout(struct kura_req *r)
{
	struct kura_tenant_db *db = r->principal.db;
	enum kura_err e;

	if (!r->principal.authenticated)
		return KURA_E_UNAUTHENTICATED;
	e = kura_store_begin(db);
	if (e != KURA_OK)
		return e;
	e = kura_store_session_delete(db, r->principal.session_hash);
	if (e == KURA_OK) {
		char sid[17];

		kura_session_short_id(r->principal.session_hash, sid);
		e = kura_req_audit(r, NULL, "auth.logout", "session", sid, KURA_OK);
	}
	if (e == KURA_OK)
		return kura_store_commit(db);
	kura_store_rollback(db);
	return e;
}

static void
add_detail(json_t *details, const char *field, const char *code, const char *message)
{
	if (details == NULL)
		return;
	json_array_append_new(details, json_pack("{s:s, s:s, s:s}", "field", field, "code", code,
						 "message", message));
}

/* Number of Unicode code points in valid UTF-8 (continuation bytes not counted). */
static size_t
utf8_chars(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	}
	return n;
}

static bool
has_class(const char *pw, size_t len, unsigned cls)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)pw[i];

		if ((cls == KURA_PW_CLASS_LOWER && c >= 'a' && c <= 'z') ||
		    (cls == KURA_PW_CLASS_UPPER && c >= 'A' && c <= 'Z') ||
		    (cls == KURA_PW_CLASS_DIGIT && c >= '0' && c <= '9') ||
		    /* any other character, ASCII punctuation or beyond ASCII, is a symbol */
		    (cls == KURA_PW_CLASS_SYMBOL && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		     !(c >= '0' && c <= '9')))
			return true;
	}
	return false;
}

/* s (n bytes) without spaces, ASCII lower-cased, into out (cap); false when it does not fit. */
static bool
squeeze(const char *s, size_t n, char *out, size_t cap)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == ' ' || c == '\t' || c == '.' || c == '-' || c == '_')
			continue;
		if (w + 1 >= cap)
			return false;
		out[w++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[w] = '\0';
	return true;
}

/*
 * Whether the password is the user's display name, whole (ignoring case,
 * spaces and . - _) or one word of it of 3 or more bytes: 3 letters of a
 * Latin name, any Japanese word.
 */
static bool
matches_name(const char *pw, size_t len, const char *name)
{
	char p[KURA_NAME_MAX + 1], whole[KURA_NAME_MAX + 1];
	const char *w = name;

	if (name == NULL || name[0] == '\0' || len > KURA_NAME_MAX ||
	    !squeeze(pw, len, p, sizeof(p)) || p[0] == '\0')
		return false;
	if (squeeze(name, strlen(name), whole, sizeof(whole)) && strlen(whole) >= 3 &&
	    strcmp(p, whole) == 0)
		return true;
	while (*w != '\0') {
		size_t n = strcspn(w, " \t.-_");
		char word[KURA_NAME_MAX + 1];

		if (n >= 3 && squeeze(w, n, word, sizeof(word)) && strcmp(p, word) == 0)
			return true;
		w += n;
		w += strspn(w, " \t.-_");
	}
	return false;
}

enum kura_err
kura_password_policy_check(const char *pw, size_t len, const struct kura_user *u,
			   const struct kura_security_settings *set, json_t *details)
{
	static const struct {
		unsigned cls;
		const char *code, *message;
	} classes[] = {
		{KURA_PW_CLASS_LOWER, "needs_lower", "add a lower-case letter (a-z)"},
		{KURA_PW_CLASS_UPPER, "needs_upper", "add an upper-case letter (A-Z)"},
		{KURA_PW_CLASS_DIGIT, "needs_digit", "add a digit (0-9)"},
		{KURA_PW_CLASS_SYMBOL, "needs_symbol", "add a symbol"},
	};
	struct kura_security_settings defaults;
	enum kura_err e = KURA_OK;
	const char *at;
	char msg[96];

	if (set == NULL) {
		kura_settings_defaults(&defaults);
		set = &defaults;
	}
	/* A passphrase of 128 characters or more is always long enough, whatever the rules. */
	if (utf8_chars(pw, len) < set->password_min_length) {
		snprintf(msg, sizeof(msg), "use at least %u characters; a passphrase of several words "
			 "is best", set->password_min_length);
		add_detail(details, "newPassword", "too_short", msg);
		e = KURA_E_VALIDATION;
	}
	if (len > KURA_PASSWORD_MAX_BYTES) {
		add_detail(details, "newPassword", "too_long", "use at most 1024 bytes");
		e = KURA_E_VALIDATION;
	}
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]) && utf8_chars(pw, len) < 128;
	     i++) {
		if ((set->password_classes & classes[i].cls) != 0 &&
		    !has_class(pw, len, classes[i].cls)) {
			add_detail(details, "newPassword", classes[i].code, classes[i].message);
			e = KURA_E_VALIDATION;
		}
	}
	if (u != NULL && u->email[0] != '\0') {
		at = strchr(u->email, '@');
		if ((len == strlen(u->email) && strncasecmp(pw, u->email, len) == 0) ||
		    (at != NULL && len == (size_t)(at - u->email) &&
		     strncasecmp(pw, u->email, len) == 0)) {
			add_detail(details, "newPassword", "contains_email",
				   "the password must not be your e-mail address");
			e = KURA_E_VALIDATION;
		}
	}
	if (u != NULL && matches_name(pw, len, u->display_name)) {
		add_detail(details, "newPassword", "contains_name",
			   "the password must not be your name or a part of it");
		e = KURA_E_VALIDATION;
	}
	/* Always on, whatever the settings: these are the first guesses of any attacker. */
	if (kura_password_breached(pw, len)) {
		add_detail(details, "newPassword", "breached",
			   "this password appears in lists of common passwords");
		e = KURA_E_VALIDATION;
	}
	return e;
}

_Static_assert(KURA_PASSWORD_HISTORY_MAX <= KURA_STORE_PWHISTORY_KEEP,
	       "the store must keep every hash the reuse rule may check");

struct history {
	char hash[KURA_PASSWORD_HISTORY_MAX][KURA_PASSWORD_HASH_MAX];
	unsigned n;
};

static bool
history_add(void *ctx, const char *hash)
{
	struct history *h = ctx;

	if (h->n >= KURA_PASSWORD_HISTORY_MAX)
		return false;
	copy_str(h->hash[h->n++], KURA_PASSWORD_HASH_MAX, hash);
	return true;
}

/*
 * The reuse rule: KURA_E_VALIDATION (detail "reused") when pw verifies
 * against one of the user's last `last` previous hashes. Each stored hash
 * costs one Argon2id verification at that hash's own cost, so at most
 * KURA_PASSWORD_HISTORY_MAX (24, the setting's maximum) of them: with the
 * default cost (~0.1 s each) a change may take a couple of seconds on the
 * hash pool. The current password is handled by the caller (it has just
 * been verified as the old one, so a byte comparison suffices).
 */
static enum kura_err
check_history(struct kura_tenant_db *db, int64_t user_id, unsigned last, const char *pw,
	      size_t len, json_t *details)
{
	struct history *h;
	enum kura_err e;

	if (last == 0)
		return KURA_OK;
	if (last > KURA_PASSWORD_HISTORY_MAX)
		last = KURA_PASSWORD_HISTORY_MAX;
	h = sodium_malloc(sizeof(*h));
	if (h == NULL)
		return KURA_E_NOMEM;
	h->n = 0;
	/* Read first, hash after: no statement or transaction stays open during the slow part. */
	e = kura_store_pwhistory_list(db, user_id, last, history_add, h);
	for (unsigned i = 0; e == KURA_OK && i < h->n; i++) {
		if (kura_password_verify(h->hash[i], pw, len) == KURA_OK) {
			add_detail(details, "newPassword", "reused",
				   "this password was used before; choose one you have not used "
				   "recently");
			e = KURA_E_VALIDATION;
		}
	}
	sodium_free(h);
	return e;
}

enum kura_err
kura_auth_change_password(struct kura_req *r, const char *old_pw, size_t oldlen,
			  const char *new_pw, size_t newlen, json_t *details)
{
	struct kura_principal *p = &r->principal;
	struct kura_user fresh;
	char h[KURA_PASSWORD_HASH_MAX] = "";
	char uid[24];
	enum kura_err e;

	if (!p->authenticated)
		return KURA_E_UNAUTHENTICATED;
	snprintf(uid, sizeof(uid), "%lld", (long long)p->user.id);
	/* Re-read: another request may have changed the password meanwhile. */
	e = kura_store_user_get(p->db, p->user.id, &fresh);
	if (e != KURA_OK)
		goto out;
	e = kura_auth_reauthenticate(r, &fresh, old_pw, oldlen);
	if (e != KURA_OK) {
		/* A wrong current password is worth a record: it may be someone else at the keyboard. */
		kura_req_audit(r, NULL, "auth.password_change", "user", uid,
			       e == KURA_E_INVALID_CREDENTIALS ? KURA_E_VALIDATION : e);
		if (e == KURA_E_INVALID_CREDENTIALS) {
			add_detail(details, "currentPassword", "incorrect",
				   "the current password is wrong");
			e = KURA_E_VALIDATION;
		}
		goto out;
	}
	{
		struct kura_security_settings set;

		if (kura_settings_load(p->db, &set) != KURA_OK) {
			e = KURA_E_UNAVAILABLE;
			goto out;
		}
		e = kura_password_policy_check(new_pw, newlen, &fresh, &set, details);
		/*
		 * The current password, always refused: it has just verified as the
		 * old one, so equal bytes are the same test as verifying the hash.
		 */
		if (oldlen == newlen && sodium_memcmp(old_pw, new_pw, newlen) == 0) {
			add_detail(details, "newPassword", "reused",
				   "the new password must differ from the current one");
			e = KURA_E_VALIDATION;
		}
		/* The expensive rule (Argon2id per stored hash) only once the cheap ones pass. */
		if (e == KURA_OK)
			e = check_history(p->db, fresh.id, set.password_history, new_pw, newlen,
					  details);
	}
	if (e != KURA_OK)
		goto out;
	e = kura_password_hash(&r->srv->pw, new_pw, newlen, h);
	if (e != KURA_OK)
		goto out;
	e = kura_store_begin(p->db);
	if (e != KURA_OK)
		goto out;
	/* The old hash joins the history in the same transaction as the change. */
	e = kura_store_pwhistory_add(p->db, fresh.id, fresh.password_hash, kura_now_us(),
				     KURA_STORE_PWHISTORY_KEEP);
	if (e == KURA_OK)
		e = kura_store_user_set_password(p->db, fresh.id, h, false, kura_now_us());
	if (e == KURA_OK)
		e = kura_store_session_delete_user(p->db, fresh.id, p->session_hash);
	if (e == KURA_OK)
		e = kura_req_audit(r, NULL, "auth.password_change", "user", uid, KURA_OK);
	if (e == KURA_OK)
		e = kura_store_commit(p->db);
	else
		kura_store_rollback(p->db);
	if (e == KURA_OK)
		p->user.must_change_password = false;
out:
	sodium_memzero(h, sizeof(h));
	sodium_memzero(fresh.password_hash, sizeof(fresh.password_hash));
	return e;
}
