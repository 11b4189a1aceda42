/*
 * sched.c - the policy's life and its scheduler thread: ckpt_start(), the
 * automatic checkpoints, ckpt_stop().
 *
 * The thread keeps an open handle on each heap whose autocheckpoint is on
 * (found by a rescan: at start, when ckpt_settings_changed() says so, and
 * every CKPT_RESCAN_MS) and looks at each every tick:
 *
 *   dirty  = lines dirty in the cache (hs_heap_info, no I/O)
 *          + lines the working version changed in the store
 *            (hs_heap_changed_lines, a scan that stops at the bound)
 *   due    = dirty * line_size >= dirty bound
 *         or (interval since the latest checkpoint has passed
 *             and the heap changed since: dirty lines, size or state size)
 *
 * A heap that is due gets ckpt_take(CKPT_AUTO), on this thread: one heap's
 * checkpoint delays the others' by its length, never more.  The interval
 * counts from the heap's latest checkpoint however it was taken (its
 * created time), so a manual checkpoint restarts it too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint_int.h"

#define CKPT_RESCAN_MS 10000
#define CKPT_BACKOFF_MIN_MS 1000
#define CKPT_BACKOFF_MAX_MS 60000

/* The heap's autocheckpoint bounds; a value it cannot have had is "off". */
static void auto_read(hs_heap *h, ckpt_auto *out)
{
	char val[HS_PROP_VALUE_MAX + 1];

	memset(out, 0, sizeof(*out));
	if (hs_heap_prop_get(h, CKPT_PROP_AUTO, val, sizeof(val)) >= 0)
		(void)ckpt_auto_parse(val, out);
}

static bool auto_on(const ckpt_auto *a)
{
	return a->interval_ms || a->dirty_bytes;
}

/* Read every heap's autocheckpoint again; drop what is gone. */
static void rescan(ckpt_policy *p)
{
	struct ckpt_heap *e, **pp, *dead = NULL;
	hs_heap_info *arr = NULL;
	size_t n = 0;

	if (hs_heap_list(p->store, &arr, &n) < 0)
		return;   /* the next rescan tries again */
	pthread_mutex_lock(&p->lock);
	for (e = p->heaps; e; e = e->next)
		e->seen = false;
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < n; i++) {
		ckpt_auto a;
		hs_heap *h;

		if (hs_heap_open(&h, p->store, arr[i].name) < 0)
			continue;   /* deleted meanwhile */
		auto_read(h, &a);
		pthread_mutex_lock(&p->lock);
		e = ckpt__heap_get(p, arr[i].id);
		pthread_mutex_unlock(&p->lock);
		if (!e) {
			hs_heap_close(h);
			continue;
		}
		e->seen = true;
		if (!auto_on(&a)) {
			hs_heap_close(h);
			hs_heap_close(e->sched);
			e->sched = NULL;
			continue;
		}
		if (e->sched) {
			hs_heap_close(h);
		} else {
			e->sched = h;
			e->base_latest = UINT64_MAX;   /* read it at the next look */
		}
		if (memcmp(&a, &e->cfg, sizeof(a)) != 0) {
			e->cfg = a;
			e->retry_ns = 0;
			e->backoff_ms = 0;
		}
	}
	free(arr);
	/* Heaps that are gone: their entries go once no checkpoint uses them. */
	pthread_mutex_lock(&p->lock);
	for (pp = &p->heaps; (e = *pp);) {
		if (!e->seen && !e->users) {
			*pp = e->next;
			e->next = dead;
			dead = e;
		} else {
			pp = &e->next;
		}
	}
	pthread_mutex_unlock(&p->lock);
	while ((e = dead)) {
		dead = e->next;
		hs_heap_close(e->sched);
		free(e);
	}
}

/* The checkpoint the bounds count from, when it is a new one. */
static void base_refresh(struct ckpt_heap *e, const hs_heap_info *hi, uint64_t now)
{
	hs_version_info vi;
	struct timespec ts;
	uint64_t created = hi->created_ns, real, age;

	e->base_latest = hi->latest;
	e->base_size = 0;
	e->base_state_size = 0;
	if (hi->latest && hs_version_info_get(e->sched, hi->latest, &vi) == 0) {
		created = vi.created_ns;
		e->base_size = vi.size_bytes;
		e->base_state_size = vi.state_size;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	real = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	age = real > created ? real - created : 0;
	e->base_ns = now > age ? now - age : 0;
}

/* Is heap @e due for an automatic checkpoint? */
static bool due(struct ckpt_heap *e, const hs_heap_info *hi, uint64_t now)
{
	uint64_t dirty = hi->lines_dirty, more = 0;

	if (e->cfg.dirty_bytes) {
		uint64_t want = (e->cfg.dirty_bytes + hi->line_size - 1) / hi->line_size;

		if (dirty < want && hs_heap_changed_lines(e->sched, want - dirty, &more) == 0)
			dirty += more;
		if (dirty >= want)
			return true;
	}
	if (!e->cfg.interval_ms || now - e->base_ns < e->cfg.interval_ms * 1000000u)
		return false;
	if (dirty || hi->size_bytes != e->base_size || hi->state_size != e->base_state_size)
		return true;
	return hs_heap_changed_lines(e->sched, 1, &more) == 0 && more > 0;
}

static void look(ckpt_policy *p, struct ckpt_heap *e)
{
	uint64_t now = ckpt__now_ns();
	hs_heap_info hi;

	if (hs_heap_info_get(e->sched, &hi) < 0) {   /* deleted */
		hs_heap_close(e->sched);
		e->sched = NULL;
		return;
	}
	if (hi.suspended || now < e->retry_ns)
		return;
	if (hi.latest != e->base_latest)
		base_refresh(e, &hi, now);
	if (!due(e, &hi, now))
		return;
	if (ckpt_take(p, e->sched, NULL, CKPT_AUTO, NULL) == 0) {
		e->backoff_ms = 0;
		e->retry_ns = 0;
		return;
	}
	/* Its outcome is recorded; a full disk is not asked again every tick. */
	e->backoff_ms = e->backoff_ms ? e->backoff_ms * 2 : CKPT_BACKOFF_MIN_MS;
	if (e->backoff_ms > CKPT_BACKOFF_MAX_MS)
		e->backoff_ms = CKPT_BACKOFF_MAX_MS;
	e->retry_ns = ckpt__now_ns() + e->backoff_ms * 1000000u;
}

static void *sched_main(void *arg)
{
	ckpt_policy *p = arg;
	uint64_t next_rescan = 0;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct ckpt_heap *e;
		struct timespec until;
		uint64_t now = ckpt__now_ns(), wait_ms = CKPT_RESCAN_MS;
		bool any = false;

		if (p->rescan || now >= next_rescan) {
			p->rescan = false;
			pthread_mutex_unlock(&p->lock);
			rescan(p);
			next_rescan = ckpt__now_ns() + CKPT_RESCAN_MS * 1000000ULL;
			pthread_mutex_lock(&p->lock);
		}
		e = p->heaps;
		pthread_mutex_unlock(&p->lock);
		/* Only this thread unlinks entries: the walk needs no lock. */
		for (; e; e = e->next) {
			if (e->sched) {
				any = true;
				look(p, e);
			}
		}
		if (any)
			wait_ms = p->opts.tick_ms;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)(wait_ms / 1000);
		until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&p->lock);
		while (!p->stop && !p->rescan &&
		       pthread_cond_timedwait(&p->wake, &p->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void policy_free(ckpt_policy *p)
{
	struct ckpt_heap *e;

	while ((e = p->heaps)) {
		p->heaps = e->next;
		hs_heap_close(e->sched);
		free(e);
	}
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->lock);
	free(p->store_dir);
	free(p);
}

int ckpt_start(ckpt_policy **out, hs_store *s, const ckpt_opts *opts)
{
	ckpt_policy *p;

	*out = NULL;
	if (!(p = calloc(1, sizeof(*p))))
		return hs_errno_set(-ENOMEM, "out of memory");
	p->store = s;
	if (opts)
		p->opts = *opts;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->idle, NULL);
	pthread_cond_init(&p->wake, NULL);
	if (opts && opts->store_dir && !(p->store_dir = strdup(opts->store_dir))) {
		policy_free(p);
		return hs_errno_set(-ENOMEM, "out of memory");
	}
	p->opts.store_dir = p->store_dir;
	if (p->opts.tick_ms) {
		if (pthread_create(&p->thread, NULL, sched_main, p) != 0) {
			policy_free(p);
			return hs_errno_set(-EAGAIN, "cannot start the checkpoint thread");
		}
		p->thread_running = true;
	}
	*out = p;
	return 0;
}

void ckpt_stop(ckpt_policy *p)
{
	if (!p)
		return;
	if (p->thread_running) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_broadcast(&p->wake);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
	}
	policy_free(p);
}

void ckpt_settings_changed(ckpt_policy *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->rescan = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
}
