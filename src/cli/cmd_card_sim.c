/*
 * cmd_card_sim.c - `tkms card ...`: the card and PSAM simulator against
 * real HSMs (docs/card-flows.md). Not the HSM admin cards: those are
 * `tkms hsm card new` (cmd_card.c).
 *
 *   tkms card transport-keys --out F      TEST card-transport master keys
 *                                         as a key mother card (mot import)
 *   tkms card new --card F --asn 16H [--alg DES|SM4] [--max-balance FEN]
 *   tkms card issue --card F --city H:P --keys F [--city-keys F]
 *   tkms card psam --psam F --term 12H [--term-sn N] --city H:P --keys F
 *   tkms card load --card F --amount FEN --business H:P --keys F
 *                  [--term 12H] [--key-index N] [--date D --time T]
 *                  [--clearing H:P --clearing-keys F [--city-code C]]
 *   tkms card purchase --card F --psam F --amount FEN [--key-index N]
 *                  [--date D --time T] [--clearing H:P --clearing-keys F]
 *   tkms card emv --card F --amount FEN --business H:P --keys F
 *   tkms card show --card F | --psam F
 *   tkms card bench --cards N ...          (cmd_card_bench.c)
 *
 * One process per command: the state files are read, the command runs
 * through cardflow.c, and the files are written back only when every
 * step of it succeeded — a failed command leaves them as they were.
 * Results are JSON on stdout; a failure is one sentence on stderr.
 *
 * Exit status: 0 done; 1 an HSM, the card or the PSAM refused; 2 usage,
 * files, key tables or connections.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "card_sim.h"
#include "cli.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"
#include "tkm/motcard.h"
#include "tkm/wire.h"

#define KEYS_FILE_MAX (4u << 20)
#define DEFAULT_HDR   8
#define DEFAULT_TMO   5000
#define HEX_MAX       65

static const char *progname = "tkms card";

/* --- options -------------------------------------------------------------- */

static int
parse_ulong(
    const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && s[0] >= '0' &&
	       s[0] <= '9' && *out >= min && *out <= max;
}

static int
parse_hex_exact(const char *s, uint8_t *out, size_t n)
{
	size_t len;

	return strlen(s) == 2 * n &&
	       tkm_hex_decode(s, 2 * n, out, n, &len) == TKM_OK && len == n;
}

/* One option's value into o; 0 when it is malformed. */
static int
opt_set(struct card_opts *o, int id, const char *v)
{
	switch (id) {
	case CO_CARD:
		o->card = v;
		return 1;
	case CO_PSAM:
		o->psam = v;
		return 1;
	case CO_OUT:
		o->out = v;
		return 1;
	case CO_KEYS:
		o->keys = v;
		return 1;
	case CO_CITY_KEYS:
		o->city_keys = v;
		return 1;
	case CO_CLEARING_KEYS:
		o->clearing_keys = v;
		return 1;
	case CO_CITY_CODE:
		o->city_code = v;
		return strlen(v) == 4 && strspn(v, "0123456789") == 4;
	case CO_CITY:
		o->ep[CF_CITY] = v;
		return 1;
	case CO_BUSINESS:
		o->ep[CF_BUSINESS] = v;
		return 1;
	case CO_CLEARING:
		o->ep[CF_CLEARING] = v;
		return 1;
	case CO_ASN:
		return parse_hex_exact(v, o->asn, SIM_ASN_LEN);
	case CO_TERM:
		return parse_hex_exact(v, o->term, SIM_TERM_ID_LEN);
	case CO_DATE:
		o->date = v;
		return 1;
	case CO_TIME:
		o->time = v;
		return 1;
	case CO_ALG:
		o->alg = strcmp(v, "DES") == 0   ? TKM_DES
			 : strcmp(v, "SM4") == 0 ? TKM_SM4
						 : 0;
		return o->alg != 0;
	case CO_AMOUNT:
		return parse_ulong(v, 1, SIM_CARD_BALANCE_LIMIT, &o->amount);
	case CO_MAX_BALANCE:
		return parse_ulong(
		    v, 1, SIM_CARD_BALANCE_LIMIT, &o->max_balance);
	case CO_TERM_SN:
		return parse_ulong(v, 0, 0xFFFFFFFFul, &o->term_sn);
	case CO_KEY_INDEX:
		return parse_ulong(v, 1, 3, &o->key_index);
	case CO_CARDS:
		return parse_ulong(v, 1, 1000000, &o->cards);
	case CO_FIRST:
		return parse_ulong(v, 0, 99999999, &o->first);
	case CO_HDRLEN:
		return parse_ulong(v, 0, TKM_WIRE_MAX_HDR, &o->hdrlen);
	case CO_TIMEOUT:
		return parse_ulong(v, 1, 3600000, &o->timeout);
	}
	return 0;
}

static const struct option longopts[] = {
    {"card", required_argument, NULL, CO_CARD},
    {"psam", required_argument, NULL, CO_PSAM},
    {"out", required_argument, NULL, CO_OUT},
    {"keys", required_argument, NULL, CO_KEYS},
    {"city-keys", required_argument, NULL, CO_CITY_KEYS},
    {"clearing-keys", required_argument, NULL, CO_CLEARING_KEYS},
    {"city-code", required_argument, NULL, CO_CITY_CODE},
    {"city", required_argument, NULL, CO_CITY},
    {"business", required_argument, NULL, CO_BUSINESS},
    {"clearing", required_argument, NULL, CO_CLEARING},
    {"asn", required_argument, NULL, CO_ASN},
    {"term", required_argument, NULL, CO_TERM},
    {"date", required_argument, NULL, CO_DATE},
    {"time", required_argument, NULL, CO_TIME},
    {"alg", required_argument, NULL, CO_ALG},
    {"amount", required_argument, NULL, CO_AMOUNT},
    {"max-balance", required_argument, NULL, CO_MAX_BALANCE},
    {"term-sn", required_argument, NULL, CO_TERM_SN},
    {"key-index", required_argument, NULL, CO_KEY_INDEX},
    {"cards", required_argument, NULL, CO_CARDS},
    {"first", required_argument, NULL, CO_FIRST},
    {"header-len", required_argument, NULL, CO_HDRLEN},
    {"timeout", required_argument, NULL, CO_TIMEOUT},
    {NULL, 0, NULL, 0},
};

/* --- HSMs and key tables -------------------------------------------------- */

static json_t *
read_json(const char *path)
{
	json_error_t jerr;
	uint8_t *p = NULL;
	size_t len;
	json_t *j;

	if (cli_file_read(path, KEYS_FILE_MAX, &p, &len) != 0)
		return NULL;
	j = json_loadb((const char *)p, len, 0, &jerr);
	free(p);
	if (j == NULL)
		fprintf(stderr, "%s: %s: line %d: %s\n", progname, path,
		    jerr.line, jerr.text);
	return j;
}

/* The key table of HSM h from path, rows of city (may be NULL). */
static int
keys_load(const char *path, const char *city, struct cf_keys *out)
{
	char why[256];
	json_t *j = read_json(path);
	int rc;

	if (j == NULL)
		return -1;
	rc = cf_keys_from_json(j, city, out, why, sizeof(why));
	json_decref(j);
	if (rc != TKM_OK) {
		fprintf(stderr, "%s: %s: %s\n", progname, path, why);
		return -1;
	}
	return 0;
}

/* The card's city: --city-code, else the one of --keys, else "". */
static int
find_city(const struct card_opts *o, char city[5])
{
	char why[256];
	json_t *j;

	city[0] = '\0';
	if (o->city_code != NULL) {
		memcpy(city, o->city_code, 5);
		return 0;
	}
	if (o->keys == NULL)
		return 0;
	if ((j = read_json(o->keys)) == NULL)
		return -1;
	if (cf_keys_city(j, city, why, sizeof(why)) != TKM_OK)
		city[0] = '\0'; /* then no filter */
	json_decref(j);
	return 0;
}

static int
connect_hsm(const struct card_opts *o, int h, struct tkm_client **out)
{
	const char *ep = o->ep[h], *colon = strrchr(ep, ':');
	char host[256];
	unsigned long port;
	int rc;

	if (colon == NULL || colon == ep ||
	    (size_t)(colon - ep) >= sizeof(host) ||
	    !parse_ulong(colon + 1, 1, 65535, &port)) {
		fprintf(stderr, "%s: --%s %s: HOST:PORT\n", progname,
		    h == CF_CITY       ? "city"
		    : h == CF_BUSINESS ? "business"
				       : "clearing",
		    ep);
		return -1;
	}
	memcpy(host, ep, (size_t)(colon - ep));
	host[colon - ep] = '\0';
	rc = tkm_client_new(
	    host, (unsigned)port, o->hdrlen, (int)o->timeout, out);
	if (rc != TKM_OK) {
		fprintf(stderr, "%s: %s: %s\n", progname, ep, tkm_strerror(rc));
		return -1;
	}
	return 0;
}

int
card_env_open(const struct card_opts *o, struct card_env *e)
{
	const char *path[CF_NHSM] = {
	    o->city_keys != NULL ? o->city_keys : o->keys, o->keys,
	    o->clearing_keys};
	static const char *const need[CF_NHSM] = {
	    "--keys (or --city-keys)", "--keys", "--clearing-keys"};
	int h;

	memset(e, 0, sizeof(*e));
	cf_init(&e->f);
	if (o->key_index != 0)
		e->f.load_key = e->f.purchase_key = (unsigned)o->key_index;
	if (find_city(o, e->city) != 0)
		return -1;
	for (h = 0; h < CF_NHSM; h++) {
		if (o->ep[h] == NULL)
			continue;
		if (path[h] == NULL) {
			fprintf(stderr,
			    "%s: the %s needs its key indexes: %s FILE, the "
			    "JSON of `tkms kms issued --hsm ID`\n",
			    progname, cf_hsm_name(h), need[h]);
			return -1;
		}
		if (keys_load(path[h], e->city[0] ? e->city : NULL,
			&e->keys[h]) != 0 ||
		    connect_hsm(o, h, &e->c[h]) != 0)
			return -1;
		e->f.hsm[h] = e->c[h];
		e->f.keys[h] = &e->keys[h];
		e->f.name[h] = o->ep[h];
	}
	return 0;
}

void
card_env_close(struct card_env *e)
{
	int h;

	for (h = 0; h < CF_NHSM; h++)
		tkm_client_free(e->c[h]);
	memset(e, 0, sizeof(*e));
}

/* --- output --------------------------------------------------------------- */

void
card_print(json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_INDENT(2)) : NULL;

	if (s != NULL)
		printf("%s\n", s);
	tkm_wipe_free(s);
	json_decref(j);
}

static json_t *
hex_json(const void *p, size_t n)
{
	char hex[HEX_MAX];

	if (2 * n >= sizeof(hex))
		return json_null();
	tkm_hex_encode(p, n, hex);
	return json_string(hex);
}

static const char *
alg_str(int alg)
{
	return alg == TKM_DES ? "DES" : "SM4";
}

static double
ms(uint64_t us)
{
	return (double)us / 1000.0;
}

/* A flow failed: the sentence, the files unchanged; the exit status. */
static int
flow_failed(const char *sub, const struct cf *f, const char *files)
{
	const char *msg = f->fail.msg;
	size_t n = strlen(sub);

	/* "tkms card load: MAC1 ...", but "tkms card load: clear: TAC ..." */
	if (strncmp(msg, sub, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
		msg += n + 2;
	fprintf(stderr, "%s %s: %s\n", progname, sub, msg);
	if (files != NULL)
		fprintf(stderr, "%s %s: %s unchanged\n", progname, sub, files);
	return f->fail.kind == CF_FAIL_HSM || f->fail.kind == CF_FAIL_CARD ? 1
									   : 2;
}

static json_t *
card_json(const struct sim_card *c)
{
	uint8_t asn[SIM_ASN_LEN];
	json_t *j = json_object(), *keys = json_array();
	const char *name;
	unsigned u, i;

	sim_card_asn(c, asn);
	json_object_set_new(j, "alg", json_string(alg_str(sim_card_alg(c))));
	json_object_set_new(j, "asn", hex_json(asn, sizeof(asn)));
	json_object_set_new(j, "balance", json_integer(sim_card_balance(c)));
	json_object_set_new(
	    j, "online_sn", json_integer(sim_card_online_sn(c)));
	json_object_set_new(
	    j, "offline_sn", json_integer(sim_card_offline_sn(c)));
	json_object_set_new(j, "atc", json_integer(sim_card_atc(c)));
	for (u = SIM_KEY_MAINT; u <= SIM_KEY_EXT_MANAGE; u++)
		for (i = 1; i <= 3; i++)
			if ((name = sim_card_key_name(u, i)) != NULL &&
			    sim_card_has_key(c, u, i))
				json_array_append_new(keys, json_string(name));
	/* A blank card's ecash_enc slot holds the transport key. */
	json_object_set_new(j, "personalised",
	    json_boolean(json_array_size(keys) > 1 ||
			 !sim_card_has_key(c, SIM_KEY_SM_ENC, 1)));
	json_object_set_new(j, "keys", keys);
	return j;
}

static json_t *
psam_json(const struct sim_psam *s)
{
	static const int algs[] = {TKM_DES, TKM_SM4};
	uint8_t term[SIM_TERM_ID_LEN];
	json_t *j = json_object(), *keys = json_array(), *k;
	unsigned v;
	size_t a;

	sim_psam_term(s, term);
	json_object_set_new(j, "term", hex_json(term, sizeof(term)));
	json_object_set_new(j, "term_sn", json_integer(sim_psam_term_sn(s)));
	for (a = 0; a < 2; a++)
		for (v = 1; v <= 255; v++)
			if (sim_psam_has_key(s, algs[a], v)) {
				k = json_object();
				json_object_set_new(
				    k, "alg", json_string(alg_str(algs[a])));
				json_object_set_new(
				    k, "version", json_integer(v));
				json_array_append_new(keys, k);
			}
	json_object_set_new(j, "keys", keys);
	return j;
}

static json_t *
txn_json(const struct cf_txn *t)
{
	json_t *j = json_object();

	json_object_set_new(j, "type",
	    json_string(t->type == CF_TXN_LOAD ? "load" : "purchase"));
	json_object_set_new(j, "alg", json_string(alg_str(t->alg)));
	json_object_set_new(j, "asn", hex_json(t->asn, SIM_ASN_LEN));
	json_object_set_new(j, "amount", json_integer(t->amount));
	json_object_set_new(j, "balance", json_integer(t->balance));
	json_object_set_new(j,
	    t->type == CF_TXN_LOAD ? "online_sn" : "offline_sn",
	    json_integer(t->sn));
	json_object_set_new(j, "key_index", json_integer(t->key_index));
	json_object_set_new(j, "term", hex_json(t->term, SIM_TERM_ID_LEN));
	if (t->type == CF_TXN_PURCHASE)
		json_object_set_new(j, "term_sn", json_integer(t->term_sn));
	json_object_set_new(j, "date", hex_json(t->when.date, 4));
	json_object_set_new(j, "time", hex_json(t->when.time, 3));
	json_object_set_new(j, "tac", hex_json(t->tac, CF_TAC_LEN));
	return j;
}

/* --- state files ---------------------------------------------------------- */

/* Why a state file could not be loaded, on stderr. */
static void
load_error(const char *path, int rc, const struct sim_file_err *err)
{
	if (err->line > 0)
		fprintf(stderr, "%s: %s: line %zu: %s%s%s (%s)\n", progname,
		    path, err->line, err->field != NULL ? err->field : "",
		    err->field != NULL ? ": " : "",
		    err->why != NULL ? err->why : "", tkm_strerror(rc));
	else
		fprintf(stderr, "%s: %s: %s\n", progname, path,
		    rc == TKM_ERR_IO ? strerror(errno) : tkm_strerror(rc));
}

static struct sim_card *
card_read(const char *path)
{
	struct sim_file_err err = {0};
	struct sim_card *c = NULL;
	int rc = sim_card_load(path, &c, &err);

	if (rc != TKM_OK)
		load_error(path, rc, &err);
	return rc == TKM_OK ? c : NULL;
}

static struct sim_psam *
psam_read(const char *path)
{
	struct sim_file_err err = {0};
	struct sim_psam *s = NULL;
	int rc = sim_psam_load(path, &s, &err);

	if (rc != TKM_OK)
		load_error(path, rc, &err);
	return rc == TKM_OK ? s : NULL;
}

/* A new state file (never replaces one): card or PSAM. */
static int
state_new(const char *path, const struct sim_card *c, const struct sim_psam *s)
{
	char *buf = tkm_secure_alloc(SIM_FILE_MAX);
	size_t len = 0;
	int rc, ret = -1;

	if (buf == NULL)
		return -1;
	rc = c != NULL ? sim_card_write(c, buf, SIM_FILE_MAX, &len)
		       : sim_psam_write(s, buf, SIM_FILE_MAX, &len);
	if (rc == TKM_OK)
		ret = cli_file_write_new(path, buf, len);
	else
		fprintf(
		    stderr, "%s: %s: %s\n", progname, path, tkm_strerror(rc));
	tkm_secure_free(buf, SIM_FILE_MAX);
	return ret;
}

static int
card_store(const char *path, const struct sim_card *c)
{
	int rc = sim_card_save(c, path);

	if (rc != TKM_OK)
		fprintf(stderr, "%s: cannot save %s: %s\n", progname, path,
		    tkm_strerror(rc));
	return rc == TKM_OK ? 0 : -1;
}

static int
psam_store(const char *path, const struct sim_psam *s)
{
	int rc = sim_psam_save(s, path);

	if (rc != TKM_OK)
		fprintf(stderr, "%s: cannot save %s: %s\n", progname, path,
		    tkm_strerror(rc));
	return rc == TKM_OK ? 0 : -1;
}

static int
exists(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) != 0)
		return 0;
	fprintf(stderr,
	    "%s: %s exists: a new file is never written over "
	    "another\n",
	    progname, path);
	return 1;
}

static int
when_of(const struct card_opts *o, struct cf_when *w)
{
	if (o->date == NULL && o->time == NULL) {
		cf_when_now(w);
		return 0;
	}
	if (o->date == NULL || o->time == NULL ||
	    cf_when_parse(o->date, o->time, w) != TKM_OK) {
		fprintf(stderr,
		    "%s: --date YYYYMMDD and --time hhmmss go together and "
		    "must be a real date and time\n",
		    progname);
		return -1;
	}
	return 0;
}

/* --- transport-keys ------------------------------------------------------- */

/* The TEST card-transport master keys on a key mother card (docs/mot.md
 * format) for `tkms mot import` at the business HSM. */
static int
run_transport(const struct card_opts *o)
{
	static char buf[TKM_MOTCARD_MAX_FILE];
	static const int algs[2] = {TKM_DES, TKM_SM4};
	struct tkm_motcard card;
	uint8_t key[TKM_MOTCARD_KEY_LEN], tk[TKM_MOTCARD_KEY_LEN];
	json_t *j, *keys;
	size_t i, len;
	int rc = TKM_OK;

	memset(&card, 0, sizeof(card));
	snprintf(card.id, sizeof(card.id), "TEST-CARD-TRANSPORT");
	snprintf(card.issuer, sizeof(card.issuer),
	    "TEST card factory of the tkms card simulation");
	tkm_mot_tk(tk);
	for (i = 0; i < 2 && rc == TKM_OK; i++) {
		struct tkm_motcard_key *k = &card.keys[i];

		k->alg = algs[i];
		k->index = algs[i] == TKM_DES ? CF_TRANSPORT_DES_INDEX
					      : CF_TRANSPORT_SM4_INDEX;
		memcpy(k->type, CF_TRANSPORT_TYPE, 4);
		snprintf(k->label, sizeof(k->label),
		    "TEST card-transport master %s (22...22)",
		    alg_str(algs[i]));
		memset(key, CF_TRANSPORT_BYTE, sizeof(key));
		if (algs[i] == TKM_DES)
			tkm_des_parity_set(key, sizeof(key));
		rc = tkm_motcard_key_wrap(k, tk, key);
	}
	card.nkeys = 2;
	tkm_cleanse(key, sizeof(key));
	tkm_cleanse(tk, sizeof(tk));
	if (rc == TKM_OK)
		rc = tkm_motcard_write(&card, buf, sizeof(buf), &len);
	if (rc != TKM_OK) {
		fprintf(stderr, "%s transport-keys: %s\n", progname,
		    tkm_strerror(rc));
		return 2;
	}
	if (cli_file_write_new(o->out, buf, len) != 0)
		return 2;
	j = json_object();
	keys = json_array();
	json_object_set_new(j, "file", json_string(o->out));
	json_object_set_new(j, "card", json_string(card.id));
	json_object_set_new(j, "note",
	    json_string("TEST keys (16 bytes of 0x22) of the card "
			"simulation, under the initial TKs 11...11: import "
			"with `tkms mot import` at the business HSM"));
	for (i = 0; i < card.nkeys; i++) {
		json_t *k = json_object();

		json_object_set_new(
		    k, "alg", json_string(alg_str(card.keys[i].alg)));
		json_object_set_new(
		    k, "index", json_sprintf("K%03X", card.keys[i].index));
		json_object_set_new(k, "type", json_string(card.keys[i].type));
		json_object_set_new(
		    k, "kcv", hex_json(card.keys[i].kcv, TKM_KCV_LEN));
		json_array_append_new(keys, k);
	}
	json_object_set_new(j, "keys", keys);
	card_print(j);
	return 0;
}

/* --- new, issue, psam ----------------------------------------------------- */

static int
run_new(const struct card_opts *o)
{
	struct sim_card *c = NULL;
	json_t *j;
	int rc;

	if (exists(o->card))
		return 2;
	rc = cf_card_new(o->alg, o->asn, (uint32_t)o->max_balance, &c);
	if (rc != TKM_OK) {
		fprintf(stderr, "%s new: %s\n", progname, tkm_strerror(rc));
		return 2;
	}
	rc = state_new(o->card, c, NULL);
	if (rc == 0) {
		j = card_json(c);
		json_object_set_new(j, "card", json_string(o->card));
		json_object_set_new(j, "transport_key",
		    json_string("the TEST card-transport master diversified "
				"by the ASN (the simulation's factory step)"));
		card_print(j);
	}
	sim_card_free(c);
	return rc == 0 ? 0 : 2;
}

static int
run_issue(const struct card_opts *o)
{
	struct sim_card *c = card_read(o->card);
	struct card_env e;
	size_t n = 0;
	json_t *j;
	int status = 2;

	if (c == NULL)
		return 2;
	if (card_env_open(o, &e) != 0)
		goto out;
	if (cf_issue(&e.f, c, &n) != TKM_OK) {
		status = flow_failed("issue", &e.f, "the card file is");
		goto out;
	}
	if (card_store(o->card, c) != 0)
		goto out;
	j = card_json(c);
	json_object_set_new(j, "card", json_string(o->card));
	json_object_set_new(j, "written", json_integer((json_int_t)n));
	json_object_set_new(j, "ms", json_real(ms(e.f.last_us)));
	card_print(j);
	status = 0;
out:
	card_env_close(&e);
	sim_card_free(c);
	return status;
}

static int
run_psam(const struct card_opts *o)
{
	struct sim_psam *s = NULL;
	struct card_env e;
	size_t n = 0;
	json_t *j;
	int status = 2, rc;

	memset(&e, 0, sizeof(e));
	if (exists(o->psam))
		return 2;
	rc = cf_psam_new(o->term,
	    (o->given & CO_BIT(CO_TERM_SN)) ? (uint32_t)o->term_sn : 1, &s);
	if (rc != TKM_OK) {
		fprintf(stderr, "%s psam: %s\n", progname, tkm_strerror(rc));
		return 2;
	}
	if (card_env_open(o, &e) != 0)
		goto out;
	if (cf_psam_issue(&e.f, s, &n) != TKM_OK) {
		status = flow_failed("psam", &e.f, "no PSAM file written;");
		goto out;
	}
	if (state_new(o->psam, NULL, s) != 0)
		goto out;
	j = psam_json(s);
	json_object_set_new(j, "psam", json_string(o->psam));
	json_object_set_new(j, "written", json_integer((json_int_t)n));
	json_object_set_new(j, "ms", json_real(ms(e.f.last_us)));
	card_print(j);
	status = 0;
out:
	card_env_close(&e);
	sim_psam_free(s);
	return status;
}

/* --- transactions --------------------------------------------------------- */

/* The TAC of t at the clearing HSM when --clearing is given. 0 ok or not
 * asked (*done says which), else the exit status. */
static int
clearing(const char *sub, struct card_env *e, const struct cf_txn *t,
    const char *files, int *done, uint64_t *us)
{
	*done = 0;
	*us = 0;
	if (e->f.hsm[CF_CLEARING] == NULL)
		return 0;
	if (cf_clear(&e->f, t) != TKM_OK)
		return flow_failed(sub, &e->f, files);
	*done = 1;
	*us = e->f.last_us;
	return 0;
}

static json_t *
done_json(const struct cf_txn *t, uint64_t us, int cleared, uint64_t cus)
{
	json_t *j = txn_json(t), *m = json_object();

	json_object_set_new(j, "tac_verified", json_boolean(cleared));
	if (!cleared)
		json_object_set_new(
		    j, "note", json_string("TAC not verified: no --clearing"));
	json_object_set_new(m, "transaction", json_real(ms(us)));
	if (cleared)
		json_object_set_new(m, "clearing", json_real(ms(cus)));
	json_object_set_new(j, "ms", m);
	return j;
}

static int
run_load(const struct card_opts *o)
{
	struct sim_card *c = card_read(o->card);
	static const uint8_t term0[SIM_TERM_ID_LEN] = {0, 0, 0, 0, 0, 1};
	struct card_env e;
	struct cf_when w;
	struct cf_txn t;
	uint64_t us, cus;
	int status = 2, cleared;
	json_t *j;

	memset(&e, 0, sizeof(e));
	if (c == NULL)
		return 2;
	if (when_of(o, &w) != 0 || card_env_open(o, &e) != 0)
		goto out;
	if (cf_load(&e.f, c, (uint32_t)o->amount,
		(o->given & CO_BIT(CO_TERM)) ? o->term : term0, &w,
		&t) != TKM_OK) {
		status = flow_failed("load", &e.f, "the card file is");
		goto out;
	}
	us = e.f.last_us;
	if ((status = clearing(
		 "load", &e, &t, "the card file is", &cleared, &cus)) != 0)
		goto out;
	status = 2;
	if (card_store(o->card, c) != 0)
		goto out;
	j = done_json(&t, us, cleared, cus);
	json_object_set_new(j, "card", json_string(o->card));
	card_print(j);
	status = 0;
out:
	card_env_close(&e);
	sim_card_free(c);
	return status;
}

static int
run_purchase(const struct card_opts *o)
{
	struct sim_card *c = card_read(o->card);
	struct sim_psam *s = c != NULL ? psam_read(o->psam) : NULL;
	static const char files[] = "the card and PSAM files are";
	struct card_env e;
	struct cf_when w;
	struct cf_txn t;
	uint64_t us, cus;
	int status = 2, cleared;
	json_t *j;

	memset(&e, 0, sizeof(e));
	if (c == NULL || s == NULL)
		goto out;
	if (when_of(o, &w) != 0 || card_env_open(o, &e) != 0)
		goto out;
	if (cf_purchase(&e.f, c, s, (uint32_t)o->amount, &w, &t) != TKM_OK) {
		status = flow_failed("purchase", &e.f, files);
		goto out;
	}
	us = e.f.last_us;
	if ((status = clearing("purchase", &e, &t, files, &cleared, &cus)) != 0)
		goto out;
	status = 2;
	if (card_store(o->card, c) != 0 || psam_store(o->psam, s) != 0)
		goto out;
	j = done_json(&t, us, cleared, cus);
	json_object_set_new(j, "card", json_string(o->card));
	json_object_set_new(j, "psam", json_string(o->psam));
	card_print(j);
	status = 0;
out:
	card_env_close(&e);
	sim_card_free(c);
	sim_psam_free(s);
	return status;
}

static int
run_emv(const struct card_opts *o)
{
	struct sim_card *c = card_read(o->card);
	struct card_env e;
	struct cf_when w;
	struct cf_emv r;
	int status = 2;
	json_t *j;

	memset(&e, 0, sizeof(e));
	if (c == NULL)
		return 2;
	if (when_of(o, &w) != 0 || card_env_open(o, &e) != 0)
		goto out;
	if (cf_emv(&e.f, c, (uint32_t)o->amount, &w, &r) != TKM_OK) {
		status = flow_failed("emv", &e.f, "the card file is");
		goto out;
	}
	if (card_store(o->card, c) != 0)
		goto out;
	j = json_object();
	json_object_set_new(j, "card", json_string(o->card));
	json_object_set_new(j, "amount", json_integer((json_int_t)o->amount));
	json_object_set_new(j, "atc", json_integer(r.atc));
	json_object_set_new(j, "arqc", hex_json(r.arqc, 8));
	json_object_set_new(j, "arqc_verified", json_true());
	json_object_set_new(j, "arpc", hex_json(r.arpc, 8));
	json_object_set_new(j, "issuer_authentication", json_string("9000"));
	json_object_set_new(j, "ms", json_real(ms(e.f.last_us)));
	card_print(j);
	status = 0;
out:
	card_env_close(&e);
	sim_card_free(c);
	return status;
}

static int
run_show(const struct card_opts *o)
{
	struct sim_card *c;
	struct sim_psam *s;
	json_t *j;

	if ((o->card != NULL) == (o->psam != NULL)) {
		fprintf(stderr, "%s show: --card F or --psam F\n", progname);
		return 2;
	}
	if (o->card != NULL) {
		if ((c = card_read(o->card)) == NULL)
			return 2;
		j = card_json(c);
		json_object_set_new(j, "card", json_string(o->card));
		sim_card_free(c);
	} else {
		if ((s = psam_read(o->psam)) == NULL)
			return 2;
		j = psam_json(s);
		json_object_set_new(j, "psam", json_string(o->psam));
		sim_psam_free(s);
	}
	card_print(j);
	return 0;
}

static int
run_bench(const struct card_opts *o)
{
	return card_bench(o);
}

/* --- dispatch ------------------------------------------------------------- */

#define B(x)  CO_BIT(x)
#define CONN  (B(CO_HDRLEN) | B(CO_TIMEOUT))
#define KEYS  (B(CO_KEYS) | B(CO_CITY_KEYS) | B(CO_CITY_CODE))
#define WHEN  (B(CO_DATE) | B(CO_TIME))
#define CLEAR (B(CO_CLEARING) | B(CO_CLEARING_KEYS) | B(CO_CITY_CODE))

static const struct sub {
	const char *name;
	int (*run)(const struct card_opts *o);
	unsigned long allowed, required;
	const char *usage;
} subs[] = {
    {"transport-keys", run_transport, B(CO_OUT), B(CO_OUT), "--out FILE"},
    {"new", run_new, B(CO_CARD) | B(CO_ASN) | B(CO_ALG) | B(CO_MAX_BALANCE),
	B(CO_CARD) | B(CO_ASN),
	"--card F --asn 16H [--alg DES|SM4] [--max-balance FEN]"},
    {"issue", run_issue, CONN | KEYS | B(CO_CARD) | B(CO_CITY),
	B(CO_CARD) | B(CO_CITY),
	"--card F --city H:P --keys F [--city-keys F]"},
    {"psam", run_psam,
	CONN | KEYS | B(CO_PSAM) | B(CO_TERM) | B(CO_TERM_SN) | B(CO_CITY),
	B(CO_PSAM) | B(CO_TERM) | B(CO_CITY),
	"--psam F --term 12H [--term-sn N] --city H:P --keys F "
	"[--city-keys F]"},
    {"load", run_load,
	CONN | KEYS | WHEN | CLEAR | B(CO_CARD) | B(CO_AMOUNT) |
	    B(CO_BUSINESS) | B(CO_TERM) | B(CO_KEY_INDEX),
	B(CO_CARD) | B(CO_AMOUNT) | B(CO_BUSINESS),
	"--card F --amount FEN --business H:P --keys F [--term 12H] "
	"[--key-index N] [--date YYYYMMDD --time hhmmss] [--clearing H:P "
	"--clearing-keys F [--city-code C]]"},
    {"purchase", run_purchase,
	CONN | KEYS | WHEN | CLEAR | B(CO_CARD) | B(CO_PSAM) | B(CO_AMOUNT) |
	    B(CO_KEY_INDEX),
	B(CO_CARD) | B(CO_PSAM) | B(CO_AMOUNT),
	"--card F --psam F --amount FEN [--key-index N] [--date YYYYMMDD "
	"--time hhmmss] [--clearing H:P --clearing-keys F [--keys F | "
	"--city-code C]]"},
    {"emv", run_emv,
	CONN | KEYS | WHEN | B(CO_CARD) | B(CO_AMOUNT) | B(CO_BUSINESS),
	B(CO_CARD) | B(CO_AMOUNT) | B(CO_BUSINESS),
	"--card F --amount FEN --business H:P --keys F"},
    {"show", run_show, B(CO_CARD) | B(CO_PSAM), 0, "--card F | --psam F"},
    {"bench", run_bench,
	CONN | KEYS | CLEAR | B(CO_CARDS) | B(CO_FIRST) | B(CO_ALG) |
	    B(CO_AMOUNT) | B(CO_CITY) | B(CO_BUSINESS),
	B(CO_CARDS) | B(CO_CITY) | B(CO_BUSINESS) | B(CO_CLEARING),
	"--cards N [--alg DES|SM4] [--first N] [--amount FEN] --city H:P "
	"--business H:P --clearing H:P --keys F [--city-keys F] "
	"--clearing-keys F"},
};

#define NSUBS (sizeof(subs) / sizeof(subs[0]))

static int
usage(void)
{
	size_t i;

	fprintf(stderr,
	    "usage (the card and PSAM simulator, "
	    "docs/card-flows.md; admin cards are `tkms hsm card`):\n");
	for (i = 0; i < NSUBS; i++)
		fprintf(
		    stderr, "  tkms card %s %s\n", subs[i].name, subs[i].usage);
	fprintf(stderr, "  HSM options: --header-len N (8) --timeout MS "
			"(5000); amounts in fen\n");
	return 2;
}

static int
sub_usage(const struct sub *s, const char *why)
{
	fprintf(stderr, "%s %s: %s\nusage: tkms card %s %s\n", progname,
	    s->name, why, s->name, s->usage);
	return 2;
}

int
cmd_card_sim(int argc, char **argv)
{
	const struct sub *s = NULL;
	struct card_opts o;
	size_t i;
	int ch;

	if (argc < 2)
		return usage();
	for (i = 0; i < NSUBS; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			s = &subs[i];
	if (s == NULL)
		return usage();
	memset(&o, 0, sizeof(o));
	o.alg = TKM_DES;
	o.hdrlen = DEFAULT_HDR;
	o.timeout = DEFAULT_TMO;
	o.first = 1;
	optind = 1;
	opterr = 0;
	while (
	    (ch = getopt_long(argc - 1, argv + 1, "", longopts, NULL)) != -1) {
		if (ch < 0 || ch >= CO_N)
			return sub_usage(s, "an unknown option, or one without "
					    "its value");
		if (!(s->allowed & CO_BIT(ch)))
			return sub_usage(s, "an option it does not take");
		if (!opt_set(&o, ch, optarg)) {
			char why[96];

			snprintf(why, sizeof(why), "--%s: malformed",
			    longopts[ch].name);
			return sub_usage(s, why);
		}
		o.given |= CO_BIT(ch);
	}
	if (optind != argc - 1)
		return sub_usage(s, "unexpected words");
	if ((o.given & s->required) != s->required)
		return sub_usage(s, "a required option is missing");
	return s->run(&o);
}
