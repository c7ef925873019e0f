#!/usr/bin/env bash
# Prints the path of the Unicode data tables archive (String comparison and hashing need it)
# to link into the cross-built swiftlet for ARCH:
#   scripts/cross-unicode-tables.sh aarch64|armv7|riscv64 SWIFT_TARGET OUTDIR
# Swift ships these tables only for its bare-metal targets, built for the soft-float ABI:
# GNU ld refuses to mix them with hard-float objects ("uses VFP register arguments" on
# armv7, "can't link soft-float modules with double-float modules" on riscv64). The archive
# holds constant tables and lookup functions whose arguments and results are integers and
# pointers, which both float ABIs pass the same way; the only one that returns a double,
# _swift_stdlib_getNumericValue (Unicode.Scalar.Properties.numericValue), is never linked
# (scripts/cross-build.sh checks). So the objects are relabelled, not rebuilt: armv7 drops the
# build attributes that name the float ABI, riscv64 gets the double-float ABI bit in the
# ELF header. aarch64 has a single ABI and uses the archive as shipped.
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: cross-unicode-tables.sh ARCH SWIFT_TARGET OUTDIR" >&2; exit 2; }
arch=$1
target=$2
out=$3
shipped=$(dirname "$(command -v swiftc)")/../lib/swift/embedded/$target/libswiftUnicodeDataTables.a
[ -f "$shipped" ] || { echo "cross-unicode-tables.sh: no $shipped" >&2; exit 1; }
[ "$arch" = aarch64 ] && { echo "$shipped"; exit 0; }

archive=$out/libswiftUnicodeDataTables.a
if [ -f "$archive" ] && [ "$archive" -nt "$shipped" ]; then echo "$archive"; exit 0; fi
rm -rf "$out"
mkdir -p "$out/objects"
(cd "$out/objects" && ar x "$shipped")
for o in "$out"/objects/*.o; do
  case $arch in
    armv7) arm-linux-gnueabihf-objcopy --remove-section=.ARM.attributes "$o" ;;
    riscv64)
      # e_flags of ELF64 is at byte 48: 0x1 is RVC + soft-float, 0x5 RVC + double-float.
      flags=$(od -An -tx4 -j48 -N4 "$o" | tr -d ' ')
      [ "$flags" = 00000001 ] || { echo "cross-unicode-tables.sh: $(basename "$o"): unexpected e_flags 0x$flags" >&2; exit 1; }
      printf '\005\000\000\000' | dd of="$o" bs=1 seek=48 conv=notrunc status=none ;;
    *) echo "cross-unicode-tables.sh: unknown architecture '$arch'" >&2; exit 1 ;;
  esac
done
ar rcs "$archive.tmp" "$out"/objects/*.o
mv "$archive.tmp" "$archive"
echo "$archive"
