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

#include "kura/clock.h"
#include "kura/log.h"
#include "kura/monitor.h"

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
	p->spool_fd = -1;
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
	if (pthread_cond_init(&p->wcond, &attr) != 0) {
		pthread_cond_destroy(&p->cond);
		e = KURA_E_INTERNAL;
		goto out;
	}
	if (pthread_mutex_init(&p->spool_mu, NULL) != 0) {
		pthread_cond_destroy(&p->cond);
		pthread_cond_destroy(&p->wcond);
		e = KURA_E_INTERNAL;
		goto out;
	}
	if (pthread_mutex_init(&p->ids_mu, NULL) != 0) {
		pthread_mutex_destroy(&p->spool_mu);
		pthread_cond_destroy(&p->cond);
		pthread_cond_destroy(&p->wcond);
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
	if (p->writer_busy)
		kura_log(KURA_LOG_WARN, "store_writer_leak", "tenant=%s", p->tenant_id);
	else
		kura_sqlite_conn_close(p->writer);
	p->writer = NULL;
	kura_sqlite_spool_fini(p);
	pthread_mutex_destroy(&p->spool_mu);
	pthread_mutex_destroy(&p->ids_mu);
	free(p->ids);
	p->ids = NULL;
	pthread_cond_destroy(&p->cond);
	pthread_cond_destroy(&p->wcond);
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
	if (c == c->pool->writer) {
		/* an idle writer: the tenant's next transaction opens another */
		c->pool->writer = NULL;
		return c;
	}
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
 * A tenant connection's commit hook: past KURA_SQ_WAL_PASSIVE_PAGES the
 * pool goes on the checkpointer's queue (so that no request waits for a
 * checkpoint's writes and fsyncs, and the writer is free meanwhile); past
 * KURA_SQ_WAL_HELP_PAGES this thread restarts the WAL itself.
 */
static int
pool_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct kura_sqlite_pool *p = arg;
	struct kura_sqlite_be *be = p->be;

	if (pages < KURA_SQ_WAL_PASSIVE_PAGES)
		return SQLITE_OK;
	if (pages >= KURA_SQ_WAL_HELP_PAGES) {
		(void)kura_sqlite_checkpoint(db, name, pages);
		return SQLITE_OK;
	}
	pthread_mutex_lock(&be->mu);
	if (pages > p->ckpt_pages)
		p->ckpt_pages = pages;
	if (!p->ckpt_queued) {
		p->ckpt_queued = true;
		p->ckpt_next = NULL;
		if (be->ckpt_tail != NULL)
			be->ckpt_tail->ckpt_next = p;
		else
			be->ckpt_head = p;
		be->ckpt_tail = p;
		pthread_cond_signal(&be->ckpt_cond);
	}
	pthread_mutex_unlock(&be->mu);
	return SQLITE_OK;
}

/* Hands c's checkpoints to the checkpointer (tenant pools, while it runs). */
static void
pool_hook(struct kura_sqlite_conn *c)
{
	struct kura_sqlite_pool *p = c->pool;

	if (p->kind == KURA_SQ_TENANT && p->be != NULL && p->be->ckpt_running)
		sqlite3_wal_hook(c->db, pool_wal_hook, p);
}

static enum kura_err pool_get(struct kura_sqlite_be *be, struct kura_sqlite_pool *p,
			      struct kura_sqlite_conn **out);

/*
 * The checkpointer: takes queued pools in turn and checkpoints each on one
 * of its idle connections (a passive checkpoint, or a restart past
 * KURA_SQ_WAL_RESTART_PAGES). A pool with none idle and no room for
 * another goes to the back of the queue; after CKPT_STUCK_PAUSE such in a
 * row the thread pauses 10 ms before it tries again.
 */
#define CKPT_STUCK_PAUSE 8

static void *
checkpointer(void *arg)
{
	struct kura_sqlite_be *be = arg;

	unsigned stuck = 0; /* pools passed over in a row, all of their connections in use */

	pthread_mutex_lock(&be->mu);
	while (!be->ckpt_stop) {
		struct kura_sqlite_pool *p = be->ckpt_head;
		struct kura_sqlite_conn *c = NULL, *victim;
		int pages, rc;

		if (p == NULL) {
			stuck = 0;
			pthread_cond_wait(&be->ckpt_cond, &be->mu);
			continue;
		}
		be->ckpt_head = p->ckpt_next;
		if (be->ckpt_head == NULL)
			be->ckpt_tail = NULL;
		p->ckpt_next = NULL;
		if (p->idle == NULL && p->open >= p->max) {
			/* to the back of the queue: a busy tenant does not hold up the others */
			if (be->ckpt_tail != NULL)
				be->ckpt_tail->ckpt_next = p;
			else
				be->ckpt_head = p;
			be->ckpt_tail = p;
			if (++stuck >= CKPT_STUCK_PAUSE) {
				struct timespec ts = kura_deadline_us(CLOCK_REALTIME, 10 * 1000);

				stuck = 0;
				(void)pthread_cond_timedwait(&be->ckpt_cond, &be->mu, &ts);
			}
			continue;
		}
		stuck = 0;
		p->ckpt_queued = false;
		pages = p->ckpt_pages;
		p->ckpt_pages = 0;
		if (pool_get(be, p, &c) != KURA_OK)
			continue;
		pthread_mutex_unlock(&be->mu);
		rc = kura_sqlite_checkpoint(c->db, "main", pages);
		if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
			kura_log(KURA_LOG_WARN, "checkpoint_failed", "tenant=%s rc=%d",
				 p->tenant_id, rc);
		pthread_mutex_lock(&be->mu);
		make_idle(be, c);
		victim = evict(be);
		if (victim != NULL) {
			pthread_mutex_unlock(&be->mu);
			kura_sqlite_conn_close(victim);
			pthread_mutex_lock(&be->mu);
		}
	}
	pthread_mutex_unlock(&be->mu);
	return NULL;
}

bool
kura_sqlite_checkpointer_start(struct kura_sqlite_be *be)
{
	if (pthread_cond_init(&be->ckpt_cond, NULL) != 0)
		return false;
	be->ckpt_stop = false;
	be->ckpt_running = true;
	if (pthread_create(&be->ckpt_thread, NULL, checkpointer, be) != 0) {
		be->ckpt_running = false;
		pthread_cond_destroy(&be->ckpt_cond);
		return false;
	}
	return true;
}

void
kura_sqlite_checkpointer_stop(struct kura_sqlite_be *be)
{
	if (!be->ckpt_running)
		return;
	pthread_mutex_lock(&be->mu);
	be->ckpt_stop = true;
	pthread_cond_signal(&be->ckpt_cond);
	pthread_mutex_unlock(&be->mu);
	pthread_join(be->ckpt_thread, NULL);
	be->ckpt_running = false;
	pthread_cond_destroy(&be->ckpt_cond);
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
			pool_hook(c);
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
		p->be = be;
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
	/* A transaction left open would leak into the next holder's work (and keep the writer). */
	if (c->wslot != NULL || !sqlite3_get_autocommit(c->db)) {
		kura_log(KURA_LOG_WARN, "store_tx_left_open", "tenant=%s action=rollback",
			 c->pool != NULL && c->pool->kind == KURA_SQ_TENANT ? c->pool->tenant_id
									 : "-");
		kura_sqlite_op_rollback(c);
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

/*
 * Exchanges the SQLite connections (and everything that goes with one:
 * statements, pending unlinks, busy flag) of a and b; each keeps its place
 * in the pool's lists.
 */
static void
swap_state(struct kura_sqlite_conn *a, struct kura_sqlite_conn *b)
{
	struct kura_sqlite_conn t = *a;

	*a = *b;
	*b = t;
	/* the links stay with the structs */
	b->pool = a->pool;
	a->pool = t.pool;
	b->next_idle = a->next_idle;
	a->next_idle = t.next_idle;
	b->lru_prev = a->lru_prev;
	a->lru_prev = t.lru_prev;
	b->lru_next = a->lru_next;
	a->lru_next = t.lru_next;
	b->wslot = a->wslot;
	a->wslot = t.wslot;
	kura_sqlite_busy_rebind(a);
	kura_sqlite_busy_rebind(b);
}

enum kura_err
kura_sqlite_writer_take(struct kura_sqlite_conn *c, bool nowait, bool *took)
{
	struct kura_sqlite_pool *p = c->pool;
	struct kura_sqlite_be *be;
	struct kura_sqlite_conn *w;
	struct timespec until;
	enum kura_err e = KURA_OK;
	char err[512];

	*took = false;
	if (p == NULL || p->kind != KURA_SQ_TENANT || p->be == NULL || c->wslot != NULL)
		return KURA_OK;
	be = p->be;
	pthread_mutex_lock(&be->mu);
	if (p->writer_busy && !nowait) {
		until = kura_deadline_us(CLOCK_MONOTONIC, KURA_SQ_BUSY_TIMEOUT_MS * 1000LL);
		while (p->writer_busy &&
		       pthread_cond_timedwait(&p->wcond, &be->mu, &until) != ETIMEDOUT)
			;
	}
	if (p->writer_busy) {
		pthread_mutex_unlock(&be->mu);
		if (nowait)
			return KURA_E_BUSY;
		/* as a BEGIN answers once its busy wait has given up: the store is overloaded */
		kura_log(KURA_LOG_ERROR, "store_error", "op=begin tenant=%s msg=writer_busy",
			 p->tenant_id);
		kura_metrics_store_error();
		return KURA_E_UNAVAILABLE;
	}
	p->writer_busy = true;
	w = p->writer;
	if (w != NULL)
		lru_remove(be, w);
	pthread_mutex_unlock(&be->mu);
	if (w == NULL) {
		err[0] = '\0';
		e = kura_sqlite_conn_open(p->path, KURA_SQ_TENANT, p->tenant_id, &w, err,
					  sizeof(err));
		if (e != KURA_OK) {
			char q[600];

			kura_log(KURA_LOG_ERROR, "store_open_failed", "tenant=%s err=%s",
				 p->tenant_id, kura_log_quote(q, sizeof(q), err));
			pthread_mutex_lock(&be->mu);
			p->writer_busy = false;
			pthread_cond_signal(&p->wcond);
			pthread_mutex_unlock(&be->mu);
			return e;
		}
		w->pool = p;
		pool_hook(w);
		pthread_mutex_lock(&be->mu);
		p->writer = w;
		pthread_mutex_unlock(&be->mu);
	}
	swap_state(c, w);
	c->wslot = w;
	*took = true;
	return KURA_OK;
}

void
kura_sqlite_writer_give(struct kura_sqlite_conn *c)
{
	struct kura_sqlite_conn *w = c->wslot, *victim;
	struct kura_sqlite_pool *p = c->pool;
	struct kura_sqlite_be *be = p->be;

	c->wslot = NULL;
	swap_state(c, w);
	pthread_mutex_lock(&be->mu);
	p->writer_busy = false;
	lru_push(be, w);
	victim = evict(be);
	pthread_cond_signal(&p->wcond);
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
