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
struct hsm_lic;

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

/* Workers one state can have (main.c takes --workers 1..256). */
#define HSM_MAX_WORKERS 256

struct hsm_worker_slot; /* worker.c: one cache line per worker */

/* Process-wide; written at start (and by the administration plane later),
 * read by every worker. */
struct hsm_state {
	const struct hsm_config *cfg;
	const char *dir;
	/* NULL while sealed; set by an unseal (compare-exchange from NULL),
	 * taken away only by hsm_dk_retire(). Workers read it through
	 * hsm_worker_enter(), never directly. */
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
	/* Whitelists taken out of wl[] by hsm_wl_reset() (zeroise), chained
	 * through older; freed by hsm_state_cleanup(). Management thread. */
	struct hsm_wl *wl_dropped;
	/* DK retirement (worker.c): +1 each time hsm_dk_retire() takes DK
	 * away, so that a worker knows its store and caches are stale. */
	atomic_ulong dk_gen;
	/* The workers' hazard slots, registered by hsm_worker_init(). */
	_Atomic(struct hsm_worker_slot *) slots[HSM_MAX_WORKERS];
};

/* 1 if key-management commands (HSM_F_AUTH) are allowed now. */
int hsm_authorised(struct hsm_state *st);
/* The listener settings workers check: l, or its run-time replacement.
 * l MUST point into st->cfg->listeners. */
const struct hsm_listener_cfg *hsm_listener_live(
    struct hsm_state *st, const struct hsm_listener_cfg *l);
/* Zeroise: every listener back to its config's whitelists. The replaced
 * ones stay allocated (a worker may still be reading one) until
 * hsm_state_cleanup(). Management thread only. */
void hsm_wl_reset(struct hsm_state *st);
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
	/* The DK this command is served with (hsm_worker_enter), NULL while
	 * sealed. Handlers MUST use this one, never st->dk: only this one
	 * is kept alive by the worker's hazard slot until the command ends.
	 * Outside a command it is the last one seen (tests only). */
	struct hsm_dk *dk;
	struct hsm_worker_slot *slot; /* registered in st->slots */
	unsigned long gen;   /* st->dk_gen that ks and the caches belong to */
	struct hsm_lic *lic; /* licence store (licence.h), NULL until used */
};

/*
 * Set up / tear down a worker's key store and key slots (st->dk may be
 * NULL: the worker then serves only commands that need no DK), and
 * register / unregister it with st for DK retirement (TKM_ERR_NOMEM when
 * HSM_MAX_WORKERS are registered). Neither may run while hsm_dk_retire()
 * does. hsm_worker_cleanup() may be called again, and after a failed init.
 */
int hsm_worker_init(struct hsm_worker *w, struct hsm_state *st) TKM_MUST_CHECK;
void hsm_worker_cleanup(struct hsm_worker *w);

/*
 * A command's bracket (the dispatcher's; nothing in between may block for
 * long): enter publishes the DK the worker is about to use in its hazard
 * slot, so that hsm_dk_retire() cannot free it meanwhile, sets and returns
 * w->dk; when DK was retired since the worker last looked, it first closes
 * the key store and drops every cached key (they belong to the old DK).
 * leave clears the slot. No lock: a few atomic loads and one store each.
 */
struct hsm_dk *hsm_worker_enter(struct hsm_worker *w);
void hsm_worker_leave(struct hsm_worker *w);
/* enter + leave: drop what a retired DK left behind, between commands
 * (server.c calls it when hsm_dk_retire() kicks the worker). */
void hsm_worker_sync(struct hsm_worker *w);
/* How hsm_dk_retire() wakes this worker from another thread so that it
 * calls hsm_worker_sync() soon (server.c: an event on its loop). fn MUST be
 * thread-safe; without one, a worker drops the old DK's keys at its next
 * command or at cleanup. */
void hsm_worker_set_kick(
    struct hsm_worker *w, void (*fn)(void *arg), void *arg);

/* The worker's key store, opened on first need once w->dk is set (an
 * unseal while the workers run); NULL while sealed or if it does not open
 * (logged). The dispatcher calls it for every command that needs DK,
 * between enter and leave. */
struct hsm_keystore *hsm_worker_ks(struct hsm_worker *w);
/* The worker's licence store, opened on first need (a worker whose
 * commands never use a stored key never opens it); NULL if it does not
 * open (logged). */
struct hsm_lic *hsm_worker_lic(struct hsm_worker *w);

/*
 * Take DK away from a running HSM (zeroise). st->dk becomes NULL (commands
 * that need it answer 13 from now on) and st->dk_gen moves on; then this
 * waits until no worker is still inside a command that uses the old DK,
 * kicks every worker that has a kick and waits (up to HSM_RETIRE_WAIT_MS)
 * until each has closed its key store and dropped its cached keys. The old
 * DK goes to *old (NULL if the HSM was sealed): the caller frees it
 * (hsm_dk_free) when done, e.g. after closing the audit log with it. A new
 * DK may be published (compare-exchange from NULL) as soon as this
 * returns; workers then reopen their store with it.
 * TKM_OK, or TKM_ERR_TIMEOUT when a kicked worker did not confirm in time
 * (DK is retired all the same; that worker drops its keys at its next
 * command). One caller at a time (the management thread).
 */
#define HSM_RETIRE_WAIT_MS 5000
int hsm_dk_retire(struct hsm_state *st, struct hsm_dk **old) TKM_MUST_CHECK;

#endif
