/*
 * test_buf.c - bounded reader, capped writer, hex codec (buf.c), the error
 * table (err.c) and secure memory (mem.c).
 *
 * Hex values are the Base16 test vectors of RFC 4648 §10; error codes are
 * protocol.md §3; the rest follows from the contracts in buf.h, err.h and
 * mem.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "tkm/buf.h"
#include "tkm/err.h"
#include "tkm/mem.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Checks that a failed read left the reader where it was. */
#define ASSERT_UNMOVED(rd, s)                                                  \
	do {                                                                   \
		assert_ptr_equal((rd).p, (const uint8_t *)(s));                \
		assert_int_equal((rd).len, strlen(s));                         \
	} while (0)

/* --- reader ------------------------------------------------------------ */

static void
test_rd_bytes_view(void **state)
{
	static const char s[] = "abcdef";
	struct tkm_rd rd = tkm_rd_of(s, 6);
	const uint8_t *v;
	uint8_t out[4];

	(void)state;
	assert_int_equal(tkm_rd_bytes(&rd, out, 7), TKM_ERR_TRUNC);
	ASSERT_UNMOVED(rd, s);
	assert_int_equal(tkm_rd_bytes(&rd, out, 0), TKM_OK);
	ASSERT_UNMOVED(rd, s);
	assert_int_equal(tkm_rd_bytes(&rd, out, 2), TKM_OK);
	assert_memory_equal(out, "ab", 2);
	assert_int_equal(tkm_rd_bytes(&rd, NULL, 1), TKM_OK); /* skip "c" */
	assert_int_equal(tkm_rd_view(&rd, &v, 4), TKM_ERR_TRUNC);
	assert_int_equal(rd.len, 3);
	assert_int_equal(tkm_rd_view(&rd, &v, 3), TKM_OK);
	assert_ptr_equal(v, s + 3);
	assert_int_equal(rd.len, 0);
	assert_int_equal(tkm_rd_end(&rd), TKM_OK);
	assert_int_equal(tkm_rd_view(&rd, &v, 0), TKM_OK);
	assert_int_equal(tkm_rd_bytes(&rd, NULL, 1), TKM_ERR_TRUNC);
}

/* A reader of nothing may be made from NULL (an absent optional field),
 * and a writer of no room from NULL (to measure). */
static void
test_null_empty(void **state)
{
	struct tkm_rd rd = tkm_rd_of(NULL, 0), out;
	struct tkm_wr w;
	const uint8_t *v;
	unsigned u;

	(void)state;
	assert_int_equal(tkm_rd_bytes(&rd, NULL, 0), TKM_OK);
	assert_int_equal(tkm_rd_view(&rd, &v, 0), TKM_OK);
	assert_int_equal(tkm_rd_hex(&rd, NULL, 0), TKM_OK);
	assert_int_equal(tkm_rd_num(&rd, 1, &u), TKM_ERR_TRUNC);
	assert_int_equal(tkm_rd_accept(&rd, 'x'), 0);
	assert_int_equal(tkm_rd_until(&rd, ';', &out), TKM_ERR_TRUNC);
	assert_int_equal(tkm_rd_end(&rd), TKM_OK);
	assert_int_equal(rd.len, 0);

	tkm_wr_init(&w, NULL, 0);
	tkm_wr_bytes(&w, NULL, 0);
	tkm_wr_hex(&w, NULL, 0);
	assert_int_equal(tkm_wr_error(&w), TKM_OK);
	tkm_wr_str(&w, "x");
	assert_int_equal(tkm_wr_error(&w), TKM_ERR_SPACE);
	assert_int_equal(w.len, 0);
}

static void
test_rd_hex(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		int rc;
		const char *out;
	} t[] = {
	    {"", 0, TKM_OK, ""},
	    {"666F6F", 3, TKM_OK, "foo"},   /* RFC 4648 §10 */
	    {"666f6f", 3, TKM_OK, "foo"},   /* lower case accepted */
	    {"666F6Fxx", 3, TKM_OK, "foo"}, /* stops after 2n characters */
	    {"00FFff", 3, TKM_OK, "\x00\xff\xff"},
	    {"666F6", 3, TKM_ERR_TRUNC, NULL}, {"666F6G", 3, TKM_ERR_HEX, NULL},
	    {"G66F6F", 3, TKM_ERR_HEX, NULL}, {" 66F6F", 3, TKM_ERR_HEX, NULL},
	    {"0x", 1, TKM_ERR_HEX, NULL},
	    {"@0", 1, TKM_ERR_HEX, NULL}, /* '@' is 'A' - 1 */
	    {"`0", 1, TKM_ERR_HEX, NULL}, /* '`' is 'a' - 1 */
	    {"/0", 1, TKM_ERR_HEX, NULL}, /* '/' is '0' - 1 */
	    {":0", 1, TKM_ERR_HEX, NULL}, /* ':' is '9' + 1 */
	};
	uint8_t out[8];
	struct tkm_rd rd;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		print_message("rd_hex %zu: %s\n", i, t[i].in);
		rd = tkm_rd_of(t[i].in, strlen(t[i].in));
		memset(out, 0x5a, sizeof(out));
		assert_int_equal(tkm_rd_hex(&rd, out, t[i].n), t[i].rc);
		if (t[i].rc != TKM_OK) {
			ASSERT_UNMOVED(rd, t[i].in);
			continue;
		}
		assert_memory_equal(out, t[i].out, t[i].n);
		assert_int_equal(rd.len, strlen(t[i].in) - 2 * t[i].n);
	}
}

static void
test_rd_num(void **state)
{
	static const struct {
		const char *in;
		size_t width;
		int rc;
		unsigned v;
	} t[] = {
	    {"0", 1, TKM_OK, 0},
	    {"0008", 4, TKM_OK, 8},
	    {"123;", 3, TKM_OK, 123},
	    {"999999999", 9, TKM_OK, 999999999}, /* the widest: fits 32 bits */
	    {"12", 3, TKM_ERR_TRUNC, 0},
	    {"12a", 3, TKM_ERR_INPUT, 0},
	    {"-12", 3, TKM_ERR_INPUT, 0},
	    {" 12", 3, TKM_ERR_INPUT, 0},
	    {"1", 0, TKM_ERR_INPUT, 0},
	    {"1234567890", 10, TKM_ERR_INPUT, 0},
	};
	struct tkm_rd rd;
	unsigned v;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		print_message("rd_num %zu: %s\n", i, t[i].in);
		rd = tkm_rd_of(t[i].in, strlen(t[i].in));
		v = 77;
		assert_int_equal(tkm_rd_num(&rd, t[i].width, &v), t[i].rc);
		if (t[i].rc != TKM_OK) {
			ASSERT_UNMOVED(rd, t[i].in);
			continue;
		}
		assert_int_equal(v, t[i].v);
		assert_int_equal(rd.len, strlen(t[i].in) - t[i].width);
	}
}

static void
test_rd_hexnum(void **state)
{
	static const struct {
		const char *in;
		size_t width;
		int rc;
		uint32_t v;
	} t[] = {
	    {"F", 1, TKM_OK, 0xf},
	    {"0abC", 4, TKM_OK, 0xabc},
	    {"FFFFFFFF", 8, TKM_OK, 0xffffffffu},
	    {"FFF", 4, TKM_ERR_TRUNC, 0},
	    {"FFG", 3, TKM_ERR_HEX, 0},
	    {"1", 0, TKM_ERR_INPUT, 0},
	    {"123456789", 9, TKM_ERR_INPUT, 0},
	};
	struct tkm_rd rd;
	uint32_t v;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		print_message("rd_hexnum %zu: %s\n", i, t[i].in);
		rd = tkm_rd_of(t[i].in, strlen(t[i].in));
		v = 77;
		assert_int_equal(tkm_rd_hexnum(&rd, t[i].width, &v), t[i].rc);
		if (t[i].rc != TKM_OK) {
			ASSERT_UNMOVED(rd, t[i].in);
			continue;
		}
		assert_int_equal(v, t[i].v);
		assert_int_equal(rd.len, strlen(t[i].in) - t[i].width);
	}
}

static void
test_rd_accept_until_end(void **state)
{
	static const char s[] = "ab;;cd";
	struct tkm_rd rd = tkm_rd_of(s, 6), out;

	(void)state;
	assert_int_equal(tkm_rd_accept(&rd, 'b'), 0);
	ASSERT_UNMOVED(rd, s);
	assert_int_equal(tkm_rd_accept(&rd, 'a'), 1);
	assert_int_equal(rd.len, 5);
	assert_int_equal(tkm_rd_until(&rd, ';', &out), TKM_OK);
	assert_ptr_equal(out.p, s + 1);
	assert_int_equal(out.len, 1);
	assert_int_equal(tkm_rd_until(&rd, ';', &out), TKM_OK);
	assert_int_equal(out.len, 0); /* empty field between two ';' */
	assert_ptr_equal(rd.p, s + 4);
	assert_int_equal(tkm_rd_end(&rd), TKM_ERR_TRAILING);
	assert_int_equal(tkm_rd_until(&rd, ';', &out), TKM_ERR_TRUNC);
	assert_ptr_equal(rd.p, s + 4);
	assert_int_equal(rd.len, 2);
	assert_int_equal(tkm_rd_bytes(&rd, NULL, 2), TKM_OK);
	assert_int_equal(tkm_rd_end(&rd), TKM_OK);
	assert_int_equal(tkm_rd_accept(&rd, 'd'), 0);
	assert_int_equal(tkm_rd_until(&rd, ';', &out), TKM_ERR_TRUNC);
}

/* --- writer ------------------------------------------------------------ */

static void
test_wr_cap_sticky(void **state)
{
	uint8_t buf[8];
	struct tkm_wr w;

	(void)state;
	memset(buf, 0, sizeof(buf));
	tkm_wr_init(&w, buf, 4);
	tkm_wr_str(&w, "");
	tkm_wr_bytes(&w, "abc", 3);
	tkm_wr_str(&w, "d"); /* exactly the cap */
	assert_int_equal(tkm_wr_error(&w), TKM_OK);
	assert_int_equal(w.len, 4);
	tkm_wr_str(&w, "e");
	assert_int_equal(tkm_wr_error(&w), TKM_ERR_SPACE);
	assert_int_equal(w.len, 4);
	assert_int_equal(buf[4], 0); /* nothing past the cap */
	assert_memory_equal(buf, "abcd", 4);

	/* The first error sticks; later writes that would fit are no-ops. */
	tkm_wr_init(&w, buf, 8);
	tkm_wr_num(&w, 1000, 3);
	assert_int_equal(tkm_wr_error(&w), TKM_ERR_INPUT);
	tkm_wr_str(&w, "0123456789");
	tkm_wr_str(&w, "x");
	tkm_wr_hex(&w, "x", 1);
	assert_int_equal(tkm_wr_error(&w), TKM_ERR_INPUT);
	assert_int_equal(w.len, 0);

	/* Too much hex for the cap: SPACE, nothing written. */
	tkm_wr_init(&w, buf, 3);
	tkm_wr_hex(&w, "ab", 2);
	assert_int_equal(tkm_wr_error(&w), TKM_ERR_SPACE);
	assert_int_equal(w.len, 0);
}

static void
test_wr_digits(void **state)
{
	static const struct {
		int hex;
		unsigned long v;
		size_t width;
		int rc;
		const char *out;
	} t[] = {
	    {0, 7, 3, TKM_OK, "007"},
	    {0, 0, 1, TKM_OK, "0"},
	    {0, 0, 0, TKM_OK, ""},
	    {0, 999, 3, TKM_OK, "999"},
	    {0, 1000, 3, TKM_ERR_INPUT, ""},
	    {0, 1, 0, TKM_ERR_INPUT, ""},
	    {0, 1, 17, TKM_ERR_INPUT, ""},
	    {0, 9999999999999999ul, 16, TKM_OK, "9999999999999999"},
	    {1, 0xabc, 4, TKM_OK, "0ABC"},
	    {1, 0xff, 1, TKM_ERR_INPUT, ""},
	    {1, 0xfffffffffffffffful, 16, TKM_OK, "FFFFFFFFFFFFFFFF"},
	};
	uint8_t buf[32];
	struct tkm_wr w;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		print_message("wr_digits %zu\n", i);
		tkm_wr_init(&w, buf, sizeof(buf));
		tkm_wr_str(&w, "<");
		if (t[i].hex)
			tkm_wr_hexnum(&w, t[i].v, t[i].width);
		else
			tkm_wr_num(&w, t[i].v, t[i].width);
		assert_int_equal(tkm_wr_error(&w), t[i].rc);
		/* On failure the field is undone: only "<" remains. */
		assert_int_equal(w.len, 1 + strlen(t[i].out));
		assert_memory_equal(buf + 1, t[i].out, strlen(t[i].out));
	}
	/* A field that does not fit the cap. */
	tkm_wr_init(&w, buf, 2);
	tkm_wr_num(&w, 5, 3);
	assert_int_equal(tkm_wr_error(&w), TKM_ERR_SPACE);
}

/* --- hex codec: RFC 4648 §10 BASE16 vectors ------------------------------ */

static const struct {
	const char *bin, *hex;
} rfc4648[] = {
    {"", ""},
    {"f", "66"},
    {"fo", "666F"},
    {"foo", "666F6F"},
    {"foob", "666F6F62"},
    {"fooba", "666F6F6261"},
    {"foobar", "666F6F626172"},
};

static void
test_hex_codec(void **state)
{
	char hex[16], low[16];
	uint8_t bin[8];
	size_t i, j, n, len;

	(void)state;
	for (i = 0; i < NELEM(rfc4648); i++) {
		n = strlen(rfc4648[i].bin);
		tkm_hex_encode(rfc4648[i].bin, n, hex);
		assert_string_equal(hex, rfc4648[i].hex);

		for (j = 0; j <= 2 * n; j++)
			low[j] =
			    (char)(hex[j] >= 'A' ? hex[j] - 'A' + 'a' : hex[j]);
		assert_int_equal(
		    tkm_hex_decode(low, 2 * n, bin, n, &len), TKM_OK);
		assert_int_equal(len, n);
		assert_memory_equal(bin, rfc4648[i].bin, n);
	}
	/* Every byte value round-trips, and encodes as upper case. */
	for (i = 0; i < 256; i++) {
		uint8_t b = (uint8_t)i;

		tkm_hex_encode(&b, 1, hex);
		assert_true(strspn(hex, "0123456789ABCDEF") == 2);
		assert_int_equal(tkm_hex_decode(hex, 2, bin, 1, &len), TKM_OK);
		assert_int_equal(len, 1);
		assert_int_equal(bin[0], b);
	}
}

static void
test_hex_decode_errors(void **state)
{
	static const struct {
		const char *in;
		size_t cap;
		int rc;
	} t[] = {
	    {"666", 8, TKM_ERR_HEX},      /* odd length */
	    {"6G", 8, TKM_ERR_HEX},       /* not a hex digit */
	    {"66 6", 8, TKM_ERR_HEX},     /* space inside */
	    {"666F6F", 2, TKM_ERR_SPACE}, /* 3 bytes, room for 2 */
	    {"666F6F", 3, TKM_OK},        /* exactly the room */
	};
	uint8_t out[8];
	size_t i, len;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		len = 99;
		assert_int_equal(tkm_hex_decode(t[i].in, strlen(t[i].in), out,
				     t[i].cap, &len),
		    t[i].rc);
		assert_int_equal(
		    len, t[i].rc == TKM_OK ? strlen(t[i].in) / 2 : 0);
	}
}

/* --- error table ------------------------------------------------------- */

static void
test_err_table(void **state)
{
	/* protocol.md §3: the wire code of every cause. */
	static const struct {
		int err;
		const char *wire;
	} t[] = {
	    {TKM_OK, "00"},
	    {TKM_ERR_VERIFY, "01"},
	    {TKM_ERR_KEY_LEN, "02"},
	    {TKM_ERR_KEY_TYPE, "04"},
	    {TKM_ERR_MODE, "05"},
	    {TKM_ERR_PARITY, "10"},
	    {TKM_ERR_NO_KEY, "12"},
	    {TKM_ERR_SEALED, "13"},
	    {TKM_ERR_INPUT, "15"},
	    {TKM_ERR_HEX, "15"},
	    {TKM_ERR_TRUNC, "15"},
	    {TKM_ERR_TRAILING, "15"},
	    {TKM_ERR_NOT_AUTH, "17"},
	    {TKM_ERR_INDEX, "21"},
	    {TKM_ERR_SCHEME, "26"},
	    {TKM_ERR_TYPE_USE, "28"},
	    {TKM_ERR_PERMISSION, "29"},
	    {TKM_ERR_INTERNAL, "41"},
	    {TKM_ERR_NOMEM, "41"},
	    {TKM_ERR_SPACE, "41"},
	    {TKM_ERR_HEADER, "51"},
	    {TKM_ERR_FRAME_LEN, "51"},
	    {TKM_ERR_NO_CMD, "60"},
	    {TKM_ERR_WHITELIST, "68"},
	    {TKM_ERR_IP, "69"},
	    {TKM_ERR_ASYM_KEY, "74"},
	    {TKM_ERR_DATA_LEN, "80"},
	    {TKM_ERR_NO_PUBKEY, "85"},
	    {TKM_ERR_LIC_EXHAUSTED, "A1"},
	    {TKM_ERR_LIC_EXPIRED, "A2"},
	    {TKM_ERR_IO, "41"},
	    {TKM_ERR_TIMEOUT, "41"},
	    {TKM_ERR_CLOSED, "41"},
	};
	size_t i, j;

	(void)state;
	assert_int_equal(NELEM(t), -TKM_ERR__LAST);
	for (i = 0; i < NELEM(t); i++) {
		print_message("err %d\n", t[i].err);
		assert_int_equal(t[i].err, -(int)i); /* every cause listed */
		assert_string_equal(tkm_err_wire(t[i].err), t[i].wire);
		assert_string_not_equal(
		    tkm_strerror(t[i].err), "unknown error");
		if (t[i].err == TKM_OK)
			assert_int_equal(tkm_err_http(t[i].err), 200);
		else
			assert_in_range(tkm_err_http(t[i].err), 400, 599);
		/* One text per cause, so that logs tell them apart. */
		for (j = 0; j < i; j++)
			assert_string_not_equal(
			    tkm_strerror(t[i].err), tkm_strerror(t[j].err));
	}
}

static void
test_err_out_of_range(void **state)
{
	static const int bad[] = {
	    1, 42, TKM_ERR__LAST, TKM_ERR__LAST - 1, -1000, -2147483647 - 1};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(bad); i++) {
		assert_string_equal(tkm_strerror(bad[i]), "unknown error");
		assert_string_equal(tkm_err_wire(bad[i]), "41");
		assert_int_equal(tkm_err_http(bad[i]), 500);
	}
}

/* --- secure memory ----------------------------------------------------- */

static void
test_secure_alloc(void **state)
{
	static const size_t sizes[] = {1, 32, 4096, 4097, 3 * 4096};
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), i, j;
	struct rlimit rl;
	uint8_t *p;

	(void)state;
	assert_null(tkm_secure_alloc(0));
	assert_null(tkm_secure_alloc(((size_t)1 << 30) + 1));
	assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	for (i = 0; i < NELEM(sizes); i++) {
		p = tkm_secure_alloc(sizes[i]);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % pg, 0);
		for (j = 0; j < sizes[i]; j++)
			assert_int_equal(p[j], 0);
		memset(p, 0xa5, sizes[i]);
		/* With room to lock a few pages, the block must be locked. */
		if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 64 * pg)
			assert_int_equal(tkm_secure_locked(p, sizes[i]), 1);
		tkm_secure_free(p, sizes[i]);
	}
	assert_int_equal(tkm_secure_locked(NULL, 1), 0);
	tkm_secure_free(NULL, 100);
}

static void
test_cleanse_ct_eq(void **state)
{
	uint8_t a[33], b[33];
	size_t i;

	(void)state;
	memset(a, 0x77, sizeof(a));
	tkm_cleanse(a, 32);
	for (i = 0; i < 32; i++)
		assert_int_equal(a[i], 0);
	assert_int_equal(a[32], 0x77); /* not one byte more */
	tkm_cleanse(NULL, 10);
	tkm_cleanse(a, 0);

	memset(a, 1, sizeof(a));
	memset(b, 1, sizeof(b));
	assert_int_equal(tkm_ct_eq(a, b, sizeof(a)), 1);
	assert_int_equal(tkm_ct_eq(a, b, 0), 1);
	b[32] = 2; /* last byte differs */
	assert_int_equal(tkm_ct_eq(a, b, sizeof(a)), 0);
	assert_int_equal(tkm_ct_eq(a, b, 32), 1);
	b[0] = 0; /* first byte differs */
	assert_int_equal(tkm_ct_eq(a, b, 1), 0);
}

/* The wiping allocator jansson gets in the daemons: usable blocks with
 * malloc's alignment, an impossible size refused, NULL freed. */
static void
test_wipe_alloc(void **state)
{
	uint8_t *p;
	size_t n;

	(void)state;
	for (n = 0; n < 100; n += 33) {
		p = tkm_wipe_malloc(n);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
		memset(p, 0xA5, n);
		tkm_wipe_free(p);
	}
	assert_null(tkm_wipe_malloc(SIZE_MAX));
	assert_null(tkm_wipe_malloc(SIZE_MAX - 15));
	tkm_wipe_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rd_bytes_view),
	    cmocka_unit_test(test_null_empty),
	    cmocka_unit_test(test_rd_hex),
	    cmocka_unit_test(test_rd_num),
	    cmocka_unit_test(test_rd_hexnum),
	    cmocka_unit_test(test_rd_accept_until_end),
	    cmocka_unit_test(test_wr_cap_sticky),
	    cmocka_unit_test(test_wr_digits),
	    cmocka_unit_test(test_hex_codec),
	    cmocka_unit_test(test_hex_decode_errors),
	    cmocka_unit_test(test_err_table),
	    cmocka_unit_test(test_err_out_of_range),
	    cmocka_unit_test(test_secure_alloc),
	    cmocka_unit_test(test_cleanse_ct_eq),
	    cmocka_unit_test(test_wipe_alloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
