/*
 * Private to the SQLite back end (src/store/sqlite/): the connection and
 * pool types, the prepared-statement cache and the helpers the resource
 * files (tenants.c, users.c, sessions.c, audit.c, notices.c) share.
 * Nothing outside this directory includes it; the rest of Kura sees only
 * include/kura/store.h.
 *
 * A connection (struct kura_sqlite_conn) belongs to one pool: the system
 * pool (system.db) or one tenant's pool (tenants/<id>/tenant.db). It is used
 * by one thread at a time, which is why it is opened with
 * SQLITE_OPEN_NOMUTEX; the pool hands it out and takes it back.
 */
#ifndef KURA_STORE_SQLITE_INT_H
#define KURA_STORE_SQLITE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "kura/err.h"
#include "kura/store.h"

/* Every statement the back end runs, one cache slot per connection each. */
enum kura_sqlite_stmt_id {
	KURA_SQ_BEGIN,
	KURA_SQ_COMMIT,
	KURA_SQ_ROLLBACK,
	KURA_SQ_PING,
	/* system.db */
	KURA_SQ_TENANT_INSERT,
	KURA_SQ_TENANT_KEY_INSERT,
	KURA_SQ_TENANT_GET,
	KURA_SQ_TENANT_LIST,
	KURA_SQ_TENANT_SET_STATUS,
	KURA_SQ_TENANT_KEY_GET,
	/* tenant.db */
	KURA_SQ_TENANT_INFO_INSERT,
	KURA_SQ_TENANT_INFO_GET,
	KURA_SQ_USER_INSERT,
	KURA_SQ_USER_GET,
	KURA_SQ_USER_GET_BY_EMAIL,
	KURA_SQ_USER_LIST,
	KURA_SQ_USER_SET_PASSWORD,
	KURA_SQ_SESSION_INSERT,
	KURA_SQ_SESSION_GET,
	KURA_SQ_SESSION_AUTH,
	KURA_SQ_SESSION_LIST_USER,
	KURA_SQ_USER_UPDATE,
	KURA_SQ_USER_DELETE,
	KURA_SQ_USER_COUNT_ROLE,
	KURA_SQ_SETTINGS_LIST,
	KURA_SQ_SETTING_PUT,
	KURA_SQ_LOCKOUT_GET,
	KURA_SQ_LOCKOUT_PUT,
	KURA_SQ_SESSION_TOUCH,
	KURA_SQ_SESSION_DELETE,
	KURA_SQ_SESSION_DELETE_USER,
	KURA_SQ_SESSION_PURGE,
	KURA_SQ_AUDIT_HEAD,
	KURA_SQ_AUDIT_INSERT,
	KURA_SQ_AUDIT_SCAN,
	/* system.db, audit seals */
	KURA_SQ_SEAL_INSERT,
	KURA_SQ_SEAL_LIST,
	/* system.db, notices */
	KURA_SQ_NOTICE_INSERT,
	KURA_SQ_NOTICE_LIST,
	/* tenant.db, API keys */
	KURA_SQ_APIKEY_INSERT,
	KURA_SQ_APIKEY_AUTH,
	KURA_SQ_APIKEY_LIST,
	KURA_SQ_APIKEY_REVOKE,
	KURA_SQ_APIKEY_TOUCH,

	KURA_SQ_PWHISTORY_INSERT,
	KURA_SQ_PWHISTORY_PRUNE,
	KURA_SQ_PWHISTORY_LIST,
	/* tenant.db, the consumer access log */
	KURA_SQ_FORM_ACCESS_INSERT,
	KURA_SQ_FORM_ACCESS_QUERY,
	KURA_SQ_FORM_ACCESS_PURGE,
	KURA_SQ__COUNT
};

/* KURA_SQ_SPOOL: a tenant's audit spool (spool.c), not pooled. */
enum kura_sqlite_kind { KURA_SQ_SYSTEM, KURA_SQ_TENANT, KURA_SQ_SPOOL };

/* Run-time statements cached per connection; the least recently used goes. */
#define KURA_SQ_DYN_MAX 48

struct kura_sqlite_pool;

/* How long a statement waits for another connection's write lock. */
#define KURA_SQ_BUSY_TIMEOUT_MS 5000

struct kura_sqlite_conn {
	sqlite3 *db;
	struct kura_sqlite_pool *pool;      /* owner; NULL for a loose connection */
	struct kura_sqlite_conn *next_idle; /* link in pool->idle */
	struct kura_sqlite_conn *lru_prev;  /* links in be's list of all idle connections */
	struct kura_sqlite_conn *lru_next;
	sqlite3_stmt *stmt[KURA_SQ__COUNT];
	/* Statements built at run time (records, search), by text; see kura_sqlite_dyn. */
	struct kura_sqlite_dyn_slot {
		char *sql;
		uint64_t hash;
		sqlite3_stmt *st;
		uint64_t used;
	} dyn[KURA_SQ_DYN_MAX];
	uint64_t dyn_clock;
	/*
	 * Files deleted inside the open transaction (attachment files of
	 * purged records): unlinked when it commits, kept when it rolls back,
	 * so a rolled-back purge never leaves rows without their files.
	 */
	char **unlink_on_commit;
	size_t n_unlink, cap_unlink;
	bool no_wait;   /* busy_wait gives up at once (kura_sqlite_begin_nowait) */
	/*
	 * While this handle's transaction runs on its tenant's writer
	 * connection (see kura_sqlite_writer_take): the pool's writer
	 * struct, which holds this connection's own state meanwhile.
	 */
	struct kura_sqlite_conn *wslot;
	/*
	 * What the open transaction moved from the audit spool (spool.c):
	 * the files it read whole, and how far it read the log (its epoch,
	 * the offset), for kura_sqlite_spool_trim once it commits.
	 */
	struct kura_sqlite_spool_moved {
		bool set;
		bool table, rolled, log;
		uint8_t epoch[16];
		int64_t to;
		int64_t entries;
	} spool_moved;
};

/*
 * Unlinks path now outside a transaction, or when the open transaction
 * commits (never if it rolls back). Takes path (malloc'd) either way.
 */
enum kura_err kura_sqlite_unlink_on_commit(struct kura_sqlite_conn *c, char *path);

/*
 * Connections to one database file. All fields but cond are guarded by the
 * back end's mutex (be->mu); conditions wait on it too.
 */
struct kura_sqlite_pool {
	struct kura_sqlite_pool *next;      /* hash chain (tenant pools) */
	enum kura_sqlite_kind kind;
	char tenant_id[KURA_TENANT_ID_MAX + 1]; /* "" for the system pool */
	char *path;
	struct kura_sqlite_conn *idle;
	unsigned open;                      /* idle + in use */
	unsigned max;
	unsigned waiting;
	pthread_cond_t cond;
	/*
	 * Tenant pools: the connection every transaction of this process
	 * runs on (kura_sqlite_writer_take). NULL until the first one, or
	 * after the idle list closed it; idle (in be's LRU) unless busy.
	 */
	struct kura_sqlite_be *be;
	struct kura_sqlite_conn *writer;
	bool writer_busy;
	pthread_cond_t wcond;
	/* Queued for the checkpointer (be->ckpt_head), with the WAL's size in pages. */
	struct kura_sqlite_pool *ckpt_next;
	bool ckpt_queued;
	int ckpt_pages;
	/*
	 * Tenant pools: the audit spool (spool.c). Guarded by spool_mu, not
	 * be->mu: the log this process appends to (-1 until its first entry,
	 * and again once a move took all of it), its size as written and its
	 * epoch; the entries this process spooled and no move took yet, since
	 * when the oldest of them waits, whether the spool may hold entries not
	 * moved, whether the files were looked at yet, and whether the last
	 * append was refused for the size (logged once).
	 */
	pthread_mutex_t spool_mu;
	int spool_fd;
	int64_t spool_end;
	uint8_t spool_epoch[16];
	int64_t spool_pending;
	int64_t spool_since_us;
	bool spool_dirty;
	bool spool_checked;
	bool spool_full;
	/*
	 * Tenant pools: the next record id of each object type this process
	 * hands out (kura_sqlite_crm_record_ids), so that a record can be
	 * numbered, and sealed, before its transaction. Guarded by ids_mu.
	 */
	pthread_mutex_t ids_mu;
	struct kura_sqlite_next_id {
		int64_t object_id;
		int64_t next;
	} *ids;
	size_t nids, capids;
};

/*
 * WAL checkpoints. Past KURA_SQ_WAL_PASSIVE_PAGES a passive one, as SQLite's
 * auto-checkpoint would do. Under back-to-back writes a passive checkpoint
 * never catches up with the newest frames, so the WAL is never started
 * again from its beginning and grows without bound (tens of GB over a
 * million-record import); past KURA_SQ_WAL_RESTART_PAGES the checkpoint waits for
 * the other writers (through the busy handler) so that the next write
 * starts the WAL afresh, and journal_size_limit then cuts the file back.
 * A tenant database's checkpoints run on the back end's checkpointer
 * thread (pool.c), not in the committing request; past KURA_SQ_WAL_HELP_PAGES
 * (the checkpointer has fallen behind) the committing thread restarts the
 * WAL itself, which bounds it.
 */
#define KURA_SQ_WAL_PASSIVE_PAGES 1000
#define KURA_SQ_WAL_RESTART_PAGES 16384
#define KURA_SQ_WAL_HELP_PAGES (4 * KURA_SQ_WAL_RESTART_PAGES)

#define KURA_SQ_BUCKETS 256
/*
 * Idle connections kept open over all pools. Each holds two or three file
 * descriptors and its own page cache; with many tenants an unbounded number
 * would run the process out of descriptors. The least recently used idle
 * connection is closed beyond this (reopening costs well under a millisecond).
 */
#define KURA_SQ_IDLE_MAX 64

/*
 * Tenant rows as last read, so that an authenticated request need not read
 * system.db (tenants.c). A row is used only while the tenants generation
 * (the file tenants.gen in the data directory, rewritten after every change
 * to the tenants table by whichever process makes it: kurad or the kura
 * CLI) is what it was when the row was read, and for at most
 * KURA_TENANT_CACHE_TTL_US.
 */
#define KURA_TENANT_CACHE_SLOTS 256
#define KURA_TENANT_CACHE_TTL_US (2LL * 1000000)

struct kura_tenant_cache_slot {
	struct kura_tenant t;     /* t.id[0] == '\0': empty */
	uint64_t gen;
	int64_t read_at_us;       /* monotonic */
};

struct kura_sqlite_be {
	char *data_dir;
	unsigned max_conns;
	pthread_mutex_t mu;
	int gen_fd;               /* tenants.gen; -1: no cache */
	pthread_mutex_t tcache_mu;
	struct kura_tenant_cache_slot tcache[KURA_TENANT_CACHE_SLOTS];
	struct kura_sqlite_pool system;
	struct kura_sqlite_pool *buckets[KURA_SQ_BUCKETS];
	/* Every idle connection, oldest first (guarded by mu). */
	struct kura_sqlite_conn *lru_head, *lru_tail;
	unsigned idle_total;
	/* The checkpointer thread and its queue of tenant pools (guarded by mu). */
	pthread_t ckpt_thread;
	pthread_cond_t ckpt_cond;
	bool ckpt_running, ckpt_stop;
	struct kura_sqlite_pool *ckpt_head, *ckpt_tail;
	/* A tenant's audit spool takes no entry past this size (kura_store_audit_spool_max). */
	_Atomic int64_t spool_max;
};

/* Opens (making it if need be) the tenants generation file; false when it cannot be. */
bool kura_sqlite_tenant_cache_init(struct kura_sqlite_be *be);
void kura_sqlite_tenant_cache_fini(struct kura_sqlite_be *be);

/* Embedded migrations (generated by src/store/embed_sql.py): entry i is version i + 1. */
extern const char *const kura_sqlite_migrations_system[];
extern const char *const kura_sqlite_migrations_tenant[];

/* --- db.c: connections, statements, errors, migrations --- */

/*
 * Opens path, which must exist (the caller creates files with mode 0600
 * first, so SQLite never creates one with its own default mode), with
 * Kura's connection settings (WAL, foreign keys, busy timeout, ...) and
 * brings its schema up to date. For a tenant database, a non-NULL tenant_id
 * is checked against the id recorded inside it, so a misplaced file is never
 * served as another tenant's; NULL skips the check (tenant_create, before
 * the id is recorded).
 */
enum kura_err kura_sqlite_conn_open(const char *path, enum kura_sqlite_kind kind,
				    const char *tenant_id, struct kura_sqlite_conn **out,
				    char *err, size_t n);
/* Finalizes the cached statements and closes. NULL is a no-op. */
void kura_sqlite_conn_close(struct kura_sqlite_conn *c);

/*
 * The cached statement for id, prepared on first use with sql (which must
 * be the same text every time for that id). Callers bind, step and then
 * call kura_sqlite_done().
 */
enum kura_err kura_sqlite_stmt(struct kura_sqlite_conn *c, enum kura_sqlite_stmt_id id,
			       const char *sql, sqlite3_stmt **out);
/*
 * A statement whose text is built at run time (from catalogue ids, never
 * from user text), cached per connection by its text. Same contract as
 * kura_sqlite_stmt: bind, step, kura_sqlite_done().
 */
enum kura_err kura_sqlite_dyn(struct kura_sqlite_conn *c, const char *sql, sqlite3_stmt **out);

/* Resets a cached statement and clears its bindings. NULL is a no-op. */
void kura_sqlite_done(sqlite3_stmt *st);

/* Called for each row by kura_sqlite_each. */
typedef void (*kura_sqlite_row_fn)(sqlite3_stmt *st, void *ctx);
/*
 * Steps a bound query to its end, calling fn(st, ctx) on each row; a step
 * error is logged and mapped as kura_sqlite_error does, naming op. The
 * caller still calls kura_sqlite_done().
 */
enum kura_err kura_sqlite_each(struct kura_sqlite_conn *c, sqlite3_stmt *st, const char *op,
			       kura_sqlite_row_fn fn, void *ctx);
/* Steps a bound write; with need_row, KURA_E_NOT_FOUND when it changed nothing. */
enum kura_err kura_sqlite_write(struct kura_sqlite_conn *c, sqlite3_stmt *st, const char *op,
				bool need_row);

/*
 * Logs an SQLite failure as event=store_error and maps it: BUSY/LOCKED
 * (after the busy timeout) to KURA_E_UNAVAILABLE, the rest to KURA_E_STORE.
 * Callers handle the constraint results they expect before calling this.
 */
enum kura_err kura_sqlite_error(struct kura_sqlite_conn *c, const char *op, int rc);

/* True for the extended codes of a UNIQUE / PRIMARY KEY violation. */
bool kura_sqlite_is_dup(int rc);

/* Copies a text column into dst (size n), truncating; NULL becomes "". */
void kura_sqlite_col_text(sqlite3_stmt *st, int col, char *dst, size_t n);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK on a connection. */
enum kura_err kura_sqlite_begin(struct kura_sqlite_conn *c);
/* BEGIN IMMEDIATE without waiting: KURA_E_BUSY (nothing logged) while another holds the lock. */
enum kura_err kura_sqlite_begin_nowait(struct kura_sqlite_conn *c);
enum kura_err kura_sqlite_commit(struct kura_sqlite_conn *c);
void kura_sqlite_rollback(struct kura_sqlite_conn *c);

/* Directory / file helpers: create with mode 0700 / 0600. */
enum kura_err kura_sqlite_mkdir(const char *path, char *err, size_t n);
/* Creates path as an empty 0600 file; excl: fail with KURA_E_EXISTS if present. */
enum kura_err kura_sqlite_touch(const char *path, bool excl, char *err, size_t n);

/* True when id is a well-formed tenant id: [a-z0-9-], 2..32, starts with a letter. */
bool kura_sqlite_tenant_id_ok(const char *id);

/* Writes "<data_dir>/tenants/<id>" (+ "/tenant.db" when file) into a new string. */
char *kura_sqlite_tenant_path(const struct kura_sqlite_be *be, const char *id, bool file);

/*
 * Checkpoints db's WAL of pages pages as KURA_SQ_WAL_PASSIVE_PAGES says
 * (nothing below it, passive, or restart); SQLite's result code.
 */
int kura_sqlite_checkpoint(sqlite3 *db, const char *name, int pages);
/* Points c's SQLite busy handler at c (after its connection moved into c). */
void kura_sqlite_busy_rebind(struct kura_sqlite_conn *c);

/* --- pool.c: the system pool and the per-tenant pools --- */

enum kura_err kura_sqlite_pool_init(struct kura_sqlite_pool *p, enum kura_sqlite_kind kind,
				    const char *tenant_id, const char *path, unsigned max);
/* Closes the idle connections and frees the pool's own storage. */
void kura_sqlite_pool_fini(struct kura_sqlite_pool *p);

/* Hands a freshly opened connection to the system pool as idle (at open). */
void kura_sqlite_system_adopt(struct kura_sqlite_be *be, struct kura_sqlite_conn *c);
/* A connection to system.db, waiting for one if all are in use. */
enum kura_err kura_sqlite_system_acquire(struct kura_sqlite_be *be,
					 struct kura_sqlite_conn **out);
/* A connection to a tenant's database (the caller has checked it exists). */
enum kura_err kura_sqlite_tenant_conn(struct kura_sqlite_be *be, const char *tenant_id,
				      struct kura_sqlite_conn **out);
/* Gives a connection back to its pool (or closes it, see KURA_SQ_IDLE_MAX). NULL is a no-op. */
void kura_sqlite_release(struct kura_sqlite_be *be, struct kura_sqlite_conn *c);
/* Closes every idle connection and frees the tenant pools. */
void kura_sqlite_pools_free(struct kura_sqlite_be *be);
/*
 * Every transaction on a tenant's database runs on one connection per
 * process, its pool's writer: SQLite lets one writer at a time in anyway,
 * and a connection keeps its page cache only while no other connection
 * has committed since its last transaction. With transactions spread over
 * the pool, each began with an empty cache and read again every index page
 * it touched (at a million records, a batch of 100 creates re-read some
 * thousand pages). take swaps the writer's SQLite connection and
 * statements into c, so pointers to c held by callers stay valid; give
 * swaps them back once the transaction has ended. take waits while
 * another handle of this process holds the writer (up to the busy
 * timeout, then KURA_E_UNAVAILABLE as a BEGIN whose busy wait gave up), or
 * answers KURA_E_BUSY at once with nowait. *took says whether
 * this call took it (false when c already holds it, or c is not a tenant
 * pool's connection).
 */
enum kura_err kura_sqlite_writer_take(struct kura_sqlite_conn *c, bool nowait, bool *took);
void kura_sqlite_writer_give(struct kura_sqlite_conn *c);
/*
 * Starts the checkpointer thread (false when it cannot: the tenant
 * databases are then checkpointed by their committing threads) and stops
 * it (before the pools are freed).
 */
bool kura_sqlite_checkpointer_start(struct kura_sqlite_be *be);
void kura_sqlite_checkpointer_stop(struct kura_sqlite_be *be);

/* --- the vtable entries, by file --- */

/* db.c */
enum kura_err kura_sqlite_open(const char *data_dir, unsigned max_conns_per_tenant, void **be,
			       char *err, size_t n);
void kura_sqlite_close(void *be);
enum kura_err kura_sqlite_ping(void *be);
enum kura_err kura_sqlite_op_begin(void *conn);
enum kura_err kura_sqlite_op_begin_nowait(void *conn);
enum kura_err kura_sqlite_op_commit(void *conn);
void kura_sqlite_op_rollback(void *conn);

/* tenants.c */
enum kura_err kura_sqlite_tenant_create(void *be, const struct kura_tenant *t,
					const uint8_t *wrapped_key, size_t wrapped_len);
enum kura_err kura_sqlite_tenant_get(void *be, const char *id, struct kura_tenant *out);
enum kura_err kura_sqlite_tenant_delete(void *be, const char *id);
enum kura_err kura_sqlite_tenant_keys_all(void *be, kura_tenant_key_cb cb, void *ctx);
enum kura_err kura_sqlite_tenant_key_retire(void *be, const char *id, uint32_t version);
enum kura_err kura_sqlite_tenant_keys_replace(void *be, const struct kura_wrapped_key *keys,
					      size_t n, const struct kura_resealed *seals,
					      size_t nseals);
enum kura_err kura_sqlite_tenant_key_rotate(void *be, const char *id, uint32_t version,
					     const uint8_t *wrapped, size_t len, int64_t now);
enum kura_err kura_sqlite_tenant_list(void *be, kura_tenant_cb cb, void *ctx);
enum kura_err kura_sqlite_tenant_set_status(void *be, const char *id,
					    enum kura_tenant_status st, int64_t now);
enum kura_err kura_sqlite_tenant_key_get(void *be, const char *id, uint32_t version,
					 uint8_t *out, size_t cap, size_t *len);
enum kura_err kura_sqlite_tenant_acquire(void *be, const char *id, struct kura_tenant *t,
					  void **conn);
void kura_sqlite_tenant_release(void *be, void *conn);

/* users.c */
enum kura_err kura_sqlite_user_create(void *conn, struct kura_user *u);
enum kura_err kura_sqlite_user_get(void *conn, int64_t id, struct kura_user *out);
enum kura_err kura_sqlite_user_get_by_email(void *conn, const char *email,
					    struct kura_user *out);
enum kura_err kura_sqlite_user_list(void *conn, kura_user_cb cb, void *ctx);
enum kura_err kura_sqlite_user_set_password(void *conn, int64_t id, const char *hash,
					    bool must_change, int64_t now);

/* sessions.c */
enum kura_err kura_sqlite_session_create(void *conn, const struct kura_session *s);
enum kura_err kura_sqlite_user_update(void *conn, const struct kura_user *u, int64_t now);
enum kura_err kura_sqlite_settings_list(void *conn, kura_setting_cb cb, void *ctx);
enum kura_err kura_sqlite_setting_put(void *conn, const char *key, const char *value, int64_t now);
enum kura_err kura_sqlite_setting_get(void *conn, const char *key, char *out, size_t cap);
enum kura_err kura_sqlite_lockout_get(void *conn, int64_t user_id, int64_t *failed,
				      int64_t *locked_until);
enum kura_err kura_sqlite_lockout_put(void *conn, int64_t user_id, int64_t failed,
				      int64_t locked_until);
enum kura_err kura_sqlite_user_delete(void *conn, int64_t id);
enum kura_err kura_sqlite_user_count_active_role(void *conn, const char *role, int64_t *n);
enum kura_err kura_sqlite_session_list_user(void *conn, int64_t user_id, kura_session_cb cb,
					    void *ctx);
enum kura_err kura_sqlite_session_auth(void *conn, const uint8_t id_hash[32],
				       struct kura_session *s, struct kura_user *u,
				       struct kura_auth_read *x);
/* Row readers shared by users.c and sessions.c; columns start at off. */
#define KURA_SQLITE_USER_NCOLS 11
void kura_sqlite_row_to_user(sqlite3_stmt *st, int off, struct kura_user *u);
/* The role's permissions column of an authenticating read (NULL: a built-in role). */
void kura_sqlite_row_role_perms(sqlite3_stmt *st, int col, struct kura_user *u);
/* Columns col (the allow-list setting) and col + 1 (catalogue version) into x. */
void kura_sqlite_auth_read(sqlite3_stmt *st, int col, struct kura_auth_read *x);
enum kura_err kura_sqlite_session_get(void *conn, const uint8_t id_hash[32],
				      struct kura_session *out);
enum kura_err kura_sqlite_session_touch(void *conn, const uint8_t id_hash[32], int64_t now);
enum kura_err kura_sqlite_session_delete(void *conn, const uint8_t id_hash[32]);
enum kura_err kura_sqlite_session_delete_user(void *conn, int64_t user_id,
					      const uint8_t *keep_id_hash);
enum kura_err kura_sqlite_session_purge_expired(void *conn, int64_t now, int64_t idle_cutoff);

/* spool.c */
extern const char kura_sqlite_spool_schema[];
enum kura_err kura_sqlite_audit_spool(void *conn, const struct kura_audit_entry *const *e,
				      size_t n);
bool kura_sqlite_audit_spooled(void *conn, int64_t *since_us, int64_t *count);
enum kura_err kura_sqlite_audit_unspool(void *conn, kura_audit_unspool_cb cb, void *ctx,
					size_t *moved);
/* After c's transaction committed: removes what it moved from the spool. */
void kura_sqlite_spool_trim(struct kura_sqlite_conn *c);
/* Closes the pool's spool log (pool_fini). */
void kura_sqlite_spool_fini(struct kura_sqlite_pool *p);
/* The spool's files: the table of before, the log rolled aside, the log. */
enum kura_sqlite_spool_file { KURA_SPOOL_TABLE, KURA_SPOOL_ROLLED, KURA_SPOOL_LOG };
/* That spool file of the tenant database file at db_path ("<dir>/audit-spool.log"), in a new string. */
char *kura_sqlite_spool_path(const char *db_path, enum kura_sqlite_spool_file which);
void kura_sqlite_audit_spool_max(void *be, int64_t bytes);
/* The spool's size limit unless set: 256 MiB (a million entries or so). */
#define KURA_SQ_SPOOL_MAX_DEFAULT ((int64_t)256 << 20)

/* audit.c */
/*
 * An entry's fields but seq and the hashes, as parameters ?2 (ts_us) to
 * ?15 (error_code) of an INSERT, in the column order of audit_log; and back
 * from columns 0 (seq, or the spool's id) to 14 of a row (the rest zeroed).
 */
void kura_sqlite_audit_bind_fields(sqlite3_stmt *st, const struct kura_audit_entry *e);
void kura_sqlite_audit_fields(sqlite3_stmt *st, struct kura_audit_entry *e);
enum kura_err kura_sqlite_audit_head(void *conn, int64_t *seq, uint8_t hash[32]);
enum kura_err kura_sqlite_audit_insert(void *conn, const struct kura_audit_entry *e);
enum kura_err kura_sqlite_audit_scan(void *conn, int64_t from_seq, kura_audit_cb cb, void *ctx);
enum kura_err kura_sqlite_audit_query(void *conn, const struct kura_audit_filter *f,
				      kura_audit_cb cb, void *ctx);
enum kura_err kura_sqlite_seal_put(void *be, const char *tenant_id, int64_t seq,
				   const uint8_t hash[32], const uint8_t mac[32], int64_t now);
enum kura_err kura_sqlite_seal_list(void *be, const char *tenant_id, kura_audit_seal_cb cb,
				    void *ctx);
bool kura_sqlite_in_transaction(void *conn);

/* notices.c */
enum kura_err kura_sqlite_notice_create(void *be, struct kura_notice *n);
enum kura_err kura_sqlite_notice_list(void *be, const char *tenant_id, int64_t now,
				      unsigned limit, kura_notice_cb cb, void *ctx);

/* apikeys.c */
enum kura_err kura_sqlite_apikey_create(void *conn, struct kura_apikey *k);
enum kura_err kura_sqlite_apikey_auth(void *conn, const uint8_t secret_hash[32],
				      struct kura_apikey *k, struct kura_user *u,
				      struct kura_auth_read *x);
enum kura_err kura_sqlite_apikey_list(void *conn, int64_t user_id, kura_apikey_cb cb, void *ctx);
enum kura_err kura_sqlite_apikey_revoke(void *conn, int64_t id, int64_t user_id, int64_t now);
enum kura_err kura_sqlite_apikey_touch(void *conn, int64_t id, int64_t now, const char *ip);

/* formlog.c */
enum kura_err kura_sqlite_form_access_add(void *conn, struct kura_form_access *a);
enum kura_err kura_sqlite_form_access_query(void *conn, const struct kura_form_access_filter *f,
					    kura_form_access_cb cb, void *ctx);
enum kura_err kura_sqlite_form_access_purge(void *conn, int64_t before_us, unsigned limit,
					    int64_t *deleted);

/* pwhistory.c */
enum kura_err kura_sqlite_pwhistory_add(void *conn, int64_t user_id, const char *hash, int64_t now,
					unsigned keep);
enum kura_err kura_sqlite_pwhistory_list(void *conn, int64_t user_id, unsigned limit,
					 kura_pwhistory_cb cb, void *ctx);

#endif
