import Base
import CLinux
import Capabilities
import JSON
import Namespaces
import OCISpec
import Process
import Seccomp
import Syscalls
import Terminal

/// Everything the exec process needs; it lives in the cloned child's copy of memory.
struct ExecContext: @unchecked Sendable {
    var id: String
    var process: ProcessSpec
    var caps: ProcessCapabilities?
    var seccomp: SeccompProgram?
    var personality: PersonalitySpec?
    var namespaces: [(kind: NamespaceKind, fd: FileDescriptor)]
    var root: FileDescriptor
    var channel: SyncChannel
    var console: UnixSocket?
    /// The container is paused: after reporting ready, wait until the runtime has moved us
    /// into its (frozen) cgroup.
    var joinsCgroupLate: Bool
    var listener: FileDescriptor?
    var listenerMetadata: String?
    /// The container's state, for the seccomp agent.
    var state: ContainerState
    var preserveFDs: Int
    var signalMask: sigset_t
    /// /proc/<init>/setgroups of the container's user namespace says "deny" (read by the
    /// runtime: the child reads nothing of procfs by path).
    var setgroupsDenied: Bool
    /// The container's attach token for the seccomp agent.
    var agentToken: String? = nil

    /// The inherited fds the child uses; it closes all others (above the preserved ones).
    var fdsInUse: [Int32] {
        var fds = [channel.fd.raw, root.raw]
        for (_, fd) in namespaces { fds.append(fd.raw) }
        if let console { fds.append(console.fd.raw) }
        if let listener { fds.append(listener.raw) }
        return fds
    }
}

/// The exec process, in the cloned child: enters the container, becomes the process the
/// request describes, and execs it; never returns. Every error goes back to the runtime
/// over the sync channel, which stays open until execve closes it.
func execChild(_ c: ExecContext) -> Never {
    // Born in the container's root and cwd (see spawnExecProcess).
    // Whatever else the runtime holds must go at once, not at execve: the container lock
    // (an flock lives as long as any copy of its fd), and fds the runtime's caller passed
    // down and waits to see closed, which a process frozen in a paused container would
    // otherwise keep open until it is thawed.
    _ = try? ProcessSetup.closeFileDescriptors(preserve: c.preserveFDs, except: c.fdsInUse)
    var mask = c.signalMask
    sigprocmask(SIG_SETMASK, &mask, nil)
    do throws(SwiftletError) {
        try enterAndExec(c)
    } catch {
        if (try? c.channel.send(.error, error.encoded)) == nil {
            // Most likely a seccomp filter refusing the send: stderr is all that is left.
            writeStderr("swiftlet: " + error.description + "\n")
        }
        _exit(error.errno == ENOENT ? 127 : error.errno == EACCES || error.errno == EPERM ? 126 : 1)
    }
}

private func enterAndExec(_ c: ExecContext) throws(SwiftletError) -> Never {
    let process = c.process
    // Until it runs, the process goes if the runtime does.
    let parent = getppid()
    _ = cl_prctl(PR_SET_PDEATHSIG, UInt(SIGKILL), 0, 0, 0)
    if getppid() != parent { _exit(1) }
    // The runtime has put us in the container's cgroup (unless it is frozen); the
    // payload is our host pid.
    let hostPid = Int32(parseInt64(try c.channel.expect(.go, while: "waiting for the runtime")) ?? 0)

    // Our own session, as runc gives every container process, so the caller's terminal
    // signals reach us only through the runtime.
    if setsid() < 0 { throw .system(.exec, "setsid") }
    // The user namespace first: the others are owned by it and joined with its privileges.
    for (kind, fd) in c.namespaces {
        try Namespaces.join(fd, kind: kind, path: "/proc/" + String(c.state.pid) + "/ns/" + kind.procName)
        fd.close()
        // Act as the namespace's root from now on, where it has one (EINVAL: 0 is not
        // mapped; the capabilities setns gave us still apply).
        if kind == .user {
            if setresgid(0, 0, 0) != 0 && cl_errno() != EINVAL { throw .system(.namespaces, "setresgid to root in the user namespace") }
            if setresuid(0, 0, 0) != 0 && cl_errno() != EINVAL { throw .system(.namespaces, "setresuid to root in the user namespace") }
        }
    }
    // Joining the mount namespace reset root and cwd to its root, which is the host's
    // with --no-pivot: take the init's root again.
    if fchdir(c.root.raw) != 0 { throw .system(.exec, "enter the container root") }
    if chroot(".") != 0 { throw .system(.exec, "chroot to the container root") }
    if chdir("/") != 0 { throw .system(.exec, "chdir to the container root") }
    c.root.close()

    // The session keyring of the host must not be reachable from the container.
    try joinSessionKeyring(c.id, stage: .exec, what: "join the container's session keyring")
    if process.terminal {
        let size = process.consoleSize.flatMap { WindowSize(height: $0.height, width: $0.width) }
        _ = try Terminal.setupConsole(socket: c.console, size: size)
    }
    c.console?.close()

    try ProcessSetup.setRlimits(process.rlimits)
    if let p = c.personality { try ProcessSetup.setPersonality(p) }
    if let s = process.scheduler { try ProcessSetup.setScheduler(s) }
    if let io = process.ioPriority { try ProcessSetup.setIOPriority(io) }
    let env = try ProcessSetup.prepareEnvironment(process.env, uid: process.user.uid)
    let inCwd = try enterWorkingDirectory(process.cwd)
    let executable = try ProcessSetup.lookPath(process.args[0], env: env)

    // The runtime now waits for the channel to close (execve) or for an error message.
    try c.channel.send(.ready)
    if c.joinsCgroupLate { _ = try c.channel.expect(.go, while: "waiting to join the container's cgroup") }
    _ = cl_prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)

    let listenerState = c.seccomp == nil ? "" : containerProcessStateJSON(
        pid: hostPid, metadata: c.listenerMetadata, stateJSON: c.state.json.serialized(), agentToken: c.agentToken)
    // Only the sync channel stays open during execve (close-on-exec: its closing tells the
    // runtime the exec happened).
    let tail = ProcessTail(process: process, caps: c.caps, seccomp: c.seccomp, setgroupsDenied: c.setgroupsDenied,
                           listener: c.listener, listenerState: listenerState, preserveFDs: c.preserveFDs,
                           keep: [c.channel.fd.raw])
    try become(tail, executable: executable, env: env, inCwd: inCwd) {}
}
