/*
 * The tenant's roles (built-in ones, read-only, and its own: named sets of
 * permissions) and its teams of users. Nobody hands out a permission they
 * do not hold: creating or changing a role, and giving a user a custom
 * role, need every permission in it (super admins hold all).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/store_org.h"

#define MAX_ROLES 50
#define MAX_TEAMS 500

static json_t *
perms_json(const char *list)
{
	json_t *a = json_array();

	for (const char *p = list; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len > 0)
			json_array_append_new(a, json_stringn(p, len));
		p += len;
		if (*p == ',')
			p++;
	}
	return a;
}

static json_t *
role_json(const struct kura_role_row *r)
{
	char created[40], updated[40];

	kura_time_rfc3339(r->created_at, created, sizeof(created));
	kura_time_rfc3339(r->updated_at, updated, sizeof(updated));
	return json_pack("{s:s, s:s, s:s, s:b, s:o, s:I, s:s, s:s}", "name", r->name, "label",
			 r->label, "description", r->description, "builtIn", 0, "permissions",
			 perms_json(r->permissions), "users", (json_int_t)r->users, "createdAt",
			 created, "updatedAt", updated);
}

static json_t *
builtin_json(const char *name, const char *label)
{
	const char *const *perms = kura_role_builtin_perms(name);
	json_t *a = json_array();

	for (const char *const *p = perms; p != NULL && *p != NULL; p++)
		json_array_append_new(a, json_string(*p));
	return json_pack("{s:s, s:s, s:s, s:b, s:o}", "name", name, "label", label, "description",
			 "", "builtIn", 1, "permissions", a);
}

static const struct {
	const char *name, *label;
} builtins[] = {
	{"super_admin", "Super admin"},
	{"admin", "Admin"},
	{"member", "Member"},
	{"read_only", "Read only"},
};

static void
add_role(void *ctx, const struct kura_role_row *r)
{
	json_array_append_new((json_t *)ctx, role_json(r));
}

void
kura_api_roles_list(struct kura_req *r)
{
	void *conn;
	const struct kura_org_ops *ops = kura_store_org(r->principal.db, &conn);
	json_t *results = json_array();
	enum kura_err e;

	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		json_array_append_new(results, builtin_json(builtins[i].name, builtins[i].label));
	e = ops->role_list(conn, add_role, results);
	if (e != KURA_OK) {
		json_decref(results);
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 200, json_pack("{s:o}", "results", results));
}

static const char *
builtin_label(const char *name)
{
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		if (strcmp(builtins[i].name, name) == 0)
			return builtins[i].label;
	}
	return NULL;
}

void
kura_api_roles_get(struct kura_req *r)
{
	const char *name = kura_req_param(r, "name");
	void *conn;
	const struct kura_org_ops *ops = kura_store_org(r->principal.db, &conn);
	struct kura_role_row row;
	enum kura_err e;

	if (builtin_label(name) != NULL) {
		kura_reply_json(r, 200, builtin_json(name, builtin_label(name)));
		return;
	}
	e = ops->role_get(conn, name, &row);
	if (e != KURA_OK) {
		kura_reply_error(r, e, e == KURA_E_NOT_FOUND ? "no such role" : NULL);
		return;
	}
	kura_reply_json(r, 200, role_json(&row));
}

/* [a-z][a-z0-9_]{1,31} */
static bool
role_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 32 || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	}
	return true;
}

/*
 * Reads "permissions" into a comma-separated list: known permissions, no
 * repeats, each held by the caller (details code "not_granted").
 */
static void
read_perms(struct kura_req *r, json_t *details, char *out, size_t n)
{
	json_t *v = json_object_get(r->json, "permissions");
	size_t i, used = 0;
	json_t *p;

	out[0] = '\0';
	if (!json_is_array(v)) {
		kura_api_detail(details, "permissions", "invalid_type",
				"a list of permission names");
		return;
	}
	json_array_foreach(v, i, p) {
		const char *perm = json_string_value(p);

		if (perm == NULL || !kura_permission_known(perm)) {
			kura_api_detail(details, "permissions", "invalid",
					"each must be a permission name (see GET /api/v1/roles)");
			return;
		}
		if (kura_perm_list_has(out, perm)) {
			kura_api_detail(details, "permissions", "duplicate", "a permission is listed twice");
			return;
		}
		if (!kura_user_has_permission(&r->principal.user, perm)) {
			kura_api_detail(details, "permissions", "not_granted",
					"you cannot hand out a permission you do not hold");
			return;
		}
		used += (size_t)snprintf(out + used, n - used, "%s%s", used > 0 ? "," : "", perm);
	}
}

static void
role_audit_reply(struct kura_req *r, const char *action, const char *changed,
		 const struct kura_role_row *row, int status)
{
	struct kura_tenant_db *db = r->principal.db;
	void *conn;
	const struct kura_org_ops *ops = kura_store_org(db, &conn);
	struct kura_audit_entry a;
	struct kura_role_row fresh;
	enum kura_err e;

	e = kura_store_begin(db);
	if (e == KURA_OK) {
		if (strcmp(action, "role.create") == 0)
			e = ops->role_create(conn, row);
		else if (strcmp(action, "role.update") == 0)
			e = ops->role_update(conn, row);
		else
			e = ops->role_delete(conn, row->name);
	}
	if (e == KURA_OK) {
		kura_req_audit_init(r, &a, action, "role", row->name);
		snprintf(a.target_props, sizeof(a.target_props), "%s", changed);
		kura_audit_set_outcome(&a, KURA_OK);
		e = kura_audit_append(db, &a);
	}
	e = kura_store_finish(db, e);
	if (e == KURA_E_EXISTS) {
		kura_reply_error(r, e, "a role of that name exists");
		return;
	}
	if (e == KURA_E_CONFLICT) {
		kura_reply_error(r, e, "users hold this role: give them another role first");
		return;
	}
	if (e != KURA_OK) {
		kura_reply_error(r, e, e == KURA_E_NOT_FOUND ? "no such role" : NULL);
		return;
	}
	if (status == 204) {
		kura_reply_empty(r, 204);
		return;
	}
	if (ops->role_get(conn, row->name, &fresh) != KURA_OK)
		fresh = *row;
	kura_reply_json(r, status, role_json(&fresh));
}

void
kura_api_roles_create(struct kura_req *r)
{
	static const char *const fields[] = {"name", "label", "description", "permissions", NULL};
	json_t *details = json_array();
	void *conn;
	const struct kura_org_ops *ops = kura_store_org(r->principal.db, &conn);
	struct kura_role_row *row;
	const char *name, *label, *desc = "";
	int64_t n = 0;

	if (!kura_api_object_only(r, fields, details))
		return;
	row = calloc(1, sizeof(*row));
	if (row == NULL) {
		json_decref(details);
		kura_reply_error(r, KURA_E_NOMEM, NULL);
		return;
	}
	name = kura_api_str(r->json, "name", KURA_ROLE_MAX, details, NULL);
	label = kura_api_str(r->json, "label", KURA_ROLE_LABEL_MAX, details, NULL);
	if (json_object_get(r->json, "description") != NULL)
		desc = kura_api_str(r->json, "description", KURA_ORG_DESC_MAX, details, NULL);
	if (name != NULL && (!role_name_ok(name) || builtin_label(name) != NULL))
		kura_api_detail(details, "name", "invalid",
				"2 to 32 of a-z, 0-9 and _, starting with a letter, and not a built-in "
				"role's name");
	read_perms(r, details, row->permissions, sizeof(row->permissions));
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "the role was not created", details);
		free(row);
		return;
	}
	json_decref(details);
	if (ops->role_count(conn, &n) != KURA_OK || n >= MAX_ROLES) {
		kura_reply_error(r, KURA_E_CONFLICT, "a tenant has at most 50 roles of its own");
		free(row);
		return;
	}
	snprintf(row->name, sizeof(row->name), "%s", name);
	snprintf(row->label, sizeof(row->label), "%s", label);
	snprintf(row->description, sizeof(row->description), "%s", desc != NULL ? desc : "");
	row->created_at = row->updated_at = kura_now_us();
	role_audit_reply(r, "role.create", "", row, 201);
	free(row);
}

/* Loads {name} as a custom role; answers (409 built-in, 404 unknown) and false otherwise. */
static bool
load_custom(struct kura_req *r, struct kura_role_row *row)
{
	const char *name = kura_req_param(r, "name");
	void *conn;
	const struct kura_org_ops *ops = kura_store_org(r->principal.db, &conn);
	enum kura_err e;

	if (builtin_label(name) != NULL) {
		kura_reply_error(r, KURA_E_CONFLICT, "built-in roles cannot be changed or deleted");
		return false;
	}
	e = ops->role_get(conn, name, row);
	if (e != KURA_OK) {
		kura_reply_error(r, e, e == KURA_E_NOT_FOUND ? "no such role" : NULL);
		return false;
	}
	return true;
}

/* The caller holds every permission of the list (so may change what holds it). */
static bool
holds_all(struct kura_req *r, const char *list)
{
	char buf[KURA_ROLE_PERMS_MAX];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		if (!kura_user_has_permission(&r->principal.user, t))
			return false;
	}
	return true;
}

void
kura_api_roles_update(struct kura_req *r)
{
	static const char *const fields[] = {"label", "description", "permissions", NULL};
	json_t *details = json_array();
	struct kura_role_row *row = calloc(1, sizeof(*row));
	char changed[64] = "";
	const char *v;

	if (row == NULL) {
		json_decref(details);
		kura_reply_error(r, KURA_E_NOMEM, NULL);
		return;
	}
	if (!kura_api_object_only(r, fields, details))
		goto done;
	if (!load_custom(r, row))
		goto out;
	if (!holds_all(r, row->permissions)) {
		kura_req_audit_denied(r, KURA_E_FORBIDDEN);
		kura_reply_error(r, KURA_E_FORBIDDEN,
				 "this role holds permissions you do not: you cannot change it");
		goto out;
	}
	if (json_object_get(r->json, "label") != NULL &&
	    (v = kura_api_str(r->json, "label", KURA_ROLE_LABEL_MAX, details, NULL)) != NULL &&
	    strcmp(v, row->label) != 0) {
		snprintf(row->label, sizeof(row->label), "%s", v);
		strcat(changed, "label,");
	}
	if (json_object_get(r->json, "description") != NULL &&
	    (v = kura_api_str(r->json, "description", KURA_ORG_DESC_MAX, details, NULL)) != NULL &&
	    strcmp(v, row->description) != 0) {
		snprintf(row->description, sizeof(row->description), "%s", v);
		strcat(changed, "description,");
	}
	if (json_object_get(r->json, "permissions") != NULL) {
		char perms[KURA_ROLE_PERMS_MAX];

		read_perms(r, details, perms, sizeof(perms));
		if (json_array_size(details) == 0 && strcmp(perms, row->permissions) != 0) {
			snprintf(row->permissions, sizeof(row->permissions), "%s", perms);
			strcat(changed, "permissions,");
		}
	}
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "the role was not changed", details);
		goto done;
	}
	if (changed[0] == '\0') {
		kura_reply_json(r, 200, role_json(row));
		goto out;
	}
	changed[strlen(changed) - 1] = '\0';
	row->updated_at = kura_now_us();
	role_audit_reply(r, "role.update", changed, row, 200);
out:
	json_decref(details);
done:
	free(row);
}

void
kura_api_roles_delete(struct kura_req *r)
{
	struct kura_role_row *row = calloc(1, sizeof(*row));

	if (row == NULL) {
		kura_reply_error(r, KURA_E_NOMEM, NULL);
		return;
	}
	if (load_custom(r, row)) {
		if (!holds_all(r, row->permissions)) {
			kura_req_audit_denied(r, KURA_E_FORBIDDEN);
			kura_reply_error(r, KURA_E_FORBIDDEN,
					 "this role holds permissions you do not: you cannot delete it");
		} else {
			role_audit_reply(r, "role.delete", "", row, 204);
		}
	}
	free(row);
}

bool
kura_api_role_assignable(struct kura_req *r, const char *role, json_t *details, bool *forbidden)
{
	void *conn;
	const struct kura_org_ops *ops = kura_store_org(r->principal.db, &conn);
	struct kura_role_row *row;
	bool ok = true;

	*forbidden = false;
	/* A built-in role too: a custom role that manages users makes no admins. */
	if (kura_role_valid(role)) {
		for (const char *const *p = kura_role_builtin_perms(role); p != NULL && *p != NULL;
		     p++) {
			if (!kura_user_has_permission(&r->principal.user, *p)) {
				*forbidden = true;
				return false;
			}
		}
		return true;
	}
	row = calloc(1, sizeof(*row));
	if (row == NULL || ops->role_get(conn, role, row) != KURA_OK) {
		if (details != NULL)
			kura_api_detail(details, "role", "invalid",
					"a built-in role (super_admin, admin, member, read_only) or "
					"one of the tenant's roles (GET /api/v1/roles)");
		ok = false;
	} else if (!holds_all(r, row->permissions)) {
		*forbidden = true;
		ok = false;
	}
	free(row);
	return ok;
}

bool
kura_api_may_manage_user(struct kura_req *r, const struct kura_user *target)
{
	bool forbidden = false;

	if (strcmp(r->principal.user.role, "super_admin") == 0)
		return true;
	if (strcmp(target->role, "super_admin") == 0) {
		kura_req_audit_denied(r, KURA_E_FORBIDDEN);
		kura_reply_error(r, KURA_E_FORBIDDEN, "only a super admin can manage super admins");
		return false;
	}
	if (!kura_api_role_assignable(r, target->role, NULL, &forbidden) && forbidden) {
		kura_req_audit_denied(r, KURA_E_FORBIDDEN);
		kura_reply_error(r, KURA_E_FORBIDDEN,
				 "this user's role holds permissions you do not: you cannot manage them");
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------- teams */

struct members_ctx {
	json_t *ids;
};

static void
add_id(void *ctx, int64_t id)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", (long long)id);
	json_array_append_new(((struct members_ctx *)ctx)->ids, json_string(s));
}

static json_t *
team_json(const struct kura_team_row *t, json_t *members)
{
	char id[24], created[40], updated[40];
	json_t *o;

	snprintf(id, sizeof(id), "%lld", (long long)t->id);
	kura_time_rfc3339(t->created_at, created, sizeof(created));
	kura_time_rfc3339(t->updated_at, updated, sizeof(updated));
	o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "id", id, "name", t->name, "description",
		      t->description, "memberCount", (json_int_t)t->members, "createdAt", created,
		      "updatedAt", updated);
	if (members != NULL)
		json_object_set_new(o, "members", members);
	return o;
}

static void
add_team(void *ctx, const struct kura_team_row *t)
{
	json_array_append_new((json_t *)ctx, team_json(t, NULL));
}

void
kura_api_teams_list(struct kura_req *r)
{
	void *conn;
	const struct kura_org_ops *ops = kura_store_org(r->principal.db, &conn);
	json_t *results = json_array();
	enum kura_err e = ops->team_list(conn, add_team, results);

	if (e != KURA_OK) {
		json_decref(results);
		kura_reply_error(r, e, NULL);
		return;
	}
	kura_reply_json(r, 200, json_pack("{s:o}", "results", results));
}

/* The team named by {id}; answers 404 and returns false when there is none. */
static bool
load_team(struct kura_req *r, struct kura_team_row *t)
{
	void *conn;
	const struct kura_org_ops *ops = kura_store_org(r->principal.db, &conn);
	const char *s = kura_req_param(r, "id");
	char *end = NULL;
	long long id = s != NULL ? strtoll(s, &end, 10) : 0;
	enum kura_err e = KURA_E_NOT_FOUND;

	if (s != NULL && end != s && *end == '\0' && id > 0)
		e = ops->team_get(conn, id, t);
	if (e != KURA_OK) {
		kura_reply_error(r, e, e == KURA_E_NOT_FOUND ? "no such team" : NULL);
		return false;
	}
	return true;
}

static void
reply_team(struct kura_req *r, int64_t id, int status)
{
	void *conn;
	const struct kura_org_ops *ops = kura_store_org(r->principal.db, &conn);
	struct kura_team_row *t = calloc(1, sizeof(*t));
	struct members_ctx m = {json_array()};
	enum kura_err e = t != NULL ? ops->team_get(conn, id, t) : KURA_E_NOMEM;

	if (e == KURA_OK)
		e = ops->members(conn, id, add_id, &m);
	if (e != KURA_OK) {
		json_decref(m.ids);
		kura_reply_error(r, e, NULL);
	} else {
		kura_reply_json(r, status, team_json(t, m.ids));
	}
	free(t);
}

void
kura_api_teams_get(struct kura_req *r)
{
	struct kura_team_row t;

	if (load_team(r, &t))
		reply_team(r, t.id, 200);
}

typedef enum kura_err (*team_op_fn)(const struct kura_org_ops *ops, void *conn, void *arg);

/*
 * Commits op with its audit entry (target: the team, team_id or, when 0,
 * the id op left in the kura_team_row that arg starts with); answers the
 * error, or returns true.
 */
static bool
team_commit(struct kura_req *r, const char *action, int64_t team_id, const char *props,
	    team_op_fn op, void *arg)
{
	struct kura_tenant_db *db = r->principal.db;
	void *conn;
	const struct kura_org_ops *ops = kura_store_org(db, &conn);
	struct kura_audit_entry a;
	char tid[24];
	enum kura_err e;

	e = kura_store_begin(db);
	if (e == KURA_OK)
		e = op(ops, conn, arg);
	if (e == KURA_OK) {
		const struct kura_team_row *t = arg;

		snprintf(tid, sizeof(tid), "%lld", (long long)(team_id != 0 ? team_id : t->id));
		kura_req_audit_init(r, &a, action, "team", tid);
		snprintf(a.target_props, sizeof(a.target_props), "%s", props);
		kura_audit_set_outcome(&a, KURA_OK);
		e = kura_audit_append(db, &a);
	}
	e = kura_store_finish(db, e);
	if (e == KURA_E_EXISTS) {
		kura_reply_error(r, e, "a team of that name exists");
		return false;
	}
	if (e != KURA_OK) {
		kura_reply_error(r, e, e == KURA_E_NOT_FOUND ? "no such team or user" : NULL);
		return false;
	}
	return true;
}

static enum kura_err
op_team_create(const struct kura_org_ops *ops, void *conn, void *arg)
{
	return ops->team_create(conn, arg);
}

static enum kura_err
op_team_update(const struct kura_org_ops *ops, void *conn, void *arg)
{
	return ops->team_update(conn, arg);
}

static enum kura_err
op_team_delete(const struct kura_org_ops *ops, void *conn, void *arg)
{
	return ops->team_delete(conn, ((struct kura_team_row *)arg)->id);
}

/* name and description of a team body into t; false (answered) when invalid. */
static bool
read_team(struct kura_req *r, struct kura_team_row *t, bool create, char *changed, size_t n)
{
	static const char *const fields[] = {"name", "description", NULL};
	json_t *details = json_array();
	const char *v;

	if (!kura_api_object_only(r, fields, details))
		return false;
	if (create || json_object_get(r->json, "name") != NULL) {
		v = kura_api_str(r->json, "name", KURA_TEAM_NAME_MAX, details, NULL);
		if (v != NULL && strcmp(v, t->name) != 0) {
			snprintf(t->name, sizeof(t->name), "%s", v);
			snprintf(changed + strlen(changed), n - strlen(changed), "name,");
		}
	}
	if (json_object_get(r->json, "description") != NULL) {
		v = kura_api_str(r->json, "description", KURA_ORG_DESC_MAX, details, NULL);
		if (v != NULL && strcmp(v, t->description) != 0) {
			snprintf(t->description, sizeof(t->description), "%s", v);
			snprintf(changed + strlen(changed), n - strlen(changed), "description,");
		}
	}
	if (json_array_size(details) > 0) {
		kura_reply_error_details(r, KURA_E_VALIDATION, "check the listed fields", details);
		return false;
	}
	json_decref(details);
	if (changed[0] != '\0')
		changed[strlen(changed) - 1] = '\0';
	return true;
}

void
kura_api_teams_create(struct kura_req *r)
{
	void *conn;
	const struct kura_org_ops *ops = kura_store_org(r->principal.db, &conn);
	struct kura_team_row *t = calloc(1, sizeof(*t));
	char changed[64] = "";
	int64_t n = 0;

	if (t == NULL) {
		kura_reply_error(r, KURA_E_NOMEM, NULL);
		return;
	}
	if (!read_team(r, t, true, changed, sizeof(changed)))
		goto out;
	if (ops->team_count(conn, &n) != KURA_OK || n >= MAX_TEAMS) {
		kura_reply_error(r, KURA_E_CONFLICT, "a tenant has at most 500 teams");
		goto out;
	}
	t->created_at = t->updated_at = kura_now_us();
	if (team_commit(r, "team.create", 0, "", op_team_create, t))
		reply_team(r, t->id, 201);
out:
	free(t);
}

void
kura_api_teams_update(struct kura_req *r)
{
	struct kura_team_row *t = calloc(1, sizeof(*t));
	char changed[64] = "";

	if (t == NULL) {
		kura_reply_error(r, KURA_E_NOMEM, NULL);
		return;
	}
	if (!load_team(r, t) || !read_team(r, t, false, changed, sizeof(changed)))
		goto out;
	if (changed[0] == '\0') {
		reply_team(r, t->id, 200);
		goto out;
	}
	t->updated_at = kura_now_us();
	if (team_commit(r, "team.update", 0, changed, op_team_update, t))
		reply_team(r, t->id, 200);
out:
	free(t);
}

void
kura_api_teams_delete(struct kura_req *r)
{
	struct kura_team_row *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		kura_reply_error(r, KURA_E_NOMEM, NULL);
		return;
	}
	if (load_team(r, t) && team_commit(r, "team.delete", 0, "", op_team_delete, t))
		kura_reply_empty(r, 204);
	free(t);
}

struct member_op {
	struct kura_team_row team;   /* first: team_commit reads the id from it */
	int64_t user_id;
	int64_t now;
	bool add;
};

static enum kura_err
op_member(const struct kura_org_ops *ops, void *conn, void *arg)
{
	struct member_op *m = arg;

	return m->add ? ops->member_add(conn, m->team.id, m->user_id, m->now)
		      : ops->member_remove(conn, m->team.id, m->user_id);
}

static void
member_change(struct kura_req *r, bool add)
{
	struct member_op *m = calloc(1, sizeof(*m));
	const char *s = kura_req_param(r, "userId");
	char *end = NULL;
	char props[40];

	if (m == NULL) {
		kura_reply_error(r, KURA_E_NOMEM, NULL);
		return;
	}
	if (!load_team(r, &m->team))
		goto out;
	m->user_id = s != NULL ? strtoll(s, &end, 10) : 0;
	if (s == NULL || end == s || *end != '\0' || m->user_id <= 0) {
		kura_reply_error(r, KURA_E_NOT_FOUND, "no such user");
		goto out;
	}
	m->add = add;
	m->now = kura_now_us();
	snprintf(props, sizeof(props), "user:%lld", (long long)m->user_id);
	if (team_commit(r, add ? "team.member_add" : "team.member_remove", m->team.id, props,
			op_member, m))
		reply_team(r, m->team.id, 200);
out:
	free(m);
}

void
kura_api_team_members_put(struct kura_req *r)
{
	member_change(r, true);
}

void
kura_api_team_members_delete(struct kura_req *r)
{
	member_change(r, false);
}
