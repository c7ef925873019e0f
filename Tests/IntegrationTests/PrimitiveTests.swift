// Primitive (chroot) containers: requested with org.swiftlet.isolation, or taken as the
// fallback when the kernel really refuses namespaces (a seccomp filter around the runtime,
// e2e/primitive/refuse.c), or when cgroupfs is really absent from the runtime's view.
import Foundation
import Testing

extension TestContainer {
    /// Configured user, groups, capabilities, rlimits and no_new_privs the primitive tests check.
    func restrictProcess() {
        process["user"] = ["uid": 1000, "gid": 1000, "additionalGids": [2000]]
        let caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
        process["capabilities"] = ["bounding": caps, "effective": caps, "permitted": caps]
        process["rlimits"] = [["type": "RLIMIT_NOFILE", "hard": 456, "soft": 123]]
        process["noNewPrivileges"] = true
    }

    var annotations: [String: String] {
        get { config["annotations"] as? [String: String] ?? [:] }
        set { config["annotations"] = newValue }
    }

    /// e2e/primitive/refuse.c built into this test's work dir.
    func buildRefuse() throws -> String {
        let output = workDir + "/refuse"
        let built = runCommand("/usr/bin/cc", ["-O2", "-o", output,
                                               Environment.repositoryRoot + "/e2e/primitive/refuse.c", "-lseccomp"],
                               timeout: 60)
        try #require(built.succeeded, "building refuse.c failed: \(built.summary)")
        return output
    }

    /// The runtime with `--root` under the launcher that makes the kernel refuse namespaces.
    func refusedRuntime(_ refuse: String, _ arguments: [String]) -> CommandResult {
        runCommand(refuse, ["namespaces", "--", Environment.runtime!, "--root", stateRoot] + arguments)
    }
}

/// What a primitive container's shell prints about itself.
private let selfReport = """
    echo "=== id ==="; id -u; id -g; id -G
    echo "=== status ==="; grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs)' /proc/self/status
    echo "=== nofile ==="; ulimit -Sn; ulimit -Hn
    echo "=== root ==="; ls /
    echo "=== ns ==="; readlink /proc/self/ns/pid; readlink /proc/self/ns/net
    """

private func hostNamespace(_ kind: String) -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\(kind)")) ?? "?"
}

private func expectRestricted(_ out: String, _ c: TestContainer, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(section(out, "id") == "1000\n1000\n1000 2000", "ids: \(out)", sourceLocation: sourceLocation)
    let status = section(out, "status")
    let mask = String(format: "%016llx", capabilityMask(["CAP_KILL", "CAP_NET_BIND_SERVICE"]))
    // A non-root user keeps no effective or permitted capability without ambient ones;
    // the bounding set is cut to the configured one.
    #expect(statusField(status, "CapEff") == "0000000000000000", "\(status)", sourceLocation: sourceLocation)
    #expect(statusField(status, "CapBnd") == mask, "\(status)", sourceLocation: sourceLocation)
    #expect(statusField(status, "NoNewPrivs") == "1", "\(status)", sourceLocation: sourceLocation)
    #expect(section(out, "nofile") == "123\n456", "\(out)", sourceLocation: sourceLocation)
    let root = Set(section(out, "root").split(separator: "\n").map(String.init))
    let expected = Set(((try? FileManager.default.contentsOfDirectory(atPath: c.rootfs)) ?? []))
    #expect(root == expected, "/ is not the rootfs: \(root) vs \(expected)", sourceLocation: sourceLocation)
    // No namespace was created: the process shares the host's pid and network namespaces.
    #expect(section(out, "ns") == hostNamespace("pid") + "\n" + hostNamespace("net"), "\(out)",
            sourceLocation: sourceLocation)
}

private func stateAnnotations(_ c: TestContainer) -> [String: String] {
    c.state()?["annotations"] as? [String: String] ?? [:]
}

extension RuntimeIntegration {
    @Test("isolation chroot: pivot_root in a mount namespace, no other namespace, configured user, caps, rlimits")
    func primitiveExplicit() throws {
        try withContainer("prim-explicit") { c in
            c.annotations = ["org.swiftlet.isolation": "chroot"]
            c.restrictProcess()
            c.shell(selfReport + "\necho \"=== mnt ===\"; readlink /proc/self/ns/mnt")
            let result = try c.run()
            #expect(result.status == 0, "\(result.summary)")
            expectRestricted(result.stdout, c)
            // The config asks for a mount namespace and the kernel allows one: it is kept.
            #expect(section(result.stdout, "mnt") != hostNamespace("mnt"), "\(result.stdout)")
            let warnings = result.stderr.split(separator: "\n").filter { $0.contains("primitive container") }
            #expect(warnings.count == 1, "one warning line: \(result.stderr)")
            for phrase in ["no pid namespace", "no network namespace", "no ipc namespace", "no uts namespace"] {
                #expect(warnings.first?.contains(phrase) == true, "\(phrase) missing in \(result.stderr)")
            }
            #expect(warnings.first?.contains("no mount namespace") == false, "\(result.stderr)")
            c.expectNothingLeft("after run")
        }
    }

    @Test("isolation chroot without a mount namespace: chroot, mounts below rootfs removed at delete, lifecycle")
    func primitiveChrootLifecycle() throws {
        try withContainer("prim-chroot") { c in
            c.annotations = ["org.swiftlet.isolation": "chroot", "org.example/kept": "yes"]
            c.restrictProcess()
            c.config["hostname"] = nil
            c.linux["namespaces"] = [["type": "pid"], ["type": "network"]]
            c.shell("trap 'exit 9' TERM; while true; do sleep 0.1; done")
            let created = try c.create()
            #expect(created.succeeded, "\(created.summary)")
            #expect(created.stderr.split(separator: "\n").count == 1 && created.stderr.contains("primitive container")
                    && created.stderr.contains("no pid namespace") && created.stderr.contains("no network namespace"),
                    "\(created.summary)")
            #expect(c.status() == "created")
            let annotations = stateAnnotations(c)
            #expect(annotations["org.swiftlet.isolation"] == "chroot", "\(annotations)")
            #expect(annotations["org.swiftlet.missing"] == "pid,net", "\(annotations)")
            #expect(annotations["org.example/kept"] == "yes", "\(annotations)")
            // Without a mount namespace the config's mounts are below rootfs in the host's table.
            let mounted = c.leakedMounts()
            #expect(mounted.contains(c.rootfs + "/proc") && mounted.contains(c.rootfs + "/dev"), "\(mounted)")

            let pid = try #require(c.state()?["pid"] as? Int)
            #expect(c.runtime(["start", c.id]).succeeded)
            #expect(eventually { c.status() == "running" })
            let root = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/root")
            #expect(root == c.rootfs, "the process root is \(root)")
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            #expect(statusField(status, "Uid")?.hasPrefix("1000") == true, "\(status)")

            let term = c.runtime(["kill", c.id, "TERM"])
            #expect(term.succeeded, "\(term.summary)")
            #expect(eventually { c.status() == "stopped" }, "not stopped after TERM: \(c.state() ?? [:])")
            let deleted = c.runtime(["delete", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            c.expectNothingLeft("after delete")
        }
    }

    @Test("a primitive container without cgroupfs: kill --all and delete --force find the whole process tree")
    func primitiveWithoutCgroups() throws {
        try withContainer("prim-nocg") { c in
            c.annotations = ["org.swiftlet.isolation": "chroot"]
            c.config["hostname"] = nil
            c.linux["namespaces"] = [["type": "pid"]]
            // A child, an orphaned grandchild and one in its own session: none may survive.
            c.shell("sleep 301 & (sleep 302 &); setsid sleep 303 & echo ready > /tmp/ready; wait")
            c.config["root"] = ["path": "rootfs", "readonly": false]
            try c.writeConfig()
            // The runtime runs in a mount namespace whose /sys/fs/cgroup is an empty tmpfs:
            // for it, this kernel has no cgroups, as on a device that mounts none.
            let script = "mount -t tmpfs none /sys/fs/cgroup && exec \"$0\" --root \"$1\" create --bundle \"$2\" \"$3\""
            let created = runCommand("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script,
                                                          Environment.runtime!, c.stateRoot, c.bundle, c.id])
            #expect(created.succeeded, "\(created.summary)")
            #expect(created.stderr.contains("no cgroup"), "\(created.summary)")
            let missing = (stateAnnotations(c)["org.swiftlet.missing"] ?? "").split(separator: ",")
            #expect(missing.contains("pid") && missing.contains("cgroup"), "\(stateAnnotations(c))")
            #expect(c.runtime(["start", c.id]).succeeded)
            #expect(eventually { FileManager.default.fileExists(atPath: c.rootfs + "/tmp/ready") })
            #expect(eventually { c.processesInBundle().count >= 4 }, "processes: \(c.processesInBundle())")
            let paused = c.runtime(["pause", c.id])
            #expect(!paused.succeeded && paused.stderr.contains("no cgroup"), "\(paused.summary)")

            let killed = c.runtime(["kill", "--all", c.id, "KILL"])
            #expect(killed.succeeded, "\(killed.summary)")
            #expect(eventually { c.processesInBundle().isEmpty }, "left: \(c.processesInBundle())")
            let deleted = c.runtime(["delete", "--force", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            c.expectNothingLeft("after kill --all and delete")
        }
    }

    @Test("delete --force of a primitive container without cgroupfs kills the whole tree")
    func primitiveForceDeleteWithoutCgroups() throws {
        try withContainer("prim-nocg-del") { c in
            c.annotations = ["org.swiftlet.isolation": "chroot"]
            c.config["hostname"] = nil
            c.linux["namespaces"] = []
            c.shell("(sleep 311 &); sleep 312 & echo ready > /tmp/ready; wait")
            c.config["root"] = ["path": "rootfs", "readonly": false]
            try c.writeConfig()
            let script = "mount -t tmpfs none /sys/fs/cgroup && exec \"$0\" --root \"$1\" run -d --bundle \"$2\" \"$3\""
            let started = runCommand("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script,
                                                          Environment.runtime!, c.stateRoot, c.bundle, c.id])
            #expect(started.succeeded, "\(started.summary)")
            #expect(eventually { FileManager.default.fileExists(atPath: c.rootfs + "/tmp/ready") })
            #expect(eventually { c.processesInBundle().count >= 3 }, "processes: \(c.processesInBundle())")
            let deleted = c.runtime(["delete", "--force", c.id])
            #expect(deleted.succeeded, "\(deleted.summary)")
            #expect(eventually { c.processesInBundle().isEmpty }, "left: \(c.processesInBundle())")
            c.expectNothingLeft("after delete --force")
        }
    }

    @Test("fallback chroot: when the kernel refuses namespaces the container runs primitive; without it create fails")
    func primitiveFallback() throws {
        try withContainer("prim-fallback") { c in
            let refuse = try c.buildRefuse()
            c.restrictProcess()
            c.shell(selfReport)

            // Without the annotation, the refusal is the usual one-line error and nothing stays.
            try c.writeConfig()
            let refused = c.refusedRuntime(refuse, ["create", "--bundle", c.bundle, c.id])
            #expect(!refused.succeeded, "\(refused.summary)")
            #expect(refused.stderr.split(separator: "\n").count == 1 && refused.stderr.lowercased().contains("not permitted"),
                    "\(refused.summary)")
            c.expectNothingLeft("after a refused create")

            c.annotations = ["org.swiftlet.fallback": "chroot"]
            try c.writeConfig()
            let result = c.refusedRuntime(refuse, ["run", "--bundle", c.bundle, c.id])
            #expect(result.status == 0, "\(result.summary)")
            expectRestricted(result.stdout, c)
            let warning = result.stderr.split(separator: "\n").filter { $0.contains("primitive container") }
            #expect(warning.count == 1 && warning[0].contains("no mount namespace"), "\(result.summary)")
            c.expectNothingLeft("after run")

            // The same config on this kernel without the filter is a full OCI container.
            c.shell("readlink /proc/self/ns/pid")
            let full = try c.run()
            #expect(full.status == 0 && !full.stderr.contains("primitive"), "\(full.summary)")
            #expect(full.stdout.trimmingCharacters(in: .newlines) != hostNamespace("pid"), "\(full.summary)")
            c.expectNothingLeft("after the full run")
        }
    }

    @Test("fallback chroot: state names what is missing, kill and delete work")
    func primitiveFallbackLifecycle() throws {
        try withContainer("prim-fb-life") { c in
            let refuse = try c.buildRefuse()
            c.annotations = ["org.swiftlet.fallback": "chroot", "org.swiftlet.missing": "forged"]
            c.process["args"] = ["sleep", "300"]
            try c.writeConfig()
            let created = c.refusedRuntime(refuse, ["create", "--bundle", c.bundle, c.id])
            #expect(created.succeeded, "\(created.summary)")
            let annotations = stateAnnotations(c)
            #expect(annotations["org.swiftlet.isolation"] == "chroot", "\(annotations)")
            #expect(annotations["org.swiftlet.missing"] == "pid,net,ipc,uts,mnt", "\(annotations)")
            #expect(c.runtime(["start", c.id]).succeeded)
            #expect(eventually { c.status() == "running" })
            let pid = try #require(c.state()?["pid"] as? Int)
            let killed = c.runtime(["kill", c.id, "KILL"])
            #expect(killed.succeeded, "\(killed.summary)")
            #expect(eventually { c.status() == "stopped" })
            #expect(c.runtime(["delete", c.id]).succeeded)
            #expect(!processIsAlive(pid))
            c.expectNothingLeft("after delete")
        }
    }

    @Test("an unknown isolation or fallback value is a one-line error")
    func primitiveBadAnnotation() throws {
        try withContainer("prim-bad") { c in
            for (key, value) in [("org.swiftlet.isolation", "vm"), ("org.swiftlet.fallback", "none")] {
                c.annotations = [key: value]
                let created = try c.create()
                #expect(!created.succeeded, "\(created.summary)")
                #expect(created.stderr.split(separator: "\n").count == 1 && created.stderr.contains(key)
                        && created.stderr.contains("\"\(value)\""), "\(created.summary)")
                c.expectNothingLeft("after \(key)=\(value)")
            }
        }
    }
}

extension RuntimeIntegration {
    @Test("without pidfds (clone3, pidfd_open and CLONE_PIDFD refused, as before Linux 5.2) create fails in one line and leaves nothing")
    func withoutPidfdCreateFailsCleanly() throws {
        try withContainer("no-pidfd") { c in
            let refuse = try c.buildRefuse()
            try c.writeConfig()
            let r = runCommand(refuse, ["pidfd", "--", Environment.runtime!, "--root", c.stateRoot,
                                        "create", "--bundle", c.bundle, c.id])
            #expect(!r.succeeded, "\(r.summary)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("clone the container init: invalid argument"),
                    "\(r.summary)")
            c.expectNothingLeft("after create without pidfds")
        }
    }
}
