/*
 * Request bodies as JSON, with the limits the rest of Kura relies on: valid
 * UTF-8, no NUL bytes (raw or as \u0000, which C strings would silently cut),
 * no duplicate keys (two "role" members would let a validator and a user of
 * the value see different ones) and a bounded nesting depth. The parsing is
 * jansson's; this file only sets its flags and checks what it built.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/http.h"

/* jansson refuses deeper documents itself, so the walk below never needs more. */
#define DEPTH_CAP JSON_PARSER_MAX_DEPTH

struct frame {
	json_t *node;
	void *iter;    /* objects: next member */
	size_t index;  /* arrays: next element */
};

/*
 * jansson's messages quote bits of the input ("invalid token near 'x'").
 * They go back to the client inside a JSON string, so keep them printable
 * ASCII: anything else might be half a UTF-8 sequence after truncation.
 */
static void
sanitize(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p >= 0x7f)
			*p = '?';
	}
}

static void put(char *msg, size_t msgn, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
put(char *msg, size_t msgn, const char *fmt, ...)
{
	va_list ap;

	if (msg == NULL || msgn == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, msgn, fmt, ap);
	va_end(ap);
	sanitize(msg);
}

/* Children of a container, or NULL when it has no more. */
static json_t *
next_child(struct frame *f)
{
	json_t *child = NULL;

	if (json_is_object(f->node)) {
		if (f->iter != NULL) {
			child = json_object_iter_value(f->iter);
			f->iter = json_object_iter_next(f->node, f->iter);
		}
	} else if (f->index < json_array_size(f->node)) {
		child = json_array_get(f->node, f->index);
		f->index++;
	}
	return child;
}

/*
 * Depth of the deepest container, walked with an explicit stack so that
 * hostile nesting cannot exhaust the C stack. Stops as soon as max_depth
 * is exceeded. Returns false on allocation failure.
 */
static bool
too_deep(json_t *root, unsigned max_depth, bool *deep)
{
	struct frame *stack;
	size_t cap = (size_t)max_depth + 1, top = 0;

	*deep = false;
	if (!json_is_object(root) && !json_is_array(root))
		return true;
	if (cap > DEPTH_CAP + 1)
		cap = DEPTH_CAP + 1;
	if (max_depth == 0) {
		*deep = true;
		return true;
	}
	stack = calloc(cap, sizeof(*stack));
	if (stack == NULL)
		return false;
	stack[0].node = root;
	stack[0].iter = json_is_object(root) ? json_object_iter(root) : NULL;
	top = 1;
	while (top > 0) {
		json_t *child = next_child(&stack[top - 1]);

		if (child == NULL) {
			top--;
			continue;
		}
		if (!json_is_object(child) && !json_is_array(child))
			continue;
		/* child sits at depth top + 1 */
		if (top + 1 > max_depth || top >= cap) {
			*deep = true;
			break;
		}
		stack[top].node = child;
		stack[top].iter = json_is_object(child) ? json_object_iter(child) : NULL;
		stack[top].index = 0;
		top++;
	}
	free(stack);
	return true;
}

enum kura_err
kura_json_parse(const char *data, size_t len, unsigned max_depth, json_t **out, char *msg,
		size_t msgn)
{
	json_error_t jerr;
	json_t *root = NULL;
	const char *nul;
	bool deep = false;
	enum kura_err e = KURA_E_INVALID_JSON;

	*out = NULL;
	if (msg != NULL && msgn > 0)
		msg[0] = '\0';
	if (data == NULL || len == 0) {
		put(msg, msgn, "the body is empty; a JSON document is expected");
		goto out;
	}
	/* A raw NUL is invalid JSON anyway; say so plainly rather than via jansson. */
	nul = memchr(data, '\0', len);
	if (nul != NULL) {
		put(msg, msgn, "invalid JSON: NUL byte at offset %zu", (size_t)(nul - data));
		goto out;
	}
	/*
	 * JSON_DECODE_ANY: a scalar body is valid JSON; whether it is acceptable
	 * is the handler's call (it answers 422 for "not an object"). \u0000 is
	 * refused because JSON_ALLOW_NUL is not given.
	 */
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		switch (json_error_code(&jerr)) {
		case json_error_invalid_utf8:
			e = KURA_E_INVALID_UTF8;
			break;
		case json_error_stack_overflow:
			e = KURA_E_JSON_TOO_DEEP;
			break;
		case json_error_out_of_memory:
			e = KURA_E_NOMEM;
			break;
		default:
			e = KURA_E_INVALID_JSON;
			break;
		}
		put(msg, msgn, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
		    jerr.text);
		goto out;
	}
	if (!too_deep(root, max_depth, &deep)) {
		e = KURA_E_NOMEM;
		goto out;
	}
	if (deep) {
		e = KURA_E_JSON_TOO_DEEP;
		put(msg, msgn, "JSON nested deeper than %u levels", max_depth);
		goto out;
	}
	*out = root;
	root = NULL;
	e = KURA_OK;
out:
	json_decref(root);
	return e;
}
