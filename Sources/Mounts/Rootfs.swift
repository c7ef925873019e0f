import Base
import CLinux
import OCISpec
import Syscalls

extension Stage {
    public static let rootfs = Stage("rootfs")
}

/// Builds the container's root filesystem inside its (new) mount namespace. Runs in the
/// container's init, single-threaded, as root of the container's user namespace if any.
/// Nothing here keeps global state: each call works from the paths and fds it is given.
public enum Rootfs {
    /// Before pivot_root: set the propagation of "/" (rootfsPropagation, default rprivate:
    /// nothing leaks back to the host), bind-mount `rootfs` onto itself (so pivot_root
    /// works), then perform every mount in order. Each destination is resolved inside
    /// rootfs (symlinks never lead out), missing directories (or an empty file for a file
    /// bind source) are created, and the mount goes through the resolved fd, so a symlink
    /// swapped in afterwards cannot redirect it. Bind mounts are cloned with open_tree(2),
    /// get their flags with mount_setattr(2) while still detached, and are attached with
    /// move_mount(2).
    ///
    /// With `hostNamespace` (the config asks for no mount namespace, so the container
    /// shares the runtime's) nothing outside rootfs is touched: the propagation of "/" stays
    /// as it is, and the rootfs bind is made private so that no mount below it reaches the
    /// host's peers. `unmountAll(under:)` removes these mounts again at delete.
    ///
    /// With `tolerateFailures` (a primitive container: mount what the kernel allows) a
    /// failing mount is skipped and its destination returned instead of thrown. Without a
    /// mount namespace, a failing private rootfs bind skips every mount (they would land in
    /// the host's shared tree) and returns `rootfsBound` false: nothing may then be mounted
    /// or remounted at the rootfs.
    ///
    /// `bindSources` are the bind mounts' sources as the runtime cloned them (see
    /// BindSources); prepare closes them.
    @discardableResult
    public static func prepare(rootfs: String, bundle: String, mounts: [MountSpec], propagation: String?,
                               userNamespace: Bool, cgroupBinds: [(name: String, hostPath: String)],
                               cgroupNamespace: Bool, hostNamespace: Bool = false,
                               tolerateFailures: Bool = false,
                               bindSources: BindSources = BindSources()) throws(SwiftletError) -> PrepareOutcome {
        defer { bindSources.close() }
        let rootPropagation = try parseRootPropagation(propagation)
        let rootfsPath = try canonicalRootfs(rootfs, bundle: bundle)
        try requireProcfs()

        if !hostNamespace {
            try mountOrThrow(nil, "/", nil, rootPropagation, nil, shown: "/", stage: .rootfs)
            try makeParentMountPrivate(rootfsPath, slave: rootPropagation & MountFlag.slave != 0)
        }
        do throws(SwiftletError) {
            try mountOrThrow(rootfsPath, rootfsPath, "bind", MountFlag.bind | MountFlag.recursive, nil,
                             shown: rootfsPath, stage: .rootfs)
            if hostNamespace {
                try mountOrThrow(nil, rootfsPath, nil, MountFlag.private | MountFlag.recursive, nil,
                                 shown: rootfsPath, stage: .rootfs)
            }
        } catch {
            guard tolerateFailures && hostNamespace else { throw error }
            unmountAll(under: rootfsPath)
            return PrepareOutcome(failedMounts: mounts.map { $0.destination }, rootfsBound: false)
        }
        var failed: [String] = []

        let root = try FileDescriptor.open(rootfsPath, O_PATH | O_DIRECTORY, stage: .rootfs)
        defer { root.close() }
        let context = MountContext(root: root, rootfs: rootfsPath, bundle: bundle, userNamespace: userNamespace,
                                   cgroupBinds: cgroupBinds, cgroupNamespace: cgroupNamespace,
                                   bindSources: bindSources)
        // Read-only tmpfs mounts stay writable until every mount is made (later mount
        // points may be inside them); these are their fds, made read-only at the end.
        var readOnlyLater: [(fd: FileDescriptor, destination: String)] = []
        defer { for entry in readOnlyLater { entry.fd.close() } }
        for (index, m) in mounts.enumerated() {
            do throws(SwiftletError) {
                if let pending = try mountOne(m, index: index, context) { readOnlyLater.append(pending) }
            } catch {
                if tolerateFailures {
                    failed.append(m.destination)
                    continue
                }
                // Errors from mount(2) itself already say what was mounted where.
                if error.message.hasBytePrefix("mount ") { throw error }
                throw error.context("mount " + (m.source ?? m.type ?? "") + " on " + m.destination)
            }
        }
        for entry in readOnlyLater {
            do throws(SwiftletError) {
                try makeReadOnly(entry.fd, recursive: false, shown: entry.destination)
            } catch {
                guard tolerateFailures else { throw error }
                failed.append(entry.destination)
            }
        }
        return PrepareOutcome(failedMounts: failed, rootfsBound: true)
    }

    /// pivot_root into rootfs (or MS_MOVE + chroot when noPivot), detach the old root, chdir "/".
    /// Pass the same rootfs as to prepare, best absolute (a relative one is taken from the cwd).
    public static func enter(rootfs: String, noPivot: Bool, hostNamespace: Bool = false) throws(SwiftletError) {
        let rootfsPath = try canonicalRootfs(rootfs, bundle: ".")
        if hostNamespace {
            // Sharing the host's mount table: neither pivot_root nor a move of the rootfs
            // mount may happen here, only a chroot of this process.
            if chdir(rootfsPath) != 0 { throw .system(.rootfs, "chdir " + rootfsPath) }
            if chroot(".") != 0 { throw .system(.rootfs, "chroot " + rootfsPath) }
            if chdir("/") != 0 { throw .system(.rootfs, "chdir /") }
            return
        }
        if noPivot {
            try moveRoot(rootfsPath)
        } else {
            try pivotRoot(rootfsPath)
        }
    }

    /// Creates a missing `process.cwd` inside the rootfs as runc and crun do (directories
    /// 0755, owned by the init's user), resolved like a mount destination so that a
    /// symlink in the image cannot lead the creation out of the rootfs. A cwd that exists,
    /// or cannot be looked at now (only the container's user may enter it), is left to chdir.
    public static func makeWorkingDirectory(_ cwd: String, rootfs: String, bundle: String) throws(SwiftletError) {
        guard cwd.hasBytePrefix("/") else { return }
        let root = try FileDescriptor.open(try canonicalRootfs(rootfs, bundle: bundle), O_PATH | O_DIRECTORY, stage: .rootfs)
        defer { root.close() }
        do throws(SwiftletError) {
            try openInRoot(root, cwd, stage: .rootfs).close()
            return
        } catch {
            if error.errno != ENOENT { return }
        }
        do throws(SwiftletError) {
            try openInRoot(root, cwd, missing: .makeDirectories, stage: .rootfs).close()
        } catch {
            throw error.context("create process.cwd " + jsonQuoted(cwd))
        }
    }

    /// After entering. In this order (as runc): rootfsPropagation for "/" if it asks for
    /// shared or unbindable; read-only for a /dev mount in `mounts` that asked for "ro"
    /// (it stays writable until now so that devices can be made in it: pass spec.mounts);
    /// root.readonly (remount "/" read-only, keeping locked flags); readonlyPaths
    /// (recursive read-only binds; missing paths ignored); maskedPaths (/dev/null over
    /// files, an empty read-only tmpfs over directories; missing paths ignored).
    /// Call it after sysctls are written: readonlyPaths usually include /proc/sys.
    public static func finish(maskedPaths: [String], readonlyPaths: [String], readonlyRoot: Bool,
                              propagation: String?, mounts: [MountSpec] = []) throws(SwiftletError) {
        if propagation != nil {
            let flags = try parseRootPropagation(propagation)
            // private and slave were applied before pivot_root, while "/" was the host's.
            if flags & (MountFlag.private | MountFlag.slave) == 0 {
                try mountOrThrow(nil, "/", nil, flags, nil, shown: "/", stage: .rootfs)
            }
        }
        let root = try FileDescriptor.open("/", O_PATH | O_DIRECTORY, stage: .rootfs)
        defer { root.close() }

        for m in mounts {
            let options = parseMountOptions(m.options)
            let destination = lexicallyCleanPath(m.destination)
            guard destination.bytesEqual("/dev"), options.flags & MountFlag.readOnly != 0, !options.isBind,
                  !(m.type ?? "").bytesEqual("bind") else { continue }
            let target = try openInRoot(root, destination, stage: .rootfs)
            defer { target.close() }
            try makeReadOnly(target.fd, recursive: false, shown: destination)
        }
        if readonlyRoot {
            try makeReadOnly(root, recursive: false, shown: "/")
        }
        for path in readonlyPaths {
            try readonlyPath(root, path)
        }
        if !maskedPaths.isEmpty {
            try maskPaths(root, maskedPaths)
        }
    }
}

/// What `Rootfs.prepare` could not do when told to tolerate failures.
public struct PrepareOutcome: Sendable {
    public var failedMounts: [String]
    /// False when the rootfs could not get its own private mount (no mount namespace).
    public var rootfsBound: Bool
}

/// What every mount of one prepare call shares.
struct MountContext {
    let root: FileDescriptor
    let rootfs: String
    let bundle: String
    let userNamespace: Bool
    let cgroupBinds: [(name: String, hostPath: String)]
    let cgroupNamespace: Bool
    let bindSources: BindSources
}

// MARK: - prepare

func parseRootPropagation(_ propagation: String?) throws(SwiftletError) -> UInt {
    guard let propagation else { return MountFlag.private | MountFlag.recursive }
    guard let flags = propagationFlags(propagation) else {
        throw SwiftletError(.mounts, "linux.rootfsPropagation: unknown propagation " +
                            jsonQuoted(propagation), errno: EINVAL)
    }
    return flags
}

/// The rootfs as an absolute path without symlinks (pivot_root and the parent-mount walk
/// need the real location); relative paths are relative to the bundle.
extension Rootfs {
    /// Unmounts every mount at or below `rootfs` in the caller's mount namespace, deepest
    /// first: what a container without a mount namespace of its own left on the host.
    public static func unmountAll(under rootfs: String) {
        guard !lexicallyCleanPath(rootfs).bytesEqual("/"), let entries = try? readMountInfo(stage: .rootfs) else { return }
        var points: [String] = []
        for entry in entries where isPath(entry.mountPoint, inside: rootfs) {
            points.append(entry.mountPoint)
        }
        for point in points.reversed() { _ = umount2(point, Int32(MNT_DETACH)) }
    }
}

func canonicalRootfs(_ rootfs: String, bundle: String) throws(SwiftletError) -> String {
    let joined = rootfs.hasBytePrefix("/") ? rootfs : bundle + "/" + rootfs
    guard let resolved = realpath(joined, nil) else { throw .system(.rootfs, "resolve rootfs " + joined) }
    defer { free(resolved) }
    let path = String(cString: resolved)
    guard isDirectory(path) else { throw SwiftletError(.rootfs, "rootfs " + path + " is not a directory", errno: ENOTDIR) }
    return path
}

/// Mounting through /proc/self/fd needs a procfs at /proc (the host's, before pivot_root).
func requireProcfs() throws(SwiftletError) {
    guard let info = filesystemInfo(path: "/proc/self/fd"), info.type == FilesystemMagic.proc else {
        throw SwiftletError(.rootfs, "/proc is not a procfs mount: cannot mount safely through /proc/self/fd",
                            errno: ENOENT)
    }
}

/// pivot_root fails if the new root's parent mount is shared, and a shared parent would
/// also leak the rootfs bind to the host: make the nearest mount above rootfs private
/// (or slave, if the root propagation asks for slave).
func makeParentMountPrivate(_ rootfs: String, slave: Bool) throws(SwiftletError) {
    let flags = slave ? MountFlag.slave : MountFlag.private
    var path = rootfs
    while true {
        let e = rawMount(nil, path, nil, flags, nil)
        if e == 0 { return }
        // EINVAL: not a mount point; try the directory above.
        if e != EINVAL || path.bytesEqual("/") {
            throw SwiftletError(.rootfs, describeMount(nil, path, nil, flags, nil), errno: e)
        }
        var parts = lexicalComponents(path)
        parts.removeLast()
        path = "/" + join(parts, "/")
    }
}

/// Mount destinations under /proc are refused (CVE-2019-19921 and friends) except a
/// fresh procfs (or a bind of one) on /proc itself and the files lxcfs emulates.
private let allowedProcDestinations = [
    "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps", "/proc/uptime",
    "/proc/loadavg", "/proc/slabinfo", "/proc/sys/kernel/ns_last_pid", "/proc/sys/crypto/fips_enabled",
]

func checkProcDestination(_ resolved: String, isProc: Bool) throws(SwiftletError) {
    guard isPath(resolved, inside: "/proc") else { return }
    if resolved.bytesEqual("/proc") {
        if isProc { return }
        throw SwiftletError(.mounts, jsonQuoted(resolved) + " cannot be mounted because it is not of type proc",
                            errno: EINVAL)
    }
    for allowed in allowedProcDestinations where allowed.bytesEqual(resolved) { return }
    throw SwiftletError(.mounts, jsonQuoted(resolved) + " cannot be mounted because it is inside /proc",
                        errno: EINVAL)
}

/// Performs one mount. Returns the fd of a tmpfs that must become read-only once all
/// mounts are made (the caller closes it).
func mountOne(_ m: MountSpec, index: Int, _ c: MountContext) throws(SwiftletError) -> (fd: FileDescriptor, destination: String)? {
    let options = parseMountOptions(m.options)
    let type = m.type ?? ""
    // Relative destinations (deprecated) are taken relative to "/", as runc does.
    let destination = lexicallyCleanPath(m.destination)
    if destination.bytesEqual("/") {
        throw SwiftletError(.mounts, "mount destination " + m.destination + " is the root of the container",
                            errno: EINVAL)
    }
    if options.isBind || type.bytesEqual("bind") {
        var bindOptions = options
        bindOptions.flags |= MountFlag.bind
        try bindMount(source: m.source, destination: destination, options: bindOptions,
                      uidMappings: m.uidMappings, gidMappings: m.gidMappings, cloned: c.bindSources.tree(index), c)
        return nil
    }
    // The parser refused id mappings on other mounts. The type is checked here, not there:
    // runc's parser, too, accepts a mount without one.
    if type.isEmpty && options.flags & MountFlag.remount == 0 {
        throw SwiftletError(.mounts, "mount on " + jsonQuoted(m.destination) + ": type is required", errno: EINVAL)
    }
    if type.bytesEqual("proc") || type.bytesEqual("sysfs") {
        try mountProcOrSysfs(type: type, source: m.source, destination: destination, options: options, c)
    } else if type.bytesEqual("cgroup") || type.bytesEqual("cgroup2") {
        try mountCgroup(destination: destination, options: options, requested: type, c)
    } else if type.bytesEqual("tmpfs") {
        return try mountTmpfs(source: m.source, destination: destination, options: options, c)
    } else if type.bytesEqual("mqueue") {
        do throws(SwiftletError) {
            try mountFilesystem(type: type, source: m.source, destination: destination, options: options, c)
        } catch let error where error.errno == EPERM && c.userNamespace {
            // A user namespace without its own IPC namespace cannot mount mqueue: share the host's.
            var bind = options
            bind.flags |= MountFlag.bind | MountFlag.recursive
            try bindMount(source: "/dev/mqueue", destination: destination, options: bind, c)
        }
    } else {
        try mountFilesystem(type: type, source: m.source, destination: destination, options: options, c)
    }
    return nil
}

/// Resolves (creating if missing) where a mount goes, refusing the container's root itself.
func openMountTarget(_ c: MountContext, _ destination: String, missing: MissingComponents,
                     followFinalSymlink: Bool = true) throws(SwiftletError) -> RootedPath {
    let target = try openInRoot(c.root, destination, missing: missing, followFinalSymlink: followFinalSymlink)
    if target.isRoot {
        target.close()
        throw SwiftletError(.mounts, "mount destination " + destination + " resolves to the root of the container",
                            errno: EINVAL)
    }
    return target
}

/// After mount(2) through a mount point's fd, that fd still names what is now covered:
/// open the new mount by walking the resolved path again (no symlinks allowed: it has
/// none) and check that what we got is a mount root.
func reopenMount(_ c: MountContext, _ target: RootedPath, shown: String) throws(SwiftletError) -> FileDescriptor {
    let mounted = try openInRoot(c.root, target.path, allowSymlinks: false)
    if !isMountRoot(mounted.fd) || mountID(mounted.fd) == mountID(target.fd) {
        mounted.close()
        throw SwiftletError(.mounts, "mount on " + shown + " is not where it was made (path changed)", errno: EBUSY)
    }
    return mounted.fd
}

/// Propagation changes and recursive attributes for a new mount.
func applyPropagationAndAttributes(_ mounted: FileDescriptor, _ options: MountOptions,
                                   shown: String) throws(SwiftletError) {
    for flags in options.propagation {
        try mountOrThrow(nil, procSelfFd(mounted), nil, flags, nil, shown: shown)
    }
    if options.hasRecursiveAttributes {
        let e = setMountAttributes(mounted, recursive: true, set: options.recursiveAttrSet,
                                   clear: options.recursiveAttrClear)
        if e != 0 { throw SwiftletError(.mounts, "mount_setattr (recursive attributes) on " + shown, errno: e) }
    }
}

/// Any filesystem mount: mount(2) onto the resolved fd, then propagation.
func mountFilesystem(type: String, source: String?, destination: String, options: MountOptions,
                     _ c: MountContext, data: String? = nil) throws(SwiftletError) {
    let target = try openMountTarget(c, destination, missing: .makeDirectories)
    defer { target.close() }
    try checkProcDestination(target.path, isProc: false)
    try mountOnto(target, type: type, source: source, flags: options.flags, data: data ?? options.data,
                  options: options, shown: destination, c)
}

func mountOnto(_ target: RootedPath, type: String, source: String?, flags: UInt, data: String,
               options: MountOptions, shown: String, _ c: MountContext) throws(SwiftletError) {
    let src = (source?.isEmpty ?? true) ? type : source!
    try mountOrThrow(src, procSelfFd(target.fd), type.isEmpty ? nil : type, flags, data, shown: shown)
    if options.propagation.isEmpty && !options.hasRecursiveAttributes { return }
    if flags & MountFlag.remount != 0 {
        // A remount changed the mount the target already was.
        try applyPropagationAndAttributes(target.fd, options, shown: shown)
        return
    }
    let mounted = try reopenMount(c, target, shown: shown)
    defer { mounted.close() }
    try applyPropagationAndAttributes(mounted, options, shown: shown)
}

/// proc and sysfs must land on a real directory, not through a final symlink.
func mountProcOrSysfs(type: String, source: String?, destination: String, options: MountOptions,
                      _ c: MountContext) throws(SwiftletError) {
    let target = try openMountTarget(c, destination, missing: .makeDirectories, followFinalSymlink: false)
    defer { target.close() }
    if !target.isDirectory {
        throw SwiftletError(.mounts, "filesystem " + jsonQuoted(type) + " must be mounted on ordinary directory",
                            errno: ENOTDIR)
    }
    try checkProcDestination(target.path, isProc: type.bytesEqual("proc"))
    do throws(SwiftletError) {
        try mountOnto(target, type: type, source: source, flags: options.flags, data: options.data,
                      options: options, shown: destination, c)
    } catch let error where type.bytesEqual("sysfs") && error.errno == EPERM && c.userNamespace {
        // sysfs cannot be mounted from a user namespace that does not own the network
        // namespace: bind the host's /sys instead, as rootless runc does.
        var bind = options
        bind.flags |= MountFlag.bind | MountFlag.recursive
        bind.data = ""
        try bindMount(source: "/sys", destination: destination, options: bind, c)
    }
}

/// tmpfs: keeps the mode of the directory it covers unless the options say otherwise,
/// and with "tmpcopyup" starts with a copy of what it covers. With "ro" it stays writable
/// for now (later mounts may need mount points in it): its fd is returned to be made
/// read-only after all mounts, except /dev, which `finish` does after the devices.
func mountTmpfs(source: String?, destination: String, options: MountOptions,
                _ c: MountContext) throws(SwiftletError) -> (fd: FileDescriptor, destination: String)? {
    var existed = true
    var target: RootedPath
    do throws(SwiftletError) {
        target = try openMountTarget(c, destination, missing: .fail)
    } catch let error where error.errno == ENOENT {
        existed = false
        target = try openMountTarget(c, destination, missing: .makeDirectories)
    }
    defer { target.close() }
    try checkProcDestination(target.path, isProc: false)
    var data = options.data
    if existed && target.isDirectory {
        let modeOption = "mode=" + octal(target.mode & 0o7777, width: 4)
        data = data.isEmpty ? modeOption : modeOption + "," + data
    }
    var covered: FileDescriptor? = nil
    if options.copyUp && existed {
        let fd = cl_openat(target.fd.raw, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        if fd < 0 { throw .system(.mounts, "open " + destination + " for tmpcopyup") }
        covered = FileDescriptor(fd)
    }
    defer { covered?.close() }
    let flags = options.flags & ~MountFlag.readOnly
    try mountOrThrow(source ?? "tmpfs", procSelfFd(target.fd), "tmpfs", flags, data, shown: destination)
    let mounted = try reopenMount(c, target, shown: destination)
    var keep = false
    defer { if !keep { mounted.close() } }
    if let covered {
        let into = cl_openat(mounted.raw, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        if into < 0 { throw .system(.mounts, "open tmpfs on " + destination + " for tmpcopyup") }
        defer { close(into) }
        try copyTree(from: covered.raw, to: into, shown: destination, depth: 0)
    }
    try applyPropagationAndAttributes(mounted, options, shown: destination)
    if options.flags & MountFlag.readOnly != 0 && !destination.bytesEqual("/dev") {
        keep = true
        return (mounted, destination)
    }
    return nil
}

/// A bind mount: clone the source tree, set its flags while detached, attach it onto the
/// resolved destination, then set its propagation.
func bindMount(source: String?, destination: String, options: MountOptions, uidMappings: [IDMapping] = [],
               gidMappings: [IDMapping] = [], cloned: FileDescriptor? = nil, _ c: MountContext) throws(SwiftletError) {
    guard var sourcePath = source, !sourcePath.isEmpty else {
        throw SwiftletError(.mounts, "bind mount on " + jsonQuoted(destination) + " needs a source", errno: EINVAL)
    }
    if !sourcePath.hasBytePrefix("/") { sourcePath = c.bundle + "/" + sourcePath }
    var st = stat()
    let tree: FileDescriptor
    if let cloned {
        // Cloned (and id-mapped) by the runtime; prepare closes it.
        tree = cloned
    } else {
        if stat(sourcePath, &st) != 0 { throw .system(.mounts, "stat bind source " + sourcePath) }
        tree = try cloneMountTree(sourcePath, recursive: options.isRecursiveBind)
    }
    defer { if cloned == nil { tree.close() } }
    // What was cloned decides the kind of mount point (the path may have changed since stat).
    if fstat(tree.raw, &st) != 0 { throw .system(.mounts, "stat bind source " + sourcePath) }

    let missing: MissingComponents = cl_s_isdir(st.st_mode) != 0 ? .makeDirectories : .makeFile(mode: 0o644)
    let target = try openMountTarget(c, destination, missing: missing)
    defer { target.close() }
    let sourceIsProc = filesystemInfo(tree)?.type == FilesystemMagic.proc
    try checkProcDestination(target.path, isProc: sourceIsProc)

    if cloned == nil && (options.idmap || !uidMappings.isEmpty || !gidMappings.isEmpty) {
        try applyIDMapping(tree, uidMappings: uidMappings, gidMappings: gidMappings,
                           recursive: options.recursiveIdmap, shown: destination)
    }
    var remountAfterAttach = false
    if bindNeedsRemount(options) {
        let e = try setBindFlags(tree, options, shown: destination)
        remountAfterAttach = e == ENOSYS
    }
    if options.hasRecursiveAttributes {
        let e = setMountAttributes(tree, recursive: true, set: options.recursiveAttrSet,
                                   clear: options.recursiveAttrClear)
        if e != 0 { throw SwiftletError(.mounts, "mount_setattr (recursive attributes) on " + destination, errno: e) }
    }
    try attachMount(tree, onto: target.fd, shown: destination)
    if remountAfterAttach {
        try legacyBindRemount(tree, options, shown: destination)
    }
    for flags in options.propagation {
        try mountOrThrow(nil, procSelfFd(tree), nil, flags, nil, shown: destination)
    }
}

/// Gives a detached bind mount exactly the requested per-mount flags. If some are locked
/// (inherited into a user namespace), keeps the source's locked flags, unless the options
/// explicitly clear one of them, which is an error. Returns ENOSYS when the kernel lacks
/// mount_setattr (the caller remounts after attaching), else 0.
func setBindFlags(_ tree: FileDescriptor, _ options: MountOptions, shown: String) throws(SwiftletError) -> Int32 {
    let (set, clear) = bindRemountAttributes(flags: options.flags, clearFlags: options.clearFlags)
    var e = setMountAttributes(tree, recursive: false, set: set, clear: clear)
    if e == 0 || e == ENOSYS { return e }
    if e == EPERM {
        let keep = try lockedFlagsToKeep(tree, options, shown: shown, errno: e)
        let (set2, clear2) = bindRemountAttributes(flags: options.flags | keep, clearFlags: options.clearFlags)
        e = setMountAttributes(tree, recursive: false, set: set2, clear: clear2)
        if e == 0 { return 0 }
    }
    throw SwiftletError(.mounts, "set mount flags " + describeMountFlags(options.flags) + " on bind mount " + shown,
                        errno: e)
}

/// The lockable flags of the source mount that a remount has to keep.
func lockedFlagsToKeep(_ mount: FileDescriptor, _ options: MountOptions, shown: String,
                       errno e: Int32) throws(SwiftletError) -> UInt {
    guard let info = filesystemInfo(mount) else { throw .system(.mounts, "statfs bind mount " + shown) }
    let source = mountFlags(fromStatfs: info.flags)
    let cannotClear = source & options.clearFlags & MountFlag.lockable
    if cannotClear != 0 {
        throw SwiftletError(.mounts, "bind mount " + shown + ": cannot clear locked flags " +
                            describeMountFlags(cannotClear), errno: e)
    }
    let wantedAtime = options.flags & MountFlag.atimeAll
    if wantedAtime != 0 && wantedAtime != source & MountFlag.atimeAll {
        throw SwiftletError(.mounts, "bind mount " + shown + ": cannot change locked atime flags " +
                            describeMountFlags(source & MountFlag.atimeAll), errno: e)
    }
    return source & MountFlag.lockable
}

/// mount(MS_REMOUNT|MS_BIND) on an attached mount, for kernels without mount_setattr.
func legacyBindRemount(_ mounted: FileDescriptor, _ options: MountOptions, shown: String) throws(SwiftletError) {
    var flags = (options.flags & ~MountFlag.recursive) | MountFlag.remount | MountFlag.bind
    var e = rawMount(nil, procSelfFd(mounted), nil, flags, nil)
    if e == EPERM {
        flags |= try lockedFlagsToKeep(mounted, options, shown: shown, errno: e)
        e = rawMount(nil, procSelfFd(mounted), nil, flags, nil)
    }
    if e != 0 { throw SwiftletError(.mounts, describeMount(nil, shown, nil, flags, nil), errno: e) }
}

/// MOUNT_ATTR_IDMAP with a user namespace made from the mount's mappings, or the
/// container's (`ownUserNamespace`) when the mount names none.
func applyIDMapping(_ tree: FileDescriptor, uidMappings: [IDMapping], gidMappings: [IDMapping], recursive: Bool,
                    shown: String, ownUserNamespace: String = "/proc/self/ns/user") throws(SwiftletError) {
    let userNamespace: FileDescriptor
    if uidMappings.isEmpty && gidMappings.isEmpty {
        userNamespace = try FileDescriptor.open(ownUserNamespace, O_RDONLY, stage: .mounts)
    } else {
        if uidMappings.isEmpty || gidMappings.isEmpty {
            throw SwiftletError(.mounts, "id-mapped mount " + shown + " needs both uidMappings and gidMappings",
                                errno: EINVAL)
        }
        userNamespace = try makeUserNamespace(uidMappings: uidMappings, gidMappings: gidMappings)
    }
    defer { userNamespace.close() }
    let e = setMountAttributes(tree, recursive: recursive, set: MountAttr.idmap, clear: 0,
                               userNamespace: userNamespace.raw)
    if e != 0 {
        let hint = e == EINVAL ? " (the filesystem may not support id-mapped mounts)" : ""
        throw SwiftletError(.mounts, "set id mapping on bind mount " + shown + hint, errno: e)
    }
}

// MARK: - enter

/// pivot_root(".", ".") from inside the new root: the old root ends up stacked on top of
/// the new one, where it is made rslave (so the unmount cannot propagate to the host) and
/// lazily unmounted. No directory for the old root is needed inside rootfs.
func pivotRoot(_ rootfs: String) throws(SwiftletError) {
    let oldRoot = try FileDescriptor.open("/", O_DIRECTORY | O_PATH, stage: .rootfs)
    defer { oldRoot.close() }
    let newRoot = try FileDescriptor.open(rootfs, O_DIRECTORY | O_PATH, stage: .rootfs)
    defer { newRoot.close() }
    if fchdir(newRoot.raw) != 0 { throw .system(.rootfs, "chdir " + rootfs) }
    if cl_pivot_root(".", ".") != 0 { throw .system(.rootfs, "pivot_root " + rootfs) }
    if fchdir(oldRoot.raw) != 0 { throw .system(.rootfs, "chdir to the old root") }
    try mountOrThrow(nil, ".", nil, MountFlag.slave | MountFlag.recursive, nil, shown: "the old root", stage: .rootfs)
    if umount2(".", Int32(MNT_DETACH)) != 0 { throw .system(.rootfs, "unmount the old root") }
    if chdir("/") != 0 { throw .system(.rootfs, "chdir /") }
}

/// --no-pivot: move rootfs over "/" and chroot. The host's /proc and /sys stay in the
/// mount namespace underneath, and the kernel allows a new procfs/sysfs mount only while a
/// full one is visible: so first unmount (or cover) every full proc and sysfs mount
/// outside rootfs, so that a container cannot mount the host's back.
func moveRoot(_ rootfs: String) throws(SwiftletError) {
    let entries = try readMountInfo(stage: .rootfs)
    for entry in entries {
        guard entry.root.bytesEqual("/"), entry.fsType.bytesEqual("proc") || entry.fsType.bytesEqual("sysfs"),
              !isPath(entry.mountPoint, inside: rootfs) else { continue }
        let p = entry.mountPoint
        let e = rawMount(nil, p, nil, MountFlag.slave | MountFlag.recursive, nil)
        if e == ENOENT { continue }  // a parent was already unmounted
        if e != 0 { throw SwiftletError(.rootfs, describeMount(nil, p, nil, MountFlag.slave | MountFlag.recursive, nil), errno: e) }
        if umount2(p, Int32(MNT_DETACH)) != 0 {
            let u = cl_errno()
            if u != EINVAL && u != EPERM { throw SwiftletError(.rootfs, "unmount " + p, errno: u) }
            try mountOrThrow("tmpfs", p, "tmpfs", 0, nil, shown: p, stage: .rootfs)
        }
    }
    if chdir(rootfs) != 0 { throw .system(.rootfs, "chdir " + rootfs) }
    try mountOrThrow(rootfs, "/", nil, MountFlag.move, nil, shown: "/", stage: .rootfs)
    if chroot(".") != 0 { throw .system(.rootfs, "chroot " + rootfs) }
    if chdir("/") != 0 { throw .system(.rootfs, "chdir /") }
}

// MARK: - finish

/// Read-only for the mount `fd` is the root of (recursively: also its submounts).
/// mount_setattr only adds MOUNT_ATTR_RDONLY, so flags locked by a user namespace stay.
func makeReadOnly(_ fd: FileDescriptor, recursive: Bool, shown: String) throws(SwiftletError) {
    let e = setMountAttributes(fd, recursive: recursive, set: MountAttr.readOnly, clear: 0)
    if e == 0 { return }
    if e != ENOSYS { throw SwiftletError(.rootfs, "remount " + shown + " read-only", errno: e) }
    // Old kernels: a bind remount, keeping the flags the mount has.
    let keep = mountFlags(fromStatfs: filesystemInfo(fd)?.flags ?? 0) & MountFlag.lockable
    let flags = MountFlag.remount | MountFlag.bind | MountFlag.readOnly | keep
    try mountOrThrow(nil, procSelfFd(fd), nil, flags, nil, shown: shown, stage: .rootfs)
}

/// A recursive read-only bind of `path` onto itself; missing paths are ignored.
func readonlyPath(_ root: FileDescriptor, _ path: String) throws(SwiftletError) {
    let target: RootedPath
    do throws(SwiftletError) {
        target = try openInRoot(root, path, stage: .rootfs)
    } catch let error where error.errno == ENOENT {
        return
    }
    defer { target.close() }
    let tree = try cloneMountTree("", at: target.fd, recursive: true, stage: .rootfs)
    defer { tree.close() }
    let e = setMountAttributes(tree, recursive: true, set: MountAttr.readOnly, clear: 0)
    if e != 0 { throw SwiftletError(.rootfs, "make " + path + " read-only", errno: e) }
    try attachMount(tree, onto: target.fd, shown: path, stage: .rootfs)
}

/// /dev/null over masked files, an empty read-only tmpfs over masked directories.
func maskPaths(_ root: FileDescriptor, _ paths: [String]) throws(SwiftletError) {
    let devNull = try FileDescriptor.open("/dev/null", O_PATH, stage: .rootfs)
    defer { devNull.close() }
    var st = stat()
    if fstat(devNull.raw, &st) != 0 { throw .system(.rootfs, "stat /dev/null") }
    guard cl_s_ischr(st.st_mode) != 0, cl_major(UInt64(st.st_rdev)) == 1, cl_minor(UInt64(st.st_rdev)) == 3 else {
        throw SwiftletError(.rootfs, "can't mask paths: the container's /dev/null is not the null device", errno: EINVAL)
    }
    var done: [String] = []
    for path in paths {
        let clean = lexicallyCleanPath(path)
        if done.contains(where: { $0.bytesEqual(clean) }) { continue }
        done.append(clean)
        let target: RootedPath
        do throws(SwiftletError) {
            target = try openInRoot(root, path, stage: .rootfs)
        } catch let error where error.errno == ENOENT {
            continue
        }
        defer { target.close() }
        if target.isRoot { throw SwiftletError(.rootfs, "can't mask " + path + ": it is the root", errno: EINVAL) }
        let mask: FileDescriptor
        if target.isDirectory {
            mask = try emptyReadOnlyTmpfs(fallbackTarget: target, shown: path)
        } else {
            mask = try cloneMountTree("", at: devNull, recursive: false, stage: .rootfs)
        }
        defer { mask.close() }
        if mask.raw < 0 { continue }  // mounted the old way already
        try attachMount(mask, onto: target.fd, shown: path, stage: .rootfs)
    }
}

extension Rootfs {
    /// A procfs of the caller's pid namespace, attached nowhere: the init of a container
    /// without a /proc mount reopens exec.fifo through it after pivot_root. Made before
    /// pivot_root, while the host's /proc keeps a new procfs mount from being "too revealing".
    public static func detachedProcfs() throws(SwiftletError) -> FileDescriptor {
        let fs = cl_fsopen("proc", MountAPI.fsopenCloexec)
        if fs < 0 { throw .system(.rootfs, "fsopen proc (no /proc mount in the container)") }
        defer { close(fs) }
        if cl_fsconfig(fs, MountAPI.fsconfigCreate, nil, nil, 0) != 0 {
            throw .system(.rootfs, "create procfs (no /proc mount in the container)")
        }
        let attributes = UInt32(MountAttr.readOnly | MountAttr.noSuid | MountAttr.noDev | MountAttr.noExec)
        let mnt = cl_fsmount(fs, MountAPI.fsmountCloexec, attributes)
        if mnt < 0 { throw .system(.rootfs, "fsmount procfs (no /proc mount in the container)") }
        return FileDescriptor(mnt)
    }
}

/// A detached, read-only, (almost) zero-sized tmpfs. Kernels without fsopen(2) get a
/// mount(2) straight onto the target instead, and FileDescriptor(-1) is returned.
func emptyReadOnlyTmpfs(fallbackTarget: RootedPath, shown: String) throws(SwiftletError) -> FileDescriptor {
    // Some kernels reject nr_inodes=1; 2 is as good.
    for inodes in ["1", "2"] {
        let fs = cl_fsopen("tmpfs", MountAPI.fsopenCloexec)
        if fs < 0 {
            if cl_errno() != ENOSYS { throw .system(.rootfs, "fsopen tmpfs to mask " + shown) }
            let flags = MountFlag.readOnly | MountFlag.noSuid | MountFlag.noDev | MountFlag.noExec
            let e = rawMount("tmpfs", procSelfFd(fallbackTarget.fd), "tmpfs", flags, "nr_blocks=1,nr_inodes=" + inodes)
            if e == 0 { return FileDescriptor(-1) }
            if inodes.bytesEqual("2") { throw SwiftletError(.rootfs, "mount tmpfs to mask " + shown, errno: e) }
            continue
        }
        defer { close(fs) }
        if cl_fsconfig(fs, MountAPI.fsconfigSetString, "source", "tmpfs", 0) != 0 ||
           cl_fsconfig(fs, MountAPI.fsconfigSetString, "nr_blocks", "1", 0) != 0 ||
           cl_fsconfig(fs, MountAPI.fsconfigSetString, "nr_inodes", inodes, 0) != 0 ||
           cl_fsconfig(fs, MountAPI.fsconfigCreate, nil, nil, 0) != 0 {
            if cl_errno() == EINVAL && inodes.bytesEqual("1") { continue }
            throw .system(.rootfs, "create tmpfs to mask " + shown)
        }
        let attributes = UInt32(MountAttr.readOnly | MountAttr.noSuid | MountAttr.noDev | MountAttr.noExec)
        let mnt = cl_fsmount(fs, MountAPI.fsmountCloexec, attributes)
        if mnt < 0 { throw .system(.rootfs, "fsmount tmpfs to mask " + shown) }
        return FileDescriptor(mnt)
    }
    throw SwiftletError(.rootfs, "create tmpfs to mask " + shown, errno: EINVAL)
}
