/*
 * test_stream_mount.c - heapctl send, recv and verify between two real
 * mounts (two daemons, two stores: node A is the fixture's mount, node B a
 * second daemon under the same root): whole heaps and increments arrive
 * exactly (every checkpoint, label, the state, the live heap) and post
 * "received N"; a stream damaged on the way is refused with
 * `heapctl: recv: <what>` and B keeps no trace of it (listing, fsck); a
 * terminal is refused as a stream; and the data channel gives up cleanly
 * when heapctl goes away or B unmounts, and leaves nothing behind when B's
 * daemon is killed in the middle of a receive.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mount_util.h"

#ifndef HEAPCTL_BIN
#error "HEAPCTL_BIN (heapctl's path) must be defined by the build"
#endif

extern char **environ;

/* A heap with history on A: 40 lines of 64 KiB, a state, two labels. */
static void make_app(void)
{
	static uint8_t buf[40 << 16];
	int fd;

	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	mu_fill(buf, sizeof(buf), 1, 0);
	memset(buf + (5 << 16), 0, 3 << 16);   /* some zero lines */
	mu_pwrite_all(fd, buf, sizeof(buf), 0);
	close(fd);
	fd = mu_open(mu_at("app/state"), O_RDWR);
	mu_pwrite_all(fd, "registers", 9, 0);
	close(fd);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/one"), 0700), 0);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	mu_fill(buf, 2 << 16, 2, 0);
	mu_pwrite_all(fd, buf, 2 << 16, 10 << 16);
	close(fd);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/two"), 0700), 0);
}

/* `sh -c CMD` with HEAPCTL and the two mounts in its environment. */
static int sh(const char *cmd, char **err_out)
{
	char full[2048];
	int rc;

	snprintf(full, sizeof(full), "HEAPCTL='%s'; A='%s'; B='%s'; { %s; } 2>'%s/sh.err'",
		 HEAPCTL_BIN, mu.mnt, mu_b.mnt, cmd, mu.root);
	rc = mu_sh(mu_in_root("sh.out"), full);
	if (err_out)
		*err_out = mu_slurp(mu_in_root("sh.err"), NULL);
	return rc;
}

START_TEST(send_recv_between_mounts_whole_and_incremental)
{
	char *err, *ev, line[64];
	int fd, efd;
	uint8_t buf[1 << 16];
	ssize_t n;

	make_app();
	ck_assert_int_eq(sh("$HEAPCTL -m $A send app | $HEAPCTL -m $B recv", &err), 0);
	ck_assert_msg(strstr(err, "sent app: version 2"), "%s", err);
	free(err);
	mu_expect_same_file(mu_at("app/heap"), mu_b_at("app/heap"));
	mu_expect_same_file(mu_at("app/state"), mu_b_at("app/state"));
	mu_expect_same_file(mu_at("app/checkpoints/1/heap"), mu_b_at("app/checkpoints/1/heap"));
	mu_expect_same_file(mu_at("app/checkpoints/one/state"), mu_b_at("app/checkpoints/one/state"));
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/two"), "2");
	{
		char *rl = realpath(mu_b_at("app/checkpoints/two"), NULL);

		ck_assert_ptr_nonnull(rl);
		ck_assert_ptr_nonnull(strstr(rl, "/checkpoints/2"));
		free(rl);
	}

	/* B's runtime listens; A changes one line and sends the increment. */
	efd = open(mu_b_at("app/events"), O_RDONLY | O_NONBLOCK);
	ck_assert_int_ge(efd, 0);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	mu_fill(buf, sizeof(buf), 3, 0);
	mu_pwrite_all(fd, buf, sizeof(buf), 7 << 16);
	close(fd);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/three"), 0700), 0);
	ck_assert_int_eq(sh("$HEAPCTL -m $A send app --from two > $A/../incr && "
			    "$HEAPCTL -m $B verify < $A/../incr && "
			    "$HEAPCTL -m $B recv --json < $A/../incr", NULL), 0);
	ev = mu_slurp(mu_in_root("sh.out"), NULL);
	ck_assert_ptr_nonnull(strstr(ev, "\"version\": 3"));
	ck_assert_ptr_nonnull(strstr(ev, "\"lines\": 1"));
	free(ev);
	mu_expect_same_file(mu_at("app/heap"), mu_b_at("app/heap"));
	mu_expect_same_file(mu_at("app/checkpoints/three/heap"), mu_b_at("app/checkpoints/3/heap"));
	{
		struct pollfd p = { efd, POLLIN, 0 };

		ck_assert_int_eq(poll(&p, 1, 5000), 1);
	}
	n = read(efd, line, sizeof(line) - 1);
	ck_assert_int_gt(n, 0);
	line[n] = '\0';
	ck_assert_str_eq(line, "received 3\n");
	close(efd);
	/* The same increment again: B's newest checkpoint is not its base. */
	ck_assert_int_eq(sh("$HEAPCTL -m $B recv < $A/../incr", &err), 1);
	ck_assert_msg(strstr(err, "heapctl: recv: ") && strstr(err, "not the stream's base"), "%s",
		      err);
	free(err);
}
END_TEST

/* B's view: heap names, one per line. */
static char *b_listing(void)
{
	ck_assert_int_eq(sh("ls $B", NULL), 0);
	return mu_slurp(mu_in_root("sh.out"), NULL);
}

START_TEST(damaged_streams_refused_and_forgotten)
{
	static const struct {
		const char *how;
		const char *says;
	} cases[] = {
		{ "head -c 100", "truncated" },
		{ "head -c 700000", "truncated" },
		{ "head -c -1", "truncated" },
		{ "(cat; echo x)", "after the end" },
		{ "(head -c 300000; printf Z; tail -c +300002)", NULL },
		{ "(head -c 16; printf 'Z'; tail -c +18)", "record" },
	};
	char *before, *now, *err, cmd[256];

	make_app();
	ck_assert_int_eq(sh("$HEAPCTL -m $A send app > $A/../stream", NULL), 0);
	ck_assert_int_eq(mkdir(mu_b_at("other"), 0700), 0);
	before = b_listing();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(cmd, sizeof(cmd), "%s < $A/../stream | $HEAPCTL -m $B recv", cases[i].how);
		ck_assert_int_eq(sh(cmd, &err), 1);
		ck_assert_msg(strncmp(err, "heapctl: recv: ", 15) == 0, "%s: %s", cases[i].how, err);
		if (cases[i].says)
			ck_assert_msg(strstr(err, cases[i].says), "%s: %s", cases[i].how, err);
		free(err);
		now = b_listing();
		ck_assert_str_eq(now, before);
		free(now);
		snprintf(cmd, sizeof(cmd), "%s < $A/../stream | $HEAPCTL -m $B verify", cases[i].how);
		ck_assert_int_eq(sh(cmd, NULL), 1);
	}
	/* A name that is no heap name, and nothing for a terminal-less stdin. */
	ck_assert_int_eq(sh("$HEAPCTL -m $B recv --as ../x < $A/../stream", &err), 1);
	ck_assert_msg(strstr(err, "heapctl: recv"), "%s", err);
	free(err);
	ck_assert_int_eq(sh("$HEAPCTL -m $B recv < /dev/null", &err), 1);
	ck_assert_msg(strstr(err, "empty"), "%s", err);
	free(err);
	free(before);
	/* Whole, it goes in; B's store is clean. */
	ck_assert_int_eq(sh("$HEAPCTL -m $B recv < $A/../stream", NULL), 0);
	mu_expect_same_file(mu_at("app/heap"), mu_b_at("app/heap"));
	mu_b_unmount();
	ck_assert_int_eq(sh("$HEAPCTL fsck --store $A/../store2 --verify-data", &err), 0);
	free(err);
	mu_b_mount(NULL);
}
END_TEST

/* Run heapctl with @in and @out as its stdin and stdout; its pid. */
static pid_t spawn_heapctl(int in, int out, const char *const *args)
{
	posix_spawn_file_actions_t fa;
	char *argv[16];
	int n = 0;
	pid_t pid;

	argv[n++] = HEAPCTL_BIN;
	while (*args && n < 15)
		argv[n++] = (char *)(uintptr_t)*args++;
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	if (in >= 0)
		posix_spawn_file_actions_adddup2(&fa, in, 0);
	if (out >= 0)
		posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_addopen(&fa, 2, mu_in_root("spawn.err"),
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_eq(posix_spawn(&pid, HEAPCTL_BIN, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static int wait_exit(pid_t pid, double timeout_s)
{
	double end = mu_now() + timeout_s;
	int st;

	while (mu_now() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		mu_sleep_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	ck_abort_msg("heapctl %ld did not end within %.0f s", (long)pid, timeout_s);
	return -1;
}

START_TEST(terminal_is_no_stream)
{
	int master, slave;
	char *err;

	make_app();
	ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
	{
		const char *a[] = { "-m", mu.mnt, "send", "app", NULL };

		ck_assert_int_eq(wait_exit(spawn_heapctl(-1, slave, a), 10), 1);
	}
	err = mu_slurp(mu_in_root("spawn.err"), NULL);
	ck_assert_msg(strstr(err, "heapctl: send app: stdout is a terminal"), "%s", err);
	free(err);
	{
		const char *a[] = { "-m", mu_b.mnt, "recv", NULL };

		ck_assert_int_eq(wait_exit(spawn_heapctl(slave, -1, a), 10), 1);
	}
	err = mu_slurp(mu_in_root("spawn.err"), NULL);
	ck_assert_msg(strstr(err, "stdin is a terminal"), "%s", err);
	free(err);
	close(master);
	close(slave);
}
END_TEST

/*
 * A receive that waits on its input gives up when heapctl goes away
 * (killed) and when B unmounts under it; either way B has no heap, and
 * the unmount does not wait for the stream.
 */
START_TEST(channel_gives_up_when_heapctl_or_the_daemon_goes)
{
	const char *a[] = { "-m", mu_b.mnt, "recv", NULL };
	char *fifo = strdup(mu_in_root("fifo")), *err, *lst;
	int wr, rd, st;
	pid_t pid;
	double t0;

	make_app();
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	wr = open(fifo, O_RDWR);   /* a writer that never writes */
	rd = open(fifo, O_RDONLY);
	ck_assert_int_ge(wr, 0);
	ck_assert_int_ge(rd, 0);
	ck_assert_int_eq(sh("$HEAPCTL -m $A send app | head -c 500000 > $A/../part", NULL), 0);
	{
		size_t len;
		char *part = mu_slurp(mu_in_root("part"), &len);

		ck_assert_int_eq(write(wr, part, len > 60000 ? 60000 : len), len > 60000 ? 60000 :
				 (ssize_t)len);
		free(part);
	}
	pid = spawn_heapctl(rd, -1, a);
	mu_sleep_ms(500);
	kill(pid, SIGKILL);   /* ours: the heapctl just spawned */
	waitpid(pid, &st, 0);
	mu_sleep_ms(600);     /* the daemon's I/O looks every 250 ms */
	lst = b_listing();
	ck_assert_str_eq(lst, "");
	free(lst);

	pid = spawn_heapctl(rd, -1, a);
	mu_sleep_ms(500);
	t0 = mu_now();
	mu_b_unmount();   /* fails if the daemon does not exit within its bound */
	ck_assert_double_lt(mu_now() - t0, 4.0);
	ck_assert_int_eq(wait_exit(pid, 10), 1);
	err = mu_slurp(mu_in_root("spawn.err"), NULL);
	ck_assert_msg(strstr(err, "heapctl: recv: ") && strstr(err, "stopping"), "%s", err);
	free(err);
	mu_b_mount(NULL);
	lst = b_listing();
	ck_assert_str_eq(lst, "");
	free(lst);
	close(wr);
	close(rd);
	free(fifo);
}
END_TEST

/* B's daemon killed while it stages a receive: after a remount there is
 * no heap and the store is clean. */
START_TEST(daemon_killed_mid_receive_leaves_nothing)
{
	const char *a[] = { "-m", mu_b.mnt, "recv", NULL };
	char *fifo = strdup(mu_in_root("fifo")), *err, *lst, *stream;
	size_t len;
	int wr, rd;
	pid_t pid;

	make_app();
	/* A bigger heap of 4 KiB lines: staged in several batches. */
	ck_assert_int_eq(sh("$HEAPCTL -m $A create big --line 4K --size 16M && "
			    "head -c 16777216 /dev/urandom > $A/big/heap && "
			    "mkdir $A/big/checkpoints/one && "
			    "$HEAPCTL -m $A send big > $A/../big", NULL), 0);
	stream = mu_slurp(mu_in_root("big"), &len);
	ck_assert_uint_gt(len, 16u << 20);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	wr = open(fifo, O_RDWR);
	rd = open(fifo, O_RDONLY);
	pid = spawn_heapctl(rd, -1, a);
	close(rd);
	{
		size_t done = 0;

		while (done < len * 3 / 4) {
			ssize_t w = write(wr, stream + done, len * 3 / 4 - done);

			ck_assert_int_gt(w, 0);
			done += (size_t)w;
		}
	}
	mu_sleep_ms(300);
	mu_b_swap();
	kill(mu.pid, SIGKILL);   /* B's daemon, which this test started */
	ck_assert_int_ne(mu_daemon_wait(5), -1);
	mu_stale_unmount();
	mu_b_swap();
	close(wr);
	wait_exit(pid, 10);
	mu_b_mount(NULL);
	lst = b_listing();
	ck_assert_str_eq(lst, "");
	free(lst);
	mu_b_unmount();
	ck_assert_int_eq(sh("$HEAPCTL fsck --store $A/../store2", &err), 0);
	ck_assert_msg(strstr(err, "0 errors") || !*err, "%s", err);
	free(err);
	mu_b_mount(NULL);
	/* And the whole stream goes in afterwards. */
	ck_assert_int_eq(sh("$HEAPCTL -m $B recv < $A/../big", NULL), 0);
	mu_expect_same_file(mu_at("big/heap"), mu_b_at("big/heap"));
	free(stream);
	free(fifo);
}
END_TEST

/* --store: heapctl opens an unmounted store itself. */
START_TEST(send_and_recv_with_store)
{
	make_app();
	mu_unmount();
	ck_assert_int_eq(sh("$HEAPCTL --store $A/../store send app two > $A/../s && "
			    "$HEAPCTL -m $B recv --as copy < $A/../s", NULL), 0);
	mu_mount(NULL);
	mu_expect_same_file(mu_at("app/heap"), mu_b_at("copy/heap"));
}
END_TEST

static Suite *stream_suite(void)
{
	Suite *s = suite_create("stream_mount");
	TCase *tc = tcase_create("streams");

	tcase_add_checked_fixture(tc, mu_b_setup, mu_b_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, send_recv_between_mounts_whole_and_incremental);
	tcase_add_test(tc, damaged_streams_refused_and_forgotten);
	tcase_add_test(tc, terminal_is_no_stream);
	tcase_add_test(tc, channel_gives_up_when_heapctl_or_the_daemon_goes);
	tcase_add_test(tc, daemon_killed_mid_receive_leaves_nothing);
	tcase_add_test(tc, send_and_recv_with_store);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mu_main(stream_suite());
}
