/*
 * test_heapctl.c - heapctl (DESIGN.md part 1, "heapctl") run as a real
 * program against a real heapfs mount, one fresh store and mount per test,
 * and with --store against the same store unmounted.
 *
 * Every command's exact output and exit status, plain and --json; how
 * heapctl finds the mount (-m, $HEAPFS_MOUNT, the current directory);
 * --store on an unmounted store, and refused on one a daemon holds; fsck;
 * refusals (`heapctl: <what>: <why>`, exit 1) that are then shown to have
 * changed nothing; and restore reaching a process that has the heap mapped
 * and a descriptor opened before it, without remapping.  The command line
 * itself (options anywhere, --help, mistyped lines) is test_heapctl_cli.c's.
 *
 * heapctl runs from the test's root (outside the mount) with
 * HEAPFS_MOUNT unset unless a test says otherwise, so nothing but what
 * the test gives it can lead it to the mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <linux/falloc.h>

#include "mount_util.h"

#ifndef HEAPCTL_BIN
#error "HEAPCTL_BIN (heapctl's path) must be defined by the build"
#endif

#define KiB 1024ULL
#define MiB (1024ULL * KiB)
#define LS (64 * KiB)                  /* the mount's default line size */
#define CTL_TIMEOUT_S 20.0             /* a heapctl run that takes longer hangs */

#define LS_HEADER "HEAP                               SIZE     LINE      LINES  CKPTS  STATE\n"
#define CKPTS_HEADER \
	" VERSION  CREATED              LABEL                   LINES        BYTES\n"
#define NO_MOUNT "no heapfs mount here: give -m MOUNTPOINT, set HEAPFS_MOUNT, or --store STORE_DIR"

/* The call failed with exactly @e. */
#define ck_assert_errno(expr, e)                                                  \
	do {                                                                      \
		errno = 0;                                                        \
		long long r_ = (long long)(expr);                                 \
		int e_ = errno;                                                   \
		ck_assert_msg(r_ == -1 && e_ == (e), "%s: got %lld, errno %d (%s); want -1, %s", \
			      #expr, r_, e_, strerror(e_), #e);                   \
	} while (0)

/* The call succeeded (returned 0). */
#define ck_assert_ok(expr)                                                        \
	do {                                                                      \
		errno = 0;                                                        \
		long long r_ = (long long)(expr);                                 \
		ck_assert_msg(r_ == 0, "%s: got %lld, errno %d (%s)", #expr, r_,  \
			      errno, strerror(errno));                            \
	} while (0)

/* ---- running heapctl ------------------------------------------------ */

/* The last heapctl run: its exit code (-1: killed), stdout, stderr. */
struct run {
	int code;
	char *out;
	char *err;
	char cmd[1024];        /* "heapctl ARGS", for messages */
	double secs;
};

static struct run last;

/*
 * Run heapctl with @args (NULL-terminated) in @cwd (NULL: the test's root,
 * outside the mount), HEAPFS_MOUNT set to @env (NULL: unset), stdin from
 * /dev/null.  Fails the test if it runs longer than CTL_TIMEOUT_S.
 */
static struct run *ctl_exec(const char *cwd, const char *env, const char *const *args)
{
	char *argv[40];
	char out_path[320], err_path[320], dir[4096];
	size_t n = 0, len;
	double start, end;
	pid_t pid;
	int st = 0;

	free(last.out);
	free(last.err);
	memset(&last, 0, sizeof(last));
	snprintf(out_path, sizeof(out_path), "%s/ctl.out", mu.root);
	snprintf(err_path, sizeof(err_path), "%s/ctl.err", mu.root);
	snprintf(dir, sizeof(dir), "%s", cwd ? cwd : mu.root);
	argv[n++] = (char *)(uintptr_t)"heapctl";
	len = (size_t)snprintf(last.cmd, sizeof(last.cmd), "heapctl");
	for (; *args && n < 39; args++) {
		argv[n++] = (char *)(uintptr_t)*args;
		if (len < sizeof(last.cmd))
			len += (size_t)snprintf(last.cmd + len, sizeof(last.cmd) - len, " '%s'",
						*args);
	}
	argv[n] = NULL;

	start = mu_now();
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 ||
		    dup2(e, 2) < 0 || chdir(dir) != 0)
			_exit(126);
		unsetenv("HEAPFS_MOUNT");
		if (env && setenv("HEAPFS_MOUNT", env, 1) != 0)
			_exit(126);
		execv(HEAPCTL_BIN, argv);
		_exit(127);
	}
	end = start + CTL_TIMEOUT_S;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (mu_now() >= end) {
			kill(pid, SIGKILL);   /* our own child, by its pid */
			waitpid(pid, &st, 0);
			ck_abort_msg("%s still ran after %.0f s", last.cmd, CTL_TIMEOUT_S);
		}
		mu_sleep_ms(2);
	}
	last.secs = mu_now() - start;
	last.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	ck_assert_msg(last.code != 126 && last.code != 127, "%s could not start (%d)", last.cmd,
		      last.code);
	last.out = mu_slurp(out_path, NULL);
	last.err = mu_slurp(err_path, NULL);
	ck_assert_msg(last.out && last.err, "reading heapctl's output: %s", strerror(errno));
	return &last;
}

/* heapctl -m MNT ARGS... */
#define CTL(...) ctl_exec(NULL, NULL, (const char *[]){ "-m", mu.mnt, __VA_ARGS__, NULL })
/* heapctl --store STORE ARGS... */
#define CTL_STORE(...) \
	ctl_exec(NULL, NULL, (const char *[]){ "--store", mu.store, __VA_ARGS__, NULL })
/* heapctl ARGS... in @cwd with HEAPFS_MOUNT=@env (NULL: unset) */
#define CTL_IN(cwd, env, ...) ctl_exec(cwd, env, (const char *[]){ __VA_ARGS__, NULL })

/* It exited 0, said nothing on stderr, and printed exactly @want. */
static void ok_out(const struct run *r, const char *want)
{
	ck_assert_msg(r->code == 0 && r->err[0] == '\0',
		      "%s: exit %d, stderr:\n%s", r->cmd, r->code, r->err);
	ck_assert_msg(strcmp(r->out, want) == 0, "%s printed:\n%s\nwant:\n%s", r->cmd, r->out,
		      want);
}

/* heapctl stat printed exactly @want for the heap, then its cache_ lines. */
/* @want, then the space figures (test_space_mount checks their values),
 * then the cache's. */
static void stat_out(const struct run *r, const char *want)
{
	size_t n = strlen(want);
	const char *p = r->out + n;
	unsigned long long ref, uniq;
	int used = 0;

	ck_assert_msg(r->code == 0 && r->err[0] == '\0',
		      "%s: exit %d, stderr:\n%s", r->cmd, r->code, r->err);
	ck_assert_msg(strncmp(r->out, want, n) == 0 &&
		      sscanf(p, "referenced: %llu\nunique: %llu\nlease: held\n%n", &ref, &uniq,
			     &used) == 2 &&
		      used > 0 && strncmp(p + used, "cache_", 6) == 0 && uniq <= ref,
		      "%s printed:\n%s\nwant it to start:\n%sreferenced: N\nunique: N\nlease: held\n"
		      "cache_...",
		      r->cmd, r->out, want);
}

/* It exited 1, printed nothing on stdout, and exactly @want on stderr. */
static void fails_with(const struct run *r, const char *want)
{
	ck_assert_msg(r->code == 1, "%s: exit %d, want 1; stdout:\n%s\nstderr:\n%s", r->cmd,
		      r->code, r->out, r->err);
	ck_assert_msg(r->out[0] == '\0', "%s printed on stdout:\n%s", r->cmd, r->out);
	ck_assert_msg(strcmp(r->err, want) == 0, "%s said:\n%s\nwant:\n%s", r->cmd, r->err, want);
}

/* A mistyped command line: exit 1, no stdout, @want then one usage line on stderr. */
static void fails_usage(const struct run *r, const char *want)
{
	size_t n = strlen(want);

	ck_assert_msg(r->code == 1 && r->out[0] == '\0', "%s: exit %d, want 1; stdout:\n%s",
		      r->cmd, r->code, r->out);
	ck_assert_msg(strncmp(r->err, want, n) == 0 && strncmp(r->err + n, "usage: heapctl ", 15) == 0 &&
		      strchr(r->err + n, '\n') == r->err + strlen(r->err) - 1,
		      "%s said:\n%s\nwant:\n%susage: heapctl ...", r->cmd, r->err, want);
}

/* It exited 1, nothing on stdout, one `heapctl: @what: ...` line on stderr. */
static void fails_about(const struct run *r, const char *what)
{
	char prefix[600];
	size_t n = strlen(r->err);

	snprintf(prefix, sizeof(prefix), "heapctl: %s: ", what);
	ck_assert_msg(r->code == 1, "%s: exit %d, want 1; stdout:\n%s\nstderr:\n%s", r->cmd,
		      r->code, r->out, r->err);
	ck_assert_msg(r->out[0] == '\0', "%s printed on stdout:\n%s", r->cmd, r->out);
	ck_assert_msg(strncmp(r->err, prefix, strlen(prefix)) == 0 && n > strlen(prefix) + 1 &&
		      r->err[n - 1] == '\n' && !memchr(r->err, '\n', n - 1),
		      "%s said:\n%s\nwant one line starting \"%s\"", r->cmd, r->err, prefix);
}

/* @s without any whitespace (the JSON checked here has none in its strings). */
static char *squeeze(const char *s)
{
	char *out = malloc(strlen(s) + 1), *w = out;

	ck_assert_ptr_nonnull(out);
	for (; *s; s++) {
		if (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r')
			*w++ = *s;
	}
	*w = '\0';
	return out;
}

/* It exited 0 with nothing on stderr, and its JSON is exactly @want (whitespace aside). */
static void ok_json(const struct run *r, const char *want)
{
	char *got;

	ck_assert_msg(r->code == 0 && r->err[0] == '\0',
		      "%s: exit %d, stderr:\n%s", r->cmd, r->code, r->err);
	got = squeeze(r->out);
	ck_assert_msg(strcmp(got, want) == 0, "%s printed:\n%s\nwant (whitespace aside):\n%s",
		      r->cmd, r->out, want);
	free(got);
}

/*
 * It exited 0 with nothing on stderr, and its JSON is one object holding
 * each of the NULL-terminated @fields (whitespace aside), at its top level
 * or below.
 */
static void ok_json_has(const struct run *r, ...)
{
	const char *field;
	va_list ap;
	char *got;
	size_t n;

	ck_assert_msg(r->code == 0 && r->err[0] == '\0',
		      "%s: exit %d, stderr:\n%s", r->cmd, r->code, r->err);
	got = squeeze(r->out);
	n = strlen(got);
	ck_assert_msg(n >= 2 && got[0] == '{' && got[n - 1] == '}', "%s printed:\n%s", r->cmd,
		      r->out);
	va_start(ap, r);
	while ((field = va_arg(ap, const char *))) {
		ck_assert_msg(strstr(got, field), "%s printed:\n%s\nwithout %s", r->cmd, r->out,
			      field);
	}
	va_end(ap);
	free(got);
}

/* ---- the tree --------------------------------------------------------- */

/* Fill [off, off + len) of heap @heap with mu_fill(@seed) content. */
static void fill_at(const char *heap, uint64_t seed, uint64_t off, size_t len)
{
	int fd = mu_open(mu_at("%s/heap", heap), O_RDWR);
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	mu_fill(buf, len, seed, off);
	mu_pwrite_all(fd, buf, len, off);
	close(fd);
	free(buf);
}

/* [off, off + len) of @rel (relative to the mount) holds mu_fill(@seed) content. */
static void expect_fill(const char *rel, uint64_t seed, uint64_t off, size_t len)
{
	int fd = mu_open(mu_at("%s", rel), O_RDONLY);
	uint8_t *got = malloc(len), *want = malloc(len);

	ck_assert(got && want);
	mu_pread_all(fd, got, len, off);
	mu_fill(want, len, seed, off);
	ck_assert_msg(memcmp(got, want, len) == 0, "%s [%llu, +%zu) is not seed %llu", rel,
		      (unsigned long long)off, len, (unsigned long long)seed);
	close(fd);
	free(got);
	free(want);
}

/* @text at @off of @rel, without truncating it. */
static void pwrite_at(const char *rel, const char *text, uint64_t off)
{
	int fd = mu_open(mu_at("%s", rel), O_WRONLY);

	mu_pwrite_all(fd, text, strlen(text), off);
	close(fd);
}

static void write_file(const char *rel, const char *text)
{
	int fd = mu_open(mu_at("%s", rel), O_WRONLY | O_TRUNC);

	mu_pwrite_all(fd, text, strlen(text), 0);
	close(fd);
}

static off_t size_of(const char *rel)
{
	struct stat st;

	ck_assert_msg(stat(mu_at("%s", rel), &st) == 0, "stat %s: %s", rel, strerror(errno));
	return st.st_size;
}

static char *slurp_at(const char *rel)
{
	char *t = mu_slurp(mu_at("%s", rel), NULL);

	ck_assert_msg(t != NULL, "read %s: %s", rel, strerror(errno));
	return t;
}

/* readdir of @dir holds exactly the names in @want, in any order. */
static void assert_dir_set(const char *dir, const char *want)
{
	char *l = mu_list(dir), *got, *w;

	ck_assert_msg(l != NULL, "readdir %s: %s", dir, strerror(errno));
	got = mu_lines_sorted(l);
	w = mu_lines_sorted(want);
	ck_assert_msg(strcmp(got, w) == 0, "readdir %s (sorted):\n%s\nwant:\n%s", dir, got, w);
	free(l);
	free(got);
	free(w);
}

/* One row of `heapctl ls`. */
static const char *ls_row(const char *name, unsigned long long size, unsigned line,
			  unsigned long long lines, unsigned ckpts)
{
	static char rows[4][512];
	static unsigned next;
	char *r = rows[next++ % 4];

	snprintf(r, 512, "%-24s %14llu %8u %10llu %6u  live\n", name, size, line, lines, ckpts);
	return r;
}

/* `heapctl ls` prints exactly @rows under its header. */
static void ls_is(const char *rows)
{
	char want[4096];

	snprintf(want, sizeof(want), LS_HEADER "%s", rows);
	ok_out(CTL("ls"), want);
}

/* ---- commands through the mount ------------------------------------- */

START_TEST(create_makes_a_heap_with_that_size_and_line_size)
{
	struct stat st;
	char attr[64];
	ssize_t n;
	int fd;

	ok_out(CTL("create", "app", "--size", "1M", "--line", "16K"), "");
	ck_assert_ok(stat(mu_at("app"), &st));
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_ok(stat(mu_at("app/heap"), &st));
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 1 * MiB);
	ck_assert_int_eq(st.st_blksize, 16 * KiB);
	n = getxattr(mu_at("app"), "user.heapfs.line_size", attr, sizeof(attr) - 1);
	ck_assert_msg(n > 0, "getxattr: %s", strerror(errno));
	attr[n] = '\0';
	ck_assert_str_eq(attr, "16384");
	mu_assert_text_line("app/stat", "size: 1048576");
	mu_assert_text_line("app/stat", "line_size: 16384");
	mu_assert_text_line("app/stat", "lines_used: 0");
	mu_assert_text_line("app/stat", "checkpoints: 0");
	/* The lines really are 16 KiB: a byte at 40000 is in line 2, at 0x8000. */
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	mu_pwrite_all(fd, "x", 1, 40000);
	close(fd);
	assert_dir_set(mu_at("app/lines"), "0000000000008000\n");

	/* Without options: size 0 and the mount's line size. */
	ok_out(CTL("create", "plain"), "");
	ck_assert_int_eq(size_of("plain/heap"), 0);
	n = getxattr(mu_at("plain"), "user.heapfs.line_size", attr, sizeof(attr) - 1);
	ck_assert_int_gt(n, 0);
	attr[n] = '\0';
	ck_assert_str_eq(attr, "65536");

	/* Sparse, with a quota and a reserve. */
	ok_out(CTL("create", "big", "--size", "8G", "--quota", "2M", "--reserve", "1M"), "");
	ck_assert_ok(stat(mu_at("big/heap"), &st));
	ck_assert_int_eq(st.st_size, 8ULL << 30);
	ck_assert_int_eq(st.st_blocks, 0);
	mu_assert_text_line("big/stat", "quota: 2097152");
	mu_assert_text_line("big/stat", "reserve: 1048576");
	assert_dir_set(mu.mnt, ".heapfs\napp\nplain\nbig\n");
}
END_TEST

START_TEST(create_of_an_existing_heap_is_refused)
{
	int fd;
	char c = 0;

	ok_out(CTL("create", "app", "--size", "64K"), "");
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	mu_pwrite_all(fd, "x", 1, 100);
	fails_with(CTL("create", "app", "--size", "1M", "--line", "4K"),
		   "heapctl: create app: heap 'app' exists\n");
	ck_assert_int_eq(size_of("app/heap"), 64 * KiB);
	mu_assert_text_line("app/stat", "line_size: 65536");
	mu_pread_all(fd, &c, 1, 100);
	ck_assert_int_eq(c, 'x');
	close(fd);
	/* A heap made with mkdir is just as taken. */
	ck_assert_ok(mkdir(mu_at("shell"), 0755));
	fails_with(CTL("create", "shell", "--size", "1M"),
		   "heapctl: create shell: heap 'shell' exists\n");
	{
		char want[512];

		snprintf(want, sizeof(want), "%s%s", ls_row("app", 64 * KiB, 65536, 1, 0),
			 ls_row("shell", 0, 65536, 0, 0));
		ls_is(want);
	}
}
END_TEST

START_TEST(ls_lists_every_heap_in_name_order)
{
	char want[2048];

	ls_is("");
	ok_json(CTL("--json", "ls"), "{\"heaps\":[]}");

	ck_assert_ok(mkdir(mu_at("zeta"), 0755));   /* heaps made by the shell count too */
	ok_out(CTL("create", "alpha", "--size", "1M", "--line", "16K"), "");
	fill_at("alpha", 1, 0, 100);
	fill_at("alpha", 2, 40000, 100);              /* line 2 */
	ck_assert_ok(mkdir(mu_at("alpha/checkpoints/c"), 0755));
	snprintf(want, sizeof(want), "%s%s", ls_row("alpha", MiB, 16384, 2, 1),
		 ls_row("zeta", 0, 65536, 0, 0));
	ls_is(want);
	{
		/* The space figures: the same as the heap's attributes. */
		char json[1024];
		unsigned long long ref = mu_xattr_u64("alpha", "user.heapfs.referenced");
		unsigned long long uniq = mu_xattr_u64("alpha", "user.heapfs.unique");

		ck_assert_uint_gt(ref, 0);
		ck_assert_uint_eq(uniq, ref);   /* nothing else holds its lines */
		snprintf(json, sizeof(json),
			 "{\"heaps\":["
			 "{\"name\":\"alpha\",\"size\":1048576,\"line_size\":16384,\"lines_used\":2,"
			 "\"version\":2,\"latest\":1,\"checkpoints\":1,\"quota\":0,\"reserve\":0,"
			 "\"state\":\"live\",\"state_size\":0,\"owner\":0,\"group\":0,\"mode\":\"0700\","
			 "\"referenced\":%llu,\"unique\":%llu,\"lease\":\"held\"},"
			 "{\"name\":\"zeta\",\"size\":0,\"line_size\":65536,\"lines_used\":0,"
			 "\"version\":1,\"latest\":0,\"checkpoints\":0,\"quota\":0,\"reserve\":0,"
			 "\"state\":\"live\",\"state_size\":0,\"owner\":0,\"group\":0,\"mode\":\"0700\","
			 "\"referenced\":0,\"unique\":0,\"lease\":\"held\"}]}", ref, uniq);
		ok_json(CTL("--json", "ls"), json);
	}
	/* A heap removed with rmdir leaves the list. */
	ck_assert_ok(rmdir(mu_at("zeta")));
	ls_is(ls_row("alpha", MiB, 16384, 2, 1));
}
END_TEST

START_TEST(stat_prints_every_field)
{
	ok_out(CTL("create", "app", "--size", "256K", "--quota", "1M", "--reserve", "64K"), "");
	write_file("app/state", "regs");
	fill_at("app", 3, LS + 10, 20);
	ok_out(CTL("checkpoint", "app"), "1\n");
	{
		const struct run *r = CTL("stat", "app");
		const char *want =
			"name: app\nsize: 262144\nline_size: 65536\nlines_used: 1\nversion: 2\n"
			"latest: 1\ncheckpoints: 1\nquota: 1048576\nreserve: 65536\nstate: live\n"
			"state_size: 4\nowner: 0\ngroup: 0\nmode: 0700\nreferenced: ";

		ck_assert_msg(r->code == 0 && strncmp(r->out, want, strlen(want)) == 0,
			      "%s printed:\n%s\nwant it to start:\n%s", r->cmd, r->out, want);
		/* The line cache: written back by the checkpoint, default limit. */
		ck_assert_msg(mu_has_line(r->out, "cache_lines_dirty: 0") &&
			      mu_has_line(r->out, "cache_limit: 268435456") &&
			      strstr(r->out, "\ncache_blocks_grown: ") &&
			      strstr(r->out, "\ncache_idle_evictions: "), "%s", r->out);
	}
	ok_json_has(CTL("--json", "stat", "app"),
		    "\"heap\":{\"name\":\"app\",\"size\":262144,\"line_size\":65536,"
		    "\"lines_used\":1,\"version\":2,\"latest\":1,\"checkpoints\":1,"
		    "\"quota\":1048576,\"reserve\":65536,\"state\":\"live\",\"state_size\":4,"
		    "\"owner\":0,\"group\":0,\"mode\":\"0700\",\"referenced\":",
		    "\"lines_dirty\":0", NULL);
	/* The mount's stat file tells the same story. */
	ck_assert_uint_eq(mu_text_u64("app/stat", "size"), 262144);
	ck_assert_uint_eq(mu_text_u64("app/stat", "lines_used"), 1);
	ck_assert_uint_eq(mu_text_u64("app/stat", "version"), 2);
	ck_assert_uint_eq(mu_text_u64("app/stat", "checkpoints"), 1);
	ck_assert_uint_eq(mu_text_u64("app/stat", "state_size"), 4);
}
END_TEST

START_TEST(checkpoint_prints_its_number_and_appears_in_the_tree)
{
	ok_out(CTL("create", "app", "--size", "128K"), "");
	fill_at("app", 1, 0, 2 * LS);
	ok_out(CTL("checkpoint", "app"), "1\n");
	fill_at("app", 2, LS, LS);   /* completed before the next request: in checkpoint 2 */
	ok_out(CTL("checkpoint", "app", "--label", "before"), "2\n");
	fill_at("app", 3, 0, 2 * LS);

	assert_dir_set(mu_at("app/checkpoints"), "1\n2\nbefore\nlatest\n");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/before"), "2");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/latest"), "2");
	expect_fill("app/checkpoints/1/heap", 1, 0, 2 * LS);
	expect_fill("app/checkpoints/2/heap", 1, 0, LS);
	expect_fill("app/checkpoints/2/heap", 2, LS, LS);
	expect_fill("app/checkpoints/before/heap", 2, LS, LS);
	expect_fill("app/heap", 3, 0, 2 * LS);
	mu_assert_text_line("app/checkpoints/2/stat", "label: before");
	mu_assert_text_line("app/checkpoints/2/stat", "parent: 1");
	mu_assert_text_line("app/checkpoints/1/stat", "label: ");

	ok_json(CTL("--json", "checkpoint", "app", "--label", "after"), "{\"version\":3}");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/after"), "3");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/latest"), "3");
	expect_fill("app/checkpoints/after/heap", 3, 0, 2 * LS);
	mu_assert_text_line("app/stat", "checkpoints: 3");
}
END_TEST

START_TEST(suspend_refuses_writes_until_resume)
{
	char buf[16] = "after";
	int fd;

	ok_out(CTL("create", "app", "--size", "128K"), "");
	fill_at("app", 1, 0, 2 * LS);
	fd = mu_open(mu_at("app/heap"), O_RDWR);   /* open before, writing after */
	ok_out(CTL("suspend", "app"), "1\n");      /* a checkpoint of everything */
	expect_fill("app/checkpoints/1/heap", 1, 0, 2 * LS);
	mu_assert_text_line("app/stat", "state: suspended");
	mu_assert_text_line("app/stat", "lines_resident: 0");
	ck_assert_errno(pwrite(fd, buf, 5, 0), EROFS);
	ck_assert_errno(ftruncate(fd, 0), EROFS);
	ck_assert_errno(truncate(mu_at("app/state"), 10), EROFS);
	fails_about(CTL("restore", "app", "1"), "restore app");
	fails_about(CTL("suspend", "app"), "suspend app");
	expect_fill("app/heap", 1, 0, 2 * LS);      /* reads work; nothing changed */
	ck_assert_int_eq(size_of("app/heap"), (off_t)(2 * LS));
	/* It survives a remount, and resume undoes it. */
	close(fd);
	mu_remount();
	mu_assert_text_line("app/stat", "state: suspended");
	ok_out(CTL("resume", "app"), "");
	mu_assert_text_line("app/stat", "state: live");
	fails_about(CTL("resume", "app"), "resume app");
	pwrite_at("app/heap", "after", 0);
	fd = mu_open(mu_at("app/heap"), O_RDONLY);
	ck_assert_int_eq(pread(fd, buf, 5, 0), 5);
	ck_assert_mem_eq(buf, "after", 5);
	close(fd);
}
END_TEST

/* checkpoints/N/stat's "created: S.NNNNNNNNN" in ns. */
static uint64_t created_ns(unsigned v)
{
	char rel[64], *t, *p;
	unsigned long long s = 0, ns = 0;

	snprintf(rel, sizeof(rel), "app/checkpoints/%u/stat", v);
	t = slurp_at(rel);
	p = strstr(t, "created: ");
	ck_assert_msg(p && sscanf(p, "created: %llu.%llu", &s, &ns) == 2, "%s:\n%s", rel, t);
	free(t);
	return s * 1000000000ULL + ns;
}

/* One row of `heapctl checkpoints`, its time from checkpoints/N/stat. */
static const char *ckpt_row(unsigned v, const char *label, unsigned lines)
{
	static char row[256];
	char rel[64], when[32];
	time_t t = (time_t)(created_ns(v) / 1000000000ULL);
	struct tm tm;

	snprintf(rel, sizeof(rel), "app/checkpoints/%u/stat", v);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	snprintf(row, sizeof(row), "%8u  %-19s  %-20s %8u %12llu\n", v, when, label, lines,
		 (unsigned long long)mu_text_u64(rel, "bytes"));
	return row;
}

START_TEST(checkpoints_lists_versions_labels_and_changes)
{
	char want[2048], json[2048];
	size_t n;

	ok_out(CTL("create", "app", "--size", "256K"), "");
	ok_out(CTL("checkpoints", "app"), CKPTS_HEADER);
	ok_json(CTL("--json", "checkpoints", "app"), "{\"checkpoints\":[]}");

	fill_at("app", 1, 0, 2 * LS);
	ok_out(CTL("checkpoint", "app"), "1\n");
	ok_out(CTL("checkpoint", "app", "--label", "same"), "2\n");   /* nothing changed */
	fill_at("app", 2, 3 * LS, 10);
	ok_out(CTL("checkpoint", "app", "--label", "third"), "3\n");

	ck_assert_uint_gt(mu_text_u64("app/checkpoints/1/stat", "bytes"), 0);
	ck_assert_uint_eq(mu_text_u64("app/checkpoints/2/stat", "bytes"), 0);
	n = (size_t)snprintf(want, sizeof(want), CKPTS_HEADER "%s", ckpt_row(1, "", 2));
	n += (size_t)snprintf(want + n, sizeof(want) - n, "%s", ckpt_row(2, "same", 0));
	snprintf(want + n, sizeof(want) - n, "%s", ckpt_row(3, "third", 1));
	ok_out(CTL("checkpoints", "app"), want);

	snprintf(json, sizeof(json),
		 "{\"checkpoints\":["
		 "{\"version\":1,\"parent\":0,\"created_ns\":%llu,\"label\":\"\","
		 "\"lines_changed\":2,\"bytes_changed\":%llu,\"size\":262144,\"lines_used\":2,"
		 "\"state_size\":0},"
		 "{\"version\":2,\"parent\":1,\"created_ns\":%llu,\"label\":\"same\","
		 "\"lines_changed\":0,\"bytes_changed\":0,\"size\":262144,\"lines_used\":2,"
		 "\"state_size\":0},"
		 "{\"version\":3,\"parent\":2,\"created_ns\":%llu,\"label\":\"third\","
		 "\"lines_changed\":1,\"bytes_changed\":%llu,\"size\":262144,\"lines_used\":3,"
		 "\"state_size\":0}]}",
		 (unsigned long long)created_ns(1),
		 (unsigned long long)mu_text_u64("app/checkpoints/1/stat", "bytes"),
		 (unsigned long long)created_ns(2), (unsigned long long)created_ns(3),
		 (unsigned long long)mu_text_u64("app/checkpoints/3/stat", "bytes"));
	ok_json(CTL("--json", "checkpoints", "app"), json);
	ck_assert_uint_lt(created_ns(1), created_ns(2));
	ck_assert_uint_lt(created_ns(2), created_ns(3));
}
END_TEST

START_TEST(diff_lists_exactly_the_changed_lines)
{
	int fd;

	ok_out(CTL("create", "app", "--size", "512K"), "");
	fill_at("app", 1, 0, 2 * LS);       /* lines 0, 1 */
	fill_at("app", 1, 3 * LS, LS);      /* line 3 */
	ok_out(CTL("checkpoint", "app"), "1\n");
	fill_at("app", 2, LS + 100, 10);    /* line 1 changes */
	fill_at("app", 2, 5 * LS, 10);      /* line 5 appears */
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	ck_assert_ok(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 3 * LS, LS));
	close(fd);                          /* line 3 goes */
	ok_out(CTL("checkpoint", "app", "--label", "two"), "2\n");
	fill_at("app", 3, 7 * LS, 10);      /* line 7, live only */

	ok_out(CTL("diff", "app", "1", "2"),
	       "0000000000010000\n0000000000030000\n0000000000050000\n");
	ok_out(CTL("diff", "app", "2", "1"),
	       "0000000000010000\n0000000000030000\n0000000000050000\n");
	ok_out(CTL("diff", "app", "two", "live"), "0000000000070000\n");
	ok_out(CTL("diff", "app", "latest", "live"), "0000000000070000\n");
	ok_out(CTL("diff", "app", "live", "1"),
	       "0000000000010000\n0000000000030000\n0000000000050000\n0000000000070000\n");
	ok_out(CTL("diff", "app", "2", "two"), "");
	ok_out(CTL("diff", "app", "live", "live"), "");
	ok_json(CTL("--json", "diff", "app", "1", "2"),
		"{\"lines\":[1,3,5],\"state_lines\":[],\"line_size\":65536}");
	ok_json(CTL("--json", "diff", "app", "2", "2"),
		"{\"lines\":[],\"state_lines\":[],\"line_size\":65536}");
}
END_TEST

START_TEST(diff_lists_state_lines_apart)
{
	ok_out(CTL("create", "app", "--size", "64K", "--line", "16K"), "");
	write_file("app/state", "abc");
	fill_at("app", 1, 0, 100);
	ok_out(CTL("checkpoint", "app"), "1\n");
	/* The state's second line (of the heap's 16 KiB lines) appears. */
	pwrite_at("app/state", "Q", 16 * KiB + 5);
	ok_out(CTL("diff", "app", "1", "live"), "state 0000000000004000\n");
	fill_at("app", 2, 32 * KiB, 10);
	ok_out(CTL("diff", "app", "1", "live"), "0000000000008000\nstate 0000000000004000\n");
	ok_json(CTL("--json", "diff", "app", "live", "1"),
		"{\"lines\":[2],\"state_lines\":[1],\"line_size\":16384}");
	/* And the first state line, changed in place. */
	pwrite_at("app/state", "xyz", 0);
	ok_out(CTL("diff", "app", "1", "live"),
	       "0000000000008000\nstate 0000000000000000\nstate 0000000000004000\n");
}
END_TEST

START_TEST(restore_by_number_latest_and_label)
{
	int fd;
	struct stat st;

	ok_out(CTL("create", "app", "--size", "128K"), "");
	fd = mu_open(mu_at("app/heap"), O_RDWR);     /* open across every restore */
	fill_at("app", 1, 0, 2 * LS);
	write_file("app/state", "s1");
	ok_out(CTL("checkpoint", "app", "--label", "first"), "1\n");
	fill_at("app", 2, LS, LS);
	ck_assert_ok(ftruncate(fd, 3 * LS));
	fill_at("app", 3, 2 * LS, LS);
	write_file("app/state", "s2-longer");
	ok_out(CTL("checkpoint", "app"), "2\n");
	fill_at("app", 4, 0, 3 * LS);                /* live: neither checkpoint */
	expect_fill("app/heap", 4, 0, 3 * LS);

	ok_out(CTL("restore", "app", "1"), "restored to 1\n");
	ck_assert_ok(fstat(fd, &st));
	ck_assert_int_eq(st.st_size, 2 * LS);
	expect_fill("app/heap", 1, 0, 2 * LS);
	{
		uint8_t got[2 * LS], want[2 * LS];

		mu_pread_all(fd, got, sizeof(got), 0);  /* the descriptor from before */
		mu_fill(want, sizeof(want), 1, 0);
		ck_assert(memcmp(got, want, sizeof(got)) == 0);
	}
	assert_dir_set(mu_at("app/lines"), "0000000000000000\n0000000000010000\n");
	{
		char *s = slurp_at("app/state");

		ck_assert_str_eq(s, "s1");
		free(s);
	}
	ok_out(CTL("diff", "app", "1", "live"), "");

	ok_out(CTL("restore", "app", "latest"), "restored to 2\n");
	ck_assert_int_eq(size_of("app/heap"), 3 * LS);
	expect_fill("app/heap", 1, 0, LS);
	expect_fill("app/heap", 2, LS, LS);
	expect_fill("app/heap", 3, 2 * LS, LS);
	ok_out(CTL("diff", "app", "2", "live"), "");

	ok_out(CTL("restore", "app", "first"), "restored to 1\n");
	ck_assert_int_eq(size_of("app/heap"), 2 * LS);
	expect_fill("app/heap", 1, 0, 2 * LS);
	ok_json(CTL("--json", "restore", "app", "2"), "{\"version\":2}");
	expect_fill("app/heap", 3, 2 * LS, LS);

	/* The checkpoints are untouched and numbering goes on. */
	assert_dir_set(mu_at("app/checkpoints"), "1\n2\nfirst\nlatest\n");
	expect_fill("app/checkpoints/1/heap", 1, 0, 2 * LS);
	ck_assert_int_eq(size_of("app/checkpoints/1/heap"), 2 * LS);
	fill_at("app", 5, 0, 10);
	ok_out(CTL("checkpoint", "app"), "3\n");
	mu_assert_text_line("app/checkpoints/3/stat", "parent: 2");
	close(fd);
}
END_TEST

START_TEST(rm_checkpoint_by_number_and_label)
{
	ok_out(CTL("create", "app", "--size", "64K"), "");
	fill_at("app", 1, 0, LS);
	ok_out(CTL("checkpoint", "app"), "1\n");
	ok_out(CTL("checkpoint", "app", "--label", "keep"), "2\n");
	ok_out(CTL("checkpoint", "app", "--label", "gone"), "3\n");

	ok_out(CTL("rm-checkpoint", "app", "1"), "");
	ck_assert_errno(access(mu_at("app/checkpoints/1"), F_OK), ENOENT);
	assert_dir_set(mu_at("app/checkpoints"), "2\n3\nkeep\ngone\nlatest\n");
	ok_out(CTL("rm-checkpoint", "app", "gone"), "");
	assert_dir_set(mu_at("app/checkpoints"), "2\nkeep\nlatest\n");
	ck_assert_errno(access(mu_at("app/checkpoints/gone"), F_OK), ENOENT);
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/latest"), "2");

	/* Gone is gone: refused, and nothing else goes with it. */
	fails_with(CTL("rm-checkpoint", "app", "1"),
		   "heapctl: rm-checkpoint app: heap 'app' has no checkpoint 1\n");
	fails_with(CTL("rm-checkpoint", "app", "gone"),
		   "heapctl: rm-checkpoint app: heap 'app' has no checkpoint labelled 'gone'\n");
	assert_dir_set(mu_at("app/checkpoints"), "2\nkeep\nlatest\n");
	expect_fill("app/checkpoints/keep/heap", 1, 0, LS);

	ok_out(CTL("rm-checkpoint", "app", "latest"), "");
	assert_dir_set(mu_at("app/checkpoints"), "");
	mu_assert_text_line("app/stat", "checkpoints: 0");
	expect_fill("app/heap", 1, 0, LS);           /* the live heap stays */
	ok_out(CTL("checkpoint", "app"), "4\n");     /* numbers are not reused */
	fails_usage(CTL("rm-checkpoint", "app"), "heapctl: rm-checkpoint app: which version "
		    "(a number, latest or a label)?\n");
}
END_TEST

START_TEST(rm_deletes_a_heap_and_only_it)
{
	ok_out(CTL("create", "app", "--size", "128K"), "");
	ok_out(CTL("create", "other", "--size", "64K"), "");
	fill_at("app", 1, 0, 2 * LS);
	fill_at("other", 2, 0, LS);
	ok_out(CTL("checkpoint", "app", "--label", "x"), "1\n");

	ok_out(CTL("rm", "app"), "");
	ck_assert_errno(access(mu_at("app"), F_OK), ENOENT);
	assert_dir_set(mu.mnt, ".heapfs\nother\n");
	ls_is(ls_row("other", 64 * KiB, 65536, 1, 0));
	expect_fill("other/heap", 2, 0, LS);
	fails_with(CTL("rm", "app"), "heapctl: rm app: no heap named 'app'\n");
	fails_with(CTL("stat", "app"), "heapctl: stat app: no heap named 'app'\n");

	/* The name is free again, for a heap with nothing of the old one. */
	ok_out(CTL("create", "app"), "");
	stat_out(CTL("stat", "app"),
	       "name: app\nsize: 0\nline_size: 65536\nlines_used: 0\nversion: 1\n"
	       "latest: 0\ncheckpoints: 0\nquota: 0\nreserve: 0\nstate: live\nstate_size: 0\nowner: 0\ngroup: 0\nmode: 0700\n");
	assert_dir_set(mu_at("app/checkpoints"), "");
}
END_TEST

/* ---- finding the mount ---------------------------------------------- */

static void setup_app(void)
{
	mu_setup();
	ck_assert_int_eq(mkdir(mu_at("app"), 0755), 0);
	ck_assert_int_eq(truncate(mu_at("app/heap"), (off_t)LS), 0);
}

START_TEST(mount_from_dash_m)
{
	char want[512];

	snprintf(want, sizeof(want), LS_HEADER "%s", ls_row("app", LS, 65536, 0, 0));
	ok_out(CTL_IN("/", NULL, "-m", mu.mnt, "ls"), want);
	ok_out(CTL_IN(NULL, NULL, "-m", mu.mnt, "checkpoint", "app"), "1\n");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/latest"), "1");
	/* -m wins over $HEAPFS_MOUNT. */
	snprintf(want, sizeof(want), LS_HEADER "%s", ls_row("app", LS, 65536, 0, 1));
	ok_out(CTL_IN(NULL, "/nonexistent-heapfs", "-m", mu.mnt, "ls"), want);
}
END_TEST

START_TEST(mount_from_heapfs_mount_env)
{
	char want[512], why[700];

	snprintf(want, sizeof(want), LS_HEADER "%s", ls_row("app", LS, 65536, 0, 0));
	ok_out(CTL_IN("/", mu.mnt, "ls"), want);
	ok_out(CTL_IN(NULL, mu.mnt, "checkpoint", "app", "--label", "env"), "1\n");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/env"), "1");
	/* $HEAPFS_MOUNT wins over the current directory, and must be a mount. */
	snprintf(why, sizeof(why), "heapctl: ls: %s/.heapfs/ctl: No such file or directory\n",
		 mu.root);
	fails_with(CTL_IN(mu_at("app"), mu.root, "ls"), why);
}
END_TEST

START_TEST(mount_from_the_current_directory)
{
	char want[512];

	snprintf(want, sizeof(want), LS_HEADER "%s", ls_row("app", LS, 65536, 0, 0));
	ok_out(CTL_IN(mu.mnt, NULL, "ls"), want);
	ok_out(CTL_IN(mu_at("app"), NULL, "ls"), want);
	ok_out(CTL_IN(mu_at("app/lines"), NULL, "checkpoint", "app"), "1\n");
	ok_out(CTL_IN(mu_at("app/checkpoints/1"), NULL, "diff", "app", "1", "live"), "");
	stat_out(CTL_IN(mu_at(".heapfs"), NULL, "stat", "app"),
	       "name: app\nsize: 65536\nline_size: 65536\nlines_used: 0\nversion: 2\n"
	       "latest: 1\ncheckpoints: 1\nquota: 0\nreserve: 0\nstate: live\nstate_size: 0\nowner: 0\ngroup: 0\nmode: 0700\n");
}
END_TEST

START_TEST(no_mount_anywhere_is_an_error)
{
	char why[700];

	fails_with(CTL_IN(NULL, NULL, "ls"), "heapctl: ls: " NO_MOUNT "\n");
	fails_with(CTL_IN("/", NULL, "checkpoint", "app"),
		   "heapctl: checkpoint app: " NO_MOUNT "\n");
	fails_with(CTL_IN(mu.store, NULL, "create", "new"), "heapctl: create new: " NO_MOUNT "\n");
	/* -m at a directory that is no mount. */
	snprintf(why, sizeof(why), "heapctl: ls: %s/.heapfs/ctl: No such file or directory\n",
		 mu.root);
	fails_with(CTL_IN(NULL, NULL, "-m", mu.root, "ls"), why);
	/* None of it reached the mount. */
	mu_assert_text_line("app/stat", "checkpoints: 0");
	assert_dir_set(mu.mnt, ".heapfs\napp\n");
}
END_TEST

/* ---- --store ---------------------------------------------------------- */

/* app: 2 lines of seed 1, checkpoint 1 'first', then line 1 of seed 2 live. */
static void setup_store(void)
{
	setup_app();
	ck_assert_int_eq(truncate(mu_at("app/heap"), (off_t)(2 * LS)), 0);
	fill_at("app", 1, 0, 2 * LS);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/first"), 0755), 0);
	fill_at("app", 2, LS, LS);
}

START_TEST(store_commands_on_an_unmounted_store)
{
	char want[512];

	mu_unmount();
	snprintf(want, sizeof(want), LS_HEADER "%s", ls_row("app", 2 * LS, 65536, 2, 1));
	ok_out(CTL_STORE("ls"), want);
	stat_out(CTL_STORE("stat", "app"),
	       "name: app\nsize: 131072\nline_size: 65536\nlines_used: 2\nversion: 2\n"
	       "latest: 1\ncheckpoints: 1\nquota: 0\nreserve: 0\nstate: live\nstate_size: 0\nowner: 0\ngroup: 0\nmode: 0700\n");
	ok_out(CTL_STORE("checkpoint", "app", "--label", "offline"), "2\n");
	ok_out(CTL_STORE("diff", "app", "first", "offline"), "0000000000010000\n");
	ok_out(CTL_STORE("restore", "app", "first"), "restored to 1\n");
	ok_out(CTL_STORE("create", "new", "--size", "1M", "--line", "4K"), "");
	ok_out(CTL_IN(NULL, NULL, "fsck", "--store", mu.store), "0 errors\n");

	/* The daemon finds all of it. */
	mu_mount(NULL);
	assert_dir_set(mu_at("app/checkpoints"), "1\n2\nfirst\noffline\nlatest\n");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/offline"), "2");
	expect_fill("app/checkpoints/2/heap", 1, 0, LS);
	expect_fill("app/checkpoints/2/heap", 2, LS, LS);
	expect_fill("app/heap", 1, 0, 2 * LS);       /* restored to 1 */
	ck_assert_int_eq(size_of("new/heap"), MiB);
	mu_assert_text_line("new/stat", "line_size: 4096");
}
END_TEST

/*
 * With --store heapctl writes the stream itself: a reader that went away
 * is an error it reports (exit 1, why), as through the mount, not a
 * silent death by SIGPIPE (which, in a migration, would also skip giving
 * the lease back).
 */
START_TEST(store_send_to_a_reader_gone_exits_1)
{
	char cmd[2048], *rc, *err;

	/* 8 MiB that do not compress: more than any pipe holds. */
	ck_assert_int_eq(mkdir(mu_at("big"), 0700), 0);
	snprintf(cmd, sizeof(cmd), "head -c 8M /dev/urandom > '%s'", mu_at("big/heap"));
	ck_assert_int_eq(mu_sh(NULL, cmd), 0);
	ok_out(CTL("checkpoint", "big"), "1\n");
	mu_unmount();
	snprintf(cmd, sizeof(cmd),
		 "{ '%s' --store '%s' send big 2>'%s'; echo $? > '%s'; } | head -c 1 >/dev/null",
		 HEAPCTL_BIN, mu.store, mu_in_root("send.err"), mu_in_root("send.rc"));
	ck_assert_int_eq(mu_sh(NULL, cmd), 0);
	rc = mu_slurp(mu_in_root("send.rc"), NULL);
	err = mu_slurp(mu_in_root("send.err"), NULL);
	ck_assert_msg(rc && strcmp(rc, "1\n") == 0, "heapctl --store send: exit %s, said:\n%s",
		      rc ? rc : "?", err ? err : "");
	ck_assert_msg(err && strcmp(err, "heapctl: send big: writing the stream: Broken pipe\n") == 0,
		      "said:\n%s", err ? err : "");
	free(rc);
	free(err);
	ok_out(CTL_IN(NULL, NULL, "fsck", "--store", mu.store), "0 errors\n");
	mu_mount(NULL);
}
END_TEST

START_TEST(store_held_by_the_daemon_is_refused)
{
	static const char *const cmds[][4] = {
		{ "ls" }, { "stat", "app" }, { "checkpoint", "app" }, { "create", "new" },
		{ "restore", "app", "1" }, { "rm", "app" },
	};
	char want[512];

	snprintf(want, sizeof(want), LS_HEADER "%s", ls_row("app", 2 * LS, 65536, 2, 1));
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const struct run *r = CTL_IN(NULL, NULL, "--store", mu.store, cmds[i][0],
					     cmds[i][1], cmds[i][2]);

		/* `heapctl: STORE: ...` naming the store and why: a mount has it. */
		fails_about(r, mu.store);
		ck_assert_msg(strstr(r->err, "in use (mounted"), "%s: why?\n%s", r->cmd, r->err);
		ck_assert_msg(r->secs < 10, "%s took %.1f s", r->cmd, r->secs);
	}
	/* Nothing changed, and the daemon serves on. */
	ok_out(CTL("ls"), want);
	ck_assert_errno(access(mu_at("new"), F_OK), ENOENT);
	assert_dir_set(mu_at("app/checkpoints"), "1\nfirst\nlatest\n");
	expect_fill("app/heap", 2, LS, LS);
	ok_out(CTL("checkpoint", "app"), "2\n");
	/* fsck opens it read-only, and checks it as of its start. */
	ok_out(CTL_IN(NULL, NULL, "fsck", "--store", mu.store), "0 errors\n");
	ok_out(CTL("checkpoint", "app"), "3\n");
	/* And the refused attempts left the store whole. */
	mu_unmount();
	ok_out(CTL_IN(NULL, NULL, "fsck", "--store", mu.store, "--verify-data"), "0 errors\n");
}
END_TEST

START_TEST(store_where_there_is_none_is_refused_and_not_made)
{
	char nowhere[400], empty[400], want[1000];

	snprintf(nowhere, sizeof(nowhere), "%s/nostore", mu.root);
	snprintf(empty, sizeof(empty), "%s/empty", mu.root);
	ck_assert_ok(mkdir(empty, 0755));

	snprintf(want, sizeof(want), "heapctl: %s: no store there\n", nowhere);
	fails_with(CTL_IN(NULL, NULL, "fsck", "--store", nowhere), want);
	ck_assert_errno(access(nowhere, F_OK), ENOENT);

	/* A typo in --store must not make a store and answer from it. */
	fails_about(CTL_IN(NULL, NULL, "--store", nowhere, "ls"), nowhere);
	ck_assert_errno(access(nowhere, F_OK), ENOENT);
	fails_about(CTL_IN(NULL, NULL, "--store", empty, "create", "app"), empty);
	assert_dir_set(empty, "");
}
END_TEST

/* ---- fsck ------------------------------------------------------------- */

START_TEST(fsck_of_a_clean_store_finds_no_errors)
{
	/* A store with some history: checkpoints, labels, deletions, state. */
	write_file("app/state", "registers");
	ok_out(CTL("checkpoint", "app", "--label", "second"), "2\n");
	fill_at("app", 3, 0, 100);
	ok_out(CTL("checkpoint", "app"), "3\n");
	ok_out(CTL("rm-checkpoint", "app", "2"), "");
	ok_out(CTL("create", "gone", "--size", "128K"), "");
	fill_at("gone", 1, 0, 2 * LS);   /* the same content as app's checkpoint 1 */
	ok_out(CTL("checkpoint", "gone"), "1\n");
	ok_out(CTL("rm", "gone"), "");
	ok_out(CTL("restore", "app", "first"), "restored to 1\n");
	mu_unmount();

	ok_out(CTL_IN(NULL, NULL, "fsck", "--store", mu.store), "0 errors\n");
	ok_out(CTL_IN(NULL, NULL, "fsck", "--store", mu.store, "--verify-data"), "0 errors\n");
	ok_out(CTL_STORE("fsck", "--verify-data"), "0 errors\n");
	ok_json_has(CTL_IN(NULL, NULL, "--json", "fsck", "--store", mu.store),
		    "{\"errors\":0,", "\"problems\":[]", NULL);
	ok_json_has(CTL_IN(NULL, NULL, "--json", "fsck", "--store", mu.store, "--verify-data"),
		    "{\"errors\":0,", "\"problems\":[]", NULL);
	/* Checking changed nothing. */
	mu_mount(NULL);
	expect_fill("app/heap", 1, 0, 2 * LS);
	assert_dir_set(mu_at("app/checkpoints"), "1\n3\nfirst\nlatest\n");
	assert_dir_set(mu.mnt, ".heapfs\napp\n");
}
END_TEST

START_TEST(fsck_needs_a_store)
{
	fails_usage(CTL("fsck"),
		    "heapctl: fsck: fsck checks an unmounted store: give --store STORE_DIR\n");
	fails_usage(CTL("fsck", "--verify-data"),
		    "heapctl: fsck: fsck checks an unmounted store: give --store STORE_DIR\n");
	fails_usage(CTL("fsck", "--repair-everything"),
		    "heapctl: fsck: unknown option '--repair-everything'\n");
}
END_TEST

/* ---- refusals that change nothing ------------------------------------ */

/* app: 64K, line 0 of seed 1 in checkpoint 1 'first', line 0 of seed 2 live. */
static void setup_errors(void)
{
	setup_app();
	fill_at("app", 1, 0, LS);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/first"), 0755), 0);
	fill_at("app", 2, 0, LS);
}

/* Nothing of setup_errors() changed. */
static void unchanged(void)
{
	ls_is(ls_row("app", LS, 65536, 1, 1));
	assert_dir_set(mu.mnt, ".heapfs\napp\n");
	assert_dir_set(mu_at("app/checkpoints"), "1\nfirst\nlatest\n");
	expect_fill("app/heap", 2, 0, LS);
	expect_fill("app/checkpoints/1/heap", 1, 0, LS);
	mu_assert_text_line("app/stat", "version: 2");
}

START_TEST(missing_heap_is_refused_by_every_command)
{
	fails_with(CTL("stat", "nope"), "heapctl: stat nope: no heap named 'nope'\n");
	fails_with(CTL("checkpoint", "nope"), "heapctl: checkpoint nope: no heap named 'nope'\n");
	fails_with(CTL("checkpoint", "nope", "--label", "x"),
		   "heapctl: checkpoint nope: no heap named 'nope'\n");
	fails_with(CTL("checkpoints", "nope"), "heapctl: checkpoints nope: no heap named 'nope'\n");
	fails_with(CTL("restore", "nope", "1"), "heapctl: restore nope: no heap named 'nope'\n");
	fails_with(CTL("diff", "nope", "1", "live"), "heapctl: diff nope: no heap named 'nope'\n");
	fails_with(CTL("rm-checkpoint", "nope", "1"),
		   "heapctl: rm-checkpoint nope: no heap named 'nope'\n");
	fails_with(CTL("rm", "nope"), "heapctl: rm nope: no heap named 'nope'\n");
	/* Heaps are matched exactly. */
	fails_with(CTL("stat", "APP"), "heapctl: stat APP: no heap named 'APP'\n");
	fails_with(CTL("rm", "ap"), "heapctl: rm ap: no heap named 'ap'\n");
	unchanged();
}
END_TEST

START_TEST(bad_version_is_refused_and_changes_nothing)
{
	const struct run *r;

	fails_with(CTL("restore", "app", "99"),
		   "heapctl: restore app: heap 'app' has no checkpoint 99\n");
	fails_with(CTL("diff", "app", "1", "99"),
		   "heapctl: diff app: heap 'app' has no checkpoint 99\n");
	fails_with(CTL("rm-checkpoint", "app", "99"),
		   "heapctl: rm-checkpoint app: heap 'app' has no checkpoint 99\n");
	fails_usage(CTL("restore", "app"), "heapctl: restore app: which version "
		    "(a number, latest or a label)?\n");
	fails_usage(CTL("diff", "app", "1"), "heapctl: diff app: which version to compare it with "
		    "(a number, latest, live or a label)?\n");
	r = CTL("restore", "app", "0");
	fails_about(r, "restore app");
	ck_assert_msg(strstr(r->err, "'0'") || strstr(r->err, " 0\n"), "%s said:\n%s", r->cmd,
		      r->err);
	unchanged();
	/* latest of a heap without checkpoints. */
	ok_out(CTL("create", "empty"), "");
	fails_with(CTL("restore", "empty", "latest"),
		   "heapctl: restore empty: heap 'empty' has no checkpoint\n");
	fails_with(CTL("rm-checkpoint", "empty", "latest"),
		   "heapctl: rm-checkpoint empty: heap 'empty' has no checkpoint\n");
}
END_TEST

/* live is the live heap, no checkpoint: refused, and said so in words. */
START_TEST(restore_to_live_is_refused_in_words)
{
	const struct run *r;

	r = CTL("restore", "app", "live");
	fails_about(r, "restore app");
	ck_assert_msg(strstr(r->err, "live") && !strstr(r->err, "18446744073709551615"),
		      "%s said:\n%s", r->cmd, r->err);
	r = CTL("rm-checkpoint", "app", "live");
	fails_about(r, "rm-checkpoint app");
	ck_assert_msg(strstr(r->err, "live") && !strstr(r->err, "18446744073709551615"),
		      "%s said:\n%s", r->cmd, r->err);
	unchanged();
}
END_TEST

START_TEST(bad_label_is_refused_and_changes_nothing)
{
	char long_label[202], want[600];

	memset(long_label, 'l', 201);
	long_label[201] = '\0';
	fails_with(CTL("restore", "app", "nolabel"),
		   "heapctl: restore app: heap 'app' has no checkpoint labelled 'nolabel'\n");
	fails_with(CTL("diff", "app", "nolabel", "live"),
		   "heapctl: diff app: heap 'app' has no checkpoint labelled 'nolabel'\n");
	fails_with(CTL("checkpoint", "app", "--label", "123"),
		   "heapctl: checkpoint app: label '123' is all digits, like a version number\n");
	fails_with(CTL("checkpoint", "app", "--label", "latest"),
		   "heapctl: checkpoint app: label 'latest' is reserved\n");
	fails_with(CTL("checkpoint", "app", "--label", "first"),
		   "heapctl: checkpoint app: heap 'app' has a checkpoint labelled 'first' (1)\n");
	fails_with(CTL("checkpoint", "app", "--label", "a/b"),
		   "heapctl: checkpoint app: label: name has byte 0x2f at 1; allowed: "
		   "A-Z a-z 0-9 . _ -\n");
	fails_with(CTL("checkpoint", "app", "--label", ".x"),
		   "heapctl: checkpoint app: label: name '.x' starts with '.'\n");
	snprintf(want, sizeof(want), "heapctl: checkpoint app: label: name longer than 200 bytes\n");
	fails_with(CTL("checkpoint", "app", "--label", long_label), want);
	unchanged();
}
END_TEST

/*
 * 'live' names the live heap wherever a version is taken (diff, restore,
 * rm-checkpoint), so a checkpoint labelled 'live' could never be reached
 * by its label: it is reserved like 'latest'.
 */
START_TEST(label_live_is_reserved)
{
	const struct run *r = CTL("checkpoint", "app", "--label", "live");

	fails_about(r, "checkpoint app");
	ck_assert_msg(strstr(r->err, "'live'"), "%s said:\n%s", r->cmd, r->err);
	unchanged();
}
END_TEST

/* Labels follow heap-name rules (heapstore.h): "" is no label, and refused. */
START_TEST(empty_label_is_refused)
{
	fails_about(CTL("checkpoint", "app", "--label", ""), "checkpoint app");
	unchanged();
}
END_TEST

/* Heap names DESIGN.md refuses, and why heapctl says so. */
static const struct {
	const char *name;   /* NULL: 201 bytes of 'a' */
	const char *why;
} bad_names[] = {
	{ NULL, "name longer than 200 bytes" },
	{ "..", "name '..' starts with '.'" },
	{ ".", "name '.' starts with '.'" },
	{ ".hidden", "name '.hidden' starts with '.'" },
	{ "a/b", "name has byte 0x2f at 1; allowed: A-Z a-z 0-9 . _ -" },
	{ "../escape", "name '../escape' starts with '.'" },
	{ "a b", "name has byte 0x20 at 1; allowed: A-Z a-z 0-9 . _ -" },
	{ "\xc3\xa9t\xc3\xa9", "name has byte 0xc3 at 0; allowed: A-Z a-z 0-9 . _ -" },
	{ "", "name is empty" },
};

START_TEST(hostile_heap_names_are_refused)
{
	char long_name[202], ok_name[201], want[1000];

	memset(long_name, 'a', 201);
	long_name[201] = '\0';
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		const char *name = bad_names[i].name ? bad_names[i].name : long_name;

		snprintf(want, sizeof(want), "heapctl: create %s: %s\n", name, bad_names[i].why);
		fails_with(CTL("create", name, "--size", "64K"), want);
	}
	unchanged();
	/* 200 bytes is a name. */
	memset(ok_name, 'b', 200);
	ok_name[200] = '\0';
	ok_out(CTL("create", ok_name, "--size", "64K"), "");
	snprintf(want, sizeof(want), "%s/heap", ok_name);
	ck_assert_int_eq(size_of(want), LS);
	ok_out(CTL("rm", ok_name), "");
	unchanged();
}
END_TEST

START_TEST(bad_sizes_are_refused)
{
	static const struct {
		const char *opt, *val, *why;
	} bad[] = {
		{ "--size", "12Q", "12Q: not a size (a number with K, M, G or T)" },
		{ "--size", "-1", "-1: not a size (a number with K, M, G or T)" },
		{ "--size", "", ": not a size (a number with K, M, G or T)" },
		{ "--size", "1.5G", "1.5G: not a size (a number with K, M, G or T)" },
		{ "--size", "64KK", "64KK: not a size (a number with K, M, G or T)" },
		{ "--size", "18446744073709551615",
		  "18446744073709551615: not a size (a number with K, M, G or T)" },
		{ "--size", "99999T",
		  "size 109950063265972224 beyond the largest heap (72057594037927936)" },
		{ "--line", "3000", "line size 3000 is not a power of two from 4K to 1M" },
		{ "--line", "2K", "line size 2048 is not a power of two from 4K to 1M" },
		{ "--line", "2M", "line size 2097152 is not a power of two from 4K to 1M" },
		{ "--quota", "x", "x: not a size (a number with K, M, G or T)" },
		{ "--reserve", "1Z", "1Z: not a size (a number with K, M, G or T)" },
	};
	char want[600];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want), "heapctl: create b: %s\n", bad[i].why);
		fails_with(CTL("create", "b", bad[i].opt, bad[i].val), want);
		ck_assert_errno(access(mu_at("b"), F_OK), ENOENT);
	}
	unchanged();
	/* The same sizes, well formed, are taken. */
	ok_out(CTL("create", "b", "--size", "12M", "--line", "4K"), "");
	ck_assert_int_eq(size_of("b/heap"), 12 * MiB);
	mu_assert_text_line("b/stat", "line_size: 4096");
}
END_TEST

/* ---- restore and a live mapping ----------------------------------------- */

#define MAP_LEN (4 * LS)

/*
 * The child: maps the heap, writes seed 1 over it and msyncs ('w'); on
 * 'd' overwrites lines 1 and 2 with seed 9 and msyncs ('D'); on 'r' (the
 * parent restored) looks once at its mapping, never remapped, which must
 * show seed 1 again: the daemon drops the stale pages before restore
 * replies.  Exit 0, or the step that failed.
 */
static int map_child(const char *path, int to_parent, int from_parent)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t *m, *want = malloc(MAP_LEN);
	char c = 0;

	if (fd < 0 || !want)
		return 10;
	m = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 11;
	mu_fill(want, MAP_LEN, 1, 0);
	memcpy(m, want, MAP_LEN);
	if (msync(m, MAP_LEN, MS_SYNC) != 0)
		return 12;
	if (write(to_parent, "w", 1) != 1)
		return 13;
	if (read(from_parent, &c, 1) != 1 || c != 'd')
		return 14;
	mu_fill(m + LS, 2 * LS, 9, LS);   /* damage */
	if (msync(m, MAP_LEN, MS_SYNC) != 0)
		return 15;
	if (write(to_parent, "D", 1) != 1)
		return 16;
	if (read(from_parent, &c, 1) != 1 || c != 'r')
		return 17;
	if (memcmp(m, want, MAP_LEN) != 0)
		return 18;   /* the mapping does not show the restore */
	munmap(m, MAP_LEN);
	close(fd);
	free(want);
	return 0;
}

/* Wait up to @secs for our child @pid; its exit code, or a failure. */
static int child_wait(pid_t pid, double secs)
{
	double end = mu_now() + secs;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (mu_now() >= end) {
			kill(pid, SIGKILL);   /* our own child, by its pid */
			waitpid(pid, &st, 0);
			ck_abort_msg("the mapping child still ran after %.0f s", secs);
		}
		mu_sleep_ms(10);
	}
	ck_assert_msg(WIFEXITED(st), "the mapping child died (status 0x%x)", st);
	return WEXITSTATUS(st);
}

START_TEST(restore_reaches_a_mapping_and_an_open_descriptor)
{
	int to_child[2], to_parent[2], fd, code;
	bool fd_ok;
	uint8_t *got = malloc(MAP_LEN), *want = malloc(MAP_LEN);
	char c = 0;
	pid_t pid;

	ck_assert(got && want);
	ok_out(CTL("create", "app", "--size", "256K"), "");
	ck_assert_ok(pipe2(to_child, O_CLOEXEC));
	ck_assert_ok(pipe2(to_parent, O_CLOEXEC));
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		_exit(map_child(mu_at("app/heap"), to_parent[1], to_child[0]));
	}
	close(to_child[0]);
	close(to_parent[1]);
	fd = mu_open(mu_at("app/heap"), O_RDONLY);   /* opened before the restore */

	/* The child's msynced stores are in the checkpoint. */
	ck_assert_msg(read(to_parent[0], &c, 1) == 1 && c == 'w', "the child failed (%d)",
		      child_wait(pid, 10));
	ok_out(CTL("checkpoint", "app"), "1\n");
	expect_fill("app/checkpoints/1/heap", 1, 0, MAP_LEN);

	/* Damage through the same mapping, msynced: the store has it. */
	ck_assert_int_eq(write(to_child[1], "d", 1), 1);
	ck_assert_msg(read(to_parent[0], &c, 1) == 1 && c == 'D', "the child failed (%d)",
		      child_wait(pid, 10));
	{
		size_t n;
		uint8_t *l1 = (uint8_t *)mu_slurp(mu_at("app/lines/0000000000010000"), &n);

		ck_assert_ptr_nonnull(l1);
		ck_assert_uint_eq(n, LS);
		mu_fill(want, LS, 9, LS);
		ck_assert_msg(memcmp(l1, want, LS) == 0, "the damage did not reach the store");
		free(l1);
	}
	ok_out(CTL("diff", "app", "1", "live"), "0000000000010000\n0000000000020000\n");

	/*
	 * Restore: the old descriptor reads the checkpoint at once, and the
	 * child sees it through its mapping, without remapping.  Both are
	 * asserted once the child is reaped, so a failure leaves no process
	 * holding the mount.
	 */
	ok_out(CTL("restore", "app", "1"), "restored to 1\n");
	mu_fill(want, MAP_LEN, 1, 0);
	fd_ok = pread(fd, got, MAP_LEN, 0) == (ssize_t)MAP_LEN && memcmp(got, want, MAP_LEN) == 0;
	ck_assert_int_eq(write(to_child[1], "r", 1), 1);
	code = child_wait(pid, 15);
	ck_assert_msg(code == 0, "the mapping child failed at step %d (18: its mapping did not "
		      "show the restored content)", code);
	ck_assert_msg(fd_ok, "a descriptor opened before the restore reads the damage");
	ok_out(CTL("diff", "app", "1", "live"), "");
	close(fd);
	close(to_child[1]);
	close(to_parent[0]);
	free(got);
	free(want);
}
END_TEST

/* ---- the suite -------------------------------------------------------- */

static Suite *heapctl_suite(void)
{
	Suite *s = suite_create("heapctl");
	TCase *tc;

	tc = mu_tcase_new(s, "commands", mu_setup);
	tcase_add_test(tc, create_makes_a_heap_with_that_size_and_line_size);
	tcase_add_test(tc, create_of_an_existing_heap_is_refused);
	tcase_add_test(tc, ls_lists_every_heap_in_name_order);
	tcase_add_test(tc, stat_prints_every_field);
	tcase_add_test(tc, checkpoint_prints_its_number_and_appears_in_the_tree);
	tcase_add_test(tc, checkpoints_lists_versions_labels_and_changes);
	tcase_add_test(tc, diff_lists_exactly_the_changed_lines);
	tcase_add_test(tc, diff_lists_state_lines_apart);
	tcase_add_test(tc, restore_by_number_latest_and_label);
	tcase_add_test(tc, rm_checkpoint_by_number_and_label);
	tcase_add_test(tc, rm_deletes_a_heap_and_only_it);
	tcase_add_test(tc, suspend_refuses_writes_until_resume);

	tc = mu_tcase_new(s, "discovery", setup_app);
	tcase_add_test(tc, mount_from_dash_m);
	tcase_add_test(tc, mount_from_heapfs_mount_env);
	tcase_add_test(tc, mount_from_the_current_directory);
	tcase_add_test(tc, no_mount_anywhere_is_an_error);

	tc = mu_tcase_new(s, "store", setup_store);
	tcase_add_test(tc, store_commands_on_an_unmounted_store);
	tcase_add_test(tc, store_send_to_a_reader_gone_exits_1);
	tcase_add_test(tc, store_held_by_the_daemon_is_refused);
	tcase_add_test(tc, store_where_there_is_none_is_refused_and_not_made);
	tcase_add_test(tc, fsck_of_a_clean_store_finds_no_errors);
	tcase_add_test(tc, fsck_needs_a_store);

	tc = mu_tcase_new(s, "errors", setup_errors);
	tcase_add_test(tc, missing_heap_is_refused_by_every_command);
	tcase_add_test(tc, bad_version_is_refused_and_changes_nothing);
	tcase_add_test(tc, restore_to_live_is_refused_in_words);
	tcase_add_test(tc, bad_label_is_refused_and_changes_nothing);
	tcase_add_test(tc, label_live_is_reserved);
	tcase_add_test(tc, empty_label_is_refused);
	tcase_add_test(tc, hostile_heap_names_are_refused);
	tcase_add_test(tc, bad_sizes_are_refused);

	tc = mu_tcase_new(s, "mmap", mu_setup);
	tcase_add_test(tc, restore_reaches_a_mapping_and_an_open_descriptor);
	return s;
}

int main(void)
{
	return mu_main(heapctl_suite());
}
