#!/usr/bin/env bash
# Hybrid with controllers split, for real: boots the test UML kernel with
# cgroup_no_v1=memory,pids, mounts v1 hierarchies for cpu, freezer and devices and
# cgroup2 at /sys/fs/cgroup/unified holding memory and pids (as distributions that move some
# controllers to v2 boot), and checks swiftlet's basic limits there: memory (with an OOM kill)
# and pids on v2, cpu shares and the device rules on v1, freeze through v1, delete removing
# the cgroup from every hierarchy.
#
# usage: e2e/cgroup2/hybrid.sh [SWIFTLET]   (default dist/swiftlet; must be static)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/e2e/uml/guest.sh"
swiftlet=${1:-$top/dist/swiftlet}
uml_kernel test
uml_setup hybrid
uml_jail_static "$swiftlet" swiftlet
mkdir -p "$UML_JAIL"/{bundle,rootfs/bin,rootfs/dev,rootfs/proc,rootfs/sys,rootfs/tmp}
cp /bin/busybox "$UML_JAIL/rootfs/bin/busybox"
for applet in sh sleep cat dd echo; do ln -sf busybox "$UML_JAIL/rootfs/bin/$applet"; done
# The container's process: sleeps, or (with "hog") first has dd fill a 64 MiB buffer in one
# read: a hog that grows a shell string through a pipe takes thousands of guest system calls
# and thrashes busybox's pages near the limit, which outlasted the wait on a loaded machine.
printf '#!/bin/sh\n[ "$1" = hog ] && dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null\nexec sleep 1000\n' > "$UML_JAIL/rootfs/bin/work"
chmod +x "$UML_JAIL/rootfs/bin/work"
cat > "$UML_JAIL/bundle/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
    "args": ["work"],
    "env": ["PATH=/bin", "$UML_TUNABLES"], "noNewPrivileges": true},
  "root": {"path": "/rootfs", "readonly": true},
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
             {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755", "size=64k"]}],
  "linux": {
    "cgroupsPath": "/hyb",
    "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}],
    "devices": [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438}],
    "resources": {"memory": {"limit": 33554432, "swap": 33554432}, "pids": {"limit": 20},
                  "cpu": {"shares": 512},
                  "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}
  }
}
JSON
cat > "$UML_JAIL/init" <<'INIT'
#!/bin/sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t tmpfs tmpfs /run
$B mount -t tmpfs tmpfs /tmp
C=/sys/fs/cgroup
$B mount -t tmpfs -o mode=755 cgroup $C
for h in cpu freezer devices; do $B mkdir $C/$h; $B mount -t cgroup -o $h cgroup $C/$h; done
$B mkdir $C/unified; $B mount -t cgroup2 cgroup2 $C/unified
r() { $B echo "RESULT $*"; }
r controllers "$($B cat $C/unified/cgroup.controllers)"
r v1 "$($B grep -c ' cgroup ' /proc/mounts)"
S="/swiftlet --root /run/s"
$S create --bundle /bundle hyb > /tmp/err 2>&1; r create "$? $($B head -n1 /tmp/err)"
$S start hyb; r start $?
r memory "$($B cat $C/unified/hyb/memory.max) $($B cat $C/unified/hyb/memory.swap.max)"
r pids "$($B cat $C/unified/hyb/pids.max)"
r shares "$($B cat $C/cpu/hyb/cpu.shares)"
r devices "$($B cat $C/devices/hyb/devices.list | $B tr '\n' ' ')"
pid=$($S state hyb | $B tr -d ' \n' | $B sed 's/.*"pid":\([0-9]*\).*/\1/')
r procs "$($B grep -c "^$pid\$" $C/unified/hyb/cgroup.procs) $($B grep -c "^$pid\$" $C/cpu/hyb/cgroup.procs) $($B grep -c "^$pid\$" $C/freezer/hyb/cgroup.procs)"
$S pause hyb; r pause "$? $($B cat $C/freezer/hyb/freezer.state)"
$S resume hyb; r resume "$? $($B cat $C/freezer/hyb/freezer.state)"
$S kill hyb KILL; $B sleep 1; $S delete hyb; r delete $?
r left "$($B ls -d $C/unified/hyb $C/cpu/hyb $C/freezer/hyb $C/devices/hyb 2>/dev/null | $B wc -l)"
$B sed -i 's/"work"\]/"work", "hog"]/' /bundle/config.json
$S create --bundle /bundle hog > /tmp/out 2>&1; r hogcreate "$? $($B head -n1 /tmp/out)"
$S start hog; r hogstart $?
i=0; while [ $i -lt 240 ] && ! $B grep -q 'oom_kill [1-9]' $C/unified/hyb/memory.events; do $B sleep 0.5; i=$((i + 1)); done
r oom "$($B grep -o 'oom_kill [0-9]*' $C/unified/hyb/memory.events)"
$S delete -f hog >/dev/null 2>&1
r done 1
$B poweroff -f
INIT
chmod +x "$UML_JAIL/init"
echo "== booting $UML_KERNEL (cgroup_no_v1=memory,pids)"
UML_MEM=${UML_MEM:-160M} uml_boot cgroup_no_v1=memory,pids
uml_check done "the guest ran to the end" uml_is done 1
uml_check controllers "cgroup2 holds memory and pids" bash -c '[[ " $0 " == *" memory "* && " $0 " == *" pids "* ]]' "$(uml_result controllers)"
uml_check v1 "three v1 hierarchies are mounted" uml_is v1 3
uml_check create "create in the split layout" uml_is create "0 "
uml_check start "start" uml_is start 0
uml_check memory "memory limit and swap on v2 (memory.max, memory.swap.max = swap - limit)" uml_is memory "33554432 0"
uml_check pids "pids limit on v2" uml_is pids 20
uml_check shares "cpu shares on v1" uml_is shares 512
uml_check devices "device rules on v1 (the allowed 1:3 is listed)" uml_has devices "c 1:3 rwm"
uml_check procs "the init is in the v2 and the v1 cgroups" uml_is procs "1 1 1"
uml_check pause "pause freezes through v1" uml_is pause "0 FROZEN"
uml_check resume "resume thaws" uml_is resume "0 THAWED"
uml_check delete "delete" uml_is delete 0
uml_check left "delete removes the cgroup from every hierarchy" uml_is left 0
uml_check hogcreate "create again with the same cgroupsPath" uml_is hogcreate "0 "
uml_check hogstart "start the hog" uml_is hogstart 0
uml_check oom "a 64 MiB hog under the 32 MiB limit meets the OOM killer (memory.events)" bash -c '[ "${0#oom_kill }" -ge 1 ]' "$(uml_result oom)"
uml_summary hybrid
