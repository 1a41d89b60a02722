/*
 * psam.h - a JT/T 978 PSAM (消费安全存取模块, the terminal's purchase
 * module) at APDU level, for tests and the `tkms card` simulator.
 * docs/sim.md has every command, status word and the state file.
 *
 * A simulated PSAM: its keys are in its state file in clear, as they are
 * in a physical module's memory. Use test keys only.
 *
 * The PSAM holds purchase master keys at business-key level, by algorithm
 * and key version; it diversifies the card's purchase key from the card's
 * ASN itself, makes MAC1 and checks MAC2.
 *
 * Usage (error checks left out):
 *
 *	struct sim_psam_params p = {.has_tk_sm4 = 1};
 *	memcpy(p.term, terminal_number, SIM_TERM_ID_LEN);
 *	memcpy(p.tk_sm4, transport_key, SIM_KEY_LEN);
 *	sim_psam_new(&p, &s);
 *	// keys: GET CHALLENGE, then the HSM's U3 of the business purchase
 *	// key under the transport key as 84D4 P1 = alg id, P2 = version
 *	sim_sm_write_key_apdu(TKM_SM4, SIM_ALGID_SM4, 1, ct, ctlen, mac,
 *	    apdu, sizeof(apdu), &alen);
 *	sim_psam_apdu(s, apdu, alen, r, sizeof(r), &n);          // 9000
 *
 *	// a purchase, the terminal between card and PSAM:
 *	// card 805001020B ki amount term 0F -> bal SN od ver alg rnd
 *	// PSAM 8070000024 rnd SN amount 06 date time ver alg asn 08
 *	//      -> terminal SN 4 | MAC1 4
 *	// card 805401000F termSN date time MAC1 08 -> TAC | MAC2
 *	// PSAM 8072000004 MAC2 -> 9000 (9302: MAC2 wrong)
 *	sim_psam_save(s, "psam.txt");
 */
#ifndef SIM_PSAM_H
#define SIM_PSAM_H

#include <stddef.h>
#include <stdint.h>

#include "simfile.h"
#include "sm.h"
#include "tkm/err.h"

#define SIM_TERM_ID_LEN   6
#define SIM_PSAM_MAX_KEYS 16

struct sim_psam;

struct sim_psam_params {
	uint8_t term[SIM_TERM_ID_LEN]; /* terminal number, file 0016 */
	uint32_t term_sn;              /* the first purchase's */
	/* secure-messaging (transport) keys for 84D4, per algorithm */
	int has_tk_des, has_tk_sm4;
	uint8_t tk_des[SIM_KEY_LEN], tk_sm4[SIM_KEY_LEN];
};

/* TKM_ERR_INPUT for NULL, TKM_ERR_NOMEM. */
int sim_psam_new(
    const struct sim_psam_params *p, struct sim_psam **out) TKM_MUST_CHECK;
/* Wipes the keys. NULL is a no-op. */
void sim_psam_free(struct sim_psam *s);

/* One command APDU; as sim_card_apdu (card.h). */
int sim_psam_apdu(struct sim_psam *s, const uint8_t *cmd, size_t len,
    uint8_t *resp, size_t cap, size_t *rlen) TKM_MUST_CHECK;

/* Power cycle: selection, challenge and MAC2 session forgotten. */
void sim_psam_reset(struct sim_psam *s);
/* Random source for GET CHALLENGE; NULL: tkm_random. Not saved. */
void sim_psam_set_rng(struct sim_psam *s, sim_rng_fn rng, void *ctx);

/* A purchase master key in clear (tests, HSM-less demos): alg TKM_DES or
 * TKM_SM4, version 1..255. TKM_ERR_MODE, TKM_ERR_INDEX, TKM_ERR_SPACE
 * when SIM_PSAM_MAX_KEYS are held. */
int sim_psam_set_key(struct sim_psam *s, int alg, unsigned version,
    const uint8_t key[SIM_KEY_LEN]) TKM_MUST_CHECK;

void sim_psam_term(const struct sim_psam *s, uint8_t term[SIM_TERM_ID_LEN]);
uint32_t sim_psam_term_sn(const struct sim_psam *s); /* the next purchase's */
int sim_psam_has_key(const struct sim_psam *s, int alg, unsigned version);

/* The state file, as the card's (card.h). */
int sim_psam_write(const struct sim_psam *s, char *out, size_t cap,
    size_t *len) TKM_MUST_CHECK;
int sim_psam_parse(const void *p, size_t len, struct sim_psam **out,
    struct sim_file_err *err) TKM_MUST_CHECK;
int sim_psam_save(const struct sim_psam *s, const char *path) TKM_MUST_CHECK;
int sim_psam_load(const char *path, struct sim_psam **out,
    struct sim_file_err *err) TKM_MUST_CHECK;

#endif
