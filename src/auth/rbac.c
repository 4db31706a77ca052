/*
 * Built-in roles and the permissions each grants, fixed here so that no
 * database edit can widen them; and the permissions of a tenant's own
 * roles, which the store reads with the user on every signed-in request
 * (kura_user.role_perms) and which may only name permissions listed here.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "kura/auth.h"

struct role {
	const char *name;
	const char *const *perms; /* NULL-terminated; "*" = every permission */
};

static const char *const super_admin_perms[] = {"*", NULL};
static const char *const admin_perms[] = {
	"records.read", "records.write", "records.delete", "records.export", "properties.manage",
	"users.read", "users.manage", "audit.read", "forms.manage", "mail.send", "apikeys.manage",
	NULL,
};
static const char *const member_perms[] = {"records.read", "records.write", "mail.send", NULL};
static const char *const read_only_perms[] = {"records.read", NULL};

static const struct role roles[] = {
	{"super_admin", super_admin_perms},
	{"admin", admin_perms},
	{"member", member_perms},
	{"read_only", read_only_perms},
};

static const struct role *find_role(const char *name);

/* Every permission there is: what a custom role or an API key may hold. */
static const char *const all_perms[] = {
	"records.read", "records.write", "records.delete", "records.export", "properties.manage",
	"users.read", "users.manage", "audit.read", "forms.manage", "mail.send", "apikeys.manage",
	"settings.security",
};

bool
kura_permission_known(const char *perm)
{
	for (size_t i = 0; perm != NULL && i < sizeof(all_perms) / sizeof(all_perms[0]); i++) {
		if (strcmp(all_perms[i], perm) == 0)
			return true;
	}
	return false;
}

const char *const *
kura_permissions_all(size_t *n)
{
	*n = sizeof(all_perms) / sizeof(all_perms[0]);
	return all_perms;
}

const char *const *
kura_role_builtin_perms(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (strcmp(roles[i].name, name) == 0)
			return roles[i].perms;
	}
	return NULL;
}

bool
kura_perm_list_has(const char *list, const char *perm)
{
	size_t n = strlen(perm);

	for (const char *p = list; p != NULL && *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len == n && strncmp(p, perm, n) == 0)
			return true;
		p = end != NULL ? end + 1 : NULL;
	}
	return false;
}

bool
kura_user_has_permission(const struct kura_user *u, const char *permission)
{
	if (u == NULL || permission == NULL)
		return false;
	if (find_role(u->role) != NULL)
		return kura_role_has_permission(u->role, permission);
	/* A custom role: only what its row (read with the user) lists, and "self". */
	if (!u->custom_role)
		return false;
	if (strcmp(permission, "self") == 0)
		return true;
	return kura_permission_known(permission) && kura_perm_list_has(u->role_perms, permission);
}

static const struct role *
find_role(const char *name)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (strcmp(roles[i].name, name) == 0)
			return &roles[i];
	}
	return NULL;
}

bool
kura_role_valid(const char *role)
{
	return role != NULL && find_role(role) != NULL;
}

bool
kura_role_has_permission(const char *role, const char *permission)
{
	const struct role *r;

	if (role == NULL || permission == NULL)
		return false;
	/* An unknown role (a damaged row, a removed custom role) grants nothing, not even "self". */
	r = find_role(role);
	if (r == NULL)
		return false;
	if (strcmp(permission, "self") == 0)
		return true;
	for (const char *const *p = r->perms; *p != NULL; p++) {
		if (strcmp(*p, "*") == 0 || strcmp(*p, permission) == 0)
			return true;
	}
	return false;
}
