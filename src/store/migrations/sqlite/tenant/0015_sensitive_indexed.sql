-- tenants/<id>/tenant.db, version 15: "indexed" of a sensitive property
-- says whether it has a blind index.
-- Run inside a transaction by the migration runner (src/store/sqlite/db.c),
-- which also sets PRAGMA user_version; do not add BEGIN/COMMIT here.

-- Until this version every sensitive property had a blind index (column
-- b_<id> of its object's table, with an index) and its "indexed" was stored
-- as 0 (a sensitive value never gets an ordinary index). From this version
-- on "indexed" of a sensitive property means its blind index: the
-- properties that have one say so.
UPDATE properties SET indexed = 1 WHERE sensitive = 1;
