import Base
import CLinux
import Syscalls

// Thin wrappers over the mount system calls: errno checks and one-line errors.

/// Filesystem magic numbers (statfs f_type).
public enum FilesystemMagic {
    public static let proc: Int64 = 0x9fa0
    public static let sysfs: Int64 = 0x6265_6572
    public static let tmpfs: Int64 = 0x0102_1994
    public static let devpts: Int64 = 0x1cd1
    public static let cgroup: Int64 = 0x27e0eb
    public static let cgroup2: Int64 = 0x6367_7270
}

/// open_tree(2), move_mount(2), fsmount(2) and mount_setattr(2) flags.
public enum MountAPI {
    public static let openTreeClone: UInt32 = 1
    public static let openTreeCloexec = UInt32(O_CLOEXEC)
    public static let atRecursive: UInt32 = 0x8000
    public static let atEmptyPath = UInt32(AT_EMPTY_PATH)
    public static let moveFromEmptyPath: UInt32 = 0x4
    public static let moveToEmptyPath: UInt32 = 0x40
    public static let fsopenCloexec: UInt32 = 1
    public static let fsmountCloexec: UInt32 = 1
    public static let fsconfigSetFlag: UInt32 = 0
    public static let fsconfigSetString: UInt32 = 1
    public static let fsconfigSetFD: UInt32 = 5
    public static let fsconfigCreate: UInt32 = 6
}

/// mount(2). The target is usually procSelfFd(fd); `shown` names it in errors.
func mountOrThrow(_ source: String?, _ target: String, _ type: String?, _ flags: UInt, _ data: String?,
                  shown: String, stage: Stage = .mounts) throws(SwiftletError) {
    let e = rawMount(source, target, type, flags, data)
    if e != 0 {
        throw SwiftletError(stage, describeMount(source, shown, type, flags, data), errno: e)
    }
}

/// mount(2) returning 0 or the errno.
func rawMount(_ source: String?, _ target: String, _ type: String?, _ flags: UInt, _ data: String?) -> Int32 {
    let rc: Int32
    if let data, !data.isEmpty {
        rc = data.withCString { mount(source, target, type, flags, UnsafeRawPointer($0)) }
    } else {
        rc = mount(source, target, type, flags, nil)
    }
    return rc == 0 ? 0 : cl_errno()
}

func describeMount(_ source: String?, _ target: String, _ type: String?, _ flags: UInt, _ data: String?) -> String {
    var text = "mount"
    if let source, !source.isEmpty { text += " " + source }
    text += " on " + target
    var details: [String] = []
    if let type, !type.isEmpty { details.append("type " + type) }
    if flags != 0 { details.append("flags " + describeMountFlags(flags)) }
    if let data, !data.isEmpty { details.append("data " + data) }
    if !details.isEmpty { text += " (" + join(details, ", ") + ")" }
    return text
}

/// A detached copy of the mount tree at `path` (relative to `dir`, or `dir` itself when
/// path is empty): open_tree(OPEN_TREE_CLONE).
public func cloneMountTree(_ path: String, at dir: FileDescriptor? = nil, recursive: Bool,
                    stage: Stage = .mounts) throws(SwiftletError) -> FileDescriptor {
    var flags = MountAPI.openTreeClone | MountAPI.openTreeCloexec
    if recursive { flags |= MountAPI.atRecursive }
    if path.isEmpty { flags |= MountAPI.atEmptyPath }
    let fd = cl_open_tree(dir?.raw ?? AT_FDCWD, path, flags)
    if fd < 0 { throw .system(stage, "open_tree " + (path.isEmpty ? "fd " + String(dir?.raw ?? -1) : path)) }
    return FileDescriptor(fd)
}

/// A new file system of `type`, mounted nowhere yet (fsopen, fsconfig, fsmount), with the
/// MOUNT_ATTR_* `attributes`.
public func detachedFilesystem(_ type: String, options: [(String, String)], attributes: UInt64,
                               stage: Stage = .mounts) throws(SwiftletError) -> FileDescriptor {
    let fs = cl_fsopen(type, MountAPI.fsopenCloexec)
    if fs < 0 { throw .system(stage, "fsopen " + type) }
    defer { close(fs) }
    for (key, value) in options where cl_fsconfig(fs, MountAPI.fsconfigSetString, key, value, 0) != 0 {
        throw .system(stage, "fsconfig " + type + " " + key + "=" + value)
    }
    if cl_fsconfig(fs, MountAPI.fsconfigCreate, nil, nil, 0) != 0 { throw .system(stage, "create a " + type + " file system") }
    let m = cl_fsmount(fs, MountAPI.fsmountCloexec, UInt32(attributes))
    if m < 0 { throw .system(stage, "fsmount " + type) }
    return FileDescriptor(m)
}

/// move_mount(2) of the mount `mountFd` onto the file `target` holds.
public func attachMount(_ mountFd: FileDescriptor, onto target: FileDescriptor, shown: String,
                 stage: Stage = .mounts) throws(SwiftletError) {
    if cl_move_mount(mountFd.raw, "", target.raw, "", MountAPI.moveFromEmptyPath | MountAPI.moveToEmptyPath) != 0 {
        throw .system(stage, "move_mount onto " + shown)
    }
}

/// mount_setattr(2) on the mount `fd` holds; returns 0 or the errno.
public func setMountAttributes(_ fd: FileDescriptor, recursive: Bool, set: UInt64, clear: UInt64,
                        propagation: UInt64 = 0, userNamespace: Int32 = -1) -> Int32 {
    var flags = MountAPI.atEmptyPath
    if recursive { flags |= MountAPI.atRecursive }
    let rc = cl_mount_setattr(fd.raw, "", flags, set, clear, propagation,
                              userNamespace >= 0 ? UInt64(userNamespace) : 0)
    return rc == 0 ? 0 : cl_errno()
}

/// statfs(2) of an open file: the filesystem magic and the ST_* flags.
public func filesystemInfo(_ fd: FileDescriptor) -> (type: Int64, flags: UInt64)? {
    var type: Int64 = 0
    var flags: UInt64 = 0
    return cl_fstatfs_info(fd.raw, &type, &flags) == 0 ? (type, flags) : nil
}

public func filesystemInfo(path: String) -> (type: Int64, flags: UInt64)? {
    var type: Int64 = 0
    var flags: UInt64 = 0
    return cl_statfs_info(path, &type, &flags) == 0 ? (type, flags) : nil
}

/// The MS_* flags of a mount as statfs reports them (ST_*), as runc's statfsToMountFlags.
func mountFlags(fromStatfs st: UInt64) -> UInt {
    let table: [(UInt64, UInt)] = [
        (0x1, MountFlag.readOnly), (0x2, MountFlag.noSuid), (0x4, MountFlag.noDev), (0x8, MountFlag.noExec),
        (0x10, MountFlag.synchronous), (0x40, MountFlag.mandatoryLock), (0x400, MountFlag.noAtime),
        (0x800, MountFlag.noDirAtime), (0x1000, MountFlag.relatime), (0x2000, MountFlag.noSymFollow),
    ]
    var flags: UInt = 0
    for (bit, ms) in table where st & bit == bit { flags |= ms }
    // strictatime is not stored: a mount with no other atime choice is strictatime.
    if flags & MountFlag.atimeChoice == 0 { flags |= MountFlag.strictAtime }
    return flags
}

/// True if the fd is the root of a mount (what a mount just made there must be).
func isMountRoot(_ fd: FileDescriptor) -> Bool {
    var attributes: UInt64 = 0
    var mask: UInt64 = 0
    var mountID: UInt64 = 0
    guard cl_statx_mount(fd.raw, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, &attributes, &mask, &mountID) == 0 else {
        return false
    }
    let mountRoot: UInt64 = 0x2000  // STATX_ATTR_MOUNT_ROOT
    return attributes & mountRoot != 0
}

/// The mount id of the mount the fd is on.
func mountID(_ fd: FileDescriptor) -> UInt64 {
    var attributes: UInt64 = 0
    var mask: UInt64 = 0
    var id: UInt64 = 0
    _ = cl_statx_mount(fd.raw, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, &attributes, &mask, &id)
    return id
}
