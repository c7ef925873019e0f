import Base
import CLinux

/// The GPIO ioctls (type 0xB4) `swiftlet agent` answers for a container whose GPIO is
/// mediated: the ones that create line fds or change what a line fd may do (v1
/// LINEHANDLE, LINEEVENT, HANDLE_SET_CONFIG; v2 GET_LINE, LINE_SET_CONFIG) and line info
/// and its watches (so ungranted lines can be shown as used). Chip info, value reads and
/// writes, edge events and unwatching go straight to the kernel.
public let gpioMediatedIoctlNumbers: [UInt8] = [0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0A, 0x0B, 0x0D]

/// One classic BPF instruction (struct sock_filter).
public struct BPFInstruction: Equatable, Sendable {
    public var code: UInt16
    public var jt: UInt8
    public var jf: UInt8
    public var k: UInt32
    public init(_ code: UInt16, _ jt: UInt8 = 0, _ jf: UInt8 = 0, _ k: UInt32) {
        self.code = code; self.jt = jt; self.jf = jf; self.k = k
    }

    static let loadWord: UInt16 = 0x20      // BPF_LD | BPF_W | BPF_ABS
    static let jumpEqual: UInt16 = 0x15     // BPF_JMP | BPF_JEQ | BPF_K
    static let jumpAlways: UInt16 = 0x05    // BPF_JMP | BPF_JA
    static let jumpGreater: UInt16 = 0x25   // BPF_JMP | BPF_JGT | BPF_K
    static let jumpGreaterEqual: UInt16 = 0x35  // BPF_JMP | BPF_JGE | BPF_K
    static let andConstant: UInt16 = 0x54   // BPF_ALU | BPF_AND | BPF_K
    static let subtractConstant: UInt16 = 0x14  // BPF_ALU | BPF_SUB | BPF_K
    static let returnConstant: UInt16 = 0x06  // BPF_RET | BPF_K
    static let returnAccumulator: UInt16 = 0x16  // BPF_RET | BPF_A
}

/// Where a filter checks for ioctl: the audit architecture the kernel reports in
/// seccomp_data.arch and ioctl's numbers under it (x32 shares x86_64's audit architecture).
public struct IoctlSite: Equatable, Sendable {
    public var auditArch: UInt32
    public var numbers: [UInt32]
    public init(auditArch: UInt32, numbers: [UInt32]) { self.auditArch = auditArch; self.numbers = numbers }
}

/// Makes a compiled filter notify the GPIO ioctls the agent mediates wherever it would
/// have allowed them (or logged them), whatever its rules say about ioctl.
///
/// libseccomp merges rules per system call, and an unconditional rule wins over the
/// conditional ones of the same call, so a profile that allows ioctl outright would never
/// notify if the GPIO rules were simply added to it. Instead every `RET ALLOW` (and
/// `RET LOG`) of the compiled program becomes a jump to a check appended at its end:
/// a mediated GPIO ioctl returns NOTIFY there, anything else the action it had. So
/// NOTIFY replaces exactly the permissive outcomes: a profile that denies, traps or kills
/// an ioctl still does, as the kernel ranks actions across stacked filters.
///
/// The check matches `(args[1] & 0xffff) == 0xB4NN` on ioctl's request: type and number,
/// never the size and direction bits, which differ between ABIs (32-bit structs, MIPS,
/// PowerPC and SPARC encodings), so one rule serves every architecture of the filter.
///
/// Where the profile's verdict on ioctl is a constant ALLOW (or LOG) whatever the arguments,
/// as in podman's default profile, the same check also goes in front of the program for
/// those architectures and numbers, answering ioctl without walking the profile: the
/// kernel's action cache cannot skip a filter that reads arguments, and the profile is most
/// of the cost of an untrapped ioctl. Its answer is the one the full program gives.
/// Pure: `program` is libseccomp's output, `sites` where ioctl is for each architecture.
public func notifyingGPIO(_ program: [BPFInstruction], sites: [IoctlSite], bigEndian: Bool,
                          shortcut: Bool = true) throws(SwiftletError) -> [BPFInstruction] {
    let allow = SeccompAction.allow.raw, log = SeccompAction.log.raw
    var out = program
    var allowJumps: [Int] = [], logJumps: [Int] = []
    for (i, insn) in program.enumerated() {
        if insn.code == BPFInstruction.returnAccumulator {
            // libseccomp never returns a computed action; one we cannot see cannot be redirected.
            throw SwiftletError(.seccomp, "GPIO mediation: the compiled filter returns a computed action", errno: EINVAL)
        }
        guard insn.code == BPFInstruction.returnConstant else { continue }
        if insn.k == allow { allowJumps.append(i) } else if insn.k == log { logJumps.append(i) }
    }
    for (jumps, action) in [(allowJumps, allow), (logJumps, log)] where !jumps.isEmpty {
        let start = out.count
        for i in jumps { out[i] = BPFInstruction(BPFInstruction.jumpAlways, 0, 0, UInt32(start - i - 1)) }
        out += try gpioCheck(sites: sites, otherwise: action, bigEndian: bigEndian)
    }
    guard shortcut, let (front, action) = constantIoctlSites(program, sites: sites) else { return out }
    return try gpioCheck(sites: front, otherwise: action, bigEndian: bigEndian, fallThrough: true) + out
}

/// The ioctl sites whose verdict in `program` is one permissive action for any arguments,
/// with that action (ALLOW where any is allowed, else LOG); nil when there are none.
func constantIoctlSites(_ program: [BPFInstruction], sites: [IoctlSite]) -> ([IoctlSite], UInt32)? {
    let allow = SeccompAction.allow.raw, log = SeccompAction.log.raw
    var found: [(site: IoctlSite, action: UInt32)] = []
    for site in sites {
        for nr in site.numbers {
            guard let verdict = constantVerdict(program, arch: site.auditArch, nr: nr),
                  verdict == allow || verdict == log else { continue }
            found.append((IoctlSite(auditArch: site.auditArch, numbers: [nr]), verdict))
        }
    }
    let action = found.contains(where: { $0.action == allow }) ? allow : log
    var chosen: [IoctlSite] = []
    for f in found where f.action == action {
        if let i = chosen.firstIndex(where: { $0.auditArch == f.site.auditArch }) {
            chosen[i].numbers += f.site.numbers
        } else {
            chosen.append(f.site)
        }
    }
    return chosen.isEmpty ? nil : (chosen, action)
}

/// The action `program` returns for system call `nr` of `arch` whatever its arguments and
/// instruction pointer: nil when the path reads anything but the number and architecture,
/// or runs an instruction this evaluation does not know. Classic BPF only jumps forward,
/// so the walk ends.
func constantVerdict(_ program: [BPFInstruction], arch: UInt32, nr: UInt32) -> UInt32? {
    var a: UInt32 = 0, x: UInt32 = 0, mem = [UInt32](repeating: 0, count: 16), pc = 0
    while pc < program.count {
        let i = program[pc]
        pc += 1
        switch i.code {
        case 0x20:  // BPF_LD | BPF_W | BPF_ABS: seccomp_data.nr and .arch only
            if i.k == 0 { a = nr } else if i.k == 4 { a = arch } else { return nil }
        case 0x00: a = i.k
        case 0x01: x = i.k
        case 0x60: guard i.k < 16 else { return nil }; a = mem[Int(i.k)]
        case 0x61: guard i.k < 16 else { return nil }; x = mem[Int(i.k)]
        case 0x02: guard i.k < 16 else { return nil }; mem[Int(i.k)] = a
        case 0x03: guard i.k < 16 else { return nil }; mem[Int(i.k)] = x
        case 0x07: x = a
        case 0x87: a = x
        case 0x04: a = a &+ i.k
        case 0x14: a = a &- i.k
        case 0x44: a |= i.k
        case 0x54: a &= i.k
        case 0xa4: a ^= i.k
        case 0x05: pc += Int(i.k)
        case 0x15: pc += Int(a == i.k ? i.jt : i.jf)
        case 0x25: pc += Int(a > i.k ? i.jt : i.jf)
        case 0x35: pc += Int(a >= i.k ? i.jt : i.jf)
        case 0x45: pc += Int(a & i.k != 0 ? i.jt : i.jf)
        case 0x1d: pc += Int(a == x ? i.jt : i.jf)
        case 0x2d: pc += Int(a > x ? i.jt : i.jf)
        case 0x3d: pc += Int(a >= x ? i.jt : i.jf)
        case 0x4d: pc += Int(a & x != 0 ? i.jt : i.jf)
        case BPFInstruction.returnConstant: return i.k
        default: return nil
        }
    }
    return nil
}

/// The appended check: NOTIFY for a mediated GPIO ioctl of one of `sites`, else `otherwise`.
/// Every ioctl the profile allows runs it, so the request is tested by ranges, not number by
/// number: the value reads and writes above the mediated numbers leave after one comparison.
/// With `fallThrough` (the check in front of the program) a system call that is not one of
/// the sites' ioctls goes on to the instruction after the check instead.
func gpioCheck(sites: [IoctlSite], otherwise: UInt32, bigEndian: Bool,
               fallThrough: Bool = false) throws(SwiftletError) -> [BPFInstruction] {
    let notify = SeccompAction.notify.raw
    let archOffset: UInt32 = 4, nrOffset: UInt32 = 0
    // seccomp_data.args[1] is a u64 in the kernel's byte order; ioctl's request is its low word.
    let requestOffset: UInt32 = 16 + 8 + (bigEndian ? 4 : 0)
    // The mediated numbers as runs of consecutive ones, relative to the lowest.
    let sorted = gpioMediatedIoctlNumbers.map { UInt32($0) }.sorted()
    let base = 0xB400 | sorted[0]
    var runs: [(low: UInt32, high: UInt32)] = []
    for n in sorted.map({ $0 - sorted[0] }) {
        if let last = runs.last, n == last.high + 1 { runs[runs.count - 1].high = n } else { runs.append((n, n)) }
    }
    let span = runs[runs.count - 1].high
    // Per run: `jge low` (all but the first: below it, between runs, is no mediated number),
    // then `jgt high` (not above: mediated).
    let rangeSize = 2 * runs.count - 1
    // Layout: the architecture dispatch, the per-site blocks, then RET otherwise, RET NOTIFY.
    let dispatch = 1 + sites.count
    var blockSizes: [Int] = []
    for site in sites { blockSizes.append(1 + site.numbers.count + 4 + rangeSize) }
    let total = dispatch + 1 + blockSizes.reduce(0, +) + 2
    let returnOtherwise = total - 2, returnNotify = total - 1
    let miss = fallThrough ? total : returnOtherwise
    var code: [BPFInstruction] = [BPFInstruction(BPFInstruction.loadWord, 0, 0, archOffset)]
    func offset(_ to: Int, from: Int) throws(SwiftletError) -> UInt8 {
        let d = to - from - 1
        guard d >= 0 && d <= 255 else {
            throw SwiftletError(.seccomp, "GPIO mediation: too many architectures in the filter", errno: EINVAL)
        }
        return UInt8(d)
    }
    var blockStart = dispatch + 1
    for (i, site) in sites.enumerated() {
        code.append(BPFInstruction(BPFInstruction.jumpEqual, try offset(blockStart, from: code.count), 0, site.auditArch))
        blockStart += blockSizes[i]
    }
    code.append(fallThrough ? BPFInstruction(BPFInstruction.jumpAlways, 0, 0, UInt32(miss - code.count - 1))
                            : BPFInstruction(BPFInstruction.returnConstant, 0, 0, otherwise))
    for site in sites {
        code.append(BPFInstruction(BPFInstruction.loadWord, 0, 0, nrOffset))
        let requestLoad = code.count + site.numbers.count
        for (j, nr) in site.numbers.enumerated() {
            let last = j == site.numbers.count - 1
            code.append(BPFInstruction(BPFInstruction.jumpEqual, try offset(requestLoad, from: code.count),
                                       last ? try offset(miss, from: code.count) : 0, nr))
        }
        code.append(BPFInstruction(BPFInstruction.loadWord, 0, 0, requestOffset))
        code.append(BPFInstruction(BPFInstruction.andConstant, 0, 0, 0xffff))
        // Below the lowest mediated number the subtraction wraps to a large value.
        code.append(BPFInstruction(BPFInstruction.subtractConstant, 0, 0, base))
        code.append(BPFInstruction(BPFInstruction.jumpGreater, try offset(returnOtherwise, from: code.count), 0, span))
        for (k, run) in runs.enumerated() {
            if k > 0 {
                code.append(BPFInstruction(BPFInstruction.jumpGreaterEqual, 0, try offset(returnOtherwise, from: code.count), run.low))
            }
            // The last run's high is the span, already tested: its `jgt` never jumps.
            let next = k == runs.count - 1 ? returnOtherwise : code.count + 1
            code.append(BPFInstruction(BPFInstruction.jumpGreater, try offset(next, from: code.count),
                                       try offset(returnNotify, from: code.count), run.high))
        }
    }
    code.append(BPFInstruction(BPFInstruction.returnConstant, 0, 0, otherwise))
    code.append(BPFInstruction(BPFInstruction.returnConstant, 0, 0, notify))
    return code
}

/// Where ioctl is for the native architecture and `architectures` (libseccomp tokens, as
/// the filter lists them), grouped by the audit architecture the kernel reports.
func ioctlSites(architectures: [UInt32]) -> [IoctlSite] {
    var sites: [IoctlSite] = []
    for token in [seccomp_arch_native()] + architectures {
        let number = seccomp_syscall_resolve_name_arch(token, "ioctl")
        if number < 0 { continue }
        // x32 system calls come under AUDIT_ARCH_X86_64, numbered with bit 30 set.
        let x32 = token == seccomp_arch_resolve_name("x32")
        let audit = x32 ? seccomp_arch_resolve_name("x86_64") : token
        let nr = x32 ? UInt32(bitPattern: number) | 0x4000_0000 : UInt32(bitPattern: number)
        if let i = sites.firstIndex(where: { $0.auditArch == audit }) {
            if !sites[i].numbers.contains(nr) { sites[i].numbers.append(nr) }
        } else {
            sites.append(IoctlSite(auditArch: audit, numbers: [nr]))
        }
    }
    return sites
}

/// struct sock_filter bytes (host byte order) to instructions and back.
func decodeBPF(_ bytes: [UInt8]) -> [BPFInstruction] {
    var out: [BPFInstruction] = []
    out.reserveCapacity(bytes.count / 8)
    bytes.withUnsafeBytes { raw in
        var i = 0
        while i + 8 <= raw.count {
            out.append(BPFInstruction(raw.loadUnaligned(fromByteOffset: i, as: UInt16.self),
                                      raw[i + 2], raw[i + 3],
                                      raw.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self)))
            i += 8
        }
    }
    return out
}

func encodeBPF(_ program: [BPFInstruction]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(program.count * 8)
    for insn in program {
        withUnsafeBytes(of: insn.code) { out += $0 }
        out.append(insn.jt)
        out.append(insn.jf)
        withUnsafeBytes(of: insn.k) { out += $0 }
    }
    return out
}

/// True on a big-endian host (seccomp_data's u64 arguments are in host order).
let hostIsBigEndian = UInt16(1).bigEndian == 1
