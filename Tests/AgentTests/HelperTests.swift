// The long-lived helper that performs calls inside a container: one per container, reused
// across calls, restarted after it dies, never making a call succeed when it fails, and
// gone when the container detaches or the agent dies.
import Foundation
import Testing
import TestSupport

private let pid = getpid()

private func fifoPolicy(_ id: String, path: String = "/foo") -> String {
    #"{"containers": [{"match": {"id": "\#(id)"}, "mknod": [{"type": "p", "path": "\#(path)"}]}]}"#
}

/// The container's root (host uid 100000 in the harness's user namespace) owns `dir` of the
/// rootfs: a directory on the host's disk file system, where the helper makes nodes (below
/// a tmpfs the agent makes them itself).
private func giveToContainerRoot(_ rootfs: String, _ dir: String) -> Bool {
    chown(rootfs + "/" + dir, 100000, 100000) == 0
}

/// The agent's child processes (its helpers).
private func children(of agent: Int32) -> [Int32] {
    let text = (try? String(contentsOfFile: "/proc/\(agent)/task/\(agent)/children", encoding: .utf8)) ?? ""
    return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
}

private func namespace(_ pid: Int32, _ kind: String) -> String? {
    try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(kind)")
}

private func containerPid(_ w: AgentWorld, _ id: String) -> Int32? {
    let state = run(AgentEnvironment.runtime, ["--root", w.stateRoot, "state", id])
    guard state.status == 0,
          let o = try? JSONSerialization.jsonObject(with: Data(state.stdout.utf8)) as? [String: Any] else { return nil }
    return (o["pid"] as? Int).map(Int32.init)
}

@Suite(.serialized, .enabled(if: AgentEnvironment.enabled, "needs root and the swiftlet binary"))
struct AgentHelperTests {
    @Test func oneHelperPerContainerReusedRestartedAndNeverFailingOpen() throws {
        let a = "agent-h-\(pid)"
        try withWorld("helper", policy: fifoPolicy(a)) { w in
            try w.startAgent()
            let agent = w.agent!.process.processIdentifier
            let wait = { (file: String) in "while [ ! -e /\(file) ]; do sleep 0.05; done; " }
            // The fifos go to /foo, on the host's disk file system, given to the container's root.
            let script = "mknod /foo/p1 p; echo one=$?; mknod /foo/p2 p; echo two=$?; " + wait("go1")
                + "mknod /foo/p3 p; echo three=$?; " + wait("go2")
                + "mknod /foo/p4 p; echo four=$?; mknod /foo/p5 p; echo five=$?; ls /foo"
            let bundle = try w.bundle(a, script: script)
            let rootfs = bundle + "/rootfs"
            try #require(giveToContainerRoot(rootfs, "foo"))
            let container = w.startContainer(a, bundle: bundle)
            guard eventually(timeout: 60, { w.decisions(a).count == 2 }) else {
                let ran = container.wait(timeout: 5)
                Issue.record("no calls: \(ran.stdout) \(ran.stderr) \(w.log)")
                return
            }

            // Two performed calls, one helper, in the container's mount namespace and not
            // in its user namespace (mknod is made with host credentials).
            let first = children(of: agent)
            try #require(first.count == 1, "helpers: \(first)")
            let initPid = try #require(containerPid(w, a))
            #expect(namespace(first[0], "mnt") == namespace(initPid, "mnt"))
            #expect(namespace(first[0], "user") == namespace(getpid(), "user"))
            #expect(namespace(first[0], "user") != namespace(initPid, "user"))

            // A helper that died is replaced on the next call.
            kill(first[0], SIGKILL)
            FileManager.default.createFile(atPath: rootfs + "/go1", contents: nil)
            #expect(eventually { w.decisions(a).count == 3 }, "\(w.log)")
            #expect(FileManager.default.fileExists(atPath: "/proc/\(initPid)/root/foo/p3"))
            let second = children(of: agent)
            #expect(second.count == 1 && second.first != first[0], "helpers: \(second)")

            // A helper that hangs is killed after the timeout: the call fails, nothing is made.
            if let hung = second.first { kill(hung, SIGSTOP) }
            FileManager.default.createFile(atPath: rootfs + "/go2", contents: nil)
            let ran = container.wait(timeout: 30)
            #expect(ran.stdout.contains("one=0") && ran.stdout.contains("two=0") && ran.stdout.contains("three=0"), "\(ran.stdout) \(ran.stderr)")
            #expect(ran.stdout.contains("four=1"), "\(ran.stdout) \(ran.stderr)")
            #expect(ran.stderr.contains("timed out"), "\(ran.stderr)")
            #expect(ran.stdout.contains("five=0"), "\(ran.stdout) \(ran.stderr)")
            let listed = ran.stdout.split(separator: "\n").map(String.init)
            #expect(listed.contains("p5") && !listed.contains("p4"), "\(ran.stdout)")
            if let hung = second.first { #expect(!FileManager.default.fileExists(atPath: "/proc/\(hung)"), "hung helper not reaped") }
            let results = w.decisions(a).compactMap { $0["result"] as? String }
            #expect(results == ["ok", "ok", "ok", "connection timed out", "ok"], "\(w.log)")

            // The container is gone: so are its helpers.
            #expect(eventually { children(of: agent).isEmpty }, "helpers left: \(children(of: agent))")
        }
    }

    @Test func helpersDieWithTheAgent() throws {
        let a = "agent-hk-\(pid)"
        try withWorld("helperkill", policy: fifoPolicy(a)) { w in
            try w.startAgent()
            let agent = w.agent!.process.processIdentifier
            let bundle = try w.bundle(a, script: "mknod /foo/p1 p; sleep 30")
            try #require(giveToContainerRoot(bundle + "/rootfs", "foo"))
            let container = w.startContainer(a, bundle: bundle)
            defer { run(AgentEnvironment.runtime, ["--root", w.stateRoot, "kill", a, "KILL"]); _ = container.wait(timeout: 30) }
            #expect(eventually(timeout: 60) { w.decisions(a).count == 1 }, "\(w.log)")
            let helpers = children(of: agent)
            try #require(helpers.count == 1, "helpers: \(helpers)")
            w.killAgent(SIGKILL)
            #expect(eventually { !FileManager.default.fileExists(atPath: "/proc/\(helpers[0])/status")
                                 || ((try? String(contentsOfFile: "/proc/\(helpers[0])/status", encoding: .utf8)) ?? "").contains("zombie") },
                    "helper \(helpers[0]) outlived the agent")
        }
    }

    /// Below a tmpfs (the container's /dev) the agent makes the node itself, as the caller:
    /// once the mount is known to be a tmpfs (the first call there goes through the helper),
    /// no helper is involved, and the node belongs to the caller's fsuid, not to the agent's.
    @Test func nodesBelowATmpfsAreMadeByTheAgentAsTheCaller() throws {
        let a = "agent-ht-\(pid)"
        try withWorld("helpertmpfs", policy: fifoPolicy(a, path: "/dev")) { w in
            try w.startAgent()
            let agent = w.agent!.process.processIdentifier
            let script = "mknod /dev/p1 p; echo one=$?; while [ ! -e /go ]; do sleep 0.05; done; "
                + "mknod /dev/p2 p; echo two=$?; mknod /dev/p3 p; echo three=$?; ls -ln /dev"
            let bundle = try w.bundle(a, script: script)
            let container = w.startContainer(a, bundle: bundle)
            defer { run(AgentEnvironment.runtime, ["--root", w.stateRoot, "kill", a, "KILL"]); _ = container.wait(timeout: 30) }
            try #require(eventually(timeout: 60) { w.decisions(a).count == 1 }, "\(w.log)")
            // The helper of the first call is stopped: had it to act for the next two, the
            // calls would time out (as in the test above).
            let first = children(of: agent)
            try #require(first.count == 1, "helpers: \(first)")
            kill(first[0], SIGSTOP)
            defer { kill(first[0], SIGCONT) }
            FileManager.default.createFile(atPath: bundle + "/rootfs/go", contents: nil)
            let ran = container.wait(timeout: 30)
            #expect(ran.stdout.contains("one=0") && ran.stdout.contains("two=0") && ran.stdout.contains("three=0"), "\(ran.stdout) \(ran.stderr)")
            let results = w.decisions(a).compactMap { $0["result"] as? String }
            #expect(results == ["ok", "ok", "ok"], "\(w.log)")
            // Made with the caller's fsuid and fsgid (the container's root: host 100000), as
            // `ls -ln` in the container shows them (0 0); the agent's own would be unmapped.
            let lines = ran.stdout.split(separator: "\n").filter { $0.hasSuffix(" p2") || $0.hasSuffix(" p3") }
            #expect(lines.count == 2 && lines.allSatisfy { $0.hasPrefix("prw") && $0.split(separator: " ", omittingEmptySubsequences: true)[2] == "0"
                                                           && $0.split(separator: " ", omittingEmptySubsequences: true)[3] == "0" },
                    "\(ran.stdout)")
        }
    }

    /// The agent's own mknod below a tmpfs, many calls of one task: each call acts with the
    /// caller's credentials as they are then (uid, gid, supplementary groups, umask, read anew
    /// although the task's /proc files are kept), with CAP_MKNOD only for a device node, and
    /// the agent is back to its own credentials afterwards.
    @Test func agentMadeNodesFollowTheCallersCredentialsOfEachCall() throws {
        let a = "agent-hc-\(pid)"
        let policy = #"{"containers": [{"match": {"id": "\#(a)"}, "mknod": [{"type": "p", "path": "/dev"}, "#
            + #"{"type": "c", "major": 1, "minor": 3, "path": "/dev"}]}]}"#
        func agentCredentials(_ agent: Int32) -> [String] {
            let status = (try? String(contentsOfFile: "/proc/\(agent)/status", encoding: .utf8)) ?? ""
            return status.split(separator: "\n").map(String.init).filter {
                ["Umask:", "Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:"].contains(where: $0.hasPrefix)
            }
        }
        try withWorld("helpercreds", policy: policy) { w in
            try w.startAgent()
            let agent = w.agent!.process.processIdentifier
            let before = agentCredentials(agent)
            try #require(before.count == 7, "\(before)")
            // The first node below /dev goes through the helper (the mount is not known to be a
            // tmpfs yet); the rest are the agent's. Container ids: host ids less 100000.
            let script = "mknod /dev/warm p; mkdir -m 770 /dev/g1 /dev/g2 /dev/g3; mkdir -m 755 /dev/r; "
                + "chgrp 1000 /dev/g1; chgrp 2000 /dev/g2; chgrp 3000 /dev/g3; "
                + "/notify-helper steps fifo:/dev/r/p0 id:1000:1000:2000 fifo:/dev/r/p1 fifo:/dev/g2/p fifo:/dev/g3/p "
                + "chr:/dev/g2/null:1:3 umask:077 fifo:/dev/g2/q; "
                + "/notify-helper steps id:1000:1000:1000 fifo:/dev/g1/p fifo:/dev/g2/s; ls -ln /dev/r /dev/g1 /dev/g2"
            let bundle = try w.bundle(a, script: script) { config in
                var process = config["process"] as! [String: Any]
                let caps = ["CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"]
                process["capabilities"] = ["bounding": caps, "effective": caps, "permitted": caps]
                config["process"] = process
            }
            let ran = w.runContainer(a, bundle: bundle)
            let lines = ran.stdout.split(separator: "\n").map(String.init)
            // As root of the container: its own directory. As uid 1000 in group 2000: not
            // there, but in g2 (group 2000), not in g3; the device with CAP_MKNOD from the
            // agent; umask 077 applied. As uid 1000 in group 1000 only: g1, not g2.
            for (path, errno) in [("/dev/r/p0", 0), ("/dev/r/p1", 13), ("/dev/g2/p", 0), ("/dev/g3/p", 13),
                                  ("/dev/g2/null", 0), ("/dev/g2/q", 0), ("/dev/g1/p", 0), ("/dev/g2/s", 13)] {
                #expect(lines.contains("\(path) errno=\(errno)"), "\(path): \(ran.stdout) \(ran.stderr)")
            }
            func entry(_ name: String) -> [Substring]? {
                lines.first { $0.hasSuffix(" " + name) }?.split(separator: " ", omittingEmptySubsequences: true)
            }
            #expect(entry("p0").map { $0[0] == "prw-r--r--" && $0[2] == "0" && $0[3] == "0" } == true, "\(ran.stdout)")
            #expect(entry("q").map { $0[0] == "prw-------" && $0[2] == "1000" && $0[3] == "1000" } == true, "\(ran.stdout)")
            #expect(entry("null").map { $0[0].hasPrefix("crw") && $0[2] == "1000" } == true, "\(ran.stdout)")
            // Every call decided and answered.
            let results = w.decisions(a).compactMap { $0["result"] as? String }
            #expect(results.count == 9 && results.filter { $0 == "ok" }.count == 6, "\(w.log)")
            #expect(agentCredentials(agent) == before, "\(agentCredentials(agent)) != \(before)")
        }
    }

    /// The agent keeps a task's /proc directory and status file for its next calls: a task
    /// given the pid of one that exited must be judged by its own credentials (here: a
    /// directory it may not write to), neither the old task's nor refused as gone. The pid is
    /// reused through the host's ns_last_pid; rounds where another task took it first do not count.
    @Test func aTaskGivenAnExitedTasksPidIsJudgedAsItself() throws {
        let a = "agent-hr-\(pid)"
        try withWorld("helperreuse", policy: fifoPolicy(a, path: "/dev")) { w in
            try w.startAgent()
            let rounds = 6
            let script = "mkdir -m 755 /dev/r; for i in \((1...rounds).map(String.init).joined(separator: " ")); do "
                + "/notify-helper steps fifo:/dev/r/a$i; read x < /go; /notify-helper steps id:1000:1000:1000 fifo:/dev/r/b$i; done"
            let bundle = try w.bundle(a, script: script) { config in
                var process = config["process"] as! [String: Any]
                let caps = ["CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_SETUID", "CAP_SETGID"]
                process["capabilities"] = ["bounding": caps, "effective": caps, "permitted": caps]
                config["process"] = process
            }
            try #require(mkfifo(bundle + "/rootfs/go", 0o666) == 0)
            let container = w.startContainer(a, bundle: bundle)
            defer { run(AgentEnvironment.runtime, ["--root", w.stateRoot, "kill", a, "KILL"]); _ = container.wait(timeout: 30) }
            func decision(_ path: String) -> [String: Any]? {
                var found: [String: Any]? = nil
                _ = eventually(timeout: 30) { found = w.decisions(a).first { $0["path"] as? String == path }; return found != nil }
                return found
            }
            var reused = 0
            for i in 1...rounds {
                let first = try #require(decision("/dev/r/a\(i)"), "\(w.log)")
                #expect(first["result"] as? String == "ok", "\(first)")
                let old = try #require(first["pid"] as? Int)
                // The shell waits in open(2) of the fifo: no fork between the cursor and its next one.
                let go = open(bundle + "/rootfs/go", O_WRONLY)
                try #require(go >= 0)
                let cursor = open("/proc/sys/kernel/ns_last_pid", O_WRONLY)
                if cursor >= 0 { _ = "\(old - 1)".withCString { write(cursor, $0, strlen($0)) }; close(cursor) }
                _ = write(go, "x\n", 2)
                close(go)
                let second = try #require(decision("/dev/r/b\(i)"), "\(w.log)")
                #expect(second["result"] as? String == "permission denied", "\(second)")
                if second["pid"] as? Int == old { reused += 1 }
            }
            let ran = container.wait(timeout: 30)
            #expect(ran.status == 0, "\(ran.stdout) \(ran.stderr)")
            if reused == 0 { try skip("no round gave the exited task's pid to the next one (other tasks took it)") }
        }
    }
}
