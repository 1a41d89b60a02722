/*
 * mgmt_ops.c - the table of management operations (DESIGN §5) and the
 * public `status` operation.
 *
 * One row per operation: the roles it needs and its flags. hsm_op_admit()
 * (mgmt.c) checks them before any handler runs, so a handler only adds
 * what a row cannot say (enrol during initialisation, a role resetting
 * another's password, whitelist kind "commands" for C and "ip" for B);
 * docs/management.md lists the same matrix.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "dk.h"
#include "ops.h"
#include "tkm/buf.h"

#define ANY_ROLE HSM_ROLES_ALL

static const struct hsm_op ops[] = {
    {"status", op_status, 0, HSM_OP_PUBLIC},
    /* Initialisation enrols without login; op_enrol decides. */
    {"enrol", op_enrol, 0, HSM_OP_PUBLIC},
    {"login.challenge", op_login_challenge, 0, HSM_OP_PUBLIC},
    {"login", op_login, 0, HSM_OP_PUBLIC},
    {"logout", op_logout, ANY_ROLE, HSM_OP_ANY},
    /* Own password: any role; another role's: op_password_set wants
     * A1+A2+A3. */
    {"password.set", op_password_set, ANY_ROLE, HSM_OP_ANY},
    {"keys.list", op_keys_list, HSM_ROLE_C, HSM_OP_DK},
    {"keys.delete", op_keys_delete, HSM_ROLE_C, HSM_OP_DK},
    {"auth.open", op_auth_open, HSM_ROLE_C, 0},
    {"auth.close", op_auth_close, HSM_ROLE_C, 0},
    {"whitelist.get", op_whitelist_get, HSM_ROLE_B | HSM_ROLE_C, HSM_OP_ANY},
    /* kind "commands": C, kind "ip": B; op_whitelist_set decides. */
    {"whitelist.set", op_whitelist_set, HSM_ROLE_B | HSM_ROLE_C, HSM_OP_ANY},
    {"time.get", op_time_get, HSM_ROLE_B | HSM_ROLE_D, HSM_OP_ANY},
    {"time.set", op_time_set, HSM_ROLE_B, 0},
    {"audit.show", op_audit_show, HSM_ROLE_D, 0},
    {"audit.verify", op_audit_verify, HSM_ROLE_D, 0},
    {"audit.export", op_audit_export, HSM_ROLE_D, 0},
    /* Each A role enters its own component (op_dk_component: the role
     * of the component is the caller's). */
    {"dk.component", op_dk_component, HSM_ROLES_A, HSM_OP_ANY},
    {"dk.combine", op_dk_combine, HSM_ROLES_A, 0},
    {"unseal", op_unseal, HSM_ROLES_A, 0},
    {"tk.component", op_tk_component, HSM_ROLE_C, HSM_OP_DK},
    {"tk.combine", op_tk_combine, HSM_ROLE_C, HSM_OP_DK},
    /* The ministry's initial TKs (11...11 at K000 and K100). */
    {"tk.initial", op_tk_initial, HSM_ROLE_C, HSM_OP_DK},
    /* Backups (spec 加密机备份: C) and restore (加密机恢复: DK by A1-A3,
     * libraries by C). */
    {"dk.export", op_dk_export, HSM_ROLE_C, HSM_OP_DK},
    {"dk.restore", op_dk_restore, HSM_ROLES_A, 0},
    {"backup.create", op_backup_create, HSM_ROLE_C, HSM_OP_DK},
    {"backup.restore", op_backup_restore, HSM_ROLE_C, HSM_OP_DK},
    /* The maintenance key pair: generated in the root HSM, its public
     * key imported elsewhere. */
    {"mkey.generate", op_mkey_generate, HSM_ROLES_A, HSM_OP_DK},
    {"mkey.import", op_mkey_import, HSM_ROLES_A, HSM_OP_DK},
    {"mkey.show", op_mkey_show, ANY_ROLE, HSM_OP_ANY | HSM_OP_DK},
    {"zeroise", op_zeroise, HSM_ROLES_A, 0},
    {"net.get", op_net_get, HSM_ROLE_B, 0},
    {"net.set", op_net_set, HSM_ROLE_B, 0},
    {"audit.checkpoint", op_audit_checkpoint, HSM_ROLE_D, HSM_OP_DK},
    /* Maintenance licences: C makes the request and applies the
     * update (spec: the security admin logs in for both), B or C
     * confirm (step 5, the system admin). */
    {"maint.request", op_maint_request, HSM_ROLE_C, HSM_OP_DK},
    {"maint.apply", op_maint_apply, HSM_ROLE_C, HSM_OP_DK},
    {"maint.show", op_maint_show, HSM_ROLE_B | HSM_ROLE_C,
	HSM_OP_ANY | HSM_OP_DK},
};

#define NOPS (sizeof(ops) / sizeof(ops[0]))

const struct hsm_op *
hsm_op_find(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < NOPS; i++)
		if (strcmp(ops[i].name, name) == 0)
			return &ops[i];
	return NULL;
}

const struct hsm_op *
hsm_op_at(size_t i)
{
	return i < NOPS ? &ops[i] : NULL;
}

/*
 * status: public. What a console shows before anyone logs in: sealed or
 * not (and the DK's KCV, which NC tells anyone anyway), authorised state,
 * which roles have cards enrolled, the roles of the caller's session.
 */
int
op_status(struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_dk *dk = atomic_load(&c->st->dk);
	unsigned enrolled = 0;
	uint8_t kcv[8];
	char hex[2 * sizeof(kcv) + 1];

	(void)args;
	(void)why;
	if (c->admin != NULL)
		enrolled = hsm_admin_enrolled(c->admin);
	json_object_set_new(result, "firmware", json_string(HSM_FIRMWARE));
	json_object_set_new(result, "sealed", json_boolean(dk == NULL));
	if (dk != NULL) {
		hsm_dk_kcv(dk, kcv);
		tkm_hex_encode(kcv, sizeof(kcv), hex);
		json_object_set_new(result, "dk_kcv", json_string(hex));
	}
	json_object_set_new(
	    result, "authorised", json_boolean(hsm_authorised(c->st)));
	json_object_set_new(result, "enrolled", hsm_role_array(enrolled));
	json_object_set_new(result, "initialised",
	    json_boolean((enrolled & HSM_ROLES_A) == HSM_ROLES_A));
	json_object_set_new(
	    result, "roles", hsm_role_array(c->s != NULL ? c->s->roles : 0));
	hsm_ident_status(c, result);
	json_object_set_new(
	    result, "time", json_integer((json_int_t)time(NULL)));
	return TKM_OK;
}
