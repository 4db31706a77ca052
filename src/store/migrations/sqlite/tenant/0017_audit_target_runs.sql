-- tenants/<id>/tenant.db, version 17: the audit log's target index, by run.
-- Run inside a transaction by the migration runner (src/store/sqlite/db.c),
-- which also sets PRAGMA user_version; do not add BEGIN/COMMIT here.

-- audit_log_target was (target_type, target_id): every entry that records a
-- read of one record lands on a random leaf of an index as large as the
-- whole log, so moving a second's reads into the chain dirtied (and wrote to
-- the WAL, then again at the checkpoint) about one 4 KiB page per entry, and
-- read most of them from disk first once the index outgrew the page cache.
-- Led by the entry's run (seq >> 16: 65,536 entries), new entries only touch
-- the newest run's part of the index, a few hundred pages that stay cached.
-- A query by target looks the target up run by run, newest first
-- (kura_sqlite_audit_query; the expression must stay "seq >> 16" there).
DROP INDEX audit_log_target;
CREATE INDEX audit_log_target ON audit_log ((seq >> 16), target_type, target_id);
