/*
 * Unit tests for Argon2id password hashing and one-time password
 * generation. Uses the OWASP minimum cost (19 MiB, t=2) to stay fast.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "kura/crypto.h"
#include "kura/password.h"

#define MIB ((size_t)1024 * 1024)

static const struct kura_pwparams fast = { 2, 19 * MIB };
static const char zero_hash[KURA_PASSWORD_HASH_MAX];

static void test_hash_verify(void **state)
{
	char h[KURA_PASSWORD_HASH_MAX];
	char h2[KURA_PASSWORD_HASH_MAX];

	(void)state;
	assert_int_equal(kura_password_hash(&fast, "correct horse", 13, h), KURA_OK);
	assert_memory_equal(h, "$argon2id$", 10);
	assert_non_null(strstr(h, "m=19456,t=2"));
	assert_int_equal(kura_password_verify(h, "correct horse", 13), KURA_OK);
	assert_int_equal(kura_password_verify(h, "correct horsf", 13), KURA_E_INVALID_CREDENTIALS);
	assert_int_equal(kura_password_verify(h, "Correct horse", 13), KURA_E_INVALID_CREDENTIALS);
	assert_int_equal(kura_password_verify(h, "correct horse ", 14), KURA_E_INVALID_CREDENTIALS);
	assert_int_equal(kura_password_verify(h, "correct hors", 12), KURA_E_INVALID_CREDENTIALS);
	assert_int_equal(kura_password_verify(h, "", 0), KURA_E_INVALID_CREDENTIALS);
	assert_int_equal(kura_password_verify(h, NULL, 5), KURA_E_INVALID_CREDENTIALS);

	/* Salted: the same password hashes differently each time. */
	assert_int_equal(kura_password_hash(&fast, "correct horse", 13, h2), KURA_OK);
	assert_string_not_equal(h, h2);
	assert_int_equal(kura_password_verify(h2, "correct horse", 13), KURA_OK);
}

static void test_bytes_as_typed(void **state)
{
	char pw[1001];
	char h[KURA_PASSWORD_HASH_MAX];
	size_t n = 0;
	size_t i;

	(void)state;
	/* 1000 bytes of UTF-8: a 4-byte key emoji, then 332 three-byte kana. */
	memcpy(pw, "\xf0\x9f\x94\x91", 4);
	n = 4;
	for (i = 0; i < 332; i++) {
		memcpy(pw + n, "\xe3\x81\x82", 3); /* あ */
		n += 3;
	}
	assert_int_equal(n, 1000);
	pw[n] = '\0';

	assert_int_equal(kura_password_hash(&fast, pw, n, h), KURA_OK);
	assert_int_equal(kura_password_verify(h, pw, n), KURA_OK);
	/* A prefix, even one ending on a character boundary, is wrong. */
	assert_int_equal(kura_password_verify(h, pw, n - 1), KURA_E_INVALID_CREDENTIALS);
	assert_int_equal(kura_password_verify(h, pw, n - 3), KURA_E_INVALID_CREDENTIALS);
	assert_int_equal(kura_password_verify(h, pw, 72), KURA_E_INVALID_CREDENTIALS);
	/* One byte different, at the end and in the middle. */
	pw[n - 1] ^= 1;
	assert_int_equal(kura_password_verify(h, pw, n), KURA_E_INVALID_CREDENTIALS);
	pw[n - 1] ^= 1;
	pw[500] ^= 1;
	assert_int_equal(kura_password_verify(h, pw, n), KURA_E_INVALID_CREDENTIALS);
	pw[500] ^= 1;
	assert_int_equal(kura_password_verify(h, pw, n), KURA_OK);

	/* No truncation at an embedded NUL. */
	assert_int_equal(kura_password_hash(&fast, "ab\0cd", 5, h), KURA_OK);
	assert_int_equal(kura_password_verify(h, "ab\0cd", 5), KURA_OK);
	assert_int_equal(kura_password_verify(h, "ab", 2), KURA_E_INVALID_CREDENTIALS);
	assert_int_equal(kura_password_verify(h, "ab\0ce", 5), KURA_E_INVALID_CREDENTIALS);

	/* No Unicode normalisation: precomposed é and e + combining acute differ. */
	assert_int_equal(kura_password_hash(&fast, "caf\xc3\xa9", 5, h), KURA_OK);
	assert_int_equal(kura_password_verify(h, "cafe\xcc\x81", 6), KURA_E_INVALID_CREDENTIALS);
	assert_int_equal(kura_password_verify(h, "caf\xc3\xa9", 5), KURA_OK);
}

static void test_length_limit(void **state)
{
	char *pw = malloc(KURA_PASSWORD_MAX_BYTES + 2);
	char h[KURA_PASSWORD_HASH_MAX];

	(void)state;
	assert_non_null(pw);
	memset(pw, 'p', KURA_PASSWORD_MAX_BYTES + 1);

	assert_int_equal(kura_password_hash(&fast, pw, KURA_PASSWORD_MAX_BYTES, h), KURA_OK);
	assert_int_equal(kura_password_verify(h, pw, KURA_PASSWORD_MAX_BYTES), KURA_OK);
	/* One byte more than the maximum never verifies: it could not have been set. */
	assert_int_equal(kura_password_verify(h, pw, KURA_PASSWORD_MAX_BYTES + 1),
			 KURA_E_INVALID_CREDENTIALS);

	memset(h, 'x', sizeof h);
	assert_int_equal(kura_password_hash(&fast, pw, KURA_PASSWORD_MAX_BYTES + 1, h),
			 KURA_E_VALIDATION);
	assert_memory_equal(h, zero_hash, sizeof h);
	free(pw);
}

static void test_weak_params(void **state)
{
	char h[KURA_PASSWORD_HASH_MAX];
	struct kura_pwparams p;

	(void)state;
	p.opslimit = 1;
	p.memlimit = 19 * MIB;
	memset(h, 'x', sizeof h);
	assert_int_equal(kura_password_hash(&p, "pw", 2, h), KURA_E_CONFIG);
	assert_memory_equal(h, zero_hash, sizeof h);

	p.opslimit = 2;
	p.memlimit = 19 * MIB - 1024;
	assert_int_equal(kura_password_hash(&p, "pw", 2, h), KURA_E_CONFIG);
	p.memlimit = 64 * 1024;
	assert_int_equal(kura_password_hash(&p, "pw", 2, h), KURA_E_CONFIG);
	assert_int_equal(kura_password_hash(NULL, "pw", 2, h), KURA_E_CONFIG);

	/* Exactly the minimum is accepted. */
	p.opslimit = 2;
	p.memlimit = 19456 * 1024;
	assert_int_equal(kura_password_hash(&p, "pw", 2, h), KURA_OK);
}

static void test_needs_rehash(void **state)
{
	char h[KURA_PASSWORD_HASH_MAX];
	struct kura_pwparams more_ops = { 3, 19 * MIB };
	struct kura_pwparams more_mem = { 2, 32 * MIB };

	(void)state;
	assert_int_equal(kura_password_hash(&fast, "pw", 2, h), KURA_OK);
	assert_false(kura_password_needs_rehash(&fast, h));
	assert_true(kura_password_needs_rehash(&more_ops, h));
	assert_true(kura_password_needs_rehash(&more_mem, h));

	/* a stronger hash than the configured cost is never downgraded */
	assert_int_equal(kura_password_hash(&more_mem, "pw", 2, h), KURA_OK);
	assert_false(kura_password_needs_rehash(&fast, h));
	assert_int_equal(kura_password_hash(&more_ops, "pw", 2, h), KURA_OK);
	assert_false(kura_password_needs_rehash(&fast, h));
	assert_true(kura_password_needs_rehash(&more_mem, h));

	assert_true(kura_password_needs_rehash(&fast, "garbage"));
	assert_true(kura_password_needs_rehash(&fast, ""));
	assert_true(kura_password_needs_rehash(&fast, NULL));
	assert_true(kura_password_needs_rehash(&fast, "$argon2id$v=19$m=19456,t=2,p=1$junk"));
}

static void test_malformed_hash(void **state)
{
	char h[KURA_PASSWORD_HASH_MAX];
	char bad[KURA_PASSWORD_HASH_MAX + 64];
	char argon2i[crypto_pwhash_argon2i_STRBYTES];
	size_t len;
	size_t i;
	static const char *const junk[] = {
		"",
		"x",
		"$argon2id$",
		"$argon2id$v=19$",
		"$argon2id$v=19$m=19456,t=2,p=1$",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$",
		"$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", /* bcrypt */
		"plaintext-password",
	};

	(void)state;
	for (i = 0; i < sizeof junk / sizeof junk[0]; i++)
		assert_int_equal(kura_password_verify(junk[i], "pw", 2), KURA_E_INVALID_CREDENTIALS);
	assert_int_equal(kura_password_verify(NULL, "pw", 2), KURA_E_INVALID_CREDENTIALS);

	assert_int_equal(kura_password_hash(&fast, "pw", 2, h), KURA_OK);
	len = strlen(h);

	/* Every truncation of a real hash. */
	for (i = 0; i < len; i++) {
		memcpy(bad, h, i);
		bad[i] = '\0';
		assert_int_equal(kura_password_verify(bad, "pw", 2), KURA_E_INVALID_CREDENTIALS);
	}
	/* Tampered parameters, salt and digest. */
	{
		static const char *const from[] = { "m=19456", "t=2", "p=1", "v=19" };
		static const char *const to[] = { "m=19457", "t=3", "p=2", "v=16" };

		for (i = 0; i < 4; i++) {
			char *at;

			strcpy(bad, h);
			at = strstr(bad, from[i]);
			assert_non_null(at);
			memcpy(at, to[i], strlen(to[i]));
			assert_int_equal(kura_password_verify(bad, "pw", 2),
					 KURA_E_INVALID_CREDENTIALS);
		}
		strcpy(bad, h);
		bad[len - 1] = bad[len - 1] == 'A' ? 'B' : 'A';
		assert_int_equal(kura_password_verify(bad, "pw", 2), KURA_E_INVALID_CREDENTIALS);
		strcpy(bad, h);
		bad[len - 30] = bad[len - 30] == 'A' ? 'B' : 'A';
		assert_int_equal(kura_password_verify(bad, "pw", 2), KURA_E_INVALID_CREDENTIALS);
	}
	/* Not NUL-terminated within the encoded size. */
	memset(bad, 'a', sizeof bad);
	memcpy(bad, h, len);
	bad[sizeof bad - 1] = '\0';
	assert_int_equal(kura_password_verify(bad, "pw", 2), KURA_E_INVALID_CREDENTIALS);

	/* A valid argon2i (not argon2id) hash of the right password is refused. */
	assert_int_equal(crypto_pwhash_argon2i_str(argon2i, "pw", 2, 3, 19 * MIB), 0);
	assert_int_equal(kura_password_verify(argon2i, "pw", 2), KURA_E_INVALID_CREDENTIALS);
	assert_true(kura_password_needs_rehash(&fast, argon2i));

	/* And the untouched hash still verifies. */
	assert_int_equal(kura_password_verify(h, "pw", 2), KURA_OK);
}

static int count_in(const char *s, const char *set)
{
	int c = 0;

	for (; *s != '\0'; s++)
		c += strchr(set, *s) != NULL;
	return c;
}

static void test_generate(void **state)
{
	char pw[65];
	char prev[65] = "";
	char h[KURA_PASSWORD_HASH_MAX];
	int round;

	(void)state;
	for (round = 0; round < 2000; round++) {
		size_t len = round % 2 == 0 ? 17 : sizeof pw;

		kura_password_generate(pw, len);
		assert_int_equal(strlen(pw), len - 1);
		assert_true(count_in(pw, "abcdefghijklmnopqrstuvwxyz") > 0);
		assert_true(count_in(pw, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") > 0);
		assert_true(count_in(pw, "0123456789") > 0);
		assert_true(count_in(pw, "!#$%&*+-=?@^_") > 0);
		/* Nothing else, and no look-alikes. */
		assert_int_equal(count_in(pw, "abcdefghijklmnopqrstuvwxyz"
					      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					      "0123456789!#$%&*+-=?@^_"),
				 (int)(len - 1));
		assert_int_equal(count_in(pw, "0O1lIo"), 0);
		assert_string_not_equal(pw, prev);
		strcpy(prev, pw);
	}

	/* Small but possible: still every class. */
	kura_password_generate(pw, 5);
	assert_int_equal(strlen(pw), 4);
	assert_true(count_in(pw, "abcdefghijklmnopqrstuvwxyz") == 1);
	assert_true(count_in(pw, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 1);
	assert_true(count_in(pw, "0123456789") == 1);
	assert_true(count_in(pw, "!#$%&*+-=?@^_") == 1);

	/* Too small to hold every class: empty, never a weak password. */
	memset(pw, 'x', sizeof pw);
	kura_password_generate(pw, 4);
	assert_string_equal(pw, "");
	kura_password_generate(pw, 0);
	kura_password_generate(NULL, 17);

	/* A generated password works with hash/verify. */
	kura_password_generate(pw, 17);
	assert_int_equal(kura_password_hash(&fast, pw, strlen(pw), h), KURA_OK);
	assert_int_equal(kura_password_verify(h, pw, strlen(pw)), KURA_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_verify),
		cmocka_unit_test(test_bytes_as_typed),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_weak_params),
		cmocka_unit_test(test_needs_rehash),
		cmocka_unit_test(test_malformed_hash),
		cmocka_unit_test(test_generate),
	};

	if (kura_crypto_init() != KURA_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
