/*
 * The audit log: who did what to which target, from where, and with what
 * outcome, for every operation in a tenant. Tamper-evident:
 *
 *   hash(n) = SHA-256( canonical(entry n) || hash(n-1) ),  hash(0) = 32 zero bytes
 *
 * where canonical() is the entry's fields (seq included, hash excluded) as
 * compact JSON with sorted keys. The chain head is sealed from time to time
 * with HMAC-SHA256 under a subkey of the master key (tenant users never reach
 * it) and the seals are kept in system.db, outside the tenant's database, so
 * rewriting a tenant database cannot rewrite its seals. `kura audit verify`
 * walks the chain and checks every seal.
 *
 * Entries never hold sensitive values, passwords, tokens or keys: targets
 * name objects, ids and property names only.
 */
#ifndef KURA_AUDIT_H
#define KURA_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kura/crypto.h"
#include "kura/err.h"
#include "kura/store.h"

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

/*
 * Appends e to the tenant's chain, filling seq, ts_us (if 0), prev_hash and
 * hash. When the handle has a transaction open (kura_store_begin), the entry
 * joins it, so the change and its record commit or roll back together;
 * otherwise append runs in a transaction of its own.
 */
enum kura_err kura_audit_append(struct kura_tenant_db *db, struct kura_audit_entry *e);

/* The canonical form hashed into the chain (caller frees with free()). */
char *kura_audit_canonical(const struct kura_audit_entry *e);

/* Filters for kura_audit_query; zero / empty fields do not filter. */
struct kura_audit_filter {
	int64_t from_us;                 /* ts_us >= from_us */
	int64_t to_us;                   /* ts_us < to_us */
	int64_t actor_id;
	char actor_email[KURA_EMAIL_MAX + 1];
	char action[KURA_AUDIT_ACTION_MAX + 1];   /* exact, or prefix when it ends with '*' */
	char target_type[KURA_AUDIT_TARGET_TYPE_MAX + 1];
	char target_id[KURA_AUDIT_TARGET_ID_MAX + 1];
	int outcome;                     /* -1 = any */
	char ip[KURA_IP_MAX + 1];
	int64_t before_seq;              /* cursor: entries with seq < before_seq; 0 = newest */
	unsigned limit;                  /* 0 = no limit (exports) */
};

typedef bool (*kura_audit_cb)(void *ctx, const struct kura_audit_entry *e); /* false stops */

void kura_audit_filter_init(struct kura_audit_filter *f);
/* Newest first. */
enum kura_err kura_audit_query(struct kura_tenant_db *db, const struct kura_audit_filter *f,
			       kura_audit_cb cb, void *ctx);

/*
 * Seals the tenant's current chain head into system.db (no-op when the head
 * is already sealed). kurad seals every tenant with new entries once a
 * minute and at shutdown; the CLI seals after its own writes.
 */
enum kura_err kura_audit_seal(struct kura_store *s, const struct kura_keyring *k,
			      const char *tenant_id);

struct kura_audit_report {
	int64_t entries;                 /* entries checked */
	int64_t seals;                   /* seals checked */
	int64_t first_bad_seq;           /* 0 when the chain is intact */
	char problem[256];               /* what is wrong at first_bad_seq */
};

/*
 * Walks the whole chain from seq 1: every seq present and in order, every
 * hash recomputed, every seal's HMAC valid and matching the entry it names,
 * and no sealed entry missing at the end. KURA_OK with first_bad_seq = 0
 * when intact; KURA_E_CONFLICT with the report filled when not.
 */
enum kura_err kura_audit_verify(struct kura_store *s, const struct kura_keyring *k,
				const char *tenant_id, struct kura_audit_report *out);

#endif
