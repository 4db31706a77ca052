/*
 * Attachments on records: /api/v1/objects/{object}/{id}/attachments.
 * Upload takes the file as the raw body (?filename=...), up to
 * attachment_max_bytes; its type is sniffed from the content and must be
 * on the allow-list (and agree with a declared Content-Type). Each file is
 * encrypted with AES-256-GCM under a random key of its own, bound to the
 * tenant, object type, record and attachment id; that key is kept only
 * wrapped by the tenant's data key (field encryption, purpose
 * "attachment-key"), and the file name is kept encrypted as well.
 * Downloads are audited like reads of sensitive values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api_int.h"
#include "kura/clock.h"
#include "kura/crypto.h"
#include "kura/text.h"

#define FILENAME_MAX_CHARS 255

/* AAD of a file's content: tenant, object, record and attachment, NUL-separated. */
static size_t
content_aad(const char *tenant, const char *object, int64_t record, int64_t aid, char *out,
	    size_t n)
{
	int w = snprintf(out, n, "kura:attachment:v1%c%s%c%s%c%lld%c%lld", 0, tenant, 0, object, 0,
			 (long long)record, 0, (long long)aid);

	return w < 0 || (size_t)w >= n ? 0 : (size_t)w;
}

static bool
filename_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > FILENAME_MAX_CHARS * 4 || kura_utf8_chars(s, n) > FILENAME_MAX_CHARS ||
	    strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7F || ch == '/' || ch == '\\')
			return false;
	}
	return true;
}

struct att_json_ctx {
	struct kura_api_crm *c;
	struct kura_req *r;
	json_t *out;       /* an array (list) or NULL (one, in one) */
	json_t *one;
	struct kura_attachment_row row;
	uint8_t *wrapped;  /* copies for a download */
	size_t wrapped_len;
	enum kura_err e;
};

/* The JSON of an attachment (its name decrypted). */
static json_t *
attachment_json(struct kura_api_crm *c, struct kura_req *r, const struct kura_attachment_row *a,
		enum kura_err *e)
{
	struct kura_field_ctx f;
	char name[48], id[24], who[24], t[40];
	uint8_t *fn = NULL;
	size_t fnlen = 0;
	json_t *j;

	kura_attachment_field_ctx(&f, name, sizeof(name), r->principal.tenant_id, c->x.key_version,
				  c->obj->row.name, a->record_id, a->id, true);
	*e = kura_field_decrypt(c->x.keys, &f, a->filename, a->filename_len, &fn, &fnlen);
	if (*e != KURA_OK)
		return NULL;
	snprintf(id, sizeof(id), "%lld", (long long)a->id);
	snprintf(who, sizeof(who), "%lld", (long long)a->created_by);
	kura_time_rfc3339(a->created_at, t, sizeof(t));
	j = json_pack("{s:s, s:s%, s:s, s:I, s:s, s:s}", "id", id, "filename", (const char *)fn,
		      fnlen, "contentType", a->content_type, "size", (json_int_t)a->size,
		      "createdBy", who, "createdAt", t);
	sodium_memzero(fn, fnlen);
	free(fn);
	return j;
}

static bool
add_json(void *ctx, const struct kura_attachment_row *a)
{
	struct att_json_ctx *x = ctx;
	json_t *j = attachment_json(x->c, x->r, a, &x->e);

	if (j == NULL)
		return false;
	json_array_append_new(x->out, j);
	return true;
}

static bool
keep_row(void *ctx, const struct kura_attachment_row *a)
{
	struct att_json_ctx *x = ctx;

	x->row = *a;
	x->row.filename = NULL;
	x->row.wrapped_key = NULL;
	x->wrapped = malloc(a->wrapped_key_len + 1);
	if (x->wrapped == NULL) {
		x->e = KURA_E_NOMEM;
		return false;
	}
	memcpy(x->wrapped, a->wrapped_key, a->wrapped_key_len);
	x->wrapped_len = a->wrapped_key_len;
	x->one = attachment_json(x->c, x->r, a, &x->e);
	return false;
}

/* The record of the route must exist and be live. */
static bool
record_live(struct kura_req *r, struct kura_api_crm *c, int64_t id)
{
	json_t *rec = NULL, *none = json_array();
	enum kura_err e = kura_record_json(&c->x, id, false, none, &rec);

	json_decref(none);
	json_decref(rec);
	if (e != KURA_OK) {
		kura_reply_error(r, e, e == KURA_E_NOT_FOUND ? "no such record" : NULL);
		return false;
	}
	return true;
}

void
kura_api_attachments_create(struct kura_req *r)
{
	static const char *const allowed[] = {"filename", NULL};
	const char *filename = kura_req_query(r, "filename"), *bad = NULL;
	const char *declared = kura_req_header(r, "Content-Type");
	const uint8_t *data = (const uint8_t *)r->body.data;
	size_t n = r->body.len;
	struct kura_api_crm c;
	struct kura_attachment_row a;
	struct kura_field_ctx f;
	uint8_t file_key[KURA_KEY_BYTES];
	uint8_t *ct = NULL, *wrapped = NULL, *fn = NULL;
	size_t ctlen = 0, wlen = 0, fnlen = 0, aadlen;
	char aad[512], name[48], ctype[128], sid[24];
	const char *type;
	void *conn;
	const struct kura_crm_ops *ops;
	int64_t id, aid = 0;
	json_t *out;
	enum kura_err e;

	sodium_memzero(file_key, sizeof(file_key));
	memset(&a, 0, sizeof(a));
	if (!kura_req_query_only(r, allowed, &bad) || !filename_ok(filename)) {
		kura_reply_error_details(
			r, KURA_E_VALIDATION, "check the listed fields",
			json_pack("[{s:s, s:s, s:s}]", "field", "filename", "code", "invalid",
				  "message", "?filename= is 1..255 characters, without / \\ or "
					     "control characters"));
		return;
	}
	if (n == 0) {
		kura_reply_error(r, KURA_E_VALIDATION, "the body is the file and may not be empty");
		return;
	}
	if (n > r->srv->cfg.attachment_max_bytes) {
		kura_reply_error(r, KURA_E_BODY_TOO_LARGE, "the file is larger than attachments may be");
		return;
	}
	/* "type/subtype; parameters": the parameters say nothing about what the file is. */
	snprintf(ctype, sizeof(ctype), "%s", declared != NULL ? declared : "");
	ctype[strcspn(ctype, "; ")] = '\0';
	type = kura_sniff(data, n, ctype);
	if (type == NULL || (ctype[0] != '\0' && strcmp(ctype, "application/octet-stream") != 0 &&
			     strcmp(ctype, type) != 0 &&
			     !(strcmp(type, "text/plain") == 0 && strcmp(ctype, "text/csv") == 0))) {
		kura_reply_error(r, KURA_E_UNSUPPORTED_MEDIA_TYPE,
				 type == NULL ? "this kind of file is not accepted (PDF, PNG, JPEG, "
						"GIF, WebP, text, Word/Excel/PowerPoint files are)"
					      : "the content does not match the declared Content-Type");
		return;
	}
	if (!kura_api_record_id(r, "id", &id) || !kura_api_crm_begin(r, &c, "object"))
		return;
	if (!record_live(r, &c, id))
		goto out;
	ops = kura_store_crm(r->principal.db, &conn);
	e = kura_api_crm_write_begin(r, &c);
	if (e == KURA_OK)
		e = ops->attachment_next_id(conn, &aid);
	if (e == KURA_OK) {
		aadlen = content_aad(r->principal.tenant_id, c.obj->row.name, id, aid, aad,
				     sizeof(aad));
		kura_random_bytes(file_key, sizeof(file_key));
		e = aadlen == 0 ? KURA_E_CRYPTO
				: kura_aead_seal(file_key, aad, aadlen, data, n, &ct, &ctlen);
	}
	if (e == KURA_OK) {
		kura_attachment_field_ctx(&f, name, sizeof(name), r->principal.tenant_id,
					  c.x.key_version, c.obj->row.name, id, aid, false);
		e = kura_field_encrypt(c.x.keys, &f, file_key, sizeof(file_key), &wrapped, &wlen);
	}
	if (e == KURA_OK) {
		kura_attachment_field_ctx(&f, name, sizeof(name), r->principal.tenant_id,
					  c.x.key_version, c.obj->row.name, id, aid, true);
		e = kura_field_encrypt(c.x.keys, &f, filename, strlen(filename), &fn, &fnlen);
	}
	if (e == KURA_OK)
		e = ops->file_put(conn, aid, ct, ctlen);
	if (e == KURA_OK) {
		memset(&a, 0, sizeof(a));
		a.id = aid;
		a.object_id = c.obj->row.id;
		a.record_id = id;
		a.filename = fn;
		a.filename_len = fnlen;
		snprintf(a.content_type, sizeof(a.content_type), "%s", type);
		a.size = (int64_t)n;
		a.wrapped_key = wrapped;
		a.wrapped_key_len = wlen;
		a.created_by = c.x.actor.id;
		a.created_at = c.x.now;
		e = ops->attachment_add(conn, &a);
	}
	if (e == KURA_OK) {
		snprintf(sid, sizeof(sid), "%lld", (long long)aid);
		e = kura_api_crm_audit(r, "attachment.create", c.obj->row.name, id, sid);
	}
	e = kura_store_finish(r->principal.db, e);
	if (e != KURA_OK) {
		/* a file without its row is an orphan nobody can open: remove it */
		if (aid > 0)
			(void)ops->file_delete(conn, aid);
		kura_reply_error(r, e, NULL);
		goto out;
	}
	out = attachment_json(&c, r, &a, &e);
	if (out == NULL)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_json(r, 201, out);
out:
	sodium_memzero(file_key, sizeof(file_key));
	free(ct);
	free(wrapped);
	free(fn);
	kura_api_crm_end(r, &c);
}

void
kura_api_attachments_list(struct kura_req *r)
{
	struct kura_api_crm c;
	struct att_json_ctx x = {0};
	void *conn;
	const struct kura_crm_ops *ops;
	int64_t id;
	enum kura_err e;

	if (!kura_api_record_id(r, "id", &id) || !kura_api_crm_begin(r, &c, "object"))
		return;
	if (!record_live(r, &c, id))
		goto out;
	ops = kura_store_crm(r->principal.db, &conn);
	x.c = &c;
	x.r = r;
	x.out = json_array();
	e = ops->attachment_list(conn, c.obj->row.id, id, add_json, &x);
	if (e == KURA_OK)
		e = x.e;
	kura_api_reply_results(r, e, x.out);
out:
	kura_api_crm_end(r, &c);
}

/* Content-Disposition with the name as RFC 5987 UTF-8 (and an ASCII stand-in). */
static void
disposition(const char *filename, char *out, size_t n)
{
	size_t used = (size_t)snprintf(out, n, "attachment; filename=\"download\"; filename*=UTF-8''");

	for (const unsigned char *p = (const unsigned char *)filename; *p != '\0' && used + 4 < n;
	     p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '-' || *p == '_')
			out[used++] = (char)*p;
		else
			used += (size_t)snprintf(out + used, n - used, "%%%02X", *p);
	}
	out[used < n ? used : n - 1] = '\0';
}

void
kura_api_attachments_get(struct kura_req *r)
{
	struct kura_api_crm c;
	struct att_json_ctx x = {0};
	struct kura_field_ctx f;
	void *conn;
	const struct kura_crm_ops *ops;
	uint8_t *key = NULL, *ct = NULL, *pt = NULL;
	size_t klen = 0, ctlen = 0, ptlen = 0, aadlen;
	char aad[512], name[48], disp[1200];
	int64_t id, aid;
	enum kura_err e;

	if (!kura_api_record_id(r, "id", &id) || !kura_api_record_id(r, "aid", &aid) ||
	    !kura_api_crm_begin(r, &c, "object"))
		return;
	if (!record_live(r, &c, id))
		goto out;
	ops = kura_store_crm(r->principal.db, &conn);
	x.c = &c;
	x.r = r;
	e = ops->attachment_get(conn, c.obj->row.id, id, aid, keep_row, &x);
	if (e == KURA_OK)
		e = x.e;
	if (e == KURA_E_NOT_FOUND) {
		kura_reply_error(r, e, "no such attachment");
		goto out;
	}
	if (e == KURA_OK) {
		kura_attachment_field_ctx(&f, name, sizeof(name), r->principal.tenant_id,
					  c.x.key_version, c.obj->row.name, id, aid, false);
		e = kura_field_decrypt(c.x.keys, &f, x.wrapped, x.wrapped_len, &key, &klen);
		if (e == KURA_OK && klen != KURA_KEY_BYTES)
			e = KURA_E_CRYPTO;
	}
	if (e == KURA_OK)
		e = ops->file_get(conn, aid, &ct, &ctlen);
	if (e == KURA_OK) {
		aadlen = content_aad(r->principal.tenant_id, c.obj->row.name, id, aid, aad,
				     sizeof(aad));
		e = aadlen == 0 ? KURA_E_CRYPTO : kura_aead_open(key, aad, aadlen, ct, ctlen, &pt, &ptlen);
	}
	if (e == KURA_OK)
		e = kura_api_crm_audit(r, "attachment.read", c.obj->row.name, id,
				       json_string_value(json_object_get(x.one, "id")));
	if (e != KURA_OK) {
		/* a changed or moved file is an error, never other bytes */
		kura_reply_error(r, e, NULL);
		goto out;
	}
	disposition(json_string_value(json_object_get(x.one, "filename")), disp, sizeof(disp));
	kura_reply_text(r, 200, x.row.content_type, (const char *)pt, ptlen);
	kura_reply_add_header(r, "Content-Disposition", disp);
out:
	if (key != NULL)
		sodium_memzero(key, klen);
	free(key);
	free(ct);
	if (pt != NULL)
		sodium_memzero(pt, ptlen);
	free(pt);
	free(x.wrapped);
	json_decref(x.one);
	kura_api_crm_end(r, &c);
}

void
kura_api_attachments_delete(struct kura_req *r)
{
	struct kura_api_crm c;
	void *conn;
	const struct kura_crm_ops *ops;
	int64_t id, aid;
	char sid[24];
	enum kura_err e;

	if (!kura_api_record_id(r, "id", &id) || !kura_api_record_id(r, "aid", &aid) ||
	    !kura_api_crm_begin(r, &c, "object"))
		return;
	ops = kura_store_crm(r->principal.db, &conn);
	e = kura_api_crm_write_begin(r, &c);
	if (e == KURA_OK)
		e = ops->attachment_delete(conn, c.obj->row.id, id, aid);
	if (e == KURA_OK) {
		snprintf(sid, sizeof(sid), "%lld", (long long)aid);
		e = kura_api_crm_audit(r, "attachment.delete", c.obj->row.name, id, sid);
	}
	/* in the transaction: the file goes when it commits (the store unlinks it then) */
	if (e == KURA_OK)
		e = ops->file_delete(conn, aid);
	e = kura_store_finish(r->principal.db, e);
	if (e == KURA_E_NOT_FOUND)
		kura_reply_error(r, e, "no such attachment");
	else if (e != KURA_OK)
		kura_reply_error(r, e, NULL);
	else
		kura_reply_empty(r, 204);
	kura_api_crm_end(r, &c);
}
