/*
 * test_seal.c - the device key at rest (seal.c, docs/seal.md): dk.backup
 * under three component passwords, the local seal under machine.key, the
 * start-up per seal mode, and the `seal` config keyword. Argon2id runs
 * with TKMS_ARGON2_FAST=1 except in the one test of the real cost.
 */
#include "hsmtest.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "seal.h"
#include "tkm/crypto.h"

#define DK_KCV "C8FABC567BA0A5C6" /* of HSMTEST_DK_C1..C3 */

static const char *const pws[HSM_DK_PARTS] = {
    "password one", "password two", "password three"};

struct fx {
	char dir[64];
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN];
	uint8_t dk[HSM_DK_LEN];
};

static void
unhex(const char *s, uint8_t *out, size_t n)
{
	size_t got;

	assert_int_equal(tkm_hex_decode(s, strlen(s), out, n, &got), TKM_OK);
	assert_int_equal(got, n);
}

static int
setup(void **state)
{
	static const char *const hex[HSM_DK_PARTS] = {
	    HSMTEST_DK_C1, HSMTEST_DK_C2, HSMTEST_DK_C3};
	struct fx *f = calloc(1, sizeof(*f));
	size_t i, j;

	assert_non_null(f);
	hsmtest_mkdtemp(f->dir);
	hsmtest_remember(f->dir, 1);
	for (i = 0; i < HSM_DK_PARTS; i++) {
		unhex(hex[i], f->c[i], HSM_DK_LEN);
		for (j = 0; j < HSM_DK_LEN; j++)
			f->dk[j] ^= f->c[i][j];
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	hsmtest_rmdir(f->dir);
	hsmtest_remember(f->dir, 0);
	free(f);
	return 0;
}

static void
kcv_hex(const uint8_t *dk, char out[17])
{
	uint8_t kcv[8];

	assert_int_equal(tkm_kcv(TKM_SM4, dk, HSM_DK_LEN, kcv), TKM_OK);
	tkm_hex_encode(kcv, sizeof(kcv), out);
}

static void
write_backup(struct fx *f)
{
	struct hsm_backup_rec rec[HSM_DK_PARTS];
	uint8_t kcv[8];
	unsigned i;

	for (i = 0; i < HSM_DK_PARTS; i++)
		assert_int_equal(
		    hsm_backup_seal(i + 1, f->c[i], pws[i], &rec[i]), TKM_OK);
	assert_int_equal(tkm_kcv(TKM_SM4, f->dk, HSM_DK_LEN, kcv), TKM_OK);
	assert_int_equal(hsm_backup_write(f->dir, kcv, rec), TKM_OK);
}

static void
file_path(struct fx *f, const char *name, char *out)
{
	snprintf(out, 128, "%s/%s", f->dir, name);
}

static size_t
file_read(struct fx *f, const char *name, uint8_t *buf, size_t cap)
{
	char path[128];
	FILE *fp;
	size_t n;

	file_path(f, name, path);
	assert_non_null(fp = fopen(path, "rb"));
	n = fread(buf, 1, cap, fp);
	fclose(fp);
	return n;
}

static void
file_write(struct fx *f, const char *name, const uint8_t *buf, size_t n)
{
	char path[128];
	FILE *fp;

	file_path(f, name, path);
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(buf, 1, n, fp), n);
	fclose(fp);
}

static int
file_mode(struct fx *f, const char *name)
{
	char path[128];
	struct stat sb;

	file_path(f, name, path);
	assert_int_equal(stat(path, &sb), 0);
	return (int)(sb.st_mode & 0777);
}

/* --- dk.backup ---------------------------------------------------------- */

static void
test_backup_round_trip(void **state)
{
	struct fx *f = *state;
	uint8_t dk[HSM_DK_LEN];
	unsigned bad = 9;
	char hex[17];

	assert_false(hsm_seal_exists(f->dir));
	write_backup(f);
	assert_true(hsm_seal_exists(f->dir));
	assert_int_equal(file_mode(f, HSM_SEAL_BACKUP), 0600);
	assert_int_equal(hsm_backup_open(f->dir, pws, dk, &bad), TKM_OK);
	assert_int_equal(bad, 0);
	assert_memory_equal(dk, f->dk, HSM_DK_LEN);
	kcv_hex(dk, hex);
	assert_string_equal(hex, DK_KCV);
}

static void
test_backup_wrong_password(void **state)
{
	struct fx *f = *state;
	const char *wrong[HSM_DK_PARTS];
	uint8_t dk[HSM_DK_LEN], zero[HSM_DK_LEN] = {0};
	unsigned i, bad;

	write_backup(f);
	for (i = 0; i < HSM_DK_PARTS; i++) {
		memcpy(wrong, pws, sizeof(wrong));
		wrong[i] = "not the password";
		assert_int_equal(
		    hsm_backup_open(f->dir, wrong, dk, &bad), TKM_ERR_VERIFY);
		assert_int_equal(bad, i + 1);
		assert_memory_equal(dk, zero, HSM_DK_LEN);
		/* too short to be one: refused before Argon2id */
		wrong[i] = "short";
		assert_int_equal(
		    hsm_backup_open(f->dir, wrong, dk, &bad), TKM_ERR_VERIFY);
		assert_int_equal(bad, i + 1);
	}
	/* passwords in the wrong order */
	wrong[0] = pws[1], wrong[1] = pws[0], wrong[2] = pws[2];
	assert_int_equal(
	    hsm_backup_open(f->dir, wrong, dk, &bad), TKM_ERR_VERIFY);
}

/* Every byte of the file matters: flipping any one is refused. */
static void
test_backup_tamper(void **state)
{
	struct fx *f = *state;
	uint8_t orig[512], buf[512], dk[HSM_DK_LEN];
	size_t n, i;
	unsigned bad;

	write_backup(f);
	n = file_read(f, HSM_SEAL_BACKUP, orig, sizeof(orig));
	assert_int_equal(n, 8 + 8 + 3 * HSM_BACKUP_REC_LEN);
	for (i = 0; i < n; i++) {
		memcpy(buf, orig, n);
		buf[i] ^= 0x01;
		file_write(f, HSM_SEAL_BACKUP, buf, n);
		if (hsm_backup_open(f->dir, pws, dk, &bad) != TKM_ERR_VERIFY)
			fail_msg("byte %zu altered and not refused", i);
	}
	/* cut short, one byte more, records swapped */
	file_write(f, HSM_SEAL_BACKUP, orig, n - 1);
	assert_int_equal(
	    hsm_backup_open(f->dir, pws, dk, &bad), TKM_ERR_VERIFY);
	memcpy(buf, orig, n);
	buf[n] = 0;
	file_write(f, HSM_SEAL_BACKUP, buf, n + 1);
	assert_int_equal(
	    hsm_backup_open(f->dir, pws, dk, &bad), TKM_ERR_VERIFY);
	memcpy(buf, orig, n);
	memcpy(buf + 16, orig + 16 + HSM_BACKUP_REC_LEN, HSM_BACKUP_REC_LEN);
	memcpy(buf + 16 + HSM_BACKUP_REC_LEN, orig + 16, HSM_BACKUP_REC_LEN);
	file_write(f, HSM_SEAL_BACKUP, buf, n);
	assert_int_equal(
	    hsm_backup_open(f->dir, pws, dk, &bad), TKM_ERR_VERIFY);
	/* and the original still opens */
	file_write(f, HSM_SEAL_BACKUP, orig, n);
	assert_int_equal(hsm_backup_open(f->dir, pws, dk, &bad), TKM_OK);
}

static void
test_backup_bad_input(void **state)
{
	struct fx *f = *state;
	struct hsm_backup_rec rec[HSM_DK_PARTS];
	uint8_t dk[HSM_DK_LEN], kcv[8] = {0};
	unsigned bad;

	assert_int_equal(
	    hsm_backup_open(f->dir, pws, dk, &bad), TKM_ERR_NO_KEY);
	assert_int_equal(
	    hsm_backup_seal(0, f->c[0], pws[0], &rec[0]), TKM_ERR_INPUT);
	assert_int_equal(
	    hsm_backup_seal(4, f->c[0], pws[0], &rec[0]), TKM_ERR_INPUT);
	assert_int_equal(
	    hsm_backup_seal(1, f->c[0], "1234567", &rec[0]), TKM_ERR_INPUT);
	assert_int_equal(
	    hsm_backup_seal(1, f->c[0], NULL, &rec[0]), TKM_ERR_INPUT);
	assert_int_equal(
	    hsm_backup_seal(1, f->c[0], "12345678", &rec[0]), TKM_OK);
	/* records out of order are refused */
	assert_int_equal(hsm_backup_seal(1, f->c[0], pws[0], &rec[1]), TKM_OK);
	assert_int_equal(hsm_backup_seal(3, f->c[2], pws[2], &rec[2]), TKM_OK);
	assert_int_equal(hsm_backup_write(f->dir, kcv, rec), TKM_ERR_INPUT);
	assert_false(hsm_seal_exists(f->dir));
}

/* The cost is in the record: production 64 MiB, 3 passes. */
static void
test_backup_cost(void **state)
{
	struct fx *f = *state;
	struct hsm_backup_rec rec;

	assert_int_equal(hsm_backup_seal(2, f->c[1], pws[1], &rec), TKM_OK);
	assert_int_equal(rec.b[0], 2);
	assert_int_equal(rec.b[11], 64); /* TKMS_ARGON2_FAST: 64 KiB */
	unsetenv("TKMS_ARGON2_FAST");
	assert_int_equal(hsm_backup_seal(2, f->c[1], pws[1], &rec), TKM_OK);
	setenv("TKMS_ARGON2_FAST", "1", 1);
	assert_int_equal(rec.b[7], 3); /* t */
	assert_int_equal(rec.b[9], 1); /* m = 0x00010000: 65536 KiB */
	assert_int_equal(rec.b[11], 0);
	assert_int_equal(rec.b[15], 1); /* p */
}

/* --- local seal --------------------------------------------------------- */

static void
test_local_round_trip(void **state)
{
	struct fx *f = *state;
	uint8_t dk[HSM_DK_LEN];

	assert_int_equal(hsm_seal_local_read(f->dir, dk), TKM_ERR_NO_KEY);
	assert_int_equal(hsm_seal_local_write(f->dir, f->dk), TKM_OK);
	assert_true(hsm_seal_exists(f->dir));
	assert_int_equal(file_mode(f, HSM_SEAL_SEALED), 0600);
	assert_int_equal(file_mode(f, HSM_SEAL_MACHINE), 0600);
	assert_int_equal(hsm_seal_local_read(f->dir, dk), TKM_OK);
	assert_memory_equal(dk, f->dk, HSM_DK_LEN);
}

static void
test_local_wrong_machine_key(void **state)
{
	struct fx *f = *state;
	uint8_t key[64], sealed[128], buf[128], dk[HSM_DK_LEN];
	uint8_t zero[HSM_DK_LEN] = {0};
	char path[128];
	size_t n, k, i;

	assert_int_equal(hsm_seal_local_write(f->dir, f->dk), TKM_OK);
	k = file_read(f, HSM_SEAL_MACHINE, key, sizeof(key));
	assert_int_equal(k, 32);
	n = file_read(f, HSM_SEAL_SEALED, sealed, sizeof(sealed));
	assert_int_equal(n, 80);
	/* another machine key */
	key[5] ^= 0x80;
	file_write(f, HSM_SEAL_MACHINE, key, k);
	assert_int_equal(hsm_seal_local_read(f->dir, dk), TKM_ERR_VERIFY);
	assert_memory_equal(dk, zero, HSM_DK_LEN);
	key[5] ^= 0x80;
	/* a short one, none */
	file_write(f, HSM_SEAL_MACHINE, key, k - 1);
	assert_int_equal(hsm_seal_local_read(f->dir, dk), TKM_ERR_VERIFY);
	file_path(f, HSM_SEAL_MACHINE, path);
	unlink(path);
	assert_int_equal(hsm_seal_local_read(f->dir, dk), TKM_ERR_VERIFY);
	file_write(f, HSM_SEAL_MACHINE, key, k);
	assert_int_equal(hsm_seal_local_read(f->dir, dk), TKM_OK);
	/* any byte of dk.sealed altered */
	for (i = 0; i < n; i++) {
		memcpy(buf, sealed, n);
		buf[i] ^= 0x01;
		file_write(f, HSM_SEAL_SEALED, buf, n);
		if (hsm_seal_local_read(f->dir, dk) != TKM_ERR_VERIFY)
			fail_msg("byte %zu altered and not refused", i);
	}
}

/* --- start-up and config ------------------------------------------------ */

static void
test_start(void **state)
{
	struct fx *f = *state;
	struct hsm_dk *dk = NULL;
	const char *msg = NULL;
	uint8_t kcv[8], key[32];
	char hex[17];

	/* nothing made yet: sealed, each mode */
	assert_int_equal(
	    hsm_seal_start(f->dir, HSM_SEAL_LOCAL, &dk, &msg), TKM_OK);
	assert_null(dk);
	assert_non_null(strstr(msg, "no device key yet"));
	assert_int_equal(
	    hsm_seal_start(f->dir, HSM_SEAL_QUORUM, &dk, &msg), TKM_OK);
	assert_null(dk);
	assert_int_equal(
	    hsm_seal_start(f->dir, HSM_SEAL_DEV, &dk, &msg), TKM_OK);
	assert_null(dk);
	assert_non_null(strstr(msg, "--dev-components"));
	assert_int_equal(hsm_seal_start(f->dir, 7, &dk, &msg), TKM_ERR_MODE);

	write_backup(f);
	assert_int_equal(
	    hsm_seal_start(f->dir, HSM_SEAL_QUORUM, &dk, &msg), TKM_OK);
	assert_null(dk);
	assert_string_equal(
	    msg, "sealed: A1, A2 and A3 must run `tkms hsm unseal`");
	assert_int_equal(
	    hsm_seal_start(f->dir, HSM_SEAL_LOCAL, &dk, &msg), TKM_OK);
	assert_null(dk);
	assert_non_null(strstr(msg, "unseal"));

	assert_int_equal(hsm_seal_local_write(f->dir, f->dk), TKM_OK);
	assert_int_equal(
	    hsm_seal_start(f->dir, HSM_SEAL_LOCAL, &dk, &msg), TKM_OK);
	assert_non_null(dk);
	hsm_dk_kcv(dk, kcv);
	tkm_hex_encode(kcv, sizeof(kcv), hex);
	assert_string_equal(hex, DK_KCV);
	hsm_dk_free(dk);
	/* quorum ignores dk.sealed */
	assert_int_equal(
	    hsm_seal_start(f->dir, HSM_SEAL_QUORUM, &dk, &msg), TKM_OK);
	assert_null(dk);

	/* machine key wrong: sealed, with an error */
	memset(key, 0x5A, sizeof(key));
	file_write(f, HSM_SEAL_MACHINE, key, sizeof(key));
	assert_int_equal(
	    hsm_seal_start(f->dir, HSM_SEAL_LOCAL, &dk, &msg), TKM_ERR_VERIFY);
	assert_null(dk);
	assert_non_null(strstr(msg, "does not open"));
}

static void
test_config_seal(void **state)
{
	static const struct {
		const char *text;
		int ok, mode;
	} cases[] = {
	    {"", 1, HSM_SEAL_LOCAL},
	    {"seal local\n", 1, HSM_SEAL_LOCAL},
	    {"seal quorum\n", 1, HSM_SEAL_QUORUM},
	    {"seal dev # only --dev-components\n", 1, HSM_SEAL_DEV},
	    {"seal\n", 0, 0},
	    {"seal Local\n", 0, 0},
	    {"seal quorum local\n", 0, 0},
	    {"seal none\n", 0, 0},
	};
	struct fx *f = *state;
	struct hsm_config cfg;
	const char *why;
	unsigned line;
	char path[128];
	size_t i;
	int rc;

	file_path(f, "hsmd.conf", path);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		file_write(f, "hsmd.conf", (const uint8_t *)cases[i].text,
		    strlen(cases[i].text));
		hsm_config_defaults(&cfg);
		rc = hsm_config_load(path, &cfg, &line, &why);
		if (!cases[i].ok) {
			assert_int_equal(rc, TKM_ERR_INPUT);
			assert_int_equal(line, 1);
			assert_string_equal(
			    why, "seal must be local, quorum or dev");
			continue;
		}
		assert_int_equal(rc, TKM_OK);
		assert_int_equal(cfg.seal, cases[i].mode);
	}
	assert_string_equal(hsm_seal_mode_name(HSM_SEAL_LOCAL), "local");
	assert_string_equal(hsm_seal_mode_name(HSM_SEAL_QUORUM), "quorum");
	assert_string_equal(hsm_seal_mode_name(HSM_SEAL_DEV), "dev");
	assert_string_equal(hsm_seal_mode_name(-1), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_backup_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_backup_wrong_password, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_backup_tamper, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_backup_bad_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backup_cost, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_local_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_local_wrong_machine_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_seal, setup, teardown),
	};

	setenv("TKMS_ARGON2_FAST", "1", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
