/*
 * client.c - the commands' heapctl side: the printers that turn a
 * response into short lines, and the client runners of the commands
 * whose client does more than send one request and print its answer.
 * They run in heapctl, never in the daemon; the table (table.c) names them.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd_int.h"

static long long int_of(const json_t *obj, const char *key)
{
	return (long long)json_integer_value(json_object_get(obj, key));
}

static const char *when(uint64_t ns, char *buf, size_t cap)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;

	strftime(buf, cap, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	return buf;
}

void cmd__print_ls(FILE *out, const json_t *resp)
{
	const json_t *h;
	size_t i;

	fprintf(out, "%-24s %14s %8s %10s %6s  %s\n", "HEAP", "SIZE", "LINE", "LINES", "CKPTS",
		"STATE");
	json_array_foreach(json_object_get(resp, "heaps"), i, h) {
		const char *state = json_string_value(json_object_get(h, "state"));
		const char *to = json_string_value(json_object_get(h, "moved_to"));

		/* A migrated heap says where it went; one being migrated, where to. */
		fprintf(out, "%-24s %14lld %8lld %10lld %6lld  %s%s%s\n",
			json_string_value(json_object_get(h, "name")), int_of(h, "size"),
			int_of(h, "line_size"), int_of(h, "lines_used"), int_of(h, "checkpoints"),
			state ? state : "?", to ? " to " : "", to ? to : "");
	}
}

void cmd__print_stat(FILE *out, const json_t *resp)
{
	const char *key;
	const json_t *v;

	json_object_foreach((json_t *)json_object_get(resp, "heap"), key, v) {
		if (json_is_string(v))
			fprintf(out, "%s: %s\n", key, json_string_value(v));
		else
			fprintf(out, "%s: %lld\n", key, (long long)json_integer_value(v));
	}
	json_object_foreach((json_t *)json_object_get(resp, "cache"), key, v)
		fprintf(out, "cache_%s: %lld\n", key, (long long)json_integer_value(v));
}

/* A budget's sub-pools, then a line per heap (with its balloon if shown). */
static void print_budget(FILE *out, const json_t *bud)
{
	const json_t *h;
	size_t i;

	fprintf(out, "%-8s %14s %14s %14s\n", "SUBPOOL", "SIZE", "LEVEL", "LOW");
	for (size_t s = 0; s < POOL_NSUB; s++) {
		const json_t *sub = json_object_get(json_object_get(bud, "subpools"),
						    cmd__sub_names[s]);

		fprintf(out, "%-8s %14lld %14lld %14lld\n", cmd__sub_names[s], int_of(sub, "size"),
			int_of(sub, "level"), int_of(sub, "low"));
	}
	fprintf(out, "%-24s %12s %12s %6s %12s %12s %12s %12s %12s %12s\n", "HEAP", "RESERVE",
		"QUOTA", "SHARES", "USED", "OWED", "IDLE", "COLLATERAL", "BALLOON", "GIVEN");
	json_array_foreach(json_object_get(bud, "heaps"), i, h) {
		const json_t *b = json_object_get(h, "balloon");

		fprintf(out, "%-24s %12lld %12lld %6lld %12lld %12lld %12lld %12lld ",
			json_string_value(json_object_get(h, "heap")), int_of(h, "reserve"),
			int_of(h, "quota"), int_of(h, "shares"), int_of(h, "used"), int_of(h, "owed"),
			int_of(h, "idle"), int_of(h, "collateral"));
		if (b)
			fprintf(out, "%12lld %12lld\n", int_of(b, "target"), int_of(b, "current"));
		else
			fprintf(out, "%12s %12s\n", "-", "-");
	}
}

/* heapctl pool: each budget, its sub-pools and a line per heap. */
void cmd__print_pool(FILE *out, const json_t *resp)
{
	const json_t *sp = json_object_get(resp, "space"), *mem = json_object_get(resp, "memory");

	if (int_of(sp, "size"))
		fprintf(out, "space:  %lld of %lld bytes", int_of(sp, "used"), int_of(sp, "size"));
	else
		fprintf(out, "space:  %lld bytes (no pool=: the disk's)", int_of(sp, "used"));
	fprintf(out, ", %lld held for dirty lines, %lld reserved unused, %lld garbage\n",
		int_of(sp, "charged"), int_of(sp, "reserved_unused"), int_of(sp, "garbage"));
	if (json_object_get(sp, "subpools")) {
		fprintf(out, "space ledger: a budget of %lld bytes, %lld reserved, %lld lent past "
			"the sub-pools (heaps' used counts shared blobs for each)\n",
			int_of(sp, "budget"), int_of(sp, "reserved"), int_of(sp, "idle_lent"));
		print_budget(out, sp);
	}
	if (!mem) {
		fprintf(out, "memory: no line cache\n");
		return;
	}
	fprintf(out, "memory: %lld of %lld bytes, %lld reserved, %lld lent from idle memory\n",
		int_of(mem, "used"), int_of(mem, "size"), int_of(mem, "reserved"),
		int_of(mem, "idle_lent"));
	print_budget(out, mem);
}

void cmd__print_version(FILE *out, const json_t *resp)
{
	fprintf(out, "%lld\n", int_of(resp, "version"));
}

void cmd__print_checkpoints(FILE *out, const json_t *resp)
{
	const json_t *v;
	char buf[64];
	size_t i;

	fprintf(out, "%8s  %-19s  %-20s %8s %12s\n", "VERSION", "CREATED", "LABEL", "LINES",
		"BYTES");
	json_array_foreach(json_object_get(resp, "checkpoints"), i, v) {
		fprintf(out, "%8lld  %-19s  %-20s %8lld %12lld\n", int_of(v, "version"),
			when((uint64_t)int_of(v, "created_ns"), buf, sizeof(buf)),
			json_string_value(json_object_get(v, "label")), int_of(v, "lines_changed"),
			int_of(v, "bytes_changed"));
	}
}

void cmd__print_space(FILE *out, const json_t *resp)
{
	const json_t *v;
	size_t i;

	fprintf(out, "referenced: %lld\nunique: %lld\nreserve: %lld\nquota: %lld\n",
		int_of(resp, "referenced"), int_of(resp, "unique"), int_of(resp, "reserve"),
		int_of(resp, "quota"));
	fprintf(out, "%8s  %-20s %12s %12s %12s %12s\n", "VERSION", "LABEL", "HELD", "UNIQUE",
		"SHARED", "FREED");
	json_array_foreach(json_object_get(resp, "checkpoints"), i, v) {
		fprintf(out, "%8lld  %-20s %12lld %12lld %12lld %12lld\n", int_of(v, "version"),
			json_string_value(json_object_get(v, "label")), int_of(v, "held"),
			int_of(v, "unique"), int_of(v, "shared"), int_of(v, "freed_if_deleted"));
	}
}

void cmd__print_restore(FILE *out, const json_t *resp)
{
	fprintf(out, "restored to %lld\n", int_of(resp, "version"));
}

/* Byte offsets, as lines/ names them; state lines after the heap's. */
void cmd__print_diff(FILE *out, const json_t *resp)
{
	long long ls = int_of(resp, "line_size");
	const json_t *v;
	size_t i;

	json_array_foreach(json_object_get(resp, "lines"), i, v)
		fprintf(out, "%016llx\n", (long long)json_integer_value(v) * ls);
	json_array_foreach(json_object_get(resp, "state_lines"), i, v)
		fprintf(out, "state %016llx\n", (long long)json_integer_value(v) * ls);
}

void cmd__print_gc(FILE *out, const json_t *resp)
{
	fprintf(out, "reclaimed %lld blobs, %lld bytes stored (%lld candidates, %lld busy)\n",
		int_of(resp, "blobs_freed"), int_of(resp, "bytes_freed"),
		int_of(resp, "candidates"), int_of(resp, "busy"));
}

void cmd__print_fsck(FILE *out, const json_t *resp)
{
	size_t n_repaired = json_array_size(json_object_get(resp, "repaired"));
	size_t n_lost = json_array_size(json_object_get(resp, "lost"));
	const json_t *v;
	size_t i;

	json_array_foreach(json_object_get(resp, "problems"), i, v)
		fprintf(out, "%s\n", json_string_value(v));
	json_array_foreach(json_object_get(resp, "repaired"), i, v)
		fprintf(out, "%s%s\n", HS_FSCK_REPAIRED, json_string_value(v));
	json_array_foreach(json_object_get(resp, "lost"), i, v)
		fprintf(out, "%s%s\n", HS_FSCK_LOST, json_string_value(v));
	if (n_repaired)
		fprintf(out, "%zu repaired\n", n_repaired);
	if (n_lost)
		fprintf(out, "%zu lines lost\n", n_lost);
	fprintf(out, "%lld errors\n", int_of(resp, "errors"));
}

void cmd_response_print(FILE *out, const cmd_def *def, json_t *resp, bool json)
{
	if (json) {
		json_object_del(resp, "ok");
		json_dumpf(resp, out, JSON_INDENT(2));
		fputc('\n', out);
	} else if (def->print) {
		def->print(out, resp);
	}
}

/*
 * fsck opens the store read-only, so a check provably changes nothing,
 * unless it repairs; a store a daemon holds then fails to open (EBUSY).
 * Its exit status is whether errors are left.
 */
int cmd__fsck_client(const cmd_def *def, json_t *req, cmd_session *ses)
{
	json_t *resp;
	int rc;

	ses->read_only = !json_is_true(json_object_get(req, "repair"));
	if (!(resp = ses->request(ses, req)))
		return 1;
	rc = int_of(resp, "errors") ? 1 : 0;
	cmd_response_print(stdout, def, resp, ses->json);
	json_decref(resp);
	return rc;
}

/* send, recv, verify: what moved. */
void cmd__print_stream(FILE *out, const json_t *resp)
{
	const char *heap = json_string_value(json_object_get(resp, "heap"));

	fprintf(out, "%s %s: version %lld, %lld versions, %lld lines, %lld blobs (%lld bytes), "
		"%lld bytes of stream\n",
		json_string_value(json_object_get(resp, "did")), heap ? heap : "?",
		int_of(resp, "version"), int_of(resp, "versions"), int_of(resp, "lines"),
		int_of(resp, "blobs"), int_of(resp, "blob_bytes"), int_of(resp, "bytes"));
	if (int_of(resp, "contents_held"))
		fprintf(out, "%lld contents it names are not in it: the receiver must hold them\n",
			int_of(resp, "contents_held"));
}

/*
 * send, recv and verify: the stream is heapctl's stdout (send) or stdin,
 * never a terminal: a stream is binary, and a receiver waiting on a
 * terminal would wait for a paste.  The summary goes to stderr for send.
 */
int cmd__stream_client(const cmd_def *def, json_t *req, cmd_session *ses)
{
	bool out = strcmp(def->name, "send") == 0;
	int fd = out ? STDOUT_FILENO : STDIN_FILENO;
	json_t *resp;

	if (isatty(fd))
		return ses->fail(ses, out ? "stdout is a terminal: send the stream to a file or "
				 "a pipe (heapctl send HEAP > FILE)" :
				 "stdin is a terminal: give it a stream from a file or a pipe");
	if (!(resp = ses->stream(ses, req, fd, -1)))
		return 1;
	cmd_response_print(out ? stderr : stdout, def, resp, ses->json);
	json_decref(resp);
	return 0;
}

void cmd__print_migrate(FILE *out, const json_t *resp)
{
	fprintf(out, "migrated %s to %s: version %lld (common version %lld), %lld rounds\n"
		"lines: %lld total, %lld sent, %lld already there; bytes: %lld payload, "
		"%lld negotiation, %lld skipped\ndowntime %lld ms, %.3f s in all\n",
		json_string_value(json_object_get(resp, "heap")),
		json_string_value(json_object_get(resp, "dest")), int_of(resp, "version"),
		int_of(resp, "common_version"), int_of(resp, "rounds"), int_of(resp, "lines_total"),
		int_of(resp, "lines_sent"), int_of(resp, "lines_present"),
		int_of(resp, "payload_bytes"), int_of(resp, "negotiation_bytes"),
		int_of(resp, "bytes_skipped"), int_of(resp, "downtime_ms"),
		json_real_value(json_object_get(resp, "seconds")));
}

/* @s as one word of a POSIX shell command line: single-quoted. */
static char *sh_quote(const char *s)
{
	size_t n = 2;
	char *out, *o;

	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	if (!(out = malloc(n + 1)))
		return NULL;
	o = out;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

/* --rsh CMD split into words as rsync splits -e: on blanks, with '...'
 * and "..." keeping blanks.  Words into @argv (at most @max - 3 of them,
 * room kept for the host, the command and NULL); their count, or -1. */
static int rsh_split(char *cmd, char **argv, int max)
{
	int n = 0;
	char *p = cmd;

	while (*p) {
		char *w = p, *o = p, q = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		w = o = p;
		while (*p && (q || (*p != ' ' && *p != '\t'))) {
			if (!q && (*p == '\'' || *p == '"'))
				q = *p++;
			else if (q && *p == q)
				q = 0, p++;
			else
				*o++ = *p++;
		}
		if (q || n >= max - 3)
			return -1;
		if (*p)
			p++;
		*o = '\0';
		argv[n++] = w;
	}
	return n;
}

/*
 * migrate: start `heapctl -m MOUNTPOINT serve` on HOST through --rsh, with
 * one end of a socket pair as its stdin and stdout, and hand the other end
 * to the daemon, which speaks the protocol with the far daemon through it
 * (no byte goes through this process).  Afterwards the far side sees the
 * end of its input and exits; it is ours to wait for.
 */
int cmd__migrate_client(const cmd_def *def, json_t *req, cmd_session *ses)
{
	const char *dest = json_string_value(json_object_get(req, "dest"));
	const char *rsh = json_string_value(json_object_get(req, "rsh"));
	const char *path = json_string_value(json_object_get(req, "heapctl_path"));
	const char *colon = dest ? strchr(dest, ':') : NULL;
	char *rsh_copy = NULL, *host = NULL, *qmnt = NULL, *qpath = NULL, *remote = NULL;
	char *argv[64];
	posix_spawn_file_actions_t fa;
	json_t *resp = NULL;
	int sv[2] = { -1, -1 }, n, st, rc = 1;
	pid_t pid = 0;

	if (!colon || colon == dest || !colon[1])
		return ses->fail(ses, "the destination is [USER@]HOST:MOUNTPOINT");
	if (!(rsh_copy = strdup(rsh ? rsh : "ssh")) ||
	    !(host = strndup(dest, (size_t)(colon - dest))) || !(qmnt = sh_quote(colon + 1)) ||
	    !(qpath = sh_quote(path ? path : "heapctl"))) {
		rc = ses->fail(ses, strerror(ENOMEM));
		goto out;
	}
	if ((n = rsh_split(rsh_copy, argv, 64)) <= 0) {
		rc = ses->fail(ses, "--rsh: not a command (an unclosed quote?)");
		goto out;
	}
	/* The far shell gets one line, every argument in it quoted: a
	 * mountpoint with spaces or ; $ ` runs nothing. */
	if (asprintf(&remote, "%s -m %s serve", qpath, qmnt) < 0) {
		remote = NULL;
		rc = ses->fail(ses, strerror(ENOMEM));
		goto out;
	}
	argv[n++] = host;
	argv[n++] = remote;
	argv[n] = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = ses->fail(ses, strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
	st = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	sv[1] = -1;
	if (st != 0) {
		char why[256];

		pid = 0;
		snprintf(why, sizeof(why), "--rsh %s: %s", argv[0], strerror(st));
		rc = ses->fail(ses, why);
		goto out;
	}
	resp = ses->stream(ses, req, sv[0], -1);
	close(sv[0]);   /* the far side reads its end and exits */
	sv[0] = -1;
	if (resp) {
		cmd_response_print(stdout, def, resp, ses->json);
		rc = 0;
	}
out:
	if (pid > 0) {
		/* Ours: give it 10 s to see the end, then stop it.  It is
		 * usually gone within a millisecond: a pidfd wakes us then,
		 * else look every millisecond. */
		int pfd = pidfd_open(pid, 0);

		if (pfd >= 0) {
			struct pollfd p = { .fd = pfd, .events = POLLIN };

			while (poll(&p, 1, 10000) < 0 && errno == EINTR)
				;
			close(pfd);
		}
		for (int i = 0; pfd < 0 && i < 10000 && waitpid(pid, &st, WNOHANG) == 0; i++)
			usleep(1000);
		if (waitpid(pid, &st, WNOHANG) == 0) {
			kill(pid, SIGTERM);
			waitpid(pid, &st, 0);
		}
	}
	if (sv[0] >= 0)
		close(sv[0]);
	json_decref(resp);
	free(rsh_copy);
	free(host);
	free(qmnt);
	free(qpath);
	free(remote);
	return rc;
}

/* serve: the protocol is stdin and stdout; only failures are said, on
 * stderr (the source prints the summary). */
int cmd__serve_client(const cmd_def *def, json_t *req, cmd_session *ses)
{
	json_t *resp;

	(void)def;
	if (isatty(STDIN_FILENO) || isatty(STDOUT_FILENO))
		return ses->fail(ses, "the far end of heapctl migrate, which runs it through "
				 "--rsh: stdin and stdout are its protocol, not a terminal");
	if (!(resp = ses->stream(ses, req, STDIN_FILENO, STDOUT_FILENO)))
		return 1;
	json_decref(resp);
	return 0;
}
