/*
 * Fills an audit entry from a request: who (the principal, its role at this
 * moment), from where (IP, user agent), which request. Used by every
 * handler and by the authentication step for denials.
 */
#include <stdio.h>
#include <string.h>

#include "kura/audit.h"
#include "kura/auth.h"
#include "kura/log.h"

void
kura_req_audit_init(const struct kura_req *r, struct kura_audit_entry *e, const char *action,
		    const char *target_type, const char *target_id)
{
	const struct kura_principal *p = &r->principal;

	memset(e, 0, sizeof(*e));
	if (p->user.id != 0) {
		e->actor_type = KURA_ACTOR_USER;
		e->actor_id = p->user.id;
		snprintf(e->actor_email, sizeof(e->actor_email), "%s", p->user.email);
		snprintf(e->actor_role, sizeof(e->actor_role), "%s", p->user.role);
	}
	/* A key acts as its creator, but the record names the key: revoking it is the remedy. */
	if (p->user.id != 0 && p->api_key_id != 0) {
		e->actor_type = KURA_ACTOR_APIKEY;
		e->actor_id = p->api_key_id;
	}
	snprintf(e->ip, sizeof(e->ip), "%s", r->ip);
	snprintf(e->user_agent, sizeof(e->user_agent), "%s",
		 r->user_agent != NULL ? r->user_agent : "");
	snprintf(e->request_id, sizeof(e->request_id), "%s", r->rid);
	snprintf(e->action, sizeof(e->action), "%s", action);
	snprintf(e->target_type, sizeof(e->target_type), "%s", target_type != NULL ? target_type : "");
	snprintf(e->target_id, sizeof(e->target_id), "%s", target_id != NULL ? target_id : "");
}

void
kura_audit_set_outcome(struct kura_audit_entry *e, enum kura_err err)
{
	if (err == KURA_OK) {
		e->outcome = KURA_AUDIT_SUCCESS;
		e->error_code[0] = '\0';
		return;
	}
	switch (kura_err_http_status(err)) {
	case 401:
	case 403:
		e->outcome = KURA_AUDIT_DENIED;
		break;
	default:
		e->outcome = KURA_AUDIT_FAILED;
		break;
	}
	snprintf(e->error_code, sizeof(e->error_code), "%s", kura_err_code(err));
}

enum kura_err
kura_req_audit(struct kura_req *r, struct kura_tenant_db *db, const char *action,
	       const char *target_type, const char *target_id, enum kura_err outcome)
{
	struct kura_audit_entry e;
	enum kura_err rc;

	if (db == NULL)
		db = r->principal.db;
	if (db == NULL)
		return KURA_E_INTERNAL;
	kura_req_audit_init(r, &e, action, target_type, target_id);
	kura_audit_set_outcome(&e, outcome);
	rc = kura_audit_append(db, &e);
	if (rc != KURA_OK)
		kura_log(KURA_LOG_ERROR, "audit_append_failed", "rid=%s action=%s err=%s", r->rid,
			 action, kura_err_name(rc));
	return rc;
}
