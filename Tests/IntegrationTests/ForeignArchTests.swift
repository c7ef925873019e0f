// Foreign-architecture root filesystems: busybox-static for arm64, armhf and mipsel
// (scripts/foreign-rootfs.sh) run through qemu-user, by a private binfmt_misc entry in the
// container's user namespace and by exec'ing the emulator explicitly.
import Foundation
import Testing

enum ForeignFixture {
    /// Debian architecture, and what `uname -m` prints under qemu-user.
    static let architectures: [(debian: String, machine: String)] = [
        ("arm64", "aarch64"), ("armhf", "armv7l"), ("mipsel", "mips"),
    ]

    static let debianArchitectures = ["arm64", "armhf", "mipsel"]

    /// The machine name, a shell loop and a checksum.
    static let workload = "uname -m; i=0; while [ $i -lt 1000 ]; do i=$((i+1)); done; echo $i; echo swiftlet | sha256sum"

    static func machine(_ debian: String) -> String {
        architectures.first { $0.debian == debian }!.machine
    }

    /// .build-fixtures/foreign/<arch>, fetched on first use (scripts/test.sh fetches them beforehand).
    static func rootfs(_ debian: String) throws -> String {
        let dir = Environment.repositoryRoot + "/.build-fixtures/foreign/" + debian
        if FileManager.default.isExecutableFile(atPath: dir + "/bin/busybox") { return dir }
        let made = runCommand("/bin/bash", [Environment.repositoryRoot + "/scripts/foreign-rootfs.sh", debian, dir],
                              timeout: 300)
        guard made.succeeded else { throw Failure("fetching busybox-static:\(debian) failed: \(made.summary)") }
        return dir
    }

    /// The host's binfmt_misc as seen from here: its mount lines and its entries.
    static func hostBinfmtState() -> [String] {
        let mounts = MountInfo.host().filter { $0.mountPoint.hasPrefix("/proc/sys/fs/binfmt_misc") }
            .map { "mount " + $0.mountPoint }
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/sys/fs/binfmt_misc")) ?? []).sorted()
        return mounts + entries
    }

    /// sha256sum of `text` on the host, to compare with the emulated one.
    static func hostSHA256(_ text: String) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-it-sha-\(getpid())")
        try Data(text.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = runCommand("/usr/bin/sha256sum", [file.path])
        return String(result.stdout.prefix(64))
    }
}

extension TestContainer {
    /// Replaces the copied busybox rootfs by the foreign one.
    func useForeignRootfs(_ debian: String) throws {
        let source = try ForeignFixture.rootfs(debian)
        TestContainer.removeTree(rootfs)
        let copy = runCommand("/bin/cp", ["-a", source, rootfs])
        guard copy.succeeded else { throw Failure("copying the foreign rootfs failed: \(copy.summary)") }
    }

    /// A user namespace with root mapped to an unprivileged host range.
    func addUserNamespace() {
        var l = linux
        var namespaces = l["namespaces"] as? [[String: Any]] ?? []
        namespaces.append(["type": "user"])
        l["namespaces"] = namespaces
        l["uidMappings"] = [["containerID": 0, "hostID": 100000, "size": 65536]]
        l["gidMappings"] = [["containerID": 0, "hostID": 100000, "size": 65536]]
        linux = l
    }

    func removeNamespace(_ type: String) {
        var l = linux
        l["namespaces"] = (l["namespaces"] as? [[String: Any]] ?? []).filter { ($0["type"] as? String) != type }
        linux = l
    }

    /// `run` with --debug (the route taken is a debug line on stderr).
    func runDebug(timeout: Double = 120) throws -> CommandResult {
        try writeConfig()
        return runCommand(Environment.runtime!, ["--debug", "--root", stateRoot, "run", "--bundle", bundle, id],
                          timeout: timeout)
    }
}

extension RuntimeIntegration {
    @Test("a foreign rootfs runs through a binfmt_misc entry private to the container's user namespace",
          arguments: ForeignFixture.debianArchitectures)
    func foreignThroughPrivateBinfmt(_ debian: String) throws {
        let hostBefore = ForeignFixture.hostBinfmtState()
        let digest = try ForeignFixture.hostSHA256("swiftlet\n")
        try withContainer("foreign-binfmt-\(debian)") { c in
            try c.useForeignRootfs(debian)
            c.addUserNamespace()
            // The nested shell is exec'ed by the kernel, so it goes through the entry too;
            // it is not pid 1, so its SIGTERM is fatal and qemu passes it on as 143.
            c.shell(ForeignFixture.workload + #"; sh -c 'kill -TERM $$'; echo nested=$?; sh -c 'exit 7'; echo exit=$?; ls /proc/sys/fs/binfmt_misc"#)
            let r = try c.runDebug()
            #expect(r.succeeded, "\(r.summary)")
            let lines = r.stdoutLines
            #expect(lines.first == ForeignFixture.machine(debian), "\(r.summary)")
            #expect(lines.contains("1000"), "\(r.summary)")
            #expect(lines.contains { $0.hasPrefix(digest) }, "sha256 differs from the host's \(digest): \(r.summary)")
            #expect(lines.contains("nested=143"), "\(r.summary)")
            #expect(lines.contains("exit=7"), "\(r.summary)")
            #expect(lines.contains { $0.hasPrefix("qemu-") }, "no entry in the container's binfmt_misc: \(r.summary)")
            #expect(r.stderr.contains("private binfmt_misc entry"), "\(r.summary)")

            c.shell("exit 3")
            let exited = try c.runDebug()
            #expect(exited.status == 3, "\(exited.summary)")
            c.expectNothingLeft("after the foreign containers")
        }
        #expect(ForeignFixture.hostBinfmtState() == hostBefore, "the host's binfmt_misc changed")
    }

    @Test("without a user namespace the emulator is exec'ed with the program, exit codes and signals pass through",
          arguments: ForeignFixture.debianArchitectures)
    func foreignByExplicitExec(_ debian: String) throws {
        let hostBefore = ForeignFixture.hostBinfmtState()
        let digest = try ForeignFixture.hostSHA256("swiftlet\n")
        try withContainer("foreign-exec-\(debian)") { c in
            try c.useForeignRootfs(debian)
            // A script: the emulator runs its interpreter line (with its argument) and the script.
            try "#!/bin/sh -e\necho \"script $1 $(uname -m)\"\n".write(toFile: c.rootfs + "/script.sh", atomically: true,
                                                                        encoding: .utf8)
            chmod(c.rootfs + "/script.sh", 0o755)
            let rootfsBefore = try FileManager.default.contentsOfDirectory(atPath: c.rootfs).sorted()
            c.shell(ForeignFixture.workload)
            let r = try c.runDebug()
            #expect(r.succeeded, "\(r.summary)")
            #expect(r.stdoutLines.first == ForeignFixture.machine(debian), "\(r.summary)")
            #expect(r.stdoutLines.contains("1000"), "\(r.summary)")
            #expect(r.stdoutLines.contains { $0.hasPrefix(digest) }, "sha256 differs from the host's \(digest): \(r.summary)")
            #expect(r.stderr.contains("exec through "), "\(r.summary)")
            // uname as the process itself (found through PATH), not through the shell.
            c.process["args"] = ["uname", "-m"]
            let direct = try c.runDebug()
            #expect(direct.stdout == ForeignFixture.machine(debian) + "\n", "\(direct.summary)")

            c.process["args"] = ["/script.sh", "arg"]
            let script = try c.runDebug()
            #expect(script.stdout == "script arg " + ForeignFixture.machine(debian) + "\n", "\(script.summary)")

            c.shell("exit 3")
            let exited = try c.runDebug()
            #expect(exited.status == 3, "\(exited.summary)")
            // Without a pid namespace qemu is not pid 1: the guest's fatal signal kills it.
            c.removeNamespace("pid")
            c.shell("kill -TERM $$")
            let killed = try c.runDebug()
            #expect(killed.status == 143, "\(killed.summary)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: c.rootfs).sorted() == rootfsBefore,
                    "the rootfs was modified")
            c.expectNothingLeft("after the foreign containers")
        }
        #expect(ForeignFixture.hostBinfmtState() == hostBefore, "the host's binfmt_misc changed")
    }

    @Test("a native process takes no foreign route")
    func nativeHasNoForeignRoute() throws {
        try withContainer("foreign-native") { c in
            c.shell("uname -m")
            let r = try c.runDebug()
            #expect(r.succeeded, "\(r.summary)")
            #expect(!r.stderr.contains("foreign executable"), "\(r.summary)")
        }
    }

    @Test("an emulator annotation naming a missing file fails create with one line")
    func missingEmulatorAnnotation() throws {
        try withContainer("foreign-noemu") { c in
            try c.useForeignRootfs("arm64")
            c.config["annotations"] = ["org.swiftlet.qemu": c.workDir + "/no-such-qemu"]
            c.process["args"] = ["true"]
            let created = try c.create()
            #expect(!created.succeeded, "\(created.summary)")
            #expect(created.stderr.contains("org.swiftlet.qemu"), "\(created.summary)")
            #expect(created.isOneLineError, "\(created.summary)")
            c.expectNothingLeft("after failed create")
        }
    }
}
