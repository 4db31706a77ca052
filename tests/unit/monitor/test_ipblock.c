/*
 * Unit tests for the failed-login IP block: the sliding window (time moved
 * with the test clock, kura_clock_set_offset_us, and read back through
 * kura_now_us as kurad does), the block and its end, IPv6 counted by /64,
 * the table's bound and which entry it forgets, and concurrent use.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kura/clock.h"
#include "kura/monitor.h"

#define SEC 1000000LL

static int64_t base_offset;

/* Moves kura_now_us() to the start of a fresh 5-second step plus `at` seconds. */
static int64_t
clock_at(double at)
{
	kura_clock_set_offset_us(base_offset + (int64_t)(at * SEC));
	return kura_now_us();
}

static int
setup(void **state)
{
	int64_t now;

	(void)state;
	kura_clock_set_offset_us(0);
	now = kura_now_us();
	/* line the clock up with a step boundary, a second away, so tests can count steps */
	base_offset = (5 * SEC - now % (5 * SEC)) + SEC;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	kura_clock_set_offset_us(0);
	return 0;
}

static void
test_new_refuses_nonsense(void **state)
{
	struct kura_ipblock *b = (struct kura_ipblock *)1;

	(void)state;
	assert_int_equal(kura_ipblock_new(0, 60, 900, 16, &b), KURA_E_CONFIG);
	assert_null(b);
	assert_int_equal(kura_ipblock_new(3, 5, 900, 16, &b), KURA_E_CONFIG);
	assert_int_equal(kura_ipblock_new(3, 60, 0, 16, &b), KURA_E_CONFIG);
	assert_int_equal(kura_ipblock_new(3, 60, 900, 0, &b), KURA_E_CONFIG);
	kura_ipblock_free(NULL);
	/* a NULL table blocks nothing */
	assert_int_equal(kura_ipblock_check(NULL, "192.0.2.1", 1), 0);
	{
		int64_t until = 7;

		assert_false(kura_ipblock_fail(NULL, "192.0.2.1", 1, &until));
		assert_int_equal(until, 0);
	}
}

static void
test_limit_then_block_then_expiry(void **state)
{
	struct kura_ipblock *b = NULL;
	int64_t until = 0, now;

	(void)state;
	assert_int_equal(kura_ipblock_new(3, 60, 900, 16, &b), KURA_OK);
	now = clock_at(0);
	assert_int_equal(kura_ipblock_check(b, "192.0.2.1", now), 0);
	/* up to the limit: counted, not blocked */
	for (int i = 0; i < 3; i++) {
		now = clock_at(i);
		assert_false(kura_ipblock_fail(b, "192.0.2.1", now, &until));
		assert_int_equal(until, 0);
		assert_int_equal(kura_ipblock_check(b, "192.0.2.1", now), 0);
	}
	/* the 4th within the minute is "above N": blocked for 15 minutes */
	now = clock_at(10);
	assert_true(kura_ipblock_fail(b, "192.0.2.1", now, &until));
	assert_int_equal(until, now + 900 * SEC);
	assert_int_equal(kura_ipblock_check(b, "192.0.2.1", now), 900);
	assert_int_equal(kura_ipblock_blocked(b, now), 1);
	/* seconds left are rounded up */
	assert_int_equal(kura_ipblock_check(b, "192.0.2.1", now + SEC / 2), 900);
	assert_int_equal(kura_ipblock_check(b, "192.0.2.1", clock_at(10 + 899.5)), 1);
	/* other addresses are not affected */
	assert_int_equal(kura_ipblock_check(b, "192.0.2.2", now), 0);
	assert_int_equal(kura_ipblock_check(b, "2001:db8::1", now), 0);
	/* failures finishing during the block start no second one */
	assert_false(kura_ipblock_fail(b, "192.0.2.1", clock_at(20), &until));
	assert_int_equal(until, 0);
	/* at its end it lifts, and the count starts afresh */
	now = clock_at(910);
	assert_int_equal(kura_ipblock_check(b, "192.0.2.1", now), 0);
	assert_int_equal(kura_ipblock_blocked(b, now), 0);
	for (int i = 0; i < 3; i++)
		assert_false(kura_ipblock_fail(b, "192.0.2.1", clock_at(911 + i), &until));
	assert_true(kura_ipblock_fail(b, "192.0.2.1", clock_at(915), &until));
	kura_ipblock_free(b);
}

static void
test_sliding_window(void **state)
{
	struct kura_ipblock *b = NULL;
	int64_t until = 0;

	(void)state;
	assert_int_equal(kura_ipblock_new(3, 60, 900, 16, &b), KURA_OK);
	/* three at t=0..2: full, not past the limit */
	for (int i = 0; i < 3; i++)
		assert_false(kura_ipblock_fail(b, "198.51.100.9", clock_at(i), &until));
	/* a minute later (in whole steps) they have left the window: one more is fine */
	assert_false(kura_ipblock_fail(b, "198.51.100.9", clock_at(60), &until));
	assert_false(kura_ipblock_fail(b, "198.51.100.9", clock_at(61), &until));
	/* but the window slides, it does not reset: t=60, 61, 80 and 100 make four */
	assert_false(kura_ipblock_fail(b, "198.51.100.9", clock_at(80), &until));
	assert_true(kura_ipblock_fail(b, "198.51.100.9", clock_at(100), &until));
	kura_ipblock_free(b);

	/* a steady trickle at the limit's pace never blocks */
	assert_int_equal(kura_ipblock_new(3, 60, 900, 16, &b), KURA_OK);
	for (int i = 0; i < 30; i++)
		assert_false(kura_ipblock_fail(b, "198.51.100.10", clock_at(i * 21), &until));
	kura_ipblock_free(b);

	/* a long silence forgets everything at once */
	assert_int_equal(kura_ipblock_new(3, 60, 900, 16, &b), KURA_OK);
	for (int i = 0; i < 3; i++)
		assert_false(kura_ipblock_fail(b, "198.51.100.11", clock_at(i), &until));
	for (int i = 0; i < 3; i++)
		assert_false(kura_ipblock_fail(b, "198.51.100.11", clock_at(3600 + i), &until));
	assert_true(kura_ipblock_fail(b, "198.51.100.11", clock_at(3603), &until));
	kura_ipblock_free(b);
}

static void
test_ipv6_by_64_and_names(void **state)
{
	struct kura_ipblock *b = NULL;
	int64_t until = 0, now = clock_at(0);
	char name[64];

	(void)state;
	assert_int_equal(kura_ipblock_new(2, 60, 60, 16, &b), KURA_OK);
	/* hosts of one /64 count together */
	assert_false(kura_ipblock_fail(b, "2001:db8:1:2::1", now, &until));
	assert_false(kura_ipblock_fail(b, "2001:db8:1:2::2", now, &until));
	assert_true(kura_ipblock_fail(b, "2001:db8:1:2:ffff::3", now, &until));
	assert_int_equal(kura_ipblock_check(b, "2001:db8:1:2::99", now), 60);
	assert_int_equal(kura_ipblock_check(b, "2001:db8:1:3::1", now), 0);
	/* an IPv4-mapped address is that IPv4 address, one by one */
	assert_false(kura_ipblock_fail(b, "::ffff:192.0.2.5", now, &until));
	assert_false(kura_ipblock_fail(b, "192.0.2.5", now, &until));
	assert_true(kura_ipblock_fail(b, "192.0.2.5", now, &until));
	assert_int_equal(kura_ipblock_check(b, "::ffff:192.0.2.5", now), 60);
	assert_int_equal(kura_ipblock_check(b, "192.0.2.6", now), 0);
	/* what is not an address is never blocked nor counted */
	assert_false(kura_ipblock_fail(b, "-", now, &until));
	assert_false(kura_ipblock_fail(b, "", now, &until));
	assert_false(kura_ipblock_fail(b, NULL, now, &until));
	assert_int_equal(kura_ipblock_check(b, "-", now), 0);
	assert_int_equal(kura_ipblock_tracked(b), 2);
	kura_ipblock_free(b);

	kura_ipblock_key_name("192.0.2.5", name, sizeof(name));
	assert_string_equal(name, "192.0.2.5");
	kura_ipblock_key_name("::ffff:192.0.2.5", name, sizeof(name));
	assert_string_equal(name, "192.0.2.5");
	kura_ipblock_key_name("2001:db8:1:2:3:4:5:6", name, sizeof(name));
	assert_string_equal(name, "2001:db8:1:2::/64");
	kura_ipblock_key_name("::1", name, sizeof(name));
	assert_string_equal(name, "::/64");
	kura_ipblock_key_name("nonsense", name, sizeof(name));
	assert_string_equal(name, "");
}

static void
test_bounded_table_evicts_oldest(void **state)
{
	struct kura_ipblock *b = NULL;
	int64_t until = 0, now = clock_at(0);
	char ip[32];

	(void)state;
	assert_int_equal(kura_ipblock_new(1, 60, 600, 4, &b), KURA_OK);
	/* A is blocked, B, C, D have one failure each */
	assert_false(kura_ipblock_fail(b, "10.0.0.1", now, &until));
	assert_true(kura_ipblock_fail(b, "10.0.0.1", now, &until));
	assert_false(kura_ipblock_fail(b, "10.0.0.2", clock_at(1), &until));
	assert_false(kura_ipblock_fail(b, "10.0.0.3", clock_at(2), &until));
	assert_false(kura_ipblock_fail(b, "10.0.0.4", clock_at(3), &until));
	assert_int_equal(kura_ipblock_tracked(b), 4);
	/* B counted again: now the least recently counted is A */
	assert_true(kura_ipblock_fail(b, "10.0.0.2", clock_at(4), &until));
	/* a fifth address takes A's place: the table never grows */
	assert_false(kura_ipblock_fail(b, "10.0.0.5", clock_at(5), &until));
	assert_int_equal(kura_ipblock_tracked(b), 4);
	now = clock_at(6);
	assert_int_equal(kura_ipblock_check(b, "10.0.0.1", now), 0);
	assert_true(kura_ipblock_check(b, "10.0.0.2", now) > 0);
	/* C, the oldest now, goes next: its earlier failure is forgotten */
	assert_false(kura_ipblock_fail(b, "10.0.0.6", clock_at(7), &until));
	assert_false(kura_ipblock_fail(b, "10.0.0.3", clock_at(8), &until));
	/* a flood of fresh addresses: the bound holds and lookups stay right */
	for (int i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "172.16.%d.%d", i / 256, i % 256);
		assert_false(kura_ipblock_fail(b, ip, clock_at(9), &until));
		assert_int_equal(kura_ipblock_tracked(b), 4);
	}
	/* the last four are the ones remembered */
	for (int i = 4996; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "172.16.%d.%d", i / 256, i % 256);
		assert_true(kura_ipblock_fail(b, ip, clock_at(10), &until));
	}
	kura_ipblock_free(b);
}

struct hammer {
	struct kura_ipblock *b;
	int id;
	int blocks;
};

static void *
hammer(void *arg)
{
	struct hammer *h = arg;
	char ip[32];
	int64_t until;

	for (int i = 0; i < 20000; i++) {
		/* mostly a few addresses that get blocked, and a flood of fresh ones to evict */
		if (i % 10 == 0)
			snprintf(ip, sizeof(ip), "172.%d.%d.%d", h->id, i / 2560, i / 10 % 256);
		else
			snprintf(ip, sizeof(ip), "10.%d.0.%d", h->id, i % 50);
		if (kura_ipblock_fail(h->b, ip, kura_now_us(), &until))
			h->blocks++;
		(void)kura_ipblock_check(h->b, ip, kura_now_us());
	}
	return NULL;
}

/* Many threads at once (run under the sanitizers in CI): no race, no block counted twice. */
static void
test_concurrent(void **state)
{
	struct kura_ipblock *b = NULL;
	struct hammer h[4];
	pthread_t t[4];
	int blocks = 0;

	(void)state;
	clock_at(0);
	assert_int_equal(kura_ipblock_new(5, 60, 600, 512, &b), KURA_OK);
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){b, i, 0};
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &h[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		blocks += h[i].blocks;
	}
	assert_true(blocks > 0);
	assert_true(kura_ipblock_tracked(b) <= 512);
	assert_true(kura_ipblock_blocked(b, kura_now_us()) <= 512);
	kura_ipblock_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_refuses_nonsense),
		cmocka_unit_test_setup_teardown(test_limit_then_block_then_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sliding_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_by_64_and_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded_table_evicts_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
