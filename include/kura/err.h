/*
 * Error codes shared by every module. A fallible call returns enum kura_err,
 * KURA_OK (0) on success. The table lives in err_codes.def.
 */
#ifndef KURA_ERR_H
#define KURA_ERR_H

enum kura_err {
#define X(name, status, str) name,
#include "kura/err_codes.def"
#undef X
	KURA_E__COUNT
};

/* HTTP status for an error code (500 for an unknown value). */
int kura_err_http_status(enum kura_err e);

/* Stable API string for an error code ("internal_error" for an unknown value). */
const char *kura_err_code(enum kura_err e);

/* Enum name, for logs ("KURA_E_STORE"). */
const char *kura_err_name(enum kura_err e);

#endif
