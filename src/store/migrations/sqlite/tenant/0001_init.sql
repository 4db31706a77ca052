-- tenants/<id>/tenant.db, version 1: identity stamp, users and sessions.
-- Run inside a transaction by the migration runner (src/store/sqlite/db.c),
-- which also sets PRAGMA user_version; do not add BEGIN/COMMIT here.
-- Times are microseconds since the Unix epoch.

-- Which tenant this file belongs to, checked on every connection open, so a
-- database copied or moved to another tenant's directory is never served.
CREATE TABLE tenant_info (
	id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	tenant_id  TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE users (
	id                   INTEGER NOT NULL PRIMARY KEY CHECK (id > 0),
	email                TEXT    NOT NULL UNIQUE CHECK (email <> ''),
	display_name         TEXT    NOT NULL DEFAULT '',
	role                 TEXT    NOT NULL,
	status               INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1)), -- 0 active, 1 disabled
	password_hash        TEXT    NOT NULL DEFAULT '',
	must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
	password_changed_at  INTEGER NOT NULL DEFAULT 0,
	created_at           INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL
);

-- Keyed by SHA-256 of the cookie secret; the secret itself is never stored.
CREATE TABLE sessions (
	id_hash      BLOB    NOT NULL PRIMARY KEY CHECK (length(id_hash) = 32),
	user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at   INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	ip           TEXT    NOT NULL DEFAULT '',
	user_agent   TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE INDEX sessions_user ON sessions (user_id);
-- Both ends of a session's life, for the purge of expired and idle ones.
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
