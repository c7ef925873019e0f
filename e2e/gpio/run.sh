#!/usr/bin/env bash
# Mediated GPIO on a real (simulated) chip: boots the test stages' UML kernel (GPIO_SIM,
# GPIO_CDEV with v1, configfs), creates a gpio-sim chip in the guest and runs `swiftlet agent`
# with a gpio policy and a busybox + libgpiod container (org.swiftlet.gpio: mediated, over
# podman's default seccomp profile) whose filter swiftlet makes notify the GPIO ioctls. Debian's libgpiod 1.6 tools (v1 uAPI, unmodified) and e2e/gpio/client.c (v2
# uAPI) must work on granted lines and be refused on the others; the simulator's sysfs
# attributes (sim_gpioN/value, pull) show what the container drove and read. Then the attacks
# of issue 16 (v1/v2, events, SET_CONFIG, reopening the chip, mixed requests, the struct
# changed 10,000 times during requests, forged fds, requests interrupted by signals, a flood)
# and the agent's death.
# With --bench, the same guest also runs bench/gpio's measurements (RESULT bench-* lines).
#
# usage: e2e/gpio/run.sh [--bench] [SWIFTLET]   (default dist/swiftlet; static)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/e2e/uml/guest.sh"
bench=0
if [ "${1:-}" = --bench ]; then bench=1; shift; fi
swiftlet=${1:-$top/dist/swiftlet}
uml_kernel test
case $UML_KERNEL in
  /usr/bin/*) echo "gpio: Debian's UML kernel has no GPIO; build dist/uml/linux-test (branch umlk)"
              echo "gpio: 0 passed, 1 failed, 0 skipped"; exit 1 ;;
esac
for f in "$swiftlet" /bin/busybox /usr/bin/gpioset; do
  [ -x "$f" ] || { echo "gpio: $f is missing (make, busybox-static, gpiod)" >&2; exit 1; }
done

uml_setup gpio
jail=$UML_JAIL
uml_jail_static "$swiftlet" swiftlet
rootfs=$jail/bundle/rootfs
mkdir -p "$rootfs"/{bin,dev,proc,sys,tmp,etc}
chmod 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in sh sleep cat echo ls true; do ln -sf busybox "$rootfs/bin/$applet"; done
cc -O2 -Wall -static -pthread -o "$rootfs/bin/client" "$top/e2e/gpio/client.c"
# The guest has no entropy source and create's agent token comes from getrandom(2): init
# credits a seed from the host, as a device's boot credits its saved random seed.
head -c 512 /dev/urandom > "$jail/random-seed"
# The Embedded Swift blink of examples/ (the five operations on the v2 uAPI, no libgpiod).
bash "$top/examples/gpio-blink/build.sh" "$rootfs/bin/blink"
# The libgpiod tools as Debian ships them, with their libraries and loader at the same paths.
for tool in gpiodetect gpioinfo gpioget gpioset gpiomon; do
  cp "/usr/bin/$tool" "$rootfs/bin/$tool"
  for lib in $(ldd "/usr/bin/$tool" | grep -oE '/[^ ]+'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
done

# Lines of the simulated chip (8 lines; line 0 is "led", line 3 "button"): 0 output only,
# 3 input with bias and edges, 5 either way, 1 input only. Lines 2, 4, 6, 7: not granted.
cat > "$jail/policy.json" <<'JSON'
{"containers": [
  {"match": {"id": "gp*"},
   "gpio": [{"chip": "gpio-sim.0-node0",
             "lines": [{"names": ["led"], "directions": ["output"]},
                       {"names": ["button"], "directions": ["input"],
                        "flags": ["bias-pull-up", "bias-pull-down", "edge-rising", "edge-falling"]},
                       {"offsets": [5], "directions": ["input", "output"]},
                       {"offsets": [1], "directions": ["input"]}]}]}
]}
JSON

# The mediated container's filter: podman's default profile (its ioctl rule is an
# unconditional allow, x86_64 with x86 and x32), in OCI form for an unprivileged container,
# with listenerPath. swiftlet adds the GPIO ioctls itself (annotation org.swiftlet.gpio).
profile=/usr/share/containers/seccomp.json
[ -f "$profile" ] || { echo "gpio: $profile is missing (golang-github-containers-common)" >&2; exit 1; }
python3 "$top/e2e/gpio/podman-profile.py" "$profile" /run/agent.sock > "$jail/seccomp.json"
grep -q '"names": \["[^]]*"ioctl"[^]]*\], "action": "SCMP_ACT_ALLOW", "args": \[\]' "$jail/seccomp.json" \
  || { echo "gpio: the profile has no unconditional ioctl allow to check against" >&2; exit 1; }
# $1: file; $2: seccomp member; $3: annotations member.
write_config() {
  cat > "$1" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
    "args": ["sleep", "600"],
    "env": ["PATH=/bin", "$UML_TUNABLES"],
    "capabilities": {"bounding": [], "effective": [], "permitted": []},
    "noNewPrivileges": true
  },
  "root": {"path": "/bundle/rootfs"},
  "hostname": "gpio",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755", "size=1024k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
  ],
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "devices": [{"path": "/dev/@CHIP@", "type": "c", "major": @MAJOR@, "minor": @MINOR@, "fileMode": 432, "uid": 0, "gid": 0}],
    "resources": {"devices": [{"allow": false, "access": "rwm"},
                              {"allow": true, "type": "c", "major": @MAJOR@, "minor": @MINOR@, "access": "rw"},
                              {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]},
    "maskedPaths": ["/sys/class/gpio", "/proc/kcore"]$2
  }$3
}
JSON
}
mkdir -p "$jail/mediated" "$jail/direct"
write_config "$jail/mediated/config.in" ",
    \"seccomp\": $(cat "$jail/seccomp.json")" ",
  \"annotations\": {\"org.swiftlet.gpio\": \"mediated\"}"
# A rootless runtime's container (user rl, uid 1000, its own ids mapped): the agent serves it on
# its user socket by entries naming that user. The chip node is the host's, bound in.
RL_UID=1000
echo "rl:x:$RL_UID:$RL_UID:rl:/tmp:/bin/sh" >> "$jail/etc/passwd"
echo "rl:x:$RL_UID:" >> "$jail/etc/group"
# The group a device owner gives the chip (as a udev rule would): rl may open the node itself.
echo 'gpio:x:990:rl' >> "$jail/etc/group"
python3 "$top/e2e/gpio/podman-profile.py" "$profile" /run/agent-user.sock > "$jail/seccomp-user.json"
# The same grants for three entries: rl's, another user's and root's (by annotation); only
# rl's may serve rl's containers.
all_lines='[{"offsets": [0, 1, 2, 3, 4, 5, 6, 7], "directions": ["input", "output"]}]'
cat > "$jail/policy-user.json" <<JSON
{"containers": [
  {"match": {"users": [$((RL_UID + 1))], "annotations": {"org.swiftlet.test/grant": "other"}},
   "gpio": [{"chip": "gpio-sim.0-node0", "lines": $all_lines}]},
  {"match": {"annotations": {"org.swiftlet.test/grant": "root"}},
   "gpio": [{"chip": "gpio-sim.0-node0", "lines": $all_lines}]},
  {"match": {"users": [$RL_UID], "annotations": {"org.swiftlet.test/grant": "mine"}},
   "gpio": [{"chip": "gpio-sim.0-node0",
             "lines": [{"names": ["led"], "directions": ["output"]},
                       {"names": ["button"], "directions": ["input"], "flags": ["bias-pull-up", "bias-pull-down"]},
                       {"offsets": [5], "directions": ["input", "output"]}]}]}
]}
JSON
mkdir -p "$jail/rootless"
cat > "$jail/rootless/config.in" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
    "args": ["sleep", "600"],
    "env": ["PATH=/bin", "$UML_TUNABLES"],
    "capabilities": {"bounding": [], "effective": [], "permitted": []},
    "noNewPrivileges": true
  },
  "root": {"path": "/bundle/rootfs", "readonly": true},
  "hostname": "gpio",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755", "size=1024k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
  ],
  "linux": {
    "uidMappings": [{"containerID": 0, "hostID": $RL_UID, "size": 1}],
    "gidMappings": [{"containerID": 0, "hostID": $RL_UID, "size": 1}],
    "namespaces": [{"type": "user"}, {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "devices": [{"path": "/dev/@CHIP@", "type": "c", "major": @MAJOR@, "minor": @MINOR@, "fileMode": 432, "uid": 0, "gid": 0}],
    "maskedPaths": ["/sys/class/gpio", "/proc/kcore"],
    "seccomp": $(cat "$jail/seccomp-user.json")
  },
  "annotations": {"org.swiftlet.gpio": "mediated", "org.swiftlet.test/grant": "@GRANT@"}
}
JSON

# The chip passed through whole (bench only): the same profile, nothing notified.
write_config "$jail/direct/config.in" ",
    \"seccomp\": $(sed 's|, "listenerPath": "/run/agent.sock"||' "$jail/seccomp.json")" ""

cat > "$jail/init" <<'INIT'
#!/bin/sh
B=/bin/busybox
export PATH=/bin
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev 2>/dev/null
$B mount -t tmpfs tmpfs /run
$B mount -t tmpfs tmpfs /tmp
$B mount -t configfs configfs /sys/kernel/config
$B mount -t cgroup2 cgroup2 /sys/fs/cgroup
r() { $B echo "RESULT $*"; }
ok() { $B echo "CHECK ok $*"; }
fail() { $B echo "CHECK FAIL $*"; }
skip() { $B echo "CHECK skip $*"; }
# chk WHAT COMMAND...: CHECK ok/FAIL by the command's status.
chk() { w=$1; shift; if "$@"; then ok "$w"; else fail "$w"; fi; }
has() { case "$1" in *"$2"*) return 0;; *) return 1;; esac; }

/bundle/rootfs/bin/client --seed /random-seed || $B echo "seeding the entropy pool failed"
C=/sys/kernel/config/gpio-sim/chip0
$B mkdir $C $C/bank0 $C/bank0/line0 $C/bank0/line3
$B echo 8 > $C/bank0/num_lines
$B echo led > $C/bank0/line0/name
$B echo button > $C/bank0/line3/name
$B echo 1 > $C/live
CHIP=$($B cat $C/bank0/chip_name)
SIM=/sys/devices/platform/$($B cat $C/dev_name)/$CHIP
DEV=$($B cat /sys/bus/gpio/devices/$CHIP/dev)
r chip "$CHIP $DEV"
for b in mediated direct; do
  $B sed "s/@CHIP@/$CHIP/; s/@MAJOR@/${DEV%:*}/g; s/@MINOR@/${DEV#*:}/g" /$b/config.in > /$b/config.json
done
for g in mine other root; do
  $B mkdir -p /run/rl-$g
  $B sed "s/@CHIP@/$CHIP/; s/@MAJOR@/${DEV%:*}/g; s/@MINOR@/${DEV#*:}/g; s/@GRANT@/$g/" /rootless/config.in > /run/rl-$g/config.json
done
# Whether this kernel gives the simulator's lines interrupts (edge detection): asked directly,
# outside any container.
EDGES=1
probe=$(/bundle/rootfs/bin/client /dev/$CHIP event 3 10 2>&1)
case "$probe" in *"request err"*) EDGES=0; r edge-probe "$probe";; esac
S="/swiftlet --root /run/swiftlet"
/swiftlet --root /run/swiftlet agent --socket /run/agent.sock --policy /policy.json --log /tmp/agent.log 2>/tmp/agent.err &
AGENT=$!
i=0; while [ ! -S /run/agent.sock ] && [ $i -lt 100 ]; do $B sleep 0.05; i=$((i+1)); done
$B echo "== agent $AGENT up: $($B ls /run/agent.sock)"
if [ "$DIAG" = 1 ]; then
  /bundle/rootfs/bin/client /dev/$CHIP request in 5; $B echo "guest rc=$?"
  /bundle/rootfs/bin/client /dev/$CHIP forge; $B echo "guest rc=$?"
  /bundle/rootfs/bin/client /dev/$CHIP latency 5 3; $B echo "guest rc=$?"
  $B dmesg | $B tail -5
  $B poweroff -f
fi
$B timeout 30 $S run --detach --bundle /mediated gp >/tmp/run.out 2>&1; chk "container with the GPIO filter starts" [ $? = 0 ]
$B cat /tmp/run.out /tmp/agent.err
$B echo "== container up"
X="$S exec gp"
D=/dev/$CHIP
sim() { $B cat $SIM/sim_gpio$1/value; }
pull() { $B echo "$2" > $SIM/sim_gpio$1/pull; }

# --- a rootless runtime's container (user rl, state in its XDG_RUNTIME_DIR) ---
# (run after root's checks; GPIO_DIAG=rootless runs only these)
rootless_checks() {
  RL=1000
  $B mkdir -p /run/user/$RL; $B chown $RL:$RL /run/user/$RL; $B chmod 700 /run/user/$RL
  $B chgrp 990 $D; $B chmod 660 $D
  # as_rl COMMAND: COMMAND (one string) as rl, with rl's groups (su sets them from /etc/group).
  as_rl() { $B timeout 60 su -s /bin/sh -c "export XDG_RUNTIME_DIR=/run/user/$RL PATH=/bin; $1" rl; }
  RS=/swiftlet
  RX="$RS exec rgp"
  # A small fd limit (as for any agent: room for so many containers), so that one user's
  # flood of attaches would reach it here.
  (ulimit -n 128 && exec /swiftlet --root /run/swiftlet agent --socket /run/agent2.sock --user-socket /run/agent-user.sock \
    --policy /policy-user.json --log /tmp/agent-user.log 2>/tmp/agent-user.err) &
  AGENT=$!
  i=0; while [ ! -S /run/agent-user.sock ] && [ $i -lt 100 ]; do $B sleep 0.05; i=$((i+1)); done
  $B echo "== rootless: agent $AGENT up: $($B ls -l /run/agent-user.sock) $($B id rl)"
  pull 0 pull-down; pull 5 pull-down
  # (to a file: the detached container keeps its stdio, a pipe would never end)
  as_rl "$B timeout 30 $RS run --detach --bundle /run/rl-mine rgp" >/tmp/rl-run.out 2>&1; rc=$?; r rl-run "$rc $($B cat /tmp/rl-run.out)"
  chk "rootless: a user's container with the GPIO filter starts" [ $rc = 0 ]
  chk "... the agent attached it for the user, by rl's entry" $B grep -q '"event":"attach","container":"rgp".*"user":1000,"entry":"containers\[2\]"' /tmp/agent-user.log
  # (polled: su, exec and the request take a while in a loaded guest)
  as_rl "$RX gpioset --mode=time --sec=4 $CHIP 0=1" >/tmp/rl-set.out 2>&1 &
  SET=$!
  i=0; while [ "$(sim 0)" != 1 ] && [ $i -lt 35 ]; do $B sleep 0.1; i=$((i+1)); done
  v=$(sim 0); wait $SET; rc=$?
  r rl-led "$v $rc $($B cat /tmp/rl-set.out)"
  chk "rootless: gpioset drives the granted led line (sim_gpio0/value 1)" [ "$v" = 1 ]
  chk "... and exits 0" [ $rc = 0 ]
  pull 3 pull-up; out=$(as_rl "$RX gpioget $CHIP 3" 2>&1); r rl-gpioget-up "$out"
  chk "rootless: gpioget reads the button pulled up as 1" [ "$out" = 1 ]
  pull 3 pull-down; out=$(as_rl "$RX gpioget $CHIP 3" 2>&1); r rl-gpioget-down "$out"
  chk "rootless: gpioget reads the button pulled down as 0" [ "$out" = 0 ]
  out=$(as_rl "$RX gpioset $CHIP 4=1" 2>&1); r rl-gpioset-4 "$out"
  chk "rootless: gpioset on ungranted line 4 is refused (EPERM)" has "$out" "Operation not permitted"
  chk "... and sim_gpio4 stays 0" [ "$(sim 4)" = 0 ]
  out=$(as_rl "$RX client $D request in 4" 2>&1); r rl-v2-4 "$out"
  chk "rootless: v2 request of ungranted line 4 is refused" has "$out" "request err EPERM"
  out=$(as_rl "$RX client $D request in 5 4" 2>&1); r rl-v2-mixed "$out"
  chk "rootless: v2 request of granted 5 and ungranted 4 together is refused" has "$out" "request err EPERM"
  pull 5 pull-up
  out=$(as_rl "$RX client $D request in 5" 2>&1); r rl-v2-in "$out"
  chk "rootless: v2 request of granted line 5 as input reads 1" has "$out" "values 1"
  pull 5 pull-down
  as_rl "$RX sh -c 'HOLD_MS=4000 client $D request out1 5'" >/tmp/rl-hold.out 2>&1 &
  HOLD=$!
  i=0; while [ "$(sim 5)" != 1 ] && [ $i -lt 35 ]; do $B sleep 0.1; i=$((i+1)); done
  v=$(sim 5); wait $HOLD; r rl-v2-out "$v $($B cat /tmp/rl-hold.out)"
  chk "rootless: v2 request of line 5 as output driven to 1 (sim_gpio5/value 1)" [ "$v" = 1 ]
  # Entries of another user and of root grant every line: neither serves rl's containers.
  for g in other root; do
    as_rl "$B timeout 30 $RS run --detach --bundle /run/rl-$g rg$g" >/tmp/rl-run.out 2>&1; rc=$?; r rl-run-$g "$rc $($B cat /tmp/rl-run.out)"
    chk "rootless: a container matching only the $g entry starts" [ $rc = 0 ]
    out=$(as_rl "$RS exec rg$g client $D request in 5" 2>&1); r rl-$g "$out"
    chk "... and gets no line by that entry (EPERM, not ENOSYS: the agent answered)" has "$out" "request err EPERM"
    chk "... the agent found no entry for it" $B grep -q "\"event\":\"attach\",\"container\":\"rg$g\".*\"user\":1000,\"entry\":null" /tmp/agent-user.log
    as_rl "$RS kill rg$g KILL; $B sleep 0.3; $RS delete -f rg$g"
  done
  # The user's own task outside any container, its notify fd attached on the user socket with
  # the container's pid and rl's annotations: the agent acts for no task outside rl's namespaces.
  PID=$(as_rl "$RS state rgp" | $B tr -d ' \n' | $B sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
  out=$(as_rl "/bundle/rootfs/bin/client $D hostattach /run/agent-user.sock $PID forged 5" 2>&1); r rl-hostattach "$PID $out"
  chk "rootless: a host task's filter attached as the container's gets no line (EPERM)" has "$out" "request err EPERM"
  chk "... the agent attached it by rl's entry and refused the task" $B grep -q '"container":"forged".*"decision":"deny".*"reason":"the task is not in a user namespace of its own"' /tmp/agent-user.log
  # One user's flood of attaches (its own host tasks, each a filter of its own) leaves root's
  # containers their agent: a user has at most 32 containers attached or attaching.
  $B mkdir -p /run/root-flood
  $B sed 's|/run/agent.sock|/run/agent2.sock|; s|"org.swiftlet.gpio": "mediated"|&, "org.swiftlet.test/grant": "root"|' \
    /mediated/config.json > /run/root-flood/config.json
  as_rl "/bundle/rootfs/bin/client $D hostflood /run/agent-user.sock $PID 200 40" >/tmp/rl-flood.out 2>&1 &
  FLOOD=$!
  i=0; while ! $B grep -q sent /tmp/rl-flood.out && [ $i -lt 300 ]; do $B sleep 0.1; i=$((i+1)); done
  $B sleep 2
  r rl-flood-agent "$($B cat /tmp/rl-flood.out) agent fds $($B ls /proc/$AGENT/fd | $B wc -l) refused $($B grep -c 'containers attached or attaching' /tmp/agent-user.log) EMFILE $($B grep -c '"errno":"EMFILE"' /tmp/agent-user.log)"
  $B timeout 30 $S run --detach --bundle /run/root-flood gpf >/tmp/rf-run.out 2>&1; rc=$?; r root-during-flood-run "$rc $($B cat /tmp/rf-run.out)"
  out=$($B timeout 10 $S exec gpf client $D request in 5 2>&1); r root-during-flood "$out"
  chk "rootless: while a user floods the user socket with 200 attaches, root's container gets its granted line" has "$out" "request ok"
  chk "... the agent refused that user's attaches past 32" $B grep -q '"error":"refused uid 1000: it has 32 containers attached or attaching"' /tmp/agent-user.log
  wait $FLOOD
  $B timeout 10 $S kill gpf KILL; $B sleep 0.3; $B timeout 10 $S delete -f gpf
  as_rl "$RX sh -c 'sleep 2; client $D request out1 5'" >/tmp/rl-dead.out 2>&1 &
  DEAD=$!
  $B sleep 1; $B kill -9 $AGENT; wait $DEAD
  out=$($B cat /tmp/rl-dead.out); r rl-dead-agent "$out $(sim 5)"
  chk "rootless: with the agent dead a granted request fails (ENOSYS)" has "$out" "request err ENOSYS"
  chk "... and nothing is driven (sim_gpio5/value 0)" [ "$(sim 5)" = 0 ]
  as_rl "$RS kill rgp KILL; $B sleep 0.3; $RS delete -f rgp"; chk "rootless: container deleted" [ $? = 0 ]
  r agent-user-log-lines "$($B wc -l < /tmp/agent-user.log)"
  $B grep -c '"decision":"deny"' /tmp/agent-user.log
}
if [ "$DIAG" = rootless ]; then $B kill $AGENT; rootless_checks; r done 1; $B poweroff -f; fi

# --- the libgpiod 1.6 tools, unmodified (v1 uAPI) ---
out=$($X gpiodetect 2>&1); r gpiodetect "$out"
chk "gpiodetect lists the chip" has "$out" "$CHIP [gpio-sim.0-node0] (8 lines)"
out=$($X gpioinfo $CHIP 2>&1); r gpioinfo "$(echo "$out" | $B tr '\n\t' '| ')"
l3=$(echo "$out" | $B grep 'line   3:'); l4=$(echo "$out" | $B grep 'line   4:')
chk "gpioinfo shows the granted button line unused" sh -c 'case "$0" in *\"button\"*unused*) exit 0;; *) exit 1;; esac' "$l3"
chk "gpioinfo shows ungranted line 4 as used by \"unavailable\"" sh -c 'case "$0" in *\"unavailable\"*used*) exit 0;; *) exit 1;; esac' "$l4"
$X gpioset --mode=time --sec=2 $CHIP 0=1 2>/tmp/set.err &
$B sleep 1
r led-held "$(sim 0)"
chk "gpioset drives the granted led line (sim_gpio0/value 1)" [ "$(sim 0)" = 1 ]
wait $!; chk "gpioset on the granted line exits 0" [ $? = 0 ]
pull 3 pull-up; out=$($X gpioget $CHIP 3 2>&1); r gpioget-up "$out"
chk "gpioget reads the button pulled up as 1" [ "$out" = 1 ]
pull 3 pull-down; out=$($X gpioget $CHIP 3 2>&1); r gpioget-down "$out"
chk "gpioget reads the button pulled down as 0" [ "$out" = 0 ]
out=$($X gpioset $CHIP 4=1 2>&1); rc=$?; r gpioset-4 "$rc $out"
chk "gpioset on ungranted line 4 is refused (EPERM)" has "$out" "Operation not permitted"
chk "... and sim_gpio4 stays 0" [ "$(sim 4)" = 0 ]
out=$($X gpioget $CHIP 0 2>&1); r gpioget-0 "$out"
chk "gpioget of the output-only led line is refused" has "$out" "Operation not permitted"
out=$($X gpioget $CHIP 3 4 2>&1); r gpioget-mixed "$out"
chk "gpioget of granted 3 with ungranted 4 in one request is refused" has "$out" "Operation not permitted"
if [ $EDGES = 1 ]; then
  pull 3 pull-up
  $X gpiomon --num-events=1 --falling-edge $CHIP 3 >/tmp/mon.out 2>&1 &
  MON=$!
  $B sleep 1; pull 3 pull-down
  i=0; while $B kill -0 $MON 2>/dev/null && [ $i -lt 50 ]; do $B sleep 0.1; i=$((i+1)); done
  r gpiomon "$($B cat /tmp/mon.out)"
  chk "gpiomon sees the falling edge of the button (v1 line event)" $B grep -q "FALLING EDGE" /tmp/mon.out
else
  skip "gpiomon on the granted button: this kernel cannot detect edges on gpio-sim lines ($probe outside any container)"
fi
out=$($B timeout 10 $X gpiomon --num-events=1 $CHIP 4 2>&1); r gpiomon-4 "$out"
chk "gpiomon on ungranted line 4 is refused" has "$out" "Operation not permitted"
out=$($B timeout 10 $X gpiomon --num-events=1 $CHIP 1 2>&1); r gpiomon-1 "$out"
chk "gpiomon on line 1 (an input granted without edge detection) is refused" has "$out" "Operation not permitted"

# --- a v2-uAPI client ---
pull 5 pull-up
out=$($X client $D request in 5); r v2-in "$out"
chk "v2 request of granted line 5 as input reads 1" has "$out" "values 1"
$X sh -c "HOLD_MS=1500 client $D request out1 5" >/tmp/hold.out 2>&1 &
$B sleep 0.8; v=$(sim 5); wait $!; r v2-out "$v $($B cat /tmp/hold.out)"
chk "v2 request of line 5 as output driven to 1 (sim_gpio5/value 1)" [ "$v" = 1 ]
out=$($X client $D request in 4); r v2-4 "$out"
chk "v2 request of ungranted line 4 is refused" has "$out" "request err EPERM"
out=$($X client $D request in 5 4); r v2-mixed "$out"
chk "v2 request of granted 5 and ungranted 4 together is refused" has "$out" "request err EPERM"
out=$($X client $D request out 3); r v2-out-3 "$out"
chk "v2 request of the input-only button as output is refused" has "$out" "request err EPERM"
out=$($X client $D setconfig 3 in out); r setconfig-3 "$out"
chk "SET_CONFIG turning the granted input 3 into an output is refused" has "$out" "setconfig err EPERM"
out=$($X client $D setconfig 5 in out); r setconfig-5 "$out"
chk "SET_CONFIG input -> output on line 5 (both granted) works" has "$out" "setconfig ok"
out=$($X client $D v1setconfig 1); r v1setconfig "$out"
chk "v1 GPIOHANDLE_SET_CONFIG is refused" has "$out" "v1-setconfig err EPERM"
out=$($X client $D forge); r forge "$(echo "$out" | $B tr '\n' '|')"
chk "SET_CONFIG on the chip fd is refused" has "$out" "chip-fd err EPERM"
chk "SET_CONFIG on /dev/null is refused" has "$out" "dev-null err EPERM"
chk "SET_CONFIG on a closed fd fails with EBADF" has "$out" "bad-fd err EBADF"
chk "SET_CONFIG on a v1 handle fd is refused" has "$out" "v1-handle-fd err EPERM"
if [ $EDGES = 1 ]; then chk "SET_CONFIG on a v1 event line fd is refused" has "$out" "v1-event-fd err EPERM"
else skip "SET_CONFIG on a v1 event fd: no edge detection in this kernel"; fi
out=$($X client $D reopen 4); r reopen "$(echo "$out" | $B tr '\n' '|')"
chk "a new open of the chip does not reach line 4" has "$out" "reopen err EPERM"
chk "nor does reopening it through /proc/self/fd" has "$out" "proc-fd err EPERM"
pull 5 pull-down
out=$($X blink $D 5 10); r swift-blink "$out"
chk "the Embedded Swift blink (start, direction, input, output, clear) on line 5" has "$out" "toggles 10 ok input-before 0 last 0"
out=$($X blink $D 3 10 2>&1); r swift-blink-3 "$out"
chk "... its direction change to output on the input-only button is refused (EPERM)" has "$out" "direction: errno 1"
if [ $EDGES = 1 ]; then
  pull 3 pull-up
  $X client $D event 3 3000 >/tmp/ev.out 2>&1 &
  EV=$!
  $B sleep 1; pull 3 pull-down; wait $EV
  r v2-event "$($B cat /tmp/ev.out | $B tr '\n' '|')"
  chk "v2 edge event on the granted button" $B grep -q "event falling offset 3" /tmp/ev.out
else
  skip "v2 edge event on the granted button: no edge detection in this kernel"
fi
pull 4 pull-down; pull 5 pull-down
out=$($X client $D race 5 4 10000); r race "$out"
chk "10,000 requests while a thread flips the offset 5<->4: none gets line 4" has "$out" "other 0"
chk "... the agent never allowed line 4" sh -c '! /bin/busybox grep "\"lines\":\[4\]" /tmp/agent.log | /bin/busybox grep -q "\"decision\":\"allow\""'
r race-sim4 "$(sim 4)"
chk "... sim_gpio4 still 0" [ "$(sim 4)" = 0 ]
out=$($X client $D signals 5 3000); r signals "$out"
chk "3,000 requests hit by signals (no SA_RESTART): none leaves a line fd behind" has "$out" "ebusy 0 other 0 leaked-fds 0 after ok"
out=$($X client $D flood 20000); r flood "$out"
chk "a flood of 20,000 refused requests is answered" has "$out" "refused 20000 of 20000"
chk "the agent survives the flood" $B kill -0 $AGENT
out=$($X client $D request in 5); r after-flood "$out"
chk "a granted request right after the flood works" has "$out" "request ok"
r agent-rss "$($B grep VmRSS /proc/$AGENT/status)"
if [ -d /sys/class/gpio ]; then
  out=$($X ls /sys/class/gpio 2>&1); r sys-class-gpio "$out"
  chk "/sys/class/gpio in the container is masked (empty)" [ -z "$out" ]
else
  skip "/sys/class/gpio masked: this kernel has no GPIO sysfs interface (CONFIG_GPIO_SYSFS)"
fi

if [ "$BENCH" = 1 ]; then
  $S run --detach --bundle /direct gd >/dev/null 2>&1
  # Alternating, so that the machine's load hits both alike.
  for k in 1 2 3 4 5; do
    r bench-blink-direct "$($S exec gd client $D blink 0 10)"
    r bench-blink-mediated "$($X client $D blink 0 10)"
    r bench-swift-blink-direct "$($S exec gd blink $D 5 10)"
    r bench-swift-blink-mediated "$($X blink $D 5 10)"
  done
  r bench-latency-mediated "$($X client $D latency 5 10000)"
  r bench-latency-direct "$($S exec gd client $D latency 5 10000)"
  # Short runs, many, alternating: the host's load swings within seconds.
  for k in 1 2 3 4 5 6 7 8 9 10 11; do
    r bench-toggles-direct "$($S exec gd client $D toggles 0 500)"
    r bench-toggles-mediated "$($X client $D toggles 0 500)"
  done
  $S kill gd KILL; $B sleep 0.3; $S delete -f gd
fi

# --- the agent's death fails closed ---
# (a process already in the container: exec itself needs the agent to attach)
$X sh -c "sleep 2; client $D request out1 5" >/tmp/dead.out 2>&1 &
DEAD=$!
$B sleep 1; $B kill -9 $AGENT; wait $DEAD
out=$($B cat /tmp/dead.out); r dead-agent "$out $(sim 5)"
chk "with the agent dead a granted request fails (ENOSYS)" has "$out" "request err ENOSYS"
chk "... and nothing is driven (sim_gpio5/value 0)" [ "$(sim 5)" = 0 ]
$S kill gp KILL; $B sleep 0.3; $S delete -f gp; chk "container deleted" [ $? = 0 ]
r agent-log-lines "$($B wc -l < /tmp/agent.log)"
$B tail -5 /tmp/agent.log

rootless_checks
r done 1
$B poweroff -f
INIT
sed -i "s/^B=\/bin\/busybox$/B=\/bin\/busybox\nBENCH=$bench\nDIAG=${GPIO_DIAG:-0}/" "$jail/init"
chmod +x "$jail/init"

[ $bench = 0 ] || UML_TIMEOUT=${UML_TIMEOUT:-900}
UML_MEM=${UML_MEM:-128M} uml_boot
echo "== guest ran for $UML_BOOT_MS ms"
grep -E '^RESULT (chip|edge-probe|bench|race|signals|flood|agent-rss)' "$UML_LOG" | tr -d '\r' || true
uml_check done "the guest ran to the end" uml_is done 1
uml_guest_checks
uml_summary gpio
