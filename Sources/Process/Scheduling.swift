import Base
import CLinux
import OCISpec
import Syscalls

/// process.scheduler as the kernel's struct sched_attr wants it.
public struct SchedulerAttributes: Equatable, Sendable {
    public var policy: UInt32
    public var flags: UInt64
    public var nice: Int32
    public var priority: UInt32
    public var runtime: UInt64
    public var deadline: UInt64
    public var period: UInt64

    public init(policy: UInt32, flags: UInt64, nice: Int32, priority: UInt32, runtime: UInt64, deadline: UInt64, period: UInt64) {
        self.policy = policy
        self.flags = flags
        self.nice = nice
        self.priority = priority
        self.runtime = runtime
        self.deadline = deadline
        self.period = period
    }
}

/// A set of CPU numbers as a bit mask, as sched_setaffinity(2) takes it.
public struct CPUSet: Equatable, Sendable {
    public var words: [UInt64] = []
    public init() {}

    /// CPU numbers above this are refused (as runc does): a bogus "0-4000000000" must not
    /// make us allocate a huge mask.
    public static let maxCPU = 64 * 1024

    public mutating func insert(_ cpu: Int) {
        let word = cpu / 64
        while words.count <= word { words.append(0) }
        words[word] |= UInt64(1) << UInt64(cpu % 64)
    }

    public func contains(_ cpu: Int) -> Bool {
        let word = cpu / 64
        return cpu >= 0 && word < words.count && words[word] & (UInt64(1) << UInt64(cpu % 64)) != 0
    }

    public var isEmpty: Bool { !words.contains { $0 != 0 } }

    public var cpus: [Int] {
        var out: [Int] = []
        for (w, bits) in words.enumerated() where bits != 0 {
            for b in 0..<64 where bits & (UInt64(1) << UInt64(b)) != 0 { out.append(w * 64 + b) }
        }
        return out
    }
}

/// Parses a CPU list such as "0-3,7" (the cpuset list format). Spaces around elements
/// and empty elements are allowed (as in runc); "" is the empty set; a list of only
/// commas, a reversed range, or a CPU above CPUSet.maxCPU is an error.
public func parseCPUList(_ text: String) throws(SwiftletError) -> CPUSet {
    var set = CPUSet()
    let trimmed = text.trimmed()
    if trimmed.isEmpty { return set }
    var members = 0
    for raw in trimmed.split(byte: 44) {   // ","
        let element = raw.trimmed()
        if element.isEmpty { continue }
        let bounds = element.splitOnce(byte: 45) ?? (element, element)   // "-"
        guard let first = cpuNumber(bounds.0), let last = cpuNumber(bounds.1) else {
            throw SwiftletError(.process, "invalid CPU list \"" + text + "\": bad element \"" + element + "\"", errno: EINVAL)
        }
        guard first <= last else {
            throw SwiftletError(.process, "invalid CPU list \"" + text + "\": invalid range: " + element, errno: EINVAL)
        }
        for cpu in first...last { set.insert(cpu) }
        members += 1
    }
    if members == 0 {
        throw SwiftletError(.process, "invalid CPU list \"" + text + "\": no members found", errno: EINVAL)
    }
    return set
}

private func cpuNumber(_ s: String) -> Int? {
    guard !s.isEmpty, s.utf8.count <= 10, let v = parseUInt64(s), v <= UInt64(CPUSet.maxCPU) else { return nil }
    return Int(v)
}

extension ProcessSetup {

    /// Maps and validates process.scheduler (the checks runc makes): nice within
    /// -20...19 for SCHED_OTHER/BATCH, priority only for FIFO/RR, runtime/deadline/period
    /// only for DEADLINE. SCHED_ISO is in the spec but not in Linux: the kernel refuses it.
    public static func schedulerAttributes(_ s: SchedulerSpec) throws(SwiftletError) -> SchedulerAttributes {
        let policies: [(String, UInt32)] = [
            ("SCHED_OTHER", 0), ("SCHED_FIFO", 1), ("SCHED_RR", 2), ("SCHED_BATCH", 3),
            ("SCHED_ISO", 4), ("SCHED_IDLE", 5), ("SCHED_DEADLINE", 6),
        ]
        let flagNames: [(String, UInt64)] = [
            ("SCHED_FLAG_RESET_ON_FORK", 0x01), ("SCHED_FLAG_RECLAIM", 0x02), ("SCHED_FLAG_DL_OVERRUN", 0x04),
            ("SCHED_FLAG_KEEP_POLICY", 0x08), ("SCHED_FLAG_KEEP_PARAMS", 0x10),
            ("SCHED_FLAG_UTIL_CLAMP_MIN", 0x20), ("SCHED_FLAG_UTIL_CLAMP_MAX", 0x40),
        ]
        guard let policy = policies.first(where: { $0.0.bytesEqual(s.policy) })?.1 else {
            throw SwiftletError(.process, "process.scheduler.policy: invalid policy \"" + s.policy + "\"", errno: EINVAL)
        }
        var flags: UInt64 = 0
        for f in s.flags {
            guard let bit = flagNames.first(where: { $0.0.bytesEqual(f) })?.1 else {
                throw SwiftletError(.process, "process.scheduler.flags: invalid flag \"" + f + "\"", errno: EINVAL)
            }
            flags |= bit
        }
        if (policy == 0 || policy == 3) && (s.nice < -20 || s.nice > 19) {
            throw SwiftletError(.process, "process.scheduler.nice: " + String(s.nice) + " is outside -20...19 for " + s.policy, errno: EINVAL)
        }
        if s.priority != 0 && policy != 1 && policy != 2 {
            throw SwiftletError(.process, "process.scheduler.priority can only be set for SCHED_FIFO or SCHED_RR", errno: EINVAL)
        }
        if s.priority < 0 {
            throw SwiftletError(.process, "process.scheduler.priority: " + String(s.priority) + " is negative", errno: EINVAL)
        }
        if policy != 6 && (s.runtime != 0 || s.deadline != 0 || s.period != 0) {
            throw SwiftletError(.process, "process.scheduler runtime/deadline/period can only be set for SCHED_DEADLINE", errno: EINVAL)
        }
        return SchedulerAttributes(policy: policy, flags: flags, nice: s.nice, priority: UInt32(s.priority),
                                   runtime: s.runtime, deadline: s.deadline, period: s.period)
    }

    /// sched_setattr(2) on `pid` (0: the caller). The init's policy is inherited by the
    /// container process across execve.
    public static func setScheduler(_ s: SchedulerSpec, pid: Int32 = 0) throws(SwiftletError) {
        let a = try schedulerAttributes(s)
        if cl_sched_setattr(pid, a.policy, a.flags, a.nice, a.priority, a.runtime, a.deadline, a.period) != 0 {
            throw .system(.process, "sched_setattr " + s.policy)
        }
    }

    /// The ioprio value of process.ioPriority: class << 13 | level, level 0...7.
    public static func ioPriorityValue(_ p: IOPrioritySpec) throws(SwiftletError) -> Int32 {
        let classes: [(String, Int32)] = [("IOPRIO_CLASS_RT", 1), ("IOPRIO_CLASS_BE", 2), ("IOPRIO_CLASS_IDLE", 3)]
        guard let ioClass = classes.first(where: { $0.0.bytesEqual(p.ioClass) })?.1 else {
            throw SwiftletError(.process, "process.ioPriority.class: invalid class \"" + p.ioClass + "\"", errno: EINVAL)
        }
        guard p.priority >= 0, p.priority <= 7 else {
            throw SwiftletError(.process, "process.ioPriority.priority: " + String(p.priority) + " is outside 0...7", errno: EINVAL)
        }
        return ioClass << 13 | p.priority
    }

    /// ioprio_set(IOPRIO_WHO_PROCESS, 0): the caller; children and the exec'd program
    /// inherit it.
    public static func setIOPriority(_ p: IOPrioritySpec) throws(SwiftletError) {
        let value = try ioPriorityValue(p)
        if cl_ioprio_set(1 /* IOPRIO_WHO_PROCESS */, 0, value) != 0 {
            throw .system(.process, "ioprio_set " + p.ioClass)
        }
    }

    /// linux.memoryPolicy through set_mempolicy(2): the policy of the calling process,
    /// inherited across execve. The node list has the CPU list's format.
    public static func setMemoryPolicy(_ policy: MemoryPolicySpec) throws(SwiftletError) {
        let modes: [(String, Int32)] = [
            ("MPOL_DEFAULT", 0), ("MPOL_PREFERRED", 1), ("MPOL_BIND", 2), ("MPOL_INTERLEAVE", 3),
            ("MPOL_LOCAL", 4), ("MPOL_PREFERRED_MANY", 5), ("MPOL_WEIGHTED_INTERLEAVE", 6),
        ]
        let flagBits: [(String, Int32)] = [
            ("MPOL_F_NUMA_BALANCING", 1 << 13), ("MPOL_F_RELATIVE_NODES", 1 << 14), ("MPOL_F_STATIC_NODES", 1 << 15),
        ]
        guard var mode = modes.first(where: { $0.0.bytesEqual(policy.mode) })?.1 else {
            throw SwiftletError(.process, "linux.memoryPolicy.mode: unknown " + jsonQuoted(policy.mode), errno: EINVAL)
        }
        for f in policy.flags {
            if let bit = flagBits.first(where: { $0.0.bytesEqual(f) })?.1 { mode |= bit }
        }
        let nodes: CPUSet
        do throws(SwiftletError) { nodes = try parseCPUList(policy.nodes ?? "") } catch {
            throw SwiftletError(.process, "linux.memoryPolicy.nodes: " + error.message, errno: EINVAL)
        }
        let rc = nodes.words.withUnsafeBufferPointer { cl_set_mempolicy(mode, $0.baseAddress, $0.count) }
        if rc != 0 {
            let e = cl_errno()
            if e == ENOSYS {
                throw SwiftletError(.process, "linux.memoryPolicy: the kernel has no NUMA support (set_mempolicy)", errno: e)
            }
            throw SwiftletError(.process, "linux.memoryPolicy: set_mempolicy " + policy.mode + " nodes \""
                                + (policy.nodes ?? "") + "\"", errno: e)
        }
    }

    /// sched_setaffinity(2) to a CPU list ("0-3,7") for `pid` (0: the caller). An empty
    /// list changes nothing (config.md: an empty execCPUAffinity.final leaves the
    /// affinity to the kernel).
    public static func setCPUAffinity(_ list: String, pid: Int32 = 0) throws(SwiftletError) {
        let set = try parseCPUList(list)
        if set.isEmpty { return }
        if !applyCPUAffinity(set, pid: pid) { throw .system(.process, "sched_setaffinity " + list) }
    }

    private static func applyCPUAffinity(_ set: CPUSet, pid: Int32) -> Bool {
        set.words.withUnsafeBufferPointer { cl_sched_setaffinity_words(pid, $0.baseAddress, $0.count) } == 0
    }

    /// Keeps the caller, and the children it forks later, on the CPU it runs on now; false
    /// if that could not be done (the caller runs on as before).
    @discardableResult
    public static func pinToCurrentCPU() -> Bool {
        let cpu = Int(cl_getcpu())
        guard cpu >= 0, cpu < CPUSet.maxCPU else { return false }
        var set = CPUSet()
        set.insert(cpu)
        return applyCPUAffinity(set, pid: 0)
    }

    /// Widens the affinity of `pid` (0: the caller) to every CPU the kernel allows it, so
    /// a container does not inherit the runtime's own pinning (runc >= 1.3.1 does the
    /// same). Rather than reading cpuset.cpus.effective (whose file and place differ
    /// between cgroup v1 and v2), it asks for all CPUs up to CPUSet.maxCPU: the kernel
    /// itself clamps the mask to its CPUs and to the task's cpuset, and keeps the wider
    /// request should the cpuset later grow.
    public static func resetCPUAffinity(pid: Int32 = 0) throws(SwiftletError) {
        let words = [UInt64](repeating: ~0, count: CPUSet.maxCPU / 64)
        let rc = words.withUnsafeBufferPointer { cl_sched_setaffinity_words(pid, $0.baseAddress, $0.count) }
        if rc != 0 { throw .system(.process, "reset CPU affinity") }
    }

    /// The affinity of `pid` (0: the caller), for checks and tests.
    public static func currentCPUAffinity(pid: Int32 = 0) throws(SwiftletError) -> CPUSet {
        var words = [UInt64](repeating: 0, count: CPUSet.maxCPU / 64)
        let n = words.withUnsafeMutableBufferPointer { cl_sched_getaffinity_words(pid, $0.baseAddress, $0.count) }
        if n < 0 { throw .system(.process, "sched_getaffinity") }
        var set = CPUSet()
        set.words = Array(words[0..<(Int(n) / 8)])
        while let last = set.words.last, last == 0 { set.words.removeLast() }
        return set
    }
}
