/*
 * Building replies. A reply only prepares the MHD_Response in r->response
 * and the status in r->status; the server queues it (after adding the
 * security headers every response carries) once the handler has returned,
 * or once a deferred job has resumed the connection. That way the same
 * handler code works on an HTTP thread and on the hash pool.
 *
 * Errors have one shape, {"error": {"code", "message", "requestId",
 * "details"}}, and internal ones (500) never carry the internal message or
 * details: those go to the log with the request id, which the client sees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "kura/http.h"
#include "kura/log.h"

#define JSON_CTYPE "application/json; charset=utf-8"

static const char *
generic_message(enum kura_err e)
{
	switch (e) {
	case KURA_E_BAD_REQUEST:
		return "the request is malformed";
	case KURA_E_INVALID_JSON:
		return "the body is not valid JSON";
	case KURA_E_JSON_TOO_DEEP:
		return "the JSON body is nested too deeply";
	case KURA_E_INVALID_UTF8:
		return "the body is not valid UTF-8";
	case KURA_E_VALIDATION:
		return "some fields are not valid";
	case KURA_E_BODY_TOO_LARGE:
		return "the body is too large";
	case KURA_E_URI_TOO_LONG:
		return "the URL is too long";
	case KURA_E_HEADERS_TOO_LARGE:
		return "the request headers are too large";
	case KURA_E_UNSUPPORTED_MEDIA_TYPE:
		return "the body must be application/json";
	case KURA_E_NOT_FOUND:
		return "not found";
	case KURA_E_METHOD_NOT_ALLOWED:
		return "this method is not allowed here";
	case KURA_E_UNAUTHENTICATED:
		return "sign in first";
	case KURA_E_INVALID_CREDENTIALS:
		return "the credentials are wrong";
	case KURA_E_FORBIDDEN:
		return "not allowed";
	case KURA_E_CSRF:
		return "missing or wrong CSRF token";
	case KURA_E_TENANT_SUSPENDED:
		return "this tenant is suspended";
	case KURA_E_PASSWORD_CHANGE_REQUIRED:
		return "change your password first";
	case KURA_E_EXISTS:
		return "it already exists";
	case KURA_E_CONFLICT:
		return "the request conflicts with the current state";
	case KURA_E_RATE_LIMITED:
		return "too many requests; try again later";
	case KURA_E_BUSY:
		return "the server is busy; try again shortly";
	case KURA_E_UNAVAILABLE:
		return "the service is unavailable; try again later";
	default:
		return "an internal error occurred; quote the request id when reporting it";
	}
}

/* true (and a warning logged) when r already has its answer. */
static bool
already_answered(struct kura_req *r)
{
	if (r->status == 0 && r->response == NULL)
		return false;
	kura_log(KURA_LOG_WARN, "reply_twice", "rid=%s status=%u", r->rid, r->status);
	return true;
}

/*
 * Wraps data (malloc'd, owned from here on; NULL for no body) into the
 * request's response. On failure the status is still recorded so the
 * server knows a reply was attempted and answers 500 itself.
 */
static void
set_response(struct kura_req *r, unsigned status, char *data, size_t len, const char *ctype)
{
	struct MHD_Response *resp;

	r->status = status;
	if (data != NULL)
		resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	else
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		free(data);
		kura_log(KURA_LOG_ERROR, "reply_failed", "rid=%s status=%u", r->rid, status);
		return;
	}
	/* Every reply built here is API data: never stored by caches or the browser. */
	if ((ctype != NULL && MHD_add_response_header(resp, "Content-Type", ctype) != MHD_YES) ||
	    MHD_add_response_header(resp, "Cache-Control", "no-store") != MHD_YES) {
		MHD_destroy_response(resp);
		kura_log(KURA_LOG_ERROR, "reply_failed", "rid=%s status=%u", r->rid, status);
		return;
	}
	r->response = resp;
}

/* A last-resort body that needs no allocation beyond the buffer itself. */
static void
set_fallback_error(struct kura_req *r)
{
	char *body = malloc(256);
	int n;

	if (body == NULL) {
		set_response(r, 500, NULL, 0, NULL);
		return;
	}
	n = snprintf(body, 256,
		     "{\"error\":{\"code\":\"internal_error\",\"message\":\"%s\","
		     "\"requestId\":\"%s\",\"details\":[]}}",
		     "an internal error occurred", r->rid);
	set_response(r, 500, body, n > 0 && n < 256 ? (size_t)n : 0, JSON_CTYPE);
}

static void
reply_json_owned(struct kura_req *r, unsigned status, json_t *body)
{
	char *text;

	if (body == NULL) {
		set_response(r, status, NULL, 0, NULL);
		return;
	}
	/* How many items the answer carries: a list's results, or one object (read volume). */
	r->reply_items = json_is_array(json_object_get(body, "results"))
				 ? json_array_size(json_object_get(body, "results"))
				 : json_is_object(body) ? 1 : 0;
	text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	json_decref(body);
	if (text == NULL) {
		kura_log(KURA_LOG_ERROR, "reply_encode_failed", "rid=%s status=%u", r->rid,
			 status);
		set_fallback_error(r);
		return;
	}
	set_response(r, status, text, strlen(text), JSON_CTYPE);
}

void
kura_reply_json(struct kura_req *r, unsigned status, json_t *body)
{
	if (already_answered(r)) {
		json_decref(body);
		return;
	}
	if (status < 100 || status > 599) {
		kura_log(KURA_LOG_ERROR, "reply_bad_status", "rid=%s status=%u", r->rid, status);
		json_decref(body);
		set_fallback_error(r);
		return;
	}
	/*
	 * NULL is what a failed json_pack() (a bad format or out of memory)
	 * returns: answer 500 rather than a misleading empty success.
	 */
	if (body == NULL) {
		kura_log(KURA_LOG_ERROR, "reply_json_null", "rid=%s status=%u", r->rid, status);
		kura_reply_error(r, KURA_E_INTERNAL, NULL);
		return;
	}
	reply_json_owned(r, status, body);
}

void
kura_reply_empty(struct kura_req *r, unsigned status)
{
	if (already_answered(r))
		return;
	if (status < 100 || status > 599) {
		kura_log(KURA_LOG_ERROR, "reply_bad_status", "rid=%s status=%u", r->rid, status);
		set_fallback_error(r);
		return;
	}
	set_response(r, status, NULL, 0, NULL);
}

void
kura_reply_text(struct kura_req *r, unsigned status, const char *content_type, const char *data,
		size_t len)
{
	char *copy;

	if (already_answered(r))
		return;
	if (status < 100 || status > 599 || content_type == NULL || (data == NULL && len > 0)) {
		kura_log(KURA_LOG_ERROR, "reply_bad_text", "rid=%s status=%u", r->rid, status);
		set_fallback_error(r);
		return;
	}
	/* One byte more than the data, so that an empty body is still an allocation to own. */
	copy = malloc(len + 1);
	if (copy == NULL) {
		kura_log(KURA_LOG_ERROR, "reply_failed", "rid=%s status=%u", r->rid, status);
		set_fallback_error(r);
		return;
	}
	if (len > 0)
		memcpy(copy, data, len);
	set_response(r, status, copy, len, content_type);
}

void
kura_reply_error(struct kura_req *r, enum kura_err e, const char *message)
{
	kura_reply_error_details(r, e, message, NULL);
}

void
kura_reply_error_details(struct kura_req *r, enum kura_err e, const char *message,
			 json_t *details)
{
	int status = kura_err_http_status(e);
	json_t *msg = NULL, *body = NULL;

	if (already_answered(r)) {
		json_decref(details);
		return;
	}
	if (status >= 500 && e != KURA_E_BUSY && e != KURA_E_UNAVAILABLE) {
		char q[512];

		/* The detail stays here, with the request id the client was given. */
		kura_log(KURA_LOG_ERROR, "internal_error", "rid=%s err=%s status=%d msg=%s", r->rid,
			 kura_err_name(e), status, kura_log_quote(q, sizeof(q), message));
		message = NULL;
		json_decref(details);
		details = NULL;
	}
	if (message != NULL)
		msg = json_string(message);
	/* json_string refuses invalid UTF-8; the generic text is always valid. */
	if (msg == NULL)
		msg = json_string(generic_message(e));
	if (details != NULL && !json_is_array(details)) {
		kura_log(KURA_LOG_WARN, "reply_details_not_array", "rid=%s", r->rid);
		json_decref(details);
		details = NULL;
	}
	if (details == NULL)
		details = json_array();
	body = json_pack("{s:{s:s, s:o, s:s, s:o}}", "error", "code", kura_err_code(e), "message",
			 msg, "requestId", r->rid, "details", details);
	/* json_pack took (or on failure released) msg and details ("o"). */
	if (body == NULL) {
		set_fallback_error(r);
		return;
	}
	reply_json_owned(r, (unsigned)status, body);
	/* Busy is momentary (a full hash queue): tell clients when to come back. */
	if (e == KURA_E_BUSY && r->response != NULL)
		MHD_add_response_header(r->response, "Retry-After", "1");
}

void
kura_reply_discard(struct kura_req *r)
{
	/* Only a reply not yet queued can be taken back; a stream has started. */
	if (r->queued || r->streaming)
		return;
	if (r->response != NULL)
		MHD_destroy_response(r->response);
	r->response = NULL;
	r->status = 0;
}

void
kura_reply_add_header(struct kura_req *r, const char *name, const char *value)
{
	if (r->response == NULL || MHD_add_response_header(r->response, name, value) != MHD_YES)
		kura_log(KURA_LOG_WARN, "reply_header_failed", "rid=%s", r->rid);
}

void
kura_reply_set_cookie(struct kura_req *r, const char *value)
{
	char *copy;

	/* API-key callers are machines, not browsers: they never get a session cookie. */
	if (value == NULL || r->principal.api_key_id != 0)
		return;
	copy = strdup(value);
	if (copy == NULL) {
		kura_log(KURA_LOG_ERROR, "reply_cookie_failed", "rid=%s", r->rid);
		return;
	}
	free(r->set_cookie);
	r->set_cookie = copy;
}

/*
 * Streaming: MHD pulls the body through this adapter, a piece at a time, so
 * an export of a million rows never sits in memory. The producer fills
 * whole pieces; the adapter hands MHD as much as it asks for.
 */
struct stream {
	kura_stream_fn fn;
	void *ctx;
	void (*free_fn)(void *ctx);
	char *piece;
	size_t len;
	size_t off;
	bool done;
};

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	size_t n;

	(void)pos;
	while (s->off == s->len) {
		if (s->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		s->off = 0;
		s->len = 0;
		switch (s->fn(s->ctx, s->piece, KURA_STREAM_PIECE, &s->len)) {
		case KURA_OK:
			break;
		case KURA_E_NOT_FOUND: /* the producer's "no more" */
			s->done = true;
			break;
		default:
			/* Headers are gone already: cutting the body short is all that is left. */
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
	}
	n = s->len - s->off < max ? s->len - s->off : max;
	memcpy(buf, s->piece + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void
stream_free(void *cls)
{
	struct stream *s = cls;

	if (s->free_fn != NULL)
		s->free_fn(s->ctx);
	free(s->piece);
	free(s);
}

void
kura_reply_stream(struct kura_req *r, unsigned status, const char *content_type,
		  const char *filename, kura_stream_fn fn, void *ctx, void (*free_fn)(void *ctx))
{
	struct MHD_Response *resp = NULL;
	struct stream *s = NULL;
	char disp[160];

	if (already_answered(r))
		goto fail;
	s = calloc(1, sizeof(*s));
	if (s != NULL)
		s->piece = malloc(KURA_STREAM_PIECE);
	if (s == NULL || s->piece == NULL)
		goto fail;
	s->fn = fn;
	s->ctx = ctx;
	s->free_fn = free_fn;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, stream_read, s,
						 stream_free);
	if (resp == NULL)
		goto fail;
	s = NULL; /* owned by the response now */
	if (filename != NULL)
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", filename);
	if (MHD_add_response_header(resp, "Content-Type", content_type) != MHD_YES ||
	    MHD_add_response_header(resp, "Cache-Control", "no-store") != MHD_YES ||
	    (filename != NULL &&
	     MHD_add_response_header(resp, "Content-Disposition", disp) != MHD_YES)) {
		MHD_destroy_response(resp);
		kura_reply_error(r, KURA_E_INTERNAL, NULL);
		return;
	}
	r->status = status;
	r->response = resp;
	r->streaming = true;
	return;
fail:
	if (s != NULL) {
		free(s->piece);
		free(s);
	}
	if (free_fn != NULL)
		free_fn(ctx);
	if (r->status == 0 && r->response == NULL)
		kura_reply_error(r, KURA_E_NOMEM, NULL);
}
