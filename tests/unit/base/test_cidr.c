/*
 * Unit tests for the CIDR matcher (API keys, allow-lists, trusted proxies):
 * IPv4, IPv6, the extreme prefix lengths, IPv4-mapped IPv6 addresses on
 * either side, lists, malformed input (which never matches), and the
 * canonical text of an address.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kura/cidr.h"

static void test_v4(void **state)
{
	(void)state;
	assert_true(kura_cidr_list_match("10.0.0.0/8", "10.1.2.3"));
	assert_true(kura_cidr_list_match("10.0.0.0/8", "10.255.255.255"));
	assert_false(kura_cidr_list_match("10.0.0.0/8", "11.0.0.0"));
	assert_false(kura_cidr_list_match("10.0.0.0/8", "9.255.255.255"));
	assert_true(kura_cidr_list_match("192.168.1.128/25", "192.168.1.200"));
	assert_false(kura_cidr_list_match("192.168.1.128/25", "192.168.1.127"));
	assert_true(kura_cidr_list_match("127.0.0.0/8", "127.0.0.1"));
}

static void test_v4_edges(void **state)
{
	(void)state;
	assert_true(kura_cidr_list_match("0.0.0.0/0", "1.2.3.4"));
	assert_true(kura_cidr_list_match("0.0.0.0/0", "255.255.255.255"));
	assert_true(kura_cidr_list_match("1.2.3.4/32", "1.2.3.4"));
	assert_false(kura_cidr_list_match("1.2.3.4/32", "1.2.3.5"));
	/* Families never meet: an IPv4 range does not admit IPv6 clients. */
	assert_false(kura_cidr_list_match("0.0.0.0/0", "::1"));
}

static void test_v6(void **state)
{
	(void)state;
	assert_true(kura_cidr_list_match("2001:db8::/32", "2001:db8:1::7"));
	assert_false(kura_cidr_list_match("2001:db8::/32", "2001:db9::1"));
	assert_true(kura_cidr_list_match("::/0", "fe80::1"));
	assert_false(kura_cidr_list_match("::/0", "10.0.0.1"));
	assert_true(kura_cidr_list_match("::1/128", "::1"));
	assert_false(kura_cidr_list_match("::1/128", "::2"));
	assert_true(kura_cidr_list_match("2001:db8::/33", "2001:db8:7fff::1"));
	assert_false(kura_cidr_list_match("2001:db8::/33", "2001:db8:8000::1"));
}

static void test_mapped(void **state)
{
	(void)state;
	/* A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d. */
	assert_true(kura_cidr_list_match("127.0.0.0/8", "::ffff:127.0.0.1"));
	assert_false(kura_cidr_list_match("10.0.0.0/8", "::ffff:127.0.0.1"));
	/* A range written mapped is the IPv4 range it maps. */
	assert_true(kura_cidr_list_match("::ffff:10.0.0.0/104", "10.9.8.7"));
	assert_true(kura_cidr_list_match("::ffff:10.0.0.0/104", "::ffff:10.9.8.7"));
	assert_false(kura_cidr_list_match("::ffff:10.0.0.0/104", "11.0.0.1"));
	assert_true(kura_cidr_valid("::ffff:0.0.0.0/96"));
	assert_true(kura_cidr_list_match("::ffff:0.0.0.0/96", "8.8.8.8"));
	/* Shorter than /96 would reach beyond the mapped block. */
	assert_false(kura_cidr_valid("::ffff:0.0.0.0/95"));
}

static void test_lists(void **state)
{
	(void)state;
	assert_true(kura_cidr_list_match("10.0.0.0/8,127.0.0.0/8", "127.0.0.1"));
	assert_true(kura_cidr_list_match("2001:db8::/32,10.0.0.0/8", "10.0.0.1"));
	assert_false(kura_cidr_list_match("10.0.0.0/8,192.168.0.0/16", "127.0.0.1"));
	assert_false(kura_cidr_list_match("", "127.0.0.1"));
	/* A broken entry is skipped, never taken for "any". */
	assert_true(kura_cidr_list_match("bogus,127.0.0.0/8", "127.0.0.1"));
	assert_false(kura_cidr_list_match("bogus,,", "127.0.0.1"));
}

static void test_garbage(void **state)
{
	static const char *const bad[] = {
		"", "/", "10.0.0.0", "10.0.0.0/", "/8", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8",
		"10.0.0.0/08", "10.0.0.0/8x", "10.0.0.0/8 ", " 10.0.0.0/8", "10.0.0/8", "10.0.0.0.0/8",
		"256.0.0.0/8", "10.1.2.3/8", "::/129", "::1/127", "2001:db8::/1000", "gg::/16",
		"10.0.0.0/8/8", "fe80::1%eth0/128", "1.2.3.4/4294967328",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(kura_cidr_valid(bad[i]));
		assert_false(kura_cidr_list_match(bad[i], "10.0.0.1"));
	}
	assert_false(kura_cidr_valid(NULL));
	assert_true(kura_cidr_valid("10.0.0.0/8"));
	assert_true(kura_cidr_valid("2001:db8::/32"));
	assert_true(kura_cidr_valid("0.0.0.0/0"));
	assert_true(kura_cidr_valid("::/0"));
	/* Bad client addresses match nothing, not even /0. */
	assert_false(kura_cidr_list_match("0.0.0.0/0", ""));
	assert_false(kura_cidr_list_match("0.0.0.0/0", "not-an-ip"));
	assert_false(kura_cidr_list_match("::/0", "fe80::1%eth0"));
	assert_false(kura_cidr_list_match("0.0.0.0/0", NULL));
	assert_false(kura_cidr_list_match(NULL, "1.2.3.4"));
}

static void test_canonical(void **state)
{
	char out[64];

	(void)state;
	assert_true(kura_ip_canonical("2001:DB8::0:1", 13, out, sizeof(out)));
	assert_string_equal(out, "2001:db8::1");
	assert_true(kura_ip_canonical("::ffff:1.2.3.4", 14, out, sizeof(out)));
	assert_string_equal(out, "1.2.3.4");
	/* n bytes only: the rest of the string is not read. */
	assert_true(kura_ip_canonical("1.2.3.4,5.6.7.8", 7, out, sizeof(out)));
	assert_string_equal(out, "1.2.3.4");
	assert_false(kura_ip_canonical("1.2.3.4 ", 8, out, sizeof(out)));
	assert_string_equal(out, "");
	assert_false(kura_ip_canonical("", 0, out, sizeof(out)));
	assert_false(kura_ip_canonical("1.2.3.4", 7, out, 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4),     cmocka_unit_test(test_v4_edges),
		cmocka_unit_test(test_v6),     cmocka_unit_test(test_mapped),
		cmocka_unit_test(test_lists),  cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_canonical),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
