/*
 * The tenant's audit log for its admins: a filtered, paged list, and a
 * streamed export (JSON Lines or CSV) that is itself recorded. Both read
 * only the caller's own tenant through its handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

#include "api_int.h"
#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/log.h"

#define LIST_DEFAULT 50
#define LIST_MAX 100
#define EXPORT_BATCH 500

static const char *const outcome_names[] = {"success", "denied", "failed"};
static const char *const actor_names[] = {"anonymous", "user", "api_key", "operator", "system"};

static const char *
actor_name(enum kura_actor_type t)
{
	return (unsigned)t < sizeof(actor_names) / sizeof(actor_names[0]) ? actor_names[t] : "unknown";
}

static const char *
outcome_name(enum kura_audit_outcome o)
{
	return (unsigned)o < 3 ? outcome_names[o] : "unknown";
}

static void
hex32(const uint8_t h[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[64] = '\0';
}

static json_t *
entry_json(const struct kura_audit_entry *e)
{
	char seq[24], actor_id[24], when[40], hash[65];

	snprintf(seq, sizeof(seq), "%lld", (long long)e->seq);
	snprintf(actor_id, sizeof(actor_id), "%lld", (long long)e->actor_id);
	kura_time_rfc3339(e->ts_us, when, sizeof(when));
	hex32(e->hash, hash);
	return json_pack("{s:s, s:s, s:{s:s, s:s*, s:s, s:s}, s:s, s:s, s:s, s:s, "
			 "s:{s:s, s:s, s:s}, s:s, s:s, s:s}",
			 "seq", seq, "time", when, "actor", "type", actor_name(e->actor_type), "id",
			 e->actor_id != 0 ? actor_id : NULL, "email", e->actor_email, "role",
			 e->actor_role, "ip", e->ip, "userAgent", e->user_agent, "requestId",
			 e->request_id, "action", e->action, "target", "type", e->target_type, "id",
			 e->target_id, "properties", e->target_props, "outcome",
			 outcome_name(e->outcome), "errorCode", e->error_code, "hash", hash);
}

/*
 * Reads the filter from the query string. Unknown or repeated arguments are
 * refused, not ignored: a typo must not silently widen what is shown.
 */
static bool
read_filter(struct kura_req *r, const char *const *allowed, struct kura_audit_filter *f,
	    int64_t *limit)
{
	json_t *details = json_array();
	const char *outcome;
	int64_t after = 0;

	kura_audit_filter_init(f);
	kura_api_query_known(r, allowed, details);
	kura_api_query_time(r, "from", &f->from_us, details);
	kura_api_query_time(r, "to", &f->to_us, details);
	kura_api_query_int(r, "actorId", 1, INT64_MAX, &f->actor_id, details);
	kura_api_query_text(r, "actorEmail", f->actor_email, sizeof(f->actor_email), details);
	kura_api_query_text(r, "action", f->action, sizeof(f->action), details);
	kura_api_query_text(r, "targetType", f->target_type, sizeof(f->target_type), details);
	kura_api_query_text(r, "targetId", f->target_id, sizeof(f->target_id), details);
	kura_api_query_text(r, "ip", f->ip, sizeof(f->ip), details);
	outcome = kura_req_query(r, "outcome");
	if (outcome != NULL) {
		f->outcome = -1;
		for (int i = 0; i < 3; i++) {
			if (strcmp(outcome, outcome_names[i]) == 0)
				f->outcome = i;
		}
		if (f->outcome < 0)
			kura_api_detail(details, "outcome", "invalid", "one of success, denied, failed");
	}
	kura_api_query_int(r, "after", 1, INT64_MAX, &after, details);
	f->before_seq = after;
	if (limit != NULL)
		kura_api_query_int(r, "limit", 1, LIST_MAX, limit, details);
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the query arguments", details);
		return false;
	}
	json_decref(details);
	return true;
}

struct list_ctx {
	json_t *results;
	int64_t last_seq;
	unsigned n;
};

static bool
add_entry(void *ctx, const struct kura_audit_entry *e)
{
	struct list_ctx *c = ctx;

	json_array_append_new(c->results, entry_json(e));
	c->last_seq = e->seq;
	c->n++;
	return true;
}

void
kura_api_audit_list(struct kura_req *r)
{
	static const char *const allowed[] = {"from", "to", "actorId", "actorEmail", "action",
					      "targetType", "targetId", "outcome", "ip", "after",
					      "limit", NULL};
	struct kura_audit_filter f;
	struct list_ctx c = {NULL, 0, 0};
	int64_t limit = LIST_DEFAULT;
	json_t *body;
	enum kura_err e;

	if (!read_filter(r, allowed, &f, &limit))
		return;
	/* One more than asked tells whether there is a next page. */
	f.limit = (unsigned)limit + 1;
	c.results = json_array();
	e = kura_audit_query(r->principal.db, &f, add_entry, &c);
	if (e != KURA_OK) {
		json_decref(c.results);
		kura_reply_error(r, e, NULL);
		return;
	}
	body = json_object();
	if (c.n > (unsigned)limit) {
		char after[24];
		json_t *last;

		json_array_remove(c.results, c.n - 1);
		last = json_array_get(c.results, (size_t)limit - 1);
		snprintf(after, sizeof(after), "%s", json_string_value(json_object_get(last, "seq")));
		json_object_set_new(body, "paging", json_pack("{s:{s:s}}", "next", "after", after));
	}
	json_object_set_new(body, "results", c.results);
	kura_reply_json(r, 200, body);
}

/* Export: batches of entries rendered into pieces of the streamed body. */
struct export_ctx {
	struct kura_tenant_db *db;
	struct kura_audit_filter f;
	bool csv;
	bool header_done;
	bool finished;
	unsigned batch_n;           /* entries in the last batch */
	struct kura_buf pending;    /* rendered but not yet handed out */
	size_t pending_off;
};

/* One CSV cell, quoted by libcsv; a leading = + - @ is defused for spreadsheets. */
static enum kura_err
csv_cell(struct kura_buf *b, const char *v, bool last)
{
	/* the longest cell is target_props; quoting at most doubles it */
	char src[KURA_AUDIT_PROPS_MAX + KURA_UA_MAX + 8];
	char tmp[2 * sizeof(src) + 8];
	size_t n;

	if (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' ||
	    v[0] == '\r')
		snprintf(src, sizeof(src), "'%s", v);
	else
		snprintf(src, sizeof(src), "%s", v);
	n = csv_write(tmp, sizeof(tmp), src, strlen(src));
	if (n > sizeof(tmp))
		return KURA_E_INTERNAL;
	if (kura_buf_append(b, tmp, n) != KURA_OK)
		return KURA_E_NOMEM;
	return kura_buf_append(b, last ? "\r\n" : ",", last ? 2 : 1);
}

static bool
render_entry(void *ctx, const struct kura_audit_entry *e)
{
	struct export_ctx *x = ctx;

	x->f.before_seq = e->seq;
	x->batch_n++;
	if (!x->csv) {
		json_t *j = entry_json(e);
		char *line = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
		bool ok = line != NULL && kura_buf_append(&x->pending, line, strlen(line)) == KURA_OK &&
			  kura_buf_append(&x->pending, "\n", 1) == KURA_OK;

		free(line);
		json_decref(j);
		return ok;
	} else {
		char seq[24], actor_id[24], when[40], hash[65];
		const char *cells[15];

		snprintf(seq, sizeof(seq), "%lld", (long long)e->seq);
		snprintf(actor_id, sizeof(actor_id), "%lld", (long long)e->actor_id);
		kura_time_rfc3339(e->ts_us, when, sizeof(when));
		hex32(e->hash, hash);
		cells[0] = seq; cells[1] = when; cells[2] = actor_name(e->actor_type);
		cells[3] = e->actor_id != 0 ? actor_id : ""; cells[4] = e->actor_email;
		cells[5] = e->actor_role; cells[6] = e->ip; cells[7] = e->user_agent;
		cells[8] = e->request_id; cells[9] = e->action; cells[10] = e->target_type;
		cells[11] = e->target_id; cells[12] = e->target_props;
		cells[13] = outcome_name(e->outcome); cells[14] = e->error_code;
		for (int i = 0; i < 15; i++) {
			if (csv_cell(&x->pending, cells[i], false) != KURA_OK)
				return false;
		}
		return csv_cell(&x->pending, hash, true) == KURA_OK;
	}
}

static enum kura_err
export_next(void *ctx, char *buf, size_t cap, size_t *len)
{
	struct export_ctx *x = ctx;
	size_t n;

	*len = 0;
	if (x->pending_off == x->pending.len) {
		kura_buf_reset(&x->pending);
		x->pending_off = 0;
		if (x->finished)
			return KURA_E_NOT_FOUND;
		if (x->csv && !x->header_done) {
			static const char head[] =
				"seq,time,actor_type,actor_id,actor_email,actor_role,ip,user_agent,"
				"request_id,action,target_type,target_id,target_properties,outcome,"
				"error_code,hash\r\n";

			x->header_done = true;
			if (kura_buf_append(&x->pending, head, sizeof(head) - 1) != KURA_OK)
				return KURA_E_NOMEM;
		}
		{
			enum kura_err e;

			x->batch_n = 0;
			e = kura_audit_query(x->db, &x->f, render_entry, x);
			if (e != KURA_OK)
				return e;
			/* A batch shorter than asked for was the last. */
			if (x->batch_n < x->f.limit)
				x->finished = true;
		}
		if (x->pending.len == 0)
			return x->finished ? KURA_E_NOT_FOUND : KURA_OK;
	}
	n = x->pending.len - x->pending_off < cap ? x->pending.len - x->pending_off : cap;
	memcpy(buf, x->pending.data + x->pending_off, n);
	x->pending_off += n;
	*len = n;
	return KURA_OK;
}

static void
export_free(void *ctx)
{
	struct export_ctx *x = ctx;

	kura_buf_free(&x->pending);
	free(x);
}

void
kura_api_audit_export(struct kura_req *r)
{
	static const char *const allowed[] = {"from", "to", "actorId", "actorEmail", "action",
					      "targetType", "targetId", "outcome", "ip", "after",
					      "format", NULL};
	const char *format = kura_req_query(r, "format");
	struct export_ctx *x;
	enum kura_err e;

	if (format != NULL && strcmp(format, "jsonl") != 0 && strcmp(format, "csv") != 0) {
		json_t *details = json_array();

		kura_api_detail(details, "format", "invalid", "jsonl or csv");
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the query arguments", details);
		return;
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL) {
		kura_reply_error(r, KURA_E_NOMEM, NULL);
		return;
	}
	if (!read_filter(r, allowed, &x->f, NULL)) {
		free(x);
		return;
	}
	x->db = r->principal.db;
	x->csv = format != NULL && strcmp(format, "csv") == 0;
	x->f.limit = EXPORT_BATCH;
	kura_buf_init(&x->pending, 64u << 20);
	/* The export is recorded before the first byte leaves. */
	e = kura_req_audit(r, NULL, "audit.export", "audit_log", x->csv ? "csv" : "jsonl", KURA_OK);
	if (e != KURA_OK) {
		export_free(x);
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_stream(r, 200, x->csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
			  x->csv ? "audit.csv" : "audit.jsonl", export_next, x, export_free);
}
