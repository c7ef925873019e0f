// Fast start: a created container started with another process, its CPU placement and
// scheduling, bad replacements, and the warm pool.
import Foundation
import Testing

extension RuntimeIntegration {
    /// A container whose placeholder waits, with a writable root so the replacement can
    /// leave its observations in /out.
    private func placeholder(_ c: TestContainer) {
        c.config["root"] = ["path": "rootfs", "readonly": false]
        c.process["args"] = ["sleep", "1000"]
    }

    private func output(_ c: TestContainer) -> String? {
        var text: String?
        _ = eventually(timeout: 60) {
            text = try? String(contentsOfFile: c.rootfs + "/out", encoding: .utf8)
            return text?.hasSuffix("end\n") == true
        }
        return text
    }

    @Test("start --arg/--env/--cpus replaces the process, pinned to the CPU asked")
    func fastStartReplacesTheProcess() throws {
        try withContainer("fast") { c in
            placeholder(c)
            c.process["env"] = ["PATH=/bin", "KEEP=1"]
            try c.mustCreate()
            let started = c.runtime(["start", "--arg", "sh", "--arg", "-c", "--arg",
                                     "echo \"$FOO $KEEP\" > /out; grep Cpus_allowed_list /proc/self/status >> /out; echo end >> /out",
                                     "--env", "FOO=bar", "--cpus", "0", c.id])
            #expect(started.succeeded, "\(started.summary)")
            let out = try #require(output(c), "the replacement wrote nothing")
            let lines = out.split(separator: "\n").map(String.init)
            #expect(lines.first == "bar 1", "env: \(out)")
            #expect(lines.contains { $0.hasPrefix("Cpus_allowed_list:") && $0.hasSuffix("\t0") }, "cpus: \(out)")
            #expect(eventually { c.status() == "stopped" })
        }
    }

    @Test("start --process sets the scheduler policy and priority the process runs with")
    func fastStartScheduler() throws {
        try withContainer("sched") { c in
            placeholder(c)
            // Real-time tasks need a real-time budget in their cpu cgroup (v1): give the
            // container one, in a cgroup right below the root, which has budget to share.
            var linux = c.linux
            linux["cgroupsPath"] = "/" + c.id
            linux["resources"] = ["cpu": ["realtimeRuntime": 10000, "realtimePeriod": 1000000]]
            c.linux = linux
            try c.mustCreate()
            let file = c.workDir + "/process.json"
            // /proc/self/stat fields 40 and 41 are rt_priority and policy (1 = SCHED_FIFO).
            let process: [String: Any] = [
                "args": ["sh", "-c", "cut -d' ' -f40,41 /proc/self/stat > /out; echo end >> /out"],
                "scheduler": ["policy": "SCHED_FIFO", "priority": 10],
                "cpu": 0,
            ]
            try JSONSerialization.data(withJSONObject: process).write(to: URL(fileURLWithPath: file))
            let started = c.runtime(["start", "--process", file, c.id])
            #expect(started.succeeded, "\(started.summary)")
            let out = try #require(output(c), "the replacement wrote nothing")
            #expect(out.hasPrefix("10 1\n"), "rt_priority and policy: \(out)")
        }
    }

    @Test("a bad replacement fails start with one line and leaves the container created")
    func badReplacementKeepsTheContainerCreated() throws {
        try withContainer("badrepl") { c in
            placeholder(c)
            try c.mustCreate()
            let pid = c.state()?["pid"] as? Int
            for bad in [["--arg", "/bin/nonexistent"], ["--cpus", "4095"]] {
                let started = c.runtime(["start"] + bad + [c.id])
                #expect(!started.succeeded, "\(bad) must fail: \(started.summary)")
                #expect(started.stderr.split(separator: "\n").count == 1, "one line: \(started.stderr)")
                #expect(c.status() == "created", "\(bad) changed the status")
                #expect(c.state()?["pid"] as? Int == pid)
            }
            let good = c.runtime(["start", "--arg", "sh", "--arg", "-c", "--arg", "echo end > /out", c.id])
            #expect(good.succeeded, "\(good.summary)")
            #expect(output(c) == "end\n")
        }
    }

    @Test("pool fill keeps members created, pool start hands one out and refills, drain leaves nothing")
    func warmPool() throws {
        try withContainer("pool") { c in
            placeholder(c)
            try c.writeConfig()
            let name = c.id + "-p"
            defer { c.runtime(["pool", "drain", name], timeout: 30) }
            let fill = c.runtime(["pool", "fill", "--bundle", c.bundle, "--size", "2", name])
            #expect(fill.succeeded, "\(fill.summary)")
            #expect(c.status(name + "-0") == "created" && c.status(name + "-1") == "created")
            let started = c.runtime(["pool", "start", "--arg", "sh", "--arg", "-c", "--arg", "echo end > /out", name])
            #expect(started.succeeded, "\(started.summary)")
            #expect(started.stdout == name + "-0\n", "the first created member: \(started.stdout)")
            #expect(output(c) == "end\n")
            // The refill in the background makes up for the member handed out.
            func createdMembers() -> [String] {
                let list = c.runtime(["list", "--format", "json"])
                guard let data = list.stdout.data(using: .utf8),
                      let all = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else { return [] }
                return all.filter { ($0["id"] as? String)?.hasPrefix(name + "-") == true && $0["status"] as? String == "created" }
                    .compactMap { $0["id"] as? String }
            }
            #expect(eventually(timeout: 60) { createdMembers().count == 2 }, "no refill: \(createdMembers())")
            let drain = c.runtime(["pool", "drain", name])
            #expect(drain.succeeded, "\(drain.summary)")
            #expect(createdMembers().isEmpty)
            c.expectNothingLeft("after drain")
        }
    }

    @Test("a pool drained before pool start's background refill gets its lock stays drained")
    func drainBeatsBackgroundRefill() throws {
        try withContainer("pooldrain") { c in
            placeholder(c)
            try c.writeConfig()
            let name = c.id + "-p"
            defer { c.runtime(["pool", "drain", name], timeout: 30) }
            let fill = c.runtime(["pool", "fill", "--bundle", c.bundle, "--size", "1", name])
            try #require(fill.succeeded, "\(fill.summary)")
            // Holding the pool's lock keeps the refill that pool start leaves in the background
            // waiting; meanwhile the pool is drained, as drain does it (members deleted, record
            // and lock file removed). The refill then wakes to a pool that no longer exists.
            let lockPath = c.stateRoot + "/.pool-" + name + ".lock"
            let lock = open(lockPath, O_RDWR)
            try #require(lock >= 0 && flock(lock, LOCK_EX) == 0, "cannot lock \(lockPath)")
            let started = c.runtime(["pool", "start", "--arg", "true", name])
            #expect(started.succeeded, "\(started.summary)")
            c.runtime(["delete", "--force", name + "-0"])
            unlink(c.stateRoot + "/.pool-" + name + ".json")
            unlink(lockPath)
            close(lock)
            #expect(!eventually(timeout: 5) { !c.stateEntries().isEmpty },
                    "the background refill brought the drained pool back: \(c.stateEntries())")
        }
    }

    @Test("pool fill, start and drain never touch a container the pool did not create, whatever its name")
    func poolIgnoresContainersNamedLikeMembers() throws {
        try withContainer("poolname") { c in
            placeholder(c)
            let name = c.id + "-p"
            // Containers created independently, named as members would be.
            let strangers = [name + "-0", name + "-7"]
            for id in strangers {
                let created = try c.create(id: id)
                try #require(created.succeeded, "\(created.summary)")
            }
            let pids = strangers.map { c.state($0)?["pid"] as? Int }
            defer { c.runtime(["pool", "drain", name], timeout: 30) }
            let fill = c.runtime(["pool", "fill", "--bundle", c.bundle, "--size", "2", name])
            #expect(fill.succeeded, "\(fill.summary)")
            let list = c.runtime(["list", "--format", "json"])
            let all = (try? JSONSerialization.jsonObject(with: Data(list.stdout.utf8))) as? [[String: Any]] ?? []
            let members = all.compactMap { $0["id"] as? String }.filter { $0.hasPrefix(name + "-") && !strangers.contains($0) }
            #expect(members.count == 2, "the pool must create two members of its own: \(list.stdout)")
            let started = c.runtime(["pool", "start", "--arg", "sh", "--arg", "-c", "--arg", "echo end > /out", name])
            #expect(started.succeeded, "\(started.summary)")
            let chosen = started.stdout.trimmingCharacters(in: .newlines)
            #expect(members.contains(chosen), "pool start chose \(chosen), not one of its members \(members)")
            let drain = c.runtime(["pool", "drain", name])
            #expect(drain.succeeded, "\(drain.summary)")
            for (id, pid) in zip(strangers, pids) {
                #expect(c.status(id) == "created", "\(id) was touched by the pool: \(c.status(id) ?? "gone")")
                #expect(c.state(id)?["pid"] as? Int == pid, "\(id) runs another process")
            }
            for id in members { #expect(c.state(id) == nil, "member \(id) survived drain") }
            for id in strangers { c.runtime(["delete", "--force", id]) }
            #expect(c.stateEntries().isEmpty, "left in the state dir: \(c.stateEntries())")
        }
    }
}
