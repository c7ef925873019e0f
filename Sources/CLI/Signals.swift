import Base

/// Linux signal numbers (x86-64 and arm64 share them), without the "SIG" prefix.
/// Aliases follow their primary name so that `signalName` finds the primary one first.
private let signalTable: [(name: String, number: Int32)] = [
    ("HUP", 1), ("INT", 2), ("QUIT", 3), ("ILL", 4), ("TRAP", 5), ("ABRT", 6), ("IOT", 6),
    ("BUS", 7), ("FPE", 8), ("KILL", 9), ("USR1", 10), ("SEGV", 11), ("USR2", 12),
    ("PIPE", 13), ("ALRM", 14), ("TERM", 15), ("STKFLT", 16), ("CHLD", 17), ("CLD", 17),
    ("CONT", 18), ("STOP", 19), ("TSTP", 20), ("TTIN", 21), ("TTOU", 22), ("URG", 23),
    ("XCPU", 24), ("XFSZ", 25), ("VTALRM", 26), ("PROF", 27), ("WINCH", 28), ("IO", 29),
    ("POLL", 29), ("PWR", 30), ("SYS", 31),
]

/// glibc reserves 32 and 33 for itself, so programs see SIGRTMIN as 34.
private let rtMin: Int32 = 34
private let rtMax: Int32 = 64

/// The signal number for a name ("KILL", "SIGKILL", "kill", "RTMIN+3", "SIGRTMAX-1")
/// or a decimal number (0...64); nil if it is neither.
public func signalNumber(_ s: String) -> Int32? {
    if let n = parseInt64(s) {
        guard n >= 0, n <= Int64(rtMax) else { return nil }
        return Int32(n)
    }
    var name = asciiUppercased(s)
    if name.hasBytePrefix("SIG") { name = String(decoding: Array(name.utf8).dropFirst(3), as: UTF8.self) }
    for entry in signalTable where entry.name.bytesEqual(name) { return entry.number }
    if let n = realtimeSignal(name, base: "RTMIN", origin: rtMin, direction: 1) { return n }
    if let n = realtimeSignal(name, base: "RTMAX", origin: rtMax, direction: -1) { return n }
    return nil
}

/// "SIGKILL" for 9, "SIGRTMIN+3" for 37; nil outside 1...64 (and for 32, 33).
public func signalName(_ number: Int32) -> String? {
    for entry in signalTable where entry.number == number { return "SIG" + entry.name }
    if number >= rtMin, number <= rtMax {
        let offset = number - rtMin
        if offset == 0 { return "SIGRTMIN" }
        if number == rtMax { return "SIGRTMAX" }
        return "SIGRTMIN+" + String(offset)
    }
    return nil
}

/// "RTMIN", "RTMIN+n" (towards RTMAX) or "RTMAX", "RTMAX-n" (towards RTMIN).
private func realtimeSignal(_ name: String, base: String, origin: Int32, direction: Int32) -> Int32? {
    guard name.hasBytePrefix(base) else { return nil }
    let rest = Array(name.utf8).dropFirst(base.utf8.count)
    if rest.isEmpty { return origin }
    let sign = direction > 0 ? UInt8(ascii: "+") : UInt8(ascii: "-")
    guard rest.first == sign else { return nil }
    guard let offset = parseUInt64(String(decoding: rest.dropFirst(), as: UTF8.self)),
          offset <= UInt64(rtMax - rtMin) else { return nil }
    return origin + direction * Int32(offset)
}

func asciiUppercased(_ s: String) -> String {
    String(decoding: s.utf8.map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 }, as: UTF8.self)
}
