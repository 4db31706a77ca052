/*
 * Property values (core/values.c): each type's stored form and its
 * validation rules, plus record ids and paging cursors (core/search.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kura/core.h"

static void
make(struct kura_prop *p, const char *type, const char *validation, const char *options)
{
	char err[128];

	memset(p, 0, sizeof(*p));
	snprintf(p->row.name, sizeof(p->row.name), "f");
	snprintf(p->row.type, sizeof(p->row.type), "%s", type);
	p->options_text = strdup(options != NULL ? options : "[]");
	p->validation_text = strdup(validation != NULL ? validation : "{}");
	p->description = strdup("");
	assert_true(kura_prop_compile(p, err, sizeof(err)));
}

/* Converts text (JSON) for p; returns the first detail code, or "" when accepted. */
static const char *
conv(struct kura_prop *p, const char *json, struct kura_val *out)
{
	static char code[64];
	struct kura_strpool sp = {0};
	json_error_t je;
	json_t *in = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je),
	       *details = json_array();
	bool ok;

	assert_non_null(in);
	ok = kura_value_from_json(p, in, true, &sp, out, details);
	code[0] = '\0';
	if (!ok)
		snprintf(code, sizeof(code), "%s",
			 json_string_value(json_object_get(json_array_get(details, 0), "code")));
	else if (out->kind == KURA_V_TEXT)
		out->s = ""; /* the pool is freed below: compare text through conv_text */
	assert_true(ok == (code[0] == '\0'));
	json_decref(in);
	json_decref(details);
	kura_strpool_free(&sp);
	return code;
}

static void
conv_text(struct kura_prop *p, const char *json, const char *want)
{
	struct kura_strpool sp = {0};
	json_error_t je;
	json_t *in = json_loads(json, JSON_DECODE_ANY, &je), *details = json_array();
	struct kura_val v;

	assert_true(kura_value_from_json(p, in, true, &sp, &v, details));
	assert_int_equal(v.kind, KURA_V_TEXT);
	assert_int_equal(v.n, strlen(want));
	assert_memory_equal(v.s, want, v.n);
	json_decref(in);
	json_decref(details);
	kura_strpool_free(&sp);
}

static void
types_have_one_stored_form(void **state)
{
	struct kura_prop p;
	struct kura_val v;

	(void)state;
	make(&p, "number", NULL, NULL);
	assert_string_equal(conv(&p, "42", &v), "");
	assert_int_equal(v.kind, KURA_V_INT);
	assert_int_equal(v.i, 42);
	assert_string_equal(conv(&p, "42.0", &v), "");
	assert_int_equal(v.kind, KURA_V_INT); /* integral reals compare equal to integers */
	assert_string_equal(conv(&p, "1.5", &v), "");
	assert_int_equal(v.kind, KURA_V_REAL);
	assert_string_equal(conv(&p, "\"42\"", &v), "invalid_type");
	assert_string_equal(conv(&p, "true", &v), "invalid_type");
	assert_string_equal(conv(&p, "null", &v), "");
	assert_int_equal(v.kind, KURA_V_NULL);
	kura_prop_clear(&p);

	make(&p, "bool", NULL, NULL);
	assert_string_equal(conv(&p, "true", &v), "");
	assert_int_equal(v.i, 1);
	assert_string_equal(conv(&p, "0", &v), "invalid_type");
	kura_prop_clear(&p);

	make(&p, "datetime", NULL, NULL);
	assert_string_equal(conv(&p, "\"2026-11-23T18:00:00+09:00\"", &v), "");
	assert_int_equal(v.kind, KURA_V_INT);
	assert_true(v.i == 1795424400LL * 1000000); /* 09:00 UTC */
	assert_string_equal(conv(&p, "\"2026-11-23\"", &v), "invalid_datetime");
	kura_prop_clear(&p);

	make(&p, "date", NULL, NULL);
	assert_string_equal(conv(&p, "\"2024-02-29\"", &v), "");
	assert_string_equal(conv(&p, "\"2023-02-29\"", &v), "invalid_date");
	assert_string_equal(conv(&p, "\"2023-13-01\"", &v), "invalid_date");
	assert_string_equal(conv(&p, "\"23-01-01\"", &v), "invalid_date");
	kura_prop_clear(&p);

	make(&p, "email", NULL, NULL);
	conv_text(&p, "\"Taro.Tanaka@Example.CO.JP\"", "taro.tanaka@example.co.jp");
	assert_string_equal(conv(&p, "\"not an address\"", &v), "invalid_email");
	kura_prop_clear(&p);

	make(&p, "phone", NULL, NULL);
	conv_text(&p, "\"+81 (3) 1234-5678\"", "+81 (3) 1234-5678");
	assert_string_equal(conv(&p, "\"03-1234-567a\"", &v), "invalid_phone");
	assert_string_equal(conv(&p, "\"1+2\"", &v), "invalid_phone");
	kura_prop_clear(&p);

	make(&p, "url", NULL, NULL);
	assert_string_equal(conv(&p, "\"https://example.com/a?b=c\"", &v), "");
	assert_string_equal(conv(&p, "\"javascript:alert(1)\"", &v), "invalid_url");
	assert_string_equal(conv(&p, "\"https:///nohost\"", &v), "invalid_url");
	kura_prop_clear(&p);

	make(&p, "enumeration", NULL, "[{\"value\":\"lead\"},{\"value\":\"customer\"}]");
	assert_string_equal(conv(&p, "\"lead\"", &v), "");
	assert_string_equal(conv(&p, "\"Lead\"", &v), "invalid_option");
	kura_prop_clear(&p);

	make(&p, "string", NULL, NULL);
	assert_string_equal(conv(&p, "\"line\\nbreak\"", &v), "invalid_characters");
	assert_string_equal(conv(&p, "\"nul\\u0000byte\"", &v), "invalid_characters");
	kura_prop_clear(&p);
	make(&p, "text", NULL, NULL);
	assert_string_equal(conv(&p, "\"line\\nbreak\"", &v), "");
	kura_prop_clear(&p);
}

static void
rules_apply(void **state)
{
	struct kura_prop p;
	struct kura_val v;

	(void)state;
	/* lengths count characters, not bytes */
	make(&p, "string", "{\"minLength\":2,\"maxLength\":4}", NULL);
	assert_string_equal(conv(&p, "\"田中\"", &v), "");
	assert_string_equal(conv(&p, "\"田中太郎\"", &v), "");
	assert_string_equal(conv(&p, "\"田中太郎様\"", &v), "too_long");
	assert_string_equal(conv(&p, "\"田\"", &v), "too_short");
	kura_prop_clear(&p);

	make(&p, "string", "{\"characterClasses\":[\"katakana\"]}", NULL);
	assert_string_equal(conv(&p, "\"タナカ\"", &v), "");
	assert_string_equal(conv(&p, "\"ターナー\"", &v), ""); /* the long-vowel mark */
	assert_string_equal(conv(&p, "\"たなか\"", &v), "invalid_characters");
	assert_string_equal(conv(&p, "\"ﾀﾅｶ\"", &v), "invalid_characters"); /* half-width */
	kura_prop_clear(&p);

	make(&p, "string", "{\"characterClasses\":[\"digits\",\"symbols\"],\"pattern\":\"^[0-9]{3}-[0-9]{4}$\"}",
	     NULL);
	assert_string_equal(conv(&p, "\"100-0001\"", &v), "");
	assert_string_equal(conv(&p, "\"1000001\"", &v), "pattern_mismatch");
	assert_string_equal(conv(&p, "\"１００-０００１\"", &v), "invalid_characters");
	kura_prop_clear(&p);

	make(&p, "number", "{\"min\":0,\"max\":100}", NULL);
	assert_string_equal(conv(&p, "100", &v), "");
	assert_string_equal(conv(&p, "100.5", &v), "out_of_range");
	assert_string_equal(conv(&p, "-1", &v), "out_of_range");
	kura_prop_clear(&p);
}

static void
bad_rules_do_not_compile(void **state)
{
	struct kura_prop p;
	char err[128];

	(void)state;
	memset(&p, 0, sizeof(p));
	snprintf(p.row.type, sizeof(p.row.type), "string");
	p.validation_text = strdup("{\"pattern\":\"(unclosed\"}");
	assert_false(kura_prop_compile(&p, err, sizeof(err)));
	kura_prop_clear(&p);
	snprintf(p.row.type, sizeof(p.row.type), "string");
	p.validation_text = strdup("{\"characterClasses\":[\"emoji\"]}");
	assert_false(kura_prop_compile(&p, err, sizeof(err)));
	kura_prop_clear(&p);
	snprintf(p.row.type, sizeof(p.row.type), "blob");
	assert_false(kura_prop_compile(&p, err, sizeof(err)));
	kura_prop_clear(&p);
}

static void
ids_and_cursors(void **state)
{
	int64_t id = 99, n = 0;
	char cur[64], kind = 0;

	(void)state;
	assert_true(kura_record_id_parse("123", &id));
	assert_int_equal(id, 123);
	assert_false(kura_record_id_parse("0", &id));
	assert_int_equal(id, 0);
	assert_false(kura_record_id_parse("-1", &id));
	assert_false(kura_record_id_parse("012", &id));
	assert_false(kura_record_id_parse("12a", &id));
	assert_false(kura_record_id_parse("9999999999999999999", &id));
	assert_false(kura_record_id_parse(NULL, &id));

	kura_cursor_make('k', 4711, cur, sizeof(cur));
	assert_true(kura_cursor_parse(cur, &kind, &n));
	assert_int_equal(kind, 'k');
	assert_int_equal(n, 4711);
	kura_cursor_make('o', 20, cur, sizeof(cur));
	assert_true(kura_cursor_parse(cur, &kind, &n));
	assert_int_equal(kind, 'o');
	assert_int_equal(n, 20);
	assert_false(kura_cursor_parse("not base64!", &kind, &n));
	assert_false(kura_cursor_parse("eDE", &kind, &n)); /* "x1" */
	assert_false(kura_cursor_parse("ay0x", &kind, &n)); /* "k-1" */
	assert_int_equal(n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(types_have_one_stored_form),
		cmocka_unit_test(rules_apply),
		cmocka_unit_test(bad_rules_do_not_compile),
		cmocka_unit_test(ids_and_cursors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
