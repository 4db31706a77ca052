/* Syntax checks for identifiers that arrive from outside: tenant ids, e-mails. */
#include <stdbool.h>
#include <string.h>

#include "kura/auth.h"

bool
kura_tenant_id_valid(const char *id)
{
	size_t n;

	if (id == NULL)
		return false;
	n = strlen(id);
	if (n < 2 || n > KURA_TENANT_ID_MAX || id[0] < 'a' || id[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return id[n - 1] != '-';
}

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
	if (n < 3 || n > KURA_EMAIL_MAX)
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
