// `exec` end to end: drives the swiftlet binary (SWIFTLET_BINARY, else dist/swiftlet)
// as root against a running busybox container.
import Foundation
import Testing
import TestSupport

enum ExecEnvironment {
    static let repositoryRoot = TestLocations.repositoryRoot
    /// SWIFTLET_BINARY, else dist/swiftlet (TestSupport's one finder).
    static let binary: String? = TestLocations.binary
    /// The busybox rootfs scripts/make-bundle.sh leaves (SWIFTLET_TEST_BUNDLE, else
    /// .build-fixtures/bundle). Containers use it read-only, so they share it.
    static let rootfs: String? = TestLocations.builtRootfs

    static var ready: Bool { getuid() == 0 && binary != nil && rootfs != nil }
}

struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
    var summary: String { "exit \(status); stdout: \(stdout.debugDescription); stderr: \(stderr.debugDescription)" }
}

/// Runs a command with stdio in files (a detached process inherits them and would hold a
/// pipe open); SIGKILL after `timeout` seconds.
func runTool(_ path: String, _ args: [String], timeout: Double = 30) throws -> Outcome {
    let scratch = NSTemporaryDirectory() + "swiftlet-exec-io-\(getpid())-\(UUID().uuidString)"
    FileManager.default.createFile(atPath: scratch + ".out", contents: nil)
    FileManager.default.createFile(atPath: scratch + ".err", contents: nil)
    defer {
        unlink(scratch + ".out")
        unlink(scratch + ".err")
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    p.standardInput = FileHandle(forReadingAtPath: "/dev/null")
    p.standardOutput = FileHandle(forWritingAtPath: scratch + ".out")
    p.standardError = FileHandle(forWritingAtPath: scratch + ".err")
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
    return Outcome(status: status,
                   stdout: (try? String(contentsOfFile: scratch + ".out", encoding: .utf8)) ?? "",
                   stderr: (try? String(contentsOfFile: scratch + ".err", encoding: .utf8)) ?? "")
}

/// One running container (`sleep 1000` as its init) under a private --root; `close`
/// deletes it and everything the test made.
final class RunningContainer {
    let id: String
    let root: String
    let bundle: String

    init(_ name: String) throws {
        let rootfs = try #require(ExecEnvironment.rootfs)
        id = "exec-\(name)-\(getpid())"
        root = "/run/swiftlet-exec-test-\(getpid())-\(name)"
        bundle = NSTemporaryDirectory() + "swiftlet-exec-test-\(getpid())/\(name)"
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        try RunningContainer.config(rootfs: rootfs).write(to: URL(fileURLWithPath: bundle + "/config.json"))
        let run = try swiftlet(["run", "--detach", "--bundle", bundle, id])
        if run.status != 0 {
            close()
            throw Failure("run --detach failed: \(run.summary)")
        }
    }

    func swiftlet(_ args: [String], timeout: Double = 30) throws -> Outcome {
        try runTool(ExecEnvironment.binary!, ["--root", root] + args, timeout: timeout)
    }

    func exec(_ args: [String], timeout: Double = 30) throws -> Outcome {
        try swiftlet(["exec"] + args, timeout: timeout)
    }

    /// The init's pid from `state`.
    func initPid() throws -> Int32 {
        let state = try swiftlet(["state", id])
        let json = try JSONSerialization.jsonObject(with: Data(state.stdout.utf8)) as? [String: Any]
        return Int32(try #require(json?["pid"] as? Int))
    }

    func status() -> String? {
        guard let state = try? swiftlet(["state", id]), state.status == 0,
              let json = try? JSONSerialization.jsonObject(with: Data(state.stdout.utf8)) as? [String: Any] else { return nil }
        return json["status"] as? String
    }

    func close() {
        _ = try? swiftlet(["delete", "--force", id], timeout: 20)
        try? FileManager.default.removeItem(atPath: root)
        try? FileManager.default.removeItem(atPath: bundle)
        rmdir(NSTemporaryDirectory() + "swiftlet-exec-test-\(getpid())")   // once every test's bundle is gone
    }

    /// The base config with a long-running init, its own hostname and a writable /tmp.
    static func config(rootfs: String) throws -> Data {
        var config = BaseConfig.object(rootfs: rootfs)
        var process = config["process"] as? [String: Any] ?? [:]
        process["args"] = ["sleep", "1000"]
        config["process"] = process
        config["hostname"] = "exectest"
        config["mounts"] = (config["mounts"] as? [[String: Any]] ?? [])
            + [["destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]]]
        return try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func withRunningContainer(_ name: String, _ body: (RunningContainer) throws -> Void) throws {
    let c = try RunningContainer(name)
    defer { c.close() }
    try body(c)
}

func statusField(_ text: String, _ key: String) -> String? {
    for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
        return line.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
    }
    return nil
}

@Suite(.serialized, .enabled(if: ExecEnvironment.ready,
                             "needs root, a swiftlet binary (SWIFTLET_BINARY or dist/swiftlet) and a busybox rootfs (.build-fixtures/bundle or SWIFTLET_TEST_BUNDLE)"))
struct ExecBinaryTests {
    @Test func execRunsAsTheConfiguredUser() throws {
        try withRunningContainer("id") { c in
            let r = try c.exec([c.id, "sh", "-c", "echo $(id -u):$(id -g):$(id -G)"])
            #expect(r.status == 0, "\(r.summary)")
            #expect(r.stdout == "0:0:0\n", "\(r.summary)")
        }
    }

    @Test func execJoinsTheInitsNamespacesAndGetsItsRestrictions() throws {
        try withRunningContainer("status") { c in
            let initPid = try c.initPid()
            let script = "for n in pid mnt net ipc uts; do readlink /proc/self/ns/$n; done; echo ===; hostname; "
                + "echo ===; cat /proc/self/status; echo ===; cat /proc/1/cmdline"
            let r = try c.exec([c.id, "sh", "-c", script])
            #expect(r.status == 0, "\(r.summary)")
            let parts = r.stdout.components(separatedBy: "===\n")
            try #require(parts.count == 4, "\(r.summary)")
            var hostView: [String] = []
            for n in ["pid", "mnt", "net", "ipc", "uts"] {
                hostView.append(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(initPid)/ns/\(n)"))
            }
            #expect(parts[0].split(separator: "\n").map(String.init) == hostView)
            #expect(parts[1].trimmingCharacters(in: .whitespacesAndNewlines) == "exectest")
            let status = parts[2]
            // Seen from the container's own /proc: one level, a small pid (not the host's).
            let nspid = try #require(statusField(status, "NSpid"))
            #expect(!nspid.contains("\t") && (Int(nspid) ?? 0) > 1, "NSpid \(nspid)")
            // CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE and nothing else.
            #expect(statusField(status, "CapEff") == "0000000020000420")
            #expect(statusField(status, "CapBnd") == "0000000020000420")
            #expect(statusField(status, "NoNewPrivs") == "1")
            #expect(statusField(status, "Seccomp") != nil)
            #expect(parts[3].hasPrefix("sleep"), "init is \(parts[3])")
        }
    }

    @Test func exitStatusPropagates() throws {
        try withRunningContainer("status7") { c in
            let r = try c.exec([c.id, "sh", "-c", "exit 7"])
            #expect(r.status == 7, "\(r.summary)")
            let killed = try c.exec([c.id, "sh", "-c", "kill -KILL $$"])
            #expect(killed.status == 128 + 9, "\(killed.summary)")
        }
    }

    @Test func userAndAdditionalGroups() throws {
        try withRunningContainer("user") { c in
            let r = try c.exec(["--user", "1000:1000", "--additional-gids", "5", c.id, "sh", "-c", "echo $(id -u):$(id -g):$(id -G); grep Cap[EP] /proc/self/status"])
            #expect(r.status == 0, "\(r.summary)")
            #expect(r.stdout.hasPrefix("1000:1000:1000 5\n"), "\(r.summary)")
            // A non-root user keeps no effective capabilities (none are ambient-eligible here).
            #expect(statusField(r.stdout, "CapEff") == "0000000000000000", "\(r.summary)")
        }
    }

    @Test func envAndCwd() throws {
        try withRunningContainer("envcwd") { c in
            let r = try c.exec(["--env", "FOO=bar baz", "--env", "TERM=dumb", "--cwd", "/dev/shm", c.id,
                                "sh", "-c", "echo \"$FOO|$TERM|$HOME\"; pwd"])
            #expect(r.status == 0, "\(r.summary)")
            #expect(r.stdout == "bar baz|dumb|/root\n/dev/shm\n" || r.stdout == "bar baz|dumb|/\n/dev/shm\n", "\(r.summary)")
            let missing = try c.exec(["--cwd", "/does/not/exist", c.id, "true"])
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("/does/not/exist"), "\(missing.summary)")
        }
    }

    @Test func processFile() throws {
        try withRunningContainer("processfile") { c in
            let path = c.bundle + "/process.json"
            try #"{"args": ["sh", "-c", "echo $X; pwd"], "env": ["PATH=/bin", "X=from-file"], "cwd": "/dev", "user": {"uid": 2, "gid": 3}}"#
                .write(toFile: path, atomically: true, encoding: .utf8)
            let r = try c.exec(["--process", path, c.id])
            #expect(r.status == 0, "\(r.summary)")
            #expect(r.stdout == "from-file\n/dev\n", "\(r.summary)")
        }
    }

    @Test func onlyStdioAndPreservedFDsReachTheProcess() throws {
        try withRunningContainer("fds") { c in
            // `ls` itself holds one more fd for the directory it lists.
            let plain = try c.exec([c.id, "ls", "/proc/self/fd"])
            #expect(plain.status == 0, "\(plain.summary)")
            #expect(plain.stdout.split(separator: "\n") == ["0", "1", "2", "3"], "\(plain.summary)")

            let marker = c.bundle + "/marker"
            try "preserved-\(getpid())".write(toFile: marker, atomically: true, encoding: .utf8)
            let script = "exec 3<\"$1\"; shift; exec \"$@\""
            let preserved = try runTool("/bin/sh", ["-c", script, "sh", marker, ExecEnvironment.binary!, "--root", c.root,
                                                    "exec", "--preserve-fds", "1", c.id, "sh", "-c", "cat <&3; echo; ls /proc/self/fd"])
            #expect(preserved.status == 0, "\(preserved.summary)")
            #expect(preserved.stdout.split(separator: "\n") == ["preserved-\(getpid())", "0", "1", "2", "3", "4"],
                    "\(preserved.summary)")

            let missing = try c.exec(["--preserve-fds", "50", c.id, "true"])
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("unable to stat preserved-fd"), "\(missing.summary)")
        }
    }

    @Test func missingExecutableIsWordedLikeRunc() throws {
        try withRunningContainer("notfound") { c in
            let r = try c.exec([c.id, "no-such-program"])
            #expect(r.status != 0)
            #expect(r.stderr.contains("exec: \"no-such-program\": executable file not found in $PATH"), "\(r.summary)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.summary)")
        }
    }

    @Test func detachWritesThePidOfTheProcessInTheContainer() throws {
        try withRunningContainer("detach") { c in
            let pidFile = c.bundle + "/exec.pid"
            let started = Date()
            let r = try c.exec(["--detach", "--pid-file", pidFile, c.id, "sleep", "300"], timeout: 20)
            #expect(r.status == 0, "\(r.summary)")
            #expect(r.stdout.isEmpty && r.stderr.isEmpty, "\(r.summary)")
            #expect(Date().timeIntervalSince(started) < 15, "detach must not wait for the process")
            let text = try String(contentsOfFile: pidFile, encoding: .utf8)
            let pid = try #require(Int32(text), "pid file holds \(text.debugDescription)")
            let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            #expect(cmdline == "sleep\u{0}300\u{0}", "pid \(pid) runs \(cmdline.debugDescription)")
            let initPid = try c.initPid()
            for n in ["pid", "mnt", "net"] {
                #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(n)")
                        == FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(initPid)/ns/\(n)"))
            }
            // Same cgroups as the init, in every hierarchy.
            #expect(try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
                    == String(contentsOfFile: "/proc/\(initPid)/cgroup", encoding: .utf8))
            kill(pid, SIGKILL)
        }
    }

    @Test func execIntoAStoppedContainerFails() throws {
        try withRunningContainer("stopped") { c in
            _ = try c.swiftlet(["kill", c.id, "KILL"])
            let deadline = Date().addingTimeInterval(10)
            while c.status() != "stopped" && Date() < deadline { usleep(50_000) }
            try #require(c.status() == "stopped")
            let r = try c.exec([c.id, "true"])
            #expect(r.status != 0)
            #expect(r.stderr.contains("cannot exec in a stopped container"), "\(r.summary)")
        }
    }

    @Test func execIntoAPausedContainerNeedsIgnorePaused() throws {
        try withRunningContainer("paused") { c in
            let paused = try c.swiftlet(["pause", c.id])
            try #require(paused.status == 0, "\(paused.summary)")
            let refused = try c.exec([c.id, "true"])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("cannot exec in a paused container"), "\(refused.summary)")
            let pidFile = c.bundle + "/paused.pid"
            let r = try c.exec(["--ignore-paused", "--detach", "--pid-file", pidFile, c.id, "true"], timeout: 15)
            #expect(r.status == 0, "\(r.summary)")
            let resumed = try c.swiftlet(["resume", c.id])
            #expect(resumed.status == 0, "\(resumed.summary)")
        }
    }

    @Test func foregroundTerminalIsRelayed() throws {
        try withRunningContainer("ttyfg") { c in
            let r = try c.exec(["--tty", c.id, "sh", "-c", "tty; exit 3"], timeout: 20)
            #expect(r.status == 3, "\(r.summary)")
            #expect(r.stdout.contains("/dev/pts/"), "\(r.summary)")
        }
    }

    @Test func consoleSocketReceivesTheMaster() throws {
        try withRunningContainer("ttysock") { c in
            let socketPath = c.bundle + "/console.sock"
            let listener = try ConsoleListener(path: socketPath)
            defer { listener.close() }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: ExecEnvironment.binary!)
            p.arguments = ["--root", c.root, "exec", "--tty", "--detach", "--console-socket", socketPath, c.id, "sh"]
            p.standardInput = FileHandle(forReadingAtPath: "/dev/null")
            p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            p.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try p.run()
            defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
            let (name, master) = try listener.receive(timeout: 15)
            defer { close(master) }
            #expect(name.hasPrefix("/dev/pts/"), "payload \(name.debugDescription)")
            #expect(isatty(master) == 1)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            let command = "echo hi$((40+2)); exit\n"
            _ = command.withCString { write(master, $0, strlen($0)) }
            let output = readUntil(master, contains: "hi42", timeout: 10)
            #expect(output.contains("hi42"), "read \(output.debugDescription)")
        }
    }
}

