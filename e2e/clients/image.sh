#!/usr/bin/env bash
# Builds a busybox image as a docker-archive tarball (what `podman load` and
# `ctr images import` both read) from Debian's busybox-static: no registry involved.
#   usage: image.sh OUT.tar [NAME [COMMAND...]]
# NAME defaults to localhost/swiftlet-busybox:test, COMMAND to `sh`. The image has root,
# user (1000) and nobody in /etc/passwd.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: image.sh OUT.tar [NAME]" >&2; exit 2; }
out=$1
name=${2:-localhost/swiftlet-busybox:test}
shift $(( $# < 2 ? $# : 2 ))
[ $# -gt 0 ] || set -- sh
cmd=$(printf '"%s",' "$@")
busybox=${BUSYBOX:-/bin/busybox}
if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  echo "image.sh: $busybox is missing or not static (apt-get install busybox-static)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/swiftlet-image.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,dev,etc,proc,sys,tmp,root,home/user,var/tmp}
chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
ln -s bin "$rootfs/sbin"
mkdir -p "$rootfs/usr"
ln -s ../bin "$rootfs/usr/bin"
cat > "$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$rootfs/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
user:x:1000:
nogroup:x:65534:
GROUP
chown 1000:1000 "$rootfs/home/user"

# A reproducible layer: fixed order, owners and times.
mkdir -p "$work/archive"
tar --sort=name --mtime=@0 --numeric-owner -C "$rootfs" -cf "$work/archive/layer.tar" .
diff_id=sha256:$(sha256sum "$work/archive/layer.tar" | cut -d' ' -f1)
cat > "$work/config.json" <<CONFIG
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":[${cmd%,}],"WorkingDir":"/"},
 "rootfs":{"type":"layers","diff_ids":["$diff_id"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"e2e/clients/image.sh"}]}
CONFIG
config_name=$(sha256sum "$work/config.json" | cut -d' ' -f1).json
mv "$work/config.json" "$work/archive/$config_name"
printf '[{"Config":"%s","RepoTags":["%s"],"Layers":["layer.tar"]}]\n' "$config_name" "$name" \
  > "$work/archive/manifest.json"
tar --sort=name --mtime=@0 --numeric-owner -C "$work/archive" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "image: $out ($name, busybox $("$busybox" 2>&1 | head -1 | grep -oE 'v[0-9.]+' || true))"
