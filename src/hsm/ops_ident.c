/*
 * ops_ident.c - DK export/restore, maintenance key pair, identity
 * (stub: being written)
 */
#include "ops.h"

int
op_dk_export(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	(void)c;
	(void)args;
	(void)result;
	*why = "not yet available";
	return TKM_ERR_PERMISSION;
}

int
op_dk_restore(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	(void)c;
	(void)args;
	(void)result;
	*why = "not yet available";
	return TKM_ERR_PERMISSION;
}

int
op_mkey_generate(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	(void)c;
	(void)args;
	(void)result;
	*why = "not yet available";
	return TKM_ERR_PERMISSION;
}

int
op_mkey_import(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	(void)c;
	(void)args;
	(void)result;
	*why = "not yet available";
	return TKM_ERR_PERMISSION;
}

int
op_mkey_show(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	(void)c;
	(void)args;
	(void)result;
	*why = "not yet available";
	return TKM_ERR_PERMISSION;
}

void
hsm_ident_status(struct hsm_op_ctx *c, json_t *result)
{
	(void)c;
	(void)result;
}
