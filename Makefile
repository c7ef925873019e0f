# Builds the three swiftlet binaries into dist/ (all stripped, like a release):
#   dist/swiftlet           Embedded Swift, statically linked (glibc, libseccomp): what ships
#   dist/swiftlet-dynamic   Embedded Swift, dynamic against glibc only (libseccomp static)
#   dist/swiftlet-standard  standard Swift runtime, statically linked
# and the same Embedded build for other boards (scripts/cross-build.sh, statically linked):
#   dist/swiftlet-aarch64, dist/swiftlet-armv7 (hard-float), dist/swiftlet-riscv64
# `make sizes` prints their sizes, `make clean` removes dist/ and the build dirs.

# Swift's toolchain (swift, and the clang that matches it) lives in /opt/swift on our machines.
export PATH := $(if $(wildcard /opt/swift/usr/bin/swift),/opt/swift/usr/bin:)$(PATH)
SWIFT    ?= swift
CLANG    ?= clang
STRIP    ?= strip
TRIPLE   ?= $(shell uname -m)-unknown-linux-gnu
# Build and output dirs can be overridden (e.g. make EMB_DIR=.build-x STD_DIR=.build-y DIST=/tmp/d)
# so that several builds of one tree do not share state.
EMB_DIR  ?= .build-embedded
STD_DIR  ?= .build-standard
DIST     ?= dist
EMB_OUT  := $(EMB_DIR)/$(TRIPLE)/release
SWIFT_LIB := $(dir $(shell PATH='$(PATH)' command -v $(SWIFT) 2>/dev/null))../lib/swift
UNICODE_TABLES := $(SWIFT_LIB)/embedded/$(TRIPLE)/libswiftUnicodeDataTables.a
# SwiftPM writes the exact object list of the product here (no stale or test objects).
OBJECT_LIST := $(EMB_OUT)/swiftlet.product/Objects.LinkFileList

# One section per function: each module's object also carries weak copies of the generic
# and cross-module code it uses, and only with -function-sections can --gc-sections drop the
# copies nobody calls (3.4 MB -> 1.1 MB for the dynamic binary).
EMBEDDED_FLAGS := -Xswiftc -enable-experimental-feature -Xswiftc Embedded \
                  -Xswiftc -wmo -Xswiftc -Osize \
                  -Xswiftc -Xfrontend -Xswiftc -function-sections \
                  -Xcc -ffunction-sections -Xcc -fdata-sections \
                  -Xswiftc -Xllvm -Xswiftc -sil-disable-pass=object-outliner
# Why object-outliner is off: Embedded Swift 6.3 emits the array literals it outlines as
# weak symbols named after the function and a counter (`...Tv_r`, `...Tv0_r`); a module
# that re-emits another module's function may number them differently, and the linker
# then binds one copy's array to the other's code (seen: a ternary of two array literals
# returning the wrong arm, a name table lookup failing). Without the pass, arrays are
# built at run time and no such symbol exists.
# SwiftPM names the executable's entry point <product>_main in its object file.
LINK_FLAGS := -Wl,--defsym,main=swiftlet_main -Wl,--gc-sections

SOURCES := Package.swift $(shell find Sources -type f 2>/dev/null)

# Cross builds: Swift's bare-metal Embedded targets compiled against Debian's cross glibc and
# linked with the cross gcc (CROSS_PACKAGES in scripts/deps.sh). Flags as in EMBEDDED_FLAGS.
# Swift ships the Unicode tables for these targets soft-float only; armv7 and riscv64 link
# relabelled copies (integer-only interfaces; scripts/cross-unicode-tables.sh says why).
CROSS_DIR ?= .build-cross
CROSS_BINARIES := $(DIST)/swiftlet-aarch64 $(DIST)/swiftlet-armv7 $(DIST)/swiftlet-riscv64

# User Mode Linux kernels for the tier and the test guests (not part of `all`: a cold build takes
# minutes). scripts/uml-kernel.sh extracts Debian's linux-source-6.1 once into .build-uml/.
UML_DIR ?= .build-uml
UML_KERNELS := $(DIST)/uml/linux-tier $(DIST)/uml/linux-test

.PHONY: all sizes clean uml-kernels
uml-kernels: $(UML_KERNELS)
UML_PATCHES := uml/patches $(wildcard uml/patches/*.patch)
$(DIST)/uml/linux-tier: uml/tier.config scripts/uml-kernel.sh $(UML_PATCHES)
	bash scripts/uml-kernel.sh tier $@
$(DIST)/uml/linux-test: uml/tier.config uml/test.config scripts/uml-kernel.sh $(UML_PATCHES)
	bash scripts/uml-kernel.sh test $@

all: $(DIST)/swiftlet $(DIST)/swiftlet-dynamic $(DIST)/swiftlet-standard $(CROSS_BINARIES)

# SwiftPM's own link of the Embedded build is dynamic and lacks the Unicode tables that
# String comparison needs; passing them lets it succeed so that it writes OBJECT_LIST.
# The binaries we ship are then linked from those objects below.
# SwiftPM does not rebuild a module when only the flags change: start over when they do.
FLAGS_STAMP := $(EMB_DIR)/flags.stamp
$(shell mkdir -p $(EMB_DIR); echo '$(EMBEDDED_FLAGS)' | cmp -s - $(FLAGS_STAMP) || { rm -rf $(EMB_DIR); mkdir -p $(EMB_DIR); echo '$(EMBEDDED_FLAGS)' > $(FLAGS_STAMP); })

$(OBJECT_LIST): $(SOURCES)
	@test -f $(UNICODE_TABLES) || { echo "no $(UNICODE_TABLES): is swift (/opt/swift/usr/bin) on PATH?" >&2; exit 1; }
	$(SWIFT) build -c release --product swiftlet --scratch-path $(EMB_DIR) \
	    $(EMBEDDED_FLAGS) -Xlinker $(UNICODE_TABLES)
	@touch $@

$(DIST)/swiftlet: $(OBJECT_LIST)
	@mkdir -p $(DIST)
	$(CLANG) -static -o $@.full @$(OBJECT_LIST) $(LINK_FLAGS) $(UNICODE_TABLES) -l:libseccomp.a -lm
	$(STRIP) -o $@ $@.full && rm -f $@.full
	$(abspath $@) --version >/dev/null

$(DIST)/swiftlet-dynamic: $(OBJECT_LIST)
	@mkdir -p $(DIST)
	$(CLANG) -o $@.full @$(OBJECT_LIST) $(LINK_FLAGS) $(UNICODE_TABLES) \
	    -Wl,-Bstatic -lseccomp -Wl,-Bdynamic -Wl,--as-needed -lm
	$(STRIP) -o $@ $@.full && rm -f $@.full
	$(abspath $@) --version >/dev/null

$(DIST)/swiftlet-standard: $(SOURCES)
	@mkdir -p $(DIST)
	$(SWIFT) build -c release --product swiftlet --scratch-path $(STD_DIR) -Xswiftc -static-executable
	$(STRIP) -o $@ $(STD_DIR)/release/swiftlet
	$(abspath $@) --version >/dev/null

$(CROSS_BINARIES): $(DIST)/swiftlet-%: $(SOURCES) scripts/cross-build.sh scripts/cross-seccomp.sh scripts/cross-unicode-tables.sh
	CROSS_DIR=$(CROSS_DIR) bash scripts/cross-build.sh $* $@

sizes: all
	@for f in $(DIST)/swiftlet $(DIST)/swiftlet-dynamic $(DIST)/swiftlet-standard $(CROSS_BINARIES); do \
	    if ldd $$f >/dev/null 2>&1; then link=dynamic; else link=static; fi; \
	    printf '%-24s %9s bytes  %s\n' $$f "$$(stat -c %s $$f)" $$link; \
	done

clean:
	rm -rf $(DIST) $(EMB_DIR) $(STD_DIR) $(CROSS_DIR) $(UML_DIR)
