/*
 * First-start TLS: a self-signed ECDSA P-256 server certificate so that
 * kurad never has to listen in clear text, even before an operator installs
 * a real certificate. The certificate is a plain end-entity server
 * certificate (CA=false, digitalSignature, serverAuth) so that browsers and
 * curl accept it once it is trusted explicitly; it is never a CA that could
 * sign anything else.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "kura/crypto.h"
#include "crypto_int.h"

#define CERT_VALID_SECONDS (365L * 24 * 3600)
/* Back-dated so that a client whose clock is a little behind accepts it. */
#define CERT_BACKDATE_SECONDS 3600L
#define SERIAL_BYTES 16
#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63

/* Loopback addresses every self-signed certificate covers, as SAN bytes. */
static const uint8_t lo4[4] = { 127, 0, 0, 1 };
static const uint8_t lo6[16] = { [15] = 1 };

/* Letters, digits and hyphens in dot-separated labels (RFC 1123). Anything
 * else in a certificate SAN would be either rejected or IDNA-mangled. */
static int dns_name_valid(const char *s)
{
	size_t len = strlen(s);
	size_t label = 0;
	size_t i;

	if (len == 0 || len > DNS_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > DNS_LABEL_MAX)
			return 0;
	}
	return label > 0 && s[len - 1] != '-';
}

static int san_add(gnutls_x509_crt_t crt, gnutls_x509_subject_alt_name_t type, const void *data,
		   unsigned int size)
{
	return gnutls_x509_crt_set_subject_alt_name(crt, type, data, size, GNUTLS_FSAN_APPEND);
}

/* Adds hostname as a DNS or IP SAN unless the fixed set already holds it. */
static enum kura_err san_add_hostname(gnutls_x509_crt_t crt, const char *hostname)
{
	uint8_t ip4[4];
	uint8_t ip6[16];

	if (inet_pton(AF_INET, hostname, ip4) == 1) {
		if (memcmp(ip4, lo4, sizeof ip4) == 0)
			return KURA_OK;
		return san_add(crt, GNUTLS_SAN_IPADDRESS, ip4, sizeof ip4) < 0 ? KURA_E_CRYPTO
									      : KURA_OK;
	}
	if (inet_pton(AF_INET6, hostname, ip6) == 1) {
		if (memcmp(ip6, lo6, sizeof ip6) == 0)
			return KURA_OK;
		return san_add(crt, GNUTLS_SAN_IPADDRESS, ip6, sizeof ip6) < 0 ? KURA_E_CRYPTO
									      : KURA_OK;
	}
	if (strcasecmp(hostname, "localhost") == 0)
		return KURA_OK;
	return san_add(crt, GNUTLS_SAN_DNSNAME, hostname, (unsigned int)strlen(hostname)) < 0
		       ? KURA_E_CRYPTO
		       : KURA_OK;
}

static int path_exists(const char *path)
{
	struct stat st;

	/* lstat: a dangling symlink still "exists" for O_EXCL. */
	return lstat(path, &st) == 0 || errno != ENOENT;
}

enum kura_err kura_tls_selfsigned_create(const char *cert_path, const char *key_path,
					 const char *hostname)
{
	enum kura_err rc = KURA_E_CRYPTO;
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t cert_pem = { NULL, 0 };
	gnutls_datum_t key_pem = { NULL, 0 };
	uint8_t serial[SERIAL_BYTES];
	uint8_t keyid[64];
	size_t keyid_len = sizeof keyid;
	const char *cn = "localhost";
	int have_ip = 0;
	int key_written = 0;
	time_t now = time(NULL);

	if (cert_path == NULL || key_path == NULL || strcmp(cert_path, key_path) == 0) {
		rc = KURA_E_INTERNAL;
		goto out;
	}
	if (hostname != NULL && hostname[0] == '\0')
		hostname = NULL;
	if (hostname != NULL) {
		uint8_t tmp[16];

		have_ip = inet_pton(AF_INET, hostname, tmp) == 1 ||
			  inet_pton(AF_INET6, hostname, tmp) == 1;
		if (!have_ip && !dns_name_valid(hostname)) {
			rc = KURA_E_VALIDATION;
			goto out;
		}
		if (!have_ip)
			cn = hostname;
	}
	/* Checked up front only to fail fast without generating a key; the
	 * O_EXCL opens below are what actually guarantee no overwrite. */
	if (path_exists(key_path) || path_exists(cert_path)) {
		rc = KURA_E_EXISTS;
		goto out;
	}

	if (gnutls_x509_privkey_init(&key) < 0) {
		key = NULL;
		goto out;
	}
	if (gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
		goto out;
	if (gnutls_x509_crt_init(&crt) < 0) {
		crt = NULL;
		goto out;
	}
	if (gnutls_x509_crt_set_version(crt, 3) < 0 || gnutls_x509_crt_set_key(crt, key) < 0)
		goto out;

	/* Positive, minimally encoded (non-zero top byte), 126 random bits. */
	randombytes_buf(serial, sizeof serial);
	serial[0] = (uint8_t)((serial[0] & 0x3f) | 0x40);
	if (gnutls_x509_crt_set_serial(crt, serial, sizeof serial) < 0)
		goto out;
	if (gnutls_x509_crt_set_activation_time(crt, now - CERT_BACKDATE_SECONDS) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + CERT_VALID_SECONDS) < 0)
		goto out;
	if (gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0,
					  "Kura self-signed", sizeof "Kura self-signed" - 1) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
					  (unsigned int)strlen(cn)) < 0)
		goto out;

	if (san_add(crt, GNUTLS_SAN_DNSNAME, "localhost", sizeof "localhost" - 1) < 0 ||
	    san_add(crt, GNUTLS_SAN_IPADDRESS, lo4, sizeof lo4) < 0 ||
	    san_add(crt, GNUTLS_SAN_IPADDRESS, lo6, sizeof lo6) < 0)
		goto out;
	if (hostname != NULL && san_add_hostname(crt, hostname) != KURA_OK)
		goto out;

	if (gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0 ||
	    gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
	    gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0)
		goto out;
	if (gnutls_x509_privkey_get_key_id(key, 0, keyid, &keyid_len) < 0 ||
	    gnutls_x509_crt_set_subject_key_id(crt, keyid, keyid_len) < 0)
		goto out;

	/* Self-signed: the certificate is its own issuer. */
	if (gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0)
		goto out;
	if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cert_pem) < 0)
		goto out;
	if (gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
					      &key_pem) < 0)
		goto out;

	/* Key first: a certificate without its key is useless, and if the
	 * certificate cannot be written the key is removed again below. */
	rc = kura_crypto_write_new_file(key_path, key_pem.data, key_pem.size, 0600);
	if (rc != KURA_OK)
		goto out;
	key_written = 1;
	rc = kura_crypto_write_new_file(cert_path, cert_pem.data, cert_pem.size, 0644);
	if (rc != KURA_OK)
		goto out;
	rc = KURA_OK;
out:
	if (rc != KURA_OK && key_written)
		unlink(key_path);
	if (key_pem.data != NULL) {
		sodium_memzero(key_pem.data, key_pem.size);
		gnutls_free(key_pem.data);
	}
	if (cert_pem.data != NULL)
		gnutls_free(cert_pem.data);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	if (key != NULL)
		gnutls_x509_privkey_deinit(key);
	return rc;
}
