import Base
import CLinux
import Syscalls

/// Which cgroup versions the host mounts. Decided at run time: embedded boards ship all three.
public enum CgroupMode: Equatable, Sendable {
    /// Only v1 hierarchies (no cgroup2 mount).
    case v1
    /// v1 controller hierarchies plus a cgroup2 mount (usually /sys/fs/cgroup/unified) that
    /// holds the controllers v1 does not claim, if any.
    case hybrid
    /// One cgroup2 hierarchy with every controller.
    case v2

    public var name: String {
        switch self {
        case .v1: return "v1"
        case .hybrid: return "hybrid"
        case .v2: return "v2"
        }
    }
}

/// One mounted cgroup hierarchy.
public struct CgroupHierarchy: Equatable, Sendable {
    /// Mount point as the kernel reports it, e.g. "/sys/fs/cgroup/memory".
    public var mountPoint: String
    /// Where the files are: the layout's fsRoot followed by `mountPoint`.
    public var path: String
    /// The cgroup that is the root of this mount (mountinfo field 4; not "/" inside some containers).
    public var root: String
    /// v1: the controllers bound to the hierarchy ("cpu", "cpuacct", "name=systemd").
    /// v2: the controllers listed in the root's cgroup.controllers.
    public var controllers: [String]
    /// The runtime's own cgroup in this hierarchy (from /proc/self/cgroup), "/" if unknown.
    public var ownCgroup: String

    /// The last component of the mount point ("cpu,cpuacct", "memory", "unified").
    public var name: String {
        let parts = mountPoint.split(byte: 47)
        return parts.last ?? mountPoint
    }

    public func has(_ controller: String) -> Bool {
        controllers.contains { $0.bytesEqual(controller) }
    }
}

/// The cgroup hierarchies of the host, from /proc/self/mountinfo and /proc/self/cgroup.
public struct CgroupLayout: Sendable {
    public var mode: CgroupMode
    /// v1 hierarchies, one per distinct set of controllers. Empty in v2 mode.
    public var v1: [CgroupHierarchy]
    /// The cgroup2 mount (v2 and hybrid modes).
    public var unified: CgroupHierarchy?
    /// Prefix put in front of every path, "" on a real system; tests point it at a fake tree.
    public var fsRoot: String

    public init(mode: CgroupMode, v1: [CgroupHierarchy], unified: CgroupHierarchy?, fsRoot: String) {
        self.mode = mode
        self.v1 = v1
        self.unified = unified
        self.fsRoot = fsRoot
    }

    /// The layout of the running system.
    public static func detect() throws(SwiftletError) -> CgroupLayout {
        let mountinfo = try readTextFile("/proc/self/mountinfo", stage: .cgroups)
        let selfCgroup = (try? readTextFile("/proc/self/cgroup", stage: .cgroups)) ?? ""
        return parse(mountinfo: mountinfo, selfCgroup: selfCgroup, fsRoot: "")
    }

    /// Builds a layout from mountinfo and /proc/self/cgroup text. Reads only the v2 root's
    /// cgroup.controllers under `fsRoot`, so a fake tree in a temporary directory works.
    public static func parse(mountinfo: String, selfCgroup: String, fsRoot: String) -> CgroupLayout {
        let own = parseSelfCgroup(selfCgroup)
        var v1: [CgroupHierarchy] = []
        var unified: CgroupHierarchy? = nil

        for line in mountinfo.split(byte: 10) {
            guard let mount = MountinfoLine(line) else { continue }
            if mount.fsType.bytesEqual("cgroup2") {
                let candidate = CgroupHierarchy(
                    mountPoint: mount.mountPoint, path: fsRoot + mount.mountPoint, root: mount.root,
                    controllers: [], ownCgroup: own.unified ?? "/")
                // The first mount wins unless a later one is the canonical /sys/fs/cgroup one.
                if let current = unified {
                    if !isCanonical(current.mountPoint) && isCanonical(candidate.mountPoint) { unified = candidate }
                } else {
                    unified = candidate
                }
            } else if mount.fsType.bytesEqual("cgroup") {
                let controllers = v1Controllers(mount.superOptions)
                if controllers.isEmpty { continue }
                let candidate = CgroupHierarchy(
                    mountPoint: mount.mountPoint, path: fsRoot + mount.mountPoint, root: mount.root,
                    controllers: controllers, ownCgroup: own.path(for: controllers) ?? "/")
                // A hierarchy may be mounted more than once (bind mounts, containers' views).
                if let i = v1.firstIndex(where: { sameSet($0.controllers, controllers) }) {
                    if !isCanonical(v1[i].mountPoint) && isCanonical(candidate.mountPoint) { v1[i] = candidate }
                } else {
                    v1.append(candidate)
                }
            }
        }

        if var u = unified {
            let text = (try? readTextFile(u.path + "/cgroup.controllers", stage: .cgroups)) ?? ""
            u.controllers = words(text)
            unified = u
        }

        let hasV1Controllers = v1.contains { h in h.controllers.contains { !$0.hasBytePrefix("name=") } }
        let mode: CgroupMode
        if hasV1Controllers {
            mode = unified == nil ? .v1 : .hybrid
        } else if unified != nil {
            mode = .v2
            v1 = []
        } else {
            mode = .v1
        }
        return CgroupLayout(mode: mode, v1: v1, unified: unified, fsRoot: fsRoot)
    }

    /// The v1 hierarchy a controller is bound to.
    public func v1Hierarchy(for controller: String) -> CgroupHierarchy? {
        v1.first { $0.has(controller) }
    }
}

// MARK: parsing helpers

/// The fields of one /proc/self/mountinfo line that matter for cgroups.
struct MountinfoLine {
    var root: String
    var mountPoint: String
    var fsType: String
    var superOptions: String

    init?(_ line: String) {
        let fields = line.split(byte: 32)
        // id parent dev root mountpoint options [optional...] - fstype source superoptions
        guard fields.count >= 10, let dash = fields.firstIndex(where: { $0.bytesEqual("-") }),
              dash >= 6, dash + 3 < fields.count else { return nil }
        root = unescapeMountField(fields[3])
        mountPoint = unescapeMountField(fields[4])
        fsType = fields[dash + 1]
        superOptions = fields[dash + 3]
    }
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
func unescapeMountField(_ s: String) -> String {
    guard s.containsByte(92) else { return s }
    let b = Array(s.utf8)
    var out: [UInt8] = []
    var i = 0
    while i < b.count {
        if b[i] == 92, i + 3 < b.count,
           let v = parseOctal(String(decoding: b[(i + 1)..<(i + 4)], as: UTF8.self)), v < 256 {
            out.append(UInt8(v))
            i += 4
        } else {
            out.append(b[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// The controllers a v1 mount binds, from its super options ("rw,cpu,cpuacct").
func v1Controllers(_ superOptions: String) -> [String] {
    var out: [String] = []
    for option in superOptions.split(byte: 44) where isV1Controller(option) {
        out.append(option)
    }
    return out
}

private let knownV1Controllers = [
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio", "blkio",
    "perf_event", "hugetlb", "pids", "rdma", "misc", "debug",
]

private func isV1Controller(_ option: String) -> Bool {
    if option.hasBytePrefix("name=") { return option.utf8.count > 5 }
    return knownV1Controllers.contains { $0.bytesEqual(option) }
}

private func isCanonical(_ mountPoint: String) -> Bool {
    mountPoint.bytesEqual("/sys/fs/cgroup") || mountPoint.hasBytePrefix("/sys/fs/cgroup/")
}

private func sameSet(_ a: [String], _ b: [String]) -> Bool {
    a.count == b.count && a.allSatisfy { x in b.contains { $0.bytesEqual(x) } }
}

/// /proc/self/cgroup: "id:controllers:path" lines; "0::path" is the v2 one.
struct SelfCgroup {
    var v1: [(controllers: [String], path: String)] = []
    var unified: String? = nil

    func path(for controllers: [String]) -> String? {
        for entry in v1 where sameSet(entry.controllers, controllers) { return entry.path }
        return nil
    }
}

func parseSelfCgroup(_ text: String) -> SelfCgroup {
    var result = SelfCgroup()
    for line in text.split(byte: 10) where !line.isEmpty {
        guard let (id, rest) = line.splitOnce(byte: 58), let (list, path) = rest.splitOnce(byte: 58) else { continue }
        if id.bytesEqual("0") && list.isEmpty {
            result.unified = path
        } else {
            result.v1.append((list.split(byte: 44).filter { !$0.isEmpty }, path))
        }
    }
    return result
}
