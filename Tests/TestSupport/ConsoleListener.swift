// A console socket for tests (--console-socket): accepts one connection and receives the
// pty master sent over it, and a reader for what a pty shows.
import Foundation

public struct ConsoleListenerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A listening AF_UNIX socket that accepts one connection and receives an fd from it.
public final class ConsoleListener {
    public let fd: Int32
    public let path: String

    public init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw ConsoleListenerError("socket path too long") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else { throw ConsoleListenerError("bind/listen \(path): errno \(errno)") }
    }

    /// Accepts and receives (payload, fd); fails after `timeout` seconds.
    public func receive(timeout: Double) throws -> (String, Int32) {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) == 1 else { throw ConsoleListenerError("nobody connected to the console socket") }
        let conn = accept(fd, nil, nil)
        guard conn >= 0 else { throw ConsoleListenerError("accept: errno \(errno)") }
        defer { Glibc.close(conn) }
        var data = [UInt8](repeating: 0, count: 4096)
        // cmsghdr (len: size_t, level: int32, type: int32) followed by one int32 fd.
        var control = [UInt8](repeating: 0, count: 64)
        let n = data.withUnsafeMutableBytes { dataBuf in
            control.withUnsafeMutableBytes { controlBuf -> Int in
                var iov = iovec(iov_base: dataBuf.baseAddress, iov_len: dataBuf.count)
                return withUnsafeMutablePointer(to: &iov) { iovPtr in
                    var msg = msghdr()
                    msg.msg_iov = iovPtr
                    msg.msg_iovlen = 1
                    msg.msg_control = controlBuf.baseAddress
                    msg.msg_controllen = controlBuf.count
                    return recvmsg(conn, &msg, 0)
                }
            }
        }
        guard n > 0 else { throw ConsoleListenerError("recvmsg returned \(n), errno \(errno)") }
        let level = control.withUnsafeBytes { $0.load(fromByteOffset: 8, as: Int32.self) }
        let type = control.withUnsafeBytes { $0.load(fromByteOffset: 12, as: Int32.self) }
        guard level == SOL_SOCKET, type == 1 /* SCM_RIGHTS */ else { throw ConsoleListenerError("no SCM_RIGHTS in the message") }
        let received = control.withUnsafeBytes { $0.load(fromByteOffset: 16, as: Int32.self) }
        return (String(decoding: data[0..<n], as: UTF8.self), received)
    }

    public func close() {
        Glibc.close(fd)
        unlink(path)
    }
}

/// Reads from `fd` until the text contains `needle`, the fd ends (EIO once the pty's
/// peer is closed), or `timeout` seconds pass.
public func readUntil(_ fd: Int32, contains needle: String, timeout: Double) -> String {
    var out: [UInt8] = []
    let deadline = Date().addingTimeInterval(timeout)
    var buffer = [UInt8](repeating: 0, count: 4096)
    while Date() < deadline {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 100) >= 0 else { break }
        if p.revents == 0 { continue }
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        out += buffer[0..<n]
        if String(decoding: out, as: UTF8.self).contains(needle) { break }
    }
    return String(decoding: out, as: UTF8.self)
}
