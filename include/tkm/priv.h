/*
 * priv.h - who the daemons run as (docs/security.md). A daemon that holds
 * keys should not run as root: tkms-hsmd and tkms-kmsd refuse to, unless
 * told to (--allow-root, or TKMS_ALLOW_ROOT=1 in the environment, which
 * the test harness sets when CI runs as root), and with --user NAME they
 * start as root and become NAME (its uid, gid and groups) before they
 * open anything, for good: root cannot be regained. Then core dumps are
 * off and the process is not dumpable (a key must not reach a core file,
 * nor another process of the same user through ptrace).
 */
#ifndef TKM_PRIV_H
#define TKM_PRIV_H

#include <stddef.h>

#include "err.h"

/*
 * Call first, before any file or socket is opened. user: become this user
 * (NULL: stay who we are); allow_root: running as root without user is
 * allowed. TKM_ERR_PERMISSION with why (why_len bytes) when refused: root
 * without either, --user when not root, an unknown user, a user that is
 * root, or a drop that did not take; TKM_ERR_INTERNAL with why when core
 * dumps cannot be disabled.
 */
int tkm_priv_setup(
    const char *user, int allow_root, char *why, size_t why_len) TKM_MUST_CHECK;

#endif
