/*
 * ops_maint.c - maintenance licences (stub: being written).
 */
#include "ops.h"

static int
stub(json_t *args, json_t *result, const char **why)
{
	(void)args;
	(void)result;
	*why = "not yet available";
	return TKM_ERR_PERMISSION;
}

int
op_maint_request(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	(void)c;
	return stub(args, result, why);
}

int
op_maint_apply(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	(void)c;
	return stub(args, result, why);
}

int
op_maint_show(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	(void)c;
	return stub(args, result, why);
}
