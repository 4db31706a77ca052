/*
 * The server: one struct built in main(), passed explicitly, read-only after
 * start-up except for the parts that own a lock.
 */
#ifndef KURA_SERVER_H
#define KURA_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kura/config.h"
#include "kura/crypto.h"
#include "kura/http.h"
#include "kura/monitor.h"
#include "kura/password.h"
#include "kura/pool.h"
#include "kura/store.h"

struct MHD_Daemon;
struct kura_catalog_cache;
struct kura_audit_group;

struct kura_server {
	struct kura_config cfg;
	struct kura_store *store;
	struct kura_keyring *keys;
	struct kura_pool *hash_pool;
	struct kura_pool *work_pool;      /* KURA_ROUTE_OFFLOAD handlers; NULL = run in place */
	struct kura_static *web;
	const struct kura_route *routes;
	size_t nroutes;
	struct kura_pwparams pw;
	/* verified against when no such user exists, so timing does not tell */
	char dummy_hash[KURA_PASSWORD_HASH_MAX];
	char *tls_cert_pem;
	char *tls_key_pem;
	char *tls_client_ca_pem;             /* tls_client_ca_file, or NULL */
	struct kura_client_cas *client_cas;  /* parsed from it (kura/crypto.h), or NULL */
	struct MHD_Daemon *daemon;
	atomic_ullong request_seq;
	/* monitoring (kura/monitor.h), set up by kurad before the HTTP threads start */
	bool metrics_enabled;             /* metrics_token_file is set */
	uint8_t metrics_token_sha256[32]; /* SHA-256 of the token: compared, never kept */
	struct kura_ipblock *ipblock;     /* NULL = failed sign-ins block no address */
	struct kura_ipblock *form_throttle; /* requests to /f/ per address; NULL = no limit */
	struct kura_alerts *alerts;       /* NULL = alerts are logged only */
	struct kura_volume *volume;       /* per-user read volume (kura/monitor.h), or NULL */
	int64_t started_at;
	struct kura_catalog_cache *catalogs; /* the tenants' CRM catalogues (kura/core.h) */
	struct kura_field_keys *field_keys;  /* unwrapped tenant data keys (kura/crypto.h) */
	struct kura_audit_group *audit_group; /* group commit of read audit entries (kura/audit.h) */
};

/* The API route table (api/routes.c). */
extern const struct kura_route kura_api_routes[];
extern const size_t kura_api_routes_count;

#endif
