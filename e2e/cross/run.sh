#!/usr/bin/env bash
# Runs the cross-built binaries (DIST/swiftlet-aarch64, -armv7, -riscv64) under qemu-user and
# compares what they print with the x86_64 build (DIST/swiftlet):
#   --version, `spec` (byte for byte, and it must be JSON with the expected defaults),
#   `features`, and `create` of bundles whose full config.json is valid or invalid in a known
#   way (same one-line error and exit status), then a real container with `run`.
# The emulator is called explicitly (qemu-ARCH-static BINARY); no binfmt handler is registered.
# usage: e2e/cross/run.sh [DIST]   (default: dist)   Run as root (for the container step).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dist=$(cd "${1:-$here/../../dist}" && pwd) || exit 1
reference=$dist/swiftlet
fixture_rootfs=${SWIFTLET_TEST_BUNDLE:-$here/../../.build-fixtures/bundle}/rootfs
[ -x "$reference" ] || { echo "cross/run.sh: no $reference (run make first)" >&2; exit 1; }

work=$(mktemp -d /tmp/swiftlet-cross.XXXXXX)
state=$work/state
ids=()
cleanup() {
  for id in "${ids[@]}"; do "$reference" --root "$state" delete --force "$id" >/dev/null 2>&1; done
  findmnt -rn -o TARGET | grep -F "$work/" | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

failures=0 passes=0
ok()   { echo "  ok    $*"; passes=$((passes + 1)); }
fail() { echo "  FAIL  $*"; failures=$((failures + 1)); }

# Config variants: the full config (accepted) and copies broken in one known place each.
python3 "$here/variants.py" "$here/full-config.json" "$work/variants" || { echo "cross/run.sh: python3 failed" >&2; exit 1; }
cp "$here/full-config.json" "$work/variants/valid.json"
# A state root below a regular file: `create` fails right after the config, the seccomp
# program and the id are accepted, before anything is made.
printf 'not a directory' > "$work/variants/valid.expect"
touch "$work/not-a-directory"
blocked_root=$work/not-a-directory/state

# outcome BINARY [qemu...] ARGS: "status|stderr" of one run, with the temp dir's name hidden.
outcome() {
  local err status
  err=$("$@" 2>&1 >/dev/null)
  status=$?
  printf '%s|%s' "$status" "${err//$work/WORK}"
}

for arch in aarch64 armv7 riscv64; do
  case $arch in armv7) qemu=qemu-arm-static ;; *) qemu=qemu-$arch-static ;; esac
  binary=$dist/swiftlet-$arch
  echo "== $arch ($(basename "$binary") under $qemu)"
  if ! command -v "$qemu" >/dev/null; then fail "$qemu is not installed (qemu-user-static)"; continue; fi
  if [ ! -x "$binary" ]; then fail "no $binary"; continue; fi
  cross() { "$qemu" "$binary" "$@"; }
  dir=$work/$arch
  mkdir -p "$dir"

  # Refuses to run natively: the binary really is for another machine.
  if "$binary" --version >/dev/null 2>&1; then fail "$binary runs without qemu (not a cross binary?)"; fi

  if [ "$(cross --version 2>&1)" = "$("$reference" --version 2>&1)" ]; then ok "--version: $(cross --version | head -1)"
  else fail "--version differs: $(cross --version 2>&1 | head -2 | tr '\n' ' ')"; fi

  mkdir -p "$dir/spec" "$dir/spec-reference"
  if cross spec --bundle "$dir/spec" && "$reference" spec --bundle "$dir/spec-reference" &&
     cmp -s "$dir/spec/config.json" "$dir/spec-reference/config.json"; then
    version=$(cross --version | sed -n 's/^spec: //p')
    if python3 - "$dir/spec/config.json" "$version" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
assert c["ociVersion"] == sys.argv[2], c["ociVersion"]
assert c["process"]["args"] == ["sh"] and c["process"]["cwd"] == "/"
assert c["root"] == {"path": "rootfs", "readonly": True}
assert {"pid", "mount", "network", "ipc", "uts"} <= {n["type"] for n in c["linux"]["namespaces"]}
assert any(m["destination"] == "/proc" and m["type"] == "proc" for m in c["mounts"])
PY
    then ok "spec: JSON, defaults, identical to x86_64 ($(stat -c %s "$dir/spec/config.json") bytes)"
    else fail "spec: config.json is not JSON with the expected defaults"; fi
  else fail "spec: differs from x86_64 or failed"; fi

  # linux.seccomp.supportedFlags is what the kernel answers to seccomp(SET_MODE_FILTER)
  # probes; qemu-user refuses that call (EINVAL: a filter would confine the emulator
  # itself), so under qemu only the flags applied without asking the kernel remain.
  if cross features > "$dir/features" 2>&1 && "$reference" features > "$dir/features-reference"; then
    if verdict=$(python3 - "$dir/features" "$dir/features-reference" <<'PY'
import json, sys
cross, ref = (json.load(open(p)) for p in sys.argv[1:3])
cs, rs = cross["linux"]["seccomp"], ref["linux"]["seccomp"]
if not set(cs["supportedFlags"]) <= set(rs["supportedFlags"]): sys.exit("supportedFlags: %s" % cs["supportedFlags"])
dropped = [f for f in rs["supportedFlags"] if f not in cs["supportedFlags"]]
del cs["supportedFlags"], rs["supportedFlags"]
# The UML tier runs on x86_64 hosts only: x86_64 alone lists it and its kernels.
ca, ra = cross.get("annotations", {}), ref.get("annotations", {})
if ra.get("org.swiftlet.isolation") == ca.get("org.swiftlet.isolation", "") + ",uml":
    ra["org.swiftlet.isolation"] = ca["org.swiftlet.isolation"]
ra.pop("org.swiftlet.uml.kernel", None)
if cross != ref:
    sys.exit("differs beyond supportedFlags")
print("supportedFlags under qemu lacks %s" % (", ".join(dropped) or "nothing"))
PY
    2>&1); then ok "features: JSON, identical to x86_64 but for the kernel probe ($verdict) and the x86-only UML tier"
    else fail "features: $verdict"; fi
  else fail "features: failed"; fi

  mkdir -p "$dir/bundle/rootfs"
  n=0; same=0
  for config in "$work/variants"/*.json; do
    name=$(basename "$config" .json)
    cp "$config" "$dir/bundle/config.json"
    expect=$(cat "$work/variants/$name.expect")
    want=$(outcome "$reference" --root "$blocked_root" create --bundle "$dir/bundle" "cross-$arch-$name")
    got=$(outcome "$qemu" "$binary" --root "$blocked_root" create --bundle "$dir/bundle" "cross-$arch-$name")
    n=$((n + 1))
    message=${got#*|}
    if [ "$got" != "$want" ]; then fail "config $name: x86_64 [$want], $arch [$got]"
    elif [ "${got%%|*}" = 0 ] || [ -z "$message" ] || [ "$(printf '%s\n' "$message" | wc -l)" != 1 ]; then
      fail "config $name: not a one-line failure: [$got]"
    elif [[ $message != *"$expect"* ]]; then fail "config $name: [$message] lacks [$expect]"
    else same=$((same + 1)); fi
  done
  [ $same = $n ] && ok "config.json: $n configs (1 valid, $((n - 1)) broken) give x86_64's result and error line"

  # A real container. qemu-user cannot start one: the runtime first re-executes itself from a
  # read-only image (CVE-2019-5736), which the host kernel cannot run without a binfmt
  # handler for the architecture, and a clone of qemu would run the emulator's host file
  # anyway, so create refuses with one line. (Past that, qemu-user 7.2 has no clone3 and its
  # clone(2) takes only the flags of fork.) That known failure is asserted, and that nothing
  # is left behind; a setup that can do it must run the container for real.
  bundle=$dir/run-bundle
  mkdir -p "$bundle"
  cp -a "$fixture_rootfs" "$bundle/rootfs"
  sed 's/"terminal": *true/"terminal": false/' "$(dirname "$fixture_rootfs")/config.json" > "$bundle/config.json"
  id=cross-$arch-$$
  ids+=("$id")
  output=$(echo "echo container-ran-on-\$(uname -m)" | timeout 120 "$qemu" "$binary" --root "$state" run --bundle "$bundle" "$id" 2>"$dir/run.err")
  status=$?
  err=$(cat "$dir/run.err")
  leftovers=$(ls -d "$state/$id" /sys/fs/cgroup/*/swiftlet/"$id" /sys/fs/cgroup/swiftlet/"$id" 2>/dev/null)
  if [ $status = 0 ] && [[ $output == container-ran-on-* ]]; then ok "run: a real container ran ($output)"
  elif [ $status != 0 ] && [ -z "$leftovers" ] &&
       [ "$err" = "mounts: re-execute the runtime from a read-only image (is it running under an emulator?): exec format error" ]; then
    ok "run: stops where the host kernel cannot run the re-executed image ('$err'), nothing left behind"
  else fail "run: status $status, stderr [$err], output [$output], left behind [$leftovers]"; fi
done

echo "== cross binaries under qemu-user: $failures failure(s)"
echo "cross: $passes passed, $failures failed"
[ $failures = 0 ]
