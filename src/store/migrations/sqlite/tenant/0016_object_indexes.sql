-- tenants/<id>/tenant.db, version 16: indexes over two to four properties.
-- Run inside a transaction by the migration runner (src/store/sqlite/db.c),
-- which also sets PRAGMA user_version; do not add BEGIN/COMMIT here.

-- One row per index x_<object id>_c<id> ON r_<object id> (p_<a>, p_<b>, ...);
-- props holds the property ids in the index's column order, comma-separated.
CREATE TABLE object_indexes (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	object_id INTEGER NOT NULL REFERENCES objects (id),
	props TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (object_id, props)
);
