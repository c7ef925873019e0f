/// Small string helpers that Foundation would otherwise provide.
/// They work on UTF-8 bytes so the Embedded build needs no Unicode tables for them.

extension String {
    /// Splits on a single ASCII byte; keeps empty fields.
    public func split(byte: UInt8) -> [String] {
        var parts: [String] = []
        var current: [UInt8] = []
        for b in utf8 {
            if b == byte {
                parts.append(String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
            } else {
                current.append(b)
            }
        }
        parts.append(String(decoding: current, as: UTF8.self))
        return parts
    }

    /// Byte-wise prefix test (no Unicode normalisation).
    public func hasBytePrefix(_ prefix: String) -> Bool {
        var a = utf8.makeIterator()
        for b in prefix.utf8 {
            guard let x = a.next(), x == b else { return false }
        }
        return true
    }

    public func hasByteSuffix(_ suffix: String) -> Bool {
        let n = suffix.utf8.count
        guard utf8.count >= n else { return false }
        return utf8.suffix(n).elementsEqual(suffix.utf8)
    }

    /// Byte-wise equality (no Unicode normalisation, so no Unicode tables in Embedded).
    @inline(never)  // one copy: it is called from everywhere, and inlined copies cost 30 KB
    public func bytesEqual(_ other: String) -> Bool {
        // The lengths are known without a scan and settle most lookups by key.
        utf8.count == other.utf8.count && utf8.elementsEqual(other.utf8)
    }

    /// Drops ASCII white space at both ends.
    public func trimmed() -> String {
        let bytes = Array(utf8)
        var start = 0
        var end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// The part after the first `byte`, and before it; nil if absent.
    public func splitOnce(byte: UInt8) -> (String, String)? {
        let bytes = Array(utf8)
        guard let i = bytes.firstIndex(of: byte) else { return nil }
        return (String(decoding: bytes[..<i], as: UTF8.self),
                String(decoding: bytes[(i + 1)...], as: UTF8.self))
    }

    public func containsByte(_ byte: UInt8) -> Bool { utf8.contains(byte) }

    /// The text from the first occurrence of `needle` on (bytes compared), or nil.
    public func suffix(from needle: String) -> String? {
        let hay = Array(utf8), pin = Array(needle.utf8)
        guard !pin.isEmpty, hay.count >= pin.count else { return nil }
        for i in 0...(hay.count - pin.count) where hay[i] == pin[0] && Array(hay[i..<(i + pin.count)]) == pin {
            return String(decoding: hay[i...], as: UTF8.self)
        }
        return nil
    }
}

@inline(__always) func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 10 || b == 13 }

/// Joins strings with a separator (Array interpolation does not print in Embedded Swift).
/// Space-separated words (cgroup.controllers, a line of ps(1) output).
public func words(_ text: String) -> [String] {
    var out: [String] = []
    for line in text.split(byte: 10) {
        for w in line.split(byte: 32) where !w.isEmpty { out.append(w.trimmed()) }
    }
    return out.filter { !$0.isEmpty }
}

public func join(_ parts: [String], _ separator: String) -> String {
    var out = ""
    for (i, p) in parts.enumerated() {
        if i > 0 { out += separator }
        out += p
    }
    return out
}

/// Parses a decimal integer (optional sign), rejecting anything else and overflow.
public func parseInt64(_ s: String) -> Int64? {
    var bytes = Array(s.utf8)[...]
    var negative = false
    if let f = bytes.first, f == 45 || f == 43 { negative = f == 45; bytes = bytes.dropFirst() }
    guard !bytes.isEmpty else { return nil }
    var value: Int64 = 0
    for b in bytes {
        guard b >= 48, b <= 57 else { return nil }
        let d = Int64(b - 48)
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (r, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
        if o1 || o2 { return nil }
        value = r
    }
    return value
}

public func parseUInt64(_ s: String) -> UInt64? {
    let bytes = Array(s.utf8)
    guard !bytes.isEmpty else { return nil }
    var value: UInt64 = 0
    for b in bytes {
        guard b >= 48, b <= 57 else { return nil }
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (r, o2) = m.addingReportingOverflow(UInt64(b - 48))
        if o1 || o2 { return nil }
        value = r
    }
    return value
}

public func parseInt(_ s: String) -> Int? {
    guard let v = parseInt64(s) else { return nil }
    return Int(exactly: v)
}

/// Octal, for modes such as "0755".
public func parseOctal(_ s: String) -> UInt32? {
    let bytes = Array(s.utf8)
    guard !bytes.isEmpty, bytes.count <= 11 else { return nil }
    var v: UInt32 = 0
    for b in bytes {
        guard b >= 48, b <= 55 else { return nil }
        v = v &* 8 &+ UInt32(b - 48)
    }
    return v
}

/// Octal digits of `value`, zero-padded to `width` ("%04o" is width 4).
public func octal(_ value: UInt32, width: Int = 0) -> String {
    var digits: [UInt8] = []
    var v = value
    repeat { digits.append(UInt8(48 + v & 7)); v >>= 3 } while v != 0
    while digits.count < width { digits.append(48) }
    return String(decoding: digits.reversed(), as: UTF8.self)
}

/// Lower-case hex of a byte string, e.g. for ids.
public func hex(_ value: UInt64, width: Int = 0) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    var v = value
    repeat { out.append(digits[Int(v & 15)]); v >>= 4 } while v != 0
    while out.count < width { out.append(48) }
    return String(decoding: out.reversed(), as: UTF8.self)
}

/// Writes a JSON string literal, escaping what RFC 8259 requires.
public func writeString(_ out: inout [UInt8], _ s: String) {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    out.append(0x22)
    for c in s.utf8 {
        switch c {
        case 0x22: out.append(0x5C); out.append(0x22)
        case 0x5C: out.append(0x5C); out.append(0x5C)
        case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
        case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
        case 0..<0x20:
            out.append(contentsOf: "\\u00".utf8)
            out.append(digits[Int(c >> 4)])
            out.append(digits[Int(c & 15)])
        default: out.append(c)
        }
    }
    out.append(0x22)
}

/// A JSON string literal for `s`, quotes included: also the one quoter of outside text
/// (paths, names, values from a config) in messages, so a control byte in it cannot split a
/// one-line error or forge a second line.
public func jsonQuoted(_ s: String) -> String {
    var out: [UInt8] = []
    writeString(&out, s)
    return String(decoding: out, as: UTF8.self)
}
