/*
 * dir.c - the tree: what each directory holds, and what mkdir, rmdir and
 * unlink mean in it.
 *
 *   mkdir /<name>                      create a heap (bad names: EINVAL)
 *   rmdir /<heap>                      delete the heap and its checkpoints
 *   mkdir /<heap>/checkpoints/<label>  take a checkpoint labelled <label>
 *   rmdir /<heap>/checkpoints/<N>      delete checkpoint N
 *   unlink /<heap>/lines/<off>         zero that line
 *
 * `rm -r` must remove a heap or a checkpoint, and it unlinks every file
 * below first.  The other files (heap, state, stat, txn, events, lines/
 * and checkpoints/ themselves, everything inside checkpoints/N) are views
 * of the heap, not objects of their own: removing one succeeds and changes
 * nothing, and the directory's rmdir removes the heap or checkpoint.
 * Anything that would change a checkpoint's content fails with EROFS.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_int.h"

#define LINE_NAME_LEN 16

static const struct {
	const char *name;
	enum fs_kind kind;
} heap_dir_entries[] = {
	{ "heap", FS_HEAP }, { "lines", FS_LINES }, { "state", FS_STATE },
	{ "stat", FS_STAT }, { "txn", FS_TXN }, { "checkpoints", FS_CKPTS },
	{ "events", FS_EVENTS }, { "balloon", FS_BALLOON },
}, ckpt_dir_entries[] = {
	{ "heap", FS_HEAP }, { "lines", FS_LINES }, { "state", FS_STATE },
	{ "stat", FS_STAT },
}, meta_dir_entries[] = {
	{ "pool", FS_POOL }, { "version", FS_VERSION_FILE }, { "ctl", FS_CTL },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A second handle on @n's heap for a child node: the very heap, never one
 * reopened by name (a delete and a re-create in between would give the
 * child the new heap).
 */
static int heap_ref(struct fs_node *n, hs_heap **out)
{
	hs_heap_info hi;
	int rc = hs_heap_info_get(n->heap, &hi);   /* -ENOENT once deleted */

	if (rc < 0)
		return rc;
	*out = hs_heap_dup(n->heap);
	return 0;
}

static int child(struct fs *fs, struct fs_node *parent, enum fs_kind kind,
		 uint64_t version, uint64_t line, const char *label,
		 struct fs_node **out)
{
	hs_heap *h = NULL;
	int rc;

	if (parent->heap && (rc = heap_ref(parent, &h)) < 0)
		return rc;
	return fs_node_lookup(fs, out, kind, parent->heap_id, version, line, label, h);
}

/* "0000000000010000" -> the line at that offset, if it is one. */
static int line_name_parse(struct fs_node *dir, const char *name, uint64_t *line)
{
	hs_heap_info hi;
	uint64_t off = 0;
	int rc;

	if (strlen(name) != LINE_NAME_LEN)
		return -ENOENT;
	for (const char *p = name; *p; p++) {
		int d = (*p >= '0' && *p <= '9') ? *p - '0' :
			(*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : -1;

		if (d < 0)
			return -ENOENT;
		off = off << 4 | (uint64_t)d;
	}
	if ((rc = hs_heap_info_get(dir->heap, &hi)) < 0)
		return rc;
	if (off & (hi.line_size - 1))
		return -ENOENT;
	*line = off / hi.line_size;
	return 0;
}

/* Is @line non-empty in @version? */
static int line_present(struct fs_node *dir, uint64_t line)
{
	uint64_t found;
	int rc = hs_heap_line_next(dir->heap, dir->version, line, &found);

	if (rc == -ENXIO || (rc == 0 && found != line))
		return -ENOENT;
	return rc;
}

/* All digits, fitting a u64: a checkpoint number. */
static bool version_parse(const char *name, uint64_t *v)
{
	uint64_t x = 0;

	if (!*name || strlen(name) > 19)
		return false;
	for (const char *p = name; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*v = x;
	return true;
}

int fs_do_lookup(struct fs *fs, struct fs_node *p, const char *name,
		 struct fs_node **out)
{
	hs_heap_info hi;
	hs_version_info vi;
	hs_heap *h;
	uint64_t v, line;
	int rc;

	switch (p->kind) {
	case FS_ROOT:
		if (strcmp(name, ".heapfs") == 0)
			return fs_node_lookup(fs, out, FS_META_DIR, 0, HS_VERSION_LIVE, 0,
					      NULL, NULL);
		if (hs_name_check(name) < 0)
			return -ENOENT;
		if ((rc = hs_heap_open(&h, fs->store, name)) < 0)
			return rc;
		if ((rc = hs_heap_info_get(h, &hi)) < 0) {
			hs_heap_close(h);
			return rc;
		}
		return fs_node_lookup(fs, out, FS_HEAP_DIR, hi.id, HS_VERSION_LIVE, 0,
				      NULL, h);
	case FS_META_DIR:
		for (size_t i = 0; i < N_OF(meta_dir_entries); i++) {
			if (strcmp(name, meta_dir_entries[i].name) == 0)
				return fs_node_lookup(fs, out, meta_dir_entries[i].kind, 0,
						      HS_VERSION_LIVE, 0, NULL, NULL);
		}
		return -ENOENT;
	case FS_HEAP_DIR:
		for (size_t i = 0; i < N_OF(heap_dir_entries); i++) {
			if (strcmp(name, heap_dir_entries[i].name) == 0)
				return child(fs, p, heap_dir_entries[i].kind,
					     HS_VERSION_LIVE, 0, NULL, out);
		}
		return -ENOENT;
	case FS_CKPT:
		for (size_t i = 0; i < N_OF(ckpt_dir_entries); i++) {
			if (strcmp(name, ckpt_dir_entries[i].name) == 0)
				return child(fs, p, ckpt_dir_entries[i].kind, p->version, 0,
					     NULL, out);
		}
		return -ENOENT;
	case FS_LINES:
		if ((rc = line_name_parse(p, name, &line)) < 0 ||
		    (rc = line_present(p, line)) < 0)
			return rc;
		return child(fs, p, FS_LINE, p->version, line, NULL, out);
	case FS_CKPTS:
		if (version_parse(name, &v)) {
			if ((rc = hs_version_info_get(p->heap, v, &vi)) < 0)
				return rc;
			return child(fs, p, FS_CKPT, v, 0, NULL, out);
		}
		if (strcmp(name, "latest") == 0) {
			if ((rc = hs_heap_info_get(p->heap, &hi)) < 0)
				return rc;
			if (!hi.latest)
				return -ENOENT;
			return child(fs, p, FS_LATEST, HS_VERSION_LIVE, 0, NULL, out);
		}
		if ((rc = hs_version_find_label(p->heap, name, &v)) < 0)
			return rc;
		return child(fs, p, FS_LABEL, HS_VERSION_LIVE, 0, name, out);
	default:
		return -ENOTDIR;
	}
}

int fs_do_readlink(struct fs *fs, struct fs_node *n, char *buf, size_t cap)
{
	hs_heap_info hi;
	uint64_t v;
	int rc;

	(void)fs;
	if (n->kind == FS_LATEST) {
		if ((rc = hs_heap_info_get(n->heap, &hi)) < 0)
			return rc;
		if (!hi.latest)
			return -ENOENT;
		v = hi.latest;
	} else if (n->kind == FS_LABEL) {
		if ((rc = hs_version_find_label(n->heap, n->label, &v)) < 0)
			return rc;
	} else {
		return -EINVAL;
	}
	snprintf(buf, cap, "%llu", (unsigned long long)v);
	return 0;
}

/*
 * Directory entries by position: . and .. are 0 and 1, fixed entries
 * follow, then the variable part (heaps by name, checkpoints, lines).  The
 * offset handed back for an entry is where to continue after it.  Lines
 * continue at 2 + line + 1, so listing a sparse heap costs one seek per
 * line that has data.
 */
static int emit(fs_dirent_cb cb, void *payload, const char *name, mode_t type,
		off_t next)
{
	struct fs_dirent d;

	snprintf(d.name, sizeof(d.name), "%s", name);
	d.type = type;
	return cb(&d, next, payload);
}

static int readdir_fixed(fs_dirent_cb cb, void *payload, off_t off,
			 const char *const *names, const mode_t *types, size_t n)
{
	for (size_t i = (size_t)off; i < n; i++) {
		if (emit(cb, payload, names[i], types[i], (off_t)i + 1))
			return 1;
	}
	return 0;
}

int fs_do_readdir(struct fs *fs, struct fs_node *n, off_t off, fs_dirent_cb cb,
		  void *payload)
{
	const char *names[10] = { ".", ".." };
	mode_t types[10] = { S_IFDIR, S_IFDIR };
	size_t nf = 2;
	int rc = 0;

	switch (n->kind) {
	case FS_ROOT: {
		hs_heap_info *arr;
		size_t count;

		names[nf] = ".heapfs", types[nf++] = S_IFDIR;
		if (readdir_fixed(cb, payload, off, names, types, nf))
			return 0;
		if ((rc = hs_heap_list(fs->store, &arr, &count)) < 0)
			return rc;
		for (size_t i = off > (off_t)nf ? (size_t)off - nf : 0; i < count; i++) {
			if (emit(cb, payload, arr[i].name, S_IFDIR, (off_t)(nf + i + 1)))
				break;
		}
		free(arr);
		return 0;
	}
	case FS_META_DIR:
		for (size_t i = 0; i < N_OF(meta_dir_entries); i++)
			names[nf] = meta_dir_entries[i].name, types[nf++] = S_IFREG;
		readdir_fixed(cb, payload, off, names, types, nf);
		return 0;
	case FS_HEAP_DIR:
	case FS_CKPT: {
		bool live = n->kind == FS_HEAP_DIR;
		size_t count = live ? N_OF(heap_dir_entries) : N_OF(ckpt_dir_entries);

		for (size_t i = 0; i < count; i++) {
			enum fs_kind k = live ? heap_dir_entries[i].kind : ckpt_dir_entries[i].kind;

			names[nf] = live ? heap_dir_entries[i].name : ckpt_dir_entries[i].name;
			types[nf++] = (k == FS_LINES || k == FS_CKPTS) ? S_IFDIR : S_IFREG;
		}
		readdir_fixed(cb, payload, off, names, types, nf);
		return 0;
	}
	case FS_LINES: {
		hs_heap_info hi;
		uint64_t line = off > 2 ? (uint64_t)off - 2 : 0;

		if (readdir_fixed(cb, payload, off, names, types, nf))
			return 0;
		if ((rc = hs_heap_info_get(n->heap, &hi)) < 0)
			return rc;
		while ((rc = hs_heap_line_next(n->heap, n->version, line, &line)) == 0) {
			char name[LINE_NAME_LEN + 1];

			snprintf(name, sizeof(name), "%016llx",
				 (unsigned long long)(line * hi.line_size));
			if (emit(cb, payload, name, S_IFREG, (off_t)(2 + line + 1)))
				return 0;
			line++;
		}
		return rc == -ENXIO ? 0 : rc;
	}
	case FS_CKPTS: {
		hs_version_info *arr;
		size_t count;
		off_t pos = 2;

		if (readdir_fixed(cb, payload, off, names, types, nf))
			return 0;
		if ((rc = hs_version_list(n->heap, &arr, &count)) < 0)
			return rc;
		/*
		 * Links first (2: latest, 3 + i: checkpoint i's label), then the
		 * numbers (3 + count + i): rm -r removes in listing order, and a
		 * label must go before its checkpoint's rmdir takes it away (the
		 * kernel would answer the unlink from a cached negative entry).
		 */
		if (count && off <= pos && emit(cb, payload, "latest", S_IFLNK, pos + 1))
			goto done;
		for (size_t i = 0; i < count; i++) {
			pos = 3 + (off_t)i;
			if (arr[i].label[0] && off <= pos &&
			    emit(cb, payload, arr[i].label, S_IFLNK, pos + 1))
				goto done;
		}
		for (size_t i = 0; i < count; i++) {
			char num[24];

			pos = 3 + (off_t)count + (off_t)i;
			snprintf(num, sizeof(num), "%llu", (unsigned long long)arr[i].version);
			if (off <= pos && emit(cb, payload, num, S_IFDIR, pos + 1))
				goto done;
		}
done:
		free(arr);
		return 0;
	}
	default:
		return -ENOTDIR;
	}
}

/* Does @name exist in @p?  (A lookup the kernel never sees, so undone.) */
static bool exists(struct fs *fs, struct fs_node *p, const char *name)
{
	struct fs_node *n;

	if (fs_do_lookup(fs, p, name, &n) < 0)
		return false;
	fs_node_forget(fs, n->ino, 1);
	return true;
}

int fs_do_mkdir(struct fs *fs, struct fs_node *p, const char *name, mode_t mode,
		const struct fs_caller *who, struct fs_node **out)
{
	hs_version_info vi;
	uint64_t v;
	int rc;

	if (fs_node_frozen(p))
		return -EROFS;
	switch (p->kind) {
	case FS_ROOT: {
		hs_heap_params params = HS_HEAP_PARAMS_INIT;

		if (strcmp(name, ".heapfs") == 0)
			return -EEXIST;
		params.line_size = fs->opts.line_size;
		/* The caller's, private: 0700 under its umask (and its mode). */
		params.owned = 1;
		params.uid = who->uid;
		params.gid = who->gid;
		params.mode = HS_MODE_DEFAULT & (uint32_t)mode & ~(uint32_t)who->umask;
		if ((rc = hs_heap_create(fs->store, name, &params)) < 0)
			return rc;
		return fs_do_lookup(fs, p, name, out);
	}
	case FS_CKPTS:
		if (strcmp(name, "latest") == 0)
			return -EEXIST;
		if (version_parse(name, &v))   /* numbers are given, not chosen */
			return hs_version_info_get(p->heap, v, &vi) == 0 ? -EEXIST : -EINVAL;
		if ((rc = ckpt_take(fs->ckpt, p->heap, name, CKPT_MANUAL, &v)) < 0)
			return rc;
		/* The new entry is the number; the label is its symlink. */
		return child(fs, p, FS_CKPT, v, 0, NULL, out);
	default:
		return exists(fs, p, name) ? -EEXIST : -EPERM;
	}
}

int fs_do_rmdir(struct fs *fs, struct fs_node *p, const char *name)
{
	uint64_t v;
	int rc;

	switch (p->kind) {
	case FS_ROOT:
		if (strcmp(name, ".heapfs") == 0)
			return -EBUSY;
		if (hs_name_check(name) < 0)
			return -ENOENT;
		return fs_heap_delete(fs, name);
	case FS_CKPTS:
		if (!version_parse(name, &v)) {
			rc = hs_version_find_label(p->heap, name, &v);
			return rc == 0 || strcmp(name, "latest") == 0 ? -ENOTDIR : rc;
		}
		return hs_version_delete(p->heap, v);
	case FS_HEAP_DIR:
	case FS_CKPT:
		/* lines/ and checkpoints/ are views: rm -r passes through them. */
		if (strcmp(name, "lines") == 0 || strcmp(name, "checkpoints") == 0)
			return 0;
		return -ENOENT;
	default:
		return -ENOTDIR;
	}
}

int fs_do_unlink(struct fs *fs, struct fs_node *p, const char *name)
{
	struct fs_node *n;
	enum fs_kind kind;
	hs_heap_info hi;
	uint64_t line;
	int rc;

	switch (p->kind) {
	case FS_LINES:
		if ((rc = line_name_parse(p, name, &line)) < 0 ||
		    (rc = line_present(p, line)) < 0)
			return rc;
		if (fs_node_frozen(p))
			return 0;   /* a checkpoint's line: a view, see above */
		if ((rc = hs_heap_info_get(p->heap, &hi)) < 0 ||
		    (rc = hs_heap_punch(p->heap, line * hi.line_size, hi.line_size)) < 0)
			return rc;
		fs_inval_heap(fs, p->heap_id, (off_t)(line * hi.line_size), hi.line_size);
		/* Given back, as by a punch: its balloon hears (a runtime whose
		 * own writer waits on the heap file's lock answers this way). */
		fs_mem_gave(fs, p->heap_id, p->heap, line * hi.line_size, hi.line_size);
		return 0;
	case FS_CKPTS:
		/*
		 * latest and labels are views of checkpoints.  rm -r lists first
		 * and removes after, and a label dies with its checkpoint's
		 * rmdir, so a link name succeeds even once it no longer resolves.
		 */
		if (!version_parse(name, &line) &&
		    (strcmp(name, "latest") == 0 || hs_name_check(name) == 0))
			return 0;
		/* numbers are directories: */
		__attribute__((fallthrough));
	case FS_HEAP_DIR:
	case FS_CKPT:
	case FS_META_DIR:
		/* Views: succeed if the name exists, change nothing. */
		if ((rc = fs_do_lookup(fs, p, name, &n)) < 0)
			return rc;
		kind = n->kind;
		fs_node_forget(fs, n->ino, 1);
		if (kind == FS_LINES || kind == FS_CKPTS || kind == FS_CKPT)
			return -EISDIR;
		return p->kind == FS_META_DIR ? -EPERM : 0;
	default:
		return -ENOTDIR;
	}
}
