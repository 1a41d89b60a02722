/*
 * cmd_card_bench.c - `tkms card bench`: cards personalised per second
 * through the city HSM and loads per second end to end (load at the
 * business HSM, TAC at the clearing HSM), each against the yardstick of
 * an NC round trip to the same HSMs measured in the same run
 * (docs/benchmarks.md "Cards").
 *
 * For card i (numbers --first, --first + 1, ...): the factory makes a
 * blank card in memory (not timed), NC_PER_STEP NC round trips to the city
 * HSM, the card's personalisation (timed), NC_PER_STEP NC to the business
 * and to the clearing HSM, the load and its clearing (timed). Interleaving
 * the yardstick with the work makes both see the same load on the
 * machine. One connection per HSM, one request in flight: the figures are
 * latencies of a single personalisation or load host, not the HSMs'
 * throughput (tkms-bench measures that).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "card_sim.h"
#include "tkm/crypto.h"

#define NC_PER_STEP 4

static uint64_t
bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* NC_PER_STEP NC round trips to h, their time added to *us. */
static int
nc(struct card_env *e, int h, uint64_t *us)
{
	uint8_t resp[256];
	size_t n;
	uint64_t t0 = bench_now_us();
	int i, rc;

	for (i = 0; i < NC_PER_STEP; i++) {
		rc = tkm_client_call(
		    e->c[h], (const uint8_t *)"NC", 2, resp, sizeof(resp), &n);
		if (rc != TKM_OK || n < 4 || memcmp(resp, "ND00", 4) != 0) {
			fprintf(stderr, "tkms card bench: NC at the %s: %s\n",
			    cf_hsm_name(h),
			    rc != TKM_OK ? tkm_strerror(rc) : "not ND00");
			return -1;
		}
	}
	*us += bench_now_us() - t0;
	return 0;
}

static double
per_s(unsigned long n, uint64_t us)
{
	return us > 0 ? (double)n * 1e6 / (double)us : 0.0;
}

static double
ratio(double a, double b)
{
	return b > 0 ? a / b : 0.0;
}

static json_t *
report(const struct card_opts *o, const struct card_env *e, size_t nkeys,
    const uint64_t nc_us[CF_NHSM])
{
	unsigned long n = o->cards, nnc = n * NC_PER_STEP;
	const struct cf_stats *st = &e->f.stats;
	double issue_us = (double)st->us[CF_ISSUE] / (double)n;
	double load_us =
	    (double)(st->us[CF_LOAD] + st->us[CF_CLEAR]) / (double)n;
	double nc_city = (double)nc_us[CF_CITY] / (double)nnc;
	double nc_biz = (double)nc_us[CF_BUSINESS] / (double)nnc;
	double nc_clr = (double)nc_us[CF_CLEARING] / (double)nnc;
	/* a load is 2 UB at the business HSM and 1 at the clearing HSM */
	double nc_load = (2 * nc_biz + nc_clr) / 3;
	json_t *j = json_object(), *is = json_object(), *ld = json_object();
	json_t *y = json_object();

	json_object_set_new(j, "cards", json_integer((json_int_t)n));
	json_object_set_new(
	    j, "alg", json_string(o->alg == TKM_DES ? "DES" : "SM4"));
	json_object_set_new(
	    is, "cards_per_s", json_real(per_s(n, st->us[CF_ISSUE])));
	json_object_set_new(is, "ms_per_card", json_real(issue_us / 1000));
	json_object_set_new(is, "u3_per_card", json_integer((json_int_t)nkeys));
	json_object_set_new(
	    is, "nc_round_trips_per_card", json_real(ratio(issue_us, nc_city)));
	json_object_set_new(is, "nc_round_trips_per_u3",
	    json_real(ratio(issue_us, nc_city * (double)nkeys)));
	json_object_set_new(j, "issue", is);
	json_object_set_new(ld, "loads_per_s",
	    json_real(per_s(n, st->us[CF_LOAD] + st->us[CF_CLEAR])));
	json_object_set_new(ld, "ms_per_load", json_real(load_us / 1000));
	json_object_set_new(ld, "hsm_calls_per_load", json_integer(3));
	json_object_set_new(
	    ld, "nc_round_trips_per_load", json_real(ratio(load_us, nc_load)));
	json_object_set_new(ld, "nc_round_trips_per_ub",
	    json_real(ratio(load_us, 3 * nc_load)));
	json_object_set_new(j, "load", ld);
	json_object_set_new(y, "city_us", json_real(nc_city));
	json_object_set_new(y, "business_us", json_real(nc_biz));
	json_object_set_new(y, "clearing_us", json_real(nc_clr));
	json_object_set_new(j, "nc", y);
	return j;
}

int
card_bench(const struct card_opts *o)
{
	static const uint8_t term[SIM_TERM_ID_LEN] = {0x10, 0, 0, 0, 0, 1};
	uint64_t nc_us[CF_NHSM] = {0};
	struct sim_card *c = NULL;
	uint8_t asn[SIM_ASN_LEN];
	struct card_env e;
	struct cf_when w;
	struct cf_txn t;
	size_t nkeys = 0;
	unsigned long i;
	int status = 2;

	if (card_env_open(o, &e) != 0)
		goto out;
	if (e.city[0] == '\0') {
		fprintf(stderr, "tkms card bench: the card numbers need the "
				"city: --city-code C or a --keys file with "
				"city_code\n");
		goto out;
	}
	cf_when_now(&w);
	for (i = 0; i < o->cards; i++) {
		if (cf_card_asn(e.city, (o->first + i) % 100000000ul, asn) !=
			TKM_OK ||
		    cf_card_new(o->alg, asn, 0, &c) != TKM_OK) {
			fprintf(stderr, "tkms card bench: no blank card\n");
			goto out;
		}
		if (nc(&e, CF_CITY, &nc_us[CF_CITY]) != 0)
			goto out;
		if (cf_issue(&e.f, c, &nkeys) != TKM_OK)
			goto failed;
		if (nc(&e, CF_BUSINESS, &nc_us[CF_BUSINESS]) != 0 ||
		    nc(&e, CF_CLEARING, &nc_us[CF_CLEARING]) != 0)
			goto out;
		if (cf_load(&e.f, c, o->amount ? (uint32_t)o->amount : 10000,
			term, &w, &t) != TKM_OK ||
		    cf_clear(&e.f, &t) != TKM_OK)
			goto failed;
		sim_card_free(c);
		c = NULL;
	}
	card_print(report(o, &e, nkeys, nc_us));
	status = 0;
	goto out;
failed:
	fprintf(stderr, "tkms card bench: card %lu: %s\n", o->first + i,
	    e.f.fail.msg);
	status = e.f.fail.kind == CF_FAIL_HSM || e.f.fail.kind == CF_FAIL_CARD
		     ? 1
		     : 2;
out:
	sim_card_free(c);
	card_env_close(&e);
	return status;
}
