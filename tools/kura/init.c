/*
 * kura init: lays out a data directory. Each step is skipped when its
 * result already exists, so running it twice is safe and never replaces a
 * key or a certificate.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static int
ensure_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	fprintf(stderr, "kura: cannot create directory %s: %s\n", path, strerror(errno));
	return 1;
}

int
cli_do_init(struct cli *c, bool quiet_if_done)
{
	char tls_dir[KURA_PATH_MAX + 8];
	bool did = false;
	enum kura_err e;

	if (ensure_dir(c->cfg.data_dir) != 0)
		return 1;
	e = kura_master_key_create(c->cfg.master_key_file);
	if (e == KURA_OK) {
		printf("created master key %s (mode 0600; back it up apart from the data)\n",
		       c->cfg.master_key_file);
		did = true;
	} else if (e != KURA_E_EXISTS) {
		fprintf(stderr, "kura: cannot create the master key %s\n", c->cfg.master_key_file);
		return 1;
	}
	snprintf(tls_dir, sizeof(tls_dir), "%s/tls", c->cfg.data_dir);
	if (access(c->cfg.tls_cert_file, F_OK) != 0 && access(c->cfg.tls_key_file, F_OK) != 0) {
		if (ensure_dir(tls_dir) != 0)
			return 1;
		if (kura_tls_selfsigned_create(c->cfg.tls_cert_file, c->cfg.tls_key_file, NULL) !=
		    KURA_OK) {
			fprintf(stderr, "kura: cannot create the TLS certificate in %s\n", tls_dir);
			return 1;
		}
		printf("created self-signed TLS certificate %s (for localhost; replace it with a real "
		       "one for production)\n", c->cfg.tls_cert_file);
		did = true;
	}
	if (cli_open(c) != 0)
		return 1;
	if (did || !quiet_if_done)
		printf("data directory %s is ready\n", c->cfg.data_dir);
	return 0;
}

int
cli_init(struct cli *c, int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "usage: kura init\n");
		return 2;
	}
	(void)argv;
	return cli_do_init(c, false);
}
