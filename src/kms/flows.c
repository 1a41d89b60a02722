/*
 * flows.c - root-key generation and issuance against real HSMs (flows.h,
 * docs/kms-flows.md).
 *
 * Order of effects, so that a crash or a failure at any point leaves
 * nothing that claims more than is true:
 *   generation: row `planned` -> A0 (stores) -> row `active` + KCV and
 *               the caller's in_tx writes (its event), one transaction
 *   issuance:   A8 at the root -> A6 at the target -> KCVs compared ->
 *               row `active` (+ in_tx writes) or `failed`, one transaction
 * A re-run finds an index already taken through the HSM's own refusal
 * (ERR 21) and compares the KCV that BU reports for it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ksay.h"
#include "flows.h"
#include "refdata.h"
#include "tkm/mem.h"
#include "tkm/net.h"

#define REQ_CAP    256
#define RESP_CAP   256
#define KEY_TK     33 /* X or S + 32H: a 16-byte key under TK or DK */
#define KCV_DES    6  /* DESIGN §3.2: DES KCVs shown as 6H */
#define FACTOR_HEX 16

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

/* --- algorithms and KCVs ------------------------------------------------- */

/* 0 DES, 1 SM4, -1 neither. */
static int
alg_sm4(const char *alg)
{
	if (alg != NULL && strcmp(alg, "DES") == 0)
		return 0;
	if (alg != NULL && strcmp(alg, "SM4") == 0)
		return 1;
	return -1;
}

/* Card keys are double-length DES or SM4 (DESIGN §3.3). */
static char
scheme(int sm4)
{
	return sm4 ? 'S' : 'X';
}

static const char *
tk_ref(const struct kms_flow_opts *o, int sm4)
{
	if (sm4)
		return o->tk_sm4 != NULL ? o->tk_sm4 : KMS_TK_SM4;
	return o->tk_des != NULL ? o->tk_des : KMS_TK_DES;
}

/* The KCV as recorded and shown: DES 6H, SM4 16H (DESIGN §3.2). */
static void
kcv_shown(int sm4, const char *wire, char out[KMS_KCV_HEX + 1])
{
	size_t n = sm4 ? KMS_KCV_HEX : KCV_DES;

	memmove(out, wire, n);
	out[n] = '\0';
}

/* A response "key (33) | KCV (16H)": the KCV's place, or NULL. */
static const char *
key_kcv(const char *resp, size_t n, int sm4)
{
	if (n != KEY_TK + KMS_KCV_HEX || resp[0] != scheme(sm4))
		return NULL;
	return resp + KEY_TK;
}

/* --- rows ---------------------------------------------------------------- */

struct tmpl {
	int64_t id;
	char name[64];
	char type[4];
	unsigned base[2]; /* des_index, sm4_index */
	char rule[32];
	int clearing;
};

static int
get_template(
    struct kdb *db, int64_t id, struct tmpl *t, char *why, size_t why_len)
{
	struct kdb_rows *r = NULL;
	int rc;

	memset(t, 0, sizeof(*t));
	rc = kdb_query(db, &r,
	    "SELECT id, name, type_code, des_index, sm4_index, factor_rule,"
	    " clearing FROM key_templates WHERE id = $1",
	    KDB_INT(id));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		t->id = kdb_int(r, 0);
		col(r, 1, t->name, sizeof(t->name));
		col(r, 2, t->type, sizeof(t->type));
		t->base[0] = (unsigned)kdb_int(r, 3);
		t->base[1] = (unsigned)kdb_int(r, 4);
		col(r, 5, t->rule, sizeof(t->rule));
		t->clearing = (int)kdb_int(r, 6);
		rc = TKM_OK;
	} else if (rc == 0) {
		kms_say(why, why_len, "no key template %lld", (long long)id);
		rc = TKM_ERR_INPUT;
	} else {
		kms_say(
		    why, why_len, "reading key templates: %s", kdb_errmsg(db));
	}
	kdb_rows_free(r);
	return rc;
}

struct rootkey {
	int64_t id, template_id, hsm_id, version;
	char alg[4];
	unsigned idx;
	char kcv[KMS_KCV_HEX + 1];
	char state[16];
};

#define ROOT_COLS                                                              \
	"id, template_id, COALESCE(hsm_id, 0), version, alg, idx,"             \
	" COALESCE(kcv, ''), state"

static void
read_root(struct kdb_rows *r, struct rootkey *k)
{
	memset(k, 0, sizeof(*k));
	k->id = kdb_int(r, 0);
	k->template_id = kdb_int(r, 1);
	k->hsm_id = kdb_int(r, 2);
	k->version = kdb_int(r, 3);
	col(r, 4, k->alg, sizeof(k->alg));
	k->idx = (unsigned)kdb_int(r, 5);
	col(r, 6, k->kcv, sizeof(k->kcv));
	col(r, 7, k->state, sizeof(k->state));
}

/* The root key row where "WHERE ..." selects (the newest version first):
 * 1 found, 0 none, < 0 error. */
static int
find_root(struct kdb *db, struct rootkey *k, const char *where,
    int64_t template_id, const char *alg)
{
	char sql[256];
	struct kdb_rows *r = NULL;
	int rc;

	snprintf(sql, sizeof(sql),
	    "SELECT " ROOT_COLS " FROM root_keys WHERE template_id = $1"
	    " AND alg = $2 AND %s ORDER BY version DESC",
	    where);
	rc = kdb_query_(db, &r, sql,
	    (const struct kdb_val[]){KDB_INT(template_id), KDB_TEXT(alg)}, 2);
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1)
		read_root(r, k);
	kdb_rows_free(r);
	return rc;
}

static int
get_root(
    struct kdb *db, int64_t id, struct rootkey *k, char *why, size_t why_len)
{
	struct kdb_rows *r = NULL;
	int rc;

	rc = kdb_query(db, &r,
	    "SELECT " ROOT_COLS " FROM root_keys WHERE id = $1", KDB_INT(id));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		read_root(r, k);
		rc = TKM_OK;
	} else if (rc == 0) {
		kms_say(why, why_len, "no root key %lld", (long long)id);
		rc = TKM_ERR_INPUT;
	} else {
		kms_say(why, why_len, "reading root keys: %s", kdb_errmsg(db));
	}
	kdb_rows_free(r);
	return rc;
}

struct city {
	int64_t id;
	char name[128];
	char code[8];
	unsigned seq;
};

static int
get_city(struct kdb *db, int64_t id, struct city *c, char *why, size_t why_len)
{
	struct kdb_rows *r = NULL;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = kdb_query(db, &r,
	    "SELECT id, name, city_code, seq FROM institutions"
	    " WHERE id = $1 AND kind = 'city'",
	    KDB_INT(id));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		c->id = kdb_int(r, 0);
		col(r, 1, c->name, sizeof(c->name));
		col(r, 2, c->code, sizeof(c->code));
		c->seq = (unsigned)kdb_int(r, 3);
		rc = TKM_OK;
	} else if (rc == 0) {
		kms_say(why, why_len, "institution %lld is not a city",
		    (long long)id);
		rc = TKM_ERR_INPUT;
	} else {
		kms_say(
		    why, why_len, "reading institutions: %s", kdb_errmsg(db));
	}
	kdb_rows_free(r);
	return rc;
}

static int
get_hsm(struct kdb *db, int64_t id, const char *role, struct kms_hsm *h,
    char *why, size_t why_len)
{
	int rc = kms_fleet_get(db, id, h, why, why_len);

	if (rc != TKM_OK)
		return rc == TKM_ERR_NO_KEY ? TKM_ERR_INPUT : rc;
	if (strcmp(h->state, "active") != 0) {
		kms_say(why, why_len, "HSM '%s' is %s", h->name, h->state);
		return TKM_ERR_INPUT;
	}
	if (role != NULL && strcmp(h->role, role) != 0) {
		kms_say(why, why_len, "HSM '%s' is a %s HSM, not %s", h->name,
		    h->role, role);
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

/* --- links --------------------------------------------------------------- */

/* Point l at HSM h, reusing its connection when it is that HSM already. */
static int
link_to(struct kms_link *l, const struct kms_hsm *h,
    const struct kms_flow_opts *o, char *why, size_t why_len)
{
	int rc;

	if (l->c != NULL && l->hsm.id == h->id)
		return TKM_OK;
	kms_link_close(l);
	if ((rc = kms_link_open(l, h, o->timeout_ms)) != TKM_OK)
		kms_say(
		    why, why_len, "HSM '%s': %s", h->name, tkm_strerror(rc));
	return rc;
}

/* BU: the KCV (16H) of the key at idx of a library, or an error. */
static int
held_kcv(struct kms_link *l, const char *type, unsigned idx, int sm4,
    char kcv[KMS_KCV_HEX + 1], char *why, size_t why_len)
{
	char req[REQ_CAP], resp[RESP_CAP];
	size_t n;
	int rc;

	kcv[0] = '\0';
	snprintf(req, sizeof(req), "BU%sK%03X%c", type, idx, scheme(sm4));
	rc = kms_link_cmd(l, req, resp, sizeof(resp), &n, NULL, why, why_len);
	if (rc != TKM_OK)
		return rc;
	if (n != KMS_KCV_HEX) {
		kms_say(why, why_len, "HSM '%s' answered BU with %zu bytes",
		    l->hsm.name, n);
		return TKM_ERR_INPUT;
	}
	memcpy(kcv, resp, KMS_KCV_HEX + 1);
	return TKM_OK;
}

/* --- (1) generation ------------------------------------------------------ */

static int
check_existing_root(struct kdb *db, const struct rootkey *k,
    const struct tmpl *t, int sm4, const struct kms_flow_opts *o,
    struct kms_rootgen *out, char *why, size_t why_len)
{
	struct kms_link l;
	struct kms_hsm h;
	char kcv[KMS_KCV_HEX + 1], shown[KMS_KCV_HEX + 1];
	int rc;

	memset(&l, 0, sizeof(l));
	out->root_key_id = k->id;
	out->version = k->version;
	out->idx = k->idx;
	out->existed = 1;
	snprintf(out->kcv, sizeof(out->kcv), "%s", k->kcv);
	if ((rc = get_hsm(db, k->hsm_id, NULL, &h, why, why_len)) != TKM_OK)
		return rc;
	if ((rc = link_to(&l, &h, o, why, why_len)) != TKM_OK)
		return rc;
	rc = held_kcv(&l, t->type, k->idx, sm4, kcv, why, why_len);
	kms_link_close(&l);
	if (rc == TKM_ERR_NO_KEY) {
		kms_say(why, why_len,
		    "root key %s %s v%lld is recorded active at K%03X of HSM"
		    " '%s', which holds no key there",
		    t->name, k->alg, (long long)k->version, k->idx, h.name);
		return rc;
	}
	if (rc != TKM_OK)
		return rc;
	kcv_shown(sm4, kcv, shown);
	if (strcmp(shown, k->kcv) != 0) {
		kms_say(why, why_len,
		    "root key %s %s v%lld: HSM '%s' holds KCV %s at K%03X, the"
		    " KMS recorded %s",
		    t->name, k->alg, (long long)k->version, h.name, shown,
		    k->idx, k->kcv);
		return TKM_ERR_VERIFY;
	}
	kms_say(why, why_len, "root key %s %s v%lld exists (K%03X, KCV %s)",
	    t->name, k->alg, (long long)k->version, k->idx, k->kcv);
	return TKM_OK;
}

/* The planned row to generate: the one a stopped run left, or a new one
 * for the next version. */
static int
plan_root(struct kdb *db, const struct kms_hsm *root, const struct tmpl *t,
    const char *alg, int sm4, struct rootkey *k, char *why, size_t why_len)
{
	int64_t v, now = now_s();
	int rc;

	rc = find_root(db, k, "state = 'planned'", t->id, alg);
	if (rc == 1) {
		if (k->hsm_id != root->id) {
			kms_say(why, why_len,
			    "root key %s %s v%lld is planned in HSM %lld, not"
			    " '%s'",
			    t->name, alg, (long long)k->version,
			    (long long)k->hsm_id, root->name);
			return TKM_ERR_INPUT;
		}
		return TKM_OK;
	}
	if (rc < 0)
		goto db_err;
	rc = kdb_int1(db, &v,
	    "SELECT COALESCE(MAX(version), 0) + 1 FROM root_keys"
	    " WHERE template_id = $1 AND alg = $2",
	    KDB_INT(t->id), KDB_TEXT(alg));
	if (rc != TKM_OK)
		goto db_err;
	memset(k, 0, sizeof(*k));
	k->template_id = t->id;
	k->hsm_id = root->id;
	k->version = v;
	k->idx = kms_plan_index(t->base[sm4], v);
	snprintf(k->alg, sizeof(k->alg), "%s", alg);
	snprintf(k->state, sizeof(k->state), "planned");
	rc = kdb_int1(db, &k->id,
	    "INSERT INTO root_keys (template_id, alg, version, hsm_id, idx,"
	    " state, created, changed)"
	    " VALUES ($1, $2, $3, $4, $5, 'planned', $6, $6) RETURNING id",
	    KDB_INT(t->id), KDB_TEXT(alg), KDB_INT(v), KDB_INT(root->id),
	    KDB_INT(k->idx), KDB_INT(now));
	if (rc == TKM_OK)
		return TKM_OK;
db_err:
	kms_say(why, why_len, "planning root key %s %s: %s", t->name, alg,
	    kdb_errmsg(db));
	return rc < 0 ? rc : TKM_ERR_INTERNAL;
}

/* The caller's in_tx hook for a key being recorded, if any. */
static int
hook(struct kdb *db, const struct kms_flow_opts *o, int64_t root_key_id,
    int64_t issued_id)
{
	struct kms_recorded r = {root_key_id, issued_id};

	return o->in_tx != NULL ? o->in_tx(db, o->tx_arg, &r) : TKM_OK;
}

struct activate {
	const struct kms_flow_opts *o;
	int64_t id;
	const char *kcv;
};

/* planned -> active with the KCV, and the caller's hook (its event). */
static int
activate_tx(struct kdb *db, void *arg)
{
	const struct activate *a = arg;
	int rc = kdb_exec(db,
	    "UPDATE root_keys SET kcv = $1, state = 'active', changed = $2"
	    " WHERE id = $3 AND state = 'planned'",
	    KDB_TEXT(a->kcv), KDB_INT(now_s()), KDB_INT(a->id));

	if (rc == TKM_OK && kdb_changes(db) != 1)
		rc = TKM_ERR_INPUT; /* another kmsd got there first */
	if (rc == TKM_OK)
		rc = hook(db, a->o, a->id, 0);
	return rc;
}

int
kms_flow_generate(struct kdb *db, int64_t root_hsm, int64_t template_id,
    const char *alg, const struct kms_flow_opts *o, struct kms_rootgen *out,
    char *why, size_t why_len)
{
	static const struct kms_flow_opts none;
	struct activate act;
	struct kms_link l;
	struct kms_hsm root;
	struct rootkey k;
	struct tmpl t;
	char req[REQ_CAP], resp[RESP_CAP], code[3], held[KMS_KCV_HEX + 1];
	const char *kcv;
	size_t n;
	int sm4 = alg_sm4(alg), rc;

	memset(out, 0, sizeof(*out));
	memset(&l, 0, sizeof(l));
	if (why != NULL && why_len > 0)
		why[0] = '\0';
	if (o == NULL)
		o = &none;
	if (sm4 < 0) {
		kms_say(why, why_len, "algorithm must be DES or SM4");
		return TKM_ERR_INPUT;
	}
	if ((rc = get_template(db, template_id, &t, why, why_len)) != TKM_OK)
		return rc;
	rc = find_root(db, &k, "state = 'active'", template_id, alg);
	if (rc == 1)
		return check_existing_root(
		    db, &k, &t, sm4, o, out, why, why_len);
	if (rc < 0) {
		kms_say(why, why_len, "reading root keys: %s", kdb_errmsg(db));
		return rc;
	}
	if ((rc = get_hsm(db, root_hsm, "root", &root, why, why_len)) != TKM_OK)
		return rc;
	if ((rc = plan_root(db, &root, &t, alg, sm4, &k, why, why_len)) !=
	    TKM_OK)
		return rc;
	out->root_key_id = k.id;
	out->version = k.version;
	out->idx = k.idx;
	if ((rc = link_to(&l, &root, o, why, why_len)) != TKM_OK)
		return rc;

	/* A0 mode 2: generate and store; the key under DK in the answer is
	 * of no use to the KMS and is wiped with the buffer. */
	snprintf(req, sizeof(req), "A02%s%cK%03X", t.type, scheme(sm4), k.idx);
	rc = kms_link_cmd(&l, req, resp, sizeof(resp), &n, code, why, why_len);
	if (rc != TKM_OK && strcmp(code, "21") == 0) {
		/* Never overwrite: say what is there. */
		int rc2 = held_kcv(&l, t.type, k.idx, sm4, held, NULL, 0);

		if (rc2 == TKM_OK)
			kcv_shown(sm4, held, held);

		kms_say(why, why_len,
		    "root HSM '%s' already holds a key at K%03X (%s library,"
		    " KCV %s) that the KMS has not recorded as root key %s %s"
		    " v%lld: it is not overwritten; compare its KCV with the"
		    " HSM's records, delete it through the management port"
		    " (keys.delete) and generate again",
		    root.name, k.idx, alg,
		    rc2 == TKM_OK ? held : "unknown: it has another key type",
		    t.name, alg, (long long)k.version);
		rc = TKM_ERR_INDEX;
		goto out;
	}
	if (rc != TKM_OK)
		goto out;
	if ((kcv = key_kcv(resp, n, sm4)) == NULL) {
		kms_say(why, why_len,
		    "root HSM '%s' answered A0 with %zu bytes", root.name, n);
		rc = TKM_ERR_INPUT;
		goto out;
	}
	kcv_shown(sm4, kcv, out->kcv);
	act.o = o;
	act.id = k.id;
	act.kcv = out->kcv;
	if ((rc = kdb_tx(db, activate_tx, &act)) != TKM_OK)
		kms_say(why, why_len,
		    "root key %s %s v%lld was generated at K%03X of '%s' (KCV"
		    " %s) but could not be recorded (%s): generating again"
		    " reports the key found there",
		    t.name, alg, (long long)k.version, k.idx, root.name,
		    out->kcv, kdb_errmsg(db));
out:
	tkm_cleanse(resp, sizeof(resp));
	kms_link_close(&l);
	return rc;
}

/* --- (2) issuance -------------------------------------------------------- */

struct issue_job {
	struct rootkey rk;
	struct tmpl t;
	struct city c;
	struct kms_hsm root, target;
	int sm4;
	unsigned idx; /* at the target */
	char factor[FACTOR_HEX + 1];
	int64_t row; /* an earlier failed row to reuse, else 0 */
	char row_state[16];
};

/* Everything that can be refused before any host command. */
static int
prepare(struct kdb *db, int64_t root_key_id, int64_t city_id, int64_t target,
    struct issue_job *j, char *why, size_t why_len)
{
	struct kdb_rows *r = NULL;
	int rc, clearing;

	memset(j, 0, sizeof(*j));
	if ((rc = get_root(db, root_key_id, &j->rk, why, why_len)) != TKM_OK)
		return rc;
	if (strcmp(j->rk.state, "active") != 0 || j->rk.kcv[0] == '\0') {
		kms_say(why, why_len,
		    "root key %lld is %s: only active keys are"
		    " issued",
		    (long long)j->rk.id, j->rk.state);
		return TKM_ERR_INPUT;
	}
	j->sm4 = alg_sm4(j->rk.alg);
	if ((rc = get_template(db, j->rk.template_id, &j->t, why, why_len)) !=
		TKM_OK ||
	    (rc = get_city(db, city_id, &j->c, why, why_len)) != TKM_OK ||
	    (rc = get_hsm(db, j->rk.hsm_id, "root", &j->root, why, why_len)) !=
		TKM_OK ||
	    (rc = get_hsm(db, target, NULL, &j->target, why, why_len)) !=
		TKM_OK)
		return rc;
	clearing = strcmp(j->target.role, "clearing") == 0;
	if (clearing) {
		/* The clearing HSM verifies the TAC of every city. */
		if (!j->t.clearing) {
			kms_say(why, why_len,
			    "%s keys do not go to the clearing"
			    " HSM",
			    j->t.name);
			return TKM_ERR_INPUT;
		}
		j->idx =
		    kms_plan_clearing_index(j->sm4, j->c.seq, j->rk.version);
	} else if (strcmp(j->target.role, "provincial_business") == 0 ||
		   strcmp(j->target.role, "city") == 0) {
		if (j->target.city_id != j->c.id) {
			kms_say(why, why_len, "HSM '%s' does not serve %s",
			    j->target.name, j->c.name);
			return TKM_ERR_INPUT;
		}
		j->idx = kms_plan_index(j->t.base[j->sm4], j->rk.version);
	} else {
		kms_say(why, why_len, "keys are not issued to a %s HSM ('%s')",
		    j->target.role, j->target.name);
		return TKM_ERR_INPUT;
	}
	if (kms_city_factor(j->t.rule, j->c.code, j->factor) != TKM_OK) {
		kms_say(why, why_len,
		    "template %s: city factor rule '%s' does not"
		    " apply to city code %s",
		    j->t.name, j->t.rule, j->c.code);
		return TKM_ERR_INPUT;
	}
	rc = kdb_query(db, &r,
	    "SELECT id, state FROM issued_keys WHERE root_key_id = $1"
	    " AND city_id = $2 AND hsm_id = $3",
	    KDB_INT(j->rk.id), KDB_INT(j->c.id), KDB_INT(j->target.id));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		j->row = kdb_int(r, 0);
		col(r, 1, j->row_state, sizeof(j->row_state));
	}
	kdb_rows_free(r);
	if (rc < 0) {
		kms_say(
		    why, why_len, "reading issued keys: %s", kdb_errmsg(db));
		return rc;
	}
	return TKM_OK;
}

struct record {
	const struct issue_job *j;
	const struct kms_flow_opts *o;
	const char *state;
	const char *kcv;
	int64_t id;
};

static int
record_row(struct kdb *db, struct record *w)
{
	const struct issue_job *j = w->j;
	int64_t now = now_s();
	int rc;

	if (j->row != 0) {
		w->id = j->row;
		rc = kdb_exec(db,
		    "UPDATE issued_keys SET alg = $1, idx = $2, kcv = $3,"
		    " version = $4, state = $5, changed = $6"
		    " WHERE id = $7 AND state = 'failed'",
		    KDB_TEXT(j->rk.alg), KDB_INT(j->idx), KDB_TEXT(w->kcv),
		    KDB_INT(j->rk.version), KDB_TEXT(w->state), KDB_INT(now),
		    KDB_INT(j->row));
		if (rc == TKM_OK && kdb_changes(db) != 1)
			rc = TKM_ERR_INPUT; /* another kmsd got there first */
		return rc;
	}
	return kdb_int1(db, &w->id,
	    "INSERT INTO issued_keys (root_key_id, city_id, hsm_id, alg, idx,"
	    " kcv, version, state, created, changed)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
	    KDB_INT(j->rk.id), KDB_INT(j->c.id), KDB_INT(j->target.id),
	    KDB_TEXT(j->rk.alg), KDB_INT(j->idx), KDB_TEXT(w->kcv),
	    KDB_INT(j->rk.version), KDB_TEXT(w->state), KDB_INT(now));
}

/* The row, and for an active one the caller's hook (its event). */
static int
record_tx(struct kdb *db, void *arg)
{
	struct record *w = arg;
	int rc = record_row(db, w);

	if (rc == TKM_OK && strcmp(w->state, "active") == 0)
		rc = hook(db, w->o, w->j->rk.id, w->id);
	return rc;
}

static int
record(struct kdb *db, const struct kms_flow_opts *o, const struct issue_job *j,
    const char *state, const char *kcv, int64_t *id)
{
	struct record w = {j, o, state, kcv, 0};
	int rc = kdb_tx(db, record_tx, &w);

	*id = rc == TKM_OK ? w.id : 0;
	return rc;
}

struct flow {
	struct kdb *db;
	const struct kms_flow_opts *o;
	struct kms_link root, target;
	size_t done, total;
};

static void
progress(struct flow *f, const struct issue_job *j, enum kms_step step,
    const struct kms_issue *out, int rc, const char *why)
{
	struct kms_progress p;

	if (f->o->progress == NULL)
		return;
	memset(&p, 0, sizeof(p));
	p.step = step;
	p.done = f->done;
	p.total = f->total;
	p.template_name = j->t.name;
	p.alg = j->rk.alg;
	p.idx = j->idx;
	p.kcv = out->kcv;
	p.existed = out->existed;
	p.rc = rc;
	p.why = rc != TKM_OK ? why : NULL;
	f->o->progress(f->o->arg, &p);
}

/* The row says the key is issued: check that the target still holds it,
 * with the KCV recorded. */
static int
check_issued(struct flow *f, const struct issue_job *j, struct kms_issue *out,
    char *why, size_t why_len)
{
	char kcv[KMS_KCV_HEX + 1], rec[KMS_KCV_HEX + 1] = "";
	struct kdb_rows *r = NULL;
	int rc;

	rc = kdb_query(f->db, &r,
	    "SELECT COALESCE(kcv, '') FROM issued_keys WHERE id = $1",
	    KDB_INT(j->row));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1)
		col(r, 0, rec, sizeof(rec));
	kdb_rows_free(r);
	if (rc != 1) {
		kms_say(
		    why, why_len, "reading issued keys: %s", kdb_errmsg(f->db));
		return rc < 0 ? rc : TKM_ERR_INTERNAL;
	}
	out->issued_id = j->row;
	rc = held_kcv(&f->target, j->t.type, j->idx, j->sm4, kcv, why, why_len);
	if (rc == TKM_ERR_NO_KEY) {
		kms_say(why, why_len,
		    "%s %s for %s is recorded as issued to '%s' at K%03X,"
		    " which holds no key there",
		    j->t.name, j->rk.alg, j->c.name, j->target.name, j->idx);
		return rc;
	}
	if (rc != TKM_OK)
		return rc;
	kcv_shown(j->sm4, kcv, out->kcv);
	if (strcmp(out->kcv, rec) != 0) {
		kms_say(why, why_len,
		    "%s %s for %s is recorded as issued to '%s' at K%03X with"
		    " KCV %s, but the HSM holds KCV %s there",
		    j->t.name, j->rk.alg, j->c.name, j->target.name, j->idx,
		    rec, out->kcv);
		return TKM_ERR_VERIFY;
	}
	out->existed = 1;
	kms_say(why, why_len,
	    "%s %s for %s is issued to '%s' at K%03X (KCV %s)", j->t.name,
	    j->rk.alg, j->c.name, j->target.name, j->idx, out->kcv);
	return TKM_OK;
}

static int
issue_one(struct flow *f, int64_t root_key_id, int64_t city_id, int64_t target,
    struct kms_issue *out, char *why, size_t why_len)
{
	struct issue_job j;
	char req[REQ_CAP], resp[RESP_CAP], code[3];
	char exported[KMS_KCV_HEX + 1], got[KMS_KCV_HEX + 1];
	const char *kcv;
	size_t n;
	int rc, rc2;

	memset(out, 0, sizeof(*out));
	if (why != NULL && why_len > 0)
		why[0] = '\0';
	if ((rc = prepare(f->db, root_key_id, city_id, target, &j, why,
		 why_len)) != TKM_OK)
		return rc;
	out->idx = j.idx;
	if (j.row != 0 && strcmp(j.row_state, "failed") != 0) {
		if (strcmp(j.row_state, "active") != 0) {
			kms_say(why, why_len,
			    "%s %s for %s was issued to '%s' and is %s",
			    j.t.name, j.rk.alg, j.c.name, j.target.name,
			    j.row_state);
			rc = TKM_ERR_INPUT;
		} else if ((rc = link_to(&f->target, &j.target, f->o, why,
				why_len)) == TKM_OK) {
			rc = check_issued(f, &j, out, why, why_len);
		}
		goto out;
	}
	if ((rc = link_to(&f->root, &j.root, f->o, why, why_len)) != TKM_OK ||
	    (rc = link_to(&f->target, &j.target, f->o, why, why_len)) != TKM_OK)
		goto out;

	/* A8 at the root: derive once with the city factor, export under
	 * the TK (protocol.md A8; DESIGN §3.2 diversification). */
	snprintf(req, sizeof(req), "A8T%s%sK%03X1%s%c", j.t.type,
	    tk_ref(f->o, j.sm4), j.rk.idx, j.factor, scheme(j.sm4));
	rc = kms_link_cmd(
	    &f->root, req, resp, sizeof(resp), &n, NULL, why, why_len);
	if (rc != TKM_OK)
		goto out;
	if ((kcv = key_kcv(resp, n, j.sm4)) == NULL) {
		kms_say(why, why_len,
		    "root HSM '%s' answered A8 with %zu bytes", j.root.name, n);
		rc = TKM_ERR_INPUT;
		goto out;
	}
	memcpy(exported, kcv, KMS_KCV_HEX);
	exported[KMS_KCV_HEX] = '\0';
	kcv_shown(j.sm4, exported, out->kcv);
	progress(f, &j, KMS_STEP_EXPORTED, out, TKM_OK, NULL);

	/* A6 at the target: import under the same TK at the planned index.
	 * The request carries the key under TK: wiped below. */
	snprintf(req, sizeof(req), "A6T%s%s%.*s%cK%03X", j.t.type,
	    tk_ref(f->o, j.sm4), KEY_TK, resp, scheme(j.sm4), j.idx);
	tkm_cleanse(resp, sizeof(resp));
	rc = kms_link_cmd(
	    &f->target, req, resp, sizeof(resp), &n, code, why, why_len);
	tkm_cleanse(req, sizeof(req));
	if (rc != TKM_OK && strcmp(code, "21") == 0) {
		/* Taken: by this very key when an earlier run stopped after
		 * the import (recover), else by another key (report). */
		rc = held_kcv(&f->target, j.t.type, j.idx, j.sm4, got, NULL, 0);
		if (rc == TKM_OK && strcmp(got, exported) == 0) {
			out->recovered = 1;
			goto matched;
		}
		kcv_shown(
		    j.sm4, rc == TKM_OK ? got : "------------------", out->kcv);
		rc2 = record(
		    f->db, f->o, &j, "failed", out->kcv, &out->issued_id);
		kms_say(why, why_len,
		    "HSM '%s' already holds another key at K%03X (%s library,"
		    " KCV %s; %s %s for %s exports KCV %.*s): nothing was"
		    " imported or deleted; the issuance is marked failed%s",
		    j.target.name, j.idx, j.rk.alg, out->kcv, j.t.name,
		    j.rk.alg, j.c.name, j.sm4 ? KMS_KCV_HEX : KCV_DES, exported,
		    rc2 == TKM_OK ? "" : " (could not be recorded)");
		rc = TKM_ERR_INDEX;
		goto out;
	}
	if (rc != TKM_OK) {
		/* No row: the target did not confirm. After a timeout it may
		 * hold the key; a new run finds out (ERR 21, KCVs). */
		if (kms_err_unreachable(rc) && why != NULL) {
			size_t m = strlen(why);

			snprintf(why + m, why_len - m,
			    "; %s %s for %s not recorded as issued", j.t.name,
			    j.rk.alg, j.c.name);
		}
		goto out;
	}
	if ((kcv = key_kcv(resp, n, j.sm4)) == NULL) {
		kms_say(why, why_len, "HSM '%s' answered A6 with %zu bytes",
		    j.target.name, n);
		rc = TKM_ERR_INPUT;
		goto out;
	}
	memcpy(got, kcv, KMS_KCV_HEX);
	got[KMS_KCV_HEX] = '\0';
	if (strcmp(got, exported) != 0) {
		kcv_shown(j.sm4, got, out->kcv);
		rc2 = record(
		    f->db, f->o, &j, "failed", out->kcv, &out->issued_id);
		kms_say(why, why_len,
		    "KCV mismatch issuing %s %s for %s: root '%s' exported %s,"
		    " '%s' imported %s at K%03X (different TKs?). The key"
		    " stays there, nothing is deleted: remove it through the"
		    " management port (keys.delete) before issuing again. The"
		    " issuance is marked failed%s",
		    j.t.name, j.rk.alg, j.c.name, j.root.name, exported,
		    j.target.name, got, j.idx,
		    rc2 == TKM_OK ? "" : " (could not be recorded)");
		rc = TKM_ERR_VERIFY;
		goto out;
	}
matched:
	kcv_shown(j.sm4, exported, out->kcv);
	rc = record(f->db, f->o, &j, "active", out->kcv, &out->issued_id);
	if (rc != TKM_OK)
		kms_say(why, why_len,
		    "%s %s for %s is in '%s' at K%03X (KCV %s) but could not"
		    " be recorded (%s): issuing again records it",
		    j.t.name, j.rk.alg, j.c.name, j.target.name, j.idx,
		    out->kcv, kdb_errmsg(f->db));
out:
	tkm_cleanse(resp, sizeof(resp));
	tkm_cleanse(req, sizeof(req));
	f->done++;
	progress(f, &j, KMS_STEP_DONE, out, rc, why);
	return rc;
}

int
kms_flow_issue(struct kdb *db, int64_t root_key_id, int64_t city_id,
    int64_t target, const struct kms_flow_opts *o, struct kms_issue *out,
    char *why, size_t why_len)
{
	static const struct kms_flow_opts none;
	struct flow f;
	int rc;

	memset(&f, 0, sizeof(f));
	f.db = db;
	f.o = o != NULL ? o : &none;
	f.total = 1;
	rc = issue_one(&f, root_key_id, city_id, target, out, why, why_len);
	kms_link_close(&f.root);
	kms_link_close(&f.target);
	return rc;
}

/* --- (3) a city ---------------------------------------------------------- */

int
kms_flow_issue_city(struct kdb *db, int64_t city_id, int64_t target,
    const struct kms_flow_opts *o, struct kms_batch *out, char *why,
    size_t why_len)
{
	static const struct kms_flow_opts none;
	static const char *const algs[2] = {"DES", "SM4"};
	struct kdb_rows *r = NULL;
	struct kms_issue one;
	struct kms_hsm h;
	struct flow f;
	int64_t *keys = NULL, t0 = tkm_mono_ms();
	size_t nt = 0, i;
	int rc, a, clearing;

	memset(out, 0, sizeof(*out));
	memset(&f, 0, sizeof(f));
	f.db = db;
	f.o = o != NULL ? o : &none;
	if ((rc = get_hsm(db, target, NULL, &h, why, why_len)) != TKM_OK)
		return rc;
	clearing = strcmp(h.role, "clearing") == 0;

	/* Every (template, alg) must have an active root key before the
	 * first host command: a half-issued city is a plan, not a state. */
	if ((keys = calloc(2 * KMS_NKEYTYPES + 2, sizeof(*keys))) == NULL)
		return TKM_ERR_NOMEM;
	rc = kdb_query(db, &r,
	    "SELECT t.name, t.clearing, d.id, s.id FROM key_templates t"
	    " LEFT JOIN root_keys d ON d.template_id = t.id"
	    "  AND d.alg = 'DES' AND d.state = 'active'"
	    " LEFT JOIN root_keys s ON s.template_id = t.id"
	    "  AND s.alg = 'SM4' AND s.state = 'active'"
	    " ORDER BY t.seq");
	while (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		rc = TKM_OK;
		if (clearing && kdb_int(r, 1) == 0)
			continue;
		for (a = 0; a < 2; a++) {
			if (kdb_isnull(r, 2 + a)) {
				kms_say(why, why_len,
				    "template %s has no active %s root key:"
				    " generate it first",
				    kdb_text(r, 0), algs[a]);
				rc = TKM_ERR_INPUT;
				break;
			}
			if (nt == 2 * KMS_NKEYTYPES + 2) {
				kms_say(why, why_len,
				    "more templates than the"
				    " spec's");
				rc = TKM_ERR_INPUT;
				break;
			}
			keys[nt++] = kdb_int(r, 2 + a);
		}
	}
	kdb_rows_free(r);
	if (rc < 0) {
		if (rc != TKM_ERR_INPUT)
			kms_say(why, why_len, "reading root keys: %s",
			    kdb_errmsg(db));
		goto out;
	}
	f.total = out->total = nt;
	for (i = 0; i < nt; i++) {
		rc =
		    issue_one(&f, keys[i], city_id, target, &one, why, why_len);
		if (rc != TKM_OK) {
			out->failed = 1;
			break;
		}
		if (one.existed)
			out->existed++;
		else
			out->issued++;
	}
	if (rc == TKM_OK)
		kms_say(why, why_len, "%zu keys: %zu issued, %zu already there",
		    nt, out->issued, out->existed);
out:
	free(keys);
	kms_link_close(&f.root);
	kms_link_close(&f.target);
	out->elapsed_ms = tkm_mono_ms() - t0;
	return rc;
}
