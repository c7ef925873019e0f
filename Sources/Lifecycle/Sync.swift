import Base
import CLinux
import Syscalls

/// The channel between the runtime and the container's init while it is being set up:
/// a SOCK_SEQPACKET socketpair, so every message arrives whole. A message is one tag byte
/// and an optional payload (an error's text, a pid).
public struct SyncChannel: Sendable {
    public enum Tag: UInt8, Sendable {
        case go = 0x47              // parent -> init: id maps written, cgroup joined; payload: host pid
        case runHooks = 0x48        // init -> parent: mounts done, run prestart/createRuntime hooks
        case hooksDone = 0x68       // parent -> init
        case ready = 0x52           // init -> parent: set up, about to wait on exec.fifo
        case error = 0x45           // either way: payload is the one-line error
    }

    public let fd: FileDescriptor

    /// A connected pair: (runtime end, init end). Both close on exec.
    public static func pair() throws(SwiftletError) -> (SyncChannel, SyncChannel) {
        var fds: [Int32] = [-1, -1]
        if socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) != 0 {
            throw .system(.sync, "socketpair")
        }
        return (SyncChannel(fd: FileDescriptor(fds[0])), SyncChannel(fd: FileDescriptor(fds[1])))
    }

    public func send(_ tag: Tag, _ payload: String = "") throws(SwiftletError) {
        var msg: [UInt8] = [tag.rawValue]
        msg.append(contentsOf: payload.utf8)
        while true {
            let n = msg.withUnsafeBytes { CLinux.send(fd.raw, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n >= 0 { return }
            if cl_errno() == EINTR { continue }
            throw .system(.sync, "send to container init")
        }
    }

    /// Receives one message; nil when the other end has closed (the process died).
    public func receive() throws(SwiftletError) -> (Tag, String)? {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd.raw, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if cl_errno() == EINTR { continue }
                throw .system(.sync, "receive from container init")
            }
            if n == 0 { return nil }
            guard let tag = Tag(rawValue: buf[0]) else {
                throw SwiftletError(.sync, "unexpected message from container init")
            }
            return (tag, String(decoding: buf[1..<n], as: UTF8.self))
        }
    }

    /// Receives the next message and requires it to be `tag`; an error message from the
    /// other side is rethrown as is, so the user sees the init's own one-line error.
    public func expect(_ tag: Tag, while what: String) throws(SwiftletError) -> String {
        guard let (got, payload) = try receive() else {
            throw SwiftletError(.sync, "container init exited while " + what)
        }
        if got == .error { throw SwiftletError.decode(payload) }
        if got != tag { throw SwiftletError(.sync, "unexpected message from container init while " + what) }
        return payload
    }

    public func close() { fd.close() }
}

extension SwiftletError {
    /// Errors cross the sync channel as "stage\u{1}errno\u{1}message" and come back whole.
    public var encoded: String { stage.name + "\u{1}" + String(errno) + "\u{1}" + message }

    public static func decode(_ text: String) -> SwiftletError {
        let parts = text.split(byte: 1)
        guard parts.count >= 3 else { return SwiftletError(.lifecycle, text) }
        let message = join(Array(parts[2...]), "\u{1}")
        return SwiftletError(Stage(parts[0]), message, errno: Int32(parseInt64(parts[1]) ?? 0))
    }
}
