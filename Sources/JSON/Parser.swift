import Base

extension JSON {
    /// Parses one JSON document (RFC 8259). `source` names the input in errors,
    /// e.g. "config.json: line 3 column 7: expected ':'".
    public static func parse(_ text: String, source: String = "json") throws(SwiftletError) -> JSON {
        var bytes = Array(text.utf8)
        return try bytes.withUnsafeMutableBufferPointer { (buf) throws(SwiftletError) -> JSON in
            var p = Parser(UnsafeBufferPointer(buf), source: source)
            return try p.document()
        }
    }

    public static func parse(bytes: [UInt8], source: String = "json") throws(SwiftletError) -> JSON {
        try bytes.withUnsafeBufferPointer { (buf) throws(SwiftletError) -> JSON in
            var p = Parser(buf, source: source)
            return try p.document()
        }
    }
}

/// Nesting limit: deep enough for any real config, shallow enough that hostile input
/// cannot exhaust the stack.
let maxDepth = 512

struct Parser {
    let b: UnsafeBufferPointer<UInt8>
    var i = 0
    let source: String
    var depth = 0

    init(_ b: UnsafeBufferPointer<UInt8>, source: String) {
        self.b = b
        self.source = source
    }

    func fail(_ what: String) -> SwiftletError {
        var line = 1
        var column = 1
        var k = 0
        while k < i && k < b.count {
            if b[k] == 10 { line += 1; column = 1 } else { column += 1 }
            k += 1
        }
        return SwiftletError(.json, source + ": line " + String(line) + " column " + String(column) + ": " + what)
    }

    mutating func document() throws(SwiftletError) -> JSON {
        skipSpace()
        let v = try value()
        skipSpace()
        if i != b.count { throw fail("unexpected data after the JSON value") }
        return v
    }

    mutating func skipSpace() {
        while i < b.count {
            let c = b[i]
            if c == 32 || c == 9 || c == 10 || c == 13 { i += 1 } else { return }
        }
    }

    mutating func value() throws(SwiftletError) -> JSON {
        guard i < b.count else { throw fail("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(SwiftletError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw fail("invalid literal") }
        let w = word.utf8Start
        for k in 0..<n where b[i + k] != w[k] { throw fail("invalid literal") }
        i += n
    }

    mutating func enter() throws(SwiftletError) {
        depth += 1
        if depth > maxDepth { throw fail("nesting deeper than " + String(maxDepth)) }
    }

    mutating func object() throws(SwiftletError) -> JSON {
        try enter()
        i += 1
        var members: [JSON.Member] = []
        skipSpace()
        if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; depth -= 1; return .object(members) }
        while true {
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try string()
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            skipSpace()
            let v = try value()
            members.append(JSON.Member(key, v))
            skipSpace()
            guard i < b.count else { throw fail("unexpected end of input in object") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; break }
            throw fail("expected ',' or '}'")
        }
        depth -= 1
        return .object(members)
    }

    mutating func array() throws(SwiftletError) -> JSON {
        try enter()
        i += 1
        var items: [JSON] = []
        skipSpace()
        if i < b.count && b[i] == UInt8(ascii: "]") { i += 1; depth -= 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value())
            skipSpace()
            guard i < b.count else { throw fail("unexpected end of input in array") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; break }
            throw fail("expected ',' or ']'")
        }
        depth -= 1
        return .array(items)
    }

    mutating func number() throws(SwiftletError) -> JSON {
        let start = i
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count, isDigit(b[i]) else { throw fail("invalid number") }
        if b[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < b.count, isDigit(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard i < b.count, isDigit(b[i]) else { throw fail("invalid number") }
            while i < b.count, isDigit(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, isDigit(b[i]) else { throw fail("invalid number") }
            while i < b.count, isDigit(b[i]) { i += 1 }
        }
        return .number(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self))
    }

    mutating func hex4() throws(SwiftletError) -> UInt32 {
        guard i + 4 <= b.count else { throw fail("invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw fail("invalid \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    mutating func string() throws(SwiftletError) -> String {
        i += 1
        // Most strings have no escapes: take them straight from the input.
        let start = i
        var ascii = true
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: b[start..<i])
                i += 1
                if ascii { return String(decoding: raw, as: UTF8.self) }
                guard let s = String(validating: raw, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
                return s
            }
            if c == UInt8(ascii: "\\") || c < 0x20 { break }
            if c >= 0x80 { ascii = false }
            i += 1
        }
        var out = Array(b[start..<i])
        while true {
            guard i < b.count else { throw fail("unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw fail("control character in string") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < b.count else { throw fail("unterminated string") }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard i + 6 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw fail("unpaired surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw fail("unpaired surrogate in \\u escape")
                }
                appendUTF8(&out, scalar)
            default:
                throw fail("invalid escape")
            }
        }
        // Reject invalid UTF-8 rather than silently repairing it.
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
        return s
    }
}

@inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

func appendUTF8(_ out: inout [UInt8], _ s: UInt32) {
    if s < 0x80 {
        out.append(UInt8(s))
    } else if s < 0x800 {
        out.append(UInt8(0xC0 | (s >> 6)))
        out.append(UInt8(0x80 | (s & 0x3F)))
    } else if s < 0x10000 {
        out.append(UInt8(0xE0 | (s >> 12)))
        out.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (s & 0x3F)))
    } else {
        out.append(UInt8(0xF0 | (s >> 18)))
        out.append(UInt8(0x80 | ((s >> 12) & 0x3F)))
        out.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (s & 0x3F)))
    }
}
