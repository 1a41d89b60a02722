/*
 * cmd_table.c - one row per host command (protocol.md §4-§5). The flags
 * say what the dispatcher checks before the handler runs.
 */
#include <string.h>

#include "cmd.h"

#define DK   HSM_F_DK
#define AUTH (HSM_F_DK | HSM_F_AUTH)
#define LIC  HSM_F_LICENSED
#define RAW  HSM_F_RAW

static const struct hsm_cmd cmd_table[] = {
    /* §4: the ministry's command set (city whitelist, appendix 3) */
    {"NC", cmd_nc, 0},
    {"TE", cmd_te, 0},
    {"EI", cmd_ei, DK},
    {"EJ", cmd_ej, DK | RAW},
    {"EH", cmd_eh, DK | LIC | RAW},
    {"EP", cmd_ep, DK | RAW},
    {"ER", cmd_er, DK | RAW},
    {"GM", cmd_gm, RAW},
    {"UB", cmd_ub, DK | LIC},
    {"KW", cmd_kw, DK | RAW},
    {"G1", cmd_g1, DK},
    {"U1", cmd_u1, DK | LIC},
    {"U3", cmd_u3, DK | LIC},
    /* §5: key management for the KMS (authorised state) */
    {"A0", cmd_a0, AUTH},
    {"A6", cmd_a6, AUTH},
    {"A8", cmd_a8, AUTH},
    {"BU", cmd_bu, DK},
    {"EK", cmd_ek, AUTH | RAW},
    {"EW", cmd_ew, DK | RAW},
    {"EY", cmd_ey, DK | RAW},
    {"UY", cmd_uy, DK},
    {"NE", cmd_ne, AUTH},
};

const struct hsm_cmd *
hsm_cmd_find(const char *code)
{
	size_t i;

	for (i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++)
		if (memcmp(cmd_table[i].code, code, 2) == 0)
			return &cmd_table[i];
	return NULL;
}
