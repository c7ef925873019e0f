#!/usr/bin/env bash
# containerd's runc v2 shim driving swiftlet (`ctr run --runc-binary`), on a containerd this
# script starts with its own root, state and sockets and stops at the end.
#   usage: containerd.sh /abs/path/to/swiftlet
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
runtime=${1:-}
require_runtime "$runtime"
for tool in containerd ctr containerd-shim-runc-v2 script; do
  command -v $tool >/dev/null || { echo "containerd.sh: $tool is not installed" >&2; exit 2; }
done

work=$(mktemp -d /tmp/swiftlet-containerd.XXXXXX)
ns=swiftlet-test-$$
image=localhost/swiftlet-busybox:test
runc_root=$work/runc-root
trap 'stop_containerd "$work" "$ns"' EXIT

c() { ctr --address "$work/containerd.sock" -n "$ns" "$@"; }
# crun NAME ARGS...: `ctr run` of the busybox image with swiftlet as the shim's runc.
crun() { local name=$1; shift; c run --runc-binary "$runtime" --runc-root "$runc_root" "$@"; }
status_of() { c tasks ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }

containerd_config "$work" ""
echo "== containerd $(containerd --version | awk '{print $3}') with $runtime"
start_containerd "$work" || { fail "containerd starts" "$(tail -5 "$work/containerd.log")"; finish containerd; exit 1; }
bash "$here/image.sh" "$work/busybox.tar" "$image" >/dev/null || { echo "containerd.sh: image.sh failed" >&2; exit 1; }
expect_ok "ctr images import" c images import "$work/busybox.tar"

expect_eq "run --rm echo" "hello" "$(crun x --rm $image one echo hello 2>&1)"
expect_exit "run: exit code of the container" 3 crun x --rm $image two sh -c 'exit 3'
out=$(crun x --rm $image three /no/such/binary 2>&1); status=$?
expect_match "run of a missing executable fails with runc's wording" "no such file or directory" "$out"
expect_eq "no container left after a failed run --rm" "" "$(c tasks ls -q 2>&1)"
c containers rm three >/dev/null 2>&1

expect_ok "run -d" crun x -d $image web sh -c 'trap "exit 9" TERM; while true; do sleep 0.1; done'
expect_eq "task is running" RUNNING "$(status_of web)"
expect_ok "swiftlet holds the container's state under the shim's --root" test -f "$runc_root/$ns/web/state.json"
expect_eq "swiftlet reports it running" running \
  "$("$runtime" --root "$runc_root/$ns" state web 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')"
out=$(c tasks exec --exec-id e0 web /no/such/binary 2>&1)
expect_match "exec of a missing binary: runc's wording" "no such file or directory" "$out"
expect_match "the error is a JSON line in the bundle's log.json" '^\{.*"level": *"error".*no such file or directory' \
  "$(tail -1 "$work/state/io.containerd.runtime.v2.task/$ns/web/log.json" 2>&1)"
expect_eq "exec" "inside" "$(c tasks exec --exec-id e1 web echo inside 2>&1)"
expect_exit "exec exit code" 5 c tasks exec --exec-id e2 web sh -c 'exit 5'
expect_eq "exec with a user and cwd" "1000 /tmp" "$(c tasks exec --exec-id e3 --user 1000 --cwd /tmp web sh -c 'echo $(id -u) $(pwd)' 2>&1)"
out=$(script -qec "ctr --address $work/containerd.sock -n $ns tasks exec -t --exec-id e4 web tty" /dev/null </dev/null 2>&1 | tr -d '\r\0')
# The client side may feed the container's pty a NUL (its echo reads "^@") before or after
# tty's answer; swiftlet writes nothing to the pty's master.
expect_match "exec -t: a pty" "^(\^@)*/dev/pts/[0-9]+" "$out"
out=$(printf 'echo $((6 * 7))\nexit 4\n' |
  script -qec "ctr --address $work/containerd.sock -n $ns tasks exec -t --exec-id e5 web sh" /dev/null 2>&1)
status=$?
expect_match "exec -t: interactive shell answers" "42" "$(printf '%s' "$out" | tr -d '\r')"
expect_eq "exec -t: exit status" 4 "$status"
init=$(c tasks ls 2>/dev/null | awk '$1 == "web" { print $2 }')
ps=$(c tasks ps web 2>&1)
expect_match "task ps lists the init" "^$init[[:space:]]" "$ps"
expect_eq "task ps lists init and loop" 2 "$(printf '%s\n' "$ps" | awk 'NR > 1' | wc -l)" 
expect_ok "pause" c tasks pause web
expect_eq "paused" PAUSED "$(status_of web)"
expect_eq "freezer is FROZEN" FROZEN "$(cat "$(cgroup_v1_dir freezer "$init")/freezer.state" 2>&1)"
expect_ok "resume" c tasks resume web
expect_eq "running again" RUNNING "$(status_of web)"
expect_ok "kill SIGTERM" c tasks kill -s SIGTERM web
wait_for 5 sh -c "ctr --address $work/containerd.sock -n $ns tasks ls | grep -q '^web .*STOPPED'"
expect_eq "stopped by the signal" STOPPED "$(status_of web)"
out=$(c tasks rm web 2>&1)
expect_match "delete reports the exit status" "exit.* 9|status.*9" "$out"
expect_ok "container rm" c containers rm web
expect_fail "swiftlet state is gone" test -e "$runc_root/$ns/web"

# A terminal container, then kill --all of a container with several processes.
out=$(script -qec "ctr --address $work/containerd.sock -n $ns run --runc-binary $runtime --runc-root $runc_root --rm -t $image tty1 sh -c 'tty; exit 6'" /dev/null </dev/null 2>&1)
status=$?
expect_match "run -t: a pty" "/dev/pts/[0-9]+" "$(printf '%s' "$out" | tr -d '\r')"
expect_eq "run -t: exit status" 6 "$status"
expect_ok "run -d with children" crun x -d $image many sh -c 'sleep 1000 & sleep 1000 & wait'
wait_for 5 sh -c "[ \$(ctr --address $work/containerd.sock -n $ns tasks ps many | wc -l) -ge 4 ]"
expect_ok "kill --all SIGKILL" c tasks kill -a -s SIGKILL many
wait_for 5 sh -c "ctr --address $work/containerd.sock -n $ns tasks ls | grep -q '^many .*STOPPED'"
expect_eq "every process is gone" STOPPED "$(status_of many)"
expect_ok "task rm" c tasks rm many
expect_ok "container rm" c containers rm many
# Without a pid namespace of its own, processes may outlive the init: when the init exits the
# shim runs `kill --all ID 9`, which must reach them although the container is stopped.
expect_ok "run -d in the pid namespace of this script" \
  crun x -d --with-ns "pid:/proc/$$/ns/pid" $image hostpid sh -c 'sleep 1000 & sleep 1'
procs=/sys/fs/cgroup/pids/$ns/hostpid/cgroup.procs  # ctr's cgroup path is /NAMESPACE/ID
wait_for 5 sh -c "[ \$(wc -l < $procs) -ge 2 ]"
expect_match "the init and the background sleep run" "[0-9]+.*[0-9]+" "$(cat "$procs" 2>&1 | tr '\n' ' ')"
wait_for 10 sh -c "ctr --address $work/containerd.sock -n $ns tasks ls | grep -q '^hostpid .*STOPPED'"
expect_eq "the init exited" STOPPED "$(status_of hostpid)"
wait_for 5 sh -c "[ ! -s $procs ]"
expect_eq "kill --all ended the process the init left behind" "" "$(cat "$procs" 2>&1)"
expect_ok "task rm" c tasks rm hostpid
expect_ok "container rm" c containers rm hostpid

expect_eq "no task left" "" "$(c tasks ls -q 2>&1)"
# What the shim runs when it cleans up after a container that is already gone.
expect_ok "delete --force of a container that is gone exits 0" \
  "$runtime" --root "$runc_root/$ns" --log "$work/gone.json" --log-format json delete --force many

# --- The UML isolation tier: the shim's runc binary is a link named swiftlet-uml, which
# selects the tier for every container without an annotation (a handler "swiftlet-uml").
if reason=$(uml_unavailable "$runtime"); then
  skip "UML tier: run, stop and remove" "$reason"
else
  ln -s "$runtime" "$work/swiftlet-uml"
  # The tier id-maps the rootfs for the guest's unprivileged host uid; overlayfs (containerd's
  # default snapshotter) cannot be id-mapped, the native snapshotter's directories can.
  out=$(c run --runc-binary "$work/swiftlet-uml" --runc-root "$runc_root" --rm $image uml-overlay true 2>&1)
  expect_match "uml: an overlayfs rootfs is refused, naming id-mapped mounts" "id-mapped" "$out"
  c containers rm uml-overlay >/dev/null 2>&1
  urun() { c run --snapshotter native --runc-binary "$work/swiftlet-uml" --runc-root "$runc_root" "$@"; }
  out=$(urun --rm $image uml-one uname -r 2>&1)
  expect_match "uml: run --rm in a kernel of its own" "^6\.1\." "$out"
  expect_no_match "uml: not the host's kernel" "^$(uname -r)$" "$out"
  expect_exit "uml: exit code of the container" 3 urun --rm $image uml-two sh -c 'exit 3'
  expect_ok "uml: run -d" urun -d $image uml-web sh -c 'trap "exit 9" TERM; echo started; while true; do sleep 0.1; done'
  expect_eq "uml: task is running" RUNNING "$(status_of uml-web)"
  expect_match "uml: swiftlet reports the tier in its state" '"org.swiftlet.isolation": *"uml"' \
    "$("$runtime" --root "$runc_root/$ns" state uml-web 2>&1)"
  init=$(c tasks ls 2>/dev/null | awk '$1 == "uml-web" { print $2 }')
  expect_eq "uml: the task's pid runs as the tier's unprivileged uid" 1879048192 \
    "$(awk '/^Uid:/ { print $2 }' "/proc/$init/status" 2>&1)"
  expect_match "uml: exec runs in the guest" "^6\.1\." "$(c tasks exec --exec-id u1 uml-web uname -r 2>&1)"
  expect_exit "uml: exec exit code" 5 c tasks exec --exec-id u2 uml-web sh -c 'exit 5'
  expect_ok "uml: kill SIGTERM (forwarded into the guest)" c tasks kill -s SIGTERM uml-web
  wait_for 30 sh -c "ctr --address $work/containerd.sock -n $ns tasks ls | grep -q '^uml-web .*STOPPED'"
  expect_eq "uml: stopped by the signal" STOPPED "$(status_of uml-web)"
  out=$(c tasks rm uml-web 2>&1)
  expect_match "uml: delete reports the exit status of the trap" "exit.* 9|status.*9" "$out"
  expect_ok "uml: container rm" c containers rm uml-web
  expect_fail "uml: swiftlet state is gone" test -e "$runc_root/$ns/uml-web"
  expect_ok "uml: run -d, then kill SIGKILL" urun -d $image uml-kill sleep 1000
  init=$(c tasks ls 2>/dev/null | awk '$1 == "uml-kill" { print $2 }')
  expect_ok "uml: kill SIGKILL" c tasks kill -s SIGKILL uml-kill
  wait_for 30 sh -c "ctr --address $work/containerd.sock -n $ns tasks ls | grep -q '^uml-kill .*STOPPED'"
  expect_eq "uml: stopped by SIGKILL" STOPPED "$(status_of uml-kill)"
  expect_ok "uml: task rm" c tasks rm uml-kill
  expect_ok "uml: container rm" c containers rm uml-kill
  expect_fail "uml: the UML tree is gone" test -e "/proc/$init"
fi

expect_eq "no task left after the UML tier" "" "$(c tasks ls -q 2>&1)"
finish containerd
