/*
 * Client certificates (mutual TLS) as a tenant requires them: the chain the
 * connection presented must verify against one of the authorities the
 * tenant allows (kura/crypto.h); sessions opened that way are bound to the
 * leaf certificate (kura_session.client_cert) and checked against it on
 * every request (session.c).
 */
#include <string.h>

#include "kura/auth.h"
#include "kura/crypto.h"
#include "kura/server.h"
#include "kura/settings.h"

#define CHAIN_MAX 8

enum kura_err
kura_auth_client_cert(const struct kura_req *r, const struct kura_security_settings *set,
		      uint8_t leaf_sha256[32])
{
	struct kura_der chain[CHAIN_MAX];
	unsigned n;

	memset(leaf_sha256, 0, 32);
	if (r->srv->client_cas == NULL)
		return KURA_E_CLIENT_CERT_REQUIRED;
	n = kura_req_client_chain(r, chain, CHAIN_MAX);
	if (n == 0)
		return KURA_E_CLIENT_CERT_REQUIRED;
	return kura_client_cas_verify(r->srv->client_cas, set->client_cas, chain, n, leaf_sha256);
}
