/*
 * Multi-factor authentication: time-based one-time passwords (TOTP,
 * RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, computed by liboath),
 * single-use recovery codes, and the flows that enrol, confirm, use and
 * remove them (auth/mfa.c; the second step of sign-in is in auth/login.c).
 *
 * A code is accepted for the current step or the one before (a clock a
 * little behind, a code typed as it changed), and only for a step newer
 * than the last one the user's codes were accepted for: no code works
 * twice, and an older code stops working once a newer one was used.
 *
 * The secret (20 random bytes) is stored only as AES-256-GCM ciphertext
 * under the tenant's data key (purpose "mfa-totp", bound to the tenant and
 * the user id). Recovery codes (10, each 16 symbols from an alphabet of 31:
 * about 79 random bits) are stored as SHA-256 of their normalised text and
 * shown once.
 */
#ifndef KURA_MFA_H
#define KURA_MFA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kura/err.h"

#define KURA_TOTP_STEP_S 30
#define KURA_TOTP_DIGITS 6
#define KURA_TOTP_SECRET_BYTES 20
/* base32 of the secret: 32 characters, no padding for 20 bytes. */
#define KURA_TOTP_B32_MAX 40
/*
 * A recovery code: four groups of four characters joined by hyphens (19 in
 * all), drawn from 31 symbols without look-alikes (no 0/o, 1/l/i): 16 draws
 * of log2(31) bits, about 79 bits.
 */
#define KURA_RECOVERY_CODE_CHARS 19
/* How long the state between password and code lasts, and how many wrong codes it takes. */
#define KURA_MFA_CHALLENGE_US (5LL * 60 * 1000000)
#define KURA_MFA_CHALLENGE_TRIES 5

/* The code for a step (time / 30) of secret; out gets KURA_TOTP_DIGITS digits. */
enum kura_err kura_totp_code(const uint8_t *secret, size_t n, int64_t step,
			     char out[KURA_TOTP_DIGITS + 1]);

enum kura_totp_result {
	KURA_TOTP_OK,        /* *step = the step it matched */
	KURA_TOTP_WRONG,     /* matches neither the current nor the previous step */
	KURA_TOTP_REPLAYED,  /* matches, but for a step not newer than last_step */
};

/*
 * Checks code (exactly KURA_TOTP_DIGITS digits; anything else is WRONG)
 * against the steps of now_s and now_s - 30, in constant time per step.
 */
enum kura_totp_result kura_totp_check(const uint8_t *secret, size_t n, int64_t now_s,
				      int64_t last_step, const char *code, int64_t *step);

/* base32 (RFC 4648, no padding) of the secret into out. */
enum kura_err kura_totp_base32(const uint8_t *secret, size_t n, char *out, size_t cap);

/*
 * The otpauth:// URI authenticator apps read: label "issuer:account",
 * every reserved character percent-encoded. malloc'd.
 */
char *kura_totp_uri(const char *issuer, const char *account, const char *b32);

/* A QR code of text (error correction M) as a standalone SVG document; malloc'd. */
char *kura_qr_svg(const char *text);

/* A new recovery code (text to show once) and the hash to store. */
void kura_recovery_code_new(char out[KURA_RECOVERY_CODE_CHARS + 1], uint8_t hash[32]);
/*
 * The hash of a code as typed: case, spaces and dashes do not matter.
 * false when it cannot be a recovery code.
 */
bool kura_recovery_code_hash(const char *typed, uint8_t hash[32]);

struct kura_req;
struct kura_tenant_db;

/*
 * The caller's MFA state as the API shows it: enabled, pending, confirmedAt,
 * recoveryCodesLeft, and whether the tenant requires it.
 */
enum kura_err kura_mfa_status(struct kura_req *r, json_t **out);

/*
 * Starts enrolment (the caller's password already checked): a new secret,
 * replacing an unconfirmed one. *out = {secret, otpauthUri, qrSvg}.
 * KURA_E_EXISTS when an authenticator is already confirmed.
 */
enum kura_err kura_mfa_enrol(struct kura_req *r, json_t **out);

/*
 * Confirms enrolment with a first valid code: MFA is on from then on, the
 * caller's session counts as signed in with it, the user's other sessions
 * end, and *out = {recoveryCodes: [10 codes]}. KURA_E_NOT_FOUND when no
 * enrolment is pending, KURA_E_MFA_CODE_INVALID for a wrong code.
 */
enum kura_err kura_mfa_confirm(struct kura_req *r, const char *code, json_t **out);

/*
 * Removes the caller's authenticator (password already checked). Refused
 * with KURA_E_CONFLICT while the tenant requires MFA. Ends the user's
 * other sessions.
 */
enum kura_err kura_mfa_disable(struct kura_req *r);

/* New recovery codes (password already checked); the old ones stop working. */
enum kura_err kura_mfa_recovery_renew(struct kura_req *r, json_t **out);

/*
 * An administrator removes user_id's authenticator (a lost device): the
 * user's sessions end; at the next sign-in the user enrols again if the
 * tenant requires it. Refused (audited) with KURA_E_CONFLICT for the
 * caller's own: that goes through kura_mfa_disable.
 */
enum kura_err kura_mfa_reset_user(struct kura_req *r, int64_t user_id);

struct kura_field_ctx;
/*
 * What a user's TOTP secret is bound to (tenant, the user, purpose
 * "mfa-totp"), sealed under key_version; also for re-sealing it after a
 * data-key rotation.
 */
void kura_mfa_secret_ctx(struct kura_field_ctx *f, const char *tenant, uint32_t key_version,
			 int64_t user_id);
/*
 * Seals a secret for user_id of the request's tenant (key version
 * key_version) / opens it. The plaintext of open is wiped by the caller.
 */
enum kura_err kura_mfa_secret_seal(struct kura_req *r, const char *tenant, uint32_t key_version,
				   int64_t user_id, const uint8_t *secret, size_t n,
				   uint8_t **ct, size_t *ctlen);
enum kura_err kura_mfa_secret_open(struct kura_req *r, const char *tenant, int64_t user_id,
				   const uint8_t *ct, size_t ctlen, uint8_t **pt, size_t *ptlen);

#endif
