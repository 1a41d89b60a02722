/*
 * fuzz_simcard.c - the state files of the card and PSAM emulators
 * (src/sim/card.h, psam.h, docs/sim.md).
 *
 * The input is parsed as a card and as a PSAM. Each time:
 *   - a failure leaves *out NULL and names a reason, one of the documented
 *     causes, on a line no further than the input has;
 *   - a success writes back to exactly the input (the format is strict:
 *     one spelling per state), and the parsed object answers a run of
 *     commands -- a transaction resumed from whatever session the file
 *     holds -- with a status word.
 *
 * Links tkmsim (CMakeLists.txt: fuzz_simcard).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apdu.h"
#include "card.h"
#include "psam.h"
#include "tkm/buf.h"

/* Not assert(): the check must stay in release (NDEBUG) builds too. */
#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
			    __LINE__, #x);                                     \
			abort();                                               \
		}                                                              \
	} while (0)

static char out[SIM_FILE_MAX];

/* Fixed "random" bytes: the runs are reproducible. */
static int
rng(void *ctx, uint8_t *p, size_t n)
{
	(void)ctx;
	memset(p, 0xA5, n);
	return TKM_OK;
}

static size_t
count_lines(const uint8_t *p, size_t n)
{
	size_t i, lines = 1;

	for (i = 0; i < n; i++)
		lines += p[i] == '\n';
	return lines;
}

static void
check_err(int rc, const struct sim_file_err *err, const uint8_t *p, size_t n)
{
	CHECK(rc == TKM_ERR_INPUT || rc == TKM_ERR_HEX || rc == TKM_ERR_TRUNC ||
	      rc == TKM_ERR_TRAILING || rc == TKM_ERR_DATA_LEN);
	CHECK(err->why != NULL);
	CHECK(err->line <= count_lines(p, n));
}

/* Commands that use every part of the state. */
static const char *const card_cmds[] = {
    "805C000204",
    "805200000B2024010112000001020304",
    "805401000F000000012024010112000001020304",
    "805A000602000008",
    "805A000202000008",
    "0082000008A5A5A5A5A5A5A5A5",
    "0082000110A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5",
    "008200000AA5A5A5A5A5A5A5A53030",
    "80AE80000100",
    "0084000008",
    "805000020B010000000111223344556610",
    "805001020B0100000001112233445566",
    "00A4040008A000000632010105",
    "00B0950000",
};

static const char *const psam_cmds[] = {
    "807200000401020304",
    "807000001C0102030400000000000106202401011200000100310458100000123408",
    "00B0960000",
    "0084000004",
    "00A40000021001",
};

static size_t
unhex(const char *h, uint8_t *b)
{
	size_t n = 0;

	CHECK(tkm_hex_decode(h, strlen(h), b, SIM_APDU_MAX_CMD, &n) == TKM_OK);
	return n;
}

static void
run_card(struct sim_card *c)
{
	uint8_t cmd[SIM_APDU_MAX_CMD], resp[SIM_APDU_MAX_RESP];
	size_t i, n, len;

	sim_card_set_rng(c, rng, NULL);
	for (i = 0; i < sizeof(card_cmds) / sizeof(card_cmds[0]); i++) {
		len = unhex(card_cmds[i], cmd);
		CHECK(sim_card_apdu(c, cmd, len, resp, sizeof(resp), &n) ==
		      TKM_OK);
		CHECK(n >= 2 && n <= SIM_APDU_MAX_RESP);
		CHECK(sim_card_balance(c) <= SIM_CARD_BALANCE_LIMIT);
	}
}

static void
run_psam(struct sim_psam *s)
{
	uint8_t cmd[SIM_APDU_MAX_CMD], resp[SIM_APDU_MAX_RESP];
	size_t i, n, len;

	sim_psam_set_rng(s, rng, NULL);
	for (i = 0; i < sizeof(psam_cmds) / sizeof(psam_cmds[0]); i++) {
		len = unhex(psam_cmds[i], cmd);
		CHECK(sim_psam_apdu(s, cmd, len, resp, sizeof(resp), &n) ==
		      TKM_OK);
		CHECK(n >= 2 && n <= SIM_APDU_MAX_RESP);
	}
}

static void
check_card(const uint8_t *data, size_t size)
{
	struct sim_card *c = (struct sim_card *)1;
	struct sim_file_err err;
	size_t len = 0;
	int rc;

	rc = sim_card_parse(data, size, &c, &err);
	if (rc != TKM_OK) {
		CHECK(c == NULL);
		check_err(rc, &err, data, size);
		return;
	}
	CHECK(sim_card_write(c, out, sizeof(out), &len) == TKM_OK);
	CHECK(len == size && memcmp(out, data, size) == 0);
	run_card(c);
	sim_card_free(c);
}

static void
check_psam(const uint8_t *data, size_t size)
{
	struct sim_psam *s = (struct sim_psam *)1;
	struct sim_file_err err;
	size_t len = 0;
	int rc;

	rc = sim_psam_parse(data, size, &s, &err);
	if (rc != TKM_OK) {
		CHECK(s == NULL);
		check_err(rc, &err, data, size);
		return;
	}
	CHECK(sim_psam_write(s, out, sizeof(out), &len) == TKM_OK);
	CHECK(len == size && memcmp(out, data, size) == 0);
	run_psam(s);
	sim_psam_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_card(data, size);
	check_psam(data, size);
	return 0;
}
