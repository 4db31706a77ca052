/*
 * Unit tests for the embedded common-password list (the "breached" rule):
 * the generated table is lower-case, sorted and unique; look-ups hit
 * entries whatever their ASCII case and miss everything else; and
 * kura_password_policy_check reports the rule as "breached".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kura/auth.h"
#include "kura/settings.h"

#define HIT(s) kura_password_breached((s), strlen(s))

static void
test_list_sorted_unique_lower(void **state)
{
	(void)state;
	/* password.lst from john-data 1.9 has 3546 entries, fewer once folded and deduplicated. */
	assert_true(kura_breached_list_count > 3000);
	for (size_t i = 0; i < kura_breached_list_count; i++) {
		const char *w = kura_breached_list[i];

		assert_true(w[0] != '\0');
		assert_true(strncmp(w, "#!comment", 9) != 0);
		for (const char *c = w; *c != '\0'; c++)
			assert_false(*c >= 'A' && *c <= 'Z');
		if (i > 0)
			assert_true(strcmp(kura_breached_list[i - 1], w) < 0);
	}
}

static void
test_lookup_hits(void **state)
{
	(void)state;
	/* First, last and middle entries all found by the binary search. */
	assert_true(HIT(kura_breached_list[0]));
	assert_true(HIT(kura_breached_list[kura_breached_list_count - 1]));
	assert_true(HIT(kura_breached_list[kura_breached_list_count / 2]));
	for (size_t i = 0; i < kura_breached_list_count; i++)
		assert_true(HIT(kura_breached_list[i]));
	assert_true(HIT("password"));
	assert_true(HIT("letmein"));
	assert_true(HIT("dragon"));
	assert_true(HIT("winniethepooh"));
}

static void
test_lookup_case(void **state)
{
	(void)state;
	assert_true(HIT("Dragon"));
	assert_true(HIT("DRAGON"));
	assert_true(HIT("LetMeIn"));
	assert_true(HIT("PassWord1"));
	assert_true(HIT("WinnieThePooh"));
}

static void
test_lookup_misses(void **state)
{
	(void)state;
	assert_false(HIT(""));
	assert_false(kura_password_breached(NULL, 4));
	assert_false(HIT("dragon "));
	assert_false(HIT(" dragon"));
	assert_false(HIT("dragonx"));
	assert_false(HIT("drago"));
	assert_false(HIT("correct horse battery staple"));
	assert_false(HIT("pw-Zq3xV8kL0pTt7mN2bR5sYw1c"));
	/* The comment lines are not entries. */
	assert_false(HIT("#!comment:"));
	/* Only len bytes count, and an embedded NUL never matches. */
	assert_true(kura_password_breached("dragonfly", 6));
	assert_false(kura_password_breached("drag\0on", 7));
	{
		char longpw[200];

		memset(longpw, 'a', sizeof(longpw));
		assert_false(kura_password_breached(longpw, sizeof(longpw)));
	}
}

static void
test_policy_reports_breached(void **state)
{
	struct kura_security_settings set;
	json_t *details = json_array();
	json_t *d;

	(void)state;
	kura_settings_defaults(&set);
	assert_int_equal(set.password_history, 5);
	set.password_min_length = 8;
	assert_int_equal(kura_password_policy_check("Baseball", 8, NULL, &set, details),
			 KURA_E_VALIDATION);
	assert_int_equal(json_array_size(details), 1);
	d = json_array_get(details, 0);
	assert_string_equal(json_string_value(json_object_get(d, "code")), "breached");
	assert_string_equal(json_string_value(json_object_get(d, "field")), "newPassword");
	assert_string_equal(json_string_value(json_object_get(d, "message")),
			    "this password appears in lists of common passwords");
	json_array_clear(details);
	assert_int_equal(kura_password_policy_check("not in any list 42", 18, NULL, &set, details),
			 KURA_OK);
	assert_int_equal(json_array_size(details), 0);
	/* Default policy (12 characters): the one long entry is still refused. */
	assert_int_equal(kura_password_policy_check("WinnieThePooh", 13, NULL, NULL, details),
			 KURA_E_VALIDATION);
	json_decref(details);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_sorted_unique_lower),
		cmocka_unit_test(test_lookup_hits),
		cmocka_unit_test(test_lookup_case),
		cmocka_unit_test(test_lookup_misses),
		cmocka_unit_test(test_policy_reports_breached),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
