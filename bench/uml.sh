#!/usr/bin/env bash
# The UML tier in one run, beside a namespace container of the same binary and of crun (when
# installed), with the tier's own kernel (dist/uml/linux-tier, or KERNEL=path):
#   create -> process running, p50 of RUNS cold, and from a warm pool (`pool start`), for a
#   one-page static program that creates a marker file (bench/lib/up.c: the runtime's time)
#   and for busybox `sh -c` doing the same (what a shell's own start adds in a guest);
#   host memory of an idle UML container: PSS of its whole process tree (anonymous and file
#   pages) plus the guest RAM its tmpfs holds;
#   a getpid() round trip, a syscall-heavy and a CPU-bound workload, timed inside the
#   container by bench/probe.c (boot and create excluded), as ratios to the namespace container.
# Prints a markdown section (machine, date, command, table) for bench/UML.md.
#   usage (as root): bash bench/uml.sh [/abs/path/to/swiftlet]   RUNS=N (default 10)
# Uses the busybox test bundle (scripts/make-bundle.sh) in a temp dir of its own.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
swiftlet=$(readlink -f "${1:-$top/dist/swiftlet}")
kernel=$(readlink -f "${KERNEL:-$top/dist/uml/linux-tier}")
runs=${RUNS:-10}
[ "$(id -u)" = 0 ] || { echo "bench/uml.sh: run as root" >&2; exit 1; }
[ -x "$kernel" ] || { echo "bench/uml.sh: no tier kernel at $kernel (make dist/uml/linux-tier, or KERNEL=)" >&2; exit 1; }
crun=${CRUN-$(command -v crun || true)}   # CRUN= leaves crun out
work=$(mktemp -d /tmp/swiftlet-bench-uml.XXXXXX)
root=$work/state
cleanup() {
  "$swiftlet" --root "$root" pool drain bp >/dev/null 2>&1 || true
  "$swiftlet" --root "$root" pool drain np >/dev/null 2>&1 || true
  for id in $(ls "$root" 2>/dev/null | grep -v '^\.'); do "$swiftlet" --root "$root" delete --force "$id" >/dev/null 2>&1 || true; done
  for id in $(ls "$work/crun" 2>/dev/null); do "$crun" --root "$work/crun" delete --force "$id" >/dev/null 2>&1 || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
bash "$top/scripts/make-bundle.sh" "$work/bundle" "$swiftlet" >/dev/null
gcc -static -O2 -o "$work/bundle/rootfs/bin/probe" "$top/bench/probe.c"
gcc -static -nostdlib -O2 -fno-stack-protector -o "$work/bundle/rootfs/bin/up" "$top/bench/lib/up.c"
gcc -O2 -o "$work/appear" "$top/bench/lib/appear.c"
marker=$work/bundle/rootfs/tmp/up

# $1: isolation ("uml" or "namespaces"), $2: shell script, or "up" for bench/lib/up.c:
# writes config.json.
config() {
  python3 - "$work/bundle/config.json" "$1" "$2" "$kernel" <<'PY'
import json, sys
path, mode, script, kernel = sys.argv[1:]
c = json.load(open(path))
c["ociVersion"] = "1.0.2-dev"   # crun 1.8 knows no later version
c["process"]["args"] = ["/bin/up"] if script == "up" else ["sh", "-c", script]
c["root"]["readonly"] = False
a = c.setdefault("annotations", {})
a["org.swiftlet.isolation"] = mode
if mode == "uml":
    a["org.swiftlet.uml.kernel"] = kernel
else:
    a.pop("org.swiftlet.uml.kernel", None)
json.dump(c, open(path, "w"))
PY
}
ms() { awk "BEGIN{printf \"%.1f\", ($2 - $1) / 1000000}"; }
p50() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# The time the marker appears, from a watcher started before the clock starts (no polling).
watch_marker() { rm -f "$marker"; "$work/appear" "$marker" 30000 > "$work/t1" & watcher=$!; }
marker_time() { wait "$watcher" || { echo "bench/uml.sh: no marker" >&2; exit 1; }; t1=$(cat "$work/t1"); }
# The marker: hostfs writes through to the host file at once (no sync needed).
up_sh='echo up > /tmp/up; exec sleep 1000'
workload() { [ "$1" = up ] && echo up || echo "$up_sh"; }

# create -> running: `create` then `start` until the process has made its marker.
startup() { # $1 runtime: swiftlet-namespaces, swiftlet-uml, crun; $2 workload: up or sh
  case $1 in swiftlet-uml) config uml "$(workload "$2")" ;; *) config namespaces "$(workload "$2")" ;; esac
  for i in $(seq "$runs"); do
    watch_marker
    t0=$(date +%s%N)
    if [ "$1" = crun ]; then
      (cd "$work/bundle" && "$crun" --root "$work/crun" create c$i && "$crun" --root "$work/crun" start c$i)
    else
      "$swiftlet" --root "$root" create --bundle "$work/bundle" b$i >/dev/null
      "$swiftlet" --root "$root" start b$i
    fi
    marker_time
    ms "$t0" "$t1"; echo
    if [ "$1" = crun ]; then "$crun" --root "$work/crun" delete --force c$i; else "$swiftlet" --root "$root" delete --force b$i; fi
  done | p50
}

# From a warm pool of one member: `pool start` with the process replaced, until its marker.
pool_startup() { # $1 mode $2 pool name $3 workload: up or sh
  config "$1" 'exec sleep 1000'
  "$swiftlet" --root "$root" pool fill --bundle "$work/bundle" --size 1 "$2" >/dev/null
  for i in $(seq "$runs"); do
    # The background refill of the previous round must have a member created again.
    for _ in $(seq 3000); do
      "$swiftlet" --root "$root" list | awk -v p="$2-" 'index($1, p) == 1 && $3 == "created" {f=1} END {exit !f}' && break
      sleep 0.02
    done
    watch_marker
    t0=$(date +%s%N)
    if [ "$3" = up ]; then
      id=$("$swiftlet" --root "$root" pool start --arg /bin/up "$2")
    else
      id=$("$swiftlet" --root "$root" pool start --arg sh --arg -c --arg "$up_sh" "$2")
    fi
    marker_time
    ms "$t0" "$t1"; echo
    "$swiftlet" --root "$root" delete --force "$id"
  done | p50
  "$swiftlet" --root "$root" pool drain "$2" >/dev/null
}

# kB: PSS (anonymous + file) of every process of the container's cgroup, and the guest RAM
# its tmpfs holds: the tree's PSS of shared memory (the UML kernel maps the whole RAM file,
# so every page the guest touched is mapped; the sealed supervisor no longer shows the tmpfs).
idle_memory() {
  config uml 'exec sleep 1000'
  "$swiftlet" --root "$root" create --bundle "$work/bundle" mem >/dev/null
  "$swiftlet" --root "$root" start mem
  sleep 3
  pid=$("$swiftlet" --root "$root" state mem | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
  cg=$(awk -F: '$2=="pids"{print $3}' /proc/$pid/cgroup)
  anon=0 file=0 tmpfs=0 n=0
  for p in $(cat /sys/fs/cgroup/pids$cg/cgroup.procs); do
    read -r a f s < <(awk '/^Pss_Anon:/{a=$2} /^Pss_File:/{f=$2} /^Pss_Shmem:/{s=$2} END{print a+0, f+0, s+0}' /proc/$p/smaps_rollup 2>/dev/null || echo 0 0 0)
    anon=$((anon + a)); file=$((file + f)); tmpfs=$((tmpfs + s)); n=$((n + 1))
  done
  echo "$anon $file $tmpfs $n"
  "$swiftlet" --root "$root" delete --force mem
}

# What the probe prints, run in a container ($1: swiftlet-namespaces, swiftlet-uml, crun).
probe() { # $1 runtime $2 probe args
  case $1 in swiftlet-uml) config uml "exec probe $2" ;; *) config namespaces "exec probe $2" ;; esac
  if [ "$1" = crun ]; then
    (cd "$work/bundle" && "$crun" --root "$work/crun" run p)
  else
    "$swiftlet" --root "$root" run --bundle "$work/bundle" p
  fi
}
ratio() { awk "BEGIN{printf \"%.1f\", $1 / $2}"; }

runtimes=(swiftlet-namespaces swiftlet-uml)
[ -n "$crun" ] && runtimes+=(crun)
declare -A cold cold_sh getpid sys cpu
for r in "${runtimes[@]}"; do cold[$r]=$(startup "$r" up); cold_sh[$r]=$(startup "$r" sh); done
pool_ns=$(pool_startup namespaces np up)
pool_uml=$(pool_startup uml bp up)
pool_ns_sh=$(pool_startup namespaces np sh)
pool_uml_sh=$(pool_startup uml bp sh)
read -r anon file tmpfs nprocs < <(idle_memory)
native_getpid=$("$work/bundle/rootfs/bin/probe" getpid 20000)
for r in "${runtimes[@]}"; do
  getpid[$r]=$(probe "$r" "getpid 20000")
  sys[$r]=$(probe "$r" "syscalls 5000")
  cpu[$r]=$(probe "$r" "cpu 100000000")
done
boot=$( config uml 'true'; t0=$(date +%s%N); "$swiftlet" --root "$root" run --bundle "$work/bundle" t; t1=$(date +%s%N); ms "$t0" "$t1")

c=${crun:+crun $("$crun" --version | sed -n 's/^crun version //p')}
cr() { [ -n "$crun" ] && echo " ${1} |" || true; }
echo "Machine: $(uname -sr), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(date -u +%Y-%m-%d)."
echo "Command: \`RUNS=$runs bash bench/uml.sh\`; swiftlet $(stat -c %s "$swiftlet") bytes; kernel $(basename "$kernel") $(stat -c %s "$kernel") bytes; ${c:-no crun}."
echo
echo "| what | swiftlet, namespaces | UML tier |${crun:+ crun |}"
echo "|---|---|---|${crun:+---|}"
echo "| create -> running, p50 of $runs, cold (ms) | ${cold[swiftlet-namespaces]} | ${cold[swiftlet-uml]} |$(cr "${cold[crun]:-}")"
echo "| \`pool start\` -> running, p50 of $runs (ms) | $pool_ns | $pool_uml |$(cr "")"
echo "| the same two with busybox \`sh -c\` making the marker: cold, pool (ms) | ${cold_sh[swiftlet-namespaces]}, $pool_ns_sh | ${cold_sh[swiftlet-uml]}, $pool_uml_sh |$(cr "${cold_sh[crun]:-}")"
echo "| \`run\` of \`true\`: boot, create, exit, power off (ms) | | $boot |$(cr "")"
echo "| idle container: PSS of the tree ($nprocs processes) + guest RAM in tmpfs (kB) | | $((anon + file + tmpfs)) = $anon anon + $file file + $tmpfs tmpfs |$(cr "")"
echo "| getpid() round trip (ns; native $native_getpid) | ${getpid[swiftlet-namespaces]} | ${getpid[swiftlet-uml]} ($(ratio "${getpid[swiftlet-uml]}" "${getpid[swiftlet-namespaces]}")x) |$(cr "${getpid[crun]:-}")"
echo "| syscall-heavy: 5000 x open+read+close (ms) | ${sys[swiftlet-namespaces]} | ${sys[swiftlet-uml]} ($(ratio "${sys[swiftlet-uml]}" "${sys[swiftlet-namespaces]}")x) |$(cr "${sys[crun]:-}")"
echo "| CPU-bound: 10^8 rounds of an integer hash (ms) | ${cpu[swiftlet-namespaces]} | ${cpu[swiftlet-uml]} ($(ratio "${cpu[swiftlet-uml]}" "${cpu[swiftlet-namespaces]}")x) |$(cr "${cpu[crun]:-}")"
