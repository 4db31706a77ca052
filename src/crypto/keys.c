/*
 * The master key and what hangs off it: creating and loading the key file,
 * the keyring that holds the subkeys derived from it, wrapping and
 * unwrapping tenant data keys (DEKs), CSRF tokens and audit seal MACs.
 *
 * The master key never keys anything itself. At load it goes through
 * HKDF-SHA256 once per purpose, with a distinct label each, and only the
 * subkeys are kept, in guarded, locked, read-only memory (sodium_malloc);
 * the raw master key is wiped as soon as they exist. A purpose added later
 * gets its own label here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sodium.h>

#include "kura/crypto.h"
#include "crypto_int.h"

#define WRAP_FORMAT_V1 0x01
#define WRAP_NONCE_BYTES 12
#define WRAP_TAG_BYTES 16
#define AAD_PREFIX "kura:dek:v1:"
/* Far above any real tenant id; bounds the AAD buffer. */
#define TENANT_ID_MAX_BYTES 255
#define AAD_MAX (sizeof AAD_PREFIX - 1 + TENANT_ID_MAX_BYTES + 1 + 10 + 1)

/* HKDF labels (the "info" input). Never reuse one for a second purpose. */
#define LABEL_DEK_WRAP "kura dek-wrap v1"
#define LABEL_CSRF "kura csrf v1"
#define LABEL_AUDIT_SEAL "kura audit-seal v1"

_Static_assert(KURA_WRAPPED_KEY_BYTES == 1 + WRAP_NONCE_BYTES + KURA_KEY_BYTES + WRAP_TAG_BYTES,
	       "wrapped key layout");
_Static_assert(crypto_auth_hmacsha256_KEYBYTES == KURA_KEY_BYTES, "HMAC key size");

/* Lives in sodium_malloc'd memory: guard pages, mlock, read-only after open. */
struct kura_keyring {
	uint8_t wrap_key[KURA_KEY_BYTES]; /* AES-256-GCM key wrapping DEKs */
	uint8_t csrf_key[KURA_KEY_BYTES]; /* HMAC-SHA256 key for CSRF tokens */
	uint8_t seal_key[KURA_KEY_BYTES]; /* HMAC-SHA256 key for audit chain seals */
};

enum kura_err kura_master_key_create(const char *path)
{
	enum kura_err rc = KURA_E_NOMEM;
	uint8_t *mk = sodium_malloc(KURA_KEY_BYTES);

	if (mk == NULL)
		goto out;
	randombytes_buf(mk, KURA_KEY_BYTES);
	rc = kura_crypto_write_new_file(path, mk, KURA_KEY_BYTES, 0600);
out:
	sodium_free(mk); /* wipes */
	return rc;
}

/* snprintf into err when the caller gave room for a message. */
static void set_err(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || n == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

static enum kura_err read_exact(int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = read(fd, buf + done, len - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return KURA_E_IO;
		done += (size_t)r;
	}
	return KURA_OK;
}

enum kura_err kura_keyring_open(const char *path, struct kura_keyring **out, char *err, size_t n)
{
	enum kura_err rc = KURA_E_CRYPTO;
	struct kura_keyring *k = NULL;
	uint8_t *mk = NULL;
	uint8_t prk[KURA_HKDF_PRK_BYTES];
	struct stat st;
	int fd = -1;

	if (out != NULL)
		*out = NULL;
	set_err(err, n, "%s", "");
	if (path == NULL || out == NULL) {
		rc = KURA_E_INTERNAL;
		set_err(err, n, "no master key path given");
		goto out;
	}
	/* O_NOFOLLOW: a symlink could point the server at a key someone else
	 * controls. O_NONBLOCK: a FIFO planted at the path must not hang the
	 * open; fstat below rejects it. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP) {
			rc = KURA_E_CRYPTO;
			set_err(err, n,
				"master key %s is a symbolic link; refusing to follow it: point the "
				"configuration at the real file",
				path);
		} else if (errno == ENOENT) {
			rc = KURA_E_NOT_FOUND;
			set_err(err, n, "master key %s does not exist", path);
		} else {
			rc = KURA_E_IO;
			set_err(err, n, "cannot open master key %s: %s", path, strerror(errno));
		}
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = KURA_E_IO;
		set_err(err, n, "cannot stat master key %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, n, "master key %s is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		set_err(err, n,
			"master key %s is accessible by group or others (mode %04o); "
			"fix with: chmod 600 %s",
			path, (unsigned int)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size != KURA_KEY_BYTES) {
		set_err(err, n,
			"master key %s is %lld bytes, expected exactly %d: the file is damaged or "
			"not a Kura master key",
			path, (long long)st.st_size, KURA_KEY_BYTES);
		goto out;
	}
	mk = sodium_malloc(KURA_KEY_BYTES);
	k = sodium_malloc(sizeof *k);
	if (mk == NULL || k == NULL) {
		rc = KURA_E_NOMEM;
		set_err(err, n, "cannot allocate locked memory for the master key");
		goto out;
	}
	if (read_exact(fd, mk, KURA_KEY_BYTES) != KURA_OK) {
		rc = KURA_E_IO;
		set_err(err, n, "cannot read master key %s", path);
		goto out;
	}
	/* All zeros is what a zero-filled or half-written file looks like,
	 * never what randombytes produced. */
	if (sodium_is_zero(mk, KURA_KEY_BYTES)) {
		set_err(err, n, "master key %s is all zero bytes: the file is damaged", path);
		goto out;
	}
	/* The master key is uniformly random, so no salt is needed (RFC 5869
	 * §3.1); one extract, then one expand per purpose. */
	kura_hkdf_sha256_extract(NULL, 0, mk, KURA_KEY_BYTES, prk);
	if (kura_hkdf_sha256_expand(prk, (const uint8_t *)LABEL_DEK_WRAP, sizeof LABEL_DEK_WRAP - 1,
				    k->wrap_key, sizeof k->wrap_key) != KURA_OK ||
	    kura_hkdf_sha256_expand(prk, (const uint8_t *)LABEL_CSRF, sizeof LABEL_CSRF - 1,
				    k->csrf_key, sizeof k->csrf_key) != KURA_OK ||
	    kura_hkdf_sha256_expand(prk, (const uint8_t *)LABEL_AUDIT_SEAL,
				    sizeof LABEL_AUDIT_SEAL - 1, k->seal_key,
				    sizeof k->seal_key) != KURA_OK) {
		set_err(err, n, "cannot derive subkeys from master key %s", path);
		goto out;
	}
	if (sodium_mprotect_readonly(k) != 0) {
		set_err(err, n, "cannot write-protect key memory: %s", strerror(errno));
		goto out;
	}
	*out = k;
	k = NULL;
	rc = KURA_OK;
out:
	sodium_memzero(prk, sizeof prk);
	sodium_free(mk);
	sodium_free(k);
	if (fd >= 0)
		close(fd);
	return rc;
}

void kura_keyring_free(struct kura_keyring *k)
{
	/* sodium_free makes the pages writable again, wipes and unlocks them. */
	sodium_free(k);
}

/* AAD = "kura:dek:v1:" tenant_id ":" version. The version is last and all
 * digits, so a ':' inside a tenant id cannot make two pairs collide. */
static enum kura_err build_aad(const char *tenant_id, uint32_t version, char aad[AAD_MAX],
			       size_t *len)
{
	size_t tlen;
	int w;

	*len = 0;
	if (tenant_id == NULL)
		return KURA_E_CRYPTO;
	tlen = strlen(tenant_id);
	if (tlen == 0 || tlen > TENANT_ID_MAX_BYTES)
		return KURA_E_CRYPTO;
	w = snprintf(aad, AAD_MAX, AAD_PREFIX "%s:%u", tenant_id, (unsigned int)version);
	if (w < 0 || (size_t)w >= AAD_MAX)
		return KURA_E_CRYPTO;
	*len = (size_t)w;
	return KURA_OK;
}

static enum kura_err wrap_cipher(const struct kura_keyring *k, gnutls_aead_cipher_hd_t *h)
{
	gnutls_datum_t key = { (unsigned char *)k->wrap_key, KURA_KEY_BYTES };

	/* One handle per call: a GCM context carries per-message state, so a
	 * shared one would need a lock; wrapping is rare enough not to care. */
	if (gnutls_aead_cipher_init(h, GNUTLS_CIPHER_AES_256_GCM, &key) < 0) {
		*h = NULL;
		return KURA_E_CRYPTO;
	}
	return KURA_OK;
}

static enum kura_err wrap_dek(const struct kura_keyring *k, const char *tenant_id,
			      uint32_t version, const uint8_t dek[KURA_KEY_BYTES],
			      uint8_t out[KURA_WRAPPED_KEY_BYTES]);

enum kura_err kura_dek_new_wrapped(const struct kura_keyring *k, const char *tenant_id,
				   uint32_t version, uint8_t out[KURA_WRAPPED_KEY_BYTES])
{
	uint8_t dek[KURA_KEY_BYTES];
	enum kura_err rc;

	randombytes_buf(dek, sizeof dek);
	rc = wrap_dek(k, tenant_id, version, dek, out);
	sodium_memzero(dek, sizeof dek);
	return rc;
}

enum kura_err kura_dek_rewrap(const struct kura_keyring *from, const struct kura_keyring *to,
			      const char *tenant_id, uint32_t version, const uint8_t *wrapped,
			      size_t len, uint8_t out[KURA_WRAPPED_KEY_BYTES])
{
	uint8_t dek[KURA_KEY_BYTES];
	enum kura_err rc;

	memset(out, 0, KURA_WRAPPED_KEY_BYTES);
	rc = kura_dek_unwrap(from, tenant_id, version, wrapped, len, dek);
	if (rc == KURA_OK)
		rc = wrap_dek(to, tenant_id, version, dek, out);
	sodium_memzero(dek, sizeof dek);
	return rc;
}

static enum kura_err wrap_dek(const struct kura_keyring *k, const char *tenant_id,
			      uint32_t version, const uint8_t dek[KURA_KEY_BYTES],
			      uint8_t out[KURA_WRAPPED_KEY_BYTES])
{
	enum kura_err rc = KURA_E_CRYPTO;
	gnutls_aead_cipher_hd_t h = NULL;
	char aad[AAD_MAX];
	size_t aadlen = 0;
	size_t ctlen = KURA_KEY_BYTES + WRAP_TAG_BYTES;

	if (out == NULL)
		goto out;
	memset(out, 0, KURA_WRAPPED_KEY_BYTES);
	if (k == NULL)
		goto out;
	if (build_aad(tenant_id, version, aad, &aadlen) != KURA_OK)
		goto out;
	if (wrap_cipher(k, &h) != KURA_OK)
		goto out;
	out[0] = WRAP_FORMAT_V1;
	/* A random 96-bit nonce per wrap: the same key wraps at most a few DEKs
	 * per tenant, far below the 2^32 messages where collisions matter. */
	randombytes_buf(out + 1, WRAP_NONCE_BYTES);
	if (gnutls_aead_cipher_encrypt(h, out + 1, WRAP_NONCE_BYTES, aad, aadlen, WRAP_TAG_BYTES,
				       dek, KURA_KEY_BYTES, out + 1 + WRAP_NONCE_BYTES, &ctlen) < 0)
		goto out;
	if (ctlen != KURA_KEY_BYTES + WRAP_TAG_BYTES)
		goto out;
	rc = KURA_OK;
out:
	if (rc != KURA_OK && out != NULL)
		memset(out, 0, KURA_WRAPPED_KEY_BYTES);
	if (h != NULL)
		gnutls_aead_cipher_deinit(h);
	return rc;
}

enum kura_err kura_dek_unwrap(const struct kura_keyring *k, const char *tenant_id,
			      uint32_t version, const uint8_t *wrapped, size_t len,
			      uint8_t dek_out[KURA_KEY_BYTES])
{
	enum kura_err rc = KURA_E_CRYPTO;
	gnutls_aead_cipher_hd_t h = NULL;
	char aad[AAD_MAX];
	size_t aadlen = 0;
	size_t ptlen = KURA_KEY_BYTES;

	if (dek_out == NULL)
		goto out;
	memset(dek_out, 0, KURA_KEY_BYTES);
	if (k == NULL || wrapped == NULL || len != KURA_WRAPPED_KEY_BYTES)
		goto out;
	if (wrapped[0] != WRAP_FORMAT_V1)
		goto out;
	if (build_aad(tenant_id, version, aad, &aadlen) != KURA_OK)
		goto out;
	if (wrap_cipher(k, &h) != KURA_OK)
		goto out;
	if (gnutls_aead_cipher_decrypt(h, wrapped + 1, WRAP_NONCE_BYTES, aad, aadlen,
				       WRAP_TAG_BYTES, wrapped + 1 + WRAP_NONCE_BYTES,
				       KURA_KEY_BYTES + WRAP_TAG_BYTES, dek_out, &ptlen) < 0)
		goto out;
	if (ptlen != KURA_KEY_BYTES)
		goto out;
	rc = KURA_OK;
out:
	/* Decryption may have written unauthenticated plaintext before the tag
	 * check failed: never leave it behind. */
	if (rc != KURA_OK && dek_out != NULL)
		sodium_memzero(dek_out, KURA_KEY_BYTES);
	if (h != NULL)
		gnutls_aead_cipher_deinit(h);
	return rc;
}

void kura_csrf_token(const struct kura_keyring *k, const uint8_t *secret, size_t n,
		     char out[KURA_TOKEN_CHARS])
{
	uint8_t mac[crypto_auth_hmacsha256_BYTES];

	if (out == NULL)
		goto out;
	if (k == NULL || (secret == NULL && n > 0)) {
		/* No error channel: fail closed with an unguessable token that
		 * no request can present, never with "" that an empty header
		 * would match. */
		kura_random_token(out, NULL, 32);
		goto out;
	}
	crypto_auth_hmacsha256(mac, secret != NULL ? secret : (const uint8_t *)"", n, k->csrf_key);
	sodium_bin2base64(out, KURA_TOKEN_CHARS, mac, sizeof mac,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
out:
	sodium_memzero(mac, sizeof mac);
}

void kura_audit_seal_mac(const struct kura_keyring *k, const char *tenant_id, int64_t seq,
			 const uint8_t hash[32], uint8_t out[32])
{
	crypto_auth_hmacsha256_state st;
	uint8_t be32[4], be64[8];
	uint64_t useq = (uint64_t)seq;
	size_t tlen, i;

	if (out == NULL)
		return;
	tlen = tenant_id != NULL ? strnlen(tenant_id, TENANT_ID_MAX_BYTES + 1) : 0;
	if (k == NULL || tenant_id == NULL || hash == NULL || tlen > TENANT_ID_MAX_BYTES) {
		/* No error channel: a random MAC matches no stored seal, so a
		 * misuse can never vouch for a chain. */
		randombytes_buf(out, 32);
		goto out;
	}
	/* Big-endian fixed widths: the encoding is the same on every host. */
	for (i = 0; i < 4; i++)
		be32[i] = (uint8_t)(tlen >> (24 - 8 * i));
	for (i = 0; i < 8; i++)
		be64[i] = (uint8_t)(useq >> (56 - 8 * i));
	crypto_auth_hmacsha256_init(&st, k->seal_key, sizeof k->seal_key);
	crypto_auth_hmacsha256_update(&st, be32, sizeof be32);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)tenant_id, tlen);
	crypto_auth_hmacsha256_update(&st, be64, sizeof be64);
	crypto_auth_hmacsha256_update(&st, hash, 32);
	crypto_auth_hmacsha256_final(&st, out);
out:
	/* The state holds the padded key. */
	sodium_memzero(&st, sizeof st);
}
