/*
 * The audit log: appending to a tenant's hash chain, its canonical form,
 * queries, sealing the chain head and verifying the whole chain against
 * its seals. The format and what verification proves are described in
 * include/kura/audit.h and docs/internals/audit.md; the rows themselves are
 * kept by store/ (kura_store_audit_*, kura_store_seal_*).
 */
#include "kura/audit.h"

#include "audit_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "kura/clock.h"
#include "kura/log.h"
#include "kura/monitor.h"

#define HASH_BYTES 32

/* ------------------------------------------------------------ UTF-8 and bounds */

/*
 * Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), given avail bytes; 0 when the bytes
 * there are not one; -1 when they are the valid start of a sequence that
 * avail cuts short.
 */
static int
utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char lo = 0x80, hi = 0xbf;
	int n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	/* The second byte's range is what rules out overlongs and surrogates. */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	for (i = 1; i < n; i++) {
		if ((size_t)i >= avail)
			return -1;
		if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
			return 0;
	}
	return n;
}

/* C0 controls, DEL and C1 controls (U+0080..U+009F, "\xc2\x80".."\xc2\x9f"). */
static bool
is_control(const unsigned char *p, int n)
{
	if (n == 1)
		return p[0] < 0x20 || p[0] == 0x7f;
	return n == 2 && p[0] == 0xc2 && p[1] <= 0x9f;
}

static bool
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	int n;

	while (i < len) {
		n = utf8_len(p + i, len - i);
		if (n <= 0)
			return false;
		i += (size_t)n;
	}
	return true;
}

/*
 * Makes the string in the array s[cap] safe to store and show: NUL within
 * the array (supplied if missing), no partial character at the end (what a
 * byte-wise truncation leaves), and every invalid byte or control character
 * replaced by '?', so the log cannot carry forged lines or terminal escapes
 * into a viewer or an export. Never grows the string.
 */
static void
sanitize(char *s, size_t cap)
{
	unsigned char *p = (unsigned char *)s;
	size_t len = strnlen(s, cap), i = 0;
	int n, j;

	if (len == cap)
		len = cap - 1;
	s[len] = '\0';
	while (i < len) {
		n = utf8_len(p + i, len - i);
		if (n < 0) {
			/* A character cut by the end of the string: drop its start. */
			s[i] = '\0';
			break;
		}
		if (n == 0) {
			p[i++] = '?';
			continue;
		}
		if (is_control(p + i, n)) {
			for (j = 0; j < n; j++)
				p[i + (size_t)j] = '?';
		}
		i += (size_t)n;
	}
}

#define SANITIZE(field) sanitize((field), sizeof(field))

static void
sanitize_entry(struct kura_audit_entry *e)
{
	SANITIZE(e->actor_email);
	SANITIZE(e->actor_role);
	SANITIZE(e->ip);
	SANITIZE(e->user_agent);
	SANITIZE(e->request_id);
	SANITIZE(e->action);
	SANITIZE(e->target_type);
	SANITIZE(e->target_id);
	SANITIZE(e->target_props);
	SANITIZE(e->error_code);
}

/* ------------------------------------------------------------ canonical form and hash */

static void
hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * The canonical form is the input of the chain's hash, written here
 * directly rather than built as a jansson object and dumped (a third of
 * what moving a spooled entry into the chain cost): the same bytes that
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS) makes of the entry, which
 * tests/unit/audit/test_audit.c checks byte for byte against jansson for
 * every character and for random entries. Keys in sorted order, no
 * whitespace, integers in decimal, strings with '"', '\\' and the C0
 * controls escaped as jansson does (\b \f \n \r \t, else \u00XX in upper
 * case) and every other character as its UTF-8.
 */
struct canon {
	char *p;
	size_t len, cap; /* past cap nothing is written, len still counts */
	bool bad_utf8;
};

static void
canon_put(struct canon *c, const char *s, size_t n)
{
	if (c->len + n <= c->cap)
		memcpy(c->p + c->len, s, n);
	c->len += n;
}

/* The key with its punctuation, from a literal: ",\"key\":" */
#define CANON_KEY(c, lit) canon_put((c), (lit), sizeof(lit) - 1)

static void
canon_int(struct canon *c, int64_t v)
{
	char t[24];
	int n = snprintf(t, sizeof(t), "%lld", (long long)v);

	canon_put(c, t, (size_t)n);
}

static void
canon_str(struct canon *c, const char *s, size_t cap)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t len = strnlen(s, cap), i, run = 0;

	if (!utf8_valid(s, len)) {
		c->bad_utf8 = true;
		return;
	}
	canon_put(c, "\"", 1);
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[6] = {'\\', 0, 0, 0, 0, 0};
		size_t n = 2;

		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		canon_put(c, s + run, i - run);
		run = i + 1;
		switch (ch) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = digits[ch >> 4];
			esc[5] = digits[ch & 15];
			n = 6;
		}
		canon_put(c, esc, n);
	}
	canon_put(c, s + run, len - run);
	canon_put(c, "\"", 1);
}

#define CANON_STR(c, e, f) canon_str((c), (e)->f, sizeof((e)->f))

/* The form into c (its buffer, or only its length when it does not fit). */
static void
canon_entry(struct canon *c, const struct kura_audit_entry *e)
{
	char prev[2 * HASH_BYTES + 1];

	hex(e->prev_hash, HASH_BYTES, prev);
	/* Enums go in as their numbers: stable, and a tampered value still hashes. */
	CANON_KEY(c, "{\"action\":");
	CANON_STR(c, e, action);
	CANON_KEY(c, ",\"actor_email\":");
	CANON_STR(c, e, actor_email);
	CANON_KEY(c, ",\"actor_id\":");
	canon_int(c, e->actor_id);
	CANON_KEY(c, ",\"actor_role\":");
	CANON_STR(c, e, actor_role);
	CANON_KEY(c, ",\"actor_type\":");
	canon_int(c, (int64_t)e->actor_type);
	CANON_KEY(c, ",\"error_code\":");
	CANON_STR(c, e, error_code);
	CANON_KEY(c, ",\"ip\":");
	CANON_STR(c, e, ip);
	CANON_KEY(c, ",\"outcome\":");
	canon_int(c, (int64_t)e->outcome);
	CANON_KEY(c, ",\"prev_hash\":\"");
	canon_put(c, prev, 2 * HASH_BYTES);
	CANON_KEY(c, "\",\"request_id\":");
	CANON_STR(c, e, request_id);
	CANON_KEY(c, ",\"seq\":");
	canon_int(c, e->seq);
	CANON_KEY(c, ",\"target_id\":");
	CANON_STR(c, e, target_id);
	CANON_KEY(c, ",\"target_props\":");
	CANON_STR(c, e, target_props);
	CANON_KEY(c, ",\"target_type\":");
	CANON_STR(c, e, target_type);
	CANON_KEY(c, ",\"ts_us\":");
	canon_int(c, e->ts_us);
	CANON_KEY(c, ",\"user_agent\":");
	CANON_STR(c, e, user_agent);
	CANON_KEY(c, "}");
}

/*
 * The canonical form into buf (cap bytes; *len its length, no NUL), or
 * when it does not fit there into *heap (malloc'd). KURA_E_VALIDATION when
 * a string is not valid UTF-8 (only a tampered row has one), KURA_E_NOMEM
 * otherwise.
 */
static enum kura_err
canonical_into(const struct kura_audit_entry *e, char *buf, size_t cap, size_t *len,
	       char **heap)
{
	struct canon c = {buf, 0, cap, false};

	*len = 0;
	*heap = NULL;
	canon_entry(&c, e);
	if (c.bad_utf8)
		return KURA_E_VALIDATION;
	if (c.len > cap) {
		*heap = malloc(c.len);
		if (*heap == NULL)
			return KURA_E_NOMEM;
		c = (struct canon){*heap, 0, c.len, false};
		canon_entry(&c, e);
	}
	*len = c.len;
	return KURA_OK;
}

/* Room for the canonical form of most entries, and the previous hash after it. */
#define CANON_BYTES 4096

char *
kura_audit_canonical(const struct kura_audit_entry *e)
{
	char buf[CANON_BYTES], *heap = NULL, *s;
	size_t n;

	if (e == NULL || canonical_into(e, buf, sizeof(buf), &n, &heap) != KURA_OK)
		return NULL;
	s = malloc(n + 1);
	if (s != NULL) {
		memcpy(s, heap != NULL ? heap : buf, n);
		s[n] = '\0';
	}
	free(heap);
	return s;
}

/* hash = SHA-256(canonical(e) || prev). */
static enum kura_err
chain_hash(const struct kura_audit_entry *e, const uint8_t prev[HASH_BYTES],
	   uint8_t out[HASH_BYTES])
{
	char buf[CANON_BYTES + HASH_BYTES], *heap = NULL, *c;
	enum kura_err err;
	size_t n;

	memset(out, 0, HASH_BYTES);
	err = canonical_into(e, buf, CANON_BYTES, &n, &heap);
	if (err != KURA_OK)
		return err;
	c = buf;
	if (heap != NULL) {
		c = realloc(heap, n + HASH_BYTES);
		if (c == NULL) {
			free(heap);
			return KURA_E_NOMEM;
		}
	}
	memcpy(c + n, prev, HASH_BYTES);
	kura_sha256(c, n + HASH_BYTES, out);
	if (c != buf)
		free(c);
	return KURA_OK;
}

/* ------------------------------------------------------------ append, query */

enum kura_err
kura_audit_prepare(struct kura_audit_entry *e, bool *set_ts)
{
	*set_ts = false;
	e->seq = 0;
	memset(e->prev_hash, 0, sizeof(e->prev_hash));
	memset(e->hash, 0, sizeof(e->hash));
	sanitize_entry(e);
	if (e->action[0] == '\0' || (int)e->actor_type < (int)KURA_ACTOR_ANONYMOUS ||
	    (int)e->actor_type > (int)KURA_ACTOR_SYSTEM ||
	    (int)e->outcome < (int)KURA_AUDIT_SUCCESS || (int)e->outcome > (int)KURA_AUDIT_FAILED)
		return KURA_E_VALIDATION;
	if (e->ts_us == 0) {
		e->ts_us = kura_now_us();
		*set_ts = true;
	}
	return KURA_OK;
}

/*
 * The chain's head as a run of appends in one transaction leaves it: read
 * once, then carried from each entry to the next (nothing else can append
 * meanwhile: the transaction holds the write lock).
 */
struct head {
	struct kura_tenant_db *db;
	bool known;
	int64_t seq;
	uint8_t hash[HASH_BYTES];
};

/* Fills seq and the hashes from the head, inserts, and makes e the head. */
static enum kura_err
chain_next(struct head *h, struct kura_audit_entry *e)
{
	enum kura_err err;

	if (!h->known) {
		err = kura_store_audit_head(h->db, &h->seq, h->hash);
		if (err != KURA_OK)
			return err;
		h->known = true;
	}
	e->seq = h->seq + 1;
	memcpy(e->prev_hash, h->hash, HASH_BYTES);
	err = chain_hash(e, e->prev_hash, e->hash);
	if (err == KURA_OK)
		err = kura_store_audit_insert(h->db, e);
	if (err != KURA_OK) {
		h->known = false;
		return err;
	}
	h->seq = e->seq;
	memcpy(h->hash, e->hash, HASH_BYTES);
	return KURA_OK;
}

/* Reads the head, fills seq and the hashes, inserts. */
static enum kura_err
chain_one(struct kura_tenant_db *db, struct kura_audit_entry *e)
{
	struct head h = {db, false, 0, {0}};

	return chain_next(&h, e);
}

static enum kura_err
unspool_cb(void *ctx, struct kura_audit_entry *e)
{
	return chain_next(ctx, e);
}

enum kura_err
kura_audit_unspool_in_tx(struct kura_tenant_db *db, size_t *moved)
{
	struct head h = {db, false, 0, {0}};
	size_t n = 0;
	enum kura_err err = kura_store_audit_unspool(db, unspool_cb, &h, &n);

	if (moved != NULL)
		*moved = n;
	if (err != KURA_OK)
		kura_log(KURA_LOG_ERROR, "audit_unspool_failed", "tenant=%s err=%s",
			 kura_store_tenant_id(db), kura_err_name(err));
	return err;
}

enum kura_err
kura_audit_flush(struct kura_tenant_db *db)
{
	enum kura_err err;

	if (db == NULL)
		return KURA_E_INTERNAL;
	if (kura_store_in_transaction(db))
		return kura_audit_unspool_in_tx(db, NULL);
	if (!kura_store_audit_spooled(db, NULL, NULL))
		return KURA_OK;
	err = kura_store_begin(db);
	if (err == KURA_OK)
		err = kura_audit_unspool_in_tx(db, NULL);
	else
		kura_log(KURA_LOG_ERROR, "audit_unspool_failed", "tenant=%s err=%s",
			 kura_store_tenant_id(db), kura_err_name(err));
	if (err == KURA_OK)
		err = kura_store_commit(db);
	if (err != KURA_OK && kura_store_in_transaction(db))
		kura_store_rollback(db);
	return err;
}

enum kura_err
kura_audit_chain_in_tx(struct kura_tenant_db *db, struct kura_audit_entry *e)
{
#ifdef KURA_BENCH_NO_AUDIT
	/*
	 * -Dbench_no_audit=true (bench/audit.sh only; such programs refuse to
	 * start without KURA_BENCH_ALLOW_NO_AUDIT=1): every append, single,
	 * grouped or async, succeeds without writing anything.
	 */
	return KURA_OK;
#endif
	/*
	 * Spooled reads go into the chain before this entry, so the chain
	 * keeps the order in which things happened. A spool that cannot be
	 * read (logged) must not stop the tenant's changes: it is left for
	 * the next move, and this entry is chained all the same.
	 */
	(void)kura_audit_unspool_in_tx(db, NULL);
	return chain_one(db, e);
}

void
kura_audit_failed(struct kura_audit_entry *e, bool set_ts)
{
	kura_metrics_audit_append_failed();
	e->seq = 0;
	memset(e->prev_hash, 0, sizeof(e->prev_hash));
	memset(e->hash, 0, sizeof(e->hash));
	if (set_ts)
		e->ts_us = 0;
}

enum kura_err
kura_audit_append(struct kura_tenant_db *db, struct kura_audit_entry *e)
{
	enum kura_err err;
	bool own_tx = false, set_ts = false;

	if (e == NULL)
		return KURA_E_INTERNAL;
	if (db == NULL) {
		e->seq = 0;
		memset(e->prev_hash, 0, sizeof(e->prev_hash));
		memset(e->hash, 0, sizeof(e->hash));
		err = KURA_E_INTERNAL;
		goto out;
	}
	err = kura_audit_prepare(e, &set_ts);
	if (err != KURA_OK)
		goto out;
	/*
	 * Inside the caller's transaction the entry commits or rolls back with
	 * the change it records. Either way the head is read under the write
	 * lock (kura_store_begin is BEGIN IMMEDIATE), so two appenders never
	 * both take head + 1.
	 */
	if (!kura_store_in_transaction(db)) {
		err = kura_store_begin(db);
		if (err != KURA_OK)
			goto out;
		own_tx = true;
	}
	err = kura_audit_chain_in_tx(db, e);
	if (err != KURA_OK)
		goto out;
	if (own_tx) {
		err = kura_store_commit(db);
		if (err != KURA_OK)
			goto out;
		own_tx = false;
	}
out:
	if (own_tx)
		kura_store_rollback(db);
	/* Callers log the failure with their request id (event=audit_append_failed). */
	if (err != KURA_OK)
		kura_audit_failed(e, set_ts);
	return err;
}

void
kura_audit_filter_init(struct kura_audit_filter *f)
{
	if (f == NULL)
		return;
	memset(f, 0, sizeof(*f));
	f->outcome = -1;
}

enum kura_err
kura_audit_query(struct kura_tenant_db *db, const struct kura_audit_filter *f, kura_audit_cb cb,
		 void *ctx)
{
	/* What is spooled is shown too: moved into the chain first (logged when it cannot be). */
	if (db != NULL && !kura_store_in_transaction(db))
		(void)kura_audit_flush(db);
	return kura_store_audit_query(db, f, cb, ctx);
}

/* ------------------------------------------------------------ seal */

enum kura_err
kura_audit_seal(struct kura_store *s, const struct kura_keyring *k, const char *tenant_id)
{
	struct kura_tenant_db *db = NULL;
	uint8_t hash[HASH_BYTES], mac[HASH_BYTES];
	enum kura_err err;
	int64_t seq = 0;

	if (s == NULL || k == NULL || tenant_id == NULL) {
		err = KURA_E_INTERNAL;
		goto out;
	}
	err = kura_store_tenant_acquire(s, tenant_id, &db);
	if (err != KURA_OK)
		goto out;
	/* The seal covers what is spooled too; a spool that cannot be moved does not stop it. */
	(void)kura_audit_flush(db);
	err = kura_store_audit_head(db, &seq, hash);
	/* Give the handle back before taking a system.db connection. */
	kura_store_tenant_release(db);
	db = NULL;
	if (err != KURA_OK || seq == 0)
		goto out;
	kura_audit_seal_mac(k, tenant_id, seq, hash, mac);
	err = kura_store_seal_put(s, tenant_id, seq, hash, mac, kura_now_us());
	/* The head is sealed already (nothing appended since): the first seal stands. */
	if (err == KURA_E_EXISTS)
		err = KURA_OK;
out:
	kura_store_tenant_release(db);
	return err;
}

/* ------------------------------------------------------------ verify */

struct verify {
	struct kura_tenant_db *db;
	const struct kura_keyring *k;
	const char *tenant_id;
	enum kura_err err;               /* our own failure (memory, store), not the chain's */
	/* chain walk */
	int64_t expect;                  /* the seq the next entry must have */
	uint8_t prev[HASH_BYTES];        /* hash of entry expect - 1 */
	int64_t entries;
	/* seals */
	int64_t seals;
	int64_t good_seal;               /* highest seq whose seal matched; 0 if none */
	bool found;                      /* lookup result */
	struct kura_audit_entry at;
	/* the first problem */
	int64_t bad;
	char problem[sizeof(((struct kura_audit_report *)0)->problem)];
};

static void
broken(struct verify *v, int64_t seq, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
broken(struct verify *v, int64_t seq, const char *fmt, ...)
{
	va_list ap;

	/* Only the lowest seq found wrong is reported. */
	if (v->bad != 0 && v->bad <= seq)
		return;
	v->bad = seq;
	va_start(ap, fmt);
	vsnprintf(v->problem, sizeof(v->problem), fmt, ap);
	va_end(ap);
}

static bool
verify_entry(void *ctx, const struct kura_audit_entry *e)
{
	struct verify *v = ctx;
	uint8_t h[HASH_BYTES];
	enum kura_err err;

	if (e->seq != v->expect) {
		if (e->seq == v->expect + 1)
			broken(v, v->expect, "entry %" PRId64 " is missing", v->expect);
		else if (e->seq > v->expect)
			broken(v, v->expect, "entries %" PRId64 " to %" PRId64 " are missing",
			       v->expect, e->seq - 1);
		else
			broken(v, e->seq,
			       "entry %" PRId64 " is out of order (after entry %" PRId64 ")", e->seq,
			       v->expect - 1);
		return false;
	}
	if (memcmp(e->prev_hash, v->prev, HASH_BYTES) != 0) {
		broken(v, e->seq,
		       "prev_hash does not match the hash of entry %" PRId64
		       " (entries were replaced, reordered or removed)",
		       e->seq - 1);
		return false;
	}
	err = chain_hash(e, v->prev, h);
	if (err == KURA_E_VALIDATION) {
		broken(v, e->seq, "a field holds bytes that are not UTF-8 (the entry was altered)");
		return false;
	}
	if (err != KURA_OK) {
		v->err = err;
		return false;
	}
	if (memcmp(h, e->hash, HASH_BYTES) != 0) {
		broken(v, e->seq,
		       "hash does not match the entry's content (the entry was altered)");
		return false;
	}
	memcpy(v->prev, e->hash, HASH_BYTES);
	v->expect++;
	v->entries++;
	return true;
}

/* A point lookup through the scan: the first entry at or after the seq asked for. */
static bool
lookup_first(void *ctx, const struct kura_audit_entry *e)
{
	struct verify *v = ctx;

	v->at = *e;
	v->found = true;
	return false;
}

static bool
verify_seal(void *ctx, const struct kura_audit_seal *s)
{
	struct verify *v = ctx;
	uint8_t mac[HASH_BYTES];
	int64_t last = v->expect - 1; /* the last entry the walk accepted */
	enum kura_err err;

	/* From the first broken entry on, nothing lower can turn up. */
	if (v->bad != 0 && s->seq >= v->bad)
		return false;
	v->seals++;
	kura_audit_seal_mac(v->k, v->tenant_id, s->seq, s->hash, mac);
	if (!kura_ct_equal(mac, s->mac, HASH_BYTES)) {
		broken(v, s->seq,
		       "the seal at seq %" PRId64
		       " has an invalid MAC (forged, copied, or made under another master key)",
		       s->seq);
		return false;
	}
	v->found = false;
	/* The entry as it is now: one appended after the walk is checked too. */
	err = kura_store_audit_scan(v->db, s->seq, lookup_first, v);
	if (err != KURA_OK) {
		v->err = err;
		return false;
	}
	if (!v->found || v->at.seq != s->seq) {
		if (s->seq > last)
			broken(v, last + 1,
			       "entries %" PRId64 " to %" PRId64
			       " are gone, but a seal vouches for entry %" PRId64
			       " (the log was truncated)",
			       last + 1, s->seq, s->seq);
		else
			broken(v, s->seq, "sealed entry %" PRId64 " is missing", s->seq);
		return false;
	}
	if (memcmp(v->at.hash, s->hash, HASH_BYTES) != 0) {
		if (v->good_seal > 0)
			broken(v, s->seq,
			       "entry %" PRId64 " does not match its seal: entries after %" PRId64
			       " (the last matching seal) were rewritten",
			       s->seq, v->good_seal);
		else
			broken(v, s->seq,
			       "entry %" PRId64 " does not match its seal: entries up to it were "
			       "rewritten",
			       s->seq);
		return false;
	}
	v->good_seal = s->seq;
	return true;
}

enum kura_err
kura_audit_verify(struct kura_store *s, const struct kura_keyring *k, const char *tenant_id,
		  struct kura_audit_report *out)
{
	struct verify *v = NULL;
	enum kura_err err;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || k == NULL || tenant_id == NULL || out == NULL) {
		err = KURA_E_INTERNAL;
		goto out;
	}
	/* On the heap: it holds a whole entry, and callers may have small stacks. */
	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		err = KURA_E_NOMEM;
		goto out;
	}
	v->k = k;
	v->tenant_id = tenant_id;
	v->expect = 1;
	err = kura_store_tenant_acquire(s, tenant_id, &v->db);
	if (err != KURA_OK)
		goto out;
	/* Spooled entries are checked too once they are chained (a failure to move is logged). */
	(void)kura_audit_flush(v->db);
	/* One entry in memory at a time, whatever the length of the log. */
	err = kura_store_audit_scan(v->db, 1, verify_entry, v);
	if (err == KURA_OK)
		err = v->err;
	if (err != KURA_OK)
		goto out;
	err = kura_store_seal_list(s, tenant_id, verify_seal, v);
	if (err == KURA_OK)
		err = v->err;
	if (err != KURA_OK)
		goto out;
	out->entries = v->entries;
	out->seals = v->seals;
	if (v->bad != 0) {
		out->first_bad_seq = v->bad;
		snprintf(out->problem, sizeof(out->problem), "%s", v->problem);
		kura_log(KURA_LOG_ERROR, "audit_chain_broken", "tenant=%s seq=%" PRId64, tenant_id,
			 v->bad);
		err = KURA_E_CONFLICT;
	}
out:
	if (v != NULL)
		kura_store_tenant_release(v->db);
	if (err != KURA_OK && err != KURA_E_CONFLICT && out != NULL)
		memset(out, 0, sizeof(*out));
	free(v);
	return err;
}
