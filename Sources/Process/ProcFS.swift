import Base
import CLinux
import Syscalls

/// Files of procfs opened so that nothing mounted or linked over them can redirect the
/// access (CVE-2025-52881): the directory must be procfs, and the file is resolved
/// beneath it refusing every symlink.
public enum ProcFS {
    /// `path` (e.g. "/proc" or "/proc/sys"), checked to be on procfs; "/proc" must also be
    /// the root of its procfs mount.
    public static func openDirectory(_ path: String) throws(SwiftletError) -> FileDescriptor {
        let dir = try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, stage: .process)
        var st = stat()
        let isRoot = fstat(dir.raw, &st) == 0 && UInt64(st.st_ino) == 1   // PROC_ROOT_INO
        guard isProcfs(dir.raw), isRoot || !path.bytesEqual("/proc") else {
            dir.close()
            throw SwiftletError(.process, path + " is not " + (path.bytesEqual("/proc") ? "the root of a procfs mount" : "on procfs"),
                                errno: EINVAL)
        }
        return dir
    }

    public static func isProcfs(_ fd: Int32) -> Bool {
        var type: Int64 = 0
        var flags: UInt64 = 0
        return cl_fstatfs_info(fd, &type, &flags) == 0 && type == 0x9fa0   // PROC_SUPER_MAGIC
    }

    /// `relative` below `dir`: no symlink followed, no mount crossed (O_NOFOLLOW on the
    /// last part and a procfs check before Linux 5.6).
    public static func open(_ relative: String, in dir: FileDescriptor, flags: Int32) throws(SwiftletError) -> FileDescriptor {
        var fd = cl_openat2_procfs(dir.raw, relative, flags)
        if fd < 0 && cl_errno() == ENOSYS {
            fd = cl_openat(dir.raw, relative, flags | O_NOFOLLOW | O_CLOEXEC, 0)
            if fd >= 0 && !isProcfs(fd) {
                close(fd)
                throw SwiftletError(.process, "/proc/" + relative + " is not on procfs", errno: EINVAL)
            }
        }
        if fd < 0 { throw .system(.process, "open /proc/" + relative) }
        return FileDescriptor(fd)
    }

    /// Writes `value` to /proc/<relative> (e.g. "123/oom_score_adj").
    public static func write(_ relative: String, _ value: String, procRoot: String = "/proc") throws(SwiftletError) {
        let dir = try openDirectory(procRoot)
        defer { dir.close() }
        let file = try open(relative, in: dir, flags: O_WRONLY | O_TRUNC)
        defer { file.close() }
        try file.writeAll(value, stage: .process)
    }

    /// The text of /proc/<relative>.
    public static func read(_ relative: String, procRoot: String = "/proc") throws(SwiftletError) -> String {
        let dir = try openDirectory(procRoot)
        defer { dir.close() }
        let file = try open(relative, in: dir, flags: O_RDONLY)
        defer { file.close() }
        return String(decoding: try file.readAll(stage: .process), as: UTF8.self)
    }
}
