/*
 * ops_backup.c - library backup and restore
 * (stub: being written)
 */
#include "ops.h"

int
op_backup_create(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	(void)c;
	(void)args;
	(void)result;
	*why = "not yet available";
	return TKM_ERR_PERMISSION;
}

int
op_backup_restore(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	(void)c;
	(void)args;
	(void)result;
	*why = "not yet available";
	return TKM_ERR_PERMISSION;
}
