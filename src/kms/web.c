/*
 * web.c - static files of the web console (web.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "web.h"

#define PATH_MAX_LEN 200

struct kms_web {
	int dirfd;
};

static const struct {
	const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

/* The console's code holds session tokens: only files and directories
 * owned by root or this daemon's user, and not writable by everyone, are
 * served. */
static int
trusted(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (st.st_mode & S_IWOTH) == 0 &&
	       (st.st_uid == 0 || st.st_uid == geteuid());
}

int
kms_web_open(const char *dir, struct kms_web **out, const char **why)
{
	struct kms_web *w;
	int fd;

	*out = NULL;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*why = strerror(errno);
		return TKM_ERR_IO;
	}
	if (!trusted(fd)) {
		close(fd);
		*why = "writable by everyone, or owned by another user than "
		       "root or this daemon's: whoever can write there "
		       "controls the script that holds the sessions";
		return TKM_ERR_PERMISSION;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		close(fd);
		*why = "out of memory";
		return TKM_ERR_NOMEM;
	}
	w->dirfd = fd;
	*out = w;
	return TKM_OK;
}

void
kms_web_close(struct kms_web *w)
{
	if (w == NULL)
		return;
	close(w->dirfd);
	free(w);
}

/* Components of [A-Za-z0-9._-], none empty or starting with a dot. */
static int
path_ok(const char *p)
{
	size_t i, n = strlen(p);
	int start = 1;

	if (n == 0 || n > PATH_MAX_LEN)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = p[i];

		if (ch == '/') {
			if (start)
				return 0;
			start = 1;
			continue;
		}
		if (start && ch == '.')
			return 0;
		start = 0;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			(ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
			ch == '-'))
			return 0;
	}
	return !start;
}

static const char *
type_of(const char *p)
{
	size_t i, n = strlen(p), e;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		e = strlen(types[i].ext);
		if (n > e && strcmp(p + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return NULL;
}

/* Open a relative path one component at a time, never following a
 * symbolic link. */
static int
open_beneath(int dirfd, const char *rel)
{
	char part[PATH_MAX_LEN + 1];
	const char *slash;
	int fd = dirfd, next;
	size_t n;

	for (;;) {
		slash = strchr(rel, '/');
		if (slash == NULL)
			break;
		n = (size_t)(slash - rel);
		memcpy(part, rel, n);
		part[n] = '\0';
		next = openat(
		    fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd != dirfd)
			close(fd);
		if (next < 0)
			return -1;
		if (!trusted(next)) {
			close(next);
			return -1;
		}
		fd = next;
		rel = slash + 1;
	}
	next = openat(fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd != dirfd)
		close(fd);
	return next;
}

int
kms_web_file(const struct kms_web *w, const char *url, int *fd, uint64_t *size,
    const char **type)
{
	const char *rel = url;
	struct stat st;
	int f;

	*fd = -1;
	if (rel[0] != '/')
		return TKM_ERR_INPUT;
	rel++;
	if (rel[0] == '\0')
		rel = "index.html";
	if (!path_ok(rel))
		return TKM_ERR_INPUT;
	if ((*type = type_of(rel)) == NULL)
		return TKM_ERR_NO_KEY;
	if ((f = open_beneath(w->dirfd, rel)) < 0)
		return TKM_ERR_NO_KEY;
	if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) || !trusted(f) ||
	    (uint64_t)st.st_size > KMS_WEB_FILE_MAX) {
		close(f);
		return TKM_ERR_NO_KEY;
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return TKM_OK;
}
