import Base

/// Marshals values in D-Bus wire format, little-endian. Offsets (and so alignment) count
/// from the start of the buffer, which is the start of a message or of its 8-aligned body.
public struct DBusWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    mutating func pad(to n: Int) {
        while bytes.count % n != 0 { bytes.append(0) }
    }

    mutating func put<T: FixedWidthInteger>(_ v: T) {
        pad(to: MemoryLayout<T>.size)
        var x = v.littleEndian
        for _ in 0..<MemoryLayout<T>.size {
            bytes.append(UInt8(truncatingIfNeeded: x))
            x = x >> 8
        }
    }

    mutating func putText(_ s: String, lengthIsByte: Bool) {
        let utf8 = Array(s.utf8)
        if lengthIsByte { bytes.append(UInt8(truncatingIfNeeded: utf8.count)) } else { put(UInt32(utf8.count)) }
        bytes.append(contentsOf: utf8)
        bytes.append(0)
    }

    public mutating func write(_ value: DBusValue) {
        switch value {
        case .byte(let v): bytes.append(v)
        case .boolean(let v): put(UInt32(v ? 1 : 0))
        case .int32(let v): put(v)
        case .uint32(let v): put(v)
        case .int64(let v): put(v)
        case .uint64(let v): put(v)
        case .string(let s), .objectPath(let s): putText(s, lengthIsByte: false)
        case .signature(let s): putText(s, lengthIsByte: true)
        case .array(let element, let items):
            put(UInt32(0))
            let lengthAt = bytes.count - 4
            // The length excludes the padding before the first element, which is always there.
            pad(to: alignment(of: element.utf8.first ?? 0))
            let start = bytes.count
            for item in items { write(item) }
            let length = UInt32(bytes.count - start)
            for k in 0..<4 { bytes[lengthAt + k] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(k))) }
        case .structure(let fields):
            pad(to: 8)
            for f in fields { write(f) }
        case .variant(let inner):
            putText(inner.signature, lengthIsByte: true)
            write(inner)
        case .dictEntry(let k, let v):
            pad(to: 8)
            write(k)
            write(v)
        }
    }
}

/// Reads values of a given signature from a buffer (a message or its body), in the byte
/// order the message declares. Every length is checked against what is left.
public struct DBusReader: Sendable {
    let bytes: [UInt8]
    let bigEndian: Bool
    public private(set) var offset: Int
    /// Offset that alignment is counted from (the body start within a message).
    let base: Int

    public init(_ bytes: [UInt8], bigEndian: Bool = false, offset: Int = 0, base: Int = 0) {
        self.bytes = bytes
        self.bigEndian = bigEndian
        self.offset = offset
        self.base = base
    }

    var truncated: SwiftletError { SwiftletError(.dbus, "truncated message") }

    mutating func align(_ n: Int) throws(SwiftletError) {
        let rel = offset - base
        let target = base + (rel + n - 1) / n * n
        guard target <= bytes.count else { throw truncated }
        offset = target
    }

    public mutating func readInteger<T: FixedWidthInteger>(_: T.Type) throws(SwiftletError) -> T {
        let size = MemoryLayout<T>.size
        try align(size)
        guard offset + size <= bytes.count else { throw truncated }
        var v: T = 0
        for k in 0..<size {
            let b = T(truncatingIfNeeded: bytes[offset + (bigEndian ? k : size - 1 - k)])
            v = (v << 8) | b
        }
        offset += size
        return v
    }

    mutating func readText(lengthIsByte: Bool) throws(SwiftletError) -> String {
        let length: Int
        if lengthIsByte {
            guard offset < bytes.count else { throw truncated }
            length = Int(bytes[offset]); offset += 1
        } else {
            length = Int(try readInteger(UInt32.self))
        }
        guard length < bytes.count, offset + length < bytes.count, bytes[offset + length] == 0 else { throw truncated }
        let s = String(decoding: bytes[offset..<(offset + length)], as: UTF8.self)
        offset += length + 1
        return s
    }

    /// Reads one value of the complete type `type`.
    public mutating func read(_ type: String, depth: Int = 0) throws(SwiftletError) -> DBusValue {
        let sig = Array(type.utf8)
        guard let code = sig.first, depth < 64 else { throw SwiftletError(.dbus, "invalid signature \"" + type + "\"") }
        switch code {
        case UInt8(ascii: "y"):
            guard offset < bytes.count else { throw truncated }
            offset += 1
            return .byte(bytes[offset - 1])
        case UInt8(ascii: "b"):
            let v = try readInteger(UInt32.self)
            guard v <= 1 else { throw SwiftletError(.dbus, "invalid boolean " + String(v)) }
            return .boolean(v == 1)
        case UInt8(ascii: "i"): return .int32(try readInteger(Int32.self))
        case UInt8(ascii: "u"), UInt8(ascii: "h"): return .uint32(try readInteger(UInt32.self))
        case UInt8(ascii: "x"): return .int64(try readInteger(Int64.self))
        case UInt8(ascii: "t"), UInt8(ascii: "d"): return .uint64(try readInteger(UInt64.self))
        case UInt8(ascii: "n"): return .int32(Int32(try readInteger(Int16.self)))
        case UInt8(ascii: "q"): return .uint32(UInt32(try readInteger(UInt16.self)))
        case UInt8(ascii: "s"): return .string(try readText(lengthIsByte: false))
        case UInt8(ascii: "o"): return .objectPath(try readText(lengthIsByte: false))
        case UInt8(ascii: "g"): return .signature(try readText(lengthIsByte: true))
        case UInt8(ascii: "v"):
            let inner = try readText(lengthIsByte: true)
            let types = try completeTypes(inner)
            guard types.count == 1 else { throw SwiftletError(.dbus, "invalid variant signature \"" + inner + "\"") }
            return .variant(try read(types[0], depth: depth + 1))
        case UInt8(ascii: "a"):
            let element = String(decoding: sig.dropFirst(), as: UTF8.self)
            let length = Int(try readInteger(UInt32.self))
            try align(alignment(of: sig[1]))
            guard length <= 1 << 26, offset + length <= bytes.count else { throw truncated }
            let end = offset + length
            var items: [DBusValue] = []
            while offset < end { items.append(try read(element, depth: depth + 1)) }
            guard offset == end else { throw SwiftletError(.dbus, "array length does not match its elements") }
            return .array(element: element, items)
        case UInt8(ascii: "("), UInt8(ascii: "{"):
            try align(8)
            let inner = String(decoding: sig.dropFirst().dropLast(), as: UTF8.self)
            var fields: [DBusValue] = []
            for t in try completeTypes(inner) { fields.append(try read(t, depth: depth + 1)) }
            if code == UInt8(ascii: "{") {
                guard fields.count == 2 else { throw SwiftletError(.dbus, "invalid dict entry \"" + type + "\"") }
                return .dictEntry(fields[0], fields[1])
            }
            return .structure(fields)
        default:
            throw SwiftletError(.dbus, "invalid signature \"" + type + "\"")
        }
    }
}
