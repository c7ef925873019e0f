# Timing: hyperfine series of each verb, ratios to crun (ONLY=time).
# Sourced by bench/run.sh, which sources every section file (time memory size profile faststart
# cgroups, in that order) before its driver calls what they define.
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
