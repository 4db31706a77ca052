/* Lookups over the error table in err_codes.def. */
#include "kura/err.h"

#include <stddef.h>

struct err_row {
	int status;
	const char *code;
	const char *name;
};

static const struct err_row rows[] = {
#define X(name, status, str) {status, str, #name},
#include "kura/err_codes.def"
#undef X
};

static const struct err_row *
row(enum kura_err e)
{
	if ((int)e < 0 || (size_t)e >= sizeof(rows) / sizeof(rows[0]))
		return &rows[KURA_E_INTERNAL];
	return &rows[e];
}

int
kura_err_http_status(enum kura_err e)
{
	return row(e)->status;
}

const char *
kura_err_code(enum kura_err e)
{
	return row(e)->code;
}

const char *
kura_err_name(enum kura_err e)
{
	return row(e)->name;
}
