/*
 * gc.c - garbage collection rounds and their scheduling (gc.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gc.h"

int gc_run(hs_store *s, bool full, gc_report *out)
{
	int retries = full ? 50 : 0;

	for (;;) {
		hs_gc_stats st;
		int rc = hs_store_gc(s, GC_ROUND, &st);

		if (rc < 0)
			return rc;
		out->rounds++;
		out->candidates += st.candidates;
		out->blobs_freed += st.blobs_freed;
		out->bytes_freed += st.bytes_freed;
		if (st.more)
			continue;
		if (!st.busy || retries-- <= 0) {
			out->busy += st.busy;
			/* --full: the disk gets the bytes back, not only counters. */
			return full ? hs_store_compact(s) : 0;
		}
		/* Writes in flight hold some: they end within milliseconds. */
		nanosleep(&(struct timespec){ 0, 2 * 1000 * 1000 }, NULL);
	}
}

struct gc_daemon {
	hs_store *store;
	unsigned interval_s;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	bool kicked;              /* gc_kick(): a round now */
	gc_report total;          /* protected by lock */
	uint64_t freed_since_trim;   /* the thread's own */
};

static void *gc_loop(void *arg)
{
	gc_daemon *d = arg;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		struct timespec until;
		gc_report r = { 0 };
		hs_store_totals t;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += d->interval_s;
		while (!d->stop && !d->kicked &&
		       pthread_cond_timedwait(&d->wake, &d->lock, &until) != ETIMEDOUT)
			;
		d->kicked = false;
		if (d->stop)
			break;
		pthread_mutex_unlock(&d->lock);
		(void)gc_run(d->store, false, &r);   /* a failed round is retried next time */
		/* Freed keys hold their blob files until RocksDB compacts them:
		 * once an eighth of what is stored (at least 4 MiB) was freed,
		 * trim (O(keys)), so the files of overwritten lines leave. */
		d->freed_since_trim += r.bytes_freed;
		hs_store_totals_get(d->store, &t);
		if (d->freed_since_trim >= GC_TRIM_MIN &&
		    d->freed_since_trim >= t.bytes_stored / 8 && hs_store_trim(d->store) == 0) {
			d->freed_since_trim = 0;
			r.trims++;
		}
		pthread_mutex_lock(&d->lock);
		d->total.rounds += r.rounds;
		d->total.candidates += r.candidates;
		d->total.blobs_freed += r.blobs_freed;
		d->total.bytes_freed += r.bytes_freed;
		d->total.busy += r.busy;
		d->total.trims += r.trims;
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int gc_start(gc_daemon **out, hs_store *s, unsigned interval_s)
{
	gc_daemon *d;

	*out = NULL;
	if (!interval_s)
		return 0;
	if (!(d = calloc(1, sizeof(*d))))
		return hs_errno_set(-ENOMEM, "out of memory");
	d->store = s;
	d->interval_s = interval_s;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->wake, NULL);
	if (pthread_create(&d->thread, NULL, gc_loop, d) != 0) {
		pthread_cond_destroy(&d->wake);
		pthread_mutex_destroy(&d->lock);
		free(d);
		return hs_errno_set(-EAGAIN, "cannot start the GC thread");
	}
	*out = d;
	return 0;
}

void gc_stop(gc_daemon *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void gc_kick(gc_daemon *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->kicked = true;
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->lock);
}

void gc_totals(gc_daemon *d, gc_report *out)
{
	memset(out, 0, sizeof(*out));
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	*out = d->total;
	pthread_mutex_unlock(&d->lock);
}
