#!/usr/bin/env bash
# Rootless numbers, as an unprivileged user of this run's own (e2e/rootless/user.sh), removed
# afterwards. Not a test: prints numbers. Root starts it (to make the user and the agent).
#   1. `run` of /bin/true by swiftlet, crun and runc, rootless, in one hyperfine run (ratios);
#   2. the agent's round trip for a rootless container's notified mknod: denied (no helper
#      involved) and performed (p50/p99, bench/agent/notify-helper.c), with this binary and,
#      given BASELINE=/path/to/an-older-swiftlet, the same for root's containers beside it
#      (the older one answering as before; see SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP in
#      docs/rootless.md).
#      SYNC_WAKE="on off" runs the round trips once per word, the second time with
#      SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP cleared on the agent's notify fd (bench/agent/syncwake.c).
#      AGENT_PREFIX="strace -c -f -o FILE" runs the agent under that command (a profile).
#      Without it, the agent's CPU time per call (denied and performed alike) follows.
#   usage: bench/rootless.sh [SWIFTLET]      env: RUNS (default 50), CALLS (default 10000),
#                                                 SYNC_WAKE (default "on": as the agent sets it)
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$bench")
swiftlet=$(realpath "${1:-$top/dist/swiftlet}")
runs=${RUNS:-50}
calls=${CALLS:-10000}
AGENT_PREFIX=${AGENT_PREFIX:-}
[ "$(id -u)" = 0 ] || { echo "bench/rootless.sh: run as root (it creates the test user)" >&2; exit 1; }

# As bench/run.sh: crun 1.8 refuses every container on a hybrid layout whose cgroup2 holds
# a controller; all runtimes run in a private mount namespace without that mount.
unified=/sys/fs/cgroup/unified
if [ -z "${SWIFTLET_BENCH_INNER:-}" ] && [ -n "$(tr -d ' \n' < $unified/cgroup.controllers 2>/dev/null)" ]; then
  export SWIFTLET_BENCH_INNER=1
  exec unshare --mount --propagation private -- bash -c 'umount '$unified' && exec bash "$0" "$@"' "${BASH_SOURCE[0]}" "$@"
fi

. "$top/e2e/rootless/user.sh"
work=$(mktemp -d /tmp/swiftlet-bench-rootless-$$.XXXXXX)
agent_pid=
cleanup() {
  [ -z "$agent_pid" ] || { kill "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null || true; }
  rootless_user_teardown
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
rootless_user_setup "$work"
cp "$swiftlet" "$work/swiftlet" && chmod 755 "$work/swiftlet"
bash "$top/scripts/make-bundle.sh" "$work/bundle" "$swiftlet" >/dev/null
rm -f "$work/bundle/config.json"
chown -R "$RL_UID:$RL_GID" "$work/bundle"
cd "$work/bundle"
as_user "$work/swiftlet" spec --rootless
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["ociVersion"] = "1.0.2-dev"   # crun 1.8 knows no later version
json.dump(c, open("config.json", "w"))
PY

echo "== rootless run of /bin/true, $runs runs each, as $RL_USER ($(nproc) CPUs, $(uname -r))"
# Each runtime once first: the checks below must not time failures.
for rt in "$work/swiftlet" /usr/bin/crun /usr/sbin/runc; do
  as_user "$rt" run warm-$$ >/dev/null 2>&1 || { echo "$rt cannot run rootless here:"; as_user "$rt" run warm-$$; exit 1; }
done
# swiftlet's one warning line (no cgroup) goes to /dev/null with the rest of its output.
as_user hyperfine -N -w 5 -r "$runs" --export-json "$RL_XDG/run.json" \
  -n swiftlet "$work/swiftlet run r-$$" -n crun "/usr/bin/crun run r-$$" -n runc "/usr/sbin/runc run r-$$" >/dev/null
python3 - "$RL_XDG/run.json" <<'PY'
import json, sys, statistics
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
base = statistics.median(r["swiftlet"]["times"])
print("| runtime | median | mean ± sd | vs swiftlet |")
print("|---|---|---|---|")
for name in ("swiftlet", "crun", "runc"):
    t = r[name]["times"]
    print("| %s | %.2f ms | %.2f ± %.2f ms | %.2f |" % (name, statistics.median(t) * 1e3, statistics.mean(t) * 1e3,
                                                  statistics.stdev(t) * 1e3, statistics.median(t) / base))
PY

echo "== agent round trip for a rootless container, $calls calls each"
cc -static -O2 -pthread -o "$work/bundle/rootfs/notify-helper" "$bench/agent/notify-helper.c"
mkdir -p "$work/agent" && chmod 755 "$work/agent"
cat > "$work/agent/policy.json" <<JSON
{"containers": [{"match": {"users": [$RL_UID]}, "mknod": [{"type": "p", "path": "/tmp"}]}]}
JSON
$AGENT_PREFIX "$swiftlet" agent --socket "$work/agent/root.sock" --user-socket "$work/agent/user.sock" \
  --policy "$work/agent/policy.json" --log /dev/null &
agent_pid=$!
for _ in $(seq 100); do [ -S "$work/agent/user.sock" ] && break; sleep 0.02; done
cc -O2 -o "$work/syncwake" "$bench/agent/syncwake.c"
python3 - "$work/agent/user.sock" "$calls" <<'PY'
import json, sys
c = json.load(open("config.json"))
# A pause first: time for syncwake to change the flag once the container is attached.
c["process"]["args"] = ["/bin/sh", "-c", "sleep 0.5; exec /notify-helper bench " + sys.argv[2] + " /tmp/node"]
c["root"]["readonly"] = False
# /tmp on a tmpfs of the container's own, as in bench/agent/run.sh for root's containers.
c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sys.argv[1],
                         "syscalls": [{"names": ["mknod", "mknodat"], "action": "SCMP_ACT_NOTIFY"}]}
json.dump(c, open("config.json", "w"))
PY
for mode in ${SYNC_WAKE:-on}; do
  echo "-- SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP $mode"
  # The previous container's fd must be gone first (detached), or syncwake would take it.
  for _ in $(seq 100); do ls -l /proc/$agent_pid/fd | grep -q 'seccomp notify' || break; sleep 0.02; done
  "$work/syncwake" "$agent_pid" "$mode" 5000 >/dev/null &
  cpu0=$(cut -d' ' -f1 /proc/$agent_pid/schedstat)
  as_user "$work/swiftlet" run agent-$$ 2>/dev/null
  cpu1=$(cut -d' ' -f1 /proc/$agent_pid/schedstat)
  wait $! || echo "syncwake found no notify fd"
  # The agent's own CPU time (schedstat) for the run's 2 x CALLS calls and its attach: less
  # sensitive to the machine's load than the round trips.
  [ -n "$AGENT_PREFIX" ] || echo "agent cpu_ns_per_call=$(( (cpu1 - cpu0) / (2 * calls) ))"
done
if [ -n "${BASELINE:-}" ]; then
  echo "== root's containers (bench/agent/run.sh): $BASELINE, then $swiftlet"
  CALLS=$calls bash "$bench/agent/run.sh" "$BASELINE" "$work/bundle/rootfs" | grep -E '^(denied|performed)'
  CALLS=$calls bash "$bench/agent/run.sh" "$swiftlet" "$work/bundle/rootfs" | grep -E '^(denied|performed)'
fi
