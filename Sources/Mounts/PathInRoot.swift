import Base
import CLinux
import Syscalls

// Resolving container paths inside the rootfs. A config's paths and the rootfs's own
// symlinks are hostile: "/etc" may be a symlink to the host's "/", a path may be "../../x",
// and a shared volume may be swapped while we look (CVE-2021-30465). So paths are walked
// one component at a time from an fd of the root with O_NOFOLLOW, symlinks are read and
// expanded by us with ".." and absolute targets clamped at the root (like openat2's
// RESOLVE_IN_ROOT, and never following /proc magic links), and the result is an O_PATH fd
// that later operations go through instead of a path that could be swapped.

/// What to do about missing components while resolving.
public enum MissingComponents: Sendable {
    /// Fail with ENOENT.
    case fail
    /// Create missing components as directories (mode 0755).
    case makeDirectories
    /// Create missing parents as directories and a missing last component as an empty
    /// regular file with this mode.
    case makeFile(mode: UInt32)
}

/// A file opened (O_PATH) inside a root.
public struct RootedPath: Sendable {
    /// The O_PATH fd; the caller closes it.
    public let fd: FileDescriptor
    /// Where it is inside the root, symlinks resolved: "/" or "/a/b".
    public let path: String
    /// st_mode of what was opened (a symlink only if the final symlink was not followed).
    public let mode: UInt32

    public var isDirectory: Bool { cl_s_isdir(mode) != 0 }
    public var isSymlink: Bool { cl_s_islnk(mode) != 0 }
    public var isRoot: Bool { path.bytesEqual("/") }
    public func close() { fd.close() }
}

/// The most symlinks one resolution follows, as the kernel's MAXSYMLINKS.
private let maximumSymlinks = 40

/// Opens `path` inside the directory `root` as if `root` were "/". Missing components are
/// created when asked (never outside the root: creation happens through the fd of the
/// directory already resolved, with O_EXCL/O_NOFOLLOW). With `followFinalSymlink` false
/// a final symlink is returned itself. With `allowSymlinks` false any symlink is an error
/// (ELOOP): for re-opening a path that is already resolved.
public func openInRoot(_ root: FileDescriptor, _ path: String, missing: MissingComponents = .fail,
                       followFinalSymlink: Bool = true, allowSymlinks: Bool = true,
                       stage: Stage = .mounts) throws(SwiftletError) -> RootedPath {
    if path.utf8.contains(0) { throw SwiftletError(stage, "path " + jsonQuoted(path) + " contains a NUL byte", errno: EINVAL) }
    let components = lexicalComponents(path)
    let plain = openPlainPath(root, components)
    if let opened = plain.path { return opened }
    if case .fail = missing, plain.failure == ENOENT {
        // Every component up to the missing one is a directory, not a symlink: the walk would
        // stop at the same one.
        throw SwiftletError(stage, "open " + path + " in rootfs", errno: ENOENT)
    }
    if let made = makePlainLastComponent(root, components, missing: missing) { return made }
    var walker = Walker(root: root, stage: stage)
    defer { walker.closeAll() }
    return try walker.resolve(components.reversed(), missing: missing,
                              followFinalSymlink: followFinalSymlink, allowSymlinks: allowSymlinks, shown: path)
}

/// The common case in one step: every component exists and none is a symlink (/proc,
/// /dev/pts, the masked paths), opened by one openat2 confined below the root that refuses
/// every symlink and magic link, so the walk would find the same file. Anything else (a
/// component to create, a symlink to expand, another error to name, a kernel without
/// openat2) takes the walk: nil, and `failure` is openat2's errno if it failed (else 0).
/// The walk costs three system calls per component, each a round trip to the guest kernel
/// in the UML tier.
private func openPlainPath(_ root: FileDescriptor, _ components: [String]) -> (path: RootedPath?, failure: Int32) {
    guard !components.isEmpty else { return (nil, 0) }
    let relative = join(components, "/")
    let fd = cl_openat2_beneath(root.raw, relative, O_PATH | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else { return (nil, cl_errno()) }
    var st = stat()
    guard fstat(fd, &st) == 0, cl_s_islnk(st.st_mode) == 0 else {
        CLinux.close(fd)
        return (nil, 0)
    }
    return (RootedPath(fd: FileDescriptor(fd), path: "/" + relative, mode: st.st_mode), 0)
}

/// The other common case (/dev/pts, /dev/shm, a cgroup directory): only the last component
/// is missing and is to be made, below a parent that opens as a plain path. It is made
/// through the parent's fd (O_EXCL/O_NOFOLLOW for a file, as the walk does) and the whole
/// path opened as a plain path again; anything else: nil, the walk.
private func makePlainLastComponent(_ root: FileDescriptor, _ components: [String],
                                    missing: MissingComponents) -> RootedPath? {
    guard let name = components.last else { return nil }
    if case .fail = missing { return nil }
    var parent = root.raw
    if components.count > 1 {
        guard let opened = openPlainPath(root, Array(components.dropLast())).path else { return nil }
        guard opened.isDirectory else { opened.close(); return nil }
        parent = opened.fd.raw
    }
    defer { if parent != root.raw { CLinux.close(parent) } }
    switch missing {
    case .fail:
        return nil
    case .makeDirectories:
        if mkdirat(parent, name, 0o755) != 0 && cl_errno() != EEXIST { return nil }
    case .makeFile(let mode):
        let created = cl_openat(parent, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, mode)
        if created >= 0 { CLinux.close(created) } else if cl_errno() != EEXIST { return nil }
    }
    return openPlainPath(root, components).path
}

/// Opens the parent directory of `path` inside `root` (creating it if asked) and returns
/// it with the last component's name, for operations that create the last component
/// themselves (mknodat, symlinkat). The path may not be the root itself.
public func openParentInRoot(_ root: FileDescriptor, _ path: String, makeDirectories: Bool,
                             stage: Stage = .mounts) throws(SwiftletError) -> (parent: RootedPath, name: String) {
    var parts = lexicalComponents(path)
    guard let name = parts.popLast() else {
        throw SwiftletError(stage, jsonQuoted(path) + " is the root directory", errno: EINVAL)
    }
    let parent = try openInRoot(root, "/" + join(parts, "/"), missing: makeDirectories ? .makeDirectories : .fail,
                                stage: stage)
    if !parent.isDirectory {
        parent.close()
        throw SwiftletError(stage, "open " + path + ": parent is not a directory", errno: ENOTDIR)
    }
    return (parent, name)
}

/// The stack of directories walked so far: fds[0] is the root (not ours to close).
private struct Walker {
    let root: FileDescriptor
    let stage: Stage
    var fds: [Int32]
    var names: [String]

    init(root: FileDescriptor, stage: Stage) {
        self.root = root
        self.stage = stage
        fds = [root.raw]
        names = []
    }

    var top: Int32 { fds[fds.count - 1] }
    var currentPath: String { "/" + join(names, "/") }

    mutating func closeAll() {
        while fds.count > 1 { CLinux.close(fds.removeLast()) }
        names.removeAll()
    }

    mutating func push(_ fd: Int32, _ name: String) {
        fds.append(fd)
        names.append(name)
    }

    mutating func pop() {
        guard fds.count > 1 else { return }
        CLinux.close(fds.removeLast())
        names.removeLast()
    }

    func failure(_ what: String, _ shown: String, errno: Int32) -> SwiftletError {
        SwiftletError(stage, what + " " + shown + " (at " + currentPath + ") in rootfs", errno: errno)
    }

    /// `pending` holds the components still to walk, last one first (popLast is the next).
    mutating func resolve(_ initial: [String], missing: MissingComponents, followFinalSymlink: Bool,
                          allowSymlinks: Bool, shown: String) throws(SwiftletError) -> RootedPath {
        var pending = initial
        var symlinks = 0
        var creations = 0
        var finalMode: UInt32 = 0
        if pending.isEmpty {
            var st = stat()
            if fstat(root.raw, &st) != 0 { throw .system(stage, "stat rootfs") }
            finalMode = st.st_mode
        }
        while let name = pending.popLast() {
            if name.isEmpty || name.bytesEqual(".") { continue }
            if name.bytesEqual("..") {
                pop()
                continue
            }
            let isLast = !pending.contains(where: { !$0.isEmpty && !$0.bytesEqual(".") })
            let fd = cl_openat(top, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0)
            if fd < 0 {
                let e = cl_errno()
                guard e == ENOENT else { throw failure("open", shown, errno: e) }
                creations += 1
                if creations > 1000 { throw failure("create", shown, errno: ELOOP) }
                switch missing {
                case .fail:
                    throw failure("open", shown, errno: ENOENT)
                case .makeFile(let mode) where isLast:
                    let created = cl_openat(top, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, mode)
                    if created < 0 {
                        // Lost a race with something else creating it: look at it again.
                        if cl_errno() == EEXIST { pending.append(name); continue }
                        throw .system(stage, "create " + currentPath + "/" + name + " in rootfs")
                    }
                    CLinux.close(created)
                case .makeFile, .makeDirectories:
                    if mkdirat(top, name, 0o755) != 0 && cl_errno() != EEXIST {
                        throw .system(stage, "mkdir " + currentPath + "/" + name + " in rootfs")
                    }
                }
                // Whatever is there now (ours, or a racing symlink) is looked at afresh.
                pending.append(name)
                continue
            }
            var st = stat()
            if fstat(fd, &st) != 0 {
                let e = SwiftletError.system(stage, "stat " + currentPath + "/" + name + " in rootfs")
                CLinux.close(fd)
                throw e
            }
            if cl_s_islnk(st.st_mode) != 0 {
                if !allowSymlinks {
                    CLinux.close(fd)
                    throw failure("open", shown, errno: ELOOP)
                }
                if isLast && !followFinalSymlink {
                    push(fd, name)
                    finalMode = st.st_mode
                    break
                }
                symlinks += 1
                if symlinks > maximumSymlinks {
                    CLinux.close(fd)
                    throw failure("open", shown, errno: ELOOP)
                }
                let target = readSymlink(fd)
                CLinux.close(fd)
                guard let target, !target.isEmpty else { throw failure("readlink", shown, errno: cl_errno()) }
                if target.hasBytePrefix("/") {
                    while fds.count > 1 { pop() }
                }
                for part in target.split(byte: 47).reversed() { pending.append(part) }
                continue
            }
            if !isLast && cl_s_isdir(st.st_mode) == 0 {
                // Anything left (even "..") needs a directory here.
                CLinux.close(fd)
                throw failure("open", shown, errno: ENOTDIR)
            }
            push(fd, name)
            finalMode = st.st_mode
        }
        // Hand out our own fd for the result (the root's is the caller's).
        let result: Int32
        if fds.count > 1 {
            result = fds.removeLast()
        } else {
            result = cl_fcntl_int(root.raw, F_DUPFD_CLOEXEC, 0)
            if result < 0 { throw .system(stage, "dup rootfs fd") }
        }
        let path = currentPath
        return RootedPath(fd: FileDescriptor(result), path: path, mode: finalMode)
    }
}

/// The target of the symlink opened (O_PATH|O_NOFOLLOW) as `fd`, nil on error.
func readSymlink(_ fd: Int32) -> String? {
    var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = buffer.withUnsafeMutableBytes { raw in
        readlinkat(fd, "", raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
    }
    if n < 0 || n >= buffer.count { return nil }
    return String(decoding: buffer[0..<n], as: UTF8.self)
}

/// "/proc/self/fd/N": mount(2) given this path acts on the file the fd holds, not on
/// whatever a path string would name by the time the kernel looks it up.
public func procSelfFd(_ fd: FileDescriptor) -> String {
    "/proc/self/fd/" + String(fd.raw)
}
