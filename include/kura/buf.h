/*
 * A growable byte buffer with a hard maximum (like curl's dynbuf). Appending
 * past the maximum fails with KURA_E_BODY_TOO_LARGE and leaves the contents
 * as they were. The data is always NUL-terminated (the NUL is not counted).
 */
#ifndef KURA_BUF_H
#define KURA_BUF_H

#include <stddef.h>

#include "kura/err.h"

struct kura_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void kura_buf_init(struct kura_buf *b, size_t max);
enum kura_err kura_buf_append(struct kura_buf *b, const void *p, size_t n);
/* printf-style append. */
enum kura_err kura_buf_printf(struct kura_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void kura_buf_reset(struct kura_buf *b);
/* Frees the storage; the buffer may be reused after kura_buf_init. */
void kura_buf_free(struct kura_buf *b);

#endif
