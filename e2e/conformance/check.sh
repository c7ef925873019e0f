#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite (../shared/conformance/run.sh, beside this
# repository) against RUNTIME and fails if any test listed in expected-pass.txt did not pass.
# usage: e2e/conformance/check.sh RUNTIME [run.sh options...]
# env: CONFORMANCE_RUN  path of run.sh (default: <repo>/../shared/conformance/run.sh)
set -uo pipefail

[ $# -ge 1 ] || { echo "usage: check.sh RUNTIME [run.sh options]" >&2; exit 2; }
runtime=$1; shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
run=${CONFORMANCE_RUN:-$top/../shared/conformance/run.sh}
expected=$here/expected-pass.txt

[ -f "$run" ] || { echo "check.sh: conformance harness not found at $run" >&2; exit 2; }
[ -f "$expected" ] || { echo "check.sh: missing $expected" >&2; exit 2; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
bash "$run" "$@" "$runtime" | tee "$out"
rc=${PIPESTATUS[0]}
score=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$out" | tail -n 1)
if [ "$rc" -ne 0 ] || [ -z "$score" ]; then
  echo "conformance: the suite did not run to the end (run.sh exit $rc)" >&2
  exit 1
fi

# "ok N - name # ..." is a pass unless it is a SKIP; everything else is not a pass.
passed=$(awk '/^ok [0-9]+ - / && $0 !~ /# SKIP/ { print $4 }' "$out" | sort -u)
ran=$(awk '/^(not )?ok [0-9]+ - / { print ($1 == "not" ? $5 : $4) }' "$out" | sort -u)
missing=() extra=()
while read -r name; do
  name=${name%%#*}; name=$(echo "$name" | tr -d '[:space:]')
  [ -n "$name" ] || continue
  # With run.sh options (e.g. --only) an expected test may not have run at all: not a failure.
  if [ $# -gt 0 ] && ! grep -qxF "$name" <<<"$ran"; then continue; fi
  grep -qxF "$name" <<<"$passed" || missing+=("$name")
done < "$expected"
for name in $passed; do
  grep -qxF "$name" <(sed 's/#.*//; s/[[:space:]]//g' "$expected") || extra+=("$name")
done

echo "conformance score: $score (expected to pass: $(grep -cvE '^[[:space:]]*(#|$)' "$expected"))"
[ ${#extra[@]} -eq 0 ] || echo "conformance: also passing (not in expected-pass.txt): ${extra[*]}"
if [ ${#missing[@]} -gt 0 ]; then
  echo "conformance: FAILED, expected to pass but did not: ${missing[*]}" >&2
  exit 1
fi
echo "conformance: OK, every expected test passed"
