/*
 * emv.c - EMV / PBOC 2.0 key derivation and cryptograms, GlobalPlatform
 * SCP02 session keys. All keys are double-length 3DES (16 bytes).
 */
#include <stdint.h>
#include <string.h>

#include "tkm/crypto.h"
#include "tkm/emv.h"
#include "tkm/mac.h"
#include "tkm/mem.h"

#define MAX_PAN  19 /* ISO/IEC 7812-1 */
#define Y_DIGITS 16

/* dst (8 bytes) = 16 decimal digits packed as BCD. */
static void
pack16(const char *digits, uint8_t dst[8])
{
	size_t i;

	for (i = 0; i < 8; i++)
		dst[i] = (uint8_t)((digits[2 * i] - '0') << 4 |
				   (digits[2 * i + 1] - '0'));
}

static int
all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/*
 * pan || psn as a digit string in x (NUL-terminated); psn "" or NULL means
 * "00" (EMV 4.3 Book 2 A1.4.1). *n receives its length.
 */
static int
pan_psn(const char *pan, const char *psn, char x[MAX_PAN + 3], size_t *n)
{
	size_t lp, ls;

	if (pan == NULL)
		return TKM_ERR_INPUT;
	if (psn == NULL)
		psn = "";
	lp = strnlen(pan, MAX_PAN + 1);
	ls = strnlen(psn, 3);
	if (lp == 0 || lp > MAX_PAN || (ls != 0 && ls != 2) ||
	    !all_digits(pan, lp) || !all_digits(psn, ls))
		return TKM_ERR_INPUT;
	memcpy(x, pan, lp);
	memcpy(x + lp, ls ? psn : "00", 2);
	x[lp + 2] = '\0';
	*n = lp + 2;
	return TKM_OK;
}

/* Z = 3DES(IMK, Y) || 3DES(IMK, ~Y), odd parity if asked (A1.4.1). */
static int
mk_from_y(
    const uint8_t imk[16], const uint8_t y[8], int parity, uint8_t out[16])
{
	uint8_t in[16];
	size_t i;
	int rc;

	for (i = 0; i < 8; i++) {
		in[i] = y[i];
		in[i + 8] = (uint8_t)~y[i];
	}
	rc = tkm_cipher(
	    TKM_DES, TKM_ECB, TKM_ENCRYPT, imk, 16, NULL, in, sizeof(in), out);
	if (rc == TKM_OK && parity)
		tkm_des_parity_set(out, 16);
	tkm_cleanse(in, sizeof(in));
	return rc;
}

static int
icc_args(const uint8_t *imk, uint8_t *out)
{
	if (out == NULL)
		return TKM_ERR_INPUT;
	memset(out, 0, 16);
	return imk == NULL ? TKM_ERR_INPUT : TKM_OK;
}

int
tkm_emv_icc_mk_a(const uint8_t imk[16], const char *pan, const char *psn,
    int parity, uint8_t out[16])
{
	char x[MAX_PAN + 3], y[Y_DIGITS + 1];
	uint8_t yb[8];
	size_t n = 0;
	int rc;

	if ((rc = icc_args(imk, out)) != TKM_OK ||
	    (rc = pan_psn(pan, psn, x, &n)) != TKM_OK)
		return rc;
	/* Y: the rightmost 16 digits, or X left-padded with zeros */
	memset(y, '0', Y_DIGITS);
	if (n >= Y_DIGITS)
		memcpy(y, x + n - Y_DIGITS, Y_DIGITS);
	else
		memcpy(y + Y_DIGITS - n, x, n);
	pack16(y, yb);
	return mk_from_y(imk, yb, parity, out);
}

/*
 * Option B (EMV 4.3 Book 2 A1.4.2): X = PAN || PSN with a leading 0 if
 * odd, as BCD; Y = the first 16 decimal digits of SHA-1(X) read as hex
 * nibbles, topped up from the nibbles A..F mapped to 0..5 in order.
 */
int
tkm_emv_icc_mk_b(const uint8_t imk[16], const char *pan, const char *psn,
    int parity, uint8_t out[16])
{
	char x[MAX_PAN + 4], y[Y_DIGITS + 1];
	uint8_t bcd[(MAX_PAN + 3) / 2 + 1], h[20], yb[8], nib;
	size_t n = 0, i, k = 0, pass;
	int rc;

	if ((rc = icc_args(imk, out)) != TKM_OK)
		return rc;
	if (pan != NULL && strnlen(pan, Y_DIGITS + 1) <= Y_DIGITS)
		return tkm_emv_icc_mk_a(imk, pan, psn, parity, out);
	if ((rc = pan_psn(pan, psn, x + 1, &n)) != TKM_OK)
		return rc;
	x[0] = '0';
	if (n % 2 == 0)
		memmove(x, x + 1, n + 1);
	else
		n++;
	for (i = 0; i < n / 2; i++)
		bcd[i] =
		    (uint8_t)((x[2 * i] - '0') << 4 | (x[2 * i + 1] - '0'));
	if ((rc = tkm_hash(TKM_SHA1, bcd, n / 2, h)) != TKM_OK)
		return rc;
	for (pass = 0; pass < 2 && k < Y_DIGITS; pass++)
		for (i = 0; i < 2 * sizeof(h) && k < Y_DIGITS; i++) {
			nib =
			    (uint8_t)(i % 2 ? h[i / 2] & 0x0F : h[i / 2] >> 4);
			if (pass == 0 && nib < 10)
				y[k++] = (char)('0' + nib);
			else if (pass == 1 && nib >= 10)
				y[k++] = (char)('0' + nib - 10);
		}
	pack16(y, yb);
	rc = mk_from_y(imk, yb, parity, out);
	tkm_cleanse(h, sizeof(h));
	return rc;
}

/* out = 3DES(mk, l) || 3DES(mk, r) */
static int
two_blocks(const uint8_t mk[16], const uint8_t l[8], const uint8_t r[8],
    uint8_t out[16])
{
	uint8_t in[16];
	int rc;

	memcpy(in, l, 8);
	memcpy(in + 8, r, 8);
	rc = tkm_cipher(
	    TKM_DES, TKM_ECB, TKM_ENCRYPT, mk, 16, NULL, in, sizeof(in), out);
	tkm_cleanse(in, sizeof(in));
	return rc;
}

int
tkm_emv_csk(
    const uint8_t mk[16], const uint8_t r[8], int parity, uint8_t out[16])
{
	uint8_t l[8], rr[8];
	int rc;

	if ((rc = icc_args(mk, out)) != TKM_OK)
		return rc;
	if (r == NULL)
		return TKM_ERR_INPUT;
	/* EMV 4.3 Book 2 A1.3.1: byte 2 of R is F0 (left), 0F (right) */
	memcpy(l, r, 8);
	memcpy(rr, r, 8);
	l[2] = 0xF0;
	rr[2] = 0x0F;
	rc = two_blocks(mk, l, rr, out);
	if (rc == TKM_OK && parity)
		tkm_des_parity_set(out, 16);
	return rc;
}

int
tkm_pboc_sk(const uint8_t mk[16], const uint8_t atc[2], uint8_t out[16])
{
	uint8_t l[8] = {0}, r[8] = {0};
	int rc;

	if ((rc = icc_args(mk, out)) != TKM_OK)
		return rc;
	if (atc == NULL)
		return TKM_ERR_INPUT;
	/* JR/T 0025: 00*6 || ATC and 00*6 || ~ATC; no parity adjustment */
	l[6] = atc[0];
	l[7] = atc[1];
	r[6] = (uint8_t)~atc[0];
	r[7] = (uint8_t)~atc[1];
	return two_blocks(mk, l, r, out);
}

/*
 * EMV 4.0 Book 2 A1.3 tree function:
 *   F(X, Y, j) = 3DES(X)[Y_L xor (j mod b)] ||
 *                3DES(X)[Y_R xor (j mod b) xor 'F0']
 * with j mod b as an 8-byte big-endian number (it fits the last byte).
 */
static int
tree_f(const uint8_t x[16], const uint8_t y[16], unsigned jb, uint8_t out[16])
{
	uint8_t l[8], r[8];
	int rc;

	memcpy(l, y, 8);
	memcpy(r, y + 8, 8);
	l[7] ^= (uint8_t)jb;
	r[7] ^= (uint8_t)(jb ^ 0xF0);
	rc = two_blocks(x, l, r, out);
	tkm_cleanse(l, sizeof(l));
	tkm_cleanse(r, sizeof(r));
	return rc;
}

/*
 * The tree has the ICC MK at its root (with IV as its "parent"); level h
 * holds IK_h = F(IK_h-1, IK_h-2, j_h) with j_h = ATC div b^(H-h); the
 * session key is F(IK_H-1, IK_H-2, ATC) xor IK_H-2.
 */
int
tkm_emv2000_sk(const uint8_t mk[16], const uint8_t iv[16], unsigned b,
    unsigned h, const uint8_t atc[2], uint8_t out[16])
{
	uint8_t gp[16], p[16], ik[16];
	uint64_t pw, leaves = 1;
	unsigned a, lvl, i;
	int rc = TKM_OK;

	if ((rc = icc_args(mk, out)) != TKM_OK)
		return rc;
	if (iv == NULL || atc == NULL)
		return TKM_ERR_INPUT;
	if (b < 2 || b > 16 || h < 1 || h > 16)
		return TKM_ERR_INPUT;
	/* every ATC value must have its own leaf: b^H > FFFF */
	for (i = 0; i < h && leaves <= 0xFFFF; i++)
		leaves *= b;
	if (leaves <= 0xFFFF)
		return TKM_ERR_INPUT;
	a = (unsigned)atc[0] << 8 | atc[1];
	memcpy(gp, iv, 16);
	memcpy(p, mk, 16);
	for (lvl = 1; lvl < h && rc == TKM_OK; lvl++) {
		for (pw = 1, i = 0; i < h - lvl && pw <= 0xFFFF; i++)
			pw *= b;
		rc = tree_f(p, gp, (unsigned)(a / pw % b), ik);
		memcpy(gp, p, 16);
		memcpy(p, ik, 16);
	}
	if (rc == TKM_OK)
		rc = tree_f(p, gp, a % b, ik);
	if (rc == TKM_OK) {
		for (i = 0; i < 16; i++)
			out[i] = ik[i] ^ gp[i];
		/* as the published examples (pyemv) present it */
		tkm_des_parity_set(out, 16);
	}
	tkm_cleanse(gp, sizeof(gp));
	tkm_cleanse(p, sizeof(p));
	tkm_cleanse(ik, sizeof(ik));
	return rc;
}

/* ISO/IEC 9797-1 algorithm 3 under the 16-byte key, 8-byte result. */
static int
mac3(
    const uint8_t sk[16], const void *data, size_t len, int pad, uint8_t out[8])
{
	uint8_t m[TKM_MAX_BLOCK];
	size_t n;
	int rc;

	rc =
	    tkm_mac(TKM_MAC_ALG3, TKM_DES, sk, 16, NULL, data, len, pad, m, &n);
	if (rc == TKM_OK)
		memcpy(out, m, 8);
	tkm_cleanse(m, sizeof(m));
	return rc;
}

int
tkm_emv_ac(
    const uint8_t sk[16], const void *data, size_t len, int pad, uint8_t ac[8])
{
	if (ac == NULL)
		return TKM_ERR_INPUT;
	memset(ac, 0, 8);
	if (sk == NULL)
		return TKM_ERR_INPUT;
	return mac3(sk, data, len, pad, ac);
}

int
tkm_emv_arpc1(const uint8_t sk[16], const uint8_t arqc[8], const uint8_t arc[2],
    uint8_t arpc[8])
{
	uint8_t x[8];
	int rc;

	if (arpc == NULL)
		return TKM_ERR_INPUT;
	memset(arpc, 0, 8);
	if (sk == NULL || arqc == NULL || arc == NULL)
		return TKM_ERR_INPUT;
	/* EMV 4.3 Book 2 §8.2.1: ARQC xor (ARC || 00*6) */
	memcpy(x, arqc, 8);
	x[0] ^= arc[0];
	x[1] ^= arc[1];
	rc = tkm_encrypt_block(TKM_DES, sk, 16, x, arpc);
	tkm_cleanse(x, sizeof(x));
	return rc;
}

int
tkm_emv_arpc2(const uint8_t sk[16], const uint8_t arqc[8], const uint8_t csu[4],
    const uint8_t *pad_data, size_t pad_len, uint8_t arpc[4])
{
	uint8_t y[8 + 4 + 8], m[8];
	int rc;

	if (arpc == NULL)
		return TKM_ERR_INPUT;
	memset(arpc, 0, 4);
	if (pad_len > 8)
		return TKM_ERR_DATA_LEN;
	if (sk == NULL || arqc == NULL || csu == NULL ||
	    (pad_len > 0 && pad_data == NULL))
		return TKM_ERR_INPUT;
	/* EMV 4.3 Book 2 §8.2.2: Y = ARQC || CSU || proprietary data */
	memcpy(y, arqc, 8);
	memcpy(y + 8, csu, 4);
	if (pad_len > 0)
		memcpy(y + 12, pad_data, pad_len);
	rc = mac3(sk, y, 12 + pad_len, TKM_PAD_80, m);
	if (rc == TKM_OK)
		memcpy(arpc, m, 4);
	tkm_cleanse(m, sizeof(m));
	return rc;
}

int
tkm_scp02_sk(const uint8_t key[16], unsigned constant, const uint8_t seq[2],
    uint8_t out[16])
{
	uint8_t d[16] = {0};

	if (out == NULL)
		return TKM_ERR_INPUT;
	memset(out, 0, 16);
	if (constant != TKM_SCP02_CMAC && constant != TKM_SCP02_RMAC &&
	    constant != TKM_SCP02_DEK && constant != TKM_SCP02_ENC)
		return TKM_ERR_MODE;
	if (key == NULL || seq == NULL)
		return TKM_ERR_INPUT;
	/* GP Card Spec 2.2 E.4.1: constant || sequence counter || 00*12 */
	d[0] = (uint8_t)(constant >> 8);
	d[1] = (uint8_t)constant;
	d[2] = seq[0];
	d[3] = seq[1];
	return tkm_cipher(
	    TKM_DES, TKM_CBC, TKM_ENCRYPT, key, 16, NULL, d, sizeof(d), out);
}
