// What the container's process sees: each test configures one aspect, runs a busybox
// shell inside with `run`, and checks what it printed against the config.
import Foundation
import Testing

/// Every integration test belongs to this suite (the other files extend it): one container
/// at a time, and only when a runtime binary is given and we are root.
@Suite("Runtime integration (SWIFTLET_BINARY)", .serialized,
       .enabled(if: Environment.enabled, "needs SWIFTLET_BINARY and root"))
struct RuntimeIntegration {}

extension RuntimeIntegration {
    @Test("the process is pid 1 in its own pid namespace and sees the configured hostname")
    func pidOneAndHostname() throws {
        try withContainer("pid1") { c in
            c.config["hostname"] = "it-hostname"
            c.shell("echo pid=$$; hostname; echo '=== pids ==='; ls /proc | grep -E '^[0-9]+$'")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            #expect(Array(result.stdoutLines.prefix(2)) == ["pid=1", "it-hostname"], "\(result.summary)")
            // Only the shell and its ls/grep children exist in the new pid namespace.
            let pids = section(result.stdout, "pids").split(separator: "\n").compactMap { Int($0) }
            #expect(pids.contains(1) && pids.count <= 3 && pids.allSatisfy { $0 < 10 }, "\(result.stdout)")
            c.expectNothingLeft("after run")
        }
    }

    @Test("the process inherits no file descriptor beyond stdio from the runtime's caller")
    func noInheritedDescriptors() throws {
        try withContainer("fds") { c in
            c.shell("ls /proc/self/fd")  // ls itself holds fd 3 on the directory it lists
            try c.writeConfig()
            let run = try c.spawnRuntime(["run", "--bundle", c.bundle, c.id], inheritedFile: c.bundle + "/config.json")
            let result = run.wait()
            #expect(result.status == 0, "\(result.summary)")
            #expect(result.stdoutLines == ["0", "1", "2", "3"], "\(result.summary)")
        }
    }

    @Test("the process starts with no blocked signals and no ignored standard signals")
    func cleanSignalState() throws {
        try withContainer("signals") { c in
            c.process["args"] = ["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"]
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            #expect(statusField(result.stdout, "SigBlk") == "0000000000000000", "\(result.summary)")
            // Only the standard signals 1-31: glibc reserves 32 and 33 and posix_spawn cannot
            // reset them for us, so their disposition may come from the test process itself.
            let ignored = statusField(result.stdout, "SigIgn").flatMap { UInt64($0, radix: 16) }
            #expect(ignored.map { $0 & 0x7fff_ffff } == 0, "\(result.summary)")
        }
    }

    @Test("mounts appear with their flags: tmpfs nosuid,nodev,noexec, read-only bind, read-only root")
    func mountsAndFlags() throws {
        try withContainer("mounts") { c in
            let shared = c.workDir + "/shared"
            try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
            try "from the host\n".write(toFile: shared + "/file", atomically: true, encoding: .utf8)
            c.mounts += [
                ["destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=1777"]],
                ["destination": "/data", "type": "bind", "source": shared, "options": ["rbind", "ro"]],
            ]
            c.shell("""
                echo '=== mountinfo ==='; cat /proc/self/mountinfo
                echo '=== data ==='; cat /data/file
                echo '=== data-write ==='; touch /data/new 2>&1
                echo '=== scratch-write ==='; touch /scratch/new 2>&1 && echo ok
                echo '=== root-write ==='; touch /new 2>&1; true
                """)
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            let mounts = MountInfo.parse(section(result.stdout, "mountinfo"))
            let scratch = try #require(mounts.last { $0.mountPoint == "/scratch" }, "no /scratch mount: \(result.stdout)")
            #expect(scratch.fsType == "tmpfs")
            for flag in ["rw", "nosuid", "nodev", "noexec"] {
                #expect(scratch.options.contains(flag), "/scratch lacks \(flag): \(scratch.options)")
            }
            let data = try #require(mounts.last { $0.mountPoint == "/data" }, "no /data mount: \(result.stdout)")
            #expect(data.options.contains("ro"), "/data is not read-only: \(data.options)")
            let root = try #require(mounts.last { $0.mountPoint == "/" }, "no / mount")
            #expect(root.options.contains("ro"), "root.readonly not applied: \(root.options)")
            let proc = try #require(mounts.last { $0.mountPoint == "/proc" }, "no /proc mount")
            #expect(proc.fsType == "proc")
            #expect(section(result.stdout, "data") == "from the host")
            #expect(section(result.stdout, "data-write").hasSuffix("Read-only file system"), "\(result.summary)")
            #expect(section(result.stdout, "scratch-write") == "ok", "\(result.summary)")
            #expect(section(result.stdout, "root-write").hasSuffix("Read-only file system"), "\(result.summary)")
            #expect(!FileManager.default.fileExists(atPath: shared + "/new"))
            c.expectNothingLeft("after run")
        }
    }

    struct CapabilityCase: CustomTestStringConvertible, Sendable {
        var uid: Int
        var bounding: [String]
        var permitted: [String]
        var inheritable: [String]
        var ambient: [String]
        var testDescription: String { "uid \(uid)" }
    }

    // Root gains its whole bounding set on exec (file capabilities are emulated for uid 0),
    // so its case configures equal sets; uid 1000 keeps exactly its ambient set across exec.
    static let capabilityCases = [
        CapabilityCase(uid: 0, bounding: ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
                       permitted: ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
                       inheritable: ["CAP_KILL"], ambient: []),
        CapabilityCase(uid: 1000, bounding: ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
                       permitted: ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
                       inheritable: ["CAP_KILL", "CAP_NET_BIND_SERVICE"], ambient: ["CAP_KILL", "CAP_NET_BIND_SERVICE"]),
    ]

    @Test("capability sets equal the configured ones", arguments: capabilityCases)
    func capabilities(_ caps: CapabilityCase) throws {
        try withContainer("caps-\(caps.uid)") { c in
            c.process["user"] = ["uid": caps.uid, "gid": caps.uid]
            c.process["capabilities"] = ["bounding": caps.bounding, "permitted": caps.permitted,
                                         "effective": caps.permitted, "inheritable": caps.inheritable,
                                         "ambient": caps.ambient]
            c.shell("grep -E '^Cap' /proc/self/status")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            func mask(_ key: String) -> UInt64? { statusField(result.stdout, key).flatMap { UInt64($0, radix: 16) } }
            let afterExec = caps.uid == 0 ? caps.permitted : caps.ambient
            #expect(mask("CapBnd") == capabilityMask(caps.bounding), "\(result.stdout)")
            #expect(mask("CapPrm") == capabilityMask(afterExec), "\(result.stdout)")
            #expect(mask("CapEff") == capabilityMask(afterExec), "\(result.stdout)")
            #expect(mask("CapInh") == capabilityMask(caps.inheritable), "\(result.stdout)")
            #expect(mask("CapAmb") == capabilityMask(caps.ambient), "\(result.stdout)")
        }
    }

    @Test("rlimits are set to the configured soft and hard values")
    func rlimits() throws {
        try withContainer("rlimits") { c in
            c.process["rlimits"] = [["type": "RLIMIT_NOFILE", "soft": 512, "hard": 768],
                                    ["type": "RLIMIT_CORE", "soft": 0, "hard": 4096]]
            c.shell("echo soft=$(ulimit -n) hard=$(ulimit -Hn); grep -E '^Max (open files|core file size)' /proc/self/limits")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            let lines = result.stdoutLines
            #expect(lines.first == "soft=512 hard=768", "\(result.stdout)")
            let limits = lines.dropFirst().map { $0.split(separator: " ").map(String.init) }
            #expect(limits.contains(["Max", "open", "files", "512", "768", "files"]), "\(result.stdout)")
            #expect(limits.contains(["Max", "core", "file", "size", "0", "4096", "bytes"]), "\(result.stdout)")
        }
    }

    @Test("uid, gid, additional groups and umask are applied")
    func userAndGroups() throws {
        try withContainer("user") { c in
            c.process["user"] = ["uid": 1000, "gid": 1000, "additionalGids": [1001, 5], "umask": 0o027]
            c.process["capabilities"] = [String: Any]()
            c.shell("grep -E '^(Uid|Gid|Groups):' /proc/self/status; echo umask=$(umask); id -un")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            #expect(statusField(result.stdout, "Uid")?.split(whereSeparator: \.isWhitespace) == ["1000", "1000", "1000", "1000"],
                    "\(result.stdout)")
            #expect(statusField(result.stdout, "Gid")?.split(whereSeparator: \.isWhitespace) == ["1000", "1000", "1000", "1000"],
                    "\(result.stdout)")
            let groups = Set((statusField(result.stdout, "Groups") ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
            #expect(groups == ["5", "1001"], "\(result.stdout)")
            #expect(result.stdoutLines.contains("umask=0027"), "\(result.stdout)")
            #expect(result.stdoutLines.last == "user", "\(result.stdout)")
        }
    }

    @Test("environment and working directory come from the config")
    func environmentAndCwd() throws {
        try withContainer("env") { c in
            c.process["env"] = ["PATH=/bin", "GREETING=hello world", "EMPTY=", "HOME=/home/user"]
            c.process["cwd"] = "/home/user"
            c.shell("echo '=== env ==='; env | sort; echo '=== pwd ==='; pwd")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            let env = section(result.stdout, "env").split(separator: "\n").map(String.init)
            for variable in ["PATH=/bin", "GREETING=hello world", "EMPTY=", "HOME=/home/user"] {
                #expect(env.contains(variable), "missing \(variable): \(env)")
            }
            #expect(!env.contains { $0.hasPrefix("TERM=") }, "host or default env leaked in: \(env)")
            #expect(section(result.stdout, "pwd") == "/home/user")
        }
    }

    @Test("noNewPrivileges sets NoNewPrivs", arguments: [true, false])
    func noNewPrivileges(enabled: Bool) throws {
        try withContainer("nnp-\(enabled)") { c in
            c.process["noNewPrivileges"] = enabled
            c.shell("grep NoNewPrivs /proc/self/status")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            #expect(statusField(result.stdout, "NoNewPrivs") == (enabled ? "1" : "0"), "\(result.stdout)")
        }
    }

    @Test("masked paths read empty and read-only paths refuse writes")
    func maskedAndReadonlyPaths() throws {
        try withContainer("paths") { c in
            for dir in ["masked-dir", "ro-dir", "rw-dir"] {
                try FileManager.default.createDirectory(atPath: c.rootfs + "/" + dir, withIntermediateDirectories: true)
            }
            try "secret\n".write(toFile: c.rootfs + "/masked-dir/secret", atomically: true, encoding: .utf8)
            try "masked file\n".write(toFile: c.rootfs + "/masked-file", atomically: true, encoding: .utf8)
            c.config["root"] = ["path": "rootfs", "readonly": false]
            var linux = c.linux
            linux["maskedPaths"] = (linux["maskedPaths"] as? [String] ?? []) + ["/masked-dir", "/masked-file"]
            linux["readonlyPaths"] = (linux["readonlyPaths"] as? [String] ?? []) + ["/ro-dir"]
            c.linux = linux
            c.shell("""
                echo "timer_list=$(wc -c < /proc/timer_list)"
                echo "firmware=[$(ls -A /sys/firmware)]"
                echo "masked-dir=[$(ls -A /masked-dir)]"
                echo "masked-file=[$(cat /masked-file)]"
                echo "=== sys ==="; (echo 1 > /proc/sys/kernel/domainname) 2>&1
                echo "=== ro ==="; touch /ro-dir/x 2>&1 || true
                echo "=== rw ==="; touch /rw-dir/x && echo rw-ok
                """)
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            // Default masked paths that exist on this host: a file and a directory.
            if FileManager.default.fileExists(atPath: "/proc/timer_list") {
                #expect(result.stdoutLines.contains("timer_list=0"), "\(result.summary)")
            }
            if ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/firmware")) ?? []).count > 0 {
                #expect(result.stdoutLines.contains("firmware=[]"), "\(result.summary)")
            }
            #expect(result.stdoutLines.contains("masked-dir=[]"), "\(result.stdout)")
            #expect(result.stdoutLines.contains("masked-file=[]"), "\(result.stdout)")
            #expect(section(result.stdout, "sys").contains("Read-only file system"), "\(result.stdout)")
            #expect(section(result.stdout, "ro").contains("Read-only file system"), "\(result.stdout)")
            #expect(section(result.stdout, "rw") == "rw-ok", "\(result.stdout)")
            #expect(FileManager.default.fileExists(atPath: c.rootfs + "/masked-dir/secret"), "masking touched the rootfs")
            c.expectNothingLeft("after run")
        }
    }

    @Test("default devices and linux.devices entries exist with their numbers and modes")
    func devices() throws {
        try withContainer("devices") { c in
            var linux = c.linux
            linux["devices"] = [["path": "/dev/it-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640,
                                 "uid": 0, "gid": 0]]
            var resources = linux["resources"] as? [String: Any] ?? [:]
            resources["devices"] = [["allow": false, "access": "rwm"],
                                    ["allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"]]
            linux["resources"] = resources
            c.linux = linux
            c.shell("""
                for d in null zero full random urandom tty it-null; do
                  stat -c '%n %F %t:%T' /dev/$d
                done
                stat -c 'mode %a' /dev/it-null
                echo "zero=$(head -c 4 /dev/zero | wc -c)"
                echo discard > /dev/it-null && echo it-null-writable
                """)
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            let expected = [
                "/dev/null character special file 1:3", "/dev/zero character special file 1:5",
                "/dev/full character special file 1:7", "/dev/random character special file 1:8",
                "/dev/urandom character special file 1:9", "/dev/tty character special file 5:0",
                "/dev/it-null character special file 1:3", "mode 640", "zero=4", "it-null-writable",
            ]
            #expect(result.stdoutLines == expected, "\(result.summary)")
        }
    }
}
