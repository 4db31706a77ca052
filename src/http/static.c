/*
 * The admin UI's static files, read into memory once at start. At request
 * time a path is only compared with the names loaded here; the filesystem is
 * never touched, so no request path (with "..", encoded slashes, symlinks or
 * anything else) can reach a file that was not loaded. Names are restricted
 * to [A-Za-z0-9._-] (one level of subdirectory allowed, "dir/name"), and
 * everything is bounded: file size, file count.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/http.h"
#include "kura/log.h"

#define MAX_FILE_BYTES (4u << 20)
#define MAX_FILES 256
#define MAX_NAME 128

struct file {
	char name[MAX_NAME];   /* "index.html" or "assets/app.js" */
	char *data;
	size_t len;
	const char *ctype;
};

struct kura_static {
	struct file *files;    /* sorted by name */
	size_t n;
};

static const struct {
	const char *ext;
	const char *ctype;
} ctypes[] = {
	{"html", "text/html; charset=utf-8"},
	{"js", "text/javascript; charset=utf-8"},
	{"css", "text/css; charset=utf-8"},
	{"svg", "image/svg+xml"},
	{"png", "image/png"},
	{"ico", "image/x-icon"},
	{"json", "application/json; charset=utf-8"},
	{"txt", "text/plain; charset=utf-8"},
};

static const char *
ctype_for(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot != NULL) {
		for (size_t i = 0; i < sizeof(ctypes) / sizeof(ctypes[0]); i++) {
			if (strcasecmp(dot + 1, ctypes[i].ext) == 0)
				return ctypes[i].ctype;
		}
	}
	return "application/octet-stream";
}

/* [A-Za-z0-9._-]+, not starting with '.' (hidden files and "." / ".."). */
static bool
name_ok(const char *s)
{
	if (s[0] == '\0' || s[0] == '.' || strlen(s) >= MAX_NAME)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int
cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct file *)a)->name, ((const struct file *)b)->name);
}

static void
set_err(char *err, size_t n, const char *what, const char *path, int errnum)
{
	if (err != NULL && n > 0)
		snprintf(err, n, "web_root: %s %s: %s", what, path, strerror(errnum));
}

/*
 * Reads one regular file relative to dirfd. O_NOFOLLOW: a symlink is not
 * followed out of the web root. *skip is set for entries that are not
 * regular files.
 */
static enum kura_err
read_file(int dirfd, const char *rel, const char *shown, struct file *f, bool *skip, char *err,
	  size_t n)
{
	struct stat st;
	size_t got = 0;
	int fd;
	enum kura_err e = KURA_E_IO;

	*skip = false;
	fd = openat(dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP) {
			*skip = true;
			e = KURA_OK;
		} else {
			set_err(err, n, "cannot open", shown, errno);
		}
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		set_err(err, n, "cannot stat", shown, errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*skip = true;
		e = KURA_OK;
		goto out;
	}
	if (st.st_size > (off_t)MAX_FILE_BYTES) {
		if (err != NULL && n > 0)
			snprintf(err, n, "web_root: %s is larger than %u bytes", shown, MAX_FILE_BYTES);
		e = KURA_E_CONFIG;
		goto out;
	}
	f->len = (size_t)st.st_size;
	f->data = malloc(f->len + 1);
	if (f->data == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	while (got < f->len) {
		ssize_t r = read(fd, f->data + got, f->len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			set_err(err, n, "cannot read", shown, r < 0 ? errno : EIO);
			goto out;
		}
		got += (size_t)r;
	}
	f->data[f->len] = '\0';
	f->ctype = ctype_for(rel);
	e = KURA_OK;
out:
	if (fd >= 0)
		close(fd);
	if (e != KURA_OK || *skip) {
		free(f->data);
		f->data = NULL;
		f->len = 0;
	}
	return e;
}

/*
 * Adds the regular files of the directory open at dirfd; prefix is "" for
 * the web root and "sub/" for its subdirectories (into which we go no
 * deeper: depth 1).
 */
static enum kura_err
load_dir(struct kura_static *s, int dirfd, const char *root, const char *prefix, char *err,
	 size_t n)
{
	DIR *d = NULL;
	struct dirent *de;
	int fd2;
	enum kura_err e = KURA_OK;

	fd2 = dup(dirfd);
	if (fd2 < 0) {
		set_err(err, n, "cannot read", root, errno);
		return KURA_E_IO;
	}
	d = fdopendir(fd2);
	if (d == NULL) {
		set_err(err, n, "cannot read", root, errno);
		close(fd2);
		return KURA_E_IO;
	}
	for (;;) {
		/* prefix (< MAX_NAME) + a d_name (<= 255) + '/' always fit */
		char name[MAX_NAME + 256 + 2];
		struct file f;
		struct stat st;
		bool skip = false;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0) {
				set_err(err, n, "cannot read", root, errno);
				e = KURA_E_IO;
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(name, sizeof(name), "%s%s", prefix, de->d_name);
		if (!name_ok(de->d_name) || strlen(name) >= MAX_NAME) {
			char q[160];

			kura_log(KURA_LOG_WARN, "static_skipped", "dir=%s name=%s reason=name",
				 root, kura_log_quote(q, sizeof(q), name));
			continue;
		}
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			set_err(err, n, "cannot stat", name, errno);
			e = KURA_E_IO;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub;

			if (prefix[0] != '\0')
				continue;
			sub = openat(dirfd, de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				set_err(err, n, "cannot open", name, errno);
				e = KURA_E_IO;
				break;
			}
			snprintf(name, sizeof(name), "%s/", de->d_name);
			e = load_dir(s, sub, root, name, err, n);
			close(sub);
			if (e != KURA_OK)
				break;
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (s->n == MAX_FILES) {
			if (err != NULL && n > 0)
				snprintf(err, n, "web_root: %s holds more than %d files", root,
					 MAX_FILES);
			e = KURA_E_CONFIG;
			break;
		}
		memset(&f, 0, sizeof(f));
		/* strlen(name) < MAX_NAME was checked above */
		memcpy(f.name, name, strlen(name) + 1);
		e = read_file(dirfd, de->d_name, name, &f, &skip, err, n);
		if (e != KURA_OK)
			break;
		if (!skip)
			s->files[s->n++] = f;
	}
	closedir(d);
	return e;
}

enum kura_err
kura_static_load(const char *dir, struct kura_static **out, char *err, size_t n)
{
	struct kura_static *s = NULL;
	int dirfd = -1;
	enum kura_err e = KURA_E_NOMEM;

	*out = NULL;
	if (err != NULL && n > 0)
		err[0] = '\0';
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto out;
	/* An empty web_root means no UI: an empty set, every lookup misses. */
	if (dir == NULL || dir[0] == '\0') {
		*out = s;
		s = NULL;
		e = KURA_OK;
		goto out;
	}
	s->files = calloc(MAX_FILES, sizeof(*s->files));
	if (s->files == NULL)
		goto out;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		set_err(err, n, "cannot open", dir, errno);
		e = KURA_E_IO;
		goto out;
	}
	e = load_dir(s, dirfd, dir, "", err, n);
	if (e != KURA_OK)
		goto out;
	qsort(s->files, s->n, sizeof(*s->files), cmp_file);
	*out = s;
	s = NULL;
	e = KURA_OK;
out:
	if (dirfd >= 0)
		close(dirfd);
	kura_static_free(s);
	return e;
}

void
kura_static_free(struct kura_static *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->files[i].data);
	free(s->files);
	free(s);
}

const void *
kura_static_find(const struct kura_static *s, const char *path, size_t *len,
		 const char **content_type)
{
	struct file key;
	const struct file *f = NULL;
	const char *name;

	*len = 0;
	*content_type = NULL;
	if (s == NULL || s->n == 0 || path == NULL || path[0] != '/')
		return NULL;
	name = path[1] == '\0' ? "index.html" : path + 1;
	/* Too long to be one of ours; also keeps the copy below in bounds. */
	if (strlen(name) >= sizeof(key.name))
		return NULL;
	snprintf(key.name, sizeof(key.name), "%s", name);
	f = bsearch(&key, s->files, s->n, sizeof(*s->files), cmp_file);
	if (f == NULL)
		return NULL;
	*len = f->len;
	*content_type = f->ctype;
	return f->data;
}
