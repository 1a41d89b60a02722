/*
 * test_motcard.c - key mother card files (motcard.c, docs/mot.md).
 *
 * The known file below was computed independently with Debian's
 * python3-cryptography 38 (TripleDES and SM4 ECB under the 11...11 TK, the
 * KCVs, and SM3 of the body via hashes.SM3), so that writer, key wrap and
 * digest are pinned against another implementation. Every other case
 * follows from the format in motcard.h: each is made by changing one line
 * of the known file and recomputing its sm3 line (so that the field
 * itself, not the digest, is what fails), or by cutting and flipping
 * bytes (so that the digest is what fails).
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
#include "tkm/crypto.h"
#include "tkm/err.h"
#include "tkm/motcard.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* python3-cryptography: ECB(11..11, K), KCV(K) for
 * K = 0123456789ABCDEFFEDCBA9876543210, and SM3 of L1..L5. */
#define PLAIN "0123456789ABCDEFFEDCBA9876543210"
#define CT_D  "8A5AE1F81AB8F2DD697C55FAAC85ABC0"
#define KCV_D "08D7B4FB629D0885"
#define CT_S  "AE41DD070671087654201D2116482E65"
#define KCV_S "2677F46B09C122CC"
#define L1    "TKMS-MOTCARD 1"
#define L2    "card MOT-2024-01"
#define L3    "issuer Ministry of Transport"
#define L4    "key DES K200 109 " CT_D " " KCV_D " consumption DES"
#define L5    "key SM4 K201 209 " CT_S " " KCV_S " consumption SM4"
#define L6                                                                     \
	"sm3 18F8CED78BF4F532B675CDB8225CBA3C47AB9FE8D18061F7DEDF90E481C6C300"
#define BODY  L1 "\n" L2 "\n" L3 "\n" L4 "\n" L5 "\n"
#define KNOWN BODY L6 "\n"

#define BIG (2 * TKM_MOTCARD_MAX_FILE)

static struct tkm_motcard card, other;
static char text[BIG + 128];

/* Parse exactly len bytes of p from a heap copy of that size, so that
 * ASan sees a read past the end. */
static int
parse(const char *p, size_t len, struct tkm_motcard_err *err)
{
	char *copy = malloc(len > 0 ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, p, len);
	rc = tkm_motcard_parse(copy, len, &card, err);
	free(copy);
	if (rc != TKM_OK) { /* a refused file leaves nothing behind */
		assert_int_equal(card.nkeys, 0);
		assert_int_equal(card.id[0], 0);
		assert_int_equal(card.issuer[0], 0);
	}
	return rc;
}

/* body followed by its sm3 line, into text; its length. */
static size_t
seal(const char *body, size_t n)
{
	uint8_t d[32];
	char hex[65];

	assert_true(n + 70 < sizeof(text));
	memmove(text, body, n);
	assert_int_equal(tkm_hash(TKM_SM3, text, n, d), TKM_OK);
	tkm_hex_encode(d, sizeof(d), hex);
	memcpy(text + n, "sm3 ", 4);
	memcpy(text + n + 4, hex, 64);
	text[n + 68] = '\n';
	return n + 69;
}

static void
unhex(const char *s, uint8_t *out, size_t n)
{
	size_t got;

	assert_int_equal(tkm_hex_decode(s, strlen(s), out, n, &got), TKM_OK);
	assert_int_equal(got, n);
}

/* The known card as a struct, its keys wrapped from PLAIN. */
static void
known_card(struct tkm_motcard *c)
{
	uint8_t tk[16], k[16];

	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "MOT-2024-01");
	snprintf(c->issuer, sizeof(c->issuer), "Ministry of Transport");
	tkm_mot_tk(tk);
	unhex(PLAIN, k, sizeof(k));
	c->keys[0].alg = TKM_DES;
	c->keys[0].index = 0x200;
	memcpy(c->keys[0].type, "109", 4);
	snprintf(c->keys[0].label, sizeof(c->keys[0].label), "consumption DES");
	assert_int_equal(tkm_motcard_key_wrap(&c->keys[0], tk, k), TKM_OK);
	c->keys[1].alg = TKM_SM4;
	c->keys[1].index = 0x201;
	memcpy(c->keys[1].type, "209", 4);
	snprintf(c->keys[1].label, sizeof(c->keys[1].label), "consumption SM4");
	assert_int_equal(tkm_motcard_key_wrap(&c->keys[1], tk, k), TKM_OK);
	c->nkeys = 2;
}

/* --- known answer, round trip ----------------------------------------- */

static void
test_known_file(void **state)
{
	size_t len;
	uint8_t tk[16];

	(void)state;
	tkm_mot_tk(tk);
	for (len = 0; len < sizeof(tk); len++)
		assert_int_equal(tk[len], 0x11);
	known_card(&other);
	assert_int_equal(
	    tkm_motcard_write(&other, text, sizeof(text), &len), TKM_OK);
	assert_int_equal(len, strlen(KNOWN));
	assert_memory_equal(text, KNOWN, len);
	assert_int_equal(parse(KNOWN, strlen(KNOWN), NULL), TKM_OK);
	assert_memory_equal(&card, &other, sizeof(card));
	assert_string_equal(tkm_motcard_alg_name(TKM_DES), "DES");
	assert_string_equal(tkm_motcard_alg_name(TKM_SM4), "SM4");
	assert_null(tkm_motcard_alg_name(0));
	assert_null(tkm_motcard_alg_name(3));
}

/* The largest card there is: 64 keys, every text at its limit. */
static void
largest(struct tkm_motcard *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	memset(c->id, 'I', TKM_MOTCARD_ID_MAX);
	memset(c->issuer, '~', TKM_MOTCARD_ISSUER_MAX);
	for (i = 0; i < TKM_MOTCARD_MAX_KEYS; i++) {
		c->keys[i].alg = i % 2 ? TKM_SM4 : TKM_DES;
		c->keys[i].index = 0xFFF - (unsigned)i;
		memcpy(c->keys[i].type, i % 3 ? "00A" : "509", 4);
		memset(c->keys[i].ct, (int)i, sizeof(c->keys[i].ct));
		memset(c->keys[i].kcv, (int)(0xFF - i), sizeof(c->keys[i].kcv));
		memset(c->keys[i].label, 'a' + (int)(i % 26),
		    TKM_MOTCARD_LABEL_MAX);
		c->keys[i].label[1] = ' '; /* inner spaces are fine */
	}
	c->nkeys = TKM_MOTCARD_MAX_KEYS;
}

static void
test_round_trip(void **state)
{
	size_t len;

	(void)state;
	largest(&other);
	assert_int_equal(
	    tkm_motcard_write(&other, text, sizeof(text), &len), TKM_OK);
	assert_true(len <= TKM_MOTCARD_MAX_FILE);
	assert_int_equal(parse(text, len, NULL), TKM_OK);
	assert_memory_equal(&card, &other, sizeof(card));
	/* the same card with one key */
	other.nkeys = 1;
	memset(&other.keys[1], 0, sizeof(other.keys) - sizeof(other.keys[0]));
	assert_int_equal(
	    tkm_motcard_write(&other, text, sizeof(text), &len), TKM_OK);
	assert_int_equal(parse(text, len, NULL), TKM_OK);
	assert_memory_equal(&card, &other, sizeof(card));
	/* lower-case hex is read too */
	len = seal(L1 "\n" L2 "\n" L3 "\n"
		      "key DES K200 109 8a5ae1f81ab8f2dd697c55faac85abc0 "
		      "08d7b4fb629d0885 consumption DES\n"
		      "key SM4 K201 209 ae41dd070671087654201d2116482e65 "
		      "2677f46b09c122cc consumption SM4\n",
	    strlen(BODY));
	assert_int_equal(parse(text, len, NULL), TKM_OK);
	known_card(&other);
	assert_memory_equal(&card, &other, sizeof(card));
}

/* --- one field at a time ------------------------------------------------ */

struct field_case {
	unsigned line; /* 1..5: replace that line; 6: add it after L5 */
	const char *with;
	int rc;
	size_t errline;
};

#define CT32  "00112233445566778899AABBCCDDEEFF"
#define KCV16 "0011223344556677"
#define KEYL(alg, idx, type, ct, kcv, label)                                   \
	"key " alg " " idx " " type " " ct " " kcv " " label
#define X65 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static const struct field_case fields[] = {
    /* line 1: magic and version */
    {1, "TKMS-MOTCARD 2", TKM_ERR_INPUT, 1},
    {1, "TKMS-MOTCARD 1 ", TKM_ERR_INPUT, 1},
    {1, "TKMS-MOTCARD 10", TKM_ERR_INPUT, 1},
    {1, "TKMS-MOTCARD", TKM_ERR_INPUT, 1},
    {1, "tkms-motcard 1", TKM_ERR_INPUT, 1},
    {1, "TKMS-MOTCARDS 1", TKM_ERR_INPUT, 1},
    /* line 2: card id */
    {2, "card", TKM_ERR_INPUT, 2},
    {2, "card ", TKM_ERR_INPUT, 2},
    {2, "card A B", TKM_ERR_INPUT, 2},
    {2, "card A/B", TKM_ERR_INPUT, 2},
    {2, "card 123456789012345678901234567890123", TKM_ERR_INPUT, 2},
    {2, "cards X", TKM_ERR_INPUT, 2},
    {2, "issuer X", TKM_ERR_INPUT, 2},
    {2, "card 12345678901234567890123456789012", TKM_OK, 0},
    {2, "card a.b_c-D", TKM_OK, 0},
    /* line 3: issuer */
    {3, "issuer", TKM_ERR_INPUT, 3},
    {3, "issuer ", TKM_ERR_INPUT, 3},
    {3, "issuer  x", TKM_ERR_INPUT, 3},
    {3, "issuer x ", TKM_ERR_INPUT, 3},
    {3, "issuer " X65, TKM_ERR_INPUT, 3},
    {3, "issuer a\tb", TKM_ERR_INPUT, 3},
    {3, "issuer \xE4\xBA\xA4\xE9\x80\x9A", TKM_ERR_INPUT, 3},
    {3, "issuer x\r", TKM_ERR_INPUT, 3},
    {3, "card X", TKM_ERR_INPUT, 3},
    /* line 4: a key line, field by field */
    {4, KEYL("AES", "K200", "109", CT32, KCV16, "l"), TKM_ERR_INPUT, 4},
    {4, KEYL("des", "K200", "109", CT32, KCV16, "l"), TKM_ERR_INPUT, 4},
    {4, KEYL("DES3", "K200", "109", CT32, KCV16, "l"), TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "200", "109", CT32, KCV16, "l"), TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "K20", "109", CT32, KCV16, "l"), TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "K2000", "109", CT32, KCV16, "l"), TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "KG00", "109", CT32, KCV16, "l"), TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "k200", "109", CT32, KCV16, "l"), TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "K200", "10", CT32, KCV16, "l"), TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "K200", "1090", CT32, KCV16, "l"), TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "K200", "999", CT32, KCV16, "l"), TKM_ERR_KEY_TYPE, 4},
    {4, KEYL("DES", "K200", "00a", CT32, KCV16, "l"), TKM_ERR_KEY_TYPE, 4},
    {4,
	KEYL(
	    "DES", "K200", "109", "00112233445566778899AABBCCDDEE", KCV16, "l"),
	TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "K200", "109", CT32 "00", KCV16, "l"), TKM_ERR_INPUT, 4},
    {4,
	KEYL("DES", "K200", "109", "G0112233445566778899AABBCCDDEEFF", KCV16,
	    "l"),
	TKM_ERR_HEX, 4},
    {4, KEYL("DES", "K200", "109", CT32, "001122334455667", "l"), TKM_ERR_INPUT,
	4},
    {4, KEYL("DES", "K200", "109", CT32, "001122334455667Z", "l"), TKM_ERR_HEX,
	4},
    {4, KEYL("DES", "K200", "109", CT32, KCV16, ""), TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "K200", "109", CT32, KCV16, " l"), TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "K200", "109", CT32, KCV16, "l "), TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "K200", "109", CT32, KCV16, X65), TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "K200", "109", CT32, KCV16, "l\x7F"), TKM_ERR_INPUT, 4},
    {4, "key DES K200 109 " CT32 " " KCV16, TKM_ERR_INPUT, 4},
    {4, "key DES K200 109 " CT32, TKM_ERR_INPUT, 4},
    {4, "key DES K200 109", TKM_ERR_INPUT, 4},
    {4, "key DES K200", TKM_ERR_INPUT, 4},
    {4, "key DES", TKM_ERR_INPUT, 4},
    {4, "key", TKM_ERR_INPUT, 4},
    {4, "key ", TKM_ERR_INPUT, 4},
    {4, "", TKM_ERR_INPUT, 4},
    {4, "kex DES K200 109 " CT32 " " KCV16 " l", TKM_ERR_INPUT, 4},
    {4, "key  DES K200 109 " CT32 " " KCV16 " l", TKM_ERR_INPUT, 4},
    {4, "key DES  K200 109 " CT32 " " KCV16 " l", TKM_ERR_INPUT, 4},
    {4, "key DES K200 109 " CT32 "  " KCV16 " l", TKM_ERR_INPUT, 4},
    {4, "sm3 " CT32 CT32, TKM_ERR_INPUT, 4},
    {4, KEYL("DES", "K200", "109", CT32, KCV16, "a label, with: spaces"),
	TKM_OK, 0},
    {4, KEYL("DES", "Kfff", "00A", CT32, KCV16, "l"), TKM_OK, 0},
    /* a second key for (alg, index); the other library is fine */
    {5, KEYL("DES", "K200", "109", CT32, KCV16, "l"), TKM_ERR_INPUT, 5},
    {5, KEYL("SM4", "K200", "109", CT32, KCV16, "l"), TKM_OK, 0},
    {6, KEYL("SM4", "K201", "000", CT32, KCV16, "l"), TKM_ERR_INPUT, 6},
    /* a line beyond the cap */
    {4, "key DES K200 109 " CT32 " " KCV16 " " X65 X65 X65 X65,
	TKM_ERR_DATA_LEN, 4},
};

/* The known body with line f->line replaced (or added), resealed. */
static size_t
mutate(const struct field_case *f)
{
	static const char *const lines[] = {L1, L2, L3, L4, L5};
	char body[2048];
	size_t i, n = 0;

	for (i = 0; i < NELEM(lines) + 1; i++) {
		const char *s = i + 1 == f->line   ? f->with
				: i < NELEM(lines) ? lines[i]
						   : NULL;
		if (s == NULL)
			continue;
		assert_true(n + strlen(s) + 1 < sizeof(body));
		memcpy(body + n, s, strlen(s));
		n += strlen(s);
		body[n++] = '\n';
	}
	return seal(body, n);
}

static void
test_fields(void **state)
{
	struct tkm_motcard_err err;
	size_t i, len;
	int rc;

	(void)state;
	for (i = 0; i < NELEM(fields); i++) {
		len = mutate(&fields[i]);
		rc = parse(text, len, &err);
		if (rc != fields[i].rc || err.line != fields[i].errline)
			fail_msg("case %zu (line %u: \"%s\"): rc %d line %zu "
				 "(%s), want %d line %zu",
			    i, fields[i].line, fields[i].with, rc, err.line,
			    err.why != NULL ? err.why : "-", fields[i].rc,
			    fields[i].errline);
		if (rc != TKM_OK)
			assert_non_null(err.why);
	}
}

/* Header lines only, or a header line missing. */
static void
test_structure(void **state)
{
	struct tkm_motcard_err err;
	size_t len;

	(void)state;
	len = seal(L1 "\n" L2 "\n" L3 "\n", strlen(L1 L2 L3) + 3);
	assert_int_equal(parse(text, len, &err), TKM_ERR_INPUT);
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.why, "no key"));
	len = seal(L1 "\n" L3 "\n" L4 "\n", strlen(L1 L3 L4) + 3);
	assert_int_equal(parse(text, len, &err), TKM_ERR_INPUT);
	assert_int_equal(err.line, 2);
	len = seal(L1 "\n" L2 "\n" L4 "\n", strlen(L1 L2 L4) + 3);
	assert_int_equal(parse(text, len, &err), TKM_ERR_INPUT);
	assert_int_equal(err.line, 3);
	/* a second sm3 line is not a key */
	len = seal(BODY L6 "\n", strlen(BODY L6) + 1);
	assert_int_equal(parse(text, len, &err), TKM_ERR_INPUT);
	assert_int_equal(err.line, 6);
	assert_int_equal(
	    tkm_motcard_parse(KNOWN, 4, NULL, &err), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_motcard_parse(NULL, 4, &card, &err), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_motcard_parse(NULL, 0, &card, NULL), TKM_ERR_TRUNC);
}

/* --- cut short, damaged ------------------------------------------------- */

static void
test_truncated(void **state)
{
	const size_t total = strlen(KNOWN), mlen = strlen("TKMS-MOTCARD");
	struct tkm_motcard_err err;
	size_t n;
	int rc;

	(void)state;
	for (n = 0; n < total; n++) {
		rc = parse(KNOWN, n, &err);
		if (n == 0)
			assert_int_equal(rc, TKM_ERR_TRUNC);
		else if (n <= mlen)
			assert_int_equal(rc, TKM_ERR_INPUT); /* not a card */
		else
			assert_int_equal(rc, TKM_ERR_TRUNC);
		assert_non_null(err.why);
	}
	assert_int_equal(parse(KNOWN, total, &err), TKM_OK);
}

static void
test_integrity(void **state)
{
	const size_t total = strlen(KNOWN), body = strlen(BODY);
	const size_t mlen = strlen("TKMS-MOTCARD");
	struct tkm_motcard_err err;
	size_t i;
	int rc;

	(void)state;
	/* every byte of the body, one bit changed */
	for (i = 0; i < body; i++) {
		memcpy(text, KNOWN, total);
		text[i] ^= 0x01;
		rc = parse(text, total, &err);
		if (i <= mlen)
			assert_int_equal(rc, TKM_ERR_INPUT);
		else if (i == body - 1) /* the LF before the sm3 line */
			assert_int_equal(rc, TKM_ERR_TRUNC);
		else if (rc != TKM_ERR_VERIFY)
			fail_msg("byte %zu: rc %d", i, rc);
	}
	/* the digest: another hex digit, a non-hex one */
	memcpy(text, KNOWN, total);
	text[body + 4] = text[body + 4] == '1' ? '2' : '1';
	assert_int_equal(parse(text, total, &err), TKM_ERR_VERIFY);
	assert_int_equal(err.line, 6);
	assert_non_null(strstr(err.why, "damaged"));
	text[body + 4] = 'G';
	assert_int_equal(parse(text, total, &err), TKM_ERR_HEX);
	/* sm3 line too short, too long, misspelt, missing */
	memcpy(text, KNOWN, total);
	memmove(text + body + 5, text + body + 6, total - body - 6);
	assert_int_equal(parse(text, total - 1, &err), TKM_ERR_TRUNC);
	memcpy(text, BODY L6 "0\n", total + 1);
	assert_int_equal(parse(text, total + 1, &err), TKM_ERR_TRUNC);
	memcpy(text, KNOWN, total);
	text[body] = 'S';
	assert_int_equal(parse(text, total, &err), TKM_ERR_TRUNC);
	assert_int_equal(parse(BODY, body, &err), TKM_ERR_TRUNC);
	/* anything after the sm3 line */
	memcpy(text, KNOWN "\n", total + 1);
	assert_int_equal(parse(text, total + 1, &err), TKM_ERR_TRUNC);
	memcpy(text, KNOWN "x", total + 1);
	assert_int_equal(parse(text, total + 1, &err), TKM_ERR_TRUNC);
	memcpy(text, KNOWN L4 "\n", total + strlen(L4) + 1);
	assert_int_equal(
	    parse(text, total + strlen(L4) + 1, &err), TKM_ERR_TRUNC);
	/* CR LF line ends (a file edited on Windows) */
	memcpy(text, KNOWN, total);
	text[total - 1] = '\r';
	text[total] = '\n';
	assert_int_equal(parse(text, total + 1, &err), TKM_ERR_TRUNC);
}

/* --- limits -------------------------------------------------------------- */

static void
test_limits(void **state)
{
	struct tkm_motcard_err err;
	char body[16384];
	size_t i, n, len;

	(void)state;
	/* 64 keys parse, 65 do not */
	n = (size_t)snprintf(body, sizeof(body), "%s\n%s\n%s\n", L1, L2, L3);
	for (i = 0; i <= TKM_MOTCARD_MAX_KEYS; i++) {
		len = seal(body, n);
		assert_int_equal(
		    parse(text, len, &err), i == 0 ? TKM_ERR_INPUT : TKM_OK);
		if (i > 0)
			assert_int_equal(card.nkeys, i);
		n += (size_t)snprintf(body + n, sizeof(body) - n,
		    "key DES K%03zX 109 " CT32 " " KCV16 " key %zu\n", i, i);
	}
	len = seal(body, n);
	assert_int_equal(parse(text, len, &err), TKM_ERR_DATA_LEN);
	assert_int_equal(err.line, 3 + TKM_MOTCARD_MAX_KEYS + 1);
	/* the file cap comes first, whatever the file holds */
	memset(text, '\n', TKM_MOTCARD_MAX_FILE + 1);
	memcpy(text, KNOWN, strlen(KNOWN));
	assert_int_equal(
	    parse(text, TKM_MOTCARD_MAX_FILE + 1, &err), TKM_ERR_DATA_LEN);
	assert_int_equal(err.line, 0);
	/* at the cap, it is read (and refused for what it holds) */
	assert_int_equal(
	    parse(text, TKM_MOTCARD_MAX_FILE, &err), TKM_ERR_TRUNC);
	/* a line of exactly the cap is read; one byte more is not */
	n = (size_t)snprintf(body, sizeof(body), "%s\n%s\nissuer ", L1, L2);
	memset(body + n, 'x', TKM_MOTCARD_MAX_LINE - 7);
	n += TKM_MOTCARD_MAX_LINE - 7;
	body[n++] = '\n';
	len = seal(body, n);
	assert_int_equal(parse(text, len, &err), TKM_ERR_INPUT); /* > 64 */
	assert_int_equal(err.line, 3);
	body[n - 1] = 'x';
	body[n++] = '\n';
	len = seal(body, n);
	assert_int_equal(parse(text, len, &err), TKM_ERR_DATA_LEN);
	assert_int_equal(err.line, 3);
}

/* --- writer -------------------------------------------------------------- */

static void
test_writer_refuses(void **state)
{
	size_t len, want;

	(void)state;
	known_card(&other);
	assert_int_equal(
	    tkm_motcard_write(&other, text, sizeof(text), &want), TKM_OK);
	/* output cap: exact fits, one less does not */
	assert_int_equal(tkm_motcard_write(&other, text, want, &len), TKM_OK);
	assert_int_equal(len, want);
	assert_int_equal(
	    tkm_motcard_write(&other, text, want - 1, &len), TKM_ERR_SPACE);
	assert_int_equal(len, 0);
	assert_int_equal(
	    tkm_motcard_write(&other, text, 10, &len), TKM_ERR_SPACE);
	assert_int_equal(
	    tkm_motcard_write(NULL, text, sizeof(text), &len), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_motcard_write(&other, NULL, sizeof(text), &len), TKM_ERR_INPUT);
	/* each field as the parser would refuse it */
#define REFUSED(change, code)                                                  \
	do {                                                                   \
		known_card(&other);                                            \
		change;                                                        \
		assert_int_equal(                                              \
		    tkm_motcard_write(&other, text, sizeof(text), &len),       \
		    code);                                                     \
	} while (0)
	REFUSED(other.id[0] = '\0', TKM_ERR_INPUT);
	REFUSED(other.id[2] = ' ', TKM_ERR_INPUT);
	REFUSED(memset(other.id, 'a', sizeof(other.id)), TKM_ERR_INPUT);
	REFUSED(other.issuer[0] = '\0', TKM_ERR_INPUT);
	REFUSED(other.issuer[0] = ' ', TKM_ERR_INPUT);
	REFUSED(other.issuer[1] = '\n', TKM_ERR_INPUT);
	REFUSED(memset(other.issuer, 'a', sizeof(other.issuer)), TKM_ERR_INPUT);
	REFUSED(other.nkeys = 0, TKM_ERR_INPUT);
	REFUSED(other.nkeys = TKM_MOTCARD_MAX_KEYS + 1, TKM_ERR_DATA_LEN);
	REFUSED(other.keys[1].alg = 0, TKM_ERR_INPUT);
	REFUSED(other.keys[1].alg = 3, TKM_ERR_INPUT);
	REFUSED(other.keys[1].index = 0x1000, TKM_ERR_INPUT);
	REFUSED(memcpy(other.keys[1].type, "10", 3), TKM_ERR_INPUT);
	REFUSED(memcpy(other.keys[1].type, "99Z", 4), TKM_ERR_KEY_TYPE);
	REFUSED(other.keys[1].label[0] = '\0', TKM_ERR_INPUT);
	REFUSED(other.keys[1].label[0] = ' ', TKM_ERR_INPUT);
	REFUSED(other.keys[1].label[2] = '\r', TKM_ERR_INPUT);
	REFUSED(memset(other.keys[1].label, 'a', sizeof(other.keys[1].label)),
	    TKM_ERR_INPUT);
	REFUSED((other.keys[1].alg = TKM_DES, other.keys[1].index = 0x200),
	    TKM_ERR_INPUT);
#undef REFUSED
	/* key wrap: only DES and SM4 */
	known_card(&other);
	other.keys[0].alg = 0;
	assert_int_equal(tkm_motcard_key_wrap(&other.keys[0],
			     (const uint8_t *)CT32, (const uint8_t *)CT32),
	    TKM_ERR_INPUT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_file),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_structure),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_integrity),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_writer_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
