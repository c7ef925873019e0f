import Base

/// Where a container's cgroup lives, the same path in every hierarchy.
///
/// cgroupfs driver (the default):
/// - absolute `linux.cgroupsPath` ("/a/b"): that path from the root of each hierarchy, as runc;
/// - relative ("a/b"): under the swiftlet parent, "/swiftlet/a/b". runc puts relative paths
///   under the runtime's own cgroup, but that changes with whoever calls `delete` later and
///   breaks cgroup v2's no-internal-processes rule; a fixed parent does neither;
/// - absent: "/swiftlet/<container id>".
/// ".." can never climb above the hierarchy root (paths are cleaned as if rooted).
///
/// systemd driver (`--systemd-cgroup`): "slice:prefix:name" is mapped to the path systemd
/// would give the unit ("machine.slice:libpod:abc" -> "/machine.slice/libpod-abc.scope";
/// "a-b.slice" expands to "/a.slice/a-b.slice"; an empty slice is "system.slice"; a name
/// ending in ".slice" is used as is). swiftlet does not talk to systemd over D-Bus: it manages
/// that path itself with the cgroupfs driver, so it works where systemd does not run. Absent,
/// the path is "system.slice:swiftlet:<container id>".
public enum CgroupPath {
    public static let parent = "/swiftlet"

    public static func resolve(_ cgroupsPath: String?, containerID: String, systemd: Bool) throws(SwiftletError) -> String {
        try checkComponent(containerID, what: "container id")
        if systemd {
            return try systemdPath(cgroupsPath ?? ("system.slice:swiftlet:" + containerID))
        }
        guard let given = cgroupsPath, !given.isEmpty else { return parent + "/" + containerID }
        let cleaned = try clean(given)
        if given.hasBytePrefix("/") {
            if cleaned.isEmpty { throw SwiftletError(.cgroups, "cgroupsPath \"" + given + "\" is the root cgroup") }
            return "/" + join(cleaned, "/")
        }
        if cleaned.isEmpty { throw SwiftletError(.cgroups, "cgroupsPath \"" + given + "\" names no cgroup") }
        return parent + "/" + join(cleaned, "/")
    }

    /// Components of `path` with "." and "" dropped and ".." applied, never above the root.
    static func clean(_ path: String) throws(SwiftletError) -> [String] {
        var parts: [String] = []
        for part in path.split(byte: 47) {
            if part.isEmpty || part.bytesEqual(".") { continue }
            if part.bytesEqual("..") {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            try checkComponent(part, what: "cgroupsPath component")
            parts.append(part)
        }
        return parts
    }

    /// A directory name the kernel and /proc/<pid>/cgroup can carry unambiguously.
    static func checkComponent(_ name: String, what: String) throws(SwiftletError) {
        let bytes = Array(name.utf8)
        if bytes.isEmpty || bytes.count > 255 || name.bytesEqual(".") || name.bytesEqual("..") {
            throw SwiftletError(.cgroups, "invalid " + what + " \"" + name + "\"")
        }
        for b in bytes where b < 32 || b == 127 || b == 47 {
            throw SwiftletError(.cgroups, "invalid " + what + " \"" + name + "\": control character or slash")
        }
    }

    static func systemdPath(_ spec: String) throws(SwiftletError) -> String {
        let parts = spec.split(byte: 58)
        guard parts.count == 3 else {
            throw SwiftletError(.cgroups, "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got \"" + spec + "\" instead")
        }
        let slice = parts[0].isEmpty ? "system.slice" : parts[0]
        let prefix = parts[1]
        let name = parts[2]
        try checkComponent(name, what: "systemd unit name")
        if !prefix.isEmpty { try checkComponent(prefix, what: "systemd unit prefix") }
        let unit: String
        if name.hasByteSuffix(".slice") {
            unit = name
        } else {
            unit = (prefix.isEmpty ? name : prefix + "-" + name) + ".scope"
        }
        let base = try expandSlice(slice)
        return (base.bytesEqual("/") ? "" : base) + "/" + unit
    }

    /// systemd's slice naming: "a-b-c.slice" is "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" is the root.
    static func expandSlice(_ slice: String) throws(SwiftletError) -> String {
        let suffix = ".slice"
        let invalid = SwiftletError(.cgroups, "invalid systemd slice name \"" + slice + "\"")
        guard slice.hasByteSuffix(suffix), slice.utf8.count > suffix.utf8.count, !slice.containsByte(47) else { throw invalid }
        let stem = String(decoding: Array(slice.utf8).dropLast(suffix.utf8.count), as: UTF8.self)
        if stem.bytesEqual("-") { return "/" }
        var path = ""
        var prefix = ""
        for component in stem.split(byte: 45) {
            if component.isEmpty { throw invalid }
            path += "/" + prefix + component + suffix
            prefix += component + "-"
        }
        try checkComponent(slice, what: "systemd slice name")
        return path
    }
}
