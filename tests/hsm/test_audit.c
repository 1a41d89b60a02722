/*
 * test_audit.c - the chained audit log (audit.h): append, list, verify,
 * and the tampering verify must find: an edited, deleted or reordered
 * record, a chain recomputed without the device key, a wrong device key.
 */
#include <pthread.h>
#include <sqlite3.h>

#include "hsmtest.h"

#include "audit.h"
#include "tkm/crypto.h"

struct fix {
	char dir[64];
	struct hsm_dk *dk;
	struct hsm_audit *au;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	hsmtest_mkdtemp(f->dir);
	hsmtest_remember(f->dir, 1);
	f->dk = hsmtest_dk();
	assert_int_equal(hsm_audit_open(f->dir, &f->au), TKM_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	hsm_audit_close(f->au);
	hsm_dk_free(f->dk);
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
	char op[64][16], actor[64][64], detail[64][128];
	size_t n;
};

static int
collect(void *arg, const struct hsm_audit_rec *r)
{
	struct got *g = arg;

	assert_true(g->n < 64);
	g->r[g->n] = *r;
	snprintf(g->op[g->n], 16, "%s", r->op);
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

	/* The documented limit (until signed checkpoints, DESIGN §5). */
	add(f, f->dk, 4);
	sql(f, "DELETE FROM records WHERE seq = 4");
	expect_ok(f, f->dk, 3, 0);
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
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
