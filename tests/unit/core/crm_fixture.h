/*
 * A customer database on real files for the core unit tests: a data
 * directory under TMPDIR with its own master key, the SQLite store, tenant
 * "acme" (data key version 1), its field keys and a housekeeper.
 */
#ifndef KURA_TEST_CRM_FIXTURE_H
#define KURA_TEST_CRM_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kura/core.h"
#include "kura/crypto.h"
#include "kura/store.h"

struct crm_fx {
	char dir[256];
	char mk[300];
	struct kura_keyring *k;
	struct kura_store *s;
	struct kura_field_keys *fk;
	struct kura_housekeeper *h;
};

/* Sets everything up (clock offset 0); -1 when the directory cannot be made. */
int crm_fx_open(struct crm_fx *f, const char *prefix);
/* Stops and frees everything and removes the directory. */
void crm_fx_close(struct crm_fx *f);
/* A context for writing and reading contacts as a super admin would. */
void crm_fx_rec_ctx(struct crm_fx *f, struct kura_tenant_db *db, const struct kura_catalog *cat,
		    struct kura_rec_ctx *x);
/* Adds contacts.<name>, a string property (sensitive or not). */
void crm_fx_prop(struct crm_fx *f, const char *name, const char *label, bool sensitive);
/* Creates n contacts, record i with the properties props(i) (taken), ids[i] its id. */
void crm_fx_create(struct crm_fx *f, json_t *(*props)(int i), int n, int64_t *ids);

#endif
