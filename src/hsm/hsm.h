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

struct hsm_admin;
struct hsm_audit;

#define HSM_FIRMWARE "TKMS0001A" /* 9 A, reported by NC */

/*
 * A listener's whitelists as replaced at run time by the management plane
 * (whitelist.set): a copy of its config with other cmds or nets. Immutable
 * once published; a replaced one stays allocated (a worker may still be
 * reading it) until hsm_state_cleanup().
 */
struct hsm_wl {
	struct hsm_listener_cfg l;
	struct hsm_wl *older;
};

/* Process-wide; written at start (and by the administration plane later),
 * read by every worker. */
struct hsm_state {
	const struct hsm_config *cfg;
	const char *dir;
	/* NULL while sealed; set once by an unseal, read by every worker */
	_Atomic(struct hsm_dk *) dk;
	atomic_int authorised;   /* §5 key-management commands allowed */
	struct hsm_admin *admin; /* admin.h; NULL in tests without one */
	struct hsm_audit *audit; /* audit.h; NULL in tests without one */
	/* (New fields go last: main.c initialises the ones above in order.)
	 * authorised above is --dev-authorised, "always"; auth.open opens
	 * the state until this Unix time instead (not kept across a
	 * restart). */
	atomic_llong authorised_until;
	atomic_llong time_offset; /* HSM time = system time + this */
	/* Per listener (index in cfg->listeners): NULL = the config's. */
	_Atomic(struct hsm_wl *) wl[HSM_MAX_LISTENERS];
};

/* 1 if key-management commands (HSM_F_AUTH) are allowed now. */
int hsm_authorised(struct hsm_state *st);
/* The listener settings workers check: l, or its run-time replacement.
 * l MUST point into st->cfg->listeners. */
const struct hsm_listener_cfg *hsm_listener_live(
    struct hsm_state *st, const struct hsm_listener_cfg *l);
/* Free the whitelists whitelist.set published (after the workers and the
 * management thread stopped). */
void hsm_state_cleanup(struct hsm_state *st);

/* Per worker thread: its own key-store connection and caches, so that the
 * hot path takes no process-wide lock. */
struct hsm_worker {
	struct hsm_state *st;
	struct hsm_keystore *ks; /* NULL while sealed */
	struct hsm_keys *keys;   /* key slots and caches (keys.h) */
	/* The client of the frame being served ("ADDR:PORT"), for the
	 * audit of refused commands; NULL if unknown. */
	const char *peer;
};

/* Set up / tear down a worker's key store and key slots (st->dk may be
 * NULL: the worker then serves only commands that need no DK). */
int hsm_worker_init(struct hsm_worker *w, struct hsm_state *st) TKM_MUST_CHECK;
void hsm_worker_cleanup(struct hsm_worker *w);
/* The worker's key store, opened on first need once st->dk is set (an
 * unseal while the workers run); NULL while sealed or if it does not open
 * (logged). The dispatcher calls it for every command that needs DK. */
struct hsm_keystore *hsm_worker_ks(struct hsm_worker *w);

#endif
