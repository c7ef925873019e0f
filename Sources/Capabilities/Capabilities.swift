import Base
import CLinux
import OCISpec
import Syscalls

/// The number of a capability name. Like libcap's cap_from_name, case does not matter;
/// the "CAP_" prefix may also be left out ("chown").
public func capabilityNumber(_ name: String) -> Int32? {
    var wanted = Array(name.utf8)
    for i in wanted.indices where wanted[i] >= 97 && wanted[i] <= 122 { wanted[i] -= 32 }
    let prefix: [UInt8] = Array("CAP_".utf8)
    if !(wanted.count > 4 && Array(wanted[0..<4]) == prefix) { wanted = prefix + wanted }
    for (i, known) in knownCapabilityNames.enumerated() where known.utf8.elementsEqual(wanted) {
        return Int32(i)
    }
    return nil
}

public func capabilityName(_ number: Int32) -> String? {
    guard number >= 0, Int(number) < knownCapabilityNames.count else { return nil }
    return knownCapabilityNames[Int(number)]
}

/// One capability set as the kernel stores it: bit n is capability n.
public struct CapabilitySet: Equatable, Sendable {
    public var bits: UInt64
    public init(bits: UInt64 = 0) { self.bits = bits }

    public static let empty = CapabilitySet()

    /// Every capability from 0 to `last` inclusive.
    public static func all(upTo last: Int32) -> CapabilitySet {
        if last >= 63 { return CapabilitySet(bits: ~0) }
        if last < 0 { return .empty }
        return CapabilitySet(bits: (UInt64(1) << UInt64(last + 1)) &- 1)
    }

    public func contains(_ cap: Int32) -> Bool {
        cap >= 0 && cap < 64 && bits & (UInt64(1) << UInt64(cap)) != 0
    }

    public mutating func insert(_ cap: Int32) {
        if cap >= 0 && cap < 64 { bits |= UInt64(1) << UInt64(cap) }
    }

    public mutating func remove(_ cap: Int32) {
        if cap >= 0 && cap < 64 { bits &= ~(UInt64(1) << UInt64(cap)) }
    }

    /// Only the capabilities this kernel knows (0...last).
    public func limited(to last: Int32) -> CapabilitySet {
        CapabilitySet(bits: bits & CapabilitySet.all(upTo: last).bits)
    }

    public var isEmpty: Bool { bits == 0 }

    /// The names in the set, in kernel order; unnamed bits as "CAP_<n>".
    public var names: [String] {
        var out: [String] = []
        for n in Int32(0)..<64 where contains(n) {
            out.append(capabilityName(n) ?? "CAP_" + String(n))
        }
        return out
    }
}

/// The five capability sets of process.capabilities, as numbers.
public struct ProcessCapabilities: Equatable, Sendable {
    public var bounding: CapabilitySet
    public var effective: CapabilitySet
    public var inheritable: CapabilitySet
    public var permitted: CapabilitySet
    public var ambient: CapabilitySet

    public init(bounding: CapabilitySet = .empty, effective: CapabilitySet = .empty,
                inheritable: CapabilitySet = .empty, permitted: CapabilitySet = .empty,
                ambient: CapabilitySet = .empty) {
        self.bounding = bounding
        self.effective = effective
        self.inheritable = inheritable
        self.permitted = permitted
        self.ambient = ambient
    }
}

/// Maps capability names to a set; `field` names the config field in the error.
/// An unknown name is an error (as in crun): config.md only asks for a warning, but a
/// typo silently granting less (or, in the bounding set, more) than intended is worse
/// than a failed start. Names the table knows but this kernel does not are accepted and
/// dropped when the sets are applied.
public func parseCapabilitySet(_ names: [String], field: String) throws(SwiftletError) -> CapabilitySet {
    var result = CapabilitySet()
    for name in names {
        guard let n = capabilityNumber(name) else {
            throw SwiftletError(.capabilities, field + ": unknown capability \"" + name + "\"", errno: EINVAL)
        }
        result.insert(n)
    }
    return result
}

/// The highest capability number the running kernel supports, read once per process (the
/// kernel's number does not change, and a forked child inherits it): a container's init asks
/// before it waits for `start`, so the way from `start` to the process reads nothing.
public func lastCapability() -> Int32 { kernelLastCapability }

private let kernelLastCapability = readLastCapability()

/// /proc/sys/kernel/cap_last_cap; if that cannot be read, probes the bounding set
/// (PR_CAPBSET_READ fails with EINVAL past the last one).
private func readLastCapability() -> Int32 {
    if let text = try? readTextFile("/proc/sys/kernel/cap_last_cap", stage: .capabilities),
       let n = parseInt(text.trimmed()), n >= 0, n < 64 {
        return Int32(n)
    }
    var last: Int32 = -1
    while last < 63, cl_prctl(PR_CAPBSET_READ, UInt(last + 1), 0, 0, 0) >= 0 { last += 1 }
    return last >= 0 ? last : Int32(knownCapabilityNames.count - 1)
}

/// The capability state of the calling thread, read back from the kernel.
public struct CurrentCapabilities: Equatable, Sendable {
    public var effective: CapabilitySet
    public var permitted: CapabilitySet
    public var inheritable: CapabilitySet
    public var bounding: CapabilitySet
    public var ambient: CapabilitySet
}

/// Direct calls on the kernel's capability interfaces for the calling thread.
public enum CapabilityOps {
    public static func current() throws(SwiftletError) -> CurrentCapabilities {
        var e: UInt64 = 0, p: UInt64 = 0, i: UInt64 = 0
        if cl_capget(&e, &p, &i) != 0 { throw .system(.capabilities, "capget") }
        let last = lastCapability()
        var bounding = CapabilitySet()
        var ambient = CapabilitySet()
        for n in Int32(0)...last {
            if cl_prctl(PR_CAPBSET_READ, UInt(n), 0, 0, 0) == 1 { bounding.insert(n) }
            if cl_prctl(PR_CAP_AMBIENT, UInt(PR_CAP_AMBIENT_IS_SET), UInt(n), 0, 0) == 1 { ambient.insert(n) }
        }
        return CurrentCapabilities(effective: CapabilitySet(bits: e), permitted: CapabilitySet(bits: p),
                                   inheritable: CapabilitySet(bits: i), bounding: bounding, ambient: ambient)
    }

    /// Drops from the bounding set every capability up to `last` that `keep` lacks.
    /// Needs CAP_SETPCAP; EINVAL (a capability this kernel lacks) is not an error.
    public static func limitBoundingSet(to keep: CapabilitySet, last: Int32) throws(SwiftletError) {
        guard last >= 0 else { return }
        for n in Int32(0)...last where !keep.contains(n) {
            if cl_prctl(PR_CAPBSET_DROP, UInt(n), 0, 0, 0) != 0 && cl_errno() != EINVAL {
                throw .system(.capabilities, "drop " + (capabilityName(n) ?? String(n)) + " from the bounding set")
            }
        }
    }

    /// capset(2) of the effective, permitted and inheritable sets in one call.
    public static func set(effective: CapabilitySet, permitted: CapabilitySet,
                           inheritable: CapabilitySet) throws(SwiftletError) {
        if cl_capset(effective.bits, permitted.bits, inheritable.bits) != 0 {
            throw .system(.capabilities, "capset")
        }
    }

    /// Clears the ambient set, then raises each capability of `ambient`. The kernel only
    /// allows capabilities that are both permitted and inheritable; those it refuses are
    /// returned (runc and crun only warn about them) rather than failing the start.
    public static func setAmbient(_ ambient: CapabilitySet, permitted: CapabilitySet, inheritable: CapabilitySet,
                                  last: Int32) throws(SwiftletError) -> [String] {
        if cl_prctl(PR_CAP_AMBIENT, UInt(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0) != 0 && cl_errno() != EINVAL {
            throw .system(.capabilities, "clear the ambient capabilities")
        }
        var refused: [String] = []
        guard last >= 0 else { return refused }
        for n in Int32(0)...last where ambient.contains(n) {
            // The kernel raises only what is both permitted and inheritable: the rest is refused
            // without asking it (a system call each; a guest round trip each in the UML tier).
            let allowed = permitted.contains(n) && inheritable.contains(n)
            if allowed && cl_prctl(PR_CAP_AMBIENT, UInt(PR_CAP_AMBIENT_RAISE), UInt(n), 0, 0) == 0 { continue }
            if allowed {
                let e = cl_errno()
                guard e == EPERM || e == EINVAL else {
                    throw .system(.capabilities, "raise ambient " + (capabilityName(n) ?? String(n)))
                }
            }
            refused.append(capabilityName(n) ?? String(n))
        }
        return refused
    }

    public static func setKeepCapabilities(_ on: Bool) throws(SwiftletError) {
        if cl_prctl(PR_SET_KEEPCAPS, on ? 1 : 0, 0, 0, 0) != 0 {
            throw .system(.capabilities, on ? "prctl(PR_SET_KEEPCAPS)" : "prctl(PR_SET_KEEPCAPS, 0)")
        }
    }
}
