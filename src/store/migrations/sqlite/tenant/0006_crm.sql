-- tenants/<id>/tenant.db, version 6: the customer database.
-- Run inside a transaction by the migration runner; no BEGIN/COMMIT here.
--
-- The catalogue (objects, properties) describes every object type and its
-- properties. Each object type keeps its records in a table of its own,
-- r_<object id>, with one column per property, p_<property id>: names made
-- from catalogue ids only, so no text a user typed ever becomes part of an
-- SQL statement. A property's column has no declared type; values are
-- stored as core/ converts them (text, integer, real). f_<object id> is the
-- full-text index of an object's text properties (FTS5), keyed by record id;
-- without column sizes (columnsize = 0), which only ranking would use and
-- which would cost every write one more B-tree insert.
--
-- catalog_meta.version grows with every change of the catalogue, so that a
-- cached copy of it can tell when it is stale.
CREATE TABLE catalog_meta (
	id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL
);
INSERT INTO catalog_meta (id, version) VALUES (1, 1);

CREATE TABLE objects (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	name         TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 2 AND 50),
	label_en     TEXT    NOT NULL,
	label_ja     TEXT    NOT NULL,
	primary_prop TEXT    NOT NULL,
	standard     INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
);

CREATE TABLE properties (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	object_id      INTEGER NOT NULL REFERENCES objects (id),
	name           TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
	label_en       TEXT    NOT NULL,
	label_ja       TEXT    NOT NULL,
	type           TEXT    NOT NULL,
	required       INTEGER NOT NULL DEFAULT 0,
	uniq           INTEGER NOT NULL DEFAULT 0,
	indexed        INTEGER NOT NULL DEFAULT 0,
	sensitive      INTEGER NOT NULL DEFAULT 0,
	classification TEXT    NOT NULL DEFAULT 'internal',
	description    TEXT    NOT NULL DEFAULT '',
	options        TEXT    NOT NULL DEFAULT '[]',   -- JSON array, enumerations
	validation     TEXT    NOT NULL DEFAULT '{}',   -- JSON object
	permissions    TEXT    NOT NULL DEFAULT '{}',   -- JSON {"view": [roles], "edit": [roles]}
	standard       INTEGER NOT NULL DEFAULT 0,
	archived_at    INTEGER,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	UNIQUE (object_id, name)
);

-- Every change of every property: one row per write of a record, with
-- {"property": [old, new], ...} in changes; for the write that created
-- the record (initial = 1), {"property": value, ...}: every old value
-- was none.
CREATE TABLE record_history (
	id         INTEGER PRIMARY KEY,
	object_id  INTEGER NOT NULL,
	record_id  INTEGER NOT NULL,
	at         INTEGER NOT NULL,
	actor_type INTEGER NOT NULL,
	actor_id   INTEGER NOT NULL,
	source     TEXT    NOT NULL,
	initial    INTEGER NOT NULL DEFAULT 0,
	changes    TEXT    NOT NULL
);
CREATE INDEX record_history_record ON record_history (object_id, record_id, id);

-- Kept in both directions, so either side lists its associations with one
-- index range.
CREATE TABLE associations (
	from_object INTEGER NOT NULL,
	from_id     INTEGER NOT NULL,
	to_object   INTEGER NOT NULL,
	to_id       INTEGER NOT NULL,
	label       TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (from_object, from_id, to_object, to_id)
) WITHOUT ROWID;

CREATE TABLE activities (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	object_id   INTEGER NOT NULL,
	record_id   INTEGER NOT NULL,
	type        TEXT    NOT NULL,
	body        TEXT    NOT NULL,
	occurred_at INTEGER NOT NULL,
	author_type INTEGER NOT NULL,
	author_id   INTEGER NOT NULL,
	created_at  INTEGER NOT NULL
);
CREATE INDEX activities_record ON activities (object_id, record_id, id);

CREATE TABLE lists (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	object_id  INTEGER NOT NULL REFERENCES objects (id),
	name       TEXT    NOT NULL,
	type       TEXT    NOT NULL CHECK (type IN ('static', 'dynamic')),
	filter     TEXT    NOT NULL DEFAULT '',   -- JSON filterGroups, dynamic lists
	created_by INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE list_members (
	list_id   INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
	record_id INTEGER NOT NULL,
	added_at  INTEGER NOT NULL,
	PRIMARY KEY (list_id, record_id)
) WITHOUT ROWID;
CREATE INDEX list_members_record ON list_members (record_id);

-- Files attached to records. The content lives encrypted in
-- files/<id>.bin beside this database, under a key of its own (random per
-- file) that is kept here only wrapped by the tenant's data key; the file
-- name is kept encrypted too.
CREATE TABLE attachments (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	object_id    INTEGER NOT NULL,
	record_id    INTEGER NOT NULL,
	filename     BLOB    NOT NULL,
	content_type TEXT    NOT NULL,
	size         INTEGER NOT NULL,
	wrapped_key  BLOB    NOT NULL,
	created_by   INTEGER NOT NULL,
	created_at   INTEGER NOT NULL
);
CREATE INDEX attachments_record ON attachments (object_id, record_id, id);

-- Replies to creates sent with an Idempotency-Key, per caller, for a day.
CREATE TABLE idempotency (
	actor_type INTEGER NOT NULL,
	actor_id   INTEGER NOT NULL,
	key        TEXT    NOT NULL,
	body_hash  BLOB    NOT NULL,
	status     INTEGER NOT NULL,
	response   TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (actor_type, actor_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_age ON idempotency (created_at);

-- The standard objects and their properties.
INSERT INTO objects (id, name, label_en, label_ja, primary_prop, standard, created_at, updated_at)
	VALUES (1, 'contacts', 'Contacts', 'コンタクト', 'email', 1, CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (1, 1, 'firstname', 'First name', '名', 'string', 0, 0, 0, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (2, 1, 'lastname', 'Last name', '姓', 'string', 0, 0, 1, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (3, 1, 'email', 'Email', 'メールアドレス', 'email', 0, 1, 1, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (4, 1, 'phone', 'Phone number', '電話番号', 'phone', 0, 0, 0, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (5, 1, 'company', 'Company name', '会社名', 'string', 0, 0, 0, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (6, 1, 'jobtitle', 'Job title', '役職', 'string', 0, 0, 0, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (7, 1, 'lifecyclestage', 'Lifecycle stage', 'ライフサイクルステージ', 'enumeration', 0, 0, 1, 1, '[{"value":"subscriber","labels":{"en":"Subscriber","ja":"購読者"}},{"value":"lead","labels":{"en":"Lead","ja":"リード"}},{"value":"marketingqualifiedlead","labels":{"en":"Marketing qualified lead","ja":"MQL"}},{"value":"salesqualifiedlead","labels":{"en":"Sales qualified lead","ja":"SQL"}},{"value":"opportunity","labels":{"en":"Opportunity","ja":"商談"}},{"value":"customer","labels":{"en":"Customer","ja":"顧客"}},{"value":"evangelist","labels":{"en":"Evangelist","ja":"エバンジェリスト"}},{"value":"other","labels":{"en":"Other","ja":"その他"}}]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (8, 1, 'city', 'City', '市区町村', 'string', 0, 0, 0, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
CREATE TABLE r_1 (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	created_by  INTEGER NOT NULL DEFAULT 0,
	archived_at INTEGER,
	p_1,
	p_2,
	p_3,
	p_4,
	p_5,
	p_6,
	p_7,
	p_8
);
CREATE INDEX x_1_2 ON r_1 (p_2);
CREATE UNIQUE INDEX x_1_3 ON r_1 (p_3) WHERE archived_at IS NULL;
CREATE INDEX x_1_7 ON r_1 (p_7);
CREATE INDEX x_1_archived ON r_1 (archived_at) WHERE archived_at IS NOT NULL;
CREATE VIRTUAL TABLE f_1 USING fts5 (body, tokenize = 'unicode61 remove_diacritics 2', columnsize = 0);

INSERT INTO objects (id, name, label_en, label_ja, primary_prop, standard, created_at, updated_at)
	VALUES (2, 'companies', 'Companies', '会社', 'name', 1, CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (9, 2, 'name', 'Company name', '会社名', 'string', 0, 0, 1, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (10, 2, 'domain', 'Domain', 'ドメイン', 'string', 0, 0, 1, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (11, 2, 'industry', 'Industry', '業種', 'string', 0, 0, 1, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (12, 2, 'phone', 'Phone number', '電話番号', 'phone', 0, 0, 0, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (13, 2, 'city', 'City', '市区町村', 'string', 0, 0, 0, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (14, 2, 'numberofemployees', 'Number of employees', '従業員数', 'number', 0, 0, 1, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
CREATE TABLE r_2 (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	created_by  INTEGER NOT NULL DEFAULT 0,
	archived_at INTEGER,
	p_9,
	p_10,
	p_11,
	p_12,
	p_13,
	p_14
);
CREATE INDEX x_2_9 ON r_2 (p_9);
CREATE INDEX x_2_10 ON r_2 (p_10);
CREATE INDEX x_2_11 ON r_2 (p_11);
CREATE INDEX x_2_14 ON r_2 (p_14);
CREATE INDEX x_2_archived ON r_2 (archived_at) WHERE archived_at IS NOT NULL;
CREATE VIRTUAL TABLE f_2 USING fts5 (body, tokenize = 'unicode61 remove_diacritics 2', columnsize = 0);

INSERT INTO objects (id, name, label_en, label_ja, primary_prop, standard, created_at, updated_at)
	VALUES (3, 'deals', 'Deals', '取引', 'dealname', 1, CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (15, 3, 'dealname', 'Deal name', '取引名', 'string', 1, 0, 1, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (16, 3, 'amount', 'Amount', '金額', 'number', 0, 0, 1, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (17, 3, 'closedate', 'Close date', '完了予定日', 'date', 0, 0, 1, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (18, 3, 'dealstage', 'Deal stage', '取引ステージ', 'enumeration', 0, 0, 1, 1, '[{"value":"appointmentscheduled","labels":{"en":"Appointment scheduled","ja":"アポイント設定済み"}},{"value":"qualifiedtobuy","labels":{"en":"Qualified to buy","ja":"購買見込みあり"}},{"value":"presentationscheduled","labels":{"en":"Presentation scheduled","ja":"プレゼン予定"}},{"value":"decisionmakerboughtin","labels":{"en":"Decision maker bought-in","ja":"決裁者の賛同"}},{"value":"contractsent","labels":{"en":"Contract sent","ja":"契約書送付済み"}},{"value":"closedwon","labels":{"en":"Closed won","ja":"成約"}},{"value":"closedlost","labels":{"en":"Closed lost","ja":"失注"}}]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
CREATE TABLE r_3 (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	created_by  INTEGER NOT NULL DEFAULT 0,
	archived_at INTEGER,
	p_15,
	p_16,
	p_17,
	p_18
);
CREATE INDEX x_3_15 ON r_3 (p_15);
CREATE INDEX x_3_16 ON r_3 (p_16);
CREATE INDEX x_3_17 ON r_3 (p_17);
CREATE INDEX x_3_18 ON r_3 (p_18);
CREATE INDEX x_3_archived ON r_3 (archived_at) WHERE archived_at IS NOT NULL;
CREATE VIRTUAL TABLE f_3 USING fts5 (body, tokenize = 'unicode61 remove_diacritics 2', columnsize = 0);

INSERT INTO objects (id, name, label_en, label_ja, primary_prop, standard, created_at, updated_at)
	VALUES (4, 'tickets', 'Tickets', 'チケット', 'subject', 1, CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (19, 4, 'subject', 'Subject', '件名', 'string', 1, 0, 1, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (20, 4, 'content', 'Description', '説明', 'text', 0, 0, 0, 1, '[]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (21, 4, 'status', 'Status', 'ステータス', 'enumeration', 0, 0, 1, 1, '[{"value":"new","labels":{"en":"New","ja":"新規"}},{"value":"waiting_on_contact","labels":{"en":"Waiting on contact","ja":"顧客の返答待ち"}},{"value":"waiting_on_us","labels":{"en":"Waiting on us","ja":"対応待ち"}},{"value":"closed","labels":{"en":"Closed","ja":"クローズ"}}]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT INTO properties (id, object_id, name, label_en, label_ja, type, required, uniq, indexed, standard, options, created_at, updated_at)
	VALUES (22, 4, 'priority', 'Priority', '優先度', 'enumeration', 0, 0, 1, 1, '[{"value":"low","labels":{"en":"Low","ja":"低"}},{"value":"medium","labels":{"en":"Medium","ja":"中"}},{"value":"high","labels":{"en":"High","ja":"高"}}]', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
CREATE TABLE r_4 (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	created_by  INTEGER NOT NULL DEFAULT 0,
	archived_at INTEGER,
	p_19,
	p_20,
	p_21,
	p_22
);
CREATE INDEX x_4_19 ON r_4 (p_19);
CREATE INDEX x_4_21 ON r_4 (p_21);
CREATE INDEX x_4_22 ON r_4 (p_22);
CREATE INDEX x_4_archived ON r_4 (archived_at) WHERE archived_at IS NOT NULL;
CREATE VIRTUAL TABLE f_4 USING fts5 (body, tokenize = 'unicode61 remove_diacritics 2', columnsize = 0);

