import Foundation
import Testing

private let pid = getpid()

/// A may mount tmpfs on /foo (and unmount it) and create c 1:3 below /dev; B has no entry.
private func scenarioPolicy(_ a: String) -> String {
    """
    {"containers": [
      {"match": {"id": "\(a)"},
       "mount": [{"fstype": ["tmpfs"], "destination": "/foo", "flags": ["silent"]}],
       "umount2": [{"destination": "/foo"}],
       "mknod": [{"type": "c", "major": 1, "minor": 3, "path": "/dev"}]}
    ]}
    """
}

@Suite(.serialized, .enabled(if: AgentEnvironment.enabled, "needs root and the swiftlet binary"))
struct AgentScenarioTests {
    @Test func containerAMountsOnlyFooAndContainerBNothing() throws {
        let a = "agent-a-\(pid)", b = "agent-b-\(pid)"
        try withWorld("ab", policy: scenarioPolicy(a)) { w in
            try w.startAgent()
            let script = "/notify-helper mount /foo; /notify-helper mount /bar; echo mounts; grep -E ' /(foo|bar) ' /proc/self/mounts; echo end"
            let ranA = w.runContainer(a, bundle: try w.bundle(a, script: script))
            #expect(ranA.status == 0, "\(ranA.stderr)")
            #expect(ranA.stdout.contains("mount /foo errno=0"), "\(ranA.stdout)")
            #expect(ranA.stdout.contains("mount /bar errno=1"), "\(ranA.stdout)")
            // Visible in A's own mount table: the agent mounted in A's mount namespace.
            #expect(ranA.stdout.contains("none /foo tmpfs"), "\(ranA.stdout)")
            #expect(!ranA.stdout.contains("none /bar"), "\(ranA.stdout)")

            let ranB = w.runContainer(b, bundle: try w.bundle(b, script: script))
            #expect(ranB.stdout.contains("mount /foo errno=1"), "\(ranB.stdout)")
            #expect(ranB.stdout.contains("mount /bar errno=1"), "\(ranB.stdout)")
            #expect(!ranB.stdout.contains("tmpfs"), "\(ranB.stdout)")

            let da = w.decisions(a), db = w.decisions(b)
            #expect(da.count == 2 && db.count == 2, "\(w.log)")
            #expect(da.first?["decision"] as? String == "allow" && da.first?["result"] as? String == "ok")
            #expect(da.first?["path"] as? String == "/foo" && da.first?["syscall"] as? String == "mount")
            #expect(((da.first?["args"] as? [String: Any])?["fstype"]) as? String == "tmpfs")
            #expect(da.last?["decision"] as? String == "deny" && da.last?["errno"] as? Int == 1)
            #expect(db.allSatisfy { $0["decision"] as? String == "deny" && $0["reason"] as? String == "no policy entry" })
        }
    }

    @Test func mknodOfADeviceTheKernelRefusesInAUserNamespace() throws {
        let a = "agent-a-\(pid)", plain = "agent-plain-\(pid)"
        try withWorld("mknod", policy: scenarioPolicy(a)) { w in
            try w.startAgent()
            let script = "mknod /dev/null-like c 1 3; echo made=$?; ls -ln /dev/null-like; mknod /dev/zero-like c 1 5; echo zero=$?; ls /dev/zero-like; mknod /tmp/null-like c 1 3; echo tmp=$?"
            // Without the agent the kernel refuses: no CAP_MKNOD outside the initial user namespace.
            let ranPlain = w.runContainer(plain, bundle: try w.bundle(plain, script: script, notify: []))
            #expect(ranPlain.stdout.contains("made=1"), "\(ranPlain.stdout) \(ranPlain.stderr)")

            let ran = w.runContainer(a, bundle: try w.bundle(a, script: script))
            #expect(ran.stdout.contains("made=0"), "\(ran.stdout) \(ran.stderr)")
            // A character device 1, 3 owned by the container's root (uid 0 in its namespace).
            #expect(ran.stdout.range(of: #"crw-r--r-- +1 0 +0 +1, +3 .*/dev/null-like"#, options: .regularExpression) != nil, "\(ran.stdout)")
            #expect(ran.stdout.contains("zero=1"), "\(ran.stdout)")
            #expect(ran.stdout.contains("tmp=1"), "\(ran.stdout)")
            #expect(ran.stderr.contains("/dev/zero-like: No such file"), "\(ran.stderr)")
            let d = w.decisions(a)
            #expect(d.map { $0["decision"] as? String ?? "" } == ["allow", "deny", "deny"], "\(w.log)")
            #expect((d.first?["args"] as? [String: Any])?["dev"] as? String == "1:3")
        }
    }

    @Test func flippingThePathDuringTheCheckNeverMountsBar() throws {
        let a = "agent-a-\(pid)"
        try withWorld("toctou", policy: scenarioPolicy(a)) { w in
            try w.startAgent()
            let script = "/notify-helper race 3000; echo bar=$(grep -c ' /bar ' /proc/self/mounts); echo foo=$(grep -c ' /foo ' /proc/self/mounts)"
            let ran = w.runContainer(a, bundle: try w.bundle(a, script: script), timeout: 180)
            #expect(ran.stdout.contains("race attempts=3000"), "\(ran.stdout) \(ran.stderr)")
            #expect(ran.stdout.contains("bar=0"), "\(ran.stdout)")
            #expect(ran.stdout.contains("foo=0"), "\(ran.stdout)")
            // The race really raced: some copies were /foo (allowed), others not. (Identical
            // decisions are summarized: a "repeated" line stands for `times` calls.)
            let d = w.decisions(a).filter { $0["syscall"] as? String == "mount" }
            let allowed = d.filter { $0["decision"] as? String == "allow" }
            #expect(w.calls(a, syscall: "mount") == 3000, "\(w.log)")
            #expect(!allowed.isEmpty && allowed.count < d.count)
            #expect(allowed.allSatisfy { $0["path"] as? String == "/foo" })
        }
    }

    @Test func notifiedCallsFailWithENOSYSOnceTheAgentIsGone() throws {
        let a = "agent-a-\(pid)"
        try withWorld("death", policy: scenarioPolicy(a)) { w in
            try w.startAgent()
            let bundle = try w.bundle(a, script: "/notify-helper mount /foo; while [ ! -e /go ]; do sleep 0.05; done; /notify-helper mount /foo; echo foo=$(grep -c ' /foo ' /proc/self/mounts)")
            let container = w.startContainer(a, bundle: bundle)
            #expect(eventually { w.decisions(a).count == 1 }, "\(w.log)")
            w.killAgent(SIGKILL)
            FileManager.default.createFile(atPath: bundle + "/rootfs/go", contents: nil)
            let ran = container.wait(timeout: 30)
            #expect(ran.stdout.contains("mount /foo errno=0"), "\(ran.stdout) \(ran.stderr)")
            // Fail closed: the second call, made with no agent, is refused by the kernel.
            #expect(ran.stdout.contains("mount /foo errno=38"), "\(ran.stdout)")
            #expect(ran.stdout.contains("foo=1"), "\(ran.stdout)")
        }
    }

    @Test func sighupReloadsThePolicyWithoutDroppingLiveContainers() throws {
        let r = "agent-r-\(pid)"
        try withWorld("reload", policy: #"{"containers": []}"#) { w in
            try w.startAgent()
            let bundle = try w.bundle(r, script: "/notify-helper mount /foo; while [ ! -e /go ]; do sleep 0.05; done; /notify-helper mount /foo")
            let container = w.startContainer(r, bundle: bundle)
            #expect(eventually { w.decisions(r).count == 1 }, "\(w.log)")
            // A broken file is refused and the old policy kept.
            try "{\"containers\": [{\"match\": {}, \"mount\": [{\"fstype\": [\"tmpfs\"], \"destination\": \"foo\"}]}]}"
                .write(toFile: w.policyPath, atomically: true, encoding: .utf8)
            kill(w.agent!.process.processIdentifier, SIGHUP)
            #expect(eventually { w.log.contains("\"reload-failed\"") }, "\(w.log)")
            #expect(w.log.contains("destination: must be an absolute path"), "\(w.log)")
            try scenarioPolicy(r).write(toFile: w.policyPath, atomically: true, encoding: .utf8)
            kill(w.agent!.process.processIdentifier, SIGHUP)
            #expect(eventually { w.log.contains("\"rematch\"") }, "\(w.log)")
            FileManager.default.createFile(atPath: bundle + "/rootfs/go", contents: nil)
            let ran = container.wait(timeout: 30)
            #expect(ran.stdout.contains("mount /foo errno=1\n"), "\(ran.stdout)")
            #expect(ran.stdout.contains("mount /foo errno=0\n"), "\(ran.stdout)")
        }
    }

    @Test func aContainerDyingMidRequestDoesNotDisturbOthers() throws {
        let a = "agent-a-\(pid)", other = "agent-a-other-\(pid)"
        try withWorld("dying", policy: scenarioPolicy("agent-a-*")) { w in
            try w.startAgent()
            // Hundreds of calls in flight, killed from outside while the agent answers them.
            let dying = w.startContainer(a, bundle: try w.bundle(a, script: "/notify-helper race 100000"))
            #expect(eventually { w.calls(a) > 50 }, "\(w.log)")
            run(AgentEnvironment.runtime, ["--root", w.stateRoot, "kill", a, "KILL"])
            _ = dying.wait(timeout: 30)
            let ran = w.runContainer(other, bundle: try w.bundle(other, script: "/notify-helper mount /foo; /notify-helper mount /bar"))
            #expect(ran.stdout.contains("mount /foo errno=0") && ran.stdout.contains("mount /bar errno=1"), "\(ran.stdout) \(ran.stderr)")
            #expect(w.agent?.process.isRunning == true)
        }
    }
}
