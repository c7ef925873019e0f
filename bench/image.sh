#!/usr/bin/env bash
# What it costs that container processes start from a read-only image of the runtime
# (CVE-2019-5736): `create`, `exec` and fast start timed with hyperfine, swiftlet beside a
# binary of an earlier tree (BASE, e.g. one built before the change) and crun and runc,
# runtimes interleaved round by round; plus the three ways to get such an image, timed
# alone (bench/image-mechanisms.c). Writes bench/IMAGE.md.
#
# usage (as root):  BASE=/path/to/older/swiftlet bash bench/image.sh
#   SWIFTLET=PATH   the binary under test (default dist/swiftlet, built by `make dist/swiftlet`)
#   RUNS=N          timed runs per command and round (default 60), ROUNDS=N (default 3)
#   OUT=FILE        the report (default bench/IMAGE.md)
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$bench")
cd "$top"
[ "$(id -u)" = 0 ] || { echo "bench/image.sh: run as root" >&2; exit 1; }

# crun 1.8.1 refuses a hybrid layout whose cgroup2 mount holds a controller: as in
# bench/run.sh, run in a private mount namespace without that mount.
unified=/sys/fs/cgroup/unified
if [ -z "${SWIFTLET_BENCH_INNER:-}" ] && [ -n "$(tr -d ' \n' < $unified/cgroup.controllers 2>/dev/null)" ]; then
  export SWIFTLET_BENCH_INNER=1
  exec unshare --mount --propagation private -- bash -c 'umount '$unified' && exec bash "$0" "$@"' "${BASH_SOURCE[0]}" "$@"
fi

. scripts/deps.sh
ensure_packages hyperfine runc crun busybox-static jq gcc >/dev/null
RUNS=${RUNS:-60}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-$bench/IMAGE.md}
SWIFTLET=${SWIFTLET:-$top/dist/swiftlet}
[ -x "$SWIFTLET" ] || make dist/swiftlet
declare -A path=([swiftlet]=$SWIFTLET [crun]=$(command -v crun) [runc]=$(command -v runc))
order=(swiftlet)
if [ -n "${BASE:-}" ]; then path[base]=$BASE; order+=(base); fi
order+=(crun runc)

tag=swiftlet-image-$$
work=$(mktemp -d /tmp/$tag.XXXXXX)
state=/run/$tag
cleanup() {
  for rt in "${order[@]}"; do
    for id in c-$rt x-$rt f-$rt; do "${path[$rt]}" --root "$state/$rt" delete --force "$id" >/dev/null 2>&1 || true; done
  done
  rm -rf "$work" "$state"
}
trap cleanup EXIT
# runc's default spec, which every runtime here accepts.
bash scripts/make-bundle.sh "$work/bundle" "$(command -v runc)" >/dev/null
# Two bundles: one whose process exits at once, one that waits (for exec).
cp -a "$work/bundle" "$work/wait"
jq '.process.args = ["true"] | .process.terminal = false' "$work/bundle/config.json" > "$work/c" && mv "$work/c" "$work/bundle/config.json"
jq '.process.args = ["sleep", "100000"] | .process.terminal = false' "$work/wait/config.json" > "$work/c" && mv "$work/c" "$work/wait/config.json"

json() { echo "$work/$1-$2-$3.json"; }   # measure runtime round
for round in $(seq "$ROUNDS"); do
  for rt in "${order[@]}"; do
    bin=${path[$rt]}; root=$state/$rt
    echo "== round $round: $rt" >&2
    # create alone (the init waits in `created`), the container deleted between runs.
    hyperfine -N -w 3 -r "$RUNS" --export-json "$(json create "$rt" "$round")" \
      --prepare "sh -c '$bin --root $root delete --force c-$rt >/dev/null 2>&1 || true'" \
      "$bin --root $root create --bundle $work/bundle c-$rt" >/dev/null 2>&1
    # start of a created container (its process is `true`); create is the prepare step.
    hyperfine -N -w 3 -r "$RUNS" --export-json "$(json start "$rt" "$round")" \
      --prepare "sh -c '$bin --root $root delete --force f-$rt >/dev/null 2>&1; $bin --root $root create --bundle $work/bundle f-$rt'" \
      "$bin --root $root start f-$rt" >/dev/null 2>&1
    # Fast start: the same with a replacement process (swiftlet's own; base too).
    if [ "$rt" = swiftlet ] || [ "$rt" = base ]; then
      hyperfine -N -w 3 -r "$RUNS" --export-json "$(json faststart "$rt" "$round")" \
        --prepare "sh -c '$bin --root $root delete --force f-$rt >/dev/null 2>&1; $bin --root $root create --bundle $work/bundle f-$rt'" \
        "$bin --root $root start --arg true f-$rt" >/dev/null 2>&1
    fi
    # exec of `true` in a running container.
    "$bin" --root "$root" run -d --bundle "$work/wait" "x-$rt" >/dev/null 2>&1 </dev/null
    hyperfine -N -w 3 -r "$RUNS" --export-json "$(json exec "$rt" "$round")" \
      "$bin --root $root exec x-$rt true" >/dev/null 2>&1
    "$bin" --root "$root" delete --force "x-$rt" >/dev/null 2>&1 || true
    "$bin" --root "$root" delete --force "c-$rt" >/dev/null 2>&1 || true
    "$bin" --root "$root" delete --force "f-$rt" >/dev/null 2>&1 || true
  done
done

# Memory of a created container's init (it runs the runtime's image until start): the
# mean Pss and shmem of 5 waiting side by side, in KiB. A memfd image would add its size.
declare -A pss shmem
for rt in "${order[@]}"; do
  bin=${path[$rt]}; root=$state/$rt
  p=0; s=0
  for i in 1 2 3 4 5; do "$bin" --root "$root" create --bundle "$work/bundle" "m$i-$rt" >/dev/null 2>&1; done
  for i in 1 2 3 4 5; do
    pid=$("$bin" --root "$root" state "m$i-$rt" | jq .pid)
    p=$((p + $(awk '/^Pss:/ {print $2}' /proc/$pid/smaps_rollup)))
    s=$((s + $(awk '/^Pss_Shmem:/ {print $2}' /proc/$pid/smaps_rollup)))
  done
  for i in 1 2 3 4 5; do "$bin" --root "$root" delete --force "m$i-$rt" >/dev/null 2>&1 || true; done
  pss[$rt]=$((p / 5)); shmem[$rt]=$((s / 5))
done

# Median over all rounds, in ms.
median() {
  local files=()
  for round in $(seq "$ROUNDS"); do files+=("$(json "$1" "$2" "$round")"); done
  jq -s '[.[].results[0].times[]] | sort | .[length/2|floor] * 1000' "${files[@]}"
}
fmt() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

gcc -O2 -o "$work/mechanisms" "$bench/image-mechanisms.c"
mechanisms=$("$work/mechanisms" "$SWIFTLET" 200)

{
  echo "# Read-only runtime image: cost on create, start and exec"
  echo
  echo "Generated by \`bench/image.sh\` on $(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs;"
  echo "swiftlet \`$("$SWIFTLET" --version | head -1)\`${BASE:+, base \`$BASE\`}; $RUNS runs x $ROUNDS rounds, runtimes interleaved."
  echo "Medians in ms; the ratio column divides by crun's."
  echo
  echo "| runtime | create | start | exec \`true\` | create / crun | start / crun | exec / crun |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  declare -A m
  for rt in "${order[@]}"; do for what in create start exec; do m[$rt,$what]=$(median "$what" "$rt"); done; done
  for rt in "${order[@]}"; do
    echo "| $rt | $(fmt "${m[$rt,create]}") | $(fmt "${m[$rt,start]}") | $(fmt "${m[$rt,exec]}") |" \
         "$(ratio "${m[$rt,create]}" "${m[crun,create]}") | $(ratio "${m[$rt,start]}" "${m[crun,start]}") |" \
         "$(ratio "${m[$rt,exec]}" "${m[crun,exec]}") |"
  done
  m[swiftlet,faststart]=$(median faststart swiftlet)
  echo
  echo "Fast start (\`start --arg true\` of a created container): swiftlet $(fmt "${m[swiftlet,faststart]}") ms."
  if [ -n "${BASE:-}" ]; then
    m[base,faststart]=$(median faststart base)
    echo "Base $(fmt "${m[base,faststart]}") ms."
    echo
    echo "swiftlet / base: create $(ratio "${m[swiftlet,create]}" "${m[base,create]}"), start $(ratio "${m[swiftlet,start]}" "${m[base,start]}"), fast start $(ratio "${m[swiftlet,faststart]}" "${m[base,faststart]}"), exec $(ratio "${m[swiftlet,exec]}" "${m[base,exec]}")."
  fi
  echo
  echo "Memory of a created container's init (mean of 5 waiting side by side): Pss / of it shmem, KiB:"
  for rt in "${order[@]}"; do echo "$rt ${pss[$rt]} / ${shmem[$rt]};"; done | paste -sd' '
  echo
  echo "## The ways to a read-only image, alone (bench/image-mechanisms.c, 200 runs, median µs)"
  echo
  echo "$mechanisms"
} > "$OUT"
echo "bench/image.sh: wrote $OUT" >&2
