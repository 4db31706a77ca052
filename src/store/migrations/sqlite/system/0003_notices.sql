-- system.db, version 3: notices of incidents and maintenance for tenants.
-- Run inside a transaction by the migration runner (src/store/sqlite/db.c),
-- which also sets PRAGMA user_version; do not add BEGIN/COMMIT here.
-- Times are microseconds since the Unix epoch.

-- Written by the operator (kura notice create), read by every signed-in user
-- of the tenants concerned (GET /api/v1/notices). tenant_id NULL means every
-- tenant; a notice for one tenant goes when that tenant goes.
CREATE TABLE notices (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant_id  TEXT    REFERENCES tenants (id) ON DELETE CASCADE,
	kind       TEXT    NOT NULL CHECK (kind IN ('incident', 'maintenance')),
	title      TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
	body       TEXT    NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
	starts_at  INTEGER NOT NULL,
	ends_at    INTEGER NOT NULL CHECK (ends_at > starts_at),
	created_at INTEGER NOT NULL
);

-- The API asks for the notices that have not ended yet.
CREATE INDEX notices_ends_at ON notices (ends_at);
