/*
 * GET /api/v1/notices: the operator's notices of incidents and maintenance
 * that concern the caller's tenant (its own and those for every tenant),
 * current and upcoming, newest first. Every signed-in user may read them:
 * they are the service's news, not the tenant's data.
 */
#include <stdio.h>
#include <string.h>

#include "api_int.h"
#include "kura/clock.h"

/* Notices are few; a page this long is all of them in practice. */
#define NOTICES_MAX 100

static bool
add_notice(void *ctx, const struct kura_notice *n)
{
	json_t *results = ctx;
	char id[24], starts[40], ends[40], created[40];
	json_t *o;

	snprintf(id, sizeof(id), "%lld", (long long)n->id);
	kura_time_rfc3339(n->starts_at, starts, sizeof(starts));
	kura_time_rfc3339(n->ends_at, ends, sizeof(ends));
	kura_time_rfc3339(n->created_at, created, sizeof(created));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "kind",
		      n->kind == KURA_NOTICE_INCIDENT ? "incident" : "maintenance", "scope",
		      n->tenant_id[0] != '\0' ? "tenant" : "all", "title", n->title, "body",
		      n->body, "startsAt", starts, "endsAt", ends, "createdAt", created);
	/* The store only keeps valid UTF-8; a row that is not anyway is left out, not a 500. */
	if (o != NULL)
		json_array_append_new(results, o);
	return true;
}

void
kura_api_notices_list(struct kura_req *r)
{
	static const char *const allowed[] = {NULL};
	const char *bad = NULL;
	json_t *results;
	enum kura_err e;

	if (!kura_req_query_only(r, allowed, &bad)) {
		char field[80];
		json_t *details = json_array();

		/* the name is echoed back, so bound it */
		snprintf(field, sizeof(field), "%.64s", bad != NULL ? bad : "");
		kura_api_detail(details, field, "unknown", "no such query argument");
		kura_reply_error_details(r, KURA_E_VALIDATION, "unknown query arguments are refused",
					 details);
		return;
	}
	results = json_array();
	if (results == NULL) {
		kura_reply_error(r, KURA_E_NOMEM, NULL);
		return;
	}
	e = kura_store_notice_list(r->srv->store, r->principal.tenant_id, kura_now_us(),
				   NOTICES_MAX, add_notice, results);
	if (e != KURA_OK) {
		json_decref(results);
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 200, json_pack("{s:o}", "results", results));
}
