/* A growable, bounded, always NUL-terminated byte buffer. */
#include "kura/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
kura_buf_init(struct kura_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

static enum kura_err
reserve(struct kura_buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (extra > b->max || b->len > b->max - extra)
		return KURA_E_BODY_TOO_LARGE;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return KURA_OK;
	ncap = b->cap != 0 ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	p = realloc(b->data, ncap);
	if (p == NULL)
		return KURA_E_NOMEM;
	b->data = p;
	b->cap = ncap;
	return KURA_OK;
}

enum kura_err
kura_buf_append(struct kura_buf *b, const void *p, size_t n)
{
	enum kura_err e;

	e = reserve(b, n);
	if (e != KURA_OK)
		return e;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return KURA_OK;
}

enum kura_err
kura_buf_printf(struct kura_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	enum kura_err e;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return KURA_E_INTERNAL;
	e = reserve(b, (size_t)n);
	if (e != KURA_OK)
		return e;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return KURA_OK;
}

void
kura_buf_reset(struct kura_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
kura_buf_free(struct kura_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
