import Base

/// Recognising executables built for another CPU, and what qemu-user needs to run them.
/// Pure: the callers read the bytes (the first `ForeignExecutable.headerSize` of the file).
public enum ForeignExecutable {
    /// Enough for the ELF identification, e_type, e_machine and (32-bit) e_flags, and for a
    /// "#!" line of usual length.
    public static let headerSize = 128

    /// The qemu-user name of the architecture an ELF header is for ("aarch64", "arm",
    /// "mipsel", ...), nil when `header` is not an ELF executable or shared object, or is
    /// for a machine qemu-user does not emulate.
    public static func architecture(header: [UInt8]) -> String? {
        guard header.count >= 20, header[0] == 0x7f, header[1] == 0x45, header[2] == 0x4c, header[3] == 0x46
        else { return nil }
        let elfClass = header[4]    // 1: 32-bit, 2: 64-bit
        let data = header[5]        // 1: little-endian, 2: big-endian
        guard elfClass == 1 || elfClass == 2, data == 1 || data == 2 else { return nil }
        func half(_ at: Int) -> UInt16 {
            data == 1 ? UInt16(header[at]) | UInt16(header[at + 1]) << 8 : UInt16(header[at]) << 8 | UInt16(header[at + 1])
        }
        let type = half(16)
        guard type == 2 || type == 3 else { return nil }   // ET_EXEC, ET_DYN
        let little = data == 1
        let is64 = elfClass == 2
        switch half(18) {
        case 0xb7: return is64 ? (little ? "aarch64" : "aarch64_be") : nil
        case 0x28: return is64 ? nil : (little ? "arm" : "armeb")
        case 0x08:
            if is64 { return little ? "mips64el" : "mips64" }
            // n32 (64-bit registers, 32-bit pointers) is told apart by EF_MIPS_ABI2 in e_flags.
            if header.count >= 40 {
                let flags = little ? UInt32(header[36]) | UInt32(header[37]) << 8 | UInt32(header[38]) << 16 | UInt32(header[39]) << 24
                    : UInt32(header[36]) << 24 | UInt32(header[37]) << 16 | UInt32(header[38]) << 8 | UInt32(header[39])
                if flags & 0x20 != 0 { return little ? "mipsn32el" : "mipsn32" }
            }
            return little ? "mipsel" : "mips"
        case 0xf3: return is64 ? "riscv64" : "riscv32"
        case 0x15: return is64 ? (little ? "ppc64le" : "ppc64") : nil
        case 0x14: return is64 ? nil : "ppc"
        case 0x16: return is64 && !little ? "s390x" : nil
        case 0x3e: return is64 && little ? "x86_64" : nil
        case 0x03: return !is64 && little ? "i386" : nil
        case 0x102: return is64 && little ? "loongarch64" : nil
        default: return nil
        }
    }

    /// The architecture this binary was built for, as qemu names it.
    public static var hostArchitecture: String {
        #if arch(x86_64)
        return "x86_64"
        #elseif arch(arm64)
        return "aarch64"
        #elseif arch(arm)
        return "arm"
        #elseif arch(i386)
        return "i386"
        #elseif arch(riscv64)
        return "riscv64"
        #elseif arch(powerpc64le)
        return "ppc64le"
        #elseif arch(s390x)
        return "s390x"
        #else
        return "unknown"
        #endif
    }

    /// Whether the host kernel runs executables of `architecture` itself: its own, and the
    /// 32-bit compat mode of x86-64.
    public static func runsNatively(_ architecture: String, host: String = hostArchitecture) -> Bool {
        if architecture.bytesEqual(host) { return true }
        return host.bytesEqual("x86_64") && architecture.bytesEqual("i386")
    }

    /// The interpreter of a "#!" script and its optional single argument, split as the
    /// kernel does (the rest of the line after the first run of blanks is one argument).
    /// nil for anything else, or a line longer than the header.
    public static func scriptInterpreter(header: [UInt8]) -> (path: String, argument: String?)? {
        guard header.count > 2, header[0] == 35, header[1] == 33 else { return nil }   // "#!"
        guard let end = header.firstIndex(of: 10) else { return nil }
        var line = Array(header[2..<end])
        func blank(_ b: UInt8) -> Bool { b == 32 || b == 9 }
        while let last = line.last, blank(last) || last == 13 { line.removeLast() }
        var i = 0
        while i < line.count && blank(line[i]) { i += 1 }
        var j = i
        while j < line.count && !blank(line[j]) { j += 1 }
        guard j > i else { return nil }
        let path = String(decoding: line[i..<j], as: UTF8.self)
        while j < line.count && blank(line[j]) { j += 1 }
        let argument = j < line.count ? String(decoding: line[j...], as: UTF8.self) : nil
        return (path, argument)
    }

    /// Where the emulator for `architecture` is looked for on the host, in order: the
    /// `org.swiftlet.qemu` annotation, then where Debian's qemu-user-static puts it.
    public static func emulatorCandidates(_ architecture: String, annotation: String?) -> [String] {
        if let annotation { return [annotation] }
        return ["/usr/bin/qemu-" + architecture + "-static", "/usr/libexec/qemu-binfmt/" + architecture + "-binfmt-P"]
    }

    /// The annotation that names the emulator's host path.
    public static let emulatorAnnotation = "org.swiftlet.qemu"

    /// The binfmt_misc magic and mask for `architecture`, as Debian's qemu-user-static
    /// entries write them (\xNN escapes): ELF class, byte order, ET_EXEC or ET_DYN and
    /// e_machine, with the OS ABI ignored (and MIPS o32 told from n32 by e_flags).
    public static func binfmtMagicAndMask(_ architecture: String) -> (magic: String, mask: String)? {
        let elf = "\\x7f\\x45\\x4c\\x46"
        let zeros8 = "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
        let common = "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff"
        let mipsCommon = "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xfe\\xff\\xff\\xff\\xff\\xff\\xff\\xff"
        let ppcCommon = "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfc\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff"
        let x86Common = "\\xff\\xff\\xff\\xff\\xff\\xfe\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff"
        let typeLE = "\\x02\\x00", typeMaskLE = "\\xfe\\xff"
        let typeBE = "\\x00\\x02", typeMaskBE = "\\xff\\xfe"
        let e_flagsGap = "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
        func entry(_ ident: String, _ little: Bool, _ machine: String, _ mask: String) -> (String, String) {
            (elf + ident + "\\x01\\x00" + zeros8 + (little ? typeLE : typeBE) + machine,
             mask + (little ? typeMaskLE : typeMaskBE) + "\\xff\\xff")
        }
        // (name, class and byte order, little-endian, e_machine as stored, mask of the first 16 bytes)
        let table: [(String, String, Bool, String, String)] = [
            ("aarch64", "\\x02\\x01", true, "\\xb7\\x00", common),
            ("arm", "\\x01\\x01", true, "\\x28\\x00", common),
            ("armeb", "\\x01\\x02", false, "\\x00\\x28", common),
            ("riscv64", "\\x02\\x01", true, "\\xf3\\x00", common),
            ("riscv32", "\\x01\\x01", true, "\\xf3\\x00", common),
            ("mips64el", "\\x02\\x01", true, "\\x08\\x00", mipsCommon),
            ("mips64", "\\x02\\x02", false, "\\x00\\x08", mipsCommon),
            ("mipsel", "\\x01\\x01", true, "\\x08\\x00", mipsCommon),
            ("mips", "\\x01\\x02", false, "\\x00\\x08", mipsCommon),
            ("ppc64le", "\\x02\\x01", true, "\\x15\\x00", ppcCommon),
            ("ppc64", "\\x02\\x02", false, "\\x00\\x15", ppcCommon),
            ("s390x", "\\x02\\x02", false, "\\x00\\x16", ppcCommon),
            ("x86_64", "\\x02\\x01", true, "\\x3e\\x00", x86Common),
            ("i386", "\\x01\\x01", true, "\\x03\\x00", x86Common),
        ]
        guard let row = table.first(where: { $0.0.bytesEqual(architecture) }) else { return nil }
        let (magic, mask) = entry(row.1, row.2, row.3, row.4)
        if architecture.bytesEqual("mipsel") || architecture.bytesEqual("mips") {
            // e_flags bit EF_MIPS_ABI2 (in byte 36 little-endian, 39 big-endian) clear: o32, not n32.
            let gap = row.2 ? e_flagsGap : e_flagsGap + "\\x00\\x00\\x00"
            return (magic + gap + "\\x00", mask + gap + "\\x20")
        }
        if architecture.bytesEqual("ppc64le") {
            // Debian's entry ignores the high byte of e_machine.
            return (magic, String(decoding: Array(mask.utf8.dropLast(4)), as: UTF8.self) + "\\x00")
        }
        return (magic, mask)
    }

    /// The line written to binfmt_misc's `register` for running `architecture` through
    /// `interpreter`: F (the kernel opens the emulator now, so it need not exist in the
    /// container) and P (argv[0] is kept; qemu learns it from AT_FLAGS).
    public static func binfmtRegistration(_ architecture: String, interpreter: String) -> String? {
        guard let (magic, mask) = binfmtMagicAndMask(architecture) else { return nil }
        return ":qemu-" + architecture + ":M::" + magic + ":" + mask + ":" + interpreter + ":PF"
    }
}
