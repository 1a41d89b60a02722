/*
 * lifecycle.c - rotation, compromise, re-issue and destruction of root
 * keys (lifecycle.h, docs/kms-lifecycle.md).
 *
 * Order of effects, so that a stop at any point leaves a state that a
 * second run continues from and that never claims more than is true:
 *   rotation:    old `archived` -> A0 of the next version (flows.c) ->
 *                new `active` + old copies `archived` + events, one
 *                transaction; a failure puts the old version back as it
 *                was (`active`, its `changed` time too)
 *   re-issue:    per copy (flows.c) its row + its "issued" event (+ the
 *                old version's "reissued" with the run's first), one
 *                transaction each
 *   compromise:  one transaction, no host command
 *   destruction: `destroy_pending` rows + commands -> (the HSM's security
 *                admin deletes) -> BU answers ERR 12 -> row and key
 *                `destroyed`; the root key last, when no row is pending
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ksay.h"
#include "fleet.h"
#include "lifecycle.h"
#include "refdata.h"

#define REQ_CAP  64
#define RESP_CAP 64

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

static void
col(struct kdb_rows *r, int i, char *dst, size_t cap)
{
	const char *s = kdb_text(r, i);

	snprintf(dst, cap, "%s", s != NULL ? s : "");
}

static int
db_fail(struct kdb *db, int rc, const char *what, char *why, size_t why_len)
{
	kms_say(why, why_len, "%s: %s", what, kdb_errmsg(db));
	return rc < 0 ? rc : TKM_ERR_INTERNAL;
}

/* --- the root key and its template --------------------------------------- */

struct rk {
	int64_t id, template_id, hsm_id, version;
	char alg[4];
	unsigned idx;
	char kcv[KMS_KCV_HEX + 1];
	char state[16];
	char tname[64];
	char type[4];
	unsigned base;
	char hsm[128];
	int64_t changed;
};

static int
get_rk(struct kdb *db, int64_t id, struct rk *k, char *why, size_t why_len)
{
	struct kdb_rows *r = NULL;
	int rc;

	memset(k, 0, sizeof(*k));
	rc = kdb_query(db, &r,
	    "SELECT k.id, k.template_id, COALESCE(k.hsm_id, 0), k.version,"
	    " k.alg, k.idx, COALESCE(k.kcv, ''), k.state, t.name, t.type_code,"
	    " t.des_index, t.sm4_index, COALESCE(h.name, ''), k.changed"
	    " FROM root_keys k JOIN key_templates t ON t.id = k.template_id"
	    " LEFT JOIN hsms h ON h.id = k.hsm_id WHERE k.id = $1",
	    KDB_INT(id));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		k->id = kdb_int(r, 0);
		k->template_id = kdb_int(r, 1);
		k->hsm_id = kdb_int(r, 2);
		k->version = kdb_int(r, 3);
		col(r, 4, k->alg, sizeof(k->alg));
		k->idx = (unsigned)kdb_int(r, 5);
		col(r, 6, k->kcv, sizeof(k->kcv));
		col(r, 7, k->state, sizeof(k->state));
		col(r, 8, k->tname, sizeof(k->tname));
		col(r, 9, k->type, sizeof(k->type));
		k->base =
		    (unsigned)kdb_int(r, strcmp(k->alg, "SM4") == 0 ? 11 : 10);
		col(r, 12, k->hsm, sizeof(k->hsm));
		k->changed = kdb_int(r, 13);
		rc = TKM_OK;
	} else if (rc == 0) {
		kms_say(why, why_len, "no root key %lld", (long long)id);
		rc = TKM_ERR_INPUT;
	} else {
		rc = db_fail(db, rc, "reading root keys", why, why_len);
	}
	kdb_rows_free(r);
	return rc;
}

/* The active version of k's template and algorithm: 1 found, 0 none. */
static int
active_of(struct kdb *db, const struct rk *k, int64_t *id, int64_t *version)
{
	struct kdb_rows *r = NULL;
	int rc;

	*id = *version = 0;
	rc = kdb_query(db, &r,
	    "SELECT id, version FROM root_keys WHERE template_id = $1"
	    " AND alg = $2 AND state = 'active'",
	    KDB_INT(k->template_id), KDB_TEXT(k->alg));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		*id = kdb_int(r, 0);
		*version = kdb_int(r, 1);
	}
	kdb_rows_free(r);
	return rc;
}

/* The version a replacement of k gets: the active one when k is not it,
 * else the next (a planned row left by a stopped run included). */
static int
next_version(struct kdb *db, const struct rk *k, int64_t *v)
{
	int64_t id;
	int rc = active_of(db, k, &id, v);

	if (rc < 0 || (rc == 1 && id != k->id))
		return rc < 0 ? rc : TKM_OK;
	return kdb_int1(db, v,
	    "SELECT COALESCE(MAX(version), 0) + 1 FROM root_keys"
	    " WHERE template_id = $1 AND alg = $2 AND state <> 'planned'",
	    KDB_INT(k->template_id), KDB_TEXT(k->alg));
}

int
kms_lc_note(struct kdb *db, int64_t root_key_id, const char *kind,
    const char *actor, int64_t proposal_id, const char *reason)
{
	return kdb_exec(db,
	    "INSERT INTO key_events (root_key_id, kind, actor, proposal_id,"
	    " reason, time) VALUES ($1, $2, $3, $4, $5, $6)",
	    KDB_INT(root_key_id), KDB_TEXT(kind),
	    KDB_TEXT(actor != NULL ? actor : ""),
	    proposal_id > 0 ? KDB_INT(proposal_id) : KDB_NULL, KDB_TEXT(reason),
	    KDB_INT(now_s()));
}

/* --- rotation ------------------------------------------------------------ */

/* The root key's state from -> to, and its `changed` time to changed. */
struct set_state {
	int64_t id;
	const char *from, *to;
	int64_t changed;
};

static int
set_root_tx(struct kdb *db, void *arg)
{
	const struct set_state *s = arg;
	int rc = kdb_exec(db,
	    "UPDATE root_keys SET state = $1, changed = $2"
	    " WHERE id = $3 AND state = $4",
	    KDB_TEXT(s->to), KDB_INT(s->changed), KDB_INT(s->id),
	    KDB_TEXT(s->from));

	if (rc == TKM_OK && kdb_changes(db) != 1)
		rc = TKM_ERR_INPUT; /* another kmsd changed it */
	return rc;
}

struct rotated {
	int64_t old_id, proposal_id;
	const char *actor;
	size_t archived;
};

/*
 * kms_flow_generate's in_tx hook: in the transaction that makes the new
 * version active, the old version's live copies are archived and both
 * events written, so that no stop leaves a new version without its
 * "generated" event or the old one's copies still active.
 */
static int
rotated_tx(struct kdb *db, void *arg, const struct kms_recorded *r)
{
	struct rotated *w = arg;
	int rc;

	rc = kdb_exec(db,
	    "UPDATE issued_keys SET state = 'archived', changed = $1"
	    " WHERE root_key_id = $2 AND state IN ('pending', 'active')",
	    KDB_INT(now_s()), KDB_INT(w->old_id));
	if (rc != TKM_OK)
		return rc;
	w->archived = (size_t)kdb_changes(db);
	if ((rc = kms_lc_note(db, w->old_id, "rotated", w->actor,
		 w->proposal_id, NULL)) != TKM_OK)
		return rc;
	return kms_lc_note(
	    db, r->root_key_id, "generated", w->actor, w->proposal_id, NULL);
}

/* o with the in_tx hook fn(arg) (o may be NULL). */
static struct kms_flow_opts
with_hook(const struct kms_flow_opts *o,
    int (*fn)(struct kdb *, void *, const struct kms_recorded *), void *arg)
{
	struct kms_flow_opts h;

	if (o != NULL)
		h = *o;
	else
		memset(&h, 0, sizeof(h));
	h.in_tx = fn;
	h.tx_arg = arg;
	return h;
}

int
kms_lc_rotate(struct kdb *db, int64_t root_key_id, const char *actor,
    int64_t proposal_id, const struct kms_flow_opts *o,
    struct kms_rotation *out, char *why, size_t why_len)
{
	struct set_state back = {root_key_id, "archived", "active", 0};
	struct set_state arch = {root_key_id, "active", "archived", now_s()};
	struct kms_flow_opts ho;
	struct rotated w;
	struct kms_rootgen g;
	struct rk k;
	int64_t v, aid, av, n = 0;
	unsigned idx;
	int rc, was_active;

	memset(out, 0, sizeof(*out));
	out->old_id = root_key_id;
	if ((rc = get_rk(db, root_key_id, &k, why, why_len)) != TKM_OK)
		return rc;
	if ((rc = active_of(db, &k, &aid, &av)) < 0)
		return db_fail(db, rc, "reading root keys", why, why_len);
	was_active = strcmp(k.state, "active") == 0;
	if (!was_active && strcmp(k.state, "archived") != 0) {
		kms_say(why, why_len,
		    "root key %s %s v%lld is %s: only an active"
		    " key is rotated",
		    k.tname, k.alg, (long long)k.version, k.state);
		return TKM_ERR_INPUT;
	}
	if (!was_active && rc == 1) {
		/* Rotated before: report the version that replaced it. */
		struct rk nk;

		if (av < k.version) {
			kms_say(why, why_len,
			    "root key %s %s v%lld is archived"
			    " and v%lld is active: nothing to rotate",
			    k.tname, k.alg, (long long)k.version,
			    (long long)av);
			return TKM_ERR_INPUT;
		}
		if ((rc = get_rk(db, aid, &nk, why, why_len)) != TKM_OK)
			return rc;
		out->new_id = nk.id;
		out->new_version = nk.version;
		out->new_idx = nk.idx;
		snprintf(out->new_kcv, sizeof(out->new_kcv), "%s", nk.kcv);
		out->existed = 1;
		kms_say(why, why_len,
		    "%s %s v%lld was rotated to v%lld (K%03X,"
		    " KCV %s)",
		    k.tname, k.alg, (long long)k.version, (long long)nk.version,
		    nk.idx, nk.kcv);
		return TKM_OK;
	}

	/* The new version's slot must be free in the root HSM. */
	if ((rc = next_version(db, &k, &v)) != TKM_OK)
		return db_fail(db, rc, "reading root keys", why, why_len);
	idx = kms_plan_index(k.base, v);
	rc = kdb_int1(db, &n,
	    "SELECT COUNT(*) FROM root_keys WHERE template_id = $1"
	    " AND alg = $2 AND idx = $3 AND version <> $4"
	    " AND state NOT IN ('planned', 'destroyed')",
	    KDB_INT(k.template_id), KDB_TEXT(k.alg), KDB_INT(idx), KDB_INT(v));
	if (rc != TKM_OK)
		return db_fail(db, rc, "reading root keys", why, why_len);
	if (n > 0) {
		kms_say(why, why_len,
		    "%s %s v%lld goes to K%03X, which an older"
		    " version still holds: destroy it first",
		    k.tname, k.alg, (long long)v, idx);
		return TKM_ERR_INDEX;
	}

	/* Archive first: kms_flow_generate generates only when no version
	 * is active. A failure puts the row back as it was, `changed`
	 * included: a rotation that did not happen leaves no trace on it. A
	 * stopped rotation's archived version (no active one) becomes
	 * active again, changed now: the old one serves on. */
	if (was_active && (rc = kdb_tx(db, set_root_tx, &arch)) != TKM_OK)
		return db_fail(
		    db, rc, "archiving the old version", why, why_len);
	back.changed = was_active ? k.changed : now_s();
	memset(&w, 0, sizeof(w));
	w.old_id = k.id;
	w.actor = actor;
	w.proposal_id = proposal_id;
	ho = with_hook(o, rotated_tx, &w);
	rc = kms_flow_generate(
	    db, k.hsm_id, k.template_id, k.alg, &ho, &g, why, why_len);
	if (rc != TKM_OK) {
		/* Nothing new is active: the old one serves on. */
		if (kdb_tx(db, set_root_tx, &back) != TKM_OK) {
			size_t m = why != NULL ? strlen(why) : 0;

			kms_say(why + m, why_len - m,
			    "; v%lld stays archived"
			    " (%s): rotate it again",
			    (long long)k.version, kdb_errmsg(db));
		}
		return rc;
	}
	out->new_id = g.root_key_id;
	out->new_version = g.version;
	out->new_idx = g.idx;
	snprintf(out->new_kcv, sizeof(out->new_kcv), "%s", g.kcv);
	out->archived_copies = w.archived;
	kms_say(why, why_len,
	    "%s %s v%lld archived (%zu issued copies), v%lld"
	    " generated at K%03X of '%s' (KCV %s)",
	    k.tname, k.alg, (long long)k.version, w.archived,
	    (long long)g.version, g.idx, k.hsm, g.kcv);
	return TKM_OK;
}

int
kms_lc_rotate_recover(
    struct kdb *db, int64_t root_key_id, int64_t now, int *restored)
{
	int rc = kdb_exec(db,
	    "UPDATE root_keys SET state = 'active', changed = $1"
	    " WHERE id = $2 AND state = 'archived' AND NOT EXISTS"
	    " (SELECT 1 FROM root_keys o WHERE o.state = 'active'"
	    " AND o.template_id = root_keys.template_id"
	    " AND o.alg = root_keys.alg) AND NOT EXISTS"
	    " (SELECT 1 FROM key_events e WHERE e.root_key_id = root_keys.id"
	    " AND e.kind = 'rotated')",
	    KDB_INT(now), KDB_INT(root_key_id));

	*restored = rc == TKM_OK && kdb_changes(db) == 1;
	return rc;
}

/* --- the plan ------------------------------------------------------------ */

void
kms_lc_plan_free(struct kms_lc_plan *p)
{
	if (p == NULL)
		return;
	free(p->copies);
	memset(p, 0, sizeof(*p));
}

int
kms_lc_plan(struct kdb *db, int64_t root_key_id, struct kms_lc_plan *out,
    char *why, size_t why_len)
{
	struct kdb_rows *r = NULL;
	struct kms_lc_copy *c, *grown;
	struct rk k;
	size_t cap = 0;
	int rc, sm4;

	memset(out, 0, sizeof(*out));
	if ((rc = get_rk(db, root_key_id, &k, why, why_len)) != TKM_OK)
		return rc;
	sm4 = strcmp(k.alg, "SM4") == 0;
	out->root_key_id = k.id;
	snprintf(out->template_name, sizeof(out->template_name), "%s", k.tname);
	snprintf(out->alg, sizeof(out->alg), "%s", k.alg);
	out->version = k.version;
	out->idx = k.idx;
	snprintf(out->kcv, sizeof(out->kcv), "%s", k.kcv);
	snprintf(out->state, sizeof(out->state), "%s", k.state);
	snprintf(out->root_hsm, sizeof(out->root_hsm), "%s", k.hsm);
	if ((rc = next_version(db, &k, &out->next_version)) != TKM_OK)
		return db_fail(db, rc, "reading root keys", why, why_len);
	out->next_idx = kms_plan_index(k.base, out->next_version);
	rc = kdb_query(db, &r,
	    "SELECT i.id, i.city_id, i.hsm_id, c.name, h.name, h.role, i.alg,"
	    " i.idx, COALESCE(i.kcv, ''), i.state, c.seq"
	    " FROM issued_keys i JOIN institutions c ON c.id = i.city_id"
	    " JOIN hsms h ON h.id = i.hsm_id WHERE i.root_key_id = $1"
	    " AND i.state NOT IN ('failed', 'destroyed')"
	    " ORDER BY c.seq, h.name, i.id",
	    KDB_INT(k.id));
	while (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		rc = TKM_OK;
		if (out->ncopies == cap) {
			cap = cap ? 2 * cap : 16;
			grown = realloc(out->copies, cap * sizeof(*grown));
			if (grown == NULL) {
				rc = TKM_ERR_NOMEM;
				break;
			}
			out->copies = grown;
		}
		c = &out->copies[out->ncopies++];
		memset(c, 0, sizeof(*c));
		c->issued_id = kdb_int(r, 0);
		c->city_id = kdb_int(r, 1);
		c->hsm_id = kdb_int(r, 2);
		col(r, 3, c->city, sizeof(c->city));
		col(r, 4, c->hsm, sizeof(c->hsm));
		col(r, 5, c->hsm_role, sizeof(c->hsm_role));
		col(r, 6, c->alg, sizeof(c->alg));
		c->idx = (unsigned)kdb_int(r, 7);
		col(r, 8, c->kcv, sizeof(c->kcv));
		col(r, 9, c->state, sizeof(c->state));
		c->new_idx =
		    strcmp(c->hsm_role, "clearing") == 0
			? kms_plan_clearing_index(
			      sm4, (unsigned)kdb_int(r, 10), out->next_version)
			: kms_plan_index(k.base, out->next_version);
	}
	kdb_rows_free(r);
	if (rc < 0) {
		if (rc != TKM_ERR_NOMEM)
			db_fail(db, rc, "reading issued keys", why, why_len);
		kms_lc_plan_free(out);
		return rc;
	}
	return TKM_OK;
}

/* --- compromise ---------------------------------------------------------- */

struct compromise {
	int64_t id, proposal_id;
	const char *actor, *reason;
};

static int
compromise_tx(struct kdb *db, void *arg)
{
	const struct compromise *w = arg;
	int64_t now = now_s();
	int rc;

	rc = kdb_exec(db,
	    "UPDATE root_keys SET state = 'compromised', changed = $1"
	    " WHERE id = $2 AND state IN ('active', 'archived')",
	    KDB_INT(now), KDB_INT(w->id));
	if (rc == TKM_OK && kdb_changes(db) != 1)
		return TKM_ERR_INPUT;
	if (rc == TKM_OK)
		rc = kdb_exec(db,
		    "UPDATE issued_keys SET state = 'compromised', changed = $1"
		    " WHERE root_key_id = $2"
		    " AND state IN ('pending', 'active', 'archived')",
		    KDB_INT(now), KDB_INT(w->id));
	if (rc == TKM_OK)
		rc = kms_lc_note(db, w->id, "compromised", w->actor,
		    w->proposal_id, w->reason);
	return rc;
}

int
kms_lc_compromise(struct kdb *db, int64_t root_key_id, const char *actor,
    int64_t proposal_id, const char *reason, struct kms_lc_plan *plan,
    char *why, size_t why_len)
{
	struct compromise w = {root_key_id, proposal_id, actor, reason};
	struct rk k;
	int rc;

	memset(plan, 0, sizeof(*plan));
	if (reason == NULL || reason[0] == '\0') {
		kms_say(why, why_len, "a compromise needs a reason");
		return TKM_ERR_INPUT;
	}
	if ((rc = get_rk(db, root_key_id, &k, why, why_len)) != TKM_OK)
		return rc;
	if (strcmp(k.state, "active") == 0 ||
	    strcmp(k.state, "archived") == 0) {
		if ((rc = kdb_tx(db, compromise_tx, &w)) != TKM_OK)
			return db_fail(
			    db, rc, "marking compromised", why, why_len);
	} else if (strcmp(k.state, "compromised") != 0) {
		kms_say(why, why_len, "root key %s %s v%lld is %s", k.tname,
		    k.alg, (long long)k.version, k.state);
		return TKM_ERR_INPUT;
	}
	if ((rc = kms_lc_plan(db, root_key_id, plan, why, why_len)) != TKM_OK)
		return rc;
	kms_say(why, why_len,
	    "%s %s v%lld is compromised: %zu issued copies;"
	    " generate v%lld (K%03X) and re-issue",
	    k.tname, k.alg, (long long)k.version, plan->ncopies,
	    (long long)plan->next_version, plan->next_idx);
	return TKM_OK;
}

/* --- re-issue ------------------------------------------------------------ */

struct reissued {
	int64_t old_id, proposal_id;
	const char *actor;
	int noted; /* this run's "reissued" event is committed */
};

/*
 * kms_flow_issue's in_tx hook: each new copy commits with its "issued"
 * event (the new version's distribution record names who put it there),
 * the run's first one also with the old version's "reissued". noted is
 * set by the caller once a copy committed: the hook may run again.
 */
static int
reissued_tx(struct kdb *db, void *arg, const struct kms_recorded *r)
{
	const struct reissued *w = arg;
	int rc = kms_lc_note(
	    db, r->root_key_id, "issued", w->actor, w->proposal_id, NULL);

	if (rc == TKM_OK && !w->noted)
		rc = kms_lc_note(
		    db, w->old_id, "reissued", w->actor, w->proposal_id, NULL);
	return rc;
}

int
kms_lc_reissue(struct kdb *db, int64_t old_root_id, const char *actor,
    int64_t proposal_id, const struct kms_flow_opts *o, struct kms_reissue *out,
    char *why, size_t why_len)
{
	struct reissued w = {old_root_id, proposal_id, actor, 0};
	struct kms_flow_opts ho = with_hook(o, reissued_tx, &w);
	struct kms_lc_plan p;
	struct kms_issue one;
	struct rk k;
	int64_t aid, av;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = get_rk(db, old_root_id, &k, why, why_len)) != TKM_OK)
		return rc;
	if (strcmp(k.state, "archived") != 0 &&
	    strcmp(k.state, "compromised") != 0) {
		kms_say(why, why_len,
		    "root key %s %s v%lld is %s: only archived"
		    " or compromised keys are replaced",
		    k.tname, k.alg, (long long)k.version, k.state);
		return TKM_ERR_INPUT;
	}
	if ((rc = active_of(db, &k, &aid, &av)) < 0)
		return db_fail(db, rc, "reading root keys", why, why_len);
	if (rc == 0) {
		kms_say(why, why_len,
		    "%s %s has no active version: generate the"
		    " replacement first",
		    k.tname, k.alg);
		return TKM_ERR_INPUT;
	}
	out->new_root_id = aid;
	if ((rc = kms_lc_plan(db, old_root_id, &p, why, why_len)) != TKM_OK)
		return rc;
	out->total = p.ncopies;
	for (i = 0; i < p.ncopies; i++) {
		rc = kms_flow_issue(db, aid, p.copies[i].city_id,
		    p.copies[i].hsm_id, &ho, &one, why, why_len);
		if (rc != TKM_OK)
			break;
		if (one.existed) {
			out->existed++;
		} else {
			out->issued++;
			w.noted = 1;
		}
	}
	kms_lc_plan_free(&p);
	if (rc != TKM_OK)
		return rc;
	kms_say(why, why_len,
	    "%s %s v%lld re-issued: %zu copies, %zu new, %zu"
	    " already there",
	    k.tname, k.alg, (long long)av, out->total, out->issued,
	    out->existed);
	return TKM_OK;
}

/* --- destruction --------------------------------------------------------- */

void
kms_lc_destroy_free(struct kms_lc_destroy *d)
{
	if (d == NULL)
		return;
	free(d->keys);
	memset(d, 0, sizeof(*d));
}

struct request {
	const struct rk *k;
	int64_t proposal_id;
	const char *actor;
};

static int
request_tx(struct kdb *db, void *arg)
{
	const struct request *w = arg;
	int64_t n = 0, now = now_s();
	int rc;

	rc = kdb_int1(db, &n,
	    "SELECT COUNT(*) FROM key_destructions WHERE root_key_id = $1",
	    KDB_INT(w->k->id));
	if (rc != TKM_OK || n > 0)
		return rc; /* asked before: the same rows */
	rc = kdb_exec(db,
	    "INSERT INTO key_destructions (root_key_id, issued_key_id,"
	    " hsm_id, alg, idx, kcv, state, requested)"
	    " VALUES ($1, NULL, $2, $3, $4, $5, 'destroy_pending', $6)",
	    KDB_INT(w->k->id), KDB_INT(w->k->hsm_id), KDB_TEXT(w->k->alg),
	    KDB_INT(w->k->idx), KDB_TEXT(w->k->kcv), KDB_INT(now));
	if (rc == TKM_OK)
		rc = kdb_exec(db,
		    "INSERT INTO key_destructions (root_key_id, issued_key_id,"
		    " hsm_id, alg, idx, kcv, state, requested)"
		    " SELECT root_key_id, id, hsm_id, alg, idx,"
		    " COALESCE(kcv, ''), 'destroy_pending', $1"
		    " FROM issued_keys WHERE root_key_id = $2"
		    " AND state IN ('pending', 'active', 'archived',"
		    " 'compromised')",
		    KDB_INT(now), KDB_INT(w->k->id));
	if (rc == TKM_OK)
		rc = kms_lc_note(db, w->k->id, "destroy_requested", w->actor,
		    w->proposal_id, NULL);
	return rc;
}

/* The rows of key_destructions for k, with their commands. */
static int
load_kills(struct kdb *db, const struct rk *k, struct kms_lc_destroy *out,
    char *why, size_t why_len)
{
	struct kdb_rows *r = NULL;
	struct kms_lc_kill *e, *grown;
	char host[300], port[32];
	size_t cap = 0;
	int rc;

	rc = kdb_query(db, &r,
	    "SELECT d.id, COALESCE(d.issued_key_id, 0), d.hsm_id, h.name,"
	    " d.alg, d.idx, d.kcv, d.state, COALESCE(h.mgmt_host, ''),"
	    " COALESCE(h.mgmt_port, 0)"
	    " FROM key_destructions d JOIN hsms h ON h.id = d.hsm_id"
	    " WHERE d.root_key_id = $1 ORDER BY d.hsm_id, d.id",
	    KDB_INT(k->id));
	while (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		rc = TKM_OK;
		if (out->n == cap) {
			cap = cap ? 2 * cap : 16;
			grown = realloc(out->keys, cap * sizeof(*grown));
			if (grown == NULL) {
				rc = TKM_ERR_NOMEM;
				break;
			}
			out->keys = grown;
		}
		e = &out->keys[out->n++];
		memset(e, 0, sizeof(*e));
		e->id = kdb_int(r, 0);
		e->issued_id = kdb_int(r, 1);
		e->hsm_id = kdb_int(r, 2);
		col(r, 3, e->hsm, sizeof(e->hsm));
		col(r, 4, e->alg, sizeof(e->alg));
		e->idx = (unsigned)kdb_int(r, 5);
		col(r, 6, e->kcv, sizeof(e->kcv));
		col(r, 7, e->state, sizeof(e->state));
		col(r, 8, host, sizeof(host));
		if (host[0] == '\0')
			snprintf(host, sizeof(host), "MGMT_HOST");
		if (kdb_int(r, 9) > 0)
			snprintf(port, sizeof(port), "%lld",
			    (long long)kdb_int(r, 9));
		else
			snprintf(port, sizeof(port), "MGMT_PORT");
		/* docs/management.md keys.delete: the index as the protocol
		 * writes it, 3H. */
		snprintf(e->command, sizeof(e->command),
		    "tkms hsm keys delete --lib %s --index %03X --host %s"
		    " --port %s",
		    strcmp(e->alg, "SM4") == 0 ? "sm4" : "des", e->idx, host,
		    port);
		if (strcmp(e->state, "destroyed") == 0)
			out->destroyed++;
		else
			out->pending++;
	}
	kdb_rows_free(r);
	if (rc < 0) {
		if (rc != TKM_ERR_NOMEM)
			db_fail(
			    db, rc, "reading key destructions", why, why_len);
		kms_lc_destroy_free(out);
		return rc;
	}
	out->root_destroyed = strcmp(k->state, "destroyed") == 0;
	return TKM_OK;
}

int
kms_lc_destroy_request(struct kdb *db, int64_t root_key_id, const char *actor,
    int64_t proposal_id, struct kms_lc_destroy *out, char *why, size_t why_len)
{
	struct request w;
	struct rk k;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = get_rk(db, root_key_id, &k, why, why_len)) != TKM_OK)
		return rc;
	if (strcmp(k.state, "archived") != 0 &&
	    strcmp(k.state, "compromised") != 0 &&
	    strcmp(k.state, "destroyed") != 0) {
		kms_say(why, why_len,
		    "root key %s %s v%lld is %s: only archived"
		    " or compromised keys are destroyed (rotate it, or mark"
		    " it compromised, first)",
		    k.tname, k.alg, (long long)k.version, k.state);
		return TKM_ERR_INPUT;
	}
	if (k.hsm_id == 0 || k.kcv[0] == '\0') {
		kms_say(why, why_len, "root key %lld names no HSM or KCV",
		    (long long)k.id);
		return TKM_ERR_INPUT;
	}
	w.k = &k;
	w.actor = actor;
	w.proposal_id = proposal_id;
	if (strcmp(k.state, "destroyed") != 0 &&
	    (rc = kdb_tx(db, request_tx, &w)) != TKM_OK)
		return db_fail(db, rc, "requesting destruction", why, why_len);
	if ((rc = load_kills(db, &k, out, why, why_len)) != TKM_OK)
		return rc;
	kms_say(why, why_len,
	    "%s %s v%lld: %zu keys to delete in the HSMs"
	    " (%zu pending): their security admins run the commands, then"
	    " confirm",
	    k.tname, k.alg, (long long)k.version, out->n, out->pending);
	return TKM_OK;
}

struct gone {
	const struct kms_lc_kill *e;
};

static int
gone_tx(struct kdb *db, void *arg)
{
	const struct gone *w = arg;
	int64_t now = now_s();
	int rc;

	rc = kdb_exec(db,
	    "UPDATE key_destructions SET state = 'destroyed', confirmed = $1"
	    " WHERE id = $2 AND state = 'destroy_pending'",
	    KDB_INT(now), KDB_INT(w->e->id));
	if (rc == TKM_OK && w->e->issued_id != 0)
		rc = kdb_exec(db,
		    "UPDATE issued_keys SET state = 'destroyed', changed = $1"
		    " WHERE id = $2",
		    KDB_INT(now), KDB_INT(w->e->issued_id));
	return rc;
}

struct done {
	int64_t id, proposal_id;
	const char *actor;
};

static int
done_tx(struct kdb *db, void *arg)
{
	const struct done *w = arg;
	int rc = kdb_exec(db,
	    "UPDATE root_keys SET state = 'destroyed', changed = $1"
	    " WHERE id = $2 AND state IN ('archived', 'compromised')",
	    KDB_INT(now_s()), KDB_INT(w->id));

	if (rc == TKM_OK && kdb_changes(db) == 1)
		rc = kms_lc_note(
		    db, w->id, "destroyed", w->actor, w->proposal_id, NULL);
	return rc;
}

/* BU at e's HSM: TKM_OK when the index is empty. */
static int
check_gone(struct kdb *db, struct kms_link *l, const struct rk *k,
    struct kms_lc_kill *e, const struct kms_flow_opts *o)
{
	struct kms_hsm h;
	char req[REQ_CAP], resp[RESP_CAP];
	size_t n = 0, kl = strlen(e->kcv);
	int rc, sm4 = strcmp(e->alg, "SM4") == 0;

	if (l->c == NULL || l->hsm.id != e->hsm_id) {
		kms_link_close(l);
		rc = kms_fleet_get(db, e->hsm_id, &h, e->why, sizeof(e->why));
		if (rc == TKM_OK)
			rc =
			    kms_link_open(l, &h, o != NULL ? o->timeout_ms : 0);
		if (rc != TKM_OK)
			return rc;
	}
	snprintf(
	    req, sizeof(req), "BU%sK%03X%c", k->type, e->idx, sm4 ? 'S' : 'X');
	rc = kms_link_cmd(
	    l, req, resp, sizeof(resp), &n, NULL, e->why, sizeof(e->why));
	if (rc == TKM_ERR_NO_KEY) {
		kms_say(e->why, sizeof(e->why),
		    "HSM '%s' holds no key at K%03X", e->hsm, e->idx);
		return TKM_OK;
	}
	if (rc == TKM_OK && n == KMS_KCV_HEX && kl > 0 &&
	    strncmp(resp, e->kcv, kl) == 0) {
		kms_say(e->why, sizeof(e->why),
		    "HSM '%s' still holds the key at"
		    " K%03X (KCV %s): run %s",
		    e->hsm, e->idx, e->kcv, e->command);
		return TKM_ERR_INDEX;
	}
	if (rc == TKM_OK || rc == TKM_ERR_TYPE_USE) {
		/* Something else sits there now: ours may be gone, but the
		 * KMS cannot tell; a person must look. */
		kms_say(e->why, sizeof(e->why),
		    "HSM '%s' holds another key at"
		    " K%03X (%s%.*s), not KCV %s: check keys list there",
		    e->hsm, e->idx, rc == TKM_OK ? "KCV " : "another type",
		    rc == TKM_OK ? (int)kl : 0, resp, e->kcv);
		return TKM_ERR_VERIFY;
	}
	return rc;
}

int
kms_lc_destroy_confirm(struct kdb *db, int64_t root_key_id, const char *actor,
    int64_t proposal_id, const struct kms_flow_opts *o,
    struct kms_lc_destroy *out, char *why, size_t why_len)
{
	struct kms_link l;
	struct done d = {root_key_id, proposal_id, actor};
	struct gone g;
	struct rk k;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&l, 0, sizeof(l));
	if ((rc = get_rk(db, root_key_id, &k, why, why_len)) != TKM_OK)
		return rc;
	if ((rc = load_kills(db, &k, out, why, why_len)) != TKM_OK)
		return rc;
	if (out->n == 0) {
		kms_say(why, why_len,
		    "%s %s v%lld: no destruction was asked for", k.tname, k.alg,
		    (long long)k.version);
		return TKM_ERR_INPUT;
	}
	for (i = 0; i < out->n; i++) {
		struct kms_lc_kill *e = &out->keys[i];

		if (strcmp(e->state, "destroyed") == 0)
			continue;
		e->rc = check_gone(db, &l, &k, e, o);
		if (e->rc != TKM_OK)
			continue;
		g.e = e;
		if ((rc = kdb_tx(db, gone_tx, &g)) != TKM_OK) {
			kms_link_close(&l);
			return db_fail(
			    db, rc, "recording a destruction", why, why_len);
		}
		snprintf(e->state, sizeof(e->state), "destroyed");
		out->pending--;
		out->destroyed++;
	}
	kms_link_close(&l);
	if (out->pending == 0) {
		if ((rc = kdb_tx(db, done_tx, &d)) != TKM_OK)
			return db_fail(
			    db, rc, "recording the destruction", why, why_len);
		out->root_destroyed = 1;
		kms_say(why, why_len,
		    "%s %s v%lld destroyed: %zu keys gone from"
		    " their HSMs",
		    k.tname, k.alg, (long long)k.version, out->n);
	} else {
		kms_say(why, why_len,
		    "%s %s v%lld: %zu of %zu keys still to be"
		    " deleted",
		    k.tname, k.alg, (long long)k.version, out->pending, out->n);
	}
	return TKM_OK;
}
