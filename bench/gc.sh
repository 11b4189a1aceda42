#!/usr/bin/env bash
# The garbage collection benchmark (DESIGN.md, "Garbage collection"): every
# figure beside its goal and a baseline measured in the same run.  Builds
# nothing (it runs BUILD_DIR/fs/heapfs and BUILD_DIR/bench/gc_tool).
#
# Usage: bench/gc.sh [BUILD_DIR] [--quick] [--parts LIST] [--dir DIR]
#                    [--tsv FILE]
#   BUILD_DIR  where heapfs was built (default: build)
#   --quick    smoke test, under 2 minutes: small stores, short runs
#   --parts L  which parts to run, e.g. 13 (default 12345)
#   --dir DIR  where the stores and the restic repository go (default
#              /var/tmp); it must be a real disk, not tmpfs
#   --tsv FILE also write every figure to FILE: "figure value goal verdict"
#
# 1. GC cost against the garbage.  A store of S bytes (256 MiB; --quick
#    32 MiB) of distinct incompressible 4 KiB lines (-o line=4K,gc=0: 1% of
#    the store is then 655 blobs, a few rounds of 256, not one), written and
#    compacted (gc --full); then R times: overwrite a fraction of the lines
#    with new content (the garbage), fsync, time `gc` (the request through
#    .heapfs/ctl, no process start inside the timing) and the daemon's
#    write_bytes (/proc/PID/io) over it.  Then the fraction once more and
#    `gc --full` (the rounds, then every family flushed and compacted, blob
#    files rewritten), with du of the store before and after.  Three stores:
#    S with 1% garbage, a fresh S with 10%, and 4S with the same garbage as
#    the 1% run (1% of S = 0.25% of 4S; also 1% of 4S, for reference).
#    Goals (DESIGN: "Its cost follows the garbage, not the store size"): the
#    10% gc costs 8-12x the 1% gc; the same garbage on 4S costs within 15%.
#    Those goals are judged on `gc`, the incremental rounds; --full is shown
#    beside them: it compacts the whole store, O(store) by design (README).
#    Baseline: the foreground write (+ fsync) of the same garbage.
# 2. Space.  A heap of H bytes (256 MiB; --quick 32 MiB), default 64 KiB
#    lines, -o gc=2 (--quick gc=1): written, then overwritten entirely ten
#    times with new content; du of the store is sampled after each pass (the
#    peak is shown) and once the background GC is idle, against the live
#    data (the heap's bytes_logical; goal <= 1.5x).  Then `gc --full` and du
#    against the logical stored bytes: lines_used times the stored size of
#    one line, measured from the GC report (bytes freed / blobs freed;
#    the lines are incompressible, all of one size) (goal <= 1.3x).
# 3. Foreground latency.  A 64 MiB heap a written by one thread: 4 KiB
#    pwrite + fsync at random offsets, new content every time, for T seconds
#    (20; --quick 5), while heap b (256 MiB; --quick 64 MiB) is overwritten
#    at 32 MiB/s by another process (fsync every 16 MiB), so there is
#    garbage to collect.  GC on (-o gc=1) against GC off (-o gc=0), same
#    writer on b; R rounds (3; --quick 1), alternating, a fresh store each
#    time; percentiles over all the rounds' operations pooled.  Goals with GC
#    on / off: p99 <= 1.25x, p99.9 <= 2x, max <= 100 ms, ops/s >= 0.8x.
# 4. Anchor: restic prune (Debian's restic) on a repository of the same S
#    bytes as files of 256 KiB (each below restic's minimum chunk, so one
#    blob each and the garbage fraction stays what it is; scattered 4 KiB
#    lines would touch every restic chunk), backed up, the fraction of files
#    rewritten, backed up again, the first snapshot forgotten, then
#    `restic prune --max-unused 0` timed (reclaim everything, as gc --full;
#    the default keeps up to 5% unused), beside part 1's heapfs times.
# 5. `heapctl space` on a heap with 1,000 checkpoints: the time to answer
#    (goal <= 50 ms) beside `heapctl checkpoints`, and its "freed if
#    deleted" and "unique" against what removing checkpoints takes (exact).
#
# Needs root or /dev/fuse, and installs jq, attr and restic when missing (apt-get,
# as root or through sudo).  Every mount it starts is unmounted and every
# daemon ended by its PID on exit, even when interrupted; every store and
# repository removed.  The machine's cores may be shared: figures move
# between runs, so run it more than once before believing a ratio.
set -euo pipefail

cmdline="$0${*:+ $*}"
build=build
quick=0
parts=12345
dir=/var/tmp
tsv_out=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--parts) parts=${2:?--parts LIST}; shift ;;
	--dir) dir=${2:?--dir DIR}; shift ;;
	--tsv) tsv_out=${2:?--tsv FILE}; shift ;;
	-h|--help) sed -n '2,57p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "gc.sh: unknown option $1" >&2; exit 2 ;;
	*) build=$1 ;;
	esac
	shift
done
case $parts in *[!12345]*|'') echo "gc.sh: --parts wants digits 1-5" >&2; exit 2 ;; esac
part() { case $parts in *"$1"*) return 0 ;; esac; return 1; }

for b in fs/heapfs bench/gc_tool; do
	if [ ! -x "$build/$b" ]; then
		echo "gc.sh: $build/$b not found; build first (make build)" >&2
		exit 1
	fi
done
build=$(cd "$build" && pwd)
heapfs=$build/fs/heapfs
heapctl=$build/mount-tools/heapctl
tool=$build/bench/gc_tool
[ -w /dev/fuse ] || { echo "gc.sh: /dev/fuse is not usable here" >&2; exit 1; }

# jq and restic: only this benchmark needs them, so make test does not pull them.
# shellcheck source=need.sh
. "$(dirname "$0")/need.sh"
need=()
command -v jq >/dev/null || need+=(jq)
part 5 && ! command -v getfattr >/dev/null && need+=(attr)
part 4 && ! command -v restic >/dev/null && need+=(restic)
bench_install gc.sh "${need[@]}" || exit 1
for c in jq fusermount3 awk du; do
	command -v $c >/dev/null || { echo "gc.sh: $c is missing" >&2; exit 1; }
done
mkdir -p "$dir"
case $(stat -f -c %T "$dir") in
tmpfs|ramfs) echo "gc.sh: $dir is $(stat -f -c %T "$dir"); the stores need a real disk (--dir)" >&2
	exit 1 ;;
esac

if [ $quick = 1 ]; then
	S=$((32 << 20)); reps=3            # part 1
	H=$((32 << 20)); gc2=1             # part 2
	lat_s=5; lat_rounds=1; b_size=$((64 << 20))   # part 3
else
	S=$((256 << 20)); reps=5
	H=$((256 << 20)); gc2=2
	lat_s=20; lat_rounds=3; b_size=$((256 << 20))
fi
a_size=$((64 << 20))
churn_mibs=32
restic_file=$((256 << 10))

# --- everything below is undone by cleanup ---------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heapfs-bench-gc.XXXXXX")      # small files
stores=$(mktemp -d "$dir/heapfs-bench-gc.XXXXXX")             # on disk
me=gc.sh
# shellcheck source=heapfs_mount.sh
. "$(dirname "$0")/heapfs_mount.sh"

mnt='' pid='' churn_pid='' store=''
cleanup() {
	set +e
	[ -n "$churn_pid" ] && { kill "$churn_pid" 2>/dev/null; wait "$churn_pid" 2>/dev/null; }
	unmount_heapfs
	rm -rf "$tmp" "$stores"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ns() { date +%s%N; }
ms_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
human() { awk -v b="$1" 'BEGIN { if (b >= 1073741824) printf "%.4g GiB", b / 1073741824; else if (b >= 1048576) printf "%.4g MiB", b / 1048576; else printf "%.4g KiB", b / 1024 }'; }
wbytes() { awk '$1 == "write_bytes:" { print $2 }' "/proc/$pid/io"; }
pool() { awk -v k="$1" '$1 == k ":" { print $2 }' "$mnt/.heapfs/pool"; }
# du of a store a daemon is changing: files vanish under du, so retry.
du_b() {
	local n v
	for ((n = 0; n < 5; n++)); do
		v=$(du -sb "$1" 2>/dev/null | cut -f1) && [ -n "$v" ] && break
	done
	echo "${v:-0}"
}
# What a store's bytes are: RocksDB's WAL, blob files, SSTs, the rest.
du_kinds() {
	find "$1" -maxdepth 1 -type f -printf '%s %f\n' 2>/dev/null | awk '
		{ k = "other" }
		$2 ~ /\.log$/ { k = "WAL" } $2 ~ /\.blob$/ { k = "blob files" } $2 ~ /\.sst$/ { k = "SSTs" }
		{ b[k] += $1 }
		END { n = split("WAL,blob files,SSTs,other", o, ",")
		      for (i = 1; i <= n; i++) printf "%s%s %.1f MiB", (i > 1) ? ", " : "", o[i], b[o[i]] / 1048576 }'
}
f0() { awk -v v="$1" 'BEGIN { print (v == "-" || v == "") ? "-" : sprintf("%.0f", v) }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (!NR) print "-"; else print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "-" || b == "-" || b <= 0) ? "-" : sprintf("%.2f", a / b) }'; }
# Send a request through the ctl file, timed; sets ctl_ms and ctl_resp.
ctl() {
	local out
	out=$("$tool" ctl "$mnt" "$1")
	ctl_ms=${out%% *}
	ctl_resp=${out#* }
	[ "$(jq -r .ok <<<"$ctl_resp")" = true ] ||
		{ echo "gc.sh: $1: $ctl_resp" >&2; exit 1; }
}
# verdict OK: MET or NOT MET (a figure that could not be taken is NOT MET).
verdict() { [ "$1" = 1 ] && echo MET || echo "NOT MET"; }
le() { awk -v x="$1" -v g="$2" 'BEGIN { print (x != "-" && x + 0 <= g + 0) ? 1 : 0 }'; }
ge() { awk -v x="$1" -v g="$2" 'BEGIN { print (x != "-" && x + 0 >= g + 0) ? 1 : 0 }'; }
tsv=$tmp/figures.tsv
: >"$tsv"
fig() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$tsv"; }   # name value goal verdict

start=$(date +%s)
echo "# bench/gc.sh"
echo
echo "command: $cmdline"
echo "machine: $(nproc) cores, kernel $(uname -r), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo "tree: $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
     "$(git -C "$(dirname "$0")" status --porcelain 2>/dev/null | grep -q . && echo '(with local changes)'),"\
     "heapfs $heapfs"
echo "stores on $dir ($(stat -f -c %T "$dir")); mode: $([ $quick = 1 ] && echo '--quick (smoke test: small sizes, the goals are not meant to be judged on it)' || echo full)"
echo "NOTE: the cores may be shared with other work (builds, tests): a figure moves"
echo "between runs, the more so the shorter it is; compare runs before believing one."

# ---------------------------------------------------------------------------
# Part 1.  One store: fill, settle, reps of dirty + gc, then dirty + gc --full.
# Appends "label rep dirty_ms gc_ms wb freed blobs" to $p1 and
# "label full_ms wb du_before du_after freed" to $p1f.
p1=$tmp/p1.tsv; p1f=$tmp/p1full.tsv
: >"$p1"; : >"$p1f"
gc_store() {
	local label=$1 size=$2 fracs=$3 r f t0 dirty_ms w0 w1 seed=100 n du0 du1 frac_full
	mount_heapfs "$label" -o line=4K,gc=0
	mkdir "$mnt/h"
	truncate -s "$size" "$mnt/h/heap"
	local mibs
	mibs=$("$tool" fill "$mnt/h/heap" "$size" 4096 1)
	ctl '{"cmd":"gc","full":true}'          # settle: one compacted store
	echo "  $label: $(human "$size") written at $mibs MiB/s, compacted in $ctl_ms ms"
	for f in $fracs; do
		for ((r = 1; r <= reps; r++)); do
			seed=$((seed + 1))
			t0=$(now_ns)
			n=$("$tool" dirty "$mnt/h/heap" 4096 "$f" "$seed")
			dirty_ms=$(ms_since "$t0")
			sleep 1
			w0=$(wbytes)
			ctl '{"cmd":"gc"}'
			w1=$(wbytes)
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$f" "$r" "$dirty_ms" "$ctl_ms" \
				$((w1 - w0)) "$(jq .bytes_freed <<<"$ctl_resp")" \
				"$(jq .blobs_freed <<<"$ctl_resp")" >>"$p1"
			printf '    garbage %s (%d lines) written in %7.1f ms; gc %7.2f ms, %d rounds,' \
				"$f" "$n" "$dirty_ms" "$ctl_ms" "$(jq .rounds <<<"$ctl_resp")"
			printf ' %d blobs / %s freed, daemon wrote %s\n' "$(jq .blobs_freed <<<"$ctl_resp")" \
				"$(human "$(jq .bytes_freed <<<"$ctl_resp")")" "$(human $((w1 - w0)))"
		done
	done
	frac_full=${fracs%% *}
	seed=$((seed + 1))
	"$tool" dirty "$mnt/h/heap" 4096 "$frac_full" "$seed" >/dev/null
	sleep 1
	du0=$(du_b "$store")
	w0=$(wbytes)
	ctl '{"cmd":"gc","full":true}'
	w1=$(wbytes)
	du1=$(du_b "$store")
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$ctl_ms" $((w1 - w0)) "$du0" "$du1" \
		"$(jq .bytes_freed <<<"$ctl_resp")" >>"$p1f"
	echo "    garbage $frac_full again, gc --full: $ctl_ms ms, daemon wrote $(human $((w1 - w0)))," \
	     "du $(human "$du0") -> $(human "$du1")"
	drop_heapfs
}
if part 1; then
	echo
	echo "## 1. GC cost against the garbage"
	echo
	echo "-o line=4K,gc=0; incompressible lines; $reps times: overwrite a fraction of the lines"
	echo "(new content, fsync), wait 1 s, time gc through .heapfs/ctl; then gc --full once."
	small_1pct=0.0025
	gc_store s1 "$S" 0.01
	gc_store s10 "$S" 0.10
	gc_store big $((4 * S)) "$small_1pct 0.01"
fi

# ---------------------------------------------------------------------------
p2=$tmp/p2.tsv
if part 2; then
	echo
	echo "## 2. Space: a heap overwritten ten times, background GC every $gc2 s"
	echo
	mount_heapfs space -o gc=$gc2
	mkdir "$mnt/h"
	truncate -s "$H" "$mnt/h/heap"
	"$tool" fill "$mnt/h/heap" "$H" 65536 1 >/dev/null
	peak=$(du_b "$store")
	t0=$(now_ns)
	for ((i = 1; i <= 10; i++)); do
		"$tool" dirty "$mnt/h/heap" 65536 1.0 $((i + 1)) >/dev/null
		d=$(du_b "$store")
		[ "$d" -gt "$peak" ] && peak=$d
		printf '  overwrite %2d: du %s (GC: %s rounds, freed %s so far)\n' "$i" "$(human "$d")" "$(pool gc_rounds)" \
			"$(human "$(pool gc_bytes_freed)")"
	done
	ow_s=$(awk -v ms="$(ms_since "$t0")" 'BEGIN { printf "%.1f", ms / 1000 }')
	# Idle: two GC periods in a row that freed nothing, then one more.
	idle=0 last=-1 waited=0
	while [ $idle -lt 2 ] && [ $waited -lt 120 ]; do
		sleep "$gc2"; waited=$((waited + gc2))
		f=$(pool gc_blobs_freed)
		if [ "$f" = "$last" ]; then idle=$((idle + 1)); else idle=0; fi
		last=$f
	done
	sleep "$gc2"
	settled=$(du_b "$store")
	kinds=$(du_kinds "$store")
	live=$(awk '$1 == "bytes_logical:" { print $2 }' "$mnt/h/stat")
	lines_used=$(awk '$1 == "lines_used:" { print $2 }' "$mnt/h/stat")
	per_line=$(awk -v b="$(pool gc_bytes_freed)" -v n="$(pool gc_blobs_freed)" \
		'BEGIN { print (n > 0) ? b / n : 65536 }')
	logical=$(awk -v n="$lines_used" -v p="$per_line" 'BEGIN { printf "%.0f", n * p }')
	echo "  ten overwrites in $ow_s s; GC idle after ${waited} s more: du $(human "$settled")" \
	     "(peak $(human "$peak")); live data $(human "$live")"
	echo "    of which: $kinds"
	ctl '{"cmd":"gc","full":true}'
	full=$(du_b "$store")
	kinds=$(du_kinds "$store")
	echo "  gc --full in $ctl_ms ms: du $(human "$full"); logical stored bytes $(human "$logical")" \
	     "($lines_used lines of $per_line bytes stored each)"
	echo "    of which: $kinds"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$live" "$settled" "$peak" "$full" "$logical" "$ctl_ms" >"$p2"
	drop_heapfs
fi

# ---------------------------------------------------------------------------
p3=$tmp/p3.tsv
: >"$p3"
if part 3; then
	echo
	echo "## 3. Foreground 4 KiB write + fsync latency, GC on (gc=1) against off (gc=0)"
	echo
	echo "heap a $(human $a_size), one writer: pwrite 4 KiB + fsync at random offsets, ${lat_s} s;"
	echo "heap b $(human $b_size) overwritten at $churn_mibs MiB/s meanwhile; $lat_rounds round(s), each"
	echo "setting on a fresh store, the order alternating from round to round"
	for ((r = 1; r <= lat_rounds; r++)); do
		order="1 0"; [ $((r % 2)) = 0 ] && order="0 1"   # neither always goes first
		for g in $order; do
			mount_heapfs "lat$g" -o "gc=$g"
			mkdir "$mnt/a" "$mnt/b"
			truncate -s $a_size "$mnt/a/heap"
			truncate -s "$b_size" "$mnt/b/heap"
			"$tool" fill "$mnt/a/heap" $a_size 65536 1 >/dev/null
			"$tool" fill "$mnt/b/heap" "$b_size" 65536 2 >/dev/null
			"$tool" churn "$mnt/b/heap" 65536 $((r * 10 + 3)) $churn_mibs >"$tmp/churn.out" &
			churn_pid=$!
			sleep 2
			f0=$(pool gc_bytes_freed)
			read -r ops p50 p99 p999 max ops_s secs < <("$tool" lat "$mnt/a/heap" "$lat_s" "$tmp/lat$g.raw")
			freed=$(($(pool gc_bytes_freed) - f0))
			kill "$churn_pid"; wait "$churn_pid" || true; churn_pid=
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$g" "$r" "$ops" "$p50" "$p99" "$p999" \
				"$max" "$secs" "$freed" >>"$p3"
			printf '  round %d, gc=%d: %6d ops, %6.0f ops/s; p50 %7.1f us, p99 %8.1f us,' \
				"$r" "$g" "$ops" "$ops_s" "$p50" "$p99"
			printf ' p99.9 %8.1f us, max %8.1f us; GC freed %s meanwhile; b: %s\n' \
				"$p999" "$max" "$(human "$freed")" "$(cat "$tmp/churn.out")"
			drop_heapfs
		done
	done
fi

# ---------------------------------------------------------------------------
p4=$tmp/p4.tsv
: >"$p4"
if part 4; then
	echo
	echo "## 4. Anchor: restic prune on the same data and garbage fraction"
	echo
	echo "restic $(restic version | awk '{ print $2 }'); $(human "$S") as files of $(human $restic_file)" \
	     "(same content generator), repository on $dir"
	for f in 0.01 0.10; do
		rdir=$stores/restic$f
		mkdir -p "$rdir/data"
		export RESTIC_PASSWORD=bench RESTIC_REPOSITORY=$rdir/repo RESTIC_CACHE_DIR=$rdir/cache
		restic init -q >/dev/null
		"$tool" files "$rdir/data" "$S" $restic_file 1
		restic backup -q "$rdir/data" >/dev/null
		n=$("$tool" dirtyfiles "$rdir/data" $restic_file "$f" 7)
		restic backup -q "$rdir/data" >/dev/null
		restic forget -q "$(restic snapshots --json | jq -r 'sort_by(.time) | .[0].id')" >/dev/null
		du0=$(du_b "$rdir/repo")
		t0=$(now_ns)
		# The shell's /proc/PID/io counts the reaped restic's writes too.
		wb=$(sh -c 'restic prune --max-unused 0 >"$1" 2>&1 || exit 1
			awk '\''$1 == "write_bytes:" { print $2 }'\'' /proc/$$/io' sh "$tmp/prune.out") ||
			{ cat "$tmp/prune.out" >&2; exit 1; }
		prune_ms=$(ms_since "$t0")
		du1=$(du_b "$rdir/repo")
		printf '%s\t%s\t%s\t%s\t%s\n' "$f" "$prune_ms" "$wb" "$du0" "$du1" >>"$p4"
		echo "  garbage $f ($n files rewritten): prune $prune_ms ms, wrote $(human "$wb")," \
		     "repository $(human "$du0") -> $(human "$du1")"
		unset RESTIC_PASSWORD RESTIC_REPOSITORY RESTIC_CACHE_DIR
		rm -rf "$rdir"
	done
fi

# ---------------------------------------------------------------------------
# Part 5.  `heapctl space` on a heap of C checkpoints (1,000; --quick 200),
# each changing 1-3 random lines of a 4 MiB heap of 4 KiB lines: the time
# of the request through .heapfs/ctl and of the whole heapctl command
# (median of 5), beside `heapctl checkpoints` (the same records, listed)
# as the baseline; then K checkpoints (20) removed one by one, each time
# its "freed if deleted" and "unique" against the drop of the mount's used
# bytes and of the heap's referenced bytes measured around the rmdir.
# Goals: the answer within 50 ms; every prediction exact.
p5=$tmp/p5.tsv
: >"$p5"
if part 5; then
	echo
	echo "## 5. heapctl space on a heap with many checkpoints"
	nck=$([ $quick = 1 ] && echo 200 || echo 1000)
	mount_heapfs space -o line=4K,gc=0
	mkdir "$mnt/h"
	"$tool" fill "$mnt/h/heap" $((4 << 20)) 4096 7 >/dev/null
	t0=$(now_ns)
	for ((i = 1; i <= nck; i++)); do
		for ((k = 0; k <= RANDOM % 3; k++)); do
			head -c 4096 /dev/urandom |
				dd of="$mnt/h/heap" bs=4096 seek=$((RANDOM % 1024)) conv=notrunc status=none
		done
		mkdir "$mnt/h/checkpoints/c$i"
	done
	echo "  $nck checkpoints taken in $(ms_since "$t0") ms"
	sp_req=() sp_cmd=() ls_req=()
	for ((r = 0; r < 5; r++)); do
		ctl '{"cmd":"space","heap":"h"}'
		sp_req+=("$ctl_ms")
		[ "$(jq '.checkpoints | length' <<<"$ctl_resp")" = "$nck" ] ||
			{ echo "gc.sh: space listed $(jq '.checkpoints | length' <<<"$ctl_resp") checkpoints" >&2; exit 1; }
		ctl '{"cmd":"checkpoints","heap":"h"}'
		ls_req+=("$ctl_ms")
		t0=$(now_ns)
		"$heapctl" -m "$mnt" space h >/dev/null
		sp_cmd+=("$(ms_since "$t0")")
	done
	m_req=$(printf '%s\n' "${sp_req[@]}" | median)
	m_cmd=$(printf '%s\n' "${sp_cmd[@]}" | median)
	m_ls=$(printf '%s\n' "${ls_req[@]}" | median)
	echo "  space: request $m_req ms (runs: ${sp_req[*]}), heapctl space $m_cmd ms;" \
	     "checkpoints (baseline) $m_ls ms"
	exact=0 tried=0
	for ((r = 0; r < 20; r++)); do
		ctl '{"cmd":"space","heap":"h"}'
		row=$(jq -c ".checkpoints[$(( (r * 37) % (nck - r) ))]" <<<"$ctl_resp")
		v=$(jq .version <<<"$row"); freed=$(jq .freed_if_deleted <<<"$row")
		uniq=$(jq .unique <<<"$row")
		used0=$(pool used); ref0=$(getfattr --absolute-names --only-values -n user.heapfs.referenced "$mnt/h")
		rmdir "$mnt/h/checkpoints/$v"
		used1=$(pool used); ref1=$(getfattr --absolute-names --only-values -n user.heapfs.referenced "$mnt/h")
		tried=$((tried + 1))
		if [ $((used0 - used1)) = "$freed" ] && [ $((ref0 - ref1)) = "$uniq" ]; then
			exact=$((exact + 1))
		else
			echo "  checkpoint $v: freed $freed unique $uniq, removing it took" \
			     "$((used0 - used1)) from used and $((ref0 - ref1)) from referenced"
		fi
	done
	echo "  $exact of $tried removals took exactly what space predicted"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$nck" "$m_req" "$m_cmd" "$m_ls" "$exact" "$tried" >>"$p5"
	drop_heapfs
fi

# ---------------------------------------------------------------------------
echo
echo "## Summary"
if part 1; then
	med1() { awk -F'\t' -v l="$1" -v f="$2" -v c="$3" '$1 == l && $2 == f { print $c }' "$p1" | median; }
	full1() { awk -F'\t' -v l="$1" -v c="$2" '$1 == l { print $c }' "$p1f"; }
	g1=$(med1 s1 0.01 5); g10=$(med1 s10 0.10 5)
	gb=$(med1 big "$small_1pct" 5); gb1=$(med1 big 0.01 5)
	d1=$(med1 s1 0.01 4); d10=$(med1 s10 0.10 4); db=$(med1 big "$small_1pct" 4)
	r10=$(ratio "$g10" "$g1"); rb=$(ratio "$gb" "$g1")
	rd10=$(ratio "$d10" "$d1"); rdb=$(ratio "$db" "$d1")
	ok10=$(awk -v r="$r10" 'BEGIN { print (r != "-" && r >= 8 && r <= 12) ? 1 : 0 }')
	okb=$(awk -v r="$rb" 'BEGIN { print (r != "-" && r >= 0.85 && r <= 1.15) ? 1 : 0 }')
	fig gc_10pct_over_1pct "$r10" "8-12" "$(verdict "$ok10")"
	fig gc_4x_store_over_1pct "$rb" "0.85-1.15" "$(verdict "$okb")"
	echo
	echo "GC cost (medians of $reps; gc = the incremental rounds through .heapfs/ctl; baseline:"
	echo "writing the same garbage, fsync included; bytes freed are GC's stored bytes, which"
	echo "leave the disk only with compaction, see gc --full):"
	echo
	echo "| store | garbage | gc | gc, first of $reps | baseline: writing it | gc/baseline | daemon wrote / byte freed |"
	echo "|---|---|---:|---:|---:|---:|---:|"
	row1() {
		local l=$1 f=$2 g d w b
		g=$(med1 "$l" "$f" 5); d=$(med1 "$l" "$f" 4)
		w=$(awk -F'\t' -v l="$l" -v f="$f" '$1 == l && $2 == f && $7 > 0 { print $6 / $7 }' "$p1" | median)
		first=$(awk -F'\t' -v l="$l" -v f="$f" '$1 == l && $2 == f && $3 == 1 { print $5 }' "$p1")
		printf '| %s | %s | %.2f ms | %.2f ms | %.1f ms | %s | %s |\n' "$3" "$4" "$g" "$first" "$d" "$(ratio "$g" "$d")" \
			"$(awk -v w="$w" 'BEGIN { print w == "-" ? "-" : sprintf("%.4f", w) }')"
	}
	n1=$(awk -v s="$S" 'BEGIN { printf "%.0f", s / 4096 * 0.01 }')
	row1 s1 0.01 "$(human "$S")" "1% ($n1 lines)"
	row1 s10 0.10 "$(human "$S") (fresh)" "10% ($((n1 * 10)) lines)"
	row1 big "$small_1pct" "$(human $((4 * S)))" "0.25% (the 1% run's $n1 lines)"
	row1 big 0.01 "$(human $((4 * S)))" "1% ($((n1 * 4)) lines, reference)"
	echo
	echo "| ratio | gc | baseline (writing the garbage) | goal | verdict |"
	echo "|---|---:|---:|---|---|"
	echo "| 10% / 1% | ${r10}x | ${rd10}x | 8-12x | $(verdict "$ok10") |"
	echo "| 4x store / 1% run, same garbage | ${rb}x | ${rdb}x | 0.85-1.15x | $(verdict "$okb") |"
	echo "| 4x store, 1% of it / 1% run | $(ratio "$gb1" "$g1")x | - | (reference: 4x the garbage) | - |"
	echo
	echo "(The same garbage five times in one store: a later gc that takes longer than the"
	echo "first works through what the earlier ones left, e.g. their deleted candidates.)"
	echo
	echo "gc --full (once per store, after one more batch of the same garbage; it flushes and"
	echo "compacts every family, rewriting the live blobs: O(store) by design, so the two"
	echo "goals above are not applied to it):"
	echo
	echo "| store | garbage | gc --full | /1% run | daemon wrote | du before -> after | wrote / byte of du reclaimed |"
	echo "|---|---|---:|---:|---:|---|---:|"
	f1=$(full1 s1 2)
	for key in "s1 1%" "s10 10%" "big 0.25%"; do
		read -r l fr <<<"$key"
		fm=$(full1 "$l" 2); fw=$(full1 "$l" 3); a=$(full1 "$l" 4); b=$(full1 "$l" 5)
		sz=$S; [ "$l" = big ] && sz=$((4 * S))
		echo "| $(human $sz) | $fr | $(f0 "$fm") ms | $(ratio "$fm" "$f1")x | $(human "$fw") |" \
		     "$(human "$a") -> $(human "$b") | $(ratio "$fw" $((a - b))) |"
	done
	fig gc_full_10pct_over_1pct "$(ratio "$(full1 s10 2)" "$f1")" none info
	fig gc_full_4x_over_1pct "$(ratio "$(full1 big 2)" "$f1")" none info
	fig gc_1pct_ms "$g1" none info
	fig gc_10pct_ms "$g10" none info
	fig gc_4x_same_ms "$gb" none info
	fig gc_full_1pct_ms "$f1" none info
	fig gc_full_10pct_ms "$(full1 s10 2)" none info
fi
if part 2; then
	read -r live settled peak full logical full_ms <"$p2"
	rs=$(ratio "$settled" "$live"); rp=$(ratio "$peak" "$live"); rf=$(ratio "$full" "$logical")
	oks=$(le "$rs" 1.5); okf=$(le "$rf" 1.3)
	fig du_after_10_overwrites_over_live "$rs" "<=1.5" "$(verdict "$oks")"
	fig du_peak_over_live "$rp" none info
	fig du_after_full_over_logical "$rf" "<=1.3" "$(verdict "$okf")"
	echo
	echo "Space (baseline: the live data, $(human "$live"), and the logical stored bytes):"
	echo
	echo "| figure | value | baseline | ratio | goal | verdict |"
	echo "|---|---:|---:|---:|---|---|"
	echo "| du after 10 overwrites, background GC (gc=$gc2) idle | $(human "$settled") | $(human "$live") live | ${rs}x | <= 1.5x | $(verdict "$oks") |"
	echo "| du peak during the overwrites | $(human "$peak") | $(human "$live") live | ${rp}x | (reference) | - |"
	echo "| du after gc --full ($full_ms ms) | $(human "$full") | $(human "$logical") stored | ${rf}x | <= 1.3x | $(verdict "$okf") |"
fi
if part 3; then
	# Pooled percentiles over every round of a setting, from the raw files.
	pct() {
		sort -n "$tmp/lat$1.raw" | awk '{ a[NR] = $1 } END {
			i50 = int(0.50 * (NR - 1) + 1.5); i99 = int(0.99 * (NR - 1) + 1.5)
			i999 = int(0.999 * (NR - 1) + 1.5)
			printf "%.1f %.1f %.1f %.1f %d\n", a[i50] / 1e3, a[i99] / 1e3, a[i999] / 1e3, a[NR] / 1e3, NR }'
	}
	read -r on50 on99 on999 onmax onn < <(pct 1)
	read -r off50 off99 off999 offmax offn < <(pct 0)
	thru() { awk -F'\t' -v g="$1" '$1 == g { o += $3; s += $8 } END { printf "%.0f", o / s }' "$p3"; }
	onops=$(thru 1); offops=$(thru 0)
	freed=$(awk -F'\t' '$1 == 1 { s += $9 } END { print s + 0 }' "$p3")
	r99=$(ratio "$on99" "$off99"); r999=$(ratio "$on999" "$off999"); rops=$(ratio "$onops" "$offops")
	ok99=$(le "$r99" 1.25); ok999=$(le "$r999" 2); okmax=$(le "$onmax" 100000); okops=$(ge "$rops" 0.8)
	fig lat_p99_on_over_off "$r99" "<=1.25" "$(verdict "$ok99")"
	fig lat_p999_on_over_off "$r999" "<=2" "$(verdict "$ok999")"
	fig lat_max_on_ms "$(awk -v m="$onmax" 'BEGIN { printf "%.1f", m / 1000 }')" "<=100" "$(verdict "$okmax")"
	fig lat_ops_on_over_off "$rops" ">=0.8" "$(verdict "$okops")"
	fig lat_p50_on_over_off "$(ratio "$on50" "$off50")" none info
	echo
	echo "Foreground 4 KiB write + fsync, GC on against GC off (baseline), $lat_rounds x $lat_s s each,"
	echo "operations of all rounds pooled ($onn / $offn); GC freed $(human "$freed") during the on runs:"
	echo
	echo "| figure | GC on (gc=1) | GC off (gc=0) | on/off | goal | verdict |"
	echo "|---|---:|---:|---:|---|---|"
	echo "| p50 | $on50 us | $off50 us | $(ratio "$on50" "$off50")x | - | - |"
	echo "| p99 | $on99 us | $off99 us | ${r99}x | <= 1.25x | $(verdict "$ok99") |"
	echo "| p99.9 | $on999 us | $off999 us | ${r999}x | <= 2x | $(verdict "$ok999") |"
	echo "| max | $onmax us | $offmax us | $(ratio "$onmax" "$offmax")x | GC on <= 100 ms | $(verdict "$okmax") |"
	echo "| throughput | $onops ops/s | $offops ops/s | ${rops}x | >= 0.8x | $(verdict "$okops") |"
	if [ "$okmax" = 0 ] && [ "$(le "$offmax" 100000)" = 0 ]; then
		echo
		echo "(The stall goal is judged on GC on alone, but GC off stalled over 100 ms too: the"
		echo "stall is the machine's or the store's, not GC's alone.)"
	fi
fi
if part 4; then
	echo
	echo "Anchor: restic prune --max-unused 0 against heapfs's GC on the same bytes and"
	echo "garbage fraction (heapfs from part 1; no goal: an anchor):"
	echo
	echo "| garbage | restic prune | restic wrote | heapfs gc | heapfs gc --full | heapfs gc --full wrote | gc --full / prune |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for key in "0.01 s1" "0.10 s10"; do
		read -r f l <<<"$key"
		read -r _ pm pw _ _ < <(awk -F'\t' -v f="$f" '$1 == f' "$p4")
		if part 1; then
			hg="$(med1 "$l" "$f" 5) ms"; hf=$(full1 "$l" 2); hw=$(human "$(full1 "$l" 3)")
		else
			hg=-; hf=-; hw=-
		fi
		echo "| $(awk -v f="$f" 'BEGIN { printf "%g%%", f * 100 }') | $(f0 "$pm") ms | $(human "$pw") | $hg |" \
		     "$(f0 "$hf") ms | $hw | $(ratio "$hf" "$pm")x |"
		fig "restic_prune_ms_$f" "$pm" none anchor
	done
fi
if part 5; then
	read -r nck m_req m_cmd m_ls exact tried <"$p5"
	ok5=$(le "$m_req" 50)
	ok5x=$([ "$exact" = "$tried" ] && echo 1 || echo 0)
	echo
	echo "heapctl space (baseline: heapctl checkpoints, the same records listed):"
	echo
	echo "| figure | value | baseline | goal | verdict |"
	echo "|---|---:|---:|---|---|"
	echo "| space on $nck checkpoints, the request | $m_req ms | $m_ls ms | <= 50 ms | $(verdict "$ok5") |"
	echo "| heapctl space, the whole command | $m_cmd ms | - | (reference) | - |"
	echo "| removals that took exactly the predicted freed and unique bytes | $exact of $tried | - | all | $(verdict "$ok5x") |"
	fig space_ms "$m_req" "<=50" "$(verdict "$ok5")"
	fig space_exact "$exact/$tried" "all" "$(verdict "$ok5x")"
fi
echo
echo "Goals:"
awk -F'\t' '$4 == "MET" || $4 == "NOT MET" { printf "  %-36s %-8s goal %-10s %s\n", $1, $2, $3, $4 }' "$tsv"
[ -n "$tsv_out" ] && cp "$tsv" "$tsv_out"
echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; total $(($(date +%s) - start)) s"
