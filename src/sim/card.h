/*
 * card.h - a JT/T 978 user card (the e-purse application of a transport
 * CPU card) at APDU level, for tests and the `tkms card` simulator.
 * docs/sim.md has every command, status word and the state file.
 *
 * A simulated card: its keys are in its state file in clear, as they are
 * in a physical card's memory. Use test keys only.
 *
 * Usage, one command per process as a CLI runs it (error checks left out;
 * every function that can fail returns enum tkm_err):
 *
 *	// (a) a blank card: serial, algorithm, and the transport key that
 *	//     protects the first key writes (the card's initial
 *	//     secure-messaging key, "ecash_enc" slot)
 *	struct sim_card_params p = {.alg = TKM_SM4};
 *	memcpy(p.asn, serial, SIM_ASN_LEN);
 *	memcpy(p.tk, transport_key, SIM_KEY_LEN);
 *	sim_card_new(&p, &c);
 *	sim_card_save(c, "card.txt");
 *	sim_card_free(c);
 *
 *	// (b) personalise one key: SELECT, GET CHALLENGE 0084000004, then
 *	//     the HSM's U3 (sm.h) for that challenge, sent as 84D4
 *	sim_card_load("card.txt", &c, &ferr);
 *	sim_card_apdu(c, select, sizeof(select), r, sizeof(r), &n);
 *	sim_card_apdu(c, challenge, 5, r, sizeof(r), &n);  // rnd || 9000
 *	// ... U3 with IV-MAC rnd||00.., MAC-fill from sim_sm_mac_fill()
 *	sim_sm_write_key_apdu(TKM_SM4, SIM_KEY_LOAD, 1, ct, ctlen, mac,
 *	    apdu, sizeof(apdu), &alen);
 *	sim_card_apdu(c, apdu, alen, r, sizeof(r), &n);     // 9000
 *	sim_card_save(c, "card.txt");
 *
 *	// (c) a load: 805000020B 01 amount term 10 -> bal sn ver alg rnd MAC1;
 *	//     the host checks MAC1 and makes MAC2 with the HSM (UB scheme
 *	//     1), then 805200000B date time MAC2 04 -> TAC || 9000
 *
 * Card keys are business keys diversified once by the card factor
 * (derive.h: the ASN's 8 bytes), written into the card by 84D4 under
 * the card's current secure-messaging key. Every key is 16 bytes: double
 * DES on a DES card, SM4 on an SM4 card.
 */
#ifndef SIM_CARD_H
#define SIM_CARD_H

#include <stddef.h>
#include <stdint.h>

#include "simfile.h"
#include "sm.h"
#include "tkm/err.h"

#define SIM_ASN_LEN             8
#define SIM_CARD_NKEYS          23      /* spec appendix 2 */
#define SIM_CARD_MAX_BALANCE    100000u /* fen: 1000.00 yuan */
#define SIM_CARD_BALANCE_LIMIT  0x7FFFFFFFu
#define SIM_CARD_EXT_AUTH_KEYS  3 /* ext_auth_01..03 */
#define SIM_CARD_EXT_AUTH_TRIES 3 /* per key, before it blocks */
#define SIM_CARD_AID_LEN        8
#define SIM_CARD_ADF_FID        0x1001
#define SIM_CARD_FILE_0015_LEN  30

/* The transport application's AID (RID A000000632 of the ministry). */
extern const uint8_t sim_card_aid[SIM_CARD_AID_LEN];

/*
 * Key usage, P1 of 84D4; P2 is the index (1..count). The names are the
 * KMS key templates of spec appendix 2 (docs/kms-schema.md).
 */
enum sim_key_usage {
	SIM_KEY_MAINT = 0x01,     /* app_maint_01..03 */
	SIM_KEY_PURCHASE = 0x02,  /* purchase_01..02 */
	SIM_KEY_LOAD = 0x03,      /* load_01..03 */
	SIM_KEY_TAC = 0x04,       /* tac */
	SIM_KEY_LOCK = 0x05,      /* app_lock */
	SIM_KEY_UNLOCK = 0x06,    /* app_unlock */
	SIM_KEY_EXT_AUTH = 0x07,  /* ext_auth_01..03 */
	SIM_KEY_UNLOAD = 0x08,    /* unload */
	SIM_KEY_OVERDRAFT = 0x09, /* overdraft */
	SIM_KEY_AC = 0x0A,        /* ecash_ac (DES: GENERATE AC) */
	SIM_KEY_RECORD = 0x0B,    /* ecash_record */
	SIM_KEY_SM_MAC = 0x0C,    /* ecash_mac */
	SIM_KEY_SM_ENC = 0x0D,    /* ecash_enc: protects every 84D4 */
	SIM_KEY_EXT_OPEN = 0x0E,  /* ext_open */
	SIM_KEY_EXT_MANAGE = 0x0F /* ext_manage_01..02 */
};

/*
 * The (usage, index) of a KMS template name ("load_01", "tac", ...):
 * TKM_OK, or TKM_ERR_INPUT for a name the card has no key for.
 */
int sim_card_key_by_name(
    const char *name, uint8_t *usage, uint8_t *index) TKM_MUST_CHECK;
/* The template name of (usage, index), or NULL. */
const char *sim_card_key_name(unsigned usage, unsigned index);

struct sim_card;

struct sim_card_params {
	int alg; /* TKM_DES or TKM_SM4 */
	uint8_t asn[SIM_ASN_LEN];
	uint8_t tk[SIM_KEY_LEN]; /* initial secure-messaging key */
	uint32_t max_balance;    /* 0: SIM_CARD_MAX_BALANCE */
};

/* A blank card: balance 0, serial numbers 0, only the transport key.
 * TKM_ERR_MODE for another alg, TKM_ERR_INPUT for a max_balance above
 * SIM_CARD_BALANCE_LIMIT, TKM_ERR_NOMEM. */
int sim_card_new(
    const struct sim_card_params *p, struct sim_card **out) TKM_MUST_CHECK;
/* Wipes the keys. NULL is a no-op. */
void sim_card_free(struct sim_card *c);

/*
 * One command APDU to the card; the response (data || SW1 SW2, at least
 * 2 bytes) into resp, which MUST hold SIM_APDU_MAX_RESP bytes
 * (TKM_ERR_SPACE before anything runs). Returns TKM_OK whatever the
 * status word; TKM_ERR_INPUT for NULL arguments.
 */
int sim_card_apdu(struct sim_card *c, const uint8_t *cmd, size_t len,
    uint8_t *resp, size_t cap, size_t *rlen) TKM_MUST_CHECK;

/* Power cycle: forget the selection, challenge, authentication and any
 * transaction in progress (the state file keeps them otherwise). */
void sim_card_reset(struct sim_card *c);

/* Random source for challenges and INITIALIZE (tests); NULL restores
 * tkm_random. Not saved. */
void sim_card_set_rng(struct sim_card *c, sim_rng_fn rng, void *ctx);

/* Write a key in clear, bypassing 84D4 (tests, HSM-less demos).
 * TKM_ERR_INDEX for an (usage, index) the card has not. */
int sim_card_set_key(struct sim_card *c, unsigned usage, unsigned index,
    const uint8_t key[SIM_KEY_LEN]) TKM_MUST_CHECK;

int sim_card_alg(const struct sim_card *c);
void sim_card_asn(const struct sim_card *c, uint8_t asn[SIM_ASN_LEN]);
uint32_t sim_card_balance(const struct sim_card *c);
unsigned sim_card_online_sn(const struct sim_card *c);  /* next load */
unsigned sim_card_offline_sn(const struct sim_card *c); /* next purchase */
unsigned sim_card_atc(const struct sim_card *c);        /* last AC's */
int sim_card_has_key(const struct sim_card *c, unsigned usage, unsigned index);
/* Bit i-1 set: external authentication with key i passed since the last
 * SELECT or reset. */
unsigned sim_card_auth(const struct sim_card *c);

/*
 * The state file (docs/sim.md "Card state file"). write: into out (cap
 * bytes; SIM_FILE_MAX always suffices), TKM_ERR_SPACE. parse: a fresh
 * card; on failure *out is NULL and err (may be NULL) says line and why:
 * TKM_ERR_INPUT, TKM_ERR_HEX, TKM_ERR_TRUNC, TKM_ERR_TRAILING,
 * TKM_ERR_DATA_LEN (file or line too long), TKM_ERR_NOMEM. Whatever
 * parses writes back to the same bytes.
 */
int sim_card_write(const struct sim_card *c, char *out, size_t cap,
    size_t *len) TKM_MUST_CHECK;
int sim_card_parse(const void *p, size_t len, struct sim_card **out,
    struct sim_file_err *err) TKM_MUST_CHECK;
/* The same on files: save replaces path atomically (mode 0600); load
 * adds TKM_ERR_IO (err->line 0). */
int sim_card_save(const struct sim_card *c, const char *path) TKM_MUST_CHECK;
int sim_card_load(const char *path, struct sim_card **out,
    struct sim_file_err *err) TKM_MUST_CHECK;

#endif
