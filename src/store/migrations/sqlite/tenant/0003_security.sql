-- tenants/<id>/tenant.db, version 3: the tenant's security settings,
-- account lockout state, and each session's own idle timeout.
-- Run inside a transaction by the migration runner; no BEGIN/COMMIT here.

-- One row per setting the tenant changed; absent keys take their defaults
-- (src/auth/settings.c), so a new setting needs no data migration.
CREATE TABLE settings (
	key        TEXT    NOT NULL PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 64),
	value      TEXT    NOT NULL CHECK (length(value) <= 1024),
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Consecutive failed sign-ins and the lock they caused; reset by a success.
CREATE TABLE user_lockout (
	user_id      INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	failed       INTEGER NOT NULL DEFAULT 0 CHECK (failed >= 0),
	locked_until INTEGER NOT NULL DEFAULT 0
);

-- Fixed at sign-in from the tenant's settings, so the hot path needs no
-- settings read; 0 = the server's default.
ALTER TABLE sessions ADD COLUMN idle_timeout_s INTEGER NOT NULL DEFAULT 0;
