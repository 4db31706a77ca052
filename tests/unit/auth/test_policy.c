/*
 * The password policy's rules about the user: not the e-mail address (or its
 * local part), not the display name, whole or one word of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kura/auth.h"
#include "kura/settings.h"

/* The codes the policy reported for pw, comma-separated, into out. */
static void
codes_for(const struct kura_user *u, const char *pw, char *out, size_t n)
{
	struct kura_security_settings set;
	json_t *details = json_array();
	size_t i;
	json_t *d;

	kura_settings_defaults(&set);
	set.password_min_length = 8;
	out[0] = '\0';
	kura_password_policy_check(pw, strlen(pw), u, &set, details);
	json_array_foreach(details, i, d) {
		size_t used = strlen(out);

		snprintf(out + used, n - used, "%s%s", used > 0 ? "," : "",
			 json_string_value(json_object_get(d, "code")));
	}
	json_decref(details);
}

static void
test_name_and_email(void **state)
{
	struct kura_user u;
	char got[200];

	(void)state;
	memset(&u, 0, sizeof(u));
	snprintf(u.email, sizeof(u.email), "hanako.yamada@example.jp");
	snprintf(u.display_name, sizeof(u.display_name), "Hanako Yamada-Smith");
	codes_for(&u, "Hanako Yamada-Smith", got, sizeof(got));
	assert_string_equal(got, "contains_name");
	codes_for(&u, "hanakoyamadasmith", got, sizeof(got));
	assert_string_equal(got, "contains_name");
	codes_for(&u, "YAMADA..", got, sizeof(got));
	assert_string_equal(got, "contains_name");
	codes_for(&u, "hanako.yamada@example.jp", got, sizeof(got));
	assert_string_equal(got, "contains_email");
	codes_for(&u, "Hanako.Yamada", got, sizeof(got));
	assert_string_equal(got, "contains_email");
	/* a passphrase that merely includes the name is fine */
	codes_for(&u, "hanako likes green tea", got, sizeof(got));
	assert_string_equal(got, "");
	/* names of one or two letters do not count */
	snprintf(u.display_name, sizeof(u.display_name), "Li");
	codes_for(&u, "lililili", got, sizeof(got));
	assert_string_equal(got, "");
	/* Japanese names compare as written */
	snprintf(u.display_name, sizeof(u.display_name), "山田 花子");
	codes_for(&u, "山田花子", got, sizeof(got));
	assert_string_equal(got, "too_short,contains_name");
	codes_for(&u, "花子", got, sizeof(got));
	assert_string_equal(got, "too_short,contains_name");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_and_email),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
