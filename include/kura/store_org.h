/*
 * The store's part of a tenant's organisation (tenant migration 8): its own
 * roles (named permission sets) and its teams of users. Reached with
 * kura_store_org(); writes join the caller's transaction. Validation of
 * names and permissions is the caller's (api/roles.c, auth/rbac.c).
 */
#ifndef KURA_STORE_ORG_H
#define KURA_STORE_ORG_H

#include <stdbool.h>
#include <stdint.h>

#include "kura/err.h"
#include "kura/store.h"

#define KURA_ROLE_LABEL_MAX 512
#define KURA_ORG_DESC_MAX 2000
#define KURA_TEAM_NAME_MAX 512

struct kura_role_row {
	char name[KURA_ROLE_MAX + 1];
	char label[KURA_ROLE_LABEL_MAX + 1];
	char description[KURA_ORG_DESC_MAX + 1];
	char permissions[KURA_ROLE_PERMS_MAX];   /* comma-separated */
	int64_t created_at;
	int64_t updated_at;
	int64_t users;                           /* users holding it (lists and gets) */
};

struct kura_team_row {
	int64_t id;
	char name[KURA_TEAM_NAME_MAX + 1];
	char description[KURA_ORG_DESC_MAX + 1];
	int64_t created_at;
	int64_t updated_at;
	int64_t members;
};

typedef void (*kura_role_cb)(void *ctx, const struct kura_role_row *r);
typedef void (*kura_team_cb)(void *ctx, const struct kura_team_row *t);
typedef void (*kura_id_cb)(void *ctx, int64_t id);

struct kura_org_ops {
	enum kura_err (*role_list)(void *conn, kura_role_cb cb, void *ctx);
	/* KURA_E_NOT_FOUND when the tenant has no such role. */
	enum kura_err (*role_get)(void *conn, const char *name, struct kura_role_row *out);
	/* KURA_E_EXISTS when the name is taken. */
	enum kura_err (*role_create)(void *conn, const struct kura_role_row *r);
	enum kura_err (*role_update)(void *conn, const struct kura_role_row *r);
	/* KURA_E_CONFLICT while a user holds it. */
	enum kura_err (*role_delete)(void *conn, const char *name);
	enum kura_err (*role_count)(void *conn, int64_t *n);

	enum kura_err (*team_list)(void *conn, kura_team_cb cb, void *ctx);
	enum kura_err (*team_get)(void *conn, int64_t id, struct kura_team_row *out);
	/* Sets t->id; KURA_E_EXISTS when the name (case-insensitively) is taken. */
	enum kura_err (*team_create)(void *conn, struct kura_team_row *t);
	enum kura_err (*team_update)(void *conn, const struct kura_team_row *t);
	enum kura_err (*team_delete)(void *conn, int64_t id);
	enum kura_err (*team_count)(void *conn, int64_t *n);
	/* KURA_E_NOT_FOUND when the team or the user does not exist. */
	enum kura_err (*member_add)(void *conn, int64_t team_id, int64_t user_id, int64_t now);
	/* KURA_E_NOT_FOUND when the user was not a member. */
	enum kura_err (*member_remove)(void *conn, int64_t team_id, int64_t user_id);
	enum kura_err (*members)(void *conn, int64_t team_id, kura_id_cb cb, void *ctx);
	/* The teams user_id belongs to, by id. */
	enum kura_err (*user_teams)(void *conn, int64_t user_id, kura_id_cb cb, void *ctx);
};

extern const struct kura_org_ops kura_store_sqlite_org_ops;

/* db's back end's organisation functions and the connection to pass them. */
const struct kura_org_ops *kura_store_org(struct kura_tenant_db *db, void **conn);

#endif
