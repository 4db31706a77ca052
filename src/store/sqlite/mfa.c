/*
 * Multi-factor authentication rows (tenant migration 0007): authenticators,
 * recovery codes, challenges, and the sessions' second-factor state. The
 * statements are fixed texts, cached per connection by text.
 */
#include <string.h>

#include "kura/store_mfa.h"
#include "sqlite_int.h"

static const char sql_totp_get[] =
	"SELECT user_id, secret, coalesce(confirmed_at, 0), last_step, created_at "
	"FROM mfa_totp WHERE user_id = ?1";
/* Replaces only an unconfirmed one: a confirmed authenticator is removed on purpose first. */
static const char sql_totp_put[] =
	"INSERT INTO mfa_totp (user_id, secret, confirmed_at, last_step, created_at) "
	"VALUES (?1, ?2, NULL, 0, ?3) ON CONFLICT (user_id) DO UPDATE SET "
	"secret = excluded.secret, last_step = 0, created_at = excluded.created_at "
	"WHERE mfa_totp.confirmed_at IS NULL";
static const char sql_totp_confirm[] =
	"UPDATE mfa_totp SET confirmed_at = ?3, last_step = ?2 "
	"WHERE user_id = ?1 AND confirmed_at IS NULL";
static const char sql_user_flag[] = "UPDATE users SET mfa_enabled = ?2 WHERE id = ?1";
static const char sql_totp_use[] =
	"UPDATE mfa_totp SET last_step = ?2 "
	"WHERE user_id = ?1 AND confirmed_at IS NOT NULL AND last_step < ?2";
static const char sql_totp_delete[] = "DELETE FROM mfa_totp WHERE user_id = ?1";
static const char sql_rec_delete[] = "DELETE FROM mfa_recovery WHERE user_id = ?1";
static const char sql_rec_insert[] =
	"INSERT INTO mfa_recovery (user_id, code_hash, created_at) VALUES (?1, ?2, ?3)";
static const char sql_rec_use[] =
	"UPDATE mfa_recovery SET used_at = ?3 "
	"WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL";
static const char sql_rec_left[] =
	"SELECT count(*) FROM mfa_recovery WHERE user_id = ?1 AND used_at IS NULL";
static const char sql_ch_put[] =
	"INSERT INTO mfa_challenges (id_hash, user_id, created_at, expires_at) "
	"VALUES (?1, ?2, ?3, ?4)";
static const char sql_ch_get[] =
	"SELECT id_hash, user_id, created_at, expires_at, failures FROM mfa_challenges "
	"WHERE id_hash = ?1";
/* One statement: parallel tries on one challenge cannot all see the same count. */
static const char sql_ch_take[] =
	"UPDATE mfa_challenges SET failures = failures + 1 "
	"WHERE id_hash = ?1 AND failures < ?2 AND expires_at > ?3 RETURNING failures";
static const char sql_ch_delete[] = "DELETE FROM mfa_challenges WHERE id_hash = ?1";
static const char sql_ch_purge[] = "DELETE FROM mfa_challenges WHERE expires_at < ?1";
static const char sql_sess_set[] = "UPDATE sessions SET mfa = ?2 WHERE id_hash = ?1";
/* ?1 NULL keeps none: "id_hash IS NOT NULL" holds for every row. */
static const char sql_sess_end[] = "DELETE FROM sessions WHERE mfa = 0 AND id_hash IS NOT ?1";
static const char sql_sess_release[] = "UPDATE sessions SET mfa = 0 WHERE mfa = 2";
static const char sql_cert_bind[] = "UPDATE sessions SET client_cert = ?2 WHERE id_hash = ?1";
static const char sql_cert_end[] =
	"DELETE FROM sessions WHERE client_cert IS NULL AND id_hash IS NOT ?1";
static const char sql_cert_unbind[] = "UPDATE sessions SET client_cert = NULL";

/* Prepares sql (cached by text); the caller binds, steps and calls kura_sqlite_done. */
static enum kura_err
prep(void *conn, const char *sql, sqlite3_stmt **st)
{
	return kura_sqlite_dyn(conn, sql, st);
}

/* Runs a write bound to (id, blob-or-NULL, int); need_row as kura_sqlite_write. */
static enum kura_err
write_ibi(void *conn, const char *sql, const char *op, int64_t a, const uint8_t *blob, size_t n,
	  int64_t b, bool need_row)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = prep(conn, sql, &st);

	if (e != KURA_OK)
		return e;
	sqlite3_bind_int64(st, 1, a);
	if (blob != NULL)
		sqlite3_bind_blob(st, 2, blob, (int)n, SQLITE_STATIC);
	/* Statements that take only the id leave b unbound. */
	if (sqlite3_bind_parameter_count(st) >= (blob != NULL ? 3 : 2))
		sqlite3_bind_int64(st, blob != NULL ? 3 : 2, b);
	e = kura_sqlite_write(conn, st, op, need_row);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
write_hash(void *conn, const char *sql, const char *op, const uint8_t hash[32], bool need_row)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = prep(conn, sql, &st);

	if (e != KURA_OK)
		return e;
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
	e = kura_sqlite_write(conn, st, op, need_row);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
totp_get(void *conn, int64_t user_id, struct kura_mfa_totp *out)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	memset(out, 0, sizeof(*out));
	e = prep(conn, sql_totp_get, &st);
	if (e != KURA_OK)
		return e;
	sqlite3_bind_int64(st, 1, user_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int n = sqlite3_column_bytes(st, 1);
		const void *b = sqlite3_column_blob(st, 1);

		if (b == NULL || n <= 0 || (size_t)n > sizeof(out->secret)) {
			e = KURA_E_STORE;
		} else {
			out->user_id = sqlite3_column_int64(st, 0);
			memcpy(out->secret, b, (size_t)n);
			out->secret_len = (size_t)n;
			out->confirmed_at = sqlite3_column_int64(st, 2);
			out->last_step = sqlite3_column_int64(st, 3);
			out->created_at = sqlite3_column_int64(st, 4);
		}
	} else if (rc == SQLITE_DONE) {
		e = KURA_E_NOT_FOUND;
	} else {
		e = kura_sqlite_error(conn, "mfa_totp_get", rc);
	}
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
totp_put_pending(void *conn, const struct kura_mfa_totp *t)
{
	/* Nothing written means a confirmed authenticator is in the way. */
	enum kura_err e = write_ibi(conn, sql_totp_put, "mfa_totp_put", t->user_id, t->secret,
				    t->secret_len, t->created_at, true);

	return e == KURA_E_NOT_FOUND ? KURA_E_EXISTS : e;
}

static enum kura_err
totp_confirm(void *conn, int64_t user_id, int64_t step, int64_t now)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = prep(conn, sql_totp_confirm, &st);

	if (e != KURA_OK)
		return e;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, step);
	sqlite3_bind_int64(st, 3, now);
	e = kura_sqlite_write(conn, st, "mfa_totp_confirm", true);
	kura_sqlite_done(st);
	if (e == KURA_OK)
		e = write_ibi(conn, sql_user_flag, "mfa_user_flag", user_id, NULL, 0, 1, true);
	return e;
}

static enum kura_err
totp_use_step(void *conn, int64_t user_id, int64_t step)
{
	enum kura_err e = write_ibi(conn, sql_totp_use, "mfa_totp_use", user_id, NULL, 0, step,
				    true);

	return e == KURA_E_NOT_FOUND ? KURA_E_CONFLICT : e;
}

static enum kura_err
totp_delete(void *conn, int64_t user_id)
{
	enum kura_err e = write_ibi(conn, sql_totp_delete, "mfa_totp_delete", user_id, NULL, 0,
				    0, false);

	if (e == KURA_OK)
		e = write_ibi(conn, sql_rec_delete, "mfa_recovery_delete", user_id, NULL, 0, 0,
			      false);
	if (e == KURA_OK)
		e = write_ibi(conn, sql_user_flag, "mfa_user_flag", user_id, NULL, 0, 0, false);
	return e;
}

static enum kura_err
recovery_replace(void *conn, int64_t user_id, const uint8_t (*hashes)[32], unsigned n,
		 int64_t now)
{
	enum kura_err e = write_ibi(conn, sql_rec_delete, "mfa_recovery_delete", user_id, NULL, 0,
				    0, false);

	for (unsigned i = 0; e == KURA_OK && i < n; i++)
		e = write_ibi(conn, sql_rec_insert, "mfa_recovery_insert", user_id, hashes[i], 32,
			      now, true);
	return e;
}

static enum kura_err
recovery_use(void *conn, int64_t user_id, const uint8_t hash[32], int64_t now)
{
	return write_ibi(conn, sql_rec_use, "mfa_recovery_use", user_id, hash, 32, now, true);
}

static enum kura_err
recovery_left(void *conn, int64_t user_id, unsigned *left)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = prep(conn, sql_rec_left, &st);
	int rc;

	*left = 0;
	if (e != KURA_OK)
		return e;
	sqlite3_bind_int64(st, 1, user_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*left = (unsigned)sqlite3_column_int(st, 0);
	else
		e = kura_sqlite_error(conn, "mfa_recovery_left", rc);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
challenge_put(void *conn, const struct kura_mfa_challenge *c)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = prep(conn, sql_ch_put, &st);

	if (e != KURA_OK)
		return e;
	sqlite3_bind_blob(st, 1, c->id_hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->user_id);
	sqlite3_bind_int64(st, 3, c->created_at);
	sqlite3_bind_int64(st, 4, c->expires_at);
	e = kura_sqlite_write(conn, st, "mfa_challenge_put", false);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
challenge_get(void *conn, const uint8_t id_hash[32], struct kura_mfa_challenge *out)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	memset(out, 0, sizeof(*out));
	e = prep(conn, sql_ch_get, &st);
	if (e != KURA_OK)
		return e;
	sqlite3_bind_blob(st, 1, id_hash, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memcpy(out->id_hash, id_hash, 32);
		out->user_id = sqlite3_column_int64(st, 1);
		out->created_at = sqlite3_column_int64(st, 2);
		out->expires_at = sqlite3_column_int64(st, 3);
		out->failures = sqlite3_column_int64(st, 4);
	} else if (rc == SQLITE_DONE) {
		e = KURA_E_NOT_FOUND;
	} else {
		e = kura_sqlite_error(conn, "mfa_challenge_get", rc);
	}
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
challenge_take(void *conn, const uint8_t id_hash[32], int64_t max, int64_t now, int64_t *taken)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e;
	int rc;

	*taken = 0;
	e = prep(conn, sql_ch_take, &st);
	if (e != KURA_OK)
		return e;
	sqlite3_bind_blob(st, 1, id_hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, max);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*taken = sqlite3_column_int64(st, 0);
		/* RETURNING: the change is complete only once the statement is done. */
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
			e = kura_sqlite_error(conn, "mfa_challenge_take", rc);
	} else if (rc == SQLITE_DONE) {
		e = KURA_E_NOT_FOUND;
	} else {
		e = kura_sqlite_error(conn, "mfa_challenge_take", rc);
	}
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
challenge_delete(void *conn, const uint8_t id_hash[32])
{
	return write_hash(conn, sql_ch_delete, "mfa_challenge_delete", id_hash, false);
}

static enum kura_err
challenge_purge(void *conn, int64_t now)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = prep(conn, sql_ch_purge, &st);

	if (e != KURA_OK)
		return e;
	sqlite3_bind_int64(st, 1, now);
	e = kura_sqlite_write(conn, st, "mfa_challenge_purge", false);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
session_set_mfa(void *conn, const uint8_t id_hash[32], enum kura_session_mfa state)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = prep(conn, sql_sess_set, &st);

	if (e != KURA_OK)
		return e;
	sqlite3_bind_blob(st, 1, id_hash, 32, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)state);
	e = kura_sqlite_write(conn, st, "mfa_session_set", true);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
sessions_end_without_mfa(void *conn, const uint8_t *keep, unsigned *ended)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e = prep(conn, sql_sess_end, &st);

	*ended = 0;
	if (e != KURA_OK)
		return e;
	if (keep != NULL)
		sqlite3_bind_blob(st, 1, keep, 32, SQLITE_STATIC);
	e = kura_sqlite_write(conn, st, "mfa_sessions_end", false);
	if (e == KURA_OK)
		*ended = (unsigned)sqlite3_changes(c->db);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
sessions_release_enrol(void *conn)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = prep(conn, sql_sess_release, &st);

	if (e != KURA_OK)
		return e;
	e = kura_sqlite_write(conn, st, "mfa_sessions_release", false);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
session_bind_cert(void *conn, const uint8_t id_hash[32], const uint8_t *cert_sha256)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = prep(conn, sql_cert_bind, &st);

	if (e != KURA_OK)
		return e;
	sqlite3_bind_blob(st, 1, id_hash, 32, SQLITE_STATIC);
	if (cert_sha256 != NULL)
		sqlite3_bind_blob(st, 2, cert_sha256, 32, SQLITE_STATIC);
	e = kura_sqlite_write(conn, st, "session_bind_cert", true);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
sessions_end_without_cert(void *conn, const uint8_t *keep, unsigned *ended)
{
	struct kura_sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	enum kura_err e = prep(conn, sql_cert_end, &st);

	*ended = 0;
	if (e != KURA_OK)
		return e;
	if (keep != NULL)
		sqlite3_bind_blob(st, 1, keep, 32, SQLITE_STATIC);
	e = kura_sqlite_write(conn, st, "sessions_end_without_cert", false);
	if (e == KURA_OK)
		*ended = (unsigned)sqlite3_changes(c->db);
	kura_sqlite_done(st);
	return e;
}

static enum kura_err
sessions_unbind_certs(void *conn)
{
	sqlite3_stmt *st = NULL;
	enum kura_err e = prep(conn, sql_cert_unbind, &st);

	if (e != KURA_OK)
		return e;
	e = kura_sqlite_write(conn, st, "sessions_unbind_certs", false);
	kura_sqlite_done(st);
	return e;
}

const struct kura_mfa_ops kura_store_sqlite_mfa_ops = {
	.totp_get = totp_get,
	.totp_put_pending = totp_put_pending,
	.totp_confirm = totp_confirm,
	.totp_use_step = totp_use_step,
	.totp_delete = totp_delete,
	.recovery_replace = recovery_replace,
	.recovery_use = recovery_use,
	.recovery_left = recovery_left,
	.challenge_put = challenge_put,
	.challenge_get = challenge_get,
	.challenge_take = challenge_take,
	.challenge_delete = challenge_delete,
	.challenge_purge = challenge_purge,
	.session_set_mfa = session_set_mfa,
	.sessions_end_without_mfa = sessions_end_without_mfa,
	.sessions_release_enrol = sessions_release_enrol,
	.session_bind_cert = session_bind_cert,
	.sessions_end_without_cert = sessions_end_without_cert,
	.sessions_unbind_certs = sessions_unbind_certs,
};
