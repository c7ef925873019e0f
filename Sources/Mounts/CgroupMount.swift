import Base
import CLinux
import OCISpec
import Syscalls

// The "cgroup" mount type. On a cgroup v2 host it is a cgroup2 mount (which shows the
// container's own cgroup as root inside a cgroup namespace). On v1/hybrid hosts it is a
// tmpfs holding one directory per hierarchy: with a cgroup namespace each is a real
// cgroup mount; without one, each is a bind of the container's own cgroup directory
// (`cgroupBinds`, or, if none were given, found from /proc/self/cgroup).

/// A cgroup hierarchy mounted on the host.
struct CgroupHierarchy {
    /// The directory name under the cgroup mount ("cpu,cpuacct", "systemd", "unified").
    var name: String
    /// For v1: the mount data naming the hierarchy ("cpu,cpuacct", "name=systemd").
    var controllers: [String]
    var isV2: Bool
    var mountPoint: String
    /// The path in the hierarchy that is mounted (mountinfo's root).
    var root: String
}

/// v1 cgroup super options that are not controllers.
private let cgroupNonControllerOptions = [
    "rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "favordynmods", "nofavordynmods", "none",
]

func cgroupHierarchies(_ entries: [MountInfoEntry], excluding rootfs: String) -> [CgroupHierarchy] {
    var result: [CgroupHierarchy] = []
    for entry in entries {
        let isV1 = entry.fsType.bytesEqual("cgroup")
        let isV2 = entry.fsType.bytesEqual("cgroup2")
        guard isV1 || isV2, !isPath(entry.mountPoint, inside: rootfs) else { continue }
        let name = baseName(entry.mountPoint)
        if result.contains(where: { $0.name.bytesEqual(name) }) { continue }
        var controllers: [String] = []
        if isV1 {
            for option in entry.superOptions.split(byte: 44) where !option.isEmpty {
                if option.hasBytePrefix("release_agent=") { continue }
                if cgroupNonControllerOptions.contains(where: { $0.bytesEqual(option) }) { continue }
                controllers.append(option)
            }
            if controllers.isEmpty { continue }
        }
        result.append(CgroupHierarchy(name: name, controllers: controllers, isV2: isV2,
                                      mountPoint: entry.mountPoint, root: entry.root))
    }
    return result
}

/// Where this process's cgroup is in `hierarchy` on the host, from /proc/self/cgroup
/// lines "id:controllers:path".
func ownCgroupPath(_ hierarchy: CgroupHierarchy, procSelfCgroup: String) -> String? {
    for line in procSelfCgroup.split(byte: 10) {
        let fields = line.split(byte: 58)
        guard fields.count >= 3 else { continue }
        let path = join(Array(fields[2...]), ":")
        let matches: Bool
        if hierarchy.isV2 {
            matches = fields[0].bytesEqual("0") && fields[1].isEmpty
        } else {
            let listed = fields[1].split(byte: 44)
            matches = !fields[1].isEmpty && listed.count == hierarchy.controllers.count &&
                listed.allSatisfy { c in hierarchy.controllers.contains(where: { $0.bytesEqual(c) }) }
        }
        guard matches else { continue }
        let relative: String
        if hierarchy.root.bytesEqual("/") {
            relative = path
        } else if isPath(path, inside: hierarchy.root) {
            relative = String(decoding: Array(path.utf8).dropFirst(hierarchy.root.utf8.count), as: UTF8.self)
        } else {
            relative = "/"
        }
        return lexicallyCleanPath(hierarchy.mountPoint + "/" + relative)
    }
    return nil
}

/// A directory name we create under the cgroup tmpfs: one plain component.
func isPlainName(_ name: String) -> Bool {
    !name.isEmpty && !name.bytesEqual(".") && !name.bytesEqual("..") && !name.utf8.contains(47) && !name.utf8.contains(0)
}

func mountCgroup(destination: String, options: MountOptions, requested: String, _ c: MountContext) throws(SwiftletError) {
    let unifiedHost = filesystemInfo(path: "/sys/fs/cgroup")?.type == FilesystemMagic.cgroup2
    if requested.bytesEqual("cgroup2") || unifiedHost {
        try mountCgroup2(destination: destination, options: options, c)
    } else {
        try mountCgroupV1(destination: destination, options: options, c)
    }
}

func mountCgroup2(destination: String, options: MountOptions, _ c: MountContext) throws(SwiftletError) {
    var bind = options
    bind.flags |= MountFlag.bind | MountFlag.recursive
    bind.data = ""
    if !c.cgroupNamespace, let entry = c.cgroupBinds.first(where: { $0.name.isEmpty }) ?? c.cgroupBinds.first {
        try bindMount(source: entry.hostPath, destination: destination, options: bind, c)
        return
    }
    do throws(SwiftletError) {
        try mountFilesystem(type: "cgroup2", source: "cgroup2", destination: destination, options: options, c)
    } catch let error where error.errno == EPERM || error.errno == EBUSY {
        // Without the right to mount cgroup2 (a user namespace without a cgroup namespace),
        // bind the container's own cgroup instead (or all of it, as runc does).
        var source = "/sys/fs/cgroup"
        if c.cgroupNamespace, let text = try? readTextFile("/proc/self/cgroup", stage: .mounts) {
            let v2 = CgroupHierarchy(name: "", controllers: [], isV2: true, mountPoint: "/sys/fs/cgroup", root: "/")
            source = ownCgroupPath(v2, procSelfCgroup: text) ?? source
        }
        try bindMount(source: source, destination: destination, options: bind, c)
    }
}

func mountCgroupV1(destination: String, options: MountOptions, _ c: MountContext) throws(SwiftletError) {
    let readOnly = options.flags & MountFlag.readOnly != 0
    let safe = MountFlag.noSuid | MountFlag.noDev | MountFlag.noExec

    let target = try openMountTarget(c, destination, missing: .makeDirectories)
    defer { target.close() }
    try checkProcDestination(target.path, isProc: false)
    try mountOrThrow("tmpfs", procSelfFd(target.fd), "tmpfs", safe, "mode=755", shown: destination)
    let tmpfs = try reopenMount(c, target, shown: destination)
    defer { tmpfs.close() }
    var tmpfsOptions = MountOptions()
    tmpfsOptions.propagation = options.propagation
    try applyPropagationAndAttributes(tmpfs, tmpfsOptions, shown: destination)

    let procSelfCgroup = (try? readTextFile("/proc/self/cgroup", stage: .mounts)) ?? ""
    let hierarchies = cgroupHierarchies(try readMountInfo(), excluding: c.rootfs)
    // What goes in each directory: a fresh mount of the hierarchy, or a bind of a host path.
    var names: [String] = []
    var sources: [String?] = []
    var kinds: [CgroupHierarchy?] = []
    if !c.cgroupNamespace && !c.cgroupBinds.isEmpty {
        for entry in c.cgroupBinds {
            names.append(entry.name)
            sources.append(entry.hostPath)
            kinds.append(nil)
        }
    } else {
        for h in hierarchies {
            names.append(h.name)
            sources.append(ownCgroupPath(h, procSelfCgroup: procSelfCgroup))
            kinds.append(c.cgroupNamespace ? h : nil)
        }
    }

    var bind = options
    bind.flags |= MountFlag.bind | MountFlag.recursive
    bind.data = ""
    bind.propagation = []
    for i in 0..<names.count {
        let name = names[i]
        guard isPlainName(name) else {
            throw SwiftletError(.mounts, "cgroup hierarchy name " + jsonQuoted(name) + " is not a plain name",
                                errno: EINVAL)
        }
        let subdirectory = destination + "/" + name
        if let hierarchy = kinds[i] {
            let sub = try openMountTarget(c, subdirectory, missing: .makeDirectories)
            defer { sub.close() }
            let flags = safe | (readOnly ? MountFlag.readOnly : 0)
            let type = hierarchy.isV2 ? "cgroup2" : "cgroup"
            let isSystemd = hierarchy.controllers.count == 1 && hierarchy.controllers[0].bytesEqual("name=systemd")
            let source = hierarchy.isV2 ? "cgroup2" : (isSystemd ? "systemd" : "cgroup")
            let data = join(hierarchy.controllers, ",")
            let e = rawMount(source, procSelfFd(sub.fd), type, flags, data)
            if e == 0 { continue }
            guard e == EPERM, let hostPath = sources[i] else {
                throw SwiftletError(.mounts, describeMount(source, subdirectory, type, flags, data), errno: e)
            }
            try bindMount(source: hostPath, destination: subdirectory, options: bind, c)
        } else {
            guard let hostPath = sources[i] else { continue }
            try bindMount(source: hostPath, destination: subdirectory, options: bind, c)
        }
    }
    // Co-mounted controllers get a symlink per controller: cpu -> cpu,cpuacct.
    for name in names where name.utf8.contains(44) {
        for part in name.split(byte: 44) where isPlainName(part) && !part.hasBytePrefix("name=") {
            if symlinkat(name, tmpfs.raw, part) != 0 && cl_errno() != EEXIST {
                throw .system(.mounts, "symlink " + destination + "/" + part)
            }
        }
    }
    if readOnly {
        try makeReadOnly(tmpfs, recursive: false, shown: destination)
    }
}
