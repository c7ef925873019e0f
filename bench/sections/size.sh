# Size: the binaries on disk (ONLY=size).
# Sourced by bench/run.sh, which sources every section file (time memory size profile faststart
# cgroups, in that order) before its driver calls what they define.
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
