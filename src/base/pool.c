/*
 * A fixed set of worker threads taking jobs from a bounded ring. The bound
 * is the point: a login flood fills the queue and further logins get 503
 * instead of piling up memory-hungry Argon2id work.
 */
#include "kura/pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct job {
	kura_pool_fn fn;
	void *arg;
};

struct kura_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *ring;
	size_t cap;
	size_t head;
	size_t count;
	bool stopping;
	unsigned nthreads;
	pthread_t *threads;
};

static void *
worker(void *arg)
{
	struct kura_pool *p = arg;
	struct job j;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->count == 0 && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->count == 0) {
			/* stopping and drained */
			pthread_mutex_unlock(&p->lock);
			break;
		}
		j = p->ring[p->head];
		p->head = (p->head + 1) % p->cap;
		p->count--;
		pthread_mutex_unlock(&p->lock);
		j.fn(j.arg);
	}
	return NULL;
}

enum kura_err
kura_pool_new(unsigned nthreads, size_t queue_max, struct kura_pool **out)
{
	struct kura_pool *p = NULL;
	enum kura_err e = KURA_E_NOMEM;

	*out = NULL;
	if (nthreads == 0 || queue_max == 0)
		return KURA_E_CONFIG;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto out;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->cap = queue_max;
	p->ring = calloc(queue_max, sizeof(*p->ring));
	p->threads = calloc(nthreads, sizeof(*p->threads));
	if (p->ring == NULL || p->threads == NULL)
		goto out;
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
			e = KURA_E_INTERNAL;
			goto out;
		}
		p->nthreads++;
	}
	*out = p;
	p = NULL;
	e = KURA_OK;
out:
	kura_pool_free(p);
	return e;
}

enum kura_err
kura_pool_submit(struct kura_pool *p, kura_pool_fn fn, void *arg)
{
	enum kura_err e = KURA_E_BUSY;

	pthread_mutex_lock(&p->lock);
	if (p->count < p->cap && !p->stopping) {
		p->ring[(p->head + p->count) % p->cap] = (struct job){fn, arg};
		p->count++;
		pthread_cond_signal(&p->cond);
		e = KURA_OK;
	}
	pthread_mutex_unlock(&p->lock);
	return e;
}

size_t
kura_pool_depth(struct kura_pool *p)
{
	size_t n;

	if (p == NULL)
		return 0;
	pthread_mutex_lock(&p->lock);
	n = p->count;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void
kura_pool_free(struct kura_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->ring);
	free(p->threads);
	free(p);
}
