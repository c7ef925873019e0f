// What the agent must never do for a container: act with more permission than the caller
// on the caller's own files, mount what a rule's flags or callers exclude, or mount a block
// device other than the one checked.
import Foundation
import Testing

private let pid = getpid()

private func stdoutLines(_ ran: Ran) -> [String] { ran.stdout.split(separator: "\n").map(String.init) }

@Suite(.serialized, .enabled(if: AgentEnvironment.enabled, "needs root and the swiftlet binary"))
struct AgentSecurityTests {
    /// uid 1000 with a mknod rule covering "/": the agent creates only where the kernel
    /// would let uid 1000 create (write on the parent, search on the way).
    @Test func mknodKeepsTheCallersPermissionChecks() throws {
        let a = "agent-perm-\(pid)", plain = "agent-perm-plain-\(pid)"
        let policy = #"{"containers": [{"match": {"id": "\#(a)"}, "mknod": [{"type": "p", "path": "/"}]}]}"#
        try withWorld("perm", policy: policy) { w in
            try w.startAgent()
            let script = "mkfifo /etc/ld.so.preload; echo etc=$?; mkfifo /secret/open/p; echo secret=$?; "
                + "mkfifo /mine/p; echo mine=$?; ls -ln /mine/p; ls /etc/ld.so.preload"
            func prepare(_ bundle: String) throws {
                let root = bundle + "/rootfs"
                try FileManager.default.createDirectory(atPath: root + "/mine", withIntermediateDirectories: true)
                try FileManager.default.createDirectory(atPath: root + "/secret/open", withIntermediateDirectories: true)
                // Container uid 1000 is host uid 101000 (the harness maps 0 to 100000).
                #expect(chown(root + "/mine", 101_000, 101_000) == 0)
                #expect(chmod(root + "/secret", 0o700) == 0 && chmod(root + "/secret/open", 0o777) == 0)
            }
            // What the kernel says without the agent.
            let plainBundle = try w.bundle(plain, script: script, notify: [], user: (1000, 1000))
            try prepare(plainBundle)
            let kernel = w.runContainer(plain, bundle: plainBundle)
            #expect(stdoutLines(kernel).contains("etc=1") && stdoutLines(kernel).contains("secret=1"), "\(kernel.stdout) \(kernel.stderr)")
            #expect(stdoutLines(kernel).contains("mine=0"), "\(kernel.stdout) \(kernel.stderr)")

            let bundle = try w.bundle(a, script: script, user: (1000, 1000))
            try prepare(bundle)
            let ran = w.runContainer(a, bundle: bundle)
            let lines = stdoutLines(ran)
            #expect(lines.contains("etc=1"), "\(ran.stdout) \(ran.stderr)")
            #expect(ran.stderr.contains("/etc/ld.so.preload: Permission denied"), "\(ran.stderr)")
            #expect(lines.contains("secret=1"), "\(ran.stdout) \(ran.stderr)")
            #expect(lines.contains("mine=0"), "\(ran.stdout) \(ran.stderr)")
            #expect(ran.stdout.range(of: #"prw-r--r-- +1 1000 +1000 .*/mine/p"#, options: .regularExpression) != nil, "\(ran.stdout)")
            #expect(!FileManager.default.fileExists(atPath: bundle + "/rootfs/etc/ld.so.preload"))
            let results = w.decisions(a).compactMap { $0["result"] as? String }
            #expect(results == ["permission denied", "permission denied", "ok"], "\(w.log)")
        }
    }

    /// A rule that requires nosuid,nodev,noexec refuses a mount without them, and a rule
    /// for root callers with CAP_SYS_ADMIN and without no_new_privs refuses uid 1000
    /// without capabilities under no_new_privs.
    @Test func mountRulesRequireFlagsAndNameTheirCallers() throws {
        let root = "agent-f6-root-\(pid)", user = "agent-f6-user-\(pid)"
        let policy = """
        {"containers": [{"match": {"id": "agent-f6-*"},
          "mount": [{"fstype": ["tmpfs"], "destination": "/foo", "requiredFlags": ["nosuid", "nodev", "noexec"],
                     "caller": {"uids": [0], "capabilities": ["CAP_SYS_ADMIN"], "noNewPrivileges": false}}]}]}
        """
        try withWorld("f6", policy: policy) { w in
            try w.startAgent()
            // MS_NOSUID|MS_NODEV|MS_NOEXEC = 0xe
            let script = "/notify-helper mountfs none /foo tmpfs 0; /notify-helper mountfs none /foo tmpfs 6; "
                + "/notify-helper mountfs none /foo tmpfs e; grep ' /foo ' /proc/self/mounts"
            let rootBundle = try w.bundle(root, script: script) { config in
                var process = config["process"] as! [String: Any]
                process["noNewPrivileges"] = false
                config["process"] = process
            }
            let ranRoot = w.runContainer(root, bundle: rootBundle)
            let lines = stdoutLines(ranRoot)
            #expect(lines.filter { $0 == "mountfs /foo errno=1" }.count == 2, "\(ranRoot.stdout) \(ranRoot.stderr)")
            #expect(lines.contains("mountfs /foo errno=0"), "\(ranRoot.stdout) \(ranRoot.stderr)")
            #expect(ranRoot.stdout.range(of: #"none /foo tmpfs rw,nosuid,nodev,noexec"#, options: .regularExpression) != nil, "\(ranRoot.stdout)")
            let reasons = w.decisions(root).compactMap { $0["reason"] as? String }
            #expect(reasons.count == 2 && reasons.allSatisfy { $0.contains("flags required by containers[0].mount[0] missing") }, "\(w.log)")

            // uid 1000, no capabilities, no_new_privs: the rule does not serve it.
            let userBundle = try w.bundle(user, script: script, user: (1000, 1000)) { config in
                var process = config["process"] as! [String: Any]
                process["capabilities"] = ["bounding": [], "effective": [], "permitted": []] as [String: Any]
                config["process"] = process
            }
            let ranUser = w.runContainer(user, bundle: userBundle)
            #expect(stdoutLines(ranUser).filter { $0 == "mountfs /foo errno=1" }.count == 3, "\(ranUser.stdout) \(ranUser.stderr)")
            #expect(!ranUser.stdout.contains(" /foo tmpfs"), "\(ranUser.stdout)")
            let userReasons = w.decisions(user).compactMap { $0["reason"] as? String }
            #expect(userReasons.last?.contains("caller uid 1000 not served") == true, "\(w.log)")
        }
    }

    /// Three loop devices: LEGIT (in the rule and the device cgroup), SECRET (in neither),
    /// DENIED (in the rule, refused by the device cgroup). The container may only ever mount LEGIT,
    /// whatever it names /dev/vdisk.
    @Test func diskMountsUseTheCheckedBlockDeviceOnly() throws {
        let a = "agent-disk-\(pid)"
        let world = try AgentWorld("disk", policy: "{}")
        defer { world.cleanup() }
        var loops: [String] = []
        defer { for l in loops { run("/usr/sbin/losetup", ["-d", l]) } }
        var numbers: [(Int, Int)] = []
        for name in ["legit", "secret", "denied"] {
            let content = world.dir + "/" + name + "-content"
            try FileManager.default.createDirectory(atPath: content, withIntermediateDirectories: true)
            try "\(name) disk\n".write(toFile: content + "/marker", atomically: true, encoding: .utf8)
            let image = world.dir + "/" + name + ".img"
            let mkfs = run("/usr/sbin/mkfs.ext4", ["-q", "-F", "-d", content, image, "4M"])
            try #require(mkfs.status == 0, "mkfs.ext4 -d: \(mkfs.stderr)")
            let loop = run("/usr/sbin/losetup", ["-f", "--show", image])
            try #require(loop.status == 0, "no loop device: \(loop.stderr)")
            let device = loop.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            loops.append(device)
            // "7:3" from sysfs: the numbers the kernel gives the device.
            let dev = try String(contentsOfFile: "/sys/class/block/" + (device as NSString).lastPathComponent + "/dev", encoding: .utf8)
            let parts = dev.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").compactMap { Int($0) }
            try #require(parts.count == 2, "dev: \(dev)")
            numbers.append((parts[0], parts[1]))
        }
        let (legit, secret, denied) = (numbers[0], numbers[1], numbers[2])
        let policy = """
        {"containers": [{"match": {"id": "\(a)"}, "userNamespace": false,
          "mount": [{"fstype": ["ext4"], "source": ["/dev/vdisk"], "destination": "/mnt",
                     "devices": [{"major": \(legit.0), "minor": \(legit.1)}, {"major": \(denied.0), "minor": \(denied.1)}]}],
          "umount2": [{"destination": "/mnt"}],
          "mknod": [{"type": "b", "major": \(legit.0), "minor": \(legit.1), "path": "/dev"},
                    {"type": "b", "major": \(secret.0), "minor": \(secret.1), "path": "/dev"},
                    {"type": "b", "major": \(denied.0), "minor": \(denied.1), "path": "/dev"}]}]}
        """
        try policy.write(toFile: world.policyPath, atomically: true, encoding: .utf8)
        try world.startAgent()
        func node(_ n: (Int, Int)) -> String { "mknod /dev/vdisk b \(n.0) \(n.1)" }
        let mount = "/notify-helper mountfs /dev/vdisk /mnt ext4 0; cat /mnt/marker; umount /mnt 2>/dev/null; rm -f /dev/vdisk; "
        let script = "mkdir -p /mnt; " + node(legit) + "; echo legit; " + mount
            + node(secret) + "; mv /dev/vdisk /dev/other; ln -s /dev/other /dev/vdisk; echo symlink; " + mount
            + node(secret) + "; echo renamed; " + mount
            + node(denied) + "; echo cgroup; " + mount + "echo end"
        let bundle = try world.bundle(a, script: script, adjust: { config in
            withoutUserNamespace(&config)
            var linux = config["linux"] as! [String: Any]
            linux["resources"] = ["devices": [
                ["allow": false, "access": "rwm"],
                ["allow": true, "type": "b", "major": legit.0, "minor": legit.1, "access": "rw"],
            ]]
            config["linux"] = linux
        })
        let ran = world.runContainer(a, bundle: bundle)
        let lines = stdoutLines(ran)
        #expect(lines.last == "end", "\(ran.stdout) \(ran.stderr)")
        func after(_ label: String) -> [String] {
            guard let k = lines.firstIndex(of: label) else { return [] }
            return Array(lines[(k + 1)...].prefix(2))
        }
        #expect(after("legit") == ["mountfs /mnt errno=0", "legit disk"], "\(ran.stdout) \(ran.stderr) \(world.log)")
        #expect(after("symlink").first == "mountfs /mnt errno=1", "\(ran.stdout)")
        #expect(after("renamed").first == "mountfs /mnt errno=1", "\(ran.stdout)")
        #expect(after("cgroup").first == "mountfs /mnt errno=1", "\(ran.stdout)")
        #expect(!ran.stdout.contains("secret disk") && !ran.stdout.contains("denied disk"), "\(ran.stdout)")
        let mounts = world.decisions(a).filter { $0["syscall"] as? String == "mount" }
        #expect(mounts.count == 4, "\(world.log)")
        #expect((mounts.last?["reason"] as? String)?.contains("refused by the caller's device cgroup") == true, "\(world.log)")
    }
}
