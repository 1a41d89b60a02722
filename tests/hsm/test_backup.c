/*
 * test_backup.c - key-library backups (backup.c, docs/backup.md), the
 * key store's transactions and zeroise (keystore.c), and the management
 * operations backup.create / backup.restore (ops_backup.c).
 *
 * The format is checked against an independent writer (seal() below,
 * written from docs/backup.md), so that records can be crafted with a
 * valid tag and the strict parser tested behind the MAC.
 */
#include "hsmtest.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#include "backup.h"
#include "keystore.h"
#include "ops.h"
#include "tkm/b64.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"
#include "tkm/rsa.h"
#include "tkm/sm2.h"

#define NELEM(a)   (sizeof(a) / sizeof((a)[0]))
#define HDR_LEN    64
#define TAG_LEN    32
#define SERIAL     "TKMS0123456789AB"
#define TEST_KCV   "C8FABC567BA0A5C6"
#define MAX_KEYS   64
#define LABEL_SECR "label-that-must-not-show"

/* Keys (odd parity for DES). */
static const char k8_hex[] = "0123456789ABCDEF";
static const char k16_hex[] = "0123456789ABCDEFFEDCBA9876543210";
static const char k24_hex[] =
    "0123456789ABCDEFFEDCBA987654321089ABCDEF01234567";
static const char sm4_hex[] = "00112233445566778899AABBCCDDEEFF";
static const char sm4b_hex[] = "F0E1D2C3B4A5968778695A4B3C2D1E0F";
/* SM2 key of GB/T 32918 (tests/kat/public.txt). */
static const char kat_d[] =
    "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
/* Another DK (never for production either). */
static const char *const other_dk[HSM_DK_PARTS] = {
    "00000000000000000000000000000001", "00000000000000000000000000000002",
    "00000000000000000000000000000004"};

struct fix {
	struct hsmtest *t; /* the source HSM: worker, dispatcher */
	struct hsm_keystore *src;
	char dir[64]; /* a fresh destination store under the same DK */
	struct hsm_dk *dk;
	struct hsm_keystore *dst;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->t = hsmtest_new(1);
	f->src = hsm_worker_ks(&f->t->w);
	assert_non_null(f->src);
	hsmtest_mkdtemp(f->dir);
	hsmtest_remember(f->dir, 1);
	f->dk = hsmtest_dk();
	assert_int_equal(hsm_keystore_open(f->dir, f->dk, &f->dst), TKM_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	hsm_keystore_close(f->dst);
	hsm_dk_free(f->dk);
	hsmtest_rmdir(f->dir);
	hsmtest_remember(f->dir, 0);
	hsmtest_free(f->t);
	free(f);
	return 0;
}

/* --- helpers -------------------------------------------------------------- */

static struct hsm_dk *
dk_of(const char *const hex[HSM_DK_PARTS])
{
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN];
	struct hsm_dk *dk = NULL;
	size_t i;

	for (i = 0; i < HSM_DK_PARTS; i++)
		hsmtest_unhex(hex[i], c[i], HSM_DK_LEN);
	assert_int_equal(hsm_dk_new(c, &dk), TKM_OK);
	return dk;
}

static void
put_sym(struct hsm_keystore *ks, int lib, unsigned index, const char *type,
    const char *label, const char *hex)
{
	struct hsm_key_info i;
	uint8_t k[24];
	size_t n = hsmtest_unhex(hex, k, sizeof(k));

	memset(&i, 0, sizeof(i));
	i.lib = lib;
	i.index = index;
	snprintf(i.type, sizeof(i.type), "%s", type);
	snprintf(i.label, sizeof(i.label), "%s", label);
	assert_int_equal(
	    tkm_kcv(lib == HSM_LIB_DES ? TKM_DES : TKM_SM4, k, n, i.kcv),
	    TKM_OK);
	assert_int_equal(hsm_keystore_put(ks, &i, k, n), TKM_OK);
}

/* An SM2 key pair stored as EI stores one (cmd_asym.c). */
static void
put_sm2(struct hsm_keystore *ks, unsigned index, const char *d_hex,
    const char *usage, const char *label)
{
	struct hsm_key_info i;
	struct tkm_sm2 *k = NULL;
	uint8_t d[32], xy[64], h[32];

	hsmtest_unhex(d_hex, d, sizeof(d));
	assert_int_equal(tkm_sm2_from_priv(d, &k), TKM_OK);
	assert_int_equal(tkm_sm2_pub(k, xy), TKM_OK);
	assert_int_equal(tkm_hash(TKM_SM3, xy, sizeof(xy), h), TKM_OK);
	tkm_sm2_free(k);
	memset(&i, 0, sizeof(i));
	i.lib = HSM_LIB_SM2;
	i.index = index;
	memcpy(i.type, "SM2", 4);
	snprintf(i.usage, sizeof(i.usage), "%s", usage);
	snprintf(i.label, sizeof(i.label), "%s", label);
	memcpy(i.kcv, h, 8);
	assert_int_equal(hsm_keystore_put(ks, &i, d, sizeof(d)), TKM_OK);
}

static void
cmd_ok(struct fix *f, const char *req)
{
	const char *r = hsmtest_cmd(f->t, req, NULL);

	if (memcmp(r + 2, "00", 2) != 0)
		fail_msg("%s: %.4s", req, r);
}

/* Keys in every library of the source; SM2 and RSA pairs by EI, as the
 * business commands make them. */
static void
populate(struct fix *f)
{
	put_sym(f->src, HSM_LIB_DES, 0x000, "000", "TK", k16_hex);
	put_sym(f->src, HSM_LIB_DES, 0x0A1, "109", "", k8_hex);
	put_sym(f->src, HSM_LIB_DES, 0xFFF, "008",
	    "0123456789012345678901234567890123456789012345678901234567890123",
	    k24_hex);
	put_sym(f->src, HSM_LIB_SM4, 0x001, "000", LABEL_SECR, sm4_hex);
	put_sym(f->src, HSM_LIB_SM4, 0x7FF, "00A", "b", sm4b_hex);
	cmd_ok(f, "EIS00256;01");
	cmd_ok(f, "EIS20256;20");
	put_sm2(f->src, 5, kat_d, "3", "kat");
	cmd_ok(f, "EIR1102401;02");
	cmd_ok(f, "EIR0102401;20");
}

struct keyset {
	unsigned n;
	struct hsm_key_info k[MAX_KEYS];
};

static int
collect(void *arg, const struct hsm_key_info *k)
{
	struct keyset *s = arg;

	assert_true(s->n < MAX_KEYS);
	s->k[s->n++] = *k;
	return TKM_OK;
}

static void
keys_of(struct hsm_keystore *ks, int lib, struct keyset *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(hsm_keystore_list(ks, lib, collect, s), TKM_OK);
}

/* What a tampered restore must not change: every key's identity. */
static void
assert_same_store(const struct keyset *a, struct hsm_keystore *ks)
{
	struct keyset b;
	unsigned i;

	keys_of(ks, 0, &b);
	assert_int_equal(a->n, b.n);
	for (i = 0; i < a->n; i++) {
		assert_int_equal(a->k[i].lib, b.k[i].lib);
		assert_int_equal(a->k[i].index, b.k[i].index);
		assert_int_equal(a->k[i].version, b.k[i].version);
		assert_memory_equal(a->k[i].kcv, b.k[i].kcv, 8);
		assert_string_equal(a->k[i].type, b.k[i].type);
	}
}

/* The keys of lib in a and b: same indexes, attributes and secrets. */
static void
assert_same_keys(struct hsm_keystore *a, struct hsm_keystore *b, int lib)
{
	static uint8_t sa[HSM_MAX_SECRET], sb[HSM_MAX_SECRET];
	struct keyset x, y;
	struct hsm_key_info ia, ib;
	size_t la, lb;
	unsigned i;

	keys_of(a, lib, &x);
	keys_of(b, lib, &y);
	assert_int_equal(x.n, y.n);
	for (i = 0; i < x.n; i++) {
		assert_int_equal(x.k[i].index, y.k[i].index);
		assert_int_equal(hsm_keystore_get(a, lib, x.k[i].index, &ia, sa,
				     sizeof(sa), &la),
		    TKM_OK);
		assert_int_equal(hsm_keystore_get(b, lib, y.k[i].index, &ib, sb,
				     sizeof(sb), &lb),
		    TKM_OK);
		assert_string_equal(ia.type, ib.type);
		assert_string_equal(ia.usage, ib.usage);
		assert_string_equal(ia.label, ib.label);
		assert_memory_equal(ia.kcv, ib.kcv, 8);
		assert_int_equal(la, lb);
		assert_memory_equal(sa, sb, la);
	}
	tkm_cleanse(sa, sizeof(sa));
	tkm_cleanse(sb, sizeof(sb));
}

static size_t
make(struct hsm_keystore *ks, const struct hsm_dk *dk, int lib, uint8_t **file,
    unsigned *count)
{
	size_t len = 0;

	assert_int_equal(
	    hsm_libbak_make(ks, dk, lib, 0, SERIAL, file, &len, count), TKM_OK);
	return len;
}

struct seen {
	unsigned n;
	unsigned index[MAX_KEYS];
	unsigned version[MAX_KEYS];
};

static int
note(void *arg, const struct hsm_key_info *k)
{
	struct seen *s = arg;

	assert_true(s->n < MAX_KEYS);
	s->index[s->n] = k->index;
	s->version[s->n++] = k->version;
	return TKM_OK;
}

static int
restore(struct hsm_keystore *ks, const struct hsm_dk *dk, const uint8_t *file,
    size_t len, int replace, const char **why)
{
	struct hsm_libbak_info info;
	const char *w = NULL;
	int rc;

	rc = hsm_libbak_restore(
	    ks, dk, file, len, replace, NULL, NULL, &info, &w);
	if (rc != TKM_OK)
		assert_non_null(w);
	if (why != NULL)
		*why = w;
	return rc;
}

static int
file_has(const char *path, const void *p, size_t n)
{
	static uint8_t buf[4 << 20];
	size_t len;
	FILE *fp;

	if ((fp = fopen(path, "rb")) == NULL)
		return 0;
	len = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	return len >= n && memmem(buf, len, p, n) != NULL;
}

/* --- an independent writer (docs/backup.md) ------------------------------- */

static void
be(uint8_t *p, uint64_t v, size_t n)
{
	while (n-- > 0) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

/* header || SM4-CTR(body) || HMAC-SM3; out holds HDR + n + TAG. */
static size_t
seal(const struct hsm_dk *dk, int lib, unsigned count, const uint8_t *body,
    size_t n, uint8_t *out)
{
	uint8_t enc[16], mac[32];

	memset(out, 0, HDR_LEN);
	memcpy(out, "TKMSLIB", 8);
	out[8] = 1;
	out[9] = (uint8_t)lib;
	hsm_dk_kcv(dk, out + 12);
	be(out + 20, 1700000000, 8);
	be(out + 28, count, 4);
	memcpy(out + 32, "CRAFTED", 7);
	assert_int_equal(tkm_random(out + 48, 16), TKM_OK);
	assert_int_equal(
	    hsm_dk_derive(dk, "tkms backup enc", enc, sizeof(enc)), TKM_OK);
	assert_int_equal(
	    hsm_dk_derive(dk, "tkms backup mac", mac, sizeof(mac)), TKM_OK);
	assert_int_equal(tkm_cipher(TKM_SM4, TKM_CTR, TKM_ENCRYPT, enc,
			     sizeof(enc), out + 48, body, n, out + HDR_LEN),
	    TKM_OK);
	assert_int_equal(tkm_hmac(TKM_SM3, mac, sizeof(mac), out, HDR_LEN + n,
			     out + HDR_LEN + n),
	    TKM_OK);
	return HDR_LEN + n + TAG_LEN;
}

/* One record, lengths as given (so that they can be wrong). */
struct rawrec {
	unsigned index;
	const char *type; /* 3 bytes */
	unsigned ulen;
	const char *usage;
	unsigned llen;
	const char *label;
	const uint8_t *kcv;
	unsigned slen;         /* the length field */
	const uint8_t *secret; /* slen bytes follow */
};

static void
rec(struct tkm_wr *w, const struct rawrec *r)
{
	uint8_t b[8];

	be(b, r->index, 2);
	tkm_wr_bytes(w, b, 2);
	tkm_wr_bytes(w, r->type, 3);
	b[0] = (uint8_t)r->ulen;
	tkm_wr_bytes(w, b, 1);
	tkm_wr_bytes(w, r->usage, r->ulen);
	b[0] = (uint8_t)r->llen;
	tkm_wr_bytes(w, b, 1);
	tkm_wr_bytes(w, r->label, r->llen);
	tkm_wr_bytes(w, r->kcv, 8);
	be(b, 1700000000, 8);
	tkm_wr_bytes(w, b, 8);
	be(b, 3, 4);
	tkm_wr_bytes(w, b, 4);
	be(b, r->slen, 2);
	tkm_wr_bytes(w, b, 2);
	tkm_wr_bytes(w, r->secret, r->slen);
	assert_int_equal(tkm_wr_error(w), TKM_OK);
}

/* --- round trips ---------------------------------------------------------- */

static void
test_round_trip(void **state)
{
	static const int libs[] = {
	    HSM_LIB_DES, HSM_LIB_SM4, HSM_LIB_RSA, HSM_LIB_SM2};
	static const unsigned want[] = {3, 2, 2, 3};
	struct fix *f = *state;
	struct hsm_libbak_info info;
	struct keyset before;
	struct seen seen;
	const char *why;
	uint8_t *file, kcv[8];
	unsigned count, i, j;
	size_t len;

	populate(f);
	hsm_dk_kcv(f->dk, kcv);
	for (i = 0; i < NELEM(libs); i++) {
		len = make(f->src, f->t->st.dk, libs[i], &file, &count);
		assert_int_equal(count, want[i]);
		assert_int_equal(
		    hsm_libbak_peek(file, len, &info, &why), TKM_OK);
		assert_int_equal(info.lib, libs[i]);
		assert_int_equal(info.count, want[i]);
		assert_string_equal(info.serial, SERIAL);
		assert_memory_equal(info.dk_kcv, kcv, 8);
		assert_true(info.created >= (int64_t)time(NULL) - 60 &&
			    info.created <= (int64_t)time(NULL));
		memset(&seen, 0, sizeof(seen));
		memset(&info, 0, sizeof(info));
		why = "x";
		assert_int_equal(hsm_libbak_restore(f->dst, f->dk, file, len, 0,
				     note, &seen, &info, &why),
		    TKM_OK);
		assert_null(why);
		assert_int_equal(info.count, want[i]);
		assert_string_equal(info.serial, SERIAL);
		assert_int_equal(seen.n, want[i]);
		for (j = 0; j < seen.n; j++)
			assert_int_equal(seen.version[j], 1);
		assert_same_keys(f->src, f->dst, libs[i]);
		free(file);
	}
	keys_of(f->dst, 0, &before);
	assert_int_equal(before.n, 10);
}

/* The restored keys serve commands: same answers as the source. */
static void
test_restored_keys_work(void **state)
{
	struct fix *f = *state;
	struct hsmtest *t2 = hsmtest_new(1);
	struct hsm_keystore *ks2 = NULL;
	char a[64], b[64];
	uint8_t *file;
	unsigned count;
	size_t len;

	populate(f);
	assert_int_equal(hsm_keystore_open(t2->dir, f->dk, &ks2), TKM_OK);
	len = make(f->src, f->t->st.dk, HSM_LIB_DES, &file, &count);
	assert_int_equal(restore(ks2, f->dk, file, len, 0, NULL), TKM_OK);
	free(file);
	/* BU: KCV of the key at K000 (type 000). */
	snprintf(a, sizeof(a), "%s", hsmtest_cmd(f->t, "BU000K000", NULL));
	snprintf(b, sizeof(b), "%s", hsmtest_cmd(t2, "BU000K000", NULL));
	assert_memory_equal(a, "BV00", 4);
	assert_string_equal(a, b);
	snprintf(a, sizeof(a), "%s", hsmtest_cmd(f->t, "BU109K0A1", NULL));
	snprintf(b, sizeof(b), "%s", hsmtest_cmd(t2, "BU109K0A1", NULL));
	assert_memory_equal(a, "BV00", 4);
	assert_string_equal(a, b);
	hsm_keystore_close(ks2);
	hsmtest_free(t2);
}

/* A worker that cached an SM2 pair uses the restored one afterwards:
 * the restore gives the index a new version. */
static void
test_worker_cache(void **state)
{
	static const char msg[] = "0014message digest;01";
	struct fix *f = *state;
	struct hsm_keystore *ks = NULL;
	struct tkm_sm2 *kat = NULL, *old = NULL;
	struct hsm_key_info info;
	uint8_t d[32], sig[64], *file;
	const char *r;
	char req[64];
	unsigned count;
	size_t len;

	/* The source's worker: an EI pair at 01, used once (cached). */
	cmd_ok(f, "EIS00256;01");
	assert_int_equal(
	    hsm_keystore_get(f->src, HSM_LIB_SM2, 1, &info, d, sizeof(d), &len),
	    TKM_OK);
	assert_int_equal(tkm_sm2_from_priv(d, &old), TKM_OK);
	tkm_cleanse(d, sizeof(d));
	snprintf(req, sizeof(req), "EW20070000%s", msg);
	r = hsmtest_cmd(f->t, req, NULL);
	assert_memory_equal(r, "EX000064", 8);
	memcpy(sig, r + 8, 64);
	assert_int_equal(
	    tkm_sm2_verify(old, NULL, 0, "message digest", 14, sig), TKM_OK);
	/* Another store has the KAT pair at 01; its backup replaces it. */
	put_sm2(f->dst, 1, kat_d, "0", "kat");
	len = make(f->dst, f->dk, HSM_LIB_SM2, &file, &count);
	assert_int_equal(hsm_keystore_open(f->t->dir, f->dk, &ks), TKM_OK);
	assert_int_equal(restore(ks, f->dk, file, len, 1, NULL), TKM_OK);
	free(file);
	assert_int_equal(
	    hsm_keystore_get(f->src, HSM_LIB_SM2, 1, &info, NULL, 0, NULL),
	    TKM_OK);
	assert_int_equal(info.version, 2);
	r = hsmtest_cmd(f->t, req, NULL);
	assert_memory_equal(r, "EX000064", 8);
	memcpy(sig, r + 8, 64);
	hsmtest_unhex(kat_d, d, sizeof(d));
	assert_int_equal(tkm_sm2_from_priv(d, &kat), TKM_OK);
	assert_int_equal(
	    tkm_sm2_verify(kat, NULL, 0, "message digest", 14, sig), TKM_OK);
	assert_int_equal(
	    tkm_sm2_verify(old, NULL, 0, "message digest", 14, sig),
	    TKM_ERR_VERIFY);
	tkm_sm2_free(kat);
	tkm_sm2_free(old);
	hsm_keystore_close(ks);
}

/* The largest DES library there is: 4096 keys of 24 bytes, 64-byte
 * labels, 7-character usages. Its file fits the console's limit (768 KiB)
 * and, in base64, a management message (1 MiB). */
static void
test_full_library(void **state)
{
	struct fix *f = *state;
	struct hsm_key_info i;
	uint8_t k[24], *file;
	unsigned n, count;
	size_t len;

	hsmtest_unhex(k24_hex, k, sizeof(k));
	memset(&i, 0, sizeof(i));
	i.lib = HSM_LIB_DES;
	memcpy(i.type, "000", 4);
	memcpy(i.usage, "1234567", 8);
	memset(i.label, 'L', 64);
	assert_int_equal(tkm_kcv(TKM_DES, k, sizeof(k), i.kcv), TKM_OK);
	assert_int_equal(hsm_keystore_begin(f->src), TKM_OK);
	for (n = 0; n <= HSM_SYM_MAX_INDEX; n++) {
		i.index = n;
		assert_int_equal(
		    hsm_keystore_put(f->src, &i, k, sizeof(k)), TKM_OK);
	}
	assert_int_equal(hsm_keystore_commit(f->src), TKM_OK);
	len = make(f->src, f->t->st.dk, HSM_LIB_DES, &file, &count);
	assert_int_equal(count, 4096);
	assert_int_equal(len, HDR_LEN + 4096 * (29 + 7 + 64 + 24) + TAG_LEN);
	assert_true(len <= (768u << 10));
	assert_true(TKM_B64_LEN(len) + 200 <= (1u << 20));
	assert_int_equal(restore(f->dst, f->dk, file, len, 0, NULL), TKM_OK);
	free(file);
	assert_int_equal(
	    hsm_keystore_get(f->dst, HSM_LIB_DES, 0xFFF, &i, NULL, 0, NULL),
	    TKM_OK);
	assert_string_equal(i.usage, "1234567");
}

static int
count_keys(void *arg, const struct hsm_key_info *k)
{
	(void)k;
	(*(unsigned *)arg)++;
	return TKM_OK;
}

static void
test_full_library_count(void **state)
{
	struct fix *f = *state;
	struct hsm_key_info i;
	uint8_t k[16], *file;
	unsigned n, count, listed = 0;
	size_t len;

	hsmtest_unhex(sm4_hex, k, sizeof(k));
	memset(&i, 0, sizeof(i));
	i.lib = HSM_LIB_SM4;
	memcpy(i.type, "000", 4);
	assert_int_equal(tkm_kcv(TKM_SM4, k, sizeof(k), i.kcv), TKM_OK);
	assert_int_equal(hsm_keystore_begin(f->src), TKM_OK);
	for (n = 0; n <= HSM_SYM_MAX_INDEX; n++) {
		i.index = n;
		assert_int_equal(
		    hsm_keystore_put(f->src, &i, k, sizeof(k)), TKM_OK);
	}
	assert_int_equal(hsm_keystore_commit(f->src), TKM_OK);
	len = make(f->src, f->t->st.dk, HSM_LIB_SM4, &file, &count);
	assert_int_equal(count, 4096);
	assert_int_equal(restore(f->dst, f->dk, file, len, 0, NULL), TKM_OK);
	free(file);
	assert_int_equal(
	    hsm_keystore_list(f->dst, HSM_LIB_SM4, count_keys, &listed),
	    TKM_OK);
	assert_int_equal(listed, 4096);
}

static void
test_only_and_empty(void **state)
{
	struct fix *f = *state;
	struct hsm_libbak_info info;
	uint8_t *file = NULL;
	const char *why;
	unsigned count = 9;
	size_t len = 0;

	populate(f);
	/* one key (the maintenance pair's backup) */
	assert_int_equal(hsm_libbak_make(f->src, f->t->st.dk, HSM_LIB_SM2, 5,
			     "S", &file, &len, &count),
	    TKM_OK);
	assert_int_equal(count, 1);
	assert_int_equal(restore(f->dst, f->dk, file, len, 0, NULL), TKM_OK);
	free(file);
	{
		struct hsm_key_info a, b;

		assert_int_equal(
		    hsm_keystore_get(f->src, HSM_LIB_SM2, 5, &a, NULL, 0, NULL),
		    TKM_OK);
		assert_int_equal(
		    hsm_keystore_get(f->dst, HSM_LIB_SM2, 5, &b, NULL, 0, NULL),
		    TKM_OK);
		assert_memory_equal(a.kcv, b.kcv, 8);
		assert_string_equal(b.label, "kat");
		assert_string_equal(b.usage, "3");
	}
	assert_int_equal(hsm_libbak_make(f->src, f->t->st.dk, HSM_LIB_SM2, 6,
			     "S", &file, &len, &count),
	    TKM_ERR_NO_KEY);
	assert_null(file);
	assert_int_equal(hsm_libbak_make(f->src, f->t->st.dk, HSM_LIB_SM2, 21,
			     "S", &file, &len, &count),
	    TKM_ERR_INDEX);
	/* bad arguments */
	assert_int_equal(hsm_libbak_make(f->src, f->t->st.dk, 5, 0, "S", &file,
			     &len, &count),
	    TKM_ERR_INPUT);
	assert_int_equal(hsm_libbak_make(f->src, f->t->st.dk, HSM_LIB_DES, 0,
			     "TKMS0123456789ABC", &file, &len, &count),
	    TKM_ERR_INPUT);
	assert_int_equal(hsm_libbak_make(f->src, f->t->st.dk, HSM_LIB_DES, 0,
			     "bad\nserial", &file, &len, &count),
	    TKM_ERR_INPUT);
	/* an empty library: a valid backup of no keys */
	assert_int_equal(hsm_libbak_make(f->dst, f->dk, HSM_LIB_RSA, 0, NULL,
			     &file, &len, &count),
	    TKM_OK);
	assert_int_equal(count, 0);
	assert_int_equal(len, HDR_LEN + TAG_LEN);
	assert_int_equal(hsm_libbak_peek(file, len, &info, &why), TKM_OK);
	assert_string_equal(info.serial, "");
	/* restored with replace, it empties the library */
	assert_int_equal(
	    restore(f->src, f->dk, file, len, 0, &why), TKM_ERR_INDEX);
	assert_int_equal(restore(f->src, f->dk, file, len, 1, NULL), TKM_OK);
	free(file);
	assert_int_equal(
	    hsm_keystore_get(f->src, HSM_LIB_RSA, 2, NULL, NULL, 0, NULL),
	    TKM_ERR_NO_KEY);
}

/* --- refusals ------------------------------------------------------------- */

static void
test_other_dk(void **state)
{
	struct fix *f = *state;
	struct hsm_dk *other = dk_of(other_dk);
	struct hsm_keystore *ks = NULL;
	struct keyset before;
	char dir[64];
	const char *why;
	uint8_t *file;
	unsigned count;
	size_t len;

	hsmtest_mkdtemp(dir);
	hsmtest_remember(dir, 1);
	assert_int_equal(hsm_keystore_open(dir, other, &ks), TKM_OK);
	put_sym(ks, HSM_LIB_DES, 1, "000", "", k16_hex);
	len = make(ks, other, HSM_LIB_DES, &file, &count);
	keys_of(f->dst, 0, &before);
	assert_int_equal(
	    restore(f->dst, f->dk, file, len, 1, &why), TKM_ERR_SEALED);
	assert_non_null(strstr(why, "made under another device key"));
	assert_non_null(strstr(why, "this HSM has " TEST_KCV));
	assert_same_store(&before, f->dst);
	/* and the other way round */
	free(file);
	put_sym(f->dst, HSM_LIB_DES, 1, "000", "", k16_hex);
	len = make(f->dst, f->dk, HSM_LIB_DES, &file, &count);
	assert_int_equal(
	    restore(ks, other, file, len, 1, &why), TKM_ERR_SEALED);
	assert_non_null(strstr(why, "KCV " TEST_KCV));
	free(file);
	hsm_keystore_close(ks);
	hsm_dk_free(other);
	hsmtest_rmdir(dir);
	hsmtest_remember(dir, 0);
}

/* Every byte flipped, every truncation, an extension: refused, and the
 * store unchanged (restores run with replace, so that one accepted would
 * show). */
static void
tamper_one(struct fix *f, int lib)
{
	const struct keyset *before;
	static struct keyset snap;
	static uint8_t buf[8192];
	static const uint8_t masks[] = {0x01, 0x80, 0xFF};
	uint8_t *file;
	unsigned count, m;
	size_t len, i;
	const char *why;
	int rc;

	len = make(f->src, f->t->st.dk, lib, &file, &count);
	assert_true(count > 0 && len + 64 <= sizeof(buf));
	keys_of(f->dst, 0, &snap);
	before = &snap;
	for (i = 0; i < len; i++) {
		for (m = 0; m < NELEM(masks); m++) {
			memcpy(buf, file, len);
			buf[i] ^= masks[m];
			rc = restore(f->dst, f->dk, buf, len, 1, &why);
			if (i < 9 || (i >= 10 && i < 12))
				assert_int_equal(rc, TKM_ERR_INPUT);
			else if (i >= 12 && i < 20)
				assert_int_equal(rc, TKM_ERR_SEALED);
			else if (rc != TKM_ERR_INPUT)
				assert_int_equal(rc, TKM_ERR_VERIFY);
			if (i >= HDR_LEN - 16) /* IV, body, tag */
				assert_int_equal(rc, TKM_ERR_VERIFY);
			if (rc == TKM_ERR_VERIFY)
				assert_string_equal(why,
				    "the file was altered or truncated: "
				    "nothing restored");
		}
	}
	assert_same_store(before, f->dst);
	for (i = 0; i < len; i++) {
		rc = restore(f->dst, f->dk, file, i, 1, &why);
		if (rc != TKM_ERR_INPUT)
			assert_int_equal(rc, TKM_ERR_VERIFY);
		if (i >= 8)
			assert_non_null(strstr(why, "altered or truncated"));
	}
	for (i = 1; i <= 64; i *= 2) {
		memcpy(buf, file, len);
		memset(buf + len, 0, i);
		rc = restore(f->dst, f->dk, buf, len + i, 1, &why);
		if (rc != TKM_ERR_INPUT)
			assert_int_equal(rc, TKM_ERR_VERIFY);
		assert_non_null(strstr(why, "altered or truncated"));
	}
	assert_same_store(before, f->dst);
	/* the untouched file is accepted: the refusals were the tampering */
	assert_int_equal(restore(f->dst, f->dk, file, len, 1, NULL), TKM_OK);
	free(file);
}

static void
test_tampered(void **state)
{
	struct fix *f = *state;

	populate(f);
	put_sym(f->dst, HSM_LIB_DES, 7, "000", "", k8_hex);
	put_sym(f->dst, HSM_LIB_SM4, 9, "000", "", sm4_hex);
	put_sm2(f->dst, 3, kat_d, "0", "");
	tamper_one(f, HSM_LIB_DES);
	tamper_one(f, HSM_LIB_SM4);
	tamper_one(f, HSM_LIB_SM2);
}

static void
test_tampered_rsa(void **state)
{
	struct fix *f = *state;
	const struct keyset *b;
	static struct keyset before;
	uint8_t *file, *buf;
	unsigned count;
	size_t len, i;

	cmd_ok(f, "EIR1102401;02");
	put_sm2(f->dst, 3, kat_d, "0", "");
	len = make(f->src, f->t->st.dk, HSM_LIB_RSA, &file, &count);
	buf = malloc(len);
	assert_non_null(buf);
	keys_of(f->dst, 0, &before);
	b = &before;
	/* every 7th byte: RSA files are large */
	for (i = 0; i < len; i += 7) {
		memcpy(buf, file, len);
		buf[i] ^= 0x10;
		assert_int_not_equal(
		    restore(f->dst, f->dk, buf, len, 1, NULL), TKM_OK);
		assert_int_not_equal(
		    restore(f->dst, f->dk, file, i, 1, NULL), TKM_OK);
	}
	assert_same_store(b, f->dst);
	free(buf);
	free(file);
}

static void
test_peek(void **state)
{
	struct fix *f = *state;
	struct hsm_libbak_info info;
	uint8_t *file, buf[256];
	const char *why;
	unsigned count;
	size_t len;

	(void)f;
	assert_int_equal(hsm_libbak_peek((const uint8_t *)"", 0, &info, &why),
	    TKM_ERR_INPUT);
	assert_string_equal(why, "not a tkms key-library backup");
	assert_int_equal(
	    hsm_libbak_peek((const uint8_t *)"TKMSDKB1xxxx", 12, &info, &why),
	    TKM_ERR_INPUT);
	assert_string_equal(why, "not a tkms key-library backup");
	len = make(f->src, f->t->st.dk, HSM_LIB_SM4, &file, &count);
	assert_true(len <= sizeof(buf));
	memcpy(buf, file, len);
	buf[8] = 2;
	assert_int_equal(hsm_libbak_peek(buf, len, &info, &why), TKM_ERR_INPUT);
	assert_non_null(strstr(why, "another format"));
	memcpy(buf, file, len);
	buf[9] = 0;
	assert_int_equal(hsm_libbak_peek(buf, len, &info, &why), TKM_ERR_INPUT);
	assert_int_equal(info.lib, 0);
	buf[9] = 5;
	assert_int_equal(hsm_libbak_peek(buf, len, &info, &why), TKM_ERR_INPUT);
	/* a count the length cannot hold */
	memcpy(buf, file, len);
	buf[31] = 1;
	assert_int_equal(hsm_libbak_peek(buf, len, &info, &why), TKM_ERR_INPUT);
	/* serial: printable, then NULs only */
	memcpy(buf, file, len);
	buf[32] = '\n';
	assert_int_equal(hsm_libbak_peek(buf, len, &info, &why), TKM_ERR_INPUT);
	memcpy(buf, file, len);
	assert_int_equal(hsm_libbak_peek(buf, len, &info, &why), TKM_OK);
	assert_int_equal(info.count, 0);
	assert_string_equal(info.serial, SERIAL);
	free(file);
}

/* Records behind a valid tag, written by seal(): the parser is strict. */
static void
test_records_strict(void **state)
{
	struct fix *f = *state;
	static uint8_t body[4096], file[4096 + 96];
	static const uint8_t junk[64] = {1, 2, 3};
	uint8_t k16[16], k8[8], sm4[16], kcv16[8], kcv8[8], kcv4[8], bad[8];
	uint8_t d[32], kcvd[8], xy[64], h[32];
	struct tkm_sm2 *sm2 = NULL;
	struct tkm_wr w;
	struct keyset before;
	const char *why;
	size_t n, len;
	struct rawrec ok = {5, "000", 0, "", 1, "L", NULL, 16, NULL};
	struct rawrec r;

	hsmtest_unhex(k16_hex, k16, sizeof(k16));
	hsmtest_unhex(k8_hex, k8, sizeof(k8));
	hsmtest_unhex(sm4_hex, sm4, sizeof(sm4));
	hsmtest_unhex(kat_d, d, sizeof(d));
	assert_int_equal(tkm_kcv(TKM_DES, k16, 16, kcv16), TKM_OK);
	assert_int_equal(tkm_kcv(TKM_DES, k8, 8, kcv8), TKM_OK);
	assert_int_equal(tkm_kcv(TKM_SM4, sm4, 16, kcv4), TKM_OK);
	assert_int_equal(tkm_sm2_from_priv(d, &sm2), TKM_OK);
	assert_int_equal(tkm_sm2_pub(sm2, xy), TKM_OK);
	tkm_sm2_free(sm2);
	assert_int_equal(tkm_hash(TKM_SM3, xy, 64, h), TKM_OK);
	memcpy(kcvd, h, 8);
	memcpy(bad, kcv16, 8);
	bad[7] ^= 1;
	ok.kcv = kcv16;
	ok.secret = k16;
	put_sym(f->dst, HSM_LIB_SM4, 1, "000", "", sm4_hex);
	keys_of(f->dst, 0, &before);

#define BODY_BEGIN() tkm_wr_init(&w, body, sizeof(body))
#define REFUSED(lib, count, want)                                              \
	do {                                                                   \
		len = seal(f->dk, (lib), (count), body, w.len, file);          \
		assert_int_equal(                                              \
		    restore(f->dst, f->dk, file, len, 1, &why), (want));       \
		assert_same_store(&before, f->dst);                            \
	} while (0)

	/* the writer agrees with the format: accepted */
	BODY_BEGIN();
	rec(&w, &ok);
	r = ok;
	r.index = 0xFFF;
	r.slen = 8;
	r.secret = k8;
	r.kcv = kcv8;
	rec(&w, &r);
	len = seal(f->dk, HSM_LIB_DES, 2, body, w.len, file);
	assert_int_equal(restore(f->dst, f->dk, file, len, 0, NULL), TKM_OK);
	assert_int_equal(
	    hsm_keystore_get(f->dst, HSM_LIB_DES, 0xFFF, NULL, NULL, 0, &n),
	    TKM_OK);
	assert_int_equal(n, 8);
	keys_of(f->dst, 0, &before);

	/* count: one more, one less than the records (a long label, so
	 * that the size alone does not give it away) */
	BODY_BEGIN();
	rec(&w, &(struct rawrec){5, "000", 0, "", 20, "01234567890123456789",
		    kcv16, 16, k16});
	REFUSED(HSM_LIB_DES, 2, TKM_ERR_INPUT);
	assert_string_equal(
	    why, "the backup's records are malformed: nothing restored");
	rec(&w, &(struct rawrec){6, "000", 0, "", 0, "", kcv16, 16, k16});
	REFUSED(HSM_LIB_DES, 1, TKM_ERR_INPUT);
	/* indexes: equal, decreasing, out of range */
	BODY_BEGIN();
	rec(&w, &ok);
	rec(&w, &ok);
	REFUSED(HSM_LIB_DES, 2, TKM_ERR_INPUT);
	BODY_BEGIN();
	rec(&w, &ok);
	rec(&w, &(struct rawrec){4, "000", 0, "", 0, "", kcv16, 16, k16});
	REFUSED(HSM_LIB_DES, 2, TKM_ERR_INPUT);
	BODY_BEGIN();
	rec(&w, &(struct rawrec){0x1000, "000", 0, "", 0, "", kcv16, 16, k16});
	REFUSED(HSM_LIB_DES, 1, TKM_ERR_INPUT);
	/* lengths */
	BODY_BEGIN();
	rec(&w,
	    &(struct rawrec){5, "000", 8, "12345678", 0, "", kcv16, 16, k16});
	REFUSED(HSM_LIB_DES, 1, TKM_ERR_INPUT);
	{
		char l65[66];

		memset(l65, 'x', 65);
		l65[65] = '\0';
		BODY_BEGIN();
		rec(&w,
		    &(struct rawrec){5, "000", 0, "", 65, l65, kcv16, 16, k16});
		REFUSED(HSM_LIB_DES, 1, TKM_ERR_INPUT);
	}
	BODY_BEGIN();
	rec(&w, &(struct rawrec){5, "000", 0, "", 0, "", kcv16, 0, k16});
	REFUSED(HSM_LIB_DES, 1, TKM_ERR_INPUT);
	BODY_BEGIN();
	rec(&w, &(struct rawrec){5, "000", 0, "", 0, "", kcv16, 10, k16});
	REFUSED(HSM_LIB_DES, 1, TKM_ERR_INPUT);
	BODY_BEGIN();
	rec(&w, &(struct rawrec){5, "000", 0, "", 0, "", kcv4, 24, junk});
	REFUSED(HSM_LIB_SM4, 1, TKM_ERR_INPUT);
	/* a secret length past the end */
	BODY_BEGIN();
	rec(&w, &(struct rawrec){5, "000", 0, "", 0, "", kcv16, 16, k16});
	w.len -= 1;
	REFUSED(HSM_LIB_DES, 1, TKM_ERR_INPUT);
	/* trailing bytes */
	BODY_BEGIN();
	rec(&w, &ok);
	tkm_wr_bytes(&w, "", 1);
	REFUSED(HSM_LIB_DES, 1, TKM_ERR_INPUT);
	/* NUL in type, usage, label */
	BODY_BEGIN();
	rec(&w, &(struct rawrec){5,
		    "0\0"
		    "0",
		    0, "", 0, "", kcv16, 16, k16});
	REFUSED(HSM_LIB_DES, 1, TKM_ERR_INPUT);
	BODY_BEGIN();
	rec(&w, &(struct rawrec){5, "000", 2, "a\0", 0, "", kcv16, 16, k16});
	REFUSED(HSM_LIB_DES, 1, TKM_ERR_INPUT);
	BODY_BEGIN();
	rec(&w, &(struct rawrec){5, "000", 0, "", 3, "a\0b", kcv16, 16, k16});
	REFUSED(HSM_LIB_DES, 1, TKM_ERR_INPUT);
	/* a KCV that is not the key's */
	BODY_BEGIN();
	rec(&w, &(struct rawrec){5, "000", 0, "", 0, "", bad, 16, k16});
	REFUSED(HSM_LIB_DES, 1, TKM_ERR_VERIFY);
	assert_non_null(strstr(why, "des 005 does not match its KCV"));
	/* the second record bad: the first is not written either */
	BODY_BEGIN();
	rec(&w, &(struct rawrec){0x100, "000", 0, "", 0, "", kcv16, 16, k16});
	rec(&w, &(struct rawrec){0x101, "000", 0, "", 0, "", bad, 16, k16});
	REFUSED(HSM_LIB_DES, 2, TKM_ERR_VERIFY);
	/* SM2: index 0 and 21, a d of the wrong length or KCV */
	BODY_BEGIN();
	rec(&w, &(struct rawrec){0, "SM2", 1, "0", 0, "", kcvd, 32, d});
	REFUSED(HSM_LIB_SM2, 1, TKM_ERR_INPUT);
	BODY_BEGIN();
	rec(&w, &(struct rawrec){21, "SM2", 1, "0", 0, "", kcvd, 32, d});
	REFUSED(HSM_LIB_SM2, 1, TKM_ERR_INPUT);
	BODY_BEGIN();
	rec(&w, &(struct rawrec){1, "SM2", 1, "0", 0, "", kcvd, 33, junk});
	REFUSED(HSM_LIB_SM2, 1, TKM_ERR_INPUT);
	BODY_BEGIN();
	rec(&w, &(struct rawrec){1, "SM2", 1, "0", 0, "", kcvd, 31, d});
	REFUSED(HSM_LIB_SM2, 1, TKM_ERR_VERIFY);
	BODY_BEGIN();
	rec(&w, &(struct rawrec){1, "SM2", 1, "0", 0, "", kcv16, 32, d});
	REFUSED(HSM_LIB_SM2, 1, TKM_ERR_VERIFY);
	/* RSA: not a private key */
	BODY_BEGIN();
	rec(&w, &(struct rawrec){1, "RSA", 1, "0", 0, "", kcv16, 32, d});
	REFUSED(HSM_LIB_RSA, 1, TKM_ERR_VERIFY);
	/* SM2 accepted */
	BODY_BEGIN();
	rec(&w, &(struct rawrec){1, "SM2", 1, "2", 3, "kat", kcvd, 32, d});
	len = seal(f->dk, HSM_LIB_SM2, 1, body, w.len, file);
	assert_int_equal(restore(f->dst, f->dk, file, len, 0, NULL), TKM_OK);
	/* no records, count 0: accepted (an empty library) */
	BODY_BEGIN();
	len = seal(f->dk, HSM_LIB_RSA, 0, body, w.len, file);
	assert_int_equal(restore(f->dst, f->dk, file, len, 0, NULL), TKM_OK);
	tkm_cleanse(d, sizeof(d));
#undef BODY_BEGIN
#undef REFUSED
}

/* --- replace -------------------------------------------------------------- */

static void
test_replace(void **state)
{
	struct fix *f = *state;
	struct keyset before, after;
	struct hsm_key_info info;
	struct seen seen;
	struct hsm_libbak_info li;
	const char *why;
	uint8_t *file;
	unsigned count;
	size_t len;

	/* backup: DES 2 and 3 */
	put_sym(f->src, HSM_LIB_DES, 2, "000", "new2", k16_hex);
	put_sym(f->src, HSM_LIB_DES, 3, "000", "new3", k8_hex);
	len = make(f->src, f->t->st.dk, HSM_LIB_DES, &file, &count);
	/* destination: DES 1 and 2, SM4 4 */
	put_sym(f->dst, HSM_LIB_DES, 1, "001", "old1", k24_hex);
	put_sym(f->dst, HSM_LIB_DES, 2, "001", "old2", k24_hex);
	put_sym(f->dst, HSM_LIB_SM4, 4, "000", "", sm4_hex);
	keys_of(f->dst, 0, &before);
	assert_int_equal(
	    restore(f->dst, f->dk, file, len, 0, &why), TKM_ERR_INDEX);
	assert_string_equal(
	    why, "the des library holds 2 keys: restore with --replace");
	assert_same_store(&before, f->dst);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(hsm_libbak_restore(f->dst, f->dk, file, len, 1, note,
			     &seen, &li, &why),
	    TKM_OK);
	free(file);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.index[0], 2);
	assert_int_equal(seen.version[0], 2); /* the row existed */
	assert_int_equal(seen.index[1], 3);
	assert_int_equal(seen.version[1], 1);
	keys_of(f->dst, HSM_LIB_DES, &after);
	assert_int_equal(after.n, 2);
	assert_int_equal(after.k[0].index, 2);
	assert_string_equal(after.k[0].label, "new2");
	assert_string_equal(after.k[0].type, "000");
	assert_int_equal(after.k[1].index, 3);
	assert_int_equal(
	    hsm_keystore_get(f->dst, HSM_LIB_DES, 1, &info, NULL, 0, NULL),
	    TKM_ERR_NO_KEY);
	assert_same_keys(f->src, f->dst, HSM_LIB_DES);
	/* other libraries untouched */
	assert_int_equal(
	    hsm_keystore_get(f->dst, HSM_LIB_SM4, 4, &info, NULL, 0, NULL),
	    TKM_OK);
	assert_int_equal(info.version, 1);
	/* one key in the library: singular */
	len = make(f->src, f->t->st.dk, HSM_LIB_SM4, &file, &count);
	assert_int_equal(count, 0);
	assert_int_equal(
	    restore(f->dst, f->dk, file, len, 0, &why), TKM_ERR_INDEX);
	assert_string_equal(
	    why, "the sm4 library holds 1 key: restore with --replace");
	free(file);
}

/* --- no plaintext in the file --------------------------------------------- */

static void
test_no_plaintext(void **state)
{
	static const int libs[] = {
	    HSM_LIB_DES, HSM_LIB_SM4, HSM_LIB_RSA, HSM_LIB_SM2};
	struct fix *f = *state;
	static uint8_t rsa[HSM_MAX_SECRET];
	uint8_t k16[16], k8[8], sm4[16], d[32], *file;
	char path[128];
	unsigned count, i;
	size_t len, rlen;
	FILE *fp;

	populate(f);
	hsmtest_unhex(k16_hex, k16, sizeof(k16));
	hsmtest_unhex(k8_hex, k8, sizeof(k8));
	hsmtest_unhex(sm4_hex, sm4, sizeof(sm4));
	hsmtest_unhex(kat_d, d, sizeof(d));
	assert_int_equal(hsm_keystore_get(f->src, HSM_LIB_RSA, 2, NULL, rsa,
			     sizeof(rsa), &rlen),
	    TKM_OK);
	snprintf(path, sizeof(path), "%s/bak", f->dir);
	for (i = 0; i < NELEM(libs); i++) {
		len = make(f->src, f->t->st.dk, libs[i], &file, &count);
		assert_non_null(fp = fopen(path, "wb"));
		assert_int_equal(fwrite(file, 1, len, fp), len);
		fclose(fp);
		free(file);
		assert_false(file_has(path, k16, sizeof(k16)));
		assert_false(file_has(path, k16 + 4, 8));
		assert_false(file_has(path, k8, sizeof(k8)));
		assert_false(file_has(path, sm4, sizeof(sm4)));
		assert_false(file_has(path, sm4 + 4, 8));
		assert_false(file_has(path, d, sizeof(d)));
		assert_false(file_has(path, d + 8, 8));
		assert_false(file_has(path, rsa + rlen / 2, 16));
		assert_false(file_has(path, rsa + rlen - 16, 16));
		assert_false(file_has(path, LABEL_SECR, strlen(LABEL_SECR)));
		/* the scan can see: the serial is in clear */
		assert_true(file_has(path, SERIAL, strlen(SERIAL)));
	}
	tkm_cleanse(rsa, sizeof(rsa));
	unlink(path);
}

/* --- the key store: transactions and zeroise ------------------------------ */

static void
test_transactions(void **state)
{
	struct fix *f = *state;
	struct hsm_keystore *other = NULL;
	struct hsm_key_info info;

	assert_int_equal(hsm_keystore_open(f->dir, f->dk, &other), TKM_OK);
	put_sym(f->dst, HSM_LIB_DES, 1, "000", "", k16_hex);
	/* rollback undoes a put and a delete */
	assert_int_equal(hsm_keystore_begin(f->dst), TKM_OK);
	assert_int_equal(hsm_keystore_begin(f->dst), TKM_ERR_INTERNAL);
	put_sym(f->dst, HSM_LIB_DES, 2, "000", "", k16_hex);
	assert_int_equal(hsm_keystore_delete(f->dst, HSM_LIB_DES, 1), TKM_OK);
	/* seen inside, not outside */
	assert_int_equal(
	    hsm_keystore_get(f->dst, HSM_LIB_DES, 2, NULL, NULL, 0, NULL),
	    TKM_OK);
	assert_int_equal(
	    hsm_keystore_get(other, HSM_LIB_DES, 2, NULL, NULL, 0, NULL),
	    TKM_ERR_NO_KEY);
	hsm_keystore_rollback(f->dst);
	hsm_keystore_rollback(f->dst); /* nothing open: no-op */
	assert_int_equal(
	    hsm_keystore_get(f->dst, HSM_LIB_DES, 2, NULL, NULL, 0, NULL),
	    TKM_ERR_NO_KEY);
	assert_int_equal(
	    hsm_keystore_get(f->dst, HSM_LIB_DES, 1, &info, NULL, 0, NULL),
	    TKM_OK);
	assert_int_equal(info.version, 1);
	/* commit keeps them */
	assert_int_equal(hsm_keystore_commit(f->dst), TKM_ERR_INTERNAL);
	assert_int_equal(hsm_keystore_begin(f->dst), TKM_OK);
	put_sym(f->dst, HSM_LIB_DES, 2, "000", "", k16_hex);
	put_sym(f->dst, HSM_LIB_DES, 1, "000", "", k8_hex);
	assert_int_equal(hsm_keystore_commit(f->dst), TKM_OK);
	assert_int_equal(
	    hsm_keystore_get(other, HSM_LIB_DES, 2, NULL, NULL, 0, NULL),
	    TKM_OK);
	assert_int_equal(
	    hsm_keystore_get(other, HSM_LIB_DES, 1, &info, NULL, 0, NULL),
	    TKM_OK);
	assert_int_equal(info.version, 2);
	/* statements commit on their own again */
	put_sym(f->dst, HSM_LIB_DES, 3, "000", "", k16_hex);
	assert_int_equal(
	    hsm_keystore_get(other, HSM_LIB_DES, 3, NULL, NULL, 0, NULL),
	    TKM_OK);
	/* an insert refused inside a transaction leaves it usable */
	assert_int_equal(hsm_keystore_begin(f->dst), TKM_OK);
	{
		struct hsm_key_info i;
		uint8_t k[16];

		memset(&i, 0, sizeof(i));
		i.lib = HSM_LIB_DES;
		i.index = 3;
		memcpy(i.type, "000", 4);
		hsmtest_unhex(k16_hex, k, sizeof(k));
		assert_int_equal(hsm_keystore_insert(f->dst, &i, k, sizeof(k)),
		    TKM_ERR_INDEX);
		i.index = 4;
		assert_int_equal(
		    hsm_keystore_insert(f->dst, &i, k, sizeof(k)), TKM_OK);
	}
	assert_int_equal(hsm_keystore_commit(f->dst), TKM_OK);
	assert_int_equal(
	    hsm_keystore_get(other, HSM_LIB_DES, 4, NULL, NULL, 0, NULL),
	    TKM_OK);
	hsm_keystore_close(other);
}

/* The stored blob of a key, read behind the store's back. */
static size_t
raw_blob(const char *dir, unsigned index, uint8_t *out, size_t cap)
{
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *s;
	size_t n;

	snprintf(path, sizeof(path), "%s/keys.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
			     "SELECT blob FROM keys WHERE lib = 1 AND idx = ?1",
			     -1, &s, NULL),
	    SQLITE_OK);
	sqlite3_bind_int(s, 1, (int)index);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	n = (size_t)sqlite3_column_bytes(s, 0);
	assert_true(n <= cap);
	memcpy(out, sqlite3_column_blob(s, 0), n);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

static void
test_wipe(void **state)
{
	struct fix *f = *state;
	struct hsm_dk *other = dk_of(other_dk);
	struct hsm_keystore *ks = NULL;
	struct keyset s;
	uint8_t blob[256];
	char path[128];
	struct stat sb;
	size_t n;
	unsigned i;

	for (i = 0; i < 40; i++)
		put_sym(f->dst, HSM_LIB_DES, i, "000", LABEL_SECR, k16_hex);
	put_sm2(f->dst, 1, kat_d, "0", "");
	assert_int_equal(hsm_keystore_delete(f->dst, HSM_LIB_DES, 39), TKM_OK);
	n = raw_blob(f->dir, 7, blob, sizeof(blob));
	/* f->dst stays open, as a worker's store would */
	assert_int_equal(hsm_keystore_wipe(f->dir), TKM_OK);
	keys_of(f->dst, 0, &s);
	assert_int_equal(s.n, 0);
	assert_int_equal(
	    hsm_keystore_get(f->dst, HSM_LIB_DES, 7, NULL, NULL, 0, NULL),
	    TKM_ERR_NO_KEY);
	snprintf(path, sizeof(path), "%s/keys.db", f->dir);
	assert_false(file_has(path, blob, n));
	assert_false(file_has(path, blob + n - 32, 32)); /* a tag */
	assert_false(file_has(path, LABEL_SECR, strlen(LABEL_SECR)));
	snprintf(path, sizeof(path), "%s/keys.db-wal", f->dir);
	assert_true(stat(path, &sb) != 0 || sb.st_size == 0);
	/* the DK is no longer pinned: another opens it, and is pinned */
	hsm_keystore_close(f->dst);
	f->dst = NULL;
	assert_int_equal(hsm_keystore_open(f->dir, other, &ks), TKM_OK);
	put_sym(ks, HSM_LIB_DES, 7, "000", "", k8_hex);
	hsm_keystore_close(ks);
	assert_int_equal(
	    hsm_keystore_open(f->dir, f->dk, &f->dst), TKM_ERR_SEALED);
	/* wiping a store that was never created, and twice */
	assert_int_equal(hsm_keystore_wipe(f->dir), TKM_OK);
	assert_int_equal(hsm_keystore_wipe(f->dir), TKM_OK);
	assert_int_equal(hsm_keystore_open(f->dir, f->dk, &f->dst), TKM_OK);
	hsm_dk_free(other);
	{
		char empty[64];

		hsmtest_mkdtemp(empty);
		assert_int_equal(hsm_keystore_wipe(empty), TKM_OK);
		hsmtest_rmdir(empty);
	}
	assert_int_not_equal(
	    hsm_keystore_wipe("/nonexistent/tkms-test"), TKM_OK);
}

/* --- the management operations -------------------------------------------- */

struct opfix {
	struct hsm_session s;
	struct hsm_op_ctx c;
	const char *why;
};

static void
op_init(struct opfix *o, struct hsmtest *t)
{
	memset(o, 0, sizeof(*o));
	o->s.roles = HSM_ROLE_C;
	o->c.st = &t->st;
	o->c.s = &o->s;
	o->c.peer = "127.0.0.1:40000";
}

static json_t *
run(struct opfix *o, hsm_op_fn *op, json_t *args, int want)
{
	json_t *r = json_object();

	assert_non_null(args);
	assert_non_null(r);
	o->why = NULL;
	assert_int_equal(op(&o->c, args, r, &o->why), want);
	if (want != TKM_OK)
		assert_non_null(o->why);
	json_decref(args);
	return r;
}

static json_t *
restore_args(const char *b64, int replace)
{
	return replace < 0
		   ? json_pack("{ss}", "file", b64)
		   : json_pack("{sssb}", "file", b64, "replace", replace);
}

static char *
b64_of(const uint8_t *p, size_t n)
{
	char *s = malloc(TKM_B64_LEN(n) + 1);

	assert_non_null(s);
	tkm_b64_encode(p, n, s);
	return s;
}

static void
test_ops(void **state)
{
	struct fix *f = *state;
	struct hsmtest *t2 = hsmtest_new(0);
	struct opfix o1, o2;
	struct hsm_dk *other;
	struct hsm_keystore *ks = NULL;
	json_t *r, *keys, *k;
	const char *b64;
	char *altered, *s;
	uint8_t *bin, *file;
	size_t n, len;
	unsigned count;
	char dir[64];

	populate(f);
	op_init(&o1, f->t);
	op_init(&o2, t2);
	r = run(&o1, op_backup_create, json_pack("{ss}", "lib", "DES"), TKM_OK);
	assert_string_equal(
	    json_string_value(json_object_get(r, "lib")), "des");
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 3);
	assert_string_equal(
	    json_string_value(json_object_get(r, "serial")), "");
	assert_string_equal(
	    json_string_value(json_object_get(r, "dk_kcv")), TEST_KCV);
	assert_true(json_integer_value(json_object_get(r, "created")) > 0);
	b64 = json_string_value(json_object_get(r, "file"));
	assert_non_null(b64);
	/* restore on another HSM of the same DK */
	json_decref(run(&o2, op_backup_restore,
	    json_pack("{sssi}", "file", b64, "replace", 1), TKM_ERR_INPUT));
	assert_string_equal(o2.why, "replace is true or false");
	{
		json_t *res =
		    run(&o2, op_backup_restore, restore_args(b64, -1), TKM_OK);

		assert_string_equal(
		    json_string_value(json_object_get(res, "lib")), "des");
		assert_int_equal(
		    json_integer_value(json_object_get(res, "count")), 3);
		keys = json_object_get(res, "keys");
		assert_int_equal(json_array_size(keys), 3);
		k = json_array_get(keys, 2);
		assert_string_equal(
		    json_string_value(json_object_get(k, "ref")), "FFF");
		assert_string_equal(
		    json_string_value(json_object_get(k, "type")), "008");
		assert_int_equal(
		    strlen(json_string_value(json_object_get(k, "kcv"))), 6);
		assert_int_equal(
		    strlen(json_string_value(json_object_get(k, "kcv_full"))),
		    16);
		assert_int_equal(json_object_size(k), 10); /* as keys.list */
		json_decref(res);
	}
	assert_same_keys(f->src, hsm_worker_ks(&t2->w), HSM_LIB_DES);
	/* occupied, then replaced */
	json_decref(
	    run(&o2, op_backup_restore, restore_args(b64, 0), TKM_ERR_INDEX));
	assert_non_null(strstr(o2.why, "restore with --replace"));
	json_decref(run(&o2, op_backup_restore, restore_args(b64, 1), TKM_OK));
	/* altered: a byte of the body */
	n = strlen(b64);
	bin = malloc(n);
	assert_non_null(bin);
	assert_int_equal(tkm_b64_decode(b64, n, bin, n, &len), TKM_OK);
	bin[HDR_LEN + 3] ^= 1;
	altered = b64_of(bin, len);
	json_decref(run(
	    &o2, op_backup_restore, restore_args(altered, 1), TKM_ERR_VERIFY));
	assert_string_equal(
	    o2.why, "the file was altered or truncated: nothing restored");
	free(altered);
	bin[HDR_LEN + 3] ^= 1;
	altered = b64_of(bin, len - 3); /* truncated */
	json_decref(run(
	    &o2, op_backup_restore, restore_args(altered, 1), TKM_ERR_VERIFY));
	assert_non_null(strstr(o2.why, "altered or truncated"));
	free(altered);
	free(bin);
	/* sealed */
	{
		struct hsm_dk *dk = atomic_exchange(&t2->st.dk, NULL);

		json_decref(run(&o2, op_backup_create,
		    json_pack("{ss}", "lib", "sm2"), TKM_ERR_SEALED));
		json_decref(run(&o2, op_backup_restore, restore_args(b64, 1),
		    TKM_ERR_SEALED));
		atomic_store(&t2->st.dk, dk);
	}
	json_decref(r);
	/* not base64, not a backup, no file */
	json_decref(run(
	    &o2, op_backup_restore, restore_args("!!!!", 1), TKM_ERR_INPUT));
	assert_string_equal(o2.why, "file: the backup file, in base64");
	json_decref(run(&o2, op_backup_restore, restore_args("QUJD\nREVG", 1),
	    TKM_ERR_INPUT));
	json_decref(run(&o2, op_backup_restore, restore_args("QUJDREVG", 1),
	    TKM_ERR_INPUT));
	assert_string_equal(o2.why, "not a tkms key-library backup");
	json_decref(
	    run(&o2, op_backup_restore, json_pack("{}"), TKM_ERR_INPUT));
	json_decref(run(&o2, op_backup_restore, json_pack("{si}", "file", 5),
	    TKM_ERR_INPUT));
	/* made under another DK */
	other = dk_of(other_dk);
	hsmtest_mkdtemp(dir);
	hsmtest_remember(dir, 1);
	assert_int_equal(hsm_keystore_open(dir, other, &ks), TKM_OK);
	put_sym(ks, HSM_LIB_SM4, 1, "000", "", sm4_hex);
	len = make(ks, other, HSM_LIB_SM4, &file, &count);
	s = b64_of(file, len);
	json_decref(
	    run(&o2, op_backup_restore, restore_args(s, 1), TKM_ERR_SEALED));
	assert_non_null(strstr(o2.why, "made under another device key"));
	free(s);
	free(file);
	hsm_keystore_close(ks);
	hsm_dk_free(other);
	hsmtest_rmdir(dir);
	hsmtest_remember(dir, 0);
	/* lib */
	json_decref(run(&o1, op_backup_create, json_pack("{ss}", "lib", "aes"),
	    TKM_ERR_INPUT));
	assert_string_equal(o1.why, "lib is one of des, sm4, rsa, sm2");
	json_decref(run(&o1, op_backup_create, json_pack("{}"), TKM_ERR_INPUT));
	hsmtest_free(t2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_restored_keys_work, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_worker_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_library, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_full_library_count, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_only_and_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_dk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tampered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tampered_rsa, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peek, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_records_strict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_plaintext, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wipe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ops, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
