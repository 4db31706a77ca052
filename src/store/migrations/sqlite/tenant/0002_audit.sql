-- tenants/<id>/tenant.db, version 2: the audit log.
-- Run inside a transaction by the migration runner (src/store/sqlite/db.c),
-- which also sets PRAGMA user_version; do not add BEGIN/COMMIT here.
-- Times are microseconds since the Unix epoch.

-- One row per operation, hash-chained (see include/kura/audit.h): hash is
-- SHA-256(canonical(row) || prev_hash). seq is the rowid and is assigned by
-- the appender as head + 1 inside a write transaction, never by SQLite, so a
-- gap always means a deleted row. The seals that vouch for the chain live in
-- system.db, out of reach of anyone who can only rewrite this file.
CREATE TABLE audit_log (
	seq          INTEGER NOT NULL PRIMARY KEY CHECK (seq > 0),
	ts_us        INTEGER NOT NULL,
	actor_type   INTEGER NOT NULL,
	actor_id     INTEGER NOT NULL DEFAULT 0,
	actor_email  TEXT    NOT NULL DEFAULT '',
	actor_role   TEXT    NOT NULL DEFAULT '',
	ip           TEXT    NOT NULL DEFAULT '',
	user_agent   TEXT    NOT NULL DEFAULT '',
	request_id   TEXT    NOT NULL DEFAULT '',
	action       TEXT    NOT NULL,
	target_type  TEXT    NOT NULL DEFAULT '',
	target_id    TEXT    NOT NULL DEFAULT '',
	target_props TEXT    NOT NULL DEFAULT '',
	outcome      INTEGER NOT NULL,
	error_code   TEXT    NOT NULL DEFAULT '',
	prev_hash    BLOB    NOT NULL CHECK (length(prev_hash) = 32),
	hash         BLOB    NOT NULL CHECK (length(hash) = 32)
);

-- The filters the audit viewer offers; every query orders by seq (the rowid).
CREATE INDEX audit_log_ts ON audit_log (ts_us);
CREATE INDEX audit_log_action ON audit_log (action);
CREATE INDEX audit_log_actor ON audit_log (actor_id);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id);

-- Append-only against mistakes in our own SQL. Not a defence against
-- someone with the file (they can drop these): the hash chain and the seals
-- are; these only make an accidental UPDATE or DELETE fail loudly.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;
