#!/usr/bin/env bash
# Benchmarks swiftlet side by side with runc and crun on one busybox bundle and writes
# bench/RESULTS.md. See bench/README.md for what is measured and how to read it.
#
# usage (as root, from anywhere):   bash bench/run.sh
#   QUICK=1            smoke run: few iterations, writes /tmp/swiftlet-bench-quick.md instead
#   SWIFTLET_DIST=DIR  use the binaries in DIR (swiftlet, swiftlet-dynamic, swiftlet-standard)
#                      instead of running `make`
#   RUNTIMES="..."     subset of: swiftlet swiftlet-dynamic swiftlet-standard crun runc
#   RUNS, WARMUP, ROUNDS, BATCH, BATCH_RUNS, RSS_REPEAT, RESIDENT_N, PROFILE_RUNS: see below
#   FAST_START=...     the `run` row for swiftlet's fast start: pool (the default when swiftlet
#                      has `pool`), a command line, or empty for none (see bench/README.md)
#   NICE=N             scheduling priority of the whole benchmark (default -10)
#   OUT=FILE           where the report goes;  KEEP_WORK=1 keeps raw data (hyperfine JSON, ...)
#   ONLY=SECTIONS      comma-separated subset of: time memory size profile faststart cgroups;
#                      the report then goes to bench/RESULTS-<sections>.md unless OUT is set
#   LATENCY_RUNS, CGROUP_RUNS: samples of the fast-start latency and cgroup setup sections
set -euo pipefail

bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$bench")
cd "$top"

[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root (containers need it)" >&2; exit 1; }

# crun 1.8.1 refuses every container when the cgroup2 mount of a hybrid layout holds a
# controller ("cgroups in hybrid mode not supported"); Debian 12 hosts put hugetlb there.
# Instead of changing the host, the whole benchmark runs in a private mount namespace in
# which that cgroup2 mount is detached: every runtime then sees the same pure-v1 layout.
# Nothing outside this process tree notices. An idle child left in the host's namespace (it
# ends with this script) lets the one row that measures swiftlet on the real layout enter it.
unified=/sys/fs/cgroup/unified
if [ -z "${SWIFTLET_BENCH_INNER:-}" ]; then
  hide=0
  if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] &&
     [ "$(stat -f -c %T $unified 2>/dev/null)" = cgroup2fs ] &&
     [ -n "$(tr -d ' \n' < $unified/cgroup.controllers 2>/dev/null)" ]; then
    hide=1
  fi
  export SWIFTLET_BENCH_INNER=1 SWIFTLET_BENCH_HIDDEN=$hide
  export SWIFTLET_BENCH_HOST_CONTROLLERS="$(cat $unified/cgroup.controllers 2>/dev/null || true)"
  if [ $hide = 1 ]; then
    tail --pid=$$ -f /dev/null </dev/null >/dev/null 2>&1 &
    export SWIFTLET_BENCH_HOST_NS=/proc/$!/ns/mnt
    exec unshare --mount --propagation private -- \
      bash -c 'umount '$unified' && exec bash "$0" "$@"' "${BASH_SOURCE[0]}" "$@"
  fi
fi

. "$top/scripts/deps.sh"

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  RUNS=${RUNS:-10}; WARMUP=${WARMUP:-1}; ROUNDS=${ROUNDS:-1}
  BATCH=${BATCH:-5}; BATCH_RUNS=${BATCH_RUNS:-2}
  RSS_REPEAT=${RSS_REPEAT:-2}; RESIDENT_N=${RESIDENT_N:-3}
  BISECT_STEP=${BISECT_STEP:-1048576}; PROFILE_RUNS=${PROFILE_RUNS:-5}
  LATENCY_RUNS=${LATENCY_RUNS:-20}; CGROUP_RUNS=${CGROUP_RUNS:-5}
  OUT=${OUT:-/tmp/swiftlet-bench-quick.md}
else
  RUNS=${RUNS:-100}          # timed runs per command, split over ROUNDS
  WARMUP=${WARMUP:-5}        # untimed runs before each series
  ROUNDS=${ROUNDS:-2}        # series per command, runtimes interleaved: load drifts hit all
  BATCH=${BATCH:-50}         # containers per batch run
  BATCH_RUNS=${BATCH_RUNS:-20}   # each batch run is 2*BATCH runtime calls
  RSS_REPEAT=${RSS_REPEAT:-10}   # /usr/bin/time samples per runtime and verb
  RESIDENT_N=${RESIDENT_N:-10}   # containers waiting side by side for the resident memory
  BISECT_STEP=${BISECT_STEP:-65536}  # precision of the minimum memory limit
  PROFILE_RUNS=${PROFILE_RUNS:-50}   # `run`s sampled by perf
  LATENCY_RUNS=${LATENCY_RUNS:-1000}  # fast-start latency samples per runtime (interleaved)
  CGROUP_RUNS=${CGROUP_RUNS:-50}     # straced creates per runtime for the cgroup setup cost
  ONLY=${ONLY:-}
  OUT=${OUT:-$bench/RESULTS${ONLY:+-${ONLY//,/-}}.md}
fi
# want SECTION: is that section part of this run?
want() { [ -z "${ONLY:-}" ] || [[ ",$ONLY," == *",$1,"* ]]; }
# Builds of other work on a shared machine preempt short runs and stretch the tail; at a
# higher priority (inherited by every runtime and floor alike) the benchmark suffers less.
NICE=${NICE:--10}
renice -n "$NICE" -p $$ >/dev/null
ALL_RUNTIMES="swiftlet swiftlet-dynamic swiftlet-standard crun runc"
read -r -a runtimes <<< "${RUNTIMES:-$ALL_RUNTIMES}"

log() { echo "== $*" >&2; }
# first_error FILE: the first non-empty line, cut to fit a table cell.
first_error() { grep -v '^$' "$1" 2>/dev/null | head -1 | cut -c1-200 | sed 's/|/\\|/g' || true; }

# ---------------------------------------------------------------------------------------
# Tools and binaries

ensure_packages runc crun hyperfine time busybox-static jq strace util-linux
# Profilers are optional: the profile section says so when one is missing.
ensure_packages linux-perf valgrind || true

if [ -n "${SWIFTLET_DIST:-}" ]; then
  dist=$(cd "$SWIFTLET_DIST" && pwd)
  build_note="prebuilt binaries from \`$dist\` (SWIFTLET_DIST)"
  git -C "$dist/.." rev-parse --short HEAD >/dev/null 2>&1 &&
    build_note+=", tree at commit $(git -C "$dist/.." rev-parse --short HEAD)"
else
  ensure_packages "${BUILD_PACKAGES[@]}"
  log "building swiftlet (make)"
  make -s
  dist=$top/dist
  build_note="built by \`make\` at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  [ -n "$(git status --porcelain -- Sources Package.swift Makefile 2>/dev/null)" ] &&
    build_note+=" with uncommitted changes"
fi

runtime_path() {
  case $1 in
    swiftlet|swiftlet-dynamic|swiftlet-standard) echo "$dist/$1" ;;
    swiftlet@host) echo "$dist/swiftlet" ;;
    swiftlet-fast) echo "$dist/swiftlet" ;;
    crun) command -v crun ;;
    runc) command -v runc ;;
    *) echo "unknown runtime $1" >&2; return 1 ;;
  esac
}
for rt in "${runtimes[@]}"; do
  p=$(runtime_path "$rt")
  [ -x "$p" ] || { echo "bench/run.sh: $rt: $p is not executable" >&2; exit 1; }
done

# ---------------------------------------------------------------------------------------
# Work area, state roots, cgroups; everything carries this run's tag and is removed on exit.

tag=swiftlet-bench-$$
work=$(mktemp -d "/tmp/$tag.XXXXXX")
state=/run/$tag
cgparent=/$tag
mkdir -p "$state" "$work/json" "$work/sections" "$work/logs"
case "$work$state$top" in *[[:space:]]*) echo "bench/run.sh: paths must not contain spaces" >&2; exit 1 ;; esac

root_of() { echo "$state/$1"; }
id_of() { local label=${1//@/-at-}; echo "b$$-$label-$2"; }   # runtime label, test

cleanup() {
  local rt root id
  set +e
  for rt in "${runtimes[@]}" swiftlet@host swiftlet-fast; do
    root=$(root_of "$rt")
    [ -d "$root" ] || continue
    for id in $(ls "$root" 2>/dev/null); do
      case $id in b$$-*) "$(runtime_path "$rt")" --root "$root" delete --force "$id" >/dev/null 2>&1 ;; esac
    done
  done
  rm -rf --one-file-system "$state"
  # Only the cgroups named after this run, deepest first.
  for d in /sys/fs/cgroup/*/"$tag"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  if [ "${SWIFTLET_BENCH_HIDDEN:-0}" = 1 ] && [ -e "$SWIFTLET_BENCH_HOST_NS" ]; then
    nsenter --mount="$SWIFTLET_BENCH_HOST_NS" -- sh -c \
      "[ -d $unified/$tag ] && find $unified/$tag -depth -type d -exec rmdir {} \; 2>/dev/null; true"
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "raw data kept in $work" >&2; else rm -rf --one-file-system "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# The bundle: busybox-static and runc's default spec, changed the same way for every runtime.

log "building the busybox bundle"
bash "$top/scripts/make-bundle.sh" "$work/bundle" "$(command -v runc)" >/dev/null
rootfs=$work/bundle/rootfs
base_config=$work/base-config.json
jq --arg rootfs "$rootfs" '
    .process.args = ["/bin/true"]
  | .process.terminal = false
  | .root = {path: $rootfs, readonly: true}
  | .linux.namespaces |= map(select(.type != "network"))
  | .linux.resources = {
      devices: [{allow: false, access: "rwm"}],
      memory: {limit: 268435456},
      pids: {limit: 1024}
    }' "$work/bundle/config.json" > "$base_config"

# make_bundle DIR CGROUP [MEMORY_LIMIT]: a bundle dir holding only config.json (the rootfs is
# shared through an absolute root.path); each container gets its own cgroup.
make_bundle() {
  mkdir -p "$1"
  jq --arg cg "$cgparent/$2" --argjson mem "${3:-268435456}" \
    '.linux.cgroupsPath = $cg | .linux.resources.memory.limit = $mem' "$base_config" > "$1/config.json"
}
make_bundle "$work/b/main" main
for ((i = 1; i <= (BATCH > RESIDENT_N ? BATCH : RESIDENT_N); i++)); do
  make_bundle "$work/b/n$i" "n$i"
done
main_bundle=$work/b/main

# ---------------------------------------------------------------------------------------
# Timing with hyperfine

# Sets CMD (and PREP, CLEAN) for test $1 and label $2.
test_command() {
  local test=$1 label=$2 bin root id
  PREP="" CLEAN="" CMD="" SETUP=""
  case $label in
    floor-unshare) CMD="unshare -muinp -f chroot $rootfs /bin/true"; return ;;
    floor-chroot) CMD="chroot $rootfs /bin/true"; return ;;
  esac
  bin=$(runtime_path "$label") root=$(root_of "$label") id=$(id_of "$label" "$test")
  local life="$bench/lib/lifecycle.sh $bin $root $id $main_bundle"
  case $test in
    run)
      if [ "$label" = swiftlet-fast ]; then
        CMD=$(fast_start_template "$FAST_START" "$bin" "$root" "$id")
        PREP=$(fast_start_template "${FAST_START_PREPARE:-}" "$bin" "$root" "$id")
        SETUP=$(fast_start_template "${FAST_START_SETUP:-}" "$bin" "$root" "$id")
        CLEAN=$(fast_start_template "${FAST_START_CLEANUP:-}" "$bin" "$root" "$id")
      else
        CMD="$bin --root $root run --bundle $main_bundle $id"
        PREP="$life absent"
      fi ;;
    create) CMD="$bin --root $root create --bundle $main_bundle $id"; PREP="$life absent"; CLEAN="$life absent" ;;
    start) CMD="$bin --root $root start $id"; PREP="$life created"; CLEAN="$life absent" ;;
    delete) CMD="$bin --root $root delete $id"; PREP="$life stopped"; CLEAN="$life absent" ;;
    batch) CMD="$bench/lib/batch.sh $bin $root $id $work/b/n $BATCH" ;;
    version) CMD="$bin --version" ;;
  esac
}

# Fast start hook. FAST_START is the command line timed as the row swiftlet-fast of the `run`
# table; FAST_START_SETUP (once before the series), FAST_START_PREPARE (before each run) and
# FAST_START_CLEANUP (after the series) are optional. Placeholders: {swiftlet} {root} {id}
# {bundle} (the common bundle), {pool_bundle} (the same without cgroupsPath, for containers
# that share one bundle) and {bench}. FAST_START=pool selects swiftlet's warm pool.
# By default the warm pool is measured when this swiftlet has one; FAST_START= turns it off.
FAST_START=${FAST_START-auto}
if [ "$FAST_START" = auto ]; then
  FAST_START=""
  if [[ " ${runtimes[*]} " == *" swiftlet "* ]] && "$dist/swiftlet" help 2>/dev/null | grep -qE '^ +pool '; then
    FAST_START=pool
  fi
fi
fast_note=""
if [ "${FAST_START:-}" = pool ]; then
  fast_note="(FAST_START=pool: swiftlet's warm pool of 2 created containers; the timed command starts
/bin/true in one of them and returns without waiting for it to exit; the refill it leaves in the
background finishes before the next timed run.)"
  FAST_START_SETUP='{swiftlet} --root {root} pool fill --bundle {pool_bundle} --size 2 {id}'
  FAST_START_PREPARE='{bench}/lib/pool-ready.sh {swiftlet} {root} {id} 2 {pool_bundle}'
  FAST_START='{swiftlet} --root {root} pool start {id}'
  FAST_START_CLEANUP='{bench}/lib/pool-ready.sh {swiftlet} {root} {id} 2 {pool_bundle} drain'
fi
mkdir -p "$work/b/pool"
jq 'del(.linux.cgroupsPath)' "$main_bundle/config.json" > "$work/b/pool/config.json"

# fast_start_template TEMPLATE SWIFTLET ROOT ID
fast_start_template() {
  local t=$1
  t=${t//\{swiftlet\}/$2}; t=${t//\{root\}/$3}; t=${t//\{id\}/$4}
  t=${t//\{pool_bundle\}/$work/b/pool}; t=${t//\{bundle\}/$main_bundle}; t=${t//\{bench\}/$bench}
  printf '%s' "$t"
}

# in_layout LABEL CMD...: runs CMD in the host's own mount namespace for swiftlet@host.
in_layout() {
  if [ "$1" = swiftlet@host ]; then shift; nsenter --mount="$SWIFTLET_BENCH_HOST_NS" -- "$@"; else shift; "$@"; fi
}

# time_test TEST RUNS LABEL...: hyperfine series, ROUNDS of them with the labels rotated.
time_test() {
  local test=$1 runs=$2; shift 2
  local labels=("$@") n=${#@} per=$(( (runs + ROUNDS - 1) / ROUNDS )) r k label json
  for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < n; k++)); do
      label=${labels[$(( (k + r) % n ))]}
      json=$work/json/$test-$label-$r.json
      [ -e "$work/json/$test-$label.failed" ] && continue
      test_command "$test" "$label"
      log "$test: $label (round $((r + 1))/$ROUNDS, $per runs)"
      # A batch run is already 2*BATCH calls: one warm-up run is plenty.
      local warmup=$WARMUP
      [ "$test" = batch ] && warmup=$(( WARMUP < 1 ? WARMUP : 1 ))
      local args=(-N --runs "$per" --warmup "$warmup" --export-json "$json" --style basic)
      [ -n "$PREP" ] && args+=(--prepare "$PREP")
      [ -n "$CLEAN" ] && args+=(--cleanup "$CLEAN")
      [ -n "$SETUP" ] && args+=(--setup "$SETUP")
      if ! in_layout "$label" hyperfine "${args[@]}" -n "$label" "$CMD" \
           > "$work/logs/$test-$label-$r.log" 2>&1; then
        # Once more in the open, to keep the runtime's own error message.
        # (A failing preparation is what hyperfine reports then: keep its message too.)
        if [ -n "$PREP" ]; then in_layout "$label" bash -c "$PREP" > "$work/logs/$test-$label.err" 2>&1 || true; fi
        [ -s "$work/logs/$test-$label.err" ] ||
          in_layout "$label" bash -c "$CMD" > "$work/logs/$test-$label.err" 2>&1 || true
        if [ -n "$CLEAN" ]; then in_layout "$label" bash -c "$CLEAN" >/dev/null 2>&1 || true; fi
        first_error "$work/logs/$test-$label.err" > "$work/json/$test-$label.failed"
        [ -s "$work/json/$test-$label.failed" ] || first_error "$work/logs/$test-$label-$r.log" > "$work/json/$test-$label.failed"
        log "$test: $label FAILED: $(cat "$work/json/$test-$label.failed")"
      fi
    done
  done
}

# stats TEST LABEL: "median p99 min mean n" in ms over all rounds, or nothing.
stats() {
  local files=("$work/json/$1-$2-"[0-9]*.json)
  [ -e "${files[0]}" ] || return 0
  jq -s -r '[.[].results[].times[]] | sort | length as $n
    | [ (if $n % 2 == 1 then .[($n - 1) / 2] else (.[$n / 2 - 1] + .[$n / 2]) / 2 end),
        .[((0.99 * $n) | ceil) - 1], .[0], (add / $n) ]
    | map(. * 1000) + [$n] | map(tostring) | join(" ")' "${files[@]}"
}

ms() { awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f", v; else if (v >= 10) printf "%.1f", v; else printf "%.2f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }

# time_table TEST TITLE LABEL...: markdown table of one test, ratios to crun's median.
time_table() {
  local test=$1 title=$2; shift 2
  local crun_median="" crun_min="" label s med p99 min mean n
  s=$(stats "$test" crun)
  [ -n "$s" ] && read -r crun_median _ crun_min _ _ <<< "$s"
  {
    echo "### $title"
    echo
    echo "| runtime | median ms | p99 ms | min ms | mean ms | runs | median / crun | min / crun |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for label in "$@"; do
      if [ -e "$work/json/$test-$label.failed" ]; then
        echo "| $label | failed: $(cat "$work/json/$test-$label.failed") | | | | | | |"
        continue
      fi
      s=$(stats "$test" "$label"); [ -n "$s" ] || continue
      read -r med p99 min mean n <<< "$s"
      echo "| $label | $(ms "$med") | $(ms "$p99") | $(ms "$min") | $(ms "$mean") | $n | $(ratio "$med" "${crun_median:-0}") | $(ratio "$min" "${crun_min:-0}") |"
    done
    echo
  } >> "$work/sections/20-time.md"
}

# ---------------------------------------------------------------------------------------
# Memory

# peak_rss: max RSS (KiB) of the runtime process per verb, from /usr/bin/time -f %M.
peak_rss() {
  local rt bin root id verb i v life
  {
    echo "### Peak RSS of the runtime process (KiB)"
    echo
    echo "\`/usr/bin/time -f %M\`: the largest resident set of the runtime process and of the"
    echo "children it waited for ($RSS_REPEAT samples each; median, max in parentheses). The"
    echo "container's init is not counted for create (it outlives the runtime)."
    echo
    echo "| runtime | create | start | run | delete |"
    echo "|---|---:|---:|---:|---:|"
  } >> "$work/sections/30-memory.md"
  for rt in "${runtimes[@]}"; do
    log "peak RSS: $rt"
    bin=$(runtime_path "$rt") root=$(root_of "$rt") id=$(id_of "$rt" rss)
    life="$bench/lib/lifecycle.sh $bin $root $id $main_bundle"
    local row="| $rt |"
    for verb in create start run delete; do
      : > "$work/rss-$rt-$verb"
      for ((i = 0; i < RSS_REPEAT; i++)); do
        case $verb in
          create|run) $life absent ;;
          start) $life created ;;
          delete) $life stopped ;;
        esac
        local cmd=("$bin" --root "$root")
        case $verb in
          create|run) cmd+=("$verb" --bundle "$main_bundle" "$id") ;;
          start|delete) cmd+=("$verb" "$id") ;;
        esac
        if /usr/bin/time -f %M -o "$work/rss.tmp" "${cmd[@]}" </dev/null >/dev/null 2>&1; then
          tail -1 "$work/rss.tmp" >> "$work/rss-$rt-$verb"
        fi
      done
      $life absent
      v=$(sort -n "$work/rss-$rt-$verb" | awk '{ a[NR] = $1 } END { if (NR) printf "%d (%d)", a[int((NR + 1) / 2)], a[NR]; else printf "failed" }')
      row+=" $v |"
    done
    echo "$row" >> "$work/sections/30-memory.md"
  done
  echo >> "$work/sections/30-memory.md"
}

# kib FILE FIELD: a "Field: N kB" value.
kib() { awk -v f="$2:" '$1 == f { s += $2 } END { print s + 0 }' "$1"; }

# resident: what a created (waiting) container keeps in memory.
resident() {
  local rt bin root i pid rss pss priv first_rss first_pss first_priv procs cg mem
  {
    echo "### Resident memory per created container"
    echo
    echo "After \`create\`, before \`start\`: the waiting init's VmRSS, Pss and private memory"
    echo "(from /proc/PID/smaps_rollup), first with one container alone, then the mean over"
    echo "$RESIDENT_N containers waiting side by side (shared pages are split between them in Pss)."
    echo "\"cgroup\" is the container's memory cgroup usage (memory.usage_in_bytes: page cache,"
    echo "kernel memory and the init together); \"procs\" counts processes in the container's cgroup."
    echo
    echo "| runtime | RSS KiB (1) | Pss KiB (1) | private KiB (1) | Pss KiB (mean of $RESIDENT_N) | cgroup KiB (mean) | procs |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
  } >> "$work/sections/30-memory.md"
  for rt in "${runtimes[@]}"; do
    log "resident memory: $rt"
    bin=$(runtime_path "$rt") root=$(root_of "$rt")
    local pss_sum=0 mem_sum=0 ok=0
    first_rss="" procs=""
    for ((i = 1; i <= RESIDENT_N; i++)); do
      "$bin" --root "$root" create --bundle "$work/b/n$i" "$(id_of "$rt" res-$i)" </dev/null >/dev/null 2>"$work/logs/res.err" || break
      if [ $i = 1 ]; then
        pid=$("$bin" --root "$root" state "$(id_of "$rt" res-1)" | jq -r .pid)
        cat "/proc/$pid/smaps_rollup" > "$work/smaps1"
        first_rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status")
        first_pss=$(kib "$work/smaps1" Pss)
        first_priv=$(( $(kib "$work/smaps1" Private_Clean) + $(kib "$work/smaps1" Private_Dirty) ))
        procs=$(wc -l < "/sys/fs/cgroup/pids$cgparent/n1/cgroup.procs" 2>/dev/null || echo "?")
      fi
      ok=$i
    done
    for ((i = 1; i <= ok; i++)); do
      pid=$("$bin" --root "$root" state "$(id_of "$rt" res-$i)" | jq -r .pid)
      pss_sum=$(( pss_sum + $(kib "/proc/$pid/smaps_rollup" Pss) ))
      cg=/sys/fs/cgroup/memory$cgparent/n$i/memory.usage_in_bytes
      mem=$(cat "$cg" 2>/dev/null || echo 0)
      mem_sum=$(( mem_sum + mem / 1024 ))
    done
    for ((i = 1; i <= RESIDENT_N; i++)); do
      "$bin" --root "$root" delete --force "$(id_of "$rt" res-$i)" >/dev/null 2>&1 || true
    done
    if [ "$ok" = "$RESIDENT_N" ]; then
      echo "| $rt | $first_rss | $first_pss | $first_priv | $(( pss_sum / ok )) | $(( mem_sum / ok )) | $procs |"
    else
      echo "| $rt | failed after $ok: $(first_error "$work/logs/res.err") | | | | | |"
    fi >> "$work/sections/30-memory.md"
  done
  echo >> "$work/sections/30-memory.md"
}

# runs_with_limit RUNTIME BYTES: does `run /bin/true` succeed under that memory limit (twice)?
runs_with_limit() {
  local bin root id b=$work/b/mem
  bin=$(runtime_path "$1") root=$(root_of "$1") id=$(id_of "$1" mem)
  make_bundle "$b" mem "$2"
  for _ in 1 2; do
    "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    if ! "$bin" --root "$root" run --bundle "$b" "$id" </dev/null >/dev/null 2>"$work/logs/mem.err"; then
      "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
      return 1
    fi
  done
}

# min_memory: smallest linux.resources.memory.limit at which `run /bin/true` succeeds.
min_memory() {
  local rt lo hi mid why
  {
    echo "### Minimum container memory limit"
    echo
    echo "The smallest \`linux.resources.memory.limit\` at which \`run /bin/true\` still succeeds"
    echo "(twice in a row), by bisection to $(( BISECT_STEP / 1024 )) KiB between 0 and 64 MiB. What is charged"
    echo "is the runtime's part of the container init (before it execs /bin/true), the process"
    echo "and the kernel memory of the new namespaces and mounts (cgroup v1 charges kernel memory)."
    echo
    echo "| runtime | minimum limit KiB | error just below it |"
    echo "|---|---:|---|"
  } >> "$work/sections/30-memory.md"
  for rt in "${runtimes[@]}"; do
    case $rt in swiftlet|crun|runc) ;; *) continue ;; esac
    log "minimum memory limit: $rt"
    lo=0 hi=$((64 << 20)) why=""
    if ! runs_with_limit "$rt" $hi; then
      echo "| $rt | > 65536 | $(first_error "$work/logs/mem.err") |" >> "$work/sections/30-memory.md"
      continue
    fi
    while (( hi - lo > BISECT_STEP )); do
      mid=$(( (lo + hi) / 2 / 4096 * 4096 ))
      if runs_with_limit "$rt" $mid; then hi=$mid; else lo=$mid; why=$(first_error "$work/logs/mem.err"); fi
    done
    [ $lo = 0 ] && why="(no failure found above 0)"
    [ -n "$why" ] || why="(exit status only)"
    echo "| $rt | $(( hi / 1024 )) | $why |" >> "$work/sections/30-memory.md"
  done
  echo >> "$work/sections/30-memory.md"
}

# ---------------------------------------------------------------------------------------
# Size

sizes() {
  local rt bin size stripped libs extra total
  {
    echo "## Size"
    echo
    echo "Stripped size (\`strip -o\` of a copy; the file as installed in parentheses when it"
    echo "differs) and what \`ldd\` lists. \"other libraries\" are the shared libraries besides"
    echo "libc, libm, ld.so and the vDSO that must be installed with the binary, with their size."
    echo
    echo "| binary | stripped bytes | linking | other libraries | with them, bytes |"
    echo "|---|---:|---|---|---:|"
  } >> "$work/sections/40-size.md"
  for rt in swiftlet-standard swiftlet swiftlet-dynamic runc crun; do
    bin=$(runtime_path "$rt" 2>/dev/null) || continue
    [ -x "$bin" ] || continue
    size=$(stat -c %s "$bin")
    strip -o "$work/stripped" "$bin" 2>/dev/null && stripped=$(stat -c %s "$work/stripped") || stripped=$size
    local shown=$stripped
    [ "$stripped" != "$size" ] && shown="$stripped ($size)"
    if ldd "$bin" > "$work/ldd" 2>&1; then
      libs="dynamic: $(awk '{ print $1 }' "$work/ldd" | sed 's|.*/||' | tr '\n' ' ' | sed 's/ $//')"
      extra="" total=$stripped
      while read -r name _ path _; do
        case $name in linux-vdso*|libc.so*|libm.so*|ld-linux*|/*) continue ;; esac
        [ -e "$path" ] || continue
        extra+="$name "
        total=$(( total + $(stat -L -c %s "$path") ))
      done < "$work/ldd"
      [ -n "$extra" ] || extra="none"
    else
      libs="static" extra="none" total=$stripped
    fi
    echo "| $rt (${bin#$top/}) | $shown | $libs | ${extra% } | $total |" >> "$work/sections/40-size.md"
  done
  echo >> "$work/sections/40-size.md"
}

# ---------------------------------------------------------------------------------------
# Profile of swiftlet's `run`

# An unstripped dynamic swiftlet for symbol names, linked like dist/swiftlet-dynamic from the
# objects `make` left behind (symbol table kept, debug info dropped: valgrind 3.19 cannot read
# the DWARF 5 of this clang); the stripped one (no symbols) otherwise.
profile_binary() {
  local src clang list flags tables
  src=$(dirname "$dist")
  # The Makefile's own link inputs, so that this stays in step with it.
  IFS='|' read -r clang list flags tables < <(make -s --no-print-directory -C "$src" \
    --eval 'bench-print-link: ; @echo "$(CLANG)|$(OBJECT_LIST)|$(LINK_FLAGS)|$(UNICODE_TABLES)"' \
    bench-print-link 2>/dev/null) || true
  if [ -n "${list:-}" ] && [ -f "$src/$list" ] && [ -f "$tables" ] &&
     (cd "$src" && $clang -o "$work/swiftlet-prof" @"$list" $flags "$tables" \
       -Wl,-Bstatic -lseccomp -Wl,-Bdynamic -Wl,--as-needed -lm -Wl,--strip-debug) \
       2>"$work/logs/prof-link.err"; then
    echo "$work/swiftlet-prof"
  else
    echo "$dist/swiftlet-dynamic"
  fi
}

profile() {
  local sec=$work/sections/50-profile.md rt bin root id prof
  {
    echo "## Where swiftlet's \`run\` time goes"
    echo
  } >> "$sec"

  # CPU time against wall time: how much of a run is spent waiting.
  if command -v perf >/dev/null; then
    {
      echo "### CPU time and wall time of one \`run\` (perf stat, $PROFILE_RUNS runs)"
      echo
      echo "task-clock counts every process of the run (runtime, container init, /bin/true);"
      echo "\"CPUs\" below 1 means the run waits (for children, the kernel, sleeps)."
      echo
      echo "| runtime | task-clock ms | wall ms | CPUs utilized |"
      echo "|---|---:|---:|---:|"
    } >> "$sec"
    for rt in "${runtimes[@]}"; do
      bin=$(runtime_path "$rt") root=$(root_of "$rt") id=$(id_of "$rt" perf)
      "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
      if "$bin" --root "$root" run --bundle "$main_bundle" "$id" </dev/null >/dev/null 2>&1 &&
         perf stat -r "$PROFILE_RUNS" -e task-clock -o "$work/perfstat-$rt" -- \
           "$bin" --root "$root" run --bundle "$main_bundle" "$id" </dev/null >/dev/null 2>&1; then
        awk -v rt="$rt" '
          / task-clock / { cpu = $1; for (i = 1; i < NF; i++) if ($(i + 1) == "CPUs") util = $i }
          /seconds time elapsed/ { wall = $1 * 1000 }
          END { printf "| %s | %.2f | %.2f | %s |\n", rt, cpu, wall, util }' "$work/perfstat-$rt" >> "$sec"
      else
        echo "| $rt | failed | | |" >> "$sec"
      fi
    done
    echo >> "$sec"
  fi

  # Syscalls: counts for every runtime, the wall-time summary for swiftlet.
  {
    echo "### System calls of one \`run\` (strace -f -c -w)"
    echo
    echo "| runtime | syscalls | distinct | errors |"
    echo "|---|---:|---:|---:|"
  } >> "$sec"
  for rt in "${runtimes[@]}"; do
    bin=$(runtime_path "$rt") root=$(root_of "$rt") id=$(id_of "$rt" strace)
    "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    if strace -f -c -w -S time -o "$work/strace-$rt" \
         "$bin" --root "$root" run --bundle "$main_bundle" "$id" </dev/null >/dev/null 2>&1; then
      # Rows: % time, seconds, usecs/call, calls, [errors], name; the errors column may be blank.
      awk -v rt="$rt" '
        /^-/ { sep++; next }
        sep == 1 && NF >= 5 { distinct++ }
        $NF == "total" { calls = $4; errors = (NF == 6) ? $5 : 0 }
        END { printf "| %s | %s | %d | %s |\n", rt, calls, distinct, errors }' "$work/strace-$rt" >> "$sec"
    else
      echo "| $rt | failed | | |" >> "$sec"
    fi
  done
  echo >> "$sec"
  # The calls swiftlet makes most, beside what the others make of the same.
  if [ -s "$work/strace-swiftlet" ]; then
    local names=() name row
    while read -r name; do names+=("$name"); done < <(syscall_counts "$work/strace-swiftlet" | sort -k2,2nr | head -16 | awk '{ print $1 }')
    {
      echo "Calls per system call, the 16 swiftlet makes most:"
      echo
      row="| syscall |"; local sep="|---|"
      for rt in "${runtimes[@]}"; do [ -s "$work/strace-$rt" ] && row+=" $rt |" && sep+="---:|"; done
      echo "$row"; echo "$sep"
      for name in "${names[@]}"; do
        row="| $name |"
        for rt in "${runtimes[@]}"; do
          [ -s "$work/strace-$rt" ] || continue
          row+=" $(syscall_counts "$work/strace-$rt" | awk -v n="$name" '$1 == n { c = $2 } END { print c + 0 }') |"
        done
        echo "$row"
      done
      echo
    } >> "$sec"
  fi
  if [ -s "$work/strace-swiftlet" ]; then
    {
      echo "swiftlet's syscalls by wall time (all processes of the run; blocking calls such as"
      echo "wait4 and read on the sync socket are where the runtime waits for its child):"
      echo
      echo '```'
      head -22 "$work/strace-swiftlet"
      echo '```'
      echo
    } >> "$sec"
  fi

  # Where the CPU goes, kernel included: perf samples of the process tree of PROFILE_RUNS runs,
  # with frame-pointer call chains, so that both own and inclusive costs show.
  prof=$(profile_binary)
  local symbols="dist/swiftlet-dynamic (stripped: user-space symbols are missing)"
  [ "$prof" = "$dist/swiftlet-dynamic" ] ||
    symbols="the objects of dist/swiftlet-dynamic linked again without stripping the symbol table"
  if command -v perf >/dev/null; then
    root=$(root_of swiftlet) id=$(id_of swiftlet prof)
    local comm report
    comm=$(basename "$prof" | cut -c1-15)
    report=(perf report -i "$work/perf.data" --comm "$comm" --stdio -g none --percentage relative)
    log "profile: perf record over $PROFILE_RUNS runs of $(basename "$prof")"
    if perf record -g -F 4999 -o "$work/perf.data" -- bash -c '
         for ((i = 0; i < '"$PROFILE_RUNS"'; i++)); do
           "$0" --root "$1" run --bundle "$2" "$3" </dev/null >/dev/null 2>&1 || exit 1
         done' "$prof" "$root" "$main_bundle" "$id" >/dev/null 2>"$work/logs/perf.err"; then
      # Own time per binary: the sum over its symbols.
      "${report[@]}" --no-children --sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' |
        awk '{ sub("%", "", $1); t[$2] += $1 } END { for (d in t) printf "%6.2f%%  %s\n", t[d], d }' |
        sort -rn | head -8 > "$work/perf-dso" || true
      "${report[@]}" --no-children --sort dso,sym --percent-limit 0.8 2>/dev/null | grep -v '^#' |
        grep -v '^$' | head -30 | demangle > "$work/perf-self" || true
      # Inclusive time, without the frames every sample shares (entry points, 0x0).
      "${report[@]}" --children --sort sym --percent-limit 2 2>/dev/null | grep -v '^#' | grep -v '^$' |
        grep -vE '\] (_start|__libc_start|swiftlet_main|main\(\)|execute\(|0000000000000000|syscall$|entry_SYSCALL|do_syscall_64|x64_sys_call)' |
        head -45 | demangle > "$work/perf-children" || true
      {
        echo "### CPU profile of \`run\` (perf record -g, $PROFILE_RUNS runs)"
        echo
        echo "Samples (cpu-clock, 4999 Hz) of the \`$comm\` processes only: the runtime and the"
        echo "container init until it execs /bin/true, in user space and in the kernel on their behalf."
        echo "Percentages are of those samples. Binary: $symbols."
        echo
        echo "Own time by binary:"
        echo
        echo '```'
        cat "$work/perf-dso"
        echo '```'
        echo
        echo "Inclusive time (a function and everything it calls; \`[k]\` kernel, \`[.]\` user space):"
        echo
        echo '```'
        cut -c1-160 "$work/perf-children"
        echo '```'
        echo
        echo "Own time by symbol:"
        echo
        echo '```'
        cut -c1-160 "$work/perf-self"
        echo '```'
        echo
      } >> "$sec"
    else
      echo "perf record failed: $(first_error "$work/logs/perf.err")" >> "$sec"
      echo >> "$sec"
    fi
    "$prof" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
  fi

  # Exact user-space instruction counts (callgrind). Valgrind 3.19 does not emulate clone3,
  # so `run` stops there; what it measures is the runtime's own work before the container
  # init exists (config, cgroups), which is still worth knowing.
  if command -v valgrind >/dev/null; then
    root=$(root_of swiftlet) id=$(id_of swiftlet callgrind)
    log "profile: callgrind"
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
      "$prof" --root "$root" run --bundle "$main_bundle" "$id" </dev/null >/dev/null 2>"$work/logs/callgrind.err" || true
    "$prof" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    if [ -s "$work/callgrind.out" ]; then
      local stopped
      stopped=$(grep -v '^==' "$work/logs/callgrind.err" | grep -v '^$' | grep -v '^###' | head -1 || true)
      {
        echo "### User-space instructions of \`run\` before the container init (callgrind)"
        echo
        [ -n "$stopped" ] && echo "Under valgrind the run ends with: \`$stopped\` (valgrind has no clone3), so this covers the runtime's work up to there."
        echo "Inclusive instruction counts of the runtime process:"
        echo
        echo '```'
        callgrind_annotate --inclusive=yes "$work/callgrind.out" 2>/dev/null | sed -n '/PROGRAM TOTALS/p; /file:function/,$p' |
          grep -v '^--' | grep -v 'file:function' | grep -vE '(below main|libc_start|ld-linux|swiftlet_main|\?\?\?:main\(\))' |
          head -30 | demangle | sed -E 's/\?\?\?://; s/ \[[^]]*\]$//' | cut -c1-150 || true
        echo '```'
        echo
      } >> "$sec"
    else
      echo "callgrind failed: $(first_error "$work/logs/callgrind.err")" >> "$sec"
      echo >> "$sec"
    fi
  fi
}

# syscall_counts FILE: "name calls" for each row of an strace -c summary.
syscall_counts() {
  awk '/^-/ { sep++; next } sep == 1 && NF >= 5 { print $NF, $4 }' "$1"
}

# demangle: Swift symbols in the text on stdin made readable, if swift is there.
demangle() {
  if command -v swift-demangle >/dev/null; then swift-demangle --simplified
  elif command -v swift >/dev/null; then swift demangle --simplified
  else cat; fi
}

# ---------------------------------------------------------------------------------------
# Fast start: time from invoking the runtime to the user's process running

# The container's process is bench/lib/stamp (static): its first act is to write
# CLOCK_MONOTONIC into /out/stamp, a bind mount of $work/out; bench/lib/latency takes the
# clock just before it spawns the runtime and prints the difference. For `run` the runtime
# does everything (create, start); for swiftlet's fast start the container was created
# beforehand (untimed, with the bundle's process as placeholder) and the timed call is
# `start ID --arg /stamp --arg /out/stamp`, which replaces the process. Samples of all rows
# are interleaved one by one, so load drifts hit every row alike.
faststart_latency() {
  local sec=$work/sections/25-faststart.md n=$LATENCY_RUNS b=$work/b/latency out=$work/out
  local labels=() label i v bin root id cmd
  log "fast start latency ($n samples per row)"
  cc -O2 -static -o "$rootfs/stamp" "$bench/lib/stamp.c"
  cc -O2 -o "$work/latency" "$bench/lib/latency.c"
  mkdir -p "$out" "$rootfs/out" "$b" "$work/lat"
  jq --arg out "$out" --arg cg "$cgparent/latency" '
      .process.args = ["/stamp", "/out/stamp"]
    | .linux.cgroupsPath = $cg
    | .mounts += [{destination: "/out", type: "bind", source: $out, options: ["rbind", "rw"]}]' \
    "$main_bundle/config.json" > "$b/config.json"
  if [[ " ${runtimes[*]} " == *" swiftlet "* ]]; then labels+=(swiftlet-fast swiftlet-fast-cpu1); fi
  for rt in swiftlet crun runc; do [[ " ${runtimes[*]} " == *" $rt "* ]] && labels+=("$rt"); done
  for ((i = 0; i < n; i++)); do
    for label in "${labels[@]}"; do
      bin=$(runtime_path "${label%%-fast*}") root=$(root_of "${label%%-fast*}") id=$(id_of "$label" lat)
      case $label in
        swiftlet-fast*)
          "$bin" --root "$root" create --bundle "$b" "$id" </dev/null >/dev/null 2>"$work/logs/lat.err" || { echo failed >> "$work/lat/$label"; continue; }
          cmd=("$bin" --root "$root" start)
          [ "$label" = swiftlet-fast-cpu1 ] && cmd+=(--cpus 1)
          cmd+=(--arg /stamp --arg /out/stamp "$id") ;;
        *) cmd=("$bin" --root "$root" run --bundle "$b" "$id") ;;
      esac
      v=$("$work/latency" "$out/stamp" "${cmd[@]}" 2>>"$work/logs/lat.err") || v=failed
      echo "$v" >> "$work/lat/$label"
      "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
  {
    echo "## Fast start: from invoking the runtime to the process running"
    echo
    echo "Microseconds from just before the runtime is spawned to the first instruction of the"
    echo "container's process (a static program that stamps CLOCK_MONOTONIC into a bind-mounted"
    echo "file; \`bench/lib/latency.c\`, \`bench/lib/stamp.c\`), $n samples per row, the rows"
    echo "interleaved sample by sample. \`swiftlet-fast\`: \`swiftlet start ID --arg /stamp --arg"
    echo "/out/stamp\` of a container created beforehand (not timed) whose placeholder process is"
    echo "replaced; \`swiftlet-fast-cpu1\`: the same with \`--cpus 1\` (the replacement pinned to CPU 1)."
    echo "The other rows are a full \`run\` of the same bundle (create + start; the clock stops at the"
    echo "exec, so teardown is not counted). Jitter is p99 − p50."
    echo
    echo "| | p50 µs | p99 µs | min µs | mean µs | jitter µs | p50 × swiftlet \`run\` | p50 × crun \`run\` | failed |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  } > "$sec"
  local sw_p50 crun_p50
  sw_p50=$(grep -v failed "$work/lat/swiftlet" 2>/dev/null | sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }')
  crun_p50=$(grep -v failed "$work/lat/crun" 2>/dev/null | sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }')
  for label in "${labels[@]}"; do
    local shown=$label
    case $label in swiftlet-fast*) ;; *) shown="$label \`run\`" ;; esac
    grep -v failed "$work/lat/$label" | sort -n | awk -v l="$shown" -v sw="${sw_p50:-0}" -v cr="${crun_p50:-0}" \
      -v failed="$(grep -c failed "$work/lat/$label" || true)" '
      { a[NR] = $1; sum += $1 }
      END {
        if (!NR) { printf "| %s | failed | | | | | | | %d |\n", l, failed; exit }
        p50 = a[int((NR + 1) / 2)]; i99 = int(NR * 0.99 + 0.999); if (i99 > NR) i99 = NR; p99 = a[i99]
        printf "| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %s | %d |\n", l, p50, p99, a[1], sum / NR, p99 - p50,
          (sw > 0 ? sprintf("%.2f", p50 / sw) : "n/a"), (cr > 0 ? sprintf("%.2f", p50 / cr) : "n/a"), failed
      }' >> "$sec"
  done
  echo >> "$sec"
  [ -s "$work/logs/lat.err" ] && { echo "First error: \`$(first_error "$work/logs/lat.err")\`"; echo; } >> "$sec"
  rm -f "$rootfs/stamp"; rmdir "$rootfs/out" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------
# Cgroup setup cost of `create`

# The system calls of `create` that touch the cgroup filesystems (a path or an fd under
# /sys/fs/cgroup, as `strace -y` shows them; not the container's own /sys/fs/cgroup mount,
# whose paths are under the rootfs), their number and the time spent inside them (strace -T), per
# create, median over CGROUP_RUNS creates of the common bundle. Every process and thread is
# traced (runc works on several Go threads); strace is detached once the container is
# `created`, because the container init outlives `create`. strace slows every call by about
# the same amount, so counts matter as much as the times.
cgroup_cost() {
  local sec=$work/sections/26-cgroups.md rt bin root id i sp st
  log "cgroup setup cost ($CGROUP_RUNS straced creates per runtime)"
  {
    echo "## Cgroup setup in \`create\`"
    echo
    echo "System calls of \`create\` on the cgroup filesystems (every process and thread of the"
    echo "runtime, \`strace -f -y -T\`: calls whose path or fd is under /sys/fs/cgroup: mkdir, open,"
    echo "write of limits and of cgroup.procs, reads; not the mounts of the container's"
    echo "/sys/fs/cgroup), per create; median (and max) over $CGROUP_RUNS creates of the common bundle"
    echo "(memory and pids limits, deny-all devices, a fresh cgroup each time). \"time inside\" sums"
    echo "the durations strace measured inside those calls: the kernel's part of the cgroup setup,"
    echo "without the runtime's own computing. Ratios are to crun."
    echo
    echo "| runtime | cgroup calls | time inside, ms | × crun |"
    echo "|---|---:|---:|---:|"
  } > "$sec"
  local crun_median=""
  for rt in crun swiftlet swiftlet-dynamic runc; do
    [[ " ${runtimes[*]} " == *" $rt "* ]] || continue
    bin=$(runtime_path "$rt") root=$(root_of "$rt") id=$(id_of "$rt" cg)
    : > "$work/cg-$rt"
    for ((i = 0; i < CGROUP_RUNS; i++)); do
      "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
      rm -rf "$work/cgtrace"; mkdir -p "$work/cgtrace"
      strace -f -ff -y -T -qq -o "$work/cgtrace/t" "$bin" --root "$root" create --bundle "$main_bundle" "$id" \
        </dev/null >/dev/null 2>"$work/logs/cg.err" &
      sp=$! st=""
      for _ in $(seq 1000); do
        st=$("$bin" --root "$root" state "$id" 2>/dev/null | jq -r .status 2>/dev/null) || true
        [ "$st" = created ] && break
        kill -0 $sp 2>/dev/null || break
        sleep 0.005
      done
      # Give the runtime its last calls (state.json), then detach from the waiting init.
      # (SIGKILL: strace cannot detach on SIGTERM from a tracee blocked in a syscall; the
      # kernel detaches tracees when their tracer dies, and they go on unharmed.)
      sleep 0.05; kill -KILL $sp 2>/dev/null; wait $sp 2>/dev/null || true
      if [ "$st" != created ]; then echo failed >> "$work/cg-$rt"; continue; fi
      cat "$work/cgtrace"/t.* | awk '
        /^(mount|umount2|move_mount|open_tree|fsopen|fsconfig|fsmount|mount_setattr)\(/ { next }
        /[<"]\/sys\/fs\/cgroup/ && match($0, /<[0-9]+\.[0-9]+>$/) { n++; t += substr($0, RSTART + 1, RLENGTH - 2) }
        END { printf "%d %.3f\n", n, t * 1000 }' >> "$work/cg-$rt"
    done
    "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    local med
    med=$(grep -v failed "$work/cg-$rt" | sort -k2,2n | awk '{ n[NR] = $1; t[NR] = $2 } END {
      if (!NR) { print "failed"; exit } m = int((NR + 1) / 2); printf "%d %.2f %.2f\n", n[m], t[m], t[NR] }')
    [ "$rt" = crun ] && crun_median=$(echo "$med" | awk '{ print $2 }')
    echo "$med" | awk -v rt="$rt" -v cr="${crun_median:-0}" '
      $1 == "failed" { printf "| %s | failed | | |\n", rt; next }
      { printf "| %s | %d | %s (max %s) | %s |\n", rt, $1, $2, $3, (cr > 0 ? sprintf("%.2f", $2 / cr) : "n/a") }' >> "$sec"
  done
  echo >> "$sec"
}

# ---------------------------------------------------------------------------------------
# Run everything

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)

# Sanity: every runtime runs the bundle once before anything is timed.
for rt in "${runtimes[@]}"; do
  bin=$(runtime_path "$rt") root=$(root_of "$rt") id=$(id_of "$rt" check)
  if ! "$bin" --root "$root" run --bundle "$main_bundle" "$id" </dev/null >/dev/null 2>"$work/logs/check-$rt.err"; then
    log "WARNING: $rt cannot run the bundle: $(first_error "$work/logs/check-$rt.err")"
    "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
  fi
done

run_labels=("${runtimes[@]}")
if [ "${SWIFTLET_BENCH_HIDDEN:-0}" = 1 ] && [[ " ${runtimes[*]} " == *" swiftlet "* ]]; then
  run_labels+=(swiftlet@host)
fi
# Fast start hook: FAST_START is a command line with {swiftlet} {root} {bundle} {id}.
if [ -n "${FAST_START:-}" ]; then run_labels+=(swiftlet-fast); fi
run_labels+=(floor-unshare floor-chroot)

if want time; then
  time_test run "$RUNS" "${run_labels[@]}"
  time_test create "$RUNS" "${runtimes[@]}"
  time_test start "$RUNS" "${runtimes[@]}"
  time_test delete "$RUNS" "${runtimes[@]}"
  time_test batch "$BATCH_RUNS" "${runtimes[@]}"
  time_test version "$RUNS" "${runtimes[@]}"

  {
    echo "## Time"
    echo
    echo "hyperfine -N (no shell), $WARMUP warm-up runs per series (1 for the batch), the runs split into $ROUNDS"
    echo "series per command with the runtimes interleaved. Ratios are to crun in the same table;"
    echo "lower is faster. Load from other work on this shared machine inflates medians and p99;"
    echo "the minimum is the run least disturbed by it. Compare within one report."
    if [ -n "${FAST_START:-}" ]; then
      echo
      echo "\`swiftlet-fast\` (fast start hook) times \`$(fast_start_template "$FAST_START" swiftlet ROOT ID)\`"
      [ -n "${FAST_START_PREPARE:-}" ] && echo "after \`$(fast_start_template "$FAST_START_PREPARE" swiftlet ROOT ID | sed "s|$bench/|bench/|; s|$work/b/|BUNDLES/|g")\` before each run"
      [ -n "$fast_note" ] && echo "$fast_note"
    fi
    echo
  } >> "$work/sections/20-time.md"
  time_table run "Full \`run\` of /bin/true (create, start, wait, delete)" "${run_labels[@]}"
  time_table create "\`create\` alone" "${runtimes[@]}"
  time_table start "\`start\` alone (of a created container; /bin/true then exits)" "${runtimes[@]}"
  time_table delete "\`delete\` alone (of a stopped container)" "${runtimes[@]}"
  time_table batch "$BATCH containers created, then $BATCH deleted (\`delete --force\`); one run = $((2 * BATCH)) calls" "${runtimes[@]}"
  time_table version "\`--version\`: starting the runtime binary and nothing else (part of every call above)" "${runtimes[@]}"
fi

if want faststart; then faststart_latency; fi
if want cgroups; then cgroup_cost; fi
if want memory; then
  echo "## Memory" > "$work/sections/30-memory.md"
  echo >> "$work/sections/30-memory.md"
  peak_rss
  resident
  min_memory
fi
if want size; then sizes; fi
if want profile; then profile; fi

# ---------------------------------------------------------------------------------------
# The report

version_line() {
  local out
  out=$("$@" 2>/dev/null) || true
  [ -n "$out" ] && printf '%s\n' "${out%%$'\n'*}" || echo unknown
}
elapsed=$(( $(date +%s) - t0 ))
{
  echo "# swiftlet benchmark results"
  echo
  [ "$QUICK" = 1 ] && { echo "**QUICK=1 smoke run: too few iterations for conclusions.**"; echo; }
  echo "Written by \`bash bench/run.sh\` on $started (the measurements took $(( elapsed / 60 )) min $(( elapsed % 60 )) s). How to read and rerun it: [README.md](README.md)."
  echo
  echo "## Machine and versions"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| CPU | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores (shared with other work) |"
  echo "| memory | $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) |"
  echo "| kernel | $(uname -sr) |"
  echo "| system | $(. /etc/os-release && echo "$PRETTY_NAME") |"
  echo "| load average (1, 5, 15 min) | $load_at_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end |"
  echo "| swiftlet | $(version_line "$dist/swiftlet" --version); $build_note |"
  echo "| crun | $(version_line crun --version) |"
  echo "| runc | $(version_line runc --version) |"
  echo "| hyperfine | $(version_line hyperfine --version) |"
  echo "| swift | $(version_line swift --version) |"
  echo
  echo "## Setup"
  echo
  echo "- One busybox-static bundle (\`scripts/make-bundle.sh\`, runc's default \`config.json\`),"
  echo "  changed the same way for every runtime: \`process.args\` = \`/bin/true\`, no network"
  echo "  namespace (pid, ipc, uts, mount only), read-only root, cgroups on: \`linux.cgroupsPath\`"
  echo "  \`$cgparent/<name>\` with memory limit 256 MiB, pids limit 1024 and the deny-all device"
  echo "  rule. Containers that exist at the same time get their own bundle directory, identical but"
  echo "  for \`cgroupsPath\`."
  echo "- Private state roots under \`$state\`, container ids \`b$$-*\`; all removed at the end."
  if [ "${SWIFTLET_BENCH_HIDDEN:-0}" = 1 ]; then
    echo "- cgroups: this host is hybrid (v1 controllers, a cgroup2 mount at \`$unified\` holding"
    echo "  \`$SWIFTLET_BENCH_HOST_CONTROLLERS\`), which crun 1.8.1 refuses (\"cgroups in hybrid mode not"
    echo "  supported, drop all controllers from cgroupv2\"), even with no \`linux.resources\` and"
    echo "  \`--cgroup-manager=disabled\`. The host is left alone: the benchmark runs in a private mount"
    echo "  namespace (\`unshare --mount --propagation private\`) in which \`$unified\` is unmounted, so"
    echo "  every runtime and floor sees the same pure cgroup v1 layout. The row \`swiftlet@host\`"
    echo "  measures swiftlet on the real hybrid layout, for comparison."
  fi
  echo "- Everything runs at nice $NICE (runtimes, floors and tools alike), so that builds running"
  echo "  beside the benchmark preempt it less."
  echo "- Floors: \`unshare -muinp -f chroot ROOTFS /bin/true\` (namespaces and chroot, nothing"
  echo "  else) and \`chroot ROOTFS /bin/true\` (process start alone)."
  echo
  cat "$work/sections/"*.md
} > "$OUT"
log "report written to $OUT"
