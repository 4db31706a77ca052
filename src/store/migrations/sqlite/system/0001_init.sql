-- system.db, version 1: tenants and the keystore of wrapped tenant data keys.
-- Run inside a transaction by the migration runner (src/store/sqlite/db.c),
-- which also sets PRAGMA user_version; do not add BEGIN/COMMIT here.
-- Times are microseconds since the Unix epoch.

CREATE TABLE tenants (
	id          TEXT    NOT NULL PRIMARY KEY
	                    CHECK (length(id) BETWEEN 2 AND 32 AND id NOT GLOB '*[^a-z0-9-]*'
	                           AND substr(id, 1, 1) BETWEEN 'a' AND 'z'),
	name        TEXT    NOT NULL,
	status      INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1)), -- 0 active, 1 suspended
	key_version INTEGER NOT NULL CHECK (key_version BETWEEN 0 AND 4294967295),
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);

-- Wrapped (never plain) data keys, one row per tenant and key version. They
-- live here only, never in a tenant's own database, so that a tenant's files
-- and backups do not carry their keys. Deleting the rows crypto-shreds the
-- tenant; secure_delete makes sure the bytes do not linger in free pages.
CREATE TABLE tenant_keys (
	tenant_id  TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	version    INTEGER NOT NULL CHECK (version BETWEEN 0 AND 4294967295),
	wrapped    BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	state      TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired')),
	PRIMARY KEY (tenant_id, version)
) WITHOUT ROWID;
