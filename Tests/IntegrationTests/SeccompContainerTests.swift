// linux.seccomp in real containers: errno actions and their numbers, argument conditions,
// kill and trap actions, skipped unknown syscall names, and a refused unknown action.
// The syscalls are the ones busybox really makes on x86_64 (checked with strace):
// `mkdir` calls mkdir(2), `chmod` chmod(2), `realpath .` getcwd(2), `linux32`/`linux64`
// personality(PER_LINUX32 = 8 / PER_LINUX = 0).
import Foundation
import Testing

extension TestContainer {
    /// Sets linux.seccomp (architectures left to the runtime's native default).
    func seccomp(defaultAction: String = "SCMP_ACT_ALLOW", defaultErrnoRet: Int? = nil, _ syscalls: [[String: Any]]) {
        var profile: [String: Any] = ["defaultAction": defaultAction, "syscalls": syscalls]
        if let defaultErrnoRet { profile["defaultErrnoRet"] = defaultErrnoRet }
        linux["seccomp"] = profile
    }
}

/// Every system call name of this machine's kernel headers (asm/unistd_64.h), for
/// allow lists; empty when the headers are missing.
private func nativeSyscallNames() -> [String] {
    let candidates = ["/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h"]
    guard let text = candidates.lazy.compactMap({ try? String(contentsOfFile: $0, encoding: .utf8) }).first else { return [] }
    return text.split(separator: "\n").compactMap { line in
        let fields = line.split(separator: " ")
        guard fields.count == 3, fields[0] == "#define", fields[1].hasPrefix("__NR_") else { return nil }
        return String(fields[1].dropFirst(5))
    }
}

extension RuntimeIntegration {
    @Test("SCMP_ACT_ERRNO with errnoRet 38, 1 and 13: the command prints the matching error and fails")
    func seccompErrnoNumbers() throws {
        try withContainer("scerrno") { c in
            c.seccomp([
                ["names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38],
                ["names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1],
                ["names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13],
            ])
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.shell("mkdir /tmp/made; echo mkdir=$?; chmod 700 /tmp; echo chmod=$?; cd /tmp && realpath .; echo realpath=$?; "
                    + "touch /tmp/file; echo touch=$?")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            #expect(result.stdout.contains("mkdir=1") && result.stderr.contains("Function not implemented"), "\(result.summary)")
            #expect(result.stdout.contains("chmod=1") && result.stderr.contains("Operation not permitted"), "\(result.summary)")
            #expect(result.stdout.contains("realpath=1") && result.stderr.contains("realpath: .: Permission denied"), "\(result.summary)")
            // Calls without a rule still work.
            #expect(result.stdout.contains("touch=0"), "\(result.summary)")
            #expect(!FileManager.default.fileExists(atPath: c.rootfs + "/tmp/made"), "mkdir was not denied")
            c.expectNothingLeft("after run")
        }
    }

    @Test("exec into a container whose profile denies getcwd without no_new_privs works as run does (the cwd is verified before the filter)")
    func execWithGetcwdDenied() throws {
        try withContainer("scexeccwd") { c in
            c.seccomp([["names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1]])
            c.process["noNewPrivileges"] = false
            c.process["cwd"] = "/tmp"
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.shell("exec sleep 300")
            try c.mustCreate()
            let started = c.runtime(["start", c.id])
            try #require(started.succeeded, "\(started.summary)")
            let exec = c.runtime(["exec", "--cwd", "/tmp", c.id, "sh", "-c", "touch ok; realpath .; echo realpath=$?"])
            #expect(exec.succeeded, "\(exec.summary)")
            #expect(exec.stdout.contains("realpath=1"), "the filter applies to the exec'd process: \(exec.summary)")
            #expect(FileManager.default.fileExists(atPath: c.rootfs + "/tmp/ok"), "\(exec.summary)")
            let deleted = c.runtime(["delete", "--force", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            c.expectNothingLeft("after delete")
        }
    }

    @Test("SCMP_ACT_ERRNO without errnoRet is EPERM; defaultErrnoRet answers every call not allowed")
    func seccompDefaultErrnoRet() throws {
        let names = nativeSyscallNames()
        try #require(names.count > 300, "no kernel syscall table in /usr/include")
        try withContainer("scdefault") { c in
            // Everything is allowed except mkdir, which gets the default action and its errno.
            c.seccomp(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 13, [
                ["names": names.filter { $0 != "mkdir" && $0 != "mkdirat" }, "action": "SCMP_ACT_ALLOW"],
            ])
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.shell("mkdir /tmp/made; echo mkdir=$?; touch /tmp/file; echo touch=$?")
            let result = try c.run()
            #expect(result.stdout.contains("mkdir=1") && result.stderr.contains("Permission denied"), "\(result.summary)")
            #expect(result.stdout.contains("touch=0"), "\(result.summary)")
            c.expectNothingLeft("after run")
        }
        try withContainer("scplainerrno") { c in
            c.seccomp([["names": ["mkdir"], "action": "SCMP_ACT_ERRNO"]])
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.shell("mkdir /tmp/made; echo mkdir=$?")
            let result = try c.run()
            #expect(result.stdout.contains("mkdir=1") && result.stderr.contains("Operation not permitted"), "\(result.summary)")
        }
    }

    @Test("argument conditions deny exactly the matching call (SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ)")
    func seccompArgumentConditions() throws {
        try withContainer("scargs") { c in
            c.seccomp([
                // personality(PER_LINUX32) only: linux64 asks for PER_LINUX (0).
                ["names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                 "args": [["index": 0, "value": 8, "op": "SCMP_CMP_EQ"]]],
                // chmod to a mode with all of rwx for others.
                ["names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                 "args": [["index": 1, "value": 0o007, "valueTwo": 0o007, "op": "SCMP_CMP_MASKED_EQ"]]],
            ])
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.shell("linux32 true; echo linux32=$?; linux64 true; echo linux64=$?; "
                    + "touch /tmp/f; chmod 777 /tmp/f; echo chmod777=$?; chmod 750 /tmp/f; echo chmod750=$?; "
                    + "chmod 707 /tmp/f; echo chmod707=$?; stat -c %a /tmp/f")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            #expect(result.stdout.contains("linux32=1"), "\(result.summary)")
            #expect(result.stdout.contains("linux64=0"), "\(result.summary)")
            #expect(result.stdout.contains("chmod777=1"), "\(result.summary)")
            #expect(result.stdout.contains("chmod750=0"), "\(result.summary)")
            #expect(result.stdout.contains("chmod707=1"), "\(result.summary)")
            #expect(result.stdoutLines.last == "750", "\(result.summary)")
            #expect(result.stderr.contains("Permission denied"), "\(result.summary)")
        }
    }

    @Test("SCMP_ACT_KILL and SCMP_ACT_TRAP end the calling process with SIGSYS; the shell goes on")
    func seccompKillAndTrapInAChild() throws {
        for action in ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"] {
            try withContainer("sckill-child") { c in
                c.seccomp([["names": ["mkdir"], "action": action]])
                c.config["root"] = ["path": "rootfs", "readonly": false]
                c.shell("mkdir /tmp/made; echo mkdir=$?; echo after")
                let result = try c.run()
                #expect(result.status == 0, "\(action): \(result.summary)")
                #expect(result.stdout.contains("mkdir=\(128 + SIGSYS)"), "\(action): \(result.summary)")
                #expect(result.stdout.contains("after"), "\(action): \(result.summary)")
                #expect(!FileManager.default.fileExists(atPath: c.rootfs + "/tmp/made"), "\(action): mkdir ran")
                c.expectNothingLeft("after run")
            }
        }
    }

    @Test("SCMP_ACT_KILL_PROCESS on the container's process: run exits 128+SIGSYS and the container is stopped")
    func seccompKillProcessOfInit() throws {
        try withContainer("sckill-init") { c in
            c.seccomp([["names": ["mkdir"], "action": "SCMP_ACT_KILL_PROCESS"]])
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.process["args"] = ["mkdir", "/tmp/made"]
            let result = try c.run()
            #expect(result.status == 128 + SIGSYS, "\(result.summary)")
            #expect(!FileManager.default.fileExists(atPath: c.rootfs + "/tmp/made"), "mkdir ran")
            c.expectNothingLeft("after run")

            let created = try c.create()
            try #require(created.succeeded, "\(created.summary)")
            let started = c.runtime(["start", c.id])
            #expect(started.succeeded, "\(started.summary)")
            #expect(eventually { c.status() == "stopped" }, "status: \(c.status() ?? "none")")
            let deleted = c.runtime(["delete", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            c.expectNothingLeft("after delete")
        }
    }

    @Test("unknown syscall names are skipped; the known names of the rule still apply")
    func seccompUnknownSyscallSkipped() throws {
        try withContainer("scunknown") { c in
            c.seccomp([["names": ["no_such_syscall_at_all", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38],
                       ["names": ["another_unknown_call"], "action": "SCMP_ACT_KILL"]])
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.shell("mkdir /tmp/made; echo mkdir=$?; echo alive")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            #expect(result.stdout.contains("mkdir=1") && result.stderr.contains("Function not implemented"), "\(result.summary)")
            #expect(result.stdout.contains("alive"), "\(result.summary)")
        }
    }

    @Test("an unknown seccomp action fails create with one line and leaves nothing")
    func seccompUnknownAction() throws {
        try withContainer("scbadaction") { c in
            c.seccomp([["names": ["mkdir"], "action": "SCMP_ACT_MAYBE"]])
            c.process["args"] = ["true"]
            let created = try c.create()
            #expect(!created.succeeded, "\(created.summary)")
            #expect(created.isOneLineError, "\(created.summary)")
            #expect(created.stderr.contains("SCMP_ACT_MAYBE"), "\(created.summary)")
            c.expectNothingLeft("after refused create")
        }
    }
}
