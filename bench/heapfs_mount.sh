# bench/heapfs_mount.sh - sourced by the benchmarks that run one heapfs
# daemon at a time (gc.sh, pool.sh): mount it on a new store, unmount it
# and wait for (or end) its daemon by its PID, drop the store.
# Uses $heapfs, $stores (stores and mount points), $tmp (logs) and $me
# (the script's name, for messages); sets mnt, store and pid.

# Mount heapfs on a new store $stores/NAME.  Usage: mount_heapfs NAME [heapfs options...]
mount_heapfs() {
	local name=$1 n
	shift
	mnt=$stores/$name.mnt
	store=$stores/$name.store
	mkdir -p "$mnt"
	"$heapfs" -f "$@" "$store" "$mnt" >"$tmp/$name.log" 2>&1 &
	pid=$!
	for ((n = 0; n < 100; n++)); do
		mountpoint -q "$mnt" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "$me: heapfs $* did not mount:" >&2
	cat "$tmp/$name.log" >&2
	exit 1
}

# Unmount the mount (if any) and wait for (or end) its daemon.
unmount_heapfs() {
	local n
	[ -n "$pid" ] || return 0
	if mountpoint -q "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null
	fi
	for ((n = 0; n < 300; n++)); do         # it flushes its cache: 30 s
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}

# Unmount and remove the store.  Usage: drop_heapfs
drop_heapfs() {
	unmount_heapfs
	rm -rf "$store" "$mnt"
}
