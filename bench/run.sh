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
# The sections, one file each (named as ONLY= names them); the driver below calls them.
for section in time memory size profile faststart cgroups; do
  # shellcheck source=/dev/null
  . "$bench/sections/$section.sh"
done

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
