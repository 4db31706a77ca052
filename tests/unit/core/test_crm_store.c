/*
 * The customer database's storage (kura/store_crm.h) through the public
 * store API on real SQLite files: catalogue versions, property columns
 * and their indexes, records with unique values, search (groups, ranges,
 * prefixes, sorts, keyset paging, counts), archive / restore / purge with
 * everything that hangs off a record, and Idempotency-Key replies.
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

#include "kura/store.h"

#include "../../../src/store/sqlite/sqlite_crm.h"

struct fx {
	char dir[256];
	struct kura_store *s;
	struct kura_tenant_db *db;
	const struct kura_crm_ops *ops;
	void *conn;
};

static const uint8_t wrapped[40] = {1, 2, 3};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kura_tenant t;
	char err[256];

	assert_int_equal(kura_test_mkdtemp(f->dir, sizeof(f->dir), "kura-crm"), 0);
	assert_int_equal(kura_store_open(&kura_store_sqlite_ops, f->dir, 2, &f->s, err, sizeof(err)),
			 KURA_OK);
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "acme");
	snprintf(t.name, sizeof(t.name), "Acme");
	t.key_version = 1;
	assert_int_equal(kura_store_tenant_create(f->s, &t, wrapped, sizeof(wrapped)), KURA_OK);
	assert_int_equal(kura_store_tenant_acquire(f->s, "acme", &f->db), KURA_OK);
	f->ops = kura_store_crm(f->db, &f->conn);
	assert_non_null(f->ops);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	kura_store_tenant_release(f->db);
	kura_store_close(f->s);
	kura_test_rmtree(f->dir);
	free(f);
	return 0;
}

static struct kura_val
text(const char *s)
{
	struct kura_val v = {.kind = KURA_V_TEXT, .s = s, .n = strlen(s)};

	return v;
}

static struct kura_val
num(int64_t i)
{
	struct kura_val v = {.kind = KURA_V_INT, .i = i};

	return v;
}

/* contacts (object 1) standard properties: 1 firstname, 2 lastname, 3 email (unique), 7 lifecyclestage */
static int64_t
add(struct fx *f, const char *first, const char *email, int64_t score_prop, int64_t score)
{
	struct kura_colval cols[3] = {{.prop_id = 1, .v = text(first)},
				       {.prop_id = 3, .v = text(email)},
				       {.prop_id = score_prop, .v = num(score)}};
	int64_t id = 0, dup = 0;

	assert_int_equal(f->ops->record_insert(f->conn, 1, 1000 + score, 7, cols, score_prop ? 3 : 2,
					       first, &id, &dup),
			 KURA_OK);
	assert_true(id > 0);
	return id;
}

static int64_t
add_score_prop(struct fx *f)
{
	struct kura_prop_row p;
	int64_t v0 = 0, v1 = 0;

	memset(&p, 0, sizeof(p));
	p.object_id = 1;
	snprintf(p.name, sizeof(p.name), "score");
	snprintf(p.label_en, sizeof(p.label_en), "Score");
	snprintf(p.label_ja, sizeof(p.label_ja), "スコア");
	snprintf(p.type, sizeof(p.type), "number");
	snprintf(p.classification, sizeof(p.classification), "internal");
	p.indexed = true;
	p.created_at = 5;
	assert_int_equal(f->ops->catalog_version(f->conn, &v0), KURA_OK);
	assert_int_equal(f->ops->prop_create(f->conn, &p), KURA_OK);
	assert_int_equal(f->ops->catalog_version(f->conn, &v1), KURA_OK);
	assert_true(v1 > v0); /* caches see the change */
	assert_int_equal(f->ops->prop_create(f->conn, &p), KURA_E_EXISTS);
	return p.id;
}

struct seen {
	int64_t ids[64];
	size_t n;
	char first[64][32];
};

static bool
see(void *ctx, const struct kura_record_row *r)
{
	struct seen *s = ctx;

	for (size_t i = 0; i < r->ncols; i++) {
		if (r->cols[i].prop_id == 1)
			snprintf(s->first[s->n], sizeof(s->first[0]), "%.*s", (int)r->cols[i].v.n,
				 r->cols[i].v.s);
	}
	s->ids[s->n++] = r->id;
	return s->n < 64;
}

static void
unique_values_and_updates(void **state)
{
	struct fx *f = *state;
	struct kura_colval dup[1] = {{.prop_id = 3, .v = text("a@example.com")}};
	struct kura_colval upd[1] = {{.prop_id = 1, .v = text("Hanako")}};
	struct seen s = {0};
	int64_t a, id = 0, dprop = 0;

	a = add(f, "Taro", "a@example.com", 0, 0);
	assert_int_equal(f->ops->record_insert(f->conn, 1, 1, 7, dup, 1, NULL, &id, &dprop),
			 KURA_E_EXISTS);
	assert_int_equal(id, 0);
	assert_int_equal(dprop, 3); /* names the property whose value is taken */
	assert_int_equal(f->ops->record_update(f->conn, 1, a, 2, upd, 1, "Hanako", NULL), KURA_OK);
	assert_int_equal(f->ops->record_get(f->conn, 1, a, false, see, &s), KURA_OK);
	assert_string_equal(s.first[0], "Hanako");
	assert_int_equal(f->ops->record_get(f->conn, 1, a + 100, false, see, &s), KURA_E_NOT_FOUND);
	/* an archived record frees its unique value; restoring it while taken is refused */
	assert_int_equal(f->ops->record_archive(f->conn, 1, a, 3), KURA_OK);
	assert_int_equal(f->ops->record_archive(f->conn, 1, a, 3), KURA_E_NOT_FOUND);
	assert_int_equal(f->ops->record_get(f->conn, 1, a, false, see, &s), KURA_E_NOT_FOUND);
	assert_int_equal(f->ops->record_get(f->conn, 1, a, true, see, &s), KURA_OK);
	id = add(f, "Jiro", "a@example.com", 0, 0);
	assert_int_equal(f->ops->record_restore(f->conn, 1, a, 4, "Hanako", &dprop), KURA_E_EXISTS);
	assert_int_equal(dprop, 3);
	assert_int_equal(f->ops->record_update(f->conn, 1, a, 2, upd, 1, NULL, NULL),
			 KURA_E_NOT_FOUND); /* archived records are not written */
	(void)id;
}

/*
 * Record ids reserved before a transaction: consecutive, never handed out
 * twice, past the table's ids; an insert at an id another writer took is
 * KURA_E_CONFLICT (not a unique value's EXISTS), and resync then moves
 * past it.
 */
static void
record_ids_are_reserved(void **state)
{
	struct fx *f = *state;
	struct kura_colval cols[2] = {{.prop_id = 1, .v = text("Ann")},
				      {.prop_id = 3, .v = text("ann@example.com")}};
	struct kura_tenant_db *other = NULL;
	const struct kura_crm_ops *oops;
	void *oconn;
	int64_t a, first = 0, again = 0, id, dup = 0, next = 0;

	a = add(f, "Taro", "t@example.com", 0, 0);
	assert_int_equal(f->ops->record_ids(f->conn, 1, 3, false, &first), KURA_OK);
	assert_int_equal(first, a + 1);
	/* another handle of the same tenant in this process shares the reservations */
	assert_int_equal(kura_store_tenant_acquire(f->s, "acme", &other), KURA_OK);
	oops = kura_store_crm(other, &oconn);
	assert_int_equal(oops->record_ids(oconn, 1, 2, false, &again), KURA_OK);
	assert_int_equal(again, first + 3);
	kura_store_tenant_release(other);
	/* reserved ids are not the table's: its own numbering does not know them */
	assert_int_equal(f->ops->record_next_id(f->conn, 1, &next), KURA_OK);
	assert_int_equal(next, a + 1);
	/* a writer that numbers by the table takes first; inserting there is a conflict */
	id = add(f, "Jiro", "j@example.com", 0, 0);
	assert_int_equal(id, first);
	id = first;
	assert_int_equal(f->ops->record_insert(f->conn, 1, 1, 7, cols, 2, NULL, &id, &dup),
			 KURA_E_CONFLICT);
	assert_int_equal(dup, 0);
	id = first + 1;
	assert_int_equal(f->ops->record_insert(f->conn, 1, 1, 7, cols, 2, NULL, &id, &dup), KURA_OK);
	assert_int_equal(id, first + 1);
	/* past everything reserved, and past the table once asked to look again */
	assert_int_equal(f->ops->record_ids(f->conn, 1, 1, false, &id), KURA_OK);
	assert_int_equal(id, again + 2);
	cols[1].v = text("bob@example.com");
	id = again + 100;
	assert_int_equal(f->ops->record_insert(f->conn, 1, 1, 7, cols, 2, NULL, &id, &dup), KURA_OK);
	assert_int_equal(f->ops->record_ids(f->conn, 1, 1, true, &id), KURA_OK);
	assert_int_equal(id, again + 101);
	/* each type counts for itself */
	assert_int_equal(f->ops->record_ids(f->conn, 2, 1, false, &id), KURA_OK);
	assert_int_equal(id, 1);
}

static void
search_filters_sorts_and_pages(void **state)
{
	struct fx *f = *state;
	int64_t sp = add_score_prop(f);
	struct kura_val in_vals[2] = {text("Bob"), text("Dan")};
	struct kura_filter g1[2], g2[1];
	struct kura_filter_group groups[2] = {{g1, 2}, {g2, 1}};
	struct kura_search q;
	struct seen s = {0};
	int64_t total = 0;
	bool exact = false;
	const char *names[] = {"Ann", "Bob", "Cid", "Dan", "Eve", "Bea"};

	for (int i = 0; i < 6; i++) {
		char email[32];

		snprintf(email, sizeof(email), "u%d@example.com", i);
		add(f, names[i], email, sp, (i + 1) * 10);
	}
	/* (score BETWEEN 20 AND 50 AND firstname IN (Bob, Dan)) OR firstname STARTS_WITH "E" */
	memset(g1, 0, sizeof(g1));
	memset(g2, 0, sizeof(g2));
	g1[0] = (struct kura_filter){.prop_id = sp, .op = KURA_OP_BETWEEN, .v = num(20), .v2 = num(50)};
	g1[1] = (struct kura_filter){.prop_id = 1, .op = KURA_OP_IN, .vals = in_vals, .nvals = 2};
	g2[0] = (struct kura_filter){.prop_id = 1, .op = KURA_OP_STARTS_WITH, .v = text("E")};
	memset(&q, 0, sizeof(q));
	q.object_id = 1;
	q.groups = groups;
	q.ngroups = 2;
	q.limit = 10;
	q.count_cap = 100;
	q.sorts[0] = (struct kura_sort){.prop_id = sp, .desc = true};
	q.nsorts = 1;
	assert_int_equal(f->ops->search(f->conn, &q, see, &s, &total, &exact), KURA_OK);
	assert_int_equal(total, 3);
	assert_true(exact);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.first[0], "Eve"); /* 50 */
	assert_string_equal(s.first[1], "Dan"); /* 40 */
	assert_string_equal(s.first[2], "Bob"); /* 20 */

	/* keyset paging by id, a capped count */
	memset(&s, 0, sizeof(s));
	memset(&q, 0, sizeof(q));
	q.object_id = 1;
	q.limit = 2;
	q.count_cap = 4;
	assert_int_equal(f->ops->search(f->conn, &q, see, &s, &total, &exact), KURA_OK);
	assert_int_equal(total, 4);
	assert_false(exact);
	assert_int_equal(s.n, 2);
	q.after_id = s.ids[1];
	assert_int_equal(f->ops->search(f->conn, &q, see, &s, &total, &exact), KURA_OK);
	assert_int_equal(s.n, 4);
	assert_true(s.ids[2] > s.ids[1]);

	/* full text joins the filters */
	memset(&s, 0, sizeof(s));
	memset(&q, 0, sizeof(q));
	q.object_id = 1;
	q.limit = 10;
	q.match = "\"bo\"*";
	assert_int_equal(f->ops->search(f->conn, &q, see, &s, &total, &exact), KURA_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.first[0], "Bob");
}

/*
 * Searches of one AND group over two or three indexed properties are
 * answered by intersecting the ids their indexes give (the back end's
 * index intersection): every shape of filter, archived records left out,
 * another filter tested on the rows, keyset paging, exact totals, and
 * the same inside an open transaction -- each against the answer worked
 * out here from the records themselves.
 */
#define IX_N 3000
#define IX_ARCHIVED_EVERY 13

struct ix_rec {
	int64_t id;
	const char *first, *last, *stage;
	int64_t score;
	bool archived;
};

static const char *const ix_last[] = {"Abe", "Baba", "Chiba", "Doi", "Endo",
				      "Fujita", "Goto", "Hara", "Ito", "Ueda"};
static const char *const ix_stage[] = {"lead", "customer", "subscriber", "other"};
static const char *const ix_first[] = {"Aki", "Ken", "Mai"};

struct ix_q {
	struct kura_filter f[4];
	size_t n;
	struct kura_val in[3];
};

static bool
ix_keep(const struct kura_filter *f, const struct ix_rec *r)
{
	const char *s = f->prop_id == 1 ? r->first : f->prop_id == 2 ? r->last : f->prop_id == 7 ? r->stage : NULL;

	switch (f->op) {
	case KURA_OP_EQ:
		return s != NULL ? strcmp(s, f->v.s) == 0 : r->score == f->v.i;
	case KURA_OP_IN:
		for (size_t i = 0; i < f->nvals; i++) {
			if (s != NULL ? strcmp(s, f->vals[i].s) == 0 : r->score == f->vals[i].i)
				return true;
		}
		return false;
	case KURA_OP_STARTS_WITH:
		return strncmp(s, f->v.s, f->v.n) == 0;
	case KURA_OP_LT:
		return r->score < f->v.i;
	case KURA_OP_LTE:
		return r->score <= f->v.i;
	case KURA_OP_GT:
		return r->score > f->v.i;
	case KURA_OP_GTE:
		return r->score >= f->v.i;
	case KURA_OP_BETWEEN:
		return r->score >= f->v.i && r->score <= f->v2.i;
	default:
		fail_msg("operator %d", f->op);
		return false;
	}
}

static uint32_t
ix_rand(uint32_t *st)
{
	*st = *st * 1103515245u + 12345u;
	return *st >> 8;
}

/* A random group of two or three indexed filters (and sometimes firstname EQ). */
static void
ix_query(struct ix_q *q, int64_t sp, uint32_t *rs)
{
	int kinds = 2 + (int)(ix_rand(rs) % 2);
	int start = (int)(ix_rand(rs) % 3);

	memset(q, 0, sizeof(*q));
	for (int k = 0; k < kinds; k++) {
		struct kura_filter *f = &q->f[q->n++];
		int which = (start + k) % 3, how = (int)(ix_rand(rs) % 3);

		f->indexed = true;
		if (which == 0) { /* lastname */
			f->prop_id = 2;
			if (how == 0) {
				f->op = KURA_OP_EQ;
				f->v = text(ix_last[ix_rand(rs) % 10]);
			} else if (how == 1) {
				f->op = KURA_OP_IN;
				q->in[0] = text(ix_last[ix_rand(rs) % 10]);
				q->in[1] = text(ix_last[ix_rand(rs) % 10]);
				f->vals = q->in;
				f->nvals = 2;
			} else {
				f->op = KURA_OP_STARTS_WITH;
				f->v = text(ix_rand(rs) % 2 ? "F" : "Ch");
			}
		} else if (which == 1) { /* lifecyclestage */
			f->prop_id = 7;
			f->op = KURA_OP_EQ;
			f->v = text(ix_stage[ix_rand(rs) % 4]);
		} else { /* score */
			static const enum kura_filter_op ops[] = {KURA_OP_LT, KURA_OP_LTE, KURA_OP_GT,
								  KURA_OP_GTE, KURA_OP_BETWEEN, KURA_OP_EQ};
			int64_t a = (int64_t)(ix_rand(rs) % 101);

			f->prop_id = sp;
			f->op = ops[ix_rand(rs) % 6];
			f->v = num(a);
			f->v2 = num(a + (int64_t)(ix_rand(rs) % 40));
		}
	}
	if (ix_rand(rs) % 4 == 0) { /* not indexed: the rows tell */
		struct kura_filter *f = &q->f[q->n++];

		f->prop_id = 1;
		f->op = KURA_OP_EQ;
		f->v = text(ix_first[ix_rand(rs) % 3]);
	}
}

/* Totals seen under small limits: exact ones, and estimates with their error. */
struct ix_est {
	unsigned exact, estimated;
	int64_t err, truth; /* sums over the estimates */
};

/*
 * Runs the search of iq (and its next page): how many searches it made.
 * Pages are always checked whole; the total must be exact unless est is
 * given, which then collects the estimates.
 */
static unsigned long
ix_check(struct fx *f, const struct ix_rec *recs, const struct ix_q *iq, struct ix_est *est)
{
	struct kura_filter_group g = {iq->f, iq->n};
	struct kura_search q;
	struct seen s;
	int64_t want[IX_N], total = -1;
	size_t nwant = 0;
	bool exact = false;

	for (size_t i = 0; i < IX_N; i++) {
		bool keep = !recs[i].archived;

		for (size_t j = 0; keep && j < iq->n; j++)
			keep = ix_keep(&iq->f[j], &recs[i]);
		if (keep)
			want[nwant++] = recs[i].id;
	}
	memset(&q, 0, sizeof(q));
	q.object_id = 1;
	q.groups = &g;
	q.ngroups = 1;
	q.limit = 25;
	q.count_cap = 10000;
	memset(&s, 0, sizeof(s));
	assert_int_equal(f->ops->search(f->conn, &q, see, &s, &total, &exact), KURA_OK);
	if (est == NULL || exact) {
		assert_int_equal(total, (int64_t)nwant);
		assert_true(exact);
		if (est != NULL)
			est->exact++;
	} else {
		/* never below what the page shows, never past the records */
		assert_true(total >= (int64_t)s.n && total <= IX_N);
		est->estimated++;
		est->err += total > (int64_t)nwant ? total - (int64_t)nwant : (int64_t)nwant - total;
		est->truth += (int64_t)nwant;
	}
	assert_int_equal(s.n, nwant < 25 ? nwant : 25);
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(s.ids[i], want[i]);
	/* the next page, by the keyset cursor, without a count */
	if (nwant > 25) {
		q.after_id = want[24];
		q.count_cap = 0;
		memset(&s, 0, sizeof(s));
		assert_int_equal(f->ops->search(f->conn, &q, see, &s, &total, &exact), KURA_OK);
		assert_int_equal(s.n, nwant - 25 < 25 ? nwant - 25 : 25);
		for (size_t i = 0; i < s.n; i++)
			assert_int_equal(s.ids[i], want[25 + i]);
		return 2;
	}
	return 1;
}

/* IX_N contacts with random names, stages and scores, every IX_ARCHIVED_EVERYth archived. */
static void
ix_load(struct fx *f, struct ix_rec *recs, int64_t sp, uint32_t *rs)
{
	assert_int_equal(kura_store_begin(f->db), KURA_OK);
	for (size_t i = 0; i < IX_N; i++) {
		char email[32];
		struct kura_colval cols[5];
		int64_t dup = 0;

		recs[i].first = ix_first[ix_rand(rs) % 3];
		recs[i].last = ix_last[ix_rand(rs) % 10];
		recs[i].stage = ix_stage[ix_rand(rs) % 4];
		recs[i].score = (int64_t)(ix_rand(rs) % 101);
		snprintf(email, sizeof(email), "ix%zu@example.com", i);
		cols[0] = (struct kura_colval){.prop_id = 1, .v = text(recs[i].first)};
		cols[1] = (struct kura_colval){.prop_id = 2, .v = text(recs[i].last)};
		cols[2] = (struct kura_colval){.prop_id = 3, .v = text(email)};
		cols[3] = (struct kura_colval){.prop_id = 7, .v = text(recs[i].stage)};
		cols[4] = (struct kura_colval){.prop_id = sp, .v = num(recs[i].score)};
		assert_int_equal(f->ops->record_insert(f->conn, 1, 1000, 7, cols, 5, NULL, &recs[i].id,
						       &dup),
				 KURA_OK);
		if (i % IX_ARCHIVED_EVERY == 5) {
			assert_int_equal(f->ops->record_archive(f->conn, 1, recs[i].id, 2000), KURA_OK);
			recs[i].archived = true;
		}
	}
	assert_int_equal(kura_store_commit(f->db), KURA_OK);
}

static void
search_by_index_intersection(void **state)
{
	struct fx *f = *state;
	int64_t sp = add_score_prop(f);
	struct ix_rec *recs = calloc(IX_N, sizeof(*recs));
	unsigned long before, searches = 0;
	uint32_t rs = 12345;
	struct ix_q iq;

	assert_non_null(recs);
	ix_load(f, recs, sp, &rs);

	before = kura_sqlite_crm_searches_by_sets();
	for (int n = 0; n < 300; n++) {
		ix_query(&iq, sp, &rs);
		searches += ix_check(f, recs, &iq, NULL);
	}
	/* every one of them went by the sets (none is near their limit) */
	assert_true(searches > 300);
	assert_int_equal(kura_sqlite_crm_searches_by_sets() - before, searches);

	/* inside an open transaction, after a change it made */
	assert_int_equal(kura_store_begin(f->db), KURA_OK);
	assert_int_equal(f->ops->record_archive(f->conn, 1, recs[0].id, 3000), KURA_OK);
	recs[0].archived = true;
	memset(&iq, 0, sizeof(iq));
	iq.f[0] = (struct kura_filter){.prop_id = 2, .indexed = true, .op = KURA_OP_EQ,
				       .v = text(recs[0].last)};
	iq.f[1] = (struct kura_filter){.prop_id = 7, .indexed = true, .op = KURA_OP_EQ,
				       .v = text(recs[0].stage)};
	iq.n = 2;
	(void)ix_check(f, recs, &iq, NULL);
	kura_store_rollback(f->db);
	free(recs);
}

struct index_seen {
	size_t n;
	struct kura_index_row rows[4];
};

static bool
index_seen(void *ctx, const struct kura_index_row *ix)
{
	struct index_seen *s = ctx;

	assert_true(s->n < 4);
	s->rows[s->n++] = *ix;
	return true;
}

/*
 * Indexes over several properties: recorded, listed and dropped; a search
 * with an EQ on each leading column and any filter on the next reads its
 * candidates from one range of such an index (firstname has no index of
 * its own), and every page and total stays exact.
 */
static void
search_by_multi_property_index(void **state)
{
	struct fx *f = *state;
	int64_t sp = add_score_prop(f);
	struct ix_rec *recs = calloc(IX_N, sizeof(*recs));
	struct kura_index_row a = {.object_id = 1, .nprops = 2, .props = {7, 0}, .created_at = 9};
	struct kura_index_row b = {.object_id = 1, .nprops = 2, .props = {1, 7}, .created_at = 9};
	struct kura_index_row dup;
	struct index_seen seen;
	unsigned long before_sets, before_multi, searches = 0, multi = 0;
	uint32_t rs = 4242;
	struct ix_q iq;

	assert_non_null(recs);
	ix_load(f, recs, sp, &rs);
	a.props[1] = sp;
	dup = a;
	assert_int_equal(kura_store_begin(f->db), KURA_OK);
	assert_int_equal(f->ops->index_create(f->conn, &a), KURA_OK);
	assert_int_equal(f->ops->index_create(f->conn, &b), KURA_OK);
	assert_int_equal(f->ops->index_create(f->conn, &dup), KURA_E_EXISTS);
	assert_int_equal(kura_store_commit(f->db), KURA_OK);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(f->ops->index_list(f->conn, 1, index_seen, &seen), KURA_OK);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.rows[0].id, a.id);
	assert_int_equal(seen.rows[0].nprops, 2);
	assert_int_equal(seen.rows[0].props[0], 7);
	assert_int_equal(seen.rows[0].props[1], sp);
	assert_int_equal(seen.rows[1].id, b.id);
	assert_int_equal(seen.rows[1].props[0], 1);

	before_sets = kura_sqlite_crm_searches_by_sets();
	before_multi = kura_sqlite_crm_searches_by_multi();
	for (int n = 0; n < 300; n++) {
		bool stage_eq = false, score = false, first = false;

		ix_query(&iq, sp, &rs);
		for (size_t j = 0; j < iq.n; j++) {
			stage_eq = stage_eq || iq.f[j].prop_id == 7;
			score = score || iq.f[j].prop_id == sp;
			first = first || iq.f[j].prop_id == 1;
		}
		/* a group an index over several properties serves (the first search only: paging too) */
		multi += stage_eq && (score || first) ? 1 : 0;
		searches += ix_check(f, recs, &iq, NULL);
	}
	assert_true(multi > 100);
	assert_int_equal(kura_sqlite_crm_searches_by_sets() - before_sets, searches);
	assert_true(kura_sqlite_crm_searches_by_multi() - before_multi >= multi);

	/* firstname EQ + stage EQ alone: one set, from the index over both */
	memset(&iq, 0, sizeof(iq));
	iq.f[0] = (struct kura_filter){.prop_id = 1, .op = KURA_OP_EQ, .v = text(recs[3].first)};
	iq.f[1] = (struct kura_filter){.prop_id = 7, .indexed = true, .op = KURA_OP_EQ,
				       .v = text(recs[3].stage)};
	iq.n = 2;
	before_multi = kura_sqlite_crm_searches_by_multi();
	searches = ix_check(f, recs, &iq, NULL);
	assert_int_equal(kura_sqlite_crm_searches_by_multi() - before_multi, searches);

	/* dropped: the same search walks again, with the same answer */
	assert_int_equal(kura_store_begin(f->db), KURA_OK);
	memset(&dup, 0, sizeof(dup));
	assert_int_equal(f->ops->index_drop(f->conn, 1, b.id, &dup), KURA_OK);
	assert_int_equal(dup.id, b.id);
	assert_int_equal(dup.nprops, 2);
	assert_int_equal(dup.props[0], 1);
	assert_int_equal(dup.props[1], 7);
	assert_int_equal(f->ops->index_drop(f->conn, 1, b.id, NULL), KURA_E_NOT_FOUND);
	assert_int_equal(f->ops->index_drop(f->conn, 2, a.id, NULL), KURA_E_NOT_FOUND);
	assert_int_equal(kura_store_commit(f->db), KURA_OK);
	before_multi = kura_sqlite_crm_searches_by_multi();
	(void)ix_check(f, recs, &iq, NULL);
	assert_int_equal(kura_sqlite_crm_searches_by_multi() - before_multi, 0);
	free(recs);
}

/*
 * The same searches under limits small enough for these 3,000 records
 * (with the planner's statistics: a last name is ~300 records, a stage
 * ~750, past half the first set's limit): sets too large for their limit
 * or not worth reading are left to the rows, and past rows_exact
 * candidates the total is estimated from a sample. Every page must still
 * be exact; every total marked exact must be; the estimates must be near.
 */
static void
search_by_sets_within_limits(void **state)
{
	static const struct kura_sqlite_set_limits small = {
		.set_max = 1000, .mark_budget = 900, .rows_exact = 120, .sample = 200,
		.sample_hits = 40};
	struct fx *f = *state;
	int64_t sp = add_score_prop(f);
	struct ix_rec *recs = calloc(IX_N, sizeof(*recs));
	unsigned long before, by_sets, searches = 0;
	uint32_t rs = 777;
	struct ix_est est = {0};
	struct ix_q iq;

	assert_non_null(recs);
	ix_load(f, recs, sp, &rs);
	assert_int_equal(f->ops->optimize(f->conn), KURA_OK);
	kura_sqlite_crm_set_limits(&small);
	before = kura_sqlite_crm_searches_by_sets();
	for (int n = 0; n < 400; n++) {
		ix_query(&iq, sp, &rs);
		searches += ix_check(f, recs, &iq, &est);
	}
	by_sets = kura_sqlite_crm_searches_by_sets() - before;
	kura_sqlite_crm_set_limits(NULL);
	print_message("%lu searches, %lu by the sets; %u exact totals, %u estimated (error %lld "
		      "of %lld)\n",
		      searches, by_sets, est.exact, est.estimated, (long long)est.err,
		      (long long)est.truth);
	/* both kinds of total, and most searches still by the sets */
	assert_true(est.exact >= 50);
	assert_true(est.estimated >= 50);
	assert_true(by_sets * 2 > searches);
	/* estimates within 15 % of the truth on the whole */
	assert_true(est.err * 100 <= est.truth * 15);
	free(recs);
}

/* The total of a search by text alone (and the same with a filter that keeps every record). */
static int64_t
text_total(struct fx *f, const char *match, bool with_filter)
{
	struct kura_filter any = {.prop_id = 3, .op = KURA_OP_HAS};
	struct kura_filter_group g = {&any, 1};
	struct kura_search q;
	struct seen s;
	int64_t total = -1;
	bool exact = false;

	memset(&q, 0, sizeof(q));
	memset(&s, 0, sizeof(s));
	q.object_id = 1;
	q.limit = 10;
	q.count_cap = 10000;
	q.match = match;
	if (with_filter) {
		q.groups = &g;
		q.ngroups = 1;
	}
	assert_int_equal(f->ops->search(f->conn, &q, see, &s, &total, &exact), KURA_OK);
	assert_true(exact);
	assert_int_equal((int64_t)s.n, total);
	return total;
}

/*
 * A search by text alone is counted in the text index, which must then
 * hold live records only: archived, restored and purged records counted
 * as the search with a filter (which reads the rows) counts them.
 */
static void
text_count_follows_the_records(void **state)
{
	struct fx *f = *state;
	int64_t ids[5];
	char email[32];

	for (int i = 0; i < 5; i++) {
		snprintf(email, sizeof(email), "t%d@example.com", i);
		ids[i] = add(f, i < 4 ? "Yamada" : "Sato", email, 0, 0);
	}
	assert_int_equal(text_total(f, "\"yama\"*", false), 4);
	assert_int_equal(f->ops->record_archive(f->conn, 1, ids[0], 2000), KURA_OK);
	assert_int_equal(f->ops->record_archive(f->conn, 1, ids[1], 2000), KURA_OK);
	assert_int_equal(text_total(f, "\"yama\"*", false), 2);
	assert_int_equal(text_total(f, "\"yama\"*", true), 2);
	assert_int_equal(f->ops->record_restore(f->conn, 1, ids[1], 3000, "Yamada", NULL), KURA_OK);
	assert_int_equal(text_total(f, "\"yama\"*", false), 3);
	assert_int_equal(f->ops->record_purge(f->conn, 1, ids[2]), KURA_OK);
	assert_int_equal(f->ops->record_purge(f->conn, 1, ids[0]), KURA_OK);
	assert_int_equal(text_total(f, "\"yama\"*", false), 2);
	assert_int_equal(text_total(f, "\"yama\"*", true), 2);
	assert_int_equal(text_total(f, "\"sato\"*", false), 1);
}

static bool
count_hist(void *ctx, const struct kura_history_row *h)
{
	(void)h;
	(*(int *)ctx)++;
	return true;
}

static bool
count_assoc(void *ctx, const struct kura_assoc_row *a)
{
	(void)a;
	(*(int *)ctx)++;
	return true;
}

static void
purge_takes_everything_along(void **state)
{
	struct fx *f = *state;
	struct kura_actor who = {.type = 1, .id = 7, .source = "API"};
	struct kura_object_row o;
	struct kura_list_row l;
	struct kura_activity_row act;
	int64_t a = add(f, "Ann", "ann@example.com", 0, 0), b = add(f, "Bo", "bo@example.com", 0, 0);
	int64_t changed = 0, ids[2];
	int n = 0;

	memset(&o, 0, sizeof(o));
	snprintf(o.name, sizeof(o.name), "pets");
	snprintf(o.primary_prop, sizeof(o.primary_prop), "name");
	assert_int_equal(f->ops->object_create(f->conn, &o), KURA_OK);
	assert_int_equal(f->ops->object_create(f->conn, &o), KURA_E_EXISTS);
	assert_int_equal(f->ops->history_add(f->conn, 1, a, 10, &who, true, "{\"firstname\":\"Ann\"}"),
			 KURA_OK);
	assert_int_equal(f->ops->assoc_put(f->conn, 1, a, 1, b, "friend", 10), KURA_OK);
	assert_int_equal(f->ops->assoc_list(f->conn, 1, b, 1, 0, 10, count_assoc, &n), KURA_OK);
	assert_int_equal(n, 1); /* symmetric */
	memset(&act, 0, sizeof(act));
	act.object_id = 1;
	act.record_id = a;
	act.type = "note";
	act.body = "called";
	assert_int_equal(f->ops->activity_add(f->conn, &act), KURA_OK);
	memset(&l, 0, sizeof(l));
	l.object_id = 1;
	snprintf(l.name, sizeof(l.name), "VIP");
	assert_int_equal(f->ops->list_create(f->conn, &l), KURA_OK);
	ids[0] = a;
	ids[1] = 9999; /* no such record: not added */
	assert_int_equal(f->ops->list_members_add(f->conn, l.id, 1, ids, 2, 10, &changed), KURA_OK);
	assert_int_equal(changed, 1);

	assert_int_equal(f->ops->record_purge(f->conn, 1, a), KURA_OK);
	assert_int_equal(f->ops->record_purge(f->conn, 1, a), KURA_E_NOT_FOUND);
	n = 0;
	assert_int_equal(f->ops->history_list(f->conn, 1, a, 0, 10, count_hist, &n), KURA_OK);
	assert_int_equal(n, 0);
	n = 0;
	assert_int_equal(f->ops->assoc_list(f->conn, 1, b, 1, 0, 10, count_assoc, &n), KURA_OK);
	assert_int_equal(n, 0); /* the far side's row went too */
	assert_int_equal(f->ops->list_members_remove(f->conn, l.id, ids, 1, &changed), KURA_OK);
	assert_int_equal(changed, 0);
}

static void
idempotency_replies(void **state)
{
	struct fx *f = *state;
	uint8_t h[32] = {9}, got[32];
	char *resp = NULL;
	int status = 0;

	assert_int_equal(f->ops->idem_get(f->conn, 1, 7, "k", 0, got, &status, &resp),
			 KURA_E_NOT_FOUND);
	assert_int_equal(f->ops->idem_put(f->conn, 1, 7, "k", h, 201, "{\"id\":\"1\"}", 100), KURA_OK);
	assert_int_equal(f->ops->idem_get(f->conn, 1, 7, "k", 50, got, &status, &resp), KURA_OK);
	assert_int_equal(status, 201);
	assert_string_equal(resp, "{\"id\":\"1\"}");
	assert_memory_equal(got, h, 32);
	free(resp);
	resp = NULL;
	/* another caller's key is another key */
	assert_int_equal(f->ops->idem_get(f->conn, 1, 8, "k", 0, got, &status, &resp),
			 KURA_E_NOT_FOUND);
	/* too old for the caller's window, then gone */
	assert_int_equal(f->ops->idem_get(f->conn, 1, 7, "k", 101, got, &status, &resp),
			 KURA_E_NOT_FOUND);
	assert_int_equal(f->ops->idem_expire(f->conn, 101), KURA_OK);
	assert_int_equal(f->ops->idem_get(f->conn, 1, 7, "k", 0, got, &status, &resp),
			 KURA_E_NOT_FOUND);
}

/*
 * A file deleted inside a transaction (a purge's attachments) is gone only
 * when it commits: a rollback leaves it, with the rows that name it; outside
 * a transaction it goes at once.
 */
static void
file_delete_follows_the_transaction(void **state)
{
	struct fx *f = *state;
	static const uint8_t data[] = "ciphertext";
	uint8_t *got = NULL;
	size_t len = 0;

	assert_int_equal(f->ops->file_put(f->conn, 41, data, sizeof(data)), KURA_OK);
	assert_int_equal(kura_store_begin(f->db), KURA_OK);
	assert_int_equal(f->ops->file_delete(f->conn, 41), KURA_OK);
	/* still there until the commit */
	assert_int_equal(f->ops->file_get(f->conn, 41, &got, &len), KURA_OK);
	free(got);
	got = NULL;
	kura_store_rollback(f->db);
	assert_int_equal(f->ops->file_get(f->conn, 41, &got, &len), KURA_OK);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(got, data, len);
	free(got);
	got = NULL;
	assert_int_equal(kura_store_begin(f->db), KURA_OK);
	assert_int_equal(f->ops->file_delete(f->conn, 41), KURA_OK);
	assert_int_equal(kura_store_commit(f->db), KURA_OK);
	assert_int_not_equal(f->ops->file_get(f->conn, 41, &got, &len), KURA_OK);
	assert_null(got);
	/* outside a transaction: at once */
	assert_int_equal(f->ops->file_put(f->conn, 42, data, sizeof(data)), KURA_OK);
	assert_int_equal(f->ops->file_delete(f->conn, 42), KURA_OK);
	assert_int_not_equal(f->ops->file_get(f->conn, 42, &got, &len), KURA_OK);
	assert_int_equal(f->ops->file_delete(f->conn, 42), KURA_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(unique_values_and_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(record_ids_are_reserved, setup, teardown),
		cmocka_unit_test_setup_teardown(search_filters_sorts_and_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(search_by_index_intersection, setup, teardown),
		cmocka_unit_test_setup_teardown(search_by_sets_within_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(search_by_multi_property_index, setup, teardown),
		cmocka_unit_test_setup_teardown(text_count_follows_the_records, setup, teardown),
		cmocka_unit_test_setup_teardown(purge_takes_everything_along, setup, teardown),
		cmocka_unit_test_setup_teardown(idempotency_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(file_delete_follows_the_transaction, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
