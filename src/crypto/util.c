/*
 * The small primitives the rest of Kura borrows from crypto/: library
 * start-up, randomness, SHA-256, HMAC-SHA256, constant-time compare, base64url, and
 * (privately) HKDF-SHA256 and the careful "create a secret file" helper
 * used for the master key and the TLS key. Everything here composes
 * libsodium and GnuTLS calls; nothing is a home-made primitive.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sodium.h>

#include "kura/crypto.h"
#include "crypto_int.h"

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

_Static_assert(sodium_base64_ENCODED_LEN(32, B64_VARIANT) == KURA_TOKEN_CHARS,
	       "KURA_TOKEN_CHARS must hold base64url of 32 bytes plus NUL");
_Static_assert(crypto_auth_hmacsha256_BYTES == KURA_HKDF_PRK_BYTES, "HMAC-SHA256 is 32 bytes");

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static enum kura_err init_result = KURA_E_CRYPTO;

static void crypto_init_once(void)
{
	if (sodium_init() < 0) {
		init_result = KURA_E_CRYPTO;
		goto out;
	}
	if (gnutls_global_init() < 0) {
		init_result = KURA_E_CRYPTO;
		goto out;
	}
	init_result = KURA_OK;
out:
	return;
}

enum kura_err kura_crypto_init(void)
{
	/* pthread_once makes repeated and concurrent calls safe and keeps
	 * gnutls_global_init's reference count at one. */
	if (pthread_once(&init_once, crypto_init_once) != 0)
		return KURA_E_CRYPTO;
	return init_result;
}

void kura_random_bytes(void *buf, size_t n)
{
	if (buf == NULL || n == 0)
		return;
	randombytes_buf(buf, n);
}

void kura_random_nonce(void *buf, size_t n)
{
	if (buf == NULL || n == 0)
		return;
	/*
	 * GnuTLS's nonce generator: a per-thread stream cipher keyed from the
	 * kernel, re-keyed after a fork and every so many bytes -- what GnuTLS
	 * takes for its own record nonces. A system call per value (libsodium's
	 * randombytes_buf) was a twentieth of a sealed batch create.
	 */
	if (gnutls_rnd(GNUTLS_RND_NONCE, buf, n) != 0)
		randombytes_buf(buf, n);
}

void kura_random_token(char out[KURA_TOKEN_CHARS], uint8_t raw[32], size_t n)
{
	uint8_t local[32];
	uint8_t *bytes = raw != NULL ? raw : local;

	if (out == NULL)
		goto out;
	/* The output buffer only has room for 32 bytes' worth; clamp rather
	 * than overflow a caller's mistake. */
	if (n > 32)
		n = 32;
	randombytes_buf(bytes, n);
	sodium_bin2base64(out, KURA_TOKEN_CHARS, bytes, n, B64_VARIANT);
out:
	sodium_memzero(local, sizeof local);
}

/*
 * GnuTLS's SHA-256 (nettle's, which uses the CPU's SHA instructions where
 * it has them): 0.36 us for a 560-byte audit entry where libsodium's
 * portable one took 1.47 us on this project's 2-CPU test machine, and the
 * audit chain hashes every entry. libsodium's answers the same should
 * GnuTLS fail (it only can when out of memory).
 */
void kura_sha256(const void *data, size_t n, uint8_t out[32])
{
	static const uint8_t empty[1];

	if (data == NULL)
		data = empty;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, n, out) != 0)
		crypto_hash_sha256(out, data, n);
}

void kura_hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t n,
		      uint8_t out[32])
{
	static const uint8_t empty[1];
	crypto_auth_hmacsha256_state st;

	if (msg == NULL)
		msg = empty;
	if (key == NULL)
		key = empty;
	/* The _init form takes a key of any length (RFC 2104 hashes a long one). */
	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, msg, n);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

int kura_ct_equal(const void *a, const void *b, size_t n)
{
	if (n == 0)
		return 1;
	if (a == NULL || b == NULL)
		return 0;
	return sodium_memcmp(a, b, n) == 0;
}

enum kura_err kura_b64url_encode(const uint8_t *in, size_t n, char *out, size_t outn)
{
	enum kura_err rc = KURA_E_BAD_REQUEST;

	if (out == NULL || outn == 0)
		goto out;
	out[0] = '\0';
	if (in == NULL && n > 0)
		goto out;
	/* Keeps sodium_base64_ENCODED_LEN from wrapping around. */
	if (n > SIZE_MAX / 4 - 4)
		goto out;
	/* sodium_bin2base64 aborts when out is too small: check first. */
	if (outn < sodium_base64_ENCODED_LEN(n, B64_VARIANT))
		goto out;
	sodium_bin2base64(out, outn, in != NULL ? in : (const uint8_t *)"", n, B64_VARIANT);
	rc = KURA_OK;
out:
	return rc;
}

enum kura_err kura_b64url_decode(const char *in, uint8_t *out, size_t outn, size_t *outlen)
{
	enum kura_err rc = KURA_E_BAD_REQUEST;
	size_t len = 0;
	uint8_t dummy[1];

	if (outlen != NULL)
		*outlen = 0;
	if (in == NULL)
		goto out;
	/* libsodium wants a non-NULL output even when nothing is written. */
	if (out == NULL && outn > 0)
		goto out;
	/* With b64_end NULL the whole string must be valid; the decoder also
	 * rejects non-canonical trailing bits and impossible lengths, so each
	 * byte string has exactly one accepted encoding. */
	if (sodium_base642bin(out != NULL ? out : dummy, out != NULL ? outn : 0, in, strlen(in),
			      NULL, &len, NULL, B64_VARIANT) != 0) {
		if (out != NULL)
			sodium_memzero(out, outn);
		goto out;
	}
	if (outlen != NULL)
		*outlen = len;
	rc = KURA_OK;
out:
	return rc;
}

void kura_hkdf_sha256_extract(const uint8_t *salt, size_t saltlen, const uint8_t *ikm,
			      size_t ikmlen, uint8_t prk[KURA_HKDF_PRK_BYTES])
{
	static const uint8_t zeros[crypto_hash_sha256_BYTES];
	static const uint8_t empty[1];
	crypto_auth_hmacsha256_state st;

	if (salt == NULL || saltlen == 0) {
		salt = zeros;
		saltlen = sizeof zeros;
	}
	if (ikm == NULL)
		ikm = empty;
	crypto_auth_hmacsha256_init(&st, salt, saltlen);
	crypto_auth_hmacsha256_update(&st, ikm, ikmlen);
	crypto_auth_hmacsha256_final(&st, prk);
	sodium_memzero(&st, sizeof st);
}

enum kura_err kura_hkdf_sha256_expand(const uint8_t prk[KURA_HKDF_PRK_BYTES], const uint8_t *info,
				      size_t infolen, uint8_t *out, size_t outlen)
{
	enum kura_err rc = KURA_E_INTERNAL;
	crypto_auth_hmacsha256_state st;
	uint8_t t[crypto_auth_hmacsha256_BYTES];
	size_t done = 0;
	unsigned int i;

	if (out == NULL || outlen == 0 || outlen > KURA_HKDF_MAX_OUT)
		goto out;
	/* T(i) = HMAC(PRK, T(i-1) | info | i), T(0) empty, i from 1. */
	for (i = 1; done < outlen; i++) {
		uint8_t ctr = (uint8_t)i;
		size_t take = outlen - done;

		crypto_auth_hmacsha256_init(&st, prk, KURA_HKDF_PRK_BYTES);
		if (i > 1)
			crypto_auth_hmacsha256_update(&st, t, sizeof t);
		if (info != NULL && infolen > 0)
			crypto_auth_hmacsha256_update(&st, info, infolen);
		crypto_auth_hmacsha256_update(&st, &ctr, 1);
		crypto_auth_hmacsha256_final(&st, t);
		if (take > sizeof t)
			take = sizeof t;
		memcpy(out + done, t, take);
		done += take;
	}
	rc = KURA_OK;
out:
	if (rc != KURA_OK && out != NULL && outlen > 0 && outlen <= KURA_HKDF_MAX_OUT)
		sodium_memzero(out, outlen);
	sodium_memzero(&st, sizeof st);
	sodium_memzero(t, sizeof t);
	return rc;
}

enum kura_err kura_hkdf_sha256(const uint8_t *salt, size_t saltlen, const uint8_t *ikm,
			       size_t ikmlen, const uint8_t *info, size_t infolen, uint8_t *out,
			       size_t outlen)
{
	uint8_t prk[KURA_HKDF_PRK_BYTES];
	enum kura_err rc;

	kura_hkdf_sha256_extract(salt, saltlen, ikm, ikmlen, prk);
	rc = kura_hkdf_sha256_expand(prk, info, infolen, out, outlen);
	sodium_memzero(prk, sizeof prk);
	return rc;
}

/* fsync the directory holding path, so a new file's entry survives a crash. */
static enum kura_err fsync_parent(const char *path)
{
	enum kura_err rc = KURA_E_IO;
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t dlen;
	int fd = -1;

	if (slash == NULL) {
		strcpy(dir, ".");
	} else {
		dlen = (size_t)(slash - path);
		if (dlen == 0)
			dlen = 1; /* "/name": the parent is "/" */
		if (dlen >= sizeof dir)
			goto out;
		memcpy(dir, path, dlen);
		dir[dlen] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	/* Some file systems cannot fsync a directory; that is not our failure. */
	if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
		goto out;
	rc = KURA_OK;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

enum kura_err kura_crypto_write_new_file(const char *path, const void *data, size_t len,
					 mode_t mode)
{
	enum kura_err rc = KURA_E_IO;
	const uint8_t *p = data;
	size_t done = 0;
	int fd = -1;
	int created = 0;

	if (path == NULL || path[0] == '\0' || (data == NULL && len > 0))
		goto out;
	/* O_EXCL already refuses to follow a final symlink; O_NOFOLLOW says so
	 * explicitly. Mode 0600 at creation so the file is never wider, even
	 * for an instant, than its final mode. */
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			rc = KURA_E_EXISTS;
		goto out;
	}
	created = 1;
	/* The umask may have narrowed the mode; we want exactly what was asked. */
	if (fchmod(fd, mode) != 0)
		goto out;
	while (done < len) {
		ssize_t w = write(fd, p + done, len - done);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		done += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	rc = fsync_parent(path);
out:
	if (fd >= 0)
		close(fd);
	if (rc != KURA_OK && created)
		unlink(path);
	return rc;
}
