/*
 * The housekeeper's rounds (core/housekeeping.c) on real SQLite files, a
 * real master key and a tenant with a sensitive property: what it scans
 * and analyses, and what it remembers between rounds. A tenant whose
 * current data key is version 1 is never scanned; after a rotation the
 * next round re-encrypts; once a scan that began well after the rotation
 * found nothing stale, rounds stop scanning until the next rotation.
 * ANALYZE runs on the first visit, then once an hour or when the tenant
 * has doubled; purges run every round. The clock is moved with kura_clock_set_offset_us.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "crm_fixture.h"
#include "kura/clock.h"
#include "kura/core.h"
#include "kura/crypto.h"
#include "kura/store.h"

#define RECORDS 12

struct fx {
	struct crm_fx c;
	int64_t ids[RECORDS];
};

static json_t *
record_props(int i)
{
	char email[32];

	snprintf(email, sizeof(email), "p%d@example.com", i);
	return json_pack("{s:s, s:s+}", "email", email, "ssn", "SECRET-", i % 2 ? "odd" : "even");
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || crm_fx_open(&f->c, "kura-hk") != 0)
		return -1;
	/* contacts.ssn, sensitive, and RECORDS contacts with a value each */
	crm_fx_prop(&f->c, "ssn", "SSN", true);
	crm_fx_create(&f->c, record_props, RECORDS, f->ids);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	crm_fx_close(&f->c);
	free(f);
	return 0;
}

static void
rotate(struct fx *f)
{
	struct kura_tenant t;
	uint8_t w[KURA_WRAPPED_KEY_BYTES];

	assert_int_equal(kura_store_tenant_get(f->c.s, "acme", &t), KURA_OK);
	assert_int_equal(kura_dek_new_wrapped(f->c.k, "acme", t.key_version + 1, w), KURA_OK);
	assert_int_equal(kura_store_tenant_key_rotate(f->c.s, "acme", t.key_version + 1, w, sizeof(w),
						      kura_now_us()),
			 KURA_OK);
}

struct versions {
	int64_t n[8];
};

static void
count_version(void *ctx, uint32_t version, int64_t n)
{
	struct versions *v = ctx;

	if (version < 8)
		v->n[version] += n;
}

/* How many ssn values each data-key version holds. */
static void
versions(struct fx *f, struct versions *v)
{
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	const struct kura_object *o;
	const struct kura_prop *p;
	void *conn;

	memset(v, 0, sizeof(*v));
	assert_int_equal(kura_store_tenant_acquire(f->c.s, "acme", &db), KURA_OK);
	assert_int_equal(kura_catalog_get(NULL, db, &cat), KURA_OK);
	o = kura_catalog_object(cat, "contacts");
	p = kura_object_prop(o, "ssn");
	assert_non_null(p);
	assert_int_equal(kura_store_crm(db, &conn)->prop_key_versions(conn, o->row.id, p->row.id,
								      count_version, v),
			 KURA_OK);
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
}

static void
round_stats(struct fx *f, struct kura_housekeeping_stats *st)
{
	kura_housekeeping_round(f->c.h);
	kura_housekeeper_stats(f->c.h, st);
}

static void
test_rekey_scans_only_when_needed(void **state)
{
	struct fx *f = *state;
	struct kura_housekeeping_stats st;
	struct versions v;
	const int64_t settle = (int64_t)(KURA_REKEY_SETTLE_SECONDS + 1) * 1000000;

	/* Version 1 is the first key: nothing can be under an older one. */
	round_stats(f, &st);
	round_stats(f, &st);
	assert_int_equal(st.rounds, 2);
	assert_int_equal(st.rekey_scans, 0);
	versions(f, &v);
	assert_int_equal(v.n[1], RECORDS);

	/* After a rotation the next round re-encrypts every value. */
	rotate(f);
	round_stats(f, &st);
	assert_int_equal(st.rekey_scans, 1);
	assert_int_equal(st.values_rekeyed, RECORDS);
	versions(f, &v);
	assert_int_equal(v.n[1], 0);
	assert_int_equal(v.n[2], RECORDS);
	/* Right after the rotation a request may still write under the old key: scan again. */
	round_stats(f, &st);
	assert_int_equal(st.rekey_scans, 2);
	assert_int_equal(st.values_rekeyed, RECORDS);
	/* A scan well after the rotation that finds nothing stale is the last one. */
	kura_clock_set_offset_us(settle);
	round_stats(f, &st);
	assert_int_equal(st.rekey_scans, 3);
	round_stats(f, &st);
	round_stats(f, &st);
	assert_int_equal(st.rekey_scans, 3);
	assert_int_equal(st.values_rekeyed, RECORDS);

	/* Another rotation: the memo no longer holds, and the next round re-encrypts. */
	rotate(f);
	round_stats(f, &st);
	assert_int_equal(st.rekey_scans, 4);
	assert_int_equal(st.values_rekeyed, 2 * RECORDS);
	versions(f, &v);
	assert_int_equal(v.n[2], 0);
	assert_int_equal(v.n[3], RECORDS);
}

static void
test_analyze_hourly_purge_every_round(void **state)
{
	struct fx *f = *state;
	struct kura_housekeeping_stats st;
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	struct kura_rec_ctx x;
	json_t *rec = NULL;

	/* between rounds, a tenant never analysed and still small is left alone */
	kura_housekeeping_stats_round(f->c.h);
	kura_housekeeper_stats(f->c.h, &st);
	assert_int_equal(st.analyzes, 0);
	round_stats(f, &st);
	assert_int_equal(st.analyzes, 1);
	round_stats(f, &st);
	assert_int_equal(st.analyzes, 1);
	kura_clock_set_offset_us(1800LL * 1000000);
	round_stats(f, &st);
	assert_int_equal(st.analyzes, 1);

	/* A tenant that grew a lot within the hour is analysed again, once. */
	assert_int_equal(kura_store_tenant_acquire(f->c.s, "acme", &db), KURA_OK);
	assert_int_equal(kura_catalog_get(NULL, db, &cat), KURA_OK);
	crm_fx_rec_ctx(&f->c, db, cat, &x);
	assert_int_equal(kura_store_begin(db), KURA_OK);
	for (int i = 0; i < 1000; i++) {
		char email[40];
		json_t *props, *details = json_array();
		int64_t id = 0;

		snprintf(email, sizeof(email), "grow%d@example.com", i);
		props = json_pack("{s:s}", "email", email);
		assert_int_equal(kura_record_create(&x, props, details, &id, NULL), KURA_OK);
		json_decref(props);
		json_decref(details);
	}
	assert_int_equal(kura_store_finish(db, KURA_OK), KURA_OK);
	kura_catalog_release(NULL, cat);
	cat = NULL;
	kura_store_tenant_release(db);
	db = NULL;
	/* found by the check between rounds, not an hour later */
	kura_housekeeping_stats_round(f->c.h);
	kura_housekeeper_stats(f->c.h, &st);
	assert_int_equal(st.analyzes, 2);
	assert_int_equal(st.rounds, 3);
	kura_housekeeping_stats_round(f->c.h);
	kura_housekeeper_stats(f->c.h, &st);
	assert_int_equal(st.analyzes, 2);
	round_stats(f, &st);
	assert_int_equal(st.analyzes, 2);

	/* Archive a record: 90 days later the next round purges it, analysed or not. */
	assert_int_equal(kura_store_tenant_acquire(f->c.s, "acme", &db), KURA_OK);
	assert_int_equal(kura_catalog_get(NULL, db, &cat), KURA_OK);
	crm_fx_rec_ctx(&f->c, db, cat, &x);
	assert_int_equal(kura_store_begin(db), KURA_OK);
	assert_int_equal(kura_store_finish(db, kura_record_archive(&x, f->ids[0])), KURA_OK);
	kura_store_tenant_release(db);
	db = NULL;
	kura_clock_set_offset_us(1800LL * 1000000 + 91LL * 86400 * 1000000);
	round_stats(f, &st);
	/* More than an hour since the last ANALYZE: one more. */
	assert_int_equal(st.analyzes, 3);
	assert_int_equal(kura_store_tenant_acquire(f->c.s, "acme", &db), KURA_OK);
	x.db = db;
	assert_int_equal(kura_record_json(&x, f->ids[0], true, NULL, &rec), KURA_E_NOT_FOUND);
	assert_int_equal(kura_record_json(&x, f->ids[1], false, NULL, &rec), KURA_OK);
	json_decref(rec);
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
	round_stats(f, &st);
	assert_int_equal(st.analyzes, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rekey_scans_only_when_needed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analyze_hourly_purge_every_round, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
