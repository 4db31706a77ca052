-- tenants/<id>/tenant.db, version 14: how far the audit spool has been moved
-- into the chain.
-- Run inside a transaction by the migration runner (src/store/sqlite/db.c),
-- which also sets PRAGMA user_version; do not add BEGIN/COMMIT here.

-- Entries that record reads are first made durable in audit-spool.db beside
-- this file (src/store/sqlite/spool.c), then moved into audit_log in
-- batches. The move and this row commit together: every entry of the spool
-- file with this epoch (a random value the spool file got when it was made)
-- and an id up to last_id is in audit_log already, so a spool whose trim was
-- cut short by a crash is never moved twice. One row at most.
CREATE TABLE audit_spool_mark (
	one     INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
	epoch   BLOB    NOT NULL CHECK (length(epoch) = 16),
	last_id INTEGER NOT NULL CHECK (last_id >= 0)
);
