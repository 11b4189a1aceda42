#!/usr/bin/env bash
# The line cache benchmark: every heapfs figure beside a baseline measured in
# the same run.  Builds nothing (it runs BUILD_DIR/fs/heapfs).
#
# Usage: bench/cache.sh [BUILD_DIR] [--quick] [--runs N] [--parts LIST]
#                       [--dir DIR]
#   BUILD_DIR  where heapfs was built (default: build)
#   --quick    smoke test: bench/mount.sh --quick, 256 MiB / 2 GiB heaps for
#              the checkpoints, a 2 GiB heap with cache=32M for the memory
#   --runs N   runs of the fio jobs (bench/mount.sh --runs; default 3) and
#              checkpoints per heap (default 5); medians are shown
#   --parts L  which parts to run, e.g. 23 (default 123)
#   --dir DIR  where the stores of parts 2 and 3 go (default /var/tmp); it
#              must be a real disk, not tmpfs
#
# 1. Heap I/O with the lines resident: bench/mount.sh --cache0 (the fio jobs
#    on heapfs with cache=1G, four times the 256 MiB files so their lines
#    stay resident, on heapfs -o cache=0, on libfuse's passthrough_ll and on
#    tmpfs, all over tmpfs).
# 2. Checkpoint latency, 1 GiB and 8 GiB heaps through the mount (store on
#    disk): write the whole heap (fio, half-compressible data), fsync, take a
#    first checkpoint, then N times: dirty 1% of the lines (one 64-byte pwrite
#    at a random offset in each of randomly chosen lines) and time
#    mkdir checkpoints/LABEL.  The 8 GiB heap also gets checkpoints with the
#    1 GiB heap's count of dirty lines.  Baseline: the same dirty lines
#    (read back after the checkpoint), each SHA-256 hashed and compressed with
#    libzstd level 1 (the library heapfs uses, with its frame checksum), the
#    frames written to a file on the store's disk and fdatasynced, in one
#    process.
# 3. Peak RSS (VmHWM) of the daemon mounted -o cache=256M while a 16 GiB heap
#    is written end to end with incompressible data (fio, crc32c verify
#    headers) and read back verified (fio --verify_only after dropping the
#    file's page cache), against cache= + 64 MiB.  Scaled down, with a
#    warning, when the store's disk has less than 40 GiB free.
#
# Needs root or /dev/fuse; installs fio, jq and python3 when missing
# (apt-get, as root or through sudo).  Every mount it starts is unmounted
# and every daemon ended by its PID on exit, even when interrupted, and
# every store removed.
set -euo pipefail

build=build
quick=0
runs=
parts=123
dir=/var/tmp
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--runs) runs=${2:?--runs N}; shift ;;
	--parts) parts=${2:?--parts LIST}; shift ;;
	--dir) dir=${2:?--dir DIR}; shift ;;
	-h|--help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "cache.sh: unknown option $1" >&2; exit 2 ;;
	*) build=$1 ;;
	esac
	shift
done
case ${runs:-1} in *[!0-9]*|0) echo "cache.sh: --runs wants a positive number" >&2; exit 2 ;; esac
case $parts in *[!123]*|'') echo "cache.sh: --parts wants digits 1-3" >&2; exit 2 ;; esac
part() { case $parts in *"$1"*) return 0 ;; esac; return 1; }

heapfs=$build/fs/heapfs
if [ ! -x "$heapfs" ]; then
	echo "cache.sh: $heapfs not found; build first (make build)" >&2
	exit 1
fi
heapfs=$(cd "$(dirname "$heapfs")" && pwd)/heapfs
here=$(cd "$(dirname "$0")" && pwd)
[ -w /dev/fuse ] || { echo "cache.sh: /dev/fuse is not usable here" >&2; exit 1; }
# What only this benchmark needs, so make test does not pull it.
# shellcheck source=need.sh
. "$here/need.sh"
pkgs=()
command -v fio >/dev/null || pkgs+=(fio)
command -v jq >/dev/null || pkgs+=(jq)
command -v python3 >/dev/null || pkgs+=(python3)
bench_install cache.sh "${pkgs[@]}" || exit 1
for c in fio jq python3 fusermount3; do
	command -v $c >/dev/null || { echo "cache.sh: $c is missing" >&2; exit 1; }
done
mkdir -p "$dir"
case $(stat -f -c %T "$dir") in
tmpfs|ramfs) echo "cache.sh: $dir is $(stat -f -c %T "$dir"); the stores need a real disk (--dir)" >&2
	exit 1 ;;
esac

if [ $quick = 1 ]; then
	ck_small=$((256 << 20)); ck_big=$((2 << 30))
	mem_size=$((2 << 30)); mem_cache_mib=32
	mount_args=(--quick)
else
	ck_small=$((1 << 30)); ck_big=$((8 << 30))
	mem_size=$((16 << 30)); mem_cache_mib=256
	mount_args=()
fi
ck_runs=${runs:-5}
[ -n "$runs" ] && mount_args+=(--runs "$runs")
line=65536      # heapfs's default line size, which every heap here has

# --- everything below is undone by cleanup ---------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heapfs-bench-cache.XXXXXX")   # small files
stores=$(mktemp -d "$dir/heapfs-bench-cache.XXXXXX")            # on disk
mnts=()         # FUSE mounts we made
pids=()         # their daemons' PIDs, same order
cleanup() {
	local i n p
	set +e
	for ((i = ${#mnts[@]} - 1; i >= 0; i--)); do
		unmount_fuse "$i"
	done
	rm -rf "$tmp" "$stores"
}
# Unmount mount number I and wait for (or end) its daemon.
unmount_fuse() {
	local m=${mnts[$1]} p=${pids[$1]} n
	[ -n "$p" ] || return 0
	if mountpoint -q "$m"; then
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
	fi
	for ((n = 0; n < 300; n++)); do         # it flushes its cache: 30 s
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$p" 2>/dev/null && kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	pids[$1]=
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Mount heapfs on a new store below $stores; sets mnt, pid.
# Usage: mount_heapfs NAME [heapfs options...]
mount_heapfs() {
	local name=$1 n
	shift
	mnt=$stores/$name.mnt
	mkdir -p "$mnt"
	"$heapfs" -f "$@" "$stores/$name.store" "$mnt" >"$tmp/$name.log" 2>&1 &
	pid=$!
	mnts+=("$mnt")
	pids+=("$pid")
	mnt_idx=$((${#mnts[@]} - 1))
	for ((n = 0; n < 100; n++)); do
		mountpoint -q "$mnt" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "cache.sh: heapfs $* did not mount:" >&2
	cat "$tmp/$name.log" >&2
	exit 1
}
# Unmount the last mount and remove its store.  Usage: unmount_heapfs NAME
unmount_heapfs() {
	unmount_fuse "$mnt_idx"
	rm -rf "$stores/$1.store" "$stores/$1.mnt"
}

now_ns() { date +%s%N; }
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
human() { awk -v b="$1" 'BEGIN { if (b >= 1073741824) printf "%.4g GiB", b / 1073741824; else printf "%.4g MiB", b / 1048576 }'; }
kb_status() { awk -v k="$2" '$1 == k ":" { print $2 }' "/proc/$1/status"; }   # kB
pool() { awk -v k="$1" '$1 == k ":" { print $2 }' "$mnt/.heapfs/pool"; }
median() { sort -g | awk '{ a[NR] = $1 } END { print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# Free bytes on the filesystem of DIR.
free_bytes() { df -P -B1 "$1" | awk 'NR == 2 { print $4 }'; }

# The part 2 helper: dirtying, the timed checkpoint, the baseline.
cat >"$tmp/ck.py" <<'EOF'
import ctypes, ctypes.util, hashlib, os, random, sys, time

def pool_dirty(mnt):
    for l in open(os.path.join(mnt, ".heapfs/pool")):
        if l.startswith("cache_dirty:"):
            return int(l.split()[1])
    return -1

def dirty_checkpoint(mnt, heap, label, n, line, seed, dump):
    """Dirty n random lines (one 64-byte pwrite each), time the checkpoint
    (mkdir), then copy the dirty lines' content to dump."""
    path = os.path.join(mnt, heap, "heap")
    fd = os.open(path, os.O_RDWR)
    lines = os.fstat(fd).st_size // line
    rng = random.Random(seed)
    chosen = rng.sample(range(lines), n)
    t0 = time.perf_counter()
    for l in chosen:
        os.pwrite(fd, rng.randbytes(64), l * line + rng.randrange(0, line - 64))
    t1 = time.perf_counter()
    dirty = pool_dirty(mnt)
    t2 = time.perf_counter()
    os.mkdir(os.path.join(mnt, heap, "checkpoints", label))
    t3 = time.perf_counter()
    with open(dump, "wb") as f:
        for l in sorted(chosen):
            b = os.pread(fd, line, l * line)
            assert len(b) == line
            f.write(b)
    os.close(fd)
    print(f"{(t3 - t2) * 1e3:.3f} {dirty} {(t1 - t0) * 1e3:.1f}")

def baseline(dump, out, line):
    """SHA-256 and zstd -1 (with checksum) each line of dump, write the
    frames to out in one write and fdatasync it: ms and compressed bytes."""
    data = open(dump, "rb").read()
    z = ctypes.CDLL(ctypes.util.find_library("zstd") or "libzstd.so.1")
    z.ZSTD_createCCtx.restype = ctypes.c_void_p
    z.ZSTD_CCtx_setParameter.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    z.ZSTD_CCtx_setParameter.restype = ctypes.c_size_t
    z.ZSTD_compress2.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                 ctypes.c_char_p, ctypes.c_size_t]
    z.ZSTD_compress2.restype = ctypes.c_size_t
    z.ZSTD_compressBound.restype = ctypes.c_size_t
    z.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
    z.ZSTD_isError.argtypes = [ctypes.c_size_t]
    cctx = z.ZSTD_createCCtx()
    z.ZSTD_CCtx_setParameter(cctx, 100, 1)      # ZSTD_c_compressionLevel
    z.ZSTD_CCtx_setParameter(cctx, 201, 1)      # ZSTD_c_checksumFlag
    cap = z.ZSTD_compressBound(line)
    dst = ctypes.create_string_buffer(cap)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    t0 = time.perf_counter()
    frames = bytearray()
    for i in range(0, len(data), line):
        chunk = data[i:i + line]
        hashlib.sha256(chunk).digest()
        r = z.ZSTD_compress2(cctx, dst, cap, chunk, len(chunk))
        if z.ZSTD_isError(r):
            sys.exit("zstd failed")
        frames += ctypes.string_at(dst, r)
    os.write(fd, frames)
    os.fdatasync(fd)
    t1 = time.perf_counter()
    os.close(fd)
    os.unlink(out)
    print(f"{(t1 - t0) * 1e3:.3f} {len(frames)}")

if sys.argv[1] == "dirty":
    dirty_checkpoint(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]),
                     int(sys.argv[6]), int(sys.argv[7]), sys.argv[8])
else:
    baseline(sys.argv[2], sys.argv[3], int(sys.argv[4]))
EOF

start=$(date +%s)
echo "bench/cache.sh: $(nproc) cores, kernel $(uname -r), load average" \
     "$(cut -d' ' -f1-3 /proc/loadavg) at the start$([ $quick = 1 ] && echo ', --quick')"
echo "heapfs: $heapfs; stores of parts 2 and 3 in $dir ($(stat -f -c %T "$dir"), $(human "$(free_bytes "$dir")") free)"

# ---------------------------------------------------------------------------
io=$tmp/io.tsv
if part 1; then
	echo
	echo "## 1. Heap I/O, lines resident (bench/mount.sh$(printf ' %s' --cache0 "${mount_args[@]}"))"
	echo
	"$here/mount.sh" "$build" --cache0 --medians "$io" "${mount_args[@]}"
fi

# ---------------------------------------------------------------------------
ck=$tmp/ck.tsv     # size label n ckpt_ms dirty_bytes base_ms frame_bytes
: >"$ck"
ck_fill=$tmp/ck-fill.tsv   # size fill_MiB/s first_ckpt_ms
: >"$ck_fill"
lines_small=$((ck_small / line))
n_small=$(((lines_small + 50) / 100))       # 1% of the small heap's lines
if part 2; then
	echo
	echo "## 2. Checkpoint latency, 1% of the lines dirty"
	echo
	echo "heaps of $(human $ck_small) and $(human $ck_big) through a mount with default" \
	     "options (cache=256M, 64 KiB lines), store on $dir; fio writes the whole heap"
	echo "(1 MiB writes, half-compressible, every block distinct), fsync, a first checkpoint;"
	echo "then $ck_runs times: dirty lines, time mkdir checkpoints/LABEL (in process)."
	echo "baseline: the same lines' bytes (read back after the checkpoint), SHA-256 and"
	echo "libzstd level 1 with checksum per line, the frames written to a file on $dir"
	echo "and fdatasynced, in one process (python3 + ctypes)."
	need=$((ck_big * 3 / 2))
	if [ "$(free_bytes "$dir")" -lt "$need" ]; then
		echo "cache.sh: $dir has less than $(human $need) free for the $(human $ck_big) heap" >&2
		exit 1
	fi
	seed=1
	for size in $ck_small $ck_big; do
		lines=$((size / line))
		n=$(((lines + 50) / 100))
		mount_heapfs ck
		mkdir "$mnt/h"
		truncate -s "$size" "$mnt/h/heap"
		t0=$(now_ns)
		fio --name=fill --filename="$mnt/h/heap" --size="$size" --allow_file_create=0 \
			--fallocate=none --ioengine=psync --rw=write --bs=1M --end_fsync=1 \
			--buffer_compress_percentage=50 --refill_buffers \
			--output=/dev/null >/dev/null
		t1=$(now_ns)
		mkdir "$mnt/h/checkpoints/first"
		t2=$(now_ns)
		fill=$(awk -v b="$size" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", b / 1048576 / (ns / 1e9) }')
		first=$(awk -v ns=$((t2 - t1)) 'BEGIN { printf "%.1f", ns / 1e6 }')
		printf '%s\t%s\t%s\n' "$size" "$fill" "$first" >>"$ck_fill"
		echo "$(human "$size") heap: written at $fill MiB/s (fsync included); first checkpoint" \
		     "(all $lines lines in the working version) $first ms"
		counts=$n
		[ "$size" = "$ck_big" ] && counts="$n $n_small"
		for ((r = 1; r <= ck_runs; r++)); do
			for c in $counts; do
				seed=$((seed + 1))
				read -r ms dirty dirty_ms < <(python3 "$tmp/ck.py" dirty "$mnt" h "c$seed" \
					"$c" "$line" "$seed" "$tmp/lines.bin")
				read -r bms frames < <(python3 "$tmp/ck.py" base "$tmp/lines.bin" \
					"$stores/baseline.out" "$line")
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "c$seed" "$c" "$ms" \
					"$dirty" "$bms" "$frames" >>"$ck"
				printf '  run %d: %4d dirty lines (%5.1f MiB still dirty at mkdir;' \
					"$r" "$c" "$(awk -v b="$dirty" 'BEGIN { print b / 1048576 }')"
				printf ' dirtied in %s ms): checkpoint %7.2f ms, baseline %7.2f ms\n' \
					"$dirty_ms" "$ms" "$bms"
			done
		done
		unmount_heapfs ck
	done
fi

# ---------------------------------------------------------------------------
mem=$tmp/mem.tsv
if part 3; then
	echo
	echo "## 3. Daemon memory, heap much larger than the cache"
	echo
	free=$(free_bytes "$dir")
	want=$((mem_size * 5 / 2))                 # 40 GiB for 16 GiB
	if [ "$free" -lt "$want" ]; then
		g=$((free * 2 / 5 >> 30))
		[ $g -lt 1 ] && { echo "cache.sh: $dir has $(human "$free") free: too little" >&2; exit 1; }
		echo "WARNING: $dir has $(human "$free") free, less than $(human $want):" \
		     "the heap is scaled down from $(human $mem_size) to $g GiB"
		mem_size=$((g << 30))
	fi
	mount_heapfs mem -o cache=${mem_cache_mib}M
	hwm_mount=$(kb_status "$pid" VmHWM)
	mkdir "$mnt/h"
	truncate -s "$mem_size" "$mnt/h/heap"
	fioargs=(--name=mem --filename="$mnt/h/heap" --size="$mem_size" --allow_file_create=0
		--fallocate=none --ioengine=psync --rw=write --bs=1M --verify=crc32c
		--verify_state_save=0)   # no local-*-verify.state in the cwd
	echo "heap $(human $mem_size), -o cache=${mem_cache_mib}M, store on $dir; fio writes it" \
	     "(1 MiB, random data with crc32c headers), fsyncs, then reads it back verifying"
	t0=$(now_ns)
	fio "${fioargs[@]}" --do_verify=0 --end_fsync=1 --output=/dev/null >/dev/null
	t1=$(now_ns)
	hwm_write=$(kb_status "$pid" VmHWM)
	rss_write=$(kb_status "$pid" VmRSS)
	misses0=$(pool cache_misses)
	stored=$(pool used)
	verified=ok
	t2=$(now_ns)
	# --verify_only reads the file back (after dropping its page cache:
	# fio's invalidate) and checks every block's crc32c.
	fio "${fioargs[@]}" --verify_only=1 --output="$tmp/verify.out" >/dev/null 2>&1 ||
		{ verified=FAILED; cat "$tmp/verify.out" >&2; }
	t3=$(now_ns)
	hwm_read=$(kb_status "$pid" VmHWM)
	misses=$(($(pool cache_misses) - misses0))
	wr=$(awk -v b="$mem_size" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", b / 1048576 / (ns / 1e9) }')
	rd=$(awk -v b="$mem_size" -v ns=$((t3 - t2)) 'BEGIN { printf "%.0f", b / 1048576 / (ns / 1e9) }')
	echo "VmHWM: $((hwm_mount / 1024)) MiB after mounting, $((hwm_write / 1024)) MiB after" \
	     "the write (VmRSS then $((rss_write / 1024)) MiB), $((hwm_read / 1024)) MiB after the read"
	echo "write $wr MiB/s, read back $rd MiB/s ($misses line misses in the daemon's" \
	     "cache: the reads reached it), verify $verified; store holds $(human "$stored")"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mem_size" "$mem_cache_mib" "$hwm_mount" \
		"$hwm_write" "$hwm_read" "$wr" "$rd" "$verified" "$misses" >"$mem"
	unmount_heapfs mem
fi

# ---------------------------------------------------------------------------
echo
echo "## Summary"
goal_ge() { awk -v x="$1" -v g="$2" 'BEGIN { print (x != "-" && x + 0 >= g) ? "met" : "SHORT" }'; }
goal_le() { awk -v x="$1" -v g="$2" 'BEGIN { print (x != "-" && x + 0 <= g) ? "met" : "SHORT" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < 0 || b <= 0) ? "-" : sprintf("%.2f", a / b) }'; }

if part 1; then
	echo
	echo "Heap I/O, lines resident (medians; heapfs = cache=1G; writes vs"
	echo "passthrough_ll defaults, reads vs passthrough_ll -o cache=always):"
	echo
	echo "| job | unit | heapfs | heapfs cache=0 | passthrough | tmpfs | heapfs/pt | heapfs/tmpfs | heapfs/cache=0 | goal |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
	for j in seqwrite seqread randwrite randread mmapwrite mmapread; do
		get() { awk -F'\t' -v j="$j" -v t="$1" '$1 == j && $2 == t { print $3 }' "$io"; }
		h=$(get heapfs); h0=$(get heapfs0); p=$(get pt); t=$(get tmpfs)
		case $j in
		seqwrite) l="seq write 1 MiB"; u=MiB/s ;;
		seqread) l="seq read 1 MiB"; u=MiB/s ;;
		randwrite) l="4 KiB rand write"; u=IOPS ;;
		randread) l="4 KiB rand read"; u=IOPS ;;
		mmapwrite) l="mmap write (first touch)"; u=MiB/s ;;
		mmapread) l="mmap re-read"; u=MiB/s ;;
		esac
		f() { awk -v v="$1" 'BEGIN { if (v < 0) print "-"; else printf((v >= 100) ? "%.0f\n" : "%.1f\n", v) }'; }
		rp=$(ratio "$h" "$p"); rt=$(ratio "$h" "$t")
		g=">= 1.0x pt: $(goal_ge "$rp" 1.0)"
		[ $j = mmapread ] && g="$g; >= 0.9x tmpfs: $(goal_ge "$rt" 0.9)"
		echo "| $l | $u | $(f "$h") | $(f "$h0") | $(f "$p") | $(f "$t") | ${rp}x | ${rt}x |" \
		     "$(ratio "$h" "$h0")x | $g |"
	done
fi

if part 2; then
	echo
	echo "Checkpoint latency (median of $ck_runs; baseline: SHA-256 + zstd -1 + write +"
	echo "fdatasync of the same lines' bytes on the same disk, in one process):"
	echo
	echo "| heap | dirty lines | checkpoint | baseline | checkpoint/baseline | still dirty at mkdir | goal |"
	echo "|---|---:|---:|---:|---:|---:|---|"
	med() { awk -F'\t' -v s="$1" -v n="$2" -v c="$3" '$1 == s && $3 == n { print $c }' "$ck" | median; }
	declare -A cms bms
	n_big=$(((ck_big / line + 50) / 100))
	for key in "$ck_small $n_small" "$ck_big $n_big" "$ck_big $n_small"; do
		read -r s n <<<"$key"
		[ -n "${cms[$s,$n]:-}" ] && continue
		cms[$s,$n]=$(med "$s" "$n" 4); bms[$s,$n]=$(med "$s" "$n" 6)
		d=$(med "$s" "$n" 5)
		pct=$(awk -v n="$n" -v l=$((s / line)) 'BEGIN { printf "%.1f%%", 100 * n / l }')
		r=$(ratio "${cms[$s,$n]}" "${bms[$s,$n]}")
		printf '| %s | %d (%s) | %.2f ms | %.2f ms | %sx | %.1f MiB | <= 1.1x: %s |\n' \
			"$(human "$s")" "$n" "$pct" "${cms[$s,$n]}" "${bms[$s,$n]}" "$r" \
			"$(awk -v b="$d" 'BEGIN { print b / 1048576 }')" "$(goal_le "$r" 1.1)"
	done
	r1=$(ratio "${cms[$ck_big,$n_big]}" "${cms[$ck_small,$n_small]}")
	rb=$(ratio "${bms[$ck_big,$n_big]}" "${bms[$ck_small,$n_small]}")
	r2=$(ratio "${cms[$ck_big,$n_small]}" "${cms[$ck_small,$n_small]}")
	rb2=$(ratio "${bms[$ck_big,$n_small]}" "${bms[$ck_small,$n_small]}")
	g1=$(ratio "$r1" "$rb"); g2=$(ratio "$r2" "$rb2")
	echo
	echo "| $(human $ck_big) heap / $(human $ck_small) heap | checkpoint | baseline | checkpoint growth / baseline growth | goal |"
	echo "|---|---:|---:|---:|---|"
	echo "| 1% of each heap dirty ($n_big / $n_small lines) | ${r1}x | ${rb}x | ${g1}x | <= 1.1x: $(goal_le "$g1" 1.1) |"
	echo "| same dirty lines ($n_small / $n_small) | ${r2}x | ${rb2}x | ${g2}x | <= 1.1x: $(goal_le "$g2" 1.1) |"
	echo
	echo "(1% of each heap is $((ck_big / ck_small))x the dirty lines on the big heap. The"
	echo "baseline does the same work on the same disk right after each checkpoint, so"
	echo "its growth is what the work and the moment alone account for: a checkpoint"
	echo "that grows no more than it has a cost that follows its dirty lines, not the heap.)"
fi

if part 3; then
	read -r s c h0 hw hr wr rd v m <"$mem"
	goal=$((c + 64))
	peak=$(( (hw > hr ? hw : hr) / 1024 ))
	echo
	echo "Daemon memory (VmHWM of the heapfs PID; baseline: the goal cache= + 64 MiB):"
	echo
	echo "| heap | cache= | after mount | peak, write | peak, write + read back | goal | peak/goal | verify | write | read |"
	echo "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"
	echo "| $(human "$s") | ${c} MiB | $((h0 / 1024)) MiB | $((hw / 1024)) MiB | $((hr / 1024)) MiB |" \
	     "<= $goal MiB: $([ $peak -le $goal ] && echo met || echo SHORT) | $(ratio $peak $goal)x |" \
	     "$v | $wr MiB/s | $rd MiB/s |"
fi
echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; total $(($(date +%s) - start)) s"
