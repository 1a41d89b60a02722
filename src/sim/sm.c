/*
 * sm.c - GET CHALLENGE and key writing by secure messaging (sm.h), the
 * card side of the HSM's U3 (docs/protocol.md U3, src/hsm/cmd_data.c).
 */
#include <string.h>

#include "sm.h"
#include "tkm/crypto.h"
#include "tkm/mac.h"
#include "tkm/mem.h"

#define CLA_SM    0x84
#define INS_WRITE 0xD4

uint8_t
sim_alg_id(int alg)
{
	return alg == TKM_SM4 ? SIM_ALGID_SM4 : SIM_ALGID_DES;
}

int
sim_alg_of_id(unsigned id)
{
	if (id == SIM_ALGID_DES)
		return TKM_DES;
	if (id == SIM_ALGID_SM4)
		return TKM_SM4;
	return 0;
}

int
sim_random(sim_rng_fn rng, void *ctx, uint8_t *out, size_t n)
{
	if (rng == NULL)
		return tkm_random(out, n);
	return rng(ctx, out, n);
}

unsigned
sim_get_challenge(struct sim_challenge *ch, sim_rng_fn rng, void *ctx,
    const struct sim_apdu *a, struct tkm_wr *out)
{
	uint8_t rnd[SIM_CHALLENGE_MAX];

	if (!a->has_le || (a->le != 4 && a->le != 8 && a->le != 16))
		return SIM_SW_WRONG_LENGTH;
	memset(ch, 0, sizeof(*ch));
	if (sim_random(rng, ctx, rnd, a->le) != TKM_OK)
		return SIM_SW_INTERNAL;
	memcpy(ch->rnd, rnd, a->le);
	ch->len = (uint8_t)a->le;
	tkm_wr_bytes(out, rnd, a->le);
	return SIM_SW_OK;
}

void
sim_challenge_block(int alg, const struct sim_challenge *ch, uint8_t block[16])
{
	size_t bs = tkm_block_len(alg), n = ch->len;

	memset(block, 0, 16);
	memcpy(block, ch->rnd, n < bs ? n : bs);
}

size_t
sim_sm_ct_len(int alg)
{
	/* len(1) || key(16) || 80, padded to whole blocks */
	if (alg == TKM_DES)
		return 24;
	if (alg == TKM_SM4)
		return 32;
	return 0;
}

/* PBOC MAC (pad 80, IV) over hdr || ct, leftmost 4 bytes. */
static int
sm_mac(int alg, const uint8_t *p, const uint8_t iv[16],
    const uint8_t hdr[SIM_SM_FILL_LEN], const uint8_t *ct, size_t ctlen,
    uint8_t mac[SIM_SM_MAC_LEN])
{
	uint8_t m[SIM_SM_FILL_LEN + SIM_SM_MAX_CT], full[TKM_MAX_BLOCK];
	size_t n = 0;
	int rc;

	memcpy(m, hdr, SIM_SM_FILL_LEN);
	memcpy(m + SIM_SM_FILL_LEN, ct, ctlen);
	rc = tkm_mac(TKM_MAC_PBOC, alg, p, SIM_KEY_LEN, iv, m,
	    SIM_SM_FILL_LEN + ctlen, TKM_PAD_80, full, &n);
	if (rc == TKM_OK)
		memcpy(mac, full, SIM_SM_MAC_LEN);
	tkm_cleanse(full, sizeof(full));
	return rc;
}

/* len(1) = 16 || key || 80 00.. filling the whole clear text */
static int
unwrap(const uint8_t *pt, size_t n, uint8_t key[SIM_KEY_LEN])
{
	size_t i;

	if (n < 2 + SIM_KEY_LEN || pt[0] != SIM_KEY_LEN ||
	    pt[1 + SIM_KEY_LEN] != 0x80)
		return TKM_ERR_INPUT;
	for (i = 2 + SIM_KEY_LEN; i < n; i++)
		if (pt[i] != 0)
			return TKM_ERR_INPUT;
	memcpy(key, pt + 1, SIM_KEY_LEN);
	return TKM_OK;
}

unsigned
sim_sm_open_key(int alg, const uint8_t p[SIM_KEY_LEN], struct sim_challenge *ch,
    const struct sim_apdu *a, uint8_t key[SIM_KEY_LEN])
{
	uint8_t hdr[SIM_SM_FILL_LEN], iv[16], mac[SIM_SM_MAC_LEN];
	uint8_t pt[SIM_SM_MAX_CT];
	size_t ctlen = sim_sm_ct_len(alg);
	struct sim_challenge c = *ch;
	unsigned sw = SIM_SW_OK;

	memset(ch, 0, sizeof(*ch)); /* one try per challenge */
	if (c.len == 0)
		return SIM_SW_CONDITIONS;
	if (ctlen == 0 || a->lc != ctlen + SIM_SM_MAC_LEN)
		return SIM_SW_WRONG_LENGTH;
	sim_challenge_block(alg, &c, iv);
	hdr[0] = a->cla;
	hdr[1] = a->ins;
	hdr[2] = a->p1;
	hdr[3] = a->p2;
	hdr[4] = (uint8_t)a->lc;
	if (sm_mac(alg, p, iv, hdr, a->data, ctlen, mac) != TKM_OK)
		sw = SIM_SW_INTERNAL;
	else if (!tkm_ct_eq(mac, a->data + ctlen, SIM_SM_MAC_LEN))
		sw = SIM_SW_SM_MAC;
	else if (tkm_cipher(alg, TKM_ECB, TKM_DECRYPT, p, SIM_KEY_LEN, NULL,
		     a->data, ctlen, pt) != TKM_OK)
		sw = SIM_SW_INTERNAL;
	else if (unwrap(pt, ctlen, key) != TKM_OK)
		sw = SIM_SW_BAD_DATA;
	tkm_cleanse(pt, sizeof(pt));
	tkm_cleanse(&c, sizeof(c));
	return sw;
}

int
sim_sm_mac_fill(int alg, uint8_t p1, uint8_t p2, uint8_t fill[SIM_SM_FILL_LEN])
{
	size_t ctlen = sim_sm_ct_len(alg);

	if (ctlen == 0)
		return TKM_ERR_MODE;
	fill[0] = CLA_SM;
	fill[1] = INS_WRITE;
	fill[2] = p1;
	fill[3] = p2;
	fill[4] = (uint8_t)(ctlen + SIM_SM_MAC_LEN);
	return TKM_OK;
}

int
sim_sm_write_key_apdu(int alg, uint8_t p1, uint8_t p2, const uint8_t *ct,
    size_t ctlen, const uint8_t mac[SIM_SM_MAC_LEN], uint8_t *out, size_t cap,
    size_t *len)
{
	size_t n = SIM_SM_FILL_LEN + ctlen + SIM_SM_MAC_LEN;
	int rc;

	if (len != NULL)
		*len = 0;
	if (ct == NULL || mac == NULL || out == NULL || len == NULL)
		return TKM_ERR_INPUT;
	if ((rc = sim_sm_mac_fill(alg, p1, p2, out)) != TKM_OK)
		return rc;
	if (ctlen != sim_sm_ct_len(alg))
		return TKM_ERR_DATA_LEN;
	if (cap < n)
		return TKM_ERR_SPACE;
	memcpy(out + SIM_SM_FILL_LEN, ct, ctlen);
	memcpy(out + SIM_SM_FILL_LEN + ctlen, mac, SIM_SM_MAC_LEN);
	*len = n;
	return TKM_OK;
}

int
sim_sm_wrap_key(int alg, const uint8_t p[SIM_KEY_LEN], const uint8_t *rnd,
    size_t n, uint8_t p1, uint8_t p2, const uint8_t key[SIM_KEY_LEN],
    uint8_t *out, size_t cap, size_t *len)
{
	uint8_t pt[SIM_SM_MAX_CT], ct[SIM_SM_MAX_CT], hdr[SIM_SM_FILL_LEN];
	uint8_t iv[16], mac[SIM_SM_MAC_LEN];
	struct sim_challenge ch;
	size_t ctlen = sim_sm_ct_len(alg);
	int rc;

	if (len != NULL)
		*len = 0;
	if (p == NULL || key == NULL || (rnd == NULL && n > 0) ||
	    n > SIM_CHALLENGE_MAX)
		return TKM_ERR_INPUT;
	if ((rc = sim_sm_mac_fill(alg, p1, p2, hdr)) != TKM_OK)
		return rc;
	memset(&ch, 0, sizeof(ch));
	if (n > 0)
		memcpy(ch.rnd, rnd, n);
	ch.len = (uint8_t)n;
	sim_challenge_block(alg, &ch, iv);
	memset(pt, 0, sizeof(pt));
	pt[0] = SIM_KEY_LEN;
	memcpy(pt + 1, key, SIM_KEY_LEN);
	pt[1 + SIM_KEY_LEN] = 0x80;
	if ((rc = tkm_cipher(alg, TKM_ECB, TKM_ENCRYPT, p, SIM_KEY_LEN, NULL,
		 pt, ctlen, ct)) == TKM_OK &&
	    (rc = sm_mac(alg, p, iv, hdr, ct, ctlen, mac)) == TKM_OK)
		rc = sim_sm_write_key_apdu(
		    alg, p1, p2, ct, ctlen, mac, out, cap, len);
	tkm_cleanse(pt, sizeof(pt));
	return rc;
}
