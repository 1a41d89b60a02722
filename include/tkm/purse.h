/*
 * purse.h - JT/T 978 / PBOC electronic purse cryptography (DESIGN §3.2).
 *
 * DES: the process keys (DLK load, DPK purchase, DTK TAC) are 16 bytes,
 * the session keys 8 bytes and the MACs single-DES PBOC MACs.
 * SM4: all keys 16 bytes, session key SM4(K, S || ~S), SM4 PBOC MACs.
 * MACs and TACs are 4 bytes.
 *
 * Field widths (bytes): balance and amount 4, type 1, terminal id 6,
 * date 4 (YYYYMMDD BCD), time 3 (hhmmss BCD), online/offline serial 2,
 * random 4, terminal transaction serial 4.
 */
#ifndef TKM_PURSE_H
#define TKM_PURSE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TKM_PURSE_MAC_LEN 4

struct tkm_purse_txn {
	uint8_t balance[4]; /* load: old balance for MAC1, new for TAC */
	uint8_t amount[4];
	uint8_t type;    /* 01/02 load, 05/06 purchase */
	uint8_t term[6]; /* terminal id */
	uint8_t date[4];
	uint8_t time[3];
	uint8_t rnd[4];     /* card challenge */
	uint8_t serial[2];  /* online (load) or offline (purchase) serial */
	uint8_t term_sn[4]; /* terminal transaction serial (purchase) */
};

/* Session key: 8 bytes (DES) or 16 bytes (SM4) into sk, *sklen set. */
int tkm_purse_load_sk(int alg, const uint8_t dlk[16],
    const struct tkm_purse_txn *t, uint8_t *sk, size_t *sklen) TKM_MUST_CHECK;
int tkm_purse_purchase_sk(int alg, const uint8_t dpk[16],
    const struct tkm_purse_txn *t, uint8_t *sk, size_t *sklen) TKM_MUST_CHECK;

/* MACs under a session key (sklen 8 DES, 16 SM4). */
int tkm_purse_load_mac1(int alg, const uint8_t *sk, size_t sklen,
    const struct tkm_purse_txn *t, uint8_t mac[4]) TKM_MUST_CHECK;
int tkm_purse_load_mac2(int alg, const uint8_t *sk, size_t sklen,
    const struct tkm_purse_txn *t, uint8_t mac[4]) TKM_MUST_CHECK;
int tkm_purse_purchase_mac1(int alg, const uint8_t *sk, size_t sklen,
    const struct tkm_purse_txn *t, uint8_t mac[4]) TKM_MUST_CHECK;
int tkm_purse_purchase_mac2(int alg, const uint8_t *sk, size_t sklen,
    const struct tkm_purse_txn *t, uint8_t mac[4]) TKM_MUST_CHECK;

/*
 * TACs under the (card-level) TAC key DTK of 16 bytes: DES uses
 * DTK_L xor DTK_R as a single-DES key, SM4 uses DTK.
 * Load TAC: new balance || online serial || amount || type || term ||
 * date || time.  Purchase TAC: amount || type || term || term_sn ||
 * date || time.
 */
int tkm_purse_load_tac(int alg, const uint8_t dtk[16],
    const struct tkm_purse_txn *t, uint8_t tac[4]) TKM_MUST_CHECK;
int tkm_purse_purchase_tac(int alg, const uint8_t dtk[16],
    const struct tkm_purse_txn *t, uint8_t tac[4]) TKM_MUST_CHECK;

/* The TAC MAC key itself (8 bytes DES, 16 SM4), for the HSM's UB scheme 2. */
int tkm_purse_tac_key(
    int alg, const uint8_t dtk[16], uint8_t *key, size_t *klen) TKM_MUST_CHECK;

#endif
