/*
 * Store tests, against real database files in a fresh temporary directory.
 *
 * The first group is the conformance suite: it calls only the public
 * kura_store_* API with the back end in `ops`, so a second back end runs
 * the same cases by adding itself to backends[] in main(). The second group
 * checks what is particular to SQLite (file modes, schema versions, the
 * files' contents) and may open the files directly.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "tmpdir.h"
#include <sqlite3.h>

#include "kura/store.h"
#include "kura/store_crm.h"
/* The SQLite-only cases look at which connection a handle runs on. */
#include "../../../src/store/sqlite/sqlite_int.h"

static const struct kura_store_ops *ops;

struct fx {
	char dir[256];
	struct kura_store *s;
};

static const uint8_t wrapped_a[61] = {0x01, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x11, 0x22, 0x33,
				      0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0x10, 0x20, 0x30,
				      0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0,
				      0xd0, 0xe0, 0xf0, 0x0f, 0x1f, 0x2f, 0x3f, 0x4f, 0x5f};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	if (kura_test_mkdtemp(f->dir, sizeof(f->dir), "kura-store") != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	kura_store_close(f->s);
	kura_test_rmtree(f->dir);
	free(f);
	return 0;
}

static struct kura_store *
open_store(struct fx *f, unsigned max_conns)
{
	char err[256] = "";
	enum kura_err e;

	kura_store_close(f->s);
	f->s = NULL;
	e = kura_store_open(ops, f->dir, max_conns, &f->s, err, sizeof(err));
	if (e != KURA_OK)
		fprintf(stderr, "open: %s\n", err);
	assert_int_equal(e, KURA_OK);
	assert_non_null(f->s);
	return f->s;
}

static void
tenant_init(struct kura_tenant *t, const char *id, const char *name)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->status = KURA_TENANT_ACTIVE;
	t->key_version = 1;
	t->created_at = 1700000000000000;
	t->updated_at = 1700000000000000;
}

static void
make_tenant(struct kura_store *s, const char *id)
{
	struct kura_tenant t;

	tenant_init(&t, id, id);
	assert_int_equal(kura_store_tenant_create(s, &t, wrapped_a, sizeof(wrapped_a)), KURA_OK);
}

static void
user_init(struct kura_user *u, const char *email, const char *name)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->email, sizeof(u->email), "%s", email);
	snprintf(u->display_name, sizeof(u->display_name), "%s", name);
	snprintf(u->role, sizeof(u->role), "member");
	snprintf(u->password_hash, sizeof(u->password_hash), "$argon2id$v=19$m=65536,t=3,p=1$x$y");
	u->status = KURA_USER_ACTIVE;
	u->created_at = 1700000000000001;
	u->updated_at = 1700000000000001;
}

static int64_t
make_user(struct kura_tenant_db *db, const char *email, const char *name)
{
	struct kura_user u;

	user_init(&u, email, name);
	assert_int_equal(kura_store_user_create(db, &u), KURA_OK);
	return u.id;
}

static void
session_init(struct kura_session *s, uint8_t tag, int64_t user_id, int64_t seen, int64_t exp)
{
	memset(s, 0, sizeof(*s));
	memset(s->id_hash, tag, sizeof(s->id_hash));
	s->user_id = user_id;
	s->created_at = seen;
	s->last_seen_at = seen;
	s->expires_at = exp;
	snprintf(s->ip, sizeof(s->ip), "2001:db8::1");
	snprintf(s->user_agent, sizeof(s->user_agent), "Mozilla/5.0 test");
}

static bool
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i] != 0)
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- conformance */

static void
test_ping(void **state)
{
	struct kura_store *s = open_store(*state, 4);

	assert_int_equal(kura_store_ping(s), KURA_OK);
}

struct tenant_names {
	int n;
	char ids[8][KURA_TENANT_ID_MAX + 1];
};

static void
collect_tenant(void *ctx, const struct kura_tenant *t)
{
	struct tenant_names *tn = ctx;

	if (tn->n < 8)
		snprintf(tn->ids[tn->n], sizeof(tn->ids[0]), "%s", t->id);
	tn->n++;
}

/*
 * The tenant rows a store keeps for authenticated requests: another
 * process's change (the kura CLI, here a second store on the same
 * directory) is seen by the very next acquire, never a cached row.
 */
static void
test_tenant_rows_follow_another_process(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = open_store(f, 4), *cli = NULL;
	struct kura_tenant_db *db = NULL;
	struct kura_tenant got;
	char err[256] = "";

	make_tenant(s, "acme");
	assert_int_equal(kura_store_open(ops, f->dir, 4, &cli, err, sizeof(err)), KURA_OK);
	for (int round = 0; round < 3; round++) {
		/* read twice: the second may come from what the store keeps */
		for (int i = 0; i < 2; i++) {
			assert_int_equal(kura_store_tenant_acquire_get(s, "acme", &got, &db), KURA_OK);
			kura_store_tenant_release(db);
			assert_int_equal(got.status, KURA_TENANT_ACTIVE);
			assert_int_equal(got.key_version, (uint32_t)(1 + round));
		}
		assert_int_equal(kura_store_tenant_set_status(cli, "acme", KURA_TENANT_SUSPENDED, 5),
				 KURA_OK);
		assert_int_equal(kura_store_tenant_acquire_get(s, "acme", &got, &db), KURA_OK);
		kura_store_tenant_release(db);
		assert_int_equal(got.status, KURA_TENANT_SUSPENDED);
		assert_int_equal(kura_store_tenant_set_status(cli, "acme", KURA_TENANT_ACTIVE, 6),
				 KURA_OK);
		/* a new data-key version is used at once */
		assert_int_equal(kura_store_tenant_key_rotate(cli, "acme", (uint32_t)(2 + round),
							      wrapped_a, sizeof(wrapped_a), 7),
				 KURA_OK);
	}
	/* a tenant deleted by another process gets no handle */
	assert_int_equal(kura_store_tenant_acquire_get(s, "acme", &got, &db), KURA_OK);
	kura_store_tenant_release(db);
	assert_int_equal(kura_store_tenant_delete(cli, "acme"), KURA_OK);
	db = NULL;
	assert_int_equal(kura_store_tenant_acquire_get(s, "acme", &got, &db), KURA_E_NOT_FOUND);
	assert_null(db);
	kura_store_close(cli);
}

static void
test_tenant_create_get_list_status(void **state)
{
	struct kura_store *s = open_store(*state, 4);
	struct kura_tenant t, got;
	struct tenant_names tn = {0};

	tenant_init(&t, "zeta", "Zeta Inc.");
	t.key_version = 3;
	assert_int_equal(kura_store_tenant_create(s, &t, wrapped_a, sizeof(wrapped_a)), KURA_OK);
	make_tenant(s, "acme");

	assert_int_equal(kura_store_tenant_get(s, "zeta", &got), KURA_OK);
	assert_string_equal(got.id, "zeta");
	assert_string_equal(got.name, "Zeta Inc.");
	assert_int_equal(got.status, KURA_TENANT_ACTIVE);
	assert_int_equal(got.key_version, 3);
	assert_true(got.created_at == t.created_at);
	assert_true(got.updated_at == t.updated_at);

	assert_int_equal(kura_store_tenant_list(s, collect_tenant, &tn), KURA_OK);
	assert_int_equal(tn.n, 2);
	assert_string_equal(tn.ids[0], "acme");
	assert_string_equal(tn.ids[1], "zeta");

	assert_int_equal(kura_store_tenant_set_status(s, "zeta", KURA_TENANT_SUSPENDED,
						      1700000000000099),
			 KURA_OK);
	assert_int_equal(kura_store_tenant_get(s, "zeta", &got), KURA_OK);
	assert_int_equal(got.status, KURA_TENANT_SUSPENDED);
	assert_true(got.updated_at == 1700000000000099);
	/* Suspended tenants still get a handle; callers check the status. */
	{
		struct kura_tenant_db *db = NULL;

		assert_int_equal(kura_store_tenant_acquire(s, "zeta", &db), KURA_OK);
		assert_string_equal(kura_store_tenant_id(db), "zeta");
		kura_store_tenant_release(db);
	}
	assert_int_equal(kura_store_tenant_set_status(s, "zeta", KURA_TENANT_ACTIVE, 1), KURA_OK);
	assert_int_equal(kura_store_tenant_get(s, "zeta", &got), KURA_OK);
	assert_int_equal(got.status, KURA_TENANT_ACTIVE);

	assert_int_equal(kura_store_tenant_set_status(s, "nobody", KURA_TENANT_SUSPENDED, 1),
			 KURA_E_NOT_FOUND);
}

static void
test_tenant_duplicate(void **state)
{
	struct kura_store *s = open_store(*state, 4);
	struct kura_tenant_db *db = NULL;
	struct kura_tenant t, got;
	struct kura_user u;
	int64_t id;

	make_tenant(s, "acme");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	id = make_user(db, "boss@acme.example", "Boss");
	kura_store_tenant_release(db);

	tenant_init(&t, "acme", "Impostor");
	assert_int_equal(kura_store_tenant_create(s, &t, wrapped_a, 10), KURA_E_EXISTS);

	/* The first tenant is untouched: name, key and database. */
	assert_int_equal(kura_store_tenant_get(s, "acme", &got), KURA_OK);
	assert_string_equal(got.name, "acme");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	assert_int_equal(kura_store_user_get(db, id, &u), KURA_OK);
	assert_string_equal(u.display_name, "Boss");
	kura_store_tenant_release(db);
	{
		uint8_t key[128];
		size_t len = 0;

		assert_int_equal(kura_store_tenant_key_get(s, "acme", 1, key, sizeof(key), &len),
				 KURA_OK);
		assert_int_equal(len, sizeof(wrapped_a));
	}
}

static void
test_tenant_bad_ids(void **state)
{
	struct kura_store *s = open_store(*state, 4);
	static const char *const bad[] = {"../etc", "a", "Acme", "1acme", "acme/x", "acme.x", "",
					  "abcdefghijklmnopqrstuvwxyz0123456"};
	struct kura_tenant_db *db = (struct kura_tenant_db *)&db;
	struct kura_tenant t;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* (An id too long for struct kura_tenant cannot even be asked to be created.) */
		if (strlen(bad[i]) < sizeof(t.id)) {
			tenant_init(&t, bad[i], "Bad");
			assert_int_equal(kura_store_tenant_create(s, &t, wrapped_a,
								  sizeof(wrapped_a)),
					 KURA_E_VALIDATION);
		}
		assert_int_equal(kura_store_tenant_acquire(s, bad[i], &db), KURA_E_NOT_FOUND);
		assert_null(db);
		db = (struct kura_tenant_db *)&db;
	}
	/* 32 characters is the longest allowed. */
	make_tenant(s, "abcdefghijklmnopqrstuvwxyz012345");
	assert_int_equal(kura_store_tenant_acquire(s, "abcdefghijklmnopqrstuvwxyz012345", &db),
			 KURA_OK);
	kura_store_tenant_release(db);
}

static void
test_tenant_key(void **state)
{
	struct kura_store *s = open_store(*state, 4);
	uint8_t key[128];
	size_t len = 99;

	make_tenant(s, "acme");
	assert_int_equal(kura_store_tenant_key_get(s, "acme", 1, key, sizeof(key), &len), KURA_OK);
	assert_int_equal(len, sizeof(wrapped_a));
	assert_memory_equal(key, wrapped_a, sizeof(wrapped_a));

	memset(key, 0xAA, sizeof(key));
	len = 99;
	assert_int_equal(kura_store_tenant_key_get(s, "acme", 2, key, sizeof(key), &len),
			 KURA_E_NOT_FOUND);
	assert_int_equal(len, 0);
	assert_true(all_zero(key, sizeof(key)));

	len = 99;
	assert_int_equal(kura_store_tenant_key_get(s, "nobody", 1, key, sizeof(key), &len),
			 KURA_E_NOT_FOUND);
	assert_int_equal(len, 0);

	/* A buffer too small gets nothing, not a truncated key. */
	memset(key, 0xAA, sizeof(key));
	len = 99;
	assert_int_not_equal(kura_store_tenant_key_get(s, "acme", 1, key, 16, &len), KURA_OK);
	assert_int_equal(len, 0);
	assert_true(all_zero(key, 16));
}

struct user_names {
	int n;
	char emails[8][KURA_EMAIL_MAX + 1];
	int64_t ids[8];
};

static void
collect_user(void *ctx, const struct kura_user *u)
{
	struct user_names *un = ctx;

	if (un->n < 8) {
		snprintf(un->emails[un->n], sizeof(un->emails[0]), "%s", u->email);
		un->ids[un->n] = u->id;
	}
	un->n++;
}

static void
test_users(void **state)
{
	struct kura_store *s = open_store(*state, 4);
	struct kura_tenant_db *db = NULL;
	struct user_names un = {0};
	struct kura_user u, got;
	int64_t id2;

	make_tenant(s, "acme");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	assert_string_equal(kura_store_tenant_id(db), "acme");

	user_init(&u, "Alice.Smith@Example.COM", "Alice");
	snprintf(u.role, sizeof(u.role), "super_admin");
	u.must_change_password = true;
	u.password_changed_at = 1700000000000002;
	assert_int_equal(kura_store_user_create(db, &u), KURA_OK);
	assert_true(u.id >= 1 && u.id < (INT64_C(1) << 53));

	assert_int_equal(kura_store_user_get(db, u.id, &got), KURA_OK);
	assert_true(got.id == u.id);
	assert_string_equal(got.email, "alice.smith@example.com");
	assert_string_equal(got.display_name, "Alice");
	assert_string_equal(got.role, "super_admin");
	assert_int_equal(got.status, KURA_USER_ACTIVE);
	assert_string_equal(got.password_hash, u.password_hash);
	assert_true(got.must_change_password);
	assert_true(got.password_changed_at == 1700000000000002);
	assert_true(got.created_at == u.created_at);
	assert_true(got.updated_at == u.updated_at);

	assert_int_equal(kura_store_user_get_by_email(db, "ALICE.smith@example.com", &got),
			 KURA_OK);
	assert_true(got.id == u.id);
	assert_int_equal(kura_store_user_get_by_email(db, "alice.smith@example.com", &got),
			 KURA_OK);
	assert_true(got.id == u.id);

	/* A caller-chosen id is kept; a disabled user reads back disabled. */
	user_init(&u, "bob@example.com", "Bob");
	u.id = 42;
	u.status = KURA_USER_DISABLED;
	assert_int_equal(kura_store_user_create(db, &u), KURA_OK);
	assert_true(u.id == 42);
	assert_int_equal(kura_store_user_get(db, 42, &got), KURA_OK);
	assert_int_equal(got.status, KURA_USER_DISABLED);
	id2 = 42;

	assert_int_equal(kura_store_user_list(db, collect_user, &un), KURA_OK);
	assert_int_equal(un.n, 2);
	assert_true(un.ids[0] == id2 || un.ids[1] == id2);

	assert_int_equal(kura_store_user_set_password(db, id2, "$argon2id$new", false,
						      1700000000000777),
			 KURA_OK);
	assert_int_equal(kura_store_user_get(db, id2, &got), KURA_OK);
	assert_string_equal(got.password_hash, "$argon2id$new");
	assert_false(got.must_change_password);
	assert_true(got.password_changed_at == 1700000000000777);
	assert_true(got.updated_at == 1700000000000777);
	assert_int_equal(kura_store_user_set_password(db, id2, "$x", true, 1700000000000778),
			 KURA_OK);
	assert_int_equal(kura_store_user_get(db, id2, &got), KURA_OK);
	assert_true(got.must_change_password);

	assert_int_equal(kura_store_user_set_password(db, 7, "$x", false, 1), KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_user_get(db, 7, &got), KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_user_get_by_email(db, "carol@example.com", &got),
			 KURA_E_NOT_FOUND);
	kura_store_tenant_release(db);
}

static void
test_user_duplicate_email(void **state)
{
	struct kura_store *s = open_store(*state, 4);
	struct kura_tenant_db *db = NULL;
	struct kura_user u;
	int64_t id;

	make_tenant(s, "acme");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	id = make_user(db, "dup@example.com", "First");
	user_init(&u, "DUP@Example.com", "Second");
	assert_int_equal(kura_store_user_create(db, &u), KURA_E_EXISTS);
	assert_true(u.id == 0);
	/* Same explicit id: also taken. */
	user_init(&u, "other@example.com", "Third");
	u.id = id;
	assert_int_equal(kura_store_user_create(db, &u), KURA_E_EXISTS);
	kura_store_tenant_release(db);
}

static void
test_user_tenant_isolation(void **state)
{
	struct kura_store *s = open_store(*state, 4);
	struct kura_tenant_db *a = NULL, *b = NULL;
	struct user_names un = {0};
	struct kura_user got;
	int64_t ida, idb;

	make_tenant(s, "acme");
	make_tenant(s, "globex");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &a), KURA_OK);
	assert_int_equal(kura_store_tenant_acquire(s, "globex", &b), KURA_OK);
	assert_string_equal(kura_store_tenant_id(a), "acme");
	assert_string_equal(kura_store_tenant_id(b), "globex");

	ida = make_user(a, "same@example.com", "acme user");
	idb = make_user(b, "same@example.com", "globex user");
	(void)make_user(a, "only-acme@example.com", "acme 2");

	assert_int_equal(kura_store_user_get_by_email(a, "same@example.com", &got), KURA_OK);
	assert_string_equal(got.display_name, "acme user");
	assert_true(got.id == ida);
	assert_int_equal(kura_store_user_get_by_email(b, "same@example.com", &got), KURA_OK);
	assert_string_equal(got.display_name, "globex user");
	assert_true(got.id == idb);

	assert_int_equal(kura_store_user_get(b, ida, &got), KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_user_get(a, idb, &got), KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_user_get_by_email(b, "only-acme@example.com", &got),
			 KURA_E_NOT_FOUND);

	assert_int_equal(kura_store_user_list(a, collect_user, &un), KURA_OK);
	assert_int_equal(un.n, 2);
	memset(&un, 0, sizeof(un));
	assert_int_equal(kura_store_user_list(b, collect_user, &un), KURA_OK);
	assert_int_equal(un.n, 1);
	assert_true(un.ids[0] == idb);

	kura_store_tenant_release(a);
	kura_store_tenant_release(b);
}

static void
test_sessions(void **state)
{
	struct kura_store *s = open_store(*state, 4);
	struct kura_tenant_db *db = NULL;
	struct kura_session se, got;
	int64_t uid, uid2;
	uint8_t h[32];

	make_tenant(s, "acme");
	{
		struct kura_tenant t;

		/* acquire_get reads the tenant's row in the same look-up */
		assert_int_equal(kura_store_tenant_acquire_get(s, "acme", &t, &db), KURA_OK);
		assert_string_equal(t.id, "acme");
		kura_store_tenant_release(db);
		db = NULL;
		assert_int_equal(kura_store_tenant_acquire_get(s, "nope", &t, &db), KURA_E_NOT_FOUND);
		assert_null(db);
		assert_true(t.id[0] == '\0');
	}
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	uid = make_user(db, "a@example.com", "A");
	uid2 = make_user(db, "b@example.com", "B");

	session_init(&se, 0x11, uid, 1000, 9000);
	assert_int_equal(kura_store_session_create(db, &se), KURA_OK);
	assert_int_equal(kura_store_session_create(db, &se), KURA_E_EXISTS);
	assert_int_equal(kura_store_session_get(db, se.id_hash, &got), KURA_OK);
	assert_memory_equal(got.id_hash, se.id_hash, 32);
	assert_true(got.user_id == uid);
	assert_true(got.created_at == 1000);
	assert_true(got.last_seen_at == 1000);
	assert_true(got.expires_at == 9000);
	assert_string_equal(got.ip, "2001:db8::1");
	assert_string_equal(got.user_agent, "Mozilla/5.0 test");

	/* The session and its user in one look-up. */
	{
		struct kura_user u;
		uint8_t none[32];

		struct kura_auth_read ar;
		char big[KURA_IP_ALLOWLIST_TEXT_MAX + 8];

		assert_int_equal(kura_store_session_auth(db, se.id_hash, &got, &u, &ar),
				 KURA_OK);
		assert_memory_equal(got.id_hash, se.id_hash, 32);
		assert_true(got.expires_at == 9000);
		assert_true(u.id == uid);
		assert_string_equal(u.email, "a@example.com");
		assert_string_equal(ar.ip_allowlist, ""); /* no ipAllowlist setting */
		assert_true(ar.catalog_version >= 1);       /* read with it */
		/* the session's list comes with it; the API keys' list is not the session's */
		assert_int_equal(kura_store_setting_put(db, KURA_SETTING_IP_ALLOWLIST, "10.0.0.0/8",
							1),
				 KURA_OK);
		assert_int_equal(kura_store_setting_put(db, KURA_SETTING_APIKEY_IP_ALLOWLIST,
							"192.0.2.0/24", 1),
				 KURA_OK);
		assert_int_equal(kura_store_session_auth(db, se.id_hash, &got, &u, &ar),
				 KURA_OK);
		assert_string_equal(ar.ip_allowlist, "10.0.0.0/8");
		/* a value too long for the buffer is never cut (a cut range could be wider) */
		memset(big, '1', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(kura_store_setting_put(db, KURA_SETTING_IP_ALLOWLIST, big, 1),
				 KURA_OK);
		assert_int_equal(kura_store_session_auth(db, se.id_hash, &got, &u, &ar),
				 KURA_OK);
		assert_string_equal(ar.ip_allowlist, "!");
		assert_int_equal(kura_store_setting_put(db, KURA_SETTING_IP_ALLOWLIST, "", 1),
				 KURA_OK);
		memset(none, 0x99, sizeof(none));
		assert_int_equal(kura_store_session_auth(db, none, &got, &u, &ar),
				 KURA_E_NOT_FOUND);
		assert_true(u.id == 0 && got.user_id == 0 && u.email[0] == '\0');
	}

	/* A session for a user that does not exist. */
	session_init(&se, 0x12, 999999, 1000, 9000);
	assert_int_equal(kura_store_session_create(db, &se), KURA_E_NOT_FOUND);

	memset(h, 0x11, sizeof(h));
	assert_int_equal(kura_store_session_touch(db, h, 2000), KURA_OK);
	assert_int_equal(kura_store_session_get(db, h, &got), KURA_OK);
	assert_true(got.last_seen_at == 2000);
	/* A late, older touch does not move last_seen_at back. */
	assert_int_equal(kura_store_session_touch(db, h, 1500), KURA_OK);
	assert_int_equal(kura_store_session_get(db, h, &got), KURA_OK);
	assert_true(got.last_seen_at == 2000);

	assert_int_equal(kura_store_session_delete(db, h), KURA_OK);
	assert_int_equal(kura_store_session_get(db, h, &got), KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_session_delete(db, h), KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_session_touch(db, h, 3000), KURA_E_NOT_FOUND);

	/* delete_user, keeping the current session. */
	session_init(&se, 0x21, uid, 1000, 9000);
	assert_int_equal(kura_store_session_create(db, &se), KURA_OK);
	session_init(&se, 0x22, uid, 1000, 9000);
	assert_int_equal(kura_store_session_create(db, &se), KURA_OK);
	session_init(&se, 0x23, uid, 1000, 9000);
	assert_int_equal(kura_store_session_create(db, &se), KURA_OK);
	session_init(&se, 0x31, uid2, 1000, 9000);
	assert_int_equal(kura_store_session_create(db, &se), KURA_OK);
	memset(h, 0x22, sizeof(h));
	assert_int_equal(kura_store_session_delete_user(db, uid, h), KURA_OK);
	assert_int_equal(kura_store_session_get(db, h, &got), KURA_OK);
	memset(h, 0x21, sizeof(h));
	assert_int_equal(kura_store_session_get(db, h, &got), KURA_E_NOT_FOUND);
	memset(h, 0x23, sizeof(h));
	assert_int_equal(kura_store_session_get(db, h, &got), KURA_E_NOT_FOUND);
	memset(h, 0x31, sizeof(h));
	assert_int_equal(kura_store_session_get(db, h, &got), KURA_OK); /* other user's */
	/* Without keep: all of them. */
	assert_int_equal(kura_store_session_delete_user(db, uid, NULL), KURA_OK);
	memset(h, 0x22, sizeof(h));
	assert_int_equal(kura_store_session_get(db, h, &got), KURA_E_NOT_FOUND);
	memset(h, 0x31, sizeof(h));
	assert_int_equal(kura_store_session_get(db, h, &got), KURA_OK);
	assert_int_equal(kura_store_session_delete_user(db, uid, NULL), KURA_OK);

	/* purge: past expires_at, or idle since before the cutoff. */
	assert_int_equal(kura_store_session_delete_user(db, uid2, NULL), KURA_OK);
	session_init(&se, 0x41, uid, 5000, 6000); /* expired at now=6000 */
	assert_int_equal(kura_store_session_create(db, &se), KURA_OK);
	session_init(&se, 0x42, uid, 1000, 99000); /* idle */
	assert_int_equal(kura_store_session_create(db, &se), KURA_OK);
	session_init(&se, 0x43, uid, 5500, 99000); /* fresh */
	assert_int_equal(kura_store_session_create(db, &se), KURA_OK);
	assert_int_equal(kura_store_session_purge_expired(db, 6000, 4000), KURA_OK);
	memset(h, 0x41, sizeof(h));
	assert_int_equal(kura_store_session_get(db, h, &got), KURA_E_NOT_FOUND);
	memset(h, 0x42, sizeof(h));
	assert_int_equal(kura_store_session_get(db, h, &got), KURA_E_NOT_FOUND);
	memset(h, 0x43, sizeof(h));
	assert_int_equal(kura_store_session_get(db, h, &got), KURA_OK);
	kura_store_tenant_release(db);
}

static void
test_out_params_zeroed(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = open_store(f, 4);
	struct kura_tenant_db *db = (struct kura_tenant_db *)&db;
	struct kura_store *s2 = (struct kura_store *)&s2;
	struct kura_tenant t;
	struct kura_user u;
	struct kura_session se;
	uint8_t h[32] = {0};
	char path[512], err[256];
	FILE *fp;

	memset(&t, 0xAA, sizeof(t));
	assert_int_equal(kura_store_tenant_get(s, "nobody", &t), KURA_E_NOT_FOUND);
	assert_true(all_zero(&t, sizeof(t)));
	memset(&t, 0xAA, sizeof(t));
	assert_int_equal(kura_store_tenant_get(s, "../bad", &t), KURA_E_NOT_FOUND);
	assert_true(all_zero(&t, sizeof(t)));

	assert_int_equal(kura_store_tenant_acquire(s, "nobody", &db), KURA_E_NOT_FOUND);
	assert_null(db);

	make_tenant(s, "acme");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	memset(&u, 0xAA, sizeof(u));
	assert_int_equal(kura_store_user_get(db, 12345, &u), KURA_E_NOT_FOUND);
	assert_true(all_zero(&u, sizeof(u)));
	memset(&u, 0xAA, sizeof(u));
	assert_int_equal(kura_store_user_get_by_email(db, "x@y", &u), KURA_E_NOT_FOUND);
	assert_true(all_zero(&u, sizeof(u)));
	memset(&se, 0xAA, sizeof(se));
	assert_int_equal(kura_store_session_get(db, h, &se), KURA_E_NOT_FOUND);
	assert_true(all_zero(&se, sizeof(se)));
	kura_store_tenant_release(db);

	/* A data directory that cannot be made: out stays NULL, err says why. */
	snprintf(path, sizeof(path), "%s/file", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/file/sub", f->dir);
	err[0] = '\0';
	assert_int_not_equal(kura_store_open(ops, path, 4, &s2, err, sizeof(err)), KURA_OK);
	assert_null(s2);
	assert_true(err[0] != '\0');
}

static void
test_transactions(void **state)
{
	struct kura_store *s = open_store(*state, 1);
	struct kura_tenant_db *db = NULL;
	struct kura_user u, got;

	make_tenant(s, "acme");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);

	assert_int_equal(kura_store_begin(db), KURA_OK);
	user_init(&u, "gone@example.com", "Gone");
	assert_int_equal(kura_store_user_create(db, &u), KURA_OK);
	kura_store_rollback(db);
	assert_int_equal(kura_store_user_get_by_email(db, "gone@example.com", &got),
			 KURA_E_NOT_FOUND);

	assert_int_equal(kura_store_begin(db), KURA_OK);
	user_init(&u, "kept@example.com", "Kept");
	assert_int_equal(kura_store_user_create(db, &u), KURA_OK);
	assert_int_equal(kura_store_commit(db), KURA_OK);
	assert_int_equal(kura_store_user_get_by_email(db, "kept@example.com", &got), KURA_OK);

	/* A handle released mid-transaction: the work is rolled back, not inherited. */
	assert_int_equal(kura_store_begin(db), KURA_OK);
	user_init(&u, "leak@example.com", "Leak");
	assert_int_equal(kura_store_user_create(db, &u), KURA_OK);
	kura_store_tenant_release(db);
	db = NULL;
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	assert_int_equal(kura_store_user_get_by_email(db, "leak@example.com", &got),
			 KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_begin(db), KURA_OK); /* no transaction is still open */
	kura_store_rollback(db);
	kura_store_tenant_release(db);
}

static void
test_reopen_keeps_data(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = open_store(f, 4);
	struct kura_tenant_db *db = NULL;
	struct kura_session se, got_s;
	struct kura_tenant t;
	struct kura_user got;
	uint8_t key[128];
	size_t len = 0;
	int64_t uid;

	make_tenant(s, "acme");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	uid = make_user(db, "persist@example.com", "Persist");
	session_init(&se, 0x55, uid, 1000, 9000);
	assert_int_equal(kura_store_session_create(db, &se), KURA_OK);
	kura_store_tenant_release(db);
	assert_int_equal(kura_store_tenant_set_status(s, "acme", KURA_TENANT_SUSPENDED, 5), KURA_OK);

	s = open_store(f, 4); /* closes the first one */
	assert_int_equal(kura_store_tenant_get(s, "acme", &t), KURA_OK);
	assert_int_equal(t.status, KURA_TENANT_SUSPENDED);
	assert_int_equal(kura_store_tenant_key_get(s, "acme", 1, key, sizeof(key), &len), KURA_OK);
	assert_int_equal(len, sizeof(wrapped_a));
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	assert_int_equal(kura_store_user_get(db, uid, &got), KURA_OK);
	assert_string_equal(got.email, "persist@example.com");
	assert_int_equal(kura_store_session_get(db, se.id_hash, &got_s), KURA_OK);
	assert_true(got_s.user_id == uid);
	kura_store_tenant_release(db);
}

#define THREADS 8
#define ROUNDS 200
#define USERS 20

struct worker {
	struct kura_store *s;
	int index;
	int errors;
	int64_t ids[2][USERS];
};

static void *
worker_main(void *arg)
{
	static const char *const tenants[2] = {"acme", "globex"};
	struct worker *w = arg;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		int ti = (w->index + i) % 2, ui = (w->index * 7 + i) % USERS;
		struct kura_tenant_db *db = NULL;
		struct kura_tenant t;
		struct kura_user u;
		char email[64], name[64];

		if (kura_store_tenant_get(w->s, tenants[ti], &t) != KURA_OK) {
			w->errors++;
			continue;
		}
		if (kura_store_tenant_acquire(w->s, tenants[ti], &db) != KURA_OK) {
			w->errors++;
			continue;
		}
		snprintf(email, sizeof(email), "user%d@example.com", ui);
		snprintf(name, sizeof(name), "%s %d", tenants[ti], ui);
		if (strcmp(kura_store_tenant_id(db), tenants[ti]) != 0)
			w->errors++;
		if (kura_store_user_get_by_email(db, email, &u) != KURA_OK ||
		    strcmp(u.display_name, name) != 0 || u.id != w->ids[ti][ui])
			w->errors++;
		if (kura_store_user_get(db, w->ids[ti][ui], &u) != KURA_OK ||
		    strcmp(u.display_name, name) != 0)
			w->errors++;
		kura_store_tenant_release(db);
	}
	return NULL;
}

static void
test_concurrent_acquire(void **state)
{
	static const char *const tenants[2] = {"acme", "globex"};
	/* Fewer connections than threads, so some acquires must wait. */
	struct kura_store *s = open_store(*state, 2);
	struct worker w[THREADS];
	pthread_t th[THREADS];
	int64_t ids[2][USERS];
	int i, j;

	for (i = 0; i < 2; i++) {
		struct kura_tenant_db *db = NULL;

		make_tenant(s, tenants[i]);
		assert_int_equal(kura_store_tenant_acquire(s, tenants[i], &db), KURA_OK);
		for (j = 0; j < USERS; j++) {
			char email[64], name[64];

			snprintf(email, sizeof(email), "User%d@Example.com", j);
			snprintf(name, sizeof(name), "%s %d", tenants[i], j);
			ids[i][j] = make_user(db, email, name);
		}
		kura_store_tenant_release(db);
	}
	for (i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = s;
		w[i].index = i;
		memcpy(w[i].ids, ids, sizeof(ids));
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].errors, 0);
	}
}

/* The audit log's rows (audit/ chains them; here they are only stored). */
static void
audit_init(struct kura_audit_entry *e, int64_t seq, int64_t ts, const char *action,
	   const char *email, int outcome)
{
	memset(e, 0, sizeof(*e));
	e->seq = seq;
	e->ts_us = ts;
	e->actor_type = KURA_ACTOR_USER;
	e->actor_id = 100 + seq % 2;
	snprintf(e->actor_email, sizeof(e->actor_email), "%s", email);
	snprintf(e->actor_role, sizeof(e->actor_role), "admin");
	snprintf(e->ip, sizeof(e->ip), seq % 2 ? "192.0.2.1" : "2001:db8::7");
	snprintf(e->user_agent, sizeof(e->user_agent), "UA %d", (int)seq);
	snprintf(e->request_id, sizeof(e->request_id), "%016x", (unsigned)seq);
	snprintf(e->action, sizeof(e->action), "%s", action);
	snprintf(e->target_type, sizeof(e->target_type), seq % 3 ? "user" : "session");
	snprintf(e->target_id, sizeof(e->target_id), "%d", (int)(seq % 3));
	snprintf(e->target_props, sizeof(e->target_props), "email,role");
	e->outcome = (enum kura_audit_outcome)outcome;
	if (outcome != KURA_AUDIT_SUCCESS)
		snprintf(e->error_code, sizeof(e->error_code), "forbidden");
	memset(e->prev_hash, (int)(seq - 1), sizeof(e->prev_hash));
	memset(e->hash, (int)seq, sizeof(e->hash));
}

#define MAX_SEEN 32

struct seen {
	int n;
	int stop_after; /* 0: never stop */
	int64_t seq[MAX_SEEN];
	struct kura_audit_entry last;
};

static bool
collect_entry(void *ctx, const struct kura_audit_entry *e)
{
	struct seen *sn = ctx;

	if (sn->n < MAX_SEEN)
		sn->seq[sn->n] = e->seq;
	sn->n++;
	sn->last = *e;
	return sn->stop_after == 0 || sn->n < sn->stop_after;
}

/* Runs f and checks the seqs returned (newest first) are exactly want[0..n). */
static void
expect_query(struct kura_tenant_db *db, const struct kura_audit_filter *f, const int64_t *want,
	     size_t n)
{
	struct seen sn;
	size_t i;

	memset(&sn, 0, sizeof(sn));
	assert_int_equal(kura_store_audit_query(db, f, collect_entry, &sn), KURA_OK);
	assert_int_equal(sn.n, n);
	for (i = 0; i < n; i++)
		assert_int_equal(sn.seq[i], want[i]);
}

static void
filter_clear(struct kura_audit_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->outcome = -1;
}

#define Q(db, f, ...)                                                                      \
	expect_query((db), (f), (const int64_t[]){__VA_ARGS__},                              \
		     sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define Q_NONE(db, f) expect_query((db), (f), NULL, 0)

static void
test_audit_rows(void **state)
{
	static const char *const actions[] = {"auth.login", "auth.logout", "authx.login",
					      "a_b.x",      "axb.y",       "p%q.z",
					      "pxyq.z",     "Auth.login"};
	struct kura_store *s = open_store(*state, 4);
	struct kura_tenant_db *db = NULL;
	struct kura_audit_entry e;
	struct kura_audit_filter f;
	struct seen sn;
	uint8_t hash[32];
	int64_t seq = 0;
	int i;

	make_tenant(s, "acme");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);

	/* Empty: head is seq 0 and the zero hash. */
	seq = 99;
	memset(hash, 0xee, sizeof(hash));
	assert_int_equal(kura_store_audit_head(db, &seq, hash), KURA_OK);
	assert_int_equal(seq, 0);
	assert_true(all_zero(hash, sizeof(hash)));

	assert_false(kura_store_in_transaction(db));
	assert_int_equal(kura_store_begin(db), KURA_OK);
	assert_true(kura_store_in_transaction(db));
	kura_store_rollback(db);
	assert_false(kura_store_in_transaction(db));
	assert_false(kura_store_in_transaction(NULL));

	for (i = 0; i < 8; i++) {
		audit_init(&e, i + 1, 1000 * (i + 1), actions[i],
			   i == 2 ? "Carol@Example.com" : "alice@example.com",
			   i == 4 ? KURA_AUDIT_DENIED : KURA_AUDIT_SUCCESS);
		assert_int_equal(kura_store_audit_insert(db, &e), KURA_OK);
	}
	audit_init(&e, 3, 1, "dup", "x@example.com", 0);
	assert_int_equal(kura_store_audit_insert(db, &e), KURA_E_CONFLICT);
	e.seq = 0;
	assert_int_equal(kura_store_audit_insert(db, &e), KURA_E_VALIDATION);
	e.seq = -5;
	assert_int_equal(kura_store_audit_insert(db, &e), KURA_E_VALIDATION);

	assert_int_equal(kura_store_audit_head(db, &seq, hash), KURA_OK);
	assert_int_equal(seq, 8);
	assert_int_equal(hash[0], 8);
	assert_int_equal(hash[31], 8);

	/* Scan: ascending, from a seq, every field back as stored; stops on request. */
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(kura_store_audit_scan(db, 1, collect_entry, &sn), KURA_OK);
	assert_int_equal(sn.n, 8);
	for (i = 0; i < 8; i++)
		assert_int_equal(sn.seq[i], i + 1);
	audit_init(&e, 8, 8000, "Auth.login", "alice@example.com", 0);
	/* Field by field: struct padding is not part of an entry. */
	assert_int_equal(sn.last.seq, e.seq);
	assert_int_equal(sn.last.ts_us, e.ts_us);
	assert_int_equal(sn.last.actor_type, e.actor_type);
	assert_int_equal(sn.last.actor_id, e.actor_id);
	assert_string_equal(sn.last.actor_email, e.actor_email);
	assert_string_equal(sn.last.actor_role, e.actor_role);
	assert_string_equal(sn.last.ip, e.ip);
	assert_string_equal(sn.last.user_agent, e.user_agent);
	assert_string_equal(sn.last.request_id, e.request_id);
	assert_string_equal(sn.last.action, e.action);
	assert_string_equal(sn.last.target_type, e.target_type);
	assert_string_equal(sn.last.target_id, e.target_id);
	assert_string_equal(sn.last.target_props, e.target_props);
	assert_int_equal(sn.last.outcome, e.outcome);
	assert_string_equal(sn.last.error_code, e.error_code);
	assert_memory_equal(sn.last.prev_hash, e.prev_hash, 32);
	assert_memory_equal(sn.last.hash, e.hash, 32);
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(kura_store_audit_scan(db, 6, collect_entry, &sn), KURA_OK);
	assert_int_equal(sn.n, 3);
	assert_int_equal(sn.seq[0], 6);
	memset(&sn, 0, sizeof(sn));
	sn.stop_after = 2;
	assert_int_equal(kura_store_audit_scan(db, 1, collect_entry, &sn), KURA_OK);
	assert_int_equal(sn.n, 2);
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(kura_store_audit_scan(db, 9, collect_entry, &sn), KURA_OK);
	assert_int_equal(sn.n, 0);

	/* Query: newest first; each filter alone, then combined. */
	filter_clear(&f);
	Q(db, &f, 8, 7, 6, 5, 4, 3, 2, 1);
	f.limit = 3;
	Q(db, &f, 8, 7, 6);
	f.before_seq = 6;
	Q(db, &f, 5, 4, 3);
	filter_clear(&f);
	f.from_us = 3000;
	f.to_us = 6000;
	Q(db, &f, 5, 4, 3);
	filter_clear(&f);
	f.actor_id = 101;
	Q(db, &f, 7, 5, 3, 1);
	filter_clear(&f);
	snprintf(f.actor_email, sizeof(f.actor_email), "carol@EXAMPLE.com");
	Q(db, &f, 3);
	filter_clear(&f);
	snprintf(f.action, sizeof(f.action), "auth.login");
	Q(db, &f, 1);
	/* Prefix: case-sensitive, and '_' / '%' are plain characters. */
	snprintf(f.action, sizeof(f.action), "auth.*");
	Q(db, &f, 2, 1);
	snprintf(f.action, sizeof(f.action), "auth*");
	Q(db, &f, 3, 2, 1);
	snprintf(f.action, sizeof(f.action), "a_b.*");
	Q(db, &f, 4);
	snprintf(f.action, sizeof(f.action), "p%%q.*");
	Q(db, &f, 6);
	snprintf(f.action, sizeof(f.action), "%%*");
	Q_NONE(db, &f);
	snprintf(f.action, sizeof(f.action), "*");
	Q(db, &f, 8, 7, 6, 5, 4, 3, 2, 1);
	snprintf(f.action, sizeof(f.action), "auth.login' OR '1'='1");
	Q_NONE(db, &f);
	filter_clear(&f);
	snprintf(f.target_type, sizeof(f.target_type), "session");
	Q(db, &f, 6, 3);
	snprintf(f.target_id, sizeof(f.target_id), "0");
	Q(db, &f, 6, 3);
	filter_clear(&f);
	snprintf(f.target_id, sizeof(f.target_id), "1");
	Q(db, &f, 7, 4, 1);
	filter_clear(&f);
	f.outcome = KURA_AUDIT_DENIED;
	Q(db, &f, 5);
	f.outcome = KURA_AUDIT_SUCCESS;
	Q(db, &f, 8, 7, 6, 4, 3, 2, 1);
	f.outcome = 7;
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(kura_store_audit_query(db, &f, collect_entry, &sn), KURA_E_VALIDATION);
	assert_int_equal(sn.n, 0);
	filter_clear(&f);
	snprintf(f.ip, sizeof(f.ip), "2001:db8::7");
	Q(db, &f, 8, 6, 4, 2);
	f.actor_id = 100;
	f.from_us = 2000;
	f.limit = 2;
	f.before_seq = 8;
	Q(db, &f, 6, 4);
	/* Filter strings without a NUL are bounded by their arrays. */
	filter_clear(&f);
	memset(f.action, 'a', sizeof(f.action));
	memset(f.ip, '1', sizeof(f.ip));
	Q_NONE(db, &f);

	/* Inside a transaction: a rollback takes the rows back out. */
	assert_int_equal(kura_store_begin(db), KURA_OK);
	audit_init(&e, 9, 9000, "tx.test", "a@example.com", 0);
	assert_int_equal(kura_store_audit_insert(db, &e), KURA_OK);
	assert_int_equal(kura_store_audit_head(db, &seq, hash), KURA_OK);
	assert_int_equal(seq, 9);
	kura_store_rollback(db);
	assert_int_equal(kura_store_audit_head(db, &seq, hash), KURA_OK);
	assert_int_equal(seq, 8);

	/* Strings without a NUL are stored cut to their arrays, never read past. */
	assert_int_equal(kura_store_begin(db), KURA_OK);
	memset(&e, 'B', sizeof(e));
	e.seq = 100;
	e.outcome = KURA_AUDIT_SUCCESS;
	e.actor_type = KURA_ACTOR_SYSTEM;
	assert_int_equal(kura_store_audit_insert(db, &e), KURA_OK);
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(kura_store_audit_scan(db, 100, collect_entry, &sn), KURA_OK);
	assert_int_equal(sn.n, 1);
	assert_int_equal(strlen(sn.last.actor_email), KURA_EMAIL_MAX);
	assert_int_equal(strlen(sn.last.user_agent), KURA_UA_MAX);
	assert_int_equal(strlen(sn.last.target_props), KURA_AUDIT_PROPS_MAX);
	assert_int_equal(strlen(sn.last.request_id), sizeof(e.request_id) - 1);
	assert_int_equal(strlen(sn.last.error_code), KURA_AUDIT_CODE_MAX);
	/* Read back exactly as stored: the hash of what was stored must match it. */
	assert_memory_equal(sn.last.actor_email, e.actor_email, KURA_EMAIL_MAX);
	kura_store_rollback(db);

	/* Misuse. */
	seq = 5;
	memset(hash, 1, sizeof(hash));
	assert_int_equal(kura_store_audit_head(NULL, &seq, hash), KURA_E_INTERNAL);
	assert_int_equal(seq, 0);
	assert_true(all_zero(hash, sizeof(hash)));
	assert_int_equal(kura_store_audit_head(db, NULL, hash), KURA_E_INTERNAL);
	assert_int_equal(kura_store_audit_insert(db, NULL), KURA_E_INTERNAL);
	assert_int_equal(kura_store_audit_scan(db, 1, NULL, NULL), KURA_E_INTERNAL);
	assert_int_equal(kura_store_audit_query(db, NULL, collect_entry, &sn), KURA_E_INTERNAL);
	kura_store_tenant_release(db);
}

struct seal_seen {
	int n;
	int stop_after;
	struct kura_audit_seal s[8];
};

static bool
collect_seal(void *ctx, const struct kura_audit_seal *s)
{
	struct seal_seen *ss = ctx;

	if (ss->n < 8)
		ss->s[ss->n] = *s;
	ss->n++;
	return ss->stop_after == 0 || ss->n < ss->stop_after;
}

static void
test_audit_seals(void **state)
{
	struct kura_store *s = open_store(*state, 4);
	struct seal_seen ss;
	uint8_t h[32], m[32];

	make_tenant(s, "acme");
	make_tenant(s, "globex");
	memset(m, 0x5a, sizeof(m));
	memset(h, 3, sizeof(h));
	assert_int_equal(kura_store_seal_put(s, "acme", 3, h, m, 30), KURA_OK);
	/* Never overwritten. */
	memset(h, 0x33, sizeof(h));
	assert_int_equal(kura_store_seal_put(s, "acme", 3, h, m, 31), KURA_E_EXISTS);
	memset(h, 7, sizeof(h));
	assert_int_equal(kura_store_seal_put(s, "acme", 7, h, m, 70), KURA_OK);
	memset(h, 1, sizeof(h));
	assert_int_equal(kura_store_seal_put(s, "acme", 1, h, m, 10), KURA_OK);
	assert_int_equal(kura_store_seal_put(s, "globex", 2, h, m, 20), KURA_OK);

	memset(&ss, 0, sizeof(ss));
	assert_int_equal(kura_store_seal_list(s, "acme", collect_seal, &ss), KURA_OK);
	assert_int_equal(ss.n, 3);
	assert_int_equal(ss.s[0].seq, 1);
	assert_int_equal(ss.s[1].seq, 3);
	assert_int_equal(ss.s[2].seq, 7);
	assert_int_equal(ss.s[1].hash[0], 3);
	assert_int_equal(ss.s[1].hash[31], 3);
	assert_int_equal(ss.s[1].sealed_at, 30);
	assert_memory_equal(ss.s[2].mac, m, sizeof(m));
	memset(&ss, 0, sizeof(ss));
	ss.stop_after = 1;
	assert_int_equal(kura_store_seal_list(s, "acme", collect_seal, &ss), KURA_OK);
	assert_int_equal(ss.n, 1);
	memset(&ss, 0, sizeof(ss));
	assert_int_equal(kura_store_seal_list(s, "globex", collect_seal, &ss), KURA_OK);
	assert_int_equal(ss.n, 1);
	assert_int_equal(ss.s[0].seq, 2);

	/* No such tenant, malformed ids, bad seqs. */
	assert_int_equal(kura_store_seal_put(s, "nope", 1, h, m, 1), KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_seal_put(s, "../acme", 1, h, m, 1), KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_seal_put(s, "acme", 0, h, m, 1), KURA_E_VALIDATION);
	assert_int_equal(kura_store_seal_put(s, "acme", 9, NULL, m, 1), KURA_E_INTERNAL);
	memset(&ss, 0, sizeof(ss));
	assert_int_equal(kura_store_seal_list(s, "nope", collect_seal, &ss), KURA_OK);
	assert_int_equal(ss.n, 0);
	assert_int_equal(kura_store_seal_list(s, "Bad!", collect_seal, &ss), KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_seal_list(s, "acme", NULL, NULL), KURA_E_INTERNAL);
}

/* ---------------------------------------------------------------- SQLite only */

static void
assert_mode(const char *path, mode_t want)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		fail_msg("stat %s: %s", path, strerror(errno));
	if ((sb.st_mode & 07777) != want)
		fail_msg("%s has mode %o, want %o", path, (unsigned)(sb.st_mode & 07777),
			 (unsigned)want);
}

static void
test_sqlite_files_and_modes(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = NULL;
	struct kura_tenant_db *db = NULL;
	char dir[512], path[600], err[256];
	mode_t old = umask(022);

	/* A data directory that does not exist yet is made. */
	snprintf(dir, sizeof(dir), "%s/data", f->dir);
	assert_int_equal(kura_store_open(ops, dir, 4, &s, err, sizeof(err)), KURA_OK);
	f->s = s;
	make_tenant(s, "acme");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	(void)make_user(db, "x@example.com", "X");

	assert_mode(dir, 0700);
	snprintf(path, sizeof(path), "%s/system.db", dir);
	assert_mode(path, 0600);
	snprintf(path, sizeof(path), "%s/system.db-wal", dir);
	assert_mode(path, 0600);
	snprintf(path, sizeof(path), "%s/tenants", dir);
	assert_mode(path, 0700);
	snprintf(path, sizeof(path), "%s/tenants/acme", dir);
	assert_mode(path, 0700);
	snprintf(path, sizeof(path), "%s/tenants/acme/tenant.db", dir);
	assert_mode(path, 0600);
	snprintf(path, sizeof(path), "%s/tenants/acme/tenant.db-wal", dir);
	assert_mode(path, 0600);
	snprintf(path, sizeof(path), "%s/tenants/acme/tenant.db-shm", dir);
	assert_mode(path, 0600);
	kura_store_tenant_release(db);
	umask(old);
}

static int
sql_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
sql_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void
test_sqlite_schema_version(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = open_store(f, 4);
	struct kura_tenant_db *db = (struct kura_tenant_db *)&db;
	char path[600], err[512], want[128];

	assert_true(kura_store_schema_version_system >= 1);
	assert_true(kura_store_schema_version_tenant >= 1);
	make_tenant(s, "acme");
	kura_store_close(s);
	f->s = NULL;

	snprintf(path, sizeof(path), "%s/system.db", f->dir);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), kura_store_schema_version_system);
	assert_int_equal(sql_int(path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	snprintf(path, sizeof(path), "%s/tenants/acme/tenant.db", f->dir);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), kura_store_schema_version_tenant);

	/* A tenant database from a newer kurad: its handle is refused. */
	sql_exec(path, "PRAGMA user_version = 9999");
	s = open_store(f, 4);
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_E_DB_TOO_NEW);
	assert_null(db);
	kura_store_close(s);
	f->s = NULL;
	snprintf(want, sizeof(want), "PRAGMA user_version = %d", kura_store_schema_version_tenant);
	sql_exec(path, want);

	/* A system database from a newer kurad: the store does not open. */
	snprintf(path, sizeof(path), "%s/system.db", f->dir);
	sql_exec(path, "PRAGMA user_version = 9999");
	s = (struct kura_store *)&s;
	err[0] = '\0';
	assert_int_equal(kura_store_open(ops, f->dir, 4, &s, err, sizeof(err)),
			 KURA_E_DB_TOO_NEW);
	assert_null(s);
	snprintf(want, sizeof(want), "has schema version 9999, this kurad knows up to %d; "
				     "upgrade kurad", kura_store_schema_version_system);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "system.db"));
}

static bool
file_contains(const char *path, const void *needle, size_t n)
{
	bool found = false;
	char *buf = NULL;
	size_t len;
	FILE *fp = fopen(path, "rb");

	if (fp == NULL)
		return false;
	buf = malloc(1 << 22);
	assert_non_null(buf);
	len = fread(buf, 1, 1 << 22, fp);
	fclose(fp);
	found = memmem(buf, len, needle, n) != NULL;
	free(buf);
	return found;
}

static void
test_sqlite_keys_only_in_system_db(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = open_store(f, 4);
	char path[600];

	make_tenant(s, "acme");
	kura_store_close(s); /* checkpoints the WAL into the main files */
	f->s = NULL;

	snprintf(path, sizeof(path), "%s/system.db", f->dir);
	assert_true(file_contains(path, wrapped_a, sizeof(wrapped_a)));
	snprintf(path, sizeof(path), "%s/tenants/acme/tenant.db", f->dir);
	assert_false(file_contains(path, wrapped_a, sizeof(wrapped_a)));
	/* API keys (hashes of client secrets) are not key material: only those are allowed. */
	assert_int_equal(sql_int(path, "SELECT count(*) FROM sqlite_schema "
				       "WHERE name LIKE '%key%' AND name NOT LIKE '%api_keys%'"),
			 0);
}

static void
test_sqlite_failed_create_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = open_store(f, 4);
	struct kura_tenant_db *db = NULL;
	struct kura_tenant t;
	uint8_t key[128];
	size_t len = 0;
	char path[600];
	FILE *fp;

	/* The tenant's directory cannot be made (a file is in the way). */
	snprintf(path, sizeof(path), "%s/tenants/blocked", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	tenant_init(&t, "blocked", "Blocked");
	assert_int_not_equal(kura_store_tenant_create(s, &t, wrapped_a, sizeof(wrapped_a)),
			     KURA_OK);
	assert_int_equal(kura_store_tenant_get(s, "blocked", &t), KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_tenant_key_get(s, "blocked", 1, key, sizeof(key), &len),
			 KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_tenant_acquire(s, "blocked", &db), KURA_E_NOT_FOUND);
	unlink(path);

	/* Leftover database files of an id nobody has: refused, and kept for a human. */
	snprintf(path, sizeof(path), "%s/tenants/stale", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/tenants/stale/tenant.db-wal", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	tenant_init(&t, "stale", "Stale");
	assert_int_equal(kura_store_tenant_create(s, &t, wrapped_a, sizeof(wrapped_a)),
			 KURA_E_EXISTS);
	assert_int_equal(kura_store_tenant_get(s, "stale", &t), KURA_E_NOT_FOUND);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	/* Once cleaned up, the id can be used. */
	make_tenant(s, "stale");
	assert_int_equal(kura_store_tenant_acquire(s, "stale", &db), KURA_OK);
	kura_store_tenant_release(db);
}

static void
test_sqlite_misplaced_db_refused(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = open_store(f, 4);
	struct kura_tenant_db *db = NULL;
	char from[600], to[600];

	make_tenant(s, "acme");
	make_tenant(s, "globex");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	(void)make_user(db, "secret@acme.example", "Acme's");
	kura_store_tenant_release(db);
	kura_store_close(s);
	f->s = NULL;

	/* acme's database copied over globex's: globex must not be served acme's data. */
	snprintf(from, sizeof(from), "%s/tenants/acme/tenant.db", f->dir);
	snprintf(to, sizeof(to), "%s/tenants/globex/tenant.db", f->dir);
	assert_int_equal(rename(from, to), 0);
	s = open_store(f, 4);
	db = (struct kura_tenant_db *)&db;
	assert_int_equal(kura_store_tenant_acquire(s, "globex", &db), KURA_E_STORE);
	assert_null(db);
	/* And acme's database is gone: an error, not a fresh empty tenant. */
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_E_STORE);
	assert_null(db);
	assert_int_not_equal(access(from, F_OK), 0);
}

/* Runs sql on path and answers whether SQLite accepted it. */
static bool
sql_try(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK;
}

static void
test_sqlite_audit_append_only(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = open_store(f, 4);
	struct kura_tenant_db *db = NULL;
	struct kura_audit_entry e;
	uint8_t h[32] = {1}, m[32] = {2};
	char path[600];

	make_tenant(s, "acme");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	audit_init(&e, 1, 1000, "auth.login", "a@example.com", 0);
	assert_int_equal(kura_store_audit_insert(db, &e), KURA_OK);
	kura_store_tenant_release(db);
	assert_int_equal(kura_store_seal_put(s, "acme", 1, h, m, 5), KURA_OK);
	kura_store_close(s);
	f->s = NULL;

	/* Our own SQL cannot rewrite or delete entries or seals by mistake... */
	snprintf(path, sizeof(path), "%s/tenants/acme/tenant.db", f->dir);
	assert_false(sql_try(path, "UPDATE audit_log SET action = 'x'"));
	assert_false(sql_try(path, "DELETE FROM audit_log"));
	assert_int_equal(sql_int(path, "SELECT count(*) FROM audit_log WHERE action = 'auth.login'"),
			 1);
	snprintf(path, sizeof(path), "%s/system.db", f->dir);
	assert_false(sql_try(path, "UPDATE audit_seals SET seq = 2"));
	assert_int_equal(sql_int(path, "SELECT count(*) FROM audit_seals WHERE seq = 1"), 1);
}

static int
count_fds(void)
{
	char path[64];
	int fd, n = 0;

	for (fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

#define MANY_TENANTS 100

static void
test_sqlite_idle_connections_bounded(void **state)
{
	struct kura_store *s = open_store(*state, 4);
	struct kura_tenant_db *db = NULL;
	struct kura_user u;
	char id[16];
	int base, i, round;

	base = count_fds();
	/* Every tenant used once leaves (at most) one idle connection behind... */
	for (i = 0; i < MANY_TENANTS; i++) {
		snprintf(id, sizeof(id), "t%03d", i);
		make_tenant(s, id);
		assert_int_equal(kura_store_tenant_acquire(s, id, &db), KURA_OK);
		(void)make_user(db, "u@example.com", id);
		kura_store_tenant_release(db);
	}
	/* ...but only the most recent 64 or so stay open: 3 descriptors each at most. */
	assert_true(count_fds() - base <= 64 * 3 + 8);
	/* Evicted ones reopen transparently, twice over. */
	for (round = 0; round < 2; round++) {
		for (i = 0; i < MANY_TENANTS; i++) {
			snprintf(id, sizeof(id), "t%03d", i);
			assert_int_equal(kura_store_tenant_acquire(s, id, &db), KURA_OK);
			assert_int_equal(kura_store_user_get_by_email(db, "u@example.com", &u),
					 KURA_OK);
			assert_string_equal(u.display_name, id);
			kura_store_tenant_release(db);
		}
	}
	assert_true(count_fds() - base <= 64 * 3 + 8);
}

static void
apikey_init(struct kura_apikey *k, uint8_t tag, int64_t user_id, const char *name)
{
	memset(k, 0, sizeof(*k));
	k->user_id = user_id;
	snprintf(k->name, sizeof(k->name), "%s", name);
	snprintf(k->prefix, sizeof(k->prefix), "abcdefgh");
	memset(k->secret_hash, tag, sizeof(k->secret_hash));
	snprintf(k->scopes, sizeof(k->scopes), "users.read,audit.read");
	snprintf(k->cidrs, sizeof(k->cidrs), "10.0.0.0/8");
	k->created_at = 1700000000000100;
}

static void
count_key(void *ctx, const struct kura_apikey *k)
{
	(void)k;
	(*(int *)ctx)++;
}

/* API keys: found by hash with their creator, listed per user or all, revoked, touched, cascaded. */
static void
test_apikeys(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = open_store(f, 4);
	struct kura_tenant_db *db = NULL, *other = NULL;
	struct kura_apikey k, got;
	struct kura_user u;
	uint8_t h[32];
	struct kura_auth_read ar;
	int64_t alice, bob, kid;
	int n;

	make_tenant(s, "acme");
	make_tenant(s, "globex");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	assert_int_equal(kura_store_tenant_acquire(s, "globex", &other), KURA_OK);
	alice = make_user(db, "alice@acme.example", "Alice");
	bob = make_user(db, "bob@acme.example", "Bob");

	apikey_init(&k, 0x11, alice, "ci");
	assert_int_equal(kura_store_apikey_create(db, &k), KURA_OK);
	assert_true(k.id > 0 && k.id < (INT64_C(1) << 53));
	kid = k.id;
	/* the same secret hash twice is refused */
	apikey_init(&k, 0x11, bob, "dup");
	assert_int_equal(kura_store_apikey_create(db, &k), KURA_E_EXISTS);
	apikey_init(&k, 0x22, bob, "");
	assert_int_equal(kura_store_apikey_create(db, &k), KURA_E_VALIDATION);
	assert_int_equal(k.id, 0);
	apikey_init(&k, 0x22, 999, "ghost");
	assert_int_equal(kura_store_apikey_create(db, &k), KURA_E_NOT_FOUND);
	apikey_init(&k, 0x22, bob, "bob's");
	assert_int_equal(kura_store_apikey_create(db, &k), KURA_OK);

	memset(h, 0x11, sizeof(h));
	assert_int_equal(kura_store_apikey_auth(db, h, &got, &u, &ar), KURA_OK);
	assert_string_equal(ar.ip_allowlist, "");
	assert_int_equal(kura_store_setting_put(db, KURA_SETTING_APIKEY_IP_ALLOWLIST,
						"192.0.2.0/24,2001:db8::/32", 1),
			 KURA_OK);
	assert_int_equal(kura_store_apikey_auth(db, h, &got, &u, &ar), KURA_OK);
	assert_string_equal(ar.ip_allowlist, "192.0.2.0/24,2001:db8::/32");
	assert_int_equal(got.id, kid);
	assert_int_equal(u.id, alice);
	assert_string_equal(u.email, "alice@acme.example");
	assert_string_equal(got.name, "ci");
	assert_string_equal(got.prefix, "abcdefgh");
	assert_string_equal(got.scopes, "users.read,audit.read");
	assert_string_equal(got.cidrs, "10.0.0.0/8");
	assert_memory_equal(got.secret_hash, h, 32);
	assert_int_equal(got.revoked_at, 0);
	assert_int_equal(got.last_used_at, 0);
	/* another tenant's store does not know it; out-params zeroed */
	assert_int_equal(kura_store_apikey_auth(other, h, &got, &u, &ar), KURA_E_NOT_FOUND);
	assert_true(all_zero(&got, sizeof(got)) && all_zero(&u, sizeof(u)));
	memset(h, 0x33, sizeof(h));
	assert_int_equal(kura_store_apikey_auth(db, h, &got, &u, &ar), KURA_E_NOT_FOUND);
	assert_true(all_zero(&got, sizeof(got)) && all_zero(&u, sizeof(u)));

	n = 0;
	assert_int_equal(kura_store_apikey_list(db, alice, count_key, &n), KURA_OK);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(kura_store_apikey_list(db, 0, count_key, &n), KURA_OK);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(kura_store_apikey_list(other, 0, count_key, &n), KURA_OK);
	assert_int_equal(n, 0);

	assert_int_equal(kura_store_apikey_touch(db, kid, 1700000000000200, "10.1.2.3"), KURA_OK);
	/* an older time never wins */
	assert_int_equal(kura_store_apikey_touch(db, kid, 1700000000000150, "10.1.2.4"), KURA_OK);
	memset(h, 0x11, sizeof(h));
	assert_int_equal(kura_store_apikey_auth(db, h, &got, &u, &ar), KURA_OK);
	assert_int_equal(got.last_used_at, 1700000000000200);

	/* only the owner (or user_id 0) revokes; other tenants cannot */
	assert_int_equal(kura_store_apikey_revoke(db, kid, bob, 1700000000000300), KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_apikey_revoke(other, kid, 0, 1700000000000300), KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_apikey_revoke(db, kid, alice, 1700000000000300), KURA_OK);
	assert_int_equal(kura_store_apikey_revoke(db, kid, 0, 1700000000000400), KURA_OK);
	assert_int_equal(kura_store_apikey_auth(db, h, &got, &u, &ar), KURA_OK);
	assert_int_equal(got.revoked_at, 1700000000000300);

	/* keys die with their creator */
	assert_int_equal(kura_store_user_delete(db, alice), KURA_OK);
	assert_int_equal(kura_store_apikey_auth(db, h, &got, &u, &ar), KURA_E_NOT_FOUND);
	n = 0;
	assert_int_equal(kura_store_apikey_list(db, 0, count_key, &n), KURA_OK);
	assert_int_equal(n, 1);

	kura_store_tenant_release(db);
	kura_store_tenant_release(other);
}

static void
access_init(struct kura_form_access *a, int64_t at, const char *ip, const char *form,
	    const char *outcome)
{
	memset(a, 0, sizeof(*a));
	a->at_us = at;
	snprintf(a->ip, sizeof(a->ip), "%s", ip);
	snprintf(a->form, sizeof(a->form), "%s", form);
	snprintf(a->method, sizeof(a->method), "GET");
	a->status = 404;
	snprintf(a->outcome, sizeof(a->outcome), "%s", outcome);
	snprintf(a->user_agent, sizeof(a->user_agent), "probe/1.0");
	snprintf(a->request_id, sizeof(a->request_id), "00112233aabbccdd");
}

struct access_seen {
	int64_t ids[16];
	char forms[16][KURA_FORM_NAME_MAX + 1];
	size_t n;
};

static bool
access_collect(void *ctx, const struct kura_form_access *a)
{
	struct access_seen *x = ctx;

	assert_true(x->n < 16);
	x->ids[x->n] = a->id;
	snprintf(x->forms[x->n], sizeof(x->forms[0]), "%s", a->form);
	x->n++;
	return true;
}

/*
 * The consumer access log: rows stored as given and read back newest first,
 * each filter and the cursor, bad rows refused, the purge deleting only the
 * oldest rows past the cut-off and at most `limit` of them, one tenant's
 * rows invisible to another.
 */
static void
test_form_access_log(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = open_store(f, 4);
	struct kura_tenant_db *db = NULL, *other = NULL;
	struct kura_form_access_filter q;
	struct kura_form_access a;
	struct access_seen seen;
	int64_t deleted = -1, ids[5];
	static const char *const forms[] = {"contact", "contact", "newsletter", "contact", "survey"};

	make_tenant(s, "acme");
	make_tenant(s, "globex");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	assert_int_equal(kura_store_tenant_acquire(s, "globex", &other), KURA_OK);
	for (int i = 0; i < 5; i++) {
		access_init(&a, 1000 + i, i == 2 ? "2001:db8::7" : "192.0.2.1", forms[i],
			    i == 3 ? "throttled" : "form_not_found");
		assert_int_equal(kura_store_form_access_add(db, &a), KURA_OK);
		assert_true(a.id > 0);
		ids[i] = a.id;
	}
	/* refused: an empty address, form or request id, a status out of range */
	access_init(&a, 1, "", "x", "form_not_found");
	assert_int_equal(kura_store_form_access_add(db, &a), KURA_E_VALIDATION);
	access_init(&a, 1, "192.0.2.1", "", "form_not_found");
	assert_int_equal(kura_store_form_access_add(db, &a), KURA_E_VALIDATION);
	access_init(&a, 1, "192.0.2.1", "x", "form_not_found");
	a.request_id[0] = '\0';
	assert_int_equal(kura_store_form_access_add(db, &a), KURA_E_VALIDATION);
	access_init(&a, 1, "192.0.2.1", "x", "form_not_found");
	a.status = 600;
	assert_int_equal(kura_store_form_access_add(db, &a), KURA_E_VALIDATION);

	memset(&q, 0, sizeof(q));
	q.limit = 10;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(kura_store_form_access_query(db, &q, access_collect, &seen), KURA_OK);
	assert_int_equal(seen.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(seen.ids[i], ids[4 - i]);
	assert_string_equal(seen.forms[0], "survey");
	/* filters, alone and together */
	snprintf(q.form, sizeof(q.form), "contact");
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(kura_store_form_access_query(db, &q, access_collect, &seen), KURA_OK);
	assert_int_equal(seen.n, 3);
	snprintf(q.outcome, sizeof(q.outcome), "throttled");
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(kura_store_form_access_query(db, &q, access_collect, &seen), KURA_OK);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.ids[0], ids[3]);
	memset(&q, 0, sizeof(q));
	q.limit = 10;
	snprintf(q.ip, sizeof(q.ip), "2001:db8::7");
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(kura_store_form_access_query(db, &q, access_collect, &seen), KURA_OK);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.forms[0], "newsletter");
	memset(&q, 0, sizeof(q));
	q.limit = 10;
	q.from_us = 1001;
	q.to_us = 1003; /* 1001 and 1002 */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(kura_store_form_access_query(db, &q, access_collect, &seen), KURA_OK);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.ids[0], ids[2]);
	/* the cursor and the limit */
	memset(&q, 0, sizeof(q));
	q.limit = 2;
	q.before_id = ids[3];
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(kura_store_form_access_query(db, &q, access_collect, &seen), KURA_OK);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.ids[0], ids[2]);
	assert_int_equal(seen.ids[1], ids[1]);
	q.limit = 0;
	assert_int_equal(kura_store_form_access_query(db, &q, access_collect, &seen),
			 KURA_E_VALIDATION);
	q.limit = 1001;
	assert_int_equal(kura_store_form_access_query(db, &q, access_collect, &seen),
			 KURA_E_VALIDATION);

	/* another tenant sees none of it */
	memset(&q, 0, sizeof(q));
	q.limit = 10;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(kura_store_form_access_query(other, &q, access_collect, &seen), KURA_OK);
	assert_int_equal(seen.n, 0);

	/* the purge: older than 1003, at most 2 per call, oldest first */
	assert_int_equal(kura_store_form_access_purge(db, 1003, 0, &deleted), KURA_E_VALIDATION);
	assert_int_equal(kura_store_form_access_purge(db, 1003, 2, &deleted), KURA_OK);
	assert_int_equal(deleted, 2);
	assert_int_equal(kura_store_form_access_purge(other, 1003, 2, &deleted), KURA_OK);
	assert_int_equal(deleted, 0);
	assert_int_equal(kura_store_form_access_purge(db, 1003, 2, &deleted), KURA_OK);
	assert_int_equal(deleted, 1);
	assert_int_equal(kura_store_form_access_purge(db, 1003, 2, &deleted), KURA_OK);
	assert_int_equal(deleted, 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(kura_store_form_access_query(db, &q, access_collect, &seen), KURA_OK);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.ids[0], ids[4]);
	assert_int_equal(seen.ids[1], ids[3]);

	kura_store_tenant_release(db);
	kura_store_tenant_release(other);
}

/* The SQLite connection a handle's statements run on just now. */
static sqlite3 *
handle_db(struct kura_tenant_db *db)
{
	void *conn = NULL;

	(void)kura_store_crm(db, &conn);
	assert_non_null(conn);
	return ((struct kura_sqlite_conn *)conn)->db;
}

/*
 * Every transaction of the process runs on the tenant's writer connection,
 * which keeps its page cache from one transaction to the next: a second
 * handle's transaction finds the pages the first one wrote in memory
 * (its own connection's cache went stale with the first commit). Outside
 * transactions each handle is back on its own connection.
 */
static void
test_sqlite_transactions_share_writer(void **state)
{
	struct kura_store *s = open_store(*state, 4);
	struct kura_tenant_db *a = NULL, *b = NULL;
	sqlite3 *a_own, *b_own, *a_tx, *b_tx;
	struct kura_user got;
	int cur = -1, hi = 0;
	char email[64];

	make_tenant(s, "acme");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &a), KURA_OK);
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &b), KURA_OK);
	a_own = handle_db(a);
	b_own = handle_db(b);
	assert_ptr_not_equal(a_own, b_own);
	assert_int_equal(kura_store_user_get_by_email(b, "u0@example.com", &got),
			 KURA_E_NOT_FOUND);

	assert_int_equal(kura_store_begin(a), KURA_OK);
	a_tx = handle_db(a);
	assert_ptr_not_equal(a_tx, a_own);
	for (int i = 0; i < 300; i++) {
		snprintf(email, sizeof(email), "u%d@example.com", i);
		(void)make_user(a, email, "User");
	}
	assert_int_equal(kura_store_commit(a), KURA_OK);
	assert_ptr_equal(handle_db(a), a_own);

	assert_int_equal(kura_store_begin(b), KURA_OK);
	b_tx = handle_db(b);
	assert_ptr_equal(b_tx, a_tx);
	assert_int_equal(sqlite3_db_status(b_tx, SQLITE_DBSTATUS_CACHE_MISS, &cur, &hi, 1),
			 SQLITE_OK);
	for (int i = 0; i < 300; i++) {
		snprintf(email, sizeof(email), "u%d@example.com", i);
		assert_int_equal(kura_store_user_get_by_email(b, email, &got), KURA_OK);
	}
	assert_int_equal(sqlite3_db_status(b_tx, SQLITE_DBSTATUS_CACHE_MISS, &cur, &hi, 0),
			 SQLITE_OK);
	assert_int_equal(cur, 0);
	kura_store_rollback(b);
	assert_ptr_equal(handle_db(b), b_own);
	/* the handles' own connections read what was committed */
	assert_int_equal(kura_store_user_get_by_email(b, "u299@example.com", &got), KURA_OK);
	kura_store_tenant_release(a);
	kura_store_tenant_release(b);
}

struct begin_arg {
	struct kura_tenant_db *db;
	enum kura_err e;
};

static void *
begin_thread(void *p)
{
	struct begin_arg *x = p;

	x->e = kura_store_begin(x->db);
	return NULL;
}

/*
 * While one handle's transaction holds the writer, another handle's
 * begin_nowait answers BUSY at once and its begin waits for the commit
 * (or, after the busy timeout, answers UNAVAILABLE);
 * a handle released in the middle of a transaction gives the writer back.
 */
static void
test_sqlite_writer_waits(void **state)
{
	struct kura_store *s = open_store(*state, 4);
	struct kura_tenant_db *a = NULL, *b = NULL;
	struct begin_arg x;
	struct kura_user got;
	pthread_t th;

	make_tenant(s, "acme");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &a), KURA_OK);
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &b), KURA_OK);
	assert_int_equal(kura_store_begin(a), KURA_OK);
	(void)make_user(a, "first@example.com", "First");
	assert_int_equal(kura_store_begin_nowait(b), KURA_E_BUSY);
	assert_false(kura_store_in_transaction(b));
	/* a wait past the busy timeout ends as a BEGIN's would: unavailable */
	assert_int_equal(kura_store_begin(b), KURA_E_UNAVAILABLE);
	assert_false(kura_store_in_transaction(b));
	x.db = b;
	x.e = KURA_E_INTERNAL;
	assert_int_equal(pthread_create(&th, NULL, begin_thread, &x), 0);
	usleep(50 * 1000);
	assert_int_equal(kura_store_commit(a), KURA_OK);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(x.e, KURA_OK);
	/* b's transaction sees a's commit and holds the writer now */
	assert_int_equal(kura_store_user_get_by_email(b, "first@example.com", &got), KURA_OK);
	assert_int_equal(kura_store_begin_nowait(a), KURA_E_BUSY);
	(void)make_user(b, "left@example.com", "Left");
	kura_store_tenant_release(b);
	/* released mid-transaction: rolled back, and the writer is free */
	assert_int_equal(kura_store_begin_nowait(a), KURA_OK);
	assert_int_equal(kura_store_user_get_by_email(a, "left@example.com", &got),
			 KURA_E_NOT_FOUND);
	kura_store_rollback(a);
	kura_store_tenant_release(a);
}

static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Writes some 6 MB (about 1,500 pages) through the handle in one transaction. */
static void
write_filler(struct kura_tenant_db *db)
{
	assert_int_equal(kura_store_begin(db), KURA_OK);
	assert_int_equal(sqlite3_exec(handle_db(db),
				      "CREATE TABLE filler (x);"
				      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
				      "WHERE i < 2000) INSERT INTO filler SELECT randomblob(3000) FROM n",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(kura_store_commit(db), KURA_OK);
}

/* The size of path once it reaches min bytes (or after 20 s, whatever it is then). */
static off_t
size_when_grown(const char *path, off_t min)
{
	for (int waited_ms = 0; file_size(path) < min && waited_ms < 20000; waited_ms += 10)
		usleep(10 * 1000);
	return file_size(path);
}

/*
 * A commit that leaves the WAL past KURA_SQ_WAL_PASSIVE_PAGES is not
 * checkpointed by the committing thread but by the store's own, on an idle
 * connection of the pool: while both connections of a two-connection pool
 * are held, the pages stay in the WAL; once one is given back they reach
 * tenant.db with no further call into the store.
 */
static void
test_sqlite_checkpoints_in_background(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = open_store(f, 2);
	struct kura_tenant_db *a = NULL, *b = NULL;
	char path[600];
	off_t before;

	make_tenant(s, "acme");
	snprintf(path, sizeof(path), "%s/tenants/acme/tenant.db", f->dir);
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &a), KURA_OK);
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &b), KURA_OK);
	before = file_size(path);
	assert_true(before > 0);
	write_filler(a);
	usleep(100 * 1000);
	assert_true(file_size(path) < before + 2000 * 3000);
	kura_store_tenant_release(b);
	assert_true(size_when_grown(path, before + 2000 * 3000) >= before + 2000 * 3000);
	kura_store_tenant_release(a);
}

/*
 * A tenant whose connections are all in use waits for its checkpoint
 * without holding up another tenant's: globex's pages reach its file while
 * acme's stay in the WAL, and acme's follow once a connection is free.
 */
static void
test_sqlite_checkpoint_queue_passes_a_busy_tenant(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = open_store(f, 2);
	struct kura_tenant_db *a1 = NULL, *a2 = NULL, *g = NULL;
	char apath[600], gpath[600];
	off_t abefore, gbefore;

	make_tenant(s, "acme");
	make_tenant(s, "globex");
	snprintf(apath, sizeof(apath), "%s/tenants/acme/tenant.db", f->dir);
	snprintf(gpath, sizeof(gpath), "%s/tenants/globex/tenant.db", f->dir);
	abefore = file_size(apath);
	gbefore = file_size(gpath);
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &a1), KURA_OK);
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &a2), KURA_OK);
	write_filler(a1); /* queued first, and stuck: both of acme's connections are held */
	assert_int_equal(kura_store_tenant_acquire(s, "globex", &g), KURA_OK);
	write_filler(g);
	kura_store_tenant_release(g);
	assert_true(size_when_grown(gpath, gbefore + 2000 * 3000) >= gbefore + 2000 * 3000);
	assert_true(file_size(apath) < abefore + 2000 * 3000);
	kura_store_tenant_release(a2);
	assert_true(size_when_grown(apath, abefore + 2000 * 3000) >= abefore + 2000 * 3000);
	kura_store_tenant_release(a1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/*
 * Tenant migration 9, run again on a tenant as it was before it: API keys
 * get a copy of a non-empty ipAllowlist as their own apiKeyIpAllowlist (an
 * empty or absent one gives nothing), a list set since is kept, and a
 * setting may hold a full allow-list (50 ranges of 43 characters).
 */
static void
test_sqlite_migration_apikey_allowlist(void **state)
{
	struct fx *f = *state;
	struct kura_store *s = open_store(f, 4);
	struct kura_tenant_db *db = NULL;
	char path[600], got[4096], *sql;
	FILE *fp;
	long len;

	make_tenant(s, "acme");
	make_tenant(s, "globex");
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	assert_int_equal(kura_store_setting_put(db, "ipAllowlist", "10.0.0.0/8,2001:db8::/32", 1),
			 KURA_OK);
	kura_store_tenant_release(db);
	assert_int_equal(kura_store_tenant_acquire(s, "globex", &db), KURA_OK);
	assert_int_equal(kura_store_setting_put(db, "ipAllowlist", "", 1), KURA_OK);
	kura_store_tenant_release(db);
	kura_store_close(s);
	f->s = NULL;

	fp = fopen(KURA_SOURCE_ROOT "/src/store/migrations/sqlite/tenant/0009_apikey_allowlist.sql",
		   "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	len = ftell(fp);
	assert_true(len > 0);
	rewind(fp);
	sql = calloc(1, (size_t)len + 1);
	assert_non_null(sql);
	assert_int_equal(fread(sql, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/tenants/acme/tenant.db", f->dir);
	sql_exec(path, sql);
	snprintf(path, sizeof(path), "%s/tenants/globex/tenant.db", f->dir);
	sql_exec(path, sql);

	s = open_store(f, 4);
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	assert_int_equal(kura_store_setting_get(db, "apiKeyIpAllowlist", got, sizeof(got)), KURA_OK);
	assert_string_equal(got, "10.0.0.0/8,2001:db8::/32");
	assert_int_equal(kura_store_setting_get(db, "ipAllowlist", got, sizeof(got)), KURA_OK);
	assert_string_equal(got, "10.0.0.0/8,2001:db8::/32");
	/* the longest list fits now */
	memset(got, '0', 2199);
	got[2199] = '\0';
	assert_int_equal(kura_store_setting_put(db, "apiKeyIpAllowlist", got, 2), KURA_OK);
	assert_int_equal(kura_store_setting_put(db, "apiKeyIpAllowlist", "192.0.2.0/24", 2),
			 KURA_OK);
	kura_store_tenant_release(db);
	assert_int_equal(kura_store_tenant_acquire(s, "globex", &db), KURA_OK);
	assert_int_equal(kura_store_setting_get(db, "apiKeyIpAllowlist", got, sizeof(got)),
			 KURA_E_NOT_FOUND);
	kura_store_tenant_release(db);
	kura_store_close(s);
	f->s = NULL;

	/* once more: a list set since the copy is kept */
	snprintf(path, sizeof(path), "%s/tenants/acme/tenant.db", f->dir);
	sql_exec(path, sql);
	free(sql);
	s = open_store(f, 4);
	assert_int_equal(kura_store_tenant_acquire(s, "acme", &db), KURA_OK);
	assert_int_equal(kura_store_setting_get(db, "apiKeyIpAllowlist", got, sizeof(got)), KURA_OK);
	assert_string_equal(got, "192.0.2.0/24");
	kura_store_tenant_release(db);
}

int
main(void)
{
	static const struct kura_store_ops *const backends[] = {&kura_store_sqlite_ops};
	const struct CMUnitTest conformance[] = {
		T(test_ping),
		T(test_tenant_create_get_list_status),
	T(test_tenant_rows_follow_another_process),
		T(test_tenant_duplicate),
		T(test_tenant_bad_ids),
		T(test_tenant_key),
		T(test_users),
		T(test_user_duplicate_email),
		T(test_user_tenant_isolation),
		T(test_sessions),
		T(test_out_params_zeroed),
		T(test_transactions),
		T(test_reopen_keeps_data),
		T(test_concurrent_acquire),
		T(test_audit_rows),
		T(test_audit_seals),
		T(test_apikeys),
		T(test_form_access_log),
	};
	const struct CMUnitTest sqlite_only[] = {
		T(test_sqlite_files_and_modes),
		T(test_sqlite_schema_version),
		T(test_sqlite_keys_only_in_system_db),
		T(test_sqlite_failed_create_leaves_nothing),
		T(test_sqlite_misplaced_db_refused),
		T(test_sqlite_idle_connections_bounded),
		T(test_sqlite_transactions_share_writer),
		T(test_sqlite_writer_waits),
		T(test_sqlite_checkpoints_in_background),
		T(test_sqlite_checkpoint_queue_passes_a_busy_tenant),
		T(test_sqlite_audit_append_only),
		T(test_sqlite_migration_apikey_allowlist),
	};
	int failed = 0;
	size_t i;

	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		char name[64];

		ops = backends[i];
		snprintf(name, sizeof(name), "store conformance (%s)", ops->name);
		failed += _cmocka_run_group_tests(name, conformance,
						  sizeof(conformance) / sizeof(conformance[0]),
						  NULL, NULL);
	}
	ops = &kura_store_sqlite_ops;
	failed += cmocka_run_group_tests_name("store sqlite", sqlite_only, NULL, NULL);
	return failed != 0;
}
