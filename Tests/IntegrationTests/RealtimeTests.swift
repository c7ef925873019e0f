// Real-time cgroup budgets (v1 cpu.rt_runtime_us) and SCHED_FIFO containers.
import Foundation
import Testing
import TestSupport

extension RuntimeIntegration {
    /// The v1 cpu hierarchy, when the kernel has real-time group scheduling.
    private func realtimeHierarchy() throws -> String {
        guard case .v1(let path) = KernelFacts.place(of: "cpu") else {
            try skip("no v1 cpu hierarchy: real-time budgets are a cgroup v1 feature")
        }
        guard KernelFacts.cgroupHas("cpu", "cpu.rt_runtime_us") == true else {
            try skip("no cpu.rt_runtime_us: the kernel lacks CONFIG_RT_GROUP_SCHED")
        }
        return path
    }

    private func budget(_ cgroup: String) -> Int? {
        guard let text = try? String(contentsOfFile: cgroup + "/cpu.rt_runtime_us", encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private func realtime(_ c: TestContainer, runtime: Int?) {
        var linux = c.linux
        var resources = linux["resources"] as? [String: Any] ?? [:]
        if let runtime { resources["cpu"] = ["realtimeRuntime": runtime, "realtimePeriod": 1_000_000] }
        linux["resources"] = resources
        c.linux = linux
        var process = c.process
        process["scheduler"] = ["policy": "SCHED_FIFO", "priority": 1]
        c.process = process
    }

    /// Field 41 of /proc/PID/stat: the scheduling policy (1 is SCHED_FIFO).
    private func policy(_ statLine: String) -> String? {
        guard let close = statLine.lastIndex(of: ")") else { return nil }
        let fields = statLine[statLine.index(after: close)...].split(separator: " ")
        // Fields after comm start at 3 (state).
        return fields.count > 38 ? String(fields[38]) : nil
    }

    /// A parent of the test's own below swiftlet's ("/swiftlet/<group>"), so that tests
    /// running at the same time do not see each other's budgets.
    private func placeIn(_ c: TestContainer, group: String, id: String) {
        var linux = c.linux
        linux["cgroupsPath"] = group + "/" + id
        c.linux = linux
    }

    @Test("realtimeRuntime under swiftlet's parents runs a SCHED_FIFO container")
    func realtimeBudgetRunsFIFO() throws {
        let hierarchy = try realtimeHierarchy()
        let group = "swiftlet-it-rt-\(getpid())-fifo"
        let parent = hierarchy + "/swiftlet/" + group
        try withContainer("rt-fifo") { c in
            realtime(c, runtime: 10000)
            placeIn(c, group: group, id: c.id)
            c.shell("cat /proc/self/stat; cat /proc/self/cgroup")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            #expect(policy(result.stdout) == "1", "the container's process must run SCHED_FIFO: \(result.stdout)")
            #expect(!FileManager.default.fileExists(atPath: parent), "swiftlet's emptied parent goes with the container")
            c.expectNothingLeft("after run")
        }
    }

    @Test("two real-time containers at once: the parents swiftlet made hold both budgets and give each back")
    func realtimeBudgetTwoContainers() throws {
        let hierarchy = try realtimeHierarchy()
        let group = "swiftlet-it-rt-\(getpid())-two"
        let parent = hierarchy + "/swiftlet/" + group
        try withContainer("rt-two") { c in
            realtime(c, runtime: 10000)
            c.shell("sleep 60")
            let second = c.id + "-b"
            placeIn(c, group: group, id: c.id)
            let first = try c.create()
            try #require(first.succeeded, "\(first.summary)")
            placeIn(c, group: group, id: second)
            let other = try c.create(id: second)
            try #require(other.succeeded, "\(other.summary)")
            #expect(budget(parent) == 20000, "the parent holds both budgets")
            #expect((budget(hierarchy + "/swiftlet") ?? 0) >= 20000, "so does swiftlet's top parent")
            for id in [c.id, second] {
                #expect(c.runtime(["start", id]).succeeded)
                #expect(budget(parent + "/" + id) == 10000, "\(id)'s own budget")
                let pid = c.state(id)?["pid"] as? Int ?? 0
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                #expect(policy(stat) == "1", "\(id) must run SCHED_FIFO: \(stat)")
            }
            #expect(c.runtime(["delete", "--force", second]).succeeded)
            #expect(budget(parent) == 10000, "the parent gives the deleted container's budget back")
            #expect(c.runtime(["delete", "--force", c.id]).succeeded)
            #expect(!FileManager.default.fileExists(atPath: parent), "the emptied parent is removed")
            c.expectNothingLeft("after delete")
        }
    }

    @Test("SCHED_FIFO without a real-time budget is refused with one line naming cpu.rt_runtime_us")
    func realtimeSchedulerWithoutBudget() throws {
        let hierarchy = try realtimeHierarchy()
        try withContainer("rt-none") { c in
            realtime(c, runtime: nil)
            c.shell("true")
            let result = try c.run()
            #expect(!result.succeeded, "\(result.summary)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "one line: \(result.stderr)")
            #expect(result.stderr.contains("cpu.rt_runtime_us") && result.stderr.contains("realtimeRuntime"),
                    "the error names the file and the config field: \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: hierarchy + "/swiftlet/" + c.id))
            c.expectNothingLeft("after the refused run")
        }
    }

    @Test("an absolute cgroupsPath gets only its own budget written: a parent without budget is left alone and named")
    func realtimeAbsolutePathLeavesParentAlone() throws {
        let hierarchy = try realtimeHierarchy()
        let parentName = "swiftlet-it-rt-abs-\(getpid())"
        let parent = hierarchy + "/" + parentName
        try #require(mkdir(parent, 0o755) == 0, "mkdir \(parent): errno \(errno)")
        defer {
            // The runtime makes the path in every hierarchy; the parents there are this test's.
            for h in KernelFacts.v1.map(\.path) + [KernelFacts.unified?.path].compactMap({ $0 }) {
                rmdir(h + "/" + parentName + "/inner")
                rmdir(h + "/" + parentName)
            }
        }
        try withContainer("rt-abs") { c in
            realtime(c, runtime: 10000)
            var linux = c.linux
            linux["cgroupsPath"] = "/" + parentName + "/inner"
            c.linux = linux
            c.shell("true")
            let result = try c.run()
            #expect(!result.succeeded, "\(result.summary)")
            #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
            #expect(result.stderr.contains(parent + "/inner/cpu.rt_runtime_us"), "names the file: \(result.stderr)")
            #expect(budget(parent) == 0, "a parent swiftlet did not create is never given a budget")
            #expect(!FileManager.default.fileExists(atPath: parent + "/inner"))
            c.expectNothingLeft("after the refused run")
        }
    }
}
