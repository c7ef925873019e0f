#!/bin/bash
# Latency of one container's notified calls while another floods the agent with identical
# denied calls (mknod in a loop), against the same without the flood; and how much log the
# flood leaves. Root only. Not a test: prints numbers.
#   bench/agent/flood.sh [SWIFTLET_BINARY] [ROOTFS]
# Defaults: $SWIFTLET_BINARY or dist/swiftlet; the busybox rootfs of /tmp/bb. CALLS (5000)
# round trips each; FLOODERS (1) flooding containers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
swiftlet=$(realpath "${1:-${SWIFTLET_BINARY:-$here/../../dist/swiftlet}}")
rootfs=${2:-/tmp/bb/rootfs}
calls=${CALLS:-5000}
flooders=${FLOODERS:-1}
work=$(mktemp -d /tmp/swiftlet-agent-flood.XXXXXX)
chmod 755 "$work"  # the container root (a mapped uid) must reach its rootfs
state=/run/swiftlet-agent-flood-$$
agent_pid=
ids=()
cleanup() {
    for id in "${ids[@]}"; do "$swiftlet" --root "$state" delete --force "$id" >/dev/null 2>&1 || true; done
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
    rm -rf --one-file-system "$work" "$state"
}
trap cleanup EXIT

cc -static -O2 -pthread -o "$work/notify-helper" "$here/notify-helper.c"
cat > "$work/policy.json" <<'JSON'
{"containers": [
  {"match": {"id": "served-*"}, "mknod": [{"type": "p", "path": "/tmp"}]}
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
                "syscalls": [{"names": ["mknod", "mknodat"], "action": "SCMP_ACT_NOTIFY"}]}}
}, open(path, "w"))
PY
    echo "$b"
}

log_size() { local s=0; for f in "$work/agent.log" "$work/agent.log.1"; do [ -f "$f" ] && s=$((s + $(stat -c %s "$f"))); done; echo $s; }
logs() { for f in "$work/agent.log.1" "$work/agent.log"; do [ -f "$f" ] && cat "$f"; done; true; }
log_lines() { logs | wc -l; }

"$swiftlet" --root "$state" agent --socket "$work/agent.sock" --policy "$work/policy.json" --log "$work/agent.log" &
agent_pid=$!
for _ in $(seq 100); do [ -S "$work/agent.sock" ] && break; sleep 0.02; done

echo "== served container alone: $calls denied and $calls performed mknod round trips (agent: $swiftlet)"
ids+=("served-$$-0")
b=$(bundle "served-$$-0" "/notify-helper bench $calls /tmp/node")
"$swiftlet" --root "$state" run --bundle "$b" "served-$$-0"

for i in $(seq 1 "$flooders"); do
    ids+=("flood-$$-$i")
    b=$(bundle "flood-$$-$i" "/notify-helper flood 0")
    "$swiftlet" --root "$state" run -d --bundle "$b" "flood-$$-$i" >/dev/null
done
sleep 1
before=$(log_size); lines_before=$(log_lines); t0=$(date +%s.%N)
echo "== the same while $flooders container(s) flood (identical denied mknod in a loop)"
ids+=("served-$$-1")
b=$(bundle "served-$$-1" "/notify-helper bench $calls /tmp/node")
"$swiftlet" --root "$state" run --bundle "$b" "served-$$-1"
t1=$(date +%s.%N)
after=$(log_size); lines_after=$(log_lines)
flooded=$(logs | grep '"container":"flood-' \
    | python3 -c 'import sys, json; print(sum(json.loads(l).get("times", 1) for l in sys.stdin if "\"decision\"" in l))')
echo "flood: $flooded calls in the log so far (the current second's are summarized when it ends); log grew $((after - before)) bytes, $((lines_after - lines_before)) lines in $(python3 -c "print(round($t1 - $t0, 2))") s"
echo "agent CPU (utime+stime, s): $(awk '{print ($14 + $15) / 100}' /proc/$agent_pid/stat)"
