import CLinux

/// Runs `body` in a forked child and returns the bytes it wrote to the pipe, with how it
/// ended; a child still running after `timeoutMs` is killed.
func runInChild(timeoutMs: Int = 20_000, _ body: (_ out: Int32) -> Void) -> (bytes: [UInt8], status: Int32) {
    var fds: [Int32] = [0, 0]
    precondition(pipe2(&fds, O_CLOEXEC) == 0)
    let pid = fork()
    precondition(pid >= 0)
    if pid == 0 {
        close(fds[0])
        body(fds[1])
        _exit(0)
    }
    close(fds[1])
    var bytes: [UInt8] = []
    var waited = 0
    while true {
        var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, 100)
        if r == 0 {
            waited += 100
            if waited >= timeoutMs { kill(pid, SIGKILL); break }
            continue
        }
        if r < 0 { if cl_errno() == EINTR { continue }; break }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = read(fds[0], &buf, buf.count)
        if n <= 0 { break }
        bytes.append(contentsOf: buf[0..<n])
    }
    close(fds[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && cl_errno() == EINTR {}
    return (bytes, status)
}

func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n <= 0 { return }
        offset += n
    }
}
