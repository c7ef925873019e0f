import Base
import CLinux
import JSON
import Mounts
import OCISpec
import Syscalls

/// The agent's policy: which container may make which notified system call, loaded from
/// a JSON file. Anything not allowed by a rule is denied with EPERM. Loading is strict:
/// unknown keys, malformed values and contradictory rules fail with the rule's path.
public struct AgentPolicy: Sendable {
    public var containers: [ContainerPolicy]

    public init(containers: [ContainerPolicy]) { self.containers = containers }

    /// The first entry whose match holds for the container, nil if none (deny everything).
    public func entry(id: String, annotations: [(String, String)], metadata: String?) -> Int? {
        for (k, c) in containers.enumerated() where c.match.matches(id: id, annotations: annotations, metadata: metadata) {
            return k
        }
        return nil
    }

    public static func load(path: String) throws(SwiftletError) -> AgentPolicy {
        let text: String
        do throws(SwiftletError) {
            text = try readTextFile(path, stage: .agent)
        } catch {
            throw error.context("read policy")
        }
        return try parse(text, source: path)
    }

    /// Parses policy text; `source` names the file in errors.
    public static func parse(_ text: String, source: String) throws(SwiftletError) -> AgentPolicy {
        do throws(SwiftletError) {
            let json = try JSON.parse(text, source: source)
            let root = Node(json, path: source.hasByteSuffix(".json") ? source : source + ".json")
            try checkKeys(root, ["containers"])
            var containers: [ContainerPolicy] = []
            for node in try root.required("containers").array() {
                let c = try ContainerPolicy(node)
                for earlier in containers where earlier.match == c.match {
                    throw node.error("has the same match as " + earlier.name + " and could never apply")
                }
                containers.append(c)
            }
            return AgentPolicy(containers: containers)
        } catch {
            throw SwiftletError(.agent, "invalid policy: " + error.message, errno: EINVAL)
        }
    }
}

/// Which containers an entry applies to. Every given condition must hold.
public struct ContainerMatch: Equatable, Sendable {
    /// A glob over the container id (`*` any run of bytes, `?` one byte).
    public var id: String?
    public var annotations: [Pair]
    /// The seccomp listenerMetadata of the container, compared exactly.
    public var metadata: String?

    public struct Pair: Equatable, Sendable {
        public var key: String
        public var value: String
    }

    public func matches(id containerID: String, annotations present: [(String, String)], metadata given: String?) -> Bool {
        if let id, !globMatch(id, containerID) { return false }
        for wanted in annotations {
            guard present.contains(where: { $0.0.bytesEqual(wanted.key) && $0.1.bytesEqual(wanted.value) }) else { return false }
        }
        if let metadata {
            guard let given, given.bytesEqual(metadata) else { return false }
        }
        return true
    }
}

public struct ContainerPolicy: Sendable {
    /// Where the entry sits in the file ("containers[0]"), for logs and errors.
    public var name: String
    public var match: ContainerMatch
    /// mount and umount2 run as root of the container's user namespace (if it has its
    /// own), so the kernel still refuses what that root may not do. mknod never does:
    /// device nodes are exactly what a user namespace cannot create.
    public var userNamespace: Bool
    public var mounts: [MountRule]
    public var umounts: [UmountRule]
    public var mknods: [MknodRule]
    public var syscalls: [SyscallRule]
    /// GPIO lines the container may request (GPIO.swift answers its GPIO ioctls).
    public var gpio: [GPIORule]

    /// Whether a caller condition names uids (the caller's uid_map is then read).
    public var namesUids: Bool {
        mounts.contains { $0.caller?.uids != nil } || umounts.contains { $0.caller?.uids != nil }
            || mknods.contains { $0.caller?.uids != nil }
    }

    /// The generic rule for syscall number `nr`, if any.
    public func syscallRule(_ nr: Int32) -> SyscallRule? {
        for r in syscalls where r.numbers.contains(nr) { return r }
        return nil
    }

    init(_ node: Node) throws(SwiftletError) {
        try checkKeys(node, ["match", "userNamespace", "mount", "umount2", "mknod", "syscalls", "gpio"])
        name = node.path.split(byte: 32).last ?? node.path
        match = try parseMatch(try node.required("match"))
        userNamespace = try node["userNamespace"]?.bool() ?? true
        mounts = []
        for n in try node["mount"]?.array() ?? [] { mounts.append(try MountRule(n)) }
        umounts = []
        for n in try node["umount2"]?.array() ?? [] { umounts.append(try UmountRule(n)) }
        mknods = []
        for n in try node["mknod"]?.array() ?? [] { mknods.append(try MknodRule(n)) }
        gpio = try parseGPIORules(node["gpio"])
        syscalls = []
        for n in try node["syscalls"]?.array() ?? [] {
            let rule = try SyscallRule(n)
            for (name, nr) in zip(rule.names, rule.numbers) {
                for earlier in syscalls where earlier.numbers.contains(nr) {
                    throw n.error(jsonQuoted(name) + " already has a rule in " + earlier.name)
                }
                let checked: [(String, Bool)] = [
                    ("mount", !mounts.isEmpty), ("umount2", !umounts.isEmpty),
                    ("mknod", !mknods.isEmpty), ("mknodat", !mknods.isEmpty),
                ]
                if !gpio.isEmpty && name.bytesEqual("ioctl") {
                    throw n.error("\"ioctl\" has gpio rules; a generic rule would contradict them")
                }
                for (special, hasRules) in checked where special.bytesEqual(name) {
                    if hasRules {
                        throw n.error(jsonQuoted(name) + " has " + (special.hasBytePrefix("mknod") ? "mknod" : special)
                                      + " rules; a generic rule would contradict them")
                    }
                    if case .allow = rule.action {
                        throw n.error("\"allow\" would report success for " + name
                                      + " without doing it; use " + (special.hasBytePrefix("mknod") ? "mknod" : special)
                                      + " rules or \"continue\"")
                    }
                }
            }
            syscalls.append(rule)
        }
    }
}

/// A mount(2) the agent performs: the file system type, source and flags must be listed,
/// the destination must be `destination` or below it (or exactly it with `exact`).
public struct MountRule: Sendable {
    public var name: String
    public var fstypes: [String]
    /// Globs over the source; nil allows any. For bind mounts and disk file systems the
    /// source is a path in the container, normalized like the destination.
    public var sources: [String]?
    public var destination: String
    public var exact: Bool
    /// The MS_* flags a request may carry (`required` included).
    public var flags: UInt64
    /// The MS_* flags a request must carry.
    public var required: UInt64
    /// Globs each comma-separated item of the data (mount options) must match; none
    /// allows no data at all.
    public var options: [String]
    /// For disk file systems: the block devices (major, minor) the source may be. The
    /// source is opened in the container without following symlinks and must be one of
    /// them; nil for pseudo file systems and binds.
    public var devices: [BlockDevice]?
    public var caller: CallerCondition?

    init(_ node: Node) throws(SwiftletError) {
        try checkKeys(node, ["fstype", "source", "destination", "exact", "flags", "requiredFlags", "options", "devices", "caller"])
        name = node.path.split(byte: 32).last ?? node.path
        fstypes = try node.required("fstype").strings()
        if fstypes.isEmpty { throw node.error("fstype: lists no file system type") }
        sources = try node["source"]?.strings()
        if let s = sources, s.isEmpty { throw node.error("source: lists no source (leave it out to allow any)") }
        let destinationNode = try node.required("destination")
        destination = try parseRulePath(destinationNode)
        exact = try node["exact"]?.bool() ?? false
        required = try parseMountFlags(node["requiredFlags"])
        flags = try parseMountFlags(node["flags"]) | required
        options = try node["options"]?.strings() ?? []
        caller = try node["caller"].map { (n) throws(SwiftletError) in try CallerCondition(n) }
        if flags & msBind != 0, fstypes.count > 1 || !fstypes[0].bytesEqual("bind") {
            throw node.error("flags: \"bind\" needs fstype [\"bind\"] (a bind mount has no file system type)")
        }
        if flags & msBind == 0, fstypes.contains(where: { $0.bytesEqual("bind") }) {
            throw node.error("fstype: \"bind\" needs the \"bind\" flag")
        }
        if flags & msBind != 0, required & ~bindFlags != 0 {
            throw node.error("requiredFlags: a bind mount can only be made with bind, rec, silent, ro, nosuid, nodev, noexec")
        }
        if flags & msBind == 0, required & msRec != 0 {
            throw node.error("requiredFlags: \"rec\" applies to bind mounts only")
        }
        if let devicesNode = node["devices"] {
            var list: [BlockDevice] = []
            for n in try devicesNode.array() { list.append(try BlockDevice(n)) }
            if list.isEmpty { throw devicesNode.error("lists no device") }
            devices = list
        } else {
            devices = nil
        }
        if flags & msBind == 0 {
            let disk = fstypes.filter { !isPseudoFileSystem($0) }
            if !disk.isEmpty && disk.count != fstypes.count {
                throw node.error("fstype: mixes disk and pseudo file systems; write one rule for each")
            }
            if !disk.isEmpty && devices == nil {
                throw node.error("fstype: " + jsonQuoted(disk[0])
                                 + " mounts a block device: list the devices it may be in \"devices\" ([{\"major\": M, \"minor\": N}])")
            }
            if disk.isEmpty && devices != nil {
                throw node.error("devices: " + jsonQuoted(fstypes[0]) + " has no block device")
            }
        } else if devices != nil {
            throw node.error("devices: a bind mount has no block device")
        }
    }
}

/// A block device number pair, as in /proc/partitions.
public struct BlockDevice: Equatable, Sendable {
    public var major: UInt32
    public var minor: UInt32

    public init(major: UInt32, minor: UInt32) { self.major = major; self.minor = minor }

    init(_ node: Node) throws(SwiftletError) {
        try checkKeys(node, ["major", "minor"])
        major = try node.required("major").uint32()
        minor = try node.required("minor").uint32()
        if major >= 1 << 12 { throw node.error("major: " + String(major) + " is out of range (0-4095)") }
        if minor >= 1 << 20 { throw node.error("minor: " + String(minor) + " is out of range (0-1048575)") }
    }
}

/// File systems without a block device: their source is a name, never looked up. Every
/// other type is treated as a disk file system, whose source the kernel would open.
let pseudoFileSystems = [
    "tmpfs", "ramfs", "proc", "sysfs", "mqueue", "devpts", "cgroup", "cgroup2", "hugetlbfs",
    "tracefs", "debugfs", "securityfs", "configfs", "bpf", "pstore", "fusectl", "binfmt_misc", "efivarfs",
]

public func isPseudoFileSystem(_ fstype: String) -> Bool {
    pseudoFileSystems.contains { $0.bytesEqual(fstype) }
}

/// Which callers a rule serves, from /proc/PID/status (and uid_map) of the calling task
/// when the call arrives. Every given condition must hold.
public struct CallerCondition: Equatable, Sendable {
    /// Effective uids as the caller's own user namespace sees them.
    public var uids: [UInt32]?
    /// Capability bits that must all be in the caller's effective set (in its namespace).
    public var capabilities: UInt64
    /// false: only callers without no_new_privs; true: only with it; nil: either.
    public var noNewPrivileges: Bool?

    public init(uids: [UInt32]? = nil, capabilities: UInt64 = 0, noNewPrivileges: Bool? = nil) {
        self.uids = uids
        self.capabilities = capabilities
        self.noNewPrivileges = noNewPrivileges
    }

    init(_ node: Node) throws(SwiftletError) {
        try checkKeys(node, ["uids", "capabilities", "noNewPrivileges"])
        if let n = node["uids"] {
            var list: [UInt32] = []
            for u in try n.array() { list.append(try u.uint32()) }
            if list.isEmpty { throw n.error("lists no uid (leave it out to allow any)") }
            uids = list
        } else {
            uids = nil
        }
        capabilities = 0
        if let n = node["capabilities"] {
            for c in try n.array() {
                let text = try c.string()
                guard let bit = knownCapabilityNames.firstIndex(where: { $0.bytesEqual(text) }) else {
                    throw c.error("unknown capability " + jsonQuoted(text))
                }
                capabilities |= 1 << UInt64(bit)
            }
        }
        noNewPrivileges = try node["noNewPrivileges"]?.bool()
        if uids == nil && capabilities == 0 && noNewPrivileges == nil { throw node.error("sets no condition") }
    }

    /// nil when `facts` meet every condition, else why not.
    public func refusal(_ facts: CallerFacts?) -> String? {
        guard let facts else { return "caller unknown" }
        if let uids {
            guard let uid = facts.uid, uids.contains(uid) else {
                return "caller uid " + (facts.uid.map { String($0) } ?? "(unmapped)") + " not served"
            }
        }
        if facts.capabilities & capabilities != capabilities { return "caller lacks a required capability" }
        if let noNewPrivileges, noNewPrivileges != facts.noNewPrivileges {
            return noNewPrivileges ? "caller without no_new_privs not served" : "caller with no_new_privs not served"
        }
        return nil
    }
}

/// The calling task as a caller condition sees it.
public struct CallerFacts: Sendable {
    /// The effective uid in the caller's user namespace, nil when unknown or unmapped.
    public var uid: UInt32?
    public var capabilities: UInt64
    public var noNewPrivileges: Bool

    public init(uid: UInt32?, capabilities: UInt64, noNewPrivileges: Bool) {
        self.uid = uid
        self.capabilities = capabilities
        self.noNewPrivileges = noNewPrivileges
    }
}

func parseMountFlags(_ node: Node?) throws(SwiftletError) -> UInt64 {
    guard let node else { return 0 }
    var flags: UInt64 = 0
    for n in try node.array() {
        let text = try n.string()
        guard let known = mountFlagNames.first(where: { $0.name.bytesEqual(text) }) else {
            throw n.error("unknown mount flag " + jsonQuoted(text))
        }
        guard known.supported else {
            throw n.error("mount flag " + jsonQuoted(text) + " is not supported by the agent")
        }
        flags |= known.value
    }
    return flags
}

public struct UmountRule: Sendable {
    public var name: String
    public var destination: String
    public var exact: Bool
    /// The MNT_* / UMOUNT_* flags a request may carry.
    public var flags: Int32
    public var caller: CallerCondition?

    init(_ node: Node) throws(SwiftletError) {
        try checkKeys(node, ["destination", "exact", "flags", "caller"])
        caller = try node["caller"].map { (n) throws(SwiftletError) in try CallerCondition(n) }
        name = node.path.split(byte: 32).last ?? node.path
        destination = try parseRulePath(try node.required("destination"))
        exact = try node["exact"]?.bool() ?? false
        if destination.bytesEqual("/") && exact { throw node.error("destination: the root cannot be unmounted") }
        flags = 0
        if let flagsNode = node["flags"] {
            for n in try flagsNode.array() {
                let text = try n.string()
                guard let known = umountFlagNames.first(where: { $0.0.bytesEqual(text) }) else {
                    throw n.error("unknown umount2 flag " + jsonQuoted(text))
                }
                flags |= known.1
            }
        }
    }
}

public enum NodeKind: Sendable {
    case character, block, fifo, regular, socket

    /// The S_IFMT bits.
    public var modeBits: UInt32 {
        switch self {
        case .character: return 0o020000
        case .block: return 0o060000
        case .fifo: return 0o010000
        case .regular: return 0o100000
        case .socket: return 0o140000
        }
    }

    public var hasDevice: Bool { self == .character || self == .block }

    public init?(modeBits: UInt32) {
        switch modeBits & 0o170000 {
        case 0o020000: self = .character
        case 0o060000: self = .block
        case 0o010000: self = .fifo
        case 0, 0o100000: self = .regular
        case 0o140000: self = .socket
        default: return nil
        }
    }

    public var letter: String {
        switch self {
        case .character: return "c"
        case .block: return "b"
        case .fifo: return "p"
        case .regular: return "f"
        case .socket: return "s"
        }
    }
}

/// An mknod(2)/mknodat(2) the agent performs: this type (and device for c/b) at `path`
/// or below it (exactly `path` with `exact`).
public struct MknodRule: Sendable {
    public var name: String
    public var kind: NodeKind
    public var major: UInt32?
    public var minor: UInt32?
    public var path: String
    public var exact: Bool
    public var caller: CallerCondition?

    init(_ node: Node) throws(SwiftletError) {
        try checkKeys(node, ["type", "major", "minor", "path", "exact", "caller"])
        caller = try node["caller"].map { (n) throws(SwiftletError) in try CallerCondition(n) }
        name = node.path.split(byte: 32).last ?? node.path
        let typeNode = try node.required("type")
        let type = try typeNode.string()
        let kinds: [NodeKind] = [.character, .block, .fifo, .regular, .socket]
        guard let k = kinds.first(where: { $0.letter.bytesEqual(type) }) else {
            throw typeNode.error("unknown node type " + jsonQuoted(type) + " (c, b, p, f or s)")
        }
        kind = k
        major = try node["major"]?.uint32()
        minor = try node["minor"]?.uint32()
        if kind.hasDevice {
            guard let major, let minor else { throw node.error("type \"" + type + "\" needs major and minor") }
            if major >= 1 << 12 { throw node.error("major: " + String(major) + " is out of range (0-4095)") }
            if minor >= 1 << 20 { throw node.error("minor: " + String(minor) + " is out of range (0-1048575)") }
        } else if major != nil || minor != nil {
            throw node.error("type \"" + type + "\" has no device numbers; major and minor contradict it")
        }
        path = try parseRulePath(try node.required("path"))
        exact = try node["exact"]?.bool() ?? false
    }
}

public enum GenericAction: Equatable, Sendable {
    /// Report success with this return value without making the call.
    case allow(Int64)
    /// Fail with this errno.
    case deny(Int32)
    /// Let the kernel make the call itself (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
    case continueCall
}

/// `allow | deny(errno) | continue` for system calls by name.
public struct SyscallRule: Sendable {
    public var name: String
    public var names: [String]
    public var numbers: [Int32]
    public var action: GenericAction

    init(_ node: Node) throws(SwiftletError) {
        try checkKeys(node, ["names", "action", "errno", "value"])
        name = node.path.split(byte: 32).last ?? node.path
        let namesNode = try node.required("names")
        names = try namesNode.strings()
        if names.isEmpty { throw namesNode.error("lists no system call") }
        numbers = []
        for (k, n) in names.enumerated() {
            let nr = seccomp_syscall_resolve_name(n)
            if nr < 0 { throw Node(.string(n), path: namesNode.path + "[" + String(k) + "]").error("unknown system call " + jsonQuoted(n)) }
            if numbers.contains(nr) { throw namesNode.error(jsonQuoted(n) + " is listed twice") }
            numbers.append(nr)
        }
        let actionNode = try node.required("action")
        let actionText = try actionNode.string()
        let errnoNode = node["errno"]
        let valueNode = node["value"]
        if actionText.bytesEqual("deny") {
            if valueNode != nil { throw node.error("\"value\" contradicts action \"deny\"") }
            action = .deny(try errnoNode.map { (n) throws(SwiftletError) in try parseErrno(n) } ?? EPERM)
        } else if actionText.bytesEqual("allow") {
            if errnoNode != nil { throw node.error("\"errno\" contradicts action \"allow\"") }
            action = .allow(try valueNode?.int64() ?? 0)
        } else if actionText.bytesEqual("continue") {
            if errnoNode != nil || valueNode != nil {
                throw node.error("action \"continue\" lets the kernel answer; \"errno\" and \"value\" contradict it")
            }
            action = .continueCall
        } else {
            throw actionNode.error("unknown action " + jsonQuoted(actionText) + " (allow, deny or continue)")
        }
    }
}

// MARK: - Parsing helpers

func checkKeys(_ node: Node, _ allowed: [String]) throws(SwiftletError) {
    for (key, child) in try node.members() where !allowed.contains(where: { $0.bytesEqual(key) }) {
        throw child.error("unknown key")
    }
}

func parseMatch(_ node: Node) throws(SwiftletError) -> ContainerMatch {
    try checkKeys(node, ["id", "annotations", "metadata"])
    var pairs: [ContainerMatch.Pair] = []
    for (k, v) in try node["annotations"]?.stringMap() ?? [] { pairs.append(.init(key: k, value: v)) }
    let id = try node["id"]?.string()
    if let id, id.isEmpty { throw node.error("id: empty") }
    return ContainerMatch(id: id, annotations: pairs, metadata: try node["metadata"]?.string())
}

/// Rule paths are container paths: absolute and already normalized, so what the rule
/// says is what gets compared.
func parseRulePath(_ node: Node) throws(SwiftletError) -> String {
    let text = try node.string()
    guard text.hasBytePrefix("/") else { throw node.error("must be an absolute path") }
    guard let normal = normalizePath(text, cwd: "/"), normal.bytesEqual(text) else {
        throw node.error("must be normalized (no \".\", \"..\", \"//\" or trailing \"/\"), e.g. "
                         + jsonQuoted(normalizePath(text, cwd: "/") ?? "/"))
    }
    return text
}

func parseErrno(_ node: Node) throws(SwiftletError) -> Int32 {
    if case .number = node.value {
        let e = try node.int32()
        guard e > 0, e < 4096 else { throw node.error("errno must be 1-4095") }
        return e
    }
    let text = try node.string()
    for (name, value) in errnoNames where name.bytesEqual(text) { return value }
    throw node.error("unknown errno name " + jsonQuoted(text))
}

let errnoNames: [(String, Int32)] = [
    ("EPERM", EPERM), ("ENOENT", ENOENT), ("EIO", EIO), ("EBADF", EBADF), ("EAGAIN", EAGAIN),
    ("ENOMEM", ENOMEM), ("EACCES", EACCES), ("EFAULT", EFAULT), ("EBUSY", EBUSY), ("EEXIST", EEXIST),
    ("ENODEV", ENODEV), ("ENOTDIR", ENOTDIR), ("EISDIR", EISDIR), ("EINVAL", EINVAL), ("ENOSPC", ENOSPC),
    ("EROFS", EROFS), ("ENAMETOOLONG", ENAMETOOLONG), ("ENOSYS", ENOSYS), ("ENOTSUP", EOPNOTSUPP),
    ("EOPNOTSUPP", EOPNOTSUPP), ("ENOTEMPTY", ENOTEMPTY), ("ELOOP", ELOOP),
]

let msRdonly = UInt64(MountFlag.readOnly), msNosuid = UInt64(MountFlag.noSuid)
let msNodev = UInt64(MountFlag.noDev), msNoexec = UInt64(MountFlag.noExec)
let msBind = UInt64(MountFlag.bind), msRec = UInt64(MountFlag.recursive), msSilent = UInt64(MountFlag.silent)
/// Flags a bind mount may carry: the helper applies these with mount_setattr.
let bindFlags: UInt64 = msBind | msRec | msSilent | msRdonly | msNosuid | msNodev | msNoexec

/// The policy's names for the MS_* flags. Remounts, moves and propagation changes act on
/// existing mounts the destination rule cannot describe, so a policy cannot allow them.
let mountFlagNames: [(name: String, value: UInt64, supported: Bool)] = [
    ("ro", msRdonly, true), ("nosuid", msNosuid, true), ("nodev", msNodev, true), ("noexec", msNoexec, true),
    ("sync", UInt64(MountFlag.synchronous), true), ("remount", UInt64(MountFlag.remount), false),
    ("mandlock", UInt64(MountFlag.mandatoryLock), false), ("dirsync", UInt64(MountFlag.dirSync), true),
    ("nosymfollow", UInt64(MountFlag.noSymFollow), true), ("noatime", UInt64(MountFlag.noAtime), true),
    ("nodiratime", UInt64(MountFlag.noDirAtime), true), ("bind", msBind, true), ("move", UInt64(MountFlag.move), false),
    ("rec", msRec, true), ("silent", msSilent, true), ("unbindable", UInt64(MountFlag.unbindable), false),
    ("private", UInt64(MountFlag.private), false), ("slave", UInt64(MountFlag.slave), false),
    ("shared", UInt64(MountFlag.shared), false), ("relatime", UInt64(MountFlag.relatime), true),
    ("strictatime", UInt64(MountFlag.strictAtime), true), ("lazytime", UInt64(MountFlag.lazyTime), true),
]

let umountFlagNames: [(String, Int32)] = [("force", 1), ("detach", 2), ("expire", 4), ("nofollow", 8)]
