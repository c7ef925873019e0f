import Base
import Capabilities
import CLinux
import Foundation
import OCISpec
import Process
import Testing
import TestSupport

/// Calls that change the calling process run in a child process (TestChild), which reports
/// what the kernel then says about it (/proc/self/status and friends).
@Suite(.serialized, .enabled(if: geteuid() == 0, "needs root"))
struct PrivilegedProcessTests {

    /// Puts fresh pipes/dev-null on stdio so fixing stdio ownership cannot touch the
    /// test runner's terminal; returns the read end of the new stdout.
    static func isolateStdio() -> Int32 {
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        let null = open("/dev/null", O_RDWR)
        dup2(null, 0)
        dup2(fds[1], 1)
        dup2(null, 2)
        return fds[0]
    }

    @Test func switchesUserGroupsAndCapabilities() {
        let out = inChild("switchesUserGroupsAndCapabilities")
        #expect(out == "1000 1000 1000 1000|1001 1001 1001 1001|10 20|0000000000000400|0000000000000401"
                + "|0000000000000401|0000000000000421|0000000000000400|0|stdout-uid=1000|keepcaps=0")
    }

    @Test func ambientCapabilitiesThatCannotBeRaisedAreWarnings() {
        let out = inChild("ambientCapabilitiesThatCannotBeRaisedAreWarnings")
        #expect(out == "0000000000000000|0000000000000020|can't raise ambient capabilities (not both permitted and inheritable): CAP_KILL")
    }

    @Test func withoutCapabilitiesOnlyTheUserChanges() {
        let parentEffective = statusField("CapEff")
        let asRoot = inChild("withoutCapabilitiesOnlyTheUserChanges.asRoot")
        #expect(asRoot == parentEffective + "|" + statusField("CapBnd") + "||0 0 0 0")
        let asUser = inChild("withoutCapabilitiesOnlyTheUserChanges.asUser")
        #expect(asUser == "0000000000000000|4000 4000 4000 4000")
    }

    @Test func capabilitiesOutsideTheBoundingSetFailToApply() {
        let out = inChild("capabilitiesOutsideTheBoundingSetFailToApply")
        #expect(out == "ERROR: capabilities: unable to apply caps: capset: operation not permitted")
    }

    @Test func setsRlimits() {
        let out = inChild("setsRlimits")
        #expect(out == "100/200 0/0 unlimited")
        let failure = inChild("setsRlimits.failure")
        #expect(failure == "ERROR: process: setrlimit RLIMIT_NOFILE: operation not permitted")
    }

    /// Soft and hard limit columns of the /proc/self/limits line of resource `n` (the
    /// kernel lists them in resource-number order after a header line).
    static func limitsLine(_ n: Int) -> [String] {
        let text = (try? String(contentsOfFile: "/proc/self/limits", encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n")
        guard n + 1 < lines.count else { return ["?", "?", "?"] }
        // "Max open files            1031                 1031                 files"
        let line = String(lines[n + 1])
        let columns = line.dropFirst(26).split(separator: " ").map(String.init)
        return [String(line.prefix(26)).trimmingCharacters(in: .whitespaces)] + columns
    }

    /// Every name lands on the resource the kernel means by it: each limit gets a distinct
    /// value (below its current hard limit: raising one needs CAP_SYS_RESOURCE, which a
    /// test host may lack) and /proc/self/limits is read back.
    @Test func everyRlimitNameHitsTheRightResource() {
        let out = inChild("everyRlimitNameHitsTheRightResource")
        #expect(out == "checked 16: ")
    }

    @Test func setsSchedulerPolicies() {
        let out = inChild("setsSchedulerPolicies")
        // sched_getscheduler reports SCHED_RESET_ON_FORK (0x40000000) with the policy.
        #expect(out == "3 5 \(3 | 0x4000_0000)|5")
        let bad = inChild("setsSchedulerPolicies.bad")
        #expect(bad == "ERROR: process: sched_setattr SCHED_DEADLINE: invalid argument")
    }

    @Test func setsIOPriority() {
        let out = inChild("setsIOPriority")
        #expect(out == "\(2 << 13 | 6) \(3 << 13)")
    }

    @Test func setsAndResetsCPUAffinity() throws {
        let original = try ProcessSetup.currentCPUAffinity()
        #expect(!original.isEmpty)
        let out = inChild("setsAndResetsCPUAffinity")
        #expect(out == "true [0] true")
        let offline = inChild("setsAndResetsCPUAffinity.offline")
        #expect(offline == "ERROR: process: sched_setaffinity 60000: invalid argument")
    }

    @Test func smallSettings() {
        let out = inChild("smallSettings")
        #expect(out == "500 0->1 8 27 22")
        #expect(errorText { try ProcessSetup.setOOMScoreAdj(1001) } != nil)
        #expect(errorText { try ProcessSetup.setPersonality(PersonalitySpec(domain: "BSD")) }
                == "process: linux.personality.domain: unsupported domain \"BSD\": invalid argument")
        var flagged = PersonalitySpec(domain: "LINUX")
        flagged.flags = ["ADDR_NO_RANDOMIZE"]
        #expect(errorText { try ProcessSetup.setPersonality(flagged) } != nil)
    }

    // High fd numbers keep clear of the fds the test runner (and the result pipe) use.
    @Test(arguments: ["native", "enosys"])
    func closeFileDescriptorsKeepsPreservedAndKeptOnes(_ kernel: String) {
        #expect(inChild("closeFileDescriptorsKeepsPreservedAndKeptOnes", kernel) == "closed")
    }

    @Test func execRunsTheProgramWithExactlyItsEnvironment() {
        let out = inChild("execRunsTheProgramWithExactlyItsEnvironment")
        #expect(out == "zero:bar:\n")
        #expect(errorText { try ProcessSetup.exec(path: "/nonexistent/prog", args: ["prog"], env: []) }
                == "process: exec /nonexistent/prog: no such file or directory")
    }

    @Test func changeDirectoryRetriesAfterTheUserSwitch() {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try? FileManager.default.createDirectory(atPath: dir + "/private", withIntermediateDirectories: true)
        chown(dir + "/private", 1000, 1000)
        chmod(dir + "/private", 0o700)
        chmod(dir, 0o755)
        let out = inChild("changeDirectoryRetriesAfterTheUserSwitch", dir)
        #expect(out == "false true true")
        #expect(errorText { try ProcessSetup.changeDirectory("/nonexistent/dir") }
                == "process: chdir to cwd (\"/nonexistent/dir\") set in config.json failed: no such file or directory")
        #expect(errorText { try ProcessSetup.changeDirectory("relative") }?.contains("is not an absolute path") == true)
    }

    @Test func detectsAWorkingDirectoryOutsideTheRoot() {
        #expect(errorText { try ProcessSetup.verifyWorkingDirectory() } == nil)
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = inChild("detectsAWorkingDirectoryOutsideTheRoot", dir)
        #expect(out == "ERROR: process: current working directory is outside of container mount namespace root -- possible container breakout detected")
    }

    /// Writes to /proc (oom_score_adj, setgroups, id maps) never land on a file mounted over
    /// procfs: with openat2 (Linux 5.6) RESOLVE_NO_XDEV refuses the crossing; without it
    /// (simulated by a filter answering openat2 with ENOSYS) the procfs check after open does.
    @Test func procfsWritesRefuseAnOvermountWithAndWithoutOpenat2() {
        let native = inChild("procfsOvermount", "native")
        if KernelFacts.hasOpenat2 {
            #expect(native.hasPrefix("before=ok|ERROR: process: open /proc/") && native.hasSuffix("/oom_score_adj: invalid cross-device link"),
                    "\(native)")
        } else {
            #expect(native.hasPrefix("before=ok|ERROR: process: /proc/") && native.hasSuffix("/oom_score_adj is not on procfs: invalid argument"), "\(native)")
        }
        let fallback = inChild("procfsOvermount", "enosys")
        #expect(fallback.hasPrefix("before=ok|ERROR: process: /proc/") && fallback.hasSuffix("/oom_score_adj is not on procfs: invalid argument"),
                "\(fallback)")
    }

    @Test func sysctlWritesIntoTheContainersNamespaces() {
        let out = inChild("sysctlWritesIntoTheContainersNamespaces")
        #expect(out == "1234 1")
        let missing = inChild("sysctlWritesIntoTheContainersNamespaces.missing")
        #expect(missing == "ERROR: process: open sysctl net.ipv4.no_such_key file: no such file or directory")
    }
}

/// The bodies the tests above run in a child process (TestChild), by name.
extension PrivilegedProcessTests {
    static let children: [String: ChildBody] = [
        "switchesUserGroupsAndCapabilities": { _ in
            _ = Self.isolateStdio()
            var user = User()
            user.uid = 1000
            user.gid = 1001
            user.additionalGids = [10, 20]
            var spec = CapabilitySpec()
            spec.bounding = ["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"]
            spec.effective = ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]
            spec.permitted = ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]
            spec.inheritable = ["CAP_NET_BIND_SERVICE"]
            spec.ambient = ["CAP_NET_BIND_SERVICE"]
            let warnings = try ProcessSetup.switchUserAndCapabilities(user: user, caps: try parseCapabilities(spec))
            var st = stat()
            fstat(1, &st)
            let keep = cl_prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0)
            return [statusField("Uid"), statusField("Gid"), statusField("Groups"), statusField("CapInh"),
                    statusField("CapPrm"), statusField("CapEff"), statusField("CapBnd"), statusField("CapAmb"),
                    String(warnings.count), "stdout-uid=" + String(st.st_uid), "keepcaps=" + String(keep)]
                .joined(separator: "|")
        },
        "ambientCapabilitiesThatCannotBeRaisedAreWarnings": { _ in
            _ = Self.isolateStdio()
            var spec = CapabilitySpec()
            spec.bounding = ["CAP_KILL"]
            spec.effective = ["CAP_KILL"]
            spec.permitted = ["CAP_KILL"]
            spec.ambient = ["CAP_KILL"]   // not inheritable: the kernel refuses it
            let warnings = try ProcessSetup.switchUserAndCapabilities(user: User(), caps: try parseCapabilities(spec))
            return statusField("CapAmb") + "|" + statusField("CapEff") + "|" + warnings.joined(separator: ";")
        },
        "withoutCapabilitiesOnlyTheUserChanges.asRoot": { _ in
            _ = Self.isolateStdio()
            _ = setgroups(2, [5, 6])
            try ProcessSetup.switchUserAndCapabilities(user: User(), caps: nil)
            return statusField("CapEff") + "|" + statusField("CapBnd") + "|" + statusField("Groups") + "|" + statusField("Uid")
        },
        "withoutCapabilitiesOnlyTheUserChanges.asUser": { _ in
            _ = Self.isolateStdio()
            var user = User()
            user.uid = 4000
            user.gid = 4000
            try ProcessSetup.switchUserAndCapabilities(user: user, caps: nil)
            return statusField("CapEff") + "|" + statusField("Uid")
        },
        "capabilitiesOutsideTheBoundingSetFailToApply": { _ in
            _ = Self.isolateStdio()
            var spec = CapabilitySpec()
            spec.bounding = ["CAP_KILL"]
            spec.inheritable = ["CAP_SYS_ADMIN"]   // not in the bounding set: capset refuses
            var user = User()
            user.uid = 1000
            try ProcessSetup.switchUserAndCapabilities(user: user, caps: try parseCapabilities(spec))
            return "applied"
        },
        "setsRlimits": { _ in
            try ProcessSetup.setRlimits([Rlimit(type: "RLIMIT_NOFILE", soft: 100, hard: 200),
                                         Rlimit(type: "RLIMIT_CORE", soft: 0, hard: 0),
                                         Rlimit(type: "RLIMIT_FSIZE", soft: UInt64.max, hard: UInt64.max)])
            var nofile = rlimit(), core = rlimit()
            getrlimit(RLIMIT_NOFILE, &nofile)
            getrlimit(RLIMIT_CORE, &core)
            return "\(nofile.rlim_cur)/\(nofile.rlim_max) \(core.rlim_cur)/\(core.rlim_max) " + Self.limitsLine(1)[1]
        },
        "setsRlimits.failure": { _ in
            try ProcessSetup.setRlimits([Rlimit(type: "RLIMIT_NOFILE", soft: 10, hard: 20)])
            // Raising the hard limit again needs CAP_SYS_RESOURCE, which we drop first.
            _ = cl_prctl(PR_CAPBSET_DROP, 24, 0, 0, 0)
            var e: UInt64 = 0, p: UInt64 = 0, i: UInt64 = 0
            _ = cl_capget(&e, &p, &i)
            _ = cl_capset(e & ~(1 << 24), p & ~(1 << 24), i)
            try ProcessSetup.setRlimits([Rlimit(type: "RLIMIT_NOFILE", soft: 10, hard: 4096)])
            return "raised"
        },
        "everyRlimitNameHitsTheRightResource": { _ in
            func value(_ r: Int32) -> UInt64 {
                let hard = Self.limitsLine(Int(r))[2]
                if hard == "unlimited" { return (UInt64(1) << 40) + UInt64(r) }
                let h = UInt64(hard) ?? 0
                return h > UInt64(r) + 1 ? h - UInt64(r) - 1 : h
            }
            let wanted = ProcessSetup.rlimitNames.map { value($0.1) }
            try ProcessSetup.setRlimits(ProcessSetup.rlimitNames.enumerated().map {
                Rlimit(type: $1.0, soft: wanted[$0], hard: wanted[$0])
            })
            var mismatches: [String] = []
            for (i, (name, r)) in ProcessSetup.rlimitNames.enumerated() {
                let line = Self.limitsLine(Int(r))
                if line.count < 3 || line[1] != String(wanted[i]) || line[2] != String(wanted[i]) {
                    mismatches.append(name + " -> " + line.joined(separator: " "))
                }
            }
            return "checked \(ProcessSetup.rlimitNames.count): " + mismatches.joined(separator: "; ")
        },
        "setsSchedulerPolicies": { _ in
            var batch = SchedulerSpec(policy: "SCHED_BATCH")
            batch.nice = 5
            batch.flags = ["SCHED_FLAG_RESET_ON_FORK"]
            try ProcessSetup.setScheduler(batch)
            var policy: UInt32 = 0, flags: UInt64 = 0, nice: Int32 = 0, prio: UInt32 = 0
            var rt: UInt64 = 0, dl: UInt64 = 0, period: UInt64 = 0
            _ = cl_sched_getattr(0, &policy, &flags, &nice, &prio, &rt, &dl, &period)
            let first = "\(policy) \(nice) \(sched_getscheduler(0))"
            try ProcessSetup.setScheduler(SchedulerSpec(policy: "SCHED_IDLE"))
            _ = cl_sched_getattr(0, &policy, &flags, &nice, &prio, &rt, &dl, &period)
            return first + "|\(policy)"
        },
        "setsSchedulerPolicies.bad": { _ in
            var dl = SchedulerSpec(policy: "SCHED_DEADLINE")
            dl.runtime = 20_000_000
            dl.deadline = 10_000_000   // runtime > deadline: the kernel refuses
            dl.period = 30_000_000
            try ProcessSetup.setScheduler(dl)
            return "set"
        },
        "setsIOPriority": { _ in
            var p = IOPrioritySpec(ioClass: "IOPRIO_CLASS_BE")
            p.priority = 6
            try ProcessSetup.setIOPriority(p)
            let be = cl_ioprio_get(1, 0)
            p.ioClass = "IOPRIO_CLASS_IDLE"
            p.priority = 0
            try ProcessSetup.setIOPriority(p)
            return "\(be) \(cl_ioprio_get(1, 0))"
        },
        "setsAndResetsCPUAffinity": { _ in
            let original = try ProcessSetup.currentCPUAffinity()   // the test process's, inherited
            try ProcessSetup.setCPUAffinity("")   // no change
            let unchanged = try ProcessSetup.currentCPUAffinity() == original
            try ProcessSetup.setCPUAffinity("0")
            let pinned = try ProcessSetup.currentCPUAffinity().cpus
            try ProcessSetup.resetCPUAffinity()
            let reset = try ProcessSetup.currentCPUAffinity()
            return "\(unchanged) \(pinned) \(original.cpus.allSatisfy { reset.contains($0) })"
        },
        "setsAndResetsCPUAffinity.offline": { _ in
            try ProcessSetup.setCPUAffinity("60000")
            return "set"
        },
        "smallSettings": { _ in
            try ProcessSetup.setOOMScoreAdj(500)
            let adj = try String(contentsOfFile: "/proc/self/oom_score_adj", encoding: .utf8)
            let nnpBefore = statusField("NoNewPrivs")
            try ProcessSetup.setNoNewPrivileges()
            try ProcessSetup.setPersonality(PersonalitySpec(domain: "LINUX32"))
            let persona = personality(0xffff_ffff) & 0xff
            ProcessSetup.setUmask(0o027)
            let mask1 = umask(0)
            ProcessSetup.setUmask(nil)
            let mask2 = umask(0)
            return "\(adj.trimmingCharacters(in: .whitespacesAndNewlines)) \(nnpBefore)->\(statusField("NoNewPrivs")) \(persona) \(String(mask1, radix: 8)) \(String(mask2, radix: 8))"
        },
        // argument "enosys": close_range answers ENOSYS, as on kernels before 5.9.
        "closeFileDescriptorsKeepsPreservedAndKeptOnes": { argument in
            if argument == "enosys" {
                guard cl_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 else { return "nnp failed" }
                let filter = denyingFilter(syscall: 436 /* close_range */, errno: ENOSYS)
                guard filter.withUnsafeBytes({ cl_seccomp_install(0, $0.baseAddress, UInt16(filter.count / 8)) }) == 0 else {
                    return "filter failed"
                }
            }
            let report = 600   // the report channel, preserved
            dup2(childReportFD, Int32(report))
            let null = open("/dev/null", O_RDONLY)
            dup2(null, 601)
            dup2(null, 700)   // kept
            dup2(null, 900)
            try ProcessSetup.closeFileDescriptors(preserve: 598, except: [700])
            let text = fcntl(601, F_GETFD) < 0 && fcntl(900, F_GETFD) < 0 && fcntl(700, F_GETFD) >= 0 ? "closed" : "open"
            _ = text.withCString { write(Int32(report), $0, strlen($0)) }
            return ""
        },
        // argument "enosys": openat2 answers ENOSYS, as on kernels before 5.6.
        "procfsOvermount": { argument in
            guard unshare(CLONE_NEWNS) == 0, mount(nil, "/", nil, UInt(MS_REC | MS_PRIVATE), nil) == 0 else {
                return "private mount namespace failed"
            }
            if argument == "enosys" {
                guard cl_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 else { return "nnp failed" }
                let filter = denyingFilter(syscall: 437 /* openat2 */, errno: ENOSYS)
                guard filter.withUnsafeBytes({ cl_seccomp_install(0, $0.baseAddress, UInt16(filter.count / 8)) }) == 0 else {
                    return "filter failed"
                }
            }
            let pid = String(getpid())
            let before = (try? ProcFS.write(pid + "/oom_score_adj", "100")) != nil ? "ok" : "failed"
            let file = "/tmp/proctests-overmount-" + pid
            writeFile(file, "0\n", mode: 0o644)
            defer { unlink(file) }
            guard mount(file, "/proc/" + pid + "/oom_score_adj", nil, UInt(MS_BIND), nil) == 0 else { return "bind failed" }
            do {
                try ProcFS.write(pid + "/oom_score_adj", "500")
                return "before=" + before + "|written"
            } catch {
                return "before=" + before + "|ERROR: " + describe(error)
            }
        },
        "execRunsTheProgramWithExactlyItsEnvironment": { _ in
            var fds: [Int32] = [0, 0]
            _ = pipe(&fds)
            let pid = fork()
            if pid == 0 {
                dup2(fds[1], 1)
                do throws(SwiftletError) {
                    try ProcessSetup.exec(path: "/bin/sh", args: ["sh", "-c", "echo \"$0:$FOO:$HOME\"", "zero"], env: ["FOO=bar"])
                } catch {
                    _exit(3)
                }
            }
            close(fds[1])
            var buf = [UInt8](repeating: 0, count: 256)
            let n = read(fds[0], &buf, 256)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            return String(decoding: buf[0..<max(n, 0)], as: UTF8.self)
        },
        "changeDirectoryRetriesAfterTheUserSwitch": { argument in
            let dir = argument
            _ = Self.isolateStdio()
            // Lose the root powers that would bypass the mode bits, keep the uid.
            var e: UInt64 = 0, p: UInt64 = 0, i: UInt64 = 0
            _ = cl_capget(&e, &p, &i)
            let dac: UInt64 = 1 << 1 | 1 << 2
            _ = cl_capset(e & ~dac, p, i)
            let first = try ProcessSetup.changeDirectory(dir + "/private", deferOnPermissionDenied: true)
            var user = User()
            user.uid = 1000
            user.gid = 1000
            try ProcessSetup.switchUserAndCapabilities(user: user, caps: nil)
            let second = try ProcessSetup.changeDirectory(dir + "/private", deferOnPermissionDenied: true)
            return "\(first) \(second) \(FileManager.default.currentDirectoryPath == dir + "/private")"
        },
        "detectsAWorkingDirectoryOutsideTheRoot": { argument in
            let dir = argument
            _ = chdir("/")
            guard chroot(dir) == 0 else { return "chroot failed" }
            try ProcessSetup.verifyWorkingDirectory()
            return "not detected"
        },
        "sysctlWritesIntoTheContainersNamespaces": { _ in
            guard unshare(CLONE_NEWIPC | CLONE_NEWNET) == 0 else { return "unshare failed" }
            try Sysctl.apply([("kernel.shmmni", "1234"), ("net/ipv4/ip_forward", "1")],
                             hasNetworkNamespace: true, hasIPCNamespace: true, hasUTSNamespace: false)
            let shm = try String(contentsOfFile: "/proc/sys/kernel/shmmni", encoding: .utf8)
            let fwd = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8)
            return shm.trimmingCharacters(in: .whitespacesAndNewlines) + " " + fwd.trimmingCharacters(in: .whitespacesAndNewlines)
        },
        "sysctlWritesIntoTheContainersNamespaces.missing": { _ in
            guard unshare(CLONE_NEWNET) == 0 else { return "unshare failed" }
            try Sysctl.apply([("net.ipv4.no_such_key", "1")], hasNetworkNamespace: true, hasIPCNamespace: false,
                             hasUTSNamespace: false)
            return "written"
        },
    ]
}
