import Base

/// mount(2) flags (MS_*), spelled out so that they have one integer type everywhere
/// (glibc exposes them as an anonymous enum).
public enum MountFlag {
    public static let readOnly: UInt = 0x1
    public static let noSuid: UInt = 0x2
    public static let noDev: UInt = 0x4
    public static let noExec: UInt = 0x8
    public static let synchronous: UInt = 0x10
    public static let remount: UInt = 0x20
    public static let mandatoryLock: UInt = 0x40
    public static let dirSync: UInt = 0x80
    public static let noSymFollow: UInt = 0x100
    public static let noAtime: UInt = 0x400
    public static let noDirAtime: UInt = 0x800
    public static let bind: UInt = 0x1000
    public static let move: UInt = 0x2000
    public static let recursive: UInt = 0x4000
    public static let silent: UInt = 0x8000
    public static let unbindable: UInt = 0x20000
    public static let `private`: UInt = 0x40000
    public static let slave: UInt = 0x80000
    public static let shared: UInt = 0x100000
    public static let relatime: UInt = 0x200000
    public static let iVersion: UInt = 0x800000
    public static let strictAtime: UInt = 0x1000000
    public static let lazyTime: UInt = 0x2000000

    /// The atime "enum" flags, which are mutually exclusive.
    static let atimeChoice: UInt = noAtime | relatime | strictAtime
    static let atimeAll: UInt = atimeChoice | noDirAtime
    /// Per-mount flags the kernel locks when a mount is inherited into a less privileged
    /// user namespace (MNT_LOCK_*): a remount may not clear them.
    static let lockable: UInt = readOnly | noDev | noExec | noSuid | atimeAll
    /// The per-mount (not superblock) flags a bind remount sets.
    static let perMount: UInt = readOnly | noSuid | noDev | noExec | noSymFollow | atimeAll
}

/// mount_setattr(2) attributes (MOUNT_ATTR_*).
public enum MountAttr {
    public static let readOnly: UInt64 = 0x1
    public static let noSuid: UInt64 = 0x2
    public static let noDev: UInt64 = 0x4
    public static let noExec: UInt64 = 0x8
    public static let atimeMask: UInt64 = 0x70
    public static let relatime: UInt64 = 0x0
    public static let noAtime: UInt64 = 0x10
    public static let strictAtime: UInt64 = 0x20
    public static let noDirAtime: UInt64 = 0x80
    public static let idmap: UInt64 = 0x100000
    public static let noSymFollow: UInt64 = 0x200000
}

/// A mount's `options` array split into what each system call needs.
public struct MountOptions: Sendable, Equatable {
    /// MS_* flags to set.
    public var flags: UInt = 0
    /// MS_* flags the options explicitly clear ("rw", "suid", "dev", ...).
    public var clearFlags: UInt = 0
    /// Propagation changes (MS_PRIVATE, MS_SLAVE|MS_REC, ...) applied after the mount, in order.
    public var propagation: [UInt] = []
    /// mount_setattr(2) attributes applied recursively ("rro", "rnosuid", ...).
    public var recursiveAttrSet: UInt64 = 0
    public var recursiveAttrClear: UInt64 = 0
    /// Filesystem-specific options, comma-joined for mount(2)'s data argument.
    public var data: String = ""
    /// "idmap"/"ridmap": an id-mapped bind mount (ridmap maps submounts too).
    public var idmap: Bool = false
    public var recursiveIdmap: Bool = false
    /// "tmpcopyup": a tmpfs starts with a copy of what it covers.
    public var copyUp: Bool = false

    public init() {}

    public var isBind: Bool { flags & MountFlag.bind != 0 }
    public var isRecursiveBind: Bool { isBind && flags & MountFlag.recursive != 0 }
    public var hasRecursiveAttributes: Bool { recursiveAttrSet != 0 || recursiveAttrClear != 0 }
}

/// Option name, whether it clears, the MS_* flag (the mount(8) vocabulary runc accepts).
private let flagOptions: [(String, Bool, UInt)] = [
    ("async", true, MountFlag.synchronous),
    ("atime", true, MountFlag.noAtime),
    ("bind", false, MountFlag.bind),
    ("dev", true, MountFlag.noDev),
    ("diratime", true, MountFlag.noDirAtime),
    ("dirsync", false, MountFlag.dirSync),
    ("exec", true, MountFlag.noExec),
    ("iversion", false, MountFlag.iVersion),
    ("lazytime", false, MountFlag.lazyTime),
    ("loud", true, MountFlag.silent),
    ("mand", false, MountFlag.mandatoryLock),
    ("noatime", false, MountFlag.noAtime),
    ("nodev", false, MountFlag.noDev),
    ("nodiratime", false, MountFlag.noDirAtime),
    ("noexec", false, MountFlag.noExec),
    ("noiversion", true, MountFlag.iVersion),
    ("nolazytime", true, MountFlag.lazyTime),
    ("nomand", true, MountFlag.mandatoryLock),
    ("norelatime", true, MountFlag.relatime),
    ("nostrictatime", true, MountFlag.strictAtime),
    ("nosuid", false, MountFlag.noSuid),
    ("nosymfollow", false, MountFlag.noSymFollow),
    ("rbind", false, MountFlag.bind | MountFlag.recursive),
    ("relatime", false, MountFlag.relatime),
    ("remount", false, MountFlag.remount),
    ("ro", false, MountFlag.readOnly),
    ("rw", true, MountFlag.readOnly),
    ("silent", false, MountFlag.silent),
    ("strictatime", false, MountFlag.strictAtime),
    ("suid", true, MountFlag.noSuid),
    ("sync", false, MountFlag.synchronous),
    ("symfollow", true, MountFlag.noSymFollow),
]

private let propagationOptions: [(String, UInt)] = [
    ("private", MountFlag.private),
    ("rprivate", MountFlag.private | MountFlag.recursive),
    ("shared", MountFlag.shared),
    ("rshared", MountFlag.shared | MountFlag.recursive),
    ("slave", MountFlag.slave),
    ("rslave", MountFlag.slave | MountFlag.recursive),
    ("unbindable", MountFlag.unbindable),
    ("runbindable", MountFlag.unbindable | MountFlag.recursive),
]

private let recursiveAttrOptions: [(String, Bool, UInt64)] = [
    ("rro", false, MountAttr.readOnly),
    ("rrw", true, MountAttr.readOnly),
    ("rnosuid", false, MountAttr.noSuid),
    ("rsuid", true, MountAttr.noSuid),
    ("rnodev", false, MountAttr.noDev),
    ("rdev", true, MountAttr.noDev),
    ("rnoexec", false, MountAttr.noExec),
    ("rexec", true, MountAttr.noExec),
    ("rnodiratime", false, MountAttr.noDirAtime),
    ("rdiratime", true, MountAttr.noDirAtime),
    ("rrelatime", false, MountAttr.relatime),
    ("rnorelatime", true, MountAttr.relatime),
    ("rnoatime", false, MountAttr.noAtime),
    ("ratime", true, MountAttr.noAtime),
    ("rstrictatime", false, MountAttr.strictAtime),
    ("rnostrictatime", true, MountAttr.strictAtime),
    ("rnosymfollow", false, MountAttr.noSymFollow),
    ("rsymfollow", true, MountAttr.noSymFollow),
]

/// The MS_* propagation flags for a rootfsPropagation or mount option name, nil if unknown.
public func propagationFlags(_ name: String) -> UInt? {
    for (option, flags) in propagationOptions where option.bytesEqual(name) { return flags }
    return nil
}

/// Splits mount options into flags, cleared flags, propagation, recursive attributes and
/// filesystem data. Later options win over earlier ones ("ro,rw" is rw). Unknown options
/// are the filesystem's ("mode=755", "size=65536k", "newinstance").
public func parseMountOptions(_ options: [String]) -> MountOptions {
    var result = MountOptions()
    var data: [String] = []
    nextOption: for option in options {
        if option.isEmpty || option.bytesEqual("defaults") { continue }
        for (name, clears, flag) in flagOptions where name.bytesEqual(option) {
            if clears {
                result.flags &= ~flag
                result.clearFlags |= flag
            } else {
                result.flags |= flag
                result.clearFlags &= ~flag
            }
            continue nextOption
        }
        if let flags = propagationFlags(option) {
            result.propagation.append(flags)
            continue
        }
        for (name, clears, attr) in recursiveAttrOptions where name.bytesEqual(option) {
            if clears {
                result.recursiveAttrClear |= attr
                result.recursiveAttrSet &= ~attr
            } else {
                result.recursiveAttrSet |= attr
                result.recursiveAttrClear &= ~attr
            }
            // mount_setattr(2): an atime choice must also clear the whole atime field.
            if attr & MountAttr.atimeMask == attr {
                result.recursiveAttrClear |= MountAttr.atimeMask
            }
            continue nextOption
        }
        if option.bytesEqual("tmpcopyup") {
            result.copyUp = true
        } else if option.bytesEqual("idmap") {
            result.idmap = true
        } else if option.bytesEqual("ridmap") {
            result.idmap = true
            result.recursiveIdmap = true
        } else {
            data.append(option)
        }
    }
    result.data = join(data, ",")
    return result
}

/// The mount_setattr(2) attributes that reproduce a bind remount with `flags`
/// ("mount --bind -o ..."): exactly the requested per-mount flags; the atime choice
/// is kept unless one is asked for.
func bindRemountAttributes(flags: UInt, clearFlags: UInt) -> (set: UInt64, clear: UInt64) {
    var set: UInt64 = 0
    var clear: UInt64 = 0
    let simple: [(UInt, UInt64)] = [
        (MountFlag.readOnly, MountAttr.readOnly), (MountFlag.noSuid, MountAttr.noSuid),
        (MountFlag.noDev, MountAttr.noDev), (MountFlag.noExec, MountAttr.noExec),
        (MountFlag.noSymFollow, MountAttr.noSymFollow),
    ]
    for (flag, attr) in simple {
        if flags & flag != 0 { set |= attr } else { clear |= attr }
    }
    if (flags | clearFlags) & MountFlag.atimeAll != 0 {
        clear |= MountAttr.atimeMask | MountAttr.noDirAtime
        // As the kernel does for mount(2): strictatime beats noatime, relatime is the default.
        if flags & MountFlag.strictAtime != 0 {
            set |= MountAttr.strictAtime
        } else if flags & MountFlag.noAtime != 0 {
            set |= MountAttr.noAtime
        }
        if flags & MountFlag.noDirAtime != 0 { set |= MountAttr.noDirAtime }
    }
    return (set, clear)
}

/// True if a bind mount needs its flags changed after the bind (anything beyond the bind itself).
func bindNeedsRemount(_ options: MountOptions) -> Bool {
    options.flags & ~(MountFlag.bind | MountFlag.recursive | MountFlag.remount) != 0 || options.clearFlags != 0
}

/// Names for MS_* flags in error messages.
func describeMountFlags(_ flags: UInt) -> String {
    let names: [(UInt, String)] = [
        (MountFlag.readOnly, "MS_RDONLY"), (MountFlag.noSuid, "MS_NOSUID"), (MountFlag.noDev, "MS_NODEV"),
        (MountFlag.noExec, "MS_NOEXEC"), (MountFlag.synchronous, "MS_SYNCHRONOUS"), (MountFlag.remount, "MS_REMOUNT"),
        (MountFlag.mandatoryLock, "MS_MANDLOCK"), (MountFlag.dirSync, "MS_DIRSYNC"),
        (MountFlag.noSymFollow, "MS_NOSYMFOLLOW"), (MountFlag.noAtime, "MS_NOATIME"),
        (MountFlag.noDirAtime, "MS_NODIRATIME"), (MountFlag.bind, "MS_BIND"), (MountFlag.move, "MS_MOVE"),
        (MountFlag.recursive, "MS_REC"), (MountFlag.silent, "MS_SILENT"), (MountFlag.unbindable, "MS_UNBINDABLE"),
        (MountFlag.private, "MS_PRIVATE"), (MountFlag.slave, "MS_SLAVE"), (MountFlag.shared, "MS_SHARED"),
        (MountFlag.relatime, "MS_RELATIME"), (MountFlag.iVersion, "MS_I_VERSION"),
        (MountFlag.strictAtime, "MS_STRICTATIME"), (MountFlag.lazyTime, "MS_LAZYTIME"),
    ]
    var parts: [String] = []
    var seen: UInt = 0
    for (bit, name) in names where flags & bit != 0 {
        parts.append(name)
        seen |= bit
    }
    if flags & ~seen != 0 { parts.append("0x" + hex(UInt64(flags & ~seen))) }
    return parts.isEmpty ? "0" : join(parts, "|")
}
