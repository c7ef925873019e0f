#!/usr/bin/env bash
# Times the real clients with swiftlet, crun and runc as their runtime, in one run:
#   podman run --rm IMAGE true          (podman 4.3 + conmon, --runtime RUNTIME)
#   ctr run --rm IMAGE ID true          (containerd 1.6 runc v2 shim, --runc-binary RUNTIME)
# and prints a markdown table: median, p99, min and the median's ratio to crun.
#   usage (as root): bash bench/clients.sh [/abs/path/to/swiftlet]   (default dist/swiftlet)
#   RUNS=N (default 30 per runtime and client, split over ROUNDS=3 series; runtimes are
#   rotated between series so that load drifts hit all alike), OUT=FILE (default stdout)
# podman, containerd, the image and every state directory are this run's own (as in
# e2e/clients) and removed at the end.
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$bench")
[ "$(id -u)" = 0 ] || { echo "bench/clients.sh: run as root" >&2; exit 1; }

# As bench/run.sh does: crun 1.8.1 refuses every container when the cgroup2 mount of a hybrid
# layout holds a controller, so every runtime runs in a private mount namespace in which that
# mount is detached (a pure v1 layout). Nothing outside this process tree notices.
unified=/sys/fs/cgroup/unified
hidden=no
if [ -z "${SWIFTLET_CLIENTS_INNER:-}" ]; then
  export SWIFTLET_CLIENTS_INNER=1
  if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] &&
     [ "$(stat -f -c %T $unified 2>/dev/null)" = cgroup2fs ] &&
     [ -n "$(tr -d ' \n' < $unified/cgroup.controllers 2>/dev/null)" ]; then
    export SWIFTLET_CLIENTS_HIDDEN=yes
    exec unshare --mount --propagation private -- \
      bash -c 'umount '$unified' && exec bash "$0" "$@"' "${BASH_SOURCE[0]}" "$@"
  fi
fi
hidden=${SWIFTLET_CLIENTS_HIDDEN:-no}

. "$top/scripts/deps.sh"
ensure_packages podman containerd crun runc hyperfine jq busybox-static
. "$top/e2e/clients/lib.sh"

swiftlet=${1:-$top/dist/swiftlet}
case $swiftlet in /*) ;; *) swiftlet=$PWD/$swiftlet ;; esac
RUNS=${RUNS:-30}
ROUNDS=${ROUNDS:-3}
per_round=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
declare -A path=([swiftlet]=$swiftlet [crun]=$(command -v crun) [runc]=$(command -v runc))
runtimes=(swiftlet crun runc)
for rt in "${runtimes[@]}"; do [ -x "${path[$rt]}" ] || { echo "bench/clients.sh: $rt: ${path[$rt]} missing" >&2; exit 1; }; done

work=$(mktemp -d /tmp/swiftlet-clients-bench.XXXXXX)
image=localhost/swiftlet-busybox:test
cgroup_parent=/swiftlet-clients-bench-$$
ns=swiftlet-clients-bench-$$
pm="podman --root $work/podman/root --runroot $work/podman/runroot --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --tmpdir $work/podman/tmp"
cleanup() {
  set +e
  $pm rm -a -f -t 0 >/dev/null 2>&1
  $pm rmi -a -f >/dev/null 2>&1
  rm -rf --one-file-system "$work/podman"
  stop_containerd "$work" "$ns"
  for dir in /sys/fs/cgroup/*"$cgroup_parent"; do
    [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
  done
}
trap cleanup EXIT

# podman, configured as e2e/clients/podman.sh does.
mkdir -p "$work/podman/tmp" "$work/podman/net"
ulimits=
if (( ! ($(awk '/^CapBnd:/ { print "0x" $2 }' /proc/self/status) >> 24 & 1) )); then
  nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)
  [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
  ulimits="default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
fi
cat > "$work/podman/containers.conf" <<CONF
[containers]
netns = "none"
$ulimits
[engine]
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "swiftlet"]
events_logfile_path = "$work/podman/events.log"
[network]
network_config_dir = "$work/podman/net"
CONF
printf 'unqualified-search-registries = []\n' > "$work/podman/registries.conf"
printf '[storage]\ndriver = "vfs"\nrunroot = "%s"\ngraphroot = "%s"\n' "$work/podman/runroot" "$work/podman/root" > "$work/podman/storage.conf"
export CONTAINERS_CONF=$work/podman/containers.conf CONTAINERS_REGISTRIES_CONF=$work/podman/registries.conf \
  CONTAINERS_STORAGE_CONF=$work/podman/storage.conf
bash "$top/e2e/clients/image.sh" "$work/busybox.tar" "$image" >/dev/null
$pm load -q -i "$work/busybox.tar" >/dev/null

containerd_config "$work" ""
start_containerd "$work"
ctr="ctr --address $work/containerd.sock -n $ns"
$ctr images import "$work/busybox.tar" >/dev/null

command_for() {  # command_for CLIENT RUNTIME
  case $1 in
    podman) echo "$pm run --runtime ${path[$2]} --cgroup-parent $cgroup_parent --rm $image true" ;;
    ctr) echo "$ctr run --runc-binary ${path[$2]} --runc-root $work/runc-root --rm $image b\$(date +%s%N) true" ;;
  esac
}

# Every command must work before it is timed.
for client in podman ctr; do
  for rt in "${runtimes[@]}"; do
    sh -c "$(command_for $client $rt)" >/dev/null 2>"$work/err" ||
      { echo "bench/clients.sh: $client with $rt fails: $(head -3 "$work/err")" >&2; exit 1; }
  done
done

for round in $(seq "$ROUNDS"); do
  for client in podman ctr; do
    # Rotate the order each round.
    order=("${runtimes[@]:round % 3}" "${runtimes[@]:0:round % 3}")
    args=()
    for rt in "${order[@]}"; do args+=(-n "$client/$rt" "$(command_for $client $rt)"); done
    echo "== round $round/$ROUNDS: $client (${order[*]})" >&2
    hyperfine --style none --warmup 2 --runs "$per_round" --export-json "$work/$client-$round.json" "${args[@]}" \
      >"$work/hyperfine.log" 2>&1 || { cat "$work/hyperfine.log" >&2; exit 1; }
  done
done

# All rounds together: median, p99 (nearest rank), min per client and runtime, in ms.
stats() {  # stats CLIENT RUNTIME -> "median p99 min n"
  jq -s -r --arg name "$1/$2" '[.[].results[] | select(.command == $name) | .times[]] | sort
    | . as $t | length as $n
    | [ (if $n % 2 == 1 then $t[($n - 1) / 2] else ($t[$n / 2 - 1] + $t[$n / 2]) / 2 end),
        $t[([(($n * 99 + 99) / 100 | floor) - 1, $n - 1] | min)], $t[0], $n ]
    | map(tostring) | join(" ")' "$work/$1"-*.json
}
{
  echo "| client | runtime | median | p99 | min | runs | median / crun |"
  echo "|---|---|---|---|---|---|---|"
  for client in podman ctr; do
    read -r crun_median _ < <(stats $client crun)
    for rt in "${runtimes[@]}"; do
      read -r median p99 min n < <(stats $client "$rt")
      awk -v c="$client" -v r="$rt" -v m="$median" -v p="$p99" -v mn="$min" -v n="$n" -v base="$crun_median" \
        'BEGIN { printf "| %s | %s | %.1f ms | %.1f ms | %.1f ms | %d | %.2f |\n", c, r, m * 1000, p * 1000, mn * 1000, n, m / base }'
    done
  done
  echo
  echo "podman $(podman --version | awk '{print $3}') (conmon, vfs storage, cgroupfs, network none), containerd" \
    "$(containerd --version | awk '{print $3}') (runc v2 shim, overlayfs); crun $(crun --version | awk 'NR == 1 {print $3}')," \
    "runc $(runc --version | awk 'NR == 1 {print $3}'); swiftlet: \`$swiftlet\`. Hybrid cgroup2 mount detached for all: $hidden." \
    "$(nproc) CPUs, $(date -u +%Y-%m-%d)."
} > "$work/table.md"
if [ -n "${OUT:-}" ]; then cp "$work/table.md" "$OUT"; echo "wrote $OUT" >&2; fi
cat "$work/table.md"
