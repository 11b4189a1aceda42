/*
 * error.c - the one error convention: 0 or -errno, plus a thread-local
 * one-line message set where the failure is found (STYLE.md section 3).
 * RocksDB's error strings are translated here, once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapstore_int.h"

static __thread char errbuf[512];

const char *hs_error_last(void)
{
	return errbuf;
}

/*
 * Format into a local buffer first: callers may pass hs_error_last() as an
 * argument to prefix the message with where the failure was seen.
 */
static void error_vset(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static void error_vset(const char *fmt, va_list ap)
{
	char tmp[sizeof(errbuf)];

	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	memcpy(errbuf, tmp, sizeof(errbuf));
}

void hs_error_set(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(fmt, ap);
	va_end(ap);
}

int hs_errno_set(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * Map a RocksDB error string (RocksDB's Status::ToString()) to an errno,
 * record "<what>: <text>" and free the string.  Returns the negative errno.
 */
int hs_rdb_error(char *err, const char *what)
{
	static const struct {
		const char *prefix;
		int rc;
	} map[] = {
		{ "Corruption", -EUCLEAN },
		{ "IO error: No space", -ENOSPC },
		{ "IO error: While lock file", -EBUSY },
		{ "IO error", -EIO },
		{ "Invalid argument", -EINVAL },
		{ "Not found", -ENOENT },
		{ "Busy", -EBUSY },
		{ "Resource busy", -EBUSY },
		{ "Operation aborted", -ECANCELED },
		{ "Not implemented", -ENOSYS },
		{ "Result incomplete", -EAGAIN },
		{ "Try again", -EAGAIN },
	};
	int rc = -EIO;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strncmp(err, map[i].prefix, strlen(map[i].prefix)) == 0) {
			rc = map[i].rc;
			break;
		}
	}
	if (rc == -EIO && strstr(err, "No space left"))
		rc = -ENOSPC;
	if (rc == -EIO && (strstr(err, "Resource temporarily unavailable") ||
			   strstr(err, "lock hold by current process") ||
			   strstr(err, "No locks available")))
		rc = -EBUSY;
	hs_error_set("%s: %s", what, err);
	rocksdb_free(err);
	return rc;
}
