# Rootless swiftlet on pure cgroup v2 with a subtree root delegated to an unprivileged user,
# without systemd (Documentation/admin-guide/cgroup-v2.rst, "Delegation": the directory and
# its cgroup.procs, cgroup.subtree_control and cgroup.threads chowned to the user). Sourced
# by guest.sh: `rootless_root` runs as the guest's root, `rootless_user WHERE` as user rl
# (uid 1000, in the guest's /etc/passwd: run.sh puts it there).
RL_UID=1000
DELEG=$CG/rl-deleg
RL_XDG=/run/user/$RL_UID

# The kernel moves a process between cgroups only for a writer that may write cgroup.procs of
# their common ancestor: root puts the user's session in a leaf of the delegated subtree
# before the user runs anything there.
rootless_root() {
  $B echo "== rootless (guest uptime $($B cut -d' ' -f1 /proc/uptime) s)"
  $B mkdir -p "$RL_XDG" /tmp/rl
  $B chown $RL_UID:$RL_UID "$RL_XDG" /tmp/rl
  $B chmod 700 "$RL_XDG"
  as_rl none
  echo "+memory +pids" > $CG/cgroup.subtree_control
  $B mkdir $DELEG
  $B chown $RL_UID:$RL_UID $DELEG $DELEG/cgroup.procs $DELEG/cgroup.subtree_control $DELEG/cgroup.threads
  as_rl outside
  $B mkdir $DELEG/session
  $B sh -c "echo \$\$ > $DELEG/session/cgroup.procs && exec su -s /bin/sh -c 'sh /checks.sh rootless-user inside' rl"
  # What the user made is gone with its containers; the delegation is root's to take back.
  left=$($B find $DELEG -mindepth 1 -type d ! -path $DELEG/session | oneline)
  expect "rootless: delete left nothing in the delegated subtree" "$left" ""
  $B rmdir $DELEG/session $DELEG
}
as_rl() { su -s /bin/sh -c "sh /checks.sh rootless-user $1" rl; }

# rl_bundle NAME ARGS_JSON RESOURCES_JSON [CGROUPS_PATH]: a rootless container (own ids
# mapped, its own user, pid, mount and cgroup namespaces) over the shared read-only /rootfs.
rl_bundle() {
  b=/tmp/rl/$1
  $B mkdir -p "$b"
  cgp=""
  [ -n "${4:-}" ] && cgp="\"cgroupsPath\": \"$4\","
  $B cat > "$b/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/", "args": $2,
    "env": ["PATH=/bin", "$TUNABLES"],
    "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
    "noNewPrivileges": true
  },
  "root": {"path": "/rootfs", "readonly": true},
  "hostname": "c",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755", "size=1024k"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}
  ],
  "linux": {
    $cgp
    "uidMappings": [{"containerID": 0, "hostID": $RL_UID, "size": 1}],
    "gidMappings": [{"containerID": 0, "hostID": $RL_UID, "size": 1}],
    "namespaces": [{"type": "user"}, {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "cgroup"}],
    "resources": $3
  }
}
JSON
}
srt() { /rt/swiftlet "$@"; }   # state in $XDG_RUNTIME_DIR/swiftlet, the rootless default
rl_pid() { srt state "$1" 2>/dev/null | $B tr -d ' \n' | $B sed -n 's/.*"pid":\([0-9]*\).*/\1/p'; }

rootless_user() {
  export XDG_RUNTIME_DIR=$RL_XDG HOME=/tmp
  R="swiftlet rootless"
  case $1 in
  none)
    # No delegated cgroup: one warning line, no limits (3 pids allowed, 7 run).
    rl_bundle nocg '["sh", "-c", "for i in 1 2 3 4 5 6; do sleep 1 & done; wait; echo forked"]' '{"pids": {"limit": 3}}'
    out=$(srt run --bundle /tmp/rl/nocg rl-nocg 2>/tmp/rl-err < /dev/null); status=$?
    expect "$R: without a delegated cgroup the container runs, without limits" "$status $out" "0 forked"
    expect "$R: ... saying so in one warning line" "$($B grep -c . /tmp/rl-err)" 1
    expect_has "$R: ... that names the missing limits" "$(cat /tmp/rl-err)" "runs without a cgroup (no resource limits"
    expect "$R: ... and makes no cgroup" "$(ls -d $CG/swiftlet 2>&1 | $B grep -c -v 'No such')" 0
    ;;
  outside)
    # Delegated, but the user's session is in root's cgroup: the kernel refuses to move the
    # init from there into the subtree (the common ancestor is the root cgroup).
    rl_bundle outside '["true"]' '{"pids": {"limit": 10}}' /rl-deleg/outside
    srt create --bundle /tmp/rl/outside rl-outside > /tmp/rl-err 2>&1 < /dev/null; status=$?
    if [ $status != 0 ]; then ok "$R: create from outside the delegated subtree fails"
    else fail "$R: create from outside the delegated subtree fails: it succeeded"; srt delete -f rl-outside; fi
    expect "$R: ... with one line" "$($B grep -c . /tmp/rl-err)" 1
    expect_has "$R: ... that says what the kernel requires" "$(cat /tmp/rl-err)" "common ancestor"
    expect "$R: ... leaving no cgroup and no state" "$(ls $DELEG | $B grep -c outside) $(srt list -q | $B grep -c .)" "0 0"
    ;;
  inside)
    expect "$R: the user's session is in the delegated subtree" "$($B sed -n 's/^0:://p' /proc/self/cgroup)" /rl-deleg/session
    # memory.max kills a hog over the limit (the init survives it)
    rl_bundle oom '["sh", "-c", "hog 16; echo after $?"]' "{\"memory\": {\"limit\": $((8 * mib)), \"swap\": $((8 * mib))}}" /rl-deleg/oom
    out=$(srt run --bundle /tmp/rl/oom rl-oom 2>/tmp/rl-err < /dev/null); status=$?
    expect "$R: memory.max kills a hog over the limit (init survives), no warning" \
      "$status $out $($B grep -c warning /tmp/rl-err)" "0 after 137 0"
    # pids.max: the shell's fifth fork is refused (without a cgroup above, all ran)
    rl_bundle pids '["sh", "-c", "sleep 100 & sleep 100 & sleep 100 & sleep 100 & sleep 100 & echo forked"]' '{"pids": {"limit": 4}}' /rl-deleg/pids
    out=$(srt run --bundle /tmp/rl/pids rl-pids 2>&1 < /dev/null); status=$?
    expect_has "$R: pids.max refuses a fork" "$status $out" "2 sh: can't fork"
    # a long-running container: limits, forks refused at pids.max, pause/resume, update, exec, delete
    rl_bundle box '["sleep", "1000"]' "{\"memory\": {\"limit\": $((32 * mib))}, \"pids\": {\"limit\": 6}}" /rl-deleg/box
    srt create --bundle /tmp/rl/box rl-box > /tmp/rl-err 2>&1 < /dev/null && srt start rl-box 2>> /tmp/rl-err
    expect "$R: create + start in the delegated subtree, no warning" "$? $(cat /tmp/rl-err)" "0 "
    pid=$(rl_pid rl-box)
    cgdir=none
    [ -n "$pid" ] && cgdir=$CG$($B sed -n 's/^0:://p' /proc/$pid/cgroup 2>/dev/null)
    expect "$R: the init is in its cgroup in the subtree" "$cgdir" $DELEG/box
    expect "$R: memory.max and pids.max are what the config says" "$(cgfile memory.max) $(cgfile pids.max)" "$((32 * mib)) 6"
    srt pause rl-box
    expect "$R: pause freezes the cgroup (cgroup.freeze)" "$? $(cgfile cgroup.freeze) $(grep frozen "$cgdir/cgroup.events")" "0 1 frozen 1"
    expect_has "$R: pause: state" "$(srt state rl-box | oneline)" '"paused"'
    srt resume rl-box
    expect "$R: resume thaws it" "$? $(cgfile cgroup.freeze) $(grep frozen "$cgdir/cgroup.events")" "0 0 frozen 0"
    srt update --memory $((48 * mib)) --pids-limit 20 rl-box 2>/tmp/rl-err
    expect "$R: update (memory, pids)" "$? $(cgfile memory.max) $(cgfile pids.max)$(cat /tmp/rl-err)" "0 $((48 * mib)) 20"
    out=$(srt exec rl-box cat /proc/self/cgroup 2>&1); status=$?
    expect "$R: exec joins the container's cgroup" "$status $out" "0 0::/"
    srt kill rl-box KILL
    $B sleep 0.3
    srt delete rl-box > /tmp/rl-err 2>&1
    expect "$R: delete" "$? $(cat /tmp/rl-err)" "0 "
    if [ -d "$cgdir" ]; then fail "$R: delete removes the cgroup: $cgdir is still there"; else ok "$R: delete removes the cgroup"; fi
    ;;
  esac
}
