import Base
import CLinux
import JSON

/// What one container's decisions may put in the log, so that a container making the
/// same call in a loop cannot flood it. Per window of `windowNS`, each distinct decision
/// (the log record without time and pid) is logged `burst` times and then only counted;
/// at most `linesPerWindow` decision lines are logged in all, the rest counted. When the
/// window ends (or the container detaches) every counted decision becomes one "repeated"
/// line with its count, and the uncounted rest one "suppressed" line.
struct DecisionThrottle {
    static let windowNS: Int64 = 1_000_000_000
    static let burst = 5
    static let linesPerWindow = 100

    struct Seen {
        var record: [JSON.Member]
        var logged: Int
        var repeated: Int
    }

    var windowStart: Int64 = 0
    var lines = 0
    /// Distinct decisions past the line budget: too many to keep each one.
    var suppressed = 0
    var seen: [Seen] = []
    /// FNV-1a of each seen decision's serialized form, and that form: a linear search of
    /// at most linesPerWindow hashes per call.
    var hashes: [UInt64] = []
    var signatures: [String] = []

    /// Whether a line is pending for the end of the window.
    var hasSummary: Bool { suppressed > 0 || seen.contains { $0.repeated > 0 } }

    func windowEnded(at now: Int64) -> Bool { now - windowStart >= DecisionThrottle.windowNS }

    /// True when the decision is to be logged now; otherwise it is counted.
    mutating func admit(_ record: JSONObjectBuilder, at now: Int64) -> Bool {
        if seen.isEmpty && suppressed == 0 { windowStart = now }
        var identity: [JSON.Member] = []
        for m in record.members where !m.key.bytesEqual("pid") { identity.append(m) }
        let signature = JSON.object(identity).serialized()
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in signature.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        if let k = hashes.indices.first(where: { hashes[$0] == hash && signatures[$0].bytesEqual(signature) }) {
            if seen[k].logged < DecisionThrottle.burst && lines < DecisionThrottle.linesPerWindow {
                seen[k].logged += 1
                lines += 1
                return true
            }
            seen[k].repeated += 1
            return false
        }
        if lines >= DecisionThrottle.linesPerWindow {
            suppressed += 1
            return false
        }
        hashes.append(hash)
        signatures.append(signature)
        seen.append(Seen(record: identity, logged: 1, repeated: 0))
        lines += 1
        return true
    }

    /// The summary lines of the window, and a fresh window.
    mutating func close(container: String) -> [JSONObjectBuilder] {
        var out: [JSONObjectBuilder] = []
        for s in seen where s.repeated > 0 {
            var b = JSONObjectBuilder()
            b.add("event", "repeated")
            b.add("times", .int(Int64(s.repeated)))
            for m in s.record { b.add(m.key, m.value) }
            out.append(b)
        }
        if suppressed > 0 {
            var b = JSONObjectBuilder()
            b.add("event", "suppressed")
            b.add("container", container)
            b.add("decisions", .int(Int64(suppressed)))
            b.add("reason", "more than " + String(DecisionThrottle.linesPerWindow) + " decision lines in a second")
            out.append(b)
        }
        self = DecisionThrottle()
        return out
    }
}
