/*
 * Private to the kura CLI: the context every command gets (settings, and
 * the master key and store opened on first use) and the command entry
 * points, one file per command group.
 */
#ifndef KURA_CLI_H
#define KURA_CLI_H

#include <stdbool.h>

#include "kura/config.h"
#include "kura/crypto.h"
#include "kura/store.h"

struct cli {
	struct kura_config cfg;
	struct kura_keyring *keys;
	struct kura_store *store;
	int datadir_lock;   /* the data directory's lock (kura/lock.h) while held, else -1 */
};

/* Opens the master key and the store if not yet open; prints why not on failure. */
int cli_open(struct cli *c);

int cli_init(struct cli *c, int argc, char **argv);
int cli_tenant(struct cli *c, int argc, char **argv);
int cli_user(struct cli *c, int argc, char **argv);
int cli_demo(struct cli *c, int argc, char **argv);
int cli_audit(struct cli *c, int argc, char **argv);
int cli_notice(struct cli *c, int argc, char **argv);
int cli_keys(struct cli *c, int argc, char **argv);
/* Replaces the master key, re-wrapping every data key (keys.c). */
int cli_rotate_master(struct cli *c, const char *why);

/* Shared steps, so demo does exactly what init/tenant/user do. */
int cli_do_init(struct cli *c, bool quiet_if_done);
int cli_do_tenant_create(struct cli *c, const char *id, const char *name);
/* Creates the user, or with reset_if_exists resets its password; prints the one-time password. */
int cli_do_user_create(struct cli *c, const char *tenant, const char *email, const char *name,
		       const char *role, bool reset_if_exists);

/*
 * Records an operator action in the tenant's audit log (the CLI is an
 * operator on the host: actor type "operator", the Unix user as its name).
 * With db NULL the tenant is acquired here and the chain sealed at once;
 * with a handle the record joins its open transaction and the caller seals
 * after committing (cli_audit_seal_after). Returns non-zero (and says why)
 * when the record could not be written.
 */
int cli_audit_operator(struct cli *c, const char *tenant, struct kura_tenant_db *db,
		       const char *action, const char *target_type, const char *target_id);

int cli_audit_seal_after(struct cli *c, const char *tenant);

#endif
