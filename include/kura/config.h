/*
 * Server settings. Sources, later ones winning: built-in defaults, the INI
 * file ($KURA_DATA/kura.conf or --config), KURA_* environment variables,
 * command-line flags. Every key is in one table (config.c) with its type and
 * range; an unknown key or a bad value stops start-up with a message naming
 * the key (and the file and line).
 *
 * File format: "key = value" lines; '#' or ';' starts a comment line; blank
 * lines ignored; an optional "[kura]" section header is accepted. Keys are
 * lower_snake_case. The environment name of a key is KURA_ + the key in upper
 * case, except data_dir (KURA_DATA) and master_key_file (KURA_MASTER_KEY_FILE).
 */
#ifndef KURA_CONFIG_H
#define KURA_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "kura/err.h"

#define KURA_PATH_MAX 1024
/* Most ranges trusted_proxies may list. */
#define KURA_TRUSTED_PROXIES_MAX 32

struct kura_config {
	char data_dir[KURA_PATH_MAX];
	char listen_address[64];     /* IPv4 or IPv6 literal */
	unsigned port;
	unsigned workers;            /* HTTP threads; 0 = number of CPUs */
	unsigned hash_workers;       /* password-hashing threads; 0 = max(1, CPUs/2) */
	unsigned hash_queue_max;     /* waiting hash jobs before 503 */
	char tls_cert_file[KURA_PATH_MAX]; /* "" = $data_dir/tls/server.crt */
	char tls_key_file[KURA_PATH_MAX];  /* "" = $data_dir/tls/server.key */
	char tls_client_ca_file[KURA_PATH_MAX]; /* "" = client certificates not asked for */
	char master_key_file[KURA_PATH_MAX]; /* "" = $data_dir/master.key */
	char web_root[KURA_PATH_MAX];      /* directory of the admin UI's static files */
	size_t max_body_bytes;
	size_t max_url_bytes;
	size_t max_header_bytes;
	unsigned json_max_depth;
	unsigned connection_limit;
	unsigned per_ip_connection_limit; /* counts sockets: a proxy's connections share one */
	/*
	 * Comma-separated CIDR ranges (at most KURA_TRUSTED_PROXIES_MAX, spaces
	 * removed) whose X-Forwarded-For is believed; "" = nobody's (http/proxy.c).
	 */
	char trusted_proxies[2048];
	unsigned connection_timeout_s;
	unsigned session_idle_timeout_s;
	unsigned session_absolute_timeout_s;
	unsigned password_opslimit;
	unsigned password_memlimit_kib;
	int log_level;               /* enum kura_log_level */
	/* monitoring (monitor/) */
	char metrics_token_file[KURA_PATH_MAX]; /* bearer token for GET /metrics; "" = 404 */
	unsigned login_fail_ip_limit; /* failed sign-ins per address per minute; 0 = no block */
	unsigned login_block_minutes; /* how long an address past the limit is blocked */
	unsigned form_ip_limit;       /* requests to /f/ per address per minute; 0 = no limit */
	size_t audit_spool_max_bytes;  /* a tenant's audit spool takes no entry past this */
	unsigned housekeeping_seconds; /* between rounds of kura_housekeeper (core.h) */
	size_t attachment_max_bytes;   /* largest attachment (a larger body is not read); at most 100 MiB */
	char alert_webhook_url[1024]; /* "" = alerts go to the log only */
	char alert_webhook_secret_file[KURA_PATH_MAX]; /* HMAC key of the webhook's signature */
	unsigned alert_5xx_per_minute; /* more 5xx answers in a minute raise an alert; 0 = never */
	unsigned alert_user_records_per_hour;   /* records one user reads in an hour; 0 = no alert */
	unsigned alert_user_sensitive_per_hour; /* sensitive values one user reads in an hour */
	char test_clock_offset_file[KURA_PATH_MAX]; /* tests only; see clock.h */
	bool insecure_http;          /* only from the --insecure-http flag */
};

/* Fills in every default. data_dir defaults to "./kura-data". */
void kura_config_defaults(struct kura_config *c);

/*
 * Sets one key from its text value. On error writes a message naming the key
 * into err (size n) and returns KURA_E_CONFIG.
 */
enum kura_err kura_config_set(struct kura_config *c, const char *key, const char *value,
			      char *err, size_t n);

/*
 * Reads an INI file. A missing file is KURA_OK only when optional is true.
 * Errors name the path, the line and the key.
 */
enum kura_err kura_config_load_file(struct kura_config *c, const char *path, bool optional,
				    char *err, size_t n);

/*
 * Applies KURA_* variables from envp (NULL-terminated "NAME=value" strings).
 * A KURA_* name that is not a key is an error.
 */
enum kura_err kura_config_load_env(struct kura_config *c, char *const *envp, char *err, size_t n);

/*
 * The usual sequence for kurad and the kura CLI: defaults; the data
 * directory from KURA_DATA or data_override; the file (conf_override, or
 * data_dir/kura.conf if it exists); KURA_* from envp; data_override again
 * (a flag beats the environment). kura_config_finish() is left to the caller
 * so that it can apply its own flags first.
 */
enum kura_err kura_config_load_standard(struct kura_config *c, const char *data_override,
					const char *conf_override, char *const *envp, char *err,
					size_t n);

/* Cross-field checks (absolute >= idle timeout, ...) and filling derived paths. */
enum kura_err kura_config_finish(struct kura_config *c, char *err, size_t n);

/* Writes every key with its current value and a description, as a kura.conf example. */
void kura_config_write_example(const struct kura_config *c, FILE *f);

#endif
