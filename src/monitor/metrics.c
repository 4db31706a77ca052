/*
 * Process-wide counters and per-route latency histograms, and their
 * Prometheus text exposition (format 0.0.4).
 *
 * Recording is a relaxed atomic add, never a lock: it runs on every
 * request. The per-route series live in one array sized at start-up from
 * the route table (plus three slots for requests no route answered), and
 * each route's status codes are folded into a short fixed list (the codes
 * Kura answers with, then one class per hundred) so the array stays small
 * however odd a status is. The histogram keeps per-bucket counts and turns
 * them into Prometheus' cumulative ones when rendered; its count is the sum
 * of the buckets, so the two always agree.
 */
#include "kura/monitor.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double kura_metrics_bucket_le[KURA_METRICS_NBUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* The same bounds in microseconds, so that bucketing needs no floating point. */
static const int64_t bucket_le_us[KURA_METRICS_NBUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};

/* Exact codes; anything else lands in its class ("4xx") after them. */
static const unsigned codes[] = {
	200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 409,
	413, 414, 415, 422, 429, 431, 500, 503,
};
#define NEXACT (sizeof(codes) / sizeof(codes[0]))
#define NCODES (NEXACT + 5) /* + 1xx..5xx */

#define MAX_ROUTES 4096
#define NPSEUDO 3 /* unmatched, static, blocked: the slots after the table */

struct route_stats {
	atomic_ullong by_code[NCODES];
	atomic_ullong bucket[KURA_METRICS_NBUCKETS + 1];
	atomic_ullong sum_us;
	char *method;   /* labels; NULL for the pseudo routes */
	char *pattern;
};

static struct route_stats *routes; /* nroutes + NPSEUDO, or NULL before init */
static size_t nroutes;

static atomic_ullong logins[KURA_LOGIN__COUNT];
static atomic_ullong ip_blocks;
static atomic_ullong sessions_created;
static atomic_ullong sessions_ended;
static atomic_ullong store_errors;
static atomic_ullong audit_failures;
static atomic_ullong alerts[KURA_ALERT__COUNT];
static atomic_ullong webhook[3];

static const char *const login_names[KURA_LOGIN__COUNT] = {
	"success", "invalid_credentials", "tenant_suspended", "rate_limited", "busy", "error",
};
static const char *const webhook_names[3] = {"delivered", "failed", "dropped"};
static const char *const pseudo_names[NPSEUDO] = {"unmatched", "static", "blocked"};

enum kura_err
kura_metrics_init(size_t n)
{
	struct route_stats *rs;

	if (n > MAX_ROUTES)
		return KURA_E_CONFIG;
	kura_metrics_fini();
	rs = calloc(n + NPSEUDO, sizeof(*rs));
	if (rs == NULL)
		return KURA_E_NOMEM;
	routes = rs;
	nroutes = n;
	return KURA_OK;
}

enum kura_err
kura_metrics_route_label(size_t i, const char *method, const char *pattern)
{
	char *m, *p;

	if (routes == NULL || i >= nroutes || method == NULL || pattern == NULL)
		return KURA_E_INTERNAL;
	m = strdup(method);
	p = strdup(pattern);
	if (m == NULL || p == NULL) {
		free(m);
		free(p);
		return KURA_E_NOMEM;
	}
	free(routes[i].method);
	free(routes[i].pattern);
	routes[i].method = m;
	routes[i].pattern = p;
	return KURA_OK;
}

static void
zero_all(void)
{
	for (size_t i = 0; i < KURA_LOGIN__COUNT; i++)
		atomic_store(&logins[i], 0);
	for (size_t i = 0; i < KURA_ALERT__COUNT; i++)
		atomic_store(&alerts[i], 0);
	for (size_t i = 0; i < 3; i++)
		atomic_store(&webhook[i], 0);
	atomic_store(&ip_blocks, 0);
	atomic_store(&sessions_created, 0);
	atomic_store(&sessions_ended, 0);
	atomic_store(&store_errors, 0);
	atomic_store(&audit_failures, 0);
}

void
kura_metrics_fini(void)
{
	if (routes != NULL) {
		for (size_t i = 0; i < nroutes + NPSEUDO; i++) {
			free(routes[i].method);
			free(routes[i].pattern);
		}
		free(routes);
	}
	routes = NULL;
	nroutes = 0;
	zero_all();
}

size_t
kura_metrics_bucket(int64_t dur_us)
{
	size_t i = 0;

	while (i < KURA_METRICS_NBUCKETS && dur_us > bucket_le_us[i])
		i++;
	return i;
}

static size_t
code_index(unsigned status)
{
	for (size_t i = 0; i < NEXACT; i++) {
		if (codes[i] == status)
			return i;
	}
	return NEXACT + (status / 100) - 1;
}

static void
add(atomic_ullong *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

void
kura_metrics_http(int route, unsigned status, int64_t dur_us)
{
	struct route_stats *rs;
	size_t slot;

	if (routes == NULL || status < 100 || status > 599)
		return;
	if (route >= 0 && (size_t)route < nroutes)
		slot = (size_t)route;
	else if (route == KURA_METRICS_ROUTE_STATIC)
		slot = nroutes + 1;
	else if (route == KURA_METRICS_ROUTE_BLOCKED)
		slot = nroutes + 2;
	else
		slot = nroutes;
	if (dur_us < 0)
		dur_us = 0;
	rs = &routes[slot];
	add(&rs->by_code[code_index(status)], 1);
	add(&rs->bucket[kura_metrics_bucket(dur_us)], 1);
	add(&rs->sum_us, (uint64_t)dur_us);
}

void
kura_metrics_login(enum kura_login_outcome o)
{
	if ((int)o >= 0 && o < KURA_LOGIN__COUNT)
		add(&logins[o], 1);
}

void
kura_metrics_ip_block(void)
{
	add(&ip_blocks, 1);
}

void
kura_metrics_sessions_created(uint64_t n)
{
	add(&sessions_created, n);
}

void
kura_metrics_sessions_ended(uint64_t n)
{
	add(&sessions_ended, n);
}

void
kura_metrics_store_error(void)
{
	add(&store_errors, 1);
}

void
kura_metrics_audit_append_failed(void)
{
	add(&audit_failures, 1);
}

void
kura_metrics_alert(enum kura_alert_kind k)
{
	if ((int)k >= 0 && k < KURA_ALERT__COUNT)
		add(&alerts[k], 1);
}

void
kura_metrics_webhook(enum kura_webhook_result res)
{
	if ((int)res >= 0 && (int)res < 3)
		add(&webhook[res], 1);
}

static unsigned long long
get(atomic_ullong *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* A label value as the format wants it: backslash, quote and newline escaped. */
static enum kura_err
put_label(struct kura_buf *b, const char *s)
{
	enum kura_err e = KURA_OK;

	for (const char *p = s; *p != '\0' && e == KURA_OK; p++) {
		if (*p == '\\')
			e = kura_buf_append(b, "\\\\", 2);
		else if (*p == '"')
			e = kura_buf_append(b, "\\\"", 2);
		else if (*p == '\n')
			e = kura_buf_append(b, "\\n", 2);
		else
			e = kura_buf_append(b, p, 1);
	}
	return e;
}

static enum kura_err
header(struct kura_buf *b, const char *name, const char *type, const char *help)
{
	return kura_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `name{method="..",route=".."` without the closing brace, for more labels to follow. */
static enum kura_err
route_labels(struct kura_buf *b, const char *name, size_t slot)
{
	const struct route_stats *rs = &routes[slot];
	enum kura_err e;

	e = kura_buf_printf(b, "%s{method=\"", name);
	if (e == KURA_OK && slot < nroutes && rs->method != NULL)
		e = put_label(b, rs->method);
	if (e == KURA_OK)
		e = kura_buf_append(b, "\",route=\"", 9);
	if (e == KURA_OK) {
		if (slot >= nroutes)
			e = put_label(b, pseudo_names[slot - nroutes]);
		else if (rs->pattern != NULL)
			e = put_label(b, rs->pattern);
		else
			e = kura_buf_printf(b, "#%zu", slot);
	}
	if (e == KURA_OK)
		e = kura_buf_append(b, "\"", 1);
	return e;
}

static enum kura_err
render_requests(struct kura_buf *b)
{
	enum kura_err e;

	e = header(b, "kura_http_requests_total", "counter",
		   "HTTP requests answered, by route and status code.");
	for (size_t s = 0; e == KURA_OK && routes != NULL && s < nroutes + NPSEUDO; s++) {
		for (size_t c = 0; e == KURA_OK && c < NCODES; c++) {
			unsigned long long v = get(&routes[s].by_code[c]);

			if (v == 0)
				continue;
			e = route_labels(b, "kura_http_requests_total", s);
			if (e != KURA_OK)
				break;
			if (c < NEXACT)
				e = kura_buf_printf(b, ",code=\"%u\"} %llu\n", codes[c], v);
			else
				e = kura_buf_printf(b, ",code=\"%zuxx\"} %llu\n", c - NEXACT + 1, v);
		}
	}
	return e;
}

static enum kura_err
render_latency(struct kura_buf *b)
{
	static const char name[] = "kura_http_request_duration_seconds";
	enum kura_err e;

	e = header(b, name, "histogram",
		   "Time from the request's arrival until its answer was sent.");
	for (size_t s = 0; e == KURA_OK && routes != NULL && s < nroutes + NPSEUDO; s++) {
		unsigned long long counts[KURA_METRICS_NBUCKETS + 1], cum = 0;

		/* Read once, so the cumulative buckets and the count agree in one scrape. */
		for (size_t i = 0; i <= KURA_METRICS_NBUCKETS; i++) {
			counts[i] = get(&routes[s].bucket[i]);
			cum += counts[i];
		}
		if (cum == 0)
			continue;
		cum = 0;
		for (size_t i = 0; e == KURA_OK && i <= KURA_METRICS_NBUCKETS; i++) {
			cum += counts[i];
			e = route_labels(b, "kura_http_request_duration_seconds_bucket", s);
			if (e != KURA_OK)
				break;
			if (i < KURA_METRICS_NBUCKETS)
				e = kura_buf_printf(b, ",le=\"%g\"} %llu\n", kura_metrics_bucket_le[i], cum);
			else
				e = kura_buf_printf(b, ",le=\"+Inf\"} %llu\n", cum);
		}
		if (e == KURA_OK)
			e = route_labels(b, "kura_http_request_duration_seconds_sum", s);
		if (e == KURA_OK)
			e = kura_buf_printf(b, "} %.6f\n", (double)get(&routes[s].sum_us) / 1e6);
		if (e == KURA_OK)
			e = route_labels(b, "kura_http_request_duration_seconds_count", s);
		if (e == KURA_OK)
			e = kura_buf_printf(b, "} %llu\n", cum);
	}
	return e;
}

static enum kura_err
counter(struct kura_buf *b, const char *name, const char *help, atomic_ullong *c)
{
	enum kura_err e = header(b, name, "counter", help);

	if (e == KURA_OK)
		e = kura_buf_printf(b, "%s %llu\n", name, get(c));
	return e;
}

static enum kura_err
gauge(struct kura_buf *b, const char *name, const char *help, unsigned long long v)
{
	enum kura_err e = header(b, name, "gauge", help);

	if (e == KURA_OK)
		e = kura_buf_printf(b, "%s %llu\n", name, v);
	return e;
}

/* A counter with one label, one series per value (zeros included, so rates start at once). */
static enum kura_err
labelled(struct kura_buf *b, const char *name, const char *help, const char *label,
	 const char *const *values, atomic_ullong *c, size_t n)
{
	enum kura_err e = header(b, name, "counter", help);

	for (size_t i = 0; e == KURA_OK && i < n; i++)
		e = kura_buf_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, values[i], get(&c[i]));
	return e;
}

enum kura_err
kura_metrics_render(struct kura_buf *b, const struct kura_metrics_gauges *g)
{
	static const char *const alert_names[KURA_ALERT__COUNT] = {"ip_blocked", "error_rate",
								    "user_volume"};
	enum kura_err e;

	e = render_requests(b);
	if (e == KURA_OK)
		e = render_latency(b);
	if (e == KURA_OK)
		e = labelled(b, "kura_logins_total", "Sign-in attempts, by outcome.", "outcome",
			     login_names, logins, KURA_LOGIN__COUNT);
	if (e == KURA_OK)
		e = counter(b, "kura_ip_blocks_total",
			    "Client addresses blocked after too many failed sign-ins.", &ip_blocks);
	if (e == KURA_OK)
		e = counter(b, "kura_sessions_created_total", "Sessions opened by a sign-in.",
			    &sessions_created);
	if (e == KURA_OK)
		e = counter(b, "kura_sessions_ended_total",
			    "Sessions deleted: sign-out, timeout, forced sign-out, purge.",
			    &sessions_ended);
	if (e == KURA_OK)
		e = counter(b, "kura_store_errors_total", "Failed store operations.", &store_errors);
	if (e == KURA_OK)
		e = counter(b, "kura_audit_append_failures_total",
			    "Audit entries that could not be written.", &audit_failures);
	if (e == KURA_OK)
		e = labelled(b, "kura_alerts_total", "Operator alerts raised, by kind.", "kind",
			     alert_names, alerts, KURA_ALERT__COUNT);
	if (e == KURA_OK)
		e = labelled(b, "kura_alert_webhook_total", "Alert webhook deliveries, by result.",
			     "result", webhook_names, webhook, 3);
	if (e == KURA_OK && g != NULL) {
		e = gauge(b, "kura_hash_pool_queue_depth",
			  "Password-hashing jobs waiting for a thread.", g->hash_pool_depth);
		if (e == KURA_OK)
			e = gauge(b, "kura_hash_pool_queue_capacity",
				  "Waiting jobs allowed before 503 service_busy.",
				  g->hash_pool_capacity);
		if (e == KURA_OK)
			e = gauge(b, "kura_ip_blocked", "Client addresses blocked right now.",
				  g->ip_blocked);
		if (e == KURA_OK)
			e = header(b, "kura_start_time_seconds", "gauge",
				   "When this kurad started, in seconds since the Unix epoch.");
		if (e == KURA_OK)
			e = kura_buf_printf(b, "kura_start_time_seconds %.3f\n",
					    (double)g->start_time_us / 1e6);
	}
	return e;
}
