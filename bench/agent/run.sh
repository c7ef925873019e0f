#!/bin/bash
# Latency of a notified system call answered by `swiftlet agent`, and the agent's RSS with
# 10 containers attached. Root only. Not a test: prints numbers.
#   bench/agent/run.sh [SWIFTLET_BINARY] [ROOTFS]
# Defaults: $SWIFTLET_BINARY or dist/swiftlet; the busybox rootfs of /tmp/bb.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
swiftlet=$(realpath "${1:-${SWIFTLET_BINARY:-$here/../../dist/swiftlet}}")
rootfs=${2:-/tmp/bb/rootfs}
calls=${CALLS:-10000}
work=$(mktemp -d /tmp/swiftlet-agent-bench.XXXXXX)
chmod 755 "$work"  # the container root (a mapped uid) must reach its rootfs
state=/run/swiftlet-agent-bench-$$
agent_pid=
cleanup() {
    for i in $(seq 0 10); do "$swiftlet" --root "$state" delete --force "bench-$$-$i" >/dev/null 2>&1 || true; done
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
    rm -rf --one-file-system "$work" "$state"
}
trap cleanup EXIT

cc -static -O2 -pthread -o "$work/notify-helper" "$here/notify-helper.c"
cat > "$work/policy.json" <<'JSON'
{"containers": [
  {"match": {"id": "bench-*"},
   "mknod": [{"type": "p", "path": "/tmp"}, {"type": "c", "major": 1, "minor": 3, "path": "/dev"}]}
]}
JSON

bundle() { # id script
    local b="$work/$1"
    mkdir -p "$b"
    cp -a "$rootfs" "$b/rootfs"
    mkdir -p "$b/rootfs/tmp"
    cp "$work/notify-helper" "$b/rootfs/notify-helper"
    python3 - "$b/config.json" "$2" "$work/agent.sock" <<'PY'
import json, sys
path, script, sock = sys.argv[1:]
json.dump({
  "ociVersion": "1.3.0",
  "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", script], "cwd": "/",
              "env": ["PATH=/bin:/sbin:/usr/bin"], "noNewPrivileges": True},
  "root": {"path": "rootfs"},
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
             {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
             {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}],
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "user"}],
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
                "syscalls": [{"names": ["mknod", "mknodat", "mount"], "action": "SCMP_ACT_NOTIFY"}]}}
}, open(path, "w"))
PY
    echo "$b"
}

"$swiftlet" --root "$state" agent --socket "$work/agent.sock" --policy "$work/policy.json" --log /dev/null &
agent_pid=$!
for _ in $(seq 100); do [ -S "$work/agent.sock" ] && break; sleep 0.02; done

echo "== round trip of a notified mknod, $calls calls each (agent: $swiftlet)"
b=$(bundle "bench-$$-0" "/notify-helper bench $calls /tmp/node")
"$swiftlet" --root "$state" run --bundle "$b" "bench-$$-0"

echo "== agent RSS (Rss / Pss / private from smaps_rollup; helpers are the agent's children, one per container that had a call performed)"
rss() { awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Private_(Clean|Dirty):/ {u+=$2} END {print r " kB rss, " p " kB pss, " u " kB private"}' "/proc/$1/smaps_rollup"; }
helpers() { cat /proc/$agent_pid/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' || true; }
echo "idle:               $(rss $agent_pid)"
for i in $(seq 1 10); do
    b=$(bundle "bench-$$-$i" "mknod /tmp/p p; sleep 30")
    "$swiftlet" --root "$state" run -d --bundle "$b" "bench-$$-$i" >/dev/null
done
sleep 1
echo "10 containers:      $(rss $agent_pid) (fds: $(ls /proc/$agent_pid/fd | wc -l))"
n=0
for h in $(helpers); do
    n=$((n + 1))
    [ $n -le 2 ] && echo "helper $h:       $(rss $h)"
done
total=$(for h in $(helpers); do awk '/^Pss:/ {print $2}' /proc/$h/smaps_rollup; done | awk '{s+=$1} END {print s+0}')
echo "helpers:            $n, $total kB pss in all"
if [ -n "${SMAPS:-}" ]; then
    echo "== where the agent's RSS is (kB per mapping)"
    awk '/^[0-9a-f]+-[0-9a-f]+ / {range=$1; perm=$2; name=$6} /^Rss:/ {if ($2 > 0) printf "%6d  %s %s %s\n", $2, perm, range, name}' /proc/$agent_pid/smaps
fi
