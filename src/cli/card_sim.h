/*
 * card_sim.h - what cmd_card_sim.c (`tkms card ...`, the card and PSAM
 * simulator) shares with cmd_card_bench.c (`tkms card bench`): the parsed
 * options, the HSM connections and the key tables. docs/card-flows.md.
 */
#ifndef TKMS_CARD_SIM_H
#define TKMS_CARD_SIM_H

#include "cardflow.h"

/* Options, one bit each in card_opts.given. */
enum card_opt {
	CO_CARD,
	CO_PSAM,
	CO_OUT,
	CO_KEYS,
	CO_CITY_KEYS,
	CO_CLEARING_KEYS,
	CO_CITY_CODE,
	CO_CITY,
	CO_BUSINESS,
	CO_CLEARING,
	CO_ASN,
	CO_TERM,
	CO_DATE,
	CO_TIME,
	CO_ALG,
	CO_AMOUNT,
	CO_MAX_BALANCE,
	CO_TERM_SN,
	CO_KEY_INDEX,
	CO_CARDS,
	CO_FIRST,
	CO_HDRLEN,
	CO_TIMEOUT,
	CO_N
};

#define CO_BIT(x) (1ul << (x))

struct card_opts {
	unsigned long given;
	const char *card, *psam, *out;
	const char *keys, *city_keys, *clearing_keys, *city_code;
	const char *ep[CF_NHSM]; /* HOST:PORT of each HSM */
	const char *date, *time;
	uint8_t asn[SIM_ASN_LEN], term[SIM_TERM_ID_LEN];
	int alg;
	unsigned long amount, max_balance, term_sn, key_index, cards, first;
	unsigned long hdrlen, timeout;
};

/* The connections and key tables of one command. */
struct card_env {
	struct cf f;
	struct tkm_client *c[CF_NHSM];
	struct cf_keys keys[CF_NHSM];
	char city[5]; /* the card's city code, "" when unknown */
};

/*
 * Connect to the HSMs given (--city, --business, --clearing) and read the
 * key tables they need; f ready for cardflow. 0, or -1 after a message.
 */
int card_env_open(const struct card_opts *o, struct card_env *e);
void card_env_close(struct card_env *e);

/* Print j on stdout (indented), then free it. */
void card_print(json_t *j);

/* `tkms card bench` (cmd_card_bench.c). Exit status. */
int card_bench(const struct card_opts *o);

#endif
