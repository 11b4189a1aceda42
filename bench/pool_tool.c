/*
 * pool_tool.c - the helper of bench/pool.sh: drives a mounted heapfs
 * through the cooperative pool's cases and prints one line of figures.
 * Content is incompressible (a blob's stored size is its line's), so the
 * pool= budget counts what is written.
 *
 *   pool_tool bursts MNT HEAPS COOP BASE BURST [QUOTA]
 *       heaps b0..b(HEAPS-1), each BASE bytes (its last half freeable: the
 *       first COOP heaps run a runtime that reports it and punches it when
 *       its balloon asks), QUOTA each (static partitions) or none (the
 *       shared pool); then each heap in turn writes a burst of BURST bytes
 *       after its base, 1 MiB a write (the first write refused, after
 *       wait=, ends the burst: the rest is refused too), and gives it back
 *       (punch, gc); prints "refused BYTES of BYTES writes N p50 MS p99 MS
 *       max MS" (latencies of the writes made, the refused one included)
 *   pool_tool reclaim MNT ROUNDS RT FILL
 *       a runtime heap rt of RT bytes (reporting all but its first quarter
 *       freeable, punching when asked) and a silent heap of FILL bytes;
 *       then ROUNDS times fallocate 64 MiB of heap w (a request the pool
 *       can serve only with what rt gives back), timed, and undone (w
 *       truncated, rt rewritten, gc); prints "rounds N failed F p50 MS p99
 *       MS max MS"
 *   pool_tool waiters MNT N
 *       a silent heap writes until the pool refuses it (ENOSPC), then N
 *       threads each write 1 MiB into a heap of their own at once; prints
 *       "waiters N refused R short S took_min S took_max S passes P" (P:
 *       the space budget's reclaim passes their waits began)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "bench_util.h"

#define MiB (1024ULL * 1024ULL)
#define LINE (64 * 1024ULL)

static const char *mnt;

static const char *at(char *buf, size_t cap, const char *heap, const char *file)
{
	snprintf(buf, cap, "%s/%s%s%s", mnt, heap, file ? "/" : "", file ? file : "");
	return buf;
}

/* Incompressible bytes, a function of (@seed, @off). */
static void fill(uint8_t *p, size_t len, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t v = mix64(seed * 0x9e3779b97f4a7c15ULL ^ ((off + i) >> 3));

		memcpy(p + i, &v, 8);
	}
}

static void heap_make(const char *heap)
{
	char path[4096];

	if (mkdir(at(path, sizeof(path), heap, NULL), 0700) < 0 && errno != EEXIST)
		die(path);
}

/* Write [@off, @off + @len) of @heap, 1 MiB a write, and fsync. */
static void heap_write(const char *heap, uint64_t off, uint64_t len, uint64_t seed)
{
	char path[4096];
	uint8_t *buf = malloc(MiB);
	int fd = open(at(path, sizeof(path), heap, "heap"), O_RDWR);

	if (fd < 0 || !buf)
		die(path);
	for (uint64_t o = off; o < off + len; o += MiB) {
		fill(buf, MiB, seed, o);
		pwrite_all(fd, buf, MiB, (off_t)o);
	}
	if (fsync(fd) < 0)
		die("fsync");
	close(fd);
	free(buf);
}

/* One control request (gc), its response read and dropped. */
static void ctl(const char *req)
{
	char path[4096], out[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/.heapfs/ctl", mnt);
	if ((fd = open(path, O_RDWR)) < 0)
		die(path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req) || pread(fd, out, sizeof(out), 0) < 0)
		die("ctl");
	close(fd);
}

static uint64_t pool_figure(const char *key)
{
	char path[4096], line[256];
	size_t kl = strlen(key);
	uint64_t v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/.heapfs/pool", mnt);
	if (!(f = fopen(path, "r")))
		die(path);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = strtoull(line + kl + 1, NULL, 10);
	fclose(f);
	return v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

/* ---- a cooperating runtime ---------------------------------------------- */

static volatile sig_atomic_t refill;

static void on_usr1(int sig)
{
	(void)sig;
	refill = 1;
}

/*
 * Reports [@lo, @hi) of @heap freeable and, for each ask its balloon's
 * poll() wakes it to, gives lines of it back from the top down: one punch,
 * or @by_lines, unlinking them under lines/ (a write of the heap that waits
 * for space holds the heap file's lock, which a punch would wait for);
 * SIGUSR1 says the parent wrote it all again (report it anew).  Runs until
 * killed.
 */
static void runtime(const char *heap, uint64_t lo, uint64_t hi, bool by_lines)
{
	char path[4096], text[256];
	uint64_t top = hi;
	int bfd = open(at(path, sizeof(path), heap, "balloon"), O_RDWR);
	int hfd = open(at(path, sizeof(path), heap, "heap"), O_RDWR);

	if (bfd < 0 || hfd < 0)
		die(path);
	signal(SIGUSR1, on_usr1);
	refill = 1;
	for (;;) {
		struct pollfd p = { bfd, POLLIN, 0 };
		unsigned long long target, current, rate;
		uint64_t give;
		ssize_t n;

		if (refill) {
			refill = 0;
			top = hi;
			n = snprintf(text, sizeof(text), "freeable %llu\n",
				     (unsigned long long)(hi - lo));
			if (write(bfd, text, (size_t)n) != n)
				die("report");
		}
		if (poll(&p, 1, 200) < 0 && errno != EINTR)
			die("poll");
		if ((n = pread(bfd, text, sizeof(text) - 1, 0)) <= 0)
			die("balloon");
		text[n] = '\0';
		if (sscanf(text, "target: %llu\ncurrent: %llu\nrate: %llu", &target, &current,
			   &rate) != 3 || current >= target)
			continue;
		give = (target - current + LINE - 1) / LINE * LINE;
		if (give > top - lo)
			give = top - lo;
		if (!give)
			continue;   /* it has nothing left to give */
		if (!by_lines) {   /* one punch */
			top -= give;
			if (fallocate(hfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      (off_t)top, (off_t)give) < 0)
				die("punch");
			continue;
		}
		/* Line by line through lines/: a write of this heap waiting for
		 * space holds the heap file's lock, which a punch would wait
		 * for. */
		for (; give; give -= LINE) {
			char line[64];

			top -= LINE;
			snprintf(line, sizeof(line), "lines/%016llx", (unsigned long long)top);
			if (unlink(at(path, sizeof(path), heap, line)) < 0 && errno != ENOENT)
				die("unlink a line");
		}
	}
}

static pid_t runtime_start(const char *heap, uint64_t lo, uint64_t hi, bool by_lines)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		runtime(heap, lo, hi, by_lines);
		_exit(0);
	}
	return pid;
}

static void runtime_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- bursts ------------------------------------------------------------- */

static int cmd_bursts(int heaps, int coop, uint64_t base, uint64_t burst, uint64_t quota)
{
	pid_t *rt = calloc((size_t)heaps, sizeof(*rt));
	double *lat = malloc((size_t)(heaps * (burst / MiB + 1)) * sizeof(*lat));
	uint8_t *buf = malloc(MiB);
	uint64_t refused = 0, total = 0;
	size_t n = 0;
	char name[32], path[4096], q[32];

	if (!rt || !lat || !buf)
		die("malloc");
	for (int i = 0; i < heaps; i++) {
		snprintf(name, sizeof(name), "b%d", i);
		heap_make(name);
		if (quota) {
			snprintf(q, sizeof(q), "%llu", (unsigned long long)quota);
			if (setxattr(at(path, sizeof(path), name, NULL), "user.heapfs.quota", q,
				     strlen(q), 0) < 0)
				die("quota");
		}
		heap_write(name, 0, base, (uint64_t)i + 1);
		if (i < coop)
			rt[i] = runtime_start(name, base / 2, base, true);   /* its own
										writes wait */
	}
	ctl("{\"cmd\":\"gc\"}");
	for (int i = 0; i < heaps; i++) {
		int fd;

		snprintf(name, sizeof(name), "b%d", i);
		if ((fd = open(at(path, sizeof(path), name, "heap"), O_RDWR)) < 0)
			die(path);
		for (uint64_t o = base; o < base + burst; o += MiB) {
			double t0 = now_s();
			size_t done = 0;

			fill(buf, MiB, 100 + (uint64_t)i, o);
			while (done < MiB) {
				ssize_t r = pwrite(fd, buf + done, MiB - done, (off_t)(o + done));

				if (r <= 0) {
					if (r < 0 && errno != ENOSPC && errno != EDQUOT)
						die("burst write");
					break;   /* refused: the rest of this MiB too */
				}
				done += (size_t)r;
			}
			lat[n++] = (now_s() - t0) * 1e3;
			total += MiB;
			if (done < MiB) {   /* refused: so is the rest of the burst */
				refused += base + burst - o - done;
				total += base + burst - o - MiB;
				break;
			}
		}
		if (fsync(fd) < 0 && errno != ENOSPC && errno != EDQUOT)
			die("fsync");
		/* The burst ends: given back, and the space returned. */
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)base,
			      (off_t)burst) < 0)
			die("punch");
		close(fd);
		ctl("{\"cmd\":\"gc\"}");
	}
	for (int i = 0; i < coop; i++)
		runtime_stop(rt[i]);
	/* Each write's latency too, for figures pooled over runs. */
	if (getenv("POOL_TOOL_LAT")) {
		FILE *f = fopen(getenv("POOL_TOOL_LAT"), "a");

		if (!f)
			die("POOL_TOOL_LAT");
		for (size_t k = 0; k < n; k++)
			fprintf(f, "%.3f\n", lat[k]);
		if (fclose(f) != 0)
			die("POOL_TOOL_LAT");
	}
	{
		double p50 = pct(lat, n, 0.5), p99 = pct(lat, n, 0.99), max = pct(lat, n, 1.0);

		printf("refused %llu of %llu writes %zu p50 %.2f p99 %.2f max %.2f\n",
		       (unsigned long long)refused, (unsigned long long)total, n, p50, p99, max);
	}
	free(rt);
	free(lat);
	free(buf);
	return 0;
}

/* ---- a reclaim-backed request ------------------------------------------- */

static int cmd_reclaim(int rounds, uint64_t rt_size, uint64_t fill_size)
{
	const uint64_t req = 64 * MiB, lo = rt_size / 4;
	double *lat = malloc((size_t)rounds * sizeof(*lat));
	char path[4096];
	int failed = 0, fd;
	pid_t rt;

	if (!lat)
		die("malloc");
	heap_make("rt");
	heap_make("silent");
	heap_make("w");
	heap_write("rt", 0, rt_size, 1);
	heap_write("silent", 0, fill_size, 2);
	ctl("{\"cmd\":\"gc\"}");
	rt = runtime_start("rt", lo, rt_size, false);
	if ((fd = open(at(path, sizeof(path), "w", "heap"), O_RDWR)) < 0)
		die(path);
	for (int r = 0; r < rounds; r++) {
		double t0;

		usleep(300 * 1000);   /* the runtime has reported, the pool is still */
		t0 = now_s();
		if (fallocate(fd, 0, 0, (off_t)req) < 0) {
			if (errno != ENOSPC && errno != EDQUOT)
				die("fallocate");
			failed++;
		}
		lat[r] = (now_s() - t0) * 1e3;
		if (getenv("POOL_TOOL_DEBUG"))
			fprintf(stderr, "round %d: %.1f ms, used %llu, passes %llu\n", r, lat[r],
				(unsigned long long)pool_figure("used"),
				(unsigned long long)pool_figure("space_reclaim_passes"));
		/* Undone: the request let go, the runtime whole again. */
		if (ftruncate(fd, 0) < 0)
			die("truncate");
		heap_write("rt", lo, rt_size - lo, 10 + (uint64_t)r);
		ctl("{\"cmd\":\"gc\"}");
		kill(rt, SIGUSR1);
	}
	close(fd);
	runtime_stop(rt);
	printf("rounds %d failed %d p50 %.1f p99 %.1f max %.1f\n", rounds, failed,
	       pct(lat, (size_t)rounds, 0.5), pct(lat, (size_t)rounds, 0.99),
	       pct(lat, (size_t)rounds, 1.0));
	free(lat);
	return 0;
}

/* ---- many waiters -------------------------------------------------------- */

struct waiter {
	char path[4096];
	ssize_t r;
	int err;
	double took;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	uint8_t *buf = malloc(MiB);
	int fd = open(w->path, O_RDWR);
	double t0 = now_s();

	w->r = -1;
	w->err = 0;
	if (!buf || fd < 0) {
		w->err = errno;
	} else {
		fill(buf, MiB, 7, 0);
		if ((w->r = pwrite(fd, buf, MiB, 0)) < 0)
			w->err = errno;
	}
	w->took = now_s() - t0;
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static int cmd_waiters(int n)
{
	struct waiter *w = calloc((size_t)n, sizeof(*w));
	pthread_t *th = calloc((size_t)n, sizeof(*th));
	uint8_t *buf = malloc(MiB);
	double lo = 1e9, hi = 0;
	uint64_t passes, off = 0;
	int refused = 0, shorter = 0, fd;
	char path[4096], name[32];

	if (!w || !th || !buf)
		die("malloc");
	heap_make("silent");
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "w%d", i);
		heap_make(name);
		at(w[i].path, sizeof(w[i].path), name, "heap");
	}
	/* Fill the pool until it refuses. */
	if ((fd = open(at(path, sizeof(path), "silent", "heap"), O_RDWR)) < 0)
		die(path);
	for (;; off += MiB) {
		ssize_t r;

		fill(buf, MiB, 3, off);
		if ((r = pwrite(fd, buf, MiB, (off_t)off)) < (ssize_t)MiB)
			break;
	}
	close(fd);
	passes = pool_figure("space_reclaim_passes");
	for (int i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, waiter_main, &w[i]) != 0)
			die("pthread_create");
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		refused += w[i].r < 0 && (w[i].err == ENOSPC || w[i].err == EDQUOT);
		shorter += w[i].r >= 0 && w[i].r < (ssize_t)MiB;
		lo = w[i].took < lo ? w[i].took : lo;
		hi = w[i].took > hi ? w[i].took : hi;
	}
	printf("waiters %d refused %d short %d took_min %.2f took_max %.2f passes %llu\n", n,
	       refused, shorter, lo, hi,
	       (unsigned long long)(pool_figure("space_reclaim_passes") - passes));
	free(w);
	free(th);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *c = argc > 2 ? argv[1] : "";

	if (argc > 2)
		mnt = argv[2];
	if (!strcmp(c, "bursts") && (argc == 7 || argc == 8))
		return cmd_bursts(atoi(argv[3]), atoi(argv[4]), strtoull(argv[5], NULL, 10),
				  strtoull(argv[6], NULL, 10),
				  argc == 8 ? strtoull(argv[7], NULL, 10) : 0);
	if (!strcmp(c, "reclaim") && argc == 6)
		return cmd_reclaim(atoi(argv[3]), strtoull(argv[4], NULL, 10),
				   strtoull(argv[5], NULL, 10));
	if (!strcmp(c, "waiters") && argc == 4)
		return cmd_waiters(atoi(argv[3]));
	fprintf(stderr, "usage: pool_tool bursts MNT HEAPS COOP BASE BURST [QUOTA]\n"
		"       pool_tool reclaim MNT ROUNDS RT FILL\n"
		"       pool_tool waiters MNT N\n");
	return 2;
}
