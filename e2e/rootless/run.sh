#!/usr/bin/env bash
# Rootless containers: a real unprivileged user of this run (user.sh) drives swiftlet through
# the whole lifecycle, id mappings (own id, newuidmap/newgidmap), cgroups on this host's v1
# layout (none, then a directory root delegated), and the agent performing mount and mknod
# for its containers (agent.sh). Run as root; ends with "rootless: N passed, M failed".
#   usage: e2e/rootless/run.sh /abs/path/to/swiftlet
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../clients/lib.sh"
. "$here/user.sh"
runtime=${1:-}
[ -n "$runtime" ] && [ -x "$runtime" ] || { echo "usage: run.sh /abs/path/to/swiftlet" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (it creates the test user)" >&2; exit 2; }
for tool in useradd runuser newuidmap newgidmap python3; do
  command -v $tool >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 2; }
done

work=$(mktemp -d /tmp/swiftlet-rootless-$$.XXXXXX)
delegated=swiftlet-rl-$$       # the cgroup directory root delegates to the user (v1 and unified)
cleanup() {
  if [ -n "${RL_MADE_USER:-}" ]; then
    for id in $(as_user "$runtime" list -q 2>/dev/null); do as_user "$runtime" delete -f "$id" >/dev/null 2>&1; done
  fi
  [ -z "${agent_cleanup:-}" ] || $agent_cleanup
  rootless_user_teardown
  local dir
  for dir in /sys/fs/cgroup/*/"$delegated"; do
    [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

rootless_user_setup "$work" || { echo "run.sh: cannot create the test user" >&2; exit 1; }
echo "== rootless as $RL_USER (uid $RL_UID, subuid $RL_SUBUID, subgid $RL_SUBGID) with $runtime"
bash "$here/../../scripts/make-bundle.sh" "$work/bundle" "$runtime" >/dev/null || { echo "run.sh: make-bundle failed" >&2; exit 1; }
rm -f "$work/bundle/config.json"
chown -R "$RL_UID:$RL_GID" "$work/bundle"
cd "$work/bundle"

# config KEY=PYTHON-EXPR...: writes DIR/config.json from the user's rootless spec with changes.
config() {
  local dir=$1; shift
  mkdir -p "$dir" && ln -sfn "$work/bundle/rootfs" "$dir/rootfs"
  python3 - "$work/bundle/config.json" "$dir/config.json" "$@" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["root"]["readonly"] = False
for change in sys.argv[3:]:
    exec(change)
json.dump(c, open(sys.argv[2], "w"))
PY
  chown -R "$RL_UID:$RL_GID" "$dir"
}
# expect_ok_detached NAME COMMAND...: as expect_ok for a command that leaves a container
# process behind, which would hold a pipe open: its output goes to a file.
expect_ok_detached() {
  local name=$1 status
  shift
  "$@" >"$work/detached.out" 2>&1; status=$?
  if [ "$status" = 0 ]; then pass "$name"; else fail "$name" "exit $status: $*"$'\n'"$(cat "$work/detached.out")"; fi
}
state_of() { as_user "$runtime" state "$1" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }

# --- spec --rootless maps the caller's own ids
expect_ok "spec --rootless as the user" as_user "$runtime" spec --rootless
expect_eq "spec --rootless: container root is the user's uid and gid" "$RL_UID:1 $RL_GID:1" \
  "$(python3 -c 'import json; l = json.load(open("config.json"))["linux"]
print("%d:%d %d:%d" % (l["uidMappings"][0]["hostID"], l["uidMappings"][0]["size"], l["gidMappings"][0]["hostID"], l["gidMappings"][0]["size"]))')"

# --- run, without a writable cgroup: one warning line, no limits
config "$work/run" 'c["process"]["args"] = ["sh", "-c", "id -u; cat /proc/self/setgroups; exit 3"]'
out=$(as_user "$runtime" run -b "$work/run" r1 2>"$work/err"); status=$?
expect_eq "run: exit status of the process" 3 "$status"
expect_eq "run: the process is root of its user namespace, setgroups denied (own-id mapping)" "0 deny" "$(echo $out)"
expect_eq "run: exactly one warning line without a cgroup" 1 "$(grep -c . "$work/err")"
expect_match "run: the warning says limits are not applied" "^warning: rootless container r1 runs without a cgroup \(no resource limits" \
  "$(cat "$work/err")"
expect_fail "run: nothing left in the state root" test -e "$RL_XDG/swiftlet/r1"

# --- the lifecycle
config "$work/life" 'c["process"]["args"] = ["sleep", "1000"]'
expect_ok_detached "create" as_user "$runtime" create -b "$work/life" c1
expect_ok "state root is \$XDG_RUNTIME_DIR/swiftlet" test -f "$RL_XDG/swiftlet/c1/state.json"
expect_eq "state after create" created "$(state_of c1)"
expect_ok_detached "start" as_user "$runtime" start c1
expect_eq "state after start" running "$(state_of c1)"
pid=$(as_user "$runtime" state c1 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
expect_eq "the init runs as the user on the host" "$RL_UID" "$(stat -c %u /proc/"$pid" 2>&1)"
expect_eq "exec: root in the container" "0" "$(as_user "$runtime" exec c1 id -u 2>&1)"
expect_exit "exec: exit status" 5 as_user "$runtime" exec c1 sh -c 'exit 5'
expect_match "ps lists the init" "^[^ ]+ +$pid .*sleep 1000" "$(as_user "$runtime" ps c1 2>&1)"
as_user "$runtime" exec -d c1 sleep 999 >/dev/null 2>&1
expect_match "ps --format json: the init and the exec'd process" "^\[$pid,[0-9]+\]$" "$(as_user "$runtime" ps --format json c1 2>&1)"
expect_match "list shows the container and its owner" "^c1 +$pid +running .* $RL_USER$" "$(as_user "$runtime" list 2>&1)"
out=$(as_user "$runtime" pause c1 2>&1); status=$?
expect_eq "pause without a cgroup fails" 1 "$status"
expect_eq "pause without a cgroup: one line saying why" \
  "lifecycle: container c1 has no cgroup (rootless, and no cgroup was delegated to its user): operation not supported" "$out"
# (TERM would be ignored: the init is pid 1 of its namespace and sleep sets no handler.)
expect_ok "kill KILL" as_user "$runtime" kill c1 KILL
wait_for 10 sh -c "[ \"\$(runuser -u $RL_USER -- env XDG_RUNTIME_DIR=$RL_XDG $runtime state c1 | grep -c stopped)\" = 1 ]"
expect_eq "state after kill" stopped "$(state_of c1)"
expect_ok "delete" as_user "$runtime" delete c1
expect_fail "delete removes the state" test -e "$RL_XDG/swiftlet/c1"
expect_eq "list is empty" "" "$(as_user "$runtime" list -q 2>&1)"

# --- fast start: start with a replacement process (through the state directory's pipe)
config "$work/fast" 'c["process"]["args"] = ["sleep", "1000"]'
rm -f "$work/bundle/rootfs/replaced"
as_user "$runtime" create -b "$work/fast" f1 >/dev/null 2>&1
as_user "$runtime" start --arg /no-such-program f1 >"$work/out" 2>&1; status=$?
expect_eq "start with a replacement that cannot run fails, in one line" "1 1" "$status $(grep -c . "$work/out")"
expect_eq "... and leaves the container created" created "$(state_of f1)"
expect_ok_detached "start --arg replaces the configured process" \
  as_user "$runtime" start --arg sh --arg -c --arg 'echo replaced $(id -u) > /replaced; exec sleep 1000' f1
wait_for 5 test -s "$work/bundle/rootfs/replaced"
expect_eq "... which runs as configured (root of its user namespace)" "replaced 0" "$(cat "$work/bundle/rootfs/replaced" 2>&1)"
expect_eq "... and the container is running" running "$(state_of f1)"
as_user "$runtime" delete -f f1 >/dev/null 2>&1
rm -f "$work/bundle/rootfs/replaced"
config "$work/fast2" 'c["process"]["args"] = ["sh", "-c", "echo configured > /replaced; exec sleep 1000"]'
as_user "$runtime" create -b "$work/fast2" f2 >/dev/null 2>&1
expect_ok_detached "a plain start runs the configured process" as_user "$runtime" start f2
wait_for 5 test -s "$work/bundle/rootfs/replaced"
expect_eq "... unchanged" configured "$(cat "$work/bundle/rootfs/replaced" 2>&1)"
as_user "$runtime" delete -f f2 >/dev/null 2>&1
rm -f "$work/bundle/rootfs/replaced"

# --- without XDG_RUNTIME_DIR: a state root of the user's own in /tmp, said once
config "$work/noxdg" 'c["process"]["args"] = ["true"]'
out=$(RL_NO_XDG=1 as_user "$runtime" run -b "$work/noxdg" x1 2>&1 >/dev/null | grep -v 'runs without a cgroup'); status=$?
expect_eq "without XDG_RUNTIME_DIR: one note naming the fallback" \
  "warning: XDG_RUNTIME_DIR is not set: keeping container state in /tmp/swiftlet-$RL_UID (set XDG_RUNTIME_DIR or pass --root to choose)" "$out"
expect_eq "the fallback root is the user's, mode 0700" "$RL_UID 700" "$(stat -c '%u %a' "/tmp/swiftlet-$RL_UID" 2>&1)"
rm -rf "/tmp/swiftlet-$RL_UID"
# A fallback root someone else made (here root, world-writable) is refused.
mkdir -m 1777 "/tmp/swiftlet-$RL_UID"
expect_match "a fallback root made by another user is refused" "state root /tmp/swiftlet-$RL_UID is not a directory of uid $RL_UID" \
  "$(RL_NO_XDG=1 as_user "$runtime" run -b "$work/noxdg" x2 2>&1)"
expect_eq "nothing was written there" "" "$(ls -A "/tmp/swiftlet-$RL_UID")"
rmdir "/tmp/swiftlet-$RL_UID"

# --- id mappings through newuidmap/newgidmap
config "$work/multi" \
  "c['linux']['uidMappings'] = [{'containerID': 0, 'hostID': $RL_UID, 'size': 1}, {'containerID': 1, 'hostID': $RL_SUBUID, 'size': 65536}]" \
  "c['linux']['gidMappings'] = [{'containerID': 0, 'hostID': $RL_GID, 'size': 1}, {'containerID': 1, 'hostID': $RL_SUBGID, 'size': 65536}]" \
  'c["process"]["user"] = {"uid": 1000, "gid": 1000}' \
  'c["process"]["args"] = ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; touch /tmp/owned-$$ && ls -n /tmp/owned-$$"]'
out=$(as_user "$runtime" run -b "$work/multi" m1 2>/dev/null); status=$?
expect_eq "multi-range run succeeds" 0 "$status"
expect_eq "uid_map: own uid and the subordinate range" "0 $RL_UID 1 1 $RL_SUBUID 65536" "$(echo "$out" | sed -n 1,2p | xargs)"
expect_eq "gid_map: own gid and the subordinate range" "0 $RL_GID 1 1 $RL_SUBGID 65536" "$(echo "$out" | sed -n 3,4p | xargs)"
expect_eq "setgroups stays allowed through newgidmap" allow "$(echo "$out" | sed -n 5p)"
expect_match "a file of container uid 1000, as the container sees it" " 1000 +1000 " "$(echo "$out" | sed -n 6p)"
expect_eq "on the host it belongs to the subordinate ids 999 past the start" "$((RL_SUBUID + 999)):$((RL_SUBGID + 999))" \
  "$(stat -c %u:%g "$work/bundle/rootfs/tmp/owned-"* 2>&1)"
rm -f "$work/bundle/rootfs/tmp/owned-"*
config "$work/refused" \
  "c['linux']['uidMappings'] = [{'containerID': 0, 'hostID': $RL_UID, 'size': 1}, {'containerID': 1, 'hostID': 3000000000, 'size': 10}]"
out=$(as_user "$runtime" run -b "$work/refused" m2 2>&1 | grep -v 'runs without a cgroup'); status=$?
expect_match "newuidmap's refusal: one line naming the helper and the range" \
  "^namespaces: newuidmap refused 0:$RL_UID:1, 1:3000000000:10: newuidmap: .*not allowed" "$out"
expect_eq "... and only one line" 1 "$(echo "$out" | grep -c .)"
expect_fail "a refused mapping leaves no state" test -e "$RL_XDG/swiftlet/m2"
config "$work/refusedgid" \
  "c['linux']['gidMappings'] = [{'containerID': 0, 'hostID': $RL_GID, 'size': 1}, {'containerID': 1, 'hostID': 3000000000, 'size': 10}]"
expect_match "newgidmap's refusal names newgidmap and its range" "^namespaces: newgidmap refused 0:$RL_GID:1, 1:3000000000:10: " \
  "$(as_user "$runtime" run -b "$work/refusedgid" m3 2>&1 | grep -v 'runs without a cgroup')"
config "$work/othersingle" "c['linux']['uidMappings'] = [{'containerID': 0, 'hostID': 0, 'size': 1}]"
expect_match "mapping host root is refused by newuidmap" "^namespaces: newuidmap refused 0:0:1: " \
  "$(as_user "$runtime" run -b "$work/othersingle" m4 2>&1 | grep -v 'runs without a cgroup')"

# --- a cgroup root delegated to the user (chowned in every hierarchy, the unified one too)
for h in /sys/fs/cgroup/*/; do
  mkdir "$h$delegated" && chown -R "$RL_UID:$RL_GID" "$h$delegated"
done
config "$work/cg" "c['linux']['cgroupsPath'] = '/$delegated/c1'" \
  'c["linux"]["resources"] = {"memory": {"limit": 67108864}, "pids": {"limit": 50}}' \
  'c["process"]["args"] = ["sleep", "1000"]'
# cgroup2 moves a process only for someone who may write cgroup.procs of the common
# ancestor: the user's processes start in the delegated unified directory.
# The checks below run in a subshell moved there (their counts come back through a file).
(
echo $BASHPID > "/sys/fs/cgroup/unified/$delegated/cgroup.procs"
as_user "$runtime" run -d -b "$work/cg" g1 >/dev/null 2>"$work/err"
expect_eq "with a delegated cgroup: no warning" "" "$(cat "$work/err")"
expect_eq "memory limit in the delegated cgroup" 67108864 "$(cat "/sys/fs/cgroup/memory/$delegated/c1/memory.limit_in_bytes" 2>&1)"
expect_eq "pids limit in the delegated cgroup" 50 "$(cat "/sys/fs/cgroup/pids/$delegated/c1/pids.max" 2>&1)"
expect_ok "pause" as_user "$runtime" pause g1
expect_eq "paused" paused "$(state_of g1)"
expect_eq "freezer is FROZEN" FROZEN "$(cat "/sys/fs/cgroup/freezer/$delegated/c1/freezer.state" 2>&1)"
expect_ok_detached "resume" as_user "$runtime" resume g1
expect_eq "running again" running "$(state_of g1)"
expect_match "exec joins the delegated cgroup" "memory:/$delegated/c1" "$(as_user "$runtime" exec g1 cat /proc/self/cgroup 2>&1)"
expect_ok "delete -f" as_user "$runtime" delete -f g1
expect_fail "delete removes the container's cgroup" test -d "/sys/fs/cgroup/memory/$delegated/c1"
echo "$passed $failed" > "$work/counts"
)
read -r passed failed < "$work/counts"

[ ! -f "$here/agent.sh" ] || . "$here/agent.sh"

finish rootless
