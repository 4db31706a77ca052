/*
 * Client certificates (mutual TLS). The operator's bundle of certificate
 * authorities (tls_client_ca_file) makes kurad ask every TLS client for a
 * certificate (optional at the TLS level); whether a request must carry
 * one, and from which of those authorities, is the tenant's setting. The
 * check is done here, with GnuTLS: the chain the client sent (leaf first)
 * must verify against one allowed authority, be valid now and fit client
 * authentication. The handshake itself already proved that the client
 * holds the leaf's private key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "kura/crypto.h"

#define CLIENT_CAS_MAX 32
#define CHAIN_MAX 8

struct kura_client_ca {
	gnutls_x509_crt_t crt;
	gnutls_x509_trust_list_t trust; /* this authority alone */
	char fingerprint[65];            /* hex SHA-256 of its DER */
	char subject[256];
};

struct kura_client_cas {
	struct kura_client_ca ca[CLIENT_CAS_MAX];
	size_t n;
};

void
kura_client_cas_free(struct kura_client_cas *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		if (c->ca[i].trust != NULL)
			gnutls_x509_trust_list_deinit(c->ca[i].trust, 1);
		if (c->ca[i].crt != NULL)
			gnutls_x509_crt_deinit(c->ca[i].crt);
	}
	free(c);
}

static void
hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool
der_sha256(gnutls_x509_crt_t crt, uint8_t out[32])
{
	gnutls_datum_t der = {NULL, 0};
	bool ok = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der) >= 0;

	if (ok)
		kura_sha256(der.data, der.size, out);
	gnutls_free(der.data);
	return ok;
}

enum kura_err
kura_client_cas_load(const char *pem, size_t len, struct kura_client_cas **out, char *err,
		     size_t n)
{
	gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
	gnutls_x509_crt_t *list = NULL;
	unsigned count = 0;
	struct kura_client_cas *c;
	enum kura_err e = KURA_OK;

	*out = NULL;
	if (pem == NULL || len == 0 || len > 1024 * 1024 ||
	    gnutls_x509_crt_list_import2(&list, &count, &d, GNUTLS_X509_FMT_PEM, 0) < 0 ||
	    count == 0) {
		snprintf(err, n, "no PEM certificate could be read");
		return KURA_E_CONFIG;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	if (count > CLIENT_CAS_MAX) {
		snprintf(err, n, "%u certificates; at most %d", count, CLIENT_CAS_MAX);
		e = KURA_E_CONFIG;
		goto out;
	}
	for (unsigned i = 0; i < count && e == KURA_OK; i++) {
		struct kura_client_ca *ca = &c->ca[c->n];
		unsigned critical = 0;
		uint8_t fp[32];
		gnutls_datum_t dn = {NULL, 0};

		/* An authority: basicConstraints CA:TRUE. */
		if (gnutls_x509_crt_get_basic_constraints(list[i], &critical, NULL, NULL) != 1) {
			snprintf(err, n, "certificate %u is not a certificate authority (CA:TRUE)",
				 i + 1);
			e = KURA_E_CONFIG;
			break;
		}
		if (!der_sha256(list[i], fp) ||
		    gnutls_x509_trust_list_init(&ca->trust, 0) < 0) {
			e = KURA_E_CRYPTO;
			break;
		}
		ca->crt = list[i];
		list[i] = NULL;
		c->n++;
		/* The trust list keeps its own copy of the certificate. */
		{
			gnutls_x509_crt_t copy = NULL;
			gnutls_datum_t der = {NULL, 0};

			if (gnutls_x509_crt_export2(ca->crt, GNUTLS_X509_FMT_DER, &der) < 0 ||
			    gnutls_x509_crt_init(&copy) < 0 ||
			    gnutls_x509_crt_import(copy, &der, GNUTLS_X509_FMT_DER) < 0 ||
			    gnutls_x509_trust_list_add_cas(ca->trust, &copy, 1, 0) != 1) {
				if (copy != NULL)
					gnutls_x509_crt_deinit(copy);
				e = KURA_E_CRYPTO;
			}
			gnutls_free(der.data);
		}
		hex(fp, sizeof(fp), ca->fingerprint);
		if (gnutls_x509_crt_get_dn3(ca->crt, &dn, 0) >= 0) {
			snprintf(ca->subject, sizeof(ca->subject), "%.*s", (int)dn.size,
				 (const char *)dn.data);
			gnutls_free(dn.data);
		}
	}
	if (e == KURA_E_CRYPTO)
		snprintf(err, n, "a certificate could not be prepared for verification");
out:
	for (unsigned i = 0; i < count; i++) {
		if (list[i] != NULL)
			gnutls_x509_crt_deinit(list[i]);
	}
	gnutls_free(list);
	if (e != KURA_OK) {
		kura_client_cas_free(c);
		return e;
	}
	*out = c;
	return KURA_OK;
}

size_t
kura_client_cas_count(const struct kura_client_cas *c)
{
	return c != NULL ? c->n : 0;
}

const char *
kura_client_cas_fingerprint(const struct kura_client_cas *c, size_t i)
{
	return c != NULL && i < c->n ? c->ca[i].fingerprint : NULL;
}

const char *
kura_client_cas_subject(const struct kura_client_cas *c, size_t i)
{
	return c != NULL && i < c->n ? c->ca[i].subject : NULL;
}

bool
kura_client_cas_has(const struct kura_client_cas *c, const char *fingerprint)
{
	for (size_t i = 0; c != NULL && fingerprint != NULL && i < c->n; i++) {
		if (strcmp(c->ca[i].fingerprint, fingerprint) == 0)
			return true;
	}
	return false;
}

/* Whether fp is one of the comma-separated fingerprints of allowed ("" = all). */
static bool
allowed_ca(const char *allowed, const char *fp)
{
	size_t n = strlen(fp);

	if (allowed == NULL || allowed[0] == '\0')
		return true;
	for (const char *p = allowed; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len == n && strncmp(p, fp, n) == 0)
			return true;
		p += len + (end != NULL ? 1 : 0);
	}
	return false;
}

enum kura_err
kura_client_cas_verify(const struct kura_client_cas *c, const char *allowed,
		       const struct kura_der *chain, unsigned n, uint8_t leaf_sha256[32])
{
	gnutls_x509_crt_t crts[CHAIN_MAX];
	unsigned got = 0;
	enum kura_err e = KURA_E_CLIENT_CERT_REQUIRED;
	gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
					 (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0};

	memset(leaf_sha256, 0, 32);
	if (c == NULL || chain == NULL || n == 0)
		return KURA_E_CLIENT_CERT_REQUIRED;
	if (n > CHAIN_MAX)
		n = CHAIN_MAX;
	for (; got < n; got++) {
		gnutls_datum_t d = {(unsigned char *)chain[got].data, (unsigned)chain[got].len};

		if (gnutls_x509_crt_init(&crts[got]) < 0)
			goto out;
		if (gnutls_x509_crt_import(crts[got], &d, GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(crts[got]);
			goto out;
		}
	}
	for (size_t i = 0; i < c->n; i++) {
		unsigned status = 0;

		if (!allowed_ca(allowed, c->ca[i].fingerprint))
			continue;
		if (gnutls_x509_trust_list_verify_crt2(c->ca[i].trust, crts, got, &purpose, 1, 0,
						       &status, NULL) >= 0 &&
		    status == 0) {
			kura_sha256(chain[0].data, chain[0].len, leaf_sha256);
			e = KURA_OK;
			break;
		}
	}
out:
	for (unsigned i = 0; i < got; i++)
		gnutls_x509_crt_deinit(crts[i]);
	return e;
}
