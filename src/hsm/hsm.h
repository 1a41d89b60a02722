/*
 * hsm.h - the state of one tkms-hsmd process and of its worker threads.
 */
#ifndef HSM_HSM_H
#define HSM_HSM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dk.h"
#include "keystore.h"

#define HSM_FIRMWARE "TKMS0001A" /* 9 A, reported by NC */

/* Process-wide; written at start (and by the administration plane later),
 * read by every worker. */
struct hsm_state {
	const struct hsm_config *cfg;
	const char *dir;
	/* NULL while sealed; set once by an unseal, read by every worker */
	_Atomic(struct hsm_dk *) dk;
	atomic_int authorised; /* §5 key-management commands allowed */
};

/* Per worker thread: its own key-store connection and caches, so that the
 * hot path takes no process-wide lock. */
struct hsm_worker {
	struct hsm_state *st;
	struct hsm_keystore *ks; /* NULL while sealed */
	struct hsm_keys *keys;   /* key slots and caches (keys.h) */
};

/* Set up / tear down a worker's key store and key slots (st->dk may be
 * NULL: the worker then serves only commands that need no DK). */
int hsm_worker_init(struct hsm_worker *w, struct hsm_state *st) TKM_MUST_CHECK;
void hsm_worker_cleanup(struct hsm_worker *w);

#endif
