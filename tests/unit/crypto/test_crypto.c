/*
 * Unit tests for crypto/: HKDF against RFC 5869, the master key file and
 * its refusals, DEK wrapping and every way an unwrap must fail, CSRF
 * tokens, audit seal MACs, base64url, constant-time compare and the small
 * helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "tmpdir.h"

#include "kura/crypto.h"
#include "../../../src/crypto/crypto_int.h"

struct fixture {
	char dir[96];
	char mk[256];
	struct kura_keyring *k;
};

static void rm_rf(const char *dir)
{
	kura_test_rmtree(dir);
}

static void hex2bin(const char *hex, uint8_t *out, size_t *len)
{
	size_t n = strlen(hex) / 2;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned int b;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
		out[i] = (uint8_t)b;
	}
	*len = n;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[256];

	if (f == NULL || kura_crypto_init() != KURA_OK)
		return -1;
	if (kura_test_mkdtemp(f->dir, sizeof(f->dir), "kura-test-crypto") != 0)
		return -1;
	snprintf(f->mk, sizeof f->mk, "%s/master.key", f->dir);
	if (kura_master_key_create(f->mk) != KURA_OK)
		return -1;
	if (kura_keyring_open(f->mk, &f->k, err, sizeof err) != KURA_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kura_keyring_free(f->k);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* ---- HKDF (RFC 5869 appendix A, SHA-256 cases) ---- */

struct hkdf_vec {
	const char *ikm, *salt, *info, *prk, *okm;
};

static void check_hkdf(const struct hkdf_vec *v)
{
	uint8_t ikm[128], salt[128], info[128], prk_want[32], okm_want[128];
	uint8_t prk[32], okm[128];
	size_t ikmlen, saltlen, infolen, prklen, okmlen;

	hex2bin(v->ikm, ikm, &ikmlen);
	hex2bin(v->salt, salt, &saltlen);
	hex2bin(v->info, info, &infolen);
	hex2bin(v->prk, prk_want, &prklen);
	hex2bin(v->okm, okm_want, &okmlen);

	kura_hkdf_sha256_extract(saltlen ? salt : NULL, saltlen, ikm, ikmlen, prk);
	assert_memory_equal(prk, prk_want, 32);
	assert_int_equal(kura_hkdf_sha256_expand(prk, infolen ? info : NULL, infolen, okm, okmlen),
			 KURA_OK);
	assert_memory_equal(okm, okm_want, okmlen);

	memset(okm, 0, sizeof okm);
	assert_int_equal(kura_hkdf_sha256(saltlen ? salt : NULL, saltlen, ikm, ikmlen,
					  infolen ? info : NULL, infolen, okm, okmlen),
			 KURA_OK);
	assert_memory_equal(okm, okm_want, okmlen);
}

static void test_hkdf_rfc5869(void **state)
{
	(void)state;
	/* A.1 basic */
	static const struct hkdf_vec a1 = {
		"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
		"000102030405060708090a0b0c",
		"f0f1f2f3f4f5f6f7f8f9",
		"077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
		"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
		"34007208d5b887185865",
	};
	/* A.2 longer inputs and outputs */
	static const struct hkdf_vec a2 = {
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
		"404142434445464748494a4b4c4d4e4f",
		"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
		"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
		"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
		"b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
		"d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
		"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
		"06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
		"b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
		"59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
		"cc30c58179ec3e87c14c01d5c1f3434f1d87",
	};
	/* A.3 zero-length salt and info */
	static const struct hkdf_vec a3 = {
		"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
		"",
		"",
		"19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
		"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
		"9d201395faa4b61a96c8",
	};

	check_hkdf(&a1);
	check_hkdf(&a2);
	check_hkdf(&a3);
}

static void test_hkdf_bounds(void **state)
{
	uint8_t prk[32] = { 1 };
	static uint8_t big[KURA_HKDF_MAX_OUT + 1];

	(void)state;
	memset(big, 0xaa, sizeof big);
	assert_int_equal(kura_hkdf_sha256_expand(prk, NULL, 0, big, KURA_HKDF_MAX_OUT), KURA_OK);
	assert_int_equal(kura_hkdf_sha256_expand(prk, NULL, 0, big, KURA_HKDF_MAX_OUT + 1),
			 KURA_E_INTERNAL);
	assert_int_equal(kura_hkdf_sha256_expand(prk, NULL, 0, big, 0), KURA_E_INTERNAL);
	assert_int_equal(kura_hkdf_sha256_expand(prk, NULL, 0, NULL, 32), KURA_E_INTERNAL);
}

/* ---- master key file ---- */

static void test_init_idempotent(void **state)
{
	(void)state;
	assert_int_equal(kura_crypto_init(), KURA_OK);
	assert_int_equal(kura_crypto_init(), KURA_OK);
}

static void test_master_key_create(void **state)
{
	struct fixture *f = *state;
	char path[160];
	uint8_t before[64], after[64];
	struct stat st;
	mode_t old;
	int fd;

	/* Mode is exactly 0600 whatever the umask. */
	old = umask(0);
	snprintf(path, sizeof path, "%s/mk-umask0", f->dir);
	assert_int_equal(kura_master_key_create(path), KURA_OK);
	umask(077);
	snprintf(path, sizeof path, "%s/mk-umask077", f->dir);
	assert_int_equal(kura_master_key_create(path), KURA_OK);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, KURA_KEY_BYTES);
	snprintf(path, sizeof path, "%s/mk-umask0", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* Refuses to overwrite, and leaves the old key as it was. */
	fd = open(f->mk, O_RDONLY);
	assert_int_equal(read(fd, before, sizeof before), KURA_KEY_BYTES);
	close(fd);
	assert_int_equal(kura_master_key_create(f->mk), KURA_E_EXISTS);
	fd = open(f->mk, O_RDONLY);
	assert_int_equal(read(fd, after, sizeof after), KURA_KEY_BYTES);
	close(fd);
	assert_memory_equal(before, after, KURA_KEY_BYTES);

	/* Nor through a symlink, not even a dangling one. */
	snprintf(path, sizeof path, "%s/mk-link", f->dir);
	assert_int_equal(symlink("/nonexistent/kura-target", path), 0);
	assert_int_equal(kura_master_key_create(path), KURA_E_EXISTS);

	/* A missing parent directory is an I/O error. */
	snprintf(path, sizeof path, "%s/no/such/dir/key", f->dir);
	assert_int_equal(kura_master_key_create(path), KURA_E_IO);

	/* Two keys are different. */
	snprintf(path, sizeof path, "%s/mk-umask077", f->dir);
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, after, sizeof after), KURA_KEY_BYTES);
	close(fd);
	assert_memory_not_equal(before, after, KURA_KEY_BYTES);
}

static void assert_open_refused(const char *path, enum kura_err want, const char *msg_part)
{
	struct kura_keyring *k = (struct kura_keyring *)0x1;
	char err[512];

	assert_int_equal(kura_keyring_open(path, &k, err, sizeof err), want);
	assert_null(k);
	if (msg_part != NULL)
		assert_non_null(strstr(err, msg_part));
	assert_non_null(strstr(err, path));
}

static void test_keyring_open_refusals(void **state)
{
	struct fixture *f = *state;
	uint8_t key[KURA_KEY_BYTES + 1];
	char path[160];
	char link[160];
	struct kura_keyring *k = NULL;

	memset(key, 0x5a, sizeof key);

	snprintf(path, sizeof path, "%s/group-readable", f->dir);
	write_file(path, key, KURA_KEY_BYTES, 0640);
	assert_open_refused(path, KURA_E_CRYPTO, "chmod 600");

	snprintf(path, sizeof path, "%s/other-readable", f->dir);
	write_file(path, key, KURA_KEY_BYTES, 0604);
	assert_open_refused(path, KURA_E_CRYPTO, "chmod 600");

	snprintf(path, sizeof path, "%s/group-writable", f->dir);
	write_file(path, key, KURA_KEY_BYTES, 0620);
	assert_open_refused(path, KURA_E_CRYPTO, "chmod 600");

	snprintf(path, sizeof path, "%s/short", f->dir);
	write_file(path, key, KURA_KEY_BYTES - 1, 0600);
	assert_open_refused(path, KURA_E_CRYPTO, "31 bytes");

	snprintf(path, sizeof path, "%s/long", f->dir);
	write_file(path, key, KURA_KEY_BYTES + 1, 0600);
	assert_open_refused(path, KURA_E_CRYPTO, "33 bytes");

	snprintf(path, sizeof path, "%s/empty", f->dir);
	write_file(path, key, 0, 0600);
	assert_open_refused(path, KURA_E_CRYPTO, NULL);

	snprintf(path, sizeof path, "%s/zeros", f->dir);
	memset(key, 0, sizeof key);
	write_file(path, key, KURA_KEY_BYTES, 0600);
	assert_open_refused(path, KURA_E_CRYPTO, "zero");

	/* A symlink to a perfectly good key is still refused. */
	snprintf(link, sizeof link, "%s/link.key", f->dir);
	assert_int_equal(symlink(f->mk, link), 0);
	assert_open_refused(link, KURA_E_CRYPTO, "symbolic link");

	snprintf(path, sizeof path, "%s/a-directory", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_open_refused(path, KURA_E_CRYPTO, "not a regular file");

	snprintf(path, sizeof path, "%s/fifo", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_open_refused(path, KURA_E_CRYPTO, "not a regular file");

	snprintf(path, sizeof path, "%s/missing", f->dir);
	assert_open_refused(path, KURA_E_NOT_FOUND, NULL);

	/* err may be omitted. */
	assert_int_equal(kura_keyring_open(path, &k, NULL, 0), KURA_E_NOT_FOUND);
	assert_null(k);

	/* The good one still opens. */
	assert_int_equal(kura_keyring_open(f->mk, &k, NULL, 0), KURA_OK);
	assert_non_null(k);
	kura_keyring_free(k);
	kura_keyring_free(NULL);
}

/* ---- DEK wrapping ---- */

static void open_other_keyring(struct fixture *f, const char *name, struct kura_keyring **k)
{
	char path[160];

	snprintf(path, sizeof path, "%s/%s", f->dir, name);
	assert_int_equal(kura_master_key_create(path), KURA_OK);
	assert_int_equal(kura_keyring_open(path, k, NULL, 0), KURA_OK);
}

static void assert_unwrap_fails(const struct kura_keyring *k, const char *tenant, uint32_t ver,
				const uint8_t *w, size_t len)
{
	uint8_t dek[KURA_KEY_BYTES];
	static const uint8_t zero[KURA_KEY_BYTES];

	memset(dek, 0xaa, sizeof dek);
	assert_int_equal(kura_dek_unwrap(k, tenant, ver, w, len, dek), KURA_E_CRYPTO);
	assert_memory_equal(dek, zero, sizeof dek);
}

static void test_wrap_roundtrip(void **state)
{
	struct fixture *f = *state;
	uint8_t w[KURA_WRAPPED_KEY_BYTES];
	uint8_t dek1[KURA_KEY_BYTES], dek2[KURA_KEY_BYTES];
	static const uint8_t zero[KURA_KEY_BYTES];
	struct kura_keyring *again = NULL;

	assert_int_equal(kura_dek_new_wrapped(f->k, "acme", 1, w), KURA_OK);
	assert_int_equal(w[0], 0x01);
	assert_int_equal(kura_dek_unwrap(f->k, "acme", 1, w, sizeof w, dek1), KURA_OK);
	assert_memory_not_equal(dek1, zero, sizeof dek1);
	/* Deterministic: unwrapping twice gives the same key. */
	assert_int_equal(kura_dek_unwrap(f->k, "acme", 1, w, sizeof w, dek2), KURA_OK);
	assert_memory_equal(dek1, dek2, sizeof dek1);

	/* The same master key loaded again (a restart) unwraps it too. */
	assert_int_equal(kura_keyring_open(f->mk, &again, NULL, 0), KURA_OK);
	assert_int_equal(kura_dek_unwrap(again, "acme", 1, w, sizeof w, dek2), KURA_OK);
	assert_memory_equal(dek1, dek2, sizeof dek1);
	kura_keyring_free(again);

	/* The largest version round-trips. */
	assert_int_equal(kura_dek_new_wrapped(f->k, "acme", UINT32_MAX, w), KURA_OK);
	assert_int_equal(kura_dek_unwrap(f->k, "acme", UINT32_MAX, w, sizeof w, dek2), KURA_OK);
}

static void test_wrap_fresh_nonce_and_key(void **state)
{
	struct fixture *f = *state;
	uint8_t w1[KURA_WRAPPED_KEY_BYTES], w2[KURA_WRAPPED_KEY_BYTES];
	uint8_t d1[KURA_KEY_BYTES], d2[KURA_KEY_BYTES];

	assert_int_equal(kura_dek_new_wrapped(f->k, "acme", 1, w1), KURA_OK);
	assert_int_equal(kura_dek_new_wrapped(f->k, "acme", 1, w2), KURA_OK);
	assert_memory_not_equal(w1, w2, sizeof w1);
	assert_memory_not_equal(w1 + 1, w2 + 1, 12); /* nonces */
	assert_int_equal(kura_dek_unwrap(f->k, "acme", 1, w1, sizeof w1, d1), KURA_OK);
	assert_int_equal(kura_dek_unwrap(f->k, "acme", 1, w2, sizeof w2, d2), KURA_OK);
	assert_memory_not_equal(d1, d2, sizeof d1);
}

static void test_unwrap_failures(void **state)
{
	struct fixture *f = *state;
	uint8_t w[KURA_WRAPPED_KEY_BYTES];
	uint8_t bad[KURA_WRAPPED_KEY_BYTES + 1];
	struct kura_keyring *other = NULL;
	size_t i;
	int bit;

	assert_int_equal(kura_dek_new_wrapped(f->k, "acme", 7, w), KURA_OK);

	/* Another tenant, another version. */
	assert_unwrap_fails(f->k, "acmf", 7, w, sizeof w);
	assert_unwrap_fails(f->k, "acme2", 7, w, sizeof w);
	assert_unwrap_fails(f->k, "acm", 7, w, sizeof w);
	assert_unwrap_fails(f->k, "ACME", 7, w, sizeof w);
	assert_unwrap_fails(f->k, "acme", 6, w, sizeof w);
	assert_unwrap_fails(f->k, "acme", 8, w, sizeof w);
	assert_unwrap_fails(f->k, "acme", 70, w, sizeof w);
	assert_unwrap_fails(f->k, "", 7, w, sizeof w);
	assert_unwrap_fails(f->k, NULL, 7, w, sizeof w);

	/* Every single-bit flip anywhere: version byte, nonce, ciphertext, tag. */
	for (i = 0; i < sizeof w; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(bad, w, sizeof w);
			bad[i] ^= (uint8_t)(1u << bit);
			assert_unwrap_fails(f->k, "acme", 7, bad, sizeof w);
		}
	}

	/* Truncated or extended. */
	for (i = 0; i < sizeof w; i++)
		assert_unwrap_fails(f->k, "acme", 7, w, i);
	memcpy(bad, w, sizeof w);
	bad[sizeof w] = 0;
	assert_unwrap_fails(f->k, "acme", 7, bad, sizeof w + 1);
	assert_unwrap_fails(f->k, "acme", 7, NULL, sizeof w);

	/* Another master key. */
	open_other_keyring(f, "other.key", &other);
	assert_unwrap_fails(other, "acme", 7, w, sizeof w);
	kura_keyring_free(other);
	assert_unwrap_fails(NULL, "acme", 7, w, sizeof w);

	/* Still fine with the right inputs after all that. */
	{
		uint8_t dek[KURA_KEY_BYTES];

		assert_int_equal(kura_dek_unwrap(f->k, "acme", 7, w, sizeof w, dek), KURA_OK);
	}
}

static void test_wrap_tenant_with_colon(void **state)
{
	struct fixture *f = *state;
	uint8_t w[KURA_WRAPPED_KEY_BYTES];
	uint8_t dek[KURA_KEY_BYTES];
	char longid[300];
	static const uint8_t zero[KURA_WRAPPED_KEY_BYTES];

	/* "a:1" v2 has AAD "...a:1:2"; no (tenant, version) pair that
	 * differs can produce those bytes. */
	assert_int_equal(kura_dek_new_wrapped(f->k, "a:1", 2, w), KURA_OK);
	assert_int_equal(kura_dek_unwrap(f->k, "a:1", 2, w, sizeof w, dek), KURA_OK);
	assert_unwrap_fails(f->k, "a", 12, w, sizeof w);
	assert_unwrap_fails(f->k, "a:12", 2, w, sizeof w);

	/* Absurd tenant ids are refused with a zeroed output. */
	memset(longid, 'x', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	memset(w, 0xaa, sizeof w);
	assert_int_equal(kura_dek_new_wrapped(f->k, longid, 1, w), KURA_E_CRYPTO);
	assert_memory_equal(w, zero, sizeof w);
	memset(w, 0xaa, sizeof w);
	assert_int_equal(kura_dek_new_wrapped(f->k, "", 1, w), KURA_E_CRYPTO);
	assert_memory_equal(w, zero, sizeof w);
	assert_int_equal(kura_dek_new_wrapped(NULL, "acme", 1, w), KURA_E_CRYPTO);
}

/*
 * Known answers, computed independently (Python "cryptography": HKDF-SHA256,
 * HMAC-SHA256, AESGCM) from the master key 00 01 .. 1f. They pin the key
 * derivation labels and the wrapped-key format: if either changes, every
 * stored wrapped DEK and every live CSRF token breaks, so this must fail.
 */
static void test_known_answers(void **state)
{
	struct fixture *f = *state;
	uint8_t mk[KURA_KEY_BYTES], wrapped[KURA_WRAPPED_KEY_BYTES], want[KURA_KEY_BYTES];
	uint8_t dek[KURA_KEY_BYTES];
	struct kura_keyring *k = NULL;
	char path[160];
	char tok[KURA_TOKEN_CHARS];
	size_t len;
	size_t i;

	for (i = 0; i < sizeof mk; i++) {
		mk[i] = (uint8_t)i;
		want[i] = (uint8_t)(0x40 + i);
	}
	snprintf(path, sizeof path, "%s/kat.key", f->dir);
	write_file(path, mk, sizeof mk, 0600);
	assert_int_equal(kura_keyring_open(path, &k, NULL, 0), KURA_OK);

	kura_csrf_token(k, (const uint8_t *)"session-secret", 14, tok);
	assert_string_equal(tok, "NRF_Na9YihoUcD7_JCPtvJN8fA7gmtnmbEZ-HdN4MUY");

	hex2bin("01a0a1a2a3a4a5a6a7a8a9aaabc74a65ef5e8c8671a27f447afb61849a9e535592d6"
		"367e4974a497a7b957b3f2d25836373c4b2ff3614aed4461f512db",
		wrapped, &len);
	assert_int_equal(len, KURA_WRAPPED_KEY_BYTES);
	assert_int_equal(kura_dek_unwrap(k, "acme", 3, wrapped, len, dek), KURA_OK);
	assert_memory_equal(dek, want, sizeof dek);
	assert_unwrap_fails(k, "acme", 4, wrapped, len);
	kura_keyring_free(k);
}

/* ---- CSRF ---- */

static void test_csrf(void **state)
{
	struct fixture *f = *state;
	char t1[KURA_TOKEN_CHARS], t2[KURA_TOKEN_CHARS], t3[KURA_TOKEN_CHARS];
	const uint8_t s1[32] = { 1, 2, 3 };
	const uint8_t s2[32] = { 1, 2, 4 };
	struct kura_keyring *other = NULL;
	uint8_t raw[64];
	size_t rawlen = 0;

	kura_csrf_token(f->k, s1, sizeof s1, t1);
	kura_csrf_token(f->k, s1, sizeof s1, t2);
	assert_string_equal(t1, t2);
	assert_int_equal(strlen(t1), KURA_TOKEN_CHARS - 1);
	assert_int_equal(kura_b64url_decode(t1, raw, sizeof raw, &rawlen), KURA_OK);
	assert_int_equal(rawlen, 32);

	kura_csrf_token(f->k, s2, sizeof s2, t3);
	assert_string_not_equal(t1, t3);
	kura_csrf_token(f->k, s1, sizeof s1 - 1, t3);
	assert_string_not_equal(t1, t3);

	open_other_keyring(f, "csrf-other.key", &other);
	kura_csrf_token(other, s1, sizeof s1, t3);
	assert_string_not_equal(t1, t3);
	kura_keyring_free(other);

	/* The CSRF key is not the raw master key: HMAC under the MK itself
	 * must not give the token. */
	{
		uint8_t mk[KURA_KEY_BYTES], mac[32];
		char t4[KURA_TOKEN_CHARS];
		int fd = open(f->mk, O_RDONLY);

		assert_int_equal(read(fd, mk, sizeof mk), KURA_KEY_BYTES);
		close(fd);
		/* HKDF-Extract(salt, ikm) is HMAC-SHA256(salt, ikm). */
		kura_hkdf_sha256_extract(mk, sizeof mk, s1, sizeof s1, mac);
		assert_int_equal(kura_b64url_encode(mac, sizeof mac, t4, sizeof t4), KURA_OK);
		assert_string_not_equal(t1, t4);
	}

	/* Misuse fails closed: never an empty or predictable token. */
	kura_csrf_token(NULL, s1, sizeof s1, t2);
	kura_csrf_token(NULL, s1, sizeof s1, t3);
	assert_int_equal(strlen(t2), KURA_TOKEN_CHARS - 1);
	assert_string_not_equal(t2, t3);
	assert_string_not_equal(t1, t2);
}

/* ---- audit seal MAC ---- */

static void test_audit_seal_mac(void **state)
{
	struct fixture *f = *state;
	uint8_t h1[32], h2[32], m1[32], m2[32], want[32];
	uint8_t mk[KURA_KEY_BYTES];
	struct kura_keyring *other = NULL, *kat = NULL;
	char path[160];
	size_t len, i;

	for (i = 0; i < 32; i++) {
		h1[i] = (uint8_t)(0x80 + i);
		mk[i] = (uint8_t)i;
	}
	memcpy(h2, h1, sizeof h2);
	h2[31] ^= 1;

	/* Deterministic: a verifier recomputes the same MAC. */
	kura_audit_seal_mac(f->k, "acme", 42, h1, m1);
	kura_audit_seal_mac(f->k, "acme", 42, h1, m2);
	assert_memory_equal(m1, m2, 32);

	/* Bound to tenant, seq and hash. */
	kura_audit_seal_mac(f->k, "acme2", 42, h1, m2);
	assert_memory_not_equal(m1, m2, 32);
	kura_audit_seal_mac(f->k, "acm", 42, h1, m2);
	assert_memory_not_equal(m1, m2, 32);
	kura_audit_seal_mac(f->k, "acme", 43, h1, m2);
	assert_memory_not_equal(m1, m2, 32);
	kura_audit_seal_mac(f->k, "acme", 42 + ((int64_t)1 << 32), h1, m2);
	assert_memory_not_equal(m1, m2, 32);
	kura_audit_seal_mac(f->k, "acme", 42, h2, m2);
	assert_memory_not_equal(m1, m2, 32);

	/* And to the master key. */
	open_other_keyring(f, "seal-other.key", &other);
	kura_audit_seal_mac(other, "acme", 42, h1, m2);
	assert_memory_not_equal(m1, m2, 32);
	kura_keyring_free(other);

	/* Its own subkey: not the CSRF key (HMAC of the same bytes differs). */
	{
		char tok[KURA_TOKEN_CHARS], sealtok[KURA_TOKEN_CHARS];
		uint8_t msg[4 + 4 + 8 + 32] = { 0, 0, 0, 4, 'a', 'c', 'm', 'e', 0, 0, 0, 0, 0, 0, 0, 42 };

		memcpy(msg + 16, h1, 32);
		kura_csrf_token(f->k, msg, sizeof msg, tok);
		assert_int_equal(kura_b64url_encode(m1, 32, sealtok, sizeof sealtok), KURA_OK);
		assert_string_not_equal(tok, sealtok);
	}

	/* Misuse fails closed: random, never a fixed value. */
	kura_audit_seal_mac(NULL, "acme", 42, h1, m2);
	assert_memory_not_equal(m1, m2, 32);
	kura_audit_seal_mac(f->k, NULL, 42, h1, m1);
	kura_audit_seal_mac(f->k, NULL, 42, h1, m2);
	assert_memory_not_equal(m1, m2, 32);
	kura_audit_seal_mac(f->k, "acme", 42, NULL, m2);
	assert_memory_not_equal(m1, m2, 32);
	kura_audit_seal_mac(f->k, "acme", 42, h1, NULL); /* no crash */

	/* Known answer (computed independently with Python's hmac/hashlib):
	 * if the label or the encoding changes, every stored seal breaks. */
	snprintf(path, sizeof path, "%s/seal-kat.key", f->dir);
	write_file(path, mk, sizeof mk, 0600);
	assert_int_equal(kura_keyring_open(path, &kat, NULL, 0), KURA_OK);
	kura_audit_seal_mac(kat, "acme", 42, h1, m1);
	hex2bin("1b07f4534022238f7686f8e5611aaad558507c88c60592c549054275c0337dfe", want, &len);
	assert_int_equal(len, 32);
	assert_memory_equal(m1, want, 32);
	kura_keyring_free(kat);
}

/* ---- base64url ---- */

static void test_b64url(void **state)
{
	static const struct {
		const char *bin, *b64;
	} v[] = {
		{ "", "" },	    { "f", "Zg" },	   { "fo", "Zm8" },	     { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
	};
	char out[64];
	uint8_t bin[64];
	size_t len;
	size_t i;
	static const uint8_t urlsafe[] = { 0xfb, 0xff, 0xbf };

	(void)state;
	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		assert_int_equal(kura_b64url_encode((const uint8_t *)v[i].bin, strlen(v[i].bin), out,
						    sizeof out),
				 KURA_OK);
		assert_string_equal(out, v[i].b64);
		len = 99;
		assert_int_equal(kura_b64url_decode(v[i].b64, bin, sizeof bin, &len), KURA_OK);
		assert_int_equal(len, strlen(v[i].bin));
		assert_memory_equal(bin, v[i].bin, len);
	}
	/* URL-safe alphabet, no padding. */
	assert_int_equal(kura_b64url_encode(urlsafe, sizeof urlsafe, out, sizeof out), KURA_OK);
	assert_string_equal(out, "-_-_");
	assert_int_equal(kura_b64url_decode("-_-_", bin, sizeof bin, &len), KURA_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(bin, urlsafe, 3);

	/* Random round trips of every length up to 40. */
	for (i = 0; i <= 40; i++) {
		uint8_t r[40];

		kura_random_bytes(r, i);
		assert_int_equal(kura_b64url_encode(r, i, out, sizeof out), KURA_OK);
		assert_int_equal(kura_b64url_decode(out, bin, sizeof bin, &len), KURA_OK);
		assert_int_equal(len, i);
		assert_memory_equal(bin, r, i);
	}

	/* Encode: exact room works, one byte less does not. */
	assert_int_equal(kura_b64url_encode((const uint8_t *)"foo", 3, out, 5), KURA_OK);
	assert_int_equal(kura_b64url_encode((const uint8_t *)"foo", 3, out, 4),
			 KURA_E_BAD_REQUEST);
	assert_string_equal(out, "");
	assert_int_equal(kura_b64url_encode((const uint8_t *)"foo", 3, NULL, 10),
			 KURA_E_BAD_REQUEST);
	assert_int_equal(kura_b64url_encode(NULL, 3, out, sizeof out), KURA_E_BAD_REQUEST);
	assert_int_equal(kura_b64url_encode((const uint8_t *)"x", SIZE_MAX, out, sizeof out),
			 KURA_E_BAD_REQUEST);

	/* Decode: bad input. */
	{
		static const char *const badin[] = {
			"Zg==",	 /* padding */
			"Zm9v=", /* padding */
			"Z",	 /* impossible length */
			"Zm9vY", /* impossible length */
			"Zh",	 /* non-canonical trailing bits */
			"Zm9",	 /* non-canonical trailing bits */
			"+/8",	 /* standard, not URL-safe, alphabet */
			"Zm 9v", /* space */
			"Zm9v\n",
			"Zm9v!",
		};

		for (i = 0; i < sizeof badin / sizeof badin[0]; i++) {
			len = 99;
			assert_int_equal(kura_b64url_decode(badin[i], bin, sizeof bin, &len),
					 KURA_E_BAD_REQUEST);
			assert_int_equal(len, 0);
		}
	}
	/* Decode: not enough room. */
	len = 99;
	assert_int_equal(kura_b64url_decode("Zm9vYmFy", bin, 5, &len), KURA_E_BAD_REQUEST);
	assert_int_equal(len, 0);
	assert_int_equal(kura_b64url_decode("Zm9vYmFy", bin, 6, &len), KURA_OK);
	assert_int_equal(len, 6);
	assert_int_equal(kura_b64url_decode(NULL, bin, sizeof bin, &len), KURA_E_BAD_REQUEST);
	assert_int_equal(kura_b64url_decode("", NULL, 0, &len), KURA_OK);
	assert_int_equal(len, 0);
}

/* ---- small helpers ---- */

static void test_ct_equal(void **state)
{
	uint8_t a[64], b[64];

	(void)state;
	kura_random_bytes(a, sizeof a);
	memcpy(b, a, sizeof b);
	assert_int_equal(kura_ct_equal(a, b, sizeof a), 1);
	b[63] ^= 1;
	assert_int_equal(kura_ct_equal(a, b, sizeof a), 0);
	assert_int_equal(kura_ct_equal(a, b, 63), 1);
	b[0] ^= 0x80;
	assert_int_equal(kura_ct_equal(a, b, 63), 0);
	assert_int_equal(kura_ct_equal(a, b, 0), 1);
	assert_int_equal(kura_ct_equal("abc", "abd", 3), 0);
	assert_int_equal(kura_ct_equal("abc", "abc", 3), 1);
}

static void test_sha256(void **state)
{
	uint8_t h[32], want[32];
	size_t n;

	(void)state;
	hex2bin("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, &n);
	kura_sha256("abc", 3, h);
	assert_memory_equal(h, want, 32);
	hex2bin("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want, &n);
	kura_sha256("", 0, h);
	assert_memory_equal(h, want, 32);
	hex2bin("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", want, &n);
	kura_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, h);
	assert_memory_equal(h, want, 32);
	{
		/* FIPS 180-2's million a's; then every length to 1,100 against libsodium's */
		uint8_t *a = malloc(1000000), other[32];

		assert_non_null(a);
		memset(a, 'a', 1000000);
		hex2bin("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", want, &n);
		kura_sha256(a, 1000000, h);
		assert_memory_equal(h, want, 32);
		randombytes_buf(a, 1100);
		for (size_t len = 0; len <= 1100; len++) {
			kura_sha256(a, len, h);
			crypto_hash_sha256(other, a, len);
			assert_memory_equal(h, other, 32);
		}
		free(a);
	}
}

static void test_random(void **state)
{
	char t1[KURA_TOKEN_CHARS], t2[KURA_TOKEN_CHARS];
	uint8_t raw[32], dec[32];
	uint8_t a[32] = { 0 }, b[32] = { 0 };
	size_t len;

	(void)state;
	kura_random_token(t1, raw, 32);
	kura_random_token(t2, NULL, 32);
	assert_int_equal(strlen(t1), 43);
	assert_string_not_equal(t1, t2);
	assert_int_equal(kura_b64url_decode(t1, dec, sizeof dec, &len), KURA_OK);
	assert_int_equal(len, 32);
	assert_memory_equal(dec, raw, 32);

	kura_random_token(t1, raw, 16);
	assert_int_equal(strlen(t1), 22);
	assert_int_equal(kura_b64url_decode(t1, dec, sizeof dec, &len), KURA_OK);
	assert_int_equal(len, 16);
	assert_memory_equal(dec, raw, 16);

	/* Over-large n is clamped, never overflows out. */
	kura_random_token(t1, raw, 1000);
	assert_int_equal(strlen(t1), 43);

	kura_random_bytes(a, sizeof a);
	kura_random_bytes(b, sizeof b);
	assert_memory_not_equal(a, b, sizeof a);
}

static int cmp_nonce(const void *a, const void *b)
{
	return memcmp(a, b, 12);
}

/*
 * AEAD nonces: never the same twice, in one process or across a fork (a
 * child that went on from the parent's generator state would repeat the
 * parent's next nonces under the same keys).
 */
static void test_random_nonce(void **state)
{
	enum { N = 4096 };
	static uint8_t nonces[N][12];
	uint8_t zero[12] = { 0 }, mine[12], theirs[12];
	int fds[2];
	pid_t pid;
	int status;

	(void)state;
	for (size_t i = 0; i < N; i++)
		kura_random_nonce(nonces[i], 12);
	qsort(nonces, N, 12, cmp_nonce);
	for (size_t i = 1; i < N; i++)
		assert_memory_not_equal(nonces[i - 1], nonces[i], 12);
	assert_memory_not_equal(nonces[0], zero, 12);

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		kura_random_nonce(theirs, 12);
		_exit(write(fds[1], theirs, 12) == 12 ? 0 : 1);
	}
	kura_random_nonce(mine, 12);
	assert_int_equal(read(fds[0], theirs, 12), 12);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_memory_not_equal(mine, theirs, 12);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hkdf_rfc5869),
		cmocka_unit_test(test_hkdf_bounds),
		cmocka_unit_test(test_init_idempotent),
		cmocka_unit_test_setup_teardown(test_master_key_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyring_open_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrap_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrap_fresh_nonce_and_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwrap_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrap_tenant_with_colon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_known_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csrf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_seal_mac, setup, teardown),
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_ct_equal),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_random_nonce),
	};

	if (kura_crypto_init() != KURA_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
