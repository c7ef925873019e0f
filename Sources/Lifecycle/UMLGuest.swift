import Base
import CLinux
import Mounts
import OCISpec
import Syscalls
import Terminal

/// `swiftlet guest-init`: the init of a UML guest (init=/swiftlet on the guest kernel's
/// command line). It mounts what a runtime needs, creates the container from
/// /bundle/config.json with the ordinary `create`, and then serves the supervisor on the
/// host over /dev/tty1: start, stdin, signals; stdout, stderr and the exit status go back.
public func umlGuestInit() -> Never {
    guard getpid() == 1 else {
        writeStderr("swiftlet: guest-init runs only as the init of a UML guest\n")
        _exit(2)
    }
    do throws(SwiftletError) {
        try guestInit()
    } catch {
        // Without a control channel there is no one to tell but the console.
        writeStderr("swiftlet: uml guest: " + error.description + "\n")
        powerOff()
    }
}

private func powerOff() -> Never {
    sync()
    _ = reboot(Int32(RB_POWER_OFF))
    _exit(1)
}

private func mountGuestFilesystem(_ type: String, _ target: String, magic: Int64, data: String? = nil, devices: Bool = false) {
    UMLJail.mountInGuest(type, target, magic: magic, data: data, devices: devices)
}

private func guestInit() throws(SwiftletError) -> Never {
    mountGuestFilesystem("proc", "/proc", magic: FilesystemMagic.proc)
    // The image is the host's read-only bind; on any other it re-executes from a read-only
    // image as usual (that needs /proc).
    if !RuntimeImage.acceptUMLGuestImage() { try RuntimeImage.ensureProtected() }
    mountGuestFilesystem("sysfs", "/sys", magic: FilesystemMagic.sysfs)
    // Read just the page a fault needs: every page cached in the guest stays in the host's
    // RAM (0.45 MB less at idle than with 16 KiB of read-ahead).
    UMLJail.limitHostfsReadahead(kilobytes: 4)
    // Kernels without CONFIG_DEVTMPFS_MOUNT (the tier's): the guest's devices, nodev off.
    mountGuestFilesystem("devtmpfs", "/dev", magic: 0x1021994, data: "mode=0755", devices: true)
    mountGuestFilesystem("tmpfs", "/run", magic: FilesystemMagic.tmpfs, data: "mode=0755")
    mountGuestFilesystem("tmpfs", "/tmp", magic: FilesystemMagic.tmpfs, data: "mode=1777")
    // The container's cgroup inside the guest (the host's cgroup limits the whole guest).
    UMLJail.mountGuestCgroups()

    let tty = try FileDescriptor.open("/dev/tty1", O_RDWR | O_NOCTTY, stage: .lifecycle)
    var mode = termios()
    if tcgetattr(tty.raw, &mode) != 0 { throw .system(.lifecycle, "tcgetattr /dev/tty1") }
    cfmakeraw(&mode)
    if tcsetattr(tty.raw, TCSANOW, &mode) != 0 { throw .system(.lifecycle, "raw mode on /dev/tty1") }
    setNonBlocking(tty.raw)
    var session = GuestSession(tty: tty.raw)
    do throws(SwiftletError) {
        try session.createContainer()
    } catch {
        session.send(.failed, error.encoded)
        session.waitForQuit()
        powerOff()
    }
    session.serve()
    powerOff()
}

/// The guest's half of the relay (see UMLSession for the host's).
private struct GuestSession {
    let tty: Int32
    var frames = UMLFrameReader()
    var id = ""
    var runtime = Runtime(root: "/run/swiftlet", logger: Logger(path: nil, format: .text, debug: false), systemdCgroup: false)
    var initPid: Int32 = 0
    var io = GuestProcessIO()
    var signalFD: Int32 = -1
    var streams = GuestStreams()

    init(tty: Int32) { self.tty = tty }

    func send(_ kind: UMLFrame, _ text: String) { writeAllBytes(tty, UMLFrame.encode(kind, text)) }

    mutating func createContainer() throws(SwiftletError) {
        id = try readTextFile("/id", stage: .config)
        // The container's init inherits 0, 1 and 2: the pipes' far ends.
        io = try GuestProcessIO.onStandardDescriptors(stage: .lifecycle)

        // Created as for a foreground run: with process.terminal, the pty's master comes back.
        var request = CreateRequest(id: id, bundle: "/bundle")
        request.foreground = true
        let created = try runtime.create(request)
        if let pty = created.consoleMaster { try io.adoptTerminal(pty) }
        created.signals.restore()
        created.pidfd.close()
        initPid = created.record.pid
        // Our own stdio goes nowhere now: the pipes' far ends belong to the container.
        GuestProcessIO.detachStandardDescriptors()
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGCHLD)
        sigprocmask(SIG_BLOCK, &set, nil)
        signalFD = signalfd(-1, &set, Int32(SFD_CLOEXEC) | Int32(SFD_NONBLOCK))
        if signalFD < 0 { throw .system(.lifecycle, "signalfd") }
        send(.ready, "")
    }

    mutating func serve() {
        var status: Int32? = nil
        while status == nil || io.stdout >= 0 || io.stderr >= 0 || streams.busy {
            var fds = [pollfd(fd: tty, events: Int16(POLLIN), revents: 0), pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)]
            fds += io.pollFDs()
            fds += streams.pollFDs()
            // Once the process is gone, what is left in the pipes is read without waiting long.
            if poll(&fds, nfds_t(fds.count), status == nil ? -1 : 500) == 0 && status != nil { break }
            if fds[2].revents != 0 { relay(stdout: true) }
            if fds[3].revents != 0 { relay(stdout: false) }
            if fds[4].revents != 0 { flushStdin() }
            // Before the frames, which may start or end streams (the fds follow the streams).
            streams.handle(fds[5...], tty: tty)
            if fds[0].revents != 0 { readFrames() }
            if fds[1].revents != 0 {
                var info = signalfd_siginfo()
                while read(signalFD, &info, MemoryLayout<signalfd_siginfo>.size) > 0 {}
                var raw: Int32 = 0
                while true {
                    let pid = waitpid(-1, &raw, WNOHANG)
                    if pid <= 0 { break }
                    if pid == initPid { status = exitStatus(raw) } else { _ = streams.reaped(pid, status: exitStatus(raw), tty: tty) }
                }
            }
        }
        send(.exited, String(status ?? UMLHost.guestLostStatus))
        waitForQuit()
    }

    func exitStatus(_ raw: Int32) -> Int32 {
        if cl_wifexited(raw) != 0 { return cl_wexitstatus(raw) }
        if cl_wifsignaled(raw) != 0 { return 128 + cl_wtermsig(raw) }
        return UMLHost.guestLostStatus
    }

    /// Passes what the process wrote on.
    mutating func relay(stdout: Bool) {
        if let bytes = io.read(stdout: stdout, limit: UMLFrame.maxPayload) {
            writeAllBytes(tty, UMLFrame.encode(stdout ? .stdout : .stderr, bytes))
        }
    }

    mutating func flushStdin() {
        // What the process no longer reads is dropped, as a pipe would, and not acknowledged.
        let written = io.flushStdin().written
        if written > 0 { send(.stdinAck, String(written)) }
    }

    mutating func readFrames() {
        while let bytes = readAvailable(tty, limit: 65536), !bytes.isEmpty {
            frames.append(bytes[...])
        }
        while let (kind, payload) = (try? frames.next()) ?? nil {
            let text = String(decoding: payload, as: UTF8.self)
            switch kind {
            case .start:
                do throws(SwiftletError) {
                    try runtime.start(try umlGuestStartRequest(id: id, payload: payload))
                    send(.started, "")
                } catch {
                    send(.failed, error.encoded)
                }
            case .stdin:
                if io.queueStdin(payload) { flushStdin() } else { send(.stdinAck, String(payload.count)) }
            case .stdinEnd:
                io.stdinEnded = true
                flushStdin()
            case .signal:
                if let n = parseInt(text) { try? runtime.kill(id, signal: Int32(n), all: false) }
            case .stream:
                streams.frame(payload, runtime: runtime, id: id, tty: tty)
            case .resize:
                io.resize(text)
            case .quit:
                powerOff()
            default:
                break
            }
        }
    }

    /// Waits (a few seconds at most) for the host to say it has everything.
    mutating func waitForQuit() {
        let deadline = cl_monotonic_ns() + 5_000_000_000
        while cl_monotonic_ns() < deadline {
            var p = pollfd(fd: tty, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 200) > 0 {
                while let bytes = readAvailable(tty, limit: 65536), !bytes.isEmpty { frames.append(bytes[...]) }
                while let (kind, _) = (try? frames.next()) ?? nil {
                    if kind == .quit { return }
                }
            }
        }
    }
}

/// In the guest: the relayed stdio of one process, the container's or an exec'd one. Pipes
/// whose far ends the process inherits as 0, 1 and 2; with a terminal, the pty's master is
/// its stdout and a dup of it its stdin (no stderr).
struct GuestProcessIO {
    var stdin: Int32 = -1
    var stdout: Int32 = -1
    var stderr: Int32 = -1
    /// The pty's master, if the process has a terminal.
    var master: Int32 = -1
    var stdinQueue = OutputQueue()
    var stdinEnded = false

    /// Three pipes whose far ends are now this process's 0, 1 and 2, for a child to inherit;
    /// the near ends non-blocking.
    static func onStandardDescriptors(stage: Stage) throws(SwiftletError) -> GuestProcessIO {
        var pipes: [[Int32]] = []
        defer { for p in pipes { for fd in p { close(fd) } } }
        for _ in 0..<3 {
            var p: [Int32] = [-1, -1]
            if pipe2(&p, O_CLOEXEC) != 0 { throw .system(stage, "pipe for a process's stdio") }
            pipes.append(p)
        }
        if dup2(pipes[0][0], 0) < 0 || dup2(pipes[1][1], 1) < 0 || dup2(pipes[2][1], 2) < 0 {
            throw .system(stage, "dup2 a process's stdio")
        }
        var io = GuestProcessIO()
        io.stdin = pipes[0][1]
        io.stdout = pipes[1][0]
        io.stderr = pipes[2][0]
        pipes = [[pipes[0][0], pipes[1][1], pipes[2][1]]]
        for fd in [io.stdin, io.stdout, io.stderr] { setNonBlocking(fd) }
        return io
    }

    /// This init's 0, 1 and 2 back to /dev/null once the child has them.
    static func detachStandardDescriptors() {
        let null = cl_open("/dev/null", O_RDWR, 0)
        if null >= 0 {
            dup2(null, 0); dup2(null, 1); dup2(null, 2)
            if null > 2 { close(null) }
        }
    }

    /// The process got a terminal: its pty's master replaces the pipes.
    mutating func adoptTerminal(_ pty: FileDescriptor) throws(SwiftletError) {
        let input = cl_fcntl_int(pty.raw, F_DUPFD_CLOEXEC, 3)
        if input < 0 { pty.close(); throw .system(.terminal, "dup the pty master") }
        closeAll()
        master = pty.raw
        stdout = pty.raw
        stdin = input
        setNonBlocking(pty.raw)
        setNonBlocking(input)
    }

    func pollFDs() -> [pollfd] {
        [pollfd(fd: stdout, events: Int16(POLLIN), revents: 0),
         pollfd(fd: stderr, events: Int16(POLLIN), revents: 0),
         pollfd(fd: stdinQueue.isEmpty ? -1 : stdin, events: Int16(POLLOUT), revents: 0)]
    }

    /// What the process wrote, if anything now; at its end the fd is closed.
    mutating func read(stdout fromStdout: Bool, limit: Int) -> [UInt8]? {
        let fd = fromStdout ? stdout : stderr
        guard fd >= 0, let bytes = readAvailable(fd, limit: limit) else { return nil }
        if !bytes.isEmpty { return bytes }
        close(fd)
        if master == fd { master = -1 }
        if fromStdout { stdout = -1 } else { stderr = -1 }
        return nil
    }

    /// Queues input for the process; false when it takes no more (the caller acknowledges it).
    mutating func queueStdin(_ bytes: [UInt8]) -> Bool {
        guard stdin >= 0 && !stdinEnded else { return false }
        stdinQueue.add(bytes)
        return true
    }

    /// Writes what is queued: the bytes written, and those dropped because the process
    /// closed its stdin. Closes stdin once it has ended and all is written.
    mutating func flushStdin() -> (written: Int, dropped: Int) {
        guard stdin >= 0 else { return (0, 0) }
        var dropped = 0
        let n = (try? stdinQueue.flush(stdin)) ?? -1
        if n < 0 {
            dropped = stdinQueue.count
            stdinQueue = OutputQueue()
            stdinEnded = true
        }
        if stdinEnded && stdinQueue.isEmpty {
            close(stdin)
            stdin = -1
        }
        return (max(n, 0), dropped)
    }

    /// A resize frame's "ROWS COLUMNS" applied to the terminal, if there is one.
    func resize(_ text: String) {
        let parts = text.split(byte: 32).compactMap { parseInt($0) }
        if master >= 0, parts.count == 2, parts[0] >= 0, parts[0] <= 0xffff, parts[1] >= 0, parts[1] <= 0xffff {
            _ = cl_set_window_size(master, UInt16(parts[0]), UInt16(parts[1]))
        }
    }

    mutating func closeAll() {
        for fd in [stdin, stdout, stderr] where fd >= 0 { close(fd) }
        stdin = -1; stdout = -1; stderr = -1; master = -1
    }
}
