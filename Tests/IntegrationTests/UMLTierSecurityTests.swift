// The UML tier's security properties, in real guests: guest root (all capabilities) against
// the jail, what the container can see of the host, a guest OOM, a fork bomb, and kill -9 of
// the tree's processes at points of create and while running.
// Skipped with the reason `swiftlet check` gives when this host cannot run UML.
import Foundation
import Testing
import TestSupport

/// Every capability a guest may hold: guest root with all of them is the attacker here.
private let allCapabilities = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
]

extension TestContainer {
    /// Guest root with every capability, no masked or read-only paths, no seccomp.
    func makeGuestRootAllPowerful() {
        var caps: [String: Any] = [:]
        for set in ["bounding", "effective", "permitted", "inheritable", "ambient"] { caps[set] = allCapabilities }
        process["capabilities"] = caps
        var l = linux
        l["maskedPaths"] = []
        l["readonlyPaths"] = []
        l.removeValue(forKey: "seccomp")
        linux = l
    }

    /// The container's cgroup directories on the host (every hierarchy), for the default path.
    var hostCgroupDirs: [String] {
        let top = "/sys/fs/cgroup"
        let hierarchies = (try? FileManager.default.contentsOfDirectory(atPath: top)) ?? []
        return hierarchies.map { "\(top)/\($0)/swiftlet/\(id)" }
    }

    func existingCgroupDirs() -> [String] { hostCgroupDirs.filter { FileManager.default.fileExists(atPath: $0) } }

    /// The state pid's cgroup directory of one v1 controller (or nil).
    func v1CgroupDir(_ controller: String, ofPid pid: Int32) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2).map(String.init)
            if parts.count == 3, parts[1].split(separator: ",").contains(Substring(controller)) {
                return "/sys/fs/cgroup/\(controller)\(parts[2])"
            }
        }
        return nil
    }

    /// expectNothingLeft, and no process of `tree` (host pids seen earlier), no cgroup.
    func expectTreeGone(_ tree: [ProcessSnapshot], _ comment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        expectNothingLeft(comment, sourceLocation: sourceLocation)
        let alive = tree.filter(\.isAlive).map(\.pid)
        #expect(alive.isEmpty, "\(comment): processes of the UML tree left: \(alive)", sourceLocation: sourceLocation)
        #expect(existingCgroupDirs().isEmpty, "\(comment): cgroups left: \(existingCgroupDirs())", sourceLocation: sourceLocation)
    }
}

/// A host process seen earlier, told apart from a later one with the same pid by its start time.
struct ProcessSnapshot {
    let pid: Int32
    let startTime: String?

    init(_ pid: Int32) {
        self.pid = pid
        startTime = ProcessSnapshot.startTime(pid)
    }

    var isAlive: Bool { startTime != nil && processIsAlive(Int(pid)) && ProcessSnapshot.startTime(pid) == startTime }

    /// Field 22 of /proc/PID/stat.
    static func startTime(_ pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }
}

func snapshot(_ pids: [Int32]) -> [ProcessSnapshot] { pids.map(ProcessSnapshot.init) }

/// The host pids below `pid` (children of children), from /proc/PID/task/*/children.
private func descendants(of pid: Int32) -> [Int32] {
    var out: [Int32] = []
    var queue = [pid]
    while let p = queue.popLast() {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(p)/task")) ?? []
        for t in tasks {
            let text = (try? String(contentsOfFile: "/proc/\(p)/task/\(t)/children", encoding: .utf8)) ?? ""
            for child in text.split(separator: " ").compactMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                out.append(child)
                queue.append(child)
            }
        }
    }
    return out
}

private func comm(_ pid: Int32) -> String {
    ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .newlines)
}

@Suite("UML tier security (SWIFTLET_BINARY, real guests)", .serialized)
struct UMLTierSecurityTests {
    @Test("guest root with every capability cannot reach a host file through hostfs: not by path, .., a symlink, nor write the jail")
    func hostfsEscapes() throws {
        try withUMLContainer("uml-sec-hostfs") { c in
            c.makeGuestRootAllPowerful()
            c.config["root"] = ["path": "rootfs", "readonly": false]
            let marker = c.workDir + "/host-secret"
            try "host-only\n".write(toFile: marker, atomically: true, encoding: .utf8)
            // Host files a jail-less guest would read: this test's own, the host's, its C library.
            let libc = ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"].first {
                FileManager.default.fileExists(atPath: $0)
            } ?? "/etc/hostname"
            let sources = ["/", "/etc", "..", "/..", "../../..", "/jail/..", "/bundle/rootfs/../../..", c.workDir,
                           c.workDir + "/../../../..", "/bundle/rootfs/escape-root", "/bundle/rootfs/escape-up", "/proc/1/root"]
            var script = """
                mount -t tmpfs t /tmp && mkdir /tmp/m || exit 90
                ln -s / /escape-root; ln -s ../../.. /escape-up
                for o in \(sources.map { "'\($0)'" }.joined(separator: " ")); do
                  echo "== $o"
                  if mount -t hostfs none /tmp/m -o "$o" 2>/dev/null; then
                    echo "mounted: $(ls -a /tmp/m | tr '\\n' ' ')"
                    cat /tmp/m/host-secret /tmp/m\(marker) /tmp/m/host-secret/../\(marker) /tmp/m/../\(marker) 2>/dev/null
                    head -c 4 /tmp/m\(libc) 2>/dev/null | od -c | head -1
                    if [ -f /tmp/m/id ]; then
                      echo x >> /tmp/m/swiftlet 2>/dev/null && echo "wrote-runtime"
                      echo x >> /tmp/m/bundle/config.json 2>/dev/null && echo "wrote-config"
                      echo x > /tmp/m/written 2>/dev/null && echo "wrote-jail"
                    fi
                    if [ -d /tmp/m/jail ]; then
                      echo "above-the-jail"
                      find /tmp/m -path /tmp/m/jail -prune -o ! -type d ! -type l ! -path /tmp/m/dev/null -print |
                        sed 's/^/found-above: /'
                      echo "files-above-listed"
                      echo x > /tmp/m/written 2>/dev/null && echo "wrote-above"
                    fi
                    umount /tmp/m
                  else
                    echo "refused"
                  fi
                done
                """
            script += "\necho end"
            c.shell(script)
            let runtimeBefore = try FileManager.default.attributesOfItem(atPath: Environment.runtime!)
            let result = try c.run(timeout: 180)
            #expect(result.stdout.hasSuffix("end\n"), "\(result.summary)")
            #expect(!result.stdout.contains("host-only"), "guest root read a host file: \(result.stdout)")
            #expect(!result.stdout.contains("E   L   F"), "guest root read the host's C library (\(libc)): \(result.stdout)")
            // Above the jail (`..`, a symlink to /) there is only the jail, /dev/null and empty
            // directories: the supervisor's memory, uml_dir and the host's libraries are detached.
            #expect(!result.stdout.contains("found-above"), "guest root reached the supervisor's files: \(result.stdout)")
            #expect(!result.stdout.contains("above-the-jail") || result.stdout.contains("files-above-listed"), "\(result.stdout)")
            for what in ["wrote-above", "wrote-runtime", "wrote-config", "wrote-jail"] {
                #expect(!result.stdout.contains(what), "\(what): \(result.stdout)")
            }
            // What hostfs shows at all is the jail (bundle, id, swiftlet) or the rootfs.
            for line in result.stdout.split(separator: "\n") where line.hasPrefix("mounted: ") {
                let names = Set(line.dropFirst(9).split(separator: " ").map(String.init))
                let jail = names.contains("bundle") && names.contains("swiftlet")
                let rootfs = names.contains("bin") && names.contains("escape-root")
                let above = names.contains("jail")
                #expect(jail || rootfs || above, "hostfs showed something else: \(line)")
            }
            // The runtime's host file is as it was.
            let after = try FileManager.default.attributesOfItem(atPath: Environment.runtime!)
            #expect(after[.size] as? Int == runtimeBefore[.size] as? Int
                    && after[.modificationDate] as? Date == runtimeBefore[.modificationDate] as? Date)
        }
    }

    @Test("what the jail prevents: the same kernel, uid and no_new_privs without hostfs= reads a host file; through swiftlet it cannot")
    func withoutTheJail() throws {
        try requireUML()
        try withContainer("uml-sec-nojail") { c in
            let secretDir = c.workDir + "/secret"
            try FileManager.default.createDirectory(atPath: secretDir, withIntermediateDirectories: true)
            try "host-only\n".write(toFile: secretDir + "/host-secret", atomically: true, encoding: .utf8)
            let probe = "mount -t tmpfs t /tmp; mkdir /tmp/h; mount -t hostfs none /tmp/h -o '\(secretDir)' && cat /tmp/h/host-secret; echo probe-end"

            // By hand: the kernel swiftlet would pick, as the tier's uid with no_new_privs, in a
            // private mount and pid namespace of this test (its memory tmpfs and processes end
            // with it), hostfs rooted at the rootfs but no hostfs= jail.
            let features = runCommand(Environment.runtime!, ["features"])
            let candidates = features.stdout.components(separatedBy: "\"org.swiftlet.uml.kernel\": \"").dropFirst().first?
                .split(separator: "\"").first.map { $0.split(separator: ",").map(String.init) } ?? []
            let kernel = try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0) },
                                      "no UML kernel among \(candidates)")
            let refuse = c.workDir + "/refuse"
            let built = runCommand("/usr/bin/cc", ["-O2", "-o", refuse, Environment.repositoryRoot + "/e2e/primitive/refuse.c", "-lseccomp"], timeout: 120)
            try #require(built.succeeded, "\(built.summary)")
            try "#!/bin/sh\nmount -t proc p /proc\n\(probe)\npoweroff -f\n".write(toFile: c.rootfs + "/init", atomically: true, encoding: .utf8)
            chmod(c.rootfs + "/init", 0o755)
            let uid = String(0x7000_0000)
            let scratch = c.workDir + "/by-hand"
            try FileManager.default.createDirectory(atPath: scratch + "/mem", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: scratch + "/uml", withIntermediateDirectories: true)
            chown(scratch + "/uml", 0x7000_0000, 0x7000_0000)
            let tunables = "GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,-AVX512BW,-AVX512VL,-AVX512DQ,-AVX512CD,-EVEX"
            let launch = """
                set -e
                mount -t tmpfs -o size=96m,mode=700,uid=\(uid) tmpfs '\(scratch)/mem'
                exec setpriv --reuid=\(uid) --regid=\(uid) --clear-groups --no-new-privs env TMPDIR='\(scratch)/mem' \
                  '\(refuse)' xstate -- setarch -R '\(kernel)' mem=48M root=/dev/root rootfstype=hostfs rootflags='\(c.rootfs)' \
                  rw init=/init umid=nojail uml_dir='\(scratch)/uml' con=null ssl=null con0=fd:0,fd:1 quiet lpj=10000000 \
                  initcall_blacklist=raid6_select_algo \(tunables)
                """
            let byHand = runCommand("/usr/bin/timeout", ["-s", "KILL", "120", "/usr/bin/unshare", "--mount", "--propagation", "private",
                                                         "--pid", "--fork", "--kill-child", "/bin/sh", "-c", launch], timeout: 150)
            #expect(byHand.stdout.contains("probe-end"), "the jail-less guest did not run: \(byHand.summary)")
            #expect(byHand.stdout.contains("host-only"), "without hostfs= the guest could not read the host file: \(byHand.summary)")

            // Through swiftlet, with every capability: the same mount shows nothing of the host.
            try FileManager.default.removeItem(atPath: c.rootfs + "/init")
            c.useUML()
            c.makeGuestRootAllPowerful()
            c.shell(probe)
            let jailed = try c.run(timeout: 120)
            #expect(jailed.stdout.contains("probe-end"), "\(jailed.summary)")
            #expect(!jailed.stdout.contains("host-only"), "swiftlet's guest read the host file: \(jailed.summary)")
            #expect(c.leakedMounts().isEmpty, "\(c.leakedMounts())")
        }
    }

    @Test("the container sees no host pid, mount or network interface (guest's pid and network namespaces shared)")
    func noHostView() throws {
        try withUMLContainer("uml-sec-view") { c in
            c.makeGuestRootAllPowerful()
            // Even without namespaces of its own inside the guest, all it sees is the guest's.
            var l = c.linux
            l["namespaces"] = [["type": "mount"], ["type": "ipc"], ["type": "uts"]]
            c.linux = l
            c.shell("""
                echo '=== comm ==='; cat /proc/[0-9]*/comm
                echo '=== mounts ==='; cut -d' ' -f5 /proc/self/mountinfo; mkdir -p /tmp/p && mount -t proc p /tmp/p && cut -d' ' -f5 /tmp/p/1/mountinfo
                echo '=== net ==='; ls /sys/class/net; tail -n +3 /proc/net/dev | cut -d: -f1
                echo '=== end ==='
                """)
            // Hold the host's view while the guest runs: this test's own process and a sleeper.
            let sleeper = try Spawned("/bin/sleep", ["300"])
            defer { kill(sleeper.pid, SIGKILL); _ = sleeper.wait(timeout: 5) }
            let result = try c.run(timeout: 120)
            #expect(result.succeeded, "\(result.summary)")
            let comms = Set(section(result.stdout, "comm").split(separator: "\n").map(String.init))
            #expect(!comms.isEmpty, "\(result.summary)")
            for hostComm in [comm(getpid()), comm(sleeper.pid), "systemd", "containerd", "sshd"] where !hostComm.isEmpty {
                #expect(!comms.contains(hostComm), "the guest sees the host process \(hostComm): \(comms)")
            }
            #expect(comms.contains("kthreadd") && comms.contains("sh"), "the guest's own processes are missing: \(comms)")
            let hostMounts = Set(MountInfo.host().map(\.mountPoint))
            let generic: Set<String> = ["/", "/proc", "/sys", "/dev", "/tmp", "/run", "/sys/fs/cgroup", "/dev/pts", "/dev/shm",
                                        "/dev/mqueue", "/tmp/p", "/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/fs", "/proc/irq",
                                        // the guest kernel's devices controller (v1), which the guest's init mounts for
                                        // the container's device rules; the same name as the host's hierarchy
                                        "/sys/fs/cgroup/devices"]
            let guestMounts = Set(section(result.stdout, "mounts").split(separator: "\n").map(String.init))
            #expect(guestMounts.contains("/"), "\(result.summary)")
            let seen = guestMounts.intersection(hostMounts).subtracting(generic)
            #expect(seen.isEmpty, "host mount points visible in the guest: \(seen.sorted())")
            #expect(!guestMounts.contains { $0.hasPrefix(c.workDir) || $0.hasPrefix("/work") })
            let hostNet = Set((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []).subtracting(["lo"])
            let guestNet = Set(section(result.stdout, "net").split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
            #expect(!hostNet.isEmpty && guestNet.isDisjoint(with: hostNet), "guest interfaces \(guestNet), host \(hostNet)")
            #expect(guestNet.isSubset(of: ["lo"]), "the guest has interfaces: \(guestNet)")
        }
    }

    @Test("a guest OOM: the guest kernel kills the hog (137), one line says so, the host's cgroup saw no OOM kill, the container is stopped")
    func guestOOM() throws {
        try withUMLContainer("uml-sec-oom") { c in
            var l = c.linux
            l["resources"] = ["memory": ["limit": 64 << 20]]
            c.linux = l
            c.process["args"] = ["tail", "/dev/zero"]
            // run: the status and the one line.
            let ran = try c.run(timeout: 120)
            #expect(ran.status == 137, "\(ran.summary)")
            let ranLines = ran.stderr.split(separator: "\n")
            #expect(ranLines.count == 1 && ranLines.first?.contains("the guest ran out of memory") == true, "\(ran.summary)")
            c.expectNothingLeft("after run")

            // create and start: the container is stopped, the host's cgroup held without an OOM kill.
            let output = c.workDir + "/stderr"
            let spawned = try Spawned("/bin/sh", ["-c", "exec '\(Environment.runtime!)' --root '\(c.stateRoot)' create --bundle '\(c.bundle)' \(c.id) 2>'\(output)'"])
            let created = spawned.wait(timeout: 120)
            try #require(created.succeeded, "\(created.summary) \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
            let pid = try #require(c.state()?["pid"] as? Int).map(Int32.init)!
            let memoryDir = try #require(c.v1CgroupDir("memory", ofPid: pid))
            let tree = snapshot(c.cgroupPids(ofStatePid: pid))
            #expect(c.runtime(["start", c.id], timeout: 60).succeeded)
            #expect(eventually(timeout: 120) { c.status() == "stopped" }, "still \(c.status() ?? "?")")
            // The supervisor's status is the process's: read from the host as its parent would.
            let oomControl = (try? String(contentsOfFile: memoryDir + "/memory.oom_control", encoding: .utf8)) ?? ""
            #expect(oomControl.contains("oom_kill 0"), "the host's OOM killer acted in the container's cgroup: \(oomControl)")
            let stderr = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            let lines = stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines.first?.contains("the guest ran out of memory") == true, "stderr: \(stderr.debugDescription)")
            #expect(c.runtime(["delete", c.id]).succeeded)
            c.expectTreeGone(tree, "after the guest OOM")
        }
    }

    @Test("a fork bomb in the guest: the host's pids limit holds for the whole UML tree, the host stays responsive, kill KILL ends it, nothing left")
    func forkBomb() throws {
        try withUMLContainer("uml-sec-bomb") { c in
            let limit = 48
            var l = c.linux
            l["resources"] = ["pids": ["limit": limit]]
            c.linux = l
            c.shell("b(){ b | b & }; b; exec sleep 1000")
            try c.mustCreate()
            let pid = try #require(c.state()?["pid"] as? Int).map(Int32.init)!
            let pidsDir = try #require(c.v1CgroupDir("pids", ofPid: pid))
            #expect(c.runtime(["start", c.id], timeout: 60).succeeded)
            var highest = 0
            var hitLimit = false
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                let current = Int(((try? String(contentsOfFile: pidsDir + "/pids.current", encoding: .utf8)) ?? "")
                    .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                highest = max(highest, current)
                let events = (try? String(contentsOfFile: pidsDir + "/pids.events", encoding: .utf8)) ?? ""
                if let n = events.split(separator: " ").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }), n > 0 {
                    hitLimit = true
                }
                if hitLimit && Date() > deadline.addingTimeInterval(-10) { break }
                usleep(200_000)
            }
            #expect(hitLimit, "the bomb never reached the host's pids limit (highest \(highest))")
            #expect(highest <= limit, "the UML tree held \(highest) pids over the limit \(limit)")
            let tree = snapshot(c.cgroupPids(ofStatePid: pid))
            // The host is not starved: a process starts and ends at once.
            let probe = runCommand("/bin/true", [], timeout: 10)
            #expect(probe.succeeded && !probe.timedOut, "\(probe.summary)")
            let killed = c.runtime(["kill", c.id, "KILL"], timeout: 30)
            #expect(killed.succeeded || c.status() == "stopped", "\(killed.summary)")
            #expect(eventually(timeout: 30) { c.status() == "stopped" }, "still \(c.status() ?? "?")")
            #expect(c.runtime(["delete", c.id], timeout: 30).succeeded)
            c.expectTreeGone(tree, "after the fork bomb")
        }
    }

    @Test("kill -9 of the supervisor or of the UML kernel while running: the container is stopped; delete leaves nothing")
    func killedWhileRunning() throws {
        try requireUML()
        for target in ["supervisor", "uml"] {
            try withContainer("uml-sec-kill-\(target)") { c in
                c.useUML()
                c.shell("sleep 1000")
                try c.mustCreate()
                let pid = try #require(c.state()?["pid"] as? Int).map(Int32.init)!
                #expect(c.runtime(["start", c.id], timeout: 60).succeeded)
                #expect(c.status() == "running")
                let tree = snapshot(c.cgroupPids(ofStatePid: pid))
                let uml = try #require(descendants(of: pid).first, "no UML process below the supervisor \(pid)")
                kill(target == "supervisor" ? pid : uml, SIGKILL)
                #expect(eventually(timeout: 30) { c.status() == "stopped" }, "\(target): still \(c.status() ?? "?")")
                let deleted = c.runtime(["delete", c.id], timeout: 30)
                #expect(deleted.succeeded, "\(target): \(deleted.summary)")
                c.expectTreeGone(tree, "kill -9 of the \(target) while running")
            }
        }
    }

    @Test("kill -9 of swiftlet, the supervisor or the UML kernel while create boots the guest: delete --force leaves nothing")
    func killedDuringCreate() throws {
        try requireUML()
        // (target, wait for): the supervisor as soon as it exists, the others once UML runs.
        for (target, depth) in [("supervisor", 1), ("supervisor", 2), ("uml", 2), ("create", 2)] {
            try withContainer("uml-sec-kc-\(target)-\(depth)") { c in
                c.useUML()
                c.shell("true")
                try c.writeConfig()
                let spawned = try c.spawnRuntime(["create", "--bundle", c.bundle, c.id])
                var chain: [Int32] = []
                // Polled every millisecond: the guest boots in tens of milliseconds, and a kill
                // that lands after `ready` tests the running case instead.
                let found = eventually(timeout: 30, every: 1_000) {
                    var next = spawned.pid
                    chain = []
                    for _ in 0..<depth {
                        let kids = (try? String(contentsOfFile: "/proc/\(next)/task/\(next)/children", encoding: .utf8)) ?? ""
                        guard let child = kids.split(separator: " ").first.flatMap({ Int32($0) }) else { return false }
                        chain.append(child)
                        next = child
                    }
                    return true
                }
                let tree = snapshot(chain + descendants(of: chain.last ?? spawned.pid))
                let victim: Int32? = target == "create" ? spawned.pid : target == "supervisor" ? chain.first : chain.last
                if found, let victim { kill(victim, SIGKILL) }
                let created = spawned.wait(timeout: 60)
                #expect(found, "\(target)/\(depth): no process to kill (create: \(created.summary))")
                if target != "create" {
                    #expect(!created.succeeded, "\(target)/\(depth): create succeeded although the \(target) was killed")
                    let lines = created.stderr.split(separator: "\n")
                    #expect(lines.count == 1, "\(target)/\(depth): \(created.summary)")
                }
                let deleted = c.runtime(["delete", "--force", c.id], timeout: 30)
                #expect(deleted.succeeded, "\(target)/\(depth): \(deleted.summary)")
                _ = eventually(timeout: 10) { tree.allSatisfy { !$0.isAlive } }
                c.expectTreeGone(tree, "kill -9 of \(target) (depth \(depth)) during create")
            }
        }
    }

    @Test("bind mounts reach the guest through the jail: a read-only one stays read-only on the host even for guest root remounting it")
    func bindMounts() throws {
        try withUMLContainer("uml-sec-binds") { c in
            c.makeGuestRootAllPowerful()
            let shared = c.workDir + "/shared", readOnly = c.workDir + "/readonly"
            for dir in [shared, readOnly] { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            try "from-host\n".write(toFile: readOnly + "/file", atomically: true, encoding: .utf8)
            try "hosts-file\n".write(toFile: c.workDir + "/hosts", atomically: true, encoding: .utf8)
            c.mounts = c.mounts + [
                ["destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"]],
                ["destination": "/ro", "type": "bind", "source": readOnly, "options": ["rbind", "ro"]],
                ["destination": "/etc/hosts", "type": "bind", "source": c.workDir + "/hosts", "options": ["bind", "ro"]],
            ]
            c.shell("""
                cat /ro/file /etc/hosts; echo written > /shared/out && sync
                echo x > /ro/new 2>/dev/null && echo wrote-ro
                mount -o remount,rw,bind /ro 2>/dev/null; echo x > /ro/new 2>/dev/null && echo wrote-ro-after-remount
                mount -t tmpfs t /tmp; mkdir /tmp/m; mount -t hostfs none /tmp/m -o /binds/1 && { echo x > /tmp/m/new 2>/dev/null && echo wrote-ro-through-hostfs; }
                echo end
                """)
            let result = try c.run(timeout: 120)
            #expect(result.stdout.hasPrefix("from-host\nhosts-file\n") && result.stdout.hasSuffix("end\n"), "\(result.summary)")
            #expect((try? String(contentsOfFile: shared + "/out", encoding: .utf8)) == "written\n", "\(result.summary)")
            #expect(!result.stdout.contains("wrote-ro"), "\(result.summary)")
            #expect(!FileManager.default.fileExists(atPath: readOnly + "/new"), "a read-only bind was written on the host")
            c.expectNothingLeft("after run")
        }
    }
}
