/*
 * worker.c - what each worker thread owns: a key-store connection and its
 * key slots and caches (hsm.h), and how DK is taken away from workers
 * that are running (zeroise, docs/zeroise.md).
 *
 * DK retirement without a lock on the hot path: hazard pointers. Each
 * worker has a slot of its own cache line in which it publishes, for the
 * length of a command, the DK it uses (hsm_worker_enter/leave). The
 * retiring thread swaps st->dk to NULL, bumps st->dk_gen, and frees the
 * old DK only once no slot holds it. A command costs a few loads that hit
 * in the worker's cache (st->dk and st->dk_gen are written only by a
 * ceremony or a zeroise) and one store to a line no other thread writes;
 * a global lock or reference count would instead bounce one line between
 * all workers on every command.
 *
 * Why the generation: the key store and the asymmetric key cache of a
 * worker belong to the DK they were made with, and a DK published after a
 * zeroise may even sit at the freed one's address, so a pointer compare
 * cannot tell that they are stale. The worker reads (generation, DK) as a
 * consistent pair (the generation is read before and after, as in a
 * seqlock) and drops its store and caches whenever the generation moved.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "hsm.h"
#include "keys.h"
#include "licence.h"
#include "server.h"
#include "tkm/net.h"

#define CACHE_LINE 64
#define POLL_NS    100000 /* retire: wait between looks at the workers */

/* Written by its worker (dk on every command, seen rarely), read by the
 * retiring thread: alone on its cache line so that no other worker's
 * writes evict it. */
struct hsm_worker_slot {
	_Alignas(CACHE_LINE) _Atomic(struct hsm_dk *) dk; /* hazard */
	atomic_ulong seen; /* st->dk_gen the worker has dropped up to */
	/* Set before the threads start, read by hsm_dk_retire(). */
	void (*kick)(void *arg);
	void *kick_arg;
};

static int
slot_register(struct hsm_worker *w)
{
	struct hsm_worker_slot *sl, *none;
	size_t i;

	if ((sl = aligned_alloc(CACHE_LINE, sizeof(*sl))) == NULL)
		return TKM_ERR_NOMEM;
	memset(sl, 0, sizeof(*sl));
	atomic_init(&sl->dk, NULL);
	atomic_init(&sl->seen, w->gen);
	for (i = 0; i < HSM_MAX_WORKERS; i++) {
		none = NULL;
		if (atomic_compare_exchange_strong(
			&w->st->slots[i], &none, sl)) {
			w->slot = sl;
			return TKM_OK;
		}
	}
	free(sl);
	return TKM_ERR_NOMEM;
}

static void
slot_unregister(struct hsm_worker *w)
{
	struct hsm_worker_slot *sl = w->slot;
	size_t i;

	if (sl == NULL)
		return;
	for (i = 0; i < HSM_MAX_WORKERS; i++) {
		if (atomic_load(&w->st->slots[i]) == sl) {
			atomic_store(&w->st->slots[i], NULL);
			break;
		}
	}
	free(sl);
	w->slot = NULL;
}

int
hsm_worker_init(struct hsm_worker *w, struct hsm_state *st)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->st = st;
	w->gen = atomic_load(&st->dk_gen);
	w->dk = atomic_load(&st->dk);
	if ((rc = slot_register(w)) != TKM_OK ||
	    (rc = hsm_keys_new(&w->keys)) != TKM_OK)
		goto out;
	/* Sealed: no store yet; hsm_worker_ks() opens it after an unseal,
	 * and commands that need DK are refused until then (dispatch.c). */
	if (w->dk != NULL &&
	    (rc = hsm_keystore_open(st->dir, w->dk, &w->ks)) != TKM_OK)
		goto out;
	return TKM_OK;
out:
	hsm_worker_cleanup(w);
	return rc;
}

void
hsm_worker_cleanup(struct hsm_worker *w)
{
	slot_unregister(w);
	hsm_keystore_close(w->ks);
	hsm_keys_free(w->keys);
	hsm_lic_close(w->lic);
	w->ks = NULL;
	w->keys = NULL;
	w->lic = NULL;
	w->dk = NULL;
}

void
hsm_worker_set_kick(struct hsm_worker *w, void (*fn)(void *arg), void *arg)
{
	if (w->slot == NULL)
		return;
	w->slot->kick = fn;
	w->slot->kick_arg = arg;
}

struct hsm_dk *
hsm_worker_enter(struct hsm_worker *w)
{
	struct hsm_state *st = w->st;
	struct hsm_worker_slot *sl = w->slot;
	struct hsm_dk *dk;
	unsigned long gen;

	/*
	 * Sequentially consistent, all of it: the retiring thread swaps DK
	 * out and then reads the slots; we write the slot and then read DK
	 * again. Whatever the interleaving, either it sees our DK in the
	 * slot and waits, or we see that DK changed and try again.
	 */
	for (;;) {
		gen = atomic_load(&st->dk_gen);
		dk = atomic_load(&st->dk);
		if (sl != NULL)
			atomic_store(&sl->dk, dk);
		if (atomic_load(&st->dk) == dk &&
		    atomic_load(&st->dk_gen) == gen)
			break;
	}
	if (gen != w->gen) {
		/* The store borrows the old DK and the cache holds private
		 * keys of the old store (whose versions start over after a
		 * wipe): neither may serve the new DK. */
		hsm_keystore_close(w->ks);
		w->ks = NULL;
		hsm_keys_flush(w->keys);
		/* Whatever a zeroise did to the licence store, the next
		 * command starts from the file, not from this connection's
		 * cache of it. */
		hsm_lic_close(w->lic);
		w->lic = NULL;
		w->gen = gen;
		if (sl != NULL)
			atomic_store(&sl->seen, gen);
	}
	w->dk = dk;
	return dk;
}

void
hsm_worker_leave(struct hsm_worker *w)
{
	/* Release: what the command did with DK happens before the
	 * retiring thread, reading NULL here, frees it. */
	if (w->slot != NULL)
		atomic_store_explicit(&w->slot->dk, NULL, memory_order_release);
}

void
hsm_worker_sync(struct hsm_worker *w)
{
	(void)hsm_worker_enter(w);
	hsm_worker_leave(w);
}

/* What went wrong opening a store: its file and cause when a file failed
 * (db.h), the code's words otherwise. */
static const char *
store_why(int rc)
{
	const char *cause = rc == TKM_ERR_IO ? hsm_db_cause() : NULL;

	return cause != NULL ? cause : tkm_strerror(rc);
}

struct hsm_keystore *
hsm_worker_ks(struct hsm_worker *w)
{
	int rc;

	/* Sealed is sealed, whatever the worker opened before. */
	if (w->dk == NULL)
		return NULL;
	if (w->ks != NULL)
		return w->ks;
	/* The store borrows w->dk: hsm_worker_enter() closes it before
	 * that DK can be gone (it was retired: the generation moved). */
	hsm_db_cause_clear(); /* this open's cause, not an older one */
	if ((rc = hsm_keystore_open(w->st->dir, w->dk, &w->ks)) != TKM_OK) {
		hsm_log("key store: %s", store_why(rc));
		w->ks = NULL;
	}
	return w->ks;
}

struct hsm_lic *
hsm_worker_lic(struct hsm_worker *w)
{
	int rc;

	if (w->lic != NULL)
		return w->lic;
	hsm_db_cause_clear(); /* this open's cause, not an older one */
	if ((rc = hsm_lic_open(w->st->dir, &w->lic)) != TKM_OK) {
		hsm_log("licence store: %s", store_why(rc));
		w->lic = NULL;
	}
	return w->lic;
}

/* --- retirement ---------------------------------------------------------
 */

static void
nap(void)
{
	struct timespec ts = {0, POLL_NS};

	nanosleep(&ts, NULL);
}

int
hsm_dk_retire(struct hsm_state *st, struct hsm_dk **old)
{
	struct hsm_worker_slot *sl;
	struct hsm_dk *dk;
	unsigned long gen;
	long long deadline;
	size_t i;
	int rc = TKM_OK;

	*old = NULL;
	/* DK first, generation second: a worker that reads the new
	 * generation can no longer get the old DK (hsm_worker_enter). */
	dk = atomic_exchange(&st->dk, NULL);
	gen = atomic_fetch_add(&st->dk_gen, 1) + 1;
	for (i = 0; i < HSM_MAX_WORKERS; i++)
		if ((sl = atomic_load(&st->slots[i])) != NULL &&
		    sl->kick != NULL)
			sl->kick(sl->kick_arg);
	/* Commands that started with the old DK finish with it. Not
	 * bounded: freeing DK under a running command is not an option,
	 * and the longest command (an RSA key pair) takes seconds. */
	for (i = 0; dk != NULL && i < HSM_MAX_WORKERS; i++)
		if ((sl = atomic_load(&st->slots[i])) != NULL)
			while (atomic_load(&sl->dk) == dk)
				nap();
	/* Kicked workers confirm that their store is closed and their
	 * cached keys are gone; one whose loop has stopped (shutdown) never
	 * will, hence the bound. */
	deadline = tkm_mono_ms() + HSM_RETIRE_WAIT_MS;
	for (i = 0; i < HSM_MAX_WORKERS; i++) {
		if ((sl = atomic_load(&st->slots[i])) == NULL ||
		    sl->kick == NULL)
			continue;
		while (atomic_load(&sl->seen) < gen && rc == TKM_OK) {
			if (tkm_mono_ms() > deadline)
				rc = TKM_ERR_TIMEOUT;
			else
				nap();
		}
	}
	*old = dk;
	return rc;
}
