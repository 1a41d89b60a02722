/*
 * selftest.c - the known-answer engine (selftest.h): reads vector text,
 * checks each line's fields against its row in kat_checks.c and runs the
 * row's check. Every line counts: unknown names and fields fail.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kat.h"
#include "tkm/buf.h"
#include "tkm/mem.h"
#include "tkm/selftest.h"

static const char *const text_fields[] = {"pan", "psn", "city"};

/* --- field access ------------------------------------------------------ */

const struct kat_field *
kat_fld(const struct kat_vec *v, const char *name)
{
	unsigned i;

	for (i = 0; i < v->nf; i++)
		if (strcmp(v->f[i].name, name) == 0)
			return &v->f[i];
	return NULL;
}

const uint8_t *
kat_val(const struct kat_vec *v, const char *name)
{
	const struct kat_field *f = kat_fld(v, name);

	return f != NULL ? f->val : NULL;
}

size_t
kat_len(const struct kat_vec *v, const char *name)
{
	const struct kat_field *f = kat_fld(v, name);

	return f != NULL ? f->len : 0;
}

/* Compare computed bytes with the field "out" (or another), on the
 * field's length, which must not exceed what was computed. */
int
kat_expect(struct kat_vec *v, const char *name, const uint8_t *got, size_t len)
{
	const struct kat_field *f = kat_fld(v, name);

	if (f == NULL || f->len == 0 || f->len > len) {
		v->why = "expected value has the wrong length";
		return -1;
	}
	if (!tkm_ct_eq(f->val, got, f->len)) {
		v->why = "wrong answer";
		return -1;
	}
	return 0;
}

int
kat_fail(struct kat_vec *v, const char *why)
{
	v->why = why;
	return -1;
}

int
kat_ok(struct kat_vec *v, int rc)
{
	return rc == TKM_OK ? 0 : kat_fail(v, tkm_strerror(rc));
}

/* --- parsing ---------------------------------------------------------- */

static int
is_text_field(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++)
		if (strcmp(name, text_fields[i]) == 0)
			return 1;
	return 0;
}

/* Does the row's field list name f (optional or not)? */
static int
row_has(const struct kat_row *row, const char *f, size_t flen, int *optional)
{
	const char *p = row->fields;

	while (*p != '\0') {
		size_t n;
		int opt = (*p == '?');

		p += opt;
		n = strcspn(p, " ");
		if (n == flen && memcmp(p, f, n) == 0) {
			*optional = opt;
			return 1;
		}
		p += n;
		p += (*p == ' ');
	}
	return 0;
}

/* Every required field of the row is present. */
static const char *
missing_field(const struct kat_row *row, const struct kat_vec *v)
{
	static char name[16];
	const char *p = row->fields;

	while (*p != '\0') {
		size_t n;
		int opt = (*p == '?');

		p += opt;
		n = strcspn(p, " ");
		if (!opt && n < sizeof(name)) {
			memcpy(name, p, n);
			name[n] = '\0';
			if (kat_fld(v, name) == NULL)
				return name;
		}
		p += n;
		p += (*p == ' ');
	}
	return NULL;
}

/* Parse one "name=value" token into v. */
static const char *
parse_field(const struct kat_row *row, struct kat_vec *v, const char *tok,
    size_t toklen)
{
	const char *eq = memchr(tok, '=', toklen);
	struct kat_field *f;
	size_t nlen, vl;
	int opt;

	if (eq == NULL)
		return "field without '='";
	nlen = (size_t)(eq - tok);
	vl = toklen - nlen - 1;
	if (nlen == 0 || nlen >= sizeof(f->name) ||
	    !row_has(row, tok, nlen, &opt))
		return "field not taken by this vector name";
	if (v->nf == KAT_MAX_FIELDS)
		return "too many fields";
	f = &v->f[v->nf];
	memcpy(f->name, tok, nlen);
	f->name[nlen] = '\0';
	if (kat_fld(v, f->name) != NULL)
		return "field given twice";
	if (is_text_field(f->name)) {
		if (vl > KAT_MAX_VALUE)
			return "text field too long";
		memcpy(f->val, eq + 1, vl);
		f->val[vl] = '\0';
		f->len = vl;
	} else if (tkm_hex_decode(eq + 1, vl, f->val, KAT_MAX_VALUE, &f->len) !=
		   TKM_OK) {
		return "value is not hex";
	}
	v->nf++;
	return NULL;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Next whitespace-separated token of [*p, end): its length, *p at it. The
 * text is not NUL-terminated, so nothing here may run past end. */
static size_t
next_token(const char **p, const char *end)
{
	const char *q;

	while (*p < end && is_blank(**p))
		(*p)++;
	for (q = *p; q < end && !is_blank(*q); q++)
		;
	return (size_t)(q - *p);
}

/* Run one line (without its newline); returns 1 if it held no vector. */
static int
run_line(
    struct kat_vec *v, const char *line, size_t len, char *name, size_t namecap)
{
	const struct kat_row *row;
	const char *p = line, *end, *why = NULL;
	size_t n;

	end = memchr(line, '#', len);
	end = end != NULL ? end : line + len;
	n = next_token(&p, end);
	if (n == 0)
		return 1;
	snprintf(name, namecap, "%.*s", (int)n, p);
	v->nf = 0;
	v->why = NULL;
	row = kat_find_row(p, n);
	if (row == NULL) {
		v->why = "unknown vector name";
		return 0;
	}
	for (p += n; why == NULL && (n = next_token(&p, end)) > 0; p += n)
		why = parse_field(row, v, p, n);
	if (why == NULL && missing_field(row, v) != NULL)
		why = "a required field is missing";
	if (why != NULL)
		v->why = why;
	else if (row->check(v, row->param) != 0 && v->why == NULL)
		v->why = "check failed";
	return 0;
}

int
tkm_kat_run(const char *text, size_t len, tkm_kat_report_fn *report, void *arg,
    struct tkm_kat_result *res)
{
	struct kat_vec *v = calloc(1, sizeof(*v));
	const char *p = text, *end = text + len;
	unsigned lineno = 0;
	char name[64];

	res->run = res->failed = 0;
	if (v == NULL)
		return TKM_ERR_NOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		lineno++;
		if (n > KAT_MAX_LINE) {
			v->why = "line too long";
			snprintf(name, sizeof(name), "?");
		} else if (run_line(v, p, n, name, sizeof(name))) {
			p += n + (nl != NULL);
			continue;
		}
		res->run++;
		res->failed += v->why != NULL;
		if (report != NULL)
			report(arg, name, lineno, v->why == NULL, v->why);
		p += n + (nl != NULL);
	}
	tkm_cleanse(v, sizeof(*v));
	free(v);
	return res->failed == 0 && res->run > 0 ? TKM_OK : TKM_ERR_VERIFY;
}

extern const char tkm_kat_text[];
extern const unsigned long tkm_kat_text_len;

int
tkm_selftest(tkm_kat_report_fn *report, void *arg, struct tkm_kat_result *res)
{
	return tkm_kat_run(tkm_kat_text, tkm_kat_text_len, report, arg, res);
}
