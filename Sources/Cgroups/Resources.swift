import Base
import CLinux
import OCISpec

/// Where a controller's files are for this container.
enum ControllerDir {
    case v1(CgroupDir)
    case v2(CgroupDir)
}

extension CgroupManager {
    func controller(_ name: String) -> ControllerDir? {
        if let m = v1Dirs.first(where: { $0.hierarchy.has(name) }) { return .v1(m.dir) }
        if let u = unifiedDir, layout.unified?.has(name) ?? false { return .v2(u) }
        return nil
    }

    func require(_ name: String, for what: String) throws(SwiftletError) -> ControllerDir {
        guard let c = controller(name) else {
            throw SwiftletError(.cgroups, what + " requested but the " + name + " cgroup controller is not available")
        }
        return c
    }

    /// Writes the limits of `r` that are set; unset fields keep their current value, so the
    /// same call serves `create` and `update`. A requested limit this host cannot enforce
    /// is an error naming it, never silently dropped (except memory.kernel, deprecated by
    /// the runtime spec and ignored by the kernel since 6.x, as runc does).
    ///
    /// Device rules are applied as given: pass `DevicePolicy.containerRules(...)` for a new
    /// container, so it starts from deny-all plus the default devices.
    public func apply(_ r: ResourcesSpec) throws(SwiftletError) {
        if !r.devices.isEmpty { try applyDevices(r.devices) }
        if let cpu = r.cpu { try applyCPU(cpu) }
        if let memory = r.memory { try applyMemory(memory) }
        if let pids = r.pids { try applyPids(pids) }
        if let io = r.blockIO { try applyBlockIO(io) }
        if !r.hugepageLimits.isEmpty { try applyHugetlb(r.hugepageLimits) }
        if let net = r.network { try applyNetwork(net) }
        if !r.rdma.isEmpty { try applyRdma(r.rdma) }
        // Last, so explicit v2 keys override the converted values.
        if !r.unified.isEmpty { try applyUnified(r.unified) }
    }

    // MARK: devices

    func applyDevices(_ rules: [DeviceCgroupRule]) throws(SwiftletError) {
        let policy = try DevicePolicy(rules: rules)
        if let m = v1Dirs.first(where: { $0.hierarchy.has("devices") }) {
            let current = DevicePolicy.parseV1List(try m.dir.read("devices.list"))
            try m.dir.writeInOrder(policy.v1Writes(from: current))
            return
        }
        if let u = unifiedDir {
            do throws(SwiftletError) {
                try DeviceFilter.install(policy.bpfProgram(), on: u.path)
            } catch {
                throw error.context("linux.resources.devices")
            }
            return
        }
        throw SwiftletError(.cgroups, "linux.resources.devices requested but the devices cgroup controller is not available")
    }

    // MARK: cpu

    func applyCPU(_ c: CPUSpec) throws(SwiftletError) {
        if (c.cpus.map { !$0.isEmpty } ?? false) || (c.mems.map { !$0.isEmpty } ?? false) {
            let dir: CgroupDir
            switch try require("cpuset", for: "linux.resources.cpu.cpus/mems") {
            case .v1(let d): dir = d
            case .v2(let d): dir = d
            }
            if let cpus = c.cpus, !cpus.isEmpty { try dir.write("cpuset.cpus", cpus) }
            if let mems = c.mems, !mems.isEmpty { try dir.write("cpuset.mems", mems) }
        }
        let rt = (c.realtimeRuntime ?? 0) != 0 || (c.realtimePeriod ?? 0) != 0
        let needsCPU = (c.shares ?? 0) != 0 || (c.quota ?? 0) != 0 || (c.period ?? 0) != 0 || c.burst != nil
            || c.idle != nil || rt
        if !needsCPU { return }
        switch try require("cpu", for: "linux.resources.cpu") {
        case .v1(let d): try applyCPUV1(d, c)
        case .v2(let d): try applyCPUV2(d, c)
        }
    }

    private func applyCPUV1(_ d: CgroupDir, _ c: CPUSpec) throws(SwiftletError) {
        // Real-time budget first: an RT task cannot join a cgroup whose rt_runtime is 0.
        if (c.realtimeRuntime ?? 0) != 0 || (c.realtimePeriod ?? 0) != 0 {
            try applyRealtime(d, runtime: c.realtimeRuntime, period: c.realtimePeriod)
        }
        if let shares = c.shares, shares != 0 {
            try d.write("cpu.shares", String(shares))
            // The kernel clamps silently; say so instead.
            if let got = d.readUInt("cpu.shares"), got != shares {
                let bound = shares > got ? "maximum" : "minimum"
                throw SwiftletError(.cgroups, "linux.resources.cpu.shares: the " + bound + " allowed cpu-shares is " + String(got))
            }
        }
        var periodPending = false
        if let period = c.period, period != 0 {
            do throws(SwiftletError) {
                try d.write("cpu.cfs_period_us", String(period))
            } catch {
                // A shorter period can be refused until the quota shrinks too: retry after it.
                if error.errno != EINVAL || (c.quota ?? 0) == 0 { throw error }
                periodPending = true
            }
        }
        if let quota = c.quota, quota != 0 { try d.write("cpu.cfs_quota_us", String(quota)) }
        if periodPending, let period = c.period { try d.write("cpu.cfs_period_us", String(period)) }
        if let burst = c.burst { try d.write("cpu.cfs_burst_us", String(burst)) }
        if let idle = c.idle { try d.write("cpu.idle", String(idle)) }
    }

    private func applyCPUV2(_ d: CgroupDir, _ c: CPUSpec) throws(SwiftletError) {
        if (c.realtimeRuntime ?? 0) != 0 || (c.realtimePeriod ?? 0) != 0 {
            throw SwiftletError(.cgroups, "linux.resources.cpu.realtimeRuntime/realtimePeriod are not supported on cgroup v2")
        }
        if let shares = c.shares, shares != 0 {
            try d.write("cpu.weight", String(CgroupConversion.cpuWeight(fromShares: shares)))
        }
        let quota = c.quota ?? 0
        let period = c.period ?? 0
        if quota != 0 || period != 0 {
            var quotaText: String
            if quota > 0 {
                quotaText = String(quota)
            } else if quota < 0 {
                quotaText = "max"
            } else {
                // Only the period changes: keep the current quota ("max" resets nothing).
                let current = (try? d.read("cpu.max"))?.trimmed().split(byte: 32).first ?? "max"
                quotaText = current.isEmpty ? "max" : current
            }
            if period != 0 { quotaText += " " + String(period) }
            try d.write("cpu.max", quotaText)
        }
        if let burst = c.burst { try d.write("cpu.max.burst", String(burst)) }
        if let idle = c.idle { try d.write("cpu.idle", String(idle)) }
    }

    // MARK: memory

    func applyMemory(_ m: MemorySpec) throws(SwiftletError) {
        // -1 is "unlimited"; below it a value means nothing and has no unsigned form.
        for (name, value) in [("limit", m.limit), ("reservation", m.reservation), ("swap", m.swap), ("kernelTCP", m.kernelTCP)] {
            if let value, value < -1 {
                throw SwiftletError(.cgroups, "linux.resources.memory." + name + ": invalid value " + String(value)
                                    + " (-1 means unlimited)", errno: EINVAL)
            }
        }
        let anything = (m.limit ?? 0) != 0 || (m.reservation ?? 0) != 0 || (m.swap ?? 0) != 0 || m.swappiness != nil
            || m.disableOOMKiller == true || m.kernelTCP != nil
        if !anything { return }
        switch try require("memory", for: "linux.resources.memory") {
        case .v1(let d): try applyMemoryV1(d, m)
        case .v2(let d): try applyMemoryV2(d, m)
        }
    }

    private func checkUsage(_ d: CgroupDir, _ m: MemorySpec, usageFile: String) throws(SwiftletError) {
        guard m.checkBeforeUpdate == true, let limit = m.limit, limit > 0 else { return }
        if let usage = d.readUInt(usageFile), usage > UInt64(limit) {
            throw SwiftletError(.cgroups, "linux.resources.memory.limit: rejecting memory limit " + String(limit)
                                + " below the current usage " + String(usage))
        }
    }

    private func applyMemoryV1(_ d: CgroupDir, _ m: MemorySpec) throws(SwiftletError) {
        try checkUsage(d, m, usageFile: "memory.usage_in_bytes")
        if let s = m.swappiness {
            guard s <= 100 else {
                throw SwiftletError(.cgroups, "linux.resources.memory.swappiness: invalid value " + String(s) + ", valid range is 0-100")
            }
            try d.write("memory.swappiness", String(s))
        }
        let limit = m.limit ?? 0
        var swap = m.swap ?? 0
        let hasSwapFile = d.has("memory.memsw.limit_in_bytes")
        if limit == -1 && swap == 0 && hasSwapFile { swap = -1 }
        if swap != 0 && !hasSwapFile {
            if swap != -1 {
                throw SwiftletError(.cgroups, "linux.resources.memory.swap requested but swap accounting is disabled (no memory.memsw.limit_in_bytes)")
            }
            swap = 0
        }
        if limit != 0 && swap != 0 {
            // The kernel wants memory <= memory+swap at every step: grow swap first, shrink it last.
            let current = d.readUInt("memory.limit_in_bytes") ?? 0
            if swap == -1 || current < UInt64(swap) {
                try d.write("memory.memsw.limit_in_bytes", String(swap))
                try writeMemoryLimit(d, limit)
            } else {
                try writeMemoryLimit(d, limit)
                try d.write("memory.memsw.limit_in_bytes", String(swap))
            }
        } else {
            if limit != 0 { try writeMemoryLimit(d, limit) }
            if swap != 0 { try d.write("memory.memsw.limit_in_bytes", String(swap)) }
        }
        if let r = m.reservation, r != 0 { try d.write("memory.soft_limit_in_bytes", String(r)) }
        if let tcp = m.kernelTCP { try d.write("memory.kmem.tcp.limit_in_bytes", String(tcp)) }
        if m.disableOOMKiller == true { try d.write("memory.oom_control", "1") }
    }

    private func writeMemoryLimit(_ d: CgroupDir, _ limit: Int64) throws(SwiftletError) {
        do throws(SwiftletError) {
            try d.write("memory.limit_in_bytes", String(limit))
        } catch {
            if error.errno == EBUSY {
                let usage = d.readUInt("memory.usage_in_bytes") ?? 0
                let peak = d.readUInt("memory.max_usage_in_bytes") ?? 0
                throw SwiftletError(.cgroups, "unable to set memory limit to " + String(limit) + " (current usage: "
                                    + String(usage) + ", peak usage: " + String(peak) + ")", errno: EBUSY)
            }
            throw error
        }
    }

    private func applyMemoryV2(_ d: CgroupDir, _ m: MemorySpec) throws(SwiftletError) {
        if m.swappiness != nil {
            throw SwiftletError(.cgroups, "linux.resources.memory.swappiness is not supported on cgroup v2")
        }
        if m.disableOOMKiller == true {
            throw SwiftletError(.cgroups, "linux.resources.memory.disableOOMKiller is not supported on cgroup v2")
        }
        if m.kernelTCP != nil {
            throw SwiftletError(.cgroups, "linux.resources.memory.kernelTCP is not supported on cgroup v2")
        }
        try checkUsage(d, m, usageFile: "memory.current")
        if let swap = try CgroupConversion.swapMax(swap: m.swap, memory: m.limit) {
            let text = swap < 0 ? "max" : String(swap)
            do throws(SwiftletError) {
                try d.write("memory.swap.max", text)
            } catch {
                // No swap accounting: unlimited or no swap is what the container gets anyway.
                if !(error.errno == ENOENT && (swap < 0 || swap == 0)) { throw error }
            }
        }
        if let limit = m.limit, limit != 0 { try d.write("memory.max", limit < 0 ? "max" : String(limit)) }
        if let r = m.reservation, r != 0 { try d.write("memory.low", r < 0 ? "max" : String(r)) }
    }

    // MARK: pids

    func applyPids(_ p: PidsSpec) throws(SwiftletError) {
        // As runc: 0 leaves the limit alone (unset), a negative value means unlimited.
        if p.limit == 0 { return }
        let value = p.limit > 0 ? String(p.limit) : "max"
        switch try require("pids", for: "linux.resources.pids") {
        case .v1(let d), .v2(let d): try d.write("pids.max", value)
        }
    }

    // MARK: block I/O

    func applyBlockIO(_ b: BlockIOSpec) throws(SwiftletError) {
        let anything = (b.weight ?? 0) != 0 || (b.leafWeight ?? 0) != 0 || !b.weightDevice.isEmpty
            || !b.throttleReadBpsDevice.isEmpty || !b.throttleWriteBpsDevice.isEmpty
            || !b.throttleReadIOPSDevice.isEmpty || !b.throttleWriteIOPSDevice.isEmpty
        if !anything { return }
        switch controller("blkio") ?? controller("io") {
        case .v1(let d): try applyBlkioV1(d, b)
        case .v2(let d): try applyIOV2(d, b)
        case nil:
            throw SwiftletError(.cgroups, "linux.resources.blockIO requested but the blkio/io cgroup controller is not available")
        }
    }

    private func applyBlkioV1(_ d: CgroupDir, _ b: BlockIOSpec) throws(SwiftletError) {
        // Since Linux 5.0 only BFQ implements weights, under blkio.bfq.*.
        // A kernel without BFQ and CFQ has neither file: as runc, that is an error naming the
        // field and the file, not a weight silently dropped.
        let bfq = d.has("blkio.bfq.weight")
        do throws(SwiftletError) {
            if let w = b.weight, w != 0 { try d.write(bfq ? "blkio.bfq.weight" : "blkio.weight", String(w)) }
        } catch { throw error.context("linux.resources.blockIO.weight") }
        do throws(SwiftletError) {
            if let w = b.leafWeight, w != 0 { try d.write("blkio.leaf_weight", String(w)) }
        } catch { throw error.context("linux.resources.blockIO.leafWeight") }
        for wd in b.weightDevice {
            let dev = try deviceNumber(wd.major, wd.minor, "weightDevice")
            do throws(SwiftletError) {
                if let w = wd.weight { try d.write(bfq ? "blkio.bfq.weight_device" : "blkio.weight_device", dev + " " + String(w)) }
                if let w = wd.leafWeight { try d.write("blkio.leaf_weight_device", dev + " " + String(w)) }
            } catch { throw error.context("linux.resources.blockIO.weightDevice") }
        }
        try throttle(d, "blkio.throttle.read_bps_device", b.throttleReadBpsDevice, nil)
        try throttle(d, "blkio.throttle.write_bps_device", b.throttleWriteBpsDevice, nil)
        try throttle(d, "blkio.throttle.read_iops_device", b.throttleReadIOPSDevice, nil)
        try throttle(d, "blkio.throttle.write_iops_device", b.throttleWriteIOPSDevice, nil)
    }

    private func applyIOV2(_ d: CgroupDir, _ b: BlockIOSpec) throws(SwiftletError) {
        if (b.leafWeight ?? 0) != 0 || b.weightDevice.contains(where: { $0.leafWeight != nil }) {
            throw SwiftletError(.cgroups, "linux.resources.blockIO leaf weights are not supported on cgroup v2")
        }
        // BFQ takes the v1 range as is; io.weight (iocost) needs the conversion.
        let bfq = d.has("io.bfq.weight")
        if let w = b.weight, w != 0 {
            try d.write(bfq ? "io.bfq.weight" : "io.weight",
                        bfq ? String(w) : String(CgroupConversion.ioWeight(fromBlkioWeight: w)))
        }
        for wd in b.weightDevice {
            guard let w = wd.weight else { continue }
            let dev = try deviceNumber(wd.major, wd.minor, "weightDevice")
            try d.write(bfq ? "io.bfq.weight" : "io.weight",
                        dev + " " + (bfq ? String(w) : String(CgroupConversion.ioWeight(fromBlkioWeight: w))))
        }
        try throttle(d, "io.max", b.throttleReadBpsDevice, "rbps")
        try throttle(d, "io.max", b.throttleWriteBpsDevice, "wbps")
        try throttle(d, "io.max", b.throttleReadIOPSDevice, "riops")
        try throttle(d, "io.max", b.throttleWriteIOPSDevice, "wiops")
    }

    private func throttle(_ d: CgroupDir, _ file: String, _ list: [ThrottleDevice], _ key: String?) throws(SwiftletError) {
        for t in list {
            let dev = try deviceNumber(t.major, t.minor, "throttle device")
            if let key {
                // io.max: 0 means no limit, spelled "max".
                try d.write(file, dev + " " + key + "=" + (t.rate == 0 ? "max" : String(t.rate)))
            } else {
                try d.write(file, dev + " " + String(t.rate))
            }
        }
    }

    private func deviceNumber(_ major: Int64, _ minor: Int64, _ what: String) throws(SwiftletError) -> String {
        guard major >= 0, minor >= 0, major < Int64(UInt32.max), minor < Int64(UInt32.max) else {
            throw SwiftletError(.cgroups, "linux.resources.blockIO: invalid " + what + " " + String(major) + ":" + String(minor))
        }
        return String(major) + ":" + String(minor)
    }

    // MARK: hugetlb

    func applyHugetlb(_ limits: [HugepageLimit]) throws(SwiftletError) {
        let target = try require("hugetlb", for: "linux.resources.hugepageLimits")
        for l in limits {
            guard isPageSizeName(l.pageSize) else {
                throw SwiftletError(.cgroups, "linux.resources.hugepageLimits: invalid page size \"" + l.pageSize + "\"")
            }
            let d: CgroupDir
            let limitFile: String
            let reservedFile: String
            switch target {
            case .v1(let x):
                d = x
                limitFile = "hugetlb." + l.pageSize + ".limit_in_bytes"
                reservedFile = "hugetlb." + l.pageSize + ".rsvd.limit_in_bytes"
            case .v2(let x):
                d = x
                limitFile = "hugetlb." + l.pageSize + ".max"
                reservedFile = "hugetlb." + l.pageSize + ".rsvd.max"
            }
            guard d.has(limitFile) else {
                throw SwiftletError(.cgroups, "linux.resources.hugepageLimits: page size " + l.pageSize
                                    + " is not available (no " + d.file(limitFile) + ")", errno: ENOENT)
            }
            try d.write(limitFile, String(l.limit))
            // Reservations count pages promised to mmap but not yet faulted in (Linux 5.7+).
            if d.has(reservedFile) { try d.write(reservedFile, String(l.limit)) }
        }
    }

    // MARK: network (v1 only)

    func applyNetwork(_ n: NetworkSpec) throws(SwiftletError) {
        if let id = n.classID {
            switch controller("net_cls") {
            case .v1(let d): try d.write("net_cls.classid", String(id))
            default:
                throw SwiftletError(.cgroups, "linux.resources.network.classID requested but the net_cls cgroup controller (v1 only) is not available")
            }
        }
        if !n.priorities.isEmpty {
            guard case .v1(let d) = controller("net_prio") else {
                throw SwiftletError(.cgroups, "linux.resources.network.priorities requested but the net_prio cgroup controller (v1 only) is not available")
            }
            for (name, prio) in n.priorities {
                guard isInterfaceName(name) else {
                    throw SwiftletError(.cgroups, "linux.resources.network.priorities: invalid interface name \"" + name + "\"")
                }
                try d.write("net_prio.ifpriomap", name + " " + String(prio))
            }
        }
    }

    // MARK: rdma

    func applyRdma(_ limits: [(String, RdmaLimit)]) throws(SwiftletError) {
        let d: CgroupDir
        switch try require("rdma", for: "linux.resources.rdma") {
        case .v1(let x), .v2(let x): d = x
        }
        for (device, l) in limits {
            guard !device.isEmpty, device.utf8.count < 64, device.utf8.allSatisfy({ $0 > 32 && $0 != 127 }) else {
                throw SwiftletError(.cgroups, "linux.resources.rdma: invalid device name \"" + device + "\"")
            }
            var line = device
            if let h = l.hcaHandles { line += " hca_handle=" + String(h) }
            if let o = l.hcaObjects { line += " hca_object=" + String(o) }
            if l.hcaHandles == nil && l.hcaObjects == nil { continue }
            try d.write("rdma.max", line)
        }
    }

    // MARK: unified (v2 key/values)

    func applyUnified(_ entries: [(String, String)]) throws(SwiftletError) {
        guard layout.mode != .v1, let u = unifiedDir, let mount = layout.unified else {
            throw SwiftletError(.cgroups, "linux.resources.unified requires cgroup v2")
        }
        for (key, value) in entries {
            guard isUnifiedKey(key) else {
                throw SwiftletError(.cgroups, "linux.resources.unified: invalid or forbidden key \"" + key + "\"")
            }
            guard !value.utf8.contains(0) else {
                throw SwiftletError(.cgroups, "linux.resources.unified: invalid value for \"" + key + "\"")
            }
            do throws(SwiftletError) {
                try u.write(key, value)
            } catch {
                if error.errno == ENOENT, let c = key.splitOnce(byte: 46)?.0, !c.bytesEqual("cgroup"), !mount.has(c) {
                    throw SwiftletError(.cgroups, "linux.resources.unified: \"" + key + "\" needs the " + c
                                        + " controller, which is not available on cgroup v2 here")
                }
                throw error.context("linux.resources.unified")
            }
        }
    }
}

/// "2MB", "1GB", "64KB": the names hugetlb files use (and nothing that could leave the directory).
func isPageSizeName(_ s: String) -> Bool {
    let b = Array(s.utf8)
    guard b.count >= 3, b.count <= 12, b[b.count - 1] == UInt8(ascii: "B") else { return false }
    let unit = b[b.count - 2]
    guard unit == UInt8(ascii: "K") || unit == UInt8(ascii: "M") || unit == UInt8(ascii: "G") || unit == UInt8(ascii: "T") else { return false }
    return b[0..<(b.count - 2)].allSatisfy { $0 >= 48 && $0 <= 57 }
}

/// A network interface name as the kernel accepts it (IFNAMSIZ, no space or slash).
func isInterfaceName(_ s: String) -> Bool {
    let b = Array(s.utf8)
    guard !b.isEmpty, b.count < 16, !s.bytesEqual("."), !s.bytesEqual("..") else { return false }
    return b.allSatisfy { $0 > 32 && $0 != 127 && $0 != 47 && $0 != 58 }
}

/// A v2 control file a container's config may set: "<controller>.<name>", no path tricks,
/// and none of the files that move, kill or freeze processes or reshape the tree.
func isUnifiedKey(_ key: String) -> Bool {
    let b = Array(key.utf8)
    guard b.count >= 3, b.count <= 255, b[0] != 46, b.contains(46) else { return false }
    guard b.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 95 || $0 == 45 }) else {
        return false
    }
    if key.hasBytePrefix("cgroup.") {
        return key.bytesEqual("cgroup.max.depth") || key.bytesEqual("cgroup.max.descendants")
    }
    return true
}
