/*
 * GET /metrics: the counters of kura/monitor.h and a few gauges read from
 * their owners, as Prometheus text. Reached only with the operator's bearer
 * token (KURA_AUTH_METRICS); it names routes and counts, never tenants,
 * users or addresses.
 */
#include "api_int.h"
#include "kura/clock.h"
#include "kura/monitor.h"
#include "kura/pool.h"

/* Far more than the exposition of a route table many times today's. */
#define METRICS_MAX_BYTES (4u << 20)

void
kura_api_metrics(struct kura_req *r)
{
	struct kura_server *srv = r->srv;
	struct kura_metrics_gauges g = {0};
	struct kura_buf b;
	enum kura_err e;

	g.hash_pool_depth = kura_pool_depth(srv->hash_pool);
	g.hash_pool_capacity = srv->cfg.hash_queue_max;
	g.ip_blocked = kura_ipblock_blocked(srv->ipblock, kura_now_us());
	g.start_time_us = srv->started_at;
	kura_buf_init(&b, METRICS_MAX_BYTES);
	e = kura_metrics_render(&b, &g);
	if (e != KURA_OK)
		kura_reply_error(r, KURA_E_INTERNAL, "rendering the metrics failed");
	else
		kura_reply_text(r, 200, KURA_METRICS_CONTENT_TYPE, b.data, b.len);
	kura_buf_free(&b);
}
