import Base
import DBus
import OCISpec

/// The unit properties of a container's transient unit: what systemd must know so that it
/// keeps the container's limits when it rewrites the unit's cgroup files (at start, on
/// `SetUnitProperties`, on daemon-reload). Limits systemd has no property for are written
/// to the delegated cgroup afterwards (`CgroupManager.apply`), as for cgroupfs.
public enum SystemdProperties {
    /// "infinity" for systemd's uint64 limits.
    public static let infinity = UInt64.max

    static func property(_ name: String, _ value: DBusValue) -> DBusValue {
        .structure([.string(name), .variant(value)])
    }

    /// StartTransientUnit's properties: the unit itself, then the resources.
    /// `pid` joins a scope (a slice unit has none); `unifiedHierarchy` is the layout
    /// systemd manages controllers on (v2 only, not hybrid).
    public static func forStart(_ unit: SystemdUnitName, pid: Int32?, description: String,
                                resources: ResourcesSpec?, unifiedHierarchy: Bool) throws(SwiftletError) -> [DBusValue] {
        var out: [DBusValue] = [property("Description", .string(description))]
        if unit.isScope {
            out.append(property("Slice", .string(unit.slice)))
        } else {
            out.append(property("Wants", .string(unit.slice)))
        }
        // Delegate: the container's cgroup is ours to write to and to make cgroups below.
        out.append(property("Delegate", .boolean(true)))
        if let pid { out.append(property("PIDs", .array(element: "u", [.uint32(UInt32(bitPattern: pid))]))) }
        // Not ordered against shutdown.target: a container's scope stops with its container.
        out.append(property("DefaultDependencies", .boolean(false)))
        for name in ["MemoryAccounting", "CPUAccounting", "TasksAccounting",
                     unifiedHierarchy ? "IOAccounting" : "BlockIOAccounting"] {
            out.append(property(name, .boolean(true)))
        }
        return out + (try forResources(resources, unifiedHierarchy: unifiedHierarchy))
    }

    /// The resource limits systemd knows, from the OCI (cgroup v1 valued) resources, with
    /// the same conversions as the files get on each hierarchy.
    public static func forResources(_ r: ResourcesSpec?, unifiedHierarchy: Bool) throws(SwiftletError) -> [DBusValue] {
        guard let r else { return [] }
        var out: [DBusValue] = []
        func limit(_ v: Int64) -> DBusValue { .uint64(v < 0 ? infinity : UInt64(v)) }

        if let m = r.memory {
            if let l = m.limit, l != 0 { out.append(property(unifiedHierarchy ? "MemoryMax" : "MemoryLimit", limit(l))) }
            if unifiedHierarchy {
                if let low = m.reservation, low > 0 { out.append(property("MemoryLow", .uint64(UInt64(low)))) }
                if let swap = try CgroupConversion.swapMax(swap: m.swap, memory: m.limit) {
                    out.append(property("MemorySwapMax", limit(swap)))
                }
            }
        }
        if let c = r.cpu {
            if let shares = c.shares, shares != 0 {
                out.append(unifiedHierarchy ? property("CPUWeight", .uint64(CgroupConversion.cpuWeight(fromShares: shares)))
                                            : property("CPUShares", .uint64(shares)))
            }
            out += cpuQuota(quota: c.quota, period: c.period)
            if unifiedHierarchy {
                if let cpus = c.cpus, !cpus.isEmpty { out.append(property("AllowedCPUs", .array(element: "y", bitmask(cpus)))) }
                if let mems = c.mems, !mems.isEmpty {
                    out.append(property("AllowedMemoryNodes", .array(element: "y", bitmask(mems))))
                }
            }
        }
        if let p = r.pids, p.limit != 0 { out.append(property("TasksMax", limit(p.limit))) }
        if let w = r.blockIO?.weight, w != 0 {
            out.append(unifiedHierarchy ? property("IOWeight", .uint64(CgroupConversion.ioWeight(fromBlkioWeight: w)))
                                        : property("BlockIOWeight", .uint64(UInt64(w))))
        }
        return out
    }

    /// CPU bandwidth: systemd keeps the quota as time per second of wall clock in whole
    /// percents of a CPU, so a quota is rounded up to the next 10 ms per second (the files
    /// then carry the exact value). A period alone, or quota -1, means no limit.
    static func cpuQuota(quota: Int64?, period: UInt64?) -> [DBusValue] {
        let q = quota ?? 0
        let p = period ?? 0
        if q == 0 && p == 0 { return [] }
        var out: [DBusValue] = []
        if p != 0 { out.append(property("CPUQuotaPeriodUSec", .uint64(p))) }
        var perSecond = infinity
        if q > 0 {
            let effectivePeriod = p == 0 ? 100_000 : p
            let usec = UInt64(q).multipliedReportingOverflow(by: 1_000_000)
            if !usec.overflow {
                perSecond = usec.partialValue / effectivePeriod
                if usec.partialValue % effectivePeriod != 0 { perSecond += 1 }
                perSecond = (perSecond + 9_999) / 10_000 * 10_000
            }
        }
        out.append(property("CPUQuotaPerSecUSec", .uint64(perSecond)))
        return out
    }

    /// "0-2,9" as systemd's CPU set property: bit n of byte n/8 for CPU n.
    static func bitmask(_ list: String) -> [DBusValue] {
        var bytes: [UInt8] = []
        for n in cpuList(list) {
            let index = Int(n / 8)
            while bytes.count <= index { bytes.append(0) }
            bytes[index] |= UInt8(1) << UInt8(n % 8)
        }
        return bytes.map { .byte($0) }
    }
}
