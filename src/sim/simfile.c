/*
 * simfile.c - strict line format, bounded read and atomic write of the
 * emulators' state files (simfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "simfile.h"

void
sim_lines_init(
    struct sim_lines *ls, const void *p, size_t len, struct sim_file_err *err)
{
	memset(ls, 0, sizeof(*ls));
	ls->rd = tkm_rd_of(p, len);
	ls->err = err;
	if (err != NULL)
		memset(err, 0, sizeof(*err));
}

int
sim_fail(struct sim_lines *ls, int rc, const char *why)
{
	if (ls->err != NULL) {
		ls->err->line = ls->line;
		ls->err->field = ls->name;
		ls->err->why = why;
	}
	return rc;
}

/* Split ln at single spaces into ls->f. */
static int
split(struct sim_lines *ls, struct tkm_rd ln)
{
	size_t i, start = 0;

	ls->nf = 0;
	for (i = 0; i <= ln.len; i++) {
		if (i < ln.len && ln.p[i] != ' ')
			continue;
		if (i == start)
			return sim_fail(ls, TKM_ERR_INPUT,
			    "empty field (two spaces, or a space at an end)");
		if (ls->nf == SIM_MAX_FIELDS)
			return sim_fail(ls, TKM_ERR_INPUT, "too many fields");
		ls->f[ls->nf++] = tkm_rd_of(ln.p + start, i - start);
		start = i + 1;
	}
	return TKM_OK;
}

/* The next line without its LF; printable ASCII only. */
static int
next_line(struct sim_lines *ls, struct tkm_rd *ln)
{
	size_t i, n = ls->rd.len;

	ls->line++;
	if (n == 0)
		return sim_fail(ls, TKM_ERR_TRUNC, "the file ends before it");
	for (i = 0; i < n && ls->rd.p[i] != '\n'; i++) {
		if (i == SIM_LINE_MAX)
			return sim_fail(ls, TKM_ERR_DATA_LEN, "line too long");
		if (ls->rd.p[i] < 0x20 || ls->rd.p[i] > 0x7E)
			return sim_fail(ls, TKM_ERR_INPUT,
			    "a byte that is not printable ASCII (CR, TAB, "
			    "NUL, UTF-8)");
	}
	if (i == n)
		return sim_fail(ls, TKM_ERR_TRUNC, "no LF at the end");
	*ln = tkm_rd_of(ls->rd.p, i);
	ls->rd.p += i + 1;
	ls->rd.len -= i + 1;
	return TKM_OK;
}

static int
rd_is(struct tkm_rd r, const char *s)
{
	size_t n = strlen(s);

	return r.len == n && memcmp(r.p, s, n) == 0;
}

int
sim_line(struct sim_lines *ls, const char *name, size_t nf)
{
	struct tkm_rd ln;
	int rc;

	ls->name = name;
	if ((rc = next_line(ls, &ln)) != TKM_OK || (rc = split(ls, ln)) != 0)
		return rc;
	if (!rd_is(ls->f[0], name))
		return sim_fail(ls, TKM_ERR_INPUT, "not the expected line");
	if (nf != 0 && ls->nf != nf)
		return sim_fail(ls, TKM_ERR_INPUT, "wrong number of fields");
	return TKM_OK;
}

int
sim_line_is(const struct sim_lines *ls, const char *name)
{
	size_t n = strlen(name);

	return ls->rd.len > n && memcmp(ls->rd.p, name, n) == 0 &&
	       (ls->rd.p[n] == ' ' || ls->rd.p[n] == '\n');
}

int
sim_lines_end(struct sim_lines *ls)
{
	if (ls->rd.len == 0)
		return TKM_OK;
	ls->line++;
	ls->name = NULL;
	return sim_fail(ls, TKM_ERR_TRAILING, "a line after the end line");
}

int
sim_f_is(const struct sim_lines *ls, size_t i, const char *s)
{
	return i < ls->nf && rd_is(ls->f[i], s);
}

int
sim_f_hex(struct sim_lines *ls, size_t i, uint8_t *out, size_t n)
{
	struct tkm_rd f;
	size_t j;

	if (i >= ls->nf || ls->f[i].len != 2 * n)
		return sim_fail(
		    ls, TKM_ERR_INPUT, "hex field of the wrong length");
	f = ls->f[i];
	for (j = 0; j < f.len; j++)
		if (!((f.p[j] >= '0' && f.p[j] <= '9') ||
			(f.p[j] >= 'A' && f.p[j] <= 'F')))
			return sim_fail(
			    ls, TKM_ERR_HEX, "not upper-case hex digits");
	if (tkm_rd_hex(&f, out, n) != TKM_OK)
		return sim_fail(ls, TKM_ERR_HEX, "not hex");
	return TKM_OK;
}

int
sim_f_num(struct sim_lines *ls, size_t i, uint32_t max, uint32_t *v)
{
	uint64_t x = 0;
	size_t j;

	*v = 0;
	if (i >= ls->nf || ls->f[i].len > 10)
		return sim_fail(
		    ls, TKM_ERR_INPUT, "number missing or too long");
	for (j = 0; j < ls->f[i].len; j++) {
		if (ls->f[i].p[j] < '0' || ls->f[i].p[j] > '9')
			return sim_fail(
			    ls, TKM_ERR_INPUT, "not a decimal number");
		x = 10 * x + (uint64_t)(ls->f[i].p[j] - '0');
	}
	if (ls->f[i].len > 1 && ls->f[i].p[0] == '0')
		return sim_fail(ls, TKM_ERR_INPUT, "a number with a leading 0");
	if (x > max)
		return sim_fail(ls, TKM_ERR_INPUT, "number out of range");
	*v = (uint32_t)x;
	return TKM_OK;
}

void
sim_w_hex(struct tkm_wr *w, const void *p, size_t n)
{
	tkm_wr_str(w, " ");
	tkm_wr_hex(w, p, n);
}

void
sim_w_num(struct tkm_wr *w, uint32_t v)
{
	char s[16];

	snprintf(s, sizeof(s), " %lu", (unsigned long)v);
	tkm_wr_str(w, s);
}

void
sim_w_str(struct tkm_wr *w, const char *s)
{
	tkm_wr_str(w, " ");
	tkm_wr_str(w, s);
}

static int
io_fail(struct sim_file_err *err, const char *why)
{
	if (err != NULL) {
		err->line = 0;
		err->field = NULL;
		err->why = why;
	}
	return TKM_ERR_IO;
}

int
sim_file_read(const char *path, uint8_t *buf, size_t cap, size_t *len,
    struct sim_file_err *err)
{
	struct stat st;
	size_t n = 0;
	ssize_t r;
	uint8_t extra;
	int fd, rc = TKM_OK;

	*len = 0;
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return io_fail(err, "cannot open the file");
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = io_fail(err, "not a regular file");
		goto out;
	}
	while (n < cap) {
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = io_fail(err, "read failed");
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n == cap && read(fd, &extra, 1) > 0) {
		if (err != NULL)
			err->why = "file too large";
		rc = TKM_ERR_DATA_LEN;
		goto out;
	}
	*len = n;
out:
	close(fd);
	return rc;
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t r;

	while (len > 0) {
		r = write(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return TKM_ERR_IO;
		p += r;
		len -= (size_t)r;
	}
	return TKM_OK;
}

/* fsync the directory of path, so that the rename is durable */
static int
sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd, rc;

	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
	} else {
		n = (size_t)(slash - path);
		if (n >= sizeof(dir))
			return TKM_ERR_IO;
		memcpy(dir, path, n);
		dir[n] = '\0';
		if (n == 0)
			snprintf(dir, sizeof(dir), "/");
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return TKM_ERR_IO;
	rc = fsync(fd) == 0 ? TKM_OK : TKM_ERR_IO;
	close(fd);
	return rc;
}

int
sim_file_write(const char *path, const void *p, size_t len)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if (path == NULL || (p == NULL && len > 0))
		return TKM_ERR_INPUT;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    sizeof(tmp))
		return TKM_ERR_IO;
	if ((fd = mkstemp(tmp)) < 0) /* mode 0600 */
		return TKM_ERR_IO;
	rc = write_all(fd, p, len);
	if (rc == TKM_OK && fchmod(fd, S_IRUSR | S_IWUSR) != 0)
		rc = TKM_ERR_IO;
	if (rc == TKM_OK && fsync(fd) != 0)
		rc = TKM_ERR_IO;
	if (close(fd) != 0)
		rc = TKM_ERR_IO;
	if (rc == TKM_OK && rename(tmp, path) != 0)
		rc = TKM_ERR_IO;
	if (rc != TKM_OK) {
		unlink(tmp);
		return rc;
	}
	return sync_dir(path);
}
