import Base

// The OCI runtime-spec 1.3 configuration (config.md, config-linux.md) as plain values.
// Parsing and validation live in Parse.swift (there is no writer: the original JSON is
// kept where it is needed again). Fields a runtime does not act on are still read so that
// bad values are reported, not ignored.

public struct Spec: Sendable {
    public var ociVersion: String = ""
    /// Required (config.md: Root): the parser refuses a config without it.
    public var root: Root = Root(path: "rootfs")
    public var mounts: [MountSpec] = []
    public var process: ProcessSpec? = nil
    public var hostname: String? = nil
    public var domainname: String? = nil
    public var hooks: HooksSpec = HooksSpec()
    public var annotations: [(String, String)] = []
    public var linux: LinuxSpec? = nil
    public init() {}

    /// The value of an annotation, if present.
    public func annotation(_ key: String) -> String? {
        for (k, v) in annotations where k.bytesEqual(key) { return v }
        return nil
    }
}

public struct Root: Sendable {
    public var path: String
    public var readonly: Bool = false
    public init(path: String) { self.path = path }
}

public struct MountSpec: Sendable {
    /// Always absolute: the parser resolves the deprecated relative form against "/".
    public var destination: String
    public var type: String? = nil
    public var source: String? = nil
    public var options: [String] = []
    public var uidMappings: [IDMapping] = []
    public var gidMappings: [IDMapping] = []
    public init(destination: String) { self.destination = destination }
}

public struct ProcessSpec: Sendable {
    public var terminal: Bool = false
    public var consoleSize: ConsoleSize? = nil
    public var user: User = User()
    public var args: [String] = []
    public var commandLine: String? = nil
    public var env: [String] = []
    public var cwd: String = "/"
    public var capabilities: CapabilitySpec? = nil
    public var rlimits: [Rlimit] = []
    public var noNewPrivileges: Bool = false
    public var apparmorProfile: String? = nil
    public var oomScoreAdj: Int32? = nil
    public var selinuxLabel: String? = nil
    public var scheduler: SchedulerSpec? = nil
    public var ioPriority: IOPrioritySpec? = nil
    public var execCPUAffinity: CPUAffinitySpec? = nil
    public init() {}
}

public struct ConsoleSize: Sendable {
    public var height: UInt32
    public var width: UInt32
    public init(height: UInt32, width: UInt32) { self.height = height; self.width = width }
}

public struct User: Sendable {
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var umask: UInt32? = nil
    public var additionalGids: [UInt32] = []
    public init() {}
}

/// Capability names as written in config.json ("CAP_SYS_ADMIN"); the Capabilities module
/// maps them to numbers and rejects unknown ones.
public struct CapabilitySpec: Sendable {
    public var bounding: [String] = []
    public var effective: [String] = []
    public var inheritable: [String] = []
    public var permitted: [String] = []
    public var ambient: [String] = []
    public init() {}
}

public struct Rlimit: Sendable {
    public var type: String
    public var soft: UInt64
    public var hard: UInt64
    public init(type: String, soft: UInt64, hard: UInt64) { self.type = type; self.soft = soft; self.hard = hard }
}

public struct SchedulerSpec: Sendable {
    public var policy: String
    public var nice: Int32 = 0
    public var priority: Int32 = 0
    public var flags: [String] = []
    public var runtime: UInt64 = 0
    public var deadline: UInt64 = 0
    public var period: UInt64 = 0
    public init(policy: String) { self.policy = policy }
}

public struct IOPrioritySpec: Sendable {
    public var ioClass: String
    public var priority: Int32 = 0
    public init(ioClass: String) { self.ioClass = ioClass }
}

/// CPU lists such as "0-3,7" for before and after the switch to the container process.
public struct CPUAffinitySpec: Sendable {
    public var initial: String? = nil
    public var final: String? = nil
    public init() {}
}

public struct HooksSpec: Sendable {
    public var prestart: [Hook] = []
    public var createRuntime: [Hook] = []
    public var createContainer: [Hook] = []
    public var startContainer: [Hook] = []
    public var poststart: [Hook] = []
    public var poststop: [Hook] = []
    public init() {}
}

public struct Hook: Sendable {
    public var path: String
    public var args: [String] = []
    public var env: [String] = []
    public var timeout: Int? = nil
    public init(path: String) { self.path = path }
}

public struct LinuxSpec: Sendable {
    public var namespaces: [NamespaceSpec] = []
    public var uidMappings: [IDMapping] = []
    public var gidMappings: [IDMapping] = []
    public var timeOffsets: [TimeOffset] = []
    public var devices: [DeviceSpec] = []
    public var netDevices: [(String, String)] = []   // host name -> name in container
    public var cgroupsPath: String? = nil
    public var resources: ResourcesSpec? = nil
    public var rootfsPropagation: String? = nil
    public var seccomp: SeccompSpec? = nil
    public var sysctl: [(String, String)] = []
    public var maskedPaths: [String] = []
    public var readonlyPaths: [String] = []
    public var mountLabel: String? = nil
    public var personality: PersonalitySpec? = nil
    public var intelRdt: Bool = false           // present in config; unsupported when set
    /// The contents of linux.intelRdt when present (validated, not acted on).
    public var intelRdtSettings: IntelRdtSpec? = nil
    /// linux.memoryPolicy: the NUMA policy for set_mempolicy(2).
    public var memoryPolicy: MemoryPolicySpec? = nil
    public init() {}
}

public struct IntelRdtSpec: Sendable {
    public var closID: String? = nil
    public var l3CacheSchema: String? = nil
    public var memBwSchema: String? = nil
    public var schemata: [String] = []
    public var enableMonitoring: Bool = false
    public init() {}
}

/// linux.memoryPolicy: mode ("MPOL_BIND", ...), node list ("0-3,7") and flags ("MPOL_F_STATIC_NODES").
public struct MemoryPolicySpec: Sendable {
    public var mode: String
    public var nodes: String? = nil
    public var flags: [String] = []
    public init(mode: String) { self.mode = mode }
}

public enum NamespaceKind: String, Sendable, CaseIterable {
    case pid, network, mount, ipc, uts, user, cgroup, time
}

public struct NamespaceSpec: Sendable {
    public var type: NamespaceKind
    public var path: String? = nil
    public init(type: NamespaceKind, path: String? = nil) { self.type = type; self.path = path }
}

public struct IDMapping: Sendable, Equatable {
    public var containerID: UInt32
    public var hostID: UInt32
    public var size: UInt32
    public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
        self.containerID = containerID; self.hostID = hostID; self.size = size
    }
}

/// linux.timeOffsets: clock name ("monotonic" or "boottime") and its offset.
public struct TimeOffset: Sendable {
    public var clock: String
    public var secs: Int64 = 0
    public var nanosecs: UInt32 = 0
    public init(clock: String) { self.clock = clock }
}

public struct DeviceSpec: Sendable {
    public var type: String          // "c", "b", "u" or "p"
    public var path: String          // absolute, inside the container
    public var major: Int64 = 0      // required unless type is "p"
    public var minor: Int64 = 0
    public var fileMode: UInt32? = nil
    public var uid: UInt32? = nil
    public var gid: UInt32? = nil
    public init(type: String, path: String) { self.type = type; self.path = path }
}

public struct PersonalitySpec: Sendable {
    public var domain: String        // "LINUX" or "LINUX32"
    public var flags: [String] = []
    public init(domain: String) { self.domain = domain }
}

// MARK: resources (cgroups)

public struct ResourcesSpec: Sendable {
    public var devices: [DeviceCgroupRule] = []
    public var memory: MemorySpec? = nil
    public var cpu: CPUSpec? = nil
    public var pids: PidsSpec? = nil
    public var blockIO: BlockIOSpec? = nil
    public var hugepageLimits: [HugepageLimit] = []
    public var network: NetworkSpec? = nil
    public var rdma: [(String, RdmaLimit)] = []
    public var unified: [(String, String)] = []
    public init() {}
}

public struct DeviceCgroupRule: Sendable {
    public var allow: Bool
    public var type: String? = nil       // "a", "c", "b"; nil means all
    public var major: Int64? = nil       // nil means all (*); the parser maps runc's -1 to nil
    public var minor: Int64? = nil
    public var access: String? = nil     // subset of "rwm"; nil means "rwm"
    public init(allow: Bool) { self.allow = allow }
}

public struct MemorySpec: Sendable {
    public var limit: Int64? = nil
    public var reservation: Int64? = nil
    public var swap: Int64? = nil
    public var kernel: Int64? = nil
    public var kernelTCP: Int64? = nil
    public var swappiness: UInt64? = nil
    public var disableOOMKiller: Bool? = nil
    public var useHierarchy: Bool? = nil
    public var checkBeforeUpdate: Bool? = nil
    public init() {}
}

public struct CPUSpec: Sendable {
    public var shares: UInt64? = nil
    public var quota: Int64? = nil
    public var burst: UInt64? = nil
    public var period: UInt64? = nil
    public var realtimeRuntime: Int64? = nil
    public var realtimePeriod: UInt64? = nil
    public var cpus: String? = nil
    public var mems: String? = nil
    public var idle: Int64? = nil
    public init() {}
}

/// Only present when the config sets a limit (-1 means "max"); an empty pids object parses as nil.
public struct PidsSpec: Sendable {
    public var limit: Int64
    public init(limit: Int64) { self.limit = limit }
}

public struct BlockIOSpec: Sendable {
    public var weight: UInt16? = nil
    public var leafWeight: UInt16? = nil
    public var weightDevice: [WeightDevice] = []
    public var throttleReadBpsDevice: [ThrottleDevice] = []
    public var throttleWriteBpsDevice: [ThrottleDevice] = []
    public var throttleReadIOPSDevice: [ThrottleDevice] = []
    public var throttleWriteIOPSDevice: [ThrottleDevice] = []
    public init() {}
}

public struct WeightDevice: Sendable {
    public var major: Int64
    public var minor: Int64
    public var weight: UInt16? = nil
    public var leafWeight: UInt16? = nil
    public init(major: Int64, minor: Int64) { self.major = major; self.minor = minor }
}

public struct ThrottleDevice: Sendable {
    public var major: Int64
    public var minor: Int64
    public var rate: UInt64
    public init(major: Int64, minor: Int64, rate: UInt64) { self.major = major; self.minor = minor; self.rate = rate }
}

public struct HugepageLimit: Sendable {
    public var pageSize: String
    public var limit: UInt64
    public init(pageSize: String, limit: UInt64) { self.pageSize = pageSize; self.limit = limit }
}

public struct NetworkSpec: Sendable {
    public var classID: UInt32? = nil
    public var priorities: [(String, UInt32)] = []
    public init() {}
}

public struct RdmaLimit: Sendable {
    public var hcaHandles: UInt32? = nil
    public var hcaObjects: UInt32? = nil
    public init() {}
}

// MARK: seccomp

public struct SeccompSpec: Sendable {
    public var defaultAction: String
    public var defaultErrnoRet: UInt32? = nil
    public var architectures: [String] = []
    public var flags: [String] = []
    public var listenerPath: String? = nil
    public var listenerMetadata: String? = nil
    public var syscalls: [SeccompSyscall] = []
    public init(defaultAction: String) { self.defaultAction = defaultAction }
}

public struct SeccompSyscall: Sendable {
    public var names: [String]
    public var action: String
    public var errnoRet: UInt32? = nil
    public var args: [SeccompArg] = []
    public init(names: [String], action: String) { self.names = names; self.action = action }
}

public struct SeccompArg: Sendable {
    public var index: UInt32
    public var value: UInt64
    public var valueTwo: UInt64 = 0
    public var op: String
    public init(index: UInt32, value: UInt64, op: String) { self.index = index; self.value = value; self.op = op }
}
