-- tenants/<id>/tenant.db, version 11: turning the sensitive flag on for a
-- property that holds values. The property is sensitive at once; its
-- values still in clear are encrypted by kurad's housekeeping in short
-- transactions. The state lives here so that a restart carries on.
-- Run inside a transaction by the migration runner.

-- enc_state: 0 = nothing to do, 1 = encrypting (values and history entries
-- in clear remain); enc_total: values held when it began; enc_done: values
-- encrypted by the job so far.
ALTER TABLE properties ADD COLUMN enc_state INTEGER NOT NULL DEFAULT 0
	CHECK (enc_state IN (0, 1));
ALTER TABLE properties ADD COLUMN enc_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE properties ADD COLUMN enc_done INTEGER NOT NULL DEFAULT 0;
