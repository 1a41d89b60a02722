/*
 * fuzz_maint.c - the maintenance files and the licences file (maint.h,
 * docs/maintenance.md).
 *
 * The input is read as a request, as an update and as a licences file.
 * A failure must leave the result cleared with a reason; a success must
 * read back: writing the parsed request or update gives the signed part
 * of the input again (hex may differ in case only: the writer uses upper
 * case), the signature is the last line, and every licence is one the
 * HSM accepts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tkm/maint.h"

/* Not assert(): the check must stay in release (NDEBUG) builds too. */
#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
			    __LINE__, #x);                                     \
			abort();                                               \
		}                                                              \
	} while (0)

static int
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0)
		if (b[--n] != 0)
			return 0;
	return 1;
}

/* a (the input) equals b (as written) but for hex digits a-f where b has
 * A-F. */
static int
same_text(const uint8_t *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (a[i] != (uint8_t)b[i] &&
		    !(b[i] >= 'A' && b[i] <= 'F' && a[i] == b[i] - 'A' + 'a'))
			return 0;
	return 1;
}

static void
check_lics(const struct tkm_maint_lic *lic, size_t n)
{
	const char *why;
	size_t i;

	CHECK(n <= TKM_MAINT_MAX_LIC);
	for (i = 0; i < n; i++)
		CHECK(tkm_maint_lic_check(&lic[i], &why) == TKM_OK);
}

/* The signed part ends with a newline, then sig= and 128 hex digits and
 * at most one newline. */
static void
check_sig(const uint8_t *data, size_t size, size_t signed_len)
{
	CHECK(signed_len > 0 && data[signed_len - 1] == '\n');
	CHECK(size == signed_len + 4 + 128 ||
	      (size == signed_len + 4 + 128 + 1 && data[size - 1] == '\n'));
	CHECK(memcmp(data + signed_len, "sig=", 4) == 0);
}

static void
run_request(const uint8_t *data, size_t size, char *out)
{
	struct tkm_maint_request *q = malloc(sizeof(*q));
	const char *why = NULL;
	size_t len;

	CHECK(q != NULL);
	if (tkm_maint_request_parse(data, size, q, &why) != TKM_OK) {
		CHECK(why != NULL && all_zero(q, sizeof(*q)));
		free(q);
		return;
	}
	CHECK(why == NULL);
	check_sig(data, size, q->signed_len);
	check_lics(q->lic, q->nlic);
	CHECK(tkm_maint_form_check(&q->form, &why) == TKM_OK);
	CHECK(tkm_maint_request_write(
		  q, out, TKM_MAINT_FILE_MAX + 1, &len, &why) == TKM_OK);
	CHECK(len == q->signed_len && same_text(data, out, len));
	free(q);
}

static void
run_update(const uint8_t *data, size_t size, char *out)
{
	struct tkm_maint_update *u = malloc(sizeof(*u));
	const char *why = NULL;
	size_t len;
	int rc;

	CHECK(u != NULL);
	if (tkm_maint_update_parse(data, size, u, &why) != TKM_OK) {
		CHECK(why != NULL && all_zero(u, sizeof(*u)));
		free(u);
		return;
	}
	CHECK(why == NULL);
	check_sig(data, size, u->signed_len);
	check_lics(u->lic, u->nlic);
	CHECK(u->seq >= 1 && u->enforce >= 0 && u->enforce <= 1);
	rc = tkm_maint_update_write(u, out, TKM_MAINT_FILE_MAX + 1, &len, &why);
	/* The parser takes updates longer than EW signs; the writer not. */
	CHECK(rc == TKM_OK ||
	      (rc == TKM_ERR_DATA_LEN && u->signed_len > TKM_MAINT_SIGNED_MAX));
	if (rc == TKM_OK)
		CHECK(len == u->signed_len && same_text(data, out, len));
	free(u);
}

static void
run_licfile(const uint8_t *data, size_t size)
{
	struct tkm_maint_lic lic[TKM_MAINT_MAX_LIC];
	const char *why = NULL;
	size_t n = 99, line = 99;

	if (tkm_maint_licfile_parse(data, size, lic, TKM_MAINT_MAX_LIC, &n,
		&line, &why) != TKM_OK) {
		CHECK(why != NULL && n == 0);
		CHECK(size > TKM_MAINT_FILE_MAX || line >= 1);
		return;
	}
	CHECK(why == NULL && line == 0);
	check_lics(lic, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = malloc(TKM_MAINT_FILE_MAX + 1);

	CHECK(out != NULL);
	run_request(data, size, out);
	run_update(data, size, out);
	run_licfile(data, size);
	free(out);
	return 0;
}
