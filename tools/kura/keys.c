/*
 * kura keys: a tenant's data keys. rotate makes a new data-key version
 * current (new writes use it at once; kurad's housekeeping re-encrypts the
 * older values in short transactions while it serves); rotate-index moves
 * the blind indexes to a key from a newer version; status shows, per
 * sensitive property, how many values each key version holds and where its
 * blind index stands.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"
#include "kura/lock.h"
#include "kura/crypto.h"
#include "kura/audit.h"
#include "kura/auth.h"
#include "kura/clock.h"
#include "kura/core.h"

static int
rotate(struct cli *c, const char *tenant)
{
	struct kura_tenant t;
	uint8_t wrapped[KURA_WRAPPED_KEY_BYTES];
	char target[32];
	enum kura_err e;

	e = kura_store_tenant_get(c->store, tenant, &t);
	if (e != KURA_OK) {
		fprintf(stderr, "kura: no tenant \"%s\"\n", tenant);
		return 1;
	}
	e = kura_dek_new_wrapped(c->keys, tenant, t.key_version + 1, wrapped);
	if (e == KURA_OK)
		e = kura_store_tenant_key_rotate(c->store, tenant, t.key_version + 1, wrapped,
						 sizeof(wrapped), kura_now_us());
	sodium_memzero(wrapped, sizeof(wrapped));
	if (e == KURA_E_CONFLICT) {
		fprintf(stderr, "kura: another rotation of \"%s\" happened meanwhile; run it again\n",
			tenant);
		return 1;
	}
	if (e != KURA_OK) {
		fprintf(stderr, "kura: cannot rotate the keys of \"%s\": %s\n", tenant,
			kura_err_name(e));
		return 1;
	}
	printf("tenant %s: data key version %u is current (was %u); kurad re-encrypts older "
	       "values in the background\n",
	       tenant, t.key_version + 1, t.key_version);
	snprintf(target, sizeof(target), "%u", t.key_version + 1);
	return cli_audit_operator(c, tenant, NULL, "keys.rotate", "data_key", target);
}

static bool
count_value(void *ctx, int64_t id, const struct kura_val *v)
{
	(void)id;
	(void)v;
	(*(int64_t *)ctx)++;
	return true;
}

static const char *
object_name(const struct kura_catalog *cat, int64_t object_id)
{
	const struct kura_object *o = kura_catalog_object_by_id(cat, object_id);

	return o != NULL ? o->row.name : "?";
}

/*
 * Moves the blind index of every sensitive property to a key derived from
 * the tenant's current data-key version (rotating the data key first when
 * an index already comes from it). kurad writes new index values under the
 * new key at once, looks values up under both, and its housekeeping
 * recomputes the old ones, then switches (kura keys status shows how far).
 */
static int
rotate_index(struct cli *c, const char *tenant)
{
	struct kura_tenant t;
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	const struct kura_crm_ops *ops;
	void *conn;
	uint32_t newest = 0;
	size_t n = 0, busy = 0;
	char target[32];
	enum kura_err e;
	int rc = 1;

	e = kura_store_tenant_acquire_get(c->store, tenant, &t, &db);
	if (e != KURA_OK) {
		fprintf(stderr, "kura: no tenant \"%s\"\n", tenant);
		return 1;
	}
	e = kura_catalog_get(NULL, db, &cat);
	for (size_t i = 0; e == KURA_OK && i < cat->nprops; i++) {
		const struct kura_prop *p = &cat->props[i];

		if (!kura_prop_blind_indexed(p))
			continue;
		n++;
		busy += p->row.bidx_next != 0;
		if (p->row.bidx_version > newest)
			newest = p->row.bidx_version;
	}
	kura_catalog_release(NULL, cat);
	cat = NULL;
	if (e != KURA_OK) {
		fprintf(stderr, "kura: cannot read the properties of \"%s\": %s\n", tenant,
			kura_err_name(e));
		goto out;
	}
	if (n == 0) {
		printf("tenant %s: no sensitive property with a blind index, so none to rotate\n",
		       tenant);
		rc = 0;
		goto out;
	}
	if (busy > 0) {
		fprintf(stderr, "kura: a rotation of the blind indexes of \"%s\" is under way (%zu "
				"properties); see kura keys status --tenant %s\n", tenant, busy, tenant);
		goto out;
	}
	if (newest >= t.key_version) {
		/* a new key needs a new data-key version to come from */
		kura_store_tenant_release(db);
		db = NULL;
		if (rotate(c, tenant) != 0)
			return 1;
		e = kura_store_tenant_acquire_get(c->store, tenant, &t, &db);
		if (e != KURA_OK) {
			fprintf(stderr, "kura: cannot open \"%s\": %s\n", tenant, kura_err_name(e));
			return 1;
		}
	}
	ops = kura_store_crm(db, &conn);
	e = kura_store_begin(db);
	if (e == KURA_OK)
		e = kura_catalog_get(NULL, db, &cat);
	n = 0;
	for (size_t i = 0; e == KURA_OK && i < cat->nprops; i++) {
		const struct kura_prop *p = &cat->props[i];

		if (!kura_prop_blind_indexed(p) || p->row.bidx_next != 0 ||
		    p->row.bidx_version >= t.key_version)
			continue;
		e = ops->prop_bidx_set(conn, p->row.id, p->row.bidx_version, t.key_version,
				       kura_now_us());
		if (e == KURA_OK) {
			printf("%s.%s\tblind index: version %u -> %u\n",
			       object_name(cat, p->row.object_id), p->row.name, p->row.bidx_version,
			       t.key_version);
			n++;
		}
	}
	kura_catalog_release(NULL, cat);
	cat = NULL;
	snprintf(target, sizeof(target), "version %u", t.key_version);
	if (e == KURA_OK && cli_audit_operator(c, tenant, db, "keys.rotate_index", "blind_index",
					       target) != 0)
		e = KURA_E_STORE;
	e = kura_store_finish(db, e);
	if (e != KURA_OK) {
		fprintf(stderr, "kura: cannot rotate the blind indexes of \"%s\": %s\n", tenant,
			kura_err_name(e));
		goto out;
	}
	kura_store_tenant_release(db);
	db = NULL;
	printf("tenant %s: %zu blind index(es) now written under data key version %u; kurad looks "
	       "values up under both keys and moves the old ones in the background, starting %d s "
	       "from now\n",
	       tenant, n, t.key_version, KURA_REKEY_SETTLE_SECONDS);
	rc = cli_audit_seal_after(c, tenant);
out:
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
	return rc;
}

/*
 * What a tenant's data-key versions hold, gathered once for status and
 * retire: per version, the record values of each sensitive property, the
 * history's sealed values, the other sealed values by kind, and which blind
 * indexes are keyed from it.
 */
#define SURVEY_VERSIONS 64
static const char *const sealed_names[KURA_SEALED__COUNT] = {
	[KURA_SEALED_MFA_SECRET] = "mfa secrets",
	[KURA_SEALED_ATTACHMENT_KEY] = "attachment keys",
	[KURA_SEALED_ATTACHMENT_NAME] = "attachment names",
};

struct survey {
	uint32_t current;
	uint32_t versions[SURVEY_VERSIONS];
	bool in_keystore[SURVEY_VERSIONS];
	int64_t values[SURVEY_VERSIONS], history[SURVEY_VERSIONS];
	int64_t sealed[KURA_SEALED__COUNT][SURVEY_VERSIONS];
	int blinds[SURVEY_VERSIONS];       /* blind indexes keyed from it */
	size_t n;
	int64_t stale;                     /* values under versions other than current */
	bool quiet;                        /* gather only, print nothing */
	/* for the callbacks */
	const char *object, *prop;
	int kind;                          /* the sealed kind being counted */
	enum kura_err e;
	const char *tenant;
};

static size_t
slot_of(struct survey *s, uint32_t v)
{
	size_t i;

	for (i = 0; i < s->n && s->versions[i] != v; i++)
		;
	if (i == s->n) {
		if (s->n == SURVEY_VERSIONS) {
			s->e = KURA_E_INTERNAL;
			return SURVEY_VERSIONS - 1;
		}
		s->versions[s->n++] = v;
	}
	return i;
}

static void
on_prop_version(void *ctx, uint32_t version, int64_t n)
{
	struct survey *s = ctx;

	s->values[slot_of(s, version)] += n;
	if (version != s->current)
		s->stale += n;
	if (!s->quiet)
		printf("%s.%s\tversion %u%s\t%lld\n", s->object, s->prop, version,
		       version == s->current ? " (current)" : "", (long long)n);
}

static void
on_sealed_version(void *ctx, uint32_t version, int64_t n)
{
	struct survey *s = ctx;

	s->sealed[s->kind][slot_of(s, version)] += n;
	if (version != s->current)
		s->stale += n;
	if (!s->quiet)
		printf("%s\tversion %u%s\t%lld\n", sealed_names[s->kind], version,
		       version == s->current ? " (current)" : "", (long long)n);
}

static void
hist_value(struct survey *s, json_t *v)
{
	struct kura_strpool sp = {0};
	struct kura_val ct;

	if (!json_is_object(v) || json_object_get(v, "$enc") == NULL)
		return;
	if (kura_sensitive_ct_from_json(v, &sp, &ct) != KURA_OK) {
		s->e = KURA_E_CRYPTO;
		kura_strpool_free(&sp);
		return;
	}
	s->history[slot_of(s, kura_field_key_version((const uint8_t *)ct.s, ct.n))]++;
	kura_strpool_free(&sp);
}

struct hist_walk {
	struct survey *s;
	int64_t last_id;
};

static bool
on_history(void *ctx, const struct kura_history_row *h)
{
	struct hist_walk *w = ctx;
	json_error_t je;
	json_t *changes = json_loads(h->changes, 0, &je), *v;
	const char *name;

	w->last_id = h->id;
	json_object_foreach(changes, name, v) {
		if (json_is_array(v)) {
			hist_value(w->s, json_array_get(v, 0));
			hist_value(w->s, json_array_get(v, 1));
		} else {
			hist_value(w->s, v);
		}
	}
	json_decref(changes);
	return true;
}

static bool
on_keystore(void *ctx, const char *tenant, uint32_t version, const uint8_t *wrapped, size_t len)
{
	struct survey *s = ctx;

	(void)wrapped;
	(void)len;
	if (strcmp(tenant, s->tenant) == 0)
		s->in_keystore[slot_of(s, version)] = true;
	return true;
}

static enum kura_err
survey(struct cli *c, struct kura_tenant_db *db, const struct kura_catalog *cat,
       struct survey *s)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(db, &conn);
	struct hist_walk w = {.s = s};
	enum kura_err e;

	s->tenant = kura_store_tenant_id(db);
	slot_of(s, s->current);
	e = kura_store_tenant_keys_all(c->store, on_keystore, s);
	for (size_t i = 0; e == KURA_OK && i < cat->nprops; i++) {
		const struct kura_prop *p = &cat->props[i];

		if (!p->row.sensitive)
			continue;
		s->object = object_name(cat, p->row.object_id);
		s->prop = p->row.name;
		e = ops->prop_key_versions(conn, p->row.object_id, p->row.id, on_prop_version, s);
		if (kura_prop_blind_indexed(p)) {
			s->blinds[slot_of(s, p->row.bidx_version)]++;
			if (p->row.bidx_next != 0)
				s->blinds[slot_of(s, p->row.bidx_next)]++;
		}
		if (e != KURA_OK || s->quiet)
			continue;
		if (!kura_prop_blind_indexed(p)) {
			printf("%s.%s\tblind index: none (\"indexed\": false)\n", s->object,
			       p->row.name);
		} else if (p->row.bidx_next == 0) {
			printf("%s.%s\tblind index: version %u\n", s->object, p->row.name,
			       p->row.bidx_version);
		} else {
			int64_t left = 0, lo = kura_blind_lo(p->row.bidx_next);

			e = ops->prop_blind_stale(conn, p->row.object_id, p->row.id, lo,
						  lo + KURA_BLIND_SPAN, UINT32_MAX, count_value, &left);
			printf("%s.%s\tblind index: version %u, rotating to %u: %lld values left\n",
			       s->object, p->row.name, p->row.bidx_version, p->row.bidx_next,
			       (long long)left);
		}
	}
	/* the history's sealed values, in chunks along the cursor */
	while (e == KURA_OK) {
		int64_t before = w.last_id;

		e = ops->history_sealed_after(conn, w.last_id, 10000, on_history, &w);
		if (w.last_id == before)
			break;
	}
	for (size_t i = 0; e == KURA_OK && i < s->n; i++) {
		if (s->history[i] == 0)
			continue;
		if (s->versions[i] != s->current)
			s->stale += s->history[i];
		if (!s->quiet)
			printf("history\tversion %u%s\t%lld\n", s->versions[i],
			       s->versions[i] == s->current ? " (current)" : "",
			       (long long)s->history[i]);
	}
	for (s->kind = 0; e == KURA_OK && s->kind < KURA_SEALED__COUNT; s->kind++)
		e = ops->sealed_versions(conn, s->kind, on_sealed_version, s);
	return e != KURA_OK ? e : s->e;
}

static int
status(struct cli *c, const char *tenant)
{
	struct kura_tenant t;
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	struct survey *s = calloc(1, sizeof(*s));
	enum kura_err e;

	if (s == NULL)
		return 1;
	e = kura_store_tenant_acquire_get(c->store, tenant, &t, &db);
	if (e != KURA_OK) {
		fprintf(stderr, "kura: no tenant \"%s\"\n", tenant);
		free(s);
		return 1;
	}
	printf("tenant %s: current data key version %u\n", tenant, t.key_version);
	s->current = t.key_version;
	e = kura_catalog_get(NULL, db, &cat);
	if (e == KURA_OK)
		e = survey(c, db, cat, s);
	if (e == KURA_OK) {
		printf("keystore:");
		for (size_t i = 0; i < s->n; i++) {
			if (s->in_keystore[i])
				printf(" %u", s->versions[i]);
		}
		printf("\n");
	}
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
	if (e != KURA_OK) {
		fprintf(stderr, "kura: cannot read the key status: %s\n", kura_err_name(e));
		free(s);
		return 1;
	}
	printf("values under older versions: %lld\n", (long long)s->stale);
	free(s);
	return 0;
}

/*
 * Destroys every data-key version older than the current one that nothing
 * needs any more: no record value, history value, authenticator secret or
 * attachment key or name under it, no blind index keyed from it, no stored
 * Idempotency-Key reply made before the rotation had settled, and the
 * rotation at least KURA_REKEY_SETTLE_SECONDS old (a request begun before
 * it may still write under the old key). A version still needed is kept
 * and what needs it is said. Exit 0 when no old version is left.
 */
static int
retire(struct cli *c, const char *tenant)
{
	struct kura_tenant t;
	struct kura_tenant_db *db = NULL;
	const struct kura_catalog *cat = NULL;
	const struct kura_crm_ops *ops;
	struct survey *s = calloc(1, sizeof(*s));
	int64_t now = kura_now_us(), settled = 0, idem = 0;
	size_t kept = 0, retired = 0;
	void *conn;
	enum kura_err e;
	int rc = 1;

	if (s == NULL)
		return 1;
	e = kura_store_tenant_acquire_get(c->store, tenant, &t, &db);
	if (e != KURA_OK) {
		fprintf(stderr, "kura: no tenant \"%s\"\n", tenant);
		free(s);
		return 1;
	}
	s->tenant = tenant;
	e = kura_store_tenant_keys_all(c->store, on_keystore, s);
	for (size_t i = 0; e == KURA_OK && i < s->n; i++)
		kept += s->versions[i] < t.key_version;
	if (e == KURA_OK && kept == 0) {
		printf("tenant %s: no data key version older than %u is left\n", tenant,
		       t.key_version);
		rc = 0;
		goto out;
	}
	memset(s, 0, sizeof(*s));
	kept = 0;
	/* the tenant row changes at each rotation (and at a suspension: only later) */
	settled = t.updated_at + (int64_t)KURA_REKEY_SETTLE_SECONDS * 1000000;
	if (now < settled) {
		fprintf(stderr,
			"kura: data key version %u of \"%s\" became current less than %d s ago; "
			"requests begun before may still write under older versions: try again in "
			"%lld s\n",
			t.key_version, tenant, KURA_REKEY_SETTLE_SECONDS,
			(long long)((settled - now) / 1000000 + 1));
		goto out;
	}
	s->current = t.key_version;
	s->quiet = true;
	ops = kura_store_crm(db, &conn);
	e = kura_catalog_get(NULL, db, &cat);
	if (e == KURA_OK)
		e = survey(c, db, cat, s);
	if (e == KURA_OK)
		e = ops->idem_older(conn, settled, &idem);
	if (e != KURA_OK) {
		fprintf(stderr, "kura: cannot read what the keys of \"%s\" hold: %s\n", tenant,
			kura_err_name(e));
		goto out;
	}
	for (size_t i = 0; i < s->n; i++) {
		uint32_t v = s->versions[i];
		char why[512] = "", target[16];
		size_t w = 0;

		if (v == s->current || !s->in_keystore[i])
			continue;
#define WHY(...) (w += (size_t)snprintf(why + w, w < sizeof(why) ? sizeof(why) - w : 0, __VA_ARGS__))
		if (s->values[i] > 0)
			WHY(", %lld record values", (long long)s->values[i]);
		if (s->history[i] > 0)
			WHY(", %lld history values", (long long)s->history[i]);
		for (int k = 0; k < KURA_SEALED__COUNT; k++) {
			if (s->sealed[k][i] > 0)
				WHY(", %lld %s", (long long)s->sealed[k][i], sealed_names[k]);
		}
		if (s->blinds[i] > 0)
			WHY(", %d blind indexes (kura keys rotate-index)", s->blinds[i]);
		if (idem > 0)
			WHY(", %lld stored Idempotency-Key replies from before the rotation (they "
			    "expire a day after they were made)",
			    (long long)idem);
#undef WHY
		if (w > 0) {
			printf("tenant %s: data key version %u kept: still needed by %s\n", tenant, v,
			       why + 2);
			kept++;
			continue;
		}
		e = kura_store_tenant_key_retire(c->store, tenant, v);
		if (e != KURA_OK) {
			fprintf(stderr, "kura: cannot retire version %u of \"%s\": %s\n", v, tenant,
				kura_err_name(e));
			goto out;
		}
		printf("tenant %s: data key version %u retired (destroyed)\n", tenant, v);
		retired++;
		snprintf(target, sizeof(target), "%u", v);
		if (cli_audit_operator(c, tenant, NULL, "keys.retire", "data_key", target) != 0)
			goto out;
	}
	if (retired == 0 && kept == 0)
		printf("tenant %s: no data key version older than %u is left\n", tenant,
		       t.key_version);
	rc = kept > 0 ? 1 : 0;
out:
	kura_catalog_release(NULL, cat);
	kura_store_tenant_release(db);
	free(s);
	return rc;
}

int
cli_keys(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"tenant", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	const char *tenant = NULL;
	int opt;

	if (argc == 2 && strcmp(argv[1], "rotate-master") == 0) {
		if (cli_open(c) != 0)
			return 1;
		return cli_rotate_master(c, "on request");
	}
	if (argc < 2 || (strcmp(argv[1], "rotate") != 0 && strcmp(argv[1], "status") != 0 &&
			 strcmp(argv[1], "rotate-index") != 0 && strcmp(argv[1], "retire") != 0))
		goto usage;
	optind = 0;
	while ((opt = getopt_long(argc - 1, argv + 1, "t:", opts, NULL)) != -1) {
		if (opt != 't')
			goto usage;
		tenant = optarg;
	}
	if (tenant == NULL || optind != argc - 1 || !kura_tenant_id_valid(tenant))
		goto usage;
	if (cli_open(c) != 0)
		return 1;
	if (strcmp(argv[1], "rotate-index") == 0)
		return rotate_index(c, tenant);
	if (strcmp(argv[1], "retire") == 0)
		return retire(c, tenant);
	return strcmp(argv[1], "rotate") == 0 ? rotate(c, tenant) : status(c, tenant);
usage:
	fprintf(stderr, "usage: kura keys rotate --tenant T | kura keys rotate-index --tenant T | "
			"kura keys retire --tenant T | kura keys status --tenant T | "
			"kura keys rotate-master\n");
	return 2;
}

struct rewrap {
	const struct kura_keyring *from, *to;
	struct kura_wrapped_key *keys;
	size_t n, cap;
	enum kura_err e;
	bool probe;        /* only check that `from` opens the first key */
};

static bool
rewrap_one(void *ctx, const char *tenant, uint32_t version, const uint8_t *wrapped, size_t len)
{
	struct rewrap *r = ctx;
	struct kura_wrapped_key *k;
	uint8_t dek[KURA_KEY_BYTES];

	if (r->probe) {
		r->e = kura_dek_unwrap(r->from, tenant, version, wrapped, len, dek);
		sodium_memzero(dek, sizeof(dek));
		return false;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct kura_wrapped_key *nk = realloc(r->keys, cap * sizeof(*nk));

		if (nk == NULL) {
			r->e = KURA_E_NOMEM;
			return false;
		}
		r->keys = nk;
		r->cap = cap;
	}
	k = &r->keys[r->n];
	memset(k, 0, sizeof(*k));
	snprintf(k->tenant, sizeof(k->tenant), "%s", tenant);
	k->version = version;
	k->len = KURA_WRAPPED_KEY_BYTES;
	r->e = kura_dek_rewrap(r->from, r->to, tenant, version, wrapped, len, k->wrapped);
	if (r->e != KURA_OK)
		return false;
	r->n++;
	return true;
}

static void
free_keys(struct rewrap *r)
{
	if (r->keys != NULL)
		sodium_memzero(r->keys, r->cap * sizeof(*r->keys));
	free(r->keys);
	r->keys = NULL;
}

/*
 * Makes the new key file the master key, destroying the old one: the old
 * file is held open across the (atomic) rename, then its bytes are
 * overwritten, so there is never a moment without a usable master.key.
 */
static int
install_new_key(const char *mk, const char *mk_new)
{
	uint8_t zeros[KURA_KEY_BYTES] = {0};
	char dir[KURA_PATH_MAX];
	char *slash;
	int fd, old = open(mk, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

	if (rename(mk_new, mk) != 0) {
		fprintf(stderr, "kura: cannot move %s to %s: %s\n", mk_new, mk, strerror(errno));
		if (old >= 0)
			close(old);
		return 1;
	}
	if (old >= 0) {
		if (write(old, zeros, sizeof(zeros)) == (ssize_t)sizeof(zeros))
			(void)fsync(old);
		close(old);
	}
	snprintf(dir, sizeof(dir), "%s", mk);
	slash = strrchr(dir, '/');
	if (slash != NULL) {
		*slash = '\0';
		fd = open(dir[0] != '\0' ? dir : "/", O_RDONLY | O_DIRECTORY);
		if (fd >= 0) {
			(void)fsync(fd);
			close(fd);
		}
	}
	return 0;
}

/* Seals re-made under the new master key (those that verify under the old one). */
struct reseal {
	const struct kura_keyring *from, *to;
	const char *tenant;
	struct kura_resealed *seals;
	size_t n, cap, kept;
	enum kura_err e;
};

static bool
reseal_one(void *ctx, const struct kura_audit_seal *s)
{
	struct reseal *r = ctx;
	uint8_t mac[32];

	kura_audit_seal_mac(r->from, r->tenant, s->seq, s->hash, mac);
	/* A seal that never verified stays as it is: the break must stay visible. */
	if (!kura_ct_equal(mac, s->mac, sizeof(mac))) {
		r->kept++;
		return true;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap == 0 ? 256 : r->cap * 2;
		struct kura_resealed *p = realloc(r->seals, cap * sizeof(*p));

		if (p == NULL) {
			r->e = KURA_E_NOMEM;
			return false;
		}
		r->seals = p;
		r->cap = cap;
	}
	snprintf(r->seals[r->n].tenant, sizeof(r->seals[r->n].tenant), "%s", r->tenant);
	r->seals[r->n].seq = s->seq;
	kura_audit_seal_mac(r->to, r->tenant, s->seq, s->hash, r->seals[r->n].mac);
	r->n++;
	return true;
}

struct reseal_all {
	struct cli *c;
	struct reseal *r;
};

static void
reseal_tenant(void *ctx, const struct kura_tenant *t)
{
	struct reseal_all *x = ctx;

	if (x->r->e != KURA_OK)
		return;
	x->r->tenant = t->id;
	x->r->e = kura_store_seal_list(x->c->store, t->id, reseal_one, x->r);
	x->r->tenant = NULL;
}

/*
 * A new master key: every wrapped data key is unwrapped with the old one
 * and wrapped with the new one in a single keystore transaction; then the
 * old key file is overwritten and replaced. Data is not touched. A run cut
 * short leaves master.key.new behind: the next run finds out which key the
 * keystore is under and finishes (kurad refuses to start until then).
 */
int
cli_rotate_master(struct cli *c, const char *why)
{
	const char *mk = c->cfg.master_key_file;
	char mk_new[KURA_PATH_MAX + 8], err[512];
	struct kura_keyring *to = NULL;
	struct rewrap r = {0};
	struct reseal rs = {0};
	enum kura_err e;
	int rc = 1, lock_fd = -1;

	/* A running kurad would go on sealing and unwrapping under the old key. */
	if (c->datadir_lock < 0 &&
	    kura_datadir_lock(c->cfg.data_dir, &lock_fd, err, sizeof(err)) != KURA_OK) {
		fprintf(stderr, "kura: %s; stop it first (the master key cannot change under it)\n",
			err);
		return 1;
	}
	snprintf(mk_new, sizeof(mk_new), "%s.new", mk);
	if (access(mk_new, F_OK) == 0) {
		if (kura_keyring_open(mk_new, &to, err, sizeof(err)) == KURA_OK) {
			r.from = to;
			r.probe = true;
			e = kura_store_tenant_keys_all(c->store, rewrap_one, &r);
			if (e == KURA_OK && r.e == KURA_OK) {
				/* the keystore is under the new key already: finish */
				kura_keyring_free(to);
				to = NULL;
				if (install_new_key(mk, mk_new) != 0)
					goto out;
				printf("finished an interrupted master-key rotation\n");
				rc = 0;
				goto out;
			}
			kura_keyring_free(to);
			to = NULL;
		}
		/* the keystore is still under the old key: start again */
		unlink(mk_new);
		memset(&r, 0, sizeof(r));
	}
	e = kura_master_key_create(mk_new);
	if (e == KURA_OK)
		e = kura_keyring_open(mk_new, &to, err, sizeof(err)) == KURA_OK ? KURA_OK
										 : KURA_E_CRYPTO;
	if (e != KURA_OK) {
		fprintf(stderr, "kura: cannot make a new master key %s: %s\n", mk_new,
			kura_err_name(e));
		goto out;
	}
	r.from = c->keys;
	r.to = to;
	e = kura_store_tenant_keys_all(c->store, rewrap_one, &r);
	if (e == KURA_OK)
		e = r.e;
	/* The audit seals are MACs under a subkey of the master key: made again too. */
	rs.from = c->keys;
	rs.to = to;
	if (e == KURA_OK) {
		struct reseal_all x = {c, &rs};

		e = kura_store_tenant_list(c->store, reseal_tenant, &x);
		if (e == KURA_OK)
			e = rs.e;
	}
	if (e == KURA_OK)
		e = kura_store_tenant_keys_replace(c->store, r.keys, r.n, rs.seals, rs.n);
	if (e != KURA_OK) {
		fprintf(stderr, "kura: cannot re-wrap the data keys: %s (nothing changed)\n",
			kura_err_name(e));
		unlink(mk_new);
		goto out;
	}
	if (install_new_key(mk, mk_new) != 0)
		goto out;
	/* From here this process must use the new key too. */
	kura_keyring_free(c->keys);
	c->keys = to;
	to = NULL;
	printf("master key replaced (%s); %zu data keys re-wrapped, %zu audit seals re-made",
	       why, r.n, rs.n);
	if (rs.kept > 0)
		printf(" (%zu that did not verify kept as they were)", rs.kept);
	printf("; restart kurad to use it\n");
	rc = 0;
out:
	free_keys(&r);
	free(rs.seals);
	kura_keyring_free(to);
	kura_datadir_unlock(lock_fd);
	return rc;
}
