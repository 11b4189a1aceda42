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

static Suite *perm_suite(void)
{
	Suite *s = suite_create("perm");
	TCase *tc = mu_tcase_new(s, "perm", setup);

	tcase_add_test(tc, mkdir_gives_the_caller_a_private_heap_under_its_umask);
	tcase_add_test(tc, another_user_gets_nothing_of_a_private_heap);
	tcase_add_test(tc, group_and_mode_bits_grant_exactly_what_they_say);
	tcase_add_test(tc, chown_and_chmod_follow_posix_and_survive_a_remount);
	return s;
}

int main(void)
{
	return mu_main(perm_suite());
}
