/*
 * test_card.c - admin card files (card.c, docs/cards.md): create, open,
 * sign; a wrong PIN, every altered byte, truncated and overlong files,
 * files that are not cards, an existing path.
 *
 * The suite runs with TKMS_ARGON2_FAST=1 (64 KiB per Argon2id) so that
 * opening a card a few hundred times stays quick; one test makes a card
 * at the real cost and checks the parameters it records.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tkm/card.h"
#include "tkm/err.h"
#include "tkm/sm2.h"

#define PIN      "123456"
#define CARD_LEN 192
#define OFF_M    24
#define OFF_PUB  48

struct fx {
	char dir[64];
	char path[128]; /* a card made by setup */
	char tmp[128];  /* for altered copies */
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cardtest.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/a1.card", f->dir);
	snprintf(f->tmp, sizeof(f->tmp), "%s/tmp.card", f->dir);
	assert_int_equal(tkm_card_create(f->path, "A1", PIN), TKM_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->path);
	unlink(f->tmp);
	rmdir(f->dir);
	free(f);
	return 0;
}

static size_t
slurp(const char *path, uint8_t *buf, size_t cap)
{
	FILE *fp = fopen(path, "rb");
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, cap, fp);
	fclose(fp);
	return n;
}

static void
spill(const char *path, const uint8_t *buf, size_t n)
{
	FILE *fp;

	unlink(path);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

static void
open_sign_verify(void **state)
{
	struct fx *f = *state;
	struct tkm_card *card = NULL;
	struct tkm_sm2 *pub = NULL;
	uint8_t xy[TKM_SM2_PUB_LEN], file[CARD_LEN + 1], sig[TKM_SM2_SIG_LEN];
	static const char msg[] = "challenge";
	struct stat sb;

	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(slurp(f->path, file, sizeof(file)), CARD_LEN);
	assert_memory_equal(file, "TKMSCARD", 8);

	assert_int_equal(tkm_card_open(f->path, PIN, &card), TKM_OK);
	assert_string_equal(tkm_card_role(card), "A1");
	assert_int_equal(tkm_card_pub(card, xy), TKM_OK);
	assert_memory_equal(xy, file + OFF_PUB, sizeof(xy));
	assert_int_equal(tkm_card_sign(card, msg, strlen(msg), sig), TKM_OK);

	/* Anyone with the public key checks it with the default ID. */
	assert_int_equal(tkm_sm2_from_pub(xy, &pub), TKM_OK);
	assert_int_equal(
	    tkm_sm2_verify(pub, NULL, 0, msg, strlen(msg), sig), TKM_OK);
	assert_int_equal(
	    tkm_sm2_verify(pub, NULL, 0, "challengE", strlen(msg), sig),
	    TKM_ERR_VERIFY);
	tkm_sm2_free(pub);
	tkm_card_free(card);
	tkm_card_free(NULL);
}

static void
two_cards_differ(void **state)
{
	struct fx *f = *state;
	uint8_t a[CARD_LEN], b[CARD_LEN];
	struct tkm_card *card = NULL;

	assert_int_equal(tkm_card_create(f->tmp, "C", "another pin"), TKM_OK);
	assert_int_equal(slurp(f->path, a, sizeof(a)), CARD_LEN);
	assert_int_equal(slurp(f->tmp, b, sizeof(b)), CARD_LEN);
	assert_memory_not_equal(a + OFF_PUB, b + OFF_PUB, TKM_SM2_PUB_LEN);
	assert_int_equal(tkm_card_open(f->tmp, "another pin", &card), TKM_OK);
	assert_string_equal(tkm_card_role(card), "C");
	tkm_card_free(card);
}

static void
wrong_pin(void **state)
{
	struct fx *f = *state;
	struct tkm_card *card = (struct tkm_card *)f; /* cleared on entry */

	assert_int_equal(
	    tkm_card_open(f->path, "123457", &card), TKM_ERR_VERIFY);
	assert_null(card);
	assert_int_equal(
	    tkm_card_open(f->path, "1234567", &card), TKM_ERR_VERIFY);
	assert_int_equal(tkm_card_open(f->path, "12345", &card),
	    TKM_ERR_VERIFY); /* too short to be any card's PIN */
	assert_int_equal(tkm_card_open(f->path, "", &card), TKM_ERR_VERIFY);
	assert_null(card);
}

/* Each byte, each of two bit masks: magic and version make it no card,
 * anything else is tampering. */
static void
every_flipped_byte(void **state)
{
	static const uint8_t masks[] = {0x01, 0x80};
	struct fx *f = *state;
	struct tkm_card *card = NULL;
	uint8_t orig[CARD_LEN], mod[CARD_LEN];
	size_t i, k;
	int want;

	assert_int_equal(slurp(f->path, orig, sizeof(orig)), CARD_LEN);
	for (i = 0; i < CARD_LEN; i++)
		for (k = 0; k < sizeof(masks); k++) {
			memcpy(mod, orig, sizeof(mod));
			mod[i] ^= masks[k];
			spill(f->tmp, mod, sizeof(mod));
			want = i < 12 ? TKM_ERR_INPUT : TKM_ERR_VERIFY;
			if (tkm_card_open(f->tmp, PIN, &card) != want)
				fail_msg("byte %zu mask %02x", i, masks[k]);
			assert_null(card);
		}
}

static void
huge_parameters_refused(void **state)
{
	struct fx *f = *state;
	struct tkm_card *card = NULL;
	uint8_t mod[CARD_LEN];

	/* m = 4 GiB: refused before Argon2id would try to allocate it. */
	assert_int_equal(slurp(f->path, mod, sizeof(mod)), CARD_LEN);
	memset(mod + OFF_M, 0xFF, 4);
	spill(f->tmp, mod, sizeof(mod));
	assert_int_equal(tkm_card_open(f->tmp, PIN, &card), TKM_ERR_VERIFY);
}

static void
truncated_and_overlong(void **state)
{
	struct fx *f = *state;
	struct tkm_card *card = NULL;
	uint8_t buf[CARD_LEN + 1];
	size_t n;

	assert_int_equal(slurp(f->path, buf, CARD_LEN), CARD_LEN);
	for (n = 0; n < CARD_LEN; n++) {
		spill(f->tmp, buf, n);
		if (tkm_card_open(f->tmp, PIN, &card) != TKM_ERR_INPUT)
			fail_msg("length %zu", n);
	}
	buf[CARD_LEN] = '\n';
	spill(f->tmp, buf, CARD_LEN + 1);
	assert_int_equal(tkm_card_open(f->tmp, PIN, &card), TKM_ERR_INPUT);
	assert_null(card);
}

static void
not_a_card(void **state)
{
	struct fx *f = *state;
	struct tkm_card *card = NULL;
	uint8_t junk[CARD_LEN];

	memset(junk, 'x', sizeof(junk));
	spill(f->tmp, junk, sizeof(junk));
	assert_int_equal(tkm_card_open(f->tmp, PIN, &card), TKM_ERR_INPUT);
	assert_int_equal(tkm_card_open(f->dir, PIN, &card), TKM_ERR_INPUT);
	unlink(f->tmp);
	assert_int_equal(tkm_card_open(f->tmp, PIN, &card), TKM_ERR_IO);
	assert_int_equal(tkm_card_open(NULL, PIN, &card), TKM_ERR_INPUT);
	assert_int_equal(tkm_card_open(f->path, NULL, &card), TKM_ERR_INPUT);
	assert_int_equal(tkm_card_open(f->path, PIN, NULL), TKM_ERR_INPUT);
	assert_null(card);
}

static void
existing_path_refused(void **state)
{
	struct fx *f = *state;
	uint8_t before[CARD_LEN], after[CARD_LEN];
	struct tkm_card *card = NULL;

	assert_int_equal(slurp(f->path, before, sizeof(before)), CARD_LEN);
	assert_int_equal(tkm_card_create(f->path, "A2", PIN), TKM_ERR_IO);
	assert_int_equal(slurp(f->path, after, sizeof(after)), CARD_LEN);
	assert_memory_equal(before, after, CARD_LEN);
	assert_int_equal(tkm_card_open(f->path, PIN, &card), TKM_OK);
	assert_string_equal(tkm_card_role(card), "A1");
	tkm_card_free(card);
	/* A symbolic link is not followed either. */
	assert_int_equal(symlink("nowhere", f->tmp), 0);
	assert_int_equal(tkm_card_create(f->tmp, "A2", PIN), TKM_ERR_IO);
	unlink(f->tmp);
	assert_int_equal(
	    tkm_card_create("/nonexistent/dir/x.card", "A2", PIN), TKM_ERR_IO);
}

static void
bad_create_arguments(void **state)
{
	static const char *const bad_roles[] = {
	    "", "ABCDEFGHI", "A 1", "A/1", "A1\n", "../x"};
	struct fx *f = *state;
	size_t i;

	assert_int_equal(tkm_card_create(f->tmp, "A1", "12345"), TKM_ERR_INPUT);
	assert_int_equal(tkm_card_create(f->tmp, "A1", ""), TKM_ERR_INPUT);
	for (i = 0; i < sizeof(bad_roles) / sizeof(bad_roles[0]); i++)
		assert_int_equal(
		    tkm_card_create(f->tmp, bad_roles[i], PIN), TKM_ERR_INPUT);
	assert_int_equal(tkm_card_create(NULL, "A1", PIN), TKM_ERR_INPUT);
	assert_int_equal(tkm_card_create(f->tmp, NULL, PIN), TKM_ERR_INPUT);
	assert_int_equal(tkm_card_create(f->tmp, "A1", NULL), TKM_ERR_INPUT);
	assert_int_equal(access(f->tmp, F_OK), -1); /* nothing left behind */
	/* The longest role fits. */
	assert_int_equal(tkm_card_create(f->tmp, "ABCDEFGH", PIN), TKM_OK);
}

static void
real_cost(void **state)
{
	struct fx *f = *state;
	struct tkm_card *card = NULL;
	uint8_t buf[CARD_LEN];

	unsetenv("TKMS_ARGON2_FAST");
	assert_int_equal(tkm_card_create(f->tmp, "D", PIN), TKM_OK);
	setenv("TKMS_ARGON2_FAST", "1", 1);
	assert_int_equal(slurp(f->tmp, buf, sizeof(buf)), CARD_LEN);
	/* t = 3, m = 65536 KiB, p = 1 */
	assert_memory_equal(
	    buf + 20, "\x00\x00\x00\x03\x00\x01\x00\x00\x00\x00\x00\x01", 12);
	assert_int_equal(tkm_card_open(f->tmp, PIN, &card), TKM_OK);
	tkm_card_free(card);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(open_sign_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(two_cards_differ, setup, teardown),
	    cmocka_unit_test_setup_teardown(wrong_pin, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		every_flipped_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		huge_parameters_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		truncated_and_overlong, setup, teardown),
	    cmocka_unit_test_setup_teardown(not_a_card, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		existing_path_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		bad_create_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(real_cost, setup, teardown),
	};

	setenv("TKMS_ARGON2_FAST", "1", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
