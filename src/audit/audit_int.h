/*
 * Shared by audit.c and group.c: the steps of an append, so that a group
 * commit chains many entries in one transaction exactly as a single
 * append chains one.
 */
#ifndef KURA_AUDIT_INT_H
#define KURA_AUDIT_INT_H

#include <stdbool.h>

#include "kura/audit.h"

/*
 * Clears seq and the hashes, sanitizes the strings in place and fills
 * ts_us when 0 (*set_ts tells so). KURA_E_VALIDATION for an empty action or
 * an actor type / outcome that is not an enum value.
 */
enum kura_err kura_audit_prepare(struct kura_audit_entry *e, bool *set_ts);

/*
 * Reads the chain head, fills seq, prev_hash and hash, and inserts e. The
 * caller holds the write transaction (kura_store_begin).
 */
enum kura_err kura_audit_chain_in_tx(struct kura_tenant_db *db, struct kura_audit_entry *e);

/*
 * Moves the tenant's spooled entries into the chain inside the caller's
 * transaction (see kura_store_audit_unspool); failures are logged.
 */
enum kura_err kura_audit_unspool_in_tx(struct kura_tenant_db *db, size_t *moved);

/* After a failed append: counts it, clears seq and hashes (and ts_us if set_ts). */
void kura_audit_failed(struct kura_audit_entry *e, bool set_ts);

#endif
