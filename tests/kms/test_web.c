/*
 * test_web.c - the console's static files (src/kms/web.h): what is served
 * and, above all, what is not: paths out of the directory, symbolic
 * links, hidden files, devices and FIFOs, unknown types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "web.h"

static char dir[64];

static void
put(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	char path[256];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/tkms-web.XXXXXX");
	assert_non_null(mkdtemp(dir));
	put("index.html", "<!doctype html><title>x</title>");
	snprintf(path, sizeof(path), "%s/js", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	put("js/app.js", "console.log(1);");
	put(".secret.html", "no");
	put("notes.md", "no type");
	snprintf(path, sizeof(path), "%s/passwd.txt", dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	snprintf(path, sizeof(path), "%s/link", dir);
	assert_int_equal(symlink("/etc", path), 0);
	snprintf(path, sizeof(path), "%s/fifo.txt", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
serve(struct kms_web *w, const char *url, uint64_t *size, const char **type)
{
	int fd = -1, rc = kms_web_file(w, url, &fd, size, type);

	if (rc == TKM_OK) {
		assert_true(fd >= 0);
		close(fd);
	} else {
		assert_int_equal(fd, -1);
	}
	return rc;
}

static void
t_served(void **state)
{
	struct kms_web *w;
	const char *why, *type;
	char path[256];
	uint64_t size;

	(void)state;
	assert_int_equal(kms_web_open(dir, &w, &why), TKM_OK);
	assert_int_equal(serve(w, "/", &size, &type), TKM_OK);
	assert_int_equal(size, strlen("<!doctype html><title>x</title>"));
	assert_string_equal(type, "text/html; charset=utf-8");
	assert_int_equal(serve(w, "/js/app.js", &size, &type), TKM_OK);
	assert_string_equal(type, "text/javascript; charset=utf-8");
	assert_int_equal(size, 15);
	/* A file others may change is not served; a directory others may
	 * change is not opened. */
	snprintf(path, sizeof(path), "%s/js/app.js", dir);
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(serve(w, "/js/app.js", &size, &type), TKM_ERR_NO_KEY);
	assert_int_equal(chmod(path, 0644), 0);
	snprintf(path, sizeof(path), "%s/js", dir);
	assert_int_equal(chmod(path, 0777), 0);
	assert_int_equal(serve(w, "/js/app.js", &size, &type), TKM_ERR_NO_KEY);
	assert_int_equal(chmod(path, 0755), 0);
	assert_int_equal(serve(w, "/js/app.js", &size, &type), TKM_OK);
	kms_web_close(w);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(kms_web_open(dir, &w, &why), TKM_ERR_PERMISSION);
	assert_null(w);
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(
	    kms_web_open("/nonexistent-tkms", &w, &why), TKM_ERR_IO);
	assert_null(w);
}

static void
t_refused(void **state)
{
	static const char *const bad[] = {"/../etc/passwd", "/js/../index.html",
	    "/.secret.html", "//index.html", "/js/", "/a b.html",
	    "/index.html?x", "/%2e%2e/x.html", "index.html", "/js//app.js",
	    "/./index.html"};
	static const char *const absent[] = {"/passwd.txt", "/link/passwd.txt",
	    "/fifo.txt", "/notes.md", "/nothere.html", "/js"};
	struct kms_web *w;
	const char *why, *type;
	uint64_t size;
	size_t i;

	(void)state;
	assert_int_equal(kms_web_open(dir, &w, &why), TKM_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (serve(w, bad[i], &size, &type) != TKM_ERR_INPUT)
			fail_msg("%s served or not refused", bad[i]);
	for (i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		if (serve(w, absent[i], &size, &type) != TKM_ERR_NO_KEY)
			fail_msg("%s served", absent[i]);
	kms_web_close(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_served),
	    cmocka_unit_test(t_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
