/*
 * Built-in roles and the permissions each grants. Custom roles and teams
 * come later and will extend this table through the store; the built-in
 * ones are fixed here so that no database edit can widen them.
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
