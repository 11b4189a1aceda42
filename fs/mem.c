/*
 * mem.c - the mount's memory budget: the line cache (cache=), shared by
 * its heaps under pool/'s policy (pool_budget, the cache's memory policy).
 * Each heap's memory_reserve, memory_quota and shares are its properties
 * (xattrs user.heapfs.*, set by the mount's owner), told to the budget at
 * mount and when they change; a reservation the cache cannot hold is
 * refused when set (ENOSPC) and, at a mount with a smaller cache=, left
 * out with a warning.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "fs_int.h"

struct mem_settings {
	uint64_t reserve, quota;
	uint32_t shares;
};

static uint64_t prop_u64(hs_heap *h, const char *name)
{
	char v[HS_PROP_VALUE_MAX + 1];
	uint64_t x = 0;

	if (hs_heap_prop_get(h, name, v, sizeof(v)) < 0 || cmd_size_parse(v, &x) < 0)
		return 0;
	return x;
}

static void settings_get(hs_heap *h, struct mem_settings *m)
{
	m->reserve = prop_u64(h, "memory_reserve");
	m->quota = prop_u64(h, "memory_quota");
	m->shares = (uint32_t)prop_u64(h, "shares");
}

static uint64_t heap_id(hs_heap *h)
{
	hs_heap_info hi;

	return hs_heap_info_get(h, &hi) == 0 ? hi.id : 0;
}

/* Tell the budget every heap's settings; forget heaps that are gone. */
static int load(struct fs *fs, bool warn)
{
	hs_heap_info *hs = NULL;
	pool_budget_heap *known = NULL;
	pool_state st;
	size_t n = 0, nk = 0;
	int rc;

	if ((rc = hs_heap_list(fs->store, &hs, &n)) < 0 ||
	    (rc = pool_budget_get(fs->mem, &st, &known, &nk)) < 0)
		goto out;
	for (size_t k = 0; k < nk; k++) {
		size_t i = 0;

		while (i < n && hs[i].id != known[k].id)
			i++;
		if (i == n)
			pool_budget_forget(fs->mem, known[k].id);
	}
	for (size_t i = 0; i < n; i++) {
		struct mem_settings m;
		hs_heap *h;

		if (hs_heap_open(&h, fs->store, hs[i].name) < 0)
			continue;   /* deleted meanwhile */
		settings_get(h, &m);
		hs_heap_close(h);
		if (pool_budget_set(fs->mem, hs[i].id, m.reserve, m.quota, m.shares) < 0 &&
		    warn) {
			fprintf(stderr, "heapfs: heap '%s': its memory reservation of %" PRIu64
				" bytes does not fit cache=%" PRIu64 " beside the others: "
				"not held\n", hs[i].name, m.reserve, fs->opts.cache_bytes);
			(void)pool_budget_set(fs->mem, hs[i].id, 0, m.quota, m.shares);
		}
	}
out:
	free(hs);
	free(known);
	return rc;
}

int fs_mem_start(struct fs *fs)
{
	uint8_t split[4];
	int rc;

	if (!fs->opts.cache_bytes)
		return 0;   /* no cache: no memory to share */
	for (int i = 0; i < 4; i++)
		split[i] = (uint8_t)fs->opts.split[i];
	if ((rc = pool_budget_new(&fs->mem, fs->opts.cache_bytes, split, fs->opts.cap_pct)) < 0 ||
	    (rc = load(fs, true)) < 0 || (rc = pool_budget_govern_cache(fs->mem, fs->store)) < 0)
		return rc;
	return 0;
}

void fs_mem_stop(struct fs *fs)
{
	pool_budget_free(fs->mem);
	fs->mem = NULL;
}

void fs_mem_refresh(struct fs *fs)
{
	if (fs->mem)
		(void)load(fs, false);
}

void fs_mem_forget(struct fs *fs, uint64_t id)
{
	if (fs->mem && id)
		pool_budget_forget(fs->mem, id);
}

int fs_mem_set(struct fs *fs, hs_heap *h, const char *prop, const char *val)
{
	struct mem_settings m, was;
	uint64_t id = heap_id(h), x = 0;
	int rc;

	settings_get(h, &m);
	was = m;
	if (*val && cmd_size_parse(val, &x) < 0)
		return -EINVAL;
	if (strcmp(prop, "memory_reserve") == 0)
		m.reserve = x;
	else if (strcmp(prop, "memory_quota") == 0)
		m.quota = x;
	else
		m.shares = (uint32_t)x;
	if (fs->mem && (rc = pool_budget_set(fs->mem, id, m.reserve, m.quota, m.shares)) < 0) {
		if (rc != -ENOSPC)
			return rc;
		fs_mem_refresh(fs);   /* a deleted heap's reservation may still count */
		if ((rc = pool_budget_set(fs->mem, id, m.reserve, m.quota, m.shares)) < 0)
			return rc;
	}
	if ((rc = hs_heap_prop_set(h, prop, val)) < 0) {
		if (fs->mem)
			(void)pool_budget_set(fs->mem, id, was.reserve, was.quota, was.shares);
		return rc;
	}
	/* A quota below what it holds: it gives back at once. */
	if (m.quota && fs->mem) {
		int64_t held = hs_heap_cache_trim(h, m.quota);

		if (held < 0)
			return (int)held;
	}
	return 0;
}

bool fs_mem_heap(struct fs *fs, hs_heap *h, pool_budget_heap *out)
{
	memset(out, 0, sizeof(*out));
	pool_heap_init(&out->h);
	return fs->mem && pool_budget_heap_get(fs->mem, heap_id(h), out);
}
