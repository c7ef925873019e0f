#!/usr/bin/env bash
# The whole check, on a fresh Debian 12 machine with Swift at /opt/swift (run as root):
# installs what is missing, builds the three binaries (make), prints their sizes, builds the
# busybox test bundle, runs the OCI conformance suite (tests/conformance/check.sh) and the
# primitive-container checks in a User Mode Linux guest (tests/uml/run.sh), then the
# unit and integration tests (swift test). The swift test output comes last; the exit status
# is non-zero if any stage failed.
# env: SWIFTLET_TEST_RUNTIME  runtime under test (default: dist/swiftlet)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/deps.sh

[ "$(id -u)" = 0 ] || { echo "test.sh: run as root (containers need it)" >&2; exit 1; }
ensure_packages "${BUILD_PACKAGES[@]}" "${CROSS_PACKAGES[@]}" qemu-user-static python3 busybox-static golang-go iproute2 util-linux user-mode-linux gcc \
  podman containerd python3-venv ||
  { echo "test.sh: installing packages failed" >&2; exit 1; }

echo "== make"
make || { echo "test.sh: make failed" >&2; exit 1; }
echo "== sizes (stripped)"
make -s sizes

runtime=${SWIFTLET_TEST_RUNTIME:-$PWD/dist/swiftlet}
export SWIFTLET_TEST_BUNDLE=$PWD/.build-fixtures/bundle
echo "== test bundle"
bash scripts/make-bundle.sh "$SWIFTLET_TEST_BUNDLE" "$runtime" || { echo "test.sh: making the bundle failed" >&2; exit 1; }
echo "== foreign-architecture rootfs fixtures (busybox-static arm64, armhf, mipsel)"
for arch in arm64 armhf mipsel; do
  bash scripts/foreign-rootfs.sh "$arch" "$PWD/.build-fixtures/foreign/$arch" || { echo "test.sh: fetching busybox-static:$arch failed" >&2; exit 1; }
done

failed=()
echo "== cross-built binaries (aarch64, armv7, riscv64) under qemu-user (tests/cross/run.sh)"
bash tests/cross/run.sh "$PWD/dist" || failed+=(cross)

echo "== conformance (runtime-tools validation suite) against $runtime"
bash tests/conformance/check.sh "$runtime" || failed+=(conformance)

echo "== primitive containers in a User Mode Linux 6.1 guest (tests/uml/run.sh)"
bash tests/uml/run.sh "$PWD/dist/swiftlet" || failed+=(uml)

echo "== clients: podman, containerd (ctr), the CRI path (tests/clients/run.sh)"
bash tests/clients/run.sh "$runtime" || failed+=(clients)

echo "== swift build --build-tests"
swift build --build-tests || { echo "test.sh: building the tests failed" >&2; exit 1; }

[ ${#failed[@]} -eq 0 ] && echo "== earlier stages passed" || echo "== earlier stages FAILED: ${failed[*]}"
echo "== swift test (unit + integration, SWIFTLET_BINARY=$runtime)"
SWIFTLET_BINARY=$runtime swift test --skip-build
status=$?
[ $status -eq 0 ] && [ ${#failed[@]} -eq 0 ] || exit 1
