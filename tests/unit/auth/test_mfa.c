/*
 * Unit tests for the pieces of multi-factor authentication that need no
 * server: TOTP codes against RFC 6238's test vectors, the acceptance window
 * and replay rule, base32, the otpauth URI, the QR SVG, and recovery codes.
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

#include "kura/crypto.h"
#include "kura/mfa.h"

/* RFC 6238 appendix B's SHA-1 key: ASCII "12345678901234567890". */
static const uint8_t rfc_key[] = "12345678901234567890";
#define RFC_KEY_LEN 20

static void test_rfc6238_vectors(void **state)
{
	/* Appendix B's 8-digit values; a 6-digit code is the same number mod 10^6. */
	static const struct {
		int64_t t;
		const char *code;
	} v[] = {
		{59, "287082"},         {1111111109, "081804"}, {1111111111, "050471"},
		{1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
	};
	char out[KURA_TOTP_DIGITS + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(kura_totp_code(rfc_key, RFC_KEY_LEN, v[i].t / 30, out), KURA_OK);
		assert_string_equal(out, v[i].code);
	}
	assert_int_equal(kura_totp_code(NULL, 0, 1, out), KURA_E_CRYPTO);
	assert_int_equal(kura_totp_code(rfc_key, RFC_KEY_LEN, -1, out), KURA_E_CRYPTO);
}

static void test_window_and_replay(void **state)
{
	const int64_t now = 1111111111; /* step 37037037 */
	const int64_t cur = now / 30;
	char c_now[7], c_prev[7], c_old[7], c_next[7];
	int64_t step = -1;

	(void)state;
	assert_int_equal(kura_totp_code(rfc_key, RFC_KEY_LEN, cur, c_now), KURA_OK);
	assert_int_equal(kura_totp_code(rfc_key, RFC_KEY_LEN, cur - 1, c_prev), KURA_OK);
	assert_int_equal(kura_totp_code(rfc_key, RFC_KEY_LEN, cur - 2, c_old), KURA_OK);
	assert_int_equal(kura_totp_code(rfc_key, RFC_KEY_LEN, cur + 1, c_next), KURA_OK);

	/* The current and the previous step are accepted, for their own step. */
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, 0, c_now, &step), KURA_TOTP_OK);
	assert_int_equal(step, cur);
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, 0, c_prev, &step),
			 KURA_TOTP_OK);
	assert_int_equal(step, cur - 1);
	/* Two steps old, or from the future: wrong. */
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, 0, c_old, &step),
			 KURA_TOTP_WRONG);
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, 0, c_next, &step),
			 KURA_TOTP_WRONG);
	/* Once the current step was used, its code and the previous one are replays. */
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, cur, c_now, &step),
			 KURA_TOTP_REPLAYED);
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, cur, c_prev, &step),
			 KURA_TOTP_REPLAYED);
	/* The previous step used: the current code still works, the previous no more. */
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, cur - 1, c_now, &step),
			 KURA_TOTP_OK);
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, cur - 1, c_prev, &step),
			 KURA_TOTP_REPLAYED);
	/* A well-formed code of neither step. */
	{
		char wrong[16];
		int n = atoi(c_now);

		do {
			n = (n + 1) % 1000000;
			snprintf(wrong, sizeof(wrong), "%06d", n);
		} while (strcmp(wrong, c_now) == 0 || strcmp(wrong, c_prev) == 0);
		assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, 0, wrong, &step),
				 KURA_TOTP_WRONG);
	}
}

static void test_malformed_codes(void **state)
{
	const int64_t now = 1234567890;
	char c[7], longer[9], spaced[8];
	int64_t step;

	(void)state;
	assert_int_equal(kura_totp_code(rfc_key, RFC_KEY_LEN, now / 30, c), KURA_OK);
	snprintf(longer, sizeof(longer), "%s00", c);
	snprintf(spaced, sizeof(spaced), " %s", c);
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, 0, longer, &step),
			 KURA_TOTP_WRONG);
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, 0, spaced, &step),
			 KURA_TOTP_WRONG);
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, 0, c + 1, &step),
			 KURA_TOTP_WRONG);
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, 0, "12a456", &step),
			 KURA_TOTP_WRONG);
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, 0, "", &step),
			 KURA_TOTP_WRONG);
	assert_int_equal(kura_totp_check(rfc_key, RFC_KEY_LEN, now, 0, NULL, &step),
			 KURA_TOTP_WRONG);
}

static void test_base32_and_uri(void **state)
{
	char b32[KURA_TOTP_B32_MAX + 1], tiny[8];
	char *uri;

	(void)state;
	/* RFC 4648 section 10: BASE32("foobar") = "MZXW6YTBOI======" (padding dropped). */
	assert_int_equal(kura_totp_base32((const uint8_t *)"foobar", 6, b32, sizeof(b32)), KURA_OK);
	assert_string_equal(b32, "MZXW6YTBOI");
	assert_int_equal(kura_totp_base32(rfc_key, RFC_KEY_LEN, b32, sizeof(b32)), KURA_OK);
	assert_string_equal(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	assert_int_not_equal(kura_totp_base32(rfc_key, RFC_KEY_LEN, tiny, sizeof(tiny)), KURA_OK);

	uri = kura_totp_uri("Kura", "a+b@example.com (acme)", "GEZDGNBV");
	assert_non_null(uri);
	assert_string_equal(uri, "otpauth://totp/Kura:a%2Bb%40example.com%20%28acme%29"
				 "?secret=GEZDGNBV&issuer=Kura&algorithm=SHA1&digits=6&period=30");
	free(uri);
}

static void test_qr_svg(void **state)
{
	char *svg = kura_qr_svg("otpauth://totp/Kura:x?secret=GEZDGNBV");
	char *big;

	(void)state;
	assert_non_null(svg);
	assert_memory_equal(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39);
	assert_non_null(strstr(svg, "<path d=\"M4 4h7v1h-7z"));   /* the top-left finder */
	assert_string_equal(svg + strlen(svg) - 6, "</svg>");
	/* Nothing of the text gets into the markup but through modules. */
	assert_null(strstr(svg, "GEZDGNBV"));
	free(svg);
	/* More than a QR code holds: no SVG rather than a broken one. */
	big = malloc(8000);
	assert_non_null(big);
	memset(big, 'x', 7999);
	big[7999] = '\0';
	assert_null(kura_qr_svg(big));
	free(big);
}

static void test_recovery_codes(void **state)
{
	char a[KURA_RECOVERY_CODE_CHARS + 1], b[KURA_RECOVERY_CODE_CHARS + 1], typed[40];
	uint8_t ha[32], hb[32], h[32];

	(void)state;
	kura_recovery_code_new(a, ha);
	kura_recovery_code_new(b, hb);
	assert_int_equal(strlen(a), KURA_RECOVERY_CODE_CHARS);
	assert_true(a[4] == '-' && a[9] == '-' && a[14] == '-');
	assert_string_not_equal(a, b);
	assert_memory_not_equal(ha, hb, 32);
	/* Case, spaces and dashes do not matter. */
	for (size_t i = 0, w = 0; i <= strlen(a); i++)
		typed[w++] = a[i] == '-' ? ' ' : (char)(a[i] >= 'a' && a[i] <= 'z' ? a[i] - 32 : a[i]);
	assert_true(kura_recovery_code_hash(typed, h));
	assert_memory_equal(h, ha, 32);
	/* Wrong length, letters outside the alphabet, nothing. */
	assert_false(kura_recovery_code_hash("abcd-efgh-jkmn", h));
	assert_false(kura_recovery_code_hash("abcd-efgh-jkmn-pqrst", h));
	assert_false(kura_recovery_code_hash("abcd-efgh-jkmn-pqr0", h));
	assert_false(kura_recovery_code_hash("", h));
	assert_false(kura_recovery_code_hash(NULL, h));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6238_vectors), cmocka_unit_test(test_window_and_replay),
		cmocka_unit_test(test_malformed_codes), cmocka_unit_test(test_base32_and_uri),
		cmocka_unit_test(test_qr_svg),          cmocka_unit_test(test_recovery_codes),
	};

	if (kura_crypto_init() != KURA_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
