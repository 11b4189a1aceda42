/*
 * keys.c - byte layout of keys and records (see heapstore_int.h).
 *
 * Records carry a leading format byte and explicit lengths; decoders check
 * every length against what is left before reading, since a record comes
 * from disk and may be truncated or damaged.
 */
#include <errno.h>
#include <string.h>

#include "heapstore_int.h"

void hs_be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

uint64_t hs_be64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

void hs_le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

uint32_t hs_le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

void hs_le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

uint64_t hs_le64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void hs_key__line(uint8_t out[HS_LINE_KEY_LEN], uint64_t heap, uint64_t line,
		  uint64_t version)
{
	hs_be64_put(out, heap);
	hs_be64_put(out + 8, line);
	hs_be64_put(out + 16, ~version);
}

void hs_key__line_parse(const uint8_t *key, uint64_t *heap, uint64_t *line,
			uint64_t *version)
{
	*heap = hs_be64_get(key);
	*line = hs_be64_get(key + 8);
	*version = ~hs_be64_get(key + 16);
}

void hs_key__change(uint8_t out[HS_CHANGE_KEY_LEN], uint64_t heap,
		    uint64_t version, uint64_t line)
{
	hs_be64_put(out, heap);
	hs_be64_put(out + 8, version);
	hs_be64_put(out + 16, line);
}

/* tag, then the id unless tag is 'N', then the suffix bytes (may be NULL). */
/* Names are keys: checked where keys are made. */
int hs_name_check(const char *name)
{
	size_t n;

	if (!name || !*name)
		return hs_errno_set(-EINVAL, "name is empty");
	n = strnlen(name, HS_NAME_MAX + 1);
	if (n > HS_NAME_MAX)
		return hs_errno_set(-EINVAL, "name longer than %d bytes", HS_NAME_MAX);
	if (name[0] == '.')
		return hs_errno_set(-EINVAL, "name '%s' starts with '.'", name);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return hs_errno_set(-EINVAL,
					    "name has byte 0x%02x at %zu; allowed: A-Z a-z 0-9 . _ -",
					    c, i);
	}
	return 0;
}

size_t hs_key__meta(uint8_t *out, char tag, uint64_t id, const char *suffix)
{
	size_t n = 0;

	out[n++] = (uint8_t)tag;
	if (tag != 'N') {
		hs_be64_put(out + n, id);
		n += 8;
	}
	if (suffix) {
		size_t len = strnlen(suffix, HS_NAME_MAX);

		memcpy(out + n, suffix, len);
		n += len;
	}
	return n;
}

size_t hs_key__meta_version(uint8_t *out, uint64_t id, uint64_t version)
{
	out[0] = 'V';
	hs_be64_put(out + 1, id);
	hs_be64_put(out + 9, version);
	return 17;
}

void hs_key__href(uint8_t out[HS_HREF_KEY_LEN], const uint8_t *hash, uint64_t id)
{
	memcpy(out, hash, HS_HASH_LEN);
	hs_be64_put(out + HS_HASH_LEN, id);
}

/*
 * Heap record, format 4:
 *   u8 format | u8 state (0x80: suspended) | u16 name_len | u32 line_size |
 *   u64 size | u64 quota | u64 reserve | u64 head | u64 created_ns |
 *   u64 state_size | u32 uid | u32 gid | u32 mode | u8 ident[16] |
 *   u8 lease | u8 moved_len | u16 0 | name | moved_to
 * Formats 1 to 3 (read only) lack the identity and lease (the store's
 * upgrade to format 3 gives each heap an identity), 1 and 2 the owner (heap.c
 * gives them the store's owner) and 1 the state_size.
 */
#define HEAP_REC_FIXED1 48
#define HEAP_REC_FIXED2 56
#define HEAP_REC_FIXED3 68
#define HEAP_REC_FIXED 88

size_t hs_heap_rec__encode(uint8_t *out, size_t cap, const struct hs_heap_rec *r)
{
	size_t nl = strlen(r->name), ml = strlen(r->moved_to);

	if (cap < HEAP_REC_FIXED + nl + ml || ml > HS_MOVED_MAX)
		return 0;
	out[0] = 4;
	out[1] = (uint8_t)((unsigned)r->state | (r->suspended ? 0x80u : 0));
	out[2] = (uint8_t)(nl & 0xff);
	out[3] = (uint8_t)(nl >> 8);
	hs_le32_put(out + 4, r->line_size);
	hs_le64_put(out + 8, r->size);
	hs_le64_put(out + 16, r->quota);
	hs_le64_put(out + 24, r->reserve);
	hs_le64_put(out + 32, r->head);
	hs_le64_put(out + 40, r->created_ns);
	hs_le64_put(out + 48, r->state_size);
	hs_le32_put(out + 56, r->uid);
	hs_le32_put(out + 60, r->gid);
	hs_le32_put(out + 64, r->mode);
	memcpy(out + 68, r->ident, HS_IDENT_LEN);
	out[84] = (uint8_t)r->lease;
	out[85] = (uint8_t)ml;
	out[86] = out[87] = 0;
	memcpy(out + HEAP_REC_FIXED, r->name, nl);
	memcpy(out + HEAP_REC_FIXED + nl, r->moved_to, ml);
	return HEAP_REC_FIXED + nl + ml;
}

int hs_heap_rec__decode(struct hs_heap_rec *r, const uint8_t *p, size_t n)
{
	size_t nl, ml = 0, fixed = !p || !n ? HEAP_REC_FIXED : p[0] == 1 ? HEAP_REC_FIXED1 :
			   p[0] == 2 ? HEAP_REC_FIXED2 : p[0] == 3 ? HEAP_REC_FIXED3 :
			   HEAP_REC_FIXED;

	if (n < fixed)
		return hs_errno_set(-EUCLEAN, "heap record truncated (%zu bytes)", n);
	if (p[0] < 1 || p[0] > 4)
		return hs_errno_set(-EUCLEAN, "heap record of unknown format %u", p[0]);
	nl = (size_t)p[2] | (size_t)p[3] << 8;
	if (fixed == HEAP_REC_FIXED)
		ml = p[85];
	if (nl == 0 || nl > HS_NAME_MAX || n != fixed + nl + ml)
		return hs_errno_set(-EUCLEAN, "heap record has a bad length (%zu bytes, name %zu)",
				    n, nl);
	memset(r, 0, sizeof(*r));
	r->state = (hs_heap_state)(p[1] & 0x7f);
	r->suspended = (p[1] & 0x80) != 0;
	r->line_size = hs_le32_get(p + 4);
	r->size = hs_le64_get(p + 8);
	r->quota = hs_le64_get(p + 16);
	r->reserve = hs_le64_get(p + 24);
	r->head = hs_le64_get(p + 32);
	r->created_ns = hs_le64_get(p + 40);
	r->state_size = fixed >= HEAP_REC_FIXED2 ? hs_le64_get(p + 48) : 0;
	if (fixed >= HEAP_REC_FIXED3) {
		r->owned = true;
		r->uid = hs_le32_get(p + 56);
		r->gid = hs_le32_get(p + 60);
		r->mode = hs_le32_get(p + 64);
	}
	if (fixed == HEAP_REC_FIXED) {
		memcpy(r->ident, p + 68, HS_IDENT_LEN);
		r->lease = (hs_lease)p[84];
		memcpy(r->moved_to, p + fixed + nl, ml);
	}
	r->moved_to[ml] = '\0';
	memcpy(r->name, p + fixed, nl);
	r->name[nl] = '\0';
	if (r->state != HS_HEAP_LIVE && r->state != HS_HEAP_DELETING)
		return hs_errno_set(-EUCLEAN, "heap record has unknown state %u", p[1]);
	if (r->line_size < HS_LINE_SIZE_MIN || r->line_size > HS_LINE_SIZE_MAX ||
	    (r->line_size & (r->line_size - 1)) || r->size > HS_HEAP_SIZE_MAX ||
	    r->state_size > HS_STATE_SIZE_MAX || (r->mode & ~HS_MODE_BITS) ||
	    r->head == 0 || r->head == HS_VERSION_LIVE || r->lease > HS_LEASE_MIGRATED)
		return hs_errno_set(-EUCLEAN, "heap record '%s' has impossible values", r->name);
	return 0;
}

/*
 * Version record, format 2:
 *   u8 format | u8 flags | u16 label_len | u32 state_size | u64 version | u64 parent |
 *   u64 created_ns | u64 size | u64 lines_changed | u64 bytes_changed |
 *   u64 lines_used | u8 ident[16] | label
 * Format 1 (read only) has no identity: vrec.c derives one from the heap's.
 */
#define VERSION_REC_FIXED1 64
#define VERSION_REC_FIXED 80

size_t hs_version_rec__encode(uint8_t *out, size_t cap, const hs_version_info *v)
{
	size_t ll = strlen(v->label);

	if (cap < VERSION_REC_FIXED + ll)
		return 0;
	memset(out, 0, VERSION_REC_FIXED);
	out[0] = 2;
	out[2] = (uint8_t)(ll & 0xff);
	out[3] = (uint8_t)(ll >> 8);
	hs_le32_put(out + 4, (uint32_t)v->state_size);
	hs_le64_put(out + 8, v->version);
	hs_le64_put(out + 16, v->parent);
	hs_le64_put(out + 24, v->created_ns);
	hs_le64_put(out + 32, v->size_bytes);
	hs_le64_put(out + 40, v->lines_changed);
	hs_le64_put(out + 48, v->bytes_changed);
	hs_le64_put(out + 56, v->lines_used);
	memcpy(out + 64, v->ident, HS_IDENT_LEN);
	memcpy(out + VERSION_REC_FIXED, v->label, ll);
	return VERSION_REC_FIXED + ll;
}

int hs_version_rec__decode(hs_version_info *v, const uint8_t *p, size_t n)
{
	size_t ll, fixed = n && p[0] == 1 ? VERSION_REC_FIXED1 : VERSION_REC_FIXED;

	if (n < fixed)
		return hs_errno_set(-EUCLEAN, "version record truncated (%zu bytes)", n);
	if (p[0] != 1 && p[0] != 2)
		return hs_errno_set(-EUCLEAN, "version record of unknown format %u", p[0]);
	ll = (size_t)p[2] | (size_t)p[3] << 8;
	if (ll > HS_NAME_MAX || n != fixed + ll)
		return hs_errno_set(-EUCLEAN, "version record has a bad length (%zu bytes)", n);
	memset(v, 0, sizeof(*v));
	v->state_size = hs_le32_get(p + 4);
	v->version = hs_le64_get(p + 8);
	v->parent = hs_le64_get(p + 16);
	v->created_ns = hs_le64_get(p + 24);
	v->size_bytes = hs_le64_get(p + 32);
	v->lines_changed = hs_le64_get(p + 40);
	v->bytes_changed = hs_le64_get(p + 48);
	v->lines_used = hs_le64_get(p + 56);
	if (fixed == VERSION_REC_FIXED)
		memcpy(v->ident, p + 64, HS_IDENT_LEN);
	memcpy(v->label, p + fixed, ll);
	v->label[ll] = '\0';
	if (v->version == 0 || v->version == HS_VERSION_LIVE ||
	    v->parent >= v->version || v->size_bytes > HS_HEAP_SIZE_MAX ||
	    v->state_size > HS_STATE_SIZE_MAX)
		return hs_errno_set(-EUCLEAN, "version record %llu has impossible values",
				    (unsigned long long)v->version);
	return 0;
}

/*
 * A hand-over taken here ('D' heap ident, checkpoint ident), format 1:
 *   u8 format | u8 0[7] | u64 version | u64 at_ns
 */
void hs_key__handover(uint8_t out[HS_HANDOVER_KEY_LEN], const uint8_t heap_ident[HS_IDENT_LEN],
		      const uint8_t ident[HS_IDENT_LEN])
{
	out[0] = 'D';
	memcpy(out + 1, heap_ident, HS_IDENT_LEN);
	memcpy(out + 1 + HS_IDENT_LEN, ident, HS_IDENT_LEN);
}

void hs_handover__encode(uint8_t out[HS_HANDOVER_LEN], const hs_handover *r)
{
	memset(out, 0, HS_HANDOVER_LEN);
	out[0] = 1;
	hs_le64_put(out + 8, r->version);
	hs_le64_put(out + 16, r->at_ns);
}

int hs_handover__decode(hs_handover *r, const uint8_t *p, size_t n)
{
	if (n != HS_HANDOVER_LEN || p[0] != 1)
		return hs_errno_set(-EUCLEAN, "hand-over record damaged (%zu bytes)", n);
	r->version = hs_le64_get(p + 8);
	r->at_ns = hs_le64_get(p + 16);
	return 0;
}
