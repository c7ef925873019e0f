import Base
import CLinux
import JSON

/// The notifying task, reached through /proc/PID: its memory (to copy arguments once),
/// its root and mount namespace (to act in), and its user namespace (to act as its
/// root). All fds are opened first and the notification is checked afterwards
/// (SECCOMP_IOCTL_NOTIF_ID_VALID), so a PID reused meanwhile is never acted upon.
struct Task {
    let pid: UInt32
    let mem: Int32
    let root: Int32
    let mountNamespace: Int32
    /// -1 when the task shares the agent's user namespace (setns to it would fail).
    let userNamespace: Int32

    enum Opened {
        case task(Task)
        /// The task died or the notification was answered (it was interrupted).
        case gone
        case failed(Int32)
    }

    static func open(pid: UInt32, notifyFD: Int32, id: UInt64, withUserNamespace: Bool,
                     ownUserNamespace: (UInt64, UInt64)) -> Opened {
        let base = "/proc/" + String(pid) + "/"
        var failure: Int32 = 0
        func openOrRecord(_ name: String, _ flags: Int32) -> Int32 {
            let fd = cl_open(base + name, flags | O_CLOEXEC, 0)
            if fd < 0 && failure == 0 { failure = cl_errno() }
            return fd
        }
        let mem = openOrRecord("mem", O_RDONLY)
        let root = openOrRecord("root", O_PATH | O_DIRECTORY)
        let mnt = openOrRecord("ns/mnt", O_RDONLY)
        var user: Int32 = -1
        if withUserNamespace {
            user = openOrRecord("ns/user", O_RDONLY)
            if user >= 0, let id = fileIdentity(user), id == ownUserNamespace {
                _ = CLinux.close(user)
                user = -1
            }
        }
        let task = Task(pid: pid, mem: mem, root: root, mountNamespace: mnt, userNamespace: user)
        if cl_agent_notif_id_valid(notifyFD, id) != 0 {
            task.close()
            return .gone
        }
        if failure != 0 {
            task.close()
            return .failed(failure)
        }
        return .task(task)
    }

    func close() {
        for fd in [mem, root, mountNamespace, userNamespace] where fd >= 0 { _ = CLinux.close(fd) }
    }

    /// Reads a NUL-terminated string at `address` from the task's memory, page by page so
    /// a string ending just before an unmapped page still reads.
    func string(at address: UInt64, limit: Int = 4096) -> Copied {
        if address == 0 { return .null }
        var out: [UInt8] = []
        var at = address
        var page = [UInt8](repeating: 0, count: 4096)
        while out.count < limit {
            let room = min(4096 - Int(at & 4095), limit - out.count)
            let n = page.withUnsafeMutableBytes { pread(mem, $0.baseAddress, room, Int(bitPattern: UInt(at))) }
            if n <= 0 { return .fault }
            if let nul = page[0..<n].firstIndex(of: 0) {
                out.append(contentsOf: page[0..<nul])
                return .text(String(decoding: out, as: UTF8.self), raw: out)
            }
            out.append(contentsOf: page[0..<n])
            at &+= UInt64(n)
        }
        return .tooLong
    }

    /// Umask and the filesystem uid/gid (host ids) of the task, from /proc/PID/status.
    func credentials() -> (umask: UInt32, uid: UInt32, gid: UInt32)? {
        let fd = cl_open("/proc/" + String(pid) + "/status", O_RDONLY | O_CLOEXEC, 0)
        if fd < 0 { return nil }
        defer { _ = CLinux.close(fd) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { return nil }
        var umask: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil
        for line in String(decoding: buf[0..<n], as: UTF8.self).split(byte: 10) {
            guard let (key, value) = line.splitOnce(byte: UInt8(ascii: ":")) else { continue }
            let fields = value.split(byte: 9).map { $0.trimmed() }.filter { !$0.isEmpty }
            if key.bytesEqual("Umask") {
                umask = parseOctal(value.trimmed())
            } else if key.bytesEqual("Uid"), fields.count == 4 {
                uid = parseUInt64(fields[3]).flatMap { UInt32(exactly: $0) }
            } else if key.bytesEqual("Gid"), fields.count == 4 {
                gid = parseUInt64(fields[3]).flatMap { UInt32(exactly: $0) }
            }
        }
        guard let umask, let uid, let gid else { return nil }
        return (umask, uid, gid)
    }

    /// The container path of the task's cwd (dirfd == AT_FDCWD) or of its fd `dirfd`,
    /// for relative path arguments; as an errno on failure.
    func directoryPath(dirfd: Int32) -> Result<String, AgentErrno> {
        let link = dirfd == AT_FDCWD ? "/proc/" + String(pid) + "/cwd" : "/proc/" + String(pid) + "/fd/" + String(dirfd)
        let dir = cl_open(link, O_PATH | O_DIRECTORY | O_CLOEXEC, 0)
        if dir < 0 {
            let e = cl_errno()
            return .failure(AgentErrno(dirfd == AT_FDCWD || e == ENOTDIR ? e : EBADF))
        }
        defer { _ = CLinux.close(dir) }
        var buf = [UInt8](repeating: 0, count: 4097)
        let e = buf.withUnsafeMutableBytes {
            cl_agent_path_of(mountNamespace, root, dir, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count, helperTimeoutMS)
        }
        if e != 0 { return .failure(AgentErrno(e)) }
        let end = buf.firstIndex(of: 0) ?? buf.count
        return .success(String(decoding: buf[0..<end], as: UTF8.self))
    }
}

/// An errno as an Error, for Result.
struct AgentErrno: Error {
    let value: Int32
    init(_ value: Int32) { self.value = value }
}

enum Copied {
    case null
    case text(String, raw: [UInt8])
    case fault
    case tooLong

    /// As logged: the text (cut at 256 bytes), null, or what went wrong.
    var json: JSON {
        switch self {
        case .null: return .null
        case .text(let s, _): return .string(jsonSafe(s))
        case .fault: return .string("<unreadable>")
        case .tooLong: return .string("<too long>")
        }
    }
}

/// How long a helper may take inside a container before it is killed (a container can
/// make a path lookup hang, e.g. on a FUSE file system it serves).
let helperTimeoutMS: Int32 = 2000

/// (st_dev, st_ino) of an fd: namespaces are equal when these are.
func fileIdentity(_ fd: Int32) -> (UInt64, UInt64)? {
    var st = stat()
    if fstat(fd, &st) != 0 { return nil }
    return (UInt64(st.st_dev), UInt64(st.st_ino))
}

