/*
 * web.h - the static files of the web console (web/, issue "KMS web
 * console"), served by tkms-kmsd beside the API: GET and HEAD of paths
 * outside /api/, "/" meaning /index.html.
 *
 * Only regular files under the directory, reached by a path of
 * [A-Za-z0-9._-] components none of which starts with a dot, opened
 * with O_NOFOLLOW relative to the directory: no "..", no symlink, no
 * hidden file, no device leaves it. Types by extension from a fixed
 * table; anything else is not served. The console's scripts hold session
 * tokens, so the directory, every directory on the way and the file must
 * not be writable by everyone, and must be owned by root or this daemon's
 * user; anything else is not served (and a directory like that is not
 * opened: TKM_ERR_PERMISSION).
 */
#ifndef KMS_WEB_H
#define KMS_WEB_H

#include <stddef.h>
#include <stdint.h>

#include "tkm/err.h"

#define KMS_WEB_FILE_MAX (8u << 20) /* bytes of one file */

struct kms_web;

/* Open dir for serving; TKM_ERR_IO (why set) when it is not a
 * directory, TKM_ERR_PERMISSION when anyone may write it
 * or another user owns it. */
int kms_web_open(
    const char *dir, struct kms_web **out, const char **why) TKM_MUST_CHECK;
void kms_web_close(struct kms_web *w);

/*
 * The file for url: *fd (the caller closes it), *size and *type (a
 * static MIME type). TKM_ERR_NO_KEY when there is none to serve
 * (answered 404), TKM_ERR_INPUT for a path that may not be asked for.
 */
int kms_web_file(const struct kms_web *w, const char *url, int *fd,
    uint64_t *size, const char **type) TKM_MUST_CHECK;

#endif
