import Base
import CLinux
import OCISpec
import Syscalls

/// What the container's init does to itself right before it execs the user's process.
/// Every function acts on the calling process (single-threaded: no thread-self games).
public enum ProcessSetup {

    // MARK: rlimits

    /// process.rlimits type names (getrlimit(2)) and their resource numbers, from
    /// asm-generic/resource.h (x86-64 and arm64 use these; glibc's RLIMIT_* macros alias
    /// enum members that Swift cannot import).
    public static let rlimitNames: [(String, Int32)] = [
        ("RLIMIT_CPU", 0), ("RLIMIT_FSIZE", 1), ("RLIMIT_DATA", 2), ("RLIMIT_STACK", 3),
        ("RLIMIT_CORE", 4), ("RLIMIT_RSS", 5), ("RLIMIT_NPROC", 6), ("RLIMIT_NOFILE", 7),
        ("RLIMIT_MEMLOCK", 8), ("RLIMIT_AS", 9), ("RLIMIT_LOCKS", 10), ("RLIMIT_SIGPENDING", 11),
        ("RLIMIT_MSGQUEUE", 12), ("RLIMIT_NICE", 13), ("RLIMIT_RTPRIO", 14), ("RLIMIT_RTTIME", 15),
    ]

    public static func rlimitResource(_ name: String) -> Int32? {
        for (n, r) in rlimitNames where n.bytesEqual(name) { return r }
        return nil
    }

    /// Maps and checks process.rlimits before anything is changed: an unknown type, a
    /// duplicate type (config.md: MUST error) or soft above hard is an error.
    public static func resolveRlimits(_ limits: [Rlimit]) throws(SwiftletError) -> [(resource: Int32, soft: UInt64, hard: UInt64)] {
        var out: [(resource: Int32, soft: UInt64, hard: UInt64)] = []
        for (i, l) in limits.enumerated() {
            let field = "process.rlimits[" + String(i) + "]"
            guard let resource = rlimitResource(l.type) else {
                throw SwiftletError(.process, field + ": invalid rlimit type \"" + l.type + "\"", errno: EINVAL)
            }
            if out.contains(where: { $0.resource == resource }) {
                throw SwiftletError(.process, field + ": duplicate rlimit type \"" + l.type + "\"", errno: EINVAL)
            }
            if l.soft > l.hard {
                throw SwiftletError(.process, field + ": " + l.type + " soft limit " + String(l.soft)
                                        + " is above the hard limit " + String(l.hard), errno: EINVAL)
            }
            out.append((resource, l.soft, l.hard))
        }
        return out
    }

    /// prlimit(2) for each entry, on `pid` (0: the caller). Raising a hard limit needs
    /// CAP_SYS_RESOURCE, so this runs before the capabilities are dropped.
    public static func setRlimits(_ limits: [Rlimit], pid: Int32 = 0) throws(SwiftletError) {
        let resolved = try resolveRlimits(limits)
        for (i, r) in resolved.enumerated() where cl_prlimit(pid, r.resource, r.soft, r.hard) != 0 {
            throw .system(.process, "setrlimit " + limits[i].type)
        }
    }

    // MARK: small settings

    /// Writes /proc/<pid>/oom_score_adj (-1000...1000) of `pid` as the procfs mounted at
    /// /proc sees it (the caller's own pid by default). Lowering it needs CAP_SYS_RESOURCE.
    public static func setOOMScoreAdj(_ value: Int32, pid: Int32 = getpid()) throws(SwiftletError) {
        guard value >= -1000, value <= 1000 else {
            throw SwiftletError(.process, "process.oomScoreAdj: " + String(value) + " is outside -1000...1000", errno: EINVAL)
        }
        try ProcFS.write(String(pid) + "/oom_score_adj", String(value))
    }

    public static func setNoNewPrivileges() throws(SwiftletError) {
        if cl_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 { throw .system(.process, "prctl(PR_SET_NO_NEW_PRIVS)") }
    }

    /// linux.personality: domain LINUX or LINUX32. The spec defines no flags yet, so any
    /// flag is an unsupported value and an error.
    public static func setPersonality(_ p: PersonalitySpec) throws(SwiftletError) {
        let persona: UInt
        if p.domain.bytesEqual("LINUX") {
            persona = 0x0000        // PER_LINUX
        } else if p.domain.bytesEqual("LINUX32") {
            persona = 0x0008        // PER_LINUX32
        } else {
            throw SwiftletError(.process, "linux.personality.domain: unsupported domain \"" + p.domain + "\"", errno: EINVAL)
        }
        if let flag = p.flags.first {
            throw SwiftletError(.process, "linux.personality.flags: unsupported flag \"" + flag + "\"", errno: EINVAL)
        }
        if personality(persona) < 0 { throw .system(.process, "personality " + p.domain) }
    }

    /// process.user.umask, or 0022 when absent (as runc and crun do, so the container
    /// does not inherit the runtime's umask).
    public static func setUmask(_ mask: UInt32?) {
        _ = umask(mode_t((mask ?? 0o022) & 0o7777))
    }

    // MARK: working directory

    /// chdir to process.cwd, which must be absolute. With `deferOnPermissionDenied`, an
    /// EACCES/EPERM returns false instead of failing: the runtime's user may lack access
    /// where the container's user has it (a volume chowned to that user), so the caller
    /// tries again after switchUserAndCapabilities, as runc does.
    @discardableResult
    public static func changeDirectory(_ cwd: String, deferOnPermissionDenied: Bool = false) throws(SwiftletError) -> Bool {
        guard cwd.hasBytePrefix("/") else {
            throw SwiftletError(.process, "process.cwd \"" + cwd + "\" is not an absolute path", errno: EINVAL)
        }
        try checkNoNulBytes([cwd], what: "process.cwd", stage: .process)
        if chdir(cwd) == 0 { return true }
        let e = cl_errno()
        if deferOnPermissionDenied && (e == EACCES || e == EPERM) { return false }
        throw SwiftletError(.process, "chdir to cwd (\"" + cwd + "\") set in config.json failed", errno: e)
    }

    /// Fails when the working directory is not inside the current root (getcwd(2) then
    /// reports "(unreachable)", which glibc turns into ENOENT): an fd or cwd of the host
    /// leaking into the container is how CVE-2024-21626 escaped.
    public static func verifyWorkingDirectory() throws(SwiftletError) {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let ok = buffer.withUnsafeMutableBufferPointer { getcwd($0.baseAddress, $0.count) != nil }
        if !ok {
            let e = cl_errno()
            if e == ENOENT {
                throw SwiftletError(.process, "current working directory is outside of container mount namespace root -- possible container breakout detected")
            }
            throw SwiftletError(.process, "failed to verify if current working directory is safe: getcwd", errno: e)
        }
        if buffer[0] != 47 {   // "/"
            throw SwiftletError(.process, "current working directory is not absolute -- possible container breakout detected")
        }
    }

    // MARK: file descriptors

    /// The one fd closer: closes every fd from 3 + preserve up except those in `keep`, so
    /// nothing of the runtime reaches the container. Used for the last moment before execve
    /// too: an fd still open during execve (even close-on-exec) can be named as the program
    /// (/proc/self/fd/N), which is how CVE-2024-21626 reached the host. close_range(2) over
    /// the gaps; without it (Linux < 5.9) one by one from /proc/self/fd.
    public static func closeFileDescriptors(preserve: Int, except keep: [Int32] = []) throws(SwiftletError) {
        let first = Int32(clamping: 3 + max(preserve, 0))
        let kept = keep.filter { $0 >= first }.sorted()
        var next = UInt32(bitPattern: first)
        var ok = true
        for fd in kept {
            let k = UInt32(bitPattern: fd)
            if k > next { ok = ok && cl_close_range(next, k - 1, 0) == 0 }
            next = k + 1
        }
        ok = ok && cl_close_range(next, UInt32.max, 0) == 0
        if ok { return }
        for fd in try openFileDescriptors() where fd >= first && !kept.contains(fd) { _ = close(fd) }
    }

    /// The fds of this process, from /proc/self/fd (without the one used to list it).
    static func openFileDescriptors() throws(SwiftletError) -> [Int32] {
        guard let dir = opendir("/proc/self/fd") else { throw .system(.process, "opendir /proc/self/fd") }
        defer { closedir(dir) }
        let own = dirfd(dir)
        var fds: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if let n = parseInt(name), let fd = Int32(exactly: n), fd != own { fds.append(fd) }
        }
        return fds
    }

    // MARK: signals

    /// Puts every signal back to its default action and unblocks all: the runtime may
    /// block or ignore signals (for signalfd, SIGPIPE), and both survive execve.
    public static func resetSignals() { cl_reset_signals() }

    // MARK: exec

    /// execve(2); returns only by throwing. Worded like runc ("exec /bin/x: no such file
    /// or directory") so that clients map it to exit codes 127/126.
    public static func exec(path: String, args: [String], env: [String]) throws(SwiftletError) -> Never {
        try checkNoNulBytes([path], what: "exec path", stage: .process)
        try checkNoNulBytes(args, what: "process.args", stage: .process)
        try checkNoNulBytes(env, what: "process.env", stage: .process)
        let argv = CStringArray(args.isEmpty ? [path] : args)
        let envp = CStringArray(env)
        var e: Int32 = 0
        repeat {
            _ = execve(path, argv.pointer, envp.pointer)
            e = cl_errno()
        } while e == EINTR
        argv.free()
        envp.free()
        throw SwiftletError(.process, "exec " + path, errno: e)
    }
}
