/*
 * kat_runner - run known-answer vector files through the libtkm engine.
 *
 *   kat-runner FILE...                 every vector must pass
 *   kat-runner --expect-fail FILE...   every vector must fail (checks that
 *                                      the runner can fail at all)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tkm/selftest.h"

struct tally {
	int expect_fail;
	unsigned surprises;
	const char *file;
};

static void
report(void *arg, const char *name, unsigned line, int ok, const char *why)
{
	struct tally *t = arg;

	if (ok == !t->expect_fail) {
		printf("ok    %s:%u %s%s%s\n", t->file, line, name,
		    ok ? "" : ": ", ok ? "" : why);
		return;
	}
	t->surprises++;
	printf("FAIL  %s:%u %s: %s\n", t->file, line, name,
	    ok ? "passed but should have failed" : why);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	} else {
		*len = (size_t)n;
	}
	if (f != NULL)
		fclose(f);
	return buf;
}

int
main(int argc, char **argv)
{
	struct tally t = {0, 0, NULL};
	unsigned total = 0;
	int i;

	for (i = 1; i < argc; i++) {
		struct tkm_kat_result res;
		size_t len = 0;
		char *text;
		int rc;

		if (strcmp(argv[i], "--expect-fail") == 0) {
			t.expect_fail = 1;
			continue;
		}
		t.file = argv[i];
		if ((text = slurp(argv[i], &len)) == NULL) {
			fprintf(
			    stderr, "kat-runner: cannot read %s\n", argv[i]);
			return 2;
		}
		rc = tkm_kat_run(text, len, report, &t, &res);
		free(text);
		total += res.run;
		if (res.run == 0) { /* an empty file proves nothing */
			fprintf(
			    stderr, "kat-runner: no vectors in %s\n", argv[i]);
			return 2;
		}
		if (!t.expect_fail && rc != 0 && t.surprises == 0)
			t.surprises++;
		printf("%s: %u vectors, %u failed\n", argv[i], res.run,
		    res.failed);
	}
	if (total == 0) {
		fprintf(stderr, "usage: kat-runner [--expect-fail] FILE...\n");
		return 2;
	}
	return t.surprises == 0 ? 0 : 1;
}
