import Base
import CLinux
import OCISpec
import Syscalls

extension ProcessSetup {

    /// Finds the program like Go's exec.LookPath (which runc uses), in the current root
    /// (the container's, after pivot_root) and with the PATH of the container's own
    /// process.env: the runtime's PATH means nothing inside the container. Without PATH
    /// in env only names with a slash can be found, as with crun.
    /// Errors are worded like runc's, which podman maps to exit codes 127 and 126:
    ///   exec: "foo": executable file not found in $PATH
    ///   exec: "/x": stat /x: no such file or directory
    ///   exec: "/x": permission denied
    public static func lookPath(_ arg0: String, env: [String]) throws(SwiftletError) -> String {
        try checkNoNulBytes([arg0], what: "process.args[0]", stage: .process)
        let quoted = goQuoted(arg0)
        if arg0.containsByte(47) {   // "/": no PATH search
            if let failure = executableProblem(arg0) {
                // The errno text ends the line: `exec: "/x": stat /x: no such file or directory`.
                let detail = failure.operation.isEmpty ? "" : ": " + failure.operation
                throw SwiftletError(.process, "exec: " + quoted + detail, errno: failure.errno)
            }
            return arg0
        }
        for candidate in pathCandidates(arg0, env: env) where executableProblem(candidate) == nil {
            // Go refuses programs found through a relative PATH entry.
            guard candidate.hasBytePrefix("/") else {
                throw SwiftletError(.process, "exec: " + quoted + ": cannot run executable found relative to current directory")
            }
            return candidate
        }
        throw SwiftletError(.process, "exec: " + quoted + ": executable file not found in $PATH")
    }

    /// Where a PATH search looks for a name without "/", in order, by Go's rules (an empty
    /// entry is the current directory); nothing without PATH in env.
    public static func pathCandidates(_ arg0: String, env: [String]) -> [String] {
        guard !arg0.isEmpty, let path = environmentValue("PATH", in: env) else { return [] }
        var out: [String] = []
        for entry in path.split(byte: 58) {   // ":"
            let dir = entry.isEmpty ? "." : entry
            out.append(dir.hasByteSuffix("/") ? dir + arg0 : dir + "/" + arg0)
        }
        return out
    }

    /// Why `path` cannot be executed (nil: it can), as Go's findExecutable sees it: the
    /// failing operation ("stat /x", or "" when the errno says it all) and the errno.
    static func executableProblem(_ path: String) -> (operation: String, errno: Int32)? {
        var st = stat()
        if stat(path, &st) != 0 { return ("stat " + path, cl_errno()) }
        if cl_s_isdir(st.st_mode) != 0 { return ("", EISDIR) }
        if faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0 { return nil }
        let e = cl_errno()
        // EPERM can come from a seccomp filter and ENOSYS from an old kernel: then the
        // mode bits decide, as in Go.
        if e == EPERM || e == ENOSYS {
            return st.st_mode & 0o111 != 0 ? nil : ("", EACCES)
        }
        return ("", e)
    }

    /// Go's strconv.Quote for the ASCII that names usually are; other bytes as \xNN.
    static func goQuoted(_ s: String) -> String {
        var out: [UInt8] = [34]
        let digits = Array("0123456789abcdef".utf8)
        for b in s.utf8 {
            switch b {
            case 34, 92: out.append(92); out.append(b)
            case 10: out += [92, 110]
            case 9: out += [92, 116]
            case 32...126: out.append(b)
            default:
                if b >= 0x80 { out.append(b) }   // UTF-8 passes through
                else { out += [92, 120, digits[Int(b >> 4)], digits[Int(b & 15)]] }
            }
        }
        out.append(34)
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of the last NAME= entry (the one execve'd programs see with runc, which
    /// keeps the last of duplicates).
    public static func environmentValue(_ name: String, in env: [String]) -> String? {
        let prefix = name + "="
        var found: String? = nil
        for entry in env where entry.hasBytePrefix(prefix) {
            found = String(decoding: entry.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
        }
        return found
    }

    /// process.env ready for execve, as runc prepares it: each entry must be NAME=VALUE
    /// with a non-empty name and no NUL byte; of duplicate names the last wins (kept at
    /// its position among the last occurrences); HOME, when missing or empty, comes from
    /// the container's /etc/passwd entry for `uid`, else "/".
    /// Call after entering the container's root so /etc/passwd is the container's.
    public static func prepareEnvironment(_ env: [String], uid: UInt32,
                                          passwdPath: String = "/etc/passwd") throws(SwiftletError) -> [String] {
        var reversed: [String] = []
        var seen: [[UInt8]] = []
        var homeIsSet = false
        for entry in env.reversed() {
            let bytes = Array(entry.utf8)
            guard let eq = bytes.firstIndex(of: 61) else {
                throw SwiftletError(.process, "invalid environment variable: missing '='", errno: EINVAL)
            }
            if eq == 0 {
                throw SwiftletError(.process, "invalid environment variable: name cannot be empty", errno: EINVAL)
            }
            let key = Array(bytes[..<eq])
            if seen.contains(key) { continue }
            seen.append(key)
            if bytes.contains(0) {
                throw SwiftletError(.process, "invalid environment variable " + goQuoted(String(decoding: key, as: UTF8.self))
                                        + ": contains nul byte (\\x00)", errno: EINVAL)
            }
            if key == Array("HOME".utf8) {
                if eq == bytes.count - 1 { continue }   // empty HOME: replaced below
                homeIsSet = true
            }
            reversed.append(entry)
        }
        var out = Array(reversed.reversed())
        if !homeIsSet { out.append("HOME=" + (homeDirectory(uid: uid, passwdPath: passwdPath) ?? "/")) }
        return out
    }

    /// The home directory of the first /etc/passwd entry with this uid. The file is the
    /// container's and so hostile: only a regular file is read (a FIFO could block us
    /// forever), and only so much of it.
    public static func homeDirectory(uid: UInt32, passwdPath: String = "/etc/passwd") -> String? {
        guard let fields = passwdEntry(uid: uid, passwdPath: passwdPath), !fields[5].isEmpty else { return nil }
        return fields[5]
    }

    /// The name of `uid` in a passwd file (read directly: a static binary must not load NSS).
    public static func userName(uid: UInt32, passwdPath: String = "/etc/passwd") -> String? {
        guard let fields = passwdEntry(uid: uid, passwdPath: passwdPath), !fields[0].isEmpty else { return nil }
        return fields[0]
    }

    /// The fields (name:password:uid:gid:gecos:home:shell) of the first line for `uid`.
    static func passwdEntry(uid: UInt32, passwdPath: String) -> [String]? {
        let fd = cl_open(passwdPath, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0)
        guard fd >= 0 else { return nil }
        let file = FileDescriptor(fd)
        defer { file.close() }
        var st = stat()
        guard fstat(fd, &st) == 0, cl_s_isreg(st.st_mode) != 0, st.st_size <= 16 << 20 else { return nil }
        guard let bytes = try? file.readAll(stage: .process) else { return nil }
        let wanted = String(uid)
        for line in String(decoding: bytes, as: UTF8.self).split(byte: 10) {
            let fields = line.split(byte: 58)
            guard fields.count >= 6, fields[2].bytesEqual(wanted) else { continue }
            return fields
        }
        return nil
    }
}
