// AppArmor profiles, SELinux labels and mount labels on a host that enforces neither module:
// refused with one line at create, exec and fast start, never silently dropped.
import Foundation
import Testing

extension RuntimeIntegration {
    /// True when this host enforces neither AppArmor nor SELinux (then every non-empty label
    /// must be refused; a host with either module needs containers that check the label).
    private var hostWithoutLabelModules: Bool {
        let apparmor = FileManager.default.fileExists(atPath: "/sys/kernel/security/apparmor")
            && ((try? String(contentsOfFile: "/sys/module/apparmor/parameters/enabled", encoding: .utf8))?.hasPrefix("Y") ?? false)
        let selinux = FileManager.default.fileExists(atPath: "/sys/fs/selinux/enforce")
        return !apparmor && !selinux
    }

    private static let labelCases: [(field: String, value: String)] = [
        ("process.apparmorProfile", "docker-default"),
        ("process.selinuxLabel", "system_u:system_r:container_t:s0:c1,c2"),
        ("linux.mountLabel", "system_u:object_r:container_file_t:s0:c1,c2"),
    ]

    private func setLabel(_ c: TestContainer, _ field: String, _ value: String) {
        switch field {
        case "process.apparmorProfile": c.process["apparmorProfile"] = value
        case "process.selinuxLabel": c.process["selinuxLabel"] = value
        default: c.linux["mountLabel"] = value
        }
    }

    @Test("a label the host cannot apply fails create with one line and leaves nothing behind")
    func labelsRefusedAtCreate() throws {
        try #require(hostWithoutLabelModules, "checks the refusal; this host enforces AppArmor or SELinux")
        try withContainer("labels") { c in
            c.process["args"] = ["true"]
            let cgroupsPath = "/swiftlet-it-labels-\(getpid())"
            c.linux["cgroupsPath"] = cgroupsPath
            let base = c.config
            for (field, value) in Self.labelCases {
                c.config = base
                setLabel(c, field, value)
                let created = try c.create()
                #expect(!created.succeeded, "\(field) was accepted: \(created.summary)")
                #expect(created.isOneLineError, "\(created.summary)")
                #expect(created.stderr.contains(field) && created.stderr.contains("not enabled on this host"), "\(created.summary)")
                if created.succeeded { c.runtime(["delete", "--force", c.id]) }
                c.expectNothingLeft("after \(field)")
                let left = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [])
                    .map { "/sys/fs/cgroup/\($0)\(cgroupsPath)" }.filter { FileManager.default.fileExists(atPath: $0) }
                #expect(left.isEmpty, "cgroups left: \(left)")
            }
            // Empty strings mean "none".
            c.config = base
            c.process["apparmorProfile"] = ""
            c.process["selinuxLabel"] = ""
            c.linux["mountLabel"] = ""
            let run = try c.run()
            #expect(run.succeeded, "\(run.summary)")
            c.expectNothingLeft("after run")
        }
    }

    @Test("exec refuses labels from --process, --apparmor and --process-label, and starts nothing")
    func labelsRefusedAtExec() throws {
        try #require(hostWithoutLabelModules, "checks the refusal; this host enforces AppArmor or SELinux")
        try withContainer("labelexec") { c in
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.process["args"] = ["sleep", "1000"]
            try c.mustCreate()
            #expect(c.runtime(["start", c.id]).succeeded)
            let marker = "/tmp/it-label-exec-ran"
            let file = c.workDir + "/process.json"
            for key in ["apparmorProfile", "selinuxLabel"] {
                let process: [String: Any] = ["args": ["/bin/touch", marker], "env": ["PATH=/bin"], "cwd": "/",
                                              "user": ["uid": 0, "gid": 0], key: "x_profile_t"]
                try JSONSerialization.data(withJSONObject: process).write(to: URL(fileURLWithPath: file))
                let exec = c.runtime(["exec", "--process", file, c.id])
                #expect(!exec.succeeded && exec.isOneLineError, "\(key): \(exec.summary)")
                #expect(exec.stderr.contains("process." + key), "\(exec.summary)")
            }
            for flag in ["--apparmor", "--process-label"] {
                let exec = c.runtime(["exec", flag, "x_profile_t", c.id, "touch", marker])
                #expect(!exec.succeeded && exec.isOneLineError, "\(flag): \(exec.summary)")
            }
            #expect(!FileManager.default.fileExists(atPath: c.rootfs + marker), "a refused exec ran")
            // The same exec without a label works, so the refusals above were the labels'.
            #expect(c.runtime(["exec", c.id, "touch", marker]).succeeded)
            #expect(FileManager.default.fileExists(atPath: c.rootfs + marker))
            #expect(c.runtime(["delete", "--force", c.id]).succeeded)
            c.expectNothingLeft("after delete")
        }
    }

    @Test("a fast-start replacement with a label the host cannot apply is refused; the container stays created")
    func labelsRefusedAtFastStart() throws {
        try #require(hostWithoutLabelModules, "checks the refusal; this host enforces AppArmor or SELinux")
        try withContainer("labelstart") { c in
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.process["args"] = ["sleep", "1000"]
            try c.mustCreate()
            let file = c.workDir + "/process.json"
            for key in ["apparmorProfile", "selinuxLabel"] {
                let process: [String: Any] = ["args": ["sh", "-c", "echo ran > /out"], key: "x_profile_t"]
                try JSONSerialization.data(withJSONObject: process).write(to: URL(fileURLWithPath: file))
                let started = c.runtime(["start", "--process", file, c.id])
                #expect(!started.succeeded && started.isOneLineError, "\(key): \(started.summary)")
                #expect(started.stderr.contains("process." + key), "\(started.summary)")
                #expect(c.status() == "created")
            }
            #expect(!FileManager.default.fileExists(atPath: c.rootfs + "/out"), "a refused replacement ran")
        }
    }
}
