/* Helpers shared by the API handlers: field extraction and common JSON shapes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "kura/clock.h"

const char *
kura_api_str(json_t *obj, const char *field, size_t max, json_t *details, size_t *len)
{
	json_t *v = json_object_get(obj, field);
	const char *code = NULL;
	char msg[128];

	if (len != NULL)
		*len = 0;
	if (v == NULL || json_is_null(v)) {
		code = "required";
		snprintf(msg, sizeof(msg), "%s is required", field);
	} else if (!json_is_string(v)) {
		code = "invalid_type";
		snprintf(msg, sizeof(msg), "%s must be a string", field);
	} else if (json_string_length(v) == 0) {
		code = "required";
		snprintf(msg, sizeof(msg), "%s must not be empty", field);
	} else if (json_string_length(v) > max) {
		code = "too_long";
		snprintf(msg, sizeof(msg), "%s must be at most %zu bytes", field, max);
	}
	if (code != NULL) {
		json_array_append_new(details, json_pack("{s:s, s:s, s:s}", "field", field, "code",
							 code, "message", msg));
		return NULL;
	}
	if (len != NULL)
		*len = json_string_length(v);
	return json_string_value(v);
}

json_t *
kura_api_user_json(const struct kura_user *u)
{
	char id[24], created[40];

	snprintf(id, sizeof(id), "%lld", (long long)u->id);
	kura_time_rfc3339(u->created_at, created, sizeof(created));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s}", "id", id, "email", u->email,
			 "displayName", u->display_name, "role", u->role, "status",
			 u->status == KURA_USER_ACTIVE ? "active" : "disabled", "mfaEnabled",
			 u->mfa_enabled, "createdAt", created);
}

void
kura_api_detail(json_t *details, const char *field, const char *code, const char *message)
{
	json_array_append_new(details, json_pack("{s:s, s:s, s:s}", "field", field, "code", code,
						 "message", message));
}

bool
kura_api_object_only(struct kura_req *r, const char *const *fields, json_t *details)
{
	const char *key;
	json_t *v;

	if (!json_is_object(r->json)) {
		json_decref(details);
		kura_reply_error(r, KURA_E_VALIDATION, "the body must be a JSON object");
		return false;
	}
	json_object_foreach(r->json, key, v) {
		size_t i;

		(void)v;
		for (i = 0; fields[i] != NULL; i++) {
			if (strcmp(fields[i], key) == 0)
				break;
		}
		if (fields[i] == NULL) {
			char field[80];

			/* the name is echoed back, so bound it */
			snprintf(field, sizeof(field), "%.64s", key);
			kura_api_detail(details, field, "unknown", "no such field");
		}
	}
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "unknown fields are refused", details);
		return false;
	}
	return true;
}

bool
kura_api_query_known(struct kura_req *r, const char *const *allowed, json_t *details)
{
	const char *bad = NULL;
	char msg[160];

	if (kura_req_query_only(r, allowed, &bad))
		return true;
	snprintf(msg, sizeof(msg), "unknown or repeated query argument \"%.64s\"", bad);
	kura_api_detail(details, bad, "unknown", msg);
	return false;
}

void
kura_api_query_text(struct kura_req *r, const char *name, char *dst, size_t n, json_t *details)
{
	const char *v = kura_req_query(r, name);

	if (v == NULL)
		return;
	if (strlen(v) >= n || strlen(v) == 0) {
		kura_api_detail(details, name, "invalid", "empty or too long");
		return;
	}
	snprintf(dst, n, "%s", v);
}

void
kura_api_query_int(struct kura_req *r, const char *name, int64_t lo, int64_t hi, int64_t *out,
		   json_t *details)
{
	const char *v = kura_req_query(r, name);
	char *end = NULL;
	long long x;

	if (v == NULL)
		return;
	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi) {
		char msg[96];

		snprintf(msg, sizeof(msg), "a whole number from %lld to %lld", (long long)lo,
			 (long long)hi);
		kura_api_detail(details, name, "invalid", msg);
		return;
	}
	*out = x;
}

void
kura_api_query_time(struct kura_req *r, const char *name, int64_t *out, json_t *details)
{
	const char *v = kura_req_query(r, name);

	if (v != NULL && kura_time_parse_rfc3339(v, out) != KURA_OK)
		kura_api_detail(details, name, "invalid", "an RFC 3339 time, e.g. 2026-11-23T09:00:00Z");
}
