#!/bin/sh
# Runs inside the cgroup2 stage's guest (busybox sh, pure cgroup v2 at /sys/fs/cgroup):
# swiftlet's cgroup features, and the same for runc and crun where they apply. Prints one
# `CHECK ok|FAIL|skip WHAT[: detail]` line per check (e2e/cgroup2/run.sh counts them).
# /checks.env (written by run.sh) sets TUNABLES and RUNTIMES.
B=/bin/busybox
. /checks.env
export PATH=/bin:/usr/bin:/sbin

# Each verdict line follows the guest's uptime (for the console log: where the time goes).
at() { read -r up x < /proc/uptime; $B echo "-- $up s"; }
ok() { at; $B echo "CHECK ok $*"; }
fail() { at; $B echo "CHECK FAIL $*"; }
skip() { at; $B echo "CHECK skip $*"; }
# expect WHAT GOT WANTED: GOT must equal WANTED.
expect() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi; }
# expect_has WHAT GOT PART
expect_has() { case "$2" in *"$3"*) ok "$1";; *) fail "$1: '$3' not in '$2'";; esac; }
oneline() { $B tr '\n' ' ' | $B sed 's/ *$//'; }

# rt: the runtime under test with its own state root.
rt() { "/rt/$R" --root "/run/state-$R" "$@"; }
CG=/sys/fs/cgroup

# bundle NAME ARGS_JSON RESOURCES_JSON [CGROUPS_PATH] [NAMESPACES_JSON] [DEVICES_JSON]
# A bundle over the shared read-only /rootfs; the container sees its cgroup (cgroup
# namespace, cgroup2 mounted read-only at /sys/fs/cgroup).
bundle() {
  b=/bundles/$R-$1
  $B mkdir -p "$b"
  ns=${5:-'[{"type":"pid"},{"type":"mount"},{"type":"ipc"},{"type":"uts"},{"type":"cgroup"}]'}
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
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}
  ],
  "linux": {
    $cgp
    "namespaces": $ns,
    "devices": ${6:-[]},
    "resources": $3
  }
}
JSON
}

# run_in NAME: runs the bundle in the foreground; output in $out, exit status in $status.
run_in() {
  out=$(rt run --bundle "/bundles/$R-$1" "$R-$1" 2>&1 < /dev/null); status=$?
  rt delete -f "$R-$1" > /dev/null 2>&1
}
# start_in NAME: create + start, detached; the init's host pid in $pid.
start_in() {
  rt create --bundle "/bundles/$R-$1" "$R-$1" > /tmp/$R-$1.out 2>&1 < /dev/null && rt start "$R-$1" 2>> /tmp/$R-$1.out
  status=$?
  pid=$(rt state "$R-$1" 2>/dev/null | $B tr -d ' \n' | $B sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
  cgdir=$CG$($B sed -n 's/^0:://p' /proc/$pid/cgroup 2>/dev/null)
}
stop() { rt delete -f "$R-$1" > /dev/null 2>&1; }
cgfile() { $B cat "$cgdir/$1" 2>&1 | oneline; }
# Gone or a zombie (orphans of a container without a pid namespace wait for the guest's init).
dead() { [ ! -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

mib=1048576
sleeper='["sleep", "1000"]'

suite() {
  R=$1
  $B mkdir -p "/run/state-$R"
  $B echo "== $R (guest uptime $($B cut -d' ' -f1 /proc/uptime) s)"
  # Can this runtime run a container here at all? (runc only where the guest keeps AVX state:
  # see e2e/cgroup2/run.sh)
  bundle hello '["echo", "hello"]' '{}'
  run_in hello
  if [ "$out" != hello ]; then
    if [ "$R" = swiftlet ]; then fail "$R runs a container: $status $(echo "$out" | $B head -n 2 | oneline)"
    else skip "$R: cannot run a container in this guest: $(echo "$out" | $B head -n 1 | $B cut -c1-100)"; fi
    return
  fi

  # memory limit and the OOM killer: the hog is a child of the init, so without
  # memory.oom.group the init survives it and reports its status.
  bundle oom '["sh", "-c", "hog 16; echo after $?"]' "{\"memory\": {\"limit\": $((8 * mib)), \"swap\": $((8 * mib))}}"
  run_in oom
  expect_has "$R memory.max kills a hog over the limit (init survives)" "$out" "after 137"
  bundle oomgroup '["sh", "-c", "hog 16; echo after $?"]' \
    "{\"memory\": {\"limit\": $((8 * mib)), \"swap\": $((8 * mib))}, \"unified\": {\"memory.oom.group\": \"1\"}}"
  run_in oomgroup
  case "$out" in *after*) fail "$R memory.oom.group kills the whole cgroup: $out";;
    *) expect "$R memory.oom.group kills the whole cgroup (exit status)" "$status" 137;; esac
  bundle mem '["sh", "-c", "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.swap.max /sys/fs/cgroup/memory.low"]' \
    "{\"memory\": {\"limit\": $((32 * mib)), \"swap\": $((96 * mib)), \"reservation\": $((8 * mib))}}"
  run_in mem
  expect "$R memory limit, swap (memory+swap) and reservation" "$(echo "$out" | oneline)" "$((32 * mib)) $((64 * mib)) $((8 * mib))"

  # swap: with 24 MiB of swap allowed, a 12 MiB hog in 8 MiB survives (it dies without: above)
  if [ "$SWAP" = on ]; then
    bundle swap '["sh", "-c", "hog 12; cat /sys/fs/cgroup/memory.swap.current"]' "{\"memory\": {\"limit\": $((8 * mib)), \"swap\": $((32 * mib))}}"
    run_in swap
    case "$out" in survived*) sw=${out##*survived}; sw=$(echo $sw)
      if [ "${sw:-0}" -gt 0 ] 2>/dev/null; then ok "$R swap lets a hog over memory.max live ($sw bytes swapped)"
      else fail "$R swap: nothing swapped: $out"; fi;;
      *) fail "$R swap lets a hog over memory.max live: $status $out";; esac
  else
    skip "$R swap: swapon failed in the guest"
  fi

  # pids: a fork bomb stops at the limit; the guest survives it
  # (the init waits with builtins only: it cannot fork once the bomb holds every pid)
  bundle pids '["sh", "-c", "bomb; i=0; while [ $i -lt 300 ]; do read k v < /sys/fs/cgroup/pids.events; [ $v -gt 0 ] && break; j=0; while [ $j -lt 1000 ]; do j=$((j+1)); done; i=$((i+1)); done; read c < /sys/fs/cgroup/pids.current; echo $c $k $v"]' \
    '{"pids": {"limit": 24}}'
  run_in pids
  set -- $out
  if [ "${1:-99}" -le 24 ] 2>/dev/null && [ "${2:-}" = max ] && [ "${3:-0}" -gt 0 ] 2>/dev/null; then
    ok "$R pids.max holds a fork bomb ($1 pids, $3 forks refused)"
  else fail "$R pids.max holds a fork bomb: $status $out"; fi

  # cpu: weight from shares, max, burst, idle; and the quota is enforced
  bundle cpu '["sh", "-c", "cat /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu.max.burst"]' \
    '{"cpu": {"shares": 2048, "quota": 20000, "period": 100000, "burst": 10000}}'
  run_in cpu
  # shares 2048 is cpu.weight 174 with the conversion current runtimes use, 79 with the older
  # linear one (runc 1.1, crun before 1.11); swiftlet uses the current one.
  flat=$(echo "$out" | oneline)
  case "$R:$flat" in
    swiftlet:"174 20000 100000 10000") ok "$R cpu shares (weight 174), quota/period, burst";;
    swiftlet:*) fail "$R cpu shares (weight), quota/period, burst: got '$flat', want '174 20000 100000 10000'";;
    *:"174 20000 100000 10000"|*:"79 20000 100000 10000") ok "$R cpu shares (weight ${flat%% *}), quota/period, burst";;
    *:"174 20000 100000 0"|*:"79 20000 100000 0")
      ok "$R cpu shares (weight ${flat%% *}), quota/period"
      skip "$R cpu burst: this version ignores linux.resources.cpu.burst";;
    *) fail "$R cpu shares (weight), quota/period, burst: got '$flat'";;
  esac
  # cpu.idle (SCHED_IDLE for the group; its cpu.weight then reads 0)
  bundle idle '["cat", "/sys/fs/cgroup/cpu.idle"]' '{"cpu": {"idle": 1}}'
  run_in idle
  case "$R:$out" in *:1) ok "$R cpu idle";;
    crun:0|runc:0) skip "$R cpu idle: this version ignores linux.resources.cpu.idle";;
    *) fail "$R cpu idle: got '$out'";; esac
  bundle cpumax '["sh", "-c", "spin 50000; while read k v; do echo $k $v; done < /sys/fs/cgroup/cpu.stat"]' \
    '{"cpu": {"quota": 10000, "period": 100000}}'
  run_in cpumax
  thr=$(echo "$out" | $B sed -n 's/^nr_throttled //p')
  if [ "${thr:-0}" -gt 0 ] 2>/dev/null; then ok "$R cpu.max throttles a busy loop ($thr periods)"
  else fail "$R cpu.max throttles a busy loop: $status $(echo "$out" | oneline)"; fi

  # cpuset: UML 6.1 has no SMP and so no cpuset controller: asking for one must fail
  bundle cpuset "$sleeper" '{"cpu": {"cpus": "0"}}'
  run_in cpuset
  if [ "$status" != 0 ]; then ok "$R cpuset requested without the controller fails ($(echo "$out" | $B tail -n 1 | $B cut -c1-90))"
  else fail "$R cpuset requested without the controller fails: it ran"; fi

  # io: BFQ weight and io.max throttles on the guest's ubd disk
  if [ -b /dev/ubda ]; then
    disk='[{"path": "/dev/disk", "type": "b", "major": 98, "minor": 0, "fileMode": 432, "uid": 0, "gid": 0}]'
    bundle io '["sh", "-c", "cat /sys/fs/cgroup/io.bfq.weight /sys/fs/cgroup/io.max; read s x < /proc/uptime; s=${s%.*}${s#*.}; dd if=/dev/disk of=/dev/null bs=64k count=32 skip=64 iflag=direct 2>/dev/null; read e x < /proc/uptime; e=${e%.*}${e#*.}; echo ms $(( (e - s) * 10 ))"]' \
      '{"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "b", "major": 98, "minor": 0, "access": "rw"}], "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 98, "minor": 0, "rate": 1048576}], "throttleWriteIOPSDevice": [{"major": 98, "minor": 0, "rate": 100}]}}' \
      "" "" "$disk"
    run_in io
    flat=$(echo "$out" | oneline)
    expect_has "$R blockIO weight (io.bfq.weight)" "$flat" "default 500"
    expect_has "$R blockIO throttles (io.max)" "$flat" "98:0 rbps=1048576 wbps=max riops=max wiops=100"
    ms=${flat##*ms }
    if [ "${ms:-0}" -ge 1500 ] 2>/dev/null; then ok "$R io.max holds 2 MiB of direct reads at 1 MiB/s (${ms} ms)"
    else fail "$R io.max holds 2 MiB of direct reads at 1 MiB/s: $flat"; fi
  else
    skip "$R blockIO: no /dev/ubda in the guest"
  fi

  # devices: the BPF program denies a node the rules do not allow, allows what they do
  nodes='[{"path": "/dev/disk", "type": "b", "major": 98, "minor": 0, "fileMode": 432, "uid": 0, "gid": 0}]'
  bundle devdeny '["sh", "-c", "head -c 1 /dev/disk > /dev/null && echo disk-read; head -c 1 /dev/zero | wc -c"]' \
    '{"devices": [{"allow": false, "access": "rwm"}]}' "" "" "$nodes"
  run_in devdeny
  flat=$(echo "$out" | oneline)
  case "$flat" in *disk-read*) fail "$R device program denies a node not allowed: $flat";;
    *"ermitted"*1) ok "$R device program denies a node not allowed, allows the defaults";;
    *) fail "$R device program denies a node not allowed: $flat";; esac
  bundle devallow '["sh", "-c", "head -c 1 /dev/disk > /dev/null && echo disk-read; echo x > /dev/disk || echo write-denied"]' \
    '{"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "b", "major": 98, "minor": 0, "access": "r"}]}' "" "" "$nodes"
  run_in devallow
  flat=$(echo "$out" | oneline)
  case "$flat" in "disk-read"*write-denied) ok "$R device program allows read (r), denies write";;
    *) fail "$R device program allows read (r), denies write: $flat";; esac

  # unified keys
  bundle unified '["sh", "-c", "cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.high"]' \
    '{"unified": {"pids.max": "7", "memory.high": "50000000"}}'
  run_in unified
  expect "$R unified key/values" "$(echo "$out" | oneline)" "7 49999872"

  # the cgroup namespace view from inside
  bundle view '["sh", "-c", "cat /proc/self/cgroup; ls /sys/fs/cgroup | grep -c -e ^memory.max$ -e ^pids.max$"]' '{}' "/view/$R"
  run_in view
  expect "$R cgroup namespace: the container's cgroup is its root" "$(echo "$out" | oneline)" "0::/ 2"

  # a long-running container: pause/resume, update, events --stats, ps, kill --all, delete
  bundle long '["sh", "-c", "sleep 1000 & sleep 1001 & wait"]' \
    "{\"memory\": {\"limit\": $((64 * mib))}, \"pids\": {\"limit\": 50}}" "/long/$R" \
    '[{"type":"mount"},{"type":"ipc"},{"type":"uts"},{"type":"cgroup"}]'
  start_in long
  expect "$R create + start (no pid namespace)" "$status" 0
  expect "$R cgroupsPath absolute nested" "$cgdir" "$CG/long/$R"
  $B sleep 0.2
  rt pause "$R-long"
  expect "$R pause: cgroup.freeze" "$(cgfile cgroup.freeze) $(grep frozen "$cgdir/cgroup.events")" "1 frozen 1"
  expect_has "$R pause: state" "$(rt state "$R-long" | oneline)" '"paused"'
  rt resume "$R-long"
  expect "$R resume: thawed" "$(cgfile cgroup.freeze) $(grep frozen "$cgdir/cgroup.events")" "0 frozen 0"

  rt update --memory $((40 * mib)) --memory-reservation $((20 * mib)) --memory-swap $((80 * mib)) --pids-limit 30 --cpu-share 512 \
    --cpu-quota 30000 --cpu-period 100000 --blkio-weight 300 "$R-long" 2>/tmp/err
  got="$?$(head -c 100 /tmp/err | oneline) $(cgfile memory.max) $(cgfile memory.low) $(cgfile memory.swap.max) $(cgfile pids.max) $(cgfile cpu.max) $(cgfile io.bfq.weight)"
  expect "$R update (memory, reservation, swap, pids, quota, period, blkio weight)" "$got" \
    "0 $((40 * mib)) $((20 * mib)) $((40 * mib)) 30 30000 100000 default 300"
  # --cpu-share 512: weight 59 (current conversion) or 20 (the older linear one)
  w=$(cgfile cpu.weight)
  case "$R:$w" in swiftlet:59|runc:59|runc:20|crun:59|crun:20) ok "$R update --cpu-share (weight $w)";;
    *) fail "$R update --cpu-share: weight $w";; esac
  if rt update --help 2>&1 | grep -q cpu-burst; then
    rt update --cpu-burst 5000 --cpu-idle 1 "$R-long" 2>/tmp/err
    expect "$R update --cpu-burst --cpu-idle" "$? $(cgfile cpu.max.burst) $(cgfile cpu.idle)" "0 5000 1"
  else
    skip "$R update --cpu-burst --cpu-idle: not in this version"
  fi
  printf '{"memory": {"limit": %s}, "pids": {"limit": 40}}' $((48 * mib)) > /tmp/res.json
  rt update -r /tmp/res.json "$R-long" 2>/tmp/err
  expect "$R update -r FILE" "$? $(cgfile memory.max) $(cgfile pids.max)" "0 $((48 * mib)) 40"
  for flag in "--cpuset-cpus 0" "--cpuset-mems 0" "--cpu-rt-runtime 1000" "--cpu-rt-period 1000000" \
              "--l3-cache-schema L3:0=f" "--mem-bw-schema MB:0=50"; do
    if rt update $flag "$R-long" > /tmp/err 2>&1; then
      case "$R:$flag" in
        runc:--cpu-rt-*) skip "$R update $flag: this version accepts it on cgroup v2 and writes nothing";;
        *) fail "$R update $flag fails here (no cpuset, rt, resctrl): it succeeded";;
      esac
    else ok "$R update $flag fails here ($(tail -n 1 /tmp/err | cut -c1-70))"; fi
  done
  rt update --kernel-memory $mib "$R-long" > /tmp/err 2>&1
  expect "$R update --kernel-memory (obsolete) leaves memory.max alone" "$(cgfile memory.max)" "$((48 * mib))"

  if [ "$R" = crun ]; then skip "$R events: crun has no events command"; else
  rt events --stats "$R-long" > "/tmp/stats-$R" 2>&1
  expect_has "$R events --stats: a stats event" "$(cat "/tmp/stats-$R" | oneline)" '"type":"stats"'
  grep -o '"[a-zA-Z_]*":' "/tmp/stats-$R" | sort -u > "/tmp/keys-$R"
  expect_has "$R events --stats: pids.current" "$(tr -d ' \n' < "/tmp/stats-$R")" '"pids":{"current":3'
  fi
  ps_out=$(rt ps "$R-long" 2>&1 | oneline)
  case "$R:$ps_out" in
    swiftlet:*"segmentation fault"*) skip "$R ps (table): ps(1), run with PATH alone, crashes in this guest (AVX: see run.sh)";;
    *) expect_has "$R ps lists the init" "$ps_out" " $pid ";;
  esac
  expect "$R ps lists 3 processes" "$(rt ps -f json "$R-long" | tr ',' '\n' | grep -c '[0-9]')" 3
  kids=$(cat "$cgdir/cgroup.procs" | oneline)
  rt kill --all "$R-long" KILL
  $B sleep 0.3
  gone=yes
  for p in $kids; do dead "$p" || gone="no ($p)"; done
  expect "$R kill --all reaches every process" "$gone" yes
  rt delete "$R-long" > /tmp/err 2>&1
  expect "$R delete" "$?" 0
  if [ -d "$cgdir" ]; then fail "$R delete removes the cgroup: $cgdir is still there"; else ok "$R delete removes the cgroup"; fi

  # nested and relative cgroupsPath
  bundle rel "$sleeper" '{"pids": {"limit": 10}}' "rel/$R/c"
  start_in rel
  expect_has "$R cgroupsPath relative" "$cgdir" "rel/$R/c"
  expect "$R ... with its limit" "$(cgfile pids.max)" 10
  stop rel
  if [ -d "$cgdir" ]; then fail "$R delete -f removes the relative cgroup"; else ok "$R delete -f removes the relative cgroup"; fi
}

. /rootless.sh
# As user rl (see rootless.sh): its checks only.
if [ "${1:-}" = rootless-user ]; then rootless_user "$2"; exit 0; fi

for R in $RUNTIMES; do suite "$R"; done
case " $RUNTIMES " in *" swiftlet "*) rootless_root;; esac

# runc's events --stats keys that swiftlet does not print (both ran in this guest)
if [ -f /tmp/keys-runc ] && [ -f /tmp/keys-swiftlet ]; then
  missing=$(grep -v -x -F -f /tmp/keys-swiftlet /tmp/keys-runc | oneline)
  expect "swiftlet events --stats has every key runc's has" "$missing" ""
fi
$B echo "== end (guest uptime $($B cut -d' ' -f1 /proc/uptime) s)"
$B echo "RESULT done 1"
