import Base
import JSON
import OCISpec
import Testing
import TestSupport
@testable import Seccomp

/// A spec from a compact description: (names, action, errnoRet, args).
private func spec(_ defaultAction: String, defaultErrnoRet: UInt32? = nil, architectures: [String] = [],
                  flags: [String] = [], listenerPath: String? = nil,
                  _ syscalls: [SeccompSyscall] = []) -> SeccompSpec {
    var s = SeccompSpec(defaultAction: defaultAction)
    s.defaultErrnoRet = defaultErrnoRet
    s.architectures = architectures
    s.flags = flags
    s.listenerPath = listenerPath
    s.syscalls = syscalls
    return s
}

private func call(_ names: [String], _ action: String, errnoRet: UInt32? = nil, args: [SeccompArg] = []) -> SeccompSyscall {
    var c = SeccompSyscall(names: names, action: action)
    c.errnoRet = errnoRet
    c.args = args
    return c
}

private func arg(_ index: UInt32, _ op: String, _ value: UInt64, _ valueTwo: UInt64 = 0) -> SeccompArg {
    var a = SeccompArg(index: index, value: value, op: op)
    a.valueTwo = valueTwo
    return a
}

/// The error build() throws, or nil if it succeeds.
private func buildError(_ s: SeccompSpec) -> SwiftletError? {
    do throws(SwiftletError) {
        _ = try SeccompProgram.build(s)
        return nil
    } catch {
        return error
    }
}

@Suite struct SeccompBuildTests {
    @Test func validProfileCompiles() throws {
        let s = spec("SCMP_ACT_ERRNO", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                     flags: ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"], [
                        call(["read", "write", "exit_group"], "SCMP_ACT_ALLOW"),
                        call(["personality"], "SCMP_ACT_ALLOW", args: [arg(0, "SCMP_CMP_EQ", 0)]),
                        call(["mkdir"], "SCMP_ACT_ERRNO", errnoRet: 42),
                        call(["ptrace"], "SCMP_ACT_KILL_PROCESS"),
                        call(["getcwd"], "SCMP_ACT_LOG"),
                        call(["reboot"], "SCMP_ACT_TRAP"),
                     ])
        let p = try SeccompProgram.build(s)
        #expect(p.defaultAction == .errno(1))
        #expect(p.rules.map(\.syscall) == ["read", "write", "exit_group", "personality", "mkdir", "ptrace", "getcwd", "reboot"])
        #expect(p.rules[3].conditions == [SeccompCondition(index: 0, op: .equal, value: 0, valueTwo: 0)])
        #expect(p.rules[4].action == .errno(42))
        #expect(p.rules[5].action == .killProcess)
        #expect(p.skippedSyscalls.isEmpty)
        #expect(p.flags == 2)  // SECCOMP_FILTER_FLAG_LOG; TSYNC is accepted and ignored
        #expect(!p.needsListener)
        // Three architectures, eight syscalls: far more than a bare default.
        let bare = try SeccompProgram.build(spec("SCMP_ACT_ALLOW"))
        #expect(p.instructionCount > bare.instructionCount + 8)
        #expect(p.instructions.count == p.instructionCount * 8)
    }

    @Test func unknownSyscallIsSkipped() throws {
        let p = try SeccompProgram.build(spec("SCMP_ACT_ALLOW", [call(["getcwd", "no_such_syscall_xyz"], "SCMP_ACT_ERRNO")]))
        #expect(p.rules.map(\.syscall) == ["getcwd"])
        #expect(p.skippedSyscalls == ["no_such_syscall_xyz"])
    }

    @Test func rulesWithTheDefaultActionAreDropped() throws {
        let p = try SeccompProgram.build(spec("SCMP_ACT_ERRNO", [
            call(["getcwd"], "SCMP_ACT_ERRNO"),                // same action and errno (EPERM)
            call(["mkdir"], "SCMP_ACT_ERRNO", errnoRet: 1),    // EPERM spelled out
            call(["rmdir"], "SCMP_ACT_ERRNO", errnoRet: 38),   // differs: kept
        ]))
        #expect(p.rules.map(\.syscall) == ["rmdir"])
    }

    @Test func errnoRetDefaults() throws {
        #expect(try SeccompProgram.build(spec("SCMP_ACT_ERRNO")).defaultAction == .errno(UInt16(1)))
        #expect(try SeccompProgram.build(spec("SCMP_ACT_ERRNO", defaultErrnoRet: 38)).defaultAction == .errno(38))
        #expect(try SeccompProgram.build(spec("SCMP_ACT_KILL")).defaultAction == .killThread)
        let p = try SeccompProgram.build(spec("SCMP_ACT_ALLOW", [
            call(["mkdir"], "SCMP_ACT_ERRNO"),
            call(["rmdir"], "SCMP_ACT_TRACE"),
            call(["getcwd"], "SCMP_ACT_TRACE", errnoRet: 7),
            call(["chdir"], "SCMP_ACT_KILL_THREAD", errnoRet: 9),  // ignored, like runc
        ]))
        #expect(p.rules.map(\.action) == [.errno(1), .trace(1), .trace(7), .killThread])
        #expect(SeccompAction.errno(42).raw == 0x0005_002a)
        #expect(SeccompAction.notify.raw == 0x7fc0_0000)
        #expect(buildError(spec("SCMP_ACT_ERRNO", defaultErrnoRet: 70000)) != nil)
    }

    @Test func severalConditionsOnOneArgumentBecomeSeparateRules() throws {
        let p = try SeccompProgram.build(spec("SCMP_ACT_ALLOW", [
            call(["getpgid"], "SCMP_ACT_ERRNO", args: [arg(0, "SCMP_CMP_EQ", 111), arg(0, "SCMP_CMP_EQ", 222)]),
            call(["kill"], "SCMP_ACT_ERRNO", args: [arg(0, "SCMP_CMP_GT", 1), arg(1, "SCMP_CMP_MASKED_EQ", 0xf0, 0x10)]),
        ]))
        #expect(p.rules.count == 3)
        #expect(p.rules[0].conditions.map(\.value) == [111])
        #expect(p.rules[1].conditions.map(\.value) == [222])
        #expect(p.rules[2].conditions == [
            SeccompCondition(index: 0, op: .greaterThan, value: 1, valueTwo: 0),
            SeccompCondition(index: 1, op: .maskedEqual, value: 0xf0, valueTwo: 0x10),
        ])
    }

    @Test func unknownNamesAreErrors() {
        let action = buildError(spec("SCMP_ACT_ALLOW", [call(["getcwd"], "SCMP_ACT_EXPLODE")]))
        #expect(action?.stage == .seccomp)
        #expect(action?.description == "seccomp: linux.seccomp.syscalls[0].action: unknown action \"SCMP_ACT_EXPLODE\"")

        let defaultAction = buildError(spec("ALLOW"))
        #expect(defaultAction?.message == "linux.seccomp.defaultAction: unknown action \"ALLOW\"")

        let op = buildError(spec("SCMP_ACT_ALLOW", [call(["getcwd"], "SCMP_ACT_ERRNO", args: [arg(0, "SCMP_CMP_XOR", 1)])]))
        #expect(op?.message == "linux.seccomp.syscalls[0].args[0].op: unknown operator \"SCMP_CMP_XOR\"")

        let arch = buildError(spec("SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]))
        #expect(arch?.message == "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_VAX\"")

        let flag = buildError(spec("SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_FAST"]))
        #expect(flag?.message == "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_FAST\"")

        let index = buildError(spec("SCMP_ACT_ALLOW", [call(["getcwd"], "SCMP_ACT_ERRNO", args: [arg(6, "SCMP_CMP_EQ", 1)])]))
        #expect(index?.message.hasBytePrefix("linux.seccomp.syscalls[0].args[0].index: 6 is out of range") == true)

        let empty = buildError(spec("SCMP_ACT_ALLOW", [call([""], "SCMP_ACT_ERRNO")]))
        #expect(empty?.message == "linux.seccomp.syscalls[0].names: empty syscall name")
    }

    @Test func architectureUnknownToLibseccompIsAnError() throws {
        // The runtime-spec names LOONGARCH64, which libseccomp learnt in 2.6.
        let known = seccompFeatures().archs
        if known.contains("SCMP_ARCH_LOONGARCH64") { try skip("this libseccomp knows SCMP_ARCH_LOONGARCH64") }
        let e = buildError(spec("SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_LOONGARCH64"]))
        #expect(e?.message.hasBytePrefix("linux.seccomp.architectures[0]: architecture SCMP_ARCH_LOONGARCH64 is not supported by libseccomp 2.") == true)
    }

    @Test func notifyRules() throws {
        let asDefault = buildError(spec("SCMP_ACT_NOTIFY", listenerPath: "/run/agent.sock"))
        #expect(asDefault?.message == "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action")

        let onWrite = buildError(spec("SCMP_ACT_ALLOW", listenerPath: "/run/agent.sock", [call(["read", "write"], "SCMP_ACT_NOTIFY")]))
        #expect(onWrite?.message.hasBytePrefix("linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY cannot be used for the write syscall") == true)
        let onSendmsg = buildError(spec("SCMP_ACT_ALLOW", listenerPath: "/run/agent.sock", [call(["sendmsg"], "SCMP_ACT_NOTIFY")]))
        #expect(onSendmsg != nil)

        let noListener = buildError(spec("SCMP_ACT_ALLOW", [call(["mknod"], "SCMP_ACT_NOTIFY")]))
        #expect(noListener?.message == "linux.seccomp: SCMP_ACT_NOTIFY is used but listenerPath is not set")

        var s = spec("SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"], listenerPath: "/run/agent.sock",
                     [call(["mknod", "mknodat"], "SCMP_ACT_NOTIFY")])
        s.listenerMetadata = "meta"
        let p = try SeccompProgram.build(s)
        #expect(p.needsListener)
        #expect(p.waitKillableRecv)
        #expect(p.flags == 0)  // WAIT_KILLABLE_RECV is only added with NEW_LISTENER at load
        #expect(p.listenerPath == "/run/agent.sock")
        #expect(p.listenerMetadata == "meta")
        #expect(!(try SeccompProgram.build(spec("SCMP_ACT_ALLOW", [call(["mknod"], "SCMP_ACT_ERRNO")]))).needsListener)
    }

    @Test func features() {
        let f = seccompFeatures()
        #expect(f.enabled)
        #expect(f.actions == ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                              "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"])
        #expect(f.operators == ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                                "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"])
        for arch in ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM",
                     "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390X", "SCMP_ARCH_RISCV64"] {
            #expect(f.archs.contains(arch), "\(arch)")
        }
        #expect(f.archs == f.archs.sorted())
        #expect(f.knownFlags == ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG",
                                 "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
        // Kernel 6.x knows all of them (WAIT_KILLABLE_RECV since 5.19).
        #expect(f.supportedFlags == f.knownFlags)
        #expect(seccompAvailable())
    }

    @Test func containerProcessState() throws {
        let text = containerProcessStateJSON(pid: 42, metadata: "a\"b",
                                             stateJSON: "{\"ociVersion\":\"1.3.0\",\"id\":\"c1\",\"status\":\"created\",\"pid\":42,\"bundle\":\"/b\"}")
        let json = try JSON.parse(text)
        #expect(json["ociVersion"] == .string("1.3.0"))
        #expect(json["fds"] == .array([.string("seccompFd")]))
        #expect(json["pid"]?.int64Value == 42)
        #expect(json["metadata"] == .string("a\"b"))
        #expect(json["state"]?["id"] == .string("c1"))
        let bare = try JSON.parse(containerProcessStateJSON(pid: 1, metadata: nil, stateJSON: "{}"))
        #expect(bare["metadata"] == nil)
    }
}
