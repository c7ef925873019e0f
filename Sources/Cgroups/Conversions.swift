import Base

/// The OCI resources are cgroup v1 values; these are the conversions runc (and crun) use on
/// cgroup v2, so a config means the same under every runtime.
public enum CgroupConversion {
    /// cpu.shares [2, 262144] to cpu.weight [1, 10000], 0 meaning unset. The quadratic in
    /// log2(shares) that maps 2 -> 1, 1024 -> 100 (both defaults) and 262144 -> 10000, as in
    /// current runc/crun (the older linear formula turned the default 1024 into 39).
    public static func cpuWeight(fromShares shares: UInt64) -> UInt64 {
        if shares == 0 { return 0 }
        if shares <= 2 { return 1 }
        if shares >= 262_144 { return 10_000 }
        let l = log2(Double(shares))
        let exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0
        return UInt64(pow10(exponent).rounded(.up))
    }

    /// blkio.weight [10, 1000] to io.weight [1, 10000].
    public static func ioWeight(fromBlkioWeight w: UInt16) -> UInt64 {
        if w == 0 { return 0 }
        if w <= 10 { return 1 }
        return 1 + (UInt64(w) - 10) * 9999 / 990
    }

    /// OCI memory.swap is memory+swap (v1's memsw); v2's memory.swap.max is swap alone.
    /// Returns nil when nothing should be written, -1 for "max".
    public static func swapMax(swap: Int64?, memory: Int64?) throws(SwiftletError) -> Int64? {
        let memory = memory ?? 0
        let swap = swap ?? 0
        // Unlimited memory with swap unset means both unlimited, as v1 behaves.
        if memory == -1 && swap == 0 { return -1 }
        if swap == 0 { return nil }
        if swap == -1 { return -1 }
        if memory == 0 || memory == -1 {
            throw SwiftletError(.cgroups, "linux.resources.memory.swap: unable to set swap limit without memory limit")
        }
        if memory < 0 { throw SwiftletError(.cgroups, "linux.resources.memory.limit: invalid value " + String(memory)) }
        if swap < memory {
            throw SwiftletError(.cgroups, "linux.resources.memory.swap: memory+swap limit should be >= memory limit")
        }
        return swap - memory
    }
}

// Natural log and powers of ten without libm (Embedded links no Foundation and no libm here).
// Precise to a few ulps, plenty for rounding a weight up to an integer.

private let ln2 = 0.693147180559945309417232121458
private let ln10 = 2.302585092994045684017991454684

func log2(_ x: Double) -> Double {
    precondition(x > 0)
    // x = m * 2^e with m in [1, 2); move m to [sqrt(1/2), sqrt(2)) for a fast series.
    var e = Double(Int(x.exponent))
    var m = x.significand
    if m > 1.4142135623730951 { m /= 2; e += 1 }
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172.
    let s = (m - 1) / (m + 1)
    let s2 = s * s
    var term = s
    var sum = 0.0
    var k = 1.0
    while k < 40 {
        sum += term / k
        term *= s2
        k += 2
    }
    return e + (2 * sum) / ln2
}

func pow10(_ y: Double) -> Double {
    // Whole powers are exact (1024 shares gives exactly 10^2; a series would land an ulp above).
    if y == y.rounded(), abs(y) <= 22 {
        var v = 1.0
        for _ in 0..<Int(abs(y)) { v *= 10 }
        return y < 0 ? 1 / v : v
    }
    // 10^y = e^(y ln 10) = 2^n * e^r with |r| <= ln2/2.
    let t = y * ln10
    let n = (t / ln2).rounded()
    let r = t - n * ln2
    var term = 1.0
    var sum = 1.0
    var k = 1.0
    while k < 30 {
        term *= r / k
        sum += term
        k += 1
    }
    if n == 0 { return sum }
    return Double(sign: .plus, exponent: Int(n), significand: sum)
}
