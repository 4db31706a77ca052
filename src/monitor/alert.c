/*
 * Operator alerts: always a WARN line in the operational log, and, when
 * alert_webhook_url is set, a signed JSON POST to it.
 *
 * The POST happens on one thread of its own, fed by a bounded queue: the
 * request that raises an alert (a sign-in on the hash pool, any request
 * answering 5xx) only formats a small body and queues it, whatever the
 * receiver does. A full queue drops the new alert (counted, and it is in
 * the log anyway) instead of holding memory or a request. Each alert is
 * tried three times (waits of 1 and 2 s) and then given up.
 *
 * The receiver checks X-Kura-Signature, sha256=<hex HMAC-SHA256(secret,
 * body)>, over the exact bytes it received; the body carries its own time,
 * so a receiver can also refuse old replays.
 */
#include "kura/monitor.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "kura/clock.h"
#include "kura/crypto.h"
#include "kura/log.h"

#define ATTEMPTS 3
#define TIMEOUT_MS 5000L
#define CONNECT_TIMEOUT_MS 3000L

struct kura_alerts {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	char *url;                       /* NULL: log only, no thread */
	uint8_t *secret;
	size_t secret_len;
	char *queue[KURA_ALERT_QUEUE_MAX];
	size_t head, count;
	bool stopping;
	bool thread_started;
	pthread_t thread;
	/* the 5xx rate, per calendar minute of kura_now_us() */
	unsigned max_5xx;
	pthread_mutex_t rate_mu;
	int64_t minute;
	unsigned n_5xx;
	int64_t alerted_minute;
};

static const char *const kind_names[KURA_ALERT__COUNT] = {"ip_blocked", "error_rate",
							    "user_volume"};

const char *
kura_alert_kind_name(enum kura_alert_kind k)
{
	if ((int)k < 0 || k >= KURA_ALERT__COUNT)
		return "unknown";
	return kind_names[k];
}

char *
kura_alert_json(enum kura_alert_kind kind, int64_t time_us, const char *tenant, const char *ip,
		int64_t until_us, const char *detail)
{
	char ts[40], until[40];
	json_t *o = json_object();
	char *text = NULL;
	bool ok;

	if (o == NULL)
		return NULL;
	kura_time_rfc3339(time_us, ts, sizeof(ts));
	ok = json_object_set_new(o, "kind", json_string(kura_alert_kind_name(kind))) == 0 &&
	     json_object_set_new(o, "time", json_string(ts)) == 0;
	if (ok && tenant != NULL && tenant[0] != '\0')
		ok = json_object_set_new(o, "tenant", json_string(tenant)) == 0;
	if (ok && ip != NULL && ip[0] != '\0')
		ok = json_object_set_new(o, "ip", json_string(ip)) == 0;
	if (ok && until_us > 0) {
		kura_time_rfc3339(until_us, until, sizeof(until));
		ok = json_object_set_new(o, "until", json_string(until)) == 0;
	}
	if (ok) {
		/* json_string refuses invalid UTF-8: the detail is ours, but never lose the alert. */
		json_t *d = json_string(detail != NULL ? detail : "");

		if (d == NULL)
			d = json_string("");
		ok = json_object_set_new(o, "detail", d) == 0;
	}
	if (ok)
		text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * nmemb;
}

/* One POST; true on a 2xx answer. */
static bool
post(struct kura_alerts *a, CURL *curl, const char *body, int attempt)
{
	static const char hex[] = "0123456789abcdef";
	struct curl_slist *h = NULL, *h2;
	uint8_t mac[32];
	char sig[32 + sizeof("X-Kura-Signature: sha256=") + 64];
	long status = 0;
	size_t off;
	bool ok = false;
	CURLcode rc;

	kura_hmac_sha256(a->secret, a->secret_len, body, strlen(body), mac);
	off = (size_t)snprintf(sig, sizeof(sig), "X-Kura-Signature: sha256=");
	for (size_t i = 0; i < sizeof(mac) && off + 2 < sizeof(sig); i++) {
		sig[off++] = hex[mac[i] >> 4];
		sig[off++] = hex[mac[i] & 15];
	}
	sig[off] = '\0';
	h = curl_slist_append(NULL, "Content-Type: application/json");
	/* On failure curl_slist_append leaves the list as it was: h is still freed at out. */
	h2 = h != NULL ? curl_slist_append(h, sig) : NULL;
	if (h2 == NULL) {
		kura_log(KURA_LOG_ERROR, "alert_webhook_failed", "attempt=%d err=out_of_memory",
			 attempt);
		goto out;
	}
	h = h2;
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, a->url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "kura-alert/1");
	/* Threads: no signals for timeouts (a SIGALRM would hit kurad at large). */
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	/* A redirect could carry the signed body somewhere else: none are followed. */
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	ok = rc == CURLE_OK && status >= 200 && status < 300;
	/* The URL is not logged: it may hold a token of the receiver's. */
	if (!ok)
		kura_log(KURA_LOG_WARN, "alert_webhook_failed", "attempt=%d curl=%d status=%ld",
			 attempt, (int)rc, status);
out:
	curl_slist_free_all(h);
	sodium_memzero(mac, sizeof(mac));
	return ok;
}

/* Waits ms, or less when stopping. Caller holds mu; returns true when stopping. */
static bool
wait_ms(struct kura_alerts *a, long ms)
{
	struct timespec ts = kura_deadline_us(CLOCK_REALTIME, (int64_t)ms * 1000);

	while (!a->stopping) {
		if (pthread_cond_timedwait(&a->cond, &a->mu, &ts) == ETIMEDOUT)
			break;
	}
	return a->stopping;
}

static void *
sender(void *arg)
{
	struct kura_alerts *a = arg;
	CURL *curl = curl_easy_init();
	char *body;

	if (curl == NULL)
		kura_log(KURA_LOG_ERROR, "alert_webhook_failed", "err=curl_init");
	for (;;) {
		bool ok = false, stop = false;

		pthread_mutex_lock(&a->mu);
		while (a->count == 0 && !a->stopping)
			pthread_cond_wait(&a->cond, &a->mu);
		if (a->stopping) {
			pthread_mutex_unlock(&a->mu);
			break;
		}
		body = a->queue[a->head];
		a->queue[a->head] = NULL;
		a->head = (a->head + 1) % KURA_ALERT_QUEUE_MAX;
		a->count--;
		pthread_mutex_unlock(&a->mu);
		for (int attempt = 1; curl != NULL && attempt <= ATTEMPTS && !ok && !stop; attempt++) {
			ok = post(a, curl, body, attempt);
			if (!ok && attempt < ATTEMPTS) {
				pthread_mutex_lock(&a->mu);
				stop = wait_ms(a, 1000L * attempt);
				pthread_mutex_unlock(&a->mu);
			}
		}
		kura_metrics_webhook(ok ? KURA_WEBHOOK_OK : KURA_WEBHOOK_FAILED);
		free(body);
	}
	if (curl != NULL)
		curl_easy_cleanup(curl);
	return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ready;

static void
curl_start(void)
{
	curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

enum kura_err
kura_alerts_new(const char *url, const uint8_t *secret, size_t secret_len,
		unsigned max_5xx_per_minute, struct kura_alerts **out)
{
	struct kura_alerts *a = NULL;
	enum kura_err e = KURA_E_NOMEM;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		goto out;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cond, NULL);
	pthread_mutex_init(&a->rate_mu, NULL);
	a->max_5xx = max_5xx_per_minute;
	a->alerted_minute = -1;
	if (url != NULL && url[0] != '\0') {
		if (secret == NULL || secret_len == 0) {
			e = KURA_E_CONFIG;
			goto out;
		}
		a->url = strdup(url);
		a->secret = malloc(secret_len);
		if (a->url == NULL || a->secret == NULL)
			goto out;
		memcpy(a->secret, secret, secret_len);
		a->secret_len = secret_len;
		pthread_once(&curl_once, curl_start);
		if (!curl_ready) {
			e = KURA_E_INTERNAL;
			goto out;
		}
		if (pthread_create(&a->thread, NULL, sender, a) != 0) {
			e = KURA_E_INTERNAL;
			goto out;
		}
		a->thread_started = true;
	}
	*out = a;
	a = NULL;
	e = KURA_OK;
out:
	kura_alerts_free(a);
	return e;
}

void
kura_alerts_free(struct kura_alerts *a)
{
	size_t dropped = 0;

	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->mu);
	if (a->thread_started)
		pthread_join(a->thread, NULL);
	while (a->count > 0) {
		free(a->queue[a->head]);
		a->head = (a->head + 1) % KURA_ALERT_QUEUE_MAX;
		a->count--;
		dropped++;
	}
	if (dropped > 0)
		kura_log(KURA_LOG_WARN, "alert_webhook_dropped", "count=%zu reason=stopping",
			 dropped);
	if (a->secret != NULL) {
		sodium_memzero(a->secret, a->secret_len);
		free(a->secret);
	}
	free(a->url);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->rate_mu);
	free(a);
}

static void
enqueue(struct kura_alerts *a, char *body)
{
	bool queued = false;

	pthread_mutex_lock(&a->mu);
	if (a->count < KURA_ALERT_QUEUE_MAX && !a->stopping) {
		a->queue[(a->head + a->count) % KURA_ALERT_QUEUE_MAX] = body;
		a->count++;
		queued = true;
		pthread_cond_signal(&a->cond);
	}
	pthread_mutex_unlock(&a->mu);
	if (!queued) {
		free(body);
		kura_metrics_webhook(KURA_WEBHOOK_DROPPED);
		kura_log(KURA_LOG_WARN, "alert_webhook_dropped", "count=1 reason=queue_full");
	}
}

void
kura_alert_raise(struct kura_alerts *a, enum kura_alert_kind kind, const char *tenant,
		 const char *ip, int64_t until_us, const char *detail)
{
	char qt[80], qi[80], qd[600], until[48] = "";
	int64_t now = kura_now_us();

	kura_metrics_alert(kind);
	if (until_us > 0) {
		char ts[40];

		kura_time_rfc3339(until_us, ts, sizeof(ts));
		snprintf(until, sizeof(until), " until=%s", ts);
	}
	kura_log(KURA_LOG_WARN, "alert", "kind=%s tenant=%s ip=%s%s detail=%s",
		 kura_alert_kind_name(kind),
		 kura_log_quote(qt, sizeof(qt), tenant != NULL && tenant[0] ? tenant : "-"),
		 kura_log_quote(qi, sizeof(qi), ip != NULL && ip[0] ? ip : "-"), until,
		 kura_log_quote(qd, sizeof(qd), detail != NULL ? detail : ""));
	if (a == NULL || a->url == NULL)
		return;
	{
		char *body = kura_alert_json(kind, now, tenant, ip, until_us, detail);

		if (body == NULL) {
			kura_metrics_webhook(KURA_WEBHOOK_DROPPED);
			kura_log(KURA_LOG_ERROR, "alert_webhook_dropped", "count=1 reason=out_of_memory");
			return;
		}
		enqueue(a, body);
	}
}

bool
kura_alerts_count_5xx(struct kura_alerts *a, int64_t now_us)
{
	int64_t minute;
	unsigned n;
	bool raise = false;
	char detail[160];

	if (a == NULL || a->max_5xx == 0)
		return false;
	minute = now_us / (60LL * 1000000);
	pthread_mutex_lock(&a->rate_mu);
	if (minute != a->minute) {
		a->minute = minute;
		a->n_5xx = 0;
	}
	if (a->n_5xx < UINT32_MAX)
		a->n_5xx++;
	n = a->n_5xx;
	if (n > a->max_5xx && a->alerted_minute != minute) {
		a->alerted_minute = minute;
		raise = true;
	}
	pthread_mutex_unlock(&a->rate_mu);
	if (!raise)
		return false;
	snprintf(detail, sizeof(detail),
		 "more than %u answers with a 5xx status within one minute (alert_5xx_per_minute)",
		 a->max_5xx);
	kura_alert_raise(a, KURA_ALERT_ERROR_RATE, NULL, NULL, 0, detail);
	return true;
}
