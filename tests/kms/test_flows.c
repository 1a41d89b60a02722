/*
 * test_flows.c - the KMS's fleet and key flows (src/kms/fleet.h, flows.h,
 * docs/kms-flows.md) against real tkms-hsmd processes on ephemeral ports:
 * root keys generated (idempotently, never over a key found at the
 * index), issued to two HSMs of a city with equal KCVs and equal MACs
 * (UB) in the root (derived on the fly) and both targets, a target
 * stopped between A8 and A6 leaving no issued row, a target outside the
 * authorised state or refusing by whitelist giving clear errors, a
 * different TK giving a KCV mismatch marked failed, recovery of an import
 * whose record was lost, health checks, and the whole city (23 templates
 * x 2 algorithms) timed.
 *
 * The HSMs all run with the same development DK components (the daemon's
 * --dev-components), which makes keys under DK portable between them
 * (docs/keystore.md: the wire keys depend on DK and the key type only).
 * The shared TK is then made as a ceremony would, through host commands:
 * A0 mode 0 makes a KEK under DK, A0 mode 1 a TK under DK and under that
 * KEK, and A6 imports the TK under the KEK at K001 (DES) and K101 (SM4)
 * of every HSM. No key is ever in clear in the test.
 *
 * SQLite in a temporary directory, or PostgreSQL when TKMS_PG_URL is set
 * (tests/kms/pg.sh), as test_kdb.c. The daemon is TKMS_HSMD (compiled in
 * by CMake) or $TKMS_BUILD/tkms-hsmd.
 */
#include "health.h"
#include "mprobe.h"
#include "kmshsm.h"

static void
generate(struct fx *f, struct hsm *root, const char *tmpl, const char *alg,
    struct kms_rootgen *g)
{
	char why[KMS_WHY];
	int rc = kms_flow_generate(f->db, root->id, template_id(f->db, tmpl),
	    alg, &f->o, g, why, sizeof(why));

	if (rc != TKM_OK)
		fail_msg("generate %s %s: %s (%s)", tmpl, alg, why,
		    tkm_strerror(rc));
}

static void
issue_ok(struct fx *f, int64_t rk, int64_t city, struct hsm *t,
    struct kms_issue *out)
{
	char why[KMS_WHY];
	int rc = kms_flow_issue(
	    f->db, rk, city, t->id, &f->o, out, why, sizeof(why));

	if (rc != TKM_OK)
		fail_msg("issue: %s (%s)", why, tkm_strerror(rc));
}

/* root, a business and a city HSM of Guangzhou, all sharing the TKs. */
static void
three(struct fx *f)
{
	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(1, 0, NULL);
	f->h[2] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	add_hsm(f, f->h[1], "gz-business", "provincial_business", f->guangzhou);
	add_hsm(f, f->h[2], "gz-city", "city", f->guangzhou);
	put_tks(f->h, 3);
}

/* --- tests --------------------------------------------------------------- */

static void
t_generate_and_issue(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g, again;
	struct kms_issue a, b, c;
	char factor[17], m0[9], m1[9], m2[9], why[KMS_WHY];
	int sm4;

	three(f);
	assert_int_equal(kms_city_factor("cjt333", "5810", factor), TKM_OK);
	for (sm4 = 0; sm4 < 2; sm4++) {
		const char *alg = sm4 ? "SM4" : "DES";

		generate(f, f->h[0], "tac", alg, &g);
		assert_int_equal(g.existed, 0);
		assert_int_equal(g.version, 1);
		assert_int_equal(
		    g.idx, (sm4 ? KMS_SM4_BASE : KMS_DES_BASE) + 8);
		assert_int_equal(strlen(g.kcv), sm4 ? 16 : 6);
		/* Again: nothing generated, the same key reported. */
		generate(f, f->h[0], "tac", alg, &again);
		assert_int_equal(again.existed, 1);
		assert_int_equal(again.root_key_id, g.root_key_id);
		assert_string_equal(again.kcv, g.kcv);

		issue_ok(f, g.root_key_id, f->guangzhou, f->h[1], &a);
		issue_ok(f, g.root_key_id, f->guangzhou, f->h[2], &b);
		assert_int_equal(a.existed + a.recovered, 0);
		assert_int_equal(a.idx, g.idx);
		assert_int_equal(b.idx, g.idx);
		assert_string_equal(a.kcv, b.kcv);
		/* The issued key is the root key diversified, not itself. */
		assert_string_not_equal(a.kcv, g.kcv);
		issue_ok(f, g.root_key_id, f->guangzhou, f->h[1], &c);
		assert_int_equal(c.existed, 1);
		assert_int_equal(c.issued_id, a.issued_id);

		/* The same MAC from the root (deriving on the fly) and from
		 * both targets (the imported keys). */
		ub(f->h[0], sm4, g.idx, factor, m0);
		ub(f->h[1], sm4, a.idx, NULL, m1);
		ub(f->h[2], sm4, b.idx, NULL, m2);
		assert_string_equal(m1, m0);
		assert_string_equal(m2, m0);
	}
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"
				      " WHERE state = 'active'"),
	    4);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM root_keys"
				      " WHERE state = 'active'"),
	    2);
	/* Wrong city, wrong role. */
	assert_int_equal(kms_flow_issue(f->db, g.root_key_id, f->shenzhen,
			     f->h[1]->id, &f->o, &a, why, sizeof(why)),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "does not serve"));
	assert_int_equal(kms_flow_issue(f->db, g.root_key_id, f->guangzhou,
			     f->h[0]->id, &f->o, &a, why, sizeof(why)),
	    TKM_ERR_INPUT);
}

static void
t_root_index_taken(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g;
	char why[KMS_WHY], resp[128], req[64];
	int64_t tid;

	f->h[0] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	/* Someone put a key where load_01 v1 goes. */
	snprintf(req, sizeof(req), "A02509XK%03X", KMS_DES_BASE + 5);
	cmd(f->h[0], req, resp, sizeof(resp));
	tid = template_id(f->db, "load_01");
	assert_int_equal(kms_flow_generate(f->db, f->h[0]->id, tid, "DES",
			     &f->o, &g, why, sizeof(why)),
	    TKM_ERR_INDEX);
	assert_non_null(strstr(why, "not overwritten"));
	resp[33 + 6] = '\0'; /* its KCV as shown: 6H for DES */
	assert_non_null(strstr(why, resp + 33));
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM root_keys"
				      " WHERE state = 'planned'"),
	    1);
	/* Other algorithm, other library: fine. */
	generate(f, f->h[0], "load_01", "SM4", &g);
	assert_int_equal(g.existed, 0);
}

/* Kill the target between A8 and A6. */
static void
kill_at_export(void *arg, const struct kms_progress *p)
{
	if (p->step == KMS_STEP_EXPORTED)
		hsm_kill(arg);
}

static void
t_target_stopped(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g;
	struct kms_issue a;
	char why[KMS_WHY];
	int rc;

	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	add_hsm(f, f->h[1], "gz", "provincial_business", f->guangzhou);
	put_tks(f->h, 2);
	generate(f, f->h[0], "purchase_01", "DES", &g);
	f->o.progress = kill_at_export;
	f->o.arg = f->h[1];
	rc = kms_flow_issue(f->db, g.root_key_id, f->guangzhou, f->h[1]->id,
	    &f->o, &a, why, sizeof(why));
	assert_true(kms_err_unreachable(rc));
	assert_non_null(strstr(why, "unreachable"));
	assert_non_null(strstr(why, "not recorded"));
	assert_int_equal(a.issued_id, 0);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"), 0);
}

/* Another device (another DK) at a recorded HSM's address: no command
 * but NC reaches it, and nothing is recorded. The test HSMs share the
 * development DK, so the recorded KCV is made to differ instead. */
static void
t_device_swapped(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g;
	struct kms_issue a;
	char why[KMS_WHY];

	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	add_hsm(f, f->h[1], "gz", "provincial_business", f->guangzhou);
	put_tks(f->h, 2);
	generate(f, f->h[0], "purchase_01", "DES", &g);
	assert_int_equal(kdb_exec(f->db,
			     "UPDATE hsms SET dk_kcv = '0123456789ABCDEF'"
			     " WHERE id = $1",
			     KDB_INT(f->h[1]->id)),
	    TKM_OK);
	assert_int_equal(kms_flow_issue(f->db, g.root_key_id, f->guangzhou,
			     f->h[1]->id, &f->o, &a, why, sizeof(why)),
	    TKM_ERR_VERIFY);
	assert_non_null(strstr(why, "another device"));
	assert_non_null(strstr(why, "0123456789ABCDEF"));
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"), 0);
	/* The same for the root: generation refuses before A0. */
	assert_int_equal(kdb_exec(f->db,
			     "UPDATE hsms SET dk_kcv = '0123456789ABCDEF'"
			     " WHERE id = $1",
			     KDB_INT(f->h[0]->id)),
	    TKM_OK);
	assert_int_equal(
	    kms_flow_generate(f->db, f->h[0]->id, template_id(f->db, "tac"),
		"DES", &f->o, &g, why, sizeof(why)),
	    TKM_ERR_VERIFY);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM root_keys WHERE"
				      " state = 'active'"),
	    1);
}

static void
t_not_authorised_and_whitelist(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g;
	struct kms_issue a;
	struct kms_health hl;
	char why[KMS_WHY];
	int64_t root;

	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(0, 0, NULL);          /* not authorised */
	f->h[2] = hsm_start(1, 0, "NC,TE,BU,UB"); /* no A6 */
	add_hsm(f, f->h[0], "root", "root", 0);
	add_hsm(f, f->h[1], "gz", "provincial_business", f->guangzhou);
	add_hsm(f, f->h[2], "gz-city", "city", f->guangzhou);
	put_tks(f->h, 1);
	generate(f, f->h[0], "tac", "SM4", &g);
	assert_int_equal(
	    kms_fleet_check(f->db, f->h[1]->id, TIMEOUT, &hl, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(kms_flow_issue(f->db, g.root_key_id, f->guangzhou,
			     f->h[1]->id, &f->o, &a, why, sizeof(why)),
	    TKM_ERR_NOT_AUTH);
	assert_non_null(strstr(why, "not in the authorised state"));
	assert_non_null(strstr(why, "'gz'"));
	assert_int_equal(kms_flow_issue(f->db, g.root_key_id, f->guangzhou,
			     f->h[2]->id, &f->o, &a, why, sizeof(why)),
	    TKM_ERR_WHITELIST);
	assert_non_null(strstr(why, "whitelist"));
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"), 0);
	/* A root outside the authorised state cannot generate. */
	root = f->h[0]->id;
	hsm_stop(f->h[0]);
	f->h[0] = hsm_start(0, 0, NULL);
	assert_int_equal(
	    kdb_exec(f->db, "UPDATE hsms SET port = $1 WHERE id = $2",
		KDB_INT(f->h[0]->port), KDB_INT(root)),
	    TKM_OK);
	assert_int_equal(
	    kms_flow_generate(f->db, root, template_id(f->db, "tac"), "DES",
		&f->o, &g, why, sizeof(why)),
	    TKM_ERR_NOT_AUTH);
}

static void
t_kcv_mismatch_and_recovery(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g;
	struct kms_issue a;
	char why[KMS_WHY];
	struct hsm *pair[2];

	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(1, 0, NULL);
	f->h[2] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	add_hsm(f, f->h[1], "gz", "provincial_business", f->guangzhou);
	add_hsm(f, f->h[2], "sz", "provincial_business", f->shenzhen);
	pair[0] = f->h[0];
	pair[1] = f->h[1];
	put_tks(pair, 2);
	put_tks(&f->h[2], 1); /* a TK of its own: not the root's */
	generate(f, f->h[0], "load_02", "SM4", &g);

	assert_int_equal(kms_flow_issue(f->db, g.root_key_id, f->shenzhen,
			     f->h[2]->id, &f->o, &a, why, sizeof(why)),
	    TKM_ERR_VERIFY);
	assert_non_null(strstr(why, "KCV mismatch"));
	assert_true(a.issued_id > 0);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"
				      " WHERE state = 'failed'"),
	    1);
	/* Again: the index holds that other key; reported, still failed. */
	assert_int_equal(kms_flow_issue(f->db, g.root_key_id, f->shenzhen,
			     f->h[2]->id, &f->o, &a, why, sizeof(why)),
	    TKM_ERR_INDEX);
	assert_non_null(strstr(why, "another key"));
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"
				      " WHERE state <> 'failed'"),
	    0);

	/* A record lost after the import (a crash before the commit):
	 * issuing again finds the key and records it. */
	issue_ok(f, g.root_key_id, f->guangzhou, f->h[1], &a);
	assert_int_equal(
	    kdb_exec(f->db, "DELETE FROM issued_keys WHERE id = $1",
		KDB_INT(a.issued_id)),
	    TKM_OK);
	issue_ok(f, g.root_key_id, f->guangzhou, f->h[1], &a);
	assert_int_equal(a.recovered, 1);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"
				      " WHERE state = 'active'"),
	    1);
}

static void
t_health(void **state)
{
	struct fx *f = *state;
	struct kms_health hl;
	struct kms_hsm *all;
	char why[KMS_WHY];
	size_t n;

	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(0, 1, NULL); /* sealed */
	add_hsm(f, f->h[0], "root", "root", 0);
	add_hsm(f, f->h[1], "standby", "standby", 0);
	assert_int_equal(
	    kms_fleet_check(f->db, f->h[0]->id, TIMEOUT, &hl, why, sizeof(why)),
	    TKM_OK);
	assert_string_equal(hl.health, "ok");
	assert_int_equal(strlen(hl.dk_kcv), 16);
	assert_int_equal(strlen(hl.firmware), 9);
	assert_int_equal(hl.authorised, 1); /* from the management port */
	{
		/* Only a numeric loopback address is asked: a name could
		 * resolve anywhere. */
		static const char *const no[] = {"localhost",
		    "127.x.attacker.example", "10.0.0.1", "::2", ""};
		struct kms_mstatus st;
		size_t i;

		for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
			assert_int_equal(
			    kms_mprobe_status(no[i], f->h[0]->mport, 1000, &st),
			    TKM_ERR_INPUT);
		assert_int_equal(
		    kms_mprobe_status("127.0.0.1", f->h[0]->mport, 1000, &st),
		    TKM_OK);
		assert_int_equal(st.authorised, 1);
		assert_int_equal(st.sealed, 0);
	}
	assert_int_equal(
	    kms_fleet_check(f->db, f->h[1]->id, TIMEOUT, &hl, why, sizeof(why)),
	    TKM_ERR_SEALED);
	assert_non_null(strstr(why, "sealed"));
	assert_int_equal(hl.authorised, 0);
	hsm_kill(f->h[0]);
	assert_true(kms_err_unreachable(
	    kms_fleet_check(f->db, f->h[0]->id, 2000, &hl, why, sizeof(why))));
	assert_string_equal(hl.health, "unreachable");
	assert_int_equal(
	    kms_fleet_list(f->db, &all, &n, why, sizeof(why)), TKM_OK);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].health, "unreachable");
	assert_int_equal(strlen(all[0].dk_kcv), 16); /* kept */
	assert_true(all[0].last_nc > 0);
	assert_string_equal(all[1].health, "sealed");
	assert_int_equal(all[0].authorised, -1); /* unreachable: unknown */
	assert_int_equal(all[1].authorised, 0);
	free(all);
	/* A second HSM at the same address, or a business HSM without a
	 * city: refused. */
	all = calloc(1, sizeof(*all));
	assert_non_null(all);
	snprintf(all->name, sizeof(all->name), "x");
	snprintf(all->role, sizeof(all->role), "city");
	snprintf(all->host, sizeof(all->host), "127.0.0.1");
	all->port = f->h[1]->port;
	assert_int_equal(kms_fleet_add(f->db, all, &all->id, why, sizeof(why)),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "needs a city"));
	all->city_id = f->guangzhou;
	assert_int_equal(kms_fleet_add(f->db, all, &all->id, why, sizeof(why)),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "exists"));
	free(all);
}

/* The periodic check (health.h): one round records every active HSM and
 * counts changes; the loop does rounds on its own until stopped. */
static void
t_watch(void **state)
{
	struct fx *f = *state;
	struct kms_watch_round r;
	struct kms_watch *w = NULL;
	struct timespec nap = {0, 50 * 1000 * 1000};
	int64_t before, after = 0;
	int i;

	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(0, 1, NULL); /* sealed */
	f->h[2] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	add_hsm(f, f->h[1], "standby", "standby", 0);
	add_hsm(f, f->h[2], "clearing", "clearing", 0);
	hsm_kill(f->h[2]);
	assert_int_equal(kms_watch_round(f->db, 2000, &r), TKM_OK);
	assert_int_equal(r.checked, 3);
	assert_int_equal(r.ok, 1);
	assert_int_equal(r.changed, 3); /* all were "unknown" */
	assert_int_equal(count(f->db, "SELECT count(*) FROM hsms WHERE"
				      " health = 'ok' AND last_nc > 0"),
	    1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM hsms WHERE"
				      " health = 'sealed'"),
	    1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM hsms WHERE"
				      " health = 'unreachable'"),
	    1);
	assert_int_equal(kms_watch_round(f->db, 2000, &r), TKM_OK);
	assert_int_equal(r.changed, 0);
	/* A retired HSM is not asked. */
	assert_int_equal(
	    kdb_exec(f->db, "UPDATE hsms SET state = 'retired' WHERE id = $1",
		KDB_INT(f->h[2]->id)),
	    TKM_OK);
	assert_int_equal(kms_watch_round(f->db, 2000, &r), TKM_OK);
	assert_int_equal(r.checked, 2);
	/* The loop: its first round comes at once; wait until last_nc of
	 * the live HSM moves (rounds are a second apart). */
	before = count(f->db, "SELECT last_nc FROM hsms WHERE name = 'root'");
	assert_int_equal(kms_watch_start(f->url, 1, 2000, &w), TKM_OK);
	for (i = 0; i < 200 && after <= before; i++) {
		nanosleep(&nap, NULL);
		after = count(
		    f->db, "SELECT last_nc FROM hsms WHERE name = 'root'");
	}
	kms_watch_stop(w);
	assert_true(after > before);
	assert_int_equal(kms_watch_start(f->url, 0, 2000, &w), TKM_ERR_INPUT);
	kms_watch_stop(NULL);
}

static size_t progress_done;

static void
count_done(void *arg, const struct kms_progress *p)
{
	(void)arg;
	if (p->step == KMS_STEP_DONE && p->rc == TKM_OK)
		progress_done++;
}

static void
t_whole_city(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g;
	struct kms_batch b;
	char why[KMS_WHY];
	int64_t t0;
	struct timespec ts;
	size_t i;
	int a;

	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(1, 0, NULL);
	f->h[3] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	add_hsm(f, f->h[1], "gz-business", "provincial_business", f->guangzhou);
	add_hsm(f, f->h[3], "clearing", "clearing", 0);
	{
		struct hsm *hs[3] = {f->h[0], f->h[1], f->h[3]};

		put_tks(hs, 3);
	}
	/* Refused before any host command: no root keys yet. */
	assert_int_equal(kms_flow_issue_city(f->db, f->guangzhou, f->h[1]->id,
			     &f->o, &b, why, sizeof(why)),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "generate it first"));

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	for (i = 0; i < KMS_NKEYTYPES; i++)
		for (a = 0; a < 2; a++)
			generate(f, f->h[0], kms_keytypes[i].name,
			    a ? "SM4" : "DES", &g);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	print_message("generated %d root keys in %lld ms\n", 2 * KMS_NKEYTYPES,
	    (long long)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - t0));

	f->o.progress = count_done;
	progress_done = 0;
	if (kms_flow_issue_city(f->db, f->guangzhou, f->h[1]->id, &f->o, &b,
		why, sizeof(why)) != TKM_OK)
		fail_msg("issue_city: %s", why);
	assert_int_equal(b.total, 2 * KMS_NKEYTYPES);
	assert_int_equal(b.issued, 2 * KMS_NKEYTYPES);
	assert_int_equal(progress_done, 2 * KMS_NKEYTYPES);
	print_message("issued %zu keys (23 templates x DES, SM4) for one city"
		      " to one HSM in %lld ms\n",
	    b.issued, (long long)b.elapsed_ms);
	/* Again: everything is there already. */
	assert_int_equal(kms_flow_issue_city(f->db, f->guangzhou, f->h[1]->id,
			     &f->o, &b, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(b.existed, 2 * KMS_NKEYTYPES);
	assert_int_equal(b.issued, 0);
	print_message("re-checked them in %lld ms\n", (long long)b.elapsed_ms);

	/* The clearing HSM gets the TAC keys of each city, side by side. */
	for (i = 0; i < 2; i++) {
		int64_t city = i ? f->shenzhen : f->guangzhou;

		if (kms_flow_issue_city(f->db, city, f->h[3]->id, &f->o, &b,
			why, sizeof(why)) != TKM_OK)
			fail_msg("issue_city clearing: %s", why);
		assert_int_equal(b.issued, 2);
	}
	assert_int_equal(kdb_int1(f->db, &t0,
			     "SELECT COUNT(DISTINCT idx) FROM issued_keys"
			     " WHERE hsm_id = $1 AND state = 'active'",
			     KDB_INT(f->h[3]->id)),
	    TKM_OK);
	assert_int_equal(t0, 4);
	assert_int_equal(
	    kdb_int1(f->db, &t0,
		"SELECT COUNT(*) FROM issued_keys WHERE hsm_id = $1"
		" AND city_id = $2 AND idx IN ($3, $4)",
		KDB_INT(f->h[3]->id), KDB_INT(f->guangzhou),
		KDB_INT(kms_plan_clearing_index(0, 1, 1)),
		KDB_INT(kms_plan_clearing_index(1, 1, 1))),
	    TKM_OK);
	assert_int_equal(t0, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		t_generate_and_issue, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		t_root_index_taken, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_target_stopped, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_device_swapped, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		t_not_authorised_and_whitelist, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		t_kcv_mismatch_and_recovery, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_health, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_watch, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_whole_city, setup, teardown),
	};
	const char *build = getenv("TKMS_BUILD");
	char why[KDB_WHY];
	int rc;

	if (build != NULL && build[0] != '\0')
		snprintf(hsmd, sizeof(hsmd), "%s/tkms-hsmd", build);
#ifdef TKMS_HSMD
	else
		snprintf(hsmd, sizeof(hsmd), "%s", TKMS_HSMD);
#endif
	if (hsmd[0] == '\0' || access(hsmd, X_OK) != 0) {
		fprintf(stderr, "test_flows: no tkms-hsmd (set TKMS_BUILD)\n");
		return 1;
	}
	/* The HSMs' answers to a killed peer must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	pg_base = getenv("TKMS_PG_URL");
	if (pg_base != NULL && pg_base[0] == '\0')
		pg_base = NULL;
	if (pg_base != NULL &&
	    kdb_open(pg_base, &pg_admin, why, sizeof(why)) != TKM_OK) {
		fprintf(stderr, "test_flows: %s: %s\n", pg_base, why);
		return 1;
	}
	print_message("backend: %s\n", pg_base ? "postgresql" : "sqlite");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	kdb_close(pg_admin);
	return rc;
}
