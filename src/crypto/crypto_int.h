/*
 * Private to src/crypto/: helpers shared by keys.c, util.c and tls.c that
 * are not part of the module's contract (include/kura/crypto.h). Unit tests
 * of crypto/ may include it; nothing else should.
 */
#ifndef KURA_CRYPTO_INT_H
#define KURA_CRYPTO_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kura/err.h"

#define KURA_HKDF_PRK_BYTES 32
/* RFC 5869: L <= 255 * HashLen */
#define KURA_HKDF_MAX_OUT (255 * 32)

/*
 * HKDF-Extract (RFC 5869 §2.2) with HMAC-SHA256. A NULL/empty salt means
 * HashLen zero bytes, as the RFC says. Cannot fail.
 */
void kura_hkdf_sha256_extract(const uint8_t *salt, size_t saltlen, const uint8_t *ikm,
			      size_t ikmlen, uint8_t prk[KURA_HKDF_PRK_BYTES]);

/*
 * HKDF-Expand (RFC 5869 §2.3) with HMAC-SHA256 into out (outlen bytes).
 * KURA_E_INTERNAL when outlen is 0 or above KURA_HKDF_MAX_OUT; out is then
 * zeroed.
 */
enum kura_err kura_hkdf_sha256_expand(const uint8_t prk[KURA_HKDF_PRK_BYTES], const uint8_t *info,
				      size_t infolen, uint8_t *out, size_t outlen);

/* Extract then expand; same errors as kura_hkdf_sha256_expand. */
enum kura_err kura_hkdf_sha256(const uint8_t *salt, size_t saltlen, const uint8_t *ikm,
			       size_t ikmlen, const uint8_t *info, size_t infolen, uint8_t *out,
			       size_t outlen);

/*
 * Creates path (O_EXCL, never following a symlink), writes len bytes, sets
 * exactly mode (whatever the umask), fsyncs the file and its directory.
 * KURA_E_EXISTS when path exists (as anything, a dangling symlink included),
 * KURA_E_IO otherwise; a file this call created is removed again on failure.
 */
enum kura_err kura_crypto_write_new_file(const char *path, const void *data, size_t len,
					 mode_t mode);

#endif
