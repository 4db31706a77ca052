/*
 * kura notice: the operator's notices of incidents and maintenance, shown
 * to the signed-in users of the tenants they concern (GET /api/v1/notices).
 * A notice names one tenant, or, without --tenant, every tenant. A notice
 * for one tenant is also recorded in that tenant's audit log.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kura/auth.h"
#include "kura/clock.h"

static int
create(struct cli *c, const char *kind, const char *title, const char *body, const char *starts,
       const char *ends, const char *tenant)
{
	struct kura_notice n;
	char id[24];
	enum kura_err e;

	memset(&n, 0, sizeof(n));
	if (strcmp(kind, "incident") == 0) {
		n.kind = KURA_NOTICE_INCIDENT;
	} else if (strcmp(kind, "maintenance") == 0) {
		n.kind = KURA_NOTICE_MAINTENANCE;
	} else {
		fprintf(stderr, "kura: --kind must be incident or maintenance\n");
		return 2;
	}
	if (strlen(title) == 0 || strlen(title) > KURA_NOTICE_TITLE_MAX) {
		fprintf(stderr, "kura: --title must be 1 to %d bytes\n", KURA_NOTICE_TITLE_MAX);
		return 2;
	}
	if (strlen(body) == 0 || strlen(body) > KURA_NOTICE_BODY_MAX) {
		fprintf(stderr, "kura: --body must be 1 to %d bytes\n", KURA_NOTICE_BODY_MAX);
		return 2;
	}
	if (kura_time_parse_rfc3339(starts, &n.starts_at) != KURA_OK ||
	    kura_time_parse_rfc3339(ends, &n.ends_at) != KURA_OK) {
		fprintf(stderr, "kura: --starts and --ends must be RFC 3339 times, such as "
				"2026-11-23T09:00:00+09:00\n");
		return 2;
	}
	if (n.ends_at <= n.starts_at) {
		fprintf(stderr, "kura: --ends must be later than --starts\n");
		return 2;
	}
	if (tenant != NULL && !kura_tenant_id_valid(tenant)) {
		fprintf(stderr, "kura: tenant id \"%s\" is not valid\n", tenant);
		return 2;
	}
	snprintf(n.tenant_id, sizeof(n.tenant_id), "%s", tenant != NULL ? tenant : "");
	snprintf(n.title, sizeof(n.title), "%s", title);
	snprintf(n.body, sizeof(n.body), "%s", body);
	if (cli_open(c) != 0)
		return 1;
	e = kura_store_notice_create(c->store, &n);
	if (e == KURA_E_NOT_FOUND) {
		fprintf(stderr, "kura: no tenant \"%s\"\n", tenant != NULL ? tenant : "");
		return 1;
	}
	if (e == KURA_E_VALIDATION) {
		fprintf(stderr, "kura: --title and --body must be UTF-8 text without control "
				"characters (tab and newline are fine)\n");
		return 2;
	}
	if (e != KURA_OK) {
		fprintf(stderr, "kura: cannot create the notice: %s\n", kura_err_name(e));
		return 1;
	}
	printf("notice %lld created for %s\n", (long long)n.id,
	       tenant != NULL ? tenant : "every tenant");
	if (tenant == NULL)
		return 0;
	snprintf(id, sizeof(id), "%lld", (long long)n.id);
	return cli_audit_operator(c, tenant, NULL, "notice.create", "notice", id);
}

static bool
print_notice(void *ctx, const struct kura_notice *n)
{
	char starts[40], ends[40];

	(void)ctx;
	kura_time_rfc3339(n->starts_at, starts, sizeof(starts));
	kura_time_rfc3339(n->ends_at, ends, sizeof(ends));
	/* One line each: the title's tabs and newlines would break the columns. */
	printf("%lld\t%s\t%s\t%s\t%s\t", (long long)n->id,
	       n->kind == KURA_NOTICE_INCIDENT ? "incident" : "maintenance",
	       n->tenant_id[0] != '\0' ? n->tenant_id : "*", starts, ends);
	for (const char *p = n->title; *p != '\0'; p++)
		putchar(*p == '\t' || *p == '\n' ? ' ' : *p);
	putchar('\n');
	return true;
}

int
cli_notice(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"kind", required_argument, NULL, 'k'},
		{"title", required_argument, NULL, 'T'},
		{"body", required_argument, NULL, 'b'},
		{"starts", required_argument, NULL, 's'},
		{"ends", required_argument, NULL, 'e'},
		{"tenant", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	const char *kind = NULL, *title = NULL, *body = NULL, *starts = NULL, *ends = NULL;
	const char *tenant = NULL;
	enum kura_err e;
	int opt;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		if (cli_open(c) != 0)
			return 1;
		e = kura_store_notice_list(c->store, NULL, 0, 0, print_notice, NULL);
		if (e != KURA_OK) {
			fprintf(stderr, "kura: cannot list the notices: %s\n", kura_err_name(e));
			return 1;
		}
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "create") != 0)
		goto usage;
	/* optind = 0 makes GNU getopt start afresh on the sub-command's words. */
	optind = 0;
	while ((opt = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'k': kind = optarg; break;
		case 'T': title = optarg; break;
		case 'b': body = optarg; break;
		case 's': starts = optarg; break;
		case 'e': ends = optarg; break;
		case 't': tenant = optarg; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || kind == NULL || title == NULL || body == NULL || starts == NULL ||
	    ends == NULL)
		goto usage;
	return create(c, kind, title, body, starts, ends, tenant);
usage:
	fprintf(stderr, "usage: kura notice create --kind incident|maintenance --title T --body B\n"
			"                          --starts RFC3339 --ends RFC3339 [--tenant T]\n"
			"       kura notice list\n");
	return 2;
}
