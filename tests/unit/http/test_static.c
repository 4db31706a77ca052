/*
 * Unit tests for the admin UI's static files: loading a directory (one
 * level of subdirectories, names restricted, symlinks and hidden files
 * skipped, limits enforced), lookups ("/" → index.html, exact names only,
 * nothing outside what was loaded) and content types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "kura/http.h"
#include "kura/log.h"

static char root[96];

static void
put(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	char path[256], outside[256];

	(void)state;
	kura_log_set_level(KURA_LOG_ERROR);
	assert_int_equal(kura_test_mkdtemp(root, sizeof(root), "kura-static"), 0);
	put("index.html", "<!doctype html><title>Kura</title>");
	put("app.js", "console.log(1);");
	put("app.css", "body{}");
	put("logo.svg", "<svg/>");
	put("data.JSON", "{}");
	put("notes.txt", "hi");
	put("blob.bin", "\x01\x02");
	put(".hidden", "secret");
	put("bad name.html", "x");
	snprintf(path, sizeof(path), "%s/assets", root);
	assert_int_equal(mkdir(path, 0700), 0);
	put("assets/icon.png", "PNG");
	snprintf(path, sizeof(path), "%s/assets/deeper", root);
	assert_int_equal(mkdir(path, 0700), 0);
	put("assets/deeper/x.js", "deep");
	/* a symlink to something outside must not be served */
	snprintf(outside, sizeof(outside), "%s.secret", root);
	{
		FILE *f = fopen(outside, "w");

		assert_non_null(f);
		fputs("top secret", f);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/link.txt", root);
	assert_int_equal(symlink(outside, path), 0);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s.secret'", root, root);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void
test_load_and_find(void **state)
{
	struct kura_static *s = NULL;
	char err[256] = "";
	const char *ct = NULL;
	const void *d;
	size_t len = 0;

	(void)state;
	assert_int_equal(kura_static_load(root, &s, err, sizeof(err)), KURA_OK);
	assert_non_null(s);

	d = kura_static_find(s, "/", &len, &ct);
	assert_non_null(d);
	assert_int_equal(len, strlen("<!doctype html><title>Kura</title>"));
	assert_memory_equal(d, "<!doctype html>", 15);
	assert_string_equal(ct, "text/html; charset=utf-8");
	assert_non_null(kura_static_find(s, "/index.html", &len, &ct));

	assert_non_null(kura_static_find(s, "/app.js", &len, &ct));
	assert_string_equal(ct, "text/javascript; charset=utf-8");
	assert_non_null(kura_static_find(s, "/app.css", &len, &ct));
	assert_string_equal(ct, "text/css; charset=utf-8");
	assert_non_null(kura_static_find(s, "/logo.svg", &len, &ct));
	assert_string_equal(ct, "image/svg+xml");
	assert_non_null(kura_static_find(s, "/data.JSON", &len, &ct));
	assert_string_equal(ct, "application/json; charset=utf-8");
	assert_non_null(kura_static_find(s, "/notes.txt", &len, &ct));
	assert_string_equal(ct, "text/plain; charset=utf-8");
	assert_non_null(kura_static_find(s, "/blob.bin", &len, &ct));
	assert_string_equal(ct, "application/octet-stream");
	assert_non_null(kura_static_find(s, "/assets/icon.png", &len, &ct));
	assert_string_equal(ct, "image/png");
	assert_int_equal(len, 3);

	kura_static_free(s);
}

static void
test_misses(void **state)
{
	static const char *const miss[] = {
		"/nothing.html",
		"/../index.html",
		"/./index.html",
		"/assets/../index.html",
		"/assets/deeper/x.js",  /* only one level of subdirectories */
		"/assets",
		"/assets/",
		"/.hidden",
		"/bad name.html",
		"/link.txt",            /* symlink: skipped at load */
		"/INDEX.HTML",
		"//index.html",
		"/index.html/",
		"index.html",
		"",
		"/api/v1/users",
	};
	struct kura_static *s = NULL;
	char err[256] = "";
	const char *ct = (const char *)1;
	size_t len = 99;
	char longpath[1024];

	(void)state;
	assert_int_equal(kura_static_load(root, &s, err, sizeof(err)), KURA_OK);
	for (size_t i = 0; i < sizeof(miss) / sizeof(miss[0]); i++) {
		assert_null(kura_static_find(s, miss[i], &len, &ct));
		assert_int_equal(len, 0);
		assert_null(ct);
	}
	assert_null(kura_static_find(s, NULL, &len, &ct));
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_null(kura_static_find(s, longpath, &len, &ct));
	kura_static_free(s);
}

static void
test_empty_and_missing(void **state)
{
	struct kura_static *s = (void *)1;
	char err[256] = "";
	const char *ct = NULL;
	size_t len = 0;

	(void)state;
	/* "" = no UI: fine, and nothing is found */
	assert_int_equal(kura_static_load("", &s, err, sizeof(err)), KURA_OK);
	assert_non_null(s);
	assert_null(kura_static_find(s, "/", &len, &ct));
	kura_static_free(s);
	kura_static_free(NULL);
	assert_null(kura_static_find(NULL, "/", &len, &ct));

	s = (void *)1;
	assert_int_equal(kura_static_load("/nonexistent/kura-web", &s, err, sizeof(err)),
			 KURA_E_IO);
	assert_null(s);
	assert_non_null(strstr(err, "/nonexistent/kura-web"));
}

static void
test_limits(void **state)
{
	struct kura_static *s = (void *)1;
	char err[256] = "";
	char dir[96], path[256];
	FILE *f;

	(void)state;
	assert_int_equal(kura_test_mkdtemp(dir, sizeof(dir), "kura-static"), 0);
	/* a file over 4 MiB stops the load with a message naming it */
	snprintf(path, sizeof(path), "%s/big.js", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fseek(f, (4L << 20), SEEK_SET), 0);
	fputc('x', f);
	fclose(f);
	assert_int_equal(kura_static_load(dir, &s, err, sizeof(err)), KURA_E_CONFIG);
	assert_null(s);
	assert_non_null(strstr(err, "big.js"));
	unlink(path);

	/* more than 256 files */
	for (int i = 0; i < 257; i++) {
		snprintf(path, sizeof(path), "%s/f%03d.txt", dir, i);
		f = fopen(path, "w");
		assert_non_null(f);
		fclose(f);
	}
	s = (void *)1;
	assert_int_equal(kura_static_load(dir, &s, err, sizeof(err)), KURA_E_CONFIG);
	assert_null(s);
	snprintf(path, sizeof(path), "%s/f256.txt", dir);
	unlink(path);
	assert_int_equal(kura_static_load(dir, &s, err, sizeof(err)), KURA_OK);
	assert_non_null(s);
	kura_static_free(s);

	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_and_find),
		cmocka_unit_test(test_misses),
		cmocka_unit_test(test_empty_and_missing),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
