/*
 * The failed-login IP block: a bounded in-memory table of client addresses
 * with their recent failed sign-ins, and the addresses blocked because of
 * them.
 *
 * Each entry counts failures in 12 steps of window/12 (a sliding window
 * that moves a step at a time: 5 s for the one-minute window), so its size
 * does not grow with the limit. The table is a hash (keyed with a random
 * seed, so no one can aim collisions at a chain) over a fixed array of
 * entries, with a least-recently-counted list: when it is full, the entry
 * counted longest ago is reused. An attacker with many addresses can thus
 * push out an address that went quiet, but never grow our memory.
 *
 * This is one process's view. With several kurad nodes the counters and
 * blocks have to be shared, and shared state belongs in the store (DESIGN.md,
 * "Growing past one machine"); the interface (check, fail) stays the same.
 *
 * Every request asks kura_ipblock_check; while no address is blocked that
 * costs one atomic load, and the lock is taken only while some block is in
 * force.
 */
#include "kura/monitor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define NSTEPS 12
#define NIL UINT32_MAX

struct entry {
	uint8_t key[16];
	uint32_t hnext;          /* next in the hash chain */
	uint32_t lprev, lnext;   /* neighbours in the LRU list (head = most recent) */
	int64_t step;            /* step number of the newest count */
	int64_t until_us;        /* blocked until this time; 0 = not blocked */
	uint16_t count[NSTEPS];  /* failures per step, ring indexed by step % NSTEPS */
};

struct kura_ipblock {
	pthread_mutex_t mu;
	unsigned limit;
	int64_t step_us;
	int64_t block_us;
	size_t cap;
	size_t used;
	struct entry *e;
	uint32_t *bucket;
	size_t nbucket;          /* a power of two */
	uint32_t lru_head, lru_tail;
	uint64_t seed;
	/* The latest end of any block so far: before it, checks must look. */
	atomic_llong latest_until;
};

/* IPv4 as IPv4-mapped IPv6; IPv6 cut to its /64. false when ip is not an address. */
static bool
make_key(const char *ip, uint8_t key[16])
{
	struct in_addr a4;

	memset(key, 0, 16);
	if (ip == NULL)
		return false;
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		key[10] = 0xff;
		key[11] = 0xff;
		memcpy(key + 12, &a4, 4);
		return true;
	}
	if (inet_pton(AF_INET6, ip, key) != 1)
		return false;
	if (!IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)key))
		memset(key + 8, 0, 8);
	return true;
}

void
kura_ipblock_key_name(const char *ip, char *out, size_t n)
{
	uint8_t key[16];
	char buf[INET6_ADDRSTRLEN];

	if (n == 0)
		return;
	out[0] = '\0';
	if (!make_key(ip, key))
		return;
	if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)key)) {
		if (inet_ntop(AF_INET, key + 12, buf, sizeof(buf)) != NULL)
			snprintf(out, n, "%s", buf);
		return;
	}
	if (inet_ntop(AF_INET6, key, buf, sizeof(buf)) != NULL)
		snprintf(out, n, "%s/64", buf);
}

static uint64_t
mix64(uint64_t x)
{
	/* splitmix64's finaliser */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static size_t
hash_key(const struct kura_ipblock *b, const uint8_t key[16])
{
	uint64_t hi, lo;

	memcpy(&hi, key, 8);
	memcpy(&lo, key + 8, 8);
	return (size_t)(mix64(mix64(hi ^ b->seed) ^ lo) & (b->nbucket - 1));
}

enum kura_err
kura_ipblock_new(unsigned limit, unsigned window_s, unsigned block_s, size_t capacity,
		 struct kura_ipblock **out)
{
	struct kura_ipblock *b = NULL;
	enum kura_err e = KURA_E_NOMEM;

	*out = NULL;
	if (limit == 0 || window_s < NSTEPS || block_s == 0 || capacity == 0 ||
	    capacity >= NIL / 2)
		return KURA_E_CONFIG;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		goto out;
	pthread_mutex_init(&b->mu, NULL);
	b->limit = limit;
	b->step_us = (int64_t)window_s * 1000000 / NSTEPS;
	b->block_us = (int64_t)block_s * 1000000;
	b->cap = capacity;
	b->nbucket = 1;
	while (b->nbucket < capacity * 2)
		b->nbucket *= 2;
	b->e = calloc(capacity, sizeof(*b->e));
	b->bucket = malloc(b->nbucket * sizeof(*b->bucket));
	if (b->e == NULL || b->bucket == NULL)
		goto out;
	for (size_t i = 0; i < b->nbucket; i++)
		b->bucket[i] = NIL;
	b->lru_head = b->lru_tail = NIL;
	if (getrandom(&b->seed, sizeof(b->seed), 0) != (ssize_t)sizeof(b->seed))
		b->seed = (uint64_t)(uintptr_t)b ^ 0x9e3779b97f4a7c15ULL;
	atomic_store(&b->latest_until, 0);
	*out = b;
	b = NULL;
	e = KURA_OK;
out:
	kura_ipblock_free(b);
	return e;
}

void
kura_ipblock_free(struct kura_ipblock *b)
{
	if (b == NULL)
		return;
	pthread_mutex_destroy(&b->mu);
	free(b->e);
	free(b->bucket);
	free(b);
}

/* Caller holds mu. */
static uint32_t
find(const struct kura_ipblock *b, const uint8_t key[16])
{
	uint32_t i = b->bucket[hash_key(b, key)];

	while (i != NIL && memcmp(b->e[i].key, key, 16) != 0)
		i = b->e[i].hnext;
	return i;
}

static void
lru_unlink(struct kura_ipblock *b, uint32_t i)
{
	struct entry *x = &b->e[i];

	if (x->lprev != NIL)
		b->e[x->lprev].lnext = x->lnext;
	else
		b->lru_head = x->lnext;
	if (x->lnext != NIL)
		b->e[x->lnext].lprev = x->lprev;
	else
		b->lru_tail = x->lprev;
	x->lprev = x->lnext = NIL;
}

static void
lru_push_front(struct kura_ipblock *b, uint32_t i)
{
	struct entry *x = &b->e[i];

	x->lprev = NIL;
	x->lnext = b->lru_head;
	if (b->lru_head != NIL)
		b->e[b->lru_head].lprev = i;
	b->lru_head = i;
	if (b->lru_tail == NIL)
		b->lru_tail = i;
}

static void
hash_unlink(struct kura_ipblock *b, uint32_t i)
{
	uint32_t *link = &b->bucket[hash_key(b, b->e[i].key)];

	while (*link != NIL && *link != i)
		link = &b->e[*link].hnext;
	if (*link == i)
		*link = b->e[i].hnext;
	b->e[i].hnext = NIL;
}

/* A fresh entry for key: a never used one, else the least recently counted. */
static uint32_t
take(struct kura_ipblock *b, const uint8_t key[16])
{
	uint32_t i;
	size_t h;

	if (b->used < b->cap) {
		i = (uint32_t)b->used++;
	} else {
		i = b->lru_tail;
		lru_unlink(b, i);
		hash_unlink(b, i);
	}
	memset(&b->e[i], 0, sizeof(b->e[i]));
	memcpy(b->e[i].key, key, 16);
	h = hash_key(b, key);
	b->e[i].hnext = b->bucket[h];
	b->bucket[h] = i;
	lru_push_front(b, i);
	return i;
}

/* Moves the entry's window to step, forgetting the steps that fell out of it. */
static void
advance(struct entry *x, int64_t step)
{
	if (step <= x->step)
		return;
	if (step - x->step >= NSTEPS) {
		memset(x->count, 0, sizeof(x->count));
	} else {
		for (int64_t s = x->step + 1; s <= step; s++)
			x->count[s % NSTEPS] = 0;
	}
	x->step = step;
}

static unsigned
window_sum(const struct entry *x)
{
	unsigned sum = 0;

	for (size_t i = 0; i < NSTEPS; i++)
		sum += x->count[i];
	return sum;
}

int64_t
kura_ipblock_check(struct kura_ipblock *b, const char *ip, int64_t now_us)
{
	uint8_t key[16];
	uint32_t i;
	int64_t left = 0;

	if (b == NULL || now_us >= atomic_load_explicit(&b->latest_until, memory_order_acquire))
		return 0;
	if (!make_key(ip, key))
		return 0;
	pthread_mutex_lock(&b->mu);
	i = find(b, key);
	if (i != NIL && b->e[i].until_us > now_us)
		left = (b->e[i].until_us - now_us + 999999) / 1000000;
	pthread_mutex_unlock(&b->mu);
	return left;
}

bool
kura_ipblock_fail(struct kura_ipblock *b, const char *ip, int64_t now_us, int64_t *until_us)
{
	uint8_t key[16];
	struct entry *x;
	uint32_t i;
	int64_t step;
	bool blocked = false;

	*until_us = 0;
	if (b == NULL || !make_key(ip, key) || now_us < 0)
		return false;
	step = now_us / b->step_us;
	pthread_mutex_lock(&b->mu);
	i = find(b, key);
	if (i == NIL) {
		i = take(b, key);
		b->e[i].step = step;
	} else {
		lru_unlink(b, i);
		lru_push_front(b, i);
	}
	x = &b->e[i];
	/* A sign-in that began before the block and failed after it starts no second one. */
	if (x->until_us > now_us)
		goto out;
	x->until_us = 0;
	advance(x, step);
	if (x->count[step % NSTEPS] < UINT16_MAX)
		x->count[step % NSTEPS]++;
	if (window_sum(x) <= b->limit)
		goto out;
	x->until_us = now_us + b->block_us;
	/* The failures that caused this block do not count towards the next one. */
	memset(x->count, 0, sizeof(x->count));
	if (x->until_us > atomic_load(&b->latest_until))
		atomic_store_explicit(&b->latest_until, x->until_us, memory_order_release);
	*until_us = x->until_us;
	blocked = true;
out:
	pthread_mutex_unlock(&b->mu);
	return blocked;
}

size_t
kura_ipblock_blocked(struct kura_ipblock *b, int64_t now_us)
{
	size_t n = 0;

	if (b == NULL || now_us >= atomic_load(&b->latest_until))
		return 0;
	pthread_mutex_lock(&b->mu);
	for (size_t i = 0; i < b->used; i++) {
		if (b->e[i].until_us > now_us)
			n++;
	}
	pthread_mutex_unlock(&b->mu);
	return n;
}

size_t
kura_ipblock_tracked(struct kura_ipblock *b)
{
	size_t n;

	if (b == NULL)
		return 0;
	pthread_mutex_lock(&b->mu);
	n = b->used;
	pthread_mutex_unlock(&b->mu);
	return n;
}
