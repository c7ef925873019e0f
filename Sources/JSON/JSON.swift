import Base

extension Stage {
    public static let json = Stage("json")
}

/// A JSON value. Objects keep their members in document order (small configs make a
/// linear lookup cheap, output stays stable, and no hashing of String is needed).
/// Numbers keep their literal text so that 64-bit unsigned values and huge numbers are
/// neither rounded nor lost; the typed accessors check their range.
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSON])
    case object([Member])

    public struct Member: Equatable, Sendable {
        public var key: String
        public var value: JSON
        public init(_ key: String, _ value: JSON) { self.key = key; self.value = value }
    }

    public static func int(_ v: Int64) -> JSON { .number(String(v)) }
    public static func int(_ v: Int) -> JSON { .number(String(v)) }
    public static func int(_ v: Int32) -> JSON { .number(String(v)) }
    public static func uint(_ v: UInt64) -> JSON { .number(String(v)) }
    public static func uint(_ v: UInt32) -> JSON { .number(String(v)) }

    /// The member named `key` of an object, nil for other values or a missing key.
    /// A repeated key yields its last value, as Go's encoding/json (and so runc) decides:
    /// two readers of one config must never see different values.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        var found: JSON? = nil
        for m in members where m.key.bytesEqual(key) { found = m.value }
        return found
    }

    public var isNull: Bool { if case .null = self { return true }; return false }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [Member]? { if case .object(let o) = self { return o }; return nil }
    public var int64Value: Int64? { if case .number(let n) = self { return parseInt64(n) }; return nil }
    public var uint64Value: UInt64? { if case .number(let n) = self { return parseUInt64(n) }; return nil }
}

/// Builds objects in order, skipping nil values; keeps writers of JSON short.
public struct JSONObjectBuilder {
    public private(set) var members: [JSON.Member] = []
    public init() {}
    public mutating func add(_ key: String, _ value: JSON?) {
        if let value { members.append(JSON.Member(key, value)) }
    }
    public mutating func add(_ key: String, _ value: String?) {
        if let value { members.append(JSON.Member(key, .string(value))) }
    }
    public mutating func add(_ key: String, _ value: Bool?) {
        if let value { members.append(JSON.Member(key, .bool(value))) }
    }
    public mutating func add(_ key: String, _ value: Int64?) {
        if let value { members.append(JSON.Member(key, .int(value))) }
    }
    public mutating func add(_ key: String, _ value: [String]?) {
        if let value { members.append(JSON.Member(key, .array(value.map { .string($0) }))) }
    }
    public var json: JSON { .object(members) }
}
