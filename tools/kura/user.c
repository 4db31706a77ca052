/*
 * kura user create: adds a user to a tenant with a one-time password that
 * must be changed at first sign-in. The password is printed once and
 * stored only as an Argon2id hash.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "kura/auth.h"
#include "kura/clock.h"
#include "kura/password.h"
#include "kura/store_mfa.h"

int
cli_do_user_create(struct cli *c, const char *tenant, const char *email, const char *name,
		   const char *role, bool reset_if_exists)
{
	struct kura_pwparams pw = {c->cfg.password_opslimit,
				   (size_t)c->cfg.password_memlimit_kib * 1024};
	struct kura_tenant_db *db = NULL;
	struct kura_user u;
	char otp[21];
	char uid[24];
	const char *action = "user.create";
	int rc = 1;
	enum kura_err e;

	memset(&u, 0, sizeof(u));
	if (!kura_tenant_id_valid(tenant) || !kura_email_valid(email) || !kura_role_valid(role) ||
	    (name != NULL && (strlen(name) == 0 || strlen(name) > KURA_NAME_MAX))) {
		fprintf(stderr, "kura: check --tenant (an existing tenant id), --email (an address), "
				"--role (super_admin, admin, member, read_only) and --name (1 to %d "
				"bytes)\n", KURA_NAME_MAX);
		return 2;
	}
	if (cli_open(c) != 0)
		return 1;
	e = kura_store_tenant_acquire(c->store, tenant, &db);
	if (e == KURA_E_NOT_FOUND) {
		fprintf(stderr, "kura: no tenant \"%s\"\n", tenant);
		goto out;
	}
	if (e != KURA_OK)
		goto fail;
	kura_password_generate(otp, sizeof(otp));
	e = kura_password_hash(&pw, otp, strlen(otp), u.password_hash);
	if (e != KURA_OK)
		goto fail;
	snprintf(u.email, sizeof(u.email), "%s", email);
	snprintf(u.display_name, sizeof(u.display_name), "%s", name != NULL ? name : email);
	snprintf(u.role, sizeof(u.role), "%s", role);
	u.status = KURA_USER_ACTIVE;
	u.must_change_password = true;
	u.created_at = u.updated_at = u.password_changed_at = kura_now_us();
	/* The user and its "user.create" record commit together, or neither does. */
	e = kura_store_begin(db);
	if (e != KURA_OK)
		goto fail;
	e = kura_store_user_create(db, &u);
	if (e == KURA_E_EXISTS && reset_if_exists) {
		struct kura_user old;

		e = kura_store_user_get_by_email(db, email, &old);
		if (e == KURA_OK)
			e = kura_store_user_set_password(db, old.id, u.password_hash, true,
							 kura_now_us());
		if (e == KURA_OK)
			e = kura_store_session_delete_user(db, old.id, NULL);
		u.id = old.id;
		action = "user.password_reset";
	} else if (e == KURA_E_EXISTS) {
		kura_store_rollback(db);
		fprintf(stderr, "kura: a user with e-mail %s already exists in tenant %s\n", email,
			tenant);
		goto out;
	}
	snprintf(uid, sizeof(uid), "%lld", (long long)u.id);
	if (e == KURA_OK && cli_audit_operator(c, tenant, db, action, "user", uid) != 0)
		e = KURA_E_STORE;
	if (e == KURA_OK)
		e = kura_store_commit(db);
	else
		kura_store_rollback(db);
	if (e != KURA_OK)
		goto fail;
	if (cli_audit_seal_after(c, tenant) != 0)
		goto out;
	if (strcmp(action, "user.create") == 0)
		printf("user %lld created in tenant %s with role %s\n", (long long)u.id, tenant, role);
	else
		printf("user %s exists; its password was reset\n", email);
	printf("one-time password: %s\n", otp);
	printf("(it must be changed at first sign-in)\n");
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "kura: cannot create the user: %s\n", kura_err_name(e));
out:
	sodium_memzero(otp, sizeof(otp));
	sodium_memzero(u.password_hash, sizeof(u.password_hash));
	kura_store_tenant_release(db);
	return rc;
}

/*
 * kura user mfa-reset: the operator removes a user's authenticator and
 * recovery codes, for the case no administrator of the tenant can (its only
 * super admin lost the device and the codes). The user's sessions end; the
 * password stays, so the next sign-in needs it, and enrolment follows if the
 * tenant requires MFA.
 */
static int
user_mfa_reset(struct cli *c, const char *tenant, const char *email)
{
	struct kura_tenant_db *db = NULL;
	struct kura_user u;
	void *conn;
	const struct kura_mfa_ops *ops;
	char uid[24];
	int rc = 1;
	enum kura_err e;

	if (!kura_tenant_id_valid(tenant) || !kura_email_valid(email)) {
		fprintf(stderr, "kura: check --tenant (an existing tenant id) and --email\n");
		return 2;
	}
	if (cli_open(c) != 0)
		return 1;
	e = kura_store_tenant_acquire(c->store, tenant, &db);
	if (e == KURA_E_NOT_FOUND) {
		fprintf(stderr, "kura: no tenant \"%s\"\n", tenant);
		goto out;
	}
	if (e == KURA_OK)
		e = kura_store_user_get_by_email(db, email, &u);
	if (e == KURA_E_NOT_FOUND) {
		fprintf(stderr, "kura: no user %s in tenant %s\n", email, tenant);
		goto out;
	}
	if (e != KURA_OK)
		goto fail;
	sodium_memzero(u.password_hash, sizeof(u.password_hash));
	if (!u.mfa_enabled) {
		fprintf(stderr, "kura: %s has no two-step sign-in to reset\n", email);
		goto out;
	}
	ops = kura_store_mfa(db, &conn);
	snprintf(uid, sizeof(uid), "%lld", (long long)u.id);
	e = kura_store_begin(db);
	if (e == KURA_OK)
		e = ops->totp_delete(conn, u.id);
	if (e == KURA_OK)
		e = kura_store_session_delete_user(db, u.id, NULL);
	if (e == KURA_OK && cli_audit_operator(c, tenant, db, "mfa.reset", "user", uid) != 0)
		e = KURA_E_STORE;
	e = kura_store_finish(db, e);
	if (e != KURA_OK)
		goto fail;
	if (cli_audit_seal_after(c, tenant) != 0)
		goto out;
	printf("two-step sign-in of %s in tenant %s removed; their sessions ended\n", email, tenant);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "kura: cannot reset: %s\n", kura_err_name(e));
out:
	kura_store_tenant_release(db);
	return rc;
}

int
cli_user(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"tenant", required_argument, NULL, 't'},
		{"email", required_argument, NULL, 'e'},
		{"role", required_argument, NULL, 'r'},
		{"name", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	const char *tenant = NULL, *email = NULL, *role = NULL, *name = NULL;
	int opt;

	bool reset;

	if (argc < 2 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "mfa-reset") != 0))
		goto usage;
	reset = strcmp(argv[1], "mfa-reset") == 0;
	/* optind = 0 makes GNU getopt start afresh on the sub-command's words. */
	optind = 0;
	while ((opt = getopt_long(argc - 1, argv + 1, "t:e:r:n:", opts, NULL)) != -1) {
		switch (opt) {
		case 't': tenant = optarg; break;
		case 'e': email = optarg; break;
		case 'r': role = optarg; break;
		case 'n': name = optarg; break;
		default: goto usage;
		}
	}
	if (reset && optind == argc - 1 && tenant != NULL && email != NULL && role == NULL &&
	    name == NULL)
		return user_mfa_reset(c, tenant, email);
	if (reset || optind != argc - 1 || tenant == NULL || email == NULL || role == NULL)
		goto usage;
	return cli_do_user_create(c, tenant, email, name, role, false);
usage:
	fprintf(stderr, "usage: kura user create --tenant T --email E --role ROLE [--name NAME]\n"
			"       kura user mfa-reset --tenant T --email E\n");
	return 2;
}
