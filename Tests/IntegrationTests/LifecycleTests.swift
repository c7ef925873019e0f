// The OCI lifecycle through the CLI: run's exit status, create/start/state/kill/delete.
import Foundation
import Testing

extension RuntimeIntegration {
    @Test("run exits with the container's exit code")
    func runExitCode() throws {
        try withContainer("exit3") { c in
            c.shell("echo bye; exit 3")
            let result = try c.run()
            #expect(result.status == 3, "\(result.summary)")
            #expect(result.stdout == "bye\n", "\(result.summary)")
            c.expectNothingLeft("after run")
        }
    }

    @Test("run of a container killed by a signal exits 128+signal")
    func runKilledBySignal() throws {
        try withContainer("sigkill") { c in
            c.shell("echo started; exec sleep 300")
            try c.writeConfig()
            let run = try c.spawnRuntime(["run", "--bundle", c.bundle, c.id])
            #expect(eventually { c.status() == "running" }, "container never reached running")
            let kill = c.runtime(["kill", c.id, "KILL"])
            #expect(kill.succeeded, "\(kill.summary)")
            let result = run.wait(timeout: 20)
            #expect(result.status == 128 + SIGKILL, "\(result.summary)")
            c.expectNothingLeft("after run")
        }
    }

    @Test("create → created, start → running, exit → stopped, delete → gone")
    func stateTransitions() throws {
        try withContainer("states") { c in
            // The marker says the TERM handler is set: pid 1 ignores a TERM that comes earlier.
            c.shell("trap 'exit 7' TERM; touch /dev/shm/trapped; while true; do sleep 0.1; done")
            let created = try c.create()
            #expect(created.succeeded, "\(created.summary)")
            let state = try #require(c.state(), "no state after create")
            #expect(state["status"] as? String == "created")
            #expect(state["id"] as? String == c.id)
            #expect(state["ociVersion"] is String)
            #expect((state["bundle"] as? String).map { URL(fileURLWithPath: $0).standardized.path }
                    == URL(fileURLWithPath: c.bundle).standardized.path, "\(state)")
            let pid = try #require(state["pid"] as? Int, "no pid in \(state)")
            #expect(pid > 0 && processIsAlive(pid), "container pid \(pid) is not alive")

            let started = c.runtime(["start", c.id])
            #expect(started.succeeded, "\(started.summary)")
            #expect(eventually { c.status() == "running" }, "not running after start")
            #expect(c.state()?["pid"] as? Int == pid, "pid changed on start")

            let again = c.runtime(["start", c.id])
            #expect(!again.succeeded, "a second start must fail: \(again.summary)")
            #expect(c.status() == "running")

            let early = c.runtime(["delete", c.id])
            #expect(!early.succeeded, "delete of a running container must fail without --force: \(early.summary)")
            #expect(c.status() == "running" && processIsAlive(pid), "delete without --force harmed the container")

            // The shell set a TERM handler, so TERM reaches it even as pid 1.
            #expect(eventually(timeout: 60) { FileManager.default.fileExists(atPath: "/proc/\(pid)/root/dev/shm/trapped") },
                    "the shell never set its TERM handler")
            let term = c.runtime(["kill", c.id, "TERM"])
            #expect(term.succeeded, "\(term.summary)")
            #expect(eventually { c.status() == "stopped" }, "not stopped after kill TERM: \(c.state() ?? [:])")

            let deleted = c.runtime(["delete", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            #expect(!processIsAlive(pid), "pid \(pid) still exists")
            c.expectNothingLeft("after delete")
        }
    }

    @Test("delete --force kills a running container and removes everything")
    func forceDelete() throws {
        try withContainer("force") { c in
            c.process["args"] = ["sleep", "300"]
            try c.mustCreate()
            #expect(c.runtime(["start", c.id]).succeeded)
            let pid = try #require(c.state()?["pid"] as? Int)
            #expect(eventually { c.status() == "running" })
            let deleted = c.runtime(["delete", "--force", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            #expect(eventually { !processIsAlive(pid) }, "pid \(pid) survived delete --force")
            c.expectNothingLeft("after delete --force")
        }
    }

    @Test("delete --force of a created container removes it")
    func deleteCreated() throws {
        try withContainer("created") { c in
            c.process["args"] = ["true"]
            try c.mustCreate()
            let pid = try #require(c.state()?["pid"] as? Int)
            // A created container has not run the user process; delete --force must clean it up.
            let deleted = c.runtime(["delete", "--force", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            #expect(eventually { !processIsAlive(pid) }, "pid \(pid) survived")
            c.expectNothingLeft("after delete of a created container")
        }
    }

    @Test("two containers with the same id cannot coexist")
    func duplicateID() throws {
        try withContainer("dup") { c in
            c.process["args"] = ["sleep", "300"]
            try c.mustCreate()
            let second = c.runtime(["create", "--bundle", c.bundle, c.id])
            #expect(!second.succeeded, "second create with the same id must fail: \(second.summary)")
            #expect(c.status() == "created", "the first container was harmed")
        }
    }

    @Test("the config written by `spec` is runc's default and runs as it is (terminal off)")
    func specRuns() throws {
        try withContainer("spec") { c in
            let spec = runCommand("/bin/sh", ["-c", "cd '\(c.bundle)' && exec '\(Environment.runtime!)' spec"])
            #expect(spec.succeeded, "\(spec.summary)")
            let data = try Data(contentsOf: URL(fileURLWithPath: c.bundle + "/config.json"))
            c.config = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let namespaces = (c.linux["namespaces"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
            #expect(Set(namespaces) == ["pid", "network", "ipc", "uts", "mount"], "spec as root: \(namespaces)")
            #expect(c.linux["uidMappings"] == nil, "spec as root wrote uid mappings")
            c.process["terminal"] = false
            c.process["args"] = ["sh", "-c", "echo hello from $(hostname)"]
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            #expect(result.stdout.hasPrefix("hello from "), "\(result.summary)")
        }
    }
}
