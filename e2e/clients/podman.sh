#!/usr/bin/env bash
# podman (rootful) driving swiftlet as its OCI runtime, through conmon, on a busybox image
# loaded from a local tarball. Everything podman keeps (storage, run state, events, network
# config, cgroups) lives under this run's own directories and cgroup parent, removed at the end.
#   usage: podman.sh /abs/path/to/swiftlet
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
runtime=${1:-}
require_runtime "$runtime"
for tool in podman conmon script; do
  command -v $tool >/dev/null || { echo "podman.sh: $tool is not installed" >&2; exit 2; }
done

work=$(mktemp -d /tmp/swiftlet-podman.XXXXXX)
cgroup_parent=/swiftlet-podman-$$
image=localhost/swiftlet-busybox:test

# podman PODMAN-ARGS...: podman confined to this run's directories, swiftlet as the runtime.
pm_args=(--root "$work/root" --runroot "$work/runroot" --storage-driver vfs
  --cgroup-manager cgroupfs --events-backend file --tmpdir "$work/tmp" --runtime "$runtime")
pm() { command podman "${pm_args[@]}" "$@"; }
pm_line="podman ${pm_args[*]}"  # the same, for script(1) and sh -c
# prun RUN-ARGS...: `podman run` in this run's cgroup parent.
prun() { pm run --cgroup-parent "$cgroup_parent" "$@"; }

# Rootful podman also makes /run/containers (its network state) and runs the runtime with
# its default state root (/run/swiftlet): remove them if this run made them and they are empty.
made_here=()
for d in /run/containers /run/swiftlet; do [ -e "$d" ] || made_here+=("$d"); done
# Its lock file in shared memory too.
made_lock=
[ -e /dev/shm/libpod_lock ] || made_lock=/dev/shm/libpod_lock

cleanup() {
  pm rm -a -f -t 0 >/dev/null 2>&1
  pm rmi -a -f >/dev/null 2>&1
  # conmon and the containers lived below this run's cgroup parent: remove it, leaves first.
  local dir
  for dir in /sys/fs/cgroup/*"$cgroup_parent"; do
    [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  grep -qF " $work/" /proc/self/mountinfo &&
    awk -v w="$work/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  rm -rf --one-file-system "$work"
  for dir in "${made_here[@]}"; do
    [ -d "$dir" ] && find "$dir" -depth -type d -empty -delete 2>/dev/null
  done
  [ -z "$made_lock" ] || rm -f "$made_lock"
}
trap cleanup EXIT

mkdir -p "$work/tmp" "$work/net"
# conmon leaves a file "oom" in its working directory after an OOM kill: keep it in ours.
cd "$work" || exit 1
# Rootful podman asks for RLIMIT_NOFILE and RLIMIT_NPROC hard limits above its own (podman
# 4.3 itself runs with NPROC 32768); raising a hard limit needs CAP_SYS_RESOURCE, which some
# hosts (this CI's among them) drop from root's bounding set, and then every runtime refuses
# the container. There, ask for the limits the runtime is started with.
ulimits=
if (( ! ($(awk '/^CapBnd:/ { print "0x" $2 }' /proc/self/status) >> 24 & 1) )); then
  nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)
  [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
  ulimits="default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
fi
# Exactly the entries docs/clients.md shows, with the runtime under test in place of the install path.
cat > "$work/containers.conf" <<CONF
[containers]
netns = "none"
$ulimits

[engine]
runtime = "swiftlet"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "swiftlet"]
events_logfile_path = "$work/events.log"

[engine.runtimes]
swiftlet = ["$runtime"]

[network]
network_config_dir = "$work/net"
CONF
cat > "$work/registries.conf" <<'CONF'
unqualified-search-registries = []
CONF
cat > "$work/storage.conf" <<CONF
[storage]
driver = "vfs"
runroot = "$work/runroot"
graphroot = "$work/root"
CONF
export CONTAINERS_CONF=$work/containers.conf CONTAINERS_REGISTRIES_CONF=$work/registries.conf \
  CONTAINERS_STORAGE_CONF=$work/storage.conf

echo "== podman $(command podman --version | awk '{print $3}') with $runtime"
bash "$here/image.sh" "$work/busybox.tar" "$image" >/dev/null || { echo "podman.sh: image.sh failed" >&2; exit 1; }
expect_ok "podman load of the busybox archive" pm load -q -i "$work/busybox.tar"
expect_eq "podman uses swiftlet" "$runtime" "$(pm info --format '{{.Host.OCIRuntime.Path}}' 2>&1)"

# --- run, exit codes, errors as podman maps them
expect_eq "run echo" "hello" "$(prun --rm $image echo hello 2>&1)"
expect_exit "exit code of the container" 3 prun --rm $image sh -c 'exit 3'
out=$(prun --rm $image /no/such/binary 2>&1); status=$?
expect_eq "missing executable: exit 127" 127 "$status"
expect_match "missing executable: runc's wording" "no such file or directory" "$out"
# With "swiftlet" in runtime_supports_json, podman passes --log-format=json --log FILE and
# reads the error back from that file.
prun --name badexec $image /no/such/binary >/dev/null 2>&1
rundir=$work/runroot/vfs-containers/$(pm inspect -f '{{.Id}}' badexec 2>/dev/null)/userdata
expect_match "the error is a JSON line in podman's oci-log" '^\{"level":"error",.*no such file or directory' \
  "$(tail -1 "$rundir/oci-log" 2>&1)"
pm rm -f badexec >/dev/null 2>&1
out=$(prun --rm $image /etc/passwd 2>&1); status=$?
expect_eq "non-executable file: exit 126" 126 "$status"
expect_match "non-executable file: runc's wording" "permission denied" "$out"

# --- process settings
expect_eq "env, workdir and user" "bar /tmp 1000:1000" \
  "$(prun --rm -e FOO=bar -w /tmp -u 1000:1000 $image sh -c 'echo $FOO $(pwd) $(id -u):$(id -g)' 2>&1)"
expect_eq "user by name from the image's /etc/passwd" "1000 /home/user" \
  "$(prun --rm -u user $image sh -c 'echo $(id -u) $HOME' 2>&1)"
expect_eq "hostname is the container's" "box1" "$(prun --rm --hostname box1 $image hostname 2>&1)"

# --- read-only root
out=$(prun --rm --read-only $image sh -c 'touch /x && echo wrote' 2>&1)
expect_match "read-only root refuses writes" "Read-only file system" "$out"
expect_eq "read-only root keeps /tmp writable" "ok" \
  "$(prun --rm --read-only $image sh -c 'touch /tmp/x && echo ok' 2>&1)"

# --- limits, checked in the container's cgroups on the host
prun -d --name limits -m 48m --memory-swap 48m --pids-limit 20 --cpus 0.5 $image sleep 1000 >/dev/null 2>&1
pid=$(pm inspect -f '{{.State.Pid}}' limits 2>/dev/null)
if [ -n "$pid" ] && [ "$pid" != 0 ]; then
  expect_eq "memory limit in memory.limit_in_bytes" 50331648 \
    "$(cat "$(cgroup_v1_dir memory "$pid")/memory.limit_in_bytes" 2>&1)"
  expect_eq "pids limit in pids.max" 20 "$(cat "$(cgroup_v1_dir pids "$pid")/pids.max" 2>&1)"
  expect_eq "cpu quota in cpu.cfs_quota_us" 50000 "$(cat "$(cgroup_v1_dir cpu "$pid")/cpu.cfs_quota_us" 2>&1)"
  expect_match "cgroup below podman's cgroup parent" "^/sys/fs/cgroup/memory$cgroup_parent/" "$(cgroup_v1_dir memory "$pid")"
  expect_ok "podman update --memory" pm update --memory 64m --memory-swap 64m limits
  expect_eq "update reached memory.limit_in_bytes" 67108864 \
    "$(cat "$(cgroup_v1_dir memory "$pid")/memory.limit_in_bytes" 2>&1)"
  expect_ok "podman update --cpus" pm update --cpus 0.25 limits
  expect_eq "update reached cpu.cfs_quota_us" 25000 "$(cat "$(cgroup_v1_dir cpu "$pid")/cpu.cfs_quota_us" 2>&1)"
else
  fail "container with limits runs" "$(pm logs limits 2>&1)"
fi
pm rm -f -t 0 limits >/dev/null 2>&1

# (podman's State.OOMKilled stays false on this host's v1 layout with runc as well: conmon
# does not see the event; the kernel's verdict is what the checks read.)
prun --rm -m 32m --memory-swap 32m $image tail /dev/zero >/dev/null 2>&1; status=$?
expect_eq "memory hog is OOM-killed: exit 137" 137 "$status"
expect_match "the OOM killer picks the hog, the shell survives" "tail=137$" \
  "$(prun --rm -m 32m --memory-swap 32m $image sh -c 'tail /dev/zero; echo tail=$?' 2>&1)"

out=$(prun --rm --pids-limit 10 $image sh -c 'for i in $(seq 30); do sleep 3 & done 2>&1; wait' 2>&1)
expect_match "fork bomb stops at the pids limit" "can't fork|Resource temporarily unavailable" "$out"

# --- capabilities, no-new-privileges, seccomp
expect_eq "cap-drop all" "CapEff:	0000000000000000" "$(prun --rm --cap-drop all $image grep CapEff /proc/self/status 2>&1)"
expect_eq "cap-drop all, cap-add NET_ADMIN" "CapEff:	0000000000001000" \
  "$(prun --rm --cap-drop all --cap-add NET_ADMIN $image grep CapEff /proc/self/status 2>&1)"
expect_match "cap-drop CHOWN: chown is refused" "Operation not permitted" \
  "$(prun --rm --cap-drop CHOWN $image chown 1000 /tmp 2>&1)"
expect_eq "no-new-privileges" "NoNewPrivs:	1" \
  "$(prun --rm --security-opt no-new-privileges $image grep NoNewPrivs /proc/self/status 2>&1)"
expect_eq "privileges may grow by default" "NoNewPrivs:	0" "$(prun --rm $image grep NoNewPrivs /proc/self/status 2>&1)"
cat > "$work/seccomp.json" <<'JSON'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
JSON
out=$(prun --rm --security-opt seccomp="$work/seccomp.json" $image sh -c 'mkdir /tmp/d && echo made' 2>&1)
expect_match "seccomp profile denies mkdir" "Operation not permitted" "$out"
expect_eq "seccomp profile allows the rest" "made-file" \
  "$(prun --rm --security-opt seccomp="$work/seccomp.json" $image sh -c 'touch /tmp/f && echo made-file' 2>&1)"
expect_eq "podman's default profile is loaded" "Seccomp:	2" "$(prun --rm $image grep '^Seccomp:' /proc/self/status 2>&1)"
expect_eq "seccomp=unconfined loads none" "Seccomp:	0" \
  "$(prun --rm --security-opt seccomp=unconfined $image grep '^Seccomp:' /proc/self/status 2>&1)"

# --- terminals
out=$(prun --rm -t $image sh -c 'tty; stty size' 2>&1 | tr -d '\r')
expect_match "run -t: stdin is a pty" "^/dev/pts/[0-9]+" "$out"
out=$(printf 'echo hi-$((40 + 2))\nexit 7\n' |
  script -qec "$pm_line run --cgroup-parent $cgroup_parent --rm -it $image sh" /dev/null 2>&1)
status=$?
expect_match "run -it: interactive shell answers" "hi-42" "$(printf '%s' "$out" | tr -d '\r')"
expect_eq "run -it: exit status of the shell" 7 "$status"

# --- detached container: exec, logs, kill, pause, top, stop, rm
id=$(prun -d --name web $image sh -c 'echo started; echo to-stderr >&2; trap "echo got-usr1" USR1; while true; do sleep 0.1; done' 2>&1)
expect_match "run -d prints the id" "^[0-9a-f]{64}$" "$id"
expect_ok "swiftlet holds the container's state" test -f "/run/swiftlet/$id/state.json"
expect_eq "swiftlet state is running" running "$("$runtime" state "$id" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')"
expect_eq "exec" "inside" "$(pm exec web echo inside 2>&1)"
expect_exit "exec exit code" 5 pm exec web sh -c 'exit 5'
expect_eq "exec as a user with env" "1000 v" "$(pm exec -u 1000 -e V=v web sh -c 'echo $(id -u) $V' 2>&1)"
expect_match "exec -t: a pty" "^/dev/pts/[0-9]+" "$(pm exec -t web tty 2>&1 | tr -d '\r')"
out=$(printf 'echo $((6 * 7))\nexit 4\n' |
  script -qec "$pm_line exec -it web sh" /dev/null 2>&1)
status=$?
expect_match "exec -it: interactive shell answers" "42" "$(printf '%s' "$out" | tr -d '\r')"
expect_eq "exec -it: exit status" 4 "$status"
expect_exit "exec of a missing binary: 127" 127 pm exec web /no/such/binary
logs=$(pm logs web 2>&1)
expect_match "logs: stdout" "started" "$logs"
expect_match "logs: stderr" "to-stderr" "$logs"
expect_ok "kill -s USR1" pm kill -s USR1 web
wait_for 5 sh -c "$pm_line logs web 2>&1 | grep -q got-usr1"
expect_match "the container got SIGUSR1" "got-usr1" "$(pm logs web 2>&1)"
top=$(pm top web pid args 2>&1)
expect_match "top lists the processes" "sleep 0.1|while true" "$top"
expect_ok "pause" pm pause web
expect_eq "paused" paused "$(pm inspect -f '{{.State.Status}}' web 2>&1)"
pid=$(pm inspect -f '{{.State.Pid}}' web 2>/dev/null)
expect_eq "freezer is FROZEN" FROZEN "$(cat "$(cgroup_v1_dir freezer "$pid")/freezer.state" 2>&1)"
expect_ok "unpause" pm unpause web
expect_eq "running again" running "$(pm inspect -f '{{.State.Status}}' web 2>&1)"
expect_ok "stop" pm stop -t 1 web
expect_eq "stopped" exited "$(pm inspect -f '{{.State.Status}}' web 2>&1)"
expect_ok "rm" pm rm web
expect_fail "swiftlet state is gone after rm" test -e "/run/swiftlet/$id"

id=$(prun -d $image sleep 1000 2>&1)
expect_ok "kill -s KILL" pm kill -s KILL "$id"
expect_eq "wait reports 137 after SIGKILL" 137 "$(pm wait "$id" 2>&1)"
expect_ok "rm after kill" pm rm "$id"

# --- The UML isolation tier, chosen per container with an annotation.
if reason=$(uml_unavailable "$runtime"); then
  skip "UML tier: run, stop and remove" "$reason"
else
  uml=(--annotation org.swiftlet.isolation=uml)
  out=$(prun --rm "${uml[@]}" $image uname -r 2>&1)
  expect_match "uml: run --rm in a kernel of its own" "^6\.1\." "$out"
  expect_no_match "uml: not the host's kernel" "^$(uname -r)$" "$out"
  expect_exit "uml: exit code of the container" 3 prun --rm "${uml[@]}" $image sh -c 'exit 3'
  expect_eq "uml: env, workdir and user" "bar /tmp 1000:1000" \
    "$(prun --rm "${uml[@]}" -e FOO=bar -w /tmp -u 1000:1000 $image sh -c 'echo $FOO $(pwd) $(id -u):$(id -g)' 2>&1)"
  id=$(prun -d --name umlweb "${uml[@]}" $image sh -c 'echo started; trap "echo got-term; exit 9" TERM; while true; do sleep 0.1; done' 2>&1)
  expect_match "uml: run -d prints the id" "^[0-9a-f]{64}$" "$id"
  expect_eq "uml: running" running "$(pm inspect -f '{{.State.Status}}' umlweb 2>&1)"
  expect_match "uml: swiftlet reports the tier in its state" '"org.swiftlet.isolation": *"uml"' "$("$runtime" state "$id" 2>&1)"
  pid=$(pm inspect -f '{{.State.Pid}}' umlweb 2>/dev/null)
  expect_eq "uml: the container's pid runs as the tier's unprivileged uid" 1879048192 \
    "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>&1)"
  wait_for 30 sh -c "$pm_line logs umlweb 2>&1 | grep -q started"
  expect_match "uml: logs: stdout from the guest" "started" "$(pm logs umlweb 2>&1)"
  expect_match "uml: exec runs in the guest" "^6\.1\." "$(pm exec umlweb uname -r 2>&1)"
  expect_exit "uml: exec exit code" 5 pm exec umlweb sh -c 'exit 5'
  expect_eq "uml: exec as a user with env" "1000 v" "$(pm exec -u 1000 -e V=v umlweb sh -c 'echo $(id -u) $V' 2>&1)"
  expect_ok "uml: stop (SIGTERM forwarded into the guest)" pm stop -t 20 umlweb
  expect_eq "uml: exited" exited "$(pm inspect -f '{{.State.Status}}' umlweb 2>&1)"
  expect_eq "uml: exit code of the trap" 9 "$(pm inspect -f '{{.State.ExitCode}}' umlweb 2>&1)"
  expect_match "uml: the trap ran in the guest" "got-term" "$(pm logs umlweb 2>&1)"
  expect_ok "uml: rm" pm rm umlweb
  expect_fail "uml: swiftlet state is gone after rm" test -e "/run/swiftlet/$id"
  expect_fail "uml: the UML tree is gone" test -e "/proc/$pid"
  id=$(prun -d "${uml[@]}" $image sleep 1000 2>&1)
  expect_ok "uml: kill -s KILL" pm kill -s KILL "$id"
  expect_eq "uml: wait reports 137 after SIGKILL" 137 "$(pm wait "$id" 2>&1)"
  expect_ok "uml: rm after kill" pm rm "$id"
fi

finish podman
