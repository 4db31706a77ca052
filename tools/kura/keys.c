/*
 * kura keys: a tenant's data keys. rotate makes a new data-key version
 * current (new writes use it at once; kurad's housekeeping re-encrypts the
 * older values in short transactions while it serves); status shows, per
 * sensitive property, how many values each key version holds.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "kura/auth.h"
#include "kura/clock.h"
#include "kura/core.h"

static int
rotate(struct cli *c, const char *tenant)
{
	struct kura_tenant t;
	uint8_t wrapped[KURA_WRAPPED_KEY_BYTES];
	char target[32];
	enum kura_err e;

	e = kura_store_tenant_get(c->store, tenant, &t);
	if (e != KURA_OK) {
		fprintf(stderr, "kura: no tenant \"%s\"\n", tenant);
		return 1;
	}
	e = kura_dek_new_wrapped(c->keys, tenant, t.key_version + 1, wrapped);
	if (e == KURA_OK)
		e = kura_store_tenant_key_rotate(c->store, tenant, t.key_version + 1, wrapped,
						 sizeof(wrapped), kura_now_us());
	sodium_memzero(wrapped, sizeof(wrapped));
	if (e == KURA_E_CONFLICT) {
		fprintf(stderr, "kura: another rotation of \"%s\" happened meanwhile; run it again\n",
			tenant);
		return 1;
	}
	if (e != KURA_OK) {
		fprintf(stderr, "kura: cannot rotate the keys of \"%s\": %s\n", tenant,
			kura_err_name(e));
		return 1;
	}
	printf("tenant %s: data key version %u is current (was %u); kurad re-encrypts older "
	       "values in the background\n",
	       tenant, t.key_version + 1, t.key_version);
	snprintf(target, sizeof(target), "%u", t.key_version + 1);
	return cli_audit_operator(c, tenant, NULL, "keys.rotate", "data_key", target);
}

struct status_ctx {
	const char *object;
	const char *prop;
	uint32_t current;
	int64_t stale;
};

static void
print_version(void *ctx, uint32_t version, int64_t n)
{
	struct status_ctx *s = ctx;

	printf("%s.%s\tversion %u%s\t%lld\n", s->object, s->prop, version,
	       version == s->current ? " (current)" : "", (long long)n);
	if (version != s->current)
		s->stale += n;
}

static int
status(struct cli *c, const char *tenant)
{
	struct kura_tenant t;
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	const struct kura_crm_ops *ops;
	void *conn;
	int64_t stale = 0;
	enum kura_err e;

	e = kura_store_tenant_acquire_get(c->store, tenant, &t, &db);
	if (e != KURA_OK) {
		fprintf(stderr, "kura: no tenant \"%s\"\n", tenant);
		return 1;
	}
	e = kura_catalog_get(NULL, db, &cat);
	ops = kura_store_crm(db, &conn);
	printf("tenant %s: current data key version %u\n", tenant, t.key_version);
	for (size_t i = 0; e == KURA_OK && cat != NULL && i < cat->nprops; i++) {
		const struct kura_prop *p = &cat->props[i];
		struct status_ctx s = {.prop = p->row.name, .current = t.key_version};

		if (!p->row.sensitive)
			continue;
		for (size_t o = 0; o < cat->nobjects; o++) {
			if (cat->objects[o].row.id == p->row.object_id)
				s.object = cat->objects[o].row.name;
		}
		e = ops->prop_key_versions(conn, p->row.object_id, p->row.id, print_version, &s);
		stale += s.stale;
	}
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
	if (e != KURA_OK) {
		fprintf(stderr, "kura: cannot read the key status: %s\n", kura_err_name(e));
		return 1;
	}
	printf("values under older versions: %lld\n", (long long)stale);
	return 0;
}

int
cli_keys(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"tenant", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	const char *tenant = NULL;
	int opt;

	if (argc < 2 || (strcmp(argv[1], "rotate") != 0 && strcmp(argv[1], "status") != 0))
		goto usage;
	optind = 0;
	while ((opt = getopt_long(argc - 1, argv + 1, "t:", opts, NULL)) != -1) {
		if (opt != 't')
			goto usage;
		tenant = optarg;
	}
	if (tenant == NULL || optind != argc - 1 || !kura_tenant_id_valid(tenant))
		goto usage;
	if (cli_open(c) != 0)
		return 1;
	return strcmp(argv[1], "rotate") == 0 ? rotate(c, tenant) : status(c, tenant);
usage:
	fprintf(stderr, "usage: kura keys rotate --tenant T | kura keys status --tenant T\n");
	return 2;
}
