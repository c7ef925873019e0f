import Base
import CLinux
import JSON
import Seccomp
import Syscalls

// The agent's event loop: attaching and detaching containers, signals, the log, and
// receiving each notification and sending its answer. What the answer is, the handlers
// decide (Handlers.swift: mount, umount2, mknod; GPIO.swift: the GPIO ioctls).

/// `swiftlet [--root DIR] agent --socket PATH --policy FILE [--log FILE [--log-max-size SIZE]]`: accepts seccomp
/// listener connections from swiftlet on `socket` (root's alone, mode 0600), attaches a
/// notify fd only under the id whose token is in swiftlet's state directory `stateRoot`
/// (see checkAttach), and answers every notified system call of every
/// attached container by `policy`, in one single-threaded epoll loop. SIGHUP reloads the
/// policy (a bad file keeps the old one); SIGTERM/SIGINT stop the agent, after which the
/// containers' notified calls fail with ENOSYS (the kernel's answer without a listener).
/// Each container's decisions are logged within a budget (DecisionThrottle); the log
/// file is renamed to FILE.1 before it grows past `logMaxBytes` (default 16 MiB, 0: never).
/// Returns the exit code.
public func runAgent(socket: String, policy policyPath: String, log logPath: String?, logMaxBytes: Int64?,
                     stateRoot: String, userSocket: String? = nil) throws(SwiftletError) -> Int32 {
    let policy = try AgentPolicy.load(path: policyPath)
    let log = try AgentLog(path: logPath, maxBytes: logMaxBytes ?? AgentLog.defaultMaxBytes)
    let agent = try AgentLoop(socketPath: socket, policyPath: policyPath, policy: policy, log: log, stateRoot: stateRoot)
    if let userSocket { try agent.serveUsers(on: userSocket) }
    return agent.run()
}

/// A container attached through the listener socket.
final class AttachedContainer {
    let id: String
    let pid: Int32
    let annotations: [(String, String)]
    let metadata: String?
    let notifyFD: Int32
    /// Index into the policy's containers; nil: no entry matches, everything is denied.
    var entry: Int?
    /// The helpers acting in this container, started on its first performed call: one
    /// with host credentials (mknod, and paths of directories), one as root of the
    /// container's user namespace (mount and umount2 with `userNamespace`).
    let hostHelper = ContainerHelper()
    let userHelper = ContainerHelper()
    /// What its decisions may still put in the log in this window.
    var throttle = DecisionThrottle()
    /// The GPIO line requests the agent made for it (GPIO.swift).
    let gpio = GPIOState()
    /// The uid of the rootless runtime that attached it through the user socket; nil: root.
    var peerUID: UInt32? = nil
    /// Unique ids (STATX_MNT_ID_UNIQUE: never reused) of mounts found to be tmpfs or ramfs,
    /// where the agent makes nodes itself (mknodInAgent).
    var memoryMounts: [UInt64] = []
    /// For a rootless runtime's container: namespaces already found to be its user's.
    let verifiedNamespaces = VerifiedNamespaces()
    /// The /proc files of its tasks that made calls, kept for their next ones.
    let taskFiles = TaskFiles()

    init(id: String, pid: Int32, annotations: [(String, String)], metadata: String?, notifyFD: Int32, entry: Int?) {
        self.id = id
        self.pid = pid
        self.annotations = annotations
        self.metadata = metadata
        self.notifyFD = notifyFD
        self.entry = entry
    }
}

/// A listener connection until the container process state and its fd have arrived.
final class PendingConnection {
    let socket: UnixSocket
    var bytes: [UInt8] = []
    var fd: Int32? = nil
    /// The peer's uid when it came through the user socket.
    var peerUID: UInt32? = nil
    init(_ socket: UnixSocket) { self.socket = socket }
}

final class AgentLoop {
    let socketPath: String
    let policyPath: String
    /// swiftlet's state directory (its --root), where create writes each container's token.
    let stateRoot: String
    var policy: AgentPolicy
    let log: AgentLog
    let epoll: Int32
    let listener: UnixSocket
    /// The socket of rootless runtimes (see UserAttach.swift), if served.
    var userListener: UnixSocket? = nil
    var userSocketPath: String? = nil
    let signals: Int32
    var containers: [AttachedContainer?] = []
    var connections: [PendingConnection?] = []
    let nativeArch: UInt32
    let ownUserNamespace: (UInt64, UInt64)
    let mountNr: Int32, umount2Nr: Int32, mknodNr: Int32, mknodatNr: Int32

    // epoll tokens: kind in the upper half, slot in the lower.
    static let listenerToken: UInt64 = 1 << 32
    static let signalToken: UInt64 = 2 << 32
    static let connectionKind: UInt64 = 3
    static let containerKind: UInt64 = 4
    static let userListenerToken: UInt64 = 5 << 32

    init(socketPath: String, policyPath: String, policy: AgentPolicy, log: AgentLog, stateRoot: String) throws(SwiftletError) {
        self.socketPath = socketPath
        self.stateRoot = stateRoot
        self.policyPath = policyPath
        self.policy = policy
        self.log = log
        nativeArch = seccomp_arch_native()
        mountNr = seccomp_syscall_resolve_name("mount")
        umount2Nr = seccomp_syscall_resolve_name("umount2")
        mknodNr = seccomp_syscall_resolve_name("mknod")
        mknodatNr = seccomp_syscall_resolve_name("mknodat")
        let selfUser = cl_open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC, 0)
        guard selfUser >= 0, let identity = fileIdentity(selfUser) else {
            throw .system(.agent, "open /proc/self/ns/user")
        }
        _ = close(selfUser)
        ownUserNamespace = identity

        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        if epoll < 0 { throw .system(.agent, "epoll_create1") }
        signals = cl_agent_signalfd()
        if signals < 0 { throw .system(.agent, "signalfd") }
        try removeStaleSocket(socketPath)
        // swiftlet connects from the host, as root: nobody else needs the socket. The umask
        // keeps it root's from bind(2) on, not only from the chmod.
        let mask = umask(0o177)
        do throws(SwiftletError) {
            listener = try UnixSocket.listen(path: socketPath, backlog: 128, stage: .agent)
        } catch {
            umask(mask)
            throw error
        }
        umask(mask)
        if chmod(socketPath, 0o600) != 0 { throw .system(.agent, "chmod 0600 " + socketPath) }
        if cl_agent_epoll_add(epoll, listener.fd.raw, UInt32(EPOLLIN.rawValue), AgentLoop.listenerToken) != 0
            || cl_agent_epoll_add(epoll, signals, UInt32(EPOLLIN.rawValue), AgentLoop.signalToken) != 0 {
            throw .system(.agent, "epoll_ctl")
        }
    }

    func run() -> Int32 {
        var b = JSONObjectBuilder()
        b.add("event", "start")
        b.add("socket", socketPath)
        b.add("policy", policyPath)
        b.add("entries", .int(policy.containers.count))
        log.write(b)
        var tokens = [UInt64](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        // Start-up code (argument parsing, policy loading, libseccomp's tables) is not
        // needed again; what the loop uses comes back on first use.
        cl_agent_release_code()
        // One clock read per turn of the loop serves the log budget of all its decisions.
        var now = cl_monotonic_ns()
        while true {
            let n = cl_agent_epoll_wait(epoll, &tokens, &events, 64, summaryTimeoutMS(now: now))
            if n < 0 {
                if cl_errno() == EINTR { continue }
                logError("epoll_wait", errno: cl_errno())
                return 1
            }
            now = cl_monotonic_ns()
            for k in 0..<Int(n) {
                let token = tokens[k]
                let kind = token >> 32
                let slot = Int(token & 0xffff_ffff)
                if token == AgentLoop.listenerToken {
                    acceptConnection()
                } else if token == AgentLoop.userListenerToken {
                    acceptUserConnection()
                } else if token == AgentLoop.signalToken {
                    if let code = handleSignals() {
                        shutdown()
                        return code
                    }
                } else if kind == AgentLoop.connectionKind {
                    readConnection(slot)
                } else if kind == AgentLoop.containerKind {
                    guard slot < containers.count, let c = containers[slot] else { continue }
                    if events[k] & UInt32(EPOLLIN.rawValue) != 0 {
                        serve(c, now: now)
                    } else if events[k] & UInt32(EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                        // Every task using the filter has exited.
                        detach(slot, reason: "exited")
                    }
                }
            }
            summarizeEndedWindows(now: now)
        }
    }

    // MARK: Signals and reload

    /// The exit code once asked to stop, nil to go on.
    func handleSignals() -> Int32? {
        while true {
            let sig = cl_agent_signalfd_next(signals)
            if sig <= 0 { return nil }
            if sig == SIGHUP {
                reload()
            } else {
                var b = JSONObjectBuilder()
                b.add("event", "stop")
                b.add("signal", .int(sig))
                log.write(b)
                return 0
            }
        }
    }

    func reload() {
        var b = JSONObjectBuilder()
        do throws(SwiftletError) {
            let fresh = try AgentPolicy.load(path: policyPath)
            policy = fresh
            b.add("event", "reload")
            b.add("entries", .int(fresh.containers.count))
            log.write(b)
            // Live containers stay attached; they follow the entry that matches them now.
            for c in containers {
                guard let c else { continue }
                c.entry = fresh.entry(id: c.id, annotations: c.annotations, metadata: c.metadata, peer: c.peerUID)
                var m = JSONObjectBuilder()
                m.add("event", "rematch")
                m.add("container", c.id)
                m.add("entry", c.entry.map { JSON.string(fresh.containers[$0].name) } ?? JSON.null)
                log.write(m)
            }
        } catch {
            b.add("event", "reload-failed")
            b.add("error", error.description)
            b.add("kept", "previous policy")
            log.write(b)
        }
    }

    func shutdown() {
        for c in containers {
            guard let c else { continue }
            summarize(c)
            c.hostHelper.stop()
            c.userHelper.stop()
            _ = close(c.notifyFD)
        }
        for p in connections { if let p { p.socket.close(); if let fd = p.fd { _ = close(fd) } } }
        listener.close()
        _ = unlink(socketPath)
        userListener?.close()
        if let userSocketPath { _ = unlink(userSocketPath) }
    }

    // MARK: Attaching containers

    func acceptConnection() {
        let conn: UnixSocket
        do throws(SwiftletError) {
            conn = try listener.accept(stage: .agent)
        } catch {
            logError("accept", errno: error.errno)
            return
        }
        if let refusal = peerRefusal(conn) {
            logError(refusal, errno: EPERM)
            conn.close()
            return
        }
        let slot = freeSlot(&connections)
        connections[slot] = PendingConnection(conn)
        if cl_agent_epoll_add(epoll, conn.fd.raw, UInt32(EPOLLIN.rawValue), AgentLoop.connectionKind << 32 | UInt64(slot)) != 0 {
            logError("epoll_ctl connection", errno: cl_errno())
            dropConnection(slot)
        }
    }

    /// Only root may attach (the socket is root's; this also holds if its mode is
    /// loosened): an unprivileged user could otherwise have the agent act as host root in
    /// namespaces of their own. Which container an fd belongs to is its token's to say
    /// (checkAttach). nil when the peer is root.
    func peerRefusal(_ conn: UnixSocket) -> String? {
        var pid: Int32 = 0, uid: UInt32 = 0
        if cl_agent_peer_credentials(conn.fd.raw, &pid, &uid) != 0 { return "cannot read peer credentials" }
        if uid == 0 { return nil }
        return "refused connection from uid " + String(uid) + " (pid " + String(pid) + "): not root"
    }

    func readConnection(_ slot: Int) {
        guard slot < connections.count, let p = connections[slot] else { return }
        let received: (bytes: [UInt8], fd: Int32?)
        do throws(SwiftletError) {
            received = try p.socket.receive(upTo: 65536, stage: .agent)
        } catch {
            logError("receive container process state", errno: error.errno)
            dropConnection(slot)
            return
        }
        if let fd = received.fd {
            // Only the first fd counts; a second one is not ours to keep.
            if p.fd == nil { p.fd = fd } else { _ = close(fd) }
        }
        p.bytes.append(contentsOf: received.bytes)
        let ended = received.bytes.isEmpty
        if p.bytes.count > 1 << 20 {
            logError("container process state larger than 1 MiB", errno: EMSGSIZE)
            dropConnection(slot)
            return
        }
        // The state is one JSON document: done once it parses (or the peer has closed).
        let parsed = try? JSON.parse(bytes: p.bytes, source: "container process state")
        if parsed == nil && !ended { return }
        let fd = p.fd
        p.fd = nil
        dropConnection(slot)
        // swiftlet connects before it knows whether a filter with notify rules gets loaded
        // (create connects before the init exists): a silent close is no error.
        if p.bytes.isEmpty && fd == nil { return }
        guard let json = parsed else {
            logError("container process state is not valid JSON", errno: EINVAL)
            if let fd { _ = close(fd) }
            return
        }
        guard let fd else {
            logError("container process state came without the seccomp fd", errno: EBADMSG)
            return
        }
        attach(json, fd: fd, peer: p.peerUID)
    }

    func attach(_ json: JSON, fd: Int32, peer: UInt32? = nil) {
        let root = Node(json, path: "container process state")
        let id: String, pid: Int32, claimedMetadata: String?, token: String?
        do throws(SwiftletError) {
            let state = try root.required("state")
            id = try state.required("id").string()
            if let n = root["pid"] { pid = try n.int32() } else if let n = state["pid"] { pid = try n.int32() } else { pid = 0 }
            claimedMetadata = try root["metadata"]?.string()
            token = try root[agentTokenMember]?.string()
            let fds = try root.required("fds").strings()
            guard fds.count == 1, fds[0].bytesEqual("seccompFd") else {
                throw root.error("fds: expected [\"seccompFd\"]")
            }
        } catch {
            logError(error.message, errno: EINVAL)
            _ = close(fd)
            return
        }
        // A seccomp notify fd knows SECCOMP_IOCTL_NOTIF_ID_VALID: ENOENT for an unknown id.
        if cl_agent_notif_id_valid(fd, 0) == 0 || cl_errno() != ENOENT {
            logError("the fd of container " + id + " is not a seccomp notify fd", errno: EBADF)
            _ = close(fd)
            return
        }
        let annotations: [(String, String)], metadata: String?
        let check = peer.map { checkUserAttach(root, uid: $0, pid: pid, agentUserNamespace: ownUserNamespace) }
            ?? checkAttach(stateRoot: stateRoot, id: id, token: token, claimedMetadata: claimedMetadata)
        switch check {
        case .accepted(let a, let m): (annotations, metadata) = (a, m)
        case .refused(let reason):
            logError("refused attach: " + reason, errno: EPERM)
            _ = close(fd)
            return
        }
        let entry = policy.entry(id: id, annotations: annotations, metadata: metadata, peer: peer)
        let c = AttachedContainer(id: id, pid: pid, annotations: annotations, metadata: metadata, notifyFD: fd, entry: entry)
        c.peerUID = peer
        // Each notified call is a round trip between two tasks: waking each other on the
        // same CPU saves a migration both ways (Linux 6.6+; older kernels refuse, no matter).
        _ = cl_agent_notif_sync_wakeup(fd)
        let slot = freeSlot(&containers)
        containers[slot] = c
        if cl_agent_epoll_add(epoll, fd, UInt32(EPOLLIN.rawValue), AgentLoop.containerKind << 32 | UInt64(slot)) != 0 {
            logError("epoll_ctl notify fd", errno: cl_errno())
            containers[slot] = nil
            _ = close(fd)
            return
        }
        var b = JSONObjectBuilder()
        b.add("event", "attach")
        b.add("container", id)
        b.add("pid", .int(pid))
        if let peer { b.add("user", .int(Int64(peer))) }
        b.add("entry", entry.map { JSON.string(policy.containers[$0].name) } ?? JSON.null)
        log.write(b)
    }

    func detach(_ slot: Int, reason: String) {
        guard let c = containers[slot] else { return }
        summarize(c)
        _ = cl_agent_epoll_del(epoll, c.notifyFD)
        _ = close(c.notifyFD)
        c.hostHelper.stop()
        c.userHelper.stop()
        containers[slot] = nil
        var b = JSONObjectBuilder()
        b.add("event", "detach")
        b.add("container", c.id)
        b.add("reason", reason)
        log.write(b)
    }

    func dropConnection(_ slot: Int) {
        guard let p = connections[slot] else { return }
        _ = cl_agent_epoll_del(epoll, p.socket.fd.raw)
        p.socket.close()
        if let fd = p.fd { _ = close(fd) }
        connections[slot] = nil
    }

    func logError(_ message: String, errno: Int32) {
        var b = JSONObjectBuilder()
        b.add("event", "error")
        b.add("error", message)
        if errno != 0 { b.add("errno", errnoText(errno)) }
        log.write(b)
    }

    // MARK: Answering notifications

    func serve(_ c: AttachedContainer, now: Int64) {
        var id: UInt64 = 0, pid: UInt32 = 0, nr: Int32 = 0, arch: UInt32 = 0
        var args = [UInt64](repeating: 0, count: 6)
        if cl_agent_notif_recv(c.notifyFD, &id, &pid, &nr, &arch, &args) != 0 {
            // ENOENT: the task was killed or its call interrupted between poll and recv.
            let e = cl_errno()
            if e != ENOENT && e != EINTR { logError("receive notification of " + c.id, errno: e) }
            return
        }
        var record = JSONObjectBuilder()
        record.add("container", c.id)
        record.add("pid", .int(Int64(pid)))
        let entry = c.entry.map { policy.containers[$0] }
        var decision: Decision
        if arch != nativeArch {
            record.add("syscall", .int(nr))
            decision = Decision(answer: .error(EPERM), decision: "deny", reason: "foreign architecture")
        } else {
            record.add("syscall", syscallName(nr, arch: arch))
            var argsJSON = JSONObjectBuilder()
            let call = NotifiedCall(container: c, id: id, pid: pid, nr: nr, args: args, entry: entry)
            // How a handler plugs in: in its own file, an `extension AgentLoop` with
            //     func handleX(_ call: NotifiedCall, logArgs: inout JSONObjectBuilder) -> Decision
            // (Decision? if it takes only some calls of its syscall: nil leaves the rest to the
            // generic rule, as GPIO does). It starts with `admit(call, rules: .itsKind)` (policy
            // entry, generic rule, its own rules: a RuleKind case for its policy key), reaches the
            // task with `withCaller(call, ...)` if it acts in it, adds the arguments it read to
            // `logArgs` and returns the decision; this loop sends the answer and logs the record.
            // Its syscall number is resolved once in init (and named in syscallName); one branch
            // here calls it.
            if nr == mountNr {
                decision = handleMount(call, logArgs: &argsJSON)
            } else if nr == umount2Nr {
                decision = handleUmount(call, logArgs: &argsJSON)
            } else if nr == mknodNr || nr == mknodatNr {
                decision = handleMknod(call, logArgs: &argsJSON)
            } else if nr == cl_gpio_ioctl_nr(), let d = handleGPIO(call, logArgs: &argsJSON) {
                decision = d
            } else {
                for (k, a) in args.enumerated() { argsJSON.add("arg" + String(k), .string("0x" + hex(a))) }
                decision = generic(nr, entry: entry) ?? Decision(answer: .error(EPERM), decision: "deny",
                                                                 reason: entry == nil ? "no policy entry" : "no rule")
            }
            record.add("args", argsJSON.json)
        }
        if let path = decision.path { record.add("path", path) }
        record.add("decision", decision.decision)
        if let rule = decision.rule { record.add("rule", rule) }
        if let reason = decision.reason { record.add("reason", reason) }
        switch decision.answer {
        case .value(let v):
            record.add("result", send(c, id: id, value: v, error: 0, flags: 0) ? "ok" : "gone")
            record.add("return", .int(v))
        case .error(let e):
            record.add("result", send(c, id: id, value: 0, error: -e, flags: 0) ? errnoText(e) : "gone")
            record.add("errno", .int(e))
        case .continueCall:
            record.add("result", send(c, id: id, value: 0, error: 0, flags: cl_agent_user_notif_flag_continue()) ? "continued" : "gone")
        case .gone:
            record.add("result", "gone")
        }
        logDecision(c, record, now: now)
    }

    // MARK: Log budget

    /// Logs a decision within the container's budget (DecisionThrottle), or counts it.
    func logDecision(_ c: AttachedContainer, _ record: JSONObjectBuilder, now: Int64) {
        if c.throttle.windowEnded(at: now) { summarize(c) }
        if c.throttle.admit(record, at: now) { log.write(record) }
    }

    /// Ends the container's window: its counted decisions become summary lines.
    func summarize(_ c: AttachedContainer) {
        for line in c.throttle.close(container: c.id) { log.write(line) }
    }

    func summarizeEndedWindows(now: Int64) {
        for c in containers {
            if let c, c.throttle.hasSummary, c.throttle.windowEnded(at: now) { summarize(c) }
        }
    }

    /// How long epoll may wait: until the first window with counted decisions ends, so that
    /// a container that went quiet still gets its summary; -1 without any.
    func summaryTimeoutMS(now: Int64) -> Int32 {
        var first: Int64? = nil
        for c in containers {
            guard let c, c.throttle.hasSummary else { continue }
            let end = c.throttle.windowStart + DecisionThrottle.windowNS
            if first == nil || end < first! { first = end }
        }
        guard let first else { return -1 }
        let ms = (first - now) / 1_000_000 + 1
        return Int32(clamping: max(ms, 0))
    }

    /// False when the notification went away before the answer (ENOENT).
    func send(_ c: AttachedContainer, id: UInt64, value: Int64, error: Int32, flags: UInt32) -> Bool {
        if cl_agent_notif_send(c.notifyFD, id, value, error, flags) == 0 { return true }
        let e = cl_errno()
        if e != ENOENT { logError("answer notification of " + c.id, errno: e) }
        return false
    }

    func syscallName(_ nr: Int32, arch: UInt32) -> String {
        if nr == mountNr { return "mount" }
        if nr == umount2Nr { return "umount2" }
        if nr == mknodNr { return "mknod" }
        if nr == mknodatNr { return "mknodat" }
        guard let name = seccomp_syscall_resolve_num_arch(arch, nr) else { return String(nr) }
        defer { free(name) }
        return String(cString: name)
    }
}

/// Reuses an empty slot or adds one.
func freeSlot<T>(_ slots: inout [T?]) -> Int {
    if let k = slots.firstIndex(where: { $0 == nil }) { return k }
    slots.append(nil)
    return slots.count - 1
}

/// Removes a socket file left by an agent that is no longer running; refuses to take
/// over from one that is.
func removeStaleSocket(_ path: String) throws(SwiftletError) {
    var st = stat()
    guard lstat(path, &st) == 0 else { return }
    guard cl_s_issock(st.st_mode) != 0 else {
        throw SwiftletError(.agent, "socket path " + path + " exists and is not a socket", errno: EEXIST)
    }
    do throws(SwiftletError) {
        let probe = try UnixSocket.connect(path: path, stage: .agent)
        probe.close()
        throw SwiftletError(.agent, "another agent is listening on " + path, errno: EADDRINUSE)
    } catch {
        if error.errno == EADDRINUSE { throw error }
    }
    _ = unlink(path)
}

/// Decisions and events as JSON lines, one write(2) each (O_APPEND keeps lines whole).
/// A log file that a line would take past `maxBytes` is renamed to FILE.1 (replacing the
/// previous one) and started anew, so the log never takes more than twice `maxBytes`.
final class AgentLog {
    static let defaultMaxBytes: Int64 = 16 << 20
    var fd: Int32
    let path: String?
    let maxBytes: Int64
    var size: Int64 = 0

    init(path: String?, maxBytes: Int64) throws(SwiftletError) {
        self.path = path
        self.maxBytes = maxBytes
        guard let path else { fd = 2; return }
        fd = cl_open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 { throw .system(.agent, "open log " + path) }
        size = AgentLog.fileSize(fd)
    }

    static func fileSize(_ fd: Int32) -> Int64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int64(st.st_size) : 0
    }

    func write(_ record: JSONObjectBuilder) {
        var members = [JSON.Member("time", .int(cl_realtime_ns()))]
        members.append(contentsOf: record.members)
        let line = Array((JSON.object(members).serialized() + "\n").utf8)
        if let path, maxBytes > 0, size > 0, size + Int64(line.count) > maxBytes { rotate(path) }
        var offset = 0
        while offset < line.count {
            let n = line.withUnsafeBytes { CLinux.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if cl_errno() == EINTR { continue }
                return
            }
            offset += n
            size += Int64(n)
        }
    }

    func rotate(_ path: String) {
        let fresh = rename(path, path + ".1") == 0
            ? cl_open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600) : -1
        if fresh < 0 {
            // Neither renamed nor started anew: start the file itself over, so that it
            // stays bounded.
            _ = ftruncate(fd, 0)
            size = 0
            return
        }
        _ = close(fd)
        fd = fresh
        size = AgentLog.fileSize(fd)
    }
}
