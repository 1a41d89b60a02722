/*
 * seal.c - the device key at rest: DIR/dk.backup (three components under
 * their holders' passwords) and the local seal DIR/dk.sealed under
 * DIR/machine.key (seal.h, docs/seal.md).
 *
 * dk.backup:
 *   OFFSET SIZE FIELD
 *   0      8    magic "TKMSDKB1"
 *   8      8    KCV of DK (SM4)
 *   16     96   record of A1 (struct hsm_backup_rec, seal.h)
 *   112    96   record of A2
 *   208    96   record of A3
 * A record's keys: M = Argon2id(password, salt, t, m, p), 32 bytes;
 * K_enc = KBKDF-HMAC-SM3(M, "tkms dk backup enc", part byte), 16 bytes;
 * K_mac = KBKDF-HMAC-SM3(M, "tkms dk backup mac", part byte), 32 bytes.
 * The tag covers the part and the Argon2id cost, so that a record moved to
 * another part, or given a lower cost, does not open. The KCV is not under
 * a tag: it is checked against the combined DK, so altering it only makes
 * the backup refuse to open.
 *
 * dk.sealed:
 *   OFFSET SIZE FIELD
 *   0      8    magic "TKMSDKS1"
 *   8      8    KCV of DK (SM4)
 *   16     16   IV, random
 *   32     16   SM4-CTR(K_enc, IV, DK)
 *   48     32   HMAC-SM3(K_mac, bytes 0..47)
 * with K_enc/K_mac = KBKDF-HMAC-SM3(machine key, "tkms local seal enc" /
 * "tkms local seal mac"), 16/32 bytes; machine.key is 32 random bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <argon2.h>

#include "admin.h"
#include "seal.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define BACKUP_MAGIC  "TKMSDKB1"
#define SEALED_MAGIC  "TKMSDKS1"
#define MAGIC_LEN     8
#define KCV_LEN       8
#define TAG_LEN       32
#define SALT_LEN      16
#define IV_LEN        16
#define MKEY_LEN      32
#define BACKUP_LEN    HSM_BACKUP_LEN
#define SEALED_LEN    (MAGIC_LEN + KCV_LEN + IV_LEN + HSM_DK_LEN + TAG_LEN)
#define SEALED_TAGGED (SEALED_LEN - TAG_LEN)

#define NO_DK_YET                                                              \
	"sealed: no device key yet; A1, A2 and A3 enter their components "     \
	"(dk.component) and combine them (dk.combine)"

/* Record offsets (seal.h). */
#define R_PART 0
#define R_T    4
#define R_M    8
#define R_P    12
#define R_SALT 16
#define R_IV   32
#define R_CT   48
#define R_TAG  64

/* Argon2id cost: production, and TKMS_ARGON2_FAST=1 (tests only). Costs
 * read from a file are bounded, so that a crafted file cannot make the
 * HSM allocate gigabytes. */
#define ARGON_T      3
#define ARGON_M      65536 /* KiB */
#define ARGON_P      1
#define ARGON_FAST_T 1
#define ARGON_FAST_M 64
#define ARGON_MAX_T  16
#define ARGON_MAX_M  (1u << 20) /* 1 GiB */
#define ARGON_MAX_P  8

_Static_assert(R_TAG + TAG_LEN == HSM_BACKUP_REC_LEN, "record layout");
_Static_assert(
    MAGIC_LEN + KCV_LEN + HSM_DK_PARTS * HSM_BACKUP_REC_LEN == HSM_BACKUP_LEN,
    "file layout");

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int
path_of(const char *dir, const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	return n > 0 && (size_t)n < cap ? TKM_OK : TKM_ERR_INPUT;
}

/* Write len bytes to DIR/name (0600) through a temporary file, fsync'd and
 * renamed, then fsync the directory: a crash leaves the old file or the
 * new one, never half of one. */
static int
write_file(const char *dir, const char *name, const uint8_t *p, size_t len)
{
	char path[4096], tmp[4096 + 8];
	int fd, dfd, ok;

	if (path_of(dir, name, path, sizeof(path)) != TKM_OK ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) < 0)
		return TKM_ERR_INPUT;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return TKM_ERR_IO;
	ok = write(fd, p, len) == (ssize_t)len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return TKM_ERR_IO;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		ok = fsync(dfd) == 0;
		close(dfd);
		if (!ok)
			return TKM_ERR_IO;
	}
	return TKM_OK;
}

/* Read exactly len bytes of DIR/name: TKM_ERR_NO_KEY if it does not exist,
 * TKM_ERR_VERIFY if it has another length. */
static int
read_file(const char *dir, const char *name, uint8_t *p, size_t len)
{
	char path[4096];
	uint8_t extra;
	ssize_t n;
	int fd, rc;

	if (path_of(dir, name, path, sizeof(path)) != TKM_OK)
		return TKM_ERR_INPUT;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? TKM_ERR_NO_KEY : TKM_ERR_IO;
	n = read(fd, p, len);
	if (n < 0)
		rc = TKM_ERR_IO;
	else if ((size_t)n != len || read(fd, &extra, 1) != 0)
		rc = TKM_ERR_VERIFY;
	else
		rc = TKM_OK;
	close(fd);
	if (rc != TKM_OK)
		tkm_cleanse(p, len);
	return rc;
}

static int
file_exists(const char *dir, const char *name)
{
	char path[4096];
	struct stat sb;

	return path_of(dir, name, path, sizeof(path)) == TKM_OK &&
	       stat(path, &sb) == 0;
}

int
hsm_seal_exists(const char *dir)
{
	return file_exists(dir, HSM_SEAL_BACKUP) ||
	       file_exists(dir, HSM_SEAL_SEALED);
}

/* K_enc (16) || K_mac (32) from a master key. */
static int
two_keys(const uint8_t *master, size_t mlen, const char *what,
    const uint8_t *ctx, size_t ctxlen, uint8_t enc[16], uint8_t mac[TAG_LEN])
{
	char label[48];
	int rc;

	snprintf(label, sizeof(label), "tkms %s enc", what);
	if ((rc = tkm_kdf(TKM_SM3, master, mlen, label, strlen(label), ctx,
		 ctxlen, enc, 16)) != TKM_OK)
		return rc;
	snprintf(label, sizeof(label), "tkms %s mac", what);
	return tkm_kdf(TKM_SM3, master, mlen, label, strlen(label), ctx, ctxlen,
	    mac, TAG_LEN);
}

/* --- dk.backup ---------------------------------------------------------- */

static int
password_ok(const char *pw)
{
	size_t n;

	if (pw == NULL)
		return 0;
	n = strlen(pw);
	return n >= HSM_PASSWORD_MIN && n <= HSM_PASSWORD_MAX;
}

/* The record's keys from its header (part, cost, salt) and password. */
static int
rec_keys(
    const uint8_t *rec, const char *pw, uint8_t enc[16], uint8_t mac[TAG_LEN])
{
	uint32_t t = get32(rec + R_T), m = get32(rec + R_M),
		 p = get32(rec + R_P);
	uint8_t master[32];
	int rc;

	if (t < 1 || t > ARGON_MAX_T || m > ARGON_MAX_M || p < 1 ||
	    p > ARGON_MAX_P || m < 8 * p)
		return TKM_ERR_VERIFY;
	if (argon2id_hash_raw(t, m, p, pw, strlen(pw), rec + R_SALT, SALT_LEN,
		master, sizeof(master)) != ARGON2_OK) {
		rc = TKM_ERR_NOMEM; /* the only way it fails with these args */
		goto out;
	}
	rc = two_keys(
	    master, sizeof(master), "dk backup", rec + R_PART, 1, enc, mac);
out:
	tkm_cleanse(master, sizeof(master));
	return rc;
}

int
hsm_backup_seal(unsigned part, const uint8_t c[HSM_DK_LEN],
    const char *password, struct hsm_backup_rec *out)
{
	const char *fast = getenv("TKMS_ARGON2_FAST");
	int is_fast = fast != NULL && strcmp(fast, "1") == 0;
	uint8_t *r = out->b, enc[16], mac[TAG_LEN];
	int rc;

	memset(out, 0, sizeof(*out));
	if (part < 1 || part > HSM_DK_PARTS || !password_ok(password))
		return TKM_ERR_INPUT;
	r[R_PART] = (uint8_t)part;
	put32(r + R_T, is_fast ? ARGON_FAST_T : ARGON_T);
	put32(r + R_M, is_fast ? ARGON_FAST_M : ARGON_M);
	put32(r + R_P, ARGON_P);
	if ((rc = tkm_random(r + R_SALT, SALT_LEN + IV_LEN)) != TKM_OK ||
	    (rc = rec_keys(r, password, enc, mac)) != TKM_OK ||
	    (rc = tkm_cipher(TKM_SM4, TKM_CTR, TKM_ENCRYPT, enc, sizeof(enc),
		 r + R_IV, c, HSM_DK_LEN, r + R_CT)) != TKM_OK ||
	    (rc = tkm_hmac(TKM_SM3, mac, sizeof(mac), r, R_TAG, r + R_TAG)) !=
		TKM_OK)
		tkm_cleanse(out, sizeof(*out));
	tkm_cleanse(enc, sizeof(enc));
	tkm_cleanse(mac, sizeof(mac));
	return rc;
}

int
hsm_backup_write(const char *dir, const uint8_t kcv[8],
    const struct hsm_backup_rec rec[HSM_DK_PARTS])
{
	uint8_t f[BACKUP_LEN];
	size_t i;

	memcpy(f, BACKUP_MAGIC, MAGIC_LEN);
	memcpy(f + MAGIC_LEN, kcv, KCV_LEN);
	for (i = 0; i < HSM_DK_PARTS; i++) {
		if (rec[i].b[R_PART] != i + 1)
			return TKM_ERR_INPUT;
		memcpy(f + MAGIC_LEN + KCV_LEN + i * HSM_BACKUP_REC_LEN,
		    rec[i].b, HSM_BACKUP_REC_LEN);
	}
	return write_file(dir, HSM_SEAL_BACKUP, f, sizeof(f));
}

/* One record: its component into c, or TKM_ERR_VERIFY. */
static int
rec_open(const uint8_t *r, unsigned part, const char *pw, uint8_t *c)
{
	uint8_t enc[16], mac[TAG_LEN], want[TAG_LEN];
	int rc;

	if (r[R_PART] != part || r[1] != 0 || r[2] != 0 || r[3] != 0)
		return TKM_ERR_VERIFY;
	if ((rc = rec_keys(r, pw, enc, mac)) != TKM_OK ||
	    (rc = tkm_hmac(TKM_SM3, mac, sizeof(mac), r, R_TAG, want)) !=
		TKM_OK)
		goto out;
	if (!tkm_ct_eq(want, r + R_TAG, TAG_LEN)) {
		rc = TKM_ERR_VERIFY;
		goto out;
	}
	rc = tkm_cipher(TKM_SM4, TKM_CTR, TKM_DECRYPT, enc, sizeof(enc),
	    r + R_IV, r + R_CT, HSM_DK_LEN, c);
out:
	tkm_cleanse(enc, sizeof(enc));
	tkm_cleanse(mac, sizeof(mac));
	return rc;
}

/* DK from the file's records; *bad_part names a record that fails. */
static int
backup_combine(const uint8_t *f, const char *const pw[HSM_DK_PARTS],
    uint8_t dk[HSM_DK_LEN], unsigned *bad_part)
{
	uint8_t c[HSM_DK_LEN], kcv[KCV_LEN];
	unsigned i, j;
	int rc = TKM_OK;

	memset(dk, 0, HSM_DK_LEN);
	for (i = 0; i < HSM_DK_PARTS; i++) {
		if (!password_ok(pw[i])) {
			rc = TKM_ERR_VERIFY;
			*bad_part = i + 1;
			goto out;
		}
		rc = rec_open(f + MAGIC_LEN + KCV_LEN + i * HSM_BACKUP_REC_LEN,
		    i + 1, pw[i], c);
		if (rc != TKM_OK) {
			*bad_part = i + 1;
			goto out;
		}
		for (j = 0; j < HSM_DK_LEN; j++)
			dk[j] ^= c[j];
	}
	if ((rc = tkm_kcv(TKM_SM4, dk, HSM_DK_LEN, kcv)) == TKM_OK &&
	    !tkm_ct_eq(kcv, f + MAGIC_LEN, KCV_LEN))
		rc = TKM_ERR_VERIFY;
out:
	tkm_cleanse(c, sizeof(c));
	if (rc != TKM_OK)
		tkm_cleanse(dk, HSM_DK_LEN);
	return rc;
}

int
hsm_backup_open_buf(const uint8_t *f, size_t len,
    const char *const passwords[HSM_DK_PARTS], uint8_t dk[HSM_DK_LEN],
    unsigned *bad_part)
{
	*bad_part = 0;
	memset(dk, 0, HSM_DK_LEN);
	if (len != BACKUP_LEN || memcmp(f, BACKUP_MAGIC, MAGIC_LEN) != 0)
		return TKM_ERR_VERIFY;
	return backup_combine(f, passwords, dk, bad_part);
}

int
hsm_backup_open(const char *dir, const char *const passwords[HSM_DK_PARTS],
    uint8_t dk[HSM_DK_LEN], unsigned *bad_part)
{
	uint8_t f[BACKUP_LEN];
	int rc;

	*bad_part = 0;
	memset(dk, 0, HSM_DK_LEN);
	if ((rc = read_file(dir, HSM_SEAL_BACKUP, f, sizeof(f))) != TKM_OK)
		return rc;
	return hsm_backup_open_buf(f, sizeof(f), passwords, dk, bad_part);
}

void
hsm_backup_recs(
    const uint8_t f[HSM_BACKUP_LEN], struct hsm_backup_rec rec[HSM_DK_PARTS])
{
	size_t i;

	for (i = 0; i < HSM_DK_PARTS; i++)
		memcpy(rec[i].b,
		    f + MAGIC_LEN + KCV_LEN + i * HSM_BACKUP_REC_LEN,
		    HSM_BACKUP_REC_LEN);
}

int
hsm_backup_read(const char *dir, const uint8_t kcv[8], uint8_t f[BACKUP_LEN])
{
	int rc;

	if ((rc = read_file(dir, HSM_SEAL_BACKUP, f, BACKUP_LEN)) != TKM_OK)
		return rc;
	/* A file that is not this DK's would restore another HSM's key. */
	if (memcmp(f, BACKUP_MAGIC, MAGIC_LEN) != 0 ||
	    memcmp(f + MAGIC_LEN, kcv, KCV_LEN) != 0) {
		memset(f, 0, BACKUP_LEN);
		return TKM_ERR_VERIFY;
	}
	return TKM_OK;
}

/* --- local seal --------------------------------------------------------- */

static int
local_keys(const uint8_t *mkey, uint8_t enc[16], uint8_t mac[TAG_LEN])
{
	return two_keys(mkey, MKEY_LEN, "local seal", NULL, 0, enc, mac);
}

int
hsm_seal_local_write(const char *dir, const uint8_t dk[HSM_DK_LEN])
{
	uint8_t mkey[MKEY_LEN], enc[16], mac[TAG_LEN], f[SEALED_LEN];
	uint8_t *iv = f + MAGIC_LEN + KCV_LEN, *ct = iv + IV_LEN;
	int rc;

	memcpy(f, SEALED_MAGIC, MAGIC_LEN);
	if ((rc = tkm_random(mkey, sizeof(mkey))) != TKM_OK ||
	    (rc = tkm_random(iv, IV_LEN)) != TKM_OK ||
	    (rc = tkm_kcv(TKM_SM4, dk, HSM_DK_LEN, f + MAGIC_LEN)) != TKM_OK ||
	    (rc = local_keys(mkey, enc, mac)) != TKM_OK ||
	    (rc = tkm_cipher(TKM_SM4, TKM_CTR, TKM_ENCRYPT, enc, sizeof(enc),
		 iv, dk, HSM_DK_LEN, ct)) != TKM_OK ||
	    (rc = tkm_hmac(TKM_SM3, mac, sizeof(mac), f, SEALED_TAGGED,
		 f + SEALED_TAGGED)) != TKM_OK)
		goto out;
	/* machine.key first: a dk.sealed without its key would not open. */
	if ((rc = write_file(dir, HSM_SEAL_MACHINE, mkey, sizeof(mkey))) ==
	    TKM_OK)
		rc = write_file(dir, HSM_SEAL_SEALED, f, sizeof(f));
out:
	tkm_cleanse(mkey, sizeof(mkey));
	tkm_cleanse(enc, sizeof(enc));
	tkm_cleanse(mac, sizeof(mac));
	tkm_cleanse(f, sizeof(f));
	return rc;
}

/* Check dk.sealed's tag and decrypt DK. */
static int
local_open(const uint8_t *mkey, const uint8_t *f, uint8_t dk[HSM_DK_LEN])
{
	const uint8_t *iv = f + MAGIC_LEN + KCV_LEN, *ct = iv + IV_LEN;
	uint8_t enc[16], mac[TAG_LEN], want[TAG_LEN], kcv[KCV_LEN];
	int rc;

	if ((rc = local_keys(mkey, enc, mac)) != TKM_OK ||
	    (rc = tkm_hmac(
		 TKM_SM3, mac, sizeof(mac), f, SEALED_TAGGED, want)) != TKM_OK)
		goto out;
	if (memcmp(f, SEALED_MAGIC, MAGIC_LEN) != 0 ||
	    !tkm_ct_eq(want, f + SEALED_TAGGED, TAG_LEN)) {
		rc = TKM_ERR_VERIFY;
		goto out;
	}
	if ((rc = tkm_cipher(TKM_SM4, TKM_CTR, TKM_DECRYPT, enc, sizeof(enc),
		 iv, ct, HSM_DK_LEN, dk)) != TKM_OK ||
	    (rc = tkm_kcv(TKM_SM4, dk, HSM_DK_LEN, kcv)) != TKM_OK)
		goto out;
	if (!tkm_ct_eq(kcv, f + MAGIC_LEN, KCV_LEN))
		rc = TKM_ERR_VERIFY;
out:
	tkm_cleanse(enc, sizeof(enc));
	tkm_cleanse(mac, sizeof(mac));
	return rc;
}

int
hsm_seal_local_read(const char *dir, uint8_t dk[HSM_DK_LEN])
{
	uint8_t mkey[MKEY_LEN], f[SEALED_LEN];
	int rc;

	memset(dk, 0, HSM_DK_LEN);
	if ((rc = read_file(dir, HSM_SEAL_SEALED, f, sizeof(f))) != TKM_OK)
		goto out;
	rc = read_file(dir, HSM_SEAL_MACHINE, mkey, sizeof(mkey));
	/* a missing machine key is as wrong as a different one */
	if (rc == TKM_ERR_NO_KEY)
		rc = TKM_ERR_VERIFY;
	if (rc == TKM_OK)
		rc = local_open(mkey, f, dk);
out:
	if (rc != TKM_OK)
		tkm_cleanse(dk, HSM_DK_LEN);
	tkm_cleanse(mkey, sizeof(mkey));
	tkm_cleanse(f, sizeof(f));
	return rc;
}

/* --- start-up ----------------------------------------------------------- */

int
hsm_seal_dk_new(const uint8_t dk[HSM_DK_LEN], struct hsm_dk **out)
{
	uint8_t(*c)[HSM_DK_LEN];
	int rc;

	/* hsm_dk_new XORs three parts: DK, 0, 0. */
	*out = NULL;
	if ((c = tkm_secure_alloc(HSM_DK_PARTS * HSM_DK_LEN)) == NULL)
		return TKM_ERR_NOMEM;
	memcpy(c[0], dk, HSM_DK_LEN);
	rc = hsm_dk_new((const uint8_t(*)[HSM_DK_LEN])c, out);
	tkm_secure_free(c, HSM_DK_PARTS * HSM_DK_LEN);
	return rc;
}

const char *
hsm_seal_mode_name(int mode)
{
	switch (mode) {
	case HSM_SEAL_LOCAL:
		return "local";
	case HSM_SEAL_QUORUM:
		return "quorum";
	case HSM_SEAL_DEV:
		return "dev";
	default:
		return "?";
	}
}

static int
start_local(const char *dir, struct hsm_dk **out, const char **msg)
{
	uint8_t *dk;
	int rc;

	if ((dk = tkm_secure_alloc(HSM_DK_LEN)) == NULL)
		return TKM_ERR_NOMEM;
	rc = hsm_seal_local_read(dir, dk);
	if (rc == TKM_ERR_NO_KEY) {
		*msg =
		    file_exists(dir, HSM_SEAL_BACKUP)
			? "sealed: no dk.sealed; A1, A2 and A3 must run `tkms "
			  "hsm unseal`"
			: NO_DK_YET;
		rc = TKM_OK;
	} else if (rc != TKM_OK) {
		*msg = "sealed: dk.sealed does not open with machine.key "
		       "(wrong key or altered file); A1, A2 and A3 must run "
		       "`tkms hsm unseal`";
	} else if ((rc = hsm_seal_dk_new(dk, out)) == TKM_OK) {
		*msg = "unsealed from dk.sealed (seal local)";
	}
	tkm_secure_free(dk, HSM_DK_LEN);
	return rc;
}

int
hsm_seal_start(const char *dir, int mode, struct hsm_dk **out, const char **msg)
{
	*out = NULL;
	switch (mode) {
	case HSM_SEAL_LOCAL:
		return start_local(dir, out, msg);
	case HSM_SEAL_QUORUM:
		*msg = file_exists(dir, HSM_SEAL_BACKUP)
			   ? "sealed: A1, A2 and A3 must run `tkms hsm unseal`"
			   : NO_DK_YET;
		return TKM_OK;
	case HSM_SEAL_DEV:
		*msg = "sealed: seal dev takes DK only from --dev-components";
		return TKM_OK;
	default:
		*msg = "sealed: unknown seal mode";
		return TKM_ERR_MODE;
	}
}
