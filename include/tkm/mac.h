/*
 * mac.h - block-cipher MACs of the card system.
 *
 * All MACs here are CBC-MACs with IV 0 unless an IV is given (NULL = 0);
 * the result is the full last block (8 bytes DES, 16 bytes SM4) so that the
 * caller takes the leftmost 4 or 8 bytes it needs.
 *
 *   TKM_MAC_ALG1  ISO/IEC 9797-1 algorithm 1: CBC with the whole key
 *                 (single DES, 3DES or SM4).
 *   TKM_MAC_ALG3  ISO/IEC 9797-1 algorithm 3 (ANSI X9.19 retail MAC):
 *                 single-DES CBC under K_L, last block D(K_R) then E(K_L).
 *                 DES keys of 16 or 24 bytes (the third part is ignored).
 *   TKM_MAC_PBOC  the PBOC rule (DESIGN §3.2): 8-byte DES key -> ALG1
 *                 single DES, 16/24-byte DES key -> ALG3, SM4 -> ALG1.
 */
#ifndef TKM_MAC_H
#define TKM_MAC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum tkm_mac_alg { TKM_MAC_ALG1 = 1, TKM_MAC_ALG3 = 3, TKM_MAC_PBOC = 9 };

/*
 * Padding. The UB pad flag of protocol.md maps 0 -> TKM_PAD_80 and
 * 1 -> TKM_PAD_80_IF_NEEDED.
 */
enum tkm_pad {
	TKM_PAD_NONE = 0,        /* data MUST be whole blocks */
	TKM_PAD_ZERO = 1,        /* ISO 9797-1 method 1: 00s to a whole block,
				    none if already whole; empty data -> one
				    zero block */
	TKM_PAD_80 = 2,          /* ISO 9797-1 method 2: always 80 00..  */
	TKM_PAD_80_IF_NEEDED = 3 /* 80 00.. only when not whole blocks;
				    empty data -> 80 00.. */
};

/*
 * Length after padding, or 0 when the combination is invalid (unknown pad,
 * TKM_PAD_NONE with a partial block).
 */
size_t tkm_pad_len(int pad, size_t len, size_t block);

/*
 * MAC over data under key. alg selects the cipher family: TKM_DES or
 * TKM_SM4 (from crypto.h). out receives one block (8 or 16 bytes) and
 * *outlen its length.
 */
int tkm_mac(int mac_alg, int alg, const uint8_t *key, size_t klen,
    const uint8_t *iv, const void *data, size_t len, int pad, uint8_t *out,
    size_t *outlen) TKM_MUST_CHECK;

#endif
