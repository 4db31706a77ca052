/*
 * The store's part of multi-factor authentication (tenant migrations 7 and 10):
 * each user's authenticator (its secret only as ciphertext made by the
 * caller), recovery codes as hashes, the half-signed-in challenges between
 * password and code, and the second-factor state of sessions. Reached with
 * kura_store_mfa(); auth/mfa.c is its only caller. Writes join the caller's
 * transaction.
 */
#ifndef KURA_STORE_MFA_H
#define KURA_STORE_MFA_H

#include <stdbool.h>
#include <stdint.h>

#include "kura/err.h"
#include "kura/store.h"

#define KURA_MFA_SECRET_CT_MAX 256
#define KURA_MFA_RECOVERY_CODES 10

struct kura_mfa_totp {
	int64_t user_id;
	uint8_t secret[KURA_MFA_SECRET_CT_MAX]; /* ciphertext */
	size_t secret_len;
	int64_t confirmed_at;                   /* 0 while unconfirmed */
	int64_t last_step;                      /* newest 30-second step accepted */
	int64_t created_at;
};

struct kura_mfa_challenge {
	uint8_t id_hash[32];
	int64_t user_id;
	int64_t created_at;
	int64_t expires_at;
	int64_t failures;
};

struct kura_mfa_ops {
	/* KURA_E_NOT_FOUND when the user has no authenticator. */
	enum kura_err (*totp_get)(void *conn, int64_t user_id, struct kura_mfa_totp *out);
	/* A new, unconfirmed authenticator replacing any unconfirmed one (EXISTS if confirmed). */
	enum kura_err (*totp_put_pending)(void *conn, const struct kura_mfa_totp *t);
	/*
	 * Confirms the pending authenticator with the step of its first code and
	 * sets users.mfa_enabled. KURA_E_NOT_FOUND when none is pending.
	 */
	enum kura_err (*totp_confirm)(void *conn, int64_t user_id, int64_t step, int64_t now);
	/*
	 * Records step as used: only when it is newer than the last one used
	 * (one statement, so two requests with the same code cannot both pass).
	 * KURA_E_CONFLICT when it is not newer (a replay).
	 */
	enum kura_err (*totp_use_step)(void *conn, int64_t user_id, int64_t step);
	/* Removes the authenticator and the recovery codes; clears users.mfa_enabled. */
	enum kura_err (*totp_delete)(void *conn, int64_t user_id);
	/* Replaces the user's recovery codes with these n hashes. */
	enum kura_err (*recovery_replace)(void *conn, int64_t user_id, const uint8_t (*hashes)[32],
					  unsigned n, int64_t now);
	/* Spends an unused code; KURA_E_NOT_FOUND when none matches. */
	enum kura_err (*recovery_use)(void *conn, int64_t user_id, const uint8_t hash[32],
				      int64_t now);
	enum kura_err (*recovery_left)(void *conn, int64_t user_id, unsigned *left);
	enum kura_err (*challenge_put)(void *conn, const struct kura_mfa_challenge *c);
	/* KURA_E_NOT_FOUND when unknown (expiry is the caller's check). */
	enum kura_err (*challenge_get)(void *conn, const uint8_t id_hash[32],
				       struct kura_mfa_challenge *out);
	/*
	 * Takes one of the challenge's tries before its code is checked, in one
	 * statement (parallel tries cannot all see the same count): only while
	 * it has had fewer than max and has not expired at now; *taken is its
	 * number of tries with this one. KURA_E_NOT_FOUND when no try is left
	 * (or the challenge is unknown or expired).
	 */
	enum kura_err (*challenge_take)(void *conn, const uint8_t id_hash[32], int64_t max,
					int64_t now, int64_t *taken);
	enum kura_err (*challenge_delete)(void *conn, const uint8_t id_hash[32]);
	/* Deletes the challenges that expired before now. */
	enum kura_err (*challenge_purge)(void *conn, int64_t now);
	enum kura_err (*session_set_mfa)(void *conn, const uint8_t id_hash[32],
					 enum kura_session_mfa state);
	/*
	 * When a tenant starts requiring MFA: ends every session opened without
	 * a second factor (state NONE), except keep (NULL: none kept); sets
	 * *ended to how many.
	 */
	enum kura_err (*sessions_end_without_mfa)(void *conn, const uint8_t *keep, unsigned *ended);
	/* When it stops: sessions that could only enrol become ordinary ones. */
	enum kura_err (*sessions_release_enrol)(void *conn);

	/*
	 * Client certificates, the other factor a session can be bound to:
	 * bind one session to a certificate's SHA-256 (NULL: unbind it); end
	 * every session bound to none except keep (NULL: none kept), *ended
	 * their number; unbind every session (the tenant no longer requires
	 * certificates).
	 */
	enum kura_err (*session_bind_cert)(void *conn, const uint8_t id_hash[32],
					   const uint8_t *cert_sha256);
	enum kura_err (*sessions_end_without_cert)(void *conn, const uint8_t *keep,
						   unsigned *ended);
	enum kura_err (*sessions_unbind_certs)(void *conn);
};

extern const struct kura_mfa_ops kura_store_sqlite_mfa_ops;

/*
 * The MFA functions of db's back end and the connection to pass them, or
 * NULL (conn NULL) when db is NULL.
 */
const struct kura_mfa_ops *kura_store_mfa(struct kura_tenant_db *db, void **conn);

#endif
