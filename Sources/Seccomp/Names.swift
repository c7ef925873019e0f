import Base
import CLinux
import JSON

/// What a filter does with a matching system call: the SCMP_ACT_* names of the runtime-spec.
public enum SeccompAction: Equatable, Sendable {
    case allow
    case errno(UInt16)
    case killThread
    case killProcess
    case trap
    /// The value is handed to a ptrace tracer; without one the call fails with ENOSYS.
    case trace(UInt16)
    case log
    case notify

    /// The 32-bit SECCOMP_RET_* value the kernel sees (identical to libseccomp's SCMP_ACT_*).
    public var raw: UInt32 {
        switch self {
        case .allow: return 0x7fff_0000
        case .errno(let e): return 0x0005_0000 | UInt32(e)
        case .killThread: return 0x0000_0000
        case .killProcess: return 0x8000_0000
        case .trap: return 0x0003_0000
        case .trace(let v): return 0x7ff0_0000 | UInt32(v)
        case .log: return 0x7ffc_0000
        case .notify: return 0x7fc0_0000
        }
    }

    /// Parses an SCMP_ACT_* name. `errnoRet` applies to ERRNO and TRACE only and
    /// defaults to EPERM, as in runc; for other actions it is ignored, as in runc.
    static func parse(_ name: String, errnoRet: UInt32?, path: String) throws(SwiftletError) -> SeccompAction {
        var data: UInt16 = UInt16(EPERM)
        if let e = errnoRet {
            // SECCOMP_RET_DATA has 16 bits; runc would silently truncate.
            guard e <= 0xffff else {
                throw SwiftletError(.seccomp, path + ": errno " + String(e) + " does not fit in 16 bits")
            }
            data = UInt16(e)
        }
        for (known, kind) in actionKinds where known.bytesEqual(name) {
            switch kind {
            case .errno: return .errno(data)
            case .trace: return .trace(data)
            default: return kind
            }
        }
        throw SwiftletError(.seccomp, path + ": unknown action " + jsonQuoted(name))
    }
}

/// Argument comparisons, SCMP_CMP_*; raw values are libseccomp's enum scmp_compare.
public enum SeccompOperator: UInt32, Sendable {
    case notEqual = 1, lessThan, lessOrEqual, equal, greaterOrEqual, greaterThan, maskedEqual

    static func parse(_ name: String, path: String) throws(SwiftletError) -> SeccompOperator {
        for (known, op) in operatorNames where known.bytesEqual(name) { return op }
        throw SwiftletError(.seccomp, path + ": unknown operator " + jsonQuoted(name))
    }
}

/// Sorted, as `features` lists them. ERRNO and TRACE get their data when parsed.
let actionKinds: [(String, SeccompAction)] = [
    ("SCMP_ACT_ALLOW", .allow), ("SCMP_ACT_ERRNO", .errno(0)), ("SCMP_ACT_KILL", .killThread),
    ("SCMP_ACT_KILL_PROCESS", .killProcess), ("SCMP_ACT_KILL_THREAD", .killThread), ("SCMP_ACT_LOG", .log),
    ("SCMP_ACT_NOTIFY", .notify), ("SCMP_ACT_TRACE", .trace(0)), ("SCMP_ACT_TRAP", .trap),
]

let operatorNames: [(String, SeccompOperator)] = [
    ("SCMP_CMP_EQ", .equal), ("SCMP_CMP_GE", .greaterOrEqual), ("SCMP_CMP_GT", .greaterThan),
    ("SCMP_CMP_LE", .lessOrEqual), ("SCMP_CMP_LT", .lessThan), ("SCMP_CMP_MASKED_EQ", .maskedEqual),
    ("SCMP_CMP_NE", .notEqual),
]

/// Every architecture the runtime-spec names, with libseccomp's name for it (sorted by
/// the OCI name). Whether the linked libseccomp knows it is asked at run time, so a
/// newer static libseccomp brings LOONGARCH64, M68K, SH along without a code change.
let architectureNames: [(oci: String, libseccomp: String)] = [
    ("SCMP_ARCH_AARCH64", "aarch64"), ("SCMP_ARCH_ARM", "arm"), ("SCMP_ARCH_LOONGARCH64", "loongarch64"),
    ("SCMP_ARCH_M68K", "m68k"), ("SCMP_ARCH_MIPS", "mips"), ("SCMP_ARCH_MIPS64", "mips64"),
    ("SCMP_ARCH_MIPS64N32", "mips64n32"), ("SCMP_ARCH_MIPSEL", "mipsel"), ("SCMP_ARCH_MIPSEL64", "mipsel64"),
    ("SCMP_ARCH_MIPSEL64N32", "mipsel64n32"), ("SCMP_ARCH_PARISC", "parisc"), ("SCMP_ARCH_PARISC64", "parisc64"),
    ("SCMP_ARCH_PPC", "ppc"), ("SCMP_ARCH_PPC64", "ppc64"), ("SCMP_ARCH_PPC64LE", "ppc64le"),
    ("SCMP_ARCH_RISCV64", "riscv64"), ("SCMP_ARCH_S390", "s390"), ("SCMP_ARCH_S390X", "s390x"),
    ("SCMP_ARCH_SH", "sh"), ("SCMP_ARCH_SHEB", "sheb"), ("SCMP_ARCH_X32", "x32"),
    ("SCMP_ARCH_X86", "x86"), ("SCMP_ARCH_X86_64", "x86_64"),
]

/// libseccomp's token for an OCI architecture name; nil if the linked libseccomp lacks it.
func architectureToken(_ ociName: String) -> UInt32? {
    for entry in architectureNames where entry.oci.bytesEqual(ociName) {
        let token = seccomp_arch_resolve_name(entry.libseccomp)
        return token == 0 ? nil : token
    }
    return nil
}

func isKnownArchitecture(_ ociName: String) -> Bool {
    architectureNames.contains { $0.oci.bytesEqual(ociName) }
}

/// Filter flags in runc's order. TSYNC is accepted and ignored like runc: the runtime
/// is single-threaded when it loads the filter, and exec ends any other thread anyway.
let flagTSync = "SECCOMP_FILTER_FLAG_TSYNC"
let flagLog = "SECCOMP_FILTER_FLAG_LOG"
let flagSpecAllow = "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
let flagWaitKillableRecv = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
let knownFlagNames: [String] = [flagTSync, flagSpecAllow, flagLog, flagWaitKillableRecv]

/// The seccomp(2) flag bit behind an OCI flag name (0 for TSYNC, which we never pass).
func kernelFlag(_ name: String) -> UInt32? {
    if name.bytesEqual(flagTSync) { return 0 }
    if name.bytesEqual(flagLog) { return UInt32(SECCOMP_FILTER_FLAG_LOG) }
    if name.bytesEqual(flagSpecAllow) { return UInt32(SECCOMP_FILTER_FLAG_SPEC_ALLOW) }
    if name.bytesEqual(flagWaitKillableRecv) { return UInt32(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) }
    return nil
}

