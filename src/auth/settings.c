/*
 * Tenant security settings: one table of keys (name in the API, range,
 * default, field) drives loading, validation, JSON and saving, the same way
 * the server's own config table does.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/auth.h"
#include "kura/settings.h"

struct key {
	const char *name;     /* API (camelCase) and store key alike */
	size_t off;
	unsigned min, max;    /* allowed range when not zero */
	bool zero_ok;         /* 0 allowed as "off" / "server default" */
	unsigned def;
};

#define OFF(f) offsetof(struct kura_security_settings, f)

static const struct key keys[] = {
	{"passwordMinLength", OFF(password_min_length), 8, 30, false, 12},
	{"passwordExpiryDays", OFF(password_expiry_days), 30, 365, true, 0},
	{"lockoutThreshold", OFF(lockout_threshold), 3, 9, true, 5},
	{"lockoutMinutes", OFF(lockout_minutes), 1, 1440, false, 30},
	{"sessionIdleMinutes", OFF(session_idle_minutes), 5, 1440, true, 0},
	{"sessionAbsoluteMinutes", OFF(session_absolute_minutes), 15, 1440, true, 0},
	/* Bounded by KURA_PASSWORD_HISTORY_MAX: each entry costs one Argon2id verification. */
	{"passwordHistory", OFF(password_history), 1, 24, true, 5},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))
#define CLASSES_KEY "passwordRequiredClasses"
#define CONCURRENT_KEY "concurrentSessions"
#define ALLOWLIST_KEY KURA_SETTING_IP_ALLOWLIST
#define APIKEY_ALLOWLIST_KEY KURA_SETTING_APIKEY_IP_ALLOWLIST
#define MFA_KEY "mfaRequired"
#define CERT_KEY "clientCertRequired"
#define CAS_KEY "clientCas"

static const char *const concurrent_names[] = {"allow", "end_older", "refuse"};

static int
concurrent_parse(const char *v)
{
	for (int i = 0; i < 3; i++) {
		if (v != NULL && strcmp(v, concurrent_names[i]) == 0)
			return i;
	}
	return -1;
}

static const char *const class_names[] = {"lower", "upper", "digit", "symbol"};

static unsigned *
field(struct kura_security_settings *s, const struct key *k)
{
	return (unsigned *)(void *)((char *)s + k->off);
}

void
kura_settings_defaults(struct kura_security_settings *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < NKEYS; i++)
		*field(s, &keys[i]) = keys[i].def;
}

static bool
in_range(const struct key *k, long long v)
{
	return (v == 0 && k->zero_ok) || (v >= k->min && v <= k->max);
}

static bool
parse_classes(const char *text, unsigned *out)
{
	char buf[128];
	char *save = NULL;
	unsigned mask = 0;

	if (strlen(text) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", text);
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < 4; i++) {
			if (strcmp(t, class_names[i]) == 0)
				break;
		}
		if (i == 4)
			return false;
		mask |= 1u << i;
	}
	*out = mask;
	return true;
}

/* Every comma-separated item of list is a valid range (an empty list is too). */
static bool
allowlist_valid(const char *list)
{
	char item[64];
	const char *p = list;
	size_t count = 0;

	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len == 0 || len >= sizeof(item) || ++count > KURA_IP_ALLOWLIST_MAX)
			return false;
		memcpy(item, p, len);
		item[len] = '\0';
		if (!kura_cidr_valid(item))
			return false;
		p += len;
		if (*p == ',')
			p++;
	}
	return true;
}

static void
load_row(void *ctx, const char *key, const char *value)
{
	struct kura_security_settings *s = ctx;
	char *end = NULL;
	long long v;

	/*
	 * A damaged list must not open the tenant to every address: it is kept
	 * as it is, and matching a damaged range matches nothing.
	 */
	if (strcmp(key, ALLOWLIST_KEY) == 0) {
		snprintf(s->ip_allowlist, sizeof(s->ip_allowlist), "%s", value);
		return;
	}
	if (strcmp(key, APIKEY_ALLOWLIST_KEY) == 0) {
		snprintf(s->apikey_ip_allowlist, sizeof(s->apikey_ip_allowlist), "%s", value);
		return;
	}
	if (strcmp(key, CERT_KEY) == 0) {
		/* As for MFA: only an explicit "0" turns it off. */
		s->client_cert_required = strcmp(value, "0") != 0;
		return;
	}
	if (strcmp(key, CAS_KEY) == 0) {
		/* A damaged list keeps its text: matching it then admits no authority. */
		snprintf(s->client_cas, sizeof(s->client_cas), "%s", value);
		return;
	}
	if (strcmp(key, MFA_KEY) == 0) {
		/* Anything but an explicit "0" keeps MFA required: a damaged row weakens nothing. */
		s->mfa_required = strcmp(value, "0") != 0;
		return;
	}
	if (strcmp(key, CONCURRENT_KEY) == 0) {
		int c = concurrent_parse(value);

		if (c >= 0)
			s->concurrent_sessions = (enum kura_concurrent_sessions)c;
		return;
	}
	if (strcmp(key, CLASSES_KEY) == 0) {
		unsigned m;

		if (parse_classes(value, &m))
			s->password_classes = m;
		return;
	}
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].name, key) != 0)
			continue;
		v = strtoll(value, &end, 10);
		/* A damaged row keeps the default rather than weakening anything. */
		if (end != value && *end == '\0' && in_range(&keys[i], v))
			*field(s, &keys[i]) = (unsigned)v;
	}
}

enum kura_err
kura_settings_load(struct kura_tenant_db *db, struct kura_security_settings *out)
{
	enum kura_err e;

	kura_settings_defaults(out);
	e = kura_store_settings_list(db, load_row, out);
	if (e != KURA_OK)
		kura_settings_defaults(out);
	return e;
}

/* A stored list ("a,b") as a JSON array of its ranges. */
static json_t *
list_json(const char *p)
{
	json_t *list = json_array();

	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len > 0)
			json_array_append_new(list, json_stringn(p, len));
		p += len;
		if (*p == ',')
			p++;
	}
	return list;
}

json_t *
kura_settings_json(const struct kura_security_settings *s)
{
	json_t *o = json_object();
	json_t *classes = json_array();

	for (size_t i = 0; i < NKEYS; i++)
		json_object_set_new(o, keys[i].name,
				    json_integer(*field((struct kura_security_settings *)s, &keys[i])));
	for (unsigned i = 0; i < 4; i++) {
		if ((s->password_classes & (1u << i)) != 0)
			json_array_append_new(classes, json_string(class_names[i]));
	}
	json_object_set_new(o, CLASSES_KEY, classes);
	json_object_set_new(o, CONCURRENT_KEY,
			    json_string(concurrent_names[(unsigned)s->concurrent_sessions % 3]));
	json_object_set_new(o, MFA_KEY, json_boolean(s->mfa_required));
	json_object_set_new(o, CERT_KEY, json_boolean(s->client_cert_required));
	{
		json_t *cas = json_array();
		const char *p = s->client_cas;

		while (*p != '\0') {
			const char *end = strchr(p, ',');
			size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

			if (len > 0)
				json_array_append_new(cas, json_stringn(p, len));
			p += len + (end != NULL ? 1 : 0);
		}
		json_object_set_new(o, CAS_KEY, cas);
	}
	json_object_set_new(o, ALLOWLIST_KEY, list_json(s->ip_allowlist));
	json_object_set_new(o, APIKEY_ALLOWLIST_KEY, list_json(s->apikey_ip_allowlist));
	return o;
}

static void
detail(json_t *details, const char *f, const char *code, const char *msg)
{
	json_array_append_new(details,
			      json_pack("{s:s, s:s, s:s}", "field", f, "code", code, "message", msg));
}

static void
note_change(char *changed, size_t n, const char *name)
{
	size_t len = strlen(changed);

	snprintf(changed + len, n - len, "%s%s", len > 0 ? "," : "", name);
}

/*
 * Sets the allow-list named name (stored in dst, of size n) from v, a JSON
 * array of ranges; appends a detail and changes nothing when v is not one.
 */
static void
apply_allowlist(const char *name, json_t *v, char *dst, size_t n, json_t *details,
		char *changed, size_t cn)
{
	char list[KURA_IP_ALLOWLIST_TEXT_MAX];
	size_t i, used = 0;
	json_t *c;
	bool ok = json_is_array(v) && json_array_size(v) <= KURA_IP_ALLOWLIST_MAX;

	list[0] = '\0';
	json_array_foreach(v, i, c) {
		const char *t = json_string_value(c);

		if (!ok)
			break;
		if (t == NULL || strlen(t) > 43 || strchr(t, ',') != NULL || !kura_cidr_valid(t)) {
			ok = false;
			break;
		}
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
					 used > 0 ? "," : "", t);
	}
	if (!ok) {
		detail(details, name, "invalid",
		       "a list of at most 50 address ranges such as 192.0.2.0/24 or "
		       "2001:db8::/32 ([] = any address)");
		return;
	}
	if (strcmp(list, dst) != 0) {
		snprintf(dst, n, "%s", list);
		note_change(changed, cn, name);
	}
}

enum kura_err
kura_settings_apply(struct kura_security_settings *s, json_t *patch, json_t *details,
		    char *changed, size_t n)
{
	const char *name;
	json_t *v;
	size_t before = json_array_size(details);

	changed[0] = '\0';
	if (!json_is_object(patch)) {
		detail(details, "", "invalid_type", "the body must be a JSON object");
		return KURA_E_VALIDATION;
	}
	json_object_foreach(patch, name, v) {
		const struct key *k = NULL;
		char msg[128];

		if (strcmp(name, CONCURRENT_KEY) == 0) {
			int c = json_is_string(v) ? concurrent_parse(json_string_value(v)) : -1;

			if (c < 0) {
				detail(details, CONCURRENT_KEY, "invalid", "allow, end_older or refuse");
				continue;
			}
			if ((enum kura_concurrent_sessions)c != s->concurrent_sessions) {
				s->concurrent_sessions = (enum kura_concurrent_sessions)c;
				note_change(changed, n, CONCURRENT_KEY);
			}
			continue;
		}
		if (strcmp(name, CERT_KEY) == 0) {
			if (!json_is_boolean(v)) {
				detail(details, CERT_KEY, "invalid", "true or false");
				continue;
			}
			if (json_is_true(v) != s->client_cert_required) {
				s->client_cert_required = json_is_true(v);
				note_change(changed, n, CERT_KEY);
			}
			continue;
		}
		if (strcmp(name, CAS_KEY) == 0) {
			char list[KURA_CLIENT_CAS_TEXT_MAX];
			size_t i, used = 0;
			json_t *c;
			bool ok = json_is_array(v) && json_array_size(v) <= KURA_CLIENT_CAS_MAX;

			list[0] = '\0';
			json_array_foreach(v, i, c) {
				const char *t = json_string_value(c);

				if (!ok)
					break;
				if (t == NULL || strlen(t) != 64 || strspn(t, "0123456789abcdef") != 64) {
					ok = false;
					break;
				}
				used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
							 used > 0 ? "," : "", t);
			}
			if (!ok) {
				detail(details, CAS_KEY, "invalid",
				       "a list of at most 15 SHA-256 fingerprints (64 lower-case hex "
				       "digits) of the server's client authorities ([] = any of them)");
				continue;
			}
			if (strcmp(list, s->client_cas) != 0) {
				snprintf(s->client_cas, sizeof(s->client_cas), "%s", list);
				note_change(changed, n, CAS_KEY);
			}
			continue;
		}
		if (strcmp(name, MFA_KEY) == 0) {
			if (!json_is_boolean(v)) {
				detail(details, MFA_KEY, "invalid", "true or false");
				continue;
			}
			if (json_is_true(v) != s->mfa_required) {
				s->mfa_required = json_is_true(v);
				note_change(changed, n, MFA_KEY);
			}
			continue;
		}
		if (strcmp(name, ALLOWLIST_KEY) == 0) {
			apply_allowlist(ALLOWLIST_KEY, v, s->ip_allowlist, sizeof(s->ip_allowlist),
					details, changed, n);
			continue;
		}
		if (strcmp(name, APIKEY_ALLOWLIST_KEY) == 0) {
			apply_allowlist(APIKEY_ALLOWLIST_KEY, v, s->apikey_ip_allowlist,
					sizeof(s->apikey_ip_allowlist), details, changed, n);
			continue;
		}
		if (strcmp(name, CLASSES_KEY) == 0) {
			unsigned mask = 0;
			size_t i;
			json_t *c;
			bool ok = json_is_array(v);

			json_array_foreach(v, i, c) {
				unsigned m;

				if (!json_is_string(c) || !parse_classes(json_string_value(c), &m) ||
				    strchr(json_string_value(c), ',') != NULL)
					ok = false;
				else
					mask |= m;
			}
			if (!ok) {
				detail(details, CLASSES_KEY, "invalid",
				       "a list of: lower, upper, digit, symbol");
				continue;
			}
			if (mask != s->password_classes) {
				s->password_classes = mask;
				note_change(changed, n, CLASSES_KEY);
			}
			continue;
		}
		for (size_t i = 0; i < NKEYS; i++) {
			if (strcmp(keys[i].name, name) == 0)
				k = &keys[i];
		}
		if (k == NULL) {
			char f[80];

			snprintf(f, sizeof(f), "%.64s", name);
			detail(details, f, "unknown", "no such setting");
			continue;
		}
		if (!json_is_integer(v) || !in_range(k, json_integer_value(v))) {
			if (k->zero_ok)
				snprintf(msg, sizeof(msg), "0 (off) or a whole number from %u to %u",
					 k->min, k->max);
			else
				snprintf(msg, sizeof(msg), "a whole number from %u to %u", k->min,
					 k->max);
			detail(details, k->name, "out_of_range", msg);
			continue;
		}
		if (*field(s, k) != (unsigned)json_integer_value(v)) {
			*field(s, k) = (unsigned)json_integer_value(v);
			note_change(changed, n, k->name);
		}
	}
	return json_array_size(details) > before ? KURA_E_VALIDATION : KURA_OK;
}

enum kura_err
kura_settings_save(struct kura_tenant_db *db, const struct kura_security_settings *s, int64_t now)
{
	char v[128];
	enum kura_err e = KURA_OK;

	for (size_t i = 0; i < NKEYS && e == KURA_OK; i++) {
		snprintf(v, sizeof(v), "%u", *field((struct kura_security_settings *)s, &keys[i]));
		e = kura_store_setting_put(db, keys[i].name, v, now);
	}
	if (e == KURA_OK) {
		v[0] = '\0';
		for (unsigned i = 0; i < 4; i++) {
			if ((s->password_classes & (1u << i)) != 0)
				note_change(v, sizeof(v), class_names[i]);
		}
		e = kura_store_setting_put(db, CLASSES_KEY, v, now);
	}
	if (e == KURA_OK)
		e = kura_store_setting_put(db, CONCURRENT_KEY,
					   concurrent_names[(unsigned)s->concurrent_sessions % 3], now);
	if (e == KURA_OK)
		e = kura_store_setting_put(db, ALLOWLIST_KEY, s->ip_allowlist, now);
	if (e == KURA_OK)
		e = kura_store_setting_put(db, APIKEY_ALLOWLIST_KEY, s->apikey_ip_allowlist, now);
	if (e == KURA_OK)
		e = kura_store_setting_put(db, MFA_KEY, s->mfa_required ? "1" : "0", now);
	if (e == KURA_OK)
		e = kura_store_setting_put(db, CERT_KEY, s->client_cert_required ? "1" : "0", now);
	if (e == KURA_OK)
		e = kura_store_setting_put(db, CAS_KEY, s->client_cas, now);
	return e;
}

/* One indexed read of the list named key, then the match. */
static bool
ip_allowed(struct kura_tenant_db *db, const char *key, const char *ip, enum kura_err *e)
{
	char list[KURA_IP_ALLOWLIST_TEXT_MAX];

	*e = kura_store_setting_get(db, key, list, sizeof(list));
	if (*e == KURA_E_NOT_FOUND) {
		*e = KURA_OK;
		return true;
	}
	if (*e != KURA_OK)
		return false;
	return kura_settings_allowlist_admits(list, ip);
}

bool
kura_settings_allowlist_admits(const char *list, const char *ip)
{
	if (list[0] == '\0')
		return true;
	/* A list that no longer parses admits nobody rather than everybody. */
	return allowlist_valid(list) && kura_cidr_list_match(list, ip);
}

bool
kura_settings_ip_allowed(struct kura_tenant_db *db, const char *ip, enum kura_err *e)
{
	return ip_allowed(db, ALLOWLIST_KEY, ip, e);
}

const char *
kura_settings_lockout(const struct kura_security_settings *before,
		      const struct kura_security_settings *after, bool api_key, const char *ip)
{
	const char *was = api_key ? before->apikey_ip_allowlist : before->ip_allowlist;
	const char *now = api_key ? after->apikey_ip_allowlist : after->ip_allowlist;

	if (strcmp(was, now) == 0 || now[0] == '\0')
		return NULL;
	/* An address that is not one (no client address known) is left out too. */
	if (ip != NULL && allowlist_valid(now) && kura_cidr_list_match(now, ip))
		return NULL;
	return api_key ? APIKEY_ALLOWLIST_KEY : ALLOWLIST_KEY;
}
