/*
 * The storage interface of the customer database: the catalogue (object
 * types and their properties), records, property history, associations,
 * activities, lists and idempotency replies. Part of the store module
 * (kura/store.h); a back end provides these as a second vtable, reached
 * with kura_store_crm(). core/ is its only caller: it validates and
 * converts every value before it gets here, so these functions store what
 * they are given.
 *
 * Properties are addressed by their catalogue id; the back end maps ids to
 * its own column names, so no name a user chose ever reaches SQL. Negative
 * ids name a record's built-in columns (KURA_COL_*).
 *
 * Strings handed to callbacks (struct kura_val.s, JSON texts) live until
 * the callback returns. Times are int64 microseconds since the Unix epoch.
 */
#ifndef KURA_STORE_CRM_H
#define KURA_STORE_CRM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kura/err.h"

struct kura_tenant_db;

#define KURA_OBJECT_NAME_MAX 50
#define KURA_PROP_NAME_MAX 64
#define KURA_LABEL_MAX 128
#define KURA_PROP_DESC_MAX 1000
#define KURA_CLASS_MAX 16
#define KURA_PROP_TYPE_MAX 16
#define KURA_LIST_NAME_MAX 128
#define KURA_ASSOC_LABEL_MAX 64
#define KURA_IDEM_KEY_MAX 128

/*
 * A property's encryption state: KURA_ENC_PENDING from the moment its
 * sensitive flag is turned on while it holds values until every value and
 * history entry in clear is encrypted (values are then in both forms).
 */
enum { KURA_ENC_NONE = 0, KURA_ENC_PENDING = 1 };
/* Which values of a property prop_values_form returns. */
enum kura_value_form { KURA_FORM_CLEAR = 0, KURA_FORM_SEALED, KURA_FORM_UNBLINDED };

/* Built-in columns of every record, as negative property ids. */
#define KURA_COL_ID (-1)
#define KURA_COL_CREATED (-2)
#define KURA_COL_UPDATED (-3)

enum kura_val_kind { KURA_V_NULL = 0, KURA_V_INT, KURA_V_REAL, KURA_V_TEXT, KURA_V_BLOB };

struct kura_val {
	enum kura_val_kind kind;
	int64_t i;
	double d;
	const char *s;   /* KURA_V_TEXT, KURA_V_BLOB: n bytes, not necessarily NUL-terminated */
	size_t n;
};

struct kura_colval {
	int64_t prop_id;
	struct kura_val v;
	bool blind;      /* the property's blind-index column, not its value */
};

struct kura_object_row {
	int64_t id;
	char name[KURA_OBJECT_NAME_MAX + 1];
	char label_en[KURA_LABEL_MAX * 4 + 1]; /* 128 characters of UTF-8 */
	char label_ja[KURA_LABEL_MAX * 4 + 1];
	char primary_prop[KURA_PROP_NAME_MAX + 1];
	bool standard;
	int64_t created_at;
	int64_t updated_at;
};

struct kura_prop_row {
	int64_t id;
	int64_t object_id;
	char name[KURA_PROP_NAME_MAX + 1];
	char label_en[KURA_LABEL_MAX * 4 + 1]; /* 128 characters of UTF-8 */
	char label_ja[KURA_LABEL_MAX * 4 + 1];
	char type[KURA_PROP_TYPE_MAX + 1];
	bool required;
	bool unique;
	bool indexed;              /* an ordinary index; for a sensitive property its blind index */
	bool sensitive;
	bool standard;
	char classification[KURA_CLASS_MAX + 1];
	const char *description;   /* owned by the caller (writes) or the store (reads) */
	const char *options;       /* JSON array text */
	const char *validation;    /* JSON object text */
	const char *permissions;   /* JSON {"view": [...], "edit": [...]} text; "{}" = no limits */
	int enc_state;             /* KURA_ENC_* (read only: prop_enc_set writes it) */
	int64_t enc_total;         /* values held when the encryption began */
	uint32_t bidx_version;     /* data-key version the blind-index key comes from */
	uint32_t bidx_next;        /* the version a rotation moves it to; 0 = none (read only) */
	int64_t bidx_started_at;   /* when that rotation was asked for */
	int64_t archived_at;       /* 0 = live */
	int64_t created_at;
	int64_t updated_at;
};

/* One record as read: cols[i] for each property column that is not NULL. */
struct kura_record_row {
	int64_t id;
	int64_t created_at;
	int64_t updated_at;
	int64_t archived_at;       /* 0 = live */
	size_t ncols;
	const struct kura_colval *cols;
};

/* Who changed something, and through what. */
struct kura_actor {
	int type;                  /* enum kura_actor_type (kura/store.h) */
	int64_t id;
	const char *source;        /* "UI", "API", "IMPORT", "FORM", "SYSTEM" */
};

struct kura_history_row {
	int64_t id;
	int64_t record_id;         /* set by history_of_prop and history_sealed_after only */
	int64_t object_id;         /* set by history_sealed_after only */
	int64_t at;
	int actor_type;
	int64_t actor_id;
	const char *source;
	bool initial;              /* the record's creation: changes holds the first values */
	const char *changes;       /* JSON {"property": [old, new], ...}, or {"property": value} */
};

struct kura_assoc_row {
	int64_t to_id;
	const char *label;
	int64_t created_at;
};

struct kura_activity_row {
	int64_t id;
	int64_t object_id;
	int64_t record_id;
	const char *type;
	const char *body;
	int64_t occurred_at;
	int author_type;
	int64_t author_id;
	int64_t created_at;
};

struct kura_list_row {
	int64_t id;
	int64_t object_id;
	char name[KURA_LIST_NAME_MAX * 4 + 1]; /* 128 characters of UTF-8 */
	bool dynamic;
	const char *filter;        /* JSON filterGroups text ("" for static lists) */
	int64_t created_by;
	int64_t created_at;
	int64_t updated_at;
	int64_t size;              /* static lists: members; -1 when not counted */
};

struct kura_attachment_row {
	int64_t id;
	int64_t object_id;
	int64_t record_id;
	const uint8_t *filename;   /* ciphertext */
	size_t filename_len;
	char content_type[128];
	int64_t size;              /* bytes, in clear */
	const uint8_t *wrapped_key;
	size_t wrapped_key_len;
	int64_t created_by;
	int64_t created_at;
};

/*
 * Values sealed under a tenant's data key outside the record tables and
 * the history, by kind: re-sealed after a data-key rotation, counted before
 * an old version is retired.
 */
enum kura_sealed_kind {
	KURA_SEALED_MFA_SECRET = 0,    /* mfa_totp.secret; id = the user */
	KURA_SEALED_ATTACHMENT_KEY,    /* attachments.wrapped_key; id = the attachment */
	KURA_SEALED_ATTACHMENT_NAME,   /* attachments.filename */
	KURA_SEALED__COUNT
};

struct kura_sealed_row {
	int64_t id;
	int64_t object_id;         /* attachments */
	int64_t record_id;         /* attachments */
	const uint8_t *ct;
	size_t n;
};

typedef bool (*kura_sealed_cb)(void *ctx, const struct kura_sealed_row *r); /* false stops */

/* Search: OR of groups, AND of filters inside a group. */
enum kura_filter_op {
	KURA_OP_EQ = 0, KURA_OP_NEQ, KURA_OP_LT, KURA_OP_LTE, KURA_OP_GT, KURA_OP_GTE,
	KURA_OP_BETWEEN, KURA_OP_IN, KURA_OP_NOT_IN, KURA_OP_HAS, KURA_OP_NOT_HAS,
	KURA_OP_CONTAINS_TOKEN, KURA_OP_STARTS_WITH,
};

struct kura_filter {
	int64_t prop_id;
	bool blind;                /* compare the property's blind-index column */
	bool indexed;              /* the column has an ordinary index of its own (not partial) */
	enum kura_filter_op op;
	struct kura_val v;         /* EQ .. GTE, BETWEEN (low), CONTAINS_TOKEN, STARTS_WITH */
	struct kura_val v2;        /* BETWEEN (high) */
	const struct kura_val *vals; /* IN, NOT_IN */
	size_t nvals;
};

struct kura_filter_group {
	const struct kura_filter *filters;
	size_t n;
};

struct kura_sort {
	int64_t prop_id;           /* a property, or KURA_COL_* */
	bool desc;
};

#define KURA_SEARCH_SORTS_MAX 2

struct kura_search {
	int64_t object_id;
	const struct kura_filter_group *groups;
	size_t ngroups;
	const char *match;         /* FTS5 expression built by core/, or NULL */
	struct kura_sort sorts[KURA_SEARCH_SORTS_MAX];
	size_t nsorts;             /* ties are always broken by id ascending */
	int64_t list_id;           /* only members of this static list; 0 = any */
	int64_t after_id;          /* keyset paging by id (no sorts only): id > after_id */
	unsigned offset;           /* paging with sorts */
	unsigned limit;
	unsigned count_cap;        /* count matches up to this; 0 = do not count */
	bool archived;             /* search archived records instead of live ones */
};

typedef bool (*kura_object_row_cb)(void *ctx, const struct kura_object_row *o);
typedef bool (*kura_prop_row_cb)(void *ctx, const struct kura_prop_row *p);

/*
 * An index over two to KURA_INDEX_PROPS_MAX properties of one object type,
 * in column order: a search whose filters hold an equality on each of its
 * first columns and any indexable filter on the next reads one range of it.
 */
#define KURA_INDEX_PROPS_MAX 4
#define KURA_INDEXES_PER_OBJECT_MAX 10
struct kura_index_row {
	int64_t id;
	int64_t object_id;
	size_t nprops;
	int64_t props[KURA_INDEX_PROPS_MAX];
	int64_t created_at;
};
typedef bool (*kura_index_row_cb)(void *ctx, const struct kura_index_row *ix);
typedef bool (*kura_record_row_cb)(void *ctx, const struct kura_record_row *r);
typedef bool (*kura_history_row_cb)(void *ctx, const struct kura_history_row *h);
typedef bool (*kura_assoc_row_cb)(void *ctx, const struct kura_assoc_row *a);
typedef bool (*kura_activity_row_cb)(void *ctx, const struct kura_activity_row *a);
typedef bool (*kura_list_row_cb)(void *ctx, const struct kura_list_row *l);
typedef bool (*kura_colval_cb)(void *ctx, int64_t record_id, const struct kura_val *v);
typedef bool (*kura_attachment_cb)(void *ctx, const struct kura_attachment_row *a);

/*
 * The back end's CRM functions. `conn` is the tenant connection of a
 * handle. Unless said otherwise: KURA_E_NOT_FOUND when the named row does
 * not exist; writes join the open transaction (callers begin one).
 */
struct kura_crm_ops {
	/* The catalogue's version (grows with each change of it). */
	enum kura_err (*catalog_version)(void *conn, int64_t *version);
	/* Every object type, then every property (archived ones too), by id. */
	enum kura_err (*object_list)(void *conn, kura_object_row_cb cb, void *ctx);
	enum kura_err (*prop_list)(void *conn, kura_prop_row_cb cb, void *ctx);
	/* Creates the type (o->id set) with its record table and text index. KURA_E_EXISTS: name taken. */
	enum kura_err (*object_create)(void *conn, struct kura_object_row *o);
	/*
	 * Adds the property (p->id set) and its column, and its index when
	 * indexed or unique; a sensitive one also gets its blind-index column
	 * (b_<id>), indexed when p->indexed.
	 */
	enum kura_err (*prop_create)(void *conn, struct kura_prop_row *p);
	/*
	 * Writes p's metadata (labels, type, flags, texts; by p->id) and brings
	 * the column's index in line with p->indexed / p->unique, or for a
	 * sensitive property its blind index (a blind index that goes is
	 * emptied: its values are set NULL).
	 * KURA_E_CONFLICT when a unique index cannot be built (duplicates).
	 */
	enum kura_err (*prop_update)(void *conn, const struct kura_prop_row *p);
	/* The object type's indexes over several properties, by id. */
	enum kura_err (*index_list)(void *conn, int64_t object_id, kura_index_row_cb cb,
				    void *ctx);
	/*
	 * Records the index and builds it (ix->id set). KURA_E_EXISTS when the
	 * type has one over the same properties in the same order.
	 */
	enum kura_err (*index_create)(void *conn, struct kura_index_row *ix);
	/* Drops the type's index of that id; *ix (when given) is what it was. */
	enum kura_err (*index_drop)(void *conn, int64_t object_id, int64_t id,
				    struct kura_index_row *ix);

	/*
	 * Inserts a record with these values (created_at = updated_at = now),
	 * its full-text body (NULL: none). *id > 0 on entry chooses the id (from
	 * record_ids); 0 lets the store number it; *id is the record's id on
	 * return. KURA_E_EXISTS when a unique property is taken: *dup_prop
	 * names it; KURA_E_CONFLICT when the chosen id is (a writer outside
	 * this process numbered a record meanwhile: record_ids with resync).
	 */
	enum kura_err (*record_insert)(void *conn, int64_t object_id, int64_t now, int64_t actor_id,
				       const struct kura_colval *cols, size_t n, const char *fts,
				       int64_t *id, int64_t *dup_prop);
	/*
	 * Sets these values of a live record (updated_at = now); a non-NULL fts
	 * replaces its full-text body. KURA_E_EXISTS / *dup_prop as insert.
	 */
	enum kura_err (*record_update)(void *conn, int64_t object_id, int64_t id, int64_t now,
				       const struct kura_colval *cols, size_t n, const char *fts,
				       int64_t *dup_prop);
	/* The id the next insert into the type will get (never one used before). */
	enum kura_err (*record_next_id)(void *conn, int64_t object_id, int64_t *id);
	/*
	 * Reserves n consecutive record ids of the type, *first on, inside a
	 * transaction or outside one: no other call of this process gets them,
	 * and they lie past every id the table held when the type was first
	 * asked for (record_next_id) -- or, with resync, now. A record sealed
	 * before its transaction (its ciphertexts are bound to its id) is
	 * numbered so; the ids of a transaction that fails stay unused.
	 */
	enum kura_err (*record_ids)(void *conn, int64_t object_id, unsigned n, bool resync,
				    int64_t *first);
	/* One record; with archived false an archived record is KURA_E_NOT_FOUND. */
	enum kura_err (*record_get)(void *conn, int64_t object_id, int64_t id, bool archived,
				    kura_record_row_cb cb, void *ctx);
	/*
	 * Archives a live record (archived_at = now, out of the text index), or
	 * restores an archived one (archived_at cleared; fts is its body again).
	 * Restoring: KURA_E_EXISTS / *dup_prop when a unique value was taken meanwhile.
	 */
	enum kura_err (*record_archive)(void *conn, int64_t object_id, int64_t id, int64_t now);
	enum kura_err (*record_restore)(void *conn, int64_t object_id, int64_t id, int64_t now,
					const char *fts, int64_t *dup_prop);
	/*
	 * Deletes a record and everything about it (history, associations,
	 * activities, memberships, attachment rows; the caller removes the
	 * attachments' files).
	 */
	enum kura_err (*record_purge)(void *conn, int64_t object_id, int64_t id);
	/* Ids of records archived before cutoff, oldest first, at most limit. */
	enum kura_err (*record_archived_before)(void *conn, int64_t object_id, int64_t cutoff,
						unsigned limit, int64_t *ids, size_t *n);
	/*
	 * Records matching q in order (see struct kura_search), at most q->limit;
	 * *total counts matches up to q->count_cap and within a fixed budget of
	 * work (*exact false when either stopped it: a lower bound).
	 */
	enum kura_err (*search)(void *conn, const struct kura_search *q, kura_record_row_cb cb,
				void *ctx, int64_t *total, bool *exact);
	/* Replaces a record's full-text body (NULL or "": none); the record is not touched. */
	enum kura_err (*fts_set)(void *conn, int64_t object_id, int64_t id, const char *fts);
	/* Every non-NULL value of a property (archived records too), by record id. */
	enum kura_err (*prop_values)(void *conn, int64_t object_id, int64_t prop_id,
				     kura_colval_cb cb, void *ctx);
	/* Overwrites one stored value (type conversions); no history, no updated_at. */
	enum kura_err (*prop_value_set)(void *conn, int64_t object_id, int64_t prop_id, int64_t id,
					const struct kura_val *v);

	/* initial: the record's creation, changes = {"property": value, ...}. */
	enum kura_err (*history_add)(void *conn, int64_t object_id, int64_t record_id, int64_t at,
				     const struct kura_actor *a, bool initial, const char *changes);
	/* Newest first: entries with id < before (0 = newest), at most limit. */
	enum kura_err (*history_list)(void *conn, int64_t object_id, int64_t record_id,
				      int64_t before, unsigned limit, kura_history_row_cb cb, void *ctx);

	/* Both directions; label replaced when the pair exists. */
	enum kura_err (*assoc_put)(void *conn, int64_t from_obj, int64_t from_id, int64_t to_obj,
				   int64_t to_id, const char *label, int64_t now);
	enum kura_err (*assoc_delete)(void *conn, int64_t from_obj, int64_t from_id, int64_t to_obj,
				      int64_t to_id);
	/* Associated live records of type to_obj with id > after, by id, at most limit. */
	enum kura_err (*assoc_list)(void *conn, int64_t from_obj, int64_t from_id, int64_t to_obj,
				    int64_t after, unsigned limit, kura_assoc_row_cb cb, void *ctx);

	enum kura_err (*activity_add)(void *conn, struct kura_activity_row *a);
	enum kura_err (*activity_list)(void *conn, int64_t object_id, int64_t record_id,
				       int64_t before, unsigned limit, kura_activity_row_cb cb,
				       void *ctx);

	enum kura_err (*list_create)(void *conn, struct kura_list_row *l);
	enum kura_err (*list_get)(void *conn, int64_t id, kura_list_row_cb cb, void *ctx);
	enum kura_err (*list_all)(void *conn, kura_list_row_cb cb, void *ctx);
	enum kura_err (*list_update)(void *conn, const struct kura_list_row *l);
	enum kura_err (*list_delete)(void *conn, int64_t id);
	/* Adds / removes live records of the list's type; *changed counts rows added / removed. */
	enum kura_err (*list_members_add)(void *conn, int64_t list_id, int64_t object_id,
					  const int64_t *ids, size_t n, int64_t now, int64_t *changed);
	enum kura_err (*list_members_remove)(void *conn, int64_t list_id, const int64_t *ids,
					     size_t n, int64_t *changed);

	/* A stored reply for (actor, key); KURA_E_NOT_FOUND when none newer than min_created. */
	enum kura_err (*idem_get)(void *conn, int actor_type, int64_t actor_id, const char *key,
				  int64_t min_created, uint8_t body_hash[32], int *status,
				  char **response /* malloc'd */);
	enum kura_err (*idem_put)(void *conn, int actor_type, int64_t actor_id, const char *key,
				  const uint8_t body_hash[32], int status, const char *response,
				  int64_t now);
	/* Drops replies older than cutoff. */
	enum kura_err (*idem_expire)(void *conn, int64_t cutoff);
	/*
	 * Sensitive values by the data-key version in their ciphertext (bytes
	 * 2..5): counts per version, and values not yet under `version` of
	 * records after after_id (at most limit, by id) for re-encryption.
	 */
	enum kura_err (*prop_key_versions)(void *conn, int64_t object_id, int64_t prop_id,
					   void (*cb)(void *ctx, uint32_t version, int64_t n),
					   void *ctx);
	enum kura_err (*prop_values_stale)(void *conn, int64_t object_id, int64_t prop_id,
					   uint32_t version, int64_t after_id, unsigned limit,
					   kura_colval_cb cb, void *ctx);
	/*
	 * Turning the sensitive flag (or the blind index) of a property that
	 * holds values. Values by form, by id, at most limit (archived records
	 * too): KURA_FORM_CLEAR the values in clear, KURA_FORM_SEALED the
	 * ciphertexts (BLOBs), KURA_FORM_UNBLINDED the ciphertexts without a
	 * blind index (it was turned on while they existed).
	 */
	enum kura_err (*prop_values_form)(void *conn, int64_t object_id, int64_t prop_id,
					  enum kura_value_form form, unsigned limit,
					  kura_colval_cb cb, void *ctx);
	/* Sets a value and its blind index (NULL or KURA_V_NULL: none); no history. */
	enum kura_err (*prop_value_put)(void *conn, int64_t object_id, int64_t prop_id, int64_t id,
					const struct kura_val *v, const struct kura_val *blind);
	/*
	 * History entries of the type whose value(s) for the property named
	 * are sealed ({"$enc": ...}), or in clear, by id, at most limit;
	 * record_id is set in the rows. history_set replaces an entry's changes.
	 */
	enum kura_err (*history_of_prop)(void *conn, int64_t object_id, const char *name,
					 bool sealed, unsigned limit, kura_history_row_cb cb,
					 void *ctx);
	enum kura_err (*history_set)(void *conn, int64_t id, const char *changes);
	/*
	 * History entries of every type holding a sealed value ({"$enc": ...}),
	 * with id > after_id, by id, at most limit; record_id and object_id set.
	 * For re-encrypting them after a data-key rotation.
	 */
	enum kura_err (*history_sealed_after)(void *conn, int64_t after_id, unsigned limit,
					      kura_history_row_cb cb, void *ctx);
	/*
	 * The property's encryption state (KURA_ENC_*), values encrypted so
	 * far and values held when it began. enc_set sets state and total
	 * (done back to 0) and is a catalogue change; enc_step adds to done.
	 */
	enum kura_err (*prop_enc_get)(void *conn, int64_t prop_id, int *state, int64_t *done,
				      int64_t *total);
	enum kura_err (*prop_enc_set)(void *conn, int64_t prop_id, int state, int64_t total);
	enum kura_err (*prop_enc_step)(void *conn, int64_t prop_id, int64_t done);
	/*
	 * Rotating a blind-index key (tenant migration 13). bidx_set sets the
	 * property's version, next version (0 = none) and start time; a
	 * catalogue change. blind_stale: rows whose index value lies outside
	 * [lo, hi) (not yet under the new key), by id, at most limit, with the
	 * value's ciphertext. blind_put_if sets a row's index value only while
	 * its ciphertext is still ct (a write meanwhile wrote its own).
	 */
	/*
	 * Sealed values of a kind (enum kura_sealed_kind) not under `version`,
	 * by id, at most limit; sealed_replace swaps one for its re-sealed form
	 * only while it is still ct (KURA_OK either way); sealed_versions counts
	 * them per version. idem_older counts stored Idempotency-Key replies
	 * made before `before` (they are sealed too, and expire in a day).
	 */
	enum kura_err (*sealed_stale)(void *conn, int kind, uint32_t version, unsigned limit,
				      kura_sealed_cb cb, void *ctx);
	enum kura_err (*sealed_replace)(void *conn, int kind, int64_t id, const uint8_t *ct,
					size_t n, const uint8_t *nct, size_t nn);
	enum kura_err (*sealed_versions)(void *conn, int kind,
					 void (*cb)(void *ctx, uint32_t version, int64_t n),
					 void *ctx);
	enum kura_err (*idem_older)(void *conn, int64_t before, int64_t *n);
	enum kura_err (*prop_bidx_set)(void *conn, int64_t prop_id, uint32_t version,
				       uint32_t next, int64_t started_at);
	enum kura_err (*prop_blind_stale)(void *conn, int64_t object_id, int64_t prop_id,
					  int64_t lo, int64_t hi, unsigned limit,
					  kura_colval_cb cb, void *ctx);
	enum kura_err (*prop_blind_put_if)(void *conn, int64_t object_id, int64_t prop_id,
					   int64_t id, const struct kura_val *ct, int64_t blind);
	/* Merges the type's text index, so that deleted bodies leave no words behind. */
	enum kura_err (*fts_optimize)(void *conn, int64_t object_id);
	/*
	 * Attachments: the row (a->id is chosen by attachment_next_id, in the
	 * same transaction, because the ciphertext is bound to it), and its
	 * file, files/<id>.bin beside the tenant's database (written whole,
	 * 0600, replaced atomically; read whole, malloc'd).
	 */
	enum kura_err (*attachment_next_id)(void *conn, int64_t *id);
	enum kura_err (*attachment_add)(void *conn, const struct kura_attachment_row *a);
	enum kura_err (*attachment_list)(void *conn, int64_t object_id, int64_t record_id,
					 kura_attachment_cb cb, void *ctx);
	enum kura_err (*attachment_get)(void *conn, int64_t object_id, int64_t record_id,
					int64_t id, kura_attachment_cb cb, void *ctx);
	enum kura_err (*attachment_delete)(void *conn, int64_t object_id, int64_t record_id,
					   int64_t id);
	enum kura_err (*file_put)(void *conn, int64_t id, const uint8_t *data, size_t len);
	enum kura_err (*file_get)(void *conn, int64_t id, uint8_t **data, size_t *len);
	/* Inside a transaction the file goes when it commits, never if it rolls back. */
	enum kura_err (*file_delete)(void *conn, int64_t id);
	/* Refreshes the query planner's statistics. */
	enum kura_err (*optimize)(void *conn);
};

extern const struct kura_crm_ops kura_store_sqlite_crm_ops;

/*
 * The CRM functions of db's back end and the connection to pass them, or
 * NULL (conn NULL) when db is NULL.
 */
const struct kura_crm_ops *kura_store_crm(struct kura_tenant_db *db, void **conn);

#endif
