#!/usr/bin/env bash
# Creates N containers, then deletes them: the cost of many containers side by side.
# usage: batch.sh RUNTIME ROOT ID_PREFIX BUNDLE_PREFIX N
#   container i (1..N) is ID_PREFIX-i with bundle BUNDLE_PREFIXi (each has its own cgroupsPath)
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: batch.sh RUNTIME ROOT ID_PREFIX BUNDLE_PREFIX N" >&2; exit 2; }
runtime=$1 root=$2 prefix=$3 bundles=$4 n=$5
for ((i = 1; i <= n; i++)); do
  "$runtime" --root "$root" create --bundle "$bundles$i" "$prefix-$i" </dev/null >/dev/null
done
for ((i = 1; i <= n; i++)); do
  "$runtime" --root "$root" delete --force "$prefix-$i" >/dev/null
done
