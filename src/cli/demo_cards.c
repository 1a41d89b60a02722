/*
 * demo_cards.c - the card phase of `tkms demo` (demo.h, docs/demo.md
 * "8 Cards"): the emulated cards and PSAMs of src/sim against the demo's
 * HSMs through cardflow.h, one connection per HSM, as a personalisation
 * system, a load host, terminals and the clearing drive them.
 *
 * For card n = 1..N (ASN 3104 5810 n, DES or SM4): made blank by the
 * factory (its transport key from the TEST master), personalised by U3 at
 * city-5810, loaded by UB at biz-5810, spent through the PSAM of its
 * algorithm, both TACs cleared by UB at the clearing HSM, its balance
 * checked; EMV by KW at biz-5810 on DES cards 1, 51, 101, ... Cards stay
 * in memory (a sample and the PSAMs are saved into D/cards at the end).
 * Then the licences: every U3 count of the city HSM is used up (maint
 * show), and card N + 1 is refused with ERR A1.
 *
 * A failed step stops the phase with the card, its number and cardflow's
 * sentence about what failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cardflow.h"
#include "demo.h"
#include "proc.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"

#define LOAD_FEN       10000u /* 100.00 yuan */
#define PURCHASE_FEN   1234u  /* 12.34 */
#define EMV_FEN        2000u
#define EMV_EVERY      50 /* EMV on DES cards 1, 51, 101, ... */
#define HDR_LEN        8
#define HSM_TIMEOUT_MS 30000 /* a loaded 2-core machine */
#define TICK_TTY_MS    100   /* the progress line on a terminal */
#define TICK_LOG_MS    10000 /* a line in a log, at most this often */

/* The online load terminal; the PSAMs' terminals end in 11 (DES) and 12
 * (SM4). BCD, as terminal numbers are printed. */
static const uint8_t load_term[SIM_TERM_ID_LEN] = {
    0x58, 0x10, 0x00, 0x00, 0x00, 0x01};

struct run {
	struct demo *d;
	struct cf f;
	struct tkm_client *c[CF_NHSM];
	char ep[CF_NHSM][32]; /* 127.0.0.1:PORT */
	struct cf_keys keys, tac, psam_keys[3];
	struct sim_psam *psam[3];   /* [TKM_DES], [TKM_SM4] */
	struct sim_card *sample[3]; /* the first card of each algorithm */
	size_t want_keys[3];        /* keys a card of alg is written */
	/* counts and times */
	unsigned long issued[3], loaded, spent, cleared, balances, emv;
	uint64_t issue_us[3], load_us; /* load_us: loads and their TACs */
	uint64_t work_t0, work_us;     /* the PSAMs and the cards */
	uint64_t loop_us;              /* the cards */
	long long t0, tick_ms;
};

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int
tkm_alg(const char *alg)
{
	return strcmp(alg, "SM4") == 0 ? TKM_SM4 : TKM_DES;
}

static const char *
alg_str(int alg)
{
	return alg == TKM_SM4 ? "SM4" : "DES";
}

const char *
demo_card_alg(const struct demo *d, unsigned long n)
{
	if (d->card_alg[0] != '\0')
		return d->card_alg;
	return n % 2 == 1 ? "DES" : "SM4";
}

unsigned
demo_cards_of(const struct demo *d, const char *alg)
{
	if (d->card_alg[0] != '\0')
		return strcmp(d->card_alg, alg) == 0 ? d->cards : 0;
	return strcmp(alg, "DES") == 0 ? (d->cards + 1) / 2 : d->cards / 2;
}

/* purchase_0N: a PSAM key (cardflow writes it as key version N). */
static int
is_purchase(const char *tmpl)
{
	return strncmp(tmpl, "purchase_0", 10) == 0;
}

unsigned
demo_u3_uses(const struct demo *d, const char *tmpl, const char *alg)
{
	unsigned cards = demo_cards_of(d, alg), uses = 0;
	uint8_t usage, index;

	if (sim_card_key_by_name(tmpl, &usage, &index) == TKM_OK)
		uses = cards;
	if (is_purchase(tmpl) && cards > 0)
		uses++; /* the PSAM of alg */
	return uses;
}

/* --- set-up ----------------------------------------------------------------
 */

/* The KMS's key indexes as cardflow's tables: biz-5810's (= the city's,
 * by the clone) and the clearing HSM's TAC keys of 5810. */
static int
key_tables(struct run *r)
{
	struct demo *d = r->d;
	struct cf_key k;
	uint8_t usage, index;
	size_t i;

	for (i = 0; i < d->nkeys + d->ntac; i++) {
		const struct demo_key *dk =
		    i < d->nkeys ? &d->keys[i] : &d->tac[i - d->nkeys];

		if (cf_key_parse(&k, dk->tmpl, dk->alg, dk->index,
			dk->type_code) != TKM_OK ||
		    cf_keys_add(i < d->nkeys ? &r->keys : &r->tac, &k) !=
			TKM_OK)
			return demo_fail(d, "card keys",
			    "%s %s %s type %s: not a key cardflow takes",
			    dk->tmpl, dk->alg, dk->index, dk->type_code);
		if (i >= d->nkeys)
			continue;
		if (sim_card_key_by_name(k.tmpl, &usage, &index) == TKM_OK)
			r->want_keys[k.alg]++;
		if (is_purchase(k.tmpl) &&
		    cf_keys_add(&r->psam_keys[k.alg], &k) != TKM_OK)
			return demo_fail(d, "card keys", "PSAM keys: no room");
	}
	demo_check(d,
	    r->want_keys[TKM_DES] == 23 && r->want_keys[TKM_SM4] == 23 &&
		r->tac.n == 2,
	    "card key tables",
	    "%zu keys of %s for the cards (%zu DES, %zu SM4; 23 each "
	    "expected), %zu TAC keys of %s at %s",
	    r->keys.n, d->hsm[DH_BIZ1].name, r->want_keys[TKM_DES],
	    r->want_keys[TKM_SM4], r->tac.n, DEMO_CITY1, d->hsm[DH_CLEAR].name);
	return 0;
}

/* One client per HSM: the business listener 0 of each. */
static int
connect_all(struct run *r)
{
	static const int ix[CF_NHSM] = {DH_CITY, DH_BIZ1, DH_CLEAR};
	struct demo *d = r->d;
	int h, rc;

	for (h = 0; h < CF_NHSM; h++) {
		snprintf(r->ep[h], sizeof(r->ep[h]), "127.0.0.1:%u",
		    d->hsm[ix[h]].port[0]);
		rc = tkm_client_new("127.0.0.1", d->hsm[ix[h]].port[0], HDR_LEN,
		    HSM_TIMEOUT_MS, &r->c[h]);
		if (rc != TKM_OK)
			return demo_fail(d, d->hsm[ix[h]].name, "%s: %s",
			    r->ep[h], tkm_strerror(rc));
		r->f.hsm[h] = r->c[h];
		r->f.name[h] = r->ep[h];
	}
	r->f.keys[CF_CITY] = &r->keys;
	r->f.keys[CF_BUSINESS] = &r->keys;
	r->f.keys[CF_CLEARING] = &r->tac;
	return 0;
}

/* The PSAM of alg: blank from the factory, its purchase keys of alg by
 * U3 at the city HSM (cardflow writes the city table's purchase keys:
 * given only alg's, the PSAM holds only alg's). */
static int
make_psam(struct run *r, int alg)
{
	struct demo *d = r->d;
	uint8_t term[SIM_TERM_ID_LEN];
	char what[64];
	size_t written = 0;
	int rc;

	memcpy(term, load_term, sizeof(term));
	term[5] = alg == TKM_DES ? 0x11 : 0x12;
	if (cf_psam_new(term, 1, &r->psam[alg]) != TKM_OK)
		return demo_fail(d, "PSAM", "the factory made no blank PSAM");
	r->f.keys[CF_CITY] = &r->psam_keys[alg];
	rc = cf_psam_issue(&r->f, r->psam[alg], &written);
	r->f.keys[CF_CITY] = &r->keys;
	snprintf(what, sizeof(what), "PSAM %s", alg_str(alg));
	if (rc != TKM_OK)
		return demo_fail(d, what, "%s", r->f.fail.msg);
	demo_check(d, written == r->psam_keys[alg].n && written == 2, what,
	    "terminal 5810000000%02X: %zu purchase keys written by U3 at "
	    "%s in %.1f ms (purchase_01, purchase_02 %s expected)",
	    term[5], written, d->hsm[DH_CITY].name,
	    (double)r->f.last_us / 1000.0, alg_str(alg));
	return 0;
}

/* --- the cards ------------------------------------------------------------ */

static int
card_fail(struct run *r, unsigned long n, int alg, const char *why)
{
	char step[64];

	snprintf(step, sizeof(step), "card %lu (%s 3104%s%08lu)", n,
	    alg_str(alg), DEMO_CITY1, n);
	return demo_fail(r->d, step, "%s", why);
}

/* The record of a load or purchase against what the card must hold. */
static int
balance_ok(struct run *r, unsigned long n, int alg, const struct cf_txn *t,
    uint32_t want)
{
	char why[160];

	if (t->balance == want)
		return 0;
	snprintf(why, sizeof(why), "%s: balance %u fen after it, %u expected",
	    t->type == CF_TXN_LOAD ? "load" : "purchase", t->balance, want);
	return card_fail(r, n, alg, why);
}

/* Load, its TAC; purchase, its TAC; the balance. */
static int
spend(struct run *r, unsigned long n, int alg, struct sim_card *c,
    const struct cf_when *w)
{
	struct cf_txn t;
	uint64_t us;
	char why[96];

	if (cf_load(&r->f, c, LOAD_FEN, load_term, w, &t) != TKM_OK)
		return card_fail(r, n, alg, r->f.fail.msg);
	us = r->f.last_us;
	if (balance_ok(r, n, alg, &t, LOAD_FEN) != 0)
		return DEMO_FAIL;
	if (cf_clear(&r->f, &t) != TKM_OK)
		return card_fail(r, n, alg, r->f.fail.msg);
	r->load_us += us + r->f.last_us;
	r->loaded++;
	r->cleared++;
	if (cf_purchase(&r->f, c, r->psam[alg], PURCHASE_FEN, w, &t) != TKM_OK)
		return card_fail(r, n, alg, r->f.fail.msg);
	if (balance_ok(r, n, alg, &t, LOAD_FEN - PURCHASE_FEN) != 0)
		return DEMO_FAIL;
	if (cf_clear(&r->f, &t) != TKM_OK)
		return card_fail(r, n, alg, r->f.fail.msg);
	r->spent++;
	r->cleared++;
	if (sim_card_balance(c) != LOAD_FEN - PURCHASE_FEN) {
		snprintf(why, sizeof(why),
		    "the card's balance is %u fen, %u "
		    "expected",
		    sim_card_balance(c), LOAD_FEN - PURCHASE_FEN);
		return card_fail(r, n, alg, why);
	}
	r->balances++;
	return 0;
}

/* Card n from the factory to its cleared purchase; EMV on the sample. */
static int
one_card(struct run *r, unsigned long n)
{
	int alg = tkm_alg(demo_card_alg(r->d, n)), rc = DEMO_FAIL;
	uint8_t asn[SIM_ASN_LEN];
	struct sim_card *c = NULL;
	struct cf_when w;
	struct cf_emv e;
	size_t written;
	char why[96];

	if (cf_card_asn(DEMO_CITY1, n, asn) != TKM_OK ||
	    cf_card_new(alg, asn, 0, &c) != TKM_OK)
		return card_fail(r, n, alg, "the factory made no blank card");
	cf_when_now(&w);
	if (cf_issue(&r->f, c, &written) != TKM_OK) {
		card_fail(r, n, alg, r->f.fail.msg);
		goto out;
	}
	r->issue_us[alg] += r->f.last_us;
	if (written != r->want_keys[alg]) {
		snprintf(why, sizeof(why),
		    "issue: %zu keys written, %zu "
		    "expected",
		    written, r->want_keys[alg]);
		card_fail(r, n, alg, why);
		goto out;
	}
	r->issued[alg]++;
	if (spend(r, n, alg, c, &w) != 0)
		goto out;
	if (alg == TKM_DES && ((n - 1) % EMV_EVERY == 0 || r->emv == 0)) {
		if (cf_emv(&r->f, c, EMV_FEN, &w, &e) != TKM_OK) {
			card_fail(r, n, alg, r->f.fail.msg);
			goto out;
		}
		r->emv++;
	}
	if (r->sample[alg] == NULL) { /* kept, saved at the end */
		r->sample[alg] = c;
		c = NULL;
	}
	rc = 0;
out:
	sim_card_free(c);
	return rc;
}

/* The progress line: often on a terminal, rarely in a log. */
static void
tick(struct run *r, unsigned long n, int last)
{
	long long now = proc_now_ms(), ms = now - r->t0;

	if (!last && now - r->tick_ms < (r->d->tty ? TICK_TTY_MS : TICK_LOG_MS))
		return;
	r->tick_ms = now;
	demo_progress(r->d,
	    "cards: %lu of %u personalised, loaded, spent, cleared (%.1f s, "
	    "%.0f cards/s)",
	    n, r->d->cards, (double)ms / 1000.0,
	    ms > 0 ? (double)n * 1000.0 / (double)ms : 0.0);
}

static int
all_cards(struct run *r)
{
	struct demo *d = r->d;
	uint64_t t0 = now_us();
	unsigned long n;

	r->t0 = r->tick_ms = proc_now_ms();
	for (n = 1; n <= d->cards; n++) {
		if (proc_interrupted())
			return DEMO_FAIL;
		if (one_card(r, n) != 0)
			return DEMO_FAIL;
		tick(r, n, 0);
	}
	r->loop_us = now_us() - t0;
	r->work_us = now_us() - r->work_t0;
	if (!d->tty) /* a terminal's line is replaced by what follows */
		tick(r, d->cards, 1);
	return 0;
}

/* --- results -------------------------------------------------------------- */

static double
per_s(unsigned long n, uint64_t us)
{
	return us > 0 ? (double)n * 1e6 / (double)us : 0.0;
}

static double
ms_each(uint64_t us, unsigned long n)
{
	return n > 0 ? (double)us / 1000.0 / (double)n : 0.0;
}

static void
checks(struct run *r)
{
	struct demo *d = r->d;
	unsigned long n = d->cards, des = demo_cards_of(d, "DES");
	unsigned long sm4 = demo_cards_of(d, "SM4");
	/* cards 1, 51, ...: DES when alternating too (odd numbers) */
	unsigned long emv_want = des > 0 ? (n - 1) / EMV_EVERY + 1 : 0;
	demo_check(d, r->issued[TKM_DES] == des && r->issued[TKM_SM4] == sm4,
	    "cards personalised",
	    "%lu of %lu (%lu DES, %lu SM4) by U3 at %s, %zu keys each",
	    r->issued[TKM_DES] + r->issued[TKM_SM4], n, r->issued[TKM_DES],
	    r->issued[TKM_SM4], d->hsm[DH_CITY].name, r->want_keys[TKM_DES]);
	demo_check(d, r->loaded == n, "cards loaded",
	    "%lu of %lu loaded with %u.%02u (MAC1 verified, MAC2 made by UB "
	    "at %s)",
	    r->loaded, n, LOAD_FEN / 100, LOAD_FEN % 100, d->hsm[DH_BIZ1].name);
	demo_check(d, r->spent == n, "cards spent",
	    "%lu of %lu spent %u.%02u through the PSAM of their algorithm",
	    r->spent, n, PURCHASE_FEN / 100, PURCHASE_FEN % 100);
	demo_check(d, r->cleared == 2 * n, "TACs cleared",
	    "%lu of %lu (a load and a purchase per card) verified by UB at %s",
	    r->cleared, 2 * n, d->hsm[DH_CLEAR].name);
	demo_check(d, r->balances == n, "balances",
	    "%lu of %lu cards hold %u.%02u, as their load and purchase "
	    "records say",
	    r->balances, n, (LOAD_FEN - PURCHASE_FEN) / 100,
	    (LOAD_FEN - PURCHASE_FEN) % 100);
	if (des > 0)
		demo_check(d, r->emv == emv_want && r->emv > 0, "EMV",
		    "%lu DES card%s (cards 1, %d, ...): ARQC verified and ARPC "
		    "made by KW at %s, the ARPC accepted by the card",
		    r->emv, r->emv == 1 ? "" : "s", EMV_EVERY + 1,
		    d->hsm[DH_BIZ1].name);
	else
		demo_say(d,
		    "EMV: no DES card in this run (KW and the e-cash AC "
		    "are 3DES only)");
}

/* The times of each step, and the figures of the report. */
static void
figures(struct run *r)
{
	static const char *const what[CF_NHSM] = {"U3", "UB, KW", "UB"};
	static const int ix[CF_NHSM] = {DH_CITY, DH_BIZ1, DH_CLEAR};
	struct demo *d = r->d;
	const struct cf_stats *st = &r->f.stats;
	unsigned long issued = r->issued[TKM_DES] + r->issued[TKM_SM4];
	uint64_t issue_us = r->issue_us[TKM_DES] + r->issue_us[TKM_SM4];
	uint64_t loop_us = r->loop_us > 0 ? r->loop_us : 1;
	uint64_t work_us = r->work_us > 0 ? r->work_us : 1, hsm_us = 0;
	size_t n = 0, cap = sizeof(d->card_figures);
	char *o = d->card_figures;
	int a, h, s;

	demo_say(d, "%-12s %7s %9s %9s %9s", "step", "runs", "total s",
	    "ms each", "per s");
	for (a = TKM_DES; a <= TKM_SM4; a++)
		if (r->issued[a] > 0)
			demo_say(d, "%-12s %7lu %9.2f %9.3f %9.1f",
			    a == TKM_DES ? "issue DES" : "issue SM4",
			    r->issued[a], (double)r->issue_us[a] / 1e6,
			    ms_each(r->issue_us[a], r->issued[a]),
			    per_s(r->issued[a], r->issue_us[a]));
	for (s = CF_PSAM; s < CF_NSTEPS; s++)
		demo_say(d, "%-12s %7lu %9.2f %9.3f %9.1f", cf_step_name(s),
		    st->runs[s], (double)st->us[s] / 1e6,
		    ms_each(st->us[s], st->runs[s]),
		    per_s(st->runs[s], st->us[s]));
	for (h = 0; h < CF_NHSM; h++) {
		hsm_us += st->call_us[h];
		demo_say(d,
		    "%-12s %7lu calls (%s) %.2f s, %.3f ms each, %.0f %% "
		    "of the %.1f s of PSAMs and cards",
		    d->hsm[ix[h]].name, st->calls[h], what[h],
		    (double)st->call_us[h] / 1e6,
		    ms_each(st->call_us[h], st->calls[h]),
		    100.0 * (double)st->call_us[h] / (double)work_us,
		    (double)work_us / 1e6);
	}
	n += (size_t)snprintf(o + n, cap - n,
	    "   cards: %u (%lu DES, %lu SM4) in %.1f s: personalised, loaded "
	    "%u.%02u, spent %u.%02u, %lu TACs cleared; EMV on %lu\n",
	    d->cards, r->issued[TKM_DES], r->issued[TKM_SM4],
	    (double)loop_us / 1e6, LOAD_FEN / 100, LOAD_FEN % 100,
	    PURCHASE_FEN / 100, PURCHASE_FEN % 100, r->cleared, r->emv);
	n += (size_t)snprintf(o + n, cap - n,
	    "     personalised %8.1f cards/s through %s (%.2f ms a card: "
	    "%zu U3)\n",
	    per_s(issued, issue_us), d->hsm[DH_CITY].name,
	    ms_each(issue_us, issued), r->want_keys[TKM_DES]);
	n += (size_t)snprintf(o + n, cap - n,
	    "     loaded       %8.1f loads/s end to end (%.2f ms: MAC1, MAC2 "
	    "by UB at %s, the TAC by UB at %s)\n",
	    per_s(r->loaded, r->load_us), ms_each(r->load_us, r->loaded),
	    d->hsm[DH_BIZ1].name, d->hsm[DH_CLEAR].name);
	n += (size_t)snprintf(o + n, cap - n,
	    "     spent        %8.1f purchases/s (card and PSAM, no HSM)\n",
	    per_s(st->runs[CF_PURCHASE], st->us[CF_PURCHASE]));
	n += (size_t)snprintf(o + n, cap - n,
	    "     cleared      %8.1f TACs/s at %s\n",
	    per_s(st->runs[CF_CLEAR], st->us[CF_CLEAR]), d->hsm[DH_CLEAR].name);
	if (n < cap)
		snprintf(o + n, cap - n,
		    "     time in HSM calls: %s %.0f %%, %s %.0f %%, %s %.0f "
		    "%%; the host (emulators) %.0f %%\n",
		    d->hsm[DH_CITY].name,
		    100.0 * (double)st->call_us[CF_CITY] / (double)work_us,
		    d->hsm[DH_BIZ1].name,
		    100.0 * (double)st->call_us[CF_BUSINESS] / (double)work_us,
		    d->hsm[DH_CLEAR].name,
		    100.0 * (double)st->call_us[CF_CLEARING] / (double)work_us,
		    100.0 - 100.0 * (double)hsm_us / (double)work_us);
}

/* The sample cards and the PSAMs into D/cards, for `tkms card show`. */
static int
save_samples(struct run *r)
{
	struct demo *d = r->d;
	char dir[DEMO_PATH + 8], path[DEMO_PATH + 64];
	uint8_t asn[SIM_ASN_LEN], term[SIM_TERM_ID_LEN];
	char hex[2 * SIM_ASN_LEN + 1];
	int a;

	snprintf(dir, sizeof(dir), "%s/cards", d->dir);
	if (demo_mkdirs(dir) != 0)
		return demo_fail(d, "cards", "%s: cannot create", dir);
	for (a = TKM_DES; a <= TKM_SM4; a++) {
		if (r->sample[a] != NULL) {
			sim_card_asn(r->sample[a], asn);
			tkm_hex_encode(asn, sizeof(asn), hex);
			snprintf(
			    path, sizeof(path), "%s/card-%s.card", dir, hex);
			if (sim_card_save(r->sample[a], path) != TKM_OK)
				return demo_fail(
				    d, "cards", "%s: cannot save", path);
			demo_say(d, "sample %s card -> cards/card-%s.card",
			    alg_str(a), hex);
		}
		if (r->psam[a] != NULL) {
			sim_psam_term(r->psam[a], term);
			tkm_hex_encode(term, sizeof(term), hex);
			snprintf(
			    path, sizeof(path), "%s/psam-%s.psam", dir, hex);
			if (sim_psam_save(r->psam[a], path) != TKM_OK)
				return demo_fail(
				    d, "cards", "%s: cannot save", path);
			demo_say(d, "%s PSAM -> cards/psam-%s.psam", alg_str(a),
			    hex);
		}
	}
	return 0;
}

/* --- the licences ------------------------------------------------------- */

/* The demo key of a licence (key "K305", lib "des"), or NULL. */
static const struct demo_key *
licensed_key(const struct demo *d, const char *key, const char *lib)
{
	size_t i;

	for (i = 0; key != NULL && lib != NULL && i < d->nkeys; i++)
		if (strcmp(d->keys[i].index, key) == 0 &&
		    strcmp(d->keys[i].alg,
			strcmp(lib, "sm4") == 0 ? "SM4" : "DES") == 0)
			return &d->keys[i];
	return NULL;
}

/* The line after p's, or "" at the end. */
static const char *
next_line(const char *p)
{
	const char *nl = strchr(p, '\n');

	return nl != NULL ? nl + 1 : p + strlen(p);
}

/* After the cards, `tkms maint show` (B): every U3 count used up by
 * exactly the cards and PSAMs, UB and U1 untouched. */
static int
licence_counts(struct run *r)
{
	struct demo *d = r->d;
	struct demo_hsm *city = &d->hsm[DH_CITY];
	const struct demo_key *k;
	char port[8], *out = NULL, first[160] = "";
	long long rem, used, want_rem, want_used;
	int u3 = 0, other = 0, bad = 0, sent_u3 = 0, sent = 0;
	json_error_t jerr;
	json_t *res, *l;
	const char *cmd, *p;
	size_t i;

	for (p = d->licences; p != NULL && *p != '\0'; p = next_line(p)) {
		sent++; /* one licence a line */
		sent_u3 += strncmp(p, "U3 ", 3) == 0;
	}
	snprintf(port, sizeof(port), "%u", city->mport);
	demo_progress(d, "%s: maint show (the licence counts)", city->name);
	if (demo_login(d, city, "B", NULL) != 0 ||
	    demo_tkms(d, "city-5810: tkms maint show", &out, "maint", "show",
		"--host", "127.0.0.1", "--port", port, "--session",
		city->session, NULL) != 0 ||
	    demo_logout(d, city) != 0) {
		free(out);
		return DEMO_FAIL;
	}
	res = json_loads(out != NULL ? out : "", 0, &jerr);
	free(out);
	if (res == NULL)
		return demo_fail(
		    d, "tkms maint show", "not JSON: %s", jerr.text);
	json_array_foreach(json_object_get(res, "licences"), i, l)
	{
		cmd = json_string_value(json_object_get(l, "cmd"));
		k = licensed_key(d,
		    json_string_value(json_object_get(l, "key")),
		    json_string_value(json_object_get(l, "lib")));
		rem = json_integer_value(json_object_get(l, "remaining"));
		used = json_integer_value(json_object_get(l, "used"));
		if (cmd != NULL && strcmp(cmd, "U3") == 0 && k != NULL) {
			u3++;
			want_rem = 0;
			want_used = demo_u3_uses(d, k->tmpl, k->alg);
		} else {
			other++;
			want_rem = d->cards;
			want_used = 0;
		}
		if (k != NULL && rem == want_rem && used == want_used)
			continue;
		if (bad++ == 0)
			snprintf(first, sizeof(first),
			    "; first wrong: %s %s %s remaining %lld used %lld "
			    "(%lld, %lld expected)",
			    cmd != NULL ? cmd : "?", k != NULL ? k->tmpl : "?",
			    k != NULL ? k->alg : "?", rem, used, want_rem,
			    want_used);
	}
	json_decref(res);
	return demo_check(d, bad == 0 && u3 == sent_u3 && u3 + other == sent,
		   "licence counts after the cards",
		   "%d U3 licences used up, each by the cards and PSAM of "
		   "its algorithm; %d UB and U1 licences untouched%s",
		   u3, other, first)
		   ? 0
		   : DEMO_FAIL;
}

/* Card N + 1: refused at the first licensed key with ERR A1, the
 * licence of that key used up. */
static int
licence_exhausted(struct run *r)
{
	struct demo *d = r->d;
	unsigned long n = d->cards + 1ul;
	int alg = tkm_alg(demo_card_alg(d, n)), rc, ok;
	uint8_t asn[SIM_ASN_LEN];
	struct sim_card *c = NULL;
	size_t written = 0;

	if (cf_card_asn(DEMO_CITY1, n, asn) != TKM_OK ||
	    cf_card_new(alg, asn, 0, &c) != TKM_OK)
		return card_fail(r, n, alg, "the factory made no blank card");
	demo_progress(d, "card %lu: one more than the licences allow", n);
	rc = cf_issue(&r->f, c, &written);
	sim_card_free(c);
	ok = rc != TKM_OK && r->f.fail.kind == CF_FAIL_HSM &&
	     r->f.fail.hsm == CF_CITY && r->f.fail.step == CF_ISSUE &&
	     strcmp(r->f.fail.err, "A1") == 0;
	return demo_check(d, ok, "licence exhausted",
		   "card %lu (%s) refused after %zu keys: %s", n, alg_str(alg),
		   written,
		   rc == TKM_OK ? "personalised (NOT refused)" : r->f.fail.msg)
		   ? 0
		   : DEMO_FAIL;
}

/* --- the phase ------------------------------------------------------------ */

/* commands.sh: what the demo does for one card, as `tkms card`
 * commands (docs/card-flows.md). */
static void
log_by_hand(struct run *r)
{
	struct demo *d = r->d;
	char keys[DEMO_PATH + 32], clr[DEMO_PATH + 32], card[DEMO_PATH + 32];
	char psam[DEMO_PATH + 32];
	const char *const lines[][16] = {
	    {"card", "new", "--card", card, "--asn", "3104581000000001",
		"--alg", "DES", NULL},
	    {"card", "psam", "--psam", psam, "--term", "581000000021", "--city",
		r->ep[CF_CITY], "--keys", keys, NULL},
	    {"card", "issue", "--card", card, "--city", r->ep[CF_CITY],
		"--keys", keys, NULL},
	    {"card", "load", "--card", card, "--amount", "10000", "--business",
		r->ep[CF_BUSINESS], "--keys", keys, "--clearing",
		r->ep[CF_CLEARING], "--clearing-keys", clr, NULL},
	    {"card", "purchase", "--card", card, "--psam", psam, "--amount",
		"1234", "--keys", keys, "--clearing", r->ep[CF_CLEARING],
		"--clearing-keys", clr, NULL},
	    {"card", "emv", "--card", card, "--amount", "2000", "--business",
		r->ep[CF_BUSINESS], "--keys", keys, NULL},
	};
	size_t i;

	snprintf(keys, sizeof(keys), "%s/issued-biz-5810.json", d->usb);
	snprintf(clr, sizeof(clr), "%s/issued-clearing.json", d->usb);
	snprintf(card, sizeof(card), "%s/cards/by-hand.card", d->dir);
	snprintf(psam, sizeof(psam), "%s/cards/by-hand.psam", d->dir);
	demo_log(d,
	    "# 8 cards: the demo drives the card flows itself "
	    "(src/cli/cardflow.c).\n# One card by hand (a new city licence "
	    "first: the run uses up every U3 count):",
	    (const char *const[]){NULL});
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		demo_log(d, "tkms", lines[i]);
}

static void
run_free(struct run *r)
{
	int h, a;

	for (h = 0; h < CF_NHSM; h++)
		tkm_client_free(r->c[h]);
	for (a = 0; a < 3; a++) {
		sim_psam_free(r->psam[a]);
		sim_card_free(r->sample[a]);
	}
	free(r);
}

int
demo_cards(struct demo *d)
{
	struct run *r = calloc(1, sizeof(*r));
	unsigned des = demo_cards_of(d, "DES"), sm4 = demo_cards_of(d, "SM4");
	int rc = DEMO_FAIL;

	if (r == NULL)
		return demo_fail(d, "cards", "out of memory");
	r->d = d;
	cf_init(&r->f);
	demo_say(d,
	    "cards 3104%s00000001 to 3104%s%08u: %u (%u DES, %u SM4%s); "
	    "each personalised (U3), loaded %u.%02u (UB), spent %u.%02u "
	    "(PSAM), both TACs cleared (UB); EMV (KW) on DES cards 1, %d, "
	    "...",
	    DEMO_CITY1, DEMO_CITY1, d->cards, d->cards, des, sm4,
	    d->card_alg[0] == '\0' ? ": odd numbers DES, even SM4" : "",
	    LOAD_FEN / 100, LOAD_FEN % 100, PURCHASE_FEN / 100,
	    PURCHASE_FEN % 100, EMV_EVERY + 1);
	if (key_tables(r) != 0 || connect_all(r) != 0)
		goto out;
	log_by_hand(r);
	r->work_t0 = now_us();
	if ((des > 0 && make_psam(r, TKM_DES) != 0) ||
	    (sm4 > 0 && make_psam(r, TKM_SM4) != 0))
		goto out;
	if (all_cards(r) != 0)
		goto out;
	checks(r);
	figures(r);
	if (save_samples(r) != 0 || licence_counts(r) != 0 ||
	    licence_exhausted(r) != 0)
		goto out;
	rc = 0;
out:
	run_free(r);
	return rc;
}
