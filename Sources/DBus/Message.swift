import Base

/// One D-Bus message: the fixed header, the header fields this client uses, and the body.
public struct DBusMessage: Sendable {
    public enum Kind: UInt8, Sendable {
        case methodCall = 1, methodReturn = 2, error = 3, signal = 4
    }

    /// Header flag: no reply is expected.
    public static let noReplyExpected: UInt8 = 0x1

    public var kind: Kind
    public var flags: UInt8 = 0
    public var serial: UInt32 = 0
    public var path: String? = nil
    public var interface: String? = nil
    public var member: String? = nil
    public var errorName: String? = nil
    public var replySerial: UInt32? = nil
    public var destination: String? = nil
    public var sender: String? = nil
    public var body: [DBusValue] = []

    public init(kind: Kind) { self.kind = kind }

    /// A method call to `destination`'s object `path`.
    public static func call(_ destination: String, _ path: String, _ interface: String, _ member: String,
                            _ body: [DBusValue] = []) -> DBusMessage {
        var m = DBusMessage(kind: .methodCall)
        m.destination = destination
        m.path = path
        m.interface = interface
        m.member = member
        m.body = body
        return m
    }

    public var bodySignature: String { join(body.map { $0.signature }, "") }

    /// The message on the wire, little-endian. Header fields go in the order systemd's own
    /// client (sd-bus) writes them, so captured calls compare byte for byte.
    public func encoded() -> [UInt8] {
        var bodyWriter = DBusWriter()
        for v in body { bodyWriter.write(v) }

        var fields: [DBusValue] = []
        func field(_ code: UInt8, _ value: DBusValue?) {
            if let value { fields.append(.structure([.byte(code), .variant(value)])) }
        }
        field(1, path.map { .objectPath($0) })
        field(3, member.map { .string($0) })
        field(2, interface.map { .string($0) })
        field(4, errorName.map { .string($0) })
        field(5, replySerial.map { .uint32($0) })
        field(6, destination.map { .string($0) })
        field(7, sender.map { .string($0) })
        if !body.isEmpty { field(8, .signature(bodySignature)) }

        var w = DBusWriter()
        w.write(.byte(UInt8(ascii: "l")))
        w.write(.byte(kind.rawValue))
        w.write(.byte(flags))
        w.write(.byte(1))
        w.write(.uint32(UInt32(bodyWriter.bytes.count)))
        w.write(.uint32(serial))
        w.write(.array(element: "(yv)", fields))
        w.pad(to: 8)
        return w.bytes + bodyWriter.bytes
    }

    /// The total length of the message whose first 16 bytes are `prefix`, or nil if it
    /// cannot be a message (bad byte order mark, version, or an absurd length).
    public static func totalLength(_ prefix: ArraySlice<UInt8>) throws(SwiftletError) -> Int {
        let p = Array(prefix.prefix(16))
        guard p.count == 16, p[0] == UInt8(ascii: "l") || p[0] == UInt8(ascii: "B"), p[3] == 1 else {
            throw SwiftletError(.dbus, "not a D-Bus message")
        }
        var r = DBusReader(p, bigEndian: p[0] == UInt8(ascii: "B"), offset: 4)
        let bodyLength = Int(try r.readInteger(UInt32.self))
        _ = try r.readInteger(UInt32.self)
        let fieldsLength = Int(try r.readInteger(UInt32.self))
        let total = 16 + (fieldsLength + 7) / 8 * 8 + bodyLength
        // The specification's limit for one message.
        guard total <= 1 << 27 else { throw SwiftletError(.dbus, "message of " + String(total) + " bytes is too long") }
        return total
    }

    /// Parses one complete message (see `totalLength`).
    public static func decode(_ bytes: [UInt8]) throws(SwiftletError) -> DBusMessage {
        let total = try totalLength(bytes[...])
        guard bytes.count == total else { throw SwiftletError(.dbus, "truncated message") }
        let bigEndian = bytes[0] == UInt8(ascii: "B")
        guard let kind = Kind(rawValue: bytes[1]) else {
            throw SwiftletError(.dbus, "unknown message type " + String(bytes[1]))
        }
        var m = DBusMessage(kind: kind)
        m.flags = bytes[2]
        var r = DBusReader(bytes, bigEndian: bigEndian, offset: 4)
        let bodyLength = Int(try r.readInteger(UInt32.self))
        m.serial = try r.readInteger(UInt32.self)
        var signature = ""
        guard case .array(_, let fields) = try r.read("a(yv)") else { throw SwiftletError(.dbus, "bad header") }
        for f in fields {
            guard case .structure(let pair) = f, pair.count == 2, case .byte(let code) = pair[0],
                  case .variant(let value) = pair[1] else { continue }
            switch code {
            case 1: m.path = value.text
            case 2: m.interface = value.text
            case 3: m.member = value.text
            case 4: m.errorName = value.text
            case 5: m.replySerial = value.uint32Value
            case 6: m.destination = value.text
            case 7: m.sender = value.text
            case 8: signature = value.text ?? ""
            default: break   // unix fds and fields newer than this client
            }
        }
        try r.align(8)
        let bodyStart = r.offset
        guard bodyStart + bodyLength == bytes.count else { throw SwiftletError(.dbus, "body length does not match") }
        var body = DBusReader(bytes, bigEndian: bigEndian, offset: bodyStart, base: bodyStart)
        for t in try completeTypes(signature) { m.body.append(try body.read(t)) }
        guard body.offset == bytes.count else { throw SwiftletError(.dbus, "body longer than its signature") }
        return m
    }

    /// An error reply as one line: "Name: text".
    public var errorDescription: String {
        let name = errorName ?? "error"
        if let text = body.first?.text { return name + ": " + text }
        return name
    }
}

/// The SASL exchange before the first message (the D-Bus specification's "Authentication
/// Protocol"): EXTERNAL, the kernel vouches for our uid over the socket.
public enum DBusAuth {
    /// The NUL byte every connection starts with, then AUTH EXTERNAL with the uid as the
    /// hex digits of its decimal text (uid 0 -> "30").
    public static func request(uid: UInt32) -> [UInt8] {
        var line = Array("\0AUTH EXTERNAL ".utf8)
        for b in String(uid).utf8 { line += Array(hex(UInt64(b), width: 2).utf8) }
        return line + Array("\r\n".utf8)
    }

    public static let begin = Array("BEGIN\r\n".utf8)

    /// Checks the server's answer (one line without its CRLF): "OK <guid>" accepts.
    public static func checkReply(_ line: String) throws(SwiftletError) {
        if line.hasBytePrefix("OK ") { return }
        throw SwiftletError(.dbus, "authentication refused by the bus: " + line)
    }
}

/// Bus addresses ("unix:path=/run/dbus/system_bus_socket,guid=..."; alternatives separated
/// by ";"): the first unix path one, the only transport this client speaks.
public enum DBusAddress {
    public static func unixPath(_ address: String) throws(SwiftletError) -> String {
        for entry in address.split(byte: 59) {   // ";"
            guard let (transport, keys) = entry.splitOnce(byte: 58), transport.bytesEqual("unix") else { continue }   // ":"
            for pair in keys.split(byte: 44) {   // ","
                if let (key, value) = pair.splitOnce(byte: 61), key.bytesEqual("path"), !value.isEmpty {   // "="
                    return try unescape(value)
                }
            }
        }
        throw SwiftletError(.dbus, "no unix:path= bus address in \"" + address + "\"")
    }

    /// Address values escape bytes as %XX.
    static func unescape(_ value: String) throws(SwiftletError) -> String {
        let bytes = Array(value.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == 37 {   // "%"
                guard i + 2 < bytes.count, let hi = hexDigit(bytes[i + 1]), let lo = hexDigit(bytes[i + 2]) else {
                    throw SwiftletError(.dbus, "bad escape in bus address \"" + value + "\"")
                }
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hexDigit(_ b: UInt8) -> UInt8? {
        switch b {
        case 48...57: return b - 48
        case 97...102: return b - 87
        case 65...70: return b - 55
        default: return nil
        }
    }
}
