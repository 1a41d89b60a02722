/* cmd_mac.c - not yet implemented. */
#include "cmd.h"

int
cmd_ub(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	(void)c;
	(void)in;
	(void)out;
	return TKM_ERR_PERMISSION;
}
