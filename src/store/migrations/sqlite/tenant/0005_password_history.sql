-- tenants/<id>/tenant.db, version 5: each user's previous password hashes,
-- for the "no reuse of the last N passwords" rule (setting passwordHistory).
-- Run inside a transaction by the migration runner; no BEGIN/COMMIT here.

-- Argon2id hashes (PHC strings) of passwords a user had before, newest by
-- id; at most 24 per user are kept (pruned on insert). Deleting the user
-- deletes its history.
CREATE TABLE password_history (
	id         INTEGER PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash       TEXT    NOT NULL CHECK (length(hash) BETWEEN 1 AND 127),
	created_at INTEGER NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id, id);
