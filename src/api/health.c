/* Liveness and readiness probes for load balancers and orchestrators. */
#include "api_int.h"

void
kura_api_healthz(struct kura_req *r)
{
	kura_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void
kura_api_readyz(struct kura_req *r)
{
	if (kura_store_ping(r->srv->store) != KURA_OK) {
		kura_reply_error(r, KURA_E_UNAVAILABLE, "the store is not reachable");
		return;
	}
	kura_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
}
