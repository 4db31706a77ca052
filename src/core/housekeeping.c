/*
 * Housekeeping: a thread that, every housekeeping_seconds, visits each
 * tenant and purges the records archived longer than the restore window
 * (90 days), and drops Idempotency-Key replies older than a day. Each
 * purge round is one transaction with one audit entry per object type
 * (actor "system", action record.purge_expired, how many). It re-encrypts
 * sensitive values left under an older data key after a rotation, and
 * refreshes SQLite's planner statistics (ANALYZE) once an hour, or sooner
 * when a tenant has doubled in size (checked every minute). It
 * encrypts the values of properties whose sensitive flag was turned on
 * while they held values (core/sensitive_flag.c), and moves blind indexes to
 * the newer key kura keys rotate-index asked for. Once a day it deletes the
 * consumer access log's rows older than KURA_FORM_ACCESS_KEEP_DAYS.
 *
 * Both of those read whole tables, so the housekeeper remembers per tenant
 * what it need not do again: the data-key version it found every value
 * under (no scan until the tenant's current version changes), and when it
 * last analysed. Purges and reply expiry run every round.
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
#include "kura/crypto.h"
#include "kura/log.h"
#include "kura/mfa.h"

#define IDEM_KEEP_US (24LL * 3600 * 1000000)
#define PURGE_PER_ROUND 256
#define ANALYZE_EVERY_US (3600LL * 1000000)
/* ... or sooner when the tenant has at least doubled (and by this many records) since. */
#define ANALYZE_GROWTH_MIN 1000
#define SETTLE_US ((int64_t)KURA_REKEY_SETTLE_SECONDS * 1000000)
#define DAY_US (24LL * 3600 * 1000000)
#define ACCESS_PURGE_BATCH 5000

/* What the housekeeper remembers of one tenant. */
struct memo {
	char tenant[KURA_TENANT_ID_MAX + 1];
	uint32_t seen_version;    /* the current data-key version when last visited */
	int64_t seen_at;          /* when seen_version was first seen (kura_now_us) */
	bool rekeyed;             /* every value is under seen_version: no scan needed */
	int64_t hist_after;       /* history re-sealed up to this entry id for seen_version */
	bool hist_final;          /* the pass from the start that may end the re-sealing */
	int64_t analyzed_at;      /* last ANALYZE; 0 = never */
	int64_t analyzed_size;    /* records ever created (all types) at the last ANALYZE */
	int64_t access_purged_at; /* last purge of the consumer access log; 0 = never */
};

struct kura_housekeeper {
	struct kura_store *store;
	struct kura_field_keys *keys;
	unsigned interval_s;
	bool threaded;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	/* used by the round only (one at a time) */
	struct memo *memo;
	size_t nmemo, capmemo;
	struct kura_housekeeping_stats stats;
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

/* The memo of tenant, made on first visit; NULL when out of memory. */
static struct memo *
memo_of(struct kura_housekeeper *h, const char *tenant)
{
	for (size_t i = 0; i < h->nmemo; i++) {
		if (strcmp(h->memo[i].tenant, tenant) == 0)
			return &h->memo[i];
	}
	if (h->nmemo == h->capmemo) {
		size_t cap = h->capmemo ? h->capmemo * 2 : 16;
		struct memo *nm = realloc(h->memo, cap * sizeof(*nm));

		if (nm == NULL)
			return NULL;
		h->memo = nm;
		h->capmemo = cap;
	}
	memset(&h->memo[h->nmemo], 0, sizeof(h->memo[0]));
	snprintf(h->memo[h->nmemo].tenant, sizeof(h->memo[0].tenant), "%s", tenant);
	return &h->memo[h->nmemo++];
}

/*
 * An audit entry by "system" in the caller's transaction: action on
 * target_type target_id (may be NULL), props saying what (may be NULL).
 */
static enum kura_err
system_audit(struct kura_tenant_db *db, const char *action, const char *target_type,
	     const char *target_id, const char *props)
{
	struct kura_audit_entry ae;
	size_t tl;

	memset(&ae, 0, sizeof(ae));
	ae.actor_type = KURA_ACTOR_SYSTEM;
	snprintf(ae.action, sizeof(ae.action), "%s", action);
	snprintf(ae.target_type, sizeof(ae.target_type), "%s", target_type);
	if (target_id != NULL) {
		tl = strnlen(target_id, sizeof(ae.target_id) - 1);
		memcpy(ae.target_id, target_id, tl);
		ae.target_id[tl] = '\0';
	}
	if (props != NULL)
		snprintf(ae.target_props, sizeof(ae.target_props), "%s", props);
	ae.outcome = KURA_AUDIT_SUCCESS;
	return kura_audit_append(db, &ae);
}

#define REKEY_PER_TRANSACTION 500

/* The least pause between two transactions of a job (see pause_between). */
#define JOB_GAP_US 5000

/*
 * Between two transactions of a job: a job that took the write lock again
 * at once would starve the requests waiting for it. Pauses as long as the
 * transaction took, so that requests have the lock at least half the time,
 * and never less than JOB_GAP_US: a writer waiting in the store's busy
 * handler tries again every 0.2 ms for its first 10 ms (1 ms after), so it
 * gets the lock within the pause. False when kurad is stopping (the job
 * goes on at the next start).
 */
static bool
pause_between(struct kura_housekeeper *h, int64_t took_us)
{
	int64_t wait = took_us > JOB_GAP_US ? took_us : JOB_GAP_US;
	struct timespec until;
	bool go;

	if (!h->threaded)
		return true;
	until = kura_deadline_us(CLOCK_REALTIME, wait);
	pthread_mutex_lock(&h->lock);
	while (!h->stop && pthread_cond_timedwait(&h->cond, &h->lock, &until) != ETIMEDOUT)
		;
	go = !h->stop;
	pthread_mutex_unlock(&h->lock);
	return go;
}

#define SEALED_PER_TRANSACTION 100

struct sealed_batch {
	struct kura_sealed_row rows[SEALED_PER_TRANSACTION];
	uint8_t *copies[SEALED_PER_TRANSACTION];
	size_t n;
	enum kura_err e;
};

static bool
collect_sealed(void *ctx, const struct kura_sealed_row *r)
{
	struct sealed_batch *b = ctx;

	if (b->n == SEALED_PER_TRANSACTION)
		return false;
	b->copies[b->n] = malloc(r->n + 1);
	if (b->copies[b->n] == NULL) {
		b->e = KURA_E_NOMEM;
		return false;
	}
	memcpy(b->copies[b->n], r->ct, r->n);
	b->rows[b->n] = *r;
	b->rows[b->n].ct = b->copies[b->n];
	b->n++;
	return true;
}

static void
sealed_free(struct sealed_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->copies[i]);
	b->n = 0;
}

/* One value of a kind sealed again under x's version, if it is still the one read. */
static enum kura_err
reseal_one(const struct kura_rec_ctx *x, int kind, const struct kura_sealed_row *r)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	const char *tenant = kura_store_tenant_id(x->db), *object = NULL;
	struct kura_field_ctx f;
	char name[64];
	uint8_t *nct = NULL;
	size_t nn = 0;
	enum kura_err e;

	if (kind == KURA_SEALED_MFA_SECRET) {
		kura_mfa_secret_ctx(&f, tenant, x->key_version, r->id);
	} else {
		const struct kura_object *o = kura_catalog_object_by_id(x->cat, r->object_id);

		if (o == NULL)
			return KURA_E_INTERNAL;
		object = o->row.name;
		kura_attachment_field_ctx(&f, name, sizeof(name), tenant, x->key_version, object,
					  r->record_id, r->id, kind == KURA_SEALED_ATTACHMENT_NAME);
	}
	e = kura_field_reseal(x->keys, &f, r->ct, r->n, &nct, &nn);
	if (e == KURA_OK)
		e = ops->sealed_replace(conn, kind, r->id, r->ct, r->n, nct, nn);
	free(nct);
	return e;
}

/*
 * Authenticator secrets and attachment keys and names still under an older
 * data key, re-sealed SEALED_PER_TRANSACTION per short transaction.
 */
static enum kura_err
rekey_sealed(struct kura_housekeeper *h, const struct kura_rec_ctx *x)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(x->db, &conn);
	struct sealed_batch *b = calloc(1, sizeof(*b));
	enum kura_err e = KURA_OK;
	int64_t took = 0;

	if (b == NULL)
		return KURA_E_NOMEM;
	for (int kind = 0; e == KURA_OK && kind < KURA_SEALED__COUNT; kind++) {
		for (;;) {
			int64_t began;
			size_t n;

			b->e = KURA_OK;
			e = ops->sealed_stale(conn, kind, x->key_version, SEALED_PER_TRANSACTION,
					      collect_sealed, b);
			if (e == KURA_OK)
				e = b->e;
			n = b->n;
			if (e != KURA_OK || n == 0)
				break;
			if (took > 0 && !pause_between(h, took)) {
				sealed_free(b);
				free(b);
				return KURA_OK; /* stopping: the next start goes on */
			}
			began = kura_now_us();
			e = kura_store_begin(x->db);
			for (size_t i = 0; e == KURA_OK && i < n; i++)
				e = reseal_one(x, kind, &b->rows[i]);
			e = kura_store_finish(x->db, e);
			took = kura_now_us() - began + 1;
			sealed_free(b);
			if (e != KURA_OK)
				break;
			h->stats.sealed_rekeyed += n;
			if (n < SEALED_PER_TRANSACTION)
				break;
		}
	}
	sealed_free(b);
	free(b);
	return e;
}

#define HISTORY_PER_TRANSACTION 200

/*
 * The history's sealed values under an older data key, re-sealed in short
 * transactions (the lock let go in between), walking the history by id
 * from where the last round stopped (entries are appended, so those
 * written meanwhile come after the cursor). Done for this version -- the
 * values' scan has found nothing left -- once a round that started late
 * enough that no request which read the older version can still be writing
 * (SETTLE_US) has walked the whole history from its start.
 */
static enum kura_err
rekey_history(struct kura_housekeeper *h, struct memo *m, const struct kura_rec_ctx *x,
	      int64_t started)
{
	int64_t after = m != NULL ? m->hist_after : 0, took = 0;
	bool settled = m != NULL && started - m->seen_at >= SETTLE_US, more = true;
	enum kura_err e = KURA_OK;

	if (settled && !m->hist_final) {
		m->hist_final = true;
		after = 0;
	}
	while (e == KURA_OK && more) {
		size_t n = 0;
		int64_t began;

		if (took > 0 && !pause_between(h, took))
			return KURA_OK; /* stopping: the next start goes on */
		began = kura_now_us();
		e = kura_store_begin(x->db);
		if (e == KURA_OK)
			e = kura_sensitive_rekey_history(x, HISTORY_PER_TRANSACTION, &after, &n,
							 &more);
		e = kura_store_finish(x->db, e);
		took = kura_now_us() - began + 1;
		if (e != KURA_OK)
			break;
		h->stats.history_rekeyed += n;
		if (m != NULL)
			m->hist_after = after;
	}
	if (e == KURA_OK && m != NULL && m->hist_final)
		m->rekeyed = true;
	return e;
}

/*
 * Values still under an older data key, re-encrypted in short transactions
 * so that requests keep being served in between. Skipped when the current
 * version is 1 (there is no older one) or when m says every value is under
 * it already.
 */
static enum kura_err
rekey(struct kura_housekeeper *h, struct memo *m, struct kura_tenant_db *db,
      const struct kura_catalog *cat, const char *tenant, size_t *total)
{
	struct kura_rec_ctx x;
	struct kura_tenant t;
	struct kura_rekey_cursor cur = {0, 0};
	int64_t started = kura_now_us(), took = 0;
	size_t n = 0;
	enum kura_err e;

	*total = 0;
	if (h->keys == NULL)
		return KURA_OK;
	e = kura_store_tenant_get(h->store, tenant, &t);
	if (e != KURA_OK)
		return e;
	if (m != NULL && m->seen_version != t.key_version) {
		/* A rotation (or the first visit): what was found before says nothing now. */
		m->seen_version = t.key_version;
		m->seen_at = started;
		m->rekeyed = false;
		m->hist_after = 0;
		m->hist_final = false;
	}
	if (t.key_version <= 1 || (m != NULL && m->rekeyed))
		return KURA_OK;
	h->stats.rekey_scans++;
	memset(&x, 0, sizeof(x));
	x.db = db;
	x.cat = cat;
	x.keys = h->keys;
	x.key_version = t.key_version;
	/* one walk through the values per round, the lock let go between transactions */
	do {
		int64_t began;

		if (took > 0 && !pause_between(h, took))
			return KURA_OK; /* stopping: the next start goes on */
		began = kura_now_us();
		e = kura_store_begin(db);
		if (e == KURA_OK)
			e = kura_sensitive_rekey(&x, REKEY_PER_TRANSACTION, &cur, &n);
		e = kura_store_finish(db, e);
		took = kura_now_us() - began + 1;
		if (e == KURA_OK)
			*total += n;
	} while (e == KURA_OK && n == REKEY_PER_TRANSACTION);
	h->stats.values_rekeyed += *total;
	if (e == KURA_OK)
		e = rekey_sealed(h, &x);
	if (e == KURA_OK)
		e = rekey_history(h, m, &x, started);
	return e;
}

/*
 * Properties whose sensitive flag was turned on while they held values:
 * their values in clear are encrypted KURA_ENC_BATCH per transaction,
 * and the end is audited (actor "system", property.encrypted) in the
 * transaction that finds nothing left. The state is in the database, so
 * a job cut short by a shutdown goes on at the next start.
 */
static enum kura_err
encrypt_flagged(struct kura_housekeeper *h, struct kura_tenant_db *db,
		const struct kura_catalog *cat, const char *tenant)
{
	struct kura_tenant t;
	enum kura_err e = KURA_OK;
	bool any = false, stopping = false;
	int64_t took = 0;

	for (size_t i = 0; i < cat->nprops && !any; i++)
		any = cat->props[i].row.enc_state == KURA_ENC_PENDING;
	if (!any || h->keys == NULL)
		return KURA_OK;
	e = kura_store_tenant_get(h->store, tenant, &t);
	for (size_t i = 0; e == KURA_OK && i < cat->nprops; i++) {
		const struct kura_prop *p = &cat->props[i];
		enum kura_enc_step step = KURA_ENC_MORE;
		struct kura_rec_ctx x;
		size_t n = 0, total = 0;

		if (stopping)
			break;
		if (p->row.enc_state != KURA_ENC_PENDING || !p->row.sensitive)
			continue;
		memset(&x, 0, sizeof(x));
		x.db = db;
		x.cat = cat;
		x.keys = h->keys;
		x.key_version = t.key_version;
		x.now = kura_now_us();
		x.obj = kura_catalog_object_by_id(cat, p->row.object_id);
		if (x.obj == NULL)
			continue;
		while (e == KURA_OK && step == KURA_ENC_MORE) {
			int64_t began;

			/* after any transaction of this round, the lock is let go a while */
			if (took > 0 && !pause_between(h, took)) {
				stopping = true;
				break;
			}
			began = kura_now_us();
			e = kura_store_begin(db);
			if (e == KURA_OK)
				e = kura_sensitive_flag_step(&x, p, KURA_ENC_BATCH, &n, &step);
			if (e == KURA_OK && step == KURA_ENC_FINISHED) {
				char target[KURA_OBJECT_NAME_MAX + KURA_PROP_NAME_MAX + 2];

				snprintf(target, sizeof(target), "%s.%s", x.obj->row.name,
					 p->row.name);
				e = system_audit(db, "property.encrypted", "property", target, NULL);
			}
			e = kura_store_finish(db, e);
			took = kura_now_us() - began + 1;
			if (e == KURA_OK)
				total += n;
		}
		h->stats.values_encrypted += total;
		if (e == KURA_OK && step == KURA_ENC_FINISHED)
			kura_log(KURA_LOG_INFO, "property_encrypted", "tenant=%s property=%s.%s "
				 "values=%zu", tenant, x.obj->row.name, p->row.name, total);
	}
	return e;
}

/* Index values recomputed per batch of the blind-index rotation. */
#define BLIND_BATCH 64

struct blind_batch {
	int64_t ids[BLIND_BATCH];
	struct kura_val cts[BLIND_BATCH];
	int64_t blinds[BLIND_BATCH];
	size_t n;
	struct kura_strpool *sp;
	enum kura_err e;
};

static bool
collect_blind(void *ctx, int64_t id, const struct kura_val *v)
{
	struct blind_batch *b = ctx;

	if (b->n == BLIND_BATCH)
		return false;
	b->ids[b->n] = id;
	b->cts[b->n] = *v;
	b->cts[b->n].s = kura_strpool_dup(b->sp, v->s, v->n);
	if (b->cts[b->n].s == NULL) {
		b->e = KURA_E_NOMEM;
		return false;
	}
	b->n++;
	return true;
}

/*
 * The switch at the end of a rotation, in one transaction: if no value of
 * p is left outside the new version's range, the new version becomes the
 * only one searched (a catalogue change), audited as property.index_rotated.
 * *done says whether it switched.
 */
static enum kura_err
blind_switch(struct kura_tenant_db *db, const struct kura_rec_ctx *x, const struct kura_prop *p,
	     struct blind_batch *b, bool *done)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(db, &conn);
	int64_t lo = kura_blind_lo(p->row.bidx_next);
	enum kura_err e;

	*done = false;
	e = kura_store_begin(db);
	b->n = 0;
	if (e == KURA_OK)
		e = ops->prop_blind_stale(conn, p->row.object_id, p->row.id, lo, lo + KURA_BLIND_SPAN,
					  1, collect_blind, b);
	if (e == KURA_OK && b->n == 0) {
		char target[KURA_OBJECT_NAME_MAX + KURA_PROP_NAME_MAX + 2], what[40];

		e = ops->prop_bidx_set(conn, p->row.id, p->row.bidx_next, 0, 0);
		snprintf(target, sizeof(target), "%s.%s", x->obj->row.name, p->row.name);
		snprintf(what, sizeof(what), "data key version %u", p->row.bidx_next);
		if (e == KURA_OK)
			e = system_audit(db, "property.index_rotated", "property", target, what);
		*done = e == KURA_OK;
	}
	e = kura_store_finish(db, e);
	if (e != KURA_OK)
		*done = false;
	return e;
}

/*
 * kura keys rotate-index moved a property's blind index to a newer key
 * (bidx_next): new writes use it at once, searches look values up under
 * both keys, and this job recomputes the values still under the old one.
 * It starts KURA_REKEY_SETTLE_SECONDS after the rotation was asked for, so
 * that no request which read the catalogue before (and writes or searches
 * under the old key only) is still running. The index values of a batch
 * are computed outside any transaction (for dates and numbers each is an
 * Argon2id), then written in a short one, each only if the record's value
 * is still the one they were computed from. When none is left, the switch.
 */
static enum kura_err
rotate_blind(struct kura_housekeeper *h, struct kura_tenant_db *db,
	     const struct kura_catalog *cat, int64_t now)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(db, &conn);
	enum kura_err e = KURA_OK;

	for (size_t i = 0; e == KURA_OK && i < cat->nprops; i++) {
		const struct kura_prop *p = &cat->props[i];
		struct kura_strpool sp = {0};
		struct blind_batch *b;
		struct kura_rec_ctx x;
		int64_t lo, took = 0;
		bool switched = false;

		if (!kura_prop_blind_indexed(p) || p->row.bidx_next == 0 ||
		    h->keys == NULL || now - p->row.bidx_started_at < SETTLE_US)
			continue;
		memset(&x, 0, sizeof(x));
		x.db = db;
		x.cat = cat;
		x.keys = h->keys;
		x.obj = kura_catalog_object_by_id(cat, p->row.object_id);
		if (x.obj == NULL)
			continue;
		b = calloc(1, sizeof(*b));
		if (b == NULL)
			return KURA_E_NOMEM;
		b->sp = &sp;
		lo = kura_blind_lo(p->row.bidx_next);
		while (e == KURA_OK && !switched) {
			int64_t began;

			kura_strpool_free(&sp);
			b->n = 0;
			b->e = KURA_OK;
			e = ops->prop_blind_stale(conn, p->row.object_id, p->row.id, lo,
						  lo + KURA_BLIND_SPAN, BLIND_BATCH, collect_blind, b);
			if (e == KURA_OK)
				e = b->e;
			if (e == KURA_OK && b->n == 0) {
				e = blind_switch(db, &x, p, b, &switched);
				if (e == KURA_OK && switched)
					kura_log(KURA_LOG_INFO, "blind_index_rotated",
						 "tenant=%s property=%s.%s version=%u",
						 kura_store_tenant_id(db), x.obj->row.name,
						 p->row.name, p->row.bidx_next);
				if (e == KURA_OK && !switched)
					continue; /* a value came in under the old key meanwhile */
				break;
			}
			for (size_t k = 0; e == KURA_OK && k < b->n; k++) {
				struct kura_val clear;

				e = kura_sensitive_open(&x, b->ids[k], p, &b->cts[k], &sp, &clear);
				if (e == KURA_OK)
					e = kura_sensitive_blind_at(&x, p, &clear, p->row.bidx_next,
								    &b->blinds[k]);
			}
			if (e != KURA_OK)
				break;
			if (took > 0 && !pause_between(h, took))
				break;
			began = kura_now_us();
			e = kura_store_begin(db);
			for (size_t k = 0; e == KURA_OK && k < b->n; k++)
				e = ops->prop_blind_put_if(conn, p->row.object_id, p->row.id, b->ids[k],
							   &b->cts[k], b->blinds[k]);
			e = kura_store_finish(db, e);
			took = kura_now_us() - began + 1;
			if (e == KURA_OK)
				h->stats.blind_values_rotated += b->n;
		}
		kura_strpool_free(&sp);
		free(b);
	}
	return e;
}

/* Records ever created in the tenant, all types: what its tables have grown to. */
static enum kura_err
tenant_size(struct kura_tenant_db *db, const struct kura_catalog *cat, int64_t *size)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(db, &conn);
	enum kura_err e = KURA_OK;

	*size = 0;
	for (size_t i = 0; e == KURA_OK && i < cat->nobjects; i++) {
		int64_t next = 1;

		e = ops->record_next_id(conn, cat->objects[i].row.id, &next);
		*size += next - 1;
	}
	return e;
}

/*
 * A full ANALYZE reads every index: on the first visit, then hourly, and
 * sooner only when the tenant has grown a lot since the last one (doubled,
 * and by ANALYZE_GROWTH_MIN records). Statistics taken while a table was
 * nearly empty would otherwise tell the planner that scanning it is cheap
 * for an hour while it fills. first_min: the size a tenant never analysed
 * must have (0: any).
 */
static enum kura_err
analyze_if_due(struct kura_housekeeper *h, struct memo *m, struct kura_tenant_db *db,
	       const struct kura_catalog *cat, int64_t now, int64_t first_min)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(db, &conn);
	int64_t size = 0, grown;
	enum kura_err e;

	e = tenant_size(db, cat, &size);
	if (e != KURA_OK)
		return e;
	if ((m == NULL || m->analyzed_at == 0) && size < first_min)
		return KURA_OK;
	if (m != NULL && m->analyzed_at != 0 && now - m->analyzed_at < ANALYZE_EVERY_US) {
		grown = m->analyzed_size * 2;
		if (grown < m->analyzed_size + ANALYZE_GROWTH_MIN)
			grown = m->analyzed_size + ANALYZE_GROWTH_MIN;
		if (size < grown)
			return KURA_OK;
	}
	e = ops->optimize(conn);
	if (e == KURA_OK) {
		h->stats.analyzes++;
		if (m != NULL) {
			m->analyzed_at = now;
			m->analyzed_size = size;
		}
	}
	return e;
}

/*
 * The consumer access log keeps a year: once a day (on the first visit, then
 * when a day has passed) the rows older than that go, ACCESS_PURGE_BATCH per
 * transaction with the lock let go in between, each batch with a
 * form_access.purged entry by "system" saying how many.
 */
static enum kura_err
purge_access_log(struct kura_housekeeper *h, struct memo *m, struct kura_tenant_db *db,
		 const char *tenant, int64_t now)
{
	int64_t cutoff = now - (int64_t)KURA_FORM_ACCESS_KEEP_DAYS * DAY_US, n = 0, total = 0;
	int64_t took = 0;
	enum kura_err e = KURA_OK;

	if (m != NULL && m->access_purged_at != 0 && now - m->access_purged_at < DAY_US)
		return KURA_OK;
	do {
		int64_t began;

		if (took > 0 && !pause_between(h, took))
			return KURA_OK; /* stopping: the next start goes on */
		began = kura_now_us();
		e = kura_store_begin(db);
		if (e == KURA_OK)
			e = kura_store_form_access_purge(db, cutoff, ACCESS_PURGE_BATCH, &n);
		if (e == KURA_OK && n > 0) {
			char what[64];

			snprintf(what, sizeof(what), "%lld entries older than %d days", (long long)n,
				 KURA_FORM_ACCESS_KEEP_DAYS);
			e = system_audit(db, "form_access.purged", "form_access_log", NULL, what);
		}
		e = kura_store_finish(db, e);
		took = kura_now_us() - began + 1;
		if (e == KURA_OK)
			total += n;
	} while (e == KURA_OK && n == ACCESS_PURGE_BATCH);
	if (e != KURA_OK)
		return e;
	if (m != NULL)
		m->access_purged_at = now;
	h->stats.access_rows_purged += (uint64_t)total;
	if (total > 0)
		kura_log(KURA_LOG_INFO, "form_access_purged", "tenant=%s count=%lld", tenant,
			 (long long)total);
	return KURA_OK;
}

/* Keeps the first error of a round's jobs in *first; logs every failed one. */
static void
job_done(enum kura_err *first, enum kura_err e, const char *tenant, const char *job)
{
	if (e == KURA_OK)
		return;
	kura_log(KURA_LOG_ERROR, "housekeeping_job_failed", "tenant=%s job=%s err=%s", tenant, job,
		 kura_err_name(e));
	if (*first == KURA_OK)
		*first = e;
}

/* One round for one tenant: *purged is how many records were purged. */
static enum kura_err
tend(struct kura_housekeeper *h, const char *tenant, size_t *purged)
{
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	struct memo *m;
	void *conn;
	const struct kura_crm_ops *ops;
	int64_t now = kura_now_us();
	size_t n = 0;
	enum kura_err e;

	*purged = 0;
	/* Without a memo (no memory) the round does everything, as if on first visit. */
	m = memo_of(h, tenant);
	e = kura_store_tenant_acquire(h->store, tenant, &db);
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
			char what[32];

			snprintf(what, sizeof(what), "%zu records", n);
			e = system_audit(db, "record.purge_expired", "records", NULL, what);
		}
		if (e == KURA_OK)
			e = ops->idem_expire(conn, now - IDEM_KEEP_US);
		e = kura_store_finish(db, e);
		if (e == KURA_OK)
			*purged += n;
	} while (e == KURA_OK && n == PURGE_PER_ROUND);
	/*
	 * The other jobs each on their own: one that fails every round (a
	 * damaged value it cannot open) must not stop the year's purge of the
	 * access log or the planner's statistics. The first error is returned.
	 */
	{
		size_t rekeyed = 0;

		job_done(&e, rekey(h, m, db, cat, tenant, &rekeyed), tenant, "rekey");
		if (rekeyed > 0)
			kura_log(KURA_LOG_INFO, "values_reencrypted", "tenant=%s count=%zu", tenant,
				 rekeyed);
	}
	job_done(&e, encrypt_flagged(h, db, cat, tenant), tenant, "encrypt_flagged");
	job_done(&e, rotate_blind(h, db, cat, now), tenant, "rotate_blind");
	job_done(&e, purge_access_log(h, m, db, tenant, now), tenant, "purge_access_log");
	job_done(&e, analyze_if_due(h, m, db, cat, now, 0), tenant, "analyze");
out:
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
	return e;
}

/*
 * Between rounds, every STATS_CHECK_S: only the planner's statistics, for
 * a tenant that has grown a lot since its last ANALYZE (analyze_if_due).
 * A million records imported in minutes must not be searched for up to
 * housekeeping_seconds with plans made for an empty table (an EQ on a
 * low-cardinality enumeration walked instead of a narrow date range: 7x
 * the rows at 1M).
 */
#define STATS_CHECK_S 60

void
kura_housekeeping_stats_round(struct kura_housekeeper *h)
{
	struct ids ids = {0};

	if (kura_store_tenant_list(h->store, collect, &ids) != KURA_OK)
		return;
	for (size_t i = 0; i < ids.n; i++) {
		struct kura_tenant_db *db = NULL;
		const struct kura_catalog *cat = NULL;
		struct memo *m = memo_of(h, ids.v[i]);
		enum kura_err e;

		/* one never analysed: once it holds ANALYZE_GROWTH_MIN records */
		e = kura_store_tenant_acquire(h->store, ids.v[i], &db);
		if (e == KURA_OK)
			e = kura_catalog_get(NULL, db, &cat);
		if (e == KURA_OK)
			e = analyze_if_due(h, m, db, cat, kura_now_us(), ANALYZE_GROWTH_MIN);
		if (e != KURA_OK)
			kura_log(KURA_LOG_ERROR, "housekeeping_failed", "tenant=%s job=analyze err=%s",
				 ids.v[i], kura_err_name(e));
		kura_catalog_release(NULL, cat);
		kura_store_tenant_release(db);
	}
	free(ids.v);
}

void
kura_housekeeping_round(struct kura_housekeeper *h)
{
	struct ids ids = {0};

	h->stats.rounds++;
	if (kura_store_tenant_list(h->store, collect, &ids) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "housekeeping_failed", "msg=\"cannot list tenants\"");
		return;
	}
	for (size_t i = 0; i < ids.n; i++) {
		size_t purged = 0;
		enum kura_err e = tend(h, ids.v[i], &purged);

		if (e != KURA_OK)
			kura_log(KURA_LOG_ERROR, "housekeeping_failed", "tenant=%s err=%s", ids.v[i],
				 kura_err_name(e));
		else if (purged > 0)
			kura_log(KURA_LOG_INFO, "records_purged", "tenant=%s count=%zu", ids.v[i],
				 purged);
	}
	free(ids.v);
}

void
kura_housekeeper_stats(struct kura_housekeeper *h, struct kura_housekeeping_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (h != NULL)
		*out = h->stats;
}

static void *
run(void *arg)
{
	struct kura_housekeeper *h = arg;
	unsigned step = h->interval_s < STATS_CHECK_S ? h->interval_s : STATS_CHECK_S;
	unsigned waited = 0;
	struct timespec until;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += step;
		while (!h->stop && pthread_cond_timedwait(&h->cond, &h->lock, &until) != ETIMEDOUT)
			;
		if (h->stop)
			break;
		waited += step;
		pthread_mutex_unlock(&h->lock);
		/* a whole round every interval_s; in between, the statistics only */
		if (waited >= h->interval_s) {
			waited = 0;
			kura_housekeeping_round(h);
		} else {
			kura_housekeeping_stats_round(h);
		}
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

enum kura_err
kura_housekeeper_new(struct kura_store *store, struct kura_field_keys *keys,
		     struct kura_housekeeper **out)
{
	struct kura_housekeeper *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (h == NULL)
		return KURA_E_NOMEM;
	h->store = store;
	h->keys = keys;
	h->interval_s = 1;
	*out = h;
	return KURA_OK;
}

enum kura_err
kura_housekeeper_start(struct kura_store *store, struct kura_field_keys *keys, unsigned interval_s,
		       struct kura_housekeeper **out)
{
	struct kura_housekeeper *h = NULL;
	enum kura_err e = kura_housekeeper_new(store, keys, &h);

	*out = NULL;
	if (e != KURA_OK)
		return e;
	h->interval_s = interval_s > 0 ? interval_s : 1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	/* before the thread exists: it reads the flag (pause_between) */
	h->threaded = true;
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
	if (h->threaded) {
		pthread_mutex_lock(&h->lock);
		h->stop = true;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
		pthread_cond_destroy(&h->cond);
		pthread_mutex_destroy(&h->lock);
	}
	free(h->memo);
	free(h);
}
