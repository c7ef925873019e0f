import Base
import CLinux
import JSON
import OCISpec
import Syscalls

/// One comparison of a system call argument. For MASKED_EQ, `value` is the mask and
/// `valueTwo` the expected result, as in the runtime-spec and libseccomp.
public struct SeccompCondition: Equatable, Sendable {
    public var index: UInt32
    public var op: SeccompOperator
    public var value: UInt64
    public var valueTwo: UInt64
}

/// One rule as handed to libseccomp: the call matches when all conditions hold.
public struct SeccompRule: Sendable {
    public var syscall: String
    /// libseccomp's number for the native architecture (negative for pseudo-syscalls
    /// that only exist on other architectures of the filter, e.g. socketcall).
    public var number: Int32
    public var action: SeccompAction
    public var conditions: [SeccompCondition]
}

/// A seccomp filter compiled to classic BPF, ready to load. Building happens early (in
/// `create`, where errors are cheap to report) and needs libseccomp; loading is one
/// seccomp(2) call with no allocation, so it can run right before execve.
public struct SeccompProgram: Sendable {
    public let defaultAction: SeccompAction
    /// Rules after runc's expansion, with unknown syscalls and default-action rules dropped.
    public let rules: [SeccompRule]
    /// Syscall names this libseccomp does not know; skipped like runc (debug output only).
    public let skippedSyscalls: [String]
    /// seccomp(2) flags from `linux.seccomp.flags` (without NEW_LISTENER).
    public let flags: UInt32
    public let waitKillableRecv: Bool
    /// struct sock_filter instructions, 8 bytes each, in host byte order.
    public let instructions: [UInt8]
    public let listenerPath: String?
    public let listenerMetadata: String?
    /// The GPIO ioctls are notified to the agent (see notifyingGPIO).
    public let mediatesGPIO: Bool

    /// True when a rule notifies: `load()` then returns the notify fd, which must reach
    /// the agent at `listenerPath` through `sendToListener`.
    public var needsListener: Bool { mediatesGPIO || rules.contains { $0.action == .notify } }

    public var instructionCount: Int { instructions.count / 8 }

    /// Validates `linux.seccomp` and compiles it with libseccomp, following runc:
    /// unknown syscall names are skipped, rules with the default action are dropped,
    /// an entry with several conditions on one argument becomes one rule per condition
    /// (OR'ed), ERRNO and TRACE default to EPERM. Unknown actions, operators,
    /// architectures and flags are errors, as are NOTIFY as the default action, NOTIFY
    /// on syscallsNeededBeforeAgent, and NOTIFY without a listenerPath.
    ///
    /// With `mediatingGPIO` (the container's `org.swiftlet.gpio: mediated`), the GPIO ioctls
    /// the agent answers are notified wherever the profile would allow them (notifyingGPIO),
    /// and filter flag WAIT_KILLABLE_RECV is set where the kernel has it (see docs/gpio.md).
    public static func build(_ spec: SeccompSpec, mediatingGPIO: Bool = false) throws(SwiftletError) -> SeccompProgram {
        let base = "linux.seccomp"
        let defaultAction = try SeccompAction.parse(spec.defaultAction, errnoRet: spec.defaultErrnoRet,
                                                     path: base + ".defaultAction")
        if defaultAction == .notify {
            throw SwiftletError(.seccomp, base + ".defaultAction: SCMP_ACT_NOTIFY cannot be used as default action")
        }

        var architectures: [UInt32] = []
        for (i, name) in spec.architectures.enumerated() {
            let path = base + ".architectures[" + String(i) + "]"
            guard isKnownArchitecture(name) else {
                throw SwiftletError(.seccomp, path + ": unknown architecture " + jsonQuoted(name))
            }
            guard let token = architectureToken(name) else {
                throw SwiftletError(.seccomp, path + ": architecture " + name + " is not supported by libseccomp "
                                    + libseccompVersion())
            }
            architectures.append(token)
        }

        var flags: UInt32 = 0
        var waitKillableRecv = false
        for (i, name) in spec.flags.enumerated() {
            let path = base + ".flags[" + String(i) + "]"
            guard let bit = kernelFlag(name) else {
                throw SwiftletError(.seccomp, path + ": unknown flag " + jsonQuoted(name))
            }
            if bit == 0 { continue }
            guard kernelSupportsFlag(bit) else {
                throw SwiftletError(.seccomp, path + ": flag " + name + " is not supported by this kernel")
            }
            if bit == UInt32(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) {
                // Only meaningful (and only accepted by the kernel) with a listener.
                waitKillableRecv = true
            } else {
                flags |= bit
            }
        }

        var rules: [SeccompRule] = []
        var skipped: [String] = []
        var usesNotify = false
        for (i, entry) in spec.syscalls.enumerated() {
            let path = base + ".syscalls[" + String(i) + "]"
            let action = try SeccompAction.parse(entry.action, errnoRet: entry.errnoRet, path: path + ".action")
            var conditions: [SeccompCondition] = []
            var perIndex = [Int](repeating: 0, count: 6)
            for (j, arg) in entry.args.enumerated() {
                let argPath = path + ".args[" + String(j) + "]"
                let op = try SeccompOperator.parse(arg.op, path: argPath + ".op")
                guard arg.index < 6 else {
                    throw SwiftletError(.seccomp, argPath + ".index: " + String(arg.index)
                                        + " is out of range (system calls have 6 arguments)")
                }
                perIndex[Int(arg.index)] += 1
                conditions.append(SeccompCondition(index: arg.index, op: op, value: arg.value, valueTwo: arg.valueTwo))
            }
            if action == .notify { usesNotify = true }
            for name in entry.names {
                if name.isEmpty { throw SwiftletError(.seccomp, path + ".names: empty syscall name") }
                if action == .notify && syscallsNeededBeforeAgent.contains(where: { $0.bytesEqual(name) }) {
                    throw SwiftletError(.seccomp, path + ": SCMP_ACT_NOTIFY cannot be used for the " + name
                                        + " syscall (the runtime needs it to hand the notify fd to the agent)")
                }
                // libseccomp rejects a rule that repeats the default; runc drops it silently.
                if action == defaultAction { continue }
                let number = seccomp_syscall_resolve_name(name)
                if number == __NR_SCMP_ERROR {
                    skipped.append(name)
                    continue
                }
                if perIndex.contains(where: { $0 > 1 }) {
                    for condition in conditions {
                        rules.append(SeccompRule(syscall: name, number: number, action: action, conditions: [condition]))
                    }
                } else {
                    rules.append(SeccompRule(syscall: name, number: number, action: action, conditions: conditions))
                }
            }
        }
        if usesNotify || mediatingGPIO {
            guard let listener = spec.listenerPath, !listener.isEmpty else {
                throw SwiftletError(.seccomp, base + (usesNotify ? ": SCMP_ACT_NOTIFY is used" : ": mediated GPIO (org.swiftlet.gpio) is asked for")
                                    + " but listenerPath is not set")
            }
            guard kernelSupportsAction(.notify) else {
                throw SwiftletError(.seccomp, base + ": SCMP_ACT_NOTIFY is not supported by this kernel")
            }
        }

        var instructions = try compile(defaultAction: defaultAction, architectures: architectures, rules: rules,
                                       optimize: rules.count > 32)
        if mediatingGPIO {
            instructions = encodeBPF(try notifyingGPIO(decodeBPF(instructions), sites: ioctlSites(architectures: architectures),
                                                       bigEndian: hostIsBigEndian))
            // Once the agent has read a request, only a fatal signal may interrupt the caller:
            // a line fd installed in it is then always followed by the answer that names it.
            if kernelSupportsFlag(UInt32(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)) { waitKillableRecv = true }
        }
        try checkLength(instructions)
        return SeccompProgram(defaultAction: defaultAction, rules: rules, skippedSyscalls: skipped, flags: flags,
                              waitKillableRecv: waitKillableRecv, instructions: instructions,
                              listenerPath: spec.listenerPath, listenerMetadata: spec.listenerMetadata,
                              mediatesGPIO: mediatingGPIO)
    }

    /// Installs the filter on the calling thread; returns the notify fd (close-on-exec)
    /// when `needsListener`, else nil.
    ///
    /// Call it as late as possible, right before execve: every later system call of the
    /// runtime is filtered too. Like runc we add nothing to the user's profile, so the
    /// profile must allow what the runtime still does after this call: execve/execveat,
    /// and whatever the caller does in between (typically close or close_range,
    /// write or sendmsg to a sync socket, read, rt_sigprocmask, exit_group on failure).
    /// No memory is freed here, so brk/munmap are not needed by this call itself.
    ///
    /// The kernel requires no_new_privs or CAP_SYS_ADMIN in the caller's user namespace:
    /// with `process.noNewPrivileges` set prctl(PR_SET_NO_NEW_PRIVS) first, otherwise
    /// load before dropping capabilities (as runc does).
    ///
    /// With a listener, the notify fd must get to the agent before the process makes a
    /// notifying call, or it blocks until then. The listener path is on the host: connect
    /// with connectListener before entering the root, then sendToListener(socket:) right
    /// after this call; NOTIFY on the syscalls that needs is refused at build.
    public func load() throws(SwiftletError) -> Int32? {
        let notify = needsListener
        var loadFlags = flags
        if notify {
            loadFlags |= UInt32(SECCOMP_FILTER_FLAG_NEW_LISTENER)
            if waitKillableRecv { loadFlags |= UInt32(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) }
        }
        let count = UInt16(instructionCount)
        let rc = instructions.withUnsafeBytes { cl_seccomp_install(loadFlags, $0.baseAddress, count) }
        if rc < 0 {
            let e = cl_errno()
            if e == EACCES {
                throw SwiftletError(.seccomp, "load filter (needs no_new_privs or CAP_SYS_ADMIN)", errno: e)
            }
            throw SwiftletError(.seccomp, "load filter", errno: e)
        }
        return notify ? rc : nil
    }
}

/// System calls the runtime makes after loading and before the agent holds the notify
/// fd: notifying on them would block the container forever. runc refuses write (its
/// child writes the fd number to its parent); we pass the fd itself with sendmsg.
public let syscallsNeededBeforeAgent: [String] = ["write", "sendmsg"]

/// The kernel takes at most BPF_MAXINSNS instructions per filter.
let maximumInstructions = 4096

/// Builds the filter in a libseccomp context and exports its BPF.
private func compile(defaultAction: SeccompAction, architectures: [UInt32], rules: [SeccompRule],
                     optimize: Bool) throws(SwiftletError) -> [UInt8] {
    guard let ctx = seccomp_init(defaultAction.raw) else {
        throw SwiftletError(.seccomp, "create filter: default action not supported by this kernel", errno: EINVAL)
    }
    defer { seccomp_release(ctx) }
    // Real errnos instead of libseccomp's catch-all ECANCELED.
    _ = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1)
    // A binary tree of syscall numbers for long profiles, as runc does; older
    // libseccomp misbehaves with it on empty rule sets.
    if optimize { _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) }

    for token in architectures {
        let rc = seccomp_arch_add(ctx, token)
        // The native architecture is always in the filter already.
        if rc < 0 && -rc != EEXIST {
            throw SwiftletError(.seccomp, "add architecture to filter", errno: -rc)
        }
    }
    for rule in rules {
        var comparisons: [scmp_arg_cmp] = []
        for c in rule.conditions {
            comparisons.append(scmp_arg_cmp(arg: c.index, op: scmp_compare(rawValue: c.op.rawValue),
                                            datum_a: c.value, datum_b: c.valueTwo))
        }
        let rc = comparisons.withUnsafeBufferPointer {
            seccomp_rule_add_array(ctx, rule.action.raw, rule.number, UInt32($0.count), $0.baseAddress)
        }
        if rc < 0 {
            throw SwiftletError(.seccomp, "add rule for syscall " + rule.syscall, errno: -rc)
        }
    }

    let memfd = memfd_create("seccomp-bpf", UInt32(MFD_CLOEXEC))
    if memfd < 0 { throw .system(.seccomp, "memfd_create") }
    let file = FileDescriptor(memfd)
    defer { file.close() }
    let rc = seccomp_export_bpf(ctx, memfd)
    if rc < 0 { throw SwiftletError(.seccomp, "export filter", errno: -rc) }
    if lseek(memfd, 0, SEEK_SET) != 0 { throw .system(.seccomp, "seek exported filter") }
    let bytes = try file.readAll(stage: .seccomp)
    if bytes.isEmpty || bytes.count % 8 != 0 {
        throw SwiftletError(.seccomp, "export filter: unexpected size " + String(bytes.count))
    }
    return bytes
}

private func checkLength(_ bytes: [UInt8]) throws(SwiftletError) {
    if bytes.count / 8 > maximumInstructions {
        throw SwiftletError(.seccomp, "filter has " + String(bytes.count / 8)
                            + " instructions, more than the kernel's limit of " + String(maximumInstructions),
                            errno: EINVAL)
    }
}

/// "2.5.4", for messages about what the linked libseccomp lacks.
func libseccompVersion() -> String {
    guard let v = seccomp_version() else { return "(unknown version)" }
    return String(v.pointee.major) + "." + String(v.pointee.minor) + "." + String(v.pointee.micro)
}
