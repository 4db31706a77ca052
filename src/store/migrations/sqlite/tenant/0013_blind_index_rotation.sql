-- tenants/<id>/tenant.db, version 13: rotating a sensitive property's
-- blind-index key. The key is derived from the data key of version
-- bidx_version; each value in the property's b_<id> column carries that
-- version ((version - 1) * 65536 + the 16 index bits), so values under two
-- keys can live side by side in one column while a rotation moves them.
-- bidx_next: the version being rotated to (0 = none); bidx_started_at:
-- when that rotation was asked for (microseconds).
-- Run inside a transaction by the migration runner.
ALTER TABLE properties ADD COLUMN bidx_version INTEGER NOT NULL DEFAULT 1
	CHECK (bidx_version >= 1);
ALTER TABLE properties ADD COLUMN bidx_next INTEGER NOT NULL DEFAULT 0
	CHECK (bidx_next = 0 OR bidx_next > bidx_version);
ALTER TABLE properties ADD COLUMN bidx_started_at INTEGER NOT NULL DEFAULT 0;
