/*
 * licence.h - maintenance licences in the HSM (维保信息, DESIGN §7; spec
 * 配置加密机维保信息, 加密机维保信息更新): for a key (library + index) and a
 * command, how many more times it may run and until when. DIR/licences.db
 * (SQLite, WAL, synchronous=FULL), one connection per thread like the key
 * store.
 *
 * The dispatcher asks hsm_lic_use() AFTER a licensed command's handler
 * succeeded and BEFORE the answer goes out: the count goes down by one in
 * a committed transaction only if it is above zero and the licence has
 * not expired, so n licences give exactly n answers, whatever the number
 * of connections, and a crash never gives one back.
 */
#ifndef HSM_LICENCE_H
#define HSM_LICENCE_H

#include <stddef.h>
#include <stdint.h>

#include "tkm/err.h"

#define HSM_LIC_MAX 256 /* licences in one update */

struct hsm_licence {
	int lib;        /* enum hsm_lib */
	unsigned index; /* in that library */
	char cmd[3];    /* "UB", "EH", "U1", "U3" */
	uint32_t remaining;
	int64_t until; /* HSM time (Unix), valid while now <= until */
	uint32_t used; /* since the licences were last replaced */
};

/* What the HSM remembers of its maintenance state. */
struct hsm_lic_state {
	int enforce;          /* 1: listed keys need a licence (city HSMs) */
	uint64_t last_seq;    /* sequence of the last update applied, 0 */
	int64_t last_applied; /* when (HSM time), 0 = never */
	uint8_t nonce[16];    /* of the last request, all zero = none */
};

struct hsm_lic;

/* A stored key a command used (the dispatcher's list, cmd.h). */
struct hsm_lic_key {
	int lib; /* enum hsm_lib */
	unsigned index;
};
#define HSM_LIC_KEYS 4 /* stored keys one command may use */

int hsm_lic_open(const char *dir, struct hsm_lic **out) TKM_MUST_CHECK;
void hsm_lic_close(struct hsm_lic *l);

/*
 * One use of key (lib, index) by cmd at HSM time now:
 *   TKM_OK              counted (or not listed, or enforcement off and no
 *                       licence: nothing to count);
 *   TKM_ERR_LIC_EXHAUSTED  its count is 0, or (enforcement on) the key is
 *                       listed for another command but not this one;
 *   TKM_ERR_LIC_EXPIRED now > until;
 *   TKM_ERR_IO.
 * A key is "listed" when any licence names it.
 */
int hsm_lic_use(struct hsm_lic *l, const char *cmd, int lib, unsigned index,
    int64_t now) TKM_MUST_CHECK;

/*
 * hsm_lic_use for every key one command used (n <= HSM_LIC_KEYS, a key
 * given twice is counted once), all or nothing: the counts go down in one
 * transaction, or, when any key is refused, none does and the first
 * refusal is returned, so that a refused command costs no key a count.
 */
int hsm_lic_use_keys(struct hsm_lic *l, const char *cmd,
    const struct hsm_lic_key *keys, size_t n, int64_t now) TKM_MUST_CHECK;

/* Every licence, in (lib, index, cmd) order. */
int hsm_lic_list(struct hsm_lic *l,
    int (*fn)(void *arg, const struct hsm_licence *lic),
    void *arg) TKM_MUST_CHECK;

int hsm_lic_state_get(
    struct hsm_lic *l, struct hsm_lic_state *st) TKM_MUST_CHECK;
/* Remember the nonce of a request just made (maint.request). */
int hsm_lic_set_nonce(
    struct hsm_lic *l, const uint8_t nonce[16]) TKM_MUST_CHECK;

/*
 * Apply an update that was verified (signature, serial): in one
 * transaction check nonce == the last request's and seq > last_seq
 * (TKM_ERR_VERIFY otherwise, nothing changes), replace every licence by
 * lic[0..n-1] (used = 0), set last_seq = seq, last_applied = now, and
 * clear the nonce so that the update cannot be applied twice. enforce
 * comes from the update too: only the province (a signed update) turns
 * enforcement on or off, never the city's own admins.
 */
int hsm_lic_replace(struct hsm_lic *l, const uint8_t nonce[16], uint64_t seq,
    int enforce, const struct hsm_licence *lic, size_t n,
    int64_t now) TKM_MUST_CHECK;

/* Zeroise: every licence deleted, enforcement off, no pending request;
 * last_seq stays (an old update never applies again). */
int hsm_lic_wipe(const char *dir) TKM_MUST_CHECK;

#endif
