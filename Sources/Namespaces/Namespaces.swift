import Base
import CLinux
import OCISpec
import Syscalls

extension NamespaceKind {
    /// The CLONE_NEW* flag of this namespace type.
    public var cloneFlag: Int32 {
        switch self {
        case .pid: return CLONE_NEWPID
        case .network: return CLONE_NEWNET
        case .mount: return CLONE_NEWNS
        case .ipc: return CLONE_NEWIPC
        case .uts: return CLONE_NEWUTS
        case .user: return CLONE_NEWUSER
        case .cgroup: return CLONE_NEWCGROUP
        case .time: return CLONE_NEWTIME
        }
    }

    /// The flag's name, for messages.
    public var cloneFlagName: String {
        switch self {
        case .pid: return "CLONE_NEWPID"
        case .network: return "CLONE_NEWNET"
        case .mount: return "CLONE_NEWNS"
        case .ipc: return "CLONE_NEWIPC"
        case .uts: return "CLONE_NEWUTS"
        case .user: return "CLONE_NEWUSER"
        case .cgroup: return "CLONE_NEWCGROUP"
        case .time: return "CLONE_NEWTIME"
        }
    }

    /// The name of the namespace file under /proc/PID/ns.
    public var procName: String {
        switch self {
        case .pid: return "pid"
        case .network: return "net"
        case .mount: return "mnt"
        case .ipc: return "ipc"
        case .uts: return "uts"
        case .user: return "user"
        case .cgroup: return "cgroup"
        case .time: return "time"
        }
    }
}

/// What the config asks of namespaces, split into those to create and those to join.
public struct NamespacePlan: Sendable {
    public var create: [NamespaceKind] = []
    public var join: [(kind: NamespaceKind, path: String)] = []

    public init(_ specs: [NamespaceSpec]) {
        for ns in specs {
            if let path = ns.path, !path.isEmpty { join.append((ns.type, path)) } else { create.append(ns.type) }
        }
    }

    public func has(_ kind: NamespaceKind) -> Bool {
        creates(kind) || joins(kind)
    }
    public func creates(_ kind: NamespaceKind) -> Bool { create.contains(kind) }
    public func joins(_ kind: NamespaceKind) -> Bool { join.contains { $0.kind == kind } }
    public func joinPath(_ kind: NamespaceKind) -> String? {
        for j in join where j.kind == kind { return j.path }
        return nil
    }

    /// Flags for the namespaces created at clone time. Time and cgroup namespaces are
    /// left out: a cgroup namespace must be created after the init has joined its cgroup,
    /// and a time namespace after its offsets are written.
    public var cloneFlags: UInt64 {
        var flags: UInt64 = 0
        for kind in create where kind != .cgroup && kind != .time {
            flags |= UInt64(UInt32(bitPattern: kind.cloneFlag))
        }
        return flags
    }
}

public enum Namespaces {
    /// Opens a namespace file to join later; checks that it is a namespace of the right type,
    /// so that a wrong path fails at create with a clear message.
    /// Whether the namespace file open as `fd` is this process's own namespace of `kind`
    /// (the same nsfs inode). nil when the kernel has no such namespace type.
    public static func isOurs(_ fd: FileDescriptor, kind: NamespaceKind) -> Bool? {
        var own = stat()
        var theirs = stat()
        guard stat("/proc/self/ns/" + kind.procName, &own) == 0, fstat(fd.raw, &theirs) == 0 else { return nil }
        return theirs.st_dev == own.st_dev && theirs.st_ino == own.st_ino
    }

    public static func open(_ path: String, kind: NamespaceKind) throws(SwiftletError) -> FileDescriptor {
        let fd = try FileDescriptor.open(path, O_RDONLY, stage: .namespaces)
        // NS_GET_NSTYPE (0xb703) returns the CLONE_NEW* type of a namespace fd.
        let type = cl_ioctl_int(fd.raw, 0xb703, 0)
        if type < 0 {
            let e = SwiftletError.system(.namespaces, "join " + kind.procName + " namespace " + path + ": not a namespace file")
            fd.close()
            throw e
        }
        if type != kind.cloneFlag {
            fd.close()
            throw SwiftletError(.namespaces, "join " + kind.procName + " namespace " + path + ": the file is a namespace of another type", errno: EINVAL)
        }
        return fd
    }

    public static func join(_ fd: FileDescriptor, kind: NamespaceKind, path: String) throws(SwiftletError) {
        if setns(fd.raw, kind.cloneFlag) != 0 {
            throw .system(.namespaces, "setns " + kind.procName + " " + path)
        }
    }

    public static func unshare(_ flags: Int32, what: String) throws(SwiftletError) {
        if CLinux.unshare(flags) != 0 { throw .system(.namespaces, "unshare " + what) }
    }

    /// Writes /proc/PID/{uid_map,gid_map}. As root on the host any mapping is allowed;
    /// setgroups stays allowed so that additionalGids can be set in the container.
    public static func writeIDMappings(pid: Int32, uid: [IDMapping], gid: [IDMapping]) throws(SwiftletError) {
        let base = "/proc/" + String(pid) + "/"
        if !uid.isEmpty { try writeFile(base + "uid_map", mappingText(uid), stage: .namespaces) }
        if !gid.isEmpty { try writeFile(base + "gid_map", mappingText(gid), stage: .namespaces) }
    }

    public static func mappingText(_ maps: [IDMapping]) -> String {
        var text = ""
        for m in maps {
            text += String(m.containerID) + " " + String(m.hostID) + " " + String(m.size) + "\n"
        }
        return text
    }

    /// Creates a time namespace with the given clock offsets and moves the calling
    /// (single-threaded) process into it: offsets can only be written before any process
    /// enters, so the process unshares, writes them, then joins via time_for_children.
    public static func enterNewTimeNamespace(offsets: [TimeOffset]) throws(SwiftletError) {
        try unshare(CLONE_NEWTIME, what: "time namespace")
        if !offsets.isEmpty {
            var text = ""
            for o in offsets {
                text += o.clock + " " + String(o.secs) + " " + String(o.nanosecs) + "\n"
            }
            try writeFile("/proc/self/timens_offsets", text, stage: .namespaces)
        }
        let fd = try FileDescriptor.open("/proc/self/ns/time_for_children", O_RDONLY, stage: .namespaces)
        defer { fd.close() }
        try join(fd, kind: .time, path: "time_for_children")
    }

    public static func setHostname(_ name: String) throws(SwiftletError) {
        let bytes = Array(name.utf8) + [0]
        let rc = bytes.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { sethostname($0.baseAddress!, bytes.count - 1) }
        }
        if rc != 0 { throw .system(.namespaces, "sethostname " + name) }
    }

    public static func setDomainname(_ name: String) throws(SwiftletError) {
        let bytes = Array(name.utf8) + [0]
        let rc = bytes.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { setdomainname($0.baseAddress!, bytes.count - 1) }
        }
        if rc != 0 { throw .system(.namespaces, "setdomainname " + name) }
    }

    /// Brings up `lo` in a network namespace the container created, as runc and crun do:
    /// images expect 127.0.0.1 to work.
    public static func bringUpLoopback() throws(SwiftletError) {
        if cl_loopback_up() != 0 { throw .system(.namespaces, "bring up the loopback interface") }
    }
}
