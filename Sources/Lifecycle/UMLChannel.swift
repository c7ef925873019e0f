import Base
import CLinux
import Syscalls

/// The framed control channel between the host's supervisor and the guest's init: UML's
/// fd channel (con1=fd:3,fd:4: two pipes on the host, /dev/tty1 in raw mode in the guest).
/// A frame is a kind byte, a 32-bit little-endian length and that many bytes, so stdin,
/// stdout and stderr cross byte-exact next to the control messages.
enum UMLFrame: UInt8 {
    // guest -> host
    case ready = 0x52        // the container is created in the guest; waiting for start
    case started = 0x53      // the container's process runs
    case failed = 0x46       // payload: an encoded SwiftletError (create or start)
    case stdout = 0x4f
    case stderr = 0x45
    case stdinAck = 0x41     // payload: decimal count of stdin bytes handed to the process
    case exited = 0x58       // payload: decimal exit status (128 + n for signal n)
    // host -> guest
    case start = 0x47
    case stdin = 0x49
    case stdinEnd = 0x69
    case signal = 0x4b       // payload: decimal signal number
    case quit = 0x51         // the host has everything: the guest may power off
    // both ways: one of several streams beside the container's process (see UMLExec.swift)
    case stream = 0x4d       // payload: 32-bit little-endian stream id, inner kind, inner payload
    // host -> guest, inside a stream (the caller's side speaks them unwrapped to the supervisor)
    case exec = 0x78         // a piece of an exec request (JSON); `start` runs it
    case ps = 0x70           // payload "json" or "table": the container's processes as stdout
    case resize = 0x57       // payload "rows columns": the exec'd process's terminal size

    static let headerSize = 5
    static let maxPayload = 16384

    static func encode(_ kind: UMLFrame, _ payload: [UInt8]) -> [UInt8] {
        let n = UInt32(payload.count)
        var out: [UInt8] = [kind.rawValue, UInt8(n & 0xff), UInt8((n >> 8) & 0xff), UInt8((n >> 16) & 0xff), UInt8(n >> 24)]
        out.append(contentsOf: payload)
        return out
    }

    static func encode(_ kind: UMLFrame, _ text: String) -> [UInt8] { encode(kind, Array(text.utf8)) }

    /// What a stream's frame may carry: a stream frame itself is at most maxPayload.
    static let maxStreamPayload = maxPayload - 5

    static func encodeStream(_ stream: UInt32, _ kind: UMLFrame, _ payload: [UInt8]) -> [UInt8] {
        var inner: [UInt8] = [UInt8(stream & 0xff), UInt8((stream >> 8) & 0xff), UInt8((stream >> 16) & 0xff),
                              UInt8(stream >> 24), kind.rawValue]
        inner.append(contentsOf: payload)
        return encode(.stream, inner)
    }

    /// A stream frame's id, kind and payload; nil when it is too short or of an unknown kind.
    static func decodeStream(_ payload: [UInt8]) -> (UInt32, UMLFrame, [UInt8])? {
        guard payload.count >= 5, let kind = UMLFrame(rawValue: payload[4]), kind != .stream else { return nil }
        let id = UInt32(payload[0]) | UInt32(payload[1]) << 8 | UInt32(payload[2]) << 16 | UInt32(payload[3]) << 24
        return (id, kind, Array(payload[5...]))
    }
}

/// Collects bytes from the stream and hands out whole frames.
struct UMLFrameReader {
    private var buffer: [UInt8] = []
    private var start = 0

    mutating func append(_ bytes: ArraySlice<UInt8>) { buffer.append(contentsOf: bytes) }

    /// The next whole frame; a frame of an unknown kind or a length over the maximum is an error.
    mutating func next() throws(SwiftletError) -> (UMLFrame, [UInt8])? {
        let available = buffer.count - start
        guard available >= UMLFrame.headerSize else { compact(); return nil }
        let b = start
        let length = Int(buffer[b + 1]) | Int(buffer[b + 2]) << 8 | Int(buffer[b + 3]) << 16 | Int(buffer[b + 4]) << 24
        guard let kind = UMLFrame(rawValue: buffer[b]), length <= UMLFrame.maxPayload else {
            throw SwiftletError(.sync, "uml: malformed frame on the control channel", errno: EPROTO)
        }
        guard available >= UMLFrame.headerSize + length else { compact(); return nil }
        let payload = Array(buffer[(b + UMLFrame.headerSize)..<(b + UMLFrame.headerSize + length)])
        start += UMLFrame.headerSize + length
        return (kind, payload)
    }

    private mutating func compact() {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
    }
}

/// Bytes waiting to be written to a non-blocking fd.
struct OutputQueue {
    var pending: [UInt8] = []

    var isEmpty: Bool { pending.isEmpty }
    var count: Int { pending.count }

    mutating func add(_ bytes: [UInt8]) { pending.append(contentsOf: bytes) }

    /// Writes what the fd takes now; returns how many bytes went, or throws on a hard error.
    @discardableResult
    mutating func flush(_ fd: Int32) throws(SwiftletError) -> Int {
        var written = 0
        while !pending.isEmpty {
            let n = pending.withUnsafeBytes { CLinux.write(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                pending.removeFirst(n)
                written += n
                continue
            }
            let e = cl_errno()
            if n < 0 && e == EINTR { continue }
            if n < 0 && e == EAGAIN { break }
            throw SwiftletError(.io, "write", errno: n < 0 ? e : EIO)
        }
        return written
    }
}

/// Reads what is there now (at most `limit` bytes); empty means end of file, nil means
/// nothing yet (EAGAIN).
func readAvailable(_ fd: Int32, limit: Int = UMLFrame.maxPayload) -> [UInt8]? {
    var buf = [UInt8](repeating: 0, count: limit)
    while true {
        let n = buf.withUnsafeMutableBytes { CLinux.read(fd, $0.baseAddress, $0.count) }
        if n >= 0 { return Array(buf[0..<n]) }
        let e = cl_errno()
        if e == EINTR { continue }
        if e == EAGAIN { return nil }
        return []   // an error ends the stream like end of file
    }
}

/// Writes all bytes to a blocking fd; false when the reader is gone.
@discardableResult
func writeAllBytes(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { CLinux.write(fd, $0.baseAddress, $0.count) }
        if n > 0 { offset += n; continue }
        if n < 0 && cl_errno() == EINTR { continue }
        if n < 0 && cl_errno() == EAGAIN {
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, -1)
            continue
        }
        return false
    }
    return true
}

func setNonBlocking(_ fd: Int32) {
    let flags = cl_fcntl_int(fd, F_GETFL, 0)
    if flags >= 0 { _ = cl_fcntl_int(fd, F_SETFL, flags | O_NONBLOCK) }
}
