/*
 * ops.h - management operations, one family per file (ops_<family>.c).
 * Their table rows (name, roles, flags) are in mgmt_ops.c; the permission
 * matrix they implement is docs/permissions.md.
 */
#ifndef HSM_OPS_H
#define HSM_OPS_H

#include "mgmt.h"

/* mgmt_ops.c: status (public) */
hsm_op_fn op_status;
/* ops_auth.c: enrolment, login, passwords */
hsm_op_fn op_enrol, op_login_challenge, op_login, op_logout, op_password_set;
/* ops_keys.c: key libraries, authorised state, whitelists, time */
hsm_op_fn op_keys_list, op_keys_delete, op_auth_open, op_auth_close;
hsm_op_fn op_whitelist_get, op_whitelist_set, op_time_get, op_time_set;
/* At start, after st->admin is open and before the workers: apply what
 * whitelist.set and time.set kept in the settings. */
int hsm_settings_apply(struct hsm_state *st) TKM_MUST_CHECK;
/* ops_audit.c */
hsm_op_fn op_audit_show, op_audit_verify, op_audit_export;
/* ops_dk.c: device key ceremony, seal, transport key */
hsm_op_fn op_dk_component, op_dk_combine, op_unseal, op_tk_component,
    op_tk_combine;

/* For tests and docs: the table itself. */
const struct hsm_op *hsm_op_at(size_t i); /* NULL past the end */

#endif
