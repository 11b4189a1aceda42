/*
 * events.c - each heap's recent events, for its runtime (heapfs's
 * <heap>/events file), and the store's hook that tells the layer above
 * one was posted.
 *
 * A heap object holds a ring of the last HS_EVENT_RING event lines,
 * malloc'd strings, event number i in slot i % HS_EVENT_RING (struct
 * hs_events, heapstore_int.h).  A post formats its line outside any lock,
 * then, under the ring's leaf lock, frees the line its slot held (the event
 * RING numbers older) and takes its number.  Readers hold nothing but a
 * cursor, the number of the next event they want; the ring keeps no
 * per-reader state, so any number of readers cost nothing to posts:
 *
 *   first = next - RING (or 0)            next
 *     |  kept: readable                     |  to come
 *   ..[ e(first) | ... | e(next - 1) ]      |
 *        ^ a cursor below first: "lost (first - cursor)", then e(first)
 *
 * A slot left NULL (no memory for the line, or for the ring itself at the
 * first post) is an event lost: readers count it into their "lost N" line
 * like those the ring dropped, so a reader learns of every event it does
 * not get.
 *
 * The hook (hs_store_event_hook) is called after the post let go of the
 * ring's lock.  A call counts itself in store->event_calls under
 * store->event_lock, so unsetting the hook waits for calls under way: the
 * layer above may then free what the hook uses.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapstore_int.h"

atomic_int hs__test_event_nomem;

void hs_events__init(struct hs_events *e)
{
	pthread_mutex_init(&e->lock, NULL);
	e->ring = NULL;
	e->next = 0;
}

void hs_events__dispose(struct hs_events *e)
{
	if (e->ring) {
		for (size_t i = 0; i < HS_EVENT_RING; i++)
			free(e->ring[i]);
		free(e->ring);
		e->ring = NULL;
	}
	pthread_mutex_destroy(&e->lock);
}

void hs_events__store_init(hs_store *s)
{
	pthread_mutex_init(&s->event_lock, NULL);
	pthread_cond_init(&s->event_idle, NULL);
}

void hs_events__store_dispose(hs_store *s)
{
	pthread_cond_destroy(&s->event_idle);
	pthread_mutex_destroy(&s->event_lock);
}

void hs_store_event_hook(hs_store *s, hs_event_cb fn, void *payload)
{
	pthread_mutex_lock(&s->event_lock);
	s->event_hook = fn;
	s->event_hook_arg = payload;
	while (s->event_calls)
		pthread_cond_wait(&s->event_idle, &s->event_lock);
	pthread_mutex_unlock(&s->event_lock);
}

static void hook_call(hs_store *s, uint64_t heap_id)
{
	hs_event_cb fn;
	void *arg;

	pthread_mutex_lock(&s->event_lock);
	fn = s->event_hook;
	arg = s->event_hook_arg;
	if (fn)
		s->event_calls++;
	pthread_mutex_unlock(&s->event_lock);
	if (!fn)
		return;
	fn(heap_id, arg);
	pthread_mutex_lock(&s->event_lock);
	if (--s->event_calls == 0)
		pthread_cond_broadcast(&s->event_idle);
	pthread_mutex_unlock(&s->event_lock);
}

int hs_event_post(hs_heap *h, const char *fmt, ...)
{
	struct hs_events *e = &h->events;
	char line[HS_EVENT_LINE_MAX], *copy;
	va_list ap;
	bool kept;

	va_start(ap, fmt);
	if (vsnprintf(line, sizeof(line), fmt, ap) < 0)
		line[0] = '\0';
	va_end(ap);
	for (char *p = line; *p; p++) {   /* one line, whatever the message held */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	copy = atomic_load(&hs__test_event_nomem) ? NULL : strdup(line);

	pthread_mutex_lock(&e->lock);
	if (!e->ring)
		e->ring = calloc(HS_EVENT_RING, sizeof(*e->ring));
	kept = e->ring && copy;
	if (e->ring) {
		char **slot = &e->ring[e->next % HS_EVENT_RING];

		free(*slot);
		*slot = copy;   /* NULL: lost, and readers are told */
	} else {
		free(copy);
	}
	e->next++;
	pthread_mutex_unlock(&e->lock);

	hook_call(h->store, h->id);
	if (!kept)
		return hs_errno_set(-ENOMEM, "heap '%s': no memory for the event '%s'",
				    h->rec.name, line);
	return 0;
}

uint64_t hs_event_seq(hs_heap *h)
{
	uint64_t next;

	pthread_mutex_lock(&h->events.lock);
	next = h->events.next;
	pthread_mutex_unlock(&h->events.lock);
	return next;
}

/* Append "lost N\n" to @buf at *@len if it fits: whether it did. */
static bool put_lost(char *buf, size_t cap, size_t *len, uint64_t lost)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "lost %llu\n", (unsigned long long)lost);

	if ((size_t)n > cap - *len)
		return false;
	memcpy(buf + *len, tmp, (size_t)n);
	*len += (size_t)n;
	return true;
}

ssize_t hs_event_read(hs_heap *h, uint64_t *cursor, char *buf, size_t cap)
{
	struct hs_events *e = &h->events;
	uint64_t first, cur, done, lost = 0;
	size_t len = 0;

	if (cap < HS_EVENT_LINE_MAX)
		return hs_errno_set(-EINVAL, "an event buffer of %zu bytes: at least %d",
				    cap, HS_EVENT_LINE_MAX);
	pthread_mutex_lock(&e->lock);
	if (*cursor > e->next) {
		pthread_mutex_unlock(&e->lock);
		return hs_errno_set(-EINVAL, "event cursor %llu is past the newest event (%llu)",
				    (unsigned long long)*cursor,
				    (unsigned long long)e->next);
	}
	first = e->next > HS_EVENT_RING ? e->next - HS_EVENT_RING : 0;
	cur = done = *cursor;
	if (cur < first) {
		lost = first - cur;
		cur = first;
	}
	/* done: the cursor once what is in @buf is read; lost events are
	 * passed only with the line that says so. */
	for (; cur < e->next; cur++) {
		const char *ev = e->ring ? e->ring[cur % HS_EVENT_RING] : NULL;
		size_t n;

		if (!ev) {
			lost++;
			continue;
		}
		if (lost) {
			if (!put_lost(buf, cap, &len, lost))
				break;
			lost = 0;
			done = cur;
		}
		n = strlen(ev);
		if (n + 1 > cap - len)
			break;
		memcpy(buf + len, ev, n);
		buf[len + n] = '\n';
		len += n + 1;
		done = cur + 1;
	}
	if (lost && cur == e->next && put_lost(buf, cap, &len, lost))
		done = cur;
	*cursor = done;
	pthread_mutex_unlock(&e->lock);
	return (ssize_t)len;
}
