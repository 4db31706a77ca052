/*
 * kurad: the Kura server. Reads settings, opens the master key and the
 * store, loads the TLS certificate, starts the HTTP threads and waits for
 * SIGTERM or SIGINT, then stops accepting, lets requests in flight finish
 * and closes everything in reverse order.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/config.h"
#include "kura/core.h"
#include "kura/crypto.h"
#include "kura/http.h"
#include "kura/lock.h"
#include "kura/log.h"
#include "kura/monitor.h"
#include "kura/password.h"
#include "kura/pool.h"
#include "kura/server.h"
#include "kura/store.h"

extern char **environ;

/* Client addresses the failed-login block tracks at most (about 5 MB). */
#define IPBLOCK_CAPACITY 65536

static void
usage(FILE *f)
{
	fprintf(f, "usage: kurad [--data DIR] [--config FILE] [--listen ADDR] [--port N]\n"
		   "             [--insecure-http] [--print-config]\n"
		   "Settings come from kura.conf in the data directory (or --config), then\n"
		   "KURA_* environment variables, then these flags. See kura.conf.example.\n");
}

static enum kura_err
read_file(const char *path, char **out, char *err, size_t n)
{
	FILE *f = NULL;
	char *buf = NULL;
	long len;
	enum kura_err e = KURA_E_IO;

	*out = NULL;
	f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, n, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || len > (1 << 20) ||
	    fseek(f, 0, SEEK_SET) != 0) {
		snprintf(err, n, "%s: unreadable or larger than 1 MiB", path);
		goto out;
	}
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		snprintf(err, n, "%s: read failed", path);
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	e = KURA_OK;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	return e;
}

/*
 * Reads a secret the operator shares with a machine outside (the metrics
 * scraper's token, the webhook's key): one line of 16 to 4096 printable
 * characters, no spaces, in a regular file that the group cannot write
 * and others cannot access at all. The caller wipes and frees *out.
 */
static enum kura_err
read_shared_secret(const char *key, const char *path, char **out, size_t *len, char *err,
		   size_t n)
{
	struct stat st;
	char *buf = NULL;
	size_t l;
	enum kura_err e = KURA_E_CONFIG;

	*out = NULL;
	*len = 0;
	if (lstat(path, &st) != 0) {
		snprintf(err, n, "%s %s: %s", key, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 0027) != 0) {
		snprintf(err, n, "%s %s: must be a regular file (not a link) that the group cannot "
			 "write and others cannot read (chmod 0600 or 0640)", key, path);
		goto out;
	}
	if (read_file(path, &buf, err, n) != KURA_OK)
		goto out;
	l = strlen(buf);
	while (l > 0 && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
		l--;
	buf[l] = '\0';
	for (size_t i = 0; i < l; i++) {
		if ((unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] >= 0x7f) {
			l = 0;
			break;
		}
	}
	if (l < 16 || l > 4096) {
		snprintf(err, n, "%s %s: must hold one line of 16 to 4096 printable characters "
			 "without spaces", key, path);
		goto out;
	}
	*out = buf;
	*len = l;
	buf = NULL;
	e = KURA_OK;
out:
	if (buf != NULL) {
		explicit_bzero(buf, strlen(buf));
		free(buf);
	}
	return e;
}

static void
free_secret(char *s, size_t len)
{
	if (s == NULL)
		return;
	explicit_bzero(s, len);
	free(s);
}

/* Reads a tenant's wrapped data key from the keystore (for the field keys' cache). */
static enum kura_err
fetch_wrapped_key(void *ctx, const char *tenant, uint32_t version, uint8_t *out, size_t cap,
		  size_t *len)
{
	return kura_store_tenant_key_get(ctx, tenant, version, out, cap, len);
}

/*
 * Monitoring: the metrics token (only its hash is kept), the per-route
 * series, the failed-login IP block and the alerts (with the webhook's
 * thread when a URL is set).
 */
static enum kura_err
start_monitoring(struct kura_server *srv, char *err, size_t n)
{
	const struct kura_config *cfg = &srv->cfg;
	char *secret = NULL;
	size_t len = 0;
	enum kura_err e;

	srv->started_at = kura_now_us();
	e = kura_metrics_init(srv->nroutes);
	for (size_t i = 0; e == KURA_OK && i < srv->nroutes; i++) {
		char m[16];

		kura_method_mask_str(srv->routes[i].method, m, sizeof(m));
		e = kura_metrics_route_label(i, m, srv->routes[i].pattern);
	}
	if (e != KURA_OK) {
		snprintf(err, n, "metrics: %s", kura_err_name(e));
		goto out;
	}
	if (cfg->metrics_token_file[0] != '\0') {
		e = read_shared_secret("metrics_token_file", cfg->metrics_token_file, &secret, &len,
				       err, n);
		if (e != KURA_OK)
			goto out;
		kura_sha256(secret, len, srv->metrics_token_sha256);
		srv->metrics_enabled = true;
		free_secret(secret, len);
		secret = NULL;
		len = 0;
	}
	if (cfg->login_fail_ip_limit > 0) {
		e = kura_ipblock_new(cfg->login_fail_ip_limit, 60, cfg->login_block_minutes * 60,
				     IPBLOCK_CAPACITY, &srv->ipblock);
		if (e != KURA_OK) {
			snprintf(err, n, "failed-login block: %s", kura_err_name(e));
			goto out;
		}
	}
	if (cfg->form_ip_limit > 0) {
		/* the same bounded table as the failed-login block, counting every request */
		e = kura_ipblock_new(cfg->form_ip_limit, 60, 60, IPBLOCK_CAPACITY,
				     &srv->form_throttle);
		if (e != KURA_OK) {
			snprintf(err, n, "form throttle: %s", kura_err_name(e));
			goto out;
		}
	}
	if (cfg->alert_webhook_url[0] != '\0') {
		e = read_shared_secret("alert_webhook_secret_file", cfg->alert_webhook_secret_file,
				       &secret, &len, err, n);
		if (e != KURA_OK)
			goto out;
	}
	/* Always made: without a webhook the alerts still reach the log. */
	e = kura_alerts_new(cfg->alert_webhook_url, (const uint8_t *)secret, len,
			    cfg->alert_5xx_per_minute, &srv->alerts);
	if (e != KURA_OK)
		snprintf(err, n, "alerts: %s", kura_err_name(e));
	if (e == KURA_OK &&
	    (cfg->alert_user_records_per_hour > 0 || cfg->alert_user_sensitive_per_hour > 0)) {
		e = kura_volume_new(cfg->alert_user_records_per_hour,
				    cfg->alert_user_sensitive_per_hour, &srv->volume);
		if (e != KURA_OK)
			snprintf(err, n, "read volume: %s", kura_err_name(e));
	}
out:
	free_secret(secret, len);
	return e;
}

/* Tests only: follows the number of seconds in test_clock_offset_file. */
static void *
test_clock_thread(void *arg)
{
	const char *path = arg;

	for (;;) {
		FILE *f = fopen(path, "r");
		double secs = 0;

		if (f != NULL) {
			if (fscanf(f, "%lf", &secs) == 1)
				kura_clock_set_offset_us((int64_t)(secs * 1e6));
			fclose(f);
		}
		usleep(100 * 1000);
	}
	return NULL;
}

static enum kura_err
load_config(int argc, char **argv, struct kura_config *cfg, bool *print_config, char *err, size_t n)
{
	static const struct option opts[] = {
		{"data", required_argument, NULL, 'd'},
		{"config", required_argument, NULL, 'c'},
		{"listen", required_argument, NULL, 'l'},
		{"port", required_argument, NULL, 'p'},
		{"insecure-http", no_argument, NULL, 'I'},
		{"print-config", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *data = NULL, *conf = NULL, *listen = NULL, *port = NULL;
	bool insecure = false;
	int c;
	enum kura_err e;

	while ((c = getopt_long(argc, argv, "d:c:l:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'c': conf = optarg; break;
		case 'l': listen = optarg; break;
		case 'p': port = optarg; break;
		case 'I': insecure = true; break;
		case 'P': *print_config = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc) {
		snprintf(err, n, "unexpected argument \"%s\"", argv[optind]);
		return KURA_E_CONFIG;
	}
	e = kura_config_load_standard(cfg, data, conf, environ, err, n);
	if (e == KURA_OK && listen != NULL)
		e = kura_config_set(cfg, "listen_address", listen, err, n);
	if (e == KURA_OK && port != NULL)
		e = kura_config_set(cfg, "port", port, err, n);
	cfg->insecure_http = insecure;
	if (e == KURA_OK)
		e = kura_config_finish(cfg, err, n);
	return e;
}

int
main(int argc, char **argv)
{
	static struct kura_server srv;
	struct kura_audit_sealer *sealer = NULL;
	struct kura_housekeeper *housekeeper = NULL;
	char err[1024] = "";
	char qerr[1200];
	bool print_config = false;
	sigset_t sigs;
	int sig = 0, rc = 1, lock_fd = -1;
	pthread_t clock_thr;

	signal(SIGPIPE, SIG_IGN);
	if (load_config(argc, argv, &srv.cfg, &print_config, err, sizeof(err)) != KURA_OK) {
		fprintf(stderr, "kurad: configuration error: %s\n", err);
		return 2;
	}
	if (print_config) {
		kura_config_write_example(&srv.cfg, stdout);
		return 0;
	}
	kura_log_set_level((enum kura_log_level)srv.cfg.log_level);
	/* Block the stop signals before any thread starts, so only sigwait sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	if (kura_crypto_init() != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=crypto_init");
		goto out;
	}
	{
		char pending[KURA_PATH_MAX + 8];

		/* A master-key rotation cut short: which key opens the keystore is unknown. */
		snprintf(pending, sizeof(pending), "%s.new", srv.cfg.master_key_file);
		if (access(pending, F_OK) == 0) {
			kura_log(KURA_LOG_ERROR, "start_failed",
				 "reason=master_key msg=\"%s exists: a master-key rotation was cut "
				 "short; run kura keys rotate-master to finish it\"",
				 pending);
			goto out;
		}
	}
	/* One kurad per data directory; operator commands that need it stopped can tell. */
	if (kura_datadir_lock(srv.cfg.data_dir, &lock_fd, err, sizeof(err)) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=data_dir_lock msg=%s",
			 kura_log_quote(qerr, sizeof(qerr), err));
		goto out;
	}
	if (kura_keyring_open(srv.cfg.master_key_file, &srv.keys, err, sizeof(err)) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=master_key msg=%s hint=\"run kura init\"",
			 kura_log_quote(qerr, sizeof(qerr), err));
		goto out;
	}
	if (kura_store_open(&kura_store_sqlite_ops, srv.cfg.data_dir,
			    2 * srv.cfg.workers + srv.cfg.hash_workers, &srv.store, err,
			    sizeof(err)) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=store msg=%s",
			 kura_log_quote(qerr, sizeof(qerr), err));
		goto out;
	}
	if (!srv.cfg.insecure_http &&
	    (read_file(srv.cfg.tls_cert_file, &srv.tls_cert_pem, err, sizeof(err)) != KURA_OK ||
	     read_file(srv.cfg.tls_key_file, &srv.tls_key_pem, err, sizeof(err)) != KURA_OK)) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=tls msg=%s hint=\"run kura init\"",
			 kura_log_quote(qerr, sizeof(qerr), err));
		goto out;
	}
	if (!srv.cfg.insecure_http && srv.cfg.tls_client_ca_file[0] != '\0' &&
	    (read_file(srv.cfg.tls_client_ca_file, &srv.tls_client_ca_pem, err, sizeof(err)) !=
		     KURA_OK ||
	     kura_client_cas_load(srv.tls_client_ca_pem, strlen(srv.tls_client_ca_pem),
				  &srv.client_cas, err, sizeof(err)) != KURA_OK)) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=tls_client_ca_file msg=%s",
			 kura_log_quote(qerr, sizeof(qerr), err));
		goto out;
	}
	srv.pw.opslimit = srv.cfg.password_opslimit;
	srv.pw.memlimit = (size_t)srv.cfg.password_memlimit_kib * 1024;
	{
		/* The dummy hash makes a login for a missing user cost what a real one does. */
		uint8_t raw[32];
		char junk[KURA_TOKEN_CHARS];

		kura_random_token(junk, raw, sizeof(raw));
		if (kura_password_hash(&srv.pw, junk, strlen(junk), srv.dummy_hash) != KURA_OK) {
			kura_log(KURA_LOG_ERROR, "start_failed", "reason=password_params");
			goto out;
		}
	}
	if (kura_pool_new(srv.cfg.hash_workers, srv.cfg.hash_queue_max, &srv.hash_pool) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=hash_pool");
		goto out;
	}
	/* searches and batches: as many threads as HTTP threads, room for every connection */
	if (kura_pool_new(srv.cfg.workers, srv.cfg.connection_limit, &srv.work_pool) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=work_pool");
		goto out;
	}
	if (srv.cfg.web_root[0] != '\0' &&
	    kura_static_load(srv.cfg.web_root, &srv.web, err, sizeof(err)) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=web_root msg=%s",
			 kura_log_quote(qerr, sizeof(qerr), err));
		goto out;
	}
	if (srv.cfg.test_clock_offset_file[0] != '\0') {
		kura_log(KURA_LOG_WARN, "test_clock", "msg=\"clock offset file in use; tests only\"");
		if (pthread_create(&clock_thr, NULL, test_clock_thread,
				   srv.cfg.test_clock_offset_file) == 0)
			pthread_detach(clock_thr);
	}
	kura_store_audit_spool_max(srv.store, (int64_t)srv.cfg.audit_spool_max_bytes);
	/* The tenants' catalogues and data keys, shared by the HTTP threads and housekeeping. */
	if (kura_catalog_cache_new(&srv.catalogs) != KURA_OK ||
	    kura_field_keys_new(srv.keys, fetch_wrapped_key, srv.store, &srv.field_keys) !=
		    KURA_OK ||
	    kura_audit_group_start(srv.store, &srv.audit_group) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=caches");
		goto out;
	}
	if (kura_housekeeper_start(srv.store, srv.field_keys, srv.cfg.housekeeping_seconds,
				   &housekeeper) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=housekeeper");
		goto out;
	}
	if (kura_audit_sealer_start(srv.store, srv.keys, 60, &sealer) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=audit_sealer");
		goto out;
	}
	srv.routes = kura_api_routes;
	srv.nroutes = kura_api_routes_count;
	if (start_monitoring(&srv, err, sizeof(err)) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=monitoring msg=%s",
			 kura_log_quote(qerr, sizeof(qerr), err));
		goto out;
	}
	if (kura_http_start(&srv, err, sizeof(err)) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=http msg=%s",
			 kura_log_quote(qerr, sizeof(qerr), err));
		goto out;
	}
	kura_log(KURA_LOG_INFO, "started",
		 "data_dir=%s workers=%u hash_workers=%u metrics=%s ip_block=%s alert_webhook=%s",
		 srv.cfg.data_dir, srv.cfg.workers, srv.cfg.hash_workers,
		 srv.metrics_enabled ? "on" : "off", srv.ipblock != NULL ? "on" : "off",
		 srv.cfg.alert_webhook_url[0] != '\0' ? "on" : "off");
	while (sigwait(&sigs, &sig) != 0)
		;
	kura_log(KURA_LOG_INFO, "stopping", "signal=%d", sig);
	kura_http_stop(&srv);
	rc = 0;
out:
	kura_pool_free(srv.hash_pool);
	kura_pool_free(srv.work_pool);
	/* No request runs any more: nothing raises alerts or reads the block list. */
	kura_alerts_free(srv.alerts);
	kura_volume_free(srv.volume);
	kura_ipblock_free(srv.ipblock);
	kura_ipblock_free(srv.form_throttle);
	kura_housekeeper_stop(housekeeper);
	/* After the last request: its audit entries are sealed on the way out. */
	kura_audit_sealer_stop(sealer);
	kura_static_free(srv.web);
	kura_catalog_cache_free(srv.catalogs);
	kura_field_keys_free(srv.field_keys);
	if (srv.audit_group != NULL) {
		uint64_t batches = 0, entries = 0;

		kura_audit_group_stats(srv.audit_group, &batches, &entries);
		/* kurad's group appends read entries to the spools, one write each */
		(void)batches;
		kura_log(KURA_LOG_INFO, "audit_group_stats", "spooled=%llu",
			 (unsigned long long)entries);
	}
	kura_audit_group_free(srv.audit_group);
	kura_store_close(srv.store);
	kura_keyring_free(srv.keys);
	/* Last: the files are closed before another process may take them. */
	kura_datadir_unlock(lock_fd);
	if (srv.tls_key_pem != NULL) {
		explicit_bzero(srv.tls_key_pem, strlen(srv.tls_key_pem));
		free(srv.tls_key_pem);
	}
	free(srv.tls_cert_pem);
	free(srv.tls_client_ca_pem);
	kura_client_cas_free(srv.client_cas);
	kura_metrics_fini();
	if (rc == 0)
		kura_log(KURA_LOG_INFO, "stopped", NULL);
	return rc;
}
