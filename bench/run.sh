#!/usr/bin/env bash
# Run the store benchmark built in BUILD_DIR (default: build); builds nothing.
# Usage: bench/run.sh [BUILD_DIR] [--quick]   (or BENCH_QUICK=1)
# Stores go to a temporary directory under $TMPDIR (or /tmp), removed on exit
# even when the benchmark is interrupted.
set -euo pipefail

build=${1:-build}
[ $# -gt 0 ] && shift
bin=$build/bench/bench_store
if [ ! -x "$bin" ]; then
	echo "bench: $bin not found; build first (make bench)" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/heapfs-bench-run.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TMPDIR=$tmp "$bin" "$@"
