import Base

/// A memory size as runc's `update` reads it (docker/go-units RAMInBytes): a decimal
/// number, optionally with a fraction, an optional space, then an optional unit
/// b, k, m, g, t or p (powers of 1024, any case, "kb"/"kib" forms too).
/// "-1" means unlimited. Fractions truncate to whole bytes. nil on anything else or overflow.
public func parseMemorySize(_ s: String) -> Int64? {
    if s.bytesEqual("-1") { return -1 }
    let bytes = Array(s.utf8)
    var i = 0
    var whole: UInt64 = 0
    var sawDigit = false
    while i < bytes.count, isDigit(bytes[i]) {
        let (m, o1) = whole.multipliedReportingOverflow(by: 10)
        let (r, o2) = m.addingReportingOverflow(UInt64(bytes[i] - 48))
        if o1 || o2 { return nil }
        whole = r
        sawDigit = true
        i += 1
    }
    // Up to 19 fraction digits fit a UInt64; later ones are below a byte anyway.
    var fraction: UInt64 = 0
    var fractionScale: UInt64 = 1
    if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
        i += 1
        var fractionDigits = 0
        while i < bytes.count, isDigit(bytes[i]) {
            if fractionDigits < 19 {
                fraction = fraction * 10 + UInt64(bytes[i] - 48)
                fractionScale *= 10
                fractionDigits += 1
            }
            sawDigit = true
            i += 1
        }
    }
    guard sawDigit else { return nil }
    if i < bytes.count, bytes[i] == UInt8(ascii: " ") { i += 1 }
    let suffix = bytes[i...].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
    guard let multiplier = sizeMultiplier(suffix) else { return nil }

    let (scaled, overflow) = whole.multipliedReportingOverflow(by: multiplier)
    if overflow { return nil }
    let product = fraction.multipliedFullWidth(by: multiplier)
    let fractionBytes = fractionScale.dividingFullWidth(product).quotient
    let (total, overflow2) = scaled.addingReportingOverflow(fractionBytes)
    guard !overflow2, total <= UInt64(Int64.max) else { return nil }
    return Int64(total)
}

/// "", "b", or k/m/g/t/p followed by nothing, "b" or "ib" (already lower-cased).
private func sizeMultiplier(_ suffix: [UInt8]) -> UInt64? {
    if suffix.isEmpty { return 1 }
    if suffix.count == 1, suffix[0] == UInt8(ascii: "b") { return 1 }
    let shift: UInt64
    switch suffix[0] {
    case UInt8(ascii: "k"): shift = 10
    case UInt8(ascii: "m"): shift = 20
    case UInt8(ascii: "g"): shift = 30
    case UInt8(ascii: "t"): shift = 40
    case UInt8(ascii: "p"): shift = 50
    default: return nil
    }
    let rest = suffix.dropFirst()
    let ok = rest.isEmpty
        || rest.elementsEqual([UInt8(ascii: "b")])
        || rest.elementsEqual([UInt8(ascii: "i"), UInt8(ascii: "b")])
    return ok ? 1 << shift : nil
}

/// A Go time.ParseDuration string ("5s", "100ms", "1m30s", "1.5h", "-2us", "0") as whole
/// seconds plus nanoseconds (both negative for a negative duration); nil if malformed
/// or beyond Go's ±292 years.
public func parseDuration(_ s: String) -> (seconds: Int64, nanoseconds: Int64)? {
    guard let total = parseDurationNanoseconds(s) else { return nil }
    return (total / 1_000_000_000, total % 1_000_000_000)
}

func parseDurationNanoseconds(_ s: String) -> Int64? {
    var bytes = Array(s.utf8)[...]
    var negative = false
    if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
        negative = first == UInt8(ascii: "-")
        bytes = bytes.dropFirst()
    }
    if bytes.elementsEqual([UInt8(ascii: "0")]) { return 0 }
    if bytes.isEmpty { return nil }
    // Go allows exactly 2^63 ns only when negative.
    let limit: UInt64 = negative ? 1 << 63 : UInt64(Int64.max)
    var total: UInt64 = 0
    while !bytes.isEmpty {
        var whole: UInt64 = 0
        var sawDigit = false
        while let b = bytes.first, isDigit(b) {
            let (m, o1) = whole.multipliedReportingOverflow(by: 10)
            let (r, o2) = m.addingReportingOverflow(UInt64(b - 48))
            if o1 || o2 { return nil }
            whole = r
            sawDigit = true
            bytes = bytes.dropFirst()
        }
        var fraction: UInt64 = 0
        var scale: UInt64 = 1
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            while let b = bytes.first, isDigit(b) {
                if scale < 1_000_000_000_000_000_000 {
                    fraction = fraction * 10 + UInt64(b - 48)
                    scale *= 10
                }
                sawDigit = true
                bytes = bytes.dropFirst()
            }
        }
        guard sawDigit else { return nil }
        var unitBytes: [UInt8] = []
        while let b = bytes.first, b != UInt8(ascii: "."), !isDigit(b) {
            unitBytes.append(b)
            bytes = bytes.dropFirst()
        }
        guard let unit = durationUnit(unitBytes) else { return nil }
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: unit)
        if overflow { return nil }
        let part = scale.dividingFullWidth(fraction.multipliedFullWidth(by: unit)).quotient
        let (sum1, o1) = scaled.addingReportingOverflow(part)
        let (sum2, o2) = total.addingReportingOverflow(sum1)
        if o1 || o2 || sum2 > limit { return nil }
        total = sum2
    }
    if negative { return total == 1 << 63 ? Int64.min : -Int64(total) }
    return Int64(total)
}

private func durationUnit(_ unit: [UInt8]) -> UInt64? {
    let units: [(String, UInt64)] = [
        ("ns", 1), ("us", 1_000), ("\u{00B5}s", 1_000), ("\u{03BC}s", 1_000), ("ms", 1_000_000),
        ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
    ]
    for (name, value) in units where name.utf8.elementsEqual(unit) { return value }
    return nil
}

@inline(__always) private func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
