// Which container a notify fd belongs to is the runtime's to say: a peer that reaches the
// agent's socket cannot attach under another container's id, and the socket is root's.
import Foundation
import Testing
@testable import Agent

private let pid = getpid()

/// The victim may mount tmpfs on /foo; nobody else has an entry.
private func victimPolicy(_ victim: String) -> String {
    #"{"containers": [{"match": {"id": "\#(victim)"}, "mount": [{"fstype": ["tmpfs"], "destination": "/foo"}]}]}"#
}

private func attachEvents(_ w: AgentWorld, _ id: String) -> Int {
    w.log.split(separator: "\n").filter { $0.contains(#""event":"attach""#) && $0.contains(#""container":"\#(id)""#) }.count
}

@Suite(.serialized, .enabled(if: AgentEnvironment.enabled, "needs root and the swiftlet binary"))
struct AgentAttachTests {
    /// A container whose root is host root and that can reach the socket (bind-mounted in,
    /// as with /run in a pod) sends its own notify fd claiming the victim's id, without a
    /// token and with a wrong one: refused, its mount is not performed (ENOSYS: no agent
    /// holds its fd), while the victim itself attached and was served.
    @Test func aPeerClaimingAnotherContainersIdGetsNoRules() throws {
        let victim = "agent-victim-\(pid)", attacker = "agent-attacker-\(pid)"
        try withWorld("impostor", policy: victimPolicy(victim)) { w in
            try w.startAgent()
            let victimBundle = try w.bundle(victim, script: "/notify-helper mount /foo; while [ ! -e /go ]; do sleep 0.05; done")
            let running = w.startContainer(victim, bundle: victimBundle)
            #expect(eventually { w.decisions(victim).count == 1 }, "\(w.log)")
            #expect(w.decisions(victim).first?["result"] as? String == "ok", "\(w.log)")

            let script = "/notify-helper impostor /agent.sock \(victim); "
                + "/notify-helper impostor /agent.sock \(victim) 00112233445566778899aabbccddeeff; "
                + "grep -c ' /foo ' /proc/self/mounts; echo end"
            let bundle = try w.bundle(attacker, script: script, notify: []) { config in
                withoutUserNamespace(&config)
                var mounts = config["mounts"] as! [[String: Any]]
                mounts.append(["destination": "/agent.sock", "type": "bind", "source": w.socket, "options": ["bind"]])
                config["mounts"] = mounts
            }
            let ran = w.runContainer(attacker, bundle: bundle)
            let lines = ran.stdout.split(separator: "\n").map(String.init)
            #expect(lines.filter { $0 == "impostor mount errno=38" }.count == 2, "\(ran.stdout) \(ran.stderr)")
            #expect(lines.contains("0"), "no mount on /foo in the attacker: \(ran.stdout)")
            #expect(w.decisions(victim).count == 1, "\(w.log)")
            #expect(attachEvents(w, victim) == 1, "\(w.log)")
            #expect(w.log.contains("no attach token") && w.log.contains("wrong attach token"), "\(w.log)")

            FileManager.default.createFile(atPath: victimBundle + "/rootfs/go", contents: nil)
            _ = running.wait(timeout: 30)
        }
    }

    @Test func theSocketIsRootsAlone() throws {
        try withWorld("mode", policy: #"{"containers": []}"#) { w in
            try w.startAgent()
            let attributes = try FileManager.default.attributesOfItem(atPath: w.socket)
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
            #expect(mode == 0o600, "socket mode \(String(mode, radix: 8))")
            #expect((attributes[.ownerAccountID] as? NSNumber)?.intValue == 0)
        }
    }

    /// With the socket root's alone (set here too, whatever the agent did), a container in
    /// a user namespace still attaches, and so does a process exec'd into it: swiftlet
    /// reaches the agent from the host.
    @Test func aUserNamespaceContainerAttachesThroughARootOnlySocket() throws {
        let a = "agent-userns-\(pid)"
        try withWorld("userns", policy: victimPolicy(a)) { w in
            try w.startAgent()
            #expect(chmod(w.socket, 0o600) == 0)
            let bundle = try w.bundle(a, script: "/notify-helper mount /foo; readlink /proc/self/ns/user; while [ ! -e /go ]; do sleep 0.05; done")
            let running = w.startContainer(a, bundle: bundle)
            #expect(eventually { w.decisions(a).count == 1 }, "\(w.log)")
            let exec = run(AgentEnvironment.runtime, ["--root", w.stateRoot, "exec", a, "/notify-helper", "mount", "/foo"])
            #expect(exec.stdout.contains("mount /foo errno=0"), "\(exec.stdout) \(exec.stderr)")
            FileManager.default.createFile(atPath: bundle + "/rootfs/go", contents: nil)
            let ran = running.wait(timeout: 30)
            #expect(ran.status == 0, "\(ran.stderr)")
            #expect(ran.stdout.contains("mount /foo errno=0"), "\(ran.stdout) \(ran.stderr)")
            let hostUserNamespace = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/user")) ?? ""
            #expect(!hostUserNamespace.isEmpty && !ran.stdout.contains(hostUserNamespace), "\(ran.stdout)")
            #expect(attachEvents(w, a) == 2, "\(w.log)")
            #expect(w.decisions(a).map { $0["result"] as? String } == ["ok", "ok"], "\(w.log)")
        }
    }

    /// The check itself, on a state root made here: the token file must be root's alone
    /// and not a symlink; the metadata must be the stored config's; the entry is chosen by
    /// the stored annotations.
    @Test func attachChecksTokenAndStoredConfig() throws {
        let root = NSTemporaryDirectory() + "swiftlet-attach-\(pid)"
        let dir = root + "/c1"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let token = "0123456789abcdef0123456789abcdef"
        #expect(FileManager.default.createFile(atPath: dir + "/agent-token", contents: Data(token.utf8), attributes: [.posixPermissions: 0o600]))
        let config = #"{"annotations": {"tier": "db"}, "linux": {"seccomp": {"listenerMetadata": "m1"}}}"#
        #expect(FileManager.default.createFile(atPath: dir + "/config.json", contents: Data(config.utf8), attributes: [.posixPermissions: 0o600]))

        func refusal(_ id: String, _ token: String?, _ metadata: String?) -> String? {
            if case .refused(let r) = checkAttach(stateRoot: root, id: id, token: token, claimedMetadata: metadata) { return r }
            return nil
        }
        guard case .accepted(let annotations, let metadata) = checkAttach(stateRoot: root, id: "c1", token: token, claimedMetadata: "m1") else {
            Issue.record("refused: \(refusal("c1", token, "m1") ?? "")")
            return
        }
        #expect(annotations.map { $0.0 + "=" + $0.1 } == ["tier=db"] && metadata == "m1")
        #expect(refusal("c1", nil, "m1")?.contains("no attach token") == true)
        #expect(refusal("c1", "0123456789abcdef0123456789abcdee", "m1")?.contains("wrong attach token") == true)
        #expect(refusal("c1", token, "other")?.contains("metadata differs") == true)
        #expect(refusal("c2", token, "m1")?.contains("no attach token under") == true)
        #expect(refusal("../c1", token, "m1") != nil)
        #expect(chmod(dir + "/agent-token", 0o644) == 0)
        #expect(refusal("c1", token, "m1")?.contains("no attach token under") == true)
        #expect(chmod(dir + "/agent-token", 0o600) == 0)
        try FileManager.default.moveItem(atPath: dir + "/agent-token", toPath: root + "/elsewhere")
        try FileManager.default.createSymbolicLink(atPath: dir + "/agent-token", withDestinationPath: root + "/elsewhere")
        #expect(refusal("c1", token, "m1")?.contains("no attach token under") == true)
    }
}
