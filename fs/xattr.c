/*
 * xattr.c - extended attributes of a heap directory (DESIGN.md, "The tree"):
 *
 *   user.heapfs.line_size        read-only
 *   user.heapfs.version          read-only: the working version
 *   user.heapfs.referenced       read-only: stored bytes of the distinct blobs
 *                                its versions name (heapctl space)
 *   user.heapfs.unique           read-only: of those, named by no other heap
 *   user.heapfs.quota            settable: bytes (K, M, G, T accepted)
 *   user.heapfs.reserve          settable: bytes
 *   user.heapfs.shares           settable: 1..10000 (default 100)
 *   user.heapfs.memory_reserve   settable: bytes of the line cache kept for it
 *   user.heapfs.memory_quota     settable: bytes of the line cache it may hold
 *   user.heapfs.autocheckpoint   settable: "off" or interval=DURATION,dirty=SIZE
 *   user.heapfs.keep             settable: how many unlabelled checkpoints to keep
 *
 * Values are checked here and kept by heapstore (quota and reserve in the
 * heap record, the others as heap properties); the pool and checkpoint
 * policies that act on them read them from there.  keep and autocheckpoint
 * are checked by the checkpoint policy's own parsers (checkpoint.h), and
 * a new autocheckpoint tells its scheduler at once.  Setting a read-only
 * one is EPERM, an unknown name EOPNOTSUPP (heapfs stores no attributes of
 * its own choosing), a bad value EINVAL.  Other nodes have no attributes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "cmd.h"
#include "fs_int.h"

#define PREFIX "user.heapfs."

enum xa_kind { XA_LINE_SIZE, XA_VERSION, XA_REFERENCED, XA_UNIQUE, XA_QUOTA, XA_RESERVE,
	       XA_SHARES, XA_MEM_RESERVE, XA_MEM_QUOTA, XA_AUTO, XA_KEEP };

static const struct {
	const char *name;             /* after the prefix */
	enum xa_kind kind;
	bool settable;
	const char *dflt;             /* value when a property is unset */
} attrs[] = {
	{ "line_size", XA_LINE_SIZE, false, NULL },
	{ "version", XA_VERSION, false, NULL },
	{ "referenced", XA_REFERENCED, false, NULL },
	{ "unique", XA_UNIQUE, false, NULL },
	{ "quota", XA_QUOTA, true, NULL },
	{ "reserve", XA_RESERVE, true, NULL },
	{ "shares", XA_SHARES, true, "100" },
	{ "memory_reserve", XA_MEM_RESERVE, true, "0" },
	{ "memory_quota", XA_MEM_QUOTA, true, "0" },
	{ "autocheckpoint", XA_AUTO, true, "off" },
	{ "keep", XA_KEEP, true, "0" },
};

#define N_ATTRS (sizeof(attrs) / sizeof(attrs[0]))

static int find(const char *name)
{
	if (strncmp(name, PREFIX, strlen(PREFIX)) != 0)
		return -1;
	for (size_t i = 0; i < N_ATTRS; i++) {
		if (strcmp(name + strlen(PREFIX), attrs[i].name) == 0)
			return (int)i;
	}
	return -1;
}

/* The reply convention: size 0 asks for the length only. */
static int give(const char *val, char *buf, size_t cap, size_t *len)
{
	*len = strlen(val);
	if (cap && *len > cap)
		return -ERANGE;
	if (cap)
		memcpy(buf, val, *len);
	return 0;
}

int fs_do_getxattr(struct fs *fs, struct fs_node *n, const char *name, char *buf,
		   size_t cap, size_t *len)
{
	char val[HS_PROP_VALUE_MAX + 1];
	hs_heap_info hi;
	ssize_t r;
	int i = find(name), rc;

	(void)fs;
	if (n->kind != FS_HEAP_DIR || i < 0)
		return -ENODATA;
	if ((rc = hs_heap_info_get(n->heap, &hi)) < 0)
		return rc;
	switch (attrs[i].kind) {
	case XA_LINE_SIZE:
		snprintf(val, sizeof(val), "%u", hi.line_size);
		break;
	case XA_VERSION:
		snprintf(val, sizeof(val), "%llu", (unsigned long long)hi.version);
		break;
	case XA_REFERENCED:
		snprintf(val, sizeof(val), "%llu", (unsigned long long)hi.bytes_referenced);
		break;
	case XA_UNIQUE:
		snprintf(val, sizeof(val), "%llu", (unsigned long long)hi.bytes_unique);
		break;
	case XA_QUOTA:
		snprintf(val, sizeof(val), "%llu", (unsigned long long)hi.quota_bytes);
		break;
	case XA_RESERVE:
		snprintf(val, sizeof(val), "%llu", (unsigned long long)hi.reserve_bytes);
		break;
	default:
		r = hs_heap_prop_get(n->heap, attrs[i].name, val, sizeof(val));
		if (r == -ENODATA)
			snprintf(val, sizeof(val), "%s", attrs[i].dflt);
		else if (r < 0)
			return (int)r;
		break;
	}
	return give(val, buf, cap, len);
}

int fs_do_listxattr(struct fs *fs, struct fs_node *n, char *buf, size_t cap,
		    size_t *len)
{
	size_t need = 0;

	(void)fs;
	*len = 0;
	if (n->kind != FS_HEAP_DIR)
		return 0;
	for (size_t i = 0; i < N_ATTRS; i++)
		need += strlen(PREFIX) + strlen(attrs[i].name) + 1;
	*len = need;
	if (!cap)
		return 0;
	if (need > cap)
		return -ERANGE;
	for (size_t i = 0; i < N_ATTRS; i++)
		buf += sprintf(buf, "%s%s", PREFIX, attrs[i].name) + 1;
	return 0;
}

static bool uint_ok(const char *v, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long x;

	if (*v < '0' || *v > '9')
		return false;
	x = strtoul(v, &end, 10);
	return !*end && x >= lo && x <= hi;
}

/* The pool's settings of a heap (quota, reserve, shares) are the mount
 * owner's and root's; the heap's own (keep, autocheckpoint) its writers'. */
static bool pool_setting(int kind)
{
	return kind == XA_QUOTA || kind == XA_RESERVE || kind == XA_SHARES ||
	       kind == XA_MEM_RESERVE || kind == XA_MEM_QUOTA;
}

static bool pool_admin(const struct fs *fs, const struct fs_caller *who)
{
	return !who || who->uid == 0 || who->uid == fs->uid;
}

int fs_do_setxattr(struct fs *fs, struct fs_node *n, const char *name,
		   const char *value, size_t size, int flags, const struct fs_caller *who)
{
	char val[HS_PROP_VALUE_MAX + 1];
	uint64_t bytes;
	uint32_t keep;
	ckpt_auto ca;
	int i = find(name), rc;

	if (n->kind != FS_HEAP_DIR)
		return fs_node_frozen(n) ? -EROFS : -EOPNOTSUPP;
	if (i < 0)
		return -EOPNOTSUPP;
	if (!attrs[i].settable || (pool_setting(attrs[i].kind) && !pool_admin(fs, who)))
		return -EPERM;
	if (flags & XATTR_CREATE)
		return -EEXIST;   /* every heapfs attribute always exists */
	if (size > HS_PROP_VALUE_MAX)
		return -EINVAL;
	memcpy(val, value, size);
	val[size] = '\0';
	if (size && val[size - 1] == '\n')
		val[size - 1] = '\0';   /* echo's newline */
	switch (attrs[i].kind) {
	case XA_QUOTA:
	case XA_RESERVE:
		if (cmd_size_parse(val, &bytes) < 0)
			return -EINVAL;
		rc = attrs[i].kind == XA_QUOTA ? hs_heap_quota_set(n->heap, bytes) :
						 hs_heap_reserve_set(n->heap, bytes);
		if (rc == 0)
			fs_space_set(fs, n->heap);
		return rc;
	case XA_SHARES:
		if (!uint_ok(val, 1, 10000))
			return -EINVAL;
		return fs_mem_set(fs, n->heap, attrs[i].name, val);
	case XA_MEM_RESERVE:
	case XA_MEM_QUOTA:
		/* Kept as bytes, so getfattr shows what the budget holds. */
		if (cmd_size_parse(val, &bytes) < 0)
			return -EINVAL;
		snprintf(val, sizeof(val), "%llu", (unsigned long long)bytes);
		return fs_mem_set(fs, n->heap, attrs[i].name, val);
	case XA_KEEP:
		if (ckpt_keep_parse(val, &keep) < 0)
			return -EINVAL;
		break;
	case XA_AUTO:
		if (ckpt_auto_parse(val, &ca) < 0)
			return -EINVAL;
		break;
	default:
		return -EPERM;
	}
	if ((rc = hs_heap_prop_set(n->heap, attrs[i].name, val)) == 0 &&
	    attrs[i].kind == XA_AUTO)
		ckpt_settings_changed(fs->ckpt);
	return rc;
}

int fs_do_removexattr(struct fs *fs, struct fs_node *n, const char *name,
		      const struct fs_caller *who)
{
	int i = find(name), rc;

	if (n->kind != FS_HEAP_DIR || i < 0)
		return -ENODATA;
	if (!attrs[i].settable || (pool_setting(attrs[i].kind) && !pool_admin(fs, who)))
		return -EPERM;
	/* Removing a setting returns it to its default. */
	switch (attrs[i].kind) {
	case XA_QUOTA:
	case XA_RESERVE:
		rc = attrs[i].kind == XA_QUOTA ? hs_heap_quota_set(n->heap, 0) :
						 hs_heap_reserve_set(n->heap, 0);
		if (rc == 0)
			fs_space_set(fs, n->heap);
		return rc;
	case XA_SHARES:
	case XA_MEM_RESERVE:
	case XA_MEM_QUOTA:
		return fs_mem_set(fs, n->heap, attrs[i].name, "");
	default:
		rc = hs_heap_prop_set(n->heap, attrs[i].name, "");
		if (rc == 0 && attrs[i].kind == XA_AUTO)
			ckpt_settings_changed(fs->ckpt);
		return rc;
	}
}
