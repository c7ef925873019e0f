import Base
import CLinux
import OCISpec
import Syscalls

/// Runs OCI hooks (config.md "POSIX-platform Hooks").
public enum Hooks {

    /// How much of a hook's stderr (and stdout) is kept for the error message.
    public static let outputLimit = 4096

    /// Runs each hook in order and stops at the first failure:
    /// fork + execve(path, args — args[0] is argv[0], [path] if args is empty — env
    /// exactly as given, the runtime's own environment if none, as runc's and crun's hooks
    /// get it), the state JSON on stdin, stdout and stderr
    /// captured. A non-zero exit, a signal, or running past `timeout` seconds (then the
    /// hook is SIGKILLed) is an error:
    /// `hooks: prestart hook /x failed: exit status 3: <stderr>`.
    /// The hook gets no fd of the runtime besides its stdio, the default signal
    /// dispositions and an empty signal mask. The caller must not reap children meanwhile.
    public static func run(_ hooks: [Hook], phase: String, state: String) throws(SwiftletError) {
        for hook in hooks { try runOne(hook, phase: phase, state: state) }
    }

    /// The outcome of one hook that ran.
    public struct Outcome: Sendable {
        public var status: Int32           // waitpid status
        public var timedOut: Bool
        public var stdout: [UInt8]         // the last `outputLimit` bytes
        public var stderr: [UInt8]
    }

    public static func runOne(_ hook: Hook, phase: String, state: String) throws(SwiftletError) {
        let what = phase + " hook " + hook.path
        let outcome: Outcome
        do throws(SwiftletError) {
            outcome = try spawn(hook, state: state)
        } catch {
            throw error.context(what + " failed")
        }
        if outcome.timedOut {
            throw SwiftletError(.hooks, what + " failed: ran past its timeout of " + String(hook.timeout ?? 0) + "s"
                                    + outputSuffix(outcome))
        }
        if cl_wifexited(outcome.status) != 0 && cl_wexitstatus(outcome.status) == 0 { return }
        throw SwiftletError(.hooks, what + " failed: " + describeStatus(outcome.status) + outputSuffix(outcome))
    }

    /// Like Go's ProcessState.String(): "exit status 3", "signal: killed".
    public static func describeStatus(_ status: Int32) -> String {
        if cl_wifexited(status) != 0 { return "exit status " + String(cl_wexitstatus(status)) }
        if cl_wifsignaled(status) != 0 {
            let sig = cl_wtermsig(status)
            var name = "signal " + String(sig)
            if let c = strsignal(sig) { name = String(cString: c) }
            return "signal: " + lowerFirst(name)
        }
        return "unknown wait status " + String(status)
    }

    /// ": <stderr>" (or ": stdout: <stdout>" when stderr is empty) on one line.
    static func outputSuffix(_ o: Outcome) -> String {
        let err = oneLine(o.stderr)
        if !err.isEmpty { return ": " + err }
        let out = oneLine(o.stdout)
        if !out.isEmpty { return ": stdout: " + out }
        return ""
    }

    static func oneLine(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.map { $0 == 10 || $0 == 13 ? 32 : $0 }, as: UTF8.self)
        return text.trimmed()
    }

    static func lowerFirst(_ s: String) -> String {
        var bytes = Array(s.utf8)
        if let f = bytes.first, f >= 65, f <= 90 { bytes[0] = f + 32 }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: spawning

    /// Starts the hook and waits for it (or its timeout).
    /// `keep` bounds how much of each output is kept (its last bytes).
    public static func spawn(_ hook: Hook, state: String, keep: Int = outputLimit) throws(SwiftletError) -> Outcome {
        guard hook.path.hasBytePrefix("/") else {
            throw SwiftletError(.hooks, "path is not absolute", errno: EINVAL)
        }
        if let t = hook.timeout, t <= 0 {
            throw SwiftletError(.hooks, "timeout must be positive, got " + String(t), errno: EINVAL)
        }
        try checkNoNulBytes([hook.path], what: "path", stage: .hooks)
        try checkNoNulBytes(hook.args, what: "args", stage: .hooks)
        try checkNoNulBytes(hook.env, what: "env", stage: .hooks)

        // The state goes in a memory file rather than a pipe: no writer to block when the
        // hook does not read it, and no SIGPIPE when it exits early.
        let stdinFD = try stateFile(state)
        var childEnds = [stdinFD]          // closed in the parent once the child has them
        defer { for fd in childEnds { fd.close() } }
        let (outRead, outWrite) = try pipePair()
        childEnds.append(outWrite)
        defer { outRead.close() }
        let (errRead, errWrite) = try pipePair()
        childEnds.append(errWrite)
        defer { errRead.close() }
        // Carries the errno of a failed execve; a successful one closes it (O_CLOEXEC).
        let (execRead, execWrite) = try pipePair()
        childEnds.append(execWrite)
        defer { execRead.close() }

        // Everything the child needs is built before fork: it only makes system calls.
        let path = CStringArray([hook.path])
        defer { path.free() }
        let argv = CStringArray(hook.args.isEmpty ? [hook.path] : hook.args)
        defer { argv.free() }
        let envp = CStringArray(hook.env)
        defer { envp.free() }
        guard let pathC = path.pointer[0] else { throw SwiftletError(.hooks, "out of memory", errno: ENOMEM) }
        let fdLimit = highestFDBound()

        let pid = fork()
        if pid < 0 { throw .system(.hooks, "fork") }
        if pid == 0 {
            cl_reset_signals()
            if dup2(stdinFD.raw, 0) < 0 || dup2(outWrite.raw, 1) < 0 || dup2(errWrite.raw, 2) < 0 {
                childFail(execWrite.raw)
            }
            if cl_close_range(3, UInt32.max, UInt32(CLOSE_RANGE_CLOEXEC)) != 0 {
                var fd: Int32 = 3
                while fd < fdLimit {
                    _ = cl_fcntl_int(fd, F_SETFD, FD_CLOEXEC)
                    fd += 1
                }
            }
            _ = execve(pathC, argv.pointer, hook.env.isEmpty ? cl_environ() : envp.pointer)
            childFail(execWrite.raw)
        }

        for fd in childEnds { fd.close() }
        childEnds = []
        var startErrno: Int32 = 0
        let report = (try? execRead.read(upTo: 4, stage: .hooks)) ?? []
        if report.count == 4 {
            startErrno = report.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        }
        if startErrno != 0 {
            _ = waitFor(pid)
            throw SwiftletError(.hooks, "fork/exec " + hook.path, errno: startErrno)
        }
        return try supervise(pid: pid, stdout: outRead, stderr: errRead, timeout: hook.timeout, keep: keep)
    }

    /// Writes the errno to the exec-report pipe and exits; for the child only.
    private static func childFail(_ reportFD: Int32) -> Never {
        var e = cl_errno()
        _ = withUnsafeBytes(of: &e) { write(reportFD, $0.baseAddress, 4) }
        _exit(127)
    }

    /// Collects output until the hook exits, killing it when the timeout passes. Output
    /// written afterwards by leftover grandchildren is not waited for.
    static func supervise(pid: pid_t, stdout: FileDescriptor, stderr: FileDescriptor,
                          timeout: Int?, keep: Int = outputLimit) throws(SwiftletError) -> Outcome {
        _ = cl_fcntl_int(stdout.raw, F_SETFL, O_NONBLOCK)
        _ = cl_fcntl_int(stderr.raw, F_SETFL, O_NONBLOCK)
        let pidfd = cl_pidfd_open(pid)
        defer { if pidfd >= 0 { close(pidfd) } }
        // A timeout past a century never ends in practice; capping it keeps the nanoseconds in range.
        let deadline: Int64? = timeout.map { cl_monotonic_ns() + min(Int64($0), 3_000_000_000) * 1_000_000_000 }
        var outcome = Outcome(status: 0, timedOut: false, stdout: [], stderr: [])
        var outOpen = true, errOpen = true

        while true {
            if let status = reapIfExited(pid) {
                drain(stdout, into: &outcome.stdout, keep: keep)
                drain(stderr, into: &outcome.stderr, keep: keep)
                outcome.status = status
                return outcome
            }
            var waitMs: Int32 = -1
            if let deadline {
                let left = deadline - cl_monotonic_ns()
                if left <= 0 {
                    _ = kill(pid, SIGKILL)
                    outcome.status = waitFor(pid)
                    outcome.timedOut = true
                    drain(stdout, into: &outcome.stdout, keep: keep)
                    drain(stderr, into: &outcome.stderr, keep: keep)
                    return outcome
                }
                waitMs = Int32(clamping: (left + 999_999) / 1_000_000)
            }
            // Without a pidfd (old kernel), look at the child every 10 ms.
            if pidfd < 0 { waitMs = waitMs < 0 ? 10 : min(waitMs, 10) }
            var fds: [pollfd] = []
            if outOpen { fds.append(pollfd(fd: stdout.raw, events: Int16(POLLIN), revents: 0)) }
            if errOpen { fds.append(pollfd(fd: stderr.raw, events: Int16(POLLIN), revents: 0)) }
            if pidfd >= 0 { fds.append(pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)) }
            let n = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), waitMs) }
            if n < 0 {
                if cl_errno() == EINTR { continue }
                let e = SwiftletError.system(.hooks, "poll")
                _ = kill(pid, SIGKILL)
                _ = waitFor(pid)
                throw e
            }
            if outOpen && !drain(stdout, into: &outcome.stdout, keep: keep) { outOpen = false }
            if errOpen && !drain(stderr, into: &outcome.stderr, keep: keep) { errOpen = false }
        }
    }

    /// Reads what is there without blocking; false at end of file (or on an error).
    @discardableResult
    static func drain(_ fd: FileDescriptor, into buffer: inout [UInt8], keep: Int = outputLimit) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd.raw, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                if buffer.count > keep { buffer.removeFirst(buffer.count - keep) }
                continue
            }
            if n == 0 { return false }
            let e = cl_errno()
            if e == EINTR { continue }
            return e == EAGAIN || e == EWOULDBLOCK
        }
    }

    static func reapIfExited(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { return status }
            if r < 0 && cl_errno() == EINTR { continue }
            // r == 0: still running. r < 0 (ECHILD): someone else reaped it; report a
            // failure rather than waiting forever.
            return r == 0 ? nil : Int32(255 << 8)
        }
    }

    static func waitFor(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if cl_errno() != EINTR { return Int32(255 << 8) }
        }
        return status
    }

    static func pipePair() throws(SwiftletError) -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [0, 0]
        let rc = fds.withUnsafeMutableBufferPointer { pipe2($0.baseAddress, O_CLOEXEC) }
        if rc != 0 { throw .system(.hooks, "pipe") }
        // Keep both ends above 2: with a closed stdio in the runtime a pipe could land on
        // 0..2 and be clobbered by the child's dup2 calls.
        return (try aboveStdio(fds[0]), try aboveStdio(fds[1]))
    }

    static func aboveStdio(_ fd: Int32) throws(SwiftletError) -> FileDescriptor {
        if fd > 2 { return FileDescriptor(fd) }
        let moved = cl_fcntl_int(fd, F_DUPFD_CLOEXEC, 3)
        let e = cl_errno()
        close(fd)
        if moved < 0 { throw SwiftletError(.hooks, "dup", errno: e) }
        return FileDescriptor(moved)
    }

    /// A memfd holding `state`, positioned at its start.
    static func stateFile(_ state: String) throws(SwiftletError) -> FileDescriptor {
        let raw = memfd_create("swiftlet-hook-state", UInt32(MFD_CLOEXEC))
        if raw < 0 { throw .system(.hooks, "memfd_create") }
        let fd = try aboveStdio(raw)
        do throws(SwiftletError) {
            try fd.writeAll(state, stage: .hooks)
        } catch {
            fd.close()
            throw error
        }
        if lseek(fd.raw, 0, SEEK_SET) != 0 {
            let e = SwiftletError.system(.hooks, "lseek")
            fd.close()
            throw e
        }
        return fd
    }

    /// One past the highest fd number that may be open, for the fallback without
    /// close_range (computed before fork: sysconf is not async-signal-safe).
    static func highestFDBound() -> Int32 {
        var soft: UInt64 = 0, hard: UInt64 = 0
        if cl_getrlimit_pid(0, 7 /* RLIMIT_NOFILE */, &soft, &hard) != 0 { return 1024 }
        return Int32(clamping: min(soft, 1 << 20))
    }
}
