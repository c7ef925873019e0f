import Base
import CLinux
import JSON
import Seccomp
import Syscalls

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
                     stateRoot: String) throws(SwiftletError) -> Int32 {
    let policy = try AgentPolicy.load(path: policyPath)
    let log = try AgentLog(path: logPath, maxBytes: logMaxBytes ?? AgentLog.defaultMaxBytes)
    let agent = try AgentLoop(socketPath: socket, policyPath: policyPath, policy: policy, log: log, stateRoot: stateRoot)
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
    init(_ socket: UnixSocket) { self.socket = socket }
}

/// The answer to one notification.
enum Answer {
    case value(Int64)
    case error(Int32)
    case continueCall
    /// The notification is no longer valid (task died, call interrupted): nothing to send.
    case gone
}

/// One decision as logged.
struct Decision {
    var answer: Answer
    var decision: String
    var rule: String? = nil
    var reason: String? = nil
    var path: String? = nil
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
        while true {
            let n = cl_agent_epoll_wait(epoll, &tokens, &events, 64, summaryTimeoutMS())
            if n < 0 {
                if cl_errno() == EINTR { continue }
                logError("epoll_wait", errno: cl_errno())
                return 1
            }
            for k in 0..<Int(n) {
                let token = tokens[k]
                let kind = token >> 32
                let slot = Int(token & 0xffff_ffff)
                if token == AgentLoop.listenerToken {
                    acceptConnection()
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
                        serve(c)
                    } else if events[k] & UInt32(EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                        // Every task using the filter has exited.
                        detach(slot, reason: "exited")
                    }
                }
            }
            summarizeEndedWindows()
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
                c.entry = fresh.entry(id: c.id, annotations: c.annotations, metadata: c.metadata)
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
        attach(json, fd: fd)
    }

    func attach(_ json: JSON, fd: Int32) {
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
        switch checkAttach(stateRoot: stateRoot, id: id, token: token, claimedMetadata: claimedMetadata) {
        case .accepted(let a, let m): (annotations, metadata) = (a, m)
        case .refused(let reason):
            logError("refused attach: " + reason, errno: EPERM)
            _ = close(fd)
            return
        }
        let entry = policy.entry(id: id, annotations: annotations, metadata: metadata)
        let c = AttachedContainer(id: id, pid: pid, annotations: annotations, metadata: metadata, notifyFD: fd, entry: entry)
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

    func serve(_ c: AttachedContainer) {
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
            if nr == mountNr {
                decision = handleMount(c, id: id, pid: pid, args: args, entry: entry, logArgs: &argsJSON)
            } else if nr == umount2Nr {
                decision = handleUmount(c, id: id, pid: pid, args: args, entry: entry, logArgs: &argsJSON)
            } else if nr == mknodNr || nr == mknodatNr {
                decision = handleMknod(c, id: id, pid: pid, args: args, at: nr == mknodatNr, entry: entry, logArgs: &argsJSON)
            } else if nr == cl_gpio_ioctl_nr(), let d = handleGPIO(c, id: id, pid: pid, args: args, entry: entry, logArgs: &argsJSON) {
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
        logDecision(c, record)
    }

    // MARK: Log budget

    /// Logs a decision within the container's budget (DecisionThrottle), or counts it.
    func logDecision(_ c: AttachedContainer, _ record: JSONObjectBuilder) {
        let now = cl_monotonic_ns()
        if c.throttle.windowEnded(at: now) { summarize(c) }
        if c.throttle.admit(record, at: now) { log.write(record) }
    }

    /// Ends the container's window: its counted decisions become summary lines.
    func summarize(_ c: AttachedContainer) {
        for line in c.throttle.close(container: c.id) { log.write(line) }
    }

    func summarizeEndedWindows() {
        let now = cl_monotonic_ns()
        for c in containers {
            if let c, c.throttle.hasSummary, c.throttle.windowEnded(at: now) { summarize(c) }
        }
    }

    /// How long epoll may wait: until the first window with counted decisions ends, so that
    /// a container that went quiet still gets its summary; -1 without any.
    func summaryTimeoutMS() -> Int32 {
        var first: Int64? = nil
        for c in containers {
            guard let c, c.throttle.hasSummary else { continue }
            let end = c.throttle.windowStart + DecisionThrottle.windowNS
            if first == nil || end < first! { first = end }
        }
        guard let first else { return -1 }
        let ms = (first - cl_monotonic_ns()) / 1_000_000 + 1
        return Int32(clamping: max(ms, 0))
    }

    /// False when the notification went away before the answer (ENOENT).
    func send(_ c: AttachedContainer, id: UInt64, value: Int64, error: Int32, flags: UInt32) -> Bool {
        if cl_agent_notif_send(c.notifyFD, id, value, error, flags) == 0 { return true }
        let e = cl_errno()
        if e != ENOENT { logError("answer notification of " + c.id, errno: e) }
        return false
    }

    func generic(_ nr: Int32, entry: ContainerPolicy?) -> Decision? {
        guard let rule = entry?.syscallRule(nr) else { return nil }
        switch rule.action {
        case .allow(let v): return Decision(answer: .value(v), decision: "allow", rule: rule.name)
        case .deny(let e): return Decision(answer: .error(e), decision: "deny", rule: rule.name)
        case .continueCall: return Decision(answer: .continueCall, decision: "continue", rule: rule.name)
        }
    }

    func handleMount(_ c: AttachedContainer, id: UInt64, pid: UInt32, args: [UInt64], entry: ContainerPolicy?,
                     logArgs: inout JSONObjectBuilder) -> Decision {
        logArgs.add("flags", .string("0x" + hex(args[3])))
        guard let entry else { return Decision(answer: .error(EPERM), decision: "deny", reason: "no policy entry") }
        if let d = generic(mountNr, entry: entry) { return d }
        if entry.mounts.isEmpty { return Decision(answer: .error(EPERM), decision: "deny", reason: "no mount rule") }
        let disk = entry.mounts.contains { $0.devices != nil }
        var extra: Task.Extra = []
        if entry.namesUids { extra.insert(.uidMap) }
        if disk { extra.insert(.cgroup) }
        let task: Task
        switch reach(c, pid: pid, id: id, withUserNamespace: entry.userNamespace, extra: extra) {
        case .task(let t): task = t
        case .answer(let d): return d
        }
        defer { task.close() }
        // Copied once; everything below checks and uses only these copies.
        let source = task.string(at: args[0])
        let target = task.string(at: args[1])
        let fstype = task.string(at: args[2])
        let data = task.string(at: args[4])
        logArgs.add("source", source.json)
        logArgs.add("target", target.json)
        logArgs.add("fstype", fstype.json)
        logArgs.add("data", data.json)
        let flags = effectiveMountFlags(args[3])
        guard case .text(let targetText, _) = target else { return copyFailure(target) }
        var request = MountRequest(source: nil, target: "", fstype: nil, flags: flags, data: nil)
        switch source { case .text(let s, _): request.source = s; case .null: break; default: return copyFailure(source) }
        switch fstype { case .text(let s, _): request.fstype = s; case .null: break; default: return copyFailure(fstype) }
        switch data { case .text(let s, _): request.data = s; case .null: break; default: return copyFailure(data) }
        guard let creds = task.credentials() else { return Decision(answer: .gone, decision: "none", reason: "task gone") }
        request.caller = callerFacts(task, creds, entry: entry)
        let helper = task.userNamespace >= 0 ? c.userHelper : c.hostHelper
        switch resolve(targetText, task: task, dirfd: AT_FDCWD, helper: helper) {
        case .success(let p): request.target = p
        case .failure(let e): return Decision(answer: .error(e.value), decision: "deny", reason: "cannot resolve target")
        }
        if flags & msBind != 0, let s = request.source {
            switch resolve(s, task: task, dirfd: AT_FDCWD, helper: helper) {
            case .success(let p): request.bindSource = p
            case .failure(let e): return Decision(answer: .error(e.value), decision: "deny", reason: "cannot resolve source")
            }
        }
        // A disk file system's source is never looked up by the kernel in the container:
        // the agent opens it below the task's root without following a symlink, and what
        // it found (a block device, its numbers) is what the rule and the mount use.
        var deviceFD: Int32 = -1
        defer { if deviceFD >= 0 { _ = close(deviceFD) } }
        if flags & msBind == 0, let type = request.fstype, !isPseudoFileSystem(type), let s = request.source {
            switch resolve(s, task: task, dirfd: AT_FDCWD, helper: helper) {
            case .success(let p): request.devicePath = p
            case .failure(let e): return Decision(answer: .error(e.value), decision: "deny", reason: "cannot resolve source")
            }
            deviceFD = cl_agent_open_beneath(task.root, request.devicePath!, O_PATH)
            var major: UInt32 = 0, minor: UInt32 = 0
            if deviceFD >= 0 && cl_agent_block_device(deviceFD, &major, &minor) == 0 {
                request.device = BlockDevice(major: major, minor: minor)
                logArgs.add("device", .string(String(major) + ":" + String(minor)))
            }
        }
        switch checkMount(request, rules: entry.mounts) {
        case .denied(let reason):
            return Decision(answer: .error(EPERM), decision: "deny", reason: reason, path: request.target)
        case .allowed(let rule):
            var procFD: Int32 = -1
            defer { if procFD >= 0 { _ = close(procFD) } }
            if let device = request.device {
                if let refusal = deviceCgroupRefusal(task, device, write: flags & msRdonly == 0) {
                    return Decision(answer: .error(EPERM), decision: "deny", rule: rule, reason: refusal, path: request.target)
                }
                procFD = cl_agent_open_procfs()
                if procFD < 0 {
                    return Decision(answer: .error(EPERM), decision: "deny", rule: rule, reason: "no procfs", path: request.target)
                }
            }
            let dev = request.device.map { cl_makedev($0.major, $0.minor) } ?? 0
            return perform(c, id: id, task: task, helper: helper, rule: rule, path: request.target) {
                performMount(task, request, helper: helper, deviceFD: deviceFD, dev: dev, procFD: procFD)
            }
        }
    }

    /// The caller as rule conditions see it.
    func callerFacts(_ task: Task, _ creds: TaskCredentials, entry: ContainerPolicy) -> CallerFacts {
        var uid: UInt32? = nil
        if entry.namesUids, let map = task.read(task.uidMap) { uid = idInNamespace(creds.euid, map: map) }
        return CallerFacts(uid: uid, capabilities: creds.capEff, noNewPrivileges: creds.noNewPrivs)
    }

    /// Why the task's device cgroup would refuse it `device` (read, and write unless
    /// read-only), nil if it grants it. Read from the cgroup v1 devices controller;
    /// without one (a cgroup2-only host, whose eBPF device programs cannot be read back),
    /// or with a list in default-allow mode (whose denials are not listed), refused.
    func deviceCgroupRefusal(_ task: Task, _ device: BlockDevice, write: Bool) -> String? {
        guard let text = task.read(task.cgroup) else { return "cannot read the caller's cgroup" }
        var path: String? = nil
        for line in String(decoding: text, as: UTF8.self).split(byte: 10) {
            // "ID:controllers:path"; the path may hold colons itself.
            let fields = line.split(byte: UInt8(ascii: ":"))
            if fields.count >= 3, fields[1].split(byte: UInt8(ascii: ",")).contains(where: { $0.bytesEqual("devices") }) {
                path = join(Array(fields[2...]), ":")
            }
        }
        guard let path, path.hasBytePrefix("/"), normalizePath(path, cwd: "/")?.bytesEqual(path) == true else {
            return "no cgroup v1 devices controller for the caller: its device cgroup cannot be read"
        }
        let hierarchy = cl_open("/sys/fs/cgroup/devices", O_PATH | O_DIRECTORY | O_CLOEXEC, 0)
        if hierarchy < 0 { return "no cgroup v1 devices hierarchy at /sys/fs/cgroup/devices" }
        defer { _ = close(hierarchy) }
        let list = cl_agent_open_beneath(hierarchy, path + "/devices.list", O_RDONLY)
        if list < 0 { return "cannot read devices.list of the caller's cgroup" }
        defer { _ = close(list) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { CLinux.read(list, $0.baseAddress, $0.count) }
            if n < 0 { return "cannot read devices.list of the caller's cgroup" }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        switch deviceListAllows(String(decoding: bytes, as: UTF8.self), device: device, write: write) {
        case .some(true): return nil
        case .some(false): return "device " + String(device.major) + ":" + String(device.minor) + " refused by the caller's device cgroup"
        case nil: return "the caller's device cgroup allows by default; its exceptions cannot be read"
        }
    }

    func performMount(_ task: Task, _ r: MountRequest, helper: ContainerHelper, deviceFD: Int32, dev: UInt64, procFD: Int32) -> Int32 {
        withOptionalCString(r.source) { source in
            withOptionalCString(r.bindSource) { bindSource in
                withOptionalCString(r.fstype) { fstype in
                    withOptionalCString(r.data) { data in
                        cl_agent_mount(&helper.raw, task.root, r.target, source, bindSource,
                                       fstype, UInt(r.flags), data.map { UnsafeRawPointer($0) },
                                       deviceFD, dev, procFD, helperTimeoutMS)
                    }
                }
            }
        }
    }

    func handleUmount(_ c: AttachedContainer, id: UInt64, pid: UInt32, args: [UInt64], entry: ContainerPolicy?,
                      logArgs: inout JSONObjectBuilder) -> Decision {
        let flags = Int32(truncatingIfNeeded: args[1])
        logArgs.add("flags", .string("0x" + hex(UInt64(UInt32(bitPattern: flags)))))
        guard let entry else { return Decision(answer: .error(EPERM), decision: "deny", reason: "no policy entry") }
        if let d = generic(umount2Nr, entry: entry) { return d }
        if entry.umounts.isEmpty { return Decision(answer: .error(EPERM), decision: "deny", reason: "no umount2 rule") }
        let task: Task
        switch reach(c, pid: pid, id: id, withUserNamespace: entry.userNamespace, extra: entry.namesUids ? [.uidMap] : []) {
        case .task(let t): task = t
        case .answer(let d): return d
        }
        defer { task.close() }
        guard let creds = task.credentials() else { return Decision(answer: .gone, decision: "none", reason: "task gone") }
        let target = task.string(at: args[0])
        logArgs.add("target", target.json)
        guard case .text(let targetText, _) = target else { return copyFailure(target) }
        let path: String
        let helper = task.userNamespace >= 0 ? c.userHelper : c.hostHelper
        switch resolve(targetText, task: task, dirfd: AT_FDCWD, helper: helper) {
        case .success(let p): path = p
        case .failure(let e): return Decision(answer: .error(e.value), decision: "deny", reason: "cannot resolve target")
        }
        // UMOUNT_NOFOLLOW is always added by the helper; asking for it is harmless.
        switch checkUmount(target: path, flags: flags & ~8, rules: entry.umounts, caller: callerFacts(task, creds, entry: entry)) {
        case .denied(let reason):
            return Decision(answer: .error(EPERM), decision: "deny", reason: reason, path: path)
        case .allowed(let rule):
            return perform(c, id: id, task: task, helper: helper, rule: rule, path: path) {
                cl_agent_umount(&helper.raw, task.root, path, flags & ~8, helperTimeoutMS)
            }
        }
    }

    func handleMknod(_ c: AttachedContainer, id: UInt64, pid: UInt32, args: [UInt64], at: Bool, entry: ContainerPolicy?,
                     logArgs: inout JSONObjectBuilder) -> Decision {
        let a = at ? Array(args[1...]) : args
        let dirfd = at ? Int32(truncatingIfNeeded: args[0]) : AT_FDCWD
        let mode = UInt32(truncatingIfNeeded: a[1])
        // The kernel takes a 32-bit dev in its "new" encoding.
        let dev = UInt32(truncatingIfNeeded: a[2])
        let major = (dev & 0xfff00) >> 8
        let minor = (dev & 0xff) | ((dev >> 12) & 0xfff00)
        if at { logArgs.add("dirfd", .int(dirfd)) }
        logArgs.add("mode", .string("0" + octal(mode)))
        logArgs.add("dev", .string(String(major) + ":" + String(minor)))
        guard let entry else { return Decision(answer: .error(EPERM), decision: "deny", reason: "no policy entry") }
        if let d = generic(at ? mknodatNr : mknodNr, entry: entry) { return d }
        if entry.mknods.isEmpty { return Decision(answer: .error(EPERM), decision: "deny", reason: "no mknod rule") }
        guard let kind = NodeKind(modeBits: mode) else {
            return Decision(answer: .error(EINVAL), decision: "deny", reason: "invalid node type")
        }
        let devMajor = kind.hasDevice ? major : 0, devMinor = kind.hasDevice ? minor : 0
        // Type and device decide most refusals without reading the task at all.
        if case .denied(let reason) = checkMknod(path: nil, kind: kind, major: devMajor, minor: devMinor, rules: entry.mknods) {
            return Decision(answer: .error(EPERM), decision: "deny", reason: reason)
        }
        let task: Task
        switch reach(c, pid: pid, id: id, withUserNamespace: false, extra: entry.namesUids ? [.uidMap] : []) {
        case .task(let t): task = t
        case .answer(let d): return d
        }
        defer { task.close() }
        guard let creds = task.credentials() else { return Decision(answer: .gone, decision: "none", reason: "task gone") }
        let pathArg = task.string(at: a[0])
        logArgs.add("path", pathArg.json)
        guard case .text(let pathText, _) = pathArg else { return copyFailure(pathArg) }
        let path: String
        switch resolve(pathText, task: task, dirfd: dirfd, helper: c.hostHelper) {
        case .success(let p): path = p
        case .failure(let e): return Decision(answer: .error(e.value), decision: "deny", reason: "cannot resolve path")
        }
        switch checkMknod(path: path, kind: kind, major: devMajor, minor: devMinor, rules: entry.mknods,
                          caller: callerFacts(task, creds, entry: entry)) {
        case .denied(let reason):
            return Decision(answer: .error(EPERM), decision: "deny", reason: reason, path: path)
        case .allowed(let rule):
            // Permission bits only (no set-id or sticky bits on nodes made for a container), less the umask.
            let finalMode = kind.modeBits | (mode & 0o777 & ~creds.umask)
            let groups = join(creds.groups.map { String($0) }, " ")
            if groups.utf8.count >= 4096 {
                return Decision(answer: .error(EPERM), decision: "deny", reason: "too many supplementary groups", path: path)
            }
            return perform(c, id: id, task: task, helper: c.hostHelper, rule: rule, path: path) {
                cl_agent_mknod(&c.hostHelper.raw, task.root, path, finalMode, cl_makedev(devMajor, devMinor),
                               creds.fsuid, creds.fsgid, groups, helperTimeoutMS)
            }
        }
    }

    enum Reached {
        case task(Task)
        case answer(Decision)
    }

    /// The task behind a notification, or the answer when it cannot be reached.
    func reach(_ c: AttachedContainer, pid: UInt32, id: UInt64, withUserNamespace: Bool, extra: Task.Extra = []) -> Reached {
        switch Task.open(pid: pid, notifyFD: c.notifyFD, id: id, withUserNamespace: withUserNamespace,
                         ownUserNamespace: ownUserNamespace, extra: extra) {
        case .task(let t): return .task(t)
        case .gone: return .answer(Decision(answer: .gone, decision: "none", reason: "task gone"))
        case .failed(let e): return .answer(Decision(answer: .error(EPERM), decision: "deny", reason: "cannot reach task: " + errnoText(e)))
        }
    }

    /// An allowed call, made by `helper`. The helper is made ready first (on a first call
    /// that is a fork), so that the notification's validity is checked right before the call.
    func perform(_ c: AttachedContainer, id: UInt64, task: Task, helper: ContainerHelper, rule: String, path: String,
                 _ call: () -> Int32) -> Decision {
        let ready = helper.ready(for: task)
        if cl_agent_notif_id_valid(c.notifyFD, id) != 0 {
            return Decision(answer: .gone, decision: "allow", rule: rule, reason: "task gone", path: path)
        }
        let e = ready != 0 ? ready : call()
        return Decision(answer: e == 0 ? .value(0) : .error(e), decision: "allow", rule: rule, path: path)
    }

    /// A copied path argument as a normalized container path.
    func resolve(_ path: String, task: Task, dirfd: Int32, helper: ContainerHelper) -> Result<String, AgentErrno> {
        if path.isEmpty { return .failure(AgentErrno(ENOENT)) }
        var base = "/"
        if !path.hasBytePrefix("/") {
            switch task.directoryPath(dirfd: dirfd, helper: helper) {
            case .success(let p): base = p
            case .failure(let e): return .failure(e)
            }
        }
        guard let normal = normalizePath(path, cwd: base) else { return .failure(AgentErrno(ENAMETOOLONG)) }
        return .success(normal)
    }

    func copyFailure(_ c: Copied) -> Decision {
        switch c {
        case .tooLong: return Decision(answer: .error(ENAMETOOLONG), decision: "deny", reason: "argument too long")
        case .null: return Decision(answer: .error(EFAULT), decision: "deny", reason: "null argument")
        default: return Decision(answer: .error(EFAULT), decision: "deny", reason: "argument unreadable")
        }
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

func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
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
