import Base
import JSON

/// Mount options the mount code recognises (runtime-spec config.md's table, as runc lists them).
public let knownMountOptions = [
    "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion", "lazytime", "loud",
    "mand", "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "nomand", "norelatime",
    "nostrictatime", "nosuid", "nosymfollow", "private", "ratime", "rbind", "rdev", "rdiratime", "relatime",
    "remount", "rexec", "rnoatime", "rnodev", "rnodiratime", "rnoexec", "rnorelatime", "rnostrictatime",
    "rnosuid", "rnosymfollow", "ro", "rprivate", "rrelatime", "rro", "rrw", "rshared", "rslave",
    "rstrictatime", "rsuid", "rsymfollow", "runbindable", "rw", "shared", "silent", "slave", "strictatime",
    "suid", "symfollow", "sync", "tmpcopyup", "unbindable", "idmap", "ridmap",
]

/// Every capability name of Linux, in the order of their numbers (CAP_CHOWN is 0).
public let knownCapabilityNames = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]

/// The hook names of config.md, in the order they run.
public let knownHookNames = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]

/// The features structure of runtime-spec features.md and features-linux.md, members in
/// the order of specs-go/features so that output compares easily with runc's. The
/// parameters are what is decided outside this module: swiftlet's version (reported as the
/// "org.swiftlet.version" annotation), what the linked libseccomp and the kernel support,
/// and further annotations such as ("io.github.seccomp.libseccomp.version", "2.5.4").
public func featuresJSON(version: String,
                         seccompEnabled: Bool,
                         seccompActions: [String] = seccompActionNames,
                         seccompOperators: [String] = seccompOperatorNames,
                         seccompArchs: [String] = seccompArchNames,
                         seccompKnownFlags: [String] = seccompFlagNames,
                         seccompSupportedFlags: [String] = [],
                         cgroupV1: Bool = true,
                         cgroupV2: Bool = true,
                         annotations extra: [(String, String)] = []) -> JSON {
    func strings(_ values: [String]) -> JSON { .array(values.map { .string($0) }) }
    func object(_ members: [(String, JSON)]) -> JSON { .object(members.map { JSON.Member($0.0, $0.1) }) }
    func enabled(_ on: Bool) -> JSON { object([("enabled", .bool(on))]) }

    var namespaces: [String] = NamespaceKind.allCases.map { $0.rawValue }
    namespaces.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }

    var seccomp: [(String, JSON)] = [("enabled", .bool(seccompEnabled))]
    if seccompEnabled {
        seccomp.append(("actions", strings(seccompActions)))
        seccomp.append(("operators", strings(seccompOperators)))
        seccomp.append(("archs", strings(seccompArchs)))
        seccomp.append(("knownFlags", strings(seccompKnownFlags)))
        seccomp.append(("supportedFlags", strings(seccompSupportedFlags)))
    }

    let linux = object([
        ("namespaces", strings(namespaces)),
        ("capabilities", strings(knownCapabilityNames)),
        ("cgroup", object([
            ("v1", .bool(cgroupV1)), ("v2", .bool(cgroupV2)),
            ("systemd", .bool(false)), ("systemdUser", .bool(false)), ("rdma", .bool(false)),
        ])),
        ("seccomp", object(seccomp)),
        ("apparmor", enabled(false)),
        ("selinux", enabled(false)),
        ("intelRdt", enabled(false)),
        ("mountExtensions", object([("idmap", enabled(true))])),
    ])

    // Go prints a map sorted by key; do the same so the output is stable.
    var annotations: [(String, String)] = [("org.swiftlet.version", version)]
    for (k, v) in extra where !k.bytesEqual("org.swiftlet.version") { annotations.append((k, v)) }
    annotations.sort { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }

    return object([
        ("ociVersionMin", .string("1.0.0")),
        ("ociVersionMax", .string(ociVersionImplemented)),
        ("hooks", strings(knownHookNames)),
        ("mountOptions", strings(knownMountOptions)),
        ("linux", linux),
        ("annotations", object(annotations.map { ($0.0, JSON.string($0.1)) })),
    ])
}
