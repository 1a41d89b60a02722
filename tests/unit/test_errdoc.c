/*
 * test_errdoc - every error cause has a distinct text, a two-character wire
 * code and an HTTP status, and appears in docs/errors.md with the same
 * code, status and text (so the documentation cannot drift from err.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tkm/err.h"

static char *
read_doc(void)
{
	FILE *f = fopen(TKMS_SOURCE_DIR "/docs/errors.md", "rb");
	static char buf[16384];
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void
test_every_cause_documented(void **state)
{
	const char *doc = read_doc();
	int e;

	(void)state;
	for (e = 0; e > TKM_ERR__LAST; e--) {
		char row[160];

		snprintf(row, sizeof(row), "| %s | %d | %s", tkm_err_wire(e),
		    tkm_err_http(e), tkm_strerror(e));
		if (strstr(doc, row) == NULL)
			fail_msg("docs/errors.md lacks a row with '%s'", row);
	}
}

static void
test_texts_distinct_codes_wellformed(void **state)
{
	int a, b;

	(void)state;
	for (a = 0; a > TKM_ERR__LAST; a--) {
		const char *w = tkm_err_wire(a);

		assert_int_equal(strlen(w), 2);
		assert_true(tkm_err_http(a) >= 200 && tkm_err_http(a) < 600);
		for (b = a - 1; b > TKM_ERR__LAST; b--)
			assert_string_not_equal(
			    tkm_strerror(a), tkm_strerror(b));
	}
	assert_string_equal(tkm_err_wire(TKM_OK), "00");
	assert_string_equal(tkm_err_wire(TKM_ERR_VERIFY), "01");
	assert_string_equal(tkm_err_wire(TKM_ERR_LIC_EXHAUSTED), "A1");
}

static void
test_out_of_range(void **state)
{
	(void)state;
	assert_string_equal(tkm_strerror(TKM_ERR__LAST), "unknown error");
	assert_string_equal(tkm_strerror(1), "unknown error");
	assert_string_equal(tkm_err_wire(-1000), "41");
	assert_int_equal(tkm_err_http(42), 500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_cause_documented),
	    cmocka_unit_test(test_texts_distinct_codes_wellformed),
	    cmocka_unit_test(test_out_of_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
