/*
 * opts.c - the heapfs command line: `heapfs [-f] [-d] [-o OPTS] STORE MNT`.
 *
 * heapfs's own -o options are parsed and checked here, before anything is
 * mounted, so a bad value is one line on stderr and exit 1, never a
 * half-started daemon.  Every other -o option goes to FUSE, which refuses
 * the ones it does not know, also before mounting.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "fs_int.h"

void fs_fail(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "heapfs: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int uint_parse(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* One heapfs option; 1 if it was not ours, 0 if taken, -EINVAL if bad. */
static int opt_take(struct fs_opts *o, const char *kv)
{
	const char *eq = strchr(kv, '=');
	const char *val = eq ? eq + 1 : NULL;
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
	uint64_t size;
	unsigned u;
	int rc;

#define KEY(k) (klen == sizeof(k) - 1 && strncmp(kv, k, klen) == 0)
	if (!(KEY("pool") || KEY("cache") || KEY("line") || KEY("zstd") ||
	      KEY("split") || KEY("cap") || KEY("wait") || KEY("gc") || KEY("create") ||
	      KEY("cache_idle") || KEY("cache_release")))
		return 1;
	if (!val || !*val) {
		fs_fail(kv, "needs a value");
		return -EINVAL;
	}
	if (KEY("create")) {
		if (strcmp(val, "owner") && strcmp(val, "all")) {
			fs_fail(kv, "create is owner (the mount's owner and root make heaps) or all");
			return -EINVAL;
		}
		o->create_all = strcmp(val, "all") == 0;
		return 0;
	}
	if (KEY("pool") || KEY("cache") || KEY("line")) {
		rc = cmd_size_parse(val, &size);
		if (rc < 0) {
			fs_fail(kv, "not a size (a number with K, M, G or T)");
			return -EINVAL;
		}
		if (KEY("pool")) {
			o->pool_bytes = size;
		} else if (KEY("cache")) {
			if (size && size < HS_CACHE_BYTES_MIN) {
				fs_fail(kv, "cache must be 0 (write-through) or at least %uM",
					HS_CACHE_BYTES_MIN >> 20);
				return -EINVAL;
			}
			o->cache_bytes = size;
		} else {
			if (size < HS_LINE_SIZE_MIN || size > HS_LINE_SIZE_MAX ||
			    (size & (size - 1))) {
				fs_fail(kv, "line size must be a power of two from 4K to 1M");
				return -EINVAL;
			}
			o->line_size = (uint32_t)size;
		}
	} else if (KEY("zstd")) {
		char *end;
		long lvl = strtol(val, &end, 10);

		if (*end || lvl < -7 || lvl > 22 || lvl == 0) {
			fs_fail(kv, "zstd level must be from 1 to 22 (or -7 to -1, faster)");
			return -EINVAL;
		}
		o->zstd_level = (int)lvl;
	} else if (KEY("split")) {
		unsigned sum = 0;
		const char *p = val;

		for (int i = 0; i < 4; i++) {
			char part[16];
			size_t n = strcspn(p, ":");

			if (n == 0 || n >= sizeof(part) || (i < 3 && p[n] != ':') ||
			    (i == 3 && p[n] != '\0'))
				goto bad_split;
			memcpy(part, p, n);
			part[n] = '\0';
			if (uint_parse(part, 0, 100, &o->split[i]) < 0)
				goto bad_split;
			sum += o->split[i];
			p += n + (i < 3);
		}
		if (sum != 100)
			goto bad_split;
	} else if (KEY("cap")) {
		if (uint_parse(val, 1, 100, &u) < 0) {
			fs_fail(kv, "cap is a percentage from 1 to 100");
			return -EINVAL;
		}
		o->cap_pct = u;
	} else if (KEY("cache_idle")) {
		/* How long an empty block (and a clean line) stays idle before
		 * it goes, one empty block kept: shortened by tests. */
		if (uint_parse(val, 1, 86400000, &u) < 0) {
			fs_fail(kv, "cache_idle is milliseconds, from 1 to 86400000");
			return -EINVAL;
		}
		o->cache_idle_ms = u;
	} else if (KEY("cache_release")) {
		/* How often an idle empty block may go (one each time). */
		if (uint_parse(val, 1, 86400000, &u) < 0) {
			fs_fail(kv, "cache_release is milliseconds, from 1 to 86400000");
			return -EINVAL;
		}
		o->cache_release_ms = u;
	} else if (KEY("wait")) {
		if (uint_parse(val, 0, 3600000, &u) < 0) {
			fs_fail(kv, "wait is milliseconds, at most 3600000");
			return -EINVAL;
		}
		o->wait_ms = u;
	} else {
		if (uint_parse(val, 0, 86400, &u) < 0) {
			fs_fail(kv, "gc is seconds, at most 86400");
			return -EINVAL;
		}
		o->gc_s = u;
	}
	return 0;
bad_split:
	fs_fail(kv, "split is four percentages GL:GP:LE:LP that add up to 100");
	return -EINVAL;
#undef KEY
}

/* Split a -o list on commas; ours are taken, the rest go to FUSE. */
static int opts_list(struct fs_opts *o, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (char *kv = strtok_r(copy, ",", &save); kv && rc == 0;
	     kv = strtok_r(NULL, ",", &save)) {
		rc = opt_take(o, kv);
		if (rc == 1) {
			rc = 0;
			if (fuse_opt_add_arg(&o->fuse_args, "-o") ||
			    fuse_opt_add_arg(&o->fuse_args, kv))
				rc = -ENOMEM;
		}
	}
	free(copy);
	return rc;
}

static void usage(void)
{
	printf("usage: heapfs [-f] [-d] [-o OPTS] STORE_DIR MOUNTPOINT\n"
	       "  -f            stay in the foreground\n"
	       "  -d            FUSE debug output (implies -f)\n"
	       "  -o pool=SIZE  store budget (default unlimited)\n"
	       "  -o cache=SIZE memory for cached lines (default 256M; 0: write-through)\n"
	       "  -o line=SIZE  line size of new heaps, 4K..1M (default 64K)\n"
	       "  -o zstd=LEVEL compression level (default 1)\n"
	       "  -o split=GL:GP:LE:LP, cap=PCT, wait=MS, gc=SECONDS: pool policy\n"
	       "  -o create=owner|all  who makes heaps: the mount's owner and root\n"
	       "                (default), or every user, each removing only their own\n"
	       "  and the standard FUSE options: allow_other lets other users reach heaps\n"
	       "  their modes grant (each heap is its creator's, 0700; an unprivileged\n"
	       "  mount needs user_allow_other in /etc/fuse.conf for it)\n");
}

/* 0, or -EINVAL after printing why; 1 if it printed help or version. */
int fs_opts_parse(struct fs_opts *o, int argc, char **argv)
{
	const char *pos[2];
	int n_pos = 0, rc;

	memset(o, 0, sizeof(*o));
	o->cache_bytes = 256u << 20;
	o->line_size = HS_LINE_SIZE_DEFAULT;
	o->zstd_level = 1;
	o->split[0] = 40, o->split[1] = 20, o->split[2] = 20, o->split[3] = 20;
	o->cap_pct = 50;
	o->wait_ms = 2000;
	o->gc_s = 15;
	if (fuse_opt_add_arg(&o->fuse_args, argc ? argv[0] : "heapfs"))
		return -ENOMEM;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage();
			return 1;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("heapfs %s, store format %d\n", HEAPFS_VERSION, HS_FORMAT_VERSION);
			return 1;
		} else if (!strcmp(a, "-f")) {
			o->foreground = true;
		} else if (!strcmp(a, "-d")) {
			o->foreground = true;
			if (fuse_opt_add_arg(&o->fuse_args, "-d"))
				return -ENOMEM;
		} else if (!strcmp(a, "-o") || !strncmp(a, "-o", 2)) {
			const char *list = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);

			if (!list) {
				fs_fail("-o", "needs a list of options");
				return -EINVAL;
			}
			if ((rc = opts_list(o, list)) < 0)
				return rc;
		} else if (a[0] == '-' && a[1]) {
			fs_fail(a, "unknown flag (see heapfs --help)");
			return -EINVAL;
		} else if (n_pos < 2) {
			pos[n_pos++] = a;
		} else {
			fs_fail(a, "unexpected argument: heapfs takes STORE_DIR MOUNTPOINT");
			return -EINVAL;
		}
	}
	if (n_pos != 2) {
		fs_fail("usage", "heapfs [-f] [-o OPTS] STORE_DIR MOUNTPOINT");
		return -EINVAL;
	}
	o->store_dir = realpath(pos[0], NULL);
	if (!o->store_dir && errno == ENOENT) {
		/* Created on open; absolute, since the daemon leaves its cwd. */
		char cwd[PATH_MAX];

		if (pos[0][0] == '/')
			o->store_dir = strdup(pos[0]);
		else if (getcwd(cwd, sizeof(cwd)) &&
			 asprintf(&o->store_dir, "%s/%s", cwd, pos[0]) < 0)
			o->store_dir = NULL;
	}
	o->mountpoint = realpath(pos[1], NULL);
	if (!o->mountpoint) {
		fs_fail(pos[1], "%s", strerror(errno));
		return -EINVAL;
	}
	if (!o->store_dir)
		return -ENOMEM;
	return 0;
}

void fs_opts_dispose(struct fs_opts *o)
{
	free(o->store_dir);
	free(o->mountpoint);
	fuse_opt_free_args(&o->fuse_args);
}
