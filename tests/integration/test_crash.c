/*
 * test_crash.c - the crash harness (issue 5): a workload process writes to
 * heaps through write, pwrite, a MAP_SHARED mapping and the state file,
 * makes its writes durable (fsync, fdatasync, msync(MS_SYNC), checkpoints
 * by mkdir and by `heapctl checkpoint`) and deletes old checkpoints, while
 * the harness SIGKILLs the daemon at a random moment.  Then the harness
 * cleans the stale mount, runs `heapctl fsck --store --verify-data` on the
 * unmounted store, remounts it and checks that everything the workload was
 * promised is there.  Rounds follow one another on the same store, so
 * each round also checks every checkpoint earlier rounds left.
 *
 * Content.  Each heap and each state file is cut into 1 KiB slots.  A slot
 * holds zeros (generation 0) or slot_fill(tag, gen): the generation, the
 * slot's tag (heap, file, index), then bytes derived from both.  Every
 * write gives each slot it covers a new generation from one counter for
 * the whole run, so any slot read back names the write that produced it.
 * Slots never straddle a page or a line (4K and 64K lines), so a write is
 * whole or absent in each slot; only mapped stores caught half-way by a
 * page writeback may leave a slot mixed (allowed before their msync).
 *
 * The workload is deterministic: its operations follow from the round's
 * seed and the model it starts from (the heaps as the previous round's
 * check found them), never from timing, and an operation that fails ends
 * it.  So the check replays the round: it runs the same picks on the same
 * model, without the system calls.  The workload's log (a file outside
 * the mount) holds one record per durable point, written with write(2)
 * and fdatasync only after the point returned: the op number, what it
 * was, the checkpoint number it made or deleted, and a hash of the
 * model, which the replay must match.  A record cut short (no newline or
 * a bad checksum) may only be the last one, and is ignored.
 *
 * What the log proves (DESIGN.md, consistency and durability):
 *   fsync/fdatasync of heap: every write, pwrite and truncate before it;
 *   fsync of state:          every state write before it;
 *   msync(MS_SYNC):          every mapped store before it;
 *   checkpoint N (mkdir or heapctl, always right after an msync): N exists
 *                            and holds exactly the heap and state written
 *                            before it (sizes included), and all of it is
 *                            durable in the live heap too;
 *   rmdir checkpoints/N:     N is gone.
 * Every durable op is logged before the next op starts, so the ops that
 * may have happened after the last record end at the next durable op,
 * the one possibly in flight.  Per slot (and per size) the replay keeps
 * the value the last durable point fixed and every value written since:
 * the live value must be one of them.  Checkpoints: every logged one reads
 * back exactly; a deleted one is gone; the one in flight (made or deleted)
 * may be there or not, and if there must be exact; nothing else exists.
 * What the check reads becomes the next round's starting model.  The run
 * ends with a clean unmount and remount: then everything must read exactly
 * as the last check found it.
 *
 * When it kills: half the rounds at a random time, half right after the
 * workload announces (through a pipe) a durable op of a chosen kind, plus
 * a random few milliseconds, to land inside checkpoints, deletes and syncs.
 *
 *   ctest -R test_crash                   CRASH_ROUNDS rounds (default 30)
 *   CRASH_ROUNDS=1000 CRASH_SEED=42 build/tests/integration/test_crash
 * The seed is printed; the same seed replays the same operations and kill
 * plans (the kill's exact instant still depends on timing).  A run of more
 * than the default rounds is in-process (CK_FORK=no) unless CK_FORK is set.
 * CRASH_VERBOSE=1 prints every operation the check replays.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "mount_util.h"

#include "crash_world.h"

/* ---- the workload --------------------------------------------------- */

struct wl {
	struct world *w;
	int fd[NHEAP], sfd[NHEAP];
	uint8_t *map[NHEAP];
	int log_fd, sig_fd;
	uint8_t buf[RUN_MAX * SLOT];
	char out[600];            /* heapctl's stdout */
};

static const char *wl_mnt;
static char wl_probe_path[600];   /* MNT/.heapfs/version */

/*
 * Is the daemon gone?  Asks it for .heapfs/version, which is direct I/O,
 * so the answer comes from the daemon, never from a cache (a stat of the
 * mount point may be answered from cached attributes while the killed
 * daemon is still exiting).  Until the connection is aborted a request
 * waits, so a dying daemon shows as ENOTCONN or ECONNABORTED; an answer
 * means it lives.  Async-signal-safe (the SIGBUS handler uses it).
 */
static bool wl_daemon_dead(void)
{
	for (int tries = 0; tries < 200; tries++) {
		char buf[256];
		int fd = open(wl_probe_path, O_RDONLY | O_CLOEXEC), err;
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (fd >= 0) {
			ssize_t r = read(fd, buf, sizeof(buf));

			err = r < 0 ? errno : 0;
			close(fd);
			if (r >= 0)
				return false;
		} else {
			err = errno;
		}
		if (err == ENOTCONN || err == ECONNABORTED)
			return true;
		nanosleep(&ts, NULL);   /* something else: ask again */
	}
	return false;
}

/* The workload's end: was it the crash (the mount dead) or a bug? */
static void wl_exit(const struct op *o, uint32_t opno, const char *what, int err)
	__attribute__((noreturn));

static void wl_exit(const struct op *o, uint32_t opno, const char *what, int err)
{
	bool dead = wl_daemon_dead();

	fprintf(stderr, "workload: op %u %s %s: %s: %s%s\n", opno,
		opno ? op_names[o->kind] : "(setup)", cfgs[o->heap].name, what,
		err ? strerror(err) : "failed", dead ? " (mount dead)" : " (mount alive)");
	fflush(stderr);
	_exit(dead ? WL_DEAD : WL_BROKEN);
}

static void wl_sigbus(int sig)
{
	static const char dead[] = "workload: SIGBUS in a mapped store (mount dead)\n";
	static const char alive[] = "workload: SIGBUS in a mapped store (mount alive)\n";
	bool gone = wl_daemon_dead();

	(void)sig;
	if (write(2, gone ? dead : alive, gone ? sizeof(dead) - 1 : sizeof(alive) - 1) < 0)
		_exit(WL_BROKEN);
	_exit(gone ? WL_DEAD : WL_BROKEN);
}

static uint32_t sum32(const char *p, size_t n)
{
	uint32_t x = 2166136261u;

	for (size_t i = 0; i < n; i++)
		x = (x ^ (uint8_t)p[i]) * 16777619u;
	return x;
}

/* One record, written and fdatasync'd after the durable point returned. */
static void wl_log(struct wl *x, const struct op *o, uint32_t opno, uint64_t n)
{
	char rec[200];
	int len = snprintf(rec, sizeof(rec), "%u %s %d %" PRIu64 " %016" PRIx64 " %s", opno,
			   op_names[o->kind], o->heap, n, heap_hash(x->w, o->heap),
			   o->label[0] ? o->label : "-");

	len += snprintf(rec + len, sizeof(rec) - (size_t)len, " #%08x\n",
			sum32(rec, (size_t)len));
	if (write(x->log_fd, rec, (size_t)len) != len || fdatasync(x->log_fd) != 0) {
		fprintf(stderr, "workload: writing the log: %s\n", strerror(errno));
		_exit(WL_BROKEN);
	}
}

/* Fill @x->buf with the slots @o writes, generations from the model's next. */
static void wl_content(struct wl *x, const struct op *o, int sp)
{
	for (uint32_t i = 0; i < o->n; i++)
		slot_fill(x->buf + (size_t)i * SLOT, slot_tag(o->heap, sp, o->slot + i),
			  x->w->gen + 1 + i);
}

/* Checkpoint through heapctl: its number in *@n_out; 0 or -errno. */
static int wl_ctl_checkpoint(struct wl *x, const struct op *o, uint64_t *n_out)
{
	char *argv[] = { HEAPCTL_BIN, "-m", (char *)(uintptr_t)wl_mnt, "checkpoint",
			 (char *)(uintptr_t)cfgs[o->heap].name, "--label",
			 (char *)(uintptr_t)o->label, NULL };
	int st = mu_run_timeout(x->out, NULL, argv, 30);
	char *text;

	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -EIO;
	text = mu_slurp(x->out, NULL);
	if (!text)
		return -errno;
	*n_out = strtoull(text, NULL, 10);
	free(text);
	return *n_out ? 0 : -EPROTO;
}

/* Do @o for real; 0 or -errno, with @what the failing call. */
static int wl_do(struct wl *x, const struct op *o, uint64_t *n_out, const char **what)
{
	const struct heap_cfg *cf = &cfgs[o->heap];
	int fd = x->fd[o->heap], sfd = x->sfd[o->heap];
	size_t len = (size_t)o->n * SLOT;
	off_t off = (off_t)o->slot * SLOT;
	char path[700], target[64];
	ssize_t r;

	*what = op_names[o->kind];
	switch (o->kind) {
	case OP_PWRITE:
		wl_content(x, o, SP_HEAP);
		r = pwrite(fd, x->buf, len, off);
		return r == (ssize_t)len ? 0 : r < 0 ? -errno : -EIO;
	case OP_WRITE:
		wl_content(x, o, SP_HEAP);
		*what = "lseek";
		if (lseek(fd, off, SEEK_SET) != off)
			return -errno;
		*what = "write";
		r = write(fd, x->buf, len);
		return r == (ssize_t)len ? 0 : r < 0 ? -errno : -EIO;
	case OP_STATEW:
		wl_content(x, o, SP_STATE);
		r = pwrite(sfd, x->buf, len, off);
		return r == (ssize_t)len ? 0 : r < 0 ? -errno : -EIO;
	case OP_MAPW:
		for (uint32_t i = 0; i < o->n; i++)
			slot_fill(x->map[o->heap] + off + (size_t)i * SLOT,
				  slot_tag(o->heap, SP_HEAP, o->slot + i), x->w->gen + 1 + i);
		return 0;
	case OP_TRUNC:
		return ftruncate(fd, (off_t)o->size) == 0 ? 0 : -errno;
	case OP_FSYNC:
		return fsync(fd) == 0 ? 0 : -errno;
	case OP_FDATASYNC:
		return fdatasync(fd) == 0 ? 0 : -errno;
	case OP_SFSYNC:
		return fsync(sfd) == 0 ? 0 : -errno;
	case OP_MSYNC:
		return msync(x->map[o->heap], cf->max, MS_SYNC) == 0 ? 0 : -errno;
	case OP_CKPT:
		if (o->ctl) {
			*what = "heapctl checkpoint";
			return wl_ctl_checkpoint(x, o, n_out);
		}
		snprintf(path, sizeof(path), "%s/%s/checkpoints/%s", wl_mnt, cf->name, o->label);
		*what = "mkdir";
		if (mkdir(path, 0755) != 0)
			return -errno;
		*what = "readlink";
		r = readlink(path, target, sizeof(target) - 1);
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		target[r] = '\0';
		*n_out = strtoull(target, NULL, 10);
		return *n_out ? 0 : -EPROTO;
	case OP_GC: {
		char *argv[] = { HEAPCTL_BIN, "-m", (char *)(uintptr_t)wl_mnt, "gc", NULL };
		int st = mu_run_timeout(x->out, NULL, argv, 30);

		*what = "heapctl gc";
		return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
	}
	case OP_RMCKPT:
		*n_out = x->w->h[o->heap].ck[o->ck].n;
		snprintf(path, sizeof(path), "%s/%s/checkpoints/%" PRIu64, wl_mnt, cf->name,
			 *n_out);
		*what = "rmdir";
		return rmdir(path) == 0 ? 0 : -errno;
	default:
		return -EINVAL;
	}
}

/* The workload process: runs until an op fails (the kill), then exits. */
static void wl_main(struct world *w, uint64_t seed, int log_fd, int sig_fd, const char *out)
	__attribute__((noreturn));

static void wl_main(struct world *w, uint64_t seed, int log_fd, int sig_fd, const char *out)
{
	struct wl *x = calloc(1, sizeof(*x));
	double end = mu_now() + WORKLOAD_LIMIT_S;
	struct mu_rng r;
	struct op o = { 0 };
	char path[700];

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	signal(SIGBUS, wl_sigbus);
	if (!x)
		_exit(WL_BROKEN);
	x->w = w;
	x->log_fd = log_fd;
	x->sig_fd = sig_fd;
	snprintf(x->out, sizeof(x->out), "%s", out);
	for (int hi = 0; hi < NHEAP; hi++) {
		o.heap = hi;
		snprintf(path, sizeof(path), "%s/%s/heap", wl_mnt, cfgs[hi].name);
		if ((x->fd[hi] = open(path, O_RDWR | O_CLOEXEC)) < 0)
			wl_exit(&o, 0, "open heap", errno);
		snprintf(path, sizeof(path), "%s/%s/state", wl_mnt, cfgs[hi].name);
		if ((x->sfd[hi] = open(path, O_RDWR | O_CLOEXEC)) < 0)
			wl_exit(&o, 0, "open state", errno);
		x->map[hi] = mmap(NULL, cfgs[hi].max, PROT_READ | PROT_WRITE, MAP_SHARED,
				  x->fd[hi], 0);
		if (x->map[hi] == MAP_FAILED)
			wl_exit(&o, 0, "mmap", errno);
	}
	mu_rng_seed(&r, seed);
	for (;;) {
		uint64_t n = 0;
		const char *what;
		int rc;

		op_pick(w, &r, &o);
		if (op_letter[o.kind] && write(x->sig_fd, &op_letter[o.kind], 1) < 0 &&
		    errno != EAGAIN)
			_exit(WL_BROKEN);
		if ((rc = wl_do(x, &o, &n, &what)) < 0)
			wl_exit(&o, w->op + 1, what, -rc);
		op_apply(w, &o, true, n);
		if (op_durable(o.kind))
			wl_log(x, &o, w->op, n);
		if (mu_now() > end) {
			fprintf(stderr, "workload: %u ops in %d s and never stopped\n", w->op,
				WORKLOAD_LIMIT_S);
			_exit(WL_BROKEN);
		}
	}
}

/* ---- the harness ---------------------------------------------------- */

struct stats {
	uint32_t rounds;
	uint64_t ops_logged;      /* durable points the logs recorded */
	uint64_t ops_replayed;
	uint64_t ckpts_made, ckpts_deleted;
	uint64_t ckpt_reads;      /* checkpoints read back and compared */
	uint64_t inflight_ckpt_present, inflight_ckpt_absent;
	uint64_t inflight_rm_present, inflight_rm_absent;
	uint64_t slots_checked, slots_newer;  /* newer: live past the durable floor */
	uint64_t slots_behind;    /* older than a write that had returned (allowed) */
	uint64_t torn_slots;
	uint64_t torn_records;
	uint64_t killed_in[OP_N + 1];         /* the op the workload failed in (OP_N: other) */
	uint64_t targeted, targeted_hit;
	double t_run, t_fsck, t_mount, t_check;
};

struct run {
	uint64_t seed;
	uint32_t rounds;
	bool verbose;
	struct world w;
	struct stats st;
	uint8_t *buf;             /* a whole heap or state file */
	size_t buf_len;
	uint32_t fail_op;         /* the op the workload failed in: those before returned */
	uint32_t torn[NHEAP][SP_N][64]; /* slots found torn, to rewrite */
	uint32_t ntorn[NHEAP][SP_N];
};

static struct run R;

/* A failed check: what, and how to get back here. */
static void flunk(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void flunk(const char *fmt, ...)
{
	char what[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "\ncrash: FAILED in round %u of %u, seed %" PRIu64 ":\ncrash: %s\n"
		"crash: again: CRASH_SEED=%" PRIu64 " CRASH_ROUNDS=%u (the same ops and kill "
		"plans; the kill's instant may differ)\n", R.w.round, R.rounds, R.seed, what,
		R.seed, R.w.round);
	fflush(stderr);
	ck_abort_msg("crash: seed %" PRIu64 " round %u: %s", R.seed, R.w.round, what);
	abort();
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtoull(s, &end, 10);
	ck_assert_msg(!errno && end != s && !*end, "%s=%s: not a number", name, s);
	return (uint64_t)v;
}

static uint64_t time_seed(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000003ULL + (uint64_t)ts.tv_nsec / 1000 +
		(uint64_t)getpid()) % 1000000000ULL;
}

/* The whole of @path (a heap or state file) into R.buf: its size; checks st_size. */
static uint64_t file_read(const char *path, uint64_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	uint64_t done = 0;
	ssize_t r;

	if (fd < 0)
		flunk("open %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0)
		flunk("fstat %s: %s", path, strerror(errno));
	if ((uint64_t)sb.st_size > max)
		flunk("%s: size %lld, larger than the workload ever made it (%" PRIu64 ")", path,
		      (long long)sb.st_size, max);
	while (done < (uint64_t)sb.st_size) {
		r = pread(fd, R.buf + done, (size_t)((uint64_t)sb.st_size - done), (off_t)done);
		if (r <= 0)
			flunk("pread %s at %" PRIu64 " of %lld: %s", path, done,
			      (long long)sb.st_size, r < 0 ? strerror(errno) : "early EOF");
		done += (uint64_t)r;
	}
	r = pread(fd, R.buf + done, 1, (off_t)done);
	if (r != 0)
		flunk("%s: pread at its size %" PRIu64 " returned %zd, want 0 (EOF)", path, done,
		      r);
	close(fd);
	return done;
}

/* ---- the log -------------------------------------------------------- */

struct rec {
	uint32_t op;
	enum op_kind kind;
	int heap;
	uint64_t n;
	uint64_t hash;
	char label[32];
};

/* Parse the log into *@out (malloc'd); the count.  A torn last record is dropped. */
static size_t log_parse(const char *path, struct rec **out)
{
	size_t len = 0, n = 0, cap = 0;
	char *text = mu_slurp(path, &len), *p, *nl;
	struct rec *recs = NULL;

	if (!text)
		flunk("reading the log %s: %s", path, strerror(errno));
	for (p = text; p < text + len; p = nl + 1) {
		char kind[32], label[32];
		unsigned sum;
		struct rec rc;
		char *hashmark;
		int k;

		nl = memchr(p, '\n', (size_t)(text + len - p));
		if (!nl) {
			R.st.torn_records++;   /* cut short by the end: the last one */
			break;
		}
		*nl = '\0';
		hashmark = strstr(p, " #");
		if (!hashmark || sscanf(hashmark, " #%x", &sum) != 1 ||
		    sum32(p, (size_t)(hashmark - p)) != sum) {
			if (nl + 1 < text + len)
				flunk("log record %zu is damaged and not the last: \"%s\"", n + 1,
				      p);
			R.st.torn_records++;
			break;
		}
		*hashmark = '\0';
		memset(&rc, 0, sizeof(rc));
		if (sscanf(p, "%u %31s %d %" SCNu64 " %" SCNx64 " %31s", &rc.op, kind, &rc.heap,
			   &rc.n, &rc.hash, label) != 6)
			flunk("log record %zu does not parse: \"%s\"", n + 1, p);
		for (k = 0; k < OP_N && strcmp(op_names[k], kind); k++)
			;
		if (k == OP_N || rc.heap < 0 || rc.heap >= NHEAP)
			flunk("log record %zu names an unknown op or heap: \"%s\"", n + 1, p);
		rc.kind = (enum op_kind)k;
		snprintf(rc.label, sizeof(rc.label), "%s", strcmp(label, "-") ? label : "");
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			recs = realloc(recs, cap * sizeof(*recs));
			ck_assert_ptr_nonnull(recs);
		}
		recs[n++] = rc;
	}
	free(text);
	*out = recs;
	return n;
}

/* ---- checking ------------------------------------------------------- */

static const char *sp_name(int sp)
{
	return sp == SP_HEAP ? "heap" : "state";
}

/* "gen 12 (op 40 pwrite)" for value @i of @c, for messages. */
static void cell_describe(char *out, size_t cap, const struct cell *c, bool size)
{
	size_t used = 0;

	out[0] = '\0';
	for (uint32_t i = 0; i < c->n && used + 80 < cap; i++) {
		const struct asg *a = &c->h[i];

		used += (size_t)snprintf(out + used, cap - used, "%s%s %" PRIu64 " (%s)",
					 i ? ", " : "", size ? "size" : "gen", a->val,
					 a->how == HOW_BASE ? "round start" :
					 a->how == HOW_MAP ? "mapped store" : "write");
		if (a->op)
			used += (size_t)snprintf(out + used, cap - used - 1, "@op%u", a->op);
	}
	if (c->n > 1)
		snprintf(out + used, cap - used, "; the first is the durable one");
}

/* Compare checkpoint @c of heap @hi with what it must hold. */
static void ckpt_verify(int hi, const struct ckpt *c)
{
	uint8_t want[SLOT];

	for (int sp = 0; sp < SP_N; sp++) {
		const struct space *s = &R.w.h[hi].sp[sp];
		const char *path = mu_at("%s/checkpoints/%" PRIu64 "/%s", cfgs[hi].name, c->n,
					 sp_name(sp));
		uint64_t size = file_read(path, s->nslots * (uint64_t)SLOT);

		if (size != c->size[sp])
			flunk("checkpoint %" PRIu64 " (%s, made by op %u of round %u) of %s: %s "
			      "size %" PRIu64 ", want %" PRIu64, c->n, c->label, c->op, c->round,
			      cfgs[hi].name, sp_name(sp), size, c->size[sp]);
		for (uint32_t i = 0; i < size / SLOT; i++) {
			const uint8_t *got = R.buf + (size_t)i * SLOT;
			uint64_t gen;

			slot_fill(want, slot_tag(hi, sp, i), c->gen[sp][i]);
			if (memcmp(want, got, SLOT) == 0)
				continue;
			if (slot_ident(got, slot_tag(hi, sp, i), &gen))
				flunk("checkpoint %" PRIu64 " (%s, made by op %u of round %u) "
				      "of %s: %s slot %u (offset 0x%x) holds gen %" PRIu64
				      ", want gen %" PRIu64, c->n, c->label, c->op, c->round,
				      cfgs[hi].name, sp_name(sp), i, i * SLOT, gen,
				      c->gen[sp][i]);
			flunk("checkpoint %" PRIu64 " (%s, made by op %u of round %u) of %s: %s "
			      "slot %u (offset 0x%x) holds no generation's content (first bytes "
			      "%02x %02x %02x %02x), want gen %" PRIu64, c->n, c->label, c->op,
			      c->round, cfgs[hi].name, sp_name(sp), i, i * SLOT, got[0], got[1],
			      got[2], got[3], c->gen[sp][i]);
		}
	}
	R.st.ckpt_reads++;
}

struct listing {
	uint64_t num[CKPTS_MAX];
	int nnum;
	struct {
		char name[64];
		uint64_t n;
	} link[CKPTS_MAX + 1];
	int nlink;
};

static bool listing_has(const struct listing *l, uint64_t n)
{
	for (int i = 0; i < l->nnum; i++) {
		if (l->num[i] == n)
			return true;
	}
	return false;
}

/* Where link @name points (0: no such link). */
static uint64_t listing_link(const struct listing *l, const char *name)
{
	for (int i = 0; i < l->nlink; i++) {
		if (strcmp(l->link[i].name, name) == 0)
			return l->link[i].n;
	}
	return 0;
}

static void listing_read(int hi, struct listing *l)
{
	const char *dir = mu_at("%s/checkpoints", cfgs[hi].name);
	char *names = mu_list(dir), *p, *nl;

	memset(l, 0, sizeof(*l));
	if (!names)
		flunk("listing %s: %s", dir, strerror(errno));
	for (p = names; *p; p = nl + 1) {
		char *end, target[64];
		uint64_t n;
		ssize_t r;

		nl = strchr(p, '\n');
		*nl = '\0';
		n = strtoull(p, &end, 10);
		if (!*end && end != p) {
			if (l->nnum == CKPTS_MAX)
				flunk("%s: more than %d checkpoints", dir, CKPTS_MAX);
			l->num[l->nnum++] = n;
			continue;
		}
		r = readlink(mu_at("%s/checkpoints/%s", cfgs[hi].name, p), target,
			     sizeof(target) - 1);
		if (r <= 0)
			flunk("%s/%s: neither a number nor a link (%s)", dir, p,
			      r < 0 ? strerror(errno) : "empty");
		target[r] = '\0';
		n = strtoull(target, &end, 10);
		if (*end || !n)
			flunk("%s/%s -> \"%s\": not a checkpoint number", dir, p, target);
		if (l->nlink == CKPTS_MAX + 1)
			flunk("%s: too many links", dir);
		snprintf(l->link[l->nlink].name, sizeof(l->link[0].name), "%s", p);
		l->link[l->nlink++].n = n;
	}
	free(names);
}

/* Every checkpoint of heap @hi against the model; settles those in flight. */
static void ckpts_check(int hi)
{
	struct heapm *h = &R.w.h[hi];
	struct listing l;
	uint64_t newest = 0, latest;
	uint32_t i = 0;

	listing_read(hi, &l);
	while (i < h->nck) {
		struct ckpt *c = &h->ck[i];
		uint64_t at = listing_link(&l, c->label);

		if (c->in_flight) {
			/* Made by the op in flight: there (and exact) or not at all. */
			if (at && listing_has(&l, at)) {
				for (uint32_t j = 0; j < h->nck; j++) {
					if (j != i && h->ck[j].n == at)
						flunk("%s: the checkpoint in flight (%s) is %"
						      PRIu64 ", the number of %s",
						      cfgs[hi].name, c->label, at,
						      h->ck[j].label);
				}
				c->n = at;
				c->in_flight = false;
				R.st.inflight_ckpt_present++;
			} else if (at) {
				flunk("%s: label %s -> %" PRIu64 ", which does not exist",
				      cfgs[hi].name, c->label, at);
			} else {
				R.st.inflight_ckpt_absent++;
				ckpt_free(c);
				memmove(c, c + 1, (h->nck - i - 1) * sizeof(*c));
				h->nck--;
				continue;
			}
		} else if (c->rm_in_flight) {
			/* Deleted by the op in flight: gone, or there whole. */
			if (!listing_has(&l, c->n)) {
				if (at)
					flunk("%s: checkpoint %" PRIu64 " is gone but its label %s "
					      "still points to %" PRIu64, cfgs[hi].name, c->n,
					      c->label, at);
				R.st.inflight_rm_absent++;
				ckpt_free(c);
				memmove(c, c + 1, (h->nck - i - 1) * sizeof(*c));
				h->nck--;
				continue;
			}
			c->rm_in_flight = false;
			R.st.inflight_rm_present++;
		}
		if (!listing_has(&l, c->n))
			flunk("%s: checkpoint %" PRIu64 " (%s, made by op %u of round %u, logged) "
			      "is missing", cfgs[hi].name, c->n, c->label, c->op, c->round);
		if (at != c->n)
			flunk("%s: label %s -> %" PRIu64 ", want %" PRIu64, cfgs[hi].name,
			      c->label, at, c->n);
		ckpt_verify(hi, c);
		if (c->n > newest)
			newest = c->n;
		i++;
	}
	/* Nothing else: no checkpoint the log does not account for. */
	for (int k = 0; k < l.nnum; k++) {
		bool known = false;

		for (uint32_t j = 0; j < h->nck && !known; j++)
			known = h->ck[j].n == l.num[k];
		if (!known)
			flunk("%s: checkpoint %" PRIu64 " exists, but the log never made it and it "
			      "was not in flight (or a logged rmdir did not delete it)",
			      cfgs[hi].name, l.num[k]);
	}
	latest = listing_link(&l, "latest");
	if (latest != newest)
		flunk("%s: checkpoints/latest -> %" PRIu64 ", want the newest, %" PRIu64,
		      cfgs[hi].name, latest, newest);
	if ((uint32_t)l.nlink != h->nck + (newest != 0))
		flunk("%s: %d links in checkpoints/, want %u labels + latest", cfgs[hi].name,
		      l.nlink, h->nck);
}

/* Is slot @p a byte-wise mix of the values @c allows?  (A page written back mid-store.) */
static bool slot_mixed(const uint8_t *p, const struct cell *c, uint32_t tag)
{
	uint8_t cand[8][SLOT];
	uint32_t nc = c->n < 8 ? c->n : 8;
	bool mapped = false;

	for (uint32_t i = 0; i < c->n; i++)
		mapped |= c->h[i].how == HOW_MAP;
	if (!mapped)
		return false;
	for (uint32_t i = 0; i < nc; i++)
		slot_fill(cand[i], tag, c->h[c->n - nc + i].val);
	for (uint32_t b = 0; b < SLOT; b++) {
		uint32_t i = 0;

		while (i < nc && cand[i][b] != p[b])
			i++;
		if (i == nc)
			return false;
	}
	return true;
}

/* The live heap and state of heap @hi against the model; then they become the base. */
static void live_check(int hi)
{
	struct heapm *h = &R.w.h[hi];

	for (int sp = 0; sp < SP_N; sp++) {
		struct space *s = &h->sp[sp];
		const char *path = mu_at("%s/%s", cfgs[hi].name, sp_name(sp));
		uint64_t size = file_read(path, s->nslots * (uint64_t)SLOT);
		char why[1024];

		if (!cell_allows(&s->size, size)) {
			cell_describe(why, sizeof(why), &s->size, true);
			flunk("%s: live %s size %" PRIu64 ", want one of: %s", cfgs[hi].name,
			      sp_name(sp), size, why);
		}
		if (size % SLOT)
			flunk("%s: live %s size %" PRIu64 " is no size the workload set",
			      cfgs[hi].name, sp_name(sp), size);
		for (uint32_t i = 0; i < s->nslots; i++) {
			struct cell *c = &s->slot[i];
			uint32_t tag = slot_tag(hi, sp, i);
			const uint8_t *got = R.buf + (size_t)i * SLOT;
			uint64_t gen = 0;

			R.st.slots_checked++;
			if (i >= size / SLOT) {
				/* Past the size: gone, which must be a value it may have. */
				if (!cell_allows(c, 0)) {
					cell_describe(why, sizeof(why), c, false);
					flunk("%s: live %s slot %u (offset 0x%x) is past the size %"
					      PRIu64 ", but it must hold one of: %s", cfgs[hi].name,
					      sp_name(sp), i, i * SLOT, size, why);
				}
				cell_rebase(c, 0);
				continue;
			}
			if (slot_ident(got, tag, &gen) && cell_allows(c, gen)) {
				if (gen != c->h[0].val)
					R.st.slots_newer++;
				R.st.slots_behind += cell_behind(c, gen, R.fail_op);
				cell_rebase(c, gen);
				continue;
			}
			if (slot_mixed(got, c, tag)) {
				/* Torn by a writeback before its msync: rewritten below. */
				R.st.torn_slots++;
				if (R.ntorn[hi][sp] < 64)
					R.torn[hi][sp][R.ntorn[hi][sp]++] = i;
				continue;
			}
			cell_describe(why, sizeof(why), c, false);
			if (slot_ident(got, tag, &gen))
				flunk("%s: live %s slot %u (offset 0x%x, line %u) holds gen %"
				      PRIu64 ", want one of: %s", cfgs[hi].name, sp_name(sp), i,
				      i * SLOT, i * SLOT / cfgs[hi].line, gen, why);
			flunk("%s: live %s slot %u (offset 0x%x, line %u) holds no generation's "
			      "content (first bytes %02x %02x %02x %02x), want one of: %s",
			      cfgs[hi].name, sp_name(sp), i, i * SLOT, i * SLOT / cfgs[hi].line,
			      got[0], got[1], got[2], got[3], why);
		}
		cell_rebase(&s->size, size);
	}
}

/* Rewrite the slots found torn with a fresh generation, so the base is exact. */
static void torn_rewrite(void)
{
	uint8_t slot[SLOT];

	for (int hi = 0; hi < NHEAP; hi++) {
		for (int sp = 0; sp < SP_N; sp++) {
			int fd;

			if (!R.ntorn[hi][sp])
				continue;
			fd = mu_open(mu_at("%s/%s", cfgs[hi].name, sp_name(sp)), O_RDWR);
			for (uint32_t k = 0; k < R.ntorn[hi][sp]; k++) {
				uint32_t i = R.torn[hi][sp][k];

				slot_fill(slot, slot_tag(hi, sp, i), ++R.w.gen);
				ck_assert_int_eq(pwrite(fd, slot, SLOT, (off_t)i * SLOT), SLOT);
				cell_rebase(&R.w.h[hi].sp[sp].slot[i], R.w.gen);
			}
			ck_assert_int_eq(fsync(fd), 0);
			close(fd);
			R.ntorn[hi][sp] = 0;
		}
	}
}

/*
 * After round @R.w.round's crash: replay its workload from the base with
 * the log's durable points, then check checkpoints and live content.
 */
static void round_check(uint64_t seed, const char *log_path)
{
	struct rec *recs = NULL;
	size_t nrec = log_parse(log_path, &recs), ri = 0;
	uint32_t last = nrec ? recs[nrec - 1].op : 0;
	struct mu_rng r;
	struct op o;

	R.st.ops_logged += nrec;
	mu_rng_seed(&r, seed);
	for (;;) {
		uint32_t opno = R.w.op + 1;
		bool durable;

		op_pick(&R.w, &r, &o);
		durable = op_durable(o.kind);

		if (R.verbose)
			printf("crash:   op %u %s %s slot %u +%u size %" PRIu64 " %s%s\n", opno,
			       op_names[o.kind], cfgs[o.heap].name, o.slot, o.n, o.size, o.label,
			       opno > last && durable ? " (in flight)" : "");
		if (opno > last) {
			/* Past the last record: may have run, up to the next durable op. */
			op_apply(&R.w, &o, false, 0);
			if (durable)
				break;
			continue;
		}
		if (!durable) {
			if (ri < nrec && recs[ri].op == opno)
				flunk("log record %zu is for op %u, but the replay's op %u is a %s",
				      ri + 1, opno, opno, op_names[o.kind]);
			op_apply(&R.w, &o, true, 0);
			continue;
		}
		if (ri >= nrec || recs[ri].op != opno)
			flunk("the log has no record for op %u (%s %s), a durable op before the "
			      "last record (op %u)", opno, op_names[o.kind], cfgs[o.heap].name,
			      last);
		if (recs[ri].kind != o.kind || recs[ri].heap != o.heap ||
		    strcmp(recs[ri].label, o.label) != 0)
			flunk("log record %zu (op %u %s %s %s) differs from the replay (%s %s %s)",
			      ri + 1, opno, op_names[recs[ri].kind], cfgs[recs[ri].heap].name,
			      recs[ri].label, op_names[o.kind], cfgs[o.heap].name, o.label);
		if (o.kind == OP_RMCKPT && R.w.h[o.heap].ck[o.ck].n != recs[ri].n)
			flunk("log record %zu deleted checkpoint %" PRIu64 ", the replay %" PRIu64,
			      ri + 1, recs[ri].n, R.w.h[o.heap].ck[o.ck].n);
		op_apply(&R.w, &o, true, recs[ri].n);
		if (heap_hash(&R.w, o.heap) != recs[ri].hash)
			flunk("log record %zu (op %u): the workload's model hash %016" PRIx64
			      " differs from the replay's %016" PRIx64, ri + 1, opno, recs[ri].hash,
			      heap_hash(&R.w, o.heap));
		R.st.ckpts_made += o.kind == OP_CKPT;
		R.st.ckpts_deleted += o.kind == OP_RMCKPT;
		ri++;
	}
	R.st.ops_replayed += R.w.op;
	free(recs);
	for (int hi = 0; hi < NHEAP; hi++) {
		ckpts_check(hi);
		live_check(hi);
	}
	torn_rewrite();
}

/*
 * Without a crash to replay: the first mount (everything empty), and the
 * last, after a clean unmount (everything exactly as the last check found it).
 */
static void exact_check(void)
{
	for (int hi = 0; hi < NHEAP; hi++) {
		ckpts_check(hi);
		live_check(hi);
	}
}

/* ---- a round -------------------------------------------------------- */

enum { KILL_TIMED, KILL_TARGET };

/*
 * Run the workload on the mounted store and SIGKILL the daemon under it
 * as the round's plan says; reap both and clean the stale mount.
 */
static void round_crash(uint64_t seed, const char *log_path)
{
	struct mu_rng kr;
	int mode, sig[2], log_fd, st, k = 0, want_k = 1;
	char target = 0, wl_err[300];
	unsigned delay_ms, jitter_us;
	double t0, deadline;
	bool hit = false;
	pid_t pid;

	mu_rng_seed(&kr, round_seed(R.seed, R.w.round, 0x6b696c6cULL));
	mode = mu_rnd(&kr, 2) ? KILL_TARGET : KILL_TIMED;
	delay_ms = 5 + (unsigned)mu_rnd(&kr, RUN_MS_MAX);
	jitter_us = (unsigned)mu_rnd(&kr, 4000);
	switch (mu_rnd(&kr, 20)) {
	case 0: case 1: case 2: case 3: case 4: case 5: case 6: target = 'C'; break;
	case 7: case 8: case 9: target = 'D'; break;
	case 10: case 11: case 12: case 13: target = 'F'; break;
	case 14: case 15: case 16: target = 'M'; break;
	default: target = 'S'; break;
	}
	want_k = 1 + (int)mu_rnd(&kr, 3);

	snprintf(wl_err, sizeof(wl_err), "%s", mu_in_root("workload.err"));
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	ck_assert_msg(log_fd >= 0, "open %s: %s", log_path, strerror(errno));
	ck_assert_int_eq(pipe2(sig, O_CLOEXEC | O_NONBLOCK), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int efd = open(wl_err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		close(sig[0]);
		if (efd < 0 || dup2(efd, 2) < 0)
			_exit(WL_BROKEN);
		wl_mnt = mu.mnt;
		snprintf(wl_probe_path, sizeof(wl_probe_path), "%s/.heapfs/version", mu.mnt);
		wl_main(&R.w, seed, log_fd, sig[1], mu_in_root("heapctl.out"));
	}
	close(sig[1]);
	close(log_fd);

	t0 = mu_now();
	deadline = t0 + (mode == KILL_TIMED ? delay_ms : TARGET_WAIT_MS) / 1000.0;
	for (;;) {
		struct pollfd p = { sig[0], POLLIN, 0 };
		char got[256];
		ssize_t n;

		if (waitpid(pid, &st, WNOHANG) == pid) {
			char *said = mu_slurp(wl_err, NULL);

			close(sig[0]);
			flunk("the workload ended before the kill (%s %d); it said:\n%s",
			      WIFEXITED(st) ? "exit" : "signal",
			      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), said ? said : "");
		}
		if (mu_now() >= deadline)
			break;
		if (poll(&p, 1, 2) > 0 && (n = read(sig[0], got, sizeof(got))) > 0 &&
		    mode == KILL_TARGET) {
			for (ssize_t i = 0; i < n && !hit; i++)
				hit = got[i] == target && ++k == want_k;
			if (hit) {
				if (jitter_us) {
					struct timespec ts = { 0, (long)jitter_us * 1000L };

					nanosleep(&ts, NULL);
				}
				break;
			}
		}
	}
	R.st.targeted += mode == KILL_TARGET;
	R.st.targeted_hit += hit;

	/* The crash: the daemon, by its pid only. */
	ck_assert_int_eq(kill(mu.pid, SIGKILL), 0);
	st = mu_daemon_wait(10);
	ck_assert_msg(st != -1, "heapfs still runs 10 s after SIGKILL");
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		      "heapfs ended with status 0x%x before the SIGKILL landed; it said:\n%s", st,
		      mu_daemon_said());
	R.st.t_run += mu_now() - t0;

	/* The workload meets the dead mount and ends: reap it. */
	{
		double end = mu_now() + 10;
		pid_t got;
		char *said;

		while ((got = waitpid(pid, &st, WNOHANG)) == 0 && mu_now() < end)
			mu_sleep_ms(5);
		if (got != pid) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			close(sig[0]);
			flunk("the workload still ran 10 s after the daemon's SIGKILL");
		}
		close(sig[0]);
		said = mu_slurp(wl_err, NULL);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != WL_DEAD)
			flunk("the workload ended with %s %d after the crash, want exit %d (an op "
			      "failing on the dead mount); it said:\n%s",
			      WIFEXITED(st) ? "exit" : "signal",
			      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), WL_DEAD,
			      said ? said : "");
		{
			int kk = OP_N;
			const char *at = said ? strstr(said, "workload: op ") : NULL;

			R.fail_op = at ? (uint32_t)strtoul(at + 13, NULL, 10) : 0;
			for (int i = 0; said && i < OP_N; i++) {
				char pat[40];

				snprintf(pat, sizeof(pat), " %s ", op_names[i]);
				if (strstr(said, pat))
					kk = i;
			}
			R.st.killed_in[kk]++;
		}
		if (R.verbose)
			printf("crash: round %u: killed %s after %.0f ms; %s", R.w.round,
			       hit ? "at its target" : mode == KILL_TARGET ? "(target missed)" :
			       "at its time", (mu_now() - t0) * 1000, said ? said : "\n");
		free(said);
	}
	mu_stale_unmount();
}

/* heapctl fsck --store --verify-data on the unmounted store: 0 errors. */
static void store_fsck(void)
{
	char *argv[] = { HEAPCTL_BIN, "fsck", "--store", mu.store, "--verify-data", NULL };
	const char *out = mu_in_root("fsck.out"), *err = mu_in_root("fsck.err");
	double t = mu_now();
	int st = mu_run_timeout(out, err, argv, 120);
	char *said = mu_slurp(out, NULL), *said_err = mu_slurp(err, NULL);
	const char *last;

	R.st.t_fsck += mu_now() - t;
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || !said)
		flunk("heapctl fsck --store %s --verify-data: status 0x%x; it said:\n%s%s",
		      mu.store, st, said ? said : "", said_err ? said_err : "");
	last = strrchr(said, '\n');
	while (last && last > said && last[-1] != '\n')
		last--;
	if (!last || strcmp(last, "0 errors\n") != 0)
		flunk("heapctl fsck --store %s --verify-data did not find 0 errors:\n%s", mu.store,
		      said);
	free(said);
	free(said_err);
}

static void stats_print(double secs)
{
	struct stats *s = &R.st;

	printf("crash: seed %" PRIu64 ": %u rounds in %.1f s (%.2f s/round: workload %.1f s, "
	       "fsck %.1f s, mount %.1f s, checks %.1f s)\n", R.seed, s->rounds, secs,
	       s->rounds ? secs / s->rounds : 0.0, s->t_run, s->t_fsck, s->t_mount, s->t_check);
	printf("crash:   %" PRIu64 " ops replayed, %" PRIu64 " durable points logged, %" PRIu64
	       " checkpoints made and %" PRIu64 " deleted (logged), %" PRIu64
	       " checkpoint reads compared\n", s->ops_replayed, s->ops_logged, s->ckpts_made,
	       s->ckpts_deleted, s->ckpt_reads);
	printf("crash:   in flight at the kill: checkpoint %" PRIu64 " present / %" PRIu64
	       " absent, rm-checkpoint %" PRIu64 " present / %" PRIu64 " absent; kills "
	       "targeted %" PRIu64 " (%" PRIu64 " at the target)\n", s->inflight_ckpt_present,
	       s->inflight_ckpt_absent, s->inflight_rm_present, s->inflight_rm_absent,
	       s->targeted, s->targeted_hit);
	printf("crash:   %" PRIu64 " live slots checked (%" PRIu64 " newer than durable, %"
	       PRIu64 " older than a write that returned), %" PRIu64 " torn mapped slots, %"
	       PRIu64 " torn log records\n", s->slots_checked, s->slots_newer, s->slots_behind,
	       s->torn_slots, s->torn_records);
	printf("crash:   the workload's failing op at the kill:");
	for (int k = 0; k <= OP_N; k++) {
		if (s->killed_in[k])
			printf(" %s %" PRIu64, k < OP_N ? op_names[k] : "other", s->killed_in[k]);
	}
	printf("\n");
	fflush(stdout);
}

START_TEST(crash_rounds)
{
	double t0 = mu_now(), t;
	char val[32] = "", log_path[400];

	memset(&R, 0, sizeof(R));
	snprintf(log_path, sizeof(log_path), "%s", mu_in_root("workload.log"));
	R.rounds = (uint32_t)env_u64("CRASH_ROUNDS", CTEST_ROUNDS);
	R.seed = getenv("CRASH_SEED") && *getenv("CRASH_SEED") ? env_u64("CRASH_SEED", 0) :
								  time_seed();
	R.verbose = getenv("CRASH_VERBOSE") && strcmp(getenv("CRASH_VERBOSE"), "0") != 0;
	R.buf_len = 2 * MiB;
	R.buf = malloc(R.buf_len);
	ck_assert_ptr_nonnull(R.buf);
	world_init(&R.w);
	printf("crash: seed %" PRIu64 ", %u rounds (CRASH_SEED, CRASH_ROUNDS)\n", R.seed,
	       R.rounds);
	fflush(stdout);

	/* The heaps: one of 4K lines, one of 64K, each made under its line= default. */
	for (int hi = 0; hi < NHEAP; hi++) {
		char opts[32];

		snprintf(opts, sizeof(opts), "line=%uK", cfgs[hi].line / 1024);
		mu_mount(opts);
		ck_assert_msg(mkdir(mu_at("%s", cfgs[hi].name), 0755) == 0, "mkdir %s: %s",
			      mu_at("%s", cfgs[hi].name), strerror(errno));
		ck_assert_int_gt(getxattr(mu_at("%s", cfgs[hi].name), "user.heapfs.line_size",
					  val, sizeof(val) - 1), 0);
		ck_assert_uint_eq(strtoul(val, NULL, 10), cfgs[hi].line);
		if (hi + 1 < NHEAP)
			mu_unmount();
	}
	exact_check();

	for (uint32_t round = 1; round <= R.rounds; round++) {
		uint64_t seed = round_seed(R.seed, round, 0);

		R.w.round = round;
		R.w.op = 0;
		for (int hi = 0; hi < NHEAP; hi++)
			R.w.h[hi].made = 0;
		round_crash(seed, log_path);
		store_fsck();
		t = mu_now();
		mu_mount(round % 2 ? "line=4K" : "line=64K");
		R.st.t_mount += mu_now() - t;
		t = mu_now();
		round_check(seed, log_path);
		R.st.t_check += mu_now() - t;
		R.st.rounds++;
		if (R.verbose || round % 10 == 0 || round == R.rounds) {
			uint32_t nck = 0;

			for (int hi = 0; hi < NHEAP; hi++)
				nck += R.w.h[hi].nck;
			printf("crash: round %u: %u ops, %u checkpoints kept, %.1f s so far\n",
			       round, R.w.op, nck, mu_now() - t0);
			fflush(stdout);
		}
	}
	/* A clean unmount keeps everything: the store reads exactly as it was. */
	mu_remount();
	exact_check();
	stats_print(mu_now() - t0);
	world_free(&R.w);
	free(R.buf);
}
END_TEST

static Suite *crash_suite(void)
{
	Suite *s = suite_create("crash");
	TCase *tc = tcase_create("crash");
	const char *env = getenv("CRASH_ROUNDS");
	uint64_t rounds = env && *env ? strtoull(env, NULL, 10) : CTEST_ROUNDS;

	tcase_add_checked_fixture(tc, mu_root_make, mu_teardown);
	tcase_set_timeout(tc, (double)(120 + 20 * rounds));
	tcase_add_test(tc, crash_rounds);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *rounds = getenv("CRASH_ROUNDS");

	/* A long run by hand outlives what a forked Check test can report (fsx_heap.c). */
	if (rounds && *rounds && strtoull(rounds, NULL, 10) > CTEST_ROUNDS && !getenv("CK_FORK"))
		setenv("CK_FORK", "no", 1);
	return mu_main(crash_suite());
}
