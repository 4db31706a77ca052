/*
 * Housekeeping: a thread that, every housekeeping_seconds, visits each
 * tenant and purges the records archived longer than the restore window
 * (90 days), and drops Idempotency-Key replies older than a day. Each
 * purge round is one transaction with one audit entry per object type
 * (actor "system", action record.purge_expired, how many). It also lets
 * SQLite refresh its planner statistics where tables changed a lot.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/core.h"
#include "kura/log.h"

#define IDEM_KEEP_US (24LL * 3600 * 1000000)
#define PURGE_PER_ROUND 256

struct kura_housekeeper {
	struct kura_store *store;
	struct kura_field_keys *keys;
	unsigned interval_s;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
};

struct ids {
	char (*v)[KURA_TENANT_ID_MAX + 1];
	size_t n, cap;
};

static void
collect(void *ctx, const struct kura_tenant *t)
{
	struct ids *x = ctx;

	if (t->status != KURA_TENANT_ACTIVE)
		return;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		void *nv = realloc(x->v, cap * sizeof(*x->v));

		if (nv == NULL)
			return;
		x->v = nv;
		x->cap = cap;
	}
	snprintf(x->v[x->n++], KURA_TENANT_ID_MAX + 1, "%s", t->id);
}

/* One round for one tenant: returns how many records were purged. */
#define REKEY_PER_TRANSACTION 500

/*
 * Values still under an older data key, re-encrypted in short transactions
 * so that requests keep being served in between.
 */
static enum kura_err
rekey(struct kura_store *store, struct kura_field_keys *keys, struct kura_tenant_db *db,
      const struct kura_catalog *cat, const char *tenant, size_t *total)
{
	struct kura_rec_ctx x;
	struct kura_tenant t;
	size_t n = 0;
	enum kura_err e;

	*total = 0;
	if (keys == NULL)
		return KURA_OK;
	e = kura_store_tenant_get(store, tenant, &t);
	if (e != KURA_OK)
		return e;
	memset(&x, 0, sizeof(x));
	x.db = db;
	x.cat = cat;
	x.keys = keys;
	x.key_version = t.key_version;
	do {
		e = kura_store_begin(db);
		if (e == KURA_OK)
			e = kura_sensitive_rekey(&x, REKEY_PER_TRANSACTION, &n);
		e = kura_store_finish(db, e);
		if (e == KURA_OK)
			*total += n;
	} while (e == KURA_OK && n == REKEY_PER_TRANSACTION);
	return e;
}

static enum kura_err
tend(struct kura_store *store, struct kura_field_keys *keys, const char *tenant, size_t *purged)
{
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	void *conn;
	const struct kura_crm_ops *ops;
	int64_t now = kura_now_us();
	size_t n = 0;
	enum kura_err e;

	*purged = 0;
	e = kura_store_tenant_acquire(store, tenant, &db);
	if (e == KURA_OK)
		e = kura_catalog_get(NULL, db, &cat);
	if (e != KURA_OK)
		goto out;
	ops = kura_store_crm(db, &conn);
	do {
		e = kura_store_begin(db);
		if (e == KURA_OK)
			e = kura_records_sweep(db, cat, now, PURGE_PER_ROUND, &n);
		if (e == KURA_OK && n > 0) {
			struct kura_audit_entry ae;

			memset(&ae, 0, sizeof(ae));
			ae.actor_type = KURA_ACTOR_SYSTEM;
			snprintf(ae.action, sizeof(ae.action), "record.purge_expired");
			snprintf(ae.target_type, sizeof(ae.target_type), "records");
			snprintf(ae.target_props, sizeof(ae.target_props), "%zu records", n);
			ae.outcome = KURA_AUDIT_SUCCESS;
			e = kura_audit_append(db, &ae);
		}
		if (e == KURA_OK)
			e = ops->idem_expire(conn, now - IDEM_KEEP_US);
		e = kura_store_finish(db, e);
		if (e == KURA_OK)
			*purged += n;
	} while (e == KURA_OK && n == PURGE_PER_ROUND);
	if (e == KURA_OK) {
		size_t rekeyed = 0;

		e = rekey(store, keys, db, cat, tenant, &rekeyed);
		if (rekeyed > 0)
			kura_log(KURA_LOG_INFO, "values_reencrypted", "tenant=%s count=%zu", tenant,
				 rekeyed);
	}
	if (e == KURA_OK)
		e = ops->optimize(conn);
out:
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
	return e;
}

void
kura_housekeeping_round(struct kura_store *store, struct kura_field_keys *keys)
{
	struct ids ids = {0};

	if (kura_store_tenant_list(store, collect, &ids) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "housekeeping_failed", "msg=\"cannot list tenants\"");
		return;
	}
	for (size_t i = 0; i < ids.n; i++) {
		size_t purged = 0;
		enum kura_err e = tend(store, keys, ids.v[i], &purged);

		if (e != KURA_OK)
			kura_log(KURA_LOG_ERROR, "housekeeping_failed", "tenant=%s err=%s", ids.v[i],
				 kura_err_name(e));
		else if (purged > 0)
			kura_log(KURA_LOG_INFO, "records_purged", "tenant=%s count=%zu", ids.v[i],
				 purged);
	}
	free(ids.v);
}

static void *
run(void *arg)
{
	struct kura_housekeeper *h = arg;
	struct timespec until;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += h->interval_s;
		while (!h->stop && pthread_cond_timedwait(&h->cond, &h->lock, &until) != ETIMEDOUT)
			;
		if (h->stop)
			break;
		pthread_mutex_unlock(&h->lock);
		kura_housekeeping_round(h->store, h->keys);
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

enum kura_err
kura_housekeeper_start(struct kura_store *store, struct kura_field_keys *keys, unsigned interval_s,
		       struct kura_housekeeper **out)
{
	struct kura_housekeeper *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (h == NULL)
		return KURA_E_NOMEM;
	h->store = store;
	h->keys = keys;
	h->interval_s = interval_s > 0 ? interval_s : 1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (pthread_create(&h->thread, NULL, run, h) != 0) {
		pthread_cond_destroy(&h->cond);
		pthread_mutex_destroy(&h->lock);
		free(h);
		return KURA_E_INTERNAL;
	}
	*out = h;
	return KURA_OK;
}

void
kura_housekeeper_stop(struct kura_housekeeper *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
