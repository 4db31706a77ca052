/*
 * Unit tests for request-body JSON: depth limit at and past the bound,
 * syntax errors with their position, invalid UTF-8, NUL bytes raw and
 * escaped, duplicate keys, numbers out of range, and the out-parameter
 * contract (NULL on error).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kura/http.h"

static enum kura_err
parse(const char *s, size_t len, unsigned depth, json_t **out, char *msg, size_t n)
{
	*out = (json_t *)1; /* must be reset to NULL on error */
	return kura_json_parse(s, len, depth, out, msg, n);
}

static enum kura_err
parse_str(const char *s, unsigned depth, json_t **out, char *msg, size_t n)
{
	return parse(s, strlen(s), depth, out, msg, n);
}

/* "[[[...1...]]]" with depth levels of arrays (or objects). */
static char *
nested(unsigned depth, bool objects)
{
	size_t cap = (size_t)depth * 8 + 8, o = 0;
	char *s = malloc(cap);

	assert_non_null(s);
	for (unsigned i = 0; i < depth; i++)
		o += (size_t)snprintf(s + o, cap - o, objects ? "{\"k\":" : "[");
	o += (size_t)snprintf(s + o, cap - o, "1");
	for (unsigned i = 0; i < depth; i++)
		o += (size_t)snprintf(s + o, cap - o, objects ? "}" : "]");
	return s;
}

static void
test_ok(void **state)
{
	json_t *j = NULL;
	char msg[256] = "x";

	(void)state;
	assert_int_equal(parse_str("{\"a\":[1,2,{\"b\":\"caf\xc3\xa9\"}],\"n\":null}", 32, &j, msg,
				   sizeof(msg)),
			 KURA_OK);
	assert_non_null(j);
	assert_true(json_is_object(j));
	assert_string_equal(msg, "");
	json_decref(j);
	/* a scalar is valid JSON; whether it is acceptable is the handler's business */
	assert_int_equal(parse_str("\"x\"", 32, &j, msg, sizeof(msg)), KURA_OK);
	assert_true(json_is_string(j));
	json_decref(j);
	/* a body need not be NUL-terminated: only len bytes are read */
	assert_int_equal(parse("{}garbage", 2, 32, &j, msg, sizeof(msg)), KURA_OK);
	json_decref(j);
	/* msg may be NULL */
	assert_int_equal(parse_str("[]", 32, &j, NULL, 0), KURA_OK);
	json_decref(j);
}

static void
test_depth(void **state)
{
	json_t *j = NULL;
	char msg[256];
	char *s;

	(void)state;
	for (int objects = 0; objects <= 1; objects++) {
		s = nested(32, objects);
		assert_int_equal(parse_str(s, 32, &j, msg, sizeof(msg)), KURA_OK);
		assert_non_null(j);
		json_decref(j);
		assert_int_equal(parse_str(s, 31, &j, msg, sizeof(msg)), KURA_E_JSON_TOO_DEEP);
		assert_null(j);
		assert_non_null(strstr(msg, "31"));
		free(s);
	}
	/* depth counts containers: a scalar has none, {} has one */
	assert_int_equal(parse_str("{}", 1, &j, msg, sizeof(msg)), KURA_OK);
	json_decref(j);
	assert_int_equal(parse_str("{\"a\":[]}", 1, &j, msg, sizeof(msg)), KURA_E_JSON_TOO_DEEP);
	/* the walk finds depth in any branch, not only the first */
	assert_int_equal(parse_str("[1,{},[],{\"a\":2,\"b\":[[[]]]}]", 5, &j, msg, sizeof(msg)),
			 KURA_OK);
	json_decref(j);
	assert_int_equal(parse_str("[1,{},[],{\"a\":2,\"b\":[[[]]]}]", 4, &j, msg, sizeof(msg)),
			 KURA_E_JSON_TOO_DEEP);
	/* past jansson's own parser limit: refused as too deep, without a deep C stack */
	s = nested(5000, false);
	assert_int_equal(parse_str(s, 512, &j, msg, sizeof(msg)), KURA_E_JSON_TOO_DEEP);
	assert_null(j);
	free(s);
}

static void
test_syntax_position(void **state)
{
	json_t *j = NULL;
	char msg[256];

	(void)state;
	assert_int_equal(parse_str("\n\n  {\"a\" 1}", 32, &j, msg, sizeof(msg)),
			 KURA_E_INVALID_JSON);
	assert_null(j);
	assert_non_null(strstr(msg, "line 3"));
	assert_non_null(strstr(msg, "column 8"));
	assert_int_equal(parse_str("{\"a\":1,}", 32, &j, msg, sizeof(msg)), KURA_E_INVALID_JSON);
	assert_non_null(strstr(msg, "line 1"));
	assert_int_equal(parse_str("[1] x", 32, &j, msg, sizeof(msg)), KURA_E_INVALID_JSON);
	assert_int_equal(parse_str("{", 32, &j, msg, sizeof(msg)), KURA_E_INVALID_JSON);
	assert_int_equal(parse_str("nul", 32, &j, msg, sizeof(msg)), KURA_E_INVALID_JSON);
	/* empty body */
	assert_int_equal(parse("", 0, 32, &j, msg, sizeof(msg)), KURA_E_INVALID_JSON);
	assert_null(j);
	assert_non_null(strstr(msg, "empty"));
	assert_int_equal(parse(NULL, 0, 32, &j, msg, sizeof(msg)), KURA_E_INVALID_JSON);
	/* a tiny message buffer is filled, not overrun */
	assert_int_equal(parse_str("{x}", 32, &j, msg, 8), KURA_E_INVALID_JSON);
	assert_int_equal(strlen(msg), 7);
}

static void
test_utf8(void **state)
{
	static const char *const bad[] = {
		"{\"a\":\"\xff\"}",            /* never valid */
		"{\"a\":\"\xc3\x28\"}",        /* bad continuation */
		"{\"\xe2\x82\":1}",            /* truncated sequence in a key */
		"{\"a\":\"\xed\xa0\x80\"}",    /* UTF-16 surrogate encoded as UTF-8 */
		"{\"a\":\"\xc0\xaf\"}",        /* overlong "/" */
		"\xfe",
	};
	json_t *j = NULL;
	char msg[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_str(bad[i], 32, &j, msg, sizeof(msg)), KURA_E_INVALID_UTF8);
		assert_null(j);
		/* the message quotes input, but only as printable ASCII */
		for (const char *p = msg; *p != '\0'; p++)
			assert_true(*p >= 0x20 && *p < 0x7f);
	}
	/* a lone surrogate escape is not UTF-8 trouble, it is bad JSON */
	assert_int_equal(parse_str("{\"a\":\"\\ud800\"}", 32, &j, msg, sizeof(msg)),
			 KURA_E_INVALID_JSON);
}

static void
test_nul(void **state)
{
	static const char raw[] = "{\"a\":\"x\0y\"}";
	json_t *j = NULL;
	char msg[256];

	(void)state;
	assert_int_equal(parse(raw, sizeof(raw) - 1, 32, &j, msg, sizeof(msg)),
			 KURA_E_INVALID_JSON);
	assert_null(j);
	assert_non_null(strstr(msg, "NUL"));
	assert_non_null(strstr(msg, "offset 7"));
	assert_int_equal(parse("\0{}", 3, 32, &j, msg, sizeof(msg)), KURA_E_INVALID_JSON);
	/* \u0000 would cut C strings: refused */
	assert_int_equal(parse_str("{\"a\":\"x\\u0000y\"}", 32, &j, msg, sizeof(msg)),
			 KURA_E_INVALID_JSON);
	assert_null(j);
	assert_int_equal(parse_str("{\"a\\u0000b\":1}", 32, &j, msg, sizeof(msg)),
			 KURA_E_INVALID_JSON);
}

static void
test_duplicates(void **state)
{
	json_t *j = NULL;
	char msg[256];

	(void)state;
	assert_int_equal(parse_str("{\"role\":\"member\",\"role\":\"admin\"}", 32, &j, msg,
				   sizeof(msg)),
			 KURA_E_INVALID_JSON);
	assert_null(j);
	assert_non_null(strstr(msg, "duplicate"));
	/* nested objects are checked too */
	assert_int_equal(parse_str("{\"a\":{\"b\":1,\"b\":2}}", 32, &j, msg, sizeof(msg)),
			 KURA_E_INVALID_JSON);
	/* the same key in different objects is fine */
	assert_int_equal(parse_str("[{\"b\":1},{\"b\":2}]", 32, &j, msg, sizeof(msg)), KURA_OK);
	json_decref(j);
}

static void
test_numbers(void **state)
{
	json_t *j = NULL;
	char msg[256];

	(void)state;
	assert_int_equal(parse_str("{\"a\":99999999999999999999}", 32, &j, msg, sizeof(msg)),
			 KURA_E_INVALID_JSON);
	assert_null(j);
	assert_non_null(strstr(msg, "too big integer"));
	assert_int_equal(parse_str("{\"a\":1e400}", 32, &j, msg, sizeof(msg)),
			 KURA_E_INVALID_JSON);
	assert_int_equal(parse_str("{\"a\":-9223372036854775808}", 32, &j, msg, sizeof(msg)),
			 KURA_OK);
	assert_int_equal(json_integer_value(json_object_get(j, "a")), INT64_MIN);
	json_decref(j);
	assert_int_equal(parse_str("{\"a\":NaN}", 32, &j, msg, sizeof(msg)), KURA_E_INVALID_JSON);
	assert_int_equal(parse_str("{\"a\":01}", 32, &j, msg, sizeof(msg)), KURA_E_INVALID_JSON);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_syntax_position),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
