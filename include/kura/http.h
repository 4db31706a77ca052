/*
 * The HTTP layer (libmicrohttpd + GnuTLS): request limits, security headers,
 * routing by table, JSON bodies, replies, static files, and deferring slow
 * work to a pool without holding an HTTP thread.
 *
 * A handler receives a fully read, validated request and must answer exactly
 * once with kura_reply_json / kura_reply_error / kura_reply_empty, or hand
 * itself to kura_req_defer(). Errors are always the JSON body of DESIGN.md:
 *   {"error": {"code": "...", "message": "...", "details": [...]}}
 */
#ifndef KURA_HTTP_H
#define KURA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kura/buf.h"
#include "kura/crypto.h"
#include "kura/err.h"
#include "kura/store.h"

struct kura_server;
struct MHD_Connection;
struct MHD_Response;

enum kura_method {
	KURA_GET = 1 << 0,
	KURA_HEAD = 1 << 1,
	KURA_POST = 1 << 2,
	KURA_PUT = 1 << 3,
	KURA_PATCH = 1 << 4,
	KURA_DELETE = 1 << 5,
	KURA_OPTIONS = 1 << 6,
};

/* How a route authenticates its caller. */
enum kura_auth_mode {
	KURA_AUTH_NONE = 0,   /* public: /healthz, login */
	KURA_AUTH_SESSION,    /* session cookie (+ CSRF token on unsafe methods) */
	KURA_AUTH_METRICS,    /* "Authorization: Bearer" with the operator's metrics token;
				 404 while metrics_token_file is not set */
};

/* Route flags. */
#define KURA_ROUTE_JSON_BODY     (1u << 0) /* body must be application/json and is parsed */
#define KURA_ROUTE_PWCHANGE_OK   (1u << 1) /* reachable while a password change is pending */
#define KURA_ROUTE_SIGNIN        (1u << 2) /* the sign-in: a refusal before the handler counts
					      as a login in the metrics */
#define KURA_ROUTE_MFA_ENROL_OK  (1u << 3) /* reachable while the tenant requires MFA and the
					      caller has yet to enrol */
#define KURA_ROUTE_SESSION_ONLY  (1u << 4) /* a person's own sign-in matters (MFA): API keys
					      are refused */
#define KURA_ROUTE_OFFLOAD       (1u << 5) /* may take milliseconds of database work: the
					      handler runs on the work pool, the connection
					      suspended, so the HTTP thread goes on serving
					      its other connections */
#define KURA_ROUTE_FILE_BODY     (1u << 6) /* the body is a file: its limit is the smaller of
					      attachment_max_bytes and max_body */

#define KURA_ROUTE_MAX_PARAMS 4

struct kura_req;
typedef void (*kura_handler_fn)(struct kura_req *r);

struct kura_route {
	unsigned method;              /* one enum kura_method value */
	const char *pattern;          /* "/api/v1/users/{id}": {name} matches one segment */
	kura_handler_fn handler;
	enum kura_auth_mode auth;
	const char *permission;       /* required permission; "self" = any signed-in user */
	unsigned flags;
	size_t max_body;              /* 0 = the configured default */
};

/* Who is calling, once authenticated. */
struct kura_principal {
	bool authenticated;
	char tenant_id[KURA_TENANT_ID_MAX + 1];
	struct kura_tenant tenant;    /* as read when the request was authenticated */
	struct kura_user user;
	uint8_t session_hash[32];
	int64_t session_created_at;
	int session_mfa;              /* enum kura_session_mfa of the session (kura/store.h) */
	char csrf_token[KURA_TOKEN_CHARS];
	struct kura_tenant_db *db;    /* released when the request completes */
	int64_t api_key_id;           /* the API key used (user = its creator); 0 = a session */
	/* read with the credential: its kind's IP allow-list, the catalogue version */
	struct kura_auth_read auth_read;
};

struct kura_req {
	struct kura_server *srv;
	struct MHD_Connection *conn;
	enum kura_method method;
	const char *path;             /* decoded path, no query */
	char rid[17];                 /* request id (hex), also sent as X-Request-Id */
	char ip[KURA_IP_MAX + 1];
	const char *user_agent;       /* may be NULL */
	const struct kura_route *route;
	const char *param_names[KURA_ROUTE_MAX_PARAMS];
	char *param_values[KURA_ROUTE_MAX_PARAMS];
	unsigned nparams;
	struct kura_buf body;
	json_t *json;                 /* parsed body for KURA_ROUTE_JSON_BODY routes */
	struct kura_principal principal;
	/* reply state */
	unsigned status;              /* 0 until answered */
	size_t reply_items;           /* a JSON answer's "results" count, or 1 for an object */
	struct MHD_Response *response;
	char *set_cookie;             /* one Set-Cookie header value, or NULL */
	enum kura_err early_error;    /* a limit hit while reading */
	bool deferred;
	bool resumed;
	bool queued;
	bool streaming;               /* the body is produced while sending: keep the tenant handle */
	int64_t t_start_us;
	void *defer_ctx;              /* for the deferred function's own use */
};

/* A route parameter by name, NULL when absent. */
const char *kura_req_param(const struct kura_req *r, const char *name);
/* A request header (case-insensitive), NULL when absent. */
const char *kura_req_header(const struct kura_req *r, const char *name);
/* A query-string argument (decoded), NULL when absent. */
const char *kura_req_query(const struct kura_req *r, const char *name);
/*
 * Checks that every query argument is one of allowed (NULL-terminated) and
 * none repeats. On failure returns false and points *bad at the offender.
 */
bool kura_req_query_only(const struct kura_req *r, const char *const *allowed, const char **bad);
/* A cookie by name, NULL when absent. */
const char *kura_req_cookie(const struct kura_req *r, const char *name);
struct kura_der;
/*
 * The certificate chain the client sent in the TLS handshake (leaf first, at
 * most max, pointing into the TLS session); 0 when none, or when the server
 * asks for none (no tls_client_ca_file). The handshake proved the client
 * holds the leaf's key; whether the chain is trusted is for
 * kura_client_cas_verify to say.
 */
unsigned kura_req_client_chain(const struct kura_req *r, struct kura_der *out, unsigned max);
/* SHA-256 of the client's leaf certificate (DER); false without one. */
bool kura_req_client_cert_sha256(const struct kura_req *r, uint8_t out[32]);

/* Where kura_http_forwarded_client found the client's address. */
enum kura_client_source {
	KURA_CLIENT_PEER,          /* the socket peer: untrusted, or no X-Forwarded-For */
	KURA_CLIENT_FORWARDED,     /* from X-Forwarded-For of a trusted proxy */
	KURA_CLIENT_BAD_FORWARD,   /* a trusted proxy's header did not parse: the peer */
};

/*
 * The client's address of a request from socket address peer carrying
 * X-Forwarded-For xff (several headers joined with ","; NULL = none).
 * trusted is the comma-separated CIDR list of trusted_proxies. When peer is
 * in it, the entries are walked from the right, skipping addresses that are
 * themselves trusted, and the first other one is the client (when all are
 * trusted, the leftmost). Entries are plain IPv4/IPv6 addresses, spaces
 * around them ignored; reaching an entry that is not one (empty, with a
 * port, in brackets), or walking past 64 entries, stops the walk and the
 * peer is kept.
 * Writes the address (canonical text; IPv4-mapped IPv6 as IPv4) or peer
 * into ip, size n (KURA_IP_MAX + 1 is enough).
 */
enum kura_client_source kura_http_forwarded_client(const char *trusted, const char *peer,
						   const char *xff, char *ip, size_t n);

/*
 * Answers with a JSON body (takes ownership of body). A NULL body (a failed
 * json_pack) answers 500 internal_error; use kura_reply_empty for no body.
 */
void kura_reply_json(struct kura_req *r, unsigned status, json_t *body);
/* Answers with an error; message NULL = a generic one for the code. */
void kura_reply_error(struct kura_req *r, enum kura_err e, const char *message);
/* As kura_reply_error, with details (takes ownership; may be NULL). */
void kura_reply_error_details(struct kura_req *r, enum kura_err e, const char *message,
			      json_t *details);
void kura_reply_empty(struct kura_req *r, unsigned status);
/* Answers with a body of the given Content-Type (data copied; not cached). */
void kura_reply_text(struct kura_req *r, unsigned status, const char *content_type,
		     const char *data, size_t len);
/* Size of the buffer a stream producer fills per call. */
#define KURA_STREAM_PIECE (64 * 1024)

/*
 * A producer of a streamed body: writes up to cap bytes into buf and sets
 * *len. Returns KURA_OK for "here is a piece" (len may be 0), KURA_E_NOT_FOUND
 * for "no more", anything else to abort (the client sees a cut body).
 * Called on an HTTP thread while the request is alive, so it may use the
 * request's tenant handle.
 */
typedef enum kura_err (*kura_stream_fn)(void *ctx, char *buf, size_t cap, size_t *len);

/*
 * Answers with a body produced piece by piece (chunked). filename, when not
 * NULL, is sent as Content-Disposition: attachment (callers pass a plain
 * ASCII name). free_fn(ctx) runs when the response is done or failed.
 */
void kura_reply_stream(struct kura_req *r, unsigned status, const char *content_type,
		       const char *filename, kura_stream_fn fn, void *ctx,
		       void (*free_fn)(void *ctx));

/*
 * Takes back the reply made so far, before anything of it was sent (a
 * handler that finds, after answering, that the answer may not leave: its
 * audit entry failed). The handler then answers again, usually with an
 * error. No-op once the reply is queued or streaming.
 */
void kura_reply_discard(struct kura_req *r);

/* Adds a header to a reply already made (after kura_reply_json / _text). */
void kura_reply_add_header(struct kura_req *r, const char *name, const char *value);

/* Sets the Set-Cookie header for the reply (copied). */
void kura_reply_set_cookie(struct kura_req *r, const char *value);

/*
 * Runs fn(r) on the server's hash pool: the connection is suspended (no
 * HTTP thread waits), fn answers with kura_reply_* as a handler would, and
 * the connection resumes to send it. When the pool queue is full the request
 * is answered 503 service_busy at once.
 */
void kura_req_defer(struct kura_req *r, kura_handler_fn fn);

/*
 * Matches method+path against the table. On a match sets *route and fills
 * the request's params (values copied). KURA_E_NOT_FOUND when no pattern
 * matches the path; KURA_E_METHOD_NOT_ALLOWED when one does but not for this
 * method, with *allowed set to the mask of methods that would match.
 */
enum kura_err kura_router_match(const struct kura_route *routes, size_t n, unsigned method,
				const char *path, struct kura_req *r,
				const struct kura_route **route, unsigned *allowed);
/* Writes "GET, POST" for a mask. */
void kura_method_mask_str(unsigned mask, char *out, size_t n);
/* Parses "GET" etc.; 0 when unknown. */
unsigned kura_method_parse(const char *s);

/*
 * Parses a JSON body with limits: valid UTF-8, no NUL bytes, depth <=
 * max_depth. On error returns KURA_E_INVALID_JSON / KURA_E_JSON_TOO_DEEP /
 * KURA_E_INVALID_UTF8 with a message (position included) in msg.
 */
enum kura_err kura_json_parse(const char *data, size_t len, unsigned max_depth, json_t **out,
			      char *msg, size_t msgn);

/* Starts listening (MHD daemon with its own threads). */
enum kura_err kura_http_start(struct kura_server *srv, char *err, size_t n);
/* Stops accepting, lets in-flight requests finish, joins threads. */
void kura_http_stop(struct kura_server *srv);

/* Static files of the admin UI, loaded into memory at start. */
struct kura_static;
enum kura_err kura_static_load(const char *dir, struct kura_static **out, char *err, size_t n);
void kura_static_free(struct kura_static *s);
/* Finds a file for a request path ("/" → index.html). NULL when none. */
const void *kura_static_find(const struct kura_static *s, const char *path, size_t *len,
			     const char **content_type);

#endif
