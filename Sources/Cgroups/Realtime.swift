import Base
import CLinux
import Syscalls

/// Real-time budgets (cgroup v1 with CONFIG_RT_GROUP_SCHED: cpu.rt_runtime_us and
/// cpu.rt_period_us). The kernel lets a cgroup hold at most its parent's budget, shared by
/// all its children, and a new cgroup starts with none; so a container asking for
/// realtimeRuntime under swiftlet's own parents needs those parents to hold it first.
///
/// swiftlet keeps each parent it created ("/swiftlet/...") at exactly the sum of its
/// children's budgets: raised top-down before a container's budget is written, lowered
/// bottom-up after a container's budget shrinks or its cgroup goes. Whatever else is under
/// the hierarchy root limits the top one (the kernel refuses, and the error says so).
/// Cgroups swiftlet did not create (absolute cgroupsPath, systemd slices) are never
/// written: only the container's own cgroup is, as runc does.
///
/// Every swiftlet process, whatever its state root, shares these parents, so the
/// read-sum-write steps are serialised by an flock on the hierarchy's root directory.
extension CgroupManager {
    static let rtRuntime = "cpu.rt_runtime_us"
    static let rtPeriod = "cpu.rt_period_us"

    /// The v1 hierarchy holding cpu, if it has real-time group scheduling.
    var realtimeMember: V1Member? {
        guard let m = v1Dirs.first(where: { $0.hierarchy.has("cpu") }),
              CgroupDir(m.hierarchy.path).has(Self.rtRuntime) else { return nil }
        return m
    }

    /// The container's real-time budget file and its value; nil without real-time groups.
    public func realtimeBudget() -> (file: String, runtime: Int64)? {
        guard let m = realtimeMember, let text = m.dir.readIfPresent(Self.rtRuntime)?.trimmed(),
              let value = parseInt64(text) else { return nil }
        return (m.dir.file(Self.rtRuntime), value)
    }

    /// The parents swiftlet created above the container's cgroup, top first.
    func swiftletAncestors(in base: String) -> [CgroupDir] {
        guard path.hasBytePrefix(CgroupPath.parent + "/") else { return [] }
        var parts = path.split(byte: 47).filter { !$0.isEmpty }
        parts.removeLast()
        var out: [CgroupDir] = []
        var current = base
        for p in parts {
            current += "/" + p
            out.append(CgroupDir(current))
        }
        return out
    }

    /// Writes the container's real-time period and runtime, making room in swiftlet's parents.
    func applyRealtime(_ leaf: CgroupDir, runtime: Int64?, period: UInt64?) throws(SwiftletError) {
        let base = realtimeMember?.hierarchy.path ?? ""
        let ancestors = base.isEmpty ? [] : swiftletAncestors(in: base)
        if ancestors.isEmpty {
            if let p = period, p != 0 { try leaf.write(Self.rtPeriod, String(p)) }
            if let r = runtime, r != 0 { try leaf.write(Self.rtRuntime, String(r)) }
            return
        }
        let lock = try lockBudgets(base)
        defer { lock.close() }
        let wantPeriod = (period ?? 0) != 0 ? period! : (leaf.readUInt(Self.rtPeriod) ?? 1_000_000)
        let wantRuntime = (runtime ?? 0) != 0 ? runtime! : (budget(of: leaf) ?? 0)
        // What each ancestor must hold once the container has its budget, bottom-up.
        var needs = [UInt64](repeating: 0, count: ancestors.count)
        var below = (dir: leaf, runtime: wantRuntime, period: wantPeriod)
        for i in stride(from: ancestors.count - 1, through: 0, by: -1) {
            needs[i] = need(of: ancestors[i], replacing: below)
            below = (ancestors[i], Int64(clamping: needs[i]), ancestors[i].readUInt(Self.rtPeriod) ?? 1_000_000)
        }
        for (i, dir) in ancestors.enumerated() {
            let have = budget(of: dir) ?? 0
            if have >= 0 && UInt64(have) < needs[i] { try raise(dir, to: needs[i]) }
        }
        if let p = period, p != 0 { try leaf.write(Self.rtPeriod, String(p)) }
        if let r = runtime, r != 0 { try leaf.write(Self.rtRuntime, String(r)) }
        shrink(ancestors)
    }

    /// Before the container's cgroup is removed: a removed cgroup's budget still counts
    /// against its parent until the kernel frees it, some time after rmdir.
    func dropRealtime() {
        guard let m = realtimeMember, (budget(of: m.dir) ?? 0) > 0 else { return }
        for dir in m.dir.walk().reversed() where (budget(of: dir) ?? 0) > 0 {
            _ = try? dir.write(Self.rtRuntime, "0")
        }
    }

    /// After the container's cgroup is gone: give its budget back to the hierarchy root.
    func releaseRealtime() {
        guard let m = realtimeMember else { return }
        let ancestors = swiftletAncestors(in: m.hierarchy.path)
        // A top parent without budget (or gone) has nothing below it to give back.
        guard let top = ancestors.first, (budget(of: top) ?? 0) != 0,
              let lock = try? lockBudgets(m.hierarchy.path) else { return }
        defer { lock.close() }
        shrink(ancestors)
    }

    /// Lowers each ancestor, deepest first, to what its children hold.
    private func shrink(_ ancestors: [CgroupDir]) {
        for dir in ancestors.reversed() where dir.exists {
            let need = need(of: dir, replacing: nil)
            guard let have = budget(of: dir), have > 0, UInt64(have) > need else { continue }
            // A child removed a moment ago may still count (see dropRealtime): try again shortly.
            for attempt in 0..<20 {
                do throws(SwiftletError) {
                    try dir.write(Self.rtRuntime, String(need))
                    break
                } catch {
                    if error.errno != EINVAL || attempt == 19 { break }
                    sleepMilliseconds(5)
                }
            }
        }
    }

    private func raise(_ dir: CgroupDir, to value: UInt64) throws(SwiftletError) {
        do throws(SwiftletError) {
            try dir.write(Self.rtRuntime, String(value))
        } catch {
            guard error.errno == EINVAL, let parent = parentDirectory(dir.path),
                  let allowed = budget(of: CgroupDir(parent)) else { throw error.context("linux.resources.cpu.realtimeRuntime") }
            throw SwiftletError(.cgroups, "linux.resources.cpu.realtimeRuntime: " + dir.file(Self.rtRuntime) + " cannot hold "
                + String(value) + " µs: its parent's " + Self.rtRuntime + " is " + String(allowed)
                + " µs, shared with its other children", errno: EINVAL)
        }
    }

    /// The runtime `dir`'s children hold, in µs of `dir`'s own period (the kernel compares
    /// runtime/period ratios), rounded up so the kernel's check always passes. `replacing`
    /// stands in for one child's current values.
    private func need(of dir: CgroupDir, replacing: (dir: CgroupDir, runtime: Int64, period: UInt64)?) -> UInt64 {
        let period = dir.readUInt(Self.rtPeriod) ?? 1_000_000
        var total: UInt64 = 0
        for child in dir.subdirectories() {
            var r: Int64
            var p: UInt64
            if let rep = replacing, rep.dir.path.bytesEqual(child.path) {
                r = rep.runtime; p = rep.period
            } else {
                r = budget(of: child) ?? 0; p = child.readUInt(Self.rtPeriod) ?? period
            }
            if r == 0 || p == 0 { continue }
            // Unlimited (-1) needs the whole period.
            let runtime = r < 0 ? p : UInt64(r)
            let (scaled, overflow) = runtime.multipliedReportingOverflow(by: period)
            if overflow { return UInt64(Int64.max) }
            total += (scaled + p - 1) / p
        }
        return total
    }

    private func budget(of dir: CgroupDir) -> Int64? {
        dir.readIfPresent(Self.rtRuntime).flatMap { parseInt64($0.trimmed()) }
    }

    private func lockBudgets(_ base: String) throws(SwiftletError) -> FileDescriptor {
        let fd = try FileDescriptor.open(base, O_RDONLY | O_DIRECTORY, stage: .cgroups)
        while flock(fd.raw, LOCK_EX) != 0 {
            if cl_errno() == EINTR { continue }
            let e = SwiftletError.system(.cgroups, "lock " + base)
            fd.close()
            throw e
        }
        return fd
    }
}

extension CgroupManager {
    /// A SCHED_FIFO or SCHED_RR process.scheduler in a cgroup without real-time budget gets
    /// EPERM from the kernel; say why instead.
    public func requireRealtimeBudget(forPolicy policy: String) throws(SwiftletError) {
        guard policy.bytesEqual("SCHED_FIFO") || policy.bytesEqual("SCHED_RR"),
              let b = realtimeBudget(), b.runtime == 0 else { return }
        throw SwiftletError(.cgroups, "process.scheduler " + policy + " needs a real-time budget, but " + b.file
            + " is 0: set linux.resources.cpu.realtimeRuntime", errno: EPERM)
    }
}
