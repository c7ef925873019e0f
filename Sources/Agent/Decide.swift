import Base

/// The outcome of checking a request against a container's rules: the rule that allows
/// it, or why none does.
public enum RuleCheck: Equatable, Sendable {
    case allowed(rule: String)
    case denied(reason: String)
}

/// A mount(2) as copied from the container, with paths already normalized.
public struct MountRequest: Sendable {
    public var source: String?
    public var target: String
    public var fstype: String?
    public var flags: UInt64
    public var data: String?
    /// For MS_BIND: the source as a normalized container path.
    public var bindSource: String?
    /// For a disk file system: the source as a normalized container path, and the block
    /// device found there (opened without following symlinks); nil if it is none.
    public var devicePath: String?
    public var device: BlockDevice?
    /// Who asks; nil when unknown (rules with a caller condition then refuse).
    public var caller: CallerFacts?

    public init(source: String?, target: String, fstype: String?, flags: UInt64, data: String?, bindSource: String? = nil,
                devicePath: String? = nil, device: BlockDevice? = nil, caller: CallerFacts? = nil) {
        self.source = source
        self.target = target
        self.fstype = fstype
        self.flags = flags
        self.data = data
        self.bindSource = bindSource
        self.devicePath = devicePath
        self.device = device
        self.caller = caller
    }
}

/// mount(2) flags without the historic magic number (MS_MGC_VAL in the upper 16 bits).
public func effectiveMountFlags(_ raw: UInt64) -> UInt64 {
    var flags = raw & 0xffff_ffff
    if flags & 0xffff_0000 == 0xc0ed_0000 { flags &= 0xffff }
    return flags
}

public func checkMount(_ r: MountRequest, rules: [MountRule]) -> RuleCheck {
    if rules.isEmpty { return .denied(reason: "no mount rule for this container") }
    var reason = ""
    for rule in rules {
        guard pathAllowed(r.target, under: rule.destination, exact: rule.exact) else {
            reason = "destination " + r.target + " is outside every rule"
            continue
        }
        if let condition = rule.caller, let refusal = condition.refusal(r.caller) {
            reason = refusal + " by " + rule.name
            continue
        }
        guard r.flags & ~rule.flags == 0 else { reason = "flags not allowed by " + rule.name; continue }
        guard r.flags & rule.required == rule.required else {
            reason = "flags required by " + rule.name + " missing: " + mountFlagList(rule.required & ~r.flags)
            continue
        }
        if r.flags & msBind != 0 {
            guard r.flags & ~bindFlags == 0 else { reason = "flags cannot be applied to a bind mount"; continue }
            guard let source = r.bindSource else { reason = "bind mount without a source"; continue }
            if let sources = rule.sources, !sources.contains(where: { globMatch($0, source) }) {
                reason = "source " + source + " not allowed by " + rule.name
                continue
            }
        } else {
            guard let fstype = r.fstype, rule.fstypes.contains(where: { $0.bytesEqual(fstype) }) else {
                reason = "file system type not allowed by " + rule.name
                continue
            }
            if let devices = rule.devices {
                guard let path = r.devicePath, let device = r.device, devices.contains(device) else {
                    reason = "source is not a block device allowed by " + rule.name
                    continue
                }
                if let sources = rule.sources, !sources.contains(where: { globMatch($0, path) }) {
                    reason = "source " + path + " not allowed by " + rule.name
                    continue
                }
            } else if let sources = rule.sources, !sources.contains(where: { globMatch($0, r.source ?? "") }) {
                reason = "source not allowed by " + rule.name
                continue
            }
        }
        if let data = r.data, !data.isEmpty {
            var ok = true
            for item in data.split(byte: UInt8(ascii: ",")) where !rule.options.contains(where: { globMatch($0, item) }) {
                reason = "option " + jsonSafe(item) + " not allowed by " + rule.name
                ok = false
                break
            }
            if !ok { continue }
        }
        return .allowed(rule: rule.name)
    }
    return .denied(reason: reason)
}

public func checkUmount(target: String, flags: Int32, rules: [UmountRule], caller: CallerFacts? = nil) -> RuleCheck {
    if rules.isEmpty { return .denied(reason: "no umount2 rule for this container") }
    if target.bytesEqual("/") { return .denied(reason: "the root cannot be unmounted") }
    var reason = ""
    for rule in rules {
        guard pathAllowed(target, under: rule.destination, exact: rule.exact) else {
            reason = "destination " + target + " is outside every rule"
            continue
        }
        guard flags & ~rule.flags == 0 else { reason = "flags not allowed by " + rule.name; continue }
        if let condition = rule.caller, let refusal = condition.refusal(caller) {
            reason = refusal + " by " + rule.name
            continue
        }
        return .allowed(rule: rule.name)
    }
    return .denied(reason: reason)
}

/// A nil path checks type and device only (and not the caller).
public func checkMknod(path: String?, kind: NodeKind, major: UInt32, minor: UInt32, rules: [MknodRule],
                       caller: CallerFacts? = nil) -> RuleCheck {
    if rules.isEmpty { return .denied(reason: "no mknod rule for this container") }
    var reason = "type " + kind.letter + " not allowed"
    for rule in rules where rule.kind == kind {
        if kind.hasDevice, rule.major != major || rule.minor != minor {
            reason = "device " + String(major) + ":" + String(minor) + " not allowed"
            continue
        }
        if let path, !pathAllowed(path, under: rule.path, exact: rule.exact) {
            reason = "path " + path + " is outside every rule"
            continue
        }
        if path != nil, let condition = rule.caller, let refusal = condition.refusal(caller) {
            reason = refusal + " by " + rule.name
            continue
        }
        return .allowed(rule: rule.name)
    }
    return .denied(reason: reason)
}

/// The names of MS_* flags, comma-separated.
func mountFlagList(_ flags: UInt64) -> String {
    join(mountFlagNames.filter { flags & $0.value != 0 }.map { $0.name }, ",")
}

/// Whether a cgroup v1 `devices.list` grants block device `device` for reading (and
/// writing): one listed exception must cover all of it, as the kernel requires. nil when
/// the list is in default-allow mode ("a *:* rwm"): its deny exceptions are not listed.
public func deviceListAllows(_ list: String, device: BlockDevice, write: Bool) -> Bool? {
    for line in list.split(byte: 10) {
        let parts = line.split(byte: 32)
        guard parts.count == 3 else { continue }
        let numbers = parts[1].split(byte: UInt8(ascii: ":"))
        guard numbers.count == 2 else { continue }
        if parts[0].bytesEqual("a") && numbers[0].bytesEqual("*") && numbers[1].bytesEqual("*") && parts[2].bytesEqual("rwm") {
            return nil
        }
        guard parts[0].bytesEqual("a") || parts[0].bytesEqual("b") else { continue }
        func matches(_ field: String, _ value: UInt32) -> Bool { field.bytesEqual("*") || field.bytesEqual(String(value)) }
        guard matches(numbers[0], device.major), matches(numbers[1], device.minor) else { continue }
        let access = Array(parts[2].utf8)
        if access.contains(UInt8(ascii: "r")) && (!write || access.contains(UInt8(ascii: "w"))) { return true }
    }
    return false
}

/// `path` equals `prefix` or lies below it, by whole components (/foobar is not below /foo).
public func pathAllowed(_ path: String, under prefix: String, exact: Bool) -> Bool {
    exact ? path.bytesEqual(prefix) : isPath(path, inside: prefix)
}

/// Makes `path` absolute against `cwd` (an absolute container path) and removes ".",
/// ".." (clamped at the root, as the kernel does) and empty components. nil for an
/// empty path (ENOENT) or a result longer than PATH_MAX.
public func normalizePath(_ path: String, cwd: String) -> String? {
    if path.isEmpty { return nil }
    let out = lexicallyCleanPath(path.hasBytePrefix("/") ? path : cwd + "/" + path)
    return out.utf8.count < 4096 ? out : nil
}

/// Glob with `*` (any run of bytes, slashes included) and `?` (one byte); byte-wise.
public func globMatch(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern.utf8), t = Array(text.utf8)
    var pi = 0, ti = 0
    var star = -1, mark = 0
    while ti < t.count {
        if pi < p.count, p[pi] == UInt8(ascii: "?") || p[pi] == t[ti] {
            pi += 1
            ti += 1
        } else if pi < p.count, p[pi] == UInt8(ascii: "*") {
            star = pi
            mark = ti
            pi += 1
        } else if star >= 0 {
            pi = star + 1
            mark += 1
            ti = mark
        } else {
            return false
        }
    }
    while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
    return pi == p.count
}

/// Container-supplied text cut short for logs and reasons.
func jsonSafe(_ s: String) -> String {
    s.utf8.count <= 256 ? s : String(decoding: Array(s.utf8.prefix(256)), as: UTF8.self) + "..."
}
