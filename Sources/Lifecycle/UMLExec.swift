import Base
import CLinux
import JSON
import OCISpec
import Process
import Syscalls
import Terminal

// `exec` and `ps` in the UML tier. The process runs inside the guest, so the host-side
// `swiftlet exec` cannot clone it into namespaces: it talks to the supervisor instead.
//
//     swiftlet exec ──(uml.sock in the state dir)── supervisor ══(control channel)══ guest init
//
// The supervisor listens on a socket it was handed bound in the container's state
// directory (root's, mode 0600); each connection becomes a stream on the guest channel
// (UMLFrame.stream, with an id), beside the container's own process. The caller speaks
// plain frames (exec pieces, start, stdin, signals; back: started, stdout, stderr, exited
// or failed); the guest's init runs the ordinary `exec` code inside the guest.

/// The socket's name in the container's state directory.
let umlSocketName = "uml.sock"

extension ContainerRecord {
    /// True for a container of the UML tier (its state records the mode).
    var isUML: Bool {
        annotations.contains { $0.0.bytesEqual(Isolation.modeAnnotation) && $0.1.bytesEqual("uml") }
    }
}

extension Runtime {
    /// True when `id` names a container of the UML tier.
    public func isUMLContainer(_ id: String) throws(SwiftletError) -> Bool {
        try load(id).record?.isUML ?? false
    }

    /// `exec` in the UML tier: `r` is the request as the host checked it (its process was
    /// built from the host's config); `processFile`, `args` and `options` go to the guest,
    /// which builds the same process from its own copy of the config. Returns the process's
    /// exit status, or 0 once it runs when detached (a relay process then stands for it on
    /// the host: its pid goes to --pid-file, it exits with the process's status and passes
    /// signals on).
    public func execUML(_ r: ExecRequest, processFile: String?, args: [String],
                        options: ExecProcessOptions) throws(SwiftletError) -> Int32 {
        try checkTerminalOptions(r)
        if r.preserveFDs > 0 || r.pidfdSocket != nil || !r.subCgroups.isEmpty {
            throw SwiftletError(.usage, "isolation uml: --preserve-fds, --pidfd-socket and --cgroup name host resources; "
                                + "an exec'd process lives in the guest", errno: ENOTSUP)
        }
        if !(options.apparmorProfile ?? "").isEmpty || !(options.processLabel ?? "").isEmpty {
            throw SwiftletError(.usage, "isolation uml: the guest has no AppArmor or SELinux", errno: ENOTSUP)
        }
        let terminal = r.process.terminal
        // A foreground terminal takes the caller's size; a console socket's caller sets it later.
        let size = terminal && r.consoleSocket == nil
            ? Terminal.windowSize(.standardInput) ?? Terminal.windowSize(.standardOutput) : nil
        let request = try umlExecRequestText(processFile: processFile, args: args, options: options, size: size)
        let signals = try SignalGuard.block()
        defer { signals.restore() }
        let sock = try connectUML(r.id, for: "exec")
        defer { sock.close() }
        // With --console-socket, the caller gets the master of a host pty whose other side the
        // relay connects to the process's terminal in the guest.
        var console: FileDescriptor? = nil
        defer { console?.close() }
        if terminal, let path = r.consoleSocket {
            let socket = try Terminal.connectConsoleSocket(path: path)
            defer { socket.close() }
            let pty = try Terminal.openPseudoTerminal()
            defer { pty.master.close() }
            do throws(SwiftletError) {
                try socket.send(pty.peerName, passing: pty.master.raw, stage: .terminal)
            } catch {
                pty.peer.close()
                throw error
            }
            console = pty.peer
        }
        var call = UMLCall(fd: sock.fd.raw)
        call.terminal = terminal
        var raw: RawMode? = nil
        if terminal && console == nil { raw = Terminal.makeRaw(.standardInput) }
        defer { raw?.restore() }
        var start: [UInt8] = []
        var chunks = Array(request.utf8)[...]
        while !chunks.isEmpty {
            let n = min(chunks.count, UMLFrame.maxStreamPayload)
            start += UMLFrame.encode(.exec, Array(chunks.prefix(n)))
            chunks = chunks.dropFirst(n)
        }
        start += UMLFrame.encode(.start, "")
        call.output.add(start)
        return try call.run(signals: signals.fd.raw, relayStdin: true) { () throws(SwiftletError) -> UMLCall.AfterStart in
            guard r.detach else { return .relay(nil) }
            // The caller gets a host process for the one in the guest: a relay that outlives us.
            let relay = fork()
            if relay < 0 { throw .system(.exec, "fork the exec relay") }
            if relay == 0 {
                guard let console else { return .relay(nil) }
                // The pty's session leader: the caller's resizes reach it as SIGWINCH. Bytes
                // pass untouched; the guest's pty does the line discipline.
                _ = setsid()
                _ = cl_set_controlling_terminal(console.raw)
                _ = Terminal.makeRaw(console)
                return .relay(console.raw)
            }
            if let pidFile = r.pidFile {
                try writeFileAtomically(absolute(pidFile), String(relay), mode: 0o644, stage: .exec)
            }
            return .done
        }
    }

    /// `ps` in the UML tier: the guest's pids of the container's processes, or a table
    /// made in the guest from its /proc (the guest has no ps(1)).
    func umlProcesses(_ id: String, table: Bool) throws(SwiftletError) -> [UInt8] {
        let sock = try connectUML(id, for: "ps")
        defer { sock.close() }
        var call = UMLCall(fd: sock.fd.raw)
        call.output.add(UMLFrame.encode(.ps, table ? "table" : "json"))
        call.keepStdout = true
        let status = try call.run(signals: -1, relayStdin: false) { () throws(SwiftletError) -> UMLCall.AfterStart in .relay(nil) }
        if status != 0 { throw SwiftletError(.lifecycle, "ps: the guest answered with status " + String(status), errno: EIO) }
        return call.stdout
    }

    /// The guest's pids of the container's processes (`ps -f json` in the UML tier).
    func umlProcessIDs(_ id: String) throws(SwiftletError) -> [Int32] {
        let text = String(decoding: try umlProcesses(id, table: false), as: UTF8.self)
        guard case .array(let items) = try JSON.parse(text, source: "the guest's ps") else {
            throw SwiftletError(.lifecycle, "ps: malformed answer from the guest", errno: EPROTO)
        }
        var pids: [Int32] = []
        for item in items {
            guard case .number(let n) = item, let pid = parseInt(n), pid > 0, pid <= Int(Int32.max) else {
                throw SwiftletError(.lifecycle, "ps: malformed answer from the guest", errno: EPROTO)
            }
            pids.append(Int32(pid))
        }
        return pids
    }

    /// Connects to the supervisor of a running (or created) UML container, checking that the
    /// socket is root's alone and that the peer is the recorded supervisor.
    func connectUML(_ id: String, for verb: String) throws(SwiftletError) -> UnixSocket {
        let c = try load(id)
        switch c.status {
        case .stopped: throw SwiftletError(.exec, "cannot " + verb + " in a stopped container", errno: ESRCH)
        case .creating: throw SwiftletError(.exec, "cannot " + verb + " in a container that is being created", errno: EBUSY)
        case .paused: throw SwiftletError(.exec, "cannot " + verb + " in a paused UML container (its whole guest is frozen)", errno: EBUSY)
        default: break
        }
        guard let record = c.record else { throw SwiftletError(.exec, "container is being created", errno: EBUSY) }
        let path = c.directory + "/" + umlSocketName
        var st = stat()
        guard lstat(path, &st) == 0 else {
            throw SwiftletError(.exec, "cannot " + verb + ": the container's supervisor has no socket", errno: cl_errno())
        }
        guard cl_s_issock(st.st_mode) != 0, st.st_uid == geteuid(), st.st_mode & 0o077 == 0 else {
            throw SwiftletError(.exec, "cannot " + verb + ": " + path + " is not the supervisor's private socket", errno: EPERM)
        }
        let sock: UnixSocket
        do throws(SwiftletError) {
            sock = try UnixSocket.connect(path: path, stage: .exec)
        } catch {
            if error.errno == ECONNREFUSED { throw SwiftletError(.exec, "cannot " + verb + " in a stopped container", errno: ESRCH) }
            throw error
        }
        var pid: Int32 = 0
        var uid: UInt32 = 0
        guard cl_agent_peer_credentials(sock.fd.raw, &pid, &uid) == 0, pid == record.pid,
              processStartTime(pid) == record.pidStartTime else {
            sock.close()
            throw SwiftletError(.exec, "cannot " + verb + ": the socket's peer is not the container's supervisor", errno: EPERM)
        }
        setNonBlocking(sock.fd.raw)
        return sock
    }
}

/// The exec request the guest's init turns into a process: the process.json text, or the
/// command line's args and flags (the guest applies them to its copy of config.json, as
/// `exec` does on the host).
func umlExecRequestText(processFile: String?, args: [String], options: ExecProcessOptions,
                        size: WindowSize? = nil) throws(SwiftletError) -> String {
    var o = JSONObjectBuilder()
    if let size { o.add("rows", Int64(size.rows)); o.add("columns", Int64(size.columns)) }
    if let file = processFile {
        let text = try readTextFile(file, stage: .exec)
        guard case .object(let members) = try JSON.parse(text, source: "process.json") else {
            throw SwiftletError(.exec, "process.json: not an object", errno: EINVAL)
        }
        o.add("process", JSON.object(members).serialized())
    } else {
        o.add("args", args)
        o.add("env", options.env)
        o.add("cwd", options.cwd)
        o.add("uid", options.uid.map { Int64($0) })
        o.add("gid", options.gid.map { Int64($0) })
        o.add("additionalGids", JSON.array(options.additionalGids.map { .int(Int64($0)) }))
        o.add("capabilities", options.capabilities)
        o.add("noNewPrivileges", options.noNewPrivileges)
        o.add("tty", options.tty)
    }
    return o.json.serialized()
}

/// One caller's conversation with the supervisor: frames out (queued, non-blocking), frames
/// back (bounded, checked), the caller's stdin and signals passed on.
struct UMLCall {
    let fd: Int32
    var output = OutputQueue()
    var frames = UMLFrameReader()
    var keepStdout = false
    var stdout: [UInt8] = []
    var started = false
    /// The process has a terminal: SIGWINCH becomes a resize of it.
    var terminal = false
    /// Where the process's input comes from and its output goes: stdio, or a relay's pty.
    var input: Int32 = 0
    var outputFD: Int32 = 1

    init(fd: Int32) { self.fd = fd }

    enum AfterStart {
        case done                // the caller detached; a relay carries on
        case relay(Int32?)       // relay the process here (through this pty, if given)
    }

    /// Runs until the process's exit status arrives. `onStarted` runs once the process runs.
    mutating func run(signals: Int32, relayStdin: Bool,
                      onStarted: () throws(SwiftletError) -> AfterStart) throws(SwiftletError) -> Int32 {
        var stdinOpen = relayStdin
        while true {
            let readStdin = started && stdinOpen && output.count < 65536
            var fds = [pollfd(fd: fd, events: Int16(POLLIN) | (output.isEmpty ? 0 : Int16(POLLOUT)), revents: 0),
                       pollfd(fd: readStdin ? input : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 3, -1) < 0 {
                if cl_errno() == EINTR { continue }
                throw .system(.exec, "poll")
            }
            if fds[0].revents & Int16(POLLOUT) != 0 { try output.flush(fd) }
            if fds[1].revents != 0 {
                if let bytes = readAvailable(input, limit: UMLFrame.maxStreamPayload) {
                    if bytes.isEmpty {
                        stdinOpen = false
                        output.add(UMLFrame.encode(.stdinEnd, ""))
                    } else {
                        output.add(UMLFrame.encode(.stdin, bytes))
                    }
                }
            }
            if fds[2].revents != 0 {
                var info = signalfd_siginfo()
                // SIGPIPE is ours (a reader of our output went away), not the process's.
                if read(signals, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
                    let sig = Int32(info.ssi_signo)
                    if sig == SIGWINCH && terminal {
                        if let size = Terminal.windowSize(FileDescriptor(input)) ?? Terminal.windowSize(FileDescriptor(outputFD)) {
                            output.add(UMLFrame.encode(.resize, String(size.rows) + " " + String(size.columns)))
                        }
                    } else if sig != SIGPIPE {
                        output.add(UMLFrame.encode(.signal, String(sig)))
                    }
                }
            }
            if fds[0].revents & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 {
                guard let bytes = readAvailable(fd, limit: 65536) else { continue }
                if bytes.isEmpty {
                    if !started { throw SwiftletError(.exec, "the container stopped before the process started", errno: ESRCH) }
                    writeStderr("swiftlet: uml: the container stopped before the process's exit status came back\n")
                    return UMLHost.guestLostStatus
                }
                frames.append(bytes[...])
                while let (kind, payload) = try frames.next() {
                    switch kind {
                    case .started:
                        guard !started else { break }
                        started = true
                        if !output.isEmpty { try output.flush(fd) }
                        switch try onStarted() {
                        case .done: return 0
                        case .relay(let pty):
                            if let pty { input = pty; outputFD = pty }
                        }
                    case .stdout:
                        if keepStdout {
                            guard stdout.count + payload.count <= 16 << 20 else {
                                throw SwiftletError(.exec, "uml: the guest's answer is too long", errno: EPROTO)
                            }
                            stdout += payload
                        } else {
                            writeAllBytes(outputFD, payload)
                        }
                    case .stderr:
                        writeAllBytes(2, payload)
                    case .failed:
                        let e = SwiftletError.decode(String(decoding: payload, as: UTF8.self))
                        throw SwiftletError(e.stage, printable(e.message), errno: e.errno)
                    case .exited:
                        guard let n = parseInt(String(decoding: payload, as: UTF8.self)), n >= 0, n <= 255 else {
                            throw SwiftletError(.exec, "uml: malformed exit status from the guest", errno: EPROTO)
                        }
                        return Int32(n)
                    default:
                        throw SwiftletError(.sync, "uml: unexpected frame from the supervisor", errno: EPROTO)
                    }
                }
            }
        }
    }
}

// MARK: - The supervisor's side

/// The supervisor's callers: each accepted connection is one stream to the guest. What a
/// caller sends to the guest that the guest's tty must buffer (exec pieces, stdin) takes
/// from the shared window the guest acknowledges, as the container's own stdin does.
struct UMLStreamHub {
    struct Caller {
        let fd: Int32
        let stream: UInt32
        var frames = UMLFrameReader()
        var output = OutputQueue()
        /// Frames for the guest, in order, waiting for window (exec pieces, stdin, stdin's end).
        var waiting: [(UMLFrame, [UInt8])] = []
        var waitingBytes = 0
        var requestBytes = 0
        var launched = false
        var finished = false
    }

    var listener: Int32
    var callers: [Caller] = []
    var nextStream: UInt32 = 1
    static let maxCallers = 32
    static let maxRequest = 1 << 20
    /// A caller that does not read its output holds the channel back beyond this.
    static let outputLimit = 1 << 20

    init(listener: Int32) {
        self.listener = listener
        if listener >= 0 { setNonBlocking(listener) }
    }

    /// True while every caller keeps up with its output: the guest's frames may be read.
    var acceptsGuestOutput: Bool { !callers.contains { $0.output.count > UMLStreamHub.outputLimit } }

    func pollFDs(open: Bool) -> [pollfd] {
        var fds = [pollfd(fd: open && callers.count < UMLStreamHub.maxCallers ? listener : -1, events: Int16(POLLIN), revents: 0)]
        for c in callers {
            var events: Int16 = c.output.isEmpty ? 0 : Int16(POLLOUT)
            if !c.finished && c.waitingBytes < 65536 { events |= Int16(POLLIN) }
            fds.append(pollfd(fd: c.fd, events: events, revents: 0))
        }
        return fds
    }

    /// After poll: accepts, reads callers' frames, flushes their output, drops the gone.
    mutating func handle(_ fds: ArraySlice<pollfd>, window: inout Int, toGuest: inout OutputQueue) {
        let first = fds.startIndex
        if fds[first].revents != 0 { accept() }
        for (i, p) in fds.dropFirst().enumerated() where i < callers.count && p.revents != 0 {
            if p.revents & Int16(POLLOUT) != 0 {
                if (try? callers[i].output.flush(callers[i].fd)) == nil { hangUp(i) }
            }
            if p.revents & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 && !callers[i].finished {
                readCaller(i, toGuest: &toGuest)
            }
        }
        pump(window: &window, toGuest: &toGuest)
        callers.removeAll { c in
            let gone = c.finished && c.output.isEmpty && c.waiting.isEmpty
            if gone { close(c.fd) }
            return gone
        }
    }

    mutating func accept() {
        let raw = accept4(listener, __SOCKADDR_ARG(), nil, Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue))
        if raw < 0 { return }
        // Only the host's side reaches the socket (root's, in the state directory); a process
        // of this tree would show a pid of this pid namespace.
        var pid: Int32 = -1
        var uid: UInt32 = 0
        if cl_agent_peer_credentials(raw, &pid, &uid) != 0 || pid != 0 {
            close(raw)
            return
        }
        callers.append(Caller(fd: raw, stream: nextStream))
        nextStream &+= 1
        if nextStream == 0 { nextStream = 1 }
    }

    mutating func readCaller(_ i: Int, toGuest: inout OutputQueue) {
        guard let bytes = readAvailable(callers[i].fd, limit: 65536) else { return }
        if bytes.isEmpty { hangUp(i); return }
        callers[i].frames.append(bytes[...])
        while true {
            let next: (UMLFrame, [UInt8])?
            do throws(SwiftletError) { next = try callers[i].frames.next() } catch { hangUp(i); return }
            guard let (kind, payload) = next else { return }
            let stream = callers[i].stream
            switch kind {
            case .exec where !callers[i].launched:
                callers[i].requestBytes += payload.count
                if callers[i].requestBytes > UMLStreamHub.maxRequest || payload.count > UMLFrame.maxStreamPayload {
                    refuse(i, "isolation uml: the exec request is too long")
                    return
                }
                wait(i, .exec, payload)
            case .start where !callers[i].launched, .ps where !callers[i].launched:
                guard kind != .ps || payload.count <= 16 else { refuse(i, "isolation uml: malformed ps request"); return }
                callers[i].launched = true
                wait(i, kind, payload)
            case .stdin where callers[i].launched:
                guard payload.count <= UMLFrame.maxStreamPayload else { hangUp(i); return }
                wait(i, .stdin, payload)
            case .stdinEnd where callers[i].launched:
                wait(i, .stdinEnd, [])
            case .resize where callers[i].launched:
                // Whole, and at once like signals (a size is never split by the window).
                guard payload.count <= 32 else { hangUp(i); return }
                toGuest.add(UMLFrame.encodeStream(stream, .resize, payload))
            case .signal where callers[i].launched:
                // Signals pass queued stdin: a ^C must not wait behind input.
                if let n = parseInt(String(decoding: payload, as: UTF8.self)), n > 0, n < 65 {
                    toGuest.add(UMLFrame.encodeStream(stream, .signal, Array(String(n).utf8)))
                }
            default:
                hangUp(i)
                return
            }
        }
    }

    mutating func wait(_ i: Int, _ kind: UMLFrame, _ payload: [UInt8]) {
        callers[i].waiting.append((kind, payload))
        callers[i].waitingBytes += payload.count
    }

    /// A caller's request that never reaches the guest: one line back, then closed.
    mutating func refuse(_ i: Int, _ message: String) {
        callers[i].output.add(UMLFrame.encode(.failed, SwiftletError(.exec, message, errno: E2BIG).encoded))
        callers[i].finished = true
        callers[i].waiting = []
        callers[i].waitingBytes = 0
    }

    /// A caller went away (or broke the protocol): its process keeps running, as after a
    /// runc exec whose caller died, but its stdin ends. A request never started is dropped.
    mutating func hangUp(_ i: Int) {
        if callers[i].launched && !callers[i].finished {
            callers[i].waiting.removeAll { $0.0 == .stdin || $0.0 == .stdinEnd }
            callers[i].waiting.append((.stdinEnd, []))
        } else if !callers[i].launched {
            callers[i].waiting = []
        }
        callers[i].waitingBytes = callers[i].waiting.reduce(0) { $0 + $1.1.count }
        callers[i].finished = true
        callers[i].output = OutputQueue()
    }

    /// Sends callers' waiting frames to the guest, in order, as the window allows.
    mutating func pump(window: inout Int, toGuest: inout OutputQueue) {
        for i in callers.indices {
            let stream = callers[i].stream
            while let (kind, payload) = callers[i].waiting.first {
                if payload.isEmpty {
                    toGuest.add(UMLFrame.encodeStream(stream, kind, payload))
                    callers[i].waiting.removeFirst()
                    continue
                }
                if window <= 0 { break }
                let n = min(window, payload.count)
                toGuest.add(UMLFrame.encodeStream(stream, kind, Array(payload[0..<n])))
                window -= n
                callers[i].waitingBytes -= n
                if n == payload.count { callers[i].waiting.removeFirst() } else { callers[i].waiting[0].1 = Array(payload[n...]) }
            }
        }
    }

    /// A stream frame from the guest: to its caller. Acknowledged bytes return to the window
    /// even when the caller is gone. Anything else from the guest is an error.
    mutating func fromGuest(_ payload: [UInt8], window: inout Int) throws(SwiftletError) {
        guard let (stream, kind, inner) = UMLFrame.decodeStream(payload) else {
            throw SwiftletError(.sync, "uml: malformed stream frame from the guest", errno: EPROTO)
        }
        switch kind {
        case .stdinAck:
            let n = parseInt(String(decoding: inner, as: UTF8.self)) ?? 0
            guard n > 0, n <= UMLFrame.maxPayload else { throw SwiftletError(.sync, "uml: malformed acknowledgement from the guest", errno: EPROTO) }
            window = min(window + n, UMLSession.stdinWindowSize)
        case .started, .stdout, .stderr, .failed, .exited:
            guard let i = callers.firstIndex(where: { $0.stream == stream }), !callers[i].finished else { return }
            callers[i].output.add(UMLFrame.encode(kind, inner))
            _ = try? callers[i].output.flush(callers[i].fd)
            if kind == .failed || kind == .exited { callers[i].finished = true }
        default:
            throw SwiftletError(.sync, "uml: unexpected stream frame from the guest", errno: EPROTO)
        }
    }

    /// The supervisor is about to exit: what callers have not read yet goes out (a few
    /// seconds at most), then they see the end.
    mutating func drain() {
        let deadline = cl_monotonic_ns() + 2_000_000_000
        while cl_monotonic_ns() < deadline {
            var fds = callers.filter { !$0.output.isEmpty }.map { pollfd(fd: $0.fd, events: Int16(POLLOUT), revents: 0) }
            if fds.isEmpty { break }
            _ = poll(&fds, nfds_t(fds.count), 100)
            for i in callers.indices where !callers[i].output.isEmpty {
                if (try? callers[i].output.flush(callers[i].fd)) == nil { callers[i].output = OutputQueue() }
            }
        }
        for c in callers { close(c.fd) }
        callers = []
    }
}

// MARK: - The guest's side

/// The guest init's streams: exec'd processes and ps requests.
struct GuestStreams {
    struct Exec {
        let stream: UInt32
        var request: [UInt8] = []
        var pid: Int32 = 0
        var io = GuestProcessIO()
        var status: Int32? = nil
    }

    var execs: [Exec] = []

    /// True while some exec'd process runs.
    var busy: Bool { execs.contains { $0.pid > 0 } }

    func pollFDs() -> [pollfd] {
        var fds: [pollfd] = []
        for e in execs { fds += e.io.pollFDs() }
        return fds
    }

    mutating func handle(_ fds: ArraySlice<pollfd>, tty: Int32) {
        var k = fds.startIndex
        for i in execs.indices {
            guard k + 2 < fds.endIndex else { return }
            if fds[k].revents != 0 { relay(i, stdout: true, tty: tty) }
            if fds[k + 1].revents != 0 { relay(i, stdout: false, tty: tty) }
            if fds[k + 2].revents != 0 { flushStdin(i, tty: tty) }
            k += 3
        }
    }

    /// A frame of a stream from the host.
    mutating func frame(_ payload: [UInt8], runtime: Runtime, id: String, tty: Int32) {
        guard let (stream, kind, inner) = UMLFrame.decodeStream(payload) else { return }
        var i = execs.firstIndex { $0.stream == stream }
        if i == nil && (kind == .exec || kind == .start || kind == .ps) {
            execs.append(Exec(stream: stream))
            i = execs.count - 1
        }
        guard let i else {
            // A stream that has ended: its stdin is acknowledged and dropped.
            if kind == .stdin { send(tty, stream, .stdinAck, String(inner.count)) }
            return
        }
        switch kind {
        case .exec:
            execs[i].request += inner
            send(tty, stream, .stdinAck, String(inner.count))
        case .start:
            do throws(SwiftletError) {
                try launch(i, runtime: runtime, id: id)
                send(tty, stream, .started, String(execs[i].pid))
            } catch {
                send(tty, stream, .failed, error.encoded)
                closeStream(i)
            }
        case .ps:
            let text = String(decoding: inner, as: UTF8.self)
            do throws(SwiftletError) {
                let pids = try runtime.processes(id)
                let out = text.bytesEqual("table") ? guestProcessTable(pids) : JSON.array(pids.map { .int($0) }).serialized() + "\n"
                var bytes = Array(out.utf8)[...]
                while !bytes.isEmpty {
                    let n = min(bytes.count, UMLFrame.maxStreamPayload - 5)
                    send(tty, stream, .stdout, Array(bytes.prefix(n)))
                    bytes = bytes.dropFirst(n)
                }
                send(tty, stream, .exited, "0")
            } catch {
                send(tty, stream, .failed, error.encoded)
            }
            closeStream(i)
        case .stdin:
            if execs[i].io.queueStdin(inner) { flushStdin(i, tty: tty) } else { send(tty, stream, .stdinAck, String(inner.count)) }
        case .stdinEnd:
            // A terminal's end of input is its end-of-file character (a shell reading it exits).
            if execs[i].io.master >= 0, !execs[i].io.stdinEnded,
               let eof = Terminal.endOfFileCharacter(FileDescriptor(execs[i].io.master)) {
                execs[i].io.stdinQueue.add([eof])
            }
            execs[i].io.stdinEnded = true
            flushStdin(i, tty: tty)
        case .signal:
            if execs[i].pid > 0, let n = parseInt(String(decoding: inner, as: UTF8.self)) { kill(execs[i].pid, Int32(n)) }
        case .resize:
            execs[i].io.resize(String(decoding: inner, as: UTF8.self))
        default:
            break
        }
    }

    /// Runs the request with the ordinary `exec` (detached: this init is its parent and reaps it).
    mutating func launch(_ i: Int, runtime: Runtime, id: String) throws(SwiftletError) {
        let text = String(decoding: execs[i].request, as: UTF8.self)
        execs[i].request = []
        let n = Node(try JSON.parse(text, source: "exec request"), path: "exec request")
        var process: ProcessSpec
        if let p = n["process"] {
            process = try ProcessSpec.load(text: try p.string(), source: "process.json")
            if let tunables = guestGlibcTunables(),
               !process.env.contains(where: { $0.hasBytePrefix("GLIBC_TUNABLES=") }) {
                process.env.append(tunables)
            }
        } else {
            var o = ExecProcessOptions()
            o.env = try n["env"]?.strings() ?? []
            o.cwd = try n["cwd"]?.string()
            o.uid = try n["uid"]?.uint32()
            o.gid = try n["gid"]?.uint32()
            o.additionalGids = try (n["additionalGids"]?.array() ?? []).map { (g) throws(SwiftletError) in try g.uint32() }
            o.capabilities = try n["capabilities"]?.strings() ?? []
            o.noNewPrivileges = try n["noNewPrivileges"]?.bool()
            o.tty = try n["tty"]?.bool() ?? false
            process = try runtime.execProcess(id: id, from: nil, args: try n.required("args").strings(), options: o)
        }
        if let rows = try n["rows"]?.uint32(), let columns = try n["columns"]?.uint32() {
            process.consoleSize = ConsoleSize(height: rows, width: columns)
        }
        // A terminal's master comes back over a console socket of our own.
        var console: UnixSocket? = nil
        let consolePath = "/run/swiftlet-console-" + String(execs[i].stream) + ".sock"
        defer {
            console?.close()
            if console != nil { unlink(consolePath) }
        }
        if process.terminal { console = try UnixSocket.listen(path: consolePath, backlog: 1, stage: .terminal) }
        // The process inherits 0, 1 and 2 (this init's are /dev/null otherwise).
        var io = try GuestProcessIO.onStandardDescriptors(stage: .exec)
        var kept = false
        defer { if !kept { io.closeAll() } }
        let pidFile = "/run/swiftlet-exec-" + String(execs[i].stream) + ".pid"
        var r = ExecRequest(id: id, process: process)
        r.detach = true
        r.pidFile = pidFile
        if console != nil { r.consoleSocket = consolePath }
        let result: SwiftletError?
        do throws(SwiftletError) { _ = try runtime.exec(r); result = nil } catch { result = error }
        GuestProcessIO.detachStandardDescriptors()
        if let result { throw result }
        let pid = Int32(parseInt((try? readTextFile(pidFile)) ?? "") ?? 0)
        unlink(pidFile)
        guard pid > 0 else { throw SwiftletError(.exec, "the exec'd process's pid is unknown", errno: ESRCH) }
        execs[i].pid = pid
        if let console {
            // Sent before the process ran: waiting in the socket's queue.
            let connection = try console.accept(stage: .terminal)
            defer { connection.close() }
            try io.adoptTerminal(try Terminal.receiveMaster(from: connection).master)
        }
        execs[i].io = io
        kept = true
    }

    /// A reaped child: true if it was an exec'd process (its stream then ends).
    mutating func reaped(_ pid: Int32, status: Int32, tty: Int32) -> Bool {
        guard let i = execs.firstIndex(where: { $0.pid == pid }) else { return false }
        // What it wrote before it exited is in its pipes. A pty hands data to the master
        // asynchronously: read it until it is gone or quiet for a moment.
        while relay(i, stdout: true, tty: tty) {}
        while relay(i, stdout: false, tty: tty) {}
        while execs[i].io.master >= 0 && execs[i].io.stdout >= 0 {
            var p = pollfd(fd: execs[i].io.stdout, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) <= 0 || !relay(i, stdout: true, tty: tty) { break }
        }
        send(tty, execs[i].stream, .exited, String(status))
        closeStream(i)
        return true
    }

    /// Passes what the pipe holds on; false when it is empty or at its end.
    @discardableResult
    mutating func relay(_ i: Int, stdout: Bool, tty: Int32) -> Bool {
        guard let bytes = execs[i].io.read(stdout: stdout, limit: UMLFrame.maxStreamPayload - 5) else { return false }
        send(tty, execs[i].stream, stdout ? .stdout : .stderr, bytes)
        return true
    }

    mutating func flushStdin(_ i: Int, tty: Int32) {
        // What the process no longer reads is acknowledged and dropped.
        let (written, dropped) = execs[i].io.flushStdin()
        if dropped > 0 { send(tty, execs[i].stream, .stdinAck, String(dropped)) }
        if written > 0 { send(tty, execs[i].stream, .stdinAck, String(written)) }
    }

    mutating func closeStream(_ i: Int) {
        execs[i].io.closeAll()
        execs.remove(at: i)
    }

    func send(_ tty: Int32, _ stream: UInt32, _ kind: UMLFrame, _ text: String) { send(tty, stream, kind, Array(text.utf8)) }

    func send(_ tty: Int32, _ stream: UInt32, _ kind: UMLFrame, _ bytes: [UInt8]) {
        writeAllBytes(tty, UMLFrame.encodeStream(stream, kind, bytes))
    }
}

/// `ps`'s table for the guest's processes, in ps -ef's columns, from the guest's /proc
/// (pids are the guest kernel's, as its init sees them).
func guestProcessTable(_ pids: [Int32]) -> String {
    var rows: [[String]] = [["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]]
    let ticks: Int64 = 100   // USER_HZ: /proc's unit of CPU time
    for pid in pids {
        let base = "/proc/" + String(pid) + "/"
        guard let stat = try? readTextFile(base + "stat"), let close = stat.utf8.lastIndex(of: UInt8(ascii: ")")) else { continue }
        // Fields after the command's closing parenthesis: state ppid ... utime(11) stime(12).
        let rest = String(stat[stat.utf8.index(after: close)...]).split(byte: 32).filter { !$0.isEmpty }
        guard rest.count > 12 else { continue }
        let seconds = ((parseInt64(rest[11]) ?? 0) + (parseInt64(rest[12]) ?? 0)) / max(ticks, 1)
        var uid = "?"
        if let status = try? readTextFile(base + "status") {
            for line in status.split(byte: 10) where line.hasBytePrefix("Uid:") {
                uid = line.split(byte: 9).dropFirst().first.map { $0.trimmed() } ?? "?"
            }
        }
        var cmd = (try? readTextFile(base + "cmdline")).map { join($0.split(byte: 0).filter { !$0.isEmpty }, " ") } ?? ""
        if cmd.isEmpty, let open = stat.utf8.firstIndex(of: UInt8(ascii: "(")) {
            cmd = "[" + String(stat[stat.utf8.index(after: open)..<close]) + "]"
        }
        let time = pad2(seconds / 3600) + ":" + pad2(seconds / 60 % 60) + ":" + pad2(seconds % 60)
        rows.append([uid, String(pid), rest[1], "0", "-", "?", time, printable(cmd)])
    }
    var widths = [Int](repeating: 0, count: 8)
    for row in rows { for (k, cell) in row.enumerated() { widths[k] = max(widths[k], cell.utf8.count) } }
    var out = ""
    for row in rows {
        var line = ""
        for (k, cell) in row.enumerated() {
            if k == row.count - 1 { line += cell; break }
            line += cell + String(repeating: " ", count: widths[k] - cell.utf8.count + 1)
        }
        out += line + "\n"
    }
    return out
}

private func pad2(_ n: Int64) -> String { n < 10 ? "0" + String(n) : String(n) }
