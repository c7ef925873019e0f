#!/usr/bin/env bash
# The whole check, on a fresh Debian 12 machine with Swift at /opt/swift (run as root):
# installs what is missing, builds the three binaries (make), prints their sizes, builds the
# busybox test bundle, runs the OCI conformance suite (tests/conformance/check.sh), then the
# unit and integration tests (swift test). The swift test output comes last; the exit status
# is non-zero if any stage failed.
# env: SWIFTLET_TEST_RUNTIME  runtime under test (default: dist/swiftlet)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/deps.sh

[ "$(id -u)" = 0 ] || { echo "test.sh: run as root (containers need it)" >&2; exit 1; }
ensure_packages "${BUILD_PACKAGES[@]}" busybox-static golang-go iproute2 util-linux ||
  { echo "test.sh: installing packages failed" >&2; exit 1; }

echo "== make"
make || { echo "test.sh: make failed" >&2; exit 1; }
echo "== sizes (stripped)"
make -s sizes

runtime=${SWIFTLET_TEST_RUNTIME:-$PWD/dist/swiftlet}
export SWIFTLET_TEST_BUNDLE=$PWD/.build-fixtures/bundle
echo "== test bundle"
bash scripts/make-bundle.sh "$SWIFTLET_TEST_BUNDLE" "$runtime" || { echo "test.sh: making the bundle failed" >&2; exit 1; }

failed=()
echo "== conformance (runtime-tools validation suite) against $runtime"
bash tests/conformance/check.sh "$runtime" || failed+=(conformance)

echo "== swift build --build-tests"
swift build --build-tests || { echo "test.sh: building the tests failed" >&2; exit 1; }

[ ${#failed[@]} -eq 0 ] && echo "== earlier stages passed" || echo "== earlier stages FAILED: ${failed[*]}"
echo "== swift test (unit + integration, SWIFTLET_BINARY=$runtime)"
SWIFTLET_BINARY=$runtime swift test --skip-build
status=$?
[ $status -eq 0 ] && [ ${#failed[@]} -eq 0 ] || exit 1
