/*
 * Keeps the route table honest: docs/openapi.json describes exactly the
 * routes that exist (paths, methods, whether a session is needed, which
 * permission), and every API route either requires a permission or is one
 * of the few deliberately public ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kura/auth.h"
#include "kura/server.h"

static json_t *
load_doc(void)
{
	json_error_t err;
	json_t *doc = json_load_file(KURA_SOURCE_ROOT "/docs/openapi.json", 0, &err);

	if (doc == NULL)
		fail_msg("docs/openapi.json: %s (line %d)", err.text, err.line);
	return doc;
}

static const char *
method_name(unsigned m)
{
	switch (m) {
	case KURA_GET: return "get";
	case KURA_POST: return "post";
	case KURA_PUT: return "put";
	case KURA_PATCH: return "patch";
	case KURA_DELETE: return "delete";
	default: return "?";
	}
}

static void
test_every_route_is_documented(void **state)
{
	json_t *doc = load_doc();
	json_t *paths = json_object_get(doc, "paths");

	(void)state;
	for (size_t i = 0; i < kura_api_routes_count; i++) {
		const struct kura_route *rt = &kura_api_routes[i];
		json_t *op = json_object_get(json_object_get(paths, rt->pattern), method_name(rt->method));
		json_t *sec, *perm;

		if (op == NULL)
			fail_msg("%s %s is not in docs/openapi.json", method_name(rt->method), rt->pattern);
		sec = json_object_get(op, "security");
		perm = json_object_get(op, "x-kura-permission");
		if (rt->auth == KURA_AUTH_NONE) {
			assert_true(json_is_array(sec) && json_array_size(sec) == 0);
			assert_null(perm);
		} else {
			assert_true(json_is_array(sec) && json_array_size(sec) > 0);
			assert_non_null(perm);
			assert_string_equal(json_string_value(perm), rt->permission);
		}
		/* The flags a client must know about are documented as they are served. */
		if (json_is_true(json_object_get(op, "x-kura-session-only")) !=
		    ((rt->flags & KURA_ROUTE_SESSION_ONLY) != 0))
			fail_msg("%s %s: x-kura-session-only differs from the route table",
				 method_name(rt->method), rt->pattern);
		if (json_is_true(json_object_get(op, "x-kura-mfa-enrol-ok")) !=
		    ((rt->flags & KURA_ROUTE_MFA_ENROL_OK) != 0))
			fail_msg("%s %s: x-kura-mfa-enrol-ok differs from the route table",
				 method_name(rt->method), rt->pattern);
	}
	json_decref(doc);
}

static void
test_every_documented_operation_exists(void **state)
{
	json_t *doc = load_doc();
	const char *path, *method;
	json_t *item, *op;

	(void)state;
	json_object_foreach(json_object_get(doc, "paths"), path, item) {
		json_object_foreach(item, method, op) {
			bool found = false;

			for (size_t i = 0; i < kura_api_routes_count; i++) {
				if (strcmp(kura_api_routes[i].pattern, path) == 0 &&
				    strcmp(method_name(kura_api_routes[i].method), method) == 0)
					found = true;
			}
			if (!found)
				fail_msg("docs/openapi.json has %s %s, which no route serves", method,
					 path);
		}
	}
	json_decref(doc);
}

/* Public API routes are an explicit, short list; everything else needs a permission. */
static void
test_api_routes_need_a_permission(void **state)
{
	static const char *const public_api[] = {"/api/v1/auth/login", "/api/v1/auth/login/mfa",
						  "/api/v1/openapi.json"};

	(void)state;
	for (size_t i = 0; i < kura_api_routes_count; i++) {
		const struct kura_route *rt = &kura_api_routes[i];
		bool listed = false;

		if (strncmp(rt->pattern, "/api/", 5) != 0)
			continue;
		for (size_t j = 0; j < sizeof(public_api) / sizeof(public_api[0]); j++)
			listed = listed || strcmp(public_api[j], rt->pattern) == 0;
		if (rt->auth == KURA_AUTH_NONE) {
			if (!listed)
				fail_msg("%s is public but not in the list of public API routes",
					 rt->pattern);
		} else {
			assert_non_null(rt->permission);
			assert_true(strlen(rt->permission) > 0);
		}
	}
}

static void
test_builtin_roles(void **state)
{
	(void)state;
	assert_true(kura_role_has_permission("super_admin", "settings.security"));
	assert_true(kura_role_has_permission("admin", "users.read"));
	assert_false(kura_role_has_permission("member", "users.read"));
	assert_false(kura_role_has_permission("read_only", "records.write"));
	assert_true(kura_role_has_permission("read_only", "self"));
	assert_false(kura_role_has_permission("nobody", "self"));
	assert_false(kura_role_has_permission("admin", NULL));
	assert_true(kura_role_valid("member"));
	assert_false(kura_role_valid("root"));
}

static void
test_validators(void **state)
{
	(void)state;
	assert_true(kura_tenant_id_valid("acme"));
	assert_true(kura_tenant_id_valid("a1-b2"));
	assert_false(kura_tenant_id_valid("a"));
	assert_false(kura_tenant_id_valid("1acme"));
	assert_false(kura_tenant_id_valid("Acme"));
	assert_false(kura_tenant_id_valid("acme-"));
	assert_false(kura_tenant_id_valid("ac.me"));
	assert_false(kura_tenant_id_valid("abcdefghijabcdefghijabcdefghijabc"));
	assert_true(kura_email_valid("a@b.example"));
	assert_false(kura_email_valid("a@b"));
	assert_false(kura_email_valid("ab.example"));
	assert_false(kura_email_valid("a@@b.example"));
	assert_false(kura_email_valid("a b@c.example"));
	assert_false(kura_email_valid("@b.example"));
	assert_false(kura_email_valid("a@b.example."));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_route_is_documented),
		cmocka_unit_test(test_every_documented_operation_exists),
		cmocka_unit_test(test_api_routes_need_a_permission),
		cmocka_unit_test(test_builtin_roles),
		cmocka_unit_test(test_validators),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
