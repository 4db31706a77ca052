/*
 * Settings: one table of keys with type, range and description drives the
 * INI reader, the KURA_* environment reader, validation and the example
 * file, so a key cannot exist in one place and be missing in another.
 */
#include "kura/config.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kura/cidr.h"
#include "kura/log.h"

enum key_type { T_STR, T_UINT, T_SIZE, T_ADDR, T_LEVEL, T_CIDRS };

struct key {
	const char *name;
	const char *env;        /* NULL = "KURA_" + upper(name) */
	enum key_type type;
	size_t off;
	size_t size;            /* for strings: buffer size */
	unsigned long long min;
	unsigned long long max;
	const char *desc;
};

#define OFF(f) offsetof(struct kura_config, f)
#define SZ(f) sizeof(((struct kura_config *)0)->f)

static const struct key keys[] = {
	{"data_dir", "KURA_DATA", T_STR, OFF(data_dir), SZ(data_dir), 0, 0,
	 "directory holding system.db, tenants/, tls/ and master.key"},
	{"listen_address", NULL, T_ADDR, OFF(listen_address), SZ(listen_address), 0, 0,
	 "IPv4 or IPv6 address to listen on (0.0.0.0 or :: for all)"},
	{"port", NULL, T_UINT, OFF(port), SZ(port), 1, 65535, "TCP port"},
	{"workers", NULL, T_UINT, OFF(workers), SZ(workers), 0, 256,
	 "HTTP worker threads; 0 = number of CPUs"},
	{"hash_workers", NULL, T_UINT, OFF(hash_workers), SZ(hash_workers), 0, 64,
	 "password-hashing threads (each hash uses password_memlimit_kib); 0 = max(1, CPUs/2)"},
	{"hash_queue_max", NULL, T_UINT, OFF(hash_queue_max), SZ(hash_queue_max), 1, 100000,
	 "logins waiting for a hashing thread before new ones get 503"},
	{"tls_cert_file", NULL, T_STR, OFF(tls_cert_file), SZ(tls_cert_file), 0, 0,
	 "PEM certificate chain; empty = data_dir/tls/server.crt (self-signed on kura init)"},
	{"tls_key_file", NULL, T_STR, OFF(tls_key_file), SZ(tls_key_file), 0, 0,
	 "PEM private key; empty = data_dir/tls/server.key"},
	{"tls_client_ca_file", NULL, T_STR, OFF(tls_client_ca_file), SZ(tls_client_ca_file), 0, 0,
	 "PEM certificate authorities of client certificates (mutual TLS); empty = none asked for"},
	{"master_key_file", "KURA_MASTER_KEY_FILE", T_STR, OFF(master_key_file),
	 SZ(master_key_file), 0, 0, "32-byte master key file, mode 0600; empty = data_dir/master.key"},
	{"web_root", NULL, T_STR, OFF(web_root), SZ(web_root), 0, 0,
	 "directory of the admin UI's static files; empty = no UI"},
	{"max_body_bytes", NULL, T_SIZE, OFF(max_body_bytes), SZ(max_body_bytes), 1024,
	 64ull << 20, "largest request body accepted (413 above)"},
	{"max_url_bytes", NULL, T_SIZE, OFF(max_url_bytes), SZ(max_url_bytes), 256, 65536,
	 "longest request URL accepted (414 above)"},
	{"max_header_bytes", NULL, T_SIZE, OFF(max_header_bytes), SZ(max_header_bytes), 1024,
	 131072, "largest total size of request headers (431 above)"},
	{"json_max_depth", NULL, T_UINT, OFF(json_max_depth), SZ(json_max_depth), 2, 512,
	 "deepest JSON nesting accepted (400 above)"},
	{"connection_limit", NULL, T_UINT, OFF(connection_limit), SZ(connection_limit), 1, 1000000,
	 "open connections in all"},
	{"per_ip_connection_limit", NULL, T_UINT, OFF(per_ip_connection_limit),
	 SZ(per_ip_connection_limit), 1, 100000,
	 "open connections from one IP address (the socket's: behind a proxy, the proxy's)"},
	{"trusted_proxies", NULL, T_CIDRS, OFF(trusted_proxies), SZ(trusted_proxies), 0,
	 KURA_TRUSTED_PROXIES_MAX,
	 "comma-separated CIDR ranges of reverse proxies whose X-Forwarded-For names the client "
	 "(at most 32); empty = trust nobody"},
	{"connection_timeout_s", NULL, T_UINT, OFF(connection_timeout_s), SZ(connection_timeout_s),
	 1, 3600, "seconds an idle connection is kept"},
	{"session_idle_timeout_s", NULL, T_UINT, OFF(session_idle_timeout_s),
	 SZ(session_idle_timeout_s), 1, 86400 * 30, "a session unused this long ends"},
	{"session_absolute_timeout_s", NULL, T_UINT, OFF(session_absolute_timeout_s),
	 SZ(session_absolute_timeout_s), 1, 86400 * 30, "a session ends this long after login"},
	{"password_opslimit", NULL, T_UINT, OFF(password_opslimit), SZ(password_opslimit), 2, 20,
	 "Argon2id passes (OWASP minimum 2)"},
	{"password_memlimit_kib", NULL, T_UINT, OFF(password_memlimit_kib),
	 SZ(password_memlimit_kib), 19456, 4u << 20, "Argon2id memory in KiB (OWASP minimum 19456)"},
	{"log_level", NULL, T_LEVEL, OFF(log_level), SZ(log_level), 0, 0, "debug, info, warn or error"},
	{"metrics_token_file", NULL, T_STR, OFF(metrics_token_file), SZ(metrics_token_file), 0, 0,
	 "file holding the bearer token of GET /metrics (16+ characters); empty = /metrics off (404)"},
	{"login_fail_ip_limit", NULL, T_UINT, OFF(login_fail_ip_limit), SZ(login_fail_ip_limit), 0,
	 100000, "failed sign-ins from one address within a minute before it is blocked; 0 = never"},
	{"attachment_max_bytes", NULL, T_SIZE, OFF(attachment_max_bytes), SZ(attachment_max_bytes),
	 1, 100u << 20, "largest file that may be attached to a record (at most 100 MiB)"},
	{"audit_spool_max_bytes", NULL, T_SIZE, OFF(audit_spool_max_bytes),
	 SZ(audit_spool_max_bytes), 4096, 64ull << 30,
	 "largest a tenant's audit spool may grow while its moves into the audit log are held up "
	 "(a long import holding the tenant's write lock); past it, reads of sensitive values "
	 "answer 503"},
	{"housekeeping_seconds", NULL, T_UINT, OFF(housekeeping_seconds), SZ(housekeeping_seconds),
	 1, 86400,
	 "seconds between housekeeping rounds (purging records archived over 90 days ago, "
	 "expired Idempotency-Key replies)"},
	{"form_ip_limit", NULL, T_UINT, OFF(form_ip_limit), SZ(form_ip_limit), 0, 100000,
	 "requests to public form endpoints (/f/) from one address within a minute; past it the "
	 "address gets 429 there for a minute; 0 = no limit"},
	{"login_block_minutes", NULL, T_UINT, OFF(login_block_minutes), SZ(login_block_minutes), 1,
	 1440, "minutes an address stays blocked (every request answers 429)"},
	{"alert_webhook_url", NULL, T_STR, OFF(alert_webhook_url), SZ(alert_webhook_url), 0, 0,
	 "https:// URL (http:// to loopback only) that alerts are POSTed to; empty = log only"},
	{"alert_webhook_secret_file", NULL, T_STR, OFF(alert_webhook_secret_file),
	 SZ(alert_webhook_secret_file), 0, 0,
	 "file holding the key (16+ characters) of the webhook's X-Kura-Signature HMAC"},
	{"alert_5xx_per_minute", NULL, T_UINT, OFF(alert_5xx_per_minute), SZ(alert_5xx_per_minute), 0,
	 1000000, "more 5xx answers than this in one minute raise an alert; 0 = never"},
	{"alert_user_records_per_hour", NULL, T_UINT, OFF(alert_user_records_per_hour),
	 SZ(alert_user_records_per_hour), 0, 100000000,
	 "one user reading more records than this within an hour raises an alert; 0 = never"},
	{"alert_user_sensitive_per_hour", NULL, T_UINT, OFF(alert_user_sensitive_per_hour),
	 SZ(alert_user_sensitive_per_hour), 0, 100000000,
	 "one user reading more sensitive values than this within an hour raises an alert; 0 = never"},
	{"test_clock_offset_file", NULL, T_STR, OFF(test_clock_offset_file),
	 SZ(test_clock_offset_file), 0, 0, "tests only: file whose number of seconds moves the clock"},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

void
kura_config_defaults(struct kura_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->data_dir, sizeof(c->data_dir), "./kura-data");
	snprintf(c->listen_address, sizeof(c->listen_address), "127.0.0.1");
	c->port = 8443;
	c->workers = 0;
	c->hash_workers = 0;
	c->hash_queue_max = 64;
	c->max_body_bytes = 1u << 20;
	c->audit_spool_max_bytes = (size_t)256 << 20;
	c->max_url_bytes = 8192;
	c->max_header_bytes = 16384;
	c->json_max_depth = 32;
	c->connection_limit = 1024;
	c->per_ip_connection_limit = 64;
	c->connection_timeout_s = 30;
	c->session_idle_timeout_s = 30 * 60;
	c->session_absolute_timeout_s = 3 * 60 * 60;
	c->password_opslimit = 2;
	c->password_memlimit_kib = 65536;
	c->log_level = KURA_LOG_INFO;
	c->login_fail_ip_limit = 20;
	c->login_block_minutes = 15;
	c->form_ip_limit = 120;
	c->housekeeping_seconds = 3600;
	c->attachment_max_bytes = 25u << 20;
	c->alert_5xx_per_minute = 50;
	c->alert_user_records_per_hour = 10000;
	c->alert_user_sensitive_per_hour = 1000;
#ifdef KURA_DEFAULT_WEB_ROOT
	snprintf(c->web_root, sizeof(c->web_root), "%s", KURA_DEFAULT_WEB_ROOT);
#endif
}

static const struct key *
find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

static void
env_name(const struct key *k, char *out, size_t n)
{
	size_t i = 0;

	if (k->env != NULL) {
		snprintf(out, n, "%s", k->env);
		return;
	}
	snprintf(out, n, "KURA_");
	i = strlen(out);
	for (const char *p = k->name; *p != '\0' && i + 1 < n; p++)
		out[i++] = (char)((*p >= 'a' && *p <= 'z') ? *p - 'a' + 'A' : *p);
	out[i] = '\0';
}

static enum kura_err
parse_uint(const char *v, unsigned long long *out)
{
	char *end = NULL;
	unsigned long long x;

	*out = 0;
	if (v[0] < '0' || v[0] > '9')
		return KURA_E_CONFIG;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0')
		return KURA_E_CONFIG;
	*out = x;
	return KURA_OK;
}

/*
 * A list of CIDR ranges, "a/n, b/m": every entry valid, at most k->max of
 * them, stored without the spaces. Empty = no range.
 */
static enum kura_err
set_cidrs(char *field, const struct key *k, const char *value, char *err, size_t n)
{
	char out[sizeof(((struct kura_config *)0)->trusted_proxies)];
	char item[64];
	const char *p = value, *end, *a, *b;
	size_t len = 0, count = 0;

	out[0] = '\0';
	if (k->size > sizeof(out) || strlen(value) >= k->size) {
		snprintf(err, n, "%s: value longer than %zu bytes", k->name, k->size - 1);
		return KURA_E_CONFIG;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	while (*p != '\0') {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		a = p;
		b = end;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if ((size_t)(b - a) >= sizeof(item)) {
			snprintf(err, n, "%s: \"%.*s...\" is not a CIDR range", k->name, 20, a);
			return KURA_E_CONFIG;
		}
		memcpy(item, a, (size_t)(b - a));
		item[b - a] = '\0';
		if (!kura_cidr_valid(item)) {
			snprintf(err, n,
				 "%s: \"%s\" is not a CIDR range (address/length, e.g. 10.0.0.0/8 or "
				 "2001:db8::/32, no bits set past the length)",
				 k->name, item);
			return KURA_E_CONFIG;
		}
		if (++count > k->max) {
			snprintf(err, n, "%s: more than %llu ranges", k->name, k->max);
			return KURA_E_CONFIG;
		}
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", len > 0 ? "," : "",
					item);
		p = *end == ',' ? end + 1 : end;
		if (*end == ',' && *p == '\0') {
			snprintf(err, n, "%s: empty entry after the last comma", k->name);
			return KURA_E_CONFIG;
		}
	}
	snprintf(field, k->size, "%s", out);
	return KURA_OK;
}

static enum kura_err
set_key(struct kura_config *c, const struct key *k, const char *value, char *err, size_t n)
{
	char *field = (char *)c + k->off;
	unsigned long long x = 0;
	int lvl;

	switch (k->type) {
	case T_STR:
		if (strlen(value) >= k->size) {
			snprintf(err, n, "%s: value longer than %zu bytes", k->name, k->size - 1);
			return KURA_E_CONFIG;
		}
		snprintf(field, k->size, "%s", value);
		return KURA_OK;
	case T_ADDR: {
		unsigned char tmp[16];

		if (strlen(value) >= k->size || (inet_pton(AF_INET, value, tmp) != 1 &&
						  inet_pton(AF_INET6, value, tmp) != 1)) {
			snprintf(err, n, "%s: \"%s\" is not an IPv4 or IPv6 address", k->name, value);
			return KURA_E_CONFIG;
		}
		snprintf(field, k->size, "%s", value);
		return KURA_OK;
	}
	case T_UINT:
	case T_SIZE:
		if (parse_uint(value, &x) != KURA_OK || x < k->min || x > k->max) {
			snprintf(err, n, "%s: \"%s\" is not a whole number from %llu to %llu", k->name,
				 value, k->min, k->max);
			return KURA_E_CONFIG;
		}
		if (k->type == T_UINT)
			*(unsigned *)(void *)field = (unsigned)x;
		else
			*(size_t *)(void *)field = (size_t)x;
		return KURA_OK;
	case T_LEVEL:
		lvl = kura_log_level_parse(value);
		if (lvl < 0) {
			snprintf(err, n, "%s: \"%s\" is not one of debug, info, warn, error", k->name,
				 value);
			return KURA_E_CONFIG;
		}
		*(int *)(void *)field = lvl;
		return KURA_OK;
	case T_CIDRS:
		return set_cidrs(field, k, value, err, n);
	}
	return KURA_E_CONFIG;
}

enum kura_err
kura_config_set(struct kura_config *c, const char *key, const char *value, char *err, size_t n)
{
	const struct key *k = find_key(key);

	if (k == NULL) {
		snprintf(err, n, "unknown setting \"%s\"", key);
		return KURA_E_CONFIG;
	}
	return set_key(c, k, value, err, n);
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

enum kura_err
kura_config_load_file(struct kura_config *c, const char *path, bool optional, char *err, size_t n)
{
	FILE *f = NULL;
	char line[4096];
	char msg[512];
	unsigned lineno = 0;
	enum kura_err e = KURA_OK;

	f = fopen(path, "r");
	if (f == NULL) {
		if (errno == ENOENT && optional)
			return KURA_OK;
		snprintf(err, n, "%s: cannot open: %s", path, strerror(errno));
		return KURA_E_CONFIG;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq, *key, *val;
		size_t len = strlen(line);

		lineno++;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			snprintf(err, n, "%s:%u: line longer than %zu bytes", path, lineno,
				 sizeof(line) - 2);
			e = KURA_E_CONFIG;
			goto out;
		}
		s = trim(line);
		if (s[0] == '\0' || s[0] == '#' || s[0] == ';')
			continue;
		if (strcmp(s, "[kura]") == 0)
			continue;
		eq = strchr(s, '=');
		if (eq == NULL) {
			snprintf(err, n, "%s:%u: expected \"key = value\"", path, lineno);
			e = KURA_E_CONFIG;
			goto out;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		/* A value may be quoted to keep leading/trailing spaces or '#'. */
		if (strlen(val) >= 2 && val[0] == '"' && val[strlen(val) - 1] == '"') {
			val[strlen(val) - 1] = '\0';
			val++;
		}
		e = kura_config_set(c, key, val, msg, sizeof(msg));
		if (e != KURA_OK) {
			snprintf(err, n, "%s:%u: %s", path, lineno, msg);
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, n, "%s: read error", path);
		e = KURA_E_CONFIG;
	}
out:
	fclose(f);
	return e;
}

enum kura_err
kura_config_load_env(struct kura_config *c, char *const *envp, char *err, size_t n)
{
	char name[128];
	char msg[512];

	for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
		const char *kv = envp[i];
		const char *eq = strchr(kv, '=');
		const struct key *k = NULL;

		if (strncmp(kv, "KURA_", 5) != 0 || eq == NULL)
			continue;
		for (size_t j = 0; j < NKEYS; j++) {
			env_name(&keys[j], name, sizeof(name));
			if (strlen(name) == (size_t)(eq - kv) && strncmp(kv, name, (size_t)(eq - kv)) == 0) {
				k = &keys[j];
				break;
			}
		}
		if (k == NULL) {
			snprintf(err, n, "environment: unknown setting %.*s", (int)(eq - kv), kv);
			return KURA_E_CONFIG;
		}
		if (set_key(c, k, eq + 1, msg, sizeof(msg)) != KURA_OK) {
			snprintf(err, n, "environment %s: %s", name, msg);
			return KURA_E_CONFIG;
		}
	}
	return KURA_OK;
}

enum kura_err
kura_config_load_standard(struct kura_config *c, const char *data_override,
			  const char *conf_override, char *const *envp, char *err, size_t n)
{
	char path[KURA_PATH_MAX + 16];
	enum kura_err e = KURA_OK;

	kura_config_defaults(c);
	/* The data directory locates kura.conf, so it is settled first. */
	for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
		if (strncmp(envp[i], "KURA_DATA=", 10) == 0)
			e = kura_config_set(c, "data_dir", envp[i] + 10, err, n);
	}
	if (e == KURA_OK && data_override != NULL)
		e = kura_config_set(c, "data_dir", data_override, err, n);
	if (e != KURA_OK)
		return e;
	snprintf(path, sizeof(path), "%s/kura.conf", c->data_dir);
	e = kura_config_load_file(c, conf_override != NULL ? conf_override : path,
				  conf_override == NULL, err, n);
	if (e == KURA_OK)
		e = kura_config_load_env(c, envp, err, n);
	if (e == KURA_OK && data_override != NULL)
		e = kura_config_set(c, "data_dir", data_override, err, n);
	return e;
}

static enum kura_err
derive_path(char *dst, size_t size, const char *dir, const char *rel, char *err, size_t n)
{
	if (dst[0] != '\0')
		return KURA_OK;
	if ((size_t)snprintf(dst, size, "%s/%s", dir, rel) >= size) {
		snprintf(err, n, "data_dir: path too long");
		return KURA_E_CONFIG;
	}
	return KURA_OK;
}

/*
 * The alert webhook's URL: https anywhere; plain http only to this host, so
 * that signed alerts never cross a network in clear.
 */
static bool
webhook_url_ok(const char *u)
{
	char host[64];
	const char *h;
	size_t len;
	struct in_addr a4;

	for (const unsigned char *p = (const unsigned char *)u; *p != '\0'; p++) {
		if (*p <= ' ' || *p == 0x7f)
			return false;
	}
	if (strncasecmp(u, "https://", 8) == 0)
		return u[8] != '\0' && u[8] != '/';
	if (strncasecmp(u, "http://", 7) != 0)
		return false;
	h = u + 7;
	if (h[0] == '[' && strchr(h, ']') == NULL)
		return false;
	len = h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/?#");
	/* user@host would make the host something else than it seems */
	if (len == 0 || len >= sizeof(host) || strcspn(h, "@/") < strcspn(h, "/") ||
	    (h[len] != '\0' && h[len] != ':' && h[len] != '/'))
		return false;
	memcpy(host, h, len);
	host[len] = '\0';
	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return true;
	return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

enum kura_err
kura_config_finish(struct kura_config *c, char *err, size_t n)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (ncpu < 1)
		ncpu = 1;
	if (c->data_dir[0] == '\0') {
		snprintf(err, n, "data_dir: must not be empty");
		return KURA_E_CONFIG;
	}
	if (c->session_absolute_timeout_s < c->session_idle_timeout_s) {
		snprintf(err, n, "session_absolute_timeout_s (%u) is shorter than "
			 "session_idle_timeout_s (%u)", c->session_absolute_timeout_s,
			 c->session_idle_timeout_s);
		return KURA_E_CONFIG;
	}
	if (c->per_ip_connection_limit > c->connection_limit) {
		snprintf(err, n, "per_ip_connection_limit (%u) exceeds connection_limit (%u)",
			 c->per_ip_connection_limit, c->connection_limit);
		return KURA_E_CONFIG;
	}
	if (c->alert_webhook_url[0] != '\0') {
		if (!webhook_url_ok(c->alert_webhook_url)) {
			snprintf(err, n, "alert_webhook_url: use https://, or http:// to a loopback "
				 "address (127.0.0.1, [::1], localhost), without spaces or controls");
			return KURA_E_CONFIG;
		}
		if (c->alert_webhook_secret_file[0] == '\0') {
			snprintf(err, n, "alert_webhook_url is set but alert_webhook_secret_file is "
				 "not: the webhook's requests must be signed");
			return KURA_E_CONFIG;
		}
	}
	if (c->workers == 0)
		c->workers = (unsigned)ncpu;
	if (c->hash_workers == 0)
		c->hash_workers = ncpu / 2 > 1 ? (unsigned)(ncpu / 2) : 1;
	if (derive_path(c->tls_cert_file, sizeof(c->tls_cert_file), c->data_dir, "tls/server.crt",
			err, n) != KURA_OK ||
	    derive_path(c->tls_key_file, sizeof(c->tls_key_file), c->data_dir, "tls/server.key",
			err, n) != KURA_OK ||
	    derive_path(c->master_key_file, sizeof(c->master_key_file), c->data_dir, "master.key",
			err, n) != KURA_OK)
		return KURA_E_CONFIG;
	return KURA_OK;
}

void
kura_config_write_example(const struct kura_config *c, FILE *f)
{
	char env[128];

	fprintf(f, "# kura.conf: every setting with its default. Each key can also be set by\n"
		   "# the environment variable named beside it; the environment wins.\n\n");
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const char *field = (const char *)c + k->off;

		env_name(k, env, sizeof(env));
		fprintf(f, "# %s (%s)\n", k->desc, env);
		switch (k->type) {
		case T_STR:
		case T_ADDR:
		case T_CIDRS:
			fprintf(f, "%s = %s\n\n", k->name, field);
			break;
		case T_UINT:
			fprintf(f, "%s = %u\n\n", k->name, *(const unsigned *)(const void *)field);
			break;
		case T_SIZE:
			fprintf(f, "%s = %zu\n\n", k->name, *(const size_t *)(const void *)field);
			break;
		case T_LEVEL: {
			static const char *const names[] = {"debug", "info", "warn", "error"};
			int lvl = *(const int *)(const void *)field;

			fprintf(f, "%s = %s\n\n", k->name,
				(lvl >= 0 && lvl <= 3) ? names[lvl] : "info");
			break;
		}
		}
	}
}
