// What runc's clients (containerd's shim, podman) rely on beyond the OCI lifecycle;
// e2e/clients drives the clients themselves.
import Foundation
import Testing

extension RuntimeIntegration {
    @Test("kill --all reaches what a stopped init left behind (no pid namespace), kill alone does not")
    func killAllAfterInitExit() throws {
        try withContainer("killall") { c in
            // Without a pid namespace of its own, the init's children outlive it.
            c.linux["namespaces"] = (c.linux["namespaces"] as? [[String: Any]] ?? [])
                .filter { $0["type"] as? String != "pid" }
            // A duration unique to this run identifies the leftover among the host's processes.
            let seconds = 3000 + Int(getpid() % 5000)
            c.shell("sleep \(seconds) & exit 0")
            let leftovers = { sleepers(seconds) }
            try c.mustCreate()
            let started = c.runtime(["start", c.id])
            #expect(started.succeeded, "\(started.summary)")
            #expect(eventually { c.status() == "stopped" }, "init did not exit: \(c.state() ?? [:])")
            #expect(eventually { !leftovers().isEmpty }, "the background sleep is not running")

            let plain = c.runtime(["kill", c.id, "KILL"])
            #expect(!plain.succeeded, "kill of a stopped container must fail as in runc: \(plain.summary)")
            #expect(!leftovers().isEmpty, "kill without --all reached the leftover")

            let all = c.runtime(["kill", "--all", c.id, "KILL"])
            #expect(all.succeeded, "\(all.summary)")
            #expect(eventually { leftovers().isEmpty }, "left: \(leftovers())")

            let deleted = c.runtime(["delete", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            c.expectNothingLeft("after delete")
        }
    }

    @Test("delete --force of a container that does not exist succeeds (containerd's cleanup)")
    func forceDeleteOfMissing() throws {
        try withContainer("gone") { c in
            let deleted = c.runtime(["--log", c.workDir + "/log.json", "--log-format", "json", "delete", "--force", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            let plain = c.runtime(["delete", c.id])
            #expect(!plain.succeeded, "delete without --force of a missing container must fail: \(plain.summary)")
        }
    }
}

/// Pids of the host's `sleep SECONDS` processes.
private func sleepers(_ seconds: Int) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        return cmdline == Data("sleep\0\(seconds)\0".utf8)
    }
}
