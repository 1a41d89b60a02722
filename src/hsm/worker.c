/*
 * worker.c - what each worker thread owns: a key-store connection and its
 * key slots and caches (hsm.h).
 */
#include <string.h>

#include "hsm.h"
#include "keys.h"
#include "server.h"

int
hsm_worker_init(struct hsm_worker *w, struct hsm_state *st)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->st = st;
	if ((rc = hsm_keys_new(&w->keys)) != TKM_OK)
		goto out;
	/* Sealed: no store yet; hsm_worker_ks() opens it after an unseal,
	 * and commands that need DK are refused until then (dispatch.c). */
	if (st->dk != NULL &&
	    (rc = hsm_keystore_open(st->dir, st->dk, &w->ks)) != TKM_OK)
		goto out;
	return TKM_OK;
out:
	hsm_worker_cleanup(w);
	return rc;
}

void
hsm_worker_cleanup(struct hsm_worker *w)
{
	hsm_keystore_close(w->ks);
	hsm_keys_free(w->keys);
	w->ks = NULL;
	w->keys = NULL;
}

struct hsm_keystore *
hsm_worker_ks(struct hsm_worker *w)
{
	struct hsm_dk *dk;
	int rc;

	/* Sealed is sealed, whatever the worker opened before. */
	if ((dk = atomic_load(&w->st->dk)) == NULL)
		return NULL;
	if (w->ks != NULL)
		return w->ks;
	/* DK never changes once set, so the store may borrow it; zeroise
	 * (a later issue) must close the workers' stores before freeing DK. */
	if ((rc = hsm_keystore_open(w->st->dir, dk, &w->ks)) != TKM_OK) {
		hsm_log("key store: %s", tkm_strerror(rc));
		w->ks = NULL;
	}
	return w->ks;
}
