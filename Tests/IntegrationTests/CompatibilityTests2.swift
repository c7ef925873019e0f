// Behaviour images, hooks and tools rely on in runc and crun: exec into sub-cgroups, ps
// through the host's ps, debug logs, socket activation, memory policy, devices in a user
// namespace.
import Foundation
import Testing

extension RuntimeIntegration {
    /// Creates and starts a container running `sleep 300`; returns its init's host pid.
    private func startSleeper(_ c: TestContainer) throws -> Int {
        c.shell("exec sleep 300")
        try c.mustCreate()
        let started = c.runtime(["start", c.id])
        try #require(started.succeeded, "\(started.summary)")
        return try #require(c.state()?["pid"] as? Int, "no pid in state")
    }

    /// "controllers:path" of each line of /proc/PID/cgroup text.
    private func cgroupLines(_ text: String) -> [(controllers: String, path: String)] {
        text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            return parts.count == 3 ? (String(parts[1]), String(parts[2])) : nil
        }
    }

    @Test("exec --cgroup joins a sub-cgroup of the container's (v1 controller:path and plain forms), refuses escapes")
    func execIntoSubCgroup() throws {
        guard let memory = KernelFacts.v1.first(where: { $0.controllers.contains("memory") }) else {
            try skip("no v1 memory hierarchy on this host")
        }
        try withContainer("execcg") { c in
            let pid = try startSleeper(c)
            let initLines = cgroupLines(try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8))
            let base = try #require(initLines.first { $0.controllers.split(separator: ",").contains("memory") }?.path)
            // The plain form names a sub-cgroup in every hierarchy; memory:sub only in one.
            try FileManager.default.createDirectory(atPath: memory.path + base + "/sub", withIntermediateDirectories: false)
            for h in KernelFacts.v1 {
                try FileManager.default.createDirectory(atPath: h.path + base + "/all", withIntermediateDirectories: false)
                // A new v1 cpuset cgroup takes no task until it has cpus and mems.
                for file in ["cpuset.cpus", "cpuset.mems"] where h.controllers.contains("cpuset") {
                    try String(contentsOfFile: h.path + base + "/" + file, encoding: .utf8)
                        .write(toFile: h.path + base + "/all/" + file, atomically: false, encoding: .utf8)
                }
            }

            let one = c.runtime(["exec", "--cgroup", "memory:sub", c.id, "cat", "/proc/self/cgroup"])
            try #require(one.succeeded, "\(one.summary)")
            for (controllers, path) in cgroupLines(one.stdout) where !controllers.isEmpty {
                let expected = controllers.split(separator: ",").contains("memory") ? base + "/sub" : base
                #expect(path == expected, "\(controllers): \(one.stdout)")
            }

            let all = c.runtime(["exec", "--cgroup", "/all", c.id, "cat", "/proc/self/cgroup"])
            try #require(all.succeeded, "\(all.summary)")
            for (controllers, path) in cgroupLines(all.stdout) where !controllers.isEmpty {
                #expect(path == base + "/all", "\(controllers): \(all.stdout)")
            }

            for bad in ["../escape", "memory:/../../escape", "memory:sub/../.."] {
                let refused = c.runtime(["exec", "--cgroup", bad, c.id, "true"])
                #expect(!refused.succeeded, "--cgroup \(bad) must be refused: \(refused.summary)")
                #expect(refused.stderr.split(separator: "\n").count == 1, "one line: \(refused.summary)")
                #expect(refused.stderr.contains("not a sub-cgroup"), "\(refused.summary)")
            }
            let missing = c.runtime(["exec", "--cgroup", "memory:nonexistent", c.id, "true"])
            #expect(!missing.succeeded && missing.stderr.contains("does not exist"), "\(missing.summary)")

            let deleted = c.runtime(["delete", "--force", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            #expect(!FileManager.default.fileExists(atPath: memory.path + base), "container cgroup left behind")
            c.expectNothingLeft("after delete")
        }
    }

    @Test("ps runs the host's ps (default -ef, or the given options) and keeps only the container's processes")
    func psTable() throws {
        try withContainer("ps") { c in
            _ = try startSleeper(c)
            let json = c.runtime(["ps", "--format", "json", c.id])
            try #require(json.succeeded, "\(json.summary)")
            let pids = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [Int])
            #expect(!pids.isEmpty)

            let hostHeader = runCommand("/bin/sh", ["-c", "ps -ef | head -1"]).stdout
            let table = c.runtime(["ps", c.id])
            try #require(table.succeeded, "\(table.summary)")
            let lines = table.stdoutLines
            #expect(lines.first.map { $0 + "\n" } == hostHeader, "header: \(table.summary)")
            let pidColumn = try #require(lines.first?.split(separator: " ").firstIndex(of: "PID"))
            let shown = lines.dropFirst().compactMap { Int($0.split(separator: " ")[pidColumn]) }
            #expect(Set(shown) == Set(pids), "\(table.summary) vs \(pids)")
            #expect(lines.dropFirst().allSatisfy { $0.contains("sleep 300") }, "\(table.summary)")

            let custom = c.runtime(["ps", c.id, "-o", "pid,comm"])
            try #require(custom.succeeded, "\(custom.summary)")
            #expect(custom.stdoutLines.first?.split(separator: " ") == ["PID", "COMMAND"], "\(custom.summary)")
            #expect(custom.stdoutLines.dropFirst().map { $0.split(separator: " ").last.map(String.init) } == pids.map { _ in "sleep" },
                    "\(custom.summary)")

            let deleted = c.runtime(["delete", "--force", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            c.expectNothingLeft("after delete")
        }
    }

    @Test("--debug --log writes a line per stage of create, start and exec, as text or runc's JSON; --log creates the file")
    func debugLog() throws {
        try withContainer("debuglog") { c in
            let jsonLog = c.workDir + "/debug.json"
            let textLog = c.workDir + "/debug.txt"
            c.shell("exec sleep 300")
            try c.writeConfig()
            let created = c.runtime(["--debug", "--log", jsonLog, "--log-format", "json", "create", "--bundle", c.bundle, c.id])
            try #require(created.succeeded, "\(created.summary)")
            let started = c.runtime(["--debug", "--log", jsonLog, "--log-format", "json", "start", c.id])
            try #require(started.succeeded, "\(started.summary)")
            let exec = c.runtime(["--debug", "--log", textLog, "exec", c.id, "true"])
            try #require(exec.succeeded, "\(exec.summary)")

            let entries = try String(contentsOfFile: jsonLog, encoding: .utf8).split(separator: "\n").map { line in
                try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "not JSON: \(line)")
            }
            #expect(entries.allSatisfy { Set($0.keys) == ["level", "msg", "time"] && $0["level"] == "debug" }, "\(entries)")
            let messages = entries.compactMap { $0["msg"] }.joined(separator: "\n")
            for stage in ["config loaded", "cgroup", "init spawned", "namespaces", "rootfs ready", "hooks", "process started"] {
                #expect(messages.contains(stage), "no \(stage) line in \(messages)")
            }
            let text = try String(contentsOfFile: textLog, encoding: .utf8).split(separator: "\n")
            #expect(!text.isEmpty && text.allSatisfy { $0.hasPrefix("time=\"") && $0.contains(" level=debug msg=\"") }, "\(text)")
            #expect(text.contains { $0.contains("process started") }, "\(text)")

            // Nothing to log: the file is still there.
            let quiet = c.workDir + "/quiet.log"
            let list = c.runtime(["--log", quiet, "list"])
            #expect(list.succeeded, "\(list.summary)")
            #expect(FileManager.default.fileExists(atPath: quiet), "--log did not create \(quiet)")

            let deleted = c.runtime(["delete", "--force", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            c.expectNothingLeft("after delete")
        }
    }

    @Test("socket activation: LISTEN_FDS for the runtime's pid passes the fds on with LISTEN_FDS=N and LISTEN_PID=1")
    func socketActivation() throws {
        try withContainer("listenfds") { c in
            let socketStandIn = c.workDir + "/activation"
            try "activated\n".write(toFile: socketStandIn, atomically: true, encoding: .utf8)
            c.shell("echo \"fds=$LISTEN_FDS pid=$LISTEN_PID\"; cat <&3")
            try c.writeConfig()
            // exec keeps the shell's pid, so LISTEN_PID names the runtime as systemd's would.
            let script = "export LISTEN_FDS=1 LISTEN_PID=$$; exec '\(Environment.runtime!)' --root '\(c.stateRoot)' run --bundle '\(c.bundle)' \(c.id)"
            let result = try Spawned("/bin/sh", ["-c", script], inheritedFile: socketStandIn).wait()
            #expect(result.status == 0, "\(result.summary)")
            #expect(result.stdoutLines == ["fds=1 pid=1", "activated"], "\(result.summary)")

            // LISTEN_PID of another process: not ours, nothing passed (sd_listen_fds' rule).
            let other = "export LISTEN_FDS=1 LISTEN_PID=1; exec '\(Environment.runtime!)' --root '\(c.stateRoot)' run --bundle '\(c.bundle)' \(c.id)"
            let ignored = try Spawned("/bin/sh", ["-c", other], inheritedFile: socketStandIn).wait()
            #expect(ignored.stdoutLines.first == "fds= pid=", "\(ignored.summary)")
            #expect(!ignored.stdout.contains("activated"), "\(ignored.summary)")
            c.expectNothingLeft("after run")
        }
    }

    @Test("linux.memoryPolicy is applied with set_mempolicy before the process runs")
    func memoryPolicy() throws {
        guard FileManager.default.fileExists(atPath: "/proc/self/numa_maps") else {
            try skip("the kernel has no NUMA support (no /proc/self/numa_maps)")
        }
        for (mode, shown) in [("MPOL_BIND", "bind:0"), ("MPOL_PREFERRED", "prefer:0")] {
            try withContainer("mempolicy") { c in
                c.linux["memoryPolicy"] = ["mode": mode, "nodes": "0"]
                c.shell("head -1 /proc/self/numa_maps")
                let result = try c.run()
                #expect(result.status == 0, "\(result.summary)")
                #expect(result.stdout.split(separator: " ").dropFirst().first.map(String.init) == shown, "\(mode): \(result.summary)")
                c.expectNothingLeft("after run")
            }
        }
        try withContainer("mempolicybad") { c in
            c.linux["memoryPolicy"] = ["mode": "MPOL_BIND", "nodes": "63"]
            c.shell("true")
            let result = try c.run()
            #expect(result.status != 0, "a node this host lacks must fail: \(result.summary)")
            #expect(result.stderr.contains("memoryPolicy") && result.stderr.split(separator: "\n").count == 1, "\(result.summary)")
            c.expectNothingLeft("after a refused run")
        }
    }

    @Test("in a user namespace, linux.devices: a host node is bound nosuid,noexec; a missing one fails naming it")
    func devicesInUserNamespace() throws {
        guard KernelFacts.hasNamespace("user") else { try skip("no user namespaces") }
        try withContainer("usernsdev") { c in
            c.addUserNamespace()
            c.linux["devices"] = [["path": "/dev/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 438]]
            c.shell("grep ' /dev/zero ' /proc/self/mountinfo")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            let options = result.stdout.split(separator: " ").dropFirst(5).first.map { $0.split(separator: ",") } ?? []
            #expect(options.contains("nosuid") && options.contains("noexec"), "\(result.summary)")
            c.expectNothingLeft("after run")
        }
        try withContainer("usernsnodev") { c in
            c.addUserNamespace()
            let missing = "/dev/swiftlet-missing-\(getpid())"
            c.linux["devices"] = [["path": missing, "type": "c", "major": 1, "minor": 3]]
            c.shell("true")
            let result = try c.run()
            #expect(result.status != 0, "\(result.summary)")
            #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.summary)")
            #expect(result.stderr.contains(missing) && result.stderr.contains("does not exist on the host"), "\(result.summary)")
            c.expectNothingLeft("after a refused run")
        }
    }
}
