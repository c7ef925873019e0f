#!/bin/bash
# Runs inside the systemd guest (as a oneshot service after multi-user.target): drives
# /swiftlet --systemd-cgroup through a container's life and prints `RESULT name value` lines
# for e2e/systemd/run.sh to check, then powers the guest off.
r() { echo "RESULT $1 ${2//$'\n'/|}"; }
S=/swiftlet
unit=swiftlet-c1.scope
cg=/sys/fs/cgroup/machine.slice/$unit

r running "$(cat /proc/1/comm) $(systemctl is-active dbus.service)"
r layout "$(stat -fc %T /sys/fs/cgroup)"
r failed-units "$(systemctl --failed --no-legend --plain | cut -d' ' -f1 | tr '\n' ' ')"
# Why the bus is missing, if it is (the host prints it).
systemctl is-active -q dbus.service ||
  r dbus-status "$(journalctl -b --no-pager -o cat -u dbus.service 2>&1 | tail -4)"
$S --systemd-cgroup create --bundle /bundle c1 2>/tmp/create.err
r create "$? $(cat /tmp/create.err)"
pid=$($S state c1 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
r active "$(systemctl is-active $unit)"
r delegate "$(systemctl show -P Delegate $unit)"
r slice "$(systemctl show -P Slice $unit)"
r controlgroup "$(systemctl show -P ControlGroup $unit)"
r initcgroup "$(cat /proc/$pid/cgroup)"
r init-in-scope "$(grep -c "^$pid$" $cg/cgroup.procs)"
r memory.max "$(cat $cg/memory.max)"
r unit.MemoryMax "$(systemctl show -P MemoryMax $unit)"
r pids.max "$(cat $cg/pids.max)"
r unit.TasksMax "$(systemctl show -P TasksMax $unit)"
r cpu.max "$(cat $cg/cpu.max)"
r unit.CPUQuotaPerSecUSec "$(systemctl show -P CPUQuotaPerSecUSec $unit)"
r cpu.weight "$(cat $cg/cpu.weight)"
r status "$(systemctl status --no-pager $unit 2>&1 | head -8)"
$S start c1; r start $?
$S update --memory 33554432 --pids-limit 20 c1 2>/tmp/update.err; r update "$? $(cat /tmp/update.err)"
r memory.max-updated "$(cat $cg/memory.max)"
r unit.MemoryMax-updated "$(systemctl show -P MemoryMax $unit)"
r pids.max-updated "$(cat $cg/pids.max)"
# The same unit name again while the first runs: refused in one line, the first untouched.
$S --systemd-cgroup create --bundle /bundle-dup c1b 2>/tmp/dup.err; r duplicate "$? $(cat /tmp/dup.err)"
r active-after-duplicate "$(systemctl is-active $unit)"
$S delete --force c1 2>/tmp/delete.err; r delete "$? $(cat /tmp/delete.err)"
r active-after-delete "$(systemctl is-active $unit)"
r cgroup-after-delete "$(test -d $cg && echo present || echo gone)"
r state-after-delete "$(ls /run/swiftlet 2>&1)"
r c1-journal "$(journalctl -b --no-pager -o cat -u $unit | tail -5)"
# The pids limit applies: 10 background sleeps under pids.limit 5 (the shell is one of them).
$S --systemd-cgroup run --bundle /bundle-forks c2 > /tmp/c2.out 2>&1
r forks "$? $(grep -c "can't fork" /tmp/c2.out)"
$S delete --force c2 >/dev/null 2>&1
r active-c2-after "$(systemctl is-active swiftlet-c2.scope)"
systemctl poweroff -f -f
