# Profile of swiftlet's `run` (ONLY=profile).
# Sourced by bench/run.sh, which sources every section file (time memory size profile faststart
# cgroups, in that order) before its driver calls what they define.
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
