#!/usr/bin/env bash
# foreign-rootfs.sh ARCH DIR: a busybox-static root filesystem for another CPU
# (ARCH: a Debian architecture such as arm64, armhf, mipsel) in DIR, for the
# foreign-architecture tests. The .deb comes from the machine's own APT sources through a
# private APT configuration (its own lists, cache, status file and architecture list), so
# the machine's dpkg architectures and package lists stay as they are. Skips if DIR exists.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: foreign-rootfs.sh ARCH DIR" >&2; exit 2; }
arch=$1 dir=$2
case "$arch" in *[!a-z0-9]*|"") echo "foreign-rootfs.sh: bad architecture '$arch'" >&2; exit 2 ;; esac
[ -x "$dir/bin/busybox" ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/etc" "$work/download"
touch "$work/status"
cat > "$work/apt.conf" <<EOF
Dir::State::Lists "$work/lists";
Dir::State::status "$work/status";
Dir::Cache "$work/cache";
Dir::Etc::Preferences "$work/etc/preferences";
Dir::Etc::PreferencesParts "$work/etc/preferences.d";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
Acquire::Languages "none";
APT::Sandbox::User "root";
EOF
export APT_CONFIG=$work/apt.conf
# One index failing (a mirror in sync) is fine as long as the package is found.
apt-get update -q >"$work/update.log" 2>&1 || true
(cd "$work/download" && apt-get download -q "busybox-static:$arch" >"$work/download.log" 2>&1) ||
  { cat "$work/update.log" "$work/download.log" >&2; exit 1; }

tmp=$dir.tmp.$$
rm -rf "$tmp"
mkdir -p "$tmp"
dpkg-deb -x "$work"/download/busybox-static_*.deb "$tmp"
mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root}
[ -e "$tmp/bin/busybox" ] || { echo "foreign-rootfs.sh: no bin/busybox in the package" >&2; exit 1; }
# One symlink per applet: the list is fixed (busybox --list would have to run emulated).
for applet in sh ash cat echo ls uname sha256sum md5sum seq sleep true false id kill ps mount \
              head tail wc grep sed awk env printf test expr dd yes tr cut sort uniq date mkdir rm cp mv; do
  [ -e "$tmp/bin/$applet" ] || ln -s busybox "$tmp/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$tmp/etc/passwd"
echo "root:x:0:" > "$tmp/etc/group"
rm -rf "$dir"
mv "$tmp" "$dir"
echo "foreign-rootfs.sh: busybox-static:$arch in $dir"
