// The long-lived helper that performs calls inside a container: one per container, reused
// across calls, restarted after it dies, never making a call succeed when it fails, and
// gone when the container detaches or the agent dies.
import Foundation
import Testing

private let pid = getpid()

private func fifoPolicy(_ id: String) -> String {
    #"{"containers": [{"match": {"id": "\#(id)"}, "mknod": [{"type": "p", "path": "/dev"}]}]}"#
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
            // The fifos go to /dev, the container's own tmpfs (its root may write there).
            let script = "mknod /dev/p1 p; echo one=$?; mknod /dev/p2 p; echo two=$?; " + wait("go1")
                + "mknod /dev/p3 p; echo three=$?; " + wait("go2")
                + "mknod /dev/p4 p; echo four=$?; mknod /dev/p5 p; echo five=$?; ls /dev"
            let bundle = try w.bundle(a, script: script)
            let rootfs = bundle + "/rootfs"
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
            #expect(FileManager.default.fileExists(atPath: "/proc/\(initPid)/root/dev/p3"))
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
            let bundle = try w.bundle(a, script: "mknod /dev/p1 p; sleep 30")
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
}
