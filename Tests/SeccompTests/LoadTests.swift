import Base
import CLinux
import JSON
import OCISpec
import Syscalls
import Testing
@testable import Seccomp

private func rule(_ names: [String], _ action: String, errnoRet: UInt32? = nil, args: [SeccompArg] = []) -> SeccompSyscall {
    var c = SeccompSyscall(names: names, action: action)
    c.errnoRet = errnoRet
    c.args = args
    return c
}

private func program(_ syscalls: [SeccompSyscall], defaultAction: String = "SCMP_ACT_ALLOW") throws -> SeccompProgram {
    var s = SeccompSpec(defaultAction: defaultAction)
    s.syscalls = syscalls
    return try SeccompProgram.build(s)
}

/// Loads `p` in the child; reports -1000 - errno if that fails.
private func load(_ p: SeccompProgram, _ report: (Int32) -> Void) -> Int32?? {
    do throws(SwiftletError) {
        return .some(try p.load())
    } catch {
        report(-1000 - error.errno)
        return .none
    }
}

/// Filters are per process and irreversible, so each test loads in a child process (TestChild).
@Suite(.serialized) struct SeccompLoadTests {
    @Test func errnoActionReturnsTheConfiguredErrno() throws {
        let dir = "/tmp/seccomp-test-\(getpid())"
        let outcome = runInChild("errnoActionReturnsTheConfiguredErrno", dir)
        #expect(outcome.exitStatus == 0)
        #expect(outcome.reported == [42, EPERM, 0])
        #expect(!pathExists(dir))
    }

    @Test func killActionsKillWithSIGSYS() throws {
        for action in ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD"] {
            let outcome = runInChild("killActionsKillWithSIGSYS", action)
            #expect(outcome.reported == [1], "\(action)")
            #expect(outcome.signal == SIGSYS, "\(action)")
        }
    }

    @Test func defaultActionAppliesToEverythingElse() throws {
        // Deny by default, allow only what the child needs to report and exit.
        let outcome = runInChild("defaultActionAppliesToEverythingElse")
        #expect(outcome.reported == [EPERM])
        #expect(outcome.exitStatus == 0)
    }

    @Test func longAllowListWithBinaryTree() throws {
        // More than 32 rules turns on libseccomp's binary tree, as in runc.
        let p = try program([rule(Self.allowed, "SCMP_ACT_ALLOW")], defaultAction: "SCMP_ACT_ERRNO")
        #expect(p.rules.count == Self.allowed.count)
        let outcome = runInChild("longAllowListWithBinaryTree")
        #expect(outcome.reported == [0, 0, EPERM, EPERM])
    }

    @Test func argumentConditions() throws {
        let outcome = runInChild("argumentConditions")
        #expect(outcome.reported == [11, 11, 0, 12, 0])
    }

    @Test func loadNeedsNoNewPrivsOrCapSysAdmin() throws {
        let outcome = runInChild("loadNeedsNoNewPrivsOrCapSysAdmin")
        #expect(outcome.reported == [EACCES, 1, 0, 42])
    }

    @Test func notifyFdReachesTheListener() throws {
        let dir = "/tmp/seccomp-notify-\(getpid())"
        try makeDirectories(dir)
        defer { removeTree(dir) }
        let path = dir + "/agent.sock"
        let listener = try UnixSocket.listen(path: path)
        defer { listener.close() }

        let p = try Self.notifyProgram(listenerPath: path)
        #expect(p.needsListener)

        // The child loads, hands the fd to the agent (this test), then makes the notified
        // call, which the agent answers with ENOMSG.
        var message: [UInt8] = []
        var notifyFD: Int32 = -1
        var notifiedSyscall: Int32 = -1
        var notifiedPid: UInt32 = 0
        let outcome = runInChild("notifyFdReachesTheListener", path, parent: { child in
            guard waitReadable(listener.fd.raw), let conn = try? listener.accept() else { return }
            defer { conn.close() }
            while waitReadable(conn.fd.raw), let part = try? conn.receive(upTo: 65536), !part.bytes.isEmpty {
                message += part.bytes
                if let fd = part.fd { notifyFD = fd }
            }
            guard notifyFD >= 0, waitReadable(notifyFD) else { return }
            var request: UnsafeMutablePointer<seccomp_notif>? = nil
            var response: UnsafeMutablePointer<seccomp_notif_resp>? = nil
            guard seccomp_notify_alloc(&request, &response) == 0, let request, let response else { return }
            defer { seccomp_notify_free(request, response) }
            guard seccomp_notify_receive(notifyFD, request) == 0 else { return }
            notifiedSyscall = request.pointee.data.nr
            notifiedPid = request.pointee.pid
            response.pointee.id = request.pointee.id
            response.pointee.val = 0
            response.pointee.error = -ENOMSG
            response.pointee.flags = 0
            _ = seccomp_notify_respond(notifyFD, response)
        })
        #expect(outcome.exitStatus == 0)
        #expect(outcome.reported == [ENOMSG])
        #expect(notifiedSyscall == Int32(SYS_getcwd))
        #expect(notifiedPid > 0)

        let json = try JSON.parse(String(decoding: message, as: UTF8.self))
        #expect(json["ociVersion"] == .string("1.3.0"))
        #expect(json["fds"] == .array([.string("seccompFd")]))
        #expect(json["pid"]?.int64Value == Int64(notifiedPid))
        #expect(json["metadata"] == .string("MKNOD=/dev/null"))
        #expect(json["state"]?["id"] == .string("c1"))

        // The fd is a seccomp notify fd: the kernel names it so, and the notify ioctl
        // answers ENOENT for an unknown id (ENOTTY on any other kind of fd).
        #expect(notifyFD >= 0)
        if notifyFD >= 0 {
            var target = [CChar](repeating: 0, count: 256)
            let n = readlink("/proc/self/fd/\(notifyFD)", &target, 255)
            let link = n > 0 ? String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
            #expect(link == "anon_inode:seccomp notify")
            #expect(cl_seccomp_notify_id_valid(notifyFD, 12345) == -1 && cl_errno() == ENOENT)
            #expect(cl_fcntl_int(notifyFD, F_GETFD, 0) & FD_CLOEXEC != 0)
            close(notifyFD)
        }
        var pipeFDs: [Int32] = [0, 0]
        _ = pipe(&pipeFDs)
        #expect(cl_seccomp_notify_id_valid(pipeFDs[0], 1) == -1 && cl_errno() == ENOTTY)
        close(pipeFDs[0]); close(pipeFDs[1])
    }

    @Test func listenerThatIsNotThereIsAnError() {
        do throws(SwiftletError) {
            try sendToListener(path: "/tmp/seccomp-no-such-agent.sock", notifyFD: 0, processStateJSON: "{}")
            Issue.record("sent to nothing")
        } catch {
            #expect(error.stage == .seccomp)
            #expect(error.errno == ENOENT)
            #expect(error.description.hasBytePrefix("seccomp: connect to seccomp agent (listenerPath): connect /tmp/seccomp-no-such-agent.sock"))
        }
    }
}

/// poll(2) for input with a 10 s limit, so a broken child cannot hang the test.
private func waitReadable(_ fd: Int32) -> Bool {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    while true {
        let r = poll(&p, 1, 10_000)
        if r < 0 && cl_errno() == EINTR { continue }
        return r > 0
    }
}

/// The bodies the tests above run in a child process (TestChild), by name.
extension SeccompLoadTests {
    static let allowed = ["read", "write", "readv", "writev", "pread64", "pwrite64", "openat", "close", "close_range",
                              "fstat", "newfstatat", "statx", "lseek", "mmap", "munmap", "mprotect", "madvise", "brk",
                              "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl", "access", "faccessat", "faccessat2",
                              "pipe2", "dup", "dup2", "dup3", "poll", "ppoll", "select", "pselect6", "nanosleep",
                              "clock_nanosleep", "clock_gettime", "getpid", "gettid", "getppid", "getuid", "geteuid",
                              "getgid", "getegid", "exit", "exit_group", "futex", "set_robust_list", "rseq", "getrandom",
                              "sched_yield", "uname", "fcntl", "getcwd", "chdir", "fchdir", "kill", "tgkill", "wait4"]

    /// A filter that notifies the agent at `listenerPath` of getcwd.
    static func notifyProgram(listenerPath: String) throws -> SeccompProgram {
        var s = SeccompSpec(defaultAction: "SCMP_ACT_ALLOW")
        s.syscalls = [rule(["getcwd"], "SCMP_ACT_NOTIFY")]
        s.flags = ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
        s.listenerPath = listenerPath
        s.listenerMetadata = "MKNOD=/dev/null"
        return try SeccompProgram.build(s)
    }

    static let children: [String: ChildBody] = [
        "errnoActionReturnsTheConfiguredErrno": { argument, report in
            let dir = argument
            let p = try! program([rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errnoRet: 42),
                                  rule(["rmdir"], "SCMP_ACT_ERRNO")])
            guard load(p, report) != nil else { return }
            report(mkdir(dir, 0o700) == 0 ? 0 : cl_errno())
            report(rmdir("/tmp/seccomp-test-nonexistent") == 0 ? 0 : cl_errno())
            report(getpid() > 0 ? 0 : cl_errno())  // anything else still works
        },
        "killActionsKillWithSIGSYS": { argument, report in
            let p = try! program([rule(["getcwd"], argument)])
            guard load(p, report) != nil else { return }
            report(1)
            var buf = [CChar](repeating: 0, count: 4096)
            _ = getcwd(&buf, buf.count)
            report(2)
        },
        "defaultActionAppliesToEverythingElse": { _, report in
            // Deny by default, allow only what the child needs to report and exit.
            let p = try! program([rule(["write", "exit_group", "exit"], "SCMP_ACT_ALLOW")], defaultAction: "SCMP_ACT_ERRNO")
            guard load(p, report) != nil else { return }
            report(getpgid(0) >= 0 ? 0 : cl_errno())
        },
        "longAllowListWithBinaryTree": { _, report in
            let p = try! program([rule(allowed, "SCMP_ACT_ALLOW")], defaultAction: "SCMP_ACT_ERRNO")
            guard load(p, report) != nil else { return }
            report(getpid() > 0 ? 0 : -1)
            var buf = [CChar](repeating: 0, count: 4096)
            report(getcwd(&buf, buf.count) != nil ? 0 : cl_errno())
            report(mkdir("/tmp/seccomp-never", 0o700) == 0 ? 0 : cl_errno())
            report(getpgid(0) >= 0 ? 0 : cl_errno())
        },
        "argumentConditions": { _, report in
            var masked = SeccompArg(index: 0, value: 0xff00, op: "SCMP_CMP_MASKED_EQ")
            masked.valueTwo = 0x3000
            let p = try! program([
                // Two conditions on one argument: either matches (runc's OR semantics).
                rule(["getpgid"], "SCMP_ACT_ERRNO", errnoRet: 11, args: [SeccompArg(index: 0, value: 111111, op: "SCMP_CMP_EQ"),
                                                                        SeccompArg(index: 0, value: 222222, op: "SCMP_CMP_EQ")]),
                rule(["getsid"], "SCMP_ACT_ERRNO", errnoRet: 12, args: [masked]),
            ])
            guard load(p, report) != nil else { return }
            report(getpgid(111111) < 0 ? cl_errno() : 0)
            report(getpgid(222222) < 0 ? cl_errno() : 0)
            report(getpgid(0) < 0 ? cl_errno() : 0)
            report(getsid(0x3039) < 0 ? cl_errno() : 0)  // 0x3039 & 0xff00 == 0x3000
            report(getsid(0) < 0 ? cl_errno() : 0)
        },
        "loadNeedsNoNewPrivsOrCapSysAdmin": { _, report in
            let p = try! program([rule(["mkdir"], "SCMP_ACT_ERRNO", errnoRet: 42)])
            // An unprivileged uid has no capabilities left.
            guard setresgid(65534, 65534, 65534) == 0, setresuid(65534, 65534, 65534) == 0 else { report(-1); return }
            do throws(SwiftletError) {
                _ = try p.load()
                report(0)
            } catch {
                report(error.errno)
                report(error.description.utf8.count > 0 && error.message.hasBytePrefix("load filter (needs no_new_privs or CAP_SYS_ADMIN)") ? 1 : 0)
            }
            _ = cl_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            report(load(p, report) != nil ? 0 : 1)
            report(mkdir("/tmp/seccomp-never", 0o700) == 0 ? 0 : cl_errno())
        },
        "notifyFdReachesTheListener": { path, report in
            let p = try! notifyProgram(listenerPath: path)
            let state = "{\"ociVersion\":\"1.3.0\",\"id\":\"c1\",\"status\":\"created\",\"pid\":7,\"bundle\":\"/b\"}"
            guard case .some(let fd?) = load(p, report) else { report(-1); return }
            let text = containerProcessStateJSON(pid: getpid(), metadata: p.listenerMetadata, stateJSON: state)
            do throws(SwiftletError) {
                try sendToListener(path: p.listenerPath!, notifyFD: fd, processStateJSON: text)
            } catch {
                report(-2000 - error.errno)
                return
            }
            close(fd)
            var buf = [CChar](repeating: 0, count: 4096)
            report(getcwd(&buf, buf.count) == nil ? cl_errno() : 0)
        },
    ]
}
