// What the runtime's processes leave in a container's reach while they set up: no fd, cwd
// or root of the host (CVE-2024-21626), no host network sysctl, and startContainer hooks
// confined like the container's process.
import Foundation
import Testing

extension RuntimeIntegration {
    @Test("a created container's init holds no directory fd, and its cwd and root are the container's, even to CAP_SYS_PTRACE")
    func createdInitLeadsNowhere() throws {
        try withContainer("fd-leak") { c in
            try "host-side\n".write(toFile: c.bundle + "/host-marker", atomically: true, encoding: .utf8)
            try c.mustCreate()
            // Every fd of the waiting init that is a directory, and whatever its cwd and
            // root reach above them: a host path would show the bundle's marker file.
            let probe = """
                for f in /proc/1/fd/*; do [ -d "$f/" ] && echo "DIRFD $f -> $(readlink $f)"; done
                for l in cwd root; do
                  p=/proc/1/$l; for up in . .. ../.. ../../.. ../../../.. ../../../../..; do
                    ls "$p/$up" 2>/dev/null | grep -qx host-marker && echo "HOST via $l/$up"
                  done
                done
                echo probed
                """
            let r = c.runtime(["exec", "--cap", "CAP_SYS_PTRACE", c.id, "sh", "-c", probe])
            #expect(r.stdout.contains("probed"), "\(r.summary)")
            #expect(!r.stdout.contains("DIRFD"), "the waiting init holds a directory: \(r.stdout)")
            #expect(!r.stdout.contains("HOST"), "the waiting init leads to the host: \(r.stdout)")
            // The fast-start replacement still reaches the init without any such fd.
            #expect(c.runtime(["start", "--arg", "true", c.id]).succeeded)
        }
    }

    @Test("net.* sysctls are refused in the host's network namespace, also when joined by path")
    func netSysctlRefusedInHostNamespace() throws {
        try withContainer("sysctl-host-net") { c in
            // The host's own value: a runtime that wrongly applies it changes nothing.
            let current = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            var linux = c.linux
            linux["sysctl"] = ["net.ipv4.ip_forward": current]
            linux["namespaces"] = ((linux["namespaces"] as? [[String: Any]]) ?? []).map {
                $0["type"] as? String == "network" ? ["type": "network", "path": "/proc/self/ns/net"] : $0
            }
            c.linux = linux
            c.shell("true")
            let r = try c.run()
            #expect(r.status != 0, "\(r.summary)")
            #expect(r.stderr.contains("net.ipv4.ip_forward"), "\(r.summary)")
            c.expectNothingLeft("after the refused sysctl")
        }
    }

    @Test("startContainer hooks run under the container's seccomp filter: a hook the profile forbids fails start")
    func startContainerHookUnderSeccomp() throws {
        try withContainer("hook-seccomp") { c in
            // mkdir is denied by the profile; the hook (run in the container) tries it.
            c.linux["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW",
                                  "syscalls": [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"]]]
            c.config["hooks"] = ["startContainer": [["path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/hook-dir"]]]]
            c.config["root"] = ["path": "rootfs", "readonly": false]
            c.shell("true")
            let r = try c.run()
            #expect(r.status != 0, "the forbidden hook did not fail the start: \(r.summary)")
            #expect(r.stderr.contains("startContainer"), "\(r.summary)")
            #expect(!FileManager.default.fileExists(atPath: c.rootfs + "/tmp/hook-dir"))
            // Without the forbidden call the same hook setup starts the container.
            c.config["hooks"] = ["startContainer": [["path": "/bin/sh", "args": ["sh", "-c", "echo hook > /tmp/hook-ran"]]]]
            let ok = try c.run()
            #expect(ok.succeeded, "\(ok.summary)")
            #expect(FileManager.default.fileExists(atPath: c.rootfs + "/tmp/hook-ran"))
        }
    }
}

extension RuntimeIntegration {
    @Test("an exec process being set up shows no host root or cwd, even to CAP_SYS_PTRACE in the container")
    func execChildLeadsNowhereWhileSettingUp() throws {
        try withContainer("exec-reach") { c in
            try c.installAttack()
            // On the host, outside the container: found only through a host root or cwd.
            let marker = c.workDir + "/host-marker"
            try "host-side\n".write(toFile: marker, atomically: true, encoding: .utf8)
            var caps = ["CAP_KILL", "CAP_SYS_PTRACE"]
            caps.sort()
            c.process["capabilities"] = ["bounding": caps, "effective": caps, "permitted": caps]
            c.process["args"] = ["/attack", "reach", "60", "/report", String(marker.dropFirst())]
            try c.writeConfig()
            try #require(c.runtime(["run", "-d", "--bundle", c.bundle, c.id]).succeeded)
            // Run from the work dir, so that a host cwd would show the marker too.
            for _ in 0..<30 where !c.attackReport().contains("SETUP") {
                runCommand("/bin/sh", ["-c", "cd '\(c.workDir)' && exec '\(Environment.runtime!)' --root '\(c.stateRoot)' exec \(c.id) true"])
            }
            let report = c.attackReport()
            #expect(report.contains("SETUP"), "the attacker never saw an exec process being set up: \(report)")
            #expect(!report.contains("HOST"), "an exec process being set up led to the host: \(report)")
        }
    }
}
