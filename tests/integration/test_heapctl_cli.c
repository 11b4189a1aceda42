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
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
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

/* It exited 0, said nothing on stderr; its stdout, which the caller frees. */
static char *ok_out(const struct run *r)
{
	char *out;

	ck_assert_msg(r->code == 0 && r->err[0] == '\0', "%s: exit %d, stderr:\n%s", r->cmd,
		      r->code, r->err);
	out = strdup(r->out);
	ck_assert_ptr_nonnull(out);
	return out;
}

/* It exited 0, said nothing on stderr, and printed exactly @want. */
static void prints(const struct run *r, const char *want)
{
	char *out = ok_out(r);

	ck_assert_msg(strcmp(out, want) == 0, "%s printed:\n%s\nwant:\n%s", r->cmd, out, want);
	free(out);
}

/* A refusal that is not about the command line: exactly @want, no usage line, exit 1. */
static void fails_with(const struct run *r, const char *want)
{
	ck_assert_msg(r->code == 1 && r->out[0] == '\0' && strcmp(r->err, want) == 0,
		      "%s: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit 1 and:\n%s", r->cmd,
		      r->code, r->out, r->err, want);
}

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

/* ---- options anywhere ---------------------------------------------------- */

/*
 * `heapctl -m MNT @args` with --json put at every place on the line,
 * before the command, between its words and last: the same JSON each time.
 */
static void same_json_anywhere(const char *const *args, size_t n)
{
	char *first = NULL;

	for (size_t at = 0; at <= n + 2; at++) {
		const char *argv[16];
		size_t k = 0;
		char *out;

		/* Between -m and its value it would be the value. */
		if (at == 1 || (at >= 3 && strcmp(args[at - 3], "-m") == 0))
			continue;

		ck_assert_uint_lt(n + 4, sizeof(argv) / sizeof(argv[0]));
		for (size_t i = 0; i <= n + 2; i++) {
			if (i == at)
				argv[k++] = "--json";
			if (i < 2)
				argv[k++] = i == 0 ? "-m" : mu.mnt;
			else if (i - 2 < n)
				argv[k++] = args[i - 2];
		}
		argv[k] = NULL;
		out = ok_out(ctl_exec(argv));
		ck_assert_msg(out[0] == '{', "%s printed:\n%s", last.cmd, out);
		if (!first)
			first = out;
		else
			ck_assert_msg(strcmp(out, first) == 0, "%s printed:\n%s\nbut with --json "
				      "elsewhere:\n%s", last.cmd, out, first);
		if (out != first)
			free(out);
	}
	free(first);
}

START_TEST(json_goes_anywhere_on_the_line)
{
	same_json_anywhere((const char *[]){ "ls" }, 1);
	same_json_anywhere((const char *[]){ "checkpoints", "app" }, 2);
	same_json_anywhere((const char *[]){ "space", "app" }, 2);
	same_json_anywhere((const char *[]){ "diff", "app", "first", "live" }, 4);
	/* The spellings, -m last too. */
	same_json_anywhere((const char *[]){ "checkpoints", "app", "-m", mu.mnt }, 4);
	unchanged();
}
END_TEST

START_TEST(options_after_positionals_are_taken)
{
	char *out;

	prints(CTL("checkpoint", "app", "--label", "two"), "2\n");
	prints(CTL("checkpoint", "--label=three", "app"), "3\n");
	prints(RUN("checkpoint", "app", "--label", "four", "-m", mu.mnt), "4\n");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/two"), "2");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/three"), "3");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/four"), "4");
	prints(CTL("create", "new", "--line", "4K", "--size=128K"), "");
	mu_assert_text_line("new/stat", "size: 131072");
	mu_assert_text_line("new/stat", "line_size: 4096");
	prints(CTL("restore", "app", "-m", mu.mnt, "two"), "restored to 2\n");
	out = ok_out(RUN("gc", "-m", mu.mnt, "--full"));
	ck_assert_msg(strncmp(out, "reclaimed ", 10) == 0, "heapctl gc printed:\n%s", out);
	free(out);
	/* After --, what looks like an option is an argument. */
	out = ok_out(RUN("-m", mu.mnt, "--", "stat", "app"));
	ck_assert_msg(strncmp(out, "name: app\n", 10) == 0, "heapctl stat printed:\n%s", out);
	free(out);
	fails_usage(CTL("checkpoint", "app", "--", "--label", "x"),
		    "heapctl: checkpoint app: unexpected argument '--label'\n", "checkpoint HEAP");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/latest"), "4");
}
END_TEST

/* --store, like -m, anywhere; fsck's own options around it. */
START_TEST(store_goes_anywhere_on_the_line)
{
	char *a, *b;

	mu_unmount();
	a = ok_out(RUN("--store", mu.store, "--json", "checkpoints", "app"));
	b = ok_out(RUN("checkpoints", "app", "--json", "--store", mu.store));
	ck_assert_msg(a[0] == '{' && strcmp(a, b) == 0, "printed:\n%s\nand:\n%s", a, b);
	free(a);
	free(b);
	prints(RUN("fsck", "--verify-data", "--store", mu.store), "0 errors\n");
	prints(RUN("--store", mu.store, "fsck", "--verify-data"), "0 errors\n");
	a = ok_out(RUN("fsck", "--store", mu.store, "--json"));
	ck_assert_msg(strstr(a, "\"errors\": 0"), "heapctl fsck --json printed:\n%s", a);
	free(a);
	mu_mount(NULL);
	unchanged();
}
END_TEST

/* Copy the file at @from to @to, executable. */
static void copy_exe(const char *from, const char *to)
{
	size_t len;
	char *data = mu_slurp(from, &len);
	int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);

	ck_assert_msg(data && fd >= 0, "copy %s -> %s: %s", from, to, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
	free(data);
}

/*
 * heapctl links no store (RocksDB's start-up was 3 of its 4 ms, twice on
 * a migration's critical path): --store runs heapctl-store from heapctl's
 * own directory, whatever PATH says, and says so when it is not there.
 */
START_TEST(store_runs_heapctl_store_beside_heapctl)
{
	char store_bin[PATH_MAX + 16], lone[PATH_MAX], lone_store[PATH_MAX + 16];
	char want[PATH_MAX + 128];
	const char *argv[] = { lone, "--store", mu.store, "ls", NULL };
	size_t len;
	char *bin = mu_slurp(HEAPCTL_BIN, &len), *out = NULL;
	int code;

	ck_assert_ptr_nonnull(bin);
	ck_assert_msg(!memmem(bin, len, "librocksdb", 10), "%s links RocksDB", HEAPCTL_BIN);
	free(bin);
	snprintf(store_bin, sizeof(store_bin), "%.*s/heapctl-store",
		 (int)(strrchr(HEAPCTL_BIN, '/') - HEAPCTL_BIN), HEAPCTL_BIN);
	snprintf(lone, sizeof(lone), "%s", mu_in_root("bin"));
	ck_assert_int_eq(mkdir(lone, 0755), 0);
	snprintf(lone_store, sizeof(lone_store), "%s/heapctl-store", lone);
	strcat(lone, "/heapctl");
	copy_exe(HEAPCTL_BIN, lone);
	mu_unmount();
	code = mu_run_out(&out, argv);
	free(out);
	bin = mu_slurp(mu_in_root("run.err"), NULL);
	snprintf(want, sizeof(want), "heapctl: ls: --store: %s: No such file or directory\n",
		 lone_store);
	ck_assert_msg(code == 1 && bin && strcmp(bin, want) == 0,
		      "lone heapctl --store: exit %d, said:\n%s\nwant:\n%s", code, bin, want);
	free(bin);
	copy_exe(store_bin, lone_store);
	code = mu_run_out(&out, argv);
	ck_assert_msg(code == 0 && out && strstr(out, "app "), "heapctl --store ls: exit %d:\n%s",
		      code, out ? out : "");
	free(out);
	mu_mount(NULL);
	unchanged();
}
END_TEST

/* ---- help ----------------------------------------------------------------- */

/* The commands `heapctl --help` lists: the first word of each line under
 * "commands:" that starts with two spaces and a name; their synopses. */
static size_t listed_commands(const char *help, char names[][64], char syn[][256], size_t cap)
{
	const char *p = strstr(help, "\ncommands:\n");
	size_t n = 0;

	ck_assert_msg(p, "heapctl --help has no commands: section:\n%s", help);
	for (p = strchr(p + 1, '\n') + 1; *p; p = strchr(p, '\n') + 1) {
		size_t len = strcspn(p, "\n"), w;
		const char *gap;

		if (p[0] == ' ' && p[1] == ' ' && p[2] != ' ') {
			ck_assert_uint_lt(n, cap);
			w = strcspn(p + 2, " \n");
			snprintf(names[n], 64, "%.*s", (int)w, p + 2);
			gap = strstr(p + 2, "  ");
			if (!gap || gap > p + len)
				gap = p + len;
			snprintf(syn[n], 256, "%.*s", (int)(gap - p - 2), p + 2);
			n++;
		}
		if (!p[len])
			break;
	}
	return n;
}

START_TEST(help_lists_every_command_and_each_has_its_own)
{
	static const char *const known[] = { "create", "ls", "stat", "rm", "checkpoint",
		"checkpoints", "space", "restore", "diff", "rm-checkpoint", "suspend", "resume",
		"send", "recv", "verify", "migrate", "serve", "gc", "fsck" };
	char names[64][64], syn[64][256], *help = ok_out(RUN("--help")), *h2;
	size_t n = listed_commands(help, names, syn, 64);

	ck_assert_msg(strncmp(help, "usage: heapctl ", 15) == 0, "heapctl --help:\n%s", help);
	h2 = ok_out(RUN("-h"));
	ck_assert_str_eq(h2, help);
	free(h2);
	for (const char *l = help; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != '\0'))
		ck_assert_msg(strcspn(l, "\n") <= 80, "a line wider than 80 columns:\n%.*s",
			      (int)strcspn(l, "\n"), l);
	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
		bool found = false;

		for (size_t i = 0; i < n && !found; i++)
			found = strcmp(names[i], known[k]) == 0;
		ck_assert_msg(found, "heapctl --help does not list %s:\n%s", known[k], help);
	}
	/* Each listed command has its help: its synopsis, then every option it shows. */
	for (size_t i = 0; i < n; i++) {
		char want[300], *out, *before, *tok, *save = NULL;

		out = ok_out(RUN(names[i], "--help"));
		snprintf(want, sizeof(want), "usage: heapctl %s\n", syn[i]);
		ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "heapctl %s --help:\n%s\nwant "
			      "it to start:\n%s", names[i], out, want);
		before = ok_out(RUN("--help", names[i]));
		ck_assert_str_eq(before, out);
		free(before);
		before = ok_out(CTL(names[i], "--bogus", "--help"));   /* help wins */
		ck_assert_str_eq(before, out);
		free(before);
		for (tok = strtok_r(syn[i], " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			char opt[64];

			if (tok[0] == '[')
				tok++;
			if (strncmp(tok, "--", 2) != 0)
				continue;
			snprintf(opt, sizeof(opt), "\n  %.*s", (int)strcspn(tok, "]"), tok);
			ck_assert_msg(strstr(out, opt), "heapctl %s --help does not explain %s:\n%s",
				      names[i], opt + 3, out);
		}
		free(out);
	}
	free(help);
}
END_TEST

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
	fails_usage(CTL("ls", "--bogus"), "heapctl: ls: unknown option '--bogus'\n", "ls");
	fails_usage(RUN("-m", mu.mnt), "heapctl: COMMAND: missing\n", "[-m MOUNTPOINT");
	fails_usage(CTL("--json"), "heapctl: COMMAND: missing\n", "[-m MOUNTPOINT");
	fails_usage(CTL("frob", "--help"), "heapctl: frob: unknown command\n", "[-m MOUNTPOINT");
	/* Another command's option, a flag given a value, a value missing at the end. */
	fails_usage(CTL("checkpoint", "app", "--full"),
		    "heapctl: checkpoint app: unknown option '--full'\n", "checkpoint HEAP");
	fails_usage(CTL("gc", "--full=yes"), "heapctl: gc: option '--full' takes no value\n",
		    "gc [--full]");
	fails_usage(RUN("ls", "-m"), "heapctl: ls: option '-m' needs a value (MOUNTPOINT)\n", "ls");
	fails_usage(CTL("diff", "app", "--json", "1"), "heapctl: diff app: which version to "
		    "compare it with (a number, latest, live or a label)?\n", "diff HEAP V1 V2");
	unchanged();
}
END_TEST

/* Refusals from the store or the mount: one line, no usage, --json or not. */
START_TEST(other_errors_are_one_line)
{
	char want[512];

	fails_with(CTL("stat", "nope", "--json"), "heapctl: stat nope: no heap named 'nope'\n");
	fails_with(RUN("--json", "stat", "nope", "-m", mu.mnt),
		   "heapctl: stat nope: no heap named 'nope'\n");
	fails_with(CTL("create", "b", "--size", "12Q"),
		   "heapctl: create b: 12Q: not a size (a number with K, M, G or T)\n");
	fails_with(RUN("ls", "--json"), "heapctl: ls: no heapfs mount here: give -m MOUNTPOINT, "
		   "set HEAPFS_MOUNT, or --store STORE_DIR\n");
	snprintf(want, sizeof(want), "heapctl: %s: the store is in use (mounted by heapfs, or "
		 "open in another program)\n", mu.store);
	fails_with(RUN("restore", "app", "first", "--store", mu.store), want);
	unchanged();
}
END_TEST

/* ---- the suite -------------------------------------------------------- */

static Suite *heapctl_cli_suite(void)
{
	Suite *s = suite_create("heapctl_cli");
	TCase *tc;

	tc = mu_tcase_new(s, "anywhere", setup_app);
	tcase_add_test(tc, json_goes_anywhere_on_the_line);
	tcase_add_test(tc, options_after_positionals_are_taken);
	tcase_add_test(tc, store_goes_anywhere_on_the_line);
	tcase_add_test(tc, store_runs_heapctl_store_beside_heapctl);

	tc = mu_tcase_new(s, "help", setup_app);
	tcase_add_test(tc, help_lists_every_command_and_each_has_its_own);

	tc = mu_tcase_new(s, "errors", setup_app);
	tcase_add_test(tc, unknown_commands_options_and_arguments);
	tcase_add_test(tc, other_errors_are_one_line);
	return s;
}

int main(void)
{
	return mu_main(heapctl_cli_suite());
}
