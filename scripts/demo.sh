#!/usr/bin/env bash
# Builds swiftlet and runs one busybox container that reports what it sees from inside:
# hostname, identity, pid, processes, mounts, capabilities, limits. Run as root.
# env: SWIFTLET  runtime to demo (default: dist/swiftlet, built by make)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/deps.sh

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (containers need it)" >&2; exit 1; }
ensure_packages "${BUILD_PACKAGES[@]}" busybox-static util-linux
make -s dist/swiftlet   # the demo needs only the shipped binary, not the cross builds
runtime=${SWIFTLET:-$PWD/dist/swiftlet}

work=$(mktemp -d /tmp/swiftlet-demo.XXXXXX)
state=/run/swiftlet-demo-$$
id=demo-$$
cleanup() {
  "$runtime" --root "$state" delete --force "$id" >/dev/null 2>&1 || true
  # Unmount only what lies under our own work dir, deepest first.
  findmnt -rn -o TARGET | grep -F "$work/" | sort -r | while read -r m; do umount -l "$m"; done || true
  rm -rf --one-file-system "$work" "$state"
}
trap cleanup EXIT

bash scripts/make-bundle.sh "$work/bundle" "$runtime" >/dev/null

# The container runs the bundle's default `sh`, which reads this script from stdin.
echo "== running a busybox container with $(basename "$runtime") run"
status=0
"$runtime" --root "$state" run --bundle "$work/bundle" "$id" <<'SCRIPT' || status=$?
echo "--- hostname (own UTS namespace)"; hostname
echo "--- identity (id)"; id
echo "--- my pid: $$ (pid 1: init of a new pid namespace); all processes:"; ps -o pid,user,args
echo "--- mounts (/proc/self/mounts)"; cat /proc/self/mounts
echo "--- capabilities and no_new_privs (/proc/self/status)"; grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status
echo "--- open files limit (ulimit -n)"; ulimit -n
echo "--- network interfaces (own network namespace)"; ls /sys/class/net
echo "--- root filesystem is read-only:"; touch /probe 2>&1 || true
SCRIPT
echo "== container exited with status $status; cleaning up"
exit $status
