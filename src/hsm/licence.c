/*
 * licence.c - maintenance licences in DIR/licences.db (licence.h).
 *
 * The one write on the hot path is a conditional UPDATE in its own
 * committed transaction (WAL, synchronous=FULL): SQLite's write lock makes
 * "remaining > 0, then minus one" atomic across connections and processes,
 * the CHECK keeps the count from going below zero whatever the code does,
 * and the statement has reached the WAL and its fsync when it returns. So
 * a use the dispatcher acknowledges is never given back by a crash, and n
 * licences never give n + 1 answers. Only when the UPDATE changes nothing
 * does a SELECT find out why.
 *
 * Most keys have no licence, and taking the write lock to learn that
 * would serialise every worker; even a read transaction costs two fcntl()
 * calls, microseconds, a good part of what a whole UB costs. So each
 * connection keeps which keys are listed, for which commands, and whether
 * enforcement is on, and answers from that for every key that has no
 * licence for the command, without a system call, as long as no replace
 * happened in this process since (lic_epoch, one atomic load). Writers in
 * other processes (there should be none: the daemon owns DIR) are caught
 * by PRAGMA data_version, checked when the epoch moved or RECHECK_MS
 * passed: it changes when another connection committed, and is read from
 * the WAL index in shared memory, no disk access. When it changed,
 * state.gen tells whether the licences were replaced (counts change all
 * the time, the list only on a replace), and only then is the list read
 * again.
 *
 * Counting writers queue on a mutex of the process before they ask SQLite
 * for its write lock: SQLite's own wait is a sleep that grows to 100 ms
 * between tries, under which 16 workers counting at once saw answers
 * delayed by a second; the mutex hands the lock on in turn. SQLite
 * allows one writer at a time anyway, so nothing runs less in parallel.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "licence.h"
#include "cmd.h"
#include "db.h"
#include "keystore.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define SCHEMA_VERSION 1
#define DB_NAME        "licences.db"
#define NONCE_LEN      16
#define USE_TRIES      4    /* UPDATE + SELECT rounds racing a replace */
#define RECHECK_MS     1000 /* cache trusted without asking SQLite */

/* +1 after every replace in this process (whatever its directory). */
static atomic_ulong lic_epoch;
/* Writers of this process (see the top of the file). */
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

/*
 * state.last_seq holds the uint64 sequence as the int64 of the same bits
 * (compared in C, never in SQL). state.gen is a random number drawn by
 * every replace: the mark of one set of licences for the caches.
 */
static const char schema_sql[] =
    "CREATE TABLE state ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " enforce INTEGER NOT NULL,"
    " last_seq INTEGER NOT NULL,"
    " last_applied INTEGER NOT NULL,"
    " nonce BLOB NOT NULL,"
    " gen INTEGER NOT NULL);"
    "CREATE TABLE licence ("
    " lib INTEGER NOT NULL,"
    " idx INTEGER NOT NULL,"
    " cmd TEXT NOT NULL,"
    " remaining INTEGER NOT NULL CHECK (remaining >= 0),"
    " until INTEGER NOT NULL,"
    " used INTEGER NOT NULL,"
    " PRIMARY KEY (lib, idx, cmd)) WITHOUT ROWID;"
    "INSERT INTO state VALUES (1, 0, 0, 0, zeroblob(16), 0);"
    "PRAGMA user_version = 1;";

enum {
	ST_USE,
	ST_WHY,
	ST_VERSION,
	ST_GEN,
	ST_LISTED,
	ST_LIST,
	ST_STATE,
	ST_NONCE,
	ST_CLEAR,
	ST_INSERT,
	ST_APPLIED,
	ST_N
};

static const char *const stmt_sql[ST_N] = {
    [ST_USE] = "UPDATE licence SET remaining = remaining - 1,"
	       " used = used + 1 WHERE lib = ?1 AND idx = ?2 AND cmd = ?3"
	       " AND remaining > 0 AND until >= ?4",
    /* Why ST_USE changed nothing: this command's licence (NULLs if
     * none), enforcement, and whether any licence names the key. */
    [ST_WHY] = "SELECT l.remaining, l.until, s.enforce,"
	       " EXISTS (SELECT 1 FROM licence WHERE lib = ?1 AND idx = ?2)"
	       " FROM state s LEFT JOIN licence l ON l.lib = ?1"
	       " AND l.idx = ?2 AND l.cmd = ?3 WHERE s.id = 1",
    [ST_VERSION] = "PRAGMA data_version",
    [ST_GEN] = "SELECT gen FROM state WHERE id = 1",
    /* One statement, one snapshot: the list and the gen it belongs to. */
    [ST_LISTED] = "SELECT s.gen, s.enforce, l.lib, l.idx, l.cmd"
		  " FROM state s LEFT JOIN licence l WHERE s.id = 1"
		  " ORDER BY l.lib, l.idx",
    [ST_LIST] = "SELECT lib, idx, cmd, remaining, until, used FROM licence"
		" ORDER BY lib, idx, cmd",
    [ST_STATE] = "SELECT enforce, last_seq, last_applied, nonce FROM state"
		 " WHERE id = 1",
    [ST_NONCE] = "UPDATE state SET nonce = ?1 WHERE id = 1",
    [ST_CLEAR] = "DELETE FROM licence",
    [ST_INSERT] = "INSERT INTO licence (lib, idx, cmd, remaining, until,"
		  " used) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
    [ST_APPLIED] = "UPDATE state SET enforce = ?1, last_seq = ?2,"
		   " last_applied = ?3, nonce = zeroblob(16), gen = ?4"
		   " WHERE id = 1",
};

/* The commands a licence may name, as bits of the cache. */
enum { CMD_UB = 1, CMD_EH = 2, CMD_U1 = 4, CMD_U3 = 8, CMD_OTHER = 16 };

/* A listed key: lib, index, and the commands it has licences for. */
struct listed {
	int lib;
	unsigned index;
	unsigned cmds;
};

struct hsm_lic {
	sqlite3 *db;
	sqlite3_stmt *st[ST_N];
	/* The cache (see the top of the file). fresh: list and enforce
	 * are those of data_version, and were when epoch was lic_epoch and
	 * the monotonic clock said checked; usable: the list fitted. */
	int fresh, usable, enforce;
	int64_t data_version, gen, checked;
	unsigned long epoch;
	size_t nlisted;
	struct listed listed[HSM_LIC_MAX];
};

static unsigned
cmd_bit(const char *cmd, size_t len)
{
	static const struct {
		char code[3];
		unsigned bit;
	} bits[] = {
	    {"UB", CMD_UB}, {"EH", CMD_EH}, {"U1", CMD_U1}, {"U3", CMD_U3}};
	size_t i;

	for (i = 0; len == 2 && i < sizeof(bits) / sizeof(bits[0]); i++)
		if (memcmp(cmd, bits[i].code, 2) == 0)
			return bits[i].bit;
	return 0;
}

/* Two characters, NUL-terminated. */
static int
cmd_ok(const char *cmd)
{
	return cmd != NULL && cmd[0] != '\0' && cmd[1] != '\0' &&
	       cmd[2] == '\0';
}

static void
done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

static int
init_db(sqlite3 *db)
{
	int rc, ver = 0;

	if ((rc = hsm_db_exec(db, "BEGIN IMMEDIATE")) != TKM_OK)
		return rc;
	if ((rc = hsm_db_user_version(db, &ver)) != TKM_OK)
		goto out;
	rc = TKM_ERR_IO;
	if (ver > SCHEMA_VERSION)
		goto out; /* written by a newer tkms-hsmd */
	if (ver == 0 && hsm_db_exec(db, schema_sql) != TKM_OK)
		goto out;
	rc = hsm_db_exec(db, "COMMIT");
out:
	if (rc != TKM_OK)
		sqlite3_exec(
		    db, "ROLLBACK", NULL, NULL, NULL); /* rc says why */
	return rc;
}

int
hsm_lic_open(const char *dir, struct hsm_lic **out)
{
	struct hsm_lic *l;
	size_t i;
	int rc;

	*out = NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = hsm_db_open(dir, DB_NAME, &l->db)) != TKM_OK ||
	    (rc = init_db(l->db)) != TKM_OK)
		goto out;
	rc = TKM_ERR_IO;
	for (i = 0; i < ST_N; i++)
		if (sqlite3_prepare_v3(l->db, stmt_sql[i], -1,
			SQLITE_PREPARE_PERSISTENT, &l->st[i],
			NULL) != SQLITE_OK)
			goto out;
	*out = l;
	l = NULL;
	rc = TKM_OK;
out:
	hsm_lic_close(l);
	return rc;
}

void
hsm_lic_close(struct hsm_lic *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < ST_N; i++)
		sqlite3_finalize(l->st[i]);
	sqlite3_close(l->db);
	free(l);
}

/* --- the cache ------------------------------------------------------------ */

/* The single integer a statement returns. */
static int
step_int(sqlite3_stmt *s, int64_t *v)
{
	int rc = TKM_ERR_IO;

	if (sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
		*v = sqlite3_column_int64(s, 0);
		rc = TKM_OK;
	}
	done(s);
	return rc;
}

static int
load_listed(struct hsm_lic *l)
{
	sqlite3_stmt *s = l->st[ST_LISTED];
	struct listed *e = NULL;
	int lib, step, rc = TKM_ERR_IO;
	unsigned index, bit;

	l->nlisted = 0;
	l->usable = 1;
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		l->gen = sqlite3_column_int64(s, 0);
		l->enforce = sqlite3_column_int(s, 1) != 0;
		if (sqlite3_column_type(s, 2) == SQLITE_NULL)
			continue; /* no licence at all */
		lib = sqlite3_column_int(s, 2);
		index = (unsigned)sqlite3_column_int(s, 3);
		bit = cmd_bit((const char *)sqlite3_column_text(s, 4),
		    (size_t)sqlite3_column_bytes(s, 4));
		if (e == NULL || e->lib != lib || e->index != index) {
			if (l->nlisted == HSM_LIC_MAX) {
				l->usable = 0; /* not written by replace */
				continue;
			}
			e = &l->listed[l->nlisted++];
			e->lib = lib;
			e->index = index;
			e->cmds = 0;
		}
		e->cmds |= bit != 0 ? bit : CMD_OTHER;
	}
	if (step == SQLITE_DONE)
		rc = TKM_OK;
	else
		l->usable = 0; /* half a list: read it all next time */
	done(s);
	return rc;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	/* COARSE: read in the vDSO, a few ms of resolution is plenty. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Make the cache that of the store as it is now. */
static int
refresh(struct hsm_lic *l)
{
	unsigned long epoch;
	int64_t v, gen, t;
	int rc;

	/*
	 * The epoch and the clock first, data_version second, the list
	 * last: a replace between two of these reads leaves a cache
	 * labelled older than it is, which the next use reads again,
	 * never the reverse.
	 */
	epoch = atomic_load(&lic_epoch);
	t = now_ms();
	if (l->fresh && epoch == l->epoch && t - l->checked < RECHECK_MS)
		return TKM_OK;
	if ((rc = step_int(l->st[ST_VERSION], &v)) != TKM_OK)
		return rc;
	if (!l->fresh || v != l->data_version) {
		l->fresh = 0;
		if ((rc = step_int(l->st[ST_GEN], &gen)) != TKM_OK)
			return rc;
		if (!l->usable || gen != l->gen) {
			if ((rc = load_listed(l)) != TKM_OK)
				return rc;
		}
		l->data_version = v;
		l->fresh = 1;
	}
	l->epoch = epoch;
	l->checked = t;
	return TKM_OK;
}

static const struct listed *
find_listed(const struct hsm_lic *l, int lib, unsigned index)
{
	size_t lo = 0, hi = l->nlisted, mid;
	const struct listed *e;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		e = &l->listed[mid];
		if (e->lib == lib && e->index == index)
			return e;
		if (e->lib < lib || (e->lib == lib && e->index < index))
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* --- use ------------------------------------------------------------------ */

static int
bind_key(sqlite3_stmt *s, const char *cmd, int lib, unsigned index)
{
	return sqlite3_bind_int(s, 1, lib) == SQLITE_OK &&
		       sqlite3_bind_int64(s, 2, (sqlite3_int64)index) ==
			   SQLITE_OK &&
		       sqlite3_bind_text(s, 3, cmd, 2, SQLITE_STATIC) ==
			   SQLITE_OK
		   ? TKM_OK
		   : TKM_ERR_IO;
}

/* 1 counted, 0 nothing to count, or an error. */
static int
count(struct hsm_lic *l, const char *cmd, int lib, unsigned index, int64_t now)
{
	sqlite3_stmt *s = l->st[ST_USE];
	int rc;

	if ((rc = bind_key(s, cmd, lib, index)) != TKM_OK ||
	    sqlite3_bind_int64(s, 4, now) != SQLITE_OK) {
		rc = TKM_ERR_IO;
		goto out;
	}
	/* SQLITE_DONE: the statement's transaction committed (or, in an
	 * explicit one, the statement ended). */
	rc = sqlite3_step(s) == SQLITE_DONE ? sqlite3_changes(l->db) == 1
					    : hsm_db_fail(l->db);
out:
	done(s);
	return rc;
}

#define AGAIN 1 /* why(): the licences changed since count() */

static int
why(struct hsm_lic *l, const char *cmd, int lib, unsigned index, int64_t now)
{
	sqlite3_stmt *s = l->st[ST_WHY];
	int rc, step;

	if ((rc = bind_key(s, cmd, lib, index)) != TKM_OK)
		goto out;
	if ((step = sqlite3_step(s)) != SQLITE_ROW) {
		/* The query always has a row while the state row exists. */
		if (step == SQLITE_DONE) {
			hsm_db_note(DB_NAME ": corrupt (no state row)");
			rc = TKM_ERR_IO;
		} else
			rc = hsm_db_fail(l->db);
		goto out;
	}
	rc = TKM_ERR_IO;
	if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
		/* Expired first: renewing is what it needs either way. */
		if (sqlite3_column_int64(s, 1) < now)
			rc = TKM_ERR_LIC_EXPIRED;
		else if (sqlite3_column_int64(s, 0) <= 0)
			rc = TKM_ERR_LIC_EXHAUSTED;
		else
			rc = AGAIN; /* replaced after our UPDATE */
	} else if (sqlite3_column_int(s, 2) != 0 &&
		   sqlite3_column_int(s, 3) != 0) {
		rc = TKM_ERR_LIC_EXHAUSTED; /* listed, not for cmd */
	} else {
		rc = TKM_OK;
	}
out:
	done(s);
	return rc;
}

#define LICENSED 2 /* cached(): the UPDATE decides */

/* What the (fresh) cache says of a use: TKM_OK when the key has no licence
 * for cmd and is not refused, TKM_ERR_LIC_EXHAUSTED when enforcement
 * refuses it, LICENSED when it must be counted. */
static int
cached(const struct hsm_lic *l, unsigned bit, int lib, unsigned index)
{
	const struct listed *e;

	if (!l->usable || bit == 0)
		return LICENSED;
	if ((e = find_listed(l, lib, index)) == NULL)
		return TKM_OK;
	if (!(e->cmds & bit))
		return l->enforce ? TKM_ERR_LIC_EXHAUSTED : TKM_OK;
	return LICENSED;
}

/* One licensed key: the UPDATE alone commits, and why() runs only when
 * it changed nothing. */
static int
use_one(
    struct hsm_lic *l, const char *cmd, int lib, unsigned index, int64_t now)
{
	int rc, i;

	for (i = 0; i < USE_TRIES; i++) {
		pthread_mutex_lock(&write_mu);
		rc = count(l, cmd, lib, index, now);
		pthread_mutex_unlock(&write_mu);
		if (rc != 0)
			return rc == 1 ? TKM_OK : rc;
		if ((rc = why(l, cmd, lib, index, now)) != AGAIN)
			return rc;
	}
	return TKM_ERR_IO; /* replaced under us again and again */
}

/* Several: one transaction, so that a refused key costs the others
 * nothing. Under the write lock, why() sees what the UPDATE saw. */
static int
use_all(struct hsm_lic *l, const char *cmd, const struct hsm_lic_key *keys,
    size_t n, int64_t now)
{
	size_t i;
	int rc;

	pthread_mutex_lock(&write_mu);
	if ((rc = hsm_db_exec(l->db, "BEGIN IMMEDIATE")) != TKM_OK)
		goto out;
	for (i = 0; i < n; i++) {
		rc = count(l, cmd, keys[i].lib, keys[i].index, now);
		if (rc == 0 && (rc = why(l, cmd, keys[i].lib, keys[i].index,
				    now)) == AGAIN)
			rc = TKM_ERR_INTERNAL; /* not in one snapshot */
		if (rc < 0)
			goto out;
	}
	rc = hsm_db_exec(l->db, "COMMIT");
out:
	if (!sqlite3_get_autocommit(l->db))
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL); /* rc says */
	pthread_mutex_unlock(&write_mu);
	return rc;
}

int
hsm_lic_use(
    struct hsm_lic *l, const char *cmd, int lib, unsigned index, int64_t now)
{
	struct hsm_lic_key k = {lib, index};

	return hsm_lic_use_keys(l, cmd, &k, 1, now);
}

int
hsm_lic_use_keys(struct hsm_lic *l, const char *cmd,
    const struct hsm_lic_key *keys, size_t n, int64_t now)
{
	struct hsm_lic_key todo[HSM_LIC_KEYS];
	size_t i, j, nt = 0;
	unsigned bit;
	int rc;

	if (!cmd_ok(cmd) || n > HSM_LIC_KEYS)
		return TKM_ERR_INPUT;
	if ((rc = refresh(l)) != TKM_OK)
		return rc;
	/* Refusals the cache knows first: they write nothing. */
	bit = cmd_bit(cmd, 2);
	for (i = 0; i < n; i++) {
		rc = cached(l, bit, keys[i].lib, keys[i].index);
		if (rc == TKM_OK)
			continue;
		if (rc != LICENSED)
			return rc;
		for (j = 0; j < nt; j++)
			if (todo[j].lib == keys[i].lib &&
			    todo[j].index == keys[i].index)
				break;
		if (j == nt)
			todo[nt++] = keys[i];
	}
	if (nt == 0)
		return TKM_OK;
	if (nt == 1)
		return use_one(l, cmd, todo[0].lib, todo[0].index, now);
	return use_all(l, cmd, todo, nt, now);
}

/* --- list, state ---------------------------------------------------------- */

int
hsm_lic_list(struct hsm_lic *l,
    int (*fn)(void *arg, const struct hsm_licence *lic), void *arg)
{
	sqlite3_stmt *s = l->st[ST_LIST];
	struct hsm_licence lic;
	int64_t rem, used;
	int rc, step;

	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&lic, 0, sizeof(lic));
		rem = sqlite3_column_int64(s, 3);
		used = sqlite3_column_int64(s, 5);
		if (sqlite3_column_bytes(s, 2) != 2 || rem < 0 ||
		    rem > UINT32_MAX || used < 0 || used > UINT32_MAX) {
			rc = TKM_ERR_VERIFY; /* no replace wrote that */
			goto out;
		}
		lic.lib = sqlite3_column_int(s, 0);
		lic.index = (unsigned)sqlite3_column_int64(s, 1);
		memcpy(lic.cmd, sqlite3_column_text(s, 2), 2);
		lic.remaining = (uint32_t)rem;
		lic.until = sqlite3_column_int64(s, 4);
		lic.used = (uint32_t)used;
		if ((rc = fn(arg, &lic)) != TKM_OK)
			goto out;
	}
	rc = step == SQLITE_DONE ? TKM_OK : TKM_ERR_IO;
out:
	done(s);
	return rc;
}

/* The state row, read in the caller's transaction if there is one. */
static int
read_state(struct hsm_lic *l, struct hsm_lic_state *st)
{
	sqlite3_stmt *s = l->st[ST_STATE];
	int rc = TKM_ERR_IO;

	memset(st, 0, sizeof(*st));
	if (sqlite3_step(s) != SQLITE_ROW)
		goto out;
	if (sqlite3_column_bytes(s, 3) != NONCE_LEN) {
		rc = TKM_ERR_VERIFY;
		goto out;
	}
	st->enforce = sqlite3_column_int(s, 0) != 0;
	st->last_seq = (uint64_t)sqlite3_column_int64(s, 1);
	st->last_applied = sqlite3_column_int64(s, 2);
	memcpy(st->nonce, sqlite3_column_blob(s, 3), NONCE_LEN);
	rc = TKM_OK;
out:
	done(s);
	return rc;
}

int
hsm_lic_state_get(struct hsm_lic *l, struct hsm_lic_state *st)
{
	return read_state(l, st);
}

int
hsm_lic_set_nonce(struct hsm_lic *l, const uint8_t nonce[16])
{
	sqlite3_stmt *s = l->st[ST_NONCE];
	int rc = TKM_ERR_IO;

	if (sqlite3_bind_blob(s, 1, nonce, NONCE_LEN, SQLITE_STATIC) ==
		SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_DONE && sqlite3_changes(l->db) == 1)
		rc = TKM_OK;
	done(s);
	return rc;
}

/* --- replace -------------------------------------------------------------- */

static int
check_licence(const struct hsm_licence *lic)
{
	const struct hsm_cmd *cmd;

	switch (lic->lib) {
	case HSM_LIB_DES:
	case HSM_LIB_SM4:
		if (lic->index > HSM_SYM_MAX_INDEX)
			return TKM_ERR_INDEX;
		break;
	case HSM_LIB_RSA:
	case HSM_LIB_SM2:
		if (lic->index < 1 || lic->index > HSM_ASYM_MAX_INDEX)
			return TKM_ERR_INDEX;
		break;
	default:
		return TKM_ERR_INPUT;
	}
	/* Only a command the dispatcher counts: a licence for another
	 * would limit nothing. */
	if (!cmd_ok(lic->cmd) || (cmd = hsm_cmd_find(lic->cmd)) == NULL ||
	    !(cmd->flags & HSM_F_LICENSED))
		return TKM_ERR_INPUT;
	return TKM_OK;
}

static int
insert(struct hsm_lic *l, const struct hsm_licence *lic)
{
	sqlite3_stmt *s = l->st[ST_INSERT];
	int rc = TKM_ERR_IO, step;

	if (bind_key(s, lic->cmd, lic->lib, lic->index) != TKM_OK ||
	    sqlite3_bind_int64(s, 4, (sqlite3_int64)lic->remaining) !=
		SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, lic->until) != SQLITE_OK)
		goto out;
	step = sqlite3_step(s);
	if (step == SQLITE_DONE)
		rc = TKM_OK;
	else if (step == SQLITE_CONSTRAINT)
		rc = TKM_ERR_INPUT; /* the same (key, command) twice */
	else
		rc = hsm_db_fail(l->db);
out:
	done(s);
	return rc;
}

static int
applied(struct hsm_lic *l, int enforce, uint64_t seq, int64_t now)
{
	sqlite3_stmt *s = l->st[ST_APPLIED];
	uint64_t gen;
	int rc;

	if ((rc = tkm_random(&gen, sizeof(gen))) != TKM_OK)
		return rc;
	rc = TKM_ERR_IO;
	if (sqlite3_bind_int(s, 1, enforce != 0) == SQLITE_OK &&
	    sqlite3_bind_int64(s, 2, (sqlite3_int64)seq) == SQLITE_OK &&
	    sqlite3_bind_int64(s, 3, now) == SQLITE_OK &&
	    sqlite3_bind_int64(s, 4, (sqlite3_int64)(gen >> 1)) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_DONE && sqlite3_changes(l->db) == 1)
		rc = TKM_OK;
	done(s);
	return rc;
}

int
hsm_lic_replace(struct hsm_lic *l, const uint8_t nonce[16], uint64_t seq,
    int enforce, const struct hsm_licence *lic, size_t n, int64_t now)
{
	static const uint8_t none[NONCE_LEN];
	struct hsm_lic_state st;
	size_t i;
	int rc;

	if (n > HSM_LIC_MAX || (n > 0 && lic == NULL))
		return TKM_ERR_INPUT;
	for (i = 0; i < n; i++)
		if ((rc = check_licence(&lic[i])) != TKM_OK)
			return rc;
	/* The write lock first, so that the checks and the writes see the
	 * same state: two applies of one update cannot both pass. */
	pthread_mutex_lock(&write_mu);
	if ((rc = hsm_db_exec(l->db, "BEGIN IMMEDIATE")) != TKM_OK)
		goto out;
	if ((rc = read_state(l, &st)) != TKM_OK)
		goto out;
	if (tkm_ct_eq(st.nonce, none, NONCE_LEN) ||
	    !tkm_ct_eq(st.nonce, nonce, NONCE_LEN) || seq <= st.last_seq) {
		rc = TKM_ERR_VERIFY;
		goto out;
	}
	rc = sqlite3_step(l->st[ST_CLEAR]) == SQLITE_DONE ? TKM_OK
							  : hsm_db_fail(l->db);
	done(l->st[ST_CLEAR]);
	if (rc != TKM_OK)
		goto out;
	for (i = 0; i < n; i++)
		if ((rc = insert(l, &lic[i])) != TKM_OK)
			goto out;
	if ((rc = applied(l, enforce, seq, now)) != TKM_OK)
		goto out;
	rc = hsm_db_exec(l->db, "COMMIT");
out:
	/* A failed COMMIT may leave the transaction open: nothing of it
	 * may stay. */
	if (!sqlite3_get_autocommit(l->db))
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&write_mu);
	/* Every connection of the process looks again (our own too: our
	 * commits do not move our data_version). */
	if (rc == TKM_OK)
		atomic_fetch_add(&lic_epoch, 1);
	l->fresh = 0;
	return rc;
}

int
hsm_lic_wipe(const char *dir)
{
	struct hsm_lic *l = NULL;
	struct hsm_lic_state st;
	int rc;

	if ((rc = hsm_lic_open(dir, &l)) != TKM_OK)
		return rc;
	pthread_mutex_lock(&write_mu);
	if ((rc = hsm_db_exec(l->db, "BEGIN IMMEDIATE")) != TKM_OK ||
	    (rc = read_state(l, &st)) != TKM_OK)
		goto out;
	rc = sqlite3_step(l->st[ST_CLEAR]) == SQLITE_DONE ? TKM_OK
							  : hsm_db_fail(l->db);
	done(l->st[ST_CLEAR]);
	/* Enforcement off, no pending request; the sequence stays, so an
	 * update made before the zeroise can never be applied after it. */
	if (rc != TKM_OK ||
	    (rc = applied(l, 0, st.last_seq, st.last_applied)) != TKM_OK)
		goto out;
	rc = hsm_db_exec(l->db, "COMMIT");
out:
	if (!sqlite3_get_autocommit(l->db))
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&write_mu);
	if (rc == TKM_OK)
		atomic_fetch_add(&lic_epoch, 1);
	hsm_lic_close(l);
	return rc;
}
