/*
 * derive.c - key diversification (分散) and its factors (DESIGN §3.2).
 *
 * One level, with D the 8-byte factor and ~D its complement:
 *   DES: DK = 3DES(MK, D) || 3DES(MK, ~D)   (PBOC / JR/T 0025 style)
 *   SM4: DK = SM4(MK, D || ~D)
 * Both are a single ECB call over D || ~D: two DES blocks or one SM4 block.
 */
#include <string.h>

#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/mem.h"

/* dk = E(mk, D || ~D) over 16 bytes. */
static int
derive_one(int alg, const uint8_t *mk, size_t mklen, const uint8_t *d,
    uint8_t dk[TKM_DERIVED_LEN])
{
	uint8_t in[TKM_DERIVED_LEN];
	size_t i;
	int rc;

	for (i = 0; i < TKM_FACTOR_LEN; i++) {
		in[i] = d[i];
		in[i + TKM_FACTOR_LEN] = (uint8_t)~d[i];
	}
	rc = tkm_cipher(
	    alg, TKM_ECB, TKM_ENCRYPT, mk, mklen, NULL, in, sizeof(in), dk);
	tkm_cleanse(in, sizeof(in));
	return rc;
}

int
tkm_derive(int alg, const uint8_t *mk, size_t mklen, const uint8_t *factors,
    size_t n, uint8_t out[TKM_DERIVED_LEN])
{
	uint8_t k[TKM_DERIVED_LEN];
	size_t i;
	int rc = TKM_OK;

	if (out == NULL)
		return TKM_ERR_INPUT;
	memset(out, 0, TKM_DERIVED_LEN);
	if (alg != TKM_DES && alg != TKM_SM4)
		return TKM_ERR_MODE;
	/* 16 bytes; a 24-byte DES MK only when it is derived at least once,
	 * since its own copy would not fit in out. */
	if (mklen != TKM_DERIVED_LEN && !(alg == TKM_DES && mklen == 24 && n))
		return TKM_ERR_KEY_LEN;
	if (n > TKM_MAX_LEVELS)
		return TKM_ERR_INPUT;
	if (mk == NULL || (n > 0 && factors == NULL))
		return TKM_ERR_INPUT;
	if (n == 0) {
		memcpy(out, mk, TKM_DERIVED_LEN);
		return TKM_OK;
	}
	rc = derive_one(alg, mk, mklen, factors, k);
	for (i = 1; i < n && rc == TKM_OK; i++)
		rc = derive_one(
		    alg, k, sizeof(k), factors + i * TKM_FACTOR_LEN, k);
	if (rc == TKM_OK)
		memcpy(out, k, TKM_DERIVED_LEN);
	tkm_cleanse(k, sizeof(k));
	return rc;
}

int
tkm_city_factor(const char *city, uint8_t out[TKM_FACTOR_LEN])
{
	size_t i;

	if (out == NULL)
		return TKM_ERR_INPUT;
	memset(out, 0, TKM_FACTOR_LEN);
	if (city == NULL || strnlen(city, 5) != 4)
		return TKM_ERR_INPUT;
	for (i = 0; i < 4; i++)
		if (city[i] < '0' || city[i] > '9')
			return TKM_ERR_INPUT;
	/* CJ/T 333 §3.14: city code in BCD, then FF, then zeros */
	out[0] = (uint8_t)((city[0] - '0') << 4 | (city[1] - '0'));
	out[1] = (uint8_t)((city[2] - '0') << 4 | (city[3] - '0'));
	out[2] = 0xFF;
	return TKM_OK;
}

int
tkm_card_factor(const uint8_t *asn, size_t len, uint8_t out[TKM_FACTOR_LEN])
{
	if (out == NULL)
		return TKM_ERR_INPUT;
	memset(out, 0, TKM_FACTOR_LEN);
	if (len < TKM_FACTOR_LEN || len > 10)
		return TKM_ERR_DATA_LEN;
	if (asn == NULL)
		return TKM_ERR_INPUT;
	memcpy(out, asn + len - TKM_FACTOR_LEN, TKM_FACTOR_LEN);
	return TKM_OK;
}
