/*
 * Turning the sensitive flag of a property that holds values
 * (core/sensitive_flag.c, store/sqlite/crm_enc.c) on real SQLite files
 * with a real master key: on marks it pending with its count, a step
 * seals one batch and counts it, the housekeeper seals the rest and then
 * the history entries and ends the state, values read back in either
 * form; off opens every value and history entry again.
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

#define RECORDS 600

struct fx {
	struct crm_fx c;
	int64_t ids[RECORDS];
};

static json_t *
record_props(int i)
{
	char nick[32];

	snprintf(nick, sizeof(nick), "NICK-%04d", i);
	return json_pack("{s:s}", "nick", nick);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || crm_fx_open(&f->c, "kura-flag") != 0)
		return -1;
	/* contacts.nick, not sensitive yet, and RECORDS contacts with a value each */
	crm_fx_prop(&f->c, "nick", "Nick", false);
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

static bool
count_val(void *ctx, int64_t id, const struct kura_val *v)
{
	(void)id;
	(void)v;
	(*(int *)ctx)++;
	return true;
}

static bool
count_hist(void *ctx, const struct kura_history_row *h)
{
	assert_true(h->record_id > 0);
	(*(int *)ctx)++;
	return true;
}

/* Values of nick in each form, and history entries of nick in each form. */
static void
forms(struct fx *f, int *clear, int *sealed, int *hclear, int *hsealed)
{
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	const struct kura_object *o;
	const struct kura_prop *p;
	const struct kura_crm_ops *ops;
	void *conn;

	*clear = *sealed = *hclear = *hsealed = 0;
	assert_int_equal(kura_store_tenant_acquire(f->c.s, "acme", &db), KURA_OK);
	assert_int_equal(kura_catalog_get(NULL, db, &cat), KURA_OK);
	o = kura_catalog_object(cat, "contacts");
	p = kura_object_prop(o, "nick");
	ops = kura_store_crm(db, &conn);
	assert_int_equal(ops->prop_values_form(conn, o->row.id, p->row.id, KURA_FORM_CLEAR, 100000,
					       count_val, clear),
			 KURA_OK);
	assert_int_equal(ops->prop_values_form(conn, o->row.id, p->row.id, KURA_FORM_SEALED, 100000,
					       count_val, sealed),
			 KURA_OK);
	assert_int_equal(ops->history_of_prop(conn, o->row.id, "nick", false, 100000, count_hist,
					      hclear),
			 KURA_OK);
	assert_int_equal(ops->history_of_prop(conn, o->row.id, "nick", true, 100000, count_hist,
					      hsealed),
			 KURA_OK);
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
}

/* nick's value in record i as read through core (opened when sealed). */
static void
expect_nick(struct fx *f, int i)
{
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	struct kura_rec_ctx x;
	json_t *rec = NULL;
	char want[32];

	snprintf(want, sizeof(want), "NICK-%04d", i);
	assert_int_equal(kura_store_tenant_acquire(f->c.s, "acme", &db), KURA_OK);
	assert_int_equal(kura_catalog_get(NULL, db, &cat), KURA_OK);
	crm_fx_rec_ctx(&f->c, db, cat, &x);
	assert_int_equal(kura_record_json(&x, f->ids[i], false, NULL, &rec), KURA_OK);
	assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "properties"),
							       "nick")),
			    want);
	json_decref(rec);
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
}

/* What PATCH does: the flag written, then (on) pending or (off) decrypted first. */
static void
turn(struct fx *f, bool on, int64_t *total, size_t *decrypted)
{
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	const struct kura_crm_ops *ops;
	struct kura_rec_ctx x;
	struct kura_prop_row row;
	const struct kura_prop *p;
	void *conn;
	enum kura_err e;

	assert_int_equal(kura_store_tenant_acquire(f->c.s, "acme", &db), KURA_OK);
	assert_int_equal(kura_catalog_get(NULL, db, &cat), KURA_OK);
	crm_fx_rec_ctx(&f->c, db, cat, &x);
	p = kura_object_prop(x.obj, "nick");
	row = p->row;
	row.sensitive = on;
	ops = kura_store_crm(db, &conn);
	assert_int_equal(kura_store_begin(db), KURA_OK);
	e = KURA_OK;
	if (!on)
		e = kura_sensitive_flag_off(&x, p, decrypted);
	if (e == KURA_OK)
		e = ops->prop_update(conn, &row);
	if (e == KURA_OK && on)
		e = kura_sensitive_flag_on(&x, p, total);
	assert_int_equal(kura_store_finish(db, e), KURA_OK);
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
}

static void
test_on_encrypts_in_rounds_and_off_decrypts(void **state)
{
	struct fx *f = *state;
	struct kura_housekeeping_stats st;
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	struct kura_rec_ctx x;
	const struct kura_prop *p;
	int clear, sealed, hclear, hsealed, pstate;
	int64_t total = 0, done = 0, all = 0;
	size_t n = 0;
	enum kura_enc_step step;

	forms(f, &clear, &sealed, &hclear, &hsealed);
	assert_int_equal(clear, RECORDS);
	assert_int_equal(sealed, 0);
	assert_int_equal(hclear, RECORDS);
	assert_int_equal(hsealed, 0);

	turn(f, true, &total, NULL);
	assert_int_equal(total, RECORDS);
	expect_nick(f, 7); /* in clear, while pending */

	/* one step by hand: KURA_ENC_BATCH values, progress counted, still pending */
	assert_int_equal(kura_store_tenant_acquire(f->c.s, "acme", &db), KURA_OK);
	assert_int_equal(kura_catalog_get(NULL, db, &cat), KURA_OK);
	crm_fx_rec_ctx(&f->c, db, cat, &x);
	p = kura_object_prop(x.obj, "nick");
	assert_int_equal(p->row.enc_state, KURA_ENC_PENDING);
	assert_int_equal(p->row.enc_total, RECORDS);
	assert_int_equal(kura_store_begin(db), KURA_OK);
	assert_int_equal(kura_store_finish(db, kura_sensitive_flag_step(&x, p, KURA_ENC_BATCH, &n,
									&step)),
			 KURA_OK);
	assert_int_equal(n, KURA_ENC_BATCH);
	assert_int_equal(step, KURA_ENC_MORE);
	assert_int_equal(kura_sensitive_flag_progress(&x, p, &pstate, &done, &all), KURA_OK);
	assert_int_equal(pstate, KURA_ENC_PENDING);
	assert_int_equal(done, KURA_ENC_BATCH);
	assert_int_equal(all, RECORDS);
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
	forms(f, &clear, &sealed, &hclear, &hsealed);
	assert_int_equal(clear, RECORDS - KURA_ENC_BATCH);
	assert_int_equal(sealed, KURA_ENC_BATCH);
	expect_nick(f, 0);   /* sealed now */
	expect_nick(f, 599); /* still in clear */

	/* the housekeeper finishes it: values, then history, then the state */
	kura_housekeeping_round(f->c.h);
	kura_housekeeper_stats(f->c.h, &st);
	assert_int_equal(st.values_encrypted, RECORDS - KURA_ENC_BATCH);
	forms(f, &clear, &sealed, &hclear, &hsealed);
	assert_int_equal(clear, 0);
	assert_int_equal(sealed, RECORDS);
	assert_int_equal(hclear, 0);
	assert_int_equal(hsealed, RECORDS);
	expect_nick(f, 0);
	expect_nick(f, 599);

	/* not pending any more: a step does nothing */
	assert_int_equal(kura_store_tenant_acquire(f->c.s, "acme", &db), KURA_OK);
	assert_int_equal(kura_catalog_get(NULL, db, &cat), KURA_OK);
	crm_fx_rec_ctx(&f->c, db, cat, &x);
	p = kura_object_prop(x.obj, "nick");
	assert_int_equal(p->row.enc_state, KURA_ENC_NONE);
	assert_int_equal(kura_store_begin(db), KURA_OK);
	assert_int_equal(kura_store_finish(db, kura_sensitive_flag_step(&x, p, KURA_ENC_BATCH, &n,
									&step)),
			 KURA_OK);
	assert_int_equal(step, KURA_ENC_IDLE);
	assert_int_equal(n, 0);
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);

	/* off: everything back in clear at once */
	turn(f, false, NULL, &n);
	assert_int_equal(n, RECORDS);
	forms(f, &clear, &sealed, &hclear, &hsealed);
	assert_int_equal(clear, RECORDS);
	assert_int_equal(sealed, 0);
	assert_int_equal(hclear, RECORDS);
	assert_int_equal(hsealed, 0);
	expect_nick(f, 42);
}

/* nick's blind lookup values for v, its write version, and the index under `at`. */
static size_t
nick_blind(struct fx *f, const char *v, int64_t out[2], uint32_t *write_version, uint32_t at,
	   int64_t *blind_at)
{
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	const struct kura_prop *p;
	struct kura_rec_ctx x;
	struct kura_val val = {.kind = KURA_V_TEXT, .s = v, .n = strlen(v)};
	enum kura_err e = KURA_OK;
	size_t n;

	assert_int_equal(kura_store_tenant_acquire(f->c.s, "acme", &db), KURA_OK);
	assert_int_equal(kura_catalog_get(NULL, db, &cat), KURA_OK);
	crm_fx_rec_ctx(&f->c, db, cat, &x);
	p = kura_object_prop(x.obj, "nick");
	n = kura_sensitive_blind_lookup(&x, p, &val, out, &e);
	assert_int_equal(e, KURA_OK);
	*write_version = kura_blind_write_version(p);
	assert_int_equal(kura_sensitive_blind_at(&x, p, &val, at, blind_at), KURA_OK);
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
	return n;
}

static enum kura_err
nick_bidx_set(struct fx *f, uint32_t version, uint32_t next)
{
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	const struct kura_crm_ops *ops;
	void *conn;
	enum kura_err e;

	assert_int_equal(kura_store_tenant_acquire(f->c.s, "acme", &db), KURA_OK);
	assert_int_equal(kura_catalog_get(NULL, db, &cat), KURA_OK);
	ops = kura_store_crm(db, &conn);
	e = kura_store_begin(db);
	if (e == KURA_OK)
		e = ops->prop_bidx_set(conn,
				       kura_object_prop(kura_catalog_object(cat, "contacts"), "nick")
					       ->row.id,
				       version, next, kura_now_us());
	e = kura_store_finish(db, e);
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
	return e;
}

/*
 * The blind-index rotation's states: at rest one value is looked up,
 * tagged with its key version (version 1: [0, 65536)); while rotating to
 * version 2 new values are written under it and both are looked up (the
 * old one unchanged, the new one in [65536, 131072) and under another key);
 * after the switch only the new one. A "rotation" to the same or an older
 * version is refused by the store.
 */
static void
test_blind_index_rotation_states(void **state)
{
	struct fx *f = *state;
	uint8_t w[KURA_WRAPPED_KEY_BYTES];
	int64_t at[2], mid[2], end[2], b1, b2, x;
	uint32_t wv;
	int64_t total = 0;

	turn(f, true, &total, NULL);
	assert_int_equal(nick_blind(f, "NICK-0042", at, &wv, 1, &b1), 1);
	assert_int_equal(wv, 1);
	assert_int_equal(at[0], b1);
	assert_true(at[0] >= 0 && at[0] < KURA_BLIND_SPAN);

	/* a data key of version 2 to derive the new index key from */
	assert_int_equal(kura_dek_new_wrapped(f->c.k, "acme", 2, w), KURA_OK);
	assert_int_equal(kura_store_tenant_key_rotate(f->c.s, "acme", 2, w, sizeof(w), kura_now_us()),
			 KURA_OK);
	assert_int_equal(nick_bidx_set(f, 1, 2), KURA_OK);
	assert_int_equal(nick_blind(f, "NICK-0042", mid, &wv, 2, &b2), 2);
	assert_int_equal(wv, 2);
	assert_int_equal(mid[0], b1);
	assert_int_equal(mid[1], b2);
	assert_true(b2 >= KURA_BLIND_SPAN && b2 < 2 * KURA_BLIND_SPAN);
	/* the same 16 bits under another key would be a coincidence of 1 in 65,536 */
	assert_int_not_equal(b2 - KURA_BLIND_SPAN, b1);
	/* the index a write stores now is the new one */
	assert_int_equal(nick_blind(f, "NICK-0042", mid, &wv, 2, &x), 2);
	assert_int_equal(x, b2);

	/* the switch: only the new key is looked up */
	assert_int_equal(nick_bidx_set(f, 2, 0), KURA_OK);
	assert_int_equal(nick_blind(f, "NICK-0042", end, &wv, 2, &x), 1);
	assert_int_equal(end[0], b2);
	assert_int_equal(wv, 2);
	/* never backwards, never to itself */
	assert_int_not_equal(nick_bidx_set(f, 2, 2), KURA_OK);
	assert_int_not_equal(nick_bidx_set(f, 2, 1), KURA_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_on_encrypts_in_rounds_and_off_decrypts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_blind_index_rotation_states, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
