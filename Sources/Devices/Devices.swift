import Base
import CLinux
import Mounts
import OCISpec
import Syscalls

/// Populates the container's /dev. Runs in the container's init before pivot_root, with
/// rootfs still a host path. Every node is made through the fd of its parent directory,
/// resolved inside rootfs, so a symlink in the image cannot send a node (or a bind of a
/// host device) anywhere outside.
public enum Devices {
    /// The devices every container gets (runc's list), unless linux.devices names the same path.
    static let defaults: [(path: String, major: Int64, minor: Int64)] = [
        ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
        ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
    ]

    /// False when the config bind-mounts /dev: then /dev is someone else's directory and
    /// nothing may be created (or, for /dev/ptmx, deleted) in it.
    public static func needsSetup(mounts: [MountSpec]) -> Bool {
        for m in mounts where lexicallyCleanPath(m.destination).bytesEqual("/dev") {
            let options = parseMountOptions(m.options)
            if options.isBind || (m.type ?? "").bytesEqual("bind") { return false }
        }
        return true
    }

    /// Creates the default devices (/dev/null, zero, full, random, urandom, tty), then each
    /// linux.devices entry (mknod with its type, numbers, mode and owner; in a user
    /// namespace, where mknod of devices is impossible, an empty file with the host's node
    /// bind-mounted on it), /dev/ptmx -> pts/ptmx when a devpts is mounted at /dev/pts, and
    /// the symlinks /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr and /dev/core (if the host
    /// has /proc/kcore). Does nothing when `mounts` bind-mounts /dev or /dev is the host's
    /// devtmpfs.
    public static func setup(rootfs: String, devices: [DeviceSpec], userNamespace: Bool,
                             mounts: [MountSpec] = []) throws(SwiftletError) {
        guard needsSetup(mounts: mounts) else { return }
        guard let resolved = realpath(rootfs, nil) else { throw .system(.devices, "resolve rootfs " + rootfs) }
        let rootfsPath = String(cString: resolved)
        free(resolved)
        if try devIsHostDevtmpfs(rootfsPath) { return }

        let root = try FileDescriptor.open(rootfsPath, O_PATH | O_DIRECTORY, stage: .devices)
        defer { root.close() }

        var nodes: [DeviceSpec] = []
        for d in defaults where !devices.contains(where: { lexicallyCleanPath($0.path).bytesEqual(d.path) }) {
            var spec = DeviceSpec(type: "c", path: d.path)
            spec.major = d.major
            spec.minor = d.minor
            spec.fileMode = 0o666
            spec.uid = 0
            spec.gid = 0
            nodes.append(spec)
        }
        nodes.append(contentsOf: devices)

        let ptmxIsSymlink = try devptsMounted(root)
        for device in nodes {
            // With a devpts instance, /dev/ptmx must be its ptmx (the symlink below).
            if ptmxIsSymlink && lexicallyCleanPath(device.path).bytesEqual("/dev/ptmx") { continue }
            do throws(SwiftletError) {
                try createDevice(root, device, userNamespace: userNamespace)
            } catch {
                throw error.context("device " + device.path)
            }
        }
        if ptmxIsSymlink {
            try replaceWithSymlink(root, "/dev/ptmx", target: "pts/ptmx")
        }
        var links: [(String, String)] = [
            ("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"),
            ("/dev/stdout", "/proc/self/fd/1"), ("/dev/stderr", "/proc/self/fd/2"),
        ]
        if pathExists("/proc/kcore") { links.append(("/dev/core", "/proc/kcore")) }
        for (path, target) in links {
            try makeSymlink(root, path, target: target)
        }
    }
}

/// A /dev that is the host's devtmpfs (a bind of the host /dev) is not ours to populate.
func devIsHostDevtmpfs(_ rootfs: String) throws(SwiftletError) -> Bool {
    let dev = lexicallyCleanPath(rootfs + "/dev")
    var fsType: String? = nil
    for entry in try readMountInfo(stage: .devices) where entry.mountPoint.bytesEqual(dev) {
        fsType = entry.fsType  // the last one listed is on top
    }
    return fsType?.bytesEqual("devtmpfs") ?? false
}

/// True if /dev/pts inside the rootfs is a devpts mount.
func devptsMounted(_ root: FileDescriptor) throws(SwiftletError) -> Bool {
    let pts: RootedPath
    do throws(SwiftletError) {
        pts = try openInRoot(root, "/dev/pts", stage: .devices)
    } catch let error where error.errno == ENOENT || error.errno == ENOTDIR {
        return false
    }
    defer { pts.close() }
    return filesystemInfo(pts.fd)?.type == FilesystemMagic.devpts
}

/// S_IF* bits for a device type, nil if the type is unknown.
func deviceFileType(_ type: String) -> UInt32? {
    if type.bytesEqual("c") || type.bytesEqual("u") { return UInt32(S_IFCHR) }
    if type.bytesEqual("b") { return UInt32(S_IFBLK) }
    if type.bytesEqual("p") { return UInt32(S_IFIFO) }
    return nil
}

func createDevice(_ root: FileDescriptor, _ device: DeviceSpec, userNamespace: Bool) throws(SwiftletError) {
    // The parser checked type and numbers; a spec built in code gets the same refusal.
    guard let fileType = deviceFileType(device.type) else {
        throw SwiftletError(.devices, "device " + jsonQuoted(device.path) + ": unknown type " + jsonQuoted(device.type),
                            errno: EINVAL)
    }
    guard device.major >= 0, device.major <= 0xffff_ffff, device.minor >= 0, device.minor <= 0xffff_ffff else {
        throw SwiftletError(.devices, "device " + jsonQuoted(device.path) + ": major/minor out of range", errno: EINVAL)
    }
    let rdev = fileType == UInt32(S_IFIFO) ? 0 : cl_makedev(UInt32(device.major), UInt32(device.minor))
    let mode = (device.fileMode ?? 0o666) & 0o7777
    let (parent, name) = try openParentInRoot(root, device.path, makeDirectories: true, stage: .devices)
    defer { parent.close() }

    // Only root of the initial user namespace may mknod devices; fifos are fine anywhere.
    if userNamespace && fileType != UInt32(S_IFIFO) {
        try bindHostDevice(parent, name, device, fileType: fileType, rdev: rdev)
        return
    }
    if mknodat(parent.fd.raw, name, fileType | mode, dev_t(rdev)) != 0 {
        let e = cl_errno()
        if e == EEXIST { return }
        if e == EPERM && fileType != UInt32(S_IFIFO) {
            try bindHostDevice(parent, name, device, fileType: fileType, rdev: rdev)
            return
        }
        throw SwiftletError(.devices, "mknod " + device.path, errno: e)
    }
    let node = try FileDescriptor.open(name, O_PATH | O_NOFOLLOW, at: parent.fd, stage: .devices)
    defer { node.close() }
    var st = stat()
    if fstat(node.raw, &st) != 0 { throw .system(.devices, "stat " + device.path) }
    guard st.st_mode & UInt32(S_IFMT) == fileType, fileType == UInt32(S_IFIFO) || UInt64(st.st_rdev) == rdev else {
        throw SwiftletError(.devices, "new device node " + device.path + " is not what was created", errno: EEXIST)
    }
    // The umask may have taken bits; chmod through the fd's /proc link acts on this inode only.
    if chmod(procSelfFd(node), mode) != 0 { throw .system(.devices, "chmod " + device.path) }
    if fchownat(node.raw, "", device.uid ?? 0, device.gid ?? 0, AT_EMPTY_PATH) != 0 {
        throw .system(.devices, "chown " + device.path)
    }
}

/// Bind-mounts the host's node at the same path onto an empty file. The host node must be
/// the device the config describes: otherwise a "device" could bind any host file in.
func bindHostDevice(_ parent: RootedPath, _ name: String, _ device: DeviceSpec, fileType: UInt32,
                    rdev: UInt64) throws(SwiftletError) {
    let hostPath = lexicallyCleanPath(device.path)
    var host = stat()
    if stat(hostPath, &host) != 0 {
        let e = cl_errno()
        if e == ENOENT {
            throw SwiftletError(.devices, "device " + hostPath + " does not exist on the host: a user namespace cannot create device nodes, only bind the host's",
                                errno: e)
        }
        throw SwiftletError(.devices, "stat host device " + hostPath, errno: e)
    }
    guard host.st_mode & UInt32(S_IFMT) == fileType, UInt64(host.st_rdev) == rdev else {
        throw SwiftletError(.devices, "host " + hostPath + " is not the configured device", errno: EINVAL)
    }
    var target = cl_openat(parent.fd.raw, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0)
    if target < 0 {
        guard cl_errno() == ENOENT else { throw .system(.devices, "open " + device.path) }
        let created = cl_openat(parent.fd.raw, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0)
        if created < 0 { throw .system(.devices, "create " + device.path) }
        close(created)
        target = cl_openat(parent.fd.raw, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0)
        if target < 0 { throw .system(.devices, "open " + device.path) }
    }
    let targetFd = FileDescriptor(target)
    defer { targetFd.close() }
    var st = stat()
    if fstat(target, &st) != 0 { throw .system(.devices, "stat " + device.path) }
    if cl_s_islnk(st.st_mode) != 0 || cl_s_isdir(st.st_mode) != 0 {
        throw SwiftletError(.devices, device.path + " exists and is not a file", errno: EEXIST)
    }
    let tree = try cloneMountTree(hostPath, recursive: false, stage: .devices)
    defer { tree.close() }
    // A bound node is a device and nothing else: no set-id or program may run from it.
    let e = setMountAttributes(tree, recursive: false, set: MountAttr.noSuid | MountAttr.noExec, clear: 0)
    if e != 0 { throw SwiftletError(.devices, "mount_setattr nosuid,noexec on " + device.path, errno: e) }
    try attachMount(tree, onto: targetFd, shown: device.path, stage: .devices)
}

/// symlink(2) inside rootfs; an existing entry is left alone (as runc).
func makeSymlink(_ root: FileDescriptor, _ path: String, target: String) throws(SwiftletError) {
    let (parent, name) = try openParentInRoot(root, path, makeDirectories: true, stage: .devices)
    defer { parent.close() }
    if symlinkat(target, parent.fd.raw, name) != 0 && cl_errno() != EEXIST {
        throw .system(.devices, "symlink " + path + " -> " + target)
    }
}

/// Removes whatever is at `path` (not a directory) and puts a symlink there.
func replaceWithSymlink(_ root: FileDescriptor, _ path: String, target: String) throws(SwiftletError) {
    let (parent, name) = try openParentInRoot(root, path, makeDirectories: true, stage: .devices)
    defer { parent.close() }
    if unlinkat(parent.fd.raw, name, 0) != 0 && cl_errno() != ENOENT {
        throw .system(.devices, "remove " + path)
    }
    if symlinkat(target, parent.fd.raw, name) != 0 {
        throw .system(.devices, "symlink " + path + " -> " + target)
    }
}

