/*
 * Search requests: the JSON of POST /objects/{object}/search (and the
 * saved filters of dynamic lists) turned into a struct kura_search, with
 * every value converted to its stored form so that comparisons run on the
 * columns' indexes. Limits are checked before anything runs; an unknown
 * property or a value of the wrong type is a validation error naming the
 * filter.
 *
 * Paging: without sorts, results come in id order and the cursor holds
 * the last id (keyset: any depth costs the same). With sorts, the cursor
 * holds an offset, and no more than KURA_SEARCH_RESULTS_MAX results can
 * be reached that way. Counts stop at the same number.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kura/core.h"
#include "kura/text.h"

static const struct {
	const char *name;
	enum kura_filter_op op;
} op_names[] = {
	{"EQ", KURA_OP_EQ},
	{"NEQ", KURA_OP_NEQ},
	{"LT", KURA_OP_LT},
	{"LTE", KURA_OP_LTE},
	{"GT", KURA_OP_GT},
	{"GTE", KURA_OP_GTE},
	{"BETWEEN", KURA_OP_BETWEEN},
	{"IN", KURA_OP_IN},
	{"NOT_IN", KURA_OP_NOT_IN},
	{"HAS_PROPERTY", KURA_OP_HAS},
	{"NOT_HAS_PROPERTY", KURA_OP_NOT_HAS},
	{"CONTAINS_TOKEN", KURA_OP_CONTAINS_TOKEN},
	{"STARTS_WITH", KURA_OP_STARTS_WITH},
};

/* The built-in columns, searchable and sortable like properties. */
static struct kura_prop pseudo[3];

static void
init_pseudo(void)
{
	static const struct {
		const char *name;
		int64_t id;
		enum kura_ptype t;
	} defs[] = {
		{"id", KURA_COL_ID, KURA_PT_NUMBER},
		{"createdAt", KURA_COL_CREATED, KURA_PT_DATETIME},
		{"updatedAt", KURA_COL_UPDATED, KURA_PT_DATETIME},
	};

	for (size_t i = 0; i < 3; i++) {
		if (pseudo[i].row.id != 0)
			continue;
		snprintf(pseudo[i].row.name, sizeof(pseudo[i].row.name), "%s", defs[i].name);
		pseudo[i].type = defs[i].t;
		pseudo[i].row.id = defs[i].id;
	}
}

static const struct kura_prop *
find_prop(const struct kura_object *o, const char *name)
{
	const struct kura_prop *p = kura_object_prop(o, name);

	if (p != NULL || name == NULL)
		return p;
	for (size_t i = 0; i < 3; i++) {
		if (strcmp(pseudo[i].row.name, name) == 0)
			return &pseudo[i];
	}
	return NULL;
}

static void
detail(json_t *details, const char *field, const char *code, const char *msg)
{
	json_array_append_new(details,
			      json_pack("{s:s, s:s, s:s}", "field", field, "code", code, "message", msg));
}

void
kura_search_req_free(struct kura_search_req *s)
{
	json_decref(s->want);
	free(s->groups);
	free(s->filters);
	free(s->vals);
	kura_strpool_free(&s->sp);
	kura_buf_free(&s->match);
	memset(s, 0, sizeof(*s));
}

void
kura_cursor_make(char kind, int64_t n, char *out, size_t cap)
{
	char raw[32];
	int len = snprintf(raw, sizeof(raw), "%c%lld", kind, (long long)n);

	sodium_bin2base64(out, cap, (const unsigned char *)raw, (size_t)len,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool
kura_cursor_parse(const char *s, char *kind, int64_t *n)
{
	unsigned char raw[32];
	size_t len = 0;
	char *end = NULL;
	char text[33];

	*kind = 0;
	*n = 0;
	if (s == NULL || strlen(s) > 40 ||
	    sodium_base642bin(raw, sizeof(raw) - 1, s, strlen(s), NULL, &len, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    len < 2)
		return false;
	memcpy(text, raw, len);
	text[len] = '\0';
	if (text[0] != 'k' && text[0] != 'o')
		return false;
	*n = strtoll(text + 1, &end, 10);
	if (end == text + 1 || *end != '\0' || *n < 0) {
		*n = 0;
		return false;
	}
	*kind = text[0];
	return true;
}

static bool
text_stored(const struct kura_prop *p)
{
	return p->type != KURA_PT_NUMBER && p->type != KURA_PT_BOOL && p->type != KURA_PT_DATETIME;
}

/* One filter; field names it in details ("filterGroups[0].filters[1]"). */
static bool
parse_filter(struct kura_search_req *s, const struct kura_object *o, json_t *jf,
	     struct kura_filter *f, size_t *nvals_used, const char *field, json_t *details)
{
	const char *pname = json_string_value(json_object_get(jf, "propertyName"));
	const char *opname = json_string_value(json_object_get(jf, "operator"));
	const struct kura_prop *p;
	const char *key;
	json_t *v;
	bool found = false;
	size_t before = json_array_size(details);

	if (!json_is_object(jf)) {
		detail(details, field, "invalid_type", "a filter is an object");
		return false;
	}
	json_object_foreach(jf, key, v) {
		if (strcmp(key, "propertyName") != 0 && strcmp(key, "operator") != 0 &&
		    strcmp(key, "value") != 0 && strcmp(key, "highValue") != 0 &&
		    strcmp(key, "values") != 0) {
			detail(details, field, "unknown_member", "unknown member in a filter");
			return false;
		}
	}
	p = find_prop(o, pname);
	if (p == NULL) {
		detail(details, field, "unknown_property",
		       pname == NULL ? "propertyName is required" : "no such property on this object");
		return false;
	}
	for (size_t i = 0; opname != NULL && i < sizeof(op_names) / sizeof(op_names[0]); i++) {
		if (strcmp(op_names[i].name, opname) == 0) {
			f->op = op_names[i].op;
			found = true;
		}
	}
	if (!found) {
		detail(details, field, "invalid_operator", "operator is not one Kura knows");
		return false;
	}
	if (p->row.sensitive && f->op != KURA_OP_EQ && f->op != KURA_OP_IN &&
	    f->op != KURA_OP_HAS && f->op != KURA_OP_NOT_HAS) {
		detail(details, field, "not_searchable",
		       "only EQ, IN, HAS_PROPERTY and NOT_HAS_PROPERTY work on a sensitive property "
		       "(its values are encrypted)");
		return false;
	}
	if (p->row.sensitive && !kura_prop_blind_indexed(p) &&
	    (f->op == KURA_OP_EQ || f->op == KURA_OP_IN)) {
		detail(details, field, "not_searchable",
		       "this sensitive property has no blind index (\"indexed\": false): its values "
		       "cannot be searched; HAS_PROPERTY and NOT_HAS_PROPERTY work");
		return false;
	}
	f->prop_id = p->row.id;
	/* a unique property's index is partial (live records only); a sensitive one has none */
	f->indexed = p->row.indexed && !p->row.unique && !p->row.sensitive;
	/* Looked up through the blind index, then checked on the decrypted value. */
	f->blind = p->row.sensitive && (f->op == KURA_OP_EQ || f->op == KURA_OP_IN);
	switch (f->op) {
	case KURA_OP_HAS:
	case KURA_OP_NOT_HAS:
		break;
	case KURA_OP_IN:
	case KURA_OP_NOT_IN: {
		json_t *vals = json_object_get(jf, "values");
		size_t i;
		json_t *jv;

		if (!json_is_array(vals) || json_array_size(vals) == 0) {
			detail(details, field, "required", "values must be a non-empty array");
			return false;
		}
		if (json_array_size(vals) > KURA_SEARCH_VALUES_MAX)
			return false; /* checked as a limit by the caller */
		f->vals = &s->vals[*nvals_used];
		json_array_foreach(vals, i, jv) {
			if (!kura_value_from_json(p, jv, false, &s->sp, &s->vals[*nvals_used], details) ||
			    s->vals[*nvals_used].kind == KURA_V_NULL) {
				if (json_array_size(details) == before)
					detail(details, field, "invalid_type", "values may not be null");
				return false;
			}
			(*nvals_used)++;
			f->nvals++;
		}
		break;
	}
	case KURA_OP_CONTAINS_TOKEN:
	case KURA_OP_STARTS_WITH: {
		const char *t = json_string_value(json_object_get(jf, "value"));
		size_t n = json_string_length(json_object_get(jf, "value"));
		char *copy;

		if (!text_stored(p) || p->type == KURA_PT_DATE) {
			detail(details, field, "operator_not_supported",
			       "this operator works on text properties only");
			return false;
		}
		if (t == NULL || n == 0 || n > 1024 || strlen(t) != n) {
			detail(details, field, "invalid_type", "value must be a non-empty string");
			return false;
		}
		copy = kura_strpool_dup(&s->sp, t, n);
		if (copy == NULL)
			return false;
		if (f->op == KURA_OP_CONTAINS_TOKEN) {
			for (char *c = copy; *c != '\0'; c++) {
				if (*c >= 'A' && *c <= 'Z')
					*c = (char)(*c - 'A' + 'a');
			}
		}
		f->v.kind = KURA_V_TEXT;
		f->v.s = copy;
		f->v.n = n;
		break;
	}
	default: {
		json_t *jv = json_object_get(jf, "value");

		if (jv == NULL || json_is_null(jv)) {
			detail(details, field, "required", "value is required for this operator");
			return false;
		}
		if (p->row.id < 0) {
			/* built-in columns: the same value rules as their type */
			struct kura_prop tmp = *p;

			if (!kura_value_from_json(&tmp, jv, false, &s->sp, &f->v, details))
				return false;
		} else if (!kura_value_from_json(p, jv, false, &s->sp, &f->v, details)) {
			return false;
		}
		if (f->op == KURA_OP_BETWEEN) {
			json_t *hv = json_object_get(jf, "highValue");

			if (hv == NULL || json_is_null(hv)) {
				detail(details, field, "required", "BETWEEN needs highValue");
				return false;
			}
			if (!kura_value_from_json(p, hv, false, &s->sp, &f->v2, details))
				return false;
		}
		break;
	}
	}
	return json_array_size(details) == before;
}

static enum kura_err
limit_error(json_t *details, const char *field, const char *msg)
{
	detail(details, field, "limit", msg);
	return KURA_E_BAD_REQUEST;
}

static enum kura_err
parse_groups(const struct kura_object *o, json_t *groups, struct kura_search_req *s,
	     json_t *details)
{
	size_t total = 0, nvals = 0, g;
	json_t *jg;
	char field[96];

	if (groups == NULL || json_is_null(groups))
		return KURA_OK;
	if (!json_is_array(groups)) {
		detail(details, "filterGroups", "invalid_type", "filterGroups must be an array");
		return KURA_E_VALIDATION;
	}
	if (json_array_size(groups) > KURA_SEARCH_GROUPS_MAX)
		return limit_error(details, "filterGroups", "at most 5 filterGroups");
	json_array_foreach(groups, g, jg) {
		json_t *fs = json_object_get(jg, "filters");
		size_t i;
		json_t *jf;

		if (!json_is_object(jg) || !json_is_array(fs) || json_object_size(jg) != 1) {
			detail(details, "filterGroups", "invalid_type",
			       "each filter group is {\"filters\": [...]}");
			return KURA_E_VALIDATION;
		}
		if (json_array_size(fs) > KURA_SEARCH_FILTERS_PER_GROUP_MAX)
			return limit_error(details, "filterGroups",
					   "at most 10 filters in a filter group");
		total += json_array_size(fs);
		json_array_foreach(fs, i, jf) {
			json_t *vals = json_object_get(jf, "values");

			if (json_is_array(vals) && json_array_size(vals) > KURA_SEARCH_VALUES_MAX)
				return limit_error(details, "filterGroups",
						   "at most 100 values in IN and NOT_IN");
			if (json_is_array(vals))
				nvals += json_array_size(vals);
		}
	}
	if (total > KURA_SEARCH_FILTERS_MAX)
		return limit_error(details, "filterGroups", "at most 25 filters in all");
	s->groups = calloc(json_array_size(groups) + 1, sizeof(*s->groups));
	s->filters = calloc(total + 1, sizeof(*s->filters));
	s->vals = calloc(nvals + 1, sizeof(*s->vals));
	if (s->groups == NULL || s->filters == NULL || s->vals == NULL)
		return KURA_E_NOMEM;
	total = 0;
	nvals = 0;
	json_array_foreach(groups, g, jg) {
		json_t *fs = json_object_get(jg, "filters");
		size_t i;
		json_t *jf;

		s->groups[g].filters = &s->filters[total];
		json_array_foreach(fs, i, jf) {
			snprintf(field, sizeof(field), "filterGroups[%zu].filters[%zu]", g, i);
			parse_filter(s, o, jf, &s->filters[total], &nvals, field, details);
			total++;
			s->groups[g].n++;
		}
	}
	s->q.groups = s->groups;
	s->q.ngroups = json_array_size(groups);
	return json_array_size(details) > 0 ? KURA_E_VALIDATION : KURA_OK;
}

static enum kura_err
parse_want(const struct kura_object *o, json_t *props, struct kura_search_req *s,
	   json_t *details)
{
	size_t i;
	json_t *w;

	if (props == NULL || json_is_null(props))
		return KURA_OK;
	if (!json_is_array(props) || json_array_size(props) > KURA_PROPS_PER_OBJECT_MAX) {
		detail(details, "properties", "invalid_type", "properties must be an array of names");
		return KURA_E_VALIDATION;
	}
	json_array_foreach(props, i, w) {
		if (!json_is_string(w) || kura_object_prop(o, json_string_value(w)) == NULL) {
			detail(details, "properties", "unknown_property",
			       "properties names a property this object does not have");
			return KURA_E_VALIDATION;
		}
	}
	s->want = json_incref(props);
	return KURA_OK;
}

static enum kura_err
blind_error(json_t *details)
{
	detail(details, "filterGroups", "not_searchable",
	       "an EQ or IN filter on a sensitive property works in a single filter group "
	       "and without sorts");
	return KURA_E_VALIDATION;
}

enum kura_err
kura_search_parse(const struct kura_object *o, json_t *body, bool full,
		  struct kura_search_req *s, json_t *details)
{
	json_t *v;
	enum kura_err e;

	init_pseudo();
	memset(s, 0, sizeof(*s));
	kura_buf_init(&s->match, 16 * 1024);
	s->q.object_id = o->row.id;
	s->q.limit = 10;
	e = parse_groups(o, json_object_get(body, "filterGroups"), s, details);
	if (e != KURA_OK)
		return e;
	/*
	 * run_blind reads the first group only. Checked here, not with the
	 * sorts below, so that the filters of dynamic lists (full is false)
	 * obey it too.
	 */
	if (kura_search_has_blind(s) && s->q.ngroups > 1)
		return blind_error(details);
	if (!full)
		return KURA_OK;
	v = json_object_get(body, "query");
	if (v != NULL && !json_is_null(v)) {
		const char *q = json_string_value(v);
		size_t n = json_string_length(v);

		if (q == NULL || n == 0 || strlen(q) != n) {
			detail(details, "query", "invalid_type", "query must be a non-empty string");
			return KURA_E_VALIDATION;
		}
		if (n > KURA_SEARCH_QUERY_MAX * 4 || kura_utf8_chars(q, n) > KURA_SEARCH_QUERY_MAX)
			return limit_error(details, "query", "at most 200 characters");
		e = kura_fts_query(q, &s->match);
		if (e == KURA_E_VALIDATION) {
			detail(details, "query", "no_words",
			       "query holds no letters or digits (or more than 16 words)");
			return e;
		}
		if (e != KURA_OK)
			return e;
		s->q.match = s->match.data;
	}
	v = json_object_get(body, "sorts");
	if (v != NULL && !json_is_null(v)) {
		size_t i;
		json_t *js;

		if (!json_is_array(v)) {
			detail(details, "sorts", "invalid_type", "sorts must be an array");
			return KURA_E_VALIDATION;
		}
		if (json_array_size(v) > KURA_SEARCH_SORTS_MAX)
			return limit_error(details, "sorts", "at most 2 sorts");
		json_array_foreach(v, i, js) {
			const char *name = json_string_value(json_object_get(js, "propertyName"));
			const char *dir = json_string_value(json_object_get(js, "direction"));
			const struct kura_prop *p = find_prop(o, name);

			if (p == NULL) {
				detail(details, "sorts", "unknown_property",
				       "sorts names a property this object does not have");
				return KURA_E_VALIDATION;
			}
			if (p->row.sensitive) {
				detail(details, "sorts", "not_sortable",
				       "a sensitive property cannot be sorted on");
				return KURA_E_VALIDATION;
			}
			if (dir != NULL && strcmp(dir, "ASCENDING") != 0 &&
			    strcmp(dir, "DESCENDING") != 0) {
				detail(details, "sorts", "invalid_direction",
				       "direction is ASCENDING or DESCENDING");
				return KURA_E_VALIDATION;
			}
			if (json_object_size(js) > (size_t)(1 + (dir != NULL))) {
				detail(details, "sorts", "unknown_member", "unknown member in a sort");
				return KURA_E_VALIDATION;
			}
			s->q.sorts[i].prop_id = p->row.id;
			s->q.sorts[i].desc = dir != NULL && strcmp(dir, "DESCENDING") == 0;
			s->q.nsorts++;
		}
	}
	e = parse_want(o, json_object_get(body, "properties"), s, details);
	if (e != KURA_OK)
		return e;
	if (kura_search_has_blind(s) && s->q.nsorts > 0)
		return blind_error(details);
	v = json_object_get(body, "limit");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > KURA_SEARCH_LIMIT_MAX) {
			detail(details, "limit", "out_of_range", "limit is 1..100");
			return KURA_E_VALIDATION;
		}
		s->q.limit = (unsigned)json_integer_value(v);
	}
	v = json_object_get(body, "after");
	if (v != NULL && !json_is_null(v)) {
		char kind;
		int64_t n;

		if (!kura_cursor_parse(json_string_value(v), &kind, &n) ||
		    (kind == 'k') != (s->q.nsorts == 0) || (kind == 'o' && n > KURA_SEARCH_RESULTS_MAX)) {
			detail(details, "after", "invalid_cursor", "after is not a cursor of this search");
			return KURA_E_VALIDATION;
		}
		if (kind == 'k')
			s->q.after_id = n;
		else
			s->q.offset = (unsigned)n;
	}
	return KURA_OK;
}

bool
kura_search_has_blind(const struct kura_search_req *s)
{
	for (size_t g = 0; g < s->q.ngroups; g++) {
		for (size_t i = 0; i < s->q.groups[g].n; i++) {
			if (s->q.groups[g].filters[i].blind)
				return true;
		}
	}
	return false;
}

struct run_ctx {
	const struct kura_rec_ctx *x;
	json_t *results;
	json_t *want;
	unsigned limit;
	unsigned seen;
	int64_t last_id;
	enum kura_err e;
};

static bool
add_result(void *ctx, const struct kura_record_row *r)
{
	struct run_ctx *c = ctx;

	json_t *rec;

	if (c->seen++ >= c->limit)
		return false;
	c->last_id = r->id;
	rec = kura_record_row_json(c->x, r, c->want, &c->e);
	if (rec == NULL) {
		if (c->e == KURA_OK)
			c->e = KURA_E_NOMEM;
		return false;
	}
	json_array_append_new(c->results, rec);
	return true;
}

/*
 * Searches with filters on sensitive properties: the store finds
 * candidates through the blind index (equal values share it with a few
 * others on purpose); each candidate's value is decrypted and compared, so
 * only exact matches are shown or counted. Candidates come in id order, in
 * chunks; at most KURA_SEARCH_RESULTS_MAX are examined for the count.
 */
struct blind_ctx {
	struct run_ctx run;
	const struct kura_search *orig;
	int64_t last_candidate;
	unsigned candidates;
	int64_t total;
	bool count;
	enum kura_err e;
};

static bool
value_matches(const struct kura_filter *f, const struct kura_val *v)
{
	if (f->op == KURA_OP_EQ)
		return kura_val_equal(&f->v, v);
	for (size_t i = 0; i < f->nvals; i++) {
		if (kura_val_equal(&f->vals[i], v))
			return true;
	}
	return false;
}

static bool
blind_row(void *ctx, const struct kura_record_row *r)
{
	struct blind_ctx *b = ctx;
	const struct kura_filter_group *g = &b->orig->groups[0];
	struct kura_strpool sp = {0};
	bool pass = true;

	b->last_candidate = r->id;
	b->candidates++;
	for (size_t i = 0; pass && i < g->n; i++) {
		const struct kura_filter *f = &g->filters[i];
		const struct kura_prop *p;
		struct kura_val clear = {.kind = KURA_V_NULL};

		if (!f->blind)
			continue;
		p = kura_catalog_prop_by_id(b->run.x->cat, f->prop_id);
		pass = false;
		for (size_t k = 0; p != NULL && k < r->ncols; k++) {
			if (r->cols[k].prop_id != f->prop_id)
				continue;
			b->e = kura_sensitive_open(b->run.x, r->id, p, &r->cols[k].v, &sp, &clear);
			if (b->e != KURA_OK) {
				kura_strpool_free(&sp);
				return false;
			}
			pass = value_matches(f, &clear);
		}
	}
	kura_strpool_free(&sp);
	if (!pass)
		return true;
	b->total++;
	if (b->run.seen <= b->run.limit) {
		if (b->run.seen == b->run.limit) {
			b->run.seen++; /* one more than shown: there is a next page */
		} else if (!add_result(&b->run, r)) {
			b->e = b->run.e != KURA_OK ? b->run.e : KURA_E_NOMEM;
			return false;
		}
	}
	/* Without a count, stop once the page and the hint of a next one are in. */
	return b->count || b->run.seen <= b->run.limit;
}

static enum kura_err
run_blind(const struct kura_rec_ctx *x, struct kura_search_req *s, bool count, json_t **out)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	struct blind_ctx b = {.run = {.x = x, .results = json_array(), .want = s->want,
				      .limit = s->q.limit},
			      .orig = &s->q, .count = count};
	struct kura_filter_group g;
	struct kura_filter *fs = NULL;
	struct kura_val *vals = NULL;
	struct kura_search q = s->q;
	size_t nvals = 0;
	int64_t unused = 0;
	bool exact = true, unused_exact;
	enum kura_err e = KURA_OK;
	char cur[64];

	*out = NULL;
	/* The same filters, with each sensitive value replaced by its blind index. */
	fs = calloc(s->q.groups[0].n + 1, sizeof(*fs));
	/* each value looked up under one key, or two during a rotation */
	for (size_t i = 0; i < s->q.groups[0].n; i++)
		nvals += 2 * (s->q.groups[0].filters[i].nvals + 1);
	vals = calloc(nvals + 1, sizeof(*vals));
	if (fs == NULL || vals == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	nvals = 0;
	for (size_t i = 0; e == KURA_OK && i < s->q.groups[0].n; i++) {
		const struct kura_filter *f = &s->q.groups[0].filters[i];
		const struct kura_prop *p = kura_catalog_prop_by_id(x->cat, f->prop_id);

		fs[i] = *f;
		if (!f->blind)
			continue;
		/* EQ and IN alike become IN over the index values to look up */
		fs[i].op = KURA_OP_IN;
		fs[i].vals = &vals[nvals];
		fs[i].nvals = 0;
		for (size_t k = 0; e == KURA_OK && k < (f->op == KURA_OP_EQ ? 1 : f->nvals); k++) {
			int64_t bl[2];
			size_t nb = kura_sensitive_blind_lookup(
				x, p, f->op == KURA_OP_EQ ? &f->v : &f->vals[k], bl, &e);

			for (size_t j = 0; j < nb; j++) {
				vals[nvals].kind = KURA_V_INT;
				vals[nvals++].i = bl[j];
				fs[i].nvals++;
			}
		}
	}
	if (e != KURA_OK)
		goto out;
	g.filters = fs;
	g.n = s->q.groups[0].n;
	q.groups = &g;
	q.ngroups = 1;
	q.count_cap = 0;
	q.limit = 256;
	for (;;) {
		unsigned before = b.candidates;

		e = ops->search(conn, &q, blind_row, &b, &unused, &unused_exact);
		if (e == KURA_OK)
			e = b.e;
		if (e != KURA_OK)
			goto out;
		if (b.candidates - before < q.limit || (!count && b.run.seen > b.run.limit))
			break;
		if (b.candidates >= KURA_SEARCH_RESULTS_MAX) {
			exact = false;
			break;
		}
		q.after_id = b.last_candidate;
	}
	*out = json_pack("{s:o}", "results", b.run.results);
	b.run.results = NULL;
	if (count) {
		json_object_set_new(*out, "total", json_integer(b.total));
		json_object_set_new(*out, "totalIsExact", json_boolean(exact));
	}
	if (b.run.seen > b.run.limit) {
		kura_cursor_make('k', b.run.last_id, cur, sizeof(cur));
		json_object_set_new(*out, "paging", json_pack("{s:{s:s}}", "next", "after", cur));
	}
out:
	json_decref(b.run.results);
	free(fs);
	free(vals);
	return e;
}

enum kura_err
kura_search_run(const struct kura_rec_ctx *x, struct kura_search_req *s, bool count,
		json_t **out)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	struct run_ctx c = {.x = x, .want = s->want, .limit = s->q.limit};
	struct kura_search q = s->q;
	int64_t total = 0;
	bool exact = true;
	enum kura_err e;
	char cur[64];

	*out = NULL;
	/* Filtering or sorting on a property the caller may not view would reveal it. */
	for (size_t g = 0; g < s->q.ngroups; g++) {
		for (size_t i = 0; i < s->q.groups[g].n; i++) {
			const struct kura_prop *p =
				kura_catalog_prop_by_id(x->cat, s->q.groups[g].filters[i].prop_id);

			if (p != NULL && !kura_prop_can_view(p, x->role, x->teams))
				return KURA_E_FORBIDDEN;
		}
	}
	for (size_t i = 0; i < s->q.nsorts; i++) {
		const struct kura_prop *p = kura_catalog_prop_by_id(x->cat, s->q.sorts[i].prop_id);

		if (p != NULL && !kura_prop_can_view(p, x->role, x->teams))
			return KURA_E_FORBIDDEN;
	}
	/*
	 * While a property is being encrypted its values are in both forms and
	 * only the sealed ones have a blind index: refused, never incomplete.
	 */
	for (size_t g = 0; g < s->q.ngroups; g++) {
		for (size_t i = 0; i < s->q.groups[g].n; i++) {
			const struct kura_prop *p =
				kura_catalog_prop_by_id(x->cat, s->q.groups[g].filters[i].prop_id);

			if (p != NULL && s->q.groups[g].filters[i].blind &&
			    p->row.enc_state == KURA_ENC_PENDING)
				return KURA_E_CONFLICT;
		}
	}
	if (kura_search_has_blind(s))
		return run_blind(x, s, count, out);
	c.results = json_array();
	if (q.nsorts > 0 && q.offset + q.limit > KURA_SEARCH_RESULTS_MAX)
		q.limit = q.offset >= KURA_SEARCH_RESULTS_MAX ? 0 : KURA_SEARCH_RESULTS_MAX - q.offset;
	c.limit = q.limit;
	q.count_cap = count ? KURA_SEARCH_RESULTS_MAX : 0;
	q.limit = q.limit + 1; /* one more tells whether there is a next page */
	e = ops->search(conn, &q, add_result, &c, &total, &exact);
	if (e == KURA_OK)
		e = c.e;
	if (e != KURA_OK) {
		json_decref(c.results);
		return e;
	}
	*out = json_pack("{s:o}", "results", c.results);
	if (count) {
		json_object_set_new(*out, "total", json_integer(total));
		json_object_set_new(*out, "totalIsExact", json_boolean(exact));
	}
	if (c.seen > c.limit) {
		if (q.nsorts == 0)
			kura_cursor_make('k', c.last_id, cur, sizeof(cur));
		else
			kura_cursor_make('o', (int64_t)q.offset + c.limit, cur, sizeof(cur));
		json_object_set_new(*out, "paging",
				    json_pack("{s:{s:s}}", "next", "after", cur));
	}
	return KURA_OK;
}
