/*
 * card_impl.h - the card's state, shared by card.c (the commands) and
 * card_file.c (the state file). Not an API: include card.h.
 */
#ifndef SIM_CARD_IMPL_H
#define SIM_CARD_IMPL_H

#include "card.h"

#define SIM_RND_LEN  4
#define SIM_TERM_LEN 6
#define SIM_AC_LEN   8
#define SIM_SN_MAX   0xFFFFu

struct sim_key {
	uint8_t set;
	uint8_t k[SIM_KEY_LEN];
};

/* A load or purchase between INITIALIZE and CREDIT / DEBIT. */
enum { SIM_SES_NONE = 0, SIM_SES_LOAD = 1, SIM_SES_PURCHASE = 2 };
struct sim_session {
	int kind;
	uint8_t ki; /* key index */
	uint32_t amount;
	uint8_t term[SIM_TERM_LEN];
	uint8_t rnd[SIM_RND_LEN];
};

/* The last completed transaction, for GET TRANSACTION PROVE. */
struct sim_last {
	int kind; /* SIM_SES_NONE, _LOAD, _PURCHASE */
	uint32_t sn;
	uint8_t mac[4], tac[4];
};

/* The last ARQC, for issuer authentication. */
struct sim_arqc {
	int valid;
	uint32_t atc;
	uint8_t ac[SIM_AC_LEN];
};

struct sim_card {
	/* persistent */
	int alg;
	uint8_t asn[SIM_ASN_LEN];
	uint32_t max_balance, balance;
	uint32_t online_sn, offline_sn, atc;
	struct sim_key keys[SIM_CARD_NKEYS];
	uint8_t tries[SIM_CARD_EXT_AUTH_KEYS]; /* tries left per key */
	struct sim_last last;
	/* volatile (kept in the state file too, cleared by a reset) */
	int selected;
	struct sim_challenge ch;
	unsigned auth;
	struct sim_session ses;
	struct sim_arqc arqc;
	/* not saved */
	sim_rng_fn rng;
	void *rng_ctx;
};

/* Slot of (usage, index) in keys[], or -1. */
int sim_card_slot(unsigned usage, unsigned index);
/* usage and index of slot i (0..SIM_CARD_NKEYS-1). */
void sim_card_slot_id(int i, uint8_t *usage, uint8_t *index);

/* A zeroed card in locked memory (NULL when out of memory). */
struct sim_card *sim_card_alloc(void);

#endif
