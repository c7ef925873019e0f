// Runs `swiftlet agent` and containers in user namespaces whose mount/umount2/mknod/mknodat
// notify it. Root only; the runtime is SWIFTLET_BINARY, else dist/swiftlet.
import Foundation
import Testing
import TestSupport

enum AgentEnvironment {
    static let repositoryRoot = TestLocations.repositoryRoot
    /// SWIFTLET_BINARY, else dist/swiftlet (TestSupport's one finder).
    static let runtime: String = TestLocations.binary ?? TestLocations.repositoryRoot + "/dist/swiftlet"
    static var enabled: Bool { getuid() == 0 && TestLocations.binary != nil }

    /// The busybox rootfs of the test bundle (SWIFTLET_TEST_BUNDLE, else .build-fixtures/bundle), built on first use.
    static func rootfs() throws -> String {
        if let built = TestLocations.builtRootfs { return built }
        let made = run("/bin/bash", [repositoryRoot + "/scripts/make-bundle.sh", TestLocations.bundle], timeout: 180)
        guard made.status == 0 else { throw AgentTestFailure("no busybox rootfs: \(made.stderr)") }
        return TestLocations.bundle + "/rootfs"
    }

    /// The static notify helper (bench/agent/notify-helper.c), built once per test process
    /// into the fixtures directory (one file, replaced by the next run, never left in /tmp).
    static let helper: Result<String, AgentTestFailure> = {
        try? FileManager.default.createDirectory(atPath: repositoryRoot + "/.build-fixtures", withIntermediateDirectories: true)
        let out = repositoryRoot + "/.build-fixtures/notify-helper"
        let cc = run("/usr/bin/cc", ["-static", "-O2", "-pthread", "-o", out, repositoryRoot + "/bench/agent/notify-helper.c"], timeout: 120)
        return cc.status == 0 ? .success(out) : .failure(AgentTestFailure("cc -static failed: \(cc.stderr)"))
    }()
}

struct AgentTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

struct Ran {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a command to completion (output through files: a container may hold pipes open).
@discardableResult
func run(_ executable: String, _ arguments: [String], timeout: Double = 60) -> Ran {
    let p = start(executable, arguments)
    return p.wait(timeout: timeout)
}

final class Started {
    let process = Process()
    let out: String
    let err: String
    init(_ executable: String, _ arguments: [String]) {
        let base = NSTemporaryDirectory() + "swiftlet-agent-io-\(getpid())-\(UUID().uuidString)"
        out = base + ".out"
        err = base + ".err"
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        try? process.run()
    }
    func wait(timeout: Double) -> Ran {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let o = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        let e = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: out)
        try? FileManager.default.removeItem(atPath: err)
        return Ran(status: process.terminationStatus, stdout: o, stderr: e)
    }
}

func eventually(timeout: Double = 30, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// One test's world: a work dir, a private --root, an agent, and containers by id.
final class AgentWorld {
    let name: String
    let dir: String
    let stateRoot: String
    let socket: String
    let policyPath: String
    let logPath: String
    var agent: Started?
    var ids: [String] = []

    init(_ name: String, policy: String) throws {
        self.name = name
        dir = "/tmp/swiftlet-agent-\(getpid())-\(name)"
        stateRoot = "/run/swiftlet-agent-\(getpid())-\(name)"
        socket = dir + "/agent.sock"
        policyPath = dir + "/policy.json"
        logPath = dir + "/agent.log"
        run("/bin/rm", ["-rf", "--one-file-system", dir, stateRoot])
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try policy.write(toFile: policyPath, atomically: true, encoding: .utf8)
    }

    func startAgent(_ extra: [String] = []) throws {
        agent = start(AgentEnvironment.runtime, ["--root", stateRoot, "agent", "--socket", socket, "--policy", policyPath, "--log", logPath] + extra)
        guard eventually({ FileManager.default.fileExists(atPath: socket) }) else {
            let r = agent!.wait(timeout: 1)
            throw AgentTestFailure("agent did not start: \(r.stderr)")
        }
    }

    func killAgent(_ signal: Int32 = SIGKILL) {
        guard let a = agent else { return }
        kill(a.process.processIdentifier, signal)
        _ = a.wait(timeout: 10)
        agent = nil
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Log records (JSON lines) for container `id`, decisions only.
    func decisions(_ id: String) -> [[String: Any]] {
        log.split(separator: "\n").compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return o["container"] as? String == id && o["decision"] != nil ? o : nil
        }
    }

    /// How many calls of container `id` the log accounts for: each decision line once, each
    /// "repeated" summary by its count.
    func calls(_ id: String, syscall: String? = nil) -> Int {
        decisions(id).filter { syscall == nil || $0["syscall"] as? String == syscall }
            .reduce(0) { $0 + (($1["times"] as? Int) ?? 1) }
    }

    /// A bundle for container `id` in a user namespace, whose script is `sh -c script`.
    /// `user` is the process's uid and gid in the container; `adjust` edits the config last.
    func bundle(_ id: String, script: String, notify: [String] = ["mount", "umount2", "mknod", "mknodat"],
                annotations: [String: String] = [:], user: (uid: Int, gid: Int) = (0, 0),
                adjust: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let bundle = dir + "/" + id
        let rootfs = try AgentEnvironment.rootfs()
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        let cp = run("/bin/cp", ["-a", rootfs, bundle + "/rootfs"])
        guard cp.status == 0 else { throw AgentTestFailure("cp: \(cp.stderr)") }
        for d in ["foo", "bar"] { try FileManager.default.createDirectory(atPath: bundle + "/rootfs/" + d, withIntermediateDirectories: true) }
        let helper = try AgentEnvironment.helper.get()
        try FileManager.default.copyItem(atPath: helper, toPath: bundle + "/rootfs/notify-helper")
        var seccomp: [String: Any] = ["defaultAction": "SCMP_ACT_ALLOW", "listenerPath": socket, "listenerMetadata": "meta-" + id]
        if !notify.isEmpty { seccomp["syscalls"] = [["names": notify, "action": "SCMP_ACT_NOTIFY"]] }
        var config: [String: Any] = [
            "ociVersion": "1.3.0",
            "process": [
                "terminal": false, "user": ["uid": user.uid, "gid": user.gid], "args": ["sh", "-c", script],
                "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "cwd": "/",
                "capabilities": ["bounding": ["CAP_SYS_ADMIN", "CAP_MKNOD"], "effective": ["CAP_SYS_ADMIN", "CAP_MKNOD"],
                                 "permitted": ["CAP_SYS_ADMIN", "CAP_MKNOD"]],
                "noNewPrivileges": true,
            ],
            "root": ["path": "rootfs", "readonly": false],
            "hostname": "agent",
            "annotations": annotations,
            "mounts": [
                ["destination": "/proc", "type": "proc", "source": "proc"],
                ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
            ],
            "linux": [
                "namespaces": [["type": "pid"], ["type": "ipc"], ["type": "uts"], ["type": "mount"], ["type": "user"]],
                "uidMappings": [["containerID": 0, "hostID": 100000, "size": 65536]],
                "gidMappings": [["containerID": 0, "hostID": 100000, "size": 65536]],
                "seccomp": seccomp,
            ],
        ]
        adjust(&config)
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted])
        try data.write(to: URL(fileURLWithPath: bundle + "/config.json"))
        ids.append(id)
        return bundle
    }

    /// `run` in the foreground; returns what the container printed.
    func runContainer(_ id: String, bundle: String, timeout: Double = 60) -> Ran {
        run(AgentEnvironment.runtime, ["--root", stateRoot, "run", "--bundle", bundle, id], timeout: timeout)
    }

    func startContainer(_ id: String, bundle: String) -> Started {
        start(AgentEnvironment.runtime, ["--root", stateRoot, "run", "--bundle", bundle, id])
    }

    func cleanup() {
        killAgent(SIGTERM)
        for id in ids { run(AgentEnvironment.runtime, ["--root", stateRoot, "delete", "--force", id], timeout: 20) }
        run("/bin/rm", ["-rf", "--one-file-system", dir, stateRoot])
    }
}

func start(_ executable: String, _ arguments: [String]) -> Started { Started(executable, arguments) }

/// A bundle adjustment: no user namespace, so the container's root is host root (a block
/// device node in the container is usable at all; a root-only socket is reachable).
func withoutUserNamespace(_ config: inout [String: Any]) {
    var linux = config["linux"] as! [String: Any]
    linux["namespaces"] = [["type": "pid"], ["type": "ipc"], ["type": "uts"], ["type": "mount"]]
    linux.removeValue(forKey: "uidMappings")
    linux.removeValue(forKey: "gidMappings")
    config["linux"] = linux
}

func withWorld(_ name: String, policy: String, _ body: (AgentWorld) throws -> Void) throws {
    let world = try AgentWorld(name, policy: policy)
    defer { world.cleanup() }
    try body(world)
}
