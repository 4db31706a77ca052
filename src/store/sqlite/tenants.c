/*
 * Tenants and the keystore, both in system.db, and the hand-out of tenant
 * handles. Creating a tenant also creates its own database under
 * tenants/<id>/; wrapped data keys stay in system.db only, never in the
 * tenant's database, so a tenant's files and backups never hold its keys.
 */
#include "sqlite_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/clock.h"
#include "kura/crypto.h"
#include "kura/log.h"

static void tenants_changed(struct kura_sqlite_be *be);

static const char sql_insert[] =
	"INSERT INTO tenants (id, name, status, key_version, created_at, updated_at) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_key_insert[] =
	"INSERT INTO tenant_keys (tenant_id, version, wrapped, created_at, state) "
	"VALUES (?1, ?2, ?3, ?4, 'active')";
static const char sql_get[] =
	"SELECT id, name, status, key_version, created_at, updated_at FROM tenants WHERE id = ?1";
static const char sql_list[] =
	"SELECT id, name, status, key_version, created_at, updated_at FROM tenants ORDER BY id";
static const char sql_set_status[] =
	"UPDATE tenants SET status = ?2, updated_at = ?3 WHERE id = ?1";
static const char sql_key_get[] =
	"SELECT wrapped FROM tenant_keys WHERE tenant_id = ?1 AND version = ?2";
static const char sql_info_insert[] =
	"INSERT INTO tenant_info (id, tenant_id, created_at) VALUES (1, ?1, ?2)";

static void
row_to_tenant(sqlite3_stmt *st, struct kura_tenant *t)
{
	memset(t, 0, sizeof(*t));
	kura_sqlite_col_text(st, 0, t->id, sizeof(t->id));
	kura_sqlite_col_text(st, 1, t->name, sizeof(t->name));
	t->status = sqlite3_column_int(st, 2) == KURA_TENANT_SUSPENDED ? KURA_TENANT_SUSPENDED
								      : KURA_TENANT_ACTIVE;
	t->key_version = (uint32_t)sqlite3_column_int64(st, 3);
	t->created_at = sqlite3_column_int64(st, 4);
	t->updated_at = sqlite3_column_int64(st, 5);
}

/* Removes what a failed tenant_create left of the tenant's database. */
static void
remove_tenant_files(const char *dir, const char *file)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	size_t i;

	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char *p = NULL;

		if (asprintf(&p, "%s%s", file, suffix[i]) < 0)
			continue;
		unlink(p);
		free(p);
	}
	rmdir(dir);
}

/*
 * A leftover -wal or -journal next to a new, empty tenant.db would be
 * replayed into it by SQLite: refuse rather than inherit foreign pages.
 */
static bool
leftovers(const char *file)
{
	static const char *const suffix[] = {"-wal", "-shm", "-journal"};
	static const enum kura_sqlite_spool_file spools[] = {KURA_SPOOL_TABLE, KURA_SPOOL_ROLLED,
							     KURA_SPOOL_LOG};
	bool found = false;
	size_t i;

	/* An audit spool left there would be moved into the new tenant's chain. */
	for (i = 0; i < sizeof(spools) / sizeof(spools[0]) && !found; i++) {
		char *spool = kura_sqlite_spool_path(file, spools[i]);

		found = spool == NULL || access(spool, F_OK) == 0;
		free(spool);
	}

	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]) && !found; i++) {
		char *p = NULL;

		/* Out of memory: say yes, which refuses the create; never guess no. */
		if (asprintf(&p, "%s%s", file, suffix[i]) < 0) {
			found = true;
			break;
		}
		found = access(p, F_OK) == 0;
		free(p);
	}
	return found;
}

/* Creates, migrates and stamps the tenant's own database. */
static enum kura_err
create_tenant_db(const char *file, const struct kura_tenant *t)
{
	struct kura_sqlite_conn *c = NULL;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	char err[512], q[600];
	int rc;

	err[0] = '\0';
	e = kura_sqlite_conn_open(file, KURA_SQ_TENANT, NULL, &c, err, sizeof(err));
	if (e != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "store_tenant_db_failed", "tenant=%s err=%s", t->id,
			 kura_log_quote(q, sizeof(q), err));
		goto out;
	}
	e = kura_sqlite_stmt(c, KURA_SQ_TENANT_INFO_INSERT, sql_info_insert, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, t->created_at);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "tenant_info_insert", rc);
out:
	kura_sqlite_done(st);
	kura_sqlite_conn_close(c);
	return e;
}

/* One wrapped data key into the keystore; KURA_E_CONFLICT when that version exists. */
static enum kura_err
insert_key(struct kura_sqlite_conn *c, const char *id, uint32_t version, const uint8_t *wrapped,
	   size_t len, int64_t now)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_stmt(c, KURA_SQ_TENANT_KEY_INSERT, sql_key_insert, &st);
	if (e != KURA_OK)
		return e;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	sqlite3_bind_blob(st, 3, wrapped, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		e = kura_sqlite_is_dup(rc) ? KURA_E_CONFLICT
					   : kura_sqlite_error(c, "tenant_key_insert", rc);
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_tenant_create(void *p, const struct kura_tenant *t, const uint8_t *wrapped_key,
			  size_t wrapped_len)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	sqlite3_stmt *st = NULL;
	enum kura_err e = KURA_OK;
	char *dir = NULL, *file = NULL;
	char err[512], q[600];
	bool in_tx = false, made_file = false;
	int rc;

	if (!kura_sqlite_tenant_id_ok(t->id) || wrapped_key == NULL || wrapped_len == 0 ||
	    wrapped_len > INT32_MAX ||
	    (t->status != KURA_TENANT_ACTIVE && t->status != KURA_TENANT_SUSPENDED)) {
		e = KURA_E_VALIDATION;
		goto out;
	}
	dir = kura_sqlite_tenant_path(be, t->id, false);
	file = kura_sqlite_tenant_path(be, t->id, true);
	if (dir == NULL || file == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	/* The rows first: a taken id fails here, before any file is touched. */
	e = kura_sqlite_begin(c);
	if (e != KURA_OK)
		goto out;
	in_tx = true;

	e = kura_sqlite_stmt(c, KURA_SQ_TENANT_INSERT, sql_insert, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->name, (int)strnlen(t->name, sizeof(t->name)), SQLITE_STATIC);
	sqlite3_bind_int(st, 3, (int)t->status);
	sqlite3_bind_int64(st, 4, t->key_version);
	sqlite3_bind_int64(st, 5, t->created_at);
	sqlite3_bind_int64(st, 6, t->updated_at);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		e = kura_sqlite_is_dup(rc) ? KURA_E_EXISTS : kura_sqlite_error(c, "tenant_insert", rc);
		goto out;
	}
	kura_sqlite_done(st);

	e = insert_key(c, t->id, t->key_version, wrapped_key, wrapped_len, t->created_at);
	if (e != KURA_OK)
		goto out;

	err[0] = '\0';
	e = kura_sqlite_mkdir(dir, err, sizeof(err));
	if (e == KURA_OK && leftovers(file))
		e = KURA_E_EXISTS;
	if (e == KURA_OK)
		e = kura_sqlite_touch(file, true, err, sizeof(err));
	if (e != KURA_OK) {
		/* A directory for an id nobody has: an operator must look first. */
		kura_log(KURA_LOG_ERROR, "store_tenant_files", "tenant=%s path=%s err=%s", t->id,
			 dir, kura_log_quote(q, sizeof(q), err[0] ? err : "leftover database files"));
		goto out;
	}
	made_file = true;
	e = create_tenant_db(file, t);
	if (e != KURA_OK)
		goto out;

	e = kura_sqlite_commit(c);
	if (e != KURA_OK)
		goto out;
	in_tx = false;
	tenants_changed(be);
	kura_log(KURA_LOG_INFO, "store_tenant_created", "tenant=%s", t->id);
out:
	kura_sqlite_done(st);
	if (in_tx)
		kura_sqlite_rollback(c);
	/* No tenant row remains (rolled back), so no database may remain either. */
	if (e != KURA_OK && made_file)
		remove_tenant_files(dir, file);
	kura_sqlite_release(be, c);
	free(dir);
	free(file);
	return e;
}

enum kura_err
kura_sqlite_tenant_get(void *p, const char *id, struct kura_tenant *out)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	memset(out, 0, sizeof(*out));
	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_stmt(c, KURA_SQ_TENANT_GET, sql_get, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_to_tenant(st, out);
	else if (rc == SQLITE_DONE)
		e = KURA_E_NOT_FOUND;
	else
		e = kura_sqlite_error(c, "tenant_get", rc);
out:
	kura_sqlite_done(st);
	kura_sqlite_release(be, c);
	if (e != KURA_OK)
		memset(out, 0, sizeof(*out));
	return e;
}

enum kura_err
kura_sqlite_tenant_list(void *p, kura_tenant_cb cb, void *ctx)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	struct kura_tenant *rows = NULL, *grown;
	sqlite3_stmt *st = NULL;
	size_t n = 0, cap = 0, i;
	enum kura_err e;
	int rc;

	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_stmt(c, KURA_SQ_TENANT_LIST, sql_list, &st);
	if (e != KURA_OK)
		goto out;
	/*
	 * Collect first, call back after: the callback may use the store
	 * itself, and must not do so while we hold a system connection.
	 */
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			e = kura_sqlite_error(c, "tenant_list", rc);
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(rows, cap * sizeof(*rows));
			if (grown == NULL) {
				e = KURA_E_NOMEM;
				goto out;
			}
			rows = grown;
		}
		row_to_tenant(st, &rows[n++]);
	}
	kura_sqlite_done(st);
	st = NULL;
	kura_sqlite_release(be, c);
	c = NULL;
	for (i = 0; i < n; i++)
		cb(ctx, &rows[i]);
out:
	kura_sqlite_done(st);
	kura_sqlite_release(be, c);
	free(rows);
	return e;
}

enum kura_err
kura_sqlite_tenant_set_status(void *p, const char *id, enum kura_tenant_status status,
			      int64_t now)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	if (status != KURA_TENANT_ACTIVE && status != KURA_TENANT_SUSPENDED) {
		e = KURA_E_VALIDATION;
		goto out;
	}
	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_stmt(c, KURA_SQ_TENANT_SET_STATUS, sql_set_status, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)status);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		e = kura_sqlite_error(c, "tenant_set_status", rc);
		goto out;
	}
	if (sqlite3_changes(c->db) == 0)
		e = KURA_E_NOT_FOUND;
	else
		tenants_changed(be);
out:
	kura_sqlite_done(st);
	kura_sqlite_release(be, c);
	return e;
}

enum kura_err
kura_sqlite_tenant_key_get(void *p, const char *id, uint32_t version, uint8_t *out, size_t cap,
			   size_t *len)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	size_t got;
	int rc;

	*len = 0;
	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_stmt(c, KURA_SQ_TENANT_KEY_GET, sql_key_get, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		e = kura_sqlite_error(c, "tenant_key_get", rc);
		goto out;
	}
	got = (size_t)sqlite3_column_bytes(st, 0);
	if (got > cap) {
		kura_log(KURA_LOG_ERROR, "store_key_too_long", "tenant=%s version=%u len=%zu cap=%zu",
			 id, version, got, cap);
		e = KURA_E_INTERNAL;
		goto out;
	}
	if (got > 0)
		memcpy(out, sqlite3_column_blob(st, 0), got);
	*len = got;
out:
	kura_sqlite_done(st);
	kura_sqlite_release(be, c);
	if (e != KURA_OK && out != NULL)
		memset(out, 0, cap);
	return e;
}

/* ------------------------------------------------------------ tenant row cache */

bool
kura_sqlite_tenant_cache_init(struct kura_sqlite_be *be)
{
	char *path = NULL;

	be->gen_fd = -1;
	if (pthread_mutex_init(&be->tcache_mu, NULL) != 0)
		return false;
	if (asprintf(&path, "%s/tenants.gen", be->data_dir) < 0)
		return false;
	be->gen_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	free(path);
	return be->gen_fd >= 0;
}

void
kura_sqlite_tenant_cache_fini(struct kura_sqlite_be *be)
{
	if (be->gen_fd >= 0) {
		close(be->gen_fd);
		be->gen_fd = -1;
	}
	pthread_mutex_destroy(&be->tcache_mu);
}

/* The tenants generation now; false when it cannot be read (then nothing is cached). */
static bool
read_gen(struct kura_sqlite_be *be, uint64_t *gen)
{
	ssize_t n;

	*gen = 0;
	if (be->gen_fd < 0)
		return false;
	n = pread(be->gen_fd, gen, sizeof(*gen), 0);
	/* an empty file (never changed since it was made) is generation 0 */
	return n == 0 || n == (ssize_t)sizeof(*gen);
}

/*
 * After a change to the tenants table has committed: a new generation, so
 * that every process drops the rows it keeps. Random rather than counted:
 * writers need no lock, and a read torn by a concurrent write is only
 * another change. On failure every cached row is still dropped within
 * KURA_TENANT_CACHE_TTL_US.
 */
static void
tenants_changed(struct kura_sqlite_be *be)
{
	uint64_t gen;

	kura_random_bytes(&gen, sizeof(gen));
	pthread_mutex_lock(&be->tcache_mu);
	memset(be->tcache, 0, sizeof(be->tcache));
	pthread_mutex_unlock(&be->tcache_mu);
	if (be->gen_fd < 0 || pwrite(be->gen_fd, &gen, sizeof(gen), 0) != (ssize_t)sizeof(gen))
		kura_log(KURA_LOG_ERROR, "tenant_generation_write_failed", "dir=%s", be->data_dir);
}

static size_t
cache_slot(const char *id)
{
	uint32_t h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (uint8_t)*id) * 16777619u;
	return h % KURA_TENANT_CACHE_SLOTS;
}

static bool
cache_get(struct kura_sqlite_be *be, const char *id, uint64_t gen, struct kura_tenant *t)
{
	const struct kura_tenant_cache_slot *s = &be->tcache[cache_slot(id)];
	bool hit;

	pthread_mutex_lock(&be->tcache_mu);
	hit = s->t.id[0] != '\0' && s->gen == gen && strcmp(s->t.id, id) == 0 &&
	      kura_mono_us() - s->read_at_us < KURA_TENANT_CACHE_TTL_US;
	if (hit)
		*t = s->t;
	pthread_mutex_unlock(&be->tcache_mu);
	return hit;
}

/* gen: the generation read before the row was. */
static void
cache_put(struct kura_sqlite_be *be, const struct kura_tenant *t, uint64_t gen, int64_t read_at)
{
	struct kura_tenant_cache_slot *s = &be->tcache[cache_slot(t->id)];

	pthread_mutex_lock(&be->tcache_mu);
	s->t = *t;
	s->gen = gen;
	s->read_at_us = read_at;
	pthread_mutex_unlock(&be->tcache_mu);
}

enum kura_err
kura_sqlite_tenant_acquire(void *p, const char *id, struct kura_tenant *t, void **conn)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL, *tc = NULL;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;
	struct kura_tenant row;
	uint64_t gen = 0;
	bool cacheable;
	int64_t read_at;

	*conn = NULL;
	if (!kura_sqlite_tenant_id_ok(id)) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	if (t == NULL)
		t = &row;
	/* The generation before the row: a change after this read is seen next time. */
	cacheable = read_gen(be, &gen);
	read_at = kura_mono_us();
	if (cacheable && cache_get(be, id, gen, t))
		goto open;
	/* Only a tenant system.db knows gets a handle, whatever lies on disk. */
	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_stmt(c, KURA_SQ_TENANT_GET, sql_get, &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		e = kura_sqlite_error(c, "tenant_acquire", rc);
		goto out;
	}
	row_to_tenant(st, t);
	kura_sqlite_done(st);
	st = NULL;
	if (cacheable)
		cache_put(be, t, gen, read_at);
	/* Give the system connection back before possibly waiting on the tenant pool. */
	kura_sqlite_release(be, c);
	c = NULL;
open:
	e = kura_sqlite_tenant_conn(be, id, &tc);
	if (e != KURA_OK)
		goto out;
	*conn = tc;
out:
	kura_sqlite_done(st);
	kura_sqlite_release(be, c);
	return e;
}

void
kura_sqlite_tenant_release(void *p, void *conn)
{
	kura_sqlite_release(p, conn);
}

enum kura_err
kura_sqlite_tenant_key_rotate(void *p, const char *id, uint32_t version, const uint8_t *wrapped,
			      size_t len, int64_t now)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	sqlite3_stmt *st = NULL;
	bool in_tx = false;
	enum kura_err e;
	int rc;

	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_begin(c);
	if (e != KURA_OK)
		goto out;
	in_tx = true;
	/* Only the next version: two rotations at once cannot both win. */
	e = kura_sqlite_dyn(c,
			    "UPDATE tenants SET key_version = ?2, updated_at = ?3 "
			    "WHERE id = ?1 AND key_version = ?2 - 1",
			    &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		e = kura_sqlite_error(c, "tenant_key_rotate", rc);
		goto out;
	}
	if (sqlite3_changes(c->db) == 0) {
		struct kura_tenant t;

		kura_sqlite_done(st);
		st = NULL;
		kura_sqlite_rollback(c);
		in_tx = false;
		e = kura_sqlite_tenant_get(be, id, &t) == KURA_OK ? KURA_E_CONFLICT : KURA_E_NOT_FOUND;
		goto out;
	}
	kura_sqlite_done(st);
	st = NULL;
	e = insert_key(c, id, version, wrapped, len, now);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_commit(c);
	if (e == KURA_OK) {
		in_tx = false;
		tenants_changed(be);
	}
out:
	kura_sqlite_done(st);
	if (in_tx)
		kura_sqlite_rollback(c);
	kura_sqlite_release(be, c);
	return e;
}

/* Overwrites a file with zeros (best effort, before it is unlinked). */
static void
wipe_file(const char *path)
{
	static const char zeros[64 * 1024];
	struct stat st;
	int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	off_t done = 0;

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0) {
		while (done < st.st_size) {
			size_t n = (size_t)(st.st_size - done) < sizeof(zeros)
					   ? (size_t)(st.st_size - done)
					   : sizeof(zeros);
			ssize_t w = write(fd, zeros, n);

			if (w <= 0)
				break;
			done += w;
		}
		(void)fsync(fd);
	}
	close(fd);
}

/* The tenant's attachments (ciphertext under keys destroyed first). */
static void
remove_files_dir(const char *dir)
{
	char *files = NULL;
	DIR *d;
	struct dirent *de;

	if (asprintf(&files, "%s/files", dir) < 0)
		return;
	d = opendir(files);
	while (d != NULL && (de = readdir(d)) != NULL) {
		char *path = NULL;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (asprintf(&path, "%s/%s", files, de->d_name) >= 0)
			unlink(path);
		free(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(files);
	free(files);
}

enum kura_err
kura_sqlite_tenant_delete(void *p, const char *id)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	sqlite3_stmt *st = NULL;
	char *dir = NULL, *file = NULL, *spool = NULL, *log = NULL, *rolled = NULL;
	enum kura_err e;
	int rc;

	if (!kura_sqlite_tenant_id_ok(id))
		return KURA_E_NOT_FOUND;
	dir = kura_sqlite_tenant_path(be, id, false);
	file = kura_sqlite_tenant_path(be, id, true);
	spool = file != NULL ? kura_sqlite_spool_path(file, KURA_SPOOL_TABLE) : NULL;
	log = file != NULL ? kura_sqlite_spool_path(file, KURA_SPOOL_LOG) : NULL;
	rolled = file != NULL ? kura_sqlite_spool_path(file, KURA_SPOOL_ROLLED) : NULL;
	if (dir == NULL || file == NULL || spool == NULL || log == NULL || rolled == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	/*
	 * The keys first (crypto-shredding): once this commits, nothing of the
	 * tenant's encrypted data can be read again from these files. The
	 * tenant row, its seals and notices go with it (ON DELETE CASCADE).
	 */
	e = kura_sqlite_dyn(c, "DELETE FROM tenants WHERE id = ?", &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		e = kura_sqlite_error(c, "tenant_delete", rc);
		goto out;
	}
	if (sqlite3_changes(c->db) == 0) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	tenants_changed(be);
	kura_sqlite_done(st);
	st = NULL;
	/* Then the files (the database and the audit spool), overwritten before they are unlinked. */
	{
		const char *const logs[] = {log, rolled};

		for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
			char *damaged = NULL;

			wipe_file(logs[i]);
			unlink(logs[i]);
			if (asprintf(&damaged, "%s.damaged", logs[i]) >= 0) {
				wipe_file(damaged);
				unlink(damaged);
			}
			free(damaged);
		}
	}
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char *path = NULL, *spath = NULL;

		if (asprintf(&path, "%s%s", file, suffix[i]) >= 0)
			wipe_file(path);
		if (asprintf(&spath, "%s%s", spool, suffix[i]) >= 0) {
			wipe_file(spath);
			unlink(spath);
		}
		free(path);
		free(spath);
	}
	remove_files_dir(dir);
	remove_tenant_files(dir, file);
	kura_log(KURA_LOG_INFO, "store_tenant_deleted", "tenant=%s", id);
out:
	kura_sqlite_done(st);
	kura_sqlite_release(be, c);
	free(dir);
	free(file);
	free(spool);
	free(log);
	free(rolled);
	return e;
}

enum kura_err
kura_sqlite_tenant_keys_all(void *p, kura_tenant_key_cb cb, void *ctx)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	e = kura_sqlite_dyn(c, "SELECT tenant_id, version, wrapped FROM tenant_keys "
			       "ORDER BY tenant_id, version",
			    &st);
	if (e != KURA_OK)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);

		if (!cb(ctx, t != NULL ? t : "", (uint32_t)sqlite3_column_int64(st, 1),
			sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2)))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		e = kura_sqlite_error(c, "tenant_keys_all", rc);
out:
	kura_sqlite_done(st);
	kura_sqlite_release(be, c);
	return e;
}

enum kura_err
kura_sqlite_tenant_key_retire(void *p, const char *id, uint32_t version)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_system_acquire(be, &c);
	if (e != KURA_OK)
		goto out;
	/* never the current version, whatever the caller thought */
	e = kura_sqlite_dyn(c,
			    "DELETE FROM tenant_keys WHERE tenant_id = ?1 AND version = ?2 AND "
			    "version < (SELECT key_version FROM tenants WHERE id = ?1)",
			    &st);
	if (e != KURA_OK)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	e = kura_sqlite_write(c, st, "tenant_key_retire", true);
out:
	kura_sqlite_done(st);
	kura_sqlite_release(be, c);
	return e;
}

enum kura_err
kura_sqlite_tenant_keys_replace(void *p, const struct kura_wrapped_key *keys, size_t n,
				const struct kura_resealed *seals, size_t nseals)
{
	struct kura_sqlite_be *be = p;
	struct kura_sqlite_conn *c = NULL;
	sqlite3_stmt *st = NULL;
	bool in_tx = false;
	enum kura_err e;

	e = kura_sqlite_system_acquire(be, &c);
	if (e == KURA_OK)
		e = kura_sqlite_begin(c);
	if (e != KURA_OK)
		goto out;
	in_tx = true;
	e = kura_sqlite_dyn(c, "UPDATE tenant_keys SET wrapped = ? WHERE tenant_id = ? AND version = ?",
			    &st);
	/* All of them or none: a keystore half under one master key is lost data. */
	for (size_t i = 0; e == KURA_OK && i < n; i++) {
		sqlite3_bind_blob(st, 1, keys[i].wrapped, (int)keys[i].len, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, keys[i].tenant, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, keys[i].version);
		e = kura_sqlite_write(c, st, "tenant_keys_replace", true);
		sqlite3_reset(st);
	}
	kura_sqlite_done(st);
	st = NULL;
	/*
	 * Seals are never updated (a trigger forbids it, against our own
	 * mistakes): a re-made seal is the old row deleted and inserted again
	 * with the new MAC, its time kept.
	 */
	for (size_t i = 0; e == KURA_OK && i < nseals; i++) {
		int64_t sealed_at = 0;
		uint8_t hash[32];
		int rc;

		e = kura_sqlite_dyn(c, "SELECT hash, sealed_at FROM audit_seals "
				    "WHERE tenant_id = ? AND seq = ?", &st);
		if (e != KURA_OK)
			break;
		sqlite3_bind_text(st, 1, seals[i].tenant, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, seals[i].seq);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == (int)sizeof(hash)) {
			memcpy(hash, sqlite3_column_blob(st, 0), sizeof(hash));
			sealed_at = sqlite3_column_int64(st, 1);
		} else {
			e = rc == SQLITE_ROW || rc == SQLITE_DONE ? KURA_E_NOT_FOUND
								  : kura_sqlite_error(c, "reseal", rc);
		}
		kura_sqlite_done(st);
		st = NULL;
		if (e == KURA_OK)
			e = kura_sqlite_dyn(c, "DELETE FROM audit_seals WHERE tenant_id = ? AND seq = ?",
					    &st);
		if (e == KURA_OK) {
			sqlite3_bind_text(st, 1, seals[i].tenant, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, seals[i].seq);
			e = kura_sqlite_write(c, st, "reseal_delete", true);
			kura_sqlite_done(st);
			st = NULL;
		}
		if (e == KURA_OK)
			e = kura_sqlite_dyn(c, "INSERT INTO audit_seals (tenant_id, seq, hash, mac, "
					    "sealed_at) VALUES (?, ?, ?, ?, ?)", &st);
		if (e == KURA_OK) {
			sqlite3_bind_text(st, 1, seals[i].tenant, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, seals[i].seq);
			sqlite3_bind_blob(st, 3, hash, sizeof(hash), SQLITE_STATIC);
			sqlite3_bind_blob(st, 4, seals[i].mac, sizeof(seals[i].mac), SQLITE_STATIC);
			sqlite3_bind_int64(st, 5, sealed_at);
			e = kura_sqlite_write(c, st, "reseal_insert", true);
			kura_sqlite_done(st);
			st = NULL;
		}
	}
	if (e == KURA_OK)
		e = kura_sqlite_commit(c);
	if (e == KURA_OK)
		in_tx = false;
out:
	kura_sqlite_done(st);
	if (in_tx)
		kura_sqlite_rollback(c);
	kura_sqlite_release(be, c);
	return e;
}
