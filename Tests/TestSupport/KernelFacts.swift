import Foundation
import Synchronization

/// What the running kernel offers, probed once per test process. Tests derive their
/// expectations from these facts instead of assuming a machine: the feature applied and
/// visible where it exists, the runtime's documented refusal (or skip) where it does not.
/// The cgroup facts are the ones `swiftlet check` reports (mode, v1 and v2 controllers);
/// `IntegrationTests/KernelFactsTests` checks the two agree.
public enum KernelFacts {
    public static let isRoot = getuid() == 0
    public static let release: String = {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }()

    // MARK: cgroups

    public struct Hierarchy: Sendable {
        public var path: String
        public var controllers: [String]
    }

    /// v1 hierarchies and the cgroup2 mount, from the host's mount table.
    public static let v1: [Hierarchy] = mounts.v1
    public static let unified: Hierarchy? = mounts.unified

    private static let mounts: (v1: [Hierarchy], unified: Hierarchy?) = {
        var v1: [Hierarchy] = []
        var unified: Hierarchy? = nil
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let fields = halves[0].split(separator: " ").map(String.init)
            let tail = halves[1].split(separator: " ").map(String.init)
            guard fields.count >= 5, tail.count >= 3, fields[3] == "/" else { continue }
            if tail[0] == "cgroup" {
                let known = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb",
                             "net_cls", "net_prio", "perf_event", "rdma", "misc"]
                let controllers = tail[2].split(separator: ",").map(String.init)
                    .filter { known.contains($0) || $0.hasPrefix("name=") }
                if !v1.contains(where: { $0.path == fields[4] }) { v1.append(Hierarchy(path: fields[4], controllers: controllers)) }
            } else if tail[0] == "cgroup2", unified == nil {
                let list = (try? String(contentsOfFile: fields[4] + "/cgroup.controllers", encoding: .utf8)) ?? ""
                unified = Hierarchy(path: fields[4], controllers: list.split(whereSeparator: \.isWhitespace).map(String.init))
            }
        }
        return (v1, unified)
    }()

    /// "v1", "hybrid" (v1 controllers beside a cgroup2 mount) or "v2", as `swiftlet check` names it.
    public static var cgroupMode: String {
        if v1.contains(where: { $0.controllers.contains { !$0.hasPrefix("name=") } }) {
            return unified == nil ? "v1" : "hybrid"
        }
        return unified == nil ? "none" : "v2"
    }

    /// Where a controller lives: its v1 hierarchy, else cgroup2 if the unified root offers it.
    public enum Place: Equatable, Sendable {
        case v1(String)
        case v2(String)
        case absent
    }

    /// The place the runtime uses for `controller` (v1 first, as swiftlet's manager does).
    public static func place(of controller: String) -> Place {
        if let h = v1.first(where: { $0.controllers.contains(controller) }) { return .v1(h.path) }
        if let u = unified, u.controllers.contains(controller) { return .v2(u.path) }
        return .absent
    }

    /// The control files a new cgroup gets in `controller`'s hierarchy, found by making an
    /// empty probe cgroup and removing it again (the root cgroup lacks many files). nil
    /// when the controller is absent or the caller cannot make cgroups. On cgroup2 only
    /// controllers already enabled in the root's subtree_control show their files.
    public static func cgroupFiles(_ controller: String) -> Set<String>? {
        cache.withLock { cache in
            if let known = cache[controller] { return known }
            let found = probeFiles(controller)
            cache[controller] = found
            return found
        }
    }

    private static let cache = Mutex<[String: Set<String>?]>([:])

    private static func probeFiles(_ controller: String) -> Set<String>? {
        guard isRoot else { return nil }
        let parent: String
        switch place(of: controller) {
        case .v1(let p): parent = p
        case .v2(let p):
            let control = (try? String(contentsOfFile: p + "/cgroup.subtree_control", encoding: .utf8)) ?? ""
            guard control.split(whereSeparator: \.isWhitespace).contains(Substring(controller)) else { return nil }
            parent = p
        case .absent: return nil
        }
        let probe = parent + "/swiftlet-kernel-facts-\(getpid())"
        guard mkdir(probe, 0o755) == 0 || errno == EEXIST else { return nil }
        defer { rmdir(probe) }
        return Set((try? FileManager.default.contentsOfDirectory(atPath: probe)) ?? [])
    }

    /// True when a new cgroup of `controller` has `file`; nil when that cannot be known here.
    public static func cgroupHas(_ controller: String, _ file: String) -> Bool? {
        if place(of: controller) == .absent { return false }
        return cgroupFiles(controller).map { $0.contains(file) }
    }

    /// The file that takes linux.resources.blockIO.weight: BFQ's, else CFQ's (kernels
    /// before 5.0), nil when blkio/io offers no weight (only throttling, as with mq-deadline
    /// and no BFQ) or when that cannot be probed.
    public static var blkioWeightFile: String? {
        switch place(of: "blkio") {
        case .v1:
            for f in ["blkio.bfq.weight", "blkio.weight"] where cgroupHas("blkio", f) == true { return f }
            return nil
        default:
            for f in ["io.bfq.weight", "io.weight"] where cgroupHas("io", f) == true { return f }
            return nil
        }
    }

    /// Huge page sizes the kernel has pools for ("2MB", "1GB").
    public static let hugepageSizes: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/mm/hugepages")) ?? []
        return names.compactMap { name -> String? in
            guard name.hasPrefix("hugepages-"), name.hasSuffix("kB"),
                  let kb = Int(name.dropFirst("hugepages-".count).dropLast(2)) else { return nil }
            return kb >= 1 << 20 ? "\(kb >> 20)GB" : kb >= 1 << 10 ? "\(kb >> 10)MB" : "\(kb)KB"
        }.sorted()
    }()

    // MARK: system calls and namespaces

    /// True unless the kernel answers ENOSYS: called with arguments it must reject, so the
    /// probe changes nothing.
    public static func hasSyscall(_ number: Int) -> Bool {
        errno = 0
        let rc = rawSyscall(number, -1, 0, 0, 0, 0)
        return !(rc == -1 && errno == ENOSYS)
    }

    /// glibc's syscall(2), which Swift does not import (it is variadic); glibc implements it
    /// in assembly reading integer registers only, so a fixed-arity call is the same call.
    static let rawSyscall: @convention(c) (Int, Int, Int, Int, Int, Int) -> Int = {
        unsafeBitCast(dlsym(nil, "syscall")!, to: (@convention(c) (Int, Int, Int, Int, Int, Int) -> Int).self)
    }()

    public static let hasClone3 = hasSyscall(435)        // clone3(NULL, 0): EINVAL/EFAULT when present
    public static let hasPidfdOpen = hasSyscall(434)     // pidfd_open(-1): EINVAL
    public static let hasOpenat2 = hasSyscall(437)       // openat2(-1, NULL): EBADF/EFAULT
    public static let hasMountSetattr = hasSyscall(442)  // mount_setattr(-1, NULL): EBADF/EINVAL

    /// seccomp(2) filter flags by their OCI names with the bits the kernel sees
    /// (TSYNC is 0: the runtime never passes it, as runc does not for a single-threaded init).
    public static let seccompFilterFlags: [(name: String, bit: Int)] = [
        ("SECCOMP_FILTER_FLAG_TSYNC", 0), ("SECCOMP_FILTER_FLAG_LOG", 2),
        ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", 4), ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 32),
    ]

    /// True when the kernel accepts seccomp filter flag `bit`: SECCOMP_SET_MODE_FILTER with
    /// a NULL program then fails on the pointer (EFAULT) instead of the flags (EINVAL), so
    /// nothing is installed. WAIT_KILLABLE_RECV is only valid with NEW_LISTENER (8).
    public static func acceptsSeccompFilterFlag(_ bit: Int) -> Bool {
        if bit == 0 { return true }
        #if arch(x86_64)
        let seccomp = 317
        #elseif arch(arm64)
        let seccomp = 277
        #else
        return false
        #endif
        let flags = bit == 32 ? bit | 8 : bit
        errno = 0
        return rawSyscall(seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, flags, 0, 0, 0) == -1 && errno == EFAULT
    }

    public static func hasNamespace(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: "/proc/self/ns/" + name)
    }

    /// seccomp actions the kernel knows (user_notif, kill_process, …).
    public static let seccompActions: [String] = {
        let text = (try? String(contentsOfFile: "/proc/sys/kernel/seccomp/actions_avail", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: \.isWhitespace).map(String.init)
    }()

    /// binfmt_misc mounted where the runtime and `swiftlet check` look for it.
    public static var binfmtMounted: Bool {
        FileManager.default.fileExists(atPath: "/proc/sys/fs/binfmt_misc/status")
    }
}
