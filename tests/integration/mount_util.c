/*
 * mount_util.c - see mount_util.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "mount_util.h"

extern char **environ;

struct mu mu;

/* The directory every root of this run lives in (made by mu_main). */
static char base[200];

#define MOUNT_WAIT_S 10.0
#define TERM_AFTER_S 10.0
#define KILL_AFTER_S 20.0

double mu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void mu_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- /proc/self/mountinfo ------------------------------------------ */

/* Undo mountinfo's octal escapes (\040 for a space, ...) in place. */
static void unescape(char *s)
{
	char *w = s;

	for (const char *r = s; *r; ) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/*
 * Calls @cb(mount point, fstype, @arg) for every mount; stops when @cb
 * returns true, and returns whether one did.
 */
static bool mounts_each(bool (*cb)(const char *mp, const char *type, void *arg), void *arg)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	bool hit = false;

	if (!f) {
		/* Not a ck_assert: this also runs outside tests (mu_main's clean-up). */
		fprintf(stderr, "cannot read /proc/self/mountinfo: %s\n", strerror(errno));
		abort();
	}
	while (!hit && getline(&line, &cap, f) > 0) {
		/* id parent maj:min root mountpoint options [optional...] - type source opts */
		char *save = NULL, *mp = NULL, *type = NULL, *tok;
		int field = 0;
		bool dash = false;

		for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
			field++;
			if (field == 5)
				mp = tok;
			else if (field > 6 && !dash && strcmp(tok, "-") == 0)
				dash = true;
			else if (dash) {
				type = tok;
				break;
			}
		}
		if (!mp || !type)
			continue;
		unescape(mp);
		hit = cb(mp, type, arg);
	}
	free(line);
	fclose(f);
	return hit;
}

static bool is_heapfs_at(const char *mp, const char *type, void *arg)
{
	return strcmp(mp, (const char *)arg) == 0 && strcmp(type, "fuse.heapfs") == 0;
}

bool mu_is_mounted(const char *mnt)
{
	return mounts_each(is_heapfs_at, (void *)(uintptr_t)mnt);
}

struct under {
	const char *prefix;
	char found[PATH_MAX];
};

static bool is_under(const char *mp, const char *type, void *arg)
{
	struct under *u = arg;
	size_t n = strlen(u->prefix);

	(void)type;
	if (strncmp(mp, u->prefix, n) != 0 || mp[n] != '/')
		return false;
	snprintf(u->found, sizeof(u->found), "%s", mp);
	return true;
}

/* The first mount below @prefix into @u->found, if any. */
static bool mount_under(const char *prefix, struct under *u)
{
	u->prefix = prefix;
	return mounts_each(is_under, u);
}

/* ---- paths and files ----------------------------------------------- */

static char *ring_next(void)
{
	static char ring[16][PATH_MAX];
	static unsigned next;

	return ring[next++ % 16];
}

/* MNT/ then @fmt, in the next buffer of the ring. */
static const char *at_in(const char *mnt, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static const char *at_in(const char *mnt, const char *fmt, va_list ap)
{
	char *buf = ring_next();
	int n = snprintf(buf, PATH_MAX, "%s/", mnt);

	vsnprintf(buf + n, PATH_MAX - (size_t)n, fmt, ap);
	return buf;
}

const char *mu_at(const char *fmt, ...)
{
	va_list ap;
	const char *p;

	va_start(ap, fmt);
	p = at_in(mu.mnt, fmt, ap);
	va_end(ap);
	return p;
}

void mu_expect_same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *x = mu_slurp(a, &la), *y = mu_slurp(b, &lb);

	ck_assert_msg(x && y, "%s or %s unreadable", a, b);
	ck_assert_msg(la == lb && memcmp(x, y, la) == 0, "%s (%zu bytes) != %s (%zu bytes)", a, la,
		      b, lb);
	free(x);
	free(y);
}

const char *mu_in_root(const char *fmt, ...)
{
	va_list ap;
	const char *p;

	va_start(ap, fmt);
	p = at_in(mu.root, fmt, ap);
	va_end(ap);
	return p;
}

char *mu_slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	char *buf;
	ssize_t r;

	if (fd < 0)
		return NULL;
	buf = malloc(cap + 1);
	for (;;) {
		if (!buf) {
			close(fd);
			errno = ENOMEM;
			return NULL;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap) {
			char *grown = realloc(buf, 2 * cap + 1);

			if (!grown)
				free(buf);
			buf = grown;
			cap *= 2;
		}
	}
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

char *mu_list(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *out = NULL;
	size_t len = 0;
	FILE *m;

	if (!d)
		return NULL;
	m = open_memstream(&out, &len);
	if (!m) {
		closedir(d);
		return NULL;
	}
	errno = 0;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			fprintf(m, "%s\n", e->d_name);
	}
	closedir(d);
	fclose(m);
	return out;
}

int mu_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0644);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	return fd;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void mu_fill(void *buf, size_t len, uint64_t seed, uint64_t off)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++) {
		uint64_t pos = off + i;

		/* Never zero, so a zeroed byte always shows. */
		p[i] = (uint8_t)(mix(seed * 0x100000001b3ULL ^ (pos >> 3)) >> ((pos & 7) * 8)) | 1;
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	remove(path);
	return 0;
}

/* rm -rf @dir unless something is mounted below it; never crosses a mount. */
static bool rmtree_safe(const char *dir)
{
	struct under u;

	if (!dir[0] || mount_under(dir, &u))
		return false;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	return true;
}

/* ---- processes ----------------------------------------------------- */

static int wait_for(pid_t pid, double timeout_s);
static int reap(pid_t pid, double term_s, double kill_s, bool *escalated);

static void spawn_attr(posix_spawnattr_t *a, bool own_group)
{
	sigset_t all, none;

	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_init(a);
	posix_spawnattr_setsigdefault(a, &all);
	posix_spawnattr_setsigmask(a, &none);
	if (own_group)
		posix_spawnattr_setpgroup(a, 0);
	posix_spawnattr_setflags(a, (short)(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
					    (own_group ? POSIX_SPAWN_SETPGROUP : 0)));
}

static int wait_status(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return st;
}

int mu_run_timeout(const char *out_path, const char *err_path, char *const argv[],
		   double timeout_s)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t a;
	bool esc = false;
	pid_t pid;
	int rc, st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null",
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (err_path)
		posix_spawn_file_actions_addopen(&fa, 2, err_path,
						 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	spawn_attr(&a, false);
	rc = posix_spawnp(&pid, argv[0], &fa, &a, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&a);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	if (timeout_s <= 0)
		return wait_status(pid);
	if ((st = wait_for(pid, timeout_s)) != -1)
		return st;
	reap(pid, 0.001, 5, &esc);   /* overran: this pid only */
	return -2;
}

int mu_run(const char *out_path, const char *err_path, char *const argv[])
{
	return mu_run_timeout(out_path, err_path, argv, 0);
}

int mu_sh(const char *out_path, const char *cmd)
{
	char *argv[] = { "/bin/sh", "-c", (char *)(uintptr_t)cmd, NULL };
	int st = mu_run(out_path, NULL, argv);

	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int fusermount(const char *flag, const char *mnt)
{
	char *argv[] = { "fusermount3", (char *)(uintptr_t)flag, (char *)(uintptr_t)mnt, NULL };
	const char *err = mu.root[0] ? mu_in_root("fusermount.err") : NULL;

	return mu_run(NULL, err, argv);
}

const char *mu_daemon_said(void)
{
	static char text[4096];
	char *all = mu.err[0] ? mu_slurp(mu.err, NULL) : NULL;

	snprintf(text, sizeof(text), "%s", all ? all : "(no output)");
	free(all);
	return text;
}

TCase *mu_tcase_new(Suite *s, const char *name, void (*setup)(void))
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, mu_teardown);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return tc;
}

const char *mu_daemon_log(void)
{
	return mu.err;
}

/* Wait up to @timeout_s for @pid; its status, or -1 if it still runs. */
static int wait_for(pid_t pid, double timeout_s)
{
	double end = mu_now() + timeout_s;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -1;
		if (mu_now() >= end)
			return -1;
		mu_sleep_ms(10);
	}
}

/* Reap @pid: SIGTERM after @term_s, SIGKILL after @kill_s (that pid only). */
static int reap(pid_t pid, double term_s, double kill_s, bool *escalated)
{
	int st = wait_for(pid, term_s);

	if (st != -1)
		return st;
	*escalated = true;
	kill(pid, SIGTERM);
	if ((st = wait_for(pid, kill_s - term_s)) != -1)
		return st;
	kill(pid, SIGKILL);
	return wait_status(pid);
}

static const char *status_str(int st)
{
	static char s[64];

	if (st == -1)
		snprintf(s, sizeof(s), "not reaped");
	else if (WIFEXITED(st))
		snprintf(s, sizeof(s), "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(s, sizeof(s), "killed by signal %d", WTERMSIG(st));
	else
		snprintf(s, sizeof(s), "status 0x%x", st);
	return s;
}

/* ---- roots and mounts ---------------------------------------------- */

/*
 * The guard: a process forked when a root is made, before the test opens
 * anything, in a process group of its own.  It waits for EOF on a pipe
 * whose only writer is the test; mu_teardown() closes it after a clean
 * unmount, and a test that dies (failed ck_assert, timeout, crash) closes
 * it by dying.  Then, if the mount is still there, the guard unmounts it
 * and removes the root, so a failed test leaves nothing mounted even
 * though Check runs no teardown after a failure.
 */
static int guard_fd = -1;
static pid_t guard_pid;

static void guard_main(int fd)
{
	char c;
	double end;

	prctl(PR_SET_NAME, "mu-guard", 0, 0, 0);
	while (read(fd, &c, 1) != 0) {
		if (errno != EINTR)
			break;
	}
	if (mu_is_mounted(mu.mnt)) {
		fprintf(stderr, "mu-guard: the test died with %s mounted; unmounting it\n",
			mu.mnt);
		end = mu_now() + 5;
		while (fusermount("-u", mu.mnt) != 0 && mu_is_mounted(mu.mnt) && mu_now() < end)
			mu_sleep_ms(50);
		if (mu_is_mounted(mu.mnt))
			fusermount("-uz", mu.mnt);
	}
	rmtree_safe(mu.root);
}

static void guard_start(void)
{
	int p[2];
	pid_t pid;

	ck_assert_msg(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);   /* out of reach of Check's killpg */
		close(p[1]);
		/* Hold nothing of the test's: no fd of it may keep the mount busy. */
		if (dup2(p[0], 3) < 0)
			_exit(1);
		close_range(4, ~0U, 0);
		guard_main(3);
		_exit(0);
	}
	close(p[0]);
	guard_fd = p[1];
	guard_pid = pid;
}

/* The test ended cleanly: the guard finds nothing to do and exits. */
static void guard_stop(void)
{
	if (guard_fd < 0)
		return;
	close(guard_fd);
	guard_fd = -1;
	wait_status(guard_pid);
	guard_pid = 0;
}

void mu_root_make(void)
{
	char tmpl[sizeof(base) + 16];

	ck_assert_msg(base[0], "mu_main() did not run");
	memset(&mu, 0, sizeof(mu));
	snprintf(tmpl, sizeof(tmpl), "%s/t-XXXXXX", base);
	ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp %s: %s", tmpl, strerror(errno));
	snprintf(mu.root, sizeof(mu.root), "%s", tmpl);
	snprintf(mu.store, sizeof(mu.store), "%s/store", mu.root);
	snprintf(mu.mnt, sizeof(mu.mnt), "%s/mnt", mu.root);
	snprintf(mu.err, sizeof(mu.err), "%s/daemon.err", mu.root);
	ck_assert_msg(mkdir(mu.store, 0755) == 0, "mkdir %s: %s", mu.store, strerror(errno));
	ck_assert_msg(mkdir(mu.mnt, 0755) == 0, "mkdir %s: %s", mu.mnt, strerror(errno));
	guard_start();
}

void mu_root_remove(void)
{
	if (mu.root[0] && rmtree_safe(mu.root))
		mu.root[0] = '\0';
	guard_stop();
}

/* Leave the pid where mu_main's clean-up finds it if this test dies. */
static void pid_note(pid_t pid)
{
	FILE *f = fopen(mu_in_root("daemon.pid"), "we");

	if (f) {
		fprintf(f, "%ld\n", (long)pid);
		fclose(f);
	}
}

void mu_mount(const char *opts)
{
	char *argv[12], netarg[96];
	const char *path = HEAPFS_BIN;
	int argc = 0, st;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t a;
	double end;
	int rc;

	ck_assert_msg(mu.root[0], "mu_mount without a root");
	ck_assert_msg(mu.pid == 0, "a daemon already runs");
	ck_assert_msg(!mu_is_mounted(mu.mnt), "%s is already mounted", mu.mnt);
	snprintf(mu.opts, sizeof(mu.opts), "%s", opts ? opts : "");
	if (mu.netns[0]) {   /* nsenter execs the daemon: the pid stays its */
		snprintf(netarg, sizeof(netarg), "--net=/run/netns/%s", mu.netns);
		path = "/usr/bin/nsenter";
		argv[argc++] = "nsenter";
		argv[argc++] = netarg;
		argv[argc++] = HEAPFS_BIN;
	} else {
		argv[argc++] = "heapfs";
	}
	argv[argc++] = "-f";
	if (mu.opts[0]) {
		argv[argc++] = "-o";
		argv[argc++] = mu.opts;
	}
	argv[argc++] = mu.store;
	argv[argc++] = mu.mnt;
	argv[argc] = NULL;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, mu.err, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	spawn_attr(&a, true);   /* its own group: Check's killpg must not reach it */
	rc = posix_spawn(&mu.pid, path, &fa, &a, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&a);
	if (rc != 0) {
		mu.pid = 0;
		ck_abort_msg("cannot start %s: %s", HEAPFS_BIN, strerror(rc));
	}
	pid_note(mu.pid);

	end = mu_now() + MOUNT_WAIT_S;
	for (;;) {
		if (mu_is_mounted(mu.mnt))
			return;
		if (waitpid(mu.pid, &st, WNOHANG) == mu.pid) {
			mu.pid = 0;
			ck_abort_msg("heapfs exited before mounting (%s); it said:\n%s",
				     status_str(st), mu_daemon_said());
		}
		if (mu_now() >= end)
			break;
		mu_sleep_ms(10);
	}
	/* Not mounted in time: stop it (this pid only), then fail. */
	{
		bool esc = false;
		pid_t pid = mu.pid;

		mu.pid = 0;
		kill(pid, SIGTERM);
		st = reap(pid, 5, 10, &esc);
		if (mu_is_mounted(mu.mnt))
			fusermount("-uz", mu.mnt);
		ck_abort_msg("%s not mounted after %.0f s (daemon %s); it said:\n%s", mu.mnt,
			     MOUNT_WAIT_S, status_str(st), mu_daemon_said());
	}
}

int mu_daemon_wait(double timeout_s)
{
	int st;

	ck_assert_msg(mu.pid > 0, "no daemon to wait for");
	st = wait_for(mu.pid, timeout_s);
	if (st != -1)
		mu.pid = 0;
	return st;
}

void mu_unmount(void)
{
	bool escalated = false, still;
	double end = mu_now() + 5;
	int st = 0, fm;
	pid_t pid = mu.pid;

	if (!pid && !mu_is_mounted(mu.mnt))
		return;
	/* EBUSY can outlast a close for a moment: retry a little. */
	do {
		fm = fusermount("-u", mu.mnt);
		if (fm == 0 || !mu_is_mounted(mu.mnt))
			break;
		mu_sleep_ms(50);
	} while (mu_now() < end);
	if (pid) {
		st = reap(pid, TERM_AFTER_S, KILL_AFTER_S, &escalated);
		mu.pid = 0;
	}
	still = mu_is_mounted(mu.mnt);
	if (still)
		fusermount("-uz", mu.mnt);   /* clean up first, fail below */
	ck_assert_msg(!still, "%s still mounted after fusermount3 -u (%s); daemon %s",
		      mu.mnt, status_str(fm), status_str(st));
	ck_assert_msg(!escalated, "heapfs did not exit within %.0f s of fusermount3 -u (%s)",
		      TERM_AFTER_S, status_str(st));
	ck_assert_msg(pid == 0 || (WIFEXITED(st) && WEXITSTATUS(st) == 0),
		      "heapfs ended with %s; it said:\n%s", status_str(st), mu_daemon_said());
}

void mu_stale_unmount(void)
{
	double end = mu_now() + 5;
	struct stat sb;
	int fm, err;

	ck_assert_msg(mu.pid == 0, "mu_stale_unmount with the daemon %ld still ours",
		      (long)mu.pid);
	ck_assert_msg(mu_is_mounted(mu.mnt), "%s: no mount left behind to clean", mu.mnt);
	err = stat(mu.mnt, &sb) == 0 ? 0 : errno;
	if (err != ENOTCONN)
		fusermount("-uz", mu.mnt);   /* clean up first, fail below */
	ck_assert_msg(err == ENOTCONN, "%s after its daemon died: stat says %s, want ENOTCONN",
		      mu.mnt, err ? strerror(err) : "success");
	do {
		fm = fusermount("-u", mu.mnt);
		if (fm == 0 || !mu_is_mounted(mu.mnt))
			break;
		mu_sleep_ms(50);
	} while (mu_now() < end);
	if (mu_is_mounted(mu.mnt)) {
		fusermount("-uz", mu.mnt);
		ck_abort_msg("%s: the stale mount survived fusermount3 -u (%s)", mu.mnt,
			     status_str(fm));
	}
}

void mu_remount(void)
{
	char opts[sizeof(mu.opts)];

	snprintf(opts, sizeof(opts), "%s", mu.opts);
	mu_unmount();
	mu_mount(opts);
}

struct mu mu_b;

void mu_b_init(void)
{
	mu_b = mu;
	snprintf(mu_b.store, sizeof(mu_b.store), "%s/store2", mu.root);
	snprintf(mu_b.mnt, sizeof(mu_b.mnt), "%s/mnt2", mu.root);
	snprintf(mu_b.err, sizeof(mu_b.err), "%s/daemon2.err", mu.root);
	mu_b.opts[0] = '\0';
	mu_b.netns[0] = '\0';
	mu_b.pid = 0;
	ck_assert_int_eq(mkdir(mu_b.mnt, 0755), 0);
}

void mu_b_swap(void)
{
	struct mu t = mu;

	mu = mu_b;
	mu_b = t;
}

void mu_b_mount(const char *opts)
{
	mu_b_swap();
	mu_mount(opts);
	mu_b_swap();
}

void mu_b_unmount(void)
{
	mu_b_swap();
	mu_unmount();
	mu_b_swap();
}

const char *mu_b_at(const char *fmt, ...)
{
	va_list ap;
	const char *p;

	va_start(ap, fmt);
	p = at_in(mu_b.mnt, fmt, ap);
	va_end(ap);
	return p;
}

void mu_b_setup(void)
{
	mu_setup();
	mu_b_init();
	mu_b_mount(NULL);
}

void mu_b_teardown(void)
{
	mu_b_unmount();
	mu_teardown();
}

void mu_setup(void)
{
	mu_root_make();
	mu_mount(NULL);
}

void mu_teardown(void)
{
	mu_unmount();
	mu_root_remove();
}

/* ---- the run ------------------------------------------------------- */

static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX], full[PATH_MAX + 64];

	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(dir, sizeof(dir), "%.*s", (int)n, path);
		snprintf(full, sizeof(full), "%s/%s", n ? dir : ".", prog);
		if (access(full, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

/* NULL if FUSE is usable, else why not. */
static const char *fuse_unusable(void)
{
	static char why[256];
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, sizeof(why), "cannot open /dev/fuse O_RDWR: %s", strerror(errno));
		return why;
	}
	close(fd);
	if (!in_path("fusermount3"))
		return "fusermount3 is not in PATH";
	return NULL;
}

/*
 * Calls @cb(pid, command name, @arg) for each of our child processes
 * (from /proc: ours includes orphans reparented to us as subreaper).
 */
static void children_each(void (*cb)(pid_t pid, const char *comm, char state, void *arg),
			  void *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[300], comm[64] = "", *stat, *p, *q, state = '?';
		long pid = strtol(e->d_name, &p, 10), ppid;

		if (*p || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if (!(stat = mu_slurp(path, NULL)))
			continue;
		/* "PID (COMM) S PPID ..." */
		p = strchr(stat, '(');
		q = strrchr(stat, ')');
		if (p && q && q > p)
			snprintf(comm, sizeof(comm), "%.*s", (int)(q - p - 1), p + 1);
		ppid = q ? strtol(q + 4, NULL, 10) : 0;
		if (q)
			state = q[2];
		free(stat);
		if (ppid == (long)getpid())
			cb((pid_t)pid, comm, state, arg);
	}
	closedir(d);
}

struct child_query {
	const char *comm;
	pid_t found;
};

static void child_match(pid_t pid, const char *comm, char state, void *arg)
{
	(void)state;
	struct child_query *q = arg;

	if (!q->found && strcmp(comm, q->comm) == 0)
		q->found = pid;
}

pid_t mu_child_find(const char *comm)
{
	struct child_query q = { comm, 0 };

	children_each(child_match, &q);
	return q.found;
}

void mu_adopt(pid_t pid)
{
	ck_assert_msg(mu.pid == 0, "a daemon already runs");
	mu.pid = pid;
	pid_note(pid);
}

struct orphans {
	bool guards;          /* this pass: the guards, else everything else */
	int leaks;
};

static void orphan_reap(pid_t pid, const char *comm, char state, void *arg)
{
	struct orphans *o = arg;
	bool esc = false, guard = strcmp(comm, "mu-guard") == 0;

	if (guard != o->guards)
		return;
	if (!guard && state != 'Z') {
		/* A guard would have unmounted it, and then it ends by itself. */
		fprintf(stderr, "LEAK: process %ld (%s) still runs after its test\n",
			(long)pid, comm);
		o->leaks++;
	}
	reap(pid, guard ? 15 : 5, guard ? 20 : 10, &esc);
}

/* Reap our children: orphans of tests that died; how many still ran. */
static int orphans_reap(bool guards)
{
	struct orphans o = { guards, 0 };

	children_each(orphan_reap, &o);
	return o.leaks;
}

/* Unmount, reap and remove whatever failed tests left; how many leaks. */
static int leftovers_clean(void)
{
	struct under u;
	int leaks = 0;

	memset(&mu, 0, sizeof(mu));
	/* The guards of failed tests unmount their mounts: let them finish. */
	orphans_reap(true);
	for (int tries = 0; tries < 64 && mount_under(base, &u); tries++) {
		fprintf(stderr, "LEAK: %s still mounted after its test; unmounting\n", u.found);
		if (fusermount("-u", u.found) != 0 && mu_is_mounted(u.found))
			fusermount("-uz", u.found);
		/* Not FUSE (a test's small tmpfs): detach it, as root can. */
		if (mount_under(base, &u) && strcmp(u.found, "") != 0)
			(void)umount2(u.found, MNT_DETACH);
		leaks++;
	}
	leaks += orphans_reap(false);
	if (!rmtree_safe(base)) {
		fprintf(stderr, "LEAK: cannot remove %s: something is still mounted below it\n",
			base);
		leaks++;
	}
	return leaks;
}

int mu_main(Suite *s)
{
	const char *why = fuse_unusable();
	const char *ci = getenv("CI");
	const char *tmp = getenv("TMPDIR");
	char tmpl[256], *real;
	SRunner *sr;
	int failed, leaks;

	if (why) {
		if (ci && strcmp(ci, "true") == 0) {
			fprintf(stderr, "FAIL: /dev/fuse unusable under CI=true: %s\n", why);
			return EXIT_FAILURE;
		}
		printf("SKIP: /dev/fuse unusable: %s\n", why);
		return 77;
	}
	if (access(HEAPFS_BIN, X_OK) != 0) {
		fprintf(stderr, "FAIL: the daemon %s: %s\n", HEAPFS_BIN, strerror(errno));
		return EXIT_FAILURE;
	}
	snprintf(tmpl, sizeof(tmpl), "%s/heapfs-it-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpl) || !(real = realpath(tmpl, NULL))) {
		fprintf(stderr, "FAIL: mkdtemp %s: %s\n", tmpl, strerror(errno));
		return EXIT_FAILURE;
	}
	snprintf(base, sizeof(base), "%s", real);
	free(real);
	/* Daemons of tests that die are reparented here, to be reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	signal(SIGXFSZ, SIG_IGN);   /* EFBIG tests want the errno, not the signal */

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);   /* CK_VERBOSITY, default normal */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);

	leaks = leftovers_clean();
	if (leaks)
		fprintf(stderr, "FAIL: %d mount(s) or process(es) left behind by failed tests\n",
			leaks);
	return failed || leaks ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- PRNG: xoshiro256** seeded by splitmix64 ------------------------ */

uint64_t mu_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void mu_rng_seed(struct mu_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = mu_splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t mu_rng_next(struct mu_rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

uint64_t mu_rnd(struct mu_rng *r, uint64_t n)
{
	return n ? mu_rng_next(r) % n : 0;
}

/* ---- text ------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *mu_lines_sorted(const char *text)
{
	char *v[256], *copy = strdup(text), *save = NULL, *out;
	size_t n = 0, len = 0;

	ck_assert_ptr_nonnull(copy);
	out = malloc(strlen(text) + 257);
	ck_assert_ptr_nonnull(out);
	out[0] = '\0';
	for (char *t = strtok_r(copy, "\n", &save); t && n < 256; t = strtok_r(NULL, "\n", &save))
		v[n++] = t;
	qsort(v, n, sizeof(v[0]), cmp_str);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(out + len, "%s\n", v[i]);
	free(copy);
	return out;
}

bool mu_has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++) {
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* ---- file helpers ---------------------------------------------------- */

void mu_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	ssize_t r = pwrite(fd, buf, len, (off_t)off);

	ck_assert_msg(r == (ssize_t)len, "pwrite %zu at %llu: %zd (%s)", len,
		      (unsigned long long)off, r, r < 0 ? strerror(errno) : "short");
}

void mu_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t r = pread(fd, buf, len, (off_t)off);

	ck_assert_msg(r == (ssize_t)len, "pread %zu at %llu: %zd (%s)", len,
		      (unsigned long long)off, r, r < 0 ? strerror(errno) : "short");
}

void mu_assert_text_line(const char *rel, const char *line)
{
	char *t = mu_slurp(mu_at("%s", rel), NULL);

	ck_assert_msg(t != NULL, "read %s: %s", rel, strerror(errno));
	ck_assert_msg(mu_has_line(t, line), "%s has no line \"%s\":\n%s", rel, line, t);
	free(t);
}

const char *mu_readlink_at(const char *rel)
{
	static char buf[256];
	ssize_t n = readlink(mu_at("%s", rel), buf, sizeof(buf) - 1);

	ck_assert_msg(n >= 0, "readlink %s: %s", rel, strerror(errno));
	buf[n] = '\0';
	return buf;
}

int mu_run_out(char **out, const char *const *argv)
{
	int st = mu_run(mu_in_root("run.out"), mu_in_root("run.err"),
			(char *const *)(uintptr_t)argv);

	*out = mu_slurp(mu_in_root("run.out"), NULL);
	ck_assert_ptr_nonnull(*out);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

uint64_t mu_text_u64(const char *rel, const char *key)
{
	char *text = mu_slurp(mu_at("%s", rel), NULL), want[96];
	const char *p;
	uint64_t v;

	ck_assert_ptr_nonnull(text);
	snprintf(want, sizeof(want), "\n%s: ", key);
	if (strncmp(text, want + 1, strlen(want + 1)) == 0)
		p = text + strlen(want + 1);
	else if ((p = strstr(text, want)))
		p += strlen(want);
	ck_assert_msg(p, "%s has no %s:\n%s", rel, key, text);
	v = strtoull(p, NULL, 10);
	free(text);
	return v;
}

uint64_t mu_xattr_u64(const char *rel, const char *name)
{
	char buf[64];
	ssize_t n = getxattr(mu_at("%s", rel), name, buf, sizeof(buf) - 1);

	ck_assert_msg(n > 0, "getxattr %s %s: %s", rel, name, strerror(errno));
	buf[n] = '\0';
	return strtoull(buf, NULL, 10);
}
