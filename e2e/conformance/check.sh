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
# A kernel fact a line of expected-pass.txt names with needs:FACT.
#   cgroup:C  controller C is mounted (v1) or offered by the cgroup2 root
#   ns:N      the kernel has N namespaces (/proc/self/ns/N)
has_fact() {
  case $1 in
    cgroup:*) local c=${1#cgroup:}
      awk -v c="$c" '$9 == "cgroup" { n = split($NF, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) found = 1 }
                     END { exit !found }' /proc/self/mountinfo && return 0
      local u; u=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
      [ -n "$u" ] && grep -qw -- "$c" "$u/cgroup.controllers" ;;
    ns:*) [ -e "/proc/self/ns/${1#ns:}" ] ;;
    *) echo "check.sh: unknown fact $1 in expected-pass.txt" >&2; return 1 ;;
  esac
}

missing=() extra=() expected_names=() not_here=()
while read -r line; do
  line=${line%%#*}
  read -r name needs <<<"$line"
  [ -n "${name:-}" ] || continue
  lacking=()
  for need in $needs; do has_fact "${need#needs:}" || lacking+=("${need#needs:}"); done
  if [ ${#lacking[@]} -gt 0 ]; then not_here+=("$name (no ${lacking[*]})"); continue; fi
  expected_names+=("$name")
  # With run.sh options (e.g. --only) an expected test may not have run at all: not a failure.
  if [ $# -gt 0 ] && ! grep -qxF "$name" <<<"$ran"; then continue; fi
  grep -qxF "$name" <<<"$passed" || missing+=("$name")
done < "$expected"
for name in $passed; do
  printf '%s\n' "${expected_names[@]}" | grep -qxF "$name" || extra+=("$name")
done

[ ${#not_here[@]} -eq 0 ] || echo "conformance: not expected on this kernel: ${not_here[*]}"
echo "conformance score: $score (expected to pass: ${#expected_names[@]})"
[ ${#extra[@]} -eq 0 ] || echo "conformance: also passing (not in expected-pass.txt): ${extra[*]}"
echo "conformance: $((${#expected_names[@]} - ${#missing[@]})) passed, ${#missing[@]} failed, ${#not_here[@]} skipped (of the expected tests)"
if [ ${#missing[@]} -gt 0 ]; then
  echo "conformance: FAILED, expected to pass but did not: ${missing[*]}" >&2
  exit 1
fi
echo "conformance: OK, every expected test passed"
