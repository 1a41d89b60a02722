/*
 * apdu.c - short APDU parser and the table-driven dispatcher of the
 * emulators (apdu.h).
 */
#include <string.h>

#include "apdu.h"
#include "tkm/mem.h"

int
sim_apdu_parse(const uint8_t *cmd, size_t len, struct sim_apdu *a)
{
	memset(a, 0, sizeof(*a));
	if (cmd == NULL || len < 4 || len > SIM_APDU_MAX_CMD)
		return TKM_ERR_INPUT;
	a->cla = cmd[0];
	a->ins = cmd[1];
	a->p1 = cmd[2];
	a->p2 = cmd[3];
	if (len == 4) /* case 1 */
		return TKM_OK;
	if (len == 5) { /* case 2 */
		a->has_le = 1;
		a->le = cmd[4] == 0 ? 256 : cmd[4];
		return TKM_OK;
	}
	/* cases 3 and 4: Lc 01..FF, then the data, then maybe Le */
	a->lc = cmd[4];
	if (a->lc == 0 || (len != 5 + a->lc && len != 6 + a->lc)) {
		memset(a, 0, sizeof(*a));
		return TKM_ERR_INPUT;
	}
	a->data = cmd + 5;
	if (len == 6 + a->lc) {
		a->has_le = 1;
		a->le = cmd[len - 1] == 0 ? 256 : cmd[len - 1];
	}
	return TKM_OK;
}

unsigned
sim_sw(const uint8_t *resp, size_t rlen)
{
	if (resp == NULL || rlen < 2)
		return 0;
	return (unsigned)resp[rlen - 2] << 8 | resp[rlen - 1];
}

size_t
sim_le(const struct sim_apdu *a, size_t avail, unsigned *sw)
{
	*sw = SIM_SW_OK;
	if (!a->has_le || a->le == 256 || a->le == avail)
		return avail;
	if (a->le > avail) {
		*sw = SIM_SW_WRONG_LE | (unsigned)avail;
		return 0;
	}
	return a->le;
}

uint32_t
sim_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

void
sim_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void
sim_put_be16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int
p_match(int want, uint8_t got)
{
	return want == SIM_ANY || want == got;
}

/* The row for a, or NULL with *sw saying why none fits. */
static const struct sim_cmd *
find_row(
    const struct sim_cmd *tab, size_t n, const struct sim_apdu *a, unsigned *sw)
{
	int ins = 0, cla = 0, cla_known = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		cla_known |= tab[i].cla == a->cla;
		if (tab[i].ins != a->ins)
			continue;
		ins = 1;
		if (tab[i].cla != a->cla)
			continue;
		cla = 1;
		if (p_match(tab[i].p1, a->p1) && p_match(tab[i].p2, a->p2))
			return &tab[i];
	}
	/* an unknown class is 6E00 whatever the INS; a known class with an
	 * unknown INS is 6D00 */
	if (!cla_known || (ins && !cla))
		*sw = SIM_SW_CLA;
	else if (!ins)
		*sw = SIM_SW_INS;
	else
		*sw = SIM_SW_WRONG_P1P2;
	return NULL;
}

/* Lc and Le against the row: SIM_SW_OK or the status word. */
static unsigned
check_lengths(const struct sim_cmd *r, const struct sim_apdu *a)
{
	if (a->lc < r->lc_min || a->lc > r->lc_max)
		return SIM_SW_WRONG_LENGTH;
	if (r->rlen < 0 || !a->has_le || a->le == 256 ||
	    a->le == (size_t)r->rlen)
		return SIM_SW_OK;
	if (r->rlen == 0)
		return SIM_SW_WRONG_LENGTH;
	return SIM_SW_WRONG_LE | (unsigned)r->rlen;
}

static unsigned
run(const struct sim_cmd *tab, size_t n, void *obj, int selected,
    const struct sim_apdu *a, struct tkm_wr *out)
{
	const struct sim_cmd *r;
	unsigned sw = SIM_SW_OK;

	if ((r = find_row(tab, n, a, &sw)) == NULL)
		return sw;
	if ((sw = check_lengths(r, a)) != SIM_SW_OK)
		return sw;
	if ((r->flags & SIM_CMD_ADF) && !selected)
		return SIM_SW_CONDITIONS;
	sw = r->fn(obj, a, out);
	if (sw == SIM_SW_OK && tkm_wr_error(out) != TKM_OK)
		return SIM_SW_INTERNAL; /* a handler wrote too much: a bug */
	if (sw == SIM_SW_OK && r->rlen >= 0 && out->len != (size_t)r->rlen)
		return SIM_SW_INTERNAL;
	return sw;
}

int
sim_dispatch(const struct sim_cmd *tab, size_t n, void *obj, int selected,
    const uint8_t *cmd, size_t len, uint8_t *resp, size_t cap, size_t *rlen)
{
	uint8_t data[SIM_APDU_MAX_DATA];
	struct sim_apdu a;
	struct tkm_wr out;
	unsigned sw;

	if (rlen != NULL)
		*rlen = 0;
	if (tab == NULL || obj == NULL || resp == NULL || rlen == NULL ||
	    (cmd == NULL && len > 0))
		return TKM_ERR_INPUT;
	if (cap < SIM_APDU_MAX_RESP)
		return TKM_ERR_SPACE;
	tkm_wr_init(&out, data, sizeof(data));
	if (sim_apdu_parse(cmd, len, &a) != TKM_OK)
		sw = SIM_SW_WRONG_LENGTH;
	else
		sw = run(tab, n, obj, selected, &a, &out);
	if (sw == SIM_SW_OK) {
		memcpy(resp, data, out.len);
		*rlen = out.len;
	}
	resp[(*rlen)++] = (uint8_t)(sw >> 8);
	resp[(*rlen)++] = (uint8_t)sw;
	tkm_cleanse(data, sizeof(data));
	return TKM_OK;
}
