#!/usr/bin/env bash
# The migration benchmark: heapctl send | recv and heapctl migrate between two
# heapfs mounts on this machine, every figure beside a baseline measured in
# the same run and every goal judged MET or NOT MET.  Builds nothing (it runs
# BUILD_DIR/fs/heapfs, BUILD_DIR/mount-tools/heapctl, BUILD_DIR/bench/migrate_tool).
#
# Usage: bench/migrate.sh [BUILD_DIR] [--quick] [--parts LIST] [--dir DIR]
#   BUILD_DIR  where heapfs was built (default: build)
#   --quick    smoke test, under 2 minutes: a 64 MiB heap, fewer runs
#   --parts L  which parts to run, e.g. 13 (default 12345)
#   --dir DIR  where the stores, plain files and btrfs images go (default
#              /var/tmp); a real disk, not tmpfs
#
# The heap: H bytes (1 GiB; --quick 64 MiB) of distinct heap-like 64 KiB
# lines (bench_store.c's generator: pointers, text, zeros, counters; zstd -1
# about 3:1), written through mount A, and the same bytes in a plain file on
# DIR ("the plain file") for the baselines.  Every change to the heap is
# made to the plain files too (migrate_tool dirty: the same lines, the same
# content), so the baselines move the same bytes.  "The far side" of a
# migration is a second heapfs mount on this machine, reached through
# tests/integration/testrsh plain as --rsh (what ssh would run, without ssh).
# Timed figures run R times (3; the incremental ones RI, 7; --quick 2, part
# 4 once) and show min / median / max; times are judged on the median,
# bytes on the worst run.
#
# 1. Full stream: heapctl send | heapctl recv into a fresh mount, time and
#    stream bytes, beside zstd -1 of the plain file (time, size) and rsync of
#    the plain file into an empty directory (time, "Total bytes sent").
#    Goal: send | recv no slower than zstd -1 (frames travel as stored).
# 2. Incremental: a cold migrate of the whole heap into a fresh mount (until
#    a write is accepted there), R times; then RI times: rewrite 1% of the
#    lines (random lines, new content) where the heap lives and migrate it
#    to the other mount, which holds the version before (the heap goes back
#    and forth).
#    Baselines: rsync -I --inplace --no-whole-file --stats, with and without
#    -z, of the new plain file onto a copy of the old one ("Total bytes sent"
#    + "Total bytes received"; received is the block checksums the side
#    holding the base sends); btrfs send -p PARENT SNAP | btrfs receive
#    between two loop-mounted btrfs images under DIR (a full send | receive
#    for the cold case), skipped with the reason where loop devices or
#    btrfs are not to be had.  Goals: incremental bytes <= 1.1x the zstd -1
#    frames of the changed lines (migrate_tool compresses each new line as
#    heapfs does: level 1, checksum, one frame a line); below rsync -z; at
#    most 0.5x btrfs's stream ("far below"); negotiation bytes <= 0.05x
#    rsync's checksum bytes; incremental time <= btrfs send -p | receive;
#    cold migrate usable in <= 0.5x a full btrfs send | receive.  Each
#    time goal is judged twice: against btrfs's commands as the issue
#    names them, and against the same work migrate does (it takes its
#    checkpoint and commits durably: btrfs's read-only snapshot before the
#    send and a sync of the received file after it, both timed).
# 3. Return trip: migrate the heap back with nothing changed (goal <= 4 KiB
#    transferred, and <= 0.01x rsync -I's bytes for that trip: the goal's
#    "1% of rsync's bytes" read as the trip back after the 1% change went
#    out), then after a 1% change (the goal read literally: <= 0.01x
#    rsync's bytes for the same change), beside rsync -I doing the same; then the unchanged
#    trip once more after 100 more checkpoints (carried across first):
#    every round's hello lists them all.
# 4. Downtime: a writer pwrites random lines, 1% of the heap a second, while
#    the heap migrates; migrate's downtime_ms and the writer's own: from its
#    first EROFS on the source to the first write the destination accepts
#    (it switches to the destination's heap file at the EROFS and retries
#    every 0.2 ms).  Goal <= 100 ms, both.  R runs with the heap's pages in
#    the source's page cache (the heap file read first, as a program using
#    it would have it), R without (the last migration dropped them).  The
#    writer then reads back every line it wrote: each must hold its last
#    accepted write (on either side).
# 5. Negotiation apart from payload: every migration of the run (--json's
#    negotiation_bytes and payload_bytes).
#
# Needs root (FUSE, loop mounts) and installs jq, zstd, rsync and
# btrfs-progs when missing (apt-get).  Every mount it starts (heapfs and
# btrfs) is unmounted and every process it started ended by its PID on exit,
# even when interrupted; stores, files and images are removed.
set -euo pipefail

cmdline="$0${*:+ $*}"
build=build
quick=0
parts=12345
dir=/var/tmp
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--parts) parts=${2:?--parts LIST}; shift ;;
	--dir) dir=${2:?--dir DIR}; shift ;;
	-h|--help) sed -n '2,64p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "migrate.sh: unknown option $1" >&2; exit 2 ;;
	*) build=$1 ;;
	esac
	shift
done
case $parts in *[!12345]*|'') echo "migrate.sh: --parts wants digits 1-5" >&2; exit 2 ;; esac
part() { case $parts in *"$1"*) return 0 ;; esac; return 1; }

for b in fs/heapfs mount-tools/heapctl bench/migrate_tool; do
	if [ ! -x "$build/$b" ]; then
		echo "migrate.sh: $build/$b not found; build first (make build)" >&2
		exit 1
	fi
done
build=$(cd "$build" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
heapfs=$build/fs/heapfs
heapctl=$build/mount-tools/heapctl
tool=$build/bench/migrate_tool
localrsh=$here/../tests/integration/testrsh
[ -x "$localrsh" ] || { echo "migrate.sh: $localrsh not found" >&2; exit 1; }
localrsh=$(cd "$(dirname "$localrsh")" && pwd)/testrsh
case $localrsh$heapctl in *' '*) echo "migrate.sh: --rsh splits on spaces: move the tree" >&2; exit 1 ;; esac
localrsh="$localrsh plain"
[ "$(id -u)" -eq 0 ] || { echo "migrate.sh: run as root (FUSE mounts, loop mounts)" >&2; exit 1; }
[ -w /dev/fuse ] || { echo "migrate.sh: /dev/fuse is not usable here" >&2; exit 1; }

# What only this benchmark needs, so make test does not pull it.  Without
# btrfs-progs, part 2 says so and goes on; the rest is checked below.
# shellcheck source=need.sh
. "$here/need.sh"
need=()
command -v jq >/dev/null || need+=(jq)
command -v zstd >/dev/null || need+=(zstd)
command -v rsync >/dev/null || need+=(rsync)
part 2 && ! command -v mkfs.btrfs >/dev/null && need+=(btrfs-progs)
bench_install migrate.sh "${need[@]}" || true
for c in jq zstd rsync fusermount3 awk cmp; do
	command -v $c >/dev/null || { echo "migrate.sh: $c is missing" >&2; exit 1; }
done
mkdir -p "$dir"
case $(stat -f -c %T "$dir") in
tmpfs|ramfs) echo "migrate.sh: $dir is $(stat -f -c %T "$dir"); the stores need a real disk (--dir)" >&2
	exit 1 ;;
esac

line=65536
if [ $quick = 1 ]; then
	H=$((64 << 20)); R=2; RI=2; R4=1
else
	# The incremental figures take tens of milliseconds, and a slow run
	# (on a VM where memory untouched for a second or two costs a host
	# fault at its next touch: README) moves a median of 3.  7 runs of
	# each side, about 3 s apiece.
	H=$((1 << 30)); R=3; RI=7; R4=3
fi

# --- everything below is undone by cleanup ---------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heapfs-bench-migrate.XXXXXX")   # small files
work=$(mktemp -d "$dir/heapfs-bench-migrate.XXXXXX")            # on disk
declare -A mdir=() mpid=()      # heapfs mounts by name: mountpoint, daemon PID
btrfs_mnts=()                   # loop-mounted btrfs images
writer_pid=''
cleanup() {
	local m i
	set +e
	if [ -n "$writer_pid" ]; then
		kill "$writer_pid" 2>/dev/null
		wait "$writer_pid" 2>/dev/null
	fi
	for m in "${!mpid[@]}"; do
		unmount_heapfs "$m"
	done
	for ((i = ${#btrfs_mnts[@]} - 1; i >= 0; i--)); do
		mountpoint -q "${btrfs_mnts[i]}" && umount "${btrfs_mnts[i]}"
	done
	rm -rf "$tmp" "$work"
}
# Unmount heapfs mount NAME and wait for (or end) its daemon.
unmount_heapfs() {
	local m=${mdir[$1]} p=${mpid[$1]} n
	if mountpoint -q "$m"; then
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
	fi
	for ((n = 0; n < 300; n++)); do         # it flushes its cache: 30 s
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$p" 2>/dev/null && kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	unset "mpid[$1]"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Mount heapfs on a new store $work/NAME.store.  Usage: mount_heapfs NAME
mount_heapfs() {
	local name=$1 n
	mdir[$name]=$work/$name.mnt
	mkdir -p "${mdir[$name]}"
	"$heapfs" -f "$work/$name.store" "${mdir[$name]}" >"$tmp/$name.log" 2>&1 &
	mpid[$name]=$!
	for ((n = 0; n < 100; n++)); do
		mountpoint -q "${mdir[$name]}" && return 0
		kill -0 "${mpid[$name]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "migrate.sh: heapfs did not mount $name:" >&2
	cat "$tmp/$name.log" >&2
	exit 1
}
# Unmount NAME and remove its store.
drop_heapfs() {
	unmount_heapfs "$1"
	rm -rf "$work/$1.store" "${mdir[$1]}"
	unset "mdir[$1]"
}

now_ns() { date +%s%N; }
ms_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
human() { awk -v b="$1" 'BEGIN { if (b == "-" || b == "") print "-"; else if (b >= 1073741824) printf "%.4g GiB", b / 1073741824; else if (b >= 1048576) printf "%.4g MiB", b / 1048576; else if (b >= 1024) printf "%.4g KiB", b / 1024; else printf "%d B", b }'; }
# min/median/max of the numbers on stdin: "MIN MED MAX" ("- - -" if none).
mmm() {
	sort -g | awk '{ a[NR] = $1 } END { if (!NR) { print "- - -"; exit }
		m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		print a[1], m, a[NR] }'
}
col() { cut -f"$2" "$1"; }             # column N of a TSV
stat3() { col "$1" "$2" | mmm; }
med() { stat3 "$1" "$2" | awk '{ print $2 }'; }
maxv() { stat3 "$1" "$2" | awk '{ print $3 }'; }
maxr() { stat3 "$1" "$2" | awk '{ print ($3 == "-") ? "-" : sprintf("%.4g", $3) }'; }   # a ratio
ms3() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN { if (a == "-") print "-"; else printf "%.0f / %.0f / %.0f ms", a, b, c }'; }
ms3s() { read -r a b c; ms3 "$a" "$b" "$c"; }
plain3s() { read -r a b c; echo "$a / $b / $c"; }
by3s() { read -r a b c; if [ "$a" = - ]; then echo -; else echo "$(human "$a") / $(human "$b") / $(human "$c")"; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "-" || b == "-" || a == "" || b == "" || b <= 0) ? "-" : sprintf("%.3g", a / b) }'; }
le() { awk -v x="$1" -v g="$2" 'BEGIN { print (x != "-" && x != "" && x + 0 <= g + 0) ? 1 : 0 }'; }
lt() { awk -v x="$1" -v g="$2" 'BEGIN { print (x != "-" && x != "" && x + 0 < g + 0) ? 1 : 0 }'; }
verdict() { [ "$1" = 1 ] && echo MET || echo "NOT MET"; }
goals=$tmp/goals.tsv
: >"$goals"
goal() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(verdict "$4")" >>"$goals"; }   # what value goal ok
# The bytes rsync --stats says: "SENT RECEIVED".
rsync_bytes() {
	awk -F': ' '/^Total bytes sent/ { gsub(/,/, "", $2); s = $2 }
		/^Total bytes received/ { gsub(/,/, "", $2); r = $2 } END { print s + 0, r + 0 }' "$1"
}

# heapctl migrate of heap app from mount FROM to mount TO, recorded under
# LABEL in $migs: label, wall ms, then the --json fields.  Sets mig_ms and
# mig_json.  A failure stops the run with the command and what it said.
migs=$tmp/migs.tsv
: >"$migs"
mig_cmd() {   # Usage: mig_cmd FROM_MOUNTPOINT TO_MOUNTPOINT
	printf "%s -m %s --json migrate app localhost:%s --rsh '%s' --heapctl-path %s" \
		"$heapctl" "$1" "$2" "$localrsh" "$heapctl"
}
migrate() {
	local from=$1 to=$2 label=$3 t0 rc=0
	t0=$(now_ns)
	"$heapctl" -m "${mdir[$from]}" --json migrate app "localhost:${mdir[$to]}" \
		--rsh "$localrsh" --heapctl-path "$heapctl" >"$tmp/mig.out" 2>"$tmp/mig.err" || rc=$?
	mig_ms=$(ms_since "$t0")
	if [ $rc != 0 ] || ! mig_json=$(jq -ce . "$tmp/mig.out" 2>/dev/null); then
		echo "migrate.sh: heapctl migrate failed (exit $rc) after $mig_ms ms:" >&2
		echo "  command: $(mig_cmd "${mdir[$from]}" "${mdir[$to]}")" >&2
		sed 's/^/  stdout: /' "$tmp/mig.out" >&2
		sed 's/^/  stderr: /' "$tmp/mig.err" >&2
		exit 1
	fi
	jq -r --arg l "$label" --arg ms "$mig_ms" '[$l, $ms, .transferred, .payload_bytes,
		.negotiation_bytes, .lines_total, .lines_sent, .lines_present, .bytes_skipped,
		.rounds, .downtime_ms, ."total-time", .common_version] | @tsv' <<<"$mig_json" >>"$migs"
}
mj() { jq -r --arg k "$1" '.[$k]' <<<"$mig_json"; }
mig_line() {
	echo "migrate $(mj lines_sent) of $(mj lines_total) lines sent ($(mj lines_present) present)," \
	     "$(mj transferred) B transferred ($(mj payload_bytes) payload + $(mj negotiation_bytes) negotiation)," \
	     "$(mj rounds) rounds, downtime $(mj downtime_ms) ms, total-time $(mj total-time) ms, wall $mig_ms ms"
}
# Compare a mount's heap with the plain file: the migrated bytes are right.
check_content() {
	if ! cmp -s "$raw" "${mdir[$1]}/app/heap"; then
		echo "migrate.sh: WRONG BYTES: ${mdir[$1]}/app/heap differs from $raw ($2):" >&2
		cmp "$raw" "${mdir[$1]}/app/heap" >&2 || true
		exit 1
	fi
	echo "  content check ($2): the heap on $1 equals the plain file"
}

start=$(date +%s)
echo "# bench/migrate.sh"
echo
echo "command: $cmdline"
echo "machine: $(nproc) cores, kernel $(uname -r), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo "tree: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
     "$(git -C "$here" status --porcelain 2>/dev/null | grep -q . && echo '(with local changes)')," \
     "heapfs $heapfs"
echo "tools: $(zstd --version | head -1); $(rsync --version | head -1 | awk '{ print "rsync", $3 }');" \
     "$(command -v btrfs >/dev/null && btrfs --version | head -1 || echo 'btrfs-progs missing')"
echo "work on $dir ($(stat -f -c %T "$dir")); mode: $([ $quick = 1 ] && echo '--quick (smoke test: small heap, fewer runs)' || echo full);" \
     "heap $(human $H) of 64 KiB lines, $R runs per timed figure ($RI of the incremental ones, $R4 in part 4)"
echo "NOTE: the cores may be shared with other work: compare runs before believing a ratio."

# --- the heap on mount A, the plain file beside it -------------------------
mount_heapfs A
mkdir "${mdir[A]}/app"
raw=$work/plain/heap
mkdir -p "$work/plain"
t0=$(now_ns)
mibs=$("$tool" fill "${mdir[A]}/app/heap" $H $line 1)
echo
echo "heap: $(human $H) written through mount A at $mibs MiB/s ($(ms_since "$t0") ms)"
"$tool" fill "$raw" $H $line 1 >/dev/null
nlines=$((H / line))

# ---------------------------------------------------------------------------
p1=$tmp/p1.tsv
if part 1; then
	echo
	echo "## 1. Full stream: heapctl send | heapctl recv, beside zstd -1 and rsync"
	echo
	mkdir "${mdir[A]}/app/checkpoints/full"
	: >"$p1"
	mkdir -p "$work/rsync-empty"
	for ((r = 1; r <= R; r++)); do
		mount_heapfs "recv$r"
		t0=$(now_ns)
		"$heapctl" -m "${mdir[A]}" send app 2>"$tmp/send.err" |
			"$heapctl" -m "${mdir[recv$r]}" --json recv >"$tmp/recv.json" ||
			{ echo "migrate.sh: send | recv failed:" >&2; cat "$tmp/send.err" "$tmp/recv.json" >&2; exit 1; }
		sr_ms=$(ms_since "$t0")
		sr_bytes=$(jq .bytes "$tmp/recv.json")
		[ "$r" = 1 ] && check_content "recv$r" "after send | recv"
		drop_heapfs "recv$r"
		t0=$(now_ns)
		"$heapctl" -m "${mdir[A]}" send app >/dev/null 2>&1
		s_ms=$(ms_since "$t0")
		t0=$(now_ns)
		zstd -1 -q -f -c "$raw" >"$work/plain.zst"
		z_ms=$(ms_since "$t0")
		z_bytes=$(stat -c %s "$work/plain.zst")
		rm -f "$work/plain.zst" "$work/rsync-empty/heap"
		t0=$(now_ns)
		rsync --stats "$raw" "$work/rsync-empty/" >"$tmp/rsync.out"
		rs_ms=$(ms_since "$t0")
		read -r rs_sent _ < <(rsync_bytes "$tmp/rsync.out")
		rm -f "$work/rsync-empty/heap"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sr_ms" "$sr_bytes" "$s_ms" "$z_ms" "$z_bytes" \
			"$rs_ms" "$rs_sent" >>"$p1"
		echo "  run $r: send | recv $sr_ms ms, $(human "$sr_bytes") of stream;" \
		     "send > /dev/null $s_ms ms; zstd -1 $z_ms ms, $(human "$z_bytes");" \
		     "rsync $rs_ms ms, $(human "$rs_sent") sent"
	done
	echo
	echo "| figure | time min / median / max | bytes |"
	echo "|---|---:|---:|"
	echo "| heapctl send \| heapctl recv (fresh mount) | $(stat3 "$p1" 1 | ms3s) | $(human "$(med "$p1" 2)") |"
	echo "| heapctl send > /dev/null (part of it) | $(stat3 "$p1" 3 | ms3s) | |"
	echo "| baseline: zstd -1 of the plain file | $(stat3 "$p1" 4 | ms3s) | $(human "$(med "$p1" 5)") |"
	echo "| baseline: rsync to an empty directory | $(stat3 "$p1" 6 | ms3s) | $(human "$(med "$p1" 7)") sent |"
	echo
	sr=$(med "$p1" 1); zs=$(med "$p1" 4)
	echo "send | recv / zstd -1: $(ratio "$sr" "$zs")x time, $(ratio "$(med "$p1" 2)" "$(med "$p1" 5)")x bytes;" \
	     "/ rsync: $(ratio "$sr" "$(med "$p1" 6)")x time, $(ratio "$(med "$p1" 2)" "$(med "$p1" 7)")x bytes"
	goal "1 full send | recv time / zstd -1 (medians)" "$(ratio "$sr" "$zs")x" "<= 1" "$(le "$sr" "$zs")"
	s=$(med "$p1" 3)
	goal "1 full send alone (> /dev/null) time / zstd -1 (medians)" "$(ratio "$s" "$zs")x" "<= 1" "$(le "$s" "$zs")"
fi

# ---------------------------------------------------------------------------
# The mount the heap lives on, and the other one (which holds the version
# before).  Part 2's last cold migration makes them; else a setup migration.
holder=A other=''
swap() { local t=$holder; holder=$other; other=$t; }
ensure_peer() {
	[ -n "$other" ] && return 0
	mount_heapfs peer
	migrate A peer setup
	other=A holder=peer
	echo "  (setup: migrated the heap A -> peer, $(mj transferred) B, $mig_ms ms)"
}
# Before each timed command, untimed: what the steps before it wrote (the
# plain file's copies, btrfs's images, the stores) goes to disk first, so
# no contender's fsync waits behind another's write-back.
settle() { sync; }
rs_dirs_made=0
rs_dirs() {
	[ $rs_dirs_made = 1 ] && return 0
	mkdir -p "$work/rs-plain" "$work/rs-z"
	cp "$raw" "$work/rs-plain/heap"
	cp "$raw" "$work/rs-z/heap"
	rs_dirs_made=1
}
# rsync the new plain file onto the old copy in DIR, delta algorithm forced
# (-I: same-second mtimes would let the quick check skip the file).  Sets
# rs_ms, rs_sent, rs_recv.  Usage: rsync_delta DIR [-z]
rsync_delta() {
	local d=$1 t0
	shift
	settle
	t0=$(now_ns)
	rsync -I --inplace --no-whole-file --stats "$@" "$raw" "$d/heap" >"$tmp/rsync.out"
	rs_ms=$(ms_since "$t0")
	read -r rs_sent rs_recv < <(rsync_bytes "$tmp/rsync.out")
}

# btrfs: two loop-mounted images; $bsrc/vol/heap is the plain file's twin.
btrfs_ok=0 btrfs_why=''
btrfs_setup() {
	local img
	if ! command -v mkfs.btrfs >/dev/null; then
		btrfs_why="btrfs-progs is not installed and could not be"; return 1
	fi
	if ! grep -qw btrfs /proc/filesystems && ! modprobe btrfs 2>/dev/null; then
		btrfs_why="this kernel has no btrfs (not in /proc/filesystems, modprobe failed)"; return 1
	fi
	bsrc=$work/btrfs-src bdst=$work/btrfs-dst
	for img in src dst; do
		truncate -s $((3 * H + (1 << 30))) "$work/btrfs-$img.img"
		if ! mkfs.btrfs -q -f "$work/btrfs-$img.img" >"$tmp/mkfs.out" 2>&1; then
			btrfs_why="mkfs.btrfs failed: $(tail -1 "$tmp/mkfs.out")"; return 1
		fi
		mkdir -p "$work/btrfs-$img"
		if ! mount -o loop "$work/btrfs-$img.img" "$work/btrfs-$img" 2>"$tmp/mount.out"; then
			btrfs_why="loop mount refused: $(tail -1 "$tmp/mount.out")"; return 1
		fi
		btrfs_mnts+=("$work/btrfs-$img")
	done
	btrfs subvolume create "$bsrc/vol" >/dev/null
	cp "$raw" "$bsrc/vol/heap"
	sync -f "$bsrc/vol/heap"
	btrfs subvolume snapshot -r "$bsrc/vol" "$bsrc/s0" >/dev/null
	btrfs_ok=1
}

p2c=$tmp/p2cold.tsv p2b=$tmp/p2bfull.tsv p2i=$tmp/p2inc.tsv
if part 2; then
	echo
	echo "## 2. Cold and incremental migration, beside rsync and btrfs send | receive"
	: >"$p2c"; : >"$p2b"; : >"$p2i"
	echo
	echo "migrate runs as: $(mig_cmd "${mdir[A]}" "$work/cold1.mnt")"
	if btrfs_setup; then
		echo "btrfs: two loop-mounted images under $dir, the plain file in a subvolume, snapshot s0"
	else
		echo "btrfs baseline SKIPPED: $btrfs_why"
	fi
	echo
	echo "Cold: the whole heap into a fresh mount (usable = migrate returned and a"
	echo "write of line 0 was accepted there), beside a full btrfs send | receive:"
	for ((r = 1; r <= R; r++)); do
		mount_heapfs "cold$r"
		settle
		t0=$(now_ns)
		migrate A "cold$r" "cold $r"
		poke_ms=$("$tool" poke "${mdir[cold$r]}/app/heap" $line)
		usable=$(ms_since "$t0")
		echo "  run $r: usable after $usable ms (write $poke_ms ms); $(mig_line)"
		b_ms=- b_sync=-
		if [ $btrfs_ok = 1 ]; then
			mkdir -p "$bdst/full$r"
			settle
			t0=$(now_ns)
			btrfs send -q "$bsrc/s0" | btrfs receive -q "$bdst/full$r"
			b_ms=$(ms_since "$t0")
			t0=$(now_ns)
			sync -f "$bdst/full$r/s0/heap"
			b_sync=$(ms_since "$t0")
			echo "         btrfs send | receive $b_ms ms (then sync $b_sync ms)"
			if [ "$r" -lt "$R" ]; then
				# The kernel frees a deleted subvolume's 1 GiB later, in
				# the background, through whatever runs next (sync does
				# not wait for it): wait here, so no timed step pays it.
				btrfs subvolume delete "$bdst/full$r/s0" >/dev/null
				btrfs subvolume sync "$bdst" >/dev/null
			fi
		fi
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$usable" "$mig_ms" "$(mj transferred)" "$b_ms" "$b_sync" \
			"$(awk -v a="$b_ms" -v b="$b_sync" 'BEGIN { if (a == "-") print "-"; else print a + b }')" >>"$p2c"
		if [ "$r" -lt "$R" ]; then
			"$heapctl" -m "${mdir[A]}" resume app --force >/dev/null
			drop_heapfs "cold$r"
		fi
	done
	b_full_bytes=-
	[ $btrfs_ok = 1 ] && b_full_bytes=$(btrfs send -q "$bsrc/s0" | wc -c)
	holder=cold$R other=A
	check_content "$holder" "after the cold migrations"

	echo
	echo "Incremental: rewrite 1% of the lines where the heap lives, migrate it to the"
	echo "other mount (which holds the version before); the same change to the plain"
	echo "file, rsync'd onto copies of the old one, and to the btrfs subvolume:"
	rs_dirs
	for ((r = 1; r <= RI; r++)); do
		files=("${mdir[$holder]}/app/heap" "$raw")
		[ $btrfs_ok = 1 ] && files+=("$bsrc/vol/heap")
		read -r k frames frames3 < <("$tool" dirty $line 0.01 $((1000 + r)) "${files[@]}")
		settle
		migrate "$holder" "$other" "1% $r ($holder -> $other)"
		echo "  run $r: $k lines rewritten, their zstd -1 frames $frames B; $holder -> $other: $(mig_line)"
		swap
		rsync_delta "$work/rs-plain"
		p_ms=$rs_ms p_sent=$rs_sent p_recv=$rs_recv
		rsync_delta "$work/rs-z" -z
		z_ms=$rs_ms z_sent=$rs_sent z_recv=$rs_recv
		echo "         rsync $p_ms ms, $p_sent B sent + $p_recv B received;" \
		     "rsync -z $z_ms ms, $z_sent + $z_recv B"
		b_ms=- b_bytes=- b_sync=- b_snap=-
		if [ $btrfs_ok = 1 ]; then
			settle
			t0=$(now_ns)
			btrfs subvolume snapshot -r "$bsrc/vol" "$bsrc/s$r" >/dev/null
			b_snap=$(ms_since "$t0")
			t0=$(now_ns)
			btrfs send -q -p "$bsrc/s$((r - 1))" "$bsrc/s$r" | btrfs receive -q "$bdst/full$R"
			b_ms=$(ms_since "$t0")
			t0=$(now_ns)
			sync -f "$bdst/full$R/s$r/heap"
			b_sync=$(ms_since "$t0")
			b_bytes=$(btrfs send -q -p "$bsrc/s$((r - 1))" "$bsrc/s$r" | wc -c)
			echo "         btrfs send -p | receive $b_ms ms (snapshot before it $b_snap ms, sync after" \
			     "it $b_sync ms), stream $b_bytes B"
		fi
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$k" "$frames" \
			"$mig_ms" "$(mj transferred)" "$(mj negotiation_bytes)" "$p_ms" "$p_sent" \
			"$p_recv" "$z_ms" "$z_sent" "$z_recv" "$b_ms" "$b_bytes" "$b_sync" \
			"$(mj payload_bytes)" "$(mj total-time)" "$b_snap" \
			"$(awk -v a="$b_snap" -v b="$b_ms" -v c="$b_sync" 'BEGIN { if (a == "-") print "-"; else print a + b + c }')" \
			"$frames3" >>"$p2i"
	done
	check_content "$holder" "after the incremental migrations"
	if [ $btrfs_ok = 1 ] && ! cmp -s "$raw" "$bdst/full$R/s$RI/heap"; then
		echo "migrate.sh: btrfs's received copy differs from the plain file" >&2
		exit 1
	fi

	# Per-run sums and ratios.
	awk -F'\t' '{ print $7 + $8, $10 + $11, $4 / $2, $4 / ($10 + $11), ($13 == "-") ? "-" : $4 / $13,
		$5 / $8, $4 / ($7 + $8) }' OFS='\t' "$p2i" >"$tmp/p2r.tsv"
	echo
	echo "| figure (1% of $nlines lines rewritten) | min / median / max |"
	echo "|---|---:|"
	echo "| changed lines' zstd -1 frames | $(stat3 "$p2i" 2 | by3s) |"
	echo "| the same lines' frames at -o zstd=3 (computed, not migrated) | $(stat3 "$p2i" 19 | by3s) |"
	echo "| migrate transferred | $(stat3 "$p2i" 4 | by3s) |"
	echo "| of it, negotiation | $(stat3 "$p2i" 5 | by3s) |"
	echo "| migrate time (wall) | $(stat3 "$p2i" 3 | ms3s) |"
	echo "| migrate's total-time (its clock: no process starts) | $(stat3 "$p2i" 16 | ms3s) |"
	echo "| rsync: bytes (sent + received) | $(stat3 "$tmp/p2r.tsv" 1 | by3s) |"
	echo "| rsync: checksums (received) | $(stat3 "$p2i" 8 | by3s) |"
	echo "| rsync: time | $(stat3 "$p2i" 6 | ms3s) |"
	echo "| rsync -z: bytes (sent + received) | $(stat3 "$tmp/p2r.tsv" 2 | by3s) |"
	echo "| rsync -z: time | $(stat3 "$p2i" 9 | ms3s) |"
	if [ $btrfs_ok = 1 ]; then
		echo "| btrfs send -p: stream | $(stat3 "$p2i" 13 | by3s) |"
		echo "| btrfs send -p \| receive: time | $(stat3 "$p2i" 12 | ms3s) |"
		echo "| (then sync of the received file) | $(stat3 "$p2i" 14 | ms3s) |"
		echo "| (and before it, btrfs subvolume snapshot -r) | $(stat3 "$p2i" 17 | ms3s) |"
		echo "| btrfs, the same work as migrate: snapshot + send -p \| receive + sync | $(stat3 "$p2i" 18 | ms3s) |"
	else
		echo "| btrfs send -p | SKIPPED: $btrfs_why |"
	fi
	echo
	echo "| cold, whole heap | min / median / max |"
	echo "|---|---:|"
	echo "| migrate, usable on the destination | $(stat3 "$p2c" 1 | ms3s) |"
	echo "| migrate (wall) | $(stat3 "$p2c" 2 | ms3s) |"
	echo "| migrate transferred | $(stat3 "$p2c" 3 | by3s) |"
	if [ $btrfs_ok = 1 ]; then
		echo "| btrfs send \| receive | $(stat3 "$p2c" 4 | ms3s) |"
		echo "| (then sync of the received file) | $(stat3 "$p2c" 5 | ms3s) |"
		echo "| btrfs send \| receive + sync (durable, as migrate's commit is) | $(stat3 "$p2c" 6 | ms3s) |"
		echo "| btrfs full stream | $(human "$b_full_bytes") |"
	else
		echo "| btrfs send \| receive | SKIPPED: $btrfs_why |"
	fi
	echo
	echo "(incremental bytes against the frames: transferred / the sum of the changed"
	echo "lines' zstd -1 frames, each line compressed alone as heapfs stores it)"
	awk -F'\t' '{ printf "%s\t%s\n", $4 - $2 + $19, $10 + $11 }' "$p2i" >"$tmp/p2z3.tsv"
	echo "(with -o zstd=3 on both mounts, migrate's bytes would be about those"
	echo "frames plus the same metadata: $(awk -F'\t' '{ printf "%s%.4gx", (NR > 1 ? " / " : ""), $1 / $2 }' "$tmp/p2z3.tsv")"
	echo "rsync -z's; computed from this run, not measured, so no goal is judged on it)"
	worst=$(maxr "$tmp/p2r.tsv" 3)
	goal "2 incremental bytes / changed lines' frames (worst)" "${worst}x" "<= 1.1" "$(le "$worst" 1.1)"
	worst=$(maxr "$tmp/p2r.tsv" 4)
	goal "2 incremental bytes / rsync -z bytes (worst)" "${worst}x" "< 1" "$(lt "$worst" 1)"
	if [ $btrfs_ok = 1 ]; then
		worst=$(maxr "$tmp/p2r.tsv" 5)
		goal "2 incremental bytes / btrfs -p stream (worst)" "${worst}x" "<= 0.5 (far below)" "$(le "$worst" 0.5)"
	else
		goal "2 incremental bytes / btrfs -p stream" "skipped" "<= 0.5" 0
	fi
	worst=$(maxr "$tmp/p2r.tsv" 6)
	goal "2 negotiation / rsync checksum bytes (worst)" "${worst}x" "<= 0.05" "$(le "$worst" 0.05)"
	if [ $btrfs_ok = 1 ]; then
		a=$(med "$p2i" 3); b=$(med "$p2i" 12)
		goal "2 incremental time / btrfs send -p | receive (medians)" "$(ratio "$a" "$b")x" "<= 1" "$(le "$a" "$b")"
		b=$(med "$p2i" 18)
		goal "2 (the same work) incremental time / btrfs snapshot + send -p | receive + sync (medians)" \
			"$(ratio "$a" "$b")x" "<= 1" "$(le "$a" "$b")"
		a=$(med "$p2c" 1); b=$(med "$p2c" 4)
		goal "2 cold migrate usable / full btrfs send | receive (medians)" "$(ratio "$a" "$b")x" "<= 0.5" \
			"$(le "$(ratio "$a" "$b")" 0.5)"
		b=$(med "$p2c" 6)
		goal "2 (durable both) cold migrate usable / btrfs send | receive + sync (medians)" \
			"$(ratio "$a" "$b")x" "<= 0.5" "$(le "$(ratio "$a" "$b")" 0.5)"
	else
		goal "2 incremental time / btrfs send -p | receive" "skipped" "<= 1" 0
		goal "2 cold migrate usable / full btrfs send | receive" "skipped" "<= 0.5" 0
	fi
fi

# ---------------------------------------------------------------------------
p3n=$tmp/p3none.tsv p3c=$tmp/p3chg.tsv
if part 3; then
	echo
	echo "## 3. The return trip: migrate back, with nothing changed and after 1%"
	echo
	ensure_peer
	rs_dirs
	: >"$p3n"; : >"$p3c"
	ck() { jq -r .heap.checkpoints <<<"$("$heapctl" -m "${mdir[$holder]}" --json stat app)"; }
	n_before=$(ck)
	for ((r = 1; r <= R; r++)); do
		settle
		migrate "$holder" "$other" "back, unchanged $r ($holder -> $other)"
		echo "  unchanged, run $r: $holder -> $other: $(mig_line)"
		swap
		rsync_delta "$work/rs-plain"
		echo "         rsync -I (nothing changed) $rs_ms ms, $rs_sent B sent + $rs_recv B received"
		printf '%s\t%s\t%s\t%s\t%s\n' "$mig_ms" "$(mj transferred)" "$rs_ms" "$rs_sent" "$rs_recv" >>"$p3n"
	done
	for ((r = 1; r <= R; r++)); do
		read -r k frames _ < <("$tool" dirty $line 0.01 $((2000 + r)) "${mdir[$holder]}/app/heap" "$raw")
		settle
		migrate "$holder" "$other" "back, 1% $r ($holder -> $other)"
		echo "  1% changed, run $r: $k lines, frames $frames B; $holder -> $other: $(mig_line)"
		swap
		rsync_delta "$work/rs-plain"
		p_ms=$rs_ms p_sent=$rs_sent p_recv=$rs_recv
		rsync_delta "$work/rs-z" -z
		echo "         rsync $p_ms ms, $p_sent + $p_recv B; rsync -z $rs_ms ms, $rs_sent + $rs_recv B"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mig_ms" "$(mj transferred)" "$p_ms" \
			"$((p_sent + p_recv))" "$rs_ms" "$((rs_sent + rs_recv))" "$frames" "$k" \
			"$(awk -v a="$(mj transferred)" -v b="$((p_sent + p_recv))" 'BEGIN { print a / b }')" >>"$p3c"
	done
	check_content "$holder" "after the return trips"
	# A hello lists every checkpoint: the unchanged trip on a heap with more.
	nx=100
	for ((i = 1; i <= nx; i++)); do
		mkdir "${mdir[$holder]}/app/checkpoints/x$i"
	done
	migrate "$holder" "$other" "carry $nx checkpoints ($holder -> $other)"
	swap
	n_after=$(ck)
	migrate "$holder" "$other" "back, unchanged, $n_after checkpoints ($holder -> $other)"
	echo "  unchanged, the heap with $n_after checkpoints ($nx more, carried across first): $(mig_line)"
	swap
	x_bytes=$(mj transferred) x_neg=$(mj negotiation_bytes)
	awk -F'\t' '{ print $4 + $5 }' "$p3n" >"$tmp/p3nr.tsv"
	echo
	echo "| figure | migrate back | rsync -I | rsync -z |"
	echo "|---|---:|---:|---:|"
	echo "| nothing changed: bytes | $(stat3 "$p3n" 2 | by3s) | $(stat3 "$tmp/p3nr.tsv" 1 | by3s) | |"
	echo "| nothing changed: time | $(stat3 "$p3n" 1 | ms3s) | $(stat3 "$p3n" 3 | ms3s) | |"
	echo "| 1% changed: bytes | $(stat3 "$p3c" 2 | by3s) | $(stat3 "$p3c" 4 | by3s) | $(stat3 "$p3c" 6 | by3s) |"
	echo "| 1% changed: time | $(stat3 "$p3c" 1 | ms3s) | $(stat3 "$p3c" 3 | ms3s) | $(stat3 "$p3c" 5 | ms3s) |"
	echo
	echo "(1% changed: migrate's bytes are $(stat3 "$p3c" 9 | awk '{ printf "%.4g / %.4g / %.4g", $1, $2, $3 }')x" \
	     "rsync's, $(awk -F'\t' '{ print $2 / $6 }' "$p3c" | mmm | awk '{ printf "%.4g / %.4g / %.4g", $1, $2, $3 }')x" \
	     "rsync -z's, $(awk -F'\t' '{ print $2 / $7 }' "$p3c" | mmm | awk '{ printf "%.4g / %.4g / %.4g", $1, $2, $3 }')x" \
	     "the changed lines' frames and $(awk -F'\t' -v h=$H '{ print $2 / h }' "$p3c" | mmm | awk '{ printf "%.4g / %.4g / %.4g", $1, $2, $3 }')x the heap)"
	echo
	echo "(nothing changed above: the heap had $n_before checkpoints at the first run, two more"
	echo "each run; with $n_after: $x_bytes B, of it $x_neg B negotiation: every round's hello"
	echo "lists every checkpoint, 24 bytes each)"
	worst=$(maxv "$p3n" 2)
	goal "3 back, nothing changed: bytes (worst)" "$worst B" "<= 4096 B" "$(le "$worst" 4096)"
	goal "3 back, nothing changed, $n_after checkpoints: bytes" "$x_bytes B" "<= 4096 B" "$(le "$x_bytes" 4096)"
	# The goal read the other way: the trip back after the 1% change went
	# out (nothing changed since), beside rsync making the same trip.
	awk -F'\t' '{ print $2 / ($4 + $5) }' "$p3n" >"$tmp/p3nq.tsv"
	worst=$(maxr "$tmp/p3nq.tsv" 1)
	goal "3 back, nothing changed: bytes / rsync -I's for the same trip (worst)" "${worst}x" "<= 0.01" \
		"$(le "$worst" 0.01)"
	worst=$(maxr "$p3c" 9)
	goal "3 back, 1% changed: bytes / rsync's (worst)" "${worst}x" "<= 0.01" "$(le "$worst" 0.01)"
fi

# ---------------------------------------------------------------------------
p4=$tmp/p4.tsv
if part 4; then
	echo
	echo "## 4. Downtime under a writer dirtying 1% of the heap a second"
	echo
	ensure_peer
	: >"$p4.warm"; : >"$p4.cold"
	echo "writer: one $((line / 1024)) KiB pwrite every $(awk -v n=$nlines 'BEGIN { printf "%.1f", 1000 / (n / 100) }') ms;" \
	     "migrate starts 1 s after it.  The heap's pages in the source's page cache:"
	echo "\"warm\" reads the whole heap file first (as a program using its heap would"
	echo "have it cached), \"cold\" does not (the last migration dropped them)."
	for cache in warm cold; do
		for ((r = 1; r <= R4; r++)); do
			[ $cache = warm ] && cat "${mdir[$holder]}/app/heap" >/dev/null
			"$tool" writer "${mdir[$holder]}/app/heap" "${mdir[$other]}/app/heap" $line 1 >"$tmp/writer.out" &
			writer_pid=$!
			sleep 1
			migrate "$holder" "$other" "writer, $cache $r ($holder -> $other)"
			wrc=0
			wait "$writer_pid" || wrc=$?
			writer_pid=''
			[ $wrc = 0 ] || { echo "migrate.sh: the writer failed (exit $wrc)" >&2; exit 1; }
			read -r n_src n_dst gap gap_last max_w retries other_err lost <"$tmp/writer.out"
			echo "  $cache, run $r: $holder -> $other: $(mig_line)"
			echo "         writer: $n_src writes on the source, $n_dst on the destination; first EROFS ->" \
			     "first accepted write $gap ms (last accepted on the source -> it: $gap_last ms);" \
			     "slowest source write $max_w ms; $retries refused tries, $other_err other errors;" \
			     "$lost of the lines it wrote not as last written on the destination"
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(mj downtime_ms)" "$gap" "$gap_last" "$max_w" \
				"$mig_ms" "$(mj rounds)" "$(mj transferred)" "$lost" >>"$p4.$cache"
			swap
		done
	done
	cat "$p4.warm" "$p4.cold" >"$p4"
	echo
	echo "| figure | warm page cache: min / median / max | cold |"
	echo "|---|---:|---:|"
	row4() { echo "| $1 | $(stat3 "$p4.warm" "$2" | $3) | $(stat3 "$p4.cold" "$2" | $3) |"; }
	row4 "migrate's downtime_ms" 1 ms3s
	row4 "writer: first EROFS -> first write accepted on the destination" 2 ms3s
	row4 "writer: last write accepted on the source -> that (includes up to one write period)" 3 ms3s
	row4 "writer: slowest write the source accepted" 4 ms3s
	row4 "migrate time (wall)" 5 ms3s
	row4 "pre-copy + final rounds" 6 plain3s
	row4 "lines not as last written, on the destination" 8 plain3s
	worst=$(maxv "$p4" 1)
	goal "4 migrate downtime_ms (worst, warm and cold)" "$worst ms" "<= 100 ms" "$(le "$worst" 100)"
	worst=$(maxv "$p4" 2)
	goal "4 writer: EROFS -> accepted on destination (worst, warm and cold)" "$worst ms" "<= 100 ms" "$(le "$worst" 100)"
	worst=$(maxv "$p4" 8)
	goal "4 writer's lines not as last written, on the destination (worst)" "$worst" "0" "$(le "$worst" 0)"
fi

# ---------------------------------------------------------------------------
if part 5; then
	echo
	echo "## 5. Negotiation apart from payload, every migration of this run"
	echo
	if [ ! -s "$migs" ]; then
		ensure_peer
		read -r _ _ < <("$tool" dirty $line 0.01 3001 "${mdir[$holder]}/app/heap" "$raw")
		migrate "$holder" "$other" "1% ($holder -> $other)"
		swap
	fi
	echo "| migration | lines sent / total | payload | negotiation | negotiation / payload | rounds | wall |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	while IFS=$'\t' read -r label ms _ pay neg total sent _ _ rounds _ _ _; do
		echo "| $label | $sent / $total | $pay B | $neg B | $(ratio "$neg" "$pay") | $rounds | $ms ms |"
	done <"$migs"
fi

echo
echo "## Goals"
echo
echo "| goal | value | target | verdict |"
echo "|---|---:|---|---|"
awk -F'\t' '{ gsub(/\|/, "\\|", $1); printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$goals"
echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; total $(($(date +%s) - start)) s"
