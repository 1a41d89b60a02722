/*
 * card_file.c - the card's state file (card.h, docs/sim.md).
 *
 *   TKMS-SIMCARD 1
 *   alg DES|SM4
 *   asn 16H
 *   max-balance N                1..2147483647 (fen)
 *   balance N                    0..max-balance
 *   online-sn N                  0..65535, the next load's
 *   offline-sn N                 0..65535, the next purchase's
 *   atc N                        0..65535, the last GENERATE AC's
 *   key NAME 32H                 0..23 lines, appendix-2 order, once each
 *   ext-auth-tries N N N         0..3 each
 *   last -|load SN MAC TAC|purchase SN MAC TAC
 *   selected 0|1
 *   challenge -|8H|16H|32H
 *   auth N                       0..7
 *   session -|load KI AMOUNT TERM RND|purchase KI AMOUNT TERM RND
 *   arqc -|ATC AC
 *   end
 *
 * The keys are in clear: it is a simulated card (docs/sim.md).
 */
#include <string.h>

#include "card_impl.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define MAGIC   "TKMS-SIMCARD"
#define VERSION "1"
#define U16_MAX 0xFFFFu
#define U32_MAX 0xFFFFFFFFu

/* ---- writer ------------------------------------------------------------- */

static void
w_line_num(struct tkm_wr *w, const char *name, uint32_t v)
{
	tkm_wr_str(w, name);
	sim_w_num(w, v);
	tkm_wr_str(w, "\n");
}

static const char *
kind_name(int kind)
{
	return kind == SIM_SES_LOAD ? "load" : "purchase";
}

static void
w_keys(struct tkm_wr *w, const struct sim_card *c)
{
	uint8_t usage, index;
	int i;

	for (i = 0; i < SIM_CARD_NKEYS; i++) {
		if (!c->keys[i].set)
			continue;
		sim_card_slot_id(i, &usage, &index);
		tkm_wr_str(w, "key");
		sim_w_str(w, sim_card_key_name(usage, index));
		sim_w_hex(w, c->keys[i].k, SIM_KEY_LEN);
		tkm_wr_str(w, "\n");
	}
	tkm_wr_str(w, "ext-auth-tries");
	for (i = 0; i < SIM_CARD_EXT_AUTH_KEYS; i++)
		sim_w_num(w, c->tries[i]);
	tkm_wr_str(w, "\n");
}

static void
w_volatile(struct tkm_wr *w, const struct sim_card *c)
{
	w_line_num(w, "selected", (uint32_t)c->selected);
	tkm_wr_str(w, "challenge");
	if (c->ch.len == 0)
		sim_w_str(w, "-");
	else
		sim_w_hex(w, c->ch.rnd, c->ch.len);
	tkm_wr_str(w, "\n");
	w_line_num(w, "auth", c->auth);
	tkm_wr_str(w, "session");
	if (c->ses.kind == SIM_SES_NONE) {
		sim_w_str(w, "-");
	} else {
		sim_w_str(w, kind_name(c->ses.kind));
		sim_w_num(w, c->ses.ki);
		sim_w_num(w, c->ses.amount);
		sim_w_hex(w, c->ses.term, SIM_TERM_LEN);
		sim_w_hex(w, c->ses.rnd, SIM_RND_LEN);
	}
	tkm_wr_str(w, "\narqc");
	if (!c->arqc.valid) {
		sim_w_str(w, "-");
	} else {
		sim_w_num(w, c->arqc.atc);
		sim_w_hex(w, c->arqc.ac, SIM_AC_LEN);
	}
	tkm_wr_str(w, "\n");
}

int
sim_card_write(const struct sim_card *c, char *out, size_t cap, size_t *len)
{
	struct tkm_wr w;

	if (len != NULL)
		*len = 0;
	if (c == NULL || out == NULL || len == NULL)
		return TKM_ERR_INPUT;
	tkm_wr_init(&w, out, cap);
	tkm_wr_str(&w, MAGIC " " VERSION "\nalg");
	sim_w_str(&w, c->alg == TKM_DES ? "DES" : "SM4");
	tkm_wr_str(&w, "\nasn");
	sim_w_hex(&w, c->asn, SIM_ASN_LEN);
	tkm_wr_str(&w, "\n");
	w_line_num(&w, "max-balance", c->max_balance);
	w_line_num(&w, "balance", c->balance);
	w_line_num(&w, "online-sn", c->online_sn);
	w_line_num(&w, "offline-sn", c->offline_sn);
	w_line_num(&w, "atc", c->atc);
	w_keys(&w, c);
	tkm_wr_str(&w, "last");
	if (c->last.kind == SIM_SES_NONE) {
		sim_w_str(&w, "-");
	} else {
		sim_w_str(&w, kind_name(c->last.kind));
		sim_w_num(&w, c->last.sn);
		sim_w_hex(&w, c->last.mac, 4);
		sim_w_hex(&w, c->last.tac, 4);
	}
	tkm_wr_str(&w, "\n");
	w_volatile(&w, c);
	tkm_wr_str(&w, "end\n");
	if (tkm_wr_error(&w) != TKM_OK) {
		tkm_cleanse(out, cap);
		return TKM_ERR_SPACE;
	}
	*len = w.len;
	return TKM_OK;
}

/* ---- parser ------------------------------------------------------------- */

/* "name N" with N in 0..max */
static int
p_num(struct sim_lines *ls, const char *name, uint32_t max, uint32_t *v)
{
	int rc;

	if ((rc = sim_line(ls, name, 2)) != TKM_OK)
		return rc;
	return sim_f_num(ls, 1, max, v);
}

static int
p_head(struct sim_lines *ls, struct sim_card *c)
{
	int rc;

	ls->name = MAGIC;
	if ((rc = sim_line(ls, MAGIC, 2)) != TKM_OK)
		return rc == TKM_ERR_TRUNC ? rc
					   : sim_fail(ls, TKM_ERR_INPUT,
						 "not a card state file");
	if (!sim_f_is(ls, 1, VERSION))
		return sim_fail(ls, TKM_ERR_INPUT, "unknown version");
	if ((rc = sim_line(ls, "alg", 2)) != TKM_OK)
		return rc;
	if (sim_f_is(ls, 1, "DES"))
		c->alg = TKM_DES;
	else if (sim_f_is(ls, 1, "SM4"))
		c->alg = TKM_SM4;
	else
		return sim_fail(ls, TKM_ERR_INPUT, "not DES or SM4");
	if ((rc = sim_line(ls, "asn", 2)) != TKM_OK)
		return rc;
	return sim_f_hex(ls, 1, c->asn, SIM_ASN_LEN);
}

static int
p_counters(struct sim_lines *ls, struct sim_card *c)
{
	int rc;

	if ((rc = p_num(ls, "max-balance", SIM_CARD_BALANCE_LIMIT,
		 &c->max_balance)) != TKM_OK)
		return rc;
	if (c->max_balance == 0)
		return sim_fail(ls, TKM_ERR_INPUT, "a maximum of 0");
	if ((rc = p_num(ls, "balance", c->max_balance, &c->balance)) !=
		TKM_OK ||
	    (rc = p_num(ls, "online-sn", U16_MAX, &c->online_sn)) != TKM_OK ||
	    (rc = p_num(ls, "offline-sn", U16_MAX, &c->offline_sn)) != TKM_OK ||
	    (rc = p_num(ls, "atc", U16_MAX, &c->atc)) != TKM_OK)
		return rc;
	return TKM_OK;
}

/* key lines in slot order, then the tries */
static int
p_keys(struct sim_lines *ls, struct sim_card *c)
{
	uint8_t usage, index;
	uint32_t t;
	int rc, slot, prev = -1;
	char name[32];
	size_t i;

	while (sim_line_is(ls, "key")) {
		if ((rc = sim_line(ls, "key", 3)) != TKM_OK)
			return rc;
		if (ls->f[1].len >= sizeof(name))
			return sim_fail(ls, TKM_ERR_INPUT, "unknown key name");
		memcpy(name, ls->f[1].p, ls->f[1].len);
		name[ls->f[1].len] = '\0';
		if (sim_card_key_by_name(name, &usage, &index) != TKM_OK)
			return sim_fail(ls, TKM_ERR_INPUT, "unknown key name");
		slot = sim_card_slot(usage, index);
		if (slot <= prev)
			return sim_fail(
			    ls, TKM_ERR_INPUT, "keys out of order or twice");
		prev = slot;
		if ((rc = sim_f_hex(ls, 2, c->keys[slot].k, SIM_KEY_LEN)) !=
		    TKM_OK)
			return rc;
		c->keys[slot].set = 1;
	}
	if ((rc = sim_line(ls, "ext-auth-tries", 1 + SIM_CARD_EXT_AUTH_KEYS)) !=
	    TKM_OK)
		return rc;
	for (i = 0; i < SIM_CARD_EXT_AUTH_KEYS; i++) {
		if ((rc = sim_f_num(ls, 1 + i, SIM_CARD_EXT_AUTH_TRIES, &t)) !=
		    TKM_OK)
			return rc;
		c->tries[i] = (uint8_t)t;
	}
	return TKM_OK;
}

/* load / purchase in field 1 */
static int
p_kind(struct sim_lines *ls, int *kind)
{
	if (sim_f_is(ls, 1, "load"))
		*kind = SIM_SES_LOAD;
	else if (sim_f_is(ls, 1, "purchase"))
		*kind = SIM_SES_PURCHASE;
	else
		return sim_fail(ls, TKM_ERR_INPUT, "not load or purchase");
	return TKM_OK;
}

static int
p_last(struct sim_lines *ls, struct sim_card *c)
{
	int rc;

	if ((rc = sim_line(ls, "last", 0)) != TKM_OK)
		return rc;
	if (ls->nf == 2 && sim_f_is(ls, 1, "-"))
		return TKM_OK;
	if (ls->nf != 5)
		return sim_fail(ls, TKM_ERR_INPUT, "wrong number of fields");
	if ((rc = p_kind(ls, &c->last.kind)) != TKM_OK ||
	    (rc = sim_f_num(ls, 2, U16_MAX, &c->last.sn)) != TKM_OK ||
	    (rc = sim_f_hex(ls, 3, c->last.mac, 4)) != TKM_OK)
		return rc;
	return sim_f_hex(ls, 4, c->last.tac, 4);
}

static int
p_challenge(struct sim_lines *ls, struct sim_card *c)
{
	size_t n;
	int rc;

	if ((rc = sim_line(ls, "challenge", 2)) != TKM_OK)
		return rc;
	if (sim_f_is(ls, 1, "-"))
		return TKM_OK;
	n = ls->f[1].len / 2;
	if (n != 4 && n != 8 && n != 16)
		return sim_fail(ls, TKM_ERR_INPUT, "not 4, 8 or 16 bytes");
	if ((rc = sim_f_hex(ls, 1, c->ch.rnd, n)) != TKM_OK)
		return rc;
	c->ch.len = (uint8_t)n;
	return TKM_OK;
}

static int
p_session(struct sim_lines *ls, struct sim_card *c)
{
	uint32_t ki;
	int rc;

	if ((rc = sim_line(ls, "session", 0)) != TKM_OK)
		return rc;
	if (ls->nf == 2 && sim_f_is(ls, 1, "-"))
		return TKM_OK;
	if (ls->nf != 6)
		return sim_fail(ls, TKM_ERR_INPUT, "wrong number of fields");
	if ((rc = p_kind(ls, &c->ses.kind)) != TKM_OK ||
	    (rc = sim_f_num(ls, 2, 255, &ki)) != TKM_OK ||
	    (rc = sim_f_num(ls, 3, U32_MAX, &c->ses.amount)) != TKM_OK ||
	    (rc = sim_f_hex(ls, 4, c->ses.term, SIM_TERM_LEN)) != TKM_OK)
		return rc;
	c->ses.ki = (uint8_t)ki;
	return sim_f_hex(ls, 5, c->ses.rnd, SIM_RND_LEN);
}

static int
p_arqc(struct sim_lines *ls, struct sim_card *c)
{
	int rc;

	if ((rc = sim_line(ls, "arqc", 0)) != TKM_OK)
		return rc;
	if (ls->nf == 2 && sim_f_is(ls, 1, "-"))
		return TKM_OK;
	if (ls->nf != 3)
		return sim_fail(ls, TKM_ERR_INPUT, "wrong number of fields");
	if ((rc = sim_f_num(ls, 1, U16_MAX, &c->arqc.atc)) != TKM_OK ||
	    (rc = sim_f_hex(ls, 2, c->arqc.ac, SIM_AC_LEN)) != TKM_OK)
		return rc;
	c->arqc.valid = 1;
	return TKM_OK;
}

static int
p_volatile(struct sim_lines *ls, struct sim_card *c)
{
	uint32_t v;
	int rc;

	if ((rc = p_num(ls, "selected", 1, &v)) != TKM_OK)
		return rc;
	c->selected = (int)v;
	if ((rc = p_challenge(ls, c)) != TKM_OK ||
	    (rc = p_num(ls, "auth", (1u << SIM_CARD_EXT_AUTH_KEYS) - 1,
		 &c->auth)) != TKM_OK ||
	    (rc = p_session(ls, c)) != TKM_OK || (rc = p_arqc(ls, c)) != TKM_OK)
		return rc;
	if ((rc = sim_line(ls, "end", 1)) != TKM_OK)
		return rc;
	return sim_lines_end(ls);
}

int
sim_card_parse(
    const void *p, size_t len, struct sim_card **out, struct sim_file_err *err)
{
	struct sim_lines ls;
	struct sim_card *c;
	int rc;

	sim_lines_init(&ls, p, len, err);
	if (out == NULL || (p == NULL && len > 0))
		return sim_fail(&ls, TKM_ERR_INPUT, "no input");
	*out = NULL;
	if (len > SIM_FILE_MAX)
		return sim_fail(&ls, TKM_ERR_DATA_LEN, "file too large");
	if ((c = sim_card_alloc()) == NULL)
		return sim_fail(&ls, TKM_ERR_NOMEM, "out of memory");
	if ((rc = p_head(&ls, c)) != TKM_OK ||
	    (rc = p_counters(&ls, c)) != TKM_OK ||
	    (rc = p_keys(&ls, c)) != TKM_OK ||
	    (rc = p_last(&ls, c)) != TKM_OK ||
	    (rc = p_volatile(&ls, c)) != TKM_OK) {
		sim_card_free(c);
		return rc;
	}
	*out = c;
	return TKM_OK;
}

/* ---- files -------------------------------------------------------------- */

int
sim_card_save(const struct sim_card *c, const char *path)
{
	char *buf;
	size_t n = 0;
	int rc;

	if (c == NULL || path == NULL)
		return TKM_ERR_INPUT;
	if ((buf = tkm_secure_alloc(SIM_FILE_MAX)) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = sim_card_write(c, buf, SIM_FILE_MAX, &n)) == TKM_OK)
		rc = sim_file_write(path, buf, n);
	tkm_secure_free(buf, SIM_FILE_MAX);
	return rc;
}

int
sim_card_load(const char *path, struct sim_card **out, struct sim_file_err *err)
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
		rc = sim_card_parse(buf, n, out, err);
	tkm_secure_free(buf, SIM_FILE_MAX);
	return rc;
}
