#!/usr/bin/env bash
# Builds examples/gpio-blink as a static Embedded Swift binary: build.sh OUTPUT
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/blink}
PATH=/opt/swift/usr/bin:$PATH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
clang -O2 -c -o "$tmp/shim.o" "$here/shim.c"
swiftc -enable-experimental-feature Embedded -wmo -Osize -parse-as-library \
  -import-objc-header "$here/shim.h" -c -o "$tmp/main.o" "$here/main.swift"
clang -static -o "$out" "$tmp/main.o" "$tmp/shim.o" -Wl,--gc-sections
strip "$out"
