/*
 * gc_tool.c - the helper of bench/gc.sh: writes heap lines of incompressible
 * content, turns a fraction of them into garbage, times one heapfs control
 * request without a process start in the measurement, and measures 4 KiB
 * write + fsync latency.
 *
 *   gc_tool fill FILE BYTES LINE SEED
 *       write BYTES of distinct random lines (pwrite of whole lines), fsync
 *   gc_tool dirty FILE LINE FRACTION SEED
 *       overwrite round(FRACTION * lines) distinct lines, chosen by SEED,
 *       with new random content, fsync; prints the count
 *   gc_tool files DIR BYTES FILESIZE SEED
 *       the same content as fill, as files DIR/fNNNNNN of FILESIZE bytes
 *   gc_tool dirtyfiles DIR FILESIZE FRACTION SEED
 *       rewrite round(FRACTION * files) files, chosen by SEED, with new
 *       content; prints the count
 *   gc_tool ctl MNT JSON
 *       send one request through MNT/.heapfs/ctl; prints "MS RESPONSE"
 *   gc_tool lat FILE SECONDS [RAW]
 *       4 KiB pwrite + fsync at random 4 KiB-aligned offsets of FILE for
 *       SECONDS; prints "ops p50 p99 p99.9 max ops_per_s seconds" (latencies
 *       in us) and, with RAW, appends every latency (ns) to RAW, one a line
 *   gc_tool churn FILE LINE SEED MIBS
 *       overwrite FILE line by line with new content at MIBS MiB/s, fsync
 *       every 16 MiB, until SIGTERM or SIGINT
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"


/* Line @i's content for @seed: random, so zstd cannot shrink it. */
static void random_fill(uint8_t *buf, size_t len, uint64_t seed, uint64_t i)
{
	uint64_t s = mix64(seed * 0x100000001b3ULL ^ mix64(i));

	for (size_t o = 0; o < len; o += 8) {
		uint64_t v = mix64(s += 0x9e3779b97f4a7c15ULL);

		memcpy(buf + o, &v, len - o < 8 ? len - o : 8);
	}
}

static int cmd_fill(const char *file, uint64_t bytes, size_t line, uint64_t seed)
{
	uint8_t *buf = malloc(line);
	int fd = open(file, O_WRONLY | O_CREAT, 0600);
	double t0 = now_s();

	if (fd < 0 || !buf)
		die(file);
	for (uint64_t i = 0; i < bytes / line; i++) {
		random_fill(buf, line, seed, i);
		pwrite_all(fd, buf, line, (off_t)(i * line));
	}
	if (fsync(fd))
		die("fsync");
	printf("%.0f\n", bytes / 1048576.0 / (now_s() - t0));
	close(fd);
	free(buf);
	return 0;
}

static int cmd_dirty(const char *file, size_t line, double frac, uint64_t seed)
{
	uint8_t *buf = malloc(line);
	int fd = open(file, O_WRONLY);
	struct stat st;
	uint64_t n, k, *a;

	if (fd < 0 || !buf || fstat(fd, &st))
		die(file);
	n = (uint64_t)st.st_size / line;
	k = (uint64_t)(frac * (double)n + 0.5);
	if (k > n)
		k = n;
	a = choose(n, k, seed);
	qsort(a, k, sizeof(*a), cmp_u64);   /* in order: as a runtime's sweep would */
	for (uint64_t i = 0; i < k; i++) {
		random_fill(buf, line, seed + 0x1000000, a[i]);
		pwrite_all(fd, buf, line, (off_t)(a[i] * line));
	}
	if (fsync(fd))
		die("fsync");
	printf("%llu\n", (unsigned long long)k);
	close(fd);
	free(a);
	free(buf);
	return 0;
}

static void write_file(const char *dir, uint64_t f, size_t fsize, uint64_t seed,
		       uint8_t *buf)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/f%06llu", dir, (unsigned long long)f);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		die(path);
	random_fill(buf, fsize, seed, f);
	pwrite_all(fd, buf, fsize, 0);
	close(fd);
}

static int cmd_files(const char *dir, uint64_t bytes, size_t fsize, uint64_t seed)
{
	uint8_t *buf = malloc(fsize);

	if (!buf)
		die("malloc");
	for (uint64_t f = 0; f < bytes / fsize; f++)
		write_file(dir, f, fsize, seed, buf);
	sync();
	free(buf);
	return 0;
}

static int cmd_dirtyfiles(const char *dir, size_t fsize, double frac, uint64_t seed)
{
	uint8_t *buf = malloc(fsize);
	uint64_t n = 0, k, *a;
	char path[4096];

	if (!buf)
		die("malloc");
	for (;; n++) {
		snprintf(path, sizeof(path), "%s/f%06llu", dir, (unsigned long long)n);
		if (access(path, F_OK))
			break;
	}
	k = (uint64_t)(frac * (double)n + 0.5);
	a = choose(n, k, seed);
	for (uint64_t i = 0; i < k; i++)
		write_file(dir, a[i], fsize, seed + 0x1000000, buf);
	sync();
	printf("%llu\n", (unsigned long long)k);
	free(a);
	free(buf);
	return 0;
}

static int cmd_ctl(const char *mnt, const char *req)
{
	char path[4096], *out;
	size_t len = 0, cap = 1 << 16;
	ssize_t n;
	double t0, t1;
	int fd;

	if (!(out = malloc(cap)))
		die("malloc");
	snprintf(path, sizeof(path), "%s/.heapfs/ctl", mnt);
	t0 = now_s();
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		die(path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		die("write request");
	/* The whole response, however long (space on 1,000 checkpoints). */
	while ((n = pread(fd, out + len, cap - 1 - len, (off_t)len)) > 0) {
		len += (size_t)n;
		if (len == cap - 1 && !(out = realloc(out, cap *= 2)))
			die("realloc");
	}
	if (n < 0)
		die("read response");
	close(fd);
	t1 = now_s();
	out[len] = '\0';
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
	printf("%.3f %s\n", (t1 - t0) * 1e3, out);
	free(out);
	return 0;
}

static int cmd_lat(const char *file, double secs, const char *raw)
{
	enum { BS = 4096 };
	uint8_t buf[BS];
	int fd = open(file, O_WRONLY);
	struct stat st;
	size_t n = 0, cap = 1 << 16;
	uint64_t *lat = malloc(cap * sizeof(*lat)), r = mix64((uint64_t)getpid()), blocks;
	double t0, end, t;

	if (fd < 0 || !lat || fstat(fd, &st))
		die(file);
	blocks = (uint64_t)st.st_size / BS;
	if (!blocks) {
		fprintf(stderr, "gc_tool: %s is empty\n", file);
		return 1;
	}
	t0 = now_s();
	end = t0 + secs;
	while ((t = now_s()) < end) {
		uint64_t b = (r = mix64(r)) % blocks;
		double t2;

		random_fill(buf, BS, r, b);   /* new content every time: never a no-op */
		pwrite_all(fd, buf, BS, (off_t)(b * BS));
		if (fsync(fd))
			die("fsync");
		t2 = now_s();
		if (n == cap && !(lat = realloc(lat, (cap *= 2) * sizeof(*lat))))
			die("realloc");
		lat[n++] = (uint64_t)((t2 - t) * 1e9);
	}
	t = now_s() - t0;
	close(fd);
	if (raw) {
		FILE *f = fopen(raw, "a");

		if (!f)
			die(raw);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%llu\n", (unsigned long long)lat[i]);
		if (fclose(f))
			die(raw);
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
#define PCT(p) (lat[(size_t)((p) * (double)(n - 1) + 0.5)] / 1e3)
	printf("%zu %.1f %.1f %.1f %.1f %.1f %.3f\n", n, PCT(0.50), PCT(0.99), PCT(0.999),
	       lat[n - 1] / 1e3, n / t, t);
	free(lat);
	return 0;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int cmd_churn(const char *file, size_t line, uint64_t seed, double mibs)
{
	uint8_t *buf = malloc(line);
	int fd = open(file, O_WRONLY);
	struct stat st;
	uint64_t lines, i = 0, written = 0, pass = 0;
	double t0 = now_s();

	if (fd < 0 || !buf || fstat(fd, &st))
		die(file);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	lines = (uint64_t)st.st_size / line;
	while (!stop) {
		double due;

		random_fill(buf, line, seed + pass * 0x10000, i);
		pwrite_all(fd, buf, line, (off_t)(i * line));
		written += line;
		if (++i == lines) {
			i = 0;
			pass++;
		}
		if (written % (16 << 20) < line && fsync(fd) && errno != EINTR)
			die("fsync");
		due = t0 + written / 1048576.0 / mibs;
		while (!stop && now_s() < due)
			usleep(1000);
	}
	printf("%.1f MiB in %.1f s, %llu passes\n", written / 1048576.0, now_s() - t0,
	       (unsigned long long)pass);
	close(fd);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	if (!strcmp(c, "fill") && argc == 6)
		return cmd_fill(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0),
				strtoull(argv[5], NULL, 0));
	if (!strcmp(c, "dirty") && argc == 6)
		return cmd_dirty(argv[2], strtoull(argv[3], NULL, 0), atof(argv[4]),
				 strtoull(argv[5], NULL, 0));
	if (!strcmp(c, "files") && argc == 6)
		return cmd_files(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0),
				 strtoull(argv[5], NULL, 0));
	if (!strcmp(c, "dirtyfiles") && argc == 6)
		return cmd_dirtyfiles(argv[2], strtoull(argv[3], NULL, 0), atof(argv[4]),
				      strtoull(argv[5], NULL, 0));
	if (!strcmp(c, "ctl") && argc == 4)
		return cmd_ctl(argv[2], argv[3]);
	if (!strcmp(c, "lat") && (argc == 4 || argc == 5))
		return cmd_lat(argv[2], atof(argv[3]), argc == 5 ? argv[4] : NULL);
	if (!strcmp(c, "churn") && argc == 6)
		return cmd_churn(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0),
				 atof(argv[5]));
	fprintf(stderr, "usage: see the comment at the top of bench/gc_tool.c\n");
	return 2;
}
