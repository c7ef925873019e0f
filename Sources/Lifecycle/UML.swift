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

/// The UML isolation tier: the container runs on a kernel of its own, User Mode Linux,
/// which is a process tree on the host. On the host:
///
///     swiftlet create ── supervisor (state pid; uid UMLHost.uid in a user namespace of its own,
///                        │            own mount, pid, ipc, uts and network namespaces, pid 1
///                        │            there, in the container's cgroup, no_new_privs)
///                        └─ linux.uml (the guest kernel and its processes)
///
/// The supervisor carries the container's stdio and signals over a framed channel (see
/// UMLChannel.swift) to the guest's init, which is swiftlet itself (`umlGuestInit`): it
/// creates and starts the container inside the guest kernel with the ordinary code.
/// The supervisor's exit status is the container process's.
public enum UMLHost {
    /// The host uid and gid the UML process tree runs as; the rootfs is id-mapped so that
    /// its ids 0..65535 appear as this range.
    public static let uid: UInt32 = 0x7000_0000
    public static let idCount: UInt32 = 65536
    /// mem= without linux.resources.memory.limit. Untouched guest RAM costs the host nothing,
    /// but the guest kernel's page structures (1/64 of it) are written at boot: 1 MiB here.
    /// (At 32 MiB a guest booting beside a loaded test run once panicked out of memory.)
    public static let defaultGuestMemory: UInt64 = 64 << 20
    /// What the UML process itself needs beside the guest's RAM, out of the memory limit.
    public static let hostOverhead: UInt64 = 32 << 20
    public static let minimumGuestMemory: UInt64 = 16 << 20
    /// Exit status when the guest kernel ends without reporting the process's status (panic).
    public static let guestLostStatus: Int32 = 255
    static let bootTimeoutSeconds: Int32 = 60

    /// The guest's RAM (mem=) for a container memory limit: limit minus the host overhead,
    /// at least minimumGuestMemory; without a limit, defaultGuestMemory.
    static func guestMemory(limit: Int64?) throws(SwiftletError) -> UInt64 {
        guard let limit, limit > 0 else { return defaultGuestMemory }
        let bytes = UInt64(limit)
        guard bytes >= minimumGuestMemory + hostOverhead else {
            throw SwiftletError(.config, "isolation uml: linux.resources.memory.limit: a guest needs at least "
                                + String((minimumGuestMemory + hostOverhead) >> 20) + " MiB", errno: EINVAL)
        }
        // Whole MiB: mem= takes them, and the tmpfs is sized from the same number.
        return ((bytes - hostOverhead) >> 20) << 20
    }

    /// UML 6.1 saves a guest process's FPU state with PTRACE_GETREGSET(NT_X86_XSTATE) into a
    /// fixed buffer (fpBuffer bytes), and Debian's linux.uml does so whatever the host's XSAVE
    /// area: on hosts with a large one (AVX-512, AMX) its UML process gets EIO for that request
    /// (it then uses PTRACE_GETFPREGS), and glibc in the guest is kept off the registers that are
    /// no longer saved. A kernel built with uml/patches/xstate.patch (it carries
    /// xstateSizedMarker) sizes the transfer from the host and restores the whole area on
    /// sigreturn; only an area larger than its buffer (AMX) leaves it with the SSE state.
    /// `kernel`: the image the supervisor will run (a file that cannot be read counts as
    /// unpatched). Hosts with an area of at most 1 KiB need nothing from either kind, so the
    /// image is searched only on the others.
    static func fpu(kernel: FileDescriptor) -> UMLFPU {
        let size = xsaveSize
        guard size > 1024 else { return UMLFPU(refuseXstate: false, guestWithoutAVX: false) }
        if cl_file_contains(kernel.raw, xstateSizedMarker) == 1 {
            return UMLFPU(refuseXstate: false, guestWithoutAVX: size > fpBuffer)
        }
        return UMLFPU(refuseXstate: true, guestWithoutAVX: true)
    }
    /// The host's XSAVE area in bytes (CPUID leaf 0xD), 0 without XSAVE.
    static var xsaveSize: UInt32 { cl_xsave_size() }
    static let fpBuffer: UInt32 = 2696
    static let xstateSizedMarker = "UML_XSTATE_SIZED_BY_HOST"
    static let glibcTunables = "GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,-AVX512BW,-AVX512VL,-AVX512DQ,-AVX512CD,-EVEX"
}

/// What the host does for the guest's FPU state (see UMLHost.fpu).
struct UMLFPU {
    /// PTRACE_GETREGSET(NT_X86_XSTATE) fails with EIO for the kernel: it saves the SSE state only.
    var refuseXstate: Bool
    /// glibc in the guest is told to keep off AVX (GLIBC_TUNABLES).
    var guestWithoutAVX: Bool
}

/// Everything the supervisor needs; it lives in the cloned child's copy of memory.
struct UMLSupervisorContext: @unchecked Sendable {
    var id: String
    var kernel: FileDescriptor
    var kernelName: String
    var fpu: UMLFPU
    var guestConfig: String
    var guestMemory: UInt64
    var channel: SyncChannel
    var fifo: FileDescriptor          // exec.fifo, opened read-write
    var fifoWatch: FileDescriptor     // inotify: IN_OPEN of exec.fifo (a `start`)
    var listener: Int32               // uml.sock, bound; the supervisor listens (see UMLExec.swift)
    var consolePeer: Int32 = -1       // process.terminal: the host pty's other side, the supervisor's stdio
    var replacement: FileDescriptor   // fast start: the process `start` leaves (UMLFastStart.swift)
    var runtimeFDs: [Int32]
    var cgroupJoinFDs: [Int32]
    var signalMask: sigset_t
    /// The config's bind mounts, in order: cloned from the host, then (read-only?) in /jail/binds.
    var bindReadOnly: [Bool]
}

extension Runtime {
    /// `create` in the UML tier: boots the guest, whose init creates the container and
    /// waits for start. Leaves nothing behind on failure, as `create` does.
    func createUML(_ o: CreateRequest, spec: Spec, configText: String, bundle: String,
                   rootfs: String) throws(SwiftletError) -> CreatedContainer {
        let kernel = try UMLKernel.locate(chosen: spec.umlKernel, setting: SwiftletAnnotation.umlKernel)
        if o.preserveFDs > 0 {
            throw SwiftletError(.usage, "isolation uml: --preserve-fds is not supported yet", errno: ENOTSUP)
        }
        let linux = spec.linux ?? LinuxSpec()
        let memory = try UMLHost.guestMemory(limit: linux.resources?.memory?.limit)
        // Bind mounts name host paths the guest cannot reach: each source is cloned (id-mapped
        // as the rootfs is) into the jail as binds/N, and the guest's config binds from there.
        var bindIndices: [Int] = []
        var bindReadOnly: [Bool] = []
        for (i, mount) in spec.mounts.enumerated() {
            let options = parseMountOptions(mount.options)
            guard options.isBind || (mount.type ?? "").bytesEqual("bind") else { continue }
            bindIndices.append(i)
            bindReadOnly.append(options.flags & MountFlag.readOnly != 0)
        }
        // Opened once: the image whose FPU handling is decided here is the one the supervisor runs.
        let kernelFD = try FileDescriptor.open(kernel, O_RDONLY, stage: .config)
        defer { kernelFD.close() }
        let fpu = UMLHost.fpu(kernel: kernelFD)
        let guestConfig = try umlGuestConfig(configText, withoutAVX: fpu.guestWithoutAVX, bindIndices: bindIndices)

        try store.ensureRoot()
        try RuntimeImage.ensureProtected()
        logger.debugLine("create " + o.id + ": uml tier, kernel " + kernel + ", mem " + String(memory >> 20) + "M")
        let signals = try SignalGuard.block()
        var undo = CreateUndo(store: store)
        do throws(SwiftletError) {
            let (dir, lock) = try makeStateDirectory(o.id, configText: configText, undo: &undo)
            defer { lock.unlock() }

            // The whole UML tree lives in the container's cgroup: host limits hold for the guest.
            let cgroup = try CgroupManager(layout: try CgroupLayout.detect(), cgroupsPath: linux.cgroupsPath,
                                           containerID: o.id, systemd: systemdCgroup)
            try cgroup.create()
            undo.cgroup = cgroup
            try cgroup.refuseFrozen()
            try cgroup.apply(effectiveResources(spec))

            if mkfifo(dir + "/exec.fifo", 0o600) != 0 { throw .system(.state, "mkfifo exec.fifo") }
            // Read-write: never blocks, and the supervisor learns of a `start` by inotify.
            let fifo = try FileDescriptor.open(dir + "/exec.fifo", O_RDWR, stage: .state)
            defer { fifo.close() }
            let watchRaw = inotify_init1(Int32(IN_CLOEXEC) | Int32(IN_NONBLOCK))
            if watchRaw < 0 { throw .system(.state, "inotify_init1") }
            let watch = FileDescriptor(watchRaw)
            defer { watch.close() }
            if inotify_add_watch(watch.raw, dir + "/exec.fifo", UInt32(IN_OPEN)) < 0 { throw .system(.state, "watch exec.fifo") }
            let replacementRaw = memfd_create("swiftlet-replacement", UInt32(MFD_CLOEXEC))
            if replacementRaw < 0 { throw .system(.state, "memfd_create for the process replacement") }
            let replacement = FileDescriptor(replacementRaw)
            defer { replacement.close() }
            let listener = try UnixSocket.bind(path: dir + "/" + umlSocketName, stage: .state)
            defer { listener.close() }
            if chmod(dir + "/" + umlSocketName, 0o600) != 0 { throw .system(.state, "chmod " + umlSocketName) }

            let (runtimeEnd, initEnd) = try SyncChannel.pair()
            defer { runtimeEnd.close() }
            _ = cl_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
            let cgroupJoinFiles = try cgroup.openSelfJoinFiles()
            defer { for f in cgroupJoinFiles { f.close() } }
            let cgroupV2 = cgroup.v2Directory()
            defer { cgroupV2?.close() }

            // process.terminal: a host pty whose master goes to the console socket (or back to a
            // foreground run) and whose other side, raw, is the supervisor's stdio, relayed to
            // the container's pty in the guest.
            var console: PseudoTerminal? = nil
            if spec.process?.terminal == true {
                let pty = try Terminal.openPseudoTerminal()
                console = pty
                _ = Terminal.makeRaw(pty.peer)
            }
            var masterKept = false
            defer { if !masterKept { console?.master.close() }; console?.peer.close() }
            var context = UMLSupervisorContext(
                id: o.id, kernel: kernelFD, kernelName: kernel, fpu: fpu, guestConfig: guestConfig, guestMemory: memory,
                channel: initEnd, fifo: fifo, fifoWatch: watch, listener: listener.fd.raw, replacement: replacement,
                runtimeFDs: [lock.fd.raw, signals.fd.raw], cgroupJoinFDs: cgroupJoinFiles.map { $0.raw },
                signalMask: signals.previous,
                bindReadOnly: bindReadOnly)
            context.consolePeer = console?.peer.raw ?? -1
            let flags = UInt64(CLONE_NEWUSER) | UInt64(CLONE_NEWNS) | UInt64(CLONE_NEWPID) | UInt64(CLONE_NEWIPC)
                | UInt64(CLONE_NEWNET) | UInt64(CLONE_NEWUTS)
            var pidfdRaw: Int32 = -1
            var intoCgroup = cgroupV2 != nil
            var pid = cl_clone3(flags, &pidfdRaw, cgroupV2?.raw ?? -1)
            if pid < 0 && intoCgroup {
                intoCgroup = false
                pid = cl_clone3(flags, &pidfdRaw, -1)
            }
            if pid == 0 { umlSupervisor(context) }
            if pid < 0 { throw .system(.namespaces, "clone3 the UML supervisor") }
            initEnd.close()
            let pidfd = FileDescriptor(pidfdRaw)
            console?.peer.close()
            undo.pid = pid
            undo.pidfd = pidfd

            let ids = [IDMapping(containerID: 0, hostID: UMLHost.uid, size: UMLHost.idCount)]
            try Namespaces.writeIDMappings(pid: pid, uid: ids, gid: ids)
            // The rootfs, id-mapped to the supervisor's ids, and the runtime's read-only image:
            // cloned by us as host root (an id-mapped mount needs it) and sent over.
            var rootfsMount = MountSpec(destination: "/")
            rootfsMount.source = rootfs
            rootfsMount.options = ["rbind", "idmap"]
            var hostMounts = [rootfsMount]
            for i in bindIndices {
                var bind = MountSpec(destination: spec.mounts[i].destination)
                bind.source = spec.mounts[i].source
                bind.options = [parseMountOptions(spec.mounts[i].options).isRecursiveBind ? "rbind" : "bind", "idmap"]
                hostMounts.append(bind)
            }
            let sources = try BindSources.open(mounts: hostMounts, bundle: bundle, inMountNamespaceOf: pid)
            defer { sources.close() }
            try sources.applyIDMappings(mounts: hostMounts, userNamespace: "/proc/" + String(pid) + "/ns/user")
            let imageTree = try runtimeFileTree()
            defer { imageTree.close() }
            try runtimeEnd.send(.bindSource, "0", passing: sources.trees[0])
            try runtimeEnd.send(.bindSource, "1", passing: imageTree.raw)
            for k in bindIndices.indices { try runtimeEnd.send(.bindSource, String(k + 2), passing: sources.trees[k + 1]) }
            if !intoCgroup { try cgroup.joinUnified(pid: pid) }
            try runtimeEnd.send(.go, String(pid))
            logger.debugLine("create " + o.id + ": uml supervisor " + String(pid) + " started, booting the guest")

            _ = try signals.receive(runtimeEnd, expecting: .ready, while: "booting the UML guest")
            logger.debugLine("create " + o.id + ": guest booted, container created in it")

            var annotations = spec.annotations.filter {
                !$0.0.bytesEqual(Isolation.missingAnnotation) && !$0.0.bytesEqual(Isolation.modeAnnotation)
                    && !$0.0.bytesEqual(SwiftletAnnotation.umlKernel)
            }
            annotations.append((Isolation.modeAnnotation, "uml"))
            annotations.append((SwiftletAnnotation.umlKernel, kernel))
            let record = ContainerRecord(
                id: o.id, pid: pid, pidStartTime: processStartTime(pid) ?? 0, bundle: bundle, rootfs: rootfs,
                created: rfc3339(nanoseconds: cl_realtime_ns()), owner: ownerName(),
                annotations: annotations, cgroupsPath: linux.cgroupsPath, systemdCgroup: systemdCgroup,
                sharesPidNamespace: false, sharesMountNamespace: false, hasCgroup: true, replacementFD: replacement.raw)
            try writeFileAtomically(dir + "/state.json", record.json.serialized(), stage: .state)
            if let pidFile = o.pidFile {
                try writeFileAtomically(absolute(pidFile), String(pid), mode: 0o644, stage: .state)
            }
            var master: FileDescriptor? = nil
            if let console {
                if let path = o.consoleSocket {
                    let socket = try Terminal.connectConsoleSocket(path: path)
                    defer { socket.close() }
                    try socket.send(console.peerName, passing: console.master.raw, stage: .terminal)
                } else {
                    master = console.master
                    masterKept = true
                }
            }
            undo.disarm()
            return CreatedContainer(record: record, spec: spec, pidfd: pidfd, signals: signals, consoleMaster: master)
        } catch {
            undo.run()
            signals.restore()
            throw error
        }
    }
}

/// A detached bind of the host file this runtime runs from, checked to be the same file as
/// the running image: the guest's init (bound read-only into the jail).
func runtimeFileTree() throws(SwiftletError) -> FileDescriptor {
    guard let path = RuntimeImage.hostPath else {
        throw SwiftletError(.mounts, "isolation uml: the runtime's host file is unknown (a sealed copy cannot be bound into a guest)", errno: ENOENT)
    }
    let tree = try cloneMountTree(path, recursive: false)
    var ours = stat()
    var seen = stat()
    guard stat("/proc/self/exe", &ours) == 0, fstat(tree.raw, &seen) == 0, cl_s_isreg(seen.st_mode) != 0,
          seen.st_size == ours.st_size, seen.st_mtim.tv_sec == ours.st_mtim.tv_sec,
          seen.st_mtim.tv_nsec == ours.st_mtim.tv_nsec else {
        tree.close()
        throw SwiftletError(.mounts, "isolation uml: " + path + " is no longer the running runtime", errno: ESTALE)
    }
    return tree
}

/// config.json as the guest's swiftlet applies it: the root where the guest has it (the
/// jail's bundle/rootfs, whatever host path root.path names), bind mounts from the jail's
/// copies (binds/N), namespaces named by a host path new ones, the tier's annotations gone
/// (the guest makes an ordinary container), no host resources or cgroup path (the host's
/// cgroup holds the whole guest), no hooks (they name host programs); on hosts that need the
/// FPU workaround (`withoutAVX`), glibc's AVX use turned off in the process's environment.
func umlGuestConfig(_ configText: String, withoutAVX: Bool, bindIndices: [Int] = []) throws(SwiftletError) -> String {
    guard case .object(var members) = try JSON.parse(configText, source: "config.json") else {
        throw SwiftletError(.lifecycle, "isolation uml: the container's config is not an object")
    }
    members.removeAll { $0.key.bytesEqual("hooks") }
    for i in members.indices {
        if members[i].key.bytesEqual("root"), case .object(var r) = members[i].value {
            r.removeAll { $0.key.bytesEqual("path") }
            r.append(JSON.Member("path", .string("rootfs")))
            members[i].value = .object(r)
        } else if members[i].key.bytesEqual("mounts"), case .array(var mounts) = members[i].value {
            // The host made the jail's copy id-mapped already.
            for (k, index) in bindIndices.enumerated() where index < mounts.count {
                guard case .object(var m) = mounts[index] else { continue }
                m.removeAll { $0.key.bytesEqual("source") || $0.key.bytesEqual("uidMappings") || $0.key.bytesEqual("gidMappings") }
                m.append(JSON.Member("source", .string("/binds/" + String(k))))
                for j in m.indices where m[j].key.bytesEqual("options") {
                    let kept = (m[j].value.arrayValue ?? []).filter {
                        !($0.stringValue ?? "").bytesEqual("idmap") && !($0.stringValue ?? "").bytesEqual("ridmap")
                    }
                    m[j].value = .array(kept)
                }
                mounts[index] = .object(m)
            }
            members[i].value = .array(mounts)
        } else if members[i].key.bytesEqual("annotations"), case .object(var a) = members[i].value {
            a.removeAll { $0.key.bytesEqual(Isolation.modeAnnotation) || $0.key.bytesEqual(SwiftletAnnotation.umlKernel) }
            members[i].value = .object(a)
        } else if members[i].key.bytesEqual("linux"), case .object(var l) = members[i].value {
            l.removeAll { $0.key.bytesEqual("resources") || $0.key.bytesEqual("cgroupsPath") }
            // A host namespace (a pod's, by path) cannot be entered from another kernel: the
            // container gets one of its own in the guest.
            for j in l.indices where l[j].key.bytesEqual("namespaces") {
                l[j].value = .array((l[j].value.arrayValue ?? []).map { entry in
                    guard case .object(var n) = entry else { return entry }
                    n.removeAll { $0.key.bytesEqual("path") }
                    return .object(n)
                })
            }
            members[i].value = .object(l)
        } else if members[i].key.bytesEqual("process"), withoutAVX, case .object(var p) = members[i].value {
            let env = withGlibcTunables(p.first(where: { $0.key.bytesEqual("env") })?.value.arrayValue ?? [])
            p.removeAll { $0.key.bytesEqual("env") }
            p.append(JSON.Member("env", .array(env)))
            members[i].value = .object(p)
        }
    }
    return JSON.object(members).serialized()
}

// MARK: - The supervisor

/// The supervisor: runs in the cloned child and never returns. Until the guest reports the
/// container created, errors go back to `create` over the sync channel.
func umlSupervisor(_ c: UMLSupervisorContext) -> Never {
    do throws(SwiftletError) { try CgroupManager.joinSelf(through: c.cgroupJoinFDs) } catch {
        _ = try? c.channel.send(.error, error.encoded)
        _exit(1)
    }
    for fd in c.cgroupJoinFDs { close(fd) }
    for fd in c.runtimeFDs { close(fd) }
    if c.consolePeer >= 0 {
        // The pty's session leader: the caller's resizes arrive as SIGWINCH.
        _ = setsid()
        for fd in Int32(0)...2 { _ = dup2(c.consolePeer, fd) }
        _ = cl_set_controlling_terminal(0)
        close(c.consolePeer)
    }
    _ = try? ProcessSetup.closeFileDescriptors(preserve: 0, except: [c.channel.fd.raw, c.fifo.raw, c.fifoWatch.raw, c.kernel.raw, c.listener, c.replacement.raw])
    var ready = false
    do throws(SwiftletError) {
        try supervise(c, ready: &ready)
    } catch {
        if ready {
            writeStderr("swiftlet: uml: " + error.description + "\n")
            _exit(UMLHost.guestLostStatus)
        }
        _ = try? c.channel.send(.error, error.encoded)
        _exit(1)
    }
}

private func supervise(_ c: UMLSupervisorContext, ready: inout Bool) throws(SwiftletError) -> Never {
    let parent = getppid()
    _ = cl_prctl(PR_SET_PDEATHSIG, UInt(SIGKILL), 0, 0, 0)
    if getppid() != parent { _exit(1) }
    // Every forwardable signal and SIGCHLD arrive through a signalfd (blocked signals reach
    // a pid namespace's init even from the host).
    var set = sigset_t()
    cl_sigset_fill_forwardable(&set)
    sigaddset(&set, SIGCHLD)
    sigaddset(&set, SIGPIPE)
    sigprocmask(SIG_BLOCK, &set, nil)
    let signalFD = signalfd(-1, &set, Int32(SFD_CLOEXEC) | Int32(SFD_NONBLOCK))
    if signalFD < 0 { throw .system(.lifecycle, "signalfd") }

    let (trees, _) = try c.channel.receiveBindSources(mountCount: 2 + c.bindReadOnly.count, while: "waiting for the runtime")
    guard trees.allSatisfy({ $0 >= 0 }) else { throw SwiftletError(.sync, "uml: the runtime sent no rootfs, image or bind source") }
    if setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0 { throw .system(.namespaces, "become root of the UML user namespace") }
    // A change of credentials clears the parent-death signal: set it again.
    _ = cl_prctl(PR_SET_PDEATHSIG, UInt(SIGKILL), 0, 0, 0)
    if getppid() != parent { _exit(1) }
    let libraries = try UMLJail.enter(rootfs: FileDescriptor(trees[0]), runtime: FileDescriptor(trees[1]),
                      files: [("bundle/config.json", c.guestConfig), ("id", c.id)],
                      binds: Array(zip(trees.dropFirst(2).map { FileDescriptor($0) }, c.bindReadOnly)),
                      memoryBytes: c.guestMemory + (16 << 20),
                      hostLibraries: hasInterpreter(c.kernel))
    for tree in trees { close(tree) }

    // What UML keeps: enough to serve hostfs for guest root on the id-mapped rootfs (these
    // apply only to inodes whose owners are mapped into our user namespace), nothing else.
    // The supervisor holds CAP_SYS_ADMIN until the guest has booted (it seals the jail then,
    // see UMLJail.sealAfterBoot); UML loses it at exec (not in the bounding set).
    var keep = CapabilitySet()
    for name in ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID"] {
        if let n = capabilityNumber(name) { keep.insert(n) }
    }
    var untilBooted = keep
    if let n = capabilityNumber("CAP_SYS_ADMIN") { untilBooted.insert(n) }
    try CapabilityOps.limitBoundingSet(to: keep, last: lastCapability())
    try CapabilityOps.set(effective: untilBooted, permitted: untilBooted, inheritable: .empty)
    try ProcessSetup.setNoNewPrivileges()

    // The control channel: two pipes (UML's fd channel, con1=fd:3,fd:4).
    var toGuest: [Int32] = [-1, -1]
    var fromGuest: [Int32] = [-1, -1]
    if pipe2(&toGuest, O_CLOEXEC) != 0 || pipe2(&fromGuest, O_CLOEXEC) != 0 {
        throw .system(.lifecycle, "pipes for the UML control channel")
    }
    var console: [Int32] = [-1, -1]
    if pipe2(&console, O_CLOEXEC) != 0 { throw .system(.lifecycle, "pipe for the UML console") }
    var emptyInput: [Int32] = [-1, -1]
    if pipe2(&emptyInput, O_CLOEXEC) != 0 { throw .system(.lifecycle, "pipe for the UML console") }
    close(emptyInput[1])
    // Built before fork: the child only makes system calls.
    var argv = [c.kernelName, "mem=" + String(c.guestMemory >> 20) + "M", "root=/dev/root", "rootfstype=hostfs",
                "hostfs=/jail", "rw", "init=/swiftlet", "umid=guest", "uml_dir=/uml", "con=null", "ssl=null",
                "con0=null,fd:1", "con1=fd:3,fd:4", "quiet", "lpj=10000000", "initcall_blacklist=raid6_select_algo"]
    if c.fpu.guestWithoutAVX { argv.append(UMLHost.glibcTunables) }
    argv += ["--", "guest-init"]
    let cArgv = CStringArray(argv)
    let cEnv = CStringArray(["TMPDIR=/mem", "PATH=/"])
    let filter: SeccompProgram? = c.fpu.refuseXstate ? try xstateFilter() : nil

    let umlPid = fork()
    if umlPid == 0 {
        var empty = sigset_t()
        sigemptyset(&empty)
        ProcessSetup.resetSignals()
        sigprocmask(SIG_SETMASK, &empty, nil)
        _ = personality(UInt(ADDR_NO_RANDOMIZE))
        // Every guest system call and page fault hands the CPU from the guest's process to
        // the UML kernel and back (ptrace): on one CPU a task switch, across two a wake-up of
        // the other each time (about 4 times slower on a virtual machine). The guest has one
        // CPU: the UML tree stays on the one its kernel starts on.
        ProcessSetup.pinToCurrentCPU()
        do throws(SwiftletError) {
            try CapabilityOps.set(effective: keep, permitted: keep, inheritable: .empty)
            if let filter { _ = try filter.load() }
        } catch { _exit(126) }
        // Copies above 4 first: the pipes' ends and the kernel's fd may sit at 0 to 4 themselves.
        let guestIn = cl_fcntl_int(toGuest[0], F_DUPFD, 10), guestOut = cl_fcntl_int(fromGuest[1], F_DUPFD, 10)
        let kernel = cl_fcntl_int(c.kernel.raw, F_DUPFD_CLOEXEC, 10)
        if guestIn < 0 || guestOut < 0 || kernel < 0 || !moveFD(guestIn, to: 3) || !moveFD(guestOut, to: 4)
            || !moveFD(console[1], to: 1) || !moveFD(console[1], to: 2) { _exit(126) }
        close(guestIn)
        close(guestOut)
        // fd 0 must stay taken (UML's memory file must not become fd 0): an empty pipe.
        if !moveFD(emptyInput[0], to: 0) { _exit(126) }
        _ = execveat(kernel, "", cArgv.pointer, cEnv.pointer, AT_EMPTY_PATH)
        // The supervisor reads this from the console pipe and names it in its one line.
        writeStderr("exec " + c.kernelName + ": " + SwiftletError(.lifecycle, "", errno: cl_errno()).description + "\n")
        _exit(127)
    }
    if umlPid < 0 { throw .system(.lifecycle, "fork the UML kernel") }
    close(toGuest[0])
    close(fromGuest[1])
    close(console[1])
    close(emptyInput[0])
    c.kernel.close()
    if listen(c.listener, 16) != 0 { throw .system(.lifecycle, "listen on " + umlSocketName) }
    var session = UMLSession(toGuest: toGuest[1], fromGuest: fromGuest[0], console: console[0], signalFD: signalFD, umlPid: umlPid,
                             fifo: c.fifo, fifoWatch: c.fifoWatch, libraries: libraries, keep: keep)
    session.streams = UMLStreamHub(listener: c.listener)
    session.terminal = c.consolePeer >= 0
    session.replacement = c.replacement
    let status = try session.run(channel: c.channel, ready: &ready)
    session.streams.drain()
    _exit(status)
}

/// True if the ELF executable names a program interpreter (PT_INTERP): it is dynamically
/// linked and needs the host's C library.
private func hasInterpreter(_ file: FileDescriptor) -> Bool {
    var header = [UInt8](repeating: 0, count: 4096)
    let n = header.withUnsafeMutableBytes { pread(file.raw, $0.baseAddress, $0.count, 0) }
    guard n >= 64, header[0] == 0x7f, header[1] == 0x45, header[4] == 2 else { return true }   // ELF64, else assume so
    func le(_ at: Int, _ size: Int) -> Int {
        var v = 0
        for i in (0..<size).reversed() { v = v << 8 | Int(header[at + i]) }
        return v
    }
    let phoff = le(0x20, 8), phentsize = le(0x36, 2), phnum = le(0x38, 2)
    for i in 0..<phnum {
        let at = phoff + i * phentsize
        guard at + 4 <= n else { return true }
        if le(at, 4) == 3 { return true }   // PT_INTERP
    }
    return false
}

/// dup2 that leaves `target` open across exec even when it is `fd` already.
private func moveFD(_ fd: Int32, to target: Int32) -> Bool {
    if fd == target { return cl_fcntl_int(fd, F_SETFD, 0) == 0 }
    return dup2(fd, target) == target
}

/// The seccomp filter of the FPU workaround (see UMLHost.fpu).
private func xstateFilter() throws(SwiftletError) -> SeccompProgram {
    var spec = SeccompSpec(defaultAction: "SCMP_ACT_ALLOW")
    spec.architectures = ["SCMP_ARCH_X86_64"]
    var rule = SeccompSyscall(names: ["ptrace"], action: "SCMP_ACT_ERRNO")
    rule.errnoRet = UInt32(EIO)
    rule.args = [SeccompArg(index: 0, value: 0x4204, op: "SCMP_CMP_EQ"),     // PTRACE_GETREGSET
                 SeccompArg(index: 2, value: 0x202, op: "SCMP_CMP_EQ")]      // NT_X86_XSTATE
    spec.syscalls = [rule]
    return try SeccompProgram.build(spec)
}

/// The supervisor's relay between the caller's stdio and signals, exec.fifo, and the guest.
struct UMLSession {
    let toGuestFD: Int32
    let fromGuest: Int32
    let console: Int32
    let signalFD: Int32
    let umlPid: Int32
    var fifo: FileDescriptor?
    var fifoWatch: FileDescriptor?
    /// For sealing the jail once the guest is up, then dropping CAP_SYS_ADMIN.
    let libraries: [String]
    let keep: CapabilitySet
    var replacement: FileDescriptor? = nil

    enum Phase { case booting, created, starting, running, exiting }
    var phase = Phase.booting
    var frames = UMLFrameReader()
    var toGuest = OutputQueue()
    var consoleTail: [UInt8] = []
    /// stdin bytes the guest may still take before it acknowledges some: below the guest
    /// tty's 4 KiB input buffer, which UML overruns (and drops bytes) when it is full.
    static let stdinWindowSize = 2048
    var stdinWindow = UMLSession.stdinWindowSize
    var stdinOpen = true
    var exitStatus: Int32? = nil
    var umlStatus: Int32? = nil
    /// Set once create or start is done: the code is dropped when the supervisor has been
    /// idle for idleMilliseconds, so that an idle container (or pool member) keeps only what
    /// it runs next (each fault maps 64 KiB around it) and not the burst of frames after start.
    var releaseCodeWhenIdle = false
    static let idleMilliseconds: Int32 = 1000
    /// Callers of exec and ps, each a stream beside the process's.
    var streams = UMLStreamHub(listener: -1)
    /// The process has a terminal: SIGWINCH on ours (the host pty) resizes the guest's.
    var terminal = false

    init(toGuest: Int32, fromGuest: Int32, console: Int32, signalFD: Int32, umlPid: Int32, fifo: FileDescriptor,
         fifoWatch: FileDescriptor, libraries: [String], keep: CapabilitySet) {
        self.libraries = libraries
        self.keep = keep
        self.toGuestFD = toGuest
        self.fromGuest = fromGuest
        self.console = console
        self.signalFD = signalFD
        self.umlPid = umlPid
        self.fifo = fifo
        self.fifoWatch = fifoWatch
        setNonBlocking(toGuest)
        setNonBlocking(fromGuest)
        setNonBlocking(console)
    }

    mutating func run(channel: SyncChannel, ready: inout Bool) throws(SwiftletError) -> Int32 {
        let bootDeadline = cl_monotonic_ns() + Int64(UMLHost.bootTimeoutSeconds) * 1_000_000_000
        var exitDeadline: Int64 = 0
        while true {
            var fds = [pollfd(fd: streams.acceptsGuestOutput ? fromGuest : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: console, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: phase == .created ? (fifoWatch?.raw ?? -1) : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: phase == .running && stdinOpen && stdinWindow > 0 ? 0 : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: toGuest.isEmpty ? -1 : toGuestFD, events: Int16(POLLOUT), revents: 0)]
            fds += streams.pollFDs(open: phase == .created || phase == .starting || phase == .running)
            var timeout: Int32 = -1
            if phase == .booting { timeout = 1000 }
            if phase == .exiting { timeout = 200 }
            // Once nothing has happened for a while, the code goes: what comes back is only
            // what the next event runs.
            let releaseWhenIdle = releaseCodeWhenIdle && timeout < 0
            var events = poll(&fds, nfds_t(fds.count), releaseWhenIdle ? UMLSession.idleMilliseconds : timeout)
            if events == 0 && releaseWhenIdle {
                releaseCodeWhenIdle = false
                events = cl_agent_release_code_and_poll(&fds, nfds_t(fds.count), timeout)
            }
            if events < 0 && cl_errno() != EINTR { throw .system(.lifecycle, "poll") }
            let now = cl_monotonic_ns()
            if phase == .booting && now > bootDeadline {
                kill(umlPid, SIGKILL)
                readConsole()
                throw SwiftletError(.lifecycle, "uml: the guest did not come up within " + String(UMLHost.bootTimeoutSeconds)
                                    + " s" + consoleSummary() + lastConsoleLine(), errno: ETIMEDOUT)
            }
            if fds[1].revents != 0 { readConsole() }
            if fds[5].revents != 0 { try toGuest.flush(toGuestFD) }
            if fds[0].revents != 0 {
                guard let bytes = readAvailable(fromGuest, limit: 65536) else { continue }
                if bytes.isEmpty {
                    // The guest kernel is gone; its exit is handled with SIGCHLD.
                    if umlStatus == nil { waitForUML() }
                } else {
                    frames.append(bytes[...])
                    while let (kind, payload) = try frames.next() {
                        try handle(kind, payload, channel: channel, ready: &ready)
                    }
                }
            }
            if fds[2].revents != 0 { try handleSignals() }
            if fds[3].revents != 0 { try startRequested() }
            if fds[4].revents != 0 { relayStdin() }
            streams.handle(fds[6...], window: &stdinWindow, toGuest: &toGuest)
            // A guest that is gone (a panic) is handled through SIGCHLD, not as a write error.
            if !toGuest.isEmpty { _ = try? toGuest.flush(toGuestFD) }
            if phase == .exiting && exitDeadline == 0 { exitDeadline = now + 5_000_000_000 }
            if let s = umlStatus {
                readConsole()
                if let exitStatus { return exitStatus }
                let line = guestLostLine(umlStatus: s)
                if !ready { throw SwiftletError(.lifecycle, line + lastConsoleLine(), errno: EIO) }
                // The guest had the start frame: its process may well be what ended the
                // kernel (a panic it triggered before the guest's init reported it started).
                // `start` succeeds, as for a process that exits at once; the status and the
                // line below say what happened.
                if phase == .starting, let f = fifo { _ = try? f.writeAll("0"); f.close(); fifo = nil }
                writeStderr("swiftlet: " + line + "\n")
                return UMLHost.guestLostStatus
            }
            if phase == .exiting && now > exitDeadline {
                kill(umlPid, SIGKILL)
                waitForUML()
            }
        }
    }

    mutating func handle(_ kind: UMLFrame, _ payload: [UInt8], channel: SyncChannel, ready: inout Bool) throws(SwiftletError) {
        let text = String(decoding: payload, as: UTF8.self)
        switch kind {
        case .ready:
            guard phase == .booting else { return }
            // Nothing of the container has run yet: seal the jail before it can.
            try UMLJail.sealAfterBoot(libraries: libraries)
            try CapabilityOps.set(effective: keep, permitted: keep, inheritable: .empty)
            // Before `ready`: `create` exits as soon as it has it, and the parent-death signal
            // would then kill the container. (A `create` killed right after this leaves a
            // half-created container whose cgroup `delete --force` ends.)
            _ = cl_prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)
            try channel.send(.ready, text)
            channel.close()
            ready = true
            phase = .created
            // From here the supervisor relays frames: what create ran of its code need not
            // stay mapped (the page cache keeps it; it comes back on use).
            releaseCodeWhenIdle = true
        case .failed:
            if phase == .booting {
                kill(umlPid, SIGKILL)
                throw SwiftletError.decode(text)
            }
            if phase == .starting, let f = fifo {
                _ = try? f.writeAll("E" + text)
                phase = .created
            }
        case .started:
            guard phase == .starting else { return }
            if let f = fifo { _ = try? f.writeAll("0"); f.close() }
            fifo = nil
            fifoWatch?.close()
            fifoWatch = nil
            phase = .running
            releaseCodeWhenIdle = true
        case .stdout:
            writeAllBytes(1, payload)
        case .stderr:
            writeAllBytes(2, payload)
        case .stdinAck:
            stdinWindow += parseInt(text) ?? 0
        case .stream:
            try streams.fromGuest(payload, window: &stdinWindow)
        case .exited:
            exitStatus = Int32(parseInt(text) ?? Int(UMLHost.guestLostStatus))
            // The guest kernel says on its console when its OOM killer acted (a tier kernel
            // has no vm event counters to ask): one line for the caller.
            readConsole()
            if let oom = oomKillLine() {
                writeStderr("swiftlet: uml: the guest ran out of memory (" + oom + ")\n")
            }
            toGuest.add(UMLFrame.encode(.quit, ""))
            try toGuest.flush(toGuestFD)
            phase = .exiting
        default:
            throw SwiftletError(.sync, "uml: unexpected frame from the guest", errno: EPROTO)
        }
    }

    /// A `start` opened exec.fifo: let the guest start the process.
    mutating func startRequested() throws(SwiftletError) {
        guard let w = fifoWatch else { return }
        _ = readAvailable(w.raw, limit: 4096)
        guard phase == .created else { return }
        let process: [UInt8]
        do throws(SwiftletError) { process = try takeGuestReplacement() } catch {
            _ = try? fifo?.writeAll("E" + error.encoded)
            return
        }
        phase = .starting
        toGuest.add(UMLFrame.encode(.start, process))
        try toGuest.flush(toGuestFD)
    }

    mutating func relayStdin() {
        guard let bytes = readAvailable(0, limit: min(stdinWindow, UMLFrame.maxPayload)) else { return }
        if bytes.isEmpty {
            stdinOpen = false
            toGuest.add(UMLFrame.encode(.stdinEnd, ""))
        } else {
            stdinWindow -= bytes.count
            toGuest.add(UMLFrame.encode(.stdin, bytes))
        }
        _ = try? toGuest.flush(toGuestFD)
    }

    mutating func handleSignals() throws(SwiftletError) {
        var info = signalfd_siginfo()
        while read(signalFD, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            let sig = Int32(info.ssi_signo)
            if sig == SIGCHLD {
                reapChildren()
            } else if sig == SIGWINCH && terminal {
                if let size = Terminal.windowSize(.standardInput) {
                    toGuest.add(UMLFrame.encode(.resize, String(size.rows) + " " + String(size.columns)))
                    try toGuest.flush(toGuestFD)
                }
            } else if sig != SIGPIPE && (phase == .created || phase == .starting || phase == .running) {
                toGuest.add(UMLFrame.encode(.signal, String(sig)))
                try toGuest.flush(toGuestFD)
            }
        }
    }

    /// As pid 1 of its namespace the supervisor reaps everything; UML's own status is kept.
    mutating func reapChildren() {
        var status: Int32 = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            if pid == umlPid { umlStatus = status }
        }
    }

    mutating func waitForUML() {
        var status: Int32 = 0
        while waitpid(umlPid, &status, 0) < 0 && cl_errno() == EINTR {}
        umlStatus = status
    }

    mutating func readConsole() {
        while let bytes = readAvailable(console, limit: 4096), !bytes.isEmpty {
            consoleTail.append(contentsOf: bytes)
            if consoleTail.count > 8192 { consoleTail.removeFirst(consoleTail.count - 8192) }
        }
    }

    /// The guest kernel's last words, for the one line that says why it is gone.
    func consoleSummary() -> String {
        let text = String(decoding: consoleTail, as: UTF8.self)
        for line in text.split(byte: 10) {
            if let panic = line.suffix(from: "Kernel panic - ") { return " (" + printable(panic) + ")" }
        }
        for line in text.split(byte: 10) where line.suffix(from: "Out of memory") != nil { return " (" + printable(line) + ")" }
        return ""
    }

    /// The guest kernel's report of its OOM killer's last kill, if it acted.
    func oomKillLine() -> String? {
        let text = String(decoding: consoleTail, as: UTF8.self)
        var found: String? = nil
        for line in text.split(byte: 10) where line.suffix(from: "Out of memory") != nil || line.suffix(from: "Killed process") != nil {
            found = printable(line.trimmed())
        }
        return found
    }

    /// The console's last line, for a guest that did not come up.
    func lastConsoleLine() -> String {
        let lines = String(decoding: consoleTail, as: UTF8.self).split(byte: 10).filter { !$0.trimmed().isEmpty }
        return lines.isEmpty ? "" : ": " + join(lines.suffix(3).map { printable($0.trimmed()) }, " | ")
    }

    func guestLostLine(umlStatus s: Int32) -> String {
        let text = String(decoding: consoleTail, as: UTF8.self)
        let how = text.suffix(from: "Kernel panic - ") != nil ? "guest kernel panic" : "guest kernel exited"
        var status = ""
        if cl_wifexited(s) != 0 { status = "status " + String(cl_wexitstatus(s)) }
        if cl_wifsignaled(s) != 0 { status = "signal " + String(cl_wtermsig(s)) }
        return "uml: " + how + " (" + status + ")" + consoleSummary()
    }
}
