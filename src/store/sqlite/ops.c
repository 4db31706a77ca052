/*
 * The SQLite back end's vtable: what kura_store_open() is given to use
 * SQLite (one system.db plus one database per tenant under data_dir).
 */
#include "kura/store_mfa.h"
#include "kura/store_org.h"
#include "sqlite_int.h"

const struct kura_store_ops kura_store_sqlite_ops = {
	.name = "sqlite",
	.open = kura_sqlite_open,
	.close = kura_sqlite_close,
	.ping = kura_sqlite_ping,

	.tenant_create = kura_sqlite_tenant_create,
	.tenant_get = kura_sqlite_tenant_get,
	.tenant_list = kura_sqlite_tenant_list,
	.tenant_set_status = kura_sqlite_tenant_set_status,
	.tenant_key_get = kura_sqlite_tenant_key_get,

	.tenant_acquire = kura_sqlite_tenant_acquire,
	.tenant_release = kura_sqlite_tenant_release,
	.begin = kura_sqlite_op_begin,
	.begin_nowait = kura_sqlite_op_begin_nowait,
	.commit = kura_sqlite_op_commit,
	.rollback = kura_sqlite_op_rollback,

	.user_create = kura_sqlite_user_create,
	.user_get = kura_sqlite_user_get,
	.user_get_by_email = kura_sqlite_user_get_by_email,
	.user_list = kura_sqlite_user_list,
	.user_set_password = kura_sqlite_user_set_password,

	.session_create = kura_sqlite_session_create,
	.session_get = kura_sqlite_session_get,
	.session_auth = kura_sqlite_session_auth,
	.session_touch = kura_sqlite_session_touch,
	.session_delete = kura_sqlite_session_delete,
	.session_delete_user = kura_sqlite_session_delete_user,
	.session_purge_expired = kura_sqlite_session_purge_expired,
	.user_update = kura_sqlite_user_update,
	.user_delete = kura_sqlite_user_delete,
	.user_count_active_role = kura_sqlite_user_count_active_role,
	.session_list_user = kura_sqlite_session_list_user,
	.settings_list = kura_sqlite_settings_list,
	.setting_put = kura_sqlite_setting_put,
	.lockout_get = kura_sqlite_lockout_get,
	.lockout_put = kura_sqlite_lockout_put,

	.audit_head = kura_sqlite_audit_head,
	.audit_insert = kura_sqlite_audit_insert,
	.audit_scan = kura_sqlite_audit_scan,
	.audit_query = kura_sqlite_audit_query,
	.audit_spool = kura_sqlite_audit_spool,
	.audit_spooled = kura_sqlite_audit_spooled,
	.audit_unspool = kura_sqlite_audit_unspool,
	.audit_spool_max = kura_sqlite_audit_spool_max,
	.seal_put = kura_sqlite_seal_put,
	.seal_list = kura_sqlite_seal_list,
	.in_transaction = kura_sqlite_in_transaction,

	.notice_create = kura_sqlite_notice_create,
	.notice_list = kura_sqlite_notice_list,

	.apikey_create = kura_sqlite_apikey_create,
	.apikey_auth = kura_sqlite_apikey_auth,
	.apikey_list = kura_sqlite_apikey_list,
	.apikey_revoke = kura_sqlite_apikey_revoke,
	.apikey_touch = kura_sqlite_apikey_touch,

	.pwhistory_add = kura_sqlite_pwhistory_add,
	.pwhistory_list = kura_sqlite_pwhistory_list,
	.form_access_add = kura_sqlite_form_access_add,
	.form_access_query = kura_sqlite_form_access_query,
	.form_access_purge = kura_sqlite_form_access_purge,

	.crm = &kura_store_sqlite_crm_ops,
	.mfa = &kura_store_sqlite_mfa_ops,
	.org = &kura_store_sqlite_org_ops,

	.setting_get = kura_sqlite_setting_get,
	.tenant_key_rotate = kura_sqlite_tenant_key_rotate,
	.tenant_delete = kura_sqlite_tenant_delete,
	.tenant_keys_all = kura_sqlite_tenant_keys_all,
	.tenant_key_retire = kura_sqlite_tenant_key_retire,
	.tenant_keys_replace = kura_sqlite_tenant_keys_replace,
};
