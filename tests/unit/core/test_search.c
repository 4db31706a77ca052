/*
 * Search requests (core/search.c): the fuzz target's seed corpus and kept
 * crashes replayed through the target's own body (tests/fuzz/search_target.c,
 * which aborts when a result breaks the parser's promises), and the
 * parser's rules checked directly on the target's fixed object.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kura/core.h"

#include "../../fuzz/search_target.h"

#define CORPUS KURA_SOURCE_ROOT "/tests/fuzz/corpus/search"
#define CRASHES KURA_SOURCE_ROOT "/tests/fuzz/crashes"

static uint8_t *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long len;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	data = malloc((size_t)len + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return data;
}

/* Parses text as a full search request for the fixed object; returns its code. */
static enum kura_err
parse(const char *text, bool full, const char **code)
{
	static char first[64];
	json_error_t je;
	json_t *body = json_loads(text, 0, &je), *details = json_array();
	struct kura_search_req s;
	enum kura_err e;

	assert_non_null(body);
	e = kura_search_parse(kura_fuzz_search_object(), body, full, &s, details);
	first[0] = '\0';
	if (json_array_size(details) > 0)
		snprintf(first, sizeof(first), "%s",
			 json_string_value(json_object_get(json_array_get(details, 0), "code")));
	if (code != NULL)
		*code = first;
	kura_search_req_free(&s);
	json_decref(details);
	json_decref(body);
	return e;
}

/* Every file of dir through the fuzz target; the number of files. */
static size_t
replay(const char *dir, bool check_names)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t files = 0;
	char path[4096];

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		uint8_t *data;
		size_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		data = slurp(path, &n);
		assert_int_equal(kura_fuzz_search_one(data, n), 0);
		/* seeds named bad_* are refused, the other JSON seeds accepted */
		if (check_names && strstr(de->d_name, ".json") != NULL) {
			data[n] = '\0';
			if (strncmp(de->d_name, "bad_", 4) == 0)
				assert_int_not_equal(parse((const char *)data, true, NULL), KURA_OK);
			else
				assert_int_equal(parse((const char *)data, true, NULL), KURA_OK);
		}
		free(data);
		files++;
	}
	closedir(d);
	return files;
}

static void
seed_corpus_replays(void **state)
{
	(void)state;
	assert_true(replay(CORPUS, true) >= 15);
	replay(CRASHES, false); /* may not exist: nothing found yet */
}

static void
limits_and_operators(void **state)
{
	const char *code;

	(void)state;
	assert_int_equal(parse("{\"filterGroups\":[{\"filters\":[{\"propertyName\":\"taxNumber\","
			       "\"operator\":\"STARTS_WITH\",\"value\":\"T1\"}]}]}",
			       true, &code),
			 KURA_E_VALIDATION);
	assert_string_equal(code, "not_searchable");
	assert_int_equal(parse("{\"filterGroups\":[{\"filters\":[{\"propertyName\":\"score\","
			       "\"operator\":\"CONTAINS_TOKEN\",\"value\":\"1\"}]}]}",
			       true, &code),
			 KURA_E_VALIDATION);
	assert_string_equal(code, "operator_not_supported");
	assert_int_equal(parse("{\"limit\":101}", true, &code), KURA_E_VALIDATION);
	assert_string_equal(code, "out_of_range");
	assert_int_equal(parse("{\"sorts\":[{\"propertyName\":\"name\"},{\"propertyName\":\"id\"},"
			       "{\"propertyName\":\"score\"}]}",
			       true, &code),
			 KURA_E_BAD_REQUEST);
	assert_string_equal(code, "limit");
	/* a keyset cursor does not page a sorted search */
	assert_int_equal(parse("{\"sorts\":[{\"propertyName\":\"name\"}],\"after\":\"azQ3MTE\"}",
			       true, &code),
			 KURA_E_VALIDATION);
	assert_string_equal(code, "invalid_cursor");
}

/*
 * A blind-index filter (EQ or IN on a sensitive property) is searched by
 * run_blind, which reads the first filter group only: with more groups the
 * others were silently dropped. Dynamic lists parse filters only (full is
 * false) and went through without the check the search endpoint makes.
 */
static void
blind_filter_needs_one_group(void **state)
{
	static const char *const bodies[] = {
		"{\"filterGroups\":[{\"filters\":[{\"propertyName\":\"taxNumber\",\"operator\":\"EQ\","
		"\"value\":\"T1\"}]},{\"filters\":[{\"propertyName\":\"name\",\"operator\":\"EQ\","
		"\"value\":\"x\"}]}]}",
		"{\"filterGroups\":[{\"filters\":[{\"propertyName\":\"name\",\"operator\":\"EQ\","
		"\"value\":\"x\"}]},{\"filters\":[{\"propertyName\":\"taxNumber\",\"operator\":\"IN\","
		"\"values\":[\"T1\",\"T2\"]}]}]}",
	};
	const char *code;

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		assert_int_equal(parse(bodies[i], true, &code), KURA_E_VALIDATION);
		assert_string_equal(code, "not_searchable");
		assert_int_equal(parse(bodies[i], false, &code), KURA_E_VALIDATION);
		assert_string_equal(code, "not_searchable");
	}
	/* in a single group, with other filters, it is fine in both modes */
	assert_int_equal(parse("{\"filterGroups\":[{\"filters\":[{\"propertyName\":\"taxNumber\","
			       "\"operator\":\"EQ\",\"value\":\"T1\"},{\"propertyName\":\"name\","
			       "\"operator\":\"EQ\",\"value\":\"x\"}]}]}",
			       false, NULL),
			 KURA_OK);
}

static int
teardown(void **state)
{
	(void)state;
	kura_fuzz_search_object_free();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seed_corpus_replays),
		cmocka_unit_test(limits_and_operators),
		cmocka_unit_test(blind_filter_needs_one_group),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
