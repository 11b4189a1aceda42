/*
 * settings.c - the parsers of the heap properties the policy acts on
 * (autocheckpoint, keep): one for fs/xattr.c to check a value before it is
 * kept and for the scheduler to read it back.  The values come from users:
 * every number is checked for overflow before it is multiplied, every part
 * may appear once, and nothing but the grammar in checkpoint.h passes.
 */
#include <errno.h>
#include <string.h>

#include "checkpoint.h"

/* Decimal digits at *@p (at least one), advancing *@p; -EINVAL or -ERANGE. */
static int digits(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return 0;
}

static int scaled(uint64_t v, uint64_t mult, uint64_t max, uint64_t *out)
{
	if (v > max / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

/* "200ms", "30s", "5m", "1h", "90" (seconds). */
static int duration_parse(const char *s, uint64_t *ms_out)
{
	uint64_t v, mult;
	int rc;

	if ((rc = digits(&s, &v)) < 0)
		return rc;
	if (!strcmp(s, "ms"))
		mult = 1;
	else if (!*s || !strcmp(s, "s"))
		mult = 1000;
	else if (!strcmp(s, "m"))
		mult = 60 * 1000;
	else if (!strcmp(s, "h"))
		mult = 3600 * 1000;
	else
		return -EINVAL;
	if ((rc = scaled(v, mult, CKPT_INTERVAL_MAX_MS, ms_out)) < 0)
		return rc;
	return *ms_out ? 0 : -EINVAL;
}

/* "64M", "1G", "4096", "8KiB": as heapctl's sizes. */
static int size_parse(const char *s, uint64_t *out)
{
	uint64_t v, mult = 1;
	int rc;

	if ((rc = digits(&s, &v)) < 0)
		return rc;
	switch (*s) {
	case 'k': case 'K': mult = 1ULL << 10; s++; break;
	case 'm': case 'M': mult = 1ULL << 20; s++; break;
	case 'g': case 'G': mult = 1ULL << 30; s++; break;
	case 't': case 'T': mult = 1ULL << 40; s++; break;
	default: break;
	}
	if (*s && strcmp(s, "B") && strcmp(s, "iB"))
		return -EINVAL;
	if ((rc = scaled(v, mult, CKPT_DIRTY_MAX, out)) < 0)
		return rc;
	return *out ? 0 : -EINVAL;
}

int ckpt_auto_parse(const char *s, ckpt_auto *out)
{
	ckpt_auto a = { 0, 0 };
	bool have_interval = false, have_dirty = false;
	char part[HS_PROP_VALUE_MAX + 1];
	int rc;

	if (!s || !*s)
		return -EINVAL;
	if (!strcmp(s, "off")) {
		*out = a;
		return 0;
	}
	while (*s) {
		size_t n = strcspn(s, ",");

		if (n == 0 || n >= sizeof(part))
			return -EINVAL;   /* an empty part, or longer than any value */
		memcpy(part, s, n);
		part[n] = '\0';
		s += n;
		if (*s == ',' && !*++s)
			return -EINVAL;   /* a trailing comma */
		if (!strncmp(part, "interval=", 9)) {
			if (have_interval)
				return -EINVAL;
			have_interval = true;
			rc = duration_parse(part + 9, &a.interval_ms);
		} else if (!strncmp(part, "dirty=", 6)) {
			if (have_dirty)
				return -EINVAL;
			have_dirty = true;
			rc = size_parse(part + 6, &a.dirty_bytes);
		} else {
			rc = -EINVAL;
		}
		if (rc < 0)
			return rc;
	}
	*out = a;
	return 0;
}

int ckpt_keep_parse(const char *s, uint32_t *out)
{
	uint64_t v;
	int rc;

	if (!s)
		return -EINVAL;
	if ((rc = digits(&s, &v)) < 0)
		return rc;
	if (*s)
		return -EINVAL;
	if (v > CKPT_KEEP_MAX)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}
