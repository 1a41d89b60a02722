/*
 * fuzz_libbak.c - key-library backups (backup.h, docs/backup.md):
 * hsm_libbak_peek and hsm_libbak_restore against a key store in a
 * temporary directory under the test DK (tests/hsm/hsmtest.h).
 *
 * Input:
 *   OFFSET SIZE FIELD
 *   0      1    flags: bit 0 "seal", bit 1 replace
 *   1      ...  without "seal": the file, as is
 *   1      1    with "seal": library, 1 + (byte mod 4)
 *   2      2    record count, big-endian
 *   4      ...  the records in clear
 * With "seal" the target writes the header, encrypts and MACs the records
 * itself (from docs/backup.md, not with backup.c), so that the fuzzer
 * reaches the record parser behind the tag, which no mutation of a real
 * file can.
 *
 * Invariants: peek accepts only headers that name a library and give a
 * printable serial; a refused restore gives one of the documented causes
 * with a message and leaves the store exactly as it was; an accepted one
 * leaves the library holding the file's keys, each readable and matching
 * its KCV (the store reads it back).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "keystore.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
			    __LINE__, #x);                                     \
			abort();                                               \
		}                                                              \
	} while (0)

#define HDR_LEN   64
#define TAG_LEN   32
#define MAX_INPUT (1u << 20)

/* The test components (tests/hsm/hsmtest.h; never for production). */
static const char *const comp_hex[HSM_DK_PARTS] = {
    "0123456789ABCDEFFEDCBA9876543210", "11111111111111112222222222222222",
    "0F0E0D0C0B0A09080706050403020100"};

static char dir[64];
static struct hsm_dk *dk;
static struct hsm_keystore *ks;

static void
cleanup(void)
{
	static const char *const names[] = {
	    "keys.db", "keys.db-wal", "keys.db-shm"};
	char path[128];
	size_t i;

	hsm_keystore_close(ks);
	hsm_dk_free(dk);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* The keys every input starts from: DES 001, SM4 000. */
static void
baseline(void)
{
	static const uint8_t k16[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB,
	    0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10};
	struct hsm_key_info i;

	memset(&i, 0, sizeof(i));
	i.lib = HSM_LIB_DES;
	i.index = 1;
	memcpy(i.type, "000", 4);
	CHECK(tkm_kcv(TKM_DES, k16, 16, i.kcv) == TKM_OK);
	CHECK(hsm_keystore_put(ks, &i, k16, 16) == TKM_OK);
	i.lib = HSM_LIB_SM4;
	i.index = 0;
	CHECK(tkm_kcv(TKM_SM4, k16, 16, i.kcv) == TKM_OK);
	CHECK(hsm_keystore_put(ks, &i, k16, 16) == TKM_OK);
}

static void
init(void)
{
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN];
	size_t i, n;

	snprintf(dir, sizeof(dir), "/tmp/fuzz_libbak.XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	for (i = 0; i < HSM_DK_PARTS; i++)
		CHECK(tkm_hex_decode(comp_hex[i], 32, c[i], HSM_DK_LEN, &n) ==
			  TKM_OK &&
		      n == HSM_DK_LEN);
	CHECK(hsm_dk_new(c, &dk) == TKM_OK);
	CHECK(hsm_keystore_open(dir, dk, &ks) == TKM_OK);
	atexit(cleanup);
	baseline();
}

/* --- the store's state ---------------------------------------------------- */

#define SNAP_MAX 8192

struct snap {
	unsigned n;
	struct {
		int lib;
		unsigned index, version;
		uint8_t kcv[8];
	} e[SNAP_MAX];
};

static int
snap_one(void *arg, const struct hsm_key_info *k)
{
	struct snap *s = arg;

	CHECK(s->n < SNAP_MAX);
	s->e[s->n].lib = k->lib;
	s->e[s->n].index = k->index;
	s->e[s->n].version = k->version;
	memcpy(s->e[s->n].kcv, k->kcv, 8);
	s->n++;
	return TKM_OK;
}

static void
snap_take(struct snap *s, int lib)
{
	memset(s, 0, sizeof(*s));
	CHECK(hsm_keystore_list(ks, lib, snap_one, s) == TKM_OK);
}

/* --- sealing, as docs/backup.md says -------------------------------------- */

static size_t
seal(int lib, unsigned count, const uint8_t *body, size_t n, uint8_t *out)
{
	uint8_t enc[16], mac[32];

	memset(out, 0, HDR_LEN);
	memcpy(out, "TKMSLIB", 8);
	out[8] = 1;
	out[9] = (uint8_t)lib;
	hsm_dk_kcv(dk, out + 12);
	out[30] = (uint8_t)(count >> 8);
	out[31] = (uint8_t)count;
	memcpy(out + 32, "FUZZ", 4);
	memset(out + 48, 0xA5, 16); /* a fixed IV: reproducible inputs */
	CHECK(hsm_dk_derive(dk, "tkms backup enc", enc, sizeof(enc)) == TKM_OK);
	CHECK(hsm_dk_derive(dk, "tkms backup mac", mac, sizeof(mac)) == TKM_OK);
	CHECK(tkm_cipher(TKM_SM4, TKM_CTR, TKM_ENCRYPT, enc, sizeof(enc),
		  out + 48, body, n, out + HDR_LEN) == TKM_OK);
	CHECK(tkm_hmac(TKM_SM3, mac, sizeof(mac), out, HDR_LEN + n,
		  out + HDR_LEN + n) == TKM_OK);
	return HDR_LEN + n + TAG_LEN;
}

/* --- one input ------------------------------------------------------------ */

static void
check_peek(const uint8_t *file, size_t len)
{
	struct hsm_libbak_info info;
	const char *why = NULL;
	size_t i;
	int rc;

	rc = hsm_libbak_peek(file, len, &info, &why);
	if (rc != TKM_OK) {
		CHECK(rc == TKM_ERR_INPUT && why != NULL);
		CHECK(info.lib == 0 && info.count == 0);
		return;
	}
	CHECK(why == NULL);
	CHECK(info.lib >= HSM_LIB_DES && info.lib <= HSM_LIB_SM2);
	CHECK(len >= HDR_LEN + TAG_LEN && memcmp(file, "TKMSLIB", 8) == 0);
	CHECK(info.count <= HSM_SYM_MAX_INDEX + 1);
	for (i = 0; info.serial[i] != '\0'; i++)
		CHECK(i < HSM_SERIAL_MAX && info.serial[i] >= 0x20 &&
		      info.serial[i] <= 0x7E);
}

static int
count_cb(void *arg, const struct hsm_key_info *k)
{
	uint8_t secret[HSM_MAX_SECRET];
	size_t n = 0;

	/* Each restored key opens (its record was wrapped for its index
	 * and type) with the length the callback reported. */
	CHECK(hsm_keystore_get(ks, k->lib, k->index, NULL, secret,
		  sizeof(secret), &n) == TKM_OK);
	CHECK(n == k->len);
	(*(unsigned *)arg)++;
	return TKM_OK;
}

static void
check_restore(const uint8_t *file, size_t len, int replace)
{
	static struct snap before, after;
	struct hsm_libbak_info info;
	const char *why = NULL;
	unsigned restored = 0;
	int rc, lib;

	snap_take(&before, 0);
	rc = hsm_libbak_restore(
	    ks, dk, file, len, replace, count_cb, &restored, &info, &why);
	if (rc != TKM_OK) {
		CHECK(rc == TKM_ERR_INPUT || rc == TKM_ERR_VERIFY ||
		      rc == TKM_ERR_SEALED || rc == TKM_ERR_INDEX);
		CHECK(why != NULL);
		CHECK(restored == 0);
		snap_take(&after, 0);
		CHECK(before.n == after.n &&
		      memcmp(before.e, after.e,
			  before.n * sizeof(before.e[0])) == 0);
		return;
	}
	CHECK(why == NULL && restored == info.count);
	lib = info.lib;
	snap_take(&after, lib);
	CHECK(after.n == info.count);
	/* Back to the baseline for the next input. */
	while (after.n > 0) {
		after.n--;
		CHECK(hsm_keystore_delete(ks, lib, after.e[after.n].index) ==
		      TKM_OK);
	}
	baseline();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t file[HDR_LEN + MAX_INPUT + TAG_LEN];
	size_t len, n;
	unsigned count;
	int lib;

	if (ks == NULL)
		init();
	if (size < 1 || size > MAX_INPUT)
		return 0;
	if ((data[0] & 1) == 0) {
		check_peek(data + 1, size - 1);
		check_restore(data + 1, size - 1, (data[0] & 2) != 0);
		return 0;
	}
	if (size < 4)
		return 0;
	lib = 1 + data[1] % 4;
	count = (unsigned)data[2] << 8 | data[3];
	n = size - 4;
	len = seal(lib, count, data + 4, n, file);
	check_peek(file, len);
	check_restore(file, len, (data[0] & 2) != 0);
	return 0;
}
