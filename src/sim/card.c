/*
 * card.c - the JT/T 978 user card's commands (card.h, docs/sim.md).
 *
 * E-purse (JT/T 978 / PBOC 2.0 part 2, electronic purse):
 *   INITIALIZE FOR LOAD      80 50 00 02 0B  ki amount term           10
 *     -> balance 4 | online SN 2 | key version 1 | alg 1 | rnd 4 | MAC1 4
 *   CREDIT FOR LOAD          80 52 00 00 0B  date time MAC2           04
 *     -> TAC 4
 *   INITIALIZE FOR PURCHASE  80 50 01 02 0B  ki amount term           0F
 *     -> balance 4 | offline SN 2 | overdraft 3 | key version 1 |
 *        alg 1 | rnd 4
 *   DEBIT FOR PURCHASE       80 54 01 00 0F  term SN date time MAC1   08
 *     -> TAC 4 | MAC2 4
 * The session keys, MACs and TACs are purse.h's. A load or purchase
 * changes balance and serial number only when its MAC verifies, all at
 * once, after every check; a wrong MAC ends the transaction.
 *
 * EMV (PBOC 2.0 e-cash, DES cards): GENERATE AC with the AC key (the ICC
 * master key: the business MK-AC diversified by the ASN, which is option
 * A with Y = ASN), PBOC session key by ATC, AC over the command data ||
 * ATC with ISO 9797-1 alg 3 and 80 padding; issuer authentication of the
 * ARPC (methods 1 and 2) -- as the HSM's KW scheme 9 computes them.
 */
#include <string.h>

#include "card_impl.h"
#include "tkm/crypto.h"
#include "tkm/emv.h"
#include "tkm/mac.h"
#include "tkm/mem.h"
#include "tkm/purse.h"

#define TYPE_LOAD     0x02 /* e-purse load (ED would be 01) */
#define TYPE_PURCHASE 0x06 /* e-purse purchase (ED would be 05) */
#define SFI_0015      0x15
#define CID_ARQC      0x80

const uint8_t sim_card_aid[SIM_CARD_AID_LEN] = {
    0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05};

/* Spec appendix 2, in its order; the slot is the row. */
static const struct key_row {
	const char *name;
	uint8_t usage, index;
} key_rows[SIM_CARD_NKEYS] = {
    {"app_maint_01", SIM_KEY_MAINT, 1},
    {"app_maint_02", SIM_KEY_MAINT, 2},
    {"app_maint_03", SIM_KEY_MAINT, 3},
    {"purchase_01", SIM_KEY_PURCHASE, 1},
    {"purchase_02", SIM_KEY_PURCHASE, 2},
    {"load_01", SIM_KEY_LOAD, 1},
    {"load_02", SIM_KEY_LOAD, 2},
    {"load_03", SIM_KEY_LOAD, 3},
    {"tac", SIM_KEY_TAC, 1},
    {"app_lock", SIM_KEY_LOCK, 1},
    {"app_unlock", SIM_KEY_UNLOCK, 1},
    {"ext_auth_01", SIM_KEY_EXT_AUTH, 1},
    {"ext_auth_02", SIM_KEY_EXT_AUTH, 2},
    {"ext_auth_03", SIM_KEY_EXT_AUTH, 3},
    {"unload", SIM_KEY_UNLOAD, 1},
    {"overdraft", SIM_KEY_OVERDRAFT, 1},
    {"ecash_ac", SIM_KEY_AC, 1},
    {"ecash_record", SIM_KEY_RECORD, 1},
    {"ecash_mac", SIM_KEY_SM_MAC, 1},
    {"ecash_enc", SIM_KEY_SM_ENC, 1},
    {"ext_open", SIM_KEY_EXT_OPEN, 1},
    {"ext_manage_01", SIM_KEY_EXT_MANAGE, 1},
    {"ext_manage_02", SIM_KEY_EXT_MANAGE, 2},
};

int
sim_card_slot(unsigned usage, unsigned index)
{
	int i;

	for (i = 0; i < SIM_CARD_NKEYS; i++)
		if (key_rows[i].usage == usage && key_rows[i].index == index)
			return i;
	return -1;
}

void
sim_card_slot_id(int i, uint8_t *usage, uint8_t *index)
{
	*usage = key_rows[i].usage;
	*index = key_rows[i].index;
}

int
sim_card_key_by_name(const char *name, uint8_t *usage, uint8_t *index)
{
	size_t i;

	for (i = 0; name != NULL && i < SIM_CARD_NKEYS; i++) {
		if (strcmp(key_rows[i].name, name) == 0) {
			*usage = key_rows[i].usage;
			*index = key_rows[i].index;
			return TKM_OK;
		}
	}
	return TKM_ERR_INPUT;
}

const char *
sim_card_key_name(unsigned usage, unsigned index)
{
	int i = sim_card_slot(usage, index);

	return i < 0 ? NULL : key_rows[i].name;
}

/* The key (usage, index) if the card has it, else NULL. */
static const struct sim_key *
key_of(const struct sim_card *c, unsigned usage, unsigned index)
{
	int i = sim_card_slot(usage, index);

	return i >= 0 && c->keys[i].set ? &c->keys[i] : NULL;
}

static void
volatile_clear(struct sim_card *c)
{
	memset(&c->ch, 0, sizeof(c->ch));
	memset(&c->ses, 0, sizeof(c->ses));
	memset(&c->arqc, 0, sizeof(c->arqc));
	c->auth = 0;
}

/* ---- SELECT, READ BINARY, GET BALANCE ---------------------------------- */

/* File 0015, public application data (JT/T 978): issuer id 8, app type 1,
 * version 1, ASN 10, start date 4, expiry date 4, reserved 2. Only the ASN
 * is the card's own; the rest is fixed in the emulator. */
static void
file_0015(const struct sim_card *c, uint8_t f[SIM_CARD_FILE_0015_LEN])
{
	static const uint8_t dates[8] = {
	    0x20, 0x00, 0x01, 0x01, 0x20, 0x99, 0x12, 0x31};

	memset(f, 0, SIM_CARD_FILE_0015_LEN);
	f[8] = 0x02; /* e-purse application */
	f[9] = 0x01;
	memcpy(f + 12, c->asn, SIM_ASN_LEN); /* 10 bytes, 00 00 || ASN */
	memcpy(f + 20, dates, sizeof(dates));
}

/* FCI: 6F { 84 AID, A5 { 9F0C file 0015 } } */
static unsigned
fci(const struct sim_card *c, const struct sim_apdu *a, struct tkm_wr *out)
{
	uint8_t f[2 + 2 + SIM_CARD_AID_LEN + 2 + 3 + SIM_CARD_FILE_0015_LEN];
	size_t n = 0, want;
	unsigned sw;

	f[n++] = 0x6F;
	f[n++] = (uint8_t)(sizeof(f) - 2);
	f[n++] = 0x84;
	f[n++] = SIM_CARD_AID_LEN;
	memcpy(f + n, sim_card_aid, SIM_CARD_AID_LEN);
	n += SIM_CARD_AID_LEN;
	f[n++] = 0xA5;
	f[n++] = 3 + SIM_CARD_FILE_0015_LEN;
	f[n++] = 0x9F;
	f[n++] = 0x0C;
	f[n++] = SIM_CARD_FILE_0015_LEN;
	file_0015(c, f + n);
	want = sim_le(a, sizeof(f), &sw);
	if (sw == SIM_SW_OK)
		tkm_wr_bytes(out, f, want);
	return sw;
}

static unsigned
cmd_select(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_card *c = obj;
	int adf;

	if (a->p1 == 0x04) { /* by DF name */
		if (a->lc != SIM_CARD_AID_LEN ||
		    memcmp(a->data, sim_card_aid, SIM_CARD_AID_LEN) != 0)
			return SIM_SW_NOT_FOUND;
		adf = 1;
	} else if (a->p1 == 0x00) { /* by file id */
		if (a->lc != 2)
			return SIM_SW_WRONG_LENGTH;
		if (a->data[0] == 0x3F && a->data[1] == 0x00)
			adf = 0;
		else if (a->data[0] == (SIM_CARD_ADF_FID >> 8) &&
			 a->data[1] == (SIM_CARD_ADF_FID & 0xFF))
			adf = 1;
		else
			return SIM_SW_NOT_FOUND;
	} else {
		return SIM_SW_WRONG_P1P2;
	}
	volatile_clear(c);
	c->selected = adf;
	return adf ? fci(c, a, out) : SIM_SW_OK;
}

static unsigned
cmd_read_binary(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_card *c = obj;
	uint8_t f[SIM_CARD_FILE_0015_LEN];
	size_t n;
	unsigned sw;

	if (a->p1 != (0x80 | SFI_0015))
		return SIM_SW_NOT_FOUND;
	if (a->p2 >= sizeof(f))
		return SIM_SW_WRONG_OFFSET;
	file_0015(c, f);
	n = sim_le(a, sizeof(f) - a->p2, &sw);
	if (sw == SIM_SW_OK)
		tkm_wr_bytes(out, f + a->p2, n);
	return sw;
}

static unsigned
cmd_get_balance(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_card *c = obj;
	uint8_t b[4];

	(void)a;
	sim_put_be32(b, c->balance);
	tkm_wr_bytes(out, b, sizeof(b));
	return SIM_SW_OK;
}

static unsigned
cmd_get_challenge(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_card *c = obj;

	return sim_get_challenge(&c->ch, c->rng, c->rng_ctx, a, out);
}

/* ---- e-purse ------------------------------------------------------------ */

/* The fields INITIALIZE fixed, for the purse.h functions. */
static void
txn_of(const struct sim_session *s, uint8_t type, uint32_t sn,
    struct tkm_purse_txn *t)
{
	memset(t, 0, sizeof(*t));
	sim_put_be32(t->amount, s->amount);
	t->type = type;
	memcpy(t->term, s->term, SIM_TERM_LEN);
	memcpy(t->rnd, s->rnd, SIM_RND_LEN);
	sim_put_be16(t->serial, sn);
}

/* INITIALIZE data: key index 1 | amount 4 | terminal 6 */
static void
session_of(const struct sim_apdu *a, int kind, struct sim_session *s)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->ki = a->data[0];
	s->amount = sim_be32(a->data + 1);
	memcpy(s->term, a->data + 5, SIM_TERM_LEN);
}

static int
load_sk(const struct sim_card *c, const struct sim_key *k,
    const struct tkm_purse_txn *t, uint8_t sk[16], size_t *sklen)
{
	return tkm_purse_load_sk(c->alg, k->k, t, sk, sklen);
}

static unsigned
cmd_init_load(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_card *c = obj;
	const struct sim_key *k;
	struct tkm_purse_txn t;
	struct sim_session s;
	uint8_t sk[16], r[16];
	size_t sklen = 0;
	unsigned sw = SIM_SW_INTERNAL;

	memset(&c->ses, 0, sizeof(c->ses)); /* a new INITIALIZE ends any */
	session_of(a, SIM_SES_LOAD, &s);
	if ((k = key_of(c, SIM_KEY_LOAD, s.ki)) == NULL)
		return SIM_SW_KEY_INDEX;
	if (key_of(c, SIM_KEY_TAC, 1) == NULL)
		return SIM_SW_NO_KEY;
	if (c->online_sn >= SIM_SN_MAX)
		return SIM_SW_SN_MAX;
	if (s.amount > c->max_balance - c->balance)
		return SIM_SW_CONDITIONS; /* above the card's maximum */
	if (sim_random(c->rng, c->rng_ctx, s.rnd, SIM_RND_LEN) != TKM_OK)
		return SIM_SW_INTERNAL;
	txn_of(&s, TYPE_LOAD, c->online_sn, &t);
	sim_put_be32(t.balance, c->balance);
	sim_put_be32(r, c->balance);
	sim_put_be16(r + 4, c->online_sn);
	r[6] = s.ki; /* key version: the key's index */
	r[7] = sim_alg_id(c->alg);
	memcpy(r + 8, s.rnd, SIM_RND_LEN);
	if (load_sk(c, k, &t, sk, &sklen) == TKM_OK &&
	    tkm_purse_load_mac1(c->alg, sk, sklen, &t, r + 12) == TKM_OK) {
		c->ses = s;
		tkm_wr_bytes(out, r, sizeof(r));
		sw = SIM_SW_OK;
	}
	tkm_cleanse(sk, sizeof(sk));
	return sw;
}

/* The load's effect once MAC2 verified: TAC, balance, serial, proof. */
static unsigned
credit(struct sim_card *c, const struct sim_session *s, struct tkm_purse_txn *t,
    struct tkm_wr *out)
{
	const struct sim_key *dtk = key_of(c, SIM_KEY_TAC, 1);
	uint8_t tac[4];

	if (dtk == NULL)
		return SIM_SW_NO_KEY;
	if (s->amount > c->max_balance - c->balance)
		return SIM_SW_CONDITIONS;
	sim_put_be32(t->balance, c->balance + s->amount);
	if (tkm_purse_load_tac(c->alg, dtk->k, t, tac) != TKM_OK)
		return SIM_SW_INTERNAL;
	c->balance += s->amount;
	c->last.kind = SIM_SES_LOAD;
	c->last.sn = c->online_sn++;
	memcpy(c->last.tac, tac, 4);
	tkm_wr_bytes(out, tac, 4);
	return SIM_SW_OK;
}

/* data: date 4 | time 3 | MAC2 4 */
static unsigned
cmd_credit_load(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_card *c = obj;
	struct sim_session s = c->ses;
	const struct sim_key *k;
	struct tkm_purse_txn t;
	uint8_t sk[16], mac2[4];
	size_t sklen = 0;
	unsigned sw;

	memset(&c->ses, 0, sizeof(c->ses)); /* one try */
	if (s.kind != SIM_SES_LOAD ||
	    (k = key_of(c, SIM_KEY_LOAD, s.ki)) == NULL)
		return SIM_SW_CONDITIONS;
	txn_of(&s, TYPE_LOAD, c->online_sn, &t);
	memcpy(t.date, a->data, 4);
	memcpy(t.time, a->data + 4, 3);
	if (load_sk(c, k, &t, sk, &sklen) != TKM_OK ||
	    tkm_purse_load_mac2(c->alg, sk, sklen, &t, mac2) != TKM_OK)
		sw = SIM_SW_INTERNAL;
	else if (!tkm_ct_eq(mac2, a->data + 7, 4))
		sw = SIM_SW_MAC_INVALID;
	else
		sw = credit(c, &s, &t, out);
	if (sw == SIM_SW_OK)
		memcpy(c->last.mac, mac2, 4);
	tkm_cleanse(sk, sizeof(sk));
	return sw;
}

static unsigned
cmd_init_purchase(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_card *c = obj;
	struct sim_session s;
	uint8_t r[15];

	memset(&c->ses, 0, sizeof(c->ses));
	session_of(a, SIM_SES_PURCHASE, &s);
	if (key_of(c, SIM_KEY_PURCHASE, s.ki) == NULL)
		return SIM_SW_KEY_INDEX;
	if (key_of(c, SIM_KEY_TAC, 1) == NULL)
		return SIM_SW_NO_KEY;
	if (c->offline_sn >= SIM_SN_MAX)
		return SIM_SW_SN_MAX;
	if (s.amount > c->balance)
		return SIM_SW_BALANCE;
	if (sim_random(c->rng, c->rng_ctx, s.rnd, SIM_RND_LEN) != TKM_OK)
		return SIM_SW_INTERNAL;
	sim_put_be32(r, c->balance);
	sim_put_be16(r + 4, c->offline_sn);
	memset(r + 6, 0, 3); /* overdraft limit: none */
	r[9] = s.ki;
	r[10] = sim_alg_id(c->alg);
	memcpy(r + 11, s.rnd, SIM_RND_LEN);
	c->ses = s;
	tkm_wr_bytes(out, r, sizeof(r));
	return SIM_SW_OK;
}

/* The purchase's effect once MAC1 verified: TAC, MAC2, balance, serial. */
static unsigned
debit(struct sim_card *c, const struct sim_session *s, const uint8_t *sk,
    size_t sklen, struct tkm_purse_txn *t, struct tkm_wr *out)
{
	const struct sim_key *dtk = key_of(c, SIM_KEY_TAC, 1);
	uint8_t r[8];

	if (dtk == NULL)
		return SIM_SW_NO_KEY;
	if (s->amount > c->balance)
		return SIM_SW_BALANCE;
	if (tkm_purse_purchase_tac(c->alg, dtk->k, t, r) != TKM_OK ||
	    tkm_purse_purchase_mac2(c->alg, sk, sklen, t, r + 4) != TKM_OK)
		return SIM_SW_INTERNAL;
	c->balance -= s->amount;
	c->last.kind = SIM_SES_PURCHASE;
	c->last.sn = c->offline_sn++;
	memcpy(c->last.tac, r, 4);
	memcpy(c->last.mac, r + 4, 4);
	tkm_wr_bytes(out, r, sizeof(r));
	return SIM_SW_OK;
}

/* data: terminal SN 4 | date 4 | time 3 | MAC1 4 */
static unsigned
cmd_debit(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_card *c = obj;
	struct sim_session s = c->ses;
	const struct sim_key *k;
	struct tkm_purse_txn t;
	uint8_t sk[16], mac1[4];
	size_t sklen = 0;
	unsigned sw;

	memset(&c->ses, 0, sizeof(c->ses));
	if (s.kind != SIM_SES_PURCHASE ||
	    (k = key_of(c, SIM_KEY_PURCHASE, s.ki)) == NULL)
		return SIM_SW_CONDITIONS;
	txn_of(&s, TYPE_PURCHASE, c->offline_sn, &t);
	memcpy(t.term_sn, a->data, 4);
	memcpy(t.date, a->data + 4, 4);
	memcpy(t.time, a->data + 8, 3);
	if (tkm_purse_purchase_sk(c->alg, k->k, &t, sk, &sklen) != TKM_OK ||
	    tkm_purse_purchase_mac1(c->alg, sk, sklen, &t, mac1) != TKM_OK)
		sw = SIM_SW_INTERNAL;
	else if (!tkm_ct_eq(mac1, a->data + 11, 4))
		sw = SIM_SW_MAC_INVALID;
	else
		sw = debit(c, &s, sk, sklen, &t, out);
	tkm_cleanse(sk, sizeof(sk));
	return sw;
}

/* P2 transaction type (02 load, 06 purchase), data: its serial 2 */
static unsigned
cmd_prove(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_card *c = obj;
	unsigned sn = (unsigned)a->data[0] << 8 | a->data[1];
	int kind;

	if (a->p2 == TYPE_LOAD)
		kind = SIM_SES_LOAD;
	else if (a->p2 == TYPE_PURCHASE)
		kind = SIM_SES_PURCHASE;
	else
		return SIM_SW_WRONG_P1P2;
	if (c->last.kind != kind || c->last.sn != sn)
		return SIM_SW_NO_PROOF;
	tkm_wr_bytes(out, c->last.mac, 4);
	tkm_wr_bytes(out, c->last.tac, 4);
	return SIM_SW_OK;
}

/* ---- authentication ----------------------------------------------------- */

/* EXTERNAL AUTHENTICATE with key P2: data = E(key, challenge || 00..) */
static unsigned
ext_auth(struct sim_card *c, const struct sim_apdu *a)
{
	const struct sim_key *k = key_of(c, SIM_KEY_EXT_AUTH, a->p2);
	struct sim_challenge ch = c->ch;
	uint8_t blk[16], enc[16];
	unsigned sw, i = a->p2 - 1u;

	memset(&c->ch, 0, sizeof(c->ch));
	if (a->p2 < 1 || a->p2 > SIM_CARD_EXT_AUTH_KEYS)
		return SIM_SW_WRONG_P1P2;
	if (k == NULL)
		return SIM_SW_NO_KEY;
	if (a->lc != tkm_block_len(c->alg))
		return SIM_SW_WRONG_LENGTH;
	if (c->tries[i] == 0)
		return SIM_SW_AUTH_BLOCKED;
	if (ch.len == 0)
		return SIM_SW_CONDITIONS;
	sim_challenge_block(c->alg, &ch, blk);
	if (tkm_encrypt_block(c->alg, k->k, SIM_KEY_LEN, blk, enc) != TKM_OK)
		sw = SIM_SW_INTERNAL;
	else if (tkm_ct_eq(enc, a->data, a->lc)) {
		c->tries[i] = SIM_CARD_EXT_AUTH_TRIES;
		c->auth |= 1u << i;
		sw = SIM_SW_OK;
	} else {
		c->tries[i]--;
		sw = SIM_SW_TRIES_LEFT | c->tries[i];
	}
	tkm_cleanse(enc, sizeof(enc));
	return sw;
}

/*
 * Issuer authentication (EMV): ARPC 8 || ARC 2 (method 1, Lc 0A), or
 * ARPC 4 || CSU 4 || proprietary data 0..8 (method 2, any other Lc), for
 * the last ARQC; once.
 */
static unsigned
issuer_auth(struct sim_card *c, const struct sim_apdu *a)
{
	const struct sim_key *k = key_of(c, SIM_KEY_AC, 1);
	struct sim_arqc q = c->arqc;
	uint8_t sk[16], atc[2], arpc[8];
	unsigned sw = SIM_SW_INTERNAL;
	int rc;

	memset(&c->arqc, 0, sizeof(c->arqc));
	if (!q.valid || k == NULL)
		return SIM_SW_CONDITIONS;
	sim_put_be16(atc, q.atc);
	if (tkm_pboc_sk(k->k, atc, sk) != TKM_OK)
		goto out;
	if (a->lc == 10)
		rc = tkm_emv_arpc1(sk, q.ac, a->data + 8, arpc);
	else
		rc = tkm_emv_arpc2(
		    sk, q.ac, a->data + 4, a->data + 8, a->lc - 8, arpc);
	if (rc == TKM_OK)
		sw = tkm_ct_eq(arpc, a->data, a->lc == 10 ? 8 : 4)
			 ? SIM_SW_OK
			 : SIM_SW_VERIFY_FAILED;
out:
	tkm_cleanse(sk, sizeof(sk));
	return sw;
}

/* P2 00: issuer authentication; 01..03: external authentication key */
static unsigned
cmd_ext_auth(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	(void)out;
	return a->p2 == 0 ? issuer_auth(obj, a) : ext_auth(obj, a);
}

/* GENERATE AC: P1 80 ARQC, 40 TC, 00 AAC; response format 1:
 * 80 0B | CID 1 | ATC 2 | AC 8 */
static unsigned
cmd_generate_ac(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_card *c = obj;
	const struct sim_key *k = key_of(c, SIM_KEY_AC, 1);
	uint8_t m[SIM_APDU_MAX_DATA], sk[16], r[13];
	int rc;

	if ((a->p1 & 0x3F) != 0 || (a->p1 & 0xC0) == 0xC0)
		return SIM_SW_WRONG_P1P2; /* no CDA; C0 is RFU */
	if (c->alg != TKM_DES)
		return SIM_SW_NOT_SUPPORTED; /* KW and emv.h are 3DES */
	if (k == NULL)
		return SIM_SW_NO_KEY;
	if (a->has_le && a->le != 256 && a->le != sizeof(r))
		return SIM_SW_WRONG_LE | (unsigned)sizeof(r);
	if (c->atc >= SIM_SN_MAX)
		return SIM_SW_CONDITIONS;
	memset(&c->arqc, 0, sizeof(c->arqc));
	r[0] = 0x80;
	r[1] = 11;
	r[2] = a->p1; /* CID */
	sim_put_be16(r + 3, c->atc + 1);
	memcpy(m, a->data, a->lc);
	memcpy(m + a->lc, r + 3, 2);
	rc = tkm_pboc_sk(k->k, r + 3, sk);
	if (rc == TKM_OK)
		rc = tkm_emv_ac(sk, m, a->lc + 2, TKM_PAD_80, r + 5);
	tkm_cleanse(sk, sizeof(sk));
	if (rc != TKM_OK)
		return SIM_SW_INTERNAL;
	c->atc++;
	if (a->p1 == CID_ARQC) {
		c->arqc.valid = 1;
		c->arqc.atc = c->atc;
		memcpy(c->arqc.ac, r + 5, SIM_AC_LEN);
	}
	tkm_wr_bytes(out, r, sizeof(r));
	return SIM_SW_OK;
}

/* ---- key writing -------------------------------------------------------- */

/* 84D4 P1 usage P2 index: the key under the current SM-ENC key (sm.h) */
static unsigned
cmd_write_key(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_card *c = obj;
	const struct sim_key *p = key_of(c, SIM_KEY_SM_ENC, 1);
	int slot = sim_card_slot(a->p1, a->p2);
	uint8_t key[SIM_KEY_LEN];
	unsigned sw;

	(void)out;
	if (slot < 0) {
		memset(&c->ch, 0, sizeof(c->ch));
		return SIM_SW_WRONG_P1P2;
	}
	if (p == NULL) {
		memset(&c->ch, 0, sizeof(c->ch));
		return SIM_SW_CONDITIONS;
	}
	sw = sim_sm_open_key(c->alg, p->k, &c->ch, a, key);
	if (sw == SIM_SW_OK) {
		memcpy(c->keys[slot].k, key, SIM_KEY_LEN);
		c->keys[slot].set = 1;
		if (a->p1 == SIM_KEY_EXT_AUTH)
			c->tries[a->p2 - 1] = SIM_CARD_EXT_AUTH_TRIES;
		/* a transaction never runs across a key change */
		memset(&c->ses, 0, sizeof(c->ses));
		memset(&c->arqc, 0, sizeof(c->arqc));
	}
	tkm_cleanse(key, sizeof(key));
	return sw;
}

/* ---- dispatch ----------------------------------------------------------- */

#define ADF SIM_CMD_ADF
#define ANY SIM_ANY

static const struct sim_cmd card_cmds[] = {
    {0xA4, 0x00, ANY, 0x00, 1, 16, -1, 0, cmd_select, "SELECT"},
    {0xB0, 0x00, ANY, ANY, 0, 0, -1, ADF, cmd_read_binary, "READ BINARY"},
    {0x84, 0x00, 0x00, 0x00, 0, 0, -1, 0, cmd_get_challenge, "GET CHALLENGE"},
    {0x82, 0x00, 0x00, ANY, 8, 16, 0, ADF, cmd_ext_auth,
	"EXTERNAL AUTHENTICATE"},
    {0x5C, 0x80, 0x00, 0x02, 0, 0, 4, ADF, cmd_get_balance, "GET BALANCE"},
    {0x50, 0x80, 0x00, 0x02, 11, 11, 16, ADF, cmd_init_load,
	"INITIALIZE FOR LOAD"},
    {0x50, 0x80, 0x01, 0x02, 11, 11, 15, ADF, cmd_init_purchase,
	"INITIALIZE FOR PURCHASE"},
    {0x52, 0x80, 0x00, 0x00, 11, 11, 4, ADF, cmd_credit_load,
	"CREDIT FOR LOAD"},
    {0x54, 0x80, 0x01, 0x00, 15, 15, 8, ADF, cmd_debit, "DEBIT FOR PURCHASE"},
    {0x5A, 0x80, 0x00, ANY, 2, 2, 8, ADF, cmd_prove, "GET TRANSACTION PROVE"},
    {0xAE, 0x80, ANY, 0x00, 1, 253, -1, ADF, cmd_generate_ac, "GENERATE AC"},
    {0xD4, 0x84, ANY, ANY, 0x1C, 0x24, 0, ADF, cmd_write_key, "WRITE KEY"},
};

int
sim_card_apdu(struct sim_card *c, const uint8_t *cmd, size_t len, uint8_t *resp,
    size_t cap, size_t *rlen)
{
	if (c == NULL) {
		if (rlen != NULL)
			*rlen = 0;
		return TKM_ERR_INPUT;
	}
	return sim_dispatch(card_cmds, sizeof(card_cmds) / sizeof(card_cmds[0]),
	    c, c->selected, cmd, len, resp, cap, rlen);
}

/* ---- life cycle and accessors ------------------------------------------- */

struct sim_card *
sim_card_alloc(void)
{
	return tkm_secure_alloc(sizeof(struct sim_card));
}

int
sim_card_new(const struct sim_card_params *p, struct sim_card **out)
{
	struct sim_card *c;
	size_t i;

	if (out == NULL)
		return TKM_ERR_INPUT;
	*out = NULL;
	if (p == NULL)
		return TKM_ERR_INPUT;
	if (p->alg != TKM_DES && p->alg != TKM_SM4)
		return TKM_ERR_MODE;
	if (p->max_balance > SIM_CARD_BALANCE_LIMIT)
		return TKM_ERR_INPUT;
	if ((c = sim_card_alloc()) == NULL)
		return TKM_ERR_NOMEM;
	c->alg = p->alg;
	memcpy(c->asn, p->asn, SIM_ASN_LEN);
	c->max_balance = p->max_balance ? p->max_balance : SIM_CARD_MAX_BALANCE;
	for (i = 0; i < SIM_CARD_EXT_AUTH_KEYS; i++)
		c->tries[i] = SIM_CARD_EXT_AUTH_TRIES;
	i = (size_t)sim_card_slot(SIM_KEY_SM_ENC, 1);
	memcpy(c->keys[i].k, p->tk, SIM_KEY_LEN);
	c->keys[i].set = 1;
	*out = c;
	return TKM_OK;
}

void
sim_card_free(struct sim_card *c)
{
	if (c != NULL)
		tkm_secure_free(c, sizeof(*c));
}

void
sim_card_reset(struct sim_card *c)
{
	if (c == NULL)
		return;
	volatile_clear(c);
	c->selected = 0;
}

void
sim_card_set_rng(struct sim_card *c, sim_rng_fn rng, void *ctx)
{
	if (c == NULL)
		return;
	c->rng = rng;
	c->rng_ctx = ctx;
}

int
sim_card_set_key(struct sim_card *c, unsigned usage, unsigned index,
    const uint8_t key[SIM_KEY_LEN])
{
	int i;

	if (c == NULL || key == NULL)
		return TKM_ERR_INPUT;
	if ((i = sim_card_slot(usage, index)) < 0)
		return TKM_ERR_INDEX;
	memcpy(c->keys[i].k, key, SIM_KEY_LEN);
	c->keys[i].set = 1;
	if (usage == SIM_KEY_EXT_AUTH)
		c->tries[index - 1] = SIM_CARD_EXT_AUTH_TRIES;
	memset(&c->ses, 0, sizeof(c->ses));
	memset(&c->arqc, 0, sizeof(c->arqc));
	return TKM_OK;
}

int
sim_card_alg(const struct sim_card *c)
{
	return c->alg;
}

void
sim_card_asn(const struct sim_card *c, uint8_t asn[SIM_ASN_LEN])
{
	memcpy(asn, c->asn, SIM_ASN_LEN);
}

uint32_t
sim_card_balance(const struct sim_card *c)
{
	return c->balance;
}

unsigned
sim_card_online_sn(const struct sim_card *c)
{
	return c->online_sn;
}

unsigned
sim_card_offline_sn(const struct sim_card *c)
{
	return c->offline_sn;
}

unsigned
sim_card_atc(const struct sim_card *c)
{
	return c->atc;
}

int
sim_card_has_key(const struct sim_card *c, unsigned usage, unsigned index)
{
	return key_of(c, usage, index) != NULL;
}

unsigned
sim_card_auth(const struct sim_card *c)
{
	return c->auth;
}
