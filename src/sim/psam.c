/*
 * psam.c - the PSAM emulator (psam.h, docs/sim.md).
 *
 *   INIT SAM FOR PURCHASE    80 70 00 00 Lc  data                      08
 *     data: card rnd 4 | card offline SN 2 | amount 4 | type 1 |
 *           date 4 | time 3 | key version 1 | alg id 1 | card ASN 8 |
 *           [factor 8 | [factor 8]]          (Lc 1C, 24 or 2C)
 *     -> terminal SN 4 | MAC1 4
 *   CREDIT SAM FOR PURCHASE  80 72 00 00 04  MAC2
 *
 * The card's purchase key is the master key of (alg, version) diversified
 * by the factors from the last one given to the ASN (a second factor is the
 * upper level, DESIGN §3.2), so that one factor -- the ASN -- is
 * the business key's card key of the KMS. The session key, MAC1 and MAC2
 * are purse.h's; the terminal serial number counts every INIT SAM FOR
 * PURCHASE that answered 9000.
 *
 * State file:
 *   TKMS-SIMPSAM 1
 *   term 12H
 *   term-sn N                 0..4294967295, the next purchase's
 *   tk DES 32H|-
 *   tk SM4 32H|-
 *   key DES|SM4 VERSION 32H   0..16 lines, DES first, versions ascending
 *   selected 0|1
 *   challenge -|8H|16H|32H
 *   session -|DES SK(16H) AMOUNT|SM4 SK(32H) AMOUNT
 *   end
 */
#include <string.h>

#include "psam.h"
#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/mem.h"
#include "tkm/purse.h"

#define MAGIC      "TKMS-SIMPSAM"
#define VERSION    "1"
#define SFI_0016   0x16
#define ADF_FID    0x1001
#define LC_1LEVEL  0x1C
#define MAX_LEVELS 3

static const uint8_t psam_aid[] = {
    0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05};

struct psam_key {
	int alg; /* 0: free */
	unsigned version;
	uint8_t k[SIM_KEY_LEN];
};

struct psam_session {
	int alg; /* 0: none */
	size_t sklen;
	uint8_t sk[16];
	uint32_t amount;
};

struct sim_psam {
	uint8_t term[SIM_TERM_ID_LEN];
	uint32_t term_sn;
	int has_tk[2]; /* [0] DES, [1] SM4 */
	uint8_t tk[2][SIM_KEY_LEN];
	struct psam_key keys[SIM_PSAM_MAX_KEYS];
	/* volatile */
	int selected;
	struct sim_challenge ch;
	struct psam_session ses;
	/* not saved */
	sim_rng_fn rng;
	void *rng_ctx;
};

static int
tk_slot(int alg)
{
	return alg == TKM_SM4;
}

static struct psam_key *
key_of(struct sim_psam *s, int alg, unsigned version)
{
	size_t i;

	for (i = 0; i < SIM_PSAM_MAX_KEYS; i++)
		if (s->keys[i].alg == alg && s->keys[i].version == version)
			return &s->keys[i];
	return NULL;
}

/* Store a key, keeping keys[] sorted (DES first, versions ascending) so
 * that the state file has one order. */
static int
put_key(struct sim_psam *s, int alg, unsigned version, const uint8_t *k)
{
	struct psam_key *slot = key_of(s, alg, version), nk;
	size_t i, n = 0;

	if (slot != NULL) {
		memcpy(slot->k, k, SIM_KEY_LEN);
		return TKM_OK;
	}
	while (n < SIM_PSAM_MAX_KEYS && s->keys[n].alg != 0)
		n++;
	if (n == SIM_PSAM_MAX_KEYS)
		return TKM_ERR_SPACE;
	nk.alg = alg;
	nk.version = version;
	memcpy(nk.k, k, SIM_KEY_LEN);
	for (i = n; i > 0; i--) {
		const struct psam_key *p = &s->keys[i - 1];

		if (p->alg < alg || (p->alg == alg && p->version < version))
			break;
		s->keys[i] = *p;
	}
	s->keys[i] = nk;
	tkm_cleanse(&nk, sizeof(nk));
	return TKM_OK;
}

/* ---- commands ----------------------------------------------------------- */

static unsigned
cmd_select(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_psam *s = obj;
	int adf;

	(void)out;
	if (a->p1 == 0x04) {
		if (a->lc != sizeof(psam_aid) ||
		    memcmp(a->data, psam_aid, sizeof(psam_aid)) != 0)
			return SIM_SW_NOT_FOUND;
		adf = 1;
	} else if (a->p1 == 0x00) {
		if (a->lc != 2)
			return SIM_SW_WRONG_LENGTH;
		if (a->data[0] == 0x3F && a->data[1] == 0x00)
			adf = 0;
		else if (a->data[0] == (ADF_FID >> 8) &&
			 a->data[1] == (ADF_FID & 0xFF))
			adf = 1;
		else
			return SIM_SW_NOT_FOUND;
	} else {
		return SIM_SW_WRONG_P1P2;
	}
	memset(&s->ch, 0, sizeof(s->ch));
	memset(&s->ses, 0, sizeof(s->ses));
	s->selected = adf;
	return SIM_SW_OK;
}

/* READ BINARY of EF 0016: the terminal number */
static unsigned
cmd_read_binary(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_psam *s = obj;
	size_t n;
	unsigned sw;

	if (a->p1 != (0x80 | SFI_0016))
		return SIM_SW_NOT_FOUND;
	if (a->p2 >= SIM_TERM_ID_LEN)
		return SIM_SW_WRONG_OFFSET;
	n = sim_le(a, SIM_TERM_ID_LEN - a->p2, &sw);
	if (sw == SIM_SW_OK)
		tkm_wr_bytes(out, s->term + a->p2, n);
	return sw;
}

static unsigned
cmd_get_challenge(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_psam *s = obj;

	return sim_get_challenge(&s->ch, s->rng, s->rng_ctx, a, out);
}

/* 84D4 P1 alg id, P2 key version: a purchase master key (sm.h) */
static unsigned
cmd_write_key(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_psam *s = obj;
	int alg = sim_alg_of_id(a->p1);
	uint8_t key[SIM_KEY_LEN];
	unsigned sw;

	(void)out;
	if (alg == 0 || a->p2 == 0) {
		memset(&s->ch, 0, sizeof(s->ch));
		return SIM_SW_WRONG_P1P2;
	}
	if (!s->has_tk[tk_slot(alg)]) {
		memset(&s->ch, 0, sizeof(s->ch));
		return SIM_SW_CONDITIONS;
	}
	sw = sim_sm_open_key(alg, s->tk[tk_slot(alg)], &s->ch, a, key);
	if (sw == SIM_SW_OK && put_key(s, alg, a->p2, key) != TKM_OK)
		sw = SIM_SW_FULL;
	if (sw == SIM_SW_OK)
		memset(&s->ses, 0, sizeof(s->ses));
	tkm_cleanse(key, sizeof(key));
	return sw;
}

/* The card's purchase key: master key derived by [f2,] [f1,] ASN. */
static int
card_key(const struct sim_apdu *a, const struct psam_key *mk, uint8_t dpk[16])
{
	uint8_t f[MAX_LEVELS * TKM_FACTOR_LEN];
	size_t extra = (a->lc - LC_1LEVEL) / TKM_FACTOR_LEN, i, n = 0;
	int rc;

	for (i = extra; i > 0; i--) /* the upper levels first */
		memcpy(f + TKM_FACTOR_LEN * n++,
		    a->data + LC_1LEVEL + TKM_FACTOR_LEN * (i - 1),
		    TKM_FACTOR_LEN);
	memcpy(f + TKM_FACTOR_LEN * n++, a->data + 20, TKM_FACTOR_LEN);
	rc = tkm_derive(mk->alg, mk->k, SIM_KEY_LEN, f, n, dpk);
	tkm_cleanse(f, sizeof(f));
	return rc;
}

/* the data of 8070 as a purse.h transaction */
static void
psam_txn(
    const struct sim_psam *s, const struct sim_apdu *a, struct tkm_purse_txn *t)
{
	const uint8_t *d = a->data;

	memset(t, 0, sizeof(*t));
	memcpy(t->rnd, d, 4);
	memcpy(t->serial, d + 4, 2);
	memcpy(t->amount, d + 6, 4);
	t->type = d[10];
	memcpy(t->date, d + 11, 4);
	memcpy(t->time, d + 15, 3);
	memcpy(t->term, s->term, SIM_TERM_ID_LEN);
	sim_put_be32(t->term_sn, s->term_sn);
}

static unsigned
cmd_init_sam(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_psam *s = obj;
	const struct psam_key *mk;
	struct psam_session ses;
	struct tkm_purse_txn t;
	uint8_t dpk[16], r[8];
	unsigned sw = SIM_SW_INTERNAL;

	memset(&s->ses, 0, sizeof(s->ses));
	if (a->lc != LC_1LEVEL && a->lc != LC_1LEVEL + 8 &&
	    a->lc != LC_1LEVEL + 16)
		return SIM_SW_WRONG_LENGTH;
	memset(&ses, 0, sizeof(ses));
	if ((ses.alg = sim_alg_of_id(a->data[19])) == 0)
		return SIM_SW_BAD_DATA;
	if ((mk = key_of(s, ses.alg, a->data[18])) == NULL)
		return SIM_SW_NO_KEY;
	if (s->term_sn == 0xFFFFFFFFu)
		return SIM_SW_SN_MAX;
	psam_txn(s, a, &t);
	ses.amount = sim_be32(t.amount);
	sim_put_be32(r, s->term_sn);
	if (card_key(a, mk, dpk) == TKM_OK &&
	    tkm_purse_purchase_sk(ses.alg, dpk, &t, ses.sk, &ses.sklen) ==
		TKM_OK &&
	    tkm_purse_purchase_mac1(ses.alg, ses.sk, ses.sklen, &t, r + 4) ==
		TKM_OK) {
		s->ses = ses;
		s->term_sn++;
		tkm_wr_bytes(out, r, sizeof(r));
		sw = SIM_SW_OK;
	}
	tkm_cleanse(dpk, sizeof(dpk));
	tkm_cleanse(&ses, sizeof(ses));
	return sw;
}

static unsigned
cmd_credit_sam(void *obj, const struct sim_apdu *a, struct tkm_wr *out)
{
	struct sim_psam *s = obj;
	struct psam_session ses = s->ses;
	struct tkm_purse_txn t;
	uint8_t mac2[4];
	unsigned sw;

	(void)out;
	memset(&s->ses, 0, sizeof(s->ses)); /* one try */
	if (ses.alg == 0)
		return SIM_SW_CONDITIONS;
	memset(&t, 0, sizeof(t));
	sim_put_be32(t.amount, ses.amount);
	if (tkm_purse_purchase_mac2(ses.alg, ses.sk, ses.sklen, &t, mac2) !=
	    TKM_OK)
		sw = SIM_SW_INTERNAL;
	else
		sw = tkm_ct_eq(mac2, a->data, 4) ? SIM_SW_OK
						 : SIM_SW_MAC_INVALID;
	tkm_cleanse(&ses, sizeof(ses));
	return sw;
}

#define ADF SIM_CMD_ADF
#define ANY SIM_ANY

static const struct sim_cmd psam_cmds[] = {
    {0xA4, 0x00, ANY, 0x00, 1, 16, 0, 0, cmd_select, "SELECT"},
    {0xB0, 0x00, ANY, ANY, 0, 0, -1, 0, cmd_read_binary, "READ BINARY"},
    {0x84, 0x00, 0x00, 0x00, 0, 0, -1, 0, cmd_get_challenge, "GET CHALLENGE"},
    {0x70, 0x80, 0x00, 0x00, 0x1C, 0x2C, 8, ADF, cmd_init_sam,
	"INIT SAM FOR PURCHASE"},
    {0x72, 0x80, 0x00, 0x00, 4, 4, 0, ADF, cmd_credit_sam,
	"CREDIT SAM FOR PURCHASE"},
    {0xD4, 0x84, ANY, ANY, 0x1C, 0x24, 0, ADF, cmd_write_key, "WRITE KEY"},
};

int
sim_psam_apdu(struct sim_psam *s, const uint8_t *cmd, size_t len, uint8_t *resp,
    size_t cap, size_t *rlen)
{
	if (s == NULL) {
		if (rlen != NULL)
			*rlen = 0;
		return TKM_ERR_INPUT;
	}
	return sim_dispatch(psam_cmds, sizeof(psam_cmds) / sizeof(psam_cmds[0]),
	    s, s->selected, cmd, len, resp, cap, rlen);
}

/* ---- life cycle --------------------------------------------------------- */

static struct sim_psam *
psam_alloc(void)
{
	return tkm_secure_alloc(sizeof(struct sim_psam));
}

int
sim_psam_new(const struct sim_psam_params *p, struct sim_psam **out)
{
	struct sim_psam *s;

	if (out == NULL)
		return TKM_ERR_INPUT;
	*out = NULL;
	if (p == NULL)
		return TKM_ERR_INPUT;
	if ((s = psam_alloc()) == NULL)
		return TKM_ERR_NOMEM;
	memcpy(s->term, p->term, SIM_TERM_ID_LEN);
	s->term_sn = p->term_sn;
	s->has_tk[0] = p->has_tk_des != 0;
	s->has_tk[1] = p->has_tk_sm4 != 0;
	if (s->has_tk[0])
		memcpy(s->tk[0], p->tk_des, SIM_KEY_LEN);
	if (s->has_tk[1])
		memcpy(s->tk[1], p->tk_sm4, SIM_KEY_LEN);
	*out = s;
	return TKM_OK;
}

void
sim_psam_free(struct sim_psam *s)
{
	if (s != NULL)
		tkm_secure_free(s, sizeof(*s));
}

void
sim_psam_reset(struct sim_psam *s)
{
	if (s == NULL)
		return;
	s->selected = 0;
	memset(&s->ch, 0, sizeof(s->ch));
	memset(&s->ses, 0, sizeof(s->ses));
}

void
sim_psam_set_rng(struct sim_psam *s, sim_rng_fn rng, void *ctx)
{
	if (s == NULL)
		return;
	s->rng = rng;
	s->rng_ctx = ctx;
}

int
sim_psam_set_key(struct sim_psam *s, int alg, unsigned version,
    const uint8_t key[SIM_KEY_LEN])
{
	if (s == NULL || key == NULL)
		return TKM_ERR_INPUT;
	if (alg != TKM_DES && alg != TKM_SM4)
		return TKM_ERR_MODE;
	if (version < 1 || version > 255)
		return TKM_ERR_INDEX;
	memset(&s->ses, 0, sizeof(s->ses));
	return put_key(s, alg, version, key);
}

void
sim_psam_term(const struct sim_psam *s, uint8_t term[SIM_TERM_ID_LEN])
{
	memcpy(term, s->term, SIM_TERM_ID_LEN);
}

uint32_t
sim_psam_term_sn(const struct sim_psam *s)
{
	return s->term_sn;
}

int
sim_psam_has_key(const struct sim_psam *s, int alg, unsigned version)
{
	return key_of((struct sim_psam *)s, alg, version) != NULL;
}

/* ---- state file --------------------------------------------------------- */

static const char *
alg_name(int alg)
{
	return alg == TKM_DES ? "DES" : "SM4";
}

static void
w_tk(struct tkm_wr *w, const struct sim_psam *s, int alg)
{
	tkm_wr_str(w, "tk");
	sim_w_str(w, alg_name(alg));
	if (s->has_tk[tk_slot(alg)])
		sim_w_hex(w, s->tk[tk_slot(alg)], SIM_KEY_LEN);
	else
		sim_w_str(w, "-");
	tkm_wr_str(w, "\n");
}

int
sim_psam_write(const struct sim_psam *s, char *out, size_t cap, size_t *len)
{
	struct tkm_wr w;
	size_t i;

	if (len != NULL)
		*len = 0;
	if (s == NULL || out == NULL || len == NULL)
		return TKM_ERR_INPUT;
	tkm_wr_init(&w, out, cap);
	tkm_wr_str(&w, MAGIC " " VERSION "\nterm");
	sim_w_hex(&w, s->term, SIM_TERM_ID_LEN);
	tkm_wr_str(&w, "\nterm-sn");
	sim_w_num(&w, s->term_sn);
	tkm_wr_str(&w, "\n");
	w_tk(&w, s, TKM_DES);
	w_tk(&w, s, TKM_SM4);
	for (i = 0; i < SIM_PSAM_MAX_KEYS && s->keys[i].alg != 0; i++) {
		tkm_wr_str(&w, "key");
		sim_w_str(&w, alg_name(s->keys[i].alg));
		sim_w_num(&w, s->keys[i].version);
		sim_w_hex(&w, s->keys[i].k, SIM_KEY_LEN);
		tkm_wr_str(&w, "\n");
	}
	tkm_wr_str(&w, "selected");
	sim_w_num(&w, (uint32_t)s->selected);
	tkm_wr_str(&w, "\nchallenge");
	if (s->ch.len == 0)
		sim_w_str(&w, "-");
	else
		sim_w_hex(&w, s->ch.rnd, s->ch.len);
	tkm_wr_str(&w, "\nsession");
	if (s->ses.alg == 0) {
		sim_w_str(&w, "-");
	} else {
		sim_w_str(&w, alg_name(s->ses.alg));
		sim_w_hex(&w, s->ses.sk, s->ses.sklen);
		sim_w_num(&w, s->ses.amount);
	}
	tkm_wr_str(&w, "\nend\n");
	if (tkm_wr_error(&w) != TKM_OK) {
		tkm_cleanse(out, cap);
		return TKM_ERR_SPACE;
	}
	*len = w.len;
	return TKM_OK;
}

/* DES or SM4 in field i */
static int
p_alg(struct sim_lines *ls, size_t i, int *alg)
{
	if (sim_f_is(ls, i, "DES"))
		*alg = TKM_DES;
	else if (sim_f_is(ls, i, "SM4"))
		*alg = TKM_SM4;
	else
		return sim_fail(ls, TKM_ERR_INPUT, "not DES or SM4");
	return TKM_OK;
}

static int
p_head(struct sim_lines *ls, struct sim_psam *s)
{
	int rc, alg, want;

	if ((rc = sim_line(ls, MAGIC, 2)) != TKM_OK)
		return rc == TKM_ERR_TRUNC ? rc
					   : sim_fail(ls, TKM_ERR_INPUT,
						 "not a PSAM state file");
	if (!sim_f_is(ls, 1, VERSION))
		return sim_fail(ls, TKM_ERR_INPUT, "unknown version");
	if ((rc = sim_line(ls, "term", 2)) != TKM_OK ||
	    (rc = sim_f_hex(ls, 1, s->term, SIM_TERM_ID_LEN)) != TKM_OK ||
	    (rc = sim_line(ls, "term-sn", 2)) != TKM_OK ||
	    (rc = sim_f_num(ls, 1, 0xFFFFFFFFu, &s->term_sn)) != TKM_OK)
		return rc;
	for (want = TKM_DES; want <= TKM_SM4; want++) {
		if ((rc = sim_line(ls, "tk", 3)) != TKM_OK ||
		    (rc = p_alg(ls, 1, &alg)) != TKM_OK)
			return rc;
		if (alg != want)
			return sim_fail(
			    ls, TKM_ERR_INPUT, "DES first, then SM4");
		if (sim_f_is(ls, 2, "-"))
			continue;
		if ((rc = sim_f_hex(ls, 2, s->tk[tk_slot(alg)], SIM_KEY_LEN)) !=
		    TKM_OK)
			return rc;
		s->has_tk[tk_slot(alg)] = 1;
	}
	return TKM_OK;
}

static int
p_keys(struct sim_lines *ls, struct sim_psam *s)
{
	struct psam_key *k;
	uint32_t v;
	size_t n = 0;
	int rc, alg;

	while (sim_line_is(ls, "key")) {
		if (n == SIM_PSAM_MAX_KEYS)
			return sim_fail(ls, TKM_ERR_INPUT, "too many keys");
		k = &s->keys[n];
		if ((rc = sim_line(ls, "key", 4)) != TKM_OK ||
		    (rc = p_alg(ls, 1, &alg)) != TKM_OK ||
		    (rc = sim_f_num(ls, 2, 255, &v)) != TKM_OK ||
		    (rc = sim_f_hex(ls, 3, k->k, SIM_KEY_LEN)) != TKM_OK)
			return rc;
		if (v == 0)
			return sim_fail(ls, TKM_ERR_INPUT, "version 0");
		if (n > 0 && (s->keys[n - 1].alg > alg ||
				 (s->keys[n - 1].alg == alg &&
				     s->keys[n - 1].version >= v)))
			return sim_fail(
			    ls, TKM_ERR_INPUT, "keys out of order or twice");
		k->alg = alg;
		k->version = v;
		n++;
	}
	return TKM_OK;
}

static int
p_session(struct sim_lines *ls, struct sim_psam *s)
{
	int rc;

	if ((rc = sim_line(ls, "session", 0)) != TKM_OK)
		return rc;
	if (ls->nf == 2 && sim_f_is(ls, 1, "-"))
		return TKM_OK;
	if (ls->nf != 4)
		return sim_fail(ls, TKM_ERR_INPUT, "wrong number of fields");
	if ((rc = p_alg(ls, 1, &s->ses.alg)) != TKM_OK)
		return rc;
	s->ses.sklen = s->ses.alg == TKM_DES ? 8 : 16;
	if ((rc = sim_f_hex(ls, 2, s->ses.sk, s->ses.sklen)) != TKM_OK)
		return rc;
	return sim_f_num(ls, 3, 0xFFFFFFFFu, &s->ses.amount);
}

static int
p_volatile(struct sim_lines *ls, struct sim_psam *s)
{
	uint32_t v;
	size_t n;
	int rc;

	if ((rc = sim_line(ls, "selected", 2)) != TKM_OK ||
	    (rc = sim_f_num(ls, 1, 1, &v)) != TKM_OK)
		return rc;
	s->selected = (int)v;
	if ((rc = sim_line(ls, "challenge", 2)) != TKM_OK)
		return rc;
	if (!sim_f_is(ls, 1, "-")) {
		n = ls->f[1].len / 2;
		if (n != 4 && n != 8 && n != 16)
			return sim_fail(
			    ls, TKM_ERR_INPUT, "not 4, 8 or 16 bytes");
		if ((rc = sim_f_hex(ls, 1, s->ch.rnd, n)) != TKM_OK)
			return rc;
		s->ch.len = (uint8_t)n;
	}
	if ((rc = p_session(ls, s)) != TKM_OK ||
	    (rc = sim_line(ls, "end", 1)) != TKM_OK)
		return rc;
	return sim_lines_end(ls);
}

int
sim_psam_parse(
    const void *p, size_t len, struct sim_psam **out, struct sim_file_err *err)
{
	struct sim_lines ls;
	struct sim_psam *s;
	int rc;

	sim_lines_init(&ls, p, len, err);
	if (out == NULL || (p == NULL && len > 0))
		return sim_fail(&ls, TKM_ERR_INPUT, "no input");
	*out = NULL;
	if (len > SIM_FILE_MAX)
		return sim_fail(&ls, TKM_ERR_DATA_LEN, "file too large");
	if ((s = psam_alloc()) == NULL)
		return sim_fail(&ls, TKM_ERR_NOMEM, "out of memory");
	if ((rc = p_head(&ls, s)) != TKM_OK || (rc = p_keys(&ls, s)) != 0 ||
	    (rc = p_volatile(&ls, s)) != TKM_OK) {
		sim_psam_free(s);
		return rc;
	}
	*out = s;
	return TKM_OK;
}

int
sim_psam_save(const struct sim_psam *s, const char *path)
{
	char *buf;
	size_t n = 0;
	int rc;

	if (s == NULL || path == NULL)
		return TKM_ERR_INPUT;
	if ((buf = tkm_secure_alloc(SIM_FILE_MAX)) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = sim_psam_write(s, buf, SIM_FILE_MAX, &n)) == TKM_OK)
		rc = sim_file_write(path, buf, n);
	tkm_secure_free(buf, SIM_FILE_MAX);
	return rc;
}

int
sim_psam_load(const char *path, struct sim_psam **out, struct sim_file_err *err)
{
	uint8_t *buf;
	size_t n = 0;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (path == NULL || out == NULL)
		return TKM_ERR_INPUT;
	if ((buf = tkm_secure_alloc(SIM_FILE_MAX)) == NULL)
		return TKM_ERR_NOMEM;
	rc = sim_file_read(path, buf, SIM_FILE_MAX, &n, err);
	if (rc == TKM_OK)
		rc = sim_psam_parse(buf, n, out, err);
	tkm_secure_free(buf, SIM_FILE_MAX);
	return rc;
}
