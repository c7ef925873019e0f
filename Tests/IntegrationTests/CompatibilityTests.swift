// Behaviour that images, hooks and tools rely on because runc and crun provide it.
import Foundation
import Testing

extension RuntimeIntegration {
    @Test("loopback is up in a network namespace the container creates: 127.0.0.1 carries TCP")
    func loopbackUp() throws {
        try withContainer("loopback") { c in
            c.shell("""
                echo "=== flags ==="; cat /sys/class/net/lo/flags
                nc -l -p 7777 > /dev/shm/got & sleep 0.3
                echo through-lo | nc -w 2 127.0.0.1 7777; sleep 0.3
                echo "=== got ==="; cat /dev/shm/got
                """)
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            let flags = Int(section(result.stdout, "flags").dropFirst(2), radix: 16) ?? 0
            #expect(flags & 1 == 1, "lo is not IFF_UP: \(result.summary)")
            #expect(section(result.stdout, "got") == "through-lo", "\(result.summary)")
            c.expectNothingLeft("after run")
        }
    }

    @Test("a missing process.cwd is created in the rootfs, 0755 and owned by root, as runc does")
    func missingCwdCreated() throws {
        try withContainer("cwd-missing") { c in
            c.process["cwd"] = "/does/not/exist"
            c.shell("pwd; ls -ld /does/not/exist /does")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            let lines = result.stdoutLines
            #expect(lines.first == "/does/not/exist", "\(result.summary)")
            for line in lines.dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                #expect(fields.count >= 4 && fields[0] == "drwxr-xr-x" && fields[2] == "root" && fields[3] == "root",
                        "\(line)")
            }
            #expect(lines.count == 3, "\(result.summary)")
            c.expectNothingLeft("after run")
        }
    }

    @Test("a missing cwd behind a symlink out of the rootfs is created inside it, never on the host")
    func missingCwdThroughSymlinkStaysInside() throws {
        try withContainer("cwd-escape") { c in
            let outside = c.workDir + "/outside"
            // Enough ".." to reach the host's "/" from the rootfs, then back down to `outside`.
            let target = String(repeating: "../", count: 20) + String(outside.dropFirst())
            try FileManager.default.createSymbolicLink(atPath: c.rootfs + "/escape", withDestinationPath: target)
            c.process["cwd"] = "/escape/made"
            c.shell("pwd")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            #expect(result.stdoutLines == [outside + "/made"], "\(result.summary)")
            #expect(!FileManager.default.fileExists(atPath: outside), "created on the host: \(outside)")
            #expect(FileManager.default.fileExists(atPath: c.rootfs + outside + "/made"), "not created in the rootfs")
            c.expectNothingLeft("after run")
        }
    }

    @Test("a hook without env inherits the runtime's environment, as runc's and crun's hooks do")
    func hookInheritsEnvironment() throws {
        try withContainer("hook-env") { c in
            try c.prepareHookLog()
            let script = "echo \"inherited=$SWIFTLET_IT_HOOK_VALUE\" >> '\(c.hookLog)'"
            let explicit = "echo \"explicit=$SWIFTLET_IT_HOOK_VALUE\" >> '\(c.hookLog)'"
            c.config["hooks"] = ["prestart": [["path": "/bin/sh", "args": ["sh", "-c", script]],
                                              ["path": "/bin/sh", "args": ["sh", "-c", explicit],
                                               "env": ["SWIFTLET_IT_HOOK_VALUE=from-config"]]]]
            c.process["args"] = ["true"]
            try c.writeConfig()
            let result = runCommand("/usr/bin/env", ["SWIFTLET_IT_HOOK_VALUE=from-runtime", Environment.runtime!,
                                                     "--root", c.stateRoot, "run", "--bundle", c.bundle, c.id])
            #expect(result.status == 0, "\(result.summary)")
            #expect(c.hookLogLines() == ["inherited=from-runtime", "explicit=from-config"], "\(c.hookLogLines())")
            c.expectNothingLeft("after run")
        }
    }

    @Test("a frozen v1 freezer cgroup as cgroupsPath is refused at create with one line, quickly")
    func frozenCgroupRefused() throws {
        guard let freezer = KernelFacts.v1.first(where: { $0.controllers.contains("freezer") }) else {
            try skip("no v1 freezer hierarchy on this host")
        }
        let name = "swiftlet-it-frozen-\(getpid())"
        let dir = freezer.path + "/" + name
        defer {
            try? "THAWED".write(toFile: dir + "/freezer.state", atomically: false, encoding: .utf8)
            // A runtime that let the init join the frozen cgroup leaves it there until the
            // thaw lets the cleanup's kill take effect.
            let dirs = (KernelFacts.v1.map(\.path) + [KernelFacts.unified?.path].compactMap { $0 }).map { $0 + "/" + name }
            _ = eventually(timeout: 5) {
                dirs.allSatisfy { rmdir($0) == 0 || errno == ENOENT }
            }
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        try "FROZEN".write(toFile: dir + "/freezer.state", atomically: false, encoding: .utf8)
        try withContainer("frozen") { c in
            c.linux["cgroupsPath"] = "/" + name
            c.process["args"] = ["true"]
            let start = Date()
            let result = try c.run(timeout: 10)
            #expect(!result.timedOut && Date().timeIntervalSince(start) < 5, "run hung: \(result.summary)")
            #expect(result.status != 0, "\(result.summary)")
            let errorLines = result.stderr.split(separator: "\n")
            #expect(errorLines.count == 1 && (errorLines.first?.lowercased().contains("frozen") ?? false),
                    "\(result.summary)")
            c.expectNothingLeft("after refused run")
        }
    }

    @Test("a config without a /proc mount runs, with run and with create and start")
    func runsWithoutProc() throws {
        try withContainer("no-proc") { c in
            c.mounts = c.mounts.filter { ($0["destination"] as? String) != "/proc" }
            c.process["args"] = ["echo", "ok"]
            let ran = try c.run()
            #expect(ran.succeeded && ran.stdoutLines == ["ok"], "\(ran.summary)")
            c.expectNothingLeft("after run")

            c.shell("echo started > /dev/shm/x && test ! -e /proc/self")
            try c.mustCreate()
            let started = c.runtime(["start", c.id])
            #expect(started.succeeded, "\(started.summary)")
            #expect(eventually { c.status() == "stopped" }, "container did not stop")
            let deleted = c.runtime(["delete", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            c.expectNothingLeft("after create, start and delete")
        }
    }

    @Test("events reports an OOM kill in the container's cgroup as {\"type\":\"oom\"}")
    func eventsReportOOM() throws {
        try withContainer("events-oom") { c in
            c.linux["resources"] = ["devices": [["allow": false, "access": "rwm"]],
                                    "memory": ["limit": 32 * 1024 * 1024]]
            // A child grows until the OOM killer takes it; the container's own process stays,
            // so `events` still sees a running container when it looks.
            c.shell("(sleep 1; x=aaaaaaaa; while :; do x=$x$x; done); sleep 3")
            try c.mustCreate()
            let events = try c.spawnRuntime(["events", "--interval", "1s", c.id])
            let started = c.runtime(["start", c.id])
            #expect(started.succeeded, "\(started.summary)")
            #expect(eventually(timeout: 20) { c.status() == "stopped" }, "container did not stop")
            let result = events.wait(timeout: 10)
            let types = result.stdoutLines.compactMap { line -> String? in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
                return object["type"] as? String
            }
            #expect(types.contains("oom"), "no oom event: \(result.summary)")
            #expect(types.contains("stats"), "no stats event: \(result.summary)")
            let deleted = c.runtime(["delete", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            c.expectNothingLeft("after delete")
        }
    }
}
