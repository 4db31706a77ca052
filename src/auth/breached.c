/*
 * The "breached" password rule: a new password must not be one of the
 * common passwords of Openwall's password.lst (Debian's john-data), which
 * the build embeds lower-cased, deduplicated and sorted
 * (scripts/embed_wordlist.py). A look-up is a binary search, case-insensitive
 * for ASCII letters; no allocation, no hashing.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "kura/auth.h"

/* Longer than every entry: a longer password cannot match, so is not copied. */
#define WORD_MAX 64

bool
kura_password_breached(const char *pw, size_t len)
{
	char low[WORD_MAX + 1];
	size_t lo = 0, hi = kura_breached_list_count;
	bool hit = false;

	if (pw == NULL || len == 0 || len > WORD_MAX || memchr(pw, '\0', len) != NULL)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)pw[i];

		low[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	low[len] = '\0';
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(low, kura_breached_list[mid]);

		if (cmp == 0) {
			hit = true;
			break;
		}
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	/* The candidate is a password: do not leave a copy on the stack. */
	memset(low, 0, sizeof(low));
	return hit;
}
