/*
 * fuzz_keyref.c - symmetric and asymmetric key references (wire.h,
 * protocol.md §2).
 *
 * The input is read as a run of key references, first all symmetric, then
 * (from the start again) all asymmetric, until one fails. A failure must
 * leave the reader where it was and the result cleared; a success must
 * consume exactly the bytes of its form, and what it decoded must match
 * an independent reading of those bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tkm/wire.h"

/* Not assert(): the check must stay in release (NDEBUG) builds too. */
#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
			    __LINE__, #x);                                     \
			abort();                                               \
		}                                                              \
	} while (0)

static int
nibble(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0)
		if (b[--n] != 0)
			return 0;
	return 1;
}

/* Consumed bytes of each form: K+3H, 16H, X/S+32H, Y+48H. */
static size_t
form_len(const struct tkm_keyref *k)
{
	if (k->kind == TKM_KREF_INDEX)
		return 4;
	switch (k->scheme) {
	case 'Z':
		return 16;
	case 'X':
	case 'S':
		return 33;
	case 'Y':
		return 49;
	default:
		return 0;
	}
}

static void
check_keyref(const uint8_t *p, size_t n, const struct tkm_keyref *k)
{
	size_t i, hex0;

	CHECK(n == form_len(k));
	if (k->kind == TKM_KREF_INDEX) {
		CHECK(p[0] == 'K' && k->bloblen == 0 && k->scheme == 0);
		CHECK(k->index == (unsigned)(nibble(p[1]) << 8 |
					     nibble(p[2]) << 4 | nibble(p[3])));
		return;
	}
	CHECK(k->kind == TKM_KREF_LMK && k->index == 0);
	hex0 = k->scheme == 'Z' ? 0 : 1;
	CHECK(hex0 == 1 ? p[0] == (uint8_t)k->scheme : nibble(p[0]) >= 0);
	CHECK(k->bloblen == (n - hex0) / 2);
	for (i = 0; i < k->bloblen; i++)
		CHECK(k->blob[i] == (nibble(p[hex0 + 2 * i]) << 4 |
					nibble(p[hex0 + 2 * i + 1])));
	CHECK(all_zero(k->blob + k->bloblen, sizeof(k->blob) - k->bloblen));
}

static int
known_prefix(const struct tkm_rd *rd)
{
	return rd->len > 0 &&
	       (nibble(rd->p[0]) >= 0 || memchr("KXYS", rd->p[0], 4) != NULL);
}

static void
run_keyrefs(const uint8_t *data, size_t size)
{
	struct tkm_rd rd = tkm_rd_of(data, size), before;
	struct tkm_keyref k;
	int rc;

	do {
		before = rd;
		rc = tkm_keyref_parse(&rd, &k);
		if (rc != TKM_OK) {
			CHECK(rd.p == before.p && rd.len == before.len);
			CHECK(all_zero(&k, sizeof(k)));
			CHECK(rc == TKM_ERR_TRUNC || rc == TKM_ERR_HEX ||
			      rc == TKM_ERR_SCHEME);
			/* No form is longer than Y + 48H. */
			CHECK(rc != TKM_ERR_TRUNC || before.len < 49);
			CHECK(before.len == 0 ||
			      (rc == TKM_ERR_SCHEME) == !known_prefix(&before));
			break;
		}
		CHECK(rd.p + rd.len == before.p + before.len);
		check_keyref(before.p, before.len - rd.len, &k);
	} while (rd.len > 0);
}

static void
check_asymref(const uint8_t *p, size_t n, const struct tkm_asymref *a)
{
	size_t i, len = 0;

	CHECK(a->index == (unsigned)((p[0] - '0') * 10 + (p[1] - '0')));
	if (a->index != TKM_ASYM_IN_MSG) {
		CHECK(a->index >= 1 && a->index <= TKM_ASYM_MAX_INDEX);
		CHECK(n == 2 && a->blob == NULL && a->bloblen == 0);
		return;
	}
	for (i = 2; i < 6; i++) {
		CHECK(p[i] >= '0' && p[i] <= '9');
		len = len * 10 + (size_t)(p[i] - '0');
	}
	CHECK(len > 0 && a->bloblen == len && a->blob == p + 6);
	CHECK(n == 6 + len);
}

static void
run_asymrefs(const uint8_t *data, size_t size)
{
	struct tkm_rd rd = tkm_rd_of(data, size), before;
	struct tkm_asymref a;
	int rc;

	do {
		before = rd;
		rc = tkm_asymref_parse(&rd, &a);
		if (rc != TKM_OK) {
			CHECK(rd.p == before.p && rd.len == before.len);
			CHECK(a.index == 0 && a.blob == NULL && a.bloblen == 0);
			CHECK(rc == TKM_ERR_TRUNC || rc == TKM_ERR_INDEX ||
			      rc == TKM_ERR_INPUT || rc == TKM_ERR_ASYM_KEY);
			break;
		}
		CHECK(rd.p + rd.len == before.p + before.len);
		check_asymref(before.p, before.len - rd.len, &a);
	} while (rd.len > 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run_keyrefs(data, size);
	run_asymrefs(data, size);
	return 0;
}
