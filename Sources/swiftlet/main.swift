// The executable only parses argv, calls the lifecycle, and prints.
import Base
import CLI
import Agent
import CLinux
import Check
import JSON
import Lifecycle
import OCISpec
import Syscalls

func arguments() -> [String] {
    var args: [String] = []
    let argv = cl_argv()
    for i in 1..<Int(cl_argc()) {
        if let a = argv?[i] { args.append(String(cString: a)) }
    }
    return args
}

/// Runs one command and returns the process exit status.
func main() -> Int32 {
    // The init of a UML guest (see Lifecycle/UMLGuest.swift): the kernel appends its own
    // arguments, so only the first one counts.
    if getpid() == 1, arguments().first == "guest-init" { umlGuestInit() }
    let command: Command
    do throws(SwiftletError) {
        command = try CommandLineParser.parse(arguments())
    } catch {
        writeStderr("swiftlet: " + error.message + "\n")
        writeStderr("Run 'swiftlet --help' for usage.\n")
        return 2
    }
    let g = command.global
    let logger = Logger(path: g.log, format: g.logFormat == .json ? .json : .text, debug: g.debug)
    logger.createFile()
    let fallback = defaultStateRoot()
    let runtime = Runtime(root: g.root ?? fallback.root, logger: logger, systemdCgroup: g.systemdCgroup)
    if g.root == nil, let note = fallback.note, usesState(command.verb) { logger.warning(note) }
    do throws(SwiftletError) {
        return try execute(command.verb, runtime: runtime)
    } catch {
        logger.error(error.description)
        return 1
    }
}

/// Verbs that read or write the state root (the others need not hear where it is).
func usesState(_ verb: Verb) -> Bool {
    switch verb {
    case .spec, .features, .version, .help, .check: return false
    default: return true
    }
}

func execute(_ verb: Verb, runtime: Runtime) throws(SwiftletError) -> Int32 {
    switch verb {
    case .create(let o):
        let created = try runtime.create(createRequest(id: o.id, bundle: o.bundle, pidFile: o.pidFile,
                                                       consoleSocket: o.consoleSocket, noPivot: o.noPivot,
                                                       noNewKeyring: o.noNewKeyring, preserveFDs: o.preserveFDs))
        created.signals.restore()
        created.pidfd.close()
        return 0
    case .start(let o):
        try runtime.start(startRequest(o))
        return 0
    case .run(let o):
        var r = createRequest(id: o.id, bundle: o.bundle, pidFile: o.pidFile, consoleSocket: o.consoleSocket,
                              noPivot: o.noPivot, noNewKeyring: o.noNewKeyring, preserveFDs: o.preserveFDs)
        r.foreground = !o.detach
        return try runtime.run(r, detach: o.detach, keep: o.keep)
    case .state(let id):
        writeStdout(try runtime.state(id).json.pretty())
        return 0
    case .kill(let o):
        try runtime.kill(o.id, signal: o.signal, all: o.all)
        return 0
    case .delete(let o):
        try runtime.delete(o.id, force: o.force)
        return 0
    case .list(let o):
        let states = runtime.list()
        if o.quiet {
            for s in states { writeStdout(s.id + "\n") }
        } else if o.format == .json {
            writeStdout(JSON.array(states.map { $0.json }).serialized() + "\n")
        } else {
            writeStdout(listTable(states))
        }
        return 0
    case .spec(let o):
        try writeDefaultSpec(bundle: o.bundle, rootless: o.rootless)
        return 0
    case .features:
        writeStdout(runtimeFeatures().pretty())
        return 0
    case .version:
        writeStdout(versionText())
        return 0
    case .help(let verb):
        writeStdout(helpText(for: verb))
        return 0
    case .pause(let id):
        try runtime.pause(id)
        return 0
    case .resume(let id):
        try runtime.resume(id)
        return 0
    case .ps(let o):
        if o.format == .json {
            let pids = try runtime.processes(o.id)
            writeStdout(JSON.array(pids.map { .int($0) }).serialized() + "\n")
        } else {
            writeStdout(try runtime.processTable(o.id, psArgs: o.psArgs))
        }
        return 0
    case .events(let o):
        try runtime.events(o.id, intervalNanoseconds: o.interval.seconds * 1_000_000_000 + o.interval.nanoseconds,
                           statsOnly: o.stats) { event in writeStdout(event.serialized() + "\n") }
        return 0
    case .update(let o):
        let resources = try o.resources.map { (path) throws(SwiftletError) in try loadResources(path) } ?? resources(from: o)
        try runtime.update(o.id, resources: resources, l3CacheSchema: o.l3CacheSchema, memBwSchema: o.memBwSchema)
        return 0
    case .pool(let o):
        switch o.action {
        case .fill:
            try runtime.fillPool(PoolRequest(name: o.name, bundle: o.bundle, size: o.size))
        case .refill:
            try runtime.refill(o.name)
        case .start:
            let id = try runtime.startFromPool(o.name, replacement: startRequest(o.start))
            writeStdout(id + "\n")
        case .drain:
            try runtime.drainPool(o.name)
        }
        return 0
    case .check(let o):
        let report = KernelCheck.run()
        writeStdout(o.format == .json ? report.json.pretty() : report.text)
        return 0
    case .agent(let o):
        guard let socket = o.socket, let policy = o.policy else {
            throw SwiftletError(.usage, "agent: --socket and --policy are required", errno: EINVAL)
        }
        return try runAgent(socket: socket, policy: policy, log: o.log, logMaxBytes: o.logMaxSize,
                            stateRoot: runtime.store.root, userSocket: o.userSocket)
    case .exec(let o):
        var options = ExecProcessOptions()
        options.cwd = o.cwd
        options.env = o.env
        options.tty = o.tty
        options.uid = o.user?.uid
        options.gid = o.user?.gid
        options.additionalGids = o.additionalGids
        options.capabilities = o.capabilities
        options.noNewPrivileges = o.noNewPrivs
        options.apparmorProfile = o.apparmor
        options.processLabel = o.processLabel
        let process = try runtime.execProcess(id: o.id, from: o.process, args: o.args, options: options)
        var r = ExecRequest(id: o.id, process: process)
        r.detach = o.detach
        r.pidFile = o.pidFile
        r.consoleSocket = o.consoleSocket
        r.pidfdSocket = o.pidfdSocket
        r.preserveFDs = o.preserveFDs
        r.ignorePaused = o.ignorePaused
        r.subCgroups = o.cgroups
        if try runtime.isUMLContainer(o.id) {
            return try runtime.execUML(r, processFile: o.process, args: o.args, options: options)
        }
        return try runtime.exec(r)
    }
}

func listTable(_ states: [ContainerState]) -> String {
    var rows: [[String]] = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    for s in states {
        rows.append([s.id, String(s.pid), s.status.rawValue, s.bundle, s.created ?? "", s.owner ?? ""])
    }
    var widths = [Int](repeating: 0, count: 6)
    for r in rows { for (i, cell) in r.enumerated() { widths[i] = max(widths[i], cell.utf8.count) } }
    var out = ""
    for r in rows {
        var line = ""
        for (i, cell) in r.enumerated() {
            line += cell
            if i < r.count - 1 {
                for _ in 0..<(widths[i] - cell.utf8.count + 3) { line += " " }
            }
        }
        out += line + "\n"
    }
    return out
}

/// What `create` and `run` share of their flags.
func createRequest(id: String, bundle: String, pidFile: String?, consoleSocket: String?, noPivot: Bool,
                   noNewKeyring: Bool, preserveFDs: Int) -> CreateRequest {
    var r = CreateRequest(id: id, bundle: bundle)
    r.pidFile = pidFile
    r.consoleSocket = consoleSocket
    r.noPivot = noPivot
    r.noNewKeyring = noNewKeyring
    r.preserveFDs = preserveFDs
    return r
}

func startRequest(_ o: StartOptions) -> StartRequest {
    var r = StartRequest(id: o.id)
    r.processFile = o.process
    r.args = o.args
    r.env = o.env
    r.cwd = o.cwd
    r.cpus = o.cpus
    return r
}

/// The resources `update`'s flags name; flags not given stay as they are.
func resources(from o: UpdateOptions) -> ResourcesSpec {
    var r = ResourcesSpec()
    if o.memory != nil || o.memoryReservation != nil || o.memorySwap != nil || o.kernelMemory != nil {
        var m = MemorySpec()
        m.limit = o.memory
        m.reservation = o.memoryReservation
        m.swap = o.memorySwap
        m.kernel = o.kernelMemory
        m.kernelTCP = o.kernelMemoryTCP
        r.memory = m
    }
    if o.cpuShares != nil || o.cpuQuota != nil || o.cpuPeriod != nil || o.cpuBurst != nil || o.cpuRtPeriod != nil
        || o.cpuRtRuntime != nil || o.cpuIdle != nil || o.cpusetCpus != nil || o.cpusetMems != nil {
        var c = CPUSpec()
        c.shares = o.cpuShares
        c.quota = o.cpuQuota
        c.period = o.cpuPeriod
        c.burst = o.cpuBurst
        c.realtimePeriod = o.cpuRtPeriod
        c.realtimeRuntime = o.cpuRtRuntime
        c.idle = o.cpuIdle
        c.cpus = o.cpusetCpus
        c.mems = o.cpusetMems
        r.cpu = c
    }
    if let limit = o.pidsLimit { r.pids = PidsSpec(limit: limit) }
    if let weight = o.blkioWeight {
        var b = BlockIOSpec()
        b.weight = weight
        r.blockIO = b
    }
    return r
}

exit(main())
