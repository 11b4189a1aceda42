/*
 * test_heapctl_cli.c - heapctl's command line as people type it (issue 15,
 * "heapctl as people type it"), against a real mount: options anywhere
 * on the line, `--` ending them, --help and COMMAND --help for every
 * command heapctl lists, and mistyped lines refused with
 * `heapctl: <what>: <why>`, a usage line and exit 1, changing nothing.
 * What each command prints is test_heapctl.c's.
 *
 * heapctl runs through mu_run_out() from the test's working directory
 * (outside the mount) with HEAPFS_MOUNT unset, so only -m or --store
 * lead it to a store.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mount_util.h"

#ifndef HEAPCTL_BIN
#error "HEAPCTL_BIN (heapctl's path) must be defined by the build"
#endif

#define LS (64 * 1024)

/* The last heapctl run. */
struct run {
	int code;              /* exit code, -1 if it did not exit */
	char *out, *err;
	char cmd[1024];        /* "heapctl ARGS", for messages */
};

static struct run last;

/* Run heapctl with @args (NULL-terminated). */
static const struct run *ctl_exec(const char *const *args)
{
	const char *argv[48] = { HEAPCTL_BIN };
	size_t n = 1, len;

	free(last.out);
	free(last.err);
	memset(&last, 0, sizeof(last));
	len = (size_t)snprintf(last.cmd, sizeof(last.cmd), "heapctl");
	for (; *args && n < 47; args++) {
		argv[n++] = *args;
		if (len < sizeof(last.cmd))
			len += (size_t)snprintf(last.cmd + len, sizeof(last.cmd) - len, " %s", *args);
	}
	argv[n] = NULL;
	last.code = mu_run_out(&last.out, argv);
	last.err = mu_slurp(mu_in_root("run.err"), NULL);
	ck_assert_ptr_nonnull(last.err);
	return &last;
}

/* heapctl ARGS... (give -m or --store yourself) */
#define RUN(...) ctl_exec((const char *[]){ __VA_ARGS__, NULL })
/* heapctl -m MNT ARGS... */
#define CTL(...) RUN("-m", mu.mnt, __VA_ARGS__)

/*
 * A mistyped line: exit 1, nothing on stdout, and on stderr exactly
 * @want then one line starting "usage: heapctl @usage".
 */
static void fails_usage(const struct run *r, const char *want, const char *usage)
{
	size_t n = strlen(want);
	char start[256];
	const char *line2 = r->err + n;

	snprintf(start, sizeof(start), "usage: heapctl %s", usage);
	ck_assert_msg(r->code == 1, "%s: exit %d, want 1; stderr:\n%s", r->cmd, r->code, r->err);
	ck_assert_msg(r->out[0] == '\0', "%s printed on stdout:\n%s", r->cmd, r->out);
	ck_assert_msg(strncmp(r->err, want, n) == 0 && strncmp(line2, start, strlen(start)) == 0 &&
		      strchr(line2, '\n') == r->err + strlen(r->err) - 1,
		      "%s said:\n%s\nwant:\n%s%s...", r->cmd, r->err, want, start);
}

/* ---- a heap to talk about --------------------------------------------- */

/* app: one line, checkpoint 1 labelled 'first'. */
static void setup_app(void)
{
	int fd;

	unsetenv("HEAPFS_MOUNT");
	mu_setup();
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	ck_assert_int_eq(ftruncate(fd, LS), 0);
	mu_pwrite_all(fd, "first", 5, 0);
	close(fd);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/first"), 0700), 0);
}

/* Nothing of setup_app() changed. */
static void unchanged(void)
{
	char *list = mu_list(mu.mnt), *ckpts = mu_list(mu_at("app/checkpoints"));
	char *list_sorted = mu_lines_sorted(list), *ckpts_sorted = mu_lines_sorted(ckpts);

	ck_assert_str_eq(list_sorted, ".heapfs\napp\n");
	ck_assert_str_eq(ckpts_sorted, "1\nfirst\nlatest\n");
	mu_assert_text_line("app/stat", "version: 2");
	mu_assert_text_line("app/stat", "size: 65536");
	free(list);
	free(ckpts);
	free(list_sorted);
	free(ckpts_sorted);
}

/* ---- mistyped lines ---------------------------------------------------- */

START_TEST(unknown_commands_options_and_arguments)
{
	fails_usage(CTL("frob", "app"), "heapctl: frob: unknown command\n", "[-m MOUNTPOINT");
	fails_usage(CTL("stat"), "heapctl: stat: which heap?\n", "stat HEAP");
	fails_usage(CTL("checkpoint"), "heapctl: checkpoint: which heap?\n", "checkpoint HEAP");
	fails_usage(CTL("stat", "app", "extra"), "heapctl: stat app: unexpected argument 'extra'\n",
		    "stat HEAP");
	fails_usage(CTL("ls", "extra"), "heapctl: ls: unexpected argument 'extra'\n", "ls");
	fails_usage(CTL("checkpoint", "app", "--label"),
		    "heapctl: checkpoint app: option '--label' needs a value (L)\n",
		    "checkpoint HEAP [--label L]");
	fails_usage(CTL("restore", "app", "1", "2"),
		    "heapctl: restore app: unexpected argument '2'\n", "restore HEAP VERSION");
	fails_usage(CTL("diff", "app", "1", "2", "3"),
		    "heapctl: diff app: unexpected argument '3'\n", "diff HEAP V1 V2");
	fails_usage(CTL("create", "app", "--size"),
		    "heapctl: create app: option '--size' needs a value (SIZE)\n", "create HEAP");
	fails_usage(CTL("--bogus", "ls"), "heapctl: ls: unknown option '--bogus'\n", "ls");
	fails_usage(RUN("-m", mu.mnt), "heapctl: COMMAND: missing\n", "[-m MOUNTPOINT");
	unchanged();
}
END_TEST

/* ---- the suite -------------------------------------------------------- */

static Suite *heapctl_cli_suite(void)
{
	Suite *s = suite_create("heapctl_cli");
	TCase *tc;

	tc = mu_tcase_new(s, "errors", setup_app);
	tcase_add_test(tc, unknown_commands_options_and_arguments);
	return s;
}

int main(void)
{
	return mu_main(heapctl_cli_suite());
}
