/*
 * Attachments in SQLite and on disk: the metadata rows (attachments) and
 * the encrypted content in files/<id>.bin beside the tenant's database.
 * Content is written to a temporary file, synced and renamed, so a file is
 * either whole or absent.
 */
#include "sqlite_crm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ATTACH_COLS                                                                                \
	"SELECT id, object_id, record_id, filename, content_type, size, wrapped_key, created_by, "  \
	"created_at FROM attachments"

enum kura_err
kura_sqlite_crm_attachment_next_id(void *conn, int64_t *id)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	*id = 0;
	e = kura_sqlite_dyn(c,
			    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = "
			    "'attachments'), 0), coalesce((SELECT max(id) FROM attachments), 0)) + 1",
			    &st);
	if (e != KURA_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else
		e = kura_sqlite_error(c, "attachment_next_id", rc);
out:
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_attachment_add(void *conn, const struct kura_attachment_row *a)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "INSERT INTO attachments (id, object_id, record_id, filename, content_type, "
			    "size, wrapped_key, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			    &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, a->id);
		sqlite3_bind_int64(st, 2, a->object_id);
		sqlite3_bind_int64(st, 3, a->record_id);
		sqlite3_bind_blob(st, 4, a->filename, (int)a->filename_len, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, a->content_type, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, a->size);
		sqlite3_bind_blob(st, 7, a->wrapped_key, (int)a->wrapped_key_len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 8, a->created_by);
		sqlite3_bind_int64(st, 9, a->created_at);
		e = kura_sqlite_write(c, st, "attachment_add", false);
	}
	kura_sqlite_done(st);
	return e;
}

struct att_ctx {
	kura_attachment_cb cb;
	void *ctx;
	bool stop;
	bool found;
};

static void
att_row(sqlite3_stmt *st, void *p)
{
	struct att_ctx *x = p;
	struct kura_attachment_row a;

	if (x->stop)
		return;
	memset(&a, 0, sizeof(a));
	a.id = sqlite3_column_int64(st, 0);
	a.object_id = sqlite3_column_int64(st, 1);
	a.record_id = sqlite3_column_int64(st, 2);
	a.filename = sqlite3_column_blob(st, 3);
	a.filename_len = (size_t)sqlite3_column_bytes(st, 3);
	kura_sqlite_col_text(st, 4, a.content_type, sizeof(a.content_type));
	a.size = sqlite3_column_int64(st, 5);
	a.wrapped_key = sqlite3_column_blob(st, 6);
	a.wrapped_key_len = (size_t)sqlite3_column_bytes(st, 6);
	a.created_by = sqlite3_column_int64(st, 7);
	a.created_at = sqlite3_column_int64(st, 8);
	x->found = true;
	x->stop = !x->cb(x->ctx, &a);
}

enum kura_err
kura_sqlite_crm_attachment_list(void *conn, int64_t object_id, int64_t record_id,
				kura_attachment_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct att_ctx x = {.cb = cb, .ctx = ctx};
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c, ATTACH_COLS " WHERE object_id = ? AND record_id = ? ORDER BY id", &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, object_id);
		sqlite3_bind_int64(st, 2, record_id);
		e = kura_sqlite_each(c, st, "attachment_list", att_row, &x);
	}
	kura_sqlite_done(st);
	return e;
}

enum kura_err
kura_sqlite_crm_attachment_get(void *conn, int64_t object_id, int64_t record_id, int64_t id,
			       kura_attachment_cb cb, void *ctx)
{
	struct kura_sqlite_conn *c = conn;
	struct att_ctx x = {.cb = cb, .ctx = ctx};
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c, ATTACH_COLS " WHERE object_id = ? AND record_id = ? AND id = ?", &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, object_id);
		sqlite3_bind_int64(st, 2, record_id);
		sqlite3_bind_int64(st, 3, id);
		e = kura_sqlite_each(c, st, "attachment_get", att_row, &x);
	}
	kura_sqlite_done(st);
	if (e == KURA_OK && !x.found)
		e = KURA_E_NOT_FOUND;
	return e;
}

enum kura_err
kura_sqlite_crm_attachment_delete(void *conn, int64_t object_id, int64_t record_id, int64_t id)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e;

	e = kura_sqlite_dyn(c,
			    "DELETE FROM attachments WHERE object_id = ? AND record_id = ? AND id = ?",
			    &st);
	if (e == KURA_OK) {
		sqlite3_bind_int64(st, 1, object_id);
		sqlite3_bind_int64(st, 2, record_id);
		sqlite3_bind_int64(st, 3, id);
		e = kura_sqlite_write(c, st, "attachment_delete", true);
	}
	kura_sqlite_done(st);
	return e;
}

/* <tenant dir>/files[/<id>.bin[suffix]] of this connection's database. */
static char *
file_path(struct kura_sqlite_conn *c, int64_t id, const char *suffix)
{
	const char *db = c->pool != NULL ? c->pool->path : NULL;
	const char *slash = db != NULL ? strrchr(db, '/') : NULL;
	char *out = NULL;

	if (slash == NULL)
		return NULL;
	if (id > 0) {
		if (asprintf(&out, "%.*s/files/%lld.bin%s", (int)(slash - db), db, (long long)id,
			     suffix) < 0)
			out = NULL;
	} else if (asprintf(&out, "%.*s/files", (int)(slash - db), db) < 0) {
		out = NULL;
	}
	return out;
}

enum kura_err
kura_sqlite_crm_file_put(void *conn, int64_t id, const uint8_t *data, size_t len)
{
	struct kura_sqlite_conn *c = conn;
	char *dir = file_path(c, 0, ""), *tmp = file_path(c, id, ".tmp"), *dst = file_path(c, id, "");
	enum kura_err e = KURA_E_IO;
	size_t done = 0;
	int fd = -1;

	if (dir == NULL || tmp == NULL || dst == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	while (done < len) {
		ssize_t w = write(fd, data + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		done += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, dst) != 0)
		goto out;
	e = KURA_OK;
out:
	if (fd >= 0)
		close(fd);
	if (e != KURA_OK && tmp != NULL)
		unlink(tmp);
	free(dir);
	free(tmp);
	free(dst);
	return e;
}

enum kura_err
kura_sqlite_crm_file_get(void *conn, int64_t id, uint8_t **data, size_t *len)
{
	struct kura_sqlite_conn *c = conn;
	char *path = file_path(c, id, "");
	enum kura_err e = KURA_E_IO;
	struct stat st;
	uint8_t *buf = NULL;
	size_t done = 0;
	int fd = -1;

	*data = NULL;
	*len = 0;
	if (path == NULL)
		return KURA_E_NOMEM;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		e = errno == ENOENT ? KURA_E_NOT_FOUND : KURA_E_IO;
		goto out;
	}
	if (fstat(fd, &st) != 0 || st.st_size < 0)
		goto out;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	while (done < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + done, (size_t)st.st_size - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto out;
		done += (size_t)r;
	}
	*data = buf;
	*len = done;
	buf = NULL;
	e = KURA_OK;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
	return e;
}

enum kura_err
kura_sqlite_crm_file_delete(void *conn, int64_t id)
{
	char *path = file_path(conn, id, "");

	if (path == NULL)
		return KURA_E_NOMEM;
	/* inside a transaction (a purge) the file goes only when it commits */
	return kura_sqlite_unlink_on_commit(conn, path);
}
