/*
 * Connection pools for the SQLite back end: one for system.db and one per
 * tenant database, created on first use and kept until the store closes.
 * A pool opens connections lazily up to its maximum; when all are in use a
 * caller waits on the pool's condition variable. Idle connections over all
 * pools are capped (KURA_SQ_IDLE_MAX), least recently used closed first, so
 * that many tenants do not exhaust file descriptors.
 *
 * system.db gets a pool rather than one mutex-guarded connection: every
 * authenticated request reads it (tenant_get, tenant_acquire) from 2-8 HTTP
 * threads plus hashing threads, and WAL lets those reads run side by side;
 * worse, tenant_create holds a write transaction on it while it creates
 * and migrates the tenant's database, and with a single connection every
 * request would queue behind that.
 *
 * One mutex (be->mu) guards the pool table and every pool's counters; it
 * is held only for list operations, never while SQLite works (connections
 * are opened and migrated outside it).
 */
#include "sqlite_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kura/log.h"

/*
 * How long acquire waits for a busy pool before answering UNAVAILABLE: a
 * handle that is never released must not hang every later request forever.
 */
#define WAIT_SECONDS 30

enum kura_err
kura_sqlite_pool_init(struct kura_sqlite_pool *p, enum kura_sqlite_kind kind,
		      const char *tenant_id, const char *path, unsigned max)
{
	pthread_condattr_t attr;
	enum kura_err e = KURA_OK;
	bool attr_ok = false;

	memset(p, 0, sizeof(*p));
	p->kind = kind;
	snprintf(p->tenant_id, sizeof(p->tenant_id), "%s", tenant_id);
	p->max = max > 0 ? max : 1;
	p->path = strdup(path);
	if (p->path == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	if (pthread_condattr_init(&attr) != 0) {
		e = KURA_E_NOMEM;
		goto out;
	}
	attr_ok = true;
	/* Waits are bounded by a deadline that must not jump with the wall clock. */
	if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&p->cond, &attr) != 0) {
		e = KURA_E_INTERNAL;
		goto out;
	}
out:
	if (attr_ok)
		pthread_condattr_destroy(&attr);
	if (e != KURA_OK) {
		free(p->path);
		p->path = NULL;
	}
	return e;
}

void
kura_sqlite_pool_fini(struct kura_sqlite_pool *p)
{
	struct kura_sqlite_conn *c, *next;
	unsigned idle = 0;

	for (c = p->idle; c != NULL; c = next) {
		next = c->next_idle;
		kura_sqlite_conn_close(c);
		idle++;
	}
	p->idle = NULL;
	if (idle != p->open)
		kura_log(KURA_LOG_WARN, "store_conn_leak", "tenant=%s in_use=%u",
			 p->kind == KURA_SQ_SYSTEM ? "-" : p->tenant_id, p->open - idle);
	pthread_cond_destroy(&p->cond);
	free(p->path);
	p->path = NULL;
}

/* The idle list over all pools; callers hold be->mu. */
static void
lru_push(struct kura_sqlite_be *be, struct kura_sqlite_conn *c)
{
	c->lru_next = NULL;
	c->lru_prev = be->lru_tail;
	if (be->lru_tail != NULL)
		be->lru_tail->lru_next = c;
	else
		be->lru_head = c;
	be->lru_tail = c;
	be->idle_total++;
}

static void
lru_remove(struct kura_sqlite_be *be, struct kura_sqlite_conn *c)
{
	if (c->lru_prev != NULL)
		c->lru_prev->lru_next = c->lru_next;
	else
		be->lru_head = c->lru_next;
	if (c->lru_next != NULL)
		c->lru_next->lru_prev = c->lru_prev;
	else
		be->lru_tail = c->lru_prev;
	c->lru_prev = NULL;
	c->lru_next = NULL;
	be->idle_total--;
}

/* Makes c idle in its pool, waking one waiter. Caller holds be->mu. */
static void
make_idle(struct kura_sqlite_be *be, struct kura_sqlite_conn *c)
{
	struct kura_sqlite_pool *p = c->pool;

	c->next_idle = p->idle;
	p->idle = c;
	lru_push(be, c);
	if (p->waiting > 0)
		pthread_cond_signal(&p->cond);
}

/*
 * Past KURA_SQ_IDLE_MAX, takes the least recently used idle connection out
 * of its pool and returns it for the caller to close once the lock is
 * dropped. Caller holds be->mu.
 */
static struct kura_sqlite_conn *
evict(struct kura_sqlite_be *be)
{
	struct kura_sqlite_conn *c, **pp;

	if (be->idle_total <= KURA_SQ_IDLE_MAX)
		return NULL;
	c = be->lru_head;
	lru_remove(be, c);
	for (pp = &c->pool->idle; *pp != NULL; pp = &(*pp)->next_idle) {
		if (*pp == c) {
			*pp = c->next_idle;
			break;
		}
	}
	c->next_idle = NULL;
	c->pool->open--;
	return c;
}

void
kura_sqlite_system_adopt(struct kura_sqlite_be *be, struct kura_sqlite_conn *c)
{
	pthread_mutex_lock(&be->mu);
	c->pool = &be->system;
	be->system.open++;
	make_idle(be, c);
	pthread_mutex_unlock(&be->mu);
}

static void
deadline(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += WAIT_SECONDS;
}

/*
 * Takes a connection from p. Called and returns with be->mu held; drops it
 * while opening a new connection, which is slow (file open, pragmas,
 * migration check).
 */
static enum kura_err
pool_get(struct kura_sqlite_be *be, struct kura_sqlite_pool *p, struct kura_sqlite_conn **out)
{
	struct kura_sqlite_conn *c = NULL;
	enum kura_err e = KURA_OK;
	struct timespec until;
	bool have_deadline = false;
	char err[512];
	int rc;

	*out = NULL;
	for (;;) {
		if (p->idle != NULL) {
			c = p->idle;
			p->idle = c->next_idle;
			c->next_idle = NULL;
			lru_remove(be, c);
			break;
		}
		if (p->open < p->max) {
			/* Reserve the slot first so no other thread overshoots max. */
			p->open++;
			pthread_mutex_unlock(&be->mu);
			err[0] = '\0';
			e = kura_sqlite_conn_open(p->path, p->kind,
						  p->kind == KURA_SQ_TENANT ? p->tenant_id : NULL,
						  &c, err, sizeof(err));
			pthread_mutex_lock(&be->mu);
			if (e != KURA_OK) {
				char q[600];

				p->open--;
				/* The freed slot may let a waiter try for itself. */
				pthread_cond_signal(&p->cond);
				kura_log(KURA_LOG_ERROR, "store_open_failed", "tenant=%s err=%s",
					 p->kind == KURA_SQ_SYSTEM ? "-" : p->tenant_id,
					 kura_log_quote(q, sizeof(q), err));
				goto out;
			}
			c->pool = p;
			break;
		}
		if (!have_deadline) {
			deadline(&until);
			have_deadline = true;
		}
		p->waiting++;
		rc = pthread_cond_timedwait(&p->cond, &be->mu, &until);
		p->waiting--;
		if (rc == ETIMEDOUT) {
			kura_log(KURA_LOG_ERROR, "store_pool_timeout", "tenant=%s open=%u wait_s=%d",
				 p->kind == KURA_SQ_SYSTEM ? "-" : p->tenant_id, p->open,
				 WAIT_SECONDS);
			e = KURA_E_UNAVAILABLE;
			goto out;
		}
	}
	*out = c;
out:
	return e;
}

enum kura_err
kura_sqlite_system_acquire(struct kura_sqlite_be *be, struct kura_sqlite_conn **out)
{
	enum kura_err e;

	pthread_mutex_lock(&be->mu);
	e = pool_get(be, &be->system, out);
	pthread_mutex_unlock(&be->mu);
	return e;
}

/* FNV-1a: tenant ids are short; this only spreads them over the buckets. */
static unsigned
bucket(const char *id)
{
	uint32_t h = 2166136261u;

	for (; *id != '\0'; id++) {
		h ^= (unsigned char)*id;
		h *= 16777619u;
	}
	return h % KURA_SQ_BUCKETS;
}

enum kura_err
kura_sqlite_tenant_conn(struct kura_sqlite_be *be, const char *tenant_id,
			struct kura_sqlite_conn **out)
{
	struct kura_sqlite_pool *p;
	enum kura_err e = KURA_OK;
	char *path = NULL;
	unsigned b;
	bool locked = false;

	*out = NULL;
	/* The id becomes a path and a pool key: a malformed one names no tenant. */
	if (!kura_sqlite_tenant_id_ok(tenant_id)) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	b = bucket(tenant_id);
	pthread_mutex_lock(&be->mu);
	locked = true;
	for (p = be->buckets[b]; p != NULL; p = p->next) {
		if (strcmp(p->tenant_id, tenant_id) == 0)
			break;
	}
	if (p == NULL) {
		/* First use of this tenant since start: rare, so allocating under the lock is fine. */
		path = kura_sqlite_tenant_path(be, tenant_id, true);
		p = malloc(sizeof(*p));
		if (path == NULL || p == NULL) {
			free(p);
			e = KURA_E_NOMEM;
			goto out;
		}
		e = kura_sqlite_pool_init(p, KURA_SQ_TENANT, tenant_id, path, be->max_conns);
		if (e != KURA_OK) {
			free(p);
			goto out;
		}
		p->next = be->buckets[b];
		be->buckets[b] = p;
	}
	e = pool_get(be, p, out);
out:
	if (locked)
		pthread_mutex_unlock(&be->mu);
	free(path);
	return e;
}

void
kura_sqlite_release(struct kura_sqlite_be *be, struct kura_sqlite_conn *c)
{
	struct kura_sqlite_conn *victim;

	if (c == NULL)
		return;
	/* A transaction left open would leak into the next holder's work. */
	if (!sqlite3_get_autocommit(c->db)) {
		kura_log(KURA_LOG_WARN, "store_tx_left_open", "tenant=%s action=rollback",
			 c->pool != NULL && c->pool->kind == KURA_SQ_TENANT ? c->pool->tenant_id
									 : "-");
		kura_sqlite_rollback(c);
	}
	if (c->pool == NULL) {
		kura_sqlite_conn_close(c);
		return;
	}
	pthread_mutex_lock(&be->mu);
	make_idle(be, c);
	victim = evict(be);
	pthread_mutex_unlock(&be->mu);
	/* Closing may checkpoint the WAL: never under the lock. */
	kura_sqlite_conn_close(victim);
}

void
kura_sqlite_pools_free(struct kura_sqlite_be *be)
{
	struct kura_sqlite_pool *p, *next;
	size_t i;

	for (i = 0; i < KURA_SQ_BUCKETS; i++) {
		for (p = be->buckets[i]; p != NULL; p = next) {
			next = p->next;
			kura_sqlite_pool_fini(p);
			free(p);
		}
		be->buckets[i] = NULL;
	}
}
