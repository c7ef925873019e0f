#!/usr/bin/env bash
# Runs swiftlet's checks on a Debian 12 machine with Swift at /opt/swift (as root), in stages:
#   unit         the in-process tests of Tests/<Module>Tests (swift test, without the binary-driven suites; runs unprivileged too)
#   integration  the suites that drive dist/swiftlet through real containers
#   conformance  the OCI runtime-tools validation suite (e2e/conformance/check.sh)
#   cross        the aarch64, armv7 and riscv64 binaries under qemu-user (e2e/cross/run.sh)
#   uml          primitive containers in a User Mode Linux guest (e2e/uml/run.sh)
#   cgroup2      swiftlet, runc and crun on pure cgroup v2 in a UML guest (e2e/cgroup2/run.sh)
#   hybrid       swiftlet's limits in a UML guest with controllers split between v1 and v2 (e2e/cgroup2/hybrid.sh)
#   gpio         mediated GPIO on a simulated chip in a UML guest (e2e/gpio/run.sh)
#   systemd      --systemd-cgroup in a UML guest booting Debian with systemd as pid 1 (e2e/systemd/run.sh)
#   clients      podman, containerd (ctr) and the CRI path (e2e/clients/run.sh)
#   rootless     an unprivileged user of the run's own: lifecycle, id maps, cgroups, agent (e2e/rootless/run.sh)
#   leftovers    what the run left on the host: compared with a snapshot taken before the first stage
# usage: scripts/test.sh [STAGE...]   with no STAGE: every stage, as CI runs it (.ci/run).
# Each stage installs and builds only what it needs, and ends with its own
# "STAGE: N passed, N failed, N skipped" line; the exit status is non-zero if any failed.
# env: SWIFTLET_TEST_RUNTIME  runtime under test (default: dist/swiftlet)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/deps.sh

all_stages=(unit integration conformance cross uml cgroup2 hybrid gpio systemd clients rootless leftovers)
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=("${all_stages[@]}")
for s in "${stages[@]}"; do
  [[ " ${all_stages[*]} " == *" $s "* ]] || { echo "test.sh: unknown stage '$s' (stages: ${all_stages[*]})" >&2; exit 2; }
done
# unit alone runs unprivileged too (its root-only tests then skip, saying so).
if [ "$(id -u)" != 0 ] && [ "${stages[*]}" != unit ]; then
  echo "test.sh: run as root (containers need it); only the unit stage runs unprivileged" >&2; exit 1
fi

runtime=${SWIFTLET_TEST_RUNTIME:-$PWD/dist/swiftlet}
export SWIFTLET_TEST_BUNDLE=$PWD/.build-fixtures/bundle
# Suites that drive the binary; everything else in Tests/ runs in-process (the unit stage).
integration_suites='^(IntegrationTests\.|LifecycleTests\.ExecBinaryTests|AgentTests\.Agent(Scenario|Helper|Attach|Log|Security)Tests)'
# The pid in its name lets a concurrent run's leftovers check see whose this dir is.
run_dir=$(mktemp -d /tmp/swiftlet-test-run-$$.XXXXXX)
trap 'rm -rf "$run_dir"' EXIT

# The leftovers snapshot comes before anything a stage creates.
if [[ " ${stages[*]} " == *" leftovers "* ]]; then
  bash scripts/leftovers.sh snapshot "$run_dir" || { echo "test.sh: host snapshot failed" >&2; exit 1; }
fi

need_runtime() {
  if [ "$runtime" = "$PWD/dist/swiftlet" ]; then
    ensure_packages "${BUILD_PACKAGES[@]}" && make dist/swiftlet || return 1
  fi
  [ -x "$runtime" ] || { echo "test.sh: no runtime at $runtime" >&2; return 1; }
}
need_bundle() {
  ensure_packages busybox-static && bash scripts/make-bundle.sh "$SWIFTLET_TEST_BUNDLE" "$runtime" >/dev/null
}
need_tests_built() {
  [ -n "${tests_built:-}" ] && return 0
  if [ "$(id -u)" = 0 ]; then ensure_packages "${BUILD_PACKAGES[@]}" || return 1; fi
  swift build --build-tests && tests_built=1
}

# swift-testing prints one line per test: "✔ Test x() passed", "✘ Test x() failed",
# "➜ Test x() skipped: reason" (a suite or test not enabled here) or "➜ Test x() was
# cancelled after …: reason" (a test that called skip() because the kernel lacks its feature).
swift_stage() {
  local name=$1; shift
  need_tests_built || return 1
  local log=$run_dir/$name.log
  SWIFTLET_BINARY=$runtime swift test --skip-build "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  # One line per test function (not per argument of a parameterized test, nor the run's total).
  sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^[^ ]+ Test ' | grep -vE '^[^ ]+ Test (case |run with )' > "$log.tests"
  local passed failed skipped
  # The outcome follows the test's name, "x()", "display name" (which may contain any word)
  # or "x(_:) with N test cases".
  passed=$(grep -cE '(\)|"|cases?) passed after ' "$log.tests")
  failed=$(grep -cE '(\)|"|cases?) failed after ' "$log.tests")
  skipped=$(grep -cE '(\)|"|cases?) (skipped|was cancelled)' "$log.tests")
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi   # crashed or did not build
  grep -E '(\)|"|cases?) (skipped|was cancelled)' "$log.tests" | sed "s/^/$name: skip: /"
  # swift-testing's console output has been seen to lose a few result lines on a loaded
  # machine; its closing line still counts every test, so a difference is shown, not hidden.
  local total
  total=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -oE 'Test run with [0-9]+ tests?' | tail -n 1 | grep -oE '[0-9]+')
  if [ -n "$total" ] && [ "$total" -ne $((passed + failed + skipped)) ]; then
    echo "$name: note: $((total - passed - failed - skipped)) of $total results missing from the console output;" \
         "swift-testing's verdict: $(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E 'Test run with [0-9]+ tests?' | tail -n 1 | sed 's/^[^ ]* //')"
  fi
  echo "$name: $passed passed, $failed failed, $skipped skipped" | tee -a "$run_dir/summary"
  [ "$rc" -eq 0 ] && [ "$failed" -eq 0 ] && return 0
  grep -E '(\)|"|cases?) failed after ' "$log.tests" | head -n 5 | cut -c1-220 | sed "s/^/$name: /" >> "$run_dir/failures"
  return 1
}

# A shell stage: its script ends with "STAGE: N passed, M failed[, K skipped]", or (clients)
# prints one such line per suite, summed here; a stage that prints none counts as one check.
shell_stage() {
  local name=$1; shift
  local log=$run_dir/$name.log
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local counts passed failed skipped
  counts=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "$log" | tail -n 1)
  [ -n "$counts" ] || counts=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log")
  passed=$(grep -oE '[0-9]+ passed' <<<"$counts" | awk '{ s += $1 } END { print s + 0 }')
  failed=$(grep -oE '[0-9]+ failed' <<<"$counts" | awk '{ s += $1 } END { print s + 0 }')
  skipped=$(grep -oE '[0-9]+ skipped' <<<"$counts" | awk '{ s += $1 } END { print s + 0 }')
  if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
    if [ "$rc" -eq 0 ]; then passed=1; else failed=1; fi
  fi
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  echo "$name: $passed passed, $failed failed, $skipped skipped" | tee -a "$run_dir/summary"
  [ "$rc" -eq 0 ] || note_failures "$name" "$log"
  [ "$rc" -eq 0 ]
}

# The first failing checks of a stage, repeated in the summary: CI keeps only the log's tail.
note_failures() {
  grep -E '^ *(FAIL|CHECK FAIL|not ok)[ :]|FAILED' "$2" | grep -v '^ *not ok [0-9]' | head -n 5 | cut -c1-220 \
    | sed "s/^ */$1: /" >> "$run_dir/failures"
}

stage_unit() { swift_stage unit --skip "$integration_suites"; }
stage_integration() {
  # user-mode-linux: the UML tier's suite boots Debian's kernel when dist/uml has none.
  need_runtime && need_bundle && ensure_packages user-mode-linux || return 1
  swift_stage integration --filter "$integration_suites"
}
stage_conformance() {
  ensure_packages golang-go && need_runtime || return 1
  shell_stage conformance bash e2e/conformance/check.sh "$runtime"
}
stage_cross() {
  ensure_packages "${BUILD_PACKAGES[@]}" "${CROSS_PACKAGES[@]}" qemu-user-static python3 || return 1
  make || return 1
  make -s sizes
  for arch in arm64 armhf mipsel; do
    bash scripts/foreign-rootfs.sh "$arch" "$PWD/.build-fixtures/foreign/$arch" || return 1
  done
  shell_stage cross bash e2e/cross/run.sh "$PWD/dist"
}
# The UML stages share one kernel build per run (dist/uml/linux-test; make caches it).
need_uml_kernel() { ensure_packages user-mode-linux busybox-static gcc libseccomp-dev && make dist/uml/linux-test; }
stage_uml() {
  need_uml_kernel && need_runtime || return 1
  shell_stage uml bash e2e/uml/run.sh "$PWD/dist/swiftlet"
}
stage_hybrid() { need_uml_kernel && need_runtime && shell_stage hybrid bash e2e/cgroup2/hybrid.sh "$PWD/dist/swiftlet"; }
stage_cgroup2() {
  need_uml_kernel && ensure_packages runc crun && need_runtime || return 1
  shell_stage cgroup2 bash e2e/cgroup2/run.sh "$PWD/dist/swiftlet"
}
stage_gpio() {
  need_uml_kernel && ensure_packages gpiod libc6-dev && need_runtime || return 1
  shell_stage gpio bash e2e/gpio/run.sh "$PWD/dist/swiftlet"
}
stage_systemd() {
  need_uml_kernel && need_runtime && ensure_packages debootstrap python3 || return 1
  shell_stage systemd bash e2e/systemd/run.sh "$PWD/dist/swiftlet"
}
stage_clients() {
  ensure_packages podman containerd python3-venv iproute2 util-linux && need_runtime && need_bundle || return 1
  shell_stage clients bash e2e/clients/run.sh "$runtime"
}
stage_rootless() {
  ensure_packages uidmap passwd python3 busybox-static && need_runtime || return 1
  shell_stage rootless bash e2e/rootless/run.sh "$runtime"
}
stage_leftovers() {
  bash scripts/leftovers.sh check "$run_dir" | tee "$run_dir/leftovers.log"
  local rc=${PIPESTATUS[0]}
  grep '^leftovers: [0-9]' "$run_dir/leftovers.log" >> "$run_dir/summary"
  return "$rc"
}

failed=() timings=()
for s in "${stages[@]}"; do
  echo "== $s"
  start=$(date +%s)
  "stage_$s" || failed+=("$s")
  took=$(( $(date +%s) - start ))
  timings+=("$s ${took}s")
  echo "== $s took ${took} s"
done

echo "== summary"
[ -f "$run_dir/summary" ] && sed 's/^/  /' "$run_dir/summary"
printf '  %s\n' "${timings[@]}"
[ -f "$run_dir/failures" ] && { echo "== first failures"; sed 's/^/  /' "$run_dir/failures"; }
[ ${#failed[@]} -eq 0 ] || { echo "== FAILED: ${failed[*]}"; exit 1; }
echo "== all stages passed"
