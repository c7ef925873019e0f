import CLinux

/// How a forked child ended and the numbers it reported through a pipe.
struct ChildOutcome {
    var reported: [Int32] = []
    var exitStatus: Int32? = nil
    var signal: Int32? = nil
}

/// Runs `body` in a forked child (so a loaded filter dies with it). The child reports
/// numbers with `report`; a child that neither finishes nor dies in 20 s is killed.
/// `parent` runs meanwhile in the test process, e.g. to serve the child.
func runInChild(_ body: (_ report: (Int32) -> Void) -> Void,
                parent: (_ child: pid_t) -> Void = { _ in }) -> ChildOutcome {
    var fds: [Int32] = [0, 0]
    precondition(pipe2(&fds, O_CLOEXEC) == 0)
    let pid = fork()
    precondition(pid >= 0)
    if pid == 0 {
        close(fds[0])
        let out = fds[1]
        body { value in
            var v = value
            _ = write(out, &v, 4)
        }
        _exit(0)
    }
    close(fds[1])
    parent(pid)
    var outcome = ChildOutcome()
    var bytes: [UInt8] = []
    let deadline = 20_000
    var waited = 0
    while true {
        var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, 100)
        if r == 0 {
            waited += 100
            if waited >= deadline { kill(pid, SIGKILL); break }
            continue
        }
        if r < 0 { if cl_errno() == EINTR { continue }; break }
        var buf = [UInt8](repeating: 0, count: 256)
        let n = read(fds[0], &buf, buf.count)
        if n <= 0 { break }
        bytes.append(contentsOf: buf[0..<n])
    }
    close(fds[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && cl_errno() == EINTR {}
    if status & 0x7f == 0 { outcome.exitStatus = (status >> 8) & 0xff } else { outcome.signal = status & 0x7f }
    var i = 0
    while i + 4 <= bytes.count {
        outcome.reported.append(Int32(bytes[i]) | Int32(bytes[i + 1]) << 8 | Int32(bytes[i + 2]) << 16 | Int32(bytes[i + 3]) << 24)
        i += 4
    }
    return outcome
}
