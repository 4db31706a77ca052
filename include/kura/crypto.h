/*
 * Key material and the primitives Kura uses (libsodium for randomness,
 * secure memory and hashing; GnuTLS for AES-256-GCM and X.509). Only this
 * module touches key bytes; callers hold opaque handles.
 *
 * Master key (MK): 32 random bytes in a 0600 file. It keys nothing directly:
 * at load, HKDF-SHA256 derives one subkey per purpose (distinct labels) and
 * the raw MK is wiped. Each tenant gets a data key (DEK) of 32 random bytes,
 * stored only wrapped:
 *   K_wrap  = HKDF-SHA256(MK, "kura dek-wrap v1")
 *   wrapped = 0x01 | nonce(12) | AES-256-GCM(K_wrap, nonce, DEK, AAD)(32) | tag(16)
 *   AAD     = "kura:dek:v1:" tenant_id ":" key_version (decimal)
 *   K_csrf  = HKDF-SHA256(MK, "kura csrf v1")
 *   K_seal  = HKDF-SHA256(MK, "kura audit-seal v1")   (audit chain seals)
 */
#ifndef KURA_CRYPTO_H
#define KURA_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kura/err.h"

#define KURA_KEY_BYTES 32
#define KURA_WRAPPED_KEY_BYTES (1 + 12 + 32 + 16)
/* base64url (no padding) of 32 bytes, plus NUL */
#define KURA_TOKEN_CHARS 44

struct kura_keyring;

/* sodium_init() and gnutls_global_init(); call once at start. */
enum kura_err kura_crypto_init(void);

/*
 * Creates a new master key file with 32 random bytes, mode 0600, refusing to
 * overwrite (KURA_E_EXISTS). Parent directory must exist.
 */
enum kura_err kura_master_key_create(const char *path);

/*
 * Loads the master key and derives its subkeys into locked memory. Refuses
 * (KURA_E_CRYPTO, message in err naming the path) a symlink, a non-regular
 * file, a size other than 32, an all-zero key, or a file that group or
 * others can access. A missing file is KURA_E_NOT_FOUND.
 */
enum kura_err kura_keyring_open(const char *path, struct kura_keyring **out,
				char *err, size_t n);
/* Wipes and frees. NULL is a no-op. */
void kura_keyring_free(struct kura_keyring *k);

/* Generates a fresh DEK and returns it wrapped for (tenant_id, version). */
enum kura_err kura_dek_new_wrapped(const struct kura_keyring *k, const char *tenant_id,
				   uint32_t version, uint8_t out[KURA_WRAPPED_KEY_BYTES]);

/*
 * Unwraps into dek_out (KURA_KEY_BYTES; caller wipes with sodium_memzero).
 * KURA_E_CRYPTO when the tag, tenant or version does not match.
 */
enum kura_err kura_dek_unwrap(const struct kura_keyring *k, const char *tenant_id,
			      uint32_t version, const uint8_t *wrapped, size_t len,
			      uint8_t dek_out[KURA_KEY_BYTES]);
/*
 * Unwraps a data key under `from` and wraps it again under `to` (same
 * tenant, same version): what a master-key rotation does to each key.
 * out is zeroed on error.
 */
enum kura_err kura_dek_rewrap(const struct kura_keyring *from, const struct kura_keyring *to,
			      const char *tenant_id, uint32_t version, const uint8_t *wrapped,
			      size_t len, uint8_t out[KURA_WRAPPED_KEY_BYTES]);

/*
 * CSRF token for a session: base64url(HMAC-SHA256(K_csrf, session_secret)),
 * where K_csrf is derived from the MK with a distinct label. Deterministic,
 * so it needs no storage and the UI can fetch it again after a reload.
 */
void kura_csrf_token(const struct kura_keyring *k, const uint8_t *secret, size_t n,
		     char out[KURA_TOKEN_CHARS]);

/*
 * MAC sealing an audit chain head (see kura/audit.h):
 *   HMAC-SHA256(K_seal, u32be(len(tenant_id)) || tenant_id || u64be(seq) || hash)
 * The length prefix and the fixed-width fields keep every (tenant, seq,
 * hash) triple a distinct message. Deterministic, so a verifier recomputes
 * it. K_seal is its own subkey: nothing else is ever MACed under it. With k,
 * tenant_id or hash NULL, out gets random bytes, which no seal will match
 * (fails closed; there is no error channel).
 */
void kura_audit_seal_mac(const struct kura_keyring *k, const char *tenant_id, int64_t seq,
			 const uint8_t hash[32], uint8_t out[32]);

/* Fills buf with n random bytes. */
void kura_random_bytes(void *buf, size_t n);
/*
 * n random bytes that must not repeat but need not be secret: AEAD nonces,
 * request ids (GnuTLS's nonce generator: no system call each).
 */
void kura_random_nonce(void *buf, size_t n);

/* base64url, no padding, of n random bytes (n <= 32) into out (KURA_TOKEN_CHARS). */
void kura_random_token(char out[KURA_TOKEN_CHARS], uint8_t raw[32], size_t n);

/* SHA-256 of data. */
void kura_sha256(const void *data, size_t n, uint8_t out[32]);

/*
 * HMAC-SHA256 (RFC 2104) of msg under key (any length). For secrets shared
 * with outside systems (the alert webhook's signature), not for Kura's own
 * keys, which never leave this module.
 */
void kura_hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t n,
		      uint8_t out[32]);

/* Constant-time equality; 1 when equal. */
int kura_ct_equal(const void *a, const void *b, size_t n);

/* base64url (no padding) encode/decode. decode returns KURA_E_BAD_REQUEST on bad input. */
enum kura_err kura_b64url_encode(const uint8_t *in, size_t n, char *out, size_t outn);
enum kura_err kura_b64url_decode(const char *in, uint8_t *out, size_t outn, size_t *outlen);

/*
 * Creates a self-signed ECDSA P-256 certificate (SAN: localhost, 127.0.0.1,
 * ::1 and hostname if not NULL), valid for one year, writing PEM files;
 * the key file is 0600. Refuses to overwrite existing files (KURA_E_EXISTS).
 */
enum kura_err kura_tls_selfsigned_create(const char *cert_path, const char *key_path,
					 const char *hostname);

/*
 * Field-level encryption of sensitive values (crypto/field.c). A cache of
 * the tenants' unwrapped data keys in locked memory; fetch reads a
 * tenant's wrapped key of a version from the keystore (system store).
 */
#define KURA_FIELD_FORMAT_V1 0x01
#define KURA_FIELD_OVERHEAD (1 + 4 + 12 + 16)
#define KURA_BLIND_BYTES 2

struct kura_field_keys;

typedef enum kura_err (*kura_wrapped_key_fn)(void *ctx, const char *tenant, uint32_t version,
					     uint8_t *out, size_t cap, size_t *len);

enum kura_err kura_field_keys_new(const struct kura_keyring *k, kura_wrapped_key_fn fetch,
				  void *ctx, struct kura_field_keys **out);
/* Wipes every cached key. NULL is a no-op. */
void kura_field_keys_free(struct kura_field_keys *fk);
/* Wipes a tenant's cached keys (its keys are being destroyed), and the slow-index memo. */
void kura_field_keys_forget(struct kura_field_keys *fk, const char *tenant);
/*
 * Lookups of kura_field_blind_slow answered from its memo (65,536 results
 * in locked memory, keyed by the keyed HMAC of the value) and computed.
 */
void kura_field_keys_memo_stats(struct kura_field_keys *fk, uint64_t *hits, uint64_t *misses);

/* What a ciphertext is bound to (its AAD) and which key encrypts it. */
struct kura_field_ctx {
	const char *tenant;
	uint32_t key_version;      /* for encryption; decryption reads it from the ciphertext */
	const char *object;        /* object type name */
	int64_t record_id;
	const char *name;          /* property name (or what the value is, with purpose) */
	const char *object_prop;   /* "<object>.<property>": selects the property's subkey */
	const char *purpose;       /* non-NULL: a subkey for this purpose instead (history, replies) */
};

/*
 * AES-256-GCM of pt under the property's subkey, bound to c. *out
 * (malloc'd) = version | key version | nonce | ciphertext | tag.
 */
enum kura_err kura_field_encrypt(struct kura_field_keys *fk, const struct kura_field_ctx *c,
				 const void *pt, size_t n, uint8_t **out, size_t *outlen);
/*
 * The plaintext (malloc'd, NUL-terminated) of ct bound to c; KURA_E_CRYPTO
 * when it was changed, or belongs to another record, field or tenant.
 */
enum kura_err kura_field_decrypt(struct kura_field_keys *fk, const struct kura_field_ctx *c,
				 const uint8_t *ct, size_t n, uint8_t **out, size_t *outlen);
/* The key version a ciphertext was made with (0 when it is not one). */
uint32_t kura_field_key_version(const uint8_t *ct, size_t n);
/*
 * ct (bound to c, under whatever version it names) sealed again under
 * c->key_version: *out malloc'd. The plaintext is wiped before returning.
 */
enum kura_err kura_field_reseal(struct kura_field_keys *fk, const struct kura_field_ctx *c,
				const uint8_t *ct, size_t n, uint8_t **out, size_t *outlen);
/* The blind index of a normalised value: KURA_BLIND_BYTES of HMAC-SHA256. */
enum kura_err kura_field_blind(struct kura_field_keys *fk, const char *tenant,
			       uint32_t key_version, const char *object_prop, const void *norm,
			       size_t n, uint8_t out[KURA_BLIND_BYTES]);

/*
 * The slow blind index of low-entropy values (dates, numbers, yes/no,
 * choices from a list): HMAC-SHA256 under a subkey of its own ("kura
 * field-bidx-slow v1"), then Argon2id (salt from the same subkey) at
 * KURA_SLOW_INDEX_OPSLIMIT / _MEMLIMIT, truncated like the fast one. Each
 * call costs about 10 ms and 8 MiB.
 */
#define KURA_SLOW_INDEX_OPSLIMIT 2
#define KURA_SLOW_INDEX_MEMLIMIT (8u * 1024 * 1024)
enum kura_err kura_field_blind_slow(struct kura_field_keys *fk, const char *tenant,
				    uint32_t key_version, const char *object_prop,
				    const void *norm, size_t n, uint8_t out[KURA_BLIND_BYTES]);

/*
 * AES-256-GCM under a raw key (attachments' per-file keys): out (malloc'd)
 * = random nonce (12) | ciphertext | tag (16), bound to aad.
 */
enum kura_err kura_aead_seal(const uint8_t key[KURA_KEY_BYTES], const void *aad, size_t aadlen,
			     const void *pt, size_t n, uint8_t **out, size_t *outlen);
enum kura_err kura_aead_open(const uint8_t key[KURA_KEY_BYTES], const void *aad, size_t aadlen,
			     const uint8_t *ct, size_t n, uint8_t **out, size_t *outlen);

/*
 * Client certificates (mutual TLS; crypto/client_ca.c): the operator's
 * bundle of certificate authorities (tls_client_ca_file), at most 32, each
 * a CA (basicConstraints CA:TRUE), known by the hex SHA-256 of its DER.
 */
struct kura_client_cas;

/* A certificate as DER bytes (not owned). */
struct kura_der {
	const uint8_t *data;
	size_t len;
};

enum kura_err kura_client_cas_load(const char *pem, size_t len, struct kura_client_cas **out,
				   char *err, size_t n);
void kura_client_cas_free(struct kura_client_cas *c); /* NULL is a no-op */
size_t kura_client_cas_count(const struct kura_client_cas *c);
/* The fingerprint / subject DN of authority i, or NULL. */
const char *kura_client_cas_fingerprint(const struct kura_client_cas *c, size_t i);
const char *kura_client_cas_subject(const struct kura_client_cas *c, size_t i);
/* Whether the bundle holds an authority of this fingerprint. */
bool kura_client_cas_has(const struct kura_client_cas *c, const char *fingerprint);
/*
 * Verifies a client's chain (leaf first, n certificates) against the
 * authorities of c whose fingerprints are in allowed (comma-separated;
 * NULL or "" = all): signatures, validity now, and fitness for client
 * authentication (extended key usage, when the certificate has one).
 * KURA_OK with leaf_sha256 = SHA-256 of the leaf's DER, else
 * KURA_E_CLIENT_CERT_REQUIRED.
 */
enum kura_err kura_client_cas_verify(const struct kura_client_cas *c, const char *allowed,
				     const struct kura_der *chain, unsigned n,
				     uint8_t leaf_sha256[32]);

#endif
