/*
 * card.h - admin card files (DESIGN §5): an SM2 key pair whose private key
 * is sealed under a key derived from the card's PIN with Argon2id
 * (libargon2). The HSM knows only the public key; a login proves the card
 * by signing the HSM's challenge.
 *
 * The file format is documented in docs/cards.md and in card.c.
 */
#ifndef TKM_CARD_H
#define TKM_CARD_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sm2.h"

#define TKM_CARD_ROLE_MAX 8
#define TKM_CARD_PIN_MIN  6

struct tkm_card;

/* Make a new card for role (e.g. "A1", "B") sealed under pin and write it
 * to path (created 0600, never overwriting: TKM_ERR_IO if it exists). */
int tkm_card_create(
    const char *path, const char *role, const char *pin) TKM_MUST_CHECK;
/* Open a card: TKM_ERR_VERIFY for a wrong PIN or a tampered file,
 * TKM_ERR_INPUT for a file that is not a card. */
int tkm_card_open(
    const char *path, const char *pin, struct tkm_card **out) TKM_MUST_CHECK;
void tkm_card_free(struct tkm_card *card);

const char *tkm_card_role(const struct tkm_card *card);
int tkm_card_pub(
    const struct tkm_card *card, uint8_t xy[TKM_SM2_PUB_LEN]) TKM_MUST_CHECK;
/* SM2 signature (default ID) over msg, r || s. */
int tkm_card_sign(struct tkm_card *card, const void *msg, size_t len,
    uint8_t sig[TKM_SM2_SIG_LEN]) TKM_MUST_CHECK;

#endif
