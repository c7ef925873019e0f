import Base
import CLinux
import Syscalls

// Executables that a container process may end up running but must never be able to write
// (CVE-2019-5736): the runtime itself, whose clones become the container's init and exec
// processes, and a foreign architecture's emulator. A process's /proc/PID/exe names the file
// it runs; a container that can open it must find a file it cannot change.

/// OVERLAYFS_SUPER_MAGIC of statfs(2).
private let overlayMagic: Int64 = 0x794c_7630
/// HOSTFS_SUPER_MAGIC: User Mode Linux's view of the host's files.
private let hostfsMagic: Int64 = 0x00c0_ffee
/// The seals of a copy that can never change again.
private let immutableSeals = Int32(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/// A copy of `file` in a memfd sealed against writes, resizing and further seals.
/// Executable: MFD_EXEC where the kernel knows it (6.3+), the default before.
public func sealedCopy(of file: FileDescriptor, shown: String) throws(SwiftletError) -> FileDescriptor {
    var st = stat()
    if fstat(file.raw, &st) != 0 { throw .system(.mounts, "stat " + shown) }
    let sealing = UInt32(MFD_CLOEXEC) | UInt32(MFD_ALLOW_SEALING)
    var raw = memfd_create("swiftlet-sealed", sealing | 0x0010)   // MFD_EXEC
    if raw < 0 && cl_errno() == EINVAL { raw = memfd_create("swiftlet-sealed", sealing) }
    if raw < 0 { throw .system(.mounts, "memfd_create for " + shown) }
    let copy = FileDescriptor(raw)
    var offset = off_t(0)   // 64 bits on every target, armv7 included (_FILE_OFFSET_BITS=64)
    var left = Int(st.st_size)
    while left > 0 {
        let n = sendfile(copy.raw, file.raw, &offset, left)
        if n < 0 && cl_errno() == EINTR { continue }
        if n <= 0 {
            let e = SwiftletError(.mounts, "copy " + shown + " into a sealed memfd", errno: n < 0 ? cl_errno() : EIO)
            copy.close()
            throw e
        }
        left -= n
    }
    if cl_fcntl_int(copy.raw, F_ADD_SEALS, immutableSeals) != 0 {
        let e = SwiftletError.system(.mounts, "seal the copy of " + shown)
        copy.close()
        throw e
    }
    return copy
}

/// The runtime's own executable as the kernel should run it for anything that may end up
/// inside a container: from a read-only image, never from the writable host file.
public enum RuntimeImage {
    /// Set by `reexecProtected` for the new image only; never inherited further.
    public static let marker = "_SWIFTLET_PROTECTED_IMAGE"

    /// How the running image is protected, or nil when it is the plain host file.
    public enum Protection: Equatable, Sendable {
        /// A detached read-only overlay whose only layers are the binary's directory and an
        /// empty tmpfs: no upper layer, so neither a remount nor `mount_setattr` can make it
        /// writable, and the page cache is the host file's (no copy in memory).
        case readOnlyOverlay
        /// A sealed memfd copy (kernels or hosts without overlayfs): costs the binary's size
        /// in memory while a process runs it.
        case sealedMemfd
    }

    /// How /proc/self/exe is protected right now.
    public static func currentProtection() -> Protection? {
        let fd = cl_open("/proc/self/exe", O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let seals = cl_fcntl_int(fd, F_GET_SEALS, 0)
        if seals >= 0 && seals & immutableSeals == immutableSeals { return .sealedMemfd }
        var type: Int64 = 0
        var flags: UInt64 = 0
        if cl_fstatfs_info(fd, &type, &flags) == 0 && type == overlayMagic && flags & 1 != 0 {   // ST_RDONLY
            return .readOnlyOverlay
        }
        return nil
    }

    /// Called by verbs that start container processes before their first side effect:
    /// unless this image is protected already, re-executes the same command from a
    /// protected image (never returns then). The first image started that way checks its protection and fails
    /// closed, so a kernel that offers neither route cannot send us round in circles.
    public static func ensureProtected() throws(SwiftletError) {
        if verified { return }
        if let value = getenv(marker) {
            let path = String(cString: value)
            if path.hasBytePrefix("/") { hostPath = path }
            unsetenv(marker)
            guard currentProtection() != nil else {
                throw SwiftletError(.mounts, "the runtime's executable is still writable after re-executing it", errno: EPERM)
            }
            verified = true
            return
        }
        // Even a binary that happens to sit on a read-only overlay is re-executed: only an
        // image this code made is known to have no upper layer.
        try reexec(arguments: nil)
    }

    /// The init of a UML guest (`guest-init`) runs /swiftlet of the guest's hostfs root,
    /// which the host binds read-only (UMLJail): a write from anywhere in the guest becomes the
    /// UML process's write to that read-only mount and fails, whatever the guest's root does.
    /// So the image is accepted as it is: a sealed copy would cost the binary's size of guest
    /// RAM and a re-execution, each system call of it a ptrace round trip on the host.
    /// False (and nothing accepted) when the image is not on hostfs.
    public static func acceptUMLGuestImage() -> Bool {
        let fd = cl_open("/proc/self/exe", O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var type: Int64 = 0
        var flags: UInt64 = 0
        guard cl_fstatfs_info(fd, &type, &flags) == 0, type == hostfsMagic else { return false }
        verified = true
        return true
    }

    /// The host file the protected image was made from (what the marker carried), for
    /// binding it read-only where a copy of the image cannot go (a UML guest's root).
    nonisolated(unsafe) public private(set) static var hostPath: String? = nil

    /// Set once this process has checked its image (several creates of one `pool fill`).
    nonisolated(unsafe) private static var verified = false

    /// Replaces this process with the protected image running `arguments` (argv, with
    /// argv[0]), or this process's own argv when nil. Returns only by throwing.
    public static func reexec(arguments: [String]?) throws(SwiftletError) -> Never {
        let image = try protectedImage()
        defer { image.close() }
        // The marker carries the host file's path on (or "1" when this image has none).
        let link = cl_open("/proc/self/exe", O_PATH | O_NOFOLLOW | O_CLOEXEC, 0)
        var origin = link >= 0 ? readSymlink(link) : nil
        if link >= 0 { close(link) }
        if let o = origin, !o.hasBytePrefix("/") || o.hasByteSuffix(" (deleted)") { origin = nil }
        if let known = hostPath { origin = known }
        if setenv(marker, origin ?? "1", 1) != 0 { throw .system(.mounts, "setenv " + marker) }
        let argv = arguments.map { CStringArray($0) }
        var e: Int32 = 0
        repeat {
            _ = execveat(image.raw, "", argv?.pointer ?? cl_argv(), cl_environ(), AT_EMPTY_PATH)
            e = cl_errno()
        } while e == EINTR
        if e == ENOSYS {
            // Without execveat (Linux < 3.19, or a filter around us): the same file by its fd.
            repeat {
                _ = execve("/proc/self/fd/" + String(image.raw), argv?.pointer ?? cl_argv(), cl_environ())
                e = cl_errno()
            } while e == EINTR
        }
        argv?.free()
        unsetenv(marker)
        // ENOEXEC: the kernel cannot run this binary itself (an emulator runs it): its clones
        // would run the emulator's host file, so no container process may be started.
        throw SwiftletError(.mounts, "re-execute the runtime from a read-only image"
                            + (e == ENOEXEC ? " (is it running under an emulator?)" : ""), errno: e)
    }

    /// An fd of the runtime's executable that no one can write through.
    static func protectedImage() throws(SwiftletError) -> FileDescriptor {
        let exe = try FileDescriptor.open("/proc/self/exe", O_RDONLY | O_CLOEXEC, stage: .mounts)
        defer { exe.close() }
        if let image = readOnlyOverlay(of: exe) { return image }
        return try sealedCopy(of: exe, shown: "the runtime's executable")
    }

    /// The executable opened through a fresh read-only overlay of its directory, or nil
    /// when overlayfs is not available (or the file found there is not the same one).
    static func readOnlyOverlay(of exe: FileDescriptor) -> FileDescriptor? {
        let link = cl_open("/proc/self/exe", O_PATH | O_NOFOLLOW | O_CLOEXEC, 0)
        guard link >= 0 else { return nil }
        let target = readSymlink(link)
        close(link)
        guard let path = target, path.hasBytePrefix("/"),
              let slash = path.utf8.lastIndex(of: 47) else { return nil }
        let directory = slash == path.utf8.startIndex ? "/" : String(path[..<slash])
        let name = String(path[path.utf8.index(after: slash)...])
        guard !name.isEmpty, !path.hasByteSuffix(" (deleted)") else { return nil }

        let lower = cl_open(directory, O_PATH | O_DIRECTORY | O_CLOEXEC, 0)
        guard lower >= 0 else { return nil }
        defer { close(lower) }
        // overlayfs wants two layers when there is no upper one: the second is empty.
        guard let empty = detachedMount("tmpfs", options: [("size", "4k"), ("mode", "0500")]) else { return nil }
        defer { close(empty) }
        let overlay = cl_fsopen("overlay", MountAPI.fsopenCloexec)
        guard overlay >= 0 else { return nil }
        defer { close(overlay) }
        // "lowerdir+" by fd (Linux 6.8+): no path string to escape.
        guard cl_fsconfig(overlay, MountAPI.fsconfigSetFD, "lowerdir+", nil, lower) == 0,
              cl_fsconfig(overlay, MountAPI.fsconfigSetFD, "lowerdir+", nil, empty) == 0,
              cl_fsconfig(overlay, MountAPI.fsconfigCreate, nil, nil, 0) == 0 else { return nil }
        let mount = cl_fsmount(overlay, MountAPI.fsmountCloexec, UInt32(MountAttr.readOnly | MountAttr.noDev | MountAttr.noSuid))
        guard mount >= 0 else { return nil }
        defer { close(mount) }
        let image = cl_openat(mount, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0)
        guard image >= 0 else { return nil }
        // The overlay shows the host file's content: make sure it is the file we run.
        var ours = stat()
        var seen = stat()
        guard fstat(exe.raw, &ours) == 0, fstat(image, &seen) == 0, seen.st_size == ours.st_size,
              seen.st_mtim.tv_sec == ours.st_mtim.tv_sec, seen.st_mtim.tv_nsec == ours.st_mtim.tv_nsec,
              cl_s_isreg(seen.st_mode) != 0 else {
            close(image)
            return nil
        }
        return FileDescriptor(image)
    }

    /// A detached mount of a new file system, read-only; nil if the kernel refuses.
    private static func detachedMount(_ type: String, options: [(String, String)]) -> Int32? {
        (try? detachedFilesystem(type, options: options, attributes: MountAttr.readOnly))?.raw
    }
}
