import Base
import JSON

/// How much a feature matters to the isolation swiftlet can give.
public enum ProbeRequirement: Equatable, Sendable {
    /// Without it a container is no more than a chroot.
    case base
    /// Needed to honour every part of an OCI config.
    case oci
    /// Reported for the operator; no OCI config depends on it.
    case optional

    public var name: String {
        switch self {
        case .base: return "base"
        case .oci: return "oci"
        case .optional: return "optional"
        }
    }
}

/// The outcome of one probe. `name` is a stable identifier (e.g. "namespace.pid");
/// `detail` says what was tried and, on failure, how it failed.
public struct Probe: Equatable, Sendable {
    public var name: String
    public var available: Bool
    public var detail: String

    public init(name: String, available: Bool, detail: String) {
        self.name = name
        self.available = available
        self.detail = detail
    }

    /// Decided by the name alone, so that the isolation level is a pure function of the probes.
    public var requirement: ProbeRequirement { probeInfo(name)?.requirement ?? .optional }

    /// What people read in the text report.
    public var title: String { probeInfo(name)?.title ?? name }
}

/// The probes swiftlet knows, in report order.
let knownProbes: [(name: String, title: String, requirement: ProbeRequirement)] = [
    ("namespace.mount", "mount namespace", .base),
    ("namespace.pid", "pid namespace", .base),
    ("namespace.network", "network namespace", .oci),
    ("namespace.ipc", "ipc namespace", .oci),
    ("namespace.uts", "uts namespace", .oci),
    ("namespace.user", "user namespace", .oci),
    ("namespace.cgroup", "cgroup namespace", .oci),
    ("namespace.time", "time namespace", .oci),
    ("userns.unprivileged", "unprivileged user namespaces", .optional),
    ("cgroups", "cgroups", .oci),
    ("cgroup.controllers", "cgroup controllers", .oci),
    ("seccomp", "seccomp filter", .oci),
    ("seccomp.notify", "seccomp user notification", .oci),
    ("no_new_privs", "no_new_privs", .oci),
    ("pivot_root", "pivot_root on the current root", .oci),
    ("idmapped_mounts", "idmapped mounts", .oci),
    ("mount_api", "mount API (fsopen, fsmount)", .optional),
    ("overlayfs", "overlayfs", .optional),
    ("landlock", "Landlock", .optional),
    ("capabilities", "capabilities", .optional),
    ("binfmt_misc", "binfmt_misc", .optional),
    ("isolation.uml", "uml isolation tier", .optional),
]

func probeInfo(_ name: String) -> (name: String, title: String, requirement: ProbeRequirement)? {
    knownProbes.first { $0.name.bytesEqual(name) }
}

/// The isolation swiftlet can give on this kernel to this caller.
public enum IsolationLevel: Equatable, Sendable {
    /// Every feature an OCI config can ask for works.
    case full
    /// Containers work, but these features (probe names) do not.
    case degraded([String])
    /// No mount or no pid namespace: the container would share the host's mount table or
    /// process tree, so it is no more than a chroot.
    case chroot

    /// Pure: from probe results, whatever their source (a real run or a test's synthetic list).
    public static func assess(_ probes: [Probe]) -> IsolationLevel {
        var missingBase = false
        var missing: [String] = []
        for p in probes where !p.available {
            switch p.requirement {
            case .base: missingBase = true
            case .oci: missing.append(p.name)
            case .optional: break
            }
        }
        // A probe that was never run counts as missing: silence is not support.
        for known in knownProbes where known.requirement != .optional {
            if !probes.contains(where: { $0.name.bytesEqual(known.name) }) {
                if known.requirement == .base { missingBase = true } else { missing.append(known.name) }
            }
        }
        if missingBase { return .chroot }
        return missing.isEmpty ? .full : .degraded(missing)
    }

    /// "full", "degraded" or "chroot" (the JSON value).
    public var name: String {
        switch self {
        case .full: return "full"
        case .degraded: return "degraded"
        case .chroot: return "chroot"
        }
    }

    /// "full OCI", "degraded" or "primitive chroot" (the text report).
    public var summary: String {
        switch self {
        case .full: return "full OCI"
        case .degraded: return "degraded"
        case .chroot: return "primitive chroot"
        }
    }
}

/// A registered binfmt_misc handler for a foreign architecture.
public struct BinfmtHandler: Equatable, Sendable {
    public var name: String
    public var enabled: Bool
    public var interpreter: String
    public var flags: String
}

/// What `swiftlet check` found.
public struct KernelReport: Sendable {
    public var kernelRelease: String
    public var machine: String
    public var uid: UInt32
    public var euid: UInt32
    /// The caller holds CAP_SYS_ADMIN (probes ran as a privileged runtime would).
    public var privileged: Bool
    public var probes: [Probe]
    /// cgroup mode name ("v1", "hybrid", "v2"), nil if no hierarchy is mounted.
    public var cgroupMode: String?
    public var cgroupV1Controllers: [String]
    public var cgroupV2Controllers: [String]
    public var lastCapability: Int?
    public var effectiveCapabilities: UInt64?
    public var boundingCapabilities: UInt64?
    public var landlockABI: Int?
    public var binfmtMounted: Bool
    public var qemuHandlers: [BinfmtHandler]
    /// Wall time of the whole check.
    public var elapsedNanoseconds: Int64

    public init(kernelRelease: String = "", machine: String = "", uid: UInt32 = 0, euid: UInt32 = 0,
                privileged: Bool = false, probes: [Probe] = []) {
        self.kernelRelease = kernelRelease
        self.machine = machine
        self.uid = uid
        self.euid = euid
        self.privileged = privileged
        self.probes = probes
        self.cgroupMode = nil
        self.cgroupV1Controllers = []
        self.cgroupV2Controllers = []
        self.lastCapability = nil
        self.effectiveCapabilities = nil
        self.boundingCapabilities = nil
        self.landlockABI = nil
        self.binfmtMounted = false
        self.qemuHandlers = []
        self.elapsedNanoseconds = 0
    }

    public var isolationLevel: IsolationLevel { IsolationLevel.assess(probes) }

    public func probe(_ name: String) -> Probe? {
        probes.first { $0.name.bytesEqual(name) }
    }
}

extension KernelReport {
    /// The human report: one line per probe, then the verdict.
    public var text: String {
        var out = "kernel: Linux " + kernelRelease + " " + machine + "\n"
        out += "caller: uid " + String(uid)
        if euid != uid { out += " (euid " + String(euid) + ")" }
        out += privileged ? ", privileged (CAP_SYS_ADMIN)\n" : ", unprivileged\n"
        out += "\n"
        var width = 0
        for p in probes { width = max(width, p.title.utf8.count) }
        for p in probes {
            var line = p.available ? "  ok    " : "  --    "
            line += p.title
            for _ in 0..<(width - p.title.utf8.count + 2) { line += " " }
            line += p.detail
            out += line + "\n"
        }
        out += "\n"
        let level = isolationLevel
        out += "isolation: " + level.summary
        switch level {
        case .full:
            break
        case .degraded(let missing):
            out += " (missing: " + join(missing.map { probeInfo($0)?.title ?? $0 }, ", ") + ")"
        case .chroot:
            var missing: [String] = []
            for p in probes where !p.available && p.requirement == .base { missing.append(p.title) }
            if !missing.isEmpty { out += " (missing: " + join(missing, ", ") + ")" }
        }
        out += "\n"
        out += "checked in " + milliseconds(elapsedNanoseconds) + " ms\n"
        return out
    }

    /// The machine report:
    /// `{kernel: {release, machine}, caller: {uid, euid, privileged},
    ///   isolation: {level: "full"|"degraded"|"chroot", summary, missing: [probe names]},
    ///   probes: [{name, available, required: "base"|"oci"|"optional", detail}],
    ///   cgroup: {mode, v1, v2}, capabilities: {lastCap, effective, bounding},
    ///   landlock: {abi}, binfmt: {mounted, qemu: [{name, enabled, interpreter, flags}]},
    ///   elapsedMicroseconds}`.
    /// Absent facts are null; capability masks are hex strings like /proc/self/status.
    public var json: JSON {
        var kernel = JSONObjectBuilder()
        kernel.add("release", kernelRelease)
        kernel.add("machine", machine)

        var caller = JSONObjectBuilder()
        caller.add("uid", JSON.uint(uid))
        caller.add("euid", JSON.uint(euid))
        caller.add("privileged", privileged)

        let level = isolationLevel
        var missing: [String] = []
        switch level {
        case .full: break
        case .degraded(let names): missing = names
        case .chroot:
            for p in probes where !p.available && p.requirement != .optional { missing.append(p.name) }
        }
        var isolation = JSONObjectBuilder()
        isolation.add("level", level.name)
        isolation.add("summary", level.summary)
        isolation.add("missing", missing)

        var probeList: [JSON] = []
        for p in probes {
            var o = JSONObjectBuilder()
            o.add("name", p.name)
            o.add("available", p.available)
            o.add("required", p.requirement.name)
            o.add("detail", p.detail)
            probeList.append(o.json)
        }

        var cgroup = JSONObjectBuilder()
        cgroup.add("mode", cgroupMode.map { JSON.string($0) } ?? JSON.null)
        cgroup.add("v1", cgroupV1Controllers)
        cgroup.add("v2", cgroupV2Controllers)

        var caps = JSONObjectBuilder()
        caps.add("lastCap", lastCapability.map { JSON.int($0) } ?? JSON.null)
        caps.add("effective", effectiveCapabilities.map { JSON.string(hex($0, width: 16)) } ?? JSON.null)
        caps.add("bounding", boundingCapabilities.map { JSON.string(hex($0, width: 16)) } ?? JSON.null)

        var landlock = JSONObjectBuilder()
        landlock.add("abi", landlockABI.map { JSON.int($0) } ?? JSON.null)

        var handlers: [JSON] = []
        for h in qemuHandlers {
            var o = JSONObjectBuilder()
            o.add("name", h.name)
            o.add("enabled", h.enabled)
            o.add("interpreter", h.interpreter)
            o.add("flags", h.flags)
            handlers.append(o.json)
        }
        var binfmt = JSONObjectBuilder()
        binfmt.add("mounted", binfmtMounted)
        binfmt.add("qemu", JSON.array(handlers))

        var root = JSONObjectBuilder()
        root.add("kernel", kernel.json)
        root.add("caller", caller.json)
        root.add("isolation", isolation.json)
        root.add("probes", JSON.array(probeList))
        root.add("cgroup", cgroup.json)
        root.add("capabilities", caps.json)
        root.add("landlock", landlock.json)
        root.add("binfmt", binfmt.json)
        root.add("elapsedMicroseconds", JSON.int(elapsedNanoseconds / 1000))
        return root.json
    }
}

/// "12.3": milliseconds with one decimal, without floating-point formatting.
func milliseconds(_ ns: Int64) -> String {
    let tenths = max(ns, 0) / 100_000
    return String(tenths / 10) + "." + String(tenths % 10)
}
