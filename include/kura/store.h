/*
 * The storage interface: the only way the rest of Kura reaches data. The
 * public functions below dispatch through struct kura_store_ops to a back
 * end (store/sqlite today). No SQL exists outside store/.
 *
 * Two levels:
 *  - the system store (tenants, the keystore of wrapped tenant keys, the
 *    seals of the tenants' audit chains);
 *  - one store per tenant (users, sessions, the audit log, ...), reached
 *    only through kura_store_tenant_acquire(store, tenant_id, ...), which
 *    hands out a handle bound to that tenant alone. A handle is used by one thread at a
 *    time and must be released.
 *
 * Times are int64 microseconds since the Unix epoch. Strings in the structs
 * are NUL-terminated and truncated to fit (callers validate lengths first).
 * Out-parameters are zeroed on error.
 */
#ifndef KURA_STORE_H
#define KURA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kura/err.h"
#include "kura/store_crm.h"

#define KURA_TENANT_ID_MAX 32   /* [a-z0-9-], 2..32, starts with a letter */
#define KURA_EMAIL_MAX 254
#define KURA_NAME_MAX 128
#define KURA_ROLE_MAX 32
#define KURA_IP_MAX 46
#define KURA_UA_MAX 256
/* A custom role's permissions, comma-separated. */
#define KURA_ROLE_PERMS_MAX 1024

/* Schema version this binary knows (highest migration number). */
extern const int kura_store_schema_version_system;
extern const int kura_store_schema_version_tenant;

enum kura_tenant_status { KURA_TENANT_ACTIVE = 0, KURA_TENANT_SUSPENDED = 1 };
enum kura_user_status { KURA_USER_ACTIVE = 0, KURA_USER_DISABLED = 1 };

/* The tenant's IP allow-list settings, read with every authenticating look-up. */
#define KURA_IP_ALLOWLIST_MAX 50       /* ranges */
#define KURA_IP_ALLOWLIST_TEXT_MAX (KURA_IP_ALLOWLIST_MAX * 44 + 1)
#define KURA_SETTING_IP_ALLOWLIST "ipAllowlist"
#define KURA_SETTING_APIKEY_IP_ALLOWLIST "apiKeyIpAllowlist"

/*
 * What an authenticating look-up reads besides the credential and its user,
 * in the same query: the tenant's IP allow-list for that kind of credential
 * ("" when there is none; a value too long for the buffer is given as "!",
 * which admits nobody -- never a cut list, which could name wider ranges)
 * and the version of the tenant's CRM catalogue.
 */
struct kura_auth_read {
	char ip_allowlist[KURA_IP_ALLOWLIST_TEXT_MAX];
	int64_t catalog_version;
};

struct kura_tenant {
	char id[KURA_TENANT_ID_MAX + 1];
	char name[KURA_NAME_MAX + 1];
	enum kura_tenant_status status;
	uint32_t key_version;        /* current DEK version */
	int64_t created_at;
	int64_t updated_at;
};

struct kura_user {
	int64_t id;
	char email[KURA_EMAIL_MAX + 1];   /* stored lower-cased; unique per tenant */
	char display_name[KURA_NAME_MAX + 1];
	char role[KURA_ROLE_MAX + 1];
	enum kura_user_status status;
	char password_hash[128];
	bool must_change_password;
	int64_t password_changed_at;
	int64_t created_at;
	int64_t updated_at;
	bool mfa_enabled;            /* a confirmed authenticator (TOTP) */
	/*
	 * Filled only by the reads that authenticate a request (session, API
	 * key): when role names one of the tenant's own roles, custom_role is
	 * true and role_perms lists its permissions, as read in the same query.
	 */
	bool custom_role;
	char role_perms[KURA_ROLE_PERMS_MAX];
};

/* How a session stands with the second factor (sessions.mfa). */
enum kura_session_mfa {
	KURA_SESSION_MFA_NONE = 0,   /* opened without one; the tenant did not require it */
	KURA_SESSION_MFA_DONE = 1,   /* opened with password and code */
	KURA_SESSION_MFA_ENROL = 2,  /* MFA required, the user has none: may only enrol */
};

struct kura_session {
	uint8_t id_hash[32];         /* SHA-256 of the secret in the cookie */
	int64_t user_id;
	int64_t created_at;
	int64_t last_seen_at;
	int64_t expires_at;          /* absolute end */
	int64_t idle_timeout_s;      /* this session's idle timeout; 0 = the server's default */
	char ip[KURA_IP_MAX + 1];
	char user_agent[KURA_UA_MAX + 1];
	enum kura_session_mfa mfa;
	/* Bound to a client certificate: every request must present it (SHA-256 of its DER). */
	bool client_cert_bound;
	uint8_t client_cert[32];
};

/*
 * The audit log's records. They are defined here, with the other rows the
 * store keeps, so that store/ never includes audit/ (includes go audit/ ->
 * store/); kura/audit.h, which includes this header, is their contract:
 * how entries are chained, sealed, queried and verified.
 */
#define KURA_AUDIT_ACTION_MAX 64
#define KURA_AUDIT_TARGET_TYPE_MAX 32
#define KURA_AUDIT_TARGET_ID_MAX 64
#define KURA_AUDIT_PROPS_MAX 512
#define KURA_AUDIT_CODE_MAX 48

enum kura_actor_type {
	KURA_ACTOR_ANONYMOUS = 0, /* e.g. a failed login: actor_email holds what was typed */
	KURA_ACTOR_USER,
	KURA_ACTOR_APIKEY,
	KURA_ACTOR_OPERATOR,      /* the kura CLI on the host */
	KURA_ACTOR_SYSTEM,        /* background jobs, timeouts */
};

enum kura_audit_outcome {
	KURA_AUDIT_SUCCESS = 0,
	KURA_AUDIT_DENIED,
	KURA_AUDIT_FAILED,
};

struct kura_audit_entry {
	int64_t seq;                     /* set by append: 1, 2, 3, ... per tenant */
	int64_t ts_us;                   /* set by append when 0 */
	enum kura_actor_type actor_type;
	int64_t actor_id;                /* user or API key id; 0 if none */
	char actor_email[KURA_EMAIL_MAX + 1];
	char actor_role[KURA_ROLE_MAX + 1]; /* role at that moment */
	char ip[KURA_IP_MAX + 1];
	char user_agent[KURA_UA_MAX + 1];
	char request_id[17];
	char action[KURA_AUDIT_ACTION_MAX + 1];          /* stable dotted name: "auth.login" */
	char target_type[KURA_AUDIT_TARGET_TYPE_MAX + 1]; /* "user", "session", "tenant", ... */
	char target_id[KURA_AUDIT_TARGET_ID_MAX + 1];
	char target_props[KURA_AUDIT_PROPS_MAX + 1];     /* property names, comma-separated */
	enum kura_audit_outcome outcome;
	char error_code[KURA_AUDIT_CODE_MAX + 1];        /* kura_err_code() when not success */
	uint8_t prev_hash[32];           /* set by append */
	uint8_t hash[32];                /* set by append */
};

/* Filters for kura_audit_query; zero / empty fields do not filter. */
struct kura_audit_filter {
	int64_t from_us;                 /* ts_us >= from_us */
	int64_t to_us;                   /* ts_us < to_us */
	int64_t actor_id;
	char actor_email[KURA_EMAIL_MAX + 1];     /* ASCII case-insensitive */
	char action[KURA_AUDIT_ACTION_MAX + 1];   /* exact, or prefix when it ends with '*' */
	char target_type[KURA_AUDIT_TARGET_TYPE_MAX + 1];
	char target_id[KURA_AUDIT_TARGET_ID_MAX + 1];
	int outcome;                     /* -1 = any */
	char ip[KURA_IP_MAX + 1];
	int64_t before_seq;              /* cursor: entries with seq < before_seq; 0 = newest */
	unsigned limit;                  /* 0 = no limit (exports) */
};

/* One seal of a tenant's chain head, kept in system.db. */
struct kura_audit_seal {
	int64_t seq;                     /* the sealed entry */
	uint8_t hash[32];                /* its hash at sealing time */
	uint8_t mac[32];                 /* kura_audit_seal_mac(tenant, seq, hash) */
	int64_t sealed_at;
};

typedef bool (*kura_audit_cb)(void *ctx, const struct kura_audit_entry *e); /* false stops */
typedef bool (*kura_audit_seal_cb)(void *ctx, const struct kura_audit_seal *s); /* false stops */
/* Given each spooled entry by kura_store_audit_unspool; an error stops and undoes the move. */
typedef enum kura_err (*kura_audit_unspool_cb)(void *ctx, struct kura_audit_entry *e);

/*
 * Notices of incidents and maintenance, written by the operator (kura
 * notice) and shown to the signed-in users of the tenants they concern.
 * Kept in system.db: one notice may concern every tenant.
 */
#define KURA_NOTICE_TITLE_MAX 200
#define KURA_NOTICE_BODY_MAX 4000

enum kura_notice_kind { KURA_NOTICE_INCIDENT = 0, KURA_NOTICE_MAINTENANCE = 1 };

struct kura_notice {
	int64_t id;                      /* set by notice_create */
	char tenant_id[KURA_TENANT_ID_MAX + 1]; /* "" = every tenant */
	enum kura_notice_kind kind;
	char title[KURA_NOTICE_TITLE_MAX + 1];
	char body[KURA_NOTICE_BODY_MAX + 1];    /* the technical description */
	int64_t starts_at;
	int64_t ends_at;                 /* > starts_at */
	int64_t created_at;
};

typedef bool (*kura_notice_cb)(void *ctx, const struct kura_notice *n); /* false stops */

/*
 * API keys, in the tenant's database (see kura/auth.h for the token). A key
 * acts as its creator (user_id) within its scopes; only SHA-256 of the
 * secret is stored. Scopes and CIDRs are comma-separated lists.
 */
#define KURA_APIKEY_NAME_MAX 64
#define KURA_APIKEY_PREFIX_LEN 8
#define KURA_APIKEY_SCOPES_MAX 1024
#define KURA_APIKEY_CIDRS_MAX 1536   /* 32 ranges of up to 43 characters, and commas */

struct kura_apikey {
	int64_t id;                      /* set by apikey_create */
	int64_t user_id;                 /* the creator */
	char name[KURA_APIKEY_NAME_MAX + 1];
	char prefix[KURA_APIKEY_PREFIX_LEN + 1]; /* the secret's first characters, for lists */
	uint8_t secret_hash[32];
	char scopes[KURA_APIKEY_SCOPES_MAX + 1];
	char cidrs[KURA_APIKEY_CIDRS_MAX + 1]; /* "" = any address */
	int64_t expires_at;              /* 0 = never */
	int64_t created_at;
	int64_t last_used_at;            /* 0 = never used */
	char last_used_ip[KURA_IP_MAX + 1];
	int64_t revoked_at;              /* 0 = live */
};

typedef void (*kura_apikey_cb)(void *ctx, const struct kura_apikey *k);

struct kura_store;          /* the opened store (system level + tenant cache) */
struct kura_tenant_db;      /* a handle on one tenant's store */

typedef void (*kura_tenant_cb)(void *ctx, const struct kura_tenant *t);
typedef void (*kura_user_cb)(void *ctx, const struct kura_user *u);
typedef void (*kura_session_cb)(void *ctx, const struct kura_session *s);
typedef void (*kura_setting_cb)(void *ctx, const char *key, const char *value);
typedef bool (*kura_pwhistory_cb)(void *ctx, const char *hash); /* false stops */

/* One wrapped data key of the keystore. */
/* A seal of a tenant's audit chain made again under a new master key. */
struct kura_resealed {
	char tenant[KURA_TENANT_ID_MAX + 1];
	int64_t seq;
	uint8_t mac[32];
};

struct kura_wrapped_key {
	char tenant[KURA_TENANT_ID_MAX + 1];
	uint32_t version;
	uint8_t wrapped[128];
	size_t len;
};
/* false stops. */
typedef bool (*kura_tenant_key_cb)(void *ctx, const char *tenant, uint32_t version,
				   const uint8_t *wrapped, size_t len);

/*
 * The consumer access log (tenant migration 12): one row per request to one
 * of the tenant's public form endpoints (/f/<tenant>/<form>), kept apart
 * from the audit log and deleted after KURA_FORM_ACCESS_KEEP_DAYS by
 * housekeeping (kura_store_form_access_purge), never otherwise.
 */
#define KURA_FORM_NAME_MAX 64
#define KURA_FORM_OUTCOME_MAX 32
#define KURA_FORM_ACCESS_KEEP_DAYS 365

struct kura_form_access {
	int64_t id;                      /* set by form_access_add */
	int64_t at_us;
	char ip[KURA_IP_MAX + 1];
	char form[KURA_FORM_NAME_MAX + 1];
	char method[8];
	unsigned status;
	char outcome[KURA_FORM_OUTCOME_MAX + 1];
	char user_agent[KURA_UA_MAX + 1];
	char request_id[17];
};

/* Filters for kura_store_form_access_query; zero / empty fields do not filter. */
struct kura_form_access_filter {
	int64_t from_us;                 /* at_us >= from_us */
	int64_t to_us;                   /* at_us < to_us */
	char ip[KURA_IP_MAX + 1];
	char form[KURA_FORM_NAME_MAX + 1];
	char outcome[KURA_FORM_OUTCOME_MAX + 1];
	int64_t before_id;               /* cursor: rows with id < before_id; 0 = newest */
	unsigned limit;                  /* 1..1000 */
};

typedef bool (*kura_form_access_cb)(void *ctx, const struct kura_form_access *a); /* false stops */

/* The back-end vtable. `be` is the back end's own state. */
struct kura_store_ops {
	const char *name;
	enum kura_err (*open)(const char *data_dir, unsigned max_conns_per_tenant, void **be,
			      char *err, size_t n);
	void (*close)(void *be);
	enum kura_err (*ping)(void *be);

	enum kura_err (*tenant_create)(void *be, const struct kura_tenant *t,
				       const uint8_t *wrapped_key, size_t wrapped_len);
	enum kura_err (*tenant_get)(void *be, const char *id, struct kura_tenant *out);
	enum kura_err (*tenant_list)(void *be, kura_tenant_cb cb, void *ctx);
	enum kura_err (*tenant_set_status)(void *be, const char *id, enum kura_tenant_status st,
					   int64_t now);
	enum kura_err (*tenant_key_get)(void *be, const char *id, uint32_t version,
					uint8_t *out, size_t cap, size_t *len);

	/* t (may be NULL) receives the tenant's row, read in the same look-up. */
	enum kura_err (*tenant_acquire)(void *be, const char *id, struct kura_tenant *t, void **conn);
	void (*tenant_release)(void *be, void *conn);
	enum kura_err (*begin)(void *conn);
	enum kura_err (*begin_nowait)(void *conn);
	enum kura_err (*commit)(void *conn);
	void (*rollback)(void *conn);

	enum kura_err (*user_create)(void *conn, struct kura_user *u);
	enum kura_err (*user_get)(void *conn, int64_t id, struct kura_user *out);
	enum kura_err (*user_get_by_email)(void *conn, const char *email, struct kura_user *out);
	enum kura_err (*user_list)(void *conn, kura_user_cb cb, void *ctx);
	enum kura_err (*user_set_password)(void *conn, int64_t id, const char *hash,
					   bool must_change, int64_t now);

	enum kura_err (*session_create)(void *conn, const struct kura_session *s);
	enum kura_err (*session_get)(void *conn, const uint8_t id_hash[32], struct kura_session *out);
	enum kura_err (*session_auth)(void *conn, const uint8_t id_hash[32], struct kura_session *s,
				      struct kura_user *u, struct kura_auth_read *x);
	enum kura_err (*session_touch)(void *conn, const uint8_t id_hash[32], int64_t now);
	enum kura_err (*session_delete)(void *conn, const uint8_t id_hash[32]);
	enum kura_err (*session_delete_user)(void *conn, int64_t user_id,
					     const uint8_t *keep_id_hash /* NULL: all */);
	enum kura_err (*session_purge_expired)(void *conn, int64_t now, int64_t idle_cutoff);
	enum kura_err (*user_update)(void *conn, const struct kura_user *u, int64_t now);
	enum kura_err (*user_delete)(void *conn, int64_t id);
	enum kura_err (*user_count_active_role)(void *conn, const char *role, int64_t *n);
	enum kura_err (*session_list_user)(void *conn, int64_t user_id, kura_session_cb cb,
					   void *ctx);
	enum kura_err (*settings_list)(void *conn, kura_setting_cb cb, void *ctx);
	enum kura_err (*setting_put)(void *conn, const char *key, const char *value, int64_t now);
	enum kura_err (*lockout_get)(void *conn, int64_t user_id, int64_t *failed,
				     int64_t *locked_until);
	enum kura_err (*lockout_put)(void *conn, int64_t user_id, int64_t failed,
				     int64_t locked_until);

	enum kura_err (*audit_head)(void *conn, int64_t *seq, uint8_t hash[32]);
	enum kura_err (*audit_insert)(void *conn, const struct kura_audit_entry *e);
	enum kura_err (*audit_scan)(void *conn, int64_t from_seq, kura_audit_cb cb, void *ctx);
	enum kura_err (*audit_query)(void *conn, const struct kura_audit_filter *f,
				     kura_audit_cb cb, void *ctx);
	enum kura_err (*audit_spool)(void *conn, const struct kura_audit_entry *const *e,
				     size_t n);
	bool (*audit_spooled)(void *conn, int64_t *since_us, int64_t *count);
	enum kura_err (*audit_unspool)(void *conn, kura_audit_unspool_cb cb, void *ctx,
				       size_t *moved);
	void (*audit_spool_max)(void *be, int64_t bytes);
	enum kura_err (*seal_put)(void *be, const char *tenant_id, int64_t seq,
				  const uint8_t hash[32], const uint8_t mac[32], int64_t now);
	enum kura_err (*seal_list)(void *be, const char *tenant_id, kura_audit_seal_cb cb,
				   void *ctx);
	bool (*in_transaction)(void *conn);

	enum kura_err (*notice_create)(void *be, struct kura_notice *n);
	enum kura_err (*notice_list)(void *be, const char *tenant_id, int64_t now, unsigned limit,
				     kura_notice_cb cb, void *ctx);

	enum kura_err (*apikey_create)(void *conn, struct kura_apikey *k);
	enum kura_err (*apikey_auth)(void *conn, const uint8_t secret_hash[32],
				     struct kura_apikey *k, struct kura_user *u,
				     struct kura_auth_read *x);
	enum kura_err (*apikey_list)(void *conn, int64_t user_id, kura_apikey_cb cb, void *ctx);
	enum kura_err (*apikey_revoke)(void *conn, int64_t id, int64_t user_id, int64_t now);
	enum kura_err (*apikey_touch)(void *conn, int64_t id, int64_t now, const char *ip);

	enum kura_err (*pwhistory_add)(void *conn, int64_t user_id, const char *hash, int64_t now,
				       unsigned keep);
	enum kura_err (*pwhistory_list)(void *conn, int64_t user_id, unsigned limit,
					kura_pwhistory_cb cb, void *ctx);

	enum kura_err (*form_access_add)(void *conn, struct kura_form_access *a);
	enum kura_err (*form_access_query)(void *conn, const struct kura_form_access_filter *f,
					   kura_form_access_cb cb, void *ctx);
	enum kura_err (*form_access_purge)(void *conn, int64_t before_us, unsigned limit,
					   int64_t *deleted);

	/* The customer database (kura/store_crm.h). */
	const struct kura_crm_ops *crm;
	/* Multi-factor authentication (kura/store_mfa.h). */
	const struct kura_mfa_ops *mfa;
	/* The tenant's own roles and its teams (kura/store_org.h). */
	const struct kura_org_ops *org;

	enum kura_err (*setting_get)(void *conn, const char *key, char *out, size_t cap);
	enum kura_err (*tenant_key_rotate)(void *be, const char *id, uint32_t version,
					   const uint8_t *wrapped, size_t len, int64_t now);
	enum kura_err (*tenant_delete)(void *be, const char *id);
	enum kura_err (*tenant_keys_all)(void *be, kura_tenant_key_cb cb, void *ctx);
	enum kura_err (*tenant_key_retire)(void *be, const char *id, uint32_t version);
	enum kura_err (*tenant_keys_replace)(void *be, const struct kura_wrapped_key *keys,
					     size_t n, const struct kura_resealed *seals,
					     size_t nseals);
};

extern const struct kura_store_ops kura_store_sqlite_ops;

/*
 * Opens (creating if needed) the store under data_dir: system.db and
 * tenants/. Runs pending migrations; a database newer than this binary is
 * refused with KURA_E_DB_TOO_NEW and a message in err.
 */
enum kura_err kura_store_open(const struct kura_store_ops *ops, const char *data_dir,
			      unsigned max_conns_per_tenant, struct kura_store **out,
			      char *err, size_t n);
void kura_store_close(struct kura_store *s); /* NULL is a no-op */
enum kura_err kura_store_ping(struct kura_store *s);

/*
 * Creates tenant t (id validated by the caller) with its first wrapped data
 * key (version t->key_version) and its own database. KURA_E_EXISTS if taken.
 */
enum kura_err kura_store_tenant_create(struct kura_store *s, const struct kura_tenant *t,
				       const uint8_t *wrapped_key, size_t wrapped_len);
enum kura_err kura_store_tenant_get(struct kura_store *s, const char *id, struct kura_tenant *out);
enum kura_err kura_store_tenant_list(struct kura_store *s, kura_tenant_cb cb, void *ctx);
enum kura_err kura_store_tenant_set_status(struct kura_store *s, const char *id,
					   enum kura_tenant_status st, int64_t now);
enum kura_err kura_store_tenant_key_get(struct kura_store *s, const char *id, uint32_t version,
					uint8_t *out, size_t cap, size_t *len);

/*
 * Adds the tenant's data key `version` (wrapped) and makes it current, in
 * one transaction. KURA_E_CONFLICT unless version is the current one + 1;
 * KURA_E_NOT_FOUND when there is no such tenant.
 */
enum kura_err kura_store_tenant_key_rotate(struct kura_store *s, const char *id, uint32_t version,
					   const uint8_t *wrapped, size_t len, int64_t now);

/*
 * Deletes a tenant: its wrapped data keys and its row first, in one
 * transaction (crypto-shredding: nothing it encrypted can be read again),
 * then its files, overwritten before they are unlinked. No process may hold
 * the tenant open. KURA_E_NOT_FOUND when there is no such tenant.
 */
enum kura_err kura_store_tenant_delete(struct kura_store *s, const char *id);
/*
 * Destroys the tenant's wrapped data key `version` (older than the current
 * one; secure_delete overwrites its bytes). Whether anything still needs it
 * is the caller's to check. KURA_E_NOT_FOUND when there is no such key or
 * it is the current one.
 */
enum kura_err kura_store_tenant_key_retire(struct kura_store *s, const char *id,
					   uint32_t version);
/* Every wrapped data key of the keystore, by tenant and version, until cb returns false. */
enum kura_err kura_store_tenant_keys_all(struct kura_store *s, kura_tenant_key_cb cb, void *ctx);
/* Replaces the wrapped form of these keys, all in one transaction (a master-key rotation). */
/*
 * A master-key rotation's write, in one system transaction: every wrapped
 * key replaced, and the MAC of each listed seal replaced (hash, seq and
 * time kept): all of it or nothing.
 */
enum kura_err kura_store_tenant_keys_replace(struct kura_store *s,
					     const struct kura_wrapped_key *keys, size_t n,
					     const struct kura_resealed *seals, size_t nseals);

/* KURA_E_NOT_FOUND when no such tenant. The handle is bound to that tenant only. */
enum kura_err kura_store_tenant_acquire(struct kura_store *s, const char *tenant_id,
					struct kura_tenant_db **out);
/* As kura_store_tenant_acquire, also filling t with the tenant's row (one look-up, not two). */
enum kura_err kura_store_tenant_acquire_get(struct kura_store *s, const char *tenant_id,
					    struct kura_tenant *t, struct kura_tenant_db **out);
void kura_store_tenant_release(struct kura_tenant_db *db); /* NULL is a no-op */
/* The tenant id a handle is bound to. */
const char *kura_store_tenant_id(const struct kura_tenant_db *db);

enum kura_err kura_store_begin(struct kura_tenant_db *db);
/* As kura_store_begin, but KURA_E_BUSY at once while another writer holds the lock. */
enum kura_err kura_store_begin_nowait(struct kura_tenant_db *db);
enum kura_err kura_store_commit(struct kura_tenant_db *db);
void kura_store_rollback(struct kura_tenant_db *db);
/*
 * Ends the transaction as e says: commits when e is KURA_OK (returning the
 * commit's own result), rolls back otherwise (returning e). Lets a handler
 * write "e = begin; if ok e = change; if ok e = audit; e = finish(db, e)".
 */
enum kura_err kura_store_finish(struct kura_tenant_db *db, enum kura_err e);

/* Sets u->id. KURA_E_EXISTS when the e-mail is taken in this tenant. */
enum kura_err kura_store_user_create(struct kura_tenant_db *db, struct kura_user *u);
enum kura_err kura_store_user_get(struct kura_tenant_db *db, int64_t id, struct kura_user *out);
/* email is matched lower-cased. */
enum kura_err kura_store_user_get_by_email(struct kura_tenant_db *db, const char *email,
					   struct kura_user *out);
enum kura_err kura_store_user_list(struct kura_tenant_db *db, kura_user_cb cb, void *ctx);
enum kura_err kura_store_user_set_password(struct kura_tenant_db *db, int64_t id, const char *hash,
					   bool must_change, int64_t now);

enum kura_err kura_store_session_create(struct kura_tenant_db *db, const struct kura_session *s);
/*
 * The session and its user in one look-up (the hot path of every signed-in
 * request), with x (ipAllowlist, catalogue version) as of the same read.
 * KURA_E_NOT_FOUND when the session or its user is missing.
 */
enum kura_err kura_store_session_auth(struct kura_tenant_db *db, const uint8_t id_hash[32],
				      struct kura_session *s, struct kura_user *u,
				      struct kura_auth_read *x);
enum kura_err kura_store_session_get(struct kura_tenant_db *db, const uint8_t id_hash[32],
				     struct kura_session *out);
enum kura_err kura_store_session_touch(struct kura_tenant_db *db, const uint8_t id_hash[32],
				       int64_t now);
enum kura_err kura_store_session_delete(struct kura_tenant_db *db, const uint8_t id_hash[32]);
enum kura_err kura_store_session_delete_user(struct kura_tenant_db *db, int64_t user_id,
					     const uint8_t *keep_id_hash);
/* Deletes sessions past expires_at or with last_seen_at < idle_cutoff. */
/*
 * Writes u's display name, role and status (by u->id); updated_at = now.
 * KURA_E_NOT_FOUND when there is no such user.
 */
enum kura_err kura_store_user_update(struct kura_tenant_db *db, const struct kura_user *u,
				     int64_t now);
/* Deletes the user and (by cascade) its sessions. KURA_E_NOT_FOUND when none. */
enum kura_err kura_store_user_delete(struct kura_tenant_db *db, int64_t id);
/* Counts active users with this role (the last-super-admin rule). */
enum kura_err kura_store_user_count_active_role(struct kura_tenant_db *db, const char *role,
						int64_t *n);
/* The tenant's stored settings (key, value text); absent keys are defaults. */
enum kura_err kura_store_settings_list(struct kura_tenant_db *db, kura_setting_cb cb, void *ctx);
/*
 * One stored setting's value into out (cap bytes, truncated);
 * KURA_E_NOT_FOUND when it was never set (out is then "").
 */
enum kura_err kura_store_setting_get(struct kura_tenant_db *db, const char *key, char *out,
				     size_t cap);
/* Inserts or replaces one setting. */
enum kura_err kura_store_setting_put(struct kura_tenant_db *db, const char *key, const char *value,
				     int64_t now);
/* A user's consecutive failed sign-ins and lock end (0, 0 when none recorded). */
enum kura_err kura_store_lockout_get(struct kura_tenant_db *db, int64_t user_id, int64_t *failed,
				     int64_t *locked_until);
/* Records them (0, 0 clears). KURA_E_NOT_FOUND when there is no such user. */
enum kura_err kura_store_lockout_put(struct kura_tenant_db *db, int64_t user_id, int64_t failed,
				     int64_t locked_until);
/* Calls cb for each session of user_id, newest first. */
enum kura_err kura_store_session_list_user(struct kura_tenant_db *db, int64_t user_id,
					   kura_session_cb cb, void *ctx);
enum kura_err kura_store_session_purge_expired(struct kura_tenant_db *db, int64_t now,
					       int64_t idle_cutoff);

/*
 * True while the handle has a transaction open (kura_store_begin without
 * its commit or rollback yet), so that a caller can join it.
 */
bool kura_store_in_transaction(struct kura_tenant_db *db);

/*
 * The audit log's storage. These are the raw rows: chaining, hashing and
 * sealing are audit/'s business (kura/audit.h); use kura_audit_* instead.
 *
 * audit_head: the newest entry's seq and hash; 0 and 32 zero bytes when the
 * log is empty. Run it inside the transaction that will insert, so that no
 * other writer moves the head in between.
 */
enum kura_err kura_store_audit_head(struct kura_tenant_db *db, int64_t *seq, uint8_t hash[32]);
/* Stores e as it is. KURA_E_CONFLICT when e->seq is taken; KURA_E_VALIDATION when e->seq < 1. */
enum kura_err kura_store_audit_insert(struct kura_tenant_db *db,
				      const struct kura_audit_entry *e);
/*
 * Calls cb for every entry with seq >= from_seq, oldest first, streaming
 * (one row in memory at a time) until cb returns false. cb may use the
 * handle for other calls, but not for another audit_scan.
 */
enum kura_err kura_store_audit_scan(struct kura_tenant_db *db, int64_t from_seq,
				    kura_audit_cb cb, void *ctx);
/*
 * Calls cb for the entries matching f, newest first (seq descending), at
 * most f->limit when it is not 0. KURA_E_VALIDATION when f->outcome is
 * neither -1 (or below) nor an enum kura_audit_outcome.
 */
enum kura_err kura_store_audit_query(struct kura_tenant_db *db, const struct kura_audit_filter *f,
				     kura_audit_cb cb, void *ctx);

/*
 * The audit spool. An entry that records a read (no change goes with it)
 * must be durable before the reply leaves, but committing it to the
 * tenant's database would make every other connection to that database
 * drop its page cache and memory map: under a load of reads of sensitive
 * values, one commit per millisecond. Such entries are appended to a
 * spool of their own (audit-spool.log beside the tenant's database) and
 * moved into the chain in batches, oldest first, by kura_audit (which
 * chains them; see kura/audit.h).
 *
 * audit_spool: appends the n entries (ts_us set, seq and hashes ignored)
 * to the tenant's spool in one write, in the order given; once it
 * returns KURA_OK they outlive the process. KURA_E_UNAVAILABLE when the
 * spool has reached its size limit (its moves are held up), KURA_E_IO
 * when it cannot be written; then none of them is in it.
 * audit_spool_max: that limit, in bytes, for every tenant of the store
 * (256 MiB unless set).
 * audit_spooled: true when the spool may hold entries not yet in the chain
 * (always, the first time, when a spool file is there); *since_us (may be
 * NULL) is when, on the monotonic clock, the oldest of them known to this
 * process was spooled, *count (may be NULL) how many this process spooled
 * since the last move.
 * audit_unspool: inside the caller's write transaction, calls cb for every
 * spooled entry not yet moved, oldest first, and records in the tenant's
 * database how far the spool was moved; when the transaction commits, the
 * moved entries leave the spool (a crash before that leaves them there,
 * and the record keeps them from being moved twice). When cb or a read of
 * the spool fails, everything this call did is undone (the transaction
 * stays open) and the error returned. *moved (may be NULL): how many.
 */
enum kura_err kura_store_audit_spool(struct kura_tenant_db *db,
				     const struct kura_audit_entry *const *e, size_t n);
bool kura_store_audit_spooled(struct kura_tenant_db *db, int64_t *since_us, int64_t *count);
enum kura_err kura_store_audit_unspool(struct kura_tenant_db *db, kura_audit_unspool_cb cb,
				       void *ctx, size_t *moved);
void kura_store_audit_spool_max(struct kura_store *s, int64_t bytes);

/*
 * Records a seal of tenant_id's chain at seq in system.db. Seals are never
 * overwritten: KURA_E_EXISTS when that seq is sealed already; KURA_E_NOT_FOUND
 * when there is no such tenant.
 */
enum kura_err kura_store_seal_put(struct kura_store *s, const char *tenant_id, int64_t seq,
				  const uint8_t hash[32], const uint8_t mac[32], int64_t now);
/*
 * Calls cb for each of tenant_id's seals, lowest seq first, until it
 * returns false. Streams while holding a system.db connection: cb may use a
 * tenant handle it already holds, but must not call other kura_store_*
 * functions that take the store (s) itself.
 */
enum kura_err kura_store_seal_list(struct kura_store *s, const char *tenant_id,
				   kura_audit_seal_cb cb, void *ctx);

/*
 * Stores notice n (tenant_id "" = every tenant; created_at as given, or now
 * when 0) and sets n->id. KURA_E_VALIDATION for an unknown kind, an empty or
 * too long title or body, or ends_at <= starts_at; KURA_E_NOT_FOUND when
 * tenant_id names no tenant.
 */
enum kura_err kura_store_notice_create(struct kura_store *s, struct kura_notice *n);
/*
 * Calls cb for notices, newest (highest id) first, until it returns false
 * or limit (0 = no limit) were given: with tenant_id NULL every notice,
 * otherwise those for that tenant and those for every tenant; with now > 0
 * only those not yet ended (ends_at > now). Streams while holding a
 * system.db connection: cb must not call kura_store_* functions that take
 * the store.
 */
enum kura_err kura_store_notice_list(struct kura_store *s, const char *tenant_id, int64_t now,
				     unsigned limit, kura_notice_cb cb, void *ctx);

/*
 * Stores key k (user_id, name, prefix, secret_hash, scopes, cidrs,
 * expires_at; created_at as given, or now when 0) and sets k->id (random,
 * below 2^53). KURA_E_VALIDATION for an empty or too long name;
 * KURA_E_NOT_FOUND when the user is gone; KURA_E_EXISTS for a secret hash
 * already stored.
 */
enum kura_err kura_store_apikey_create(struct kura_tenant_db *db, struct kura_apikey *k);
/*
 * The key whose secret hashes to secret_hash, and its creator (one read),
 * whatever their state: the caller checks revocation, expiry and the
 * creator's status; with x (apiKeyIpAllowlist, catalogue version) as
 * of the same read. KURA_E_NOT_FOUND when there is none; k and u zeroed on
 * error.
 */
enum kura_err kura_store_apikey_auth(struct kura_tenant_db *db, const uint8_t secret_hash[32],
				     struct kura_apikey *k, struct kura_user *u,
				     struct kura_auth_read *x);
/* Calls cb for the keys of user_id (0 = every key of the tenant), newest first. */
enum kura_err kura_store_apikey_list(struct kura_tenant_db *db, int64_t user_id,
				     kura_apikey_cb cb, void *ctx);
/*
 * Revokes key id at now (a revoked key keeps its first revocation time).
 * With user_id != 0 only that user's key. KURA_E_NOT_FOUND when no such key.
 */
enum kura_err kura_store_apikey_revoke(struct kura_tenant_db *db, int64_t id, int64_t user_id,
				       int64_t now);
/* Records that key id was used at now from ip. */
enum kura_err kura_store_apikey_touch(struct kura_tenant_db *db, int64_t id, int64_t now,
				      const char *ip);

/*
 * Password history (the reuse rule). pwhistory_add stores hash (an Argon2id
 * PHC string, 1..127 bytes) as user_id's newest previous password, then
 * deletes all but the newest keep (1..KURA_STORE_PWHISTORY_KEEP) of that
 * user's entries; join the transaction that changes the password.
 * KURA_E_NOT_FOUND when there is no such user; KURA_E_VALIDATION for a bad
 * hash or keep. Entries go with the user (ON DELETE CASCADE).
 */
#define KURA_STORE_PWHISTORY_KEEP 24
enum kura_err kura_store_pwhistory_add(struct kura_tenant_db *db, int64_t user_id,
				       const char *hash, int64_t now, unsigned keep);
/*
 * Calls cb with each of user_id's stored previous hashes, newest first, at
 * most limit (0 = none: returns KURA_OK without reading), until cb returns
 * false.
 */
enum kura_err kura_store_pwhistory_list(struct kura_tenant_db *db, int64_t user_id,
					unsigned limit, kura_pwhistory_cb cb, void *ctx);

/*
 * The consumer access log. form_access_add stores a (every text field
 * non-empty except user_agent, within its bound; status 100..599) in its
 * own short transaction unless the caller holds one, and sets a->id.
 * form_access_query calls cb with the rows that pass f, newest first.
 * form_access_purge deletes at most limit (1..100000) rows older than
 * before_us, oldest first, and says how many in *deleted.
 */
enum kura_err kura_store_form_access_add(struct kura_tenant_db *db, struct kura_form_access *a);
enum kura_err kura_store_form_access_query(struct kura_tenant_db *db,
					   const struct kura_form_access_filter *f,
					   kura_form_access_cb cb, void *ctx);
enum kura_err kura_store_form_access_purge(struct kura_tenant_db *db, int64_t before_us,
					   unsigned limit, int64_t *deleted);

#endif
