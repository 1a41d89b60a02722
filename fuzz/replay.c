/*
 * replay.c - run a fuzz target over its corpus without libFuzzer.
 *
 *   fuzz_x DIR|FILE...
 *
 * Builds without clang's -fsanitize=fuzzer link each fuzz_*.c with this
 * main(), so that ctest replays every corpus file under the normal (and the
 * ASan) build. Files of a directory run in name order. A missing or empty
 * directory is an error: a corpus that is silently absent is a test that
 * cannot fail.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (16u << 20) /* far above any corpus file */

/* Read the whole file into a buffer of exactly its size, so that ASan
 * catches a read one byte past the input. */
static int
run_file(const char *path)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t n = 0;
	FILE *fp;
	int rc = -1;

	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < 0 || (uintmax_t)st.st_size > REPLAY_MAX_INPUT) {
		fprintf(
		    stderr, "replay: %s: not a readable regular file\n", path);
		goto out;
	}
	n = (size_t)st.st_size;
	/* malloc(0) may return NULL; give empty inputs a real pointer. */
	if ((buf = malloc(n > 0 ? n : 1)) == NULL) {
		fprintf(stderr, "replay: %s: out of memory\n", path);
		goto out;
	}
	if (n > 0 && fread(buf, 1, n, fp) != n) {
		fprintf(stderr, "replay: %s: short read\n", path);
		goto out;
	}
	(void)LLVMFuzzerTestOneInput(buf, n);
	rc = 0;
out:
	free(buf);
	fclose(fp);
	return rc;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
free_names(char **names, size_t n)
{
	while (n > 0)
		free(names[--n]);
	free(names);
}

/* Collect the regular files of dir as "dir/name", sorted. */
static int
list_dir(const char *dir, char ***out, size_t *count)
{
	char **names = NULL, **grown, *path;
	size_t n = 0, cap = 0, plen;
	struct dirent *de;
	struct stat st;
	DIR *d;

	*out = NULL;
	*count = 0;
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		plen = strlen(dir) + 1 + strlen(de->d_name) + 1;
		if ((path = malloc(plen)) == NULL)
			goto fail;
		snprintf(path, plen, "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			grown = realloc(names, cap * sizeof(*names));
			if (grown == NULL) {
				free(path);
				goto fail;
			}
			names = grown;
		}
		names[n++] = path;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	*count = n;
	return 0;
fail:
	fprintf(stderr, "replay: %s: out of memory\n", dir);
	closedir(d);
	free_names(names, n);
	return -1;
}

static int
run_dir(const char *dir, size_t *ran)
{
	char **names;
	size_t n, i;
	int rc = 0;

	if (list_dir(dir, &names, &n) != 0)
		return -1;
	if (n == 0) {
		fprintf(stderr, "replay: %s: no inputs\n", dir);
		rc = -1;
	}
	for (i = 0; i < n && rc == 0; i++) {
		rc = run_file(names[i]);
		*ran += rc == 0;
	}
	free_names(names, n);
	return rc;
}

int
main(int argc, char **argv)
{
	struct stat st;
	size_t ran = 0;
	int i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc && rc == 0; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			rc = run_dir(argv[i], &ran);
		} else {
			rc = run_file(argv[i]);
			ran += rc == 0;
		}
	}
	printf("replay: %zu inputs ran%s\n", ran, rc == 0 ? "" : ", FAILED");
	return rc == 0 ? 0 : 1;
}
