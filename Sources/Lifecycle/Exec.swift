import Base
import CLinux
import Capabilities
import Cgroups
import JSON
import Mounts
import Namespaces
import OCISpec
import Process
import Seccomp
import Syscalls
import Terminal

/// Options of `exec`, with the process already built (see `execProcess`).
public struct ExecRequest: Sendable {
    public var id: String
    public var process: ProcessSpec
    /// Return once the process runs, leaving it to the caller (a subreaper such as a
    /// containerd shim or conmon); otherwise wait for it and return its exit status.
    public var detach: Bool = false
    public var pidFile: String? = nil
    /// Where the pty master goes when process.terminal is set and the runtime detaches.
    public var consoleSocket: String? = nil
    /// `--pidfd-socket`: receives a pidfd of the process (payload "setns", as from runc).
    public var pidfdSocket: String? = nil
    public var preserveFDs: Int = 0
    public var ignorePaused: Bool = false
    /// `--cgroup`: `[controller[,controller]:]path` of sub-cgroups to join instead.
    public var subCgroups: [String] = []

    public init(id: String, process: ProcessSpec) {
        self.id = id
        self.process = process
    }
}

extension Runtime {
    /// `exec`: runs another process in a created or running container. It joins every
    /// namespace of the container's init, its cgroup and its root, and gets the container's
    /// seccomp filter and personality; capabilities, user, rlimits, env and cwd are the
    /// exec process's own. Returns the process's exit status (128 + signal if killed), or
    /// 0 once it runs when detached. Setup errors come back from the child as one line.
    public func exec(_ r: ExecRequest) throws(SwiftletError) -> Int32 {
        try validateContainerID(r.id)
        try checkTerminalOptions(r)
        try checkPreservedFDs(r.preserveFDs)
        let subCgroups = try SubCgroups.parse(r.subCgroups)
        if r.process.args.isEmpty { throw SwiftletError(.exec, "process.args: must not be empty", errno: EINVAL) }

        let dir = store.directory(r.id)
        guard isDirectory(dir) else { throw SwiftletError(.state, "container does not exist: " + r.id, errno: ENOENT) }
        // The exec process is a clone of this one: it must run the read-only image of the
        // runtime (re-executes this command once).
        try RuntimeImage.ensureProtected()
        // Held until the process runs: a concurrent delete must not pull the cgroup or the
        // init away half-way.
        var lock: ContainerLock? = try ContainerLock.acquire(dir)
        defer { lock?.unlock() }
        let c = try load(r.id)
        switch c.status {
        case .stopped:
            throw SwiftletError(.exec, "cannot exec in a stopped container", errno: ESRCH)
        case .creating:
            throw SwiftletError(.exec, "cannot exec in a container that is being created", errno: EBUSY)
        case .paused where !r.ignorePaused:
            throw SwiftletError(.exec, "cannot exec in a paused container (use --ignore-paused to override)", errno: EBUSY)
        default:
            break
        }
        guard let record = c.record else { throw SwiftletError(.exec, "container is being created", errno: EBUSY) }
        if let s = r.process.scheduler, record.hasCgroup, subCgroups.isEmpty {
            try cgroupManager(record).requireRealtimeBudget(forPolicy: s.policy)
        }
        let spec = try storedConfig(c)
        let linux = spec.linux ?? LinuxSpec()
        let seccomp: SeccompProgram? = try linux.seccomp.map { (s) throws(SwiftletError) in try SeccompProgram.build(s, mediatingGPIO: spec.mediatesGPIO) }
        // Resolved now so that a bad list fails before anything runs.
        _ = try ProcessSetup.resolveRlimits(r.process.rlimits)
        let caps = try parseCapabilities(r.process.capabilities)

        logger.debugLine("exec " + r.id + ": config loaded, container init pid " + String(record.pid))
        var target = try ExecTarget.open(record)
        defer { target.close() }
        if isRootless { try target.enterUserNamespace() }

        var fds = ExecFDs()
        defer { fds.close() }
        if r.process.terminal {
            if let path = r.consoleSocket {
                fds.console = try Terminal.connectConsoleSocket(path: path)
            } else {
                // Foreground: the master comes back to us over a socketpair and we relay it.
                let (ours, theirs) = try UnixSocket.pair(stage: .terminal)
                fds.consoleReceiver = ours
                fds.console = theirs
            }
        }
        if let s = linux.seccomp, let path = s.listenerPath { fds.listener = try connectListener(path: path) }
        if let path = r.pidfdSocket { fds.pidfdSocket = try UnixSocket.connect(path: path, stage: .exec) }

        // Keep /proc/PID/exe of the child (this binary until it execs) out of the
        // container's reach (CVE-2019-5736).
        _ = cl_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        let signals = try SignalGuard.block()
        var signalsRestored = false
        defer { if !signalsRestored { signals.restore() } }
        let (runtimeEnd, childEnd) = try SyncChannel.pair()
        defer { runtimeEnd.close() }

        var state = c.state
        state.pid = record.pid
        let context = ExecContext(
            id: r.id, process: r.process, caps: caps, seccomp: seccomp, personality: linux.personality,
            namespaces: target.namespaces, root: target.root, channel: childEnd, console: fds.console,
            joinsCgroupLate: c.status == .paused,
            listener: fds.listener, listenerMetadata: linux.seccomp?.listenerMetadata, state: state,
            preserveFDs: r.preserveFDs, signalMask: signals.previous,
            setgroupsDenied: ProcessSetup.setgroupsDeniedIn(pid: record.pid),
            agentToken: fds.listener == nil ? nil : readAgentToken(stateDirectory: c.directory))
        let (pid, pidfd) = try spawnExecProcess(target: target, context: context)
        childEnd.close()
        logger.debugLine("exec " + r.id + ": process spawned, pid " + String(pid) + ", joining namespaces: "
                         + join(target.namespaces.map { $0.kind.procName } + target.forChildren.map { $0.kind.procName }, ","))
        // Only the child needs its end of the console socket.
        fds.console?.close()
        fds.console = nil

        // In a frozen cgroup the process would stop before it could report back: it then
        // joins the cgroup only once set up, and freezes on its way to execve.
        let joinLate = c.status == .paused
        var frozen = false
        do throws(SwiftletError) {
            if let initial = r.process.execCPUAffinity?.initial {
                try ProcessSetup.setCPUAffinity(initial, pid: pid)
            }
            if !joinLate {
                try joinCgroup(record, pid: pid, sub: subCgroups, affinity: r.process.execCPUAffinity?.final)
                logger.debugLine("exec " + r.id + ": joined the container's cgroup")
            }
            // Written here, through the host's procfs: the child writes nothing of procfs by path.
            if let adj = r.process.oomScoreAdj { try ProcessSetup.setOOMScoreAdj(adj, pid: pid) }
            try runtimeEnd.send(.go, String(pid))
            _ = try signals.receive(runtimeEnd, expecting: .ready, while: "starting the exec process")
            if let receiver = fds.consoleReceiver {
                fds.master = try Terminal.receiveMaster(from: receiver).master
            }
            if joinLate {
                try joinCgroup(record, pid: pid, sub: subCgroups, affinity: r.process.execCPUAffinity?.final)
                frozen = true
                try runtimeEnd.send(.go)
            } else if let (tag, payload) = try runtimeEnd.receive() {
                // The channel closes on execve; an error before that comes as a message.
                if tag == .error { throw SwiftletError.decode(payload) }
                throw SwiftletError(.sync, "unexpected message from the exec process")
            }
            logger.debugLine("exec " + r.id + ": process started, pid " + String(pid))
            try fds.pidfdSocket?.send("setns", passing: pidfd.raw, stage: .exec)
            lock?.unlock()
            lock = nil
            if let pidFile = r.pidFile {
                try writeFileAtomically(absolute(pidFile), String(pid), mode: 0o644, stage: .exec)
            }
        } catch {
            _ = cl_pidfd_send_signal(pidfd.raw, SIGKILL)
            // A frozen process dies only once thawed: leave the zombie to whoever adopts it.
            if !frozen { reap(pid) }
            pidfd.close()
            throw error
        }
        if r.detach {
            // The process stays a child of whoever started us once we exit (a subreaper
            // adopts it); nothing is waited for.
            pidfd.close()
            return 0
        }
        let status: Int32
        if let master = fds.master {
            Terminal.proxy(master: master, pidfd: pidfd, signalFD: signals.fd) { sig in
                _ = cl_pidfd_send_signal(pidfd.raw, sig)
            }
            status = reap(pid)
        } else {
            status = waitForwardingSignals(pid: pid, pidfd: pidfd, signals: signals)
        }
        signals.restore()
        signalsRestored = true
        pidfd.close()
        return status
    }

    func joinCgroup(_ record: ContainerRecord, pid: Int32, sub: SubCgroups, affinity final: String?) throws(SwiftletError) {
        // A rootless container without a delegated cgroup has none to join.
        if record.hasCgroup || !withoutHostCgroups { try cgroupManager(record).join(pid: pid, sub: sub) }
        if let final { try ProcessSetup.setCPUAffinity(final, pid: pid) }
    }

    /// runc's checkTerminal: a console socket only makes sense for a detached process with
    /// a terminal, and a detached one with a terminal needs somewhere to send it.
    func checkTerminalOptions(_ r: ExecRequest) throws(SwiftletError) {
        if r.detach && r.process.terminal && r.consoleSocket == nil {
            throw SwiftletError(.usage, "cannot allocate tty if swiftlet will detach without setting console socket",
                                errno: EINVAL)
        }
        if (!r.detach || !r.process.terminal) && r.consoleSocket != nil {
            throw SwiftletError(.usage, "cannot use console socket if swiftlet will not detach or allocate tty",
                                errno: EINVAL)
        }
    }

    /// The fds `--preserve-fds` passes on (3 up) must be open.
    func checkPreservedFDs(_ count: Int) throws(SwiftletError) {
        guard count > 0 else { return }
        for i in 0..<count where cl_fcntl_int(Int32(3 + i), F_GETFD, 0) < 0 {
            throw SwiftletError(.usage, "unable to stat preserved-fd " + String(i) + " (of " + String(count) + ")",
                                errno: cl_errno())
        }
    }

    /// clone3s the exec process. The pid and time namespaces only apply to children, so
    /// this process enters the container's around the clone and returns to its own after.
    func spawnExecProcess(target: ExecTarget, context: ExecContext) throws(SwiftletError) -> (Int32, FileDescriptor) {
        var restore: [(NamespaceKind, FileDescriptor)] = []
        defer { for (_, fd) in restore { fd.close() } }
        for (kind, fd) in target.forChildren {
            let own = try FileDescriptor.open("/proc/self/ns/" + kind.procName, O_RDONLY, stage: .namespaces)
            restore.append((kind, own))
            try Namespaces.join(fd, kind: kind, path: "/proc/" + String(target.pid) + "/ns/" + kind.procName)
        }
        // The child is born with the container's root as its root and cwd: no process of the
        // container's pid namespace ever shows the host's there, even for the moment before
        // it could chroot itself (CVE-2024-21626).
        let ownRoot = try FileDescriptor.open("/", O_PATH | O_DIRECTORY, stage: .exec)
        defer { ownRoot.close() }
        let ownCwd = try FileDescriptor.open(".", O_PATH | O_DIRECTORY, stage: .exec)
        defer { ownCwd.close() }
        if fchdir(target.root.raw) != 0 || chroot(".") != 0 {
            let e = SwiftletError.system(.exec, "enter the container root")
            _ = fchdir(ownCwd.raw)
            throw e
        }
        var pidfd: Int32 = -1
        let pid = cl_clone3(0, &pidfd, -1)
        if pid == 0 { execChild(context) }
        let cloneErrno = cl_errno()
        if fchdir(ownRoot.raw) != 0 || chroot(".") != 0 || fchdir(ownCwd.raw) != 0 {
            // Nothing this process does next may resolve paths in the container.
            writeStderr("swiftlet: exec: cannot return to the runtime's root\n")
            _exit(1)
        }
        // A rootless runtime (now in the container's user namespace, or root of one that
        // does not own the host's) cannot go back to the host's pid and time namespaces;
        // they only matter for children, and it makes no more.
        if !isRootless && !inUserNamespace {
            for (kind, fd) in restore { try Namespaces.join(fd, kind: kind, path: "/proc/self/ns/" + kind.procName) }
        }
        if pid < 0 { throw SwiftletError(.exec, "clone3 the exec process", errno: cloneErrno) }
        return (pid, FileDescriptor(pidfd))
    }
}

/// What the exec process enters: the init's namespaces (those that differ from ours) and
/// its root, opened while the init is known to be the recorded one.
struct ExecTarget {
    var pid: Int32
    var pidfd: FileDescriptor
    /// Joined by the child, user namespace first.
    var namespaces: [(kind: NamespaceKind, fd: FileDescriptor)] = []
    /// Joined by the runtime around clone (pid, time).
    var forChildren: [(kind: NamespaceKind, fd: FileDescriptor)] = []
    var root: FileDescriptor

    static let childOrder: [NamespaceKind] = [.user, .ipc, .uts, .network, .cgroup, .mount]

    static func open(_ record: ContainerRecord) throws(SwiftletError) -> ExecTarget {
        let pid = record.pid
        let raw = cl_pidfd_open(pid)
        if raw < 0 { throw .system(.exec, "open the container init") }
        let pidfd = FileDescriptor(raw)
        var opened: [FileDescriptor] = [pidfd]
        do throws(SwiftletError) {
            guard processStartTime(pid) == record.pidStartTime else {
                throw SwiftletError(.exec, "cannot exec in a stopped container", errno: ESRCH)
            }
            let base = "/proc/" + String(pid) + "/"
            let root = try FileDescriptor.open(base + "root", O_PATH | O_DIRECTORY, stage: .exec)
            opened.append(root)
            var target = ExecTarget(pid: pid, pidfd: pidfd, root: root)
            for kind in childOrder + [.pid, .time] {
                guard let fd = try openIfDifferent(base + "ns/" + kind.procName, kind: kind) else { continue }
                opened.append(fd)
                if kind == .pid || kind == .time { target.forChildren.append((kind, fd)) } else { target.namespaces.append((kind, fd)) }
            }
            // A live pidfd means the pid still names the init, so everything opened
            // through /proc/PID above was the init's.
            if cl_pidfd_send_signal(pidfd.raw, 0) != 0 {
                throw SwiftletError(.exec, "cannot exec in a stopped container", errno: ESRCH)
            }
            return target
        } catch {
            // The init exiting under us reads better as what it means.
            let exited = cl_pidfd_send_signal(pidfd.raw, 0) != 0
            for fd in opened { fd.close() }
            if exited { throw SwiftletError(.exec, "cannot exec in a stopped container", errno: ESRCH) }
            throw error
        }
    }

    /// The init's namespace of `kind`, or nil when it is ours as well (or the kernel has
    /// no such namespace type): setns into one's own user namespace fails.
    static func openIfDifferent(_ path: String, kind: NamespaceKind) throws(SwiftletError) -> FileDescriptor? {
        if !pathExists("/proc/self/ns/" + kind.procName) { return nil }
        let fd = try FileDescriptor.open(path, O_RDONLY, stage: .exec)
        guard let ours = Namespaces.isOurs(fd, kind: kind) else {
            fd.close()
            throw SwiftletError.system(.exec, "stat " + path)
        }
        if ours {
            fd.close()
            return nil
        }
        return fd
    }

    /// A rootless runtime has no privilege over the container's namespaces (nor may it
    /// chroot) until it is in the container's user namespace, which its user owns: it
    /// joins that first, itself, and the exec process then joins the rest. It stays there:
    /// it only waits for the process and relays its stdio and signals, and it is not
    /// dumpable, so the container cannot reach into it.
    mutating func enterUserNamespace() throws(SwiftletError) {
        guard let k = namespaces.firstIndex(where: { $0.kind == .user }) else { return }
        _ = cl_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        let fd = namespaces[k].fd
        try Namespaces.join(fd, kind: .user, path: "/proc/" + String(pid) + "/ns/user")
        namespaces.remove(at: k)
        fd.close()
    }

    func close() {
        pidfd.close()
        root.close()
        for (_, fd) in namespaces { fd.close() }
        for (_, fd) in forChildren { fd.close() }
    }
}

/// The runtime-side fds of one exec, closed on every way out.
struct ExecFDs {
    var console: UnixSocket? = nil          // the child's way to hand over the pty master
    var consoleReceiver: UnixSocket? = nil  // our end when we relay the console ourselves
    var master: FileDescriptor? = nil
    var listener: FileDescriptor? = nil
    var pidfdSocket: UnixSocket? = nil

    func close() {
        pidfdSocket?.close()
        console?.close()
        consoleReceiver?.close()
        master?.close()
        listener?.close()
    }
}
