/*
 * cutpipe.c - a pipe cut at byte N, for the migration fault tests:
 *
 *   cutpipe N                copy stdin to stdout, exactly N bytes at most,
 *                            then exit 0 (closing both: the writer upstream
 *                            gets EPIPE, the reader downstream EOF)
 *   cutpipe N hold [SECONDS [FILE]]  after N bytes read nothing more and
 *                            close nothing for SECONDS (default 60, at
 *                            most a day), then exit 0: a stalled peer,
 *                            silent in both directions; FILE is created
 *                            when the stall begins
 *   cutpipe N drain          after N bytes close stdout, then read and drop
 *                            stdin until EOF (10 s at most): the writer
 *                            upstream sends all it has, its reader gets N
 *   cutpipe answer T CMD...  run CMD with pipes for its stdin and stdout and
 *                            pass both ways, until CMD's output (migration
 *                            messages: 8-byte headers, type first, payload
 *                            length little-endian at bytes 4-7) begins a
 *                            message of type T: then close both ways
 *                            (that header is not passed) and wait for CMD:
 *                            an answer lost with the connection
 *   cutpipe keepanswer T FILE CMD...  as answer, but at that message
 *                            create FILE, drop CMD's output from there on
 *                            and go on passing stdin to CMD until its EOF
 *                            or CMD's output ends: an answer held back
 *                            while the source waits (a test kills either
 *                            daemon then)
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
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CUTPIPE_BUF_BYTES (64 * 1024)
#define CUTPIPE_HOLD_S_DEFAULT 60
#define CUTPIPE_HOLD_S_MAX (24 * 3600)
#define CUTPIPE_DRAIN_S 10   /* a writer that never ends is not waited for longer */

static int usage(void)
{
	fprintf(stderr, "usage: cutpipe BYTES [hold [SECONDS [FILE]] | drain]\n"
		"       cutpipe answer TYPE COMMAND [ARG...]\n"
		"       cutpipe keepanswer TYPE FILE COMMAND [ARG...]\n");
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

/* Read and drop stdin until EOF or @seconds pass. */
static void drain(unsigned seconds)
{
	static char buf[CUTPIPE_BUF_BYTES];
	time_t end = time(NULL) + seconds;
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };

	while (time(NULL) < end) {
		int r = poll(&p, 1, 1000);

		if (r < 0 && errno != EINTR)
			return;
		if (r > 0 && read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
			return;   /* EOF, or an error: the writer is gone */
	}
}

/*
 * Pass stdin to @argv's stdin and its stdout to ours until its output
 * begins a message of @type; then close every end and reap it (or, with
 * @mark, create it and pass stdin on until its EOF first).  0 or 1.
 */
static int answer(int type, const char *mark, char **argv)
{
	static char buf[CUTPIPE_BUF_BYTES];
	uint8_t hdr[8];
	size_t have = 0;                  /* header bytes of the message begun */
	uint64_t left = 0;                /* its payload still to pass */
	int in[2], out[2], st;
	bool held = false;                /* @type began: its output is dropped */
	pid_t pid;

	if (pipe(in) < 0 || pipe(out) < 0 || (pid = fork()) < 0) {
		perror("cutpipe");
		return 1;
	}
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execvp(argv[0], argv);
		perror("cutpipe: exec");
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	for (;;) {
		struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
				       { .fd = out[0], .events = POLLIN } };
		ssize_t r;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			if ((r = read(STDIN_FILENO, buf, sizeof(buf))) <= 0 ||
			    write_all(in[1], buf, (size_t)r) < 0)
				break;
		}
		if (!p[1].revents)
			continue;
		r = read(out[0], buf, sizeof(buf));
		if (r <= 0)   /* CMD is gone (a far side whose daemon died) */
			break;
		if (held)     /* dropped */
			continue;
		/* Pass whole headers and payloads, a header only once its type
		 * is known not to be @type. */
		for (ssize_t at = 0; at < r;) {
			size_t n;

			if (left) {
				n = (size_t)(r - at) < left ? (size_t)(r - at) : (size_t)left;
				if (write_all(STDOUT_FILENO, buf + at, n) < 0)
					goto cut;
				left -= n;
				at += (ssize_t)n;
				continue;
			}
			hdr[have++] = (uint8_t)buf[at++];
			if (have < sizeof(hdr))
				continue;
			if (hdr[0] == type && mark) {
				FILE *f = fopen(mark, "w");

				if (!f || fclose(f) != 0)
					perror(mark);
				held = true;
				break;
			}
			if (hdr[0] == type)
				goto cut;
			if (write_all(STDOUT_FILENO, (const char *)hdr, sizeof(hdr)) < 0)
				goto cut;
			left = (uint64_t)hdr[4] | (uint64_t)hdr[5] << 8 | (uint64_t)hdr[6] << 16 |
			       (uint64_t)hdr[7] << 24;
			have = 0;
		}
	}
cut:
	close(in[1]);
	close(out[0]);
	close(STDIN_FILENO);
	close(STDOUT_FILENO);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t limit, hold_s = CUTPIPE_HOLD_S_DEFAULT;
	const char *mark = NULL;
	int holding = 0;

	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && strcmp(argv[1], "answer") == 0 && strlen(argv[2]) == 1)
		return answer((unsigned char)argv[2][0], NULL, argv + 3);
	if (argc >= 5 && strcmp(argv[1], "keepanswer") == 0 && strlen(argv[2]) == 1)
		return answer((unsigned char)argv[2][0], argv[3], argv + 4);
	if (argc < 2 || argc > 5 || parse_u64(argv[1], &limit) < 0)
		return usage();
	if (argc == 3 && strcmp(argv[2], "drain") == 0) {
		if (forward(limit) < 0)
			return 1;
		close(STDOUT_FILENO);
		drain(CUTPIPE_DRAIN_S);
		return 0;
	}
	if (argc >= 3) {
		if (strcmp(argv[2], "hold") != 0)
			return usage();
		holding = 1;
		if (argc >= 4 && parse_u64(argv[3], &hold_s) < 0)
			return usage();
		mark = argc == 5 ? argv[4] : NULL;
	}
	/* A reader that goes away is an error to report, not a silent death. */
	if (forward(limit) < 0)
		return 1;
	if (holding) {
		FILE *f = mark ? fopen(mark, "w") : NULL;

		if (mark && (!f || fclose(f) != 0)) {
			perror(mark);
			return 1;
		}
		hold(hold_s);
	}
	return 0;
}
