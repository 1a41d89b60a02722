/*
 * test_lifecycle.c - rotation, compromise, re-issue and destruction of
 * root keys (src/kms/lifecycle.h, docs/kms-lifecycle.md) against real
 * tkms-hsmd processes on ephemeral ports: a rotated key gets its next
 * version at the planned slot while the old one stays usable, its copies
 * are re-issued and compute the new MAC, a compromise lists everything
 * derived from the key, and a destruction stays `destroy_pending` until
 * the very `tkms hsm keys delete` commands the KMS printed have been run
 * by an enrolled security admin (role C) and BU finds every index empty.
 *
 * Processes, TKs and backends as in test_flows.c (helpers shared in kmshsm.h).
 * The console is TKMS_CLI (compiled in by CMake) or $TKMS_BUILD/tkms.
 */
#include "kmshsm.h"

#include "lifecycle.h"

static char cli[1024];

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

/* --- the console (tkms hsm ...) ------------------------------------------ */

/* Run argv (argv[0] a path, or "/bin/sh"); its output into h's directory;
 * fail the test unless it exits 0. */
static void
run(struct hsm *h, const char *const *argv)
{
	char out[128], text[2048] = "";
	int status = 0, fd;
	pid_t pid;
	FILE *f;

	snprintf(out, sizeof(out), "%s/console.out", h->dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if ((f = fopen(out, "r")) != NULL) {
		text[fread(text, 1, sizeof(text) - 1, f)] = '\0';
		fclose(f);
	}
	fail_msg("%s %s %s: status %d: %s", argv[0], argv[1],
	    argv[2] ? argv[2] : "", status, text);
}

/* tkms hsm WORDS... against h's management port, with its session. */
static void
console(struct hsm *h, const char *w1, const char *w2, const char *role)
{
	char port[16], session[128], card[128], pin[128], pw[128];
	const char *argv[24];
	int n = 0;

	snprintf(port, sizeof(port), "%u", h->mport);
	snprintf(session, sizeof(session), "%s/session", h->dir);
	snprintf(card, sizeof(card), "%s/%s.card", h->dir, role ? role : "");
	snprintf(pin, sizeof(pin), "%s/pin", h->dir);
	snprintf(pw, sizeof(pw), "%s/pw", h->dir);
	argv[n++] = cli;
	argv[n++] = "hsm";
	argv[n++] = w1;
	if (w2 != NULL)
		argv[n++] = w2;
	if (role != NULL) {
		argv[n++] = "--role";
		argv[n++] = role;
	}
	if (w2 != NULL && strcmp(w2, "new") == 0) { /* card new */
		argv[n++] = "--out";
		argv[n++] = card;
		argv[n++] = "--pin-file";
		argv[n++] = pin;
		argv[n] = NULL;
		run(h, argv);
		return;
	}
	if (role != NULL) {
		argv[n++] = "--card";
		argv[n++] = card;
		argv[n++] = "--pin-file";
		argv[n++] = pin;
		argv[n++] = "--password-file";
		argv[n++] = pw;
	}
	argv[n++] = "--host";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--session";
	argv[n++] = session;
	argv[n] = NULL;
	run(h, argv);
}

/* A1-A3 enrol themselves and C (docs/ceremonies.md); C stays logged in:
 * h's security admin. */
static void
enrol_c(struct hsm *h)
{
	static const char *const roles[] = {"A1", "A2", "A3", "C"};
	char path[128];
	size_t i;

	snprintf(path, sizeof(path), "%s/pin", h->dir);
	write_file(path, "123456\n");
	snprintf(path, sizeof(path), "%s/pw", h->dir);
	write_file(path, "admin-pass-1\n");
	for (i = 0; i < 4; i++)
		console(h, "card", "new", roles[i]);
	for (i = 0; i < 3; i++)
		console(h, "enrol", NULL, roles[i]);
	for (i = 0; i < 3; i++)
		console(h, "login", NULL, roles[i]);
	console(h, "enrol", NULL, "C");
	console(h, "logout", NULL, NULL);
	console(h, "login", NULL, "C");
}

/* The command the KMS printed, as the security admin would type it (with
 * the session of enrol_c). */
static void
run_printed(struct hsm *h, const char *command)
{
	char line[2600], dir[1024], *slash;
	const char *argv[4] = {"/bin/sh", "-c", line, NULL};

	snprintf(dir, sizeof(dir), "%s", cli);
	slash = strrchr(dir, '/');
	assert_non_null(slash);
	*slash = '\0';
	assert_int_equal(strncmp(command, "tkms hsm keys delete ", 21), 0);
	snprintf(line, sizeof(line),
	    "PATH='%s':\"$PATH\" %s --session %s/session", dir, command,
	    h->dir);
	run(h, argv);
}

/* --- helpers ------------------------------------------------------------- */

static char *
root_state(struct kdb *db, int64_t id, char *out, size_t cap)
{
	struct kdb_rows *r = NULL;

	assert_int_equal(
	    kdb_query(db, &r, "SELECT state FROM root_keys WHERE id = $1",
		KDB_INT(id)),
	    TKM_OK);
	assert_int_equal(kdb_next(r), 1);
	snprintf(out, cap, "%s", kdb_text(r, 0));
	kdb_rows_free(r);
	return out;
}

static int
bu(struct hsm *h, const char *type, unsigned idx, int sm4)
{
	char req[64], resp[64], why[KMS_WHY];
	size_t n;

	snprintf(req, sizeof(req), "BU%sK%03X%c", type, idx, sm4 ? 'S' : 'X');
	return kms_link_cmd(
	    &h->link, req, resp, sizeof(resp), &n, NULL, why, sizeof(why));
}

/* --- tests --------------------------------------------------------------- */

static void
t_rotate_reissue_destroy(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g;
	struct kms_issue a;
	struct kms_rotation rot, again;
	struct kms_reissue re;
	struct kms_lc_destroy d;
	char why[KMS_WHY], st[16], want[64], factor[17], m0[9], m1[9];
	size_t i;
	int rc;

	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	add_hsm(f, f->h[1], "gz-business", "provincial_business", f->guangzhou);
	put_tks(f->h, 2);
	generate(f, f->h[0], "tac", "DES", &g);
	assert_int_equal(g.idx, KMS_DES_BASE + 8);
	issue_ok(f, g.root_key_id, f->guangzhou, f->h[1], &a);

	/* Rotate: v2 at the next slot, v1 and its copy archived but kept. */
	rc = kms_lc_rotate(f->db, g.root_key_id, "alice+bob", 0, &f->o, &rot,
	    why, sizeof(why));
	if (rc != TKM_OK)
		fail_msg("rotate: %s", why);
	assert_int_equal(rot.new_version, 2);
	assert_int_equal(rot.new_idx, KMS_DES_BASE + KMS_SLOT_STRIDE + 8);
	assert_int_equal(rot.archived_copies, 1);
	assert_string_not_equal(rot.new_kcv, g.kcv);
	assert_string_equal(
	    root_state(f->db, g.root_key_id, st, sizeof(st)), "archived");
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"
				      " WHERE state = 'archived'"),
	    1);
	assert_int_equal(bu(f->h[1], "509", a.idx, 0), TKM_OK);
	assert_int_equal(bu(f->h[0], "509", g.idx, 0), TKM_OK);
	/* Again: the rotation is found, nothing generated. */
	assert_int_equal(kms_lc_rotate(f->db, g.root_key_id, "alice+bob", 0,
			     &f->o, &again, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(again.existed, 1);
	assert_int_equal(again.new_id, rot.new_id);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM root_keys"), 2);

	/* An active key is never destroyed. */
	assert_int_equal(kms_lc_destroy_request(f->db, rot.new_id, "alice", 0,
			     &d, why, sizeof(why)),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "only archived"));

	/* Re-issue: v2 reaches the business HSM at its slot and computes
	 * the root's MAC; a second run finds it. */
	rc = kms_lc_reissue(
	    f->db, g.root_key_id, "alice+bob", 0, &f->o, &re, why, sizeof(why));
	if (rc != TKM_OK)
		fail_msg("reissue: %s", why);
	assert_int_equal(re.total, 1);
	assert_int_equal(re.issued, 1);
	assert_int_equal(re.new_root_id, rot.new_id);
	assert_int_equal(kms_city_factor("cjt333", "5810", factor), TKM_OK);
	ub(f->h[0], 0, rot.new_idx, factor, m0);
	ub(f->h[1], 0, rot.new_idx, NULL, m1);
	assert_string_equal(m1, m0);
	ub(f->h[1], 0, a.idx, NULL, m1); /* the old copy still answers */
	assert_string_not_equal(m1, m0);
	assert_int_equal(kms_lc_reissue(f->db, g.root_key_id, "alice+bob", 0,
			     &f->o, &re, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(re.existed, 1);

	/* Destroy v1: two keys, the commands name the management ports. */
	rc = kms_lc_destroy_request(
	    f->db, g.root_key_id, "carol+dave", 0, &d, why, sizeof(why));
	if (rc != TKM_OK)
		fail_msg("destroy request: %s", why);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.pending, 2);
	for (i = 0; i < 2; i++) {
		struct hsm *h =
		    d.keys[i].hsm_id == f->h[0]->id ? f->h[0] : f->h[1];

		snprintf(want, sizeof(want),
		    "--lib des --index 308 --host 127.0.0.1 --port %u",
		    h->mport);
		assert_non_null(strstr(d.keys[i].command, want));
		assert_string_equal(d.keys[i].state, "destroy_pending");
	}
	kms_lc_destroy_free(&d);
	/* Nothing deleted yet: both pending, v1 not destroyed. */
	assert_int_equal(kms_lc_destroy_confirm(f->db, g.root_key_id, "carol",
			     0, &f->o, &d, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(d.pending, 2);
	assert_int_equal(d.root_destroyed, 0);
	assert_int_equal(d.keys[0].rc, TKM_ERR_INDEX);
	assert_non_null(strstr(d.keys[0].why, "still holds"));
	assert_string_equal(
	    root_state(f->db, g.root_key_id, st, sizeof(st)), "archived");

	/* The business HSM's security admin runs its command: one gone. */
	enrol_c(f->h[1]);
	for (i = 0; i < d.n; i++)
		if (d.keys[i].hsm_id == f->h[1]->id)
			run_printed(f->h[1], d.keys[i].command);
	kms_lc_destroy_free(&d);
	assert_int_equal(kms_lc_destroy_confirm(f->db, g.root_key_id, "carol",
			     0, &f->o, &d, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(d.pending, 1);
	assert_int_equal(d.destroyed, 1);
	assert_int_equal(d.root_destroyed, 0);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"
				      " WHERE state = 'destroyed'"),
	    1);

	/* Then the root HSM's: v1 destroyed, v2 untouched. */
	enrol_c(f->h[0]);
	for (i = 0; i < d.n; i++)
		if (d.keys[i].hsm_id == f->h[0]->id)
			run_printed(f->h[0], d.keys[i].command);
	kms_lc_destroy_free(&d);
	assert_int_equal(kms_lc_destroy_confirm(f->db, g.root_key_id, "carol",
			     0, &f->o, &d, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(d.pending, 0);
	assert_int_equal(d.root_destroyed, 1);
	kms_lc_destroy_free(&d);
	assert_string_equal(
	    root_state(f->db, g.root_key_id, st, sizeof(st)), "destroyed");
	assert_int_equal(bu(f->h[0], "509", g.idx, 0), TKM_ERR_NO_KEY);
	assert_int_equal(bu(f->h[0], "509", rot.new_idx, 0), TKM_OK);
	assert_int_equal(bu(f->h[1], "509", rot.new_idx, 0), TKM_OK);
	/* The records stay: rows and events. */
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM key_destructions"
				      " WHERE state = 'destroyed'"),
	    2);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM key_events WHERE"
				      " kind IN ('rotated', 'reissued',"
				      " 'destroy_requested', 'destroyed')"),
	    4);
	/* Asking again: the same rows, all destroyed. */
	assert_int_equal(kms_lc_destroy_request(f->db, g.root_key_id, "x", 0,
			     &d, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(d.destroyed, 2);
	kms_lc_destroy_free(&d);
}

static void
t_compromise(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g, g2;
	struct kms_issue a;
	struct kms_lc_plan p;
	struct kms_rotation rot;
	struct kms_reissue re;
	char why[KMS_WHY], st[16];
	size_t i;

	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(1, 0, NULL);
	f->h[2] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	add_hsm(f, f->h[1], "gz-business", "provincial_business", f->guangzhou);
	add_hsm(f, f->h[2], "clearing", "clearing", 0);
	put_tks(f->h, 3);
	generate(f, f->h[0], "tac", "SM4", &g);
	issue_ok(f, g.root_key_id, f->guangzhou, f->h[1], &a);
	issue_ok(f, g.root_key_id, f->guangzhou, f->h[2], &a);

	assert_int_equal(kms_lc_compromise(f->db, g.root_key_id, "alice", 0, "",
			     &p, why, sizeof(why)),
	    TKM_ERR_INPUT);
	if (kms_lc_compromise(f->db, g.root_key_id, "alice", 0,
		"card cloned in the field", &p, why, sizeof(why)) != TKM_OK)
		fail_msg("compromise: %s", why);
	assert_int_equal(p.ncopies, 2);
	assert_int_equal(p.next_version, 2);
	assert_int_equal(p.next_idx, KMS_SM4_BASE + KMS_SLOT_STRIDE + 8);
	for (i = 0; i < p.ncopies; i++) {
		assert_string_equal(p.copies[i].state, "compromised");
		assert_string_equal(p.copies[i].city, "广州市");
		if (p.copies[i].hsm_id == f->h[2]->id)
			assert_int_equal(p.copies[i].new_idx,
			    kms_plan_clearing_index(1, 1, 2));
		else
			assert_int_equal(p.copies[i].new_idx, p.next_idx);
	}
	kms_lc_plan_free(&p);
	assert_string_equal(
	    root_state(f->db, g.root_key_id, st, sizeof(st)), "compromised");
	/* A compromised key is neither issued nor rotated. */
	assert_int_equal(kms_flow_issue(f->db, g.root_key_id, f->guangzhou,
			     f->h[1]->id, &f->o, &a, why, sizeof(why)),
	    TKM_ERR_INPUT);
	assert_int_equal(kms_lc_rotate(f->db, g.root_key_id, "alice", 0, &f->o,
			     &rot, why, sizeof(why)),
	    TKM_ERR_INPUT);
	/* Re-issue needs the replacement first. */
	assert_int_equal(kms_lc_reissue(f->db, g.root_key_id, "alice", 0, &f->o,
			     &re, why, sizeof(why)),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "generate the replacement"));
	/* Again: the same plan, nothing changed. */
	assert_int_equal(kms_lc_compromise(f->db, g.root_key_id, "alice", 0,
			     "again", &p, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(p.ncopies, 2);
	kms_lc_plan_free(&p);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM key_events"
				      " WHERE kind = 'compromised'"),
	    1);

	generate(f, f->h[0], "tac", "SM4", &g2);
	assert_int_equal(g2.version, 2);
	assert_int_equal(g2.idx, KMS_SM4_BASE + KMS_SLOT_STRIDE + 8);
	if (kms_lc_reissue(f->db, g.root_key_id, "alice", 0, &f->o, &re, why,
		sizeof(why)) != TKM_OK)
		fail_msg("reissue: %s", why);
	assert_int_equal(re.issued, 2);
	assert_int_equal(
	    bu(f->h[2], "509", kms_plan_clearing_index(1, 1, 2), 1), TKM_OK);
}

/* Eight versions fill the slots: the ninth waits for the first's
 * destruction. */
static void
t_slots_full(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g;
	struct kms_rotation rot;
	char why[KMS_WHY];
	int64_t id;
	int v;

	f->h[0] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	generate(f, f->h[0], "load_01", "DES", &g);
	id = g.root_key_id;
	for (v = 2; v <= KMS_SLOTS; v++) {
		if (kms_lc_rotate(f->db, id, "alice", 0, &f->o, &rot, why,
			sizeof(why)) != TKM_OK)
			fail_msg("rotate to v%d: %s", v, why);
		assert_int_equal(rot.new_version, v);
		id = rot.new_id;
	}
	assert_int_equal(
	    kms_lc_rotate(f->db, id, "alice", 0, &f->o, &rot, why, sizeof(why)),
	    TKM_ERR_INDEX);
	assert_non_null(strstr(why, "destroy it first"));
	/* Refused before anything changed: v8 is still active. */
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM root_keys"
				      " WHERE state = 'active'"),
	    1);
	assert_int_equal(count(f->db, "SELECT MAX(version) FROM root_keys"
				      " WHERE state = 'active'"),
	    KMS_SLOTS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		t_rotate_reissue_destroy, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_compromise, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_slots_full, setup, teardown),
	};
	const char *build = getenv("TKMS_BUILD");
	char why[KDB_WHY];
	int rc;

	if (build != NULL && build[0] != '\0') {
		snprintf(hsmd, sizeof(hsmd), "%s/tkms-hsmd", build);
		snprintf(cli, sizeof(cli), "%s/tkms", build);
	}
#if defined(TKMS_HSMD) && defined(TKMS_CLI)
	else {
		snprintf(hsmd, sizeof(hsmd), "%s", TKMS_HSMD);
		snprintf(cli, sizeof(cli), "%s", TKMS_CLI);
	}
#endif
	if (hsmd[0] == '\0' || access(hsmd, X_OK) != 0 ||
	    access(cli, X_OK) != 0) {
		fprintf(stderr, "test_lifecycle: no tkms-hsmd or tkms (set"
				" TKMS_BUILD)\n");
		return 1;
	}
	setenv("TKMS_ARGON2_FAST", "1", 1); /* enrolment: tests only */
	signal(SIGPIPE, SIG_IGN);
	pg_base = getenv("TKMS_PG_URL");
	if (pg_base != NULL && pg_base[0] == '\0')
		pg_base = NULL;
	if (pg_base != NULL &&
	    kdb_open(pg_base, &pg_admin, why, sizeof(why)) != TKM_OK) {
		fprintf(stderr, "test_lifecycle: %s: %s\n", pg_base, why);
		return 1;
	}
	print_message("backend: %s\n", pg_base ? "postgresql" : "sqlite");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	kdb_close(pg_admin);
	return rc;
}
