/*
 * test_ident.c - the HSM's serial, identity key and maintenance public key
 * in admin.db (ident.c): made once, stable across a reopen, bound to the
 * DK, refused when edited, one key when two threads ask first at once.
 */
#include "hsmtest.h"

#include <pthread.h>

#include "admin.h"
#include "ident.h"
#include "tkm/crypto.h"

/* GM/T 0003 sample key pair on the recommended curve. */
#define SAMPLE_D                                                               \
	"3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
#define SAMPLE_PUB                                                             \
	"09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"     \
	"CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
/* The first 8 bytes of SM3(SAMPLE_PUB), by Python's hashlib (OpenSSL). */
#define SAMPLE_FP "3D92BED6D685F38B"

struct fx {
	char dir[64];
	struct hsm_admin *a;
	struct hsm_dk *dk, *dk2;
};

static struct hsm_dk *
other_dk(void)
{
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN];
	struct hsm_dk *dk = NULL;

	memset(c, 0x5A, sizeof(c));
	c[0][0] = 1;
	assert_int_equal(hsm_dk_new(c, &dk), TKM_OK);
	return dk;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	hsmtest_mkdtemp(f->dir);
	hsmtest_remember(f->dir, 1);
	assert_int_equal(hsm_admin_open(f->dir, &f->a), TKM_OK);
	f->dk = hsmtest_dk();
	f->dk2 = other_dk();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	hsm_admin_close(f->a);
	hsm_dk_free(f->dk);
	hsm_dk_free(f->dk2);
	hsmtest_rmdir(f->dir);
	hsmtest_remember(f->dir, 0);
	free(f);
	return 0;
}

static void
reopen(struct fx *f)
{
	hsm_admin_close(f->a);
	f->a = NULL;
	assert_int_equal(hsm_admin_open(f->dir, &f->a), TKM_OK);
}

static void
sample_pub(uint8_t pub[TKM_SM2_PUB_LEN])
{
	assert_int_equal(
	    hsmtest_unhex(SAMPLE_PUB, pub, TKM_SM2_PUB_LEN), TKM_SM2_PUB_LEN);
}

/* --- serial --------------------------------------------------------------- */

static void
test_serial(void **state)
{
	struct fx *f = *state;
	char s1[HSM_SERIAL_MAX + 1], s2[HSM_SERIAL_MAX + 1], v[64];
	size_t i;

	assert_int_equal(
	    hsm_admin_get(f->a, "serial", v, sizeof(v)), TKM_ERR_NO_KEY);
	assert_int_equal(hsm_ident_serial(f->a, s1), TKM_OK);
	assert_int_equal(strlen(s1), HSM_SERIAL_MAX);
	assert_memory_equal(s1, "TKMS", 4);
	for (i = 4; i < HSM_SERIAL_MAX; i++)
		assert_non_null(strchr("0123456789ABCDEF", s1[i]));
	assert_int_equal(hsm_ident_serial(f->a, s2), TKM_OK);
	assert_string_equal(s1, s2);
	reopen(f);
	assert_int_equal(hsm_ident_serial(f->a, s2), TKM_OK);
	assert_string_equal(s1, s2);
	/* kept in the settings as text */
	assert_int_equal(hsm_admin_get(f->a, "serial", v, sizeof(v)), TKM_OK);
	assert_string_equal(v, s1);
	/* another HSM has another */
	{
		struct fx g;

		hsmtest_mkdtemp(g.dir);
		hsmtest_remember(g.dir, 1);
		assert_int_equal(hsm_admin_open(g.dir, &g.a), TKM_OK);
		assert_int_equal(hsm_ident_serial(g.a, s2), TKM_OK);
		assert_string_not_equal(s1, s2);
		hsm_admin_close(g.a);
		hsmtest_rmdir(g.dir);
		hsmtest_remember(g.dir, 0);
	}
	/* one not made here is refused, not passed on */
	assert_int_equal(
	    hsm_admin_set(f->a, "serial", "TKMS12345678901"), TKM_OK);
	assert_int_equal(hsm_ident_serial(f->a, s2), TKM_ERR_VERIFY);
	assert_string_equal(s2, "");
	assert_int_equal(
	    hsm_admin_set(f->a, "serial", "TKMS12345678901234"), TKM_OK);
	assert_int_equal(hsm_ident_serial(f->a, s2), TKM_ERR_VERIFY);
	assert_int_equal(
	    hsm_admin_set(f->a, "serial", "TKMS1234567890ab"), TKM_OK);
	assert_int_equal(hsm_ident_serial(f->a, s2), TKM_ERR_VERIFY);
}

/* --- identity --------------------------------------------------------------
 */

static void
test_identity_once(void **state)
{
	struct fx *f = *state;
	uint8_t p1[TKM_SM2_PUB_LEN], p2[TKM_SM2_PUB_LEN], sig[TKM_SM2_SIG_LEN];
	struct tkm_sm2 *k = NULL, *v = NULL;
	char val[512];

	assert_int_equal(
	    hsm_admin_get(f->a, "identity", val, sizeof(val)), TKM_ERR_NO_KEY);
	assert_int_equal(hsm_ident_pub(f->a, f->dk, p1), TKM_OK);
	assert_int_equal(hsm_ident_pub(f->a, f->dk, p2), TKM_OK);
	assert_memory_equal(p1, p2, sizeof(p1));
	/* the private key is that public key's, and signs */
	assert_int_equal(hsm_ident_key(f->a, f->dk, &k), TKM_OK);
	assert_true(tkm_sm2_has_priv(k));
	assert_int_equal(tkm_sm2_pub(k, p2), TKM_OK);
	assert_memory_equal(p1, p2, sizeof(p1));
	assert_int_equal(
	    tkm_sm2_sign(k, NULL, 0, "checkpoint", 10, sig), TKM_OK);
	assert_int_equal(tkm_sm2_from_pub(p1, &v), TKM_OK);
	assert_int_equal(
	    tkm_sm2_verify(v, NULL, 0, "checkpoint", 10, sig), TKM_OK);
	tkm_sm2_free(v);
	tkm_sm2_free(k);
	/* stored: KCV of DK, the public key in clear, d wrapped (hex) */
	assert_int_equal(
	    hsm_admin_get(f->a, "identity", val, sizeof(val)), TKM_OK);
	assert_int_equal(strlen(val), 2 * 153);
	assert_memory_equal(val, "C8FABC567BA0A5C6", 16);
	assert_memory_equal(val + 16, hsmtest_hex(p1, sizeof(p1)), 128);
	/* across a reopen */
	reopen(f);
	assert_int_equal(hsm_ident_pub(f->a, f->dk, p2), TKM_OK);
	assert_memory_equal(p1, p2, sizeof(p1));
	assert_int_equal(hsm_ident_key(NULL, f->dk, &k), TKM_ERR_INPUT);
	assert_null(k);
}

static void
test_identity_per_dk(void **state)
{
	struct fx *f = *state;
	uint8_t p1[TKM_SM2_PUB_LEN], p2[TKM_SM2_PUB_LEN], p3[TKM_SM2_PUB_LEN];
	struct fx *g = NULL;

	assert_int_equal(hsm_ident_pub(f->a, f->dk, p1), TKM_OK);
	/* A new DK (after a zeroise) gets a new identity: the old one's
	 * private key is under a DK that no longer exists. */
	assert_int_equal(hsm_ident_pub(f->a, f->dk2, p2), TKM_OK);
	assert_memory_not_equal(p1, p2, sizeof(p1));
	assert_int_equal(hsm_ident_pub(f->a, f->dk2, p3), TKM_OK);
	assert_memory_equal(p2, p3, sizeof(p2));
	/* The same DK on another HSM (restored, cloned): its own. */
	assert_int_equal(setup((void **)&g), 0);
	assert_int_equal(hsm_ident_pub(g->a, f->dk2, p3), TKM_OK);
	assert_memory_not_equal(p2, p3, sizeof(p2));
	teardown((void **)&g);
}

/* Flip one hex digit of a setting at offset off (characters). */
static void
edit(struct hsm_admin *a, const char *key, size_t off)
{
	char val[512];

	assert_int_equal(hsm_admin_get(a, key, val, sizeof(val)), TKM_OK);
	assert_true(off < strlen(val));
	val[off] = val[off] == '0' ? '1' : '0';
	assert_int_equal(hsm_admin_set(a, key, val), TKM_OK);
}

static void
test_identity_tampered(void **state)
{
	static const size_t offs[] = {
	    16,            /* public key */
	    16 + 127,      /* its last digit */
	    16 + 128 + 2,  /* the blob's IV */
	    16 + 128 + 40, /* the wrapped d */
	    2 * 153 - 1,   /* the tag */
	};
	struct fx *f = *state;
	uint8_t p1[TKM_SM2_PUB_LEN], p2[TKM_SM2_PUB_LEN];
	struct tkm_sm2 *k = NULL;
	char good[400], cut[512];
	size_t i;

	assert_int_equal(hsm_ident_pub(f->a, f->dk, p1), TKM_OK);
	assert_int_equal(
	    hsm_admin_get(f->a, "identity", good, sizeof(good)), TKM_OK);
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		edit(f->a, "identity", offs[i]);
		if (hsm_ident_pub(f->a, f->dk, p2) != TKM_ERR_VERIFY)
			fail_msg("edit at %zu not detected", offs[i]);
		assert_int_equal(
		    hsm_ident_key(f->a, f->dk, &k), TKM_ERR_VERIFY);
		assert_null(k);
		assert_int_equal(hsm_admin_set(f->a, "identity", good), TKM_OK);
	}
	/* cut short, lengthened, not hex */
	snprintf(cut, sizeof(cut), "%.*s", (int)strlen(good) - 2, good);
	assert_int_equal(hsm_admin_set(f->a, "identity", cut), TKM_OK);
	assert_int_equal(hsm_ident_pub(f->a, f->dk, p2), TKM_ERR_VERIFY);
	snprintf(cut, sizeof(cut), "%s00", good);
	assert_int_equal(hsm_admin_set(f->a, "identity", cut), TKM_OK);
	assert_int_equal(hsm_ident_pub(f->a, f->dk, p2), TKM_ERR_VERIFY);
	snprintf(cut, sizeof(cut), "%s", good);
	cut[200] = 'G';
	assert_int_equal(hsm_admin_set(f->a, "identity", cut), TKM_OK);
	assert_int_equal(hsm_ident_pub(f->a, f->dk, p2), TKM_ERR_VERIFY);
	/* put back, it is the same key again */
	assert_int_equal(hsm_admin_set(f->a, "identity", good), TKM_OK);
	assert_int_equal(hsm_ident_pub(f->a, f->dk, p2), TKM_OK);
	assert_memory_equal(p1, p2, sizeof(p1));
}

/* --- two threads at once ---------------------------------------------------
 */

#define RACERS 4
#define ROUNDS 8

struct racer {
	struct hsm_admin *a;
	const struct hsm_dk *dk;
	pthread_barrier_t *go;
	uint8_t pub[TKM_SM2_PUB_LEN];
	char serial[HSM_SERIAL_MAX + 1];
	int rc, rc2;
};

static void *
race(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->rc = hsm_ident_pub(r->a, r->dk, r->pub);
	r->rc2 = hsm_ident_serial(r->a, r->serial);
	return NULL;
}

static void
test_concurrent_first(void **state)
{
	struct fx *f = *state;
	struct racer r[RACERS];
	pthread_t th[RACERS];
	pthread_barrier_t go;
	uint8_t pub[TKM_SM2_PUB_LEN];
	char serial[HSM_SERIAL_MAX + 1];
	int round;
	size_t i;

	for (round = 0; round < ROUNDS; round++) {
		/* a fresh admin.db each round: nothing made yet */
		hsm_admin_close(f->a);
		f->a = NULL;
		hsmtest_rmdir(f->dir);
		hsmtest_remember(f->dir, 0);
		hsmtest_mkdtemp(f->dir);
		hsmtest_remember(f->dir, 1);
		assert_int_equal(hsm_admin_open(f->dir, &f->a), TKM_OK);
		assert_int_equal(pthread_barrier_init(&go, NULL, RACERS), 0);
		for (i = 0; i < RACERS; i++) {
			memset(&r[i], 0, sizeof(r[i]));
			r[i].a = f->a;
			r[i].dk = f->dk;
			r[i].go = &go;
			assert_int_equal(
			    pthread_create(&th[i], NULL, race, &r[i]), 0);
		}
		for (i = 0; i < RACERS; i++)
			assert_int_equal(pthread_join(th[i], NULL), 0);
		pthread_barrier_destroy(&go);
		/* every caller got the key that stays, and the serial */
		assert_int_equal(hsm_ident_pub(f->a, f->dk, pub), TKM_OK);
		assert_int_equal(hsm_ident_serial(f->a, serial), TKM_OK);
		for (i = 0; i < RACERS; i++) {
			assert_int_equal(r[i].rc, TKM_OK);
			assert_int_equal(r[i].rc2, TKM_OK);
			assert_memory_equal(r[i].pub, pub, sizeof(pub));
			assert_string_equal(r[i].serial, serial);
		}
	}
}

/* --- maintenance public key ------------------------------------------------
 */

static void
test_mkey(void **state)
{
	struct fx *f = *state;
	uint8_t pub[TKM_SM2_PUB_LEN], got[TKM_SM2_PUB_LEN];
	struct tkm_sm2 *k = NULL;
	uint8_t d[32];
	char good[512];

	/* the sample pair is consistent (its public key is d·G) */
	assert_int_equal(hsmtest_unhex(SAMPLE_D, d, sizeof(d)), 32);
	assert_int_equal(tkm_sm2_from_priv(d, &k), TKM_OK);
	assert_int_equal(tkm_sm2_pub(k, got), TKM_OK);
	tkm_sm2_free(k);
	sample_pub(pub);
	assert_memory_equal(pub, got, sizeof(pub));

	assert_int_equal(hsm_mkey_get(f->a, f->dk, got), TKM_ERR_NO_KEY);
	assert_int_equal(hsm_mkey_set(f->a, f->dk, pub), TKM_OK);
	assert_int_equal(hsm_mkey_get(f->a, f->dk, got), TKM_OK);
	assert_memory_equal(pub, got, sizeof(pub));
	reopen(f);
	assert_int_equal(hsm_mkey_get(f->a, f->dk, got), TKM_OK);
	assert_memory_equal(pub, got, sizeof(pub));
	assert_int_equal(
	    hsm_admin_get(f->a, "mkey", good, sizeof(good)), TKM_OK);
	assert_int_equal(strlen(good), 2 * 121);
	/* edited anywhere past the KCV: refused */
	edit(f->a, "mkey", 20);
	assert_int_equal(hsm_mkey_get(f->a, f->dk, got), TKM_ERR_VERIFY);
	assert_int_equal(hsm_admin_set(f->a, "mkey", good), TKM_OK);
	edit(f->a, "mkey", 2 * 121 - 1);
	assert_int_equal(hsm_mkey_get(f->a, f->dk, got), TKM_ERR_VERIFY);
	/* someone else's wrapped key pasted in: refused too */
	assert_int_equal(hsm_mkey_set(f->a, f->dk2, pub), TKM_OK);
	{
		char other[512];

		assert_int_equal(
		    hsm_admin_get(f->a, "mkey", other, sizeof(other)), TKM_OK);
		memcpy(other, good, 16); /* claim our DK */
		assert_int_equal(hsm_admin_set(f->a, "mkey", other), TKM_OK);
	}
	assert_int_equal(hsm_mkey_get(f->a, f->dk, got), TKM_ERR_VERIFY);
	/* under another DK: not imported as far as this DK knows */
	assert_int_equal(hsm_mkey_set(f->a, f->dk2, pub), TKM_OK);
	assert_int_equal(hsm_mkey_get(f->a, f->dk, got), TKM_ERR_NO_KEY);
	assert_int_equal(hsm_mkey_get(f->a, f->dk2, got), TKM_OK);
	/* a point off the curve is not taken */
	pub[63] ^= 1;
	assert_int_equal(hsm_mkey_set(f->a, f->dk, pub), TKM_ERR_ASYM_KEY);
	assert_int_equal(hsm_mkey_get(f->a, f->dk2, got), TKM_OK);
}

/* --- forget, fingerprint ---------------------------------------------------
 */

static void
test_forget(void **state)
{
	struct fx *f = *state;
	uint8_t p1[TKM_SM2_PUB_LEN], p2[TKM_SM2_PUB_LEN], pub[TKM_SM2_PUB_LEN];
	char s1[HSM_SERIAL_MAX + 1], s2[HSM_SERIAL_MAX + 1];

	sample_pub(pub);
	assert_int_equal(hsm_ident_serial(f->a, s1), TKM_OK);
	assert_int_equal(hsm_ident_pub(f->a, f->dk, p1), TKM_OK);
	assert_int_equal(hsm_mkey_set(f->a, f->dk, pub), TKM_OK);
	assert_int_equal(hsm_ident_forget(f->a), TKM_OK);
	assert_int_equal(hsm_mkey_get(f->a, f->dk, p2), TKM_ERR_NO_KEY);
	reopen(f);
	assert_int_equal(hsm_mkey_get(f->a, f->dk, p2), TKM_ERR_NO_KEY);
	/* the serial stays; the identity is made anew, same DK or not */
	assert_int_equal(hsm_ident_serial(f->a, s2), TKM_OK);
	assert_string_equal(s1, s2);
	assert_int_equal(hsm_ident_pub(f->a, f->dk, p2), TKM_OK);
	assert_memory_not_equal(p1, p2, sizeof(p1));
	assert_int_equal(hsm_ident_forget(NULL), TKM_ERR_INPUT);
}

static void
test_fingerprint(void **state)
{
	uint8_t pub[TKM_SM2_PUB_LEN];
	char fp[17];

	(void)state;
	sample_pub(pub);
	memset(fp, 'x', sizeof(fp));
	hsm_pub_fingerprint(pub, fp);
	assert_string_equal(fp, SAMPLE_FP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_serial, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_identity_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_identity_per_dk, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_identity_tampered, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_concurrent_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mkey, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
	    cmocka_unit_test(test_fingerprint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
