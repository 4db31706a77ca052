/* Unit tests for settings: file parsing, environment, ranges, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "kura/buf.h"
#include "kura/clock.h"
#include "kura/config.h"
#include "kura/pool.h"

static char *
write_tmp(const char *text)
{
	char *path = strdup("/tmp/kura-conf-XXXXXX");
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void
test_defaults(void **state)
{
	struct kura_config c;
	char err[256] = "";

	(void)state;
	kura_config_defaults(&c);
	assert_int_equal(c.port, 8443);
	assert_int_equal(c.max_body_bytes, 1u << 20);
	assert_int_equal(c.session_absolute_timeout_s, 10800);
	assert_int_equal(kura_config_finish(&c, err, sizeof(err)), KURA_OK);
	assert_string_equal(c.master_key_file, "./kura-data/master.key");
	assert_string_equal(c.tls_cert_file, "./kura-data/tls/server.crt");
	assert_true(c.workers >= 1);
	assert_true(c.hash_workers >= 1);
}

static void
test_file_ok(void **state)
{
	struct kura_config c;
	char err[256] = "";
	char *p = write_tmp("# comment\n; other comment\n[kura]\n\nport = 9000\n"
			    "  listen_address=::1  \nweb_root = \" spaced \"\nlog_level = debug\n");

	(void)state;
	kura_config_defaults(&c);
	assert_int_equal(kura_config_load_file(&c, p, false, err, sizeof(err)), KURA_OK);
	assert_int_equal(c.port, 9000);
	assert_string_equal(c.listen_address, "::1");
	assert_string_equal(c.web_root, " spaced ");
	assert_int_equal(c.log_level, 0);
	unlink(p);
	free(p);
}

static void
test_file_unknown_key_names_line(void **state)
{
	struct kura_config c;
	char err[256] = "";
	char *p = write_tmp("port = 9000\n\nprot = 1\n");

	(void)state;
	kura_config_defaults(&c);
	assert_int_equal(kura_config_load_file(&c, p, false, err, sizeof(err)), KURA_E_CONFIG);
	assert_non_null(strstr(err, ":3:"));
	assert_non_null(strstr(err, "prot"));
	unlink(p);
	free(p);
}

static void
test_file_bad_values(void **state)
{
	static const char *const bad[] = {
		"port = 0\n", "port = 65536\n", "port = 12x\n", "port = -1\n", "port =\n",
		"listen_address = localhost\n", "log_level = loud\n", "max_body_bytes = 10\n",
		"password_memlimit_kib = 1024\n", "password_opslimit = 1\n", "just words\n",
		"port = 99999999999999999999999\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kura_config c;
		char err[256] = "";
		char *p = write_tmp(bad[i]);

		kura_config_defaults(&c);
		assert_int_equal(kura_config_load_file(&c, p, false, err, sizeof(err)), KURA_E_CONFIG);
		assert_non_null(strstr(err, ":1:"));
		unlink(p);
		free(p);
	}
}

static void
test_trusted_proxies(void **state)
{
	static const char *const bad[] = {
		"10.0.0.0", "10.0.0.1/8", "10.0.0.0/33", "2001:db8::/129", "proxy.example/32",
		"10.0.0.0/8,", "10.0.0.0/8,,192.168.0.0/16", ",10.0.0.0/8", "10.0.0.0/8 192.168.0.0/16",
		"::ffff:10.0.0.0/8",
	};
	struct kura_config c;
	char err[256] = "", many[2048] = "";
	size_t len = 0;

	(void)state;
	kura_config_defaults(&c);
	assert_string_equal(c.trusted_proxies, "");
	assert_int_equal(kura_config_set(&c, "trusted_proxies",
					 " 10.0.0.0/8 ,\t2001:DB8::/32,127.0.0.1/32 ", err,
					 sizeof(err)),
			 KURA_OK);
	/* Stored without spaces, as the matcher reads it. */
	assert_string_equal(c.trusted_proxies, "10.0.0.0/8,2001:DB8::/32,127.0.0.1/32");
	assert_int_equal(kura_config_set(&c, "trusted_proxies", "  ", err, sizeof(err)), KURA_OK);
	assert_string_equal(c.trusted_proxies, "");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(c.trusted_proxies, sizeof(c.trusted_proxies), "keep");
		err[0] = '\0';
		assert_int_equal(kura_config_set(&c, "trusted_proxies", bad[i], err, sizeof(err)),
				 KURA_E_CONFIG);
		assert_non_null(strstr(err, "trusted_proxies"));
		assert_string_equal(c.trusted_proxies, "keep");
	}
	/* 32 ranges are fine, 33 are not. */
	for (int i = 0; i < 32; i++)
		len += (size_t)snprintf(many + len, sizeof(many) - len, "%s10.%d.0.0/16",
					i > 0 ? "," : "", i);
	assert_int_equal(kura_config_set(&c, "trusted_proxies", many, err, sizeof(err)), KURA_OK);
	snprintf(many + len, sizeof(many) - len, ",192.168.0.0/16");
	assert_int_equal(kura_config_set(&c, "trusted_proxies", many, err, sizeof(err)),
			 KURA_E_CONFIG);
	assert_non_null(strstr(err, "more than 32"));
}

static void
test_file_missing(void **state)
{
	struct kura_config c;
	char err[256] = "";

	(void)state;
	kura_config_defaults(&c);
	assert_int_equal(kura_config_load_file(&c, "/nonexistent/kura.conf", true, err, sizeof(err)),
			 KURA_OK);
	assert_int_equal(kura_config_load_file(&c, "/nonexistent/kura.conf", false, err, sizeof(err)),
			 KURA_E_CONFIG);
}

static void
test_env(void **state)
{
	struct kura_config c;
	char err[256] = "";
	char *ok[] = {"PATH=/bin", "KURA_PORT=7000", "KURA_DATA=/srv/kura",
		      "KURA_MASTER_KEY_FILE=/run/mk", "KURA_MAX_BODY_BYTES=2048", NULL};
	char *unknown[] = {"KURA_PORTT=1", NULL};
	char *badval[] = {"KURA_WORKERS=many", NULL};

	(void)state;
	kura_config_defaults(&c);
	assert_int_equal(kura_config_load_env(&c, ok, err, sizeof(err)), KURA_OK);
	assert_int_equal(c.port, 7000);
	assert_string_equal(c.data_dir, "/srv/kura");
	assert_string_equal(c.master_key_file, "/run/mk");
	assert_int_equal(c.max_body_bytes, 2048);
	assert_int_equal(kura_config_load_env(&c, unknown, err, sizeof(err)), KURA_E_CONFIG);
	assert_non_null(strstr(err, "KURA_PORTT"));
	assert_int_equal(kura_config_load_env(&c, badval, err, sizeof(err)), KURA_E_CONFIG);
	assert_non_null(strstr(err, "KURA_WORKERS"));
}

static void
test_finish_cross_checks(void **state)
{
	struct kura_config c;
	char err[256] = "";

	(void)state;
	kura_config_defaults(&c);
	c.session_idle_timeout_s = 100;
	c.session_absolute_timeout_s = 50;
	assert_int_equal(kura_config_finish(&c, err, sizeof(err)), KURA_E_CONFIG);
	assert_non_null(strstr(err, "session_absolute_timeout_s"));
}

static void
test_buf_bounds(void **state)
{
	struct kura_buf b;

	(void)state;
	kura_buf_init(&b, 8);
	assert_int_equal(kura_buf_append(&b, "abcd", 4), KURA_OK);
	assert_int_equal(kura_buf_append(&b, "efgh", 4), KURA_OK);
	assert_int_equal(kura_buf_append(&b, "i", 1), KURA_E_BODY_TOO_LARGE);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "abcdefgh");
	kura_buf_reset(&b);
	assert_int_equal(kura_buf_printf(&b, "%d-%s", 12, "ab"), KURA_OK);
	assert_string_equal(b.data, "12-ab");
	assert_int_equal(kura_buf_printf(&b, "%s", "toolong"), KURA_E_BODY_TOO_LARGE);
	assert_string_equal(b.data, "12-ab");
	kura_buf_free(&b);
}

static int counter;
static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;

static void
bump(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&counter_lock);
	counter++;
	pthread_mutex_unlock(&counter_lock);
}

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

static void
wait_gate(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&gate);
	pthread_mutex_unlock(&gate);
}

static void
test_pool(void **state)
{
	struct kura_pool *p = NULL;
	int submitted = 0;

	(void)state;
	assert_int_equal(kura_pool_new(0, 4, &p), KURA_E_CONFIG);
	assert_null(p);
	assert_int_equal(kura_pool_new(2, 100, &p), KURA_OK);
	for (int i = 0; i < 50; i++)
		assert_int_equal(kura_pool_submit(p, bump, NULL), KURA_OK);
	kura_pool_free(p); /* drains the queue */
	assert_int_equal(counter, 50);

	/* a full queue refuses instead of growing */
	assert_int_equal(kura_pool_new(1, 2, &p), KURA_OK);
	pthread_mutex_lock(&gate);
	for (int i = 0; i < 10; i++) {
		if (kura_pool_submit(p, wait_gate, NULL) == KURA_OK)
			submitted++;
	}
	assert_true(submitted >= 2 && submitted <= 3);
	pthread_mutex_unlock(&gate);
	kura_pool_free(p);
}

static void
test_time_format_matches_gmtime(void **state)
{
	/* Spot values, then a sweep against the C library's own conversion. */
	char out[40], ref[96];
	int64_t t;

	(void)state;
	kura_time_rfc3339(0, out, sizeof(out));
	assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
	kura_time_rfc3339(951782400000001LL, out, sizeof(out)); /* 2000-02-29 */
	assert_string_equal(out, "2000-02-29T00:00:00.000001Z");
	kura_time_rfc3339(-1, out, sizeof(out));
	assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
	for (t = 0; t < 4102444800LL; t += 86399 * 37 + 12345) {
		time_t tt = (time_t)t;
		struct tm tm;

		gmtime_r(&tt, &tm);
		snprintf(ref, sizeof(ref), "%04d-%02d-%02dT%02d:%02d:%02d.000123Z",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		kura_time_rfc3339(t * 1000000 + 123, out, sizeof(out));
		assert_string_equal(out, ref);
	}
}

static void
test_time_parse(void **state)
{
	static const char *const bad[] = {
		"", "2026-11-23", "2026-11-23T09:00:00", "2026-13-01T00:00:00Z",
		"2026-02-30T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T09:00:00.Z",
		"2026-11-23T09:00:00+9:00", "2026-11-23T09:00:00Zjunk", "x026-11-23T09:00:00Z",
		"1969-12-31T23:59:59Z",
	};
	int64_t t = 1;
	char out[40];

	(void)state;
	assert_int_equal(kura_time_parse_rfc3339("2026-11-23T09:00:00Z", &t), KURA_OK);
	kura_time_rfc3339(t, out, sizeof(out));
	assert_string_equal(out, "2026-11-23T09:00:00.000000Z");
	assert_int_equal(kura_time_parse_rfc3339("2026-11-23T18:00:00.5+09:00", &t), KURA_OK);
	kura_time_rfc3339(t, out, sizeof(out));
	assert_string_equal(out, "2026-11-23T09:00:00.500000Z");
	assert_int_equal(kura_time_parse_rfc3339("2026-11-23T08:30:00.123456789-00:30", &t), KURA_OK);
	kura_time_rfc3339(t, out, sizeof(out));
	assert_string_equal(out, "2026-11-23T09:00:00.123456Z");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = 1;
		assert_int_equal(kura_time_parse_rfc3339(bad[i], &t), KURA_E_VALIDATION);
		assert_true(t == 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_file_ok),
		cmocka_unit_test(test_file_unknown_key_names_line),
		cmocka_unit_test(test_file_bad_values),
		cmocka_unit_test(test_trusted_proxies),
		cmocka_unit_test(test_file_missing),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_finish_cross_checks),
		cmocka_unit_test(test_buf_bounds),
		cmocka_unit_test(test_pool),
		cmocka_unit_test(test_time_format_matches_gmtime),
		cmocka_unit_test(test_time_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
