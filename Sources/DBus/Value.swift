import Base

extension Stage {
    public static let dbus = Stage("dbus")
}

/// One D-Bus value: the types the systemd calls and their replies use. Containers carry
/// their element signature so that an empty array still marshals (and signs) correctly.
public indirect enum DBusValue: Sendable {
    case byte(UInt8)
    case boolean(Bool)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case string(String)
    case objectPath(String)
    case signature(String)
    /// An array of values of `element` signature ("(sv)", "u", "y").
    case array(element: String, [DBusValue])
    case structure([DBusValue])
    case variant(DBusValue)
    case dictEntry(DBusValue, DBusValue)

    /// The type signature of this value ("s", "a(sv)", "v").
    public var signature: String {
        switch self {
        case .byte: return "y"
        case .boolean: return "b"
        case .int32: return "i"
        case .uint32: return "u"
        case .int64: return "x"
        case .uint64: return "t"
        case .string: return "s"
        case .objectPath: return "o"
        case .signature: return "g"
        case .array(let element, _): return "a" + element
        case .structure(let fields): return "(" + join(fields.map { $0.signature }, "") + ")"
        case .variant: return "v"
        case .dictEntry(let k, let v): return "{" + k.signature + v.signature + "}"
        }
    }

    /// The text of a string, object path or signature.
    public var text: String? {
        switch self {
        case .string(let s), .objectPath(let s), .signature(let s): return s
        default: return nil
        }
    }

    public var uint32Value: UInt32? {
        if case .uint32(let v) = self { return v }
        return nil
    }
}

/// Alignment of a type by its first signature byte, as the specification fixes it.
func alignment(of code: UInt8) -> Int {
    switch code {
    case UInt8(ascii: "y"), UInt8(ascii: "g"), UInt8(ascii: "v"): return 1
    case UInt8(ascii: "n"), UInt8(ascii: "q"): return 2
    case UInt8(ascii: "x"), UInt8(ascii: "t"), UInt8(ascii: "d"),
         UInt8(ascii: "("), UInt8(ascii: "{"): return 8
    default: return 4   // b i u s o a h
    }
}

/// Splits a signature into its complete types ("sa(sv)u" -> "s", "a(sv)", "u").
public func completeTypes(_ signature: String) throws(SwiftletError) -> [String] {
    let bytes = Array(signature.utf8)
    var out: [String] = []
    var i = 0
    while i < bytes.count {
        let end = try endOfType(bytes, i, depth: 0)
        out.append(String(decoding: bytes[i..<end], as: UTF8.self))
        i = end
    }
    return out
}

/// The index just past the complete type starting at `i`.
func endOfType(_ sig: [UInt8], _ i: Int, depth: Int) throws(SwiftletError) -> Int {
    let bad = SwiftletError(.dbus, "invalid signature \"" + String(decoding: sig, as: UTF8.self) + "\"")
    guard i < sig.count, depth < 32 else { throw bad }
    switch sig[i] {
    case UInt8(ascii: "a"):
        return try endOfType(sig, i + 1, depth: depth + 1)
    case UInt8(ascii: "("), UInt8(ascii: "{"):
        let close = sig[i] == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "}")
        var j = i + 1
        while j < sig.count && sig[j] != close { j = try endOfType(sig, j, depth: depth + 1) }
        guard j < sig.count, j > i + 1 else { throw bad }
        return j + 1
    case UInt8(ascii: "y"), UInt8(ascii: "b"), UInt8(ascii: "n"), UInt8(ascii: "q"), UInt8(ascii: "i"),
         UInt8(ascii: "u"), UInt8(ascii: "x"), UInt8(ascii: "t"), UInt8(ascii: "d"), UInt8(ascii: "h"),
         UInt8(ascii: "s"), UInt8(ascii: "o"), UInt8(ascii: "g"), UInt8(ascii: "v"):
        return i + 1
    default:
        throw bad
    }
}
