/*
 * kdb_pg.c - the PostgreSQL backend of kdb.h (libpq).
 *
 * Parameters go typed (text, int8, bytea in binary) so that the server
 * never has to guess; results come as text and are converted by the
 * getters (bytea arrives as \x hex). Write transactions are SERIALIZABLE,
 * so that several tkms-kmsd on one database behave as if they ran one
 * after the other; a conflict is SQLSTATE 40001 (or 40P01, a deadlock),
 * reported as KDB_FAIL_RETRY for kdb_tx() to run the transaction again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "kdb_impl.h"

/* Type OIDs (src/include/catalog/pg_type.dat, stable since 7.x). */
#define OID_BYTEA 17
#define OID_INT8  20
#define OID_TEXT  25

/* Any number: serialises migrations of all processes on one database
 * ("tkms" read as a 32-bit integer). */
#define MIGRATION_LOCK "1953066355"

static int
kpg_errres(struct kdb *db, const PGresult *res)
{
	const char *state = NULL, *text = NULL, *detail = NULL;
	enum kdb_fail f = KDB_FAIL_OTHER;
	int rc = TKM_ERR_IO;

	if (res != NULL) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		text = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	}
	if (text == NULL || text[0] == '\0')
		text = PQerrorMessage(db->h); /* connection-level */
	if (state != NULL) {
		if (strcmp(state, "23505") == 0)
			f = KDB_FAIL_UNIQUE;
		else if (strncmp(state, "23", 2) == 0)
			f = KDB_FAIL_CONSTRAINT;
		else if (strcmp(state, "40001") == 0 ||
			 strcmp(state, "40P01") == 0)
			f = KDB_FAIL_RETRY;
		if (strcmp(state, "53200") == 0)
			rc = TKM_ERR_NOMEM;
	}
	if (f == KDB_FAIL_UNIQUE || f == KDB_FAIL_CONSTRAINT)
		rc = TKM_ERR_INPUT;
	return kdb_seterr(db, rc, f, "postgresql: %s%s%s%s", text,
	    detail != NULL ? " (" : "", detail != NULL ? detail : "",
	    detail != NULL ? ")" : "");
}

/* Messages from the server (NOTICE: table exists, ...) are not ours to
 * print on the daemon's stderr. */
static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int
kpg_script(struct kdb *db, const char *sql)
{
	PGresult *res = PQexec(db->h, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = TKM_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = kpg_errres(db, res);
	PQclear(res);
	return rc;
}

static int
kpg_open(struct kdb *db, const char *url)
{
	PGconn *c = PQconnectdb(url);

	if (c == NULL)
		return kdb_seterr(
		    db, TKM_ERR_NOMEM, KDB_FAIL_OTHER, "no memory");
	db->h = c;
	/* Never echo the URL: it may hold a password. */
	if (PQstatus(c) != CONNECTION_OK)
		return kdb_seterr(db, TKM_ERR_IO, KDB_FAIL_OTHER,
		    "postgresql: %s", PQerrorMessage(c));
	PQsetNoticeProcessor(c, quiet, NULL);
	return kpg_script(db, "SET bytea_output = 'hex';"
			      "SET client_min_messages = warning");
}

static void
kpg_close(struct kdb *db)
{
	PQfinish(db->h);
	db->h = NULL;
}

/* A connection lost between transactions is reopened once; inside one
 * the transaction is gone and the caller has to start again. */
static int
ensure_conn(struct kdb *db)
{
	if (PQstatus(db->h) == CONNECTION_OK)
		return TKM_OK;
	/* A new session would silently drop the advisory locks this one
	 * holds (kdb_pin): the work they guard must fail instead. */
	if (!db->in_tx && db->pinned == 0) {
		PQreset(db->h);
		if (PQstatus(db->h) == CONNECTION_OK) {
			PQsetNoticeProcessor(db->h, quiet, NULL);
			return kpg_script(db, "SET bytea_output = 'hex'");
		}
	}
	return kdb_seterr(db, TKM_ERR_IO, KDB_FAIL_OTHER,
	    "postgresql: connection lost: %s", PQerrorMessage(db->h));
}

static int
kpg_exec(struct kdb *db, const char *sql, const struct kdb_val *v, size_t n,
    struct kdb_rows **rows)
{
	const char *vals[KDB_MAX_PARAMS];
	int lens[KDB_MAX_PARAMS], fmts[KDB_MAX_PARAMS];
	Oid types[KDB_MAX_PARAMS];
	char num[KDB_MAX_PARAMS][24];
	struct kdb_rows *r;
	PGresult *res;
	ExecStatusType st;
	size_t i;
	int rc;

	if ((rc = ensure_conn(db)) != TKM_OK)
		return rc;
	for (i = 0; i < n; i++) {
		vals[i] = NULL;
		lens[i] = 0;
		fmts[i] = 0;
		types[i] = 0; /* NULL: whatever the context says */
		switch (v[i].type) {
		case KDB_T_TEXT_:
			types[i] = OID_TEXT;
			vals[i] = v[i].p;
			break;
		case KDB_T_INT_:
			types[i] = OID_INT8;
			snprintf(
			    num[i], sizeof(num[i]), "%lld", (long long)v[i].i);
			vals[i] = num[i];
			break;
		case KDB_T_BLOB_:
			if (v[i].p == NULL)
				break;
			if (v[i].n > 0x3fffffff)
				return kdb_seterr(db, TKM_ERR_INPUT,
				    KDB_FAIL_OTHER, "blob too large");
			types[i] = OID_BYTEA;
			/* Non-NULL even when empty: NULL would bind SQL NULL.
			 */
			vals[i] = v[i].n > 0 ? v[i].p : "";
			lens[i] = (int)v[i].n;
			fmts[i] = 1;
			break;
		default:
			break;
		}
	}
	res = PQexecParams(db->h, sql, (int)n, types, vals, lens, fmts, 0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = kpg_errres(db, res);
		PQclear(res);
		return rc;
	}
	if (rows == NULL) {
		db->changes = strtoll(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		return TKM_OK;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		PQclear(res);
		return kdb_seterr(
		    db, TKM_ERR_NOMEM, KDB_FAIL_OTHER, "no memory");
	}
	r->db = db;
	r->h = res;
	r->row = -1;
	r->nrows = PQntuples(res);
	r->ncols = PQnfields(res);
	if (r->ncols > 0 &&
	    ((r->blob = calloc((size_t)r->ncols, sizeof(*r->blob))) == NULL ||
		(r->blob_len = calloc(
		     (size_t)r->ncols, sizeof(*r->blob_len))) == NULL)) {
		free(r->blob);
		free(r);
		PQclear(res);
		return kdb_seterr(
		    db, TKM_ERR_NOMEM, KDB_FAIL_OTHER, "no memory");
	}
	db->changes = strtoll(PQcmdTuples(res), NULL, 10);
	*rows = r;
	return TKM_OK;
}

static int
kpg_begin(struct kdb *db, int migrate)
{
	int rc;

	if ((rc = ensure_conn(db)) != TKM_OK)
		return rc;
	if (!migrate)
		return kpg_script(db, "BEGIN ISOLATION LEVEL SERIALIZABLE");
	/*
	 * A migration runs READ COMMITTED: its statements after the lock
	 * must see what the process that held the lock before committed. A
	 * SERIALIZABLE snapshot would be taken by the lock statement itself,
	 * before the wait, and miss it.
	 */
	if ((rc = kpg_script(db, "BEGIN ISOLATION LEVEL READ COMMITTED")) !=
	    TKM_OK)
		return rc;
	if ((rc = kpg_script(db,
		 "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")")) != TKM_OK)
		(void)kpg_script(db, "ROLLBACK");
	return rc;
}

static void
drop_blobs(struct kdb_rows *r)
{
	int i;

	for (i = 0; i < r->ncols && r->blob != NULL; i++) {
		free(r->blob[i]);
		r->blob[i] = NULL;
		r->blob_len[i] = 0;
	}
}

static int
kpg_next(struct kdb_rows *r)
{
	drop_blobs(r);
	if (r->row + 1 >= r->nrows) {
		r->row = r->nrows;
		return 0;
	}
	r->row++;
	return 1;
}

static int
current(const struct kdb_rows *r)
{
	return r->row >= 0 && r->row < r->nrows;
}

static int
kpg_isnull(struct kdb_rows *r, int col)
{
	return !current(r) || PQgetisnull(r->h, r->row, col);
}

static const char *
kpg_text(struct kdb_rows *r, int col)
{
	if (kpg_isnull(r, col))
		return NULL;
	return PQgetvalue(r->h, r->row, col);
}

static int64_t
kpg_int64(struct kdb_rows *r, int col)
{
	const char *s = kpg_text(r, col);

	if (s == NULL)
		return 0;
	if (s[0] == 't' && s[1] == '\0') /* boolean */
		return 1;
	return strtoll(s, NULL, 10);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const uint8_t *
kpg_blob(struct kdb_rows *r, int col, size_t *len)
{
	const char *s = kpg_text(r, col);
	size_t i, n;
	uint8_t *b;
	int hi, lo;

	if (s == NULL)
		return NULL;
	if (r->blob[col] != NULL) {
		*len = r->blob_len[col];
		return r->blob[col];
	}
	/* bytea_output = hex: "\x" then two digits a byte. */
	if (s[0] != '\\' || s[1] != 'x' || (n = strlen(s + 2)) % 2 != 0) {
		kdb_seterr(r->db, TKM_ERR_IO, KDB_FAIL_OTHER,
		    "postgresql: column %d is not bytea", col);
		return NULL;
	}
	if ((b = malloc(n / 2 + 1)) == NULL)
		return NULL;
	for (i = 0; i < n / 2; i++) {
		hi = hexval(s[2 + 2 * i]);
		lo = hexval(s[3 + 2 * i]);
		if (hi < 0 || lo < 0) {
			free(b);
			return NULL;
		}
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	r->blob[col] = b;
	r->blob_len[col] = n / 2;
	*len = n / 2;
	return b;
}

static void
kpg_rows_free(struct kdb_rows *r)
{
	drop_blobs(r);
	free(r->blob);
	free(r->blob_len);
	PQclear(r->h);
	free(r);
}

const struct kdb_ops kdb_pg_ops = {
    .id = KDB_PG,
    .open = kpg_open,
    .close = kpg_close,
    .exec = kpg_exec,
    .script = kpg_script,
    .begin = kpg_begin,
    .next = kpg_next,
    .isnull = kpg_isnull,
    .text = kpg_text,
    .int64 = kpg_int64,
    .blob = kpg_blob,
    .rows_free = kpg_rows_free,
};
