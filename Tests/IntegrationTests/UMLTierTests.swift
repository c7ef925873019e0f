// The UML isolation tier: containers on a kernel of their own (User Mode Linux), real guests.
// Skipped with the reason `swiftlet check` gives when this host cannot run UML.
import Foundation
import Testing
import TestSupport

/// The probe of `swiftlet check` for the tier: nil when available, else why not.
func umlUnavailableReason() -> String? {
    guard let runtime = Environment.runtime else { return "no runtime binary" }
    let report = runCommand(runtime, ["check", "--format", "json"], timeout: 60)
    guard let data = report.stdout.data(using: .utf8),
          let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let probes = json["probes"] as? [[String: Any]],
          let uml = probes.first(where: { $0["name"] as? String == "isolation.uml" }) else {
        return "swiftlet check reports no isolation.uml probe: \(report.summary)"
    }
    return uml["available"] as? Bool == true ? nil : (uml["detail"] as? String ?? "unavailable")
}

func requireUML() throws {
    try requireRoot()
    if let reason = umlUnavailableReason() { try skip("this host cannot run the UML tier: \(reason)") }
}

/// MemTotal (kB) the container's guest reports, 0 if the run failed (recorded).
func guestMemTotalKB(_ c: TestContainer) throws -> Int {
    c.shell("grep MemTotal /proc/meminfo")
    let result = try c.run(timeout: 120)
    #expect(result.succeeded, "\(result.summary)")
    return Int(result.stdout.split(separator: " ").compactMap { Int($0) }.first ?? 0)
}

/// A test container in the UML tier, skipped where this host cannot run one.
func withUMLContainer(_ name: String, _ body: (TestContainer) throws -> Void) throws {
    try requireUML()
    try withContainer(name) { c in
        c.useUML()
        try body(c)
    }
}

private func hostRelease() -> String {
    var u = utsname()
    uname(&u)
    return withUnsafeBytes(of: &u.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
}

func procStatusField(_ pid: Int32, _ name: String) -> String? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
        return line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
    }
    return nil
}

private func namespaceLink(_ pid: Int32, _ kind: String) -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(kind)")) ?? "?"
}

extension TestContainer {
    func useUML() {
        var a = config["annotations"] as? [String: String] ?? [:]
        a["org.swiftlet.isolation"] = "uml"
        config["annotations"] = a
    }

    /// The host pids in the container's cgroup (v1 pids hierarchy or the unified one).
    func cgroupPids(ofStatePid pid: Int32) -> [Int32] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[1] == "pids" || parts[1] == "memory" else { continue }
            let file = "/sys/fs/cgroup/\(parts[1])\(parts[2])/cgroup.procs"
            if let procs = try? String(contentsOfFile: file, encoding: .utf8) {
                return procs.split(separator: "\n").compactMap { Int32($0) }
            }
        }
        return []
    }
}

@Suite("UML tier (SWIFTLET_BINARY, real guests)", .serialized)
struct UMLTierTests {
    @Test("run: the process sees its own kernel; stdout and stderr apart and byte-exact; its exit status")
    func runOwnKernel() throws {
        try withUMLContainer("uml-run") { c in
            c.shell("uname -r; echo to-stderr >&2; printf 'a\\tb\\r\\n'; exit 7")
            let result = try c.run(timeout: 120)
            #expect(result.status == 7, "\(result.summary)")
            let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(lines.first?.hasPrefix("6.1.") == true && lines.first != hostRelease(), "\(result.summary)")
            #expect(result.stdout.hasSuffix("a\tb\r\n"), "bytes changed on the way: \(result.stdout.debugDescription)")
            #expect(result.stderr == "to-stderr\n", "\(result.summary)")
            c.expectNothingLeft("after run")
        }
    }

    @Test("stdin: 1 MiB of every byte value through the guest and back, byte-exact")
    func stdinMegabyte() throws {
        try withUMLContainer("uml-stdin") { c in
            c.process["args"] = ["cat"]
            try c.writeConfig()
            var bytes = [UInt8](repeating: 0, count: 1 << 20)
            for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
            let input = c.workDir + "/in", output = c.workDir + "/out"
            try Data(bytes).write(to: URL(fileURLWithPath: input))
            // A hang fails the test (timeout kills run; cleanup's delete --force ends the guest).
            let command = "timeout -s KILL 90 '\(Environment.runtime!)' --root '\(c.stateRoot)' run --bundle '\(c.bundle)' \(c.id) < '\(input)' > '\(output)'"
            let result = runCommand("/bin/sh", ["-c", command], timeout: 120)
            #expect(result.succeeded, "\(result.summary)")
            let back = (try? Data(contentsOf: URL(fileURLWithPath: output))) ?? Data()
            #expect(back.count == bytes.count, "got \(back.count) bytes back")
            #expect(back == Data(bytes), "the bytes differ")
        }
    }

    @Test("create leaves the process waiting; state pid is the host supervisor, locked down; start; kill forwards; delete leaves nothing")
    func lifecycle() throws {
        try withUMLContainer("uml-life") { c in
            // Written through the guest's hostfs, so synced to reach the host's disk at once.
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.shell("trap 'echo term > /tmp/got-term; sync; exit 3' TERM; echo started > /tmp/started; sync; while :; do sleep 0.1; done")
            let created = try c.create()
            try #require(created.succeeded, "\(created.summary)")
            let state = try #require(c.state())
            #expect(state["status"] as? String == "created")
            let annotations = state["annotations"] as? [String: String] ?? [:]
            #expect(annotations["org.swiftlet.isolation"] == "uml", "\(state)")
            #expect(!FileManager.default.fileExists(atPath: c.rootfs + "/tmp/started"), "the process ran before start")
            let pid = try #require(state["pid"] as? Int).map(Int32.init)!

            // The host side: an unprivileged uid, no_new_privs, namespaces of its own.
            let uid = procStatusField(pid, "Uid")?.split(separator: "\t").first.map(String.init)
            #expect(uid == String(0x7000_0000), "supervisor uid: \(uid ?? "?")")
            #expect(procStatusField(pid, "NoNewPrivs") == "1")
            #expect(procStatusField(pid, "CapEff") == "000000000000001f", "\(procStatusField(pid, "CapEff") ?? "?")")
            for kind in ["mnt", "pid", "ipc", "net", "uts", "user"] {
                #expect(namespaceLink(pid, kind) != namespaceLink(getpid(), kind), "\(kind) namespace shared with the host")
            }
            let tree = c.cgroupPids(ofStatePid: pid)
            #expect(tree.count > 1 && tree.contains(pid), "the UML tree is not in the container's cgroup: \(tree)")
            for p in tree {
                let u = procStatusField(p, "Uid")?.split(separator: "\t").first.map(String.init)
                #expect(u == String(0x7000_0000), "process \(p) of the tree runs as uid \(u ?? "?")")
            }
            // UML's own processes run without address-space randomisation.
            let personalities = tree.filter { $0 != pid }.compactMap {
                try? String(contentsOfFile: "/proc/\($0)/personality", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            #expect(!personalities.isEmpty && personalities.allSatisfy { $0 == "00040000" }, "\(personalities)")

            let started = c.runtime(["start", c.id], timeout: 60)
            #expect(started.succeeded, "\(started.summary)")
            #expect(c.status() == "running")
            #expect(eventually(timeout: 30) { FileManager.default.fileExists(atPath: c.rootfs + "/tmp/started") })
            let killed = c.runtime(["kill", c.id, "TERM"])
            #expect(killed.succeeded, "\(killed.summary)")
            #expect(eventually(timeout: 30) { c.status() == "stopped" }, "still \(c.status() ?? "?")")
            #expect((try? String(contentsOfFile: c.rootfs + "/tmp/got-term", encoding: .utf8)) == "term\n",
                    "the signal did not reach the process in the guest")
            let deleted = c.runtime(["delete", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            c.expectNothingLeft("after delete")
        }
    }

    @Test("kill KILL ends the whole UML tree; the container is stopped")
    func killTree() throws {
        try withUMLContainer("uml-kill") { c in
            c.shell("sleep 1000")
            try c.mustCreate()
            let pid = try #require(c.state()?["pid"] as? Int).map(Int32.init)!
            let tree = c.cgroupPids(ofStatePid: pid)
            #expect(c.runtime(["start", c.id], timeout: 60).succeeded)
            #expect(c.runtime(["kill", c.id, "KILL"]).succeeded)
            #expect(eventually(timeout: 20) { c.status() == "stopped" })
            #expect(eventually(timeout: 20) { tree.allSatisfy { kill($0, 0) != 0 } }, "UML processes survived: \(tree)")
            #expect(c.runtime(["delete", c.id]).succeeded)
            c.expectNothingLeft("after kill and delete")
        }
    }

    @Test("hostfs is jailed: guest root mounting hostfs sees the jail, never the host's files")
    func hostfsJail() throws {
        try withUMLContainer("uml-jail") { c in
            let marker = c.workDir + "/host-secret"
            try "host-only\n".write(toFile: marker, atomically: true, encoding: .utf8)
            var caps = c.process["capabilities"] as? [String: Any] ?? [:]
            for set in ["bounding", "effective", "permitted"] {
                caps[set] = ((caps[set] as? [String]) ?? []) + ["CAP_SYS_ADMIN"]
            }
            c.process["capabilities"] = caps
            c.shell("mount -t tmpfs t /tmp && mkdir -p /tmp/h && mount -t hostfs none /tmp/h -o / && ls /tmp/h; cat /tmp/h\(marker) 2>&1; cat /tmp/h/../../../../\(marker) 2>&1; ls /tmp/h/etc 2>&1 | head -3")
            let result = try c.run(timeout: 120)
            #expect(!result.stdout.contains("host-only"), "the guest read a host file: \(result.summary)")
            // What it sees at hostfs's / is the jail: the bundle and the runtime, nothing of the host.
            #expect(result.stdout.contains("bundle") && result.stdout.contains("swiftlet"), "\(result.summary)")
            #expect(!result.stdout.contains("passwd") && !result.stdout.contains("hostname"), "\(result.summary)")
        }
    }

    @Test("root.path as an absolute host path (as podman writes it): the guest finds the rootfs")
    func absoluteRootPath() throws {
        try withUMLContainer("uml-abspath") { c in
            c.config["root"] = ["path": c.rootfs, "readonly": true]
            c.shell("echo in-guest; uname -r")
            let result = try c.run(timeout: 120)
            #expect(result.succeeded && result.stdout.hasPrefix("in-guest\n6.1."), "\(result.summary)")
            c.expectNothingLeft("after run")
        }
    }

    @Test("the memory limit sizes the guest's RAM (mem= limit - 32 MiB)")
    func memoryLimit() throws {
        try withUMLContainer("uml-mem") { c in
            var linux = c.linux
            linux["resources"] = ["memory": ["limit": 96 << 20]]
            c.linux = linux
            let kb = try guestMemTotalKB(c)
            #expect(kb > 32 << 10 && kb <= 64 << 10, "MemTotal \(kb) kB for mem=64M")
        }
    }

    @Test("without a memory limit the guest gets the documented default RAM (mem=64M)")
    func defaultMemory() throws {
        try withUMLContainer("uml-mem-default") { c in
            let kb = try guestMemTotalKB(c)
            #expect(kb > 32 << 10 && kb <= 64 << 10, "MemTotal \(kb) kB for mem=64M")
        }
    }

    @Test("a network namespace in the guest gets lo up (the tier kernel has no IPv4: brought up through an AF_UNIX socket)")
    func loopbackUp() throws {
        try withUMLContainer("uml-lo") { c in
            var linux = c.linux
            var namespaces = (linux["namespaces"] as? [[String: Any]]) ?? []
            if !namespaces.contains(where: { $0["type"] as? String == "network" }) { namespaces.append(["type": "network"]) }
            linux["namespaces"] = namespaces
            c.linux = linux
            c.shell("cat /sys/class/net/lo/flags; ls /sys/class/net")
            let result = try c.run(timeout: 120)
            #expect(result.succeeded, "\(result.summary)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            // IFF_UP (0x1) set; lo is the only interface.
            let flags = lines.first.flatMap { Int($0.dropFirst(2), radix: 16) } ?? 0
            #expect(flags & 1 == 1, "lo flags: \(result.summary)")
            #expect(Array(lines.dropFirst()) == ["lo"], "\(result.summary)")
        }
    }

    @Test("a guest kernel panic: documented status 255, one line naming it, the container stopped, the host untouched")
    func guestPanic() throws {
        try withUMLContainer("uml-panic") { c in
            var linux = c.linux
            linux["readonlyPaths"] = []
            linux["maskedPaths"] = []
            c.linux = linux
            var caps = c.process["capabilities"] as? [String: Any] ?? [:]
            for set in ["bounding", "effective", "permitted"] { caps[set] = ((caps[set] as? [String]) ?? []) + ["CAP_SYS_ADMIN"] }
            c.process["capabilities"] = caps
            c.shell("echo c > /proc/sysrq-trigger; sleep 5")
            let result = try c.run(timeout: 120)
            #expect(result.status == 255, "\(result.summary)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains("guest kernel panic"), "\(result.summary)")
            c.expectNothingLeft("after the panic")
        }
    }

    @Test("kill -9 of swiftlet during create: delete --force leaves nothing")
    func killedCreate() throws {
        try withUMLContainer("uml-killcreate") { c in
            c.shell("true")
            try c.writeConfig()
            for delay in [0.05, 0.3, 1.0] {
                let spawned = try c.spawnRuntime(["create", "--bundle", c.bundle, c.id])
                usleep(useconds_t(delay * 1_000_000))
                kill(spawned.pid, SIGKILL)
                _ = spawned.wait(timeout: 30)
                let deleted = c.runtime(["delete", "--force", c.id], timeout: 30)
                #expect(deleted.succeeded, "after \(delay) s: \(deleted.summary)")
                c.expectNothingLeft("kill -9 of create after \(delay) s")
            }
        }
    }

    /// A container in the tier whose process waits, started: for exec and ps to join.
    private func startWaiting(_ c: TestContainer) throws {
        c.useUML()
        c.shell("while :; do sleep 1; done")
        try c.mustCreate()
        let started = c.runtime(["start", c.id], timeout: 60)
        try #require(started.succeeded, "\(started.summary)")
    }

    @Test("exec: a second process in the running guest; stdout and stderr apart and byte-exact; its exit status; -e, --cwd, --user, --process")
    func execInGuest() throws {
        try requireUML()
        try withContainer("uml-exec") { c in
            try startWaiting(c)
            let plain = c.runtime(["exec", c.id, "sh", "-c", "printf 'o\\tx\\r\\n'; echo e >&2; uname -r >&2; exit 5"], timeout: 60)
            #expect(plain.status == 5, "\(plain.summary)")
            #expect(plain.stdout == "o\tx\r\n", "bytes changed on the way: \(plain.stdout.debugDescription)")
            let errLines = plain.stderr.split(separator: "\n").map(String.init)
            #expect(errLines.count == 2 && errLines[0] == "e" && errLines[1].hasPrefix("6.1.") && errLines[1] != hostRelease(),
                    "\(plain.summary)")

            let flags = c.runtime(["exec", "-e", "GREETING=hi there", "--cwd", "/tmp", "--user", "1000:1001", c.id,
                                   "sh", "-c", "echo \"$GREETING\"; pwd; id -u; id -g"], timeout: 60)
            #expect(flags.succeeded && flags.stdout == "hi there\n/tmp\n1000\n1001\n", "\(flags.summary)")

            // It joins the container: its pid 1 is the container's process.
            let joined = c.runtime(["exec", c.id, "cat", "/proc/1/cmdline"], timeout: 60)
            #expect(joined.succeeded && joined.stdout.contains("while :"), "\(joined.summary)")

            let processFile = c.workDir + "/process.json"
            let process: [String: Any] = ["args": ["sh", "-c", "echo from-json; echo \"$FROM\"; exit 3"], "cwd": "/",
                                          "env": ["PATH=/bin:/usr/bin", "FROM=process.json"], "user": ["uid": 0, "gid": 0]]
            try JSONSerialization.data(withJSONObject: process).write(to: URL(fileURLWithPath: processFile))
            let fromFile = c.runtime(["exec", "--process", processFile, c.id], timeout: 60)
            #expect(fromFile.status == 3 && fromFile.stdout == "from-json\nprocess.json\n", "\(fromFile.summary)")

            let missing = c.runtime(["exec", c.id, "/no/such/program"], timeout: 60)
            #expect(missing.status != 0 && missing.stderr.split(separator: "\n").count == 1, "\(missing.summary)")
            #expect(c.status() == "running", "the container did not survive its execs")
        }
    }

    @Test("exec: 256 KiB of every byte value through an exec'd process's stdin and back, byte-exact")
    func execStdin() throws {
        try requireUML()
        try withContainer("uml-exec-stdin") { c in
            try startWaiting(c)
            var bytes = [UInt8](repeating: 0, count: 256 << 10)
            for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
            let input = c.workDir + "/in", output = c.workDir + "/out"
            try Data(bytes).write(to: URL(fileURLWithPath: input))
            let command = "timeout -s KILL 90 '\(Environment.runtime!)' --root '\(c.stateRoot)' exec \(c.id) cat < '\(input)' > '\(output)'"
            let result = runCommand("/bin/sh", ["-c", command], timeout: 120)
            #expect(result.succeeded, "\(result.summary)")
            let back = (try? Data(contentsOf: URL(fileURLWithPath: output))) ?? Data()
            #expect(back == Data(bytes), "got \(back.count) bytes back, expected \(bytes.count) equal ones")
        }
    }

    @Test("exec: three at once share the guest channel; each gets its own output and status")
    func execConcurrent() throws {
        try requireUML()
        try withContainer("uml-exec-many") { c in
            try startWaiting(c)
            let spawned = try (1...3).map { n in
                try c.spawnRuntime(["exec", c.id, "sh", "-c",
                                    "i=0; while [ $i -lt 3000 ]; do echo stream-\(n)-$i; i=$((i+1)); done; echo done-\(n) >&2; exit \(n)"])
            }
            for (k, s) in spawned.enumerated() {
                let n = k + 1
                let result = s.wait(timeout: 120)
                let expected = (0..<3000).map { "stream-\(n)-\($0)\n" }.joined()
                #expect(result.status == Int32(n), "\(result.command): \(result.status) \(result.stderr)")
                #expect(result.stdout == expected, "exec \(n): \(result.stdout.count) bytes, expected \(expected.count)")
                #expect(result.stderr == "done-\(n)\n", "\(result.stderr.debugDescription)")
            }
        }
    }

    @Test("exec -d: a host relay stands for the process (its pid in --pid-file, signals pass on); ps lists the guest's processes")
    func execDetachedAndPs() throws {
        try requireUML()
        try withContainer("uml-exec-ps") { c in
            try startWaiting(c)
            let pidFile = c.workDir + "/exec.pid"
            let detached = c.runtime(["exec", "-d", "--pid-file", pidFile, c.id, "sleep", "77"], timeout: 60)
            try #require(detached.succeeded, "\(detached.summary)")
            let relay = try #require(Int32((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? ""))
            #expect(kill(relay, 0) == 0, "the relay \(relay) is not running")

            let json = c.runtime(["ps", "-f", "json", c.id], timeout: 60)
            let pids = (try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8))) as? [Int] ?? []
            #expect(json.succeeded && pids.count >= 3, "the shell, its sleep and the exec'd sleep: \(json.summary)")
            let table = c.runtime(["ps", c.id], timeout: 60)
            let lines = table.stdout.split(separator: "\n").map(String.init)
            #expect(table.succeeded && lines.first?.hasPrefix("UID") == true && lines.first?.contains("PID") == true, "\(table.summary)")
            #expect(lines.contains { $0.hasSuffix("sleep 77") }, "\(table.summary)")
            #expect(lines.count >= 4, "a header and at least three processes: \(table.summary)")

            #expect(kill(relay, SIGTERM) == 0)
            #expect(eventually(timeout: 30) { kill(relay, 0) != 0 }, "the relay did not end with its process")
            #expect(eventually(timeout: 30) { !c.runtime(["ps", c.id], timeout: 60).stdout.contains("sleep 77") },
                    "the TERM did not reach the exec'd process")
        }
    }

    @Test("exec -t: the exec'd process's stdio is a terminal in the guest, of the caller's size")
    func execTerminal() throws {
        try requireUML()
        try withContainer("uml-exec-tty") { c in
            try startWaiting(c)
            // script(1) gives the runtime a real terminal as its stdio, here of 30 rows, 100 columns.
            let command = "stty rows 30 cols 100; '\(Environment.runtime!)' --root '\(c.stateRoot)' exec -t \(c.id) "
                + "sh -c 'tty; test -t 0 && test -t 1 && echo is$((1+1))tty; stty size; exit 4'"
            let result = runCommand("/usr/bin/script", ["-qec", command, "/dev/null"], timeout: 60)
            #expect(result.status == 4, "\(result.summary)")
            #expect(result.stdout.contains("/dev/pts/"), "\(result.summary)")
            #expect(result.stdout.contains("is2tty"), "\(result.summary)")
            #expect(result.stdout.contains("30 100"), "the caller's size: \(result.summary)")
        }
    }

    @Test("exec -d -t --console-socket: the caller's pty master drives a terminal in the guest that echoes; the relay ends with the process")
    func execConsoleSocket() throws {
        try requireUML()
        try withContainer("uml-exec-console") { c in
            try startWaiting(c)
            let socketPath = c.workDir + "/console.sock"
            let listener = try ConsoleListener(path: socketPath)
            defer { listener.close() }
            let pidFile = c.workDir + "/exec.pid"
            let exec = c.runtime(["exec", "-d", "-t", "--console-socket", socketPath, "--pid-file", pidFile, c.id, "sh"],
                                 timeout: 60)
            try #require(exec.succeeded, "\(exec.summary)")
            let (_, master) = try listener.receive(timeout: 10)
            defer { close(master) }
            #expect(isatty(master) == 1)
            let relay = try #require(Int32((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? ""))
            let typed = "echo hi$((6*7)); test -t 0 && echo is$((1+1))tty\n"
            #expect(typed.withCString { write(master, $0, strlen($0)) } == typed.utf8.count)
            let output = readUntil(master, contains: "is2tty\r\n", timeout: 30)
            #expect(output.contains("echo hi$((6*7))"), "the terminal did not echo the input: \(output.debugDescription)")
            #expect(output.contains("hi42\r\n") && output.contains("is2tty\r\n"), "\(output.debugDescription)")
            #expect("exit 3\n".withCString { write(master, $0, strlen($0)) } == 7)
            #expect(eventually(timeout: 30) { kill(relay, 0) != 0 }, "the relay did not end with the shell")
        }
    }

    @Test("run -t: the container's process has a terminal in the guest (consoleSize), relayed to the caller's; its exit status")
    func runTerminal() throws {
        try withUMLContainer("uml-run-tty") { c in
            c.process["terminal"] = true
            c.process["consoleSize"] = ["height": 30, "width": 100]
            c.shell("tty; test -t 0 && test -t 1 && echo is$((1+1))tty; stty size; exit 6")
            try c.writeConfig()
            let command = "'\(Environment.runtime!)' --root '\(c.stateRoot)' run --bundle '\(c.bundle)' \(c.id)"
            let result = runCommand("/usr/bin/script", ["-qec", command, "/dev/null"], timeout: 60)
            #expect(result.status == 6, "\(result.summary)")
            #expect(result.stdout.contains("/dev/pts/") && result.stdout.contains("is2tty"), "\(result.summary)")
            #expect(result.stdout.contains("30 100"), "consoleSize: \(result.summary)")
            c.expectNothingLeft("after run -t")
        }
    }

    @Test("create --console-socket: the caller's pty master drives the container's terminal in the guest, which echoes")
    func createConsoleSocket() throws {
        try withUMLContainer("uml-console") { c in
            c.process["terminal"] = true
            c.process["args"] = ["sh"]
            try c.writeConfig()
            let socketPath = c.workDir + "/console.sock"
            let listener = try ConsoleListener(path: socketPath)
            defer { listener.close() }
            let created = c.runtime(["create", "--bundle", c.bundle, "--console-socket", socketPath, c.id], timeout: 60)
            try #require(created.succeeded, "\(created.summary)")
            let (_, master) = try listener.receive(timeout: 10)
            defer { close(master) }
            #expect(isatty(master) == 1)
            #expect(c.runtime(["start", c.id], timeout: 60).succeeded)
            let typed = "echo hi$((6*7)); test -t 0 && echo is$((1+1))tty\n"
            #expect(typed.withCString { write(master, $0, strlen($0)) } == typed.utf8.count)
            let output = readUntil(master, contains: "is2tty\r\n", timeout: 30)
            #expect(output.contains("echo hi$((6*7))"), "the terminal did not echo the input: \(output.debugDescription)")
            #expect(output.contains("hi42\r\n") && output.contains("is2tty\r\n"), "\(output.debugDescription)")
            #expect("exit 3\n".withCString { write(master, $0, strlen($0)) } == 7)
            #expect(eventually(timeout: 30) { c.status() == "stopped" }, "still \(c.status() ?? "?")")
            #expect(c.runtime(["delete", c.id]).succeeded)
            c.expectNothingLeft("after the console container")
        }
    }

    @Test("exec into a stopped UML container fails in one line and leaves nothing")
    func execStopped() throws {
        try withUMLContainer("uml-exec-stopped") { c in
            c.shell("true")
            try c.mustCreate()
            #expect(c.runtime(["start", c.id], timeout: 60).succeeded)
            #expect(eventually(timeout: 30) { c.status() == "stopped" })
            let result = c.runtime(["exec", c.id, "true"], timeout: 60)
            #expect(result.status == 1, "\(result.summary)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains("stopped"), "\(result.summary)")
            #expect(result.stdout.isEmpty)
            #expect(c.runtime(["delete", c.id]).succeeded)
            c.expectNothingLeft("after exec into the stopped container and delete")
        }
    }

    @Test("swiftlet-uml (a link) selects the tier without an annotation; features and check list it")
    func selectedByName() throws {
        try requireUML()
        try withContainer("uml-name") { c in
            let link = c.workDir + "/swiftlet-uml"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: Environment.runtime!)
            c.shell("uname -r")
            try c.writeConfig()
            let result = runCommand(link, ["--root", c.stateRoot, "run", "--bundle", c.bundle, c.id], timeout: 120)
            #expect(result.succeeded && result.stdout.hasPrefix("6.1.") && result.stdout != hostRelease() + "\n",
                    "\(result.summary)")
            let features = runCommand(link, ["features"])
            #expect(features.stdout.contains("\"org.swiftlet.isolation.default\": \"uml\""), "\(features.summary)")
            #expect(features.stdout.contains("namespaces,chroot,uml"), "\(features.summary)")
            c.expectNothingLeft("after run")
        }
    }

    /// What the replacement left in the rootfs's /out (written through hostfs, synced).
    private func guestOutput(_ c: TestContainer) -> String? {
        var text: String?
        _ = eventually(timeout: 60) {
            text = try? String(contentsOfFile: c.rootfs + "/out", encoding: .utf8)
            return text?.hasSuffix("end\n") == true
        }
        return text
    }

    @Test("start --process replaces the waiting process inside the booted guest: args, env, cwd; the exit status is the new process's")
    func fastStart() throws {
        try withUMLContainer("uml-fast") { c in
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.process["args"] = ["sleep", "1000"]
            c.process["env"] = ["PATH=/bin", "KEEP=1"]
            try c.mustCreate()
            let process = c.workDir + "/process.json"
            let json: [String: Any] = [
                "args": ["sh", "-c", "echo \"$(uname -r) $GREETING $(pwd)\" > /out; echo end >> /out; sync; exit 5"],
                "env": ["PATH=/bin", "GREETING=hello"], "cwd": "/tmp"]
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: process))
            let started = c.runtime(["start", "--process", process, c.id], timeout: 60)
            #expect(started.succeeded, "\(started.summary)")
            let out = try #require(guestOutput(c), "the replacement wrote nothing")
            let words = out.split(separator: "\n").first?.split(separator: " ").map(String.init) ?? []
            #expect(words.count == 3 && words[0].hasPrefix("6.1.") && words[0] != hostRelease(), "kernel: \(out)")
            #expect(words.dropFirst() == ["hello", "/tmp"], "env and cwd: \(out)")
            #expect(eventually(timeout: 30) { c.status() == "stopped" }, "still \(c.status() ?? "?")")
            #expect(c.runtime(["delete", c.id]).succeeded)
            c.expectNothingLeft("after delete")
        }
    }

    @Test("a bad replacement fails start with one line; the guest keeps the container created; a good one then runs")
    func fastStartBadReplacement() throws {
        try withUMLContainer("uml-fastbad") { c in
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.process["args"] = ["sleep", "1000"]
            try c.mustCreate()
            // A program the guest's rootfs does not have: refused by the guest's init.
            let bad = c.runtime(["start", "--arg", "/bin/nonexistent", c.id], timeout: 60)
            #expect(!bad.succeeded && bad.stderr.split(separator: "\n").count == 1, "\(bad.summary)")
            #expect(c.status() == "created", "after a refused start: \(c.status() ?? "?")")
            let good = c.runtime(["start", "--arg", "sh", "--arg", "-c", "--arg", "echo end > /out; sync", c.id], timeout: 60)
            #expect(good.succeeded, "\(good.summary)")
            #expect(guestOutput(c) == "end\n")
            #expect(eventually(timeout: 30) { c.status() == "stopped" })
        }
    }

    @Test("pool fill keeps booted guests created, pool start hands one out with its process replaced, drain leaves nothing")
    func pool() throws {
        try withUMLContainer("uml-pool") { c in
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.process["args"] = ["sleep", "1000"]
            try c.writeConfig()
            let name = c.id + "-p"
            defer { c.runtime(["pool", "drain", name], timeout: 60) }
            let fill = c.runtime(["pool", "fill", "--bundle", c.bundle, "--size", "1", name], timeout: 120)
            try #require(fill.succeeded, "\(fill.summary)")
            #expect(c.status(name + "-0") == "created")
            let annotations = c.state(name + "-0")?["annotations"] as? [String: String] ?? [:]
            #expect(annotations["org.swiftlet.isolation"] == "uml", "\(annotations)")
            let started = c.runtime(["pool", "start", "--arg", "sh", "--arg", "-c", "--arg",
                                     "uname -r > /out; echo end >> /out; sync", name], timeout: 60)
            #expect(started.succeeded, "\(started.summary)")
            #expect(started.stdout == name + "-0\n", "\(started.summary)")
            let out = try #require(guestOutput(c), "the replacement wrote nothing")
            #expect(out.hasPrefix("6.1.") && !out.hasPrefix(hostRelease()), "\(out)")
            // The background refill boots another guest for the member handed out.
            #expect(eventually(timeout: 120) { c.status(name + "-1") == "created" }, "no refill: \(c.stateEntries())")
            let drain = c.runtime(["pool", "drain", name], timeout: 60)
            #expect(drain.succeeded, "\(drain.summary)")
            c.expectNothingLeft("after drain")
        }
    }
}
