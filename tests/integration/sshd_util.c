/*
 * sshd_util.c - see sshd_util.h.
 *
 * sshd_start() in steps, each a program run to completion (ssh-keygen) or a
 * file written into DIR, then the daemon:
 *
 *   keys -> port (bind 127.0.0.1:0, read it, close) -> sshd_config,
 *   known_hosts, rsh -> spawn sshd -D -> poll every 20 ms: sshd still
 *   alive?  TCP connect?  `ssh ... true` exits 0?  -> ready
 *
 * Between closing the probe socket and sshd's bind another process can take
 * the port; sshd then dies saying "Address already in use" and the next
 * attempt picks another port (5 attempts).  Readiness is proved end to end
 * (a login that runs a command), never assumed after a sleep.
 *
 * The netns variant runs the same steps with sshd under `nsenter --net` into SRV
 * and the client under `ip netns exec CLI` (inside sshd_rsh() itself, so
 * whoever runs the rsh crosses the link too); the TCP probe is a forked
 * child that setns()es into CLI first.  The namespaces are named after our
 * pid, so concurrent tests never share one, and a guard process in its own
 * process group deletes exactly those two if the test dies before
 * sshd_stop() (Check runs no teardown after a failed assertion).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sshd_util.h"

extern char **environ;

#define READY_WAIT_S 10.0
#define STOP_KILL_AFTER_S 5.0
#define PORT_ATTEMPTS 5
#define NETNS_SRV_ADDR "10.99.0.1"
#define NETNS_CLI_ADDR "10.99.0.2"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

__attribute__((format(printf, 2, 3)))
static void why_set(struct sshd *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

/* The last @max bytes of @path (a static buffer), "" if unreadable. */
static const char *file_tail(const char *path, size_t max)
{
	static char buf[768];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	if (max > sizeof(buf) - 1)
		max = sizeof(buf) - 1;
	end = lseek(fd, 0, SEEK_END);
	if (end > (off_t)max)
		lseek(fd, end - (off_t)max, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, max);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

/* Write @text to @path (0600: it may be a key), or -errno. */
static int file_put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text), done = 0;
	int rc = 0;

	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t w = write(fd, text + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = -errno;
			break;
		}
		done += (size_t)w;
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char full[1024];

	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(full, sizeof(full), "%.*s/%s", (int)n, n ? path : ".", prog);
		if (access(full, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

const char *sshd_unusable(void)
{
	if (access(SSHD_PATH, X_OK) != 0)
		return SSHD_PATH " is missing (install openssh-server)";
	if (!in_path("ssh-keygen"))
		return "ssh-keygen is not in PATH (install openssh-client)";
	if (!in_path("ssh"))
		return "ssh is not in PATH (install openssh-client)";
	return NULL;
}

/* ---- processes ------------------------------------------------------ */

/*
 * Spawn @argv (PATH searched) with stdin from @in (or /dev/null) and
 * stdout and stderr appended to @out and @err (or /dev/null), in the
 * caller's process group, with default signal dispositions.  0 or -errno.
 */
static int spawn(pid_t *pid_out, char *const argv[], const char *in, const char *out,
		 const char *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t a;
	sigset_t all, none;
	int rc;

	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_init(&a);
	posix_spawnattr_setsigdefault(&a, &all);
	posix_spawnattr_setsigmask(&a, &none);
	posix_spawnattr_setflags(&a, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null",
					 O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (err && out && strcmp(err, out) == 0)
		posix_spawn_file_actions_adddup2(&fa, 1, 2);
	else
		posix_spawn_file_actions_addopen(&fa, 2, err ? err : "/dev/null",
						 O_WRONLY | O_CREAT | O_APPEND, 0644);
	rc = posix_spawnp(pid_out, argv[0], &fa, &a, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&a);
	return -rc;
}

/* Wait up to @timeout_s for @pid: 1 and its status in *@st, 0 if it still runs. */
static int wait_upto(pid_t pid, double timeout_s, int *st)
{
	double end = now() + timeout_s;

	for (;;) {
		pid_t r = waitpid(pid, st, WNOHANG);

		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (now() >= end)
			return 0;
		sleep_ms(5);
	}
}

/* SIGTERM @pid (ours), SIGKILL after @kill_s; reaped.  Its status. */
static int stop_pid(pid_t pid, double kill_s)
{
	int st = 0;

	kill(pid, SIGTERM);
	if (wait_upto(pid, kill_s, &st) != 0)
		return st;
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

/*
 * Run @argv to completion (at most @timeout_s; then killed, that pid only):
 * its exit code, or -ETIMEDOUT, -EINTR (signalled), or -errno (no start).
 */
static int run(char *const argv[], const char *in, const char *out, const char *err,
	       double timeout_s)
{
	pid_t pid;
	int rc, st;

	if ((rc = spawn(&pid, argv, in, out, err)) < 0)
		return rc;
	rc = wait_upto(pid, timeout_s, &st);
	if (rc == 0) {
		stop_pid(pid, 1.0);
		return -ETIMEDOUT;
	}
	if (rc < 0)
		return rc;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -EINTR;
}

/* ---- the pieces of a start ----------------------------------------- */

/* ssh-keygen a passphrase-less ed25519 key at DIR/@name. */
static int keygen(struct sshd *s, const char *name)
{
	char path[300], err[300];
	char *argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "heapfs-test",
			 "-f", path, NULL };
	int rc;

	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	snprintf(err, sizeof(err), "%s/keygen.err", s->dir);
	unlink(path);   /* ssh-keygen would ask before overwriting */
	rc = run(argv, NULL, err, err, 30);
	if (rc != 0) {
		why_set(s, "ssh-keygen %s: %s; it said: %s", path,
			rc < 0 ? strerror(-rc) : "failed", file_tail(err, 400));
		return rc < 0 ? rc : -EIO;
	}
	return 0;
}

/* A port free on 127.0.0.1 right now (the kernel's pick), or -errno. */
static int port_pick(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		rc = -errno;
	else
		rc = ntohs(sa.sin_port);
	close(fd);
	return rc;
}

/* Enter the network namespace @name (/run/netns/@name), or -errno. */
static int netns_enter(const char *name)
{
	char path[128];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static bool tcp_connects(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	inet_pton(AF_INET, addr, &sa.sin_addr);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Does a TCP connect to the server succeed, from the client's namespace? */
static bool tcp_probe(const struct sshd *s)
{
	pid_t pid;
	int st;

	if (!s->netns_cli[0])
		return tcp_connects(s->addr, s->port);
	/* setns() would move this whole process: probe from a child. */
	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0)
		_exit(netns_enter(s->netns_cli) == 0 && tcp_connects(s->addr, s->port) ? 0 : 1);
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return false;
	}
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int config_write(struct sshd *s)
{
	char text[2048], path[300];

	/* No Subsystem, forwarding or tty: the tests run commands only. */
	snprintf(text, sizeof(text),
		 "# heapfs test sshd (tests/integration/sshd_util.c)\n"
		 "ListenAddress %s\n"
		 "Port %d\n"
		 "HostKey %s/host_ed25519\n"
		 "PidFile %s/sshd.pid\n"
		 "AuthorizedKeysFile %s/authorized_keys\n"
		 "StrictModes no\n"
		 "UsePAM no\n"
		 "PasswordAuthentication no\n"
		 "KbdInteractiveAuthentication no\n"
		 "PubkeyAuthentication yes\n"
		 "PermitRootLogin prohibit-password\n"
		 "AllowTcpForwarding no\n"
		 "X11Forwarding no\n"
		 "PermitTTY no\n"
		 "PrintMotd no\n"
		 "LogLevel ERROR\n",
		 s->addr, s->port, s->dir, s->dir, s->dir);
	snprintf(path, sizeof(path), "%s/sshd_config", s->dir);
	return file_put(path, text);
}

/* known_hosts holding exactly the host key, for "[ADDR]:PORT". */
static int known_hosts_write(struct sshd *s)
{
	char path[300], pub[512], line[700];
	int fd;
	ssize_t n;
	char *sp;

	snprintf(path, sizeof(path), "%s/host_ed25519.pub", s->dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = read(fd, pub, sizeof(pub) - 1);
	close(fd);
	pub[n > 0 ? n : 0] = '\0';
	/* "ssh-ed25519 BASE64 comment": keep type and key. */
	if (!(sp = strchr(pub, ' ')) || !(sp = strchr(sp + 1, ' ')))
		return -EIO;
	*sp = '\0';
	snprintf(line, sizeof(line), "[%s]:%d %s\n", s->addr, s->port, pub);
	return file_put(s->known_hosts, line);
}

static void rsh_build(struct sshd *s)
{
	int n = 0;

	if (s->netns_cli[0])
		n = snprintf(s->rsh, sizeof(s->rsh), "ip netns exec %s ", s->netns_cli);
	/*
	 * -F /dev/null: no ~/.ssh/config or /etc/ssh/ssh_config (and, with a
	 * config given, ssh does not create ~/.ssh); IdentitiesOnly and no
	 * agent: only our key; our known_hosts only, and nothing written to it.
	 */
	snprintf(s->rsh + n, sizeof(s->rsh) - (size_t)n,
		 "ssh -F /dev/null -i %s -o IdentitiesOnly=yes -o IdentityAgent=none"
		 " -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null"
		 " -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o BatchMode=yes"
		 " -o ConnectTimeout=5 -o LogLevel=ERROR -p %d",
		 s->key, s->known_hosts, s->port);
}

/*
 * Spawn sshd -D -e -f CONFIG (in the server's network namespace in a
 * netns).  nsenter enters the network namespace only: `ip netns exec`
 * would also give sshd a mount namespace of its own, where a FUSE mount
 * made later (a heapfs the far side's commands use) would not show, since
 * the root mount here propagates nothing.
 */
static int daemon_launch(struct sshd *s)
{
	char *argv[12], netarg[96];
	int argc = 0, rc;

	if (s->netns_srv[0]) {
		/* nsenter execs sshd in place (no fork), so the pid is sshd's. */
		snprintf(netarg, sizeof(netarg), "--net=/run/netns/%s", s->netns_srv);
		argv[argc++] = "nsenter";
		argv[argc++] = netarg;
	}
	argv[argc++] = SSHD_PATH;
	argv[argc++] = "-D";
	argv[argc++] = "-e";
	argv[argc++] = "-f";
	argv[argc++] = s->config;
	argv[argc] = NULL;
	unlink(s->log);   /* spawn() appends: this start's words only */
	if ((rc = spawn(&s->pid, argv, NULL, s->log, s->log)) < 0) {
		s->pid = 0;
		why_set(s, "cannot start %s: %s", SSHD_PATH, strerror(-rc));
	}
	return rc;
}

/*
 * Wait for the launched sshd to serve: 0; -EADDRINUSE if it died because
 * the port was taken (try another); else -errno with s->why set.  A dead
 * sshd is reaped and s->pid cleared.
 */
static int daemon_ready_wait(struct sshd *s)
{
	double end = now() + READY_WAIT_S;
	char probe_err[300];
	int st, rc = -1;

	snprintf(probe_err, sizeof(probe_err), "%s/probe.err", s->dir);
	for (;;) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			const char *said = file_tail(s->log, 600);

			s->pid = 0;
			if (strstr(said, "Address already in use"))
				return -EADDRINUSE;
			why_set(s, "sshd exited (status 0x%x) before serving; it said: %s", st,
				said);
			return -EIO;
		}
		if (tcp_probe(s)) {
			unlink(probe_err);
			rc = sshd_ssh(s, "true", NULL, NULL, probe_err, 5);
			if (rc == 0)
				return 0;
		}
		if (now() >= end)
			break;
		sleep_ms(20);
	}
	why_set(s, "sshd on %s:%d not serving after %.0f s (last `ssh true`: %d, it said: %s); "
		"sshd said: %s", s->addr, s->port, READY_WAIT_S, rc, file_tail(probe_err, 300),
		file_tail(s->log, 300));
	stop_pid(s->pid, STOP_KILL_AFTER_S);
	s->pid = 0;
	return -ETIMEDOUT;
}

/* sshd's privilege separation directory, as Debian's ssh.service makes it. */
static int privsep_dir_make(struct sshd *s)
{
	/* Only a root sshd chroots there; a user's sshd needs none. */
	if (geteuid() != 0)
		return 0;
	if (mkdir("/run/sshd", 0755) < 0 && errno != EEXIST) {
		why_set(s, "mkdir /run/sshd: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* Fill in the paths of @s for @dir: 0, or -EINVAL with why. */
static int paths_set(struct sshd *s, const char *dir)
{
	struct stat sb;

	if (dir[0] != '/' || strpbrk(dir, " \t\n'\"\\") || strlen(dir) >= sizeof(s->dir) - 40) {
		why_set(s, "sshd dir %s: want a short absolute path without blanks or quotes",
			dir);
		return -EINVAL;
	}
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		why_set(s, "sshd dir %s: not a directory", dir);
		return -EINVAL;
	}
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	snprintf(s->key, sizeof(s->key), "%s/id_ed25519", dir);
	snprintf(s->known_hosts, sizeof(s->known_hosts), "%s/known_hosts", dir);
	snprintf(s->config, sizeof(s->config), "%s/sshd_config", dir);
	snprintf(s->log, sizeof(s->log), "%s/sshd.log", dir);
	return 0;
}

/* Everything of a start after the paths (and namespaces) are set. */
static int start_in(struct sshd *s)
{
	const char *why = sshd_unusable();
	char pub[300], auth[300], *text;
	int rc = 0;

	if (why) {
		why_set(s, "%s", why);
		return -ENOENT;
	}
	if ((rc = privsep_dir_make(s)) < 0 || (rc = keygen(s, "host_ed25519")) < 0 ||
	    (rc = keygen(s, "id_ed25519")) < 0)
		return rc;
	snprintf(pub, sizeof(pub), "%s.pub", s->key);
	snprintf(auth, sizeof(auth), "%s/authorized_keys", s->dir);
	text = strdup(file_tail(pub, 600));
	if (!text)
		return -ENOMEM;
	rc = file_put(auth, text);
	free(text);
	if (rc < 0) {
		why_set(s, "write %s: %s", auth, strerror(-rc));
		return rc;
	}

	for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
		if ((rc = port_pick()) < 0) {
			why_set(s, "no free port on 127.0.0.1: %s", strerror(-rc));
			return rc;
		}
		s->port = rc;
		if ((rc = config_write(s)) < 0 || (rc = known_hosts_write(s)) < 0) {
			why_set(s, "write %s/sshd_config or known_hosts: %s", s->dir,
				strerror(-rc));
			return rc;
		}
		rsh_build(s);
		if ((rc = daemon_launch(s)) < 0)
			return rc;
		if ((rc = daemon_ready_wait(s)) != -EADDRINUSE)
			return rc;
	}
	why_set(s, "sshd found its port taken %d times in a row", PORT_ATTEMPTS);
	return -EADDRINUSE;
}

int sshd_start(struct sshd *s, const char *dir)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->guard_fd = -1;
	if ((rc = paths_set(s, dir)) < 0)
		return rc;
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1");
	return start_in(s);
}

/* ---- network namespaces -------------------------------------------- */

/* `ip ARGS...` to completion, its output to DIR/ip.err: 0 or -EIO. */
static int ip_run(struct sshd *s, char *const argv[])
{
	char err[300];
	int rc;

	snprintf(err, sizeof(err), "%s/ip.err", s->dir);
	unlink(err);
	rc = run(argv, NULL, err, err, 10);
	if (rc != 0) {
		char cmd[256];
		int n = 0;

		for (int i = 0; argv[i] && n < (int)sizeof(cmd); i++)
			n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, "%s ", argv[i]);
		why_set(s, "%s: %s; it said: %s", cmd,
			rc < 0 ? strerror(-rc) : "failed", file_tail(err, 300));
		return -EIO;
	}
	return 0;
}

static bool netns_exists(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	return access(path, F_OK) == 0;
}

/* Delete the namespace @name if it exists; quietly, for clean-ups. */
static void netns_delete(const char *name)
{
	char *argv[] = { "ip", "netns", "del", (char *)(uintptr_t)name, NULL };

	if (name[0] && netns_exists(name))
		run(argv, NULL, NULL, NULL, 10);
}

/*
 * The guard: forked before the namespaces exist, in a process group of its
 * own (out of reach of Check's killpg), holding only the read end of a
 * pipe whose writer is the test.  EOF comes when sshd_stop() closes it or
 * the test dies; then it deletes the two namespaces if they are still
 * there (after sshd_stop() they are not).
 */
static int guard_start(struct sshd *s)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int rc = -errno;

		close(p[0]);
		close(p[1]);
		return rc;
	}
	if (pid == 0) {
		char c;

		setpgid(0, 0);
		prctl(PR_SET_NAME, "sshd-guard", 0, 0, 0);
		if (dup2(p[0], 3) < 0)
			_exit(1);
		close_range(4, ~0U, 0);
		while (read(3, &c, 1) != 0 && errno == EINTR)
			;
		netns_delete(s->netns_srv);
		netns_delete(s->netns_cli);
		_exit(0);
	}
	close(p[0]);
	s->guard_fd = p[1];
	s->guard_pid = pid;
	return 0;
}

static void guard_stop(struct sshd *s)
{
	int st;

	if (s->guard_fd >= 0)
		close(s->guard_fd);
	s->guard_fd = -1;
	if (s->guard_pid > 0)
		while (waitpid(s->guard_pid, &st, 0) < 0 && errno == EINTR)
			;
	s->guard_pid = 0;
}

static int netns_create(struct sshd *s)
{
	char *srv = s->netns_srv, *cli = s->netns_cli;
	char *add_srv[] = { "ip", "netns", "add", srv, NULL };
	char *add_cli[] = { "ip", "netns", "add", cli, NULL };
	/* Both ends made inside their namespaces: no name in ours to clash. */
	char *veth[] = { "ip", "link", "add", "veth0", "netns", srv, "type", "veth",
			 "peer", "name", "veth1", "netns", cli, NULL };
	char *addr_srv[] = { "ip", "-n", srv, "addr", "add", NETNS_SRV_ADDR "/24", "dev",
			     "veth0", NULL };
	char *addr_cli[] = { "ip", "-n", cli, "addr", "add", NETNS_CLI_ADDR "/24", "dev",
			     "veth1", NULL };
	char *up_srv[] = { "ip", "-n", srv, "link", "set", "veth0", "up", NULL };
	char *up_cli[] = { "ip", "-n", cli, "link", "set", "veth1", "up", NULL };
	char *lo_srv[] = { "ip", "-n", srv, "link", "set", "lo", "up", NULL };
	char *lo_cli[] = { "ip", "-n", cli, "link", "set", "lo", "up", NULL };
	int rc;

	if ((rc = ip_run(s, add_srv)) < 0 || (rc = ip_run(s, add_cli)) < 0 ||
	    (rc = ip_run(s, veth)) < 0 || (rc = ip_run(s, addr_srv)) < 0 ||
	    (rc = ip_run(s, addr_cli)) < 0 || (rc = ip_run(s, up_srv)) < 0 ||
	    (rc = ip_run(s, up_cli)) < 0 || (rc = ip_run(s, lo_srv)) < 0 ||
	    (rc = ip_run(s, lo_cli)) < 0)
		return rc;
	return 0;
}

int sshd_start_netns(struct sshd *s, const char *dir)
{
	static unsigned seq;
	int rc;

	memset(s, 0, sizeof(*s));
	s->guard_fd = -1;
	if ((rc = paths_set(s, dir)) < 0)
		return rc;
	if (geteuid() != 0) {
		why_set(s, "network namespaces need root");
		return -EPERM;
	}
	if (!in_path("ip")) {
		why_set(s, "ip is not in PATH (install iproute2)");
		return -ENOENT;
	}
	snprintf(s->addr, sizeof(s->addr), NETNS_SRV_ADDR);
	seq++;
	snprintf(s->netns_srv, sizeof(s->netns_srv), "heapfs-sshd-%ld-%u-srv",
		 (long)getpid(), seq);
	snprintf(s->netns_cli, sizeof(s->netns_cli), "heapfs-sshd-%ld-%u-cli",
		 (long)getpid(), seq);
	if (netns_exists(s->netns_srv) || netns_exists(s->netns_cli)) {
		/* Not ours to reuse or delete: a pid reused since a crash. */
		why_set(s, "network namespace %s or %s already exists", s->netns_srv,
			s->netns_cli);
		s->netns_srv[0] = s->netns_cli[0] = '\0';
		return -EEXIST;
	}
	if ((rc = guard_start(s)) < 0) {
		why_set(s, "fork: %s", strerror(-rc));
		return rc;
	}
	if ((rc = netns_create(s)) < 0 || (rc = start_in(s)) < 0) {
		char why[sizeof(s->why)];

		memcpy(why, s->why, sizeof(why));
		sshd_stop(s);
		memcpy(s->why, why, sizeof(why));
		return rc;
	}
	return 0;
}

/* ---- using it ------------------------------------------------------- */

const char *sshd_rsh(const struct sshd *s)
{
	return s->rsh;
}

const char *sshd_host(const struct sshd *s)
{
	return s->addr;
}

char *sshd_quote(const char *arg)
{
	size_t len = 3;
	char *out, *w;

	for (const char *p = arg; *p; p++)
		len += *p == '\'' ? 5 : 1;
	if (!(out = malloc(len)))
		return NULL;
	w = out;
	*w++ = '\'';
	for (const char *p = arg; *p; p++) {
		if (*p == '\'') {
			/* Close the quote, a double-quoted ', reopen. */
			memcpy(w, "'\"'\"'", 5);
			w += 5;
		} else {
			*w++ = *p;
		}
	}
	*w++ = '\'';
	*w = '\0';
	return out;
}

int sshd_ssh(const struct sshd *s, const char *remote_cmd, const char *in_path,
	     const char *out_path, const char *err_path, double timeout_s)
{
	char words[sizeof(s->rsh)], *argv[64], *save = NULL;
	int argc = 0;

	/* Split as a user of --rsh does: on spaces. */
	snprintf(words, sizeof(words), "%s", s->rsh);
	for (char *w = strtok_r(words, " ", &save); w && argc < 61; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	if (argc == 0)
		return -EINVAL;
	argv[argc++] = (char *)(uintptr_t)s->addr;
	argv[argc++] = (char *)(uintptr_t)remote_cmd;
	argv[argc] = NULL;
	if (out_path)
		unlink(out_path);   /* spawn() appends */
	if (err_path && (!out_path || strcmp(err_path, out_path) != 0))
		unlink(err_path);
	return run(argv, in_path, out_path, err_path, timeout_s);
}

void sshd_stop(struct sshd *s)
{
	if (s->pid > 0)
		stop_pid(s->pid, STOP_KILL_AFTER_S);
	s->pid = 0;
	netns_delete(s->netns_srv);
	netns_delete(s->netns_cli);
	guard_stop(s);
}
