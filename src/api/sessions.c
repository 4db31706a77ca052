/*
 * Sessions: one's own (list, end one), and for user managers any user's in
 * the tenant (list, end all = forced logout, effective on that user's very
 * next request because every request looks its session up). Sessions are
 * named by their short id (see kura_session_short_id), never by a secret.
 */
#include <stdio.h>
#include <string.h>

#include "api_int.h"
#include "kura/audit.h"
#include "kura/clock.h"

struct list_ctx {
	json_t *results;
	const uint8_t *current;       /* the caller's session hash, or NULL */
	const char *want;             /* short id looked for, or NULL */
	struct kura_session found;
	bool have;
};

static void
add_session(void *ctx, const struct kura_session *s)
{
	struct list_ctx *c = ctx;
	char sid[17], created[40], seen[40], expires[40];

	kura_session_short_id(s->id_hash, sid);
	if (c->want != NULL) {
		if (strcmp(sid, c->want) == 0) {
			c->found = *s;
			c->have = true;
		}
		return;
	}
	kura_time_rfc3339(s->created_at, created, sizeof(created));
	kura_time_rfc3339(s->last_seen_at, seen, sizeof(seen));
	kura_time_rfc3339(s->expires_at, expires, sizeof(expires));
	json_array_append_new(c->results,
			      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "id", sid, "createdAt",
					created, "lastSeenAt", seen, "expiresAt", expires, "ip",
					s->ip, "userAgent", s->user_agent, "current",
					c->current != NULL &&
						memcmp(c->current, s->id_hash, 32) == 0));
}

static void
reply_list(struct kura_req *r, int64_t user_id)
{
	struct list_ctx c;
	enum kura_err e;

	memset(&c, 0, sizeof(c));
	c.results = json_array();
	c.current = r->principal.session_hash;
	e = kura_store_session_list_user(r->principal.db, user_id, add_session, &c);
	if (e != KURA_OK) {
		json_decref(c.results);
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 200, json_pack("{s:o}", "results", c.results));
}

void
kura_api_sessions_list(struct kura_req *r)
{
	reply_list(r, r->principal.user.id);
}

void
kura_api_sessions_delete(struct kura_req *r)
{
	const char *want = kura_req_param(r, "id");
	struct kura_tenant_db *db = r->principal.db;
	struct list_ctx c;
	enum kura_err e;

	memset(&c, 0, sizeof(c));
	c.want = want;
	/* Only among the caller's own sessions: another user's id is "not found". */
	e = kura_store_session_list_user(db, r->principal.user.id, add_session, &c);
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	if (!c.have) {
		kura_reply_error(r, KURA_E_NOT_FOUND, "no such session");
		return;
	}
	e = kura_store_begin(db);
	if (e == KURA_OK)
		e = kura_store_session_delete(db, c.found.id_hash);
	if (e == KURA_OK)
		e = kura_req_audit(r, NULL, "session.revoke", "session", want, KURA_OK);
	e = kura_store_finish(db, e);
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_empty(r, 204);
}

void
kura_api_user_sessions_list(struct kura_req *r)
{
	struct kura_user u;

	if (kura_api_load_user(r, &u))
		reply_list(r, u.id);
}

void
kura_api_user_sessions_delete(struct kura_req *r)
{
	struct kura_tenant_db *db = r->principal.db;
	struct kura_user u;
	char uid[24];
	enum kura_err e;

	if (!kura_api_load_user(r, &u))
		return;
	if (!kura_api_may_manage_user(r, &u))
		return;
	snprintf(uid, sizeof(uid), "%lld", (long long)u.id);
	e = kura_store_begin(db);
	if (e == KURA_OK)
		e = kura_store_session_delete_user(db, u.id, NULL);
	if (e == KURA_OK)
		e = kura_req_audit(r, NULL, "user.sessions_revoke", "user", uid, KURA_OK);
	e = kura_store_finish(db, e);
	if (e != KURA_OK) {
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_empty(r, 204);
}
