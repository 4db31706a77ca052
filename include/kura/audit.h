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

/*
 * The records (struct kura_audit_entry, struct kura_audit_filter, struct
 * kura_audit_seal, enum kura_actor_type, enum kura_audit_outcome, the
 * KURA_AUDIT_*_MAX bounds and the kura_audit_cb callback type) are defined
 * in kura/store.h, included above, next to the other rows the store keeps:
 * that way store/ never needs to include this header.
 */

/*
 * Appends e to the tenant's chain, filling seq, ts_us (if 0), prev_hash and
 * hash. When the handle has a transaction open (kura_store_begin), the entry
 * joins it, so the change and its record commit or roll back together;
 * otherwise append runs in a transaction of its own.
 *
 * Before hashing, every string field of e is made safe in place: cut to its
 * array (a missing NUL is supplied), cut back to a whole UTF-8 character,
 * and invalid UTF-8 and control bytes replaced by '?'. So what is stored,
 * hashed and later shown is exactly e as it is on return.
 *
 * KURA_E_VALIDATION when action is empty or actor_type / outcome are not
 * enum values. On any failure seq, prev_hash and hash are zeroed; inside a
 * caller's transaction the caller must then roll back, so that no change
 * commits without its record.
 */
enum kura_err kura_audit_append(struct kura_tenant_db *db, struct kura_audit_entry *e);

/*
 * Group commit (audit/group.c): appends of one tenant that arrive together
 * share one write transaction. Made once by kurad and shared by the HTTP
 * threads; free after the last request. NULL is a no-op for _free.
 */
struct kura_audit_group;
enum kura_err kura_audit_group_new(struct kura_audit_group **out);
void kura_audit_group_free(struct kura_audit_group *g);

/*
 * Like kura_audit_append outside a transaction, but the entry may be
 * committed together with other callers' entries for the same tenant, in
 * one transaction on the handle of whichever caller leads it. Returns once
 * the transaction that carried e has committed (KURA_OK, e filled as by
 * kura_audit_append) or failed: then every entry in it failed, each caller
 * gets the error, and none of them is in the chain. A malformed entry
 * (KURA_E_VALIDATION) fails alone. With g NULL, or a transaction open on
 * db, this is kura_audit_append.
 *
 * With a group made by kura_audit_group_start, e (an entry that records a
 * read) is appended to the tenant's audit spool instead
 * (kura_store_audit_spool) and chained later by the mover: on KURA_OK it
 * outlives the process, its ts_us is set and its seq still 0.
 * KURA_E_UNAVAILABLE when the spool is full (its moves held up), KURA_E_IO
 * when it cannot be written.
 */
enum kura_err kura_audit_append_grouped(struct kura_audit_group *g, struct kura_tenant_db *db,
					struct kura_audit_entry *e);

/*
 * A group with a mover thread of its own, which moves each tenant's audit
 * spool into its chain (with handles it acquires from store) about once a
 * second under load. _free stops the thread, then moves every spool.
 */
enum kura_err kura_audit_group_start(struct kura_store *store, struct kura_audit_group **out);

/* Transactions committed (spool appends, in kurad) by the group so far, and the entries they carried. */
void kura_audit_group_stats(struct kura_audit_group *g, uint64_t *batches, uint64_t *entries);

/* Entries of tenant waiting for a leader to take them (for tests). */
size_t kura_audit_group_queued(struct kura_audit_group *g, const char *tenant);

/*
 * The canonical form hashed into the chain: compact JSON, keys sorted, of
 * seq, ts_us, actor_type and outcome (numbers), actor_id, the strings, and
 * prev_hash (lower-case hex). NULL when out of memory or when a string is
 * not valid UTF-8 (append never stores one). Caller frees with free().
 */
char *kura_audit_canonical(const struct kura_audit_entry *e);

/*
 * Moves what the tenant's audit spool holds into the chain (a write
 * transaction of its own, or inside the caller's): entries of reads that
 * kurad spooled (kura_audit_group_start) and has not moved yet.
 * kura_audit_query, _seal and _verify do this first; KURA_OK when there is
 * nothing to move.
 */
enum kura_err kura_audit_flush(struct kura_tenant_db *db);

/* Clears f to "everything": zeros, empty strings, outcome -1. */
void kura_audit_filter_init(struct kura_audit_filter *f);
/*
 * Calls cb for the entries matching f, newest first, until cb returns false
 * or f->limit entries were given. Paging: pass the last seq seen as
 * before_seq. An action ending in '*' matches by (case-sensitive) prefix;
 * '%' and '_' in it are plain characters.
 */
enum kura_err kura_audit_query(struct kura_tenant_db *db, const struct kura_audit_filter *f,
			       kura_audit_cb cb, void *ctx);

/*
 * Seals the tenant's current chain head into system.db (no-op when the head
 * is already sealed, or when the log is empty). kurad seals every tenant
 * with new entries once a minute and at shutdown; the CLI seals after its
 * own writes. A seal is never overwritten.
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
 * when intact; KURA_E_CONFLICT with the report filled when not, naming the
 * lowest seq found wrong. Streams: memory use does not grow with the log.
 * Other errors (KURA_E_NOT_FOUND for no such tenant, store failures) leave
 * the report zeroed. See docs/internals/audit.md for what this proves.
 */
enum kura_err kura_audit_verify(struct kura_store *s, const struct kura_keyring *k,
				const char *tenant_id, struct kura_audit_report *out);

/*
 * Starts a thread that seals every tenant's chain head each interval_s
 * seconds (0 = 60), and once more when stopped. Stop it before closing the
 * store.
 */
struct kura_audit_sealer;
enum kura_err kura_audit_sealer_start(struct kura_store *store, const struct kura_keyring *keys,
				      unsigned interval_s, struct kura_audit_sealer **out);
/* Seals once more, stops and frees. NULL is a no-op. */
void kura_audit_sealer_stop(struct kura_audit_sealer *s);

#endif
