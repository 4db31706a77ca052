-- tenants/<id>/tenant.db, version 7: multi-factor authentication (TOTP,
-- RFC 6238), its recovery codes, the half-signed-in state between password
-- and code, and whether each session was opened with a second factor.
-- Run inside a transaction by the migration runner; no BEGIN/COMMIT here.

-- One authenticator per user. The secret is AES-256-GCM ciphertext under
-- the tenant's data key (purpose "mfa-totp", bound to the user id): never
-- in clear here. confirmed_at stays NULL until a first valid code proves the
-- user holds it. last_step is the newest 30-second step a code was accepted
-- for: a code is accepted only for a newer step, so none works twice.
CREATE TABLE mfa_totp (
	user_id      INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret       BLOB    NOT NULL CHECK (length(secret) BETWEEN 1 AND 256),
	confirmed_at INTEGER,
	last_step    INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL
);

-- Single-use recovery codes, as SHA-256 of the normalised code (80 random
-- bits each); used_at is set when one is spent.
CREATE TABLE mfa_recovery (
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash  BLOB    NOT NULL CHECK (length(code_hash) = 32),
	created_at INTEGER NOT NULL,
	used_at    INTEGER,
	PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;

-- A password accepted, a code still owed: found by SHA-256 of the token
-- handed to the client, for five minutes and a few wrong codes at most.
CREATE TABLE mfa_challenges (
	id_hash    BLOB    NOT NULL PRIMARY KEY CHECK (length(id_hash) = 32),
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	failures   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX mfa_challenges_user ON mfa_challenges (user_id);

-- Kept in step with mfa_totp.confirmed_at, so that user reads need no join.
ALTER TABLE users ADD COLUMN mfa_enabled INTEGER NOT NULL DEFAULT 0;

-- 0: opened without a second factor (the tenant did not require one);
-- 1: opened with one; 2: the tenant requires MFA and the user has none yet,
-- so the session may only enrol (and sign out).
ALTER TABLE sessions ADD COLUMN mfa INTEGER NOT NULL DEFAULT 0 CHECK (mfa IN (0, 1, 2));
