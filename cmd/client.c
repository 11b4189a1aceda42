/*
 * client.c - the commands' heapctl side: the printers that turn a
 * response into short lines, and the client runners of the commands
 * whose client does more than send one request and print its answer.
 * They run in heapctl, never in the daemon; the table (table.c) names them.
 */
#include <stdio.h>
#include <string.h>
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

	fprintf(out, "%-24s %14s %8s %10s %6s\n", "HEAP", "SIZE", "LINE", "LINES", "CKPTS");
	json_array_foreach(json_object_get(resp, "heaps"), i, h)
		fprintf(out, "%-24s %14lld %8lld %10lld %6lld\n",
			json_string_value(json_object_get(h, "name")), int_of(h, "size"),
			int_of(h, "line_size"), int_of(h, "lines_used"), int_of(h, "checkpoints"));
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
	if (!(resp = ses->stream(ses, req, fd)))
		return 1;
	cmd_response_print(out ? stderr : stdout, def, resp, ses->json);
	json_decref(resp);
	return 0;
}
