#!/usr/bin/env bash
# Primitive containers on another kernel, for real: boots the test stages' User Mode Linux kernel
# (dist/uml/linux-test, Linux 6.1; Debian's linux.uml when it is not built) as a process,
# through e2e/uml/guest.sh, with a hostfs root jailed to a prepared
# directory holding the static swiftlet, busybox and a bundle. The guest's init runs
# `swiftlet check`, a primitive container through create/start/state/kill --all/delete, and
# the fallback under a seccomp filter that makes the guest kernel refuse namespaces; it
# prints `RESULT name value` lines, which this script checks.
#
# What the guest lacks, for real: no cgroup file system is mounted (as on many devices: the
# kernel could, but nothing mounts one), no network device but
# loopback, no /proc/config.gz. With the filter, clone3 fails with ENOSYS and CLONE_NEW*
# with EPERM in the guest kernel itself.
#
# The guest's FPU state: e2e/uml/avxregs.c keeps values in the AVX-512 (or AVX) registers of
# two processes and two threads across many switches and signal handlers that overwrite them;
# it must pass wherever the guest may use AVX (UML_GUEST_AVX, see guest.sh), and is skipped,
# saying why, where the kernel keeps only the SSE state.
#
# usage: e2e/uml/run.sh [SWIFTLET]   (default dist/swiftlet; must be static)
# Needs root only for nothing: UML runs unprivileged, but CI runs it as root.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/e2e/uml/guest.sh"
swiftlet=${1:-$top/dist/swiftlet}
uml_kernel test

for f in "$swiftlet" /bin/busybox; do
  [ -x "$f" ] || { echo "uml: $f is missing (busybox-static, make)" >&2; exit 1; }
done
if ldd "$swiftlet" >/dev/null 2>&1; then echo "uml: $swiftlet is not static" >&2; exit 1; fi

uml_setup uml
jail=$UML_JAIL
busybox=/bin/busybox
uml_jail_static "$swiftlet" swiftlet
# The guest's launcher that makes its kernel refuse namespaces (static: the jail has no libc).
cc -O2 -static -o "$jail/refuse" "$top/e2e/primitive/refuse.c" -lseccomp
cc -O2 -static -pthread -o "$jail/avxregs" "$top/e2e/uml/avxregs.c"

rootfs=$jail/bundle/rootfs
mkdir -p "$rootfs"/{bin,dev,proc,sys,tmp,etc}
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in sh sleep id cat echo grep ls readlink setsid wait true; do ln -sf busybox "$rootfs/bin/$applet"; done
printf 'root:x:0:0:root:/:/bin/sh\nuser:x:1000:1000:user:/:/bin/sh\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' > "$rootfs/etc/group"

# Static glibc in the guest must not use AVX registers (see guest.sh).
tunables=$UML_TUNABLES

# $1: annotations object; $2: the shell script the container runs; $3: file name.
write_config() {
  cat > "$jail/bundle/$3" <<JSON
{
  "ociVersion": "1.0.2",
  "annotations": $1,
  "process": {
    "terminal": false, "user": {"uid": 1000, "gid": 1000}, "cwd": "/",
    "args": ["sh", "-c", "$2"],
    "env": ["PATH=/bin", "$tunables"],
    "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 456, "soft": 123}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs"},
  "hostname": "prim",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755", "size=1024k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
  ],
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"]
  }
}
JSON
}
tree='sleep 301 & (sleep 302 &); id -u; grep -E \"^(CapEff|NoNewPrivs)\" /proc/self/status; ulimit -n; echo ready > /tmp/ready; wait'
write_config '{"org.swiftlet.isolation": "chroot"}' "$tree" config-chroot.json
write_config '{"org.swiftlet.fallback": "chroot"}' 'readlink /proc/self/ns/pid; id -u' config-fallback.json
write_config '{}' 'true' config-plain.json

cat > "$jail/init" <<'INIT'
#!/bin/sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t tmpfs tmpfs /run
$B mount -t tmpfs tmpfs /tmp
export PATH=/bin
S="/swiftlet --root /run/swiftlet"
r() { $B echo "RESULT $*"; }
use() { $B cp /bundle/$1 /bundle/config.json; }

$B echo "== swiftlet check"
/swiftlet check; r check-exit $?
r kernel "$($B uname -r)"
r hostpidns "$($B readlink /proc/self/ns/pid)"

$B echo "== primitive container (isolation chroot)"
use config-chroot.json
$S create --bundle /bundle prim >/tmp/out 2>/tmp/err; r create-exit $?
r create-stderr "$($B cat /tmp/err)"
r state-created "$($S state prim | $B tr -d '\n ')"
$S start prim; r start-exit $?
# The container writes its ready marker after its output (a loaded host slows the guest).
i=0; while [ ! -e /bundle/rootfs/tmp/ready ] && [ $i -lt 400 ]; do $B sleep 0.05; i=$((i+1)); done
r output "$($B cat /tmp/out | $B tr '\n\t' '  ')"
pid=$($S state prim | $B grep '"pid"' | $B tr -dc 0-9)
r processes "$($B ps -o pid,ppid,comm | $B grep -c 'sleep')"
r state-running "$($S state prim | $B grep -c '"running"')"
r pause "$($S pause prim 2>&1)"
$S kill --all prim KILL; r kill-exit $?
$B sleep 0.3
r processes-after-kill "$($B ps -o comm | $B grep -c 'sleep')"
r state-stopped "$($S state prim | $B grep -c '"stopped"')"
$S delete prim; r delete-exit $?
r mounts-after-delete "$($B grep -c /bundle/rootfs /proc/self/mountinfo)"
r state-dirs "$($B ls /run/swiftlet | $B wc -l)"

$B echo "== fallback under a seccomp filter refusing namespaces (cgroup2 mounted now)"
$B mount -t cgroup2 cgroup2 /sys/fs/cgroup; r cgroup2-mount $?
use config-plain.json
/refuse namespaces -- $S run --bundle /bundle plain > /tmp/out 2>/tmp/err; r plain-exit $?
r plain-stderr "$($B cat /tmp/err)"
r plain-stderr-lines "$($B wc -l < /tmp/err)"
use config-fallback.json
/refuse namespaces -- $S run --bundle /bundle fb > /tmp/out 2>/tmp/err; r fallback-exit $?
r fallback-stderr "$($B cat /tmp/err)"
r fallback-output "$($B cat /tmp/out | $B tr '\n' ' ')"
$S run --bundle /bundle full > /tmp/out 2>/tmp/err; r full-exit $?
r full-output "$($B cat /tmp/out | $B tr '\n' ' ')"
r state-dirs-end "$($B ls /run/swiftlet | $B wc -l)"

$B echo "== vector registers across switches and signals"
r avxregs "$(/avxregs 3000 2>&1; $B echo "exit $?")"
r avxregs-signals "$(/avxregs 1000 signals 2>&1; $B echo "exit $?")"
r done 1
$B poweroff -f
INIT
chmod +x "$jail/init"

echo "== booting $UML_KERNEL"
uml_boot
log=$UML_LOG
sed -n '/== swiftlet check/,$p' "$log" | grep -v '^RESULT' || true
echo "== guest ran for $UML_BOOT_MS ms"

result() { sed -n "s/^RESULT $1 //p" "$log" | head -1 | tr -d '\r'; }
failures=0 passes=0
expect() { # name, description, test command...
  local name=$1 what=$2; shift 2
  if "$@"; then echo "ok   $what"; passes=$((passes + 1)); else echo "FAIL $what: $(result "$name")"; failures=$((failures + 1)); fi
}
has() { case "$(result "$1")" in *"$2"*) return 0;; *) return 1;; esac; }
is() { [ "$(result "$1")" = "$2" ]; }

expect done "the guest ran to the end" is done 1
expect kernel "the guest kernel is 6.1" has kernel "6.1."
expect check-exit "swiftlet check ran" is check-exit 0
expect create-exit "create of a primitive container" is create-exit 0
expect create-stderr "one warning naming what is missing" has create-stderr "primitive container: no pid namespace"
expect create-stderr "the warning names the missing cgroup" has create-stderr "no cgroup"
expect state-created "state shows the isolation annotation" has state-created '"org.swiftlet.isolation":"chroot"'
expect state-created "state names the missing pieces" has state-created '"org.swiftlet.missing":"pid,net,ipc,uts,cgroup"'
expect start-exit "start" is start-exit 0
expect output "runs as the configured user with caps cut, no_new_privs, rlimit" \
  has output "1000 CapEff: 0000000000000000 NoNewPrivs: 1 123"
expect processes "the container's processes run" is processes 2
expect pause "pause says there is no cgroup" has pause "no cgroup"
expect kill-exit "kill --all" is kill-exit 0
expect processes-after-kill "kill --all reached the orphaned grandchild too" is processes-after-kill 0
expect state-stopped "stopped after kill" is state-stopped 1
expect delete-exit "delete" is delete-exit 0
expect mounts-after-delete "no mount left" is mounts-after-delete 0
expect cgroup2-mount "cgroup2 mounted for the fallback part" is cgroup2-mount 0
expect plain-exit "without the fallback annotation the refused namespaces fail create" \
  test "$(result plain-exit)" != 0
expect plain-stderr-lines "... with one line" is plain-stderr-lines 1
expect plain-stderr "... saying the kernel refused" has plain-stderr "ermitted"
expect fallback-exit "with the fallback the container runs primitive" is fallback-exit 0
expect fallback-stderr "... and says so" has fallback-stderr "primitive container: no pid namespace"
expect fallback-output "... in the guest's own pid namespace, as the configured user" \
  is fallback-output "$(result hostpidns) 1000 "
expect full-exit "without the filter the same config is full OCI" is full-exit 0
expect full-output "... in a pid namespace of its own" \
  bash -c '[ -n "$1" ] && [ "${1%% *}" != "$0" ]' "$(result hostpidns)" "$(result full-output)"
expect state-dirs-end "nothing left in the state root" is state-dirs-end 0
skips=0
if [ "$UML_GUEST_AVX" = 1 ]; then
  expect avxregs "the guest keeps a process's AVX registers across switches (threads too)" has avxregs " ok "
  expect avxregs-signals "... and restores them on sigreturn after a handler overwrote them" has avxregs-signals " ok "
else
  echo "skip AVX registers in the guest: $UML_KERNEL keeps only the SSE state on this host (UML_GUEST_AVX=0)"
  skips=1
fi

echo "uml: $passes passed, $failures failed, $skips skipped"
if [ $failures -ne 0 ]; then
  echo "== uml: $failures check(s) failed; guest console:"
  tail -60 "$log"
  exit 1
fi
echo "== uml: all checks passed"
