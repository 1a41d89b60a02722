/*
 * test_maint.c - maintenance request and update files (maint.c): times,
 * the exact text of both files (the examples of docs/maintenance.md),
 * round trips, signatures, every malformed field, every truncation and
 * every altered byte, and the licences file of `tkms maint sign`.
 *
 * Expected Unix times were computed with Python's calendar.timegm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tkm/buf.h"
#include "tkm/maint.h"
#include "tkm/sm2.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* GM/T 0003.5 annex A key pair: stands for an HSM identity key. */
#define GMT_D "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
#define GMT_PUB                                                                \
	"09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"     \
	"CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
#define NONCE     "00112233445566778899AABBCCDDEEFF"
#define T_REQUEST 1763869020 /* 2025-11-23T03:37:00Z */
#define T_UNTIL   1830268799 /* 2027-12-31T15:59:59Z = 2027-12-31 CST */

/* The signed part of the request of docs/maintenance.md. */
static const char request_body[] =
    "TKMS-MAINT-REQUEST 1\n"
    "serial=TKMS0123456789AB\n"
    "identity=" GMT_PUB "\n"
    "nonce=" NONCE "\n"
    "time=2025-11-23T03:37:00Z\n"
    "enforce=1\n"
    "last_seq=3\n"
    "last_applied=2025-05-01T02:00:00Z\n"
    "issuer_code=02885820\n"
    "hsm_number=SG-CITY-01\n"
    "organisation=韶关市交通一卡通有限公司\n"
    "applicant=张三\n"
    "date=2025-11-23\n"
    "address=广东省韶关市\n"
    "phone=0751-1234567\n"
    "cards_this_year=120000\n"
    "cards_next_year=150000\n"
    "remarks=\n"
    "lic=UB K2A0 des 990 10 2027-12-31T15:59:59Z\n"
    "lic=EH 05 sm2 3 0 2027-12-31T15:59:59Z\n";

static const char update_body[] = "TKMS-MAINT-UPDATE 1\n"
				  "serial=TKMS0123456789AB\n"
				  "nonce=" NONCE "\n"
				  "seq=4\n"
				  "time=2025-11-23T04:00:00Z\n"
				  "enforce=1\n"
				  "lic=UB K2A0 des 1000 2027-12-31T15:59:59Z\n"
				  "lic=U1 K2A1 sm4 500 2027-12-31T15:59:59Z\n"
				  "lic=EH 05 sm2 3 2027-12-31T15:59:59Z\n";

static struct tkm_sm2 *
gmt_key(void)
{
	uint8_t d[32];
	struct tkm_sm2 *k = NULL;
	size_t n;

	assert_int_equal(tkm_hex_decode(GMT_D, 64, d, sizeof(d), &n), TKM_OK);
	assert_int_equal(tkm_sm2_from_priv(d, &k), TKM_OK);
	return k;
}

static void
unhex(const char *s, uint8_t *out, size_t n)
{
	size_t got;

	assert_int_equal(tkm_hex_decode(s, strlen(s), out, n, &got), TKM_OK);
	assert_int_equal(got, n);
}

static void
set(struct tkm_maint_form *f, size_t i, const char *v)
{
	const char *why = NULL;

	assert_int_equal(tkm_maint_form_set(f, i, v, strlen(v), &why), TKM_OK);
}

static struct tkm_maint_lic
lic(const char *cmd, int lib, unsigned index, uint32_t count, uint32_t used)
{
	struct tkm_maint_lic l;

	memset(&l, 0, sizeof(l));
	memcpy(l.cmd, cmd, 2);
	l.lib = lib;
	l.index = index;
	l.count = count;
	l.used = used;
	l.until = T_UNTIL;
	return l;
}

/* The request of request_body as a struct (heap: it is large). */
static struct tkm_maint_request *
sample_request(void)
{
	struct tkm_maint_request *q = calloc(1, sizeof(*q));

	assert_non_null(q);
	snprintf(q->serial, sizeof(q->serial), "TKMS0123456789AB");
	unhex(GMT_PUB, q->identity, sizeof(q->identity));
	unhex(NONCE, q->nonce, sizeof(q->nonce));
	q->time = T_REQUEST;
	q->enforce = 1;
	q->last_seq = 3;
	q->last_applied = 1746064800; /* 2025-05-01T02:00:00Z */
	set(&q->form, TKM_MF_ISSUER_CODE, "02885820");
	set(&q->form, TKM_MF_HSM_NUMBER, "SG-CITY-01");
	set(&q->form, TKM_MF_ORGANISATION, "韶关市交通一卡通有限公司");
	set(&q->form, TKM_MF_APPLICANT, "张三");
	set(&q->form, TKM_MF_DATE, "2025-11-23");
	set(&q->form, TKM_MF_ADDRESS, "广东省韶关市");
	set(&q->form, TKM_MF_PHONE, "0751-1234567");
	set(&q->form, TKM_MF_CARDS_THIS_YEAR, "120000");
	set(&q->form, TKM_MF_CARDS_NEXT_YEAR, "150000");
	q->lic[0] = lic("UB", TKM_MAINT_DES, 0x2A0, 990, 10);
	q->lic[1] = lic("EH", TKM_MAINT_SM2, 5, 3, 0);
	q->nlic = 2;
	return q;
}

static struct tkm_maint_update *
sample_update(void)
{
	struct tkm_maint_update *u = calloc(1, sizeof(*u));

	assert_non_null(u);
	snprintf(u->serial, sizeof(u->serial), "TKMS0123456789AB");
	unhex(NONCE, u->nonce, sizeof(u->nonce));
	u->seq = 4;
	u->time = T_REQUEST + 23 * 60;
	u->enforce = 1;
	u->lic[0] = lic("UB", TKM_MAINT_DES, 0x2A0, 1000, 0);
	u->lic[1] = lic("U1", TKM_MAINT_SM4, 0x2A1, 500, 0);
	u->lic[2] = lic("EH", TKM_MAINT_SM2, 5, 3, 0);
	u->nlic = 3;
	return u;
}

/* A signed file made of body (text), in a malloc'ed NUL-terminated
 * buffer. */
static char *
signed_file(const char *body, size_t *len)
{
	struct tkm_sm2 *k = gmt_key();
	size_t cap = strlen(body) + 256;
	char *f = malloc(cap);

	assert_non_null(f);
	memcpy(f, body, strlen(body) + 1);
	*len = strlen(body);
	assert_int_equal(tkm_maint_sign(k, f, cap, len), TKM_OK);
	assert_int_equal(*len, strlen(body) + 4 + 128 + 1);
	tkm_sm2_free(k);
	return f;
}

/* --- times ------------------------------------------------------------- */

static void
test_times(void **state)
{
	static const struct {
		const char *s;
		int64_t t;
	} ok[] = {
	    {"1970-01-01T00:00:00Z", 0},
	    {"2000-02-29T12:34:56Z", 951827696},
	    {"2025-11-23T03:37:00Z", T_REQUEST},
	    {"2027-12-31T15:59:59Z", T_UNTIL},
	    {"9999-12-31T23:59:59Z", 253402300799},
	};
	static const char *const bad[] = {
	    "",
	    "2025-11-23T03:37:00",
	    "2025-11-23T03:37:00z",
	    "2025-11-23 03:37:00Z",
	    "2025-11-23T03:37:00ZZ",
	    "1969-12-31T23:59:59Z",
	    "2025-00-01T00:00:00Z",
	    "2025-13-01T00:00:00Z",
	    "2025-02-29T00:00:00Z",
	    "2100-02-29T00:00:00Z",
	    "2025-04-31T00:00:00Z",
	    "2025-11-23T24:00:00Z",
	    "2025-11-23T23:60:00Z",
	    "2025-11-23T23:00:60Z",
	    "+025-11-23T03:37:00Z",
	    "2025-1-23T03:37:00Z ",
	    "2025/11/23T03:37:00Z",
	};
	char out[TKM_MAINT_TIME_LEN + 1], date[TKM_MAINT_DATE_LEN + 1];
	int64_t t;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(ok); i++) {
		assert_int_equal(
		    tkm_maint_time_parse(ok[i].s, strlen(ok[i].s), &t), TKM_OK);
		assert_int_equal(t, ok[i].t);
		tkm_maint_time_format(t, out);
		assert_string_equal(out, ok[i].s);
	}
	for (i = 0; i < NELEM(bad); i++) {
		t = 1;
		assert_int_equal(
		    tkm_maint_time_parse(bad[i], strlen(bad[i]), &t),
		    TKM_ERR_INPUT);
		assert_int_equal(t, 0);
	}
	/* Every day of four years, and leap days, both ways. */
	for (t = 946684800; t < 946684800 + 4 * 366 * 86400; t += 86399) {
		int64_t back;

		tkm_maint_time_format(t, out);
		assert_int_equal(
		    tkm_maint_time_parse(out, strlen(out), &back), TKM_OK);
		assert_int_equal(back, t);
	}
	assert_int_equal(
	    tkm_maint_time_parse("2024-02-29T00:00:00Z", 20, &t), TKM_OK);
	/* Out of range formats clamped, never as something else. */
	tkm_maint_time_format(-5, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	tkm_maint_time_format(INT64_MAX, out);
	assert_string_equal(out, "9999-12-31T23:59:59Z");

	/* Dates are China Standard Time: the day ends at 15:59:59Z. */
	assert_int_equal(tkm_maint_date_end("2027-12-31", 10, &t), TKM_OK);
	assert_int_equal(t, T_UNTIL);
	assert_int_equal(tkm_maint_date_end("2024-02-29", 10, &t), TKM_OK);
	assert_int_equal(t, 1709222399);
	assert_int_equal(
	    tkm_maint_date_end("2025-02-29", 10, &t), TKM_ERR_INPUT);
	assert_int_equal(tkm_maint_date_end("2025-2-28", 9, &t), TKM_ERR_INPUT);
	tkm_maint_date_format(T_UNTIL, date);
	assert_string_equal(date, "2027-12-31");
	tkm_maint_date_format(T_UNTIL + 1, date);
	assert_string_equal(date, "2028-01-01");
}

/* --- the exact text ----------------------------------------------------- */

static void
test_request_text(void **state)
{
	struct tkm_maint_request *q = sample_request(), *back;
	char out[4096];
	const char *why = NULL;
	struct tkm_sm2 *k = gmt_key();
	size_t len;

	(void)state;
	assert_int_equal(
	    tkm_maint_request_write(q, out, sizeof(out), &len, &why), TKM_OK);
	assert_int_equal(len, strlen(request_body));
	assert_string_equal(out, request_body);
	/* Too small: refused, never cut. */
	assert_int_equal(tkm_maint_request_write(q, out, len - 1, &len, &why),
	    TKM_ERR_SPACE);
	assert_int_equal(
	    tkm_maint_request_write(q, out, sizeof(out), &len, &why), TKM_OK);
	assert_int_equal(tkm_maint_sign(k, out, sizeof(out), &len), TKM_OK);
	assert_int_equal(out[len - 1], '\n');

	back = calloc(1, sizeof(*back));
	assert_non_null(back);
	assert_int_equal(tkm_maint_request_parse(out, len, back, &why), TKM_OK);
	assert_null(why);
	assert_int_equal(back->signed_len, strlen(request_body));
	assert_string_equal(back->serial, q->serial);
	assert_memory_equal(back->identity, q->identity, 64);
	assert_memory_equal(back->nonce, q->nonce, 16);
	assert_int_equal(back->time, q->time);
	assert_int_equal(back->enforce, 1);
	assert_int_equal(back->last_seq, 3);
	assert_int_equal(back->last_applied, q->last_applied);
	assert_memory_equal(&back->form, &q->form, sizeof(q->form));
	assert_int_equal(back->nlic, 2);
	assert_memory_equal(back->lic, q->lic, 2 * sizeof(q->lic[0]));
	assert_int_equal(
	    tkm_maint_verify(out, back->signed_len, back->identity, back->sig),
	    TKM_OK);
	/* Without the final newline, as a console strips it. */
	assert_int_equal(
	    tkm_maint_request_parse(out, len - 1, back, &why), TKM_OK);

	/* Never maintained: "-"; no licences. */
	q->last_applied = 0;
	q->last_seq = 0;
	q->nlic = 0;
	assert_int_equal(
	    tkm_maint_request_write(q, out, sizeof(out), &len, &why), TKM_OK);
	assert_non_null(strstr(out, "\nlast_applied=-\nissuer_code="));
	assert_int_equal(out[len - 1], '\n');
	assert_non_null(strstr(out, "\nremarks=\n"));
	assert_null(strstr(out, "lic="));
	assert_int_equal(tkm_maint_sign(k, out, sizeof(out), &len), TKM_OK);
	assert_int_equal(tkm_maint_request_parse(out, len, back, &why), TKM_OK);
	assert_int_equal(back->last_applied, 0);
	assert_int_equal(back->nlic, 0);
	free(back);
	free(q);
	tkm_sm2_free(k);
}

static void
test_update_text(void **state)
{
	struct tkm_maint_update *u = sample_update(), *back;
	struct tkm_maint_request *q;
	uint8_t pub[64], other[64];
	char out[4096];
	const char *why = NULL;
	struct tkm_sm2 *k = gmt_key(), *k2 = NULL;
	size_t len;

	(void)state;
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why), TKM_OK);
	assert_string_equal(out, update_body);
	assert_int_equal(tkm_maint_sign(k, out, sizeof(out), &len), TKM_OK);
	back = calloc(1, sizeof(*back));
	assert_non_null(back);
	assert_int_equal(tkm_maint_update_parse(out, len, back, &why), TKM_OK);
	assert_string_equal(back->serial, u->serial);
	assert_memory_equal(back->nonce, u->nonce, 16);
	assert_int_equal(back->seq, 4);
	assert_int_equal(back->time, u->time);
	assert_int_equal(back->enforce, 1);
	assert_int_equal(back->nlic, 3);
	assert_memory_equal(back->lic, u->lic, 3 * sizeof(u->lic[0]));
	assert_int_equal(back->signed_len, strlen(update_body));
	unhex(GMT_PUB, pub, sizeof(pub));
	assert_int_equal(
	    tkm_maint_verify(out, back->signed_len, pub, back->sig), TKM_OK);
	/* Another key's signature does not verify. */
	assert_int_equal(tkm_sm2_generate(&k2), TKM_OK);
	assert_int_equal(tkm_sm2_pub(k2, other), TKM_OK);
	assert_int_equal(
	    tkm_maint_verify(out, back->signed_len, other, back->sig),
	    TKM_ERR_VERIFY);
	/* A public key off the curve. */
	memset(other, 0x11, sizeof(other));
	assert_int_equal(
	    tkm_maint_verify(out, back->signed_len, other, back->sig),
	    TKM_ERR_ASYM_KEY);
	/* An update is not a request. */
	q = calloc(1, sizeof(*q));
	assert_non_null(q);
	assert_int_equal(
	    tkm_maint_request_parse(out, len, q, &why), TKM_ERR_INPUT);
	assert_non_null(strstr(why, "TKMS-MAINT-REQUEST"));
	free(q);
	free(back);
	free(u);
	tkm_sm2_free(k);
	tkm_sm2_free(k2);
}

/* The writers refuse what the parser would refuse. */
static void
test_write_refuses(void **state)
{
	struct tkm_maint_update *u = sample_update();
	struct tkm_maint_request *q = sample_request();
	char out[16384];
	const char *why;
	size_t len, i;

	(void)state;
	u->seq = 0;
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why),
	    TKM_ERR_INPUT);
	u->seq = 4;
	u->lic[2] = u->lic[0]; /* twice */
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "twice"));
	u->lic[2] = lic("EH", TKM_MAINT_DES, 5, 1, 0);
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why),
	    TKM_ERR_INPUT);
	u->lic[2] = lic("UB", TKM_MAINT_SM2, 5, 1, 0);
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why),
	    TKM_ERR_INPUT);
	u->lic[2] = lic("A0", TKM_MAINT_DES, 5, 1, 0);
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why),
	    TKM_ERR_INPUT);
	u->lic[2] = lic("UB", TKM_MAINT_DES, 0x1000, 1, 0);
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why),
	    TKM_ERR_INPUT);
	u->lic[2] = lic("EH", TKM_MAINT_RSA, 21, 1, 0);
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why),
	    TKM_ERR_INPUT);
	u->lic[2] = lic("EH", TKM_MAINT_RSA, 20, 1, 0);
	u->lic[2].until = -1;
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why),
	    TKM_ERR_INPUT);
	u->lic[2].until = T_UNTIL;
	snprintf(u->serial, sizeof(u->serial), "TKMS-0001");
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why),
	    TKM_ERR_INPUT);
	snprintf(u->serial, sizeof(u->serial), "TKMS0123456789AB");
	u->enforce = 2;
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why),
	    TKM_ERR_INPUT);
	u->enforce = 0;
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why), TKM_OK);

	/* 200 licences of the longest form fit what EW signs; 201 not. */
	u->seq = INT64_MAX;
	for (i = 0; i < TKM_MAINT_MAX_LIC; i++) {
		u->lic[i] =
		    lic("UB", TKM_MAINT_DES, (unsigned)i, UINT32_MAX, 0);
		u->lic[i].until = 253402300799;
	}
	u->nlic = TKM_MAINT_MAX_LIC;
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why), TKM_OK);
	assert_true(len <= TKM_MAINT_SIGNED_MAX);
	u->nlic = TKM_MAINT_MAX_LIC + 1;
	assert_int_equal(
	    tkm_maint_update_write(u, out, sizeof(out), &len, &why),
	    TKM_ERR_INPUT);

	/* Request: a required form field missing, a bad one. */
	q->form.v[TKM_MF_APPLICANT][0] = '\0';
	assert_int_equal(
	    tkm_maint_request_write(q, out, sizeof(out), &len, &why),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "applicant"));
	set(&q->form, TKM_MF_APPLICANT, "李四");
	memcpy(q->form.v[TKM_MF_ISSUER_CODE], "0288582X", 9);
	assert_int_equal(
	    tkm_maint_request_write(q, out, sizeof(out), &len, &why),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "issuer_code"));
	free(u);
	free(q);
}

/* --- malformed files ---------------------------------------------------- */

struct mutation {
	const char *from, *to; /* first occurrence of from becomes to */
	const char *why;       /* a part of the message */
};

static const struct mutation request_bad[] = {
    {"TKMS-MAINT-REQUEST 1", "TKMS-MAINT-REQUEST 2", "first line"},
    {"TKMS-MAINT-REQUEST 1\n", "TKMS-MAINT-REQUEST 1\r\n", "first line"},
    {"serial=TKMS0123456789AB", "serial=", "serial"},
    {"serial=TKMS0123456789AB", "serial=TKMS0123456789ABC", "serial"},
    {"serial=TKMS0123456789AB", "serial=TKMS-123", "serial"},
    {"serial=TKMS0123456789AB", "serial =TKMS0123456789AB", "serial"},
    {"serial=TKMS0123456789AB", "Serial=TKMS0123456789AB", "serial"},
    {"identity=09F9", "identity=9F9", "identity"},
    {"identity=09F9", "identity=0G9F9", "identity"},
    {"identity=09F9", "identity=0409F9", "identity"},
    {"nonce=0011", "nonce=011", "nonce"},
    {"nonce=0011", "nonce= 0011", "nonce"},
    {"time=2025-11-23T03:37:00Z", "time=2025-02-30T03:37:00Z", "time"},
    {"time=2025-11-23T03:37:00Z", "time=1763869020", "time"},
    {"enforce=1", "enforce=2", "enforce"},
    {"enforce=1", "enforce=01", "enforce"},
    {"enforce=1", "enforce=", "enforce"},
    {"last_seq=3", "last_seq=03", "last_seq"},
    {"last_seq=3", "last_seq=-3", "last_seq"},
    {"last_seq=3", "last_seq=9223372036854775808", "last_seq"},
    {"last_seq=3", "last_seq=99999999999999999999", "last_seq"},
    {"last_applied=2025-05-01T02:00:00Z", "last_applied=never", "last_applied"},
    {"last_applied=2025-05-01T02:00:00Z", "last_applied=1970-01-01T00:00:00Z",
	"last_applied"},
    {"issuer_code=02885820", "issuer_code=0288582", "issuer_code"},
    {"issuer_code=02885820", "issuer_code=0288582X", "issuer_code"},
    {"issuer_code=02885820", "issuer_code=", "issuer_code"},
    {"hsm_number=SG-CITY-01", "hsm_number=", "hsm_number"},
    {"applicant=张三", "applicant=", "applicant"},
    {"applicant=张三", "applicant=\t", "applicant"},
    {"applicant=张三", "applicant=\x7F", "applicant"},
    {"applicant=张三", "applicant=\xC2\x85", "applicant"},     /* C1 */
    {"applicant=张三", "applicant=\xC0\xAE", "applicant"},     /* overlong */
    {"applicant=张三", "applicant=\xED\xA0\x80", "applicant"}, /* surrogate */
    {"applicant=张三", "applicant=\xF4\x90\x80\x80", "applicant"}, /* >10FFFF */
    {"applicant=张三", "applicant=\xE5\xBC", "applicant"},         /* cut */
    {"applicant=张三", "applicant=\xFF", "applicant"},
    {"applicant=张三", "applicant=\xE2\x80\xAE三张", "applicant"}, /* RLO */
    {"organisation=", "organisation=\r", "organisation"},
    {"date=2025-11-23", "date=2025-11-31", "date"},
    {"date=2025-11-23", "date=", "date"},
    {"address=广东省韶关市", "addr=广东省韶关市", "address"},
    {"phone=0751-1234567", "phone=0751-1234567-0751-1234567-0751-1234567",
	"phone"},
    {"cards_this_year=120000", "cards_this_year=0120000", "cards_this_year"},
    {"cards_next_year=150000", "cards_next_year=15万", "cards_next_year"},
    /* Two fields swapped. */
    {"address=广东省韶关市\nphone=0751-1234567",
	"phone=0751-1234567\naddress=广东省韶关市", "address"},
    {"remarks=\n", "", "remarks"},
    {"lic=UB K2A0 des 990 10 ", "lic=UB K2A0 aes 990 10 ", "library"},
    {"lic=UB K2A0 des 990 10 ", "lic=UX K2A0 des 990 10 ", "command"},
    {"lic=UB K2A0 des 990 10 ", "lic=U K2A0 des 990 10 ", "command"},
    {"lic=UB K2A0 des 990 10 ", "lic=EH K2A0 des 990 10 ", "EH"},
    {"lic=UB K2A0 des 990 10 ", "lic=UB 05 des 990 10 ", "K and 3"},
    {"lic=UB K2A0 des 990 10 ", "lic=UB k2a0 des 990 10 ", "K and 3"},
    {"lic=UB K2A0 des 990 10 ", "lic=UB K2A des 990 10 ", "K and 3"},
    {"lic=UB K2A0 des 990 10 ", "lic=UB K2A0 des 990 ", "want CMD"},
    {"lic=UB K2A0 des 990 10 ", "lic=UB K2A0 des 990 10 10 ", "want CMD"},
    {"lic=UB K2A0 des 990 10 ", "lic=UB K2A0  des 990 10 ", "want CMD"},
    {"lic=UB K2A0 des 990 10 ", " lic=UB K2A0 des 990 10 ", "lic="},
    {"lic=UB K2A0 des 990 10 ", "lic=UB K2A0 des 4294967296 10 ", "count"},
    {"lic=UB K2A0 des 990 10 ", "lic=UB K2A0 des 990 -1 ", "used"},
    {"lic=UB K2A0 des 990 10 ", "lic=UB K2A0 des 0990 10 ", "count"},
    {"10 2027-12-31T15:59:59Z", "10 2027-12-31", "until"},
    {"10 2027-12-31T15:59:59Z", "10 2027-12-31T15:59:59Z ", "want CMD"},
    {"lic=EH 05 sm2", "lic=EH 21 sm2", "01 to 20"},
    {"lic=EH 05 sm2", "lic=EH 00 sm2", "01 to 20"},
    {"lic=EH 05 sm2", "lic=EH 5 sm2", "01 to 20"},
    {"lic=EH 05 sm2", "lic=UB 05 sm2", "UB, U1 and U3"},
    {"lic=EH 05 sm2 3 0", "lic=UB K2A0 des 3 0", "twice"},
    {"lic=EH", "foo=bar\nlic=EH", "lic= lines"},
    {"lic=EH", "\nlic=EH", "lic= lines"},
};

/* The sig line (it is made at run time). */
static const struct mutation sig_bad[] = {
    {"\nsig=", "\nsig= ", "sig"},
    {"\nsig=", "\nsig=0", "sig"},
    {"\nsig=", "\nSIG=", "sig"},
    {"\nsig=", "\nsignature=", "sig"},
};

/* Apply m to file (NUL-terminated) into a new buffer. */
static char *
mutate(const char *file, const struct mutation *m, size_t *len)
{
	const char *at = strstr(file, m->from);
	size_t n = strlen(file), nf = strlen(m->from), nt = strlen(m->to);
	char *out;

	assert_non_null(at);
	out = malloc(n - nf + nt + 1);
	assert_non_null(out);
	memcpy(out, file, (size_t)(at - file));
	memcpy(out + (at - file), m->to, nt);
	memcpy(
	    out + (at - file) + nt, at + nf, n - (size_t)(at - file) - nf + 1);
	*len = n - nf + nt;
	return out;
}

static void
expect_request_bad(const char *f, size_t len, const char *part)
{
	struct tkm_maint_request *q = malloc(sizeof(*q));
	const char *why = NULL;
	size_t i;

	assert_non_null(q);
	memset(q, 0xA5, sizeof(*q));
	if (tkm_maint_request_parse(f, len, q, &why) != TKM_ERR_INPUT)
		fail_msg("accepted: %s", f);
	assert_non_null(why);
	if (part != NULL && strstr(why, part) == NULL)
		fail_msg("why \"%s\" lacks \"%s\" for:\n%s", why, part, f);
	/* Nothing half-parsed is left behind. */
	for (i = 0; i < sizeof(*q); i++)
		assert_int_equal(((uint8_t *)q)[i], 0);
	free(q);
}

static void
test_request_malformed(void **state)
{
	size_t len, n, i;
	char *f = signed_file(request_body, &len), *g, *big;
	struct tkm_maint_request *q = malloc(sizeof(*q));
	const char *why;

	(void)state;
	assert_non_null(q);
	assert_int_equal(tkm_maint_request_parse(f, len, q, &why), TKM_OK);
	for (i = 0; i < NELEM(request_bad); i++) {
		g = mutate(f, &request_bad[i], &n);
		expect_request_bad(g, n, request_bad[i].why);
		free(g);
	}
	for (i = 0; i < NELEM(sig_bad); i++) {
		g = mutate(f, &sig_bad[i], &n);
		expect_request_bad(g, n, sig_bad[i].why);
		free(g);
	}
	/* After the signature: nothing but one newline. */
	g = malloc(len + 8);
	assert_non_null(g);
	memcpy(g, f, len);
	memcpy(g + len, "\n", 1);
	expect_request_bad(g, len + 1, "sig");
	memcpy(g + len, "x", 1);
	expect_request_bad(g, len + 1, "sig");
	memcpy(g + len - 1, " ", 1);
	expect_request_bad(g, len, "sig");
	memcpy(g + len - 1, "\r", 1);
	expect_request_bad(g, len, "sig");
	free(g);
	/* Every cut short (but the final newline) is refused. */
	for (n = 0; n < len - 1; n++)
		expect_request_bad(f, n, NULL);
	/* A NUL inside. */
	g = malloc(len);
	assert_non_null(g);
	memcpy(g, f, len);
	g[strstr(f, "张三") - f] = '\0';
	expect_request_bad(g, len, "applicant");
	free(g);
	/* Too large, even if well formed up to there. */
	big = calloc(1, TKM_MAINT_FILE_MAX + 1);
	assert_non_null(big);
	memcpy(big, f, len);
	expect_request_bad(big, TKM_MAINT_FILE_MAX + 1, "16384");
	free(big);
	free(q);
	free(f);
}

static const struct mutation update_bad[] = {
    {"TKMS-MAINT-UPDATE 1", "TKMS-MAINT-UPDATE", "first line"},
    {"serial=TKMS0123456789AB", "serial=TKMS0123456789AB ", "serial"},
    {"nonce=" NONCE, "nonce=" NONCE "00", "nonce"},
    {"seq=4", "seq=0", "seq"},
    {"seq=4", "seq=9223372036854775808", "seq"},
    {"seq=4", "seq=4.0", "seq"},
    {"seq=4\ntime", "time", "seq"},
    {"time=2025-11-23T04:00:00Z", "time=2025-11-23T04:00Z", "time"},
    {"enforce=1", "enforce=yes", "enforce"},
    {"lic=U1 K2A1 sm4 500 ", "lic=U1 K2A1 sm4 500 0 ", "want CMD"},
    {"lic=U1 K2A1 sm4 500 ", "lic=U2 K2A1 sm4 500 ", "command"},
    {"lic=U1 K2A1 sm4 500 ", "lic=U1 KFFFF sm4 500 ", "K and 3"},
    {"lic=U1 K2A1 sm4 500 ", "lic=UB K2A0 des 500 ", "twice"},
    {"sm2 3 2027-12-31T15:59:59Z\n", "sm2 3 2027-12-31T15:59:59Z\nx\n",
	"lic= lines"},
};

static void
expect_update_bad(const char *f, size_t len, const char *part)
{
	struct tkm_maint_update *u = malloc(sizeof(*u));
	const char *why = NULL;
	size_t i;

	assert_non_null(u);
	memset(u, 0x5A, sizeof(*u));
	if (tkm_maint_update_parse(f, len, u, &why) != TKM_ERR_INPUT)
		fail_msg("accepted: %s", f);
	assert_non_null(why);
	if (part != NULL && strstr(why, part) == NULL)
		fail_msg("why \"%s\" lacks \"%s\" for:\n%s", why, part, f);
	for (i = 0; i < sizeof(*u); i++)
		assert_int_equal(((uint8_t *)u)[i], 0);
	free(u);
}

static void
test_update_malformed(void **state)
{
	size_t len, n, i;
	char *f = signed_file(update_body, &len), *g;
	struct tkm_maint_update *u = malloc(sizeof(*u));
	const char *why;
	char body[16384];

	(void)state;
	assert_non_null(u);
	assert_int_equal(tkm_maint_update_parse(f, len, u, &why), TKM_OK);
	for (i = 0; i < NELEM(update_bad); i++) {
		g = mutate(f, &update_bad[i], &n);
		expect_update_bad(g, n, update_bad[i].why);
		free(g);
	}
	for (n = 0; n < len - 1; n++)
		expect_update_bad(f, n, NULL);
	/* 201 licences. */
	n = (size_t)snprintf(body, sizeof(body),
	    "TKMS-MAINT-UPDATE 1\nserial=A\nnonce=%s\nseq=1\n"
	    "time=2025-11-23T04:00:00Z\nenforce=0\n",
	    NONCE);
	for (i = 0; i <= TKM_MAINT_MAX_LIC; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n,
		    "lic=UB K%03zX des 1 2027-12-31T15:59:59Z\n", i);
	g = signed_file(body, &n);
	expect_update_bad(g, n, "too many");
	free(g);
	free(u);
	free(f);
}

/* Any byte of the signed part changed: the parser refuses it or the
 * signature does not verify; a changed signature does not verify. */
static void
test_altered_bytes(void **state)
{
	size_t len, i;
	char *f = signed_file(update_body, &len);
	struct tkm_maint_update *u = malloc(sizeof(*u));
	uint8_t pub[64];
	const char *why;
	int rc;

	(void)state;
	assert_non_null(u);
	unhex(GMT_PUB, pub, sizeof(pub));
	for (i = 0; i < len - 1; i++) {
		f[i] ^= 0x01;
		rc = tkm_maint_update_parse(f, len, u, &why);
		if (rc == TKM_OK)
			rc = tkm_maint_verify(f, u->signed_len, pub, u->sig);
		if (rc == TKM_OK)
			fail_msg("byte %zu altered and accepted", i);
		f[i] ^= 0x01;
	}
	assert_int_equal(tkm_maint_update_parse(f, len, u, &why), TKM_OK);
	assert_int_equal(
	    tkm_maint_verify(f, u->signed_len, pub, u->sig), TKM_OK);
	free(u);
	free(f);
}

/* --- the form ----------------------------------------------------------- */

static void
test_form(void **state)
{
	struct tkm_maint_form f;
	char long_text[TKM_MAINT_TEXT_MAX + 2];
	const char *why;
	size_t i;

	(void)state;
	memset(&f, 0, sizeof(f));
	for (i = 0; tkm_maint_field_name(i) != NULL; i++) {
		const char *n = tkm_maint_field_name(i);

		assert_int_equal(tkm_maint_field_find(n, strlen(n)), (int)i);
		assert_non_null(tkm_maint_field_label(i));
	}
	assert_int_equal(i, TKM_MF_N);
	assert_string_equal(
	    tkm_maint_field_label(TKM_MF_ISSUER_CODE), "发卡机构代码");
	assert_int_equal(tkm_maint_field_find("serial", 6), -1);
	assert_int_equal(tkm_maint_field_find("issuer_cod", 10), -1);
	/* Empty form: the first required field is named. */
	assert_int_equal(tkm_maint_form_check(&f, &why), TKM_ERR_INPUT);
	assert_non_null(strstr(why, "issuer_code"));
	assert_int_equal(
	    tkm_maint_form_set(&f, TKM_MF_ISSUER_CODE, "1234567", 7, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_maint_form_set(&f, TKM_MF_N, "x", 1, &why), TKM_ERR_INPUT);
	memset(long_text, 'a', sizeof(long_text));
	assert_int_equal(tkm_maint_form_set(&f, TKM_MF_REMARKS, long_text,
			     TKM_MAINT_TEXT_MAX, &why),
	    TKM_OK);
	assert_int_equal(tkm_maint_form_set(&f, TKM_MF_REMARKS, long_text,
			     TKM_MAINT_TEXT_MAX + 1, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_maint_form_set(&f, TKM_MF_APPLICANT, long_text, 65, &why),
	    TKM_ERR_INPUT);
	set(&f, TKM_MF_ISSUER_CODE, "02885820");
	set(&f, TKM_MF_HSM_NUMBER, "1");
	set(&f, TKM_MF_ORGANISATION, "o");
	set(&f, TKM_MF_APPLICANT, "a");
	assert_int_equal(tkm_maint_form_check(&f, &why), TKM_ERR_INPUT);
	assert_non_null(strstr(why, "date"));
	set(&f, TKM_MF_DATE, "2024-02-29");
	assert_int_equal(tkm_maint_form_check(&f, &why), TKM_OK);
	/* Clearing an optional field is fine, a required one fails the
	 * check. */
	set(&f, TKM_MF_REMARKS, "");
	set(&f, TKM_MF_APPLICANT, "");
	assert_int_equal(tkm_maint_form_check(&f, &why), TKM_ERR_INPUT);
}

/* --- the licences file -------------------------------------------------- */

static void
test_licfile(void **state)
{
	static const char good[] = "# licences for Shaoguan, 2026\r\n"
				   "UB K2A0 des 1000 2027-12-31   # load key\n"
				   "\n"
				   "UB\tk2a2 DES 1000 2027-12-31\n"
				   "   \t\n"
				   "EH 5 sm2 10 2026-06-30T00:00:00Z\n"
				   "U1,U3 K2A1 sm4 500 2027-12-31";
	static const struct {
		const char *text;
		size_t line;
		const char *why;
	} bad[] = {
	    {"UB K2A0 des 1000", 1, "want"},
	    {"\n\nUB K2A0 des 1000 2027-12-31 x", 3, "want"},
	    {"UB K2A0 aes 1000 2027-12-31", 1, "LIB"},
	    {"UB 05 des 1000 2027-12-31", 1, "K000"},
	    {"UB K2A0G des 1000 2027-12-31", 1, "K000"},
	    {"EH K2A0 sm2 1 2027-12-31", 1, "01-20"},
	    {"EH 21 rsa 1 2027-12-31", 1, "01-20"},
	    {"UB K2A0 des -1 2027-12-31", 1, "COUNT"},
	    {"UB K2A0 des 4294967296 2027-12-31", 1, "COUNT"},
	    {"UB K2A0 des 1 31/12/2027", 1, "UNTIL"},
	    {"UB K2A0 des 1 2027-02-29", 1, "UNTIL"},
	    {"UX K2A0 des 1 2027-12-31", 1, "UB, U1"},
	    {"UB,,U1 K2A0 des 1 2027-12-31", 1, "CMD"},
	    {"UB, K2A0 des 1 2027-12-31", 1, "CMD"},
	    {"U1,U1 K2A0 des 1 2027-12-31", 1, "twice"},
	    {"EH 05 sm2 1 2027-12-31\nEH 5 sm2 2 2027-12-31", 2, "twice"},
	    {"UB K2A0 sm2 1 2027-12-31", 1, "01-20"},
	    {"EH 05 des 1 2027-12-31", 1, "K000"},
	    {"UB K2A0 des 1 2027-12-31\x01", 1, "text"},
	};
	struct tkm_maint_lic lic[TKM_MAINT_MAX_LIC + 1];
	char many[16384];
	const char *why;
	size_t n, line, i, k;

	(void)state;
	assert_int_equal(tkm_maint_licfile_parse(good, strlen(good), lic,
			     NELEM(lic), &n, &line, &why),
	    TKM_OK);
	assert_int_equal(n, 5);
	assert_int_equal(line, 0);
	assert_string_equal(lic[0].cmd, "UB");
	assert_int_equal(lic[0].lib, TKM_MAINT_DES);
	assert_int_equal(lic[0].index, 0x2A0);
	assert_int_equal(lic[0].count, 1000);
	assert_int_equal(lic[0].until, T_UNTIL);
	assert_int_equal(lic[1].index, 0x2A2);
	assert_string_equal(lic[2].cmd, "EH");
	assert_int_equal(lic[2].lib, TKM_MAINT_SM2);
	assert_int_equal(lic[2].index, 5);
	assert_int_equal(lic[2].until, 1782777600); /* 2026-06-30T00:00:00Z */
	assert_string_equal(lic[3].cmd, "U1");
	assert_string_equal(lic[4].cmd, "U3");
	assert_int_equal(lic[4].lib, TKM_MAINT_SM4);
	assert_int_equal(lic[4].index, 0x2A1);
	assert_int_equal(lic[4].count, 500);
	for (i = 0; i < NELEM(bad); i++) {
		why = NULL;
		if (tkm_maint_licfile_parse(bad[i].text, strlen(bad[i].text),
			lic, NELEM(lic), &n, &line, &why) != TKM_ERR_INPUT)
			fail_msg("accepted: %s", bad[i].text);
		assert_int_equal(n, 0);
		if (line != bad[i].line || strstr(why, bad[i].why) == NULL)
			fail_msg(
			    "%s: line %zu, \"%s\"", bad[i].text, line, why);
	}
	/* Empty: no licences (an update that takes them all away). */
	assert_int_equal(tkm_maint_licfile_parse(
			     "# none\n", 7, lic, NELEM(lic), &n, &line, &why),
	    TKM_OK);
	assert_int_equal(n, 0);
	/* At most cap, at most 200. */
	for (i = 0, k = 0; i <= TKM_MAINT_MAX_LIC; i++)
		k += (size_t)snprintf(many + k, sizeof(many) - k,
		    "UB K%03zX des 1 2027-12-31\n", i);
	assert_int_equal(
	    tkm_maint_licfile_parse(many, k, lic, NELEM(lic), &n, &line, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(line, TKM_MAINT_MAX_LIC + 1);
	assert_non_null(strstr(why, "200"));
	assert_int_equal(
	    tkm_maint_licfile_parse(many, k, lic, 3, &n, &line, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(line, 4);
}

static void
test_names(void **state)
{
	struct tkm_maint_lic l;
	char key[5];

	(void)state;
	assert_int_equal(tkm_maint_lib_parse("des", 3), TKM_MAINT_DES);
	assert_int_equal(tkm_maint_lib_parse("sm2", 3), TKM_MAINT_SM2);
	assert_int_equal(tkm_maint_lib_parse("DES", 3), 0);
	assert_int_equal(tkm_maint_lib_parse("des ", 4), 0);
	assert_string_equal(tkm_maint_lib_name(TKM_MAINT_RSA), "rsa");
	assert_null(tkm_maint_lib_name(0));
	assert_null(tkm_maint_lib_name(5));
	l = lic("UB", TKM_MAINT_SM4, 0xF, 1, 0);
	tkm_maint_key_format(&l, key);
	assert_string_equal(key, "K00F");
	l = lic("EH", TKM_MAINT_RSA, 7, 1, 0);
	tkm_maint_key_format(&l, key);
	assert_string_equal(key, "07");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_times),
	    cmocka_unit_test(test_request_text),
	    cmocka_unit_test(test_update_text),
	    cmocka_unit_test(test_write_refuses),
	    cmocka_unit_test(test_request_malformed),
	    cmocka_unit_test(test_update_malformed),
	    cmocka_unit_test(test_altered_bytes),
	    cmocka_unit_test(test_form),
	    cmocka_unit_test(test_licfile),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
