/*
 * cutpipe.c - a pipe cut at byte N, for the migration fault tests:
 *
 *   cutpipe N                copy stdin to stdout, exactly N bytes at most,
 *                            then exit 0 (closing both: the writer upstream
 *                            gets EPIPE, the reader downstream EOF)
 *   cutpipe N hold [SECONDS] after N bytes read nothing more and close
 *                            nothing for SECONDS (default 60, at most a
 *                            day), then exit 0:
 *                            a stalled peer, silent in both directions
 *
 * It never reads past byte N, so what follows stays unread in the pipe.
 * EOF before N bytes exits 0 too, having forwarded everything.  A write
 * that fails (EPIPE: the reader went away) exits 1 with a message; a bad
 * command line exits 2.  Tests find it through CUTPIPE_BIN, which the
 * build defines for every integration test (tests/integration/
 * CMakeLists.txt); a test that runs it should also depend on the target:
 * add_dependencies(<test> cutpipe).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CUTPIPE_BUF_BYTES (64 * 1024)
#define CUTPIPE_HOLD_S_DEFAULT 60
#define CUTPIPE_HOLD_S_MAX (24 * 3600)

static int usage(void)
{
	fprintf(stderr, "usage: cutpipe BYTES [hold [SECONDS]]\n");
	return 2;
}

/* Digits only, no sign or suffix: 0, or -EINVAL. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Forward at most @limit bytes: 0 (done or EOF) or -errno. */
static int forward(uint64_t limit)
{
	static char buf[CUTPIPE_BUF_BYTES];
	uint64_t left = limit;
	int rc;

	while (left > 0) {
		size_t want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		ssize_t r = read(STDIN_FILENO, buf, want);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			fprintf(stderr, "cutpipe: read: %s\n", strerror(-rc));
			return rc;
		}
		if (r == 0)
			return 0;
		if ((rc = write_all(STDOUT_FILENO, buf, (size_t)r)) < 0) {
			fprintf(stderr, "cutpipe: write: %s\n", strerror(-rc));
			return rc;
		}
		left -= (uint64_t)r;
	}
	return 0;
}

static void hold(uint64_t seconds)
{
	struct timespec ts = { 0, 0 };

	ts.tv_sec = (time_t)(seconds < CUTPIPE_HOLD_S_MAX ? seconds : CUTPIPE_HOLD_S_MAX);

	/* nanosleep leaves the time still to go in ts when a signal interrupts. */
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	uint64_t limit, hold_s = CUTPIPE_HOLD_S_DEFAULT;
	int holding = 0;

	if (argc < 2 || argc > 4 || parse_u64(argv[1], &limit) < 0)
		return usage();
	if (argc >= 3) {
		if (strcmp(argv[2], "hold") != 0)
			return usage();
		holding = 1;
		if (argc == 4 && parse_u64(argv[3], &hold_s) < 0)
			return usage();
	}
	/* A reader that goes away is an error to report, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	if (forward(limit) < 0)
		return 1;
	if (holding)
		hold(hold_s);
	return 0;
}
