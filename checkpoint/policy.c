/*
 * policy.c - the one path every checkpoint takes (ckpt_take): one at a
 * time per heap, a space check before anything is written, the seal,
 * retention (keep), the outcome record, and the outcome as the heap's
 * event ("checkpoint N" or "checkpoint-failed <why>", hs_event_post).
 *
 * One at a time: a request marks its heap's entry busy and seals; a
 * second request for the same heap waits on policy->idle until the first
 * clears it, then takes its own checkpoint.  heapstore would serialize two
 * seals anyway (its heap lock), but the retention that follows a seal and
 * the recording and posting of its outcome belong to that checkpoint, so
 * the next one must not start in between: otherwise its outcome could be
 * recorded or posted first, or two prunes could each delete the other's
 * "oldest".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "checkpoint_int.h"

uint64_t ckpt__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct ckpt_heap *ckpt__heap_get(ckpt_policy *p, uint64_t id)
{
	struct ckpt_heap *e;

	for (e = p->heaps; e; e = e->next)
		if (e->id == id)
			return e;
	if (!(e = calloc(1, sizeof(*e))))
		return NULL;
	e->id = id;
	e->seen = true;   /* a rescan that listed heaps before it was made keeps it */
	e->next = p->heaps;
	p->heaps = e;
	return e;
}

int ckpt_outcome_line(const ckpt_outcome *o, char *buf, size_t cap)
{
	if (o->rc == 0)
		return snprintf(buf, cap, "checkpoint %llu", (unsigned long long)o->version);
	return snprintf(buf, cap, "checkpoint-failed %s",
			o->error[0] ? o->error : strerror(-o->rc));
}

/* The outcome as the heap's event (its line, ckpt_outcome_line). */
static void post_outcome(hs_heap *h, const ckpt_outcome *o)
{
	char line[HS_EVENT_LINE_MAX];

	ckpt_outcome_line(o, line, sizeof(line));
	(void)hs_event_post(h, "%s", line);   /* lost for memory: readers see "lost 1" */
}

/*
 * Refuse a checkpoint the disk cannot hold before writing any of it: a
 * write RocksDB cannot finish stops the whole store until it is reopened
 * (heapstore/db.c), which would leave the live heap unwritable.  The seal
 * writes the heap's dirty cached lines, at most their raw size (zstd
 * shrinks them), once into the write-ahead log and once into table files.
 */
static int space_check(ckpt_policy *p, hs_heap *h)
{
	struct statvfs v;
	hs_heap_info hi;
	uint64_t avail, need;
	int rc;

	if (!p->store_dir)
		return 0;
	if ((rc = hs_heap_info_get(h, &hi)) < 0)
		return rc;
	if (statvfs(p->store_dir, &v) != 0)
		return 0;   /* cannot tell: the store will say */
	avail = (uint64_t)v.f_bavail * v.f_frsize;
	need = 2 * hi.lines_dirty * hi.line_size + CKPT_SPACE_HEADROOM;
	if (avail >= need)
		return 0;
	return hs_errno_set(-ENOSPC, "heap '%s': no room for a checkpoint: %llu dirty lines "
			    "need up to %llu bytes free in %s, %llu are", hi.name,
			    (unsigned long long)hi.lines_dirty, (unsigned long long)need,
			    p->store_dir, (unsigned long long)avail);
}

/*
 * Retention: with keep = N > 0, delete the oldest unlabelled checkpoints
 * beyond the newest N.  A checkpoint someone else deleted meanwhile is
 * not an error.
 */
static int prune(hs_heap *h, uint64_t *pruned)
{
	char val[HS_PROP_VALUE_MAX + 1];
	hs_version_info *arr = NULL;
	size_t n = 0, unlabelled = 0;
	uint32_t keep;
	ssize_t r;
	int rc;

	r = hs_heap_prop_get(h, CKPT_PROP_KEEP, val, sizeof(val));
	if (r == -ENODATA)
		return 0;
	if (r < 0)
		return (int)r;
	if (ckpt_keep_parse(val, &keep) < 0)
		return hs_errno_set(-EINVAL, "keep '%s' is not a count", val);
	if (keep == 0)
		return 0;
	if ((rc = hs_version_list(h, &arr, &n)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		unlabelled += !arr[i].label[0];
	for (size_t i = 0; i < n && unlabelled > keep; i++) {   /* oldest first */
		if (arr[i].label[0])
			continue;
		rc = hs_version_delete(h, arr[i].version);
		if (rc < 0 && rc != -ENOENT)
			break;
		rc = 0;
		unlabelled--;
		(*pruned)++;
	}
	free(arr);
	return rc;
}

/*
 * Make heap @h busy (one checkpoint or retention at a time), waiting for
 * the one under way if @wait, else returning 1 at once if there is one.
 * 0: busy now, its entry in *@out and its info in *@hi; or an errno.
 */
static int heap_claim(ckpt_policy *p, hs_heap *h, bool wait, struct ckpt_heap **out,
		      hs_heap_info *hi)
{
	struct ckpt_heap *e;
	int rc;

	if ((rc = hs_heap_info_get(h, hi)) < 0)
		return rc;
	pthread_mutex_lock(&p->lock);
	if (!(e = ckpt__heap_get(p, hi->id))) {
		pthread_mutex_unlock(&p->lock);
		return hs_errno_set(-ENOMEM, "out of memory");
	}
	if (e->busy && !wait) {
		pthread_mutex_unlock(&p->lock);
		return 1;
	}
	e->users++;
	while (e->busy)
		pthread_cond_wait(&p->idle, &p->lock);
	e->busy = true;
	pthread_mutex_unlock(&p->lock);
	*out = e;
	return 0;
}

static void heap_release(ckpt_policy *p, struct ckpt_heap *e)
{
	pthread_mutex_lock(&p->lock);
	e->busy = false;
	e->users--;
	pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->lock);
}

int ckpt_take(ckpt_policy *p, hs_heap *h, const char *label, ckpt_why why,
	      uint64_t *version_out)
{
	struct ckpt_heap *e = NULL;   /* set when heap_claim() returns 0 (-O3 cannot tell) */
	hs_heap_info hi;
	ckpt_outcome o;
	uint64_t v = 0, pruned = 0;
	int rc, prune_rc = 0;

	if ((rc = heap_claim(p, h, true, &e, &hi)) < 0)
		return rc;

	/* A migration's own: the one kind a heap bound elsewhere takes. */
	if ((rc = space_check(p, h)) == 0 &&
	    (rc = why == CKPT_MIGRATE ? hs_version_seal_handover(h, &v) :
		  hs_version_seal(h, label && *label ? label : NULL, &v)) == 0)
		prune_rc = prune(h, &pruned);

	pthread_mutex_lock(&p->lock);
	e->last.seq++;
	e->last.rc = rc;
	e->last.version = rc == 0 ? v : 0;
	e->last.why = why;
	e->last.pruned = pruned;
	e->last.prune_rc = prune_rc;
	e->last.error[0] = '\0';
	if (rc < 0) {
		e->last.failed++;
		snprintf(e->last.error, sizeof(e->last.error), "%s", hs_error_last());
	} else {
		e->last.taken++;
	}
	o = e->last;
	pthread_mutex_unlock(&p->lock);

	/* Every recorded outcome goes to the heap's events, whoever asked,
	 * while the heap is still busy: the next checkpoint's outcome cannot
	 * be posted before this one. */
	post_outcome(h, &o);
	heap_release(p, e);

	if (p->opts.on_outcome)
		p->opts.on_outcome(hi.id, &o, p->opts.payload);
	if (rc < 0)   /* the caller's message, whatever the hook did */
		return hs_errno_set(rc, "%s", o.error[0] ? o.error : strerror(-rc));
	if (version_out)
		*version_out = v;
	return 0;
}

int ckpt_retain(ckpt_policy *p, hs_heap *h, uint64_t *pruned)
{
	struct ckpt_heap *e = NULL;   /* as in ckpt_take() */
	hs_heap_info hi;
	int rc;

	*pruned = 0;
	if ((rc = heap_claim(p, h, false, &e, &hi)) != 0)
		return rc > 0 ? 0 : rc;   /* busy: its checkpoint prunes as it ends */
	rc = prune(h, pruned);
	heap_release(p, e);
	return rc;
}

int ckpt_last(ckpt_policy *p, uint64_t heap_id, ckpt_outcome *out)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&p->lock);
	for (struct ckpt_heap *e = p->heaps; e; e = e->next) {
		if (e->id == heap_id && e->last.seq) {
			*out = e->last;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}
