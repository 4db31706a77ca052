/*
 * kura demo: everything needed to try Kura on one machine: an initialised
 * data directory, a tenant "demo" and its super admin, whose one-time
 * password is printed (and reset on every run, so the printed one works).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define DEMO_TENANT "demo"
#define DEMO_EMAIL "admin@demo.example"

int
cli_demo(struct cli *c, int argc, char **argv)
{
	struct kura_tenant t;
	int rc;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: kura demo\n");
		return 2;
	}
	rc = cli_do_init(c, true);
	if (rc != 0)
		return rc;
	if (kura_store_tenant_get(c->store, DEMO_TENANT, &t) != KURA_OK) {
		rc = cli_do_tenant_create(c, DEMO_TENANT, "Demo Company");
		if (rc != 0)
			return rc;
	}
	printf("\n");
	rc = cli_do_user_create(c, DEMO_TENANT, DEMO_EMAIL, "Demo Admin", "super_admin", true);
	if (rc != 0)
		return rc;
	printf("\nSign in at https://localhost:%u/  (the certificate is self-signed: accept it once)\n"
	       "  tenant:   %s\n  e-mail:   %s\n  password: the one-time password above\n",
	       c->cfg.port, DEMO_TENANT, DEMO_EMAIL);
	return 0;
}
