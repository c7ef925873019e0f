#!/usr/bin/env bash
# Waits until a swiftlet warm pool holds SIZE created members again (the refill that
# `pool start` leaves running in the background), so that a timed `pool start` finds a full
# pool and does not compete with the refill for the CPU.
# usage: pool-ready.sh SWIFTLET ROOT NAME SIZE BUNDLE [drain]
#   drain: then delete the pool (after the series; the refill must not outlive the drain)
set -euo pipefail
[ $# -eq 5 ] || [ $# -eq 6 ] || { echo "usage: pool-ready.sh SWIFTLET ROOT NAME SIZE BUNDLE [drain]" >&2; exit 2; }
swiftlet=$1 root=$2 name=$3 size=$4 bundle=$5

# Members are NAME-<number>; the numbers are not necessarily 0..SIZE-1.
created_members() {
  local id status count=0
  for id in $("$swiftlet" --root "$root" list -q 2>/dev/null); do
    [[ $id =~ ^$name-[0-9]+$ ]] || continue
    status=$("$swiftlet" --root "$root" state "$id" 2>/dev/null | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$' | tr -d '"') || continue
    [ "$status" = created ] && count=$((count + 1))
  done
  echo "$count"
}
ready() {
  for _ in $(seq 500); do
    [ "$(created_members)" -ge "$size" ] && return 0
    sleep 0.01
  done
  # The refill did not finish in 5 s: fill synchronously.
  "$swiftlet" --root "$root" pool fill --bundle "$bundle" --size "$size" "$name" >/dev/null 2>&1 || true
  [ "$(created_members)" -ge "$size" ] || { echo "pool-ready.sh: pool $name is not full" >&2; return 1; }
}
if [ "${6:-}" = drain ]; then
  ready || true
  exec "$swiftlet" --root "$root" pool drain "$name"
fi
ready
