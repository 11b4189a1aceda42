/*
 * node.c - the node table: inode numbers the kernel holds, and the lookup
 * counts that decide when a node can go.
 *
 * A node is found by inode number (every request) or by identity (kind,
 * heap, version, line, label) when a lookup produces it again, so one
 * object always has one inode number while the kernel remembers it.  Two
 * chained hash tables; fs->lock guards both and every nlookup.  The root
 * is never forgotten.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

static size_t key_hash(enum fs_kind kind, uint64_t heap_id, uint64_t version,
		       uint64_t line, const char *label)
{
	uint64_t h = 1469598103934665603ULL;

	h = (h ^ (uint64_t)kind) * 1099511628211ULL;
	h = (h ^ heap_id) * 1099511628211ULL;
	h = (h ^ version) * 1099511628211ULL;
	h = (h ^ line) * 1099511628211ULL;
	for (const char *p = label; p && *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	return (size_t)(h % FS_TABLE_SIZE);
}

static bool key_eq(const struct fs_node *n, enum fs_kind kind, uint64_t heap_id,
		   uint64_t version, uint64_t line, const char *label)
{
	return n->kind == kind && n->heap_id == heap_id && n->version == version &&
	       n->line == line &&
	       (!label || (n->label && strcmp(n->label, label) == 0));
}

static void node_free(struct fs_node *n)
{
	hs_heap_close(n->heap);
	free(n->label);
	free(n);
}

int fs_nodes_init(struct fs *fs)
{
	struct fs_node *root = calloc(1, sizeof(*root));

	if (!root)
		return -ENOMEM;
	pthread_mutex_init(&fs->lock, NULL);
	root->ino = FUSE_ROOT_ID;
	root->kind = FS_ROOT;
	root->version = HS_VERSION_LIVE;
	root->nlookup = 1;
	fs->next_ino = FUSE_ROOT_ID + 1;
	fs->by_ino[root->ino % FS_TABLE_SIZE] = root;
	fs->by_key[key_hash(FS_ROOT, 0, HS_VERSION_LIVE, 0, NULL)] = root;
	return 0;
}

void fs_nodes_dispose(struct fs *fs)
{
	for (size_t i = 0; i < FS_TABLE_SIZE; i++) {
		struct fs_node *n = fs->by_ino[i], *next;

		for (; n; n = next) {
			next = n->next_ino;
			node_free(n);
		}
		fs->by_ino[i] = NULL;
		fs->by_key[i] = NULL;
	}
	pthread_mutex_destroy(&fs->lock);
}

struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino)
{
	struct fs_node *n;

	pthread_mutex_lock(&fs->lock);
	for (n = fs->by_ino[ino % FS_TABLE_SIZE]; n && n->ino != ino; n = n->next_ino)
		;
	pthread_mutex_unlock(&fs->lock);
	return n;
}

/*
 * The node for this identity with one more lookup, created if new.  @heap
 * is a handle the caller opened (or NULL); the node keeps it if it is new,
 * else it is closed here.
 */
int fs_node_lookup(struct fs *fs, struct fs_node **out, enum fs_kind kind,
		   uint64_t heap_id, uint64_t version, uint64_t line,
		   const char *label, hs_heap *heap)
{
	size_t kh = key_hash(kind, heap_id, version, line, label);
	struct fs_node *n;

	pthread_mutex_lock(&fs->lock);
	for (n = fs->by_key[kh]; n; n = n->next_key) {
		if (key_eq(n, kind, heap_id, version, line, label))
			break;
	}
	if (n) {
		n->nlookup++;
		pthread_mutex_unlock(&fs->lock);
		hs_heap_close(heap);
		*out = n;
		return 0;
	}
	n = calloc(1, sizeof(*n));
	if (!n || (label && !(n->label = strdup(label)))) {
		pthread_mutex_unlock(&fs->lock);
		free(n);
		hs_heap_close(heap);
		return -ENOMEM;
	}
	n->ino = fs->next_ino++;
	n->kind = kind;
	n->heap_id = heap_id;
	n->version = version;
	n->line = line;
	n->heap = heap;
	n->nlookup = 1;
	n->next_ino = fs->by_ino[n->ino % FS_TABLE_SIZE];
	fs->by_ino[n->ino % FS_TABLE_SIZE] = n;
	n->next_key = fs->by_key[kh];
	fs->by_key[kh] = n;
	pthread_mutex_unlock(&fs->lock);
	*out = n;
	return 0;
}

/* One more lookup on a node already in the table (readdirplus, create). */
void fs_node_ref(struct fs *fs, struct fs_node *n)
{
	pthread_mutex_lock(&fs->lock);
	n->nlookup++;
	pthread_mutex_unlock(&fs->lock);
}

/* The inode number the kernel knows a node by, or 0 if it knows none. */
fuse_ino_t fs_node_ino(struct fs *fs, enum fs_kind kind, uint64_t heap_id,
		       uint64_t version)
{
	struct fs_node *n;
	fuse_ino_t ino = 0;

	pthread_mutex_lock(&fs->lock);
	for (n = fs->by_key[key_hash(kind, heap_id, version, 0, NULL)]; n; n = n->next_key) {
		if (key_eq(n, kind, heap_id, version, 0, NULL)) {
			ino = n->ino;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return ino;
}

void fs_node_forget(struct fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs_node **pp, *n = NULL;
	size_t kh;

	if (ino == FUSE_ROOT_ID)
		return;
	pthread_mutex_lock(&fs->lock);
	for (pp = &fs->by_ino[ino % FS_TABLE_SIZE]; *pp; pp = &(*pp)->next_ino) {
		if ((*pp)->ino == ino) {
			n = *pp;
			break;
		}
	}
	if (!n || (n->nlookup > nlookup && (n->nlookup -= nlookup))) {
		pthread_mutex_unlock(&fs->lock);
		return;
	}
	*pp = n->next_ino;
	kh = key_hash(n->kind, n->heap_id, n->version, n->line, n->label);
	for (pp = &fs->by_key[kh]; *pp; pp = &(*pp)->next_key) {
		if (*pp == n) {
			*pp = n->next_key;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	node_free(n);
}
