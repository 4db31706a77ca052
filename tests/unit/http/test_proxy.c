/*
 * Unit tests for the client address behind reverse proxies (http/proxy.c):
 * X-Forwarded-For read by the rightmost-untrusted rule, only from a trusted
 * peer; spoofed entries on the left, chains of proxies, IPv6, spaces, and
 * every malformed header falling back to the peer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kura/http.h"
#include "kura/store.h"

#define TRUSTED "127.0.0.1/32,10.0.0.0/8,2001:db8:ffff::/48"

/* Runs the walk and checks both the source and the address it settled on. */
static void
expect(const char *trusted, const char *peer, const char *xff, enum kura_client_source src,
       const char *ip)
{
	char out[KURA_IP_MAX + 1];

	memset(out, 'x', sizeof(out));
	assert_int_equal(kura_http_forwarded_client(trusted, peer, xff, out, sizeof(out)), src);
	assert_string_equal(out, ip);
}

static void
test_untrusted_peer_ignored(void **state)
{
	(void)state;
	/* Nobody trusted: the header is never read. */
	expect("", "127.0.0.1", "198.51.100.7", KURA_CLIENT_PEER, "127.0.0.1");
	expect(NULL, "127.0.0.1", "198.51.100.7", KURA_CLIENT_PEER, "127.0.0.1");
	/* A peer outside the list may send anything, garbage included. */
	expect(TRUSTED, "203.0.113.9", "198.51.100.7", KURA_CLIENT_PEER, "203.0.113.9");
	expect(TRUSTED, "203.0.113.9", "not an address", KURA_CLIENT_PEER, "203.0.113.9");
	expect(TRUSTED, "2001:db8:1::1", "198.51.100.7", KURA_CLIENT_PEER, "2001:db8:1::1");
}

static void
test_single_hop(void **state)
{
	(void)state;
	expect(TRUSTED, "127.0.0.1", "198.51.100.7", KURA_CLIENT_FORWARDED, "198.51.100.7");
	/* A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6. */
	expect(TRUSTED, "::ffff:127.0.0.1", "198.51.100.7", KURA_CLIENT_FORWARDED,
	       "198.51.100.7");
}

static void
test_spoofed_left_entries(void **state)
{
	(void)state;
	/* The client wrote the first two; our proxy appended the last. */
	expect(TRUSTED, "127.0.0.1", "1.2.3.4, 5.6.7.8, 198.51.100.7", KURA_CLIENT_FORWARDED,
	       "198.51.100.7");
	/* A spoofed trusted address on the left does not help either. */
	expect(TRUSTED, "127.0.0.1", "10.0.0.1, 198.51.100.7", KURA_CLIENT_FORWARDED,
	       "198.51.100.7");
	/* Garbage left of the client is never looked at. */
	expect(TRUSTED, "127.0.0.1", "junk, [::1]:80, ,198.51.100.7", KURA_CLIENT_FORWARDED,
	       "198.51.100.7");
}

static void
test_chain_of_proxies(void **state)
{
	(void)state;
	/* client → 10.1.1.1 (edge) → 10.2.2.2 (internal) → kurad via 127.0.0.1 */
	expect(TRUSTED, "127.0.0.1", "198.51.100.7, 10.1.1.1, 10.2.2.2", KURA_CLIENT_FORWARDED,
	       "198.51.100.7");
	expect(TRUSTED, "10.2.2.2", "6.6.6.6, 198.51.100.7, 10.1.1.1", KURA_CLIENT_FORWARDED,
	       "198.51.100.7");
	/* Every hop trusted: a client inside our ranges, the leftmost. */
	expect(TRUSTED, "127.0.0.1", "10.9.9.9, 10.1.1.1", KURA_CLIENT_FORWARDED, "10.9.9.9");
	/* An untrusted hop in the middle is where trust ends. */
	expect(TRUSTED, "127.0.0.1", "198.51.100.7, 203.0.113.1, 10.1.1.1",
	       KURA_CLIENT_FORWARDED, "203.0.113.1");
}

static void
test_ipv6(void **state)
{
	(void)state;
	expect(TRUSTED, "2001:db8:ffff::1", "2001:DB8:0:0::7", KURA_CLIENT_FORWARDED,
	       "2001:db8::7");
	expect(TRUSTED, "127.0.0.1", "2001:db8:1::9, 2001:db8:ffff::2", KURA_CLIENT_FORWARDED,
	       "2001:db8:1::9");
	/* IPv4-mapped entries are the IPv4 address (one key for the IP block). */
	expect(TRUSTED, "127.0.0.1", "::ffff:198.51.100.7", KURA_CLIENT_FORWARDED,
	       "198.51.100.7");
	/* ... and a mapped trusted proxy is skipped like its IPv4 form. */
	expect(TRUSTED, "127.0.0.1", "198.51.100.7, ::ffff:10.1.1.1", KURA_CLIENT_FORWARDED,
	       "198.51.100.7");
	expect(TRUSTED, "::1", "198.51.100.7", KURA_CLIENT_PEER, "::1");
	expect("::1/128", "::1", "2001:db8::5", KURA_CLIENT_FORWARDED, "2001:db8::5");
}

static void
test_spaces(void **state)
{
	(void)state;
	expect(TRUSTED, "127.0.0.1", "  198.51.100.7  ", KURA_CLIENT_FORWARDED, "198.51.100.7");
	expect(TRUSTED, "127.0.0.1", "1.2.3.4,198.51.100.7 ,\t10.0.0.1\t", KURA_CLIENT_FORWARDED,
	       "198.51.100.7");
}

static void
test_empty_header(void **state)
{
	(void)state;
	expect(TRUSTED, "127.0.0.1", NULL, KURA_CLIENT_PEER, "127.0.0.1");
	expect(TRUSTED, "127.0.0.1", "", KURA_CLIENT_PEER, "127.0.0.1");
	expect(TRUSTED, "127.0.0.1", " \t ", KURA_CLIENT_PEER, "127.0.0.1");
}

static void
test_invalid_entries_fail_closed(void **state)
{
	static const char *const bad[] = {
		"unknown",
		"198.51.100.7:4711",
		"[2001:db8::7]",
		"[2001:db8::7]:443",
		"fe80::1%eth0",
		"198.51.100.7,",
		"198.51.100.7, ,10.0.0.1",
		",",
		"198.51.100",
		"198.51.100.7.1",
		"0x7f.0.0.1",
		"198.51.100.7 10.0.0.1",
		"for=198.51.100.7",
		"198.51.100.7/32",
		"999.1.1.1",
		/* an invalid entry behind a trusted hop also stops the walk */
		"junk, 10.0.0.1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect(TRUSTED, "127.0.0.1", bad[i], KURA_CLIENT_BAD_FORWARD, "127.0.0.1");
}

static void
test_too_many_hops(void **state)
{
	char xff[2048] = "198.51.100.7";
	size_t len = strlen(xff);

	(void)state;
	for (int i = 0; i < 63; i++)
		len += (size_t)snprintf(xff + len, sizeof(xff) - len, ",10.0.0.%d", i + 1);
	/* 64 entries: walked to the client. */
	expect(TRUSTED, "127.0.0.1", xff, KURA_CLIENT_FORWARDED, "198.51.100.7");
	snprintf(xff + len, sizeof(xff) - len, ",10.0.1.1");
	expect(TRUSTED, "127.0.0.1", xff, KURA_CLIENT_BAD_FORWARD, "127.0.0.1");
}

static void
test_small_output(void **state)
{
	char out[4] = "abc";

	(void)state;
	/* n == 0 touches nothing. */
	assert_int_equal(kura_http_forwarded_client(TRUSTED, "127.0.0.1", "198.51.100.7", out, 0),
			 KURA_CLIENT_PEER);
	assert_string_equal(out, "abc");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_untrusted_peer_ignored),
		cmocka_unit_test(test_single_hop),
		cmocka_unit_test(test_spoofed_left_entries),
		cmocka_unit_test(test_chain_of_proxies),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_spaces),
		cmocka_unit_test(test_empty_header),
		cmocka_unit_test(test_invalid_entries_fail_closed),
		cmocka_unit_test(test_too_many_hops),
		cmocka_unit_test(test_small_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
