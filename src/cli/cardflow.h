/*
 * cardflow.h - the host side of one transport card (docs/card-flows.md):
 * the emulated card and PSAM of src/sim against real HSMs over the
 * host-command protocol, as a personalisation system, a load host, a
 * terminal and the clearing drive them.
 *
 *   issue     blank card -> every key by U3 at the city HSM, written as
 *             84D4 APDUs (the keys never appear in clear on the host)
 *   psam      the purchase master keys into a PSAM, likewise
 *   load      INITIALIZE FOR LOAD -> MAC1 verified, MAC2 made by UB
 *             scheme 1 at the business HSM -> CREDIT FOR LOAD -> TAC
 *   purchase  card INITIALIZE / PSAM 8070 / card DEBIT / PSAM 8072 -> TAC
 *   clear     a load's or purchase's TAC verified by UB scheme 2 at the
 *             clearing HSM
 *   emv       GENERATE AC -> ARQC verified, ARPC made by KW scheme 9 at
 *             the business HSM -> issuer authentication at the card
 *
 * Usage, one card of `tkms demo` (error checks left out; every function
 * that can fail returns TKM_OK or a cause of err.h and fills f.fail):
 *
 *	struct cf f;
 *	cf_init(&f);
 *	f.hsm[CF_CITY] = city;  f.keys[CF_CITY] = &city_keys;
 *	f.hsm[CF_BUSINESS] = biz;  f.keys[CF_BUSINESS] = &biz_keys;
 *	f.hsm[CF_CLEARING] = clr;  f.keys[CF_CLEARING] = &tac_keys;
 *	cf_card_asn("5810", n, asn);
 *	cf_card_new(TKM_DES, asn, 0, &card);         // the factory
 *	cf_issue(&f, card, NULL);                    // city HSM, U3
 *	cf_when_now(&when);
 *	cf_load(&f, card, 10000, term, &when, &t);   // business HSM, UB
 *	cf_clear(&f, &t);                            // clearing HSM, UB
 *	cf_purchase(&f, card, psam, 1500, &when, &t);
 *	cf_clear(&f, &t);
 *	cf_emv(&f, card, 2000, &when, &e);           // business HSM, KW
 *	... f.fail.msg says what failed; f.stats the times per step
 *	sim_card_free(card);
 *
 * The clients are the caller's (one per HSM, open for many cards, not
 * thread-safe: one struct cf per thread). A failed step may leave the
 * emulated card changed in memory (a credited load whose TAC the clearing
 * refuses, a half personalised card): the `tkms card` commands save state
 * files only after a whole command succeeded.
 */
#ifndef TKMS_CARDFLOW_H
#define TKMS_CARDFLOW_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "card.h"
#include "psam.h"
#include "tkm/client.h"
#include "tkm/err.h"

/*
 * The simulation's TEST card-transport master keys (卡片传输主密钥): 16
 * bytes of 0x22, double DES and SM4, type 309, at these indexes of the
 * business HSM (imported from the key mother card `tkms card
 * transport-keys` writes) and of the city HSMs cloned from it. A blank
 * card's transport key is the master diversified by its ASN, a blank
 * PSAM's by FFFF || terminal number: the card factory's step, done by
 * cf_card_new / cf_psam_new. Test keys: never for real cards.
 */
#define CF_TRANSPORT_BYTE      0x22
#define CF_TRANSPORT_DES_INDEX 0x7F0
#define CF_TRANSPORT_SM4_INDEX 0x7F1
#define CF_TRANSPORT_TYPE      "309"

#define CF_TMPL_MAX 24 /* KMS template name, with its NUL */
#define CF_KEYS_MAX 64
#define CF_MSG_MAX  640
#define CF_TAC_LEN  4

/* The HSMs of a card's life. */
enum cf_hsm {
	CF_CITY,     /* personalisation: U3 */
	CF_BUSINESS, /* load MAC1/MAC2: UB; EMV: KW */
	CF_CLEARING, /* TACs: UB */
	CF_NHSM
};

enum cf_step {
	CF_ISSUE,
	CF_PSAM,
	CF_LOAD,
	CF_PURCHASE,
	CF_CLEAR,
	CF_EMV,
	CF_NSTEPS
};

/* A key an HSM holds, by KMS template (docs/kms-schema.md). */
struct cf_key {
	char tmpl[CF_TMPL_MAX]; /* load_01, tac, ecash_enc, ... */
	int alg;                /* TKM_DES or TKM_SM4 */
	unsigned index;         /* 0x000..0xFFF of alg's library */
	char type[4];           /* HSM key type code: 509, 309, 109, 209 */
};

/* The keys of one HSM; one key per (template, alg). */
struct cf_keys {
	struct cf_key k[CF_KEYS_MAX];
	size_t n;
};

/* Transaction date and time, BCD: YYYYMMDD, hhmmss. */
struct cf_when {
	uint8_t date[4], time[3];
};

#define CF_TXN_LOAD     0x02
#define CF_TXN_PURCHASE 0x06

/* A load or purchase as the clearing receives it. */
struct cf_txn {
	uint8_t type; /* CF_TXN_LOAD, CF_TXN_PURCHASE */
	int alg;
	uint8_t asn[SIM_ASN_LEN];
	uint32_t amount, balance; /* fen; balance after the transaction */
	unsigned sn;              /* online (load) / offline (purchase) SN */
	uint8_t term[SIM_TERM_ID_LEN];
	uint32_t term_sn; /* purchase: the PSAM's terminal SN */
	struct cf_when when;
	uint8_t tac[CF_TAC_LEN];
	unsigned key_index; /* load_0N / purchase_0N */
};

struct cf_emv {
	unsigned atc;
	uint8_t arqc[8], arpc[8];
};

/* What failed, for people. */
enum cf_fail_kind {
	CF_FAIL_NONE,
	CF_FAIL_SETUP, /* no client or key for the step, wrong card state */
	CF_FAIL_LINK,  /* the HSM did not answer (connection, timeout) */
	CF_FAIL_HSM,   /* the HSM refused: err is its ERR code */
	CF_FAIL_CARD   /* the card or PSAM refused: sw */
};

struct cf_fail {
	enum cf_fail_kind kind;
	enum cf_step step;
	int hsm;     /* the HSM (enum cf_hsm) of LINK and HSM, else -1 */
	char err[3]; /* the HSM's ERR code ("01", "A1"), else "" */
	unsigned sw; /* the card's or PSAM's status word, else 0 */
	char msg[CF_MSG_MAX]; /* one sentence: step, who, what, what to do */
};

/* Accumulated over the calls of one struct cf (successful steps only). */
struct cf_stats {
	unsigned long runs[CF_NSTEPS];
	uint64_t us[CF_NSTEPS]; /* wall-clock microseconds */
	unsigned long calls[CF_NHSM];
	uint64_t call_us[CF_NHSM]; /* round trips, failed ones included */
};

struct cf {
	/* inputs: not owned; a step whose HSM or key is missing fails with
	 * CF_FAIL_SETUP */
	struct tkm_client *hsm[CF_NHSM];
	const char *name[CF_NHSM]; /* "HOST:PORT" for messages, may be NULL */
	const struct cf_keys *keys[CF_NHSM]; /* clearing: its TAC keys of the
						card's city */
	unsigned transport[3]; /* [TKM_DES], [TKM_SM4]: the masters' index
				  in the city HSM */
	unsigned load_key;     /* load_0N of loads, 1..3 (default 1) */
	unsigned purchase_key; /* purchase_0N of purchases, 1..2 (1) */
	/* outputs */
	struct cf_fail fail; /* of the last call that failed */
	struct cf_stats stats;
	uint64_t last_us; /* the last successful step's time */
};

/* Defaults: no HSM, the transport indexes above, key index 1. */
void cf_init(struct cf *f);

/* "issue", "psam", ...; "city HSM", "business HSM", "clearing HSM". */
const char *cf_step_name(int step);
const char *cf_hsm_name(int hsm);

/* --- the factory (no HSM) ------------------------------------------------ */

/*
 * A blank card of alg with serial asn: only its transport key, the test
 * master diversified by the ASN (sim_card_new's TKM_ERR_* otherwise).
 * max_balance 0: the emulator's default.
 */
int cf_card_new(int alg, const uint8_t asn[SIM_ASN_LEN], uint32_t max_balance,
    struct sim_card **out) TKM_MUST_CHECK;
/* A blank PSAM with both transport keys (master by FFFF || term). */
int cf_psam_new(const uint8_t term[SIM_TERM_ID_LEN], uint32_t term_sn,
    struct sim_psam **out) TKM_MUST_CHECK;
/* The ASN of card number n (0..99999999) of a city: 3104 || city code (4
 * digits) || n as 8 digits, BCD, so that KW (BCD PANs) takes it.
 * TKM_ERR_INPUT otherwise. */
int cf_card_asn(
    const char *city, unsigned long n, uint8_t asn[SIM_ASN_LEN]) TKM_MUST_CHECK;

/* --- the flows ------------------------------------------------------------ */

/*
 * Personalise a blank card at the city HSM: ecash_enc under the card's
 * transport key, then every other key of keys[CF_CITY] in the card's
 * algorithm under the new ecash_enc, each the business key diversified by
 * the ASN (U3 mode 1, scheme 1, protection 309, docs/sim.md). *written
 * (may be NULL) the number of keys written. A card that holds a key
 * besides its transport key is refused (CF_FAIL_SETUP).
 */
int cf_issue(struct cf *f, struct sim_card *c, size_t *written) TKM_MUST_CHECK;
/* The purchase master keys (purchase_0N as key version N, no
 * diversification) of keys[CF_CITY], both algorithms, into a PSAM under
 * its transport keys. */
int cf_psam_issue(
    struct cf *f, struct sim_psam *s, size_t *written) TKM_MUST_CHECK;
/* A load of amount fen at terminal term; *t the record for cf_clear. */
int cf_load(struct cf *f, struct sim_card *c, uint32_t amount,
    const uint8_t term[SIM_TERM_ID_LEN], const struct cf_when *w,
    struct cf_txn *t) TKM_MUST_CHECK;
/* A purchase of amount fen at the PSAM's terminal (no HSM). */
int cf_purchase(struct cf *f, struct sim_card *c, struct sim_psam *s,
    uint32_t amount, const struct cf_when *w, struct cf_txn *t) TKM_MUST_CHECK;
/* The clearing: t's TAC verified (UB scheme 2, the tac key by the ASN). */
int cf_clear(struct cf *f, const struct cf_txn *t) TKM_MUST_CHECK;
/* GENERATE AC (ARQC) over a CDOL1 for amount fen, KW scheme 9 mode 1 at
 * the business HSM (ecash_ac, DES), issuer authentication (method 1). An
 * SM4 card answers 6A81: KW and the e-cash AC are 3DES only. */
int cf_emv(struct cf *f, struct sim_card *c, uint32_t amount,
    const struct cf_when *w, struct cf_emv *out) TKM_MUST_CHECK;

/* --- keys and times ------------------------------------------------------- */

/* One key from strings, as struct demo_key holds them: tmpl ("load_01"),
 * alg "DES" or "SM4", index "K305" or "305", type "509" (NULL or "": the
 * template's, cf_template_type). TKM_ERR_INPUT when malformed. */
int cf_key_parse(struct cf_key *k, const char *tmpl, const char *alg,
    const char *index, const char *type) TKM_MUST_CHECK;
/* Append k: TKM_ERR_INPUT when (template, alg) is there already,
 * TKM_ERR_SPACE when CF_KEYS_MAX are. */
int cf_keys_add(struct cf_keys *keys, const struct cf_key *k) TKM_MUST_CHECK;
/* The key of (template, alg), or NULL. */
const struct cf_key *cf_keys_find(
    const struct cf_keys *keys, const char *tmpl, int alg);
/* The HSM key type of a KMS template by spec appendix 2 as
 * docs/kms-schema.md assigns it ("509", ...), or NULL. */
const char *cf_template_type(const char *tmpl);
/*
 * The keys of `GET /api/issued-keys` (`tkms kms issued --hsm ID`): the
 * answer object or its issued_keys array. Rows not active, and with city
 * not NULL rows of another city_code, are left out; a row's type is its
 * type_code when it has one, else cf_template_type. TKM_ERR_INPUT (why
 * says what) for a malformed row, two active keys of one (template,
 * alg), more than CF_KEYS_MAX.
 */
int cf_keys_from_json(const json_t *j, const char *city, struct cf_keys *out,
    char *why, size_t cap) TKM_MUST_CHECK;
/* The one city_code of the rows (active or not) into city (5 bytes):
 * TKM_ERR_INPUT when there is none or several (why says which). */
int cf_keys_city(
    const json_t *j, char city[5], char *why, size_t cap) TKM_MUST_CHECK;

/* Now in China Standard Time (UTC+8). */
void cf_when_now(struct cf_when *w);
/* "YYYYMMDD" and "hhmmss" (a real date and time). TKM_ERR_INPUT. */
int cf_when_parse(
    const char *date, const char *time, struct cf_when *w) TKM_MUST_CHECK;

#endif
