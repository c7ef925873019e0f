import Base
import CLinux
import JSON
import Syscalls

/// `runc events --stats` data, field for field (runc's types/events.go), including Go's
/// omitempty rules, so tools that parse runc's output parse ours.
extension CgroupManager {
    public func stats() throws(SwiftletError) -> JSON {
        if !processDir.exists {
            throw SwiftletError(.cgroups, "cgroup " + processDir.path + " does not exist", errno: ENOENT)
        }
        var s = JSONObjectBuilder()
        s.add("cpu", cpuStats())
        s.add("cpuset", cpusetStats())
        s.add("memory", memoryStats())
        s.add("pids", pidsStats())
        s.add("blkio", blkioStats())
        s.add("hugetlb", hugetlbStats())
        s.add("intel_rdt", JSON.object([]))
        s.add("network_interfaces", JSON.null)
        return s.json
    }

    // MARK: cpu

    func cpuStats() -> JSON {
        var total: UInt64 = 0, kernel: UInt64 = 0, user: UInt64 = 0
        var percpu: [UInt64] = [], percpuKernel: [UInt64] = [], percpuUser: [UInt64] = []
        var periods: UInt64 = 0, throttledPeriods: UInt64 = 0, throttledTime: UInt64 = 0

        if layout.mode != .v2, let acct = controller("cpuacct"), case .v1(let d) = acct {
            total = d.readUInt("cpuacct.usage") ?? 0
            percpu = numbers(d.readIfPresent("cpuacct.usage_percpu"))
            percpuKernel = numbers(d.readIfPresent("cpuacct.usage_percpu_sys"))
            percpuUser = numbers(d.readIfPresent("cpuacct.usage_percpu_user"))
            if let u = d.readUInt("cpuacct.usage_user"), let k = d.readUInt("cpuacct.usage_sys") {
                user = u; kernel = k
            } else {
                // cpuacct.stat counts clock ticks.
                let hz = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
                user = (d.value("user", in: "cpuacct.stat") ?? 0) * (1_000_000_000 / hz)
                kernel = (d.value("system", in: "cpuacct.stat") ?? 0) * (1_000_000_000 / hz)
            }
        }
        switch controller("cpu") {
        case .v1(let d):
            periods = d.value("nr_periods", in: "cpu.stat") ?? 0
            throttledPeriods = d.value("nr_throttled", in: "cpu.stat") ?? 0
            throttledTime = d.value("throttled_time", in: "cpu.stat") ?? 0
        default:
            break
        }
        if layout.mode == .v2, let u = unifiedDir {
            // cpu.stat exists in every v2 cgroup; the throttling lines need the cpu controller.
            let stat = u.readKeyValues("cpu.stat")
            func get(_ k: String) -> UInt64 { stat.first { $0.0.bytesEqual(k) }?.1 ?? 0 }
            total = get("usage_usec") &* 1000
            user = get("user_usec") &* 1000
            kernel = get("system_usec") &* 1000
            periods = get("nr_periods")
            throttledPeriods = get("nr_throttled")
            throttledTime = get("throttled_usec") &* 1000
        }

        var usage = JSONObjectBuilder()
        addNonZero(&usage, "total", total)
        addNonEmpty(&usage, "percpu", percpu)
        addNonEmpty(&usage, "percpu_kernel", percpuKernel)
        addNonEmpty(&usage, "percpu_user", percpuUser)
        usage.add("kernel", JSON.uint(kernel))
        usage.add("user", JSON.uint(user))
        var throttling = JSONObjectBuilder()
        addNonZero(&throttling, "periods", periods)
        addNonZero(&throttling, "throttledPeriods", throttledPeriods)
        addNonZero(&throttling, "throttledTime", throttledTime)
        var cpu = JSONObjectBuilder()
        cpu.add("usage", usage.json)
        cpu.add("throttling", throttling.json)
        return cpu.json
    }

    // MARK: cpuset

    func cpusetStats() -> JSON {
        var cpus: [UInt64] = [], mems: [UInt64] = []
        var flags: [(String, UInt64)] = []
        var relax: Int64 = 0
        switch controller("cpuset") {
        case .v1(let d):
            cpus = cpuList(d.readIfPresent("cpuset.cpus"))
            mems = cpuList(d.readIfPresent("cpuset.mems"))
            for (key, file) in [("cpu_exclusive", "cpuset.cpu_exclusive"), ("mem_hardwall", "cpuset.mem_hardwall"),
                                ("mem_exclusive", "cpuset.mem_exclusive"), ("memory_migrate", "cpuset.memory_migrate"),
                                ("memory_spread_page", "cpuset.memory_spread_page"),
                                ("memory_spread_slab", "cpuset.memory_spread_slab"),
                                ("memory_pressure", "cpuset.memory_pressure"),
                                ("sched_load_balance", "cpuset.sched_load_balance")] {
                flags.append((key, d.readUInt(file) ?? 0))
            }
            relax = d.readIfPresent("cpuset.sched_relax_domain_level").flatMap { parseInt64($0.trimmed()) } ?? 0
        case .v2(let d):
            cpus = cpuList(d.readIfPresent("cpuset.cpus.effective"))
            mems = cpuList(d.readIfPresent("cpuset.mems.effective"))
        case nil:
            break
        }
        var out = JSONObjectBuilder()
        addNonEmpty(&out, "cpus", cpus)
        let names = ["cpu_exclusive", "mems", "mem_hardwall", "mem_exclusive", "memory_migrate", "memory_spread_page",
                     "memory_spread_slab", "memory_pressure", "sched_load_balance"]
        for name in names {
            if name.bytesEqual("mems") {
                addNonEmpty(&out, "mems", mems)
                continue
            }
            out.add(name, JSON.uint(flags.first { $0.0.bytesEqual(name) }?.1 ?? 0))
        }
        out.add("sched_relax_domain_level", JSON.int(relax))
        return out.json
    }

    // MARK: memory

    func memoryStats() -> JSON {
        var raw: [(String, UInt64)] = []
        var cache: UInt64 = 0
        var usage = MemoryEntry(), swap = MemoryEntry(), kernel = MemoryEntry(), kernelTCP = MemoryEntry()
        switch controller("memory") {
        case .v1(let d):
            raw = d.readKeyValues("memory.stat")
            cache = raw.first { $0.0.bytesEqual("cache") }?.1 ?? 0
            usage = MemoryEntry(v1: d, prefix: "memory.")
            swap = MemoryEntry(v1: d, prefix: "memory.memsw.")
            kernel = MemoryEntry(v1: d, prefix: "memory.kmem.")
            kernelTCP = MemoryEntry(v1: d, prefix: "memory.kmem.tcp.")
        case .v2(let d):
            raw = d.readKeyValues("memory.stat")
            cache = raw.first { $0.0.bytesEqual("file") }?.1 ?? 0
            usage.usage = d.readUInt("memory.current") ?? 0
            usage.limit = d.readUInt("memory.max") ?? 0
            usage.max = d.readUInt("memory.peak") ?? 0
            usage.failcnt = d.value("max", in: "memory.events") ?? 0
            // v1 reported memory+swap; keep that meaning.
            swap.usage = (d.readUInt("memory.swap.current") ?? 0) &+ usage.usage
            let swapLimit = d.readUInt("memory.swap.max") ?? 0
            swap.limit = swapLimit == UInt64.max || usage.limit == UInt64.max ? UInt64.max : swapLimit &+ usage.limit
            swap.failcnt = d.value("max", in: "memory.swap.events") ?? 0
        case nil:
            break
        }
        var out = JSONObjectBuilder()
        addNonZero(&out, "cache", cache)
        out.add("usage", usage.json)
        out.add("swap", swap.json)
        out.add("kernel", kernel.json)
        out.add("kernelTCP", kernelTCP.json)
        if !raw.isEmpty {
            out.add("raw", JSON.object(sortedByKey(raw).map { JSON.Member($0.0, JSON.uint($0.1)) }))
        }
        return out.json
    }

    // MARK: pids

    func pidsStats() -> JSON {
        var current: UInt64 = 0, limit: UInt64 = 0
        switch controller("pids") {
        case .v1(let d), .v2(let d):
            current = d.readUInt("pids.current") ?? 0
            let max = d.readUInt("pids.max") ?? 0
            limit = max == UInt64.max ? 0 : max
        case nil:
            current = UInt64((try? pids())?.count ?? 0)
        }
        var out = JSONObjectBuilder()
        addNonZero(&out, "current", current)
        addNonZero(&out, "limit", limit)
        return out.json
    }

    // MARK: blkio

    func blkioStats() -> JSON {
        var bytes: [BlkioEntry] = [], ios: [BlkioEntry] = []
        switch controller("blkio") ?? controller("io") {
        case .v1(let d):
            // CFQ (before 5.0), then BFQ, then the throttling counters every kernel has.
            for prefix in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
                bytes = BlkioEntry.parseV1(d.readIfPresent(prefix + "io_service_bytes_recursive"))
                ios = BlkioEntry.parseV1(d.readIfPresent(prefix + "io_serviced_recursive"))
                if !bytes.isEmpty || !ios.isEmpty { break }
            }
        case .v2(let d):
            (bytes, ios) = BlkioEntry.parseV2(d.readIfPresent("io.stat"))
        case nil:
            break
        }
        var out = JSONObjectBuilder()
        if !bytes.isEmpty { out.add("ioServiceBytesRecursive", JSON.array(bytes.map { $0.json })) }
        if !ios.isEmpty { out.add("ioServicedRecursive", JSON.array(ios.map { $0.json })) }
        return out.json
    }

    // MARK: hugetlb

    func hugetlbStats() -> JSON {
        var entries: [(String, JSON)] = []
        switch controller("hugetlb") {
        case .v1(let d):
            for size in pageSizes(d, suffix: ".limit_in_bytes") {
                var e = JSONObjectBuilder()
                addNonZero(&e, "usage", d.readUInt("hugetlb." + size + ".usage_in_bytes") ?? 0)
                addNonZero(&e, "max", d.readUInt("hugetlb." + size + ".max_usage_in_bytes") ?? 0)
                e.add("failcnt", JSON.uint(d.readUInt("hugetlb." + size + ".failcnt") ?? 0))
                entries.append((size, e.json))
            }
        case .v2(let d):
            for size in pageSizes(d, suffix: ".max") {
                var e = JSONObjectBuilder()
                addNonZero(&e, "usage", d.readUInt("hugetlb." + size + ".current") ?? 0)
                e.add("failcnt", JSON.uint(d.value("max", in: "hugetlb." + size + ".events") ?? 0))
                entries.append((size, e.json))
            }
        case nil:
            break
        }
        return JSON.object(sortedByKey(entries).map { JSON.Member($0.0, $0.1) })
    }

    private func pageSizes(_ d: CgroupDir, suffix: String) -> [String] {
        var out: [String] = []
        for name in (try? listDirectory(d.path, stage: .cgroups)) ?? [] where name.hasBytePrefix("hugetlb.") && name.hasByteSuffix(suffix) {
            let parts = name.split(byte: 46)
            // hugetlb.<size><suffix>, not the .rsvd variants.
            if parts.count == 2 + suffix.split(byte: 46).count - 1, isPageSizeName(parts[1]) { out.append(parts[1]) }
        }
        return out
    }
}

struct MemoryEntry {
    var limit: UInt64 = 0
    var usage: UInt64 = 0
    var max: UInt64 = 0
    var failcnt: UInt64 = 0

    init() {}

    init(v1 d: CgroupDir, prefix: String) {
        limit = d.readUInt(prefix + "limit_in_bytes") ?? 0
        usage = d.readUInt(prefix + "usage_in_bytes") ?? 0
        max = d.readUInt(prefix + "max_usage_in_bytes") ?? 0
        failcnt = d.readUInt(prefix + "failcnt") ?? 0
    }

    var json: JSON {
        var out = JSONObjectBuilder()
        out.add("limit", JSON.uint(limit))
        addNonZero(&out, "usage", usage)
        addNonZero(&out, "max", max)
        out.add("failcnt", JSON.uint(failcnt))
        return out.json
    }
}

struct BlkioEntry {
    var major: UInt64
    var minor: UInt64
    var op: String
    var value: UInt64

    var json: JSON {
        var out = JSONObjectBuilder()
        addNonZero(&out, "major", major)
        addNonZero(&out, "minor", minor)
        if !op.isEmpty { out.add("op", op) }
        addNonZero(&out, "value", value)
        return out.json
    }

    /// "8:0 Read 4096" lines; the trailing "Total N" line has no device and is skipped.
    static func parseV1(_ text: String?) -> [BlkioEntry] {
        guard let text else { return [] }
        var out: [BlkioEntry] = []
        for line in text.split(byte: 10) {
            let f = line.trimmed().split(byte: 32).filter { !$0.isEmpty }
            guard f.count == 3, let (ma, mi) = f[0].splitOnce(byte: 58), let major = parseUInt64(ma), let minor = parseUInt64(mi),
                  let v = parseUInt64(f[2]) else { continue }
            out.append(BlkioEntry(major: major, minor: minor, op: f[1], value: v))
        }
        return out
    }

    /// io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0".
    static func parseV2(_ text: String?) -> ([BlkioEntry], [BlkioEntry]) {
        guard let text else { return ([], []) }
        var bytes: [BlkioEntry] = [], ios: [BlkioEntry] = []
        for line in text.split(byte: 10) {
            let f = line.trimmed().split(byte: 32).filter { !$0.isEmpty }
            guard f.count >= 2, let (ma, mi) = f[0].splitOnce(byte: 58), let major = parseUInt64(ma),
                  let minor = parseUInt64(mi) else { continue }
            for kv in f.dropFirst() {
                guard let (k, vs) = kv.splitOnce(byte: 61), let v = parseUInt64(vs) else { continue }
                if k.bytesEqual("rbytes") { bytes.append(BlkioEntry(major: major, minor: minor, op: "Read", value: v)) }
                if k.bytesEqual("wbytes") { bytes.append(BlkioEntry(major: major, minor: minor, op: "Write", value: v)) }
                if k.bytesEqual("rios") { ios.append(BlkioEntry(major: major, minor: minor, op: "Read", value: v)) }
                if k.bytesEqual("wios") { ios.append(BlkioEntry(major: major, minor: minor, op: "Write", value: v)) }
            }
        }
        return (bytes, ios)
    }
}

private func addNonZero(_ b: inout JSONObjectBuilder, _ key: String, _ v: UInt64) {
    if v != 0 { b.add(key, JSON.uint(v)) }
}

private func addNonEmpty(_ b: inout JSONObjectBuilder, _ key: String, _ v: [UInt64]) {
    if !v.isEmpty { b.add(key, JSON.array(v.map { JSON.uint($0) })) }
}

private func numbers(_ text: String?) -> [UInt64] {
    guard let text else { return [] }
    return words(text).compactMap { parseUInt64($0) }
}

/// "0-3,7" to [0, 1, 2, 3, 7] (at most 4096 entries).
func cpuList(_ text: String?) -> [UInt64] {
    guard let text = text?.trimmed(), !text.isEmpty else { return [] }
    var out: [UInt64] = []
    for part in text.split(byte: 44) {
        if let (a, b) = part.splitOnce(byte: 45) {
            guard let lo = parseUInt64(a.trimmed()), let hi = parseUInt64(b.trimmed()), lo <= hi else { continue }
            var i = lo
            while i <= hi && out.count < 4096 { out.append(i); i += 1 }
        } else if let v = parseUInt64(part.trimmed()) {
            out.append(v)
        }
    }
    return out
}

/// Go marshals maps with sorted keys; byte order needs no Unicode tables.
func sortedByKey<T>(_ items: [(String, T)]) -> [(String, T)] {
    items.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
}
