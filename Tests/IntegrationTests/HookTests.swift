// Hooks: order, the state each receives on stdin, and what a failing hook does.
import Foundation
import Testing

extension TestContainer {
    /// Host dir bind-mounted at /it-hooklog, so hooks that run inside the container after
    /// pivot_root can append to the same log as hooks that run on the host.
    var hookLogDir: String { workDir + "/hooklog" }
    var hookLog: String { hookLogDir + "/log" }

    func prepareHookLog() throws {
        try FileManager.default.createDirectory(atPath: hookLogDir, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: hookLog, contents: nil)
        mounts += [["destination": "/it-hooklog", "type": "bind", "source": hookLogDir, "options": ["rbind", "rw"]]]
    }

    /// A hook that appends "<name> <status from the state on stdin>" to the hook log.
    func recordingHook(_ name: String) -> [String: Any] {
        let script = """
            status=$(sed -n 's/.*"status" *: *"\\([a-z]*\\)".*/\\1/p')
            if [ -d /it-hooklog ]; then log=/it-hooklog/log; else log='\(hookLog)'; fi
            echo "\(name) $status" >> "$log"
            """
        return ["path": "/bin/sh", "args": ["sh", "-c", script], "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]]
    }

    func failingHook(_ code: Int = 1) -> [String: Any] {
        ["path": "/bin/sh", "args": ["sh", "-c", "echo failing hook >&2; exit \(code)"]]
    }

    func hookLogLines() -> [String] {
        ((try? String(contentsOfFile: hookLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}

extension RuntimeIntegration {
    @Test("hooks run in lifecycle order and each receives the state with the right status")
    func hookOrder() throws {
        try withContainer("hooks") { c in
            try c.prepareHookLog()
            var hooks: [String: Any] = [:]
            for name in ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"] {
                hooks[name] = [c.recordingHook(name)]
            }
            c.config["hooks"] = hooks
            // Stay alive until poststart ran, so it sees a running container.
            c.shell("i=0; while ! grep -q poststart /it-hooklog/log && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done")

            // The creation hooks run after lifecycle step 2, when the spec's "creating" is over;
            // the runtime-tools suite (hooks_stdin) likewise expects "created" for prestart.
            let creationHooks = ["prestart created", "createRuntime created", "createContainer created"]
            let created = try c.create()
            #expect(created.succeeded, "\(created.summary)")
            #expect(c.hookLogLines() == creationHooks, "after create: \(c.hookLogLines())")

            let started = c.runtime(["start", c.id])
            #expect(started.succeeded, "\(started.summary)")
            // poststart must have run before start returns.
            #expect(c.hookLogLines().suffix(2) == ["startContainer created", "poststart running"],
                    "after start: \(c.hookLogLines())")

            #expect(eventually { c.status() == "stopped" }, "container did not stop")
            let deleted = c.runtime(["delete", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            #expect(c.hookLogLines() == creationHooks + ["startContainer created", "poststart running", "poststop stopped"])
            c.expectNothingLeft("after delete")
        }
    }

    @Test("a failing prestart hook makes create fail and leaves nothing behind")
    func failingPrestart() throws {
        try withContainer("prestart-fail") { c in
            try c.prepareHookLog()
            c.config["hooks"] = ["prestart": [c.failingHook()], "startContainer": [c.recordingHook("startContainer")]]
            c.process["args"] = ["true"]
            let created = try c.create()
            #expect(!created.succeeded, "create must fail: \(created.summary)")
            #expect(!created.stderr.isEmpty, "no error message")
            #expect(!c.hookLogLines().contains("startContainer created"), "the container was started anyway")
            c.expectNothingLeft("after failed create")
        }
    }

    @Test("a failing poststop hook only warns: delete succeeds and later hooks still run")
    func failingPoststop() throws {
        try withContainer("poststop-fail") { c in
            try c.prepareHookLog()
            c.config["hooks"] = ["poststop": [c.failingHook(), c.recordingHook("poststop2")]]
            c.process["args"] = ["true"]
            try c.mustCreate()
            #expect(c.runtime(["start", c.id]).succeeded)
            #expect(eventually { c.status() == "stopped" }, "container did not stop")
            let deleted = c.runtime(["delete", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            #expect(!deleted.stderr.isEmpty, "no warning about the failed poststop hook")
            #expect(c.hookLogLines() == ["poststop2 stopped"], "\(c.hookLogLines())")
            c.expectNothingLeft("after delete")
        }
    }
}
