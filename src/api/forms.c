/*
 * Public form endpoints (/f/{tenant}/{form}) and the tenant's consumer
 * access log.
 *
 * Every request that reaches a form endpoint of an active tenant is written
 * to that tenant's form_access_log (time, the consumer's address, form
 * name, method, status, outcome, user agent, request id) before it is
 * answered, apart from the audit log; housekeeping deletes rows after 365
 * days. No form is defined yet, so every such request is answered 404
 * no such form -- and logged as form_not_found, which is what a probe for
 * forms looks like. A name for a tenant that does not exist or is
 * suspended gets the same 404 and is in no tenant's log (the server's
 * request log has it).
 *
 * form_ip_limit bounds the requests per address and minute (each one is a
 * write): the request that goes past it is answered 429 and logged as
 * throttled; those that follow within the minute are answered 429 without
 * a row each, so a flood cannot fill a tenant's disk through its log.
 */
#include <stdio.h>
#include <string.h>

#include "api_int.h"
#include "kura/auth.h"
#include "kura/clock.h"
#include "kura/log.h"
#include "kura/monitor.h"

#define LIST_DEFAULT 50
#define LIST_MAX 100

/* The form name as logged: at most 64 bytes, anything but [A-Za-z0-9._-] as '?'. */
static void
form_name(const char *in, char *out, size_t n)
{
	size_t i;

	for (i = 0; in[i] != '\0' && i + 1 < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';

		out[i] = ok ? (char)ch : '?';
	}
	out[i] = '\0';
}

static void
reply_throttled(struct kura_req *r, int64_t left_s)
{
	char secs[24];

	kura_reply_error(r, KURA_E_RATE_LIMITED,
			 "too many requests to forms from this address; try again later");
	snprintf(secs, sizeof(secs), "%lld", (long long)(left_s > 0 ? left_s : 1));
	kura_reply_add_header(r, "Retry-After", secs);
}

void
kura_api_form_public(struct kura_req *r)
{
	const char *tenant = kura_req_param(r, "tenant");
	const char *form = kura_req_param(r, "form");
	struct kura_tenant_db *db = NULL;
	struct kura_tenant t;
	struct kura_form_access a;
	int64_t now = kura_now_us(), until = 0, left;
	bool throttled = false;
	enum kura_err e;

	if (r->srv->form_throttle != NULL) {
		left = kura_ipblock_check(r->srv->form_throttle, r->ip, now);
		if (left > 0) {
			reply_throttled(r, left);
			return;
		}
		throttled = kura_ipblock_fail(r->srv->form_throttle, r->ip, now, &until);
	}
	memset(&t, 0, sizeof(t));
	if (tenant == NULL || form == NULL || !kura_tenant_id_valid(tenant) ||
	    kura_store_tenant_acquire_get(r->srv->store, tenant, &t, &db) != KURA_OK ||
	    t.status != KURA_TENANT_ACTIVE) {
		kura_store_tenant_release(db);
		if (throttled)
			reply_throttled(r, (until - now + 999999) / 1000000);
		else
			kura_reply_error(r, KURA_E_NOT_FOUND, "no such form");
		return;
	}
	memset(&a, 0, sizeof(a));
	a.at_us = now;
	snprintf(a.ip, sizeof(a.ip), "%s", r->ip[0] != '\0' ? r->ip : "-");
	form_name(form, a.form, sizeof(a.form));
	snprintf(a.method, sizeof(a.method), "%s", r->method == KURA_POST ? "POST" : "GET");
	a.status = throttled ? 429 : 404;
	snprintf(a.outcome, sizeof(a.outcome), "%s", throttled ? "throttled" : "form_not_found");
	snprintf(a.user_agent, sizeof(a.user_agent), "%s",
		 r->user_agent != NULL ? r->user_agent : "");
	snprintf(a.request_id, sizeof(a.request_id), "%s", r->rid);
	e = kura_store_form_access_add(db, &a);
	kura_store_tenant_release(db);
	if (e != KURA_OK) {
		/* no answer without its log entry */
		kura_log(KURA_LOG_ERROR, "form_access_log_failed", "tenant=%s err=%s", tenant,
			 kura_err_name(e));
		kura_reply_error(r, KURA_E_UNAVAILABLE, "the request could not be recorded");
		return;
	}
	if (throttled)
		reply_throttled(r, (until - now + 999999) / 1000000);
	else
		kura_reply_error(r, KURA_E_NOT_FOUND, "no such form");
}

struct list_ctx {
	json_t *results;
	unsigned want;              /* the page size; the query reads one more */
	int64_t last_id;            /* id of the page's last row */
	unsigned n;
};

static bool
add_row(void *ctx, const struct kura_form_access *a)
{
	struct list_ctx *c = ctx;
	char when[40], id[24];

	kura_time_rfc3339(a->at_us, when, sizeof(when));
	snprintf(id, sizeof(id), "%lld", (long long)a->id);
	json_array_append_new(c->results,
			      json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "id", id,
					"time", when, "ip", a->ip, "form", a->form, "method",
					a->method, "status", (json_int_t)a->status, "outcome",
					a->outcome, "userAgent", a->user_agent, "requestId",
					a->request_id));
	if (c->n < c->want)
		c->last_id = a->id;
	c->n++;
	return true;
}

void
kura_api_form_access_list(struct kura_req *r)
{
	static const char *const allowed[] = {"from", "to", "ip", "form", "outcome",
					      "after", "limit", NULL};
	struct kura_form_access_filter f;
	struct list_ctx c = {NULL, 0, 0, 0};
	json_t *details = json_array();
	const char *after = kura_req_query(r, "after");
	int64_t limit = LIST_DEFAULT;
	char kind = 0;
	enum kura_err e;

	memset(&f, 0, sizeof(f));
	kura_api_query_known(r, allowed, details);
	kura_api_query_time(r, "from", &f.from_us, details);
	kura_api_query_time(r, "to", &f.to_us, details);
	kura_api_query_text(r, "ip", f.ip, sizeof(f.ip), details);
	kura_api_query_text(r, "form", f.form, sizeof(f.form), details);
	kura_api_query_text(r, "outcome", f.outcome, sizeof(f.outcome), details);
	kura_api_query_int(r, "limit", 1, LIST_MAX, &limit, details);
	if (after != NULL && (!kura_cursor_parse(after, &kind, &f.before_id) || kind != 'k' ||
			      f.before_id <= 0))
		kura_api_detail(details, "after", "invalid", "not a cursor this list gave");
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the query arguments", details);
		return;
	}
	json_decref(details);
	/* One more than asked tells whether there is a next page. */
	f.limit = (unsigned)limit + 1;
	c.want = (unsigned)limit;
	c.results = json_array();
	e = kura_store_form_access_query(r->principal.db, &f, add_row, &c);
	if (e != KURA_OK) {
		json_decref(c.results);
		kura_reply_error(r, e, NULL);
		return;
	}
	if (c.n > (unsigned)limit)
		json_array_remove(c.results, c.n - 1);
	kura_reply_json(r, 200, kura_api_page(c.results, c.n > (unsigned)limit, c.last_id));
}
