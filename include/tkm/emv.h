/*
 * emv.h - EMV / PBOC 2.0 application cryptograms and GlobalPlatform SCP02
 * session keys. All keys are double-length 3DES (16 bytes).
 *
 * References: EMV 4.3 Book 2 annex A1.3 (session keys), A1.4 (ICC master
 * key derivation options A and B), 8.1-8.2 (ARQC, ARPC methods 1 and 2);
 * EMV 4.0 Book 2 A1.3 (EMV2000 tree); JR/T 0025 (PBOC 2.0 session key);
 * GlobalPlatform Card Spec 2.2 E.4.1 (SCP02).
 */
#ifndef TKM_EMV_H
#define TKM_EMV_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * ICC master key, option A: Y = rightmost 16 digits of PAN || PSN (left
 * padded with '0' when shorter), ZL = 3DES(IMK, Y), ZR = 3DES(IMK, ~Y).
 * pan and psn are decimal digit strings (psn may be "" for "00").
 * parity != 0 adjusts the result to odd parity, as EMV requires; the
 * PBOC examples keep the raw result.
 */
int tkm_emv_icc_mk_a(const uint8_t imk[16], const char *pan, const char *psn,
    int parity, uint8_t out[16]) TKM_MUST_CHECK;
/*
 * Option B (PAN longer than 16 digits): SHA-1 of PAN || PSN (padded with a
 * leading '0' to an even length), decimalised to 16 digits, then option A
 * with that Y. For PANs of 16 digits or fewer option B is option A.
 */
int tkm_emv_icc_mk_b(const uint8_t imk[16], const char *pan, const char *psn,
    int parity, uint8_t out[16]) TKM_MUST_CHECK;

/* EMV common session key (A1.3.1): R = ATC || 00.. (8 bytes); byte 2 is
 * set to F0 for the left half and 0F for the right. */
int tkm_emv_csk(const uint8_t mk[16], const uint8_t r[8], int parity,
    uint8_t out[16]) TKM_MUST_CHECK;

/* PBOC 2.0 session key: 3DES(MK, 00*6 || ATC) || 3DES(MK, 00*6 || ~ATC). */
int tkm_pboc_sk(
    const uint8_t mk[16], const uint8_t atc[2], uint8_t out[16]) TKM_MUST_CHECK;

/*
 * EMV2000 tree session key (EMV 4.0 A1.3): height h (1..16), branch
 * factor b (2..16) with b^h > FFFF so that every ATC has its own key
 * (TKM_ERR_INPUT otherwise), iv 16 bytes (IV-AC), atc 2 bytes. The result
 * is parity adjusted, as pyemv's published examples are.
 */
int tkm_emv2000_sk(const uint8_t mk[16], const uint8_t iv[16], unsigned b,
    unsigned h, const uint8_t atc[2], uint8_t out[16]) TKM_MUST_CHECK;

/* ARQC/TC/AAC: ISO 9797-1 alg 3 over data with the given padding
 * (TKM_PAD_80 for EMV and PBOC CVNs, TKM_PAD_ZERO for CVN 10). */
int tkm_emv_ac(const uint8_t sk[16], const void *data, size_t len, int pad,
    uint8_t ac[8]) TKM_MUST_CHECK;

/* ARPC method 1: 3DES(SK, ARQC xor (ARC || 00*6)). */
int tkm_emv_arpc1(const uint8_t sk[16], const uint8_t arqc[8],
    const uint8_t arc[2], uint8_t arpc[8]) TKM_MUST_CHECK;
/* ARPC method 2: leftmost 4 bytes of ISO 9797-1 alg 3 (pad 80) over
 * ARQC || CSU || proprietary data (0..8 bytes). */
int tkm_emv_arpc2(const uint8_t sk[16], const uint8_t arqc[8],
    const uint8_t csu[4], const uint8_t *pad_data, size_t pad_len,
    uint8_t arpc[4]) TKM_MUST_CHECK;

/* SCP02 session-key derivation constants (GP 2.2 E.4.1). */
#define TKM_SCP02_CMAC 0x0101
#define TKM_SCP02_RMAC 0x0102
#define TKM_SCP02_DEK  0x0181
#define TKM_SCP02_ENC  0x0182
/* 3DES-CBC, IV 0, over const || seq || 00*12. */
int tkm_scp02_sk(const uint8_t key[16], unsigned constant, const uint8_t seq[2],
    uint8_t out[16]) TKM_MUST_CHECK;

#endif
