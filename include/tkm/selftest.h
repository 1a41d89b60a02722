/*
 * selftest.h - the known-answer test engine.
 *
 * Vector text, one vector a line:  NAME field=VALUE ...  [# comment]
 * Values are hex (either case) except the decimal text fields pan, psn and
 * city. Every line is checked: an unknown name, an unknown or missing field
 * or a wrong answer is a failure; nothing is skipped.
 *
 * The same engine runs the vector files in ctest (tests/kat/) and, over a
 * copy compiled into the library, the power-on self-test of the daemons
 * and `tkms selfcheck`.
 */
#ifndef TKM_SELFTEST_H
#define TKM_SELFTEST_H

#include <stddef.h>

#include "err.h"

/* Called once per vector line: ok is 1 or 0, why explains a failure. */
typedef void tkm_kat_report_fn(
    void *arg, const char *name, unsigned line, int ok, const char *why);

struct tkm_kat_result {
	unsigned run;
	unsigned failed;
};

/*
 * Run every vector of text. Returns TKM_OK when all passed, else
 * TKM_ERR_VERIFY; report may be NULL.
 */
int tkm_kat_run(const char *text, size_t len, tkm_kat_report_fn *report,
    void *arg, struct tkm_kat_result *res) TKM_MUST_CHECK;

/* Run the vectors compiled into the library. */
int tkm_selftest(tkm_kat_report_fn *report, void *arg,
    struct tkm_kat_result *res) TKM_MUST_CHECK;

#endif
