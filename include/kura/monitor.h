/*
 * Monitoring: process-wide counters and latency histograms, served as
 * Prometheus text (GET /metrics); the failed-login IP block; operator
 * alerts (a log line, and optionally a signed JSON webhook).
 *
 * Layering. monitor/metrics.c and monitor/ipblock.c use base/ and libc only,
 * so every layer may count into them, store/ included (store errors,
 * sessions), much as every layer may write to the operational log.
 * monitor/alert.c also uses crypto/ (the webhook's HMAC) and libcurl; only
 * auth/, http/ and kurad call it.
 *
 * The counters are process-wide atomics: recording never takes a lock. They
 * count what this process saw; with several kurad nodes, Prometheus sums
 * the nodes.
 */
#ifndef KURA_MONITOR_H
#define KURA_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kura/buf.h"
#include "kura/err.h"

/* ---------------------------------------------------------------- metrics */

/* Route slots that are not an index into the route table. */
#define KURA_METRICS_ROUTE_UNMATCHED (-1) /* no route: 404, 405, 414, ... */
#define KURA_METRICS_ROUTE_STATIC (-2)    /* a file of the admin UI */
#define KURA_METRICS_ROUTE_BLOCKED (-3)   /* refused early: the address is blocked */

/* Upper bounds (seconds) of the latency histogram's buckets; +Inf follows. */
#define KURA_METRICS_NBUCKETS 13
extern const double kura_metrics_bucket_le[KURA_METRICS_NBUCKETS];

enum kura_login_outcome {
	KURA_LOGIN_SUCCESS = 0,
	KURA_LOGIN_INVALID_CREDENTIALS, /* wrong tenant, e-mail or password; locked; disabled */
	KURA_LOGIN_TENANT_SUSPENDED,
	KURA_LOGIN_RATE_LIMITED,        /* refused: the address is blocked */
	KURA_LOGIN_BUSY,                /* refused: the hash pool's queue is full */
	KURA_LOGIN_ERROR,               /* the store failed */
	KURA_LOGIN__COUNT
};

enum kura_alert_kind {
	KURA_ALERT_IP_BLOCKED = 0,
	KURA_ALERT_ERROR_RATE,
	KURA_ALERT_USER_VOLUME,      /* one user read more records / sensitive values in an hour */
	KURA_ALERT__COUNT
};

/*
 * Makes room for the per-route series of a table of nroutes routes (<=
 * 4096). Call once, before the threads that record start; the other
 * counters work without it. KURA_E_NOMEM / KURA_E_CONFIG on failure.
 */
enum kura_err kura_metrics_init(size_t nroutes);
/* Names route i for the exposition ("GET", "/api/v1/users/{id}"; copied). */
enum kura_err kura_metrics_route_label(size_t i, const char *method, const char *pattern);
/* Frees the per-route series and zeroes every counter (tests, shutdown). */
void kura_metrics_fini(void);

/*
 * One answered request: route is an index into the table or one of
 * KURA_METRICS_ROUTE_*; an index past the table counts as unmatched.
 * A status of 0 (no answer was sent) is not counted.
 */
void kura_metrics_http(int route, unsigned status, int64_t dur_us);
void kura_metrics_login(enum kura_login_outcome o);
void kura_metrics_ip_block(void);
void kura_metrics_sessions_created(uint64_t n);
void kura_metrics_sessions_ended(uint64_t n);
void kura_metrics_store_error(void);
void kura_metrics_audit_append_failed(void);
void kura_metrics_alert(enum kura_alert_kind k);
/* One webhook delivery: delivered, failed after its retries, or dropped (queue full). */
enum kura_webhook_result { KURA_WEBHOOK_OK = 0, KURA_WEBHOOK_FAILED, KURA_WEBHOOK_DROPPED };
void kura_metrics_webhook(enum kura_webhook_result res);

/* The histogram bucket of a duration: 0..KURA_METRICS_NBUCKETS (the last is +Inf). */
size_t kura_metrics_bucket(int64_t dur_us);

/* Values read at scrape time from their owners. */
struct kura_metrics_gauges {
	uint64_t hash_pool_depth;      /* logins and password changes waiting */
	uint64_t hash_pool_capacity;
	uint64_t ip_blocked;           /* addresses blocked right now */
	int64_t start_time_us;         /* when kurad started */
};

/*
 * Appends the Prometheus text exposition (format 0.0.4) of every counter
 * and the gauges to out. Per-route series appear once a route has answered.
 * Returns what kura_buf_append returned on failure.
 */
enum kura_err kura_metrics_render(struct kura_buf *out, const struct kura_metrics_gauges *g);

/* Content-Type of the exposition. */
#define KURA_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---------------------------------------------------------------- IP block */

/*
 * Failed sign-ins per client address in a sliding window (12 steps of
 * window_s / 12); past limit the address is blocked for block_s seconds.
 * IPv4 addresses count one by one; IPv6 ones by /64, the block a single
 * host usually holds.
 *
 * The table is in memory and bounded: past capacity the address least
 * recently counted is forgotten, so a flood of addresses costs a fixed
 * amount of memory. One kurad only: with several nodes the counts and
 * blocks belong in the store (DESIGN.md, "Growing past one machine").
 */
struct kura_ipblock;

/* limit >= 1, window_s >= 12, block_s >= 1, capacity >= 1. */
enum kura_err kura_ipblock_new(unsigned limit, unsigned window_s, unsigned block_s,
			       size_t capacity, struct kura_ipblock **out);
/* NULL is a no-op. */
void kura_ipblock_free(struct kura_ipblock *b);

/*
 * Seconds (rounded up) that ip stays blocked at now_us; 0 when it is not.
 * Takes no lock while no address is blocked. An unparseable ip is never
 * blocked.
 */
int64_t kura_ipblock_check(struct kura_ipblock *b, const char *ip, int64_t now_us);

/*
 * Counts one failed sign-in from ip at now_us. Returns true when this
 * failure starts a block (the caller raises the alert and writes the audit
 * entry), with *until_us set to its end; false otherwise, *until_us 0.
 */
bool kura_ipblock_fail(struct kura_ipblock *b, const char *ip, int64_t now_us, int64_t *until_us);

/* Addresses blocked at now_us, and addresses tracked at all. */
size_t kura_ipblock_blocked(struct kura_ipblock *b, int64_t now_us);
size_t kura_ipblock_tracked(struct kura_ipblock *b);

/*
 * The name under which ip is counted: the address itself (IPv4, or IPv4
 * mapped into IPv6), or "prefix::/64" for IPv6. "" when ip does not parse.
 */
void kura_ipblock_key_name(const char *ip, char *out, size_t n);

/* ---------------------------------------------------------------- alerts */

/*
 * Operator alerts. Each is logged at WARN as
 *   event=alert kind=<kind> [tenant=..] [ip=..] [until=<rfc3339>] detail=".."
 * and, with a webhook configured, POSTed as JSON
 *   {"kind", "time", "tenant"?, "ip"?, "until"?, "detail"}
 * with "X-Kura-Signature: sha256=<hex HMAC-SHA256(secret, body)>", by one
 * background thread from a bounded queue: raising an alert never waits for
 * the network, and when the queue is full the alert is dropped (and
 * counted) rather than held.
 */
struct kura_alerts;

#define KURA_ALERT_QUEUE_MAX 256

/*
 * max_5xx_per_minute: more 5xx answers than this in one minute raise an
 * "error_rate" alert (at most one a minute); 0 = never. webhook_url NULL or
 * "" = log only. secret (copied, then wiped by the caller) signs the body.
 */
enum kura_err kura_alerts_new(const char *webhook_url, const uint8_t *secret, size_t secret_len,
			      unsigned max_5xx_per_minute, struct kura_alerts **out);
/* Stops the thread (an alert being sent finishes; queued ones are dropped). NULL is a no-op. */
void kura_alerts_free(struct kura_alerts *a);

/*
 * Raises an alert. tenant, ip and detail may be NULL; until_us 0 = none.
 * a NULL logs only.
 */
void kura_alert_raise(struct kura_alerts *a, enum kura_alert_kind kind, const char *tenant,
		      const char *ip, int64_t until_us, const char *detail);

/*
 * Counts one 5xx answer at now_us; raises "error_rate" when the count of
 * the current minute passes the threshold, once per minute. Returns true
 * when it raised. a NULL is a no-op.
 */
bool kura_alerts_count_5xx(struct kura_alerts *a, int64_t now_us);

/* The stable name of an alert kind ("ip_blocked", "error_rate"). */
const char *kura_alert_kind_name(enum kura_alert_kind k);

/*
 * The webhook's JSON body for an alert (no trailing newline); caller frees.
 * NULL when out of memory. Exposed for tests, which check its shape.
 */
char *kura_alert_json(enum kura_alert_kind kind, int64_t time_us, const char *tenant,
		      const char *ip, int64_t until_us, const char *detail);

/*
 * Per-user read volume (monitor/volume.c): records and sensitive values
 * each user of each tenant saw in replies, per fixed hour from the user's
 * first read. Thresholds of 0 never trigger. kura_volume_add returns which
 * thresholds this addition crossed -- each at most once per user and hour --
 * as KURA_VOLUME_* bits, and the hour's counts so far.
 */
struct kura_volume;

#define KURA_VOLUME_RECORDS 1u
#define KURA_VOLUME_SENSITIVE 2u

struct kura_volume_counts {
	uint64_t records, sensitive;
	int64_t window_start;
};

enum kura_err kura_volume_new(uint64_t max_records, uint64_t max_sensitive,
			      struct kura_volume **out);
void kura_volume_free(struct kura_volume *v); /* NULL is a no-op */
unsigned kura_volume_add(struct kura_volume *v, const char *tenant, int64_t user_id,
			 uint64_t records, uint64_t sensitive, int64_t now_us,
			 struct kura_volume_counts *counts);

#endif
