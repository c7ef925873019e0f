// A container cannot flood the agent's log: identical decisions are summarized per
// container, the file is rotated at its cap, and other containers are still served.
import Foundation
import Testing

private let pid = getpid()

/// The served container may mount tmpfs on /foo; the flooder has no entry (every call a
/// quick denial).
private func floodPolicy(_ served: String) -> String {
    #"{"containers": [{"match": {"id": "\#(served)"}, "mount": [{"fstype": ["tmpfs"], "destination": "/foo"}]}]}"#
}

private func records(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

@Suite(.serialized, .enabled(if: AgentEnvironment.enabled, "needs root and the swiftlet binary"))
struct AgentLogTests {
    /// 20,000 identical denied calls (mknod, which libc makes as mknodat): a handful of lines, and "repeated" summaries whose
    /// counts add up to exactly the calls made.
    @Test func aFloodingContainerLeavesABoundedLogWithTheRightCount() throws {
        let flooder = "agent-flood-\(pid)"
        try withWorld("flood", policy: floodPolicy("nobody")) { w in
            try w.startAgent()
            let ran = w.runContainer(flooder, bundle: try w.bundle(flooder, script: "/notify-helper flood 20000"), timeout: 120)
            #expect(ran.stdout.contains("flood calls=20000"), "\(ran.stdout) \(ran.stderr)")
            // The summary of the last window is written when the container detaches.
            #expect(eventually { w.log.contains(#""event":"detach""#) })
            let mine = w.decisions(flooder)
            let summaries = mine.filter { $0["event"] as? String == "repeated" }
            #expect(!summaries.isEmpty, "\(w.log.prefix(2000))")
            #expect(w.calls(flooder) == 20000, "\(w.log.prefix(4000))")
            #expect(summaries.allSatisfy { $0["syscall"] as? String == "mknodat" && $0["reason"] as? String == "no policy entry" }, "\(summaries)")
            // At most 5 lines per second of flooding, and one summary per second.
            #expect(mine.count - summaries.count <= 5 * summaries.count, "\(mine.count) lines")
            let lines = w.log.split(separator: "\n").count, bytes = w.log.utf8.count
            #expect(lines < 200 && bytes < 64 * 1024, "\(lines) lines, \(bytes) bytes")
        }
    }

    /// With --log-max-size 4k, distinct decisions (paths differ) take the log past the
    /// cap: it is renamed to .1 and started anew, neither file larger than the cap, every
    /// line whole.
    @Test func theLogIsRotatedAtItsCap() throws {
        let a = "agent-rotate-\(pid)"
        try withWorld("rotate", policy: floodPolicy(a)) { w in
            try w.startAgent(["--log-max-size", "4k"])
            let script = "for i in $(seq 40); do /notify-helper mount /bar$i; done"
            let ran = w.runContainer(a, bundle: try w.bundle(a, script: script))
            #expect(ran.stdout.split(separator: "\n").filter { $0.hasSuffix("errno=1") }.count == 40, "\(ran.stdout) \(ran.stderr)")
            #expect(eventually { w.log.contains(#""event":"detach""#) })
            let previous = (try? String(contentsOfFile: w.logPath + ".1", encoding: .utf8)) ?? ""
            #expect(!previous.isEmpty, "no \(w.logPath).1")
            for text in [previous, w.log] {
                #expect(text.utf8.count <= 4096, "\(text.utf8.count) bytes")
                #expect(records(text).count == text.split(separator: "\n").count, "a broken line: \(text)")
            }
            // The last decisions are in the current file.
            #expect(records(w.log).contains { ($0["path"] as? String) == "/bar40" }, "\(w.log)")
            let mode = ((try? FileManager.default.attributesOfItem(atPath: w.logPath))?[.posixPermissions] as? NSNumber)?.intValue
            #expect(mode == 0o600)
        }
    }

    /// While one container floods, another's calls are answered correctly and logged
    /// line by line, and the flood's share of the log stays bounded.
    @Test func anotherContainerIsServedDuringAFlood() throws {
        let flooder = "agent-flood2-\(pid)", served = "agent-served-\(pid)"
        try withWorld("flood2", policy: floodPolicy(served)) { w in
            try w.startAgent()
            let began = Date()
            let flooding = w.startContainer(flooder, bundle: try w.bundle(flooder, script: "/notify-helper flood 0"))
            #expect(eventually { w.calls(flooder) > 1000 }, "\(w.log.prefix(2000))")
            let t0 = Date()
            let ran = w.runContainer(served, bundle: try w.bundle(served, script: "/notify-helper mount /foo; /notify-helper mount /bar"))
            let took = Date().timeIntervalSince(t0)
            #expect(ran.stdout.contains("mount /foo errno=0") && ran.stdout.contains("mount /bar errno=1"), "\(ran.stdout) \(ran.stderr)")
            #expect(took < 10, "the served container took \(took) s")
            let results = w.decisions(served).map { ($0["path"] as? String ?? "") + " " + ($0["result"] as? String ?? "") }
            #expect(results == ["/foo ok", "/bar operation not permitted"], "\(results)")
            let seconds = Int(Date().timeIntervalSince(began)) + 2
            let floodLines = w.decisions(flooder).filter { $0["event"] == nil }.count
            #expect(floodLines <= 5 * seconds, "\(floodLines) lines of flooding in about \(seconds) s")
            run(AgentEnvironment.runtime, ["--root", w.stateRoot, "kill", flooder, "KILL"])
            _ = flooding.wait(timeout: 30)
        }
    }
}
