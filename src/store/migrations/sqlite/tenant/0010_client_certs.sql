-- tenants/<id>/tenant.db, version 10: mutual TLS. A session opened while the
-- tenant required a client certificate is bound to that certificate: the
-- SHA-256 of its DER, which every later request of the session must present.
-- Run inside a transaction by the migration runner.
ALTER TABLE sessions ADD COLUMN client_cert BLOB
	CHECK (client_cert IS NULL OR length(client_cert) = 32);
