/*
 * heapctl.c - the store management tool.
 *
 *   heapctl [-m MOUNTPOINT | --store STORE_DIR] [--json] COMMAND ...
 *
 * Through a mount it writes one JSON request to MNT/.heapfs/ctl and reads
 * the response (the daemon runs it with cmd_exec()); with --store it opens
 * an unmounted store and runs the same cmd_exec() itself.  The mount is
 * -m, else $HEAPFS_MOUNT, else the current directory or the nearest parent
 * holding .heapfs/ctl.  Results print as short lines, or the response's
 * JSON with --json; errors print `heapctl: <what>: <why>` and exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

struct ctl {
	const char *mount;
	const char *store_dir;
	bool json;
	bool read_only;               /* fsck changes nothing, and proves it */
	const char *what;             /* for error messages: "checkpoint app" */
};

static int die(const struct ctl *c, const char *why)
{
	fprintf(stderr, "heapctl: %s: %s\n", c->what, why);
	return 1;
}

static void usage(FILE *to)
{
	fprintf(to,
		"usage: heapctl [-m MOUNTPOINT | --store STORE_DIR] [--json] COMMAND ...\n"
		"  create HEAP [--size SIZE] [--line SIZE] [--quota SIZE] [--reserve SIZE]\n"
		"  ls\n"
		"  stat HEAP\n"
		"  rm HEAP\n"
		"  checkpoint HEAP [--label L]\n"
		"  checkpoints HEAP\n"
		"  space HEAP                   per checkpoint: bytes it holds, unique to it,\n"
		"                               shared, and what deleting it would free\n"
		"  restore HEAP VERSION         (a number, latest or a label)\n"
		"  diff HEAP V1 V2              (V may also be live)\n"
		"  rm-checkpoint HEAP VERSION\n"
		"  suspend HEAP                 (checkpoint, free its cache, refuse writes: EROFS)\n"
		"  resume HEAP\n"
		"  gc [--full]                  reclaim what no version references now\n"
		"                               (--full: also what writes in flight held)\n"
		"  fsck --store STORE_DIR [--verify-data] [--repair]\n"
		"                               (--repair: an unmounted store; fixes reference\n"
		"                               counts and line counters, drops missing or corrupt\n"
		"                               blobs: their lines read as errors until rewritten)\n");
}

/* The nearest directory from the cwd up that holds .heapfs/ctl (static). */
static const char *mount_find(void)
{
	static char dir[PATH_MAX];
	char path[PATH_MAX + 16];

	if (!getcwd(dir, sizeof(dir)))
		return NULL;
	for (;;) {
		snprintf(path, sizeof(path), "%s/.heapfs/ctl", strcmp(dir, "/") ? dir : "");
		if (access(path, F_OK) == 0)
			return dir;
		char *slash = strrchr(dir, '/');

		if (!slash || slash == dir)
			return NULL;
		*slash = '\0';
	}
}

/* One request through the mount: write it, read the whole response. */
static char *via_mount(const struct ctl *c, const char *req, int *err)
{
	char path[PATH_MAX];
	char *out = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/.heapfs/ctl", c->mount) >= sizeof(path)) {
		*err = ENAMETOOLONG;
		return NULL;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		*err = errno;
		return NULL;
	}
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		*err = errno ? errno : EIO;
		close(fd);
		return NULL;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *grown = realloc(out, cap = cap * 2 + 8192);

			if (!grown) {
				*err = ENOMEM;
				break;
			}
			out = grown;
		}
		n = pread(fd, out + len, cap - len - 1, (off_t)len);
		if (n <= 0) {
			if (n < 0)
				*err = errno;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	if (*err) {
		free(out);
		return NULL;
	}
	out[len] = '\0';
	return out;
}

static json_t *request(struct ctl *c, json_t *req)
{
	char *text = json_dumps(req, JSON_COMPACT), *resp_text = NULL;
	json_error_t jerr;
	json_t *resp = NULL;
	int err = 0;

	json_decref(req);
	if (!text)
		return NULL;
	if (c->store_dir) {
		hs_store_opts o = HS_STORE_OPTS_INIT;
		hs_store *s;
		int rc;

		o.read_only = c->read_only;
		o.no_create = 1;   /* a mount creates stores; a typo must not */
		rc = hs_store_open(&s, c->store_dir, &o);

		if (rc < 0) {
			const char *msg = hs_error_last();
			size_t dl = strlen(c->store_dir);

			/* The store's messages often start with the path already. */
			if (strncmp(msg, c->store_dir, dl) == 0 && strncmp(msg + dl, ": ", 2) == 0)
				msg += dl + 2;
			fprintf(stderr, "heapctl: %s: %s\n", c->store_dir, msg);
			free(text);
			exit(1);
		}
		resp_text = cmd_exec_text(s, text, strlen(text), NULL);
		if (hs_store_close(s) < 0) {   /* what the command wrote may not be durable */
			fprintf(stderr, "heapctl: %s: %s\n", c->store_dir, hs_error_last());
			free(resp_text);
			free(text);
			exit(1);
		}
	} else {
		resp_text = via_mount(c, text, &err);
		if (!resp_text) {
			fprintf(stderr, "heapctl: %s: %s/.heapfs/ctl: %s\n", c->what, c->mount,
				strerror(err));
			free(text);
			exit(1);
		}
	}
	free(text);
	if (resp_text)
		resp = json_loads(resp_text, 0, &jerr);
	free(resp_text);
	if (!resp) {
		fprintf(stderr, "heapctl: %s: unreadable response\n", c->what);
		exit(1);
	}
	return resp;
}

static int size_arg(struct ctl *c, const char *s, json_t *req, const char *key)
{
	uint64_t v;

	if (!s || cmd_size_parse(s, &v) < 0 || v > (uint64_t)INT64_MAX) {
		char why[128];

		snprintf(why, sizeof(why), "%s: not a size (a number with K, M, G or T)",
			 s ? s : key);
		return die(c, why);
	}
	json_object_set_new(req, key, json_integer((json_int_t)v));
	return 0;
}

/* A version argument: digits become a number, anything else a label. */
static json_t *version_arg(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*s >= '0' && *s <= '9' && !*end && v > 0 && v <= INT64_MAX)
		return json_integer((json_int_t)v);
	return json_string(s);
}

static const char *when(uint64_t ns, char *buf, size_t cap)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;

	strftime(buf, cap, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	return buf;
}

static void print_heap(const json_t *h)
{
	printf("%-24s %14lld %8lld %10lld %6lld\n", json_string_value(json_object_get(h, "name")),
	       (long long)json_integer_value(json_object_get(h, "size")),
	       (long long)json_integer_value(json_object_get(h, "line_size")),
	       (long long)json_integer_value(json_object_get(h, "lines_used")),
	       (long long)json_integer_value(json_object_get(h, "checkpoints")));
}

static void print_result(const char *cmd, const json_t *resp)
{
	const json_t *v;
	size_t i;
	char buf[64];

	if (strcmp(cmd, "ls") == 0) {
		printf("%-24s %14s %8s %10s %6s\n", "HEAP", "SIZE", "LINE", "LINES", "CKPTS");
		json_array_foreach(json_object_get(resp, "heaps"), i, v)
			print_heap(v);
	} else if (strcmp(cmd, "stat") == 0) {
		const char *key;

		json_object_foreach((json_t *)json_object_get(resp, "heap"), key, v) {
			if (json_is_string(v))
				printf("%s: %s\n", key, json_string_value(v));
			else
				printf("%s: %lld\n", key, (long long)json_integer_value(v));
		}
		json_object_foreach((json_t *)json_object_get(resp, "cache"), key, v)
			printf("cache_%s: %lld\n", key, (long long)json_integer_value(v));
	} else if (strcmp(cmd, "checkpoint") == 0 || strcmp(cmd, "suspend") == 0) {
		printf("%lld\n", (long long)json_integer_value(json_object_get(resp, "version")));
	} else if (strcmp(cmd, "checkpoints") == 0) {
		printf("%8s  %-19s  %-20s %8s %12s\n", "VERSION", "CREATED", "LABEL", "LINES",
		       "BYTES");
		json_array_foreach(json_object_get(resp, "checkpoints"), i, v) {
			printf("%8lld  %-19s  %-20s %8lld %12lld\n",
			       (long long)json_integer_value(json_object_get(v, "version")),
			       when((uint64_t)json_integer_value(json_object_get(v, "created_ns")),
				    buf, sizeof(buf)),
			       json_string_value(json_object_get(v, "label")),
			       (long long)json_integer_value(json_object_get(v, "lines_changed")),
			       (long long)json_integer_value(json_object_get(v, "bytes_changed")));
		}
	} else if (strcmp(cmd, "space") == 0) {
		printf("referenced: %lld\nunique: %lld\nreserve: %lld\nquota: %lld\n",
		       (long long)json_integer_value(json_object_get(resp, "referenced")),
		       (long long)json_integer_value(json_object_get(resp, "unique")),
		       (long long)json_integer_value(json_object_get(resp, "reserve")),
		       (long long)json_integer_value(json_object_get(resp, "quota")));
		printf("%8s  %-20s %12s %12s %12s %12s\n", "VERSION", "LABEL", "HELD", "UNIQUE",
		       "SHARED", "FREED");
		json_array_foreach(json_object_get(resp, "checkpoints"), i, v) {
			printf("%8lld  %-20s %12lld %12lld %12lld %12lld\n",
			       (long long)json_integer_value(json_object_get(v, "version")),
			       json_string_value(json_object_get(v, "label")),
			       (long long)json_integer_value(json_object_get(v, "held")),
			       (long long)json_integer_value(json_object_get(v, "unique")),
			       (long long)json_integer_value(json_object_get(v, "shared")),
			       (long long)json_integer_value(json_object_get(v, "freed_if_deleted")));
		}
	} else if (strcmp(cmd, "diff") == 0) {
		long long ls = (long long)json_integer_value(json_object_get(resp, "line_size"));

		json_array_foreach(json_object_get(resp, "lines"), i, v)
			printf("%016llx\n", (long long)json_integer_value(v) * ls);
		json_array_foreach(json_object_get(resp, "state_lines"), i, v)
			printf("state %016llx\n", (long long)json_integer_value(v) * ls);
	} else if (strcmp(cmd, "fsck") == 0) {
		size_t n_lost = json_array_size(json_object_get(resp, "lost"));

		json_array_foreach(json_object_get(resp, "problems"), i, v)
			printf("%s\n", json_string_value(v));
		json_array_foreach(json_object_get(resp, "repaired"), i, v)
			printf("%s%s\n", HS_FSCK_REPAIRED, json_string_value(v));
		json_array_foreach(json_object_get(resp, "lost"), i, v)
			printf("%s%s\n", HS_FSCK_LOST, json_string_value(v));
		if (json_array_size(json_object_get(resp, "repaired")))
			printf("%zu repaired\n", json_array_size(json_object_get(resp, "repaired")));
		if (n_lost)
			printf("%zu lines lost\n", n_lost);
		printf("%lld errors\n", (long long)json_integer_value(json_object_get(resp, "errors")));
	} else if (strcmp(cmd, "gc") == 0) {
		printf("reclaimed %lld blobs, %lld bytes stored (%lld candidates, %lld busy)\n",
		       (long long)json_integer_value(json_object_get(resp, "blobs_freed")),
		       (long long)json_integer_value(json_object_get(resp, "bytes_freed")),
		       (long long)json_integer_value(json_object_get(resp, "candidates")),
		       (long long)json_integer_value(json_object_get(resp, "busy")));
	} else if (strcmp(cmd, "restore") == 0) {
		printf("restored to %lld\n",
		       (long long)json_integer_value(json_object_get(resp, "version")));
	}
}

int main(int argc, char **argv)
{
	struct ctl c = { 0 };
	char what[256];
	const char *cmd, *heap = NULL;
	json_t *req, *resp;
	int i = 1, rc;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-m") && i + 1 < argc) {
			c.mount = argv[++i];
		} else if (!strcmp(argv[i], "--store") && i + 1 < argc) {
			c.store_dir = argv[++i];
		} else if (!strcmp(argv[i], "--json")) {
			c.json = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "heapctl: %s: unknown option\n", argv[i]);
			usage(stderr);
			return 1;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 1;
	}
	cmd = argv[i++];
	if (i < argc && strcmp(cmd, "ls") != 0 && strcmp(cmd, "fsck") != 0 &&
	    strcmp(cmd, "gc") != 0)
		heap = argv[i++];
	snprintf(what, sizeof(what), "%s%s%s", cmd, heap ? " " : "", heap ? heap : "");
	c.what = what;

	req = json_pack("{s:s}", "cmd", cmd);
	if (heap)
		json_object_set_new(req, "heap", json_string(heap));
	if (strcmp(cmd, "fsck") == 0) {
		c.read_only = true;
	} else if (strcmp(cmd, "ls") && strcmp(cmd, "gc") && !heap) {
		json_decref(req);
		return die(&c, "which heap?");
	}
	/* The rest: per-command flags and positional versions. */
	for (int pos = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(cmd, "create") && i + 1 < argc &&
		    (!strcmp(a, "--size") || !strcmp(a, "--line") ||
		     !strcmp(a, "--quota") || !strcmp(a, "--reserve"))) {
			if ((rc = size_arg(&c, argv[i + 1], req, a + 2)) != 0) {
				json_decref(req);
				return rc;
			}
			i++;
		} else if (!strcmp(cmd, "gc") && !strcmp(a, "--full")) {
			json_object_set_new(req, "full", json_true());
		} else if (!strcmp(cmd, "fsck") && !strcmp(a, "--verify-data")) {
			json_object_set_new(req, "verify_data", json_true());
		} else if (!strcmp(cmd, "fsck") && !strcmp(a, "--repair")) {
			json_object_set_new(req, "repair", json_true());
		} else if (!strcmp(cmd, "fsck") && !strcmp(a, "--store") && i + 1 < argc) {
			c.store_dir = argv[++i];
			c.read_only = true;
		} else if (!strcmp(cmd, "checkpoint") && !strcmp(a, "--label") && i + 1 < argc) {
			json_object_set_new(req, "label", json_string(argv[++i]));
		} else if ((!strcmp(cmd, "restore") || !strcmp(cmd, "rm-checkpoint")) && pos == 0) {
			json_object_set_new(req, "version", version_arg(a));
			pos++;
		} else if (!strcmp(cmd, "diff") && pos < 2) {
			json_object_set_new(req, pos ? "to" : "from", version_arg(a));
			pos++;
		} else {
			char why[300];

			snprintf(why, sizeof(why), "unexpected argument '%s'", a);
			json_decref(req);
			return die(&c, why);
		}
	}
	/* Where the request goes, now that every argument is known. */
	if (!strcmp(cmd, "fsck") && !c.store_dir) {
		json_decref(req);
		return die(&c, "fsck checks an unmounted store: give --store STORE_DIR");
	}
	/* Only a repair writes; a store a daemon holds then fails to open (EBUSY). */
	if (!strcmp(cmd, "fsck") && json_is_true(json_object_get(req, "repair")))
		c.read_only = false;
	if (!c.store_dir && !c.mount)
		c.mount = getenv("HEAPFS_MOUNT");
	if (!c.store_dir && !c.mount && !(c.mount = mount_find())) {
		json_decref(req);
		return die(&c, "no heapfs mount here: give -m MOUNTPOINT, set HEAPFS_MOUNT, "
			   "or --store STORE_DIR");
	}
	resp = request(&c, req);
	if (!json_is_true(json_object_get(resp, "ok"))) {
		rc = die(&c, json_string_value(json_object_get(resp, "error")) ?: "failed");
		json_decref(resp);
		return rc;
	}
	rc = strcmp(cmd, "fsck") == 0 && json_integer_value(json_object_get(resp, "errors")) ? 1 : 0;
	if (c.json) {
		json_object_del(resp, "ok");
		json_dumpf(resp, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		print_result(cmd, resp);
	}
	json_decref(resp);
	return rc;
}
