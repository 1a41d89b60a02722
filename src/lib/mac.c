/*
 * mac.c - ISO/IEC 9797-1 CBC-MACs (algorithms 1 and 3) and the PBOC rule
 * (DESIGN §3.2).
 *
 * The padded message is never built: whole data blocks are chained straight
 * from the caller's buffer, in chunks through a stack buffer, and only the
 * last (padded) block is assembled. Nothing is allocated.
 *
 * Algorithm 3 (ISO/IEC 9797-1:2011 §7.4, ANSI X9.19): H_i = E_KL(D_i xor
 * H_i-1) with single DES under K_L, output G = E_KL(D_KR(H_q)). Single DES
 * costs a 3DES pass here (it runs as K|K|K), so per-block work is the same
 * as 3DES; the gain is doing all blocks but the last in one CBC call, and
 * folding the last block and the output transform into one 3DES-EDE
 * (K_L, K_R, K_L) encryption of D_q xor H_q-1.
 */
#include <string.h>

#include "tkm/crypto.h"
#include "tkm/mac.h"
#include "tkm/mem.h"

/* Bytes chained per cipher call (each call re-keys the context). */
#define CHUNK 1024

size_t
tkm_pad_len(int pad, size_t len, size_t block)
{
	size_t whole;

	if (block == 0 || len > SIZE_MAX - block)
		return 0;
	whole = len / block * block;
	switch (pad) {
	case TKM_PAD_NONE:
		return len > 0 && len == whole ? len : 0;
	case TKM_PAD_ZERO:
		/* ISO/IEC 9797-1 §6.1.1: empty data becomes one block */
		return len == 0 ? block : (len == whole ? len : whole + block);
	case TKM_PAD_80:
		return whole + block;
	case TKM_PAD_80_IF_NEEDED:
		return len > 0 && len == whole ? len : whole + block;
	default:
		return 0;
	}
}

/* h = CBC chain of n bytes (whole blocks) from p, starting from h. */
static int
chain(int alg, const uint8_t *key, size_t klen, uint8_t *h, const uint8_t *p,
    size_t n)
{
	uint8_t buf[CHUNK];
	size_t bs = tkm_block_len(alg), m, used = 0;
	int rc = TKM_OK;

	while (n > 0) {
		m = n < CHUNK ? n : CHUNK;
		rc = tkm_cipher(
		    alg, TKM_CBC, TKM_ENCRYPT, key, klen, h, p, m, buf);
		if (rc != TKM_OK)
			break;
		used = m > used ? m : used;
		memcpy(h, buf + m - bs, bs);
		p += m;
		n -= m;
	}
	tkm_cleanse(buf, used);
	return rc;
}

static int
resolve(int mac_alg, int alg, size_t klen, int *use)
{
	if (tkm_block_len(alg) == 0)
		return TKM_ERR_MODE;
	if (mac_alg == TKM_MAC_PBOC)
		mac_alg =
		    alg == TKM_DES && klen != 8 ? TKM_MAC_ALG3 : TKM_MAC_ALG1;
	if (mac_alg == TKM_MAC_ALG3) {
		if (alg != TKM_DES)
			return TKM_ERR_MODE;
		if (klen != 16 && klen != 24)
			return TKM_ERR_KEY_LEN;
	} else if (mac_alg != TKM_MAC_ALG1) {
		return TKM_ERR_MODE;
	}
	*use = mac_alg;
	return tkm_key_len_ok(alg, klen);
}

int
tkm_mac(int mac_alg, int alg, const uint8_t *key, size_t klen,
    const uint8_t *iv, const void *data, size_t len, int pad, uint8_t *out,
    size_t *outlen)
{
	uint8_t h[TKM_MAX_BLOCK] = {0}, last[TKM_MAX_BLOCK] = {0};
	size_t bs = tkm_block_len(alg), padded, head, tail, i;
	int use = 0, rc;

	if (outlen != NULL)
		*outlen = 0;
	if (out == NULL || outlen == NULL)
		return TKM_ERR_INPUT;
	if ((rc = resolve(mac_alg, alg, klen, &use)) != TKM_OK)
		return rc;
	memset(out, 0, bs);
	if (key == NULL || (len > 0 && data == NULL))
		return TKM_ERR_INPUT;
	if ((padded = tkm_pad_len(pad, len, bs)) == 0)
		return pad < TKM_PAD_NONE || pad > TKM_PAD_80_IF_NEEDED
			   ? TKM_ERR_MODE
			   : TKM_ERR_DATA_LEN;
	if (iv != NULL)
		memcpy(h, iv, bs);

	/* The last block: what is left of the data after the whole blocks
	 * before it (0..bs bytes), then 80 for methods 2 and 3 of mac.h, then
	 * zeros. head <= len because padding adds at most one block. */
	head = padded - bs;
	tail = len - head;
	if (tail > 0)
		memcpy(last, (const uint8_t *)data + head, tail);
	if (tail < bs && (pad == TKM_PAD_80 || pad == TKM_PAD_80_IF_NEEDED))
		last[tail] = 0x80;

	if (use == TKM_MAC_ALG1) {
		if ((rc = chain(alg, key, klen, h, data, head)) != TKM_OK ||
		    (rc = chain(alg, key, klen, h, last, bs)) != TKM_OK)
			goto out;
		memcpy(out, h, bs);
	} else {
		/* single DES under K_L, then 3DES-EDE (K_L, K_R, K_L) of the
		 * last chained block: E_KL(D_KR(E_KL(D_q xor H_q-1))). */
		if ((rc = chain(TKM_DES, key, 8, h, data, head)) != TKM_OK)
			goto out;
		for (i = 0; i < bs; i++)
			h[i] ^= last[i];
		if ((rc = tkm_encrypt_block(TKM_DES, key, 16, h, out)) !=
		    TKM_OK)
			goto out;
	}
	*outlen = bs;
out:
	if (rc != TKM_OK)
		memset(out, 0, bs);
	tkm_cleanse(h, sizeof(h));
	tkm_cleanse(last, sizeof(last));
	return rc;
}
