#!/usr/bin/env bash
# Puts one container into a known state before a timed command (hyperfine --prepare).
# usage: lifecycle.sh RUNTIME ROOT ID BUNDLE absent|created|stopped
#   absent   no container ID exists (force-deletes a leftover)
#   created  ID is created and waits on its exec fifo
#   stopped  ID was started and its process has exited
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: lifecycle.sh RUNTIME ROOT ID BUNDLE absent|created|stopped" >&2; exit 2; }
runtime=$1 root=$2 id=$3 bundle=$4 want=$5

"$runtime" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
[ "$want" = absent ] && exit 0

"$runtime" --root "$root" create --bundle "$bundle" "$id" </dev/null >/dev/null
[ "$want" = created ] && exit 0

"$runtime" --root "$root" start "$id" </dev/null >/dev/null
# The process is /bin/true: wait (at most 10 s) until the runtime reports it gone.
for _ in $(seq 1000); do
  status=$("$runtime" --root "$root" state "$id" 2>/dev/null | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$' | tr -d '"') || true
  [ "$status" = stopped ] && exit 0
  sleep 0.01
done
echo "lifecycle.sh: $id did not stop (status: ${status:-unknown})" >&2
exit 1
