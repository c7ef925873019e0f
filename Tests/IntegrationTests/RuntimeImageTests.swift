// The runtime's own executable out of a container's reach (CVE-2019-5736): a container that
// gets the runtime's image run inside it cannot write the host's binary.
import Foundation
import Testing

extension TestContainer {
    /// A private copy of the runtime under test in the work dir: what the attack may write
    /// to is this copy, never the binary the other tests use.
    func runtimeCopy() throws -> String {
        let copy = workDir + "/runtime-copy"
        let copied = runCommand("/bin/cp", [Environment.runtime!, copy])
        try #require(copied.succeeded, "copying the runtime failed: \(copied.summary)")
        return copy
    }

    /// e2e/security/exe-attack.c built statically into the rootfs as /attack, and the
    /// script /victim whose interpreter is "/proc/self/exe".
    func installAttack() throws {
        let built = runCommand("/usr/bin/cc", ["-static", "-O2", "-o", rootfs + "/attack",
                                               Environment.repositoryRoot + "/e2e/security/exe-attack.c"], timeout: 60)
        try #require(built.succeeded, "building exe-attack.c failed: \(built.summary)")
        try "#!/proc/self/exe\n".write(toFile: rootfs + "/victim", atomically: true, encoding: .utf8)
        chmod(rootfs + "/victim", 0o755)
        config["root"] = ["path": "rootfs", "readonly": false]
    }

    func attackReport() -> String { (try? String(contentsOfFile: rootfs + "/report", encoding: .utf8)) ?? "" }
}

func sha256(_ path: String) -> String {
    String(runCommand("/usr/bin/sha256sum", [path]).stdout.prefix(64))
}

extension RuntimeIntegration {
    @Test("exec of a '#!/proc/self/exe' script: the container catches the runtime's image but cannot write the host binary")
    func execCannotOverwriteTheRuntime() throws {
        try withContainer("exe-exec") { c in
            try c.installAttack()
            let runtime = try c.runtimeCopy()
            let digest = sha256(runtime)
            c.process["args"] = ["/attack", "90", "/report", "/bin/busybox"]
            try c.writeConfig()
            try #require(runCommand(runtime, ["--root", c.stateRoot, "create", "--bundle", c.bundle, c.id]).succeeded)
            try #require(runCommand(runtime, ["--root", c.stateRoot, "start", c.id]).succeeded)
            // Each exec runs the runtime inside the container (it then fails: "/victim" is
            // no command of it); the attacker waits for it as the next pid of the namespace.
            // The victim runs at the lowest priority: on a busy machine it then lives long
            // enough for the attacker (at normal priority) to see it.
            for _ in 0..<20 where !c.attackReport().contains("CAUGHT") {
                runCommand("/usr/bin/nice", ["-n", "19", runtime, "--root", c.stateRoot, "exec", c.id, "/victim"])
            }
            #expect(eventually(timeout: 60) { c.attackReport().contains("WROTE") || c.attackReport().contains("REFUSED") },
                    "the attacker never got hold of the runtime's image: \(c.attackReport())")
            let report = c.attackReport()
            #expect(!report.contains("WROTE"), "the container wrote the runtime binary: \(report)")
            #expect(sha256(runtime) == digest, "the runtime binary changed: \(report)")
        }
    }

    @Test("start of a container in another's pid namespace: the runtime's image it runs cannot be written from there")
    func startInSharedPidNamespaceCannotOverwriteTheRuntime() throws {
        try withContainer("exe-pod") { c in
            try c.installAttack()
            let runtime = try c.runtimeCopy()
            let digest = sha256(runtime)
            c.process["args"] = ["/attack", "90", "/report", "/bin/busybox"]
            try c.writeConfig()
            try #require(runCommand(runtime, ["--root", c.stateRoot, "run", "-d", "--bundle", c.bundle, c.id]).succeeded)
            let attackerPid = try #require(c.state()?["pid"] as? Int)

            // The victim: a second container of the same pod (the attacker's pid namespace)
            // whose process is the "#!/proc/self/exe" script.
            let victim = c.id + "-victim"
            c.process["args"] = ["/victim"]
            var namespaces = (c.linux["namespaces"] as? [[String: Any]]) ?? []
            namespaces = namespaces.map { $0["type"] as? String == "pid" ? ["type": "pid", "path": "/proc/\(attackerPid)/ns/pid"] : $0 }
            c.linux["namespaces"] = namespaces
            try c.writeConfig()
            for attempt in 0..<10 where !c.attackReport().contains("CAUGHT") {
                let id = victim + "-\(attempt)"
                runCommand("/usr/bin/nice", ["-n", "19", runtime, "--root", c.stateRoot, "create", "--bundle", c.bundle, id])
                runCommand(runtime, ["--root", c.stateRoot, "start", id])
                runCommand(runtime, ["--root", c.stateRoot, "delete", "--force", id])
            }
            #expect(eventually(timeout: 60) { c.attackReport().contains("WROTE") || c.attackReport().contains("REFUSED") },
                    "the attacker never got hold of the runtime's image: \(c.attackReport())")
            let report = c.attackReport()
            #expect(!report.contains("WROTE"), "the container wrote the runtime binary: \(report)")
            #expect(sha256(runtime) == digest, "the runtime binary changed: \(report)")
            runCommand(runtime, ["--root", c.stateRoot, "delete", "--force", c.id])
        }
    }
}
