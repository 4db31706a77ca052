/*
 * Field-level encryption of sensitive property values, and their blind
 * index, under a tenant's data key (DEK).
 *
 * Keys: the DEK is unwrapped once per tenant and key version into locked
 * memory (sodium_malloc, read-only), kept in a cache owned by the server,
 * and wiped when the cache goes. Per purpose and property, a subkey is
 * derived from the DEK with HKDF-SHA256 and a distinct label, so no key
 * serves two purposes:
 *     "kura field-enc v1 <object>.<property>"    AES-256-GCM
 *     "kura field-bidx v1 <object>.<property>"   HMAC-SHA256 blind index
 *     "kura field-blob v1 <purpose>"             other values (history, replies)
 *
 * Ciphertext: version (1) | key version (4, big-endian) | nonce (12) |
 * ciphertext | tag (16). The nonce is random (96 bits); the AAD binds the
 * tenant, the object type, the record id and the property, so a value
 * moved to another record or field, or another tenant, fails to decrypt.
 *
 * Blind index: HMAC-SHA256 of the normalised value, truncated to
 * KURA_BLIND_BYTES (16 bits): equal values meet on purpose with others of
 * the same property (about records / 65536 per bucket), so the index tells
 * little about which records share a value; candidates are decrypted and
 * compared, so results stay exact.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sodium.h>

#include "crypto_int.h"
#include "kura/crypto.h"

#define NONCE_BYTES 12
#define TAG_BYTES 16
#define HEADER_BYTES (1 + 4 + NONCE_BYTES)
#define LABEL_MAX 256
#define CACHE_SLOTS 128

struct kura_tenant_key {
	char tenant[256];
	uint32_t version;
	uint8_t *dek;          /* sodium_malloc'd, read-only */
	uint64_t used;
};

/*
 * The slow index's memo: a direct-mapped table of Argon2id results, keyed
 * by the keyed HMAC of the value (unique per tenant, key version, property
 * and value; unpredictable without the key, so nobody can aim collisions
 * at a slot). Low-entropy values repeat (a million contacts have some
 * tens of thousands of birth dates), and without it an import paid an
 * Argon2id per record. Never the value itself; in locked memory, wiped
 * with the keys.
 */
#define SLOW_MEMO_SLOTS 65536
struct slow_memo_slot {
	uint8_t mac[32];
	uint8_t out[KURA_BLIND_BYTES];
	uint8_t used;
};

/*
 * Derived subkeys (one per tenant, key version, purpose and property), so
 * that a read or write of a sensitive value costs no HKDF: direct-mapped,
 * in locked memory, wiped with the tenant's keys. A slot is used only when
 * tenant, version and the whole HKDF info match.
 */
#define SUBKEY_SLOTS 1024

struct subkey_slot {
	char tenant[64];
	char info[LABEL_MAX];
	uint32_t version;
	uint8_t key[KURA_KEY_BYTES];
	uint8_t used;
};

struct kura_field_keys {
	const struct kura_keyring *keyring;
	kura_wrapped_key_fn fetch;
	void *fetch_ctx;
	pthread_mutex_t mu;
	struct kura_tenant_key slots[CACHE_SLOTS];
	uint64_t clock;
	pthread_mutex_t memo_mu;
	struct slow_memo_slot *memo;   /* sodium_malloc'd; NULL = no memo */
	uint64_t memo_hits, memo_misses;
	struct subkey_slot *subkeys;   /* sodium_malloc'd, guarded by mu; NULL = none */
	uint64_t forgets;              /* kura_field_keys_forget calls, guarded by mu */
};

enum kura_err
kura_field_keys_new(const struct kura_keyring *k, kura_wrapped_key_fn fetch, void *ctx,
		    struct kura_field_keys **out)
{
	struct kura_field_keys *fk = calloc(1, sizeof(*fk));

	*out = NULL;
	if (fk == NULL)
		return KURA_E_NOMEM;
	fk->keyring = k;
	fk->fetch = fetch;
	fk->fetch_ctx = ctx;
	if (pthread_mutex_init(&fk->mu, NULL) != 0) {
		free(fk);
		return KURA_E_INTERNAL;
	}
	if (pthread_mutex_init(&fk->memo_mu, NULL) != 0) {
		pthread_mutex_destroy(&fk->mu);
		free(fk);
		return KURA_E_INTERNAL;
	}
	/* without locked memory for it, no memo: slower, never less safe */
	fk->memo = sodium_malloc(SLOW_MEMO_SLOTS * sizeof(*fk->memo));
	if (fk->memo != NULL)
		sodium_memzero(fk->memo, SLOW_MEMO_SLOTS * sizeof(*fk->memo));
	fk->subkeys = sodium_malloc(SUBKEY_SLOTS * sizeof(*fk->subkeys));
	if (fk->subkeys != NULL)
		sodium_memzero(fk->subkeys, SUBKEY_SLOTS * sizeof(*fk->subkeys));
	*out = fk;
	return KURA_OK;
}

static void
memo_clear(struct kura_field_keys *fk)
{
	pthread_mutex_lock(&fk->memo_mu);
	if (fk->memo != NULL)
		sodium_memzero(fk->memo, SLOW_MEMO_SLOTS * sizeof(*fk->memo));
	pthread_mutex_unlock(&fk->memo_mu);
}

void
kura_field_keys_memo_stats(struct kura_field_keys *fk, uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&fk->memo_mu);
	*hits = fk->memo_hits;
	*misses = fk->memo_misses;
	pthread_mutex_unlock(&fk->memo_mu);
}

void
kura_field_keys_free(struct kura_field_keys *fk)
{
	if (fk == NULL)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		sodium_free(fk->slots[i].dek); /* wipes and unlocks */
	sodium_free(fk->memo);
	sodium_free(fk->subkeys);
	pthread_mutex_destroy(&fk->mu);
	pthread_mutex_destroy(&fk->memo_mu);
	free(fk);
}

void
kura_field_keys_forget(struct kura_field_keys *fk, const char *tenant)
{
	if (fk == NULL)
		return;
	pthread_mutex_lock(&fk->mu);
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		if (fk->slots[i].dek != NULL && strcmp(fk->slots[i].tenant, tenant) == 0) {
			sodium_free(fk->slots[i].dek);
			memset(&fk->slots[i], 0, sizeof(fk->slots[i]));
		}
	}
	/* every derived subkey too; one derived before this is not kept */
	fk->forgets++;
	if (fk->subkeys != NULL)
		sodium_memzero(fk->subkeys, SUBKEY_SLOTS * sizeof(*fk->subkeys));
	pthread_mutex_unlock(&fk->mu);
	/* its slow-index results too (the memo does not say whose an entry is) */
	memo_clear(fk);
}

/*
 * Copies the tenant's DEK of version v into out (the caller wipes it),
 * unwrapping it on first use.
 */
static enum kura_err
dek_of(struct kura_field_keys *fk, const char *tenant, uint32_t v, uint8_t out[KURA_KEY_BYTES])
{
	struct kura_tenant_key *slot = NULL, *victim = &fk->slots[0];
	uint8_t wrapped[KURA_WRAPPED_KEY_BYTES];
	uint8_t *dek = NULL;
	size_t len = 0;
	enum kura_err e;

	if (strlen(tenant) >= sizeof(fk->slots[0].tenant))
		return KURA_E_CRYPTO;
	pthread_mutex_lock(&fk->mu);
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		struct kura_tenant_key *s = &fk->slots[i];

		if (s->dek != NULL && s->version == v && strcmp(s->tenant, tenant) == 0) {
			slot = s;
			break;
		}
		if (s->dek == NULL || (victim->dek != NULL && s->used < victim->used))
			victim = s;
	}
	if (slot != NULL) {
		slot->used = ++fk->clock;
		memcpy(out, slot->dek, KURA_KEY_BYTES);
		pthread_mutex_unlock(&fk->mu);
		return KURA_OK;
	}
	pthread_mutex_unlock(&fk->mu);

	e = fk->fetch(fk->fetch_ctx, tenant, v, wrapped, sizeof(wrapped), &len);
	if (e != KURA_OK)
		return e;
	dek = sodium_malloc(KURA_KEY_BYTES);
	if (dek == NULL)
		return KURA_E_NOMEM;
	e = kura_dek_unwrap(fk->keyring, tenant, v, wrapped, len, dek);
	sodium_memzero(wrapped, sizeof(wrapped));
	if (e != KURA_OK) {
		sodium_free(dek);
		return e;
	}
	memcpy(out, dek, KURA_KEY_BYTES);
	sodium_mprotect_readonly(dek);
	pthread_mutex_lock(&fk->mu);
	/* Another thread may have filled a slot meanwhile: one more copy is harmless. */
	sodium_free(victim->dek);
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->tenant, sizeof(victim->tenant), "%s", tenant);
	victim->version = v;
	victim->dek = dek;
	victim->used = ++fk->clock;
	pthread_mutex_unlock(&fk->mu);
	return KURA_OK;
}

/* FNV-1a over tenant, version and info: a slot number, nothing secret. */
static size_t
subkey_slot_of(const char *tenant, uint32_t v, const char *info, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *p = tenant; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	h = (h ^ v) * 1099511628211ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)info[i]) * 1099511628211ULL;
	return (size_t)(h % SUBKEY_SLOTS);
}

/* The subkey for label (purpose) and name (object.property or a purpose). */
static enum kura_err
subkey(struct kura_field_keys *fk, const char *tenant, uint32_t v, const char *label,
       const char *name, uint8_t out[KURA_KEY_BYTES])
{
	uint8_t dek[KURA_KEY_BYTES];
	char info[LABEL_MAX];
	int w = snprintf(info, sizeof(info), "%s %s", label, name);
	bool cacheable = strlen(tenant) < sizeof(fk->subkeys[0].tenant);
	size_t slot = 0;
	uint64_t forgets = 0;
	enum kura_err e;

	if (w < 0 || (size_t)w >= sizeof(info))
		return KURA_E_CRYPTO;
	if (cacheable) {
		slot = subkey_slot_of(tenant, v, info, (size_t)w);
		pthread_mutex_lock(&fk->mu);
		forgets = fk->forgets;
		if (fk->subkeys != NULL) {
			const struct subkey_slot *s = &fk->subkeys[slot];

			if (s->used && s->version == v && strcmp(s->tenant, tenant) == 0 &&
			    strcmp(s->info, info) == 0) {
				memcpy(out, s->key, KURA_KEY_BYTES);
				pthread_mutex_unlock(&fk->mu);
				return KURA_OK;
			}
		}
		pthread_mutex_unlock(&fk->mu);
	}
	e = dek_of(fk, tenant, v, dek);
	if (e == KURA_OK)
		e = kura_hkdf_sha256(NULL, 0, dek, sizeof(dek), (const uint8_t *)info, (size_t)w, out,
				     KURA_KEY_BYTES);
	sodium_memzero(dek, sizeof(dek));
	if (e == KURA_OK && cacheable) {
		pthread_mutex_lock(&fk->mu);
		if (fk->subkeys != NULL && fk->forgets == forgets) {
			struct subkey_slot *s = &fk->subkeys[slot];

			snprintf(s->tenant, sizeof(s->tenant), "%s", tenant);
			memcpy(s->info, info, (size_t)w + 1);
			s->version = v;
			memcpy(s->key, out, KURA_KEY_BYTES);
			s->used = 1;
		}
		pthread_mutex_unlock(&fk->mu);
	}
	return e;
}

/* AAD: tenant, object, record, property, NUL-separated (none of them holds a NUL). */
static size_t
build_aad(const struct kura_field_ctx *c, char *aad, size_t n)
{
	int w = snprintf(aad, n, "kura:field:v1%c%s%c%s%c%lld%c%s", 0, c->tenant, 0, c->object, 0,
			 (long long)c->record_id, 0, c->name);

	return w < 0 || (size_t)w >= n ? 0 : (size_t)w;
}

enum kura_err
kura_field_encrypt(struct kura_field_keys *fk, const struct kura_field_ctx *c, const void *pt,
		   size_t n, uint8_t **out, size_t *outlen)
{
	uint8_t key[KURA_KEY_BYTES];
	gnutls_datum_t kd = {key, sizeof(key)};
	gnutls_aead_cipher_hd_t h = NULL;
	char aad[LABEL_MAX * 2];
	size_t aadlen = build_aad(c, aad, sizeof(aad)), ctlen = n + TAG_BYTES;
	uint8_t *buf = NULL;
	enum kura_err e;

	*out = NULL;
	*outlen = 0;
	if (aadlen == 0)
		return KURA_E_CRYPTO;
	e = subkey(fk, c->tenant, c->key_version, c->purpose != NULL ? "kura field-blob v1"
								   : "kura field-enc v1",
		   c->purpose != NULL ? c->purpose : c->object_prop, key);
	if (e != KURA_OK)
		goto out;
	buf = malloc(HEADER_BYTES + n + TAG_BYTES);
	if (buf == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	buf[0] = KURA_FIELD_FORMAT_V1;
	buf[1] = (uint8_t)(c->key_version >> 24);
	buf[2] = (uint8_t)(c->key_version >> 16);
	buf[3] = (uint8_t)(c->key_version >> 8);
	buf[4] = (uint8_t)c->key_version;
	kura_random_nonce(buf + 5, NONCE_BYTES);
	if (gnutls_aead_cipher_init(&h, GNUTLS_CIPHER_AES_256_GCM, &kd) < 0 ||
	    gnutls_aead_cipher_encrypt(h, buf + 5, NONCE_BYTES, aad, aadlen, TAG_BYTES, pt, n,
				       buf + HEADER_BYTES, &ctlen) < 0 ||
	    ctlen != n + TAG_BYTES) {
		e = KURA_E_CRYPTO;
		goto out;
	}
	*out = buf;
	*outlen = HEADER_BYTES + ctlen;
	buf = NULL;
out:
	if (h != NULL)
		gnutls_aead_cipher_deinit(h);
	sodium_memzero(key, sizeof(key));
	free(buf);
	return e;
}

enum kura_err
kura_field_decrypt(struct kura_field_keys *fk, const struct kura_field_ctx *c, const uint8_t *ct,
		   size_t n, uint8_t **out, size_t *outlen)
{
	uint8_t key[KURA_KEY_BYTES];
	gnutls_datum_t kd = {key, sizeof(key)};
	gnutls_aead_cipher_hd_t h = NULL;
	char aad[LABEL_MAX * 2];
	size_t aadlen = build_aad(c, aad, sizeof(aad)), ptlen;
	uint32_t v;
	uint8_t *buf = NULL;
	enum kura_err e;

	*out = NULL;
	*outlen = 0;
	if (aadlen == 0 || ct == NULL || n < HEADER_BYTES + TAG_BYTES || ct[0] != KURA_FIELD_FORMAT_V1)
		return KURA_E_CRYPTO;
	v = ((uint32_t)ct[1] << 24) | ((uint32_t)ct[2] << 16) | ((uint32_t)ct[3] << 8) | ct[4];
	e = subkey(fk, c->tenant, v, c->purpose != NULL ? "kura field-blob v1" : "kura field-enc v1",
		   c->purpose != NULL ? c->purpose : c->object_prop, key);
	if (e != KURA_OK)
		goto out;
	ptlen = n - HEADER_BYTES - TAG_BYTES;
	buf = malloc(ptlen + 1);
	if (buf == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	/* Any change to a byte (or to the AAD: another record, field or tenant) fails here. */
	if (gnutls_aead_cipher_init(&h, GNUTLS_CIPHER_AES_256_GCM, &kd) < 0 ||
	    gnutls_aead_cipher_decrypt(h, ct + 5, NONCE_BYTES, aad, aadlen, TAG_BYTES,
				       ct + HEADER_BYTES, n - HEADER_BYTES, buf, &ptlen) < 0) {
		e = KURA_E_CRYPTO;
		goto out;
	}
	buf[ptlen] = 0;
	*out = buf;
	*outlen = ptlen;
	buf = NULL;
out:
	if (h != NULL)
		gnutls_aead_cipher_deinit(h);
	sodium_memzero(key, sizeof(key));
	free(buf);
	return e;
}

uint32_t
kura_field_key_version(const uint8_t *ct, size_t n)
{
	if (ct == NULL || n < HEADER_BYTES || ct[0] != KURA_FIELD_FORMAT_V1)
		return 0;
	return ((uint32_t)ct[1] << 24) | ((uint32_t)ct[2] << 16) | ((uint32_t)ct[3] << 8) | ct[4];
}

enum kura_err
kura_field_blind(struct kura_field_keys *fk, const char *tenant, uint32_t key_version,
		 const char *object_prop, const void *norm, size_t n,
		 uint8_t out[KURA_BLIND_BYTES])
{
	uint8_t key[KURA_KEY_BYTES], mac[32];
	enum kura_err e;

	memset(out, 0, KURA_BLIND_BYTES);
	e = subkey(fk, tenant, key_version, "kura field-bidx v1", object_prop, key);
	if (e == KURA_OK) {
		kura_hmac_sha256(key, sizeof(key), norm, n, mac);
		memcpy(out, mac, KURA_BLIND_BYTES);
	}
	sodium_memzero(key, sizeof(key));
	sodium_memzero(mac, sizeof(mac));
	return e;
}

enum kura_err
kura_field_reseal(struct kura_field_keys *fk, const struct kura_field_ctx *c, const uint8_t *ct,
		  size_t n, uint8_t **out, size_t *outlen)
{
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	enum kura_err e;

	*out = NULL;
	*outlen = 0;
	e = kura_field_decrypt(fk, c, ct, n, &pt, &ptlen);
	if (e == KURA_OK)
		e = kura_field_encrypt(fk, c, pt, ptlen, out, outlen);
	if (pt != NULL) {
		sodium_memzero(pt, ptlen);
		free(pt);
	}
	return e;
}

/* The slot of a MAC: its first bytes, uniformly random (keyed). */
static size_t
memo_slot(const uint8_t mac[32])
{
	uint32_t h;

	memcpy(&h, mac, sizeof(h));
	return h % SLOW_MEMO_SLOTS;
}

static bool
memo_get(struct kura_field_keys *fk, const uint8_t mac[32], uint8_t out[KURA_BLIND_BYTES])
{
	bool hit = false;

	if (fk->memo == NULL)
		return false;
	pthread_mutex_lock(&fk->memo_mu);
	{
		struct slow_memo_slot *s = &fk->memo[memo_slot(mac)];

		if (s->used && sodium_memcmp(s->mac, mac, sizeof(s->mac)) == 0) {
			memcpy(out, s->out, KURA_BLIND_BYTES);
			hit = true;
		}
	}
	if (hit)
		fk->memo_hits++;
	else
		fk->memo_misses++;
	pthread_mutex_unlock(&fk->memo_mu);
	return hit;
}

static void
memo_put(struct kura_field_keys *fk, const uint8_t mac[32], const uint8_t out[KURA_BLIND_BYTES])
{
	struct slow_memo_slot *s;

	if (fk->memo == NULL)
		return;
	pthread_mutex_lock(&fk->memo_mu);
	s = &fk->memo[memo_slot(mac)];
	memcpy(s->mac, mac, sizeof(s->mac));
	memcpy(s->out, out, KURA_BLIND_BYTES);
	s->used = 1;
	pthread_mutex_unlock(&fk->memo_mu);
}

enum kura_err
kura_field_blind_slow(struct kura_field_keys *fk, const char *tenant, uint32_t key_version,
		      const char *object_prop, const void *norm, size_t n,
		      uint8_t out[KURA_BLIND_BYTES])
{
	static const char salt_label[] = "kura slow-index salt v1";
	uint8_t key[KURA_KEY_BYTES], mac[32], salt[32], slow[16];
	enum kura_err e;

	memset(out, 0, KURA_BLIND_BYTES);
	e = subkey(fk, tenant, key_version, "kura field-bidx-slow v1", object_prop, key);
	if (e == KURA_OK) {
		/*
		 * Keyed first (the HMAC), so that the index still needs the tenant's
		 * key; then Argon2id, so that even with the key, trying every
		 * birth date or every four digits costs KURA_SLOW_INDEX_* per guess.
		 */
		kura_hmac_sha256(key, sizeof(key), norm, n, mac);
		if (memo_get(fk, mac, out))
			goto done;
		kura_hmac_sha256(key, sizeof(key), salt_label, sizeof(salt_label) - 1, salt);
		if (crypto_pwhash(slow, sizeof(slow), (const char *)mac, sizeof(mac), salt,
				  KURA_SLOW_INDEX_OPSLIMIT, KURA_SLOW_INDEX_MEMLIMIT,
				  crypto_pwhash_ALG_ARGON2ID13) != 0) {
			e = KURA_E_NOMEM;
		} else {
			memcpy(out, slow, KURA_BLIND_BYTES);
			memo_put(fk, mac, out);
		}
	}
done:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(mac, sizeof(mac));
	sodium_memzero(slow, sizeof(slow));
	return e;
}

enum kura_err
kura_aead_seal(const uint8_t key[KURA_KEY_BYTES], const void *aad, size_t aadlen, const void *pt,
	       size_t n, uint8_t **out, size_t *outlen)
{
	gnutls_datum_t kd = {(unsigned char *)key, KURA_KEY_BYTES};
	gnutls_aead_cipher_hd_t h = NULL;
	size_t ctlen = n + TAG_BYTES;
	uint8_t *buf = malloc(NONCE_BYTES + n + TAG_BYTES);
	enum kura_err e = KURA_E_CRYPTO;

	*out = NULL;
	*outlen = 0;
	if (buf == NULL)
		return KURA_E_NOMEM;
	kura_random_nonce(buf, NONCE_BYTES);
	if (gnutls_aead_cipher_init(&h, GNUTLS_CIPHER_AES_256_GCM, &kd) < 0 ||
	    gnutls_aead_cipher_encrypt(h, buf, NONCE_BYTES, aad, aadlen, TAG_BYTES, pt, n,
				       buf + NONCE_BYTES, &ctlen) < 0)
		goto out;
	*out = buf;
	*outlen = NONCE_BYTES + ctlen;
	buf = NULL;
	e = KURA_OK;
out:
	if (h != NULL)
		gnutls_aead_cipher_deinit(h);
	free(buf);
	return e;
}

enum kura_err
kura_aead_open(const uint8_t key[KURA_KEY_BYTES], const void *aad, size_t aadlen,
	       const uint8_t *ct, size_t n, uint8_t **out, size_t *outlen)
{
	gnutls_datum_t kd = {(unsigned char *)key, KURA_KEY_BYTES};
	gnutls_aead_cipher_hd_t h = NULL;
	size_t ptlen;
	uint8_t *buf;
	enum kura_err e = KURA_E_CRYPTO;

	*out = NULL;
	*outlen = 0;
	if (ct == NULL || n < NONCE_BYTES + TAG_BYTES)
		return KURA_E_CRYPTO;
	ptlen = n - NONCE_BYTES - TAG_BYTES;
	buf = malloc(ptlen + 1);
	if (buf == NULL)
		return KURA_E_NOMEM;
	if (gnutls_aead_cipher_init(&h, GNUTLS_CIPHER_AES_256_GCM, &kd) < 0 ||
	    gnutls_aead_cipher_decrypt(h, ct, NONCE_BYTES, aad, aadlen, TAG_BYTES, ct + NONCE_BYTES,
				       n - NONCE_BYTES, buf, &ptlen) < 0)
		goto out;
	*out = buf;
	*outlen = ptlen;
	buf = NULL;
	e = KURA_OK;
out:
	if (h != NULL)
		gnutls_aead_cipher_deinit(h);
	free(buf);
	return e;
}
