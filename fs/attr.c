/*
 * attr.c - what each node looks like: stat(2) attributes, entry replies,
 * and the text of generated files (stat, .heapfs/pool, .heapfs/version).
 *
 * Attributes and entries time out at once: the tree changes through
 * heapctl and other processes' mkdir/rmdir, and a stale size or a cached
 * name for a deleted checkpoint would be wrong; heap content itself is
 * kept in the page cache (see file.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_int.h"

static void ts_set(struct timespec *ts, uint64_t ns)
{
	ts->tv_sec = (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}

/* Text into a malloc'd buffer, appended by printf. */
struct text {
	char *buf;
	size_t len, cap;
	int rc;
};

static void tprintf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprintf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->rc)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0,
			      fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->rc = -EIO;
			return;
		}
		if (t->buf && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		char *grown = realloc(t->buf, t->cap = t->cap * 2 + (size_t)n + 256);

		if (!grown) {
			t->rc = -ENOMEM;
			return;
		}
		t->buf = grown;
	}
}

/* @obj's integer members as "PREFIXkey: value" lines, and its objects'
 * as "PREFIXkey_member: value" (the ledger's and the sub-pools' members
 * without their own name: memory_gl, memory_gl_size). */
static void json_lines(struct text *t, const char *prefix, json_t *obj)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		if (json_is_integer(v)) {
			tprintf(t, "%s%s: %lld\n", prefix, key, (long long)json_integer_value(v));
		} else if (json_is_object(v)) {
			char sub[64];

			if (strcmp(key, "ledger") == 0 || strcmp(key, "subpools") == 0)
				snprintf(sub, sizeof(sub), "%s", prefix);
			else
				snprintf(sub, sizeof(sub), "%s%s_", prefix, key);
			json_lines(t, sub, v);
		}
	}
}

/* Heap @id's part of budget @b (@balloons: whose balloon to show, or
 * NULL), in its stat as @prefix keys (memory_reserve, ..., memory_gl ...). */
static void budget_heap_text(struct text *t, pool_budget *b, pool_budget *balloons,
			     const char *prefix, uint64_t id)
{
	pool_budget_heap e;
	json_t *j;

	if (!b)
		return;
	pool_budget_heap_get(b, id, &e);
	if (!(j = cmd_pool_heap_json(balloons, &e))) {
		t->rc = -ENOMEM;
		return;
	}
	json_lines(t, prefix, j);
	json_decref(j);
}

/*
 * A budget in .heapfs/pool, from the figures heapctl pool shows, as
 * @prefix keys: memory_size, memory_used, ..., each sub-pool's
 * memory_gl_size, _level, _low, then per heap a line "memory_heap: NAME
 * reserve=.. quota=.. shares=.. used=.. owed=.. idle=.. collateral=..
 * gl=.. gp=.. le=.. lp=..".
 */
static void budget_pool_text(struct text *t, const hs_heap_info *hs, size_t nh,
			     pool_budget *b, pool_budget *balloons, const char *prefix)
{
	json_t *j, *h, *v;
	const char *key;
	size_t i;

	if (!b)
		return;
	if (!(j = cmd_pool_budget_json(hs, nh, b, balloons, NULL))) {
		t->rc = -ENOMEM;
		return;
	}
	json_lines(t, prefix, j);
	json_array_foreach(json_object_get(j, "heaps"), i, h) {
		tprintf(t, "%sheap: %s", prefix, json_string_value(json_object_get(h, "heap")));
		json_object_foreach(h, key, v) {
			if (json_is_integer(v))
				tprintf(t, " %s=%lld", key, (long long)json_integer_value(v));
		}
		json_object_foreach(json_object_get(h, "ledger"), key, v)
			tprintf(t, " %s=%lld", key, (long long)json_integer_value(v));
		tprintf(t, "\n");
	}
	json_decref(j);
}

int fs_text_make(struct fs *fs, struct fs_node *n, char **out, size_t *len)
{
	struct text t = { 0 };
	hs_heap_info hi;
	hs_version_info vi;
	hs_cache_stats cs;
	hs_store_totals tot;
	hs_version_space sp;
	uint64_t used;
	int rc = 0;

	switch (n->kind) {
	case FS_VERSION_FILE:
		tprintf(&t, "heapfs %s\nstore format %d\n", HEAPFS_VERSION, HS_FORMAT_VERSION);
		break;
	case FS_POOL:
		if ((rc = hs_store_space_get(fs->store, &used)) < 0)
			break;
		hs_store_totals_get(fs->store, &tot);
		if (fs->opts.pool_bytes)
			tprintf(&t, "budget: %llu\n", (unsigned long long)fs->opts.pool_bytes);
		else
			tprintf(&t, "budget: unlimited\n");
		/* used: what df says, the blobs still referenced (after dedup and
		 * compression); garbage: blobs GC has yet to reclaim; disk: the
		 * store's files, garbage and RocksDB's own overhead included. */
		tprintf(&t, "blobs: %llu\ngarbage: %llu\ngarbage_blobs: %llu\ndisk: %llu\n"
			"charged: %llu\nreserved_unused: %llu\n",
			(unsigned long long)tot.blobs, (unsigned long long)tot.bytes_garbage,
			(unsigned long long)tot.blobs_garbage, (unsigned long long)used,
			(unsigned long long)tot.bytes_charged,
			(unsigned long long)tot.bytes_reserved_unused);
		used = tot.bytes_stored;
		tprintf(&t, "used: %llu\ncache: %llu\nsplit: %u:%u:%u:%u\ncap: %u\n",
			(unsigned long long)used, (unsigned long long)fs->opts.cache_bytes,
			fs->opts.split[0], fs->opts.split[1], fs->opts.split[2],
			fs->opts.split[3], fs->opts.cap_pct);
		{
			gc_report gr;

			gc_totals(fs->gc, &gr);
			tprintf(&t, "gc: %u\ngc_rounds: %llu\ngc_blobs_freed: %llu\n"
				"gc_bytes_freed: %llu\ngc_trims: %llu\n", fs->opts.gc_s,
				(unsigned long long)gr.rounds,
				(unsigned long long)gr.blobs_freed,
				(unsigned long long)gr.bytes_freed,
				(unsigned long long)gr.trims);
		}
		tprintf(&t, "space_reclaim_passes: %llu\nspace_reclaim_pruned: %llu\n",
			(unsigned long long)fs_space_passes(fs),
			(unsigned long long)fs_space_pruned(fs));
		if ((rc = hs_store_cache_stats(fs->store, &cs)) < 0)
			break;
		tprintf(&t, "cache_allocated: %llu\ncache_spare: %llu\ncache_used: %llu\ncache_dirty: %llu\n"
			"cache_block: %llu\ncache_blocks_grown: %llu\ncache_blocks_returned: %llu\n"
			"cache_hits: %llu\ncache_misses: %llu\ncache_evictions: %llu\n"
			"cache_idle_evictions: %llu\nflushed_lines: %llu\nflush_batches: %llu\n",
			(unsigned long long)cs.allocated_bytes, (unsigned long long)cs.spare_bytes,
			(unsigned long long)cs.used_bytes,
			(unsigned long long)cs.dirty_bytes, (unsigned long long)cs.block_bytes,
			(unsigned long long)cs.blocks_grown, (unsigned long long)cs.blocks_returned,
			(unsigned long long)cs.hits, (unsigned long long)cs.misses,
			(unsigned long long)cs.evictions, (unsigned long long)cs.idle_evictions,
			(unsigned long long)cs.lines_flushed, (unsigned long long)cs.flush_batches);
		/* The space budget's ledger (space_size is its budget: pool=, or
		 * the disk's size at mount), then the memory budget. */
		{
			hs_heap_info *hs = NULL;
			size_t nh = 0;

			if ((rc = hs_heap_list(fs->store, &hs, &nh)) < 0)   /* once, for both */
				break;
			budget_pool_text(&t, hs, nh, fs->space, NULL, "space_");
			if (fs->opts.cache_bytes)   /* no cache: no memory budget to show */
				budget_pool_text(&t, hs, nh, fs->mem, fs->mem, "memory_");
			free(hs);
		}
		break;
	case FS_STAT:
		/* lines_used counts the store: what the cache holds goes there first. */
		if ((!fs_node_frozen(n) && (rc = hs_heap_flush(n->heap)) < 0) ||
		    (rc = hs_heap_info_get(n->heap, &hi)) < 0)
			break;
		if (!fs_node_frozen(n)) {
			tprintf(&t, "size: %llu\nline_size: %u\nlines_used: %llu\n"
				"lines_dirty: %llu\nlines_resident: %llu\n"
				"bytes_logical: %llu\nversion: %llu\ncheckpoints: %llu\n"
				"state: %s\nstate_size: %llu\nreserve: %llu\nquota: %llu\n"
				"cache_hits: %llu\ncache_misses: %llu\nevictions: %llu\n"
				"owner: %u\ngroup: %u\nmode: %04o\nreferenced: %llu\nunique: %llu\n"
				"charged: %llu\noverdraft: %llu\nheld: %llu\nlease: %s\n",
				(unsigned long long)hi.size_bytes, hi.line_size,
				(unsigned long long)hi.lines_used,
				(unsigned long long)hi.lines_dirty,
				(unsigned long long)hi.lines_resident,
				(unsigned long long)(hi.lines_used * hi.line_size),
				(unsigned long long)hi.version,
				(unsigned long long)hi.checkpoints, cmd_heap_state(&hi),
				(unsigned long long)hi.state_size,
				(unsigned long long)hi.reserve_bytes,
				(unsigned long long)hi.quota_bytes,
				(unsigned long long)hi.cache_hits,
				(unsigned long long)hi.cache_misses,
				(unsigned long long)hi.cache_evictions,
				hi.uid, hi.gid, hi.mode,
				(unsigned long long)hi.bytes_referenced,
				(unsigned long long)hi.bytes_unique,
				(unsigned long long)hi.bytes_charged,
				(unsigned long long)hi.bytes_overdraft,
				(unsigned long long)hi.bytes_held,
				hi.lease == HS_LEASE_HELD ? "held" : hi.lease == HS_LEASE_EXPIRED ?
				"expired" : "migrated");
			if (hi.lease != HS_LEASE_HELD && *hi.moved_to)
				tprintf(&t, "moved_to: %s\n", hi.moved_to);
			budget_heap_text(&t, fs->mem, fs->mem, "memory_", hi.id);
			budget_heap_text(&t, fs->space, NULL, "space_", hi.id);
			break;
		}
		if ((rc = hs_version_info_get(n->heap, n->version, &vi)) < 0 ||
		    (rc = hs_version_space_get(n->heap, n->version, &sp)) < 0)
			break;
		tprintf(&t, "version: %llu\nparent: %llu\ncreated: %llu.%09llu\n"
			"label: %s\nlines: %llu\nbytes: %llu\nsize: %llu\nlines_used: %llu\n"
			"state_size: %llu\nheld: %llu\nunique: %llu\nshared: %llu\n"
			"freed_if_deleted: %llu\n",
			(unsigned long long)vi.version, (unsigned long long)vi.parent,
			(unsigned long long)(vi.created_ns / 1000000000u),
			(unsigned long long)(vi.created_ns % 1000000000u), vi.label,
			(unsigned long long)vi.lines_changed,
			(unsigned long long)vi.bytes_changed,
			(unsigned long long)vi.size_bytes,
			(unsigned long long)vi.lines_used,
			(unsigned long long)vi.state_size,
			(unsigned long long)sp.bytes_held, (unsigned long long)sp.bytes_unique,
			(unsigned long long)sp.bytes_shared, (unsigned long long)sp.bytes_freed);
		break;
	default:
		return -EINVAL;
	}
	if (rc == 0)
		rc = t.rc;
	if (rc < 0) {
		free(t.buf);
		return rc;
	}
	*out = t.buf;
	*len = t.len;
	return 0;
}

/*
 * The permission bits of node @n of a heap whose mode is @mode (a
 * directory's rwx bits): its directories take them (read-only under
 * checkpoints/: no w), its files their r and w bits (read-only views: r
 * only), so the kernel grants exactly what the heap's mode says.
 */
static mode_t heap_node_perm(const struct fs_node *n, uint32_t mode)
{
	const bool frozen = fs_node_frozen(n);

	switch (n->kind) {
	case FS_HEAP_DIR:
	case FS_LINES:
	case FS_CKPTS:
	case FS_CKPT:
		return frozen || n->kind == FS_CKPT ? mode & 0555 : mode & 0777;
	case FS_STAT:
	case FS_EVENTS:
		return mode & 0444;
	case FS_LATEST:
	case FS_LABEL:
		return 0777;
	default:
		return frozen ? mode & 0444 : mode & 0666;
	}
}

uint32_t fs_heap_mode_from(struct fs_node *n, mode_t mode)
{
	switch (n->kind) {
	case FS_HEAP_DIR:
	case FS_LINES:
	case FS_CKPTS:
		return (uint32_t)mode & HS_MODE_BITS;
	default:   /* a file's rw bits; search (x) wherever read is granted */
		return (uint32_t)(mode & 0666) | (uint32_t)((mode & 0444) >> 2);
	}
}

int fs_do_getattr(struct fs *fs, struct fs_node *n, struct stat *st)
{
	const bool frozen = fs_node_frozen(n);
	hs_heap_info hi = { .line_size = 4096 };   /* nodes above heaps have none */
	hs_version_info vi;
	uint64_t ns = fs->mounted_ns;
	char *text;
	size_t len;
	int rc;

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = 4096;
	st->st_nlink = 1;
	if (n->heap) {
		if ((rc = hs_heap_info_get(n->heap, &hi)) < 0)
			return rc;
		st->st_uid = hi.uid;
		st->st_gid = hi.gid;
		ns = hi.created_ns;
		st->st_blksize = hi.line_size;
		if (frozen) {
			if ((rc = hs_version_info_get(n->heap, n->version, &vi)) < 0)
				return rc;
			ns = vi.created_ns;
			hi.size_bytes = vi.size_bytes;
			hi.state_size = vi.state_size;
			hi.lines_used = vi.lines_used;
		}
	}
	switch (n->kind) {
	case FS_ROOT:
		/* create=all: like /tmp, everyone makes heaps and the kernel
		 * lets each remove only their own (sticky). */
		st->st_mode = S_IFDIR | (fs->opts.create_all ? 01777 : 0755);
		st->st_nlink = 2;
		break;
	case FS_META_DIR:
	case FS_HEAP_DIR:
	case FS_LINES:
	case FS_CKPTS:
	case FS_CKPT:
		st->st_mode = S_IFDIR | (frozen ? 0555 : 0755);
		st->st_nlink = 2;
		break;
	case FS_HEAP:
		st->st_mode = S_IFREG | (frozen ? 0444 : 0644);
		st->st_size = (off_t)hi.size_bytes;
		st->st_blocks = (blkcnt_t)(hi.lines_used * hi.line_size / 512);
		break;
	case FS_TXN:
		st->st_mode = S_IFREG | 0644;
		st->st_size = (off_t)hi.size_bytes;
		break;
	case FS_STATE:
		st->st_mode = S_IFREG | (frozen ? 0444 : 0644);
		st->st_size = (off_t)hi.state_size;
		st->st_blocks = (blkcnt_t)((hi.state_size + 511) / 512);
		break;
	case FS_LINE: {
		/* The heap's last line may be cut short by its size. */
		uint64_t start = n->line * hi.line_size;
		uint64_t left = hi.size_bytes > start ? hi.size_bytes - start : 0;

		st->st_mode = S_IFREG | (frozen ? 0444 : 0644);
		st->st_size = (off_t)(left < hi.line_size ? left : hi.line_size);
		st->st_blocks = hi.line_size / 512;
		break;
	}
	case FS_POOL:
	case FS_VERSION_FILE:
	case FS_STAT:
		if ((rc = fs_text_make(fs, n, &text, &len)) < 0)
			return rc;
		free(text);
		st->st_mode = S_IFREG | 0444;
		st->st_size = (off_t)len;
		break;
	case FS_EVENTS:
		/* A stream, like a proc file: no size. */
		st->st_mode = S_IFREG | 0444;
		break;
	case FS_BALLOON:
		/* Read: the pool's ask; written: the runtime's report. */
		st->st_mode = S_IFREG | 0644;
		break;
	case FS_CTL:
		/* Everyone's: each request runs with its opener's rights. */
		st->st_mode = S_IFREG | 0666;
		break;
	case FS_LATEST:
	case FS_LABEL: {
		char target[32];

		if ((rc = fs_do_readlink(fs, n, target, sizeof(target))) < 0)
			return rc;
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)strlen(target);
		break;
	}
	}
	if (n->heap)
		st->st_mode = (st->st_mode & S_IFMT) | heap_node_perm(n, hi.mode);
	ts_set(&st->st_mtim, ns);
	st->st_ctim = st->st_atim = st->st_mtim;
	return 0;
}

int fs_entry_fill(struct fs *fs, struct fs_node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->attr_timeout = 0;
	e->entry_timeout = 0;
	return fs_do_getattr(fs, n, &e->attr);
}
