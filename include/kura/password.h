/*
 * Password hashing with Argon2id (libsodium crypto_pwhash_str). Hashes carry
 * their own parameters, so old hashes keep verifying after the cost goes up
 * and kura_password_needs_rehash() says when to upgrade one on login.
 * These calls are slow on purpose: run them on the hash pool, never on an
 * HTTP thread.
 */
#ifndef KURA_PASSWORD_H
#define KURA_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "kura/err.h"

#define KURA_PASSWORD_HASH_MAX 128
/* Longest password accepted, in bytes (a passphrase; bounds hashing work). */
#define KURA_PASSWORD_MAX_BYTES 1024

struct kura_pwparams {
	unsigned long long opslimit; /* >= 2 */
	size_t memlimit;             /* bytes, >= 19 MiB (OWASP minimum) */
};

enum kura_err kura_password_hash(const struct kura_pwparams *p, const char *pw, size_t len,
				 char out[KURA_PASSWORD_HASH_MAX]);
/* KURA_OK on match, KURA_E_INVALID_CREDENTIALS otherwise (also for a malformed hash). */
enum kura_err kura_password_verify(const char *hash, const char *pw, size_t len);
/*
 * true when hash should be replaced at the next successful login: not
 * Argon2id, unparseable, or weaker (memory or passes) than p. A stronger
 * hash is kept, so lowering the configured cost never weakens stored hashes.
 */
bool kura_password_needs_rehash(const struct kura_pwparams *p, const char *hash);

/*
 * A random one-time password of len-1 characters (len >= 17) drawn from an
 * alphabet without look-alike characters, with at least one lower, upper,
 * digit and symbol so that any class policy accepts it.
 */
void kura_password_generate(char *out, size_t len);

#endif
