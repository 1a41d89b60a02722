/* cmd_keys.c - not yet implemented. */
#include "cmd.h"

int
cmd_a0(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}

int
cmd_a6(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}

int
cmd_a8(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}

int
cmd_ne(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}
