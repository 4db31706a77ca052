/*
 * kura: the operator's command-line tool. It works on the data directory
 * directly (it is run on the host, next to kurad) and never shows sensitive
 * values.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kura/clock.h"
#include "kura/log.h"

extern char **environ;

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: kura [--data DIR] [--config FILE] COMMAND ...\n\n"
		"commands:\n"
		"  init                                 create the data directory, master key, TLS certificate\n"
		"  tenant create ID [--name NAME]       create a tenant with its own database and data key\n"
		"  tenant list                          list tenants (id, status, name)\n"
		"  tenant suspend ID | resume ID        stop or allow sign-in and API use of a tenant\n"
		"  tenant delete ID --yes               destroy a tenant's keys and files, then replace\n"
		"                                       the master key (stop kurad first)\n"
		"  user create --tenant T --email E --role ROLE [--name N]\n"
		"                                       create a user; prints a one-time password\n"
		"  user mfa-reset --tenant T --email E  remove a user's two-step sign-in (lost device)\n"
		"  audit verify --tenant T              check T's audit chain and seals; exit 0 intact, 1 not\n"
		"  audit seal --tenant T                seal T's current audit chain head\n"
		"  notice create --kind incident|maintenance --title T --body B\n"
		"         --starts RFC3339 --ends RFC3339 [--tenant T]\n"
		"                                       a notice for T's users (without --tenant: all)\n"
		"  notice list                          list every notice (id, kind, tenant, times, title)\n"
		"  keys rotate --tenant T               a new data-key version for T, current at once;\n"
		"                                       kurad re-encrypts older values in the background\n"
		"  keys rotate-index --tenant T         blind indexes to a key from a newer data key\n"
		"  keys retire --tenant T               destroy the older data-key versions nothing needs\n"
		"  keys status --tenant T               what each data-key version holds\n"
		"  keys rotate-master                   a new master key; every data key re-wrapped\n"
		"                                       (restart kurad afterwards)\n"
		"  demo [--port N]                      init + tenant \"demo\" + an admin, for trying Kura\n\n"
		"The data directory is --data, else $KURA_DATA, else ./kura-data.\n"
		"Roles: super_admin, admin, member, read_only.\n");
}

int
cli_open(struct cli *c)
{
	char err[1024] = "";

	/* Tests only: the same clock as kurad's (test_clock_offset_file), read once. */
	if (c->cfg.test_clock_offset_file[0] != '\0') {
		FILE *f = fopen(c->cfg.test_clock_offset_file, "r");
		double secs = 0;

		if (f != NULL) {
			if (fscanf(f, "%lf", &secs) == 1)
				kura_clock_set_offset_us((int64_t)(secs * 1e6));
			fclose(f);
		}
	}

	if (c->keys == NULL &&
	    kura_keyring_open(c->cfg.master_key_file, &c->keys, err, sizeof(err)) != KURA_OK) {
		fprintf(stderr, "kura: %s\n(has \"kura init\" been run for %s?)\n", err, c->cfg.data_dir);
		return 1;
	}
	if (c->store == NULL &&
	    kura_store_open(&kura_store_sqlite_ops, c->cfg.data_dir, 2, &c->store, err,
			    sizeof(err)) != KURA_OK) {
		fprintf(stderr, "kura: cannot open the store: %s\n", err);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"data", required_argument, NULL, 'd'},
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli c;
	const char *data = NULL, *conf = NULL;
	char err[1024] = "";
	int opt, rc = 2;

	memset(&c, 0, sizeof(c));
	c.datadir_lock = -1;
	/* "+": stop at the command, whose own options follow it. */
	while ((opt = getopt_long(argc, argv, "+d:c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': data = optarg; break;
		case 'c': conf = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (kura_config_load_standard(&c.cfg, data, conf, environ, err, sizeof(err)) != KURA_OK ||
	    kura_config_finish(&c.cfg, err, sizeof(err)) != KURA_OK) {
		fprintf(stderr, "kura: configuration error: %s\n", err);
		return 2;
	}
	kura_log_set_level(KURA_LOG_WARN);
	if (kura_crypto_init() != KURA_OK) {
		fprintf(stderr, "kura: crypto initialisation failed\n");
		return 1;
	}
	argc -= optind;
	argv += optind;
	if (strcmp(argv[0], "init") == 0)
		rc = cli_init(&c, argc, argv);
	else if (strcmp(argv[0], "tenant") == 0)
		rc = cli_tenant(&c, argc, argv);
	else if (strcmp(argv[0], "user") == 0)
		rc = cli_user(&c, argc, argv);
	else if (strcmp(argv[0], "demo") == 0)
		rc = cli_demo(&c, argc, argv);
	else if (strcmp(argv[0], "audit") == 0)
		rc = cli_audit(&c, argc, argv);
	else if (strcmp(argv[0], "notice") == 0)
		rc = cli_notice(&c, argc, argv);
	else if (strcmp(argv[0], "keys") == 0)
		rc = cli_keys(&c, argc, argv);
	else {
		fprintf(stderr, "kura: unknown command \"%s\"\n", argv[0]);
		usage(stderr);
	}
	kura_store_close(c.store);
	kura_keyring_free(c.keys);
	return rc;
}
