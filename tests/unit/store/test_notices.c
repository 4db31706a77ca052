/*
 * The store's notices (system.db): what create refuses, the tenant filter
 * (a tenant's own notices and those for every tenant, never another's),
 * the "not yet ended" filter, newest first, the limit, a callback that
 * stops, and notices going with their tenant's row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "kura/log.h"
#include "kura/store.h"

#define T0 1700000000000000LL
#define HOUR 3600000000LL

struct fx {
	char dir[256];
	struct kura_store *s;
};

static int
setup(void **state)
{
	static const uint8_t wrapped[61] = {0x01, 0x02, 0x03};
	struct fx *f = calloc(1, sizeof(*f));
	const char *const ids[] = {"acme", "globex"};
	char err[256] = "";

	if (f == NULL)
		return -1;
	kura_log_set_level(KURA_LOG_ERROR);
	if (kura_test_mkdtemp(f->dir, sizeof(f->dir), "kura-notices") != 0 ||
	    kura_store_open(&kura_store_sqlite_ops, f->dir, 2, &f->s, err, sizeof(err)) != KURA_OK) {
		free(f);
		return -1;
	}
	for (size_t i = 0; i < 2; i++) {
		struct kura_tenant t;

		memset(&t, 0, sizeof(t));
		snprintf(t.id, sizeof(t.id), "%s", ids[i]);
		snprintf(t.name, sizeof(t.name), "%s", ids[i]);
		t.key_version = 1;
		t.created_at = t.updated_at = T0;
		if (kura_store_tenant_create(f->s, &t, wrapped, sizeof(wrapped)) != KURA_OK)
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

static struct kura_notice
notice(const char *tenant, enum kura_notice_kind kind, const char *title, int64_t starts,
       int64_t ends)
{
	struct kura_notice n;

	memset(&n, 0, sizeof(n));
	snprintf(n.tenant_id, sizeof(n.tenant_id), "%s", tenant != NULL ? tenant : "");
	n.kind = kind;
	snprintf(n.title, sizeof(n.title), "%s", title);
	snprintf(n.body, sizeof(n.body), "details of %s\n\tindented", title);
	n.starts_at = starts;
	n.ends_at = ends;
	return n;
}

struct seen {
	int64_t ids[16];
	char titles[16][KURA_NOTICE_TITLE_MAX + 1];
	int n;
	int stop_after; /* 0 = never stop */
};

static bool
collect(void *ctx, const struct kura_notice *n)
{
	struct seen *s = ctx;

	if (s->n < 16) {
		s->ids[s->n] = n->id;
		snprintf(s->titles[s->n], sizeof(s->titles[s->n]), "%s", n->title);
	}
	s->n++;
	return s->stop_after == 0 || s->n < s->stop_after;
}

static struct seen
list(struct kura_store *st, const char *tenant, int64_t now, unsigned limit)
{
	struct seen s;

	memset(&s, 0, sizeof(s));
	assert_int_equal(kura_store_notice_list(st, tenant, now, limit, collect, &s), KURA_OK);
	return s;
}

static void
test_create_refuses(void **state)
{
	struct fx *f = *state;
	struct kura_notice n;

	n = notice(NULL, KURA_NOTICE_INCIDENT, "ok", T0, T0 + HOUR);
	n.kind = (enum kura_notice_kind)7;
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_E_VALIDATION);
	assert_int_equal(n.id, 0);
	n = notice(NULL, KURA_NOTICE_INCIDENT, "", T0, T0 + HOUR);
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_E_VALIDATION);
	n = notice(NULL, KURA_NOTICE_INCIDENT, "ok", T0, T0 + HOUR);
	n.body[0] = '\0';
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_E_VALIDATION);
	n = notice(NULL, KURA_NOTICE_INCIDENT, "ok", T0, T0);
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_E_VALIDATION);
	n = notice(NULL, KURA_NOTICE_INCIDENT, "ok", T0, T0 - 1);
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_E_VALIDATION);
	/* not UTF-8, an overlong form, a surrogate, a control character */
	n = notice(NULL, KURA_NOTICE_INCIDENT, "bad \xff", T0, T0 + HOUR);
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_E_VALIDATION);
	n = notice(NULL, KURA_NOTICE_INCIDENT, "over \xc0\xaf", T0, T0 + HOUR);
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_E_VALIDATION);
	n = notice(NULL, KURA_NOTICE_INCIDENT, "sur \xed\xa0\x80", T0, T0 + HOUR);
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_E_VALIDATION);
	n = notice(NULL, KURA_NOTICE_INCIDENT, "bell \a", T0, T0 + HOUR);
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_E_VALIDATION);
	/* a title filling its array exactly has no room for the NUL: too long */
	n = notice(NULL, KURA_NOTICE_INCIDENT, "x", T0, T0 + HOUR);
	memset(n.title, 'x', sizeof(n.title));
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_E_VALIDATION);
	/* no such tenant, or not even a tenant id */
	n = notice("initech", KURA_NOTICE_INCIDENT, "ok", T0, T0 + HOUR);
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_E_NOT_FOUND);
	n = notice("Bad_Id", KURA_NOTICE_INCIDENT, "ok", T0, T0 + HOUR);
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_E_NOT_FOUND);
	assert_int_equal(list(f->s, NULL, 0, 0).n, 0);
	/* UTF-8 beyond ASCII, tabs and newlines are fine */
	n = notice(NULL, KURA_NOTICE_MAINTENANCE, "メンテナンス 🛠", T0, T0 + HOUR);
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_OK);
	assert_true(n.id > 0);
	assert_true(n.created_at > 0);
}

static void
test_list_filters(void **state)
{
	struct fx *f = *state;
	struct kura_notice n;
	struct seen s;
	int64_t id_all, id_acme, id_acme_past, id_globex;

	n = notice(NULL, KURA_NOTICE_INCIDENT, "all", T0 - HOUR, T0 + HOUR);
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_OK);
	id_all = n.id;
	n = notice("acme", KURA_NOTICE_MAINTENANCE, "acme", T0 + HOUR, T0 + 2 * HOUR);
	n.created_at = T0 - 5;
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_OK);
	id_acme = n.id;
	assert_int_equal(n.created_at, T0 - 5);
	n = notice("acme", KURA_NOTICE_INCIDENT, "acme past", T0 - 3 * HOUR, T0 - 2 * HOUR);
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_OK);
	id_acme_past = n.id;
	n = notice("globex", KURA_NOTICE_MAINTENANCE, "globex", T0, T0 + HOUR);
	assert_int_equal(kura_store_notice_create(f->s, &n), KURA_OK);
	id_globex = n.id;
	assert_true(id_all < id_acme && id_acme < id_acme_past && id_acme_past < id_globex);

	/* the operator: every notice, newest first */
	s = list(f->s, NULL, 0, 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.ids[0], id_globex);
	assert_int_equal(s.ids[3], id_all);
	/* a tenant at T0: its own and everyone's, ended ones left out; never another's */
	s = list(f->s, "acme", T0, 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ids[0], id_acme);
	assert_int_equal(s.ids[1], id_all);
	s = list(f->s, "acme", 0, 0);
	assert_int_equal(s.n, 3);
	s = list(f->s, "globex", T0, 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ids[0], id_globex);
	assert_int_equal(s.ids[1], id_all);
	/* the end is exclusive */
	s = list(f->s, "globex", T0 + HOUR, 0);
	assert_int_equal(s.n, 0);
	/* a tenant without notices of its own sees everyone's; a bad id is refused */
	assert_int_equal(list(f->s, "initech", T0, 0).n, 1);
	{
		struct seen x;

		memset(&x, 0, sizeof(x));
		assert_int_equal(kura_store_notice_list(f->s, "Bad_Id", T0, 0, collect, &x),
				 KURA_E_NOT_FOUND);
		assert_int_equal(kura_store_notice_list(f->s, NULL, 0, 0, NULL, &x),
				 KURA_E_INTERNAL);
	}
	/* limit, and a callback that stops */
	s = list(f->s, NULL, 0, 3);
	assert_int_equal(s.n, 3);
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	assert_int_equal(kura_store_notice_list(f->s, NULL, 0, 0, collect, &s), KURA_OK);
	assert_int_equal(s.n, 2);
	/* what was stored is what is read */
	s = list(f->s, "acme", T0, 1);
	assert_string_equal(s.titles[0], "acme");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
