/*
 * kura audit: verify a tenant's audit chain against its seals, or seal its
 * current head. verify's exit status is the answer (0 intact, 1 broken or
 * not checkable), so a cron job or a monitoring check can run it as is.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kura/audit.h"
#include "kura/auth.h"

static int
verify(struct cli *c, const char *tenant)
{
	struct kura_audit_report r;
	enum kura_err e;

	e = kura_audit_verify(c->store, c->keys, tenant, &r);
	if (e == KURA_OK) {
		printf("audit chain of %s: %" PRId64 " entries, %" PRId64 " seals, intact\n",
		       tenant, r.entries, r.seals);
		return 0;
	}
	if (e == KURA_E_CONFLICT) {
		printf("audit chain of %s: BROKEN at seq %" PRId64 ": %s\n", tenant,
		       r.first_bad_seq, r.problem);
		return 1;
	}
	if (e == KURA_E_NOT_FOUND)
		fprintf(stderr, "kura: no tenant \"%s\"\n", tenant);
	else
		fprintf(stderr, "kura: cannot verify the audit chain of %s: %s\n", tenant,
			kura_err_name(e));
	return 1;
}

static int
seal(struct cli *c, const char *tenant)
{
	struct kura_tenant_db *db = NULL;
	uint8_t hash[32];
	int64_t seq = 0;
	enum kura_err e;

	e = kura_audit_seal(c->store, c->keys, tenant);
	if (e == KURA_OK)
		e = kura_store_tenant_acquire(c->store, tenant, &db);
	if (e == KURA_OK)
		e = kura_store_audit_head(db, &seq, hash);
	kura_store_tenant_release(db);
	if (e == KURA_E_NOT_FOUND) {
		fprintf(stderr, "kura: no tenant \"%s\"\n", tenant);
		return 1;
	}
	if (e != KURA_OK) {
		fprintf(stderr, "kura: cannot seal the audit chain of %s: %s\n", tenant,
			kura_err_name(e));
		return 1;
	}
	if (seq == 0)
		printf("audit chain of %s: empty, nothing to seal\n", tenant);
	else
		printf("audit chain of %s: sealed at seq %" PRId64 "\n", tenant, seq);
	return 0;
}

int
cli_audit(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"tenant", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	const char *tenant = NULL;
	int opt;

	if (argc < 2 || (strcmp(argv[1], "verify") != 0 && strcmp(argv[1], "seal") != 0))
		goto usage;
	/* optind = 0 makes GNU getopt start afresh on the sub-command's words. */
	optind = 0;
	while ((opt = getopt_long(argc - 1, argv + 1, "t:", opts, NULL)) != -1) {
		if (opt != 't')
			goto usage;
		tenant = optarg;
	}
	if (optind != argc - 1 || tenant == NULL)
		goto usage;
	if (!kura_tenant_id_valid(tenant)) {
		fprintf(stderr, "kura: tenant id \"%s\" is not valid\n", tenant);
		return 2;
	}
	if (cli_open(c) != 0)
		return 1;
	if (strcmp(argv[1], "verify") == 0)
		return verify(c, tenant);
	return seal(c, tenant);
usage:
	fprintf(stderr, "usage: kura audit verify --tenant T | seal --tenant T\n");
	return 2;
}

int
cli_audit_operator(struct cli *c, const char *tenant, struct kura_tenant_db *db,
		   const char *action, const char *target_type, const char *target_id)
{
	struct kura_tenant_db *own = NULL;
	struct kura_audit_entry a;
	const char *who = getenv("SUDO_USER") != NULL ? getenv("SUDO_USER") : getenv("USER");
	enum kura_err e;

	memset(&a, 0, sizeof(a));
	a.actor_type = KURA_ACTOR_OPERATOR;
	snprintf(a.actor_email, sizeof(a.actor_email), "%s", who != NULL ? who : "operator");
	snprintf(a.actor_role, sizeof(a.actor_role), "operator");
	snprintf(a.ip, sizeof(a.ip), "local");
	snprintf(a.user_agent, sizeof(a.user_agent), "kura-cli");
	snprintf(a.action, sizeof(a.action), "%s", action);
	snprintf(a.target_type, sizeof(a.target_type), "%s", target_type);
	snprintf(a.target_id, sizeof(a.target_id), "%s", target_id);
	a.outcome = KURA_AUDIT_SUCCESS;
	if (db == NULL) {
		e = kura_store_tenant_acquire(c->store, tenant, &own);
		if (e != KURA_OK)
			goto out;
		db = own;
	}
	e = kura_audit_append(db, &a);
	/* Inside the caller's transaction the seal waits for its commit (cli_audit_seal_after). */
	if (e == KURA_OK && own != NULL) {
		kura_store_tenant_release(own);
		own = NULL;
		e = kura_audit_seal(c->store, c->keys, tenant);
	}
out:
	kura_store_tenant_release(own);
	if (e != KURA_OK) {
		fprintf(stderr, "kura: could not record %s in the audit log of %s: %s\n", action,
			tenant, kura_err_name(e));
		return 1;
	}
	return 0;
}

int
cli_audit_seal_after(struct cli *c, const char *tenant)
{
	enum kura_err e = kura_audit_seal(c->store, c->keys, tenant);

	if (e != KURA_OK) {
		fprintf(stderr, "kura: could not seal the audit log of %s: %s\n", tenant,
			kura_err_name(e));
		return 1;
	}
	return 0;
}
