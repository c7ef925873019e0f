import Base
import CLinux
import DBus
import Syscalls

extension Stage {
    public static let systemd = Stage("systemd")
}

/// A connection to a D-Bus message bus over its unix socket: EXTERNAL authentication,
/// Hello, then method calls answered in order. Signals that arrive while a call waits for
/// its reply are kept for `waitForSignal`. Single-threaded, blocking, every wait bounded.
public final class DBusConnection {
    let socket: UnixSocket
    var buffer: [UInt8] = []
    var lastSerial: UInt32 = 0
    var pendingSignals: [DBusMessage] = []
    /// The name the bus gave us (":1.42").
    public private(set) var uniqueName = ""
    /// The D-Bus error name of the last call that failed with an error reply.
    public private(set) var lastErrorName: String? = nil

    init(socket: UnixSocket) { self.socket = socket }

    deinit { socket.close() }

    /// The system bus: DBUS_SYSTEM_BUS_ADDRESS if set, else the well-known socket.
    public static func systemBus(timeoutMs: Int = 5_000) throws(SwiftletError) -> DBusConnection {
        let address = environment("DBUS_SYSTEM_BUS_ADDRESS") ?? "unix:path=/run/dbus/system_bus_socket"
        return try connect(address: address, timeoutMs: timeoutMs)
    }

    public static func connect(address: String, timeoutMs: Int = 5_000) throws(SwiftletError) -> DBusConnection {
        let path = try DBusAddress.unixPath(address)
        let c = DBusConnection(socket: try UnixSocket.connect(path: path, stage: .dbus))
        let deadline = cl_monotonic_ns() + Int64(timeoutMs) * 1_000_000
        try c.socket.send(DBusAuth.request(uid: geteuid()), stage: .dbus)
        try DBusAuth.checkReply(try c.readLine(deadline: deadline))
        try c.socket.send(DBusAuth.begin, stage: .dbus)
        let hello = try c.call(.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello"),
                               timeoutMs: timeoutMs)
        c.uniqueName = hello.body.first?.text ?? ""
        return c
    }

    /// Sends `message` and returns its reply; an error reply is thrown as one line.
    public func call(_ message: DBusMessage, timeoutMs: Int) throws(SwiftletError) -> DBusMessage {
        var m = message
        lastSerial += 1
        m.serial = lastSerial
        try socket.send(m.encoded(), stage: .dbus)
        let deadline = cl_monotonic_ns() + Int64(timeoutMs) * 1_000_000
        while true {
            let reply = try receive(deadline: deadline, waitingFor: message.member ?? "a reply")
            switch reply.kind {
            case .signal:
                if pendingSignals.count < 256 { pendingSignals.append(reply) }
            case .methodReturn where reply.replySerial == m.serial:
                return reply
            case .error where reply.replySerial == m.serial:
                lastErrorName = reply.errorName
                // The caller names the call; the line carries the bus's own words.
                throw SwiftletError(.dbus, reply.errorDescription)
            default:
                continue   // replies to nothing we wait for, calls to us: not for this client
            }
        }
    }

    /// The first signal (already received or arriving before the deadline) that `matches`.
    public func waitForSignal(timeoutMs: Int, what: String,
                                       _ matches: (DBusMessage) -> Bool) throws(SwiftletError) -> DBusMessage {
        if let i = pendingSignals.firstIndex(where: matches) { return pendingSignals.remove(at: i) }
        let deadline = cl_monotonic_ns() + Int64(timeoutMs) * 1_000_000
        while true {
            let m = try receive(deadline: deadline, waitingFor: what)
            if m.kind == .signal && matches(m) { return m }
        }
    }

    func receive(deadline: Int64, waitingFor what: String) throws(SwiftletError) -> DBusMessage {
        while true {
            if buffer.count >= 16 {
                let total = try DBusMessage.totalLength(buffer[0..<16])
                if buffer.count >= total {
                    let bytes = Array(buffer[0..<total])
                    buffer.removeFirst(total)
                    return try DBusMessage.decode(bytes)
                }
            }
            try fill(deadline: deadline, waitingFor: what)
        }
    }

    func readLine(deadline: Int64) throws(SwiftletError) -> String {
        while true {
            if let nl = buffer.firstIndex(of: 10) {
                var line = Array(buffer[0..<nl])
                buffer.removeFirst(nl + 1)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            if buffer.count > 4096 { throw SwiftletError(.dbus, "authentication: line too long") }
            try fill(deadline: deadline, waitingFor: "authentication")
        }
    }

    func fill(deadline: Int64, waitingFor what: String) throws(SwiftletError) {
        let left = (deadline - cl_monotonic_ns()) / 1_000_000
        var p = pollfd(fd: socket.fd.raw, events: Int16(POLLIN), revents: 0)
        let r = left > 0 ? poll(&p, 1, Int32(min(left, 60_000))) : 0
        if r < 0 && cl_errno() == EINTR { return }
        if r < 0 { throw .system(.dbus, "poll the bus socket") }
        if r == 0 { throw SwiftletError(.dbus, "timed out waiting for " + what, errno: ETIMEDOUT) }
        let got = try socket.receive(upTo: 65_536, stage: .dbus)
        if let fd = got.fd { close(fd) }
        if got.bytes.isEmpty { throw SwiftletError(.dbus, "the bus closed the connection while waiting for " + what) }
        buffer += got.bytes
    }
}
