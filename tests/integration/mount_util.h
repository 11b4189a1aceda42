/*
 * mount_util.h - the mount fixture of the integration suites (prefix mu_):
 * a real heapfs daemon on a real FUSE mount, one per test.
 *
 * Each test gets a root made with mkdtemp() holding store/ (the daemon's
 * store), mnt/ (its mount point) and daemon.err (its stdout and stderr).
 * mu_mount() spawns `heapfs -f [-o OPTS] store mnt` and returns once
 * /proc/self/mountinfo shows mnt as fuse.heapfs; mu_unmount() runs
 * `fusermount3 -u mnt`, reaps the daemon and checks, with the same
 * predicate, that the mount is gone and that the daemon exited 0.
 *
 * A failed ck_assert ends a forked test without its teardown, and Check
 * then SIGKILLs the test's process group.  So the daemon runs in a process
 * group of its own, and mu_root_make() forks a guard process (also in its
 * own group) that waits for the test to end: after a clean teardown it has
 * nothing to do; if the test died it unmounts mnt and removes the root at
 * once.  As a last net every root lives under one directory made by
 * mu_main(), which (a child subreaper) reaps what failed tests left, and
 * unmounts and removes anything still there, failing the run if it had to.
 */
#ifndef HEAPFS_MOUNT_UTIL_H
#define HEAPFS_MOUNT_UTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifndef HEAPFS_BIN
#error "HEAPFS_BIN (the daemon's path) must be defined by the build"
#endif

/* The running test's root and mount. */
struct mu {
	char root[256];     /* realpath of the mkdtemp'd root, "" when none */
	char store[300];    /* root/store */
	char mnt[300];      /* root/mnt */
	char err[300];      /* root/daemon.err: the daemon's stdout and stderr */
	char opts[256];     /* the -o list of the current mount, "" for none */
	char netns[64];     /* "" or a network namespace the daemon runs in (its
			       data channel is an abstract socket: per namespace) */
	pid_t pid;          /* the -f daemon, 0 when none runs */
};

extern struct mu mu;

/*
 * Runs @s and returns the exit status for main().  First the skip rule:
 * when /dev/fuse cannot be opened O_RDWR or fusermount3 is not in PATH,
 * prints "SKIP: /dev/fuse unusable: <why>" and returns 77, unless CI=true,
 * where that is a failure.  Nothing else skips.
 */
int mu_main(Suite *s);

/*
 * A second node: another daemon under the same root (store2/, mnt2/,
 * daemon2.err), for the migration suites.  mu_b_swap() exchanges it with
 * mu, so every mu_ call acts on it until swapped back.  A failed test
 * leaves it to mu_main()'s sweep of every mount under its roots.
 */
extern struct mu mu_b;
void mu_b_init(void);                 /* after mu_root_make(): paths, mnt2/ */
void mu_b_swap(void);
void mu_b_mount(const char *opts);
void mu_b_unmount(void);
const char *mu_b_at(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Fixtures of the two-node suites: mu_setup() and node B mounted; both gone. */
void mu_b_setup(void);
void mu_b_teardown(void);

/* A fresh root (store/ and mnt/ empty); ck_asserts on failure. */
void mu_root_make(void);
/* rm -rf the root, never crossing into a mount; a no-op without a root. */
void mu_root_remove(void);

/* Start `heapfs -f [-o @opts] store mnt` and wait for the mount (10 s). */
void mu_mount(const char *opts);
/*
 * Unmount, reap the daemon (SIGTERM after 10 s, SIGKILL after 20 s) and
 * ck_assert that the mount is gone and the daemon exited 0.  Cleans up
 * before asserting, so a failed check leaves nothing mounted.
 */
void mu_unmount(void);
/* mu_unmount() then mu_mount() with the same store and options. */
void mu_remount(void);

/*
 * Clean the stale mount a killed daemon left behind (mu.pid already reaped,
 * e.g. SIGKILL then mu_daemon_wait()): ck_assert that the mount is still
 * there and answers ENOTCONN, then `fusermount3 -u` it (retrying EBUSY for
 * a few seconds, as mu_unmount() does) and ck_assert that it is gone.
 * Cleans up (`fusermount3 -uz`) before failing.
 */
void mu_stale_unmount(void);

/* Wait for the -f daemon (at most @timeout_s) without unmounting; its wait status. */
int mu_daemon_wait(double timeout_s);

/*
 * Adopt @pid, a heapfs daemon that is our child (a background daemon,
 * reparented to us as child subreaper), as the mount's daemon, so that
 * mu_unmount() reaps and checks it.
 */
void mu_adopt(pid_t pid);
/* Our first child process whose command name is @comm, or 0. */
pid_t mu_child_find(const char *comm);

/* What the daemon printed so far (its stdout and stderr), for failure messages. */
const char *mu_daemon_said(void);
/* The file that collects all of it (mu_slurp() it for more than the above). */
const char *mu_daemon_log(void);

/* Checked fixtures: a fresh root and a default mount; and its end. */
void mu_setup(void);
void mu_teardown(void);
/* A test case of @s with fixtures @setup and mu_teardown, 120 s per test. */
TCase *mu_tcase_new(Suite *s, const char *name, void (*setup)(void));

/* Is @mnt a mount point of type fuse.heapfs in /proc/self/mountinfo? */
bool mu_is_mounted(const char *mnt);

/* "<mnt>/<fmt...>" in one of 16 rotating static buffers. */
const char *mu_at(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Files @a and @b hold the same bytes (the test fails otherwise). */
void mu_expect_same_file(const char *a, const char *b);
/* "<root>/<fmt...>", same buffers. */
const char *mu_in_root(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Run a real program (PATH is searched), stdin from /dev/null, stdout to
 * @out_path (or /dev/null when NULL), stderr to @err_path (or inherited
 * when NULL).  Returns its wait status, or -1 if it could not start.
 */
int mu_run(const char *out_path, const char *err_path, char *const argv[]);
/*
 * mu_run() that gives up after @timeout_s (<= 0: never): the program is
 * then stopped (SIGTERM, SIGKILL; that pid only) and -2 is returned.
 */
int mu_run_timeout(const char *out_path, const char *err_path, char *const argv[],
		   double timeout_s);
/* /bin/sh -c @cmd, stdout to @out_path; the exit code, or -1 on a signal. */
int mu_sh(const char *out_path, const char *cmd);

/* The whole file (NUL-terminated, length in *@len if @len); NULL + errno on failure. */
char *mu_slurp(const char *path, size_t *len);
/* Run @argv (NULL-terminated): its exit code (-1 if it did not exit), its
 * stdout in *@out (free it); its stderr stays in mu_in_root("run.err"). */
int mu_run_out(char **out, const char *const *argv);
/* The number after "@key: " at the start of a line of the file @rel under
 * the mount (a stat file, .heapfs/pool); fails the test if there is none. */
uint64_t mu_text_u64(const char *rel, const char *key);
/* A number-valued attribute of @rel under the mount. */
uint64_t mu_xattr_u64(const char *rel, const char *name);

/*
 * The names in @dir in readdir order without "." and "..", each followed
 * by '\n', in a malloc'd string ("" when empty); NULL + errno on failure.
 */
char *mu_list(const char *dir);

/* Open @path or ck_abort with why. */
int mu_open(const char *path, int flags);

/* Deterministic non-zero-ish content, a function of (@seed, @off + i). */
void mu_fill(void *buf, size_t len, uint64_t seed, uint64_t off);

/* pwrite/pread exactly @len bytes at @off, or ck_assert with the errno. */
void mu_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
void mu_pread_all(int fd, void *buf, size_t len, uint64_t off);
/* The file @rel in the mount holds the whole line @line. */
void mu_assert_text_line(const char *rel, const char *line);
/* The target of symlink @rel in the mount (a static buffer). */
const char *mu_readlink_at(const char *rel);

/* The lines of @text sorted, each ending in '\n' (malloc'd; at most 256). */
char *mu_lines_sorted(const char *text);
/* Does @text hold the whole line @line? */
bool mu_has_line(const char *text, const char *line);

/* A seeded, reproducible PRNG for the randomized suites: xoshiro256**
 * seeded by splitmix64. */
struct mu_rng {
	uint64_t s[4];
};
uint64_t mu_splitmix64(uint64_t *x);
void mu_rng_seed(struct mu_rng *r, uint64_t seed);
uint64_t mu_rng_next(struct mu_rng *r);
/* Uniform in [0, @n); 0 when @n is 0. */
uint64_t mu_rnd(struct mu_rng *r, uint64_t n);

/* Seconds on CLOCK_MONOTONIC. */
double mu_now(void);
/* Sleep @ms milliseconds. */
void mu_sleep_ms(unsigned ms);

#endif
