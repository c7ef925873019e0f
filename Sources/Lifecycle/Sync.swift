import Base
import CLinux
import Syscalls

/// The channel between the runtime and the container's init while it is being set up:
/// a SOCK_SEQPACKET socketpair, so every message arrives whole. A message is one tag byte
/// and an optional payload (an error's text, a pid).
public struct SyncChannel: Sendable {
    public enum Tag: UInt8, Sendable {
        case go = 0x47              // parent -> init: id maps written, cgroup joined; payload: host pid
        case bindSource = 0x42      // parent -> init, before go: a bind mount's source; payload: mount index
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

    /// Sends one message, with `passing` (an fd) attached if given.
    public func send(_ tag: Tag, _ payload: String = "", passing: Int32? = nil) throws(SwiftletError) {
        var msg: [UInt8] = [tag.rawValue]
        msg.append(contentsOf: payload.utf8)
        while true {
            let n = msg.withUnsafeBytes { (b) -> Int in
                if let passing { return cl_send_fd(fd.raw, passing, b.baseAddress, b.count) }
                return CLinux.send(fd.raw, b.baseAddress, b.count, Int32(MSG_NOSIGNAL))
            }
            if n >= 0 { return }
            if cl_errno() == EINTR { continue }
            throw .system(.sync, "send to container init")
        }
    }

    /// Receives one message; nil when the other end has closed (the process died).
    /// An fd that came with it is closed: only `receiveBindSources` takes fds.
    public func receive() throws(SwiftletError) -> (Tag, String)? {
        guard let (tag, payload, passed) = try receiveWithFD() else { return nil }
        if let passed { CLinux.close(passed) }
        return (tag, payload)
    }

    /// The bind sources the runtime sends ahead of `go` (one fd per message, by mount
    /// index; see BindSources), and go's payload.
    public func receiveBindSources(mountCount: Int, while what: String) throws(SwiftletError) -> ([Int32], String) {
        var trees = [Int32](repeating: -1, count: mountCount)
        while true {
            guard let (tag, payload, passed) = try receiveWithFD() else {
                for fd in trees where fd >= 0 { CLinux.close(fd) }
                throw SwiftletError(.sync, "the runtime exited while " + what)
            }
            if tag == .bindSource, let passed, let index = parseInt(payload), index >= 0, index < mountCount,
               trees[index] < 0 {
                trees[index] = passed
                continue
            }
            if tag == .go && passed == nil { return (trees, payload) }
            if let passed { CLinux.close(passed) }
            for fd in trees where fd >= 0 { CLinux.close(fd) }
            if tag == .error { throw SwiftletError.decode(payload) }
            throw SwiftletError(.sync, "unexpected message from the runtime while " + what)
        }
    }

    private func receiveWithFD() throws(SwiftletError) -> (Tag, String, Int32?)? {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            var passed: Int32 = -1
            let n = buf.withUnsafeMutableBytes { cl_recv_fd(fd.raw, $0.baseAddress, $0.count, &passed) }
            if n < 0 {
                if cl_errno() == EINTR { continue }
                throw .system(.sync, "receive from container init")
            }
            if n == 0 {
                if passed >= 0 { CLinux.close(passed) }
                return nil
            }
            guard let tag = Tag(rawValue: buf[0]) else {
                if passed >= 0 { CLinux.close(passed) }
                throw SwiftletError(.sync, "unexpected message from container init")
            }
            return (tag, String(decoding: buf[1..<n], as: UTF8.self), passed >= 0 ? passed : nil)
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

/// What the init reports with `ready`: the steps a primitive container could not apply
/// (a short name for the state annotation and a note for the warning line), and the route a
/// foreign executable takes (for --debug). Encoded beside SwiftletError's encoding: records
/// separated by NUL (no config string holds one), fields by \u{1}.
struct ReadyReport: Sendable {
    struct Shortfall: Sendable {
        var name: String
        var note: String
    }
    var notApplied: [Shortfall] = []
    var foreignRoute: String? = nil

    mutating func add(_ name: String, _ note: String) { notApplied.append(Shortfall(name: name, note: note)) }

    /// A step a primitive container may miss: its failure is recorded; any other container's
    /// is fatal.
    mutating func tolerate(_ error: SwiftletError, primitive: Bool, _ name: String, _ note: String) throws(SwiftletError) {
        guard primitive else { throw error }
        add(name, note + " (" + error.description + ")")
    }

    var encoded: String {
        var records = notApplied.map { "N\u{1}" + $0.name + "\u{1}" + $0.note }
        if let foreignRoute { records.append("F\u{1}" + foreignRoute) }
        return join(records, "\u{0}")
    }

    static func decode(_ text: String) -> ReadyReport {
        var report = ReadyReport()
        for record in text.split(byte: 0) {
            let fields = record.split(byte: 1)
            if fields.count == 3 && fields[0].bytesEqual("N") { report.add(fields[1], fields[2]) }
            if fields.count == 2 && fields[0].bytesEqual("F") { report.foreignRoute = fields[1] }
        }
        return report
    }
}
