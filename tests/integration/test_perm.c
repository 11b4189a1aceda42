/*
 * test_perm.c - who may touch a heap, through a real mount shared with
 * -o allow_other: each heap has an owner, a group and a mode (the creator's,
 * private by default, under its umask), every file of the heap follows
 * them, the kernel enforces them (default_permissions) against other
 * users, chmod/chown/chgrp follow POSIX rules, and all of it survives a
 * remount.  Other users are forked children that drop to an unprivileged
 * uid (the suite runs as root, as CI does).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mount_util.h"

#define LS 65536
#define NOBODY 65534
#define OTHER 12345

/* The mount and the directories above it must be searchable by others. */
static void setup(void)
{
	char parent[sizeof(mu.root)];

	mu_root_make();
	snprintf(parent, sizeof(parent), "%s", mu.root);
	ck_assert_int_eq(chmod(dirname(parent), 0711), 0);
	ck_assert_int_eq(chmod(mu.root, 0711), 0);
	mu_mount("allow_other");
}

/* ---- running as another user ---------------------------------------- */

static char why[4096];
static size_t why_len;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (why_len < sizeof(why))
		why_len += (size_t)vsnprintf(why + why_len, sizeof(why) - why_len, fmt, ap);
	va_end(ap);
}

/* In the child: @expr failed with errno @e, or say what it did instead. */
#define EXPECT_ERRNO(expr, e)                                                     \
	do {                                                                      \
		errno = 0;                                                        \
		long long r_ = (long long)(expr);                                 \
		if (r_ != -1 || errno != (e))                                     \
			note("%s: got %lld, errno %d (%s); want %s\n", #expr, r_, \
			     errno, strerror(errno), #e);                         \
	} while (0)
#define EXPECT_OK(expr)                                                           \
	do {                                                                      \
		errno = 0;                                                        \
		if ((long long)(expr) < 0)                                        \
			note("%s: errno %d (%s)\n", #expr, errno, strerror(errno)); \
	} while (0)

/*
 * Run @fn as uid @uid, gid @gid (no supplementary groups but @extra, if
 * not 0) in a forked child; ck_asserts that it found nothing amiss.
 */
static void as_user(uid_t uid, gid_t gid, gid_t extra, void (*fn)(void), const char *what)
{
	int fds[2];
	pid_t pid;
	int st;
	char buf[4096];
	ssize_t n;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		gid_t groups[1] = { extra };

		close(fds[0]);
		why_len = 0;
		why[0] = '\0';
		if (setgroups(extra ? 1 : 0, groups) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
			dprintf(fds[1], "cannot become %u:%u: %s\n", uid, gid, strerror(errno));
			_exit(1);
		}
		fn();
		if (why_len)
			(void)!write(fds[1], why, why_len);
		_exit(why_len ? 1 : 0);
	}
	close(fds[1]);
	n = read(fds[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s (as %u:%u): status 0x%x\n%s",
		      what, uid, gid, st, buf);
}

static mode_t mode_of(const char *rel)
{
	struct stat st;

	ck_assert_msg(lstat(mu_at("%s", rel), &st) == 0, "%s: %s", rel, strerror(errno));
	return st.st_mode & 07777;
}

static void owner_is(const char *rel, uid_t uid, gid_t gid)
{
	struct stat st;

	ck_assert_int_eq(lstat(mu_at("%s", rel), &st), 0);
	ck_assert_msg(st.st_uid == uid && st.st_gid == gid, "%s: owner %u:%u, want %u:%u",
		      rel, st.st_uid, st.st_gid, uid, gid);
}

static void write_heap(const char *heap, const char *text)
{
	int fd = mu_open(mu_at("%s/heap", heap), O_RDWR);

	mu_pwrite_all(fd, text, strlen(text), 0);
	close(fd);
}

/* ---- the tests ------------------------------------------------------- */

START_TEST(mkdir_gives_the_caller_a_private_heap_under_its_umask)
{
	mode_t old = umask(022);

	ck_assert_int_eq(mkdir(mu_at("app"), 0777), 0);
	write_heap("app", "secret");
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/one"), 0777), 0);
	owner_is("app", 0, 0);
	owner_is("app/heap", 0, 0);
	ck_assert_uint_eq(mode_of("app"), 0700);
	ck_assert_uint_eq(mode_of("app/heap"), 0600);
	ck_assert_uint_eq(mode_of("app/state"), 0600);
	ck_assert_uint_eq(mode_of("app/txn"), 0600);
	ck_assert_uint_eq(mode_of("app/stat"), 0400);
	ck_assert_uint_eq(mode_of("app/lines"), 0700);
	ck_assert_uint_eq(mode_of("app/lines/0000000000000000"), 0600);
	ck_assert_uint_eq(mode_of("app/checkpoints"), 0700);
	ck_assert_uint_eq(mode_of("app/checkpoints/1"), 0500);
	ck_assert_uint_eq(mode_of("app/checkpoints/1/heap"), 0400);
	ck_assert_uint_eq(mode_of("app/checkpoints/1/lines/0000000000000000"), 0400);
	mu_assert_text_line("app/stat", "mode: 0700");
	mu_assert_text_line("app/stat", "owner: 0");

	/* The umask takes bits off the private default; so does mkdir's mode. */
	umask(0277);
	ck_assert_int_eq(mkdir(mu_at("masked"), 0777), 0);
	umask(0);
	ck_assert_int_eq(mkdir(mu_at("asked"), 0750), 0);
	umask(old);
	ck_assert_uint_eq(mode_of("masked"), 0500);
	ck_assert_uint_eq(mode_of("masked/heap"), 0400);
	ck_assert_uint_eq(mode_of("asked"), 0700 & 0750);
}
END_TEST

static void nobody_is_refused_everything(void)
{
	char buf[8];
	DIR *d;

	EXPECT_ERRNO(open(mu_at("app/heap"), O_RDONLY), EACCES);
	EXPECT_ERRNO(open(mu_at("app/heap"), O_RDWR), EACCES);
	EXPECT_ERRNO(open(mu_at("app/state"), O_RDONLY), EACCES);
	EXPECT_ERRNO(open(mu_at("app/txn"), O_RDWR), EACCES);
	EXPECT_ERRNO(open(mu_at("app/stat"), O_RDONLY), EACCES);
	EXPECT_ERRNO(truncate(mu_at("app/heap"), 0), EACCES);
	EXPECT_ERRNO(mkdir(mu_at("app/checkpoints/mine"), 0700), EACCES);
	EXPECT_ERRNO(open(mu_at("app/checkpoints/1/heap"), O_RDONLY), EACCES);
	EXPECT_ERRNO(rmdir(mu_at("app/checkpoints/1")), EACCES);
	EXPECT_ERRNO(rmdir(mu_at("app")), EACCES);
	EXPECT_ERRNO(setxattr(mu_at("app"), "user.heapfs.quota", "1M", 2, 0), EACCES);
	EXPECT_ERRNO(getxattr(mu_at("app"), "user.heapfs.quota", buf, sizeof(buf)), EACCES);
	EXPECT_ERRNO(chmod(mu_at("app"), 0777), EPERM);
	EXPECT_ERRNO(chown(mu_at("app"), NOBODY, NOBODY), EPERM);
	EXPECT_ERRNO(mkdir(mu_at("mine"), 0700), EACCES);   /* the top level is the owner's */
	errno = 0;
	d = opendir(mu_at("app/lines"));
	if (d || errno != EACCES)
		note("opendir(app/lines): %p, errno %d; want EACCES\n", (void *)d, errno);
	if (d)
		closedir(d);
}

START_TEST(another_user_gets_nothing_of_a_private_heap)
{
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	write_heap("app", "secret");
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/c"), 0700), 0);
	as_user(NOBODY, NOBODY, 0, nobody_is_refused_everything, "a stranger");
	/* Nothing of it happened. */
	ck_assert_uint_eq(mode_of("app"), 0700);
	owner_is("app", 0, 0);
	mu_assert_text_line("app/stat", "checkpoints: 1");
}
END_TEST

static void group_reads_not_writes(void)
{
	char buf[7] = "";
	int fd = open(mu_at("app/heap"), O_RDONLY);
	DIR *d;

	if (fd < 0) {
		note("open(app/heap, O_RDONLY): %s\n", strerror(errno));
	} else {
		if (pread(fd, buf, 6, 0) != 6 || memcmp(buf, "secret", 6) != 0)
			note("the group reads '%s'\n", buf);
		close(fd);
	}
	EXPECT_ERRNO(open(mu_at("app/heap"), O_WRONLY), EACCES);
	EXPECT_ERRNO(mkdir(mu_at("app/checkpoints/g"), 0700), EACCES);
	EXPECT_ERRNO(chmod(mu_at("app"), 0777), EPERM);   /* not the owner */
	d = opendir(mu_at("app/lines"));
	if (!d)
		note("opendir(app/lines): %s\n", strerror(errno));
	else
		closedir(d);
}

static void group_writes(void)
{
	int fd = open(mu_at("app/heap"), O_RDWR);

	if (fd < 0) {
		note("open(app/heap, O_RDWR): %s\n", strerror(errno));
		return;
	}
	if (pwrite(fd, "G", 1, LS) != 1)
		note("pwrite: %s\n", strerror(errno));
	close(fd);
	EXPECT_OK(mkdir(mu_at("app/checkpoints/by-group"), 0700));
}

static void outsider_reads_nothing(void)
{
	EXPECT_ERRNO(open(mu_at("app/heap"), O_RDONLY), EACCES);
}

START_TEST(group_and_mode_bits_grant_exactly_what_they_say)
{
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	write_heap("app", "secret");
	ck_assert_int_eq(chown(mu_at("app"), (uid_t)-1, NOBODY), 0);
	ck_assert_int_eq(chmod(mu_at("app"), 0750), 0);
	ck_assert_uint_eq(mode_of("app/heap"), 0640);
	owner_is("app/heap", 0, NOBODY);
	as_user(OTHER, OTHER, NOBODY, group_reads_not_writes, "a member of the group");
	as_user(OTHER, OTHER, 0, outsider_reads_nothing, "a user outside the group");
	/* chmod of a file sets the heap's mode: g+w on heap is g+w everywhere. */
	ck_assert_int_eq(chmod(mu_at("app/heap"), 0660), 0);
	ck_assert_uint_eq(mode_of("app"), 0770);
	ck_assert_uint_eq(mode_of("app/state"), 0660);
	as_user(OTHER, NOBODY, 0, group_writes, "the group, now writable");
	mu_assert_text_line("app/stat", "checkpoints: 1");
}
END_TEST

static void owner_may_chmod_and_nothing_more(void)
{
	EXPECT_OK(chmod(mu_at("app"), 0750));
	EXPECT_ERRNO(chown(mu_at("app"), 0, (gid_t)-1), EPERM);   /* give it away */
	EXPECT_ERRNO(chown(mu_at("app"), (uid_t)-1, 0), EPERM);   /* a group it is not in */
	EXPECT_OK(chown(mu_at("app"), (uid_t)-1, OTHER));          /* one it is in */
	EXPECT_OK(truncate(mu_at("app/heap"), 3 * LS));
	EXPECT_OK(mkdir(mu_at("app/checkpoints/mine"), 0700));
	EXPECT_OK(setxattr(mu_at("app"), "user.heapfs.keep", "3", 1, 0));
	/* The pool's settings are not the heap owner's to give itself. */
	EXPECT_ERRNO(setxattr(mu_at("app"), "user.heapfs.quota", "1G", 2, 0), EPERM);
	EXPECT_ERRNO(setxattr(mu_at("app"), "user.heapfs.reserve", "1G", 2, 0), EPERM);
	EXPECT_ERRNO(removexattr(mu_at("app"), "user.heapfs.quota"), EPERM);
}

START_TEST(chown_and_chmod_follow_posix_and_survive_a_remount)
{
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	ck_assert_int_eq(chown(mu_at("app"), NOBODY, NOBODY), 0);
	owner_is("app/heap", NOBODY, NOBODY);
	as_user(NOBODY, NOBODY, OTHER, owner_may_chmod_and_nothing_more, "the new owner");
	ck_assert_uint_eq(mode_of("app"), 0750);
	owner_is("app", NOBODY, OTHER);
	/* Checkpoints are immutable, their modes too. */
	ck_assert_int_eq(chmod(mu_at("app/checkpoints/1/heap"), 0644), -1);
	ck_assert_int_eq(errno, EROFS);
	mu_remount();
	ck_assert_uint_eq(mode_of("app"), 0750);
	ck_assert_uint_eq(mode_of("app/heap"), 0640);
	owner_is("app/heap", NOBODY, OTHER);
	owner_is("app/checkpoints/1/heap", NOBODY, OTHER);
	ck_assert_uint_eq(mode_of("app/checkpoints/1/heap"), 0440);
	mu_assert_text_line("app/stat", "size: 196608");
}
END_TEST

/* ---- heapctl through .heapfs/ctl, as the caller ----------------------- */

/* In the child: run `heapctl -m MNT ARGS`; its output into @out, its status. */
static int heapctl_run(char *out, size_t cap, const char *args)
{
	char cmd[1024];
	FILE *p;
	size_t n = 0;
	int st;

	snprintf(cmd, sizeof(cmd), "%s -m %s %s 2>&1", HEAPCTL_BIN, mu.mnt, args);
	if (!(p = popen(cmd, "r")))
		return -1;
	while (n + 1 < cap && fgets(out + n, (int)(cap - n), p))
		n += strlen(out + n);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* In the child: heapctl ARGS fails, saying permission denied. */
static void ctl_refused(const char *args)
{
	char out[2048];
	int rc = heapctl_run(out, sizeof(out), args);

	if (rc != 1 || !strstr(out, "ermission denied"))
		note("heapctl %s: exit %d, said: %s\n", args, rc, out);
}

static void ctl_ok(const char *args, const char *has)
{
	char out[4096];
	int rc = heapctl_run(out, sizeof(out), args);

	if (rc != 0 || (has && !strstr(out, has)))
		note("heapctl %s: exit %d, said: %s (want '%s')\n", args, rc, out, has ? has : "");
}

static void stranger_through_heapctl(void)
{
	ctl_refused("stat app");
	ctl_refused("checkpoints app");
	ctl_refused("diff app 1 live");
	ctl_refused("checkpoint app");
	ctl_refused("restore app 1");
	ctl_refused("rm-checkpoint app 1");
	ctl_refused("suspend app");
	ctl_refused("rm app");
	ctl_refused("create mine");
	ctl_refused("gc");
	/* fsck, as a raw request (heapctl sends it only with --store). */
	{
		static const char req[] = "{\"cmd\":\"fsck\"}";
		char buf[512] = "";
		int fd = open(mu_at(".heapfs/ctl"), O_RDWR);
		ssize_t n = -1;

		if (fd >= 0 && write(fd, req, strlen(req)) == (ssize_t)strlen(req))
			n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		if (!strstr(buf, "\"errno\":13"))
			note("a stranger's fsck request: fd %d, answer %s\n", fd, buf);
		if (fd >= 0)
			close(fd);
	}
	/* ls lists what it may read: "shared" (0755), not "app" (0700). */
	{
		char out[4096];
		int rc = heapctl_run(out, sizeof(out), "ls");

		if (rc != 0 || !strstr(out, "shared") || strstr(out, "app "))
			note("heapctl ls: exit %d, listed:\n%s\n", rc, out);
	}
	ctl_ok("stat shared", "mode: 0755");
	ctl_refused("checkpoint shared");   /* read, not write */
	ctl_ok("checkpoint theirs", "1");   /* their own heap */
	ctl_ok("restore theirs 1", NULL);
}

START_TEST(heapctl_requests_run_with_the_callers_rights)
{
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	write_heap("app", "secret");
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/c"), 0700), 0);
	ck_assert_int_eq(mkdir(mu_at("shared"), 0700), 0);
	ck_assert_int_eq(chmod(mu_at("shared"), 0755), 0);
	ck_assert_int_eq(mkdir(mu_at("theirs"), 0700), 0);
	ck_assert_int_eq(chown(mu_at("theirs"), NOBODY, NOBODY), 0);
	ck_assert_uint_eq(mode_of(".heapfs/ctl"), 0666);
	as_user(NOBODY, NOBODY, 0, stranger_through_heapctl, "a stranger's heapctl");
	/* Nothing of it happened to app. */
	mu_assert_text_line("app/stat", "checkpoints: 1");
	mu_assert_text_line("app/stat", "state: live");
	mu_assert_text_line("theirs/stat", "checkpoints: 1");
}
END_TEST

/*
 * A request written by one user is never answered to another: a ctl
 * descriptor that changes hands (inherited, or passed over a socket)
 * takes no request and gives no answer to anyone but its opener's uid.
 */
static int ctl_fd;

static void inherited_ctl_gives_nothing(void)
{
	char buf[256];

	EXPECT_ERRNO(read(ctl_fd, buf, sizeof(buf)), EACCES);
	EXPECT_ERRNO(write(ctl_fd, "{}", 2), EACCES);
}

START_TEST(ctl_answers_only_the_user_who_asked)
{
	static const char req[] = "{\"cmd\":\"stat\",\"heap\":\"app\"}";
	char buf[4096];
	ssize_t n;

	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	write_heap("app", "secret");
	ctl_fd = mu_open(mu_at(".heapfs/ctl"), O_RDWR);
	ck_assert_int_eq(write(ctl_fd, req, strlen(req)), (ssize_t)strlen(req));
	as_user(NOBODY, NOBODY, 0, inherited_ctl_gives_nothing, "a stranger holding root's ctl");
	n = pread(ctl_fd, buf, sizeof(buf) - 1, 0);   /* the opener still gets it */
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, "\"ok\":true") && strstr(buf, "\"name\":\"app\""), "%s", buf);
	close(ctl_fd);
}
END_TEST

/* ---- create=all: every user makes heaps, removes only their own ------- */

static void user_makes_and_removes_their_own(void)
{
	char out[2048];
	int rc;

	mode_t old = umask(0277);

	struct stat st;

	EXPECT_OK(mkdir(mu_at("mine"), 0777));   /* theirs, 0700 under the umask */
	umask(old);
	if (stat(mu_at("mine"), &st) != 0 || (st.st_mode & 07777) != 0500 || st.st_uid != NOBODY)
		note("mine: mode %o, owner %u; want 0500, %u\n", st.st_mode & 07777, st.st_uid,
		     NOBODY);
	if (chmod(mu_at("mine"), 0700) != 0)     /* the owner takes w back */
		note("chmod(mine, 0700): %s\n", strerror(errno));
	EXPECT_ERRNO(rmdir(mu_at("roots")), EPERM);   /* sticky: not theirs */
	EXPECT_ERRNO(open(mu_at("roots/heap"), O_RDONLY), EACCES);
	rc = heapctl_run(out, sizeof(out), "create viactl");
	if (rc != 0)
		note("heapctl create viactl: exit %d: %s\n", rc, out);
	ctl_refused("create greedy --quota 1G");
	/* Names and labels are names in the store, never paths. */
	{
		char out2[2048];

		rc = heapctl_run(out2, sizeof(out2), "create ../../escape");
		if (rc != 1 || (!strstr(out2, "byte 0x2e") && !strstr(out2, "'.'")))
			note("heapctl create ../../escape: exit %d: %s\n", rc, out2);
		rc = heapctl_run(out2, sizeof(out2), "checkpoint mine --label ../../etc");
		if (rc != 1 || !strstr(out2, "label"))
			note("heapctl checkpoint --label ../../etc: exit %d: %s\n", rc, out2);
	}
	ctl_refused("rm roots");
	EXPECT_OK(rmdir(mu_at("viactl")));
}

START_TEST(create_all_lets_every_user_make_heaps_and_remove_only_their_own)
{
	ck_assert_uint_eq(mode_of(""), 0755);   /* the default: the owner's */
	mu_unmount();
	mu_mount("allow_other,create=all");
	ck_assert_uint_eq(mode_of(""), 01777);
	ck_assert_int_eq(mkdir(mu_at("roots"), 0700), 0);
	as_user(NOBODY, NOBODY, 0, user_makes_and_removes_their_own, "a user of create=all");
	owner_is("mine", NOBODY, NOBODY);
	ck_assert_uint_eq(mode_of("mine"), 0700);
	ck_assert_int_eq(access(mu_in_root("escape"), F_OK), -1);
	ck_assert_int_eq(access(mu_at("escape"), F_OK), -1);
	owner_is("roots", 0, 0);
	ck_assert_int_eq(access(mu_at("viactl"), F_OK), -1);
	/* The owner (and root) still remove anything. */
	ck_assert_int_eq(rmdir(mu_at("mine")), 0);
}
END_TEST

static Suite *perm_suite(void)
{
	Suite *s = suite_create("perm");
	TCase *tc = mu_tcase_new(s, "perm", setup);

	tcase_add_test(tc, mkdir_gives_the_caller_a_private_heap_under_its_umask);
	tcase_add_test(tc, another_user_gets_nothing_of_a_private_heap);
	tcase_add_test(tc, group_and_mode_bits_grant_exactly_what_they_say);
	tcase_add_test(tc, chown_and_chmod_follow_posix_and_survive_a_remount);
	tcase_add_test(tc, heapctl_requests_run_with_the_callers_rights);
	tcase_add_test(tc, ctl_answers_only_the_user_who_asked);
	tcase_add_test(tc, create_all_lets_every_user_make_heaps_and_remove_only_their_own);
	return s;
}

int main(void)
{
	return mu_main(perm_suite());
}
