// Optional kernel features through the binary: each test derives its expectation from
// KernelFacts (TestSupport), the same facts `swiftlet check` reports.
import Foundation
import Testing
import TestSupport

/// Every cgroup hierarchy of this host (v1 mounts and the cgroup2 mount).
func cgroupHierarchies() -> [String] {
    KernelFacts.v1.map(\.path) + (KernelFacts.unified.map { [$0.path] } ?? [])
}

/// Hierarchies in which `path` (a cgroup path from the root) exists.
func cgroupDirs(_ path: String) -> [String] {
    cgroupHierarchies().map { $0 + path }.filter {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && isDir.boolValue
    }
}

extension RuntimeIntegration {
    /// runc 1.1.5 on a v1 blkio without blkio.weight and blkio.bfq.weight fails `run` with
    /// "openat2 …/blkio.bfq.weight: no such file or directory" and leaves nothing: swiftlet
    /// does the same, naming the field and its file.
    @Test("blockIO.weight is applied where the kernel has a weight file, else refused in one line")
    func blockIOWeight() throws {
        guard case .v1 = KernelFacts.place(of: "blkio") else {
            try skip("no v1 blkio controller here (\(KernelFacts.cgroupMode)); the io.weight case is not covered")
        }
        try withContainer("blkweight") { c in
            let cgroup = "/swiftlet-it-blkweight-\(getpid())"
            var linux = c.linux
            var resources = linux["resources"] as? [String: Any] ?? [:]
            resources["blockIO"] = ["weight": 500]
            linux["resources"] = resources
            linux["cgroupsPath"] = cgroup
            c.linux = linux
            let file = KernelFacts.blkioWeightFile
            c.shell("cat /sys/fs/cgroup/blkio/\(file ?? "blkio.weight")")
            let result = try c.run()
            if let file {
                #expect(result.status == 0, "\(result.summary)")
                #expect(result.stdout.contains("500"), "\(file): \(result.summary)")
            } else {
                #expect(result.status != 0, "\(result.summary)")
                let lines = result.stderr.split(separator: "\n")
                #expect(lines.count == 1, "one line: \(result.stderr.debugDescription)")
                #expect(result.stderr.contains("linux.resources.blockIO.weight") && result.stderr.contains("/blkio.weight"),
                        "\(result.stderr)")
            }
            c.expectNothingLeft("after run")
            #expect(cgroupDirs(cgroup).isEmpty, "cgroup left behind: \(cgroupDirs(cgroup))")
        }
    }

    /// Which parents go on delete. Absolute cgroupsPath: only the container's own cgroup, as
    /// runc (the parents are the caller's). Relative: the parents swiftlet made under
    /// /swiftlet go too once empty (runc puts relative paths under its own cgroup instead).
    @Test("delete removes the container's cgroup in every hierarchy; parents only under /swiftlet")
    func deleteRemovesCgroupAndOwnParents() throws {
        try withContainer("cgparents") { c in
            let pid = getpid()
            let absoluteParent = "/swiftlet-it-abs-\(pid)"
            defer { for dir in cgroupDirs(absoluteParent + "/pod") + cgroupDirs(absoluteParent) { rmdir(dir) } }
            c.shell("true")
            for (given, leaf, parents, parentsStay) in [
                (absoluteParent + "/pod/c", absoluteParent + "/pod/c", [absoluteParent + "/pod", absoluteParent], true),
                ("swiftlet-it-rel-\(pid)/c", "/swiftlet/swiftlet-it-rel-\(pid)/c", ["/swiftlet/swiftlet-it-rel-\(pid)"], false),
            ] {
                var linux = c.linux
                linux["cgroupsPath"] = given
                c.linux = linux
                let created = try c.create()
                try #require(created.succeeded, "\(created.summary)")
                #expect(!cgroupDirs(leaf).isEmpty, "\(given): no cgroup \(leaf) made")
                #expect(c.runtime(["delete", "--force", c.id]).succeeded)
                #expect(cgroupDirs(leaf).isEmpty, "\(given): left \(cgroupDirs(leaf))")
                for p in parents {
                    if parentsStay {
                        #expect(!cgroupDirs(p).isEmpty, "\(given): the caller's parent \(p) was removed")
                    } else {
                        #expect(cgroupDirs(p).isEmpty, "\(given): swiftlet's parent \(p) left in \(cgroupDirs(p))")
                    }
                }
            }
            c.expectNothingLeft("after delete")
        }
    }
}

extension RuntimeIntegration {
    /// `features` lists as supported exactly the seccomp flags this kernel accepts; a
    /// container asking for one gets it, and one the kernel lacks is refused in one line
    /// naming the flag, leaving nothing (runc fails the same config at create too).
    @Test("seccomp flags: features lists what the kernel accepts; containers get them or a one-line refusal")
    func seccompFlagsFollowTheKernel() throws {
        let shown = runCommand(Environment.runtime!, ["features"])
        #expect(shown.succeeded, "\(shown.summary)")
        let features = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
        let seccomp = (features?["linux"] as? [String: Any])?["seccomp"] as? [String: Any]
        let known = seccomp?["knownFlags"] as? [String] ?? []
        let supported = seccomp?["supportedFlags"] as? [String] ?? []
        #expect(Set(known) == Set(KernelFacts.seccompFilterFlags.map(\.name)), "knownFlags: \(known)")
        let accepted = KernelFacts.seccompFilterFlags.filter { KernelFacts.acceptsSeccompFilterFlag($0.bit) }.map(\.name)
        #expect(Set(supported) == Set(accepted), "supportedFlags \(supported); the kernel accepts \(accepted)")

        // WAIT_KILLABLE_RECV only means something with a listener (SeccompTests covers it with one).
        for flag in KernelFacts.seccompFilterFlags where flag.bit != 32 {
            try withContainer("scflag") { c in
                c.linux["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW", "flags": [flag.name],
                                      "syscalls": [["names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38]]]
                c.config["root"] = ["path": "rootfs", "readonly": false]
                c.shell("mkdir /tmp/made; echo mkdir=$?")
                let result = try c.run()
                if KernelFacts.acceptsSeccompFilterFlag(flag.bit) {
                    #expect(result.status == 0 && result.stdout.contains("mkdir=1"), "\(flag.name): \(result.summary)")
                } else {
                    #expect(result.status != 0, "\(flag.name): \(result.summary)")
                    #expect(result.isOneLineError, "\(flag.name): \(result.summary)")
                    #expect(result.stderr.contains("flag \(flag.name) is not supported by this kernel"), "\(result.summary)")
                }
                c.expectNothingLeft("after run with \(flag.name)")
            }
        }
    }

    /// linux.timeOffsets: where the kernel has time namespaces the container's boot clock
    /// (/proc/uptime) runs ahead by the offset; without them the config is refused in one
    /// line naming the time namespace, leaving nothing (runc: "unshare time namespace").
    @Test("timeOffsets shift the container's clocks where the kernel has time namespaces, else a one-line error")
    func timeNamespaceOffsets() throws {
        let offset = 10 * 365 * 86_400
        try withContainer("timens") { c in
            var namespaces = c.linux["namespaces"] as? [[String: Any]] ?? []
            namespaces.append(["type": "time"])
            c.linux["namespaces"] = namespaces
            c.linux["timeOffsets"] = ["boottime": ["secs": offset, "nanosecs": 0],
                                      "monotonic": ["secs": offset, "nanosecs": 0]]
            c.shell("cat /proc/uptime")
            let before = hostUptime()
            let result = try c.run()
            let after = hostUptime()
            if KernelFacts.hasNamespace("time") {
                #expect(result.status == 0, "\(result.summary)")
                let inside = Double(result.stdout.split(separator: " ").first ?? "") ?? -1
                #expect(inside >= before + Double(offset) - 1 && inside <= after + Double(offset) + 1,
                        "uptime inside \(inside), host \(before)…\(after), offset \(offset): \(result.summary)")
            } else {
                #expect(result.status != 0, "\(result.summary)")
                #expect(result.isOneLineError, "\(result.summary)")
                #expect(result.stderr.contains("time namespace"), "\(result.summary)")
            }
            c.expectNothingLeft("after run with timeOffsets")
        }
    }
}

/// The host's boot-clock seconds (/proc/uptime's first field).
private func hostUptime() -> Double {
    let text = (try? String(contentsOfFile: "/proc/uptime", encoding: .utf8)) ?? ""
    return Double(text.split(separator: " ").first ?? "") ?? -1
}
