/*
 * apdu.h - ISO/IEC 7816-4 short APDUs for the card and PSAM emulators:
 * the parser, the status words, and one table-driven dispatcher that
 * checks CLA, INS, P1 P2, Lc and Le before a command's handler runs
 * (docs/sim.md lists every command and status word).
 *
 * A command is one of the four short cases:
 *   1  CLA INS P1 P2
 *   2  CLA INS P1 P2 Le
 *   3  CLA INS P1 P2 Lc data          (Lc 01..FF)
 *   4  CLA INS P1 P2 Lc data Le
 * Le 00 means 256 ("everything"). Extended lengths are not supported.
 * A response is data || SW1 SW2; a status word other than 9000 carries no
 * data.
 */
#ifndef SIM_APDU_H
#define SIM_APDU_H

#include <stddef.h>
#include <stdint.h>

#include "tkm/buf.h"
#include "tkm/err.h"

#define SIM_APDU_MAX_CMD  261 /* 4 + Lc + 255 + Le */
#define SIM_APDU_MAX_DATA 256
#define SIM_APDU_MAX_RESP 258 /* 256 data bytes + SW1 SW2 */

/* Status words (JT/T 978, PBOC 2.0 part 2 and ISO/IEC 7816-4). */
enum sim_sw {
	SIM_SW_OK = 0x9000,
	SIM_SW_VERIFY_FAILED = 0x6300, /* ARPC does not verify */
	SIM_SW_TRIES_LEFT = 0x63C0,    /* | tries left (external auth) */
	SIM_SW_WRONG_LENGTH = 0x6700,  /* Lc, Le or command length */
	SIM_SW_AUTH_BLOCKED = 0x6983,  /* key's tries used up */
	SIM_SW_CONDITIONS = 0x6985,    /* no session, no challenge, ... */
	SIM_SW_SM_MAC = 0x6988,        /* secure-messaging MAC wrong */
	SIM_SW_BAD_DATA = 0x6A80,      /* data field malformed */
	SIM_SW_NOT_SUPPORTED = 0x6A81, /* function not supported */
	SIM_SW_NOT_FOUND = 0x6A82,     /* file or application not found */
	SIM_SW_FULL = 0x6A84,          /* no room for another key */
	SIM_SW_WRONG_P1P2 = 0x6A86,
	SIM_SW_NO_KEY = 0x6A88, /* referenced key not present */
	SIM_SW_WRONG_OFFSET = 0x6B00,
	SIM_SW_WRONG_LE = 0x6C00, /* | the right Le */
	SIM_SW_INS = 0x6D00,
	SIM_SW_CLA = 0x6E00,
	SIM_SW_INTERNAL = 0x6F00,
	SIM_SW_MAC_INVALID = 0x9302, /* MAC1 / MAC2 wrong */
	SIM_SW_BALANCE = 0x9401,     /* insufficient balance */
	SIM_SW_SN_MAX = 0x9402,      /* transaction counter at its maximum */
	SIM_SW_KEY_INDEX = 0x9403,   /* key index not supported */
	SIM_SW_NO_PROOF = 0x9406     /* no such transaction to prove */
};

struct sim_apdu {
	uint8_t cla, ins, p1, p2;
	const uint8_t *data; /* lc bytes, into the command */
	size_t lc;
	int has_le;
	size_t le; /* 1..256 when has_le */
};

/* Parse cmd into *a (which points into cmd). TKM_ERR_INPUT when it is
 * none of the four short cases. */
int sim_apdu_parse(
    const uint8_t *cmd, size_t len, struct sim_apdu *a) TKM_MUST_CHECK;

#define SIM_CMD_ADF 0x01 /* needs the application selected (else 6985) */
#define SIM_ANY     (-1)

/*
 * One command of a dispatch table. Rows are matched by INS, then CLA
 * (6E00 when no row of that INS has it), then P1 and P2 (SIM_ANY matches
 * all; 6A86 when none fits). Lc must lie in lc_min..lc_max (0..0: no data
 * field), else 6700. rlen >= 0 fixes the response length: an Le other than
 * 00 or rlen is 6C rlen (6700 when rlen is 0); rlen < 0 leaves Le to the
 * handler. The handler writes data to out and returns the status word;
 * data is dropped unless it returns 9000.
 */
struct sim_cmd {
	uint8_t ins, cla;
	int p1, p2;
	uint8_t lc_min, lc_max;
	int rlen;
	unsigned flags;
	unsigned (*fn)(void *obj, const struct sim_apdu *a, struct tkm_wr *out);
	const char *name; /* for docs and tests */
};

/*
 * Run one command against a table. selected says whether the
 * application is selected (SIM_CMD_ADF). resp MUST hold
 * SIM_APDU_MAX_RESP bytes (TKM_ERR_SPACE otherwise, before anything runs);
 * *rlen is the response length (at least 2). TKM_ERR_INPUT for NULL
 * arguments. Every other outcome is a status word in the response.
 */
int sim_dispatch(const struct sim_cmd *tab, size_t n, void *obj, int selected,
    const uint8_t *cmd, size_t len, uint8_t *resp, size_t cap,
    size_t *rlen) TKM_MUST_CHECK;

/* The status word of a response (0 if shorter than 2 bytes). */
unsigned sim_sw(const uint8_t *resp, size_t rlen);

/* Le for a variable response of avail bytes: the number of bytes to
 * return, or 0 with *sw set (6C avail when Le asks for more). */
size_t sim_le(const struct sim_apdu *a, size_t avail, unsigned *sw);

/* Big-endian helpers for the purse fields. */
uint32_t sim_be32(const uint8_t *p);
void sim_put_be32(uint8_t *p, uint32_t v);
void sim_put_be16(uint8_t *p, unsigned v);

#endif
