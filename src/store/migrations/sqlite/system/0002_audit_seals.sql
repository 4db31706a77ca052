-- system.db, version 2: seals of the tenants' audit chains.
-- Run inside a transaction by the migration runner (src/store/sqlite/db.c),
-- which also sets PRAGMA user_version; do not add BEGIN/COMMIT here.
-- Times are microseconds since the Unix epoch.

-- mac = HMAC-SHA256 under a subkey of the master key over (tenant_id, seq,
-- hash) (kura_audit_seal_mac). Kept here, not in the tenant's database, so
-- that whoever rewrites a tenant database cannot rewrite its seals too, and
-- without the master key cannot make new ones. Rows are only ever added.
CREATE TABLE audit_seals (
	tenant_id TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	seq       INTEGER NOT NULL CHECK (seq > 0),
	hash      BLOB    NOT NULL CHECK (length(hash) = 32),
	mac       BLOB    NOT NULL CHECK (length(mac) = 32),
	sealed_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, seq)
) WITHOUT ROWID;

-- Against mistakes in our own SQL only (see 0002_audit.sql of the tenants).
-- No such guard on DELETE: deleting a tenant takes its seals with it.
CREATE TRIGGER audit_seals_no_update BEFORE UPDATE ON audit_seals
BEGIN
	SELECT RAISE(ABORT, 'audit_seals are never rewritten');
END;
