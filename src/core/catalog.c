/*
 * The catalogue: a tenant's object types and properties, read from its
 * store and kept, compiled (options parsed, patterns compiled), in a cache
 * shared by the HTTP threads. Every use checks the stored catalogue
 * version first (one small read), so a change made through any node or
 * process is seen on the next request.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/core.h"
#include "kura/log.h"

#define CACHE_SLOTS 64

struct slot {
	char tenant[KURA_TENANT_ID_MAX + 1];
	struct kura_catalog *cat;
	uint64_t used;
};

struct kura_catalog_cache {
	pthread_mutex_t mu;
	struct slot slots[CACHE_SLOTS];
	uint64_t clock;
};

static const char *const type_names[KURA_PT__COUNT] = {
	[KURA_PT_STRING] = "string", [KURA_PT_TEXT] = "text",
	[KURA_PT_NUMBER] = "number", [KURA_PT_BOOL] = "bool",
	[KURA_PT_DATE] = "date",     [KURA_PT_DATETIME] = "datetime",
	[KURA_PT_ENUM] = "enumeration", [KURA_PT_EMAIL] = "email",
	[KURA_PT_PHONE] = "phone",   [KURA_PT_URL] = "url",
};

int
kura_ptype_parse(const char *s)
{
	for (int i = 0; s != NULL && i < KURA_PT__COUNT; i++) {
		if (strcmp(s, type_names[i]) == 0)
			return i;
	}
	return -1;
}

const char *
kura_ptype_name(enum kura_ptype t)
{
	return (unsigned)t < KURA_PT__COUNT ? type_names[t] : "string";
}

static const struct {
	const char *name;
	unsigned bit;
} class_names[] = {
	{"digits", KURA_CC_DIGITS},     {"latin", KURA_CC_LATIN},
	{"hiragana", KURA_CC_HIRAGANA}, {"katakana", KURA_CC_KATAKANA},
	{"kanji", KURA_CC_KANJI},       {"fullwidth", KURA_CC_FULLWIDTH},
	{"halfwidth_katakana", KURA_CC_HALFWIDTH_KATAKANA},
	{"space", KURA_CC_SPACE},       {"symbols", KURA_CC_SYMBOLS},
};

static const char *const role_names[] = {"super_admin", "admin", "member", "read_only"};

unsigned
kura_role_bit(const char *role)
{
	for (unsigned i = 0; role != NULL && i < sizeof(role_names) / sizeof(role_names[0]); i++) {
		if (strcmp(role, role_names[i]) == 0)
			return 1u << i;
	}
	return 0;
}

/* Whether ",name," (or ",team:<id>,") is in a comma-wrapped list. */
static bool
listed(const char *list, const char *prefix, const char *name, size_t len)
{
	size_t pl = strlen(prefix);

	for (const char *p = list != NULL ? strstr(list, prefix) : NULL; p != NULL;
	     p = strstr(p + 1, prefix)) {
		if (p > list && p[-1] == ',' && strncmp(p + pl, name, len) == 0 && p[pl + len] == ',')
			return true;
	}
	return false;
}

static bool
role_may(unsigned roles, const char *extra, const char *role, const char *teams)
{
	unsigned bit;

	if (roles == 0 || role == NULL)
		return true;
	bit = kura_role_bit(role);
	/* Super admins always may; anyone else by role or by one of their teams. */
	if (bit == KURA_ROLE_SUPER_ADMIN || (bit != 0 && (roles & bit) != 0))
		return true;
	if (extra == NULL)
		return false;
	if (bit == 0 && listed(extra, "", role, strlen(role)))
		return true;
	for (const char *t = teams; t != NULL && *t == ',' && t[1] != '\0';) {
		const char *end = strchr(t + 1, ',');

		if (end == NULL)
			break;
		if (listed(extra, "team:", t + 1, (size_t)(end - t - 1)))
			return true;
		t = end;
	}
	return false;
}

bool
kura_prop_can_view(const struct kura_prop *p, const char *role, const char *teams)
{
	return role_may(p->view_roles, p->view_extra, role, teams);
}

bool
kura_prop_can_edit(const struct kura_prop *p, const char *role, const char *teams)
{
	return role_may(p->edit_roles, p->edit_extra, role, teams) &&
	       role_may(p->view_roles, p->view_extra, role, teams);
}

bool
kura_grantee_parse(const char *s, bool *builtin, int64_t *team_id)
{
	size_t n;

	*builtin = false;
	*team_id = 0;
	if (s == NULL)
		return false;
	if (kura_role_bit(s) != 0) {
		*builtin = true;
		return true;
	}
	if (strncmp(s, "team:", 5) == 0) {
		int64_t v = 0;

		n = strlen(s + 5);
		if (n == 0 || n > 15 || s[5] == '0')
			return false;
		for (size_t i = 5; s[i] != '\0'; i++) {
			if (s[i] < '0' || s[i] > '9')
				return false;
			v = v * 10 + (s[i] - '0');
		}
		*team_id = v;
		return true;
	}
	n = strlen(s);
	if (n < 2 || n > 32 || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	}
	return true;
}

/* Appends ",entry" to *extra (made ",entry," on first use); false when out of memory. */
static bool
extra_add(char **extra, const char *entry)
{
	size_t old = *extra != NULL ? strlen(*extra) : 1;
	char *p = realloc(*extra, old + strlen(entry) + 2);

	if (p == NULL)
		return false;
	if (*extra == NULL)
		p[0] = ',';
	snprintf(p + old, strlen(entry) + 2, "%s,", entry);
	*extra = p;
	return true;
}

/*
 * {"view": [grantees], "edit": [grantees]} into bits and extra lists;
 * false on anything else.
 */
static bool
parse_permissions(struct kura_prop *p)
{
	json_error_t je;
	json_t *o = json_loads(p->permissions_text != NULL ? p->permissions_text : "{}", 0, &je), *v;
	const char *key;
	bool ok = json_is_object(o);

	p->view_roles = p->edit_roles = 0;
	free(p->view_extra);
	free(p->edit_extra);
	p->view_extra = p->edit_extra = NULL;
	json_object_foreach(o, key, v) {
		bool view = strcmp(key, "view") == 0;
		unsigned *out = view ? &p->view_roles : strcmp(key, "edit") == 0 ? &p->edit_roles : NULL;
		char **extra = view ? &p->view_extra : &p->edit_extra;
		size_t i;
		json_t *r;

		if (out == NULL || !json_is_array(v)) {
			ok = false;
			break;
		}
		json_array_foreach(v, i, r) {
			const char *g = json_string_value(r);
			bool builtin;
			int64_t team;

			if (!kura_grantee_parse(g, &builtin, &team))
				ok = false;
			else if (builtin)
				*out |= kura_role_bit(g);
			else if (!extra_add(extra, g))
				ok = false;
		}
		/* an empty list still means "super admins only" */
		*out |= KURA_ROLE_SUPER_ADMIN;
	}
	json_decref(o);
	return ok;
}

void
kura_prop_clear(struct kura_prop *p)
{
	if (p == NULL)
		return;
	free(p->permissions_text);
	free(p->view_extra);
	free(p->edit_extra);
	free(p->description);
	free(p->options_text);
	free(p->validation_text);
	json_decref(p->options);
	if (p->has_pattern)
		regfree(&p->pattern);
	memset(p, 0, sizeof(*p));
}

static bool
num_member(json_t *o, const char *k, double *out, bool *has)
{
	json_t *v = json_object_get(o, k);

	*has = false;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	*has = true;
	return true;
}

bool
kura_prop_compile(struct kura_prop *p, char *err, size_t n)
{
	json_error_t je;
	json_t *val = NULL, *v;
	double d;
	bool has;
	int t = kura_ptype_parse(p->row.type);

	if (t < 0) {
		snprintf(err, n, "unknown type");
		return false;
	}
	p->type = (enum kura_ptype)t;
	p->searchable = !p->row.sensitive &&
			(p->type == KURA_PT_STRING || p->type == KURA_PT_TEXT ||
			 p->type == KURA_PT_EMAIL || p->type == KURA_PT_PHONE || p->type == KURA_PT_URL);
	p->options = json_loads(p->options_text != NULL ? p->options_text : "[]", 0, &je);
	if (p->options == NULL || !json_is_array(p->options)) {
		snprintf(err, n, "options are not a JSON array");
		return false;
	}
	val = json_loads(p->validation_text != NULL ? p->validation_text : "{}", 0, &je);
	if (val == NULL || !json_is_object(val)) {
		json_decref(val);
		snprintf(err, n, "validation is not a JSON object");
		return false;
	}
	if (!num_member(val, "minLength", &d, &has))
		goto bad;
	p->min_len = has ? (int64_t)d : 0;
	if (!num_member(val, "maxLength", &d, &has))
		goto bad;
	p->max_len = has ? (int64_t)d : 0;
	if (!num_member(val, "min", &p->min, &p->has_min) ||
	    !num_member(val, "max", &p->max, &p->has_max))
		goto bad;
	v = json_object_get(val, "characterClasses");
	if (v != NULL) {
		size_t i;
		json_t *c;

		if (!json_is_array(v))
			goto bad;
		json_array_foreach(v, i, c) {
			bool known = false;

			for (size_t k = 0; k < sizeof(class_names) / sizeof(class_names[0]); k++) {
				if (json_is_string(c) &&
				    strcmp(json_string_value(c), class_names[k].name) == 0) {
					p->classes |= class_names[k].bit;
					known = true;
				}
			}
			if (!known) {
				snprintf(err, n, "unknown character class");
				json_decref(val);
				return false;
			}
		}
	}
	v = json_object_get(val, "pattern");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) ||
		    regcomp(&p->pattern, json_string_value(v), REG_EXTENDED | REG_NOSUB) != 0) {
			snprintf(err, n, "pattern is not a valid POSIX extended regular expression");
			json_decref(val);
			return false;
		}
		p->has_pattern = true;
	}
	json_decref(val);
	if (!parse_permissions(p)) {
		snprintf(err, n, "permissions is {\"view\": [grantees], \"edit\": [grantees]}: "
			 "roles and team:<id>");
		return false;
	}
	p->row.description = p->description != NULL ? p->description : "";
	p->row.options = p->options_text != NULL ? p->options_text : "[]";
	p->row.validation = p->validation_text != NULL ? p->validation_text : "{}";
	p->row.permissions = p->permissions_text != NULL ? p->permissions_text : "{}";
	return true;
bad:
	json_decref(val);
	snprintf(err, n, "validation holds a member of the wrong type");
	return false;
}

/* --- loading --- */

struct load {
	struct kura_catalog *cat;
	size_t ocap, pcap;
	enum kura_err e;
};

static bool
add_object(void *ctx, const struct kura_object_row *o)
{
	struct load *l = ctx;
	struct kura_catalog *c = l->cat;

	if (c->nobjects == l->ocap) {
		size_t cap = l->ocap ? l->ocap * 2 : 8;
		struct kura_object *n = realloc(c->objects, cap * sizeof(*n));

		if (n == NULL) {
			l->e = KURA_E_NOMEM;
			return false;
		}
		c->objects = n;
		l->ocap = cap;
	}
	memset(&c->objects[c->nobjects], 0, sizeof(c->objects[0]));
	c->objects[c->nobjects++].row = *o;
	return true;
}

static bool
add_prop(void *ctx, const struct kura_prop_row *r)
{
	struct load *l = ctx;
	struct kura_catalog *c = l->cat;
	struct kura_prop *p;
	char err[128];

	if (c->nprops == l->pcap) {
		size_t cap = l->pcap ? l->pcap * 2 : 32;
		struct kura_prop *n = realloc(c->props, cap * sizeof(*n));

		if (n == NULL) {
			l->e = KURA_E_NOMEM;
			return false;
		}
		c->props = n;
		l->pcap = cap;
	}
	p = &c->props[c->nprops++];
	memset(p, 0, sizeof(*p));
	p->row = *r;
	p->description = strdup(r->description != NULL ? r->description : "");
	p->options_text = strdup(r->options != NULL ? r->options : "[]");
	p->validation_text = strdup(r->validation != NULL ? r->validation : "{}");
	p->permissions_text = strdup(r->permissions != NULL ? r->permissions : "{}");
	if (p->description == NULL || p->options_text == NULL || p->validation_text == NULL ||
	    p->permissions_text == NULL) {
		l->e = KURA_E_NOMEM;
		return false;
	}
	if (!kura_prop_compile(p, err, sizeof(err))) {
		/* Stored by an older rule set or damaged: keep serving the rest. */
		kura_log(KURA_LOG_ERROR, "catalog_error", "prop=%lld msg=\"%s\"", (long long)r->id,
			 err);
		p->row.archived_at = p->row.archived_at != 0 ? p->row.archived_at : 1;
	}
	return true;
}

static void
catalog_free(struct kura_catalog *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nprops; i++)
		kura_prop_clear(&c->props[i]);
	for (size_t i = 0; i < c->nobjects; i++)
		free(c->objects[i].props);
	free(c->props);
	free(c->objects);
	free(c);
}

static enum kura_err
catalog_load(struct kura_tenant_db *db, int64_t version, struct kura_catalog **out)
{
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(db, &conn);
	struct load l = {0};
	enum kura_err e;

	*out = NULL;
	if (ops == NULL)
		return KURA_E_INTERNAL;
	l.cat = calloc(1, sizeof(*l.cat));
	if (l.cat == NULL)
		return KURA_E_NOMEM;
	l.cat->version = version;
	e = ops->object_list(conn, add_object, &l);
	if (e == KURA_OK)
		e = l.e;
	if (e == KURA_OK)
		e = ops->prop_list(conn, add_prop, &l);
	if (e == KURA_OK)
		e = l.e;
	for (size_t i = 0; e == KURA_OK && i < l.cat->nobjects; i++) {
		struct kura_object *o = &l.cat->objects[i];

		o->props = calloc(l.cat->nprops + 1, sizeof(*o->props));
		if (o->props == NULL) {
			e = KURA_E_NOMEM;
			break;
		}
		for (size_t j = 0; j < l.cat->nprops; j++) {
			struct kura_prop *p = &l.cat->props[j];

			if (p->row.object_id == o->row.id && p->row.archived_at == 0)
				o->props[o->nprops++] = p;
		}
	}
	for (size_t j = 0; e == KURA_OK && j < l.cat->nprops; j++) {
		const struct kura_prop *p = &l.cat->props[j];

		if ((p->view_extra != NULL && strstr(p->view_extra, ",team:") != NULL) ||
		    (p->edit_extra != NULL && strstr(p->edit_extra, ",team:") != NULL))
			l.cat->team_grants = true;
	}
	if (e != KURA_OK) {
		catalog_free(l.cat);
		return e;
	}
	l.cat->refs = 1;
	*out = l.cat;
	return KURA_OK;
}

enum kura_err
kura_catalog_cache_new(struct kura_catalog_cache **out)
{
	struct kura_catalog_cache *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return KURA_E_NOMEM;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return KURA_E_INTERNAL;
	}
	*out = c;
	return KURA_OK;
}

void
kura_catalog_cache_free(struct kura_catalog_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		if (c->slots[i].cat != NULL && --c->slots[i].cat->refs == 0)
			catalog_free(c->slots[i].cat);
	}
	pthread_mutex_destroy(&c->mu);
	free(c);
}

enum kura_err
kura_catalog_get(struct kura_catalog_cache *cache, struct kura_tenant_db *db,
		 const struct kura_catalog **out)
{
	return kura_catalog_get_at(cache, db, 0, out);
}

enum kura_err
kura_catalog_get_at(struct kura_catalog_cache *cache, struct kura_tenant_db *db, int64_t known,
		    const struct kura_catalog **out)
{
	const char *tenant = kura_store_tenant_id(db);
	struct kura_catalog *cat = NULL;
	struct slot *s = NULL, *victim;
	void *conn;
	const struct kura_crm_ops *ops = kura_store_crm(db, &conn);
	int64_t version = known;
	enum kura_err e;

	*out = NULL;
	if (ops == NULL || tenant == NULL)
		return KURA_E_INTERNAL;
	if (version <= 0) {
		e = ops->catalog_version(conn, &version);
		if (e != KURA_OK)
			return e;
	}
	if (cache != NULL) {
		pthread_mutex_lock(&cache->mu);
		for (size_t i = 0; i < CACHE_SLOTS; i++) {
			if (cache->slots[i].cat != NULL &&
			    strcmp(cache->slots[i].tenant, tenant) == 0) {
				s = &cache->slots[i];
				break;
			}
		}
		if (s != NULL && s->cat->version == version) {
			s->cat->refs++;
			s->used = ++cache->clock;
			*out = s->cat;
			pthread_mutex_unlock(&cache->mu);
			return KURA_OK;
		}
		pthread_mutex_unlock(&cache->mu);
	}
	e = catalog_load(db, version, &cat);
	if (e != KURA_OK)
		return e;
	if (cache == NULL) {
		*out = cat;
		return KURA_OK;
	}
	pthread_mutex_lock(&cache->mu);
	victim = NULL;
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		struct slot *t = &cache->slots[i];

		if (t->cat != NULL && strcmp(t->tenant, tenant) == 0) {
			victim = t;
			break;
		}
		if (victim == NULL || t->cat == NULL ||
		    (victim->cat != NULL && t->used < victim->used))
			victim = t;
	}
	if (victim->cat != NULL && --victim->cat->refs == 0)
		catalog_free(victim->cat);
	snprintf(victim->tenant, sizeof(victim->tenant), "%s", tenant);
	victim->cat = cat;
	victim->used = ++cache->clock;
	cat->refs++; /* the cache's own reference */
	*out = cat;
	pthread_mutex_unlock(&cache->mu);
	return KURA_OK;
}

void
kura_catalog_release(struct kura_catalog_cache *cache, const struct kura_catalog *cat)
{
	struct kura_catalog *c = (struct kura_catalog *)cat;
	bool last;

	if (c == NULL)
		return;
	if (cache == NULL) {
		catalog_free(c);
		return;
	}
	pthread_mutex_lock(&cache->mu);
	last = --c->refs == 0;
	pthread_mutex_unlock(&cache->mu);
	if (last)
		catalog_free(c);
}

const struct kura_object *
kura_catalog_object(const struct kura_catalog *cat, const char *name)
{
	for (size_t i = 0; cat != NULL && name != NULL && i < cat->nobjects; i++) {
		if (strcmp(cat->objects[i].row.name, name) == 0)
			return &cat->objects[i];
	}
	return NULL;
}

const struct kura_prop *
kura_object_prop(const struct kura_object *o, const char *name)
{
	for (size_t i = 0; o != NULL && name != NULL && i < o->nprops; i++) {
		if (strcmp(o->props[i]->row.name, name) == 0)
			return o->props[i];
	}
	return NULL;
}

const struct kura_object *
kura_catalog_object_by_id(const struct kura_catalog *cat, int64_t id)
{
	for (size_t i = 0; cat != NULL && i < cat->nobjects; i++) {
		if (cat->objects[i].row.id == id)
			return &cat->objects[i];
	}
	return NULL;
}

const struct kura_prop *
kura_catalog_prop_by_id(const struct kura_catalog *cat, int64_t id)
{
	size_t lo = 0, hi = cat != NULL ? cat->nprops : 0;

	/* props are read in id order */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cat->props[mid].row.id == id)
			return &cat->props[mid];
		if (cat->props[mid].row.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
