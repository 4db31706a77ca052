/* Per-user read volume: thresholds crossed once per user and hour, users and tenants apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "kura/monitor.h"

#define MIN_US (60LL * 1000000)

static void
test_crossing_once_per_hour(void **state)
{
	struct kura_volume *v = NULL;
	struct kura_volume_counts n;
	int64_t t = 1000 * MIN_US;

	(void)state;
	assert_int_equal(kura_volume_new(10, 3, &v), KURA_OK);
	assert_int_equal(kura_volume_add(v, "acme", 7, 6, 0, t, &n), 0);
	assert_int_equal(n.records, 6);
	/* 11 > 10: crossed, reported once */
	assert_int_equal(kura_volume_add(v, "acme", 7, 5, 0, t + MIN_US, &n), KURA_VOLUME_RECORDS);
	assert_int_equal(n.records, 11);
	assert_int_equal(kura_volume_add(v, "acme", 7, 50, 0, t + 2 * MIN_US, NULL), 0);
	/* the sensitive threshold on its own */
	assert_int_equal(kura_volume_add(v, "acme", 7, 0, 3, t + 3 * MIN_US, NULL), 0);
	assert_int_equal(kura_volume_add(v, "acme", 7, 0, 1, t + 4 * MIN_US, &n), KURA_VOLUME_SENSITIVE);
	assert_int_equal(n.sensitive, 4);
	/* another user, another tenant: counted apart */
	assert_int_equal(kura_volume_add(v, "acme", 8, 10, 0, t + 5 * MIN_US, NULL), 0);
	assert_int_equal(kura_volume_add(v, "globex", 7, 10, 0, t + 5 * MIN_US, NULL), 0);
	/* both at once */
	assert_int_equal(kura_volume_add(v, "acme", 9, 11, 4, t, NULL),
			 KURA_VOLUME_RECORDS | KURA_VOLUME_SENSITIVE);
	/* an hour after the first read the window starts again */
	assert_int_equal(kura_volume_add(v, "acme", 7, 11, 0, t + 60 * MIN_US, &n),
			 KURA_VOLUME_RECORDS);
	assert_int_equal(n.records, 11);
	assert_int_equal(n.window_start, t + 60 * MIN_US);
	/* nothing read, no user: not counted */
	assert_int_equal(kura_volume_add(v, "acme", 7, 0, 0, t, NULL), 0);
	assert_int_equal(kura_volume_add(v, "acme", 0, 100, 100, t, NULL), 0);
	assert_int_equal(kura_volume_add(NULL, "acme", 7, 100, 100, t, NULL), 0);
	kura_volume_free(v);
}

static void
test_zero_never_and_bounded(void **state)
{
	struct kura_volume *v = NULL;
	char tenant[16];

	(void)state;
	assert_int_equal(kura_volume_new(0, 2, &v), KURA_OK);
	assert_int_equal(kura_volume_add(v, "acme", 1, 1000000, 0, 1, NULL), 0);
	/* many users: the table stays bounded and keeps answering */
	for (int i = 0; i < 200000; i++) {
		snprintf(tenant, sizeof(tenant), "t%d", i % 50);
		kura_volume_add(v, tenant, i + 1, 1, 1, i, NULL);
	}
	assert_int_equal(kura_volume_add(v, "fresh", 42, 0, 3, 300000, NULL), KURA_VOLUME_SENSITIVE);
	kura_volume_free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crossing_once_per_hour),
		cmocka_unit_test(test_zero_never_and_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
