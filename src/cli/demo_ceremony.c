/*
 * demo_ceremony.c - the HSM ceremonies of `tkms demo` (demo.h,
 * docs/demo.md), step by step as docs/ceremonies.md writes them: the
 * initialisation of the root, business and clearing HSMs (1.1, 2.1), the
 * ministry key import at the business HSMs (2.2), backups (1.3, 2.4) and
 * the clone of the city HSM (3.1). Each step is a console command
 * (demo_th); each result is compared with what it must be.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"
#include "tkm/mem.h"

#define MKEY_INDEX "20"

/* --- ceremonies ----------------------------------------------------------- */

static const char *
jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* "A1,A2,..." of a JSON array of strings. */
static void
join(json_t *a, char *out, size_t cap)
{
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < json_array_size(a) && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : "",
		    json_string_value(json_array_get(a, i)) != NULL
			? json_string_value(json_array_get(a, i))
			: "?");
}

/* 1.1 step 1.2/1.3: the six admin cards of h. */
static int
make_cards(struct demo *d, struct demo_hsm *h)
{
	char card[DEMO_PATH + 16], pin[DEMO_PATH + 16];
	int r;

	for (r = 0; r < DEMO_NROLES; r++) {
		demo_role_path(
		    card, sizeof(card), h->sec, demo_roles[r], "card");
		demo_role_path(pin, sizeof(pin), h->sec, demo_roles[r], "pin");
		demo_progress(d, "%s: card new --role %s (PIN: Argon2id%s)",
		    h->name, demo_roles[r],
		    d->fast_kdf ? ", test cost" : ", 64 MiB");
		if (demo_tkms(d, h->name, NULL, "hsm", "card", "new", "--role",
			demo_roles[r], "--out", card, "--pin-file", pin,
			NULL) != 0)
			return DEMO_FAIL;
	}
	return 0;
}

/* 1.1 step 2.1: the device admins enrol, enter their components (KCVs
 * compared with the envelopes), DK combined. */
static int
device_key(struct demo *d, struct demo_hsm *h, int ix)
{
	char comp[DEMO_PATH + 32], cpw[DEMO_PATH + 32], what[64], role[4];
	json_t *res = NULL;
	int r, rc = DEMO_FAIL;

	for (r = 0; r < 3; r++)
		if (demo_card_op(d, h, "enrol", demo_roles[r]) != 0)
			return DEMO_FAIL;
	if (demo_login(d, h, "A1", "A2", "A3", NULL) != 0)
		return DEMO_FAIL;
	for (r = 0; r < 3; r++) {
		snprintf(role, sizeof(role), "A%d", r + 1);
		snprintf(
		    what, sizeof(what), "%s DK component %s", h->name, role);
		snprintf(
		    comp, sizeof(comp), "%s/dk-%s.component", h->sec, role);
		snprintf(cpw, sizeof(cpw), "%s/dk-%s.password", h->sec, role);
		demo_progress(d, "%s: dk component --role %s", h->name, role);
		if (demo_th(d, h, &res, "dk", "component", "--role", role,
			"--component-file", comp, "--component-password-file",
			cpw, NULL) != 0)
			goto out;
		demo_check_eq(d, what, "KCV", jstr(res, "kcv"), "envelope",
		    d->dk_env[ix][r]);
		json_decref(res);
		res = NULL;
	}
	demo_progress(d, "%s: dk combine", h->name);
	if (demo_th(d, h, &res, "dk", "combine", NULL) != 0)
		goto out;
	if (jstr(res, "kcv16") == NULL) {
		demo_fail(d, h->name, "dk combine: no kcv16");
		goto out;
	}
	snprintf(h->dk_kcv, sizeof(h->dk_kcv), "%s", jstr(res, "kcv16"));
	demo_say(d, "%s: DK KCV %s (seal %s)", h->name, h->dk_kcv,
	    jstr(res, "seal") != NULL ? jstr(res, "seal") : "?");
	rc = 0;
out:
	json_decref(res);
	return rc;
}

/* 3: the maintenance key pair made at the root, its public key imported
 * by every other HSM (A1+A2+A3 logged in). */
static int
maintenance_key(struct demo *d, struct demo_hsm *h, int ix)
{
	char bak[DEMO_PATH + 16], pub[DEMO_PATH + 16], what[64];
	json_t *res = NULL;
	int rc;

	snprintf(pub, sizeof(pub), "%s/mkey.pub", d->usb);
	snprintf(what, sizeof(what), "%s maintenance public key", h->name);
	if (ix == DH_ROOT) {
		snprintf(bak, sizeof(bak), "%s/mkey.bak", d->usb);
		demo_progress(d, "%s: mkey generate", h->name);
		if ((rc = demo_th(d, h, &res, "mkey", "generate", "--index",
			 MKEY_INDEX, "--out", bak, "--pub-out", pub, NULL)) !=
		    0)
			return rc;
		snprintf(d->mkey_fp, sizeof(d->mkey_fp), "%s",
		    jstr(res, "fingerprint") != NULL ? jstr(res, "fingerprint")
						     : "");
		demo_say(d,
		    "%s: maintenance key pair at SM2 %s, fingerprint %s",
		    h->name, MKEY_INDEX, d->mkey_fp);
		rc = demo_check(d, d->mkey_fp[0] != '\0', what,
			 "fingerprint %s", d->mkey_fp)
			 ? 0
			 : DEMO_FAIL;
	} else {
		demo_progress(d, "%s: mkey import", h->name);
		if ((rc = demo_th(
			 d, h, &res, "mkey", "import", "--in", pub, NULL)) != 0)
			return rc;
		demo_check_eq(d, what, "fingerprint", jstr(res, "fingerprint"),
		    "root's", d->mkey_fp);
	}
	json_decref(res);
	return rc;
}

/* 5: the TK from the three shared components, DES K001 and SM4 K101;
 * the same KCV in every HSM. */
static int
transport_key(struct demo *d, struct demo_hsm *h)
{
	static const char *const algs[2] = {"des", "sm4"};
	static const char *const idx[2] = {"001", "101"};
	char comp[DEMO_PATH + 48], what[80];
	json_t *res = NULL;
	int a, r;

	for (a = 0; a < 2; a++) {
		for (r = 0; r < 3; r++) {
			snprintf(comp, sizeof(comp),
			    "%s/secrets/tk/%s-%d.component", d->dir, algs[a],
			    r + 1);
			demo_progress(d, "%s: tk component --alg %s (%d of 3)",
			    h->name, algs[a], r + 1);
			if (demo_th(d, h, &res, "tk", "component", "--alg",
				algs[a], "--component-file", comp, NULL) != 0)
				return DEMO_FAIL;
			snprintf(what, sizeof(what), "%s TK %s component %d",
			    h->name, algs[a], r + 1);
			demo_check_eq(d, what, "KCV", jstr(res, "kcv"),
			    "envelope", d->tk_env[a][r]);
			json_decref(res);
			res = NULL;
		}
		if (demo_th(d, h, &res, "tk", "combine", "--alg", algs[a],
			"--index", idx[a], NULL) != 0)
			return DEMO_FAIL;
		snprintf(what, sizeof(what), "%s TK %s K%s", h->name, algs[a],
		    idx[a]);
		if (d->tk_kcv[a][0] == '\0') {
			snprintf(d->tk_kcv[a], sizeof(d->tk_kcv[a]), "%s",
			    jstr(res, "kcv16") != NULL ? jstr(res, "kcv16")
						       : "");
			demo_say(d, "%s: TK %s at K%s, KCV %s", h->name,
			    algs[a], idx[a], d->tk_kcv[a]);
		} else {
			demo_check_eq(d, what, "KCV", jstr(res, "kcv16"),
			    "root's", d->tk_kcv[a]);
		}
		json_decref(res);
		res = NULL;
	}
	return 0;
}

/* The whitelist of commands of a listener as whitelist get shows it. */
static int
check_whitelist(
    struct demo *d, struct demo_hsm *h, int listener, const char *want)
{
	char got[512], what[80];
	json_t *res = NULL, *l;

	if (demo_th(d, h, &res, "whitelist", "get", NULL) != 0)
		return DEMO_FAIL;
	l = json_array_get(json_object_get(res, "listeners"), (size_t)listener);
	join(json_object_get(l, "commands"), got, sizeof(got));
	snprintf(
	    what, sizeof(what), "%s listener %d whitelist", h->name, listener);
	demo_check_eq(d, what, "whitelist get", got, "set", want);
	json_decref(res);
	return 0;
}

/* 6.1, 6.2 (B): the KMS and the clients are on the loopback; time. */
static int
system_admin(struct demo *d, struct demo_hsm *h)
{
	char lst[12];
	json_t *res = NULL;
	int l;

	if (demo_login(d, h, "B", NULL) != 0)
		return DEMO_FAIL;
	for (l = 0; l < h->nlisten; l++) {
		snprintf(lst, sizeof(lst), "%d", l);
		if (demo_th(d, h, NULL, "whitelist", "set", "--listener", lst,
			"--kind", "ip", "--list", "127.0.0.1/32", NULL) != 0)
			return DEMO_FAIL;
	}
	if (demo_th(d, h, &res, "time", "get", NULL) != 0)
		return DEMO_FAIL;
	demo_check(d, json_integer_value(json_object_get(res, "offset")) == 0,
	    "time", "%s: HSM time %lld, offset %lld s", h->name,
	    (long long)json_integer_value(json_object_get(res, "time")),
	    (long long)json_integer_value(json_object_get(res, "offset")));
	json_decref(res);
	return demo_logout(d, h);
}

/* status after the ceremony, and NC on the business port. */
static int
check_ready(struct demo *d, struct demo_hsm *h, int listener)
{
	char what[80], err[3], fields[256], kcv[17], got[128];
	json_t *st = NULL;

	if (demo_th(d, h, &st, "status", NULL) != 0)
		return DEMO_FAIL;
	join(json_object_get(st, "enrolled"), got, sizeof(got));
	snprintf(what, sizeof(what), "%s status", h->name);
	demo_check(d,
	    json_is_false(json_object_get(st, "sealed")) &&
		json_is_true(json_object_get(st, "initialised")) &&
		strcmp(got, "A1,A2,A3,B,C,D") == 0,
	    what, "sealed %s, initialised %s, enrolled %s",
	    json_is_true(json_object_get(st, "sealed")) ? "true" : "false",
	    json_is_true(json_object_get(st, "initialised")) ? "true" : "false",
	    got);
	snprintf(what, sizeof(what), "%s DK", h->name);
	demo_check_eq(d, what, "status dk_kcv", jstr(st, "dk_kcv"), "ceremony",
	    h->dk_kcv);
	snprintf(h->ident_fp, sizeof(h->ident_fp), "%s",
	    jstr(json_object_get(st, "identity"), "fingerprint") != NULL
		? jstr(json_object_get(st, "identity"), "fingerprint")
		: "");
	json_decref(st);
	if (demo_host_cmd(d, h, listener, "NC", err, fields, sizeof(fields)) !=
	    0)
		return DEMO_FAIL;
	snprintf(kcv, sizeof(kcv), "%.16s", fields);
	snprintf(
	    what, sizeof(what), "%s NC on port %u", h->name, h->port[listener]);
	demo_check(d, strcmp(err, "00") == 0 && strcmp(kcv, h->dk_kcv) == 0,
	    what, "ERR %s, DK KCV %s (ceremony %s)", err, kcv, h->dk_kcv);
	return 0;
}

/* 1.3: the four library backups of h onto the disk (C logged in). */
static int
backups(struct demo *d, struct demo_hsm *h, int counts[4])
{
	static const char *const libs[4] = {"des", "sm4", "rsa", "sm2"};
	char out[DEMO_PATH + 48];
	json_t *res = NULL;
	int l;

	for (l = 0; l < 4; l++) {
		snprintf(
		    out, sizeof(out), "%s/%s-%s.bak", d->usb, h->name, libs[l]);
		demo_progress(
		    d, "%s: backup create --lib %s", h->name, libs[l]);
		if (demo_th(d, h, &res, "backup", "create", "--lib", libs[l],
			"--out", out, NULL) != 0)
			return DEMO_FAIL;
		counts[l] =
		    (int)json_integer_value(json_object_get(res, "count"));
		demo_say(d,
		    "%s: %s library backed up, %d keys -> usb/%s-%s.bak",
		    h->name, libs[l], counts[l], h->name, libs[l]);
		json_decref(res);
		res = NULL;
	}
	return 0;
}

/* 1 if keys (a keys.list array) holds alg ("DES"/"SM4") index ("K7F0")
 * with that KCV (16 hex digits; NULL: any). */
static int
has_key(json_t *keys, const char *alg, const char *index, const char *kcv)
{
	const char *lib =
	    alg != NULL && strcmp(alg, "SM4") == 0 ? "sm4" : "des";
	json_t *k;
	size_t i;

	if (index == NULL || index[0] != 'K')
		return 0;
	json_array_foreach(keys, i, k)
	{
		if (jstr(k, "lib") == NULL ||
		    strcmp(jstr(k, "lib"), lib) != 0 ||
		    jstr(k, "ref") == NULL ||
		    strcmp(jstr(k, "ref"), index + 1) != 0)
			continue;
		return kcv == NULL ||
		       (jstr(k, "kcv_full") != NULL &&
			   strcmp(jstr(k, "kcv_full"), kcv) == 0);
	}
	return 0;
}

/* The key of alg at index on the card `tkms card transport-keys`
 * printed: its KCV, or NULL. */
static const char *
card_key_kcv(json_t *res, const char *alg, const char *index)
{
	json_t *k;
	size_t i;

	json_array_foreach(json_object_get(res, "keys"), i, k)
	{
		if (jstr(k, "alg") != NULL &&
		    strcmp(jstr(k, "alg"), alg) == 0 &&
		    jstr(k, "index") != NULL &&
		    strcmp(jstr(k, "index"), index) == 0 &&
		    jstr(k, "type") != NULL &&
		    strcmp(jstr(k, "type"), "309") == 0)
			return jstr(k, "kcv");
	}
	return NULL;
}

/*
 * The key mother card the business HSMs import in 2.2: the card factory's
 * TEST card-transport master keys (docs/card-flows.md), which blank
 * emulated cards and PSAMs are made from; the city HSM gets them by the
 * clone. Its KCVs must be the ones docs/card-flows.md publishes.
 */
int
demo_mother_card(struct demo *d)
{
	static const char *const algs[2] = {"DES", "SM4"};
	static const char *const index[2] = {"K7F0", "K7F1"};
	static const char *const published[2] = {
	    "00962B60AA556E65", "AD9358BA911077A4"};
	char path[DEMO_PATH + 32], what[64], *out = NULL;
	const char *kcv;
	json_error_t jerr;
	json_t *res;
	int a;

	snprintf(path, sizeof(path), "%s/transport.card", d->usb);
	demo_progress(d, "card factory: tkms card transport-keys");
	if (demo_tkms(d, "card factory", &out, "card", "transport-keys",
		"--out", path, NULL) != 0)
		return DEMO_FAIL;
	res = json_loads(out != NULL ? out : "", 0, &jerr);
	free(out);
	if (res == NULL)
		return demo_fail(d, "card factory",
		    "tkms card transport-keys: not JSON: %s", jerr.text);
	demo_say(d, "card factory: key mother card -> usb/transport.card "
		    "(TEST card-transport masters, 16 bytes of 0x22)");
	for (a = 0; a < 2; a++) {
		kcv = card_key_kcv(res, algs[a], index[a]);
		snprintf(d->transport_kcv[a], sizeof(d->transport_kcv[a]), "%s",
		    kcv != NULL ? kcv : "");
		snprintf(what, sizeof(what), "card-transport master %s %s",
		    algs[a], index[a]);
		demo_check_eq(d, what, "KCV", kcv, "published", published[a]);
	}
	json_decref(res);
	return 0;
}

/* 2.2 导入交通运输部密钥 (C on the session): the initial TKs, the key
 * mother card's keys (the card-transport masters) imported by the import
 * client on the business port, compared with the card's KCVs and the
 * HSM's keys, the initial TKs deleted. */
static int
ministry_keys(struct demo *d, struct demo_hsm *h)
{
	char card[DEMO_PATH + 32], rec[DEMO_PATH + 48], port[8], what[96];
	char text[4096];
	json_t *res = NULL, *r = NULL, *keys = NULL, *k;
	json_error_t jerr;
	size_t i, same = 0, n;
	int init_gone = 1, rc = DEMO_FAIL;
	FILE *f;

	snprintf(card, sizeof(card), "%s/transport.card", d->usb);
	snprintf(rec, sizeof(rec), "%s/%s-mot-import.json", d->usb, h->name);
	snprintf(port, sizeof(port), "%u", h->port[0]);
	if (demo_th(d, h, &res, "tk", "initial", NULL) != 0)
		return DEMO_FAIL;
	demo_say(d, "%s: initial TKs (11...11) at %s KCV %s and %s KCV %s",
	    h->name, jstr(json_object_get(res, "des"), "index"),
	    jstr(json_object_get(res, "des"), "kcv"),
	    jstr(json_object_get(res, "sm4"), "index"),
	    jstr(json_object_get(res, "sm4"), "kcv"));
	demo_progress(d, "%s: tkms mot import", h->name);
	if (demo_th(d, h, NULL, "auth", "open", "--minutes", "10", NULL) != 0 ||
	    demo_tkms(d, h->name, NULL, "mot", "import", "--card", card,
		"--host", "127.0.0.1", "--port", port, "--record", rec,
		NULL) != 0 ||
	    demo_keys_list(d, h, &keys) != 0)
		goto out;
	if ((f = fopen(rec, "r")) == NULL ||
	    (n = fread(text, 1, sizeof(text) - 1, f)) == 0) {
		if (f != NULL)
			fclose(f);
		demo_fail(d, h->name, "%s: cannot read", rec);
		goto out;
	}
	fclose(f);
	text[n] = '\0';
	if ((r = json_loads(text, 0, &jerr)) == NULL) {
		demo_fail(d, h->name, "%s: %s", rec, jerr.text);
		goto out;
	}
	json_array_foreach(json_object_get(r, "keys"), i, k)
	{
		const char *alg = jstr(k, "alg"), *kcv = jstr(k, "kcv");
		const char *want =
		    alg == NULL               ? NULL
		    : strcmp(alg, "DES") == 0 ? d->transport_kcv[0]
		    : strcmp(alg, "SM4") == 0 ? d->transport_kcv[1]
					      : NULL;

		demo_say(d, "%s: imported %s %s KCV %s", h->name,
		    alg != NULL ? alg : "?", jstr(k, "index"),
		    kcv != NULL ? kcv : "?");
		if (kcv != NULL && want != NULL && strcmp(kcv, want) == 0 &&
		    has_key(keys, alg, jstr(k, "index"), kcv))
			same++;
	}
	n = json_array_size(json_object_get(r, "keys"));
	snprintf(what, sizeof(what), "%s card-transport keys", h->name);
	demo_check(d,
	    json_is_true(json_object_get(r, "complete")) && n == 2 && same == n,
	    what,
	    "%zu imported from the key mother card, %zu in keys list with "
	    "the card's KCV",
	    n, same);
	if (demo_th(d, h, NULL, "keys", "delete", "--lib", "des", "--index",
		"000", NULL) != 0 ||
	    demo_th(d, h, NULL, "keys", "delete", "--lib", "sm4", "--index",
		"100", NULL) != 0 ||
	    demo_th(d, h, NULL, "auth", "close", NULL) != 0)
		goto out;
	json_decref(keys);
	keys = NULL;
	if (demo_keys_list(d, h, &keys) != 0)
		goto out;
	init_gone = !has_key(keys, "DES", "K000", NULL) &&
		    !has_key(keys, "SM4", "K100", NULL);
	snprintf(what, sizeof(what), "%s initial TKs deleted", h->name);
	demo_check(d, init_gone, what, "%s",
	    init_gone ? "no K000, no K100" : "still there");
	rc = 0;
out:
	json_decref(res);
	json_decref(r);
	json_decref(keys);
	return rc;
}

int
demo_ceremony(struct demo *d, int ix)
{
	struct demo_hsm *h = &d->hsm[ix];
	char path[DEMO_PATH + 32], what[80];
	json_t *st = NULL;
	int counts[4];

	/* 1.1: sealed and empty */
	if (demo_th(d, h, &st, "status", NULL) != 0)
		return DEMO_FAIL;
	snprintf(h->serial, sizeof(h->serial), "%s",
	    jstr(st, "serial") != NULL ? jstr(st, "serial") : "");
	snprintf(what, sizeof(what), "%s before initialisation", h->name);
	demo_check(d,
	    json_is_true(json_object_get(st, "sealed")) &&
		json_is_false(json_object_get(st, "initialised")),
	    what, "serial %s, sealed %s, initialised %s", h->serial,
	    json_is_true(json_object_get(st, "sealed")) ? "true" : "false",
	    json_is_true(json_object_get(st, "initialised")) ? "true"
							     : "false");
	json_decref(st);
	/* 1.2, 1.3, 2.1 */
	if (make_cards(d, h) != 0 || device_key(d, h, ix) != 0)
		return DEMO_FAIL;
	/* 2.2 - 2.5: B, C, D enrolled with A1+A2+A3 present; C exports
	 * the DK backup (the city HSMs are cloned from it) */
	if (demo_card_op(d, h, "enrol", "B") != 0 ||
	    demo_card_op(d, h, "enrol", "C") != 0 ||
	    demo_card_op(d, h, "enrol", "D") != 0 ||
	    demo_login(d, h, "C", NULL) != 0)
		return DEMO_FAIL;
	snprintf(path, sizeof(path), "%s/%s-dk.backup", d->usb, h->name);
	if (demo_th(d, h, NULL, "dk", "export", "--out", path, NULL) != 0)
		return DEMO_FAIL;
	demo_say(d, "%s: DK backup -> usb/%s-dk.backup", h->name, h->name);
	/* 3 (A1+A2+A3 still on the session), 4 and 5 (C, there too) */
	if (maintenance_key(d, h, ix) != 0 ||
	    demo_th(d, h, NULL, "whitelist", "set", "--listener", "0", "--kind",
		"commands", "--list", h->whitelist, NULL) != 0 ||
	    check_whitelist(d, h, 0, h->whitelist) != 0 ||
	    transport_key(d, h) != 0)
		return DEMO_FAIL;
	/* 2.2 at the business HSMs: the key mother card's keys */
	if ((ix == DH_BIZ1 || ix == DH_BIZ2) && ministry_keys(d, h) != 0)
		return DEMO_FAIL;
	/* 1.3 backup: the root's now; the business HSM's after issuance,
	 * for the city clone */
	if (ix == DH_ROOT) {
		if (backups(d, h, counts) != 0)
			return DEMO_FAIL;
		demo_check(d,
		    counts[0] == 1 && counts[1] == 1 && counts[2] == 0 &&
			counts[3] == 1,
		    "root backups",
		    "des %d, sm4 %d, rsa %d, sm2 %d keys (1 TK, 1 TK, 0, "
		    "the maintenance key pair expected)",
		    counts[0], counts[1], counts[2], counts[3]);
	}
	if (demo_logout(d, h) != 0 || system_admin(d, h) != 0)
		return DEMO_FAIL;
	return check_ready(d, h, 0);
}

/* --- the city HSM --------------------------------------------------------- */

/* Copy the business HSM's admin passwords to the city's secrets: the
 * same people clone it (a role's password stays theirs until B's reset
 * to the issuer code). */
static int
copy_passwords(struct demo *d)
{
	char from[DEMO_PATH + 16], to[DEMO_PATH + 16], pw[160];
	int r, rc;

	for (r = 0; r < DEMO_NROLES; r++) {
		demo_role_path(from, sizeof(from), d->hsm[DH_BIZ1].sec,
		    demo_roles[r], "password");
		demo_role_path(to, sizeof(to), d->hsm[DH_CITY].sec,
		    demo_roles[r], "password");
		if (demo_read_line(from, pw, sizeof(pw)) != 0)
			return demo_fail(d, "secrets", "%s: cannot read", from);
		rc = demo_write_line(d, to, pw);
		tkm_cleanse(pw, sizeof(pw));
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The keys of a keys.list array as "lib ref type kcv_full" lines,
 * sorted by the HSM already; TKs left out when skip_tk. */
static void
key_lines(json_t *keys, int skip_tk, char *out, size_t cap, int *count)
{
	size_t i, n = 0;
	json_t *k;

	out[0] = '\0';
	*count = 0;
	json_array_foreach(keys, i, k)
	{
		if (skip_tk && jstr(k, "type") != NULL &&
		    strcmp(jstr(k, "type"), "000") == 0)
			continue;
		(*count)++;
		if (n < cap)
			n += (size_t)snprintf(out + n, cap - n, "%s %s %s %s\n",
			    jstr(k, "lib"), jstr(k, "ref"), jstr(k, "type"),
			    jstr(k, "kcv_full"));
	}
}

/* 3.1 step 1: DK restored from the business HSM's backup, the four
 * libraries restored. */
static int
clone_keys(struct demo *d, struct demo_hsm *city, struct demo_hsm *biz,
    const int counts[4])
{
	static const char *const libs[4] = {"des", "sm4", "rsa", "sm2"};
	char in[DEMO_PATH + 48], a[3][DEMO_PATH + 32], what[80];
	json_t *res = NULL;
	int r, l;

	for (r = 0; r < 3; r++) {
		snprintf(
		    a[r], sizeof(a[r]), "%s/dk-A%d.password", biz->sec, r + 1);
		if (demo_card_op(d, city, "enrol", demo_roles[r]) != 0)
			return DEMO_FAIL;
	}
	if (demo_login(d, city, "A1", "A2", "A3", NULL) != 0)
		return DEMO_FAIL;
	snprintf(in, sizeof(in), "%s/%s-dk.backup", d->usb, biz->name);
	demo_progress(
	    d, "%s: dk restore (three component passwords)", city->name);
	if (demo_th(d, city, &res, "dk", "restore", "--in", in, "--a1-file",
		a[0], "--a2-file", a[1], "--a3-file", a[2], NULL) != 0)
		return DEMO_FAIL;
	snprintf(city->dk_kcv, sizeof(city->dk_kcv), "%s",
	    jstr(res, "dk_kcv") != NULL ? jstr(res, "dk_kcv") : "");
	json_decref(res);
	res = NULL;
	demo_check_eq(
	    d, "city DK restored", "KCV", city->dk_kcv, biz->name, biz->dk_kcv);
	if (demo_card_op(d, city, "enrol", "B") != 0 ||
	    demo_card_op(d, city, "enrol", "C") != 0 ||
	    demo_card_op(d, city, "enrol", "D") != 0 ||
	    demo_login(d, city, "C", NULL) != 0)
		return DEMO_FAIL;
	for (l = 0; l < 4; l++) {
		snprintf(
		    in, sizeof(in), "%s/%s-%s.bak", d->usb, biz->name, libs[l]);
		demo_progress(d, "%s: backup restore %s", city->name, libs[l]);
		if (demo_th(d, city, &res, "backup", "restore", "--in", in,
			NULL) != 0)
			return DEMO_FAIL;
		snprintf(
		    what, sizeof(what), "city %s library restored", libs[l]);
		demo_check(d,
		    json_integer_value(json_object_get(res, "count")) ==
			counts[l],
		    what, "%lld keys, backup of %s made with %d",
		    (long long)json_integer_value(
			json_object_get(res, "count")),
		    biz->name, counts[l]);
		json_decref(res);
		res = NULL;
	}
	return 0;
}

/* The business ports after the clone: listener 0 has the appendix-3
 * whitelist (A0 refused, 68), listener 1 is the KMS's (NC answers). */
static int
city_ports(struct demo *d, struct demo_hsm *city)
{
	char err[3], fields[256], what[80];

	if (demo_host_cmd(d, city, 0, "A0", err, fields, sizeof(fields)) != 0)
		return DEMO_FAIL;
	snprintf(what, sizeof(what), "city port %u refuses A0", city->port[0]);
	demo_check_eq(d, what, "ERR", err, "expected", "68");
	if (demo_host_cmd(d, city, 1, "A0", err, fields, sizeof(fields)) != 0)
		return DEMO_FAIL;
	snprintf(
	    what, sizeof(what), "city KMS port %u refuses A0", city->port[1]);
	demo_check_eq(d, what, "ERR", err, "expected", "68");
	return check_ready(d, city, DEMO_CITY_KMS_LISTENER);
}

int
demo_city_clone(struct demo *d)
{
	struct demo_hsm *biz = &d->hsm[DH_BIZ1], *city = &d->hsm[DH_CITY];
	char text[8192], text2[8192], pub[DEMO_PATH + 16], pw[DEMO_PATH + 16];
	json_t *bk = NULL, *ck = NULL, *st = NULL, *res = NULL;
	int counts[4], nb, nc, rc = DEMO_FAIL;

	/* 2.4: the business HSM's library backups, with its keys now */
	if (demo_login(d, biz, "C", NULL) != 0 ||
	    backups(d, biz, counts) != 0 || demo_keys_list(d, biz, &bk) != 0 ||
	    demo_logout(d, biz) != 0)
		goto out;
	/* 3.1 step 1 on a new, empty HSM */
	if (demo_th(d, city, &st, "status", NULL) != 0)
		goto out;
	snprintf(city->serial, sizeof(city->serial), "%s",
	    jstr(st, "serial") != NULL ? jstr(st, "serial") : "");
	demo_check(d,
	    json_is_true(json_object_get(st, "sealed")) &&
		json_is_false(json_object_get(st, "initialised")),
	    "city HSM before the clone", "serial %s, sealed, not initialised",
	    city->serial);
	if (demo_mkdirs(city->sec) != 0 || copy_passwords(d) != 0 ||
	    clone_keys(d, city, biz, counts) != 0)
		goto out;
	/* 2: maintenance public key (A1+A2+A3, still on the session) */
	snprintf(pub, sizeof(pub), "%s/mkey.pub", d->usb);
	if (demo_th(d, city, &res, "mkey", "import", "--in", pub, NULL) != 0)
		goto out;
	demo_check_eq(d, "city maintenance public key", "fingerprint",
	    jstr(res, "fingerprint"), "root's", d->mkey_fp);
	/* 3, 4 (C): TK deleted; appendix 3 on the business listener, the
	 * KMS's commands on the second */
	if (demo_th(d, city, NULL, "keys", "delete", "--lib", "des", "--index",
		"001", NULL) != 0 ||
	    demo_th(d, city, NULL, "keys", "delete", "--lib", "sm4", "--index",
		"101", NULL) != 0 ||
	    demo_th(d, city, NULL, "whitelist", "set", "--listener", "0",
		"--kind", "commands", "--list", DEMO_APPENDIX3, NULL) != 0 ||
	    demo_th(d, city, NULL, "whitelist", "set", "--listener", "1",
		"--kind", "commands", "--list", DEMO_KMS_COMMANDS, NULL) != 0 ||
	    check_whitelist(d, city, 0, DEMO_APPENDIX3) != 0 ||
	    check_whitelist(d, city, 1, DEMO_KMS_COMMANDS) != 0 ||
	    demo_keys_list(d, city, &ck) != 0 || demo_logout(d, city) != 0)
		goto out;
	key_lines(bk, 1, text, sizeof(text), &nb);
	key_lines(ck, 0, text2, sizeof(text2), &nc);
	demo_check(d, nb == nc && strcmp(text, text2) == 0,
	    "city keys = business keys without the TK",
	    "%d keys in %s (TK left out), %d in %s%s", nb, biz->name, nc,
	    city->name,
	    strcmp(text, text2) == 0 ? ", index, type, KCV alike"
				     : ", DIFFERENT");
	/* 6.1 and 5 (B): IP whitelists; password reset to the issuer code,
	 * which then opens B's card at the city */
	if (system_admin(d, city) != 0 || demo_login(d, city, "B", NULL) != 0 ||
	    demo_th(d, city, NULL, "password", "set", "--role", "B",
		"--issuer-code", d->issuer1, NULL) != 0 ||
	    demo_logout(d, city) != 0)
		goto out;
	demo_role_path(pw, sizeof(pw), city->sec, "B", "password");
	snprintf(text, sizeof(text), "%s\n", d->issuer1);
	if (demo_write_file(d, pw, text) != 0 ||
	    demo_login(d, city, "B", NULL) != 0)
		goto out;
	demo_check(
	    d, 1, "city B password", "reset to the issuer code %s", d->issuer1);
	/* 6 (D): time */
	if (demo_logout(d, city) != 0 || demo_login(d, city, "D", NULL) != 0 ||
	    demo_th(d, city, NULL, "time", "get", NULL) != 0 ||
	    demo_logout(d, city) != 0 || city_ports(d, city) != 0)
		goto out;
	demo_check(d,
	    strcmp(city->serial, biz->serial) != 0 &&
		strcmp(city->ident_fp, biz->ident_fp) != 0,
	    "city HSM is itself", "serial %s / %s, identity %s / %s",
	    city->serial, biz->serial, city->ident_fp, biz->ident_fp);
	rc = 0;
out:
	json_decref(bk);
	json_decref(ck);
	json_decref(st);
	json_decref(res);
	return rc;
}
