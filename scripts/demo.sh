#!/usr/bin/env bash
# make demo: heapfs's main job as far as it is built.
#   1. the store on its own (heapstore_demo)
#   2. the mount: a process maps a heap and builds a data structure in it;
#      checkpoint; browse the checkpoint with ls and cmp; damage the live
#      heap; restore; the still-running process sees its data intact;
#      the heap is its creator's alone (owner, 0700); GC reclaims what the
#      damage and the restore left behind; where the space goes (heapctl
#      space, df) and a quota refusing the write that would pass it.
#   3. two nodes (two mounts): a runtime's mapped heap migrated A -> B; the
#      runtime follows its events file and re-maps the heap on B, writes
#      there, and comes back; the bytes on the wire each way.
#   4. the pool: a mount whose budget two heaps outgrow; a runtime answers
#      its heap's balloon, so the other heap's write that did not fit
#      passes instead of failing; heapctl pool shows both budgets.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
heapfs=$build/fs/heapfs
heapctl=$build/mount-tools/heapctl
app=$build/demo/heap_app

echo "== 1. the store =="
"$build/demo/heapstore_demo"
echo

echo "== 2. the mount =="
if [ ! -w /dev/fuse ]; then
	echo "demo: /dev/fuse is not usable here; the mount part needs it" >&2
	exit 1
fi
tmp=$(mktemp -d /tmp/heapfs-demo.XXXXXX)
mnt=$tmp/mnt
mnt2=$tmp/mnt2
mnt3=$tmp/mnt3
mkdir "$mnt" "$mnt2" "$mnt3"
app_pid=
rt_pid=
# fusermount3 returns before the detached daemon has closed its store:
# wait (30 s at most) until heapctl --store can open it, i.e. no daemon
# holds it any more, so nothing writes into a directory being removed.
store_free() {
	local n
	[ -d "$1" ] || return 0
	for ((n = 0; n < 300; n++)); do
		"$heapctl" --store "$1" ls >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "demo: $1 is still in use 30 s after its unmount" >&2
	return 1
}
cleanup() {
	local rc=$?
	[ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
	[ -n "$rt_pid" ] && kill "$rt_pid" 2>/dev/null || true
	mountpoint -q "$mnt" && fusermount3 -u "$mnt"
	mountpoint -q "$mnt2" && fusermount3 -u "$mnt2"
	mountpoint -q "$mnt3" && fusermount3 -u "$mnt3"
	store_free "$tmp/store" && store_free "$tmp/store2" && store_free "$tmp/store3" &&
		rm -rf "$tmp" || rc=1
	exit $rc
}
trap cleanup EXIT
say() { printf '\n$ %s\n' "$*"; }
run() { say "$*"; "$@"; }

run "$heapfs" "$tmp/store" "$mnt"
export HEAPFS_MOUNT=$mnt
run mkdir "$mnt/game"
run ls -ld "$mnt/game" "$mnt/game/heap"
echo "  (private to its creator: other users of an allow_other mount get EACCES)"
run "$heapctl" ls

say "heap_app $mnt/game/heap 2000   # another process maps the heap, builds a list"
coproc APP { "$app" "$mnt/game/heap" 2000; }
app_pid=$APP_PID
ask() { echo "$1" >&"${APP[1]}"; read -r reply <&"${APP[0]}"; echo "  heap_app: $reply"; }
read -r reply <&"${APP[0]}"; echo "  heap_app: $reply"
ask check

run mkdir "$mnt/game/checkpoints/before-upgrade"
run ls -l "$mnt/game/checkpoints"
run cat "$mnt/game/checkpoints/1/stat"
# sed, not head: head exits after three lines and ls, still writing, dies
# of SIGPIPE, which pipefail turns into the demo's failure (exit 141).
say "ls $mnt/game/lines | sed -n 1,3p; ls $mnt/game/lines | wc -l"
ls "$mnt/game/lines" | sed -n 1,3p
ls "$mnt/game/lines" | wc -l
run cmp "$mnt/game/heap" "$mnt/game/checkpoints/before-upgrade/heap"
echo "  (identical)"

say "dd if=/dev/urandom of=$mnt/game/heap bs=4k seek=10 count=100 conv=notrunc   # damage"
dd if=/dev/urandom of="$mnt/game/heap" bs=4k seek=10 count=100 conv=notrunc status=none
ask check
say "cmp $mnt/game/heap $mnt/game/checkpoints/1/heap"
cmp "$mnt/game/heap" "$mnt/game/checkpoints/1/heap" || true
run "$heapctl" diff game 1 live

run "$heapctl" restore game before-upgrade
ask check
run cmp "$mnt/game/heap" "$mnt/game/checkpoints/1/heap"
echo "  (identical again; the mapped process never remapped)"

echo quit >&"${APP[1]}"
wait "$app_pid"
app_pid=
run "$heapctl" gc
echo "  (the damaged lines no version needs any more)"
say "du -sh $tmp/store; heapctl gc --full; du -sh $tmp/store"
du -sh "$tmp/store"
"$heapctl" gc --full
du -sh "$tmp/store"
run "$heapctl" space game
echo "  (checkpoint 1 holds the lines the damage overwrote; the restore made them live again: shared)"
run df -h "$mnt"
echo "  (used: the bytes stored, after dedup and compression)"
run "$heapctl" create small --quota 1M --line 64K
say "dd if=/dev/urandom of=$mnt/small/heap bs=64k count=32   # 2 MiB into a 1 MiB quota"
dd if=/dev/urandom of="$mnt/small/heap" bs=64k count=32 status=none 2>&1 | sed 's/^/  /' || true
say "grep -E '^(size|referenced|quota):' $mnt/small/stat"
grep -E '^(size|referenced|quota):' "$mnt/small/stat"
echo "  (refused at the write that would pass it: EDQUOT; everything before it is kept)"

echo
echo "== 3. two nodes: migration =="
# --rsh stands in for ssh here: it runs the far side's heapctl with a local
# shell, as sshd would on the other machine (the tests also go through a
# real sshd).
rsh="$(cd "$(dirname "$0")/.." && pwd)/tests/integration/testrsh plain"
run "$heapfs" "$tmp/store2" "$mnt2"
echo "  (node B: another daemon, another store)"
run mkdir "$mnt/world"
say "heap_app $mnt/world/heap 500   # a runtime maps a heap on node A"
coproc APP { "$app" "$mnt/world/heap" 500; }
app_pid=$APP_PID
read -r reply <&"${APP[0]}"; echo "  heap_app: $reply"
ask "watch $mnt/world/events"
ask bump
say "heapctl migrate world localhost:$mnt2 --rsh '$rsh'"
"$heapctl" migrate world "localhost:$mnt2" --rsh "$rsh" --heapctl-path "$heapctl"
ask "wait migrated"
echo "  (the runtime hears where its heap went, and maps it there)"
ask "remap $mnt2/world/heap"
ask check
ask "watch $mnt2/world/events"
ask "bump 8"
echo "  (the runtime changes 8 records on node B: 3 of the heap's 188 lines)"
say "echo x | dd of=$mnt/world/heap conv=notrunc   # node A gave its lease away"
echo x | dd of="$mnt/world/heap" conv=notrunc status=none 2>&1 | sed 's/^/  /' || true
run grep -E '^(state|lease|moved_to):' "$mnt/world/stat"
say "heapctl -m $mnt2 migrate world localhost:$mnt --rsh '$rsh'   # and back"
"$heapctl" -m "$mnt2" migrate world "localhost:$mnt" --rsh "$rsh" --heapctl-path "$heapctl"
echo "  (back: only the lines changed on B travel; A holds the rest)"
ask "wait migrated"
ask "remap $mnt/world/heap"
ask check
echo quit >&"${APP[1]}"
wait "$app_pid"
app_pid=
run fusermount3 -u "$mnt2"
run fusermount3 -u "$mnt"
echo

echo "== 4. the pool: a runtime gives space back through its balloon =="
run "$heapfs" -o pool=48M,cache=32M "$tmp/store3" "$mnt3"
export HEAPFS_MOUNT=$mnt3
run mkdir "$mnt3/cache" "$mnt3/batch"
say "head -c 32M /dev/urandom > $mnt3/cache/heap   # a runtime's heap, half of it garbage"
head -c 32M /dev/urandom >"$mnt3/cache/heap"
run sh -c "echo 'freeable 16777216' > $mnt3/cache/balloon"
# The runtime: reads its balloon, punches holes from the top of its heap
# until the pool's target is met (a real one polls the file; see the tests).
runtime() {
	local top=$((32 << 20)) target current give
	while :; do
		target=$(awk '$1 == "target:" { print $2 }' "$mnt3/cache/balloon")
		current=$(awk '$1 == "current:" { print $2 }' "$mnt3/cache/balloon")
		if [ "$target" -gt "$current" ] && [ "$top" -gt $((16 << 20)) ]; then
			give=$(( (target - current + 65535) / 65536 * 65536 ))
			[ $give -gt $((top - (16 << 20))) ] && give=$((top - (16 << 20)))
			top=$((top - give))
			fallocate -p -o "$top" -l "$give" "$mnt3/cache/heap"
			echo "  runtime: asked for $((target - current)) bytes, punched $give"
		fi
		sleep 0.05
	done
}
runtime &
rt_pid=$!
say "head -c 24M /dev/urandom > $mnt3/batch/heap   # 56 MiB into a 48 MiB pool"
head -c 24M /dev/urandom >"$mnt3/batch/heap"
sync "$mnt3/batch/heap"
echo "  (written: the pool asked the runtime, most borrowed first, before refusing)"
kill "$rt_pid"; wait "$rt_pid" 2>/dev/null || true
rt_pid=
run cat "$mnt3/cache/balloon"
run "$heapctl" pool
run fusermount3 -u "$mnt3"
echo
echo "demo: done"
