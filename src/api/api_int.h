/*
 * Private to api/: the handlers the route table names, and small helpers
 * for reading and validating JSON request bodies.
 */
#ifndef KURA_API_INT_H
#define KURA_API_INT_H

#include <jansson.h>

#include "kura/auth.h"
#include "kura/http.h"
#include "kura/server.h"

void kura_api_healthz(struct kura_req *r);
void kura_api_readyz(struct kura_req *r);
void kura_api_openapi(struct kura_req *r);
void kura_api_login(struct kura_req *r);
void kura_api_logout(struct kura_req *r);
void kura_api_me(struct kura_req *r);
void kura_api_change_password(struct kura_req *r);
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
