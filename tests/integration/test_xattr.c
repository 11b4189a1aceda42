/*
 * test_xattr.c - the user.heapfs.* attributes of a heap directory through
 * a real mount: what they read, which can be set, the exact errno for the
 * rest, and that settings survive a remount; and that serving them does
 * not cost writes a GETXATTR each (fs/killpriv.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mount_util.h"

static void setup(void)
{
	mu_setup();
	ck_assert_int_eq(mkdir(mu_at("app"), 0755), 0);
}

static void expect_attr(const char *name, const char *want)
{
	char buf[300];
	ssize_t n = getxattr(mu_at("app"), name, buf, sizeof(buf) - 1);

	ck_assert_msg(n >= 0, "getxattr %s: %s", name, strerror(errno));
	buf[n] = '\0';
	ck_assert_str_eq(buf, want);
}

START_TEST(xattr_list_and_defaults)
{
	char list[512];
	ssize_t n = listxattr(mu_at("app"), list, sizeof(list));
	const char *want[] = { "line_size", "version", "referenced", "unique", "quota",
			       "reserve", "shares", "memory_reserve", "memory_quota",
			       "autocheckpoint", "keep" };
	size_t i = 0;

	ck_assert_int_gt(n, 0);
	for (char *p = list; p < list + n; p += strlen(p) + 1, i++) {
		ck_assert_uint_lt(i, 11);
		ck_assert_ptr_eq(strstr(p, "user.heapfs."), p);
		ck_assert_str_eq(p + strlen("user.heapfs."), want[i]);
	}
	ck_assert_uint_eq(i, 11);
	expect_attr("user.heapfs.line_size", "65536");
	expect_attr("user.heapfs.version", "1");
	expect_attr("user.heapfs.referenced", "0");
	expect_attr("user.heapfs.unique", "0");
	expect_attr("user.heapfs.quota", "0");
	expect_attr("user.heapfs.shares", "100");
	expect_attr("user.heapfs.memory_reserve", "0");
	expect_attr("user.heapfs.memory_quota", "0");
	expect_attr("user.heapfs.autocheckpoint", "off");
	expect_attr("user.heapfs.keep", "0");
	ck_assert_int_eq(getxattr(mu_at("app"), "user.heapfs.nope", list, sizeof(list)), -1);
	ck_assert_int_eq(errno, ENODATA);
	/* Only heap directories have them. */
	ck_assert_int_eq(listxattr(mu_at("app/heap"), list, sizeof(list)), 0);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/c"), 0755), 0);
	expect_attr("user.heapfs.version", "2");
}
END_TEST

START_TEST(xattr_settable_ones_persist)
{
	ck_assert_int_eq(setxattr(mu_at("app"), "user.heapfs.quota", "1G", 2, 0), 0);
	ck_assert_int_eq(setxattr(mu_at("app"), "user.heapfs.reserve", "64M", 3, 0), 0);
	ck_assert_int_eq(setxattr(mu_at("app"), "user.heapfs.shares", "250", 3, 0), 0);
	ck_assert_int_eq(setxattr(mu_at("app"), "user.heapfs.keep", "5\n", 2, 0), 0);
	ck_assert_int_eq(setxattr(mu_at("app"), "user.heapfs.memory_reserve", "16M", 3, 0), 0);
	ck_assert_int_eq(setxattr(mu_at("app"), "user.heapfs.memory_quota", "64M", 3, 0), 0);
	ck_assert_int_eq(setxattr(mu_at("app"), "user.heapfs.autocheckpoint",
				  "interval=30s,dirty=64M", 22, 0), 0);
	mu_remount();
	expect_attr("user.heapfs.quota", "1073741824");
	expect_attr("user.heapfs.reserve", "67108864");
	expect_attr("user.heapfs.shares", "250");
	expect_attr("user.heapfs.keep", "5");
	expect_attr("user.heapfs.autocheckpoint", "interval=30s,dirty=64M");
	expect_attr("user.heapfs.memory_reserve", "16777216");
	expect_attr("user.heapfs.memory_quota", "67108864");
	/* Removing one returns it to its default. */
	ck_assert_int_eq(removexattr(mu_at("app"), "user.heapfs.shares"), 0);
	expect_attr("user.heapfs.shares", "100");
	ck_assert_int_eq(removexattr(mu_at("app"), "user.heapfs.quota"), 0);
	expect_attr("user.heapfs.quota", "0");
}
END_TEST

static const struct {
	const char *name;
	const char *value;
	int err;
} refused[] = {
	{ "user.heapfs.line_size", "4096", EPERM },
	{ "user.heapfs.version", "7", EPERM },
	{ "user.heapfs.shares", "0", EINVAL },
	{ "user.heapfs.shares", "10001", EINVAL },
	{ "user.heapfs.shares", "-5", EINVAL },
	{ "user.heapfs.keep", "many", EINVAL },
	{ "user.heapfs.quota", "12Q", EINVAL },
	{ "user.heapfs.memory_quota", "lots", EINVAL },
	/* more of the line cache than the mount has (cache=, 256M) */
	{ "user.heapfs.memory_reserve", "300M", ENOSPC },
	{ "user.heapfs.autocheckpoint", "interval=x", EINVAL },
	{ "user.heapfs.autocheckpoint", "dirty=0", EINVAL },
	{ "user.heapfs.autocheckpoint", "sometimes", EINVAL },
	{ "user.other", "1", EOPNOTSUPP },
	{ "user.heapfs.unknown", "1", EOPNOTSUPP },
};

START_TEST(xattr_refused_with_exact_errno)
{
	ck_assert_int_eq(setxattr(mu_at("app"), refused[_i].name, refused[_i].value,
				  strlen(refused[_i].value), 0), -1);
	ck_assert_msg(errno == refused[_i].err, "%s=%s: %s", refused[_i].name,
		      refused[_i].value, strerror(errno));
	/* Nothing changed. */
	expect_attr("user.heapfs.line_size", "65536");
	expect_attr("user.heapfs.shares", "100");
	expect_attr("user.heapfs.keep", "0");
	expect_attr("user.heapfs.autocheckpoint", "off");
	expect_attr("user.heapfs.quota", "0");
	expect_attr("user.heapfs.memory_reserve", "0");
}
END_TEST

START_TEST(xattr_in_checkpoints_is_erofs)
{
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/c"), 0755), 0);
	ck_assert_int_eq(setxattr(mu_at("app/checkpoints/1"), "user.heapfs.keep", "1", 1, 0), -1);
	ck_assert_int_eq(errno, EROFS);
}
END_TEST

static size_t count(const char *text, const char *what)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/*
 * Without FUSE_HANDLE_KILLPRIV_V2 the kernel asks for security.capability
 * before every write (1000 GETXATTRs for 1000 writes); with it, once per
 * inode and attribute refresh.  libfuse's debug log counts the requests.
 */
START_TEST(writes_do_not_ask_for_capabilities)
{
	const int writes = 200;
	char buf[4096], *log;
	size_t w, g;
	int fd;

	mu_unmount();
	mu_mount("debug");
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	for (int i = 0; i < writes; i++) {
		mu_fill(buf, sizeof(buf), 7, (uint64_t)i * 65536);
		mu_pwrite_all(fd, buf, sizeof(buf), (uint64_t)i * 65536);
	}
	ck_assert_int_eq(close(fd), 0);
	expect_attr("user.heapfs.line_size", "65536");   /* xattrs still answer */
	log = mu_slurp(mu_daemon_log(), NULL);
	ck_assert_ptr_nonnull(log);
	w = count(log, "opcode: WRITE");
	g = count(log, "opcode: GETXATTR");
	free(log);
	ck_assert_msg(w >= (size_t)writes, "the debug log shows %zu writes", w);
	ck_assert_msg(g <= 8, "%zu GETXATTRs for %zu writes", g, w);
}
END_TEST

static Suite *xattr_suite(void)
{
	Suite *s = suite_create("xattr");
	TCase *tc = tcase_create("xattr");

	tcase_add_checked_fixture(tc, setup, mu_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, xattr_list_and_defaults);
	tcase_add_test(tc, xattr_settable_ones_persist);
	tcase_add_loop_test(tc, xattr_refused_with_exact_errno, 0,
			    (int)(sizeof(refused) / sizeof(refused[0])));
	tcase_add_test(tc, xattr_in_checkpoints_is_erofs);
	tcase_add_test(tc, writes_do_not_ask_for_capabilities);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mu_main(xattr_suite());
}
