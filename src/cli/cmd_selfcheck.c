/*
 * cmd_selfcheck.c - `tkms selfcheck`: the library's known-answer tests
 * (the vectors compiled into libtkm) with a summary per algorithm family.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "tkm/selftest.h"

#define MAX_FAMILIES 32

struct family {
	char name[16];
	unsigned run, failed;
};

struct summary {
	struct family fam[MAX_FAMILIES];
	unsigned n;
	int verbose;
};

/* Family = vector name up to its first dot ("purse.load.mac1" -> purse). */
static struct family *
family_of(struct summary *s, const char *name)
{
	size_t len = strcspn(name, ".");
	unsigned i;

	if (len >= sizeof(s->fam[0].name))
		len = sizeof(s->fam[0].name) - 1;
	for (i = 0; i < s->n; i++)
		if (strlen(s->fam[i].name) == len &&
		    memcmp(s->fam[i].name, name, len) == 0)
			return &s->fam[i];
	if (s->n == MAX_FAMILIES)
		return &s->fam[MAX_FAMILIES - 1];
	memcpy(s->fam[s->n].name, name, len);
	s->fam[s->n].name[len] = '\0';
	return &s->fam[s->n++];
}

static void
report(void *arg, const char *name, unsigned line, int ok, const char *why)
{
	struct summary *s = arg;
	struct family *f = family_of(s, name);

	f->run++;
	f->failed += !ok;
	if (!ok || s->verbose)
		printf("  %s vector %u (%s)%s%s\n", ok ? "ok  " : "FAIL", line,
		    name, ok ? "" : ": ", ok ? "" : why);
}

int
cmd_selfcheck(int argc, char **argv)
{
	struct summary s;
	struct tkm_kat_result res;
	struct timespec t0, t1;
	unsigned i;
	int rc;

	memset(&s, 0, sizeof(s));
	s.verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
	printf("tkms selfcheck: libtkm known-answer tests (%s)\n",
	    OpenSSL_version(OPENSSL_VERSION));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = tkm_selftest(report, &s, &res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("  %-10s %8s %8s\n", "family", "vectors", "passed");
	for (i = 0; i < s.n; i++)
		printf("  %-10s %8u %8u\n", s.fam[i].name, s.fam[i].run,
		    s.fam[i].run - s.fam[i].failed);
	printf("  %-10s %8u %8u   (%.2f s)\n", "total", res.run,
	    res.run - res.failed,
	    (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("selfcheck: %s\n", rc == 0 ? "PASS" : "FAIL");
	return rc == 0 ? 0 : 1;
}

int
cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf(
	    "tkms %s (%s)\n", TKMS_VERSION, OpenSSL_version(OPENSSL_VERSION));
	return 0;
}
