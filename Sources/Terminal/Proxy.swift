import Base
import CLinux
import Syscalls

/// A terminal switched to raw mode, and how to put it back.
public struct RawMode: Sendable {
    public let fd: FileDescriptor
    let saved: termios

    public func restore() {
        var t = saved
        _ = tcsetattr(fd.raw, TCSANOW, &t)
    }
}

extension Terminal {
    /// Puts the terminal on `fd` into raw mode (keys pass through unprocessed: ^C reaches
    /// the container's pty instead of killing the runtime). nil if `fd` is not a terminal.
    public static func makeRaw(_ fd: FileDescriptor) -> RawMode? {
        guard isatty(fd.raw) == 1 else { return nil }
        var t = termios()
        guard tcgetattr(fd.raw, &t) == 0 else { return nil }
        let saved = t
        cfmakeraw(&t)
        guard tcsetattr(fd.raw, TCSANOW, &t) == 0 else { return nil }
        return RawMode(fd: fd, saved: saved)
    }

    /// Relays a container's console for a foreground `run`/`exec` with a terminal and no
    /// console socket: the runtime's stdin goes to `master`, the master's output to the
    /// runtime's stdout, until the process behind `pidfd` exits. Single-threaded (poll).
    /// Signals read from `signalFD` (a signalfd) are handled here: SIGWINCH resizes the
    /// pty to the runtime's terminal, any other goes to `forward`. The runtime's terminal
    /// is in raw mode meanwhile and restored at the end. At the end of a non-terminal stdin
    /// the pty gets an end-of-file character, so a shell reading it exits.
    /// Returns when the process has exited; the caller reaps it.
    public static func proxy(master: FileDescriptor, pidfd: FileDescriptor, signalFD: FileDescriptor?,
                             forward: (Int32) -> Void) {
        let input = FileDescriptor.standardInput
        let output = FileDescriptor.standardOutput
        let raw = makeRaw(input)
        defer { raw?.restore() }
        copyWindowSize(to: master)
        // Non-blocking, so a process that stops reading its input cannot wedge the relay.
        let flags = cl_fcntl_int(master.raw, F_GETFL, 0)
        if flags >= 0 { _ = cl_fcntl_int(master.raw, F_SETFL, flags | O_NONBLOCK) }

        var pending: [UInt8] = []           // stdin bytes the pty has not taken yet
        var inputOpen = true
        var masterOpen = true
        var buffer = [UInt8](repeating: 0, count: 16384)

        while true {
            var fds: [pollfd] = [pollfd(fd: pidfd.raw, events: Int16(POLLIN), revents: 0)]
            var masterIndex = -1, inputIndex = -1, signalIndex = -1
            if masterOpen {
                masterIndex = fds.count
                let events = Int16(POLLIN) | (pending.isEmpty ? 0 : Int16(POLLOUT))
                fds.append(pollfd(fd: master.raw, events: events, revents: 0))
            }
            if inputOpen && pending.isEmpty && masterOpen {
                inputIndex = fds.count
                fds.append(pollfd(fd: input.raw, events: Int16(POLLIN), revents: 0))
            }
            if let signalFD {
                signalIndex = fds.count
                fds.append(pollfd(fd: signalFD.raw, events: Int16(POLLIN), revents: 0))
            }
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if cl_errno() == EINTR { continue }
                return
            }
            if signalIndex >= 0 && fds[signalIndex].revents != 0, let signalFD {
                while let sig = nextSignal(signalFD) {
                    if sig == SIGWINCH { copyWindowSize(to: master) } else { forward(sig) }
                }
            }
            if masterIndex >= 0 {
                let revents = fds[masterIndex].revents
                if revents & Int16(POLLOUT) != 0 && !pending.isEmpty {
                    let n = pending.withUnsafeBytes { write(master.raw, $0.baseAddress, $0.count) }
                    if n > 0 {
                        pending.removeFirst(n)
                    } else if n < 0 && cl_errno() != EAGAIN && cl_errno() != EINTR {
                        pending.removeAll()
                    }
                }
                if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    masterOpen = relayOutput(master, to: output, buffer: &buffer)
                }
            }
            if inputIndex >= 0 && fds[inputIndex].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(input.raw, $0.baseAddress, $0.count) }
                if n > 0 {
                    pending.append(contentsOf: buffer[0..<n])
                } else if n == 0 || (cl_errno() != EINTR && cl_errno() != EAGAIN) {
                    inputOpen = false
                    if let eof = endOfFileCharacter(master) { pending.append(eof) }
                }
            }
            if fds[0].revents != 0 {
                if masterOpen { drain(master, to: output, buffer: &buffer) }
                return
            }
        }
    }

    /// Copies one chunk of what the master has to `output`; false once the pty is gone
    /// (every peer closed: read gives EIO).
    static func relayOutput(_ master: FileDescriptor, to output: FileDescriptor, buffer: inout [UInt8]) -> Bool {
        while true {
            let n = buffer.withUnsafeMutableBytes { read(master.raw, $0.baseAddress, $0.count) }
            if n > 0 {
                // Output that cannot be written (stdout closed) is dropped, not fatal.
                _ = try? output.writeAll(Array(buffer[0..<n]))
                return true
            }
            if n < 0 && cl_errno() == EINTR { continue }
            if n < 0 && cl_errno() == EAGAIN { return true }
            return false
        }
    }

    /// After the process has exited: passes on what it wrote last. The tty layer hands
    /// data to the master asynchronously, so this reads until the pty is gone or quiet for
    /// a moment, not until the first empty read; a background child that still holds the
    /// pty open does not keep us here.
    static func drain(_ master: FileDescriptor, to output: FileDescriptor, buffer: inout [UInt8]) {
        while true {
            var p = pollfd(fd: master.raw, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, 100)
            if ready < 0 && cl_errno() == EINTR { continue }
            if ready <= 0 { return }
            if !relayOutput(master, to: output, buffer: &buffer) { return }
        }
    }

    /// The terminal of the runtime's stdin (or stdout) decides the pty's size.
    static func copyWindowSize(to master: FileDescriptor) {
        guard let size = windowSize(FileDescriptor.standardInput) ?? windowSize(FileDescriptor.standardOutput),
              size.rows != 0 || size.columns != 0 else { return }
        _ = try? setWindowSize(master, size)
    }

    /// The pty's VEOF character while it is in canonical mode (a line-reading program
    /// sees end of file); nil in raw mode, where no byte means end of file.
    public static func endOfFileCharacter(_ master: FileDescriptor) -> UInt8? {
        var t = termios()
        guard tcgetattr(master.raw, &t) == 0, t.c_lflag & tcflag_t(ICANON) != 0 else { return nil }
        return withUnsafeBytes(of: t.c_cc) { $0[Int(VEOF)] }
    }

    /// The next signal queued on a signalfd, without blocking.
    static func nextSignal(_ fd: FileDescriptor) -> Int32? {
        var p = pollfd(fd: fd.raw, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) == 1 else { return nil }
        var info = signalfd_siginfo()
        let n = read(fd.raw, &info, MemoryLayout<signalfd_siginfo>.size)
        return n == MemoryLayout<signalfd_siginfo>.size ? Int32(info.ssi_signo) : nil
    }
}
