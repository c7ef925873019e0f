#!/usr/bin/env bash
# Guest kernel round trips of one UML-tier create and one fast start, counted on the host:
# every guest system call and page fault stops the guest process and the UML kernel resumes
# it with ptrace(PTRACE_SYSEMU); every change to its host address space runs the stub
# (PTRACE_CONT). perf counts the UML kernel's ptrace calls by request and target; a target is
# one guest address space (the guest's init, the container's init, each program it executes).
# Unlike a time, the counts do not depend on the machine's load.
#   usage (as root): bash bench/uml-stops.sh [/abs/path/to/swiftlet]   (needs perf)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
swiftlet=$(readlink -f "${1:-$top/dist/swiftlet}")
kernel=$(readlink -f "${KERNEL:-$top/dist/uml/linux-tier}")
[ "$(id -u)" = 0 ] || { echo "bench/uml-stops.sh: run as root" >&2; exit 1; }
command -v perf >/dev/null || { echo "bench/uml-stops.sh: needs perf" >&2; exit 1; }
work=$(mktemp -d /tmp/swiftlet-bench-stops.XXXXXX)
cleanup() { "$swiftlet" --root "$work/state" delete --force s >/dev/null 2>&1 || true; rm -rf --one-file-system "$work"; }
trap cleanup EXIT
bash "$top/scripts/make-bundle.sh" "$work/bundle" "$swiftlet" >/dev/null
gcc -static -nostdlib -O2 -fno-stack-protector -o "$work/bundle/rootfs/bin/up" "$top/bench/lib/up.c"
python3 - "$work/bundle/config.json" "$kernel" <<'PY'
import json, sys
path, kernel = sys.argv[1:]
c = json.load(open(path))
c["process"]["args"] = ["sh", "-c", "exec sleep 1000"]
c["root"]["readonly"] = False
c.setdefault("annotations", {}).update({"org.swiftlet.isolation": "uml", "org.swiftlet.uml.kernel": kernel})
json.dump(c, open(path, "w"))
PY
# The fast start's process: bench/lib/up.c (one page, no C library), or with START=sh busybox
# `sh -c` making the same marker.
if [ "${START:-up}" = sh ]; then start_args="--arg sh --arg -c --arg 'echo up > /tmp/up; exec sleep 1000'"; else start_args="--arg /bin/up"; fi
# create, a pause (the phases are told apart by it), then a fast start of the bench's process.
perf record -q -m 8M -e raw_syscalls:sys_enter --filter 'id == 101' -a -o "$work/perf.data" -- bash -c "
  '$swiftlet' --root '$work/state' create --bundle '$work/bundle' s >/dev/null </dev/null
  sleep 0.5
  '$swiftlet' --root '$work/state' start s $start_args
  sleep 0.5" >/dev/null 2>&1
perf script -i "$work/perf.data" -F comm,time,trace 2>/dev/null | awk '
  $1 != "linux-tier" { next }
  { t = $2; sub(":", "", t); req = $5; gsub("[(,]", "", req); pid = $6; gsub(",", "", pid)
    if (req != "1f" && req != "7") next
    if (last && t - last > 0.3) phase = 1
    last = t
    k = (phase ? "start" : "create") " " pid
    if (!(k in seen)) { seen[k] = 1; order[++n] = k }
    if (req == "1f") stops[k]++; else stubs[k]++ }
  END {
    print "| phase | guest address space (UML host pid) | stops (system calls, faults) | stub runs |"
    print "|---|---|---|---|"
    for (i = 1; i <= n; i++) { k = order[i]; split(k, p, " "); printf "| %s | 0x%s | %d | %d |\n", p[1], p[2], stops[k], stubs[k] } }'
