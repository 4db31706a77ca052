-- tenants/<id>/tenant.db, version 12: the consumer access log. Every
-- request to one of the tenant's public form endpoints (/f/<tenant>/<form>)
-- is a row here, apart from the audit log (which records what the tenant's
-- staff and the system do). Rows older than 365 days are deleted by
-- kurad's housekeeping once a day; nothing else deletes them.
-- Run inside a transaction by the migration runner.

-- at_us: when (microseconds since the epoch, UTC); ip: the consumer's
-- address as the connection (or a trusted proxy) gave it; form: the form
-- name the path asked for, whether or not such a form exists; status: the
-- HTTP status answered; outcome: what became of the request (e.g.
-- form_not_found, throttled).
CREATE TABLE form_access_log (
	id         INTEGER PRIMARY KEY,
	at_us      INTEGER NOT NULL,
	ip         TEXT    NOT NULL CHECK (length(ip) BETWEEN 1 AND 46),
	form       TEXT    NOT NULL CHECK (length(form) BETWEEN 1 AND 64),
	method     TEXT    NOT NULL CHECK (length(method) BETWEEN 1 AND 7),
	status     INTEGER NOT NULL CHECK (status BETWEEN 100 AND 599),
	outcome    TEXT    NOT NULL CHECK (length(outcome) BETWEEN 1 AND 32),
	user_agent TEXT    NOT NULL DEFAULT '' CHECK (length(user_agent) <= 256),
	request_id TEXT    NOT NULL CHECK (length(request_id) BETWEEN 1 AND 16)
);
CREATE INDEX form_access_log_at ON form_access_log (at_us);
