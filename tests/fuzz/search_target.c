/*
 * The search-request fuzz target: bytes in, a request body parsed the way
 * the HTTP layer parses it (kura_json_parse with the default depth), then
 * kura_search_parse against a fixed object with one property of each type.
 * Besides crashes, leaks and undefined behaviour (the sanitizers' part),
 * it checks what the parser promises: an accepted request stays within the
 * limits and names only the object's properties, a refused one says why.
 * The same bytes are tried as a paging cursor (kura_cursor_parse).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/core.h"
#include "kura/http.h"

#include "search_target.h"

#define OBJECT_ID 3
#define JSON_DEPTH 32 /* kurad's default json_max_depth */

static const struct {
	const char *name, *type, *options, *validation;
	bool sensitive, indexed;
} defs[] = {
	{"name", "string", NULL, "{\"maxLength\": 50}", false, true},
	{"notes", "text", NULL, NULL, false, true},
	{"score", "number", NULL, "{\"min\": 0, \"max\": 100}", false, true},
	{"active", "bool", NULL, NULL, false, true},
	{"birthday", "date", NULL, NULL, false, true},
	{"lastContact", "datetime", NULL, NULL, false, true},
	{"stage", "enumeration",
	 "[{\"value\": \"lead\", \"labels\": {\"en\": \"Lead\", \"ja\": \"リード\"}},"
	 " {\"value\": \"customer\", \"labels\": {\"en\": \"Customer\", \"ja\": \"顧客\"}},"
	 " {\"value\": \"見込み\", \"labels\": {\"en\": \"Prospect\"}}]",
	 NULL, false, true},
	{"email", "email", NULL, NULL, false, true},
	{"phone", "phone", NULL, NULL, false, true},
	{"website", "url", NULL, NULL, false, true},
	{"taxNumber", "string", NULL, NULL, true, true},
	{"nickname", "string", NULL, "{\"pattern\": \"^[a-z]+$\"}", false, false},
};
#define NPROPS (sizeof(defs) / sizeof(defs[0]))

static struct kura_prop props[NPROPS];
static struct kura_prop *prop_ptrs[NPROPS];
static struct kura_object object;
static bool built;

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_search: %s\n", what);
	abort();
}

const struct kura_object *
kura_fuzz_search_object(void)
{
	char err[128];

	if (built)
		return &object;
	for (size_t i = 0; i < NPROPS; i++) {
		struct kura_prop *p = &props[i];

		memset(p, 0, sizeof(*p));
		p->row.id = (int64_t)i + 1;
		p->row.object_id = OBJECT_ID;
		snprintf(p->row.name, sizeof(p->row.name), "%s", defs[i].name);
		snprintf(p->row.type, sizeof(p->row.type), "%s", defs[i].type);
		p->row.sensitive = defs[i].sensitive;
		p->row.indexed = defs[i].indexed;
		p->options_text = strdup(defs[i].options != NULL ? defs[i].options : "[]");
		p->validation_text = strdup(defs[i].validation != NULL ? defs[i].validation : "{}");
		p->description = strdup("");
		if (p->options_text == NULL || p->validation_text == NULL || p->description == NULL)
			fail("out of memory building the object");
		if (!kura_prop_compile(p, err, sizeof(err)))
			fail(err);
		prop_ptrs[i] = p;
	}
	memset(&object, 0, sizeof(object));
	object.row.id = OBJECT_ID;
	snprintf(object.row.name, sizeof(object.row.name), "contacts");
	object.props = prop_ptrs;
	object.nprops = NPROPS;
	built = true;
	return &object;
}

void
kura_fuzz_search_object_free(void)
{
	if (!built)
		return;
	for (size_t i = 0; i < NPROPS; i++)
		kura_prop_clear(&props[i]);
	memset(&object, 0, sizeof(object));
	built = false;
}

/* The property a filter or sort names: one of the object's, or a built-in column. */
static const struct kura_prop *
prop_of(int64_t id)
{
	if (id == KURA_COL_ID || id == KURA_COL_CREATED || id == KURA_COL_UPDATED)
		return NULL;
	if (id < 1 || id > (int64_t)NPROPS)
		fail("a filter or sort names a property the object does not have");
	return &props[id - 1];
}

static void
check_details(json_t *details)
{
	size_t i;
	json_t *d;

	json_array_foreach(details, i, d) {
		if (!json_is_string(json_object_get(d, "field")) ||
		    !json_is_string(json_object_get(d, "code")) ||
		    !json_is_string(json_object_get(d, "message")))
			fail("a detail lacks field, code or message");
	}
}

static void
check_accepted(const struct kura_search_req *s, bool full)
{
	size_t total = 0;

	if (s->q.object_id != OBJECT_ID)
		fail("wrong object id");
	if (s->q.limit < 1 || s->q.limit > KURA_SEARCH_LIMIT_MAX)
		fail("limit out of range");
	if (s->q.ngroups > KURA_SEARCH_GROUPS_MAX)
		fail("too many filter groups");
	if (s->q.nsorts > KURA_SEARCH_SORTS_MAX)
		fail("too many sorts");
	if (s->q.offset > KURA_SEARCH_RESULTS_MAX)
		fail("offset beyond the reachable results");
	if (s->q.after_id < 0)
		fail("negative keyset cursor");
	if (s->q.offset > 0 && s->q.nsorts == 0)
		fail("an offset cursor without sorts");
	if (s->q.after_id > 0 && s->q.nsorts > 0)
		fail("a keyset cursor with sorts");
	if (!full && (s->q.nsorts > 0 || s->want != NULL || s->q.match != NULL ||
		      s->q.offset > 0 || s->q.after_id > 0 || s->q.limit != 10))
		fail("filters-only mode read more than filterGroups");
	if (s->q.match != NULL && s->q.match[0] == '\0')
		fail("an empty full-text expression");
	for (size_t g = 0; g < s->q.ngroups; g++) {
		const struct kura_filter_group *grp = &s->q.groups[g];

		if (grp->n > KURA_SEARCH_FILTERS_PER_GROUP_MAX)
			fail("too many filters in a group");
		total += grp->n;
		for (size_t i = 0; i < grp->n; i++) {
			const struct kura_filter *f = &grp->filters[i];
			const struct kura_prop *p = prop_of(f->prop_id);
			bool list = f->op == KURA_OP_IN || f->op == KURA_OP_NOT_IN;

			if (list && (f->nvals < 1 || f->nvals > KURA_SEARCH_VALUES_MAX ||
				     f->vals == NULL))
				fail("IN or NOT_IN without 1..100 values");
			if (!list && (f->nvals != 0 || f->vals != NULL))
				fail("values on an operator that takes none");
			for (size_t k = 0; k < f->nvals; k++) {
				if (f->vals[k].kind == KURA_V_NULL)
					fail("a null among IN values");
			}
			if (f->blind != (p != NULL && p->row.sensitive &&
					 (f->op == KURA_OP_EQ || f->op == KURA_OP_IN)))
				fail("blind set on the wrong filter");
			if (p != NULL && p->row.sensitive && f->op != KURA_OP_EQ &&
			    f->op != KURA_OP_IN && f->op != KURA_OP_HAS && f->op != KURA_OP_NOT_HAS)
				fail("a range or text operator on a sensitive property");
			if ((f->op == KURA_OP_CONTAINS_TOKEN || f->op == KURA_OP_STARTS_WITH) &&
			    (f->v.kind != KURA_V_TEXT || f->v.n == 0 || strlen(f->v.s) != f->v.n))
				fail("a text operator without a non-empty text");
		}
	}
	if (total > KURA_SEARCH_FILTERS_MAX)
		fail("too many filters");
	for (size_t i = 0; i < s->q.nsorts; i++) {
		const struct kura_prop *p = prop_of(s->q.sorts[i].prop_id);

		if (p != NULL && p->row.sensitive)
			fail("a sort on a sensitive property");
	}
	/* run_blind reads the first group only and cannot sort. */
	if (kura_search_has_blind(s) && (s->q.ngroups != 1 || s->q.nsorts > 0))
		fail("a blind-index filter outside a single group, or with sorts");
}

static void
check_cursor(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), again[64], kind, kind2;
	int64_t n, n2;

	if (text == NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (kura_cursor_parse(text, &kind, &n)) {
		if ((kind != 'k' && kind != 'o') || n < 0)
			fail("a cursor parsed to a kind or number it cannot hold");
		kura_cursor_make(kind, n, again, sizeof(again));
		if (!kura_cursor_parse(again, &kind2, &n2) || kind2 != kind || n2 != n)
			fail("a cursor does not survive make and parse");
	} else if (kind != 0 || n != 0) {
		fail("a refused cursor left its out-parameters set");
	}
	free(text);
}

int
kura_fuzz_search_one(const uint8_t *data, size_t size)
{
	const struct kura_object *o = kura_fuzz_search_object();
	json_t *body = NULL;
	char msg[256];
	enum kura_err e;

	check_cursor(data, size);
	e = kura_json_parse((const char *)data, size, JSON_DEPTH, &body, msg, sizeof(msg));
	if (e != KURA_OK) {
		if (body != NULL || msg[0] == '\0')
			fail("a refused body left a document or no message");
		for (const char *c = msg; *c != '\0'; c++) {
			if (*c < 0x20 || *c > 0x7e)
				fail("an error message with a byte outside printable ASCII");
		}
		return 0;
	}
	for (int full = 0; full <= 1; full++) {
		struct kura_search_req s;
		json_t *details = json_array();

		if (details == NULL)
			break;
		e = kura_search_parse(o, body, full == 1, &s, details);
		check_details(details);
		if (e == KURA_OK) {
			if (json_array_size(details) != 0)
				fail("accepted with details");
			check_accepted(&s, full == 1);
		} else if (e == KURA_E_VALIDATION || e == KURA_E_BAD_REQUEST) {
			if (json_array_size(details) == 0)
				fail("refused without a detail");
		} else if (e != KURA_E_NOMEM) {
			fail("an error code the API does not expect");
		}
		kura_search_req_free(&s);
		json_decref(details);
	}
	json_decref(body);
	return 0;
}
