/*
 * ops.h - management operations, one family per file (ops_<family>.c).
 * Their table rows (name, roles, flags) are in mgmt_ops.c; the permission
 * matrix they implement is docs/permissions.md.
 */
#ifndef HSM_OPS_H
#define HSM_OPS_H

#include "keystore.h"
#include "mgmt.h"

/* mgmt_ops.c: status (public) */
hsm_op_fn op_status;
/* ops_auth.c: enrolment, login, passwords */
hsm_op_fn op_enrol, op_login_challenge, op_login, op_logout, op_password_set;
/* ops_keys.c: key libraries, authorised state, whitelists, time */
hsm_op_fn op_keys_list, op_keys_delete, op_auth_open, op_auth_close;
hsm_op_fn op_whitelist_get, op_whitelist_set, op_time_get, op_time_set;
/* A key's attributes as keys.list shows them (new reference). */
json_t *hsm_key_json(const struct hsm_key_info *k);
/* At start, after st->admin is open and before the workers: apply what
 * whitelist.set and time.set kept in the settings. */
int hsm_settings_apply(struct hsm_state *st) TKM_MUST_CHECK;
/* ops_audit.c */
hsm_op_fn op_audit_show, op_audit_verify, op_audit_export;
/* ops_dk.c: device key ceremony, seal, transport key */
hsm_op_fn op_dk_component, op_dk_combine, op_unseal, op_tk_component,
    op_tk_combine;

/* Zeroise: drop DK and TK components entered and not combined. */
void hsm_dk_pending_drop(void);
/* ops_backup.c: library backup and restore (C) */
hsm_op_fn op_backup_create, op_backup_restore;
/* ops_ident.c: DK backup export (C) and restore (A1+A2+A3), the
 * maintenance key pair (A1+A2+A3), identity */
hsm_op_fn op_dk_export, op_dk_restore, op_mkey_generate, op_mkey_import,
    op_mkey_show;
/* status adds the serial and the identity key's fingerprint (public). */
void hsm_ident_status(struct hsm_op_ctx *c, json_t *result);
/* ops_zeroise.c (A1+A2+A3) */
hsm_op_fn op_zeroise;
/* ops_mot.c: the ministry's initial transport keys (C) */
hsm_op_fn op_tk_initial;
/* ops_net.c: business listeners (B) */
hsm_op_fn op_net_get, op_net_set;
/* At start, before the listeners bind: addresses net.set kept. */
int hsm_net_apply(struct hsm_admin *a, struct hsm_config *cfg) TKM_MUST_CHECK;
/* ops_audit.c: signed checkpoints (D) */
hsm_op_fn op_audit_checkpoint;

/* ops_maint.c: maintenance licences (DESIGN §7, docs/maintenance.md) */
hsm_op_fn op_maint_request, op_maint_apply, op_maint_show;

/* For tests and docs: the table itself. */
const struct hsm_op *hsm_op_at(size_t i); /* NULL past the end */

#endif
