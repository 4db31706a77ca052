/*
 * Per-user read volume: how many records and how many sensitive values each
 * user (or API key's creator) of each tenant had in replies within the
 * current hour. Crossing a threshold is reported once per user and hour, so
 * the caller can alert (kura/monitor.h). Windows are fixed hours that start
 * at a user's first read; state lives in memory, bounded: a full table
 * replaces its least recently active entry among the probed slots.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kura/monitor.h"

#define SLOTS 65536u           /* a power of two */
#define PROBE 8
#define HOUR_US (3600LL * 1000000)
#define TENANT_MAX 32           /* KURA_TENANT_ID_MAX (kura/store.h, which monitor/ does not use) */

struct slot {
	char tenant[TENANT_MAX + 1];
	int64_t user_id;           /* 0 = free */
	int64_t window_start;
	int64_t last_seen;
	uint64_t records, sensitive;
	bool alerted_records, alerted_sensitive;
};

struct kura_volume {
	pthread_mutex_t mu;
	uint64_t max_records, max_sensitive;
	struct slot *slots;
};

enum kura_err
kura_volume_new(uint64_t max_records, uint64_t max_sensitive, struct kura_volume **out)
{
	struct kura_volume *v = calloc(1, sizeof(*v));

	*out = NULL;
	if (v == NULL)
		return KURA_E_NOMEM;
	v->slots = calloc(SLOTS, sizeof(*v->slots));
	if (v->slots == NULL) {
		free(v);
		return KURA_E_NOMEM;
	}
	pthread_mutex_init(&v->mu, NULL);
	v->max_records = max_records;
	v->max_sensitive = max_sensitive;
	*out = v;
	return KURA_OK;
}

void
kura_volume_free(struct kura_volume *v)
{
	if (v == NULL)
		return;
	pthread_mutex_destroy(&v->mu);
	free(v->slots);
	free(v);
}

/* FNV-1a of the tenant id and the user id. */
static uint32_t
hash(const char *tenant, int64_t user_id)
{
	uint32_t h = 2166136261u;

	for (const char *p = tenant; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (int i = 0; i < 8; i++)
		h = (h ^ (uint8_t)((uint64_t)user_id >> (8 * i))) * 16777619u;
	return h;
}

unsigned
kura_volume_add(struct kura_volume *v, const char *tenant, int64_t user_id, uint64_t records,
		uint64_t sensitive, int64_t now_us, struct kura_volume_counts *counts)
{
	struct slot *s = NULL, *oldest = NULL;
	uint32_t h;
	unsigned crossed = 0;

	if (counts != NULL)
		memset(counts, 0, sizeof(*counts));
	if (v == NULL || tenant == NULL || user_id == 0 || strlen(tenant) > TENANT_MAX ||
	    (records == 0 && sensitive == 0))
		return 0;
	h = hash(tenant, user_id);
	pthread_mutex_lock(&v->mu);
	for (unsigned i = 0; i < PROBE; i++) {
		struct slot *c = &v->slots[(h + i) & (SLOTS - 1)];

		if (c->user_id == user_id && strcmp(c->tenant, tenant) == 0) {
			s = c;
			break;
		}
		if (oldest == NULL || c->user_id == 0 ||
		    (oldest->user_id != 0 && c->last_seen < oldest->last_seen))
			oldest = c;
	}
	if (s == NULL) {
		s = oldest;
		memset(s, 0, sizeof(*s));
		memcpy(s->tenant, tenant, strlen(tenant) + 1);
		s->user_id = user_id;
		s->window_start = now_us;
	}
	if (now_us - s->window_start >= HOUR_US) {
		s->window_start = now_us;
		s->records = s->sensitive = 0;
		s->alerted_records = s->alerted_sensitive = false;
	}
	s->last_seen = now_us;
	s->records += records;
	s->sensitive += sensitive;
	if (v->max_records > 0 && s->records > v->max_records && !s->alerted_records) {
		s->alerted_records = true;
		crossed |= KURA_VOLUME_RECORDS;
	}
	if (v->max_sensitive > 0 && s->sensitive > v->max_sensitive && !s->alerted_sensitive) {
		s->alerted_sensitive = true;
		crossed |= KURA_VOLUME_SENSITIVE;
	}
	if (counts != NULL) {
		counts->records = s->records;
		counts->sensitive = s->sensitive;
		counts->window_start = s->window_start;
	}
	pthread_mutex_unlock(&v->mu);
	return crossed;
}
