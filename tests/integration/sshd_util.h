/*
 * sshd_util.h - a real OpenSSH sshd for a test (prefix sshd_), so that
 * commands that reach the far side through ssh (`heapctl migrate HEAP
 * HOST:MNT --rsh CMD`, like rsync -e) run over the real thing.
 *
 * sshd_start() generates a host key and a user key (ed25519, no passphrase)
 * into a directory the test owns, writes an sshd_config there and runs
 * Debian's /usr/sbin/sshd in the foreground (`-D -e -f DIR/sshd_config`)
 * as a child of the calling process, listening on 127.0.0.1 and a free
 * port, admitting only that user key.  The client side never reads
 * ~/.ssh or /etc/ssh: sshd_rsh() is a complete ssh command line with
 * `-F /dev/null`, the key, a known_hosts file in DIR holding exactly the
 * host key (StrictHostKeyChecking=yes) and BatchMode.  Nothing outside DIR
 * is touched except /run/sshd, sshd's privilege separation directory,
 * which is created when missing (as Debian's service does).
 *
 * DIR after sshd_start():
 *
 *   DIR/host_ed25519[.pub]   the host key      DIR/sshd_config
 *   DIR/id_ed25519[.pub]     the user key      DIR/sshd.pid   (sshd writes it)
 *   DIR/authorized_keys      id_ed25519.pub    DIR/sshd.log   (its -e output)
 *   DIR/known_hosts          "[ADDR]:PORT <host key>"
 *
 * sshd runs in the caller's process group, so when a forked Check test dies
 * without its teardown, Check's killpg of the test's group ends it too.
 * Its per-connection children leave that group (sshd calls setsid()) and
 * end with their sessions.
 *
 * The remote side is the same machine and the same user: a command run
 * through sshd sees the same files, but a clean environment (sshd's
 * default PATH; nothing of the test's environment, no ASAN_OPTIONS), the
 * user's login shell and home as working directory.  Give programs by
 * absolute path and set variables in the command (`env VAR=... prog`).
 *
 * One struct sshd per server; the caller serializes calls on it.
 */
#ifndef HEAPFS_SSHD_UTIL_H
#define HEAPFS_SSHD_UTIL_H

#include <stdbool.h>
#include <sys/types.h>

/* Where Debian's openssh-server puts the daemon; it must be run by absolute path. */
#define SSHD_PATH "/usr/sbin/sshd"

/* One server.  Zero it (or let sshd_start() do so) before use. */
struct sshd {
	char dir[200];          /* the test's directory, absolute, no blanks */
	char key[240];          /* DIR/id_ed25519, the client's key */
	char known_hosts[240];  /* DIR/known_hosts */
	char config[240];       /* DIR/sshd_config */
	char log[240];          /* DIR/sshd.log: sshd's stdout and stderr */
	char addr[32];          /* where it listens: 127.0.0.1, or 10.99.0.1 in a netns */
	int port;
	pid_t pid;              /* the sshd listener, our child; 0 when stopped */
	char netns_srv[64];     /* sshd_start_netns(): the server's namespace, else "" */
	char netns_cli[64];     /* ... and the client's, which sshd_rsh() enters */
	pid_t guard_pid;        /* deletes the namespaces if the test dies; 0 when none */
	int guard_fd;           /* the guard's pipe: closing it releases the guard */
	char rsh[1536];         /* sshd_rsh() */
	char why[1024];         /* the last failure, one paragraph */
};

/*
 * Why sshd cannot be run here (ssh, ssh-keygen or SSHD_PATH missing, i.e.
 * openssh-client or openssh-server not installed), or NULL if it can.
 * A static string.  The test's main decides: skip (77) outside CI, fail
 * when CI=true.
 */
const char *sshd_unusable(void);

/*
 * Start an sshd on 127.0.0.1 for @dir (absolute, existing, owned by the
 * test, with no blank in its path: sshd_rsh() is split on spaces) and wait
 * until it accepts a TCP connection and `ssh ... true` through sshd_rsh()
 * exits 0 (at most 10 s; a port taken meanwhile is retried with another).
 *
 * Returns 0, or a negative errno with a one-line reason (plus sshd's log)
 * in @s->why: -ENOENT sshd or ssh not installed, -EINVAL a bad @dir,
 * -ETIMEDOUT not ready in time, -EIO sshd or ssh-keygen failed.  On
 * failure nothing keeps running.
 */
int sshd_start(struct sshd *s, const char *dir);

/*
 * sshd_start() with the network split in two namespaces made for it
 * (named heapfs-sshd-PID-N-srv and -cli after this process), joined by a
 * veth pair: veth0 10.99.0.1/24 in -srv, where sshd runs (`ip netns exec`),
 * and veth1 10.99.0.2/24 in -cli, which sshd_rsh() enters with `ip netns
 * exec` before ssh.  So the client reaches the server over a real link,
 * not loopback.  Needs root.  Only the command's network is separate: the
 * files are the same.  sshd_stop() deletes both namespaces (and a guard
 * process does if the test dies first); no other namespace is touched.
 *
 * Returns as sshd_start(), and -EPERM (not root) or -EIO (ip failed).
 */
int sshd_start_netns(struct sshd *s, const char *dir);

/*
 * The command to reach the server, without the host, as rsync's -e takes
 * it, e.g. "ssh -F /dev/null -i DIR/id_ed25519 -o ... -p PORT"; append the
 * host (sshd_host()) and the remote command.  Split on single spaces.
 * Borrowed from @s, valid until the next sshd_start*().
 */
const char *sshd_rsh(const struct sshd *s);

/* The host to name after sshd_rsh(): "127.0.0.1" (or "10.99.0.1"). Borrowed. */
const char *sshd_host(const struct sshd *s);

/*
 * @arg single-quoted for a POSIX shell on the far side (ssh hands the
 * remote command to the user's shell as one string): it's -> 'it'"'"'s.
 * Malloc'd (the caller frees), NULL on ENOMEM.
 */
char *sshd_quote(const char *arg);

/*
 * Run sshd_rsh() HOST @remote_cmd (a single argument: ssh sends it as is
 * to the remote shell; quote its parts with sshd_quote()), stdin from
 * @in_path (or /dev/null), stdout and stderr to @out_path and @err_path
 * (or /dev/null).  Gives up after @timeout_s (> 0): the ssh process (that
 * pid only) is then killed.
 *
 * Returns ssh's exit code (255: ssh itself failed), or a negative errno:
 * -ETIMEDOUT when it overran, -EINTR when killed by a signal, or why it
 * could not start.
 */
int sshd_ssh(const struct sshd *s, const char *remote_cmd, const char *in_path,
	     const char *out_path, const char *err_path, double timeout_s);

/*
 * Stop the server: SIGTERM the sshd this fixture started (its pid only),
 * wait, SIGKILL after 5 s, reap it; then delete the namespaces of
 * sshd_start_netns().  Leaves @dir and its files to the caller.  A no-op
 * when nothing runs, so it suits a teardown.
 */
void sshd_stop(struct sshd *s);

#endif
