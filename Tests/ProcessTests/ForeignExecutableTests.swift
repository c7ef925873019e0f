import Foundation
import Process
import Testing

/// A crafted ELF header: identification, e_type and e_machine in the given byte order,
/// and (for 32-bit) e_flags at offset 36.
private func elfHeader(class elfClass: UInt8, little: Bool, type: UInt16 = 2, machine: UInt16,
                       flags: UInt32 = 0) -> [UInt8] {
    var h = [UInt8](repeating: 0, count: 64)
    h[0...3] = [0x7f, 0x45, 0x4c, 0x46]
    h[4] = elfClass
    h[5] = little ? 1 : 2
    h[6] = 1
    func put16(_ v: UInt16, at i: Int) {
        h[i] = UInt8(little ? v & 0xff : v >> 8)
        h[i + 1] = UInt8(little ? v >> 8 : v & 0xff)
    }
    put16(type, at: 16)
    put16(machine, at: 18)
    for k in 0..<4 {
        let shift = little ? 8 * k : 8 * (3 - k)
        h[36 + k] = UInt8((flags >> UInt32(shift)) & 0xff)
    }
    return h
}

/// Applies a binfmt_misc magic and mask (\xNN escapes or plain characters) to `bytes` as
/// the kernel does: every masked byte must equal the magic's.
private func binfmtMatches(magic: String, mask: String, _ bytes: [UInt8]) -> Bool {
    func decode(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var chars = Array(s.utf8)[...]
        while let c = chars.first {
            if c == 92, chars.count >= 4 {   // \xNN
                out.append(UInt8(String(decoding: chars.dropFirst(2).prefix(2), as: UTF8.self), radix: 16)!)
                chars = chars.dropFirst(4)
            } else {
                out.append(c)
                chars = chars.dropFirst()
            }
        }
        return out
    }
    let m = decode(magic), k = decode(mask)
    guard m.count == k.count, bytes.count >= m.count else { return false }
    for i in 0..<m.count where bytes[i] & k[i] != m[i] & k[i] { return false }
    return true
}

@Suite struct ForeignExecutableTests {
    @Test func elfMachinesMapToQemuNames() {
        let cases: [(UInt8, Bool, UInt16, String)] = [
            (2, true, 0xb7, "aarch64"), (1, true, 0x28, "arm"), (1, false, 0x28, "armeb"),
            (1, true, 0x08, "mipsel"), (1, false, 0x08, "mips"), (2, true, 0x08, "mips64el"),
            (2, false, 0x08, "mips64"), (2, true, 0xf3, "riscv64"), (2, true, 0x15, "ppc64le"),
            (2, false, 0x15, "ppc64"), (2, false, 0x16, "s390x"), (2, true, 0x3e, "x86_64"),
            (1, true, 0x03, "i386"), (2, true, 0x102, "loongarch64"),
        ]
        for (elfClass, little, machine, name) in cases {
            #expect(ForeignExecutable.architecture(header: elfHeader(class: elfClass, little: little, machine: machine)) == name,
                    "machine \(machine) class \(elfClass) little \(little)")
        }
        // Position-independent executables (ET_DYN) count too.
        #expect(ForeignExecutable.architecture(header: elfHeader(class: 2, little: true, type: 3, machine: 0xb7)) == "aarch64")
    }

    @Test func mipsN32IsToldApartByFlags() {
        #expect(ForeignExecutable.architecture(header: elfHeader(class: 1, little: true, machine: 8, flags: 0x20)) == "mipsn32el")
        #expect(ForeignExecutable.architecture(header: elfHeader(class: 1, little: false, machine: 8, flags: 0x20)) == "mipsn32")
        #expect(ForeignExecutable.architecture(header: elfHeader(class: 1, little: true, machine: 8, flags: 0x7001_1005)) == "mipsel")
    }

    @Test func notAnExecutableElf() {
        #expect(ForeignExecutable.architecture(header: []) == nil)
        #expect(ForeignExecutable.architecture(header: Array("#!/bin/sh\necho hi\n".utf8)) == nil)
        var truncated = elfHeader(class: 2, little: true, machine: 0xb7)
        truncated.removeLast(truncated.count - 19)
        #expect(ForeignExecutable.architecture(header: truncated) == nil)
        // A relocatable object (ET_REL) is not run.
        #expect(ForeignExecutable.architecture(header: elfHeader(class: 2, little: true, type: 1, machine: 0xb7)) == nil)
        // Bad class, bad byte order, unknown machine, impossible combinations.
        #expect(ForeignExecutable.architecture(header: elfHeader(class: 3, little: true, machine: 0xb7)) == nil)
        var badData = elfHeader(class: 2, little: true, machine: 0xb7)
        badData[5] = 7
        #expect(ForeignExecutable.architecture(header: badData) == nil)
        #expect(ForeignExecutable.architecture(header: elfHeader(class: 2, little: true, machine: 0x9999)) == nil)
        #expect(ForeignExecutable.architecture(header: elfHeader(class: 1, little: true, machine: 0xb7)) == nil)
        #expect(ForeignExecutable.architecture(header: elfHeader(class: 2, little: true, machine: 0x28)) == nil)
        var notElf = elfHeader(class: 2, little: true, machine: 0xb7)
        notElf[1] = 0x46
        #expect(ForeignExecutable.architecture(header: notElf) == nil)
    }

    @Test func thisTestBinaryIsNative() throws {
        let handle = try #require(FileHandle(forReadingAtPath: "/proc/self/exe"))
        let header = [UInt8](handle.readData(ofLength: ForeignExecutable.headerSize))
        let arch = try #require(ForeignExecutable.architecture(header: header))
        #expect(arch == ForeignExecutable.hostArchitecture)
        #expect(ForeignExecutable.runsNatively(arch))
    }

    @Test func nativeAndCompatArchitectures() {
        #expect(ForeignExecutable.runsNatively("x86_64", host: "x86_64"))
        #expect(ForeignExecutable.runsNatively("i386", host: "x86_64"))
        #expect(!ForeignExecutable.runsNatively("aarch64", host: "x86_64"))
        #expect(!ForeignExecutable.runsNatively("x86_64", host: "aarch64"))
        #expect(!ForeignExecutable.runsNatively("x86_64", host: "i386"))
    }

    @Test func scriptInterpreterLine() throws {
        let plain = try #require(ForeignExecutable.scriptInterpreter(header: Array("#!/bin/sh\necho\n".utf8)))
        #expect(plain.path == "/bin/sh" && plain.argument == nil)
        let withArgument = try #require(ForeignExecutable.scriptInterpreter(header: Array("#! /usr/bin/env  python3 -u \r\n".utf8)))
        #expect(withArgument.path == "/usr/bin/env")
        #expect(withArgument.argument == "python3 -u")
        #expect(ForeignExecutable.scriptInterpreter(header: Array("#!\n".utf8)) == nil)
        #expect(ForeignExecutable.scriptInterpreter(header: Array("#!/bin/sh".utf8)) == nil)   // no end of line in the header
        #expect(ForeignExecutable.scriptInterpreter(header: Array("echo hi\n".utf8)) == nil)
    }

    @Test func emulatorIsLookedForInOrder() {
        #expect(ForeignExecutable.emulatorCandidates("aarch64", annotation: nil)
                == ["/usr/bin/qemu-aarch64-static", "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"])
        #expect(ForeignExecutable.emulatorCandidates("arm", annotation: "/opt/qemu/arm") == ["/opt/qemu/arm"])
    }

    /// Debian's qemu-user-static entries (/usr/lib/binfmt.d/qemu-*.conf, bookworm).
    @Test func registrationMatchesDebiansEntries() throws {
        let debian: [(String, String)] = [
            ("aarch64", #":qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:"#),
            ("arm", #":qemu-arm:M::\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:"#),
            ("mipsel", #":qemu-mipsel:M::\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xfe\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20:"#),
            ("mips", #":qemu-mips:M::\x7f\x45\x4c\x46\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xfe\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20:"#),
            ("riscv64", #":qemu-riscv64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:"#),
            ("ppc64le", #":qemu-ppc64le:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00:\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00:"#),
            ("s390x", #":qemu-s390x:M::\x7f\x45\x4c\x46\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16:\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff:"#),
            ("mips64el", #":qemu-mips64el:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xfe\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:"#),
        ]
        for (arch, prefix) in debian {
            let line = try #require(ForeignExecutable.binfmtRegistration(arch, interpreter: "/proc/self/fd/7"))
            #expect(line == prefix + "/proc/self/fd/7:PF", "\(arch)")
        }
        #expect(ForeignExecutable.binfmtRegistration("pdp11", interpreter: "/x") == nil)
    }

    /// Each entry matches the headers its architecture is recognised from, and no other's.
    @Test func magicMatchesExactlyItsOwnArchitecture() throws {
        let headers: [(String, [UInt8])] = [
            ("aarch64", elfHeader(class: 2, little: true, machine: 0xb7)),
            ("arm", elfHeader(class: 1, little: true, machine: 0x28)),
            ("armeb", elfHeader(class: 1, little: false, machine: 0x28)),
            ("mipsel", elfHeader(class: 1, little: true, machine: 0x08)),
            ("mips", elfHeader(class: 1, little: false, machine: 0x08)),
            ("mips64el", elfHeader(class: 2, little: true, machine: 0x08)),
            ("riscv64", elfHeader(class: 2, little: true, machine: 0xf3)),
            ("ppc64le", elfHeader(class: 2, little: true, machine: 0x15)),
            ("s390x", elfHeader(class: 2, little: false, machine: 0x16)),
            ("x86_64", elfHeader(class: 2, little: true, machine: 0x3e)),
            ("i386", elfHeader(class: 1, little: true, machine: 0x03)),
        ]
        for (arch, _) in headers {
            let (magic, mask) = try #require(ForeignExecutable.binfmtMagicAndMask(arch))
            for (other, header) in headers {
                #expect(ForeignExecutable.architecture(header: header) == other)
                #expect(binfmtMatches(magic: magic, mask: mask, header) == (other == arch), "\(arch) entry on \(other)")
            }
            // PIE executables too.
            let pie = headers.first { $0.0 == arch }!.1
            var dyn = pie
            if dyn[5] == 1 { dyn[16] = 3 } else { dyn[17] = 3 }
            #expect(binfmtMatches(magic: magic, mask: mask, dyn), "\(arch) PIE")
        }
    }
}
