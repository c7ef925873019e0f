import Base
import JSON
import Testing
@testable import OCISpec

/// The message of the error `body` throws, nil if it succeeds.
func failure<T>(_ body: () throws(SwiftletError) -> T) -> String? {
    do throws(SwiftletError) {
        _ = try body()
        return nil
    } catch {
        return error.description
    }
}

/// `json` with the value at `path` (keys, or decimal indexes into arrays) replaced; a nil
/// value removes the member. Missing objects on the way are created.
func setting(_ json: JSON, _ path: [String], _ value: JSON?) -> JSON {
    guard let head = path.first else { return value ?? .null }
    let rest = Array(path.dropFirst())
    switch json {
    case .array(var items):
        let k = Int(head)!
        if k == items.count {
            if let value { items.append(rest.isEmpty ? value : setting(.object([]), rest, value)) }
        } else if let value = rest.isEmpty ? value : setting(items[k], rest, value) {
            items[k] = value
        } else {
            items.remove(at: k)
        }
        return .array(items)
    case .object(var members):
        if let k = members.firstIndex(where: { $0.key == head }) {
            if rest.isEmpty && value == nil { members.remove(at: k) } else {
                members[k].value = rest.isEmpty ? value! : setting(members[k].value, rest, value)
            }
        } else if let value {
            members.append(JSON.Member(head, rest.isEmpty ? value : setting(.object([]), rest, value)))
        }
        return .object(members)
    default:
        return setting(.object([]), path, value)
    }
}

func json(_ text: String) -> JSON { try! JSON.parse(text) }

/// The error of parsing the runc default config with one change.
func errorWith(_ path: String, _ value: JSON?, base: String = runcSpecOutput) -> String? {
    let changed = setting(json(base), path.split(separator: ".").map(String.init), value)
    return failure { () throws(SwiftletError) in try Spec.parse(json: changed) }
}

@Suite struct ParsingRuncConfigs {
    @Test func runcSpecOutputParses() throws {
        let spec = try Spec.load(text: runcSpecOutput)
        #expect(spec.ociVersion == "1.0.2-dev")
        #expect(spec.root.path == "rootfs")
        #expect(spec.root.readonly == true)
        #expect(spec.hostname == "runc")
        #expect(spec.mounts.map { $0.destination } == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"])
        #expect(spec.mounts[2].options == ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"])
        #expect(spec.mounts[0].options.isEmpty)
        let process = try #require(spec.process)
        #expect(process.terminal)
        #expect(process.args == ["sh"])
        #expect(process.cwd == "/")
        #expect(process.user.uid == 0 && process.user.gid == 0 && process.user.umask == nil)
        #expect(process.noNewPrivileges)
        #expect(process.capabilities?.ambient == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
        #expect(process.capabilities?.inheritable == [])
        #expect(process.rlimits.count == 1 && process.rlimits[0].type == "RLIMIT_NOFILE" && process.rlimits[0].soft == 1024)
        #expect(process.oomScoreAdj == nil)
        let linux = try #require(spec.linux)
        #expect(linux.namespaces.map { $0.type } == [.pid, .network, .ipc, .uts, .mount])
        #expect(linux.namespaces.allSatisfy { $0.path == nil })
        #expect(linux.maskedPaths.count == 10 && linux.readonlyPaths.count == 5)
        let rule = try #require(linux.resources?.devices.first)
        #expect(!rule.allow && rule.access == "rwm" && rule.type == nil && rule.major == nil && rule.minor == nil)
        #expect(spec.hooks.prestart.isEmpty && spec.annotations.isEmpty)
    }

    @Test func runcRootlessSpecOutputParses() throws {
        let spec = try Spec.load(text: runcRootlessSpecOutput)
        let linux = try #require(spec.linux)
        #expect(linux.namespaces.map { $0.type } == [.pid, .ipc, .uts, .mount, .user])
        #expect(linux.uidMappings == [IDMapping(containerID: 0, hostID: 0, size: 1)])
        #expect(linux.gidMappings == [IDMapping(containerID: 0, hostID: 0, size: 1)])
        #expect(linux.resources == nil)
        #expect(spec.mounts[5].type == "none" && spec.mounts[5].source == "/sys" && spec.mounts[5].options.first == "rbind")
    }
}

@Suite struct ParsingConformanceSuiteConfig {
    @Test func runtimeToolsDefaultParses() throws {
        let spec = try Spec.load(text: runtimeToolsDefaultConfig)
        #expect(spec.ociVersion == "1.1.0" && spec.hostname == "mrsdalloway")
        #expect(spec.process?.capabilities?.ambient.count == 14)
        let seccomp = try #require(spec.linux?.seccomp)
        #expect(seccomp.defaultAction == "SCMP_ACT_ERRNO")
        #expect(seccomp.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        #expect(seccomp.syscalls.count == 8 && seccomp.syscalls[0].names.contains("accept4"))
        #expect(seccomp.syscalls.filter { !$0.args.isEmpty }.count == 4)
    }
}

@Suite struct ParsingEverySection {
    @Test func everySectionPopulated() throws {
        let spec = try Spec.load(text: fullConfig)
        #expect(spec.ociVersion == "1.3.0")
        #expect(spec.hostname == "slartibartfast" && spec.domainname == "foobarbaz.test")
        #expect(spec.annotation("com.example.key1") == "value1")
        #expect(spec.annotation("com.example.key2") == "")
        #expect(spec.annotation("missing") == nil)

        let p = try #require(spec.process)
        #expect(p.consoleSize?.height == 25 && p.consoleSize?.width == 80)
        #expect(p.user.uid == 1 && p.user.gid == 1 && p.user.umask == 63 && p.user.additionalGids == [5, 6])
        #expect(p.args == ["sh", "-c", "echo hi"])
        #expect(p.env.last == "EMPTY=")
        #expect(p.cwd == "/root")
        #expect(p.capabilities?.effective == ["CAP_AUDIT_WRITE", "CAP_KILL"])
        #expect(p.capabilities?.inheritable.count == 3)
        #expect(p.rlimits.map { $0.type } == ["RLIMIT_CORE", "RLIMIT_NOFILE"])
        #expect(p.rlimits[1].hard == UInt64.max)
        #expect(p.apparmorProfile == "acme_secure_profile")
        #expect(p.oomScoreAdj == -100)
        #expect(p.selinuxLabel?.hasSuffix("c124,c675") == true)
        let sched = try #require(p.scheduler)
        #expect(sched.policy == "SCHED_DEADLINE" && sched.nice == -5 && sched.flags == ["SCHED_FLAG_RESET_ON_FORK"])
        #expect(sched.runtime == 100000 && sched.deadline == 200000 && sched.period == 300000)
        #expect(p.ioPriority?.ioClass == "IOPRIO_CLASS_IDLE" && p.ioPriority?.priority == 4)
        #expect(p.execCPUAffinity?.initial == "7" && p.execCPUAffinity?.final == "0-3,7")

        #expect(spec.mounts.count == 3)
        let data = spec.mounts[2]
        #expect(data.destination == "/data")       // relative destinations resolve against "/"
        #expect(data.source == "/volumes/testing" && data.type == "none" && data.options == ["rbind", "rw", "idmap"])
        #expect(data.uidMappings == [IDMapping(containerID: 0, hostID: 1000, size: 1)])
        #expect(data.gidMappings == [IDMapping(containerID: 0, hostID: 2000, size: 2)])

        #expect(spec.hooks.prestart.map { $0.path } == ["/usr/bin/fix-mounts", "/usr/bin/setup-network"])
        #expect(spec.hooks.prestart[0].args == ["fix-mounts", "arg1", "arg2"] && spec.hooks.prestart[0].env == ["key1=value1"])
        #expect(spec.hooks.prestart[1].timeout == nil)
        #expect(spec.hooks.createRuntime[0].timeout == 3)
        #expect(spec.hooks.createContainer[0].args == ["-mount", "arg1", "arg2"])
        #expect(spec.hooks.startContainer[0].path == "/usr/bin/refresh-ldcache")
        #expect(spec.hooks.poststart[0].timeout == 5)
        #expect(spec.hooks.poststop[0].args == ["cleanup.sh", "-f"])

        let l = try #require(spec.linux)
        #expect(l.devices.map { $0.path } == ["/dev/fuse", "/dev/sda", "/dev/myfifo"])
        #expect(l.devices[0].type == "c" && l.devices[0].major == 10 && l.devices[0].minor == 229)
        #expect(l.devices[0].fileMode == 438 && l.devices[0].uid == 0 && l.devices[0].gid == 0)
        #expect(l.devices[1].uid == nil && l.devices[2].type == "p" && l.devices[2].major == 0)
        #expect(l.netDevices.map { $0.0 } == ["eth0", "ens4"])
        #expect(l.netDevices.map { $0.1 } == ["container_eth0", "ens4"])
        #expect(l.uidMappings == [IDMapping(containerID: 0, hostID: 1000, size: 32000)])
        #expect(l.gidMappings.count == 2 && l.gidMappings[1] == IDMapping(containerID: 40000, hostID: 50000, size: 10))
        #expect(l.sysctl.map { $0.0 } == ["net.ipv4.ip_forward", "net.core.somaxconn"] && l.sysctl[1].1 == "256")
        #expect(l.cgroupsPath == "/myRuntime/myContainer")
        #expect(l.rootfsPropagation == "slave")
        #expect(l.timeOffsets.map { $0.clock } == ["monotonic", "boottime"])
        #expect(l.timeOffsets[1].secs == -604800 && l.timeOffsets[1].nanosecs == 999_999_999)
        #expect(l.namespaces.map { $0.type } == [.pid, .network, .ipc, .uts, .mount, .user, .cgroup, .time])
        #expect(l.namespaces[1].path == "/var/run/netns/neta")
        #expect(l.namespaces[6].path == nil)      // "" is Go's zero value: a new namespace
        #expect(l.maskedPaths.count == 4 && l.readonlyPaths.count == 6)
        #expect(l.mountLabel?.hasPrefix("system_u:object_r") == true)
        #expect(l.personality?.domain == "LINUX32" && l.personality?.flags == ["SOME_FLAG"])
        #expect(l.intelRdt)
        let rdt = try #require(l.intelRdtSettings)
        #expect(rdt.closID == "guaranteed_group" && rdt.schemata.count == 2 && rdt.enableMonitoring)
        #expect(rdt.l3CacheSchema == "L3:0=ff" && rdt.memBwSchema == "MB:0=20")
        #expect(l.memoryPolicy?.mode == "MPOL_INTERLEAVE" && l.memoryPolicy?.nodes == "2-3")
        #expect(l.memoryPolicy?.flags == ["MPOL_F_STATIC_NODES"])

        let r = try #require(l.resources)
        #expect(r.network?.classID == 1048577)
        #expect(r.network?.priorities.map { $0.0 } == ["eth0", "eth1"] && r.network?.priorities.map { $0.1 } == [500, 1000])
        #expect(r.pids?.limit == 32771)
        #expect(r.hugepageLimits.map { $0.pageSize } == ["2MB", "64KB"] && r.hugepageLimits[0].limit == 9223372036854772000)
        let mem = try #require(r.memory)
        #expect(mem.limit == 536870912 && mem.reservation == 536870912 && mem.swap == 536870912)
        #expect(mem.kernel == -1 && mem.kernelTCP == -1 && mem.swappiness == 0)
        #expect(mem.disableOOMKiller == false && mem.useHierarchy == true && mem.checkBeforeUpdate == true)
        let cpu = try #require(r.cpu)
        #expect(cpu.shares == 1024 && cpu.quota == 1000000 && cpu.burst == 1000 && cpu.period == 500000)
        #expect(cpu.realtimeRuntime == 950000 && cpu.realtimePeriod == 1000000)
        #expect(cpu.cpus == "2-3" && cpu.mems == "0-7" && cpu.idle == 1)
        #expect(r.devices.count == 3)
        #expect(r.devices[1].allow && r.devices[1].type == "c" && r.devices[1].major == 10 && r.devices[1].minor == 229)
        #expect(r.devices[1].access == "rw")
        #expect(r.devices[2].major == 8 && r.devices[2].minor == nil)   // -1 means all, as in runc
        let bio = try #require(r.blockIO)
        #expect(bio.weight == 10 && bio.leafWeight == 10)
        #expect(bio.weightDevice.count == 2 && bio.weightDevice[0].leafWeight == 300 && bio.weightDevice[1].leafWeight == nil)
        #expect(bio.throttleReadBpsDevice.map { $0.rate } == [600] && bio.throttleWriteBpsDevice.map { $0.rate } == [700])
        #expect(bio.throttleReadIOPSDevice.map { $0.rate } == [800] && bio.throttleWriteIOPSDevice[0].minor == 16)
        #expect(r.rdma.map { $0.0 } == ["mlx5_1", "mlx4_0"])
        #expect(r.rdma[0].1.hcaHandles == 3 && r.rdma[0].1.hcaObjects == 10000 && r.rdma[1].1.hcaHandles == nil)
        #expect(r.unified.map { $0.0 } == ["io.max", "hugetlb.1GB.max"] && r.unified[0].1.contains("\n"))

        let sc = try #require(l.seccomp)
        #expect(sc.defaultAction == "SCMP_ACT_ERRNO" && sc.defaultErrnoRet == 38)
        #expect(sc.architectures == ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86_64"])
        #expect(sc.flags == ["SECCOMP_FILTER_FLAG_LOG"])
        #expect(sc.listenerPath == "/run/seccomp-agent.sock" && sc.listenerMetadata == "meta")
        #expect(sc.syscalls.count == 3 && sc.syscalls[0].names == ["getcwd", "chmod"])
        let args = sc.syscalls[1].args
        #expect(args.count == 2 && args[0].index == 0 && args[0].value == 8 && args[0].op == "SCMP_CMP_EQ" && args[0].valueTwo == 0)
        #expect(args[1].value == UInt64.max && args[1].valueTwo == 4 && args[1].op == "SCMP_CMP_MASKED_EQ")
        #expect(sc.syscalls[2].errnoRet == 1 && sc.syscalls[0].errnoRet == nil)
    }

    @Test func minimalConfig() throws {
        let spec = try Spec.load(text: #"{"ociVersion": "1.0.0", "root": {"path": "/abs/rootfs"}}"#)
        #expect(spec.root.path == "/abs/rootfs" && spec.root.readonly == false)
        #expect(spec.process == nil && spec.linux == nil && spec.mounts.isEmpty && spec.hostname == nil)
    }

    @Test func nullMeansAbsent() throws {
        let spec = try Spec.load(text: #"{"ociVersion": "1.1.0", "root": {"path": "r"}, "process": null, "linux": {"resources": null, "namespaces": null}, "hooks": null}"#)
        #expect(spec.process == nil)
        #expect(spec.linux?.resources == nil && spec.linux?.namespaces.isEmpty == true)
    }

    @Test func unknownFieldsAreIgnored() throws {
        var doc = json(fullConfig)
        for path in [["futureField"], ["process", "futureField"], ["process", "user", "username"],
                     ["linux", "futureField"], ["linux", "resources", "memory", "futureField"],
                     ["linux", "seccomp", "syscalls", "0", "comment"], ["hooks", "futureHook"],
                     ["mounts", "0", "futureField"], ["windows"], ["solaris"], ["vm"]] {
            doc = setting(doc, path, .object([JSON.Member("anything", .array([.null, .number("1.5")]))]))
        }
        let spec = try Spec.parse(json: doc)
        #expect(spec.process?.args == ["sh", "-c", "echo hi"])
        #expect(spec.linux?.seccomp?.syscalls.count == 3)
    }

    @Test func pidsWithoutLimitMeansNoLimitSet() throws {
        let spec = try Spec.parse(json: setting(json(runcSpecOutput), ["linux", "resources", "pids"], .object([])))
        #expect(spec.linux?.resources?.pids == nil)
        let limited = try Spec.parse(json: setting(json(runcSpecOutput), ["linux", "resources", "pids", "limit"], .int(-1)))
        #expect(limited.linux?.resources?.pids?.limit == -1)
    }

    @Test func processFileForExec() throws {
        let p = try ProcessSpec.load(text: #"{"args": ["ls"], "cwd": "/tmp", "env": ["A=1"], "user": {"uid": 5, "gid": 6}}"#)
        #expect(p.args == ["ls"] && p.cwd == "/tmp" && p.user.uid == 5 && p.user.gid == 6)
        #expect(failure { () throws(SwiftletError) in try ProcessSpec.load(text: #"{"args": ["ls", 1], "cwd": "/"}"#) }
            == "config: process.json: args[1]: expected string")
    }
}

@Suite struct ReportingBadConfigs {
    static let cases: [(String, JSON?, String)] = [
        // Types, at several depths.
        ("process.args.0", .int(5), "config.json: process.args[0]: expected string"),
        ("process", .string("sh"), "config.json: process: expected object"),
        ("process.terminal", .string("yes"), "config.json: process.terminal: expected boolean"),
        ("process.user.uid", .number("1.5"), "config.json: process.user.uid: expected integer, got 1.5"),
        ("process.user.uid", .int(-1), "config.json: process.user.uid: expected non-negative integer, got -1"),
        ("process.user.gid", .uint(UInt64(UInt32.max) + 1), "config.json: process.user.gid: integer out of range for 32 bits"),
        ("process.capabilities.bounding.1", .null, "config.json: process.capabilities.bounding[1]: expected string"),
        ("process.rlimits.0.soft", .string("1024"), "config.json: process.rlimits[0].soft: expected integer"),
        ("mounts.1.options.2", .bool(true), "config.json: mounts[1].options[2]: expected string"),
        ("mounts.3", .array([]), "config.json: mounts[3]: expected object"),
        ("linux.namespaces", .object([]), "config.json: linux.namespaces: expected array"),
        ("linux.resources.devices.0.allow", .string("false"), "config.json: linux.resources.devices[0].allow: expected boolean"),
        ("linux.resources.memory.limit", .string("1G"), "config.json: linux.resources.memory.limit: expected integer"),
        ("linux.resources.memory.swappiness", .int(-1), "config.json: linux.resources.memory.swappiness: expected non-negative integer, got -1"),
        ("linux.resources.blockIO.weight", .int(70000), "config.json: linux.resources.blockIO.weight: integer out of range for 16 bits"),
        ("linux.resources.unified", json(#"{"cpu.max": 5}"#), "config.json: linux.resources.unified.cpu.max: expected string"),
        ("annotations.a", .bool(true), "config.json: annotations.a: expected string"),
        ("annotations", json(#"{"org.swiftlet.isolation": "vm"}"#), "config.json: annotations.org.swiftlet.isolation: unknown value \"vm\" (one of \"namespaces\", \"chroot\", \"uml\")"),
        ("annotations", json(#"{"org.swiftlet.fallback": "none"}"#), "config.json: annotations.org.swiftlet.fallback: unknown value \"none\" (the only one is \"chroot\")"),
        ("annotations", json(#"{"org.swiftlet.uml.kernel": "linux"}"#), "config.json: annotations.org.swiftlet.uml.kernel: must be an absolute path, got \"linux\""),
        ("annotations", json(#"{"org.swiftlet.gpio": "yes"}"#), "config.json: annotations.org.swiftlet.gpio: unknown value \"yes\" (the only one is \"mediated\")"),
        ("annotations", json(#"{"org.swiftlet.gpio": "mediated"}"#), "config.json: annotations.org.swiftlet.gpio: mediated GPIO needs linux.seccomp.listenerPath (the socket of swiftlet agent)"),
        ("linux.sysctl", .array([]), "config.json: linux.sysctl: expected object"),
        ("linux.sysctl", json(#"{"net/ipv4/../../../../etc/x": "1"}"#), "config.json: linux.sysctl.net/ipv4/../../../../etc/x: invalid sysctl \"net/ipv4/../../../../etc/x\""),
        ("linux.sysctl", json(#"{"/etc/x": "1"}"#), "config.json: linux.sysctl./etc/x: invalid sysctl \"/etc/x\""),
        // Required fields.
        ("ociVersion", nil, "config.json: ociVersion: required"),
        ("root", nil, "config.json: root: required"),
        ("root.path", nil, "config.json: root.path: required"),
        ("root.path", .string(""), "config.json: root.path: must not be empty"),
        ("process.args", nil, "config.json: process.args: required"),
        ("process.cwd", nil, "config.json: process.cwd: required"),
        ("process.user.uid", nil, "config.json: process.user.uid: required"),
        ("mounts.0.destination", nil, "config.json: mounts[0].destination: required"),
        ("linux.namespaces.0.type", nil, "config.json: linux.namespaces[0].type: required"),
        ("linux.resources.devices.0.allow", nil, "config.json: linux.resources.devices[0].allow: required"),
        // Values the spec rules out.
        ("ociVersion", .string("2.0.0"), "config.json: ociVersion: unsupported version \"2.0.0\""),
        ("ociVersion", .string("0.1.0"), "config.json: ociVersion: unsupported version \"0.1.0\""),
        ("ociVersion", .string("1"), "config.json: ociVersion: unsupported version \"1\""),
        ("linux.namespaces.2.type", .string("foo"), "config.json: linux.namespaces[2].type: unknown namespace type \"foo\""),
        ("linux.namespaces.3.type", .string("pid"), "config.json: linux.namespaces[3].type: duplicated namespace \"pid\""),
        ("linux.namespaces.0.path", .string("proc/1/ns/pid"), "config.json: linux.namespaces[0].path: must be an absolute path, got \"proc/1/ns/pid\""),
        ("process.args", .array([]), "config.json: process.args: must not be empty"),
        ("process.cwd", .string("root"), "config.json: process.cwd: must be an absolute path, got \"root\""),
        ("process.env.1", .string("TERM"), "config.json: process.env[1]: invalid environment variable \"TERM\": missing '='"),
        ("process.env.1", .string("=x"), "config.json: process.env[1]: invalid environment variable \"=x\": empty name"),
        ("process.args.0", .string("s\u{0}h"), "config.json: process.args[0]: must not contain a NUL byte"),
        ("mounts.0.destination", .string("/pr\u{0}oc"), "config.json: mounts[0].destination: must not contain a NUL byte"),
        ("mounts.0.destination", .string(""), "config.json: mounts[0].destination: must not be empty"),
        ("process.rlimits.0.type", .string("RLIMIT_FOO"), "config.json: process.rlimits[0].type: unknown rlimit type \"RLIMIT_FOO\""),
        ("process.rlimits.1", json(#"{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}"#), "config.json: process.rlimits[1].type: duplicated rlimit \"RLIMIT_NOFILE\""),
        ("process.rlimits.0.soft", .int(2048), "config.json: process.rlimits[0].soft: soft limit 2048 is greater than hard limit 1024"),
        ("process.oomScoreAdj", .int(1001), "config.json: process.oomScoreAdj: must be between -1000 and 1000, got 1001"),
        ("process.scheduler", json(#"{"policy": "SCHED_FOO"}"#), "config.json: process.scheduler.policy: unknown scheduler policy \"SCHED_FOO\""),
        ("process.scheduler", json(#"{"policy": "SCHED_OTHER", "priority": 5}"#), "config.json: process.scheduler.priority: can only be specified for SCHED_FIFO or SCHED_RR policy"),
        ("process.scheduler", json(#"{"policy": "SCHED_OTHER", "nice": 20}"#), "config.json: process.scheduler.nice: must be between -20 and 19, got 20"),
        ("process.scheduler", json(#"{"policy": "SCHED_RR", "runtime": 5}"#), "config.json: process.scheduler: runtime/deadline/period can only be specified for SCHED_DEADLINE policy"),
        ("process.ioPriority", json(#"{"class": "IOPRIO_CLASS_RT", "priority": 8}"#), "config.json: process.ioPriority.priority: must be between 0 and 7, got 8"),
        ("process.ioPriority", json(#"{"class": "RT", "priority": 0}"#), "config.json: process.ioPriority.class: unknown I/O priority class \"RT\""),
        ("hooks", json(#"{"prestart": [{"path": "bin/hook"}]}"#), "config.json: hooks.prestart[0].path: must be an absolute path, got \"bin/hook\""),
        ("hooks", json(#"{"poststop": [{"path": "/bin/hook", "timeout": 0}]}"#), "config.json: hooks.poststop[0].timeout: must be greater than zero, got 0"),
        ("hooks", json(#"{"poststart": {"path": "/bin/hook"}}"#), "config.json: hooks.poststart: expected array"),
        ("linux.devices", json(#"[{"type": "x", "path": "/dev/x", "major": 1, "minor": 1}]"#), "config.json: linux.devices[0].type: unknown device type \"x\""),
        ("linux.devices", json(#"[{"type": "c", "path": "/dev/x", "major": 1}]"#), "config.json: linux.devices[0].minor: required"),
        ("linux.devices", json(#"[{"type": "c", "path": "dev/x", "major": 1, "minor": 1}]"#), "config.json: linux.devices[0].path: must be an absolute path, got \"dev/x\""),
        ("linux.devices", json(#"[{"type": "c", "path": "/dev/x", "major": 1, "minor": 1}, {"type": "b", "path": "/dev/y", "major": 4294967296, "minor": 1}]"#), "config.json: linux.devices[1].major: out of range (at most 4294967295)"),
        ("mounts", json(#"[{"destination": "/x", "type": "bind", "options": ["rbind"]}]"#), "config.json: mounts[0].source: a bind mount needs a source"),
        ("mounts", json(#"[{"destination": "/x", "type": "tmpfs", "options": ["idmap"]}]"#), "config.json: mounts[0]: id mappings are only supported for bind mounts"),
        ("mounts", json(#"[{"destination": "/x", "type": "bind", "source": "/s", "uidMappings": [], "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}]"#), "config.json: mounts[0].uidMappings: an id-mapped mount needs both uidMappings and gidMappings"),
        ("linux.resources.devices.0.access", .string("rwx"), "config.json: linux.resources.devices[0].access: invalid device access \"rwx\": only r, w and m are allowed"),
        ("linux.resources.devices.0.type", .string("p"), "config.json: linux.resources.devices[0].type: unknown cgroup device type \"p\""),
        ("linux.resources.devices.0.major", .int(-2), "config.json: linux.resources.devices[0].major: must not be negative"),
        ("linux.resources.unified", json(#"{"../cpu.max": "1"}"#), "config.json: linux.resources.unified.../cpu.max: invalid cgroup file name \"../cpu.max\""),
        ("linux.resources.rdma", json(#"{"mlx": {}}"#), "config.json: linux.resources.rdma.mlx: at least one of hcaHandles and hcaObjects is required"),
        ("linux.resources.hugepageLimits", json(#"[{"pageSize": "../2MB", "limit": 1}]"#), "config.json: linux.resources.hugepageLimits[0].pageSize: invalid page size \"../2MB\""),
        ("linux.rootfsPropagation", .string("bogus"), "config.json: linux.rootfsPropagation: unknown rootfsPropagation \"bogus\""),
        ("linux.personality", json(#"{"domain": "LINUX64"}"#), "config.json: linux.personality.domain: unknown personality domain \"LINUX64\""),
        ("linux.seccomp", json(#"{"defaultAction": "SCMP_ACT_NOPE"}"#), "config.json: linux.seccomp.defaultAction: unknown seccomp action \"SCMP_ACT_NOPE\""),
        ("linux.seccomp", json(#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}"#), "config.json: linux.seccomp.defaultErrnoRet: not supported with defaultAction SCMP_ACT_ALLOW"),
        ("linux.seccomp", json(#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}"#), "config.json: linux.seccomp.architectures[0]: unknown seccomp architecture \"SCMP_ARCH_Z80\""),
        ("linux.seccomp", json(#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_X"]}"#), "config.json: linux.seccomp.flags[0]: unknown seccomp flag \"SECCOMP_FILTER_FLAG_X\""),
        ("linux.seccomp", json(#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"}"#), "config.json: linux.seccomp.listenerMetadata: requires listenerPath"),
        ("linux.seccomp", json(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_KILL"}]}"#), "config.json: linux.seccomp.syscalls[0].names: must contain at least one syscall name"),
        ("linux.seccomp", json(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}"#), "config.json: linux.seccomp.syscalls[0].errnoRet: not supported with action SCMP_ACT_KILL"),
        ("linux.seccomp", json(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]}"#), "config.json: linux.seccomp.syscalls[0].args[0].op: unknown seccomp operator \"SCMP_CMP_XX\""),
        ("linux.seccomp", json(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#), "config.json: linux.seccomp.syscalls[0].args[0].index: must be between 0 and 5, got 6"),
        ("linux.seccomp", json(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}"#), "config.json: linux.seccomp.syscalls[0].args[0].value: expected non-negative integer, got -1"),
        ("linux.netDevices", json(#"{"eth0": {"name": "a/b"}}"#), "config.json: linux.netDevices.eth0.name: invalid network device name \"a/b\""),
        ("linux.netDevices", json(#"{"averyveryverylongname": {}}"#), "config.json: linux.netDevices.averyveryverylongname: invalid network device name \"averyveryverylongname\""),
        ("linux.netDevices", json(#"{"eth0": "eth1"}"#), "config.json: linux.netDevices.eth0: expected object"),
        ("linux.intelRdt", json(#"{"closID": "../x"}"#), "config.json: linux.intelRdt.closID: invalid closID \"../x\""),
        ("linux.memoryPolicy", json(#"{"mode": "MPOL_FOO"}"#), "config.json: linux.memoryPolicy.mode: unknown memory policy mode \"MPOL_FOO\""),
        // ID mappings.
        ("linux.uidMappings", json(#"[{"containerID": 0, "hostID": 1000}]"#), "config.json: linux.uidMappings[0].size: required"),
        ("linux.uidMappings", json(#"[{"containerID": 0, "hostID": 1000, "size": 0}]"#), "config.json: linux.uidMappings[0].size: must be greater than zero"),
        ("linux.uidMappings", json(#"[{"containerID": 4294967295, "hostID": 0, "size": 2}]"#), "config.json: linux.uidMappings[0].size: mapping exceeds the 32-bit id range"),
        ("linux.uidMappings", json(#"[{"containerID": 0, "hostID": 1000, "size": 1}]"#), "config.json: linux.uidMappings: user namespace mappings specified, but user namespace isn't enabled in the config"),
        ("mounts.0.uidMappings", json(#"[{"containerID": 0, "hostID": 1000, "size": 1}]"#), "config.json: mounts[0].gidMappings: required when uidMappings is set"),
        // Rules across sections, worded like runc's validator.
        ("linux.namespaces.3", nil, "config.json: hostname: unable to set hostname without a private UTS namespace"),
        ("linux.namespaces.5", json(#"{"type": "user"}"#), "config.json: linux.namespaces: user namespaces enabled, but no namespace path to join nor mappings to apply specified"),
        ("linux.timeOffsets", json(#"{"monotonic": {"secs": 1}}"#), "config.json: linux.timeOffsets: time namespace offsets specified, but time namespace isn't enabled in the config"),
    ]

    @Test(arguments: cases)
    func namesThePlaceAndTheProblem(path: String, value: JSON?, expected: String) {
        let message = errorWith(path, value)
        #expect(message?.hasPrefix("config: " + expected) == true, "\(path): got \(message ?? "no error")")
    }

    @Test func timeOffsetRules() {
        let withTime = setting(json(runcSpecOutput), ["linux", "namespaces", "5"], json(#"{"type": "time", "path": "/proc/1/ns/time"}"#))
        let text = setting(withTime, ["linux", "timeOffsets"], json(#"{"monotonic": {"secs": 1}}"#)).serialized()
        #expect(errorWith("linux.timeOffsets", nil, base: text) == nil)
        #expect(failure { () throws(SwiftletError) in try Spec.load(text: text) }
            == "config: config.json: linux.timeOffsets: time namespace enabled, but both namespace path and time offsets specified -- you may only provide one")
        let newTime = setting(json(text), ["linux", "namespaces", "5", "path"], nil).serialized()
        #expect(errorWith("linux.timeOffsets.realtime", json(#"{"secs": 1}"#), base: newTime)
            == "config: config.json: linux.timeOffsets.realtime: unknown clock \"realtime\"")
        #expect(errorWith("linux.timeOffsets.boottime", json(#"{"nanosecs": 1000000000}"#), base: newTime)
            == "config: config.json: linux.timeOffsets.boottime.nanosecs: must be less than 1000000000")
    }

    @Test func syntaxErrorsCarryLineAndColumn() {
        let text = "{\n  \"ociVersion\": \"1.0.0\",\n  \"root\": {\"path\": rootfs}\n}"
        #expect(failure { () throws(SwiftletError) in try Spec.load(text: text) }
            == "json: config.json: line 3 column 20: unexpected character")
        #expect(failure { () throws(SwiftletError) in try Spec.load(text: "[]") } == "config: config.json: expected object")
    }

    @Test func createNeedsAProcessAndRefusesWhatIsNotImplemented() {
        func createError(_ path: String, _ value: JSON?) -> String? {
            let changed = setting(json(runcSpecOutput), path.split(separator: ".").map(String.init), value)
            return failure { () throws(SwiftletError) in try Spec.parseForCreate(json: changed) }
        }
        #expect(createError("process", nil) == "config: config.json: process: required to create a container")
        #expect(createError("linux.intelRdt", json(#"{"closID": "g"}"#))
            == "config: config.json: linux.intelRdt: not supported: operation not supported")
        #expect(createError("hostname", .string("h")) == nil)
    }

    @Test func sourceNamesTheFile() {
        #expect(failure { () throws(SwiftletError) in try Spec.load(text: #"{"root": {"path": "r"}}"#, source: "/b/config.json") }
            == "config: /b/config.json: ociVersion: required")
    }

    @Test func relaxedWhereRuncIsRelaxed() throws {
        // Relative mount destinations are deprecated but valid (config.md); empty namespace
        // paths and an empty rootfsPropagation are Go's zero values.
        var doc = setting(json(runcSpecOutput), ["mounts", "0", "destination"], .string("proc"))
        doc = setting(doc, ["linux", "namespaces", "0", "path"], .string(""))
        doc = setting(doc, ["linux", "rootfsPropagation"], .string(""))
        doc = setting(doc, ["linux", "resources", "devices", "0", "access"], nil)
        let spec = try Spec.parse(json: doc)
        #expect(spec.mounts[0].destination == "/proc")
        #expect(spec.linux?.namespaces[0].path == nil)
        #expect(spec.linux?.rootfsPropagation == nil)
        #expect(spec.linux?.resources?.devices[0].access == nil)
        #expect(try Spec.parse(json: setting(json(runcSpecOutput), ["process", "user"], nil)).process?.user.uid == 0)
        // Empty optional strings read as absent, as in Go: no hostname to set (so no UTS
        // namespace needed), no filesystem type, no seccomp listener.
        var empty = setting(json(runcSpecOutput), ["hostname"], .string(""))
        empty = setting(empty, ["linux", "namespaces", "3"], nil)
        empty = setting(empty, ["mounts", "0", "type"], .string(""))
        empty = setting(empty, ["linux", "cgroupsPath"], .string(""))
        empty = setting(empty, ["linux", "seccomp"], json(#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "", "listenerMetadata": ""}"#))
        empty = setting(empty, ["linux", "sysctl"], json(#"{"net/ipv4/conf/eth0.100/rp_filter": "1"}"#))
        let parsed = try Spec.parse(json: empty)
        #expect(parsed.linux?.sysctl.first?.0 == "net/ipv4/conf/eth0.100/rp_filter")
        #expect(parsed.hostname == nil && parsed.mounts[0].type == nil && parsed.linux?.cgroupsPath == nil)
        #expect(parsed.linux?.seccomp?.listenerPath == nil && parsed.linux?.seccomp?.listenerMetadata == nil)
        #expect(try Spec.parse(json: setting(json(runcSpecOutput), ["ociVersion"], .string("1.2.1+dev"))).ociVersion == "1.2.1+dev")
    }
}
