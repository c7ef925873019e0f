import Base
import CLinux

/// A connected AF_UNIX stream socket that can carry one file descriptor with a message
/// (SCM_RIGHTS): the seccomp listener, the console socket and sync sockets use it.
/// All sockets are created close-on-exec, and sends never raise SIGPIPE.
public struct UnixSocket: Equatable, Sendable {
    public let fd: FileDescriptor
    public init(_ fd: FileDescriptor) { self.fd = fd }

    public func close() { fd.close() }

    /// Connects to the socket at `path`. Paths longer than sun_path allows are reached
    /// through /proc/self/fd of their directory, so deep bundle paths still work.
    public static func connect(path: String, stage: Stage = .io) throws(SwiftletError) -> UnixSocket {
        let sock = try stream(stage: stage)
        let rc = withShortPath(path) { cl_unix_connect(sock.fd.raw, $0) }
        if rc != 0 {
            let e = SwiftletError.system(stage, "connect " + path)
            sock.close()
            throw e
        }
        return sock
    }

    /// Binds a listening socket at `path` (which must not exist yet).
    public static func listen(path: String, backlog: Int32 = 16, stage: Stage = .io) throws(SwiftletError) -> UnixSocket {
        let sock = try bind(path: path, stage: stage)
        if CLinux.listen(sock.fd.raw, backlog) != 0 {
            let e = SwiftletError.system(stage, "listen " + path)
            sock.close()
            throw e
        }
        return sock
    }

    /// A socket bound at `path` (which must not exist yet), not listening: whoever calls
    /// listen() on it is the peer its clients see (SO_PEERCRED).
    public static func bind(path: String, stage: Stage = .io) throws(SwiftletError) -> UnixSocket {
        let sock = try stream(stage: stage)
        if withShortPath(path, { cl_unix_bind(sock.fd.raw, $0) }) != 0 {
            let e = SwiftletError.system(stage, "bind " + path)
            sock.close()
            throw e
        }
        return sock
    }

    /// Accepts one connection on a listening socket.
    public func accept(stage: Stage = .io) throws(SwiftletError) -> UnixSocket {
        while true {
            let raw = accept4(fd.raw, __SOCKADDR_ARG(), nil, Int32(SOCK_CLOEXEC.rawValue))
            if raw >= 0 { return UnixSocket(FileDescriptor(raw)) }
            if cl_errno() != EINTR { throw .system(stage, "accept") }
        }
    }

    /// A connected pair, e.g. for talking to a forked child.
    public static func pair(stage: Stage = .io) throws(SwiftletError) -> (UnixSocket, UnixSocket) {
        var fds: (Int32, Int32) = (-1, -1)
        let rc = withUnsafeMutablePointer(to: &fds) {
            $0.withMemoryRebound(to: Int32.self, capacity: 2) {
                socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, $0)
            }
        }
        if rc != 0 { throw .system(stage, "socketpair") }
        return (UnixSocket(FileDescriptor(fds.0)), UnixSocket(FileDescriptor(fds.1)))
    }

    /// Sends all of `bytes`, with `passing` (if any) attached to the first part.
    /// A stream cannot carry an fd without data, so an empty message sends one NUL byte.
    public func send(_ bytes: [UInt8], passing passedFD: Int32? = nil, stage: Stage = .io) throws(SwiftletError) {
        var offset = 0
        var fdToSend = passedFD ?? -1
        repeat {
            let n = bytes.withUnsafeBytes { buf in
                cl_send_fd(fd.raw, fdToSend, buf.baseAddress.map { $0 + offset }, buf.count - offset)
            }
            if n < 0 { throw .system(stage, fdToSend >= 0 ? "send file descriptor" : "send") }
            fdToSend = -1
            offset += n
        } while offset < bytes.count
    }

    public func send(_ text: String, passing passedFD: Int32? = nil, stage: Stage = .io) throws(SwiftletError) {
        try send(Array(text.utf8), passing: passedFD, stage: stage)
    }

    /// Receives at most `count` bytes (empty at end of stream) and the fd that came with
    /// them, if any. The fd is close-on-exec and owned by the caller.
    public func receive(upTo count: Int, stage: Stage = .io) throws(SwiftletError) -> (bytes: [UInt8], fd: Int32?) {
        var buf = [UInt8](repeating: 0, count: max(count, 1))
        var received: Int32 = -1
        let n = buf.withUnsafeMutableBytes { cl_recv_fd(fd.raw, $0.baseAddress, $0.count, &received) }
        if n < 0 { throw .system(stage, "receive") }
        return (Array(buf[0..<n]), received >= 0 ? received : nil)
    }

    private static func stream(stage: Stage) throws(SwiftletError) -> UnixSocket {
        let raw = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if raw < 0 { throw .system(stage, "socket") }
        return UnixSocket(FileDescriptor(raw))
    }
}

/// sun_path holds 107 bytes. A longer path is rewritten as /proc/self/fd/<dir>/<name>,
/// with its directory opened O_PATH for the duration of the call.
private func withShortPath(_ path: String, _ body: (String) -> Int32) -> Int32 {
    if path.utf8.count < 108 { return body(path) }
    let bytes = Array(path.utf8)
    guard let slash = bytes.lastIndex(of: 47) else { cl_set_errno(ENAMETOOLONG); return -1 }
    let dir = slash == 0 ? "/" : String(decoding: bytes[..<slash], as: UTF8.self)
    let name = String(decoding: bytes[(slash + 1)...], as: UTF8.self)
    let dirFD = cl_open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0)
    if dirFD < 0 { return -1 }
    defer { _ = CLinux.close(dirFD) }
    return body("/proc/self/fd/" + String(dirFD) + "/" + name)
}
