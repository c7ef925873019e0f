#!/usr/bin/env bash
# GPIO through swiftlet's agent against the chip passed through whole, in the same UML guest
# (the gpio stage's, e2e/gpio/run.sh --bench, on a gpio-sim chip):
#   blink      the classic LED blink (request a line as output, 10 toggles, release), CPU and
#              wall time, 5 runs each, alternating, by e2e/gpio/client.c (C) and examples/gpio-blink (Swift)
#   latency    the line grant: request + release of one line, p50/p99 over 10,000
#   toggles    value writes per second on a held line for 0.5 s, 11 runs each, alternating (never
#              mediated: the ratio shows what the filter costs a call it does not trap); the
#              medians of each and the median of the 11 ratios of neighbouring runs
# usage: bench/gpio/run.sh [SWIFTLET]
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
bash "$top/e2e/gpio/run.sh" --bench "$@" > "$log" 2>&1 || { tail -40 "$log"; exit 1; }
sed -n 's/\r$//; s/^RESULT bench-//p' "$log"
# Toggles: the median of the runs of each.
median() { sed -n "s/\r$//; s/^RESULT bench-toggles-$1 toggles per-second //p" "$log" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
direct=$(median direct) mediated=$(median mediated)
[ -n "$direct" ] && [ -n "$mediated" ] && awk -v d="$direct" -v m="$mediated" 'BEGIN { printf "toggles median direct %d mediated %d ratio %.3f\n", d, m, m / d }'
# Each mediated run against the direct run just before it, so that both saw the same load.
paste <(sed -n "s/\r$//; s/^RESULT bench-toggles-direct toggles per-second //p" "$log") \
      <(sed -n "s/\r$//; s/^RESULT bench-toggles-mediated toggles per-second //p" "$log") |
  awk '$1 > 0 { print $2 / $1 }' | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "toggles median of %d paired ratios %.3f\n", NR, v[int((NR + 1) / 2)] }'
