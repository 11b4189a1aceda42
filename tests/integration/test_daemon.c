/*
 * test_daemon.c - the heapfs daemon as a program: its command line
 * (bad options are refused before anything is mounted), background mode,
 * SIGTERM, and stores it cannot open.  Each test has a fresh root; the
 * tests that mount use the same fixture helpers as test_mount.c, so every
 * mount is checked gone in teardown.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mount_util.h"

#define RUN_LIMIT_S 15.0   /* a refused start takes milliseconds */

static void setup_root(void)
{
	mu_root_make();
}

/* Run heapfs with @argv (argv[0] is ignored), stderr to root/run.err; its wait status. */
static int heapfs_run(char **argv, char **err_out)
{
	int st;

	argv[0] = HEAPFS_BIN;
	st = mu_run_timeout(NULL, mu_in_root("run.err"), argv, RUN_LIMIT_S);
	ck_assert_msg(st != -1, "cannot run %s: %s", HEAPFS_BIN, strerror(errno));
	ck_assert_msg(st != -2, "heapfs did not exit within %.0f s", RUN_LIMIT_S);
	*err_out = mu_slurp(mu_in_root("run.err"), NULL);
	ck_assert_ptr_nonnull(*err_out);
	return st;
}

/* Some line of @text starts with "heapfs: ". */
static bool says_heapfs(const char *text)
{
	for (const char *p = text; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, "heapfs: ", 8) == 0)
			return true;
	}
	return false;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---- options ---------------------------------------------------------- */

static const struct {
	const char *opts;     /* NULL: no -o */
	bool no_mnt;          /* the mount point does not exist */
	bool fuse_option;     /* refused by FUSE, after the store is opened */
} bad[] = {
	{ "line=3000", false, false },
	{ "line=2M", false, false },
	{ "cache=-1", false, false },
	{ "cache=512K", false, false },
	{ "pool=12Q", false, false },
	{ "pool=", false, false },
	{ "split=50:50:50:50", false, false },
	{ "split=40:20:20", false, false },
	{ "zstd=99", false, false },
	{ "zstd=0", false, false },
	{ "cap=0", false, false },
	{ "wait=abc", false, false },
	{ "gc=-5", false, false },
	{ "create=everyone", false, false },
	{ "create=", false, false },
	{ "bogusopt", false, true },
	{ NULL, true, false },
};

START_TEST(bad_option_is_refused_before_mounting)
{
	const char *mnt = bad[_i].no_mnt ? mu_in_root("no-such-dir") : mu.mnt;
	char *store = strdup(mu_in_root("new-store"));
	char *argv[8] = { NULL, "-f" }, *err;
	int argc = 2, st;

	ck_assert_ptr_nonnull(store);
	if (bad[_i].opts) {
		argv[argc++] = "-o";
		argv[argc++] = (char *)(uintptr_t)bad[_i].opts;
	}
	argv[argc++] = store;
	argv[argc++] = (char *)(uintptr_t)mnt;
	argv[argc] = NULL;
	st = heapfs_run(argv, &err);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1,
		      "heapfs -o %s: status 0x%x, want exit 1; it said:\n%s",
		      bad[_i].opts ? bad[_i].opts : "(none)", st, err);
	ck_assert_msg(says_heapfs(err), "heapfs -o %s: no \"heapfs: \" message:\n%s",
		      bad[_i].opts ? bad[_i].opts : "(none)", err);
	/* Our own options are one line, and checked before the store is touched. */
	if (!bad[_i].fuse_option) {
		ck_assert_msg(strncmp(err, "heapfs: ", 8) == 0 && strchr(err, '\n') == err + strlen(err) - 1,
			      "want one \"heapfs: \" line, got:\n%s", err);
		ck_assert_msg(!exists(store), "a refused start created the store %s", store);
	}
	ck_assert(!mu_is_mounted(mu.mnt));
	ck_assert(!mu_is_mounted(mnt));
	ck_assert_msg(!exists(mu_in_root("no-such-dir")), "the missing mount point appeared");
	free(err);
	free(store);
}
END_TEST

START_TEST(store_that_is_a_regular_file_is_refused)
{
	static const char content[] = "not a store\n";
	char *argv[] = { NULL, "-f", (char *)(uintptr_t)mu_in_root("store-file"), mu.mnt, NULL };
	char *err, *after;
	FILE *f = fopen(argv[2], "w");
	int st;

	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	fclose(f);
	st = heapfs_run(argv, &err);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1,
		      "status 0x%x, want exit 1; it said:\n%s", st, err);
	ck_assert_msg(strncmp(err, "heapfs: ", 8) == 0, "no \"heapfs: \" message:\n%s", err);
	ck_assert(!mu_is_mounted(mu.mnt));
	after = mu_slurp(argv[2], NULL);
	ck_assert_ptr_nonnull(after);
	ck_assert_str_eq(after, content);
	free(after);
	free(err);
}
END_TEST

START_TEST(store_in_use_is_refused)
{
	char *argv[] = { NULL, "-f", mu.store, (char *)(uintptr_t)mu_in_root("mnt2"), NULL };
	char *err;
	int st;

	mu_mount(NULL);
	ck_assert_int_eq(mkdir(argv[3], 0755), 0);
	ck_assert_int_eq(mkdir(mu_at("app"), 0755), 0);
	st = heapfs_run(argv, &err);
	if (mu_is_mounted(argv[3])) {
		char *um[] = { "fusermount3", "-u", argv[3], NULL };

		mu_run(NULL, NULL, um);
	}
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1,
		      "a second daemon on a store in use: status 0x%x; it said:\n%s", st, err);
	ck_assert_msg(strncmp(err, "heapfs: ", 8) == 0, "no \"heapfs: \" message:\n%s", err);
	ck_assert(!mu_is_mounted(argv[3]));
	/* The first mount still serves. */
	ck_assert(mu_is_mounted(mu.mnt));
	ck_assert_int_eq(access(mu_at("app/heap"), F_OK), 0);
	free(err);
}
END_TEST

/* ---- mount.heapfs, as mount(8) runs it --------------------------------- */

/* Run mount.heapfs with @argv (argv[0] is ignored); its wait status. */
static int helper_run(char **argv, char **err_out)
{
	int st;

	argv[0] = MOUNT_HEAPFS_BIN;
	st = mu_run_timeout(NULL, mu_in_root("run.err"), argv, RUN_LIMIT_S);
	ck_assert_msg(st >= 0, "cannot run %s", MOUNT_HEAPFS_BIN);
	*err_out = mu_slurp(mu_in_root("run.err"), NULL);
	ck_assert_ptr_nonnull(*err_out);
	return st;
}

START_TEST(mount_helper_drops_mount_options)
{
	char opts[] = "line=16K,defaults,noauto,nofail,_netdev,x-systemd.automount,comment=x";
	char dash_o[] = "-o", dash_n[] = "-n";
	char *argv[] = { NULL, mu.store, mu.mnt, dash_n, dash_o, opts, NULL }, *err;
	char val[32] = "";
	pid_t daemon;
	int st;

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	st = helper_run(argv, &err);
	ck_assert_msg(mu_is_mounted(mu.mnt), "not mounted (0x%x): %s", st, err);
	daemon = mu_child_find("heapfs");
	if (daemon)
		mu_adopt(daemon);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x: %s", st, err);
	/* The heapfs option reached heapfs; mount(8)'s were not passed on. */
	ck_assert_int_eq(mkdir(mu_at("app"), 0755), 0);
	ck_assert_int_gt(getxattr(mu_at("app"), "user.heapfs.line_size", val, sizeof(val) - 1), 0);
	ck_assert_str_eq(val, "16384");
	mu_unmount();
	free(err);
}
END_TEST

START_TEST(mount_helper_cleans_a_stale_mount)
{
	char *argv[] = { NULL, mu.store, mu.mnt, NULL }, *err;
	struct stat sb;
	pid_t daemon;
	int st;

	/* A daemon killed outright leaves a mount that answers ENOTCONN. */
	mu_mount(NULL);
	ck_assert_int_eq(mkdir(mu_at("app"), 0755), 0);
	ck_assert_int_eq(kill(mu.pid, SIGKILL), 0);
	st = mu_daemon_wait(10);
	ck_assert(WIFSIGNALED(st));
	ck_assert_int_eq(stat(mu.mnt, &sb), -1);
	ck_assert_int_eq(errno, ENOTCONN);
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	st = helper_run(argv, &err);
	daemon = mu_child_find("heapfs");
	if (daemon)
		mu_adopt(daemon);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x: %s", st, err);
	ck_assert_ptr_nonnull(strstr(err, "stale mount"));
	/* Mounted again, on the same store: the heap is there. */
	ck_assert(mu_is_mounted(mu.mnt));
	ck_assert_int_eq(access(mu_at("app/heap"), F_OK), 0);
	mu_unmount();
	free(err);
}
END_TEST

/* ---- background mode and signals -------------------------------------- */

START_TEST(background_returns_once_mounted)
{
	char *argv[] = { NULL, mu.store, mu.mnt, NULL }, *err;
	pid_t daemon;
	int st;

	/* The daemon's parent exits: become its reaper, to see how it ends. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	st = heapfs_run(argv, &err);
	/* Right after it returns, with no polling: mounted. */
	ck_assert_msg(mu_is_mounted(mu.mnt), "heapfs returned (0x%x) before the mount was ready", st);
	daemon = mu_child_find("heapfs");
	if (daemon)
		mu_adopt(daemon);   /* teardown unmounts and reaps it, whatever happens */
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x; it said:\n%s", st, err);
	ck_assert_msg(daemon > 0, "no background daemon found");
	ck_assert_int_eq(mkdir(mu_at("app"), 0755), 0);
	ck_assert_int_eq(access(mu_at("app/heap"), F_OK), 0);
	/* fusermount3 -u ends it: mu_unmount polls until it is gone, exit 0. */
	mu_unmount();
	ck_assert(!mu_is_mounted(mu.mnt));
	ck_assert_int_eq(kill(daemon, 0), -1);
	free(err);
}
END_TEST

START_TEST(sigterm_unmounts_cleanly_and_keeps_data)
{
	static const char words[] = "written before SIGTERM";
	char got[sizeof(words)], *l;
	int fd, st;

	mu_mount(NULL);
	ck_assert_int_eq(mkdir(mu_at("app"), 0755), 0);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	ck_assert_int_eq(pwrite(fd, words, sizeof(words), 3 * 65536 + 7), (ssize_t)sizeof(words));
	close(fd);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/c"), 0755), 0);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	ck_assert_int_eq(pwrite(fd, "after", 5, 0), 5);   /* live only, not fsynced */
	close(fd);

	ck_assert_int_eq(kill(mu.pid, SIGTERM), 0);
	st = mu_daemon_wait(20);
	ck_assert_msg(st != -1, "heapfs still runs 20 s after SIGTERM");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "after SIGTERM: status 0x%x; it said:\n%s",
		      st, mu_daemon_said());
	ck_assert_msg(!mu_is_mounted(mu.mnt), "still mounted after SIGTERM");

	/* The store reopens with everything written before. */
	mu_mount(NULL);
	fd = mu_open(mu_at("app/heap"), O_RDONLY);
	ck_assert_int_eq(pread(fd, got, sizeof(got), 3 * 65536 + 7), (ssize_t)sizeof(got));
	ck_assert_str_eq(got, words);
	ck_assert_int_eq(pread(fd, got, 5, 0), 5);
	ck_assert(memcmp(got, "after", 5) == 0);
	close(fd);
	fd = mu_open(mu_at("app/checkpoints/c/heap"), O_RDONLY);
	ck_assert_int_eq(pread(fd, got, 5, 0), 5);
	ck_assert(memcmp(got, "\0\0\0\0\0", 5) == 0);
	close(fd);
	l = mu_list(mu_at("app/lines"));
	ck_assert_ptr_nonnull(l);
	ck_assert_str_eq(l, "0000000000000000\n0000000000030000\n");
	free(l);
}
END_TEST

/*
 * DESIGN: unmount flushes everything.  When the last write-back cannot be
 * done (here: the store's disk is full) the daemon must say so on stderr
 * and exit 1, not 0 as if nothing was lost.  The store lives on a 16 MiB
 * tmpfs; 24 MiB of incompressible lines stay dirty in a 64 MiB line cache
 * (under half of it, within the 5 s before write-back) until the unmount.
 */
START_TEST(unmount_says_when_the_last_write_back_fails)
{
	static uint64_t chunk[(1 << 20) / 8];
	struct mu_rng r;
	int fd, st;

	ck_assert_msg(mount("tmpfs", mu.store, "tmpfs", 0, "size=16m") == 0,
		      "mount tmpfs on %s: %s (run as root)", mu.store, strerror(errno));
	mu_mount("cache=64M");
	ck_assert_int_eq(mkdir(mu_at("app"), 0755), 0);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	mu_rng_seed(&r, 12);
	for (int mib = 0; mib < 24; mib++) {
		for (size_t i = 0; i < sizeof(chunk) / 8; i++)
			chunk[i] = mu_rng_next(&r);
		mu_pwrite_all(fd, chunk, sizeof(chunk), (uint64_t)mib << 20);
	}
	close(fd);
	st = mu_run(NULL, NULL, (char *[]){ "fusermount3", "-u", mu.mnt, NULL });
	if (st == 0)
		st = mu_daemon_wait(60);
	else
		st = -2;
	umount2(mu.store, MNT_DETACH);   /* ours: gone before any assertion */
	ck_assert_msg(st != -2, "fusermount3 -u failed");
	ck_assert_msg(st != -1, "heapfs still runs 60 s after fusermount3 -u");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1,
		      "heapfs exited with status 0x%x after losing lines; it said:\n%s",
		      st, mu_daemon_said());
	ck_assert_msg(strstr(mu_daemon_said(), "could not be written back") &&
		      strstr(mu_daemon_said(), "'app'"),
		      "heapfs did not say what it lost:\n%s", mu_daemon_said());
	ck_assert(!mu_is_mounted(mu.mnt));
}
END_TEST

/* ---- the suite ------------------------------------------------------ */

static Suite *daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc;

	tc = tcase_create("options");
	tcase_add_checked_fixture(tc, setup_root, mu_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, bad_option_is_refused_before_mounting, 0,
			    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, store_that_is_a_regular_file_is_refused);
	tcase_add_test(tc, store_in_use_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_add_checked_fixture(tc, setup_root, mu_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, background_returns_once_mounted);
	tcase_add_test(tc, sigterm_unmounts_cleanly_and_keeps_data);
	tcase_add_test(tc, unmount_says_when_the_last_write_back_fails);
	tcase_add_test(tc, mount_helper_drops_mount_options);
	tcase_add_test(tc, mount_helper_cleans_a_stale_mount);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mu_main(daemon_suite());
}
