import Base
import CLinux
import Mounts
import OCISpec
import Syscalls

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
    UMLJail.limitHostfsReadahead(kilobytes: 16)
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
    var stdinPipe: Int32 = -1
    var stdoutPipe: Int32 = -1
    var stderrPipe: Int32 = -1
    var stdinQueue = OutputQueue()
    var stdinEnded = false
    var signalFD: Int32 = -1
    var streams = GuestStreams()
    /// process.terminal: the master of the container's pty (its stdout; dup'd, its stdin).
    var master: Int32 = -1

    init(tty: Int32) { self.tty = tty }

    func send(_ kind: UMLFrame, _ text: String) { writeAllBytes(tty, UMLFrame.encode(kind, text)) }

    mutating func createContainer() throws(SwiftletError) {
        id = try readTextFile("/id", stage: .config)
        var pipes: [[Int32]] = []
        for _ in 0..<3 {
            var p: [Int32] = [-1, -1]
            if pipe2(&p, O_CLOEXEC) != 0 { throw .system(.lifecycle, "pipe for the container's stdio") }
            pipes.append(p)
        }
        // The container's init inherits 0, 1 and 2: the pipes' far ends.
        if dup2(pipes[0][0], 0) < 0 || dup2(pipes[1][1], 1) < 0 || dup2(pipes[2][1], 2) < 0 {
            throw .system(.lifecycle, "dup2 the container's stdio")
        }
        close(pipes[0][0])
        close(pipes[1][1])
        close(pipes[2][1])
        stdinPipe = pipes[0][1]
        stdoutPipe = pipes[1][0]
        stderrPipe = pipes[2][0]
        for fd in [stdinPipe, stdoutPipe, stderrPipe] { setNonBlocking(fd) }

        // Created as for a foreground run: with process.terminal, the pty's master comes back.
        var request = CreateRequest(id: id, bundle: "/bundle")
        request.foreground = true
        let created = try runtime.create(request)
        if let pty = created.consoleMaster {
            let input = cl_fcntl_int(pty.raw, F_DUPFD_CLOEXEC, 3)
            if input < 0 { throw .system(.lifecycle, "dup the pty master") }
            for fd in [stdinPipe, stdoutPipe, stderrPipe] { close(fd) }
            master = pty.raw
            stdoutPipe = pty.raw
            stdinPipe = input
            stderrPipe = -1
            setNonBlocking(pty.raw)
            setNonBlocking(input)
        }
        created.signals.restore()
        created.pidfd.close()
        initPid = created.record.pid
        // Our own stdio goes nowhere now: the pipes' far ends belong to the container.
        let null = cl_open("/dev/null", O_RDWR, 0)
        if null >= 0 {
            dup2(null, 0); dup2(null, 1); dup2(null, 2)
            if null > 2 { close(null) }
        }
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
        var outOpen = true, errOpen = stderrPipe >= 0
        while status == nil || outOpen || errOpen || streams.busy {
            var fds = [pollfd(fd: tty, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: outOpen ? stdoutPipe : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: errOpen ? stderrPipe : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: stdinQueue.isEmpty ? -1 : stdinPipe, events: Int16(POLLOUT), revents: 0),
                       pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)]
            fds += streams.pollFDs()
            // Once the process is gone, what is left in the pipes is read without waiting long.
            if poll(&fds, nfds_t(fds.count), status == nil ? -1 : 500) == 0 && status != nil { break }
            if fds[1].revents != 0 { outOpen = relay(stdoutPipe, as: .stdout) }
            if fds[2].revents != 0 { errOpen = relay(stderrPipe, as: .stderr) }
            if fds[3].revents != 0 { flushStdin() }
            // Before the frames, which may start or end streams (the fds follow the streams).
            streams.handle(fds[5...], tty: tty)
            if fds[0].revents != 0 { readFrames() }
            if fds[4].revents != 0 {
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

    /// Passes what the pipe has on; false at end of file.
    func relay(_ fd: Int32, as kind: UMLFrame) -> Bool {
        guard let bytes = readAvailable(fd) else { return true }
        if bytes.isEmpty { return false }
        writeAllBytes(tty, UMLFrame.encode(kind, bytes))
        return true
    }

    mutating func flushStdin() {
        let n = (try? stdinQueue.flush(stdinPipe)) ?? -1
        if n < 0 {
            // The process closed its stdin: what is left is dropped, as a pipe would.
            stdinQueue = OutputQueue()
            stdinEnded = true
        }
        if n > 0 { send(.stdinAck, String(n)) }
        if stdinEnded && stdinQueue.isEmpty && stdinPipe >= 0 {
            close(stdinPipe)
            stdinPipe = -1
        }
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
                if stdinPipe >= 0 && !stdinEnded {
                    stdinQueue.add(payload)
                    flushStdin()
                } else {
                    send(.stdinAck, String(payload.count))
                }
            case .stdinEnd:
                stdinEnded = true
                flushStdin()
            case .signal:
                if let n = parseInt(text) { try? runtime.kill(id, signal: Int32(n), all: false) }
            case .stream:
                streams.frame(payload, runtime: runtime, id: id, tty: tty)
            case .resize:
                let parts = text.split(byte: 32).compactMap { parseInt($0) }
                if master >= 0, parts.count == 2, parts[0] >= 0, parts[0] <= 0xffff, parts[1] >= 0, parts[1] <= 0xffff {
                    _ = cl_set_window_size(master, UInt16(parts[0]), UInt16(parts[1]))
                }
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
