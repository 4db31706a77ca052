/*
 * The full-text form of records and queries (core/fts.c), and the real
 * FTS5 table they are meant for: an in-memory SQLite database with the
 * tokenizer Kura's tenant databases use, so that what is tested is what
 * matches, not what a string looks like.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "kura/core.h"

static sqlite3 *
index_of(const char *const *texts, size_t n)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "CREATE VIRTUAL TABLE f USING fts5 (body, "
				      "tokenize = 'unicode61 remove_diacritics 2')",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	for (size_t i = 0; i < n; i++) {
		struct kura_prop p = {.searchable = true};
		struct kura_prop *pp = &p;
		struct kura_object o = {.props = &pp, .nprops = 1};
		struct kura_colval cv = {.prop_id = 7,
					 .v = {.kind = KURA_V_TEXT, .s = texts[i], .n = strlen(texts[i])}};
		struct kura_buf b;
		sqlite3_stmt *st = NULL;

		p.row.id = 7;
		kura_buf_init(&b, 1 << 20);
		assert_int_equal(kura_fts_body(&o, &cv, 1, &b), KURA_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO f (rowid, body) VALUES (?, ?)", -1,
						    &st, NULL),
				 SQLITE_OK);
		sqlite3_bind_int64(st, 1, (sqlite3_int64)i + 1);
		sqlite3_bind_text(st, 2, b.data, -1, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_finalize(st);
		kura_buf_free(&b);
	}
	return db;
}

/* The rowids (as a bit set) that the query matches. */
static unsigned
matches(sqlite3 *db, const char *query)
{
	struct kura_buf q;
	sqlite3_stmt *st = NULL;
	unsigned set = 0;

	kura_buf_init(&q, 1 << 16);
	assert_int_equal(kura_fts_query(query, &q), KURA_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT rowid FROM f WHERE f MATCH ?", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, q.data, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW)
		set |= 1u << (sqlite3_column_int(st, 0) - 1);
	sqlite3_finalize(st);
	kura_buf_free(&q);
	return set;
}

static const char *const people[] = {
	"田中太郎",          /* 1 */
	"中田花子",          /* 2 */
	"Taro Tanaka",       /* 3 */
	"佐藤 ジョン・スミス", /* 4 */
	"ＡＢＣ商事 ０９０",   /* 5: full width */
	"José Müller",       /* 6 */
};

static void
japanese_substrings_match(void **state)
{
	sqlite3 *db = index_of(people, 6);

	(void)state;
	assert_int_equal(matches(db, "田中太郎"), 1u << 0);
	assert_int_equal(matches(db, "田中"), 1u << 0);       /* a two-character family name */
	assert_int_equal(matches(db, "中太"), 1u << 0);       /* across the name boundary */
	assert_int_equal(matches(db, "太郎"), 1u << 0);
	assert_int_equal(matches(db, "郎"), 1u << 0);         /* the last character alone */
	assert_int_equal(matches(db, "田"), (1u << 0) | (1u << 1));
	assert_int_equal(matches(db, "中"), (1u << 0) | (1u << 1));
	assert_int_equal(matches(db, "中田"), 1u << 1);       /* not 田中: order counts */
	assert_int_equal(matches(db, "田中花"), 0u);
	assert_int_equal(matches(db, "スミス"), 1u << 3);
	assert_int_equal(matches(db, "ジョン"), 1u << 3);
	sqlite3_close(db);
}

static void
latin_words_match_by_prefix(void **state)
{
	sqlite3 *db = index_of(people, 6);

	(void)state;
	assert_int_equal(matches(db, "tan"), 1u << 2);
	assert_int_equal(matches(db, "TARO"), 1u << 2);
	assert_int_equal(matches(db, "anaka"), 0u); /* words, not substrings */
	assert_int_equal(matches(db, "taro tanaka"), 1u << 2);
	assert_int_equal(matches(db, "taro suzuki"), 0u);
	assert_int_equal(matches(db, "jose muller"), 1u << 5); /* diacritics folded */
	sqlite3_close(db);
}

static void
full_width_is_folded(void **state)
{
	sqlite3 *db = index_of(people, 6);

	(void)state;
	assert_int_equal(matches(db, "abc"), 1u << 4);
	assert_int_equal(matches(db, "ＡＢＣ"), 1u << 4);
	assert_int_equal(matches(db, "090"), 1u << 4);
	assert_int_equal(matches(db, "商事"), 1u << 4);
	sqlite3_close(db);
}

static void
hostile_queries_stay_literal(void **state)
{
	static const char *const texts[] = {"say \"hi\" OR NOT", "a*b"};
	sqlite3 *db = index_of(texts, 2);
	struct kura_buf q;

	(void)state;
	/* FTS5 syntax in a query is text to look for, never an operator. */
	assert_int_equal(matches(db, "\"hi\""), 1u << 0);
	assert_int_equal(matches(db, "OR"), 1u << 0);
	assert_int_equal(matches(db, "NOT"), 1u << 0);
	assert_int_equal(matches(db, "body:say"), 0u); /* no column filter: two words */
	assert_int_equal(matches(db, "say:hi"), 1u << 0);
	assert_int_equal(matches(db, "b"), 1u << 1);
	/* No word at all, or too many, is refused. */
	kura_buf_init(&q, 1 << 16);
	assert_int_equal(kura_fts_query("  ...  ", &q), KURA_E_VALIDATION);
	kura_buf_reset(&q);
	assert_int_equal(kura_fts_query("a b c d e f g h i j k l m n o p q", &q), KURA_E_VALIDATION);
	kura_buf_free(&q);
	sqlite3_close(db);
}

static void
sensitive_values_stay_out(void **state)
{
	struct kura_prop p = {.searchable = false};
	struct kura_prop *pp = &p;
	struct kura_object o = {.props = &pp, .nprops = 1};
	struct kura_colval cv = {.prop_id = 3, .v = {.kind = KURA_V_TEXT, .s = "secret", .n = 6}};
	struct kura_buf b;

	(void)state;
	p.row.id = 3;
	kura_buf_init(&b, 1024);
	assert_int_equal(kura_fts_body(&o, &cv, 1, &b), KURA_OK);
	assert_int_equal(b.len, 0);
	kura_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(japanese_substrings_match),
		cmocka_unit_test(latin_words_match_by_prefix),
		cmocka_unit_test(full_width_is_folded),
		cmocka_unit_test(hostile_queries_stay_literal),
		cmocka_unit_test(sensitive_values_stay_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
