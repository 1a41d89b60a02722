/*
 * demo_out.c - what `tkms demo` prints (demo.h): lines of the run,
 * progress, checks and the report.
 *
 * On a terminal, progress is one line rewritten in place ("\r", erase to
 * the end); a long call (an approval that drives the HSMs) gets a ticker
 * thread that shows the seconds spent. Elsewhere (a pipe, a log file)
 * progress is plain lines. The ticker thread and the main thread print
 * under one mutex, so lines never interleave.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "demo.h"
#include "proc.h"

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static int line_shown; /* a progress line is on the terminal */
static char wait_text[256];
static long long wait_t0;
static int wait_on;
static pthread_t ticker;

static unsigned
term_width(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
		return ws.ws_col;
	return 80;
}

/* Under out_mu. */
static void
erase_line(void)
{
	if (line_shown) {
		fputs("\r\033[K", stdout);
		line_shown = 0;
	}
}

/* Under out_mu: text on the progress line, cut to the width. */
static void
show_line(const char *text)
{
	unsigned w = term_width() - 1;

	fputs("\r\033[K", stdout);
	fprintf(stdout, "%.*s", (int)w, text);
	fflush(stdout);
	line_shown = 1;
}

void
demo_phase_begin(struct demo *d, const char *name)
{
	struct demo_phase *p;

	if (d->nphases >= DEMO_PHASES_MAX)
		return;
	p = &d->phases[d->nphases++];
	memset(p, 0, sizeof(*p));
	p->name = name;
	p->ran = 1;
	d->phase_t0 = proc_now_ms();
	pthread_mutex_lock(&out_mu);
	erase_line();
	if (!d->quiet)
		printf("\n== %d. %s\n", d->nphases, name);
	fflush(stdout);
	pthread_mutex_unlock(&out_mu);
}

void
demo_phase_end(struct demo *d, const char *note)
{
	struct demo_phase *p;

	if (d->nphases == 0)
		return;
	p = &d->phases[d->nphases - 1];
	p->ms = proc_now_ms() - d->phase_t0;
	p->note = note;
	pthread_mutex_lock(&out_mu);
	erase_line();
	pthread_mutex_unlock(&out_mu);
}

static void
vline(
    struct demo *d, int always, const char *prefix, const char *fmt, va_list ap)
{
	if (d->quiet && !always)
		return;
	pthread_mutex_lock(&out_mu);
	erase_line();
	fputs(prefix, stdout);
	vfprintf(stdout, fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	pthread_mutex_unlock(&out_mu);
}

void
demo_say(struct demo *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(d, 0, "  ", fmt, ap);
	va_end(ap);
}

void
demo_progress(struct demo *d, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	int n = 0;

	if (d->tty && d->nphases > 0)
		n = snprintf(text, sizeof(text), "[%d/%d] ", d->nphases,
		    d->phases_total);
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	if (!d->tty) {
		if (!d->quiet) {
			pthread_mutex_lock(&out_mu);
			printf("  .. %s\n", text);
			fflush(stdout);
			pthread_mutex_unlock(&out_mu);
		}
		return;
	}
	pthread_mutex_lock(&out_mu);
	show_line(text);
	pthread_mutex_unlock(&out_mu);
}

static void *
tick(void *arg)
{
	char text[320];

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&out_mu);
		if (!wait_on) {
			pthread_mutex_unlock(&out_mu);
			return NULL;
		}
		snprintf(text, sizeof(text), "%s (%lld s)", wait_text,
		    (proc_now_ms() - wait_t0) / 1000);
		show_line(text);
		pthread_mutex_unlock(&out_mu);
		usleep(250 * 1000);
	}
}

void
demo_wait_begin(struct demo *d, const char *text)
{
	sigset_t all, old;

	if (!d->tty) {
		demo_progress(d, "%s", text);
		return;
	}
	pthread_mutex_lock(&out_mu);
	snprintf(wait_text, sizeof(wait_text), "[%d/%d] %s", d->nphases,
	    d->phases_total, text);
	wait_t0 = proc_now_ms();
	wait_on = 1;
	pthread_mutex_unlock(&out_mu);
	/* Signals are the main thread's (proc.c's handler). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&ticker, NULL, tick, NULL) != 0)
		wait_on = 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void
demo_wait_end(struct demo *d)
{
	int was;

	if (!d->tty)
		return;
	pthread_mutex_lock(&out_mu);
	was = wait_on;
	wait_on = 0;
	erase_line();
	pthread_mutex_unlock(&out_mu);
	if (was)
		pthread_join(ticker, NULL);
}

int
demo_check(struct demo *d, int ok, const char *what, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&out_mu); /* ceremonies run side by side */
	if (ok)
		d->checks_ok++;
	else
		d->checks_failed++;
	if (d->nphases > 0) {
		if (ok)
			d->phases[d->nphases - 1].ok++;
		else
			d->phases[d->nphases - 1].failed++;
	}
	if (!ok || !d->quiet) {
		erase_line();
		printf("  %-6s %s: %s\n", ok ? "ok" : "FAILED", what, detail);
		fflush(stdout);
	}
	if (!ok && d->failed_step[0] == '\0')
		snprintf(d->failed_step, sizeof(d->failed_step),
		    "check failed: %s", what);
	pthread_mutex_unlock(&out_mu);
	return ok;
}

int
demo_check_eq(struct demo *d, const char *what, const char *a_name,
    const char *a, const char *b_name, const char *b)
{
	int ok = a != NULL && b != NULL && strcmp(a, b) == 0;

	return demo_check(d, ok, what, "%s %s %s %s %s", a_name,
	    a != NULL ? a : "(none)", ok ? "=" : "!=", b_name,
	    b != NULL ? b : "(none)");
}

int
demo_fail(struct demo *d, const char *step, const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&out_mu);
	if (d->failed_step[0] == '\0')
		snprintf(d->failed_step, sizeof(d->failed_step),
		    "%.200s: %.800s", step, why);
	d->checks_failed++;
	if (d->nphases > 0)
		d->phases[d->nphases - 1].failed++;
	erase_line();
	printf("  FAILED %s: %s\n", step, why);
	fflush(stdout);
	pthread_mutex_unlock(&out_mu);
	return DEMO_FAIL;
}

/* --- the report ----------------------------------------------------------- */

static void
report_to(struct demo *d, FILE *f, int rc)
{
	const struct demo_phase *p;
	long long total = proc_now_ms() - d->t0;
	int i;

	fprintf(f, "\n== tkms demo report\n");
	fprintf(f, "   %-38s %9s  %s\n", "phase", "time", "checks");
	for (i = 0; i < d->nphases; i++) {
		p = &d->phases[i];
		fprintf(f, "%2d %-38s %7.1f s  ", i + 1, p->name,
		    (double)p->ms / 1000.0);
		if (p->note != NULL)
			fprintf(f, "%s\n", p->note);
		else if (p->failed > 0)
			fprintf(f, "%d ok, %d FAILED\n", p->ok, p->failed);
		else
			fprintf(f, "%d ok\n", p->ok);
	}
	fprintf(f, "   %-38s %7.1f s  %d ok, %d FAILED\n", "total",
	    (double)total / 1000.0, d->checks_ok, d->checks_failed);
	fprintf(f, "   password hashing: %s\n",
	    d->fast_kdf ? "Argon2id test cost (TKMS_ARGON2_FAST=1)"
			: "Argon2id production cost (64 MiB, t=3)");
	fputs(d->card_figures, f);
	switch (rc) {
	case DEMO_EXIT_OK:
		fprintf(f, "result: PASSED, every check ok (exit 0)\n");
		break;
	case DEMO_EXIT_INTERRUPTED:
		fprintf(f, "result: INTERRUPTED (exit %d)%s%s\n", rc,
		    d->failed_step[0] != '\0' ? " during " : "",
		    d->failed_step);
		break;
	default:
		fprintf(f, "result: FAILED (exit %d) at %s\n", rc,
		    d->failed_step[0] != '\0' ? d->failed_step
					      : "(unknown step)");
	}
	if (rc != DEMO_EXIT_OK)
		fprintf(f,
		    "kept for inspection: %s (daemon logs: hsm/*/hsmd.log, "
		    "kms/kmsd.log; commands run: commands.sh)\n",
		    d->dir);
}

int
demo_report(struct demo *d, int rc)
{
	char path[DEMO_PATH + 16];
	FILE *f;

	pthread_mutex_lock(&out_mu);
	erase_line();
	report_to(d, stdout, rc);
	fflush(stdout);
	pthread_mutex_unlock(&out_mu);
	snprintf(path, sizeof(path), "%s/report.txt", d->dir);
	if (d->dir[0] != '\0' && (f = fopen(path, "w")) != NULL) {
		report_to(d, f, rc);
		fclose(f);
	}
	return rc;
}
