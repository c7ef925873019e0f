import Base
import CLinux
import Syscalls

/// Files of procfs opened so that nothing mounted or linked over them can redirect the
/// access (CVE-2025-52881): the directory must be procfs, and the file is resolved
/// beneath it refusing every symlink.
public enum ProcFS {
    /// `path` (e.g. "/proc" or "/proc/sys"), checked to be on procfs.
    public static func openDirectory(_ path: String) throws(SwiftletError) -> FileDescriptor {
        let dir = try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY, stage: .process)
        var type: Int64 = 0
        var flags: UInt64 = 0
        if cl_fstatfs_info(dir.raw, &type, &flags) != 0 {
            let e = SwiftletError.system(.process, "statfs " + path)
            dir.close()
            throw e
        }
        if type != 0x9fa0 {   // PROC_SUPER_MAGIC
            dir.close()
            throw SwiftletError(.process, path + " is not on procfs", errno: EINVAL)
        }
        return dir
    }

    /// `relative` below `dir`, symlinks refused (O_NOFOLLOW on the last part before Linux 5.6).
    public static func open(_ relative: String, in dir: FileDescriptor, flags: Int32) throws(SwiftletError) -> FileDescriptor {
        var fd = cl_openat2_beneath(dir.raw, relative, flags)
        if fd < 0 && cl_errno() == ENOSYS {
            fd = cl_openat(dir.raw, relative, flags | O_NOFOLLOW | O_CLOEXEC, 0)
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
