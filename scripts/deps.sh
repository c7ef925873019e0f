# Sourced by the scripts here: puts Swift on PATH and installs missing Debian packages.
# `apt-get update` runs only when something is missing.

[ -d /opt/swift/usr/bin ] && case ":$PATH:" in *:/opt/swift/usr/bin:*) ;; *) PATH=/opt/swift/usr/bin:$PATH ;; esac
export PATH

# ensure_packages PKG...: installs those of PKG that dpkg does not list as installed.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || { echo "missing packages (need root to install): ${missing[*]}" >&2; return 1; }
  echo "== installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q -o DPkg::Lock::Timeout=300 "${missing[@]}"
}

# What `make` needs besides Swift itself: static libseccomp and libc, strip.
BUILD_PACKAGES=(make binutils libc6-dev libstdc++-12-dev libseccomp-dev)
# What `make` needs for the aarch64, armv7 and riscv64 binaries: Debian's cross gcc and glibc
# (libseccomp for each is fetched by scripts/cross-seccomp.sh; gperf and dpkg-dev build it
# for riscv64). e2e/cross/run.sh also needs qemu-user-static and python3.
CROSS_PACKAGES=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
                gcc-riscv64-linux-gnu libc6-dev-riscv64-cross gperf dpkg-dev)
