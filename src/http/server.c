/*
 * The HTTP server: one libmicrohttpd daemon (epoll, a pool of worker
 * threads, TLS through GnuTLS) and the request pipeline every request goes
 * through, cheapest and least trusting checks first:
 *
 *   URL length (414) → header bytes (431) → client address (the peer, or
 *   X-Forwarded-For from trusted_proxies: proxy.c) → route match → blocked
 *   client address (429) → 404/405, or a static file → declared body size
 *   (413) → JSON content type (415) → authentication → body (413 past the
 *   limit) → JSON parse (400) → handler
 *
 * Everything up to and including authentication runs when the headers are
 * in, before a byte of the body is read, so an unauthenticated or oversized
 * request never makes us buffer anything; answering then makes MHD close
 * the connection without reading the rest.
 *
 * Replies are built by reply.c into r->response; this file adds the
 * security headers every response carries and queues it. Slow handlers
 * (password hashing) suspend the connection and run on the hash pool
 * (kura_req_defer); the pool resumes the connection and the next call of
 * the access handler queues what the job built.
 *
 * Every answered request is counted in the metrics (kura/monitor.h) under
 * its route's index in the table when it completes, and a 5xx answer feeds
 * the error-rate alert.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "kura/audit.h"
#include "kura/auth.h"
#include "kura/clock.h"
#include "kura/crypto.h"
#include "kura/http.h"
#include "kura/log.h"
#include "kura/monitor.h"
#include "kura/server.h"

/*
 * TLS 1.3, and TLS 1.2 with ECDHE and AEAD ciphers only: forward secrecy
 * for every session, no RSA key exchange, no CBC, no finite-field DHE, no
 * SHA-1 signatures (SECURE128 drops those). Checked with
 * gnutls-cli --priority '...' --list.
 */
#define TLS_PRIORITIES                                                                       \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"     \
	"-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:-MAC-ALL:+AEAD:"           \
	"-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%SERVER_PRECEDENCE"

#define CSP                                                                                  \
	"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "  \
	"object-src 'none'"

/*
 * After the body limit is hit we still have to read what the client sends
 * until the request ends (MHD cannot answer in the middle of a body). Past
 * this much discarded data the connection is simply closed.
 */
#define DISCARD_MAX (1u << 20)

/* How long kura_http_stop waits for requests in progress. */
#define STOP_GRACE_US (10LL * 1000000)

/* Per-request state of ours, around what handlers see. */
struct req_priv {
	struct kura_req r;         /* first member: a kura_req * is a req_priv * */
	char method_str[16];       /* as sent (cut), for the log */
	char *path;                /* own copy of the decoded path */
	size_t uri_len;            /* request target as sent, query included */
	bool nul_in_path;          /* "%00" in the path: MHD would cut the path there */
	bool started;              /* first access-handler call done */
	bool auth_called;
	bool reacquire;            /* tenant handle given back while the body arrives */
	size_t discarded;
	char peer[KURA_IP_MAX + 1]; /* the socket's address; r.ip is the client's */
	int metric_route;          /* index in the route table, or KURA_METRICS_ROUTE_* */
	int64_t t_mono_us;
	kura_handler_fn defer_fn;
};

/*
 * Requests in progress and deferred jobs not yet finished. There is one
 * daemon per process; kura_http_stop needs both to be zero before it may
 * call MHD_stop_daemon (MHD aborts if a connection is still suspended, and
 * a pool job must never resume a connection of a stopped daemon).
 */
static atomic_uint inflight;
static atomic_uint deferred_jobs;
/* Set by kura_http_stop: no new deferrals, and connections close after their reply. */
static atomic_bool stopping;

static const char *const security_headers[][2] = {
	{"Content-Security-Policy", CSP},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "no-referrer"},
	{"X-Frame-Options", "DENY"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
	{"Permissions-Policy", "camera=(), microphone=(), geolocation=()"},
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512], q[640];
	size_t len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		msg[--len] = '\0';
	kura_log(KURA_LOG_WARN, "mhd", "msg=%s", kura_log_quote(q, sizeof(q), msg));
}

static bool
is_api_path(const char *path)
{
	return strncmp(path, "/api", 4) == 0 && (path[4] == '\0' || path[4] == '/');
}

static void
client_ip(struct MHD_Connection *conn, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(out, n, "-");
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
			  (socklen_t)n);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  out, (socklen_t)n);
}

static struct req_priv *
req_new(struct kura_server *srv, struct MHD_Connection *conn)
{
	static const char hex[] = "0123456789abcdef";
	struct req_priv *p = calloc(1, sizeof(*p));
	uint8_t raw[8];

	if (p == NULL)
		return NULL;
	p->r.srv = srv;
	p->r.conn = conn;
	p->r.t_start_us = kura_now_us();
	p->t_mono_us = kura_mono_us();
	/* unique, not secret: no system call per request for it */
	kura_random_nonce(raw, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); i++) {
		p->r.rid[2 * i] = hex[raw[i] >> 4];
		p->r.rid[2 * i + 1] = hex[raw[i] & 15];
	}
	p->r.rid[16] = '\0';
	client_ip(conn, p->peer, sizeof(p->peer));
	/* Until the headers are read (resolve_client) the client is the peer. */
	snprintf(p->r.ip, sizeof(p->r.ip), "%s", p->peer);
	snprintf(p->method_str, sizeof(p->method_str), "-");
	p->metric_route = KURA_METRICS_ROUTE_UNMATCHED;
	kura_buf_init(&p->r.body, 0);
	atomic_fetch_add(&inflight, 1);
	return p;
}

/*
 * MHD shows us the request target as sent, before it splits off the query
 * and decodes the path: the only place to measure the whole URL and to see
 * an encoded NUL, which decoding would turn into a silent end of string.
 */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct req_priv *p = req_new(cls, conn);
	size_t pathlen;

	if (p == NULL)
		return NULL;
	p->uri_len = strlen(uri);
	pathlen = strcspn(uri, "?");
	for (size_t i = 0; i + 2 < pathlen; i++) {
		if (uri[i] == '%' && uri[i + 1] == '0' && uri[i + 2] == '0') {
			p->nul_in_path = true;
			break;
		}
	}
	return p;
}

struct xff_join {
	struct kura_buf buf;
	bool failed;
};

/* Joins every X-Forwarded-For header, in order, with ","; blank ones skipped. */
static enum MHD_Result
join_xff(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct xff_join *j = cls;

	(void)kind;
	if (key == NULL || value == NULL || strcasecmp(key, "X-Forwarded-For") != 0 ||
	    strspn(value, " \t") == strlen(value))
		return MHD_YES;
	if ((j->buf.len > 0 && kura_buf_append(&j->buf, ",", 1) != KURA_OK) ||
	    kura_buf_append(&j->buf, value, strlen(value)) != KURA_OK) {
		j->failed = true;
		return MHD_NO;
	}
	return MHD_YES;
}

/*
 * Settles r->ip: the peer, or behind a trusted proxy the address its
 * X-Forwarded-For names (proxy.c). Runs once the headers are in and their
 * size is checked, before anything that looks at the address (the IP
 * block, authentication, allow-lists, audit). A header that cannot be used
 * leaves the peer, logged once for the request without its content.
 */
static void
resolve_client(struct req_priv *p)
{
	struct kura_req *r = &p->r;
	const char *trusted = r->srv->cfg.trusted_proxies;
	struct xff_join j = {.failed = false};
	enum kura_client_source src;

	if (trusted[0] == '\0' || !kura_cidr_list_match(trusted, p->peer))
		return;
	kura_buf_init(&j.buf, r->srv->cfg.max_header_bytes + 1);
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, join_xff, &j);
	if (j.failed) {
		src = KURA_CLIENT_BAD_FORWARD;
		snprintf(r->ip, sizeof(r->ip), "%s", p->peer);
	} else {
		src = kura_http_forwarded_client(trusted, p->peer, j.buf.len > 0 ? j.buf.data : NULL,
						 r->ip, sizeof(r->ip));
	}
	if (src == KURA_CLIENT_BAD_FORWARD)
		kura_log(KURA_LOG_INFO, "xff_refused",
			 "rid=%s peer=%s msg=\"X-Forwarded-For from a trusted proxy could not be read as "
			 "a list of IP addresses; using the peer address\"",
			 r->rid, p->peer);
	kura_buf_free(&j.buf);
}

static enum MHD_Result
sum_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	size_t *sum = cls;

	*sum += strlen(key) + (value != NULL ? strlen(value) : 0);
	return MHD_YES;
}

/* "application/json", optionally with "; charset=utf-8" (any case, quoted or not). */
static bool
json_content_type(const char *ct)
{
	static const char mt[] = "application/json";
	const char *p;
	char cs[16];
	size_t n = 0;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, mt, sizeof(mt) - 1) != 0)
		return false;
	p = ct + sizeof(mt) - 1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return true;
	if (*p != ';')
		return false;
	p++;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "charset=", 8) != 0)
		return false;
	p += 8;
	while (*p != '\0' && *p != ' ' && *p != '\t' && n + 1 < sizeof(cs)) {
		if (*p != '"')
			cs[n++] = *p;
		p++;
	}
	cs[n] = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\0' && strcasecmp(cs, "utf-8") == 0;
}

/* Declared Content-Length; false when absent. A malformed one MHD refuses itself. */
static bool
content_length(struct MHD_Connection *conn, unsigned long long *out)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long n = 0;

	*out = 0;
	if (v == NULL)
		return false;
	for (const char *p = v; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || n > (ULLONG_MAX - 9) / 10) {
			/* unparseable or absurd: treat as larger than any limit */
			*out = ULLONG_MAX;
			return true;
		}
		n = n * 10 + (unsigned long long)(*p - '0');
	}
	*out = n;
	return true;
}

/* Whether the request announces a body (a non-zero length, or chunks). */
static bool
has_body(struct MHD_Connection *conn)
{
	unsigned long long clen = 0;

	if (content_length(conn, &clen))
		return clen > 0;
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

static void
reply_allow(struct kura_req *r, unsigned mask)
{
	char allow[64];

	kura_reply_error(r, KURA_E_METHOD_NOT_ALLOWED, NULL);
	kura_method_mask_str(mask, allow, sizeof(allow));
	if (r->response != NULL)
		MHD_add_response_header(r->response, MHD_HTTP_HEADER_ALLOW, allow);
}

/* Serves a file of the admin UI, or answers 405 for anything but GET/HEAD. */
static void
reply_static(struct kura_req *r, const void *data, size_t len, const char *ctype)
{
	struct MHD_Response *resp;

	if (r->method != KURA_GET && r->method != KURA_HEAD) {
		reply_allow(r, KURA_GET | KURA_HEAD);
		return;
	}
	r->status = 200;
	/* The files live until kura_static_free, which runs after the daemon stops. */
	resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return;
	/* no-cache, not no-store: the browser may keep it but must revalidate. */
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") != MHD_YES) {
		MHD_destroy_response(resp);
		return;
	}
	r->response = resp;
}

/*
 * An address blocked after too many failed sign-ins gets 429 for every
 * request, with the seconds left in Retry-After. Checked before anything
 * that costs (static files, authentication, a body); route is only for the
 * metrics (a refused sign-in still counts as a login attempt).
 */
static bool
reply_if_blocked(struct req_priv *p, const struct kura_route *route)
{
	struct kura_req *r = &p->r;
	int64_t left;
	char secs[24];

	if (r->srv->ipblock == NULL)
		return false;
	left = kura_ipblock_check(r->srv->ipblock, r->ip, kura_now_us());
	if (left <= 0)
		return false;
	p->metric_route = KURA_METRICS_ROUTE_BLOCKED;
	if (route != NULL && (route->flags & KURA_ROUTE_SIGNIN) != 0)
		kura_metrics_login(KURA_LOGIN_RATE_LIMITED);
	kura_reply_error(r, KURA_E_RATE_LIMITED,
			 "too many failed sign-ins from this address; try again later");
	snprintf(secs, sizeof(secs), "%lld", (long long)left);
	if (r->response != NULL)
		MHD_add_response_header(r->response, "Retry-After", secs);
	return true;
}

/*
 * First call: the headers are in, the body (if any) is not. Runs every
 * check that needs no body; on a failure the answer is left in r->response.
 */
static void
begin(struct req_priv *p, const char *url, const char *method)
{
	struct kura_req *r = &p->r;
	const struct kura_config *cfg = &r->srv->cfg;
	const struct kura_route *route = NULL;
	const char *msg = NULL;
	unsigned allowed = 0;
	unsigned long long clen = 0;
	size_t hdr_bytes = 0, max_body;
	enum kura_err e;

	r->method = (enum kura_method)kura_method_parse(method);
	snprintf(p->method_str, sizeof(p->method_str), "%s", method);
	p->path = strdup(url);
	if (p->path == NULL) {
		kura_reply_error(r, KURA_E_NOMEM, "out of memory copying the path");
		return;
	}
	r->path = p->path;
	r->user_agent = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_USER_AGENT);
	if (p->uri_len > cfg->max_url_bytes) {
		kura_reply_error(r, KURA_E_URI_TOO_LONG, NULL);
		return;
	}
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, sum_header, &hdr_bytes);
	if (hdr_bytes > cfg->max_header_bytes) {
		kura_reply_error(r, KURA_E_HEADERS_TOO_LARGE, NULL);
		return;
	}
	resolve_client(p);
	if (p->nul_in_path) {
		kura_reply_error(r, KURA_E_BAD_REQUEST, "the path contains an encoded NUL byte");
		return;
	}
	e = kura_router_match(r->srv->routes, r->srv->nroutes, r->method, r->path, r, &route,
			      &allowed);
	if (reply_if_blocked(p, e == KURA_OK ? route : NULL))
		return;
	if (e == KURA_E_NOT_FOUND && !is_api_path(r->path)) {
		const char *ctype = NULL;
		size_t len = 0;
		const void *data = kura_static_find(r->srv->web, r->path, &len, &ctype);

		if (data != NULL) {
			p->metric_route = KURA_METRICS_ROUTE_STATIC;
			reply_static(r, data, len, ctype);
			return;
		}
	}
	if (e == KURA_E_METHOD_NOT_ALLOWED) {
		reply_allow(r, allowed);
		return;
	}
	if (e != KURA_OK) {
		kura_reply_error(r, e, e == KURA_E_NOT_FOUND ? "no such resource" : NULL);
		return;
	}
	r->route = route;
	p->metric_route = (int)(route - r->srv->routes);
	max_body = route->max_body != 0 ? route->max_body : cfg->max_body_bytes;
	/* a file larger than attachments may be is refused before it is read */
	if ((route->flags & KURA_ROUTE_FILE_BODY) != 0 && cfg->attachment_max_bytes < max_body)
		max_body = cfg->attachment_max_bytes;
	if (content_length(r->conn, &clen) && clen > max_body) {
		/*
		 * A body a little over the limit is read and dropped, then answered
		 * (dispatch sees early_error): answering while the client still
		 * sends makes the kernel reset the connection, and the client would
		 * never see the 413. A body far over it is answered at once and the
		 * connection closed.
		 */
		if (clen <= DISCARD_MAX) {
			r->early_error = KURA_E_BODY_TOO_LARGE;
			return;
		}
		kura_reply_error(r, KURA_E_BODY_TOO_LARGE, NULL);
		return;
	}
	if ((route->flags & KURA_ROUTE_JSON_BODY) != 0 &&
	    !json_content_type(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
							   MHD_HTTP_HEADER_CONTENT_TYPE))) {
		kura_reply_error(r, KURA_E_UNSUPPORTED_MEDIA_TYPE,
				 "Content-Type must be application/json");
		return;
	}
	p->auth_called = true;
	e = kura_auth_request(r, &msg);
	if (e != KURA_OK) {
		kura_reply_error(r, e, msg);
		/* RFC 6750 3: a bearer-token endpoint names its scheme in a 401. */
		if (e == KURA_E_UNAUTHENTICATED && route->auth == KURA_AUTH_METRICS &&
		    r->response != NULL)
			MHD_add_response_header(r->response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
						"Bearer realm=\"kura-metrics\"");
		return;
	}
	/*
	 * A body can take its time to arrive, and this thread serves its other
	 * connections meanwhile: holding the tenant's connection until then let
	 * a thread wait for a connection that one of its own parked requests
	 * held (every worker stalled under concurrent POSTs). The handle is
	 * taken again when the body is complete.
	 */
	if (r->principal.db != NULL && has_body(r->conn)) {
		kura_store_tenant_release(r->principal.db);
		r->principal.db = NULL;
		p->reacquire = true;
	}
	kura_buf_init(&r->body, max_body);
}

static void defer_to(struct kura_req *r, struct kura_pool *pool, kura_handler_fn fn);

/*
 * Takes the tenant handle again when it was given back (while the body
 * arrived, or while an offloaded job waited); false when it cannot be,
 * with the answer made.
 */
static bool
reacquire(struct req_priv *p)
{
	struct kura_req *r = &p->r;
	enum kura_err e;

	if (!p->reacquire)
		return true;
	p->reacquire = false;
	e = kura_store_tenant_acquire(r->srv->store, r->principal.tenant_id, &r->principal.db);
	if (e != KURA_OK) {
		kura_reply_error(r, e == KURA_E_NOT_FOUND ? KURA_E_UNAUTHENTICATED : e, NULL);
		return false;
	}
	return true;
}

/* The body is complete: parse it if the route wants JSON, then run the handler. */
static void
dispatch(struct req_priv *p)
{
	struct kura_req *r = &p->r;
	char msg[256];
	enum kura_err e;

	if (r->early_error != KURA_OK) {
		kura_reply_error(r, r->early_error, NULL);
		return;
	}
	if ((r->route->flags & KURA_ROUTE_JSON_BODY) != 0) {
		e = kura_json_parse(r->body.data, r->body.len, r->srv->cfg.json_max_depth, &r->json,
				    msg, sizeof(msg));
		if (e != KURA_OK) {
			kura_reply_error(r, e, msg);
			return;
		}
	}
	/*
	 * A handler that may take milliseconds of database work runs on the
	 * work pool: a libmicrohttpd thread serves all the connections it
	 * accepted, so in place it would make every one of them wait. The
	 * tenant handle is taken there, not held while the job waits in the
	 * queue: the handles of a tenant are few, and the requests holding
	 * them could only give them back through this very thread.
	 */
	if ((r->route->flags & KURA_ROUTE_OFFLOAD) != 0 && r->srv->work_pool != NULL) {
		if (r->principal.db != NULL) {
			kura_store_tenant_release(r->principal.db);
			r->principal.db = NULL;
			p->reacquire = true;
		}
		defer_to(r, r->srv->work_pool, r->route->handler);
	} else if (reacquire(p)) {
		r->route->handler(r);
	}
	if (r->deferred)
		return;
	if (r->status == 0 && r->response == NULL) {
		kura_log(KURA_LOG_ERROR, "handler_no_reply", "rid=%s route=%s", r->rid,
			 r->route->pattern);
		kura_reply_error(r, KURA_E_INTERNAL, "the handler did not reply");
	}
}

static bool
add_headers(struct kura_req *r)
{
	struct MHD_Response *resp = r->response;
	bool ok = true;

	for (size_t i = 0; i < sizeof(security_headers) / sizeof(security_headers[0]); i++)
		ok = ok && MHD_add_response_header(resp, security_headers[i][0],
						   security_headers[i][1]) == MHD_YES;
	if (!r->srv->cfg.insecure_http)
		ok = ok && MHD_add_response_header(resp, "Strict-Transport-Security",
						   "max-age=63072000; includeSubDomains") == MHD_YES;
	ok = ok && MHD_add_response_header(resp, "X-Request-Id", r->rid) == MHD_YES;
	/* Whatever built the reply, nothing under /api/ and no error is ever cached. */
	if (MHD_get_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL) == NULL)
		ok = ok && MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
						   "no-store") == MHD_YES;
	if (r->set_cookie != NULL)
		ok = ok && MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE,
						   r->set_cookie) == MHD_YES;
	/* While stopping, kept-alive connections are closed so that they drain. */
	if (atomic_load(&stopping))
		ok = ok && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") ==
				   MHD_YES;
	return ok;
}

/* Sends r->response (or a 500 if there is none). MHD_NO closes the connection. */
static enum MHD_Result
queue(struct req_priv *p)
{
	struct kura_req *r = &p->r;
	enum MHD_Result ret;

	if (r->response == NULL) {
		/* A reply was attempted and could not be built, or none was made. */
		r->status = 0;
		kura_reply_error(r, KURA_E_INTERNAL, "no response to send");
	}
	if (r->response == NULL)
		return MHD_NO;
	if (!add_headers(r)) {
		/* Never send a response without its security headers. */
		kura_log(KURA_LOG_ERROR, "reply_headers_failed", "rid=%s", r->rid);
		return MHD_NO;
	}
	r->queued = true;
	ret = MHD_queue_response(r->conn, r->status, r->response);
	/*
	 * The answer is made: give the tenant's connection back now, not when
	 * the response has been sent. This thread goes on to other connections
	 * before it sends; holding the handle until then let every worker sit on
	 * a connection it could not use while waiting for one for its next
	 * request (a pool-wide stall under concurrent writes). A streamed body
	 * still reads the store while it is sent and keeps its handle.
	 */
	if (p->auth_called && !r->streaming)
		kura_auth_release(r);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct req_priv *p = *con_cls;
	struct kura_req *r;

	if (p == NULL) {
		/* on_uri could not allocate; one more try before giving up */
		p = req_new(cls, conn);
		if (p == NULL)
			return MHD_NO;
		*con_cls = p;
	}
	r = &p->r;
	if (!p->started) {
		p->started = true;
		begin(p, url, method);
		/*
		 * An answer while a body is on its way goes out now: MHD then
		 * closes the connection instead of reading the body. Without a
		 * body it waits for the next call, which keeps the connection
		 * alive for the next request.
		 */
		if ((r->status != 0 || r->response != NULL) && has_body(conn))
			return queue(p);
		return MHD_YES;
	}
	if (r->deferred) {
		/* Resumed: the job's answer is in r->response. */
		r->resumed = true;
		return queue(p);
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (r->early_error == KURA_OK) {
			enum kura_err e = kura_buf_append(&r->body, upload_data, n);

			if (e != KURA_OK) {
				r->early_error = e;
				kura_buf_free(&r->body);
			}
			return MHD_YES;
		}
		p->discarded += n;
		if (p->discarded > DISCARD_MAX) {
			kura_log(KURA_LOG_WARN, "body_discard_limit", "rid=%s msg=%s", r->rid,
				 "\"body far past the limit; closing the connection\"");
			return MHD_NO;
		}
		return MHD_YES;
	}
	if (r->status == 0 && r->response == NULL)
		dispatch(p);
	if (r->deferred)
		return MHD_YES;
	return queue(p);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct req_priv *p = *con_cls;
	struct kura_req *r;
	char qpath[512], qmethod[40], qtenant[80];
	int64_t dur_us;
	bool same_peer;

	if (p == NULL)
		return;
	*con_cls = NULL;
	r = &p->r;
	dur_us = kura_mono_us() - p->t_mono_us;
	if (r->queued) {
		kura_metrics_http(p->metric_route, r->status, dur_us);
		if (r->status >= 500)
			kura_alerts_count_5xx(r->srv->alerts, kura_now_us());
	}
	/*
	 * Path quoted; never the query string, bodies or header values. ip is
	 * the client; peer, when it differs, the proxy it came through.
	 */
	same_peer = strcmp(r->ip, p->peer) == 0;
	kura_log(KURA_LOG_INFO, "request",
		 "rid=%s ip=%s%s%s method=%s path=%s status=%u dur_us=%lld tenant=%s user=%lld",
		 r->rid, r->ip, same_peer ? "" : " peer=", same_peer ? "" : p->peer,
		 kura_log_quote(qmethod, sizeof(qmethod), p->method_str),
		 kura_log_quote(qpath, sizeof(qpath), p->path != NULL ? p->path : "-"),
		 r->queued ? r->status : 0, (long long)dur_us,
		 kura_log_quote(qtenant, sizeof(qtenant),
				r->principal.tenant_id[0] != '\0' ? r->principal.tenant_id : "-"),
		 (long long)r->principal.user.id);
	if (p->auth_called)
		kura_auth_release(r);
	for (unsigned i = 0; i < r->nparams && i < KURA_ROUTE_MAX_PARAMS; i++)
		free(r->param_values[i]);
	kura_buf_free(&r->body);
	json_decref(r->json);
	if (r->response != NULL)
		MHD_destroy_response(r->response);
	free(r->set_cookie);
	free(p->path);
	free(p);
	atomic_fetch_sub(&inflight, 1);
}

/* Runs on the hash pool. */
static void
run_deferred(void *arg)
{
	struct req_priv *p = arg;
	struct MHD_Connection *conn = p->r.conn;

	if (reacquire(p))
		p->defer_fn(&p->r);
	if (p->r.status == 0 && p->r.response == NULL) {
		kura_log(KURA_LOG_ERROR, "deferred_no_reply", "rid=%s", p->r.rid);
		kura_reply_error(&p->r, KURA_E_INTERNAL, "the deferred handler did not reply");
	}
	/*
	 * The answer is made: the tenant handle goes back here, not when the
	 * HTTP thread completes the request -- that thread may itself be
	 * waiting for a handle, and this one would then never come back.
	 */
	if (!p->r.streaming && p->r.principal.db != NULL) {
		kura_store_tenant_release(p->r.principal.db);
		p->r.principal.db = NULL;
	}
	/*
	 * From here on the HTTP thread owns the request again and may complete
	 * and free it at any moment: nothing below touches p.
	 */
	MHD_resume_connection(conn);
	atomic_fetch_sub(&deferred_jobs, 1);
}

/* Runs fn(r) on pool with the connection suspended (kura_req_defer's work). */
static void
defer_to(struct kura_req *r, struct kura_pool *pool, kura_handler_fn fn)
{
	struct req_priv *p = (struct req_priv *)r;
	enum kura_err e;

	if (r->deferred || r->status != 0 || r->response != NULL) {
		kura_log(KURA_LOG_ERROR, "defer_after_reply", "rid=%s", r->rid);
		return;
	}
	/*
	 * Counted before the stopping flag is read, and kura_http_stop sets the
	 * flag before it reads the count: one of the two always sees the other.
	 */
	atomic_fetch_add(&deferred_jobs, 1);
	if (atomic_load(&stopping)) {
		atomic_fetch_sub(&deferred_jobs, 1);
		kura_reply_error(r, KURA_E_UNAVAILABLE, "the server is stopping; try again shortly");
		return;
	}
	r->deferred = true;
	p->defer_fn = fn;
	/*
	 * Suspend before the job can run, so that its resume never comes
	 * first. When the queue is full we answer here and resume at once;
	 * the next access-handler call sends it like any deferred reply.
	 */
	MHD_suspend_connection(r->conn);
	e = kura_pool_submit(pool, run_deferred, p);
	if (e != KURA_OK) {
		kura_log(KURA_LOG_WARN, "pool_busy", "rid=%s", r->rid);
		if (r->route != NULL && (r->route->flags & KURA_ROUTE_SIGNIN) != 0)
			kura_metrics_login(KURA_LOGIN_BUSY);
		kura_reply_error(r, KURA_E_BUSY, "the server is busy; try again in a moment");
		MHD_resume_connection(r->conn);
		atomic_fetch_sub(&deferred_jobs, 1);
	}
}

void
kura_req_defer(struct kura_req *r, kura_handler_fn fn)
{
	defer_to(r, r->srv->hash_pool, fn);
}

static bool
parse_address(const char *addr, unsigned port, struct sockaddr_storage *ss, bool *v6,
	      bool *loopback)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	*v6 = false;
	*loopback = false;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
		return true;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*v6 = true;
		*loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
		return true;
	}
	return false;
}

enum kura_err
kura_http_start(struct kura_server *srv, char *err, size_t n)
{
	const struct kura_config *cfg = &srv->cfg;
	struct sockaddr_storage ss;
	struct MHD_OptionItem opts[24];
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	size_t k = 0, memlimit;
	bool v6 = false, loopback = false;
	const char *scheme = cfg->insecure_http ? "http" : "https";

	if (err != NULL && n > 0)
		err[0] = '\0';
	if (!parse_address(cfg->listen_address, cfg->port, &ss, &v6, &loopback)) {
		snprintf(err, n, "listen_address %s is not an IPv4 or IPv6 address",
			 cfg->listen_address);
		return KURA_E_CONFIG;
	}
	if (cfg->insecure_http && !loopback) {
		snprintf(err, n,
			 "--insecure-http is only allowed on a loopback address (127.0.0.0/8 or "
			 "::1), not %s",
			 cfg->listen_address);
		return KURA_E_CONFIG;
	}
	if (!cfg->insecure_http && (srv->tls_cert_pem == NULL || srv->tls_key_pem == NULL)) {
		snprintf(err, n, "no TLS certificate or key loaded");
		return KURA_E_CONFIG;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	if (!cfg->insecure_http)
		flags |= MHD_USE_TLS;
	/*
	 * MHD keeps the request line and headers in a per-connection pool and
	 * answers on its own when they do not fit. Leave room for twice our
	 * limits so that our JSON 414/431 come first; MHD's answer is only for
	 * requests far past them.
	 */
	memlimit = (cfg->max_url_bytes + cfg->max_header_bytes) * 2 + 32 * 1024;

	/* The logger first, so that MHD's start-up messages go through it too. */
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL};
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
	if (cfg->workers > 1)
		opts[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
						    (intptr_t)cfg->workers, NULL};
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
					    (intptr_t)cfg->connection_limit, NULL};
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
					    (intptr_t)cfg->per_ip_connection_limit, NULL};
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
					    (intptr_t)cfg->connection_timeout_s, NULL};
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)memlimit,
					    NULL};
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed,
					    srv};
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, srv};
	/* Refuse HTTP/1.1 without Host and spaces in the URL. */
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL};
	if (!cfg->insecure_http) {
		opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
						    srv->tls_cert_pem};
		opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
						    srv->tls_key_pem};
		opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
						    (void *)TLS_PRIORITIES};
		/*
		 * With trusted authorities, libmicrohttpd asks every client for a
		 * certificate, optionally: the TLS handshake still succeeds without
		 * one, and checking it is ours (kura_req_client_chain).
		 */
		if (srv->tls_client_ca_pem != NULL)
			opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0,
							    srv->tls_client_ca_pem};
	}
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	atomic_store(&inflight, 0);
	atomic_store(&deferred_jobs, 0);
	atomic_store(&stopping, false);
	errno = 0;
	srv->daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv,
				       MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (srv->daemon == NULL) {
		snprintf(err, n, "cannot listen on %s port %u%s%s (see the mhd log lines)",
			 cfg->listen_address, cfg->port, errno != 0 ? ": " : "",
			 errno != 0 ? strerror(errno) : "");
		return KURA_E_IO;
	}
	kura_log(KURA_LOG_INFO, "listening", "url=%s://%s%s%s:%u", scheme, v6 ? "[" : "",
		 cfg->listen_address, v6 ? "]" : "", cfg->port);
	if (cfg->insecure_http)
		kura_log(KURA_LOG_WARN, "insecure_http",
			 "msg=\"plain HTTP on loopback; for development and tests only\"");
	return KURA_OK;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

void
kura_http_stop(struct kura_server *srv)
{
	int64_t deadline;

	if (srv == NULL || srv->daemon == NULL)
		return;
	/*
	 * From here new requests are answered 503 with "Connection: close" and
	 * in-flight ones finish. The listening socket is not quiesced:
	 * libmicrohttpd 0.9.75's MHD_quiesce_daemon races its own epoll thread
	 * removing the listen FD and aborts the process now and then (about one
	 * stop in 200 here), which would also skip the audit seal at shutdown.
	 */
	atomic_store(&stopping, true);
	deadline = kura_mono_us() + STOP_GRACE_US;
	while (atomic_load(&inflight) > 0 && kura_mono_us() < deadline)
		sleep_ms(20);
	/*
	 * A suspended connection at MHD_stop_daemon aborts the process, and a
	 * job resuming a connection of a stopped daemon is a use after free: wait
	 * for every deferred job, however long (they are bounded pool work).
	 */
	while (atomic_load(&deferred_jobs) > 0)
		sleep_ms(20);
	MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	kura_log(KURA_LOG_INFO, "http_stopped", "inflight=%u", atomic_load(&inflight));
}
