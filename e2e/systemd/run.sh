#!/usr/bin/env bash
# The systemd cgroup driver for real: boots a Debian 12 rootfs (debootstrap, cached in
# .build-fixtures/debian-systemd) with systemd as pid 1 in a User Mode Linux guest on pure
# cgroup v2, and runs e2e/systemd/guest-test.sh there as a oneshot service: swiftlet
# --systemd-cgroup creates containers whose transient scopes systemd starts over D-Bus
# (checked with systemctl and the cgroup files), update, a duplicate unit name, delete
# stopping the unit, and a pids limit against forks. Prints "ok"/"FAIL" per check and
# "systemd: N passed, N failed, N skipped".
#
# usage: e2e/systemd/run.sh [SWIFTLET]   (default dist/swiftlet; must be static)
# env: UML_KERNEL (default dist/uml/linux-test: cgroup2 with memory, pids, cpu, io, and what
#      systemd needs), UML_TIMEOUT (default 300 s); boots through e2e/uml/guest.sh.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
swiftlet=${1:-$top/dist/swiftlet}
rootfs_cache=$top/.build-fixtures/debian-systemd
. "$top/e2e/uml/guest.sh"

[ -x "$swiftlet" ] || { echo "systemd: $swiftlet is missing (make dist/swiftlet)" >&2; exit 1; }
if ldd "$swiftlet" >/dev/null 2>&1; then echo "systemd: $swiftlet is not static" >&2; exit 1; fi
uml_kernel test
if [ ! -x "$rootfs_cache/lib/systemd/systemd" ]; then
  command -v debootstrap >/dev/null || apt-get install -y debootstrap >/dev/null
  rm -rf "$rootfs_cache.tmp"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps bookworm "$rootfs_cache.tmp" \
    http://deb.debian.org/debian >/dev/null
  mv "$rootfs_cache.tmp" "$rootfs_cache"
fi

# The jail is a copy of the Debian rootfs (the guest writes to its root), systemd its init.
uml_setup systemd
work=$UML_WORK
jail=$UML_JAIL
rm -rf --one-file-system "$jail"
cp -a "$rootfs_cache" "$jail"
ln -s /lib/systemd/systemd "$jail/init"
cp "$swiftlet" "$jail/swiftlet"
cp "$top/e2e/systemd/guest-test.sh" "$jail/guest-test.sh"
# Where the kernel keeps only the SSE state (UML_GUEST_AVX=0, see e2e/uml/guest.sh), no AVX
# in the guest's processes: glibc's tunables, and the crypto libraries systemd links pick their
# own code paths: libgcrypt from /etc/gcrypt/hwf.deny, OpenSSL from OPENSSL_ia32cap. Without
# these, pid 1's memory is corrupted early in boot there.
tunables=$UML_TUNABLES openssl_caps=
if [ "$UML_GUEST_AVX" = 0 ]; then
  tunables="$UML_TUNABLES,-AVX_Fast_Unaligned_Load"
  openssl_caps=OPENSSL_ia32cap=0:0
  mkdir -p "$jail/etc/gcrypt"
  echo all > "$jail/etc/gcrypt/hwf.deny"
fi

# The guest: no gettys, no timers, the test as a oneshot once the system is up.
sys=$jail/etc/systemd/system
for u in getty@tty1.service serial-getty@ttyS0.service console-getty.service systemd-timesyncd.service \
         apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$sys/$u"
done
echo swiftlet-guest > "$jail/etc/hostname"
: > "$jail/etc/fstab"
# Every service gets them too (dbus-daemon, systemd's helpers).
mkdir -p "$jail/etc/systemd/system.conf.d"
printf '[Manager]\nDefaultEnvironment=%s %s\n' "$tunables" "$openssl_caps" > "$jail/etc/systemd/system.conf.d/tunables.conf"
cat > "$sys/swiftlet-test.service" <<UNIT
[Unit]
Description=swiftlet systemd driver test
After=multi-user.target dbus.service
[Service]
Type=oneshot
Environment=$tunables $openssl_caps
ExecStart=/guest-test.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/console
UNIT
ln -sf /etc/systemd/system/swiftlet-test.service "$sys/multi-user.target.wants/swiftlet-test.service"

# The containers: static busybox, configs from `swiftlet spec` with the cgroupsPath and limits.
mkdir -p "$jail/bundle/rootfs/bin"
cp /bin/busybox "$jail/bundle/rootfs/bin/busybox"
for a in sh sleep true echo; do ln -sf busybox "$jail/bundle/rootfs/bin/$a"; done
(cd "$work" && "$swiftlet" spec && mv config.json spec.json)
write_config() {  # DIR CGROUPS_PATH PIDS_LIMIT ARGS_JSON
  mkdir -p "$jail/$1"
  python3 - "$work/spec.json" "$jail/$1/config.json" "$2" "$3" "$4" "$tunables" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["process"]["terminal"] = False
spec["process"]["args"] = json.loads(sys.argv[5])
spec["process"]["env"] = ["PATH=/bin", sys.argv[6]]
spec["root"] = {"path": "/bundle/rootfs", "readonly": False}
spec["linux"]["cgroupsPath"] = sys.argv[3]
spec["linux"]["resources"] = {
    "memory": {"limit": 64 << 20},
    "pids": {"limit": int(sys.argv[4])},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000},
}
json.dump(spec, open(sys.argv[2], "w"), indent=1)
PY
}
write_config bundle machine.slice:swiftlet:c1 64 '["sleep", "1000"]'
write_config bundle-dup machine.slice:swiftlet:c1 64 '["sleep", "1000"]'
write_config bundle-forks machine.slice:swiftlet:c2 5 \
  '["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 3 & done; wait"]'

UML_MEM=${UML_MEM:-320M} UML_TIMEOUT=${UML_TIMEOUT:-300} uml_boot systemd.unified_cgroup_hierarchy=1 ${openssl_caps:+"$openssl_caps"}
echo "systemd guest ran for $UML_BOOT_MS ms"
# SYSTEMD_GUEST_CONSOLE=FILE keeps the guest's console (every RESULT line) for a look.
[ -z "${SYSTEMD_GUEST_CONSOLE:-}" ] || cp "$UML_LOG" "$SYSTEMD_GUEST_CONSOLE"
echo "guest's failed units: $(uml_result failed-units)"
echo "journal of swiftlet-c1.scope: $(uml_result c1-journal)"
[ -z "$(uml_result dbus-status)" ] || echo "guest's dbus.service: $(uml_result dbus-status)"

# check NAME WHAT PATTERN: the guest's value of NAME must match the bash glob PATTERN.
matches() { [[ "$CHECK_VALUE" == $CHECK_PATTERN ]]; }
check() { CHECK_VALUE=$(uml_result "$1") CHECK_PATTERN=$3 uml_check "$1" "$2" matches; }
check running "systemd is pid 1 and the system bus runs" "systemd active"
if [ -z "$(uml_result running)" ]; then
  uml_skip "the driver's checks" "the guest's test service never ran (see the console)"
  uml_summary systemd
  exit 1
fi
check layout "the guest runs pure cgroup v2" "cgroup2fs"
check create "--systemd-cgroup create succeeds" "0 "
check active "the container's scope is active in systemd" "active"
check delegate "the scope is delegated (Delegate=yes)" "yes"
check slice "the scope is in the slice cgroupsPath names" "machine.slice"
check controlgroup "systemd's cgroup for the scope" "/machine.slice/swiftlet-c1.scope"
check initcgroup "the init is in the scope's cgroup" "0::/machine.slice/swiftlet-c1.scope"
check init-in-scope "the scope's cgroup.procs holds the init" "1"
check memory.max "memory.max from the limit" "67108864"
check unit.MemoryMax "systemd knows MemoryMax" "67108864"
check pids.max "pids.max from the limit" "64"
check unit.TasksMax "systemd knows TasksMax" "64"
check cpu.max "cpu.max from quota and period" "50000 100000"
check unit.CPUQuotaPerSecUSec "systemd knows the CPU quota" "500ms"
check cpu.weight "cpu.weight from shares 512" "[1-9]*"
check status "systemctl status shows the scope" "*swiftlet-c1.scope*swiftlet container c1*"
check start "start" "0"
check update "update --memory --pids-limit" "0 "
check memory.max-updated "update wrote memory.max" "33554432"
check unit.MemoryMax-updated "update told systemd (SetUnitProperties)" "33554432"
check pids.max-updated "update wrote pids.max" "20"
check duplicate "a second container for the same unit is refused in one line" "1 systemd: StartTransientUnit swiftlet-c1.scope: org.freedesktop.systemd1.UnitExists: *"
check active-after-duplicate "the refused create left the first scope alone" "active"
check delete "delete --force" "0 "
check active-after-delete "after delete the unit is inactive" "inactive"
check cgroup-after-delete "the scope's cgroup is gone" "gone"
check forks "pids.limit 5 stops the container's forks" "* [1-9]*"
check active-c2-after "run's container scope is gone after delete" "inactive"
uml_summary systemd
