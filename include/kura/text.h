/*
 * Text checks shared by every module (base/text.c): e-mail syntax and
 * walking UTF-8. Input is valid UTF-8 (the HTTP layer refuses the rest).
 */
#ifndef KURA_TEXT_H
#define KURA_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Light e-mail syntax check (local@domain, length limits, no spaces/controls). */
bool kura_email_valid(const char *email);
/* Decodes the code point at s[i] (of n bytes) into *cp; returns the next index. */
size_t kura_utf8_next(const char *s, size_t n, size_t i, uint32_t *cp);
/* Code points in s[0..n). */
size_t kura_utf8_chars(const char *s, size_t n);

#endif
