/*
 * Password hashing (Argon2id through libsodium's crypto_pwhash_str API) and
 * one-time password generation. A password is a byte string exactly as the
 * user typed it: no trimming, no normalisation, no truncation, embedded NULs
 * allowed, length given by the caller. Only Argon2id hashes are accepted;
 * anything else verifies as wrong credentials rather than as an error, so a
 * damaged row can never be told apart from a wrong password by a client.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "kura/password.h"

/* OWASP Password Storage Cheat Sheet minimum for Argon2id: m=19 MiB, t=2. */
#define OWASP_MIN_MEMLIMIT ((size_t)19456 * 1024)
#define OWASP_MIN_OPSLIMIT 2ULL
#define ARGON2ID_PREFIX "$argon2id$"

_Static_assert(crypto_pwhash_STRBYTES == KURA_PASSWORD_HASH_MAX,
	       "KURA_PASSWORD_HASH_MAX must match libsodium's encoded hash size");

/* Look-alikes (0/O/o, 1/l/I) left out so a password read aloud or off a
 * screen is typed right; symbols avoid quotes, backslash and space, which
 * break when pasted into shells, CSV or JSON by hand. */
static const char pw_lower[] = "abcdefghijkmnpqrstuvwxyz";
static const char pw_upper[] = "ABCDEFGHJKLMNPQRSTUVWXYZ";
static const char pw_digit[] = "23456789";
static const char pw_symbol[] = "!#$%&*+-=?@^_";
static const char pw_all[] = "abcdefghijkmnpqrstuvwxyz"
			     "ABCDEFGHJKLMNPQRSTUVWXYZ"
			     "23456789"
			     "!#$%&*+-=?@^_";

static bool params_ok(const struct kura_pwparams *p)
{
	if (p == NULL)
		return false;
	if (p->opslimit < OWASP_MIN_OPSLIMIT || p->opslimit > crypto_pwhash_argon2id_OPSLIMIT_MAX)
		return false;
	if (p->memlimit < OWASP_MIN_MEMLIMIT || p->memlimit > crypto_pwhash_argon2id_MEMLIMIT_MAX)
		return false;
	return true;
}

/* A stored hash we are willing to parse: NUL-terminated within the encoded
 * size and Argon2id (not argon2i, not bcrypt, not junk). */
static bool hash_acceptable(const char *hash)
{
	if (hash == NULL)
		return false;
	if (strnlen(hash, KURA_PASSWORD_HASH_MAX) >= KURA_PASSWORD_HASH_MAX)
		return false;
	return strncmp(hash, ARGON2ID_PREFIX, sizeof ARGON2ID_PREFIX - 1) == 0;
}

enum kura_err kura_password_hash(const struct kura_pwparams *p, const char *pw, size_t len,
				 char out[KURA_PASSWORD_HASH_MAX])
{
	enum kura_err rc = KURA_E_INTERNAL;

	if (out == NULL)
		goto out;
	memset(out, 0, KURA_PASSWORD_HASH_MAX);
	if (pw == NULL && len > 0) {
		rc = KURA_E_VALIDATION;
		goto out;
	}
	/* Bounds the hashing work an attacker can ask for per request. */
	if (len > KURA_PASSWORD_MAX_BYTES) {
		rc = KURA_E_VALIDATION;
		goto out;
	}
	if (!params_ok(p)) {
		rc = KURA_E_CONFIG;
		goto out;
	}
	/* The only failure left is not getting memlimit bytes. */
	if (crypto_pwhash_str_alg(out, pw != NULL ? pw : "", len, p->opslimit, p->memlimit,
				  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		rc = KURA_E_NOMEM;
		goto out;
	}
	rc = KURA_OK;
out:
	if (rc != KURA_OK && out != NULL)
		sodium_memzero(out, KURA_PASSWORD_HASH_MAX);
	return rc;
}

enum kura_err kura_password_verify(const char *hash, const char *pw, size_t len)
{
	enum kura_err rc = KURA_E_INVALID_CREDENTIALS;

	if (!hash_acceptable(hash))
		goto out;
	if (pw == NULL && len > 0)
		goto out;
	/* Nothing this long was ever hashed, so it cannot match; refusing
	 * early keeps a huge body from buying a long hash computation. */
	if (len > KURA_PASSWORD_MAX_BYTES)
		goto out;
	/* libsodium parses the hash itself and returns -1 for a malformed
	 * string as for a mismatch; the final compare is constant-time. */
	if (crypto_pwhash_argon2id_str_verify(hash, pw != NULL ? pw : "", len) != 0)
		goto out;
	rc = KURA_OK;
out:
	return rc;
}

/*
 * Reads m (KiB) and t from "$argon2id$v=19$m=65536,t=2,p=1$salt$hash".
 * Only the numbers are read; the hash itself is libsodium's business.
 */
static bool parse_cost(const char *hash, unsigned long long *m_kib, unsigned long long *t)
{
	const char *p = strstr(hash, "$m=");

	if (p == NULL || sscanf(p, "$m=%llu,t=%llu,", m_kib, t) != 2)
		return false;
	return true;
}

bool kura_password_needs_rehash(const struct kura_pwparams *p, const char *hash)
{
	unsigned long long m_kib = 0, t = 0;

	if (p == NULL)
		return false;
	/* A hash we cannot parse or that is not Argon2id has to be replaced
	 * by a current one at the next successful login. */
	if (!hash_acceptable(hash) || !parse_cost(hash, &m_kib, &t))
		return true;
	/* libsodium answers -1 for a string it cannot use at all. */
	if (crypto_pwhash_argon2id_str_needs_rehash(hash, p->opslimit, p->memlimit) < 0)
		return true;
	/* Upgrade only: a hash stronger than the configured cost (made by the
	 * CLI with other settings, or before the cost was lowered) is kept, so
	 * a configuration change can never weaken stored hashes. */
	return m_kib < p->memlimit / 1024 || t < p->opslimit;
}

static bool has_class(const char *s, size_t n, const char *cls)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strchr(cls, s[i]) != NULL)
			return true;
	}
	return false;
}

static bool all_classes(const char *s, size_t n)
{
	return has_class(s, n, pw_lower) && has_class(s, n, pw_upper) &&
	       has_class(s, n, pw_digit) && has_class(s, n, pw_symbol);
}

static char pick(const char *set, size_t setlen)
{
	return set[randombytes_uniform((uint32_t)setlen)];
}

void kura_password_generate(char *out, size_t len)
{
	/* Enough that a miss is practically impossible for n >= 16 (p(miss)
	 * per draw is about 0.2); the fallback only matters for tiny n. */
	enum { MAX_DRAWS = 200 };
	size_t n;
	size_t i;
	int draw;

	if (out == NULL || len == 0)
		return;
	out[0] = '\0';
	n = len - 1;
	if (n < 4)
		return; /* cannot hold one of each class */
	/* Redrawing until every class appears keeps the result uniform over
	 * all passwords that satisfy any class policy, unlike forcing fixed
	 * slots, which would make some positions predictable. */
	for (draw = 0; draw < MAX_DRAWS; draw++) {
		for (i = 0; i < n; i++)
			out[i] = pick(pw_all, sizeof pw_all - 1);
		if (all_classes(out, n))
			goto done;
	}
	/* Fallback: one of each class, then an unbiased Fisher-Yates shuffle. */
	out[0] = pick(pw_lower, sizeof pw_lower - 1);
	out[1] = pick(pw_upper, sizeof pw_upper - 1);
	out[2] = pick(pw_digit, sizeof pw_digit - 1);
	out[3] = pick(pw_symbol, sizeof pw_symbol - 1);
	for (i = n - 1; i > 0; i--) {
		size_t j = randombytes_uniform((uint32_t)(i + 1));
		char t = out[i];

		out[i] = out[j];
		out[j] = t;
	}
done:
	out[n] = '\0';
}
