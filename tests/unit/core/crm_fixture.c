#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "crm_fixture.h"
#include "kura/clock.h"

static enum kura_err
fetch(void *ctx, const char *tenant, uint32_t version, uint8_t *out, size_t cap, size_t *len)
{
	return kura_store_tenant_key_get(ctx, tenant, version, out, cap, len);
}

int
crm_fx_open(struct crm_fx *f, const char *prefix)
{
	struct kura_tenant t;
	uint8_t w[KURA_WRAPPED_KEY_BYTES];
	char err[256] = "";

	memset(f, 0, sizeof(*f));
	if (kura_crypto_init() != KURA_OK)
		return -1;
	kura_clock_set_offset_us(0);
	if (kura_test_mkdtemp(f->dir, sizeof(f->dir), prefix) != 0)
		return -1;
	snprintf(f->mk, sizeof(f->mk), "%s/master.key", f->dir);
	assert_int_equal(kura_master_key_create(f->mk), KURA_OK);
	assert_int_equal(kura_keyring_open(f->mk, &f->k, err, sizeof(err)), KURA_OK);
	assert_int_equal(kura_store_open(&kura_store_sqlite_ops, f->dir, 4, &f->s, err, sizeof(err)),
			 KURA_OK);
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "acme");
	snprintf(t.name, sizeof(t.name), "Acme");
	t.key_version = 1;
	t.created_at = t.updated_at = kura_now_us();
	assert_int_equal(kura_dek_new_wrapped(f->k, t.id, 1, w), KURA_OK);
	assert_int_equal(kura_store_tenant_create(f->s, &t, w, sizeof(w)), KURA_OK);
	assert_int_equal(kura_field_keys_new(f->k, fetch, f->s, &f->fk), KURA_OK);
	assert_int_equal(kura_housekeeper_new(f->s, f->fk, &f->h), KURA_OK);
	return 0;
}

void
crm_fx_close(struct crm_fx *f)
{
	kura_clock_set_offset_us(0);
	kura_housekeeper_stop(f->h);
	kura_field_keys_free(f->fk);
	kura_store_close(f->s);
	kura_keyring_free(f->k);
	kura_test_rmtree(f->dir);
}

void
crm_fx_rec_ctx(struct crm_fx *f, struct kura_tenant_db *db, const struct kura_catalog *cat,
	       struct kura_rec_ctx *x)
{
	struct kura_tenant t;

	assert_int_equal(kura_store_tenant_get(f->s, "acme", &t), KURA_OK);
	memset(x, 0, sizeof(*x));
	x->db = db;
	x->cat = cat;
	x->obj = kura_catalog_object(cat, "contacts");
	assert_non_null(x->obj);
	x->actor.type = KURA_ACTOR_USER;
	x->actor.id = 1;
	x->actor.source = "API";
	x->now = kura_now_us();
	x->keys = f->fk;
	x->key_version = t.key_version;
}

void
crm_fx_prop(struct crm_fx *f, const char *name, const char *label, bool sensitive)
{
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	const struct kura_crm_ops *ops;
	struct kura_prop_row p;
	void *conn;

	assert_int_equal(kura_store_tenant_acquire(f->s, "acme", &db), KURA_OK);
	assert_int_equal(kura_catalog_get(NULL, db, &cat), KURA_OK);
	ops = kura_store_crm(db, &conn);
	memset(&p, 0, sizeof(p));
	p.object_id = kura_catalog_object(cat, "contacts")->row.id;
	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(p.label_en, sizeof(p.label_en), "%s", label);
	snprintf(p.type, sizeof(p.type), "string");
	snprintf(p.classification, sizeof(p.classification), "internal");
	p.sensitive = sensitive;
	p.description = "";
	p.options = "[]";
	p.validation = "{}";
	p.permissions = "{}";
	p.created_at = p.updated_at = kura_now_us();
	assert_int_equal(kura_store_begin(db), KURA_OK);
	assert_int_equal(kura_store_finish(db, ops->prop_create(conn, &p)), KURA_OK);
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
}

void
crm_fx_create(struct crm_fx *f, json_t *(*props)(int i), int n, int64_t *ids)
{
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	struct kura_rec_ctx x;

	assert_int_equal(kura_store_tenant_acquire(f->s, "acme", &db), KURA_OK);
	assert_int_equal(kura_catalog_get(NULL, db, &cat), KURA_OK);
	crm_fx_rec_ctx(f, db, cat, &x);
	for (int i = 0; i < n; i++) {
		json_t *p = props(i), *details = json_array();

		assert_int_equal(kura_store_begin(db), KURA_OK);
		assert_int_equal(kura_store_finish(db, kura_record_create(&x, p, details, &ids[i],
									  NULL)),
				 KURA_OK);
		json_decref(p);
		json_decref(details);
	}
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
}
