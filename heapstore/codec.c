/*
 * codec.c - the per-thread codec workspace: SHA-256 of a line, zstd frames
 * with content size and checksum, and the all-zero test.
 *
 * Each thread that touches line content gets one hs_scratch (zstd contexts,
 * a hash context, a line buffer and a frame buffer sized for the largest
 * line), allocated on first use and freed when the thread exits, so the hot
 * path never mallocs per line and no context is shared behind a lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapstore_int.h"

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256;

static void scratch_free(void *p)
{
	struct hs_scratch *sc = p;

	if (!sc)
		return;
	ZSTD_freeCCtx(sc->cctx);
	ZSTD_freeDCtx(sc->dctx);
	EVP_MD_CTX_free(sc->md);
	free(sc->line);
	free(sc->frame);
	free(sc);
}

static void scratch_init_once(void)
{
	(void)pthread_key_create(&scratch_key, scratch_free);
	/* Fetch once: EVP_sha256() would look the provider up on every init. */
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

struct hs_scratch *hs_scratch__get(void)
{
	struct hs_scratch *sc;

	pthread_once(&scratch_once, scratch_init_once);
	sc = pthread_getspecific(scratch_key);
	if (sc)
		return sc;
	if (!sha256) {
		hs_error_set("SHA-256 is not available from libcrypto");
		return NULL;
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		goto nomem;
	sc->frame_cap = ZSTD_compressBound(HS_LINE_SIZE_MAX);
	sc->cctx = ZSTD_createCCtx();
	sc->dctx = ZSTD_createDCtx();
	sc->md = EVP_MD_CTX_new();
	sc->line = malloc(HS_LINE_SIZE_MAX);
	sc->frame = malloc(sc->frame_cap);
	if (!sc->cctx || !sc->dctx || !sc->md || !sc->line || !sc->frame)
		goto nomem;
	if (pthread_setspecific(scratch_key, sc) != 0)
		goto nomem;
	return sc;
nomem:
	scratch_free(sc);
	hs_error_set("out of memory for codec workspace");
	return NULL;
}

void hs_codec__hash(struct hs_scratch *sc, const void *data, size_t len,
		    uint8_t out[HS_HASH_LEN])
{
	unsigned int n = 0;

	/* Cannot fail with a fetched digest and a valid context. */
	EVP_DigestInit_ex(sc->md, sha256, NULL);
	EVP_DigestUpdate(sc->md, data, len);
	EVP_DigestFinal_ex(sc->md, out, &n);
}

bool hs_codec__is_zero(const void *data, size_t len)
{
	const uint8_t *p = data;

	/* Compare the buffer against itself shifted by one: memcmp speed. */
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

int hs_codec__compress(struct hs_scratch *sc, int level, const void *data,
		       size_t len, const uint8_t **frame, size_t *frame_len)
{
	size_t r;

	if (sc->cctx_level != level) {
		/* A refused parameter would store frames without the checksum
		 * or content size that reads rely on: fail instead. */
		sc->cctx_level = 0;
		if (ZSTD_isError(r = ZSTD_CCtx_reset(sc->cctx, ZSTD_reset_session_and_parameters)) ||
		    ZSTD_isError(r = ZSTD_CCtx_setParameter(sc->cctx, ZSTD_c_compressionLevel, level)) ||
		    ZSTD_isError(r = ZSTD_CCtx_setParameter(sc->cctx, ZSTD_c_checksumFlag, 1)) ||
		    ZSTD_isError(r = ZSTD_CCtx_setParameter(sc->cctx, ZSTD_c_contentSizeFlag, 1)))
			return hs_errno_set(-EINVAL, "zstd refused level %d: %s", level,
					    ZSTD_getErrorName(r));
		sc->cctx_level = level;
	}
	r = ZSTD_compress2(sc->cctx, sc->frame, sc->frame_cap, data, len);
	if (ZSTD_isError(r))
		return hs_errno_set(-EIO, "zstd compression failed: %s",
				    ZSTD_getErrorName(r));
	*frame = sc->frame;
	*frame_len = r;
	return 0;
}

/* Decode a stored frame that must hold exactly @line_size bytes. */
int hs_codec__decompress(struct hs_scratch *sc, const void *frame,
			 size_t frame_len, void *dst, size_t line_size)
{
	unsigned long long csize = ZSTD_getFrameContentSize(frame, frame_len);
	size_t r;

	if (csize == ZSTD_CONTENTSIZE_ERROR)
		return hs_errno_set(-EBADMSG, "blob is not a zstd frame (%zu bytes)", frame_len);
	if (csize != line_size)
		return hs_errno_set(-EBADMSG, "blob frame declares %llu bytes, line holds %zu",
				    csize, line_size);
	r = ZSTD_decompressDCtx(sc->dctx, dst, line_size, frame, frame_len);
	if (ZSTD_isError(r))
		return hs_errno_set(-EBADMSG, "blob frame does not decode: %s",
				    ZSTD_getErrorName(r));
	if (r != line_size)
		return hs_errno_set(-EBADMSG, "blob frame decodes to %zu bytes, not %zu",
				    r, line_size);
	return 0;
}

void hs_hash_hex(char *out, size_t cap, const uint8_t hash[HS_HASH_LEN])
{
	/* 8 bytes are enough to name a blob in a message. */
	size_t n = 0;

	for (int i = 0; i < 8 && n + 3 <= cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%02x", hash[i]);
}
