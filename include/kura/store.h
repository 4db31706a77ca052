/*
 * The storage interface: the only way the rest of Kura reaches data. The
 * public functions below dispatch through struct kura_store_ops to a back
 * end (store/sqlite today). No SQL exists outside store/.
 *
 * Two levels:
 *  - the system store (tenants, the keystore of wrapped tenant keys);
 *  - one store per tenant (users, sessions, ...), reached only through
 *    kura_store_tenant_acquire(store, tenant_id, ...), which hands out a
 *    handle bound to that tenant alone. A handle is used by one thread at a
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

#define KURA_TENANT_ID_MAX 32   /* [a-z0-9-], 2..32, starts with a letter */
#define KURA_EMAIL_MAX 254
#define KURA_NAME_MAX 128
#define KURA_ROLE_MAX 32
#define KURA_IP_MAX 46
#define KURA_UA_MAX 256

/* Schema version this binary knows (highest migration number). */
extern const int kura_store_schema_version_system;
extern const int kura_store_schema_version_tenant;

enum kura_tenant_status { KURA_TENANT_ACTIVE = 0, KURA_TENANT_SUSPENDED = 1 };
enum kura_user_status { KURA_USER_ACTIVE = 0, KURA_USER_DISABLED = 1 };

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
};

struct kura_session {
	uint8_t id_hash[32];         /* SHA-256 of the secret in the cookie */
	int64_t user_id;
	int64_t created_at;
	int64_t last_seen_at;
	int64_t expires_at;          /* absolute end */
	char ip[KURA_IP_MAX + 1];
	char user_agent[KURA_UA_MAX + 1];
};

struct kura_store;          /* the opened store (system level + tenant cache) */
struct kura_tenant_db;      /* a handle on one tenant's store */

typedef void (*kura_tenant_cb)(void *ctx, const struct kura_tenant *t);
typedef void (*kura_user_cb)(void *ctx, const struct kura_user *u);

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

	enum kura_err (*tenant_acquire)(void *be, const char *id, void **conn);
	void (*tenant_release)(void *be, void *conn);
	enum kura_err (*begin)(void *conn);
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
	enum kura_err (*session_touch)(void *conn, const uint8_t id_hash[32], int64_t now);
	enum kura_err (*session_delete)(void *conn, const uint8_t id_hash[32]);
	enum kura_err (*session_delete_user)(void *conn, int64_t user_id,
					     const uint8_t *keep_id_hash /* NULL: all */);
	enum kura_err (*session_purge_expired)(void *conn, int64_t now, int64_t idle_cutoff);
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

/* KURA_E_NOT_FOUND when no such tenant. The handle is bound to that tenant only. */
enum kura_err kura_store_tenant_acquire(struct kura_store *s, const char *tenant_id,
					struct kura_tenant_db **out);
void kura_store_tenant_release(struct kura_tenant_db *db); /* NULL is a no-op */
/* The tenant id a handle is bound to. */
const char *kura_store_tenant_id(const struct kura_tenant_db *db);

enum kura_err kura_store_begin(struct kura_tenant_db *db);
enum kura_err kura_store_commit(struct kura_tenant_db *db);
void kura_store_rollback(struct kura_tenant_db *db);

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
enum kura_err kura_store_session_get(struct kura_tenant_db *db, const uint8_t id_hash[32],
				     struct kura_session *out);
enum kura_err kura_store_session_touch(struct kura_tenant_db *db, const uint8_t id_hash[32],
				       int64_t now);
enum kura_err kura_store_session_delete(struct kura_tenant_db *db, const uint8_t id_hash[32]);
enum kura_err kura_store_session_delete_user(struct kura_tenant_db *db, int64_t user_id,
					     const uint8_t *keep_id_hash);
/* Deletes sessions past expires_at or with last_seen_at < idle_cutoff. */
enum kura_err kura_store_session_purge_expired(struct kura_tenant_db *db, int64_t now,
					       int64_t idle_cutoff);

#endif
