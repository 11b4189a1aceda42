/*
 * test_sshd.c - the fixtures the migration tests over ssh stand on: a real
 * sshd on loopback (sshd_util.h) runs a remote command and hands back its
 * stdout, stderr and exit code apart; an argument quoted with sshd_quote()
 * reaches the remote shell intact, blanks, ; and $( ) included; 8 MiB
 * pass through `ssh ... cat` unchanged; the client trusts only the host
 * key in its own known_hosts; sshd_stop() ends the sshd it started; the
 * same over a veth pair between two network namespaces; and cutpipe
 * forwards exactly N bytes, alone and in front of ssh.
 *
 * No FUSE here: main() skips (77) only when openssh is not installed, and
 * never when CI=true.  Each test gets a directory of its own under one
 * made by main() and removed at the end, whatever the tests left; main()
 * is also the subreaper of what a test that died left running.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mount_util.h"
#include "sshd_util.h"

#ifndef CUTPIPE_BIN
#error "CUTPIPE_BIN (cutpipe's path) must be defined by the build"
#endif

#define SSH_TIMEOUT_S 30.0
#define BIG_BYTES (8u << 20)

static char base[200];     /* made by main(), removed at its end */
static char dir[260];      /* this test's directory */
static struct sshd srv;

/* "<dir>/<name>" in one of 8 rotating buffers. */
static const char *in_dir(const char *name)
{
	static char ring[8][320];
	static unsigned next;
	char *buf = ring[next++ % 8];

	snprintf(buf, sizeof(ring[0]), "%s/%s", dir, name);
	return buf;
}

static void dir_make(void)
{
	snprintf(dir, sizeof(dir), "%s/t-XXXXXX", base);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
}

static void setup(void)
{
	int rc;

	dir_make();
	rc = sshd_start(&srv, dir);
	ck_assert_msg(rc == 0, "sshd_start: %s (%s)", srv.why, strerror(-rc));
}

static void teardown(void)
{
	sshd_stop(&srv);
}

/* The whole file, or the test fails. */
static char *slurp(const char *path)
{
	char *text = mu_slurp(path, NULL);

	ck_assert_msg(text != NULL, "read %s: %s", path, strerror(errno));
	return text;
}

/* /bin/sh -c @cmd: its exit code (-1 if signalled), its stdout in *@out. */
static int sh(char **out, const char *cmd)
{
	int st = mu_sh(in_dir("sh.out"), cmd);

	*out = slurp(in_dir("sh.out"));
	return st;
}

/* ---- sshd on loopback ------------------------------------------------ */

START_TEST(remote_command_keeps_stdout_stderr_and_exit_code)
{
	int rc = sshd_ssh(&srv, "echo hi; echo err >&2; exit 3", NULL, in_dir("out"),
			  in_dir("err"), SSH_TIMEOUT_S);
	char *out = slurp(in_dir("out")), *err = slurp(in_dir("err"));

	ck_assert_msg(rc == 3, "ssh exit %d, want 3; stderr: %s", rc, err);
	ck_assert_str_eq(out, "hi\n");
	ck_assert_str_eq(err, "err\n");
	free(out);
	free(err);
}
END_TEST

START_TEST(quote_makes_one_word_of_anything)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "it's", "'it'\"'\"'s'" },
		{ "", "''" },
		{ "a b;c", "'a b;c'" },
		{ "''", "''\"'\"''\"'\"''" },
		{ "$(x) `y` \"z\" \\ *", "'$(x) `y` \"z\" \\ *'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *q = sshd_quote(cases[i].in);

		ck_assert_ptr_nonnull(q);
		ck_assert_msg(strcmp(q, cases[i].want) == 0, "sshd_quote(%s) = %s, want %s",
			      cases[i].in, q, cases[i].want);
		free(q);
	}
}
END_TEST

/*
 * The far side is this machine: a directory the remote shell makes under a
 * name full of shell syntax must appear here under exactly that name, and
 * the command substitution inside it must not have run.
 */
START_TEST(quoted_argument_reaches_the_remote_shell_intact)
{
	static const char name[] = "it's a dir; $(touch pwned1) `touch pwned2` \"*\" \\ end";
	char cmd[2048], want[700], path[600];
	char *qdir = sshd_quote(dir), *qname = sshd_quote(name), *out, *err;
	struct stat sb;
	int rc;

	ck_assert_ptr_nonnull(qdir);
	ck_assert_ptr_nonnull(qname);
	/* A substitution that ran would touch its file in <dir>. */
	snprintf(cmd, sizeof(cmd), "cd -- %s && mkdir -- %s && cd -- %s && pwd", qdir, qname,
		 qname);
	free(qdir);
	free(qname);
	rc = sshd_ssh(&srv, cmd, NULL, in_dir("out"), in_dir("err"), SSH_TIMEOUT_S);
	out = slurp(in_dir("out"));
	err = slurp(in_dir("err"));
	ck_assert_msg(rc == 0, "ssh exit %d; stderr: %s", rc, err);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(want, sizeof(want), "%s\n", path);
	ck_assert_str_eq(out, want);
	ck_assert_msg(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode), "no directory \"%s\": %s",
		      path, strerror(errno));
	ck_assert_msg(access(in_dir("pwned1"), F_OK) != 0 && access(in_dir("pwned2"), F_OK) != 0,
		      "the remote shell ran a substitution from inside the quotes");
	free(out);
	free(err);
}
END_TEST

START_TEST(eight_mib_pass_through_cat_unchanged)
{
	char *data = malloc(BIG_BYTES), *back, *err;
	size_t len = 0;
	int fd, rc;

	ck_assert_ptr_nonnull(data);
	mu_fill(data, BIG_BYTES, 42, 0);
	fd = open(in_dir("big.in"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, BIG_BYTES), (ssize_t)BIG_BYTES);
	close(fd);
	rc = sshd_ssh(&srv, "cat", in_dir("big.in"), in_dir("big.out"), in_dir("err"),
		      SSH_TIMEOUT_S);
	err = slurp(in_dir("err"));
	ck_assert_msg(rc == 0, "ssh cat exit %d; stderr: %s", rc, err);
	back = mu_slurp(in_dir("big.out"), &len);
	ck_assert_ptr_nonnull(back);
	ck_assert_msg(len == BIG_BYTES, "%zu bytes came back, want %u", len, BIG_BYTES);
	ck_assert_msg(memcmp(data, back, BIG_BYTES) == 0, "the bytes that came back differ");
	free(data);
	free(back);
	free(err);
}
END_TEST

/* A known_hosts with another key: ssh must refuse, so it reads only ours. */
START_TEST(client_trusts_only_its_known_hosts)
{
	struct sshd other;
	char *err, kh[300];
	int rc;

	snprintf(kh, sizeof(kh), "%s", srv.known_hosts);
	/* Another server's host key under this one's name. */
	ck_assert_int_eq(mkdir(in_dir("other"), 0700), 0);
	rc = sshd_start(&other, in_dir("other"));
	ck_assert_msg(rc == 0, "sshd_start: %s", other.why);
	sshd_stop(&other);
	{
		char *theirs = slurp(other.known_hosts), *key = strchr(theirs, ' '), fake[800];
		int fd;

		ck_assert_ptr_nonnull(key);
		snprintf(fake, sizeof(fake), "[%s]:%d%s", srv.addr, srv.port, key);
		fd = open(kh, O_WRONLY | O_TRUNC | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, fake, strlen(fake)), (ssize_t)strlen(fake));
		close(fd);
		free(theirs);
	}
	rc = sshd_ssh(&srv, "true", NULL, NULL, in_dir("err"), SSH_TIMEOUT_S);
	err = slurp(in_dir("err"));
	ck_assert_msg(rc == 255 && strstr(err, "Host key verification failed"),
		      "ssh to a host with an unknown key: exit %d, stderr: %s", rc, err);
	free(err);
}
END_TEST

static bool pidfile_says(const char *path, pid_t pid)
{
	char *text = mu_slurp(path, NULL);
	bool same = text && strtol(text, NULL, 10) == (long)pid;

	free(text);
	return same;
}

START_TEST(stop_ends_the_sshd_it_started)
{
	pid_t pid = srv.pid;
	char *out;
	int rc;

	ck_assert_int_gt(pid, 0);
	/* The child we own is the listener itself, not a wrapper. */
	ck_assert_msg(pidfile_says(in_dir("sshd.pid"), pid), "sshd.pid is not %ld",
		      (long)pid);
	sshd_stop(&srv);
	ck_assert_int_eq(srv.pid, 0);
	ck_assert_msg(kill(pid, 0) < 0 && errno == ESRCH, "sshd %ld still exists", (long)pid);
	rc = sshd_ssh(&srv, "true", NULL, NULL, in_dir("err"), SSH_TIMEOUT_S);
	out = slurp(in_dir("err"));
	ck_assert_msg(rc == 255, "ssh after sshd_stop: exit %d (%s)", rc, out);
	free(out);
	sshd_stop(&srv);   /* again: a no-op */
}
END_TEST

/* The fault tests' shape: the stream cut at byte N on its way into ssh. */
START_TEST(cutpipe_in_front_of_ssh_delivers_n_bytes)
{
	char cmd[1024], *out;
	int rc;

	snprintf(cmd, sizeof(cmd), "head -c 1M /dev/urandom | %s 1000 | %s %s 'wc -c'",
		 CUTPIPE_BIN, sshd_rsh(&srv), sshd_host(&srv));
	rc = sh(&out, cmd);
	ck_assert_msg(rc == 0, "%s: exit %d", cmd, rc);
	ck_assert_str_eq(out, "1000\n");
	free(out);
}
END_TEST

/* ---- sshd across a veth pair ------------------------------------------- */

START_TEST(netns_client_reaches_server_over_veth)
{
	struct sshd ns;
	char srv_ns[64], cli_ns[64], want[64], *out, *err, path[128];
	int rc;

	dir_make();
	rc = sshd_start_netns(&ns, dir);
	ck_assert_msg(rc == 0, "sshd_start_netns: %s (%s)", ns.why, strerror(-rc));
	snprintf(srv_ns, sizeof(srv_ns), "%s", ns.netns_srv);
	snprintf(cli_ns, sizeof(cli_ns), "%s", ns.netns_cli);
	ck_assert_str_eq(sshd_host(&ns), "10.99.0.1");
	/* SSH_CONNECTION: client address, client port, server address, server port. */
	rc = sshd_ssh(&ns, "echo $SSH_CONNECTION", NULL, in_dir("out"), in_dir("err"),
		      SSH_TIMEOUT_S);
	out = slurp(in_dir("out"));
	err = slurp(in_dir("err"));
	if (rc != 0)
		sshd_stop(&ns);
	ck_assert_msg(rc == 0, "ssh exit %d; stderr: %s", rc, err);
	snprintf(want, sizeof(want), " 10.99.0.1 %d\n", ns.port);
	ck_assert_msg(strncmp(out, "10.99.0.2 ", 10) == 0 && strstr(out, want),
		      "SSH_CONNECTION=%s", out);
	sshd_stop(&ns);
	snprintf(path, sizeof(path), "/run/netns/%s", srv_ns);
	ck_assert_msg(access(path, F_OK) != 0, "%s left behind", path);
	snprintf(path, sizeof(path), "/run/netns/%s", cli_ns);
	ck_assert_msg(access(path, F_OK) != 0, "%s left behind", path);
	free(out);
	free(err);
}
END_TEST

/* ---- cutpipe ----------------------------------------------------------- */

static void local_setup(void)
{
	dir_make();
}

START_TEST(cutpipe_forwards_exactly_n_bytes)
{
	char cmd[512], *out;

	snprintf(cmd, sizeof(cmd), "head -c 1M /dev/urandom | %s 1000 | wc -c", CUTPIPE_BIN);
	ck_assert_int_eq(sh(&out, cmd), 0);
	ck_assert_str_eq(out, "1000\n");
	free(out);
	/* The first N bytes, in order, and the rest left unread. */
	snprintf(cmd, sizeof(cmd),
		 "head -c 300000 /dev/urandom > %s && %s 100000 < %s > %s && "
		 "cmp -n 100000 %s %s && test $(wc -c < %s) -eq 100000",
		 in_dir("in"), CUTPIPE_BIN, in_dir("in"), in_dir("cut"), in_dir("in"),
		 in_dir("cut"), in_dir("cut"));
	ck_assert_int_eq(sh(&out, cmd), 0);
	free(out);
	snprintf(cmd, sizeof(cmd), "(%s 5; cat) < /dev/null; printf 0123456789 | (%s 4; cat)",
		 CUTPIPE_BIN, CUTPIPE_BIN);
	ck_assert_int_eq(sh(&out, cmd), 0);
	ck_assert_str_eq(out, "0123456789");   /* cat had the bytes cutpipe left */
	free(out);
}
END_TEST

START_TEST(cutpipe_eof_before_n_exits_0)
{
	char cmd[256], *out;

	snprintf(cmd, sizeof(cmd), "printf abc | %s 1000", CUTPIPE_BIN);
	ck_assert_int_eq(sh(&out, cmd), 0);
	ck_assert_str_eq(out, "abc");
	free(out);
	snprintf(cmd, sizeof(cmd), "%s 0 < /dev/zero", CUTPIPE_BIN);
	ck_assert_int_eq(sh(&out, cmd), 0);
	ck_assert_str_eq(out, "");
	free(out);
}
END_TEST

/* hold: N bytes out, then neither EOF nor more for the time given. */
START_TEST(cutpipe_hold_stalls_then_exits)
{
	char cmd[256], *out;
	double t0 = mu_now();

	snprintf(cmd, sizeof(cmd), "yes | %s 10 hold 1 %s | wc -c", CUTPIPE_BIN,
		 mu_in_root("stalled"));
	ck_assert_int_eq(sh(&out, cmd), 0);
	ck_assert_str_eq(out, "10\n");
	ck_assert_msg(mu_now() - t0 >= 0.9, "wc saw EOF after %.2f s, before the hold ended",
		      mu_now() - t0);
	ck_assert_int_eq(access(mu_in_root("stalled"), F_OK), 0);   /* it said so */
	free(out);
}
END_TEST

/* drain: N bytes out, the rest read and dropped, its writer never refused. */
START_TEST(cutpipe_drain_takes_the_rest)
{
	char cmd[256], *out;

	snprintf(cmd, sizeof(cmd), "(head -c 300000 /dev/zero && touch %s) | %s 10 drain | wc -c",
		 mu_in_root("wrote-all"), CUTPIPE_BIN);
	ck_assert_int_eq(sh(&out, cmd), 0);
	ck_assert_str_eq(out, "10\n");
	ck_assert_int_eq(access(mu_in_root("wrote-all"), F_OK), 0);   /* no write refused */
	free(out);
}
END_TEST

START_TEST(cutpipe_refuses_a_bad_command_line)
{
	static const char *const bad[] = { "", "x", "-1", "10k", "10 stall", "10 hold x",
					   "10 hold 1 m x", "10 drain x", "answer",
					   "answer kk sh", "keepanswer k m", "keepanswer kk m sh" };
	char cmd[256], *out;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(cmd, sizeof(cmd), "%s %s </dev/null 2>/dev/null", CUTPIPE_BIN, bad[i]);
		ck_assert_msg(sh(&out, cmd) == 2, "cutpipe %s did not exit 2", bad[i]);
		free(out);
	}
}
END_TEST

/* The reader downstream went away: exit 1 and say so, not a silent SIGPIPE. */
START_TEST(cutpipe_reader_gone_exits_1)
{
	char cmd[512], *out, *err;

	/* cutpipe's own status, from the middle of the pipeline. */
	snprintf(cmd, sizeof(cmd),
		 "head -c 1M /dev/zero | { %s 1000000 2>%s; echo $? > %s; } | head -c 1 >/dev/null",
		 CUTPIPE_BIN, in_dir("err"), in_dir("rc"));
	ck_assert_int_eq(sh(&out, cmd), 0);
	free(out);
	out = slurp(in_dir("rc"));
	err = slurp(in_dir("err"));
	ck_assert_msg(strcmp(out, "1\n") == 0 && strstr(err, "cutpipe: write: Broken pipe"),
		      "cutpipe exit %s, said: %s", out, err);
	free(out);
	free(err);
}
END_TEST

static Suite *sshd_suite(void)
{
	Suite *s = suite_create("sshd");
	TCase *tc = tcase_create("loopback");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, remote_command_keeps_stdout_stderr_and_exit_code);
	tcase_add_test(tc, quoted_argument_reaches_the_remote_shell_intact);
	tcase_add_test(tc, eight_mib_pass_through_cat_unchanged);
	tcase_add_test(tc, client_trusts_only_its_known_hosts);
	tcase_add_test(tc, stop_ends_the_sshd_it_started);
	tcase_add_test(tc, cutpipe_in_front_of_ssh_delivers_n_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("netns");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, netns_client_reaches_server_over_veth);
	suite_add_tcase(s, tc);

	tc = tcase_create("local");   /* no server needed */
	tcase_add_checked_fixture(tc, local_setup, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, quote_makes_one_word_of_anything);
	tcase_add_test(tc, cutpipe_forwards_exactly_n_bytes);
	tcase_add_test(tc, cutpipe_eof_before_n_exits_0);
	tcase_add_test(tc, cutpipe_hold_stalls_then_exits);
	tcase_add_test(tc, cutpipe_drain_takes_the_rest);
	tcase_add_test(tc, cutpipe_refuses_a_bad_command_line);
	tcase_add_test(tc, cutpipe_reader_gone_exits_1);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * Reap the orphans of tests that died (we are their subreaper): a guard
 * deleting its namespaces finishes within seconds, an sshd was killed with
 * its test's process group.  Anything still running after 10 s is a leak:
 * killed (by pid: our children only) and counted.
 */
static int orphans_reap(void)
{
	double end = mu_now() + 10;
	int leaks = 0;
	DIR *d;
	struct dirent *e;

	for (;;) {
		pid_t r = waitpid(-1, NULL, WNOHANG);

		if (r < 0 && errno == ECHILD)
			return 0;
		if (r > 0 || (r < 0 && errno == EINTR))
			continue;
		if (mu_now() >= end)
			break;
		mu_sleep_ms(20);
	}
	if (!(d = opendir("/proc")))
		return 1;
	while ((e = readdir(d))) {
		char path[300], *stat, *q;
		long pid = strtol(e->d_name, &q, 10);

		if (*q || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if (!(stat = mu_slurp(path, NULL)))
			continue;
		/* "PID (COMM) S PPID ..." */
		q = strrchr(stat, ')');
		if (q && strtol(q + 4, NULL, 10) == (long)getpid()) {
			fprintf(stderr, "LEAK: process %s still runs after its test\n", stat);
			kill((pid_t)pid, SIGKILL);
			waitpid((pid_t)pid, NULL, 0);
			leaks++;
		}
		free(stat);
	}
	closedir(d);
	return leaks;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	remove(path);
	return 0;
}

int main(void)
{
	const char *why = sshd_unusable(), *ci = getenv("CI"), *tmp = getenv("TMPDIR");
	SRunner *sr;
	char *real;
	int failed, leaks;

	if (why) {
		if (ci && strcmp(ci, "true") == 0) {
			fprintf(stderr, "FAIL: sshd unusable under CI=true: %s\n", why);
			return EXIT_FAILURE;
		}
		printf("SKIP: sshd unusable: %s\n", why);
		return 77;
	}
	/* sshd_rsh() is split on spaces: a TMPDIR with one cannot serve. */
	if (!tmp || !*tmp || strchr(tmp, ' '))
		tmp = "/tmp";
	snprintf(base, sizeof(base), "%s/heapfs-sshd-XXXXXX", tmp);
	if (!mkdtemp(base) || !(real = realpath(base, NULL))) {
		fprintf(stderr, "FAIL: mkdtemp %s: %s\n", base, strerror(errno));
		return EXIT_FAILURE;
	}
	snprintf(base, sizeof(base), "%s", real);
	free(real);
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	sr = srunner_create(sshd_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	leaks = orphans_reap();
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	return failed || leaks ? EXIT_FAILURE : EXIT_SUCCESS;
}
