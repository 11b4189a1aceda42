/*
 * fuzz_seeds.c - writes the fuzzer's seed corpus: real streams of a small
 * heap with history (heap and state lines, zero lines, labels, a deleted
 * checkpoint), whole and incremental, made by mg_send from a real store.
 *
 *   fuzz_seeds DIR
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate.h"

static void die(const char *what)
{
	fprintf(stderr, "fuzz_seeds: %s: %s\n", what, hs_error_last());
	exit(1);
}

static void put(hs_heap *h, uint64_t line, int seed, uint32_t ls)
{
	char *buf = malloc(ls);

	for (uint32_t i = 0; i < ls; i++)
		buf[i] = (char)(i % 64 < 16 ? 0 : 'a' + (i * 7 + (unsigned)seed) % 26);
	if (hs_heap_write(h, buf, ls, line * ls) != (ssize_t)ls)
		die("write");
	free(buf);
}

static void send_to(hs_store *s, const char *dir, const char *file, uint64_t v, uint64_t from)
{
	char path[4096];
	mg_stats st;
	mg_io io = MG_IO_FD(-1);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((io.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 ||
	    mg_send(s, "app", v, from, &io, &st) < 0)
		die(path);
	close(io.fd);
}

/* One seed per negotiation message: its payload, as the decoders take it. */
static void seed_messages(const char *dir)
{
	static const uint8_t hashes[3][HS_HASH_LEN] = { { 1 }, { 2 }, { 3 } };
	struct mg_hello_v v[2] = { { 1, { 9 } }, { 4, { 8 } } };
	mg_hello h = { .proto = 2, .flags = MG_HELLO_FINAL, .ident = { 7 }, .line_size = 4096,
		       .name = "app", .created_ns = 5, .n = 2, .v = v };
	const uint8_t bits[1] = { 5 };
	char path[4096];
	mg_enc e;
	FILE *f;

	for (int i = 0; i < 5; i++) {
		if (mg_enc_init(&e) < 0)
			die("enc");
		switch (i) {
		case 0: mg_hello_put(&e, &h); break;
		case 1: mg_reply_put(&e, 0, 4, v[1].ident, "ok"); break;
		case 2: mg_offer_put(&e, hashes, 3); break;
		case 3: mg_answer_put(&e, bits, 3); break;
		default: mg_result_put(&e, -28, 0, "no room"); break;
		}
		snprintf(path, sizeof(path), "%s/message-%d", dir, i);
		if (!(f = fopen(path, "wb")) || fwrite(e.buf + MG_REC_HDR, 1, e.len - MG_REC_HDR, f) !=
		    e.len - MG_REC_HDR || fclose(f) != 0)
			die(path);
		mg_enc_free(&e);
	}
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/heapfs-seeds-XXXXXX", cmd[4200];
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	hs_store *s;
	hs_heap *h;

	if (argc != 2 || !mkdtemp(tmp))
		return 2;
	if (hs_store_open(&s, tmp, NULL) < 0)
		die("open");
	p.line_size = 4096;
	if (hs_heap_create(s, "app", &p) < 0 || hs_heap_open(&h, s, "app") < 0)
		die("create");
	for (int i = 0; i < 6; i++)
		put(h, (uint64_t)i * 3, i, p.line_size);
	if (hs_state_write(h, "registers", 9, 0) != 9 || hs_version_seal(h, "first", NULL) < 0)
		die("seal 1");
	put(h, 1, 40, p.line_size);
	if (hs_heap_punch(h, 3 * 4096, 4096) < 0 || hs_version_seal(h, NULL, NULL) < 0)
		die("seal 2");
	if (hs_heap_truncate(h, 10 * 4096) < 0 || hs_version_seal(h, "third", NULL) < 0 ||
	    hs_version_delete(h, 2) < 0)
		die("seal 3");
	put(h, 2, 41, p.line_size);
	if (hs_version_seal(h, NULL, NULL) < 0)
		die("seal 4");
	hs_heap_close(h);
	seed_messages(argv[1]);
	send_to(s, argv[1], "full.stream", 0, 0);
	send_to(s, argv[1], "first.stream", 1, 0);
	send_to(s, argv[1], "incremental.stream", 4, 3);
	hs_store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : 1;
}
