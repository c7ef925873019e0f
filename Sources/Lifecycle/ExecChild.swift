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
    closeFileDescriptors(from: 3 + Int32(clamping: max(c.preserveFDs, 0)), except: c.fdsInUse)
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
    if cl_join_session_keyring("_ses." + c.id) < 0 {
        let e = cl_errno()
        if e != ENOSYS && e != EACCES && e != EPERM && e != EDQUOT {
            throw SwiftletError(.exec, "join the container's session keyring", errno: e)
        }
    }
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
    // A cwd only the process's user may enter is entered again after the switch.
    let inCwd = try ProcessSetup.changeDirectory(process.cwd, deferOnPermissionDenied: true)
    let executable = try ProcessSetup.lookPath(process.args[0], env: env)

    // The runtime now waits for the channel to close (execve) or for an error message.
    try c.channel.send(.ready)
    if c.joinsCgroupLate { _ = try c.channel.expect(.go, while: "waiting to join the container's cgroup") }
    _ = cl_prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)

    // Before no_new_privs, the filter and the capability drop (see Labels).
    try Labels.applyBeforeExec(process)
    ProcessSetup.setUmask(process.user.umask)
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before the
    // capabilities are dropped. With it, load it as late as possible.
    if let seccomp = c.seccomp, !process.noNewPrivileges { try loadExecSeccomp(seccomp, c, hostPid: hostPid) }
    _ = try ProcessSetup.switchUserAndCapabilities(user: process.user, caps: c.caps, setgroupsDenied: c.setgroupsDenied)
    if !inCwd { try ProcessSetup.changeDirectory(process.cwd) }
    // No fd or cwd of the host may survive into the container (CVE-2024-21626).
    try ProcessSetup.verifyWorkingDirectory()
    if process.noNewPrivileges { try ProcessSetup.setNoNewPrivileges() }
    if let seccomp = c.seccomp, process.noNewPrivileges { try loadExecSeccomp(seccomp, c, hostPid: hostPid) }
    c.listener?.close()
    // Only the sync channel stays open during execve (close-on-exec: its closing tells the
    // runtime the exec happened); no other fd can then be named as the program
    // (CVE-2024-21626).
    closeFileDescriptors(from: 3 + Int32(clamping: max(c.preserveFDs, 0)), except: [c.channel.fd.raw])
    try ProcessSetup.exec(path: executable, args: process.args, env: env)
}

/// Loads the container's filter; a notify fd goes to its agent with the state of the
/// container and this process's pid (config-linux.md, "listenerPath").
private func loadExecSeccomp(_ program: SeccompProgram, _ c: ExecContext, hostPid: Int32) throws(SwiftletError) {
    guard let notify = try program.load() else { return }
    defer { close(notify) }
    guard let listener = c.listener else {
        throw SwiftletError(.seccomp, "seccomp notify rules need linux.seccomp.listenerPath", errno: EINVAL)
    }
    let text = containerProcessStateJSON(pid: hostPid, metadata: c.listenerMetadata,
                                         stateJSON: c.state.json.serialized(), agentToken: c.agentToken)
    try sendToListener(socket: listener, notifyFD: notify, processStateJSON: text)
}

/// Closes every fd from `first` up except those in `keep`: close_range(2) over the gaps,
/// or one by one from /proc/self/fd on kernels without it.
private func closeFileDescriptors(from first: Int32, except keep: [Int32]) {
    let kept = keep.filter { $0 >= first }.sorted()
    var next = UInt32(bitPattern: first)
    var ok = true
    for fd in kept {
        let k = UInt32(bitPattern: fd)
        if k > next { ok = ok && cl_close_range(next, k - 1, 0) == 0 }
        next = k + 1
    }
    ok = ok && cl_close_range(next, UInt32.max, 0) == 0
    if ok { return }
    guard let names = try? listDirectory("/proc/self/fd") else { return }
    for name in names {
        if let n = parseInt(name), let fd = Int32(exactly: n), fd >= first, !kept.contains(fd) { close(fd) }
    }
}
