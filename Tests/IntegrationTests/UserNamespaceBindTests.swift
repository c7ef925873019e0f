// Bind mounts of a user-namespace container: their sources are opened by the runtime as
// host root (the container's root may not reach them), and id-mapped binds get their
// mapping from the runtime (the container's root cannot write a new namespace's maps).
import Foundation
import Testing
import TestSupport

extension TestContainer {
    /// Root mapped to host 100000..165535, and the rootfs given to that range, so that the
    /// init can create mount points in it.
    func useMappedRoot() throws {
        var l = linux
        var namespaces = l["namespaces"] as? [[String: Any]] ?? []
        namespaces.append(["type": "user"])
        l["namespaces"] = namespaces
        l["uidMappings"] = [["containerID": 0, "hostID": 100000, "size": 65536]]
        l["gidMappings"] = [["containerID": 0, "hostID": 100000, "size": 65536]]
        linux = l
        let owned = runCommand("/bin/chown", ["-R", "100000:100000", rootfs])
        guard owned.succeeded else { throw Failure("chown of the rootfs failed: \(owned.summary)") }
    }

    /// `<workDir>/private` (0700, host root's) holding `shared/data`: a source the mapped
    /// root cannot reach through its parent. Returns the source's path.
    func unreachableBindSource(_ content: String) throws -> String {
        let shared = workDir + "/private/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        try content.write(toFile: shared + "/data", atomically: false, encoding: .utf8)
        chmod(shared + "/data", 0o644)
        chmod(shared, 0o755)
        chown(workDir + "/private", 0, 0)
        chmod(workDir + "/private", 0o700)
        return shared
    }
}

extension RuntimeIntegration {
    @Test("a user-namespace container bind-mounts a source its root cannot reach (opened by the runtime, as runc does)")
    func userNamespaceBindOfUnreachableSource() throws {
        try requireRoot()
        guard KernelFacts.hasNamespace("user") else { try skip("no user namespaces on this kernel") }
        try withContainer("userns-bind-unreachable") { c in
            try c.useMappedRoot()
            let source = try c.unreachableBindSource("reached\n")
            c.mounts.append(["destination": "/data", "type": "bind", "source": source, "options": ["rbind", "ro"]])
            c.shell("cat /data/data; id -u; touch /data/new 2>/dev/null && echo writable || echo read-only")
            let r = try c.run()
            #expect(r.succeeded, "\(r.summary)")
            #expect(r.stdoutLines == ["reached", "0", "read-only"], "\(r.summary)")
            c.expectNothingLeft("after the container with an unreachable bind source")
        }
    }

    @Test("id-mapped bind mounts work in a user-namespace container: with the container's mapping and with the mount's own")
    func userNamespaceIDMappedBinds() throws {
        try requireRoot()
        guard KernelFacts.hasNamespace("user") else { try skip("no user namespaces on this kernel") }
        guard KernelFacts.hasMountSetattr else { try skip("no mount_setattr(2) (id-mapped mounts) on this kernel") }
        try withContainer("userns-bind-idmap") { c in
            try c.useMappedRoot()
            // Files owned by host ids the container's mapping does not cover.
            let dir = c.workDir + "/owned"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try "x\n".write(toFile: dir + "/file", atomically: false, encoding: .utf8)
            chown(dir + "/file", 1234, 1235)
            c.mounts.append(["destination": "/plain", "type": "bind", "source": dir, "options": ["bind"]])
            // "idmap": the container's own mapping, so host 1234 is 1234 inside.
            c.mounts.append(["destination": "/own", "type": "bind", "source": dir, "options": ["bind", "idmap"]])
            // The mount's mapping (runtime-spec 1.2): on-disk 1234 -> host 100042, 42 inside.
            c.mounts.append(["destination": "/mapped", "type": "bind", "source": dir, "options": ["bind"],
                             "uidMappings": [["containerID": 1234, "hostID": 100042, "size": 1]],
                             "gidMappings": [["containerID": 1235, "hostID": 100043, "size": 1]]])
            c.shell("for d in plain own mapped; do stat -c \"$d %u %g\" /$d/file; done")
            let r = try c.run()
            if !r.succeeded, r.stderr.contains("may not support id-mapped mounts") {
                try skip("the file system under \(c.workDir) has no id-mapped mounts: \(r.stderr)")
            }
            #expect(r.succeeded, "\(r.summary)")
            #expect(r.stdoutLines == ["plain 65534 65534", "own 1234 1235", "mapped 42 43"], "\(r.summary)")
            c.expectNothingLeft("after the container with id-mapped binds")
        }
    }

    @Test("the runtime's bind sources leave nothing behind: no fd in the container's process, nothing after a failed create")
    func userNamespaceBindSourcesLeaveNothing() throws {
        try requireRoot()
        guard KernelFacts.hasNamespace("user") else { try skip("no user namespaces on this kernel") }
        try withContainer("userns-bind-leftovers") { c in
            try c.useMappedRoot()
            let source = try c.unreachableBindSource("reached\n")
            c.mounts.append(["destination": "/data", "type": "bind", "source": source, "options": ["bind"]])
            c.mounts.append(["destination": "/again", "type": "bind", "source": source, "options": ["rbind", "idmap"]])
            // Every fd the process holds: only stdio (ls's own directory fd is 3).
            c.shell("cat /data/data; ls /proc/self/fd | tr '\\n' ' '")
            let r = try c.run()
            #expect(r.succeeded, "\(r.summary)")
            #expect(r.stdoutLines == ["reached", "0 1 2 3 "], "\(r.summary)")
            c.expectNothingLeft("after the run")

            // A missing source is refused at create in one line, before anything exists.
            c.mounts.append(["destination": "/missing", "type": "bind", "source": c.workDir + "/no-such-source",
                             "options": ["bind"]])
            let failed = try c.create()
            #expect(!failed.succeeded, "\(failed.summary)")
            #expect(failed.stderr.contains("no-such-source"), "\(failed.summary)")
            #expect(failed.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1,
                    "\(failed.summary)")
            c.expectNothingLeft("after the refused create")
        }
    }

    @Test("a bind source on a host read-only mount stays read-only in a user-namespace container, even to CAP_SYS_ADMIN (the kernel's lock is kept)")
    func userNamespaceBindKeepsHostLocks() throws {
        try requireRoot()
        guard KernelFacts.hasNamespace("user") else { try skip("no user namespaces on this kernel") }
        try withContainer("userns-bind-locked") { c in
            try c.useMappedRoot()
            let source = c.workDir + "/readonly"
            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
            chmod(source, 0o777)
            let bound = runCommand("/bin/mount", ["--bind", source, source])
            try #require(bound.succeeded, "\(bound.summary)")
            defer { _ = umount2(source, Int32(MNT_DETACH)) }
            let readOnly = runCommand("/bin/mount", ["-o", "remount,bind,ro", source])
            try #require(readOnly.succeeded, "\(readOnly.summary)")
            var process = c.process
            var caps = process["capabilities"] as? [String: Any] ?? [:]
            for set in ["bounding", "effective", "permitted"] {
                caps[set] = Array(Set((caps[set] as? [String] ?? []) + ["CAP_SYS_ADMIN"]))
            }
            process["capabilities"] = caps
            c.process = process
            c.mounts.append(["destination": "/data", "type": "bind", "source": source, "options": ["bind"]])
            c.shell("mount -o remount,bind,rw /data 2>/dev/null && touch /data/written; echo done")
            let r = try c.run()
            #expect(r.succeeded, "\(r.summary)")
            #expect(r.stdoutLines == ["done"], "\(r.summary)")
            #expect(!FileManager.default.fileExists(atPath: source + "/written"), "the container wrote to a host read-only mount")
            _ = umount2(source, Int32(MNT_DETACH))
            c.expectNothingLeft("after the container with a locked bind source")
        }
    }
}
