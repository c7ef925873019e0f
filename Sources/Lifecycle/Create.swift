import Base
import CLinux
import Cgroups
import Hooks
import JSON
import Mounts
import Namespaces
import OCISpec
import Process
import Seccomp
import Syscalls
import Terminal

/// A container whose init is waiting on exec.fifo, as `create` leaves it.
public struct CreatedContainer: Sendable {
    public var record: ContainerRecord
    public var spec: Spec
    public var pidfd: FileDescriptor
    public var signals: SignalGuard
    /// The pty master of a foreground run with a terminal.
    public var consoleMaster: FileDescriptor?
}

extension Runtime {
    /// runtime.md "create": everything but the user's process, which waits on exec.fifo.
    /// Any failure leaves nothing behind: no process, cgroup, mount or state directory.
    public func create(_ o: CreateRequest) throws(SwiftletError) -> CreatedContainer {
        try validateContainerID(o.id)
        let bundle = try realPath(o.bundle, stage: .config)
        let (bundleSpec, configText) = try loadBundle(bundle)
        var spec = bundleSpec
        // systemd socket activation, as runc: the sockets passed to us go on to the
        // container's process as fds 3..., ahead of --preserve-fds.
        let listenFDs = socketActivationFDs()
        if listenFDs > 0, var process = spec.process {
            process.env = process.env.filter { !$0.hasBytePrefix("LISTEN_FDS=") && !$0.hasBytePrefix("LISTEN_PID=") }
                + ["LISTEN_FDS=" + String(listenFDs), "LISTEN_PID=1"]
            spec.process = process
        }
        let rootfs = try rootfsPath(spec, bundle: bundle)
        let linux = spec.linux ?? LinuxSpec()
        // A primitive container applies a reduced copy of the config (see Primitive.swift).
        var degradation = Degradation(spec)
        // runc's rules: a detached container with a terminal needs somewhere to send it,
        // and a console socket without a terminal is a mistake.
        let terminal = spec.process?.terminal ?? false
        if terminal && o.consoleSocket == nil && !o.foreground {
            throw SwiftletError(.usage, "cannot allocate tty if swiftlet will detach without setting console socket", errno: EINVAL)
        }
        if !terminal && o.consoleSocket != nil {
            throw SwiftletError(.usage, "cannot use console socket if swiftlet will not detach or allocate tty", errno: EINVAL)
        }
        // Validate the seccomp profile before anything exists (the init loads it later).
        if let s = linux.seccomp { _ = try SeccompProgram.build(s, mediatingGPIO: spec.mediatesGPIO) }
        // LSM labels are applied where the host enforces the module, refused here otherwise.
        try Labels.check(spec.process, mountLabel: linux.mountLabel, what: "config.json")
        spec.mounts = Labels.labelledMounts(spec.mounts, mountLabel: linux.mountLabel)
        // A kernel of its own: the guest's swiftlet applies the rest of the config.
        if degradation.mode == .uml { return try createUML(o, spec: spec, configText: configText, bundle: bundle, rootfs: rootfs) }

        // Signals that would kill us half-way are held back and turned into a clean abort.
        // The state root is checked first (creating it is idempotent), so that a bad --root
        // reads the same wherever the re-exec below cannot work.
        try store.ensureRoot()
        // The init is a clone of this process: from here on it must be the read-only image
        // of the runtime (re-executes this command once; nothing above has side effects
        // beyond the state root).
        try RuntimeImage.ensureProtected()

        logger.debugLine("create " + o.id + ": config loaded from " + bundle + "/config.json, rootfs " + rootfs)
        let signals = try SignalGuard.block()
        var undo = CreateUndo(store: store)
        do throws(SwiftletError) {
            let (dir, lock) = try makeStateDirectory(o.id, configText: configText, undo: &undo)
            defer { lock.unlock() }
            // The agent attaches a notify fd under this id only with this token.
            let agentToken = spec.linux?.seccomp?.listenerPath == nil ? nil : try makeAgentToken(stateDirectory: dir)

            var cgroup: CgroupManager? = nil
            var systemd: SystemdDriver? = nil
            do throws(SwiftletError) {
                let manager = try CgroupManager(layout: try CgroupLayout.detect(), cgroupsPath: linux.cgroupsPath,
                                                containerID: o.id, systemd: systemdCgroup)
                if systemdCgroup {
                    // systemd makes the cgroup once the init exists: a scope starts with its pid.
                    systemd = try SystemdDriver.connect(try CgroupPath.systemdUnit(linux.cgroupsPath, containerID: o.id))
                } else {
                    try manager.create()
                    undo.cgroup = manager
                    try manager.refuseFrozen()
                    var resources = effectiveResources(spec)
                    // Device nodes made in a user namespace cannot be opened anyway, and a v1
                    // devices cgroup takes rules only from CAP_SYS_ADMIN.
                    if withoutHostCgroups { resources.devices = [] }
                    try manager.apply(resources)
                    logger.debugLine("create " + o.id + ": cgroup " + manager.path + " created, resources applied")
                }
                cgroup = manager
            } catch let error where withoutHostCgroups && (error.errno == EACCES || error.errno == EPERM || error.errno == EROFS) {
                // As runc: a rootless container without a cgroup root delegated to its user
                // runs without limits, and says so once.
                if let made = undo.cgroup { try? made.destroy() }
                undo.cgroup = nil
                logger.warning("rootless container " + o.id + " runs without a cgroup (no resource limits, no pause): "
                               + error.description)
            } catch {
                try degradation.cgroupFailed(error)
                if let made = undo.cgroup { try? made.destroy() }
                undo.cgroup = nil
            }
            // Settled now: only a refused clone below may still change it.
            var plan: NamespacePlan { degradation.plan }

            if let cgroup, let s = spec.process?.scheduler { try cgroup.requireRealtimeBudget(forPolicy: s.policy) }
            if mkfifo(dir + "/exec.fifo", 0o600) != 0 { throw .system(.state, "mkfifo exec.fifo") }
            if plan.creates(.user) && !isRootless {
                // The init opens the fifo as root of its user namespace: give it to that user.
                // (A rootless runtime's files are its user's already, and it can give them to no one else.)
                let uid = hostID(of: 0, in: linux.uidMappings) ?? 0
                let gid = hostID(of: 0, in: linux.gidMappings) ?? 0
                if chown(dir + "/exec.fifo", uid, gid) != 0 { throw .system(.state, "chown exec.fifo") }
            }
            let fifo = try FileDescriptor.open(dir + "/exec.fifo", O_PATH, stage: .state)
            defer { fifo.close() }
            // Where `start` leaves a fast-start replacement for the init: an anonymous file,
            // so the waiting init holds nothing that leads to the host's file systems.
            let replacement = try makeReplacementChannel(directory: dir)
            defer { replacement.close() }

            if !plan.has(.mount) || degradation.mode != .full {
                // Without a mount namespace the init mounts below rootfs in ours: note where,
                // so that `delete --force` cleans up even after a create that was killed.
                // (A primitive container learns only at clone whether it gets one.)
                try writeFile(dir + "/host-mounts", rootfs, create: true, mode: 0o600, stage: .state)
            }
            let (runtimeEnd, initEnd) = try SyncChannel.pair()
            defer { runtimeEnd.close() }
            // The pty is made by the init inside the container; its master goes to the
            // console socket, or back to us for a foreground run.
            var consoleForInit: UnixSocket? = nil
            var consoleReceiver: UnixSocket? = nil
            if terminal {
                if let path = o.consoleSocket {
                    consoleForInit = try Terminal.connectConsoleSocket(path: path)
                } else {
                    let (ours, theirs) = try UnixSocket.pair(stage: .lifecycle)
                    consoleReceiver = ours
                    consoleForInit = theirs
                }
            }
            defer { consoleForInit?.close() }
            defer { consoleReceiver?.close() }

            // Keep /proc/PID/exe of the init (still this binary until it execs) out of the
            // container's reach (CVE-2019-5736): a non-dumpable process's /proc files are root's.
            // A rootless runtime must still write the init's id maps (itself or through
            // newuidmap, both as the init's owner): its init turns non-dumpable once they are written.
            if !isRootless { _ = cl_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) }
            // The agent is reached from the host (its socket is root's alone); the init
            // sends its notify fd over this connection.
            let listener = try spec.linux?.seccomp?.listenerPath.map { (p) throws(SwiftletError) in try connectListener(path: p) }
            defer { listener?.close() }

            // The init joins the cgroup itself, first thing (see CgroupManager.openSelfJoinFiles).
            let cgroupJoinFiles = systemd == nil ? try cgroup?.openSelfJoinFiles() ?? [] : []
            defer { for f in cgroupJoinFiles { f.close() } }
            let cgroupV2 = systemd == nil ? cgroup?.v2Directory() : nil
            defer { cgroupV2?.close() }
            var enteredV2AtClone = false

            var pid: Int32 = 0
            var pidfd = FileDescriptor(-1)
            while true {
                let context = InitContext(
                    id: o.id, bundle: bundle, rootfs: rootfs, spec: degradation.spec, plan: plan, channel: initEnd,
                    fifo: fifo, replacement: replacement, noPivot: o.noPivot, noNewKeyring: o.noNewKeyring,
                    preserveFDs: o.preserveFDs + listenFDs, cgroupBinds: cgroup?.bindSources ?? [], signalMask: signals.previous,
                    runtimeFDs: [lock.fd.raw, signals.fd.raw] + (consoleReceiver.map { [$0.fd.raw] } ?? []),
                    console: consoleForInit, primitive: degradation.primitive != nil,
                    cgroupJoinFDs: cgroupJoinFiles.map { $0.raw },
                    ownNetworkNamespace: try hasOwnNetworkNamespace(plan), listener: listener, agentToken: agentToken)
                do throws(SwiftletError) {
                    (pid, pidfd, enteredV2AtClone) = try spawnInit(plan: plan, context: context, cgroupV2: cgroupV2)
                    break
                } catch {
                    try degradation.cloneFailed(error)
                }
            }
            initEnd.close()
            logger.debugLine("create " + o.id + ": init spawned, pid " + String(pid) + ", new namespaces: "
                             + join(plan.create.map { $0.procName }, ",") + ", joined: "
                             + join(plan.join.map { $0.kind.procName + "=" + $0.path }, ","))
            undo.pid = pid
            undo.pidfd = pidfd
            if !plan.has(.mount) { undo.hostMountsUnder = rootfs } else { unlink(dir + "/host-mounts") }

            if plan.creates(.user) {
                if isRootless {
                    try writeRootlessIDMappings(pid: pid, uid: linux.uidMappings, gid: linux.gidMappings)
                } else {
                    try Namespaces.writeIDMappings(pid: pid, uid: linux.uidMappings, gid: linux.gidMappings)
                }
            }
            // A rootless runtime cannot enter the init's mount namespace (that needs
            // CAP_SYS_ADMIN here) and needs not: its init reaches what its user can.
            if plan.creates(.user) && degradation.primitive == nil && !isRootless {
                // The init is the mapped root, which may not reach a bind source the config
                // names: clone them as host root, in the init's mount namespace, and send them.
                let bindSources = try BindSources.open(mounts: spec.mounts, bundle: bundle, inMountNamespaceOf: pid)
                defer { bindSources.close() }
                try bindSources.applyIDMappings(mounts: spec.mounts, userNamespace: "/proc/" + String(pid) + "/ns/user")
                for (index, tree) in bindSources.trees.enumerated() where tree >= 0 {
                    try runtimeEnd.send(.bindSource, String(index), passing: tree)
                }
            }
            if let systemd, let manager = cgroup {
                let resources = effectiveResources(spec)
                try systemd.start(pid: pid, description: "swiftlet container " + o.id, resources: resources,
                                  unifiedHierarchy: manager.mode == .v2)
                undo.systemd = systemd
                try systemd.checkPlacement(pid: pid)
                // What systemd did not make (v1 hierarchies it does not manage) and the
                // limits it has no property for: as with cgroupfs, in the delegated cgroup.
                try manager.create(owner: pid)
                undo.cgroup = manager
                try manager.apply(resources)
                try manager.join(pid: pid)
                logger.debugLine("create " + o.id + ": systemd unit " + systemd.unit.unit + " started, cgroup " + manager.path)
            } else if !enteredV2AtClone {
                try cgroup?.joinUnified(pid: pid)
            }
            try runtimeEnd.send(.go, String(pid))
            logger.debugLine("create " + o.id + ": namespaces and cgroup of the init set up")

            _ = try signals.receive(runtimeEnd, expecting: .runHooks, while: "setting up the root filesystem")
            logger.debugLine("create " + o.id + ": rootfs ready (mounts and devices)")
            // Hooks during create see the state as runc and crun report it to them: "created".
            let hookState = ContainerState(id: o.id, status: .created, pid: pid, bundle: bundle, annotations: spec.annotations)
            let stateJSON = hookState.json.serialized()
            try Hooks.run(spec.hooks.prestart, phase: "prestart", state: stateJSON)
            try Hooks.run(spec.hooks.createRuntime, phase: "createRuntime", state: stateJSON)
            logger.debugLine("create " + o.id + ": hooks run: prestart " + String(spec.hooks.prestart.count)
                             + ", createRuntime " + String(spec.hooks.createRuntime.count))
            try runtimeEnd.send(.hooksDone)
            let report = ReadyReport.decode(
                try signals.receive(runtimeEnd, expecting: .ready, while: "preparing the container process"))
            if let route = report.foreignRoute { logger.debugLine(route) }
            logger.debugLine("create " + o.id + ": container process ready, waiting for start")
            var annotations = spec.annotations.filter { !$0.0.bytesEqual(Isolation.missingAnnotation) }
            if let primitive = degradation.outcome(report) {
                annotations = primitive.stateAnnotations(spec.annotations)
                logger.warning(primitive.warning)
            }

            let record = ContainerRecord(
                id: o.id, pid: pid, pidStartTime: processStartTime(pid) ?? 0, bundle: bundle, rootfs: rootfs,
                created: rfc3339(nanoseconds: cl_realtime_ns()), owner: ownerName(),
                annotations: annotations, cgroupsPath: linux.cgroupsPath, systemdCgroup: systemdCgroup,
                sharesPidNamespace: !plan.has(.pid), sharesMountNamespace: !plan.has(.mount), hasCgroup: cgroup != nil,
                replacementFD: replacement.raw)
            try writeFileAtomically(dir + "/state.json", record.json.serialized(), stage: .state)
            if let pidFile = o.pidFile {
                try writeFileAtomically(absolute(pidFile), String(pid), mode: 0o644, stage: .state)
            }
            var master: FileDescriptor? = nil
            if let receiver = consoleReceiver { master = try Terminal.receiveMaster(from: receiver).master }
            undo.disarm()
            return CreatedContainer(record: record, spec: spec, pidfd: pidfd, signals: signals, consoleMaster: master)
        } catch {
            undo.run()
            signals.restore()
            throw error
        }
    }

    /// clone3 the init into its new namespaces. Namespaces joined by path that only take
    /// effect for children (pid, time) are entered by this process around the clone.
    /// With `cgroupV2`, the init is cloned into that cgroup2 directory (CLONE_INTO_CGROUP);
    /// the Bool says whether that happened (a kernel or cgroup that refuses it gets a plain clone).
    func spawnInit(plan: NamespacePlan, context: InitContext,
                   cgroupV2: FileDescriptor?) throws(SwiftletError) -> (Int32, FileDescriptor, Bool) {
        var restore: [(NamespaceKind, FileDescriptor)] = []
        defer { for (_, fd) in restore { fd.close() } }
        for kind in [NamespaceKind.pid, .time] {
            guard let path = plan.joinPath(kind) else { continue }
            let own = try FileDescriptor.open("/proc/self/ns/" + kind.procName, O_RDONLY, stage: .namespaces)
            restore.append((kind, own))
            let target = try Namespaces.open(path, kind: kind)
            defer { target.close() }
            try Namespaces.join(target, kind: kind, path: path)
        }
        var pidfd: Int32 = -1
        var intoCgroup = cgroupV2 != nil
        var pid = cl_clone3(plan.cloneFlags, &pidfd, cgroupV2?.raw ?? -1)
        if pid < 0 && intoCgroup && cl_errno() != ENOSYS {
            // Kernels before 5.7, or a cgroup2 directory that cannot take the task (e.g. a
            // hybrid host's threaded or domain-invalid cgroup): clone, then move it.
            intoCgroup = false
            pid = cl_clone3(plan.cloneFlags, &pidfd, -1)
        }
        // Kernels before 5.3 (or a seccomp policy hiding clone3) still have clone(2).
        var call = "clone3"
        if pid < 0 && cl_errno() == ENOSYS {
            intoCgroup = false
            call = "clone"
            pid = cl_clone_legacy(plan.cloneFlags, &pidfd)
        }
        if pid == 0 { containerInit(context) }
        let cloneErrno = cl_errno()
        for (kind, fd) in restore { try Namespaces.join(fd, kind: kind, path: "/proc/self/ns/" + kind.procName) }
        // Named as called: clone(2) also fails (EINVAL) on kernels without CLONE_PIDFD (< 5.2).
        if pid < 0 { throw SwiftletError(.namespaces, call + " the container init", errno: cloneErrno) }
        return (pid, FileDescriptor(pidfd), intoCgroup)
    }
}

/// How many fds from 3 up systemd passed to this process for socket activation: LISTEN_FDS
/// when LISTEN_PID names us (sd_listen_fds(3)'s rule), else 0.
func socketActivationFDs() -> Int {
    guard let pid = environment("LISTEN_PID").flatMap(parseInt64), pid == Int64(getpid()),
          let count = environment("LISTEN_FDS").flatMap(parseInt64), count > 0, count < 65536 else { return 0 }
    return Int(count)
}

/// Undoes a half-done create, newest first.
extension Runtime {
    /// The new container's state directory (an id in use is refused), locked, holding its
    /// config; recorded in `undo` so that a failed create removes it.
    func makeStateDirectory(_ id: String, configText: String,
                            undo: inout CreateUndo) throws(SwiftletError) -> (dir: String, lock: ContainerLock) {
        let dir = store.directory(id)
        if mkdir(dir, 0o711) != 0 {
            if cl_errno() == EEXIST { throw SwiftletError(.state, "container with id exists: " + id, errno: EEXIST) }
            throw .system(.state, "create state directory " + dir)
        }
        undo.directory = dir
        let lock = try ContainerLock.acquire(dir)
        do throws(SwiftletError) {
            try writeFile(dir + "/config.json", configText, create: true, mode: 0o600, stage: .state)
        } catch {
            lock.unlock()
            throw error
        }
        return (dir, lock)
    }
}

struct CreateUndo {
    let store: StateStore
    var directory: String?
    var cgroup: CgroupManager?
    /// The transient unit systemd started for the container (systemd driver).
    var systemd: SystemdDriver?
    var pid: Int32 = 0
    var pidfd: FileDescriptor?
    /// Without a mount namespace of its own, the init mounts below rootfs in ours.
    var hostMountsUnder: String?

    mutating func disarm() {
        hostMountsUnder = nil
        directory = nil
        cgroup = nil
        systemd = nil
        pid = 0
        pidfd = nil
    }

    func run() {
        if pid > 0 {
            if let pidfd { _ = cl_pidfd_send_signal(pidfd.raw, SIGKILL) } else { kill(pid, SIGKILL) }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && cl_errno() == EINTR {}
            pidfd?.close()
        }
        if let rootfs = hostMountsUnder { Rootfs.unmountAll(under: rootfs) }
        try? systemd?.stop()
        if let cgroup { try? cgroup.destroy() }
        if let directory { removeTree(directory) }
    }
}

/// Holds back the signals that would otherwise kill the runtime half-way through create
/// (and that a foreground `run` forwards to the container), readable through a signalfd.
public struct SignalGuard: Sendable {
    public let fd: FileDescriptor
    public let previous: sigset_t

    public static func block() throws(SwiftletError) -> SignalGuard {
        var set = sigset_t()
        var old = sigset_t()
        cl_sigset_fill_forwardable(&set)
        if sigprocmask(SIG_BLOCK, &set, &old) != 0 { throw .system(.lifecycle, "block signals") }
        let fd = signalfd(-1, &set, Int32(SFD_CLOEXEC))
        if fd < 0 {
            let e = SwiftletError.system(.lifecycle, "signalfd")
            sigprocmask(SIG_SETMASK, &old, nil)
            throw e
        }
        return SignalGuard(fd: FileDescriptor(fd), previous: old)
    }

    public func restore() {
        var old = previous
        sigprocmask(SIG_SETMASK, &old, nil)
        fd.close()
    }

    /// The next pending signal, without blocking; nil if none.
    public func pending() -> Int32? {
        var info = signalfd_siginfo()
        var p = pollfd(fd: fd.raw, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) == 1 else { return nil }
        let n = read(fd.raw, &info, MemoryLayout<signalfd_siginfo>.size)
        return n == MemoryLayout<signalfd_siginfo>.size ? Int32(info.ssi_signo) : nil
    }

    /// Waits for the next message from the init, aborting if a signal arrives first.
    func receive(_ channel: SyncChannel, expecting tag: SyncChannel.Tag, while what: String) throws(SwiftletError) -> String {
        var fds = [pollfd(fd: channel.fd.raw, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: fd.raw, events: Int16(POLLIN), revents: 0)]
        while true {
            if poll(&fds, 2, -1) < 0 {
                if cl_errno() == EINTR { continue }
                throw .system(.sync, "poll")
            }
            if fds[1].revents != 0, let sig = pending() {
                throw SwiftletError(.lifecycle, "interrupted by signal " + String(sig) + " while " + what, errno: EINTR)
            }
            if fds[0].revents != 0 { return try channel.expect(tag, while: what) }
        }
    }
}

/// Whether the container's network namespace is another than the runtime's: a new one,
/// or one joined by a path that does not name ours (runc's isHostNetNS).
func hasOwnNetworkNamespace(_ plan: NamespacePlan) throws(SwiftletError) -> Bool {
    if plan.creates(.network) { return true }
    guard let path = plan.joinPath(.network) else { return false }
    let fd = try Namespaces.open(path, kind: .network)
    defer { fd.close() }
    guard let ours = Namespaces.isOurs(fd, kind: .network) else { throw .system(.namespaces, "stat " + path) }
    return !ours
}

/// The host id that `id` inside a user namespace maps to.
func hostID(of id: UInt32, in mappings: [IDMapping]) -> UInt32? {
    for m in mappings where id >= m.containerID && id - m.containerID < m.size {
        return m.hostID + (id - m.containerID)
    }
    return nil
}

func ownerName() -> String {
    let uid = geteuid()
    return ProcessSetup.userName(uid: uid) ?? String(uid)
}

func absolute(_ path: String) -> String {
    if path.hasBytePrefix("/") { return path }
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX))
    guard getcwd(&buf, buf.count) != nil else { return path }
    return String(cString: buf) + "/" + path
}
