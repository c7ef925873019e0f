# User Mode Linux guests for the test stages (sourced by e2e/*/ scripts):
#
#   . e2e/uml/guest.sh
#   uml_kernel test                  # dist/uml/linux-test, else Debian's /usr/bin/linux.uml
#   uml_setup NAME                   # $UML_WORK (scratch, removed on exit) and an empty $UML_JAIL
#   uml_jail_static FILE DEST        # copy a static binary into the jail (DEST inside it)
#   uml_jail_dynamic FILE DEST       # ... or a dynamic one with its ldd libraries and loader
#   uml_disk ubda 64                 # a 64 MiB ubd disk (/dev/ubda, 98:0), a sparse file in guest memory
#   cat > "$UML_JAIL/init" ...       # the guest's init (a shell script; ends with poweroff -f)
#   uml_boot [KERNEL ARGS...]        # boots it; console in $UML_LOG, wall time in $UML_BOOT_MS
#   uml_result NAME                  # the value of the init's first `RESULT NAME VALUE` line
#   uml_check NAME "what" CMD...     # "ok"/"FAIL" line, counted; uml_skip "what" "why"
#   uml_guest_checks                 # counts the init's own `CHECK ok|FAIL|skip WHAT` lines
#   uml_summary STAGE                # "STAGE: N passed, N failed, N skipped"; status 1 on failures
#
# The guest's root is hostfs jailed to $UML_JAIL (`hostfs=`: without it guest root can mount
# any host path). Guest RAM is the file UML maps from $TMPDIR: as root, a tmpfs of its own
# (sized from UML_MEM plus the disks) in a private mount namespace, so that neither the mount
# nor the memory outlives the guest even when this script is killed; otherwise a directory in
# /dev/shm removed on exit. Debian's UML 6.1 needs two host workarounds on hosts with a large
# XSAVE area: e2e/primitive/refuse.c's `xstate` launcher and GLIBC_TUNABLES without AVX for
# glibc programs in the guest ($UML_TUNABLES; uml_boot puts it in init's environment). A kernel
# built with uml/patches/xstate.patch needs neither (unless the host's area exceeds its 2696-byte
# buffer: AMX); then UML_TUNABLES is an empty GLIBC_TUNABLES= and UML_GUEST_AVX=1.
#
# env: UML_KERNEL (a kernel to use instead), UML_MEM (default 64M), UML_TIMEOUT (default 180 s),
#   UML_CPU (the host CPU the guest runs on; default: the one the launch starts on),
#      UML_KEEP_LOG (a file to copy the guest's console log to at exit),
#      UML_XSTATE_WORKAROUND (1/0: force the launcher workaround on or off)

UML_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
UML_TUNABLES=GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,-AVX512BW,-AVX512VL,-AVX512DQ,-AVX512CD,-EVEX
UML_PASSED=0 UML_FAILED=0 UML_SKIPPED=0
UML_DISKS=()

# uml_kernel tier|test: sets UML_KERNEL to the built kernel, or to Debian's when it is absent.
uml_kernel() {
  if [ -n "${UML_KERNEL:-}" ]; then :
  elif [ -x "$UML_TOP/dist/uml/linux-$1" ]; then UML_KERNEL=$UML_TOP/dist/uml/linux-$1
  else
    UML_KERNEL=/usr/bin/linux.uml
    echo "uml: no dist/uml/linux-$1 (make dist/uml/linux-$1): using $UML_KERNEL" >&2
  fi
  [ -x "$UML_KERNEL" ] || { echo "uml: no kernel at $UML_KERNEL (user-mode-linux)" >&2; return 1; }
}

# uml_setup NAME: the scratch dir (its name carries our pid, as the leftovers check expects),
# the jail with busybox (every applet in /bin), the directories every init mounts on, and the
# host launcher.
uml_setup() {
  UML_WORK=$(mktemp -d "/tmp/swiftlet-$1-$$.XXXXXX")
  UML_JAIL=$UML_WORK/jail
  UML_LOG=$UML_WORK/console.log
  UML_MEMDIR=$UML_WORK/mem
  mkdir -p "$UML_JAIL"/{bin,proc,sys,dev,run,tmp,etc} "$UML_MEMDIR"
  trap uml_cleanup EXIT
  cc -O2 -o "$UML_WORK/refuse" "$UML_TOP/e2e/primitive/refuse.c" -lseccomp
  cc -O2 -o "$UML_WORK/xsave-size" "$UML_TOP/e2e/uml/xsave-size.c"
  uml_fpu
  cp /bin/busybox "$UML_JAIL/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$UML_JAIL/bin/$applet"; done
  # Static busybox ps(1) crashes in its default format when uid 0 has no name.
  echo 'root:x:0:0:root:/:/bin/sh' > "$UML_JAIL/etc/passwd"
  echo 'root:x:0:' > "$UML_JAIL/etc/group"
}

# uml_fpu: what $UML_KERNEL needs for the guest's FPU state on this host (UMLHost.fpu decides
# the same for the tier): UML_XSTATE_WORKAROUND (the launcher), UML_GUEST_AVX, UML_TUNABLES.
uml_fpu() {
  local size refuse avx
  size=$("$UML_WORK/xsave-size")
  if grep -qaF UML_XSTATE_SIZED_BY_HOST "$UML_KERNEL"; then refuse=0 avx=$((size <= 2696))
  else refuse=$((size > 1024)) avx=$((size <= 1024)); fi
  UML_XSTATE_WORKAROUND=${UML_XSTATE_WORKAROUND:-$refuse}
  [ "$UML_XSTATE_WORKAROUND" = 0 ] || avx=0
  UML_GUEST_AVX=$avx
  [ "$avx" = 0 ] || UML_TUNABLES=GLIBC_TUNABLES=
}

uml_cleanup() {
  [ -n "${UML_KEEP_LOG:-}" ] && [ -f "${UML_LOG:-}" ] && cp "$UML_LOG" "$UML_KEEP_LOG"
  [ -n "${UML_SHM:-}" ] && rm -rf --one-file-system "$UML_SHM"
  [ -n "${UML_WORK:-}" ] && rm -rf --one-file-system "$UML_WORK"
  UML_WORK= UML_SHM=
}

uml_jail_static() {
  mkdir -p "$(dirname "$UML_JAIL/$2")"
  cp "$1" "$UML_JAIL/$2"
}

# uml_jail_dynamic FILE DEST: the binary plus what ldd lists (at the same paths: the loader's
# path is in the binary).
uml_jail_dynamic() {
  uml_jail_static "$1" "$2"
  local lib
  for lib in $(ldd "$1" | grep -oE '/[^ ]+'); do
    mkdir -p "$UML_JAIL$(dirname "$lib")"
    cp -L "$lib" "$UML_JAIL$lib"
  done
}

# uml_disk NAME MIB: a ubd disk (NAME is ubda, ubdb, ...: block 98:0, 98:16, ...) backed by a
# sparse file that lives in the guest's memory tmpfs, created when the guest boots.
uml_disk() { UML_DISKS+=("$1:$2"); }

# uml_boot [ARGS...]: boots $UML_KERNEL with init /init of the jail and waits for it to end.
# As root the guest runs in its own mount and pid namespaces: when it ends or is killed, its
# memory tmpfs and every process of it go too.
uml_boot() {
  local mem=${UML_MEM:-64M} mib d args=() wrap=()
  UML_LAUNCH=()
  [ "$UML_XSTATE_WORKAROUND" = 0 ] || UML_LAUNCH=("$UML_WORK/refuse" xstate --)
  if [ "$(id -u)" != 0 ]; then
    UML_SHM=$(mktemp -d "/dev/shm/swiftlet-uml-mem-$$.XXXXXX")
    UML_MEMDIR=$UML_SHM
  fi
  mib=${mem%M}
  for d in "${UML_DISKS[@]}"; do mib=$((mib + ${d#*:})); args+=("${d%%:*}=$UML_MEMDIR/${d%%:*}.img"); done
  # Runs where the guest runs: mounts the memory tmpfs (as root), makes the disks, execs the guest.
  local launch='set -e
    [ "$(id -u)" != 0 ] || mount -t tmpfs -o "size=$UML_MIB"m,mode=700 tmpfs "$UML_MEMDIR"
    for d in $UML_DISK_LIST; do truncate -s "${d#*:}M" "$UML_MEMDIR/${d%%:*}.img"; done
    TMPDIR=$UML_MEMDIR exec "$@"'
  [ "$(id -u)" = 0 ] && wrap=(unshare --mount --propagation private --pid --fork --kill-child)
  local start end cpu
  # The guest on one host CPU, as swiftlet's tier runs it: every guest system call is a ptrace
  # hand-over between the UML kernel and the guest's process, a wake-up of the other CPU when
  # they sit on two.
  cpu=${UML_CPU:-$(awk '{print $39}' /proc/self/stat)}
  start=$(date +%s%N)
  # UML's own mappings take a little more than mem=.
  UML_MIB=$((mib + 16)) UML_MEMDIR=$UML_MEMDIR UML_DISK_LIST="${UML_DISKS[*]}" \
  timeout --kill-after=5 "${UML_TIMEOUT:-180}" "${wrap[@]}" sh -c "$launch" uml \
    taskset -c "$cpu" "${UML_LAUNCH[@]}" setarch -R "$UML_KERNEL" \
    "mem=$mem" root=/dev/root rootfstype=hostfs "hostfs=$UML_JAIL" rw init=/init \
    "umid=swiftlet-uml-$$" "uml_dir=$UML_WORK" con=null con0=fd:0,fd:1 quiet \
    initcall_blacklist=raid6_select_algo lpj=10000000 "${args[@]}" "$@" "$UML_TUNABLES" \
    < /dev/null > "$UML_LOG" 2>&1 || true
  end=$(date +%s%N)
  UML_BOOT_MS=$(( (end - start) / 1000000 ))
}

uml_result() { sed -n "s/^RESULT $1 //p" "$UML_LOG" | head -1 | tr -d '\r'; }

# uml_check NAME WHAT CMD...: runs CMD; on failure shows the guest's value of NAME.
uml_check() {
  local name=$1 what=$2; shift 2
  if "$@"; then echo "ok   $what"; UML_PASSED=$((UML_PASSED + 1))
  else echo "FAIL $what: $(uml_result "$name")"; UML_FAILED=$((UML_FAILED + 1)); fi
}
uml_skip() { echo "skip $1: $2"; UML_SKIPPED=$((UML_SKIPPED + 1)); }
uml_is() { [ "$(uml_result "$1")" = "$2" ]; }
uml_has() { case "$(uml_result "$1")" in *"$2"*) return 0;; *) return 1;; esac; }

# For inits that check by themselves: prints and counts their `CHECK ok|FAIL|skip ...` lines.
uml_guest_checks() {
  local verdict rest
  while read -r verdict rest; do
    case $verdict in
      ok) echo "ok   $rest"; UML_PASSED=$((UML_PASSED + 1)) ;;
      FAIL) echo "FAIL $rest"; UML_FAILED=$((UML_FAILED + 1)) ;;
      skip) echo "skip $rest"; UML_SKIPPED=$((UML_SKIPPED + 1)) ;;
    esac
  done < <(sed -n 's/\r$//; s/^CHECK //p' "$UML_LOG")
}

uml_summary() {
  echo "$1: $UML_PASSED passed, $UML_FAILED failed, $UML_SKIPPED skipped"
  if [ "$UML_FAILED" -ne 0 ]; then
    echo "== $1: guest console (last 60 lines):"
    tail -60 "$UML_LOG"
    return 1
  fi
}
