# Cgroup setup cost of `create` (ONLY=cgroups).
# Sourced by bench/run.sh, which sources every section file (time memory size profile faststart
# cgroups, in that order) before its driver calls what they define.
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
