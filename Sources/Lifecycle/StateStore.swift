import Base
import CLinux
import JSON
import OCISpec
import Syscalls

/// The state directory of all containers (`--root`, tmpfs by default: nothing on the
/// hot path touches flash) and of one container in it:
///   <root>/<id>/state.json   what `state` reports plus what delete needs
///   <root>/<id>/config.json  the config as created (poststop hooks, cgroup path)
///   <root>/<id>/exec.fifo    present while the container is `created`
public struct StateStore: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public func directory(_ id: String) -> String { root + "/" + id }

    /// Creates the root (0700: state names bundles and pids) if needed; a rootless
    /// runtime also checks that it is its own (see checkOwnStateRoot).
    public func ensureRoot() throws(SwiftletError) {
        try makeDirectories(root, mode: 0o700, stage: .state)
        if isRootless { try checkOwnStateRoot(root) }
    }

    /// Every container id in the root, sorted.
    public func ids() -> [String] {
        guard let names = try? listDirectory(root, stage: .state) else { return [] }
        var ids: [String] = []
        for n in names where isDirectory(root + "/" + n) && (try? validateContainerID(n)) != nil { ids.append(n) }
        return ids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}

/// An exclusive lock on one container's directory: serialises create/start/kill/delete of
/// one id across processes. Released by `unlock` or when the process exits.
public struct ContainerLock: Sendable {
    let fd: FileDescriptor

    public static func acquire(_ dir: String) throws(SwiftletError) -> ContainerLock {
        let fd = try FileDescriptor.open(dir, O_RDONLY | O_DIRECTORY, stage: .state)
        while flock(fd.raw, LOCK_EX) != 0 {
            if cl_errno() == EINTR { continue }
            let e = SwiftletError.system(.state, "lock " + dir)
            fd.close()
            throw e
        }
        return ContainerLock(fd: fd)
    }

    public func unlock() { fd.close() }
}

/// What swiftlet records about a container beyond its config.
public struct ContainerRecord: Sendable {
    public var id: String
    public var pid: Int32
    public var pidStartTime: UInt64
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var owner: String
    public var annotations: [(String, String)]
    public var cgroupsPath: String?
    public var systemdCgroup: Bool
    public var sharesPidNamespace: Bool   // no pid namespace of its own: kill and delete must find its processes by cgroup
    public var sharesMountNamespace: Bool // no mount namespace of its own: delete unmounts what it mounted below rootfs
    public var hasCgroup: Bool            // false for a primitive container on a kernel without usable cgroups
    public var replacementFD: Int32?      // the init's fd of the memfd `start` writes a replacement process into

    public init(id: String, pid: Int32, pidStartTime: UInt64, bundle: String, rootfs: String, created: String,
                owner: String, annotations: [(String, String)], cgroupsPath: String?, systemdCgroup: Bool,
                sharesPidNamespace: Bool, sharesMountNamespace: Bool, hasCgroup: Bool = true, replacementFD: Int32? = nil) {
        self.id = id; self.pid = pid; self.pidStartTime = pidStartTime; self.bundle = bundle; self.rootfs = rootfs
        self.created = created; self.owner = owner; self.annotations = annotations; self.cgroupsPath = cgroupsPath
        self.systemdCgroup = systemdCgroup; self.sharesPidNamespace = sharesPidNamespace
        self.sharesMountNamespace = sharesMountNamespace
        self.hasCgroup = hasCgroup
        self.replacementFD = replacementFD
    }

    public var json: JSON {
        var o = JSONObjectBuilder()
        o.add("id", id)
        o.add("pid", .int(pid))
        o.add("pidStartTime", .uint(pidStartTime))
        o.add("bundle", bundle)
        o.add("rootfs", rootfs)
        o.add("created", created)
        o.add("owner", owner)
        o.add("annotations", JSON.object(annotations.map { JSON.Member($0.0, .string($0.1)) }))
        o.add("cgroupsPath", cgroupsPath)
        o.add("systemdCgroup", systemdCgroup)
        o.add("sharesPidNamespace", sharesPidNamespace)
        o.add("sharesMountNamespace", sharesMountNamespace)
        o.add("hasCgroup", hasCgroup)
        if let replacementFD { o.add("replacementFD", .int(replacementFD)) }
        return o.json
    }

    public static func parse(_ text: String, source: String) throws(SwiftletError) -> ContainerRecord {
        let n = Node(try JSON.parse(text, source: source), path: source)
        var annotations: [(String, String)] = []
        if let a = n["annotations"] { annotations = try a.stringMap() }
        return ContainerRecord(
            id: try n.required("id").string(),
            pid: try n.required("pid").int32(),
            pidStartTime: try n.required("pidStartTime").uint64(),
            bundle: try n.required("bundle").string(),
            rootfs: try n.required("rootfs").string(),
            created: try n.required("created").string(),
            owner: try n["owner"]?.string() ?? "root",
            annotations: annotations,
            cgroupsPath: try n["cgroupsPath"]?.string(),
            systemdCgroup: try n["systemdCgroup"]?.bool() ?? false,
            sharesPidNamespace: try n["sharesPidNamespace"]?.bool() ?? false,
            sharesMountNamespace: try n["sharesMountNamespace"]?.bool() ?? false,
            hasCgroup: try n["hasCgroup"]?.bool() ?? true,
            replacementFD: try n["replacementFD"]?.int32())
    }
}
