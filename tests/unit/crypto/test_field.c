/*
 * Field encryption (crypto/field.c): a value opens only under the exact
 * binding it was sealed with (tenant, object, record, property), any
 * changed byte is refused, each property and purpose has its own key,
 * the key version travels in the ciphertext, and the blind index is
 * deterministic per property and differs between properties.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "kura/crypto.h"

struct fx {
	char dir[256];
	char mk[300];
	struct kura_keyring *ring;
	struct kura_field_keys *fk;
	unsigned fetches;
};

/* The keystore: wrapped keys made on demand, as kura tenant create would. */
static enum kura_err
fetch(void *ctx, const char *tenant, uint32_t version, uint8_t *out, size_t cap, size_t *len)
{
	struct fx *f = ctx;

	f->fetches++;
	if (cap < KURA_WRAPPED_KEY_BYTES || version > 2)
		return KURA_E_NOT_FOUND;
	/* deterministic per (tenant, version) within a run: wrap once, cache here */
	static uint8_t saved[2][2][KURA_WRAPPED_KEY_BYTES];
	static int have[2][2];
	int t = strcmp(tenant, "acme") == 0 ? 0 : 1, v = (int)version - 1;

	if (!have[t][v]) {
		if (kura_dek_new_wrapped(f->ring, tenant, version, saved[t][v]) != KURA_OK)
			return KURA_E_CRYPTO;
		have[t][v] = 1;
	}
	memcpy(out, saved[t][v], KURA_WRAPPED_KEY_BYTES);
	*len = KURA_WRAPPED_KEY_BYTES;
	return KURA_OK;
}

static int
setup(void **state)
{
	static struct fx f;
	char err[256];

	memset(&f, 0, sizeof(f));
	if (kura_crypto_init() != KURA_OK ||
	    kura_test_mkdtemp(f.dir, sizeof(f.dir), "kura-field") != 0)
		return -1;
	snprintf(f.mk, sizeof(f.mk), "%s/master.key", f.dir);
	if (kura_master_key_create(f.mk) != KURA_OK ||
	    kura_keyring_open(f.mk, &f.ring, err, sizeof(err)) != KURA_OK ||
	    kura_field_keys_new(f.ring, fetch, &f, &f.fk) != KURA_OK)
		return -1;
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	kura_field_keys_free(f->fk);
	kura_keyring_free(f->ring);
	unlink(f->mk);
	rmdir(f->dir);
	return 0;
}

static struct kura_field_ctx
ctx(const char *tenant, int64_t id, const char *prop, uint32_t version)
{
	static char op[64];
	struct kura_field_ctx c;

	memset(&c, 0, sizeof(c));
	snprintf(op, sizeof(op), "contacts.%s", prop);
	c.tenant = tenant;
	c.key_version = version;
	c.object = "contacts";
	c.record_id = id;
	c.name = prop;
	c.object_prop = op;
	return c;
}

static enum kura_err
opens(struct fx *f, struct kura_field_ctx c, const uint8_t *ct, size_t n, const char *want)
{
	uint8_t *pt = NULL;
	size_t len = 0;
	enum kura_err e = kura_field_decrypt(f->fk, &c, ct, n, &pt, &len);

	if (e == KURA_OK) {
		assert_int_equal(len, strlen(want));
		assert_memory_equal(pt, want, len);
	} else {
		assert_null(pt);
	}
	free(pt);
	return e;
}

static void
binding(void **state)
{
	struct fx *f = *state;
	struct kura_field_ctx c = ctx("acme", 42, "ssn", 1);
	const char *v = "123-45-6789";
	uint8_t *ct = NULL, *ct2 = NULL;
	size_t n = 0, n2 = 0;

	assert_int_equal(kura_field_encrypt(f->fk, &c, v, strlen(v), &ct, &n), KURA_OK);
	assert_int_equal(n, strlen(v) + KURA_FIELD_OVERHEAD);
	assert_int_equal(ct[0], KURA_FIELD_FORMAT_V1);
	assert_int_equal(kura_field_key_version(ct, n), 1);
	assert_null(memmem(ct, n, v, strlen(v)));
	assert_int_equal(opens(f, c, ct, n, v), KURA_OK);
	/* another record, property, object or tenant: refused */
	assert_int_equal(opens(f, ctx("acme", 43, "ssn", 1), ct, n, v), KURA_E_CRYPTO);
	assert_int_equal(opens(f, ctx("acme", 42, "tax", 1), ct, n, v), KURA_E_CRYPTO);
	assert_int_equal(opens(f, ctx("globex", 42, "ssn", 1), ct, n, v), KURA_E_CRYPTO);
	c.object = "companies";
	assert_int_equal(opens(f, c, ct, n, v), KURA_E_CRYPTO);
	/* a fresh nonce each time: two ciphertexts of one value differ */
	c = ctx("acme", 42, "ssn", 1);
	assert_int_equal(kura_field_encrypt(f->fk, &c, v, strlen(v), &ct2, &n2), KURA_OK);
	assert_true(n == n2 && memcmp(ct, ct2, n) != 0);
	free(ct);
	free(ct2);
}

static void
every_byte_counts(void **state)
{
	struct fx *f = *state;
	struct kura_field_ctx c = ctx("acme", 7, "ssn", 1);
	uint8_t *ct = NULL;
	size_t n = 0;

	assert_int_equal(kura_field_encrypt(f->fk, &c, "secret", 6, &ct, &n), KURA_OK);
	for (size_t i = 0; i < n; i++) {
		ct[i] ^= 0x40;
		assert_int_not_equal(opens(f, c, ct, n, "secret"), KURA_OK);
		ct[i] ^= 0x40;
	}
	assert_int_equal(opens(f, c, ct, n, "secret"), KURA_OK);
	assert_int_equal(opens(f, c, ct, n - 1, "secret"), KURA_E_CRYPTO);
	assert_int_equal(opens(f, c, ct, 10, "secret"), KURA_E_CRYPTO);
	free(ct);
}

static void
key_versions_and_purposes(void **state)
{
	struct fx *f = *state;
	struct kura_field_ctx c2 = ctx("acme", 1, "ssn", 2), h = ctx("acme", 1, "ssn", 1);
	uint8_t *ct = NULL;
	size_t n = 0;

	/* made under version 2, read back (the version is in the ciphertext) */
	assert_int_equal(kura_field_encrypt(f->fk, &c2, "v2", 2, &ct, &n), KURA_OK);
	assert_int_equal(kura_field_key_version(ct, n), 2);
	c2.key_version = 1;
	assert_int_equal(opens(f, c2, ct, n, "v2"), KURA_OK);
	/* the same binding under another purpose's key does not open */
	h.purpose = "history";
	assert_int_equal(opens(f, h, ct, n, "v2"), KURA_E_CRYPTO);
	free(ct);
	/* an unknown key version is an error, not a guess */
	c2.key_version = 9;
	assert_int_not_equal(kura_field_encrypt(f->fk, &c2, "x", 1, &ct, &n), KURA_OK);
	assert_null(ct);
}

static void
blind_index(void **state)
{
	struct fx *f = *state;
	uint8_t a[KURA_BLIND_BYTES], b[KURA_BLIND_BYTES], c[KURA_BLIND_BYTES], d[KURA_BLIND_BYTES];
	unsigned fetched;

	assert_int_equal(kura_field_blind(f->fk, "acme", 1, "contacts.ssn", "x1", 2, a), KURA_OK);
	fetched = f->fetches;
	assert_int_equal(kura_field_blind(f->fk, "acme", 1, "contacts.ssn", "x1", 2, b), KURA_OK);
	assert_int_equal(f->fetches, fetched); /* the unwrapped key is cached */
	assert_memory_equal(a, b, KURA_BLIND_BYTES);
	/* over many values, other properties and tenants index differently */
	int same_prop = 0, same_tenant = 0;

	for (int i = 0; i < 64; i++) {
		char v[16];

		snprintf(v, sizeof(v), "value-%d", i);
		kura_field_blind(f->fk, "acme", 1, "contacts.ssn", v, strlen(v), a);
		kura_field_blind(f->fk, "acme", 1, "contacts.tax", v, strlen(v), c);
		kura_field_blind(f->fk, "globex", 1, "contacts.ssn", v, strlen(v), d);
		same_prop += memcmp(a, c, KURA_BLIND_BYTES) == 0;
		same_tenant += memcmp(a, d, KURA_BLIND_BYTES) == 0;
	}
	assert_true(same_prop < 3 && same_tenant < 3);
	/* forgetting a tenant's keys makes the next use unwrap again */
	kura_field_keys_forget(f->fk, "acme");
	fetched = f->fetches;
	assert_int_equal(kura_field_blind(f->fk, "acme", 1, "contacts.ssn", "x1", 2, b), KURA_OK);
	assert_int_equal(f->fetches, fetched + 1);
}

/* The slow index: deterministic, its own per property and tenant, not the fast one. */
static void
slow_blind_index(void **state)
{
	struct fx *f = *state;
	uint8_t a[KURA_BLIND_BYTES], b[KURA_BLIND_BYTES], c[KURA_BLIND_BYTES];
	uint8_t d[KURA_BLIND_BYTES], fast[KURA_BLIND_BYTES];
	int same_fast = 0, same_prop = 0, same_tenant = 0;

	assert_int_equal(kura_field_blind_slow(f->fk, "acme", 1, "contacts.birthday", "1980-01-10",
					       10, a), KURA_OK);
	assert_int_equal(kura_field_blind_slow(f->fk, "acme", 1, "contacts.birthday", "1980-01-10",
					       10, b), KURA_OK);
	assert_memory_equal(a, b, KURA_BLIND_BYTES);
	for (int i = 0; i < 24; i++) {
		char v[16];

		snprintf(v, sizeof(v), "1980-01-%02d", i + 1);
		assert_int_equal(kura_field_blind_slow(f->fk, "acme", 1, "contacts.birthday", v,
						       strlen(v), a), KURA_OK);
		kura_field_blind(f->fk, "acme", 1, "contacts.birthday", v, strlen(v), fast);
		kura_field_blind_slow(f->fk, "acme", 1, "contacts.hired", v, strlen(v), c);
		kura_field_blind_slow(f->fk, "globex", 1, "contacts.birthday", v, strlen(v), d);
		same_fast += memcmp(a, fast, KURA_BLIND_BYTES) == 0;
		same_prop += memcmp(a, c, KURA_BLIND_BYTES) == 0;
		same_tenant += memcmp(a, d, KURA_BLIND_BYTES) == 0;
	}
	assert_true(same_fast < 3 && same_prop < 3 && same_tenant < 3);
	/* an unknown key version is an error */
	assert_int_not_equal(kura_field_blind_slow(f->fk, "acme", 9, "contacts.birthday", "x", 1, a),
			     KURA_OK);
}

/*
 * The slow index's memo: a value computed once is answered from it (the
 * same bytes), other properties and tenants are their own entries, and
 * forgetting a tenant's keys empties it.
 */
static void
slow_blind_memo(void **state)
{
	struct fx *f = *state;
	uint8_t a[KURA_BLIND_BYTES], b[KURA_BLIND_BYTES], c[KURA_BLIND_BYTES];
	uint64_t h0, m0, h1, m1;

	kura_field_keys_memo_stats(f->fk, &h0, &m0);
	assert_int_equal(kura_field_blind_slow(f->fk, "acme", 1, "contacts.memo", "1999-09-09", 10,
					       a), KURA_OK);
	kura_field_keys_memo_stats(f->fk, &h1, &m1);
	assert_int_equal(h1 - h0, 0);
	assert_int_equal(m1 - m0, 1);
	assert_int_equal(kura_field_blind_slow(f->fk, "acme", 1, "contacts.memo", "1999-09-09", 10,
					       b), KURA_OK);
	kura_field_keys_memo_stats(f->fk, &h0, &m0);
	assert_int_equal(h0 - h1, 1);
	assert_int_equal(m0 - m1, 0);
	assert_memory_equal(a, b, KURA_BLIND_BYTES);
	/* another property or tenant is not answered with this entry */
	assert_int_equal(kura_field_blind_slow(f->fk, "acme", 1, "contacts.memo2", "1999-09-09",
					       10, c), KURA_OK);
	assert_int_equal(kura_field_blind_slow(f->fk, "globex", 1, "contacts.memo", "1999-09-09",
					       10, c), KURA_OK);
	kura_field_keys_memo_stats(f->fk, &h1, &m1);
	assert_int_equal(h1 - h0, 0);
	assert_int_equal(m1 - m0, 2);
	/* forgetting a tenant's keys empties the memo: computed again, the same result */
	kura_field_keys_forget(f->fk, "acme");
	assert_int_equal(kura_field_blind_slow(f->fk, "acme", 1, "contacts.memo", "1999-09-09", 10,
					       b), KURA_OK);
	kura_field_keys_memo_stats(f->fk, &h0, &m0);
	assert_int_equal(h0 - h1, 0);
	assert_int_equal(m0 - m1, 1);
	assert_memory_equal(a, b, KURA_BLIND_BYTES);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(binding),
		cmocka_unit_test(every_byte_counts),
		cmocka_unit_test(key_versions_and_purposes),
		cmocka_unit_test(blind_index),
		cmocka_unit_test(slow_blind_index),
		cmocka_unit_test(slow_blind_memo),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
