/*
 * Unit tests for the first-start self-signed certificate: files, modes,
 * and what a TLS client will see when it loads the certificate back.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "kura/crypto.h"

struct fixture {
	char dir[96];
	char cert[256];
	char key[256];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	if (kura_test_mkdtemp(f->dir, sizeof(f->dir), "kura-test-tls") != 0)
		return -1;
	snprintf(f->cert, sizeof f->cert, "%s/server.crt", f->dir);
	snprintf(f->key, sizeof f->key, "%s/server.key", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kura_test_rmtree(f->dir);
	free(f);
	return 0;
}

static void load_cert(const char *path, gnutls_x509_crt_t *crt)
{
	gnutls_datum_t d = { NULL, 0 };

	assert_int_equal(gnutls_load_file(path, &d), 0);
	assert_int_equal(gnutls_x509_crt_init(crt), 0);
	assert_int_equal(gnutls_x509_crt_import(*crt, &d, GNUTLS_X509_FMT_PEM), 0);
	gnutls_free(d.data);
}

struct sans {
	int localhost, host, lo4, lo6, extra_ip;
	int count;
};

static void collect_sans(gnutls_x509_crt_t crt, const char *host, const uint8_t *extra_ip,
			 size_t extra_len, struct sans *s)
{
	static const uint8_t lo4[4] = { 127, 0, 0, 1 };
	static const uint8_t lo6[16] = { [15] = 1 };
	unsigned int seq;

	memset(s, 0, sizeof *s);
	for (seq = 0;; seq++) {
		char buf[256];
		size_t size = sizeof buf;
		unsigned int critical = 0;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &size, &critical);

		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		assert_true(type >= 0);
		s->count++;
		if (type == GNUTLS_SAN_DNSNAME && size == 9 && memcmp(buf, "localhost", 9) == 0)
			s->localhost++;
		if (type == GNUTLS_SAN_DNSNAME && host != NULL && size == strlen(host) &&
		    memcmp(buf, host, size) == 0)
			s->host++;
		if (type == GNUTLS_SAN_IPADDRESS && size == 4 && memcmp(buf, lo4, 4) == 0)
			s->lo4++;
		if (type == GNUTLS_SAN_IPADDRESS && size == 16 && memcmp(buf, lo6, 16) == 0)
			s->lo6++;
		if (type == GNUTLS_SAN_IPADDRESS && extra_ip != NULL && size == extra_len &&
		    memcmp(buf, extra_ip, size) == 0)
			s->extra_ip++;
	}
}

static void test_selfsigned(void **state)
{
	struct fixture *f = *state;
	gnutls_x509_crt_t crt = NULL;
	gnutls_certificate_credentials_t cred = NULL;
	struct stat st;
	struct sans s;
	unsigned int bits = 0, usage = 0, critical = 0, ca = 99, status = 99;
	gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
	time_t now = time(NULL);
	time_t nb, na;
	char oid[128];
	size_t oidlen = sizeof oid;

	assert_int_equal(kura_tls_selfsigned_create(f->cert, f->key, "kura.example.test"), KURA_OK);

	assert_int_equal(stat(f->key, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(f->cert, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);

	load_cert(f->cert, &crt);

	collect_sans(crt, "kura.example.test", NULL, 0, &s);
	assert_int_equal(s.localhost, 1);
	assert_int_equal(s.host, 1);
	assert_int_equal(s.lo4, 1);
	assert_int_equal(s.lo6, 1);
	assert_int_equal(s.count, 4);
	assert_true(gnutls_x509_crt_check_hostname(crt, "localhost"));
	assert_true(gnutls_x509_crt_check_hostname(crt, "kura.example.test"));
	assert_true(gnutls_x509_crt_check_hostname(crt, "127.0.0.1"));
	assert_true(gnutls_x509_crt_check_hostname(crt, "::1"));
	assert_false(gnutls_x509_crt_check_hostname(crt, "evil.example"));

	/* ECDSA P-256 */
	assert_int_equal(gnutls_x509_crt_get_pk_algorithm(crt, &bits), GNUTLS_PK_ECDSA);
	assert_int_equal(gnutls_x509_crt_get_pk_ecc_raw(crt, &curve, NULL, NULL), 0);
	assert_int_equal(curve, GNUTLS_ECC_CURVE_SECP256R1);

	/* Valid now, for about a year, back-dated about an hour. */
	nb = gnutls_x509_crt_get_activation_time(crt);
	na = gnutls_x509_crt_get_expiration_time(crt);
	assert_true(nb <= now - 3500 && nb >= now - 3700);
	assert_true(na >= now + 364L * 86400 && na <= now + 366L * 86400);

	/* End-entity server certificate. */
	assert_int_equal(gnutls_x509_crt_get_basic_constraints(crt, &critical, &ca, NULL), 0);
	assert_int_equal(ca, 0);
	assert_true(gnutls_x509_crt_get_key_usage(crt, &usage, &critical) >= 0);
	assert_true(usage & GNUTLS_KEY_DIGITAL_SIGNATURE);
	assert_false(usage & GNUTLS_KEY_KEY_CERT_SIGN);
	assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(crt, 0, oid, &oidlen, &critical), 0);
	assert_string_equal(oid, GNUTLS_KP_TLS_WWW_SERVER);
	assert_int_equal(gnutls_x509_crt_get_version(crt), 3);

	/* Self-signed: its own signature verifies. */
	assert_int_equal(gnutls_x509_crt_verify(crt, &crt, 1, 0, &status), 0);
	assert_int_equal(status, 0);
	assert_true(gnutls_x509_crt_check_issuer(crt, crt));

	/* The key file holds the certificate's key (GnuTLS checks the pair). */
	assert_int_equal(gnutls_certificate_allocate_credentials(&cred), 0);
	assert_int_equal(gnutls_certificate_set_x509_key_file(cred, f->cert, f->key,
							      GNUTLS_X509_FMT_PEM),
			 0);
	gnutls_certificate_free_credentials(cred);
	gnutls_x509_crt_deinit(crt);
}

static void read_all(const char *path, char *buf, size_t n, size_t *len)
{
	int fd = open(path, O_RDONLY);
	ssize_t r;

	assert_true(fd >= 0);
	r = read(fd, buf, n);
	assert_true(r > 0);
	*len = (size_t)r;
	close(fd);
}

static void test_refuses_overwrite(void **state)
{
	struct fixture *f = *state;
	char c1[8192], k1[8192], c2[8192], k2[8192];
	size_t c1l, k1l, c2l, k2l;
	char other[160];
	struct stat st;

	assert_int_equal(kura_tls_selfsigned_create(f->cert, f->key, NULL), KURA_OK);
	read_all(f->cert, c1, sizeof c1, &c1l);
	read_all(f->key, k1, sizeof k1, &k1l);

	assert_int_equal(kura_tls_selfsigned_create(f->cert, f->key, NULL), KURA_E_EXISTS);
	read_all(f->cert, c2, sizeof c2, &c2l);
	read_all(f->key, k2, sizeof k2, &k2l);
	assert_int_equal(c1l, c2l);
	assert_int_equal(k1l, k2l);
	assert_memory_equal(c1, c2, c1l);
	assert_memory_equal(k1, k2, k1l);

	/* Only the certificate exists: refused, and no key file appears. */
	snprintf(other, sizeof other, "%s/other.key", f->dir);
	assert_int_equal(kura_tls_selfsigned_create(f->cert, other, NULL), KURA_E_EXISTS);
	assert_int_not_equal(stat(other, &st), 0);

	/* Only the key exists: refused, and no certificate file appears. */
	snprintf(other, sizeof other, "%s/other.crt", f->dir);
	assert_int_equal(kura_tls_selfsigned_create(other, f->key, NULL), KURA_E_EXISTS);
	assert_int_not_equal(stat(other, &st), 0);

	/* A dangling symlink at the key path is refused too. */
	snprintf(other, sizeof other, "%s/dangling.key", f->dir);
	assert_int_equal(symlink("/nonexistent/kura-target", other), 0);
	{
		char cert2[160];

		snprintf(cert2, sizeof cert2, "%s/c2.crt", f->dir);
		assert_int_equal(kura_tls_selfsigned_create(cert2, other, NULL), KURA_E_EXISTS);
		assert_int_not_equal(stat(cert2, &st), 0);
	}
}

static void test_hostname_variants(void **state)
{
	struct fixture *f = *state;
	gnutls_x509_crt_t crt = NULL;
	struct sans s;
	uint8_t ip[16];
	char cert[160], key[160];
	struct stat st;

	/* No hostname: the fixed four SANs only. */
	assert_int_equal(kura_tls_selfsigned_create(f->cert, f->key, NULL), KURA_OK);
	load_cert(f->cert, &crt);
	collect_sans(crt, NULL, NULL, 0, &s);
	assert_int_equal(s.count, 3);
	assert_int_equal(s.localhost + s.lo4 + s.lo6, 3);
	gnutls_x509_crt_deinit(crt);

	/* An IP literal becomes an IP SAN. */
	snprintf(cert, sizeof cert, "%s/ip.crt", f->dir);
	snprintf(key, sizeof key, "%s/ip.key", f->dir);
	assert_int_equal(kura_tls_selfsigned_create(cert, key, "192.0.2.7"), KURA_OK);
	load_cert(cert, &crt);
	assert_int_equal(inet_pton(AF_INET, "192.0.2.7", ip), 1);
	collect_sans(crt, NULL, ip, 4, &s);
	assert_int_equal(s.extra_ip, 1);
	assert_int_equal(s.count, 4);
	assert_true(gnutls_x509_crt_check_hostname(crt, "192.0.2.7"));
	gnutls_x509_crt_deinit(crt);

	/* "localhost" is not added twice. */
	snprintf(cert, sizeof cert, "%s/lh.crt", f->dir);
	snprintf(key, sizeof key, "%s/lh.key", f->dir);
	assert_int_equal(kura_tls_selfsigned_create(cert, key, "localhost"), KURA_OK);
	load_cert(cert, &crt);
	collect_sans(crt, NULL, NULL, 0, &s);
	assert_int_equal(s.count, 3);
	gnutls_x509_crt_deinit(crt);

	/* Junk is refused before anything is written. */
	snprintf(cert, sizeof cert, "%s/bad.crt", f->dir);
	snprintf(key, sizeof key, "%s/bad.key", f->dir);
	assert_int_equal(kura_tls_selfsigned_create(cert, key, "bad host"), KURA_E_VALIDATION);
	assert_int_equal(kura_tls_selfsigned_create(cert, key, "-bad.example"), KURA_E_VALIDATION);
	assert_int_equal(kura_tls_selfsigned_create(cert, key, "bad..example"), KURA_E_VALIDATION);
	assert_int_equal(kura_tls_selfsigned_create(cert, key, "a\nb"), KURA_E_VALIDATION);
	assert_int_not_equal(stat(cert, &st), 0);
	assert_int_not_equal(stat(key, &st), 0);

	/* A missing directory is an I/O error and leaves nothing behind. */
	snprintf(cert, sizeof cert, "%s/c.crt", f->dir);
	snprintf(key, sizeof key, "%s/nodir/k.key", f->dir);
	assert_int_equal(kura_tls_selfsigned_create(cert, key, NULL), KURA_E_IO);
	assert_int_not_equal(stat(cert, &st), 0);
	snprintf(cert, sizeof cert, "%s/nodir/c.crt", f->dir);
	snprintf(key, sizeof key, "%s/k.key", f->dir);
	assert_int_equal(kura_tls_selfsigned_create(cert, key, NULL), KURA_E_IO);
	assert_int_not_equal(stat(key, &st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_selfsigned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostname_variants, setup, teardown),
	};

	if (kura_crypto_init() != KURA_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
