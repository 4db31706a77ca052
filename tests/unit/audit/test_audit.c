/*
 * Tests of audit/: the hash chain, its canonical form, joining a caller's
 * transaction, queries, seals and verification, against real SQLite files
 * in a fresh temporary directory. The tamper cases edit the databases with
 * sqlite3 directly, as someone holding the files would (dropping the
 * append-only triggers first, as they could), and check that verify names
 * the right seq. The last group checks that no field outgrows its bound.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "tmpdir.h"
#include <sqlite3.h>

#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/crypto.h"
#include "kura/store.h"

#define MAX_ENTRIES 64

struct fx {
	char dir[256];
	char mk[300];
	struct kura_keyring *k;
	struct kura_store *s;
};

static void
reopen(struct fx *f)
{
	char err[256] = "";

	kura_store_close(f->s);
	f->s = NULL;
	assert_int_equal(
		kura_store_open(&kura_store_sqlite_ops, f->dir, 4, &f->s, err, sizeof(err)), KURA_OK);
}

static void
close_store(struct fx *f)
{
	kura_store_close(f->s);
	f->s = NULL;
}

static void
make_tenant(struct fx *f, const char *id)
{
	struct kura_tenant t;
	uint8_t w[KURA_WRAPPED_KEY_BYTES];

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.name, sizeof(t.name), "%s", id);
	t.key_version = 1;
	t.created_at = t.updated_at = 1700000000000000;
	assert_int_equal(kura_dek_new_wrapped(f->k, t.id, 1, w), KURA_OK);
	assert_int_equal(kura_store_tenant_create(f->s, &t, w, sizeof(w)), KURA_OK);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256] = "";

	if (f == NULL || kura_crypto_init() != KURA_OK)
		return -1;
	if (kura_test_mkdtemp(f->dir, sizeof(f->dir), "kura-audit") != 0)
		return -1;
	snprintf(f->mk, sizeof(f->mk), "%s/master.key", f->dir);
	if (kura_master_key_create(f->mk) != KURA_OK ||
	    kura_keyring_open(f->mk, &f->k, err, sizeof(err)) != KURA_OK ||
	    kura_store_open(&kura_store_sqlite_ops, f->dir, 4, &f->s, err, sizeof(err)) != KURA_OK)
		return -1;
	*state = f;
	make_tenant(f, "acme");
	make_tenant(f, "globex");
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	kura_store_close(f->s);
	kura_keyring_free(f->k);
	kura_test_rmtree(f->dir);
	free(f);
	return 0;
}

static struct kura_tenant_db *
acquire(struct fx *f, const char *tenant)
{
	struct kura_tenant_db *db = NULL;

	assert_int_equal(kura_store_tenant_acquire(f->s, tenant, &db), KURA_OK);
	return db;
}

/* Entry i of a test log: fields vary with i so that the filters can tell them apart. */
static void
entry_init(struct kura_audit_entry *e, int i)
{
	static const char *const actions[] = {"auth.login", "auth.logout", "users.create",
					      "auth.password_change", "records.read"};

	memset(e, 0, sizeof(*e));
	e->ts_us = 1700000000000000 + (int64_t)i * 1000000;
	e->actor_type = i % 4 == 0 ? KURA_ACTOR_ANONYMOUS : KURA_ACTOR_USER;
	e->actor_id = i % 4 == 0 ? 0 : 10 + i % 3;
	snprintf(e->actor_email, sizeof(e->actor_email), "user%d@example.com", i % 3);
	snprintf(e->actor_role, sizeof(e->actor_role), "admin");
	snprintf(e->ip, sizeof(e->ip), i % 2 ? "192.0.2.%d" : "2001:db8::%d", i % 5);
	snprintf(e->user_agent, sizeof(e->user_agent), "Mozilla/5.0 (test %d)", i);
	snprintf(e->request_id, sizeof(e->request_id), "%016x", 0xabc00u + (unsigned)i);
	snprintf(e->action, sizeof(e->action), "%s", actions[i % 5]);
	snprintf(e->target_type, sizeof(e->target_type), i % 2 ? "user" : "session");
	snprintf(e->target_id, sizeof(e->target_id), "%d", 500 + i % 4);
	snprintf(e->target_props, sizeof(e->target_props), "%s", i % 5 == 4 ? "email,phone" : "");
	e->outcome = i % 6 == 5 ? KURA_AUDIT_DENIED : KURA_AUDIT_SUCCESS;
	if (e->outcome != KURA_AUDIT_SUCCESS)
		snprintf(e->error_code, sizeof(e->error_code), "forbidden");
}

/* Appends entries first..last (numbered as entry_init numbers them). */
static void
append_range(struct fx *f, int first, int last)
{
	struct kura_tenant_db *db = acquire(f, "acme");
	struct kura_audit_entry e;
	int i;

	for (i = first; i <= last; i++) {
		entry_init(&e, i);
		assert_int_equal(kura_audit_append(db, &e), KURA_OK);
		assert_int_equal(e.seq, i);
	}
	kura_store_tenant_release(db);
}

static void
expect_intact(struct fx *f, int64_t entries, int64_t seals)
{
	struct kura_audit_report r;

	assert_int_equal(kura_audit_verify(f->s, f->k, "acme", &r), KURA_OK);
	assert_int_equal(r.first_bad_seq, 0);
	assert_string_equal(r.problem, "");
	assert_int_equal(r.entries, entries);
	assert_int_equal(r.seals, seals);
}

static void
expect_broken(struct fx *f, int64_t seq, const char *words)
{
	struct kura_audit_report r;

	assert_int_equal(kura_audit_verify(f->s, f->k, "acme", &r), KURA_E_CONFLICT);
	if (r.first_bad_seq != seq || strstr(r.problem, words) == NULL)
		fprintf(stderr, "verify said: seq %lld: %s\n", (long long)r.first_bad_seq,
			r.problem);
	assert_int_equal(r.first_bad_seq, seq);
	assert_non_null(strstr(r.problem, words));
}

static void
seal(struct fx *f)
{
	assert_int_equal(kura_audit_seal(f->s, f->k, "acme"), KURA_OK);
}

/* Runs sql on a database file directly, as an attacker with the files would. */
static void
raw_exec(struct fx *f, const char *file, const char *sql)
{
	char path[600];
	sqlite3 *db = NULL;
	char *msg = NULL;

	close_store(f);
	snprintf(path, sizeof(path), "%s/%s", f->dir, file);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
	reopen(f);
}

static void
tamper(struct fx *f, const char *sql)
{
	char buf[2048];

	snprintf(buf, sizeof(buf),
		 "DROP TRIGGER IF EXISTS audit_log_no_update;"
		 "DROP TRIGGER IF EXISTS audit_log_no_delete;%s",
		 sql);
	raw_exec(f, "tenants/acme/tenant.db", buf);
}

static void
tamper_system(struct fx *f, const char *sql)
{
	char buf[2048];

	snprintf(buf, sizeof(buf), "DROP TRIGGER IF EXISTS audit_seals_no_update;%s", sql);
	raw_exec(f, "system.db", buf);
}

/* Inserts a seal row into system.db directly. */
static void
put_raw_seal(struct fx *f, const char *tenant, int64_t seq, const uint8_t hash[32],
	     const uint8_t mac[32])
{
	char path[600];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	close_store(f);
	snprintf(path, sizeof(path), "%s/system.db", f->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "INSERT INTO audit_seals (tenant_id, seq, hash, mac, "
					    "sealed_at) VALUES (?, ?, ?, ?, 1)",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_blob(st, 3, hash, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, mac, 32, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	reopen(f);
}

/* Field by field: struct padding is not part of an entry. */
static void
assert_entry_equal(const struct kura_audit_entry *a, const struct kura_audit_entry *b)
{
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->ts_us, b->ts_us);
	assert_int_equal(a->actor_type, b->actor_type);
	assert_int_equal(a->actor_id, b->actor_id);
	assert_string_equal(a->actor_email, b->actor_email);
	assert_string_equal(a->actor_role, b->actor_role);
	assert_string_equal(a->ip, b->ip);
	assert_string_equal(a->user_agent, b->user_agent);
	assert_string_equal(a->request_id, b->request_id);
	assert_string_equal(a->action, b->action);
	assert_string_equal(a->target_type, b->target_type);
	assert_string_equal(a->target_id, b->target_id);
	assert_string_equal(a->target_props, b->target_props);
	assert_int_equal(a->outcome, b->outcome);
	assert_string_equal(a->error_code, b->error_code);
	assert_memory_equal(a->prev_hash, b->prev_hash, 32);
	assert_memory_equal(a->hash, b->hash, 32);
}

struct all {
	int n;
	struct kura_audit_entry e[MAX_ENTRIES];
};

static bool
collect_all(void *ctx, const struct kura_audit_entry *e)
{
	struct all *a = ctx;

	assert_true(a->n < MAX_ENTRIES);
	a->e[a->n++] = *e;
	return true;
}

static void
read_all(struct fx *f, const char *tenant, struct all *a)
{
	struct kura_tenant_db *db = acquire(f, tenant);

	memset(a, 0, sizeof(*a));
	assert_int_equal(kura_store_audit_scan(db, 1, collect_all, a), KURA_OK);
	kura_store_tenant_release(db);
}

static void
chain_hash(const struct kura_audit_entry *e, const uint8_t prev[32], uint8_t out[32])
{
	char *c = kura_audit_canonical(e);
	uint8_t *buf;
	size_t n;

	assert_non_null(c);
	n = strlen(c);
	buf = malloc(n + 32);
	assert_non_null(buf);
	memcpy(buf, c, n);
	memcpy(buf + n, prev, 32);
	kura_sha256(buf, n + 32, out);
	free(buf);
	free(c);
}

/*
 * What an attacker without the master key can do best: after an edit,
 * recompute prev_hash and hash of every entry from seq `from` on, so that
 * the chain itself checks out again.
 */
static void
forge_chain(struct fx *f, int64_t from)
{
	static const uint8_t zero[32];
	struct all *a = calloc(1, sizeof(*a));
	char path[600];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int i;

	assert_non_null(a);
	read_all(f, "acme", a);
	close_store(f);
	snprintf(path, sizeof(path), "%s/tenants/acme/tenant.db", f->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER IF EXISTS audit_log_no_update", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "UPDATE audit_log SET prev_hash = ?, hash = ? "
					    "WHERE seq = ?",
					    -1, &st, NULL),
			 SQLITE_OK);
	for (i = (int)from - 1; i < a->n; i++) {
		struct kura_audit_entry *e = &a->e[i];

		memcpy(e->prev_hash, i > 0 ? a->e[i - 1].hash : zero, 32);
		chain_hash(e, e->prev_hash, e->hash);
		sqlite3_bind_blob(st, 1, e->prev_hash, 32, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, e->hash, 32, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, e->seq);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(a);
	reopen(f);
}

/* ---------------------------------------------------------------- the chain */

static void
test_chain(void **state)
{
	static const uint8_t zero[32];
	struct fx *f = *state;
	struct all *a = calloc(1, sizeof(*a));
	struct kura_tenant_db *db;
	struct kura_audit_entry e;
	uint8_t h[32];
	int64_t seq = 0;
	int i;

	assert_non_null(a);
	expect_intact(f, 0, 0);
	append_range(f, 1, 12);
	read_all(f, "acme", a);
	assert_int_equal(a->n, 12);
	for (i = 0; i < a->n; i++) {
		assert_int_equal(a->e[i].seq, i + 1);
		assert_memory_equal(a->e[i].prev_hash, i > 0 ? a->e[i - 1].hash : zero, 32);
		chain_hash(&a->e[i], a->e[i].prev_hash, h);
		assert_memory_equal(a->e[i].hash, h, 32);
		/* What was stored is what append was given. */
		entry_init(&e, i + 1);
		e.seq = i + 1;
		memcpy(e.prev_hash, a->e[i].prev_hash, 32);
		memcpy(e.hash, a->e[i].hash, 32);
		assert_entry_equal(&a->e[i], &e);
	}
	/* ts_us 0 is filled in with now. */
	db = acquire(f, "acme");
	entry_init(&e, 13);
	e.ts_us = 0;
	assert_int_equal(kura_audit_append(db, &e), KURA_OK);
	assert_int_equal(e.seq, 13);
	assert_true(e.ts_us > 1700000000000000);
	assert_memory_equal(e.prev_hash, a->e[11].hash, 32);
	assert_int_equal(kura_store_audit_head(db, &seq, h), KURA_OK);
	assert_int_equal(seq, 13);
	assert_memory_equal(h, e.hash, 32);
	kura_store_tenant_release(db);
	expect_intact(f, 13, 0);

	/* Another tenant's chain is its own, from seq 1. */
	db = acquire(f, "globex");
	entry_init(&e, 1);
	assert_int_equal(kura_audit_append(db, &e), KURA_OK);
	assert_int_equal(e.seq, 1);
	assert_memory_equal(e.prev_hash, zero, 32);
	kura_store_tenant_release(db);
	free(a);
}

/*
 * The canonical form is what every stored hash depends on: if this test
 * has to change, every existing chain stops verifying.
 */
static void
test_canonical_form(void **state)
{
	struct kura_audit_entry e;
	char *c;
	size_t i;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.seq = 7;
	e.ts_us = 1700000000123456;
	e.actor_type = KURA_ACTOR_USER;
	e.actor_id = 42;
	snprintf(e.actor_email, sizeof(e.actor_email), "alice@example.com");
	snprintf(e.actor_role, sizeof(e.actor_role), "admin");
	snprintf(e.ip, sizeof(e.ip), "192.0.2.1");
	snprintf(e.user_agent, sizeof(e.user_agent), "Q\"\\ \xe8\x94\xb5/");
	snprintf(e.request_id, sizeof(e.request_id), "0123456789abcdef");
	snprintf(e.action, sizeof(e.action), "auth.login");
	snprintf(e.target_type, sizeof(e.target_type), "user");
	snprintf(e.target_id, sizeof(e.target_id), "42");
	snprintf(e.target_props, sizeof(e.target_props), "email,role");
	e.outcome = KURA_AUDIT_DENIED;
	snprintf(e.error_code, sizeof(e.error_code), "forbidden");
	for (i = 0; i < 32; i++)
		e.prev_hash[i] = (uint8_t)(0xa0 + i);
	memset(e.hash, 0xff, sizeof(e.hash)); /* never part of the form */

	c = kura_audit_canonical(&e);
	assert_non_null(c);
	assert_string_equal(
		c, "{\"action\":\"auth.login\",\"actor_email\":\"alice@example.com\","
		   "\"actor_id\":42,\"actor_role\":\"admin\",\"actor_type\":1,"
		   "\"error_code\":\"forbidden\",\"ip\":\"192.0.2.1\",\"outcome\":1,"
		   "\"prev_hash\":\"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
		   "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf\","
		   "\"request_id\":\"0123456789abcdef\",\"seq\":7,\"target_id\":\"42\","
		   "\"target_props\":\"email,role\",\"target_type\":\"user\","
		   "\"ts_us\":1700000000123456,\"user_agent\":\"Q\\\"\\\\ \xe8\x94\xb5/\"}");
	free(c);

	/* A string that is not UTF-8 has no canonical form (append never stores one). */
	e.ip[0] = (char)0xff;
	assert_null(kura_audit_canonical(&e));
	assert_null(kura_audit_canonical(NULL));
}

/* What jansson makes of e: the definition of the canonical form. */
static char *
jansson_form(const struct kura_audit_entry *e)
{
	char prev[65];
	json_t *o;
	char *s;

	for (int i = 0; i < 32; i++)
		snprintf(prev + 2 * i, 3, "%02x", e->prev_hash[i]);
	o = json_pack("{s:I,s:I,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s}", "seq",
		      (json_int_t)e->seq, "ts_us", (json_int_t)e->ts_us, "actor_type",
		      (json_int_t)e->actor_type, "actor_id", (json_int_t)e->actor_id,
		      "actor_email", e->actor_email, "actor_role", e->actor_role, "ip", e->ip,
		      "user_agent", e->user_agent, "request_id", e->request_id, "action",
		      e->action, "target_type", e->target_type, "target_id", e->target_id,
		      "target_props", e->target_props, "outcome", (json_int_t)e->outcome,
		      "error_code", e->error_code, "prev_hash", prev);
	assert_non_null(o);
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	assert_non_null(s);
	return s;
}

/* A random string of valid UTF-8 into s[cap]: ASCII (every byte 1..127), 2-, 3- and 4-byte characters. */
static void
random_utf8(char *s, size_t cap, unsigned *seed)
{
	static const char *const multi[] = {"\xc2\x80", "\xc3\xa9", "\xe3\x81\x82", "\xe8\x94\xb5",
					    "\xef\xbf\xbd", "\xe2\x80\xa8", "\xf0\x9f\x98\x80"};
	size_t len = 0, want = (size_t)rand_r(seed) % cap;

	while (len < want) {
		if (rand_r(seed) % 3 != 0) {
			s[len++] = (char)(1 + rand_r(seed) % 127);
			continue;
		}
		const char *m = multi[(size_t)rand_r(seed) % (sizeof(multi) / sizeof(multi[0]))];
		size_t n = strlen(m);

		if (len + n >= cap)
			break;
		memcpy(s + len, m, n);
		len += n;
	}
	s[len < cap ? len : cap - 1] = '\0';
}

#define RANDOM_FIELD(e, f, seed) random_utf8((e)->f, sizeof((e)->f), (seed))

/*
 * The canonical form is written without jansson (it is the hash's input):
 * it must be, byte for byte, what jansson's compact, key-sorted dump makes
 * of the entry: for every ASCII character (controls escaped as jansson
 * escapes them), multi-byte characters, extreme integers and random
 * entries.
 */
static void
test_canonical_form_is_jansson(void **state)
{
	struct kura_audit_entry e;
	unsigned seed = 20261206;
	char *mine, *ref;

	(void)state;
	for (int ch = 1; ch < 128; ch++) {
		memset(&e, 0, sizeof(e));
		snprintf(e.action, sizeof(e.action), "a%cb%c", ch, ch);
		e.user_agent[0] = (char)ch;
		mine = kura_audit_canonical(&e);
		ref = jansson_form(&e);
		assert_non_null(mine);
		assert_string_equal(mine, ref);
		free(mine);
		free(ref);
	}
	for (int round = 0; round < 2000; round++) {
		memset(&e, 0, sizeof(e));
		e.seq = round == 0 ? INT64_MAX : (int64_t)rand_r(&seed);
		e.ts_us = round == 1 ? INT64_MIN : -(int64_t)rand_r(&seed) * 1000003;
		e.actor_type = (enum kura_actor_type)(rand_r(&seed) % 5);
		e.actor_id = round == 2 ? INT64_MIN : (int64_t)rand_r(&seed) - RAND_MAX / 2;
		e.outcome = (enum kura_audit_outcome)(rand_r(&seed) % 3);
		RANDOM_FIELD(&e, actor_email, &seed);
		RANDOM_FIELD(&e, actor_role, &seed);
		RANDOM_FIELD(&e, ip, &seed);
		RANDOM_FIELD(&e, user_agent, &seed);
		RANDOM_FIELD(&e, request_id, &seed);
		RANDOM_FIELD(&e, action, &seed);
		RANDOM_FIELD(&e, target_type, &seed);
		RANDOM_FIELD(&e, target_id, &seed);
		RANDOM_FIELD(&e, target_props, &seed);
		RANDOM_FIELD(&e, error_code, &seed);
		for (int i = 0; i < 32; i++)
			e.prev_hash[i] = (uint8_t)rand_r(&seed);
		mine = kura_audit_canonical(&e);
		ref = jansson_form(&e);
		assert_non_null(mine);
		assert_string_equal(mine, ref);
		free(mine);
		free(ref);
	}
	/* A form longer than the stack buffer: every string full of escapes. */
	memset(&e, 0, sizeof(e));
	memset(e.target_props, '\x01', sizeof(e.target_props) - 1);
	memset(e.user_agent, '"', sizeof(e.user_agent) - 1);
	memset(e.actor_email, '\x1f', sizeof(e.actor_email) - 1);
	mine = kura_audit_canonical(&e);
	ref = jansson_form(&e);
	assert_true(strlen(ref) > 4096);
	assert_string_equal(mine, ref);
	free(mine);
	free(ref);
}

/* ---------------------------------------------------------------- transactions */

static void
test_append_joins_transaction(void **state)
{
	struct fx *f = *state;
	struct kura_tenant_db *db = acquire(f, "acme");
	struct kura_audit_entry e;
	struct kura_user u, got;
	uint8_t h[32];
	int64_t seq = -1;

	/* Rolled back: neither the change nor its record remains. */
	assert_int_equal(kura_store_begin(db), KURA_OK);
	memset(&u, 0, sizeof(u));
	snprintf(u.email, sizeof(u.email), "gone@example.com");
	snprintf(u.role, sizeof(u.role), "member");
	assert_int_equal(kura_store_user_create(db, &u), KURA_OK);
	entry_init(&e, 1);
	snprintf(e.action, sizeof(e.action), "users.create");
	assert_int_equal(kura_audit_append(db, &e), KURA_OK);
	assert_int_equal(e.seq, 1);
	/* Joined, not committed: the caller's transaction is still open. */
	assert_true(kura_store_in_transaction(db));
	kura_store_rollback(db);
	assert_int_equal(kura_store_user_get_by_email(db, "gone@example.com", &got),
			 KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_audit_head(db, &seq, h), KURA_OK);
	assert_int_equal(seq, 0);

	/* Committed: both, and the next entry chains on. */
	assert_int_equal(kura_store_begin(db), KURA_OK);
	memset(&u, 0, sizeof(u));
	snprintf(u.email, sizeof(u.email), "kept@example.com");
	snprintf(u.role, sizeof(u.role), "member");
	assert_int_equal(kura_store_user_create(db, &u), KURA_OK);
	entry_init(&e, 1);
	assert_int_equal(kura_audit_append(db, &e), KURA_OK);
	assert_int_equal(e.seq, 1);
	entry_init(&e, 2);
	assert_int_equal(kura_audit_append(db, &e), KURA_OK);
	assert_int_equal(e.seq, 2);
	assert_int_equal(kura_store_commit(db), KURA_OK);
	assert_false(kura_store_in_transaction(db));
	assert_int_equal(kura_store_user_get_by_email(db, "kept@example.com", &got), KURA_OK);
	assert_int_equal(kura_store_audit_head(db, &seq, h), KURA_OK);
	assert_int_equal(seq, 2);
	/* On its own it commits by itself. */
	entry_init(&e, 3);
	assert_int_equal(kura_audit_append(db, &e), KURA_OK);
	assert_false(kura_store_in_transaction(db));
	kura_store_tenant_release(db);
	expect_intact(f, 3, 0);
}

/* ---------------------------------------------------------------- queries */

struct seen {
	int n;
	int64_t seq[MAX_ENTRIES];
};

static bool
collect_seq(void *ctx, const struct kura_audit_entry *e)
{
	struct seen *sn = ctx;

	assert_true(sn->n < MAX_ENTRIES);
	sn->seq[sn->n++] = e->seq;
	return true;
}

/* Every seq of the 30-entry test log for which pred holds, newest first. */
static void
expect_matching(struct kura_tenant_db *db, const struct kura_audit_filter *flt,
		bool (*pred)(const struct kura_audit_entry *e, const void *arg), const void *arg)
{
	struct seen sn;
	struct kura_audit_entry e;
	int i, j = 0;

	memset(&sn, 0, sizeof(sn));
	assert_int_equal(kura_audit_query(db, flt, collect_seq, &sn), KURA_OK);
	for (i = 30; i >= 1; i--) {
		entry_init(&e, i);
		if (!pred(&e, arg))
			continue;
		assert_true(j < sn.n);
		assert_int_equal(sn.seq[j], i);
		j++;
	}
	assert_int_equal(sn.n, j);
}

static bool
p_time(const struct kura_audit_entry *e, const void *arg)
{
	const int64_t *r = arg;

	return e->ts_us >= r[0] && e->ts_us < r[1];
}

static bool
p_actor(const struct kura_audit_entry *e, const void *arg)
{
	return e->actor_id == *(const int64_t *)arg;
}

static bool
p_email(const struct kura_audit_entry *e, const void *arg)
{
	return strcmp(e->actor_email, arg) == 0;
}

static bool
p_action(const struct kura_audit_entry *e, const void *arg)
{
	return strcmp(e->action, arg) == 0;
}

static bool
p_action_prefix(const struct kura_audit_entry *e, const void *arg)
{
	return strncmp(e->action, arg, strlen(arg)) == 0;
}

static bool
p_target(const struct kura_audit_entry *e, const void *arg)
{
	return strcmp(e->target_type, "user") == 0 && strcmp(e->target_id, arg) == 0;
}

static bool
p_outcome(const struct kura_audit_entry *e, const void *arg)
{
	return (int)e->outcome == *(const int *)arg;
}

static bool
p_ip(const struct kura_audit_entry *e, const void *arg)
{
	return strcmp(e->ip, arg) == 0;
}

static void
test_query_filters(void **state)
{
	struct fx *f = *state;
	struct kura_tenant_db *db;
	struct kura_audit_filter flt;
	struct seen sn, page;
	int64_t range[2], actor = 11;
	int outcome = KURA_AUDIT_DENIED, pages = 0, i;

	append_range(f, 1, 30);
	db = acquire(f, "acme");

	kura_audit_filter_init(&flt);
	assert_int_equal(flt.outcome, -1);
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(kura_audit_query(db, &flt, collect_seq, &sn), KURA_OK);
	assert_int_equal(sn.n, 30);
	assert_int_equal(sn.seq[0], 30);
	assert_int_equal(sn.seq[29], 1);

	range[0] = 1700000000000000 + 5 * 1000000;
	range[1] = 1700000000000000 + 12 * 1000000;
	flt.from_us = range[0];
	flt.to_us = range[1];
	expect_matching(db, &flt, p_time, range);

	kura_audit_filter_init(&flt);
	flt.actor_id = actor;
	expect_matching(db, &flt, p_actor, &actor);

	kura_audit_filter_init(&flt);
	snprintf(flt.actor_email, sizeof(flt.actor_email), "USER2@example.com");
	expect_matching(db, &flt, p_email, "user2@example.com");

	kura_audit_filter_init(&flt);
	snprintf(flt.action, sizeof(flt.action), "auth.login");
	expect_matching(db, &flt, p_action, "auth.login");
	snprintf(flt.action, sizeof(flt.action), "auth.*");
	expect_matching(db, &flt, p_action_prefix, "auth.");
	snprintf(flt.action, sizeof(flt.action), "auth.pass*");
	expect_matching(db, &flt, p_action_prefix, "auth.pass");
	/* Wildcards of LIKE are plain characters here. */
	snprintf(flt.action, sizeof(flt.action), "auth_%%*");
	expect_matching(db, &flt, p_action_prefix, "auth_%");
	snprintf(flt.action, sizeof(flt.action), "Auth.*");
	expect_matching(db, &flt, p_action_prefix, "Auth.");

	kura_audit_filter_init(&flt);
	snprintf(flt.target_type, sizeof(flt.target_type), "user");
	snprintf(flt.target_id, sizeof(flt.target_id), "501");
	expect_matching(db, &flt, p_target, "501");

	kura_audit_filter_init(&flt);
	flt.outcome = outcome;
	expect_matching(db, &flt, p_outcome, &outcome);

	kura_audit_filter_init(&flt);
	snprintf(flt.ip, sizeof(flt.ip), "192.0.2.3");
	expect_matching(db, &flt, p_ip, "192.0.2.3");

	/* Cursor paging: limit 7, before_seq = last seen, until a short page. */
	kura_audit_filter_init(&flt);
	flt.limit = 7;
	memset(&sn, 0, sizeof(sn));
	for (;;) {
		memset(&page, 0, sizeof(page));
		assert_int_equal(kura_audit_query(db, &flt, collect_seq, &page), KURA_OK);
		assert_true(page.n <= 7);
		for (i = 0; i < page.n; i++)
			sn.seq[sn.n++] = page.seq[i];
		pages++;
		if (page.n < 7)
			break;
		flt.before_seq = page.seq[page.n - 1];
	}
	assert_int_equal(pages, 5);
	assert_int_equal(sn.n, 30);
	for (i = 0; i < 30; i++)
		assert_int_equal(sn.seq[i], 30 - i);

	kura_audit_filter_init(&flt);
	flt.outcome = 3;
	assert_int_equal(kura_audit_query(db, &flt, collect_seq, &sn), KURA_E_VALIDATION);
	assert_int_equal(kura_audit_query(NULL, &flt, collect_seq, &sn), KURA_E_INTERNAL);
	kura_store_tenant_release(db);
}

/*
 * Queries by target read audit_log_target run by run (65,536 entries,
 * tenant migration 17): a log of three runs, with one target's entries on
 * both sides of each boundary, answers whole and newest first, paged or
 * not, alone or with another filter, and the index is the one the
 * migration made.
 */
#define RUNS_LOG 140000

static const int64_t target_seqs[] = {140000, 139999, 131072, 131071, 100000,
				      65537,  65536,  65535,  2};

static bool
p_run_target(int64_t seq)
{
	for (size_t i = 0; i < sizeof(target_seqs) / sizeof(target_seqs[0]); i++)
		if (target_seqs[i] == seq)
			return true;
	return false;
}

static void
expect_run_answer(struct kura_tenant_db *db, struct kura_audit_filter *flt, int limit,
		  const int64_t *want, int nwant)
{
	struct seen sn, page;
	int i, pages = 0;

	memset(&sn, 0, sizeof(sn));
	flt->limit = limit;
	flt->before_seq = 0;
	for (;;) {
		memset(&page, 0, sizeof(page));
		assert_int_equal(kura_audit_query(db, flt, collect_seq, &page), KURA_OK);
		assert_true(limit == 0 || page.n <= limit);
		for (i = 0; i < page.n; i++) {
			assert_true(sn.n < MAX_ENTRIES);
			sn.seq[sn.n++] = page.seq[i];
		}
		pages++;
		if (limit == 0 || page.n < limit)
			break;
		flt->before_seq = page.seq[page.n - 1];
	}
	assert_int_equal(sn.n, nwant);
	for (i = 0; i < nwant; i++)
		assert_int_equal(sn.seq[i], want[i]);
	if (limit > 0)
		assert_int_equal(pages, nwant / limit + 1);
}

static void
test_query_by_target_across_runs(void **state)
{
	struct fx *f = *state;
	struct kura_tenant_db *db = acquire(f, "acme");
	struct kura_audit_entry e;
	struct kura_audit_filter flt;
	int64_t odd[16], all[16];
	int nodd = 0, nall = (int)(sizeof(target_seqs) / sizeof(target_seqs[0])), i;
	char path[600], *plan = NULL;
	sqlite3 *raw = NULL;
	sqlite3_stmt *st = NULL;

	assert_int_equal(kura_store_begin(db), KURA_OK);
	for (i = 1; i <= RUNS_LOG; i++) {
		memset(&e, 0, sizeof(e));
		e.ts_us = 1700000000000000 + i;
		e.actor_type = KURA_ACTOR_USER;
		e.actor_id = i % 2 ? 11 : 12;
		snprintf(e.action, sizeof(e.action), "record.read_sensitive");
		snprintf(e.target_type, sizeof(e.target_type), "contacts");
		if (p_run_target(i))
			snprintf(e.target_id, sizeof(e.target_id), "7");
		else
			snprintf(e.target_id, sizeof(e.target_id), "%d", 1000 + i % 5000);
		e.outcome = KURA_AUDIT_SUCCESS;
		assert_int_equal(kura_audit_append(db, &e), KURA_OK);
		assert_int_equal(e.seq, i);
	}
	assert_int_equal(kura_store_commit(db), KURA_OK);
	memcpy(all, target_seqs, sizeof(target_seqs));
	for (i = 0; i < nall; i++)
		if (all[i] % 2)
			odd[nodd++] = all[i];

	kura_audit_filter_init(&flt);
	snprintf(flt.target_type, sizeof(flt.target_type), "contacts");
	snprintf(flt.target_id, sizeof(flt.target_id), "7");
	expect_run_answer(db, &flt, 0, all, nall);
	/* pages of 2 and 4 end on either side of the runs' boundaries */
	expect_run_answer(db, &flt, 2, all, nall);
	expect_run_answer(db, &flt, 4, all, nall);
	expect_run_answer(db, &flt, 50, all, nall);
	/* with another filter: actor 11 made the odd seqs */
	flt.actor_id = 11;
	expect_run_answer(db, &flt, 0, odd, nodd);
	expect_run_answer(db, &flt, 3, odd, nodd);
	/* a cursor far past the end starts at the newest entry */
	kura_audit_filter_init(&flt);
	snprintf(flt.target_type, sizeof(flt.target_type), "contacts");
	snprintf(flt.target_id, sizeof(flt.target_id), "7");
	flt.before_seq = INT64_MAX;
	{
		struct seen sn;

		memset(&sn, 0, sizeof(sn));
		assert_int_equal(kura_audit_query(db, &flt, collect_seq, &sn), KURA_OK);
		assert_int_equal(sn.n, nall);
		assert_int_equal(sn.seq[0], 140000);
		/* from the middle of a run, at a boundary, and from the first entry */
		flt.before_seq = 131072;
		memset(&sn, 0, sizeof(sn));
		assert_int_equal(kura_audit_query(db, &flt, collect_seq, &sn), KURA_OK);
		assert_int_equal(sn.n, nall - 3);
		assert_int_equal(sn.seq[0], 131071);
		flt.before_seq = 2;
		memset(&sn, 0, sizeof(sn));
		assert_int_equal(kura_audit_query(db, &flt, collect_seq, &sn), KURA_OK);
		assert_int_equal(sn.n, 0);
		/* a target no entry has */
		flt.before_seq = 0;
		snprintf(flt.target_id, sizeof(flt.target_id), "70");
		assert_int_equal(kura_audit_query(db, &flt, collect_seq, &sn), KURA_OK);
		assert_int_equal(sn.n, 0);
	}
	kura_store_tenant_release(db);

	/* The planner answers such a query from the run-led index. */
	close_store(f);
	snprintf(path, sizeof(path), "%s/tenants/acme/tenant.db", f->dir);
	assert_int_equal(sqlite3_open_v2(path, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw,
					    "EXPLAIN QUERY PLAN SELECT seq FROM audit_log WHERE "
					    "target_type = 'contacts' AND target_id = '7' AND "
					    "(seq >> 16) = 1 ORDER BY seq DESC",
					    -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 3);

		if (d != NULL && strstr(d, "audit_log_target") != NULL)
			plan = strdup(d);
	}
	sqlite3_finalize(st);
	sqlite3_close(raw);
	reopen(f);
	assert_non_null(plan);
	assert_non_null(strstr(plan, "<expr>=?"));
	free(plan);
}

/* ---------------------------------------------------------------- seals and verify */

struct seals {
	int n;
	struct kura_audit_seal s[16];
};

static bool
collect_seal(void *ctx, const struct kura_audit_seal *s)
{
	struct seals *ss = ctx;

	assert_true(ss->n < 16);
	ss->s[ss->n++] = *s;
	return true;
}

static void
test_seal_and_verify(void **state)
{
	struct fx *f = *state;
	struct kura_audit_report r;
	struct seals ss;
	struct all *a = calloc(1, sizeof(*a));
	uint8_t mac[32];

	assert_non_null(a);
	/* An empty log: nothing to seal, and intact. */
	seal(f);
	memset(&ss, 0, sizeof(ss));
	assert_int_equal(kura_store_seal_list(f->s, "acme", collect_seal, &ss), KURA_OK);
	assert_int_equal(ss.n, 0);

	append_range(f, 1, 5);
	seal(f);
	seal(f); /* nothing new: no second seal */
	append_range(f, 6, 8);
	seal(f);
	memset(&ss, 0, sizeof(ss));
	assert_int_equal(kura_store_seal_list(f->s, "acme", collect_seal, &ss), KURA_OK);
	assert_int_equal(ss.n, 2);
	assert_int_equal(ss.s[0].seq, 5);
	assert_int_equal(ss.s[1].seq, 8);
	read_all(f, "acme", a);
	assert_memory_equal(ss.s[0].hash, a->e[4].hash, 32);
	assert_memory_equal(ss.s[1].hash, a->e[7].hash, 32);
	kura_audit_seal_mac(f->k, "acme", 8, a->e[7].hash, mac);
	assert_memory_equal(ss.s[1].mac, mac, 32);
	expect_intact(f, 8, 2);
	/* Entries appended after the last seal are checked by the chain alone. */
	append_range(f, 9, 10);
	expect_intact(f, 10, 2);

	/* Misuse and a missing tenant: an error, and the report left zeroed. */
	memset(&r, 0x55, sizeof(r));
	assert_int_equal(kura_audit_verify(f->s, f->k, "nope", &r), KURA_E_NOT_FOUND);
	assert_int_equal(r.entries, 0);
	assert_int_equal(r.first_bad_seq, 0);
	assert_string_equal(r.problem, "");
	assert_int_equal(kura_audit_verify(f->s, NULL, "acme", &r), KURA_E_INTERNAL);
	assert_int_equal(kura_audit_seal(f->s, f->k, "nope"), KURA_E_NOT_FOUND);
	assert_int_equal(kura_audit_seal(f->s, NULL, "acme"), KURA_E_INTERNAL);
	free(a);
}

static void
test_tamper_edit_field(void **state)
{
	struct fx *f = *state;

	append_range(f, 1, 10);
	seal(f);
	tamper(f, "UPDATE audit_log SET actor_email = 'mallory@example.com' WHERE seq = 5");
	expect_broken(f, 5, "altered");
}

static void
test_tamper_edit_hash_only(void **state)
{
	struct fx *f = *state;

	append_range(f, 1, 10);
	tamper(f, "UPDATE audit_log SET outcome = 0, error_code = '' WHERE seq = 5;"
		  "UPDATE audit_log SET ts_us = ts_us + 1 WHERE seq = 7");
	expect_broken(f, 5, "altered");
	/* A changed hash breaks the link to the next entry. */
	tamper(f, "UPDATE audit_log SET hash = zeroblob(32) WHERE seq = 3");
	expect_broken(f, 3, "altered");
}

static void
test_tamper_delete_middle(void **state)
{
	struct fx *f = *state;

	append_range(f, 1, 10);
	seal(f);
	tamper(f, "DELETE FROM audit_log WHERE seq = 5");
	expect_broken(f, 5, "entry 5 is missing");
	tamper(f, "DELETE FROM audit_log WHERE seq IN (2, 3)");
	expect_broken(f, 2, "entries 2 to 3 are missing");
	tamper(f, "DELETE FROM audit_log WHERE seq = 1");
	expect_broken(f, 1, "missing");
}

static void
test_tamper_reorder(void **state)
{
	struct fx *f = *state;

	append_range(f, 1, 10);
	/* Swap entries 4 and 5 by their seq: each keeps its own hashes. */
	tamper(f, "UPDATE audit_log SET seq = 1000 WHERE seq = 4;"
		  "UPDATE audit_log SET seq = 4 WHERE seq = 5;"
		  "UPDATE audit_log SET seq = 5 WHERE seq = 1000");
	expect_broken(f, 4, "prev_hash");
}

static void
test_tamper_truncate(void **state)
{
	struct fx *f = *state;

	append_range(f, 1, 10);
	seal(f);
	tamper(f, "DELETE FROM audit_log WHERE seq > 7");
	expect_broken(f, 8, "truncated");
	/* Everything gone: still the seal remembers. */
	tamper(f, "DELETE FROM audit_log");
	expect_broken(f, 1, "entries 1 to 10");
}

/* The limit, documented: what was never sealed can be cut without a trace. */
static void
test_truncate_after_last_seal_undetected(void **state)
{
	struct fx *f = *state;

	append_range(f, 1, 6);
	seal(f);
	append_range(f, 7, 10);
	tamper(f, "DELETE FROM audit_log WHERE seq > 6");
	expect_intact(f, 6, 1);
	tamper(f, "DELETE FROM audit_log WHERE seq > 5");
	expect_broken(f, 6, "truncated");
}

static void
test_tamper_forged_chain(void **state)
{
	struct fx *f = *state;

	append_range(f, 1, 6);
	seal(f);
	append_range(f, 7, 10);
	seal(f);
	/* An edit after the first seal, the chain recomputed over it. */
	tamper(f, "UPDATE audit_log SET actor_id = 999 WHERE seq = 8");
	expect_broken(f, 8, "altered");
	forge_chain(f, 8);
	expect_broken(f, 10, "entries after 6");
	/* An edit before the first seal: caught by that one. */
	tamper(f, "UPDATE audit_log SET ip = '203.0.113.9' WHERE seq = 2");
	forge_chain(f, 2);
	expect_broken(f, 6, "does not match its seal");
}

static void
test_tamper_forged_seal(void **state)
{
	struct fx *f = *state;
	struct kura_keyring *other = NULL;
	struct all *a = calloc(1, sizeof(*a));
	struct kura_tenant_db *db;
	struct kura_audit_entry e;
	struct seals ss;
	uint8_t mac[32];
	char path[600];
	int i;

	assert_non_null(a);
	append_range(f, 1, 10);
	seal(f);
	read_all(f, "acme", a);

	/* A seal with a made-up MAC. */
	kura_random_bytes(mac, sizeof(mac));
	put_raw_seal(f, "acme", 4, a->e[3].hash, mac);
	expect_broken(f, 4, "invalid MAC");
	tamper_system(f, "DELETE FROM audit_seals WHERE seq = 4");
	expect_intact(f, 10, 1);

	/* A seal made under another master key. */
	snprintf(path, sizeof(path), "%s/other.key", f->dir);
	assert_int_equal(kura_master_key_create(path), KURA_OK);
	assert_int_equal(kura_keyring_open(path, &other, NULL, 0), KURA_OK);
	kura_audit_seal_mac(other, "acme", 3, a->e[2].hash, mac);
	kura_keyring_free(other);
	put_raw_seal(f, "acme", 3, a->e[2].hash, mac);
	expect_broken(f, 3, "invalid MAC");
	tamper_system(f, "DELETE FROM audit_seals WHERE seq = 3");

	/* Another tenant's genuine seal, copied over: bound to its tenant. */
	db = acquire(f, "globex");
	for (i = 1; i <= 2; i++) {
		entry_init(&e, i);
		assert_int_equal(kura_audit_append(db, &e), KURA_OK);
	}
	kura_store_tenant_release(db);
	assert_int_equal(kura_audit_seal(f->s, f->k, "globex"), KURA_OK);
	memset(&ss, 0, sizeof(ss));
	assert_int_equal(kura_store_seal_list(f->s, "globex", collect_seal, &ss), KURA_OK);
	assert_int_equal(ss.n, 1);
	put_raw_seal(f, "acme", 2, ss.s[0].hash, ss.s[0].mac);
	expect_broken(f, 2, "invalid MAC");
	tamper_system(f, "DELETE FROM audit_seals WHERE tenant_id = 'acme' AND seq = 2");

	/* The genuine seal's hash moved to match a rewritten chain: the MAC no longer fits. */
	tamper_system(f, "UPDATE audit_seals SET hash = zeroblob(32) WHERE tenant_id = 'acme'");
	expect_broken(f, 10, "invalid MAC");
	free(a);
}

/* ---------------------------------------------------------------- bounds */

static void
test_field_bounds(void **state)
{
	struct fx *f = *state;
	struct kura_tenant_db *db = acquire(f, "acme");
	struct kura_audit_entry e, back;
	struct all *a = calloc(1, sizeof(*a));
	char big[67], *c;
	size_t i;

	assert_non_null(a);
	/* Every string filled to the last byte, no NUL anywhere. */
	memset(&e, 'A', sizeof(e));
	e.seq = 99;
	e.ts_us = 1;
	e.actor_type = KURA_ACTOR_SYSTEM;
	e.actor_id = 0;
	e.outcome = KURA_AUDIT_FAILED;
	assert_int_equal(kura_audit_append(db, &e), KURA_OK);
	assert_int_equal(e.seq, 1);
	assert_int_equal(strlen(e.actor_email), KURA_EMAIL_MAX);
	assert_int_equal(strlen(e.actor_role), KURA_ROLE_MAX);
	assert_int_equal(strlen(e.ip), KURA_IP_MAX);
	assert_int_equal(strlen(e.user_agent), KURA_UA_MAX);
	assert_int_equal(strlen(e.request_id), sizeof(e.request_id) - 1);
	assert_int_equal(strlen(e.action), KURA_AUDIT_ACTION_MAX);
	assert_int_equal(strlen(e.target_type), KURA_AUDIT_TARGET_TYPE_MAX);
	assert_int_equal(strlen(e.target_id), KURA_AUDIT_TARGET_ID_MAX);
	assert_int_equal(strlen(e.target_props), KURA_AUDIT_PROPS_MAX);
	assert_int_equal(strlen(e.error_code), KURA_AUDIT_CODE_MAX);

	/* A multi-byte character cut by the bound is dropped whole; bad bytes become '?'. */
	memset(&e, 0, sizeof(e));
	e.actor_type = KURA_ACTOR_USER;
	snprintf(e.action, sizeof(e.action), "records.read");
	/* 22 three-byte characters into 64 bytes: the 22nd is cut after its first byte. */
	for (i = 0; i < 22; i++)
		memcpy(big + 3 * i, "\xe8\x94\xb5", 3);
	big[66] = '\0';
	/* What a caller's byte-wise truncation does (memcpy: snprintf would warn). */
	memcpy(e.target_id, big, sizeof(e.target_id) - 1);
	e.target_id[sizeof(e.target_id) - 1] = '\0';
	snprintf(e.user_agent, sizeof(e.user_agent), "a\nb\x1b[31m\x7f\xc2\x85z");
	snprintf(e.actor_email, sizeof(e.actor_email), "x\xff\xfey\xc0\xafz\xed\xa0\x80");
	snprintf(e.target_props, sizeof(e.target_props), "caf\xc3\xa9,\xf0\x9f\x94\x91");
	snprintf(e.ip, sizeof(e.ip), "1.2.3.4\xe8\x94");
	assert_int_equal(kura_audit_append(db, &e), KURA_OK);
	assert_int_equal(strlen(e.target_id), 63);
	assert_memory_equal(e.target_id, "\xe8\x94\xb5\xe8\x94\xb5", 6);
	assert_string_equal(e.user_agent, "a?b?[31m???z");
	assert_string_equal(e.actor_email, "x??y??z???");
	assert_string_equal(e.target_props, "caf\xc3\xa9,\xf0\x9f\x94\x91");
	assert_string_equal(e.ip, "1.2.3.4");
	back = e;

	/* Stored exactly as returned, and the chain holds. */
	c = kura_audit_canonical(&e);
	assert_non_null(c);
	free(c);
	kura_store_tenant_release(db);
	read_all(f, "acme", a);
	assert_int_equal(a->n, 2);
	assert_entry_equal(&a->e[1], &back);
	expect_intact(f, 2, 0);

	/* Refused: no action, or enum values that do not exist; nothing is half-set. */
	db = acquire(f, "acme");
	memset(&e, 0, sizeof(e));
	assert_int_equal(kura_audit_append(db, &e), KURA_E_VALIDATION);
	assert_int_equal(e.seq, 0);
	snprintf(e.action, sizeof(e.action), "x");
	e.outcome = (enum kura_audit_outcome)9;
	assert_int_equal(kura_audit_append(db, &e), KURA_E_VALIDATION);
	e.outcome = KURA_AUDIT_SUCCESS;
	e.actor_type = (enum kura_actor_type)42;
	memset(e.hash, 0x77, sizeof(e.hash));
	assert_int_equal(kura_audit_append(db, &e), KURA_E_VALIDATION);
	assert_int_equal(e.seq, 0);
	assert_int_equal(e.ts_us, 0);
	assert_int_equal(e.hash[0], 0);
	assert_int_equal(kura_audit_append(NULL, &e), KURA_E_INTERNAL);
	assert_int_equal(kura_audit_append(db, NULL), KURA_E_INTERNAL);
	kura_store_tenant_release(db);
	expect_intact(f, 2, 0);
	free(a);
}

/* Verify streams: a longer log checks out (and ASan would see a leak per row). */
#define LONG_LOG 5000

static void
test_long_chain(void **state)
{
	struct fx *f = *state;
	struct kura_tenant_db *db = acquire(f, "acme");
	struct kura_audit_entry e;
	int i;

	assert_int_equal(kura_store_begin(db), KURA_OK);
	for (i = 1; i <= LONG_LOG; i++) {
		entry_init(&e, i);
		assert_int_equal(kura_audit_append(db, &e), KURA_OK);
	}
	assert_int_equal(kura_store_commit(db), KURA_OK);
	kura_store_tenant_release(db);
	seal(f);
	expect_intact(f, LONG_LOG, 1);
	tamper(f, "UPDATE audit_log SET target_id = '9' WHERE seq = 4321");
	expect_broken(f, 4321, "altered");
}

/* Appenders on several connections at once never share a seq. */
#define THREADS 4
#define PER_THREAD 50

struct appender {
	struct kura_store *s;
	int index;
	int errors;
};

static void *
appender_main(void *arg)
{
	struct appender *w = arg;
	struct kura_tenant_db *db = NULL;
	struct kura_audit_entry e;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		/* A fresh handle now and then, so the pool hands out different connections. */
		if (db == NULL && kura_store_tenant_acquire(w->s, "acme", &db) != KURA_OK) {
			w->errors++;
			continue;
		}
		entry_init(&e, w->index * PER_THREAD + i + 1);
		if (kura_audit_append(db, &e) != KURA_OK || e.seq < 1)
			w->errors++;
		if (i % 7 == 6) {
			kura_store_tenant_release(db);
			db = NULL;
		}
	}
	kura_store_tenant_release(db);
	return NULL;
}

static void
test_concurrent_appends(void **state)
{
	struct fx *f = *state;
	struct appender w[THREADS];
	pthread_t th[THREADS];
	int i;

	for (i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = f->s;
		w[i].index = i;
		assert_int_equal(pthread_create(&th[i], NULL, appender_main, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].errors, 0);
	}
	seal(f);
	expect_intact(f, THREADS * PER_THREAD, 1);
}

/*
 * Group commit (audit/group.c). A raw connection holds the tenant's write
 * lock while GROUP_WAITERS threads append through the group, so that all of
 * them are queued before the lock is free: then they go in one transaction.
 */
#define GROUP_WAITERS 8

struct grouped {
	struct kura_store *s;
	struct kura_audit_group *g;
	int index;
	bool malformed;
	enum kura_err err;
	struct kura_audit_entry e;
};

static void *
grouped_main(void *arg)
{
	struct grouped *w = arg;
	struct kura_tenant_db *db = NULL;

	w->err = kura_store_tenant_acquire(w->s, "acme", &db);
	if (w->err != KURA_OK)
		return NULL;
	entry_init(&w->e, w->index + 1);
	if (w->malformed)
		w->e.action[0] = '\0';
	w->err = kura_audit_append_grouped(w->g, db, &w->e);
	kura_store_tenant_release(db);
	return NULL;
}

/* A raw connection to acme's database with the write lock taken (and sql run in it). */
static sqlite3 *
hold_write_lock(struct fx *f, const char *sql)
{
	char path[600];
	sqlite3 *db = NULL;
	char *msg = NULL;

	snprintf(path, sizeof(path), "%s/tenants/acme/tenant.db", f->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	if (sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, &msg) != SQLITE_OK ||
	    (sql != NULL && sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK))
		fail_msg("%s", msg);
	return db;
}

static void
release_write_lock(sqlite3 *db)
{
	assert_int_equal(sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Starts the waiters and returns once n entries are queued behind the held lock. */
static void
start_waiters(struct fx *f, struct kura_audit_group *g, struct grouped *w, pthread_t *th,
	      int n, size_t queued)
{
	char err[256] = "";
	int i, tries;

	/* A connection for every waiter, so that none of them waits for the pool instead. */
	close_store(f);
	assert_int_equal(kura_store_open(&kura_store_sqlite_ops, f->dir, GROUP_WAITERS + 2, &f->s,
					 err, sizeof(err)),
			 KURA_OK);

	for (i = 0; i < n; i++) {
		w[i].s = f->s;
		w[i].g = g;
		w[i].index = i;
		w[i].err = KURA_E_INTERNAL;
		assert_int_equal(pthread_create(&th[i], NULL, grouped_main, &w[i]), 0);
	}
	/* Well within the 5 s the leader waits for the lock. */
	for (tries = 0; tries < 300 && kura_audit_group_queued(g, "acme") < queued; tries++)
		usleep(10000);
	assert_int_equal(kura_audit_group_queued(g, "acme"), queued);
}

static void
test_group_commit_one_transaction(void **state)
{
	struct fx *f = *state;
	struct kura_audit_group *g = NULL;
	struct grouped w[GROUP_WAITERS];
	pthread_t th[GROUP_WAITERS];
	uint64_t batches = 0, entries = 0;
	bool seen[GROUP_WAITERS + 1] = {false};
	sqlite3 *lock;
	int i;

	assert_int_equal(kura_audit_group_new(&g), KURA_OK);
	memset(w, 0, sizeof(w));
	/* A malformed entry fails alone, before it joins anyone's transaction. */
	w[3].malformed = true;
	lock = hold_write_lock(f, NULL);
	start_waiters(f, g, w, th, GROUP_WAITERS, GROUP_WAITERS - 1);
	release_write_lock(lock);
	for (i = 0; i < GROUP_WAITERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (i = 0; i < GROUP_WAITERS; i++) {
		if (i == 3) {
			assert_int_equal(w[i].err, KURA_E_VALIDATION);
			assert_int_equal(w[i].e.seq, 0);
			continue;
		}
		/* Each waiter gets its own entry's place in the chain. */
		assert_int_equal(w[i].err, KURA_OK);
		assert_true(w[i].e.seq >= 1 && w[i].e.seq < GROUP_WAITERS);
		assert_false(seen[w[i].e.seq]);
		seen[w[i].e.seq] = true;
	}
	kura_audit_group_stats(g, &batches, &entries);
	assert_int_equal(batches, 1);
	assert_int_equal(entries, GROUP_WAITERS - 1);
	seal(f);
	expect_intact(f, GROUP_WAITERS - 1, 1);
	kura_audit_group_free(g);
}

static void
test_group_commit_failure_fails_every_waiter(void **state)
{
	struct fx *f = *state;
	struct kura_audit_group *g = NULL;
	struct grouped w[GROUP_WAITERS];
	pthread_t th[GROUP_WAITERS];
	struct kura_tenant_db *db;
	struct kura_audit_entry e;
	sqlite3 *lock;
	int i;

	assert_int_equal(kura_audit_group_new(&g), KURA_OK);
	memset(w, 0, sizeof(w));
	/* The batch's inserts are refused once the lock is let go. */
	lock = hold_write_lock(f, "CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_log "
				  "BEGIN SELECT RAISE(ABORT, 'refused'); END;");
	start_waiters(f, g, w, th, GROUP_WAITERS, GROUP_WAITERS);
	release_write_lock(lock);
	for (i = 0; i < GROUP_WAITERS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_not_equal(w[i].err, KURA_OK);
		assert_int_equal(w[i].e.seq, 0);
	}
	lock = hold_write_lock(f, "DROP TRIGGER audit_refuse;");
	release_write_lock(lock);
	/* Nothing of the failed batch is in the chain: the next entry is the first. */
	db = acquire(f, "acme");
	entry_init(&e, 99);
	assert_int_equal(kura_audit_append_grouped(g, db, &e), KURA_OK);
	assert_int_equal(e.seq, 1);
	kura_store_tenant_release(db);
	seal(f);
	expect_intact(f, 1, 1);
	kura_audit_group_free(g);
}

struct grouped_loop {
	struct kura_store *s;
	struct kura_audit_group *g;
	int index;
	int errors;
};

static void *
grouped_loop_main(void *arg)
{
	struct grouped_loop *w = arg;
	struct kura_tenant_db *db = NULL;
	struct kura_audit_entry e;

	for (int i = 0; i < PER_THREAD; i++) {
		if (db == NULL && kura_store_tenant_acquire(w->s, "acme", &db) != KURA_OK) {
			w->errors++;
			continue;
		}
		entry_init(&e, w->index * PER_THREAD + i + 1);
		if (kura_audit_append_grouped(w->g, db, &e) != KURA_OK || e.seq < 1)
			w->errors++;
		if (i % 5 == 4) {
			kura_store_tenant_release(db);
			db = NULL;
		}
	}
	kura_store_tenant_release(db);
	return NULL;
}

/* Grouped appends from many threads, and plain ones among them, keep one chain. */
static void
test_group_commit_concurrent(void **state)
{
	struct fx *f = *state;
	struct kura_audit_group *g = NULL;
	struct grouped_loop w[THREADS];
	struct appender plain;
	pthread_t th[THREADS], pth;
	uint64_t batches = 0, entries = 0;
	int i;

	assert_int_equal(kura_audit_group_new(&g), KURA_OK);
	memset(&plain, 0, sizeof(plain));
	plain.s = f->s;
	plain.index = THREADS;
	for (i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = f->s;
		w[i].g = g;
		w[i].index = i;
		assert_int_equal(pthread_create(&th[i], NULL, grouped_loop_main, &w[i]), 0);
	}
	assert_int_equal(pthread_create(&pth, NULL, appender_main, &plain), 0);
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].errors, 0);
	}
	assert_int_equal(pthread_join(pth, NULL), 0);
	assert_int_equal(plain.errors, 0);
	kura_audit_group_stats(g, &batches, &entries);
	assert_int_equal(entries, THREADS * PER_THREAD);
	assert_true(batches >= 1 && batches <= entries);
	seal(f);
	expect_intact(f, (THREADS + 1) * PER_THREAD, 1);
	kura_audit_group_free(g);
}

/* What acme's chain holds, as it is (nothing moved from the spool): the request ids by seq. */
struct chain_ids {
	int64_t n;
	char id[64][17];
};

static bool
chain_id(void *ctx, const struct kura_audit_entry *e)
{
	struct chain_ids *c = ctx;

	assert_int_equal(e->seq, c->n + 1);
	if (c->n < 64)
		memcpy(c->id[c->n], e->request_id, sizeof(c->id[0]));
	c->n++;
	return true;
}

static void
chain_ids(struct fx *f, struct chain_ids *out)
{
	struct kura_tenant_db *db = acquire(f, "acme");

	memset(out, 0, sizeof(*out));
	assert_int_equal(kura_store_audit_scan(db, 1, chain_id, out), KURA_OK);
	kura_store_tenant_release(db);
}

/* ids holds, from its start, the request ids of entries first, first + 1, ... (n of them). */
static void
expect_order(const struct chain_ids *ids, int first, int n)
{
	struct kura_audit_entry e;

	for (int i = 0; i < n; i++) {
		entry_init(&e, first + i);
		assert_string_equal(ids->id[i], e.request_id);
	}
}

/* ids (as read) hold exactly entries 1..n, in order, and the chain verifies once sealed. */
static void
expect_whole_chain(struct fx *f, const struct chain_ids *ids, int n)
{
	assert_int_equal(ids->n, n);
	expect_order(ids, 1, n < 64 ? n : 64);
	seal(f);
	expect_intact(f, n, 1);
}

/* acme's spool file (which: "log", "log.1", "db"). */
static void
spool_file(struct fx *f, const char *which, char *out, size_t n)
{
	snprintf(out, n, "%s/tenants/acme/audit-spool.%s", f->dir, which);
}

/*
 * With a mover (kurad's group), reads' entries go to the spool: while the
 * tenant's write lock is held elsewhere, each append returns at once with
 * its time set and no seq (not chained yet). Freeing the group moves them
 * into the chain, in the order they were appended. A full spool refuses
 * entries (KURA_E_UNAVAILABLE), and none of them reaches the chain.
 */
static void
test_group_spools_reads(void **state)
{
	struct fx *f = *state;
	struct kura_audit_group *g = NULL;
	struct kura_tenant_db *db;
	struct chain_ids ids;
	struct kura_audit_entry e;
	char path[600];
	struct stat st;
	sqlite3 *lock;

	assert_int_equal(kura_audit_group_start(f->s, &g), KURA_OK);
	lock = hold_write_lock(f, NULL);
	db = acquire(f, "acme");
	for (int i = 1; i <= 40; i++) {
		entry_init(&e, i);
		e.ts_us = 0;
		assert_int_equal(kura_audit_append_grouped(g, db, &e), KURA_OK);
		assert_int_equal(e.seq, 0);
		assert_true(e.ts_us > 0);
	}
	/* A malformed entry is refused and never written. */
	entry_init(&e, 0);
	e.action[0] = '\0';
	assert_int_equal(kura_audit_append_grouped(g, db, &e), KURA_E_VALIDATION);
	kura_store_tenant_release(db);
	spool_file(f, "log", path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	release_write_lock(lock);
	kura_audit_group_free(g);
	chain_ids(f, &ids);
	assert_int_equal(ids.n, 40);
	expect_order(&ids, 1, 40);
	/* all moved: the log went with the move */
	assert_int_not_equal(access(path, F_OK), 0);

	/* Full: past the limit nothing more is taken, until a move makes room. */
	kura_store_audit_spool_max(f->s, 4096);
	assert_int_equal(kura_audit_group_start(f->s, &g), KURA_OK);
	lock = hold_write_lock(f, NULL);
	db = acquire(f, "acme");
	{
		int ok = 0;
		enum kura_err err = KURA_OK;

		for (int i = 100; i < 200 && err == KURA_OK; i++) {
			entry_init(&e, i);
			err = kura_audit_append_grouped(g, db, &e);
			ok += err == KURA_OK;
		}
		assert_int_equal(err, KURA_E_UNAVAILABLE);
		assert_int_equal(e.seq, 0);
		assert_true(ok > 5 && ok < 99);
		assert_int_equal(stat(path, &st), 0);
		assert_true(st.st_size <= 4096);
		kura_store_tenant_release(db);
		release_write_lock(lock);
		kura_audit_group_free(g);
		chain_ids(f, &ids);
		assert_int_equal(ids.n, 40 + ok);
	}
	kura_store_audit_spool_max(f->s, (int64_t)256 << 20);
	seal(f);
	expect_intact(f, ids.n, 1);
}

static bool
count_cb(void *ctx, const struct kura_audit_entry *e)
{
	(void)e;
	(*(int64_t *)ctx)++;
	return true;
}

static enum kura_err
count_moved(void *ctx, struct kura_audit_entry *e)
{
	(void)e;
	(*(size_t *)ctx)++;
	return KURA_OK;
}

/* PRAGMA data_version of a connection of its own: it changes when another one commits. */
static int64_t
data_version(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/*
 * The point of the spool: committing a read's entry leaves the tenant's
 * database as it was (its readers keep their page cache). The entry is
 * in the chain once a reader of the log asks, or the mover's move.
 */
static void
test_spool_leaves_tenant_db_alone(void **state)
{
	struct fx *f = *state;
	struct kura_audit_group *g = NULL;
	struct kura_audit_filter flt;
	struct kura_tenant_db *db;
	struct chain_ids ids;
	struct kura_audit_entry e;
	char path[600];
	sqlite3 *raw = NULL;
	int64_t v0, found = 0;

	append_range(f, 1, 2);
	snprintf(path, sizeof(path), "%s/tenants/acme/tenant.db", f->dir);
	assert_int_equal(sqlite3_open_v2(path, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	v0 = data_version(raw);
	assert_int_equal(kura_audit_group_start(f->s, &g), KURA_OK);
	db = acquire(f, "acme");
	for (int i = 0; i < 4; i++) {
		entry_init(&e, 3 + i);
		assert_int_equal(kura_audit_append_grouped(g, db, &e), KURA_OK);
	}
	kura_store_tenant_release(db);
	assert_int_equal(data_version(raw), v0);
	chain_ids(f, &ids);
	assert_int_equal(ids.n, 2);
	/* A query moves them first: all six, oldest first after the two. */
	db = acquire(f, "acme");
	kura_audit_filter_init(&flt);
	assert_int_equal(kura_audit_query(db, &flt, count_cb, &found), KURA_OK);
	kura_store_tenant_release(db);
	assert_int_equal(found, 6);
	assert_int_not_equal(data_version(raw), v0);
	chain_ids(f, &ids);
	kura_audit_group_free(g);
	sqlite3_close(raw);
	expect_whole_chain(f, &ids, 6);
}

/* A change's entry goes into the chain after the reads spooled before it. */
static void
test_spool_moved_before_a_change(void **state)
{
	struct fx *f = *state;
	struct kura_audit_group *g = NULL;
	struct kura_tenant_db *db;
	struct chain_ids ids;
	struct kura_audit_entry e;

	assert_int_equal(kura_audit_group_start(f->s, &g), KURA_OK);
	db = acquire(f, "acme");
	entry_init(&e, 1);
	assert_int_equal(kura_audit_append_grouped(g, db, &e), KURA_OK);
	entry_init(&e, 2);
	assert_int_equal(kura_store_begin(db), KURA_OK);
	assert_int_equal(kura_audit_append(db, &e), KURA_OK);
	assert_int_equal(e.seq, 2);
	assert_int_equal(kura_store_commit(db), KURA_OK);
	kura_store_tenant_release(db);
	chain_ids(f, &ids);
	assert_int_equal(ids.n, 2);
	entry_init(&e, 1);
	assert_string_equal(ids.id[0], e.request_id);
	kura_audit_group_free(g);
}

/* Moves acme's spool into the chain (kura_audit_flush), then the chain's entries into ids. */
static void
flush_and_chain(struct fx *f, struct chain_ids *ids)
{
	struct kura_tenant_db *db = acquire(f, "acme");

	assert_int_equal(kura_audit_flush(db), KURA_OK);
	kura_store_tenant_release(db);
	chain_ids(f, ids);
}

/* Spools entries first..last of acme without a mover (as a kurad that died before its move). */
static void
spool_range(struct fx *f, int first, int last)
{
	struct kura_tenant_db *db = acquire(f, "acme");
	struct kura_audit_entry es[16];
	const struct kura_audit_entry *p[16];
	int n = 0;

	for (int i = first; i <= last && n < 16; i++, n++) {
		entry_init(&es[n], i);
		p[n] = &es[n];
	}
	assert_int_equal(kura_store_audit_spool(db, p, (size_t)n), KURA_OK);
	kura_store_tenant_release(db);
}

static void
copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[4096];
	size_t n;

	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

/*
 * What a process left in the spool is moved by the next one. A crash
 * between the move's commit and the log's removal leaves moved entries in
 * it: they are not moved twice. A log made afresh (another epoch, offsets
 * from its start again) is moved whole.
 */
static void
test_spool_crash_and_restart(void **state)
{
	struct fx *f = *state;
	char spool[600], saved[600];
	struct kura_tenant_db *db;
	struct chain_ids ids;

	spool_file(f, "log", spool, sizeof(spool));
	snprintf(saved, sizeof(saved), "%s/spool.saved", f->dir);
	spool_range(f, 1, 3);
	/* a new process finds the spool and moves it */
	close_store(f);
	copy_file(spool, saved);
	reopen(f);
	db = acquire(f, "acme");
	assert_true(kura_store_audit_spooled(db, NULL, NULL));
	assert_int_equal(kura_audit_flush(db), KURA_OK);
	assert_false(kura_store_audit_spooled(db, NULL, NULL));
	kura_store_tenant_release(db);
	chain_ids(f, &ids);
	assert_int_equal(ids.n, 3);
	/* the log as it was before the move: nothing moved twice */
	close_store(f);
	copy_file(saved, spool);
	reopen(f);
	flush_and_chain(f, &ids);
	assert_int_equal(ids.n, 3);
	/* a log made afresh: all of it is moved */
	close_store(f);
	assert_int_equal(unlink(spool), 0);
	reopen(f);
	spool_range(f, 4, 5);
	flush_and_chain(f, &ids);
	expect_whole_chain(f, &ids, 5);
}

/*
 * Entries spooled while a move runs stay for the next one, which counts
 * them from when that move ended: under a steady load the moves come at
 * the mover's interval, not at every look.
 */
static void
test_spool_during_a_move(void **state)
{
	struct fx *f = *state;
	struct kura_tenant_db *db;
	struct chain_ids ids;
	int64_t since = 0, count = 0, before;
	size_t moved = 0;

	spool_range(f, 1, 3);
	db = acquire(f, "acme");
	assert_true(kura_store_audit_spooled(db, &since, &count));
	assert_int_equal(count, 3);
	assert_int_equal(kura_store_begin(db), KURA_OK);
	assert_int_equal(kura_audit_flush(db), KURA_OK);
	spool_range(f, 4, 5);
	before = kura_mono_us();
	assert_int_equal(kura_store_commit(db), KURA_OK);
	assert_true(kura_store_audit_spooled(db, &since, &count));
	assert_int_equal(count, 2);
	assert_true(since >= before);
	assert_int_equal(kura_store_begin(db), KURA_OK);
	assert_int_equal(kura_store_audit_unspool(db, count_moved, &moved, NULL), KURA_OK);
	kura_store_rollback(db);
	assert_int_equal(moved, 2);
	kura_store_tenant_release(db);
	chain_ids(f, &ids);
	assert_int_equal(ids.n, 3);
}

/*
 * A spool moved to its end and spooled into again: the new entries get ids
 * past the moved ones (the mark covers those), so none is taken for moved.
 */
static void
test_spool_after_it_was_emptied(void **state)
{
	struct fx *f = *state;
	struct kura_tenant_db *db;
	struct chain_ids ids;
	int64_t count = 0;

	for (int round = 0; round < 3; round++) {
		spool_range(f, 2 * round + 1, 2 * round + 2);
		db = acquire(f, "acme");
		assert_true(kura_store_audit_spooled(db, NULL, &count));
		assert_int_equal(count, 2);
		assert_int_equal(kura_audit_flush(db), KURA_OK);
		assert_false(kura_store_audit_spooled(db, NULL, &count));
		kura_store_tenant_release(db);
		chain_ids(f, &ids);
		assert_int_equal(ids.n, 2 * round + 2);
	}
	/* and by a process that starts afresh on the file left */
	reopen(f);
	spool_range(f, 7, 7);
	flush_and_chain(f, &ids);
	assert_int_equal(ids.n, 7);
}

/* Appends raw bytes to acme's spool log, as a write cut short by a crash leaves them. */
static void
append_bytes(struct fx *f, const void *b, size_t n)
{
	char path[600];
	FILE *out;

	spool_file(f, "log", path, sizeof(path));
	out = fopen(path, "ab");
	assert_non_null(out);
	assert_int_equal(fwrite(b, 1, n, out), n);
	assert_int_equal(fclose(out), 0);
}

/*
 * A log whose last write was cut short (a frame begun, or zeros where a
 * crash left blocks unwritten), or that ends in a frame with a right sum
 * and no entry in it: the next process cuts that end off when it first
 * appends, and what came before, and after, is moved once, in order.
 */
static void
test_spool_torn_end(void **state)
{
	struct fx *f = *state;
	static const uint8_t begun[] = {0x60, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	static const uint8_t zeros[700];
	struct chain_ids ids;
	char path[600];
	struct stat st;
	off_t size;

	spool_file(f, "log", path, sizeof(path));
	spool_range(f, 1, 3);
	close_store(f);
	assert_int_equal(stat(path, &st), 0);
	size = st.st_size;
	append_bytes(f, begun, sizeof(begun));
	reopen(f);
	/* a move before anything is appended takes what is whole */
	flush_and_chain(f, &ids);
	assert_int_equal(ids.n, 3);
	spool_range(f, 4, 5);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > size); /* the torn frame cut, the two after the three */
	close_store(f);
	append_bytes(f, zeros, sizeof(zeros));
	reopen(f);
	spool_range(f, 6, 6);
	flush_and_chain(f, &ids);
	assert_int_equal(ids.n, 6);
	/* a frame whose sum is right but which holds no entry ends the log the same way */
	{
		uint8_t frame[4 + 5 + 16] = {5, 0, 0, 0, 'a', 'b', 'c', 'd', 'e'};

		spool_range(f, 7, 7);
		close_store(f);
		crypto_generichash(frame + 9, 16, frame, 9, NULL, 0);
		append_bytes(f, frame, sizeof(frame));
		reopen(f);
		spool_range(f, 8, 8);
		flush_and_chain(f, &ids);
	}
	/* moved whole by the process that appends: gone */
	assert_int_not_equal(access(path, F_OK), 0);
	expect_whole_chain(f, &ids, 8);
}

/*
 * A log that grew past its roll size (a quarter of the limit here) is set
 * aside at the next move, which reads it whole; appends go on in a new
 * log meanwhile. If that move rolls back, the next one takes the rolled
 * log from where the mark says, then the new log; nothing twice.
 */
static void
test_spool_rolls(void **state)
{
	struct fx *f = *state;
	struct kura_tenant_db *db;
	struct chain_ids ids;
	char log[600], rolled[600];
	int n = 0;
	struct stat st;

	spool_file(f, "log", log, sizeof(log));
	spool_file(f, "log.1", rolled, sizeof(rolled));
	kura_store_audit_spool_max(f->s, 64 << 10);
	do {
		spool_range(f, n + 1, n + 16);
		n += 16;
		assert_int_equal(stat(log, &st), 0);
	} while (st.st_size <= (16 << 10));
	/* a move that rolls back: the log was set aside all the same */
	db = acquire(f, "acme");
	assert_int_equal(kura_store_begin(db), KURA_OK);
	assert_int_equal(kura_audit_flush(db), KURA_OK);
	kura_store_rollback(db);
	kura_store_tenant_release(db);
	assert_int_equal(access(rolled, F_OK), 0);
	assert_int_not_equal(access(log, F_OK), 0);
	spool_range(f, n + 1, n + 2);
	n += 2;
	assert_int_equal(access(log, F_OK), 0);
	/* the next move reads both; entries appended during it stay for the one after */
	db = acquire(f, "acme");
	assert_int_equal(kura_store_begin(db), KURA_OK);
	assert_int_equal(kura_audit_flush(db), KURA_OK);
	spool_range(f, n + 1, n + 3);
	n += 3;
	assert_int_equal(kura_store_commit(db), KURA_OK);
	assert_true(kura_store_audit_spooled(db, NULL, NULL));
	kura_store_tenant_release(db);
	assert_int_not_equal(access(rolled, F_OK), 0);
	assert_int_equal(access(log, F_OK), 0);
	chain_ids(f, &ids);
	assert_int_equal(ids.n, n - 3);
	flush_and_chain(f, &ids);
	assert_int_not_equal(access(log, F_OK), 0);
	kura_store_audit_spool_max(f->s, (int64_t)256 << 20);
	expect_whole_chain(f, &ids, n);
}

/*
 * A kura command moves the spool while kurad appends to it: it reads what
 * is there and leaves the log to kurad, whose next move takes only what
 * came after, then removes the log.
 */
static void
test_spool_moved_by_another_process(void **state)
{
	struct fx *f = *state;
	struct kura_store *other = NULL;
	struct kura_tenant_db *db = NULL;
	struct chain_ids ids;
	char err[256] = "", log[600];

	spool_file(f, "log", log, sizeof(log));
	spool_range(f, 1, 3);
	assert_int_equal(kura_store_open(&kura_store_sqlite_ops, f->dir, 4, &other, err,
					 sizeof(err)),
			 KURA_OK);
	assert_int_equal(kura_store_tenant_acquire(other, "acme", &db), KURA_OK);
	assert_int_equal(kura_audit_flush(db), KURA_OK);
	kura_store_tenant_release(db);
	assert_int_equal(access(log, F_OK), 0);
	chain_ids(f, &ids);
	assert_int_equal(ids.n, 3);
	spool_range(f, 4, 5);
	flush_and_chain(f, &ids);
	assert_int_equal(ids.n, 5);
	assert_int_not_equal(access(log, F_OK), 0);
	/* and the other process finds nothing more to move */
	assert_int_equal(kura_store_tenant_acquire(other, "acme", &db), KURA_OK);
	assert_int_equal(kura_audit_flush(db), KURA_OK);
	kura_store_tenant_release(db);
	kura_store_close(other);
	chain_ids(f, &ids);
	expect_whole_chain(f, &ids, 5);
}

/*
 * A spool table left by a kurad from before the log (audit-spool.db) is
 * moved first, from where the mark says, and removed once moved; entries
 * in the log come after it.
 */
static void
test_spool_table_of_before(void **state)
{
	struct fx *f = *state;
	struct chain_ids ids;
	struct kura_audit_entry e;
	char path[600], sql[2048];
	sqlite3 *db = NULL;
	char *msg = NULL;
	size_t len = 0;

	spool_file(f, "db", path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s",
		"PRAGMA journal_mode=WAL;"
		"CREATE TABLE spool_meta (one INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),"
		" epoch BLOB NOT NULL CHECK (length(epoch) = 16));"
		"INSERT INTO spool_meta VALUES (1, x'00112233445566778899aabbccddeeff');"
		"CREATE TABLE spool (id INTEGER PRIMARY KEY AUTOINCREMENT,"
		" ts_us INTEGER NOT NULL, actor_type INTEGER NOT NULL, actor_id INTEGER NOT NULL,"
		" actor_email TEXT NOT NULL, actor_role TEXT NOT NULL, ip TEXT NOT NULL,"
		" user_agent TEXT NOT NULL, request_id TEXT NOT NULL, action TEXT NOT NULL,"
		" target_type TEXT NOT NULL, target_id TEXT NOT NULL, target_props TEXT NOT NULL,"
		" outcome INTEGER NOT NULL, error_code TEXT NOT NULL);");
	for (int i = 1; i <= 3; i++) {
		entry_init(&e, i);
		len += (size_t)snprintf(sql + len, sizeof(sql) - len,
			"INSERT INTO spool VALUES (%d, %lld, %d, %lld, '%s', '%s', '%s', '%s', '%s', "
			"'%s', '%s', '%s', '%s', %d, '%s');",
			i, (long long)e.ts_us, (int)e.actor_type, (long long)e.actor_id,
			e.actor_email, e.actor_role, e.ip, e.user_agent, e.request_id, e.action,
			e.target_type, e.target_id, e.target_props, (int)e.outcome, e.error_code);
	}
	assert_true(len < sizeof(sql));
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s", msg);
	sqlite3_close(db);
	/* the first row was moved by that kurad already */
	raw_exec(f, "tenants/acme/tenant.db",
		 "INSERT INTO audit_spool_mark (one, epoch, last_id) "
		 "VALUES (1, x'00112233445566778899aabbccddeeff', 1);");
	reopen(f);
	spool_range(f, 4, 5);
	flush_and_chain(f, &ids);
	assert_int_equal(ids.n, 4);
	expect_order(&ids, 2, 4);
	assert_int_not_equal(access(path, F_OK), 0);
	spool_file(f, "log", path, sizeof(path));
	assert_int_not_equal(access(path, F_OK), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_chain),
		cmocka_unit_test(test_canonical_form),
		cmocka_unit_test(test_canonical_form_is_jansson),
		T(test_append_joins_transaction),
		T(test_query_filters),
		T(test_query_by_target_across_runs),
		T(test_seal_and_verify),
		T(test_tamper_edit_field),
		T(test_tamper_edit_hash_only),
		T(test_tamper_delete_middle),
		T(test_tamper_reorder),
		T(test_tamper_truncate),
		T(test_truncate_after_last_seal_undetected),
		T(test_tamper_forged_chain),
		T(test_tamper_forged_seal),
		T(test_field_bounds),
		T(test_long_chain),
		T(test_concurrent_appends),
		T(test_group_commit_one_transaction),
		T(test_group_commit_failure_fails_every_waiter),
		T(test_group_commit_concurrent),
		T(test_group_spools_reads),
		T(test_spool_leaves_tenant_db_alone),
		T(test_spool_moved_before_a_change),
		T(test_spool_crash_and_restart),
		T(test_spool_during_a_move),
		T(test_spool_after_it_was_emptied),
		T(test_spool_torn_end),
		T(test_spool_rolls),
		T(test_spool_moved_by_another_process),
		T(test_spool_table_of_before),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
