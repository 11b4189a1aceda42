/*
 * heap_app.c - a tiny "runtime" for the demo: it maps a heapfs heap
 * (MAP_SHARED), builds a linked list of records in it with offsets rather
 * than pointers (so any process, at any address, reads it back), and then
 * answers commands on stdin, one line each:
 *
 *   check        walk the list and say whether every record is intact
 *   bump [N]     add 1 to the first N records' values (all: every one), msync
 *   watch EVENTS open a heap's events file, to hear from heapfs
 *   wait WORD    block in poll() until an event starting with WORD arrives; print it
 *   remap HEAP   map another heap file instead (the heap moved), without building
 *   quit         unmap and exit
 *
 * usage: heap_app HEAP_FILE RECORDS
 */
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAGIC 0x68656170666c7374ULL   /* "heapflst" */

struct header {
	uint64_t magic;
	uint64_t count;
	uint64_t head;                /* offset of the first record, 0: none */
};

struct record {
	uint64_t next;                /* offset of the next record, 0: end */
	uint64_t key;
	uint64_t value;
	char name[32];
	uint64_t check;               /* of key, value and name */
};

static uint64_t record_check(const struct record *r)
{
	uint64_t h = r->key * 0x9e3779b97f4a7c15ULL ^ r->value;

	for (size_t i = 0; i < sizeof(r->name); i++)
		h = (h ^ (uint8_t)r->name[i]) * 1099511628211ULL;
	return h;
}

/* Records spread over the heap, one every 24 KiB, so they span many lines. */
static void build(uint8_t *base, uint64_t n)
{
	struct header *h = (struct header *)base;
	uint64_t prev = 0;

	for (uint64_t i = n; i-- > 0;) {
		uint64_t off = 4096 + i * 24576;
		struct record *r = (struct record *)(base + off);

		r->next = prev;
		r->key = i;
		r->value = i * i;
		snprintf(r->name, sizeof(r->name), "player-%llu", (unsigned long long)i);
		r->check = record_check(r);
		prev = off;
	}
	h->magic = MAGIC;
	h->count = n;
	h->head = prev;
}

static void check(const uint8_t *base, size_t size)
{
	const struct header *h = (const struct header *)base;
	uint64_t off, seen = 0, sum = 0;

	if (h->magic != MAGIC) {
		printf("DAMAGED: the list header is gone\n");
		return;
	}
	for (off = h->head; off; off = ((const struct record *)(base + off))->next) {
		const struct record *r = (const struct record *)(base + off);

		if (off + sizeof(*r) > size || r->check != record_check(r)) {
			printf("DAMAGED: record %llu at offset %llu is corrupt\n",
			       (unsigned long long)seen, (unsigned long long)off);
			return;
		}
		seen++;
		sum += r->value;
	}
	printf("%s: %llu records, values sum to %llu\n",
	       seen == h->count ? "intact" : "DAMAGED", (unsigned long long)seen,
	       (unsigned long long)sum);
}

static void bump(uint8_t *base, size_t size, uint64_t n)
{
	const struct header *h = (const struct header *)base;

	for (uint64_t off = h->head; off && n-- && off + sizeof(struct record) <= size;) {
		struct record *r = (struct record *)(base + off);

		r->value++;
		r->check = record_check(r);
		off = r->next;
	}
	printf(msync(base, size, MS_SYNC) == 0 ? "bumped\n" : "msync failed\n");
}

/* The next event line starting with @word, from @fd (poll()ed). */
static void wait_event(int fd, const char *word)
{
	static char buf[4096];
	static size_t have;

	for (;;) {
		char *nl = memchr(buf, '\n', have);
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;

		if (nl) {
			size_t len = (size_t)(nl - buf) + 1;
			int match = strncmp(buf, word, strlen(word)) == 0;

			if (match)
				printf("event: %.*s\n", (int)(len - 1), buf);
			memmove(buf, buf + len, have - len);
			have -= len;
			if (match)
				return;
			continue;
		}
		if (poll(&p, 1, 30000) <= 0) {
			printf("no '%s' event within 30 s\n", word);
			return;
		}
		if ((r = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0)
			have += (size_t)r;
	}
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 100;
	size_t size = 4096 + (size_t)n * 24576;
	char cmd[4200];
	uint8_t *base;
	int fd, events = -1;

	if (argc < 2 || n == 0 || n > 100000) {
		fprintf(stderr, "usage: heap_app HEAP_FILE RECORDS (1..100000)\n");
		return 1;
	}
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		perror(argv[1]);
		return 1;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	build(base, n);
	if (msync(base, size, MS_SYNC) < 0) {
		perror("msync");
		return 1;
	}
	printf("built %llu records in the mapped heap (pid %d)\n", (unsigned long long)n,
	       (int)getpid());
	fflush(stdout);
	while (fgets(cmd, sizeof(cmd), stdin)) {
		cmd[strcspn(cmd, "\n")] = '\0';
		if (strcmp(cmd, "check") == 0) {
			check(base, size);
		} else if (strncmp(cmd, "bump", 4) == 0) {
			bump(base, size, cmd[4] ? strtoull(cmd + 4, NULL, 10) : UINT64_MAX);
		} else if (strncmp(cmd, "watch ", 6) == 0) {
			if (events >= 0)
				close(events);
			events = open(cmd + 6, O_RDONLY | O_NONBLOCK);
			printf(events >= 0 ? "watching %s\n" : "cannot open %s\n", cmd + 6);
		} else if (strncmp(cmd, "wait ", 5) == 0 && events >= 0) {
			wait_event(events, cmd + 5);
		} else if (strncmp(cmd, "remap ", 6) == 0) {
			int nfd = open(cmd + 6, O_RDWR);
			uint8_t *nb = nfd < 0 ? MAP_FAILED :
				      mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, nfd, 0);

			if (nb == MAP_FAILED) {
				printf("cannot map %s\n", cmd + 6);
				if (nfd >= 0)
					close(nfd);
			} else {
				munmap(base, size);
				close(fd);
				base = nb;
				fd = nfd;
				printf("remapped %s\n", cmd + 6);
			}
		} else if (strcmp(cmd, "quit") == 0) {
			break;
		} else {
			printf("unknown command\n");
		}
		fflush(stdout);
	}
	munmap(base, size);
	close(fd);
	if (events >= 0)
		close(events);
	return 0;
}
