import Base
import CLinux
import Capabilities
import Cgroups
import Devices
import Hooks
import JSON
import Mounts
import Namespaces
import OCISpec
import Process
import Seccomp
import Syscalls
import Terminal

/// Everything the container's init needs; it lives in the cloned child's copy of memory.
struct InitContext: @unchecked Sendable {
    var id: String
    var bundle: String
    var rootfs: String
    var spec: Spec
    var plan: NamespacePlan
    var channel: SyncChannel
    var fifo: FileDescriptor
    /// The memfd `start` writes a fast-start replacement into (see FastStart.swift).
    var replacement: FileDescriptor
    var noPivot: Bool
    var noNewKeyring: Bool
    var preserveFDs: Int
    var cgroupBinds: [(name: String, hostPath: String)]
    var signalMask: sigset_t
    /// The runtime's own fds the init must not hold: the container lock (an flock lives as
    /// long as any copy of its fd) and the signalfd.
    var runtimeFDs: [Int32]
    /// Where the pty master goes (console socket, or the runtime for a foreground run).
    var console: UnixSocket?
    /// A primitive container: mounts and devices are set up as far as the kernel allows.
    var primitive: Bool = false
    /// v1 `tasks` files of the container's cgroup, written by the init to join it.
    var cgroupJoinFDs: [Int32] = []
    /// The network namespace is not the runtime's (created, or joined by a path that names
    /// another one): only then may net.* sysctls be written.
    var ownNetworkNamespace: Bool = false
    /// The connection to the seccomp agent (made by create) and the container's attach token.
    var listener: FileDescriptor? = nil
    var agentToken: String? = nil
}

/// The container's init: runs in the cloned child and never returns. Until it reports
/// ready, errors go back to the runtime over the sync channel; after that, to stderr.
func containerInit(_ c: InitContext) -> Never {
    // Before anything else happens in the container: join its cgroup.
    do throws(SwiftletError) { try CgroupManager.joinSelf(through: c.cgroupJoinFDs) } catch {
        _ = try? c.channel.send(.error, error.encoded)
        _exit(1)
    }
    for fd in c.cgroupJoinFDs { close(fd) }
    for fd in c.runtimeFDs { close(fd) }
    // Nothing the caller of create passed beyond stdio and --preserve-fds stays open in the
    // init while it waits for start: a client waiting for a pipe to close must not hang.
    _ = try? ProcessSetup.closeFileDescriptors(
        preserve: c.preserveFDs,
        except: [c.channel.fd.raw, c.fifo.raw, c.replacement.raw] + (c.console.map { [$0.fd.raw] } ?? []) + (c.listener.map { [$0.raw] } ?? []))
    var mask = c.signalMask
    sigprocmask(SIG_SETMASK, &mask, nil)
    var reportedReady = false
    do throws(SwiftletError) {
        try initialize(c, reportedReady: &reportedReady)
    } catch {
        if reportedReady {
            writeStderr("swiftlet: " + error.description + "\n")
            _exit(error.errno == ENOENT ? 127 : error.errno == EACCES || error.errno == EPERM ? 126 : 1)
        }
        _ = try? c.channel.send(.error, error.encoded)
        _exit(1)
    }
}

private func initialize(_ c: InitContext, reportedReady: inout Bool) throws(SwiftletError) -> Never {
    let spec = c.spec
    let linux = spec.linux ?? LinuxSpec()
    var process = spec.process ?? ProcessSpec()
    let parent = getppid()

    // If the runtime dies during create, the half-made container must go too.
    _ = cl_prctl(PR_SET_PDEATHSIG, UInt(SIGKILL), 0, 0, 0)
    if getppid() != parent { _exit(1) }

    // In a new user namespace, the runtime sends the bind mounts' sources (see BindSources).
    let (trees, goPayload) = try c.channel.receiveBindSources(mountCount: spec.mounts.count, while: "waiting for the runtime")
    let bindSources = BindSources(trees: trees)
    let hostPid = Int32(parseInt64(goPayload) ?? 0)
    // A rootless runtime left us dumpable until it had written our id maps (see create).
    if isRootless { _ = cl_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) }

    if c.plan.creates(.user) {
        // Become root of the new user namespace (the runtime has written the maps) when
        // root is mapped; otherwise keep the full capabilities the new namespace gave us
        // and let the switch to process.user decide later.
        if hostID(of: 0, in: linux.gidMappings) != nil, setresgid(0, 0, 0) != 0 {
            throw .system(.namespaces, "setresgid to root in the user namespace")
        }
        if hostID(of: 0, in: linux.uidMappings) != nil, setresuid(0, 0, 0) != 0 {
            throw .system(.namespaces, "setresuid to root in the user namespace")
        }
    }
    // Join namespaces given by path: the user namespace first, so that the others are
    // joined with its privileges. pid and time were joined by the runtime around clone.
    for kind in [NamespaceKind.user, .ipc, .uts, .network, .cgroup, .mount] {
        guard let path = c.plan.joinPath(kind) else { continue }
        let fd = try Namespaces.open(path, kind: kind)
        defer { fd.close() }
        try Namespaces.join(fd, kind: kind, path: path)
    }
    // A cgroup namespace is rooted at the cgroup the init is in: create it only now that
    // the runtime has moved us into the container's cgroup.
    if c.plan.creates(.cgroup) { try Namespaces.unshare(CLONE_NEWCGROUP, what: "cgroup namespace") }
    // The parser refused offsets, a hostname or a domainname without their namespace; the
    // primitive mode clears them with the namespace.
    if c.plan.creates(.time) { try Namespaces.enterNewTimeNamespace(offsets: linux.timeOffsets) }
    if !c.noNewKeyring { try joinSessionKeyring(c.id, stage: .lifecycle, what: "join a new session keyring") }
    if let hostname = spec.hostname { try Namespaces.setHostname(hostname) }
    if let domainname = spec.domainname { try Namespaces.setDomainname(domainname) }

    if c.plan.creates(.network) { try Namespaces.bringUpLoopback() }

    if c.primitive && !c.plan.has(.pid) {
        // Without a pid namespace, orphans of the container would go to the host's init,
        // out of reach of `kill --all` and `delete`: keep them below the container process
        // (the attribute survives exec).
        _ = cl_prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    }
    let userNamespace = c.plan.has(.user)
    let prepared = try Rootfs.prepare(rootfs: c.rootfs, bundle: c.bundle, mounts: spec.mounts,
                                      propagation: linux.rootfsPropagation, userNamespace: userNamespace,
                                      cgroupBinds: c.cgroupBinds, cgroupNamespace: c.plan.has(.cgroup),
                                      hostNamespace: !c.plan.has(.mount), tolerateFailures: c.primitive,
                                      bindSources: bindSources)
    if prepared.rootfsBound { try Rootfs.makeWorkingDirectory(process.cwd, rootfs: c.rootfs, bundle: c.bundle) }
    // What a primitive container could not set up goes back with "ready".
    var report = ReadyReport()
    if !prepared.failedMounts.isEmpty {
        report.add("mounts", "not mounted: " + join(prepared.failedMounts.map(printable), " "))
    }
    // Without a mount namespace, a primitive container's device nodes go only into a /dev it
    // mounted: never into the bundle's own directory on disk.
    let devMounted = !c.primitive || c.plan.has(.mount) || spec.mounts.contains { m in
        lexicallyCleanPath(m.destination).bytesEqual("/dev") && (m.type ?? "").bytesEqual("tmpfs")
            && !prepared.failedMounts.contains { lexicallyCleanPath($0).bytesEqual("/dev") }
    }
    if devMounted && (prepared.rootfsBound || !c.primitive) {
        do throws(SwiftletError) {
            try Devices.setup(rootfs: c.rootfs, devices: linux.devices, userNamespace: userNamespace, mounts: spec.mounts)
        } catch {
            try report.tolerate(error, primitive: c.primitive, "devices", "device nodes incomplete")
        }
    } else if Devices.needsSetup(mounts: spec.mounts) {
        report.add("devices", "no device nodes (no /dev of its own)")
    }

    let listener = c.listener

    try c.channel.send(.runHooks)
    _ = try c.channel.expect(.hooksDone, while: "running prestart and createRuntime hooks")
    let created = ContainerState(id: c.id, status: .created, pid: hostPid, bundle: c.bundle, annotations: spec.annotations)
    try Hooks.run(spec.hooks.createContainer, phase: "createContainer", state: created.json.serialized())

    // A foreign-architecture executable is looked at while the host's emulator is reachable.
    var foreign = try ForeignPlan.prepare(rootfs: c.rootfs, process: process, annotations: spec.annotations,
                                          privateBinfmtAllowed: c.plan.creates(.user) && c.plan.has(.mount))
    // Without a /proc of its own, the init reopens exec.fifo through a procfs attached nowhere.
    let hasProcMount = spec.mounts.contains { m in
        lexicallyCleanPath(m.destination).bytesEqual("/proc") && (m.type ?? "").bytesEqual("proc")
    }
    let fifoProc = hasProcMount ? nil : try Rootfs.detachedProcfs()
    try Rootfs.enter(rootfs: c.rootfs, noPivot: c.noPivot, hostNamespace: !c.plan.has(.mount))
    foreign?.activate()
    if process.terminal {
        // The pty comes from the container's own devpts; it becomes the controlling
        // terminal and stdio, /dev/console, and its master leaves through the socket.
        let size = process.consoleSize.flatMap { WindowSize(height: $0.height, width: $0.width) }
        _ = try Terminal.setupConsole(socket: c.console, size: size, mountOnDevConsole: true)
        c.console?.close()
    }
    try Sysctl.apply(linux.sysctl, hasNetworkNamespace: c.ownNetworkNamespace, hasIPCNamespace: c.plan.has(.ipc),
                     hasUTSNamespace: c.plan.has(.uts))
    if !prepared.rootfsBound {
        // "/" here is the mount that holds the rootfs on the host: remounting or masking in
        // it would reach the host.
        report.add("paths", "no read-only root, masked or read-only paths (rootfs not mountable)")
    } else {
        do throws(SwiftletError) {
            try Rootfs.finish(maskedPaths: linux.maskedPaths, readonlyPaths: linux.readonlyPaths,
                              readonlyRoot: spec.root.readonly, propagation: linux.rootfsPropagation,
                              mounts: spec.mounts.filter { m in !prepared.failedMounts.contains { $0.bytesEqual(m.destination) } })
        } catch {
            try report.tolerate(error, primitive: c.primitive, "paths", "masked or read-only paths incomplete")
        }
    }

    try ProcessSetup.setRlimits(process.rlimits)
    if let policy = linux.memoryPolicy { try ProcessSetup.setMemoryPolicy(policy) }
    if let adj = process.oomScoreAdj { try ProcessSetup.setOOMScoreAdj(adj) }
    if let p = linux.personality { try ProcessSetup.setPersonality(p) }
    let caps = try parseCapabilities(process.capabilities)
    let seccomp: SeccompProgram? = try linux.seccomp.map { (s) throws(SwiftletError) in try SeccompProgram.build(s, mediatingGPIO: spec.mediatesGPIO) }
    var env = try ProcessSetup.prepareEnvironment(process.env, uid: process.user.uid)
    var inCwd = try enterWorkingDirectory(process.cwd)
    var executable = try ProcessSetup.lookPath(process.args[0], env: env)

    // The bounding set is the created container's (a fast start keeps the capabilities):
    // limited now, not on the way from `start` to the process. What the kernel and the user
    // namespace say (the last capability, read once per process; setgroups, fixed once the
    // maps are written) is read now too.
    _ = lastCapability()
    if let caps { try ProcessSetup.limitBoundingSet(caps) }
    let setgroupsDenied = ProcessSetup.setgroupsDeniedIn(pid: getpid())

    // Ready: from here on the runtime may exit, so the init must outlive it.
    _ = cl_prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)
    report.foreignRoute = foreign?.note
    try c.channel.send(.ready, report.encoded)
    c.channel.close()
    reportedReady = true

    // Block until `start` opens the other end of exec.fifo, then take the process it
    // may have replaced (fast start) and place it. The outcome goes back through the
    // fifo: "0", or "E" and the error. A bad replacement leaves the container created:
    // the init waits on the fifo again. After "0" the fifo stays open, close-on-exec:
    // `start` sees it close when the user's process is executed (so poststart hooks run
    // after it), or reads "E" and the error if getting there fails.
    var started = FileDescriptor(-1)
    while true {
        let fifo = try openFifoForStart(c.fifo, through: fifoProc)
        do throws(SwiftletError) {
            if let replacement = try takeReplacement(c.replacement) {
                // Nothing of the configured process changes until the replacement is valid.
                let next = replacement.merged(into: process)
                let nextEnv = try ProcessSetup.prepareEnvironment(next.env, uid: next.user.uid)
                let nextInCwd = try enterWorkingDirectory(next.cwd)
                let nextExecutable = try ProcessSetup.lookPath(next.args[0], env: nextEnv)
                try place(next, cpus: replacement.cpus)
                (process, env, inCwd, executable) = (next, nextEnv, nextInCwd, nextExecutable)
            } else {
                try place(process, cpus: nil)
            }
        } catch {
            _ = try? fifo.writeAll("E" + error.encoded)
            // Wait for this `start` to close its end (POLLERR on a pipe without readers)
            // before waiting for the next one.
            var p = pollfd(fd: fifo.raw, events: 0, revents: 0)
            while poll(&p, 1, -1) < 0 && cl_errno() == EINTR {}
            fifo.close()
            _ = try? ProcessSetup.changeDirectory(process.cwd, deferOnPermissionDenied: true)
            continue
        }
        _ = try? fifo.writeAll("0")
        started = fifo
        break
    }
    fifoProc?.close()

    do throws(SwiftletError) {
        let listenerState = seccomp == nil ? "" : containerProcessStateJSON(
            pid: created.pid, metadata: linux.seccomp?.listenerMetadata, stateJSON: created.json.serialized(),
            agentToken: c.agentToken)
        let tail = ProcessTail(process: process, caps: caps, seccomp: seccomp, setgroupsDenied: setgroupsDenied,
                               listener: listener, listenerState: listenerState, preserveFDs: c.preserveFDs,
                               keep: [started.raw], boundingSetLimited: true)
        try become(tail, executable: executable, env: env, inCwd: inCwd) { () throws(SwiftletError) in
            // startContainer hooks run as the container's process is about to: its user,
            // capabilities, no_new_privs and seccomp filter apply to them (as in runc), so a
            // hook the profile forbids fails the start.
            try Hooks.run(spec.hooks.startContainer, phase: "startContainer", state: created.json.serialized())
            try foreign?.execIfForeign(path: executable, args: process.args, env: env, preserve: c.preserveFDs, keep: started)
        }
    } catch {
        _ = try? started.writeAll("E" + error.encoded)
        _exit(error.errno == ENOENT ? 127 : error.errno == EACCES || error.errno == EPERM ? 126 : 1)
    }
}

/// Opens the write end of exec.fifo through the O_PATH fd taken before pivot_root (via
/// the container's /proc, or `proc`, a procfs attached nowhere); blocks until `start`
/// opens the read end.
private func openFifoForStart(_ path: FileDescriptor, through proc: FileDescriptor?) throws(SwiftletError) -> FileDescriptor {
    let fifoPath = (proc == nil ? "/proc/self/fd/" : "self/fd/") + String(path.raw)
    var fd: Int32 = -1
    repeat { fd = cl_openat(proc?.raw ?? AT_FDCWD, fifoPath, O_WRONLY | O_CLOEXEC, 0) } while fd < 0 && cl_errno() == EINTR
    if fd < 0 { throw .system(.lifecycle, "open exec.fifo") }
    return FileDescriptor(fd)
}

/// CPU placement and scheduling of the process about to run (runtime-spec 1.2:
/// execCPUAffinity, scheduler, ioPriority). Without an explicit CPU list the process gets
/// every CPU its cpuset allows, never the runtime's own affinity.
private func place(_ process: ProcessSpec, cpus: String?) throws(SwiftletError) {
    if let list = cpus ?? process.execCPUAffinity?.final, !list.isEmpty {
        try ProcessSetup.setCPUAffinity(list)
    } else {
        try ProcessSetup.resetCPUAffinity()
    }
    if let io = process.ioPriority { try ProcessSetup.setIOPriority(io) }
    if let scheduler = process.scheduler { try ProcessSetup.setScheduler(scheduler) }
}
