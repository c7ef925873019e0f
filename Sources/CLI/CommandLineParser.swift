import Base

/// Parses a runc-compatible command line (without argv[0]) into a `Command`.
/// Errors are one line in the `usage` stage, worded like runc where runc has words.
public enum CommandLineParser {
    public static func parse(_ args: [String]) throws(SwiftletError) -> Command {
        let top = try scanArguments(args[...], flags: Flags.global, flagsEndAtFirstArgument: true)
        var global = GlobalOptions()
        var wantsVersion = false
        for (key, spec, value) in top.flags {
            switch key {
            case .root: global.root = nonEmpty(value)
            case .log: global.log = nonEmpty(value)
            case .logFormat:
                if value.isEmpty || value.bytesEqual("text") {
                    global.logFormat = .text
                } else if value.bytesEqual("json") {
                    global.logFormat = .json
                } else {
                    throw SwiftletError(.usage, "invalid log-format: " + value)
                }
            case .debug: global.debug = value.bytesEqual("true")
            case .systemdCgroup: global.systemdCgroup = value.bytesEqual("true")
            case .rootless:
                if value.bytesEqual("auto") {
                    global.rootless = .auto
                } else if let b = parseBool(value) {
                    global.rootless = b ? .enabled : .disabled
                } else {
                    throw invalidValue(value, spec, "expected true, false or auto")
                }
            case .criu: global.criu = nonEmpty(value)
            case .version: wantsVersion = value.bytesEqual("true")
            default: break
            }
        }
        if top.helpRequested { return Command(global: global, verb: .help(verb: nil)) }
        if wantsVersion { return Command(global: global, verb: .version) }
        guard let verbName = top.positionals.first else {
            return Command(global: global, verb: .help(verb: nil))
        }
        guard let spec = Verbs.find(verbName) else {
            throw SwiftletError(.usage, "unknown command: " + verbName)
        }
        if spec.kind == .unsupported {
            throw SwiftletError(.usage, "\"" + spec.name + "\" is not supported by swiftlet")
        }
        let scan = try scanArguments(top.positionals.dropFirst(), flags: spec.flags,
                                     flagsEndAtFirstArgument: spec.flagsEndAtFirstArgument)
        if scan.helpRequested { return Command(global: global, verb: .help(verb: spec.name)) }
        try checkCount(scan.positionals, spec)
        return Command(global: global, verb: try buildVerb(spec, scan))
    }

    private static func checkCount(_ positionals: [String], _ spec: VerbSpec) throws(SwiftletError) {
        let n = positionals.count
        let quoted = "\"" + spec.name + "\""
        switch spec.arguments {
        case .exactly(let want):
            if n != want {
                throw SwiftletError(.usage, quoted + " requires exactly " + String(want) + " argument(s)")
            }
        case .atLeast(let want):
            if n < want {
                throw SwiftletError(.usage, quoted + " requires a minimum of " + String(want) + " argument(s)")
            }
        case .between(let low, let high):
            if n < low {
                throw SwiftletError(.usage, quoted + " requires a minimum of " + String(low) + " argument(s)")
            }
            if n > high {
                throw SwiftletError(.usage, quoted + " requires a maximum of " + String(high) + " argument(s)")
            }
        }
    }

    private static func buildVerb(_ spec: VerbSpec, _ scan: Scan) throws(SwiftletError) -> Verb {
        let args = scan.positionals
        let id = args.first ?? ""
        switch spec.kind {
        case .create: return .create(try createOptions(id, scan))
        case .run: return .run(try runOptions(id, scan))
        case .start: return .start(try startOptions(id, scan))
        case .state: return .state(id: id)
        case .pause: return .pause(id: id)
        case .resume: return .resume(id: id)
        case .kill: return .kill(try killOptions(args, scan))
        case .delete:
            var o = DeleteOptions(id: id)
            for f in scan.flags where f.key == .force { o.force = f.value.bytesEqual("true") }
            return .delete(o)
        case .exec: return .exec(try execOptions(args, scan))
        case .list:
            var o = ListOptions()
            for (key, spec, value) in scan.flags {
                if key == .format { o.format = try listFormat(value, spec) }
                if key == .quiet { o.quiet = value.bytesEqual("true") }
            }
            return .list(o)
        case .ps:
            var o = PsOptions(id: id)
            for (key, spec, value) in scan.flags where key == .format { o.format = try listFormat(value, spec) }
            o.psArgs = Array(args.dropFirst())
            // "ps ID -- -ef" reads naturally; "--" itself is not a ps argument.
            if let first = o.psArgs.first, first.bytesEqual("--") { o.psArgs.removeFirst() }
            return .ps(o)
        case .update: return .update(try updateOptions(id, scan))
        case .features: return .features
        case .spec:
            var o = SpecOptions()
            for (key, _, value) in scan.flags {
                if key == .bundle { o.bundle = value.isEmpty ? "." : value }
                if key == .rootlessSpec { o.rootless = value.bytesEqual("true") }
            }
            return .spec(o)
        case .events:
            var o = EventsOptions(id: id)
            for (key, spec, value) in scan.flags {
                if key == .stats { o.stats = value.bytesEqual("true") }
                if key == .interval {
                    guard let d = parseDuration(value) else {
                        throw invalidValue(value, spec, "expected a duration such as 5s, 500ms or 1m")
                    }
                    guard d.seconds > 0 || d.nanoseconds > 0 else {
                        throw SwiftletError(.usage, "duration interval must be greater than 0")
                    }
                    o.interval = Interval(seconds: d.seconds, nanoseconds: d.nanoseconds)
                }
            }
            return .events(o)
        case .check:
            var o = CheckOptions()
            for (key, spec, value) in scan.flags where key == .format {
                if value.bytesEqual("text") {
                    o.format = .text
                } else if value.bytesEqual("json") {
                    o.format = .json
                } else {
                    throw invalidValue(value, spec, "expected text or json")
                }
            }
            return .check(o)
        case .agent:
            var o = AgentOptions()
            for (key, _, value) in scan.flags {
                if key == .socket { o.socket = nonEmpty(value) }
                if key == .userSocket { o.userSocket = nonEmpty(value) }
                if key == .policy { o.policy = nonEmpty(value) }
                if key == .log { o.log = nonEmpty(value) }
                if key == .logMaxSize {
                    guard let n = parseMemorySize(value), n >= 0 else {
                        throw SwiftletError(.usage, "invalid --log-max-size: " + value)
                    }
                    o.logMaxSize = n
                }
            }
            return .agent(o)
        case .pool:
            let action: PoolOptions.Action
            switch args[0] {
            case "fill": action = .fill
            case "refill": action = .refill
            case "start": action = .start
            case "drain": action = .drain
            default: throw SwiftletError(.usage, "pool: unknown action \"" + args[0] + "\" (fill, refill, start or drain)")
            }
            var o = PoolOptions(action: action, name: args[1])
            o.start = try startOptions(args[1], scan)
            for (key, spec, value) in scan.flags {
                if key == .bundle { o.bundle = value.isEmpty ? "." : value }
                if key == .size {
                    guard let n = parseInt(value), n >= 1, n <= 1000 else {
                        throw invalidValue(value, spec, "expected a number from 1 to 1000")
                    }
                    o.size = n
                }
            }
            return .pool(o)
        case .version: return .version
        case .help:
            guard let topic = args.first else { return .help(verb: nil) }
            guard let target = Verbs.find(topic), target.kind != .unsupported else {
                throw SwiftletError(.usage, "no help topic for '" + topic + "'")
            }
            return .help(verb: target.kind == .help ? nil : target.name)
        case .unsupported:
            throw SwiftletError(.usage, "\"" + spec.name + "\" is not supported by swiftlet")
        }
    }

    private static func createOptions(_ id: String, _ scan: Scan) throws(SwiftletError) -> CreateOptions {
        var o = CreateOptions(id: id)
        for (key, spec, value) in scan.flags {
            switch key {
            case .bundle: o.bundle = value.isEmpty ? "." : value
            case .consoleSocket: o.consoleSocket = nonEmpty(value)
            case .pidfdSocket: o.pidfdSocket = nonEmpty(value)
            case .pidFile: o.pidFile = nonEmpty(value)
            case .noPivot: o.noPivot = value.bytesEqual("true")
            case .noNewKeyring: o.noNewKeyring = value.bytesEqual("true")
            case .preserveFDs: o.preserveFDs = try fdCount(value, spec)
            default: break
            }
        }
        return o
    }

    private static func runOptions(_ id: String, _ scan: Scan) throws(SwiftletError) -> RunOptions {
        var o = RunOptions(id: id)
        for (key, spec, value) in scan.flags {
            switch key {
            case .bundle: o.bundle = value.isEmpty ? "." : value
            case .consoleSocket: o.consoleSocket = nonEmpty(value)
            case .pidfdSocket: o.pidfdSocket = nonEmpty(value)
            case .pidFile: o.pidFile = nonEmpty(value)
            case .detach: o.detach = value.bytesEqual("true")
            case .keep: o.keep = value.bytesEqual("true")
            case .noSubreaper: o.noSubreaper = value.bytesEqual("true")
            case .noPivot: o.noPivot = value.bytesEqual("true")
            case .noNewKeyring: o.noNewKeyring = value.bytesEqual("true")
            case .preserveFDs: o.preserveFDs = try fdCount(value, spec)
            default: break
            }
        }
        return o
    }

    private static func startOptions(_ id: String, _ scan: Scan) throws(SwiftletError) -> StartOptions {
        var o = StartOptions(id: id)
        for (key, spec, value) in scan.flags {
            switch key {
            case .process: o.process = nonEmpty(value)
            case .arg: o.args.append(value)
            case .env:
                guard let (name, _) = value.splitOnce(byte: UInt8(ascii: "=")), !name.isEmpty else {
                    throw invalidValue(value, spec, "expected KEY=VALUE")
                }
                o.env.append(value)
            case .cwd: o.cwd = nonEmpty(value)
            case .cpus:
                guard isCPUList(value) else { throw invalidValue(value, spec, "expected a CPU list such as 0-1,3") }
                o.cpus = value
            default: break
            }
        }
        return o
    }

    private static func killOptions(_ args: [String], _ scan: Scan) throws(SwiftletError) -> KillOptions {
        var o = KillOptions(id: args[0])
        for f in scan.flags where f.key == .all { o.all = f.value.bytesEqual("true") }
        if args.count > 1 {
            guard let n = signalNumber(args[1]) else {
                throw SwiftletError(.usage, "unknown signal \"" + args[1] + "\"")
            }
            o.signal = n
        }
        return o
    }

    private static func execOptions(_ args: [String], _ scan: Scan) throws(SwiftletError) -> ExecOptions {
        var o = ExecOptions(id: args[0])
        o.args = Array(args.dropFirst())
        // "exec ID -- cmd" is a common habit; the "--" is not part of the command.
        if let first = o.args.first, first.bytesEqual("--") { o.args.removeFirst() }
        for (key, spec, value) in scan.flags {
            switch key {
            case .consoleSocket: o.consoleSocket = nonEmpty(value)
            case .pidfdSocket: o.pidfdSocket = nonEmpty(value)
            case .cwd: o.cwd = nonEmpty(value)
            case .env: o.env.append(value)
            case .tty: o.tty = value.bytesEqual("true")
            case .user:
                if !value.isEmpty { o.user = try execUser(value, spec) }
            case .additionalGids:
                guard let gid = parseUInt64(value), let g = UInt32(exactly: gid) else {
                    throw invalidValue(value, spec, "expected a non-negative group id")
                }
                o.additionalGids.append(g)
            case .process: o.process = nonEmpty(value)
            case .detach: o.detach = value.bytesEqual("true")
            case .pidFile: o.pidFile = nonEmpty(value)
            case .processLabel: o.processLabel = nonEmpty(value)
            case .apparmor: o.apparmor = nonEmpty(value)
            case .noNewPrivs: o.noNewPrivs = value.bytesEqual("true")
            case .cap: o.capabilities.append(value)
            case .preserveFDs: o.preserveFDs = try fdCount(value, spec)
            case .cgroup: o.cgroups.append(value)
            case .ignorePaused: o.ignorePaused = value.bytesEqual("true")
            case .noSubreaper: o.noSubreaper = value.bytesEqual("true")
            default: break
            }
        }
        if o.args.isEmpty && o.process == nil {
            throw SwiftletError(.usage, "exec args cannot be empty")
        }
        return o
    }

    private static func execUser(_ value: String, _ spec: FlagSpec) throws(SwiftletError) -> ExecUser {
        let (uidText, gidText): (String, String?)
        if let (u, g) = value.splitOnce(byte: UInt8(ascii: ":")) { (uidText, gidText) = (u, g) } else { (uidText, gidText) = (value, nil) }
        guard let uid = parseUInt64(uidText).flatMap({ UInt32(exactly: $0) }) else {
            throw invalidValue(value, spec, "bad uid")
        }
        var user = ExecUser(uid: uid)
        if let gidText {
            guard let gid = parseUInt64(gidText).flatMap({ UInt32(exactly: $0) }) else {
                throw invalidValue(value, spec, "bad gid")
            }
            user.gid = gid
        }
        return user
    }

    private static func updateOptions(_ id: String, _ scan: Scan) throws(SwiftletError) -> UpdateOptions {
        var o = UpdateOptions(id: id)
        for (key, spec, value) in scan.flags {
            switch key {
            case .resources: o.resources = nonEmpty(value)
            case .memory: o.memory = try memory(value, spec)
            case .memoryReservation: o.memoryReservation = try memory(value, spec)
            case .memorySwap: o.memorySwap = try memory(value, spec)
            case .kernelMemory: o.kernelMemory = try memory(value, spec)
            case .kernelMemoryTCP: o.kernelMemoryTCP = try memory(value, spec)
            case .cpuShares: o.cpuShares = try unsigned(value, spec)
            case .cpuQuota: o.cpuQuota = try signed(value, spec)
            case .cpuPeriod: o.cpuPeriod = try unsigned(value, spec)
            case .cpuBurst: o.cpuBurst = try unsigned(value, spec)
            case .cpuRtPeriod: o.cpuRtPeriod = try unsigned(value, spec)
            case .cpuRtRuntime: o.cpuRtRuntime = try signed(value, spec)
            case .cpuIdle: o.cpuIdle = try signed(value, spec)
            case .cpusetCpus: o.cpusetCpus = value
            case .cpusetMems: o.cpusetMems = value
            case .pidsLimit: o.pidsLimit = try signed(value, spec)
            case .blkioWeight:
                guard let w = parseUInt64(value), let weight = UInt16(exactly: w) else {
                    throw invalidValue(value, spec, "expected a weight from 10 to 1000")
                }
                o.blkioWeight = weight
            case .l3CacheSchema: o.l3CacheSchema = value
            case .memBwSchema: o.memBwSchema = value
            default: break
            }
        }
        return o
    }

    // MARK: value conversions

    private static func memory(_ value: String, _ spec: FlagSpec) throws(SwiftletError) -> Int64 {
        guard let v = parseMemorySize(value) else {
            throw invalidValue(value, spec, "expected a size such as 1048576, 512m or 1g, or -1")
        }
        return v
    }

    private static func unsigned(_ value: String, _ spec: FlagSpec) throws(SwiftletError) -> UInt64 {
        guard let v = parseUInt64(value) else { throw invalidValue(value, spec, "expected a non-negative integer") }
        return v
    }

    private static func signed(_ value: String, _ spec: FlagSpec) throws(SwiftletError) -> Int64 {
        guard let v = parseInt64(value) else { throw invalidValue(value, spec, "expected an integer") }
        return v
    }

    private static func fdCount(_ value: String, _ spec: FlagSpec) throws(SwiftletError) -> Int {
        // Far more than any fd table allows, so a typo cannot make us walk billions of fds.
        guard let v = parseUInt64(value), v <= 1 << 20 else {
            throw invalidValue(value, spec, "expected a non-negative integer")
        }
        return Int(v)
    }

    private static func listFormat(_ value: String, _ spec: FlagSpec) throws(SwiftletError) -> ListFormat {
        if value.bytesEqual("table") { return .table }
        if value.bytesEqual("json") { return .json }
        throw invalidValue(value, spec, "expected table or json")
    }

    private static func invalidValue(_ value: String, _ spec: FlagSpec, _ why: String) -> SwiftletError {
        SwiftletError(.usage, "invalid value \"" + value + "\" for flag " + spec.displayName + ": " + why)
    }

    private static func nonEmpty(_ s: String) -> String? { s.isEmpty ? nil : s }

    /// "0-3,5": comma-separated CPU numbers or ascending ranges.
    private static func isCPUList(_ s: String) -> Bool {
        if s.isEmpty { return false }
        for part in s.split(byte: UInt8(ascii: ",")) {
            if let (low, high) = part.splitOnce(byte: UInt8(ascii: "-")) {
                guard let l = parseUInt64(low), let h = parseUInt64(high), l <= h else { return false }
            } else if parseUInt64(part) == nil {
                return false
            }
        }
        return true
    }
}
