#!/usr/bin/env bash
# make demo: runs heapfs's main job as far as it is built.  Today that is
# the store: heaps, checkpoints, old versions, dedup, a transaction, restore.
set -euo pipefail
build=${1:-build}
echo "== heapfs demo: the store =="
"$build/demo/heapstore_demo"
