import Base
import CLinux
import Cgroups
import Hooks
import JSON
import Mounts
import OCISpec
import Syscalls

/// A container found in the state directory, with its status derived from the system
/// (exec.fifo present: created; init alive: running, or paused if frozen; else stopped),
/// never from a cached field that could go stale.
public struct Container: Sendable {
    public let id: String
    public let directory: String
    public let record: ContainerRecord?     // nil while being created
    public let status: ContainerStatus

    public var pid: Int32 { record?.pid ?? 0 }

    public var state: ContainerState {
        var s = ContainerState(id: id, status: status, pid: status == .stopped ? 0 : pid,
                               bundle: record?.bundle ?? "", annotations: record?.annotations ?? [])
        s.rootfs = record?.rootfs
        s.created = record?.created
        s.owner = record?.owner
        return s
    }

    /// True if the recorded init is still the same process (pid plus start time).
    public var initAlive: Bool {
        guard let r = record, r.pid > 0 else { return false }
        guard let start = processStartTime(r.pid), start == r.pidStartTime else { return false }
        return processStateLetter(r.pid) != "Z"
    }
}

extension Runtime {
    public func load(_ id: String) throws(SwiftletError) -> Container {
        try validateContainerID(id)
        let dir = store.directory(id)
        guard isDirectory(dir) else {
            throw SwiftletError(.state, "container does not exist: " + id, errno: ENOENT)
        }
        guard pathExists(dir + "/state.json") else {
            return Container(id: id, directory: dir, record: nil, status: .creating)
        }
        let record = try ContainerRecord.parse(try readTextFile(dir + "/state.json", stage: .state), source: "state.json")
        var c = Container(id: id, directory: dir, record: record, status: .stopped)
        if c.initAlive {
            if pathExists(dir + "/exec.fifo") {
                c = Container(id: id, directory: dir, record: record, status: .created)
            } else if (try? cgroupManager(record).isFrozen()) == true {
                c = Container(id: id, directory: dir, record: record, status: .paused)
            } else {
                c = Container(id: id, directory: dir, record: record, status: .running)
            }
        }
        return c
    }

    func cgroupManager(_ r: ContainerRecord) throws(SwiftletError) -> CgroupManager {
        guard r.hasCgroup else {
            throw SwiftletError(.lifecycle, "container " + r.id + " has no cgroup ("
                                + (withoutHostCgroups ? "rootless, and no cgroup was delegated to its user" : "primitive container") + ")",
                                errno: ENOTSUP)
        }
        return try CgroupManager(layout: try CgroupLayout.detect(), cgroupsPath: r.cgroupsPath, containerID: r.id,
                          systemd: r.systemdCgroup)
    }

    func storedSpec(_ c: Container, configText: String? = nil) -> Spec? {
        guard let text = configText ?? (try? readTextFile(c.directory + "/config.json")),
              let json = try? JSON.parse(text, source: "config.json") else { return nil }
        return try? Spec.parse(json: json, source: "config.json")
    }

    // MARK: start

    /// runtime.md "start": runs the user's process of a created container, or (fast start)
    /// a replacement of it.
    public func start(_ r: StartRequest) throws(SwiftletError) {
        let id = r.id
        let dir = store.directory(id)
        try validateContainerID(id)
        guard isDirectory(dir) else { throw SwiftletError(.state, "container does not exist: " + id, errno: ENOENT) }
        let lock = try ContainerLock.acquire(dir)
        defer { lock.unlock() }
        let c = try load(id)
        guard c.status == .created else {
            throw SwiftletError(.lifecycle, "cannot start a container that is " + c.status.rawValue, errno: EINVAL)
        }
        // Read once: the replacement and the poststart hooks both come from it.
        let configText = r.replacesProcess ? try readTextFile(dir + "/config.json", stage: .state) : nil
        let text = try configText.map { (t) throws(SwiftletError) in try replacementDocument(r, configText: t) } ?? ""
        let pidfd = cl_pidfd_open(c.pid)
        if pidfd < 0 { throw .system(.lifecycle, "open the container init") }
        defer { close(pidfd) }
        // The pidfd names the init load() checked: the same process, not a reused pid.
        guard c.initAlive else { throw SwiftletError(.lifecycle, "container init exited before start", errno: ESRCH) }
        if let record = c.record {
            // Always written, empty without a replacement: a start that died after writing
            // one must not leave it to the next start.
            try leaveReplacement(text, record: record, pidfd: FileDescriptor(pidfd), directory: dir)
        }
        do throws(SwiftletError) {
            try releaseInit(directory: dir, pidfd: FileDescriptor(pidfd))
        } catch {
            if let record = c.record { try? leaveReplacement("", record: record, pidfd: FileDescriptor(pidfd), directory: dir) }
            throw error
        }
        logger.debugLine("start " + id + ": process started, pid " + String(c.pid))
        if let spec = storedSpec(c, configText: configText) {
            try runPoststart(c: c, spec: spec, pidfd: FileDescriptor(pidfd))
            logger.debugLine("start " + id + ": poststart hooks run: " + String(spec.hooks.poststart.count))
        }
    }

    /// Opens exec.fifo: the init, blocked opening its write end, places the process and
    /// answers "0" (or "E" and an error), then execs the user's process, which closes its
    /// end. Returns once that has happened, so the process is running when start returns;
    /// watches the init's pidfd so that a dead init fails the start instead of hanging.
    func releaseInit(directory dir: String, pidfd: FileDescriptor) throws(SwiftletError) {
        let fifo = try FileDescriptor.open(dir + "/exec.fifo", O_RDONLY | O_NONBLOCK, stage: .lifecycle)
        defer { fifo.close() }
        var reply: [UInt8] = []
        var fds = [pollfd(fd: fifo.raw, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: pidfd.raw, events: Int16(POLLIN), revents: 0)]
        reading: while true {
            fds[0].revents = 0
            fds[1].revents = 0
            if poll(&fds, 2, -1) < 0 {
                if cl_errno() == EINTR { continue }
                throw .system(.lifecycle, "wait for the container init")
            }
            if fds[0].revents != 0 {
                var buf = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = buf.withUnsafeMutableBytes { read(fifo.raw, $0.baseAddress, $0.count) }
                    if n > 0 {
                        reply.append(contentsOf: buf[0..<n])
                        // A refused start: the init waits for us to close before waiting
                        // for the next start, so stop here (its reply is one atomic write).
                        if reply.first == UInt8(ascii: "E") { break reading }
                        continue
                    }
                    if n < 0 && cl_errno() == EINTR { continue }
                    if n < 0 && cl_errno() != EAGAIN { throw .system(.lifecycle, "read exec.fifo") }
                    // End of file: the init has opened and closed its end (exec or exit).
                    if n == 0 && (!reply.isEmpty || fds[0].revents & Int16(POLLHUP) != 0) { break reading }
                    break
                }
            } else if fds[1].revents != 0 {
                break
            }
        }
        if let e = reply.firstIndex(of: UInt8(ascii: "E")) {
            if reply.first == UInt8(ascii: "0") { unlink(dir + "/exec.fifo") }
            throw SwiftletError.decode(String(decoding: reply[(e + 1)...], as: UTF8.self))
        }
        unlink(dir + "/exec.fifo")
        if reply.first != UInt8(ascii: "0") {
            throw SwiftletError(.lifecycle, "container init exited before start", errno: ESRCH)
        }
    }

    /// poststart hooks; a failure is fatal: the container is killed and the error returned.
    func runPoststart(c: Container, spec: Spec, pidfd: FileDescriptor) throws(SwiftletError) {
        guard !spec.hooks.poststart.isEmpty else { return }
        var running = c.state
        running.status = .running
        do throws(SwiftletError) {
            try Hooks.run(spec.hooks.poststart, phase: "poststart", state: running.json.serialized())
        } catch {
            _ = cl_pidfd_send_signal(pidfd.raw, SIGKILL)
            throw error
        }
    }

    // MARK: kill

    /// runtime.md "kill": signals the init (or, with all, every process in the cgroup).
    public func kill(_ id: String, signal: Int32, all: Bool) throws(SwiftletError) {
        let c = try load(id)
        // As runc: with all, what is left in the cgroup is signalled even after the init exited;
        // containerd's shim relies on it to end a container without its own pid namespace.
        if all, c.status == .stopped, let r = c.record, r.hasCgroup {
            try cgroupManager(r).killAll(signal: signal)
            return
        }
        guard c.status == .created || c.status == .running || c.status == .paused else {
            throw SwiftletError(.lifecycle, "cannot kill a container that is " + c.status.rawValue, errno: ESRCH)
        }
        guard let r = c.record else { throw SwiftletError(.lifecycle, "container is being created", errno: EBUSY) }
        if all || r.sharesPidNamespace && signal == SIGKILL {
            if r.hasCgroup {
                try cgroupManager(r).killAll(signal: signal)
            } else {
                try signalProcessTree(root: r.pid, rootStart: r.pidStartTime, signal: signal)
            }
            return
        }
        let pidfd = cl_pidfd_open(r.pid)
        if pidfd < 0 { throw .system(.lifecycle, "open the container init") }
        defer { close(pidfd) }
        // Re-check identity after opening the pidfd: the pid cannot be reused from now on.
        guard processStartTime(r.pid) == r.pidStartTime else {
            throw SwiftletError(.lifecycle, "container init is gone", errno: ESRCH)
        }
        if cl_pidfd_send_signal(pidfd, signal) != 0 { throw .system(.lifecycle, "signal the container init") }
    }

    // MARK: delete

    /// runtime.md "delete": removes a stopped container (with force, kills it first), runs
    /// poststop hooks (failures only warn), and leaves no cgroup or state behind.
    /// Deleting a container that does not exist with force succeeds, as containerd expects.
    public func delete(_ id: String, force: Bool) throws(SwiftletError) {
        try validateContainerID(id)
        let dir = store.directory(id)
        guard isDirectory(dir) else {
            if force { return }
            throw SwiftletError(.state, "container does not exist: " + id, errno: ENOENT)
        }
        let lock = try ContainerLock.acquire(dir)
        defer { lock.unlock() }
        guard isDirectory(dir) else { return }   // deleted while we waited for the lock
        let c = try load(id)
        if c.status != .stopped && c.status != .creating {
            guard force else {
                throw SwiftletError(.lifecycle, "cannot delete a container that is " + c.status.rawValue +
                                    " (stop it first, or use --force)", errno: EBUSY)
            }
        }
        if c.status == .creating && !force {
            throw SwiftletError(.lifecycle, "cannot delete a container that is being created (use --force)", errno: EBUSY)
        }
        let spec = storedSpec(c)
        if let r = c.record {
            if c.status != .stopped { killAndWait(r) }
            let cgroup = r.hasCgroup ? try? cgroupManager(r) : nil
            // Without a pid namespace of its own, processes may outlive the init.
            if r.sharesPidNamespace { try? cgroup?.killAll(signal: SIGKILL) }
            try? cgroup?.thaw()
            if r.systemdCgroup && r.hasCgroup {
                let unit = try CgroupPath.systemdUnit(r.cgroupsPath, containerID: r.id)
                try SystemdDriver.connect(unit).stop()
            }
            if let cgroup { try cgroup.destroy() }
            if r.sharesMountNamespace { Rootfs.unmountAll(under: r.rootfs) }
        } else if let spec {
            // Half-created (e.g. the runtime was killed mid-create): clean up what it may have made.
            if let cg = try? CgroupManager(layout: try CgroupLayout.detect(), cgroupsPath: spec.linux?.cgroupsPath,
                                           containerID: id, systemd: systemdCgroup) {
                try? cg.killAll(signal: SIGKILL)
                if systemdCgroup, let unit = try? CgroupPath.systemdUnit(spec.linux?.cgroupsPath, containerID: id) {
                    try? SystemdDriver.connect(unit).stop()
                }
                try? cg.destroy()
            }
            // Mounts a killed create may have left below rootfs in our namespace.
            if let rootfs = try? readTextFile(dir + "/host-mounts") { Rootfs.unmountAll(under: rootfs) }
        }
        removeTree(dir)
        if let spec, let r = c.record, !spec.hooks.poststop.isEmpty {
            var stopped = c.state
            stopped.status = .stopped
            stopped.pid = r.pid
            // A failing poststop hook only warns; the others still run (runtime.md, step 12).
            let text = stopped.json.serialized()
            for hook in spec.hooks.poststop {
                do throws(SwiftletError) {
                    try Hooks.runOne(hook, phase: "poststop", state: text)
                } catch {
                    logger.warning(error.description)
                }
            }
        }
    }

    /// SIGKILL the init and wait until it is gone (it is not our child: watch its pidfd).
    func killAndWait(_ r: ContainerRecord) {
        let pidfd = cl_pidfd_open(r.pid)
        guard pidfd >= 0 else { return }
        defer { close(pidfd) }
        guard processStartTime(r.pid) == r.pidStartTime else { return }
        if r.sharesPidNamespace {
            if r.hasCgroup {
                try? cgroupManager(r).killAll(signal: SIGKILL)
            } else {
                try? signalProcessTree(root: r.pid, rootStart: r.pidStartTime, signal: SIGKILL)
            }
        }
        if r.hasCgroup { try? cgroupManager(r).thaw() }
        _ = cl_pidfd_send_signal(pidfd, SIGKILL)
        var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        _ = poll(&p, 1, 10_000)
    }

    // MARK: state and list

    public func state(_ id: String) throws(SwiftletError) -> ContainerState {
        try load(id).state
    }

    public func list() -> [ContainerState] {
        var out: [ContainerState] = []
        for id in store.ids() {
            if let c = try? load(id) { out.append(c.state) }
        }
        return out
    }
}
