#!/usr/bin/env bash
# Waits until every member of a swiftlet warm pool is created again (the refill that
# `pool start` leaves running in the background), so that a timed `pool start` finds a full
# pool and does not compete with the refill for the CPU.
# usage: pool-ready.sh SWIFTLET ROOT NAME SIZE BUNDLE [drain]
#   drain: then delete the pool (after the series; the refill must not outlive the drain)
set -euo pipefail
[ $# -eq 5 ] || [ $# -eq 6 ] || { echo "usage: pool-ready.sh SWIFTLET ROOT NAME SIZE BUNDLE [drain]" >&2; exit 2; }
swiftlet=$1 root=$2 name=$3 size=$4 bundle=$5

all_created() {
  local i status
  for ((i = 0; i < size; i++)); do
    status=$("$swiftlet" --root "$root" state "$name-$i" 2>/dev/null | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$' | tr -d '"') || return 1
    [ "$status" = created ] || return 1
  done
}
ready() {
  for _ in $(seq 500); do
    all_created && return 0
    sleep 0.01
  done
  # The refill did not finish in 5 s: fill synchronously (it skips members that are created).
  "$swiftlet" --root "$root" pool fill --bundle "$bundle" --size "$size" "$name" >/dev/null 2>&1 || true
  all_created || { echo "pool-ready.sh: pool $name is not full" >&2; return 1; }
}
if [ "${6:-}" = drain ]; then
  ready || true
  exec "$swiftlet" --root "$root" pool drain "$name"
fi
ready
