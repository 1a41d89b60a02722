/* cmd_asym.c - not yet implemented. */
#include "cmd.h"

int
cmd_ei(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}

int
cmd_ej(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}

int
cmd_eh(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}

int
cmd_ek(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}

int
cmd_ep(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}

int
cmd_er(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}

int
cmd_ew(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}

int
cmd_ey(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}

int
cmd_gm(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}
