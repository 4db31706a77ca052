/*
 * Multi-factor authentication (kura/mfa.h): TOTP codes through liboath, QR
 * codes through libqrencode, recovery codes, and the enrolment flows. The
 * second step of sign-in lives with the first, in login.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <liboath/oath.h>
#include <qrencode.h>
#include <sodium.h>

#include "kura/audit.h"
#include "kura/auth.h"
#include "kura/buf.h"
#include "kura/clock.h"
#include "kura/crypto.h"
#include "kura/log.h"
#include "kura/mfa.h"
#include "kura/server.h"
#include "kura/settings.h"
#include "kura/store.h"
#include "kura/store_mfa.h"

#define ISSUER "Kura"

static pthread_once_t oath_once = PTHREAD_ONCE_INIT;
static int oath_ready = OATH_OK;

static void
oath_start(void)
{
	oath_ready = oath_init();
}

enum kura_err
kura_totp_code(const uint8_t *secret, size_t n, int64_t step, char out[KURA_TOTP_DIGITS + 1])
{
	out[0] = '\0';
	pthread_once(&oath_once, oath_start);
	if (oath_ready != OATH_OK || secret == NULL || n == 0 || step < 0)
		return KURA_E_CRYPTO;
	if (oath_totp_generate2((const char *)secret, n, (time_t)(step * KURA_TOTP_STEP_S),
				KURA_TOTP_STEP_S, OATH_TOTP_DEFAULT_START_TIME, KURA_TOTP_DIGITS, 0,
				out) != OATH_OK) {
		out[0] = '\0';
		return KURA_E_CRYPTO;
	}
	return KURA_OK;
}

static bool
six_digits(const char *code)
{
	if (code == NULL || strlen(code) != KURA_TOTP_DIGITS)
		return false;
	for (int i = 0; i < KURA_TOTP_DIGITS; i++) {
		if (code[i] < '0' || code[i] > '9')
			return false;
	}
	return true;
}

enum kura_totp_result
kura_totp_check(const uint8_t *secret, size_t n, int64_t now_s, int64_t last_step,
		const char *code, int64_t *step)
{
	int64_t cur = now_s / KURA_TOTP_STEP_S;
	enum kura_totp_result res = KURA_TOTP_WRONG;

	*step = 0;
	if (!six_digits(code))
		return KURA_TOTP_WRONG;
	/* Newest first: a code that matches both steps counts for the newer. */
	for (int64_t s = cur; s >= cur - 1 && s >= 0; s--) {
		char want[KURA_TOTP_DIGITS + 1];

		if (kura_totp_code(secret, n, s, want) != KURA_OK)
			return KURA_TOTP_WRONG;
		if (sodium_memcmp(want, code, KURA_TOTP_DIGITS) == 0) {
			sodium_memzero(want, sizeof(want));
			if (s > last_step) {
				*step = s;
				return KURA_TOTP_OK;
			}
			res = KURA_TOTP_REPLAYED;
		}
		sodium_memzero(want, sizeof(want));
	}
	return res;
}

enum kura_err
kura_totp_base32(const uint8_t *secret, size_t n, char *out, size_t cap)
{
	char *b32 = NULL;
	size_t len = 0;
	size_t w = 0;

	pthread_once(&oath_once, oath_start);
	if (oath_ready != OATH_OK ||
	    oath_base32_encode((const char *)secret, n, &b32, &len) != OATH_OK)
		return KURA_E_CRYPTO;
	/* Authenticator apps take the secret without "=" padding. */
	for (size_t i = 0; i < len && b32[i] != '='; i++) {
		if (w + 1 >= cap) {
			sodium_memzero(b32, len);
			free(b32);
			sodium_memzero(out, cap);
			return KURA_E_INTERNAL;
		}
		out[w++] = b32[i];
	}
	out[w] = '\0';
	sodium_memzero(b32, len);
	free(b32);
	return KURA_OK;
}

/* Percent-encodes s into b: everything but RFC 3986's unreserved characters. */
static void
pct(struct kura_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			kura_buf_append(b, p, 1);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};

			kura_buf_append(b, e, 3);
		}
	}
}

/* The buffer's text as a malloc'd string (NULL when it failed); the buffer is freed. */
static char *
buf_string(struct kura_buf *b)
{
	char *s = NULL;

	if (kura_buf_append(b, "", 1) == KURA_OK) {
		s = malloc(b->len);
		if (s != NULL)
			memcpy(s, b->data, b->len);
	}
	sodium_memzero(b->data, b->cap);
	kura_buf_free(b);
	return s;
}

char *
kura_totp_uri(const char *issuer, const char *account, const char *b32)
{
	struct kura_buf b;

	kura_buf_init(&b, 4096);
	kura_buf_printf(&b, "%s", "otpauth://totp/");
	pct(&b, issuer);
	kura_buf_printf(&b, "%s", ":");
	pct(&b, account);
	kura_buf_printf(&b, "%s", "?secret=");
	pct(&b, b32);
	kura_buf_printf(&b, "%s", "&issuer=");
	pct(&b, issuer);
	kura_buf_printf(&b, "%s", "&algorithm=SHA1&digits=6&period=30");
	return buf_string(&b);
}

char *
kura_qr_svg(const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	struct kura_buf b;
	int quiet = 4, w;

	if (qr == NULL)
		return NULL;
	w = qr->width + 2 * quiet;
	kura_buf_init(&b, 256 * 1024);
	kura_buf_printf(&b,
			"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
			"shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" "
			"fill=\"#fff\"/><path d=\"", w, w, w, w);
	/* One rectangle per horizontal run of dark modules (bit 0 of each byte). */
	for (int y = 0; y < qr->width; y++) {
		for (int x = 0; x < qr->width;) {
			int run = 0;

			while (x + run < qr->width && (qr->data[y * qr->width + x + run] & 1) != 0)
				run++;
			if (run == 0) {
				x++;
				continue;
			}
			kura_buf_printf(&b, "M%d %dh%dv1h-%dz", x + quiet, y + quiet, run, run);
			x += run;
		}
	}
	kura_buf_printf(&b, "%s", "\" fill=\"#000\"/></svg>");
	QRcode_free(qr);
	return buf_string(&b);
}

/* Crockford-like: no 0/O, 1/I/L, so a code read aloud or copied by hand survives. */
static const char code_alphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";

void
kura_recovery_code_new(char out[KURA_RECOVERY_CODE_CHARS + 1], uint8_t hash[32])
{
	size_t w = 0;

	for (int i = 0; i < 16; i++) {
		if (i > 0 && i % 4 == 0)
			out[w++] = '-';
		out[w++] = code_alphabet[randombytes_uniform((uint32_t)(sizeof(code_alphabet) - 1))];
	}
	out[w] = '\0';
	kura_recovery_code_hash(out, hash);
}

bool
kura_recovery_code_hash(const char *typed, uint8_t hash[32])
{
	char norm[17];
	size_t n = 0;

	memset(hash, 0, 32);
	if (typed == NULL || strlen(typed) > 64)
		return false;
	for (const char *p = typed; *p != '\0'; p++) {
		char c = *p;

		if (c == '-' || c == ' ')
			continue;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (strchr(code_alphabet, c) == NULL || n >= 16)
			return false;
		norm[n++] = c;
	}
	if (n != 16)
		return false;
	kura_sha256(norm, n, hash);
	sodium_memzero(norm, sizeof(norm));
	return true;
}

void
kura_mfa_secret_ctx(struct kura_field_ctx *f, const char *tenant, uint32_t key_version,
		    int64_t user_id)
{
	memset(f, 0, sizeof(*f));
	f->tenant = tenant;
	f->key_version = key_version;
	f->object = "user";
	f->record_id = user_id;
	f->name = "totp";
	f->purpose = "mfa-totp";
}

enum kura_err
kura_mfa_secret_seal(struct kura_req *r, const char *tenant, uint32_t key_version,
		     int64_t user_id, const uint8_t *secret, size_t n, uint8_t **ct, size_t *ctlen)
{
	struct kura_field_ctx f;

	kura_mfa_secret_ctx(&f, tenant, key_version, user_id);
	return kura_field_encrypt(r->srv->field_keys, &f, secret, n, ct, ctlen);
}

enum kura_err
kura_mfa_secret_open(struct kura_req *r, const char *tenant, int64_t user_id, const uint8_t *ct,
		     size_t ctlen, uint8_t **pt, size_t *ptlen)
{
	struct kura_field_ctx f;

	kura_mfa_secret_ctx(&f, tenant, 0, user_id);
	return kura_field_decrypt(r->srv->field_keys, &f, ct, ctlen, pt, ptlen);
}

static void
wipe_free(uint8_t *p, size_t n)
{
	if (p == NULL)
		return;
	sodium_memzero(p, n);
	free(p);
}

static void
uid_text(int64_t id, char out[24])
{
	snprintf(out, 24, "%lld", (long long)id);
}

enum kura_err
kura_mfa_status(struct kura_req *r, json_t **out)
{
	struct kura_principal *p = &r->principal;
	void *conn;
	const struct kura_mfa_ops *ops = kura_store_mfa(p->db, &conn);
	struct kura_mfa_totp t;
	struct kura_security_settings set;
	unsigned left = 0;
	char when[40] = "";
	enum kura_err e;

	*out = NULL;
	e = kura_settings_load(p->db, &set);
	if (e != KURA_OK)
		return e;
	e = ops->totp_get(conn, p->user.id, &t);
	if (e == KURA_E_NOT_FOUND)
		memset(&t, 0, sizeof(t));
	else if (e != KURA_OK)
		return e;
	if (t.confirmed_at > 0) {
		e = ops->recovery_left(conn, p->user.id, &left);
		if (e != KURA_OK)
			return e;
		kura_time_rfc3339(t.confirmed_at, when, sizeof(when));
	}
	*out = json_pack("{s:b, s:b, s:o, s:i, s:b, s:b}", "enabled", t.confirmed_at > 0, "pending",
			 t.user_id != 0 && t.confirmed_at == 0, "confirmedAt",
			 when[0] != '\0' ? json_string(when) : json_null(), "recoveryCodesLeft",
			 (int)left, "required", set.mfa_required, "enrolmentRequired",
			 p->session_mfa == KURA_SESSION_MFA_ENROL);
	sodium_memzero(&t, sizeof(t));
	return *out != NULL ? KURA_OK : KURA_E_NOMEM;
}

enum kura_err
kura_mfa_enrol(struct kura_req *r, json_t **out)
{
	struct kura_principal *p = &r->principal;
	void *conn;
	const struct kura_mfa_ops *ops = kura_store_mfa(p->db, &conn);
	struct kura_mfa_totp t;
	uint8_t secret[KURA_TOTP_SECRET_BYTES];
	uint8_t *ct = NULL;
	size_t ctlen = 0;
	char b32[KURA_TOTP_B32_MAX + 1], account[KURA_TENANT_ID_MAX + KURA_EMAIL_MAX + 4];
	char uid[24];
	char *uri = NULL, *svg = NULL;
	enum kura_err e;

	*out = NULL;
	uid_text(p->user.id, uid);
	kura_random_bytes(secret, sizeof(secret));
	e = kura_totp_base32(secret, sizeof(secret), b32, sizeof(b32));
	if (e == KURA_OK)
		e = kura_mfa_secret_seal(r, p->tenant_id, p->tenant.key_version, p->user.id, secret,
					 sizeof(secret), &ct, &ctlen);
	if (e == KURA_OK && ctlen > sizeof(t.secret))
		e = KURA_E_INTERNAL;
	if (e != KURA_OK)
		goto out;
	memset(&t, 0, sizeof(t));
	t.user_id = p->user.id;
	memcpy(t.secret, ct, ctlen);
	t.secret_len = ctlen;
	t.created_at = kura_now_us();
	/* The label tells the tenants apart in an app that holds several. */
	snprintf(account, sizeof(account), "%s (%s)", p->user.email, p->tenant_id);
	uri = kura_totp_uri(ISSUER, account, b32);
	svg = uri != NULL ? kura_qr_svg(uri) : NULL;
	if (uri == NULL || svg == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	e = kura_store_begin(p->db);
	if (e == KURA_OK)
		e = ops->totp_put_pending(conn, &t);
	if (e == KURA_OK)
		e = kura_req_audit(r, NULL, "mfa.enrol", "user", uid, KURA_OK);
	e = kura_store_finish(p->db, e);
	if (e == KURA_OK)
		*out = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s}", "secret", b32, "otpauthUri", uri,
				 "qrSvg", svg, "digits", KURA_TOTP_DIGITS, "period",
				 KURA_TOTP_STEP_S, "algorithm", "SHA1");
	if (e == KURA_OK && *out == NULL)
		e = KURA_E_NOMEM;
out:
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(b32, sizeof(b32));
	sodium_memzero(&t, sizeof(t));
	wipe_free(ct, ctlen);
	if (uri != NULL)
		wipe_free((uint8_t *)uri, strlen(uri));
	if (svg != NULL)
		wipe_free((uint8_t *)svg, strlen(svg));
	return e;
}

/* Ten new codes into the store (inside the caller's transaction) and into *codes. */
static enum kura_err
new_recovery_codes(const struct kura_mfa_ops *ops, void *conn, int64_t user_id, json_t **codes)
{
	uint8_t hashes[KURA_MFA_RECOVERY_CODES][32];
	char text[KURA_RECOVERY_CODE_CHARS + 1];
	enum kura_err e;

	*codes = json_array();
	if (*codes == NULL)
		return KURA_E_NOMEM;
	for (unsigned i = 0; i < KURA_MFA_RECOVERY_CODES; i++) {
		kura_recovery_code_new(text, hashes[i]);
		json_array_append_new(*codes, json_string(text));
	}
	sodium_memzero(text, sizeof(text));
	e = ops->recovery_replace(conn, user_id, (const uint8_t(*)[32])hashes,
				  KURA_MFA_RECOVERY_CODES, kura_now_us());
	if (e != KURA_OK) {
		json_decref(*codes);
		*codes = NULL;
	}
	return e;
}

enum kura_err
kura_mfa_confirm(struct kura_req *r, const char *code, json_t **out)
{
	struct kura_principal *p = &r->principal;
	void *conn;
	const struct kura_mfa_ops *ops = kura_store_mfa(p->db, &conn);
	struct kura_mfa_totp t;
	uint8_t *secret = NULL;
	size_t slen = 0;
	int64_t step = 0;
	json_t *codes = NULL;
	char uid[24];
	enum kura_err e;

	*out = NULL;
	uid_text(p->user.id, uid);
	e = ops->totp_get(conn, p->user.id, &t);
	if (e == KURA_OK && t.confirmed_at > 0)
		e = KURA_E_EXISTS;
	if (e != KURA_OK)
		goto out;
	e = kura_mfa_secret_open(r, p->tenant_id, p->user.id, t.secret, t.secret_len, &secret,
				 &slen);
	if (e != KURA_OK)
		goto out;
	if (kura_totp_check(secret, slen, kura_now_us() / 1000000, 0, code, &step) !=
	    KURA_TOTP_OK) {
		e = KURA_E_MFA_CODE_INVALID;
		kura_req_audit(r, NULL, "mfa.confirm", "user", uid, e);
		goto out;
	}
	e = kura_store_begin(p->db);
	if (e == KURA_OK)
		e = ops->totp_confirm(conn, p->user.id, step, kura_now_us());
	if (e == KURA_OK)
		e = new_recovery_codes(ops, conn, p->user.id, &codes);
	/* This session now counts as signed in with MFA; the user's others end. */
	if (e == KURA_OK && p->api_key_id == 0)
		e = ops->session_set_mfa(conn, p->session_hash, KURA_SESSION_MFA_DONE);
	if (e == KURA_OK)
		e = kura_store_session_delete_user(p->db, p->user.id,
						   p->api_key_id == 0 ? p->session_hash : NULL);
	if (e == KURA_OK)
		e = kura_req_audit(r, NULL, "mfa.confirm", "user", uid, KURA_OK);
	e = kura_store_finish(p->db, e);
	if (e == KURA_OK) {
		*out = json_pack("{s:o}", "recoveryCodes", codes);
		codes = NULL;
		p->session_mfa = KURA_SESSION_MFA_DONE;
		p->user.mfa_enabled = true;
	}
out:
	json_decref(codes);
	wipe_free(secret, slen);
	sodium_memzero(&t, sizeof(t));
	return e;
}

enum kura_err
kura_mfa_disable(struct kura_req *r)
{
	struct kura_principal *p = &r->principal;
	void *conn;
	const struct kura_mfa_ops *ops = kura_store_mfa(p->db, &conn);
	struct kura_security_settings set;
	struct kura_mfa_totp t;
	char uid[24];
	enum kura_err e;

	uid_text(p->user.id, uid);
	e = kura_settings_load(p->db, &set);
	if (e != KURA_OK)
		return e;
	if (set.mfa_required) {
		kura_req_audit(r, NULL, "mfa.disable", "user", uid, KURA_E_CONFLICT);
		return KURA_E_CONFLICT;
	}
	e = ops->totp_get(conn, p->user.id, &t);
	sodium_memzero(&t, sizeof(t));
	if (e != KURA_OK)
		return e;
	e = kura_store_begin(p->db);
	if (e == KURA_OK)
		e = ops->totp_delete(conn, p->user.id);
	if (e == KURA_OK)
		e = ops->session_set_mfa(conn, p->session_hash, KURA_SESSION_MFA_NONE);
	if (e == KURA_OK)
		e = kura_store_session_delete_user(p->db, p->user.id, p->session_hash);
	if (e == KURA_OK)
		e = kura_req_audit(r, NULL, "mfa.disable", "user", uid, KURA_OK);
	e = kura_store_finish(p->db, e);
	if (e == KURA_OK) {
		p->session_mfa = KURA_SESSION_MFA_NONE;
		p->user.mfa_enabled = false;
	}
	return e;
}

enum kura_err
kura_mfa_recovery_renew(struct kura_req *r, json_t **out)
{
	struct kura_principal *p = &r->principal;
	void *conn;
	const struct kura_mfa_ops *ops = kura_store_mfa(p->db, &conn);
	struct kura_mfa_totp t;
	json_t *codes = NULL;
	char uid[24];
	enum kura_err e;

	*out = NULL;
	uid_text(p->user.id, uid);
	e = ops->totp_get(conn, p->user.id, &t);
	if (e == KURA_OK && t.confirmed_at == 0)
		e = KURA_E_NOT_FOUND;
	sodium_memzero(&t, sizeof(t));
	if (e != KURA_OK)
		return e;
	e = kura_store_begin(p->db);
	if (e == KURA_OK)
		e = new_recovery_codes(ops, conn, p->user.id, &codes);
	if (e == KURA_OK)
		e = kura_req_audit(r, NULL, "mfa.recovery_renew", "user", uid, KURA_OK);
	e = kura_store_finish(p->db, e);
	if (e == KURA_OK) {
		*out = json_pack("{s:o}", "recoveryCodes", codes);
		codes = NULL;
	}
	json_decref(codes);
	return e;
}

enum kura_err
kura_mfa_reset_user(struct kura_req *r, int64_t user_id)
{
	struct kura_principal *p = &r->principal;
	void *conn;
	const struct kura_mfa_ops *ops = kura_store_mfa(p->db, &conn);
	struct kura_mfa_totp t;
	char uid[24];
	enum kura_err e;

	uid_text(user_id, uid);
	/*
	 * One's own authenticator goes only through kura_mfa_disable: the
	 * password again, and not while the tenant requires MFA.
	 */
	if (user_id == p->user.id) {
		kura_req_audit(r, NULL, "mfa.reset", "user", uid, KURA_E_CONFLICT);
		return KURA_E_CONFLICT;
	}
	e = ops->totp_get(conn, user_id, &t);
	sodium_memzero(&t, sizeof(t));
	if (e != KURA_OK)
		return e;
	e = kura_store_begin(p->db);
	if (e == KURA_OK)
		e = ops->totp_delete(conn, user_id);
	if (e == KURA_OK)
		e = kura_store_session_delete_user(p->db, user_id, NULL);
	if (e == KURA_OK)
		e = kura_req_audit(r, NULL, "mfa.reset", "user", uid, KURA_OK);
	return kura_store_finish(p->db, e);
}
