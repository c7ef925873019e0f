#!/usr/bin/env bash
# The seed scenario, end to end (slow: tens of minutes under emulation; opt-in):
#   SWIFTLET_SLOW_TESTS=1 bash e2e/foreign/numpy-arm64.sh [RUNTIME]
# 1. a Debian 12 arm64 rootfs from `debootstrap --foreign --variant=minbase
#    --include=python3-numpy`, its second stage run inside a swiftlet container (user
#    namespace mapping root to root, so the private binfmt_misc route runs every arm64
#    program dpkg starts), cached as .build-fixtures/debian-arm64-numpy.tar;
# 2. that rootfs run as a full container (once without a user namespace: the emulator is
#    exec'ed explicitly; once with one: private binfmt_misc) and as a primitive container
#    (annotation org.swiftlet.isolation=chroot): `apt-get --version` and the LeNet-style
#    forward pass of e2e/foreign/lenet.py, which prints its time per inference.
# RUNTIME defaults to $SWIFTLET_BINARY, else dist/swiftlet. Run as root. Exit status is
# non-zero if any step fails; everything made is removed (except the cached tarball).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [ "${SWIFTLET_SLOW_TESTS:-}" != 1 ]; then
  echo "numpy-arm64.sh: skipped (set SWIFTLET_SLOW_TESTS=1 to run it)"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "numpy-arm64.sh: run as root" >&2; exit 1; }
. scripts/deps.sh
ensure_packages debootstrap qemu-user-static python3 || exit 1
runtime=$(realpath "${1:-${SWIFTLET_BINARY:-dist/swiftlet}}")
repo=$PWD
tarball=$repo/.build-fixtures/debian-arm64-numpy.tar
mirror=${SWIFTLET_DEBIAN_MIRROR:-http://deb.debian.org/debian}

work=$(mktemp -d /tmp/swiftlet-numpy.XXXXXX)
state=/run/swiftlet-numpy-$$
ids=()
cleanup() {
  for id in "${ids[@]}"; do "$runtime" --root "$state" delete --force "$id" >/dev/null 2>&1 || true; done
  rm -rf --one-file-system "$work" "$state"
}
trap cleanup EXIT

# config BUNDLE USERNS(0|1) ANNOTATION ARGS...: a config.json from `swiftlet spec`, edited.
config() {
  local bundle=$1 userns=$2 annotation=$3
  shift 3
  rm -f "$bundle/config.json"
  (cd "$bundle" && "$runtime" spec)
  python3 - "$bundle/config.json" "$userns" "$annotation" "$@" <<'EOF'
import json, os, sys
path, userns, annotation, args = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4:]
c = json.load(open(path))
c["process"]["args"] = args
c["process"]["terminal"] = False
c["process"]["env"] = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                       "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive", "HOME=/root"]
if os.environ.get("EXTRA_ENV"):
    c["process"]["env"].append(os.environ["EXTRA_ENV"])
c["root"]["readonly"] = False
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_SETUID", "CAP_SETGID",
        "CAP_MKNOD", "CAP_KILL", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE"]
for k in ("bounding", "effective", "permitted"):
    c["process"]["capabilities"][k] = caps
c["process"]["capabilities"]["ambient"] = []
if userns:
    c["linux"]["namespaces"].append({"type": "user"})
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    # A user namespace cannot mount a cgroup v1 hierarchy it does not own.
    c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/sys/fs/cgroup"]
if annotation:
    key, value = annotation.split("=", 1)
    c.setdefault("annotations", {})[key] = value
c["mounts"].append({"destination": "/opt/lenet.py", "type": "bind",
                    "source": os.environ["LENET"], "options": ["rbind", "ro"]})
json.dump(c, open(path, "w"), indent=1)
EOF
}
export LENET=$repo/e2e/foreign/lenet.py

# run NAME BUNDLE: swiftlet run with --debug, output on our stdout; returns its status.
run() {
  local id=numpy-$1-$$
  ids+=("$id")
  "$runtime" --debug --root "$state" run --bundle "$2" "$id"
}

if [ ! -f "$tarball" ]; then
  # The first stage (downloads) is kept until the second one has succeeded.
  stage=$repo/.build-fixtures/debian-arm64-stage1
  if [ ! -f "$stage/.first-stage-done" ]; then
    echo "== debootstrap --foreign (arm64, minbase, python3-numpy)"
    rm -rf --one-file-system "$stage"
    mkdir -p "$stage/rootfs"
    debootstrap --foreign --arch=arm64 --variant=minbase --include=python3-numpy bookworm "$stage/rootfs" "$mirror"
    touch "$stage/.first-stage-done"
  fi
  echo "== second stage in a swiftlet container (private binfmt_misc)"
  mkdir -p "$work/stage"
  cp -a "$stage/rootfs" "$work/stage/rootfs"
  # debootstrap leaves /proc as a symlink to the host's; the container mounts its own.
  if [ -L "$work/stage/rootfs/proc" ]; then rm "$work/stage/rootfs/proc"; mkdir "$work/stage/rootfs/proc"; fi
  # container=lxc: debootstrap then does not try mknod, which a user namespace may not.
  export EXTRA_ENV=container=lxc
  config "$work/stage" 1 "" /debootstrap/debootstrap --second-stage
  unset EXTRA_ENV
  start=$(date +%s)
  run stage "$work/stage"
  echo "second stage: $(( $(date +%s) - start )) s"
  mkdir -p "$(dirname "$tarball")"
  tar -C "$work/stage/rootfs" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf --one-file-system "$work/stage" "$stage"
fi

status=0
for variant in "full:0:" "full-userns:1:" "primitive:0:org.swiftlet.isolation=chroot"; do
  IFS=: read -r name userns annotation <<<"$variant"
  bundle=$work/$name
  mkdir -p "$bundle/rootfs"
  tar -C "$bundle/rootfs" --numeric-owner -xf "$tarball"
  echo "== $name: apt-get --version"
  config "$bundle" "$userns" "$annotation" apt-get --version
  out=$(run "$name-apt" "$bundle" 2>&1) || { echo "$out"; echo "FAILED: $name apt-get"; status=1; }
  echo "$out" | head -3
  grep -q '^apt ' <<<"$out" || { echo "FAILED: $name: no apt version"; status=1; }
  echo "== $name: LeNet forward pass"
  config "$bundle" "$userns" "$annotation" python3 /opt/lenet.py 10
  start=$(date +%s)
  out=$(run "$name-lenet" "$bundle" 2>&1) || { echo "$out"; echo "FAILED: $name lenet"; status=1; }
  echo "$out"
  echo "(container run: $(( $(date +%s) - start )) s)"
  grep -q '^machine: aarch64' <<<"$out" || { echo "FAILED: $name: not run as aarch64"; status=1; }
  grep -q '^time per inference: ' <<<"$out" || { echo "FAILED: $name: no timing"; status=1; }
  rm -rf --one-file-system "$bundle"
done
[ $status = 0 ] && echo "numpy-arm64.sh: passed" || echo "numpy-arm64.sh: FAILED"
exit $status
