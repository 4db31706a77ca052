-- tenants/<id>/tenant.db, version 9: API keys get their own IP allow-list
-- (setting apiKeyIpAllowlist); ipAllowlist now covers only sign-in and
-- sessions. Run inside a transaction by the migration runner.

-- A setting's value may now hold a full allow-list: 50 ranges of up to 43
-- characters and their commas (2,199 characters) did not fit in 1,024.
-- SQLite cannot change a CHECK in place, so the table is copied.
CREATE TABLE settings_v9 (
	key        TEXT    NOT NULL PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 64),
	value      TEXT    NOT NULL CHECK (length(value) <= 4096),
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO settings_v9 (key, value, updated_at) SELECT key, value, updated_at FROM settings;
DROP TABLE settings;
ALTER TABLE settings_v9 RENAME TO settings;

-- Until now ipAllowlist restricted API keys too. A tenant that kept one
-- keeps its keys restricted to the same ranges: the list is copied, and
-- from here on the two lists are changed separately.
INSERT OR IGNORE INTO settings (key, value, updated_at)
	SELECT 'apiKeyIpAllowlist', value, updated_at FROM settings
	WHERE key = 'ipAllowlist' AND value <> '';
