#!/usr/bin/env bash
# The mount benchmark: the same fio jobs on a heapfs heap file, on libfuse's
# passthrough_ll example and on tmpfs, in one run; prints each heapfs figure
# as a ratio to the others.  Builds nothing of heapfs (it runs
# BUILD_DIR/fs/heapfs); builds passthrough_ll from the installed libfuse3-dev
# example into its temporary directory.
#
# Usage: bench/mount.sh [BUILD_DIR] [--quick] [--runs N] [--cache SIZE]
#                       [--cache0] [--medians FILE]
#   BUILD_DIR  where heapfs was built (default: build)
#   --quick    one run, 64 MiB files, 1 s per job: a smoke test
#   --runs N   runs of every job on every target; the median is shown (3)
#   --cache SIZE  heapfs's cache= (default 1G, four times the files, so
#              their lines stay resident: the default 256M would hold a
#              256 MiB file with no room to spare)
#   --cache0   also run every job on a second heapfs mounted -o cache=0
#              (write-through, no line cache): column hfs-c0
#   --medians FILE  also write the medians to FILE, one "job target value"
#              line each (tab-separated; bench/cache.sh reads it)
#
# Targets: tmpfs; libfuse's passthrough_ll over tmpfs, as FUSE-NOTES measured
# it (the write jobs with its defaults and again with -o writeback; the read
# jobs with -o cache=always, since by default it drops the page cache at
# every open and no line would stay in memory); heapfs.
# Every file lives on tmpfs: a tmpfs of its own when run as root, else a
# directory in /dev/shm; passthrough_ll mirrors directories of it and the
# heapfs store is on it, so all of them keep their data in RAM.
# Installs fio and jq when missing (apt-get, as root or through sudo).
# Every mount and daemon it starts is ended on exit, even when interrupted.
set -euo pipefail

build=build
runs=3
size_mib=256
runtime=2       # seconds measured per time-based job
ramp=1          # seconds of reading before a read job is measured
cache=1G        # heapfs -o cache=
cache0=0        # 1: also heapfs -o cache=0
medians=        # where to write the medians, if anywhere
while [ $# -gt 0 ]; do
	case $1 in
	--quick) runs=1 size_mib=64 runtime=1 ramp=1 ;;
	--runs) runs=${2:?--runs N}; shift ;;
	--cache) cache=${2:?--cache SIZE}; shift ;;
	--cache0) cache0=1 ;;
	--medians) medians=${2:?--medians FILE}; shift ;;
	-h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "mount.sh: unknown option $1" >&2; exit 2 ;;
	*) build=$1 ;;
	esac
	shift
done
case $runs in ''|*[!0-9]*|0) echo "mount.sh: --runs wants a positive number" >&2; exit 2 ;; esac

heapfs=$build/fs/heapfs
if [ ! -x "$heapfs" ]; then
	echo "mount.sh: $heapfs not found; build first (make build)" >&2
	exit 1
fi
heapfs=$(cd "$(dirname "$heapfs")" && pwd)/heapfs
if [ ! -w /dev/fuse ]; then
	echo "mount.sh: /dev/fuse is not usable here" >&2
	exit 1
fi

# fio and jq: only this benchmark needs them, so make test does not pull them.
# shellcheck source=need.sh
. "$(dirname "$0")/need.sh"
need=()
command -v fio >/dev/null || need+=(fio)
command -v jq >/dev/null || need+=(jq)
bench_install mount.sh "${need[@]}" || exit 1

examples=/usr/share/doc/libfuse3-dev/examples
if [ ! -r "$examples/passthrough_ll.c" ] && [ ! -r "$examples/passthrough_ll.c.gz" ]; then
	echo "mount.sh: $examples/passthrough_ll.c not found (install libfuse3-dev)" >&2
	exit 1
fi

# --- everything below is undone by cleanup ---------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heapfs-bench-mount.XXXXXX")
ram_mounted=0
ram_dir=        # the /dev/shm directory used when not root
fuse_mnts=()    # FUSE mounts we made, in order
daemons=()      # their daemons' PIDs, same order
cleanup() {
	local i m p n
	set +e
	for ((i = ${#fuse_mnts[@]} - 1; i >= 0; i--)); do
		m=${fuse_mnts[i]}
		p=${daemons[i]}
		if mountpoint -q "$m"; then
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
		fi
		# The daemon exits once unmounted; give it 5 s, then end it.
		for ((n = 0; n < 50; n++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$p" 2>/dev/null && kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ $ram_mounted = 1 ] && umount "$tmp/ram"
	[ -n "$ram_dir" ] && rm -rf "$ram_dir"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The RAM everything lives on.
if [ "$(id -u)" -eq 0 ]; then
	mkdir "$tmp/ram"
	mount -t tmpfs -o mode=0700 heapfs-bench "$tmp/ram"
	ram_mounted=1
	ram=$tmp/ram
	ram_desc="a tmpfs mounted for the run"
else
	[ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] ||
		{ echo "mount.sh: not root and /dev/shm is not tmpfs" >&2; exit 1; }
	ram_dir=$(mktemp -d /dev/shm/heapfs-bench-mount.XXXXXX)
	ram=$ram_dir
	ram_desc="$ram (tmpfs)"
fi

# passthrough_ll, built from the installed package's example.
pt=$tmp/passthrough_ll
mkdir "$tmp/pt-src"
for f in passthrough_ll.c passthrough_helpers.h; do
	if [ -r "$examples/$f" ]; then
		cp "$examples/$f" "$tmp/pt-src/"
	else
		zcat "$examples/$f.gz" >"$tmp/pt-src/$f"   # Debian may compress docs
	fi
done
# shellcheck disable=SC2046
cc -O2 -w -o "$pt" "$tmp/pt-src/passthrough_ll.c" -I"$tmp/pt-src" \
	$(pkg-config --cflags --libs fuse3)

# Start a FUSE daemon in the foreground, in the background, and wait for its
# mount.  Usage: start_fuse MNT CMD...
start_fuse() {
	local mnt=$1 n
	shift
	mkdir -p "$mnt"
	"$@" >"$mnt.log" 2>&1 &
	fuse_mnts+=("$mnt")
	daemons+=("$!")
	for ((n = 0; n < 100; n++)); do
		mountpoint -q "$mnt" && return 0
		kill -0 "$!" 2>/dev/null || break
		sleep 0.1
	done
	echo "mount.sh: $* did not mount:" >&2
	cat "$mnt.log" >&2
	exit 1
}

# Targets, and the jobs each runs (see jobs below).
targets=(tmpfs pt ptwb ptkeep heapfs)
[ $cache0 = 1 ] && targets=(tmpfs pt ptwb ptkeep heapfs0 heapfs)
declare -A file desc runs_jobs
mkdir "$ram/tmpfs"
file[tmpfs]=$ram/tmpfs/fio.dat
desc[tmpfs]="tmpfs"
for t in pt ptwb ptkeep; do
	mkdir "$ram/$t"
	file[$t]=$tmp/mnt-$t/fio.dat
done
start_fuse "$tmp/mnt-pt" "$pt" -f -o source="$ram/pt" "$tmp/mnt-pt"
desc[pt]="passthrough_ll"
runs_jobs[pt]="seqwrite randwrite mmapwrite"
start_fuse "$tmp/mnt-ptwb" "$pt" -f -o writeback,source="$ram/ptwb" "$tmp/mnt-ptwb"
desc[ptwb]="passthrough_ll -o writeback"
runs_jobs[ptwb]="seqwrite randwrite mmapwrite"
start_fuse "$tmp/mnt-ptkeep" "$pt" -f -o cache=always,source="$ram/ptkeep" "$tmp/mnt-ptkeep"
desc[ptkeep]="passthrough_ll -o cache=always"
runs_jobs[ptkeep]="seqread randread mmapread"
if [ $cache0 = 1 ]; then
	start_fuse "$tmp/mnt-heapfs0" "$heapfs" -f -o cache=0 "$ram/store0" "$tmp/mnt-heapfs0"
	mkdir "$tmp/mnt-heapfs0/bench"
	file[heapfs0]=$tmp/mnt-heapfs0/bench/heap
	desc[heapfs0]="heapfs -o cache=0"
fi
start_fuse "$tmp/mnt-heapfs" "$heapfs" -f -o cache="$cache" "$ram/store" "$tmp/mnt-heapfs"
heapfs_pid=${daemons[${#daemons[@]} - 1]}
mkdir "$tmp/mnt-heapfs/bench"
file[heapfs]=$tmp/mnt-heapfs/bench/heap
desc[heapfs]="heapfs"

size=$((size_mib << 20))
# A file as fio finds it before a writing job: SIZE bytes, all holes.  On
# heapfs this is the heap truncated, since files cannot be created there.
fresh() {
	truncate -s 0 "$1"
	truncate -s "$size" "$1"
}

# job name, unit, label, fio arguments.  Reads run after the data was
# written and read once (a plain read pass plus fio's ramp), so the kernel
# page cache holds it (and heapfs's line cache, with the default cache=).
jobs=(seqwrite seqread randwrite randread mmapwrite mmapread)
runs_jobs[tmpfs]=${jobs[*]}
runs_jobs[heapfs]=${jobs[*]}
runs_jobs[heapfs0]=${jobs[*]}
declare -A unit label args
unit[seqwrite]=MiB/s; label[seqwrite]="seq write 1 MiB"
args[seqwrite]="--ioengine=psync --rw=write --bs=1M --time_based --runtime=$runtime"
unit[seqread]=MiB/s; label[seqread]="seq read 1 MiB (cached)"
args[seqread]="--ioengine=psync --rw=read --bs=1M --time_based --ramp_time=$ramp --runtime=$runtime"
unit[randwrite]=IOPS; label[randwrite]="4 KiB rand write"
args[randwrite]="--ioengine=psync --rw=randwrite --bs=4k --time_based --runtime=$runtime"
unit[randread]=IOPS; label[randread]="4 KiB rand read (cached)"
args[randread]="--ioengine=psync --rw=randread --bs=4k --time_based --ramp_time=$ramp --runtime=$runtime"
# First touch: a fresh file, each page faulted in and stored once; the
# fsync at the end (counted) writes every dirty page back.  Capped in time.
unit[mmapwrite]=MiB/s; label[mmapwrite]="mmap write (first touch)"
args[mmapwrite]="--ioengine=mmap --rw=write --bs=4k --end_fsync=1 --runtime=$((runtime * 2))"
# Re-read: every loop opens and maps the file anew over cached pages, so
# it measures faulting cached pages in, as a process mapping a heap does.
unit[mmapread]=MiB/s; label[mmapread]="mmap re-read (cached)"
args[mmapread]="--ioengine=mmap --rw=read --bs=4k --loops=100000 --runtime=$runtime"

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now_ns() { date +%s%N; }

results=$tmp/results.tsv   # target job run value [daemon-cores]
: >"$results"
run_job() {   # target job run
	local t=$1 j=$2 r=$3 f=${file[$1]} out=$tmp/fio.json c0 c1 t0 t1 v cores=
	case $j in
	seqwrite|mmapwrite) fresh "$f" ;;
	# Untimed: write back what the jobs before left dirty.  heapfs writes
	# dirty lines back once they are 5 s old, which otherwise landed in
	# the next job: the sequential writes expiring, 256 MiB to compress
	# on both cores under a job that measures something else (cached
	# reads took the daemon at 0.16 cores and moved by 0.76x-1.39x).
	randwrite) sync "$f" ;;
	*read) sync "$f"; cat "$f" >/dev/null ;;
	esac
	[ "$t" = heapfs ] && { c0=$(cpu_ticks "$heapfs_pid"); t0=$(now_ns); }
	# shellcheck disable=SC2086
	if ! fio --name="$j" --filename="$f" --size="$size" --allow_file_create=0 \
		--fallocate=none --invalidate=0 --output-format=json --output="$out" \
		${args[$j]} >"$tmp/fio.err" 2>&1; then
		echo "mount.sh: fio $j on ${desc[$t]} failed:" >&2
		cat "$tmp/fio.err" "$out" >&2 2>/dev/null
		exit 1
	fi
	if [ "$t" = heapfs ]; then
		c1=$(cpu_ticks "$heapfs_pid"); t1=$(now_ns)
		cores=$(awk -v c="$((c1 - c0))" -v hz="$ticks" -v ns="$((t1 - t0))" \
			'BEGIN { printf "%.2f", c / hz / (ns / 1e9) }')
	fi
	if [ "$(jq '.jobs[0].error' "$out")" != 0 ]; then
		echo "mount.sh: fio $j on ${desc[$t]}: error $(jq '.jobs[0].error' "$out")" >&2
		exit 1
	fi
	if [ "${unit[$j]}" = IOPS ]; then
		v=$(jq '.jobs[0] | .read.iops + .write.iops' "$out")
	else
		v=$(jq '.jobs[0] | (.read.bw_bytes + .write.bw_bytes) / 1048576' "$out")
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$j" "$r" "$v" "$cores" >>"$results"
}

echo "fio $(fio --version | sed 's/^fio-//'), kernel $(uname -r), $(nproc) cores," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo "passthrough_ll: built from $examples/passthrough_ll.c" \
     "(libfuse3-dev $(dpkg-query -W -f='${Version}' libfuse3-dev 2>/dev/null || echo '?'))"
echo "heapfs: $heapfs, cache=$cache, other options default (64 KiB lines, zstd level 1), store on the same tmpfs"
[ $cache0 = 1 ] && echo "hfs-c0: a second heapfs mounted -o cache=0 (write-through), its store on the same tmpfs"
echo "files: ${size_mib} MiB each on $ram_desc"
echo "jobs: 1 job each, ${runtime} s; reads after a read pass and ${ramp} s of ramp;" \
     "fio's default data (random, scrambled per write); median of $runs run(s)"
start=$(date +%s)
for ((r = 1; r <= runs; r++)); do
	for t in "${targets[@]}"; do
		fresh "${file[$t]}"
		case " ${runs_jobs[$t]} " in
		*" seqwrite "*) ;;
		*)	# the read jobs want data: one unmeasured sequential pass
			fio --name=fill --filename="${file[$t]}" --size="$size" \
				--allow_file_create=0 --fallocate=none --rw=write --bs=1M \
				--output=/dev/null >/dev/null ;;
		esac
		for j in "${jobs[@]}"; do
			case " ${runs_jobs[$t]} " in *" $j "*) run_job "$t" "$j" "$r" ;; esac
		done
	done
	echo "run $r/$runs done ($(($(date +%s) - start)) s)" >&2
done

# The table: medians, and heapfs as a ratio to each other target.
echo
show="tmpfs pt ptwb heapfs"
[ $cache0 = 1 ] && show="tmpfs pt ptwb heapfs0 heapfs"
awk -F'\t' -v ncores="$(nproc)" -v targets="$show" -v jobs="${jobs[*]}" \
	-v medians="$medians" \
	-v units="$(for j in "${jobs[@]}"; do printf '%s|' "${unit[$j]}"; done)" \
	-v labels="$(for j in "${jobs[@]}"; do printf '%s|' "${label[$j]}"; done)" '
function median(key,   n, i, k, a, tmp) {
	n = cnt[key]
	if (n == 0)
		return -1
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) {          # insertion sort: n is small
		tmp = a[i]
		for (k = i - 1; k >= 1 && a[k] > tmp; k--) a[k + 1] = a[k]
		a[k + 1] = tmp
	}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function fmt(v, u) {
	if (v < 0) return "-"
	if (u == "IOPS") return v >= 10000 ? sprintf("%.0fK", v / 1000) : sprintf("%.2fK", v / 1000)
	return v >= 100 ? sprintf("%.0f", v) : sprintf("%.1f", v)
}
function ratio(a, b) { return a < 0 || b <= 0 ? "-" : sprintf("%.2fx", a / b) }
function idx(name,   j) { for (j = 1; j <= nj; j++) if (J[j] == name) return j }
function goal(job, t, want,   x) {
	x = ratio(m[job, "heapfs"], m[job, t])
	printf "  %-25s %6s %-16s goal >= %.1fx: %s\n", L[idx(job)], x, name[t],
		want, (x != "-" && x + 0 >= want ? "met" : "SHORT")
}
{
	t = $1 == "ptkeep" ? "pt" : $1      # one passthrough column: see above
	val[t, $2, ++cnt[t, $2]] = $4
	if ($5 != "") val["cpu", $2, ++cnt["cpu", $2]] = $5
}
END {
	nt = split(targets, T, " "); nj = split(jobs, J, " ")
	split(units, U, "|"); split(labels, L, "|")
	name["tmpfs"] = "tmpfs"; name["pt"] = "passthrough"
	col["tmpfs"] = "tmpfs"; col["pt"] = "pt"; col["ptwb"] = "pt-wb"
	col["heapfs"] = "heapfs"; col["heapfs0"] = "hfs-c0"
	printf "%-25s %-5s", "job", "unit"
	for (i = 1; i <= nt; i++) printf " %8s", col[T[i]]
	printf " |"
	for (i = 1; i <= nt; i++) if (T[i] != "heapfs") printf " %8s", "/" col[T[i]]
	printf " | %s\n", "hfs CPU"
	for (j = 1; j <= nj; j++) {
		printf "%-25s %-5s", L[j], U[j]
		for (i = 1; i <= nt; i++) {
			m[J[j], T[i]] = median(T[i] SUBSEP J[j])
			printf " %8s", fmt(m[J[j], T[i]], U[j])
			if (medians != "")
				printf "%s\t%s\t%s\n", J[j], T[i], m[J[j], T[i]] >medians
		}
		printf " |"
		for (i = 1; i <= nt; i++) if (T[i] != "heapfs")
			printf " %8s", ratio(m[J[j], "heapfs"], m[J[j], T[i]])
		printf " | %.2f\n", median("cpu" SUBSEP J[j])
	}
	print ""
	print "pt: passthrough_ll, defaults on the write jobs, -o cache=always on the"
	print "read jobs; pt-wb: passthrough_ll -o writeback; /X: heapfs divided by X;"
	if (col["heapfs0"] != "" && targets ~ /heapfs0/)
		print "hfs-c0: heapfs -o cache=0 (write-through, no line cache);"
	print "hfs CPU: cores the heapfs daemon kept busy during the job (median, of " ncores ")."
	print ""
	# Each run takes the targets in turn, so the two of one run share a moment:
	# the range shows how far this machine moves a ratio between runs.
	if (cnt["heapfs", J[1]] > 1) {
		print "heapfs/pt run by run, lowest - highest:"
		for (j = 1; j <= nj; j++) {
			lo = hi = -1
			for (k = 1; k <= cnt["heapfs", J[j]] && k <= cnt["pt", J[j]]; k++) {
				if (val["pt", J[j], k] <= 0)
					continue
				x = val["heapfs", J[j], k] / val["pt", J[j], k]
				if (lo < 0 || x < lo) lo = x
				if (x > hi) hi = x
			}
			printf "  %-25s %s\n", L[j], lo < 0 ? "-" : sprintf("%.2fx - %.2fx", lo, hi)
		}
		print ""
	}
	print "goals (reads: the lines are already in the page cache):"
	goal("seqread", "pt", 1.0); goal("randread", "pt", 1.0); goal("mmapread", "pt", 1.0)
	goal("mmapread", "tmpfs", 0.9)
}
' "$results"

printf '\nheapfs store after the run: %s (overwritten lines stay in blob files until GC)\n' \
	"$(du -sh "$ram/store" | cut -f1)"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; total $(($(date +%s) - start)) s"
