/*
 * test_b64.c - base64 against the test vectors of RFC 4648 §10, and the
 * non-canonical inputs tkm_b64_decode must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tkm/b64.h"

/* RFC 4648 §10. */
static const struct {
	const char *plain, *b64;
} rfc[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void
test_rfc4648(void **state)
{
	char out[16];
	uint8_t back[16];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
		tkm_b64_encode(rfc[i].plain, strlen(rfc[i].plain), out);
		assert_string_equal(out, rfc[i].b64);
		assert_int_equal(
		    TKM_B64_LEN(strlen(rfc[i].plain)), strlen(rfc[i].b64));
		assert_int_equal(tkm_b64_decode(rfc[i].b64, strlen(rfc[i].b64),
				     back, sizeof(back), &n),
		    TKM_OK);
		assert_int_equal(n, strlen(rfc[i].plain));
		assert_memory_equal(back, rfc[i].plain, n);
	}
}

/* Every byte value, and lengths around the codec's chunking. */
static void
test_round_trip(void **state)
{
	const size_t lens[] = {255, 256, 257, (3u << 20) + 1};
	uint8_t *p, *back;
	char *b;
	size_t i, j, n;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		p = malloc(lens[i]);
		back = malloc(lens[i]);
		b = malloc(TKM_B64_LEN(lens[i]) + 1);
		assert_non_null(p);
		assert_non_null(back);
		assert_non_null(b);
		for (j = 0; j < lens[i]; j++)
			p[j] = (uint8_t)(j * 7 + i);
		tkm_b64_encode(p, lens[i], b);
		assert_int_equal(strlen(b), TKM_B64_LEN(lens[i]));
		assert_int_equal(
		    tkm_b64_decode(b, strlen(b), back, lens[i], &n), TKM_OK);
		assert_int_equal(n, lens[i]);
		assert_memory_equal(back, p, n);
		/* One byte short of room. */
		assert_int_equal(
		    tkm_b64_decode(b, strlen(b), back, lens[i] - 1, &n),
		    TKM_ERR_SPACE);
		free(p);
		free(back);
		free(b);
	}
}

static void
test_refused(void **state)
{
	static const char *const bad[] = {
	    "Zg=",      /* length not a multiple of 4 */
	    "Zg==Zg==", /* padding in the middle */
	    " Zm9v",    /* whitespace (EVP_DecodeBlock would skip it) */
	    "Zm9v\n",   /* a line end */
	    "Zh==",     /* bits left over in the last character */
	    "Zm9=",     /* the same with one '=' */
	    "Zm-v",     /* base64url alphabet */
	    "====",     /* only padding */
	    "Z===",     /* three '=' */
	};
	uint8_t out[16];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tkm_b64_decode(bad[i], strlen(bad[i]), out,
				     sizeof(out), &n),
		    TKM_ERR_INPUT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc4648),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
