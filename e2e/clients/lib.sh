# Sourced by the client tests: a tiny assertion library and shared helpers.
# Every check prints one line; `finish` prints "N passed, M failed" and returns non-zero on a
# failure. Checks never stop the script: a broken client step shows up as failed checks.

passed=0
failed=0
skipped=0
failed_names=()

pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() {
  failed=$((failed + 1)); failed_names+=("$1")
  echo "FAIL $1"
  [ $# -lt 2 ] || printf '%s\n' "$2" | head -20 | sed 's/^/       /'
}

# skip NAME REASON: a check this host cannot make.
skip() { skipped=$((skipped + 1)); echo "skip $1: $2"; }

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected: $(printf %q "$2")"$'\n'"actual:   $(printf %q "$3")"; fi
}
# expect_match NAME REGEX ACTUAL (extended regex, anywhere in ACTUAL). A here-string, not a
# pipe: under pipefail, grep -q leaving early would fail a long ACTUAL's writer with SIGPIPE.
expect_match() {
  if grep -qE -- "$2" <<<"$3"; then pass "$1"; else fail "$1" "expected to match: $2"$'\n'"actual: $3"; fi
}
# expect_no_match NAME REGEX ACTUAL
expect_no_match() {
  if grep -qE -- "$2" <<<"$3"; then fail "$1" "must not match: $2"$'\n'"actual: $3"; else pass "$1"; fi
}
# expect_exit NAME CODE COMMAND...: runs COMMAND, compares its exit status.
expect_exit() {
  local name=$1 want=$2 out status
  shift 2
  out=$("$@" 2>&1); status=$?
  if [ "$status" = "$want" ]; then pass "$name"; else fail "$name" "exit $status, expected $want: $*"$'\n'"$out"; fi
}
# expect_ok NAME COMMAND...: COMMAND must exit 0.
expect_ok() { local name=$1; shift; expect_exit "$name" 0 "$@"; }
# expect_fail NAME COMMAND...: COMMAND must exit non-zero.
expect_fail() {
  local name=$1 out status
  shift
  out=$("$@" 2>&1); status=$?
  if [ "$status" != 0 ]; then pass "$name"; else fail "$name" "succeeded, expected a failure: $*"$'\n'"$out"; fi
}

# finish SUITE: the closing line; the status is non-zero if any check failed.
finish() {
  [ $failed -eq 0 ] || echo "$1: failed checks: ${failed_names[*]}"
  echo "$1: $passed passed, $failed failed, $skipped skipped"
  [ $failed -eq 0 ]
}

# wait_for SECONDS COMMAND...: retries COMMAND every 0.1 s until it succeeds or time is up.
wait_for() {
  local deadline=$(( $(date +%s) + $1 ))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# require_runtime PATH: the runtime under test must be an absolute path to an executable.
require_runtime() {
  case ${1:-} in /*) ;; *) echo "usage: $0 /absolute/path/to/swiftlet" >&2; exit 2 ;; esac
  [ -x "$1" ] || { echo "$0: $1 is not executable" >&2; exit 2; }
  [ "$(id -u)" = 0 ] || { echo "$0: run as root" >&2; exit 2; }
}

# cgroup_v1_dir CONTROLLER PID: the host path of PID's cgroup for a v1 controller.
cgroup_v1_dir() {
  local rel
  rel=$(awk -F: -v c="$1" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$2/cgroup" | head -1)
  [ -n "$rel" ] || return 1
  echo "/sys/fs/cgroup/$1$rel"
}

# containerd_config WORK EXTRA: writes WORK/containerd.toml for a containerd whose every path
# (root, state, sockets) lies under WORK; EXTRA (TOML: the CRI plugin's settings) is appended,
# and without it the CRI plugin is disabled.
containerd_config() {
  cat > "$1/containerd.toml" <<TOML
version = 2
root = "$1/root"
state = "$1/state"
# The opt plugin would install into /opt/containerd.
disabled_plugins = ["io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"$([ "${2:-}" ] || echo ', "io.containerd.grpc.v1.cri"')]
[grpc]
  address = "$1/containerd.sock"
[ttrpc]
  address = "$1/containerd.sock.ttrpc"
[debug]
  address = "$1/debug.sock"
$2
TOML
}

containerd_pid=
run_dirs_made=()
# start_containerd WORK: starts containerd with WORK/containerd.toml, logs to WORK/containerd.log.
start_containerd() {
  # ctr and the shims use fixed paths in containerd 1.6: fifos in /run/containerd/fifo,
  # shim sockets in /run/containerd/s. Those this run makes are removed at the end.
  local dir
  for dir in /run/containerd/fifo /run/containerd/s /run/containerd; do
    [ -e "$dir" ] || run_dirs_made+=("$dir")
  done
  containerd --config "$1/containerd.toml" >"$1/containerd.log" 2>&1 &
  containerd_pid=$!
  wait_for 30 ctr --address "$1/containerd.sock" version ||
    { echo "containerd did not come up:"; tail -20 "$1/containerd.log"; return 1; }
}
# stop_containerd WORK NAMESPACE...: removes every task and container of NAMESPACE, stops
# containerd and the shims it started, unmounts what is left below WORK, removes WORK and the
# cgroups and shim socket directory this run created.
stop_containerd() {
  local work=$1 ns id pidfile pid dir
  shift
  local c="ctr --address $work/containerd.sock"
  if [ -n "$containerd_pid" ] && kill -0 "$containerd_pid" 2>/dev/null; then
    for ns in "$@"; do
      for id in $($c -n "$ns" tasks ls -q 2>/dev/null); do
        $c -n "$ns" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1
      done
      for id in $($c -n "$ns" tasks ls -q 2>/dev/null); do
        wait_for 5 sh -c "$c -n $ns tasks ls | grep -q \"^$id .*STOPPED\""
        $c -n "$ns" tasks rm -f "$id" >/dev/null 2>&1
      done
      for id in $($c -n "$ns" containers ls -q 2>/dev/null); do
        $c -n "$ns" containers rm "$id" >/dev/null 2>&1
      done
    done
    kill "$containerd_pid" 2>/dev/null
    wait "$containerd_pid" 2>/dev/null
  fi
  # Shims outlive containerd by design: end the ones of this run, by their recorded pid.
  for pidfile in "$work"/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    [ -n "$pid" ] && grep -q containerd-shim "/proc/$pid/cmdline" 2>/dev/null && kill -9 "$pid"
  done
  awk -v w="$work/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  for ns in "$@"; do
    for dir in /sys/fs/cgroup/*/"$ns"; do
      [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
    done
  done
  for dir in "${run_dirs_made[@]}"; do rmdir "$dir" 2>/dev/null; done
  rm -rf --one-file-system "$work"
}

# uml_unavailable RUNTIME: prints why this host cannot run the UML tier (the detail of
# `swiftlet check`'s isolation.uml probe) and succeeds; fails (prints nothing) when it can.
uml_unavailable() {
  local report
  report=$("$1" check --format json 2>&1) || true
  python3 - "$report" <<'PY'
import json, sys
try:
    probes = json.loads(sys.argv[1])["probes"]
except Exception as e:
    print("swiftlet check --format json: %s" % e)
    sys.exit(0)
uml = [p for p in probes if p.get("name") == "isolation.uml"]
if uml and uml[0].get("available"):
    sys.exit(1)
print(uml[0].get("detail", "unavailable") if uml else "swiftlet check reports no isolation.uml probe")
PY
}
