/*
 * fuzz_motcard.c - key mother card files (motcard.h, docs/mot.md).
 *
 * The input is parsed twice: as it is, and with a correct sm3 line
 * appended (an LF first if it lacks one), so that the field parser is
 * reached by inputs that did not guess an SM3 digest. Each time:
 *   - a failure leaves the card cleared and names a reason, with one of
 *     the documented causes and a line no further than the input has;
 *   - a success writes back (tkm_motcard_write must accept every card the
 *     parser accepts) to a file of the same length (only hex case and the
 *     digest may differ), which parses to the same card.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/motcard.h"

/* Not assert(): the check must stay in release (NDEBUG) builds too. */
#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
			    __LINE__, #x);                                     \
			abort();                                               \
		}                                                              \
	} while (0)

#define SM3_LINE 69 /* "sm3 " 64H LF */

static struct tkm_motcard card, again, zero;
static char out[TKM_MOTCARD_MAX_FILE];

static size_t
count_lines(const uint8_t *p, size_t n)
{
	size_t i, lines = 1;

	for (i = 0; i < n; i++)
		lines += p[i] == '\n';
	return lines;
}

static void
check_parse(const uint8_t *p, size_t n)
{
	struct tkm_motcard_err err;
	size_t len;
	int rc;

	rc = tkm_motcard_parse(p, n, &card, &err);
	if (rc != TKM_OK) {
		CHECK(memcmp(&card, &zero, sizeof(card)) == 0);
		CHECK(err.why != NULL);
		CHECK(rc == TKM_ERR_DATA_LEN || rc == TKM_ERR_INPUT ||
		      rc == TKM_ERR_HEX || rc == TKM_ERR_KEY_TYPE ||
		      rc == TKM_ERR_TRUNC || rc == TKM_ERR_VERIFY);
		CHECK(err.line <= count_lines(p, n));
		return;
	}
	CHECK(n <= TKM_MOTCARD_MAX_FILE);
	CHECK(card.nkeys >= 1 && card.nkeys <= TKM_MOTCARD_MAX_KEYS);
	CHECK(tkm_motcard_write(&card, out, sizeof(out), &len) == TKM_OK);
	CHECK(len == n);
	CHECK(tkm_motcard_parse(out, len, &again, NULL) == TKM_OK);
	CHECK(memcmp(&card, &again, sizeof(card)) == 0);
}

/* The input with an LF (if missing) and its sm3 line. */
static void
check_resealed(const uint8_t *data, size_t size)
{
	uint8_t *buf, d[32];
	char hex[65];
	size_t n = size;

	if (size > TKM_MOTCARD_MAX_FILE)
		return;
	if ((buf = malloc(size + 1 + SM3_LINE)) == NULL)
		return;
	memcpy(buf, data, size);
	if (n == 0 || buf[n - 1] != '\n')
		buf[n++] = '\n';
	CHECK(tkm_hash(TKM_SM3, buf, n, d) == TKM_OK);
	tkm_hex_encode(d, sizeof(d), hex);
	memcpy(buf + n, "sm3 ", 4);
	memcpy(buf + n + 4, hex, 64);
	buf[n + 68] = '\n';
	check_parse(buf, n + SM3_LINE);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size);
	check_resealed(data, size);
	return 0;
}
