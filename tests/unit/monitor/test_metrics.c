/*
 * Unit tests for the metrics: histogram bucketing at the bucket edges, the
 * exposition text (parsed back line by line against the 0.0.4 grammar, and
 * its numbers checked against what was recorded), label escaping, the
 * bearer-token check of GET /metrics, and the alerts' webhook body,
 * signature and 5xx rate.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kura/auth.h"
#include "kura/buf.h"
#include "kura/clock.h"
#include "kura/config.h"
#include "kura/crypto.h"
#include "kura/log.h"
#include "kura/monitor.h"

static int
setup(void **state)
{
	(void)state;
	assert_int_equal(kura_crypto_init(), KURA_OK);
	/* the alerts log at WARN; keep the test output readable */
	kura_log_set_level(KURA_LOG_ERROR);
	return 0;
}

static int
teardown_metrics(void **state)
{
	(void)state;
	kura_metrics_fini();
	return 0;
}

static void
test_buckets(void **state)
{
	(void)state;
	assert_int_equal(kura_metrics_bucket(0), 0);
	assert_int_equal(kura_metrics_bucket(-5), 0);
	/* "le" is inclusive: exactly 1 ms is still in the first bucket */
	assert_int_equal(kura_metrics_bucket(1000), 0);
	assert_int_equal(kura_metrics_bucket(1001), 1);
	assert_int_equal(kura_metrics_bucket(2500), 1);
	assert_int_equal(kura_metrics_bucket(2501), 2);
	assert_int_equal(kura_metrics_bucket(999999), 9);
	assert_int_equal(kura_metrics_bucket(1000000), 9);
	assert_int_equal(kura_metrics_bucket(10000000), KURA_METRICS_NBUCKETS - 1);
	assert_int_equal(kura_metrics_bucket(10000001), KURA_METRICS_NBUCKETS);
	assert_int_equal(kura_metrics_bucket(INT64_MAX), KURA_METRICS_NBUCKETS);
	/* the bounds ascend and end at 10 s */
	for (size_t i = 1; i < KURA_METRICS_NBUCKETS; i++)
		assert_true(kura_metrics_bucket_le[i] > kura_metrics_bucket_le[i - 1]);
	assert_true(kura_metrics_bucket_le[0] == 0.001);
	assert_true(kura_metrics_bucket_le[KURA_METRICS_NBUCKETS - 1] == 10.0);
}

/* ---- a small parser of the text format, strict about what Kura writes */

struct sample {
	char name[128];
	char labels[8][2][128]; /* name, value (unescaped) */
	int nlabels;
	double value;
};

struct family {
	char name[128];
	char type[16];
	bool help;
};

struct parsed {
	struct sample s[512];
	int n;
	struct family f[64];
	int nf;
};

static bool
name_char(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':' || (!first && isdigit((unsigned char)c));
}

/* Parses one sample line into s; fails the test on anything malformed. */
static void
parse_sample(const char *line, struct sample *s)
{
	const char *p = line;
	size_t n = 0;
	char *end;

	memset(s, 0, sizeof(*s));
	assert_true(name_char(*p, true));
	while (name_char(*p, n == 0) && n + 1 < sizeof(s->name))
		s->name[n++] = *p++;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			size_t k = 0, v = 0;

			assert_true(s->nlabels < 8);
			while (name_char(*p, k == 0))
				s->labels[s->nlabels][0][k++] = *p++;
			assert_true(k > 0);
			assert_int_equal(*p++, '=');
			assert_int_equal(*p++, '"');
			while (*p != '"') {
				assert_true(*p != '\0' && *p != '\n');
				if (*p == '\\') {
					p++;
					assert_true(*p == '\\' || *p == '"' || *p == 'n');
					s->labels[s->nlabels][1][v++] = *p == 'n' ? '\n' : *p;
					p++;
					continue;
				}
				s->labels[s->nlabels][1][v++] = *p++;
			}
			p++;
			s->nlabels++;
			if (*p == ',')
				p++;
			else
				assert_int_equal(*p, '}');
		}
		p++;
	}
	assert_int_equal(*p++, ' ');
	s->value = strtod(p, &end);
	assert_true(end != p);
	assert_true(*end == '\0');
}

static void
parse(const char *text, struct parsed *out)
{
	char *copy = strdup(text), *save = NULL;

	assert_non_null(copy);
	memset(out, 0, sizeof(*out));
	/* the format wants a final newline */
	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	for (char *line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_true(out->nf < 64);
			sscanf(line + 7, "%127s", out->f[out->nf].name);
			out->f[out->nf].help = true;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char name[128], type[16];

			assert_int_equal(sscanf(line + 7, "%127s %15s", name, type), 2);
			/* TYPE follows its HELP and comes before the family's samples */
			assert_string_equal(name, out->f[out->nf].name);
			assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
				    strcmp(type, "histogram") == 0);
			snprintf(out->f[out->nf].type, sizeof(out->f[out->nf].type), "%s", type);
			out->nf++;
			continue;
		}
		assert_true(line[0] != '#');
		assert_true(out->n < 512);
		parse_sample(line, &out->s[out->n]);
		/* a sample belongs to the family declared last */
		assert_true(out->nf > 0);
		assert_true(strncmp(out->s[out->n].name, out->f[out->nf - 1].name,
				    strlen(out->f[out->nf - 1].name)) == 0);
		out->n++;
	}
	free(copy);
}

static const char *
label(const struct sample *s, const char *name)
{
	for (int i = 0; i < s->nlabels; i++) {
		if (strcmp(s->labels[i][0], name) == 0)
			return s->labels[i][1];
	}
	return NULL;
}

/* The value of the one sample with this name and these label values (NULL = any). */
static double
value(const struct parsed *p, const char *name, const char *route, const char *extra_name,
      const char *extra_value)
{
	int found = 0;
	double v = -1;

	for (int i = 0; i < p->n; i++) {
		const struct sample *s = &p->s[i];

		if (strcmp(s->name, name) != 0)
			continue;
		if (route != NULL && (label(s, "route") == NULL || strcmp(label(s, "route"), route) != 0))
			continue;
		if (extra_name != NULL &&
		    (label(s, extra_name) == NULL || strcmp(label(s, extra_name), extra_value) != 0))
			continue;
		found++;
		v = s->value;
	}
	if (found != 1)
		fail_msg("%d samples of %s route=%s %s=%s", found, name, route ? route : "*",
			 extra_name ? extra_name : "", extra_value ? extra_value : "");
	return v;
}

static void
render(struct parsed *p, const struct kura_metrics_gauges *g)
{
	struct kura_buf b;

	kura_buf_init(&b, 1u << 20);
	assert_int_equal(kura_metrics_render(&b, g), KURA_OK);
	parse(b.data, p);
	kura_buf_free(&b);
}

static void
test_exposition(void **state)
{
	static struct parsed p;
	struct kura_metrics_gauges g = {3, 64, 2, 1700000000500000LL};

	(void)state;
	assert_int_equal(kura_metrics_init(3), KURA_OK);
	assert_int_equal(kura_metrics_route_label(0, "GET", "/healthz"), KURA_OK);
	assert_int_equal(kura_metrics_route_label(1, "POST", "/api/v1/auth/login"), KURA_OK);
	/* a pattern with every character the format escapes */
	assert_int_equal(kura_metrics_route_label(2, "GET", "/x/\"q\"\\n\nz"), KURA_OK);
	assert_int_equal(kura_metrics_route_label(3, "GET", "/nope"), KURA_E_INTERNAL);

	kura_metrics_http(0, 200, 500);        /* 0.5 ms */
	kura_metrics_http(0, 200, 3000);       /* 3 ms */
	kura_metrics_http(0, 503, 20000000);   /* 20 s: past the last bound */
	kura_metrics_http(1, 401, 50000);
	kura_metrics_http(1, 418, 1000);       /* no exact slot: counted as 4xx */
	kura_metrics_http(2, 200, 1);
	kura_metrics_http(7, 404, 100);        /* past the table: unmatched */
	kura_metrics_http(KURA_METRICS_ROUTE_UNMATCHED, 404, 100);
	kura_metrics_http(KURA_METRICS_ROUTE_STATIC, 200, 100);
	kura_metrics_http(KURA_METRICS_ROUTE_BLOCKED, 429, 100);
	kura_metrics_http(0, 0, 100);          /* no answer: not counted */
	kura_metrics_login(KURA_LOGIN_SUCCESS);
	kura_metrics_login(KURA_LOGIN_INVALID_CREDENTIALS);
	kura_metrics_login(KURA_LOGIN_INVALID_CREDENTIALS);
	kura_metrics_login(KURA_LOGIN_RATE_LIMITED);
	kura_metrics_ip_block();
	kura_metrics_sessions_created(1);
	kura_metrics_sessions_ended(4);
	kura_metrics_store_error();
	kura_metrics_audit_append_failed();
	kura_metrics_alert(KURA_ALERT_IP_BLOCKED);
	kura_metrics_webhook(KURA_WEBHOOK_DROPPED);
	render(&p, &g);

	assert_true(value(&p, "kura_http_requests_total", "/healthz", "code", "200") == 2);
	assert_true(value(&p, "kura_http_requests_total", "/healthz", "code", "503") == 1);
	assert_true(value(&p, "kura_http_requests_total", "/api/v1/auth/login", "code", "401") == 1);
	assert_true(value(&p, "kura_http_requests_total", "/api/v1/auth/login", "code", "4xx") == 1);
	assert_true(value(&p, "kura_http_requests_total", "/x/\"q\"\\n\nz", "code", "200") == 1);
	assert_true(value(&p, "kura_http_requests_total", "unmatched", "code", "404") == 2);
	assert_true(value(&p, "kura_http_requests_total", "static", "code", "200") == 1);
	assert_true(value(&p, "kura_http_requests_total", "blocked", "code", "429") == 1);
	/* the method label names the route's method */
	for (int i = 0; i < p.n; i++) {
		if (label(&p.s[i], "route") != NULL && strcmp(label(&p.s[i], "route"), "/healthz") == 0)
			assert_string_equal(label(&p.s[i], "method"), "GET");
	}

	/* cumulative buckets: 0.5 ms, 3 ms and 20 s */
	assert_true(value(&p, "kura_http_request_duration_seconds_bucket", "/healthz", "le", "0.001") == 1);
	assert_true(value(&p, "kura_http_request_duration_seconds_bucket", "/healthz", "le", "0.0025") == 1);
	assert_true(value(&p, "kura_http_request_duration_seconds_bucket", "/healthz", "le", "0.005") == 2);
	assert_true(value(&p, "kura_http_request_duration_seconds_bucket", "/healthz", "le", "10") == 2);
	assert_true(value(&p, "kura_http_request_duration_seconds_bucket", "/healthz", "le", "+Inf") == 3);
	assert_true(value(&p, "kura_http_request_duration_seconds_count", "/healthz", NULL, NULL) == 3);
	{
		double sum = value(&p, "kura_http_request_duration_seconds_sum", "/healthz", NULL, NULL);

		assert_true(sum > 20.0035 - 1e-9 && sum < 20.0035 + 1e-9);
	}
	/* every histogram: buckets never decrease, +Inf equals _count */
	for (int i = 0; i < p.n; i++) {
		const struct sample *s = &p.s[i];

		if (strcmp(s->name, "kura_http_request_duration_seconds_bucket") == 0 && i > 0 &&
		    strcmp(p.s[i - 1].name, s->name) == 0 &&
		    strcmp(label(&p.s[i - 1], "route"), label(s, "route")) == 0)
			assert_true(s->value >= p.s[i - 1].value);
		if (strcmp(s->name, "kura_http_request_duration_seconds_count") == 0)
			assert_true(value(&p, "kura_http_request_duration_seconds_bucket",
					  label(s, "route"), "le", "+Inf") == s->value);
	}

	assert_true(value(&p, "kura_logins_total", NULL, "outcome", "success") == 1);
	assert_true(value(&p, "kura_logins_total", NULL, "outcome", "invalid_credentials") == 2);
	assert_true(value(&p, "kura_logins_total", NULL, "outcome", "rate_limited") == 1);
	assert_true(value(&p, "kura_logins_total", NULL, "outcome", "busy") == 0);
	assert_true(value(&p, "kura_ip_blocks_total", NULL, NULL, NULL) == 1);
	assert_true(value(&p, "kura_sessions_created_total", NULL, NULL, NULL) == 1);
	assert_true(value(&p, "kura_sessions_ended_total", NULL, NULL, NULL) == 4);
	assert_true(value(&p, "kura_store_errors_total", NULL, NULL, NULL) == 1);
	assert_true(value(&p, "kura_audit_append_failures_total", NULL, NULL, NULL) == 1);
	assert_true(value(&p, "kura_alerts_total", NULL, "kind", "ip_blocked") == 1);
	assert_true(value(&p, "kura_alerts_total", NULL, "kind", "error_rate") == 0);
	assert_true(value(&p, "kura_alert_webhook_total", NULL, "result", "dropped") == 1);
	assert_true(value(&p, "kura_hash_pool_queue_depth", NULL, NULL, NULL) == 3);
	assert_true(value(&p, "kura_hash_pool_queue_capacity", NULL, NULL, NULL) == 64);
	assert_true(value(&p, "kura_ip_blocked", NULL, NULL, NULL) == 2);
	assert_true(value(&p, "kura_start_time_seconds", NULL, NULL, NULL) == 1700000000.5);
	/* every family has HELP and TYPE, and a name appears as a family once */
	for (int i = 0; i < p.nf; i++) {
		assert_true(p.f[i].help);
		for (int j = i + 1; j < p.nf; j++)
			assert_string_not_equal(p.f[i].name, p.f[j].name);
	}
}

static void
test_exposition_empty_and_fini(void **state)
{
	static struct parsed p;

	(void)state;
	/* without init: the scalar counters still render; no per-route series */
	kura_metrics_fini();
	kura_metrics_http(0, 200, 1);
	kura_metrics_login(KURA_LOGIN_BUSY);
	render(&p, NULL);
	assert_true(value(&p, "kura_logins_total", NULL, "outcome", "busy") == 1);
	for (int i = 0; i < p.n; i++)
		assert_true(strncmp(p.s[i].name, "kura_http_", 10) != 0);
	/* fini zeroes */
	kura_metrics_fini();
	render(&p, NULL);
	assert_true(value(&p, "kura_logins_total", NULL, "outcome", "busy") == 0);
	assert_int_equal(kura_metrics_init(100000), KURA_E_CONFIG);
}

static void
test_render_bounded(void **state)
{
	struct kura_buf b;

	(void)state;
	assert_int_equal(kura_metrics_init(1), KURA_OK);
	kura_metrics_http(0, 200, 1);
	kura_buf_init(&b, 64);
	assert_int_equal(kura_metrics_render(&b, NULL), KURA_E_BODY_TOO_LARGE);
	kura_buf_free(&b);
}

/* ---- the bearer token of GET /metrics */

static void
test_bearer(void **state)
{
	static const char tok[] = "s3cret-token-0123456789";
	uint8_t want[32];

	(void)state;
	kura_sha256(tok, strlen(tok), want);
	assert_true(kura_bearer_ok("Bearer s3cret-token-0123456789", want));
	assert_true(kura_bearer_ok("bearer s3cret-token-0123456789", want));
	assert_true(kura_bearer_ok("Bearer   s3cret-token-0123456789  ", want));
	assert_false(kura_bearer_ok("Bearer s3cret-token-012345678", want));   /* a prefix */
	assert_false(kura_bearer_ok("Bearer s3cret-token-01234567890", want)); /* longer */
	assert_false(kura_bearer_ok("Bearer S3cret-token-0123456789", want));  /* case */
	assert_false(kura_bearer_ok("Basic s3cret-token-0123456789", want));
	assert_false(kura_bearer_ok("Bearers3cret-token-0123456789", want));
	assert_false(kura_bearer_ok("s3cret-token-0123456789", want));
	assert_false(kura_bearer_ok("Bearer ", want));
	assert_false(kura_bearer_ok("Bearer", want));
	assert_false(kura_bearer_ok("", want));
	assert_false(kura_bearer_ok(NULL, want));
	assert_false(kura_bearer_ok("Bearer s3cret-token-0123456789", NULL));
	/* the hash of the empty token is no wildcard */
	kura_sha256("", 0, want);
	assert_false(kura_bearer_ok("Bearer ", want));
}

/* ---- alerts */

static void
test_hmac_rfc4231(void **state)
{
	/* RFC 4231, test case 2 */
	static const uint8_t want[32] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
		0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
		0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
	};
	uint8_t got[32], key[131];

	(void)state;
	kura_hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, got);
	assert_memory_equal(got, want, 32);
	/* test case 6: a key longer than the block is hashed first */
	{
		static const uint8_t want6[32] = {
			0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f, 0x0d, 0x8a, 0x26,
			0xaa, 0xcb, 0xf5, 0xb7, 0x7f, 0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28,
			0xc5, 0x14, 0x05, 0x46, 0x04, 0x0f, 0x0e, 0xe3, 0x7f, 0x54,
		};
		static const char msg[] = "Test Using Larger Than Block-Size Key - Hash Key First";

		memset(key, 0xaa, sizeof(key));
		kura_hmac_sha256(key, sizeof(key), msg, strlen(msg), got);
		assert_memory_equal(got, want6, 32);
	}
}

static void
test_alert_json(void **state)
{
	json_error_t jerr;
	json_t *o;
	char *text;

	(void)state;
	text = kura_alert_json(KURA_ALERT_IP_BLOCKED, 1700000000000000LL, "acme", "192.0.2.7",
			       1700000900000000LL, "more than 20 failed sign-ins");
	assert_non_null(text);
	o = json_loads(text, 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "ip_blocked");
	assert_string_equal(json_string_value(json_object_get(o, "time")),
			    "2023-11-14T22:13:20.000000Z");
	assert_string_equal(json_string_value(json_object_get(o, "tenant")), "acme");
	assert_string_equal(json_string_value(json_object_get(o, "ip")), "192.0.2.7");
	assert_string_equal(json_string_value(json_object_get(o, "until")),
			    "2023-11-14T22:28:20.000000Z");
	assert_string_equal(json_string_value(json_object_get(o, "detail")),
			    "more than 20 failed sign-ins");
	json_decref(o);
	free(text);
	/* optional members are left out, detail is always there */
	text = kura_alert_json(KURA_ALERT_ERROR_RATE, 1700000000000000LL, NULL, "", 0, NULL);
	assert_non_null(text);
	o = json_loads(text, 0, &jerr);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 3);
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "error_rate");
	assert_string_equal(json_string_value(json_object_get(o, "detail")), "");
	json_decref(o);
	free(text);
	/* invalid UTF-8 in a detail does not lose the alert */
	text = kura_alert_json(KURA_ALERT_ERROR_RATE, 1, NULL, NULL, 0, "bad \xff byte");
	assert_non_null(text);
	free(text);
}

static void
test_error_rate_once_a_minute(void **state)
{
	struct kura_alerts *a = NULL;
	/* the start of a minute, so that t0 + 59 s is in the same one */
	int64_t t0 = 1700000040LL * 1000000;

	(void)state;
	kura_metrics_fini();
	assert_int_equal(kura_alerts_new(NULL, NULL, 0, 3, &a), KURA_OK);
	assert_false(kura_alerts_count_5xx(a, t0));
	assert_false(kura_alerts_count_5xx(a, t0 + 1000000));
	assert_false(kura_alerts_count_5xx(a, t0 + 2000000));
	assert_true(kura_alerts_count_5xx(a, t0 + 3000000));  /* the 4th: more than 3 */
	for (int i = 0; i < 20; i++)
		assert_false(kura_alerts_count_5xx(a, t0 + 4000000 + i)); /* once per minute */
	/* a new minute starts from zero */
	assert_false(kura_alerts_count_5xx(a, t0 + 60000000));
	assert_false(kura_alerts_count_5xx(a, t0 + 61000000));
	assert_false(kura_alerts_count_5xx(a, t0 + 62000000));
	assert_true(kura_alerts_count_5xx(a, t0 + 63000000));
	kura_alerts_free(a);
	/* 0 = never */
	assert_int_equal(kura_alerts_new(NULL, NULL, 0, 0, &a), KURA_OK);
	for (int i = 0; i < 100; i++)
		assert_false(kura_alerts_count_5xx(a, t0));
	kura_alerts_free(a);
	assert_false(kura_alerts_count_5xx(NULL, t0));
	/* a webhook needs a secret */
	assert_int_equal(kura_alerts_new("https://example.invalid/hook", NULL, 0, 1, &a),
			 KURA_E_CONFIG);
	assert_null(a);
	/* raising without a webhook only logs and counts */
	kura_alert_raise(NULL, KURA_ALERT_IP_BLOCKED, "acme", "192.0.2.1", 1, "x");
	{
		static struct parsed p;

		render(&p, NULL);
		assert_true(value(&p, "kura_alerts_total", NULL, "kind", "error_rate") == 2);
		assert_true(value(&p, "kura_alerts_total", NULL, "kind", "ip_blocked") == 1);
	}
}

/* A webhook that cannot be reached: raising never waits, and freeing stops promptly. */
static void
test_webhook_never_blocks(void **state)
{
	static const uint8_t secret[] = "0123456789abcdef";
	struct kura_alerts *a = NULL;
	int64_t t0;

	(void)state;
	/* port 9 on loopback: refused at once, or dropped; either way never a 2xx */
	assert_int_equal(kura_alerts_new("http://127.0.0.1:9/hook", secret, 16, 1, &a), KURA_OK);
	t0 = kura_mono_us();
	for (int i = 0; i < 2 * KURA_ALERT_QUEUE_MAX; i++)
		kura_alert_raise(a, KURA_ALERT_IP_BLOCKED, "acme", "192.0.2.1", 0, "flood");
	assert_true(kura_mono_us() - t0 < 2000000);
	t0 = kura_mono_us();
	kura_alerts_free(a);
	/* one attempt at most is under way when stopping; its timeout is 5 s */
	assert_true(kura_mono_us() - t0 < 8000000);
}

static void
test_webhook_url_config(void **state)
{
	static const struct {
		const char *url;
		bool ok;
	} cases[] = {
		{"https://hooks.example.com/kura", true},
		{"https://hooks.example.com:8443/x?a=b", true},
		{"http://127.0.0.1:9000/hook", true},
		{"http://127.1.2.3/hook", true},
		{"http://localhost:8080/", true},
		{"http://[::1]:8080/hook", true},
		{"http://hooks.example.com/kura", false},
		{"http://127.0.0.1.example.com/", false},
		{"http://127.0.0.1@example.com/", false},
		{"http://localhost.example.com/", false},
		{"http://[::1", false},
		{"ftp://127.0.0.1/", false},
		{"https://", false},
		{"https://a b/", false},
		{"javascript:alert(1)", false},
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kura_config c;
		enum kura_err e;

		kura_config_defaults(&c);
		assert_int_equal(kura_config_set(&c, "alert_webhook_url", cases[i].url, err,
						 sizeof(err)), KURA_OK);
		assert_int_equal(kura_config_set(&c, "alert_webhook_secret_file", "/x", err,
						 sizeof(err)), KURA_OK);
		e = kura_config_finish(&c, err, sizeof(err));
		if ((e == KURA_OK) != cases[i].ok)
			fail_msg("%s: expected %s, got %s", cases[i].url, cases[i].ok ? "ok" : "refusal",
				 err);
	}
	{
		struct kura_config c;

		/* a URL without a secret file is refused: alerts are always signed */
		kura_config_defaults(&c);
		assert_int_equal(kura_config_set(&c, "alert_webhook_url", "https://h.example/",
						 err, sizeof(err)), KURA_OK);
		assert_int_equal(kura_config_finish(&c, err, sizeof(err)), KURA_E_CONFIG);
		assert_non_null(strstr(err, "alert_webhook_secret_file"));
		/* defaults of the new keys */
		kura_config_defaults(&c);
		assert_int_equal(c.login_fail_ip_limit, 20);
		assert_int_equal(c.login_block_minutes, 15);
		assert_int_equal(c.alert_5xx_per_minute, 50);
		assert_string_equal(c.metrics_token_file, "");
		assert_int_equal(kura_config_set(&c, "login_block_minutes", "0", err, sizeof(err)),
				 KURA_E_CONFIG);
		assert_int_equal(kura_config_set(&c, "login_fail_ip_limit", "0", err, sizeof(err)),
				 KURA_OK);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test_teardown(test_exposition, teardown_metrics),
		cmocka_unit_test_teardown(test_exposition_empty_and_fini, teardown_metrics),
		cmocka_unit_test_teardown(test_render_bounded, teardown_metrics),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_alert_json),
		cmocka_unit_test_teardown(test_error_rate_once_a_minute, teardown_metrics),
		cmocka_unit_test(test_webhook_never_blocks),
		cmocka_unit_test(test_webhook_url_config),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
