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
#include <unistd.h>

#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/config.h"
#include "kura/crypto.h"
#include "kura/http.h"
#include "kura/log.h"
#include "kura/password.h"
#include "kura/pool.h"
#include "kura/server.h"
#include "kura/store.h"

extern char **environ;

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
	char err[1024] = "";
	char qerr[1200];
	bool print_config = false;
	sigset_t sigs;
	int sig = 0, rc = 1;
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
	if (kura_keyring_open(srv.cfg.master_key_file, &srv.keys, err, sizeof(err)) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=master_key msg=%s hint=\"run kura init\"",
			 kura_log_quote(qerr, sizeof(qerr), err));
		goto out;
	}
	if (kura_store_open(&kura_store_sqlite_ops, srv.cfg.data_dir,
			    srv.cfg.workers + srv.cfg.hash_workers, &srv.store, err,
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
	if (kura_audit_sealer_start(srv.store, srv.keys, 60, &sealer) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=audit_sealer");
		goto out;
	}
	srv.routes = kura_api_routes;
	srv.nroutes = kura_api_routes_count;
	if (kura_http_start(&srv, err, sizeof(err)) != KURA_OK) {
		kura_log(KURA_LOG_ERROR, "start_failed", "reason=http msg=%s",
			 kura_log_quote(qerr, sizeof(qerr), err));
		goto out;
	}
	kura_log(KURA_LOG_INFO, "started", "data_dir=%s workers=%u hash_workers=%u", srv.cfg.data_dir,
		 srv.cfg.workers, srv.cfg.hash_workers);
	while (sigwait(&sigs, &sig) != 0)
		;
	kura_log(KURA_LOG_INFO, "stopping", "signal=%d", sig);
	kura_http_stop(&srv);
	rc = 0;
out:
	kura_pool_free(srv.hash_pool);
	/* After the last request: its audit entries are sealed on the way out. */
	kura_audit_sealer_stop(sealer);
	kura_static_free(srv.web);
	kura_store_close(srv.store);
	kura_keyring_free(srv.keys);
	if (srv.tls_key_pem != NULL) {
		explicit_bzero(srv.tls_key_pem, strlen(srv.tls_key_pem));
		free(srv.tls_key_pem);
	}
	free(srv.tls_cert_pem);
	if (rc == 0)
		kura_log(KURA_LOG_INFO, "stopped", NULL);
	return rc;
}
