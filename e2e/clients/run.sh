#!/usr/bin/env bash
# The client tests one after another: podman (rootful, then rootless), containerd (ctr), the CRI path.
#   usage: run.sh /abs/path/to/swiftlet [SUITE...]     SUITE: podman podman-rootless containerd cri
# Each suite ends with "SUITE: N passed, M failed"; the status is non-zero if any failed.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 1 ] || { echo "usage: run.sh /abs/path/to/swiftlet [podman|podman-rootless|containerd|cri]..." >&2; exit 2; }
runtime=$1
shift
[ $# -gt 0 ] || set -- podman podman-rootless containerd cri
failed=()
for suite in "$@"; do
  start=$(date +%s)
  bash "$here/$suite.sh" "$runtime" || failed+=("$suite")
  echo "== $suite took $(( $(date +%s) - start )) s"
done
[ ${#failed[@]} -eq 0 ] || { echo "client suites FAILED: ${failed[*]}"; exit 1; }
