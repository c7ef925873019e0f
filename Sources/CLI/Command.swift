import Base

/// A parsed command line: the global options given before the verb, and the verb with
/// its own options. Pure values, so the executable only switches on `verb`.
public struct Command: Equatable, Sendable {
    public var global: GlobalOptions
    public var verb: Verb

    public init(global: GlobalOptions = GlobalOptions(), verb: Verb) {
        self.global = global
        self.verb = verb
    }
}

public enum LogFormat: Equatable, Sendable { case text, json }

/// `--rootless`: runc's tri-state ("true", "false" or "auto").
public enum RootlessMode: Equatable, Sendable { case auto, enabled, disabled }

/// `list` and `ps` output.
public enum ListFormat: Equatable, Sendable { case table, json }

/// `check` output.
public enum ReportFormat: Equatable, Sendable { case text, json }

public struct GlobalOptions: Equatable, Sendable {
    /// State directory; nil when not given (the caller picks /run/swiftlet or the XDG one).
    public var root: String? = nil
    /// Log file; nil means standard error.
    public var log: String? = nil
    public var logFormat: LogFormat = .text
    public var debug = false
    public var systemdCgroup = false
    public var rootless: RootlessMode = .auto
    /// Accepted for runc compatibility; swiftlet has no checkpoint/restore.
    public var criu: String? = nil

    public init() {}
}

public enum Verb: Equatable, Sendable {
    case create(CreateOptions)
    case start(StartOptions)
    case state(id: String)
    case kill(KillOptions)
    case delete(DeleteOptions)
    case run(RunOptions)
    case exec(ExecOptions)
    case list(ListOptions)
    case ps(PsOptions)
    case pause(id: String)
    case resume(id: String)
    case update(UpdateOptions)
    case features
    case spec(SpecOptions)
    case events(EventsOptions)
    case check(CheckOptions)
    case agent(AgentOptions)
    case pool(PoolOptions)
    case version
    /// General help when `verb` is nil, else the help of that verb (a valid verb name).
    case help(verb: String?)
}

public struct CreateOptions: Equatable, Sendable {
    public var id: String
    public var bundle = "."
    public var consoleSocket: String? = nil
    public var pidfdSocket: String? = nil
    public var pidFile: String? = nil
    public var noPivot = false
    public var noNewKeyring = false
    public var preserveFDs = 0

    public init(id: String) { self.id = id }
}

/// `start` plus swiftlet's fast-start extensions, which change the process from
/// config.json just before it starts (so a container can be created ahead of time and
/// given its work later). All nil/empty means plain runc `start`.
public struct StartOptions: Equatable, Sendable {
    public var id: String
    /// A runtime-spec process JSON file replacing config.json's process.
    public var process: String? = nil
    /// Replaces the process args when non-empty (one `--arg` per argument).
    public var args: [String] = []
    /// KEY=VALUE entries added to (or replacing in) the process environment.
    public var env: [String] = []
    public var cwd: String? = nil
    /// CPU list such as "0-1,3" to pin the process to.
    public var cpus: String? = nil

    public init(id: String) { self.id = id }

    public var changesProcess: Bool {
        process != nil || !args.isEmpty || !env.isEmpty || cwd != nil || cpus != nil
    }
}

public struct KillOptions: Equatable, Sendable {
    public var id: String
    public var signal: Int32 = 15
    /// Obsolete in runc (signals every process); kept because containerd still sends it.
    public var all = false

    public init(id: String) { self.id = id }
}

public struct DeleteOptions: Equatable, Sendable {
    public var id: String
    public var force = false

    public init(id: String) { self.id = id }
}

public struct RunOptions: Equatable, Sendable {
    public var id: String
    public var bundle = "."
    public var consoleSocket: String? = nil
    public var pidfdSocket: String? = nil
    public var pidFile: String? = nil
    public var detach = false
    public var keep = false
    public var noSubreaper = false
    public var noPivot = false
    public var noNewKeyring = false
    public var preserveFDs = 0

    public init(id: String) { self.id = id }
}

/// `--user uid[:gid]` of exec (numeric only, like runc).
public struct ExecUser: Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32?

    public init(uid: UInt32, gid: UInt32? = nil) { self.uid = uid; self.gid = gid }
}

public struct ExecOptions: Equatable, Sendable {
    public var id: String
    /// The command and its arguments (everything after the container id).
    public var args: [String] = []
    public var consoleSocket: String? = nil
    public var pidfdSocket: String? = nil
    public var cwd: String? = nil
    public var env: [String] = []
    public var tty = false
    public var user: ExecUser? = nil
    public var additionalGids: [UInt32] = []
    public var process: String? = nil
    public var detach = false
    public var pidFile: String? = nil
    public var processLabel: String? = nil
    public var apparmor: String? = nil
    /// nil when not given: keep the value from the process spec (runc's IsSet).
    public var noNewPrivs: Bool? = nil
    public var capabilities: [String] = []
    public var preserveFDs = 0
    /// `[controller:]path` entries naming existing sub-cgroups to join.
    public var cgroups: [String] = []
    public var ignorePaused = false
    public var noSubreaper = false

    public init(id: String) { self.id = id }
}

public struct ListOptions: Equatable, Sendable {
    public var format: ListFormat = .table
    public var quiet = false

    public init() {}
}

public struct PsOptions: Equatable, Sendable {
    public var id: String
    public var format: ListFormat = .table
    /// Arguments for ps(1); empty means the caller's default ("-ef" in runc).
    public var psArgs: [String] = []

    public init(id: String) { self.id = id }
}

/// `update`: each nil field was not given. Memory values are bytes, -1 for unlimited.
public struct UpdateOptions: Equatable, Sendable {
    public var id: String
    /// A JSON file of runtime-spec resources, or "-" for standard input; when set,
    /// runc ignores every other flag.
    public var resources: String? = nil
    public var memory: Int64? = nil
    public var memoryReservation: Int64? = nil
    public var memorySwap: Int64? = nil
    public var kernelMemory: Int64? = nil
    public var kernelMemoryTCP: Int64? = nil
    public var cpuShares: UInt64? = nil
    public var cpuQuota: Int64? = nil
    public var cpuPeriod: UInt64? = nil
    public var cpuBurst: UInt64? = nil
    public var cpuRtPeriod: UInt64? = nil
    public var cpuRtRuntime: Int64? = nil
    public var cpuIdle: Int64? = nil
    public var cpusetCpus: String? = nil
    public var cpusetMems: String? = nil
    public var pidsLimit: Int64? = nil
    public var blkioWeight: UInt16? = nil
    public var l3CacheSchema: String? = nil
    public var memBwSchema: String? = nil

    public init(id: String) { self.id = id }
}

public struct SpecOptions: Equatable, Sendable {
    public var bundle = "."
    public var rootless = false

    public init() {}
}

/// A Go-style duration split for timespec use.
public struct Interval: Equatable, Sendable {
    public var seconds: Int64
    public var nanoseconds: Int64

    public init(seconds: Int64, nanoseconds: Int64 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }
}

public struct EventsOptions: Equatable, Sendable {
    public var id: String
    public var interval = Interval(seconds: 5)
    /// Print the statistics once and exit.
    public var stats = false

    public init(id: String) { self.id = id }
}

public struct CheckOptions: Equatable, Sendable {
    public var format: ReportFormat = .text

    public init() {}
}

/// `pool fill|start|drain NAME`: a warm pool of created containers.
public struct PoolOptions: Equatable, Sendable {
    public enum Action: Equatable, Sendable { case fill, refill, start, drain }
    public var action: Action
    public var name: String
    public var bundle = "."
    public var size = 1
    /// For `start`: the fast-start replacement (its id is the member picked).
    public var start: StartOptions

    public init(action: Action, name: String) {
        self.action = action
        self.name = name
        self.start = StartOptions(id: name)
    }
}

/// Reserved for the long-running agent mode.
public struct AgentOptions: Equatable, Sendable {
    public var socket: String? = nil
    /// The socket for rootless runtimes (policy entries with "users").
    public var userSocket: String? = nil
    public var policy: String? = nil
    public var log: String? = nil
    /// Bytes at which the log file is rotated; nil: the agent's default, 0: never.
    public var logMaxSize: Int64? = nil

    public init() {}
}
