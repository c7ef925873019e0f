import Base
import CLinux
import OCISpec
import Syscalls
import Terminal

extension Runtime {
    /// `run`: create, start, and (unless detached) wait for the container's init, forwarding
    /// signals to it, then delete it; returns the exit status to exit with
    /// (the init's exit code, or 128 + the signal that killed it).
    public func run(_ o: CreateRequest, detach: Bool, keep: Bool) throws(SwiftletError) -> Int32 {
        let created = try create(o)
        let signals = created.signals
        let pid = created.record.pid
        let container = Container(id: o.id, directory: store.directory(o.id), record: created.record, status: .created)
        do throws(SwiftletError) {
            let lock = try ContainerLock.acquire(container.directory)
            defer { lock.unlock() }
            try releaseInit(directory: container.directory, pidfd: created.pidfd)
            try runPoststart(c: container, spec: created.spec, pidfd: created.pidfd)
        } catch {
            _ = cl_pidfd_send_signal(created.pidfd.raw, SIGKILL)
            reap(pid)
            signals.restore()
            try? delete(o.id, force: true)
            throw error
        }
        if detach {
            signals.restore()
            created.pidfd.close()
            return 0
        }
        let status: Int32
        if let master = created.consoleMaster {
            Terminal.proxy(master: master, pidfd: created.pidfd, signalFD: signals.fd) { sig in
                _ = cl_pidfd_send_signal(created.pidfd.raw, sig)
            }
            master.close()
            status = reap(pid)
        } else {
            status = waitForwardingSignals(pid: pid, pidfd: created.pidfd, signals: signals)
        }
        signals.restore()
        created.pidfd.close()
        if !keep { try delete(o.id, force: true) }
        return status
    }

    /// Waits for our child `pid`, passing on every signal the runtime receives meanwhile.
    func waitForwardingSignals(pid: Int32, pidfd: FileDescriptor, signals: SignalGuard) -> Int32 {
        var fds = [pollfd(fd: pidfd.raw, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: signals.fd.raw, events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            if poll(&fds, 2, -1) < 0 && cl_errno() != EINTR { break }
            if fds[1].revents != 0 {
                while let sig = signals.pending() { _ = cl_pidfd_send_signal(pidfd.raw, sig) }
            }
            if fds[0].revents != 0 { break }
        }
        return reap(pid)
    }

    @discardableResult
    func reap(_ pid: Int32) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if cl_errno() != EINTR { return 255 }
        }
        if cl_wifexited(status) != 0 { return cl_wexitstatus(status) }
        if cl_wifsignaled(status) != 0 { return 128 + cl_wtermsig(status) }
        return 255
    }
}
