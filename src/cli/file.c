/*
 * file.c - whole files in and out for the console (backups, public keys,
 * key mother cards).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int
cli_file_read(const char *path, size_t max, uint8_t **out, size_t *len)
{
	struct stat sb;
	uint8_t *p = NULL;
	size_t got = 0;
	ssize_t r;
	int fd;

	*out = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(fd, &sb) != 0) {
		fprintf(stderr, "tkms: %s: %s\n", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > max) {
		fprintf(stderr,
		    "tkms: %s: not a regular file of at most %zu "
		    "bytes\n",
		    path, max);
		goto fail;
	}
	if ((p = malloc((size_t)sb.st_size + 1)) == NULL)
		goto fail;
	while (got < (size_t)sb.st_size) {
		r = read(fd, p + got, (size_t)sb.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "tkms: %s: short read\n", path);
			goto fail;
		}
		got += (size_t)r;
	}
	p[got] = '\0'; /* text files may be used as strings */
	close(fd);
	*out = p;
	*len = got;
	return 0;
fail:
	free(p);
	if (fd >= 0)
		close(fd);
	return -1;
}

int
cli_file_write_new(const char *path, const void *p, size_t len)
{
	const uint8_t *b = p;
	ssize_t w;
	int fd;

	/* Never replace a file: a backup written over another is a backup
	 * lost. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "tkms: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (len > 0) {
		w = write(fd, b, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		b += w;
		len -= (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "tkms: %s: %s (removed)\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(path);
	return -1;
}
