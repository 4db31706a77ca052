/*
 * Unit tests for reply building: status and headers of JSON, empty and
 * error replies, answering only once, Retry-After on busy, and the cookie
 * copy. (Bodies are checked over HTTP by the black-box tests.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "kura/http.h"
#include "kura/log.h"

static void
init(struct kura_req *r)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->rid, "0123456789abcdef", 17);
}

static void
done(struct kura_req *r)
{
	if (r->response != NULL)
		MHD_destroy_response(r->response);
	free(r->set_cookie);
}

static void
test_json(void **state)
{
	struct kura_req r;

	(void)state;
	init(&r);
	kura_reply_json(&r, 201, json_pack("{s:s}", "id", "1"));
	assert_int_equal(r.status, 201);
	assert_non_null(r.response);
	assert_string_equal(MHD_get_response_header(r.response, "Content-Type"),
			    "application/json; charset=utf-8");
	assert_string_equal(MHD_get_response_header(r.response, "Cache-Control"), "no-store");
	/* a second answer is ignored (and its body freed: ASan would tell) */
	kura_reply_json(&r, 200, json_pack("{s:s}", "x", "y"));
	kura_reply_error(&r, KURA_E_NOT_FOUND, "nope");
	assert_int_equal(r.status, 201);
	done(&r);
}

static void
test_empty(void **state)
{
	struct kura_req r;

	(void)state;
	init(&r);
	kura_reply_empty(&r, 204);
	assert_int_equal(r.status, 204);
	assert_non_null(r.response);
	assert_null(MHD_get_response_header(r.response, "Content-Type"));
	done(&r);
}

static void
test_errors(void **state)
{
	struct kura_req r;

	(void)state;
	init(&r);
	kura_reply_error(&r, KURA_E_VALIDATION, "check the fields");
	assert_int_equal(r.status, 422);
	assert_string_equal(MHD_get_response_header(r.response, "Cache-Control"), "no-store");
	done(&r);

	init(&r);
	kura_reply_error_details(&r, KURA_E_VALIDATION, NULL,
				 json_pack("[{s:s}]", "field", "email"));
	assert_int_equal(r.status, 422);
	done(&r);

	/* details that are not an array are dropped, not sent */
	init(&r);
	kura_reply_error_details(&r, KURA_E_CONFLICT, "x", json_string("oops"));
	assert_int_equal(r.status, 409);
	done(&r);

	init(&r);
	kura_reply_error(&r, KURA_E_STORE, "sqlite: disk I/O error at /secret/path");
	assert_int_equal(r.status, 500);
	done(&r);

	/* invalid UTF-8 in a message falls back to the generic text */
	init(&r);
	kura_reply_error(&r, KURA_E_BAD_REQUEST, "bad \xff byte");
	assert_int_equal(r.status, 400);
	assert_non_null(r.response);
	done(&r);

	init(&r);
	kura_reply_error(&r, KURA_E_BUSY, NULL);
	assert_int_equal(r.status, 503);
	assert_string_equal(MHD_get_response_header(r.response, "Retry-After"), "1");
	done(&r);

	init(&r);
	kura_reply_json(&r, 42, json_object());
	assert_int_equal(r.status, 500);
	done(&r);
}

static void
test_cookie(void **state)
{
	struct kura_req r;
	char v[] = "a=b; Secure";

	(void)state;
	init(&r);
	kura_reply_set_cookie(&r, v);
	v[0] = 'z';
	assert_string_equal(r.set_cookie, "a=b; Secure");
	kura_reply_set_cookie(&r, "c=d");
	assert_string_equal(r.set_cookie, "c=d");
	kura_reply_set_cookie(&r, NULL);
	assert_string_equal(r.set_cookie, "c=d");
	done(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_cookie),
	};

	kura_log_set_level(KURA_LOG_ERROR + 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
