/*
 * test_audit.c - the chained audit log (audit.h): append, list, verify,
 * and the tampering verify must find: an edited, deleted or reordered
 * record, a chain recomputed without the device key, a wrong device key;
 * signed checkpoints (docs/audit.md) and what they add: the newest
 * records cut off, a checkpoint forged, altered, of another key or of
 * another HSM; automatic checkpoints; rotation and its crash recovery.
 * The signer is the test's own SM2 key, not the HSM identity.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "hsmtest.h"

#include "audit.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"
#include "tkm/sm2.h"

#define SERIAL "TKMS0123456789AB"

/* A signer of the test's own: an SM2 key and a serial. */
struct signer {
	uint8_t d[TKM_SM2_PRIV_LEN];
	uint8_t pub[TKM_SM2_PUB_LEN];
	char serial[HSM_AUDIT_SERIAL_MAX + 1];
	int fail; /* key() answers this when not TKM_OK */
	int keys; /* key() calls */
};

struct fix {
	char dir[64];
	struct hsm_dk *dk;
	struct hsm_audit *au;
	struct signer sg, other;
};

static int
sg_serial(void *arg, char out[HSM_AUDIT_SERIAL_MAX + 1])
{
	struct signer *s = arg;

	snprintf(out, HSM_AUDIT_SERIAL_MAX + 1, "%s", s->serial);
	return TKM_OK;
}

static int
sg_key(void *arg, const struct hsm_dk *dk, struct tkm_sm2 **out)
{
	struct signer *s = arg;

	*out = NULL;
	assert_non_null(dk);
	s->keys++;
	if (s->fail != TKM_OK)
		return s->fail;
	return tkm_sm2_from_priv(s->d, out);
}

static int
sg_pub(void *arg, const struct hsm_dk *dk, uint8_t pub[TKM_SM2_PUB_LEN])
{
	struct signer *s = arg;

	assert_non_null(dk);
	memcpy(pub, s->pub, TKM_SM2_PUB_LEN);
	return TKM_OK;
}

static void
signer_new(struct signer *s, const char *serial)
{
	struct tkm_sm2 *k;

	memset(s, 0, sizeof(*s));
	assert_int_equal(tkm_sm2_generate(&k), TKM_OK);
	assert_int_equal(tkm_sm2_priv(k, s->d), TKM_OK);
	assert_int_equal(tkm_sm2_pub(k, s->pub), TKM_OK);
	tkm_sm2_free(k);
	snprintf(s->serial, sizeof(s->serial), "%s", serial);
}

/* Make s the log's signer. */
static void
use(struct fix *f, struct signer *s)
{
	const struct hsm_audit_signer hs = {s, sg_serial, sg_key, sg_pub};

	hsm_audit_set_signer(f->au, &hs);
}

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	hsmtest_mkdtemp(f->dir);
	hsmtest_remember(f->dir, 1);
	f->dk = hsmtest_dk();
	assert_int_equal(hsm_audit_open(f->dir, &f->au), TKM_OK);
	signer_new(&f->sg, SERIAL);
	signer_new(&f->other, SERIAL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	hsm_audit_close(f->au);
	hsm_dk_free(f->dk);
	tkm_cleanse(&f->sg, sizeof(f->sg));
	tkm_cleanse(&f->other, sizeof(f->other));
	hsmtest_rmdir(f->dir);
	hsmtest_remember(f->dir, 0);
	free(f);
	return 0;
}

/* n records "op1".."opn" under dk (NULL: unmacked). */
static void
add(struct fix *f, const struct hsm_dk *dk, int n)
{
	char op[16];
	int i;

	for (i = 1; i <= n; i++) {
		snprintf(op, sizeof(op), "op%d", i);
		assert_int_equal(hsm_audit_append(f->au, dk, "C", op,
				     i % 2 ? TKM_OK : TKM_ERR_PERMISSION,
				     "{\"lib\":\"des\"}"),
		    TKM_OK);
	}
}

static void
expect_ok(
    struct fix *f, const struct hsm_dk *dk, uint64_t records, uint64_t unmacked)
{
	struct hsm_audit_report rep;

	assert_int_equal(hsm_audit_verify(f->au, dk, &rep), TKM_OK);
	assert_int_equal(rep.first_bad, 0);
	assert_null(rep.why);
	assert_int_equal(rep.records, records);
	assert_int_equal(rep.unmacked, unmacked);
}

static void
expect_bad(struct fix *f, const struct hsm_dk *dk, uint64_t seq)
{
	struct hsm_audit_report rep;

	assert_int_equal(hsm_audit_verify(f->au, dk, &rep), TKM_OK);
	assert_int_equal(rep.first_bad, seq);
	assert_non_null(rep.why);
}

/* Raw SQL on audit.db, as someone with write access to the file. */
static void
sql(struct fix *f, const char *q)
{
	char path[128];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/audit.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

struct got {
	struct hsm_audit_rec r[64];
	char op[64][32], actor[64][64], detail[64][128];
	size_t n;
};

static int
collect(void *arg, const struct hsm_audit_rec *r)
{
	struct got *g = arg;

	assert_true(g->n < 64);
	g->r[g->n] = *r;
	snprintf(g->op[g->n], 32, "%s", r->op);
	snprintf(g->actor[g->n], 64, "%s", r->actor);
	snprintf(g->detail[g->n], 128, "%s", r->detail);
	g->r[g->n].hash = NULL;
	g->r[g->n].mac = r->mac; /* compared with NULL only */
	g->n++;
	return TKM_OK;
}

static void
test_append_list_verify(void **state)
{
	struct fix *f = *state;
	struct got *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	expect_ok(f, f->dk, 0, 0);
	add(f, f->dk, 5);
	assert_int_equal(hsm_audit_last(f->au), 5);
	assert_int_equal(hsm_audit_list(f->au, 2, 3, collect, g), TKM_OK);
	assert_int_equal(g->n, 3);
	assert_int_equal(g->r[0].seq, 2);
	assert_string_equal(g->op[0], "op2");
	assert_int_equal(g->r[0].result, TKM_ERR_PERMISSION);
	assert_string_equal(g->actor[2], "C");
	assert_string_equal(g->detail[2], "{\"lib\":\"des\"}");
	assert_non_null(g->r[2].mac);
	expect_ok(f, f->dk, 5, 0);
	/* Without DK the chain is still checked. */
	expect_ok(f, NULL, 5, 0);
	free(g);
}

static void
test_reopen_continues(void **state)
{
	struct fix *f = *state;

	add(f, f->dk, 3);
	hsm_audit_close(f->au);
	assert_int_equal(hsm_audit_open(f->dir, &f->au), TKM_OK);
	assert_int_equal(hsm_audit_last(f->au), 3);
	add(f, f->dk, 2);
	expect_ok(f, f->dk, 5, 0);
}

static void
test_edited(void **state)
{
	struct fix *f = *state;

	add(f, f->dk, 5);
	sql(f, "UPDATE records SET detail = 'nothing' WHERE seq = 3");
	expect_bad(f, f->dk, 3);
}

static void
test_edited_result(void **state)
{
	struct fix *f = *state;

	add(f, f->dk, 5);
	sql(f, "UPDATE records SET result = 0 WHERE seq = 4");
	expect_bad(f, NULL, 4);
}

static void
test_deleted_middle(void **state)
{
	struct fix *f = *state;

	add(f, f->dk, 5);
	sql(f, "DELETE FROM records WHERE seq = 3");
	expect_bad(f, f->dk, 4);
}

static void
test_deleted_first(void **state)
{
	struct fix *f = *state;

	add(f, f->dk, 3);
	sql(f, "DELETE FROM records WHERE seq = 1");
	expect_bad(f, f->dk, 2);
}

static void
test_renumbered(void **state)
{
	struct fix *f = *state;

	/* Closing the gap by renumbering breaks the hashes instead. */
	add(f, f->dk, 5);
	sql(f, "DELETE FROM records WHERE seq = 3;"
	       "UPDATE records SET seq = 3 WHERE seq = 4;"
	       "UPDATE records SET seq = 4 WHERE seq = 5");
	expect_bad(f, f->dk, 3);
}

static void
test_reordered(void **state)
{
	struct fix *f = *state;

	add(f, f->dk, 5);
	sql(f, "UPDATE records SET seq = 100 WHERE seq = 2;"
	       "UPDATE records SET seq = 2 WHERE seq = 4;"
	       "UPDATE records SET seq = 4 WHERE seq = 100");
	expect_bad(f, f->dk, 2);
}

static void
test_malformed(void **state)
{
	struct fix *f = *state;

	add(f, f->dk, 3);
	sql(f, "UPDATE records SET hash = x'00' WHERE seq = 2");
	expect_bad(f, f->dk, 2);
}

/* The hash of audit.c's layout, recomputed as a forger would. */
static void
forge_hash(const uint8_t prev[32], uint64_t seq, int64_t tm, const char *actor,
    const char *op, int result, const char *detail, uint8_t out[32])
{
	uint8_t b[2048];
	size_t n = 0, l;
	int i;

	memcpy(b, prev, 32);
	n = 32;
	for (i = 7; i >= 0; i--)
		b[n++] = (uint8_t)(seq >> (8 * i));
	for (i = 7; i >= 0; i--)
		b[n++] = (uint8_t)((uint64_t)tm >> (8 * i));
#define PUT_STR(s)                                                             \
	do {                                                                   \
		l = strlen(s);                                                 \
		for (i = 3; i >= 0; i--)                                       \
			b[n++] = (uint8_t)(l >> (8 * i));                      \
		memcpy(b + n, s, l);                                           \
		n += l;                                                        \
	} while (0)
	PUT_STR(actor);
	PUT_STR(op);
	for (i = 3; i >= 0; i--)
		b[n++] = (uint8_t)((uint32_t)result >> (8 * i));
	PUT_STR(detail);
#undef PUT_STR
	assert_int_equal(tkm_hash(TKM_SM3, b, n, out), TKM_OK);
}

/* Rewrite record 2's detail and recompute every hash after it: the chain
 * is whole again, only the MACs tell. */
static void
test_recomputed_chain(void **state)
{
	struct fix *f = *state;
	struct got *g = calloc(1, sizeof(*g));
	uint8_t prev[32] = {0}, h[32];
	char hex[65], q[256];
	size_t i;

	assert_non_null(g);
	add(f, f->dk, 4);
	assert_int_equal(hsm_audit_list(f->au, 1, 10, collect, g), TKM_OK);
	snprintf(g->detail[1], sizeof(g->detail[1]), "forged");
	sql(f, "UPDATE records SET detail = 'forged' WHERE seq = 2");
	for (i = 0; i < g->n; i++) {
		forge_hash(prev, g->r[i].seq, g->r[i].time, g->actor[i],
		    g->op[i], g->r[i].result, g->detail[i], h);
		tkm_hex_encode(h, 32, hex);
		snprintf(q, sizeof(q),
		    "UPDATE records SET hash = x'%s' WHERE seq = %zu", hex,
		    i + 1);
		sql(f, q);
		memcpy(prev, h, 32);
	}
	/* Without DK the forged chain passes (which also shows that the
	 * layout above is audit.c's); the MAC of record 2 does not. */
	expect_ok(f, NULL, 4, 0);
	expect_bad(f, f->dk, 2);
	free(g);
}

static void
test_wrong_dk(void **state)
{
	struct fix *f = *state;
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN];
	struct hsm_dk *other;

	memset(c, 0x5A, sizeof(c));
	assert_int_equal(hsm_dk_new(c, &other), TKM_OK);
	add(f, f->dk, 2);
	expect_ok(f, f->dk, 2, 0);
	expect_bad(f, other, 1);
	hsm_dk_free(other);
}

static void
test_unmacked_counted(void **state)
{
	struct fix *f = *state;

	add(f, NULL, 2); /* sealed */
	add(f, f->dk, 3);
	expect_ok(f, f->dk, 5, 2);
}

static void
test_truncation_not_detected(void **state)
{
	struct fix *f = *state;

	/* The chain alone cannot tell: only checkpoints can (below). */
	add(f, f->dk, 4);
	sql(f, "DELETE FROM records WHERE seq = 4");
	expect_ok(f, f->dk, 3, 0);
}

/* --- checkpoints ---------------------------------------------------------- */

/* A checkpoint of the newest record now, as hsm_audit_checkpoint() gives
 * it; seq checked. */
static void
checkpoint(struct fix *f, uint64_t want_seq, char line[HSM_AUDIT_CP_MAX])
{
	uint64_t seq;

	assert_int_equal(
	    hsm_audit_checkpoint(f->au, f->dk, line, &seq), TKM_OK);
	assert_int_equal(seq, want_seq);
}

/* The file's text (at most 64 KiB), "" if it is missing. */
static char *
slurp(struct fix *f, const char *name)
{
	static char buf[65536];
	char path[128];
	size_t n = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	buf[0] = '\0';
	if ((fp = fopen(path, "r")) == NULL)
		return buf;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static int
file_exists(struct fix *f, const char *name)
{
	char path[128];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	return stat(path, &sb) == 0;
}

static void
put_file(struct fix *f, const char *name, const char *text, const char *mode)
{
	char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_non_null(fp = fopen(path, mode));
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* Verify (with the checkpoint line cp, may be NULL) and expect a fault:
 * first_bad and a why containing want. */
static void
expect_fault(struct fix *f, const struct hsm_dk *dk, const char *cp,
    uint64_t first_bad, const char *want)
{
	struct hsm_audit_report rep;

	assert_int_equal(hsm_audit_verify_with(f->au, dk, cp, &rep), TKM_OK);
	assert_false(rep.ok);
	assert_non_null(rep.why);
	if (strstr(rep.why, want) == NULL)
		fail_msg("why \"%s\" lacks \"%s\"", rep.why, want);
	assert_int_equal(rep.first_bad, first_bad);
}

static void
expect_clean(struct fix *f, const struct hsm_dk *dk, const char *cp,
    uint64_t checkpoints)
{
	struct hsm_audit_report rep;

	assert_int_equal(hsm_audit_verify_with(f->au, dk, cp, &rep), TKM_OK);
	if (!rep.ok)
		fail_msg("verify: %s", rep.why);
	assert_null(rep.why);
	assert_int_equal(rep.first_bad, 0);
	assert_int_equal(rep.checkpoints, checkpoints);
}

/* The stored hash of record seq, in hex. */
static void
hash_hex(struct fix *f, uint64_t seq, char out[65])
{
	struct got *g = calloc(1, sizeof(*g));
	uint8_t h[32];
	char q[128];
	sqlite3_stmt *s;
	sqlite3 *db;

	assert_non_null(g);
	snprintf(q, sizeof(q), "%s/audit.db", f->dir);
	assert_int_equal(sqlite3_open(q, &db), SQLITE_OK);
	snprintf(q, sizeof(q), "SELECT hash FROM records WHERE seq = %llu",
	    (unsigned long long)seq);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(s, 0), 32);
	memcpy(h, sqlite3_column_blob(s, 0), 32);
	sqlite3_finalize(s);
	sqlite3_close(db);
	tkm_hex_encode(h, 32, out);
	free(g);
}

/* The line's format and signature, checked field by field here rather
 * than by audit.c's parser. */
static void
test_checkpoint_format(void **state)
{
	struct fix *f = *state;
	char line[HSM_AUDIT_CP_MAX], want[HSM_AUDIT_CP_MAX + 8], hash[65],
	    pub[129];
	uint8_t sig[64];
	struct tkm_sm2 *k;
	const char *p;
	struct stat sb;
	long long t;
	time_t now = time(NULL);

	use(f, &f->sg);
	add(f, f->dk, 5);
	checkpoint(f, 5, line);
	hash_hex(f, 5, hash);
	tkm_hex_encode(f->sg.pub, 64, pub);
	snprintf(want, sizeof(want),
	    "TKMS-AUDIT-CHECKPOINT 1 serial=" SERIAL " seq=5 hash=%s time=",
	    hash);
	assert_memory_equal(line, want, strlen(want));
	p = line + strlen(want);
	t = strtoll(p, (char **)&p, 10);
	assert_true(t >= now - 5 && t <= now + 5);
	snprintf(want, sizeof(want), " key=%s sig=", pub);
	assert_memory_equal(p, want, strlen(want));
	p += strlen(want);
	assert_int_equal(strlen(p), 128);
	assert_int_equal(hsmtest_unhex(p, sig, sizeof(sig)), 64);
	/* SM2 with the default ID over everything before " sig=". */
	assert_int_equal(tkm_sm2_from_pub(f->sg.pub, &k), TKM_OK);
	assert_int_equal(
	    tkm_sm2_verify(k, NULL, 0, line, (size_t)(p - line) - 5, sig),
	    TKM_OK);
	tkm_sm2_free(k);
	/* Kept in DIR/audit.checkpoints, one line, mode 0600. */
	snprintf(want, sizeof(want), "%s\n", line);
	assert_string_equal(slurp(f, "audit.checkpoints"), want);
	snprintf(want, sizeof(want), "%s/audit.checkpoints", f->dir);
	assert_int_equal(stat(want, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* It verifies, given and from the file; and another appends. */
	expect_clean(f, f->dk, line, 2);
	add(f, f->dk, 2);
	checkpoint(f, 7, line);
	expect_clean(f, f->dk, NULL, 2);
}

static void
test_checkpoint_needs(void **state)
{
	struct fix *f = *state;
	char line[HSM_AUDIT_CP_MAX];
	uint64_t seq;

	add(f, f->dk, 1);
	/* No signer, no DK, or a signer that fails: no checkpoint. */
	assert_int_equal(
	    hsm_audit_checkpoint(f->au, f->dk, line, &seq), TKM_ERR_NO_KEY);
	use(f, &f->sg);
	assert_int_equal(
	    hsm_audit_checkpoint(f->au, NULL, line, &seq), TKM_ERR_SEALED);
	f->sg.fail = TKM_ERR_VERIFY;
	assert_int_equal(
	    hsm_audit_checkpoint(f->au, f->dk, line, &seq), TKM_ERR_VERIFY);
	assert_string_equal(line, "");
	assert_false(file_exists(f, "audit.checkpoints"));
	assert_int_equal(
	    hsm_audit_checkpoint(NULL, f->dk, line, &seq), TKM_ERR_INPUT);
	/* An empty log has a checkpoint too (seq 0), which verifies. */
	f->sg.fail = TKM_OK;
	hsm_audit_set_signer(f->au, NULL);
	expect_clean(f, f->dk, NULL, 0);
}

/* The case checkpoints exist for: the newest records cut off. */
static void
test_checkpoint_truncation(void **state)
{
	struct fix *f = *state;
	char line[HSM_AUDIT_CP_MAX];

	use(f, &f->sg);
	add(f, f->dk, 10);
	checkpoint(f, 10, line);
	sql(f, "DELETE FROM records WHERE seq > 6");
	/* From the file, */
	expect_fault(f, f->dk, NULL, 7, "log truncated: checkpoint of ");
	expect_fault(f, f->dk, NULL, 7,
	    "names record 10, the log ends at 6 (audit.checkpoints line 1)");
	/* and from a copy kept elsewhere with the file gone too. */
	put_file(f, "audit.checkpoints", "", "w");
	expect_fault(f, f->dk, line, 7, "names record 10, the log ends at 6");
	/* The chain alone is whole: only the checkpoint tells. */
	expect_clean(f, f->dk, NULL, 0);
	/* Sealed (no public key from the signer), still found. */
	expect_fault(f, NULL, line, 7, "log truncated");
}

/* Several lines given (a copy of audit.checkpoints kept elsewhere). */
static void
test_checkpoint_given_lines(void **state)
{
	struct fix *f = *state;
	char a[HSM_AUDIT_CP_MAX], b[HSM_AUDIT_CP_MAX];
	char text[3 * HSM_AUDIT_CP_MAX];

	use(f, &f->sg);
	add(f, f->dk, 5);
	checkpoint(f, 5, a);
	add(f, f->dk, 5);
	checkpoint(f, 10, b);
	snprintf(text, sizeof(text), "%s\n\r\n%s\n", a, b);
	put_file(f, "audit.checkpoints", "", "w");
	expect_clean(f, f->dk, text, 2);
	sql(f, "DELETE FROM records WHERE seq > 7");
	expect_fault(f, f->dk, text, 8,
	    "names record 10, the log ends at 7 (line 3 of those given)");
}

/* Truncated, then the HSM wrote new records at the same seqs. */
static void
test_checkpoint_refilled(void **state)
{
	struct fix *f = *state;
	char line[HSM_AUDIT_CP_MAX];

	use(f, &f->sg);
	add(f, f->dk, 10);
	checkpoint(f, 10, line);
	hsm_audit_close(f->au);
	sql(f, "DELETE FROM records WHERE seq > 7");
	assert_int_equal(hsm_audit_open(f->dir, &f->au), TKM_OK);
	use(f, &f->sg);
	add(f, f->dk, 3);
	expect_fault(
	    f, f->dk, line, 10, "record 10 differs from the checkpoint");
}

/* The newest record rewritten with its hash recomputed: without DK (no
 * MAC check) only the checkpoint tells. */
static void
test_checkpoint_last_rewritten(void **state)
{
	struct fix *f = *state;
	struct got *g = calloc(1, sizeof(*g));
	char line[HSM_AUDIT_CP_MAX], hex[65], q[256], prev_hex[65];
	uint8_t prev[32], h[32];

	assert_non_null(g);
	use(f, &f->sg);
	add(f, f->dk, 3);
	checkpoint(f, 3, line);
	assert_int_equal(hsm_audit_list(f->au, 3, 1, collect, g), TKM_OK);
	hash_hex(f, 2, prev_hex);
	hsmtest_unhex(prev_hex, prev, sizeof(prev));
	forge_hash(prev, 3, g->r[0].time, g->actor[0], g->op[0], g->r[0].result,
	    "forged", h);
	tkm_hex_encode(h, 32, hex);
	snprintf(q, sizeof(q),
	    "UPDATE records SET detail = 'forged', hash = x'%s' WHERE seq = 3",
	    hex);
	sql(f, q);
	expect_fault(f, NULL, line, 3, "record 3 differs from the checkpoint");
	expect_fault(f, f->dk, line, 3, "MAC mismatch");
	free(g);
}

/* Tampering the chain finds, with a checkpoint present: still reported
 * at the first broken record. */
static void
test_checkpoint_with_tampering(void **state)
{
	static const struct {
		const char *sql;
		uint64_t first_bad;
		const char *why;
	} cases[] = {
	    {"UPDATE records SET detail = 'x' WHERE seq = 4", 4,
		"hash mismatch"},
	    {"UPDATE records SET seq = 100 WHERE seq = 2;"
	     "UPDATE records SET seq = 2 WHERE seq = 5;"
	     "UPDATE records SET seq = 5 WHERE seq = 100",
		2, "hash mismatch"},
	    {"DELETE FROM records WHERE seq = 3", 4, "gap"},
	    {"DELETE FROM records WHERE seq >= 7", 7, "log truncated"},
	};
	struct fix *f = *state;
	char line[HSM_AUDIT_CP_MAX];
	size_t i;

	use(f, &f->sg);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hsm_audit_close(f->au);
		hsmtest_rmdir(f->dir);
		assert_int_equal(mkdir(f->dir, 0700), 0);
		assert_int_equal(hsm_audit_open(f->dir, &f->au), TKM_OK);
		use(f, &f->sg);
		add(f, f->dk, 8);
		checkpoint(f, 8, line);
		expect_clean(f, f->dk, line, 2);
		sql(f, cases[i].sql);
		expect_fault(f, f->dk, line, cases[i].first_bad, cases[i].why);
	}
}

/* Checkpoints not made by this HSM's identity. */
static void
test_checkpoint_forged(void **state)
{
	struct fix *f = *state;
	char good[HSM_AUDIT_CP_MAX], other[HSM_AUDIT_CP_MAX],
	    serial[HSM_AUDIT_CP_MAX], bad[HSM_AUDIT_CP_MAX + 16], fp[17];
	char *p, *sig;
	uint8_t h[32], s[64];
	struct tkm_sm2 *k;

	add(f, f->dk, 4);
	/* By another key (that names itself). */
	use(f, &f->other);
	checkpoint(f, 4, other);
	/* By this key, as another HSM (other serial). */
	snprintf(f->sg.serial, sizeof(f->sg.serial), "TKMS000000000001");
	use(f, &f->sg);
	checkpoint(f, 4, serial);
	snprintf(f->sg.serial, sizeof(f->sg.serial), "%s", SERIAL);
	checkpoint(f, 4, good);
	put_file(f, "audit.checkpoints", "", "w");
	expect_clean(f, f->dk, good, 1);

	assert_int_equal(tkm_hash(TKM_SM3, f->other.pub, 64, h), TKM_OK);
	tkm_hex_encode(h, 8, fp);
	expect_fault(f, f->dk, other, 0, "signed by another key");
	expect_fault(f, f->dk, other, 0, fp);
	expect_fault(f, f->dk, serial, 0,
	    "checkpoint of another HSM (serial TKMS000000000001)");

	/* Naming this HSM's key but signed by another: bad signature. */
	snprintf(bad, sizeof(bad), "%s", good);
	sig = strstr(bad, " sig=") + 5;
	assert_int_equal(tkm_sm2_from_priv(f->other.d, &k), TKM_OK);
	assert_int_equal(
	    tkm_sm2_sign(k, NULL, 0, bad, (size_t)(sig - 5 - bad), s), TKM_OK);
	tkm_sm2_free(k);
	tkm_hex_encode(s, 64, sig);
	expect_fault(f, f->dk, bad, 0, "signature invalid");
	/* Altered: a later seq, a digit of the hash, the time. */
	snprintf(bad, sizeof(bad), "%s", good);
	p = strstr(bad, " seq=4") + 5;
	*p = '3';
	expect_fault(f, f->dk, bad, 0, "signature invalid");
	snprintf(bad, sizeof(bad), "%s", good);
	p = strstr(bad, " hash=") + 6;
	*p = *p == '0' ? '1' : '0';
	expect_fault(f, f->dk, bad, 0, "signature invalid");
	snprintf(bad, sizeof(bad), "%s", good);
	p = strstr(bad, " time=") + 6;
	*p = *p == '1' ? '2' : '1';
	expect_fault(f, f->dk, bad, 0, "signature invalid");
	/* Sealed, the key is not compared (keys_checked 0), but another
	 * key's checkpoint still has to name the right record. */
	expect_clean(f, NULL, other, 1);
	expect_fault(f, NULL, bad, 0, "signature invalid");
}

static void
test_checkpoint_malformed(void **state)
{
	static const char *const lines[] = {
	    "hello",
	    "TKMS-AUDIT-CHECKPOINT 2 serial=X seq=1",
	    "TKMS-AUDIT-CHECKPOINT 1 serial= seq=1",
	};
	struct fix *f = *state;
	char line[HSM_AUDIT_CP_MAX], bad[HSM_AUDIT_CP_MAX + 32], *p;
	char big[2000];
	size_t i;

	use(f, &f->sg);
	add(f, f->dk, 2);
	checkpoint(f, 2, line);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		expect_fault(f, f->dk, lines[i], 0, "malformed checkpoint");
	/* Fields out of place, a short signature, something after it. */
	snprintf(bad, sizeof(bad), "%s", line);
	p = strstr(bad, " seq=");
	memcpy(p, " SEQ=", 5);
	expect_fault(f, f->dk, bad, 0, "malformed");
	snprintf(bad, sizeof(bad), "%s", line);
	bad[strlen(bad) - 2] = '\0';
	expect_fault(f, f->dk, bad, 0, "malformed");
	snprintf(bad, sizeof(bad), "%s x", line);
	expect_fault(f, f->dk, bad, 0, "malformed");
	/* Trailing white space (a file's line end) is fine. */
	snprintf(bad, sizeof(bad), "%s\r\n", line);
	expect_clean(f, f->dk, bad, 2);
	/* In the file: blank lines skipped; a bad line found by number;
	 * an overlong one too, and the line after it is read as a line. */
	put_file(f, "audit.checkpoints", "\n", "a");
	expect_clean(f, f->dk, NULL, 1);
	memset(big, 'x', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	put_file(f, "audit.checkpoints", big, "a");
	expect_fault(f, f->dk, NULL, 0,
	    "malformed checkpoint (audit.checkpoints line 3)");
	put_file(f, "audit.checkpoints", "", "w");
	put_file(f, "audit.checkpoints", big, "a");
	snprintf(bad, sizeof(bad), "%s\n", line);
	put_file(f, "audit.checkpoints", bad, "a");
	expect_fault(f, f->dk, NULL, 0, "line 1)");
	put_file(f, "audit.checkpoints", bad, "w");
	put_file(f, "audit.checkpoints", "junk\n", "a");
	expect_fault(f, f->dk, NULL, 0, "line 2)");
}

/* Lines in audit.checkpoints. */
static size_t
cp_lines(struct fix *f, const char *name)
{
	const char *p = slurp(f, name);
	size_t n = 0;

	for (; *p != '\0'; p++)
		n += *p == '\n';
	return n;
}

static void
test_checkpoint_automatic(void **state)
{
	struct fix *f = *state;
	struct got *g = calloc(1, sizeof(*g));
	const uint64_t every = HSM_AUDIT_CHECKPOINT_EVERY;

	assert_non_null(g);
	use(f, &f->sg);
	/* Sealed appends make none; the first under a DK past the
	 * multiple does. */
	add(f, NULL, (int)every);
	assert_int_equal(cp_lines(f, "audit.checkpoints"), 0);
	add(f, f->dk, 1);
	assert_int_equal(cp_lines(f, "audit.checkpoints"), 1);
	assert_non_null(strstr(slurp(f, "audit.checkpoints"), " seq=1001 "));
	/* Then at the next multiple, not before. */
	add(f, f->dk, (int)every - 2);
	assert_int_equal(cp_lines(f, "audit.checkpoints"), 1);
	assert_int_equal(f->sg.keys, 1);
	add(f, f->dk, 1);
	assert_int_equal(cp_lines(f, "audit.checkpoints"), 2);
	assert_non_null(strstr(slurp(f, "audit.checkpoints"), " seq=2000 "));
	expect_clean(f, f->dk, NULL, 2);
	/* Refusals count as records too. */
	add(f, f->dk, (int)every - 1);
	assert_int_equal(hsm_audit_refusal(f->au, f->dk, "10.0.0.1:1", "UB",
			     TKM_ERR_WHITELIST),
	    TKM_OK);
	assert_int_equal(cp_lines(f, "audit.checkpoints"), 3);
	/* One that fails is said in the log. */
	f->sg.fail = TKM_ERR_VERIFY;
	add(f, f->dk, (int)every);
	assert_int_equal(cp_lines(f, "audit.checkpoints"), 3);
	assert_int_equal(hsm_audit_last(f->au), 4 * every + 1);
	assert_int_equal(
	    hsm_audit_list(f->au, 4 * every + 1, 1, collect, g), TKM_OK);
	assert_string_equal(g->op[0], "audit.checkpoint");
	assert_string_equal(g->actor[0], "hsm");
	assert_int_equal(g->r[0].result, TKM_ERR_VERIFY);
	assert_string_equal(
	    g->detail[0], "automatic checkpoint of record 4000 failed");
	expect_clean(f, f->dk, NULL, 3);
	free(g);
}

/* --- rotation ------------------------------------------------------------- */

/* Open DIR/name (an archived log) as the log of a directory of its own,
 * with its checkpoints, and verify it under dk. */
static void
verify_archive(struct fix *f, const char *name, const char *cps,
    uint64_t records, uint64_t checkpoints)
{
	char dir[64], a[160], b[160];
	struct hsm_audit_report rep;
	struct hsm_audit *au;
	const struct hsm_audit_signer hs = {&f->sg, sg_serial, sg_key, sg_pub};

	hsmtest_mkdtemp(dir);
	hsmtest_remember(dir, 1);
	snprintf(a, sizeof(a), "%s/%s", f->dir, name);
	snprintf(b, sizeof(b), "%s/audit.db", dir);
	assert_int_equal(link(a, b), 0);
	if (cps != NULL) {
		snprintf(a, sizeof(a), "%s/%s", f->dir, cps);
		snprintf(b, sizeof(b), "%s/audit.checkpoints", dir);
		assert_int_equal(link(a, b), 0);
	}
	assert_int_equal(hsm_audit_open(dir, &au), TKM_OK);
	hsm_audit_set_signer(au, &hs);
	assert_int_equal(hsm_audit_verify(au, f->dk, &rep), TKM_OK);
	if (!rep.ok)
		fail_msg("archive: %s", rep.why);
	assert_int_equal(rep.records, records);
	assert_int_equal(rep.unmacked, 0);
	assert_int_equal(rep.checkpoints, checkpoints);
	hsm_audit_close(au);
	hsmtest_rmdir(dir);
	hsmtest_remember(dir, 0);
}

static void
test_rotate(void **state)
{
	struct fix *f = *state;
	struct got *g = calloc(1, sizeof(*g));
	char line[HSM_AUDIT_CP_MAX], hash[65], want[160];

	assert_non_null(g);
	use(f, &f->sg);
	add(f, f->dk, 5);
	checkpoint(f, 5, line);
	assert_int_equal(hsm_audit_rotate(f->au, f->dk, "A1+A2+A3"), TKM_OK);
	/* The old log: a last record, a last checkpoint, archived. */
	assert_false(file_exists(f, "audit.db.new"));
	assert_true(file_exists(f, "audit-6.db"));
	assert_false(file_exists(f, "audit-6.db-wal"));
	assert_int_equal(cp_lines(f, "audit-6.checkpoints"), 2);
	assert_non_null(strstr(slurp(f, "audit-6.checkpoints"), " seq=6 "));
	verify_archive(f, "audit-6.db", "audit-6.checkpoints", 6, 2);
	/* The new one goes on from seq 7, naming it. */
	assert_false(file_exists(f, "audit.checkpoints"));
	assert_int_equal(hsm_audit_last(f->au), 7);
	assert_int_equal(hsm_audit_list(f->au, 1, 10, collect, g), TKM_OK);
	assert_int_equal(g->n, 1);
	assert_int_equal(g->r[0].seq, 7);
	assert_string_equal(g->op[0], "audit.continued");
	assert_string_equal(g->actor[0], "A1+A2+A3");
	assert_null(g->r[0].mac);
	{
		/* The archive's last hash, read from the archive. */
		sqlite3 *db;
		sqlite3_stmt *s;
		char p[128];

		snprintf(p, sizeof(p), "%s/audit-6.db", f->dir);
		assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db,
				     "SELECT hash, op FROM records WHERE "
				     "seq = 6",
				     -1, &s, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		tkm_hex_encode(sqlite3_column_blob(s, 0), 32, hash);
		assert_string_equal(
		    (const char *)sqlite3_column_text(s, 1), "audit.closed");
		sqlite3_finalize(s);
		sqlite3_close(db);
	}
	snprintf(want, sizeof(want),
	    "continues audit-6.db, whose last record has hash %s", hash);
	assert_string_equal(g->detail[0], want);
	expect_ok(f, f->dk, 1, 1);
	/* The old checkpoint is of the archive: against the new log it
	 * names a record this one does not hold. */
	expect_fault(f, f->dk, line, 5, "is missing");
	/* And the log goes on, reopened too. */
	add(f, f->dk, 2);
	hsm_audit_close(f->au);
	assert_int_equal(hsm_audit_open(f->dir, &f->au), TKM_OK);
	use(f, &f->sg);
	checkpoint(f, 9, line);
	expect_clean(f, f->dk, line, 2);
	/* A second rotation archives as audit-10.db. */
	assert_int_equal(hsm_audit_rotate(f->au, f->dk, "A1+A2+A3"), TKM_OK);
	assert_true(file_exists(f, "audit-10.db"));
	assert_int_equal(cp_lines(f, "audit-10.checkpoints"), 2);
	assert_int_equal(hsm_audit_last(f->au), 11);
	free(g);
}

static void
test_rotate_sealed(void **state)
{
	struct fix *f = *state;

	/* Without DK nor signer: no MACs, no checkpoints, still rotated. */
	add(f, NULL, 3);
	assert_int_equal(hsm_audit_rotate(f->au, NULL, NULL), TKM_OK);
	assert_true(file_exists(f, "audit-4.db"));
	assert_false(file_exists(f, "audit-4.checkpoints"));
	expect_ok(f, f->dk, 1, 1);
	/* With DK and a signer that fails: rotated, the last record says
	 * there is no last checkpoint. */
	use(f, &f->sg);
	f->sg.fail = TKM_ERR_VERIFY;
	assert_int_equal(hsm_audit_rotate(f->au, f->dk, "A1+A2+A3"), TKM_OK);
	assert_true(file_exists(f, "audit-6.db"));
	assert_int_equal(hsm_audit_last(f->au), 7);
	hsm_audit_close(f->au);
	{
		char p[128];
		sqlite3 *db;
		sqlite3_stmt *s;

		snprintf(p, sizeof(p), "%s/audit-6.db", f->dir);
		assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db,
				     "SELECT detail FROM records WHERE "
				     "seq = 6",
				     -1, &s, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(s, 0),
		    "archived as audit-6.db, no last checkpoint");
		sqlite3_finalize(s);
		sqlite3_close(db);
	}
	assert_int_equal(hsm_audit_open(f->dir, &f->au), TKM_OK);
	assert_int_equal(hsm_audit_rotate(NULL, NULL, NULL), TKM_ERR_INPUT);
}

/* An archive of that name already there: refused, the log stays. */
static void
test_rotate_no_overwrite(void **state)
{
	struct fix *f = *state;

	add(f, f->dk, 3);
	put_file(f, "audit-4.db", "precious", "w");
	assert_int_equal(
	    hsm_audit_rotate(f->au, f->dk, "A1+A2+A3"), TKM_ERR_IO);
	assert_string_equal(slurp(f, "audit-4.db"), "precious");
	assert_false(file_exists(f, "audit.db.new"));
	assert_int_equal(hsm_audit_last(f->au), 4);
	add(f, f->dk, 1);
	expect_ok(f, f->dk, 5, 0);
}

/* A crash in a rotation, before and after the old log was archived. */
static void
test_rotate_crash(void **state)
{
	struct fix *f = *state;
	char a[128], b[128], line[HSM_AUDIT_CP_MAX];

	use(f, &f->sg);
	add(f, f->dk, 3);
	checkpoint(f, 3, line);
	assert_int_equal(hsm_audit_rotate(f->au, f->dk, "A1+A2+A3"), TKM_OK);
	hsm_audit_close(f->au);
	/* After: audit.db renamed away, audit.db.new and the checkpoints
	 * not yet. Open finishes it. */
	snprintf(a, sizeof(a), "%s/audit.db", f->dir);
	snprintf(b, sizeof(b), "%s/audit.db.new", f->dir);
	assert_int_equal(rename(a, b), 0);
	snprintf(a, sizeof(a), "%s/audit-4.checkpoints", f->dir);
	snprintf(b, sizeof(b), "%s/audit.checkpoints", f->dir);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(hsm_audit_open(f->dir, &f->au), TKM_OK);
	assert_false(file_exists(f, "audit.db.new"));
	assert_false(file_exists(f, "audit.checkpoints"));
	assert_int_equal(cp_lines(f, "audit-4.checkpoints"), 2);
	assert_int_equal(hsm_audit_last(f->au), 5);
	use(f, &f->sg);
	expect_clean(f, f->dk, NULL, 0);
	/* Before: the next log made, the old one still audit.db. Open
	 * drops the next one; the old log goes on. */
	hsm_audit_close(f->au);
	snprintf(a, sizeof(a), "%s/audit-4.db", f->dir);
	snprintf(b, sizeof(b), "%s/audit.db.new", f->dir);
	assert_int_equal(link(a, b), 0);
	assert_int_equal(hsm_audit_open(f->dir, &f->au), TKM_OK);
	assert_false(file_exists(f, "audit.db.new"));
	assert_int_equal(hsm_audit_last(f->au), 5);
	add(f, f->dk, 1);
	expect_ok(f, f->dk, 2, 1);
}

static void *
appender(void *arg)
{
	struct fix *f = arg;
	int i;

	for (i = 0; i < 50; i++)
		if (hsm_audit_append(
			f->au, f->dk, "C", "keys.list", TKM_OK, "{}") != TKM_OK)
			return (void *)1;
	return NULL;
}

static void
test_concurrent(void **state)
{
	struct fix *f = *state;
	pthread_t th[4];
	void *ret;
	int i;

	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, appender, f), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	expect_ok(f, f->dk, 200, 0);
}

/* Sum of N over the op's records "refused N times". */
static unsigned long
refusals(struct fix *f, const char *op)
{
	struct got *g = calloc(1, sizeof(*g));
	unsigned long sum = 0, k;
	size_t i;

	assert_non_null(g);
	assert_int_equal(hsm_audit_list(f->au, 1, 64, collect, g), TKM_OK);
	for (i = 0; i < g->n; i++) {
		if (strcmp(g->op[i], op) != 0)
			continue;
		assert_int_equal(
		    sscanf(g->detail[i], "refused %lu times", &k), 1);
		sum += k;
	}
	free(g);
	return sum;
}

static void
test_refusal_rate_limited(void **state)
{
	struct fix *f = *state;
	int i;

	for (i = 0; i < 1000; i++)
		assert_int_equal(hsm_audit_refusal(f->au, f->dk, "10.0.0.9:1",
				     "UB", TKM_ERR_WHITELIST),
		    TKM_OK);
	/* A flood writes a record a second, not a thousand. */
	assert_true(hsm_audit_last(f->au) <= 2);
	assert_int_equal(
	    hsm_audit_refusal(f->au, f->dk, NULL, "\x01x", TKM_ERR_IP), TKM_OK);
	/* Close flushes the suppressed count. */
	hsm_audit_close(f->au);
	assert_int_equal(hsm_audit_open(f->dir, &f->au), TKM_OK);
	assert_int_equal(refusals(f, "UB"), 1000);
	assert_int_equal(refusals(f, "??"), 1);
	/* The one flushed at close has no MAC (DK may be gone then). */
	expect_ok(f, f->dk, hsm_audit_last(f->au), 1);
}

static void
test_refusal_table_bounded(void **state)
{
	struct fix *f = *state;
	char op[3];
	int i;

	/* More distinct pairs than slots: all counted, none lost. */
	for (i = 0; i < 300; i++) {
		snprintf(op, sizeof(op), "%c%c", 'A' + i % 26, 'A' + i / 26);
		assert_int_equal(
		    hsm_audit_refusal(f->au, f->dk, "x", op, TKM_ERR_IP),
		    TKM_OK);
	}
	assert_true(hsm_audit_last(f->au) >= 129);
	expect_ok(f, f->dk, hsm_audit_last(f->au), 0);
}

static void
test_fields_and_errors(void **state)
{
	struct fix *f = *state;
	struct hsm_audit *au = (void *)1;
	struct hsm_audit_report rep;
	char *big = malloc(10000);
	uint8_t k[32];

	assert_non_null(big);
	memset(big, 'x', 9999);
	big[9999] = '\0';
	/* NULL fields are "", overlong ones cut; both chain fine. */
	assert_int_equal(
	    hsm_audit_append(f->au, f->dk, NULL, NULL, TKM_OK, NULL), TKM_OK);
	assert_int_equal(
	    hsm_audit_append(f->au, f->dk, big, "op", TKM_OK, big), TKM_OK);
	expect_ok(f, f->dk, 2, 0);
	assert_int_equal(hsm_audit_open("/nonexistent/dir", &au), TKM_ERR_IO);
	assert_null(au);
	assert_int_equal(
	    hsm_audit_append(NULL, NULL, "a", "b", 0, "c"), TKM_ERR_INPUT);
	assert_int_equal(hsm_audit_verify(NULL, NULL, &rep), TKM_ERR_INPUT);
	hsm_audit_close(NULL);
	/* dk.c's own labels are not for others. */
	assert_int_equal(
	    hsm_dk_derive(f->dk, "tkms wrap mac", k, sizeof(k)), TKM_ERR_INPUT);
	assert_int_equal(
	    hsm_dk_derive(f->dk, "tkms lmk des", k, sizeof(k)), TKM_ERR_INPUT);
	assert_int_equal(
	    hsm_dk_derive(f->dk, "tkms audit", k, sizeof(k)), TKM_OK);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_append_list_verify),
	    T(test_reopen_continues),
	    T(test_edited),
	    T(test_edited_result),
	    T(test_deleted_middle),
	    T(test_deleted_first),
	    T(test_renumbered),
	    T(test_reordered),
	    T(test_malformed),
	    T(test_recomputed_chain),
	    T(test_wrong_dk),
	    T(test_unmacked_counted),
	    T(test_truncation_not_detected),
	    T(test_concurrent),
	    T(test_refusal_rate_limited),
	    T(test_refusal_table_bounded),
	    T(test_fields_and_errors),
	    T(test_checkpoint_format),
	    T(test_checkpoint_needs),
	    T(test_checkpoint_truncation),
	    T(test_checkpoint_given_lines),
	    T(test_checkpoint_refilled),
	    T(test_checkpoint_last_rewritten),
	    T(test_checkpoint_with_tampering),
	    T(test_checkpoint_forged),
	    T(test_checkpoint_malformed),
	    T(test_checkpoint_automatic),
	    T(test_rotate),
	    T(test_rotate_sealed),
	    T(test_rotate_no_overwrite),
	    T(test_rotate_crash),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
