/*
 * ops_mot.c - ministry initial TKs
 * (stub: being written)
 */
#include "ops.h"

int
op_tk_initial(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	(void)c;
	(void)args;
	(void)result;
	*why = "not yet available";
	return TKM_ERR_PERMISSION;
}
