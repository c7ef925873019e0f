import Base
import CLinux
import Foundation
import OCISpec
import Testing
import TestSupport
@testable import Seccomp

// What a filter built with mediatingGPIO answers, found by running its BPF on system calls
// (an interpreter of the classic BPF seccomp accepts), so the tests check the program the
// kernel gets, not how it was assembled.

private let auditX86_64: UInt32 = 0xC000_003E
private let auditI386: UInt32 = 0x4000_0003
private let ioctlX86_64: UInt32 = 16
private let ioctlI386: UInt32 = 54
private let ioctlX32: UInt32 = 0x4000_0000 | 514
private let notify = SeccompAction.notify.raw
private let allow = SeccompAction.allow.raw

/// Runs `program` on one system call; nil for an instruction seccomp would not accept.
private func run(_ program: [BPFInstruction], nr: UInt32, arch: UInt32 = auditX86_64, args: [UInt64] = []) -> UInt32? {
    execute(program, nr: nr, arch: arch, args: args).verdict
}

/// The verdict and how many instructions the program ran to reach it.
private func execute(_ program: [BPFInstruction], nr: UInt32, arch: UInt32 = auditX86_64,
                     args: [UInt64] = []) -> (verdict: UInt32?, steps: Int) {
    var data = [UInt8](repeating: 0, count: 64)
    func put32(_ v: UInt32, _ at: Int) { for i in 0..<4 { data[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
    put32(nr, 0); put32(arch, 4)
    for (i, a) in args.enumerated() { put32(UInt32(truncatingIfNeeded: a), 16 + 8 * i); put32(UInt32(truncatingIfNeeded: a >> 32), 20 + 8 * i) }
    func word(_ at: UInt32) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(data[Int(at) + i]) << (8 * UInt32(i)) }
        return v
    }
    var a: UInt32 = 0, x: UInt32 = 0, mem = [UInt32](repeating: 0, count: 16), pc = 0
    var steps = 0
    while pc < program.count {
        let i = program[pc]
        pc += 1
        steps += 1
        switch i.code {
        case 0x20: guard i.k % 4 == 0 && i.k < 64 else { return (nil, steps) }; a = word(i.k)
        case 0x00: a = i.k
        case 0x01: x = i.k
        case 0x60: a = mem[Int(i.k & 15)]
        case 0x61: x = mem[Int(i.k & 15)]
        case 0x02: mem[Int(i.k & 15)] = a
        case 0x03: mem[Int(i.k & 15)] = x
        case 0x07: x = a
        case 0x87: a = x
        case 0x04: a = a &+ i.k
        case 0x14: a = a &- i.k
        case 0x44: a |= i.k
        case 0x54: a &= i.k
        case 0x05: pc += Int(i.k)
        case 0x15: pc += Int(a == i.k ? i.jt : i.jf)
        case 0x25: pc += Int(a > i.k ? i.jt : i.jf)
        case 0x35: pc += Int(a >= i.k ? i.jt : i.jf)
        case 0x45: pc += Int(a & i.k != 0 ? i.jt : i.jf)
        case 0x1d: pc += Int(a == x ? i.jt : i.jf)
        case 0x2d: pc += Int(a > x ? i.jt : i.jf)
        case 0x3d: pc += Int(a >= x ? i.jt : i.jf)
        case 0x06: return (i.k, steps)
        default: return (nil, steps)
        }
    }
    return (nil, steps)
}

private func rule(_ names: [String], _ action: String, args: [SeccompArg] = []) -> SeccompSyscall {
    var s = SeccompSyscall(names: names, action: action)
    s.args = args
    return s
}

private func profile(_ defaultAction: String, _ syscalls: [SeccompSyscall] = [], architectures: [String] = []) -> SeccompSpec {
    var s = SeccompSpec(defaultAction: defaultAction)
    s.listenerPath = "/run/agent.sock"
    s.syscalls = syscalls
    s.architectures = architectures
    return s
}

private func mediated(_ s: SeccompSpec) throws -> [BPFInstruction] {
    let p = try SeccompProgram.build(s, mediatingGPIO: true)
    #expect(p.mediatesGPIO && p.needsListener)
    return decodeBPF(p.instructions)
}

/// ioctl(fd, request) on x86_64.
private func ioctl(_ program: [BPFInstruction], _ request: UInt64) -> UInt32? {
    run(program, nr: ioctlX86_64, args: [3, request, 0x7fff_0000])
}

// Full requests as different ABIs encode them: native x86_64, a 32-bit struct size, MIPS's
// direction bits (read/write swapped: _IOC_READ 2, _IOC_WRITE 4 at bit 29).
private let v2GetLine: UInt64 = 0xC250_B407
private let v2GetLineMIPS: UInt64 = 0xC250_B407 & 0x1FFF_FFFF | 0x4000_0000
private let v1HandleI386Size: UInt64 = 0xC16C_B403
private let v2SetConfig: UInt64 = 0xC110_B40D
private let v1LineInfo: UInt64 = 0xC048_B402
private let v2SetValues: UInt64 = 0xC010_B40F
private let chipInfo: UInt64 = 0x8044_B401
private let tcgets: UInt64 = 0x5401
private let tiocsti: UInt64 = 0x5412

/// The filter as it was built before the check in front of the program.
private func withoutShortcut(_ s: SeccompSpec) throws -> [BPFInstruction] {
    let plain = decodeBPF(try SeccompProgram.build(s).instructions)
    let tokens = s.architectures.map { seccomp_arch_resolve_name(String($0.dropFirst("SCMP_ARCH_".count)).lowercased()) }
    return try notifyingGPIO(plain, sites: ioctlSites(architectures: tokens), bigEndian: hostIsBigEndian, shortcut: false)
}

private let auditAArch64: UInt32 = 0xC000_00B7
/// Every (architecture, system call, request) of interest: ioctl and its neighbours under
/// each ABI, x32 numbers (bit 30) of ioctl's and other calls, architectures the filter does
/// and does not list, GPIO requests of every number with varied size, direction and high bits.
private func sameVerdicts(_ new: [BPFInstruction], _ old: [BPFInstruction],
                          sourceLocation: SourceLocation = #_sourceLocation) -> Int {
    var requests: [UInt64] = [tcgets, tiocsti, 0, 0xFFFF_FFFF, 0xB4_07 << 16, 0xFFFF_FFFF_FFFF_FFFF]
    for n: UInt64 in 0...0x11 {
        requests += [0xB400 | n, 0xC250_B400 | n, 0x4000_B400 | n, 0xFFFF_FFFF_0000_B400 | n, 0x1_0000_B400 | n]
    }
    var checked = 0
    for arch in [auditX86_64, auditI386, auditAArch64, auditX86_64 & ~0x8000_0000, 0] {
        for nr: UInt32 in [16, 54, 29, 514, ioctlX32, 0x4000_0000 | 16, 0x4000_0000 | 54, 0, 1, 2, 0x4000_0000, 0xFFFF_FFFF] {
            for request in requests {
                for fd: UInt64 in [3, 0xFFFF_FFFF_0000_0003] {
                    let args = [fd, request, 0x7fff_0000]
                    let a = run(new, nr: nr, arch: arch, args: args), b = run(old, nr: nr, arch: arch, args: args)
                    #expect(a != nil && a == b, "arch \(String(arch, radix: 16)) nr \(String(nr, radix: 16)) request \(String(request, radix: 16))",
                            sourceLocation: sourceLocation)
                    checked += 1
                }
            }
        }
    }
    return checked
}

/// podman's default profile (containers-common) for x86_64, as bench/gpio/filter.sh builds it.
private func podmanProfile() throws -> SeccompSpec {
    let path = "/usr/share/containers/seccomp.json"
    guard let data = FileManager.default.contents(atPath: path) else { try skip("\(path) is missing (golang-github-containers-common)") }
    let docker = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    var architectures: [String] = []
    for m in try #require(docker["archMap"] as? [[String: Any]]) where m["architecture"] as? String == "SCMP_ARCH_X86_64" {
        architectures = ["SCMP_ARCH_X86_64"] + (m["subArchitectures"] as? [String] ?? [])
    }
    var rules: [SeccompSyscall] = []
    for r in try #require(docker["syscalls"] as? [[String: Any]]) {
        let inc = r["includes"] as? [String: Any] ?? [:], exc = r["excludes"] as? [String: Any] ?? [:]
        if !((inc["caps"] as? [String]) ?? []).isEmpty || inc["minKernel"] != nil { continue }
        if let arches = inc["arches"] as? [String], !arches.isEmpty, !arches.contains("amd64") { continue }
        if let arches = exc["arches"] as? [String], arches.contains("amd64") { continue }
        var rule = SeccompSyscall(names: try #require(r["names"] as? [String]), action: try #require(r["action"] as? String))
        rule.errnoRet = (r["errnoRet"] as? NSNumber)?.uint32Value
        for a in r["args"] as? [[String: Any]] ?? [] {
            var arg = SeccompArg(index: try #require((a["index"] as? NSNumber)?.uint32Value),
                                 value: try #require((a["value"] as? NSNumber)?.uint64Value), op: try #require(a["op"] as? String))
            arg.valueTwo = (a["valueTwo"] as? NSNumber)?.uint64Value ?? 0
            rule.args.append(arg)
        }
        rules.append(rule)
    }
    var s = profile(try #require(docker["defaultAction"] as? String), rules, architectures: architectures)
    s.defaultErrnoRet = (docker["defaultErrnoRet"] as? NSNumber)?.uint32Value
    return s
}

@Suite struct GPIOMediationTests {
    @Test func theCheckInFrontAnswersAsTheWholeFilterDid() throws {
        let three = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        let tiocstiDenied = rule(["ioctl"], "SCMP_ACT_ERRNO", args: [SeccompArg(index: 1, value: tiocsti, op: "SCMP_CMP_EQ")])
        let onlyFd3 = rule(["ioctl"], "SCMP_ACT_ALLOW", args: [SeccompArg(index: 0, value: 3, op: "SCMP_CMP_EQ")])
        // (profile, whether ioctl's verdict is a constant permissive action there)
        let cases: [(SeccompSpec, Bool)] = [
            (profile("SCMP_ACT_ALLOW"), true),
            (profile("SCMP_ACT_ALLOW", architectures: three), true),
            (profile("SCMP_ACT_LOG", architectures: three), true),
            (profile("SCMP_ACT_ERRNO", [rule(["ioctl", "read", "exit_group"], "SCMP_ACT_ALLOW")], architectures: three), true),
            (profile("SCMP_ACT_ERRNO", [rule(["ioctl"], "SCMP_ACT_LOG"), rule(["read"], "SCMP_ACT_ALLOW")]), true),
            (profile("SCMP_ACT_ALLOW", [rule(["ioctl"], "SCMP_ACT_ERRNO")], architectures: three), false),
            (profile("SCMP_ACT_ALLOW", [rule(["ioctl"], "SCMP_ACT_KILL_PROCESS")]), false),
            (profile("SCMP_ACT_ALLOW", [rule(["ioctl"], "SCMP_ACT_TRAP")], architectures: three), false),
            (profile("SCMP_ACT_ALLOW", [tiocstiDenied], architectures: three), false),
            (profile("SCMP_ACT_ERRNO", [onlyFd3, rule(["read"], "SCMP_ACT_ALLOW")], architectures: three), false),
            (profile("SCMP_ACT_ERRNO", [rule(["read"], "SCMP_ACT_ALLOW")], architectures: three), false),
        ]
        for (s, constant) in cases {
            let new = try mediated(s), old = try withoutShortcut(s)
            #expect((new != old) == constant, "\(s.defaultAction) \(s.syscalls.map { $0.names })")
            #expect(sameVerdicts(new, old) > 10_000)
        }
    }

    @Test func podmansDefaultProfileAnswersIoctlInFrontOfItself() throws {
        let s = try podmanProfile()
        let new = try mediated(s), old = try withoutShortcut(s)
        #expect(sameVerdicts(new, old) > 10_000)
        for (request, verdict) in [(tcgets, allow), (v2SetValues, allow), (chipInfo, allow), (v2GetLine, notify)] {
            let short = execute(new, nr: ioctlX86_64, args: [3, request]), whole = execute(old, nr: ioctlX86_64, args: [3, request])
            #expect(short.verdict == verdict && whole.verdict == verdict)
            // The architecture, the number, the request: never the profile's rules.
            #expect(short.steps <= 12, "\(short.steps) instructions for request \(String(request, radix: 16))")
            #expect(whole.steps > short.steps + 10)
        }
        // x32's and i386's ioctl take it too.
        #expect(execute(new, nr: ioctlX32, args: [3, tcgets]).steps <= 12)
        #expect(execute(new, nr: ioctlI386, arch: auditI386, args: [3, tcgets]).steps <= 12)
    }

    @Test func theMediatedIoctlsNotifyWhateverTheirSizeAndDirectionBits() throws {
        let p = try mediated(profile("SCMP_ACT_ALLOW"))
        for request in [v2GetLine, v2GetLineMIPS, v1HandleI386Size, v2SetConfig, v1LineInfo] {
            #expect(ioctl(p, request) == notify, "request \(String(request, radix: 16))")
        }
        for nr in gpioMediatedIoctlNumbers {
            #expect(ioctl(p, 0xC000_B400 | UInt64(nr)) == notify)
        }
        // The kernel reads ioctl's request as an unsigned int: high bits must not escape the check.
        #expect(ioctl(p, 0xFFFF_FFFF_0000_0000 | v2GetLine) == notify)
    }

    @Test func valueAccessChipInfoAndOtherIoctlsGoStraightToTheKernel() throws {
        let p = try mediated(profile("SCMP_ACT_ALLOW"))
        for request in [v2SetValues, chipInfo, tcgets, 0xB4_07 << 16] {
            #expect(ioctl(p, request) == allow, "request \(String(request, radix: 16))")
        }
        // Same request value, another system call.
        #expect(run(p, nr: 0, args: [3, v2GetLine]) == allow)
        // Other numbers of type 0xB4 are not GPIO ioctls the agent knows.
        for nr: UInt64 in [0x00, 0x08, 0x09, 0x0C, 0x0E, 0x10, 0xFF] {
            #expect(ioctl(p, 0xC000_B400 | nr) == allow)
        }
    }

    @Test func anUnconditionalIoctlAllowInTheProfileDoesNotWin() throws {
        // What libseccomp alone gets wrong: its unconditional rule replaces conditional ones.
        let s = profile("SCMP_ACT_ERRNO", [rule(["ioctl", "read", "exit_group"], "SCMP_ACT_ALLOW")])
        let p = try mediated(s)
        #expect(ioctl(p, v2GetLine) == notify)
        #expect(ioctl(p, tcgets) == allow)
        #expect(run(p, nr: 0) == allow)                        // read
        #expect(run(p, nr: 2) == SeccompAction.errno(1).raw)   // open: the default
        let plain = decodeBPF(try SeccompProgram.build(s).instructions)
        #expect(ioctl(plain, v2GetLine) == allow)
    }

    @Test func aStricterProfileActionOnIoctlStillWins() throws {
        let deny = try mediated(profile("SCMP_ACT_ALLOW", [rule(["ioctl"], "SCMP_ACT_ERRNO")]))
        #expect(ioctl(deny, v2GetLine) == SeccompAction.errno(1).raw)
        let tiocstiDenied = try mediated(profile("SCMP_ACT_ALLOW", [
            rule(["ioctl"], "SCMP_ACT_ERRNO", args: [SeccompArg(index: 1, value: tiocsti, op: "SCMP_CMP_EQ")])]))
        #expect(ioctl(tiocstiDenied, tiocsti) == SeccompAction.errno(1).raw)
        #expect(ioctl(tiocstiDenied, v2GetLine) == notify)
        #expect(ioctl(tiocstiDenied, tcgets) == allow)
        let killed = try mediated(profile("SCMP_ACT_ALLOW", [rule(["ioctl"], "SCMP_ACT_KILL_PROCESS")]))
        #expect(ioctl(killed, v2GetLine) == SeccompAction.killProcess.raw)
    }

    @Test func loggedIoctlsAreNotifiedAndTheRestStillLogged() throws {
        let p = try mediated(profile("SCMP_ACT_LOG"))
        #expect(ioctl(p, v2GetLine) == notify)
        #expect(ioctl(p, tcgets) == SeccompAction.log.raw)
        #expect(run(p, nr: 0) == SeccompAction.log.raw)
    }

    @Test func everyArchitectureOfTheFilterIsCovered() throws {
        let p = try mediated(profile("SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]))
        let i386Request = v1HandleI386Size
        #expect(run(p, nr: ioctlI386, arch: auditI386, args: [3, i386Request]) == notify)
        #expect(run(p, nr: ioctlX32, arch: auditX86_64, args: [3, v2GetLine]) == notify)
        #expect(run(p, nr: ioctlX86_64, args: [3, v2GetLine]) == notify)
        // i386's 16 is lchown, x86_64's 54 is setsockopt: not ioctl there.
        #expect(run(p, nr: ioctlX86_64, arch: auditI386, args: [3, v2GetLine]) == allow)
        #expect(run(p, nr: ioctlI386, arch: auditX86_64, args: [3, v2GetLine]) == allow)
    }

    @Test func withoutMediationNothingChanges() throws {
        let s = profile("SCMP_ACT_ALLOW")
        let p = try SeccompProgram.build(s)
        #expect(!p.mediatesGPIO && !p.needsListener)
        #expect(ioctl(decodeBPF(p.instructions), v2GetLine) == allow)
    }

    @Test func mediationNeedsAListenerPath() {
        var s = profile("SCMP_ACT_ALLOW")
        s.listenerPath = nil
        do throws(SwiftletError) {
            _ = try SeccompProgram.build(s, mediatingGPIO: true)
            Issue.record("built without listenerPath")
        } catch {
            #expect(error.message.contains("mediated GPIO (org.swiftlet.gpio) is asked for but listenerPath is not set"))
        }
    }

    @Test func callersWaitKillablyOnceTheAgentHasTheRequestWhereTheKernelCan() throws {
        let p = try SeccompProgram.build(profile("SCMP_ACT_ALLOW"), mediatingGPIO: true)
        #expect(p.waitKillableRecv == kernelSupportsFlag(UInt32(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)))
    }

    @Test func encodingRoundTrips() throws {
        let bytes = try SeccompProgram.build(profile("SCMP_ACT_ALLOW"), mediatingGPIO: true).instructions
        #expect(encodeBPF(decodeBPF(bytes)) == bytes)
    }
}
