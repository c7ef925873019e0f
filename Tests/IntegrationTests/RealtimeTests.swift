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

    @Test("realtimeRuntime under swiftlet's parent runs a SCHED_FIFO container, and the budget goes back")
    func realtimeBudgetRunsFIFO() throws {
        let hierarchy = try realtimeHierarchy()
        let parent = hierarchy + "/swiftlet"
        let before = budget(parent) ?? 0
        try withContainer("rt-fifo") { c in
            realtime(c, runtime: 10000)
            c.shell("cat /proc/self/stat")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            #expect(policy(result.stdout) == "1", "the container's process must run SCHED_FIFO: \(result.stdout)")
            #expect((budget(parent) ?? 0) == before, "swiftlet's parent must give the budget back")
            c.expectNothingLeft("after run")
        }
    }

    @Test("two real-time containers at once share swiftlet's parent budget")
    func realtimeBudgetTwoContainers() throws {
        let hierarchy = try realtimeHierarchy()
        let parent = hierarchy + "/swiftlet"
        let before = budget(parent) ?? 0
        try withContainer("rt-two") { c in
            realtime(c, runtime: 10000)
            c.shell("sleep 60")
            let second = c.id + "-b"
            let first = try c.create()
            try #require(first.succeeded, "\(first.summary)")
            let other = try c.create(id: second)
            try #require(other.succeeded, "\(other.summary)")
            for id in [c.id, second] {
                #expect(c.runtime(["start", id]).succeeded)
                #expect(budget(parent + "/" + id) == 10000, "\(id)'s own budget")
                let pid = c.state(id)?["pid"] as? Int ?? 0
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                #expect(policy(stat) == "1", "\(id) must run SCHED_FIFO: \(stat)")
            }
            #expect((budget(parent) ?? 0) >= before + 20000, "the parent holds both budgets")
            for id in [c.id, second] {
                #expect(c.runtime(["delete", "--force", id]).succeeded)
            }
            #expect((budget(parent) ?? 0) == before, "swiftlet's parent must give both budgets back")
            #expect(!FileManager.default.fileExists(atPath: parent + "/" + second))
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
