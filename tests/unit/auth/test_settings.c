/*
 * Unit tests for the tenant's IP allow-lists in the security settings:
 * ipAllowlist and apiKeyIpAllowlist are validated alike and kept apart
 * (applying, JSON), and the lock-out guard names the list that would leave
 * out its own caller: ipAllowlist for a session, apiKeyIpAllowlist for an
 * API key, only when the change sets that list, IPv4 and IPv6 alike.
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

#include "kura/settings.h"

/* Applies the JSON text patch to s; returns the error and fills changed. */
static enum kura_err
apply(struct kura_security_settings *s, const char *patch, json_t **details, char *changed,
      size_t n)
{
	json_t *p = json_loads(patch, 0, NULL);
	enum kura_err e;

	assert_non_null(p);
	*details = json_array();
	e = kura_settings_apply(s, p, *details, changed, n);
	json_decref(p);
	return e;
}

static const char *
first_field(json_t *details)
{
	return json_string_value(json_object_get(json_array_get(details, 0), "field"));
}

static void
test_lists_are_separate(void **state)
{
	struct kura_security_settings s;
	json_t *d, *j;
	char changed[256];

	(void)state;
	kura_settings_defaults(&s);
	assert_string_equal(s.ip_allowlist, "");
	assert_string_equal(s.apikey_ip_allowlist, "");
	assert_int_equal(apply(&s, "{\"apiKeyIpAllowlist\": [\"198.51.100.0/24\", \"2001:db8::/32\"]}",
			       &d, changed, sizeof(changed)),
			 KURA_OK);
	json_decref(d);
	assert_string_equal(changed, "apiKeyIpAllowlist");
	assert_string_equal(s.apikey_ip_allowlist, "198.51.100.0/24,2001:db8::/32");
	assert_string_equal(s.ip_allowlist, "");
	assert_int_equal(apply(&s, "{\"ipAllowlist\": [\"10.0.0.0/8\"], \"apiKeyIpAllowlist\": "
				   "[\"198.51.100.0/24\", \"2001:db8::/32\"]}",
			       &d, changed, sizeof(changed)),
			 KURA_OK);
	json_decref(d);
	/* the unchanged list is not reported as changed */
	assert_string_equal(changed, "ipAllowlist");
	j = kura_settings_json(&s);
	assert_int_equal(json_array_size(json_object_get(j, "ipAllowlist")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "ipAllowlist"), 0)),
			    "10.0.0.0/8");
	assert_int_equal(json_array_size(json_object_get(j, "apiKeyIpAllowlist")), 2);
	assert_string_equal(
		json_string_value(json_array_get(json_object_get(j, "apiKeyIpAllowlist"), 1)),
		"2001:db8::/32");
	/* confirmLockout is not a setting */
	assert_null(json_object_get(j, "confirmLockout"));
	json_decref(j);
	assert_int_equal(apply(&s, "{\"apiKeyIpAllowlist\": []}", &d, changed, sizeof(changed)),
			 KURA_OK);
	json_decref(d);
	assert_string_equal(s.apikey_ip_allowlist, "");
	assert_string_equal(s.ip_allowlist, "10.0.0.0/8");
}

/* {"<name>": [count ranges of 43 characters each]} */
static void
many_ranges(char *buf, size_t n, const char *name, int count)
{
	size_t used = (size_t)snprintf(buf, n, "{\"%s\": [", name);

	for (int i = 0; i < count; i++)
		used += (size_t)snprintf(buf + used, n - used,
					 "%s\"2001:0db8:aaaa:bbbb:cccc:dddd:eeee:%04x/128\"",
					 i > 0 ? ", " : "", i);
	snprintf(buf + used, n - used, "]}");
}

static void
test_invalid_lists(void **state)
{
	static const char *const bad[] = {
		"{\"apiKeyIpAllowlist\": [\"10.0.0.0/33\"]}",
		"{\"apiKeyIpAllowlist\": [\"2001:db8::/129\"]}",
		"{\"apiKeyIpAllowlist\": \"10.0.0.0/8\"}",
		"{\"apiKeyIpAllowlist\": [\"10.0.0.0/8,192.0.2.0/24\"]}",
		"{\"apiKeyIpAllowlist\": [\"localhost\"]}",
		"{\"apiKeyIpAllowlist\": [7]}",
		"{\"apiKeyIpAllowlist\": null}",
	};
	struct kura_security_settings s;
	json_t *d;
	char changed[256], many[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kura_settings_defaults(&s);
		assert_int_equal(apply(&s, bad[i], &d, changed, sizeof(changed)),
				 KURA_E_VALIDATION);
		assert_int_equal(json_array_size(d), 1);
		assert_string_equal(first_field(d), "apiKeyIpAllowlist");
		json_decref(d);
		assert_string_equal(s.apikey_ip_allowlist, "");
	}
	/* 50 of the longest ranges fit; 51 are too many, for either list */
	many_ranges(many, sizeof(many), "apiKeyIpAllowlist", 50);
	kura_settings_defaults(&s);
	assert_int_equal(apply(&s, many, &d, changed, sizeof(changed)), KURA_OK);
	json_decref(d);
	assert_int_equal(strlen(s.apikey_ip_allowlist), 50 * 43 + 49);
	for (int i = 0; i < 2; i++) {
		const char *name = i == 0 ? "apiKeyIpAllowlist" : "ipAllowlist";

		many_ranges(many, sizeof(many), name, 51);
		kura_settings_defaults(&s);
		assert_int_equal(apply(&s, many, &d, changed, sizeof(changed)), KURA_E_VALIDATION);
		assert_string_equal(first_field(d), name);
		json_decref(d);
	}
	/* confirmLockout belongs to the request: the settings do not know it */
	kura_settings_defaults(&s);
	assert_int_equal(apply(&s, "{\"confirmLockout\": true}", &d, changed, sizeof(changed)),
			 KURA_E_VALIDATION);
	assert_string_equal(first_field(d), "confirmLockout");
	json_decref(d);
}

static void
test_lockout_guard(void **state)
{
	struct kura_security_settings before, after;

	(void)state;
	kura_settings_defaults(&before);
	after = before;
	/* nothing set: nobody is locked out */
	assert_null(kura_settings_lockout(&before, &after, false, "192.0.2.7"));
	assert_null(kura_settings_lockout(&before, &after, true, "192.0.2.7"));

	/* a session is guarded by ipAllowlist only */
	snprintf(after.ip_allowlist, sizeof(after.ip_allowlist), "10.0.0.0/8,2001:db8::/32");
	assert_string_equal(kura_settings_lockout(&before, &after, false, "192.0.2.7"),
			    "ipAllowlist");
	assert_null(kura_settings_lockout(&before, &after, false, "10.1.2.3"));
	assert_null(kura_settings_lockout(&before, &after, false, "2001:db8:1::5"));
	assert_string_equal(kura_settings_lockout(&before, &after, false, "2001:db9::5"),
			    "ipAllowlist");
	assert_null(kura_settings_lockout(&before, &after, true, "192.0.2.7"));
	/* no client address known: left out */
	assert_string_equal(kura_settings_lockout(&before, &after, false, NULL), "ipAllowlist");
	assert_string_equal(kura_settings_lockout(&before, &after, false, ""), "ipAllowlist");

	/* an API key by apiKeyIpAllowlist only */
	after = before;
	snprintf(after.apikey_ip_allowlist, sizeof(after.apikey_ip_allowlist), "2001:db8::/32");
	assert_string_equal(kura_settings_lockout(&before, &after, true, "192.0.2.7"),
			    "apiKeyIpAllowlist");
	assert_null(kura_settings_lockout(&before, &after, true, "2001:db8::1"));
	assert_null(kura_settings_lockout(&before, &after, false, "192.0.2.7"));

	/* emptying a list, or leaving it as it was, locks nobody out */
	before = after;
	after.apikey_ip_allowlist[0] = '\0';
	assert_null(kura_settings_lockout(&before, &after, true, "192.0.2.7"));
	after = before;
	assert_null(kura_settings_lockout(&before, &after, true, "192.0.2.7"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists_are_separate),
		cmocka_unit_test(test_invalid_lists),
		cmocka_unit_test(test_lockout_guard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
