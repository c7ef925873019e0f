# Sourced by e2e/rootless/run.sh (its user, bundle, runtime and checks): `swiftlet agent` as
# root, serving the user's rootless containers on its user socket by a policy keyed by the
# connecting user and the container's annotations. SWIFTLET_AGENT_BINARY runs another build as
# the agent (to check that these tests fail against an agent without the checks).

agent_dir=$work/agent
mkdir -p "$agent_dir" && chmod 755 "$agent_dir"
other_uid=$((RL_UID + 424242))     # a user the policy grants something, never this one
# A path the policy grants that also exists on the host, writable by the user there: an
# agent acting on host paths for a user would create its node.
granted=$work/granted
mkdir -p "$granted" && chmod 777 "$granted"
cat > "$agent_dir/policy.json" <<JSON
{"containers": [
  {"match": {"users": [$RL_UID], "annotations": {"org.swiftlet.test/grant": "mine"}},
   "mount": [{"fstype": ["tmpfs"], "destination": "/mnt/allowed", "flags": ["silent"]}],
   "mknod": [{"type": "c", "major": 10, "minor": 229, "path": "/dev/fuse", "exact": true},
             {"type": "c", "major": 1, "minor": 3, "path": "/dev"},
             {"type": "c", "major": 1, "minor": 3, "path": "$granted"}]},
  {"match": {"users": [$other_uid], "annotations": {"org.swiftlet.test/grant": "other"}},
   "mount": [{"fstype": ["tmpfs"], "destination": "/mnt"}],
   "mknod": [{"type": "c", "major": 1, "minor": 3, "path": "/"}]},
  {"match": {"annotations": {"org.swiftlet.test/grant": "root"}},
   "mount": [{"fstype": ["tmpfs"], "destination": "/mnt"}],
   "mknod": [{"type": "c", "major": 1, "minor": 3, "path": "/"}]}
]}
JSON
agent_pid=
agent_prefix=()   # a command the agent runs under (refuse crossmem --, below)
start_agent() {
  "${agent_prefix[@]}" "${SWIFTLET_AGENT_BINARY:-$runtime}" agent --socket "$agent_dir/root.sock" --user-socket "$agent_dir/user.sock" \
    --policy "$agent_dir/policy.json" --log "$agent_dir/agent.log" >/dev/null 2>&1 &
  agent_pid=$!
  wait_for 10 test -S "$agent_dir/user.sock"
}
stop_agent() {
  [ -n "$agent_pid" ] || return 0
  kill -TERM "$agent_pid" 2>/dev/null
  wait "$agent_pid" 2>/dev/null
  agent_pid=
}
agent_cleanup=stop_agent
start_agent
expect_eq "the user socket is open to everyone, the root socket to root" "666 600" \
  "$(stat -c %a "$agent_dir/user.sock" "$agent_dir/root.sock" 2>&1 | xargs)"
mkdir -p "$work/bundle/rootfs/mnt/allowed" "$work/bundle/rootfs/mnt/denied"

script='mount -t tmpfs none /mnt/allowed; echo allowed=$?; grep -c " /mnt/allowed " /proc/self/mounts
mount -t tmpfs none /mnt/denied; echo denied=$?
mknod /dev/fuse c 10 229; echo fuse=$?; ls -ln /dev/fuse
mknod /dev/null3 c 1 3; echo null=$?
mknod /dev/zero2 c 1 5; echo zero=$?
mknod /dev/loop9 b 7 9; echo block=$?
mknod /tmp/null4 c 1 3; echo outside=$?'
# agent_config DIR GRANT [CHANGE...]: the user's spec, notifying mount and mknod to the agent.
agent_config() {
  local dir=$1 grant=$2; shift 2
  config "$dir" "c['annotations'] = {'org.swiftlet.test/grant': '$grant'}" \
    "c['linux']['seccomp'] = {'defaultAction': 'SCMP_ACT_ALLOW', 'listenerPath': '$agent_dir/user.sock',
       'syscalls': [{'names': ['mount', 'umount2', 'mknod', 'mknodat'], 'action': 'SCMP_ACT_NOTIFY'}]}" \
    "c['process']['args'] = ['sh', '-c', '''$script''']" "$@"
}
agent_config "$work/a-mine" mine
out=$(as_user "$runtime" run -b "$work/a-mine" a1 2>&1)
expect_match "mount -t tmpfs on the allowed path succeeds" "allowed=0" "$out"
expect_match "... in the container's mount namespace" "allowed=0.1" "$(echo $out | tr ' ' .)"
expect_no_match "... and not in the host's" " /mnt/allowed " "$(cat /proc/self/mounts)"
expect_match "mount on a path outside the policy: EPERM" "denied=1" "$out"
expect_match "mknod /dev/fuse (10:229) succeeds" "fuse=0" "$out"
expect_match "... owned by the caller (root of its user namespace, the user on the host)" \
  "crw-r--r-- +1 0 +0 +10, +229 .*/dev/fuse" "$out"
expect_match "mknod of 1:3 below /dev succeeds" "null=0" "$out"
expect_match "mknod of a character device not in the policy: EPERM" "zero=1" "$out"
expect_match "mknod of a block device not in the policy: EPERM" "block=1" "$out"
expect_match "mknod of an allowed device outside its path: EPERM" "outside=1" "$out"
expect_match "the agent logged the attach with the user" "\"event\":\"attach\",\"container\":\"a1\".*\"user\":$RL_UID" \
  "$(cat "$agent_dir/agent.log")"

# A kernel without CONFIG_CROSS_MEMORY_ATTACH (the UML kernels built here): process_vm_readv
# fails with ENOSYS, and the agent must still read the calls' arguments.
if cc -O2 -o "$work/refuse" "$here/../primitive/refuse.c" -lseccomp 2>"$work/refuse.err"; then
  stop_agent; agent_prefix=("$work/refuse" crossmem --); start_agent
  out=$(as_user "$runtime" run -b "$work/a-mine" a1-crossmem 2>&1)
  expect_match "without process_vm_readv: the allowed mount succeeds" "allowed=0" "$out"
  expect_match "without process_vm_readv: the allowed mknod succeeds" "fuse=0" "$out"
  expect_match "without process_vm_readv: the denied mount is still EPERM" "denied=1" "$out"
  stop_agent; agent_prefix=(); start_agent
else
  skip "the agent without process_vm_readv" "refuse.c does not build: $(head -1 "$work/refuse.err")"
fi

agent_config "$work/a-other" other
out=$(as_user "$runtime" run -b "$work/a-other" a2 2>&1)
expect_match "another user's grant does not apply: mount EPERM" "allowed=1" "$out"
expect_match "another user's grant does not apply: mknod EPERM" "null=1" "$out"
agent_config "$work/a-root" root
out=$(as_user "$runtime" run -b "$work/a-root" a3 2>&1)
expect_match "an entry for root's containers does not apply: mount EPERM" "allowed=1" "$out"
expect_match "an entry for root's containers does not apply: mknod EPERM" "null=1" "$out"
expect_match "the log says no entry matched" "\"container\":\"a3\".*\"reason\":\"no policy entry\"" "$(cat "$agent_dir/agent.log")"

# A process of the user on the host sends its own notify fd, claiming the grant: the agent
# would act in the host's mount namespace with host privilege.
hostnode=$granted/hostnode-$$
rm -f "$hostnode"
out=$(as_user python3 "$here/notify-client.py" "$agent_dir/user.sock" self mine-host org.swiftlet.test/grant=mine "$hostnode" 2>&1)
expect_match "a host process's fd is refused at attach (the call gets ENOSYS)" "mknod errno=38" "$out"
expect_fail "... and no node on the host" test -e "$hostnode"
expect_match "the log names why" "refused attach: the task is not in a user namespace of its own" "$(cat "$agent_dir/agent.log")"
# The same, claiming a container of the user's own that is running: attach passes, every
# call is judged by the task that makes it.
# (It mounts once told to, for the dead-agent check below.)
agent_config "$work/a-sleep" mine "c['process']['args'] = ['sh', '-c', 'while [ ! -e /tmp/go-a4 ]; do sleep 0.1; done; mount -t tmpfs none /mnt/allowed; echo allowed=\$? > /tmp/result-a4; grep -c \" /mnt/allowed \" /proc/self/mounts >> /tmp/result-a4; sleep 1000']"
as_user "$runtime" run -d -b "$work/a-sleep" a4 >/dev/null 2>&1
a4pid=$(as_user "$runtime" state a4 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
rm -f "$hostnode"
out=$(as_user python3 "$here/notify-client.py" "$agent_dir/user.sock" "$a4pid" a4 org.swiftlet.test/grant=mine "$hostnode" 2>&1)
expect_match "a host process claiming the user's container: mknod EPERM" "mknod errno=1" "$out"
expect_fail "... and no node on the host" test -e "$hostnode"
expect_match "the log names why" "\"reason\":\"the task is not in a user namespace of its own\"" "$(cat "$agent_dir/agent.log")"
# The same fd, after a task of the user's own namespaces made a call the agent performed
# (the agent remembers namespaces it found to be the user's): the host task is still refused.
rm -f "$hostnode"
out=$(as_user python3 "$here/notify-client.py" "$agent_dir/user.sock" "$a4pid" a4 org.swiftlet.test/grant=mine "$hostnode" /dev/swiftlet-rl-$$ 2>&1)
expect_match "a task in the user's own namespaces: its call is performed (as the user: EACCES in the host's /dev)" \
  "child mknod errno=13" "$out"
expect_match "... then the host process on the same fd: mknod EPERM" "^mknod errno=1$" "$(echo "$out" | tail -n 1)"
expect_fail "... and no node on the host" test -e "$hostnode"
expect_fail "... and no node in the host's /dev" test -e /dev/swiftlet-rl-$$
rm -f /dev/swiftlet-rl-$$
# Claiming a process in a user namespace that is not the user's (root's here).
unshare -U sleep 1000 &
rootns=$!
rm -f "$hostnode"
out=$(as_user python3 "$here/notify-client.py" "$agent_dir/user.sock" "$rootns" b1 org.swiftlet.test/grant=mine "$hostnode" 2>&1)
expect_match "a process in another user's namespace is refused at attach" "mknod errno=38" "$out"
expect_match "the log says whose namespace it is" "refused attach: the task's user namespace belongs to uid 0, not to uid $RL_UID" \
  "$(cat "$agent_dir/agent.log")"
kill "$rootns"; wait "$rootns" 2>/dev/null
# A process of the user in a user namespace of its own but the host's mount namespace
# (unshare -U), claiming the user's container: no act on host paths.
rm -f "$hostnode"
out=$(as_user unshare -U python3 "$here/notify-client.py" "$agent_dir/user.sock" "$a4pid" a4 org.swiftlet.test/grant=mine "$hostnode" 2>&1)
expect_match "a task in the host's mount namespace: mknod EPERM" "mknod errno=1" "$out"
expect_fail "... and no node on the host" test -e "$hostnode"
expect_match "the log names why" "\"reason\":\"the task's mount namespace is not one of uid $RL_UID's user namespaces\"" \
  "$(cat "$agent_dir/agent.log")"

# Root on the user socket is refused (root's containers attach through the root socket).
out=$(python3 "$here/notify-client.py" "$agent_dir/user.sock" 1 r1 org.swiftlet.test/grant=root "$hostnode" 2>&1)
expect_match "root on the user socket is refused" "mknod errno=38" "$out"

# A dead agent fails closed: the container's notified calls fail, nothing is performed.
stop_agent
as_user touch "$work/bundle/rootfs/tmp/go-a4"
wait_for 10 grep -q . "$work/bundle/rootfs/tmp/result-a4"
out=$(cat "$work/bundle/rootfs/tmp/result-a4" 2>&1)
expect_match "after the agent died: a running container's mount fails" "allowed=[1-9]" "$out"
expect_match "... and nothing was mounted" "allowed=[1-9][0-9]*\.0$" "$(echo $out | tr ' ' .)"
rm -f "$work/bundle/rootfs/tmp/go-a4" "$work/bundle/rootfs/tmp/result-a4"
out=$(as_user "$runtime" run -b "$work/a-mine" a6 2>&1); status=$?
expect_eq "without the agent create fails" 1 "$status"
expect_match "... saying it cannot reach the agent" "connect to seccomp agent \(listenerPath\)" "$out"
expect_fail "... and leaves no state" test -e "$RL_XDG/swiftlet/a6"
as_user "$runtime" delete -f a4 >/dev/null 2>&1
