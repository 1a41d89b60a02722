/*
 * fuzz_hostcmd.c - the host-command dispatcher (cmd.h, docs/protocol.md):
 * every command of src/hsm/cmd_table.c through hsm_dispatch(), as a
 * connection's frames reach it, in process, against a key store in a
 * temporary directory under the test DK (tests/hsm/hsmtest.h), with an
 * audit log and a licence store that enforces (docs/maintenance.md).
 *
 * Input:
 *   OFFSET SIZE FIELD
 *   0      1    flags: bit 0 the authorised state is open
 *   1      2    length n of the first frame's body, big-endian
 *   3      n    command code + fields [+ 0x19 + trailer] (no LEN, no
 *               header: the target adds header "12345678")
 *   ...         more frames the same way, at most MAX_FRAMES; a length
 *               past the end takes what is left
 *
 * The store holds keys at known indexes (FIXKEYS below: each key type that
 * UB, U1, U3, UY, KW, G1, A8 and EH take, TKs of type 000 at K001 and
 * K101, in the DES and the SM4 library), an SM2 pair at 01, an RSA-1024
 * pair at 02 and the maintenance key pair (the same SM2 key) at 03, all
 * fixed test keys loaded with EK, so that requests
 * that name them reach the commands' cryptography. Licences: UB with the
 * type-003 keys counted, U1 with DES K509 exhausted, U3 with SM4 K509
 * expired, EH with SM2 01 counted (every other key is not listed).
 *
 * Invariants, for every frame:
 *   - the answer is LEN | the header | the response code (the command's
 *     second character + 1, "ZZ" for a code that is not two printable
 *     characters) | a two-character error code | fields, LEN = its length
 *     - 2 <= 65535; an error answer (anything but 00) carries no fields,
 *     only the request's trailer if it had one;
 *   - the key slots are all zero again (the dispatcher wipes them);
 *   - the key store is unchanged, except that A0, A6, NE, EI and EK
 *     answered with 00 may add one key (and never change another);
 *   - licence counters are unchanged by an answer other than 00, and a
 *     00 answer moves only counters of its own command, by one;
 *   - no crash, leak or undefined behaviour (ASan, UBSan).
 * Keys added by an input are deleted after it, so every input starts
 * from the same store.
 *
 * EI with RSA above 1024 bits is not sent (skipped): generating such a
 * key takes seconds under the sanitizers and parses nothing new.
 * TKMS_FUZZ_VERBOSE=1 prints each request and answer (to make seeds).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cmd.h"
#include "hsm.h"
#include "ident.h"
#include "keys.h"
#include "licence.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"
#include "tkm/wire.h"

/* Not assert(): the check must stay in release (NDEBUG) builds too. */
#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
			    __LINE__, #x);                                     \
			abort();                                               \
		}                                                              \
	} while (0)

#define HDR        "12345678"
#define HDRLEN     8
#define MAX_FRAMES 16
#define RSP_CAP    (TKM_WIRE_LIMIT + 2)

/* The test components (tests/hsm/hsmtest.h; never for production). */
static const char *const comp_hex[HSM_DK_PARTS] = {
    "0123456789ABCDEFFEDCBA9876543210", "11111111111111112222222222222222",
    "0F0E0D0C0B0A09080706050403020100"};

#define K8  "0123456789ABCDEF"
#define K16 "0123456789ABCDEFFEDCBA9876543210"
#define K24 K16 "89ABCDEF01234567"
#define S16 "00112233445566778899AABBCCDDEEFF"

/* The symmetric keys of the store: index, type, the key (test values). */
static const struct fixkey {
	int lib;
	unsigned index;
	const char *type, *hex;
} fixkeys[] = {
    {HSM_LIB_DES, 0x001, "000", K16}, /* TK */
    {HSM_LIB_DES, 0x101, "000", K16}, /* TK */
    {HSM_LIB_DES, 0x002, "000", K8},  /* single-DES TK: ERR 02 */
    {HSM_LIB_DES, 0x003, "003", K16}, {HSM_LIB_DES, 0x008, "008", K16},
    {HSM_LIB_DES, 0x00A, "00A", K16}, {HSM_LIB_DES, 0x011, "001", K16},
    {HSM_LIB_DES, 0x012, "002", K16}, {HSM_LIB_DES, 0x109, "109", K16},
    {HSM_LIB_DES, 0x209, "209", K16}, {HSM_LIB_DES, 0x309, "309", K16},
    {HSM_LIB_DES, 0x509, "509", K16}, {HSM_LIB_DES, 0x508, "509", K8},
    {HSM_LIB_DES, 0x524, "509", K24}, /* not listed in a licence */
    {HSM_LIB_DES, 0x124, "109", K24}, {HSM_LIB_SM4, 0x001, "000", S16},
    {HSM_LIB_SM4, 0x101, "000", S16}, {HSM_LIB_SM4, 0x003, "003", S16},
    {HSM_LIB_SM4, 0x008, "008", S16}, {HSM_LIB_SM4, 0x00A, "00A", S16},
    {HSM_LIB_SM4, 0x109, "109", S16}, {HSM_LIB_SM4, 0x209, "209", S16},
    {HSM_LIB_SM4, 0x309, "309", S16}, {HSM_LIB_SM4, 0x509, "509", S16},
    {HSM_LIB_SM4, 0x524, "509", S16}, /* not listed in a licence */
};
#define NFIXKEYS (sizeof(fixkeys) / sizeof(fixkeys[0]))

/* The key pairs, fixed so that seeds can hold ciphertexts and signatures
 * made with them: SM2 d of GB/T 32918.5's example (test key), and an
 * RSA-1024 RSAPrivateKey made for this target (test key, never used
 * anywhere else). */
static const char sm2_d_hex[] =
    "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
static const char rsa_der_hex[] =
    "3082025C02010002818100F292B95F5249C55B5F6AD0797773F70A4440A6E351"
    "2C968B01CCAF45DC5D8A6CBBC81257F0F2304265E0748BAA1CB6EB4581CE553E"
    "C5F18CBD6F6584D35F369FAE36163DEC97782CF264FF447C01BEFBA72BBD1CB1"
    "59C2A7D3163BDA92EDCE8E6B0910E414097F2F26A95EC1DBFA8DCD330D71D800"
    "40516941FCC427B793103502030100010281801FBD20F21EF33616798AA15273"
    "55C20A1EDA12BC057FFF069B2AABF84918182797FE5AA0150FAB4ED4C3A49C2D"
    "9AEA3828750E894AD85D7D9BBFBA99C18A60BC0CB7846811C871452B8A13A8BB"
    "EBFEA14E9D0E5FE541283EB61549C75D905F3875B965139E3D707B636941CF22"
    "A0EFDA1E17D38E26267D3F6DB52ABD1AD68815024100FDA9BC0759FC95AEA52E"
    "EC60FC5A34E0146921844BA13C42A42EF19BB9D8235A62E3F95EA65FB7F6EE2D"
    "41576D2806F3CFA5FD4E851FFEBB4EB889BF940E3F6B024100F4CED586025588"
    "22DD218ED95C5851DA74355E28206D74DFEF1AE1DB08FA89A6F14043E25AE9BB"
    "F83F08928D51C5A52DEFE6589FC2D12AE2E215227C45EBF6DF024004CCA95A1A"
    "41C53340BCDA8C1B3A39B5E3ACF98D5F40F5BAED105651F3FA3AF102DDFD61E5"
    "13FA8F198291B1EDC6CC1AE0DAEB28092CC9CD11783C62FB922971024100B0AB"
    "93ECE24257BCD159267E36E6862BE131A281D2E52B33709B35E39CD73200089B"
    "186282B9ABADBBCFB3F3C8CF9A254CBC2FB91C1F5793E514DB8E53E7B6810240"
    "164AE38EDFB1D84C8DD6744E92CCE2596B96DD9C4C4ED5D53E9D1BB42EE8FB90"
    "713EC2C5F49424DB0DBB6FCCD5B0E50669844988F60AF9BACDE31E862F452364";

static char dir[64];
static struct hsm_config cfg;
static struct hsm_state st;
static struct hsm_worker w;
static struct hsm_audit *audit;
static int verbose;
static uint8_t req[HDRLEN + TKM_WIRE_LIMIT];
static uint8_t resp[RSP_CAP];

/* --- snapshots of the stores ---------------------------------------------
 */

#define SNAP_MAX 256

struct kent {
	int lib;
	unsigned index, version;
	uint8_t kcv[8];
	char type[HSM_TYPE_LEN + 1];
};

struct ksnap {
	unsigned n;
	struct kent e[SNAP_MAX];
};

static int
ksnap_one(void *arg, const struct hsm_key_info *k)
{
	struct ksnap *s = arg;

	CHECK(s->n < SNAP_MAX);
	memset(&s->e[s->n], 0, sizeof(s->e[0]));
	s->e[s->n].lib = k->lib;
	s->e[s->n].index = k->index;
	s->e[s->n].version = k->version;
	memcpy(s->e[s->n].kcv, k->kcv, 8);
	memcpy(s->e[s->n].type, k->type, sizeof(s->e[0].type));
	s->n++;
	return TKM_OK;
}

static void
ksnap_take(struct ksnap *s)
{
	s->n = 0;
	CHECK(hsm_keystore_list(w.ks, 0, ksnap_one, s) == TKM_OK);
}

static int
kent_eq(const struct kent *a, const struct kent *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Is a's entry i in b? (Both are in (lib, index) order.) */
static int
ksnap_has(const struct ksnap *b, const struct kent *e)
{
	unsigned i;

	for (i = 0; i < b->n; i++)
		if (kent_eq(&b->e[i], e))
			return 1;
	return 0;
}

#define LSNAP_MAX 16

struct lsnap {
	unsigned n;
	struct hsm_licence l[LSNAP_MAX];
};

static int
lsnap_one(void *arg, const struct hsm_licence *lic)
{
	struct lsnap *s = arg;

	CHECK(s->n < LSNAP_MAX);
	s->l[s->n++] = *lic;
	return TKM_OK;
}

static void
lsnap_take(struct lsnap *s)
{
	struct hsm_lic *lic = hsm_worker_lic(&w);

	CHECK(lic != NULL);
	memset(s, 0, sizeof(*s));
	CHECK(hsm_lic_list(lic, lsnap_one, s) == TKM_OK);
}

/* --- the fixture ------------------------------------------------------------
 */

static void
rm_dir(void)
{
	static const char *const names[] = {"keys.db", "keys.db-wal",
	    "keys.db-shm", "licences.db", "licences.db-wal", "licences.db-shm",
	    "audit.db", "audit.db-wal", "audit.db-shm", "audit.checkpoints"};
	char path[128];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void
cleanup(void)
{
	hsm_worker_cleanup(&w);
	hsm_audit_close(audit);
	hsm_dk_free(st.dk);
	rm_dir();
}

static void
put_sym(const struct fixkey *f)
{
	struct hsm_key_info i;
	uint8_t k[24];
	size_t n;

	memset(&i, 0, sizeof(i));
	CHECK(
	    tkm_hex_decode(f->hex, strlen(f->hex), k, sizeof(k), &n) == TKM_OK);
	i.lib = f->lib;
	i.index = f->index;
	memcpy(i.type, f->type, HSM_TYPE_LEN + 1);
	CHECK(tkm_kcv(f->lib == HSM_LIB_DES ? TKM_DES : TKM_SM4, k, n, i.kcv) ==
	      TKM_OK);
	CHECK(hsm_keystore_put(w.ks, &i, k, n) == TKM_OK);
}

/* One command through the dispatcher; the answer after the header. */
static const char *
run_n(const char *cmd, size_t n)
{
	struct tkm_wr out;

	memcpy(req, HDR, HDRLEN);
	memcpy(req + HDRLEN, cmd, n);
	tkm_wr_init(&out, resp, sizeof(resp) - 1);
	hsm_dispatch(&w, &cfg.listeners[0], req, HDRLEN + n, &out);
	CHECK(tkm_wr_error(&out) == TKM_OK && out.len >= 2 + HDRLEN + 4);
	resp[out.len] = '\0';
	return (const char *)resp + 2 + HDRLEN;
}

/* Store a key pair at index through EK, from a blob made as EI makes
 * them (keys.h: the message context, index 99). */
static void
load_pair(int lib, const char *hex, unsigned index)
{
	struct hsm_wrap_ctx wc;
	uint8_t secret[1024], blob[1024 + HSM_WRAP_OVERHEAD];
	char cmd[16 + 2 * sizeof(blob)];
	size_t n, bn = 0, len;

	CHECK(tkm_hex_decode(hex, strlen(hex), secret, sizeof(secret), &n) ==
	      TKM_OK);
	memset(&wc, 0, sizeof(wc));
	wc.index = TKM_ASYM_IN_MSG;
	memcpy(wc.type, lib == HSM_LIB_SM2 ? "SM2" : "RSA", 4);
	wc.alg = (uint8_t)lib;
	CHECK(hsm_dk_wrap(st.dk, &wc, secret, n, blob, &bn) == TKM_OK);
	len = (size_t)snprintf(cmd, sizeof(cmd), "EK%c%02u%04zu",
	    lib == HSM_LIB_SM2 ? 'S' : 'R', index, bn);
	memcpy(cmd + len, blob, bn);
	CHECK(memcmp(run_n(cmd, len + bn), "EL00", 4) == 0);
	tkm_cleanse(secret, sizeof(secret));
}

/* The maintenance key pair is the one labelled so (ident.h). */
static void
label_mkey(unsigned index)
{
	struct hsm_key_info i;
	uint8_t d[64];
	size_t n;

	CHECK(hsm_keystore_get(
		  w.ks, HSM_LIB_SM2, index, &i, d, sizeof(d), &n) == TKM_OK);
	snprintf(i.label, sizeof(i.label), "%s", HSM_MKEY_LABEL);
	CHECK(hsm_keystore_put(w.ks, &i, d, n) == TKM_OK);
	tkm_cleanse(d, sizeof(d));
}

static void
licences(void)
{
	struct hsm_lic *lic = hsm_worker_lic(&w);
	int64_t now = (int64_t)time(NULL);
	const int64_t far = now + 10 * 366 * 86400LL;
	const uint32_t many = 1000000000u;
	const struct hsm_licence l[] = {
	    {HSM_LIB_DES, 0x003, "UB", many, far, 0},
	    {HSM_LIB_SM4, 0x003, "UB", many, far, 0},
	    {HSM_LIB_DES, 0x509, "U1", 0, far, 0},
	    {HSM_LIB_SM4, 0x509, "U3", many, now - 1, 0},
	    {HSM_LIB_SM2, 1, "EH", many, far, 0},
	};
	uint8_t nonce[16];

	CHECK(lic != NULL);
	memset(nonce, 0x5A, sizeof(nonce));
	CHECK(hsm_lic_set_nonce(lic, nonce) == TKM_OK);
	CHECK(hsm_lic_replace(lic, nonce, 1, 1, l, sizeof(l) / sizeof(l[0]),
		  now) == TKM_OK);
}

static struct ksnap baseline;

static void
init(void)
{
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN];
	struct hsm_dk *dk = NULL;
	size_t i, n;

	verbose = getenv("TKMS_FUZZ_VERBOSE") != NULL;
	snprintf(dir, sizeof(dir), "%s/fuzz_hostcmd.XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	for (i = 0; i < HSM_DK_PARTS; i++)
		CHECK(tkm_hex_decode(comp_hex[i], 32, c[i], HSM_DK_LEN, &n) ==
			  TKM_OK &&
		      n == HSM_DK_LEN);
	CHECK(hsm_dk_new(c, &dk) == TKM_OK);
	snprintf(
	    cfg.listeners[0].addr, sizeof(cfg.listeners[0].addr), "127.0.0.1");
	cfg.listeners[0].hdrlen = HDRLEN;
	cfg.listeners[0].max_frame = TKM_WIRE_DEFAULT_MAX;
	cfg.nlisteners = 1;
	cfg.workers = 1;
	st.cfg = &cfg;
	st.dir = dir;
	atomic_store(&st.dk, dk);
	atomic_init(&st.authorised, 1);
	CHECK(hsm_audit_open(dir, &audit) == TKM_OK);
	st.audit = audit;
	CHECK(hsm_worker_init(&w, &st) == TKM_OK);
	CHECK(w.ks != NULL);
	atexit(cleanup);
	for (i = 0; i < NFIXKEYS; i++)
		put_sym(&fixkeys[i]);
	load_pair(HSM_LIB_SM2, sm2_d_hex, 1);
	load_pair(HSM_LIB_RSA, rsa_der_hex, 2);
	load_pair(HSM_LIB_SM2, sm2_d_hex, 3);
	label_mkey(3);
	licences();
	ksnap_take(&baseline);
}

/* Back to the baseline store: business commands only ever add keys. */
static void
reset_store(void)
{
	static struct ksnap now;
	unsigned i;

	ksnap_take(&now);
	for (i = 0; i < now.n; i++)
		if (!ksnap_has(&baseline, &now.e[i]))
			CHECK(hsm_keystore_delete(w.ks, now.e[i].lib,
				  now.e[i].index) == TKM_OK);
	ksnap_take(&now);
	CHECK(now.n == baseline.n &&
	      memcmp(now.e, baseline.e, now.n * sizeof(now.e[0])) == 0);
}

/* --- one frame ------------------------------------------------------------
 */

static int
stores_keys(const char *cmd)
{
	static const char *const codes[] = {"A0", "A6", "NE", "EI", "EK"};
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (memcmp(cmd, codes[i], 2) == 0)
			return 1;
	return 0;
}

/* An RSA key pair above 1024 bits: slow to make, nothing new to parse. */
static int
slow_keygen(const uint8_t *p, size_t n)
{
	unsigned bits = 0;
	size_t i;

	if (n < 8 || memcmp(p, "EIR", 3) != 0)
		return 0;
	for (i = 4; i < 8; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		bits = bits * 10 + (unsigned)(p[i] - '0');
	}
	return bits > 1024;
}

static int
is_alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

static void
check_answer(const struct tkm_req *rq, const uint8_t *a, size_t len)
{
	const uint8_t *f;
	size_t l, nf;

	CHECK(len >= 2 + HDRLEN + 4 && len <= RSP_CAP);
	l = (size_t)a[0] << 8 | a[1];
	CHECK(l == len - 2);
	CHECK(memcmp(a + 2, HDR, HDRLEN) == 0);
	f = a + 2 + HDRLEN;
	if (rq->cmd[0] != '\0')
		CHECK(f[0] == (uint8_t)rq->cmd[0] &&
		      f[1] == (uint8_t)(rq->cmd[1] + 1));
	else
		CHECK(f[0] == 'Z' && f[1] == 'Z');
	CHECK(is_alnum(f[2]) && is_alnum(f[3]));
	if (f[2] == '0' && f[3] == '0')
		return;
	/* An error: no fields, at most the trailer echoed. */
	nf = len - 2 - HDRLEN - 4;
	if (nf == 0)
		return;
	CHECK(rq->trl != NULL && nf == 1 + rq->trllen &&
	      f[4] == TKM_WIRE_TRAILER_SEP &&
	      memcmp(f + 5, rq->trl, rq->trllen) == 0);
}

/* The key slots are wiped after every command (cmd.h). */
static void
check_slots(void)
{
	static const struct hsm_key zero;
	struct hsm_cmd_ctx c = {&w, &cfg.listeners[0], NULL};
	unsigned i;

	for (i = 0; i < HSM_KEY_SLOTS; i++)
		CHECK(memcmp(hsm_slot(&c, i), &zero, sizeof(zero)) == 0);
}

static void
check_store(
    const char *cmd, int ok, const struct ksnap *b, const struct ksnap *a)
{
	unsigned i;

	if (a->n == b->n) {
		CHECK(memcmp(a->e, b->e, a->n * sizeof(a->e[0])) == 0);
		return;
	}
	/* Exactly one key more, stored by a command that may store, and
	 * every key that was there is unchanged. */
	CHECK(ok && stores_keys(cmd));
	CHECK(a->n == b->n + 1);
	for (i = 0; i < b->n; i++)
		CHECK(ksnap_has(a, &b->e[i]));
}

static void
check_licences(
    const char *cmd, int ok, const struct lsnap *b, const struct lsnap *a)
{
	unsigned i;

	CHECK(a->n == b->n);
	for (i = 0; i < a->n; i++) {
		CHECK(a->l[i].lib == b->l[i].lib &&
		      a->l[i].index == b->l[i].index &&
		      memcmp(a->l[i].cmd, b->l[i].cmd, 3) == 0 &&
		      a->l[i].until == b->l[i].until);
		if (a->l[i].remaining == b->l[i].remaining) {
			CHECK(a->l[i].used == b->l[i].used);
			continue;
		}
		CHECK(ok && memcmp(a->l[i].cmd, cmd, 2) == 0);
		CHECK(a->l[i].remaining + 1 == b->l[i].remaining &&
		      a->l[i].used == b->l[i].used + 1);
	}
}

static void
dump(const char *what, const uint8_t *p, size_t n)
{
	size_t i;

	fprintf(stderr, "%s ", what);
	for (i = 0; i < n; i++)
		if (p[i] >= 0x20 && p[i] < 0x7F && p[i] != '\\')
			fputc(p[i], stderr);
		else
			fprintf(stderr, "\\x%02X", p[i]);
	fputc('\n', stderr);
}

static void
one_frame(const uint8_t *body, size_t n)
{
	static struct ksnap kb, ka;
	static struct lsnap lb, la;
	struct tkm_req rq;
	struct tkm_wr out;
	char cmd[3] = {0};
	int ok, rc;

	if (slow_keygen(body, n))
		return;
	memcpy(req, HDR, HDRLEN);
	memcpy(req + HDRLEN, body, n);
	/* The request as the dispatcher sees it, for the expected answer
	 * (a frame that does not parse still leaves rq usable, wire.h). */
	rc = tkm_req_parse(req, HDRLEN + n, HDRLEN, &rq);
	(void)rc;
	memcpy(cmd, rq.cmd, 2);
	ksnap_take(&kb);
	lsnap_take(&lb);
	tkm_wr_init(&out, resp, sizeof(resp));
	hsm_dispatch(&w, &cfg.listeners[0], req, HDRLEN + n, &out);
	CHECK(tkm_wr_error(&out) == TKM_OK);
	if (verbose) {
		dump(">", body, n);
		dump("<", resp + 2 + HDRLEN, out.len - 2 - HDRLEN);
	}
	check_answer(&rq, resp, out.len);
	check_slots();
	ok = resp[2 + HDRLEN + 2] == '0' && resp[2 + HDRLEN + 3] == '0';
	ksnap_take(&ka);
	lsnap_take(&la);
	check_store(cmd, ok, &kb, &ka);
	check_licences(cmd, ok, &lb, &la);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i, n, frames = 0;

	if (w.st == NULL)
		init();
	if (size < 1)
		return 0;
	atomic_store(&st.authorised, data[0] & 1);
	for (i = 1; i < size && frames < MAX_FRAMES; i += n, frames++) {
		if (size - i < 2) {
			n = size - i;
		} else {
			n = (size_t)data[i] << 8 | data[i + 1];
			i += 2;
			if (n > size - i)
				n = size - i;
		}
		if (n > TKM_WIRE_LIMIT - HDRLEN)
			n = TKM_WIRE_LIMIT - HDRLEN;
		one_frame(data + i, n);
	}
	reset_store();
	return 0;
}
