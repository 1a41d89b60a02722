/*
 * kdb.c - the backend-independent half of the KMS database (kdb.h):
 * opening by URL, errors, transactions and their retry, the schema
 * dialect, and the migrations run at open.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kdb_impl.h"

int
kdb_seterr(struct kdb *db, int rc, enum kdb_fail fail, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	db->fail = fail;
	va_start(ap, fmt);
	vsnprintf(db->msg, sizeof(db->msg), fmt, ap);
	va_end(ap);
	/* Drivers end their messages with a line feed. */
	n = strlen(db->msg);
	while (n > 0 && isspace((unsigned char)db->msg[n - 1]))
		db->msg[--n] = '\0';
	return rc;
}

void
kdb_clearerr(struct kdb *db)
{
	db->fail = KDB_FAIL_NONE;
	db->msg[0] = '\0';
}

const char *
kdb_errmsg(const struct kdb *db)
{
	return db->msg;
}

enum kdb_fail
kdb_fail(const struct kdb *db)
{
	return db->fail;
}

const char *
kdb_cause(const struct kdb *db)
{
	return db != NULL && db->fail == KDB_FAIL_STORAGE && db->msg[0] != '\0'
		   ? db->msg
		   : NULL;
}

enum kdb_backend
kdb_backend(const struct kdb *db)
{
	return db->ops->id;
}

void
kdb_pin(struct kdb *db, int delta)
{
	db->pinned += delta;
	if (db->pinned < 0)
		db->pinned = 0;
}

int
kdb_version(const struct kdb *db)
{
	return db->version;
}

int
kdb_in_tx(const struct kdb *db)
{
	return db->in_tx;
}

int64_t
kdb_changes(const struct kdb *db)
{
	return db->changes;
}

uint64_t
kdb_tx_retries(const struct kdb *db)
{
	return db->retries;
}

/* --- statements ---------------------------------------------------------- */

static size_t skip_quoted(const char *s);

int
kdb_param_scan(const char *sql, char *out)
{
	const char *s = sql;
	size_t n, j = 0;
	long v;
	int max = 0;

	while (*s != '\0') {
		if ((n = skip_quoted(s)) > 0) {
			if (out != NULL)
				memcpy(out + j, s, n);
			j += n;
			s += n;
			continue;
		}
		if (s[0] == '$' && s[1] >= '0' && s[1] <= '9') {
			if (out != NULL)
				out[j] = '?';
			j++;
			s++;
			for (v = 0; *s >= '0' && *s <= '9'; s++) {
				if (v < 100000)
					v = v * 10 + (*s - '0');
				if (out != NULL)
					out[j] = *s;
				j++;
			}
			if (v > 100000)
				v = 100000;
			if (v > max)
				max = (int)v;
			continue;
		}
		if (out != NULL)
			out[j] = *s;
		j++;
		s++;
	}
	if (out != NULL)
		out[j] = '\0';
	return max;
}

static int
check_params(struct kdb *db, const char *sql, const struct kdb_val *v, size_t n)
{
	size_t i;
	int max;

	if (n > KDB_MAX_PARAMS)
		return kdb_seterr(db, TKM_ERR_INTERNAL, KDB_FAIL_OTHER,
		    "%zu parameters (at most %d)", n, KDB_MAX_PARAMS);
	for (i = 0; i < n; i++)
		if (v[i].type > KDB_T_BLOB_)
			return kdb_seterr(db, TKM_ERR_INTERNAL, KDB_FAIL_OTHER,
			    "parameter $%zu of unknown type", i + 1);
	/* Both backends refuse a count that does not match the statement,
	 * with the same error (PostgreSQL's own would be TKM_ERR_IO). */
	if ((max = kdb_param_scan(sql, NULL)) != (int)n)
		return kdb_seterr(db, TKM_ERR_INTERNAL, KDB_FAIL_OTHER,
		    "statement has $%d as its highest parameter, %zu given",
		    max, n);
	return TKM_OK;
}

int
kdb_exec_(struct kdb *db, const char *sql, const struct kdb_val *v, size_t n)
{
	int rc;

	kdb_clearerr(db);
	db->changes = 0;
	if ((rc = check_params(db, sql, v, n)) != TKM_OK)
		return rc;
	return db->ops->exec(db, sql, v, n, NULL);
}

int
kdb_query_(struct kdb *db, struct kdb_rows **out, const char *sql,
    const struct kdb_val *v, size_t n)
{
	int rc;

	*out = NULL;
	kdb_clearerr(db);
	if ((rc = check_params(db, sql, v, n)) != TKM_OK)
		return rc;
	return db->ops->exec(db, sql, v, n, out);
}

int
kdb_int1_(struct kdb *db, int64_t *out, const char *sql,
    const struct kdb_val *v, size_t n)
{
	struct kdb_rows *r = NULL;
	int rc;

	*out = 0;
	if ((rc = kdb_query_(db, &r, sql, v, n)) != TKM_OK)
		goto out;
	if ((rc = kdb_next(r)) < 0)
		goto out;
	if (rc == 0) {
		rc = kdb_seterr(db, TKM_ERR_NO_KEY, KDB_FAIL_NONE, "no row");
		goto out;
	}
	*out = kdb_int(r, 0);
	rc = TKM_OK;
out:
	kdb_rows_free(r);
	return rc;
}

int
kdb_next(struct kdb_rows *r)
{
	return r->db->ops->next(r);
}

void
kdb_rows_free(struct kdb_rows *r)
{
	if (r != NULL)
		r->db->ops->rows_free(r);
}

int
kdb_ncols(const struct kdb_rows *r)
{
	return r->ncols;
}

int
kdb_isnull(struct kdb_rows *r, int col)
{
	if (col < 0 || col >= r->ncols)
		return 1;
	return r->db->ops->isnull(r, col);
}

const char *
kdb_text(struct kdb_rows *r, int col)
{
	if (col < 0 || col >= r->ncols)
		return NULL;
	return r->db->ops->text(r, col);
}

int64_t
kdb_int(struct kdb_rows *r, int col)
{
	if (col < 0 || col >= r->ncols)
		return 0;
	return r->db->ops->int64(r, col);
}

const uint8_t *
kdb_blob(struct kdb_rows *r, int col, size_t *len)
{
	*len = 0;
	if (col < 0 || col >= r->ncols)
		return NULL;
	return r->db->ops->blob(r, col, len);
}

/* --- the schema dialect -------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
	int bad;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	char *q;
	size_t cap;

	if (b->bad)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = (b->len + n + 1) * 2;
		if ((q = realloc(b->p, cap)) == NULL) {
			b->bad = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static int
is_word(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Length of the quoted string, identifier or comment at s (0 if none). */
static size_t
skip_quoted(const char *s)
{
	const char *e;

	if (*s == '\'' || *s == '"') {
		for (e = s + 1; *e != '\0'; e++)
			if (*e == *s) {
				if (e[1] != *s)
					return (size_t)(e + 1 - s);
				e++; /* doubled quote */
			}
		return strlen(s);
	}
	if (s[0] == '-' && s[1] == '-') {
		e = strchr(s, '\n');
		return e == NULL ? strlen(s) : (size_t)(e - s);
	}
	if (s[0] == '/' && s[1] == '*') {
		e = strstr(s + 2, "*/");
		return e == NULL ? strlen(s) : (size_t)(e + 2 - s);
	}
	return 0;
}

/*
 * If the words of pat (separated by single spaces) start at s, separated
 * by any white space, return the length matched; else 0.
 */
static size_t
match_words(const char *s, const char *pat)
{
	const char *p = s;

	while (*pat != '\0') {
		if (*pat == ' ') {
			if (!isspace((unsigned char)*p))
				return 0;
			while (isspace((unsigned char)*p))
				p++;
			pat++;
			continue;
		}
		if (toupper((unsigned char)*p) != *pat)
			return 0;
		p++;
		pat++;
	}
	return is_word(*p) ? 0 : (size_t)(p - s);
}

char *
kdb_dialect(enum kdb_backend id, const char *sql)
{
	static const struct {
		const char *from, *pg;
	} map[] = {
	    {"INTEGER PRIMARY KEY",
		"BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
	    {"BLOB", "BYTEA"},
	};
	struct sbuf b = {0};
	const char *s = sql;
	size_t i, n;

	sb_add(&b, "", 0);
	while (*s != '\0') {
		if ((n = skip_quoted(s)) > 0) {
			sb_add(&b, s, n);
			s += n;
			continue;
		}
		if (!is_word(*s)) {
			sb_add(&b, s++, 1);
			continue;
		}
		for (i = 0; id == KDB_PG && i < sizeof(map) / sizeof(map[0]);
		     i++)
			if ((n = match_words(s, map[i].from)) > 0)
				break;
		if (id == KDB_PG && i < sizeof(map) / sizeof(map[0])) {
			sb_add(&b, map[i].pg, strlen(map[i].pg));
			s += n;
			continue;
		}
		for (n = 0; is_word(s[n]); n++)
			;
		sb_add(&b, s, n);
		s += n;
	}
	if (b.bad) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

int
kdb_script(struct kdb *db, const char *sql)
{
	char *q;
	int rc;

	kdb_clearerr(db);
	if ((q = kdb_dialect(db->ops->id, sql)) == NULL)
		return kdb_seterr(
		    db, TKM_ERR_NOMEM, KDB_FAIL_OTHER, "no memory");
	rc = db->ops->script(db, q);
	free(q);
	return rc;
}

/* --- transactions -------------------------------------------------------- */

static int
begin_mode(struct kdb *db, int migrate)
{
	int rc;

	kdb_clearerr(db);
	if (db->in_tx)
		return kdb_seterr(db, TKM_ERR_INTERNAL, KDB_FAIL_OTHER,
		    "transaction already open");
	if ((rc = db->ops->begin(db, migrate)) == TKM_OK)
		db->in_tx = 1;
	return rc;
}

int
kdb_begin(struct kdb *db)
{
	return begin_mode(db, 0);
}

int
kdb_commit(struct kdb *db)
{
	int rc;

	kdb_clearerr(db);
	if (!db->in_tx)
		return kdb_seterr(db, TKM_ERR_INTERNAL, KDB_FAIL_OTHER,
		    "no transaction to commit");
	rc = db->ops->script(db, "COMMIT");
	/*
	 * PostgreSQL ends the transaction whatever COMMIT answers; SQLite
	 * keeps it open when COMMIT fails (busy), and then it is rolled back
	 * so that both leave the connection in the same state.
	 */
	if (rc != TKM_OK && db->ops->id == KDB_SQLITE) {
		char msg[KDB_WHY];
		enum kdb_fail f = db->fail;

		memcpy(msg, db->msg, sizeof(msg));
		(void)db->ops->script(db, "ROLLBACK");
		memcpy(db->msg, msg, sizeof(msg));
		db->fail = f;
	}
	db->in_tx = 0;
	return rc;
}

int
kdb_rollback(struct kdb *db)
{
	int rc;

	if (!db->in_tx)
		return TKM_OK;
	rc = db->ops->script(db, "ROLLBACK");
	db->in_tx = 0;
	return rc;
}

/* Sleep 1..2^k ms (capped at about 100 ms), random, so that two retrying
 * writers do not collide again in lock step. */
static void
backoff(struct kdb *db, int attempt)
{
	struct timespec ts;
	uint32_t cap = attempt < 7 ? 1u << attempt : 100;
	uint32_t ms;

	db->rnd ^= db->rnd << 13;
	db->rnd ^= db->rnd >> 17;
	db->rnd ^= db->rnd << 5;
	ms = 1 + db->rnd % cap;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)ms * 1000000L;
	nanosleep(&ts, NULL);
}

int
kdb_tx(struct kdb *db, int (*fn)(struct kdb *db, void *arg), void *arg)
{
	char msg[KDB_WHY];
	enum kdb_fail f;
	int attempt, rc = TKM_ERR_INTERNAL;

	for (attempt = 0; attempt < KDB_TX_TRIES; attempt++) {
		if (attempt > 0) {
			db->retries++;
			backoff(db, attempt);
		}
		if ((rc = kdb_begin(db)) != TKM_OK) {
			if (db->fail == KDB_FAIL_RETRY)
				continue;
			return rc;
		}
		if ((rc = fn(db, arg)) == TKM_OK) {
			if ((rc = kdb_commit(db)) == TKM_OK)
				return TKM_OK;
		} else {
			/* Keep fn's failure, not the rollback's. */
			f = db->fail;
			memcpy(msg, db->msg, sizeof(msg));
			(void)kdb_rollback(db);
			db->fail = f;
			memcpy(db->msg, msg, sizeof(msg));
		}
		if (db->fail != KDB_FAIL_RETRY)
			return rc;
	}
	return rc;
}

/* --- migrations ---------------------------------------------------------- */

static int
ensure_migrations_table(struct kdb *db)
{
	return kdb_script(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
			      " version BIGINT PRIMARY KEY,"
			      " name TEXT NOT NULL,"
			      " applied BIGINT NOT NULL)");
}

/*
 * Inside the migration transaction: the version the database is at, after
 * checking that each migration it has is one of ours under the same name.
 */
static int
current_version(struct kdb *db, int *ver)
{
	struct kdb_migration m;
	struct kdb_rows *r = NULL;
	int64_t v;
	int rc, known = kdb_migration_count();
	const char *name;

	*ver = 0;
	if ((rc = kdb_query(db, &r,
		 "SELECT version, name FROM schema_migrations"
		 " ORDER BY version")) != TKM_OK)
		goto out;
	while ((rc = kdb_next(r)) == 1) {
		v = kdb_int(r, 0);
		name = kdb_text(r, 1);
		if (v > known) {
			rc = kdb_seterr(db, TKM_ERR_IO, KDB_FAIL_SCHEMA,
			    "database schema is newer than this program:"
			    " it has migration %lld (%s), this program knows"
			    " %d",
			    (long long)v, name != NULL ? name : "?", known);
			goto out;
		}
		if (v != *ver + 1 || kdb_migration((int)v, &m) != TKM_OK ||
		    name == NULL || strcmp(name, m.name) != 0) {
			rc = kdb_seterr(db, TKM_ERR_IO, KDB_FAIL_SCHEMA,
			    "database has migration %lld named '%s', this"
			    " program expects %s",
			    (long long)v, name != NULL ? name : "",
			    m.name != NULL ? m.name : "none");
			goto out;
		}
		*ver = (int)v;
	}
out:
	kdb_rows_free(r);
	return rc < 0 ? rc : TKM_OK;
}

static int
apply(struct kdb *db, const struct kdb_migration *m)
{
	int rc;

	if (m->sql != NULL && (rc = kdb_script(db, m->sql)) != TKM_OK)
		return rc;
	if (m->fn != NULL && (rc = m->fn(db)) != TKM_OK)
		return rc;
	return kdb_exec(db,
	    "INSERT INTO schema_migrations (version, name, applied)"
	    " VALUES ($1, $2, $3)",
	    KDB_INT(m->version), KDB_TEXT(m->name), KDB_INT(time(NULL)));
}

/*
 * One migration per transaction, each re-reading the version under the
 * backend's migration lock, so that several processes opening the same
 * database at once apply each migration exactly once.
 */
static int
migrate(struct kdb *db)
{
	struct kdb_migration m;
	char msg[KDB_WHY];
	enum kdb_fail f;
	int rc, ver, known = kdb_migration_count();

	for (;;) {
		if ((rc = begin_mode(db, 1)) != TKM_OK)
			return rc;
		if ((rc = ensure_migrations_table(db)) != TKM_OK ||
		    (rc = current_version(db, &ver)) != TKM_OK)
			goto fail;
		db->version = ver;
		if (ver == known)
			return kdb_commit(db);
		if (kdb_migration(ver + 1, &m) != TKM_OK) {
			rc = kdb_seterr(db, TKM_ERR_INTERNAL, KDB_FAIL_OTHER,
			    "migration %d missing from this program", ver + 1);
			goto fail;
		}
		if ((rc = apply(db, &m)) != TKM_OK) {
			/* Say which migration failed, keep the cause. */
			snprintf(msg, sizeof(msg), "%s", db->msg);
			kdb_seterr(
			    db, rc, db->fail, "migration %s: %s", m.name, msg);
			goto fail;
		}
		if ((rc = kdb_commit(db)) != TKM_OK)
			return rc;
	}
fail:
	f = db->fail;
	memcpy(msg, db->msg, sizeof(msg));
	(void)kdb_rollback(db);
	db->fail = f;
	memcpy(db->msg, msg, sizeof(msg));
	return rc;
}

/* --- open and close ------------------------------------------------------ */

static int
is_pg_url(const char *url)
{
	return strncmp(url, "postgresql://", 13) == 0 ||
	       strncmp(url, "postgres://", 11) == 0;
}

int
kdb_open(const char *url, struct kdb **out, char *why, size_t why_len)
{
	struct kdb *db;
	int rc;

	*out = NULL;
	if (why != NULL && why_len > 0)
		why[0] = '\0';
	if (url == NULL || url[0] == '\0') {
		if (why != NULL && why_len > 0)
			snprintf(why, why_len, "no database given");
		return TKM_ERR_INPUT;
	}
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return TKM_ERR_NOMEM;
	db->ops = is_pg_url(url) ? &kdb_pg_ops : &kdb_sqlite_ops;
	db->rnd = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)db;
	if (db->rnd == 0)
		db->rnd = 1;
	if ((rc = db->ops->open(db, url)) == TKM_OK &&
	    (rc = migrate(db)) == TKM_OK) {
		kdb_clearerr(db);
		db->ready = 1;
		*out = db;
		return TKM_OK;
	}
	if (why != NULL && why_len > 0)
		snprintf(why, why_len, "%s",
		    db->msg[0] != '\0' ? db->msg : tkm_strerror(rc));
	kdb_close(db);
	return rc;
}

void
kdb_close(struct kdb *db)
{
	if (db == NULL)
		return;
	if (db->h != NULL) {
		(void)kdb_rollback(db);
		db->ops->close(db);
	}
	free(db);
}
