/*
 * test_heapstore_crash.c - the store survives SIGKILL at any moment.
 *
 * heap_survives_sigkill_at_random_moments: one store directory for the
 * whole run, reopened every round so that damage would accumulate.  Each
 * round forks and re-executes this binary as a writer child (a fresh
 * process: no RocksDB threads or locks inherited from the parent).  The
 * child opens the store, continues the heap from its working version W and
 * loops: for each W it draws operations from a PRNG seeded with (seed, W)
 * and the checkpoints it sees (delete and restore checkpoints; whole,
 * partial and line-spanning writes of content tu_fill(line, version); zero
 * writes; punches; copies of a line from a checkpoint; rewrites of a line
 * with what it holds; shrink-then-regrow truncates), then seals W,
 * sometimes labelled "v<W>".  Around every operation it sends the parent an
 * intent record and, once the call returned, a done record.  The parent
 * SIGKILLs it at a random moment, reaps it, reopens the store and checks it
 * against a model replayed from those records:
 *   - every operation that returned is there; the one in flight is wholly
 *     there or wholly absent (each is one RocksDB batch);
 *   - the checkpoint list is exactly the model's; every checkpoint reads
 *     back exactly (no partial checkpoint), and so does the live heap;
 *     sizes, parents, labels, lines_used, diffs and line listings agree;
 *   - usage is readable and never below what the content needs.
 * At the end every checkpoint is deleted (checking after each), the exact
 * reference count is checked, the heap is deleted and usage must be zero.
 *
 * store_creation_killed_store_still_opens: SIGKILL while a store is being
 * created; the directory must open afterwards.
 *
 * heap_delete_killed_finished_at_open: SIGKILL during hs_heap_delete(); the
 * next open finishes the purge and every reference is dropped.
 *
 * HEAPFS_CRASH_ROUNDS (default 50) sets the rounds, HEAPFS_CRASH_SEED the
 * seed (default: the time); the seed is printed so a failure can be rerun.
 *
 * The operations, their content and the model are in crash_model.c; this
 * file runs the writer, kills it and checks the store.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crash_model.h"
#include "heapstore.h"
#include "test_util.h"

#define HEAP_MAX ((uint64_t)LINES * LS)
#define HEAP_NAME "crash"
#define MIRROR_NAME "mirror"   /* shares the crash heap's contents; not modelled */
#define KILL_AFTER_READY_MAX_NS 30000000ULL
#define READY_TIMEOUT_NS 60000000000ULL
#define CHILD_FLAG "--crash-child"
#define NSEC 1000000000ULL

/* ---- small utilities -------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long n;

	if (!v || !*v)
		return dflt;
	n = strtoull(v, &end, 0);
	return *end ? dflt : (uint64_t)n;
}

static int env_rounds(void)
{
	uint64_t n = env_u64("HEAPFS_CRASH_ROUNDS", 50);

	return n < 1 ? 1 : n > 1000000 ? 1000000 : (int)n;
}

/* ---- the child (a re-executed copy of this binary) --------------------- */

static void child_send(int fd, uint32_t kind, const struct op *op, int64_t rc,
		       uint64_t val, uint64_t val2)
{
	struct rec r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	if (op)
		r.op = *op;
	r.rc = rc;
	r.val = val;
	r.val2 = val2;
	if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(4);
}

static void __attribute__((noreturn)) child_fail(const char *what, const struct op *op,
						 long long rc)
{
	char buf[160] = "";

	if (op)
		cm_op_str(op, buf, sizeof(buf));
	fprintf(stderr, "crash child %d: %s %s returned %lld: %s\n", (int)getpid(), what,
		buf, rc, hs_error_last());
	_exit(3);
}

static void __attribute__((noreturn)) child_idle(void)
{
	for (;;)
		pause();
}

/* Read line @line of @version (zeros past its end) into @buf. */
static int child_read_line(hs_heap *h, uint64_t version, uint64_t line, uint8_t *buf)
{
	ssize_t n = hs_version_read(h, version, buf, LS, line * LS);

	if (n < 0)
		return (int)n;
	memset(buf + n, 0, LS - (size_t)n);
	return 0;
}

/* Run @op on @h: 0 or a negative errno (-ERANGE for a short write). */
static int child_exec(hs_heap *h, const struct op *op, uint8_t *buf, uint8_t *tmp,
		      uint64_t *sealed)
{
	char label[32];
	ssize_t n;
	int rc;

	switch (op->type) {
	case OP_WRITE:
		cm_range_build(buf, op->x, op->y, op->src, tmp);
		n = hs_heap_write(h, buf, op->y * BLK, op->x * BLK);
		return n == (ssize_t)(op->y * BLK) ? 0 : n < 0 ? (int)n : -ERANGE;
	case OP_PUNCH:
		return hs_heap_punch(h, op->x * BLK, op->y * BLK);
	case OP_TRUNC:
		return hs_heap_truncate(h, op->x);
	case OP_COPY:
	case OP_REWRITE:
		rc = child_read_line(h, op->type == OP_COPY ? op->y : HS_VERSION_LIVE, op->x, buf);
		if (rc < 0)
			return rc;
		n = hs_heap_write(h, buf, LS, op->x * LS);
		return n == (ssize_t)LS ? 0 : n < 0 ? (int)n : -ERANGE;
	case OP_RESTORE:
		return hs_heap_restore(h, op->y);
	case OP_DELETE:
		return hs_version_delete(h, op->y);
	case OP_SEAL:
		snprintf(label, sizeof(label), "v%" PRIu64, op->y);
		rc = hs_version_seal(h, op->src ? label : NULL, sealed);
		if (rc == 0 && *sealed != op->y)
			return -EPROTO;
		return rc;
	default:
		abort();   /* the model makes no other operation */
	}
}

/* Announce, run and report one operation; a failure ends the child. */
static void child_do(int fd, hs_heap *h, const struct op *op, uint8_t *buf, uint8_t *tmp)
{
	uint64_t sealed = 0, t0;
	int rc;

	child_send(fd, R_INTENT, op, 0, 0, 0);
	t0 = now_ns();
	rc = child_exec(h, op, buf, tmp, &sealed);
	if (rc < 0)
		child_fail("operation", op, rc);
	child_send(fd, R_DONE, op, rc, sealed, now_ns() - t0);
}

static void cps_remove(uint64_t *cps, size_t *ncp, size_t i)
{
	memmove(cps + i, cps + i + 1, (*ncp - i - 1) * sizeof(*cps));
	(*ncp)--;
}

/* The writer: see the file comment.  Runs until killed. */
/*
 * A second heap of the same line size that copies lines of the crash heap
 * (so the two share blobs), punches them, and seals and deletes its own
 * checkpoints, between the crash heap's operations: no model follows it,
 * but every kill lands amid batches that move blobs between one holder
 * and two, which the space figures (unique bytes, garbage records) must
 * follow exactly, and the fsck after each kill recounts them.
 */
static void child_mirror(hs_heap *h, hs_heap *m, struct rng *g, uint8_t *tmp)
{
	static uint64_t cps[8];
	static size_t ncp;
	uint64_t line = cm_rng_below(g, LINES), v;
	unsigned what = (unsigned)cm_rng_below(g, 16);

	if (what < 6) {
		if (hs_heap_read(h, tmp, LS, line * LS) == LS)
			(void)hs_heap_write(m, tmp, LS, ((line * 7) % LINES) * LS);
	} else if (what < 8) {
		(void)hs_heap_punch(m, line * LS, LS);
	} else if (what == 8 && hs_version_seal(m, NULL, &v) == 0) {
		if (ncp == 8) {
			(void)hs_version_delete(m, cps[0]);
			memmove(cps, cps + 1, 7 * sizeof(*cps));
			ncp--;
		}
		cps[ncp++] = v;
	}
}

static void __attribute__((noreturn)) child_heap(const char *dir, int fd, uint64_t seed)
{
	hs_heap_params params = HS_HEAP_PARAMS_INIT;
	uint8_t *buf = malloc(2 * LS), *tmp = malloc(LS);
	uint64_t cps[CP_CAP + 1];
	size_t ncp = 0, nv = 0;
	hs_version_info *vl = NULL;
	hs_heap_info info;
	hs_store *s;
	hs_heap *h, *mirror;
	int rc;

	if (!buf || !tmp)
		_exit(2);
	if ((rc = hs_store_open(&s, dir, NULL)) < 0)
		child_fail("hs_store_open", NULL, rc);
	rc = hs_heap_open(&h, s, HEAP_NAME);
	if (rc == -ENOENT) {
		struct op create = { .type = OP_CREATE };

		params.line_size = LS;
		child_send(fd, R_INTENT, &create, 0, 0, 0);
		if ((rc = hs_heap_create(s, HEAP_NAME, &params)) < 0)
			child_fail("hs_heap_create", NULL, rc);
		child_send(fd, R_DONE, &create, 0, 0, 0);
		rc = hs_heap_open(&h, s, HEAP_NAME);
	}
	if (rc < 0)
		child_fail("hs_heap_open", NULL, rc);
	params.line_size = LS;
	if ((rc = hs_heap_create(s, MIRROR_NAME, &params)) < 0 && rc != -EEXIST)
		child_fail("hs_heap_create mirror", NULL, rc);
	if ((rc = hs_heap_open(&mirror, s, MIRROR_NAME)) < 0)
		child_fail("hs_heap_open mirror", NULL, rc);
	if ((rc = hs_heap_info_get(h, &info)) < 0)
		child_fail("hs_heap_info_get", NULL, rc);
	if ((rc = hs_version_list(h, &vl, &nv)) < 0)
		child_fail("hs_version_list", NULL, rc);
	if (nv > CP_CAP)
		child_fail("too many checkpoints", NULL, (long long)nv);
	for (size_t i = 0; i < nv; i++)
		cps[ncp++] = vl[i].version;
	free(vl);
	child_send(fd, R_READY, NULL, 0, info.version, ncp);

	for (uint64_t w = info.version;; w++) {
		struct rng g = { seed ^ cm_mix64(w) };
		struct op op;
		uint64_t n_ops;

		memset(&op, 0, sizeof(op));
		/* Checkpoints go: one at random half the time, and down to CP_MAX - 1. */
		while (ncp && (ncp >= CP_MAX || op.type == OP_NONE)) {
			size_t i = cm_rng_below(&g, ncp);

			if (ncp < CP_MAX && cm_rng_below(&g, 2))
				break;
			op.type = OP_DELETE;
			op.y = cps[i];
			child_do(fd, h, &op, buf, tmp);
			cps_remove(cps, &ncp, i);
		}
		if (ncp && cm_rng_below(&g, 8) == 0) {
			memset(&op, 0, sizeof(op));
			op.type = OP_RESTORE;
			op.y = cps[cm_rng_below(&g, ncp)];
			child_do(fd, h, &op, buf, tmp);
		}
		n_ops = 1 + cm_rng_below(&g, 40);
		for (uint64_t i = 0; i < n_ops; i++) {
			struct op ops[2];
			int k = cm_op_pick(&g, w, cps, ncp, ops);
			struct rng mg = { seed ^ cm_mix64(w * 64 + i) ^ 0x6d6972726f72ULL };

			for (int j = 0; j < k; j++)
				child_do(fd, h, &ops[j], buf, tmp);
			child_mirror(h, mirror, &mg, tmp);
		}
		memset(&op, 0, sizeof(op));
		op.type = OP_SEAL;
		op.y = w;
		op.src = cm_rng_below(&g, 4) == 0;
		child_do(fd, h, &op, buf, tmp);
		cps[ncp++] = w;
	}
}

/* Creates a store, then a heap in it; reports each, then waits to be killed. */
static void __attribute__((noreturn)) child_create(const char *dir, int fd)
{
	struct op op = { .type = OP_CREATE };
	hs_store *s;
	int rc;

	if ((rc = hs_store_open(&s, dir, NULL)) < 0)
		child_fail("hs_store_open", NULL, rc);
	child_send(fd, R_READY, NULL, 0, 0, 0);
	child_send(fd, R_INTENT, &op, 0, 0, 0);
	if ((rc = hs_heap_create(s, HEAP_NAME, NULL)) < 0)
		child_fail("hs_heap_create", NULL, rc);
	child_send(fd, R_DONE, &op, 0, 0, 0);
	child_idle();
}

/* Deletes the heap; reports, then waits to be killed. */
static void __attribute__((noreturn)) child_heap_delete(const char *dir, int fd)
{
	struct op op = { .type = OP_HEAP_DELETE };
	hs_store *s;
	uint64_t t0;
	int rc;

	if ((rc = hs_store_open(&s, dir, NULL)) < 0)
		child_fail("hs_store_open", NULL, rc);
	child_send(fd, R_READY, NULL, 0, 0, 0);
	child_send(fd, R_INTENT, &op, 0, 0, 0);
	t0 = now_ns();
	if ((rc = hs_heap_delete(s, HEAP_NAME)) < 0)
		child_fail("hs_heap_delete", NULL, rc);
	child_send(fd, R_DONE, &op, 0, 0, now_ns() - t0);
	child_idle();
}

static int child_main(int argc, char **argv)
{
	int fd;

	if (argc != 6)
		return 2;
	fd = atoi(argv[4]);
	if (strcmp(argv[2], "heap") == 0)
		child_heap(argv[3], fd, strtoull(argv[5], NULL, 0));
	if (strcmp(argv[2], "create") == 0)
		child_create(argv[3], fd);
	if (strcmp(argv[2], "hdel") == 0)
		child_heap_delete(argv[3], fd);
	return 2;
}

/* ---- the parent's side of a child -------------------------------------- */

struct watch {
	uint8_t *bytes;                 /* records received */
	size_t len, cap;
	uint64_t t_fork, t_ready;       /* monotonic ns; t_ready 0: no READY */
	const char *trigger;            /* if set, the delay runs from when it exists */
	uint64_t t_trigger;
	int status;
};

/* Fork and re-execute this binary as a child of @mode writing to a pipe. */
static pid_t child_spawn(const char *mode, const char *dir, uint64_t seed, int *rfd)
{
	pid_t parent = getpid(), pid;
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		char fdbuf[16], seedbuf[32];

		close(fds[0]);
		/* Never outlive the test, even if Check's timeout kills it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(5);
		snprintf(fdbuf, sizeof(fdbuf), "%d", fds[1]);
		snprintf(seedbuf, sizeof(seedbuf), "%" PRIu64, seed);
		execl("/proc/self/exe", "test_heapstore_crash", CHILD_FLAG, mode, dir,
		      fdbuf, seedbuf, (char *)NULL);
		_exit(6);
	}
	close(fds[1]);
	*rfd = fds[0];
	return pid;
}

static void watch_append(struct watch *w, const uint8_t *p, size_t n)
{
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 64 * 1024;
		uint8_t *grown;

		while (cap < w->len + n)
			cap *= 2;
		grown = realloc(w->bytes, cap);
		ck_assert_msg(grown != NULL, "out of memory");
		w->bytes = grown;
		w->cap = cap;
	}
	memcpy(w->bytes + w->len, p, n);
	w->len += n;
}

static size_t watch_n(const struct watch *w)
{
	return w->len / sizeof(struct rec);
}

static void watch_rec(const struct watch *w, size_t i, struct rec *out)
{
	cm_rec_get(w->bytes, i, out);
}

/*
 * Collect the records of child @pid until @delay_ns after its READY record
 * (after the fork if @from_fork, after path w->trigger appears if set; it is
 * polled every 100 us), or until it sent @until_kind; then
 * SIGKILL it (this pid only), drain the pipe and reap it.  The child is
 * always reaped before any assertion.
 */
static void child_watch(pid_t pid, int fd, uint64_t delay_ns, bool from_fork,
			uint32_t until_kind, struct watch *w)
{
	uint64_t deadline = from_fork ? w->t_fork + delay_ns : 0;
	size_t seen = 0;
	bool eof = false, stop = false;
	uint8_t chunk[4096];
	ssize_t n;
	pid_t rc;

	while (!eof && !stop) {
		uint64_t now = now_ns(), limit;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct timespec ts;
		struct stat st;

		if (!deadline && w->trigger && stat(w->trigger, &st) == 0) {
			w->t_trigger = now;
			deadline = now + delay_ns;
		}
		limit = deadline ? deadline : w->t_fork + READY_TIMEOUT_NS;
		if (now >= limit)
			break;
		if (!deadline && w->trigger && limit - now > 100000)
			limit = now + 100000;
		ts.tv_sec = (time_t)((limit - now) / NSEC);
		ts.tv_nsec = (long)((limit - now) % NSEC);
		if (ppoll(&pfd, 1, &ts, NULL) <= 0)
			continue;
		n = read(fd, chunk, sizeof(chunk));
		if (n <= 0) {
			eof = n == 0 || errno != EINTR;
			continue;
		}
		watch_append(w, chunk, (size_t)n);
		for (; seen < watch_n(w); seen++) {
			struct rec r;

			watch_rec(w, seen, &r);
			if (r.kind == R_READY && !w->t_ready) {
				w->t_ready = now_ns();
				if (!deadline && !w->trigger)
					deadline = w->t_ready + delay_ns;
			}
			if (until_kind && r.kind == until_kind)
				stop = true;
		}
	}
	kill(pid, SIGKILL);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n > 0)
			watch_append(w, chunk, (size_t)n);
		else if (errno != EINTR)
			break;
	}
	close(fd);
	while ((rc = waitpid(pid, &w->status, 0)) < 0 && errno == EINTR)
		;
	ck_assert_msg(rc == pid, "waitpid: %s", strerror(errno));
	ck_assert_msg(WIFSIGNALED(w->status) && WTERMSIG(w->status) == SIGKILL,
		      "child %d ended by itself (status %#x) before it was killed; "
		      "its message is on stderr", (int)pid, w->status);
	ck_assert_msg(w->len % sizeof(struct rec) == 0, "torn record from the child");
	ck_assert_msg(w->t_ready || !eof, "child closed its pipe before it was ready");
	if (!from_fork && !until_kind && !w->trigger)
		ck_assert_msg(w->t_ready, "child not ready after %llu s",
			      (unsigned long long)(READY_TIMEOUT_NS / NSEC));
}

/* ---- a run -------------------------------------------------------------- */

enum phase { PH_OPEN, PH_CREATE, PH_IDLE, PH_WRITE, PH_TRUNC, PH_RESTORE, PH_DELETE,
	     PH_SEAL, PH_COUNT };

static const char *const phase_names[PH_COUNT] = {
	"open", "create", "between ops", "write/punch/copy", "truncate", "restore",
	"delete", "seal",
};

struct run {
	char *dir;
	uint64_t seed;
	int round, rounds;
	char where[96];

	struct cm_model m;              /* what the store must hold */

	/* scratch */
	uint8_t *buf;                   /* HEAP_MAX + LS: a whole version */
	uint8_t *line, *tmp;
	struct state alt;
	uint64_t live_fp[LINES];

	/* figures */
	uint64_t inflight_applied, inflight_absent;
	uint64_t kills[PH_COUNT];
	uint64_t ready_ns_sum, ready_n;
};

static uint64_t fp_nonzero(const uint64_t fp[LINES])
{
	uint64_t n = 0;

	for (unsigned l = 0; l < LINES; l++)
		n += fp[l] != 0;
	return n;
}

static enum phase kill_phase(const struct run *r, const struct watch *w)
{
	if (!w->t_ready)
		return r->m.pending && r->m.pend.type == OP_CREATE ? PH_CREATE : PH_OPEN;
	if (!r->m.pending)
		return PH_IDLE;
	switch (r->m.pend.type) {
	case OP_SEAL:
		return PH_SEAL;
	case OP_DELETE:
		return PH_DELETE;
	case OP_RESTORE:
		return PH_RESTORE;
	case OP_TRUNC:
		return PH_TRUNC;
	default:
		return PH_WRITE;
	}
}

/* ---- checking the store against the model ------------------------------- */

/*
 * 0 if @version of @h (HS_VERSION_LIVE: the live heap) holds exactly @st,
 * size included; else the first difference, described in @why.
 */
static int state_check(struct run *r, hs_heap *h, uint64_t version, uint64_t size,
		       const struct state *st, char *why, size_t cap)
{
	ssize_t n;

	if (size != st->size) {
		snprintf(why, cap, "size %" PRIu64 ", expected %" PRIu64, size, st->size);
		return -1;
	}
	if (version == HS_VERSION_LIVE)
		n = hs_heap_read(h, r->buf, HEAP_MAX + LS, 0);
	else
		n = hs_version_read(h, version, r->buf, HEAP_MAX + LS, 0);
	if (n != (ssize_t)st->size) {
		snprintf(why, cap, "read of the whole heap returned %zd (%s), expected %" PRIu64,
			 n, n < 0 ? hs_error_last() : "", st->size);
		return -1;
	}
	for (uint64_t l = 0; l * LS < st->size; l++) {
		const uint8_t *got = r->buf + l * LS;
		size_t len = st->size - l * LS < LS ? (size_t)(st->size - l * LS) : LS;
		size_t i = 0;
		uint64_t ga, gb;

		cm_line_build(r->line, st->src + l * BPL, l, r->tmp);
		if (memcmp(got, r->line, len) == 0)
			continue;
		while (got[i] == r->line[i])
			i++;
		memcpy(&ga, got, 8);
		memcpy(&gb, got + 8, 8);
		snprintf(why, cap, "line %" PRIu64 " differs from byte %zu (block %zu: expected "
			 "source %#x; the line starts with (%#" PRIx64 ", %#" PRIx64 "), a "
			 "whole-line write of (line, version) starts with those)",
			 l, i, i / BLK, st->src[l * BPL + i / BLK], ga, gb);
		return -1;
	}
	if (version == HS_VERSION_LIVE)
		n = hs_heap_read(h, r->buf, 1, st->size);
	else
		n = hs_version_read(h, version, r->buf, 1, st->size);
	if (n != 0) {
		snprintf(why, cap, "read at the end returned %zd", n);
		return -1;
	}
	return 0;
}

struct lines_acc {
	uint64_t v[LINES + 1];
	size_t n;
};

static int diff_collect(uint64_t line, void *payload)
{
	struct lines_acc *acc = payload;

	if (acc->n <= LINES)
		acc->v[acc->n] = line;
	acc->n++;
	return 0;
}

/* hs_version_diff(@v1, @v2) must list exactly the lines whose content differs. */
static void diff_check(struct run *r, hs_heap *h, uint64_t v1, uint64_t v2,
		       const uint64_t *fp1, const uint64_t *fp2)
{
	struct lines_acc acc = { .n = 0 };
	size_t k = 0;
	int rc = hs_version_diff(h, v1, v2, diff_collect, &acc);

	ck_assert_msg(rc == 0, "%s: diff %" PRIu64 "..%" PRIu64 ": %d %s", r->where, v1, v2,
		      rc, hs_error_last());
	for (uint64_t l = 0; l < LINES; l++) {
		if (fp1[l] == fp2[l])
			continue;
		ck_assert_msg(k < acc.n && acc.v[k] == l,
			      "%s: diff %" PRIu64 "..%" PRIu64 " lists %s%" PRIu64
			      " where line %" PRIu64 " differs", r->where, v1, v2,
			      k < acc.n ? "line " : "nothing, count ",
			      k < acc.n ? acc.v[k] : (uint64_t)acc.n, l);
		k++;
	}
	ck_assert_msg(k == acc.n, "%s: diff %" PRIu64 "..%" PRIu64 " lists %zu lines, %zu differ",
		      r->where, v1, v2, acc.n, k);
}

/* hs_heap_line_next over @version must yield exactly the non-zero lines. */
static void line_next_check(struct run *r, hs_heap *h, uint64_t version, const uint64_t *fp)
{
	uint64_t from = 0, line, expect = 0;
	int rc;

	for (;;) {
		while (expect < LINES && !fp[expect])
			expect++;
		rc = hs_heap_line_next(h, version, from, &line);
		if (rc == -ENXIO)
			break;
		ck_assert_msg(rc == 0, "%s: line_next(%" PRIu64 ", %" PRIu64 "): %d %s",
			      r->where, version, from, rc, hs_error_last());
		ck_assert_msg(line == expect, "%s: line_next(%" PRIu64 ", %" PRIu64 ") = %" PRIu64
			      ", next non-zero line is %" PRIu64, r->where, version, from, line,
			      expect);
		from = line + 1;
		expect++;
	}
	while (expect < LINES && !fp[expect])
		expect++;
	ck_assert_msg(expect == LINES, "%s: line_next(%" PRIu64 ") stops before non-zero line %"
		      PRIu64, r->where, version, expect);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Usage must be readable and cover the content: every distinct non-zero
 * content in some version is a referenced blob, every distinct content of
 * a line across versions is at least one reference.
 */
static void fsck_line(const char *problem, void *payload)
{
	fprintf(stderr, "%s: fsck: %s\n", (const char *)payload, problem);
}

static void usage_check(struct run *r, hs_store *s)
{
	uint64_t *all = cm_xmalloc((CP_CAP + 1) * LINES * sizeof(uint64_t));
	uint64_t distinct = 0, per_line = 0;
	hs_store_usage u;
	size_t n = 0;
	int rc = hs_store_usage_get(s, &u);
	ssize_t problems;

	ck_assert_msg(rc == 0, "%s: usage: %d %s", r->where, rc, hs_error_last());
	/* Whatever instant the kill hit, the store passes fsck. */
	problems = hs_store_fsck(s, HS_FSCK_VERIFY_DATA, fsck_line, (void *)r->where);
	ck_assert_msg(problems == 0, "%s: fsck found %zd problems (printed above)", r->where,
		      problems);
	for (unsigned l = 0; l < LINES; l++) {
		const uint64_t *fps[CP_CAP + 1];
		size_t k = 0;

		if (r->m.created)
			fps[k++] = &r->live_fp[l];
		for (size_t i = 0; i < r->m.n_cps; i++)
			fps[k++] = &r->m.cps[i].fp[l];
		for (size_t i = 0; i < k; i++) {
			bool seen = !*fps[i];

			for (size_t j = 0; j < i && !seen; j++)
				seen = *fps[j] == *fps[i];
			if (!seen) {
				per_line++;
				all[n++] = *fps[i];
			}
		}
	}
	qsort(all, n, sizeof(*all), u64_cmp);
	for (size_t i = 0; i < n; i++)
		distinct += i == 0 || all[i] != all[i - 1];
	free(all);
	ck_assert_msg(u.blobs >= distinct && u.references >= per_line && u.blobs <= u.references,
		      "%s: usage says %" PRIu64 " blobs, %" PRIu64 " references; the content needs "
		      "at least %" PRIu64 " blobs, %" PRIu64 " references", r->where, u.blobs,
		      u.references, distinct, per_line);
}

/*
 * Check the open heap against the model, first deciding the operation in
 * flight at the kill (if any) from what the store shows: a seal or a
 * checkpoint deletion by the checkpoint list, a content operation by the
 * live heap, which must equal the model before it or after it, nothing else.
 */
static void heap_check(struct run *r, hs_store *s, hs_heap *h)
{
	char why[512], why2[512], a[160];
	hs_version_info *vl = NULL;
	hs_heap_info info;
	size_t nv = 0;
	int rc;

	rc = hs_heap_info_get(h, &info);
	ck_assert_msg(rc == 0, "%s: heap info: %d %s", r->where, rc, hs_error_last());
	ck_assert_msg(info.line_size == LS && info.state == HS_HEAP_LIVE,
		      "%s: heap line size %u state %d", r->where, info.line_size, (int)info.state);
	if (r->m.pending && r->m.pend.type == OP_SEAL) {
		ck_assert_msg(info.version == r->m.head || info.version == r->m.head + 1,
			      "%s: working version %" PRIu64 " after a kill during the seal of %"
			      PRIu64, r->where, info.version, r->m.head);
		if (info.version == r->m.head + 1) {
			cm_model_apply(&r->m, &r->m.pend);
			r->inflight_applied++;
		} else {
			r->inflight_absent++;
		}
		r->m.pending = false;
	}
	ck_assert_msg(info.version == r->m.head, "%s: working version %" PRIu64 ", model %" PRIu64,
		      r->where, info.version, r->m.head);

	rc = hs_version_list(h, &vl, &nv);
	ck_assert_msg(rc == 0, "%s: version list: %d %s", r->where, rc, hs_error_last());
	if (r->m.pending && r->m.pend.type == OP_DELETE) {
		bool present = false;

		for (size_t i = 0; i < nv; i++)
			present |= vl[i].version == r->m.pend.y;
		if (!present) {
			cm_model_apply(&r->m, &r->m.pend);
			r->inflight_applied++;
		} else {
			r->inflight_absent++;
		}
		r->m.pending = false;
	}
	for (size_t i = 0; i < nv || i < r->m.n_cps; i++) {
		ck_assert_msg(i < nv && i < r->m.n_cps && vl[i].version == r->m.cps[i].version,
			      "%s: checkpoint #%zu is %" PRIu64 " in the store (of %zu), %" PRIu64
			      " in the model (of %zu)", r->where, i, i < nv ? vl[i].version : 0,
			      nv, i < r->m.n_cps ? r->m.cps[i].version : 0, r->m.n_cps);
	}

	/* The live heap: as the model says, or with the operation in flight done. */
	if (r->m.pending) {
		cm_op_str(&r->m.pend, a, sizeof(a));
		ck_assert_msg(r->m.pend.type != OP_CREATE && r->m.pend.type != OP_HEAP_DELETE,
			      "%s: %s in flight", r->where, a);
		if (state_check(r, h, HS_VERSION_LIVE, info.size_bytes, &r->m.live, why,
				sizeof(why)) == 0) {
			r->inflight_absent++;
		} else {
			r->alt = r->m.live;
			cm_state_apply(&r->m, &r->alt, &r->m.pend);
			rc = state_check(r, h, HS_VERSION_LIVE, info.size_bytes, &r->alt, why2,
					 sizeof(why2));
			ck_assert_msg(rc == 0, "%s: live heap (working version %" PRIu64
				      ") is neither before nor after the %s in flight at the "
				      "kill: before: %s; after: %s", r->where, r->m.head, a, why,
				      why2);
			r->m.live = r->alt;
			r->inflight_applied++;
		}
		r->m.pending = false;
	} else {
		rc = state_check(r, h, HS_VERSION_LIVE, info.size_bytes, &r->m.live, why,
				 sizeof(why));
		ck_assert_msg(rc == 0, "%s: live heap (working version %" PRIu64 "): %s",
			      r->where, r->m.head, why);
	}
	cm_state_fp(&r->m, &r->m.live, r->live_fp);
	ck_assert_msg(info.latest == (r->m.n_cps ? r->m.cps[r->m.n_cps - 1].version : 0) &&
		      info.checkpoints == r->m.n_cps,
		      "%s: heap info says latest %" PRIu64 " of %" PRIu64 " checkpoints",
		      r->where, info.latest, info.checkpoints);
	ck_assert_msg(info.lines_used == fp_nonzero(r->live_fp),
		      "%s: heap info says %" PRIu64 " lines used, the live heap has %" PRIu64,
		      r->where, info.lines_used, fp_nonzero(r->live_fp));
	line_next_check(r, h, HS_VERSION_LIVE, r->live_fp);

	/* Every checkpoint: complete and exact, with the right record. */
	for (size_t i = 0; i < r->m.n_cps; i++) {
		const struct cp *cp = &r->m.cps[i];
		const hs_version_info *vi = &vl[i];
		char label[32] = "";
		uint64_t found = 0;

		if (cp->labelled)
			snprintf(label, sizeof(label), "v%" PRIu64, cp->version);
		rc = state_check(r, h, cp->version, vi->size_bytes, cp->st, why, sizeof(why));
		ck_assert_msg(rc == 0, "%s: checkpoint %" PRIu64 ": %s", r->where, cp->version,
			      why);
		ck_assert_msg(vi->parent == (i ? r->m.cps[i - 1].version : 0),
			      "%s: checkpoint %" PRIu64 " has parent %" PRIu64
			      ", expected %" PRIu64,
			      r->where, cp->version, vi->parent, i ? r->m.cps[i - 1].version : 0);
		ck_assert_msg(vi->lines_used == fp_nonzero(cp->fp),
			      "%s: checkpoint %" PRIu64 " says %" PRIu64
			      " lines used, holds %" PRIu64,
			      r->where, cp->version, vi->lines_used, fp_nonzero(cp->fp));
		ck_assert_msg(strcmp(vi->label, label) == 0, "%s: checkpoint %" PRIu64
			      " labelled '%s', expected '%s'", r->where, cp->version, vi->label,
			      label);
		if (cp->labelled) {
			rc = hs_version_find_label(h, label, &found);
			ck_assert_msg(rc == 0 && found == cp->version, "%s: label %s finds %" PRIu64
				      " (%d %s)", r->where, label, found, rc, hs_error_last());
		}
		if (i)
			diff_check(r, h, r->m.cps[i - 1].version, cp->version, r->m.cps[i - 1].fp,
				   cp->fp);
		line_next_check(r, h, cp->version, cp->fp);
	}
	if (r->m.n_cps)
		diff_check(r, h, r->m.cps[r->m.n_cps - 1].version, HS_VERSION_LIVE,
			   r->m.cps[r->m.n_cps - 1].fp, r->live_fp);
	for (size_t i = 0; i < r->m.n_dead; i++) {
		char label[32];
		uint64_t found = 0;

		snprintf(label, sizeof(label), "v%" PRIu64, r->m.dead_labels[i]);
		rc = hs_version_find_label(h, label, &found);
		ck_assert_msg(rc == -ENOENT, "%s: label %s of deleted checkpoint %" PRIu64
			      " finds %" PRIu64 " (%d)", r->where, label, r->m.dead_labels[i], found,
			      rc);
	}
	free(vl);
	usage_check(r, s);
}

/* Reopen the store after a kill and check everything against the model. */
static void round_check(struct run *r)
{
	hs_store *s = NULL;
	hs_heap *h = NULL;
	int rc = hs_store_open(&s, r->dir, NULL);

	ck_assert_msg(rc == 0, "%s: reopening the store after the kill: %d %s", r->where, rc,
		      hs_error_last());
	rc = hs_heap_open(&h, s, HEAP_NAME);
	if (!r->m.created) {
		bool creating = r->m.pending && r->m.pend.type == OP_CREATE;

		ck_assert_msg(rc == -ENOENT || (rc == 0 && creating),
			      "%s: heap open before it was created: %d %s", r->where, rc,
			      hs_error_last());
		if (rc == -ENOENT) {
			r->inflight_absent += creating;
			r->m.pending = false;
			usage_check(r, s);
			hs_store_close(s);
			return;
		}
		cm_model_apply(&r->m, &r->m.pend);
		r->m.pending = false;
		r->inflight_applied++;
	}
	ck_assert_msg(rc == 0, "%s: heap open: %d %s", r->where, rc, hs_error_last());
	heap_check(r, s, h);
	hs_heap_close(h);
	hs_store_close(s);
}

static void run_free(struct run *r)
{
	cm_model_dispose(&r->m);
	free(r->buf);
	free(r->line);
	free(r->tmp);
	tu_rmtree(r->dir);
	free(r->dir);
}

/* After the rounds: drop every checkpoint, then the heap; count references. */
static void final_check(struct run *r, struct rng *g)
{
	hs_store_usage u;
	hs_store *s = NULL;
	hs_heap *h = NULL;
	hs_heap_info *heaps = NULL;
	size_t n_heaps = 0;
	uint64_t *all = cm_xmalloc(LINES * sizeof(uint64_t));
	uint64_t distinct = 0, n = 0;
	int rc = hs_store_open(&s, r->dir, NULL);

	snprintf(r->where, sizeof(r->where), "final (seed %" PRIu64 ")", r->seed);
	ck_assert_msg(rc == 0, "%s: open: %d %s", r->where, rc, hs_error_last());
	/* The mirror goes first: what follows counts the crash heap alone. */
	rc = hs_heap_delete(s, MIRROR_NAME);
	ck_assert_msg(rc == 0 || rc == -ENOENT, "%s: mirror delete: %d %s", r->where, rc,
		      hs_error_last());
	if (r->m.created) {
		ck_assert_int_eq(hs_heap_open(&h, s, HEAP_NAME), 0);
		while (r->m.n_cps) {
			struct op op = { .type = OP_DELETE };

			op.y = r->m.cps[cm_rng_below(g, r->m.n_cps)].version;
			rc = hs_version_delete(h, op.y);
			ck_assert_msg(rc == 0, "%s: delete %" PRIu64 ": %d %s", r->where, op.y, rc,
				      hs_error_last());
			cm_model_apply(&r->m, &op);
			heap_check(r, s, h);
		}
		/* Only the live heap is left: one reference per non-zero line. */
		for (unsigned l = 0; l < LINES; l++) {
			if (r->live_fp[l])
				all[n++] = r->live_fp[l];
		}
		qsort(all, n, sizeof(*all), u64_cmp);
		for (uint64_t i = 0; i < n; i++)
			distinct += i == 0 || all[i] != all[i - 1];
		ck_assert_int_eq(hs_store_usage_get(s, &u), 0);
		ck_assert_msg(u.references == n && u.blobs == distinct &&
			      u.bytes_referenced == n * LS && u.bytes_unique == distinct * LS,
			      "%s: with no checkpoints usage says %" PRIu64 " references to %"
			      PRIu64
			      " blobs; the live heap has %" PRIu64 " non-zero lines, %" PRIu64
			      " distinct", r->where, u.references, u.blobs, n, distinct);
		hs_heap_close(h);
		rc = hs_heap_delete(s, HEAP_NAME);
		ck_assert_msg(rc == 0, "%s: heap delete: %d %s", r->where, rc, hs_error_last());
	}
	ck_assert_int_eq(hs_store_usage_get(s, &u), 0);
	ck_assert_msg(u.blobs == 0 && u.references == 0 && u.bytes_referenced == 0,
		      "%s: after deleting everything usage says %" PRIu64 " blobs, %" PRIu64
		      " references", r->where, u.blobs, u.references);
	ck_assert_int_eq(hs_heap_list(s, &heaps, &n_heaps), 0);
	ck_assert_uint_eq(n_heaps, 0);
	free(heaps);
	hs_store_close(s);
	free(all);
}

START_TEST(heap_survives_sigkill_at_random_moments)
{
	struct run *r = calloc(1, sizeof(*r));
	struct rng g;
	uint64_t t0 = now_ns();

	ck_assert(r != NULL);
	r->rounds = env_rounds();
	r->seed = env_u64("HEAPFS_CRASH_SEED", (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32);
	g.s = r->seed;
	r->dir = tu_tmpdir("crash");
	ck_assert(r->dir != NULL);
	r->buf = cm_xmalloc(HEAP_MAX + LS);
	r->line = cm_xmalloc(LS);
	r->tmp = cm_xmalloc(LS);
	cm_model_init(&r->m, r->where);
	fprintf(stderr, "test_heapstore_crash: HEAPFS_CRASH_SEED=%" PRIu64
		" HEAPFS_CRASH_ROUNDS=%d store %s\n", r->seed, r->rounds, r->dir);

	for (r->round = 1; r->round <= r->rounds; r->round++) {
		struct watch w;
		uint64_t est = r->ready_n ? r->ready_ns_sum / r->ready_n : 20000000;
		bool in_open = r->round > 1 && cm_rng_below(&g, 8) == 0;
		uint64_t delay;
		int fd;
		pid_t pid;

		snprintf(r->where, sizeof(r->where), "round %d (HEAPFS_CRASH_SEED=%" PRIu64 ")",
			 r->round, r->seed);
		/* Kill during exec/open/recovery, or after 0-30 ms of work (0 a quarter
		 * of the time). */
		if (in_open)
			delay = cm_rng_below(&g, est + est / 4);
		else
			delay = cm_rng_below(&g, 4) == 0 ? 0 : cm_rng_below(&g, KILL_AFTER_READY_MAX_NS);
		memset(&w, 0, sizeof(w));
		w.t_fork = now_ns();
		pid = child_spawn("heap", r->dir, r->seed, &fd);
		child_watch(pid, fd, delay, in_open, 0, &w);
		if (w.t_ready && !in_open) {
			r->ready_ns_sum += w.t_ready - w.t_fork;
			r->ready_n++;
		}
		cm_model_replay(&r->m, w.bytes, watch_n(&w));
		r->kills[kill_phase(r, &w)]++;
		free(w.bytes);
		round_check(r);
		if (r->round % 100 == 0)
			fprintf(stderr, "test_heapstore_crash: round %d, %" PRIu64
				" versions sealed, %.1f s\n", r->round, r->m.sealed,
				(double)(now_ns() - t0) / NSEC);
	}
	final_check(r, &g);

	fprintf(stderr, "test_heapstore_crash: %d rounds, %" PRIu64 " versions sealed, %" PRIu64
		" operations returned; in flight at the kill: %" PRIu64 " found done, %" PRIu64
		" found not done; mean time to ready %.1f ms; %.1f s\n", r->rounds, r->m.sealed,
		r->m.ops_done, r->inflight_applied, r->inflight_absent,
		r->ready_n ? (double)r->ready_ns_sum / (double)r->ready_n / 1e6 : 0.0,
		(double)(now_ns() - t0) / NSEC);
	fprintf(stderr, "test_heapstore_crash: operations returned:");
	for (int t = OP_CREATE; t < OP_HEAP_DELETE; t++)
		fprintf(stderr, " %s %" PRIu64 "%s", cm_op_names[t], r->m.done_by_type[t],
			t + 1 < OP_HEAP_DELETE ? "," : "\n");
	fprintf(stderr, "test_heapstore_crash: kills during:");
	for (int p = 0; p < PH_COUNT; p++)
		fprintf(stderr, " %s %" PRIu64 "%s", phase_names[p], r->kills[p],
			p + 1 < PH_COUNT ? "," : "\n");
	run_free(r);
	free(r);
}
END_TEST

/* ---- a store killed while it is being created -------------------------- */

START_TEST(store_creation_killed_store_still_opens)
{
	char *base = tu_tmpdir("crash-create");
	uint64_t seed = env_u64("HEAPFS_CRASH_SEED", (uint64_t)time(NULL));
	struct rng g = { seed };
	uint64_t full = 0, window = 0;
	int tries = 32, in_window = 0, opened_only = 0, created = 0, neither = 0;

	ck_assert(base != NULL);
	for (int i = 0; i <= tries; i++) {
		char dir[4096], current[4200];
		struct watch w;
		hs_store *s = NULL;
		hs_heap *h = NULL;
		bool ready, done = false, targeted = i > 0 && i % 2 == 0;
		uint64_t delay;
		int fd, rc;
		pid_t pid;

		snprintf(dir, sizeof(dir), "%s/s%d", base, i);
		snprintf(current, sizeof(current), "%s/CURRENT", dir);
		/*
		 * Try 0 runs to the end and times it.  Odd tries die anywhere from
		 * the fork to the end; even ones between RocksDB writing CURRENT
		 * and hs_store_open() returning, the window where the database
		 * exists but the store may not be complete.
		 */
		memset(&w, 0, sizeof(w));
		if (i == 0 || targeted)
			w.trigger = current;
		delay = i == 0 ? READY_TIMEOUT_NS :
			targeted ? cm_rng_below(&g, window + window / 8 + 1) :
			cm_rng_below(&g, full + full / 8 + 1);
		w.t_fork = now_ns();
		pid = child_spawn("create", dir, seed, &fd);
		child_watch(pid, fd, delay, !w.trigger, i == 0 ? R_DONE : 0, &w);
		ready = w.t_ready != 0;
		for (size_t k = 0; k < watch_n(&w); k++) {
			struct rec rec;

			watch_rec(&w, k, &rec);
			done |= rec.kind == R_DONE;
		}
		if (i == 0) {
			ck_assert_msg(done && w.t_trigger && w.t_ready >= w.t_trigger,
				      "the creating child never finished");
			full = now_ns() - w.t_fork;
			window = w.t_ready - w.t_trigger;
		}
		free(w.bytes);
		in_window += w.t_trigger && !ready;
		opened_only += ready && !done;
		created += done;
		neither += !ready;

		rc = hs_store_open(&s, dir, NULL);
		ck_assert_msg(rc == 0, "store killed %.2f ms %s (%s) does not open: %d %s "
			      "(HEAPFS_CRASH_SEED=%" PRIu64 ")", (double)delay / 1e6,
			      targeted ? "after its CURRENT appeared" : "into its creation",
			      done ? "heap created" : ready ? "store opened"
						    : "open had not returned",
			      rc, hs_error_last(), seed);
		rc = hs_heap_open(&h, s, HEAP_NAME);
		ck_assert_msg(rc == 0 || (rc == -ENOENT && !done), "heap open: %d %s", rc,
			      hs_error_last());
		if (rc == -ENOENT) {
			ck_assert_int_eq(hs_heap_create(s, HEAP_NAME, NULL), 0);
			ck_assert_int_eq(hs_heap_open(&h, s, HEAP_NAME), 0);
		}
		ck_assert_int_eq(hs_heap_write(h, "x", 1, 0), 1);
		ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
		hs_heap_close(h);
		hs_store_close(s);
	}
	fprintf(stderr, "test_heapstore_crash: store creation takes %.1f ms, %.1f ms of it after "
		"CURRENT appears; killed %d times before open returned (%d of them after CURRENT "
		"appeared), %d after, %d after the heap was made\n", (double)full / 1e6,
		(double)window / 1e6, neither, in_window, opened_only, created);
	tu_rmtree(base);
	free(base);
}
END_TEST

/* ---- a heap deletion killed half way ----------------------------------- */

/* A heap of 2048 lines with three checkpoints: enough entries for a purge
 * of several batches. */
static void victim_make(hs_store *s, uint8_t *buf)
{
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	hs_heap *h = NULL;
	const uint64_t n = 2048;

	p.line_size = LS;
	ck_assert_int_eq(hs_heap_create(s, HEAP_NAME, &p), 0);
	ck_assert_int_eq(hs_heap_open(&h, s, HEAP_NAME), 0);
	for (uint64_t v = 1; v <= 3; v++) {
		for (uint64_t l = 0; l < n; l++)
			tu_fill(buf + l * LS, LS, l, v);
		ck_assert_int_eq(hs_heap_write(h, buf, n * LS, 0), (ssize_t)(n * LS));
		ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	}
	hs_heap_close(h);
}

START_TEST(heap_delete_killed_finished_at_open)
{
	char *dir = tu_tmpdir("crash-hdel");
	uint64_t seed = env_u64("HEAPFS_CRASH_SEED", (uint64_t)time(NULL));
	struct rng g = { seed };
	uint64_t est = 20000000;
	uint8_t *buf = cm_xmalloc(2048 * LS);
	int rounds = env_rounds() / 6, before = 0, resumed = 0, done_n = 0, untouched = 0;

	ck_assert(dir != NULL);
	if (rounds < 8)
		rounds = 8;
	for (int i = 0; i < rounds; i++) {
		hs_store_opts ro = HS_STORE_OPTS_INIT;
		hs_store_usage u;
		struct watch w;
		hs_store *s = NULL;
		hs_heap *h = NULL;
		bool done = false, intent = false;
		uint64_t delay = cm_rng_below(&g, est + est / 4);
		int fd, rc;
		pid_t pid;

		ck_assert_int_eq(hs_store_open(&s, dir, NULL), 0);
		victim_make(s, buf);
		hs_store_close(s);

		memset(&w, 0, sizeof(w));
		w.t_fork = now_ns();
		pid = child_spawn("hdel", dir, seed, &fd);
		child_watch(pid, fd, delay, false, 0, &w);
		for (size_t k = 0; k < watch_n(&w); k++) {
			struct rec rec;

			watch_rec(&w, k, &rec);
			intent |= rec.kind == R_INTENT;
			if (rec.kind == R_DONE) {
				done = true;
				est = rec.val2;
			}
		}
		free(w.bytes);

		/* Read-only first: shows whether the purge was cut short. */
		ro.read_only = 1;
		rc = hs_store_open(&s, dir, &ro);
		ck_assert_msg(rc == 0, "read-only open after the kill: %d %s", rc, hs_error_last());
		rc = hs_heap_open(&h, s, HEAP_NAME);
		ck_assert_msg(rc == -ENOENT || (rc == 0 && !done), "heap open after %s: %d %s",
			      done ? "its deletion returned" : "a kill", rc, hs_error_last());
		ck_assert_int_eq(hs_store_usage_get(s, &u), 0);
		if (rc == 0) {
			untouched++;
			hs_heap_close(h);
		} else if (u.references) {
			resumed++;
		} else {
			before += !done;
			done_n += done;
		}
		hs_store_close(s);

		rc = hs_store_open(&s, dir, NULL);
		ck_assert_msg(rc == 0, "open after the kill: %d %s", rc, hs_error_last());
		rc = hs_heap_open(&h, s, HEAP_NAME);
		if (rc == 0) {
			hs_heap_info info;

			ck_assert_int_eq(hs_heap_info_get(h, &info), 0);
			ck_assert_msg(info.checkpoints == 3 && info.lines_used == 2048 &&
				      info.version == 4, "heap whose deletion was killed early is "
				      "damaged: %" PRIu64 " checkpoints, %" PRIu64
				      " lines, version %"
				      PRIu64, info.checkpoints, info.lines_used, info.version);
			hs_heap_close(h);
			ck_assert_int_eq(hs_heap_delete(s, HEAP_NAME), 0);
		} else {
			ck_assert_int_eq(rc, -ENOENT);
		}
		ck_assert_int_eq(hs_store_usage_get(s, &u), 0);
		ck_assert_msg(u.blobs == 0 && u.references == 0,
			      "round %d (HEAPFS_CRASH_SEED=%" PRIu64 "): after a heap deletion "
			      "killed %.2f ms in (%s) and a reopen, usage says %" PRIu64
			      " blobs, %" PRIu64 " references",
			      i, seed, (double)delay / 1e6,
			      done ? "it had returned" : intent ? "in flight" : "not started",
			      u.blobs, u.references);
		hs_store_close(s);
	}
	fprintf(stderr, "test_heapstore_crash: heap deletion killed %d times: %d before it "
		"took effect, %d mid-purge (finished at open), %d after it returned, %d after "
		"it finished but before it returned\n", rounds, untouched, resumed, done_n, before);
	free(buf);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s;
	TCase *tc_kill, *tc_create, *tc_delete;
	int rounds;

	if (argc > 1 && strcmp(argv[1], CHILD_FLAG) == 0)
		return child_main(argc, argv);
	rounds = env_rounds();
	s = suite_create("test_heapstore_crash");
	/* About 0.4 s a round on 2 cores (two store opens); generous for sanitizers. */
	tc_kill = tcase_create("kill");
	tcase_set_timeout(tc_kill, 120 + 3.0 * rounds);
	tcase_add_test(tc_kill, heap_survives_sigkill_at_random_moments);
	suite_add_tcase(s, tc_kill);
	tc_create = tcase_create("kill during creation");
	tcase_set_timeout(tc_create, 120);
	tcase_add_test(tc_create, store_creation_killed_store_still_opens);
	suite_add_tcase(s, tc_create);
	tc_delete = tcase_create("kill during heap deletion");
	tcase_set_timeout(tc_delete, 120 + 2.0 * rounds);
	tcase_add_test(tc_delete, heap_delete_killed_finished_at_open);
	suite_add_tcase(s, tc_delete);
	return tu_run(s);
}
