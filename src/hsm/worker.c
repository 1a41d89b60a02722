/*
 * worker.c - what each worker thread owns: a key-store connection and its
 * key slots and caches (hsm.h).
 */
#include <string.h>

#include "hsm.h"
#include "keys.h"

int
hsm_worker_init(struct hsm_worker *w, struct hsm_state *st)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->st = st;
	if ((rc = hsm_keys_new(&w->keys)) != TKM_OK)
		goto out;
	/* Sealed: no store yet; commands that need DK are refused before
	 * their handler runs (dispatch.c). */
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
