/*
 * The public face of store/: checks the arguments every back end would
 * otherwise have to check, keeps out-parameters zeroed on error, and
 * dispatches through struct kura_store_ops. A tenant handle remembers the
 * tenant it was acquired for, so every later call on it reaches that
 * tenant's data and no other.
 */
#include "kura/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/clock.h"
#include "kura/store_mfa.h"
#include "kura/store_org.h"

struct kura_store {
	const struct kura_store_ops *ops;
	void *be;
};

struct kura_tenant_db {
	struct kura_store *store;
	void *conn;
	char tenant_id[KURA_TENANT_ID_MAX + 1];
};

/* [a-z0-9-], 2..32, starts with a letter: the id names a directory too. */
static bool
tenant_id_ok(const char *id)
{
	size_t i;

	if (id == NULL || !(id[0] >= 'a' && id[0] <= 'z'))
		return false;
	for (i = 0; id[i] != '\0'; i++) {
		char ch = id[i];

		if (i >= KURA_TENANT_ID_MAX)
			return false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
	}
	return i >= 2;
}

/* A back end with a hole in its vtable is refused at open, not at first use. */
static bool
ops_complete(const struct kura_store_ops *o)
{
	return o->name != NULL && o->open != NULL && o->close != NULL && o->ping != NULL &&
	       o->tenant_create != NULL && o->tenant_get != NULL && o->tenant_list != NULL &&
	       o->tenant_set_status != NULL && o->tenant_key_get != NULL &&
	       o->tenant_acquire != NULL && o->tenant_release != NULL && o->begin != NULL &&
	       o->commit != NULL && o->rollback != NULL && o->user_create != NULL &&
	       o->user_get != NULL && o->user_get_by_email != NULL && o->user_list != NULL &&
	       o->user_set_password != NULL && o->session_create != NULL &&
	       o->session_get != NULL && o->session_auth != NULL && o->session_touch != NULL && o->session_delete != NULL &&
	       o->session_delete_user != NULL && o->session_purge_expired != NULL &&
	       o->user_update != NULL && o->user_delete != NULL &&
	       o->user_count_active_role != NULL && o->session_list_user != NULL &&
	       o->settings_list != NULL && o->setting_put != NULL && o->lockout_get != NULL &&
	       o->lockout_put != NULL &&
	       o->audit_head != NULL && o->audit_insert != NULL && o->audit_scan != NULL &&
	       o->audit_query != NULL && o->audit_spool != NULL && o->audit_spooled != NULL &&
	       o->audit_spool_max != NULL &&
	       o->audit_unspool != NULL && o->seal_put != NULL && o->seal_list != NULL &&
	       o->in_transaction != NULL && o->notice_create != NULL && o->notice_list != NULL &&
	       o->apikey_create != NULL && o->apikey_auth != NULL && o->apikey_list != NULL &&
	       o->apikey_revoke != NULL && o->apikey_touch != NULL &&
	       o->pwhistory_add != NULL && o->pwhistory_list != NULL && o->crm != NULL &&
	       o->mfa != NULL && o->org != NULL && o->form_access_add != NULL &&
	       o->form_access_query != NULL && o->form_access_purge != NULL &&
	       o->setting_get != NULL && o->tenant_key_rotate != NULL &&
	       o->tenant_delete != NULL && o->tenant_keys_all != NULL &&
	       o->tenant_key_retire != NULL &&
	       o->tenant_keys_replace != NULL;
}

enum kura_err
kura_store_open(const struct kura_store_ops *ops, const char *data_dir,
		unsigned max_conns_per_tenant, struct kura_store **out, char *err, size_t n)
{
	struct kura_store *s = NULL;
	enum kura_err e = KURA_OK;

	if (out != NULL)
		*out = NULL;
	if (err != NULL && n > 0)
		err[0] = '\0';
	if (out == NULL || ops == NULL || data_dir == NULL || data_dir[0] == '\0' ||
	    !ops_complete(ops)) {
		e = KURA_E_CONFIG;
		if (err != NULL && n > 0)
			snprintf(err, n, "store: missing data directory or incomplete back end");
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	s->ops = ops;
	/* 0 would mean no tenant could ever get a handle. */
	e = ops->open(data_dir, max_conns_per_tenant > 0 ? max_conns_per_tenant : 1, &s->be,
		      err, n);
	if (e != KURA_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	free(s);
	return e;
}

void
kura_store_close(struct kura_store *s)
{
	if (s == NULL)
		return;
	s->ops->close(s->be);
	free(s);
}

enum kura_err
kura_store_ping(struct kura_store *s)
{
	if (s == NULL)
		return KURA_E_INTERNAL;
	return s->ops->ping(s->be);
}

enum kura_err
kura_store_tenant_create(struct kura_store *s, const struct kura_tenant *t,
			 const uint8_t *wrapped_key, size_t wrapped_len)
{
	if (s == NULL || t == NULL)
		return KURA_E_INTERNAL;
	if (!tenant_id_ok(t->id) || wrapped_key == NULL || wrapped_len == 0)
		return KURA_E_VALIDATION;
	return s->ops->tenant_create(s->be, t, wrapped_key, wrapped_len);
}

enum kura_err
kura_store_tenant_get(struct kura_store *s, const char *id, struct kura_tenant *out)
{
	enum kura_err e;

	if (out == NULL)
		return KURA_E_INTERNAL;
	memset(out, 0, sizeof(*out));
	if (s == NULL) {
		e = KURA_E_INTERNAL;
		goto out;
	}
	/* A malformed id names no tenant; do not bother the back end with it. */
	if (!tenant_id_ok(id)) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	e = s->ops->tenant_get(s->be, id, out);
out:
	if (e != KURA_OK)
		memset(out, 0, sizeof(*out));
	return e;
}

enum kura_err
kura_store_tenant_list(struct kura_store *s, kura_tenant_cb cb, void *ctx)
{
	if (s == NULL || cb == NULL)
		return KURA_E_INTERNAL;
	return s->ops->tenant_list(s->be, cb, ctx);
}

enum kura_err
kura_store_tenant_set_status(struct kura_store *s, const char *id, enum kura_tenant_status st,
			     int64_t now)
{
	if (s == NULL)
		return KURA_E_INTERNAL;
	if (!tenant_id_ok(id))
		return KURA_E_NOT_FOUND;
	if (st != KURA_TENANT_ACTIVE && st != KURA_TENANT_SUSPENDED)
		return KURA_E_VALIDATION;
	return s->ops->tenant_set_status(s->be, id, st, now);
}

enum kura_err
kura_store_tenant_key_get(struct kura_store *s, const char *id, uint32_t version, uint8_t *out,
			  size_t cap, size_t *len)
{
	enum kura_err e;

	if (len != NULL)
		*len = 0;
	if (out != NULL && cap > 0)
		memset(out, 0, cap);
	if (s == NULL || len == NULL || (out == NULL && cap > 0)) {
		e = KURA_E_INTERNAL;
		goto out;
	}
	if (!tenant_id_ok(id)) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	e = s->ops->tenant_key_get(s->be, id, version, out, cap, len);
out:
	if (e != KURA_OK) {
		if (len != NULL)
			*len = 0;
		if (out != NULL && cap > 0)
			memset(out, 0, cap);
	}
	return e;
}

enum kura_err
kura_store_tenant_acquire(struct kura_store *s, const char *tenant_id,
			  struct kura_tenant_db **out)
{
	return kura_store_tenant_acquire_get(s, tenant_id, NULL, out);
}

enum kura_err
kura_store_tenant_acquire_get(struct kura_store *s, const char *tenant_id, struct kura_tenant *t,
			      struct kura_tenant_db **out)
{
	struct kura_tenant_db *db = NULL;
	enum kura_err e;

	if (t != NULL)
		memset(t, 0, sizeof(*t));
	if (out == NULL)
		return KURA_E_INTERNAL;
	*out = NULL;
	if (s == NULL) {
		e = KURA_E_INTERNAL;
		goto out;
	}
	if (!tenant_id_ok(tenant_id)) {
		e = KURA_E_NOT_FOUND;
		goto out;
	}
	db = calloc(1, sizeof(*db));
	if (db == NULL) {
		e = KURA_E_NOMEM;
		goto out;
	}
	db->store = s;
	snprintf(db->tenant_id, sizeof(db->tenant_id), "%s", tenant_id);
	e = s->ops->tenant_acquire(s->be, db->tenant_id, t, &db->conn);
	if (e != KURA_OK)
		goto out;
	*out = db;
	db = NULL;
out:
	if (e != KURA_OK && t != NULL)
		memset(t, 0, sizeof(*t));
	free(db);
	return e;
}

void
kura_store_tenant_release(struct kura_tenant_db *db)
{
	if (db == NULL)
		return;
	db->store->ops->tenant_release(db->store->be, db->conn);
	free(db);
}

const char *
kura_store_tenant_id(const struct kura_tenant_db *db)
{
	return db != NULL ? db->tenant_id : NULL;
}

enum kura_err
kura_store_begin(struct kura_tenant_db *db)
{
	if (db == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->begin(db->conn);
}

enum kura_err
kura_store_begin_nowait(struct kura_tenant_db *db)
{
	if (db == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->begin_nowait(db->conn);
}

enum kura_err
kura_store_commit(struct kura_tenant_db *db)
{
	if (db == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->commit(db->conn);
}

void
kura_store_rollback(struct kura_tenant_db *db)
{
	if (db == NULL)
		return;
	db->store->ops->rollback(db->conn);
}

enum kura_err
kura_store_user_create(struct kura_tenant_db *db, struct kura_user *u)
{
	if (db == NULL || u == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->user_create(db->conn, u);
}

enum kura_err
kura_store_user_get(struct kura_tenant_db *db, int64_t id, struct kura_user *out)
{
	enum kura_err e;

	if (out == NULL)
		return KURA_E_INTERNAL;
	memset(out, 0, sizeof(*out));
	if (db == NULL) {
		e = KURA_E_INTERNAL;
		goto out;
	}
	e = db->store->ops->user_get(db->conn, id, out);
out:
	if (e != KURA_OK)
		memset(out, 0, sizeof(*out));
	return e;
}

enum kura_err
kura_store_user_get_by_email(struct kura_tenant_db *db, const char *email,
			     struct kura_user *out)
{
	enum kura_err e;

	if (out == NULL)
		return KURA_E_INTERNAL;
	memset(out, 0, sizeof(*out));
	if (db == NULL || email == NULL) {
		e = KURA_E_INTERNAL;
		goto out;
	}
	e = db->store->ops->user_get_by_email(db->conn, email, out);
out:
	if (e != KURA_OK)
		memset(out, 0, sizeof(*out));
	return e;
}

enum kura_err
kura_store_user_list(struct kura_tenant_db *db, kura_user_cb cb, void *ctx)
{
	if (db == NULL || cb == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->user_list(db->conn, cb, ctx);
}

enum kura_err
kura_store_user_set_password(struct kura_tenant_db *db, int64_t id, const char *hash,
			     bool must_change, int64_t now)
{
	if (db == NULL || hash == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->user_set_password(db->conn, id, hash, must_change, now);
}

enum kura_err
kura_store_session_create(struct kura_tenant_db *db, const struct kura_session *s)
{
	if (db == NULL || s == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->session_create(db->conn, s);
}

enum kura_err
kura_store_session_auth(struct kura_tenant_db *db, const uint8_t id_hash[32],
			struct kura_session *sess, struct kura_user *u, struct kura_auth_read *x)
{
	enum kura_err e;

	if (sess != NULL)
		memset(sess, 0, sizeof(*sess));
	if (u != NULL)
		memset(u, 0, sizeof(*u));
	if (db == NULL || id_hash == NULL || sess == NULL || u == NULL || x == NULL)
		return KURA_E_INTERNAL;
	e = db->store->ops->session_auth(db->conn, id_hash, sess, u, x);
	if (e != KURA_OK) {
		memset(sess, 0, sizeof(*sess));
		memset(u, 0, sizeof(*u));
	}
	return e;
}

enum kura_err
kura_store_session_get(struct kura_tenant_db *db, const uint8_t id_hash[32],
		       struct kura_session *out)
{
	enum kura_err e;

	if (out == NULL)
		return KURA_E_INTERNAL;
	memset(out, 0, sizeof(*out));
	if (db == NULL || id_hash == NULL) {
		e = KURA_E_INTERNAL;
		goto out;
	}
	e = db->store->ops->session_get(db->conn, id_hash, out);
out:
	if (e != KURA_OK)
		memset(out, 0, sizeof(*out));
	return e;
}

enum kura_err
kura_store_session_touch(struct kura_tenant_db *db, const uint8_t id_hash[32], int64_t now)
{
	if (db == NULL || id_hash == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->session_touch(db->conn, id_hash, now);
}

enum kura_err
kura_store_session_delete(struct kura_tenant_db *db, const uint8_t id_hash[32])
{
	if (db == NULL || id_hash == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->session_delete(db->conn, id_hash);
}

enum kura_err
kura_store_session_delete_user(struct kura_tenant_db *db, int64_t user_id,
			       const uint8_t *keep_id_hash)
{
	if (db == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->session_delete_user(db->conn, user_id, keep_id_hash);
}

enum kura_err
kura_store_session_purge_expired(struct kura_tenant_db *db, int64_t now, int64_t idle_cutoff)
{
	if (db == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->session_purge_expired(db->conn, now, idle_cutoff);
}

bool
kura_store_in_transaction(struct kura_tenant_db *db)
{
	if (db == NULL)
		return false;
	return db->store->ops->in_transaction(db->conn);
}

enum kura_err
kura_store_audit_head(struct kura_tenant_db *db, int64_t *seq, uint8_t hash[32])
{
	enum kura_err e;

	if (seq != NULL)
		*seq = 0;
	if (hash != NULL)
		memset(hash, 0, 32);
	if (db == NULL || seq == NULL || hash == NULL) {
		e = KURA_E_INTERNAL;
		goto out;
	}
	e = db->store->ops->audit_head(db->conn, seq, hash);
out:
	if (e != KURA_OK && seq != NULL && hash != NULL) {
		*seq = 0;
		memset(hash, 0, 32);
	}
	return e;
}

enum kura_err
kura_store_audit_insert(struct kura_tenant_db *db, const struct kura_audit_entry *e)
{
	if (db == NULL || e == NULL)
		return KURA_E_INTERNAL;
	if (e->seq < 1)
		return KURA_E_VALIDATION;
	return db->store->ops->audit_insert(db->conn, e);
}

enum kura_err
kura_store_audit_scan(struct kura_tenant_db *db, int64_t from_seq, kura_audit_cb cb, void *ctx)
{
	if (db == NULL || cb == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->audit_scan(db->conn, from_seq, cb, ctx);
}

enum kura_err
kura_store_audit_query(struct kura_tenant_db *db, const struct kura_audit_filter *f,
		       kura_audit_cb cb, void *ctx)
{
	if (db == NULL || f == NULL || cb == NULL)
		return KURA_E_INTERNAL;
	if (f->outcome > KURA_AUDIT_FAILED)
		return KURA_E_VALIDATION;
	return db->store->ops->audit_query(db->conn, f, cb, ctx);
}

enum kura_err
kura_store_audit_spool(struct kura_tenant_db *db, const struct kura_audit_entry *const *e,
		       size_t n)
{
	if (db == NULL || (e == NULL && n > 0))
		return KURA_E_INTERNAL;
	if (n == 0)
		return KURA_OK;
	return db->store->ops->audit_spool(db->conn, e, n);
}

bool
kura_store_audit_spooled(struct kura_tenant_db *db, int64_t *since_us, int64_t *count)
{
	if (since_us != NULL)
		*since_us = 0;
	if (count != NULL)
		*count = 0;
	if (db == NULL)
		return false;
	return db->store->ops->audit_spooled(db->conn, since_us, count);
}

enum kura_err
kura_store_audit_unspool(struct kura_tenant_db *db, kura_audit_unspool_cb cb, void *ctx,
			 size_t *moved)
{
	if (moved != NULL)
		*moved = 0;
	if (db == NULL || cb == NULL)
		return KURA_E_INTERNAL;
	if (!kura_store_in_transaction(db))
		return KURA_E_INTERNAL;
	return db->store->ops->audit_unspool(db->conn, cb, ctx, moved);
}

void
kura_store_audit_spool_max(struct kura_store *s, int64_t bytes)
{
	if (s != NULL && bytes > 0)
		s->ops->audit_spool_max(s->be, bytes);
}

enum kura_err
kura_store_seal_put(struct kura_store *s, const char *tenant_id, int64_t seq,
		    const uint8_t hash[32], const uint8_t mac[32], int64_t now)
{
	if (s == NULL || hash == NULL || mac == NULL)
		return KURA_E_INTERNAL;
	if (!tenant_id_ok(tenant_id))
		return KURA_E_NOT_FOUND;
	if (seq < 1)
		return KURA_E_VALIDATION;
	return s->ops->seal_put(s->be, tenant_id, seq, hash, mac, now);
}

enum kura_err
kura_store_seal_list(struct kura_store *s, const char *tenant_id, kura_audit_seal_cb cb,
		     void *ctx)
{
	if (s == NULL || cb == NULL)
		return KURA_E_INTERNAL;
	if (!tenant_id_ok(tenant_id))
		return KURA_E_NOT_FOUND;
	return s->ops->seal_list(s->be, tenant_id, cb, ctx);
}

enum kura_err
kura_store_user_update(struct kura_tenant_db *db, const struct kura_user *u, int64_t now)
{
	if (db == NULL || u == NULL || u->id <= 0)
		return KURA_E_INTERNAL;
	if (u->status != KURA_USER_ACTIVE && u->status != KURA_USER_DISABLED)
		return KURA_E_VALIDATION;
	return db->store->ops->user_update(db->conn, u, now);
}

enum kura_err
kura_store_user_delete(struct kura_tenant_db *db, int64_t id)
{
	if (db == NULL || id <= 0)
		return KURA_E_INTERNAL;
	return db->store->ops->user_delete(db->conn, id);
}

enum kura_err
kura_store_user_count_active_role(struct kura_tenant_db *db, const char *role, int64_t *n)
{
	enum kura_err e;

	if (n == NULL)
		return KURA_E_INTERNAL;
	*n = 0;
	if (db == NULL || role == NULL)
		return KURA_E_INTERNAL;
	e = db->store->ops->user_count_active_role(db->conn, role, n);
	if (e != KURA_OK)
		*n = 0;
	return e;
}

enum kura_err
kura_store_session_list_user(struct kura_tenant_db *db, int64_t user_id, kura_session_cb cb,
			     void *ctx)
{
	if (db == NULL || cb == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->session_list_user(db->conn, user_id, cb, ctx);
}

enum kura_err
kura_store_settings_list(struct kura_tenant_db *db, kura_setting_cb cb, void *ctx)
{
	if (db == NULL || cb == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->settings_list(db->conn, cb, ctx);
}

enum kura_err
kura_store_setting_put(struct kura_tenant_db *db, const char *key, const char *value, int64_t now)
{
	if (db == NULL || key == NULL || value == NULL)
		return KURA_E_INTERNAL;
	/* As the table allows (tenant migration 9): room for a full IP allow-list. */
	if (strlen(key) == 0 || strlen(key) > 64 || strlen(value) > 4096)
		return KURA_E_VALIDATION;
	return db->store->ops->setting_put(db->conn, key, value, now);
}

enum kura_err
kura_store_lockout_get(struct kura_tenant_db *db, int64_t user_id, int64_t *failed,
		       int64_t *locked_until)
{
	enum kura_err e;

	if (failed == NULL || locked_until == NULL)
		return KURA_E_INTERNAL;
	*failed = 0;
	*locked_until = 0;
	if (db == NULL)
		return KURA_E_INTERNAL;
	e = db->store->ops->lockout_get(db->conn, user_id, failed, locked_until);
	if (e != KURA_OK) {
		*failed = 0;
		*locked_until = 0;
	}
	return e;
}

enum kura_err
kura_store_lockout_put(struct kura_tenant_db *db, int64_t user_id, int64_t failed,
		       int64_t locked_until)
{
	if (db == NULL || failed < 0)
		return KURA_E_INTERNAL;
	return db->store->ops->lockout_put(db->conn, user_id, failed, locked_until);
}

/*
 * Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF)
 * without control characters other than tab and newline: notices are shown
 * as JSON strings and printed on terminals.
 */
static bool
text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		unsigned c = *p;
		size_t n;
		unsigned cp;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
				return false;
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		p += n + 1;
	}
	return true;
}

enum kura_err
kura_store_notice_create(struct kura_store *s, struct kura_notice *n)
{
	size_t tlen, blen;

	if (s == NULL || n == NULL)
		return KURA_E_INTERNAL;
	n->id = 0;
	tlen = strnlen(n->title, sizeof(n->title));
	blen = strnlen(n->body, sizeof(n->body));
	if ((n->kind != KURA_NOTICE_INCIDENT && n->kind != KURA_NOTICE_MAINTENANCE) || tlen == 0 ||
	    tlen >= sizeof(n->title) || blen == 0 || blen >= sizeof(n->body) ||
	    n->ends_at <= n->starts_at || !text_ok(n->title) || !text_ok(n->body))
		return KURA_E_VALIDATION;
	if (n->tenant_id[0] != '\0' && !tenant_id_ok(n->tenant_id))
		return KURA_E_NOT_FOUND;
	if (n->created_at == 0)
		n->created_at = kura_now_us();
	return s->ops->notice_create(s->be, n);
}

enum kura_err
kura_store_notice_list(struct kura_store *s, const char *tenant_id, int64_t now, unsigned limit,
		       kura_notice_cb cb, void *ctx)
{
	if (s == NULL || cb == NULL)
		return KURA_E_INTERNAL;
	if (tenant_id != NULL && !tenant_id_ok(tenant_id))
		return KURA_E_NOT_FOUND;
	return s->ops->notice_list(s->be, tenant_id, now, limit, cb, ctx);
}

enum kura_err
kura_store_finish(struct kura_tenant_db *db, enum kura_err e)
{
	if (e == KURA_OK)
		return kura_store_commit(db);
	kura_store_rollback(db);
	return e;
}

enum kura_err
kura_store_apikey_create(struct kura_tenant_db *db, struct kura_apikey *k)
{
	size_t nlen;

	if (db == NULL || k == NULL)
		return KURA_E_INTERNAL;
	k->id = 0;
	nlen = strnlen(k->name, sizeof(k->name));
	if (nlen == 0 || nlen >= sizeof(k->name) || k->user_id <= 0)
		return KURA_E_VALIDATION;
	if (k->created_at == 0)
		k->created_at = kura_now_us();
	return db->store->ops->apikey_create(db->conn, k);
}

enum kura_err
kura_store_apikey_auth(struct kura_tenant_db *db, const uint8_t secret_hash[32],
		       struct kura_apikey *k, struct kura_user *u, struct kura_auth_read *x)
{
	if (k != NULL)
		memset(k, 0, sizeof(*k));
	if (u != NULL)
		memset(u, 0, sizeof(*u));
	if (db == NULL || secret_hash == NULL || k == NULL || u == NULL || x == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->apikey_auth(db->conn, secret_hash, k, u, x);
}

enum kura_err
kura_store_apikey_list(struct kura_tenant_db *db, int64_t user_id, kura_apikey_cb cb, void *ctx)
{
	if (db == NULL || cb == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->apikey_list(db->conn, user_id, cb, ctx);
}

enum kura_err
kura_store_apikey_revoke(struct kura_tenant_db *db, int64_t id, int64_t user_id, int64_t now)
{
	if (db == NULL)
		return KURA_E_INTERNAL;
	if (id <= 0)
		return KURA_E_NOT_FOUND;
	return db->store->ops->apikey_revoke(db->conn, id, user_id, now);
}

enum kura_err
kura_store_apikey_touch(struct kura_tenant_db *db, int64_t id, int64_t now, const char *ip)
{
	if (db == NULL || ip == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->apikey_touch(db->conn, id, now, ip);
}

enum kura_err
kura_store_pwhistory_add(struct kura_tenant_db *db, int64_t user_id, const char *hash,
			 int64_t now, unsigned keep)
{
	/* The same bound as a user's own hash, which is what gets moved here. */
	const size_t cap = sizeof(((struct kura_user *)0)->password_hash);
	size_t len;

	if (db == NULL || hash == NULL)
		return KURA_E_INTERNAL;
	len = strnlen(hash, cap);
	if (len == 0 || len >= cap || keep == 0 ||
	    keep > KURA_STORE_PWHISTORY_KEEP)
		return KURA_E_VALIDATION;
	return db->store->ops->pwhistory_add(db->conn, user_id, hash, now, keep);
}

enum kura_err
kura_store_pwhistory_list(struct kura_tenant_db *db, int64_t user_id, unsigned limit,
			  kura_pwhistory_cb cb, void *ctx)
{
	if (db == NULL || cb == NULL)
		return KURA_E_INTERNAL;
	if (limit == 0)
		return KURA_OK;
	if (limit > KURA_STORE_PWHISTORY_KEEP)
		limit = KURA_STORE_PWHISTORY_KEEP;
	return db->store->ops->pwhistory_list(db->conn, user_id, limit, cb, ctx);
}

const struct kura_crm_ops *
kura_store_crm(struct kura_tenant_db *db, void **conn)
{
	*conn = NULL;
	if (db == NULL)
		return NULL;
	*conn = db->conn;
	return db->store->ops->crm;
}

const struct kura_org_ops *
kura_store_org(struct kura_tenant_db *db, void **conn)
{
	*conn = NULL;
	if (db == NULL)
		return NULL;
	*conn = db->conn;
	return db->store->ops->org;
}

const struct kura_mfa_ops *
kura_store_mfa(struct kura_tenant_db *db, void **conn)
{
	*conn = NULL;
	if (db == NULL)
		return NULL;
	*conn = db->conn;
	return db->store->ops->mfa;
}

enum kura_err
kura_store_setting_get(struct kura_tenant_db *db, const char *key, char *out, size_t cap)
{
	if (out == NULL || cap == 0)
		return KURA_E_INTERNAL;
	out[0] = '\0';
	if (db == NULL || key == NULL)
		return KURA_E_INTERNAL;
	return db->store->ops->setting_get(db->conn, key, out, cap);
}

enum kura_err
kura_store_tenant_key_rotate(struct kura_store *s, const char *id, uint32_t version,
			     const uint8_t *wrapped, size_t len, int64_t now)
{
	if (s == NULL || id == NULL || wrapped == NULL || len == 0)
		return KURA_E_INTERNAL;
	return s->ops->tenant_key_rotate(s->be, id, version, wrapped, len, now);
}

enum kura_err
kura_store_tenant_key_retire(struct kura_store *s, const char *id, uint32_t version)
{
	if (s == NULL || id == NULL || version == 0)
		return KURA_E_INTERNAL;
	return s->ops->tenant_key_retire(s->be, id, version);
}

enum kura_err
kura_store_tenant_delete(struct kura_store *s, const char *id)
{
	if (s == NULL || id == NULL)
		return KURA_E_INTERNAL;
	return s->ops->tenant_delete(s->be, id);
}

enum kura_err
kura_store_tenant_keys_all(struct kura_store *s, kura_tenant_key_cb cb, void *ctx)
{
	if (s == NULL || cb == NULL)
		return KURA_E_INTERNAL;
	return s->ops->tenant_keys_all(s->be, cb, ctx);
}

enum kura_err
kura_store_tenant_keys_replace(struct kura_store *s, const struct kura_wrapped_key *keys,
			       size_t n, const struct kura_resealed *seals, size_t nseals)
{
	if (s == NULL || (keys == NULL && n > 0) || (seals == NULL && nseals > 0))
		return KURA_E_INTERNAL;
	return s->ops->tenant_keys_replace(s->be, keys, n, seals, nseals);
}

/* Every text field within its bound (and non-empty where it must be). */
static bool
form_access_valid(const struct kura_form_access *a)
{
	size_t ip = strnlen(a->ip, sizeof(a->ip)), form = strnlen(a->form, sizeof(a->form));
	size_t method = strnlen(a->method, sizeof(a->method));
	size_t outcome = strnlen(a->outcome, sizeof(a->outcome));
	size_t rid = strnlen(a->request_id, sizeof(a->request_id));

	return ip > 0 && ip < sizeof(a->ip) && form > 0 && form < sizeof(a->form) && method > 0 &&
	       method < sizeof(a->method) && outcome > 0 && outcome < sizeof(a->outcome) &&
	       rid > 0 && rid < sizeof(a->request_id) &&
	       strnlen(a->user_agent, sizeof(a->user_agent)) < sizeof(a->user_agent) &&
	       a->status >= 100 && a->status <= 599;
}

enum kura_err
kura_store_form_access_add(struct kura_tenant_db *db, struct kura_form_access *a)
{
	if (db == NULL || a == NULL)
		return KURA_E_INTERNAL;
	if (!form_access_valid(a))
		return KURA_E_VALIDATION;
	return db->store->ops->form_access_add(db->conn, a);
}

enum kura_err
kura_store_form_access_query(struct kura_tenant_db *db, const struct kura_form_access_filter *f,
			     kura_form_access_cb cb, void *ctx)
{
	if (db == NULL || f == NULL || cb == NULL)
		return KURA_E_INTERNAL;
	if (f->limit == 0 || f->limit > 1000)
		return KURA_E_VALIDATION;
	return db->store->ops->form_access_query(db->conn, f, cb, ctx);
}

enum kura_err
kura_store_form_access_purge(struct kura_tenant_db *db, int64_t before_us, unsigned limit,
			     int64_t *deleted)
{
	if (db == NULL || deleted == NULL)
		return KURA_E_INTERNAL;
	*deleted = 0;
	if (limit == 0 || limit > 100000)
		return KURA_E_VALIDATION;
	return db->store->ops->form_access_purge(db->conn, before_us, limit, deleted);
}
