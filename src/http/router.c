/*
 * Routing by table: a request path is split into segments and compared with
 * each route's pattern segment by segment, in table order; "{name}" captures
 * exactly one non-empty segment. Nothing is normalised here on purpose: a
 * path with "." or ".." segments, empty segments ("//", a trailing "/") or
 * too many segments simply matches no route, so there is no way to reach a
 * handler through a path that means something else than it says.
 */
#include <stdlib.h>
#include <string.h>

#include "kura/http.h"

/* Longer paths are not routes of ours; also bounds the work per request. */
#define MAX_SEGMENTS 32

struct seg {
	const char *p;
	size_t len;
};

static const struct {
	unsigned bit;
	const char *name;
} methods[] = {
	{KURA_GET, "GET"},	 {KURA_HEAD, "HEAD"},     {KURA_POST, "POST"},
	{KURA_PUT, "PUT"},	 {KURA_PATCH, "PATCH"},   {KURA_DELETE, "DELETE"},
	{KURA_OPTIONS, "OPTIONS"},
};

#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

unsigned
kura_method_parse(const char *s)
{
	if (s == NULL)
		return 0;
	/* Methods are case-sensitive (RFC 9110 9.1): "get" is not GET. */
	for (size_t i = 0; i < NMETHODS; i++) {
		if (strcmp(s, methods[i].name) == 0)
			return methods[i].bit;
	}
	return 0;
}

void
kura_method_mask_str(unsigned mask, char *out, size_t n)
{
	size_t o = 0;

	if (out == NULL || n == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < NMETHODS; i++) {
		size_t len = strlen(methods[i].name);
		size_t sep = o > 0 ? 2 : 0;

		if ((mask & methods[i].bit) == 0)
			continue;
		/* Never write half a method name: stop at the first that does not fit. */
		if (o + sep + len + 1 > n)
			break;
		if (sep > 0) {
			memcpy(out + o, ", ", 2);
			o += 2;
		}
		memcpy(out + o, methods[i].name, len);
		o += len;
		out[o] = '\0';
	}
}

/*
 * Splits "/a/b/c" into segments. false for paths that cannot be ours: not
 * starting with '/', too many segments, or a "." / ".." segment. Empty
 * segments are kept (they never match a pattern segment).
 */
static bool
split(const char *path, struct seg *segs, size_t *nsegs)
{
	const char *p;
	size_t n = 0;

	*nsegs = 0;
	if (path == NULL || path[0] != '/')
		return false;
	p = path + 1;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);

		if (n == MAX_SEGMENTS)
			return false;
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		segs[n].p = p;
		segs[n].len = len;
		n++;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	*nsegs = n;
	return true;
}

/*
 * Compares one pattern with the split path. On a match fills caps (the
 * captured segments, in pattern order) and their names.
 */
static bool
match_pattern(const char *pattern, const struct seg *segs, size_t nsegs, struct seg *caps,
	      struct seg *names, unsigned *ncaps)
{
	struct seg psegs[MAX_SEGMENTS];
	size_t npsegs = 0;

	*ncaps = 0;
	if (!split(pattern, psegs, &npsegs) || npsegs != nsegs)
		return false;
	for (size_t i = 0; i < nsegs; i++) {
		const struct seg *ps = &psegs[i];

		if (ps->len >= 3 && ps->p[0] == '{' && ps->p[ps->len - 1] == '}') {
			if (segs[i].len == 0 || *ncaps == KURA_ROUTE_MAX_PARAMS)
				return false;
			names[*ncaps].p = ps->p + 1;
			names[*ncaps].len = ps->len - 2;
			caps[*ncaps] = segs[i];
			(*ncaps)++;
			continue;
		}
		if (ps->len != segs[i].len || memcmp(ps->p, segs[i].p, ps->len) != 0)
			return false;
	}
	return true;
}

static bool
method_ok(unsigned route_method, unsigned method)
{
	/* HEAD is GET without the body (MHD leaves the body out). */
	return route_method == method || (method == KURA_HEAD && route_method == KURA_GET);
}

static void
clear_params(struct kura_req *r)
{
	for (unsigned i = 0; i < r->nparams && i < KURA_ROUTE_MAX_PARAMS; i++) {
		free(r->param_values[i]);
		r->param_values[i] = NULL;
		r->param_names[i] = NULL;
	}
	r->nparams = 0;
}

/*
 * Copies the captures into r. Each parameter is one allocation holding
 * "value\0name\0": param_values[i] owns it and param_names[i] points into
 * it, so freeing the values frees the names too.
 */
static enum kura_err
store_params(struct kura_req *r, const struct seg *caps, const struct seg *names, unsigned n)
{
	clear_params(r);
	for (unsigned i = 0; i < n; i++) {
		char *blk = malloc(caps[i].len + 1 + names[i].len + 1);

		if (blk == NULL) {
			clear_params(r);
			return KURA_E_NOMEM;
		}
		memcpy(blk, caps[i].p, caps[i].len);
		blk[caps[i].len] = '\0';
		memcpy(blk + caps[i].len + 1, names[i].p, names[i].len);
		blk[caps[i].len + 1 + names[i].len] = '\0';
		r->param_values[i] = blk;
		r->param_names[i] = blk + caps[i].len + 1;
		r->nparams = i + 1;
	}
	return KURA_OK;
}

enum kura_err
kura_router_match(const struct kura_route *routes, size_t n, unsigned method, const char *path,
		  struct kura_req *r, const struct kura_route **route, unsigned *allowed)
{
	struct seg segs[MAX_SEGMENTS], caps[KURA_ROUTE_MAX_PARAMS], names[KURA_ROUTE_MAX_PARAMS];
	size_t nsegs = 0;
	unsigned ncaps = 0, mask = 0;
	const struct kura_route *found = NULL;
	enum kura_err e = KURA_E_NOT_FOUND;

	*route = NULL;
	*allowed = 0;
	if (!split(path, segs, &nsegs))
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (!match_pattern(routes[i].pattern, segs, nsegs, caps, names, &ncaps))
			continue;
		if (method_ok(routes[i].method, method)) {
			found = &routes[i];
			break;
		}
		mask |= routes[i].method;
		if (routes[i].method == KURA_GET)
			mask |= KURA_HEAD;
	}
	if (found == NULL) {
		e = mask != 0 ? KURA_E_METHOD_NOT_ALLOWED : KURA_E_NOT_FOUND;
		goto out;
	}
	if (r != NULL) {
		e = store_params(r, caps, names, ncaps);
		if (e != KURA_OK)
			goto out;
	}
	*route = found;
	e = KURA_OK;
out:
	if (e == KURA_E_METHOD_NOT_ALLOWED)
		*allowed = mask;
	return e;
}
