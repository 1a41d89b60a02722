/*
 * sm.h - the card challenge and key writing by secure messaging (84D4),
 * shared by the card and the PSAM emulators (docs/sim.md).
 *
 * WRITE KEY, PBOC style, exactly what the HSM's U3 produces with
 *   mode 1 (encrypt + MAC), scheme 1 (ECB, len(1) || key || 80 00..),
 *   protection type 1 (the card's secure-messaging key P), process flag N,
 *   IV-MAC = the card's challenge || 00.. to one block,
 *   MAC-fill = 84 D4 P1 P2 Lc, offset 0005:
 *
 *   84 D4 P1 P2 Lc | ECB(P, len(1) || key || 80 00..) | MAC 4
 *
 * Lc = ciphertext + 4: 1C for DES (24 bytes), 24 for SM4 (32 bytes). MAC
 * = the leftmost 4 bytes of the PBOC MAC (mac.h: ISO 9797-1 alg 3 for a
 * double-length DES P, SM4 CBC-MAC) under P with the challenge as IV over
 * 84 D4 P1 P2 Lc || ciphertext, padded 80 00... The challenge is the one
 * the last GET CHALLENGE returned; any 84D4 uses it up, right or wrong.
 */
#ifndef SIM_SM_H
#define SIM_SM_H

#include <stddef.h>
#include <stdint.h>

#include "apdu.h"
#include "tkm/err.h"

#define SIM_KEY_LEN       16 /* every card key: double DES or SM4 */
#define SIM_SM_MAC_LEN    4
#define SIM_SM_FILL_LEN   5 /* 84 D4 P1 P2 Lc */
#define SIM_CHALLENGE_MAX 16
#define SIM_SM_MAX_CT     32

/* Algorithm identifiers of INITIALIZE and of the PSAM's keys. */
#define SIM_ALGID_DES 0x00
#define SIM_ALGID_SM4 0x04
/* The identifier of TKM_DES / TKM_SM4; the alg of an identifier, or 0. */
uint8_t sim_alg_id(int alg);
int sim_alg_of_id(unsigned id);

/* Random source: fills n bytes, returns TKM_OK. */
typedef int (*sim_rng_fn)(void *ctx, uint8_t *out, size_t n);

/* The last challenge of GET CHALLENGE (len 0: none). */
struct sim_challenge {
	uint8_t len;
	uint8_t rnd[SIM_CHALLENGE_MAX];
};

/* rng, or tkm_random when rng is NULL. */
int sim_random(sim_rng_fn rng, void *ctx, uint8_t *out, size_t n);

/*
 * GET CHALLENGE (00 84 00 00 Le): Le 04, 08 or 10 (16) random bytes,
 * remembered in *ch. Other Le (or none): 6700.
 */
unsigned sim_get_challenge(struct sim_challenge *ch, sim_rng_fn rng, void *ctx,
    const struct sim_apdu *a, struct tkm_wr *out);

/* The challenge padded with 00 to alg's block: the IV of the MAC and the
 * block external authentication encrypts. */
void sim_challenge_block(
    int alg, const struct sim_challenge *ch, uint8_t block[16]);

/*
 * Open an 84D4 data field under the secure-messaging key p of alg (16
 * bytes): check the MAC, decrypt, unwrap. Uses up the challenge. Status:
 * 9000 (key[16] filled), 6985 no challenge, 6700 Lc not the one of alg,
 * 6988 MAC wrong, 6A80 clear text not len(1)=16 || key || 80 00...
 */
unsigned sim_sm_open_key(int alg, const uint8_t p[SIM_KEY_LEN],
    struct sim_challenge *ch, const struct sim_apdu *a,
    uint8_t key[SIM_KEY_LEN]);

/* For hosts. Ciphertext bytes of a key write under alg (24 DES, 32 SM4;
 * 0 for another alg). */
size_t sim_sm_ct_len(int alg);
/* The MAC-fill U3 takes: 84 D4 P1 P2 Lc. */
int sim_sm_mac_fill(int alg, uint8_t p1, uint8_t p2,
    uint8_t fill[SIM_SM_FILL_LEN]) TKM_MUST_CHECK;
/* The APDU from U3's answer: ct of sim_sm_ct_len(alg) bytes and the
 * leftmost 4 bytes of its MAC. out needs 5 + 32 + 4 bytes. */
int sim_sm_write_key_apdu(int alg, uint8_t p1, uint8_t p2, const uint8_t *ct,
    size_t ctlen, const uint8_t mac[SIM_SM_MAC_LEN], uint8_t *out, size_t cap,
    size_t *len) TKM_MUST_CHECK;
/*
 * What U3 computes, for tests and HSM-less simulations: the whole 84D4
 * APDU writing key under p, with the challenge (rnd, n bytes) as IV.
 */
int sim_sm_wrap_key(int alg, const uint8_t p[SIM_KEY_LEN], const uint8_t *rnd,
    size_t n, uint8_t p1, uint8_t p2, const uint8_t key[SIM_KEY_LEN],
    uint8_t *out, size_t cap, size_t *len) TKM_MUST_CHECK;

#endif
