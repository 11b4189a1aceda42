/*
 * migrate_tool.c - the helper of bench/migrate.sh: writes heap-like lines,
 * rewrites a fraction of them in several files alike (the heap on a mount
 * and the plain files the baselines use) and sizes their zstd -1 frames,
 * writes one line to see a heap take writes, and runs the writer whose
 * view of a migration's downtime the benchmark reports.
 *
 *   migrate_tool fill FILE BYTES LINE SEED
 *       write BYTES of distinct heap-like lines (pwrite of whole lines),
 *       fsync; prints MiB/s
 *   migrate_tool dirty LINE FRACTION SEED FILE...
 *       rewrite round(FRACTION * lines) distinct lines, chosen by SEED, with
 *       new heap-like content, the same lines and content in every FILE,
 *       fsync each; prints "COUNT FRAME_BYTES FRAME_BYTES_3": the sum of
 *       the new lines' zstd frames as heapfs stores them (level 1, checksum
 *       and content size in each frame, one frame a line), and as it would
 *       with -o zstd=3
 *   migrate_tool poke FILE LINE
 *       read line 0 and write it back unchanged (a write the heap must
 *       accept, leaving its content as it was), retrying EROFS for up to
 *       10 s; prints the ms it took, retries included
 *   migrate_tool writer SRC DST LINE PERCENT_PER_S
 *       pwrite whole random lines of SRC with new content, PERCENT_PER_S of
 *       its lines a second; at the first EROFS switch to DST (reopened until
 *       it opens), retrying until a write there is accepted, then go on
 *       there for 300 ms, then read back from DST every line it wrote
 *       and exit; gives up after 300 s.  Prints "SRC_WRITES DST_WRITES
 *       EROFS_TO_OK_MS LAST_OK_TO_OK_MS MAX_SRC_WRITE_MS RETRIES
 *       OTHER_ERRORS LOST": from the first EROFS on SRC to the first write
 *       accepted on DST, from the end of the last write accepted on SRC to
 *       that, the slowest write SRC accepted, the refused tries on DST,
 *       errors other than EROFS, and the lines whose last accepted write
 *       (on either side) DST does not hold at the end.
 *
 * The content is bench_store.c's line_fill() (kept the same so both
 * benchmarks' lines compress alike, about 3.1:1 with zstd -1): a line is a
 * function of its seed, distinct for every seed; line i of fill SEED has
 * seed SEED << 32 | i.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "bench_util.h"



/* ---- helpers ------------------------------------------------------------ */

static void sleep_s(double s)
{
	struct timespec t;

	if (s <= 0)
		return;
	t.tv_sec = (time_t)s;
	t.tv_nsec = (long)((s - (double)t.tv_sec) * 1e9);
	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

/* One whole-line pwrite: 0, or -errno (a short write is finished). */
static int line_write(int fd, const uint8_t *buf, size_t line, off_t off)
{
	size_t done = 0;

	while (done < line) {
		ssize_t n = pwrite(fd, buf + done, line - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

static uint64_t file_lines(int fd, size_t line, const char *name)
{
	struct stat st;

	if (fstat(fd, &st))
		die(name);
	return (uint64_t)st.st_size / line;
}

/* ---- commands ----------------------------------------------------------- */

static int cmd_fill(const char *file, uint64_t bytes, size_t line, uint64_t seed)
{
	uint8_t *buf = malloc(line);
	int fd = open(file, O_WRONLY | O_CREAT, 0600);
	double t0 = now_s();

	if (fd < 0 || !buf)
		die(file);
	for (uint64_t i = 0; i < bytes / line; i++) {
		line_fill(buf, line, seed << 32 | i);
		pwrite_all(fd, buf, line, (off_t)(i * line));
	}
	if (fsync(fd))
		die("fsync");
	printf("%.0f\n", (double)bytes / 1048576.0 / (now_s() - t0));
	close(fd);
	free(buf);
	return 0;
}

static int cmd_dirty(size_t line, double frac, uint64_t seed, char **files, int nfiles)
{
	uint8_t *buf = malloc(line), *frame;
	size_t cap = ZSTD_compressBound(line);
	ZSTD_CCtx *cctx[2] = { ZSTD_createCCtx(), ZSTD_createCCtx() };   /* levels 1, 3 */
	uint64_t n, k, *a, frames[2] = { 0, 0 };
	int *fds = calloc((size_t)nfiles, sizeof(*fds));

	frame = malloc(cap);
	if (!buf || !frame || !cctx[0] || !cctx[1] || !fds)
		die("malloc");
	for (int l = 0; l < 2; l++) {
		if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx[l], ZSTD_c_compressionLevel, l ? 3 : 1)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(cctx[l], ZSTD_c_checksumFlag, 1)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(cctx[l], ZSTD_c_contentSizeFlag, 1))) {
			fprintf(stderr, "migrate_tool: zstd refused its parameters\n");
			return 1;
		}
	}
	for (int f = 0; f < nfiles; f++)
		if ((fds[f] = open(files[f], O_WRONLY)) < 0)
			die(files[f]);
	n = file_lines(fds[0], line, files[0]);
	k = (uint64_t)(frac * (double)n + 0.5);
	if (k > n)
		k = n;
	a = choose(n, k, seed);
	qsort(a, k, sizeof(*a), cmp_u64);
	for (uint64_t i = 0; i < k; i++) {
		size_t r;

		/* Seeds of dirty rounds live above 2^62: never a fill's line. */
		line_fill(buf, line, (1ULL << 62) | seed << 32 | a[i]);
		for (int l = 0; l < 2; l++) {
			r = ZSTD_compress2(cctx[l], frame, cap, buf, line);
			if (ZSTD_isError(r)) {
				fprintf(stderr, "migrate_tool: zstd: %s\n", ZSTD_getErrorName(r));
				return 1;
			}
			frames[l] += r;
		}
		for (int f = 0; f < nfiles; f++)
			pwrite_all(fds[f], buf, line, (off_t)(a[i] * line));
	}
	for (int f = 0; f < nfiles; f++) {
		if (fsync(fds[f]))
			die(files[f]);
		close(fds[f]);
	}
	printf("%llu %llu %llu\n", (unsigned long long)k, (unsigned long long)frames[0],
	       (unsigned long long)frames[1]);
	ZSTD_freeCCtx(cctx[0]);
	ZSTD_freeCCtx(cctx[1]);
	free(fds);
	free(a);
	free(frame);
	free(buf);
	return 0;
}

static int cmd_poke(const char *file, size_t line)
{
	uint8_t *buf = malloc(line);
	double t0 = now_s();
	int fd, rc;

	if (!buf)
		die("malloc");
	for (;;) {
		if ((fd = open(file, O_RDWR)) < 0)
			die(file);
		if (pread(fd, buf, line, 0) != (ssize_t)line)
			die("pread");
		rc = line_write(fd, buf, line, 0);
		close(fd);
		if (rc == 0)
			break;
		if (rc != -EROFS || now_s() - t0 > 10) {
			errno = -rc;
			die(file);
		}
		sleep_s(0.001);
	}
	printf("%.1f\n", (now_s() - t0) * 1e3);
	free(buf);
	return 0;
}

/* Lines of @fd whose content is not the last write @last_seed says. */
static uint64_t writer_lost(int fd, size_t line, const uint64_t *last_seed, uint64_t lines)
{
	uint8_t *want = malloc(line), *got = malloc(line);
	uint64_t lost = 0;

	if (!want || !got)
		die("malloc");
	for (uint64_t l = 0; l < lines; l++) {
		if (!last_seed[l])
			continue;
		line_fill(want, line, last_seed[l]);
		if (pread(fd, got, line, (off_t)(l * line)) != (ssize_t)line ||
		    memcmp(want, got, line) != 0)
			lost++;
	}
	free(want);
	free(got);
	return lost;
}

static int cmd_writer(const char *src, const char *dst, size_t line, double pct)
{
	uint8_t *buf = malloc(line);
	int fd = open(src, O_WRONLY);
	uint64_t lines, r = mix64((uint64_t)getpid() ^ 0x77), *last_seed;
	uint64_t n_src = 0, n_dst = 0, retries = 0, other = 0, lost;
	double t_start, period, next, t_last_ok = 0, t_erofs = 0, t_ok = 0, max_w = 0;
	bool on_dst = false;

	if (fd < 0 || !buf)
		die(src);
	lines = file_lines(fd, line, src);
	if (!(last_seed = calloc(lines, sizeof(*last_seed))))
		die("calloc");
	period = 1.0 / (pct / 100.0 * (double)lines);   /* seconds between writes */
	t_start = next = now_s();
	for (;;) {
		uint64_t l = (r = mix64(r)) % lines, seed = (2ULL << 62) | r >> 2;
		double t0, t1;
		int rc;

		line_fill(buf, line, seed);
		t0 = now_s();
		rc = line_write(fd, buf, line, (off_t)(l * line));
		t1 = now_s();
		if (rc == 0) {
			last_seed[l] = seed;
			if (!on_dst) {
				n_src++;
				t_last_ok = t1;
				if (t1 - t0 > max_w)
					max_w = t1 - t0;
			} else {
				if (!n_dst++)
					t_ok = t1;
				if (t1 - t_ok >= 0.3)
					break;
			}
			next += period;
			sleep_s(next - now_s());
			continue;
		}
		if (rc == -EROFS && !on_dst) {
			/* The source let go: from now on the destination's heap. */
			t_erofs = t1;
			on_dst = true;
			close(fd);
			fd = -1;
		} else if (rc == -EROFS) {
			retries++;
		} else {
			other++;
			if (!on_dst) {
				errno = -rc;
				die(src);
			}
			close(fd);
			fd = -1;
		}
		if (now_s() - t_start > 300) {
			fprintf(stderr, "migrate_tool: writer: no write accepted on %s in 300 s\n",
				on_dst ? dst : src);
			return 1;
		}
		while (fd < 0) {
			if ((fd = open(dst, O_RDWR)) >= 0)
				break;
			other++;
			sleep_s(0.0002);
		}
		if (rc == -EROFS && on_dst)
			sleep_s(0.0002);
		next = now_s();
	}
	lost = writer_lost(fd, line, last_seed, lines);
	close(fd);
	printf("%llu %llu %.2f %.2f %.2f %llu %llu %llu\n", (unsigned long long)n_src,
	       (unsigned long long)n_dst, (t_ok - t_erofs) * 1e3, (t_ok - t_last_ok) * 1e3,
	       max_w * 1e3, (unsigned long long)retries, (unsigned long long)other,
	       (unsigned long long)lost);
	free(last_seed);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	if (!strcmp(c, "fill") && argc == 6)
		return cmd_fill(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0),
				strtoull(argv[5], NULL, 0));
	if (!strcmp(c, "dirty") && argc >= 6)
		return cmd_dirty(strtoull(argv[2], NULL, 0), atof(argv[3]),
				 strtoull(argv[4], NULL, 0), argv + 5, argc - 5);
	if (!strcmp(c, "poke") && argc == 4)
		return cmd_poke(argv[2], strtoull(argv[3], NULL, 0));
	if (!strcmp(c, "writer") && argc == 6)
		return cmd_writer(argv[2], argv[3], strtoull(argv[4], NULL, 0), atof(argv[5]));
	fprintf(stderr, "usage: see the comment at the top of bench/migrate_tool.c\n");
	return 2;
}
