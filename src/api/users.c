/*
 * Users of the caller's tenant. Reads only for now; every lookup goes
 * through the caller's own tenant handle, so another tenant's user id is
 * simply not found.
 */
#include <errno.h>
#include <stdlib.h>

#include "api_int.h"

static void
add_user(void *ctx, const struct kura_user *u)
{
	json_array_append_new((json_t *)ctx, kura_api_user_json(u));
}

void
kura_api_users_list(struct kura_req *r)
{
	json_t *results = json_array();
	enum kura_err e;

	e = kura_store_user_list(r->principal.db, add_user, results);
	if (e != KURA_OK) {
		json_decref(results);
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 200, json_pack("{s:o}", "results", results));
}

void
kura_api_users_get(struct kura_req *r)
{
	const char *s = kura_req_param(r, "id");
	struct kura_user u;
	char *end = NULL;
	long long id;

	errno = 0;
	id = s != NULL ? strtoll(s, &end, 10) : 0;
	/* A malformed id is answered like a missing one: ids are opaque to clients. */
	if (s == NULL || errno != 0 || end == s || *end != '\0' || id <= 0 ||
	    kura_store_user_get(r->principal.db, id, &u) != KURA_OK) {
		kura_reply_error(r, KURA_E_NOT_FOUND, "no such user");
		return;
	}
	kura_reply_json(r, 200, kura_api_user_json(&u));
}
