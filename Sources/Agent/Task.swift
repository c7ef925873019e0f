import Base
import CLinux
import JSON

/// The notifying task, reached through /proc/PID: its root and mount namespace (to act in),
/// its user namespace (to act as its root) and its status (credentials); its memory is read
/// by pid (to copy arguments once). All fds are opened first and the notification is checked
/// afterwards (SECCOMP_IOCTL_NOTIF_ID_VALID), so a PID reused meanwhile is never acted upon;
/// memory is read by pid, so every copy is checked the same way before it is used (a task
/// given the pid meanwhile would have been read: the copy is dropped).
struct Task {
    let pid: UInt32
    /// The notification it is reached for (see string(at:)).
    let notifyFD: Int32
    let id: UInt64
    let root: Int32
    let mountNamespace: Int32
    /// -1 when the task shares the agent's user namespace (setns to it would fail).
    let userNamespace: Int32
    /// /proc/PID/status: credentials, capabilities and no_new_privs of the caller.
    let status: Int32
    /// /proc/PID/uid_map and /proc/PID/cgroup, -1 unless asked for (see Extra).
    let uidMap: Int32
    let cgroup: Int32
    /// (st_dev, st_ino) of the task's user namespace, nil unless asked for (see Extra).
    let userNamespaceIdentity: (UInt64, UInt64)?
    /// (st_dev, st_ino) of its mount namespace when found by a stat (see Extra).
    let mountNamespaceIdentity: (UInt64, UInt64)?
    /// fds the task only borrows (the container's TaskFiles and VerifiedNamespaces keep them).
    let borrowed: Borrowed

    struct Borrowed: OptionSet {
        let rawValue: Int
        static let status = Borrowed(rawValue: 1)
        static let mountNamespace = Borrowed(rawValue: 2)
    }

    /// Files opened only for the checks that need them.
    struct Extra: OptionSet {
        let rawValue: Int
        static let uidMap = Extra(rawValue: 1)
        static let cgroup = Extra(rawValue: 2)
        /// The user namespace's identity only (its ns/user link read, no fd).
        static let userNamespaceIdentity = Extra(rawValue: 4)
    }

    enum Opened {
        case task(Task)
        /// The task died or the notification was answered (it was interrupted).
        case gone
        case failed(Int32)
    }

    /// `files`: the container's kept /proc/PID directories and status files (used, and filled);
    /// `verified`: its namespace pairs found to be its rootless user's, whose mount namespace
    /// fd stands in for opening the task's when the task is in one (by stat of both).
    static func open(pid: UInt32, notifyFD: Int32, id: UInt64, withUserNamespace: Bool,
                     ownUserNamespace: (UInt64, UInt64), extra: Extra = [], files: TaskFiles? = nil,
                     verified: VerifiedNamespaces? = nil) -> Opened {
        if let kept = files?.take(pid) {
            switch open(pid: pid, notifyFD: notifyFD, id: id, withUserNamespace: withUserNamespace,
                        ownUserNamespace: ownUserNamespace, extra: extra, kept: kept, files: files, verified: verified) {
            case .failed:
                // Its task is gone: the pid is another task's now (a kept directory never
                // reaches the new one). Once more from /proc.
                kept.close()
            case let other:
                return other
            }
        }
        return open(pid: pid, notifyFD: notifyFD, id: id, withUserNamespace: withUserNamespace,
                    ownUserNamespace: ownUserNamespace, extra: extra, kept: nil, files: files, verified: verified)
    }

    private static func open(pid: UInt32, notifyFD: Int32, id: UInt64, withUserNamespace: Bool,
                             ownUserNamespace: (UInt64, UInt64), extra: Extra, kept: TaskFiles.Entry?,
                             files: TaskFiles?, verified: VerifiedNamespaces?) -> Opened {
        var failure: Int32 = 0
        // The task's /proc directory once, its files below it: looking the pid up once, not
        // per file, saves a third of the opens' time. (A directory of a dead task's pid gives
        // no files, even if the pid is used again.)
        let directory = kept?.directory ?? cl_open("/proc/" + String(pid), O_PATH | O_DIRECTORY | O_CLOEXEC, 0)
        if directory < 0 { failure = cl_errno() }
        func openOrRecord(_ name: String, _ flags: Int32) -> Int32 {
            if directory < 0 { return -1 }
            let fd = cl_openat(directory, name, flags | O_CLOEXEC, 0)
            if fd < 0 && failure == 0 { failure = cl_errno() }
            return fd
        }
        // A namespace's (st_dev, st_ino) by its link's text: every namespace is on nsfs, the
        // st_dev of the agent's own.
        func identity(_ name: String) -> (UInt64, UInt64)? {
            var ino: UInt64 = 0
            if directory >= 0 && cl_agent_ns_inode(directory, name, &ino) == 0 { return (ownUserNamespace.0, ino) }
            if failure == 0 { failure = cl_errno() }
            return nil
        }
        let root = openOrRecord("root", O_PATH | O_DIRECTORY)
        var userIdentity: (UInt64, UInt64)? = nil
        var mountIdentity: (UInt64, UInt64)? = nil
        var mnt: Int32 = -1
        var borrowed: Borrowed = []
        if extra.contains(.userNamespaceIdentity) {
            userIdentity = identity("ns/user")
            if let verified, let user = userIdentity, let mount = identity("ns/mnt"),
               let fd = verified.mountFD(user: user, mount: mount) {
                mnt = fd
                mountIdentity = mount
                borrowed.insert(.mountNamespace)
            }
        }
        if !borrowed.contains(.mountNamespace) { mnt = openOrRecord("ns/mnt", O_RDONLY) }
        var user: Int32 = -1
        if withUserNamespace {
            user = openOrRecord("ns/user", O_RDONLY)
            if user >= 0, let id = fileIdentity(user), id == ownUserNamespace {
                _ = CLinux.close(user)
                user = -1
            }
        }
        let status = kept?.status ?? openOrRecord("status", O_RDONLY)
        let uidMap = extra.contains(.uidMap) ? openOrRecord("uid_map", O_RDONLY) : -1
        let cgroup = extra.contains(.cgroup) ? openOrRecord("cgroup", O_RDONLY) : -1
        // Kept (or to be kept) for the task's next calls: the container's, not this call's.
        if files != nil && status >= 0 { borrowed.insert(.status) }
        let task = Task(pid: pid, notifyFD: notifyFD, id: id, root: root, mountNamespace: mnt, userNamespace: user, status: status,
                        uidMap: uidMap, cgroup: cgroup, userNamespaceIdentity: userIdentity,
                        mountNamespaceIdentity: mountIdentity, borrowed: borrowed)
        let entry = directory >= 0 && status >= 0 ? TaskFiles.Entry(pid: pid, directory: directory, status: status) : nil
        if failure != 0 {
            task.close()
            // A kept directory failing: its task is gone, which the caller finds out anew.
            if kept != nil { return .failed(failure) }
            if directory >= 0 { _ = CLinux.close(directory) }
            if borrowed.contains(.status) { _ = CLinux.close(status) }
            // Checked first: a task that died meanwhile is gone, not a failure.
            if cl_agent_notif_id_valid(notifyFD, id) != 0 { return .gone }
            return .failed(failure)
        }
        // Both reach only the task that holds the pid now.
        if let files, let entry { files.keep(entry) } else if directory >= 0 { _ = CLinux.close(directory) }
        if cl_agent_notif_id_valid(notifyFD, id) != 0 {
            task.close()
            return .gone
        }
        return .task(task)
    }

    func close() {
        for fd in [root, userNamespace, uidMap, cgroup] where fd >= 0 { _ = CLinux.close(fd) }
        if !borrowed.contains(.mountNamespace) && mountNamespace >= 0 { _ = CLinux.close(mountNamespace) }
        if !borrowed.contains(.status) && status >= 0 { _ = CLinux.close(status) }
    }

    /// Reads a NUL-terminated string at `address` from the task's memory, page by page so
    /// a string ending just before an unmapped page still reads. By pid: read, then the
    /// notification checked; .gone when it is no longer valid (the bytes may be another
    /// task's, and nothing of them is kept or logged).
    func string(at address: UInt64, limit: Int = 4096) -> Copied {
        if address == 0 { return .null }
        let copied = read(at: address, limit: limit)
        return cl_agent_notif_id_valid(notifyFD, id) == 0 ? copied : .gone
    }

    private func read(at address: UInt64, limit: Int) -> Copied {
        var out: [UInt8] = []
        var at = address
        var page = [UInt8](repeating: 0, count: 4096)
        while out.count < limit {
            let room = min(4096 - Int(at & 4095), limit - out.count)
            let n = page.withUnsafeMutableBytes { cl_agent_read_task_memory(Int32(bitPattern: pid), at, $0.baseAddress, room) }
            if n <= 0 { return .fault }
            let count = Int(n)
            if let nul = page[0..<count].firstIndex(of: 0) {
                out.append(contentsOf: page[0..<nul])
                return .text(String(decoding: out, as: UTF8.self), raw: out)
            }
            out.append(contentsOf: page[0..<count])
            at &+= UInt64(count)
        }
        return .tooLong
    }

    /// What /proc/PID/status says of the caller (opened with the task, read when needed),
    /// nil when unreadable (the task is gone).
    func credentials() -> TaskCredentials? {
        var buf = [UInt8](repeating: 0, count: 8192)
        let n = buf.withUnsafeMutableBytes { pread(status, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return nil }
        return TaskCredentials(status: buf, count: n)
    }

    /// The whole of a small /proc file opened with the task, nil if unreadable.
    func read(_ fd: Int32) -> [UInt8]? {
        if fd < 0 { return nil }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while out.count < 1 << 16 {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(out.count)) }
            if n < 0 { return nil }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// The container path of the task's cwd (dirfd == AT_FDCWD) or of its fd `dirfd`,
    /// for relative path arguments; as an errno on failure.
    func directoryPath(dirfd: Int32, helper: ContainerHelper) -> Result<String, AgentErrno> {
        let link = dirfd == AT_FDCWD ? "/proc/" + String(pid) + "/cwd" : "/proc/" + String(pid) + "/fd/" + String(dirfd)
        let dir = cl_open(link, O_PATH | O_DIRECTORY | O_CLOEXEC, 0)
        if dir < 0 {
            let e = cl_errno()
            return .failure(AgentErrno(dirfd == AT_FDCWD || e == ENOTDIR ? e : EBADF))
        }
        defer { _ = CLinux.close(dir) }
        let ready = helper.ready(for: self)
        if ready != 0 { return .failure(AgentErrno(ready)) }
        var buf = [UInt8](repeating: 0, count: 4097)
        let e = buf.withUnsafeMutableBytes {
            cl_agent_path_of(&helper.raw, root, dir, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count, helperTimeoutMS)
        }
        if e != 0 { return .failure(AgentErrno(e)) }
        let end = buf.firstIndex(of: 0) ?? buf.count
        return .success(String(decoding: buf[0..<end], as: UTF8.self))
    }
}

/// The caller's identity as /proc/PID/status gives it (host ids, as the agent sees them).
struct TaskCredentials {
    var umask: UInt32 = 0
    /// Effective and filesystem ids.
    var euid: UInt32 = 0, fsuid: UInt32 = 0, fsgid: UInt32 = 0
    /// Supplementary groups.
    var groups: [UInt32] = []
    /// Effective capabilities, in the task's own user namespace.
    var capEff: UInt64 = 0
    var noNewPrivs = false

    /// Scanned as bytes: this runs for every performed call, and splitting the file into
    /// Strings cost more than the rest of the call.
    init?(status buf: [UInt8], count n: Int) {
        var seen = 0
        var lineStart = 0
        while lineStart < n {
            var lineEnd = lineStart
            while lineEnd < n && buf[lineEnd] != 10 { lineEnd += 1 }
            if statusKey(buf, lineStart, lineEnd, "Umask:") {
                guard let v = statusNumber(buf, from: lineStart + 6, to: lineEnd, field: 0, base: 8) else { return nil }
                umask = v; seen |= 1
            } else if statusKey(buf, lineStart, lineEnd, "Uid:") {
                guard let e = statusNumber(buf, from: lineStart + 4, to: lineEnd, field: 1, base: 10),
                      let f = statusNumber(buf, from: lineStart + 4, to: lineEnd, field: 3, base: 10) else { return nil }
                euid = e; fsuid = f; seen |= 2
            } else if statusKey(buf, lineStart, lineEnd, "Gid:") {
                guard let f = statusNumber(buf, from: lineStart + 4, to: lineEnd, field: 3, base: 10) else { return nil }
                fsgid = f; seen |= 4
            } else if statusKey(buf, lineStart, lineEnd, "Groups:") {
                var k = 0
                while let g = statusNumber(buf, from: lineStart + 7, to: lineEnd, field: k, base: 10) { groups.append(g); k += 1 }
                seen |= 8
            } else if statusKey(buf, lineStart, lineEnd, "NoNewPrivs:") {
                guard let v = statusNumber(buf, from: lineStart + 11, to: lineEnd, field: 0, base: 10) else { return nil }
                noNewPrivs = v != 0; seen |= 16
            } else if statusKey(buf, lineStart, lineEnd, "CapEff:") {
                guard let hi = statusHex(buf, from: lineStart + 7, to: lineEnd) else { return nil }
                capEff = hi; seen |= 32
            }
            if seen == 63 { return }
            lineStart = lineEnd + 1
        }
        return nil
    }
}

/// The hex number after blanks in bytes[from..<to] (CapEff: 000001ffffffffff).
func statusHex(_ bytes: [UInt8], from: Int, to: Int) -> UInt64? {
    var i = from
    while i < to && (bytes[i] == 9 || bytes[i] == 32) { i += 1 }
    var value: UInt64 = 0, digits = 0
    while i < to && digits < 16 {
        let c = bytes[i]
        let d: UInt64
        if c >= 48 && c <= 57 { d = UInt64(c - 48) } else if c >= 97 && c <= 102 { d = UInt64(c - 87) } else { break }
        value = value << 4 | d
        digits += 1
        i += 1
    }
    return digits > 0 ? value : nil
}

/// The id inside the user namespace for host id `host`, by a uid_map/gid_map as read
/// from the agent's namespace; nil when unmapped.
func idInNamespace(_ host: UInt32, map: [UInt8]) -> UInt32? {
    var lineStart = 0
    while lineStart < map.count {
        var lineEnd = lineStart
        while lineEnd < map.count && map[lineEnd] != 10 { lineEnd += 1 }
        if let inside = statusNumber(map, from: lineStart, to: lineEnd, field: 0, base: 10),
           let outside = statusNumber(map, from: lineStart, to: lineEnd, field: 1, base: 10),
           let count = statusNumber(map, from: lineStart, to: lineEnd, field: 2, base: 10),
           host >= outside, UInt64(host) < UInt64(outside) + UInt64(count) {
            return inside + (host - outside)
        }
        lineStart = lineEnd + 1
    }
    return nil
}

/// True when bytes[start..<end] begins with `key`.
func statusKey(_ bytes: [UInt8], _ start: Int, _ end: Int, _ key: StaticString) -> Bool {
    let count = key.utf8CodeUnitCount
    if end - start < count { return false }
    let k = key.utf8Start
    for i in 0..<count where bytes[start + i] != k[i] { return false }
    return true
}

/// The `field`-th (from 0) tab- or space-separated number in bytes[from..<to], in `base`;
/// nil when missing, malformed or above UInt32.
func statusNumber(_ bytes: [UInt8], from: Int, to: Int, field: Int, base: UInt64) -> UInt32? {
    var i = from, index = 0
    while i < to {
        while i < to && (bytes[i] == 9 || bytes[i] == 32) { i += 1 }
        if i == to { return nil }
        var value: UInt64 = 0, digits = 0
        while i < to && bytes[i] != 9 && bytes[i] != 32 {
            let d = UInt64(bytes[i]) &- 48
            if d >= base { return nil }
            value = value * base + d
            digits += 1
            if value > UInt64(UInt32.max) { return nil }
            i += 1
        }
        if index == field { return digits > 0 ? UInt32(value) : nil }
        index += 1
    }
    return nil
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
    /// The notification went away while the string was read.
    case gone

    /// As logged: the text (cut at 256 bytes), null, or what went wrong.
    var json: JSON {
        switch self {
        case .null: return .null
        case .text(let s, _): return .string(jsonSafe(s))
        case .fault: return .string("<unreadable>")
        case .tooLong: return .string("<too long>")
        case .gone: return .string("<task gone>")
        }
    }
}

/// How long a helper may take inside a container before it is killed (a container can
/// make a path lookup hang, e.g. on a FUSE file system it serves).
let helperTimeoutMS: Int32 = 2000

/// A long-lived helper process acting in one container (see cl_agent_helper_start), and
/// the namespaces it joined. Kept across calls: forking and entering namespaces per
/// call cost more than the call itself.
final class ContainerHelper {
    var raw = cl_agent_helper(pid: -1, pidfd: -1, sock: -1)
    var mountNamespace: (UInt64, UInt64) = (0, 0)
    var userNamespace: (UInt64, UInt64)? = nil

    /// 0 once a helper runs in the task's mount (and, when the task has one open, user)
    /// namespace: the current one if it still runs there, else a new one (a task may
    /// have unshared its mount namespace); otherwise an errno.
    func ready(for task: Task) -> Int32 {
        guard let mount = fileIdentity(task.mountNamespace) else { return EBADF }
        var user: (UInt64, UInt64)? = nil
        if task.userNamespace >= 0 {
            guard let u = fileIdentity(task.userNamespace) else { return EBADF }
            user = u
        }
        if cl_agent_helper_running(&raw) != 0 && mount == mountNamespace && sameIdentity(user, userNamespace) { return 0 }
        cl_agent_helper_stop(&raw)
        let e = cl_agent_helper_start(&raw, task.userNamespace, task.mountNamespace, task.root, helperTimeoutMS)
        if e != 0 { return e }
        mountNamespace = mount
        userNamespace = user
        return 0
    }

    func stop() { cl_agent_helper_stop(&raw) }

    deinit { cl_agent_helper_stop(&raw) }
}

func sameIdentity(_ a: (UInt64, UInt64)?, _ b: (UInt64, UInt64)?) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case (let x?, let y?): return x == y
    default: return false
    }
}

/// (st_dev, st_ino) of an fd: namespaces are equal when these are.
func fileIdentity(_ fd: Int32) -> (UInt64, UInt64)? {
    var st = stat()
    if fstat(fd, &st) != 0 { return nil }
    return (UInt64(st.st_dev), UInt64(st.st_ino))
}


/// The /proc/PID directories and status files of a container's tasks that made calls, kept
/// for their next ones (opening them is a third of a performed call's /proc work). A kept
/// directory or status file belongs to the task that held the pid when it was opened: once
/// that task is gone they fail (ENOENT, ESRCH) and never reach a task given the pid after it;
/// Task.open then drops them. What they show (credentials, root, namespaces) is read anew for
/// every call. At most `limit`, the least recently used goes first.
final class TaskFiles {
    struct Entry {
        let pid: UInt32
        let directory: Int32
        let status: Int32

        func close() {
            _ = CLinux.close(directory)
            _ = CLinux.close(status)
        }
    }
    private(set) var entries: [Entry] = []
    static let limit = 8

    /// The task's entry, taken out (Task.open gives it back with keep once it worked).
    func take(_ pid: UInt32) -> Entry? {
        guard let k = entries.firstIndex(where: { $0.pid == pid }) else { return nil }
        return entries.remove(at: k)
    }

    /// Keeps an entry as the most recently used; takes over its fds.
    func keep(_ entry: Entry) {
        if let k = entries.firstIndex(where: { $0.pid == entry.pid }) { entries.remove(at: k).close() }
        if entries.count >= TaskFiles.limit { entries.removeFirst().close() }
        entries.append(entry)
    }

    deinit { for e in entries { e.close() } }
}
