#!/usr/bin/env bash
# Builds the Embedded swiftlet for another architecture, statically linked and stripped:
#   scripts/cross-build.sh ARCH OUT      ARCH: aarch64 | armv7 (hard-float) | riscv64
# SwiftPM cannot cross-build to Swift's bare-metal Embedded targets with a C module that
# needs system headers, so this does it: one whole-module compile per module (Package.swift's
# order) against Debian's cross glibc, CLinux with the cross gcc, a static link with it.
# Flags as in the x86_64 Embedded build (EMBEDDED_FLAGS in the Makefile). Work files go to
# $CROSS_DIR (default .build-cross).
# Needs Debian's cross toolchains (CROSS_PACKAGES in scripts/deps.sh); libseccomp for ARCH
# is fetched or built into $CROSS_DIR/sysroot-ARCH by scripts/cross-seccomp.sh.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: cross-build.sh aarch64|armv7|riscv64 OUT" >&2; exit 2; }
arch=$1
out=$2
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
[ -d /opt/swift/usr/bin ] && PATH=/opt/swift/usr/bin:$PATH
cross=${CROSS_DIR:-.build-cross}
mkdir -p "$cross"
cross=$(cd "$cross" && pwd)

# Embedded Swift has only bare-metal targets for these; their code links against glibc like
# any C object. Float ABI and ISA must match Debian's ports (armhf: VFPv3-D16 hard-float;
# riscv64: rv64gc, lp64d), or the linker refuses to mix the objects.
defines=()
case $arch in
  aarch64) gnu=aarch64-linux-gnu;   target=aarch64-none-none-elf
           cflags=() ;;
  armv7)   gnu=arm-linux-gnueabihf; target=armv7-none-none-eabi
           cflags=(-mfloat-abi=hard -mfpu=vfpv3-d16)
           # 64-bit off_t, ino_t, time_t: else glibc's readdir and stat fail with EOVERFLOW
           # on file systems with 64-bit inode numbers or directory offsets (a state dir was
           # left behind), and time stops in 2038.
           defines=(-D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64) ;;
  riscv64) gnu=riscv64-linux-gnu;   target=riscv64-none-none-eabi
           cflags=(-march=rv64gc -mabi=lp64d) ;;
  *) echo "cross-build.sh: unknown architecture '$arch' (aarch64, armv7, riscv64)" >&2; exit 2 ;;
esac
command -v "$gnu-gcc" >/dev/null || { echo "cross-build.sh: no $gnu-gcc (install CROSS_PACKAGES, scripts/deps.sh)" >&2; exit 1; }
# Several make runs may share CROSS_DIR: builds of one architecture take turns
# (the later one then reuses the objects it made).
exec 9>"$cross/$arch.lock"
flock 9

sysroot=$cross/sysroot-$arch
bash scripts/cross-seccomp.sh "$arch" "$sysroot"

build=$cross/$arch
mkdir -p "$build/modules"

# Module order: each module after everything it imports (Package.swift's target graph).
modules=(Base DBus JSON OCISpec CLI Syscalls Namespaces Mounts Devices Capabilities Process Hooks
         Cgroups Seccomp Terminal Agent Check Lifecycle swiftlet)
for dir in Sources/*/; do
  m=$(basename "$dir")
  [ "$m" = CLinux ] || [[ " ${modules[*]} " == *" $m "* ]] || {
    echo "cross-build: module $m is missing from the build order (add it after what it imports)" >&2; exit 1; }
done

# The bare-metal target defines none of the Linux macros that glibc's and the kernel's
# headers test; the cross gcc would define them.
xcc=(--sysroot=/usr/$gnu -isystem "$sysroot/usr/include" -isystem /usr/$gnu/include
     -D__linux__ -D__linux -D__unix__ -D__unix -D__gnu_linux__ -D_GNU_SOURCE
     -ffunction-sections -fdata-sections "${cflags[@]}" "${defines[@]}")
swift_flags=(-target "$target" -enable-experimental-feature Embedded -wmo -Osize
             -Xfrontend -function-sections -Xllvm -sil-disable-pass=object-outliner
             -I "$build/modules" -I Sources/CLinux/include)
for flag in "${xcc[@]}"; do swift_flags+=(-Xcc "$flag"); done

# Start over when the flags or the compiler change; otherwise a module is recompiled when one
# of its files (or CLinux's headers) is newer than its object, and so is every module after it.
stamp="$(swiftc --version 2>&1 | head -1) ${swift_flags[*]}"
[ "$(cat "$build/flags.stamp" 2>/dev/null)" = "$stamp" ] || { rm -rf "$build"; mkdir -p "$build/modules"; }
echo "$stamp" > "$build/flags.stamp"

objects=()
for c in Sources/CLinux/*.c; do
  o=$build/CLinux-$(basename "$c" .c).o
  if [ -n "$(find "$c" Sources/CLinux/include -newer "$o" 2>/dev/null | head -1)" ] || [ ! -f "$o" ]; then
    "$gnu-gcc" -c -Os -D_GNU_SOURCE "${defines[@]}" -ffunction-sections -fdata-sections -I Sources/CLinux/include \
        -isystem "$sysroot/usr/include" -o "$o.tmp" "$c"
    mv "$o.tmp" "$o"
  fi
  objects+=("$o")
done
stale=
for m in "${modules[@]}"; do
  o=$build/$m.o
  [ -f "$o" ] && [ -z "$(find Sources/"$m" Sources/CLinux/include -newer "$o" | head -1)" ] || stale=1
  if [ -n "$stale" ]; then
    library=(-parse-as-library)
    [ "$m" = swiftlet ] && library=()   # main.swift: top-level code is the entry point
    rm -f "$o"
    swiftc "${swift_flags[@]}" "${library[@]}" -module-name "$m" \
        -emit-module -emit-module-path "$build/modules/$m.swiftmodule" \
        -c -o "$o.tmp" Sources/"$m"/*.swift
    mv "$o.tmp" "$o"
  fi
  objects+=("$o")
done

tables=$(bash scripts/cross-unicode-tables.sh "$arch" "$target" "$cross/unicode-$arch")

link=(-static -Wl,--gc-sections)
# GNU ld cannot link aarch64 glibc statically with these objects ("copy relocation against
# non-copyable protected symbol" for a Swift metadata symbol); lld can. gcc 12 has no
# --ld-path, so a directory holding `ld` -> ld.lld goes first in its program path.
if [ "$arch" = aarch64 ]; then
  mkdir -p "$cross/lld"
  ln -sf "$(command -v ld.lld)" "$cross/lld/ld"
  link+=(-B"$cross/lld/")
fi
"$gnu-gcc" "${link[@]}" -o "$build/swiftlet.full" "${objects[@]}" \
    "$tables" "$sysroot/usr/lib/$gnu/libseccomp.a" -lm
# The relabelled tables are sound only while nothing takes a floating-point value from them.
if [ "$arch" != aarch64 ] && "$gnu-nm" "$build/swiftlet.full" | grep -q ' _swift_stdlib_getNumericValue$'; then
  echo "cross-build.sh: _swift_stdlib_getNumericValue is linked; its double result crosses float ABIs" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
"$gnu-strip" -o "$out" "$build/swiftlet.full"
