/*
 * The sealer: a thread in kurad that seals every tenant's audit chain head
 * once per interval, and once more when it stops, so that at most one
 * interval of entries is ever unsealed (see docs/internals/audit.md for what
 * a seal proves).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "kura/audit.h"
#include "kura/log.h"

struct kura_audit_sealer {
	struct kura_store *store;
	const struct kura_keyring *keys;
	unsigned interval_s;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
};

struct seal_ctx {
	struct kura_audit_sealer *s;
	unsigned failed;
};

static void
seal_one(void *ctx, const struct kura_tenant *t)
{
	struct seal_ctx *c = ctx;
	enum kura_err e = kura_audit_seal(c->s->store, c->s->keys, t->id);

	if (e != KURA_OK) {
		c->failed++;
		kura_log(KURA_LOG_ERROR, "audit_seal_failed", "tenant=%s err=%s", t->id,
			 kura_err_name(e));
	}
}

static void
seal_all(struct kura_audit_sealer *s)
{
	struct seal_ctx c = {s, 0};

	if (kura_store_tenant_list(s->store, seal_one, &c) != KURA_OK)
		kura_log(KURA_LOG_ERROR, "audit_seal_failed", "msg=\"cannot list tenants\"");
}

static void *
run(void *arg)
{
	struct kura_audit_sealer *s = arg;
	struct timespec until;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += s->interval_s;
		while (!s->stop && pthread_cond_timedwait(&s->cond, &s->lock, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&s->lock);
		seal_all(s);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

enum kura_err
kura_audit_sealer_start(struct kura_store *store, const struct kura_keyring *keys,
			unsigned interval_s, struct kura_audit_sealer **out)
{
	struct kura_audit_sealer *s;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return KURA_E_NOMEM;
	s->store = store;
	s->keys = keys;
	s->interval_s = interval_s > 0 ? interval_s : 60;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	if (pthread_create(&s->thread, NULL, run, s) != 0) {
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->cond);
		free(s);
		return KURA_E_INTERNAL;
	}
	*out = s;
	return KURA_OK;
}

void
kura_audit_sealer_stop(struct kura_audit_sealer *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	/* The thread seals once more on its way out. */
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}
