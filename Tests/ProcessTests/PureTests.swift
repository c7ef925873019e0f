import Base
import Foundation
import CLinux
import OCISpec
import Process
import Testing

@Suite struct RlimitTests {
    @Test func namesMapToKernelResources() {
        let expected: [(String, Int32)] = [
            ("RLIMIT_CPU", 0), ("RLIMIT_FSIZE", 1), ("RLIMIT_DATA", 2), ("RLIMIT_STACK", 3), ("RLIMIT_CORE", 4),
            ("RLIMIT_RSS", 5), ("RLIMIT_NPROC", 6), ("RLIMIT_NOFILE", 7), ("RLIMIT_MEMLOCK", 8), ("RLIMIT_AS", 9),
            ("RLIMIT_LOCKS", 10), ("RLIMIT_SIGPENDING", 11), ("RLIMIT_MSGQUEUE", 12), ("RLIMIT_NICE", 13),
            ("RLIMIT_RTPRIO", 14), ("RLIMIT_RTTIME", 15),
        ]
        #expect(ProcessSetup.rlimitNames.count == expected.count)
        for (name, number) in expected { #expect(ProcessSetup.rlimitResource(name) == number, "\(name)") }
        // Cross-check against glibc where Swift can see the constants.
        #expect(ProcessSetup.rlimitResource("RLIMIT_NOFILE") == Int32(RLIMIT_NOFILE.rawValue))
        #expect(ProcessSetup.rlimitResource("RLIMIT_CORE") == Int32(RLIMIT_CORE.rawValue))
        #expect(ProcessSetup.rlimitResource("RLIMIT_AS") == Int32(RLIMIT_AS.rawValue))
        #expect(ProcessSetup.rlimitResource("RLIMIT_STACK") == Int32(RLIMIT_STACK.rawValue))
        #expect(ProcessSetup.rlimitResource("rlimit_nofile") == nil)
        #expect(ProcessSetup.rlimitResource("NOFILE") == nil)
    }

    @Test func unknownDuplicateAndInvertedLimitsAreErrors() {
        #expect(errorText { try ProcessSetup.resolveRlimits([Rlimit(type: "RLIMIT_FOO", soft: 1, hard: 1)]) }
                == "process: process.rlimits[0]: invalid rlimit type \"RLIMIT_FOO\": invalid argument")
        #expect(errorText {
            try ProcessSetup.resolveRlimits([Rlimit(type: "RLIMIT_NOFILE", soft: 1, hard: 2),
                                             Rlimit(type: "RLIMIT_NOFILE", soft: 3, hard: 4)])
        } == "process: process.rlimits[1]: duplicate rlimit type \"RLIMIT_NOFILE\": invalid argument")
        #expect(errorText { try ProcessSetup.resolveRlimits([Rlimit(type: "RLIMIT_CORE", soft: 5, hard: 4)]) }?
            .contains("soft limit 5 is above the hard limit 4") == true)
        let ok = try? ProcessSetup.resolveRlimits([Rlimit(type: "RLIMIT_CORE", soft: 0, hard: UInt64.max),
                                                   Rlimit(type: "RLIMIT_NOFILE", soft: 1024, hard: 4096)])
        #expect(ok?.map(\.resource) == [4, 7])
        #expect(ok?.map(\.hard) == [UInt64.max, 4096])
    }
}

@Suite struct CPUListTests {
    @Test func parsesListsAndRanges() throws {
        #expect(try parseCPUList("0-3,7").cpus == [0, 1, 2, 3, 7])
        #expect(try parseCPUList("1").cpus == [1])
        #expect(try parseCPUList("").isEmpty)
        #expect(try parseCPUList("  ").isEmpty)
        #expect(try parseCPUList(" 2 , 5-6 ,\n").cpus == [2, 5, 6])
        #expect(try parseCPUList("1,,3").cpus == [1, 3])
        #expect(try parseCPUList("3-3").cpus == [3])
        #expect(try parseCPUList("64,130").words == [0, 1, 1 << 2])
        #expect(try parseCPUList("65536").cpus == [65536])
    }

    @Test func rejectsBadLists() {
        for bad in ["3-1", "a", "1-", "-1", "1-2-3", ",,", "65537", "0-100000", "4294967296", "99999999999999999999", "1 2", "0x1"] {
            #expect(errorText { try parseCPUList(bad) } != nil, "\(bad)")
        }
        #expect(errorText { try parseCPUList("3-1") } == "process: invalid CPU list \"3-1\": invalid range: 3-1: invalid argument")
    }
}

@Suite struct SchedulerAttributeTests {
    @Test func mapsPoliciesAndFlags() throws {
        var s = SchedulerSpec(policy: "SCHED_DEADLINE")
        s.flags = ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_UTIL_CLAMP_MAX"]
        s.runtime = 10_000_000
        s.deadline = 20_000_000
        s.period = 30_000_000
        let a = try ProcessSetup.schedulerAttributes(s)
        #expect(a == SchedulerAttributes(policy: 6, flags: 0x01 | 0x04 | 0x40, nice: 0, priority: 0,
                                         runtime: 10_000_000, deadline: 20_000_000, period: 30_000_000))
        let policies = ["SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
                        "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6]
        for (name, value) in policies {
            #expect(try ProcessSetup.schedulerAttributes(SchedulerSpec(policy: name)).policy == UInt32(value))
        }
        var rr = SchedulerSpec(policy: "SCHED_RR")
        rr.priority = 50
        #expect(try ProcessSetup.schedulerAttributes(rr).priority == 50)
        var batch = SchedulerSpec(policy: "SCHED_BATCH")
        batch.nice = -20
        #expect(try ProcessSetup.schedulerAttributes(batch).nice == -20)
    }

    @Test func rejectsInvalidSchedulers() {
        var cases: [SchedulerSpec] = [SchedulerSpec(policy: "SCHED_FOO"), SchedulerSpec(policy: "")]
        var flag = SchedulerSpec(policy: "SCHED_OTHER"); flag.flags = ["SCHED_FLAG_BOGUS"]; cases.append(flag)
        var nice = SchedulerSpec(policy: "SCHED_OTHER"); nice.nice = 20; cases.append(nice)
        var prio = SchedulerSpec(policy: "SCHED_OTHER"); prio.priority = 1; cases.append(prio)
        var neg = SchedulerSpec(policy: "SCHED_FIFO"); neg.priority = -1; cases.append(neg)
        var dl = SchedulerSpec(policy: "SCHED_FIFO"); dl.runtime = 1; cases.append(dl)
        for c in cases {
            #expect(errorText { try ProcessSetup.schedulerAttributes(c) } != nil, "\(c.policy)")
        }
        #expect(errorText { try ProcessSetup.schedulerAttributes(SchedulerSpec(policy: "SCHED_FOO")) }
                == "process: process.scheduler.policy: invalid policy \"SCHED_FOO\": invalid argument")
    }

    @Test func ioPriorityValues() throws {
        var p = IOPrioritySpec(ioClass: "IOPRIO_CLASS_BE")
        p.priority = 4
        #expect(try ProcessSetup.ioPriorityValue(p) == 2 << 13 | 4)
        p.ioClass = "IOPRIO_CLASS_RT"; p.priority = 0
        #expect(try ProcessSetup.ioPriorityValue(p) == 1 << 13)
        p.ioClass = "IOPRIO_CLASS_IDLE"; p.priority = 7
        #expect(try ProcessSetup.ioPriorityValue(p) == 3 << 13 | 7)
        p.priority = 8
        #expect(errorText { try ProcessSetup.ioPriorityValue(p) } != nil)
        p.priority = -1
        #expect(errorText { try ProcessSetup.ioPriorityValue(p) } != nil)
        #expect(errorText { try ProcessSetup.ioPriorityValue(IOPrioritySpec(ioClass: "IOPRIO_CLASS_NONE")) } != nil)
    }
}

@Suite struct SysctlValidationTests {
    func check(_ key: String, net: Bool = false, ipc: Bool = false, uts: Bool = false, user: Bool = false) -> String {
        do throws(SwiftletError) {
            return try Sysctl.validate(key, hasNetworkNamespace: net, hasIPCNamespace: ipc,
                                       hasUTSNamespace: uts, hasUserNamespace: user)
        } catch {
            return "ERROR " + error.description
        }
    }

    @Test func namespacedKeysAreAllowedOnlyWithTheirNamespace() {
        for key in ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced", "fs.mqueue.msg_max"] {
            #expect(check(key, ipc: true) == key.replacingOccurrences(of: ".", with: "/"))
            #expect(check(key, net: true, uts: true, user: true).hasPrefix("ERROR"), "\(key)")
        }
        #expect(check("kernel.msgmax") == "ERROR process: sysctl \"kernel.msgmax\" is not allowed in the hosts ipc namespace: invalid argument")
        #expect(check("net.ipv4.ip_forward", net: true) == "net/ipv4/ip_forward")
        #expect(check("net.ipv4.ip_forward", ipc: true, uts: true) == "ERROR process: sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace: invalid argument")
        #expect(check("kernel.domainname", uts: true) == "kernel/domainname")
        #expect(check("kernel.domainname").hasPrefix("ERROR process: sysctl \"kernel.domainname\" is not in a separate kernel namespace"))
        #expect(check("kernel.hostname", uts: true) == "ERROR process: sysctl \"kernel.hostname\" is not allowed as it conflicts with the OCI \"hostname\" field: invalid argument")
        #expect(check("user.max_user_namespaces", user: true) == "user/max_user_namespaces")
        #expect(check("user.max_user_namespaces", net: true, ipc: true, uts: true).hasPrefix("ERROR process: setting ucounts without a user namespace not allowed"))
    }

    @Test func hostWideKeysAreRefused() {
        for key in ["vm.swappiness", "kernel.panic", "fs.file-max", "kernel.msgmaxx", "kernel", "", "fs.mqueue"] {
            #expect(check(key, net: true, ipc: true, uts: true, user: true).hasPrefix("ERROR"), "\(key)")
        }
    }

    @Test func slashFormAndTraversal() {
        #expect(Sysctl.canonicalKey("net/ipv4/conf/eth0.100/forwarding") == "net.ipv4.conf.eth0/100.forwarding")
        #expect(check("net/ipv4/conf/eth0.100/forwarding", net: true) == "net/ipv4/conf/eth0.100/forwarding")
        #expect(check("net.ipv4.conf.all.forwarding", net: true) == "net/ipv4/conf/all/forwarding")
        for key in ["net/../../kernel/core_pattern", "net.ipv4..x", "net.ipv4.//.x", "net./.x", "net.ipv4. x", "net.ipv4.\u{1}"] {
            #expect(check(key, net: true).hasPrefix("ERROR process: sysctl"), "\(key)")
            #expect(check(key, net: true).contains("is not a valid sysctl name"), "\(key)")
        }
    }

    @Test func applyRefusesBeforeWritingAndOutsideProcfs() {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try? FileManager.default.createDirectory(atPath: dir + "/kernel", withIntermediateDirectories: true)
        writeFile(dir + "/kernel/shmmni", "1", mode: 0o644)
        #expect(errorText {
            try Sysctl.apply([("kernel.shmmni", "9")], hasNetworkNamespace: false, hasIPCNamespace: true,
                             hasUTSNamespace: false, procSys: dir)
        } == "process: " + dir + " is not on procfs: invalid argument")
        #expect(errorText {
            try Sysctl.apply([("kernel.shmmni", "9"), ("vm.swappiness", "1")], hasNetworkNamespace: false,
                             hasIPCNamespace: true, hasUTSNamespace: false, procSys: dir)
        }?.contains("vm.swappiness") == true)
        #expect((try? String(contentsOfFile: dir + "/kernel/shmmni", encoding: .utf8)) == "1")
        // Nothing to do is not an error, even without a /proc.
        #expect(errorText { try Sysctl.apply([], hasNetworkNamespace: false, hasIPCNamespace: false,
                                             hasUTSNamespace: false, procSys: "/nonexistent") } == nil)
    }
}

@Suite struct EnvironmentTests {
    @Test func deduplicatesKeepingTheLastAndAddsHome() throws {
        let env = try ProcessSetup.prepareEnvironment(["A=1", "PATH=/bin", "B=2", "A=3", "HOME=/root"], uid: 0)
        #expect(env == ["PATH=/bin", "B=2", "A=3", "HOME=/root"])
        let noHome = try ProcessSetup.prepareEnvironment(["X=1", "HOME="], uid: 4242, passwdPath: "/nonexistent")
        #expect(noHome == ["X=1", "HOME=/"])
    }

    @Test func homeComesFromPasswd() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        writeFile(dir + "/passwd", "root:x:0:0:root:/root:/bin/sh\nbad line\nweb:x:1000:1000::/srv/web:/bin/false\ndup:x:1000:1000::/other:/bin/sh\n", mode: 0o644)
        #expect(try ProcessSetup.prepareEnvironment([], uid: 1000, passwdPath: dir + "/passwd") == ["HOME=/srv/web"])
        #expect(ProcessSetup.homeDirectory(uid: 0, passwdPath: dir + "/passwd") == "/root")
        #expect(ProcessSetup.homeDirectory(uid: 7, passwdPath: dir + "/passwd") == nil)
        // A FIFO in place of /etc/passwd must not block.
        #expect(mkfifo(dir + "/fifo", 0o644) == 0)
        #expect(ProcessSetup.homeDirectory(uid: 0, passwdPath: dir + "/fifo") == nil)
    }

    @Test func invalidEntriesAreErrors() {
        #expect(errorText { try ProcessSetup.prepareEnvironment(["NOEQUALS"], uid: 0) }
                == "process: invalid environment variable: missing '=': invalid argument")
        #expect(errorText { try ProcessSetup.prepareEnvironment(["=value"], uid: 0) }
                == "process: invalid environment variable: name cannot be empty: invalid argument")
        #expect(errorText { try ProcessSetup.prepareEnvironment(["A=x\u{0}y"], uid: 0) }?
            .contains("contains nul byte") == true)
        #expect(ProcessSetup.environmentValue("PATH", in: ["PATH=/a", "XPATH=/x", "PATH=/b"]) == "/b")
        #expect(ProcessSetup.environmentValue("PATH", in: ["PATHX=/a"]) == nil)
    }
}

@Suite final class LookPathTests {
    let dir: String
    deinit { try? FileManager.default.removeItem(atPath: dir) }
    init() {
        dir = makeTempDir()
        writeFile(dir + "/tool", "#!/bin/sh\n", mode: 0o755)
        writeFile(dir + "/noexec", "data", mode: 0o644)
        try? FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        try? FileManager.default.createDirectory(atPath: dir + "/other", withIntermediateDirectories: true)
        writeFile(dir + "/other/tool", "#!/bin/sh\n", mode: 0o700)
    }

    @Test func searchesThePathOfTheProcessEnv() throws {
        #expect(try ProcessSetup.lookPath("tool", env: ["PATH=/nonexistent:" + dir]) == dir + "/tool")
        #expect(try ProcessSetup.lookPath("tool", env: ["PATH=" + dir + "/other:" + dir]) == dir + "/other/tool")
        #expect(try ProcessSetup.lookPath("tool", env: ["PATH=/nonexistent", "PATH=" + dir + "/"]) == dir + "/tool")
        #expect(try ProcessSetup.lookPath("sh", env: ["PATH=/usr/bin:/bin"]).hasSuffix("/sh"))
    }

    @Test func notFoundIsWordedLikeRunc() {
        let notFound = "process: exec: \"tool\": executable file not found in $PATH"
        #expect(errorText { try ProcessSetup.lookPath("tool", env: ["PATH=/nonexistent"]) } == notFound)
        #expect(errorText { try ProcessSetup.lookPath("tool", env: ["HOME=/"]) } == notFound)
        // Non-executable files and directories in PATH are skipped.
        #expect(errorText { try ProcessSetup.lookPath("noexec", env: ["PATH=" + dir]) }?
            .contains("executable file not found in $PATH") == true)
        #expect(errorText { try ProcessSetup.lookPath("sub", env: ["PATH=" + dir]) }?
            .contains("executable file not found in $PATH") == true)
        #expect(errorText { try ProcessSetup.lookPath("", env: ["PATH=" + dir]) }?
            .contains("executable file not found in $PATH") == true)
    }

    @Test func explicitPathsAreCheckedNotSearched() {
        #expect((try? ProcessSetup.lookPath(dir + "/tool", env: [])) == dir + "/tool")
        #expect(errorText { try ProcessSetup.lookPath(dir + "/missing", env: ["PATH=" + dir]) }
                == "process: exec: \"" + dir + "/missing\": stat " + dir + "/missing: no such file or directory")
        #expect(errorText { try ProcessSetup.lookPath(dir + "/noexec", env: []) }
                == "process: exec: \"" + dir + "/noexec\": permission denied")
        #expect(errorText { try ProcessSetup.lookPath(dir + "/sub", env: []) }
                == "process: exec: \"" + dir + "/sub\": is a directory")
    }
}
