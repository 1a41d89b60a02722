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

#include <jansson.h>

#include "auth.h"
#include "kinds_keys.h"
#include "lifecycle.h"
#include "proposal.h"

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

/* Every column of row id of table, as text ("NULL" for SQL NULL), so
 * that two readings compare as a whole. */
static char *
row_text(struct kdb *db, const char *table, int64_t id, char *out, size_t cap)
{
	struct kdb_rows *r = NULL;
	char sql[128];
	size_t n = 0;
	int i;

	snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE id = $1", table);
	assert_int_equal(
	    kdb_query_(db, &r, sql, (const struct kdb_val[]){KDB_INT(id)}, 1),
	    TKM_OK);
	assert_int_equal(kdb_next(r), 1);
	out[0] = '\0';
	for (i = 0; i < kdb_ncols(r) && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s|",
		    kdb_isnull(r, i) ? "NULL" : kdb_text(r, i));
	kdb_rows_free(r);
	assert_true(n < cap);
	return out;
}

/* --- proposals, as the server runs them (kinds_keys.c) ------------------- */

/* kind with payload json, proposed by a and approved by b: the
 * execution's result (TKM_OK: executed, else failed), its id in *pid. */
static int
dual(struct fx *f, const struct kms_user *a, const struct kms_user *b,
    const char *kind, const char *json, int64_t *pid)
{
	json_t *p = json_loads(json, 0, NULL), *out = NULL;
	const char *why = NULL;
	char st[16];
	int http = 0, rc;

	assert_non_null(p);
	if (kms_proposal_create(f->db, (int64_t)time(NULL), 0, a, kind, p, pid,
		&why, &http) != TKM_OK)
		fail_msg("propose %s %s: %s (%d)", kind, json, why, http);
	json_decref(p);
	rc = kms_proposal_decide(
	    f->db, (int64_t)time(NULL), b, *pid, 1, NULL, &out, &why, &http);
	json_decref(out);
	/* The proposal as stored: executed, or failed with the cause. */
	assert_int_equal(kms_proposal_list(f->db, NULL, *pid, &out), TKM_OK);
	snprintf(st, sizeof(st), "%s",
	    json_string_value(json_object_get(out, "state")));
	json_decref(out);
	assert_string_equal(st, rc == TKM_OK ? "executed" : "failed");
	return rc;
}

/*
 * A fault where a kill would cut: every insert of a key event of kind
 * fails inside its transaction (kind NULL: no fault). A row and its event
 * in one transaction then both stay unwritten, as after a kill; a row
 * committed on its own stays without its event, as after a kill between
 * the two.
 */
static void
cut_events(struct fx *f, const char *kind)
{
	char sql[512];

	if (kdb_backend(f->db) == KDB_SQLITE) {
		assert_int_equal(
		    kdb_script(f->db, "DROP TRIGGER IF EXISTS cut_events"),
		    TKM_OK);
		if (kind == NULL)
			return;
		snprintf(sql, sizeof(sql),
		    "CREATE TRIGGER cut_events BEFORE INSERT ON key_events"
		    " WHEN NEW.kind = '%s' BEGIN"
		    " SELECT RAISE(ABORT, 'injected fault: the KMS stops"
		    " here'); END",
		    kind);
	} else {
		assert_int_equal(
		    kdb_script(f->db, "DROP TRIGGER IF EXISTS cut_events"
				      " ON key_events"),
		    TKM_OK);
		if (kind == NULL)
			return;
		snprintf(sql, sizeof(sql),
		    "CREATE OR REPLACE FUNCTION cut_events() RETURNS trigger"
		    " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION"
		    " 'injected fault: the KMS stops here'; END $$;"
		    " CREATE TRIGGER cut_events BEFORE INSERT ON key_events"
		    " FOR EACH ROW WHEN (NEW.kind = '%s')"
		    " EXECUTE PROCEDURE cut_events()",
		    kind);
	}
	assert_int_equal(kdb_script(f->db, sql), TKM_OK);
}

static int64_t
events(struct fx *f, int64_t root_key, const char *kind, int64_t proposal)
{
	int64_t n = -1;

	assert_int_equal(
	    kdb_int1(f->db, &n,
		"SELECT COUNT(*) FROM key_events WHERE"
		" root_key_id = $1 AND kind = $2 AND"
		" COALESCE(proposal_id, 0) = $3",
		KDB_INT(root_key), KDB_TEXT(kind), KDB_INT(proposal)),
	    TKM_OK);
	return n;
}

static int64_t
root_of(struct fx *f, const char *tmpl, const char *alg, int64_t version)
{
	int64_t id = 0;

	assert_int_equal(kdb_int1(f->db, &id,
			     "SELECT k.id FROM root_keys k JOIN key_templates t"
			     " ON t.id = k.template_id WHERE t.name = $1"
			     " AND k.alg = $2 AND k.version = $3",
			     KDB_TEXT(tmpl), KDB_TEXT(alg), KDB_INT(version)),
	    TKM_OK);
	return id;
}

/* No row names a key whose record would name nobody: every root key past
 * planned has its "generated" event, every live copy an "issued" one,
 * every archived key its "rotated" one and no live copy of it. */
static void
assert_rows_have_events(struct fx *f)
{
	assert_int_equal(
	    count(f->db, "SELECT COUNT(*) FROM root_keys k WHERE"
			 " k.state <> 'planned' AND NOT EXISTS (SELECT 1"
			 " FROM key_events e WHERE e.root_key_id = k.id"
			 " AND e.kind = 'generated')"),
	    0);
	assert_int_equal(
	    count(f->db, "SELECT COUNT(*) FROM root_keys k WHERE"
			 " (SELECT COUNT(*) FROM issued_keys i WHERE"
			 " i.root_key_id = k.id AND i.state <> 'failed') >"
			 " (SELECT COUNT(*) FROM key_events e WHERE"
			 " e.root_key_id = k.id AND e.kind = 'issued')"),
	    0);
	assert_int_equal(
	    count(f->db, "SELECT COUNT(*) FROM root_keys k WHERE"
			 " k.state = 'archived' AND (NOT EXISTS (SELECT 1"
			 " FROM key_events e WHERE e.root_key_id = k.id"
			 " AND e.kind = 'rotated') OR EXISTS (SELECT 1"
			 " FROM issued_keys i WHERE i.root_key_id = k.id"
			 " AND i.state IN ('pending', 'active')))"),
	    0);
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

/*
 * key.generate, key.issue, key.rotate and key.reissue as the server runs
 * them, each cut where a kill would leave a row without its event (the
 * event's insert fails: cut_events): nothing of the cut step is recorded,
 * and proposing it again completes it with rows and events together.
 */
static void
t_events_with_rows(void **state)
{
	struct fx *f = *state;
	struct kms_user kma = key_manager(f, "kma"),
			kmb = key_manager(f, "kmb");
	char json[256], before[512], after[512];
	int64_t pid, tac, v1, v2, p1, rk;

	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	add_hsm(f, f->h[1], "gz-business", "provincial_business", f->guangzhou);
	put_tks(f->h, 2);

	/* Generation cut: the key stays planned (A0 made it in the root
	 * HSM: generating again reports it, docs/kms-flows.md). */
	cut_events(f, "generated");
	snprintf(json, sizeof(json),
	    "{\"hsm\": %lld, \"templates\": [\"tac\"], \"algs\": [\"DES\"]}",
	    (long long)f->h[0]->id);
	assert_int_not_equal(
	    dual(f, &kma, &kmb, "key.generate", json, &pid), TKM_OK);
	tac = root_of(f, "tac", "DES", 1);
	assert_string_equal(root_state(f->db, tac, before, 16), "planned");
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM root_keys"
				      " WHERE state <> 'planned'"),
	    0);
	cut_events(f, NULL);
	snprintf(json, sizeof(json),
	    "{\"hsm\": %lld, \"templates\": [\"load_01\","
	    " \"purchase_01\"]}",
	    (long long)f->h[0]->id);
	assert_int_equal(
	    dual(f, &kma, &kmb, "key.generate", json, &pid), TKM_OK);
	v1 = root_of(f, "load_01", "DES", 1);
	assert_int_equal(events(f, v1, "generated", pid), 1);
	assert_rows_have_events(f);

	/* Issuance cut at its first copy: no copy recorded. */
	cut_events(f, "issued");
	snprintf(json, sizeof(json),
	    "{\"hsm\": %lld, \"templates\": [\"load_01\", \"purchase_01\"]}",
	    (long long)f->h[1]->id);
	assert_int_not_equal(
	    dual(f, &kma, &kmb, "key.issue", json, &pid), TKM_OK);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"), 0);
	cut_events(f, NULL);
	assert_int_equal(dual(f, &kma, &kmb, "key.issue", json, &pid), TKM_OK);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"
				      " WHERE state = 'active'"),
	    4);
	assert_int_equal(events(f, v1, "issued", pid), 1);
	assert_rows_have_events(f);

	/* Rotation cut: v1 and its copy exactly as they were, v2 not
	 * active. */
	assert_int_equal(
	    kdb_exec(f->db, "UPDATE root_keys SET changed = 1000 WHERE id = $1",
		KDB_INT(v1)),
	    TKM_OK);
	row_text(f->db, "root_keys", v1, before, sizeof(before));
	cut_events(f, "rotated");
	snprintf(json, sizeof(json), "{\"root_key\": %lld}", (long long)v1);
	assert_int_not_equal(
	    dual(f, &kma, &kmb, "key.rotate", json, &pid), TKM_OK);
	assert_string_equal(
	    row_text(f->db, "root_keys", v1, after, sizeof(after)), before);
	assert_string_equal(
	    root_state(f->db, root_of(f, "load_01", "DES", 2), after, 16),
	    "planned");
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"
				      " WHERE state = 'active'"),
	    4);
	assert_rows_have_events(f);
	cut_events(f, NULL);

	/* Re-issue cut at its copy: none recorded, no "reissued"; again:
	 * the copy (found in the HSM) with its events. */
	p1 = root_of(f, "purchase_01", "SM4", 1);
	snprintf(json, sizeof(json), "{\"root_key\": %lld}", (long long)p1);
	assert_int_equal(dual(f, &kma, &kmb, "key.rotate", json, &pid), TKM_OK);
	v2 = root_of(f, "purchase_01", "SM4", 2);
	assert_int_equal(events(f, p1, "rotated", pid), 1);
	assert_int_equal(events(f, v2, "generated", pid), 1);
	assert_rows_have_events(f);
	cut_events(f, "issued");
	assert_int_not_equal(
	    dual(f, &kma, &kmb, "key.reissue", json, &pid), TKM_OK);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM key_events"
				      " WHERE kind = 'reissued'"),
	    0);
	assert_int_equal(kdb_int1(f->db, &rk,
			     "SELECT COUNT(*) FROM issued_keys WHERE"
			     " root_key_id = $1",
			     KDB_INT(v2)),
	    TKM_OK);
	assert_int_equal(rk, 0);
	cut_events(f, NULL);
	assert_int_equal(
	    dual(f, &kma, &kmb, "key.reissue", json, &pid), TKM_OK);
	assert_int_equal(kdb_int1(f->db, &rk,
			     "SELECT COUNT(*) FROM issued_keys WHERE"
			     " root_key_id = $1 AND state = 'active'",
			     KDB_INT(v2)),
	    TKM_OK);
	assert_int_equal(rk, 1);
	assert_int_equal(events(f, v2, "issued", pid), 1);
	assert_int_equal(events(f, p1, "reissued", pid), 1);
	assert_rows_have_events(f);
	(void)tac;
}

/* A rotation that fails (the root HSM unreachable) leaves the old
 * version's row exactly as it was: state, and its changed time. */
static void
t_failed_rotation_untouched(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g;
	struct kms_rotation rot;
	char why[KMS_WHY], before[512], after[512];

	f->h[0] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	generate(f, f->h[0], "load_02", "SM4", &g);
	/* A time no rotation could write. */
	assert_int_equal(
	    kdb_exec(f->db, "UPDATE root_keys SET changed = 1000 WHERE id = $1",
		KDB_INT(g.root_key_id)),
	    TKM_OK);
	row_text(f->db, "root_keys", g.root_key_id, before, sizeof(before));
	assert_non_null(strstr(before, "|active|"));
	kms_link_close(&f->h[0]->link);
	hsm_kill(f->h[0]);
	assert_true(kms_err_unreachable(kms_lc_rotate(f->db, g.root_key_id,
	    "alice+bob", 0, &f->o, &rot, why, sizeof(why))));
	assert_string_equal(
	    row_text(f->db, "root_keys", g.root_key_id, after, sizeof(after)),
	    before);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM root_keys"
				      " WHERE state = 'active'"),
	    1);
}

/* Proposal pid as a kill in its execution leaves it ("approved"), then
 * the next start's recovery, which must find it. */
static void
killed_then_recovered(struct fx *f, int64_t pid)
{
	size_t n = 0;

	assert_int_equal(kdb_exec(f->db,
			     "UPDATE proposals SET state = 'approved',"
			     " result = NULL WHERE id = $1",
			     KDB_INT(pid)),
	    TKM_OK);
	assert_int_equal(
	    kms_proposal_recover(f->db, (int64_t)time(NULL), &n), TKM_OK);
	assert_int_equal(n, 1);
}

/* Proposal pid's result as JSON text (for strstr). */
static char *
result_text(struct fx *f, int64_t pid, char *out, size_t cap)
{
	json_t *p = NULL;
	char *t;

	assert_int_equal(kms_proposal_list(f->db, NULL, pid, &p), TKM_OK);
	assert_string_equal(
	    json_string_value(json_object_get(p, "state")), "failed");
	t = json_dumps(json_object_get(p, "result"), JSON_COMPACT);
	assert_non_null(t);
	snprintf(out, cap, "%s", t);
	free(t);
	json_decref(p);
	return out;
}

/*
 * A kmsd killed between archiving the old version and recording the new
 * one (steps 3 and 4) leaves the old version archived and none active; at
 * the next start kms_proposal_recover makes it active again and says so in
 * the failed proposal. Proposing the rotation again then completes it. A
 * rotation killed after its recording, or before archiving, is left alone.
 */
static void
t_stopped_rotation(void **state)
{
	struct fx *f = *state;
	struct kms_user kma = key_manager(f, "kma"),
			kmb = key_manager(f, "kmb");
	struct kms_rootgen g;
	char json[256], res[2048], st[16];
	int64_t v1, pid, done, now = (int64_t)time(NULL);
	json_t *p;
	const char *why = NULL;
	int http = 0;

	f->h[0] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	generate(f, f->h[0], "load_02", "SM4", &g);
	v1 = g.root_key_id;
	snprintf(json, sizeof(json), "{\"root_key\": %lld}", (long long)v1);

	/* Killed before archiving: nothing to put back. */
	assert_non_null(p = json_loads(json, 0, NULL));
	assert_int_equal(kms_proposal_create(f->db, now, 0, &kma, "key.rotate",
			     p, &pid, &why, &http),
	    TKM_OK);
	json_decref(p);
	killed_then_recovered(f, pid);
	assert_null(strstr(result_text(f, pid, res, sizeof(res)), "recovered"));
	assert_string_equal(root_state(f->db, v1, st, sizeof(st)), "active");

	/* Killed between the steps: v1 archived, v2 not recorded. */
	assert_int_equal(kdb_exec(f->db,
			     "UPDATE root_keys SET state = 'archived'"
			     " WHERE id = $1",
			     KDB_INT(v1)),
	    TKM_OK);
	killed_then_recovered(f, pid);
	assert_string_equal(root_state(f->db, v1, st, sizeof(st)), "active");
	assert_non_null(strstr(result_text(f, pid, res, sizeof(res)),
	    "\"recovered\":\"the rotation did not happen"));
	assert_non_null(strstr(res, "interrupted"));
	assert_int_equal(
	    dual(f, &kma, &kmb, "key.rotate", json, &done), TKM_OK);
	assert_string_equal(root_state(f->db, v1, st, sizeof(st)), "archived");
	assert_string_equal(
	    root_state(f->db, root_of(f, "load_02", "SM4", 2), st, sizeof(st)),
	    "active");

	/* Killed after the recording: v2 stays, v1 stays archived. */
	killed_then_recovered(f, done);
	assert_string_equal(root_state(f->db, v1, st, sizeof(st)), "archived");
	assert_null(
	    strstr(result_text(f, done, res, sizeof(res)), "recovered"));
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM root_keys"
				      " WHERE state = 'active'"),
	    1);

	/* The same, and v2 compromised before the sweep that finds the
	 * proposal (a PostgreSQL peer's): v1's "rotated" event says the
	 * rotation happened, so v1 stays archived. */
	assert_int_equal(kdb_exec(f->db,
			     "UPDATE root_keys SET state = 'compromised'"
			     " WHERE id = $1",
			     KDB_INT(root_of(f, "load_02", "SM4", 2))),
	    TKM_OK);
	killed_then_recovered(f, done);
	assert_string_equal(root_state(f->db, v1, st, sizeof(st)), "archived");
	assert_null(
	    strstr(result_text(f, done, res, sizeof(res)), "recovered"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		t_rotate_reissue_destroy, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_compromise, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_slots_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		t_events_with_rows, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		t_failed_rotation_untouched, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		t_stopped_rotation, setup, teardown),
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
	if (kms_kinds_register(kms_kinds_keys, kms_kinds_keys_n) != TKM_OK) {
		fprintf(stderr, "test_lifecycle: cannot register the kinds\n");
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
