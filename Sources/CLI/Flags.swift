import Base

/// Identity of a flag, so parsing switches on an enum rather than on strings
/// (String comparison would pull Unicode tables into the Embedded binary).
enum FlagKey: Equatable {
    // global
    case root, log, logFormat, debug, systemdCgroup, rootless, criu, version
    // create / run / exec
    case bundle, consoleSocket, pidfdSocket, pidFile, noPivot, noNewKeyring, preserveFDs
    case detach, keep, noSubreaper
    case process, arg, env, cwd, cpus, tty, user, additionalGids, processLabel, apparmor
    case noNewPrivs, cap, cgroup, ignorePaused
    // kill / delete / list / ps
    case all, force, format, quiet
    // update
    case resources, memory, memoryReservation, memorySwap, kernelMemory, kernelMemoryTCP
    case cpuShares, cpuQuota, cpuPeriod, cpuBurst, cpuRtPeriod, cpuRtRuntime, cpuIdle
    case cpusetCpus, cpusetMems, pidsLimit, blkioWeight, l3CacheSchema, memBwSchema
    // events / spec / agent
    case interval, stats, rootlessSpec, socket, policy, logMaxSize, userSocket
    // pool
    case size
}

/// One accepted flag: its spellings (without dashes; the first is the canonical long
/// name), the placeholder of its value (nil for a boolean flag) and its help line.
struct FlagSpec {
    let key: FlagKey
    let names: [String]
    let value: String?
    let usage: String
    var hidden = false

    init(_ key: FlagKey, _ names: [String], value: String? = nil, _ usage: String, hidden: Bool = false) {
        self.key = key
        self.names = names
        self.value = value
        self.usage = usage
        self.hidden = hidden
    }

    var isBoolean: Bool { value == nil }
    var displayName: String { "--" + names[0] }

    func matches(_ name: String) -> Bool {
        for n in names where n.bytesEqual(name) { return true }
        return false
    }
}

enum Flags {
    static var global: [FlagSpec] {
        [
            FlagSpec(.debug, ["debug"], "enable debug logging"),
            FlagSpec(.log, ["log"], value: "FILE",
                     "set the log file to write swiftlet logs to (default is '/dev/stderr')"),
            FlagSpec(.logFormat, ["log-format"], value: "FORMAT",
                     "set the log format ('text' (default), or 'json')"),
            FlagSpec(.root, ["root"], value: "DIR",
                     "root directory for storage of container state (this should be located in tmpfs)"),
            FlagSpec(.criu, ["criu"], value: "PATH", "accepted for runc compatibility; ignored", hidden: true),
            FlagSpec(.systemdCgroup, ["systemd-cgroup"],
                     "enable systemd cgroup support, expects cgroupsPath to be of form \"slice:prefix:name\""),
            FlagSpec(.rootless, ["rootless"], value: "VALUE",
                     "ignore cgroup permission errors ('true', 'false', or 'auto')"),
            FlagSpec(.version, ["version", "v"], "print the version"),
        ]
    }

    static let bundleUsage = "path to the root of the bundle directory, defaults to the current directory"
    static let consoleSocketUsage =
        "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"
    static let preserveFDsUsage =
        "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)"

    static var create: [FlagSpec] {
        [
            FlagSpec(.bundle, ["bundle", "b"], value: "DIR", bundleUsage),
            FlagSpec(.consoleSocket, ["console-socket"], value: "PATH", consoleSocketUsage),
            FlagSpec(.pidfdSocket, ["pidfd-socket"], value: "PATH",
                     "path to an AF_UNIX socket which will receive a file descriptor referencing the init process"),
            FlagSpec(.pidFile, ["pid-file"], value: "FILE", "specify the file to write the process id to"),
            FlagSpec(.noPivot, ["no-pivot"],
                     "do not use pivot root to jail process inside rootfs (for a rootfs on a ramdisk)"),
            FlagSpec(.noNewKeyring, ["no-new-keyring"],
                     "do not create a new session keyring for the container (inherit the caller's)"),
            FlagSpec(.preserveFDs, ["preserve-fds"], value: "N", preserveFDsUsage),
        ]
    }

    static var run: [FlagSpec] {
        [
            FlagSpec(.bundle, ["bundle", "b"], value: "DIR", bundleUsage),
            FlagSpec(.consoleSocket, ["console-socket"], value: "PATH", consoleSocketUsage),
            FlagSpec(.pidfdSocket, ["pidfd-socket"], value: "PATH",
                     "path to an AF_UNIX socket which will receive a file descriptor referencing the init process"),
            FlagSpec(.detach, ["detach", "d"], "detach from the container's process"),
            FlagSpec(.keep, ["keep"], "do not delete the container after it exits"),
            FlagSpec(.pidFile, ["pid-file"], value: "FILE", "specify the file to write the process id to"),
            FlagSpec(.noSubreaper, ["no-subreaper"],
                     "disable the use of the subreaper used to reap reparented processes"),
            FlagSpec(.noPivot, ["no-pivot"],
                     "do not use pivot root to jail process inside rootfs (for a rootfs on a ramdisk)"),
            FlagSpec(.noNewKeyring, ["no-new-keyring"],
                     "do not create a new session keyring for the container (inherit the caller's)"),
            FlagSpec(.preserveFDs, ["preserve-fds"], value: "N", preserveFDsUsage),
        ]
    }

    static var start: [FlagSpec] {
        [
            FlagSpec(.process, ["process", "p"], value: "FILE",
                     "swiftlet: path to a process.json replacing the process of config.json"),
            FlagSpec(.arg, ["arg"], value: "ARG",
                     "swiftlet: replace the process args; repeat once per argument"),
            FlagSpec(.env, ["env", "e"], value: "KEY=VALUE",
                     "swiftlet: set an environment variable of the process; repeatable"),
            FlagSpec(.cwd, ["cwd"], value: "DIR", "swiftlet: working directory of the process in the container"),
            FlagSpec(.cpus, ["cpus"], value: "LIST", "swiftlet: pin the process to these CPUs, e.g. \"0-1,3\""),
        ]
    }

    static var kill: [FlagSpec] {
        [FlagSpec(.all, ["all", "a"], "(obsoleted, do not use)", hidden: true)]
    }

    static var delete: [FlagSpec] {
        [FlagSpec(.force, ["force", "f"], "forcibly delete the container if it is still running (uses SIGKILL)")]
    }

    static var exec: [FlagSpec] {
        [
            FlagSpec(.consoleSocket, ["console-socket"], value: "PATH", consoleSocketUsage),
            FlagSpec(.pidfdSocket, ["pidfd-socket"], value: "PATH",
                     "path to an AF_UNIX socket which will receive a file descriptor referencing the exec process"),
            FlagSpec(.cwd, ["cwd"], value: "DIR", "current working directory in the container"),
            FlagSpec(.env, ["env", "e"], value: "KEY=VALUE", "set an environment variable; repeatable"),
            FlagSpec(.tty, ["tty", "t"], "allocate a pseudo-TTY"),
            FlagSpec(.user, ["user", "u"], value: "UID[:GID]", "run as this numeric user (and group)"),
            FlagSpec(.additionalGids, ["additional-gids", "g"], value: "GID", "add a supplementary group; repeatable"),
            FlagSpec(.process, ["process", "p"], value: "FILE", "path to the process.json"),
            FlagSpec(.detach, ["detach", "d"], "detach from the container's process"),
            FlagSpec(.pidFile, ["pid-file"], value: "FILE", "specify the file to write the process id to"),
            FlagSpec(.processLabel, ["process-label"], value: "LABEL",
                     "set the asm process label for the process commonly used with selinux"),
            FlagSpec(.apparmor, ["apparmor"], value: "PROFILE", "set the apparmor profile for the process"),
            FlagSpec(.noNewPrivs, ["no-new-privs"], "set the no new privileges value for the process"),
            FlagSpec(.cap, ["cap", "c"], value: "CAP",
                     "add a capability to the bounding set for the process; repeatable"),
            FlagSpec(.preserveFDs, ["preserve-fds"], value: "N", preserveFDsUsage),
            FlagSpec(.cgroup, ["cgroup"], value: "[CONTROLLER:]PATH",
                     "run the process in an existing sub-cgroup; repeatable"),
            FlagSpec(.ignorePaused, ["ignore-paused"], "allow exec in a paused container"),
            FlagSpec(.noSubreaper, ["no-subreaper"], "disable the use of the subreaper", hidden: true),
        ]
    }

    static var list: [FlagSpec] {
        [
            FlagSpec(.format, ["format", "f"], value: "FORMAT", "select one of: table (default) or json"),
            FlagSpec(.quiet, ["quiet", "q"], "display only container IDs"),
        ]
    }

    static var ps: [FlagSpec] {
        [FlagSpec(.format, ["format", "f"], value: "FORMAT", "select one of: table (default) or json")]
    }

    static var update: [FlagSpec] {
        [
            FlagSpec(.resources, ["resources", "r"], value: "FILE",
                     "path to a JSON file of runtime-spec linux.resources to apply, or '-' to read it from standard input; all other options are then ignored"),
            FlagSpec(.blkioWeight, ["blkio-weight"], value: "N",
                     "specifies per cgroup weight, range is from 10 to 1000"),
            FlagSpec(.cpuPeriod, ["cpu-period"], value: "USECS",
                     "CPU CFS period to be used for hardcapping (in usecs); 0 to use system default"),
            FlagSpec(.cpuQuota, ["cpu-quota"], value: "USECS",
                     "CPU CFS hardcap limit (in usecs); allowed cpu time in a given period"),
            FlagSpec(.cpuBurst, ["cpu-burst"], value: "USECS",
                     "CPU CFS hardcap burst limit (in usecs)"),
            FlagSpec(.cpuShares, ["cpu-share", "cpu-shares"], value: "N",
                     "CPU shares (relative weight vs. other containers)"),
            FlagSpec(.cpuRtPeriod, ["cpu-rt-period"], value: "USECS",
                     "CPU realtime period to be used for hardcapping (in usecs); 0 to use system default"),
            FlagSpec(.cpuRtRuntime, ["cpu-rt-runtime"], value: "USECS",
                     "CPU realtime hardcap limit (in usecs); allowed cpu time in a given period"),
            FlagSpec(.cpusetCpus, ["cpuset-cpus"], value: "LIST", "CPU(s) to use"),
            FlagSpec(.cpusetMems, ["cpuset-mems"], value: "LIST", "memory node(s) to use"),
            FlagSpec(.cpuIdle, ["cpu-idle"], value: "0|1",
                     "set cgroup SCHED_IDLE or not, 0: default behavior, 1: SCHED_IDLE"),
            FlagSpec(.kernelMemory, ["kernel-memory"], value: "BYTES", "(obsoleted; do not use)", hidden: true),
            FlagSpec(.kernelMemoryTCP, ["kernel-memory-tcp"], value: "BYTES", "(obsoleted; do not use)", hidden: true),
            FlagSpec(.memory, ["memory"], value: "BYTES",
                     "memory limit (in bytes; suffixes k, m, g, t, p accepted; -1 for unlimited)"),
            FlagSpec(.memoryReservation, ["memory-reservation"], value: "BYTES",
                     "memory reservation or soft_limit (in bytes)"),
            FlagSpec(.memorySwap, ["memory-swap"], value: "BYTES",
                     "total memory usage (memory + swap); set '-1' to enable unlimited swap"),
            FlagSpec(.pidsLimit, ["pids-limit"], value: "N", "maximum number of pids allowed in the container"),
            FlagSpec(.l3CacheSchema, ["l3-cache-schema"], value: "SCHEMA",
                     "the string of Intel RDT/CAT L3 cache schema"),
            FlagSpec(.memBwSchema, ["mem-bw-schema"], value: "SCHEMA",
                     "the string of Intel RDT/MBA memory bandwidth schema"),
        ]
    }

    static var spec: [FlagSpec] {
        [
            FlagSpec(.bundle, ["bundle", "b"], value: "DIR", "path to the root of the bundle directory"),
            FlagSpec(.rootlessSpec, ["rootless"], "generate a configuration for a rootless container"),
        ]
    }

    static var events: [FlagSpec] {
        [
            FlagSpec(.interval, ["interval"], value: "DURATION",
                     "set the stats collection interval, e.g. 5s, 500ms, 1m (default: 5s)"),
            FlagSpec(.stats, ["stats"], "display the container's stats then exit"),
        ]
    }

    static var check: [FlagSpec] {
        [FlagSpec(.format, ["format", "f"], value: "FORMAT", "select one of: text (default) or json")]
    }

    static var agent: [FlagSpec] {
        [
            FlagSpec(.socket, ["socket"], value: "PATH", "path of the AF_UNIX socket to serve requests on"),
            FlagSpec(.policy, ["policy"], value: "FILE", "path to the policy file restricting what clients may run"),
            FlagSpec(.userSocket, ["user-socket"], value: "PATH",
                     "also serve rootless runtimes on this socket (mode 0666; the connecting user chooses the policy entries)"),
            FlagSpec(.log, ["log"], value: "FILE", "set the log file of the agent"),
            FlagSpec(.logMaxSize, ["log-max-size"], value: "SIZE",
                     "rename the log file to FILE.1 and start anew before it exceeds SIZE (default 16m; 0: never)"),
        ]
    }

    static var pool: [FlagSpec] {
        [
            FlagSpec(.bundle, ["bundle", "b"], value: "DIR", "pool fill: the bundle every member is created from"),
            FlagSpec(.size, ["size", "n"], value: "N", "pool fill: how many members to keep created"),
        ] + start
    }

    static var none: [FlagSpec] { [] }
}
