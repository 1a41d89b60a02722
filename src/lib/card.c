/*
 * card.c - admin card files (card.h, docs/cards.md).
 *
 * A card is one small file: the SM2 key pair of an administrator, the
 * private key d encrypted under a key derived from the card's PIN. The
 * PIN goes through Argon2id (RFC 9106) so that a stolen file costs an
 * attacker real memory and time per guess; the Argon2id output is split
 * with tkm_kdf into an SM4 key that encrypts d (CTR) and an HMAC-SM3 key
 * that authenticates the whole file, so a wrong PIN and a changed byte
 * look the same (TKM_ERR_VERIFY) and nothing is decrypted before the tag
 * is checked.
 *
 * File layout (all integers big-endian), 192 bytes:
 *
 *   OFFSET  SIZE  FIELD
 *        0     8  magic "TKMSCARD"
 *        8     4  version, 1
 *       12     8  role, ASCII letters and digits, NUL padded ("A1", "C")
 *       20     4  Argon2id t (passes), 1..16
 *       24     4  Argon2id m (KiB), 8p..262144
 *       28     4  Argon2id p (lanes), 1..8
 *       32    16  Argon2id salt, random
 *       48    64  SM2 public key X || Y
 *      112    16  SM4-CTR initial counter, random
 *      128    32  SM2 private key d, SM4-CTR encrypted
 *      160    32  HMAC-SM3 tag over bytes 0..159
 *
 * Keys: s = Argon2id(PIN, salt; t, m, p), 32 bytes;
 *       Kenc = KDF(s, "tkms card enc"), 16 bytes;
 *       Kmac = KDF(s, "tkms card mac"), 32 bytes
 * (tkm_kdf, HMAC-SM3, no context: the tag covers the parameters).
 *
 * A wrong magic, version or size is "not a card" (TKM_ERR_INPUT).
 * Parameters out of range are refused before Argon2id runs, so that an
 * altered file cannot make us allocate gigabytes, and count as tampering
 * (TKM_ERR_VERIFY) like any other altered byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <argon2.h>

#include "tkm/card.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define CARD_MAGIC   "TKMSCARD"
#define CARD_VERSION 1

enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 8,
	OFF_ROLE = 12,
	OFF_T = 20,
	OFF_M = 24,
	OFF_P = 28,
	OFF_SALT = 32,
	OFF_PUB = 48,
	OFF_IV = 112,
	OFF_ENC = 128,
	OFF_TAG = 160,
	CARD_LEN = 192,
};

#define SALT_LEN 16
#define IV_LEN   16
#define SEED_LEN 32
#define ENC_LEN  16
#define MAC_LEN  32
#define PIN_MAX  256

/* Interactive cost (RFC 9106 §4, second recommendation scaled down to
 * what a console login tolerates); the test cost keeps suites fast and
 * is never for real cards. */
#define COST_T      3
#define COST_M      (64u * 1024) /* KiB: 64 MiB */
#define COST_M_TEST 64u          /* KiB: 64 KiB, TKMS_ARGON2_FAST=1 */
#define COST_P      1

/* Limits on what a file may ask for (see the header comment). */
#define MAX_T 16
#define MAX_M (256u * 1024) /* KiB: 256 MiB */
#define MAX_P 8

struct tkm_card {
	char role[TKM_CARD_ROLE_MAX + 1];
	struct tkm_sm2 *key;
};

struct params {
	uint32_t t, m, p;
};

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
role_ok(const char *role)
{
	size_t i, n = strlen(role);

	if (n == 0 || n > TKM_CARD_ROLE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((role[i] >= 'A' && role[i] <= 'Z') ||
			(role[i] >= 'a' && role[i] <= 'z') ||
			(role[i] >= '0' && role[i] <= '9')))
			return 0;
	return 1;
}

static int
pin_ok(const char *pin)
{
	size_t n = strnlen(pin, PIN_MAX + 1);

	return n >= TKM_CARD_PIN_MIN && n <= PIN_MAX;
}

static int
params_ok(const struct params *pa)
{
	return pa->t >= 1 && pa->t <= MAX_T && pa->p >= 1 && pa->p <= MAX_P &&
	       pa->m >= 8 * pa->p && pa->m <= MAX_M;
}

static void
default_params(struct params *pa)
{
	const char *fast = getenv("TKMS_ARGON2_FAST");

	pa->t = COST_T;
	pa->p = COST_P;
	pa->m = fast != NULL && strcmp(fast, "1") == 0 ? COST_M_TEST : COST_M;
}

/* Kenc and Kmac from the PIN (see the header comment). */
static int
derive(const char *pin, const uint8_t *salt, const struct params *pa,
    uint8_t kenc[ENC_LEN], uint8_t kmac[MAC_LEN])
{
	static const char lenc[] = "tkms card enc", lmac[] = "tkms card mac";
	uint8_t seed[SEED_LEN];
	int rc = TKM_ERR_INTERNAL;

	if (argon2id_hash_raw(pa->t, pa->m, pa->p, pin, strlen(pin), salt,
		SALT_LEN, seed, sizeof(seed)) != ARGON2_OK)
		goto out;
	if ((rc = tkm_kdf(TKM_SM3, seed, sizeof(seed), lenc, sizeof(lenc) - 1,
		 NULL, 0, kenc, ENC_LEN)) != TKM_OK)
		goto out;
	rc = tkm_kdf(TKM_SM3, seed, sizeof(seed), lmac, sizeof(lmac) - 1, NULL,
	    0, kmac, MAC_LEN);
out:
	tkm_cleanse(seed, sizeof(seed));
	return rc;
}

/* Everything but the key material: magic, version, role, parameters. */
static void
put_header(uint8_t *f, const char *role, const struct params *pa)
{
	memcpy(f + OFF_MAGIC, CARD_MAGIC, 8);
	put32(f + OFF_VERSION, CARD_VERSION);
	memset(f + OFF_ROLE, 0, TKM_CARD_ROLE_MAX);
	memcpy(f + OFF_ROLE, role, strlen(role));
	put32(f + OFF_T, pa->t);
	put32(f + OFF_M, pa->m);
	put32(f + OFF_P, pa->p);
}

/* Fill f with a new key pair sealed under pin. */
static int
seal(uint8_t *f, const char *role, const char *pin)
{
	struct tkm_sm2 *key = NULL;
	struct params pa;
	uint8_t d[TKM_SM2_PRIV_LEN], kenc[ENC_LEN], kmac[MAC_LEN];
	int rc;

	default_params(&pa);
	put_header(f, role, &pa);
	if ((rc = tkm_random(f + OFF_SALT, SALT_LEN)) != TKM_OK ||
	    (rc = tkm_random(f + OFF_IV, IV_LEN)) != TKM_OK ||
	    (rc = tkm_sm2_generate(&key)) != TKM_OK ||
	    (rc = tkm_sm2_pub(key, f + OFF_PUB)) != TKM_OK ||
	    (rc = tkm_sm2_priv(key, d)) != TKM_OK ||
	    (rc = derive(pin, f + OFF_SALT, &pa, kenc, kmac)) != TKM_OK)
		goto out;
	if ((rc = tkm_cipher(TKM_SM4, TKM_CTR, TKM_ENCRYPT, kenc, ENC_LEN,
		 f + OFF_IV, d, sizeof(d), f + OFF_ENC)) != TKM_OK)
		goto out;
	rc = tkm_hmac(TKM_SM3, kmac, MAC_LEN, f, OFF_TAG, f + OFF_TAG);
out:
	tkm_sm2_free(key);
	tkm_cleanse(d, sizeof(d));
	tkm_cleanse(kenc, sizeof(kenc));
	tkm_cleanse(kmac, sizeof(kmac));
	return rc;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return TKM_ERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return TKM_OK;
}

int
tkm_card_create(const char *path, const char *role, const char *pin)
{
	uint8_t f[CARD_LEN];
	int fd, rc;

	if (path == NULL || role == NULL || pin == NULL || !role_ok(role) ||
	    !pin_ok(pin))
		return TKM_ERR_INPUT;
	/* Never overwrite: an existing card may be the only copy of a key
	 * the HSM knows. Created first, so that a taken path is refused
	 * before Argon2id spends its time. */
	fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return TKM_ERR_IO;
	if ((rc = seal(f, role, pin)) == TKM_OK)
		rc = write_all(fd, f, sizeof(f));
	if (rc == TKM_OK && fsync(fd) != 0)
		rc = TKM_ERR_IO;
	if (close(fd) != 0 && rc == TKM_OK)
		rc = TKM_ERR_IO;
	if (rc != TKM_OK)
		(void)unlink(path); /* ours: O_EXCL made it */
	tkm_cleanse(f, sizeof(f));
	return rc;
}

/* The whole file into f; TKM_ERR_INPUT unless it is exactly CARD_LEN. */
static int
read_file(const char *path, uint8_t f[CARD_LEN])
{
	uint8_t extra;
	size_t got = 0;
	ssize_t r;
	struct stat sb;
	int fd, rc = TKM_ERR_IO;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return TKM_ERR_IO;
	if (fstat(fd, &sb) != 0)
		goto out;
	rc = TKM_ERR_INPUT;
	if (!S_ISREG(sb.st_mode) || sb.st_size != CARD_LEN)
		goto out;
	while (got < CARD_LEN) {
		r = read(fd, f + got, CARD_LEN - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = TKM_ERR_IO;
			goto out;
		}
		if (r == 0)
			goto out; /* shrank under us */
		got += (size_t)r;
	}
	rc = read(fd, &extra, 1) == 0 ? TKM_OK : TKM_ERR_INPUT;
out:
	close(fd);
	return rc;
}

/* Magic and version: is it a card at all? */
static int
check_format(const uint8_t *f)
{
	if (memcmp(f + OFF_MAGIC, CARD_MAGIC, 8) != 0 ||
	    get32(f + OFF_VERSION) != CARD_VERSION)
		return TKM_ERR_INPUT;
	return TKM_OK;
}

/* Tag, then d, then d against the stored public key. */
static int
unseal(const uint8_t *f, const char *pin, struct tkm_card *card)
{
	struct params pa;
	uint8_t kenc[ENC_LEN], kmac[MAC_LEN], tag[MAC_LEN];
	uint8_t d[TKM_SM2_PRIV_LEN], pub[TKM_SM2_PUB_LEN];
	int rc;

	pa.t = get32(f + OFF_T);
	pa.m = get32(f + OFF_M);
	pa.p = get32(f + OFF_P);
	if (!params_ok(&pa))
		return TKM_ERR_VERIFY;
	if ((rc = derive(pin, f + OFF_SALT, &pa, kenc, kmac)) != TKM_OK ||
	    (rc = tkm_hmac(TKM_SM3, kmac, MAC_LEN, f, OFF_TAG, tag)) != TKM_OK)
		goto out;
	rc = TKM_ERR_VERIFY;
	if (!tkm_ct_eq(tag, f + OFF_TAG, MAC_LEN))
		goto out;
	/* Authentic from here on: what fails now is a bug of the writer. */
	memcpy(card->role, f + OFF_ROLE, TKM_CARD_ROLE_MAX);
	card->role[TKM_CARD_ROLE_MAX] = '\0';
	rc = TKM_ERR_INPUT;
	if (!role_ok(card->role))
		goto out;
	if ((rc = tkm_cipher(TKM_SM4, TKM_CTR, TKM_DECRYPT, kenc, ENC_LEN,
		 f + OFF_IV, f + OFF_ENC, sizeof(d), d)) != TKM_OK ||
	    (rc = tkm_sm2_from_priv(d, &card->key)) != TKM_OK ||
	    (rc = tkm_sm2_pub(card->key, pub)) != TKM_OK)
		goto out;
	rc = tkm_ct_eq(pub, f + OFF_PUB, sizeof(pub)) ? TKM_OK : TKM_ERR_VERIFY;
out:
	tkm_cleanse(kenc, sizeof(kenc));
	tkm_cleanse(kmac, sizeof(kmac));
	tkm_cleanse(d, sizeof(d));
	return rc;
}

int
tkm_card_open(const char *path, const char *pin, struct tkm_card **out)
{
	struct tkm_card *card = NULL;
	uint8_t f[CARD_LEN];
	int rc;

	if (out != NULL)
		*out = NULL;
	if (path == NULL || pin == NULL || out == NULL)
		return TKM_ERR_INPUT;
	if ((rc = read_file(path, f)) != TKM_OK ||
	    (rc = check_format(f)) != TKM_OK)
		goto out;
	/* A PIN too short to have made a card is simply wrong. */
	rc = TKM_ERR_VERIFY;
	if (!pin_ok(pin))
		goto out;
	rc = TKM_ERR_NOMEM;
	if ((card = calloc(1, sizeof(*card))) == NULL)
		goto out;
	if ((rc = unseal(f, pin, card)) != TKM_OK)
		goto out;
	*out = card;
	card = NULL;
out:
	tkm_card_free(card);
	tkm_cleanse(f, sizeof(f));
	return rc;
}

void
tkm_card_free(struct tkm_card *card)
{
	if (card == NULL)
		return;
	tkm_sm2_free(card->key);
	tkm_cleanse(card, sizeof(*card));
	free(card);
}

const char *
tkm_card_role(const struct tkm_card *card)
{
	return card->role;
}

int
tkm_card_pub(const struct tkm_card *card, uint8_t xy[TKM_SM2_PUB_LEN])
{
	if (card == NULL || xy == NULL)
		return TKM_ERR_INPUT;
	return tkm_sm2_pub(card->key, xy);
}

int
tkm_card_sign(struct tkm_card *card, const void *msg, size_t len,
    uint8_t sig[TKM_SM2_SIG_LEN])
{
	if (card == NULL || sig == NULL || (msg == NULL && len > 0))
		return TKM_ERR_INPUT;
	return tkm_sm2_sign(card->key, NULL, 0, msg, len, sig);
}
