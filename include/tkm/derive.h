/*
 * derive.h - key diversification (分散) and the factors it uses
 * (DESIGN §3.2).
 *
 *   DES: DK = 3DES(MK, D) || 3DES(MK, ~D)   (MK 16 bytes, DK 16 bytes)
 *   SM4: DK = SM4(MK, D || ~D)              (MK 16 bytes, DK 16 bytes)
 *
 * D is an 8-byte factor. Multi-level derivation repeats with the previous
 * result as MK, factors applied in order. The result is not parity
 * adjusted (DES ignores parity and the ministry's HSMs do not adjust).
 */
#ifndef TKM_DERIVE_H
#define TKM_DERIVE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TKM_FACTOR_LEN  8
#define TKM_MAX_LEVELS  5
#define TKM_DERIVED_LEN 16

/*
 * Derive through n levels (0..TKM_MAX_LEVELS); factors holds n * 8 bytes.
 * n = 0 copies MK. mk MUST be 16 bytes (DES double length or SM4); a
 * 24-byte DES MK is accepted and its derived key is 16 bytes.
 */
int tkm_derive(int alg, const uint8_t *mk, size_t mklen, const uint8_t *factors,
    size_t n, uint8_t out[TKM_DERIVED_LEN]) TKM_MUST_CHECK;

/*
 * City factor, CJ/T 333 §3.14: the 4-digit city code followed by
 * FF0000000000 (Guangzhou "5810" -> 5810FF0000000000). city MUST be 4
 * decimal digits.
 */
int tkm_city_factor(
    const char *city, uint8_t out[TKM_FACTOR_LEN]) TKM_MUST_CHECK;

/* Card factor: the rightmost 8 bytes of the application serial number
 * (asn of 8..10 bytes). */
int tkm_card_factor(
    const uint8_t *asn, size_t len, uint8_t out[TKM_FACTOR_LEN]) TKM_MUST_CHECK;

#endif
