#!/usr/bin/env bash
# Puts Debian's libseccomp (headers and libseccomp.a) for another architecture into SYSROOT,
# without adding that architecture to the machine's dpkg:
#   scripts/cross-seccomp.sh aarch64|armv7|riscv64 SYSROOT
# arm64 and armhf: the .debs are downloaded with a private APT configuration (own lists,
# cache and an empty status file; the machine's Debian sources) and unpacked with dpkg-deb.
# riscv64: Debian 12 has no riscv64 port, so Debian 12's libseccomp source package (with its
# patches) is built with the cross gcc instead. Does nothing if SYSROOT already has it.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: cross-seccomp.sh aarch64|armv7|riscv64 SYSROOT" >&2; exit 2; }
arch=$1
sysroot=$2
case $arch in
  aarch64) deb=arm64;   gnu=aarch64-linux-gnu ;;
  armv7)   deb=armhf;   gnu=arm-linux-gnueabihf ;;
  riscv64) deb=riscv64; gnu=riscv64-linux-gnu ;;
  *) echo "cross-seccomp.sh: unknown architecture '$arch'" >&2; exit 2 ;;
esac
[ -f "$sysroot/usr/lib/$gnu/libseccomp.a" ] && [ -f "$sysroot/usr/include/seccomp.h" ] && exit 0

mkdir -p "$sysroot"
sysroot=$(cd "$sysroot" && pwd)
work=$sysroot.apt   # per architecture: parallel builds do not share it
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/sources.list.d" "$work/debs"
: > "$work/status"
# The machine's sources, with source packages too (for riscv64).
: > "$work/sources.list"
if [ -f /etc/apt/sources.list ]; then
  grep -E '^deb ' /etc/apt/sources.list | tee -a "$work/sources.list" | sed 's/^deb /deb-src /' >> "$work/sources.list" || true
fi
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  case $f in
    *.sources) sed 's/^Types: deb$/Types: deb deb-src/' "$f" > "$work/sources.list.d/$(basename "$f")" ;;
    *.list) { grep -E '^deb ' "$f" || true; grep -E '^deb ' "$f" | sed 's/^deb /deb-src /' || true; } > "$work/sources.list.d/$(basename "$f")" ;;
  esac
done
cat > "$work/apt.conf" <<EOF
Dir::State::Lists "$work/lists";
Dir::State::status "$work/status";
Dir::Cache "$work/cache";
Dir::Etc::SourceList "$work/sources.list";
Dir::Etc::SourceParts "$work/sources.list.d";
APT::Architecture "$(dpkg --print-architecture)";
APT::Architectures { "$(dpkg --print-architecture)"; "arm64"; "armhf"; };
APT::Sandbox::User "root";
EOF
export APT_CONFIG=$work/apt.conf
# An index of an architecture we do not use may be mid-sync on the mirror: what we need
# is checked by the download itself.
apt-get update -qq >/dev/null 2>&1 || true

if [ "$arch" != riscv64 ]; then
  (cd "$work/debs" && rm -f ./*.deb && apt-get download -qq "libseccomp-dev:$deb" "libseccomp2:$deb") ||
    { echo "cross-seccomp.sh: downloading libseccomp for $deb failed" >&2; exit 1; }
  for d in "$work/debs"/*.deb; do dpkg-deb -x "$d" "$sysroot"; done
else
  src=$work/src-$arch
  rm -rf "$src"; mkdir -p "$src"
  (cd "$src" && apt-get source -qq libseccomp >/dev/null) ||
    { echo "cross-seccomp.sh: fetching the libseccomp source package failed" >&2; exit 1; }
  dir=$(find "$src" -mindepth 1 -maxdepth 1 -type d -name 'libseccomp-*')
  # Debian's patches update the syscall table (syscalls.csv); gperf regenerates its lookup.
  (cd "$dir" && ./configure -q --host="$gnu" --prefix=/usr --libdir="/usr/lib/$gnu" \
        --enable-static --disable-shared --disable-python >/dev/null &&
     make -s -C src >/dev/null && make -s -C src install DESTDIR="$sysroot" >/dev/null &&
     make -s -C include install DESTDIR="$sysroot" >/dev/null) ||
    { echo "cross-seccomp.sh: building libseccomp for $arch failed" >&2; exit 1; }
fi
[ -f "$sysroot/usr/lib/$gnu/libseccomp.a" ] || { echo "cross-seccomp.sh: no libseccomp.a for $arch" >&2; exit 1; }
