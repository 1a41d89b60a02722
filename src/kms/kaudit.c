/*
 * kaudit.c - the hash-chained KMS audit (kaudit.h).
 *
 * Each row's hash covers the previous hash and every field, each variable
 * field preceded by its length, so that no two different rows hash alike
 * (the HSM's layout without result and MAC):
 *   OFFSET    SIZE  FIELD
 *   0         32    hash of the previous row (zeros before seq 1)
 *   32        8     seq, big-endian
 *   40        8     time, big-endian two's complement
 *   48        4     length a of actor, big-endian
 *   52        a     actor (UTF-8, no NUL)
 *   52+a      4     length c of action
 *   56+a      c     action
 *   56+a+c    4     length d of detail
 *   60+a+c    d     detail (compact JSON, keys sorted)
 * hash = SM3 of that. Seqs are consecutive from 1: a gap is a deleted row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit.h"
#include "kjson.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"

#define HLEN       KMS_AUDIT_HASH_LEN
#define DETAIL_MAX (64u * 1024)

static void
put_be(uint8_t *p, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static int
row_hash(const uint8_t prev[HLEN], int64_t seq, int64_t time, const char *actor,
    const char *action, const char *detail, uint8_t out[HLEN])
{
	uint8_t s[8], t[8], la[4], lc[4], ld[4];
	size_t na = strlen(actor), nc = strlen(action), nd = strlen(detail);
	const void *parts[] = {prev, s, t, la, actor, lc, action, ld, detail};
	const size_t lens[] = {HLEN, 8, 8, 4, na, 4, nc, 4, nd};

	put_be(s, (uint64_t)seq, 8);
	put_be(t, (uint64_t)time, 8);
	put_be(la, na, 4);
	put_be(lc, nc, 4);
	put_be(ld, nd, 4);
	return tkm_hashv(TKM_SM3, parts, lens, 9, out);
}

struct append {
	int64_t now;
	const char *actor, *action, *detail;
};

static int
append_tx(struct kdb *db, void *arg)
{
	const struct append *a = arg;
	uint8_t prev[HLEN] = {0}, hash[HLEN];
	struct kdb_rows *r = NULL;
	const uint8_t *h;
	int64_t seq = 1;
	size_t n;
	int rc;

	if ((rc = kdb_query(db, &r,
		 "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")) !=
	    TKM_OK)
		goto out;
	if ((rc = kdb_next(r)) < 0)
		goto out;
	if (rc == 1) {
		h = kdb_blob(r, 1, &n);
		if (h == NULL || n != HLEN) {
			rc = TKM_ERR_IO; /* a broken tail: verify says where */
			goto out;
		}
		memcpy(prev, h, HLEN);
		seq = kdb_int(r, 0) + 1;
	}
	if ((rc = row_hash(prev, seq, a->now, a->actor, a->action, a->detail,
		 hash)) != TKM_OK)
		goto out;
	rc = kdb_exec(db,
	    "INSERT INTO audit (seq, time, actor, action, detail, hash)"
	    " VALUES ($1, $2, $3, $4, $5, $6)",
	    KDB_INT(seq), KDB_INT(a->now), KDB_TEXT(a->actor),
	    KDB_TEXT(a->action), KDB_TEXT(a->detail), KDB_BLOB(hash, HLEN));
out:
	kdb_rows_free(r);
	return rc;
}

/* A field as stored: at most max bytes, cut at a UTF-8 boundary. */
static char *
field(const char *s, size_t max)
{
	size_t n = strlen(s);
	char *p;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int
kms_audit_append(struct kdb *db, int64_t now, const char *actor,
    const char *action, json_t *detail)
{
	struct append a = {now, NULL, NULL, NULL};
	char *ac = NULL, *an = NULL, *d = NULL;
	json_t *empty = NULL;
	int rc = TKM_ERR_NOMEM;

	d = json_dumps(detail != NULL ? detail : (empty = json_object()),
	    JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	if (d == NULL)
		goto out;
	if (strlen(d) > DETAIL_MAX) {
		/* Too long to keep whole: say that it was cut. */
		kms_json_free(d);
		json_decref(empty);
		d = json_dumps(
		    empty = json_pack("{s:b}", "truncated", 1), JSON_COMPACT);
		if (d == NULL)
			goto out;
	}
	if ((ac = field(actor != NULL ? actor : "", KMS_AUDIT_FIELD_MAX)) ==
		NULL ||
	    (an = field(action, KMS_AUDIT_FIELD_MAX)) == NULL)
		goto out;
	a.actor = ac;
	a.action = an;
	a.detail = d;
	rc = kdb_in_tx(db) ? append_tx(db, &a) : kdb_tx(db, append_tx, &a);
out:
	free(ac);
	free(an);
	kms_json_free(d);
	json_decref(empty);
	return rc;
}

static void
bad(struct kms_audit_report *rep, int64_t seq, const char *why)
{
	rep->ok = 0;
	rep->first_bad = seq;
	snprintf(rep->why, sizeof(rep->why), "%s", why);
}

int
kms_audit_verify(struct kdb *db, struct kms_audit_report *rep)
{
	uint8_t prev[HLEN] = {0}, hash[HLEN];
	struct kdb_rows *r = NULL;
	const uint8_t *h;
	const char *actor, *action, *detail;
	int64_t seq;
	size_t n;
	int rc;

	memset(rep, 0, sizeof(*rep));
	rep->ok = 1;
	if ((rc = kdb_query(db, &r,
		 "SELECT seq, time, actor, action, detail, hash FROM audit"
		 " ORDER BY seq")) != TKM_OK)
		goto out;
	while ((rc = kdb_next(r)) == 1) {
		seq = kdb_int(r, 0);
		if (seq != rep->records + 1) {
			bad(rep, rep->records + 1, "row missing");
			break;
		}
		actor = kdb_text(r, 2);
		action = kdb_text(r, 3);
		detail = kdb_text(r, 4);
		h = kdb_blob(r, 5, &n);
		if (actor == NULL || action == NULL || detail == NULL ||
		    h == NULL || n != HLEN) {
			bad(rep, seq, "row malformed");
			break;
		}
		if ((rc = row_hash(prev, seq, kdb_int(r, 1), actor, action,
			 detail, hash)) != TKM_OK)
			goto out;
		if (memcmp(hash, h, HLEN) != 0) {
			bad(rep, seq, "hash mismatch: row changed");
			break;
		}
		memcpy(prev, hash, HLEN);
		rep->records++;
	}
	rc = rc < 0 ? rc : TKM_OK;
out:
	kdb_rows_free(r);
	return rc;
}

int
kms_audit_list(struct kdb *db, int64_t from, int64_t limit, json_t **out)
{
	struct kdb_rows *r = NULL;
	char hex[2 * HLEN + 1];
	const uint8_t *h;
	json_t *arr, *row, *detail;
	size_t n;
	int rc;

	*out = NULL;
	if (limit < 1 || limit > KMS_AUDIT_LIST_MAX)
		limit = KMS_AUDIT_LIST_MAX;
	if ((arr = json_array()) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = kdb_query(db, &r,
		 "SELECT seq, time, actor, action, detail, hash FROM audit"
		 " WHERE seq >= $1 ORDER BY seq LIMIT $2",
		 KDB_INT(from), KDB_INT(limit))) != TKM_OK)
		goto out;
	while ((rc = kdb_next(r)) == 1) {
		h = kdb_blob(r, 5, &n);
		hex[0] = '\0';
		if (h != NULL && n == HLEN)
			tkm_hex_encode(h, HLEN, hex);
		/* Detail as stored is JSON; a row edited into something
		 * else is shown as the text it holds. */
		detail =
		    json_loads(kdb_text(r, 4) ? kdb_text(r, 4) : "", 0, NULL);
		if (detail == NULL)
			detail =
			    json_string(kdb_text(r, 4) ? kdb_text(r, 4) : "");
		row = json_pack("{s:I, s:I, s:s?, s:s?, s:o*, s:s}", "seq",
		    (json_int_t)kdb_int(r, 0), "time",
		    (json_int_t)kdb_int(r, 1), "actor", kdb_text(r, 2),
		    "action", kdb_text(r, 3), "detail", detail, "hash", hex);
		if (row == NULL || json_array_append_new(arr, row) != 0) {
			rc = TKM_ERR_NOMEM;
			goto out;
		}
	}
	if (rc < 0)
		goto out;
	*out = arr;
	arr = NULL;
	rc = TKM_OK;
out:
	kdb_rows_free(r);
	json_decref(arr);
	return rc;
}
