/*
 * The API route table: every endpoint with its method, authentication,
 * required permission and flags. Data, not code: the HTTP layer walks it,
 * the OpenAPI test compares it with docs/openapi.json, and the tests that
 * check every route for authentication read it too.
 */
#include "api_int.h"

#define JSON KURA_ROUTE_JSON_BODY
#define PWOK KURA_ROUTE_PWCHANGE_OK
#define SIGNIN KURA_ROUTE_SIGNIN

const struct kura_route kura_api_routes[] = {
	{KURA_GET, "/healthz", kura_api_healthz, KURA_AUTH_NONE, NULL, 0, 0},
	{KURA_GET, "/readyz", kura_api_readyz, KURA_AUTH_NONE, NULL, 0, 0},
	{KURA_GET, "/api/v1/openapi.json", kura_api_openapi, KURA_AUTH_NONE, NULL, 0, 0},
	/* The operator's scraper, with the bearer token of metrics_token_file. */
	{KURA_GET, "/metrics", kura_api_metrics, KURA_AUTH_METRICS, "metrics.read", 0, 0},
	{KURA_POST, "/api/v1/auth/login", kura_api_login, KURA_AUTH_NONE, NULL, JSON | SIGNIN, 16384},
	{KURA_POST, "/api/v1/auth/logout", kura_api_logout, KURA_AUTH_SESSION, "self", PWOK, 0},
	{KURA_POST, "/api/v1/auth/password", kura_api_change_password, KURA_AUTH_SESSION, "self",
	 JSON | PWOK, 16384},
	{KURA_GET, "/api/v1/me", kura_api_me, KURA_AUTH_SESSION, "self", PWOK, 0},
	{KURA_GET, "/api/v1/users", kura_api_users_list, KURA_AUTH_SESSION, "users.read", 0, 0},
	{KURA_POST, "/api/v1/users", kura_api_users_create, KURA_AUTH_SESSION, "users.manage", JSON,
	 16384},
	{KURA_GET, "/api/v1/users/{id}", kura_api_users_get, KURA_AUTH_SESSION, "users.read", 0, 0},
	{KURA_PATCH, "/api/v1/users/{id}", kura_api_users_update, KURA_AUTH_SESSION, "users.manage",
	 JSON, 16384},
	{KURA_DELETE, "/api/v1/users/{id}", kura_api_users_delete, KURA_AUTH_SESSION, "users.manage", 0,
	 0},
	{KURA_GET, "/api/v1/users/{id}/sessions", kura_api_user_sessions_list, KURA_AUTH_SESSION,
	 "users.manage", 0, 0},
	{KURA_DELETE, "/api/v1/users/{id}/sessions", kura_api_user_sessions_delete, KURA_AUTH_SESSION,
	 "users.manage", 0, 0},
	{KURA_POST, "/api/v1/users/{id}/unlock", kura_api_users_unlock, KURA_AUTH_SESSION,
	 "users.manage", 0, 0},
	{KURA_GET, "/api/v1/settings/security", kura_api_settings_get, KURA_AUTH_SESSION,
	 "settings.security", 0, 0},
	{KURA_PATCH, "/api/v1/settings/security", kura_api_settings_patch, KURA_AUTH_SESSION,
	 "settings.security", JSON, 16384},
	{KURA_GET, "/api/v1/security/health", kura_api_security_health, KURA_AUTH_SESSION,
	 "settings.security", 0, 0},
	{KURA_GET, "/api/v1/sessions", kura_api_sessions_list, KURA_AUTH_SESSION, "self", PWOK, 0},
	{KURA_DELETE, "/api/v1/sessions/{id}", kura_api_sessions_delete, KURA_AUTH_SESSION, "self",
	 PWOK, 0},
	{KURA_GET, "/api/v1/audit", kura_api_audit_list, KURA_AUTH_SESSION, "audit.read", 0, 0},
	{KURA_GET, "/api/v1/audit/export", kura_api_audit_export, KURA_AUTH_SESSION, "audit.read", 0,
	 0},
	{KURA_GET, "/api/v1/notices", kura_api_notices_list, KURA_AUTH_SESSION, "self", PWOK, 0},
	{KURA_POST, "/api/v1/api-keys", kura_api_apikeys_create, KURA_AUTH_SESSION, "apikeys.manage",
	 JSON, 16384},
	{KURA_GET, "/api/v1/api-keys", kura_api_apikeys_list, KURA_AUTH_SESSION, "apikeys.manage", 0,
	 0},
	{KURA_DELETE, "/api/v1/api-keys/{id}", kura_api_apikeys_delete, KURA_AUTH_SESSION,
	 "apikeys.manage", 0, 0},
};

const size_t kura_api_routes_count = sizeof(kura_api_routes) / sizeof(kura_api_routes[0]);
