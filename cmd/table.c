/*
 * table.c - the command table: every heapctl command, once.
 *
 * cmd_exec() dispatches on it (name, access, handler); heapctl parses its
 * command line against the args, builds --help and COMMAND --help from
 * them and the help lines, and prints responses with the printer.  A new
 * command is an entry here plus its handler in cmd.c (and its printer or
 * client runner in client.c).
 *
 *   name          access          args                      run, print, client (cmd__)
 *   "checkpoint"  CMD_HEAP_WRITE  HEAP [--label L]          checkpoint, print_version
 *   "fsck"        CMD_ADMIN       --store [--verify-data]   fsck, print_fsck, fsck_client
 */
#include <errno.h>
#include <string.h>

#include "cmd_int.h"

/* heapctl's own copy (CMD_CLIENT_ONLY) parses and prints; only the daemon
 * and heapctl-store run commands, and only they link the store. */
#ifdef CMD_CLIENT_ONLY
#define RUN(fn) NULL
#else
#define RUN(fn) fn
#endif

/* The heap a command works on: the first positional of most of them. */
#define ARG_HEAP { "heap", NULL, "HEAP", CMD_STRING, true, "heap" }
#define VERSION_HELP "version (a number, latest or a label)"
#define VERSION_LIVE_HELP "(a number, latest, live or a label)"

static const cmd_def table[] = {
	{
		.name = "create", .help = "create a heap", .access = CMD_CREATOR,
		.args = (const cmd_arg[]){
			ARG_HEAP,
			{ "size", "--size", "SIZE", CMD_SIZE, false, "its size (default 0)" },
			{ "line", "--line", "SIZE", CMD_SIZE, false,
			  "its line size, a power of two from 4K to 1M (default: the mount's)" },
			{ "quota", "--quota", "SIZE", CMD_SIZE, false,
			  "the most space it may reference (the mount's owner and root)" },
			{ "reserve", "--reserve", "SIZE", CMD_SIZE, false,
			  "space committed to it (the mount's owner and root)" },
			{ 0 } },
		.run = RUN(cmd__create),
	},
	{
		.name = "ls", .help = "the heaps you may read: size, line size, lines, checkpoints",
		.access = CMD_ANYONE, .args = (const cmd_arg[]){ { 0 } },
		.run = RUN(cmd__ls), .print = cmd__print_ls,
	},
	{
		.name = "stat", .help = "a heap's figures, its space and the line cache's",
		.access = CMD_HEAP_READ, .opens_heap = true,
		.args = (const cmd_arg[]){ ARG_HEAP, { 0 } },
		.run = RUN(cmd__stat), .print = cmd__print_stat,
	},
	{
		.name = "pool",
		.help = "the mount's budgets: space and memory, sub-pools, every heap's ledger",
		.access = CMD_ANYONE, .args = (const cmd_arg[]){ { 0 } },
		.run = RUN(cmd__pool), .print = cmd__print_pool,
	},
	{
		.name = "rm", .help = "delete a heap with all its checkpoints",
		.access = CMD_HEAP_WRITE, .args = (const cmd_arg[]){ ARG_HEAP, { 0 } },
		.run = RUN(cmd__rm),
	},
	{
		.name = "checkpoint", .help = "take a checkpoint; prints its version",
		.access = CMD_HEAP_WRITE, .opens_heap = true,
		.args = (const cmd_arg[]){
			ARG_HEAP,
			{ "label", "--label", "L", CMD_STRING, false,
			  "label it L (not all digits, not latest or live)" },
			{ 0 } },
		.run = RUN(cmd__checkpoint), .print = cmd__print_version,
	},
	{
		.name = "checkpoints",
		.help = "a heap's checkpoints: version, created, label, lines and bytes changed",
		.access = CMD_HEAP_READ, .opens_heap = true,
		.args = (const cmd_arg[]){ ARG_HEAP, { 0 } },
		.run = RUN(cmd__checkpoints), .print = cmd__print_checkpoints,
	},
	{
		.name = "space",
		.help = "per checkpoint: bytes it holds, unique to it, shared, and what "
			"deleting it would free",
		.access = CMD_HEAP_READ, .opens_heap = true,
		.args = (const cmd_arg[]){ ARG_HEAP, { 0 } },
		.run = RUN(cmd__space), .print = cmd__print_space,
	},
	{
		.name = "restore", .help = "make the live heap equal to a checkpoint",
		.access = CMD_HEAP_WRITE, .opens_heap = true,
		.args = (const cmd_arg[]){
			ARG_HEAP,
			{ "version", NULL, "VERSION", CMD_VERSION, true, VERSION_HELP },
			{ 0 } },
		.run = RUN(cmd__restore), .print = cmd__print_restore,
	},
	{
		.name = "diff", .help = "the lines that differ between two versions",
		.access = CMD_HEAP_READ, .opens_heap = true,
		.args = (const cmd_arg[]){
			ARG_HEAP,
			{ "from", NULL, "V1", CMD_VERSION, true,
			  "version to compare " VERSION_LIVE_HELP },
			{ "to", NULL, "V2", CMD_VERSION, true,
			  "version to compare it with " VERSION_LIVE_HELP },
			{ 0 } },
		.run = RUN(cmd__diff), .print = cmd__print_diff,
	},
	{
		.name = "rm-checkpoint", .help = "delete a checkpoint",
		.access = CMD_HEAP_WRITE, .opens_heap = true,
		.args = (const cmd_arg[]){
			ARG_HEAP,
			{ "version", NULL, "VERSION", CMD_VERSION, true, VERSION_HELP },
			{ 0 } },
		.run = RUN(cmd__rm_checkpoint),
	},
	{
		.name = "suspend",
		.help = "checkpoint, free its cache, refuse writes (EROFS); prints the version",
		.access = CMD_HEAP_WRITE, .opens_heap = true,
		.args = (const cmd_arg[]){ ARG_HEAP, { 0 } },
		.run = RUN(cmd__suspend), .print = cmd__print_version,
	},
	{
		.name = "resume", .help = "take writes again after suspend",
		.access = CMD_HEAP_WRITE, .opens_heap = true,
		.args = (const cmd_arg[]){
			ARG_HEAP,
			{ "force", "--force", NULL, CMD_FLAG, false,
			  "take the writer lease back from the node it migrated to, "
			  "when that node is lost for good" },
			{ 0 } },
		.run = RUN(cmd__resume),
	},
	{
		.name = "send",
		.help = "write a heap's checkpoints to stdout as a stream (not a terminal)",
		.access = CMD_HEAP_READ, .opens_heap = true, .streams = true,
		.args = (const cmd_arg[]){
			ARG_HEAP,
			{ "version", NULL, "VERSION", CMD_VERSION, false,
			  "newest checkpoint to send (default: latest)" },
			{ "from", "--from", "BASE", CMD_VERSION, false,
			  "send only the checkpoints after BASE, which the receiver holds" },
			{ 0 } },
		.run = RUN(cmd__send), .print = cmd__print_stream, .client = cmd__stream_client,
	},
	{
		.name = "recv",
		.help = "read a stream from stdin and commit it whole, or nothing",
		.access = CMD_ANYONE, .streams = true,
		.args = (const cmd_arg[]){
			{ "as", "--as", "NAME", CMD_STRING, false,
			  "receive a whole heap under this name" },
			{ 0 } },
		.run = RUN(cmd__recv), .print = cmd__print_stream, .client = cmd__stream_client,
	},
	{
		.name = "verify",
		.help = "check a stream from stdin without applying it",
		.access = CMD_ANYONE, .streams = true,
		.args = (const cmd_arg[]){ { 0 } },
		.run = RUN(cmd__verify), .print = cmd__print_stream, .client = cmd__stream_client,
	},
	{
		.name = "migrate",
		.help = "move a heap to another node, sending only what it lacks",
		.access = CMD_HEAP_WRITE, .opens_heap = true, .streams = true,
		.args = (const cmd_arg[]){
			ARG_HEAP,
			{ "dest", NULL, "[USER@]HOST:MNT", CMD_STRING, true,
			  "node to move it to and the mountpoint of its heapfs" },
			{ "rsh", "--rsh", "CMD", CMD_STRING, false,
			  "how to reach HOST (default ssh; split on spaces like rsync's -e)" },
			{ "downtime", "--downtime", "MS", CMD_SIZE, false,
			  "pre-copy until the rest fits in MS milliseconds (default 100)" },
			{ "heapctl_path", "--heapctl-path", "PATH", CMD_STRING, false,
			  "heapctl on HOST (default: heapctl from its PATH)" },
			{ 0 } },
		.run = RUN(cmd__migrate), .print = cmd__print_migrate, .client = cmd__migrate_client,
	},
	{
		.name = "serve",
		.help = "the far end of migrate, which starts it through --rsh (stdin/stdout)",
		.access = CMD_ANYONE, .streams = true,
		.args = (const cmd_arg[]){ { 0 } },
		.run = RUN(cmd__serve), .client = cmd__serve_client,
	},
	{
		.name = "gc", .help = "reclaim what no version references now",
		.access = CMD_ADMIN,
		.args = (const cmd_arg[]){
			{ "full", "--full", NULL, CMD_FLAG, false,
			  "also what writes in flight held, and compact the store" },
			{ 0 } },
		.run = RUN(cmd__gc), .print = cmd__print_gc,
	},
	{
		.name = "fsck", .help = "check the store whole; exits 1 if it has errors",
		.access = CMD_ADMIN,
		.args = (const cmd_arg[]){
			{ NULL, "--store", "STORE_DIR", CMD_GLOBAL, true,
			  "fsck checks an unmounted store" },
			{ "verify_data", "--verify-data", NULL, CMD_FLAG, false,
			  "also decode every blob and check its hash" },
			{ "repair", "--repair", NULL, CMD_FLAG, false,
			  "fix reference counts and line counters; drop missing or corrupt "
			  "blobs (their lines read as errors until rewritten)" },
			{ 0 } },
		.run = RUN(cmd__fsck), .print = cmd__print_fsck, .client = cmd__fsck_client,
	},
};

const cmd_def *cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	}
	return NULL;
}

const cmd_def *cmd_list(size_t *n_out)
{
	*n_out = sizeof(table) / sizeof(table[0]);
	return table;
}

/* The sub-pools' names, for the daemon's JSON and heapctl's tables. */
const char *const cmd__sub_names[POOL_NSUB] = { "gl", "gp", "le", "lp" };

/* "64K", "8G", "1048576": K, M, G, T are powers of 1024. */
int cmd_size_parse(const char *s, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (!*p)
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return -EINVAL;
	switch (*p) {
	case 'k': case 'K': mult = 1ULL << 10; p++; break;
	case 'm': case 'M': mult = 1ULL << 20; p++; break;
	case 'g': case 'G': mult = 1ULL << 30; p++; break;
	case 't': case 'T': mult = 1ULL << 40; p++; break;
	default: break;
	}
	if (*p && strcmp(p, "B") && strcmp(p, "iB"))
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

