/*
 * load_batches: posts pre-made request bodies (one JSON body a line) to one
 * URL over keep-alive HTTPS, as fast as the server takes them, and reports
 * the time. bench/gen.py uses it to load a synthetic tenant through
 * POST /api/v1/objects/{object}/batch/create: the client must cost the
 * server's two CPUs as little as possible, so this is C and libcurl, one
 * easy handle (one persistent connection) per thread, bodies in memory.
 *
 * usage: load_batches URL TOKEN_FILE BODIES_FILE IDS_OUT [CONNECTIONS]
 *   TOKEN_FILE holds the API key (sent as "Authorization: Bearer ...").
 *   IDS_OUT gets the id of every created record, one a line, in body order:
 *   the first "id" after each "record" member of the batch reply.
 *   CONNECTIONS defaults to 2.
 * The certificate is not verified (kurad's is self-signed; the target is
 * a local test server). Prints one JSON line on stdout:
 *   {"batches":N,"ids":N,"seconds":S,"failed":N}
 * Exit status 0 when every batch answered 200; otherwise the first failures'
 * status and reply are written to stderr and the status is 1.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

struct buf {
	char *p;
	size_t len, cap;
};

struct batch {
	const char *body;
	size_t len;
	char **ids;
	size_t nids;
	long status;
};

static struct batch *batches;
static size_t nbatches;
static atomic_size_t next_batch;
static atomic_int failures;
static const char *url;
static struct curl_slist *headers;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;
	size_t n = size * nmemb;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* The first "id" string after each "record" member, in order. */
static void read_ids(struct batch *bt, const char *reply, size_t len)
{
	static const char rec[] = "\"record\":";
	static const char id[] = "\"id\":\"";
	const char *end = reply + len, *p = reply;
	size_t cap = 0;
	while ((p = memmem(p, (size_t)(end - p), rec, sizeof rec - 1)) != NULL) {
		const char *q = memmem(p, (size_t)(end - p), id, sizeof id - 1);
		if (q == NULL)
			break;
		q += sizeof id - 1;
		const char *e = memchr(q, '"', (size_t)(end - q));
		if (e == NULL)
			break;
		if (bt->nids == cap) {
			cap = cap ? cap * 2 : 128;
			bt->ids = realloc(bt->ids, cap * sizeof *bt->ids);
			if (bt->ids == NULL) {
				perror("realloc");
				exit(2);
			}
		}
		bt->ids[bt->nids++] = strndup(q, (size_t)(e - q));
		p = e;
	}
}

static void *worker(void *arg)
{
	(void)arg;
	CURL *c = curl_easy_init();
	struct buf reply = {0};
	if (c == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
	for (;;) {
		size_t i = atomic_fetch_add(&next_batch, 1);
		if (i >= nbatches || atomic_load(&failures) > 10)
			break;
		struct batch *bt = &batches[i];
		reply.len = 0;
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, bt->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bt->len);
		CURLcode rc = curl_easy_perform(c);
		if (rc != CURLE_OK) {
			pthread_mutex_lock(&err_lock);
			fprintf(stderr, "load_batches: batch %zu: %s\n", i, curl_easy_strerror(rc));
			pthread_mutex_unlock(&err_lock);
			atomic_fetch_add(&failures, 1);
			continue;
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &bt->status);
		if (bt->status != 200) {
			pthread_mutex_lock(&err_lock);
			fprintf(stderr, "load_batches: batch %zu answered %ld: %.800s\n", i, bt->status,
				reply.p ? reply.p : "");
			pthread_mutex_unlock(&err_lock);
			atomic_fetch_add(&failures, 1);
		}
		if (reply.p)
			read_ids(bt, reply.p, reply.len);
	}
	free(reply.p);
	curl_easy_cleanup(c);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: load_batches URL TOKEN_FILE BODIES_FILE IDS_OUT [CONNECTIONS]\n");
		return 2;
	}
	url = argv[1];
	int nconn = argc == 6 ? atoi(argv[5]) : 2;
	if (nconn < 1 || nconn > 64) {
		fprintf(stderr, "load_batches: CONNECTIONS must be 1..64\n");
		return 2;
	}

	char token[512];
	FILE *tf = fopen(argv[2], "r");
	if (tf == NULL || fgets(token, sizeof token, tf) == NULL) {
		perror(argv[2]);
		return 2;
	}
	fclose(tf);
	token[strcspn(token, "\r\n")] = '\0';

	int fd = open(argv[3], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
		perror(argv[3]);
		return 2;
	}
	char *data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (data == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	(void)madvise(data, (size_t)st.st_size, MADV_WILLNEED);
	size_t cap = 1024;
	batches = calloc(cap, sizeof *batches);
	for (const char *p = data, *end = data + st.st_size; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (len > 0) {
			if (nbatches == cap) {
				cap *= 2;
				batches = realloc(batches, cap * sizeof *batches);
			}
			memset(&batches[nbatches], 0, sizeof *batches);
			batches[nbatches].body = p;
			batches[nbatches].len = len;
			nbatches++;
		}
		p += len + 1;
	}
	/* touch every page now, not during the timed run */
	volatile char sink = 0;
	for (off_t o = 0; o < st.st_size; o += 4096)
		sink ^= data[o];
	(void)sink;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	char auth[600];
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
	headers = curl_slist_append(headers, auth);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_t th[64];
	for (int i = 0; i < nconn; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < nconn; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	FILE *out = fopen(argv[4], "w");
	if (out == NULL) {
		perror(argv[4]);
		return 2;
	}
	size_t nids = 0;
	for (size_t i = 0; i < nbatches; i++) {
		for (size_t j = 0; j < batches[i].nids; j++) {
			fprintf(out, "%s\n", batches[i].ids[j]);
			free(batches[i].ids[j]);
		}
		nids += batches[i].nids;
		free(batches[i].ids);
	}
	fclose(out);
	printf("{\"batches\":%zu,\"ids\":%zu,\"seconds\":%.3f,\"failed\":%d}\n", nbatches, nids, secs,
	       atomic_load(&failures));
	curl_slist_free_all(headers);
	curl_global_cleanup();
	munmap(data, (size_t)st.st_size);
	free(batches);
	return atomic_load(&failures) ? 1 : 0;
}
