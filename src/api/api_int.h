/*
 * Private to api/: the handlers the route table names, and small helpers
 * for reading and validating JSON request bodies.
 */
#ifndef KURA_API_INT_H
#define KURA_API_INT_H

#include <jansson.h>

#include "kura/auth.h"
#include "kura/core.h"
#include "kura/http.h"
#include "kura/server.h"

void kura_api_healthz(struct kura_req *r);
void kura_api_readyz(struct kura_req *r);
void kura_api_openapi(struct kura_req *r);
void kura_api_login(struct kura_req *r);
void kura_api_logout(struct kura_req *r);
void kura_api_me(struct kura_req *r);
void kura_api_change_password(struct kura_req *r);
void kura_api_login_mfa(struct kura_req *r);
void kura_api_mfa_get(struct kura_req *r);
void kura_api_mfa_enrol(struct kura_req *r);
void kura_api_mfa_confirm(struct kura_req *r);
void kura_api_mfa_disable(struct kura_req *r);
void kura_api_mfa_recovery(struct kura_req *r);
void kura_api_users_mfa_reset(struct kura_req *r);
void kura_api_client_cas_list(struct kura_req *r);
void kura_api_roles_list(struct kura_req *r);
void kura_api_roles_get(struct kura_req *r);
void kura_api_roles_create(struct kura_req *r);
void kura_api_roles_update(struct kura_req *r);
void kura_api_roles_delete(struct kura_req *r);
void kura_api_teams_list(struct kura_req *r);
void kura_api_teams_get(struct kura_req *r);
void kura_api_teams_create(struct kura_req *r);
void kura_api_teams_update(struct kura_req *r);
void kura_api_teams_delete(struct kura_req *r);
void kura_api_team_members_put(struct kura_req *r);
void kura_api_team_members_delete(struct kura_req *r);
/*
 * Whether the caller may give a user role: a built-in one (the super-admin
 * rules are the caller's), or one of the tenant's own roles whose every
 * permission the caller holds. false with a "role" detail appended for an
 * unknown role, or with *forbidden set when the caller lacks a permission.
 */
bool kura_api_role_assignable(struct kura_req *r, const char *role, json_t *details,
			      bool *forbidden);
/*
 * Whether the caller may act on target (change, sign out, delete, reset its
 * second factor): only a super admin on a super admin, and nobody on a user
 * whose role holds a permission the caller lacks. Answers 403 (audited) and
 * returns false otherwise.
 */
bool kura_api_may_manage_user(struct kura_req *r, const struct kura_user *target);
/*
 * Answers a sign-in step (password, or MFA code) from its outcome: the
 * error, the MFA token when a code is owed, or the session cookie and the
 * caller's details. Wipes res.
 */
void kura_api_login_finish(struct kura_req *r, enum kura_err e, struct kura_login_result *res);
void kura_api_users_list(struct kura_req *r);
void kura_api_users_get(struct kura_req *r);
void kura_api_users_create(struct kura_req *r);
void kura_api_users_update(struct kura_req *r);
void kura_api_users_delete(struct kura_req *r);
void kura_api_sessions_list(struct kura_req *r);
void kura_api_settings_get(struct kura_req *r);
void kura_api_settings_patch(struct kura_req *r);
void kura_api_users_unlock(struct kura_req *r);
void kura_api_sessions_delete(struct kura_req *r);
void kura_api_user_sessions_list(struct kura_req *r);
void kura_api_user_sessions_delete(struct kura_req *r);
void kura_api_audit_list(struct kura_req *r);
void kura_api_audit_export(struct kura_req *r);
void kura_api_metrics(struct kura_req *r);
void kura_api_notices_list(struct kura_req *r);
void kura_api_apikeys_create(struct kura_req *r);
void kura_api_apikeys_list(struct kura_req *r);
void kura_api_apikeys_delete(struct kura_req *r);
void kura_api_security_health(struct kura_req *r);
void kura_api_schemas_list(struct kura_req *r);
void kura_api_schemas_create(struct kura_req *r);
void kura_api_schemas_get(struct kura_req *r);
void kura_api_props_list(struct kura_req *r);
void kura_api_props_create(struct kura_req *r);
void kura_api_props_get(struct kura_req *r);
void kura_api_props_update(struct kura_req *r);
void kura_api_props_delete(struct kura_req *r);
void kura_api_indexes_list(struct kura_req *r);
void kura_api_indexes_create(struct kura_req *r);
void kura_api_indexes_delete(struct kura_req *r);
void kura_api_records_list(struct kura_req *r);
void kura_api_records_create(struct kura_req *r);
void kura_api_records_get(struct kura_req *r);
void kura_api_records_update(struct kura_req *r);
void kura_api_records_archive(struct kura_req *r);
void kura_api_records_restore(struct kura_req *r);
void kura_api_records_purge(struct kura_req *r);
void kura_api_records_history(struct kura_req *r);
void kura_api_batch_create(struct kura_req *r);
void kura_api_batch_read(struct kura_req *r);
void kura_api_batch_update(struct kura_req *r);
void kura_api_batch_archive(struct kura_req *r);
void kura_api_records_search(struct kura_req *r);
void kura_api_assoc_list(struct kura_req *r);
void kura_api_assoc_put(struct kura_req *r);
void kura_api_assoc_delete(struct kura_req *r);
void kura_api_activities_list(struct kura_req *r);
void kura_api_activities_create(struct kura_req *r);
void kura_api_attachments_list(struct kura_req *r);
void kura_api_attachments_create(struct kura_req *r);
void kura_api_attachments_get(struct kura_req *r);
void kura_api_attachments_delete(struct kura_req *r);
void kura_api_lists_list(struct kura_req *r);
void kura_api_lists_create(struct kura_req *r);
void kura_api_lists_get(struct kura_req *r);
void kura_api_lists_update(struct kura_req *r);
void kura_api_lists_delete(struct kura_req *r);
void kura_api_list_members(struct kura_req *r);
void kura_api_list_members_add(struct kura_req *r);
void kura_api_list_members_remove(struct kura_req *r);

/* A customer-database request: its tenant's catalogue and object type, and who writes. */
struct kura_api_crm {
	const struct kura_catalog *cat;
	const struct kura_object *obj;
	struct kura_rec_ctx x;
	char *teams;               /* the caller's teams, when field permissions name teams */
};

/*
 * Loads the catalogue and, when object_param is not NULL, the object type
 * the route names by that parameter (404 when there is none). Answers and
 * returns false on failure; on true call kura_api_crm_end when done.
 */
bool kura_api_crm_begin(struct kura_req *r, struct kura_api_crm *c, const char *object_param);
void kura_api_crm_end(struct kura_req *r, struct kura_api_crm *c);
/*
 * Begins a write transaction for a request of c, checking inside it that the
 * catalogue c was validated against is still current:
 * KURA_E_SCHEMA_CHANGED (nothing begun) when it is not.
 */
enum kura_err kura_api_crm_write_begin(struct kura_req *r, struct kura_api_crm *c);
/* A record id from the route (404 "no such record" when malformed). */
bool kura_api_record_id(struct kura_req *r, const char *param, int64_t *id);
/* Appends a success audit entry for a record-level operation (props: names only). */
enum kura_err kura_api_crm_audit(struct kura_req *r, const char *action, const char *target_type,
				 int64_t id, const char *props);
/* The same for a target named by text ("contacts.score" for a property). */
enum kura_err kura_api_crm_audit_named(struct kura_req *r, const char *action,
				       const char *target_type, const char *target_id,
				       const char *props);
/*
 * {"results": results} (taking ownership), with a keyset cursor after
 * `last` when there may be more.
 */
json_t *kura_api_page(json_t *results, bool more, int64_t last);
/*
 * Answers a listing: 200 {"results": results} when e is KURA_OK, else e's
 * error. Takes ownership of results either way.
 */
void kura_api_reply_results(struct kura_req *r, enum kura_err e, json_t *results);
/* Comma-separated keys of a JSON object, truncated to n. */
void kura_api_prop_names(json_t *props, char *out, size_t n);
/*
 * The ?properties=a,b of a read as a JSON array (NULL when absent). An
 * unknown name answers 422 and sets *ok false.
 */
json_t *kura_api_want(struct kura_req *r, const struct kura_object *o, bool *ok);

/*
 * Reads a required string member of obj with a length bound in bytes
 * (1..max). On a problem appends {"field","code","message"} to details and
 * returns NULL.
 */
const char *kura_api_str(json_t *obj, const char *field, size_t max, json_t *details,
			 size_t *len);

/* Appends {"field","code","message"} to details. */
void kura_api_detail(json_t *details, const char *field, const char *code, const char *message);

/*
 * Query-string readers for list filters; each appends a detail (field =
 * the argument) on a problem and leaves *out as it was when the argument is
 * absent. query_known: every argument is one of allowed (NULL-terminated)
 * and none repeats (a typo must not silently widen a filter). query_text:
 * 1..n-1 bytes. query_int: a decimal in lo..hi. query_time: RFC 3339.
 */
bool kura_api_query_known(struct kura_req *r, const char *const *allowed, json_t *details);
void kura_api_query_text(struct kura_req *r, const char *name, char *dst, size_t n,
			 json_t *details);
void kura_api_query_int(struct kura_req *r, const char *name, int64_t lo, int64_t hi,
			int64_t *out, json_t *details);
void kura_api_query_time(struct kura_req *r, const char *name, int64_t *out, json_t *details);

/* GET/POST /f/{tenant}/{form}, and the tenant's consumer access log. */
void kura_api_form_public(struct kura_req *r);
void kura_api_form_access_list(struct kura_req *r);

/*
 * true when r->json is an object whose members are all in fields
 * (NULL-terminated). Otherwise answers 422 listing each unknown member (or
 * "not an object"), consuming details, and returns false; on true, details
 * is left for the caller.
 */
bool kura_api_object_only(struct kura_req *r, const char *const *fields, json_t *details);

/*
 * Loads the user named by the route's {id} from the caller's tenant (hash
 * wiped). Answers 404 and returns false when there is none.
 */
bool kura_api_load_user(struct kura_req *r, struct kura_user *u);

/* JSON of a user as the API shows it (never the hash). */
json_t *kura_api_user_json(const struct kura_user *u);

#endif
