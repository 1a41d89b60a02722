/*
 * ops_dk.c - the device-key ceremony, the quorum unseal and the transport
 * key (DESIGN §5; the spec's 加密机初始化 steps 2.1 and 5; docs/seal.md,
 * docs/management.md).
 *
 * dk.component: each of A1, A2, A3, logged in, enters (or has the HSM
 * generate) a 128-bit component with its component password; the
 * component waits in locked memory and its dk.backup record is made at
 * once, so the password is not kept. dk.combine (A1+A2+A3): DK = C1 xor
 * C2 xor C3, written to dk.backup and, with seal local, to dk.sealed.
 * tk.component / tk.combine (C): a TK from three components, stored as
 * type 000 at an index of the DES or SM4 library.
 *
 * Components entered and not combined are dropped HSM_MGMT_IDLE seconds
 * after the last one (at the next ceremony operation), and by a combine
 * that got as far as reading them (a refused index does not).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "keystore.h"
#include "ops.h"
#include "ops_dk.h"
#include "seal.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define COMP_LEN  16 /* DK, SM4 TK and double-length DES TK components */
#define TK_PARTS  3
#define TK_TYPE   "000" /* protocol.md §2: KEK/ZMK/TK */
#define KCV_SHOWN 3     /* DESIGN §3.2: displays show 6 hex digits */

/* What waits between component and combine, in locked memory. */
struct pending {
	time_t since;     /* last DK component entered */
	unsigned dk_have; /* bit i: part i + 1 entered */
	uint8_t dk[HSM_DK_PARTS][COMP_LEN];
	struct hsm_backup_rec rec[HSM_DK_PARTS];
	unsigned tk_n;
	int tk_alg;
	time_t tk_since; /* last TK component entered */
	uint8_t tk[TK_PARTS][COMP_LEN];
};

static pthread_mutex_t pend_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pending *pend; /* NULL when nothing waits */

/* --- pending state (pend_mu held) -------------------------------------- */

static void
pend_drop_dk(void)
{
	if (pend == NULL)
		return;
	tkm_cleanse(pend->dk, sizeof(pend->dk));
	tkm_cleanse(pend->rec, sizeof(pend->rec));
	pend->dk_have = 0;
}

static void
pend_drop_tk(void)
{
	if (pend == NULL)
		return;
	tkm_cleanse(pend->tk, sizeof(pend->tk));
	pend->tk_n = 0;
	pend->tk_alg = 0;
}

/* Free the block once nothing waits in it. */
static void
pend_release(void)
{
	if (pend != NULL && pend->dk_have == 0 && pend->tk_n == 0) {
		tkm_secure_free(pend, sizeof(*pend));
		pend = NULL;
	}
}

/* The block, allocated on first use; stale ceremonies dropped. */
static struct pending *
pend_get(void)
{
	time_t now = time(NULL);

	if (pend == NULL && (pend = tkm_secure_alloc(sizeof(*pend))) == NULL)
		return NULL;
	if (pend->dk_have != 0 && now - pend->since > HSM_MGMT_IDLE)
		pend_drop_dk();
	if (pend->tk_n != 0 && now - pend->tk_since > HSM_MGMT_IDLE)
		pend_drop_tk();
	return pend;
}

/* --- arguments and results ---------------------------------------------- */

static const char *
arg_str(json_t *args, const char *name)
{
	return json_string_value(json_object_get(args, name));
}

/*
 * A component from args: "component" (32 hex digits) or "generate": true
 * (then *generated is set and the component is drawn at random, DES ones
 * with odd parity). Exactly one of the two.
 */
static int
arg_component(json_t *args, int alg, uint8_t c[COMP_LEN], int *generated,
    const char **why)
{
	const char *hex = arg_str(args, "component");
	json_t *gen = json_object_get(args, "generate");
	size_t n;

	*generated = 0;
	if ((hex != NULL) == json_is_true(gen) ||
	    (gen != NULL && !json_is_boolean(gen))) {
		*why = "give component (32 hex digits) or generate: true";
		return TKM_ERR_INPUT;
	}
	if (hex == NULL) {
		*generated = 1;
		return tkm_component_random(alg, COMP_LEN, c);
	}
	if (strlen(hex) != 2 * COMP_LEN ||
	    tkm_hex_decode(hex, 2 * COMP_LEN, c, COMP_LEN, &n) != TKM_OK) {
		tkm_cleanse(c, COMP_LEN);
		*why = "component must be 32 hex digits";
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

/* "kcv": 6 hex digits as displays show it, "kcv16": all 8 bytes. */
static void
set_kcv(json_t *result, const uint8_t kcv[TKM_KCV_LEN])
{
	char hex[2 * TKM_KCV_LEN + 1];

	tkm_hex_encode(kcv, TKM_KCV_LEN, hex);
	json_object_set_new(result, "kcv16", json_string(hex));
	hex[2 * KCV_SHOWN] = '\0';
	json_object_set_new(result, "kcv", json_string(hex));
}

/* A generated component, in the response only: shown once. */
static void
set_component(json_t *result, const uint8_t c[COMP_LEN])
{
	char hex[2 * COMP_LEN + 1];

	tkm_hex_encode(c, COMP_LEN, hex);
	json_object_set_new(result, "component", json_string(hex));
	tkm_cleanse(hex, sizeof(hex));
}

/* A device key may be made only once (a new one after zeroise). */
int
hsm_dk_absent(struct hsm_op_ctx *c, const char **why)
{
	if (atomic_load(&c->st->dk) != NULL || hsm_seal_exists(c->st->dir)) {
		*why = "a device key exists: a new one only after zeroise";
		return TKM_ERR_PERMISSION;
	}
	return TKM_OK;
}

/* Open and close the key store with dk: it records DK's KCV on first
 * open, and refuses a DK other than the one its keys are under. */
int
hsm_dk_keystore_check(
    struct hsm_op_ctx *c, const struct hsm_dk *dk, const char **why)
{
	struct hsm_keystore *ks = NULL;
	int rc;

	rc = hsm_keystore_open(c->st->dir, dk, &ks);
	hsm_keystore_close(ks);
	if (rc == TKM_ERR_SEALED)
		*why = "keys.db holds keys under another device key";
	return rc;
}

/* Make DK the HSM's: workers see it at their next command. */
void
hsm_dk_publish(struct hsm_op_ctx *c, struct hsm_dk **dk, json_t *result)
{
	struct hsm_dk *none = NULL;
	uint8_t kcv[TKM_KCV_LEN];

	hsm_dk_kcv(*dk, kcv);
	set_kcv(result, kcv);
	/* Only the management thread sets DK, after checking it was NULL;
	 * the exchange keeps that true even if that changes. */
	if (atomic_compare_exchange_strong(&c->st->dk, &none, *dk))
		*dk = NULL;
}

/* Zeroise: forget every component entered and not combined. */
void
hsm_dk_pending_drop(void)
{
	pthread_mutex_lock(&pend_mu);
	pend_drop_dk();
	pend_drop_tk();
	pend_release();
	pthread_mutex_unlock(&pend_mu);
}

/* --- dk.component -------------------------------------------------------- */

/* The part (1..3) the caller enters: "role", or the session's only A
 * role. */
static int
dk_part(struct hsm_op_ctx *c, json_t *args, unsigned *part, const char **why)
{
	const char *name = arg_str(args, "role");
	unsigned have = c->s != NULL ? c->s->roles : 0, role;

	role = name != NULL ? hsm_role_parse(name) : have & HSM_ROLES_A;
	if (name == NULL && role != HSM_ROLE_A1 && role != HSM_ROLE_A2 &&
	    role != HSM_ROLE_A3) {
		*why = "role (A1, A2 or A3) is required";
		return TKM_ERR_INPUT;
	}
	if ((role & HSM_ROLES_A) == 0) {
		*why = "role must be A1, A2 or A3";
		return TKM_ERR_INPUT;
	}
	if ((have & role) == 0) {
		*why = "a component is entered by its own role, logged in";
		return TKM_ERR_PERMISSION;
	}
	*part = role == HSM_ROLE_A1 ? 1 : role == HSM_ROLE_A2 ? 2 : 3;
	return TKM_OK;
}

static int
dk_password(json_t *args, const char **pw, const char **why)
{
	size_t n;

	*pw = arg_str(args, "component_password");
	n = *pw != NULL ? strlen(*pw) : 0;
	if (n < HSM_PASSWORD_MIN || n > HSM_PASSWORD_MAX) {
		*why = "component_password must be 8 to 128 characters";
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

/* Keep part's component and record until dk.combine. */
static int
dk_keep(unsigned part, const uint8_t *comp, const struct hsm_backup_rec *rec)
{
	struct pending *p;
	int rc = TKM_OK;

	pthread_mutex_lock(&pend_mu);
	if ((p = pend_get()) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	p->since = time(NULL);
	/* A role may enter its component again (a typing error): the
	 * last one counts. */
	memcpy(p->dk[part - 1], comp, COMP_LEN);
	p->rec[part - 1] = *rec;
	p->dk_have |= 1u << (part - 1);
out:
	pthread_mutex_unlock(&pend_mu);
	return rc;
}

int
op_dk_component(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_backup_rec rec;
	uint8_t *comp, kcv[TKM_KCV_LEN];
	const char *pw;
	unsigned part;
	int generated, rc;

	if ((rc = hsm_dk_absent(c, why)) != TKM_OK ||
	    (rc = dk_part(c, args, &part, why)) != TKM_OK ||
	    (rc = dk_password(args, &pw, why)) != TKM_OK)
		return rc;
	if ((comp = tkm_secure_alloc(COMP_LEN)) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = arg_component(args, TKM_SM4, comp, &generated, why)) !=
		TKM_OK ||
	    (rc = tkm_kcv(TKM_SM4, comp, COMP_LEN, kcv)) != TKM_OK ||
	    (rc = hsm_backup_seal(part, comp, pw, &rec)) != TKM_OK ||
	    (rc = dk_keep(part, comp, &rec)) != TKM_OK)
		goto out;
	json_object_set_new(
	    result, "role", json_string(hsm_role_name(1u << (part - 1))));
	set_kcv(result, kcv);
	if (generated)
		set_component(result, comp);
out:
	tkm_cleanse(&rec, sizeof(rec));
	tkm_secure_free(comp, COMP_LEN);
	return rc;
}

/* --- dk.combine ---------------------------------------------------------- */

/* Take the three components and records out of the pending state (which
 * drops them): TKM_ERR_INPUT if one is missing (nothing is dropped then). */
static int
dk_take(uint8_t dk[HSM_DK_LEN], struct hsm_backup_rec rec[HSM_DK_PARTS],
    const char **why)
{
	struct pending *p;
	size_t i, j;
	int rc = TKM_OK;

	pthread_mutex_lock(&pend_mu);
	if ((p = pend_get()) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	if (p->dk_have != (1u << HSM_DK_PARTS) - 1) {
		*why = "A1, A2 and A3 must each enter a component first";
		rc = TKM_ERR_INPUT;
		goto out;
	}
	memset(dk, 0, HSM_DK_LEN);
	for (i = 0; i < HSM_DK_PARTS; i++) {
		for (j = 0; j < HSM_DK_LEN; j++)
			dk[j] ^= p->dk[i][j];
		rec[i] = p->rec[i];
	}
	pend_drop_dk();
out:
	pend_release();
	pthread_mutex_unlock(&pend_mu);
	return rc;
}

/* Store DK per the seal mode: dk.backup always, dk.sealed with local. */
int
hsm_dk_store(struct hsm_op_ctx *c, const uint8_t *dk,
    const struct hsm_backup_rec rec[HSM_DK_PARTS], const char **why)
{
	char path[4096];
	uint8_t kcv[TKM_KCV_LEN];
	int rc;

	if ((rc = tkm_kcv(TKM_SM4, dk, HSM_DK_LEN, kcv)) != TKM_OK)
		return rc;
	if ((rc = hsm_backup_write(c->st->dir, kcv, rec)) != TKM_OK) {
		*why = "cannot write dk.backup";
		return rc;
	}
	if (c->st->cfg->seal != HSM_SEAL_LOCAL ||
	    (rc = hsm_seal_local_write(c->st->dir, dk)) == TKM_OK)
		return TKM_OK;
	/* No half-made device key: without dk.sealed, drop dk.backup. */
	*why = "cannot write machine.key and dk.sealed";
	if (snprintf(path, sizeof(path), "%s/%s", c->st->dir, HSM_SEAL_BACKUP) <
	    (int)sizeof(path))
		unlink(path);
	return rc;
}

int
op_dk_combine(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_backup_rec rec[HSM_DK_PARTS];
	struct hsm_dk *hdk = NULL;
	uint8_t *dk;
	int rc;

	(void)args;
	if ((rc = hsm_dk_absent(c, why)) != TKM_OK)
		return rc;
	if ((dk = tkm_secure_alloc(HSM_DK_LEN)) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = dk_take(dk, rec, why)) != TKM_OK ||
	    (rc = hsm_seal_dk_new(dk, &hdk)) != TKM_OK ||
	    (rc = hsm_dk_keystore_check(c, hdk, why)) != TKM_OK ||
	    (rc = hsm_dk_store(c, dk, rec, why)) != TKM_OK)
		goto out;
	hsm_dk_publish(c, &hdk, result);
	json_object_set_new(
	    result, "seal", json_string(hsm_seal_mode_name(c->st->cfg->seal)));
out:
	hsm_dk_free(hdk);
	tkm_cleanse(rec, sizeof(rec));
	tkm_secure_free(dk, HSM_DK_LEN);
	return rc;
}

/* --- unseal -------------------------------------------------------------- */

/* args.components.A<i>.component_password, i = 1..3. */
int
hsm_dk_unseal_passwords(
    json_t *args, const char *pw[HSM_DK_PARTS], const char **why)
{
	static const char *const names[] = {"A1", "A2", "A3"};
	json_t *all = json_object_get(args, "components");
	size_t i;

	for (i = 0; i < HSM_DK_PARTS; i++) {
		pw[i] = arg_str(
		    json_object_get(all, names[i]), "component_password");
		if (pw[i] == NULL) {
			*why = "components: {A1: {component_password}, A2: "
			       "{...}, A3: {...}} required";
			return TKM_ERR_INPUT;
		}
	}
	return TKM_OK;
}

const char *
hsm_dk_unseal_why(int rc, unsigned bad_part)
{
	static const char *const bad[] = {
	    "dk.backup does not match its device key (altered file)",
	    "A1's component password is wrong, or dk.backup was altered",
	    "A2's component password is wrong, or dk.backup was altered",
	    "A3's component password is wrong, or dk.backup was altered"};

	if (rc == TKM_ERR_NO_KEY)
		return "no dk.backup: no device key was made here (dk.combine)";
	if (rc == TKM_ERR_VERIFY && bad_part <= HSM_DK_PARTS)
		return bad[bad_part];
	return "cannot read dk.backup";
}

int
op_unseal(struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	const char *pw[HSM_DK_PARTS];
	struct hsm_dk *hdk = NULL;
	unsigned bad_part;
	uint8_t *dk;
	int rc;

	if (atomic_load(&c->st->dk) != NULL) {
		*why = "already unsealed";
		return TKM_ERR_PERMISSION;
	}
	if ((rc = hsm_dk_unseal_passwords(args, pw, why)) != TKM_OK)
		return rc;
	if ((dk = tkm_secure_alloc(HSM_DK_LEN)) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = hsm_backup_open(c->st->dir, pw, dk, &bad_part)) != TKM_OK) {
		*why = hsm_dk_unseal_why(rc, bad_part);
		goto out;
	}
	if ((rc = hsm_seal_dk_new(dk, &hdk)) != TKM_OK ||
	    (rc = hsm_dk_keystore_check(c, hdk, why)) != TKM_OK)
		goto out;
	/* With seal local, a dk.sealed that did not open (lost or altered
	 * machine key) is made anew, so the next restart is unattended. */
	if (c->st->cfg->seal == HSM_SEAL_LOCAL)
		json_object_set_new(result, "resealed",
		    json_boolean(
			hsm_seal_local_write(c->st->dir, dk) == TKM_OK));
	hsm_dk_publish(c, &hdk, result);
out:
	hsm_dk_free(hdk);
	tkm_secure_free(dk, HSM_DK_LEN);
	return rc;
}

/* --- transport key ------------------------------------------------------- */

static int
arg_alg(json_t *args, int *alg, const char **why)
{
	const char *s = arg_str(args, "alg");

	*alg = 0;
	if (s != NULL && strcmp(s, "des") == 0)
		*alg = TKM_DES;
	else if (s != NULL && strcmp(s, "sm4") == 0)
		*alg = TKM_SM4;
	if (*alg == 0) {
		*why = "alg must be des or sm4";
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

static int
tk_keep(int alg, const uint8_t *comp, unsigned *n, const char **why)
{
	struct pending *p;
	int rc = TKM_OK;

	pthread_mutex_lock(&pend_mu);
	if ((p = pend_get()) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	if (p->tk_n > 0 && p->tk_alg != alg) {
		*why = "the components entered are for the other alg: "
		       "combine them first";
		rc = TKM_ERR_INPUT;
	} else if (p->tk_n == TK_PARTS) {
		*why = "three components entered: run tk.combine";
		rc = TKM_ERR_INPUT;
	} else {
		p->tk_since = time(NULL);
		p->tk_alg = alg;
		memcpy(p->tk[p->tk_n++], comp, COMP_LEN);
		*n = p->tk_n;
	}
out:
	pend_release();
	pthread_mutex_unlock(&pend_mu);
	return rc;
}

int
op_tk_component(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	uint8_t *comp, kcv[TKM_KCV_LEN];
	unsigned n = 0;
	int alg, generated, rc;

	(void)c;
	if ((rc = arg_alg(args, &alg, why)) != TKM_OK)
		return rc;
	if ((comp = tkm_secure_alloc(COMP_LEN)) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = arg_component(args, alg, comp, &generated, why)) != TKM_OK ||
	    (rc = tkm_kcv(alg, comp, COMP_LEN, kcv)) != TKM_OK ||
	    (rc = tk_keep(alg, comp, &n, why)) != TKM_OK)
		goto out;
	set_kcv(result, kcv);
	if (generated)
		set_component(result, comp);
	json_object_set_new(result, "entered", json_integer(n));
out:
	tkm_secure_free(comp, COMP_LEN);
	return rc;
}

/* "K000".."KFFF" or "000".."FFF". */
static int
arg_index(json_t *args, unsigned *index, const char **why)
{
	const char *s = arg_str(args, "index");
	struct tkm_rd rd;
	uint32_t v;

	*index = 0;
	*why = "index must be 000..FFF (or K000..KFFF)";
	if (s == NULL)
		return TKM_ERR_INPUT;
	if (s[0] == 'K')
		s++;
	rd = tkm_rd_of(s, strlen(s));
	if (tkm_rd_hexnum(&rd, 3, &v) != TKM_OK || tkm_rd_end(&rd) != TKM_OK)
		return TKM_ERR_INPUT;
	*index = (unsigned)v;
	*why = NULL;
	return TKM_OK;
}

/* The combined TK (parity set for DES) if three components of alg wait;
 * they are dropped once read. */
static int
tk_take(int alg, uint8_t key[COMP_LEN], const char **why)
{
	const uint8_t *parts[TK_PARTS];
	struct pending *p;
	size_t i;
	int rc;

	pthread_mutex_lock(&pend_mu);
	if ((p = pend_get()) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	if (p->tk_n != TK_PARTS || p->tk_alg != alg) {
		*why = "three components of that alg must be entered first";
		rc = TKM_ERR_INPUT;
		goto out;
	}
	for (i = 0; i < TK_PARTS; i++)
		parts[i] = p->tk[i];
	rc = tkm_components_combine(alg, COMP_LEN, parts, TK_PARTS, key);
	pend_drop_tk();
out:
	pend_release();
	pthread_mutex_unlock(&pend_mu);
	return rc;
}

/* The library's index must be free before the components are taken:
 * refusing then leaves them entered, for another index. */
static int
tk_index_free(
    struct hsm_keystore *ks, int lib, unsigned index, const char **why)
{
	int rc = hsm_keystore_get(ks, lib, index, NULL, NULL, 0, NULL);

	if (rc == TKM_ERR_NO_KEY)
		return TKM_OK;
	if (rc == TKM_OK) {
		*why = "that index holds a key: delete it first (keys.delete)";
		return TKM_ERR_INDEX;
	}
	return rc;
}

static int
tk_store(struct hsm_keystore *ks, int lib, unsigned index, const uint8_t *key,
    const uint8_t kcv[TKM_KCV_LEN], const char **why)
{
	struct hsm_key_info info;
	int rc;

	memset(&info, 0, sizeof(info));
	info.lib = lib;
	info.index = index;
	memcpy(info.type, TK_TYPE, sizeof(TK_TYPE));
	memcpy(info.kcv, kcv, TKM_KCV_LEN);
	memcpy(info.label, "TK", sizeof("TK"));
	rc = hsm_keystore_insert(ks, &info, key, COMP_LEN);
	if (rc == TKM_ERR_INDEX)
		*why = "that index holds a key: delete it first (keys.delete)";
	return rc;
}

int
op_tk_combine(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_dk *dk = atomic_load(&c->st->dk);
	struct hsm_keystore *ks = NULL;
	uint8_t *key = NULL, kcv[TKM_KCV_LEN];
	char ref[8];
	unsigned index;
	int alg, lib, rc;

	if (dk == NULL) /* the op table says so too (HSM_OP_DK) */
		return TKM_ERR_SEALED;
	if ((rc = arg_alg(args, &alg, why)) != TKM_OK ||
	    (rc = arg_index(args, &index, why)) != TKM_OK)
		return rc;
	lib = alg == TKM_DES ? HSM_LIB_DES : HSM_LIB_SM4;
	if ((key = tkm_secure_alloc(COMP_LEN)) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = hsm_keystore_open(c->st->dir, dk, &ks)) != TKM_OK ||
	    (rc = tk_index_free(ks, lib, index, why)) != TKM_OK ||
	    (rc = tk_take(alg, key, why)) != TKM_OK ||
	    (rc = tkm_kcv(alg, key, COMP_LEN, kcv)) != TKM_OK ||
	    (rc = tk_store(ks, lib, index, key, kcv, why)) != TKM_OK)
		goto out;
	set_kcv(result, kcv);
	snprintf(ref, sizeof(ref), "K%03X", index);
	json_object_set_new(result, "alg", json_string(arg_str(args, "alg")));
	json_object_set_new(result, "type", json_string(TK_TYPE));
	json_object_set_new(result, "index", json_string(ref));
out:
	hsm_keystore_close(ks);
	tkm_secure_free(key, COMP_LEN);
	return rc;
}
