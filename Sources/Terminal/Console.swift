import Base
import CLinux
import Syscalls

/// A terminal window size in character cells (process.consoleSize).
public struct WindowSize: Equatable, Sendable {
    public var rows: UInt16
    public var columns: UInt16

    public init(rows: UInt16, columns: UInt16) {
        self.rows = rows
        self.columns = columns
    }

    /// process.consoleSize clamped to what a winsize holds; nil when either side is 0
    /// (runc then leaves the size alone).
    public init?(height: UInt32, width: UInt32) {
        guard height != 0, width != 0 else { return nil }
        self.init(rows: UInt16(clamping: height), columns: UInt16(clamping: width))
    }
}

/// A freshly allocated pseudo-terminal: the master (runtime or client side) and its peer
/// (the container process's stdio).
public struct PseudoTerminal: Sendable {
    public let master: FileDescriptor
    public let peer: FileDescriptor
    /// The peer's path in the devpts the pty came from, e.g. "/dev/pts/0".
    public let peerName: String

    public func close() {
        master.close()
        peer.close()
    }
}

public enum Terminal {
    /// Connects to the client's console socket (`--console-socket`). Call it while the host
    /// path is still reachable, i.e. before entering the container's mount namespace.
    public static func connectConsoleSocket(path: String) throws(SwiftletError) -> UnixSocket {
        do throws(SwiftletError) {
            return try UnixSocket.connect(path: path, stage: .terminal)
        } catch {
            throw error.context("console socket")
        }
    }

    /// Allocates a pty from the devpts mounted at /dev/pts of the current root. Called after
    /// entering the container's root, so the pty belongs to the container's devpts instance
    /// (runc#814). The container controls that directory, so the ptmx node and the peer are
    /// checked to be the real devpts devices before they are used.
    public static func openPseudoTerminal() throws(SwiftletError) -> PseudoTerminal {
        let master = try openMaster()
        do throws(SwiftletError) {
            if cl_pty_unlock(master.raw) != 0 { throw .system(.terminal, "unlock pty") }
            var number: UInt32 = 0
            if cl_pty_number(master.raw, &number) != 0 { throw .system(.terminal, "get pty number") }
            let name = "/dev/pts/" + String(number)
            let peer = try aboveStdio(try openPeer(master: master, number: number, name: name))
            return PseudoTerminal(master: master, peer: peer, peerName: name)
        } catch {
            master.close()
            throw error
        }
    }

    /// Sets up the calling process's console (process.terminal): allocates a pty in the
    /// current root, sets its size, makes the peer stdin/stdout/stderr and the controlling
    /// terminal of a new session. With `socket`, the master goes to whoever listens there
    /// (SCM_RIGHTS, with the pty's name as the payload, as runc sends it), is closed here,
    /// and nil is returned; without one, the master is returned to the caller.
    /// With `mountOnDevConsole` (a container's init, as runc does; not an exec) the peer
    /// is also bind-mounted over /dev/console, for programs that write there.
    /// Stdio is only replaced once the master has been handed over, so a failure is still
    /// reported on the old stdio.
    public static func setupConsole(socket: UnixSocket?, size: WindowSize?,
                                    mountOnDevConsole: Bool = false) throws(SwiftletError) -> FileDescriptor? {
        let pty = try openPseudoTerminal()
        var masterHandedOver = false
        defer {
            pty.peer.close()
            if masterHandedOver { pty.master.close() }
        }
        do throws(SwiftletError) {
            if let size { try setWindowSize(pty.master, size) }
            if mountOnDevConsole { try bindOverDevConsole(pty.peer) }
            if let socket {
                try socket.send(pty.peerName, passing: pty.master.raw, stage: .terminal)
                masterHandedOver = true
            }
            // A new session (unless we lead one already) so the pty can become its
            // controlling terminal.
            if getsid(0) != getpid() && setsid() < 0 { throw .system(.terminal, "setsid") }
            for fd in Int32(0)...2 where dup2(pty.peer.raw, fd) < 0 {
                throw .system(.terminal, "dup2 pty to fd " + String(fd))
            }
            if cl_set_controlling_terminal(0) != 0 { throw .system(.terminal, "set controlling terminal") }
        } catch {
            if !masterHandedOver { pty.master.close() }
            throw error
        }
        return socket == nil ? pty.master : nil
    }

    /// Receives a pty master sent with `setupConsole(socket:)` over a socketpair (the
    /// runtime's own end), returning it with the pty name that came with it.
    public static func receiveMaster(from socket: UnixSocket) throws(SwiftletError) -> (master: FileDescriptor, name: String) {
        let (bytes, fd) = try socket.receive(upTo: 4096, stage: .terminal)
        guard let fd else {
            throw SwiftletError(.terminal, bytes.isEmpty ? "console closed before the pty master arrived"
                                                         : "console message without a file descriptor", errno: EBADMSG)
        }
        let master = FileDescriptor(fd)
        if isatty(fd) != 1 {
            master.close()
            throw SwiftletError(.terminal, "received console is not a terminal", errno: ENOTTY)
        }
        return (master, String(decoding: bytes, as: UTF8.self))
    }

    public static func setWindowSize(_ fd: FileDescriptor, _ size: WindowSize) throws(SwiftletError) {
        if cl_set_window_size(fd.raw, size.rows, size.columns) != 0 { throw .system(.terminal, "set window size") }
    }

    public static func windowSize(_ fd: FileDescriptor) -> WindowSize? {
        var rows: UInt16 = 0
        var columns: UInt16 = 0
        guard cl_get_window_size(fd.raw, &rows, &columns) == 0 else { return nil }
        return WindowSize(rows: rows, columns: columns)
    }

    /// Bind-mounts the pty peer over /dev/console (created as an empty file if missing).
    /// Both ends are named through /proc/self/fd of fds opened without following
    /// symlinks, so a symlink the container planted cannot redirect the mount.
    static func bindOverDevConsole(_ peer: FileDescriptor) throws(SwiftletError) {
        let path = "/dev/console"
        var fd = cl_open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0)
        if fd < 0 && cl_errno() == ENOENT {
            let created = cl_open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o666)
            if created < 0 { throw .system(.terminal, "create " + path) }
            close(created)
            fd = cl_open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0)
        }
        if fd < 0 { throw .system(.terminal, "open " + path) }
        let target = FileDescriptor(fd)
        defer { target.close() }
        var st = stat()
        if fstat(fd, &st) != 0 { throw .system(.terminal, "stat " + path) }
        guard cl_s_isreg(st.st_mode) != 0 || cl_s_ischr(st.st_mode) != 0 else {
            throw SwiftletError(.terminal, path + " is neither a file nor a device", errno: EINVAL)
        }
        let source = "/proc/self/fd/" + String(peer.raw)
        if mount(source, "/proc/self/fd/" + String(fd), nil, UInt(MS_BIND), nil) != 0 {
            throw .system(.terminal, "bind-mount the console over " + path)
        }
    }

    // MARK: allocation

    static let devptsMagic: Int64 = 0x1cd1
    static let ptmxMajor: UInt32 = 5, ptmxMinor: UInt32 = 2, ptmxInode: UInt64 = 2   // fs/devpts/inode.c
    static let ptySlaveMajor: UInt32 = 136                                              // UNIX98_PTY_SLAVE_MAJOR

    /// Moves an fd that landed on 0, 1 or 2 (the caller's stdio was closed) above them, so
    /// that replacing stdio with the pty cannot clobber it.
    static func aboveStdio(_ fd: FileDescriptor) throws(SwiftletError) -> FileDescriptor {
        guard fd.raw <= 2 else { return fd }
        let moved = cl_fcntl_int(fd.raw, F_DUPFD_CLOEXEC, 3)
        let e = cl_errno()
        fd.close()
        if moved < 0 { throw SwiftletError(.terminal, "move pty fd above stdio", errno: e) }
        return FileDescriptor(moved)
    }

    /// /dev/pts/ptmx, looked up without following symlinks, checked, then opened for real
    /// through /proc/self/fd (falling back to a direct open where /proc is missing).
    static func openMaster() throws(SwiftletError) -> FileDescriptor {
        let path = "/dev/pts/ptmx"
        let handle = try FileDescriptor.open(path, O_PATH | O_NOFOLLOW, stage: .terminal)
        defer { handle.close() }
        try checkDevice(handle, path: path, major: ptmxMajor, minor: ptmxMinor, inode: ptmxInode)
        let flags = O_RDWR | O_NOCTTY | O_CLOEXEC
        var fd = cl_open("/proc/self/fd/" + String(handle.raw), flags, 0)
        if fd < 0 && cl_errno() == ENOENT {
            fd = cl_open(path, flags | O_NOFOLLOW, 0)
        }
        if fd < 0 { throw .system(.terminal, "open " + path) }
        let master = try aboveStdio(FileDescriptor(fd))
        do throws(SwiftletError) {
            try checkDevice(master, path: path, major: ptmxMajor, minor: ptmxMinor, inode: ptmxInode)
        } catch {
            master.close()
            throw error
        }
        return master
    }

    /// The peer via TIOCGPTPEER; on kernels without it, /dev/pts/N checked to be the
    /// peer device of this master.
    static func openPeer(master: FileDescriptor, number: UInt32, name: String) throws(SwiftletError) -> FileDescriptor {
        let flags = O_RDWR | O_NOCTTY | O_CLOEXEC
        let fd = cl_pty_peer(master.raw, flags)
        if fd >= 0 { return FileDescriptor(fd) }
        let e = cl_errno()
        if e != ENOTTY && e != EINVAL { throw SwiftletError(.terminal, "open pty peer", errno: e) }
        let peer = try FileDescriptor.open(name, flags | O_NOFOLLOW, stage: .terminal)
        do throws(SwiftletError) {
            try checkDevice(peer, path: name, major: ptySlaveMajor, minor: number, inode: nil)
        } catch {
            peer.close()
            throw error
        }
        return peer
    }

    static func checkDevice(_ fd: FileDescriptor, path: String, major: UInt32, minor: UInt32, inode: UInt64?) throws(SwiftletError) {
        var type: Int64 = 0
        var mountFlags: UInt64 = 0
        if cl_fstatfs_info(fd.raw, &type, &mountFlags) != 0 { throw .system(.terminal, "statfs " + path) }
        if type != devptsMagic {
            throw SwiftletError(.terminal, path + " is not on a devpts file system (magic 0x" + hex(UInt64(bitPattern: type)) + ")",
                                errno: EXDEV)
        }
        var st = stat()
        if fstat(fd.raw, &st) != 0 { throw .system(.terminal, "stat " + path) }
        if let inode, UInt64(st.st_ino) != inode {
            throw SwiftletError(.terminal, path + " has the wrong inode number " + String(st.st_ino), errno: EPERM)
        }
        if cl_s_ischr(st.st_mode) == 0 || st.st_rdev != cl_makedev(major, minor) {
            throw SwiftletError(.terminal, path + " is not the expected character device " + String(major) + ":"
                                    + String(minor), errno: EPERM)
        }
    }
}
