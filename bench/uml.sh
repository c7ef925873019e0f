#!/usr/bin/env bash
# The UML tier in one run, beside a namespace container of the same binary (and crun when
# installed): create -> process running (cold, p50 of RUNS), host memory of an idle UML
# container (PSS of its whole process tree plus its guest-RAM tmpfs), and the ratio of a
# syscall-heavy and a CPU-bound loop to the namespace container.
#   usage (as root): bash bench/uml.sh [/abs/path/to/swiftlet]   RUNS=N (default 10)
# Uses the busybox test bundle (scripts/make-bundle.sh) in a temp dir of its own.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
swiftlet=${1:-$top/dist/swiftlet}
runs=${RUNS:-10}
[ "$(id -u)" = 0 ] || { echo "bench/uml.sh: run as root" >&2; exit 1; }
work=$(mktemp -d /tmp/swiftlet-bench-uml.XXXXXX)
root=$work/state
trap 'for id in $(ls "$root" 2>/dev/null); do "$swiftlet" --root "$root" delete --force "$id" >/dev/null 2>&1 || true; done; rm -rf --one-file-system "$work"' EXIT
bash "$top/scripts/make-bundle.sh" "$work/bundle" "$swiftlet" >/dev/null

# $1: isolation ("uml" or "namespaces"), $2: shell script: writes config.json.
config() {
  python3 - "$work/bundle/config.json" "$1" "$2" <<'PY'
import json, sys
path, mode, script = sys.argv[1:]
c = json.load(open(path))
c["process"]["args"] = ["sh", "-c", script]
c["root"]["readonly"] = False
c.setdefault("annotations", {})["org.swiftlet.isolation"] = mode
json.dump(c, open(path, "w"))
PY
}
ms() { echo $(( ($2 - $1) / 1000000 )); }
p50() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# create -> running: `create` then `start` until the process has written its marker.
startup() { # $1 mode
  config "$1" 'echo up > /tmp/up; sync; sleep 1000'
  for i in $(seq "$runs"); do
    rm -f "$work/bundle/rootfs/tmp/up"
    t0=$(date +%s%N)
    "$swiftlet" --root "$root" create --bundle "$work/bundle" b$i >/dev/null
    "$swiftlet" --root "$root" start b$i
    while [ ! -e "$work/bundle/rootfs/tmp/up" ]; do sleep 0.002; done
    t1=$(date +%s%N)
    ms "$t0" "$t1"
    "$swiftlet" --root "$root" delete --force b$i
  done | p50
}

# PSS (kB) of every process of the container's cgroup, plus the guest RAM its tmpfs holds.
idle_memory() {
  config uml 'sleep 1000'
  "$swiftlet" --root "$root" create --bundle "$work/bundle" mem >/dev/null
  "$swiftlet" --root "$root" start mem
  sleep 3
  pid=$("$swiftlet" --root "$root" state mem | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
  cg=$(awk -F: '$2=="pids"{print $3}' /proc/$pid/cgroup)
  pss=0
  for p in $(cat /sys/fs/cgroup/pids$cg/cgroup.procs); do
    v=$(awk '/^Pss:/{s+=$2} END{print s+0}' /proc/$p/smaps_rollup 2>/dev/null || echo 0)
    pss=$((pss + v))
  done
  uml=$(cat /sys/fs/cgroup/pids$cg/cgroup.procs | sed -n 2p)
  shmem=$(awk '/^RssShmem:/{print $2}' /proc/$uml/status)
  echo "$pss $shmem"
  "$swiftlet" --root "$root" delete --force mem
}

# Seconds (ms) a workload takes in the container, from start to exit (`run`).
workload() { # $1 mode $2 script
  config "$1" "$2"
  t0=$(date +%s%N)
  "$swiftlet" --root "$root" run --bundle "$work/bundle" w >/dev/null
  t1=$(date +%s%N)
  ms "$t0" "$t1"
}
syscalls='i=0; while [ $i -lt 20000 ]; do i=$((i+1)); : < /dev/null; done'
cpu='i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'

ns_start=$(startup namespaces)
uml_start=$(startup uml)
read -r pss shmem < <(idle_memory)
sys_ns=$(workload namespaces "$syscalls"); sys_uml=$(workload uml "$syscalls")
cpu_ns=$(workload namespaces "$cpu"); cpu_uml=$(workload uml "$cpu")
boot=$(workload uml 'true')

echo "| what | namespace container | UML tier |"
echo "|---|---|---|"
echo "| create -> running, p50 of $runs (ms) | $ns_start | $uml_start |"
echo "| run of \`true\` (boot + exit, ms) | | $boot |"
echo "| idle container: PSS of the tree + its guest RAM resident in tmpfs (kB) | | $pss (of which shmem $shmem) |"
echo "| syscall-heavy loop, run (ms) | $sys_ns | $sys_uml ($(awk "BEGIN{printf \"%.1f\", $sys_uml/$sys_ns}")x) |"
echo "| CPU-bound loop, run (ms) | $cpu_ns | $cpu_uml ($(awk "BEGIN{printf \"%.1f\", $cpu_uml/$cpu_ns}")x) |"
