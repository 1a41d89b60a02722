/*
 * motcard.c - key mother card files (motcard.h, docs/mot.md).
 *
 * The file comes from outside (the ministry, or a test card made here) and
 * drives host commands that store keys, so it is read strictly: a size cap
 * first, then the magic, then the SM3 line over everything before it,
 * then every line and field through a bounded reader. One validator per
 * field serves the parser and the writer alike, so the writer cannot make
 * a file the parser refuses.
 *
 * Line by line (every line printable ASCII, at most 256 bytes, ending in
 * LF; "SP" is exactly one space):
 *
 *   LINE   CONTENT
 *   1      "TKMS-MOTCARD" SP version ("1")
 *   2      "card" SP id (1..32 of A-Z a-z 0-9 . _ -)
 *   3      "issuer" SP text (1..64, no space at either end)
 *   4..    "key" SP alg SP index SP type SP cryptogram SP kcv SP label
 *            alg         "DES" | "SM4"
 *            index       "K" 3H
 *            type        3 characters, a code of protocol.md §2
 *            cryptogram  32H, ECB(initial TK of alg, key)
 *            kcv         16H
 *            label       1..64, no space at either end
 *   last   "sm3" SP 64H, SM3 of every byte before this line
 */
#include <string.h>

#include "tkm/buf.h"
#include "tkm/mem.h"
#include "tkm/motcard.h"

#define SM3_LEN    32
#define KEYWORD_SM "sm3 "
#define SM3_LINE   (sizeof(KEYWORD_SM) - 1 + 2 * SM3_LEN)

/* Key type codes of protocol.md §2 (the HSM answers ERR 04 to others). */
static const char *const types[] = {
    "000", "001", "002", "003", "008", "00A", "109", "209", "309", "509"};

static const char *const alg_names[] = {NULL, "DES", "SM4"};

const char *
tkm_motcard_alg_name(int alg)
{
	return alg == TKM_DES || alg == TKM_SM4 ? alg_names[alg] : NULL;
}

void
tkm_mot_tk(uint8_t tk[TKM_MOTCARD_KEY_LEN])
{
	memset(tk, TKM_MOT_TK_BYTE, TKM_MOTCARD_KEY_LEN);
}

/* --- field validators (parser and writer) ------------------------------- */

static int
printable(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7E)
			return 0;
	return 1;
}

/* Free text (issuer, label): 1..max printable, no space at either end
 * (one space separates fields, so a leading one would be invisible). */
static int
text_ok(const uint8_t *p, size_t n, size_t max)
{
	return n >= 1 && n <= max && printable(p, n) && p[0] != ' ' &&
	       p[n - 1] != ' ';
}

static int
id_ok(const uint8_t *p, size_t n)
{
	size_t i;

	if (n < 1 || n > TKM_MOTCARD_ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') ||
			(p[i] >= 'a' && p[i] <= 'z') ||
			(p[i] >= '0' && p[i] <= '9') || p[i] == '.' ||
			p[i] == '_' || p[i] == '-'))
			return 0;
	return 1;
}

static int
type_known(const uint8_t *p, size_t n)
{
	size_t i;

	if (n != 3)
		return 0;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (memcmp(p, types[i], 3) == 0)
			return 1;
	return 0;
}

static int
alg_parse(const uint8_t *p, size_t n)
{
	if (n == 3 && memcmp(p, "DES", 3) == 0)
		return TKM_DES;
	if (n == 3 && memcmp(p, "SM4", 3) == 0)
		return TKM_SM4;
	return 0;
}

/* Is (alg, index) of key i already used by one of the keys before it? */
static int
duplicate(const struct tkm_motcard *card, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (card->keys[j].alg == card->keys[i].alg &&
		    card->keys[j].index == card->keys[i].index)
			return 1;
	return 0;
}

/* --- parser -------------------------------------------------------------- */

struct parse {
	struct tkm_motcard *card;
	struct tkm_motcard_err *err;
	size_t line;
};

static int
fail(struct parse *ps, int rc, const char *why)
{
	if (ps->err != NULL) {
		ps->err->line = ps->line;
		ps->err->why = why;
	}
	return rc;
}

/* The next field up to one space; TKM_ERR_INPUT when there is none or it
 * is empty (two spaces in a row). */
static int
field(struct tkm_rd *line, struct tkm_rd *out)
{
	if (tkm_rd_until(line, ' ', out) != TKM_OK || out->len == 0)
		return TKM_ERR_INPUT;
	return TKM_OK;
}

/* "keyword SP" at the start of line: consumed if present. */
static int
keyword(struct tkm_rd *line, const char *kw)
{
	size_t n = strlen(kw);

	if (line->len <= n || memcmp(line->p, kw, n) != 0 || line->p[n] != ' ')
		return 0;
	line->p += n + 1;
	line->len -= n + 1;
	return 1;
}

/* A whole field of exactly 2n hex digits into out. */
static int
hex_field(const struct tkm_rd *f, uint8_t *out, size_t n)
{
	struct tkm_rd rd = *f;

	if (f->len != 2 * n)
		return TKM_ERR_INPUT;
	if (tkm_rd_hex(&rd, out, n) != TKM_OK)
		return TKM_ERR_HEX;
	return TKM_OK;
}

static int
parse_version(struct parse *ps, struct tkm_rd line)
{
	if (!keyword(&line, TKM_MOTCARD_MAGIC))
		return fail(ps, TKM_ERR_INPUT, "not a key mother card file");
	if (line.len != 1 || line.p[0] != '0' + TKM_MOTCARD_VERSION)
		return fail(ps, TKM_ERR_INPUT,
		    "unsupported card file version (this tkms reads 1)");
	return TKM_OK;
}

static int
parse_card(struct parse *ps, struct tkm_rd line)
{
	if (!keyword(&line, "card"))
		return fail(ps, TKM_ERR_INPUT, "line 2 must be: card ID");
	if (!id_ok(line.p, line.len))
		return fail(ps, TKM_ERR_INPUT,
		    "card ID must be 1..32 of A-Z a-z 0-9 . _ -");
	memcpy(ps->card->id, line.p, line.len);
	return TKM_OK;
}

static int
parse_issuer(struct parse *ps, struct tkm_rd line)
{
	if (!keyword(&line, "issuer"))
		return fail(ps, TKM_ERR_INPUT, "line 3 must be: issuer TEXT");
	if (!text_ok(line.p, line.len, TKM_MOTCARD_ISSUER_MAX))
		return fail(ps, TKM_ERR_INPUT,
		    "issuer must be 1..64 characters, no space at either "
		    "end");
	memcpy(ps->card->issuer, line.p, line.len);
	return TKM_OK;
}

static int
parse_index(const struct tkm_rd *f, unsigned *index)
{
	struct tkm_rd rd = *f;
	uint32_t v;

	if (f->len != 4 || !tkm_rd_accept(&rd, 'K') ||
	    tkm_rd_hexnum(&rd, 3, &v) != TKM_OK)
		return TKM_ERR_INPUT;
	*index = (unsigned)v;
	return TKM_OK;
}

static int
parse_key(struct parse *ps, struct tkm_rd line)
{
	struct tkm_motcard_key *k;
	struct tkm_rd f;
	int rc;

	if (!keyword(&line, "key"))
		return fail(ps, TKM_ERR_INPUT,
		    "expected a key line (key ALG INDEX TYPE CRYPTOGRAM KCV "
		    "LABEL)");
	if (ps->card->nkeys == TKM_MOTCARD_MAX_KEYS)
		return fail(ps, TKM_ERR_DATA_LEN, "more than 64 keys");
	k = &ps->card->keys[ps->card->nkeys];
	if (field(&line, &f) != TKM_OK || (k->alg = alg_parse(f.p, f.len)) == 0)
		return fail(ps, TKM_ERR_INPUT, "algorithm must be DES or SM4");
	if (field(&line, &f) != TKM_OK || parse_index(&f, &k->index) != TKM_OK)
		return fail(
		    ps, TKM_ERR_INPUT, "index must be K and 3 hex digits");
	if (field(&line, &f) != TKM_OK || f.len != 3)
		return fail(ps, TKM_ERR_INPUT,
		    "key type must be 3 characters, then one space");
	if (!type_known(f.p, f.len))
		return fail(ps, TKM_ERR_KEY_TYPE,
		    "unknown key type code (protocol.md §2)");
	memcpy(k->type, f.p, 3);
	if (field(&line, &f) != TKM_OK)
		return fail(ps, TKM_ERR_INPUT,
		    "cryptogram missing (fields are separated by one space)");
	if ((rc = hex_field(&f, k->ct, sizeof(k->ct))) != TKM_OK)
		return fail(ps, rc, "cryptogram must be 32 hex digits");
	if (field(&line, &f) != TKM_OK)
		return fail(ps, TKM_ERR_INPUT,
		    "KCV or label missing (fields are separated by one "
		    "space)");
	if ((rc = hex_field(&f, k->kcv, sizeof(k->kcv))) != TKM_OK)
		return fail(ps, rc, "KCV must be 16 hex digits");
	if (!text_ok(line.p, line.len, TKM_MOTCARD_LABEL_MAX))
		return fail(ps, TKM_ERR_INPUT,
		    "label must be 1..64 characters, no space at either end");
	memcpy(k->label, line.p, line.len);
	if (duplicate(ps->card, ps->card->nkeys))
		return fail(ps, TKM_ERR_INPUT,
		    "a second key for the same algorithm and index");
	ps->card->nkeys++;
	return TKM_OK;
}

/* The sm3 line: the last line of p, which ends in LF. *body is the length
 * of everything before it. */
static int
check_digest(struct parse *ps, const uint8_t *p, size_t len, size_t *body)
{
	uint8_t want[SM3_LEN], got[SM3_LEN];
	struct tkm_rd rd;
	size_t start = len - 1, i;
	int rc;

	while (start > 0 && p[start - 1] != '\n')
		start--;
	ps->line = 1;
	for (i = 0; i < start; i++)
		ps->line += p[i] == '\n';
	rd = tkm_rd_of(p + start, len - 1 - start);
	if (rd.len != SM3_LINE || !keyword(&rd, "sm3"))
		return fail(ps, TKM_ERR_TRUNC,
		    "the last line is not the integrity line (sm3 DIGEST): "
		    "file cut short or extended");
	if (tkm_rd_hex(&rd, want, sizeof(want)) != TKM_OK)
		return fail(
		    ps, TKM_ERR_HEX, "sm3 digest must be 64 hex digits");
	if ((rc = tkm_hash(TKM_SM3, p, start, got)) != TKM_OK)
		return fail(ps, rc, "SM3 failed");
	if (!tkm_ct_eq(want, got, sizeof(got)))
		return fail(ps, TKM_ERR_VERIFY,
		    "the sm3 line does not match the file: damaged or "
		    "edited");
	*body = start;
	return TKM_OK;
}

static int
parse_lines(struct parse *ps, struct tkm_rd body)
{
	struct tkm_rd line;
	int rc;

	for (ps->line = 1; body.len > 0; ps->line++) {
		if (tkm_rd_until(&body, '\n', &line) != TKM_OK)
			return fail(ps, TKM_ERR_INTERNAL, "line without LF");
		if (line.len > TKM_MOTCARD_MAX_LINE)
			return fail(
			    ps, TKM_ERR_DATA_LEN, "line longer than 256 bytes");
		if (!printable(line.p, line.len))
			return fail(ps, TKM_ERR_INPUT,
			    "a byte that is not printable ASCII (CR, tab, "
			    "UTF-8?)");
		if (ps->line == 1)
			rc = parse_version(ps, line);
		else if (ps->line == 2)
			rc = parse_card(ps, line);
		else if (ps->line == 3)
			rc = parse_issuer(ps, line);
		else
			rc = parse_key(ps, line);
		if (rc != TKM_OK)
			return rc;
	}
	if (ps->card->nkeys == 0) {
		ps->line = 0;
		return fail(ps, TKM_ERR_INPUT, "the card holds no key lines");
	}
	return TKM_OK;
}

static int
parse(struct parse *ps, const uint8_t *p, size_t len)
{
	const size_t mlen = sizeof(TKM_MOTCARD_MAGIC) - 1;
	size_t body = 0;
	int rc;

	ps->line = 0;
	if (len > TKM_MOTCARD_MAX_FILE)
		return fail(
		    ps, TKM_ERR_DATA_LEN, "file larger than 32768 bytes");
	if (len == 0)
		return fail(ps, TKM_ERR_TRUNC, "empty file");
	/* The magic before the digest: a file of another kind is "not a
	 * card", not "a damaged card". */
	ps->line = 1;
	if (len <= mlen || memcmp(p, TKM_MOTCARD_MAGIC, mlen) != 0 ||
	    p[mlen] != ' ')
		return fail(ps, TKM_ERR_INPUT, "not a key mother card file");
	ps->line = 0;
	if (p[len - 1] != '\n')
		return fail(ps, TKM_ERR_TRUNC,
		    "the file does not end with a line end: cut short");
	if ((rc = check_digest(ps, p, len, &body)) != TKM_OK)
		return rc;
	return parse_lines(ps, tkm_rd_of(p, body));
}

int
tkm_motcard_parse(const void *p, size_t len, struct tkm_motcard *card,
    struct tkm_motcard_err *err)
{
	struct parse ps = {card, err, 0};
	int rc;

	if (err != NULL) {
		err->line = 0;
		err->why = NULL;
	}
	if (card == NULL || (p == NULL && len > 0))
		return TKM_ERR_INPUT;
	memset(card, 0, sizeof(*card));
	if ((rc = parse(&ps, p, len)) != TKM_OK)
		memset(card, 0, sizeof(*card));
	return rc;
}

/* --- writer -------------------------------------------------------------- */

static int
check_key(const struct tkm_motcard *card, size_t i)
{
	const struct tkm_motcard_key *k = &card->keys[i];
	size_t tn = strnlen(k->type, sizeof(k->type));
	size_t ln = strnlen(k->label, sizeof(k->label));

	if (tkm_motcard_alg_name(k->alg) == NULL || k->index > 0xFFF ||
	    tn != 3 || ln == sizeof(k->label) ||
	    !text_ok((const uint8_t *)k->label, ln, TKM_MOTCARD_LABEL_MAX) ||
	    duplicate(card, i))
		return TKM_ERR_INPUT;
	if (!type_known((const uint8_t *)k->type, tn))
		return TKM_ERR_KEY_TYPE;
	return TKM_OK;
}

static int
check_card(const struct tkm_motcard *card)
{
	size_t n = strnlen(card->id, sizeof(card->id));
	size_t m = strnlen(card->issuer, sizeof(card->issuer));
	size_t i;
	int rc;

	if (n == sizeof(card->id) || !id_ok((const uint8_t *)card->id, n) ||
	    m == sizeof(card->issuer) ||
	    !text_ok((const uint8_t *)card->issuer, m, TKM_MOTCARD_ISSUER_MAX))
		return TKM_ERR_INPUT;
	if (card->nkeys == 0)
		return TKM_ERR_INPUT;
	if (card->nkeys > TKM_MOTCARD_MAX_KEYS)
		return TKM_ERR_DATA_LEN;
	for (i = 0; i < card->nkeys; i++)
		if ((rc = check_key(card, i)) != TKM_OK)
			return rc;
	return TKM_OK;
}

int
tkm_motcard_write(
    const struct tkm_motcard *card, char *out, size_t cap, size_t *len)
{
	const struct tkm_motcard_key *k;
	uint8_t digest[SM3_LEN];
	struct tkm_wr w;
	size_t i;
	int rc;

	if (len != NULL)
		*len = 0;
	if (card == NULL || out == NULL || len == NULL)
		return TKM_ERR_INPUT;
	if ((rc = check_card(card)) != TKM_OK)
		return rc;
	tkm_wr_init(&w, out, cap);
	tkm_wr_str(&w, TKM_MOTCARD_MAGIC " ");
	tkm_wr_num(&w, TKM_MOTCARD_VERSION, 1);
	tkm_wr_str(&w, "\ncard ");
	tkm_wr_str(&w, card->id);
	tkm_wr_str(&w, "\nissuer ");
	tkm_wr_str(&w, card->issuer);
	tkm_wr_str(&w, "\n");
	for (i = 0; i < card->nkeys; i++) {
		k = &card->keys[i];
		tkm_wr_str(&w, "key ");
		tkm_wr_str(&w, tkm_motcard_alg_name(k->alg));
		tkm_wr_str(&w, " K");
		tkm_wr_hexnum(&w, k->index, 3);
		tkm_wr_str(&w, " ");
		tkm_wr_str(&w, k->type);
		tkm_wr_str(&w, " ");
		tkm_wr_hex(&w, k->ct, sizeof(k->ct));
		tkm_wr_str(&w, " ");
		tkm_wr_hex(&w, k->kcv, sizeof(k->kcv));
		tkm_wr_str(&w, " ");
		tkm_wr_str(&w, k->label);
		tkm_wr_str(&w, "\n");
	}
	if ((rc = tkm_wr_error(&w)) != TKM_OK ||
	    (rc = tkm_hash(TKM_SM3, w.p, w.len, digest)) != TKM_OK)
		return rc;
	tkm_wr_str(&w, KEYWORD_SM);
	tkm_wr_hex(&w, digest, sizeof(digest));
	tkm_wr_str(&w, "\n");
	if ((rc = tkm_wr_error(&w)) != TKM_OK)
		return rc;
	*len = w.len;
	return TKM_OK;
}

int
tkm_motcard_key_wrap(
    struct tkm_motcard_key *k, const uint8_t *tk, const uint8_t *key)
{
	int rc;

	if (k == NULL || tk == NULL || key == NULL ||
	    tkm_motcard_alg_name(k->alg) == NULL)
		return TKM_ERR_INPUT;
	if ((rc = tkm_cipher(k->alg, TKM_ECB, TKM_ENCRYPT, tk,
		 TKM_MOTCARD_KEY_LEN, NULL, key, TKM_MOTCARD_KEY_LEN, k->ct)) !=
	    TKM_OK)
		return rc;
	return tkm_kcv(k->alg, key, TKM_MOTCARD_KEY_LEN, k->kcv);
}
