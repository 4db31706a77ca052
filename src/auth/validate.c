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
