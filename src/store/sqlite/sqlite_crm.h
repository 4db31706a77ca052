/*
 * Private to the SQLite back end: the customer-database functions
 * (kura/store_crm.h) of crm_catalog.c, crm_records.c and crm_misc.c.
 */
#ifndef KURA_STORE_SQLITE_CRM_H
#define KURA_STORE_SQLITE_CRM_H

#include "sqlite_int.h"
#include "kura/store_crm.h"

/* A write whose parameters are n integers (?1 .. ?n); need_row as kura_sqlite_write. */
enum kura_err kura_sqlite_crm_write_ids(struct kura_sqlite_conn *c, const char *sql, const char *op,
					bool need_row, size_t n, const int64_t *ids);
/* Registers kura_mark(), the search's bitmap marker, on a connection; an SQLite result code. */
int kura_sqlite_crm_functions(sqlite3 *db);
/*
 * The limits of a search by index intersection (crm_records.c): ids in its
 * first set, index entries read for all its sets, candidates counted row by
 * row before the total is estimated, rows in that estimate's sample, and the
 * matches that end the sample early.
 */
struct kura_sqlite_set_limits {
	int64_t set_max, mark_budget, rows_exact, sample, sample_hits;
};
/* Sets them for the process (NULL: the defaults); for tests, while no search runs. */
void kura_sqlite_crm_set_limits(const struct kura_sqlite_set_limits *l);
/* Searches answered by index intersection since the process started (for tests). */
unsigned long kura_sqlite_crm_searches_by_sets(void);
/* Of those, the searches whose first set came from an index over several properties. */
unsigned long kura_sqlite_crm_searches_by_multi(void);
/* Runs DDL or another statement without results. */
enum kura_err kura_sqlite_crm_exec(struct kura_sqlite_conn *c, const char *sql, const char *op);

enum kura_err kura_sqlite_crm_catalog_version(void *conn, int64_t *version);
enum kura_err kura_sqlite_crm_object_list(void *conn, kura_object_row_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_prop_list(void *conn, kura_prop_row_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_object_create(void *conn, struct kura_object_row *o);
enum kura_err kura_sqlite_crm_prop_create(void *conn, struct kura_prop_row *p);
enum kura_err kura_sqlite_crm_prop_update(void *conn, const struct kura_prop_row *p);
enum kura_err kura_sqlite_crm_index_list(void *conn, int64_t object_id, kura_index_row_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_index_create(void *conn, struct kura_index_row *ix);
enum kura_err kura_sqlite_crm_index_drop(void *conn, int64_t object_id, int64_t id, struct kura_index_row *ix);
enum kura_err kura_sqlite_crm_record_insert(void *conn, int64_t object_id, int64_t now, int64_t actor_id, const struct kura_colval *cols, size_t n, const char *fts, int64_t *id, int64_t *dup_prop);
enum kura_err kura_sqlite_crm_record_update(void *conn, int64_t object_id, int64_t id, int64_t now, const struct kura_colval *cols, size_t n, const char *fts, int64_t *dup_prop);
enum kura_err kura_sqlite_crm_record_get(void *conn, int64_t object_id, int64_t id, bool archived, kura_record_row_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_record_archive(void *conn, int64_t object_id, int64_t id, int64_t now);
enum kura_err kura_sqlite_crm_record_restore(void *conn, int64_t object_id, int64_t id, int64_t now, const char *fts, int64_t *dup_prop);
enum kura_err kura_sqlite_crm_record_purge(void *conn, int64_t object_id, int64_t id);
enum kura_err kura_sqlite_crm_record_archived_before(void *conn, int64_t object_id, int64_t cutoff, unsigned limit, int64_t *ids, size_t *n);
enum kura_err kura_sqlite_crm_search(void *conn, const struct kura_search *q, kura_record_row_cb cb, void *ctx, int64_t *total, bool *exact);
enum kura_err kura_sqlite_crm_fts_set(void *conn, int64_t object_id, int64_t id, const char *fts);
enum kura_err kura_sqlite_crm_prop_values(void *conn, int64_t object_id, int64_t prop_id, kura_colval_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_prop_value_set(void *conn, int64_t object_id, int64_t prop_id, int64_t id, const struct kura_val *v);
enum kura_err kura_sqlite_crm_history_add(void *conn, int64_t object_id, int64_t record_id, int64_t at, const struct kura_actor *a, bool initial, const char *changes);
enum kura_err kura_sqlite_crm_history_list(void *conn, int64_t object_id, int64_t record_id, int64_t before, unsigned limit, kura_history_row_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_assoc_put(void *conn, int64_t from_obj, int64_t from_id, int64_t to_obj, int64_t to_id, const char *label, int64_t now);
enum kura_err kura_sqlite_crm_assoc_delete(void *conn, int64_t from_obj, int64_t from_id, int64_t to_obj, int64_t to_id);
enum kura_err kura_sqlite_crm_assoc_list(void *conn, int64_t from_obj, int64_t from_id, int64_t to_obj, int64_t after, unsigned limit, kura_assoc_row_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_activity_add(void *conn, struct kura_activity_row *a);
enum kura_err kura_sqlite_crm_activity_list(void *conn, int64_t object_id, int64_t record_id, int64_t before, unsigned limit, kura_activity_row_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_list_create(void *conn, struct kura_list_row *l);
enum kura_err kura_sqlite_crm_list_get(void *conn, int64_t id, kura_list_row_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_list_all(void *conn, kura_list_row_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_list_update(void *conn, const struct kura_list_row *l);
enum kura_err kura_sqlite_crm_list_delete(void *conn, int64_t id);
enum kura_err kura_sqlite_crm_list_members_add(void *conn, int64_t list_id, int64_t object_id, const int64_t *ids, size_t n, int64_t now, int64_t *changed);
enum kura_err kura_sqlite_crm_list_members_remove(void *conn, int64_t list_id, const int64_t *ids, size_t n, int64_t *changed);
enum kura_err kura_sqlite_crm_idem_get(void *conn, int actor_type, int64_t actor_id, const char *key, int64_t min_created, uint8_t body_hash[32], int *status, char **response);
enum kura_err kura_sqlite_crm_idem_put(void *conn, int actor_type, int64_t actor_id, const char *key, const uint8_t body_hash[32], int status, const char *response, int64_t now);
enum kura_err kura_sqlite_crm_idem_expire(void *conn, int64_t cutoff);
enum kura_err kura_sqlite_crm_optimize(void *conn);
enum kura_err kura_sqlite_crm_record_next_id(void *conn, int64_t object_id, int64_t *id);
enum kura_err kura_sqlite_crm_record_ids(void *conn, int64_t object_id, unsigned n, bool resync,
					 int64_t *first);

enum kura_err kura_sqlite_crm_prop_key_versions(void *conn, int64_t object_id, int64_t prop_id,
						void (*cb)(void *ctx, uint32_t version, int64_t n),
						void *ctx);
enum kura_err kura_sqlite_crm_prop_values_stale(void *conn, int64_t object_id, int64_t prop_id,
					       uint32_t version, int64_t after_id, unsigned limit,
					       kura_colval_cb cb, void *ctx);

/* crm_enc.c */
enum kura_err kura_sqlite_crm_prop_values_form(void *conn, int64_t object_id, int64_t prop_id,
					       enum kura_value_form form, unsigned limit,
					       kura_colval_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_prop_value_put(void *conn, int64_t object_id, int64_t prop_id,
					     int64_t id, const struct kura_val *v,
					     const struct kura_val *blind);
enum kura_err kura_sqlite_crm_history_of_prop(void *conn, int64_t object_id, const char *name,
					      bool sealed, unsigned limit, kura_history_row_cb cb,
					      void *ctx);
enum kura_err kura_sqlite_crm_history_set(void *conn, int64_t id, const char *changes);
enum kura_err kura_sqlite_crm_prop_enc_get(void *conn, int64_t prop_id, int *state, int64_t *done,
					   int64_t *total);
enum kura_err kura_sqlite_crm_prop_enc_set(void *conn, int64_t prop_id, int state, int64_t total);
/* A catalogue change: requests load the catalogue again with their next one. */
enum kura_err kura_sqlite_crm_catalog_bump(struct kura_sqlite_conn *c);
/*
 * Steps st, whose rows are (id, a value of any storage class), calling cb
 * with each until it returns false; op names the call in errors. The
 * caller finishes st.
 */
enum kura_err kura_sqlite_crm_each_id_val(struct kura_sqlite_conn *c, sqlite3_stmt *st,
					  const char *op, kura_colval_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_history_sealed_after(void *conn, int64_t after_id, unsigned limit,
						   kura_history_row_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_sealed_stale(void *conn, int kind, uint32_t version, unsigned limit,
					   kura_sealed_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_sealed_replace(void *conn, int kind, int64_t id, const uint8_t *ct,
					     size_t n, const uint8_t *nct, size_t nn);
enum kura_err kura_sqlite_crm_sealed_versions(void *conn, int kind,
					      void (*cb)(void *ctx, uint32_t version, int64_t n),
					      void *ctx);
enum kura_err kura_sqlite_crm_idem_older(void *conn, int64_t before, int64_t *n);
enum kura_err kura_sqlite_crm_prop_bidx_set(void *conn, int64_t prop_id, uint32_t version,
					    uint32_t next, int64_t started_at);
enum kura_err kura_sqlite_crm_prop_blind_stale(void *conn, int64_t object_id, int64_t prop_id,
					       int64_t lo, int64_t hi, unsigned limit,
					       kura_colval_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_prop_blind_put_if(void *conn, int64_t object_id, int64_t prop_id,
						int64_t id, const struct kura_val *ct,
						int64_t blind);
enum kura_err kura_sqlite_crm_prop_enc_step(void *conn, int64_t prop_id, int64_t done);
enum kura_err kura_sqlite_crm_fts_optimize(void *conn, int64_t object_id);

enum kura_err kura_sqlite_crm_attachment_next_id(void *conn, int64_t *id);
enum kura_err kura_sqlite_crm_attachment_add(void *conn, const struct kura_attachment_row *a);
enum kura_err kura_sqlite_crm_attachment_list(void *conn, int64_t object_id, int64_t record_id,
					      kura_attachment_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_attachment_get(void *conn, int64_t object_id, int64_t record_id,
					     int64_t id, kura_attachment_cb cb, void *ctx);
enum kura_err kura_sqlite_crm_attachment_delete(void *conn, int64_t object_id, int64_t record_id,
						int64_t id);
enum kura_err kura_sqlite_crm_file_put(void *conn, int64_t id, const uint8_t *data, size_t len);
enum kura_err kura_sqlite_crm_file_get(void *conn, int64_t id, uint8_t **data, size_t *len);
enum kura_err kura_sqlite_crm_file_delete(void *conn, int64_t id);

#endif
