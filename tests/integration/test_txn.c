/*
 * test_txn.c - MNT/<heap>/txn through a real mount: each open is a
 * transaction; reads see its snapshot and its own writes; fsync commits
 * all or nothing (EBUSY when a staged line changed meanwhile, also from
 * another process); close without a commit aborts; a commit is seen at
 * once through read() and through another process's mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mount_util.h"

#define LS 65536

static int heap_fd;

static void setup(void)
{
	char buf[LS];

	mu_setup();
	ck_assert_int_eq(mkdir(mu_at("app"), 0755), 0);
	heap_fd = open(mu_at("app/heap"), O_RDWR);
	ck_assert_int_ge(heap_fd, 0);
	for (int i = 0; i < 4; i++) {
		memset(buf, 'a' + i, sizeof(buf));
		ck_assert_int_eq(pwrite(heap_fd, buf, LS, (off_t)i * LS), LS);
	}
}

static void teardown(void)
{
	close(heap_fd);
	mu_teardown();
}

static void expect_byte(int fd, off_t off, char want)
{
	char got = 0;

	ck_assert_int_eq(pread(fd, &got, 1, off), 1);
	ck_assert_msg(got == want, "byte at %lld is '%c', want '%c'", (long long)off, got, want);
}

START_TEST(txn_commit_is_atomic_and_visible)
{
	int t = open(mu_at("app/txn"), O_RDWR);

	ck_assert_int_ge(t, 0);
	ck_assert_int_eq(pwrite(t, "XYZ", 3, 10), 3);
	ck_assert_int_eq(pwrite(t, "Q", 1, 3 * LS + 5), 1);
	/* The transaction sees its writes; the heap does not, yet. */
	expect_byte(t, 10, 'X');
	expect_byte(heap_fd, 10, 'a');
	expect_byte(heap_fd, 3 * LS + 5, 'd');
	ck_assert_int_eq(fsync(t), 0);
	expect_byte(heap_fd, 10, 'X');
	expect_byte(heap_fd, 12, 'Z');
	expect_byte(heap_fd, 3 * LS + 5, 'Q');
	/* A second fsync has nothing left to do; more writes are refused. */
	ck_assert_int_eq(fsync(t), 0);
	ck_assert_int_eq(pwrite(t, "R", 1, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(close(t), 0);
	expect_byte(heap_fd, 0, 'a');
}
END_TEST

START_TEST(txn_reads_its_snapshot)
{
	int t = open(mu_at("app/txn"), O_RDONLY);

	ck_assert_int_ge(t, 0);
	ck_assert_int_eq(pwrite(heap_fd, "N", 1, LS), 1);
	expect_byte(t, LS, 'b');   /* the snapshot predates the write */
	expect_byte(heap_fd, LS, 'N');
	close(t);
	t = open(mu_at("app/txn"), O_RDONLY);
	expect_byte(t, LS, 'N');   /* a new transaction sees it */
	close(t);
}
END_TEST

START_TEST(txn_close_without_fsync_aborts)
{
	int t = open(mu_at("app/txn"), O_RDWR);

	ck_assert_int_ge(t, 0);
	ck_assert_int_eq(pwrite(t, "ZZZZ", 4, 0), 4);
	ck_assert_int_eq(fallocate(t, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, LS, LS), 0);
	ck_assert_int_eq(close(t), 0);
	expect_byte(heap_fd, 0, 'a');
	expect_byte(heap_fd, LS + 100, 'b');
}
END_TEST

START_TEST(txn_punch_commits_zeroes)
{
	int t = open(mu_at("app/txn"), O_RDWR);
	struct stat st;

	ck_assert_int_eq(fallocate(t, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, LS, LS), 0);
	ck_assert_int_eq(fallocate(t, 0, 0, LS), -1);   /* only punching stages */
	ck_assert_int_eq(errno, EOPNOTSUPP);
	ck_assert_int_eq(ftruncate(t, 10), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(fsync(t), 0);
	close(t);
	expect_byte(heap_fd, LS + 7, '\0');
	ck_assert_int_eq(fstat(heap_fd, &st), 0);
	ck_assert_int_eq(st.st_size, 4 * LS);
	ck_assert_int_eq(access(mu_at("app/lines/%016x", LS), F_OK), -1);
}
END_TEST

/* Two processes stage the same line; the second to commit gets EBUSY. */
START_TEST(txn_conflict_between_processes_returns_ebusy)
{
	int go[2], done[2], t;
	pid_t pid;
	char c = 0;
	int status;

	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(done), 0);
	t = open(mu_at("app/txn"), O_RDWR);
	ck_assert_int_ge(t, 0);
	ck_assert_int_eq(pwrite(t, "P", 1, 2 * LS), 1);
	ck_assert_int_eq(pwrite(t, "P", 1, 0), 1);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int ct = open(mu_at("app/txn"), O_RDWR);

		if (ct < 0 || pwrite(ct, "C", 1, 2 * LS + 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(2);
		_exit(fsync(ct) == 0 ? 0 : 3);
	}
	ck_assert_int_eq(write(go[1], &c, 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(fsync(t), -1);
	ck_assert_int_eq(errno, EBUSY);
	close(t);
	/* Nothing of ours landed, the other process's write did. */
	expect_byte(heap_fd, 0, 'a');
	expect_byte(heap_fd, 2 * LS, 'c');
	expect_byte(heap_fd, 2 * LS + 1, 'C');
	close(go[0]), close(go[1]), close(done[0]), close(done[1]);
}
END_TEST

/* A process that maps the heap sees a commit without remapping. */
START_TEST(txn_commit_reaches_other_mappings)
{
	int p2c[2], c2p[2], t, status;
	pid_t pid;
	char c = 0;

	ck_assert_int_eq(pipe(p2c), 0);
	ck_assert_int_eq(pipe(c2p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(mu_at("app/heap"), O_RDONLY);
		volatile const char *m = fd < 0 ? MAP_FAILED :
			mmap(NULL, 4 * LS, PROT_READ, MAP_SHARED, fd, 0);

		if (m == MAP_FAILED || m[3 * LS] != 'd')
			_exit(2);
		if (write(c2p[1], &c, 1) != 1 || read(p2c[0], &c, 1) != 1)
			_exit(3);
		/* The daemon drops the stale page before fsync returns: one look. */
		_exit(m[3 * LS] == 'M' ? 0 : 4);
	}
	ck_assert_int_eq(read(c2p[0], &c, 1), 1);
	t = open(mu_at("app/txn"), O_RDWR);
	ck_assert_int_eq(pwrite(t, "M", 1, 3 * LS), 1);
	ck_assert_int_eq(fsync(t), 0);
	close(t);
	ck_assert_int_eq(write(p2c[1], &c, 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the mapping did not see the commit (status %d)", status);
	close(p2c[0]), close(p2c[1]), close(c2p[0]), close(c2p[1]);
}
END_TEST

/* The review's reproduction: a commit used to set the size it saw at begin. */
START_TEST(txn_commit_keeps_a_later_truncate)
{
	static char mib[1 << 20];
	struct stat sb;
	int t;

	memset(mib, 'm', sizeof(mib));
	ck_assert_int_eq(pwrite(heap_fd, mib, sizeof(mib), 0), (ssize_t)sizeof(mib));
	ck_assert_int_eq(fsync(heap_fd), 0);
	t = open(mu_at("app/txn"), O_RDWR);
	ck_assert_int_ge(t, 0);
	ck_assert_int_eq(ftruncate(heap_fd, LS), 0);
	ck_assert_int_eq(pwrite(t, "y", 1, 0), 1);
	ck_assert_int_eq(fsync(t), 0);
	ck_assert_int_eq(close(t), 0);
	/* max(size now, end of what the commit wrote): 64 KiB, not 1 MiB. */
	ck_assert_int_eq(fstat(heap_fd, &sb), 0);
	ck_assert_int_eq(sb.st_size, LS);
	ck_assert_int_eq(stat(mu_at("app/heap"), &sb), 0);
	ck_assert_int_eq(sb.st_size, LS);
	expect_byte(heap_fd, 0, 'y');
	expect_byte(heap_fd, 1, 'm');
}
END_TEST

static Suite *txn_suite(void)
{
	Suite *s = suite_create("txn");
	TCase *tc = tcase_create("txn");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, txn_commit_is_atomic_and_visible);
	tcase_add_test(tc, txn_reads_its_snapshot);
	tcase_add_test(tc, txn_close_without_fsync_aborts);
	tcase_add_test(tc, txn_punch_commits_zeroes);
	tcase_add_test(tc, txn_conflict_between_processes_returns_ebusy);
	tcase_add_test(tc, txn_commit_reaches_other_mappings);
	tcase_add_test(tc, txn_commit_keeps_a_later_truncate);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mu_main(txn_suite());
}
