/*
 * core/: the customer database's rules, between api/ (HTTP, JSON in and
 * out) and store/ (SQL). The catalogue of object types and properties,
 * typed values and their validation, the full-text form of records,
 * record writes with their property history, and search requests.
 *
 * Nothing here knows HTTP. Errors are enum kura_err; validation problems
 * are appended to a caller's JSON array as {"field","code","message"}.
 */
#ifndef KURA_CORE_H
#define KURA_CORE_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kura/buf.h"
#include "kura/err.h"
#include "kura/store.h"

enum kura_ptype {
	KURA_PT_STRING = 0, KURA_PT_TEXT, KURA_PT_NUMBER, KURA_PT_BOOL, KURA_PT_DATE,
	KURA_PT_DATETIME, KURA_PT_ENUM, KURA_PT_EMAIL, KURA_PT_PHONE, KURA_PT_URL,
	KURA_PT__COUNT
};

/* Character classes a property may restrict its values to (validation.characterClasses). */
enum {
	KURA_CC_DIGITS = 1 << 0, KURA_CC_LATIN = 1 << 1, KURA_CC_HIRAGANA = 1 << 2,
	KURA_CC_KATAKANA = 1 << 3, KURA_CC_KANJI = 1 << 4, KURA_CC_FULLWIDTH = 1 << 5,
	KURA_CC_HALFWIDTH_KATAKANA = 1 << 6, KURA_CC_SPACE = 1 << 7, KURA_CC_SYMBOLS = 1 << 8,
};

#define KURA_STRING_MAX_CHARS 1024     /* string, email, phone, url, enumeration */
#define KURA_TEXT_MAX_CHARS 65536      /* text */
#define KURA_PROPS_PER_OBJECT_MAX 500
#define KURA_OBJECTS_CUSTOM_MAX 50
#define KURA_ENUM_OPTIONS_MAX 500

struct kura_prop {
	struct kura_prop_row row;  /* description/options/validation point into the fields below */
	enum kura_ptype type;
	char *description;
	char *options_text;
	char *validation_text;
	json_t *options;           /* array of {"value","labels"} */
	/* validation, parsed */
	int64_t min_len, max_len;  /* characters; 0 = none */
	bool has_min, has_max;
	double min, max;
	unsigned classes;          /* KURA_CC_* bits; 0 = any */
	bool has_pattern;
	regex_t pattern;
	bool searchable;           /* its values enter the full-text index */
	/* field-level permissions (sensitive properties): KURA_ROLE_* bits; 0 = every role */
	char *permissions_text;
	unsigned view_roles;
	unsigned edit_roles;
	/*
	 * Grants beyond the built-in roles: ",<custom role>,team:<id>," (commas
	 * around every entry, for matching); NULL when none.
	 */
	char *view_extra;
	char *edit_extra;
};

/* Built-in roles as bits, for field-level permissions. Super admins always may. */
enum {
	KURA_ROLE_SUPER_ADMIN = 1 << 0, KURA_ROLE_ADMIN = 1 << 1, KURA_ROLE_MEMBER = 1 << 2,
	KURA_ROLE_READ_ONLY = 1 << 3,
};
/* The bit of a role name; 0 for an unknown one. */
unsigned kura_role_bit(const char *role);
/*
 * Whether a caller of role, member of teams (",<id>,<id>," or NULL), may
 * see / change p's values.
 */
bool kura_prop_can_view(const struct kura_prop *p, const char *role, const char *teams);
bool kura_prop_can_edit(const struct kura_prop *p, const char *role, const char *teams);
/*
 * Checks one grantee of a "permissions" list: a built-in role, a custom
 * role name ([a-z][a-z0-9_]{1,31}) or "team:<id>". *team_id is set for a
 * team (0 otherwise); *builtin for a built-in role.
 */
bool kura_grantee_parse(const char *s, bool *builtin, int64_t *team_id);

struct kura_object {
	struct kura_object_row row;
	struct kura_prop **props;  /* live properties, in id order */
	size_t nprops;
};

struct kura_catalog {
	int64_t version;
	struct kura_object *objects;
	size_t nobjects;
	struct kura_prop *props;   /* every property, archived ones too */
	size_t nprops;
	bool team_grants;          /* some property grants access to a team */
	int refs;                  /* guarded by the cache's lock */
};

struct kura_catalog_cache;

/* A cache of the catalogues of all tenants, checked against each catalogue's version. */
enum kura_err kura_catalog_cache_new(struct kura_catalog_cache **out);
void kura_catalog_cache_free(struct kura_catalog_cache *c); /* NULL is a no-op */

/*
 * The catalogue of db's tenant (cache may be NULL: read every time). The
 * result is shared and read-only; give it back with kura_catalog_release.
 */
enum kura_err kura_catalog_get(struct kura_catalog_cache *cache, struct kura_tenant_db *db,
			       const struct kura_catalog **out);
/* The same, with the catalogue's version already read (version > 0; 0 = read it here). */
enum kura_err kura_catalog_get_at(struct kura_catalog_cache *cache, struct kura_tenant_db *db,
				  int64_t version, const struct kura_catalog **out);
void kura_catalog_release(struct kura_catalog_cache *cache, const struct kura_catalog *cat);

const struct kura_object *kura_catalog_object(const struct kura_catalog *cat, const char *name);
/* A live property of o by name, or NULL. */
const struct kura_prop *kura_object_prop(const struct kura_object *o, const char *name);
/* Any property (archived too) by id, or NULL. */
const struct kura_prop *kura_catalog_prop_by_id(const struct kura_catalog *cat, int64_t id);
/* The object type of that id, archived properties' types too; NULL when none. */
const struct kura_object *kura_catalog_object_by_id(const struct kura_catalog *cat, int64_t id);

/* "string" ... "url" <-> enum kura_ptype; -1 when unknown. */
int kura_ptype_parse(const char *s);
const char *kura_ptype_name(enum kura_ptype t);

/*
 * Fills p's parsed fields from p->row (options, validation). false with a
 * message in err when the stored or given texts are not valid.
 */
bool kura_prop_compile(struct kura_prop *p, char *err, size_t n);
void kura_prop_clear(struct kura_prop *p);

/* --- values --- */

/* Strings made while converting values; freed together. */
struct kura_strpool {
	char **s;
	size_t n, cap;
};
void kura_strpool_free(struct kura_strpool *sp);
char *kura_strpool_dup(struct kura_strpool *sp, const char *s, size_t n);

/*
 * Converts a JSON value for property p into its stored form in out
 * (null -> KURA_V_NULL). With rules, p's validation applies too (lengths,
 * pattern, classes, range, options). On a problem appends a detail naming
 * p and returns false.
 */
bool kura_value_from_json(const struct kura_prop *p, json_t *in, bool rules,
			  struct kura_strpool *sp, struct kura_val *out, json_t *details);
/* The JSON of a stored value of p (new reference). */
json_t *kura_value_to_json(const struct kura_prop *p, const struct kura_val *v);
bool kura_val_equal(const struct kura_val *a, const struct kura_val *b);

/* --- full text --- */

/*
 * The text index body of a record: its searchable values, with runs of
 * Japanese (and other CJK) characters written as overlapping pairs so
 * that any substring of them is found.
 */
enum kura_err kura_fts_body(const struct kura_object *o, const struct kura_colval *cols,
			    size_t n, struct kura_buf *out);
/* The FTS5 expression for a user's query; KURA_E_VALIDATION when it has no word. */
enum kura_err kura_fts_query(const char *q, struct kura_buf *out);

/* --- records --- */

struct kura_field_keys;

struct kura_rec_ctx {
	struct kura_tenant_db *db;
	const struct kura_catalog *cat;
	const struct kura_object *obj;
	struct kura_actor actor;
	int64_t now;
	/* sensitive properties (NULL keys: they can be neither read nor written) */
	struct kura_field_keys *keys;
	uint32_t key_version;      /* the tenant's current data key: new ciphertexts use it */
	json_t *sensitive_reads;   /* when set, [{"id", "props"}] of every decrypted read */
	const char *role;          /* the caller's role, for field-level permissions; NULL = all */
	const char *teams;         /* the caller's teams (",<id>,"), when cat->team_grants */
};

/*
 * Creates a record from a "properties" JSON object, with its history
 * entry, inside the caller's transaction. KURA_E_VALIDATION with details
 * for bad input; KURA_E_EXISTS with a "not_unique" detail for a taken
 * unique value. rec (may be NULL) receives the record's JSON.
 */
enum kura_err kura_record_create(const struct kura_rec_ctx *x, json_t *properties,
				 json_t *details, int64_t *id, json_t **rec);
/*
 * A create in steps, so that a batch does its validation, JSON and
 * encryption work outside the write transaction: draft_make validates and
 * converts (no store access; details as for kura_record_create),
 * drafts_number gives drafts their ids and seals their sensitive values
 * (bound to the id), draft_store inserts the record and its history inside
 * the caller's transaction (numbering and sealing it there if
 * drafts_number did not), draft_json is the stored record's JSON. A draft
 * points into the JSON it was made from, which must outlive it.
 */
struct kura_record_draft {
	struct kura_colval *cols;
	size_t n;
	struct kura_strpool sp;
	struct kura_buf fts;
	json_t *props;             /* the stored values as the API shows them */
	char *changes;             /* props as JSON text: the creation's history entry */
	int64_t id;                /* from drafts_number; 0 until then */
	struct kura_colval *sealed; /* cols with each sensitive value sealed; NULL: none */
	size_t nsealed;
	char *sealed_history;      /* changes with ciphertexts in place of sensitive values */
	struct kura_strpool sealed_sp;
};
enum kura_err kura_record_draft_make(const struct kura_rec_ctx *x, json_t *properties,
				     json_t *details, struct kura_record_draft *d);
/*
 * Numbers the n drafts with consecutive ids (reserved in this process:
 * record_ids; resync: past what the table holds now) and seals their
 * sensitive values. Outside a transaction or inside one.
 */
enum kura_err kura_record_drafts_number(const struct kura_rec_ctx *x,
					struct kura_record_draft *const *d, size_t n, bool resync);
/*
 * KURA_E_CONFLICT when d was numbered by drafts_number and its id is taken
 * (another process numbered records meanwhile): the caller rolls back and
 * numbers its drafts again with resync.
 */
enum kura_err kura_record_draft_store(const struct kura_rec_ctx *x, struct kura_record_draft *d,
				      json_t *details, int64_t *id);
json_t *kura_record_draft_json(const struct kura_rec_ctx *x, const struct kura_record_draft *d,
			       int64_t id);
void kura_record_draft_free(struct kura_record_draft *d); /* zeroed drafts too */

/*
 * Updates a live record from a "properties" object (null clears), writing
 * history for what changed; *changed (may be NULL) receives the names of
 * the changed properties, comma-separated, truncated to n.
 */
enum kura_err kura_record_update(const struct kura_rec_ctx *x, int64_t id, json_t *properties,
				 json_t *details, char *changed, size_t n);
/*
 * The JSON of record id: all properties with values, or only those named
 * in want (a JSON array of names; missing ones are null). With archived,
 * an archived record is found too.
 */
enum kura_err kura_record_json(const struct kura_rec_ctx *x, int64_t id, bool archived,
			       json_t *want, json_t **out);
/*
 * The JSON of a record row of x->obj (for search and lists): sensitive
 * values opened (and noted in x->sensitive_reads). NULL with *e set when one
 * does not open (KURA_E_CRYPTO: never a wrong value).
 */
json_t *kura_record_row_json(const struct kura_rec_ctx *x, const struct kura_record_row *r,
			     json_t *want, enum kura_err *e);
enum kura_err kura_record_archive(const struct kura_rec_ctx *x, int64_t id);
/* KURA_E_EXISTS (with a detail) when a unique value was taken meanwhile. */
enum kura_err kura_record_restore(const struct kura_rec_ctx *x, int64_t id, json_t *details);
enum kura_err kura_record_purge(const struct kura_rec_ctx *x, int64_t id);
/* Purges records of every type archived longer than the restore window; *n purged. */
#define KURA_RESTORE_WINDOW_US (90LL * 86400 * 1000000)
enum kura_err kura_records_sweep(struct kura_tenant_db *db, const struct kura_catalog *cat,
				 int64_t now, unsigned max, size_t *n);

/*
 * Rebuilds the full-text body of each live record holding a value of
 * prop_id, from x->obj as given (callers pass the object as it is after a
 * change of that property).
 */
enum kura_err kura_records_reindex(const struct kura_rec_ctx *x, int64_t prop_id);
/* Rebuilds the full-text body of one record (none when archived). */
enum kura_err kura_record_reindex_one(const struct kura_rec_ctx *x, int64_t id);

/* --- sensitive properties (core/sensitive.c) --- */

/*
 * A property's blind index is keyed from one version of the tenant's data
 * key, its bidx_version (1 unless rotated), so that it survives data-key
 * rotations, which re-encrypt values only. Each stored index value carries
 * that version: (version - 1) * 65536 + the 16 index bits, so that while
 * kura keys rotate-index moves a property to a newer version, values under
 * the old and the new key live side by side in one column and a search
 * looks both up. kura_blind_range gives the stored values of one version.
 */
#define KURA_BLIND_SPAN 65536
static inline int64_t
kura_blind_lo(uint32_t version)
{
	return (int64_t)(version - 1) * KURA_BLIND_SPAN;
}
/* The version new index values of p are written under: the rotation's target, if any. */
uint32_t kura_blind_write_version(const struct kura_prop *p);

/* Ciphertext (in sp) and blind index of a stored-form value of p for record_id. */
enum kura_err kura_sensitive_seal(const struct kura_rec_ctx *x, int64_t record_id,
				  const struct kura_prop *p, const struct kura_val *in,
				  struct kura_strpool *sp, struct kura_val *ct,
				  struct kura_val *blind);
/*
 * The ciphertext alone (kura_sensitive_seal without the blind index: for a
 * history entry, which needs no index -- and for dates and numbers the
 * index is an Argon2id).
 */
enum kura_err kura_sensitive_encrypt(const struct kura_rec_ctx *x, int64_t record_id,
				     const struct kura_prop *p, const struct kura_val *in,
				     struct kura_strpool *sp, struct kura_val *ct);
/* The stored-form value of a ciphertext; KURA_E_CRYPTO when it does not open. */
enum kura_err kura_sensitive_open(const struct kura_rec_ctx *x, int64_t record_id,
				  const struct kura_prop *p, const struct kura_val *ct,
				  struct kura_strpool *sp, struct kura_val *out);
/*
 * Whether p's values are few enough to guess (dates, numbers, yes/no,
 * enumerations): their blind index is the slow one (Argon2id,
 * kura_field_blind_slow). Fixed by the type, which a sensitive property
 * cannot change, so the index never has to be rebuilt.
 */
bool kura_prop_low_entropy(const struct kura_prop *p);
/* Whether p has a blind index: sensitive, and not made with "indexed": false. */
bool kura_prop_blind_indexed(const struct kura_prop *p);
/* The blind index of a stored-form value as written now (kura_blind_write_version). */
enum kura_err kura_sensitive_blind(const struct kura_rec_ctx *x, const struct kura_prop *p,
				   const struct kura_val *v, int64_t *blind);
/* The same under the key of data-key version `version`. */
enum kura_err kura_sensitive_blind_at(const struct kura_rec_ctx *x, const struct kura_prop *p,
				      const struct kura_val *v, uint32_t version, int64_t *blind);
/*
 * The index values a search for v must look up: one, or two while p's
 * index is being rotated (the old key's and the new one's). Returns how
 * many were set in out[0..1]; 0 on an error (in *err).
 */
size_t kura_sensitive_blind_lookup(const struct kura_rec_ctx *x, const struct kura_prop *p,
				   const struct kura_val *v, int64_t out[2], enum kura_err *err);
/* Where a walk of the sensitive values stands: a property (index) and a record id. */
struct kura_rekey_cursor {
	size_t prop;
	int64_t after_id;
};
/*
 * Re-encrypts up to max sensitive values that are not under the current
 * data-key version (base->key_version), from *cur on (a zeroed cursor: the
 * start), inside the caller's transaction; *done counts them and *cur moves
 * past them, so that the next call goes on where this one stopped instead of
 * reading the finished part again. Fewer than max: the walk is at its end.
 * base needs db, cat and keys (obj is chosen per value).
 */
enum kura_err kura_sensitive_rekey(const struct kura_rec_ctx *base, unsigned max,
				   struct kura_rekey_cursor *cur, size_t *done);
/*
 * The same for the history: the entries after *after_id (by id, at most
 * max, every type) that hold sealed values get those under another
 * version than base->key_version re-sealed under it, inside the caller's
 * transaction. *after_id moves past the entries read, *done counts the
 * values re-sealed, *more is false once the end of the history was read.
 * Values of archived properties are re-sealed too.
 */
enum kura_err kura_sensitive_rekey_history(const struct kura_rec_ctx *base, unsigned max,
					   int64_t *after_id, size_t *done, bool *more);
struct kura_field_ctx;
/*
 * What an attachment's wrapped file key (filename false) or its encrypted
 * name (true) is bound to: tenant, object type, record, attachment id and
 * purpose; sealed under version. name (at least 48 bytes) holds the text
 * f->name points at.
 */
void kura_attachment_field_ctx(struct kura_field_ctx *f, char *name, size_t n, const char *tenant,
			       uint32_t version, const char *object, int64_t record_id,
			       int64_t attachment_id, bool filename);
/* {"$enc": base64} of a ciphertext (history entries), and back. */
json_t *kura_sensitive_ct_json(const struct kura_val *ct);
enum kura_err kura_sensitive_ct_from_json(json_t *j, struct kura_strpool *sp,
					  struct kura_val *ct);

/* --- turning the sensitive flag of a property that holds values (core/sensitive_flag.c) --- */

/* Values (or history entries) encrypted per transaction by the job. */
#define KURA_ENC_BATCH 250
/* What a search answers while a filtered property is being encrypted. */
#define KURA_ENC_PENDING_MSG                                                                \
	"a filtered property is being encrypted or indexed (encryption.state \"pending\"): " \
	"exact search on it works once every value is encrypted and indexed"

/*
 * The flag goes on, inside the caller's transaction, after the property
 * was written sensitive: when p (as it was) holds values, marks it
 * KURA_ENC_PENDING with their count in *total (0 when it holds none: then
 * nothing is pending). x->obj is p's object.
 */
enum kura_err kura_sensitive_flag_on(const struct kura_rec_ctx *x, const struct kura_prop *p,
				     int64_t *total);
enum kura_enc_step { KURA_ENC_MORE = 0, KURA_ENC_FINISHED, KURA_ENC_IDLE };
/*
 * One transaction's worth of the job (the caller begins and finishes it):
 * encrypts up to max values of p still in clear (with their blind index,
 * and the record's text body rebuilt for a textual type), then history
 * entries holding p's values in clear. *step: MORE when some may be left,
 * FINISHED when none was (p is no longer pending: audit it in the same
 * transaction), IDLE when p was not pending (changed meanwhile). p is the
 * sensitive property; x needs db, cat, obj (p's), keys, key_version.
 */
enum kura_err kura_sensitive_flag_step(const struct kura_rec_ctx *x, const struct kura_prop *p,
				       unsigned max, size_t *done, enum kura_enc_step *step);
/*
 * The flag goes off (forced), inside the caller's transaction and before
 * the property is written non-sensitive: every ciphertext of p (as it
 * was: sensitive) is decrypted back into its column (blind index
 * cleared), and every history entry with a sealed value of p is opened;
 * a pending encryption ends. *done counts values.
 */
enum kura_err kura_sensitive_flag_off(const struct kura_rec_ctx *x, const struct kura_prop *p,
				      size_t *done);
/* The state of p (KURA_ENC_*), values encrypted so far and the count it began with. */
enum kura_err kura_sensitive_flag_progress(const struct kura_rec_ctx *x, const struct kura_prop *p,
					   int *state, int64_t *done, int64_t *total);
/* Merges x->obj's text index so that words of rewritten bodies are gone. */
enum kura_err kura_sensitive_flag_fts_purge(const struct kura_rec_ctx *x);

/* --- attachments --- */

/*
 * The allow-listed type of a file from its content (PDF, PNG, JPEG, GIF,
 * WebP, UTF-8 text; Office Open XML when declared so and zip-shaped), or
 * NULL. declared (may be NULL or application/octet-stream) only chooses
 * between types the content cannot tell apart; callers check that it
 * agrees with the result.
 */
const char *kura_sniff(const uint8_t *data, size_t n, const char *declared);

/* --- housekeeping (a thread of kurad) --- */

struct kura_housekeeper;
/*
 * A housekeeper without its thread (kura_housekeeper_start adds one): it
 * keeps, per tenant, the data-key version it has found fully re-encrypted
 * and when it last refreshed the planner statistics. keys may be NULL (no
 * re-encryption). Free with kura_housekeeper_stop.
 */
enum kura_err kura_housekeeper_new(struct kura_store *store, struct kura_field_keys *keys,
				   struct kura_housekeeper **out);
/*
 * One round over every active tenant: purge expired archived records, drop
 * old replies (both every round); re-encrypt sensitive values still under
 * an older data key, unless the tenant's current version is 1 or this
 * housekeeper already found every value under it (a scan that ran
 * KURA_REKEY_SETTLE_SECONDS after it first saw the version, so that no
 * request that started under the older key can still write); and ANALYZE
 * on the first visit, then once an hour per tenant, or sooner when the
 * tenant's records have doubled (and grown by 1,000) since the last one.
 */
void kura_housekeeping_round(struct kura_housekeeper *h);
/*
 * What the housekeeper thread does every minute between rounds (rounds
 * every housekeeping_seconds): the ANALYZE of a tenant whose records have
 * doubled since its last one, or that was never analysed and holds 1,000
 * records; nothing else.
 */
void kura_housekeeping_stats_round(struct kura_housekeeper *h);
/* Requests run well within this: after it, nothing writes under a key that is no longer current. */
#define KURA_REKEY_SETTLE_SECONDS 300
/* What the rounds of h did so far (for tests and logs). */
struct kura_housekeeping_stats {
	uint64_t rounds;
	uint64_t rekey_scans;       /* tenants scanned for values under older keys */
	uint64_t values_rekeyed;
	uint64_t analyzes;
	uint64_t values_encrypted;  /* by the jobs of properties turned sensitive */
	uint64_t access_rows_purged; /* consumer access log rows past a year */
	uint64_t blind_values_rotated; /* index values moved to a newer key */
	uint64_t history_rekeyed;   /* history values re-sealed under the current key */
	uint64_t sealed_rekeyed;    /* authenticator secrets, attachment keys and names */
};
void kura_housekeeper_stats(struct kura_housekeeper *h, struct kura_housekeeping_stats *out);
/* Runs a round every interval_s seconds until stopped; keys (may be NULL) re-encrypt. */
enum kura_err kura_housekeeper_start(struct kura_store *store, struct kura_field_keys *keys,
				     unsigned interval_s, struct kura_housekeeper **out);
/* Stops the thread (if any) and frees h. */
void kura_housekeeper_stop(struct kura_housekeeper *h); /* NULL is a no-op */

/* A record id from its text ("123"); false when malformed. */
bool kura_record_id_parse(const char *s, int64_t *id);

/* --- search --- */

#define KURA_SEARCH_GROUPS_MAX 5
#define KURA_SEARCH_FILTERS_PER_GROUP_MAX 10
#define KURA_SEARCH_FILTERS_MAX 25
#define KURA_SEARCH_VALUES_MAX 100
#define KURA_SEARCH_QUERY_MAX 200
#define KURA_SEARCH_RESULTS_MAX 10000
#define KURA_SEARCH_LIMIT_MAX 100

/* A parsed search request; owns its memory. */
struct kura_search_req {
	struct kura_search q;
	json_t *want;              /* "properties", or NULL */
	struct kura_filter_group *groups;
	struct kura_filter *filters;
	struct kura_val *vals;
	struct kura_strpool sp;
	struct kura_buf match;
};

/*
 * Parses filterGroups (and, when full is true, query, sorts, properties,
 * limit, after) from body for object o. Limits: KURA_E_BAD_REQUEST with a
 * "limit" detail naming the field; bad filters: KURA_E_VALIDATION.
 */
enum kura_err kura_search_parse(const struct kura_object *o, json_t *body, bool full,
				struct kura_search_req *s, json_t *details);
void kura_search_req_free(struct kura_search_req *s);
/* Whether s filters a sensitive property through its blind index. */
bool kura_search_has_blind(const struct kura_search_req *s);
/*
 * Runs s; *out = {"total","totalIsExact","results",["paging"]}.
 */
enum kura_err kura_search_run(const struct kura_rec_ctx *x, struct kura_search_req *s,
			      bool count, json_t **out);

/* Opaque cursors: "k" + id (keyset) or "o" + offset, base64url. */
void kura_cursor_make(char kind, int64_t n, char *out, size_t cap);
bool kura_cursor_parse(const char *s, char *kind, int64_t *n);

#endif
