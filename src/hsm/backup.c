/*
 * backup.c - library backups (backup.h, docs/backup.md).
 *
 * A backup is a plaintext header, the library's records encrypted with
 * SM4-CTR, and an HMAC-SM3 tag over everything before it:
 *   OFFSET SIZE FIELD
 *   0      8    magic "TKMSLIB\0"
 *   8      1    format version, 1
 *   9      1    library: 1 DES, 2 SM4, 3 RSA, 4 SM2
 *   10     2    reserved, zero
 *   12     8    KCV of DK
 *   20     8    created, Unix time, big-endian, signed
 *   28     4    number of records, big-endian
 *   32     16   serial of the HSM it came from, ASCII, NUL padded
 *   48     16   IV, random; the whole IV is the initial counter
 *   64     n    SM4-CTR(K_enc, IV, records)
 *   64+n   32   HMAC-SM3(K_mac, bytes 0 .. 63+n)
 * K_enc (16 bytes) and K_mac (32 bytes) are hsm_dk_derive(DK, "tkms backup
 * enc" / "tkms backup mac"). The records, in increasing index order:
 *   OFFSET  SIZE FIELD
 *   0       2    index, big-endian
 *   2       3    key type code
 *   5       1    u, usage length, 0..7
 *   6       u    usage
 *   6+u     1    l, label length, 0..64
 *   7+u     l    label
 *   7+u+l   8    KCV (keystore.h: symmetric KCV, or public-key hash)
 *   15+u+l  8    created, big-endian (for information: a restore writes
 *                the key anew, with its own time and version)
 *   23+u+l  4    version, big-endian (likewise)
 *   27+u+l  2    s, secret length, big-endian
 *   29+u+l  s    secret, as the store keeps it (keystore.md)
 *
 * Restore checks, in this order, and stops at the first failure: the
 * header (a tkms backup of format 1, sizes possible for its library), the
 * DK KCV, the tag over the whole file (constant time), and only then
 * decrypts, into locked memory, and parses every record strictly,
 * checking each KCV against its key. Only a file that passed all of it is
 * written, in one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"
#include "tkm/rsa.h"
#include "tkm/sm2.h"

#define FORMAT_VERSION 1
#define HDR_LEN        64
#define IV_LEN         16
#define TAG_LEN        32
#define ENC_KEY_LEN    16
#define MAC_KEY_LEN    32
#define REC_FIXED      29 /* a record without usage, label and secret */
#define USAGE_MAX      (sizeof(((struct hsm_key_info *)0)->usage) - 1)
#define LABEL_MAX      (sizeof(((struct hsm_key_info *)0)->label) - 1)

enum {
	OFF_VERSION = 8,
	OFF_LIB = 9,
	OFF_RESERVED = 10,
	OFF_DK_KCV = 12,
	OFF_CREATED = 20,
	OFF_COUNT = 28,
	OFF_SERIAL = 32,
	OFF_IV = 48
};

static const uint8_t magic[8] = "TKMSLIB"; /* and its NUL */

static const char w_not[] = "not a tkms key-library backup";
static const char w_version[] =
    "a key-library backup of another format: this HSM reads format 1";
static const char w_altered[] =
    "the file was altered or truncated: nothing restored";
static const char w_records[] =
    "the backup's records are malformed: nothing restored";
static const char w_store[] =
    "the key store could not be written: nothing restored";

/* Messages with numbers in them, valid until the thread's next call
 * (the management thread uses *why before it runs another operation). */
static _Thread_local char why_buf[160];

/* --- sizes ---------------------------------------------------------------- */

struct limits {
	unsigned min_index, max_index;
	size_t max_secret;
};

static int
lib_limits(int lib, struct limits *l)
{
	switch (lib) {
	case HSM_LIB_DES:
		*l = (struct limits){0, HSM_SYM_MAX_INDEX, 24};
		return TKM_OK;
	case HSM_LIB_SM4:
		*l = (struct limits){0, HSM_SYM_MAX_INDEX, 16};
		return TKM_OK;
	case HSM_LIB_RSA:
		*l = (struct limits){1, HSM_ASYM_MAX_INDEX, HSM_MAX_SECRET};
		return TKM_OK;
	case HSM_LIB_SM2:
		*l = (struct limits){1, HSM_ASYM_MAX_INDEX, TKM_SM2_PRIV_LEN};
		return TKM_OK;
	default:
		return TKM_ERR_INPUT;
	}
}

static unsigned
max_keys(const struct limits *l)
{
	return l->max_index - l->min_index + 1;
}

/* The largest plaintext a library's backup can have (DES: 496 KiB). */
static size_t
max_body(const struct limits *l)
{
	return (size_t)max_keys(l) *
	       (REC_FIXED + USAGE_MAX + LABEL_MAX + l->max_secret);
}

/* --- big-endian fields ---------------------------------------------------- */

static void
put_be(uint8_t *p, uint64_t v, size_t n)
{
	while (n-- > 0) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void
wr_be(struct tkm_wr *w, uint64_t v, size_t n)
{
	uint8_t b[8];

	put_be(b, v, n);
	tkm_wr_bytes(w, b, n);
}

static int
rd_be(struct tkm_rd *rd, size_t n, uint64_t *v)
{
	uint8_t b[8];
	int rc;

	if ((rc = tkm_rd_bytes(rd, b, n)) != TKM_OK)
		return rc;
	*v = get_be(b, n);
	return TKM_OK;
}

/* --- keys and checks ------------------------------------------------------ */

struct bak_keys {
	uint8_t enc[ENC_KEY_LEN];
	uint8_t mac[MAC_KEY_LEN];
};

static int
derive(const struct hsm_dk *dk, struct bak_keys *k)
{
	int rc;

	if ((rc = hsm_dk_derive(
		 dk, "tkms backup enc", k->enc, sizeof(k->enc))) != TKM_OK ||
	    (rc = hsm_dk_derive(
		 dk, "tkms backup mac", k->mac, sizeof(k->mac))) != TKM_OK)
		tkm_cleanse(k, sizeof(*k));
	return rc;
}

/* The KCV the store keeps for a key (keystore.h; cmd_asym.c makes those
 * of key pairs the same way): TKM_ERR_VERIFY if kcv is not it. */
static int
check_kcv(int lib, const uint8_t *secret, size_t len, const uint8_t kcv[8])
{
	uint8_t v[TKM_RSA_MAX_LEN], h[TKM_MAX_HASH];
	struct tkm_sm2 *sm2 = NULL;
	struct tkm_rsa *rsa = NULL;
	size_t n = 0;
	int rc;

	switch (lib) {
	case HSM_LIB_DES:
	case HSM_LIB_SM4:
		rc = tkm_kcv(
		    lib == HSM_LIB_DES ? TKM_DES : TKM_SM4, secret, len, h);
		break;
	case HSM_LIB_SM2:
		rc = TKM_ERR_ASYM_KEY;
		if (len == TKM_SM2_PRIV_LEN &&
		    (rc = tkm_sm2_from_priv(secret, &sm2)) == TKM_OK &&
		    (rc = tkm_sm2_pub(sm2, v)) == TKM_OK)
			rc = tkm_hash(TKM_SM3, v, TKM_SM2_PUB_LEN, h);
		break;
	case HSM_LIB_RSA:
		if ((rc = tkm_rsa_from_der(secret, len, 1, &rsa)) == TKM_OK &&
		    (rc = tkm_rsa_component(
			 rsa, TKM_RSA_N, v, sizeof(v), &n)) == TKM_OK)
			rc = tkm_hash(TKM_SHA256, v, n, h);
		break;
	default:
		rc = TKM_ERR_INPUT;
	}
	tkm_sm2_free(sm2);
	tkm_rsa_free(rsa);
	if (rc == TKM_OK && !tkm_ct_eq(h, kcv, 8))
		rc = TKM_ERR_VERIFY;
	tkm_cleanse(h, sizeof(h));
	return rc == TKM_OK ? TKM_OK : TKM_ERR_VERIFY;
}

/* A serial fits the header: at most HSM_SERIAL_MAX printable ASCII. */
static int
serial_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n > HSM_SERIAL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7E)
			return 0;
	return 1;
}

static void
index_text(int lib, unsigned index, char out[8])
{
	if (lib == HSM_LIB_DES || lib == HSM_LIB_SM4)
		snprintf(out, 8, "%03X", index);
	else
		snprintf(out, 8, "%02u", index);
}

/* --- make ----------------------------------------------------------------- */

struct maker {
	struct hsm_keystore *ks;
	int lib;
	struct tkm_wr body; /* over locked memory */
	uint8_t *secret;    /* HSM_MAX_SECRET, locked */
	unsigned count;
};

/* Append the key at listed->index. Called from hsm_keystore_list(), whose
 * statement holds one read transaction: every key comes from the same
 * snapshot even while workers write. */
static int
add_record(void *arg, const struct hsm_key_info *listed)
{
	struct maker *m = arg;
	struct hsm_key_info k;
	size_t len = 0, u, l;
	int rc;

	rc = hsm_keystore_get(
	    m->ks, m->lib, listed->index, &k, m->secret, HSM_MAX_SECRET, &len);
	/* A store whose KCV column was altered would give a backup that
	 * no restore accepts: say so now, not on the day it is needed. */
	if (rc == TKM_OK)
		rc = check_kcv(m->lib, m->secret, len, k.kcv);
	if (rc == TKM_OK) {
		u = strlen(k.usage);
		l = strlen(k.label);
		wr_be(&m->body, k.index, 2);
		tkm_wr_bytes(&m->body, k.type, HSM_TYPE_LEN);
		wr_be(&m->body, u, 1);
		tkm_wr_bytes(&m->body, k.usage, u);
		wr_be(&m->body, l, 1);
		tkm_wr_bytes(&m->body, k.label, l);
		tkm_wr_bytes(&m->body, k.kcv, sizeof(k.kcv));
		wr_be(&m->body, (uint64_t)k.created, 8);
		wr_be(&m->body, k.version, 4);
		wr_be(&m->body, len, 2);
		tkm_wr_bytes(&m->body, m->secret, len);
		rc = tkm_wr_error(&m->body);
	}
	tkm_cleanse(m->secret, len);
	if (rc == TKM_OK)
		m->count++;
	return rc;
}

int
hsm_libbak_make(struct hsm_keystore *ks, const struct hsm_dk *dk, int lib,
    unsigned only, const char *serial, uint8_t **out, size_t *outlen,
    unsigned *count)
{
	struct maker m;
	struct limits lim;
	struct bak_keys k;
	struct hsm_key_info one;
	uint8_t *body = NULL, *file = NULL, *p;
	size_t cap = 0, n;
	int rc;

	*out = NULL;
	*outlen = 0;
	*count = 0;
	memset(&m, 0, sizeof(m));
	memset(&k, 0, sizeof(k));
	if (serial == NULL)
		serial = "";
	if (lib_limits(lib, &lim) != TKM_OK || !serial_ok(serial))
		return TKM_ERR_INPUT;
	cap = max_body(&lim);
	body = tkm_secure_alloc(cap);
	m.secret = tkm_secure_alloc(HSM_MAX_SECRET);
	if (body == NULL || m.secret == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	m.ks = ks;
	m.lib = lib;
	tkm_wr_init(&m.body, body, cap);
	if (only != 0) {
		memset(&one, 0, sizeof(one));
		one.index = only;
		rc = add_record(&m, &one);
	} else {
		rc = hsm_keystore_list(ks, lib, add_record, &m);
	}
	if (rc != TKM_OK)
		goto out;
	n = m.body.len;
	if ((file = malloc(HDR_LEN + n + TAG_LEN)) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	memset(file, 0, HDR_LEN);
	memcpy(file, magic, sizeof(magic));
	file[OFF_VERSION] = FORMAT_VERSION;
	file[OFF_LIB] = (uint8_t)lib;
	hsm_dk_kcv(dk, file + OFF_DK_KCV);
	put_be(file + OFF_CREATED, (uint64_t)(int64_t)time(NULL), 8);
	put_be(file + OFF_COUNT, m.count, 4);
	memcpy(file + OFF_SERIAL, serial, strlen(serial));
	p = file + HDR_LEN;
	if ((rc = tkm_random(file + OFF_IV, IV_LEN)) != TKM_OK ||
	    (rc = derive(dk, &k)) != TKM_OK ||
	    (rc = tkm_cipher(TKM_SM4, TKM_CTR, TKM_ENCRYPT, k.enc,
		 sizeof(k.enc), file + OFF_IV, body, n, p)) != TKM_OK ||
	    (rc = tkm_hmac(TKM_SM3, k.mac, sizeof(k.mac), file, HDR_LEN + n,
		 p + n)) != TKM_OK)
		goto out;
	*out = file;
	*outlen = HDR_LEN + n + TAG_LEN;
	*count = m.count;
	file = NULL;
out:
	tkm_cleanse(&k, sizeof(k));
	tkm_secure_free(body, cap);
	tkm_secure_free(m.secret, HSM_MAX_SECRET);
	free(file);
	return rc;
}

/* --- peek ----------------------------------------------------------------- */

int
hsm_libbak_peek(const uint8_t *file, size_t len, struct hsm_libbak_info *info,
    const char **why)
{
	struct limits lim;
	size_t i, n, serial_len;
	unsigned count;

	memset(info, 0, sizeof(*info));
	if (len < sizeof(magic) || memcmp(file, magic, sizeof(magic)) != 0) {
		*why = w_not;
		return TKM_ERR_INPUT;
	}
	if (len > OFF_VERSION && file[OFF_VERSION] != FORMAT_VERSION) {
		*why = w_version;
		return TKM_ERR_INPUT;
	}
	*why = w_altered;
	if (len < HDR_LEN + TAG_LEN ||
	    lib_limits(file[OFF_LIB], &lim) != TKM_OK ||
	    file[OFF_RESERVED] != 0 || file[OFF_RESERVED + 1] != 0)
		return TKM_ERR_INPUT;
	/* Sizes no make could have written: refused before any work. */
	count = (unsigned)get_be(file + OFF_COUNT, 4);
	n = len - HDR_LEN - TAG_LEN;
	if (count > max_keys(&lim) || n > max_body(&lim) ||
	    n < (size_t)count * (REC_FIXED + 1))
		return TKM_ERR_INPUT;
	serial_len = strnlen((const char *)file + OFF_SERIAL, HSM_SERIAL_MAX);
	for (i = 0; i < HSM_SERIAL_MAX; i++) {
		uint8_t c = file[OFF_SERIAL + i];

		if (i < serial_len ? c < 0x20 || c > 0x7E : c != 0)
			return TKM_ERR_INPUT;
	}
	info->lib = file[OFF_LIB];
	info->count = count;
	info->created = (int64_t)get_be(file + OFF_CREATED, 8);
	memcpy(info->dk_kcv, file + OFF_DK_KCV, sizeof(info->dk_kcv));
	memcpy(info->serial, file + OFF_SERIAL, serial_len);
	*why = NULL;
	return TKM_OK;
}

/* --- restore -------------------------------------------------------------- */

struct rec {
	struct hsm_key_info info;
	const uint8_t *secret; /* into the decrypted body */
	size_t len;
};

/* n bytes without a NUL into out (a C string). */
static int
rd_text(struct tkm_rd *rd, size_t n, char *out)
{
	const uint8_t *p;
	int rc;

	if ((rc = tkm_rd_view(rd, &p, n)) != TKM_OK)
		return rc;
	if (memchr(p, 0, n) != NULL)
		return TKM_ERR_INPUT;
	memcpy(out, p, n);
	out[n] = '\0';
	return TKM_OK;
}

static int
parse_record(
    struct tkm_rd *rd, const struct limits *lim, int lib, struct rec *r)
{
	uint64_t index, u, l, created, version, s;
	int rc;

	memset(r, 0, sizeof(*r));
	r->info.lib = lib;
	if ((rc = rd_be(rd, 2, &index)) != TKM_OK ||
	    (rc = rd_text(rd, HSM_TYPE_LEN, r->info.type)) != TKM_OK ||
	    (rc = rd_be(rd, 1, &u)) != TKM_OK || u > USAGE_MAX ||
	    (rc = rd_text(rd, (size_t)u, r->info.usage)) != TKM_OK ||
	    (rc = rd_be(rd, 1, &l)) != TKM_OK || l > LABEL_MAX ||
	    (rc = rd_text(rd, (size_t)l, r->info.label)) != TKM_OK ||
	    (rc = tkm_rd_bytes(rd, r->info.kcv, sizeof(r->info.kcv))) !=
		TKM_OK ||
	    (rc = rd_be(rd, 8, &created)) != TKM_OK ||
	    (rc = rd_be(rd, 4, &version)) != TKM_OK ||
	    (rc = rd_be(rd, 2, &s)) != TKM_OK || s == 0 ||
	    s > lim->max_secret ||
	    (rc = tkm_rd_view(rd, &r->secret, (size_t)s)) != TKM_OK)
		return TKM_ERR_INPUT;
	if (index < lim->min_index || index > lim->max_index)
		return TKM_ERR_INPUT;
	if ((lib == HSM_LIB_DES || lib == HSM_LIB_SM4) &&
	    tkm_key_len_ok(lib == HSM_LIB_DES ? TKM_DES : TKM_SM4, (size_t)s) !=
		TKM_OK)
		return TKM_ERR_INPUT;
	r->info.index = (unsigned)index;
	r->info.created = (int64_t)created;
	r->info.version = (unsigned)version;
	r->info.len = (size_t)s;
	r->len = (size_t)s;
	return TKM_OK;
}

/* Every record, exactly count of them, in strictly increasing index
 * order, nothing after the last; then every KCV against its key. */
static int
parse_body(const uint8_t *body, size_t n, int lib, unsigned count,
    struct rec *recs, const char **why)
{
	struct tkm_rd rd = tkm_rd_of(body, n);
	struct limits lim;
	char idx[8];
	unsigned i;

	*why = w_records;
	if (lib_limits(lib, &lim) != TKM_OK)
		return TKM_ERR_INPUT;
	for (i = 0; i < count; i++) {
		if (parse_record(&rd, &lim, lib, &recs[i]) != TKM_OK ||
		    (i > 0 && recs[i].info.index <= recs[i - 1].info.index))
			return TKM_ERR_INPUT;
	}
	if (tkm_rd_end(&rd) != TKM_OK)
		return TKM_ERR_INPUT;
	for (i = 0; i < count; i++) {
		if (check_kcv(lib, recs[i].secret, recs[i].len,
			recs[i].info.kcv) != TKM_OK) {
			index_text(lib, recs[i].info.index, idx);
			snprintf(why_buf, sizeof(why_buf),
			    "the key at %s %s does not match its KCV: "
			    "nothing restored",
			    hsm_lib_name(lib), idx);
			*why = why_buf;
			return TKM_ERR_VERIFY;
		}
	}
	*why = NULL;
	return TKM_OK;
}

struct live {
	unsigned n;
	uint8_t at[HSM_SYM_MAX_INDEX + 1];
};

static int
note_live(void *arg, const struct hsm_key_info *k)
{
	struct live *l = arg;

	if (k->index >= sizeof(l->at))
		return TKM_ERR_INTERNAL;
	l->at[k->index] = 1;
	l->n++;
	return TKM_OK;
}

/* Everything in one transaction; nothing changes unless all of it is
 * written. */
static int
write_all(struct hsm_keystore *ks, int lib, struct rec *recs, unsigned count,
    int replace, const char **why)
{
	struct live *live;
	unsigned i;
	int rc;

	if ((live = calloc(1, sizeof(*live))) == NULL)
		return TKM_ERR_NOMEM;
	*why = w_store;
	if ((rc = hsm_keystore_begin(ks)) != TKM_OK)
		goto out;
	if ((rc = hsm_keystore_list(ks, lib, note_live, live)) != TKM_OK)
		goto fail;
	if (live->n > 0 && !replace) {
		snprintf(why_buf, sizeof(why_buf),
		    "the %s library holds %u key%s: restore with --replace",
		    hsm_lib_name(lib), live->n, live->n == 1 ? "" : "s");
		*why = why_buf;
		rc = TKM_ERR_INDEX;
		goto fail;
	}
	/* Keys the backup does not have go; the others are overwritten. */
	for (i = 0; i < count; i++)
		live->at[recs[i].info.index] = 0;
	for (i = 0; i < sizeof(live->at); i++)
		if (live->at[i] &&
		    (rc = hsm_keystore_delete(ks, lib, i)) != TKM_OK)
			goto fail;
	/* A put on a row that exists (live or deleted) adds 1 to its
	 * version, so the workers' caches (keys.c) drop what they had. */
	for (i = 0; i < count; i++)
		if ((rc = hsm_keystore_put(ks, &recs[i].info, recs[i].secret,
			 recs[i].len)) != TKM_OK)
			goto fail;
	if ((rc = hsm_keystore_commit(ks)) != TKM_OK)
		goto out;
	*why = NULL;
	goto out;
fail:
	hsm_keystore_rollback(ks);
out:
	free(live);
	return rc;
}

int
hsm_libbak_restore(struct hsm_keystore *ks, const struct hsm_dk *dk,
    const uint8_t *file, size_t len, int replace,
    int (*fn)(void *arg, const struct hsm_key_info *info), void *arg,
    struct hsm_libbak_info *info, const char **why)
{
	struct bak_keys k;
	struct rec *recs = NULL;
	uint8_t kcv[8], tag[TAG_LEN], *body = NULL;
	char mine[17], theirs[17];
	size_t n = 0;
	unsigned i;
	int rc;

	*why = NULL;
	memset(&k, 0, sizeof(k));
	if ((rc = hsm_libbak_peek(file, len, info, why)) != TKM_OK)
		return rc;
	/* The header is not authentic yet; but a file of another HSM
	 * deserves a clearer answer than "altered". */
	hsm_dk_kcv(dk, kcv);
	if (!tkm_ct_eq(kcv, info->dk_kcv, sizeof(kcv))) {
		tkm_hex_encode(info->dk_kcv, sizeof(info->dk_kcv), theirs);
		tkm_hex_encode(kcv, sizeof(kcv), mine);
		snprintf(why_buf, sizeof(why_buf),
		    "made under another device key: KCV %s, this HSM has %s",
		    theirs, mine);
		*why = why_buf;
		return TKM_ERR_SEALED;
	}
	n = len - HDR_LEN - TAG_LEN;
	if ((rc = derive(dk, &k)) != TKM_OK ||
	    (rc = tkm_hmac(TKM_SM3, k.mac, sizeof(k.mac), file, HDR_LEN + n,
		 tag)) != TKM_OK)
		goto out;
	if (!tkm_ct_eq(tag, file + HDR_LEN + n, TAG_LEN)) {
		*why = w_altered;
		rc = TKM_ERR_VERIFY;
		goto out;
	}
	rc = TKM_ERR_NOMEM;
	if ((body = tkm_secure_alloc(n > 0 ? n : 1)) == NULL ||
	    (recs = calloc(info->count > 0 ? info->count : 1, sizeof(*recs))) ==
		NULL)
		goto out;
	if ((rc = tkm_cipher(TKM_SM4, TKM_CTR, TKM_DECRYPT, k.enc,
		 sizeof(k.enc), file + OFF_IV, file + HDR_LEN, n, body)) !=
		TKM_OK ||
	    (rc = parse_body(body, n, info->lib, info->count, recs, why)) !=
		TKM_OK ||
	    (rc = write_all(ks, info->lib, recs, info->count, replace, why)) !=
		TKM_OK)
		goto out;
	/* Committed: what fn does cannot undo it, so its answer is not
	 * ours. */
	for (i = 0; fn != NULL && i < info->count; i++)
		if (fn(arg, &recs[i].info) != TKM_OK)
			break;
out:
	tkm_cleanse(&k, sizeof(k));
	tkm_secure_free(body, n > 0 ? n : 1);
	free(recs);
	return rc;
}
