import Foundation

/// Runs privileged test code (credentials, filters, namespaces, mounts) in a child process
/// so that it changes only the child, without fork() of the multithreaded test runner
/// (a forked child can deadlock on a lock another runner thread held, malloc's included).
///
/// The child is this test binary again, started by posix_spawn: Tests/TestChildEntry runs
/// before main, while the process has one thread, finds the module's entry
/// (`swiftlet_test_child_<Module>`, which calls `TestChild.serve` with the module's bodies),
/// runs the named body and exits. Each body gets an argument string and a pipe to write
/// its report to.
public enum TestChild {
    public typealias Body = @Sendable (_ argument: String, _ out: Int32) -> Void

    static let moduleVariable = "SWIFTLET_TEST_CHILD_MODULE"
    static let nameVariable = "SWIFTLET_TEST_CHILD_NAME"
    static let argumentVariable = "SWIFTLET_TEST_CHILD_ARGUMENT"
    /// The report pipe's fd in the child.
    static let reportFD: Int32 = 3

    /// How a child ended and what it wrote to its report pipe.
    public struct Outcome: Sendable {
        public var output: [UInt8] = []
        public var waitStatus: Int32 = 0
        public var timedOut = false
        /// Why no child ran (spawn failed), else nil.
        public var spawnError: String? = nil

        public var text: String { String(decoding: output, as: UTF8.self) }
        public var exitStatus: Int32? { waitStatus & 0x7f == 0 ? (waitStatus >> 8) & 0xff : nil }
        public var signal: Int32? { waitStatus & 0x7f != 0 ? waitStatus & 0x7f : nil }
    }

    /// In the child: runs the body the parent named and returns the exit status.
    public static func serve(_ bodies: [String: Body]) -> Int32 {
        let name = getenv(nameVariable).map { String(cString: $0) } ?? ""
        let argument = getenv(argumentVariable).map { String(cString: $0) } ?? ""
        guard let body = bodies[name] else {
            let text = "test child: no body named '\(name)'\n"
            _ = text.withCString { write(2, $0, strlen($0)) }
            return 127
        }
        body(argument, reportFD)
        return 0
    }

    /// Runs body `name` of test module `module` with `argument` in a new process (under
    /// `launcher`, e.g. unshare(1) and its options, when given) and returns its report once
    /// it has exited. `whileRunning` runs meanwhile with the child's pid, e.g. to serve it.
    /// A child still running after `timeoutMs` is killed (SIGKILL) and reported as timed out.
    public static func run(_ module: String, _ name: String, argument: String = "", launcher: [String] = [],
                           timeoutMs: Int = 60_000, whileRunning: (pid_t) -> Void = { _ in }) -> Outcome {
        let child = start(module, name, argument: argument, launcher: launcher)
        if let pid = child.pid { whileRunning(pid) }
        return child.wait(timeoutMs: timeoutMs)
    }

    /// Starts body `name` as `run` does, without waiting: several may run at once.
    public static func start(_ module: String, _ name: String, argument: String = "", launcher: [String] = []) -> Running {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        let argv = launcher + [executable, "swiftlet-test-child", module + "." + name]
        var environment = ProcessInfo.processInfo.environment
        environment[moduleVariable] = module
        environment[nameVariable] = name
        environment[argumentVariable] = argument
        let envp = environment.map { $0.key + "=" + $0.value }

        var fds: [Int32] = [-1, -1]
        guard pipe2(&fds, O_CLOEXEC) == 0 else { return Running(spawnError: "pipe2: errno \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        // dup2 clears close-on-exec on the copy: only the report pipe and stdio reach the child.
        posix_spawn_file_actions_adddup2(&actions, fds[1], reportFD)

        var pid: pid_t = 0
        let rc = withCStrings(argv) { cArgv in
            withCStrings(envp) { cEnvp in
                posix_spawn(&pid, argv[0], &actions, nil, cArgv, cEnvp)
            }
        }
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            return Running(spawnError: "posix_spawn \(argv[0]): errno \(rc)")
        }
        return Running(pid: pid, pipe: fds[0])
    }

    /// A started child; `wait` once.
    public struct Running {
        public let pid: pid_t?
        let pipe: Int32
        let spawnError: String?

        init(pid: pid_t, pipe: Int32) { self.pid = pid; self.pipe = pipe; spawnError = nil }
        init(spawnError: String) { pid = nil; pipe = -1; self.spawnError = spawnError }

        /// Collects the report until the child exits; kills it after `timeoutMs`.
        public func wait(timeoutMs: Int = 60_000) -> Outcome {
            var outcome = Outcome()
            guard let pid else { outcome.spawnError = spawnError; return outcome }
            // The pidfd says when the child has exited even if something it started still
            // holds the pipe open.
            let pidfd = Int32(truncatingIfNeeded: KernelFacts.rawSyscall(434, Int(pid), 0, 0, 0, 0))   // pidfd_open
            let deadline = monotonicNanoseconds() + Int64(timeoutMs) * 1_000_000
            var pipeOpen = true
            var exited = false
            // Until the child exits (without a pidfd: until it closes the pipe).
            while !exited && (pipeOpen || pidfd >= 0) {
                let left = (deadline - monotonicNanoseconds()) / 1_000_000
                if left <= 0 { outcome.timedOut = true; break }
                var polled = [pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0),
                              pollfd(fd: pipeOpen ? pipe : -1, events: Int16(POLLIN), revents: 0)]
                let r = poll(&polled, 2, Int32(min(left, Int64(Int32.max))))
                if r < 0 { if errno == EINTR { continue }; break }
                if polled[1].revents != 0 { pipeOpen = drain(pipe, into: &outcome.output) }
                if polled[0].revents != 0 { exited = true }
            }
            if outcome.timedOut { kill(pid, SIGKILL) }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            outcome.waitStatus = status
            // What the child wrote before it exited is in the pipe already.
            _ = fcntl(pipe, F_SETFL, fcntl(pipe, F_GETFL) | O_NONBLOCK)
            while pipeOpen && drain(pipe, into: &outcome.output) {}
            if pidfd >= 0 { close(pidfd) }
            close(pipe)
            return outcome
        }
    }

    /// Reads what is there; false at end of file (or on an error other than EINTR).
    fileprivate static func drain(_ fd: Int32, into bytes: inout [UInt8]) -> Bool {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = read(fd, &buf, buf.count)
        if n > 0 { bytes.append(contentsOf: buf[0..<n]); return true }
        return n < 0 && errno == EINTR
    }

    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return body(pointers)
    }
}

/// glibc's pipe2, which Swift's Glibc module hides without _GNU_SOURCE: both ends
/// close-on-exec from the start, so no other runner thread's spawn inherits them.
private let pipe2: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32 = {
    unsafeBitCast(dlsym(nil, "pipe2")!, to: (@convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32).self)
}()

private func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// Writes all of `text` to `fd` (a test child's report pipe).
public func writeAll(_ fd: Int32, _ text: String) {
    writeAll(fd, Array(text.utf8))
}

public func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        offset += n
    }
}
