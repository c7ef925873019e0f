#!/usr/bin/env bash
# Pure cgroup v2, for real: boots the test UML kernel (dist/uml/linux-test: cgroup2 with the
# memory (+swap), pids, cpu, io, freezer controllers and BPF device programs) with no v1
# hierarchy (cgroup_no_v1=all), cgroup2 at /sys/fs/cgroup, a swap disk and a ubd disk for io,
# and runs e2e/cgroup2/guest.sh there for swiftlet, runc and crun (the same checks, where
# they apply), then rootless swiftlet as an unprivileged guest user in a subtree root delegated
# to it (e2e/cgroup2/rootless.sh). What UML 6.1 cannot give: cpuset (no SMP) and hugetlb (no
# hugetlbfs on UML).
#
# usage: e2e/cgroup2/run.sh [SWIFTLET]   (default dist/swiftlet; must be static)
# env: CGROUP2_RUNTIMES (default "swiftlet runc crun": those installed are used)
#
# The built kernel keeps a process's whole FPU state (uml/patches/xstate.patch), so runc's Go
# runtime and every glibc program run as on the host. With a kernel that keeps only the SSE
# part (UML_GUEST_AVX=0, see e2e/uml/guest.sh), glibc's programs are told so through
# GLIBC_TUNABLES, which a program started with another environment lacks: ps(1), which
# `swiftlet ps` runs with PATH alone, crashes (the table form of ps is skipped, saying so), and
# `runc init` (Go; it does not inherit GODEBUG) crashes: runc's checks are skipped, saying so.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/e2e/uml/guest.sh"
swiftlet=${1:-$top/dist/swiftlet}
uml_kernel test
if [ "$UML_KERNEL" = /usr/bin/linux.uml ]; then
  echo "cgroup2: needs the test kernel (make dist/uml/linux-test); Debian's has no cgroup2 BPF device programs" >&2
  exit 1
fi
if ldd "$swiftlet" >/dev/null 2>&1 || [ ! -x "$swiftlet" ]; then echo "cgroup2: $swiftlet is missing or not static" >&2; exit 1; fi

uml_setup cgroup2
uml_jail_static "$swiftlet" rt/swiftlet
runtimes=
for r in ${CGROUP2_RUNTIMES:-swiftlet runc crun}; do
  if [ "$r" = swiftlet ]; then runtimes+=" swiftlet"; continue; fi
  if exe=$(command -v "$r"); then uml_jail_dynamic "$exe" "rt/$r"; runtimes+=" $r"
  else echo "skip $r: not installed"; fi
done
mkdir -p "$UML_JAIL"/{bundles,rootfs/bin,rootfs/dev,rootfs/proc,rootfs/sys,rootfs/tmp,usr/bin,sbin}
cp /bin/busybox "$UML_JAIL/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$UML_JAIL/rootfs/bin/$applet"; done
# The container's tools: a memory hog (N MiB in a shell string; one that doubles a string
# instead livelocks reclaiming busybox's pages from hostfs at 8 MiB), a fork bomb, a busy loop.
cat > "$UML_JAIL/rootfs/bin/hog" <<'EOF'
#!/bin/sh
x=$(head -c $(($1 * 1048576)) /dev/zero | tr '\0' a)
echo survived
EOF
cat > "$UML_JAIL/rootfs/bin/bomb" <<'EOF'
#!/bin/sh
b() { b | b & }
b 2>/dev/null
EOF
cat > "$UML_JAIL/rootfs/bin/spin" <<'EOF'
#!/bin/sh
i=0; while [ $i -lt $1 ]; do i=$((i + 1)); done
EOF
chmod +x "$UML_JAIL"/rootfs/bin/{hog,bomb,spin}
cp "$top/e2e/cgroup2/guest.sh" "$UML_JAIL/checks.sh"
cp "$top/e2e/cgroup2/rootless.sh" "$UML_JAIL/rootless.sh"
# The unprivileged user of the rootless checks (guest only).
echo 'rl:x:1000:1000:rl:/tmp:/bin/sh' >> "$UML_JAIL/etc/passwd"
echo 'rl:x:1000:' >> "$UML_JAIL/etc/group"
printf 'TUNABLES=%s\nRUNTIMES="%s"\nexport %s GODEBUG=cpu.avx=off,cpu.avx2=off\n' \
  "$UML_TUNABLES" "$runtimes" "$UML_TUNABLES" > "$UML_JAIL/checks.env"

cat > "$UML_JAIL/init" <<'INIT'
#!/bin/sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev 2>/dev/null
$B mount -t tmpfs tmpfs /run
$B mount -t tmpfs tmpfs /tmp
$B mount -t cgroup2 cgroup2 /sys/fs/cgroup
$B echo "RESULT kernel $($B uname -r)"
$B echo "RESULT controllers $($B cat /sys/fs/cgroup/cgroup.controllers)"
$B echo "RESULT v1 $($B grep -c ' cgroup ' /proc/mounts)"
echo bfq > /sys/block/ubda/queue/scheduler 2>/dev/null
SWAP=off
$B mkswap /dev/ubdb >/dev/null 2>&1 && $B swapon /dev/ubdb && SWAP=on
export SWAP
$B sh /checks.sh
# Parents of absolute and (for runc and crun) relative paths are the caller's: they stay.
$B echo "== cgroups left: $($B find /sys/fs/cgroup -mindepth 1 -type d | $B tr '\n' ' ')"
busy=0
for d in $($B find /sys/fs/cgroup -mindepth 1 -type d); do [ -s $d/cgroup.procs ] && busy=$((busy + 1)); done
$B echo "RESULT busy-cgroups $busy"
$B echo "RESULT swiftlet-parent $([ -d /sys/fs/cgroup/swiftlet ] && echo present || echo gone)"
$B poweroff -f
INIT
chmod +x "$UML_JAIL/init"

# ubda (98:0): the io controller's disk; ubdb: swap. Both sparse files in the guest's memory tmpfs.
uml_disk ubda 16
uml_disk ubdb 128
echo "== booting $UML_KERNEL with runtimes: $runtimes"
UML_MEM=${UML_MEM:-192M} UML_TIMEOUT=${UML_TIMEOUT:-480} uml_boot cgroup_no_v1=all
sed -n 's/\r$//; /^== /p' "$UML_LOG"
echo "== guest ran for $UML_BOOT_MS ms"
uml_check done "the guest ran to the end" uml_is done 1
uml_check kernel "the guest kernel is 6.1" uml_has kernel 6.1.
uml_check v1 "no cgroup v1 hierarchy is mounted" uml_is v1 0
uml_check controllers "cgroup2 offers memory, pids, cpu, io" \
  bash -c 'for c in memory pids cpu io; do [[ " $0 " == *" $c "* ]] || exit 1; done' "$(uml_result controllers)"
uml_guest_checks
uml_check busy-cgroups "no process left in a cgroup of the guest" uml_is busy-cgroups 0
uml_check swiftlet-parent "swiftlet's /swiftlet parent went with its last container" uml_is swiftlet-parent gone
uml_summary cgroup2
