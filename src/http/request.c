/*
 * Read access to a request for handlers: route parameters, headers and
 * cookies. Header and cookie values are MHD's, valid until the request
 * completes; handlers must copy what they keep longer.
 */
#include <string.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "kura/crypto.h"
#include "kura/http.h"
#include "kura/server.h"

const char *
kura_req_param(const struct kura_req *r, const char *name)
{
	if (r == NULL || name == NULL)
		return NULL;
	for (unsigned i = 0; i < r->nparams && i < KURA_ROUTE_MAX_PARAMS; i++) {
		if (r->param_names[i] != NULL && strcmp(r->param_names[i], name) == 0)
			return r->param_values[i];
	}
	return NULL;
}

const char *
kura_req_header(const struct kura_req *r, const char *name)
{
	if (r == NULL || r->conn == NULL || name == NULL)
		return NULL;
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct cookie_find {
	const char *name;
	const char *value;
	unsigned count;
};

static enum MHD_Result
match_cookie(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct cookie_find *f = cls;

	(void)kind;
	/* Exact, case-sensitive: "__host-x" planted by a sibling site is not "__Host-x". */
	if (key != NULL && strcmp(key, f->name) == 0) {
		f->value = value;
		f->count++;
	}
	return MHD_YES;
}

const char *
kura_req_cookie(const struct kura_req *r, const char *name)
{
	struct cookie_find f = {name, NULL, 0};

	if (r == NULL || r->conn == NULL || name == NULL)
		return NULL;
	MHD_get_connection_values(r->conn, MHD_COOKIE_KIND, match_cookie, &f);
	/* Two cookies of one name: someone tossed one in; trust neither. */
	return f.count == 1 ? f.value : NULL;
}

const char *
kura_req_query(const struct kura_req *r, const char *name)
{
	if (r == NULL || r->conn == NULL || name == NULL)
		return NULL;
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_check {
	const char *const *allowed;
	const char *bad;
	unsigned seen[32];
};

static enum MHD_Result
check_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_check *q = cls;
	size_t i;

	(void)kind;
	(void)value;
	for (i = 0; q->allowed[i] != NULL && i < 32; i++) {
		if (key != NULL && strcmp(key, q->allowed[i]) == 0)
			break;
	}
	if (q->allowed[i] == NULL || i >= 32 || ++q->seen[i] > 1) {
		q->bad = key != NULL ? key : "";
		return MHD_NO;
	}
	return MHD_YES;
}

bool
kura_req_query_only(const struct kura_req *r, const char *const *allowed, const char **bad)
{
	struct query_check q;

	memset(&q, 0, sizeof(q));
	q.allowed = allowed;
	*bad = NULL;
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_arg, &q);
	*bad = q.bad;
	return q.bad == NULL;
}

unsigned
kura_req_client_chain(const struct kura_req *r, struct kura_der *out, unsigned max)
{
	const union MHD_ConnectionInfo *ci;
	const gnutls_datum_t *peers;
	unsigned n = 0;

	if (r == NULL || r->conn == NULL || r->srv == NULL || r->srv->client_cas == NULL)
		return 0;
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL)
		return 0;
	/* Only X.509 peers; the certificates stay owned by the session. */
	if (gnutls_certificate_type_get((gnutls_session_t)ci->tls_session) != GNUTLS_CRT_X509)
		return 0;
	peers = gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
	if (peers == NULL)
		return 0;
	if (n > max)
		n = max;
	for (unsigned i = 0; i < n; i++) {
		out[i].data = peers[i].data;
		out[i].len = peers[i].size;
	}
	return n;
}

bool
kura_req_client_cert_sha256(const struct kura_req *r, uint8_t out[32])
{
	struct kura_der leaf;

	if (kura_req_client_chain(r, &leaf, 1) != 1)
		return false;
	kura_sha256(leaf.data, leaf.len, out);
	return true;
}
