#!/usr/bin/env bash
# The cooperative pool's benchmark (issue 16; DESIGN.md, "Pools: the
# cooperative policy"): every figure beside its goal and the baseline
# measured in the same run.  Builds nothing (it runs BUILD_DIR/fs/heapfs
# and BUILD_DIR/bench/pool_tool).
#
# Usage: bench/pool.sh [BUILD_DIR] [--runs N] [--dir DIR]
#   BUILD_DIR  where heapfs was built (default: build)
#   --runs N   repeat parts 1-3 N times (default 1) and show each run
#   --dir DIR  where the stores go (default /var/tmp); a real disk
#
# 1. Bursts.  8 heaps on one mount (pool=256M, cache=64M): each holds 16 MiB
#    (its last 8 MiB freeable; heaps 0-3 run a runtime that reports it and
#    gives it back when its balloon asks, heaps 4-7 are silent), then each in
#    turn writes a burst of 136 MiB (1 MiB writes) and gives it back: peaks
#    of 152 MiB each, 1,216 MiB summed, nearly five times the budget, and
#    1,088 MiB of bursts written.
#    The cooperative pool (one shared pool=256M) against the same total split
#    into static partitions (a quota of 32 MiB each, the first refused write
#    ending a burst).  Goals: the shared pool refuses 0 bytes where the
#    static partitions refuse >= 50% of a burst.
# 2. Write latency while borrowing: the shared run's 1 MiB writes, p50 and
#    p99, against the same 8 heaps' bursts on a mount with no pool= (no
#    limit to borrow against: uncontended), each over three runs taken in
#    turn (3,264 writes: a p99 of one run's 1,088 is its 11th slowest, and
#    moved 2x between runs on this VM), each pair's ratio shown too.
#    Goal: p99 <= 1.5x uncontended.
# 3. A reclaim-backed request: a runtime heap of 96 MiB (72 MiB of it
#    reported freeable) and a silent one of 130 MiB in pool=256M; then 20
#    times fallocate 64 MiB of a third heap (space the pool has only once
#    the runtime gives back), undone after each.  Goals: p50 <= 50 ms,
#    p99 <= 500 ms.
# 4. 32 waiters: a silent heap fills pool=128M until refused, then 32
#    threads each write 1 MiB into a heap of their own at once.  Goal: at
#    most one reclaim pass (space_reclaim_passes), each refused at wait=
#    (2 s) within 10%.
#
# Needs root or /dev/fuse.  Every mount it starts is unmounted and every
# daemon ended by its PID on exit, even when interrupted; every store
# removed.  The machine's cores may be shared: run it more than once
# before believing a ratio.
set -euo pipefail

cmdline="$0${*:+ $*}"
build=build
runs=1
dir=/var/tmp
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=${2:?--runs N}; shift ;;
	--dir) dir=${2:?--dir DIR}; shift ;;
	-h|--help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "pool.sh: unknown option $1" >&2; exit 2 ;;
	*) build=$1 ;;
	esac
	shift
done
for b in fs/heapfs bench/pool_tool; do
	if [ ! -x "$build/$b" ]; then
		echo "pool.sh: $build/$b not found; build first (make build)" >&2
		exit 1
	fi
done
build=$(cd "$build" && pwd)
heapfs=$build/fs/heapfs
tool=$build/bench/pool_tool
[ -w /dev/fuse ] || { echo "pool.sh: /dev/fuse is not usable here" >&2; exit 1; }
command -v fusermount3 >/dev/null || { echo "pool.sh: fusermount3 is missing" >&2; exit 1; }
mkdir -p "$dir"

MiB=1048576
stores=$(mktemp -d "$dir/heapfs-bench-pool.XXXXXX")
me=pool.sh tmp=$stores
# shellcheck source=heapfs_mount.sh
. "$(dirname "$0")/heapfs_mount.sh"

mnt='' pid='' store=''
cleanup() {
	set +e
	unmount_heapfs
	rm -rf "$stores"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run the tool on a fresh mount: tool_on OPTS SUBCOMMAND ARGS...; prints
# the tool's line.
tool_on() {
	local opts=$1
	shift
	mount_heapfs pool -o "$opts"
	"$tool" "$1" "$mnt" "${@:2}"
	drop_heapfs
}
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g) ? "MET" : "NOT MET" }'; }
# p50, p99 and max of the latencies in file $1, one a line (pool_tool's pct()).
lat_pcts() {
	sort -g "$1" | awk '{ v[NR - 1] = $1 } END {
		printf "p50 %.2f p99 %.2f max %.2f\n", v[int(0.5 * (NR - 1) + 0.5)],
			v[int(0.99 * (NR - 1) + 0.5)], v[NR - 1] }'
}

echo "heapfs pool benchmark: $cmdline"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); $(uname -r); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo

for ((run = 1; run <= runs; run++)); do
	[ "$runs" -gt 1 ] && echo "--- run $run of $runs"
	base=$((16 * MiB)) burst=$((136 * MiB))
	: >"$stores/lat.shared"
	: >"$stores/lat.alone"
	pairs='' s_ref=0
	for pair in 1 2 3; do   # shared and uncontended in turn
		s=$(POOL_TOOL_LAT=$stores/lat.shared tool_on cache=64M,pool=256M bursts 8 4 $base $burst)
		a=$(POOL_TOOL_LAT=$stores/lat.alone tool_on cache=64M bursts 8 4 $base $burst)
		s_ref=$((s_ref + $(echo "$s" | field refused)))
		total=$(echo "$s" | field of)
		pairs="$pairs $(ratio "$(echo "$s" | field p99)" "$(echo "$a" | field p99)")x"
	done
	static=$(tool_on cache=64M,pool=256M bursts 8 4 $base $burst $((32 * MiB)))
	p_ref=$(echo "$static" | field refused)
	p_pct=$(awk -v a="$p_ref" -v b="$total" 'BEGIN { printf "%.0f", 100 * a / b }')
	printf '1. bursts of 8 heaps, %d MiB written in all (budget 256 MiB)\n' $((total / MiB))
	printf '   %-34s %12s   %s\n' "shared pool, 3 runs: bytes refused" "$s_ref" \
		"$([ "$s_ref" = 0 ] && echo MET || echo 'NOT MET') (goal 0)"
	printf '   %-34s %12s   %s\n' "static partitions: bytes refused" "$p_ref ($p_pct%)" \
		"$(awk -v p="$p_pct" 'BEGIN { print (p >= 50) ? "MET" : "NOT MET" }') (goal >= 50%)"
	shared=$(lat_pcts "$stores/lat.shared") alone=$(lat_pcts "$stores/lat.alone")
	s_p50=$(echo "$shared" | field p50) s_p99=$(echo "$shared" | field p99)
	a_p50=$(echo "$alone" | field p50) a_p99=$(echo "$alone" | field p99)
	r=$(ratio "$s_p99" "$a_p99")
	printf '2. 1 MiB write latency, ms, 3 runs each %2s %8s %8s %8s\n' '' p50 p99 max
	printf '   %-30s %8s %8s %8s\n' "shared pool, borrowing" "$s_p50" "$s_p99" \
		"$(echo "$shared" | field max)"
	printf '   %-30s %8s %8s %8s\n' "no pool= (baseline)" "$a_p50" "$a_p99" \
		"$(echo "$alone" | field max)"
	printf '   %-30s %8s   %s\n' "p99 borrowing / no pool=" "${r}x" "$(verdict "$r" 1.5) (goal <= 1.5x)"
	printf '   %-30s %s\n' "each pair's p99 ratio" "$pairs"
	rec=$(tool_on cache=64M,pool=256M reclaim 20 $((96 * MiB)) $((130 * MiB)))
	r50=$(echo "$rec" | field p50) r99=$(echo "$rec" | field p99)
	printf '3. reclaim-backed 64 MiB fallocate, %s of 20 refused\n' "$(echo "$rec" | field failed)"
	printf '   %-30s %8s ms  %s\n' p50 "$r50" "$(verdict "$r50" 50) (goal <= 50 ms)"
	printf '   %-30s %8s ms  %s\n' p99 "$r99" "$(verdict "$r99" 500) (goal <= 500 ms)"
	printf '   %-30s %8s ms\n' max "$(echo "$rec" | field max)"
done
w=$(tool_on cache=64M,pool=128M,wait=2000 waiters 32)
passes=$(echo "$w" | field passes)
printf '4. 32 waiters on a full pool: %s refused, %s short, after %s-%s s (wait=2000)\n' \
	"$(echo "$w" | field refused)" "$(echo "$w" | field short)" \
	"$(echo "$w" | field took_min)" "$(echo "$w" | field took_max)"
printf '   %-30s %8s     %s\n' "reclaim passes" "$passes" "$(verdict "$passes" 1) (goal <= 1)"
printf '   %-30s %8s     %s\n' "longest wait / wait=" "$(ratio "$(echo "$w" | field took_max)" 2)x" \
	"$(verdict "$(ratio "$(echo "$w" | field took_max)" 2)" 1.1) (goal <= 1.1x)"
