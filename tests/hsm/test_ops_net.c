/*
 * test_ops_net.c - net.get / net.set (ops_net.c): the address is kept in
 * admin.db and replaces the config file's at the next start
 * (hsm_net_apply); and password.set with the 8-digit issuer code (city
 * HSM step 5).
 */
#include "hsmtest.h"

#include "admin.h"
#include "ops.h"

struct fix {
	struct hsmtest *t;
	struct hsm_session s;
	struct hsm_op_ctx c;
	const char *why;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->t = hsmtest_new(0);
	f->s.roles = HSM_ROLE_B;
	f->c.st = &f->t->st;
	f->c.s = &f->s;
	f->c.peer = "127.0.0.1:40000";
	assert_int_equal(hsm_admin_open(f->t->dir, &f->c.admin), TKM_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	hsm_admin_close(f->c.admin);
	hsmtest_free(f->t);
	free(f);
	return 0;
}

static json_t *
run(struct fix *f, hsm_op_fn *op, const char *args, int want)
{
	json_t *a = json_loads(args, 0, NULL), *r = json_object();

	assert_non_null(a);
	f->why = NULL;
	assert_int_equal(op(&f->c, a, r, &f->why), want);
	if (want != TKM_OK)
		assert_non_null(f->why);
	json_decref(a);
	return r;
}

static void
test_net_set_applies_at_start(void **state)
{
	struct fix *f = *state;
	struct hsm_config cfg;
	json_t *r, *l0;

	r = run(f, op_net_get, "{}", TKM_OK);
	l0 = json_array_get(json_object_get(r, "listeners"), 0);
	assert_string_equal(
	    json_string_value(json_object_get(l0, "address")), "127.0.0.1:0");
	assert_null(json_object_get(l0, "next_start"));
	json_decref(r);

	json_decref(run(f, op_net_set,
	    "{\"listener\": 0, \"address\": \"198.10.10.1:1500\"}", TKM_OK));
	r = run(f, op_net_get, "{}", TKM_OK);
	l0 = json_array_get(json_object_get(r, "listeners"), 0);
	assert_string_equal(
	    json_string_value(json_object_get(l0, "next_start")),
	    "198.10.10.1:1500");
	json_decref(r);

	/* What main.c does at the next start. */
	cfg = f->t->cfg;
	assert_int_equal(hsm_net_apply(f->c.admin, &cfg), TKM_OK);
	assert_string_equal(cfg.listeners[0].addr, "198.10.10.1");
	assert_int_equal(cfg.listeners[0].port, 1500);

	/* IPv6 keeps its brackets. */
	json_decref(run(f, op_net_set,
	    "{\"listener\": 0, \"address\": \"[::1]:1600\"}", TKM_OK));
	assert_int_equal(hsm_net_apply(f->c.admin, &cfg), TKM_OK);
	assert_string_equal(cfg.listeners[0].addr, "::1");
	assert_int_equal(cfg.listeners[0].port, 1600);
}

static void
test_net_set_refused(void **state)
{
	static const char *const bad[] = {
	    "{\"listener\": 1, \"address\": \"127.0.0.1:1500\"}",
	    "{\"listener\": -1, \"address\": \"127.0.0.1:1500\"}",
	    "{\"listener\": \"0\", \"address\": \"127.0.0.1:1500\"}",
	    "{\"listener\": 0}",
	    "{\"listener\": 0, \"address\": \"localhost:1500\"}",
	    "{\"listener\": 0, \"address\": \"127.0.0.1:65536\"}",
	    "{\"listener\": 0, \"address\": \"127.0.0.1\"}",
	    "{\"listener\": 0, \"address\": \"::1:1500\"}",
	};
	struct fix *f = *state;
	struct hsm_config cfg = f->t->cfg;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		json_decref(run(f, op_net_set, bad[i], TKM_ERR_INPUT));
	/* Nothing was kept. */
	assert_int_equal(hsm_net_apply(f->c.admin, &cfg), TKM_OK);
	assert_string_equal(cfg.listeners[0].addr, "127.0.0.1");
	assert_int_equal(cfg.listeners[0].port, 0);
}

static void
test_password_issuer_code(void **state)
{
	struct fix *f = *state;
	uint8_t pub[TKM_SM2_PUB_LEN];
	struct tkm_sm2 *card;

	assert_int_equal(tkm_sm2_generate(&card), TKM_OK);
	assert_int_equal(tkm_sm2_pub(card, pub), TKM_OK);
	tkm_sm2_free(card);
	assert_int_equal(
	    hsm_admin_enrol(f->c.admin, HSM_ROLE_B, pub, "first password"),
	    TKM_OK);
	json_decref(run(f, op_password_set,
	    "{\"role\": \"B\", \"issuer_code\": \"0288582\"}", TKM_ERR_INPUT));
	json_decref(run(f, op_password_set,
	    "{\"role\": \"B\", \"issuer_code\": \"0288582X\"}", TKM_ERR_INPUT));
	json_decref(run(f, op_password_set,
	    "{\"role\": \"B\", \"issuer_code\": \"02885820\", \"password\": "
	    "\"02885820\"}",
	    TKM_ERR_INPUT));
	json_decref(run(f, op_password_set,
	    "{\"role\": \"B\", \"issuer_code\": \"02885820\"}", TKM_OK));
	/* Another role's password needs A1+A2+A3. */
	json_decref(run(f, op_password_set,
	    "{\"role\": \"C\", \"issuer_code\": \"02885820\"}",
	    TKM_ERR_PERMISSION));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_net_set_applies_at_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_net_set_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_password_issuer_code, setup, teardown),
	};
	setenv("TKMS_ARGON2_FAST", "1", 1); /* enrolment hashes a password */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
