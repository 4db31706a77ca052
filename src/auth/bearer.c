/*
 * Bearer tokens of the operator's machine clients (the Prometheus scraper
 * of GET /metrics). The token is configured in a file; kurad keeps only its
 * SHA-256, and a presented token is hashed and compared in constant time,
 * so neither the comparison's timing nor the lengths tell anything about
 * the token.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "kura/auth.h"
#include "kura/crypto.h"
#include "kura/server.h"

bool
kura_bearer_ok(const char *authorization, const uint8_t want_sha256[32])
{
	uint8_t got[32];
	const char *tok;
	size_t len;
	bool ok;

	if (authorization == NULL || want_sha256 == NULL)
		return false;
	/* RFC 6750 2.1: "Bearer" (any case), one or more spaces, the token. */
	if (strncasecmp(authorization, "Bearer ", 7) != 0)
		return false;
	tok = authorization + 7;
	while (*tok == ' ')
		tok++;
	len = strlen(tok);
	while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
		len--;
	if (len == 0)
		return false;
	kura_sha256(tok, len, got);
	ok = kura_ct_equal(got, want_sha256, sizeof(got)) == 1;
	sodium_memzero(got, sizeof(got));
	return ok;
}

enum kura_err
kura_auth_metrics(struct kura_req *r, const char **msg)
{
	/* Off unless the operator configured a token: the endpoint does not exist then. */
	if (!r->srv->metrics_enabled) {
		*msg = "no such resource";
		return KURA_E_NOT_FOUND;
	}
	if (!kura_bearer_ok(kura_req_header(r, "Authorization"), r->srv->metrics_token_sha256)) {
		*msg = "send the metrics token as \"Authorization: Bearer <token>\"";
		return KURA_E_UNAUTHENTICATED;
	}
	return KURA_OK;
}
