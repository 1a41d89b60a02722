/*
 * purse.c - e-purse session keys, MACs and TACs of JT/T 978 and the PBOC
 * e-purse (DESIGN §3.2).
 *
 * Every MAC here is the PBOC MAC (mac.h: IV 0, pad 80 always) cut to its
 * leftmost 4 bytes. The input blocks, in order (sizes in bytes):
 *
 *   load session key S       rnd 4 | online SN 2 | 80 00
 *   purchase session key S   rnd 4 | offline SN 2 | terminal SN low 2
 *   load MAC1                old balance 4 | amount 4 | type 1 | term 6
 *   load MAC2                amount 4 | type 1 | term 6 | date 4 | time 3
 *   purchase MAC1            amount 4 | type 1 | term 6 | date 4 | time 3
 *   purchase MAC2            amount 4
 *   load TAC                 new balance 4 | online SN 2 | amount 4 |
 *                            type 1 | term 6 | date 4 | time 3
 *   purchase TAC             amount 4 | type 1 | term 6 | terminal SN 4 |
 *                            date 4 | time 3
 *
 * DES session key = 3DES(K, S); SM4 session key = SM4(K, S || ~S).
 */
#include <string.h>

#include "tkm/crypto.h"
#include "tkm/mac.h"
#include "tkm/mem.h"
#include "tkm/purse.h"

#define MAX_MSG 24 /* the load TAC input, the longest */

/* A message assembled from fields; never longer than MAX_MSG. */
struct msg {
	uint8_t b[MAX_MSG];
	size_t n;
};

static void
put(struct msg *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static int
alg_ok(int alg)
{
	return alg == TKM_DES || alg == TKM_SM4;
}

/* Session key from process key k and the 8-byte input s. */
static int
session_key(int alg, const uint8_t k[16], const uint8_t s[8], uint8_t *sk,
    size_t *sklen)
{
	uint8_t in[16];
	size_t i;
	int rc;

	if (alg == TKM_DES) {
		rc = tkm_encrypt_block(TKM_DES, k, 16, s, sk);
		*sklen = rc == TKM_OK ? 8 : 0;
		return rc;
	}
	for (i = 0; i < 8; i++) {
		in[i] = s[i];
		in[i + 8] = (uint8_t)~s[i];
	}
	rc = tkm_encrypt_block(TKM_SM4, k, 16, in, sk);
	*sklen = rc == TKM_OK ? 16 : 0;
	tkm_cleanse(in, sizeof(in));
	return rc;
}

static int
sk_args(int alg, const uint8_t *k, const struct tkm_purse_txn *t, uint8_t *sk,
    size_t *sklen)
{
	if (sklen != NULL)
		*sklen = 0;
	if (!alg_ok(alg))
		return TKM_ERR_MODE;
	if (k == NULL || t == NULL || sk == NULL || sklen == NULL)
		return TKM_ERR_INPUT;
	memset(sk, 0, alg == TKM_DES ? 8 : 16);
	return TKM_OK;
}

int
tkm_purse_load_sk(int alg, const uint8_t dlk[16], const struct tkm_purse_txn *t,
    uint8_t *sk, size_t *sklen)
{
	uint8_t s[8];
	int rc;

	if ((rc = sk_args(alg, dlk, t, sk, sklen)) != TKM_OK)
		return rc;
	memcpy(s, t->rnd, 4);
	memcpy(s + 4, t->serial, 2);
	s[6] = 0x80;
	s[7] = 0x00;
	return session_key(alg, dlk, s, sk, sklen);
}

int
tkm_purse_purchase_sk(int alg, const uint8_t dpk[16],
    const struct tkm_purse_txn *t, uint8_t *sk, size_t *sklen)
{
	uint8_t s[8];
	int rc;

	if ((rc = sk_args(alg, dpk, t, sk, sklen)) != TKM_OK)
		return rc;
	memcpy(s, t->rnd, 4);
	memcpy(s + 4, t->serial, 2);
	memcpy(s + 6, t->term_sn + 2, 2);
	return session_key(alg, dpk, s, sk, sklen);
}

/* PBOC MAC of m under key, leftmost 4 bytes. */
static int
pboc_mac4(int alg, const uint8_t *key, size_t klen, const struct msg *m,
    uint8_t mac[TKM_PURSE_MAC_LEN])
{
	uint8_t full[TKM_MAX_BLOCK];
	size_t n;
	int rc;

	rc = tkm_mac(TKM_MAC_PBOC, alg, key, klen, NULL, m->b, m->n, TKM_PAD_80,
	    full, &n);
	if (rc == TKM_OK)
		memcpy(mac, full, TKM_PURSE_MAC_LEN);
	tkm_cleanse(full, sizeof(full));
	return rc;
}

/* Checks shared by the session-key MACs: the session key is 8 bytes for
 * DES (single-DES MAC) and 16 for SM4. */
static int
mac_args(int alg, const uint8_t *sk, size_t sklen,
    const struct tkm_purse_txn *t, uint8_t *mac)
{
	if (mac == NULL)
		return TKM_ERR_INPUT;
	memset(mac, 0, TKM_PURSE_MAC_LEN);
	if (!alg_ok(alg))
		return TKM_ERR_MODE;
	if (sklen != (alg == TKM_DES ? 8u : 16u))
		return TKM_ERR_KEY_LEN;
	if (sk == NULL || t == NULL)
		return TKM_ERR_INPUT;
	return TKM_OK;
}

int
tkm_purse_load_mac1(int alg, const uint8_t *sk, size_t sklen,
    const struct tkm_purse_txn *t, uint8_t mac[4])
{
	struct msg m = {.n = 0};
	int rc;

	if ((rc = mac_args(alg, sk, sklen, t, mac)) != TKM_OK)
		return rc;
	put(&m, t->balance, 4);
	put(&m, t->amount, 4);
	put(&m, &t->type, 1);
	put(&m, t->term, 6);
	return pboc_mac4(alg, sk, sklen, &m, mac);
}

/* amount | type | term | date | time: load MAC2 and purchase MAC1 */
static int
mac_amt_to_time(int alg, const uint8_t *sk, size_t sklen,
    const struct tkm_purse_txn *t, uint8_t mac[4])
{
	struct msg m = {.n = 0};
	int rc;

	if ((rc = mac_args(alg, sk, sklen, t, mac)) != TKM_OK)
		return rc;
	put(&m, t->amount, 4);
	put(&m, &t->type, 1);
	put(&m, t->term, 6);
	put(&m, t->date, 4);
	put(&m, t->time, 3);
	return pboc_mac4(alg, sk, sklen, &m, mac);
}

int
tkm_purse_load_mac2(int alg, const uint8_t *sk, size_t sklen,
    const struct tkm_purse_txn *t, uint8_t mac[4])
{
	return mac_amt_to_time(alg, sk, sklen, t, mac);
}

int
tkm_purse_purchase_mac1(int alg, const uint8_t *sk, size_t sklen,
    const struct tkm_purse_txn *t, uint8_t mac[4])
{
	return mac_amt_to_time(alg, sk, sklen, t, mac);
}

int
tkm_purse_purchase_mac2(int alg, const uint8_t *sk, size_t sklen,
    const struct tkm_purse_txn *t, uint8_t mac[4])
{
	struct msg m = {.n = 0};
	int rc;

	if ((rc = mac_args(alg, sk, sklen, t, mac)) != TKM_OK)
		return rc;
	put(&m, t->amount, 4);
	return pboc_mac4(alg, sk, sklen, &m, mac);
}

int
tkm_purse_tac_key(int alg, const uint8_t dtk[16], uint8_t *key, size_t *klen)
{
	size_t i;

	if (klen != NULL)
		*klen = 0;
	if (!alg_ok(alg))
		return TKM_ERR_MODE;
	if (dtk == NULL || key == NULL || klen == NULL)
		return TKM_ERR_INPUT;
	if (alg == TKM_SM4) {
		memcpy(key, dtk, 16);
		*klen = 16;
		return TKM_OK;
	}
	/* DES: the two halves of the TAC key XORed into one DES key */
	for (i = 0; i < 8; i++)
		key[i] = dtk[i] ^ dtk[i + 8];
	*klen = 8;
	return TKM_OK;
}

static int
tac(int alg, const uint8_t dtk[16], const struct msg *m, uint8_t out[4])
{
	uint8_t key[16];
	size_t klen = 0;
	int rc;

	rc = tkm_purse_tac_key(alg, dtk, key, &klen);
	if (rc == TKM_OK)
		rc = pboc_mac4(alg, key, klen, m, out);
	tkm_cleanse(key, sizeof(key));
	return rc;
}

static int
tac_args(
    int alg, const uint8_t *dtk, const struct tkm_purse_txn *t, uint8_t *out)
{
	if (out == NULL)
		return TKM_ERR_INPUT;
	memset(out, 0, TKM_PURSE_MAC_LEN);
	if (!alg_ok(alg))
		return TKM_ERR_MODE;
	if (dtk == NULL || t == NULL)
		return TKM_ERR_INPUT;
	return TKM_OK;
}

int
tkm_purse_load_tac(int alg, const uint8_t dtk[16],
    const struct tkm_purse_txn *t, uint8_t out[4])
{
	struct msg m = {.n = 0};
	int rc;

	if ((rc = tac_args(alg, dtk, t, out)) != TKM_OK)
		return rc;
	put(&m, t->balance, 4);
	put(&m, t->serial, 2);
	put(&m, t->amount, 4);
	put(&m, &t->type, 1);
	put(&m, t->term, 6);
	put(&m, t->date, 4);
	put(&m, t->time, 3);
	return tac(alg, dtk, &m, out);
}

int
tkm_purse_purchase_tac(int alg, const uint8_t dtk[16],
    const struct tkm_purse_txn *t, uint8_t out[4])
{
	struct msg m = {.n = 0};
	int rc;

	if ((rc = tac_args(alg, dtk, t, out)) != TKM_OK)
		return rc;
	put(&m, t->amount, 4);
	put(&m, &t->type, 1);
	put(&m, t->term, 6);
	put(&m, t->term_sn, 4);
	put(&m, t->date, 4);
	put(&m, t->time, 3);
	return tac(alg, dtk, &m, out);
}
