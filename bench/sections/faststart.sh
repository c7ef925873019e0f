# Fast start latency (ONLY=faststart).
# Sourced by bench/run.sh, which sources every section file (time memory size profile faststart
# cgroups, in that order) before its driver calls what they define.
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
