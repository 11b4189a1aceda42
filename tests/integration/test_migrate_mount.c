/*
 * test_migrate_mount.c - heapctl migrate between two real mounts (node A is
 * the fixture's, node B a second daemon), through --rsh testrsh (a local
 * stand-in for ssh that can also cut the pipe, record the bytes or give
 * away the far side's PID): there and back carrying only what changed,
 * the lease (EROFS, stat, events, resume --force), refusals that keep the
 * source live, the pipe cut at every message boundary and one byte either
 * side and at random offsets, the far side killed, the destination's disk
 * full (each: the source live and writable, the destination with no live
 * copy, a re-run completing and sending less), either daemon SIGKILLed
 * mid-migration and started again on its store, and writes through pwrite
 * and through a mapping racing the migration: every one acknowledged
 * (pwrite returned, msync returned) before the lease expired is on B,
 * every later one fails, none is lost silently.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mount_util.h"
#include "sshd_util.h"

#ifndef HEAPCTL_BIN
#error "HEAPCTL_BIN (heapctl's path) must be defined by the build"
#endif
#ifndef TESTRSH
#error "TESTRSH (tests/integration/testrsh) must be defined by the build"
#endif

#define LS (64u << 10)

extern char **environ;

/* A heap of @lines lines of 64 KiB on the current node, a state, a label. */
static void make_heap(const char *name, unsigned lines, uint64_t seed)
{
	uint8_t *buf = malloc((size_t)lines * LS);
	int fd;

	ck_assert_int_eq(mkdir(mu_at("%s", name), 0700), 0);
	fd = mu_open(mu_at("%s/heap", name), O_RDWR);
	mu_fill(buf, (size_t)lines * LS, seed, 0);
	memset(buf + 3 * LS, 0, LS);
	mu_pwrite_all(fd, buf, (size_t)lines * LS, 0);
	close(fd);
	fd = mu_open(mu_at("%s/state", name), O_RDWR);
	mu_pwrite_all(fd, "registers", 9, 0);
	close(fd);
	ck_assert_int_eq(mkdir(mu_at("%s/checkpoints/start", name), 0700), 0);
	free(buf);
}

/*
 * heapctl -m FROM migrate HEAP localhost:TO --rsh 'testrsh MODE' --json:
 * its exit status, stdout into *@out and stderr into *@err (may be NULL).
 */
static int migrate(bool a_to_b, const char *heap, const char *mode, char **out, char **err)
{
	char rsh[700];
	char dest[sizeof(mu.mnt) + 16];
	const char *argv[] = { HEAPCTL_BIN, "-m", a_to_b ? mu.mnt : mu_b.mnt, "migrate", heap,
			       dest, "--rsh", rsh, "--heapctl-path", HEAPCTL_BIN, "--json", NULL };
	char *dropped = NULL;
	int rc;

	snprintf(rsh, sizeof(rsh), "%s %s", TESTRSH, mode ? mode : "plain");
	snprintf(dest, sizeof(dest), "localhost:%s", a_to_b ? mu_b.mnt : mu.mnt);
	rc = mu_run_out(out ? out : &dropped, argv);
	free(dropped);
	if (err)
		*err = mu_slurp(mu_in_root("run.err"), NULL);
	return rc;
}

/* migrate(true, @heap, ...) started in the background through --rsh
 * 'testrsh @mode': its PID (stdout dropped, stderr in mig.err). */
static pid_t migrate_bg(const char *heap, const char *mode)
{
	char rsh[700], dest[sizeof(mu_b.mnt) + 16], name[64];
	char *argv[] = { HEAPCTL_BIN, "-m", mu.mnt, "migrate", name, dest, "--rsh", rsh,
			 "--heapctl-path", HEAPCTL_BIN, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;

	snprintf(name, sizeof(name), "%s", heap);
	snprintf(rsh, sizeof(rsh), "%s %s", TESTRSH, mode);
	snprintf(dest, sizeof(dest), "localhost:%s", mu_b.mnt);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, mu_in_root("mig.err"),
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_eq(posix_spawn(&pid, HEAPCTL_BIN, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

/* "key": N in a JSON text. */
static uint64_t json_u64(const char *text, const char *key)
{
	char want[64];
	const char *p;

	snprintf(want, sizeof(want), "\"%s\": ", key);
	p = strstr(text, want);
	ck_assert_msg(p, "no %s in:\n%s", key, text);
	return strtoull(p + strlen(want), NULL, 10);
}

static char *stat_of(const char *path)
{
	char *t = mu_slurp(path, NULL);

	ck_assert_ptr_nonnull(t);
	return t;
}

/* The heap at @path takes a write now (its lease is held here): the byte
 * at @off written back as it is, so the content stays. */
static int try_write(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR), rc;
	char c = 0;

	if (fd < 0)
		return -errno;
	rc = pread(fd, &c, 1, (off_t)off) == 1 && pwrite(fd, &c, 1, (off_t)off) == 1 ? 0 : -errno;
	close(fd);
	return rc;
}

/* The source keeps its heap, live and writable; the destination has no
 * live copy of it (none, or a read-only copy a re-run goes on from). */
static void expect_source_live_only(const char *heap)
{
	char *a = stat_of(mu_at("%s/stat", heap));

	ck_assert_msg(strstr(a, "\nlease: held\n"), "A:\n%s", a);
	ck_assert_msg(strstr(a, "state: live\n"), "A:\n%s", a);
	free(a);
	ck_assert_int_eq(try_write(mu_at("%s/heap", heap), 5), 0);
}

static void expect_source_live(const char *heap)
{
	char *a = stat_of(mu_at("%s/stat", heap)), *b;

	ck_assert_msg(strstr(a, "\nlease: held\n"), "A:\n%s", a);
	ck_assert_msg(strstr(a, "state: live\n"), "A:\n%s", a);
	free(a);
	ck_assert_int_eq(try_write(mu_at("%s/heap", heap), 5), 0);
	b = mu_slurp(mu_b_at("%s/stat", heap), NULL);
	ck_assert_msg(!b || !strstr(b, "state: live\n"), "B has it live:\n%s", b);
	if (b)
		ck_assert_int_eq(try_write(mu_b_at("%s/heap", heap), 5), -EROFS);
	free(b);
}

/* Pages of the mapping @map (@len bytes) the kernel has in its cache. */
static size_t resident_pages(uint8_t *map, size_t len)
{
	uint8_t vec[64 * LS / 4096];
	size_t n = 0;

	ck_assert_uint_le(len / 4096, sizeof(vec));
	ck_assert_int_eq(mincore(map, len, vec), 0);
	for (size_t i = 0; i < len / 4096; i++)
		n += vec[i] & 1;
	return n;
}

START_TEST(there_and_back_moves_only_what_changed)
{
	char *out, *st, ev[512];
	int efd, afd, fd;
	ssize_t n;
	uint8_t line[LS];

	int ready[2], done[2];
	pid_t holder;

	make_heap("app", 64, 1);
	efd = open(mu_at("app/events"), O_RDONLY | O_NONBLOCK);
	ck_assert_int_ge(efd, 0);
	/*
	 * A store through a mapping, never msync()ed, by a process that then
	 * waits (and forks nothing: a fork's copy of the mapping, closed at
	 * its exec, would write the page back by itself): the lease's
	 * write-back takes it along.
	 */
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(done), 0);
	if ((holder = fork()) == 0) {
		int mfd = open(mu_at("app/heap"), O_RDWR);
		uint8_t *map = mmap(NULL, LS, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 20 * LS);
		char c = map == MAP_FAILED ? 'n' : 'y';

		if (map != MAP_FAILED)
			memcpy(map + 100, "stored, not synced", 18);
		(void)!write(ready[1], &c, 1);
		(void)!read(done[0], &c, 1);
		_exit(0);
	}
	ck_assert_int_gt(holder, 0);
	{
		char c = 0;

		ck_assert_int_eq(read(ready[0], &c, 1), 1);
		ck_assert_int_eq(c, 'y');
	}
	ck_assert_int_eq(migrate(true, "app", NULL, &out, NULL), 0);
	{
		char got[18];
		int bfd = mu_open(mu_b_at("app/heap"), O_RDONLY);

		mu_pread_all(bfd, got, 18, 20 * LS + 100);
		close(bfd);
		ck_assert_mem_eq(got, "stored, not synced", 18);
	}
	ck_assert_int_eq(write(done[1], "x", 1), 1);
	ck_assert_int_eq(waitpid(holder, NULL, 0), holder);
	ck_assert_uint_eq(json_u64(out, "common_version"), 0);
	ck_assert_uint_eq(json_u64(out, "lines_present"), 0);
	/* The mapped store, written back once the pre-copy stream was out,
	 * changed the heap: no early finish, a final round of its own. */
	ck_assert_uint_eq(json_u64(out, "rounds"), 2);
	/* The summary's fields agree: QEMU's names are the same figures. */
	ck_assert_uint_eq(json_u64(out, "transferred"),
			  json_u64(out, "payload_bytes") + json_u64(out, "negotiation_bytes"));
	ck_assert_uint_eq(json_u64(out, "dirty-sync-count"), json_u64(out, "rounds"));
	ck_assert_uint_eq(json_u64(out, "downtime"), json_u64(out, "downtime_ms"));
	ck_assert_uint_le(json_u64(out, "downtime_ms"), json_u64(out, "total-time"));
	ck_assert_uint_eq(json_u64(out, "bytes_skipped"), 0);   /* B held nothing */
	ck_assert_uint_eq(json_u64(out, "lines_sent"), json_u64(out, "lines_total"));
	ck_assert_ptr_nonnull(strstr(out, "\"seconds\": "));
	free(out);
	mu_expect_same_file(mu_at("app/heap"), mu_b_at("app/heap"));
	mu_expect_same_file(mu_at("app/state"), mu_b_at("app/state"));
	mu_expect_same_file(mu_at("app/checkpoints/start/heap"), mu_b_at("app/checkpoints/start/heap"));
	st = stat_of(mu_at("app/stat"));
	ck_assert_msg(strstr(st, "state: migrated\n") && strstr(st, "lease: migrated\n") &&
		      strstr(st, "moved_to: localhost:"), "%s", st);
	free(st);
	st = stat_of(mu_b_at("app/stat"));
	ck_assert_msg(strstr(st, "state: live\n") && strstr(st, "lease: held\n"), "%s", st);
	free(st);
	ck_assert_int_eq(try_write(mu_at("app/heap"), 0), -EROFS);
	n = read(efd, ev, sizeof(ev) - 1);
	ck_assert_int_gt(n, 0);
	ev[n] = '\0';
	ck_assert_msg(strstr(ev, "lease-expired\n") && strstr(ev, "migrated localhost:"), "%s", ev);
	close(efd);
	{
		const char *argv[] = { HEAPCTL_BIN, "-m", mu.mnt, "ls", NULL };
		char *ls;

		char want[600];

		ck_assert_int_eq(mu_run_out(&ls, argv), 0);
		snprintf(want, sizeof(want), "  migrated to localhost:%s\n", mu_b.mnt);
		ck_assert_msg(strstr(ls, want), "%s", ls);   /* ls says where it went */
		free(ls);
	}

	/* B changes one line of 64 (1.6%) and sends it back: that line. */
	fd = mu_open(mu_b_at("app/heap"), O_RDWR);
	mu_fill(line, LS, 9, 0);
	mu_pwrite_all(fd, line, LS, 10 * LS);
	close(fd);
	efd = open(mu_b_at("app/events"), O_RDONLY | O_NONBLOCK);
	ck_assert_int_ge(efd, 0);
	afd = open(mu_at("app/events"), O_RDONLY | O_NONBLOCK);   /* A receives it */
	ck_assert_int_ge(afd, 0);
	ck_assert_int_eq(migrate(false, "app", NULL, &out, NULL), 0);
	{
		struct pollfd p = { .fd = afd, .events = POLLIN };
		char want[64];

		ck_assert_int_eq(poll(&p, 1, 0), 1);   /* it woke a reader */
		n = read(afd, ev, sizeof(ev) - 1);
		ck_assert_int_gt(n, 0);
		ev[n] = '\0';
		snprintf(want, sizeof(want), "received %llu\n",
			 (unsigned long long)json_u64(out, "version"));
		ck_assert_msg(strstr(ev, want), "A's events, %s wanted:\n%s", want, ev);
		close(afd);
	}
	/* Nothing written after its checkpoint: B stopped the heap while A
	 * checked the round, which A then committed live (one round). */
	ck_assert_uint_eq(json_u64(out, "rounds"), 1);
	n = read(efd, ev, sizeof(ev) - 1);
	ck_assert_int_gt(n, 0);
	ev[n] = '\0';
	ck_assert_msg(strstr(ev, "lease-expired\nmigrated localhost:"), "%s", ev);
	close(efd);
	ck_assert_uint_eq(json_u64(out, "lines_sent"), 1);
	ck_assert_uint_gt(json_u64(out, "common_version"), 0);
	ck_assert_uint_lt(json_u64(out, "payload_bytes"), LS + 4096);
	ck_assert_uint_lt(json_u64(out, "negotiation_bytes"), 4096);
	free(out);
	mu_expect_same_file(mu_b_at("app/heap"), mu_at("app/heap"));
	ck_assert_int_eq(try_write(mu_at("app/heap"), 0), 0);   /* A serves it again */
	ck_assert_int_eq(try_write(mu_b_at("app/heap"), 0), -EROFS);

	/* Undo that write, then there again with nothing changed: next to nothing. */
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	mu_fill(line, LS, 1, 0);
	mu_pwrite_all(fd, line, 1, 0);
	close(fd);
	mu_expect_same_file(mu_b_at("app/heap"), mu_at("app/heap"));
	ck_assert_int_eq(migrate(true, "app", NULL, &out, NULL), 0);
	ck_assert_uint_le(json_u64(out, "transferred"), 4096);
	ck_assert_uint_eq(json_u64(out, "lines_sent"), 0);
	ck_assert_uint_eq(json_u64(out, "rounds"), 1);
	free(out);
	mu_expect_same_file(mu_at("app/heap"), mu_b_at("app/heap"));
	/* A long history costs the same: 100 checkpoints more there (B), then
	 * back with nothing changed. */
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(mkdir(mu_b_at("app/checkpoints/h%d", i), 0700), 0);
	{
		/*
		 * A's copy ends at a checkpoint B's hello no longer lists, so A
		 * drops it and starts afresh: the kernel's pages of the old heap
		 * file go with it (a mapping of it read through shows none
		 * resident after), not at the next open of the new one.
		 */
		int mfd = mu_open(mu_at("app/heap"), O_RDONLY);
		uint8_t *map = mmap(NULL, 64 * LS, PROT_READ, MAP_SHARED, mfd, 0);
		volatile uint8_t sum = 0;
		size_t resident;

		ck_assert_ptr_ne(map, MAP_FAILED);
		for (size_t off = 0; off < 64 * LS; off += 4096)
			sum += map[off];
		(void)sum;   /* read through: the pages are cached */
		ck_assert_uint_eq(resident_pages(map, 64 * LS), 64 * LS / 4096);
		ck_assert_int_eq(migrate(false, "app", NULL, &out, NULL), 0);
		ck_assert_uint_gt(json_u64(out, "lines_total"), 64);   /* a whole resend */
		ck_assert_uint_eq(json_u64(out, "lines_sent"), 0);
		free(out);
		resident = resident_pages(map, 64 * LS);
		ck_assert_msg(resident == 0, "%zu pages of the dropped copy's file still cached",
			      resident);
		munmap(map, 64 * LS);
		close(mfd);
	}
	ck_assert_int_eq(migrate(true, "app", NULL, &out, NULL), 0);
	ck_assert_uint_le(json_u64(out, "transferred"), 4096);
	free(out);
	mu_expect_same_file(mu_at("app/heap"), mu_b_at("app/heap"));

	/*
	 * Back from a copy that shrank there: A's cache (every line read
	 * through it first) keeps its unchanged lines but loses those past
	 * the new ends, so growing the heap and its state file again on A
	 * reads zeros, not A's old lines.
	 */
	{
		uint8_t *all = malloc(64 * LS), *zero = calloc(1, 32 * LS);
		char st9[9];

		fd = mu_open(mu_at("app/heap"), O_RDONLY);
		mu_pread_all(fd, all, 64 * LS, 0);
		close(fd);
		fd = mu_open(mu_at("app/state"), O_RDONLY);
		mu_pread_all(fd, st9, 9, 0);
		close(fd);
		ck_assert_mem_eq(st9, "registers", 9);
		ck_assert_int_eq(truncate(mu_b_at("app/heap"), 32 * LS), 0);
		ck_assert_int_eq(truncate(mu_b_at("app/state"), 3), 0);
		ck_assert_int_eq(migrate(false, "app", NULL, &out, NULL), 0);
		free(out);
		mu_expect_same_file(mu_b_at("app/heap"), mu_at("app/heap"));
		mu_expect_same_file(mu_b_at("app/state"), mu_at("app/state"));
		ck_assert_int_eq(truncate(mu_at("app/heap"), 64 * LS), 0);
		ck_assert_int_eq(truncate(mu_at("app/state"), 9), 0);
		fd = mu_open(mu_at("app/heap"), O_RDONLY);
		mu_pread_all(fd, all, 32 * LS, 32 * LS);
		close(fd);
		ck_assert_mem_eq(all, zero, 32 * LS);
		fd = mu_open(mu_at("app/state"), O_RDONLY);
		mu_pread_all(fd, st9, 9, 0);
		close(fd);
		ck_assert_mem_eq(st9, "reg\0\0\0\0\0\0", 9);
		free(all);
		free(zero);
	}
}
END_TEST

START_TEST(refusals_keep_the_source_live_and_resume_force)
{
	char *err, *out;
	const char *resume[] = { HEAPCTL_BIN, "-m", mu.mnt, "resume", "app", NULL };
	const char *force[] = { HEAPCTL_BIN, "-m", mu.mnt, "resume", "app", "--force", NULL };

	make_heap("app", 8, 1);
	/* Another heap named app is live on B. */
	mu_b_swap();
	make_heap("app", 4, 2);
	mu_b_swap();
	ck_assert_int_eq(migrate(true, "app", NULL, NULL, &err), 1);
	ck_assert_msg(strstr(err, "heapctl: migrate app: ") &&
		      strstr(err, "another heap named 'app' exists there"), "%s", err);
	free(err);
	expect_source_live_only("app");
	/* A destination that is not a heapfs mount. */
	{
		char rsh[512], dest[1024];
		const char *argv[] = { HEAPCTL_BIN, "-m", mu.mnt, "migrate", "app", dest,
				       "--rsh", rsh, "--heapctl-path", HEAPCTL_BIN, NULL };

		snprintf(rsh, sizeof(rsh), "%s plain", TESTRSH);
		snprintf(dest, sizeof(dest), "localhost:%s/nowhere; touch %s/pwned", mu.root,
			 mu.root);
		ck_assert_int_eq(mu_run_out(&out, argv), 1);
		free(out);
		ck_assert_int_ne(access(mu_in_root("pwned"), F_OK), 0);   /* quoted: ran nothing */
		ck_assert_int_eq(mu_sh(NULL, "true"), 0);
	}
	expect_source_live_only("app");
	ck_assert_int_eq(mu_sh(NULL, "true"), 0);
	/* Moved for real, then B is lost: resume --force takes it back. */
	{
		const char *rm[] = { HEAPCTL_BIN, "-m", mu_b.mnt, "rm", "app", NULL };

		ck_assert_int_eq(mu_run_out(&out, rm), 0);
		free(out);
	}
	ck_assert_int_eq(migrate(true, "app", NULL, NULL, NULL), 0);
	ck_assert_int_eq(migrate(true, "app", NULL, NULL, &err), 1);
	ck_assert_msg(strstr(err, "not live here"), "%s", err);
	free(err);
	ck_assert_int_eq(mu_run_out(&out, resume), 1);
	free(out);
	ck_assert_int_eq(try_write(mu_at("app/heap"), 0), -EROFS);
	ck_assert_int_eq(mu_run_out(&out, force), 0);
	free(out);
	ck_assert_int_eq(try_write(mu_at("app/heap"), 0), 0);
}
END_TEST

/*
 * Message boundaries in what the source sent: offsets of each header;
 * *@commit: where the last end message is through (the destination
 * commits there, so a cut past it finds the migration done).
 */
static size_t boundaries(const char *path, size_t *at, size_t max, size_t *commit)
{
	size_t len, n = 0, p = 0;
	uint8_t *b = (uint8_t *)mu_slurp(path, &len);

	ck_assert_ptr_nonnull(b);
	while (p + 8 <= len && n < max) {
		if (b[p] == 'e' || b[p] == 'f')   /* a round's end, final or not */
			*commit = p + 8;
		at[n++] = p;
		p += 8 + ((size_t)b[p + 4] | (size_t)b[p + 5] << 8 | (size_t)b[p + 6] << 16 |
			  (size_t)b[p + 7] << 24);
	}
	ck_assert_uint_eq(p, len);
	free(b);
	return n;
}

/* A's store (@b: B's) checks out whole (every blob's content too): the
 * node is unmounted for it, then mounted again on the same store. */
static void node_fsck(bool b)
{
	const char *fsck[] = { HEAPCTL_BIN, "fsck", "--store", NULL, "--verify-data", NULL };
	char *out;

	if (b)
		mu_b_swap();
	fsck[3] = mu.store;
	mu_unmount();
	ck_assert_msg(mu_run_out(&out, fsck) == 0, "fsck of %s: %s", b ? "B" : "A", out);
	free(out);
	mu_mount(NULL);
	if (b)
		mu_b_swap();
}

static void b_fsck(void)
{
	node_fsck(true);
}

/* B forgets heap @heap and every blob it held: a fresh destination. */
static void b_forget(const char *heap)
{
	const char *rm[] = { HEAPCTL_BIN, "-m", mu_b.mnt, "rm", heap, NULL };
	const char *gc[] = { HEAPCTL_BIN, "-m", mu_b.mnt, "gc", NULL };
	char *out;

	(void)mu_run_out(&out, rm);
	free(out);
	ck_assert_int_eq(mu_run_out(&out, gc), 0);
	free(out);
}

START_TEST(pipe_cut_anywhere_then_a_rerun_finishes)
{
	size_t at[64], n, commit = 0, cuts = 0;
	char mode[512], *out, *err;
	uint64_t full;
	struct mu_rng r;

	/* A recorded migration of another heap of the same shape shows where
	 * the messages begin; B then forgets it (rm, GC) before the cuts.  Both
	 * keep one unlabelled checkpoint, so every try's hello, and so every
	 * offset after it, is the recorded one. */
	make_heap("rec", 24, 5);
	make_heap("app", 24, 6);
	ck_assert_int_eq(setxattr(mu_at("rec"), "user.heapfs.keep", "1", 1, 0), 0);
	ck_assert_int_eq(setxattr(mu_at("app"), "user.heapfs.keep", "1", 1, 0), 0);
	snprintf(mode, sizeof(mode), "record %s", mu_in_root("sent"));
	ck_assert_int_eq(migrate(true, "rec", mode, &out, NULL), 0);
	full = json_u64(out, "payload_bytes");
	free(out);
	b_forget("rec");
	n = boundaries(mu_in_root("sent"), at, 64, &commit);
	ck_assert_uint_ge(n, 6);
	ck_assert_uint_gt(commit, at[n / 2]);
	mu_rng_seed(&r, 77);
	for (size_t i = 0; i < n + 4; i++) {
		size_t base = i < n ? at[i] : 1 + (size_t)mu_rnd(&r, commit - 1);

		for (int d = (i < n ? -1 : 0); d <= (i < n ? 1 : 0); d++) {
			/* Cut where the destination has all it needs to commit
			 * and the migration is done: not a failure to test here. */
			if ((ssize_t)base + d <= 0 || base + (size_t)d >= commit)
				continue;
			/* Each cut against a fresh destination, as recorded:
			 * the source's writes past it fail (cut), or all go
			 * out and are dropped (drain), its end too, so only
			 * B's answer that it committed nothing gives A its
			 * lease back. */
			for (int drain = 0; drain < 2; drain++) {
				b_forget("app");
				snprintf(mode, sizeof(mode), "%s %zu %s", drain ? "drain" : "cut",
					 base + (size_t)d, CUTPIPE_BIN);
				ck_assert_msg(migrate(true, "app", mode, NULL, &err) == 1,
					      "%s: done", mode);
				ck_assert_msg(strstr(err, "heapctl: migrate app: "), "%s: %s", mode,
					      err);
				ck_assert_msg(!drain || strstr(err, "nothing was committed"), "%s: %s",
					      mode, err);
				free(err);
				expect_source_live("app");
				cuts++;
			}
		}
	}
	ck_assert_uint_ge(cuts, 2 * n);   /* the boundaries before the end, ±1, both ways */
	/* Cut in the middle of the first round's data, then whole: it
	 * completes, and what the cut try verified is not sent again. */
	b_forget("app");
	for (size_t i = 0; i < n; i++) {
		if (i + 2 < n && at[i + 1] - at[i] > 200000) {   /* a data message */
			snprintf(mode, sizeof(mode), "cut %zu %s", at[i + 2] + 100, CUTPIPE_BIN);
			break;
		}
	}
	ck_assert_int_eq(migrate(true, "app", mode, NULL, NULL), 1);
	ck_assert_int_eq(migrate(true, "app", NULL, &out, NULL), 0);
	ck_assert_uint_lt(json_u64(out, "payload_bytes"), full);
	ck_assert_uint_gt(json_u64(out, "lines_present") + json_u64(out, "common_version"), 0);
	free(out);
	mu_expect_same_file(mu_at("app/heap"), mu_b_at("app/heap"));
	b_fsck();
}
END_TEST

/*
 * The far side SIGKILLed mid-transfer: the stream stalls at its first MiB
 * (cutpipe holds it there for 2 s and says when), and only then is the
 * far side killed, so the source cannot have sent its end: it must give
 * its lease back, whatever the timing.
 */
START_TEST(far_side_killed_mid_transfer)
{
	char *out, *pidtxt, mode[600];
	pid_t pid, far = 0;
	int st;

	make_heap("app", 512, 3);   /* 32 MiB: far more than the stall and the buffers */
	snprintf(mode, sizeof(mode), "stallpid 1048576 %s 2 %s %s", CUTPIPE_BIN,
		 mu_in_root("stalled"), mu_in_root("far.pid"));
	pid = migrate_bg("app", mode);
	for (int i = 0; i < 500 && !far; i++) {
		pidtxt = mu_slurp(mu_in_root("far.pid"), NULL);
		if (pidtxt)
			far = (pid_t)atoi(pidtxt);
		free(pidtxt);
		mu_sleep_ms(5);
	}
	ck_assert_int_gt(far, 0);
	for (int i = 0; i < 1000 && access(mu_in_root("stalled"), F_OK) != 0; i++)
		mu_sleep_ms(5);   /* the stream reaching its first MiB */
	ck_assert_int_eq(access(mu_in_root("stalled"), F_OK), 0);
	kill(far, SIGKILL);   /* the far side this test's migrate started */
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "migrate ended %d", st);
	expect_source_live("app");
	b_fsck();   /* what the killed round left there is consistent */
	ck_assert_int_eq(migrate(true, "app", NULL, &out, NULL), 0);
	free(out);
	mu_expect_same_file(mu_at("app/heap"), mu_b_at("app/heap"));
}
END_TEST

/*
 * The connection lost just as B answers that it committed the final round:
 * A cannot know, so it keeps its lease expired (read-only) rather than
 * risk two live copies, and says so.  Only a migration to where it went
 * may find out; it asks B, which has the heap live at A's newest
 * checkpoint: nothing travels, and A marks it migrated.
 */
START_TEST(answer_lost_after_the_commit)
{
	char *out, *err, *a, *b, mode[512], c = 0;
	const char *elsewhere[] = { HEAPCTL_BIN, "-m", mu.mnt, "migrate", "app",
				    "otherhost:/elsewhere", "--rsh", TESTRSH " plain",
				    "--heapctl-path", HEAPCTL_BIN, NULL };
	const char *resume[] = { HEAPCTL_BIN, "-m", mu.mnt, "resume", "app", NULL };
	int fd;

	make_heap("app", 24, 8);
	snprintf(mode, sizeof(mode), "noanswer k %s", CUTPIPE_BIN);
	ck_assert_int_eq(migrate(true, "app", mode, NULL, &err), 1);
	ck_assert_msg(strstr(err, "stays read-only here") && strstr(err, "migrate it there again"),
		      "%s", err);
	free(err);
	a = stat_of(mu_at("app/stat"));
	ck_assert_msg(strstr(a, "\nlease: expired\n") && strstr(a, "state: migrating\n"), "A:\n%s",
		      a);
	ck_assert_msg(strstr(a, "moved_to: localhost:"), "A:\n%s", a);
	free(a);
	ck_assert_int_eq(try_write(mu_at("app/heap"), 5), -EROFS);
	ck_assert_int_eq(mu_run_out(&out, resume), 1);   /* not without --force */
	free(out);
	err = mu_slurp(mu_in_root("run.err"), NULL);
	ck_assert_msg(err && strstr(err, "finds out whether it went"), "%s", err);
	free(err);
	b = stat_of(mu_b_at("app/stat"));
	ck_assert_msg(strstr(b, "\nlease: held\n") && strstr(b, "state: live\n"), "B:\n%s", b);
	free(b);
	mu_expect_same_file(mu_at("app/heap"), mu_b_at("app/heap"));
	/* The program goes on at B meanwhile. */
	fd = mu_open(mu_b_at("app/heap"), O_RDWR);
	mu_pwrite_all(fd, "B", 1, 7 * LS + 9);
	close(fd);
	/* Somewhere else: refused, A unchanged. */
	ck_assert_int_eq(mu_run_out(&out, elsewhere), 1);
	free(out);
	err = mu_slurp(mu_in_root("run.err"), NULL);
	ck_assert_msg(err && strstr(err, "was handed to localhost:"), "%s", err);
	free(err);
	ck_assert_int_eq(try_write(mu_at("app/heap"), 5), -EROFS);
	/* Where it went: B has it live at A's newest checkpoint.  The re-run's
	 * hello (recorded) is protocol 3, final and a re-run (flags 1 | 2):
	 * an earlier build refuses it. */
	snprintf(mode, sizeof(mode), "record %s", mu_in_root("again.rec"));
	ck_assert_int_eq(migrate(true, "app", mode, &out, NULL), 0);
	{
		size_t len;
		uint8_t *rec = (uint8_t *)mu_slurp(mu_in_root("again.rec"), &len);

		ck_assert_uint_gt(len, 24);
		ck_assert_int_eq(rec[0], 'h');
		ck_assert_mem_eq(rec + 8, "HEAPFSMG", 8);
		ck_assert_int_eq(rec[16] | rec[17] << 8, 3);
		ck_assert_int_eq(rec[20] | rec[21] << 8, 3);
		free(rec);
	}
	ck_assert_uint_eq(json_u64(out, "lines_sent"), 0);
	ck_assert_uint_eq(json_u64(out, "payload_bytes"), 0);
	ck_assert_uint_lt(json_u64(out, "transferred"), 4096);
	free(out);
	a = stat_of(mu_at("app/stat"));
	ck_assert_msg(strstr(a, "\nlease: migrated\n") && strstr(a, "moved_to: localhost:"),
		      "A:\n%s", a);
	free(a);
	b = stat_of(mu_b_at("app/stat"));
	ck_assert_msg(strstr(b, "\nlease: held\n"), "B:\n%s", b);
	free(b);
	fd = mu_open(mu_b_at("app/heap"), O_RDONLY);
	ck_assert_int_eq(pread(fd, &c, 1, 7 * LS + 9), 1);
	ck_assert_int_eq(c, 'B');
	close(fd);
}
END_TEST

/* The daemon of A (@b: B) SIGKILLed, by the PID this test started it with,
 * and a new one mounted on its store. */
static void daemon_killed_and_back(bool b)
{
	int st;

	if (b)
		mu_b_swap();
	ck_assert_int_eq(kill(mu.pid, SIGKILL), 0);
	st = mu_daemon_wait(10);
	ck_assert_msg(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		      "%s's daemon ended 0x%x before the SIGKILL", b ? "B" : "A", st);
	mu_stale_unmount();
	mu_mount(NULL);
	if (b)
		mu_b_swap();
}

static void expect_lease(const char *stat_path, const char *lease)
{
	char *t = stat_of(stat_path), want[64];

	snprintf(want, sizeof(want), "\nlease: %s\n", lease);
	ck_assert_msg(strstr(t, want), "%s:\n%s", stat_path, t);
	free(t);
}

/* @path appears: what a testrsh mode creates when the moment has come. */
static void await_file(const char *path)
{
	for (int i = 0; i < 2000 && access(path, F_OK) != 0; i++)
		mu_sleep_ms(5);
	ck_assert_msg(access(path, F_OK) == 0, "%s did not appear in 10 s", path);
}

/* The background migrate @pid failed (exit 1). */
static void expect_failed(pid_t pid)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "migrate ended 0x%x", st);
}

/*
 * A new heap @heap (@lines lines of @seed) migrates to B through testrsh:
 * with @answer, B's answer to its committed round is held back, else the
 * stream stalls at its first MiB.  Then the daemon of A (@b: B) is killed
 * and back, and the migration has failed.
 */
static void killed_mid_migration(const char *heap, unsigned lines, uint64_t seed, bool answer,
				 bool b)
{
	char mode[600];
	pid_t pid;

	make_heap(heap, lines, seed);
	if (answer)
		snprintf(mode, sizeof(mode), "keepanswer k %s %s", CUTPIPE_BIN,
			 mu_in_root("%s.held", heap));
	else
		snprintf(mode, sizeof(mode), "stallpid 1048576 %s 2 %s %s", CUTPIPE_BIN,
			 mu_in_root("%s.held", heap), mu_in_root("%s.pid", heap));
	pid = migrate_bg(heap, mode);
	await_file(mu_in_root("%s.held", heap));
	daemon_killed_and_back(b);
	expect_failed(pid);
}

/*
 * A daemon SIGKILLed mid-migration, and started again on its store:
 * - the source's, in a pre-copy round (its stream held at its first MiB):
 *   the lease never expired, so the heap comes back live and writable,
 *   the store consistent, and a re-run completes;
 * - the destination's, in the same place: the source gives its lease back
 *   (its end never went out), B comes back with no copy and consistent;
 * - the source's, after its final end went out and B committed (B's
 *   answer held back, the source waiting for it): the heap comes back
 *   read-only, the lease expired, B named; B has it live; a re-run there
 *   finds that out and carries nothing;
 * - the destination's, in that same place: back on its store it has the
 *   heap live, and the source, read-only meanwhile, learns so on a re-run.
 */
START_TEST(daemons_killed_mid_migration)
{
	char *out, *err, *a, *b;

	/* The source's daemon, in pre-copy (32 MiB: far more than the stall
	 * and the buffers). */
	killed_mid_migration("pre", 512, 21, false, false);
	expect_source_live("pre");
	node_fsck(false);
	ck_assert_int_eq(migrate(true, "pre", NULL, &out, NULL), 0);
	free(out);
	mu_expect_same_file(mu_at("pre/heap"), mu_b_at("pre/heap"));

	/* The destination's daemon, in the same place. */
	killed_mid_migration("dst", 512, 22, false, true);
	expect_source_live("dst");
	b = mu_list(mu_b.mnt);
	ck_assert_msg(!mu_has_line(b, "dst"), "B lists a copy:\n%s", b);
	free(b);
	b_fsck();
	ck_assert_int_eq(migrate(true, "dst", NULL, &out, NULL), 0);
	free(out);
	mu_expect_same_file(mu_at("dst/heap"), mu_b_at("dst/heap"));

	/* The source's daemon, waiting for the answer to its final round. */
	killed_mid_migration("ans", 24, 23, true, false);   /* B's answer begun: it committed */
	a = stat_of(mu_at("ans/stat"));
	ck_assert_msg(strstr(a, "\nlease: expired\n") && strstr(a, "moved_to: localhost:"),
		      "A:\n%s", a);
	free(a);
	ck_assert_int_eq(try_write(mu_at("ans/heap"), 5), -EROFS);
	b = stat_of(mu_b_at("ans/stat"));
	ck_assert_msg(strstr(b, "\nlease: held\n") && strstr(b, "state: live\n"), "B:\n%s", b);
	free(b);
	mu_expect_same_file(mu_at("ans/heap"), mu_b_at("ans/heap"));
	ck_assert_int_eq(migrate(true, "ans", NULL, &out, &err), 0);
	ck_assert_uint_eq(json_u64(out, "payload_bytes"), 0);
	free(out);
	free(err);
	a = stat_of(mu_at("ans/stat"));
	ck_assert_msg(strstr(a, "\nlease: migrated\n"), "A:\n%s", a);
	free(a);
	node_fsck(false);

	/* The destination's daemon, its answer to a committed round held back:
	 * back on its store, it has the heap live; A learns it on a re-run. */
	killed_mid_migration("ans2", 24, 24, true, true);
	a = stat_of(mu_at("ans2/stat"));
	ck_assert_msg(strstr(a, "\nlease: expired\n"), "A:\n%s", a);
	free(a);
	b = stat_of(mu_b_at("ans2/stat"));
	ck_assert_msg(strstr(b, "\nlease: held\n") && strstr(b, "state: live\n"), "B:\n%s", b);
	free(b);
	ck_assert_int_eq(migrate(true, "ans2", NULL, &out, NULL), 0);
	ck_assert_uint_eq(json_u64(out, "payload_bytes"), 0);
	free(out);
	a = stat_of(mu_at("ans2/stat"));
	ck_assert_msg(strstr(a, "\nlease: migrated\n"), "A:\n%s", a);
	free(a);
	mu_expect_same_file(mu_at("ans2/heap"), mu_b_at("ans2/heap"));
	b_fsck();

	/*
	 * The source's daemon in the final round of two: its final hello (sent
	 * only once the lease expired) has reached B, its end has not (the
	 * stream held where a recording of a heap of the same shape puts that
	 * end).  It comes back read-only and bound for B; B's copy is the
	 * pre-copy round's, not live; a re-run hands over the lease alone.
	 */
	{
		size_t at[64], commit = 0;
		char mode[600];
		pid_t pid;

		make_heap("rc2", 96, 25);
		snprintf(mode, sizeof(mode), "record %s", mu_in_root("sent2"));
		ck_assert_int_eq(migrate(true, "rc2", mode, &out, NULL), 0);
		ck_assert_uint_eq(json_u64(out, "rounds"), 2);
		free(out);
		(void)boundaries(mu_in_root("sent2"), at, 64, &commit);
		make_heap("fin", 96, 26);
		snprintf(mode, sizeof(mode), "stallpid %zu %s 2 %s %s", commit - 8, CUTPIPE_BIN,
			 mu_in_root("fin.held"), mu_in_root("fin.pid"));
		pid = migrate_bg("fin", mode);
		await_file(mu_in_root("fin.held"));
		daemon_killed_and_back(false);
		expect_failed(pid);
	}
	expect_lease(mu_at("fin/stat"), "expired");
	ck_assert_int_eq(try_write(mu_at("fin/heap"), 5), -EROFS);
	b = stat_of(mu_b_at("fin/stat"));
	ck_assert_msg(!strstr(b, "\nlease: held\n"), "B:\n%s", b);
	free(b);
	ck_assert_int_eq(try_write(mu_b_at("fin/heap"), 5), -EROFS);
	node_fsck(false);
	ck_assert_int_eq(migrate(true, "fin", NULL, &out, NULL), 0);
	ck_assert_uint_eq(json_u64(out, "lines_sent"), 0);
	free(out);
	expect_lease(mu_at("fin/stat"), "migrated");
	expect_lease(mu_b_at("fin/stat"), "held");
	mu_expect_same_file(mu_at("fin/heap"), mu_b_at("fin/heap"));
	b_fsck();
}
END_TEST

/* A third node, C: a daemon on store3 at mnt3, mounted and unmounted by
 * the test that uses it (swapped in as mu, as mu_b_* does B). */
static struct mu mu_c;

static void c_swap(void)
{
	struct mu t = mu;

	mu = mu_c;
	mu_c = t;
}

static void c_up(void)
{
	mu_c = mu;
	snprintf(mu_c.store, sizeof(mu_c.store), "%s/store3", mu.root);
	snprintf(mu_c.mnt, sizeof(mu_c.mnt), "%s/mnt3", mu.root);
	snprintf(mu_c.err, sizeof(mu_c.err), "%s/daemon3.err", mu.root);
	mu_c.opts[0] = mu_c.netns[0] = '\0';
	mu_c.pid = 0;
	ck_assert_int_eq(mkdir(mu_c.mnt, 0755), 0);
	c_swap();
	mu_mount(NULL);
	c_swap();
}

static void c_down(void)
{
	c_swap();
	mu_unmount();
	c_swap();
}

/* heapctl -m B migrate @heap localhost:C (plain): its exit status. */
static int migrate_b_to_c(const char *heap)
{
	char dest[400];
	const char *argv[] = { HEAPCTL_BIN, "-m", mu_b.mnt, "migrate", heap, dest, "--rsh",
			       TESTRSH " plain", "--heapctl-path", HEAPCTL_BIN, NULL };
	char *out;
	int rc;

	snprintf(dest, sizeof(dest), "localhost:%s", mu_c.mnt);
	rc = mu_run_out(&out, argv);
	free(out);
	return rc;
}

/* A's re-run of @heap to B is refused, saying @why: A stays read-only,
 * bound for B, and B's copy keeps lease @b_lease and takes no write. */
static void rerun_refused(const char *heap, const char *why, const char *b_lease)
{
	char *err;

	ck_assert_int_eq(migrate(true, heap, NULL, NULL, &err), 1);
	ck_assert_msg(strstr(err, why) && strstr(err, "stays read-only here"), "%s", err);
	free(err);
	expect_lease(mu_at("%s/stat", heap), "expired");
	expect_lease(mu_b_at("%s/stat", heap), b_lease);
	ck_assert_int_eq(try_write(mu_b_at("%s/heap", heap), 5), -EROFS);
}

/*
 * The answer to A -> B lost, then the heap moves on from B to C before
 * anyone asks: A's re-run to B must not make B's copy live again (B and C
 * both live).  B still holds the checkpoint A handed over, so the re-run
 * learns it went and marks A migrated; B's copy that dropped it (keep=1)
 * refuses the re-run by name and keeps its copy.  So does B where its copy
 * went (gone: deleted) or was overwritten by C's pre-copy round (ovr: C's
 * migration back to B failed after it, C live again): B remembers the
 * hand-overs it took.  Meanwhile A, read-only and bound for B, takes no
 * checkpoint of its own, which would have hidden the one it handed over,
 * and keeps that one.
 */
START_TEST(rerun_after_the_heap_moved_on)
{
	const char *rm[] = { HEAPCTL_BIN, "-m", mu_b.mnt, "rm", "gone", NULL };
	char *out, *err, mode[512], c = 0;
	int fd;

	c_up();
	make_heap("app", 24, 31);
	make_heap("kp", 24, 32);
	make_heap("gone", 24, 33);
	make_heap("ovr", 24, 34);
	snprintf(mode, sizeof(mode), "noanswer k %s", CUTPIPE_BIN);
	ck_assert_int_eq(migrate(true, "app", mode, NULL, NULL), 1);
	ck_assert_int_eq(migrate(true, "kp", mode, NULL, NULL), 1);
	ck_assert_int_eq(migrate(true, "gone", mode, NULL, NULL), 1);
	ck_assert_int_eq(migrate(true, "ovr", mode, NULL, NULL), 1);
	expect_lease(mu_at("app/stat"), "expired");
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/mine"), 0700), -1);
	ck_assert_int_eq(errno, EROFS);
	/* ... nor loses the one it handed over. */
	snprintf(mode, sizeof(mode), "app/checkpoints/%s", mu_readlink_at("app/checkpoints/latest"));
	ck_assert_int_eq(rmdir(mu_at("%s", mode)), -1);
	ck_assert_int_eq(errno, EROFS);
	/* B uses it, keeps one unlabelled checkpoint of kp, and hands both on. */
	fd = mu_open(mu_b_at("app/heap"), O_RDWR);
	mu_pwrite_all(fd, "B", 1, 5 * LS + 3);
	close(fd);
	ck_assert_int_eq(setxattr(mu_b_at("kp"), "user.heapfs.keep", "1", 1, 0), 0);
	ck_assert_int_eq(migrate_b_to_c("app"), 0);
	ck_assert_int_eq(migrate_b_to_c("kp"), 0);
	expect_lease(mu_b_at("app/stat"), "migrated");
	/* A asks B again: B has A's checkpoint, so it went; nothing moves. */
	ck_assert_int_eq(migrate(true, "app", NULL, &out, NULL), 0);
	ck_assert_uint_eq(json_u64(out, "payload_bytes"), 0);
	free(out);
	expect_lease(mu_at("app/stat"), "migrated");
	expect_lease(mu_b_at("app/stat"), "migrated");
	c_swap();
	expect_lease(mu_at("app/stat"), "held");
	fd = mu_open(mu_at("app/heap"), O_RDONLY);
	ck_assert_int_eq(pread(fd, &c, 1, 5 * LS + 3), 1);
	ck_assert_int_eq(c, 'B');
	close(fd);
	c_swap();
	ck_assert_int_eq(try_write(mu_b_at("app/heap"), 5), -EROFS);
	/* kp: B dropped A's checkpoint; it cannot tell, so it refuses. */
	rerun_refused("kp", "moved on to localhost:", "migrated");
	c_swap();
	expect_lease(mu_at("kp/stat"), "held");
	c_swap();
	/* gone: handed on from B to C, then deleted at B.  The re-run finds
	 * no copy there, but B took A's hand-over: refused, nothing made. */
	ck_assert_int_eq(migrate_b_to_c("gone"), 0);
	ck_assert_int_eq(mu_run_out(&out, rm), 0);
	free(out);
	ck_assert_int_eq(migrate(true, "gone", NULL, NULL, &err), 1);
	ck_assert_msg(strstr(err, "there took checkpoint") &&
		      strstr(err, "handed over, and its copy there went or changed since") &&
		      strstr(err, "stays read-only here"), "%s", err);
	free(err);
	expect_lease(mu_at("gone/stat"), "expired");
	ck_assert_int_eq(access(mu_b_at("gone"), F_OK), -1);
	ck_assert_int_eq(errno, ENOENT);
	c_swap();
	expect_lease(mu_at("gone/stat"), "held");
	c_swap();
	/* ovr: handed on from B to C; C rewrites 6 MiB (so its migration back
	 * takes a pre-copy round) and migrates to B, the connection lost at
	 * B's answer to that round: B's copy is C's pre-copy one, and C is
	 * live again.  A's re-run, whose checkpoint B's copy lacks now, is
	 * refused, and B's copy stays as it was. */
	ck_assert_int_eq(migrate_b_to_c("ovr"), 0);
	c_swap();
	{
		uint8_t *buf = malloc(96 * LS);

		ck_assert_ptr_nonnull(buf);
		mu_fill(buf, 96 * LS, 35, 0);
		fd = mu_open(mu_at("ovr/heap"), O_RDWR);
		mu_pwrite_all(fd, buf, 96 * LS, 0);
		close(fd);
		free(buf);
	}
	snprintf(mode, sizeof(mode), "noanswer k %s", CUTPIPE_BIN);
	ck_assert_int_eq(migrate(true, "ovr", mode, &out, NULL), 1);
	free(out);
	expect_lease(mu_at("ovr/stat"), "held");
	c_swap();
	expect_lease(mu_b_at("ovr/stat"), "expired");
	rerun_refused("ovr", "there took checkpoint", "expired");
	node_fsck(false);
	b_fsck();
	c_down();
}
END_TEST

/*
 * One migration of a heap at a time: while one is stalled (its pipe holds
 * after the first bytes, and its pre-copy checkpoint has been posted), a
 * second of the same heap is refused by name and changes nothing; once the
 * first has failed, the next goes through.
 */
START_TEST(one_migration_of_a_heap_at_a_time)
{
	char *out, *err, mode[600], ev[256] = "";
	size_t got = 0;
	pid_t pid;
	int efd, st;

	make_heap("app", 24, 10);
	efd = open(mu_at("app/events"), O_RDONLY);
	ck_assert_int_ge(efd, 0);
	snprintf(mode, sizeof(mode), "stall 100 %s 1", CUTPIPE_BIN);
	pid = migrate_bg("app", mode);
	/* Its pre-copy checkpoint: the first is under way. */
	while (!strstr(ev, "checkpoint ")) {
		struct pollfd p = { .fd = efd, .events = POLLIN };
		ssize_t n;

		ck_assert_msg(poll(&p, 1, 10000) == 1, "no checkpoint event: %s", ev);
		n = read(efd, ev + got, sizeof(ev) - 1 - got);
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
		ev[got] = '\0';
	}
	close(efd);
	ck_assert_int_eq(migrate(true, "app", NULL, NULL, &err), 1);
	ck_assert_msg(strstr(err, "heap 'app' is being migrated already"), "%s", err);
	free(err);
	/* The first fails once its pipe gives out; the heap is A's. */
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "the first ended %d", st);
	expect_source_live_only("app");
	ck_assert_int_eq(migrate(true, "app", NULL, &out, NULL), 0);
	free(out);
	mu_expect_same_file(mu_at("app/heap"), mu_b_at("app/heap"));
}
END_TEST

/*
 * Progress: on a terminal (script(1) gives heapctl one), the bytes and
 * lines of how many, the rate and the time left, as soon as the round's
 * total is known; with stderr not a terminal, nothing at all.
 */
START_TEST(progress_on_a_terminal_only)
{
	char cmd[2400], *out, *err;

	make_heap("app", 96, 12);
	snprintf(cmd, sizeof(cmd), "script -qec \"%s -m %s migrate app localhost:%s --rsh "
		 "'%s plain' --heapctl-path %s\" /dev/null > %s", HEAPCTL_BIN, mu.mnt, mu_b.mnt,
		 TESTRSH, HEAPCTL_BIN, mu_in_root("tty.out"));
	ck_assert_int_eq(mu_sh(NULL, cmd), 0);
	out = mu_slurp(mu_in_root("tty.out"), NULL);
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(strstr(out, "\r") && strstr(out, " MiB, ") && strstr(out, " lines ") &&
		      strstr(out, " MiB/s ") && strstr(out, " s left"), "%s", out);
	ck_assert_msg(strstr(out, "migrated app to localhost:"), "%s", out);
	free(out);
	ck_assert_int_eq(migrate(false, "app", NULL, NULL, &err), 0);
	ck_assert_msg(err && !*err, "stderr not a terminal: %s", err);
	free(err);
}
END_TEST

/* B's store on a tmpfs too small for the heap (64 MiB, 96 MiB of random
 * lines): ENOSPC from B, the source live; with room again, the re-run
 * sends only what B did not keep. */
START_TEST(destination_disk_full)
{
	char *out, *err, small[300];
	uint64_t full_lines;

	mu_b_unmount();
	snprintf(small, sizeof(small), "%s/small", mu.root);
	ck_assert_int_eq(mkdir(small, 0755), 0);
	ck_assert_int_eq(mount("tmpfs", small, "tmpfs", 0, "size=64m"), 0);
	snprintf(mu_b.store, sizeof(mu_b.store), "%.280s/store", small);
	mu_b_mount(NULL);
	{
		char cmd[1200];

		snprintf(cmd, sizeof(cmd), "mkdir %s/app && head -c 100663296 /dev/urandom > "
			 "%s/app/heap && mkdir %s/app/checkpoints/one", mu.mnt, mu.mnt, mu.mnt);
		ck_assert_int_eq(mu_sh(NULL, cmd), 0);
	}
	ck_assert_int_eq(migrate(true, "app", NULL, NULL, &err), 1);
	ck_assert_msg(strstr(err, "the destination") && (strstr(err, "free") ||
							  strstr(err, "space")), "%s", err);
	free(err);
	expect_source_live("app");
	/* No copy there (the first round failed), and its store is whole. */
	ck_assert_ptr_null(mu_slurp(mu_b_at("app/stat"), NULL));
	b_fsck();
	ck_assert_int_eq(mount("tmpfs", small, "tmpfs", MS_REMOUNT, "size=256m"), 0);
	ck_assert_int_eq(migrate(true, "app", NULL, &out, NULL), 0);
	full_lines = json_u64(out, "lines_total");
	ck_assert_uint_gt(json_u64(out, "lines_present"), 0);
	ck_assert_uint_lt(json_u64(out, "lines_sent"), full_lines);
	free(out);
	mu_expect_same_file(mu_at("app/heap"), mu_b_at("app/heap"));
	mu_b_unmount();
	ck_assert_int_eq(umount(small), 0);
	snprintf(mu_b.store, sizeof(mu_b.store), "%s/store2", mu.root);
	mu_b_mount(NULL);
}
END_TEST

/*
 * Two writers race the migration, each writing increasing numbers into
 * SLOTS slots of its own in turn: one with pwrite(), one with stores
 * through a mapping followed by msync(MS_SYNC).  Each logs which calls
 * acknowledged, until one is refused and ten more are too.  Afterwards
 * each slot on B holds the last number acknowledged for it (the mapping's
 * may hold a later one: a store the lease's write-back took before its
 * msync was refused), and nothing was acknowledged after a refusal.
 */
#define SLOTS 2048

static void writer(bool mapped, const char *path, const char *log)
{
	FILE *lg = fopen(log, "w");
	int fd = open(path, O_RDWR), refused = 0;
	uint8_t *map = NULL;

	if (!lg || fd < 0)
		_exit(2);
	setvbuf(lg, NULL, _IOLBF, 0);   /* the test counts lines while it writes */
	if (mapped && (map = mmap(NULL, SLOTS * 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
				  (off_t)LS * 32)) == MAP_FAILED)
		_exit(3);
	for (uint64_t i = 1; i < 5000000 && refused < 11; i++) {
		uint64_t slot = (i - 1) % SLOTS;
		int ok;

		if (mapped) {
			memcpy(map + slot * 8, &i, 8);
			ok = msync(map + (slot * 8 & ~4095ull), 4096, MS_SYNC) == 0;
		} else {
			ok = pwrite(fd, &i, 8, (off_t)(slot * 8)) == 8;
		}
		fprintf(lg, "%llu %d\n", (unsigned long long)i, ok ? 0 : errno);
		refused += !ok;
	}
	fclose(lg);
	_exit(refused >= 11 ? 0 : 4);
}

START_TEST(writes_racing_the_migration)
{
	pid_t w[2];
	int st;
	char *out;

	make_heap("app", 64, 4);
	for (int k = 0; k < 2; k++) {
		char *path = strdup(mu_at("app/heap")), *log = strdup(mu_in_root("w%d.log", k));

		if ((w[k] = fork()) == 0)
			writer(k == 1, path, log);
		ck_assert_int_gt(w[k], 0);
		free(path);
		free(log);
	}
	/* Both writing, 100 writes acknowledged each at least: migrate now. */
	for (int k = 0; k < 2; k++) {
		double end = mu_now() + 20;
		size_t lines = 0;

		while (lines < 100 && mu_now() < end) {
			size_t len = 0;
			char *t = mu_slurp(mu_in_root("w%d.log", k), &len);

			lines = 0;
			for (size_t i = 0; t && i < len; i++)
				lines += t[i] == '\n';
			free(t);
			mu_sleep_ms(10);
		}
		ck_assert_msg(lines >= 100, "writer %d wrote %zu in 20 s", k, lines);
	}
	ck_assert_int_eq(migrate(true, "app", NULL, &out, NULL), 0);
	free(out);
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(waitpid(w[k], &st, 0), w[k]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d: %d", k, st);
	}
	for (int k = 0; k < 2; k++) {
		static uint64_t last[SLOTS];
		FILE *lg = fopen(mu_in_root("w%d.log", k), "r");
		int fd = open(mu_b_at("app/heap"), O_RDONLY);
		unsigned long long i;
		int why, acked = 0, refused = 0;

		ck_assert_ptr_nonnull(lg);
		ck_assert_int_ge(fd, 0);
		memset(last, 0, sizeof(last));
		while (fscanf(lg, "%llu %d", &i, &why) == 2) {
			if (why) {   /* refused: the lease is gone, and it says so */
				ck_assert_msg(why == EROFS, "writer %d: %llu refused with %s", k, i,
					      strerror(why));
				refused++;
				continue;
			}
			ck_assert_msg(refused == 0, "writer %d: %llu acknowledged after a refusal", k,
				      i);
			acked++;
			last[(i - 1) % SLOTS] = i;
		}
		fclose(lg);
		ck_assert_msg(acked >= 90 && refused > 0, "writer %d: %d acknowledged, %d refused: "
			      "no race", k, acked, refused);
		for (uint64_t slot = 0; slot < SLOTS; slot++) {
			uint64_t got = 0;
			off_t off = (off_t)(slot * 8) + (k == 1 ? (off_t)LS * 32 : 0);

			if (!last[slot])
				continue;   /* never acknowledged: the heap's own content */
			ck_assert_int_eq(pread(fd, &got, 8, off), 8);
			ck_assert_msg(k == 1 ? got >= last[slot] : got == last[slot],
				      "writer %d slot %llu: %llu acknowledged last, B has %llu", k,
				      (unsigned long long)slot, (unsigned long long)last[slot],
				      (unsigned long long)got);
		}
		close(fd);
	}
}
END_TEST

/* A real sshd for this test (in a network namespace of its own with
 * @netns) under the test's root, and its --rsh into @rsh. */
static void ssh_start(struct sshd *sd, bool netns, char *rsh, size_t cap)
{
	char dir[300];
	const char *why = sshd_unusable();
	int rc;

	ck_assert_msg(!why, "sshd: %s", why ? why : "");
	snprintf(dir, sizeof(dir), "%s/ssh", mu.root);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	rc = netns ? sshd_start_netns(sd, dir) : sshd_start(sd, dir);
	ck_assert_msg(rc == 0, "sshd: %s", sd->why);
	snprintf(rsh, cap, "%s", sshd_rsh(sd));
}

/*
 * Through a real sshd on loopback with the default kind of --rsh (ssh,
 * keys and config of the test's own), A -> B and back: sshd runs the far
 * heapctl from the user's shell, as it would on another machine.
 */
START_TEST(over_ssh)
{
	struct sshd sd;
	char rsh[2048], dest[400], *out;
	int rc;

	ssh_start(&sd, false, rsh, sizeof(rsh));
	make_heap("app", 32, 8);
	for (int trip = 0; trip < 2; trip++) {
		const char *argv[] = { HEAPCTL_BIN, "-m", trip ? mu_b.mnt : mu.mnt, "migrate", "app",
				       dest, "--rsh", rsh, "--heapctl-path", HEAPCTL_BIN, "--json",
				       NULL };

		snprintf(dest, sizeof(dest), "%s:%s", sshd_host(&sd), trip ? mu.mnt : mu_b.mnt);
		rc = mu_run_out(&out, argv);
		ck_assert_msg(rc == 0, "trip %d: %s\n%s", trip, out,
			      mu_slurp(mu_in_root("run.err"), NULL));
		if (trip)
			ck_assert_uint_le(json_u64(out, "transferred"), 4096);
		free(out);
		mu_expect_same_file(mu_at("app/heap"), mu_b_at("app/heap"));
	}
	ck_assert_int_eq(try_write(mu_at("app/heap"), 0), 0);
	sshd_stop(&sd);
}
END_TEST

/*
 * Across a real network stack: node B's daemon and sshd in one network
 * namespace, ssh in another, joined by a veth pair (10.99.0.2 -> 10.99.0.1).
 * The far side's heapctl runs where sshd does, so it reaches B's data
 * channel (an abstract socket, which belongs to a network namespace).
 */
START_TEST(over_ssh_netns)
{
	struct sshd sd;
	char rsh[2048], dest[400], *out;
	int rc;

	ssh_start(&sd, true, rsh, sizeof(rsh));
	mu_b_unmount();
	snprintf(mu_b.netns, sizeof(mu_b.netns), "%s", sd.netns_srv);
	mu_b_mount(NULL);
	snprintf(dest, sizeof(dest), "%s:%s", sshd_host(&sd), mu_b.mnt);
	make_heap("app", 32, 9);
	{
		const char *argv[] = { HEAPCTL_BIN, "-m", mu.mnt, "migrate", "app", dest, "--rsh",
				       rsh, "--heapctl-path", HEAPCTL_BIN, "--json", NULL };

		rc = mu_run_out(&out, argv);
		ck_assert_msg(rc == 0, "%s\n%s", out, mu_slurp(mu_in_root("run.err"), NULL));
		/* 31 heap lines (line 3 is zero) and the state's one */
		ck_assert_uint_eq(json_u64(out, "lines_sent"), 32);
		free(out);
	}
	mu_expect_same_file(mu_at("app/heap"), mu_b_at("app/heap"));
	ck_assert_int_eq(try_write(mu_b_at("app/heap"), 0), 0);
	ck_assert_int_eq(try_write(mu_at("app/heap"), 0), -EROFS);
	mu_b_unmount();   /* before its namespace goes */
	mu_b.netns[0] = '\0';
	sshd_stop(&sd);
	mu_b_mount(NULL);
}
END_TEST

static Suite *migrate_suite(void)
{
	Suite *s = suite_create("migrate_mount");
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "there_and_back", there_and_back_moves_only_what_changed },
		{ "refusals", refusals_keep_the_source_live_and_resume_force },
		{ "pipe_cut", pipe_cut_anywhere_then_a_rerun_finishes },
		{ "far_side_killed", far_side_killed_mid_transfer },
		{ "answer_lost", answer_lost_after_the_commit },
		{ "daemons_killed", daemons_killed_mid_migration },
		{ "moved_on", rerun_after_the_heap_moved_on },
		{ "one_at_a_time", one_migration_of_a_heap_at_a_time },
		{ "progress", progress_on_a_terminal_only },
		{ "disk_full", destination_disk_full },
		{ "racing_writes", writes_racing_the_migration },
		{ "over_ssh", over_ssh },
		{ "over_ssh_netns", over_ssh_netns },
	};

	/* One case each: CTest runs them side by side (CASES). */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, mu_b_setup, mu_b_teardown);
		tcase_set_timeout(tc, 120);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	return mu_main(migrate_suite());
}
