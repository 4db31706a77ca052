-- tenants/<id>/tenant.db, version 4: API keys.
-- Run inside a transaction by the migration runner; no BEGIN/COMMIT here.
--
-- A key acts as its creator (user_id) limited to its scopes, and dies with
-- the creator. Only SHA-256 of the secret is kept, so a copy of the database
-- yields no usable keys; prefix (the secret's first 8 characters) lets a
-- person tell their keys apart in a list.
CREATE TABLE api_keys (
	id           INTEGER NOT NULL PRIMARY KEY CHECK (id > 0),
	user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
	prefix       TEXT    NOT NULL,
	secret_hash  BLOB    NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
	scopes       TEXT    NOT NULL,           -- comma-separated permissions
	cidrs        TEXT    NOT NULL DEFAULT '', -- comma-separated; '' = any address
	expires_at   INTEGER NOT NULL DEFAULT 0,  -- 0 = never
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER NOT NULL DEFAULT 0,
	last_used_ip TEXT    NOT NULL DEFAULT '',
	revoked_at   INTEGER NOT NULL DEFAULT 0   -- 0 = live
);

CREATE INDEX api_keys_user ON api_keys (user_id);
