/*
 * Unit tests for the route table matcher and the method helpers: exact and
 * parameter segments, 404 versus 405 with the allowed methods, HEAD served
 * by GET routes, and paths that must never reach a handler.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kura/http.h"

static void
h_dummy(struct kura_req *r)
{
	(void)r;
}

static const struct kura_route routes[] = {
	{KURA_GET, "/healthz", h_dummy, KURA_AUTH_NONE, NULL, 0, 0},
	{KURA_GET, "/api/v1/users", h_dummy, KURA_AUTH_SESSION, "users.read", 0, 0},
	{KURA_POST, "/api/v1/users", h_dummy, KURA_AUTH_SESSION, "users.write",
	 KURA_ROUTE_JSON_BODY, 0},
	{KURA_GET, "/api/v1/users/me", h_dummy, KURA_AUTH_SESSION, "self", 0, 0},
	{KURA_GET, "/api/v1/users/{id}", h_dummy, KURA_AUTH_SESSION, "users.read", 0, 0},
	{KURA_DELETE, "/api/v1/users/{id}", h_dummy, KURA_AUTH_SESSION, "users.write", 0, 0},
	{KURA_PATCH, "/api/v1/objects/{type}/records/{id}", h_dummy, KURA_AUTH_SESSION, "self", 0,
	 0},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static void
free_params(struct kura_req *r)
{
	for (unsigned i = 0; i < r->nparams; i++)
		free(r->param_values[i]);
	r->nparams = 0;
}

static enum kura_err
match(unsigned method, const char *path, struct kura_req *r, const struct kura_route **rt,
      unsigned *allowed)
{
	memset(r, 0, sizeof(*r));
	return kura_router_match(routes, NROUTES, method, path, r, rt, allowed);
}

static void
test_exact(void **state)
{
	struct kura_req r;
	const struct kura_route *rt = (void *)1;
	unsigned allowed = 99;

	(void)state;
	assert_int_equal(match(KURA_GET, "/healthz", &r, &rt, &allowed), KURA_OK);
	assert_ptr_equal(rt, &routes[0]);
	assert_int_equal(allowed, 0);
	assert_int_equal(r.nparams, 0);

	assert_int_equal(match(KURA_POST, "/api/v1/users", &r, &rt, &allowed), KURA_OK);
	assert_ptr_equal(rt, &routes[2]);

	/* table order: the literal "me" route comes before {id} */
	assert_int_equal(match(KURA_GET, "/api/v1/users/me", &r, &rt, &allowed), KURA_OK);
	assert_ptr_equal(rt, &routes[3]);
	assert_int_equal(r.nparams, 0);
}

static void
test_params(void **state)
{
	struct kura_req r;
	const struct kura_route *rt = NULL;
	unsigned allowed = 0;

	(void)state;
	assert_int_equal(match(KURA_GET, "/api/v1/users/42", &r, &rt, &allowed), KURA_OK);
	assert_ptr_equal(rt, &routes[4]);
	assert_int_equal(r.nparams, 1);
	assert_string_equal(kura_req_param(&r, "id"), "42");
	assert_null(kura_req_param(&r, "nope"));
	free_params(&r);

	assert_int_equal(match(KURA_PATCH, "/api/v1/objects/contacts/records/abc-9", &r, &rt,
			       &allowed),
			 KURA_OK);
	assert_ptr_equal(rt, &routes[6]);
	assert_int_equal(r.nparams, 2);
	assert_string_equal(kura_req_param(&r, "type"), "contacts");
	assert_string_equal(kura_req_param(&r, "id"), "abc-9");
	free_params(&r);

	/* a parameter never spans segments and is never empty */
	assert_int_equal(match(KURA_GET, "/api/v1/users/1/2", &r, &rt, &allowed),
			 KURA_E_NOT_FOUND);
	assert_int_equal(match(KURA_GET, "/api/v1/users/", &r, &rt, &allowed), KURA_E_NOT_FOUND);
	assert_null(rt);
	assert_int_equal(r.nparams, 0);

	/* a NULL request still matches, without captures */
	assert_int_equal(kura_router_match(routes, NROUTES, KURA_GET, "/api/v1/users/7", NULL,
					   &rt, &allowed),
			 KURA_OK);
	assert_ptr_equal(rt, &routes[4]);
}

static void
test_trailing_slash(void **state)
{
	struct kura_req r;
	const struct kura_route *rt = NULL;
	unsigned allowed = 0;

	(void)state;
	assert_int_equal(match(KURA_GET, "/healthz/", &r, &rt, &allowed), KURA_E_NOT_FOUND);
	assert_int_equal(match(KURA_GET, "/api/v1/users/", &r, &rt, &allowed), KURA_E_NOT_FOUND);
	assert_int_equal(match(KURA_GET, "//healthz", &r, &rt, &allowed), KURA_E_NOT_FOUND);
	assert_int_equal(match(KURA_GET, "/api//v1/users", &r, &rt, &allowed), KURA_E_NOT_FOUND);
}

static void
test_not_found_vs_not_allowed(void **state)
{
	struct kura_req r;
	const struct kura_route *rt = (void *)1;
	unsigned allowed = 99;
	char s[64];

	(void)state;
	assert_int_equal(match(KURA_GET, "/nothing", &r, &rt, &allowed), KURA_E_NOT_FOUND);
	assert_null(rt);
	assert_int_equal(allowed, 0);

	rt = (void *)1;
	assert_int_equal(match(KURA_PUT, "/api/v1/users", &r, &rt, &allowed),
			 KURA_E_METHOD_NOT_ALLOWED);
	assert_null(rt);
	assert_int_equal(allowed, KURA_GET | KURA_HEAD | KURA_POST);
	kura_method_mask_str(allowed, s, sizeof(s));
	assert_string_equal(s, "GET, HEAD, POST");

	assert_int_equal(match(KURA_POST, "/api/v1/users/5", &r, &rt, &allowed),
			 KURA_E_METHOD_NOT_ALLOWED);
	assert_int_equal(allowed, KURA_GET | KURA_HEAD | KURA_DELETE);
	assert_int_equal(r.nparams, 0);

	/* OPTIONS is not supported: 405 with what is */
	assert_int_equal(match(KURA_OPTIONS, "/healthz", &r, &rt, &allowed),
			 KURA_E_METHOD_NOT_ALLOWED);
	assert_int_equal(allowed, KURA_GET | KURA_HEAD);

	/* an unknown method (0) on a known path */
	assert_int_equal(match(0, "/healthz", &r, &rt, &allowed), KURA_E_METHOD_NOT_ALLOWED);
	assert_int_equal(allowed, KURA_GET | KURA_HEAD);
}

static void
test_head(void **state)
{
	struct kura_req r;
	const struct kura_route *rt = NULL;
	unsigned allowed = 0;

	(void)state;
	assert_int_equal(match(KURA_HEAD, "/healthz", &r, &rt, &allowed), KURA_OK);
	assert_ptr_equal(rt, &routes[0]);
	assert_int_equal(match(KURA_HEAD, "/api/v1/users/3", &r, &rt, &allowed), KURA_OK);
	assert_ptr_equal(rt, &routes[4]);
	assert_string_equal(kura_req_param(&r, "id"), "3");
	free_params(&r);
	/* HEAD does not reach non-GET routes */
	assert_int_equal(match(KURA_HEAD, "/api/v1/objects/a/records/b", &r, &rt, &allowed),
			 KURA_E_METHOD_NOT_ALLOWED);
	assert_int_equal(allowed, KURA_PATCH);
}

static void
test_weird_paths(void **state)
{
	static const char *const bad[] = {
		"",
		"healthz",
		"*",
		"/api/v1/users/..",
		"/api/v1/users/.",
		"/api/v1/../v1/users",
		"/./healthz",
		"/api/v1/users/../users/1",
		"/healthz\n",
		"/HEALTHZ",
		"/healthz?x=1",
		"/api/v1/users/1/",
	};
	struct kura_req r;
	const struct kura_route *rt = NULL;
	unsigned allowed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(match(KURA_GET, bad[i], &r, &rt, &allowed), KURA_E_NOT_FOUND);
		assert_null(rt);
		assert_int_equal(r.nparams, 0);
	}
	assert_int_equal(match(KURA_GET, NULL, &r, &rt, &allowed), KURA_E_NOT_FOUND);
	/* dots inside a segment are just characters */
	assert_int_equal(match(KURA_GET, "/api/v1/users/a..b", &r, &rt, &allowed), KURA_OK);
	assert_string_equal(kura_req_param(&r, "id"), "a..b");
	free_params(&r);
}

static void
test_too_many_segments(void **state)
{
	char path[4096];
	size_t o = 0;
	struct kura_req r;
	const struct kura_route *rt = NULL;
	unsigned allowed = 0;
	static const struct kura_route deep[] = {
		{KURA_GET, "/a/{p1}/{p2}/{p3}/{p4}/{p5}", h_dummy, KURA_AUTH_NONE, NULL, 0, 0},
	};

	(void)state;
	for (int i = 0; i < 100; i++)
		o += (size_t)snprintf(path + o, sizeof(path) - o, "/x");
	assert_int_equal(match(KURA_GET, path, &r, &rt, &allowed), KURA_E_NOT_FOUND);
	/* a pattern with more captures than KURA_ROUTE_MAX_PARAMS never matches */
	memset(&r, 0, sizeof(r));
	assert_int_equal(kura_router_match(deep, 1, KURA_GET, "/a/1/2/3/4/5", &r, &rt, &allowed),
			 KURA_E_NOT_FOUND);
	assert_int_equal(r.nparams, 0);
}

static void
test_method_parse(void **state)
{
	(void)state;
	assert_int_equal(kura_method_parse("GET"), KURA_GET);
	assert_int_equal(kura_method_parse("HEAD"), KURA_HEAD);
	assert_int_equal(kura_method_parse("POST"), KURA_POST);
	assert_int_equal(kura_method_parse("PUT"), KURA_PUT);
	assert_int_equal(kura_method_parse("PATCH"), KURA_PATCH);
	assert_int_equal(kura_method_parse("DELETE"), KURA_DELETE);
	assert_int_equal(kura_method_parse("OPTIONS"), KURA_OPTIONS);
	assert_int_equal(kura_method_parse("get"), 0);
	assert_int_equal(kura_method_parse("TRACE"), 0);
	assert_int_equal(kura_method_parse("GETX"), 0);
	assert_int_equal(kura_method_parse(""), 0);
	assert_int_equal(kura_method_parse(NULL), 0);
}

static void
test_mask_str(void **state)
{
	char s[64];
	char small[8];

	(void)state;
	kura_method_mask_str(0, s, sizeof(s));
	assert_string_equal(s, "");
	kura_method_mask_str(KURA_DELETE | KURA_GET, s, sizeof(s));
	assert_string_equal(s, "GET, DELETE");
	kura_method_mask_str(0x7f, s, sizeof(s));
	assert_string_equal(s, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
	/* never half a name */
	kura_method_mask_str(KURA_GET | KURA_HEAD | KURA_POST, small, sizeof(small));
	assert_string_equal(small, "GET");
	kura_method_mask_str(KURA_GET, s, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_trailing_slash),
		cmocka_unit_test(test_not_found_vs_not_allowed),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_weird_paths),
		cmocka_unit_test(test_too_many_segments),
		cmocka_unit_test(test_method_parse),
		cmocka_unit_test(test_mask_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
