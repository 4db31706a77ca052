/* kura tenant: create, list, suspend and resume tenants. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kura/lock.h"
#include "kura/auth.h"
#include "kura/clock.h"

int
cli_do_tenant_create(struct cli *c, const char *id, const char *name)
{
	struct kura_tenant t;
	uint8_t wrapped[KURA_WRAPPED_KEY_BYTES];
	enum kura_err e;

	if (!kura_tenant_id_valid(id)) {
		fprintf(stderr, "kura: tenant id \"%s\" is not valid: use 2 to %d characters a-z, 0-9 "
				"and '-', starting with a letter\n", id, KURA_TENANT_ID_MAX);
		return 2;
	}
	if (name == NULL)
		name = id;
	if (strlen(name) == 0 || strlen(name) > KURA_NAME_MAX) {
		fprintf(stderr, "kura: --name must be 1 to %d bytes\n", KURA_NAME_MAX);
		return 2;
	}
	if (cli_open(c) != 0)
		return 1;
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.name, sizeof(t.name), "%s", name);
	t.status = KURA_TENANT_ACTIVE;
	t.key_version = 1;
	t.created_at = t.updated_at = kura_now_us();
	e = kura_dek_new_wrapped(c->keys, t.id, t.key_version, wrapped);
	if (e == KURA_OK)
		e = kura_store_tenant_create(c->store, &t, wrapped, sizeof(wrapped));
	if (e == KURA_E_EXISTS) {
		fprintf(stderr, "kura: tenant \"%s\" already exists\n", id);
		return 1;
	}
	if (e != KURA_OK) {
		fprintf(stderr, "kura: cannot create tenant \"%s\": %s\n", id, kura_err_name(e));
		return 1;
	}
	printf("tenant %s created\n", id);
	return cli_audit_operator(c, id, NULL, "tenant.create", "tenant", id);
}

static void
print_tenant(void *ctx, const struct kura_tenant *t)
{
	(void)ctx;
	printf("%s\t%s\t%s\n", t->id, t->status == KURA_TENANT_ACTIVE ? "active" : "suspended",
	       t->name);
}

static int
set_status(struct cli *c, const char *id, enum kura_tenant_status st)
{
	enum kura_err e;

	if (!kura_tenant_id_valid(id)) {
		fprintf(stderr, "kura: tenant id \"%s\" is not valid\n", id);
		return 2;
	}
	if (cli_open(c) != 0)
		return 1;
	e = kura_store_tenant_set_status(c->store, id, st, kura_now_us());
	if (e == KURA_E_NOT_FOUND) {
		fprintf(stderr, "kura: no tenant \"%s\"\n", id);
		return 1;
	}
	if (e != KURA_OK) {
		fprintf(stderr, "kura: cannot change tenant \"%s\": %s\n", id, kura_err_name(e));
		return 1;
	}
	printf("tenant %s %s\n", id, st == KURA_TENANT_ACTIVE ? "resumed" : "suspended");
	return cli_audit_operator(c, id, NULL,
				  st == KURA_TENANT_ACTIVE ? "tenant.resume" : "tenant.suspend",
				  "tenant", id);
}

/*
 * Deletes a tenant for good: its data keys first (crypto-shredding), then
 * its files (overwritten), then a new master key, so that copies of the
 * keystore taken before (in system backups) hold its keys wrapped under a
 * master key that no longer exists. kurad must not run meanwhile.
 */
static int
delete_tenant(struct cli *c, const char *id)
{
	enum kura_err e;
	int rc;

	if (!kura_tenant_id_valid(id)) {
		fprintf(stderr, "kura: tenant id \"%s\" is not valid\n", id);
		return 2;
	}
	if (cli_open(c) != 0)
		return 1;
	/* Held from before anything is destroyed until the new master key is in place. */
	{
		char err[256];

		if (kura_datadir_lock(c->cfg.data_dir, &c->datadir_lock, err, sizeof(err)) !=
		    KURA_OK) {
			fprintf(stderr, "kura: %s; stop it first\n", err);
			return 1;
		}
	}
	e = kura_store_tenant_delete(c->store, id);
	if (e != KURA_OK) {
		if (e == KURA_E_NOT_FOUND)
			fprintf(stderr, "kura: no tenant \"%s\"\n", id);
		else
			fprintf(stderr, "kura: cannot delete tenant \"%s\": %s\n", id,
				kura_err_name(e));
		kura_datadir_unlock(c->datadir_lock);
		c->datadir_lock = -1;
		return 1;
	}
	printf("tenant %s deleted: its data keys are destroyed and its files overwritten\n", id);
	rc = cli_rotate_master(c, "after a tenant deletion");
	kura_datadir_unlock(c->datadir_lock);
	c->datadir_lock = -1;
	return rc;
}

int
cli_tenant(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	const char *name = NULL;
	int opt;

	if (argc >= 2 && strcmp(argv[1], "list") == 0 && argc == 2) {
		if (cli_open(c) != 0)
			return 1;
		return kura_store_tenant_list(c->store, print_tenant, NULL) == KURA_OK ? 0 : 1;
	}
	if (argc == 3 && strcmp(argv[1], "suspend") == 0)
		return set_status(c, argv[2], KURA_TENANT_SUSPENDED);
	if (argc == 3 && strcmp(argv[1], "resume") == 0)
		return set_status(c, argv[2], KURA_TENANT_ACTIVE);
	if (argc == 4 && strcmp(argv[1], "delete") == 0 && strcmp(argv[3], "--yes") == 0)
		return delete_tenant(c, argv[2]);
	if (argc >= 2 && strcmp(argv[1], "delete") == 0) {
		fprintf(stderr, "usage: kura tenant delete ID --yes   (stop kurad first; this "
				"cannot be undone)\n");
		return 2;
	}
	if (argc >= 3 && strcmp(argv[1], "create") == 0) {
		/* optind = 0 makes GNU getopt start afresh on the sub-command's words. */
		optind = 0;
		while ((opt = getopt_long(argc - 1, argv + 1, "n:", opts, NULL)) != -1) {
			if (opt != 'n')
				goto usage;
			name = optarg;
		}
		if (optind != argc - 2)
			goto usage;
		return cli_do_tenant_create(c, argv[1 + optind], name);
	}
usage:
	fprintf(stderr, "usage: kura tenant create ID [--name NAME] | list | suspend ID | resume ID\n");
	return 2;
}
