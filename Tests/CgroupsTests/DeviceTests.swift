import Foundation
import OCISpec
import Testing
import TestSupport
@testable import Cgroups

/// Runs a device program the way the kernel would (for the opcodes the generator emits), so
/// the generated code itself is checked against the policy, not just loaded.
func runDeviceProgram(_ program: [BPFInstruction], kind: DeviceKind, major: UInt32, minor: UInt32, access: UInt8) -> Bool? {
    var r = [UInt64](repeating: 0, count: 11)
    let ctx: [UInt32] = [UInt32(access) << 16 | UInt32(kind.rawValue), major, minor]
    var pc = 0
    var steps = 0
    while pc >= 0 && pc < program.count && steps < 10_000 {
        let i = program[pc]
        steps += 1
        pc += 1
        let d = Int(i.dst), s = Int(i.src)
        let imm32 = UInt32(bitPattern: i.imm)
        switch i.code {
        case BPFInstruction.loadWord:
            guard s == 1, i.offset % 4 == 0, i.offset >= 0, i.offset < 12 else { return nil }
            r[d] = UInt64(ctx[Int(i.offset) / 4])
        case BPFInstruction.and32Imm: r[d] = UInt64(UInt32(truncatingIfNeeded: r[d]) & imm32)
        case BPFInstruction.rsh32Imm: r[d] = UInt64(UInt32(truncatingIfNeeded: r[d]) >> imm32)
        case BPFInstruction.mov32Reg: r[d] = UInt64(UInt32(truncatingIfNeeded: r[s]))
        case BPFInstruction.mov64Imm: r[d] = UInt64(bitPattern: Int64(i.imm))
        case BPFInstruction.jne32Imm: if UInt32(truncatingIfNeeded: r[d]) != imm32 { pc += Int(i.offset) }
        case BPFInstruction.jeq32Imm: if UInt32(truncatingIfNeeded: r[d]) == imm32 { pc += Int(i.offset) }
        case BPFInstruction.exit: return r[0] == 1
        default: return nil
        }
    }
    return nil
}

func rule(_ allow: Bool, _ type: String?, _ major: Int64?, _ minor: Int64?, _ access: String?) -> DeviceCgroupRule {
    var r = DeviceCgroupRule(allow: allow)
    r.type = type; r.major = major; r.minor = minor; r.access = access
    return r
}

@Suite struct DevicePolicyTests {
    struct Case {
        let kind: DeviceKind, major: UInt32, minor: UInt32, access: String, allowed: Bool
    }

    func check(_ rules: [DeviceCgroupRule], _ cases: [Case], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let policy = try DevicePolicy(rules: rules)
        let program = policy.bpfProgram()
        for c in cases {
            let access = DeviceAccess.parse(c.access)!
            let what = "\(c.kind) \(c.major):\(c.minor) \(c.access)"
            #expect(policy.allows(c.kind, major: c.major, minor: c.minor, access: access) == c.allowed, "\(what)",
                    sourceLocation: sourceLocation)
            #expect(runDeviceProgram(program, kind: c.kind, major: c.major, minor: c.minor, access: access) == c.allowed,
                    "bpf \(what)", sourceLocation: sourceLocation)
        }
    }

    @Test func defaultContainerDevices() throws {
        let rules = DevicePolicy.containerRules([rule(true, "c", 1, 11, "r"), rule(true, "c", 4, 64, "rw")])
        try check(rules, [
            Case(kind: .char, major: 1, minor: 3, access: "rw", allowed: true),      // null
            Case(kind: .char, major: 1, minor: 3, access: "rwm", allowed: true),
            Case(kind: .char, major: 1, minor: 5, access: "r", allowed: true),       // zero
            Case(kind: .char, major: 136, minor: 7, access: "rw", allowed: true),    // pts/7
            Case(kind: .char, major: 5, minor: 2, access: "rw", allowed: true),      // ptmx
            Case(kind: .char, major: 10, minor: 200, access: "rw", allowed: true),   // net/tun
            Case(kind: .char, major: 4, minor: 64, access: "rw", allowed: true),     // allowed by the config
            Case(kind: .char, major: 4, minor: 64, access: "m", allowed: true),
            Case(kind: .char, major: 4, minor: 65, access: "r", allowed: false),
            Case(kind: .char, major: 1, minor: 11, access: "r", allowed: true),      // kmsg, read only
            Case(kind: .char, major: 1, minor: 11, access: "w", allowed: false),
            Case(kind: .char, major: 1, minor: 11, access: "rw", allowed: false),
            Case(kind: .char, major: 5, minor: 1, access: "r", allowed: false),      // console
            Case(kind: .char, major: 1, minor: 1, access: "r", allowed: false),      // mem
            Case(kind: .char, major: 99, minor: 0, access: "m", allowed: true),      // mknod of anything
            Case(kind: .block, major: 8, minor: 0, access: "m", allowed: true),
            Case(kind: .block, major: 8, minor: 0, access: "r", allowed: false),
            Case(kind: .block, major: 8, minor: 0, access: "rm", allowed: false),
            Case(kind: .block, major: 1, minor: 3, access: "r", allowed: false),     // a block 1:3 is not null
        ])
    }

    @Test func denyListPolicy() throws {
        // Privileged-style: allow everything, then refuse some.
        let rules = [rule(true, nil, nil, nil, "rwm"), rule(false, "c", 1, 11, "w"), rule(false, "b", 8, nil, "rwm")]
        try check(rules, [
            Case(kind: .char, major: 1, minor: 11, access: "r", allowed: true),
            Case(kind: .char, major: 1, minor: 11, access: "w", allowed: false),
            Case(kind: .char, major: 1, minor: 11, access: "rw", allowed: false),   // partial overlap refuses
            Case(kind: .block, major: 8, minor: 3, access: "r", allowed: false),
            Case(kind: .block, major: 9, minor: 0, access: "rw", allowed: true),
            Case(kind: .char, major: 8, minor: 3, access: "r", allowed: true),
        ])
    }

    @Test func kernelRuleSemantics() throws {
        // Separate grants for one pattern merge; a wildcard deny does not punch the exact grant
        // (the kernel only removes exceptions with the very same pattern); a later exact deny does.
        let rules = [rule(false, "a", nil, nil, "rwm"), rule(true, "c", 1, 3, "r"), rule(true, "c", 1, 3, "w"),
                     rule(false, "c", nil, nil, "rwm"), rule(true, "c", 1, 5, "rwm"), rule(false, "c", 1, 5, "w")]
        try check(rules, [
            Case(kind: .char, major: 1, minor: 3, access: "rw", allowed: true),
            Case(kind: .char, major: 1, minor: 3, access: "m", allowed: false),
            Case(kind: .char, major: 1, minor: 5, access: "rm", allowed: true),
            Case(kind: .char, major: 1, minor: 5, access: "w", allowed: false),
        ])
        // A type "a" rule resets everything before it, whatever its other fields say.
        try check([rule(true, "c", 1, 3, "rwm"), rule(false, "a", 1, 3, "r")], [
            Case(kind: .char, major: 1, minor: 3, access: "r", allowed: false),
        ])
        try check([], [Case(kind: .char, major: 1, minor: 3, access: "r", allowed: false)])
        try check([rule(true, nil, nil, nil, nil)], [Case(kind: .block, major: 8, minor: 0, access: "rwm", allowed: true)])
    }

    @Test func invalidRules() {
        #expect(throws: (any Error).self) { try DevicePolicy(rules: [rule(true, "c", 1, 3, "rwx")]) }
        #expect(throws: (any Error).self) { try DevicePolicy(rules: [rule(true, "p", 1, 3, "r")]) }
        #expect(throws: (any Error).self) { try DevicePolicy(rules: [rule(true, "c", -5, 3, "r")]) }
        #expect(throws: (any Error).self) { try DevicePolicy(rules: [rule(true, "c", 1 << 40, 3, "r")]) }
    }

    @Test func programAgreesWithPolicyOnRandomRuleSets() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var rules: [DeviceCgroupRule] = []
            for _ in 0..<Int.random(in: 0...8, using: &rng) {
                let type = ["a", "c", "b", "c", "b"].randomElement(using: &rng)!
                let access = ["r", "w", "m", "rw", "rm", "wm", "rwm"].randomElement(using: &rng)!
                let major: Int64? = Bool.random(using: &rng) ? nil : Int64.random(in: 1...3, using: &rng)
                let minor: Int64? = Bool.random(using: &rng) ? nil : Int64.random(in: 0...2, using: &rng)
                rules.append(rule(Bool.random(using: &rng), type, major, minor, access))
            }
            let policy = try DevicePolicy(rules: rules)
            let program = policy.bpfProgram()
            for kind in [DeviceKind.char, .block] {
                for major in UInt32(0)...4 {
                    for minor in UInt32(0)...3 {
                        for access in UInt8(1)...7 {
                            let expected = policy.allows(kind, major: major, minor: minor, access: access)
                            #expect(runDeviceProgram(program, kind: kind, major: major, minor: minor, access: access) == expected)
                        }
                    }
                }
            }
        }
    }

    @Test func v1Transitions() throws {
        let target = try DevicePolicy(rules: [rule(false, "a", nil, nil, "rwm"), rule(true, "c", 1, 3, "rwm"),
                                              rule(true, "c", 1, 5, "r")])
        let fromAllowAll = target.v1Writes(from: DevicePolicy.parseV1List("a *:* rwm\n"))
        #expect(fromAllowAll.map { $0.file + " " + $0.line } == [
            "devices.deny a", "devices.allow c 1:3 rwm", "devices.allow c 1:5 r",
        ])
        // Already there: nothing to write.
        #expect(target.v1Writes(from: DevicePolicy.parseV1List("c 1:3 rwm\nc 1:5 r\n")).isEmpty)
        // Differences only, grants before removals, so nothing kept is ever lost in between.
        let current = DevicePolicy.parseV1List("c 1:3 rw\nc 1:5 rw\nc 10:200 rwm\n")
        #expect(target.v1Writes(from: current).map { $0.file + " " + $0.line } == [
            "devices.allow c 1:3 m", "devices.deny c 1:5 w", "devices.deny c 10:200 rwm",
        ])
        let allowAll = try DevicePolicy(rules: [rule(true, "a", nil, nil, "rwm"), rule(false, "b", 8, nil, "w")])
        #expect(allowAll.v1Writes(from: current).map { $0.file + " " + $0.line } == [
            "devices.allow a", "devices.deny b 8:* w",
        ])
    }

    @Test func programsLoadIntoTheKernel() throws {
        try requireRoot()  // BPF_PROG_LOAD of a cgroup device program needs CAP_SYS_ADMIN
        var many = DevicePolicy.containerRules([])
        for i in 0..<300 { many.append(rule(true, "b", 7, Int64(i), "rw")) }
        let policies = [
            try DevicePolicy(rules: DevicePolicy.containerRules([])),
            try DevicePolicy(rules: [rule(true, nil, nil, nil, "rwm"), rule(false, "c", 1, 11, "w")]),
            try DevicePolicy(rules: []),
            try DevicePolicy(rules: [rule(true, nil, nil, nil, nil)]),
            try DevicePolicy(rules: many),
        ]
        for p in policies {
            let fd = try DeviceFilter.load(p.bpfProgram())
            #expect(fd.raw >= 0)
            fd.close()
        }
    }
}
