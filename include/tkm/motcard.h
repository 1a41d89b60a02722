/*
 * motcard.h - the key mother card file (密钥母卡) of the ministry key
 * import (the spec's 导入交通运输部密钥, docs/mot.md): the ministry's keys,
 * each encrypted under the initial transport key whose plaintext is 11...11
 * (double DES at K000, SM4 at K100 of the HSM), with their target index,
 * type code and KCV, and an SM3 line over the whole file so that a damaged
 * file is refused before any key is sent.
 *
 * The format is text, one field set per line (docs/mot.md has the table):
 *
 *   TKMS-MOTCARD 1
 *   card ID
 *   issuer TEXT
 *   key ALG INDEX TYPE CRYPTOGRAM KCV LABEL      (1..TKM_MOTCARD_MAX_KEYS)
 *   sm3 DIGEST
 *
 * Lines end with LF. Fields are separated by exactly one space; ISSUER and
 * LABEL run to the end of the line. ALG is DES or SM4, INDEX K + 3 hex
 * digits, TYPE a key type code of protocol.md §2, CRYPTOGRAM 32 hex digits
 * (ECB under the initial TK of ALG: what A6 takes after its scheme
 * letter), KCV 16 hex digits (DES E(K, 0^8), SM4 the first 8 bytes of
 * SM4(K, 0^16)), DIGEST 64 hex digits: SM3 of every byte before the sm3
 * line. Hex is written upper case and read in either case.
 *
 * A card holds cryptograms only, never a key in clear: struct
 * tkm_motcard needs no locked memory.
 */
#ifndef TKM_MOTCARD_H
#define TKM_MOTCARD_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "err.h"

#define TKM_MOTCARD_MAGIC      "TKMS-MOTCARD"
#define TKM_MOTCARD_VERSION    1
#define TKM_MOTCARD_MAX_KEYS   64
#define TKM_MOTCARD_MAX_LINE   256 /* bytes, without the LF */
#define TKM_MOTCARD_MAX_FILE   32768
#define TKM_MOTCARD_ID_MAX     32 /* A-Z a-z 0-9 . _ - */
#define TKM_MOTCARD_ISSUER_MAX 64 /* printable ASCII */
#define TKM_MOTCARD_LABEL_MAX  64 /* printable ASCII */
#define TKM_MOTCARD_KEY_LEN    16 /* double DES and SM4 */

/* The ministry's initial transport keys (the spec's step 2): 16 bytes of
 * 0x11, double DES at K000 and SM4 at K100, type 000. */
#define TKM_MOT_TK_BYTE      0x11
#define TKM_MOT_TK_DES_INDEX 0x000
#define TKM_MOT_TK_SM4_INDEX 0x100

struct tkm_motcard_key {
	int alg;                         /* TKM_DES or TKM_SM4 */
	unsigned index;                  /* 0x000..0xFFF of alg's library */
	char type[4];                    /* key type code, NUL terminated */
	uint8_t ct[TKM_MOTCARD_KEY_LEN]; /* ECB(initial TK of alg, key) */
	uint8_t kcv[TKM_KCV_LEN];
	char label[TKM_MOTCARD_LABEL_MAX + 1];
};

/* Caller-allocated; tkm_motcard_parse fills it. */
struct tkm_motcard {
	char id[TKM_MOTCARD_ID_MAX + 1];
	char issuer[TKM_MOTCARD_ISSUER_MAX + 1];
	size_t nkeys;
	struct tkm_motcard_key keys[TKM_MOTCARD_MAX_KEYS];
};

/* Where a parse failed: the line (1-based; 0 for the file as a whole) and
 * why, static text. */
struct tkm_motcard_err {
	size_t line;
	const char *why;
};

/*
 * Parse a card file of len bytes. On success *card is filled; on failure
 * it is cleared, *err (may be NULL) says where and why, and the cause is:
 *   TKM_ERR_DATA_LEN  file above TKM_MOTCARD_MAX_FILE, a line above
 *                     TKM_MOTCARD_MAX_LINE, more than ..._MAX_KEYS keys
 *   TKM_ERR_INPUT     not a card (magic), another version, a malformed
 *                     field or line, no keys, one (alg, index) twice
 *   TKM_ERR_HEX       a cryptogram, KCV or digest with a non-hex digit
 *   TKM_ERR_KEY_TYPE  a type code protocol.md §2 does not know
 *   TKM_ERR_TRUNC     empty, no LF at the end, or no sm3 line last (a file
 *                     cut short)
 *   TKM_ERR_VERIFY    the sm3 line does not match the file (damaged)
 * The magic is checked first, then the sm3 line, then every field.
 */
int tkm_motcard_parse(const void *p, size_t len, struct tkm_motcard *card,
    struct tkm_motcard_err *err) TKM_MUST_CHECK;

/*
 * Write card as a file into out (cap bytes), *len its length. Every field
 * is checked as the parser checks it (TKM_ERR_INPUT, TKM_ERR_KEY_TYPE,
 * TKM_ERR_DATA_LEN), so that what is written always parses back to the
 * same card. TKM_ERR_SPACE if it does not fit; TKM_MOTCARD_MAX_FILE
 * always suffices.
 */
int tkm_motcard_write(const struct tkm_motcard *card, char *out, size_t cap,
    size_t *len) TKM_MUST_CHECK;

/*
 * Fill k's cryptogram and KCV from a key in clear (TKM_MOTCARD_KEY_LEN
 * bytes, DES with the parity it should have) under tk, the initial TK of
 * k->alg (also TKM_MOTCARD_KEY_LEN bytes). For the test cards of
 * `tkms mot card new` and for tests.
 */
int tkm_motcard_key_wrap(struct tkm_motcard_key *k, const uint8_t *tk,
    const uint8_t *key) TKM_MUST_CHECK;

/* The initial TK of the ministry's procedure into tk (16 bytes). */
void tkm_mot_tk(uint8_t tk[TKM_MOTCARD_KEY_LEN]);

/* "DES" / "SM4" for TKM_DES / TKM_SM4; NULL otherwise. */
const char *tkm_motcard_alg_name(int alg);

#endif
