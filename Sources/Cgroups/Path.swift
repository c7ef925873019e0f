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
/// ending in ".slice" is used as is). systemd makes that cgroup as a transient unit (see
/// `SystemdUnit`); absent, the path is "system.slice:swiftlet:<container id>".
public enum CgroupPath {
    public static let parent = "/swiftlet"

    public static func resolve(_ cgroupsPath: String?, containerID: String, systemd: Bool) throws(SwiftletError) -> String {
        try checkComponent(containerID, what: "container id")
        if systemd {
            return try systemdUnit(cgroupsPath, containerID: containerID).path
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

    /// The deepest cgroup containing both `a` and `b` (absolute paths in one hierarchy).
    public static func commonAncestor(_ a: String, _ b: String) -> String {
        let x = lexicalComponents(a), y = lexicalComponents(b)
        var shared: [String] = []
        for (p, q) in zip(x, y) {
            guard p.bytesEqual(q) else { break }
            shared.append(p)
        }
        return "/" + join(shared, "/")
    }

    /// The lexically cleaned components of `path` (never above the root), each one a name
    /// the kernel and /proc/<pid>/cgroup can carry.
    static func clean(_ path: String) throws(SwiftletError) -> [String] {
        let parts = lexicalComponents(path)
        for part in parts { try checkComponent(part, what: "cgroupsPath component") }
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

    /// The unit a systemd cgroupsPath names, its parent slice and its cgroup path.
    public static func systemdUnit(_ cgroupsPath: String?, containerID: String) throws(SwiftletError) -> SystemdUnitName {
        let spec = cgroupsPath ?? ("system.slice:swiftlet:" + containerID)
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
        return SystemdUnitName(unit: unit, slice: slice, path: (base.bytesEqual("/") ? "" : base) + "/" + unit)
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

/// A systemd unit for a container: "libpod-abc.scope" in "machine.slice", whose cgroup is
/// "/machine.slice/libpod-abc.scope".
public struct SystemdUnitName: Sendable, Equatable {
    public let unit: String
    public let slice: String
    public let path: String

    /// A scope holds processes; a name ending in ".slice" asks for a slice unit instead.
    public var isScope: Bool { unit.hasByteSuffix(".scope") }
}

/// `exec --cgroup`: the sub-cgroup of the container's cgroup the process joins, per
/// controller ("" for every hierarchy), from runc's arguments: one `path`, or any number of
/// `ctrl1,ctrl2:path`. Paths are relative to the container's cgroup ("/a" is "a") and may
/// not leave it.
public struct SubCgroups: Sendable {
    /// Each path cleaned to "a/b" ("" for the container's cgroup itself).
    public var paths: [(controller: String, path: String)] = []

    public init() {}

    public var isEmpty: Bool { paths.isEmpty }

    public static func parse(_ args: [String]) throws(SwiftletError) -> SubCgroups {
        var out = SubCgroups()
        for arg in args {
            guard let (controllers, path) = arg.splitOnce(byte: 58) else {   // ":"
                if args.count != 1 {
                    throw SwiftletError(.usage, "invalid --cgroup argument: " + arg + " (missing <controller>: prefix)")
                }
                out.paths.append(("", try relative(arg, argument: arg)))
                continue
            }
            if path.containsByte(58) { throw SwiftletError(.usage, "invalid --cgroup argument: " + arg) }
            let cleaned = try relative(path, argument: arg)
            for controller in controllers.split(byte: 44) {   // ","
                if controller.isEmpty {
                    throw SwiftletError(.usage, "invalid --cgroup argument: " + arg + " (empty <controller> prefix)")
                }
                if out.paths.contains(where: { $0.controller.bytesEqual(controller) }) {
                    throw SwiftletError(.usage, "invalid --cgroup argument(s): controller " + controller + " specified multiple times")
                }
                out.paths.append((controller, cleaned))
            }
        }
        return out
    }

    /// The sub-cgroup path for a hierarchy holding `controllers`; nil: the container's cgroup.
    func path(for controllers: [String]) -> String? {
        for (c, p) in paths where !c.isEmpty && controllers.contains(where: { $0.bytesEqual(c) }) { return p }
        return paths.first { $0.controller.isEmpty }?.path
    }

    static func relative(_ path: String, argument: String) throws(SwiftletError) -> String {
        var parts: [String] = []
        for part in path.split(byte: 47) {
            if part.isEmpty || part.bytesEqual(".") { continue }
            if part.bytesEqual("..") {
                if parts.isEmpty {
                    throw SwiftletError(.usage, "--cgroup " + argument + ": not a sub-cgroup of the container's cgroup")
                }
                parts.removeLast()
                continue
            }
            try CgroupPath.checkComponent(part, what: "--cgroup path component")
            parts.append(part)
        }
        return join(parts, "/")
    }
}
