/*
 * mount_heapfs.c - mount.heapfs, the mount(8) helper:
 *
 *   mount.heapfs STORE_DIR MOUNTPOINT [-sfnv] [-o OPTS]
 *
 * so that `mount -t heapfs STORE MNT -o ...` and an /etc/fstab line
 * (`/var/lib/heapfs  /mnt/heaps  heapfs  cache=1G,nofail  0 0`) work.  It
 * drops mount(8)'s own options (defaults, auto, noauto, user, users, nofail,
 * _netdev, x-*, comment=), cleans up a stale mount whose daemon died (the
 * mount point answers ENOTCONN) with a message, and runs heapfs, which
 * returns once the mount is ready.  heapfs is $HEAPFS_BIN, else next to
 * this program, else in the build tree beside it, else on PATH.
 *
 * A mount from fstab is often meant for many users: add allow_other, and
 * each user reaches the heaps their modes grant (every heap is its
 * creator's, 0700); create=all lets every user make heaps.  A mount by an
 * unprivileged user needs user_allow_other in /etc/fuse.conf for it.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static bool mount_option(const char *o)
{
	static const char *const drop[] = {
		"defaults", "auto", "noauto", "user", "nouser", "users", "nofail",
		"_netdev", "rw",
	};

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
		if (strcmp(o, drop[i]) == 0)
			return true;
	}
	return strncmp(o, "x-", 2) == 0 || strncmp(o, "comment=", 8) == 0;
}

/* The -o list without mount(8)'s options; "" if nothing is left. */
static char *filter(const char *opts)
{
	char *copy = strdup(opts ? opts : ""), *out = calloc(1, strlen(opts ? opts : "") + 1);
	char *save = NULL;

	if (!copy || !out) {
		free(copy);
		free(out);
		return NULL;
	}
	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		if (mount_option(o))
			continue;
		if (*out)
			strcat(out, ",");
		strcat(out, o);
	}
	free(copy);
	return out;
}

static int run(char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A mount point whose FUSE daemon died answers ENOTCONN: unmount it. */
static int stale_clean(char *mnt)
{
	struct stat st;
	char fm[] = "fusermount3", u[] = "-u", z[] = "-z";
	char *const argv[] = { fm, u, z, mnt, NULL };

	if (stat(mnt, &st) == 0 || errno != ENOTCONN)
		return 0;
	fprintf(stderr, "mount.heapfs: %s: stale mount (its heapfs daemon died); "
		"unmounting it first\n", mnt);
	if (run(argv) != 0) {
		fprintf(stderr, "mount.heapfs: %s: fusermount3 -u failed\n", mnt);
		return -1;
	}
	return 0;
}

static char *heapfs_path(char *buf, size_t cap)
{
	char self[PATH_MAX];
	ssize_t n;
	char *slash;
	char *env = getenv("HEAPFS_BIN");

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/'))) {
			*slash = '\0';
			snprintf(buf, cap, "%s/heapfs", self);
			if (access(buf, X_OK) == 0)
				return buf;
			snprintf(buf, cap, "%s/../fs/heapfs", self);   /* build tree */
			if (access(buf, X_OK) == 0)
				return buf;
		}
	}
	snprintf(buf, cap, "heapfs");   /* from PATH */
	return buf;
}

int main(int argc, char **argv)
{
	char *pos[2], o_flag[] = "-o";
	const char *opts = NULL;
	char *filtered, bin[PATH_MAX + 16];
	int n_pos = 0, rc;
	bool fake = false;

	for (int i = 1; i < argc; i++) {
		char *a = argv[i];

		if (!strcmp(a, "-o") && i + 1 < argc) {
			opts = argv[++i];
		} else if (!strncmp(a, "-o", 2) && a[2]) {
			opts = a + 2;
		} else if (a[0] == '-' && a[1] && strspn(a + 1, "sfnv") == strlen(a + 1)) {
			fake = fake || strchr(a, 'f');   /* -f: mount(8)'s "fake" */
		} else if (a[0] == '-') {
			fprintf(stderr, "mount.heapfs: %s: unknown flag\n", a);
			return 1;
		} else if (n_pos < 2) {
			pos[n_pos++] = a;
		} else {
			fprintf(stderr, "mount.heapfs: %s: unexpected argument\n", a);
			return 1;
		}
	}
	if (n_pos != 2) {
		fprintf(stderr, "usage: mount.heapfs STORE_DIR MOUNTPOINT [-sfnv] [-o OPTS]\n"
			"  (heapfs --help lists OPTS; allow_other shares the mount with every\n"
			"  user, each reaching the heaps their modes grant)\n");
		return 1;
	}
	if (fake)
		return 0;
	if (stale_clean(pos[1]) < 0)
		return 1;
	if (!(filtered = filter(opts))) {
		fprintf(stderr, "mount.heapfs: out of memory\n");
		return 1;
	}
	{
		char *exe = heapfs_path(bin, sizeof(bin));
		char *args[] = { exe, pos[0], pos[1], *filtered ? o_flag : NULL, filtered, NULL };

		rc = run(args);
		if (rc == 127 || rc < 0)
			fprintf(stderr, "mount.heapfs: cannot run %s\n", exe);
	}
	free(filtered);
	return rc == 0 ? 0 : 1;
}
