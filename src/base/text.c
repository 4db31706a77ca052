/* Syntax checks and UTF-8 helpers for text that arrives from outside. */
#include <stdbool.h>
#include <string.h>

#include "kura/text.h"

/*
 * Deliberately light: local@domain, one '@', no spaces or control bytes,
 * a dot in the domain, RFC 5321 length limits. Deliverability is proven by
 * mail, not by a regular expression.
 */
bool
kura_email_valid(const char *email)
{
	const char *at;
	size_t n, local;

	if (email == NULL)
		return false;
	n = strlen(email);
	if (n < 3 || n > 254 /* RFC 5321 path limit, = KURA_EMAIL_MAX */)
		return false;
	at = strchr(email, '@');
	if (at == NULL || at != strrchr(email, '@'))
		return false;
	local = (size_t)(at - email);
	if (local == 0 || local > 64 || at[1] == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)email; *p != '\0'; p++) {
		if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == '"' || *p == '\\' ||
		    *p == ',' || *p == ';')
			return false;
	}
	if (strchr(at + 1, '.') == NULL || at[1] == '.' || email[n - 1] == '.')
		return false;
	return true;
}

size_t
kura_utf8_next(const char *s, size_t n, size_t i, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char c = u[i];
	size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	uint32_t v;

	if (i + len > n) {
		*cp = 0xFFFD;
		return n;
	}
	switch (len) {
	case 1:
		v = c;
		break;
	case 2:
		v = ((uint32_t)(c & 0x1F) << 6) | (u[i + 1] & 0x3F);
		break;
	case 3:
		v = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(u[i + 1] & 0x3F) << 6) |
		    (u[i + 2] & 0x3F);
		break;
	default:
		v = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(u[i + 1] & 0x3F) << 12) |
		    ((uint32_t)(u[i + 2] & 0x3F) << 6) | (u[i + 3] & 0x3F);
		break;
	}
	*cp = v;
	return i + len;
}

size_t
kura_utf8_chars(const char *s, size_t n)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			count++;
	}
	return count;
}
