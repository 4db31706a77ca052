-- tenants/<id>/tenant.db, version 8: the tenant's own roles (named sets of
-- permissions, beside the built-in ones fixed in src/auth/rbac.c) and teams
-- of users. Run inside a transaction by the migration runner.

-- permissions: comma-separated permission names, each checked against the
-- known list when written (src/auth/rbac.c); a user's role is either a
-- built-in name or one of these names.
CREATE TABLE roles (
	name        TEXT    NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 2 AND 32),
	label       TEXT    NOT NULL CHECK (length(label) BETWEEN 1 AND 512),
	description TEXT    NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
	permissions TEXT    NOT NULL DEFAULT '' CHECK (length(permissions) <= 1024),
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Users look their role up by name on every signed-in request.
CREATE INDEX users_role ON users (role);

CREATE TABLE teams (
	id          INTEGER NOT NULL PRIMARY KEY,
	name        TEXT    NOT NULL UNIQUE COLLATE NOCASE CHECK (length(name) BETWEEN 1 AND 512),
	description TEXT    NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);

CREATE TABLE team_members (
	team_id  INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
	user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	added_at INTEGER NOT NULL,
	PRIMARY KEY (team_id, user_id)
) WITHOUT ROWID;
CREATE INDEX team_members_user ON team_members (user_id, team_id);
