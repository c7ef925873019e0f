import Base
import OCISpec

/// Access bits as both the v1 devices controller and BPF_PROG_TYPE_CGROUP_DEVICE number them.
public enum DeviceAccess {
    public static let mknod: UInt8 = 1
    public static let read: UInt8 = 2
    public static let write: UInt8 = 4
    public static let all: UInt8 = 7

    /// "rwm" letters to bits; nil for anything else.
    public static func parse(_ text: String) -> UInt8? {
        var bits: UInt8 = 0
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "r"): bits |= read
            case UInt8(ascii: "w"): bits |= write
            case UInt8(ascii: "m"): bits |= mknod
            default: return nil
            }
        }
        return bits
    }

    public static func text(_ bits: UInt8) -> String {
        var s = ""
        if bits & read != 0 { s += "r" }
        if bits & write != 0 { s += "w" }
        if bits & mknod != 0 { s += "m" }
        return s
    }
}

/// Device kinds as the kernel numbers them (DEVCG_DEV_BLOCK/CHAR = BPF_DEVCG_DEV_BLOCK/CHAR).
public enum DeviceKind: UInt8, Sendable {
    case block = 1
    case char = 2

    var letter: String { self == .block ? "b" : "c" }
}

/// One exception of a device cgroup: a device pattern and the access it grants (in a deny-by-
/// default policy) or refuses (in an allow-by-default one).
public struct DeviceException: Equatable, Sendable {
    /// nil matches both kinds.
    public var kind: DeviceKind?
    /// nil is the wildcard "*".
    public var major: UInt32?
    public var minor: UInt32?
    public var access: UInt8

    public init(kind: DeviceKind?, major: UInt32?, minor: UInt32?, access: UInt8) {
        self.kind = kind; self.major = major; self.minor = minor; self.access = access
    }

    func samePattern(_ o: DeviceException) -> Bool { kind == o.kind && major == o.major && minor == o.minor }

    /// "c 1:3 rwm", the line devices.allow/deny/list use.
    public var v1Line: String {
        let k = kind?.letter ?? "a"
        let ma = major.map { String($0) } ?? "*"
        let mi = minor.map { String($0) } ?? "*"
        return k + " " + ma + ":" + mi + " " + DeviceAccess.text(access)
    }

    func matchesDevice(_ k: DeviceKind, _ ma: UInt32, _ mi: UInt32) -> Bool {
        (kind == nil || kind == k) && (major == nil || major == ma) && (minor == nil || minor == mi)
    }
}

/// What a list of OCI device rules amounts to, computed exactly as the v1 devices controller
/// would after receiving them one by one: a default and a list of exceptions. The same value
/// drives v1 (devices.allow/deny writes) and v2 (a generated BPF program), so both versions
/// enforce the same thing.
///
/// Kernel semantics (security/device_cgroup.c): a rule of type "a" switches the default and
/// clears the exceptions whatever its major/minor/access; any other rule with the default's
/// verdict removes access bits from the exception with the very same pattern, with the other
/// verdict adds (merges) an exception.
public struct DevicePolicy: Equatable, Sendable {
    public var defaultAllow: Bool
    public var exceptions: [DeviceException]

    public init(defaultAllow: Bool, exceptions: [DeviceException]) {
        self.defaultAllow = defaultAllow
        self.exceptions = exceptions
    }

    /// Applies `rules` in order to a cgroup that starts denying everything (what runc does,
    /// so a config without rules still gets only what is allowed explicitly).
    public init(rules: [DeviceCgroupRule]) throws(SwiftletError) {
        self.init(defaultAllow: false, exceptions: [])
        for rule in rules { try apply(rule) }
    }

    public mutating func apply(_ rule: DeviceCgroupRule) throws(SwiftletError) {
        let access: UInt8
        if let a = rule.access {
            guard let bits = DeviceAccess.parse(a) else {
                throw SwiftletError(.cgroups, "linux.resources.devices: invalid access \"" + a + "\"")
            }
            access = bits
        } else {
            access = DeviceAccess.all
        }
        let type = rule.type ?? "a"
        let kind: DeviceKind
        if type.bytesEqual("a") {
            defaultAllow = rule.allow
            exceptions = []
            return
        } else if type.bytesEqual("c") {
            kind = .char
        } else if type.bytesEqual("b") {
            kind = .block
        } else {
            throw SwiftletError(.cgroups, "linux.resources.devices: invalid type \"" + type + "\"")
        }
        if access == 0 { return }
        let ex = DeviceException(kind: kind, major: try number(rule.major, "major"), minor: try number(rule.minor, "minor"),
                                 access: access)
        if rule.allow == defaultAllow {
            remove(ex)
        } else {
            add(ex)
        }
    }

    private func number(_ v: Int64?, _ what: String) throws(SwiftletError) -> UInt32? {
        guard let v, v != -1 else { return nil }
        // ~0 is the kernel's wildcard; real numbers are far below it.
        guard v >= 0, v < Int64(UInt32.max) else {
            throw SwiftletError(.cgroups, "linux.resources.devices: invalid " + what + " " + String(v))
        }
        return UInt32(v)
    }

    mutating func add(_ ex: DeviceException) {
        if let i = exceptions.firstIndex(where: { $0.samePattern(ex) }) {
            exceptions[i].access |= ex.access
        } else {
            exceptions.append(ex)
        }
    }

    mutating func remove(_ ex: DeviceException) {
        for i in exceptions.indices where exceptions[i].samePattern(ex) {
            exceptions[i].access &= ~ex.access
        }
        exceptions.removeAll { $0.access == 0 }
    }

    /// The kernel's verdict for opening (r/w) or creating (m) one device.
    public func allows(_ kind: DeviceKind, major: UInt32, minor: UInt32, access: UInt8) -> Bool {
        if defaultAllow {
            // Refused if any exception covers even part of the access.
            return !exceptions.contains { $0.matchesDevice(kind, major, minor) && $0.access & access != 0 }
        }
        // Allowed only if one exception grants all of it.
        return exceptions.contains { $0.matchesDevice(kind, major, minor) && access & ~$0.access == 0 }
    }
}

extension DevicePolicy {
    /// The devices every container may use, as runc allows them: mknod of any device (creating
    /// a node is harmless without read/write), /dev/null, zero, full, random, urandom, tty,
    /// the pty master and slaves, and /dev/net/tun.
    public static let defaultRules: [DeviceCgroupRule] = {
        func rule(_ type: String, _ major: Int64?, _ minor: Int64?, _ access: String) -> DeviceCgroupRule {
            var r = DeviceCgroupRule(allow: true)
            r.type = type; r.major = major; r.minor = minor; r.access = access
            return r
        }
        return [
            rule("c", nil, nil, "m"), rule("b", nil, nil, "m"),
            rule("c", 1, 3, "rwm"), rule("c", 1, 8, "rwm"), rule("c", 1, 7, "rwm"),
            rule("c", 5, 0, "rwm"), rule("c", 1, 5, "rwm"), rule("c", 1, 9, "rwm"),
            rule("c", 136, nil, "rwm"), rule("c", 5, 2, "rwm"), rule("c", 10, 200, "rwm"),
        ]
    }()

    /// The rules to apply for a container: deny everything, then the config's rules, then
    /// runc's default devices. The config cannot take the defaults away, as with runc; the
    /// nodes of linux.devices get no rule of their own, so the config's rules decide whether
    /// they may be opened (a config that denies everything keeps /dev/kmsg closed even when it
    /// lists the node).
    public static func containerRules(_ configured: [DeviceCgroupRule]) -> [DeviceCgroupRule] {
        var deny = DeviceCgroupRule(allow: false)
        deny.access = "rwm"
        var rules = [deny]
        rules.append(contentsOf: configured)
        rules.append(contentsOf: defaultRules)
        return rules
    }

    /// Parses devices.list: "a *:* rwm" alone means allow-by-default (its exceptions are not
    /// shown by the kernel); otherwise the listed lines are the exceptions of a deny default.
    static func parseV1List(_ text: String) -> DevicePolicy {
        var policy = DevicePolicy(defaultAllow: false, exceptions: [])
        for line in text.split(byte: 10) {
            let fields = line.trimmed().split(byte: 32)
            guard fields.count == 3, let (ma, mi) = fields[1].splitOnce(byte: 58),
                  let access = DeviceAccess.parse(fields[2]) else { continue }
            if fields[0].bytesEqual("a") { return DevicePolicy(defaultAllow: true, exceptions: []) }
            let kind: DeviceKind = fields[0].bytesEqual("b") ? .block : .char
            let major: UInt32? = ma.bytesEqual("*") ? nil : parseUInt64(ma).flatMap { UInt32(exactly: $0) }
            let minor: UInt32? = mi.bytesEqual("*") ? nil : parseUInt64(mi).flatMap { UInt32(exactly: $0) }
            policy.add(DeviceException(kind: kind, major: major, minor: minor, access: access))
        }
        return policy
    }

    /// The writes (file, line) that take a v1 devices cgroup from `current` to `self`.
    /// Between two deny-by-default policies only the difference is written, adding before
    /// removing, so a running container never loses a device it keeps (runc's concern for
    /// `update`); otherwise the default is reset with an "a" line first.
    func v1Writes(from current: DevicePolicy) -> [(file: String, line: String)] {
        var out: [(file: String, line: String)] = []
        if defaultAllow {
            out.append(("devices.allow", "a"))
            for e in exceptions { out.append(("devices.deny", e.v1Line)) }
            return out
        }
        if current.defaultAllow {
            out.append(("devices.deny", "a"))
            for e in exceptions { out.append(("devices.allow", e.v1Line)) }
            return out
        }
        var removals: [(file: String, line: String)] = []
        for e in exceptions {
            let have = current.exceptions.first { $0.samePattern(e) }?.access ?? 0
            let missing = e.access & ~have
            if missing != 0 {
                var add = e; add.access = missing
                out.append(("devices.allow", add.v1Line))
            }
        }
        for c in current.exceptions {
            let keep = exceptions.first { $0.samePattern(c) }?.access ?? 0
            let extra = c.access & ~keep
            if extra != 0 {
                var rm = c; rm.access = extra
                removals.append(("devices.deny", rm.v1Line))
            }
        }
        out.append(contentsOf: removals)
        return out
    }
}
