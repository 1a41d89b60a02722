/*
 * cmd_mot.c - `tkms mot ...`: the ministry key import (the spec's
 * 导入交通运输部密钥, docs/mot.md).
 *
 *   tkms mot card new --out FILE [--des N] [--sm4 M] [--first-index KXXX]
 *                     [--type T] [--id ID] [--issuer TEXT]
 *   tkms mot import --card FILE --host H --port P [--header-len N]
 *                   [--timeout MS] [--des-tk KXXX] [--sm4-tk KXXX]
 *                   [--record FILE]
 *
 * `card new` makes a key mother card FOR TESTS: random keys under the
 * published initial TKs (11...11), with their KCVs. A real card comes from
 * the ministry.
 *
 * `import` is the ministry's client of step 3: over a BUSINESS port it
 * imports every key of the card with A6 under the initial TK of its
 * algorithm, first without storing (the HSM answers the key's KCV, which
 * must equal the card's) and then stored at the card's index, so that a
 * key whose KCV does not match is never stored. It stops at the first
 * failure. --record writes what was imported (step 4's 记录导入密钥的类型
 * 及索引) as JSON, also after a failure.
 *
 * Exit status: 0 every key imported and matched; 1 the HSM refused a key
 * or a KCV did not match; 2 usage, file or connection errors.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "tkm/buf.h"
#include "tkm/client.h"
#include "tkm/crypto.h"
#include "tkm/err.h"
#include "tkm/mem.h"
#include "tkm/motcard.h"
#include "tkm/wire.h"

#define DEFAULT_TIMEOUT 5000
#define DEFAULT_HDRLEN  8
#define DEFAULT_TYPE    "109" /* MK-AC; UB uses it for MAC and TAC */
#define DEFAULT_FIRST   0x200
#define REQ_CAP         128
#define RESP_CAP        512
#define RECORD_MAX      (256u << 10)

/* --- helpers ------------------------------------------------------------ */

static int
parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-' &&
	       *out <= max;
}

/* "K200" or "200": an index 000..FFF. */
static int
parse_index(const char *s, unsigned *index)
{
	struct tkm_rd rd;
	uint32_t v;

	if (s[0] == 'K')
		s++;
	rd = tkm_rd_of(s, strlen(s));
	if (tkm_rd_hexnum(&rd, 3, &v) != TKM_OK || tkm_rd_end(&rd) != TKM_OK)
		return 0;
	*index = (unsigned)v;
	return 1;
}

static const char *
lib_of(int alg)
{
	return alg == TKM_DES ? "des" : "sm4";
}

/* --- mot card new ------------------------------------------------------- */

struct card_opts {
	const char *out, *type, *id, *issuer;
	unsigned long ndes, nsm4;
	unsigned first;
};

static int
card_usage(void)
{
	fprintf(stderr,
	    "usage: tkms mot card new --out FILE [--des N] [--sm4 M] "
	    "[--first-index K200]\n"
	    "                         [--type 109] [--id ID] [--issuer TEXT]\n"
	    "  makes a TEST key mother card: random keys under the initial "
	    "TKs 11...11\n");
	return 2;
}

static int
card_opts_parse(int argc, char **argv, struct card_opts *o)
{
	static const struct option longopts[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"des", required_argument, NULL, 'd'},
	    {"sm4", required_argument, NULL, 's'},
	    {"first-index", required_argument, NULL, 'f'},
	    {"type", required_argument, NULL, 't'},
	    {"id", required_argument, NULL, 'i'},
	    {"issuer", required_argument, NULL, 'I'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->ndes = o->nsm4 = 2;
	o->first = DEFAULT_FIRST;
	o->type = DEFAULT_TYPE;
	o->issuer = "TEST card made by tkms mot card new, not the ministry's";
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			o->out = optarg;
			break;
		case 'd':
			if (!parse_ulong(
				optarg, TKM_MOTCARD_MAX_KEYS, &o->ndes))
				return 0;
			break;
		case 's':
			if (!parse_ulong(
				optarg, TKM_MOTCARD_MAX_KEYS, &o->nsm4))
				return 0;
			break;
		case 'f':
			if (!parse_index(optarg, &o->first))
				return 0;
			break;
		case 't':
			o->type = optarg;
			break;
		case 'i':
			o->id = optarg;
			break;
		case 'I':
			o->issuer = optarg;
			break;
		default:
			return 0;
		}
	}
	return optind == argc && o->out != NULL;
}

/* Indexes first, first + 1, ...: DES keys, then SM4 keys. None may land
 * on the initial TK of its algorithm, nor beyond FFF. */
static int
card_layout(const struct card_opts *o, struct tkm_motcard *card)
{
	struct tkm_motcard_key *k;
	size_t i, n = o->ndes + o->nsm4;

	if (n == 0 || n > TKM_MOTCARD_MAX_KEYS) {
		fprintf(stderr, "tkms mot card: 1 to %d keys in all\n",
		    TKM_MOTCARD_MAX_KEYS);
		return -1;
	}
	if (o->first + n - 1 > 0xFFF) {
		fprintf(stderr, "tkms mot card: indexes beyond KFFF\n");
		return -1;
	}
	for (i = 0; i < n; i++) {
		k = &card->keys[i];
		k->alg = i < o->ndes ? TKM_DES : TKM_SM4;
		k->index = o->first + (unsigned)i;
		if (k->index == (k->alg == TKM_DES ? TKM_MOT_TK_DES_INDEX
						   : TKM_MOT_TK_SM4_INDEX)) {
			fprintf(stderr,
			    "tkms mot card: a %s key would go to K%03X, "
			    "where the initial TK is: choose another "
			    "--first-index\n",
			    tkm_motcard_alg_name(k->alg), k->index);
			return -1;
		}
		snprintf(k->type, sizeof(k->type), "%s", o->type);
		snprintf(k->label, sizeof(k->label), "test %s key %zu",
		    tkm_motcard_alg_name(k->alg),
		    i < o->ndes ? i + 1 : i - o->ndes + 1);
	}
	card->nkeys = n;
	return 0;
}

/* Random keys (DES with odd parity) under the initial TK. */
static int
card_keys(struct tkm_motcard *card)
{
	uint8_t *key = NULL, tk[TKM_MOTCARD_KEY_LEN];
	size_t i;
	int rc = TKM_ERR_NOMEM;

	tkm_mot_tk(tk);
	if ((key = tkm_secure_alloc(TKM_MOTCARD_KEY_LEN)) == NULL)
		goto out;
	for (i = 0; i < card->nkeys; i++) {
		if ((rc = tkm_random(key, TKM_MOTCARD_KEY_LEN)) != TKM_OK)
			goto out;
		if (card->keys[i].alg == TKM_DES)
			tkm_des_parity_set(key, TKM_MOTCARD_KEY_LEN);
		if ((rc = tkm_motcard_key_wrap(&card->keys[i], tk, key)) !=
		    TKM_OK)
			goto out;
	}
out:
	tkm_secure_free(key, TKM_MOTCARD_KEY_LEN);
	tkm_cleanse(tk, sizeof(tk));
	return rc;
}

static int
card_new(int argc, char **argv)
{
	static char buf[TKM_MOTCARD_MAX_FILE];
	struct tkm_motcard *card = NULL;
	struct card_opts o;
	uint8_t rnd[4];
	char kcv[2 * TKM_KCV_LEN + 1];
	size_t i, len;
	int rc, status = 1;

	if (!card_opts_parse(argc, argv, &o))
		return card_usage();
	if ((card = calloc(1, sizeof(*card))) == NULL)
		return 1;
	if (o.id != NULL)
		snprintf(card->id, sizeof(card->id), "%s", o.id);
	else if (tkm_random(rnd, sizeof(rnd)) == TKM_OK)
		snprintf(card->id, sizeof(card->id), "TEST-%02X%02X%02X%02X",
		    rnd[0], rnd[1], rnd[2], rnd[3]);
	snprintf(card->issuer, sizeof(card->issuer), "%s", o.issuer);
	if (card_layout(&o, card) != 0) {
		status = 2;
		goto out;
	}
	if ((rc = card_keys(card)) != TKM_OK ||
	    (rc = tkm_motcard_write(card, buf, sizeof(buf), &len)) != TKM_OK) {
		/* The writer checks what the parser checks: a bad --id,
		 * --issuer or --type shows here. */
		fprintf(stderr,
		    "tkms mot card: %s (check --id: 1..32 of A-Z a-z 0-9 . _ "
		    "-; --issuer: 1..64 printable ASCII; --type: a key type "
		    "code)\n",
		    tkm_strerror(rc));
		status = 2;
		goto out;
	}
	if (cli_file_write_new(o.out, buf, len) != 0)
		goto out;
	printf("card %s: %zu keys written to %s (TEST card: random keys "
	       "under the initial TKs 11...11)\n",
	    card->id, card->nkeys, o.out);
	for (i = 0; i < card->nkeys; i++) {
		tkm_hex_encode(card->keys[i].kcv, TKM_KCV_LEN, kcv);
		printf("K%03X  %s  %s  KCV %s  %s\n", card->keys[i].index,
		    card->keys[i].type, tkm_motcard_alg_name(card->keys[i].alg),
		    kcv, card->keys[i].label);
	}
	status = 0;
out:
	free(card);
	return status;
}

/* --- mot import --------------------------------------------------------- */

struct import_opts {
	const char *card, *host, *record;
	unsigned long port, hdrlen, timeout;
	unsigned tk[3]; /* by alg: TKM_DES, TKM_SM4 */
};

struct import {
	const struct import_opts *o;
	const struct tkm_motcard *card;
	struct tkm_client *c;
	size_t done;     /* keys imported */
	char error[512]; /* why it stopped, for the record */
};

static int
import_usage(void)
{
	fprintf(stderr,
	    "usage: tkms mot import --card FILE --host H --port P "
	    "[--header-len N] [--timeout MS]\n"
	    "                       [--des-tk K000] [--sm4-tk K100] "
	    "[--record FILE]\n"
	    "  imports the key mother card over a business port (A6 under "
	    "the initial TKs)\n");
	return 2;
}

static int
import_opts_parse(int argc, char **argv, struct import_opts *o)
{
	static const struct option longopts[] = {
	    {"card", required_argument, NULL, 'c'},
	    {"host", required_argument, NULL, 'h'},
	    {"port", required_argument, NULL, 'p'},
	    {"header-len", required_argument, NULL, 'l'},
	    {"timeout", required_argument, NULL, 't'},
	    {"des-tk", required_argument, NULL, 'D'},
	    {"sm4-tk", required_argument, NULL, 'S'},
	    {"record", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->hdrlen = DEFAULT_HDRLEN;
	o->timeout = DEFAULT_TIMEOUT;
	o->tk[TKM_DES] = TKM_MOT_TK_DES_INDEX;
	o->tk[TKM_SM4] = TKM_MOT_TK_SM4_INDEX;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->card = optarg;
			break;
		case 'h':
			o->host = optarg;
			break;
		case 'p':
			if (!parse_ulong(optarg, 65535, &o->port) ||
			    o->port == 0)
				return 0;
			break;
		case 'l':
			if (!parse_ulong(optarg, TKM_WIRE_MAX_HDR, &o->hdrlen))
				return 0;
			break;
		case 't':
			if (!parse_ulong(optarg, 3600000, &o->timeout) ||
			    o->timeout == 0)
				return 0;
			break;
		case 'D':
			if (!parse_index(optarg, &o->tk[TKM_DES]))
				return 0;
			break;
		case 'S':
			if (!parse_index(optarg, &o->tk[TKM_SM4]))
				return 0;
			break;
		case 'r':
			o->record = optarg;
			break;
		default:
			return 0;
		}
	}
	return optind == argc && o->card != NULL && o->host != NULL &&
	       o->port != 0;
}

/* The card file, parsed; its errors name the line. */
static int
load_card(const char *path, struct tkm_motcard *card)
{
	struct tkm_motcard_err err;
	uint8_t *p = NULL;
	size_t len;
	int rc;

	if (cli_file_read(path, TKM_MOTCARD_MAX_FILE, &p, &len) != 0)
		return -1;
	rc = tkm_motcard_parse(p, len, card, &err);
	free(p);
	if (rc == TKM_OK)
		return 0;
	if (err.line > 0)
		fprintf(stderr, "tkms mot: %s: line %zu: %s (%s)\n", path,
		    err.line, err.why, tkm_strerror(rc));
	else
		fprintf(stderr, "tkms mot: %s: %s (%s)\n", path, err.why,
		    tkm_strerror(rc));
	fprintf(stderr, "tkms mot: the card file is refused; nothing was "
			"sent to the HSM\n");
	return -1;
}

/* A key may not be stored where the initial TK of its algorithm is. */
static int
check_targets(const struct import_opts *o, const struct tkm_motcard *card)
{
	size_t i;

	for (i = 0; i < card->nkeys; i++)
		if (card->keys[i].index == o->tk[card->keys[i].alg]) {
			fprintf(stderr,
			    "tkms mot: key %zu of the card (%s) targets "
			    "K%03X, where the initial TK is; nothing was "
			    "sent\n",
			    i + 1, tkm_motcard_alg_name(card->keys[i].alg),
			    card->keys[i].index);
			return -1;
		}
	return 0;
}

/* The text of a wire error code: the first cause that maps to it. */
static const char *
wire_text(const char *code)
{
	int e;

	for (e = TKM_OK; e > TKM_ERR__LAST; e--)
		if (memcmp(tkm_err_wire(e), code, 2) == 0)
			return tkm_strerror(e);
	return "unknown error code";
}

/* What the operator should do about an A6 error. */
static void
explain(struct import *im, const struct tkm_motcard_key *k, const char *code)
{
	const char *alg = tkm_motcard_alg_name(k->alg);
	unsigned tk = im->o->tk[k->alg];
	size_t cap = sizeof(im->error);
	char *e = im->error;

	if (memcmp(code, "17", 2) == 0)
		snprintf(e, cap,
		    "ERR 17: the HSM is not in the authorised state: the "
		    "security admin (C) must run `tkms hsm auth open "
		    "--minutes N` first");
	else if (memcmp(code, "68", 2) == 0)
		snprintf(e, cap,
		    "ERR 68: A6 is not on this business port's command "
		    "whitelist: the security admin (C) must allow it "
		    "(`tkms hsm whitelist set --kind commands`)");
	else if (memcmp(code, "69", 2) == 0)
		snprintf(e, cap,
		    "ERR 69: this client's address is not on the business "
		    "port's IP whitelist: the system admin (B) must add it "
		    "(`tkms hsm whitelist set --kind ip --list ADDR`)");
	else if (memcmp(code, "12", 2) == 0)
		snprintf(e, cap,
		    "ERR 12: no initial TK at K%03X of the %s library: the "
		    "security admin (C) must run `tkms hsm tk initial` "
		    "(deleted already after an import?)",
		    tk, alg);
	else if (memcmp(code, "28", 2) == 0)
		snprintf(e, cap,
		    "ERR 28: the key at K%03X of the %s library is not a "
		    "transport key (type 000)",
		    tk, alg);
	else if (memcmp(code, "21", 2) == 0)
		snprintf(e, cap,
		    "ERR 21: K%03X of the %s library already holds a key; "
		    "nothing is replaced by an import (the security admin "
		    "decides: `tkms hsm keys delete --lib %s --index %03X`)",
		    k->index, alg, lib_of(k->alg), k->index);
	else if (memcmp(code, "13", 2) == 0)
		snprintf(e, cap,
		    "ERR 13: the HSM is sealed: A1, A2 and A3 must unseal "
		    "it first");
	else
		snprintf(e, cap, "ERR %.2s: %s", code, wire_text(code));
}

/* Send one A6; on ERR 00 the KCV of the answer into kcv. 0 ok, 1
 * refused or odd answer (im->error says why), 2 connection failure. */
static int
a6(struct import *im, const struct tkm_motcard_key *k, int store,
    uint8_t kcv[TKM_KCV_LEN])
{
	const char scheme = k->alg == TKM_DES ? 'X' : 'S';
	uint8_t req[REQ_CAP], resp[RESP_CAP];
	struct tkm_wr w;
	struct tkm_rd rd;
	size_t rlen;
	int rc;

	tkm_wr_init(&w, req, sizeof(req));
	tkm_wr_str(&w, "A6T");
	tkm_wr_str(&w, k->type);
	tkm_wr_str(&w, "K");
	tkm_wr_hexnum(&w, im->o->tk[k->alg], 3);
	tkm_wr_bytes(&w, &scheme, 1);
	tkm_wr_hex(&w, k->ct, sizeof(k->ct));
	tkm_wr_bytes(&w, &scheme, 1);
	if (store) {
		tkm_wr_str(&w, "K");
		tkm_wr_hexnum(&w, k->index, 3);
	}
	if ((rc = tkm_wr_error(&w)) == TKM_OK)
		rc = tkm_client_call(
		    im->c, req, w.len, resp, sizeof(resp) - 1, &rlen);
	if (rc != TKM_OK) {
		snprintf(im->error, sizeof(im->error),
		    "%s:%lu: %s (is it tkms-hsmd's business port, with "
		    "--header-len as configured?)",
		    im->o->host, im->o->port, tkm_strerror(rc));
		return 2;
	}
	if (rlen < 4 || memcmp(resp, "A7", 2) != 0) {
		snprintf(im->error, sizeof(im->error),
		    "the HSM answered something other than A7");
		return 1;
	}
	if (memcmp(resp + 2, "00", 2) != 0) {
		explain(im, k, (const char *)resp + 2);
		return 1;
	}
	/* A700 | key under DK (X/S + 32H) | KCV 16H */
	rd = tkm_rd_of(resp + 4 + 1 + 2 * TKM_MOTCARD_KEY_LEN,
	    rlen >= 4 + 1 + 2 * TKM_MOTCARD_KEY_LEN
		? rlen - 4 - 1 - 2 * TKM_MOTCARD_KEY_LEN
		: 0);
	if (rd.len != 2 * TKM_KCV_LEN ||
	    tkm_rd_hex(&rd, kcv, TKM_KCV_LEN) != TKM_OK) {
		snprintf(im->error, sizeof(im->error),
		    "the HSM's A7 answer has no KCV where expected");
		return 1;
	}
	return 0;
}

static int
kcv_check(struct import *im, const struct tkm_motcard_key *k,
    const uint8_t got[TKM_KCV_LEN])
{
	char want[2 * TKM_KCV_LEN + 1], hsm[2 * TKM_KCV_LEN + 1];

	if (tkm_ct_eq(got, k->kcv, TKM_KCV_LEN))
		return 0;
	tkm_hex_encode(k->kcv, TKM_KCV_LEN, want);
	tkm_hex_encode(got, TKM_KCV_LEN, hsm);
	snprintf(im->error, sizeof(im->error),
	    "KCV mismatch for K%03X (%s, type %s): the card says %s, the HSM "
	    "computed %s; the key was NOT stored. Is the initial TK right, "
	    "or the card damaged?",
	    k->index, tkm_motcard_alg_name(k->alg), k->type, want, hsm);
	return 1;
}

/* Every key: A6 without storing, KCV compared, then A6 storing it. */
static int
import_all(struct import *im)
{
	const struct tkm_motcard_key *k;
	uint8_t kcv[TKM_KCV_LEN];
	char hex[2 * TKM_KCV_LEN + 1];
	size_t i;
	int rc;

	for (i = 0; i < im->card->nkeys; i++) {
		k = &im->card->keys[i];
		if ((rc = a6(im, k, 0, kcv)) != 0 ||
		    (rc = kcv_check(im, k, kcv)) != 0 ||
		    (rc = a6(im, k, 1, kcv)) != 0 ||
		    (rc = kcv_check(im, k, kcv)) != 0)
			return rc;
		im->done++;
		tkm_hex_encode(kcv, TKM_KCV_LEN, hex);
		printf("K%03X  %s  %s  KCV %s  imported  %s\n", k->index,
		    k->type, tkm_motcard_alg_name(k->alg), hex, k->label);
		fflush(stdout);
	}
	return 0;
}

/* --- the record (step 4) ---------------------------------------------- */

static json_t *
record_key(const struct tkm_motcard_key *k)
{
	char ref[8], kcv[2 * TKM_KCV_LEN + 1];

	snprintf(ref, sizeof(ref), "K%03X", k->index);
	tkm_hex_encode(k->kcv, TKM_KCV_LEN, kcv);
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "alg",
	    tkm_motcard_alg_name(k->alg), "index", ref, "type", k->type, "kcv",
	    kcv, "label", k->label);
}

static int
record_write(const struct import *im)
{
	char when[32], hsm[300], tkd[8], tks[8];
	json_t *rec, *keys;
	struct tm tm;
	time_t now = time(NULL);
	char *text = NULL;
	size_t i;
	int rc = -1;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(hsm, sizeof(hsm), "%s:%lu", im->o->host, im->o->port);
	snprintf(tkd, sizeof(tkd), "K%03X", im->o->tk[TKM_DES]);
	snprintf(tks, sizeof(tks), "K%03X", im->o->tk[TKM_SM4]);
	if ((keys = json_array()) == NULL)
		return -1;
	for (i = 0; i < im->done; i++)
		json_array_append_new(keys, record_key(&im->card->keys[i]));
	rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:b, s:i, "
			"s:i, s:o}",
	    "record", "ministry key import", "time", when, "card", im->card->id,
	    "issuer", im->card->issuer, "hsm", hsm, "initial_tk", "des", tkd,
	    "sm4", tks, "complete", im->done == im->card->nkeys, "imported",
	    (int)im->done, "on_card", (int)im->card->nkeys, "keys", keys);
	if (rec != NULL && im->error[0] != '\0')
		json_object_set_new(rec, "error", json_string(im->error));
	if (rec != NULL &&
	    (text = json_dumps(rec, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) !=
		NULL &&
	    strlen(text) < RECORD_MAX)
		rc = cli_file_write_new(im->o->record, text, strlen(text));
	tkm_wipe_free(text);
	json_decref(rec);
	return rc;
}

static int
record_absent(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) == 0 || errno != ENOENT) {
		fprintf(stderr,
		    "tkms mot: record %s exists (or cannot be checked): "
		    "records are never replaced; nothing was sent\n",
		    path);
		return -1;
	}
	return 0;
}

static int
import(int argc, char **argv)
{
	struct tkm_motcard *card = NULL;
	struct import_opts o;
	struct import im;
	int status = 2;

	if (!import_opts_parse(argc, argv, &o))
		return import_usage();
	memset(&im, 0, sizeof(im));
	im.o = &o;
	if ((card = calloc(1, sizeof(*card))) == NULL)
		return 2;
	im.card = card;
	if (load_card(o.card, card) != 0 || check_targets(&o, card) != 0 ||
	    (o.record != NULL && record_absent(o.record) != 0))
		goto out;
	if (tkm_client_new(o.host, (unsigned)o.port, o.hdrlen, (int)o.timeout,
		&im.c) != TKM_OK) {
		fprintf(
		    stderr, "tkms mot: %s:%lu: bad address\n", o.host, o.port);
		goto out;
	}
	printf("card %s (%s): %zu keys; importing into %s:%lu under the "
	       "initial TKs K%03X (DES) and K%03X (SM4)\n",
	    card->id, card->issuer, card->nkeys, o.host, o.port, o.tk[TKM_DES],
	    o.tk[TKM_SM4]);
	fflush(stdout);
	status = import_all(&im);
	if (status != 0)
		fprintf(stderr,
		    "tkms mot: %s\ntkms mot: stopped: %zu of %zu "
		    "keys imported\n",
		    im.error, im.done, card->nkeys);
	else
		printf("all %zu keys imported, every KCV matches the card\n",
		    card->nkeys);
	if (o.record != NULL) {
		if (record_write(&im) == 0)
			printf("record written to %s\n", o.record);
		else if (status == 0)
			status = 2;
	}
out:
	tkm_client_free(im.c);
	free(card);
	return status;
}

/* --- dispatch ------------------------------------------------------------ */

int
cmd_mot(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "card") == 0 &&
	    strcmp(argv[2], "new") == 0)
		return card_new(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "import") == 0)
		return import(argc - 1, argv + 1);
	fprintf(stderr,
	    "usage: tkms mot card new --out FILE [...]   (a TEST card)\n"
	    "       tkms mot import --card FILE --host H --port P [...]\n"
	    "  the ministry key import, docs/mot.md\n");
	return 2;
}
