# Memory: peak RSS per verb, what a created container keeps, the smallest memory limit (ONLY=memory).
# Sourced by bench/run.sh, which sources every section file (time memory size profile faststart
# cgroups, in that order) before its driver calls what they define.
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
