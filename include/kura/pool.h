/*
 * A fixed pool of worker threads with a bounded queue. Used to keep slow,
 * memory-hungry work (Argon2id hashing) off the HTTP threads and to cap how
 * much of it runs at once.
 */
#ifndef KURA_POOL_H
#define KURA_POOL_H

#include <stddef.h>

#include "kura/err.h"

struct kura_pool;

typedef void (*kura_pool_fn)(void *arg);

/* Starts nthreads workers (>= 1) with room for queue_max waiting jobs. */
enum kura_err kura_pool_new(unsigned nthreads, size_t queue_max, struct kura_pool **out);
/* Queues fn(arg). KURA_E_BUSY when the queue is full (the job is not run). */
enum kura_err kura_pool_submit(struct kura_pool *p, kura_pool_fn fn, void *arg);
/* Jobs queued and not yet taken by a worker (the metrics' queue depth). NULL = 0. */
size_t kura_pool_depth(struct kura_pool *p);
/* Runs every queued job, then stops and joins the workers. NULL is a no-op. */
void kura_pool_free(struct kura_pool *p);

#endif
