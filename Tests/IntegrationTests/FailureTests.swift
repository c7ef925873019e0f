// Failures: bad input is refused with one line on stderr, and a create that fails midway
// leaves no mount, process or state behind.
import Foundation
import Testing

extension CommandResult {
    /// The error is a single non-empty line (a trailing newline allowed).
    var isOneLineError: Bool {
        let text = stderr.trimmingCharacters(in: .newlines)
        return !text.isEmpty && !text.contains("\n")
    }
}

extension RuntimeIntegration {
    @Test("a mount with a nonexistent source fails create and leaves nothing behind")
    func missingMountSource() throws {
        try withContainer("badmount") { c in
            c.mounts += [["destination": "/data", "type": "bind", "source": c.workDir + "/does-not-exist",
                          "options": ["rbind"]]]
            c.process["args"] = ["true"]
            let created = try c.create()
            #expect(!created.succeeded, "\(created.summary)")
            #expect(created.isOneLineError, "\(created.summary)")
            c.expectNothingLeft("after failed create")
        }
    }

    @Test("a createRuntime hook that cannot be executed fails create and leaves nothing behind")
    func missingHookBinary() throws {
        try withContainer("badhook") { c in
            c.config["hooks"] = ["createRuntime": [["path": c.workDir + "/no-such-hook"]]]
            c.process["args"] = ["true"]
            let created = try c.create()
            #expect(!created.succeeded, "\(created.summary)")
            #expect(created.isOneLineError, "\(created.summary)")
            c.expectNothingLeft("after failed create")
        }
    }

    @Test("a process that cannot be executed fails and leaves nothing behind")
    func missingExecutable() throws {
        try withContainer("noexec") { c in
            c.process["args"] = ["/no/such/program"]
            let result = try c.run()
            #expect(result.status != 0, "\(result.summary)")
            #expect(!result.stderr.isEmpty, "\(result.summary)")
            c.runtime(["delete", "--force", c.id])
            c.expectNothingLeft("after failed run")
        }
    }

    @Test("--systemd-cgroup where systemd is not the init fails with one line and makes no cgroup")
    func systemdCgroupWithoutSystemd() throws {
        if FileManager.default.fileExists(atPath: "/run/systemd/system") {
            try skip("systemd runs on this host: the driver is tested in the systemd guest (e2e/systemd)")
        }
        try withContainer("nosystemd") { c in
            c.process["args"] = ["true"]
            try c.writeConfig()
            let created = c.runtime(["--systemd-cgroup", "create", "--bundle", c.bundle, c.id])
            #expect(!created.succeeded, "\(created.summary)")
            #expect(created.isOneLineError, "\(created.summary)")
            #expect(created.stderr.contains("systemd is not running on this host"), "\(created.summary)")
            let scope = "system.slice/swiftlet-\(c.id).scope"
            let cgroupRoots = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? []
            for root in cgroupRoots {
                #expect(!FileManager.default.fileExists(atPath: "/sys/fs/cgroup/\(root)/\(scope)"), "cgroup left in \(root)")
            }
            c.expectNothingLeft("after refused create")
        }
    }

    @Test("malformed config.json is refused with a one-line error")
    func malformedConfig() throws {
        try withContainer("badjson") { c in
            try "{ \"ociVersion\": \"1.0.2\", \"process\": ".write(toFile: c.bundle + "/config.json", atomically: true,
                                                                    encoding: .utf8)
            let created = c.runtime(["create", "--bundle", c.bundle, c.id])
            #expect(!created.succeeded, "\(created.summary)")
            #expect(created.isOneLineError, "\(created.summary)")
            c.expectNothingLeft("after refused create")
        }
    }

    @Test("a missing rootfs is refused with a one-line error")
    func missingRootfs() throws {
        try withContainer("norootfs") { c in
            c.config["root"] = ["path": "no-such-rootfs", "readonly": true]
            c.process["args"] = ["true"]
            let created = try c.create()
            #expect(!created.succeeded, "\(created.summary)")
            #expect(created.isOneLineError, "\(created.summary)")
            #expect(!FileManager.default.fileExists(atPath: c.bundle + "/no-such-rootfs"), "the runtime created the rootfs")
            c.expectNothingLeft("after refused create")
        }
    }

    @Test("ids that are paths are refused and create nothing outside the state dir", arguments: ["../x", "a/b", ".."])
    func pathLikeID(_ badID: String) throws {
        try withContainer("badid") { c in
            c.process["args"] = ["true"]
            let outside = URL(fileURLWithPath: c.stateRoot).deletingLastPathComponent().appendingPathComponent("x").path
            let existedBefore = FileManager.default.fileExists(atPath: outside)
            let created = try c.create(id: badID)
            #expect(!created.succeeded, "\(created.summary)")
            #expect(created.isOneLineError, "\(created.summary)")
            if !existedBefore {
                #expect(!FileManager.default.fileExists(atPath: outside), "\(outside) was created")
            }
            c.expectNothingLeft("after refused create")
        }
    }
}
