#!/usr/bin/env bash
# What the mediated-GPIO filter costs an ioctl it does not trap, on this host's kernel (no GPIO
# chip needed): untrapped ioctls per second (e2e/gpio/client.c ioctlrate: FIONREAD on /dev/null)
# in a container with podman's default profile, with and without org.swiftlet.gpio=mediated,
# RUNS alternating runs of MS each; prints each rate, the medians and the median of the paired
# ratios. Root only. Not a test.
#   usage: bench/gpio/filter.sh [SWIFTLET]    env: RUNS (default 9), MS (default 1000),
#          RATE (cpu-second: by the process's CPU time, the default; second: by wall time)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
swiftlet=$(realpath "${1:-$top/dist/swiftlet}")
runs=${RUNS:-9} ms=${MS:-1000}
profile=/usr/share/containers/seccomp.json
[ -f "$profile" ] || { echo "filter.sh: $profile is missing (golang-github-containers-common)" >&2; exit 1; }
work=$(mktemp -d /tmp/swiftlet-gpio-filter.XXXXXX)
state=$work/state agent_pid=
cleanup() {
  for id in gf-m-$$ gf-d-$$; do "$swiftlet" --root "$state" delete --force "$id" >/dev/null 2>&1 || true; done
  [ -z "$agent_pid" ] || { kill "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null || true; }
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
bash "$top/scripts/make-bundle.sh" "$work/bundle" "$swiftlet" >/dev/null
cc -O2 -static -pthread -o "$work/bundle/rootfs/client" "$top/e2e/gpio/client.c"
echo '{"containers": []}' > "$work/policy.json"
"$swiftlet" --root "$state" agent --socket "$work/agent.sock" --policy "$work/policy.json" --log /dev/null &
agent_pid=$!
for _ in $(seq 100); do [ -S "$work/agent.sock" ] && break; sleep 0.02; done
# The same profile for both (as e2e/gpio/run.sh builds it); the mediated one with the annotation.
python3 "$top/e2e/gpio/podman-profile.py" "$profile" > "$work/seccomp.json"
python3 - "$work" <<'PY'
import json, sys
profile = json.load(open(sys.argv[1] + "/seccomp.json"))
base = json.load(open(sys.argv[1] + "/bundle/config.json"))
for name, mediated in (("mediated", True), ("direct", False)):
    c = json.loads(json.dumps(base))
    c["process"]["args"] = ["sleep", "600"]
    c["process"]["terminal"] = False
    seccomp = dict(profile)
    if mediated:
        seccomp["listenerPath"] = sys.argv[1] + "/agent.sock"
        c["annotations"] = {"org.swiftlet.gpio": "mediated"}
    c["linux"]["seccomp"] = seccomp
    c["root"]["path"] = sys.argv[1] + "/bundle/rootfs"
    import os
    os.makedirs(sys.argv[1] + "/" + name, exist_ok=True)
    json.dump(c, open(sys.argv[1] + "/" + name + "/config.json", "w"))
PY
"$swiftlet" --root "$state" run --detach --bundle "$work/mediated" gf-m-$$ >/dev/null
"$swiftlet" --root "$state" run --detach --bundle "$work/direct" gf-d-$$ >/dev/null
rate() { "$swiftlet" --root "$state" exec "$1" /client /dev/null ioctlrate "$ms" 2>&1 | sed -n "s/^ioctls per-${RATE:-cpu-second} //p"; }
d=() m=()
for _ in $(seq "$runs"); do d+=("$(rate gf-d-$$)"); m+=("$(rate gf-m-$$)"); done
echo "direct   ${d[*]}"
echo "mediated ${m[*]}"
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratios=(); for k in "${!d[@]}"; do ratios+=("$(awk -v a="${m[$k]}" -v b="${d[$k]}" 'BEGIN { print a / b }')"); done
echo "median direct $(median "${d[@]}") mediated $(median "${m[@]}") paired ratio $(median "${ratios[@]}")"
