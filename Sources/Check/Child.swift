import Base
import CLinux

/// What a probe child sends back: the step that failed (an index the probe defines) with
/// its errno, or errno 0 and an optional value on success.
struct ChildReply: Equatable {
    var step: Int32 = 0
    var errno: Int32 = 0
    var value: Int32 = 0

    static func ok(_ value: Int32 = 0) -> ChildReply { ChildReply(step: 0, errno: 0, value: value) }
    /// The failure of `step`, with the errno the failing call left.
    static func failed(_ step: Int32) -> ChildReply {
        let e = cl_errno()
        return ChildReply(step: step, errno: e == 0 ? EIO : e, value: 0)
    }
}

/// How a probe child ended.
enum ChildOutcome: Equatable {
    case replied(ChildReply)
    /// It died, hung, or exited without replying; the text says which.
    case lost(String)
}

/// Runs `body` in a forked child so that whatever it changes (namespaces, filters,
/// credentials, mounts) dies with it; the caller is never changed. The child replies
/// through a pipe; one that takes longer than `timeoutMs` is killed.
func inChild(timeoutMs: Int32 = 2000, _ body: () -> ChildReply) -> ChildOutcome {
    var fds: [Int32] = [-1, -1]
    if pipe2(&fds, O_CLOEXEC) != 0 { return .lost("pipe: " + errnoText(cl_errno())) }
    let pid = fork()
    if pid < 0 {
        let e = cl_errno()
        close(fds[0]); close(fds[1])
        return .lost("fork: " + errnoText(e))
    }
    if pid == 0 {
        close(fds[0])
        let reply = body()
        var words: [Int32] = [reply.step, reply.errno, reply.value]
        _ = words.withUnsafeMutableBytes { write(fds[1], $0.baseAddress, $0.count) }
        _exit(0)
    }
    close(fds[1])
    defer { close(fds[0]) }

    var bytes: [UInt8] = []
    var timedOut = false
    let deadline = cl_monotonic_ns() + Int64(timeoutMs) * 1_000_000
    while bytes.count < 12 {
        let left = (deadline - cl_monotonic_ns()) / 1_000_000
        if left <= 0 { timedOut = true; break }
        var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, Int32(left))
        if r < 0 { if cl_errno() == EINTR { continue }; break }
        if r == 0 { continue }
        var buf = [UInt8](repeating: 0, count: 12)
        let n = buf.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
        if n < 0 { if cl_errno() == EINTR { continue }; break }
        if n == 0 { break }
        bytes.append(contentsOf: buf[0..<n])
    }
    if timedOut { kill(pid, SIGKILL) }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && cl_errno() == EINTR {}

    if bytes.count >= 12 {
        var words: [Int32] = [0, 0, 0]
        words.withUnsafeMutableBytes { raw in
            for i in 0..<12 { raw[i] = bytes[i] }
        }
        return .replied(ChildReply(step: words[0], errno: words[1], value: words[2]))
    }
    if timedOut { return .lost("timed out after " + String(timeoutMs) + " ms") }
    if cl_wifsignaled(status) != 0 { return .lost("killed by signal " + String(cl_wtermsig(status))) }
    return .lost("exited with status " + String(cl_wexitstatus(status)) + " without a reply")
}
