#!/usr/bin/env bash
# Builds a User Mode Linux kernel from Debian's linux-source-6.1 with the config fragments in
# uml/, strips it and writes it to OUT:
#   scripts/uml-kernel.sh tier OUT   tinyconfig + uml/tier.config                 (issue 15's tier)
#   scripts/uml-kernel.sh test OUT   tinyconfig + uml/tier.config + uml/test.config  (test guests)
# The source is extracted once into .build-uml/linux-source-6.1 and each kernel is built out of
# tree in .build-uml/NAME, with our patches (uml/patches/*.patch, in name order) applied over
# it, so a second run with the same configs only relinks nothing: the
# generated .config is replaced only when it changed. Fails, naming the options, when an
# option of a fragment did not end up in the .config (tinyconfig drops what lacks a dependency).
# env: UML_JOBS (default 2: the build machines are shared)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
. scripts/deps.sh
name=${1:?usage: uml-kernel.sh tier|test OUT}
out=${2:?usage: uml-kernel.sh tier|test OUT}
case "$name" in
  tier) fragments=(uml/tier.config) ;;
  test) fragments=(uml/tier.config uml/test.config) ;;
  *) echo "uml-kernel: unknown kernel '$name' (tier, test)" >&2; exit 2 ;;
esac
[ "$(uname -m)" = x86_64 ] || { echo "uml-kernel: User Mode Linux builds for x86_64 hosts only" >&2; exit 1; }
ensure_packages linux-source-6.1 make gcc flex bison bc libelf-dev binutils xz-utils patch

build=$top/.build-uml
src=$build/linux-source-6.1
if [ ! -f "$src/.extracted" ]; then
  echo "== extracting /usr/src/linux-source-6.1.tar.xz into $build"
  rm -rf "$src"; mkdir -p "$build"
  tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$build"
  touch "$src/.extracted"
fi

# The source holds exactly the current patches: a copy of each applied one is kept in
# $src/.patches, and when the set differs the old ones are reversed (last first) before the new
# ones go on. patch(1) touches what it changes, so make rebuilds just that. A failure leaves
# the source to be extracted again.
patches=("$top"/uml/patches/*.patch)
[ -e "${patches[0]}" ] || patches=()
patches_applied() {
  [ "$(ls "$src/.patches" 2>/dev/null)" = "$(for p in "${patches[@]}"; do basename "$p"; done)" ] || return 1
  local p
  for p in "${patches[@]}"; do cmp -s "$p" "$src/.patches/${p##*/}" || return 1; done
}
if ! patches_applied; then
  rm -f "$src/.extracted"
  if [ -d "$src/.patches" ]; then
    for p in $(ls -r "$src/.patches"); do
      echo "== reversing $p"; patch -d "$src" -p1 -R -s --no-backup-if-mismatch < "$src/.patches/$p"
    done
    rm -rf "$src/.patches"
  fi
  mkdir -p "$src/.patches"
  for p in "${patches[@]}"; do
    echo "== applying uml/patches/$(basename "$p")"
    patch -d "$src" -p1 -s --forward --no-backup-if-mismatch < "$p"
    cp "$p" "$src/.patches/"
  done
  touch "$src/.extracted"
fi

obj=$build/$name
mkdir -p "$obj"
# UML is compiled with the host's default of unwind tables, which no kernel code reads
# (600 KiB of .eh_frame in the tier kernel).
kcflags="-fno-asynchronous-unwind-tables -fno-unwind-tables"
# arch/um compiles 64-bit kernels for the large code model (every call and global access a
# 64-bit absolute address) so that modules may load anywhere. The tier kernel has no modules
# and is linked at 0x60000000, well inside the low 2 GiB the small model needs (libc is reached
# through the PLT and copy relocations, as from any executable): its code is 15% smaller.
# KCFLAGS come last, so this -mcmodel wins. The test kernel keeps the upstream model.
[ "$name" = tier ] && kcflags+=" -mcmodel=small"
kmake() { make -s -C "$src" O="$obj" ARCH=um SUBARCH=x86_64 KCFLAGS="$kcflags" "$@"; }

# The config is generated in a dir of its own (which keeps kconfig's tools built) and
# installed only when it differs, so that an unchanged config leaves the build tree alone.
gen=$build/$name.gen
mkdir -p "$gen"; rm -f "$gen/.config"
make -s -C "$src" O="$gen" ARCH=um SUBARCH=x86_64 tinyconfig >/dev/null
# merge_config.sh keeps its temporary files in the current directory.
(cd "$gen" && "$src/scripts/kconfig/merge_config.sh" -m -O "$gen" "$gen/.config" "${fragments[@]/#/$top/}" >/dev/null)
make -s -C "$src" O="$gen" ARCH=um SUBARCH=x86_64 olddefconfig >/dev/null

# A later fragment overrides an earlier one (test.config turns IPv4 back on): the last line
# naming an option is the one that must hold.
declare -A wanted=()
order=()
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) sym=${line%%=*} ;;
    "# CONFIG_"*" is not set") sym=${line#\# }; sym=${sym%% *} ;;
    *) continue ;;
  esac
  [ -n "${wanted[$sym]+set}" ] || order+=("$sym")
  wanted[$sym]=$line
done < <(cat "${fragments[@]}")
missing=()
for sym in "${order[@]}"; do
  line=${wanted[$sym]}
  case "$line" in
    CONFIG_*=*) grep -qxF "$line" "$gen/.config" || missing+=("$line (got: $(grep -E "^(# )?${line%%=*}[= ]" "$gen/.config" || echo absent))") ;;
    *) ! grep -q "^$sym=" "$gen/.config" || missing+=("$line (got: $(grep "^$sym=" "$gen/.config"))") ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "uml-kernel: $name: these options did not end up in the kernel config (a dependency is missing):" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
if ! cmp -s "$gen/.config" "$obj/.config"; then cp "$gen/.config" "$obj/.config"; fi

echo "== building the $name UML kernel in $obj (-j${UML_JOBS:-2})"
start=$(date +%s)
kmake -j"${UML_JOBS:-2}" linux
mkdir -p "$(dirname "$out")"
strip -o "$out.tmp" "$obj/linux"
mv "$out.tmp" "$out"
echo "== $out: $(stat -c %s "$out") bytes stripped, built in $(( $(date +%s) - start )) s"
