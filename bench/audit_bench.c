/*
 * audit_bench: what the audit chain costs. In a temporary data directory
 * (its own master key, SQLite store, tenants and a user) it measures
 *
 *   plain    N transactions, each one small real write (a user's password
 *            hash) — the baseline;
 *   audited  the same, plus kura_audit_append in the same transaction, the
 *            way every audited change in Kura commits;
 *
 * in interleaved rounds (medians printed, with audit_overhead = plain rate /
 * audited rate), the CPU part of an append alone (canonical JSON + SHA-256,
 * no store), and then builds a chain of BENCH_AUDIT_ENTRIES entries (one
 * transaction per 1000 appends), seals it and times kura_audit_verify, with
 * the peak RSS during the verify to show that it streams.
 *
 *   audit_bench [-r ROUNDS] [-w WRITES] [-e ENTRIES]
 *   env: BENCH_ROUNDS (3), BENCH_AUDIT_WRITES (50000), BENCH_AUDIT_ENTRIES (1000000;
 *        0 skips the verify part); TMPDIR for the data directory.
 *
 * Like every benchmark here it prints figures and never fails on a number:
 * the exit status is non-zero only when something did not run (set-up, a
 * store call, or a verify that does not find the chain intact).
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/crypto.h"
#include "kura/err.h"
#include "kura/log.h"
#include "kura/store.h"

#define ROUNDS_MAX 101
#define BATCH 1000
#define WARMUP_WRITES 500

/* A well-formed Argon2id string: the write stores text, nothing checks it. */
static const char fixed_hash[] =
	"$argon2id$v=19$m=65536,t=3,p=1$YmVuY2gtc2FsdC0xMjM0NQ$"
	"n6Yc9OzwU0bc3Sx9yBNLm0YOl1P7J4k8gMQ6YV0Wv0A";

struct bench {
	char dir[4096];
	struct kura_keyring *keys;
	struct kura_store *store;
	int64_t user_id;
};

static int
fail(const char *what, enum kura_err e)
{
	fprintf(stderr, "audit_bench: %s failed: %s\n", what, kura_err_name(e));
	return 1;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, "audit_bench: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

static long
env_long(const char *name, long dflt)
{
	const char *s = getenv(name);
	char *end = NULL;
	long v;

	if (s == NULL || s[0] == '\0')
		return dflt;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0) {
		fprintf(stderr, "audit_bench: ignoring %s=%s (not a count)\n", name, s);
		return dflt;
	}
	return v;
}

static bool
parse_count(const char *s, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return false;
	*out = v;
	return true;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(const double *v, int n)
{
	double s[ROUNDS_MAX];
	int i;

	for (i = 0; i < n; i++)
		s[i] = v[i];
	qsort(s, (size_t)n, sizeof(s[0]), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* A field of /proc/self/status in KiB ("VmHWM", "VmRSS"); -1 if unreadable. */
static long
status_kib(const char *field)
{
	char line[256];
	size_t n = strlen(field);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0); false when not allowed. */
static bool
reset_peak_rss(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	bool ok;

	if (f == NULL)
		return false;
	ok = fputs("5", f) >= 0;
	ok = fclose(f) == 0 && ok;
	return ok;
}

static void
cpu_model(char *out, size_t n)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");
	char *p;

	snprintf(out, n, "unknown CPU");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "model name", 10) != 0)
			continue;
		p = strchr(line, ':');
		if (p == NULL)
			break;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		p[strcspn(p, "\n")] = '\0';
		snprintf(out, n, "%s", p);
		break;
	}
	fclose(f);
}

/* What a signed-in user's password change records (the realistic sizes matter). */
static void
entry_template(struct kura_audit_entry *e, int64_t user_id)
{
	memset(e, 0, sizeof(*e));
	e->actor_type = KURA_ACTOR_USER;
	e->actor_id = user_id;
	snprintf(e->actor_email, sizeof(e->actor_email), "bench.user@bench.example");
	snprintf(e->actor_role, sizeof(e->actor_role), "admin");
	snprintf(e->ip, sizeof(e->ip), "203.0.113.47");
	snprintf(e->user_agent, sizeof(e->user_agent),
		 "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0");
	snprintf(e->action, sizeof(e->action), "auth.password_change");
	snprintf(e->target_type, sizeof(e->target_type), "user");
	snprintf(e->target_id, sizeof(e->target_id), "%" PRId64, user_id);
	e->outcome = KURA_AUDIT_SUCCESS;
}

/* A fresh request for each write, as the server builds one per request. */
static void
entry_for(struct kura_audit_entry *e, const struct kura_audit_entry *tmpl, int64_t i)
{
	*e = *tmpl;
	snprintf(e->request_id, sizeof(e->request_id), "%016" PRIx64, (uint64_t)i * 2654435761u);
}

static enum kura_err
tenant_new(struct bench *b, const char *id)
{
	struct kura_tenant t;
	uint8_t wrapped[KURA_WRAPPED_KEY_BYTES];
	enum kura_err e;

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.name, sizeof(t.name), "Bench %s", id);
	t.status = KURA_TENANT_ACTIVE;
	t.key_version = 1;
	t.created_at = t.updated_at = kura_now_us();
	e = kura_dek_new_wrapped(b->keys, t.id, t.key_version, wrapped);
	if (e == KURA_OK)
		e = kura_store_tenant_create(b->store, &t, wrapped, sizeof(wrapped));
	return e;
}

static enum kura_err
user_new(struct kura_tenant_db *db, int64_t *id)
{
	struct kura_user u;
	enum kura_err e;

	*id = 0;
	memset(&u, 0, sizeof(u));
	snprintf(u.email, sizeof(u.email), "bench.user@bench.example");
	snprintf(u.display_name, sizeof(u.display_name), "Bench User");
	snprintf(u.role, sizeof(u.role), "admin");
	u.status = KURA_USER_ACTIVE;
	snprintf(u.password_hash, sizeof(u.password_hash), "%s", fixed_hash);
	u.password_changed_at = u.created_at = u.updated_at = kura_now_us();
	e = kura_store_user_create(db, &u);
	if (e == KURA_OK)
		*id = u.id;
	return e;
}

/*
 * n transactions of one password write each, with an audit entry in the
 * same transaction when audited; *rate in writes per second.
 */
static enum kura_err
run_writes(struct bench *b, struct kura_tenant_db *db, long n, bool audited, int64_t *req,
	   double *rate)
{
	struct kura_audit_entry tmpl, a;
	enum kura_err e = KURA_OK;
	int64_t t0, t1;
	long i;

	*rate = 0;
	entry_template(&tmpl, b->user_id);
	t0 = kura_mono_us();
	for (i = 0; i < n; i++) {
		e = kura_store_begin(db);
		if (e != KURA_OK)
			goto out;
		e = kura_store_user_set_password(db, b->user_id, fixed_hash, false, kura_now_us());
		if (e == KURA_OK && audited) {
			entry_for(&a, &tmpl, (*req)++);
			e = kura_audit_append(db, &a);
		}
		if (e != KURA_OK) {
			kura_store_rollback(db);
			goto out;
		}
		e = kura_store_commit(db);
		if (e != KURA_OK)
			goto out;
	}
	t1 = kura_mono_us();
	*rate = (double)n * 1e6 / (double)(t1 - t0 > 0 ? t1 - t0 : 1);
out:
	return e;
}

/*
 * The CPU part of an append alone, no store: the canonical JSON and its
 * SHA-256, as append and verify compute them for every entry. Tells how
 * much of the figures above is hashing and how much is SQLite.
 */
static int
bench_hash(int64_t user_id)
{
	struct kura_audit_entry tmpl, a;
	uint8_t h[32];
	size_t len = 0;
	int64_t t0, t1, canon = 0;
	long i, n = 100000;
	char *c;

	entry_template(&tmpl, user_id);
	t0 = kura_mono_us();
	for (i = 0; i < n; i++) {
		int64_t c0 = kura_mono_us();

		entry_for(&a, &tmpl, i);
		a.seq = i + 1;
		a.ts_us = 1700000000000000 + i;
		c = kura_audit_canonical(&a);
		if (c == NULL) {
			fprintf(stderr, "audit_bench: kura_audit_canonical failed\n");
			return 1;
		}
		len = strlen(c);
		canon += kura_mono_us() - c0;
		/* append hashes c || prev_hash: 32 bytes more, the same cost. */
		kura_sha256(c, len, h);
		free(c);
	}
	t1 = kura_mono_us();
	printf("%-44s %12.2f us/entry (of which canonical JSON %.2f; %zu-byte entry)\n",
	       "CPU only: canonical JSON + SHA-256", (double)(t1 - t0) / (double)n,
	       (double)canon / (double)n, len);
	return 0;
}

static int
bench_writes(struct bench *b, int rounds, long writes)
{
	double plain[ROUNDS_MAX], audited[ROUNDS_MAX], ratio[ROUNDS_MAX], added[ROUNDS_MAX];
	struct kura_tenant_db *db = NULL;
	enum kura_err e;
	int64_t req = 1;
	double dummy;
	int r, rc = 1;

	e = kura_store_tenant_acquire(b->store, "bench", &db);
	if (e != KURA_OK)
		return fail("tenant acquire", e);
	/* Warm the statement cache and the pages of both paths before timing. */
	e = run_writes(b, db, WARMUP_WRITES, false, &req, &dummy);
	if (e == KURA_OK)
		e = run_writes(b, db, WARMUP_WRITES, true, &req, &dummy);
	if (e != KURA_OK) {
		rc = fail("warm-up writes", e);
		goto out;
	}
	for (r = 0; r < rounds; r++) {
		/* Alternate which goes first, so a drift within a round hits both alike. */
		if (r % 2 == 0) {
			e = run_writes(b, db, writes, false, &req, &plain[r]);
			if (e == KURA_OK)
				e = run_writes(b, db, writes, true, &req, &audited[r]);
		} else {
			e = run_writes(b, db, writes, true, &req, &audited[r]);
			if (e == KURA_OK)
				e = run_writes(b, db, writes, false, &req, &plain[r]);
		}
		if (e != KURA_OK) {
			rc = fail("timed writes", e);
			goto out;
		}
		ratio[r] = plain[r] / audited[r];
		added[r] = 1e6 / audited[r] - 1e6 / plain[r];
		printf("  round %d: plain %.0f writes/s, audited %.0f writes/s, ratio %.2fx\n",
		       r + 1, plain[r], audited[r], ratio[r]);
		fflush(stdout);
	}
	printf("%-44s %12.0f writes/s  (%.1f us/write)\n", "write, no audit (baseline)",
	       median(plain, rounds), 1e6 / median(plain, rounds));
	printf("%-44s %12.0f writes/s  (%.1f us/write)\n", "write + kura_audit_append, same tx",
	       median(audited, rounds), 1e6 / median(audited, rounds));
	/* Per round, like the ratio: a burst of other load hits both runs of a round. */
	printf("audit_added_us_per_write=%.1f (median of the per-round differences)\n",
	       median(added, rounds));
	printf("audit_overhead=%.2fx (target <= 1.25x; median of the per-round ratios)\n",
	       median(ratio, rounds));
	rc = 0;
out:
	kura_store_tenant_release(db);
	return rc;
}

static int
bench_verify(struct bench *b, long entries)
{
	struct kura_audit_entry tmpl, a;
	struct kura_audit_report rep;
	struct kura_tenant_db *db = NULL;
	enum kura_err e;
	int64_t t0, t1, t2, t3;
	long i, rss_before, hwm_before, hwm;
	bool reset;
	int rc = 1;

	e = tenant_new(b, "bench-verify");
	if (e != KURA_OK)
		return fail("creating tenant bench-verify", e);
	e = kura_store_tenant_acquire(b->store, "bench-verify", &db);
	if (e != KURA_OK)
		return fail("tenant acquire", e);
	entry_template(&tmpl, b->user_id);
	t0 = kura_mono_us();
	for (i = 0; i < entries; i += BATCH) {
		long j, end = i + BATCH < entries ? i + BATCH : entries;

		e = kura_store_begin(db);
		if (e != KURA_OK)
			goto fail;
		for (j = i; j < end && e == KURA_OK; j++) {
			entry_for(&a, &tmpl, j);
			e = kura_audit_append(db, &a);
		}
		if (e != KURA_OK) {
			kura_store_rollback(db);
			goto fail;
		}
		e = kura_store_commit(db);
		if (e != KURA_OK)
			goto fail;
	}
	t1 = kura_mono_us();
	kura_store_tenant_release(db);
	db = NULL;
	printf("%-44s %12.0f appends/s (%ld entries in %.1f s, %d per transaction)\n",
	       "build-up: kura_audit_append, batched", (double)entries * 1e6 / (double)(t1 - t0),
	       entries, (double)(t1 - t0) / 1e6, BATCH);
	fflush(stdout);

	e = kura_audit_seal(b->store, b->keys, "bench-verify");
	if (e != KURA_OK)
		return fail("kura_audit_seal", e);

	hwm_before = status_kib("VmHWM");
	reset = reset_peak_rss();
	rss_before = status_kib("VmRSS");
	t2 = kura_mono_us();
	e = kura_audit_verify(b->store, b->keys, "bench-verify", &rep);
	t3 = kura_mono_us();
	hwm = status_kib("VmHWM");
	if (e != KURA_OK || rep.first_bad_seq != 0 || rep.entries != entries) {
		fprintf(stderr,
			"audit_bench: verify did not find the chain intact: %s, %" PRId64
			" entries, first_bad_seq=%" PRId64 " %s\n",
			kura_err_name(e), rep.entries, rep.first_bad_seq, rep.problem);
		return 1;
	}
	printf("%-44s %12.0f entries/s (%" PRId64 " entries, %" PRId64 " seal(s) in %.2f s)\n",
	       "kura_audit_verify", (double)rep.entries * 1e6 / (double)(t3 - t2), rep.entries,
	       rep.seals, (double)(t3 - t2) / 1e6);
	if (reset)
		printf("verify_rss: %.1f MiB before, peak %.1f MiB during verify "
		       "(VmHWM reset before verify; process peak before it: %.1f MiB)\n",
		       rss_before / 1024.0, hwm / 1024.0, hwm_before / 1024.0);
	else
		printf("verify_rss: %.1f MiB before verify, process peak (VmHWM, not resettable "
		       "here) %.1f MiB before and %.1f MiB after\n",
		       rss_before / 1024.0, hwm_before / 1024.0, hwm / 1024.0);
	return 0;
fail:
	rc = fail("build-up appends", e);
	kura_store_tenant_release(db);
	return rc;
}

static void
usage(void)
{
	fprintf(stderr, "usage: audit_bench [-r ROUNDS] [-w WRITES] [-e ENTRIES]\n"
			"  env BENCH_ROUNDS (3), BENCH_AUDIT_WRITES (50000), "
			"BENCH_AUDIT_ENTRIES (1000000; 0 skips verify)\n");
}

int
main(int argc, char **argv)
{
	struct bench b;
	char err[1024] = "", path[4200], cpu[256];
	const char *tmp = getenv("TMPDIR");
	struct kura_tenant_db *db = NULL;
	long rounds = env_long("BENCH_ROUNDS", 3);
	long writes = env_long("BENCH_AUDIT_WRITES", 50000);
	long entries = env_long("BENCH_AUDIT_ENTRIES", 1000000);
	enum kura_err e;
	bool made_dir = false;
	int opt, rc = 1;

	memset(&b, 0, sizeof(b));
	while ((opt = getopt(argc, argv, "r:w:e:h")) != -1) {
		long *dst = opt == 'r' ? &rounds : opt == 'w' ? &writes : opt == 'e' ? &entries : NULL;

		if (dst == NULL || !parse_count(optarg, dst)) {
			usage();
			return 2;
		}
	}
	if (optind != argc || rounds < 1 || rounds > ROUNDS_MAX || writes < 1) {
		usage();
		return 2;
	}
	kura_log_set_level(KURA_LOG_WARN);
	if (kura_crypto_init() != KURA_OK) {
		fprintf(stderr, "audit_bench: crypto init failed\n");
		return 1;
	}
	snprintf(b.dir, sizeof(b.dir), "%s/kura-audit-bench.XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(b.dir) == NULL) {
		fprintf(stderr, "audit_bench: mkdtemp %s: %s\n", b.dir, strerror(errno));
		return 1;
	}
	made_dir = true;
	cpu_model(cpu, sizeof(cpu));
	printf("audit_bench: %ld CPUs (%s), SQLite %s (WAL, synchronous=NORMAL), jansson %s; "
	       "%ld rounds of %ld write transactions each way, verify on %ld entries; data in %s\n",
	       sysconf(_SC_NPROCESSORS_ONLN), cpu, sqlite3_libversion(), JANSSON_VERSION, rounds,
	       writes, entries, b.dir);
	fflush(stdout);

	snprintf(path, sizeof(path), "%s/master.key", b.dir);
	e = kura_master_key_create(path);
	if (e != KURA_OK) {
		rc = fail("kura_master_key_create", e);
		goto out;
	}
	e = kura_keyring_open(path, &b.keys, err, sizeof(err));
	if (e != KURA_OK) {
		fprintf(stderr, "audit_bench: kura_keyring_open: %s\n", err);
		goto out;
	}
	e = kura_store_open(&kura_store_sqlite_ops, b.dir, 2, &b.store, err, sizeof(err));
	if (e != KURA_OK) {
		fprintf(stderr, "audit_bench: kura_store_open: %s\n", err);
		goto out;
	}
	e = tenant_new(&b, "bench");
	if (e != KURA_OK) {
		rc = fail("creating tenant bench", e);
		goto out;
	}
	e = kura_store_tenant_acquire(b.store, "bench", &db);
	if (e == KURA_OK)
		e = user_new(db, &b.user_id);
	kura_store_tenant_release(db);
	db = NULL;
	if (e != KURA_OK) {
		rc = fail("creating the user", e);
		goto out;
	}

	if (bench_writes(&b, (int)rounds, writes) != 0 || bench_hash(b.user_id) != 0)
		goto out;
	if (entries > 0 && bench_verify(&b, entries) != 0)
		goto out;
	rc = 0;
out:
	kura_store_close(b.store);
	kura_keyring_free(b.keys);
	if (made_dir)
		nftw(b.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
