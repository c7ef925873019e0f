import Base
import CLinux
import JSON
import Namespaces
import OCISpec
import Syscalls

/// Primitive containers: for kernels that cannot give a container its namespaces or cgroup,
/// the bundle's process still runs in its rootfs (pivot_root in a mount namespace when one
/// can be made, chroot otherwise) with the configured user, groups, capabilities, rlimits,
/// no_new_privs and, if the kernel has it, seccomp. What could not be applied is named in one
/// warning at create and in the state's annotations.
public enum Isolation {
    /// "chroot": always primitive; the namespaces the config lists are not created.
    /// "uml": the container runs on a kernel of its own, User Mode Linux (see UML.swift).
    /// "namespaces": the default, named (overrides the `swiftlet-uml` name).
    public static let modeAnnotation = SwiftletAnnotation.isolation
    /// Invoked under this name (a link), swiftlet runs containers in the UML tier unless
    /// their annotation says otherwise: a containerd runtime handler needs no annotation.
    public static let umlCommandName = "swiftlet-uml"
    /// "chroot": full OCI when the kernel can, primitive when a namespace cannot be created.
    public static let fallbackAnnotation = SwiftletAnnotation.fallback
    /// Set by swiftlet in the state: what the config asks for and the container lacks.
    public static let missingAnnotation = "org.swiftlet.missing"
}

enum IsolationMode: Sendable, Equatable {
    case full, chroot, fallbackToChroot, uml
}

/// The mode a container runs in: what its annotations ask for (the parser has checked their
/// values), else the tier `swiftlet-uml` selects by its name (`umlByDefault`).
func isolationMode(_ spec: Spec, umlByDefault: Bool = false) -> IsolationMode {
    switch spec.isolationRequest {
    case .chroot: return .chroot
    case .uml: return .uml
    case .namespaces: return spec.fallbackToChroot ? .fallbackToChroot : .full
    case nil: return umlByDefault ? .uml : spec.fallbackToChroot ? .fallbackToChroot : .full
    }
}

/// True when this process was invoked as `swiftlet-uml` (argv[0]'s last component).
func invokedAsUML() -> Bool {
    let name = commandName()
    let last = name.utf8.lastIndex(of: UInt8(ascii: "/")).map { String(name[name.utf8.index(after: $0)...]) } ?? name
    return last.bytesEqual(Isolation.umlCommandName)
}

/// The one place that decides whether a container falls back to a primitive one: the mode
/// the annotations ask for, the reduced config once a fallback is needed, the namespace plan
/// that follows from it, and for each refusal whether it is fatal or recorded.
struct Degradation: Sendable {
    let mode: IsolationMode
    let original: Spec
    private(set) var primitive: PrimitiveDegradation? = nil
    private(set) var plan: NamespacePlan

    init(_ spec: Spec) {
        mode = isolationMode(spec, umlByDefault: invokedAsUML())
        original = spec
        plan = NamespacePlan(spec.linux?.namespaces ?? [])
        if mode == .chroot { degrade() }
    }

    /// The config the init applies.
    var spec: Spec { primitive?.spec ?? original }

    private mutating func degrade() {
        guard primitive == nil else { return }
        let reduced = PrimitiveDegradation(original, keepMountNamespace: plan.creates(.mount),
                                           seccompAvailable: kernelHasSeccompFilter())
        primitive = reduced
        plan = NamespacePlan(reduced.spec.linux?.namespaces ?? [])
    }

    /// Cgroups cannot be set up: fatal for a full container; a primitive one runs without
    /// limits, and says so.
    mutating func cgroupFailed(_ error: SwiftletError) throws(SwiftletError) {
        guard mode != .full else { throw error }
        degrade()
        primitive?.add("cgroup", "no cgroup (resource limits not applied: " + error.description + ")")
    }

    /// The kernel refused a namespace at clone: with the fallback, retry as a primitive
    /// container, and without a mount namespace if even that one is refused.
    mutating func cloneFailed(_ error: SwiftletError) throws(SwiftletError) {
        guard mode != .full, namespaceRefused(error.errno) else { throw error }
        if primitive == nil {
            degrade()
        } else if plan.creates(.mount) {
            primitive?.dropMountNamespace()
            plan = NamespacePlan(primitive?.spec.linux?.namespaces ?? [])
        } else {
            throw error
        }
    }

    /// What the init could not set up; nil for a full container.
    func outcome(_ report: ReadyReport) -> PrimitiveDegradation? {
        guard var primitive else { return nil }
        for s in report.notApplied { primitive.add(s.name, s.note) }
        return primitive
    }
}

/// The config as a primitive container applies it, and what that leaves out.
struct PrimitiveDegradation: Sendable {
    var spec: Spec
    /// Short names for the state annotation: pid, net, ipc, uts, user, cgroup, time, mnt, ...
    var missing: [String] = []
    /// Phrases for the warning line.
    var notes: [String] = []

    /// Namespaces other than mount are dropped (joins too); the mount namespace is kept when
    /// the config creates one and the caller has not yet found the kernel refusing it.
    init(_ original: Spec, keepMountNamespace: Bool, seccompAvailable: Bool) {
        spec = original
        var linux = original.linux ?? LinuxSpec()
        var kept: [NamespaceSpec] = []
        for ns in linux.namespaces {
            let created = ns.path == nil || ns.path!.isEmpty
            if ns.type == .mount && created && keepMountNamespace {
                kept.append(ns)
                continue
            }
            add(ns.type.procName, "no " + ns.type.longName + " namespace")
        }
        linux.namespaces = kept
        if !linux.uidMappings.isEmpty || !linux.gidMappings.isEmpty {
            // Without the user namespace the process keeps the host identity it would have had
            // there, and no capability: in the host's namespace they would be real.
            if var process = spec.process {
                let u = process.user
                process.user.uid = hostID(of: u.uid, in: linux.uidMappings) ?? 65534
                process.user.gid = hostID(of: u.gid, in: linux.gidMappings) ?? 65534
                process.user.additionalGids = u.additionalGids.map { hostID(of: $0, in: linux.gidMappings) ?? 65534 }
                process.capabilities = CapabilitySpec()
                spec.process = process
            }
            notes.append("user and groups mapped to their host ids, capabilities dropped")
            linux.uidMappings = []
            linux.gidMappings = []
        }
        if !linux.timeOffsets.isEmpty { linux.timeOffsets = [] }
        if !linux.sysctl.isEmpty {
            // Without their namespaces these would change the host.
            add("sysctl", "sysctls not applied")
            linux.sysctl = []
        }
        if linux.seccomp != nil && !seccompAvailable {
            add("seccomp", "no seccomp")
            linux.seccomp = nil
        }
        spec.hostname = nil
        spec.domainname = nil
        spec.linux = linux
        if !keepMountNamespace { noteChrootEscape() }
    }

    mutating func add(_ name: String, _ note: String) {
        if !missing.contains(where: { $0.bytesEqual(name) }) { missing.append(name) }
        notes.append(note)
    }

    /// The kernel refused the mount namespace too: chroot only.
    mutating func dropMountNamespace() {
        guard var linux = spec.linux else { return }
        linux.namespaces.removeAll { $0.type == .mount }
        spec.linux = linux
        add(NamespaceKind.mount.procName, "no mount namespace (chroot, mounts in the host's table)")
        noteChrootEscape()
    }

    /// chroot(2) is no boundary for a process that may call it again.
    mutating func noteChrootEscape() {
        if let caps = spec.process?.capabilities, caps.bounding.contains(where: { $0.bytesEqual("CAP_SYS_CHROOT") }) {
            add("chroot", "CAP_SYS_CHROOT kept: the chroot can be escaped")
        }
    }

    var warning: String {
        "primitive container: " + (notes.isEmpty ? "nothing the config asks for is missing" : join(notes, ", "))
    }

    /// The config's annotations with swiftlet's own: the mode and what is missing.
    func stateAnnotations(_ configured: [(String, String)]) -> [(String, String)] {
        var out = configured.filter {
            !$0.0.bytesEqual(Isolation.modeAnnotation) && !$0.0.bytesEqual(Isolation.missingAnnotation)
        }
        out.append((Isolation.modeAnnotation, "chroot"))
        out.append((Isolation.missingAnnotation, join(missing, ",")))
        return out
    }
}

extension NamespaceKind {
    var longName: String {
        switch self {
        case .network: return "network"
        case .mount: return "mount"
        default: return procName
        }
    }
}

/// A config path as it may appear in a one-line warning: control bytes (which would split the
/// line or the init's report) become "?".
func printable(_ s: String) -> String {
    String(decoding: s.utf8.map { $0 < 0x20 || $0 == 0x7f ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
}

/// clone3/clone/unshare/setns errors that mean "this kernel (or the policy around us) does
/// not allow that namespace", as opposed to a mistake in the config.
func namespaceRefused(_ errno: Int32) -> Bool {
    errno == EINVAL || errno == EPERM || errno == ENOSYS || errno == EACCES || errno == ENOSPC
}

/// True if seccomp filters can be loaded here (CONFIG_SECCOMP_FILTER).
func kernelHasSeccompFilter() -> Bool {
    var action: UInt32 = 0x7fff_0000   // SECCOMP_RET_ALLOW
    if cl_seccomp(UInt32(SECCOMP_GET_ACTION_AVAIL), 0, &action) == 0 { return true }
    // Before Linux 4.14 there is no GET_ACTION_AVAIL; PR_GET_SECCOMP fails only without seccomp.
    return cl_errno() != ENOSYS && cl_prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0
}

// MARK: - The process tree without a pid namespace or cgroup

/// Parent and start time from /proc/PID/stat (fields 4 and 22).
func processParentAndStart(_ pid: Int32) -> (ppid: Int32, start: UInt64)? {
    guard let text = try? readTextFile("/proc/" + String(pid) + "/stat") else { return nil }
    let bytes = Array(text.utf8)
    guard let close = bytes.lastIndex(of: UInt8(ascii: ")")), close + 2 < bytes.count else { return nil }
    let fields = String(decoding: bytes[(close + 2)...], as: UTF8.self).split(byte: 32)
    guard fields.count > 19, let ppid = parseInt64(fields[1]), let start = parseUInt64(fields[19]) else { return nil }
    return (Int32(truncatingIfNeeded: ppid), start)
}

/// The init and its descendants as /proc shows them now, parents first (`ps` of a
/// container without a cgroup).
func processTree(root: Int32, rootStart: UInt64) -> [Int32] {
    guard processStartTime(root) == rootStart, let names = try? listDirectory("/proc") else { return [] }
    var table: [(pid: Int32, ppid: Int32)] = []
    for name in names {
        guard let n = parseInt64(name), n > 0, let ps = processParentAndStart(Int32(n)) else { continue }
        table.append((Int32(n), ps.ppid))
    }
    var tree: [Int32] = [root]
    var k = 0
    while k < tree.count {
        for entry in table where entry.ppid == tree[k] && !tree.contains(entry.pid) { tree.append(entry.pid) }
        k += 1
    }
    return tree
}

/// Every process /proc shows in the pid namespace of `pid` (those whose namespace can be
/// looked at: a process that is not dumpable hides it from its user).
func processesInPidNamespace(of pid: Int32, start: UInt64) throws(SwiftletError) -> [Int32] {
    let ns = try FileDescriptor.open("/proc/" + String(pid) + "/ns/pid", O_RDONLY, stage: .lifecycle)
    defer { ns.close() }
    var own = stat()
    guard processStartTime(pid) == start, fstat(ns.raw, &own) == 0 else { return [] }
    var pids: [Int32] = []
    for name in (try? listDirectory("/proc")) ?? [] {
        guard let n = parseInt64(name), n > 0 else { continue }
        var st = stat()
        if stat("/proc/" + name + "/ns/pid", &st) == 0 && st.st_dev == own.st_dev && st.st_ino == own.st_ino {
            pids.append(Int32(n))
        }
    }
    return pids.sorted()
}

/// Signals the init and all its descendants, found by walking /proc. Every process is held
/// by a pidfd opened while its parent and start time still matched, so a reused pid is
/// never signalled. For SIGKILL the tree is stopped first and walked again until no new
/// child appears, so nothing forks its way out. Descendants that were orphaned before the
/// walk are out of reach (the init is made a child subreaper to keep them in the tree).
func signalProcessTree(root: Int32, rootStart: UInt64, signal: Int32) throws(SwiftletError) {
    let rootFD = cl_pidfd_open(root)
    if rootFD < 0 { throw .system(.lifecycle, "open the container init") }
    guard processStartTime(root) == rootStart else {
        close(rootFD)
        throw SwiftletError(.lifecycle, "container init is gone", errno: ESRCH)
    }
    var held: [(pid: Int32, fd: Int32)] = [(root, rootFD)]
    defer { for h in held { close(h.fd) } }
    let freeze = signal == SIGKILL
    if freeze { _ = cl_pidfd_send_signal(rootFD, SIGSTOP) }
    for _ in 0..<64 {
        var added = false
        guard let names = try? listDirectory("/proc") else { break }
        var table: [(pid: Int32, ppid: Int32, start: UInt64)] = []
        for name in names {
            guard let n = parseInt64(name), n > 0, let ps = processParentAndStart(Int32(n)) else { continue }
            table.append((Int32(n), ps.ppid, ps.start))
        }
        // Parents always come before their children in `held`: one pass per level.
        var grew = true
        while grew {
            grew = false
            for entry in table where !held.contains(where: { $0.pid == entry.pid })
                && held.contains(where: { $0.pid == entry.ppid }) {
                let fd = cl_pidfd_open(entry.pid)
                guard fd >= 0 else { continue }
                guard let now = processParentAndStart(entry.pid), now.ppid == entry.ppid, now.start == entry.start else {
                    close(fd)
                    continue
                }
                held.append((entry.pid, fd))
                if freeze { _ = cl_pidfd_send_signal(fd, SIGSTOP) }
                grew = true
                added = true
            }
        }
        if !added || !freeze { break }
    }
    for h in held.reversed() { _ = cl_pidfd_send_signal(h.fd, signal) }
    if freeze { for h in held { _ = cl_pidfd_send_signal(h.fd, SIGCONT) } }
}
