import Base

/// A JSON value together with its path from the document root, so that every typed
/// access can fail with a precise message: `config.json: process.args[0]: expected string`.
public struct Node: Sendable {
    public let value: JSON
    public let path: String

    public init(_ value: JSON, path: String) {
        self.value = value
        self.path = path
    }

    public func error(_ what: String) -> SwiftletError {
        SwiftletError(.config, path + ": " + what)
    }

    func child(_ key: String) -> String {
        // The document root is named after the file ("config.json"), members after it.
        path.hasByteSuffix(".json") || path.isEmpty ? (path.isEmpty ? key : path + ": " + key) : path + "." + key
    }

    /// An optional member: nil when absent or JSON null.
    public subscript(key: String) -> Node? {
        guard let v = value[key], !v.isNull else { return nil }
        return Node(v, path: child(key))
    }

    /// A member that must be present (and not null).
    public func required(_ key: String) throws(SwiftletError) -> Node {
        guard case .object = value else { throw error("expected object") }
        guard let n = self[key] else { throw Node(.null, path: child(key)).error("required") }
        return n
    }

    public func string() throws(SwiftletError) -> String {
        guard case .string(let s) = value else { throw error("expected string") }
        return s
    }

    public func bool() throws(SwiftletError) -> Bool {
        guard case .bool(let b) = value else { throw error("expected boolean") }
        return b
    }

    public func int64() throws(SwiftletError) -> Int64 {
        guard case .number(let n) = value else { throw error("expected integer") }
        guard let v = parseInt64(n) else { throw numberError(n, signed: true) }
        return v
    }

    public func uint64() throws(SwiftletError) -> UInt64 {
        guard case .number(let n) = value else { throw error("expected integer") }
        guard let v = parseUInt64(n) else { throw numberError(n, signed: false) }
        return v
    }

    /// Says why a number literal is no integer of the wanted kind: a fraction or exponent
    /// (Go rejects those for integer fields too), a sign, or its size.
    func numberError(_ n: String, signed: Bool) -> SwiftletError {
        if n.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            return error("expected integer, got " + n)
        }
        if !signed && n.hasBytePrefix("-") { return error("expected non-negative integer, got " + n) }
        return error("integer out of range for 64 bits: " + n)
    }

    public func int() throws(SwiftletError) -> Int {
        let v = try int64()
        guard let r = Int(exactly: v) else { throw error("integer out of range") }
        return r
    }

    public func int32() throws(SwiftletError) -> Int32 {
        let v = try int64()
        guard let r = Int32(exactly: v) else { throw error("integer out of range for 32 bits") }
        return r
    }

    public func uint32() throws(SwiftletError) -> UInt32 {
        let v = try uint64()
        guard let r = UInt32(exactly: v) else { throw error("integer out of range for 32 bits") }
        return r
    }

    public func array() throws(SwiftletError) -> [Node] {
        guard case .array(let items) = value else { throw error("expected array") }
        var out: [Node] = []
        out.reserveCapacity(items.count)
        for (k, item) in items.enumerated() { out.append(Node(item, path: path + "[" + String(k) + "]")) }
        return out
    }

    /// The members in document order; a repeated key appears once, at its first place,
    /// with its last value (Go's encoding/json keeps the last one too).
    public func members() throws(SwiftletError) -> [(key: String, node: Node)] {
        guard case .object(let ms) = value else { throw error("expected object") }
        var values = ms.map { $0.value }
        var keep = [Bool](repeating: true, count: ms.count)
        if ms.count > 1 {
            // Sorting (rather than comparing all pairs) keeps hostile objects with many keys cheap.
            let order = ms.indices.sorted { a, b in
                let ka = ms[a].key.utf8, kb = ms[b].key.utf8
                return ka.lexicographicallyPrecedes(kb) || (ka.elementsEqual(kb) && a < b)
            }
            var start = 0
            while start < order.count {
                var end = start + 1
                while end < order.count && ms[order[end]].key.utf8.elementsEqual(ms[order[start]].key.utf8) { end += 1 }
                if end - start > 1 {
                    values[order[start]] = ms[order[end - 1]].value
                    for k in (start + 1)..<end { keep[order[k]] = false }
                }
                start = end
            }
        }
        var out: [(key: String, node: Node)] = []
        for (k, m) in ms.enumerated() where keep[k] { out.append((m.key, Node(values[k], path: child(m.key)))) }
        return out
    }

    public func strings() throws(SwiftletError) -> [String] {
        var out: [String] = []
        for n in try array() { out.append(try n.string()) }
        return out
    }

    /// An object whose values are all strings (annotations, sysctl, ...), in order.
    public func stringMap() throws(SwiftletError) -> [(String, String)] {
        var out: [(String, String)] = []
        for (k, n) in try members() { out.append((k, try n.string())) }
        return out
    }
}
