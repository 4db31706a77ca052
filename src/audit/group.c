/*
 * Group commit of audit entries. A reply that shows sensitive values may
 * leave only once its record.read_sensitive entry is committed, and an
 * append that is not part of a change is a write transaction of its own:
 * under load, reads of one tenant then queue one by one on its write lock.
 * Here the appends of one tenant that arrive together share a transaction:
 * the first caller to find no commit under way becomes the leader, takes
 * the write lock, then takes every entry queued by then (its own and those
 * that arrived while it waited for the lock), chains them in arrival order
 * and commits once; the others wait on the tenant's condition variable and
 * get the outcome of the transaction that carried their entry. Nothing is
 * queued past its caller's return: an entry is committed, or its caller is
 * told it failed.
 *
 * With a mover (kura_audit_group_start, in kurad), these entries record
 * reads, and they go to the tenant's audit spool instead
 * (kura_store_audit_spool: one write to a file of its own by the caller's
 * thread, no transaction, no lock of the tenant's): a commit to the
 * tenant's database would make every connection reading it drop its page
 * cache and memory map. The mover thread moves each tenant's spool into
 * the chain once its oldest entry is SPOOL_MOVE_US old or
 * SPOOL_MOVE_ENTRIES wait, in one transaction (appends go on meanwhile),
 * and everything at stop; a change's transaction and any reader of the log
 * move it first too (audit.c), so the chain keeps the order in which
 * things happened.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_int.h"
#include "kura/clock.h"
#include "kura/audit.h"
#include "kura/log.h"

struct waiter {
	struct kura_audit_entry *e;
	bool set_ts;
	bool done;
	enum kura_err err;
	struct waiter *next;
};

/* A tenant whose spool the mover has to move (g->spooled). */
struct spooled {
	char tenant[KURA_TENANT_ID_MAX + 1];
	struct spooled *next;
};

/* One tenant's queue. */
struct tenant_q {
	char tenant[KURA_TENANT_ID_MAX + 1];
	pthread_cond_t cond;
	struct waiter *head;
	struct waiter **tail;
	bool busy;                /* a leader is committing */
	struct tenant_q *next;
};

struct kura_audit_group {
	pthread_mutex_t mu;       /* guards everything below and every queue */
	struct tenant_q *tenants;
	uint64_t batches;
	uint64_t entries;
	/* the mover thread (kura_audit_group_start) */
	struct kura_store *store;
	bool threaded;
	bool stop;
	struct spooled *spooled;  /* tenants with entries in their spool */
	pthread_t mover;
	pthread_cond_t mwork;     /* the mover waits on it for spooled tenants, or stop */
};

/*
 * A tenant's spool is moved into its chain once the oldest entry there is
 * SPOOL_MOVE_US old or SPOOL_MOVE_ENTRIES wait; the mover looks every
 * SPOOL_TICK_US. Each move is one commit to the tenant's database (which
 * its readers then map again), a few times a second under load instead of
 * a thousand. After each of those commits every reader of the tenant
 * faults in again the pages it walks: at 100,000 records, GETs of
 * sensitive values were 1.51x as slow as plain ones with moves every
 * 500 ms or 8,192 entries, 1.36x every second or 16,384 (1.33x every 2 s;
 * bench/README.md).
 * A move holds the tenant's write lock while it chains, some 16 us an
 * entry on a loaded 2-CPU machine: 16,384 keep the tenant's writers
 * waiting up to about 0.26 s, under a flood of reads only. A tenant whose
 * write lock another holds (a long import, say) is not waited for: its
 * spool is moved on a later tick.
 */
#define SPOOL_MOVE_US 1000000
#define SPOOL_MOVE_ENTRIES 16384
#define SPOOL_TICK_US 50000

enum kura_err
kura_audit_group_new(struct kura_audit_group **out)
{
	struct kura_audit_group *g;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return KURA_E_NOMEM;
	if (pthread_mutex_init(&g->mu, NULL) != 0) {
		free(g);
		return KURA_E_INTERNAL;
	}
	*out = g;
	return KURA_OK;
}

static void move_spooled(struct kura_audit_group *g, bool all);

void
kura_audit_group_free(struct kura_audit_group *g)
{
	struct tenant_q *q, *next;

	if (g == NULL)
		return;
	if (g->threaded) {
		pthread_mutex_lock(&g->mu);
		g->stop = true;
		pthread_cond_signal(&g->mwork);
		pthread_mutex_unlock(&g->mu);
		pthread_join(g->mover, NULL);
		/* Then every spool goes into its chain. */
		pthread_mutex_lock(&g->mu);
		move_spooled(g, true);
		pthread_mutex_unlock(&g->mu);
		pthread_cond_destroy(&g->mwork);
	}
	for (q = g->tenants; q != NULL; q = next) {
		next = q->next;
		pthread_cond_destroy(&q->cond);
		free(q);
	}
	while (g->spooled != NULL) {
		struct spooled *sp = g->spooled;

		g->spooled = sp->next;
		free(sp);
	}
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/* The tenant's queue, made on first use; NULL when out of memory. g->mu is held. */
static struct tenant_q *
queue_of(struct kura_audit_group *g, const char *tenant)
{
	struct tenant_q *q;

	for (q = g->tenants; q != NULL; q = q->next) {
		if (strcmp(q->tenant, tenant) == 0)
			return q;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return NULL;
	if (pthread_cond_init(&q->cond, NULL) != 0) {
		free(q);
		return NULL;
	}
	memcpy(q->tenant, tenant, strlen(tenant) + 1);
	q->tail = &q->head;
	q->next = g->tenants;
	g->tenants = q;
	return q;
}

/*
 * Remembers that tenant's spool holds entries for the mover (g->mu held),
 * in node when one is given (taken either way), else in a new one.
 */
static void
note_spooled(struct kura_audit_group *g, const char *tenant, struct spooled *node)
{
	struct spooled *sp;

	for (sp = g->spooled; sp != NULL; sp = sp->next) {
		if (strcmp(sp->tenant, tenant) == 0) {
			free(node);
			return;
		}
	}
	/* Out of memory: the tenant's next change, log reader or seal moves them instead. */
	sp = node != NULL ? node : calloc(1, sizeof(*sp));
	if (sp == NULL)
		return;
	if (sp != node)
		memcpy(sp->tenant, tenant, strlen(tenant) + 1);
	/* the mover waits for a first one */
	if (g->spooled == NULL)
		pthread_cond_signal(&g->mwork);
	sp->next = g->spooled;
	g->spooled = sp;
}

/* Appends e to db's spool, for the mover to move into the chain. */
static enum kura_err
spool(struct kura_audit_group *g, struct kura_tenant_db *db, const struct kura_audit_entry *e)
{
	enum kura_err err = KURA_OK;

#ifndef KURA_BENCH_NO_AUDIT
	/* (in such builds, as kura_audit_chain_in_tx: nothing is written) */
	err = kura_store_audit_spool(db, &e, 1);
#endif
	pthread_mutex_lock(&g->mu);
	if (err == KURA_OK)
		note_spooled(g, kura_store_tenant_id(db), NULL);
	g->batches++;
	g->entries++;
	pthread_mutex_unlock(&g->mu);
	return err;
}

/*
 * The leader's work, without g->mu: the queue as it is once the leader
 * holds the write lock, committed at once. Returns the batch taken (the
 * leader's own waiter is in it).
 */
static struct waiter *
commit_batch(struct kura_audit_group *g, struct tenant_q *q, struct kura_tenant_db *db,
	     size_t *n)
{
	struct waiter *batch, *w;
	enum kura_err err;

	*n = 0;
	err = kura_store_begin(db);
	pthread_mutex_lock(&g->mu);
	batch = q->head;
	q->head = NULL;
	q->tail = &q->head;
	pthread_mutex_unlock(&g->mu);
	for (w = batch; w != NULL; w = w->next)
		(*n)++;
	for (w = batch; err == KURA_OK && w != NULL; w = w->next)
		err = kura_audit_chain_in_tx(db, w->e);
	if (err == KURA_OK)
		err = kura_store_commit(db);
	if (err != KURA_OK && kura_store_in_transaction(db))
		kura_store_rollback(db);
	/* One transaction: every entry in it shares its outcome. */
	for (w = batch; w != NULL; w = w->next) {
		w->err = err;
		if (err != KURA_OK)
			kura_audit_failed(w->e, w->set_ts);
	}
	return batch;
}

enum kura_err
kura_audit_append_grouped(struct kura_audit_group *g, struct kura_tenant_db *db,
			  struct kura_audit_entry *e)
{
	struct waiter me = {0};
	struct tenant_q *q;
	const char *tenant;
	enum kura_err err;

	/* Inside a change's transaction the entry belongs to that transaction. */
	if (g == NULL || db == NULL || e == NULL || kura_store_in_transaction(db))
		return kura_audit_append(db, e);
	tenant = kura_store_tenant_id(db);
	if (tenant == NULL || strlen(tenant) > KURA_TENANT_ID_MAX)
		return kura_audit_append(db, e);
	/* A malformed entry fails alone, before it can share anyone's transaction. */
	err = kura_audit_prepare(e, &me.set_ts);
	if (err != KURA_OK) {
		kura_audit_failed(e, me.set_ts);
		return err;
	}
	if (g->threaded) {
		/* Into the spool at once: an append of its own, no transaction to share. */
		err = spool(g, db, e);
		if (err != KURA_OK)
			kura_audit_failed(e, me.set_ts);
		return err;
	}
	me.e = e;
	pthread_mutex_lock(&g->mu);
	q = queue_of(g, tenant);
	if (q == NULL) {
		pthread_mutex_unlock(&g->mu);
		kura_audit_failed(e, me.set_ts);
		return KURA_E_NOMEM;
	}
	*q->tail = &me;
	q->tail = &me.next;
	while (!me.done) {
		struct waiter *batch, *w, *next;
		size_t n;

		if (q->busy) {
			pthread_cond_wait(&q->cond, &g->mu);
			continue;
		}
		q->busy = true;
		pthread_mutex_unlock(&g->mu);
		batch = commit_batch(g, q, db, &n);
		pthread_mutex_lock(&g->mu);
		for (w = batch; w != NULL; w = next) {
			/* w belongs to its caller, who may return as soon as done is set. */
			next = w->next;
			w->done = true;
		}
		g->batches++;
		g->entries += n;
		q->busy = false;
		/* The waiters of this batch return; the first of any others leads next. */
		pthread_cond_broadcast(&q->cond);
	}
	pthread_mutex_unlock(&g->mu);
	return me.err;
}

void
kura_audit_group_stats(struct kura_audit_group *g, uint64_t *batches, uint64_t *entries)
{
	*batches = 0;
	*entries = 0;
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	*batches = g->batches;
	*entries = g->entries;
	pthread_mutex_unlock(&g->mu);
}

size_t
kura_audit_group_queued(struct kura_audit_group *g, const char *tenant)
{
	struct tenant_q *q;
	struct waiter *w;
	size_t n = 0;

	if (g == NULL || tenant == NULL)
		return 0;
	pthread_mutex_lock(&g->mu);
	for (q = g->tenants; q != NULL; q = q->next) {
		if (strcmp(q->tenant, tenant) != 0)
			continue;
		for (w = q->head; w != NULL; w = w->next)
			n++;
	}
	pthread_mutex_unlock(&g->mu);
	return n;
}

/* ------------------------------------------------------------ the mover thread */

/*
 * Moves one tenant's spool into its chain when it is due (or always, with
 * all: at stop, waiting for the write lock). True when the tenant needs no
 * further move: nothing is left in its spool.
 */
static bool
move_tenant(struct kura_audit_group *g, const char *tenant, bool all)
{
	struct kura_tenant_db *db = NULL;
	int64_t since = 0, count = 0, t0;
	enum kura_err err;
	size_t moved = 0;
	bool done = false;

	if (kura_store_tenant_acquire(g->store, tenant, &db) != KURA_OK)
		return true; /* gone (deleted), or its database unreadable: logged there */
	if (!kura_store_audit_spooled(db, &since, &count)) {
		done = true;
		goto out;
	}
	if (!all && count < SPOOL_MOVE_ENTRIES && kura_mono_us() - since < SPOOL_MOVE_US)
		goto out;
	/* A tenant whose write lock another holds is tried again at the next tick. */
	err = all ? kura_store_begin(db) : kura_store_begin_nowait(db);
	t0 = kura_mono_us();
	if (err == KURA_OK)
		err = kura_audit_unspool_in_tx(db, &moved);
	if (err == KURA_OK)
		err = kura_store_commit(db);
	if (err != KURA_OK && kura_store_in_transaction(db))
		kura_store_rollback(db);
	/* how long the tenant's writers waited for it */
	if (err == KURA_OK && moved > 0)
		kura_log(KURA_LOG_DEBUG, "audit_spool_moved", "tenant=%s entries=%zu us=%lld",
			 tenant, moved, (long long)(kura_mono_us() - t0));
	done = err == KURA_OK && !kura_store_audit_spooled(db, NULL, NULL);
out:
	kura_store_tenant_release(db);
	return done;
}

/* Every spooled tenant's move, when due (all: every one); g->mu held, dropped meanwhile. */
static void
move_spooled(struct kura_audit_group *g, bool all)
{
	struct spooled *list = g->spooled, *sp, *next, *keep = NULL;

	g->spooled = NULL;
	pthread_mutex_unlock(&g->mu);
	for (sp = list; sp != NULL; sp = next) {
		next = sp->next;
		if (move_tenant(g, sp->tenant, all)) {
			free(sp);
		} else {
			sp->next = keep;
			keep = sp;
		}
	}
	pthread_mutex_lock(&g->mu);
	/* back on the list, unless spooled again meanwhile (then it is there already) */
	for (sp = keep; sp != NULL; sp = next) {
		next = sp->next;
		note_spooled(g, sp->tenant, sp);
	}
}

/*
 * The mover: every SPOOL_TICK_US while some tenant has spooled entries,
 * the moves that are due (appends go on while a spool is being chained).
 * What is left at stop is moved by kura_audit_group_free.
 */
static void *
mover(void *arg)
{
	struct kura_audit_group *g = arg;
	struct timespec until;

	pthread_mutex_lock(&g->mu);
	while (!g->stop) {
		if (g->spooled == NULL) {
			pthread_cond_wait(&g->mwork, &g->mu);
			continue;
		}
		until = kura_deadline_us(CLOCK_MONOTONIC, SPOOL_TICK_US);
		while (!g->stop && pthread_cond_timedwait(&g->mwork, &g->mu, &until) == 0)
			;
		if (!g->stop)
			move_spooled(g, false);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

enum kura_err
kura_audit_group_start(struct kura_store *store, struct kura_audit_group **out)
{
	struct kura_audit_group *g = NULL;
	enum kura_err err;

	*out = NULL;
	if (store == NULL)
		return KURA_E_INTERNAL;
	err = kura_audit_group_new(&g);
	if (err != KURA_OK)
		return err;
	g->store = store;
	{
		/* the mover's deadlines are on the monotonic clock */
		pthread_condattr_t ca;
		bool ok = pthread_condattr_init(&ca) == 0, mwork = false;

		ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0;
		mwork = ok && pthread_cond_init(&g->mwork, &ca) == 0;
		pthread_condattr_destroy(&ca);
		if (!mwork) {
			kura_audit_group_free(g);
			return KURA_E_INTERNAL;
		}
	}
	if (pthread_create(&g->mover, NULL, mover, g) != 0) {
		pthread_cond_destroy(&g->mwork);
		kura_audit_group_free(g);
		return KURA_E_INTERNAL;
	}
	g->threaded = true;
	*out = g;
	return KURA_OK;
}
