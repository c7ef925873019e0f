import Base
import Testing
@testable import CLI

/// Parses, or records the failure as a test issue and returns nil.
func parsed(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) -> Command? {
    do throws(SwiftletError) {
        return try CommandLineParser.parse(args)
    } catch {
        Issue.record("parse failed: \(error.description)", sourceLocation: sourceLocation)
        return nil
    }
}

/// The error message of a command line that must fail, or nil if it parsed.
func failure(_ args: [String]) -> String? {
    do throws(SwiftletError) {
        _ = try CommandLineParser.parse(args)
        return nil
    } catch {
        #expect(error.stage == .usage)
        return error.message
    }
}

func verb(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) -> Verb? {
    parsed(args, sourceLocation: sourceLocation)?.verb
}

@Suite struct ClientCommandLines {
    @Test func podmanCreate() {
        let cmd = parsed(["--log-format=json", "--log", "/run/x/log", "create", "--bundle", "/b",
                          "--pid-file", "/b/pid", "ctr1"])
        var g = GlobalOptions()
        g.logFormat = .json
        g.log = "/run/x/log"
        var o = CreateOptions(id: "ctr1")
        o.bundle = "/b"
        o.pidFile = "/b/pid"
        #expect(cmd == Command(global: g, verb: .create(o)))
    }

    @Test func containerdCreate() {
        let cmd = parsed(["--root", "/run/containerd/runc/k8s.io", "--log", "/b/log.json",
                          "--log-format", "json", "create", "--bundle", "/b", "--pid-file", "/b/init.pid",
                          "--console-socket", "/tmp/pty.sock", "abc"])
        var g = GlobalOptions()
        g.root = "/run/containerd/runc/k8s.io"
        g.log = "/b/log.json"
        g.logFormat = .json
        var o = CreateOptions(id: "abc")
        o.bundle = "/b"
        o.pidFile = "/b/init.pid"
        o.consoleSocket = "/tmp/pty.sock"
        #expect(cmd == Command(global: g, verb: .create(o)))
    }

    @Test func singleDashSpellingsAreTheSame() {
        let double = parsed(["--root", "/r", "--debug", "create", "--bundle=/b", "--no-pivot", "id"])
        let single = parsed(["-root", "/r", "-debug", "create", "-bundle=/b", "-no-pivot", "id"])
        let short = parsed(["-root=/r", "--debug=true", "create", "-b", "/b", "--no-pivot=1", "id"])
        #expect(double != nil)
        #expect(double == single)
        #expect(double == short)
        #expect(double?.global.debug == true)
    }

    @Test func containerdExecWithProcessFile() {
        let v = verb(["--root", "/r", "exec", "--process", "/tmp/p.json", "--detach", "--pid-file", "/tmp/p.pid", "c1"])
        var o = ExecOptions(id: "c1")
        o.process = "/tmp/p.json"
        o.detach = true
        o.pidFile = "/tmp/p.pid"
        #expect(v == .exec(o))
    }
}

@Suite struct GlobalFlags {
    @Test func defaults() {
        let cmd = parsed(["state", "x"])
        #expect(cmd?.global == GlobalOptions())
        #expect(cmd?.global.root == nil)
        #expect(cmd?.global.logFormat == .text)
        #expect(cmd?.global.rootless == .auto)
    }

    @Test func allGlobalFlags() {
        let cmd = parsed(["--debug", "--systemd-cgroup", "--rootless", "true", "--criu", "/usr/sbin/criu",
                          "--log-format", "text", "--root", "/run/s", "list"])
        #expect(cmd?.global.debug == true)
        #expect(cmd?.global.systemdCgroup == true)
        #expect(cmd?.global.rootless == .enabled)
        #expect(cmd?.global.criu == "/usr/sbin/criu")
        #expect(cmd?.global.root == "/run/s")
        #expect(cmd?.verb == .list(ListOptions()))
    }

    @Test(arguments: [
        ("auto", RootlessMode.auto), ("true", .enabled), ("1", .enabled), ("false", .disabled), ("0", .disabled),
    ])
    func rootlessValues(value: String, mode: RootlessMode) {
        #expect(parsed(["--rootless=" + value, "list"])?.global.rootless == mode)
    }

    @Test func boolFlagsCanBeTurnedOff() {
        #expect(parsed(["--debug=false", "list"])?.global.debug == false)
        #expect(parsed(["--debug", "--debug=false", "list"])?.global.debug == false)
    }

    @Test func globalFlagsAfterTheVerbAreVerbFlags() {
        #expect(failure(["list", "--root", "/x"]) == "unknown flag: --root")
    }

    @Test func emptyValueMeansDefault() {
        #expect(parsed(["--root", "", "--log=", "--log-format=", "list"])?.global == GlobalOptions())
    }
}

@Suite struct Verbs_ {
    @Test func createAllFlags() {
        let v = verb(["create", "-b", "/bundle", "--console-socket", "/s", "--pidfd-socket", "/pfd",
                      "--pid-file", "/p", "--no-pivot", "--no-new-keyring", "--preserve-fds", "3", "id1"])
        var o = CreateOptions(id: "id1")
        o.bundle = "/bundle"
        o.consoleSocket = "/s"
        o.pidfdSocket = "/pfd"
        o.pidFile = "/p"
        o.noPivot = true
        o.noNewKeyring = true
        o.preserveFDs = 3
        #expect(v == .create(o))
    }

    @Test func createDefaultsAndFlagsAfterID() {
        #expect(verb(["create", "x"]) == .create(CreateOptions(id: "x")))
        var o = CreateOptions(id: "x")
        o.bundle = "/b"
        #expect(verb(["create", "x", "--bundle", "/b"]) == .create(o))
        #expect(verb(["create", "--bundle", "", "x"]) == .create(CreateOptions(id: "x")))
    }

    @Test func doubleDashEndsFlags() {
        #expect(verb(["create", "--", "-odd-id"]) == .create(CreateOptions(id: "-odd-id")))
        #expect(verb(["--", "state", "x"]) == .state(id: "x"))
    }

    @Test func start() {
        #expect(verb(["start", "c"]) == .start(StartOptions(id: "c")))
        let v = verb(["start", "--arg", "/bin/echo", "--arg", "hello world", "--env", "A=1", "-e", "B=",
                      "--cwd", "/tmp", "--cpus", "0-1,3", "--process", "/p.json", "c"])
        var o = StartOptions(id: "c")
        o.args = ["/bin/echo", "hello world"]
        o.env = ["A=1", "B="]
        o.cwd = "/tmp"
        o.cpus = "0-1,3"
        o.process = "/p.json"
        #expect(v == .start(o))
        #expect(o.changesProcess)
        #expect(!StartOptions(id: "c").changesProcess)
    }

    @Test func startRejectsBadValues() {
        #expect(failure(["start", "--env", "NOEQUALS", "c"]) == "invalid value \"NOEQUALS\" for flag --env: expected KEY=VALUE")
        #expect(failure(["start", "--env", "=x", "c"]) != nil)
        #expect(failure(["start", "--cpus", "3-1", "c"]) != nil)
        #expect(failure(["start", "--cpus", "a", "c"]) != nil)
        #expect(failure(["start", "--cpus", "", "c"]) != nil)
    }

    @Test func idOnlyVerbs() {
        #expect(verb(["state", "a"]) == .state(id: "a"))
        #expect(verb(["pause", "a"]) == .pause(id: "a"))
        #expect(verb(["resume", "a"]) == .resume(id: "a"))
        #expect(verb(["features"]) == .features)
    }

    @Test func kill() {
        #expect(verb(["kill", "c"]) == .kill(KillOptions(id: "c")))
        var all9 = KillOptions(id: "c")
        all9.all = true
        all9.signal = 9
        #expect(verb(["kill", "--all", "c", "9"]) == .kill(all9))
        #expect(verb(["kill", "-a", "c", "KILL"]) == .kill(all9))
        #expect(verb(["kill", "c", "SIGKILL", "--all"]) == .kill(all9))
        var usr1 = KillOptions(id: "c")
        usr1.signal = 10
        #expect(verb(["kill", "c", "usr1"]) == .kill(usr1))
        var rt = KillOptions(id: "c")
        rt.signal = 36
        #expect(verb(["kill", "c", "SIGRTMIN+2"]) == .kill(rt))
    }

    @Test func killErrors() {
        #expect(failure(["kill", "c", "BOGUS"]) == "unknown signal \"BOGUS\"")
        #expect(failure(["kill", "c", "-9"]) == "unknown signal \"-9\"")
        #expect(failure(["kill", "c", "99"]) == "unknown signal \"99\"")
        #expect(failure(["kill"]) == "\"kill\" requires a minimum of 1 argument(s)")
        #expect(failure(["kill", "c", "9", "x"]) == "\"kill\" requires a maximum of 2 argument(s)")
    }

    @Test func delete() {
        var forced = DeleteOptions(id: "c")
        forced.force = true
        #expect(verb(["delete", "--force", "c"]) == .delete(forced))
        #expect(verb(["delete", "-f", "c"]) == .delete(forced))
        #expect(verb(["delete", "c", "--force"]) == .delete(forced))
        #expect(verb(["delete", "--force=false", "c"]) == .delete(DeleteOptions(id: "c")))
        #expect(verb(["delete", "c"]) == .delete(DeleteOptions(id: "c")))
    }

    @Test func run() {
        let v = verb(["run", "-b", "/b", "--console-socket", "/s", "--pidfd-socket", "/f", "-d", "--pid-file", "/p",
                      "--no-pivot", "--no-new-keyring", "--preserve-fds=2", "--keep", "--no-subreaper", "r1"])
        var o = RunOptions(id: "r1")
        o.bundle = "/b"
        o.consoleSocket = "/s"
        o.pidfdSocket = "/f"
        o.detach = true
        o.pidFile = "/p"
        o.noPivot = true
        o.noNewKeyring = true
        o.preserveFDs = 2
        o.keep = true
        o.noSubreaper = true
        #expect(v == .run(o))
        #expect(verb(["run", "--detach", "r1"]) == .run({ var r = RunOptions(id: "r1"); r.detach = true; return r }()))
    }

    @Test func execAllFlags() {
        let v = verb(["exec", "--console-socket", "/s", "--pidfd-socket", "/f", "--cwd", "/w", "--env", "A=1",
                      "-e", "B=2", "-t", "-u", "1000:100", "-g", "10", "--additional-gids=20", "-d",
                      "--pid-file", "/p", "--process-label", "lbl", "--apparmor", "prof", "--no-new-privs",
                      "--cap", "CAP_SYS_ADMIN", "-c", "CAP_NET_RAW", "--preserve-fds", "1",
                      "--cgroup", "cpu,cpuacct:sub", "--cgroup", "other", "--ignore-paused",
                      "ctr", "sh", "-c", "echo hi", "--help"])
        var o = ExecOptions(id: "ctr")
        o.args = ["sh", "-c", "echo hi", "--help"]
        o.consoleSocket = "/s"
        o.pidfdSocket = "/f"
        o.cwd = "/w"
        o.env = ["A=1", "B=2"]
        o.tty = true
        o.user = ExecUser(uid: 1000, gid: 100)
        o.additionalGids = [10, 20]
        o.detach = true
        o.pidFile = "/p"
        o.processLabel = "lbl"
        o.apparmor = "prof"
        o.noNewPrivs = true
        o.capabilities = ["CAP_SYS_ADMIN", "CAP_NET_RAW"]
        o.preserveFDs = 1
        o.cgroups = ["cpu,cpuacct:sub", "other"]
        o.ignorePaused = true
        #expect(v == .exec(o))
    }

    @Test func execCommandDetails() {
        var o = ExecOptions(id: "c")
        o.args = ["ls", "-l"]
        #expect(verb(["exec", "c", "ls", "-l"]) == .exec(o))
        #expect(verb(["exec", "c", "--", "ls", "-l"]) == .exec(o))
        #expect(verb(["exec", "--", "c", "ls", "-l"]) == .exec(o))
        o.args = ["id"]
        o.user = ExecUser(uid: 5)
        #expect(verb(["exec", "--user=5", "c", "id"]) == .exec(o))
        o.user = nil
        o.noNewPrivs = false
        #expect(verb(["exec", "--no-new-privs=false", "c", "id"]) == .exec(o))
        if case .exec(let plain)? = verb(["exec", "c", "id"]) {
            #expect(plain.noNewPrivs == nil)
        } else {
            Issue.record("not exec")
        }
    }

    @Test func execErrors() {
        #expect(failure(["exec"]) == "\"exec\" requires a minimum of 1 argument(s)")
        #expect(failure(["exec", "c"]) == "exec args cannot be empty")
        #expect(failure(["exec", "-u", "root", "c", "id"]) == "invalid value \"root\" for flag --user: bad uid")
        #expect(failure(["exec", "-u", "1:x", "c", "id"]) == "invalid value \"1:x\" for flag --user: bad gid")
        #expect(failure(["exec", "-u", "4294967296", "c", "id"]) != nil)
        #expect(failure(["exec", "-g", "-1", "c", "id"]) != nil)
        #expect(failure(["exec", "--bogus", "c", "id"]) == "unknown flag: --bogus")
    }

    @Test func list() {
        #expect(verb(["list"]) == .list(ListOptions()))
        var o = ListOptions()
        o.format = .json
        o.quiet = true
        #expect(verb(["list", "-f", "json", "-q"]) == .list(o))
        #expect(verb(["list", "--format=json", "--quiet"]) == .list(o))
        #expect(failure(["list", "--format", "yaml"]) == "invalid value \"yaml\" for flag --format: expected table or json")
        #expect(failure(["list", "extra"]) == "\"list\" requires exactly 0 argument(s)")
    }

    @Test func ps() {
        #expect(verb(["ps", "c"]) == .ps(PsOptions(id: "c")))
        var o = PsOptions(id: "c")
        o.format = .json
        o.psArgs = ["-ef", "--forest"]
        #expect(verb(["ps", "--format", "json", "c", "-ef", "--forest"]) == .ps(o))
        #expect(verb(["ps", "-f", "json", "c", "--", "-ef", "--forest"]) == .ps(o))
        // After the id, even ps's own flags that look like ours belong to ps(1).
        var p = PsOptions(id: "c")
        p.psArgs = ["-f"]
        #expect(verb(["ps", "c", "-f"]) == .ps(p))
    }

    @Test func update() {
        var fromStdin = UpdateOptions(id: "c")
        fromStdin.resources = "-"
        #expect(verb(["update", "--resources", "-", "c"]) == .update(fromStdin))
        #expect(verb(["update", "-r", "-", "c"]) == .update(fromStdin))
        #expect(verb(["update", "-r=-", "c"]) == .update(fromStdin))

        let v = verb(["update", "--memory", "512m", "--memory-swap", "-1", "--memory-reservation=1g",
                      "--kernel-memory", "0", "--kernel-memory-tcp", "1k",
                      "--cpu-shares", "512", "--cpu-quota", "-1", "--cpu-period", "100000", "--cpu-burst", "5",
                      "--cpu-rt-period", "1000000", "--cpu-rt-runtime", "950000", "--cpu-idle", "1",
                      "--cpuset-cpus", "0-1", "--cpuset-mems", "0", "--pids-limit", "100",
                      "--blkio-weight", "500", "--l3-cache-schema", "L3:0=ff", "--mem-bw-schema", "MB:0=70", "c"])
        var o = UpdateOptions(id: "c")
        o.memory = 512 << 20
        o.memorySwap = -1
        o.memoryReservation = 1 << 30
        o.kernelMemory = 0
        o.kernelMemoryTCP = 1024
        o.cpuShares = 512
        o.cpuQuota = -1
        o.cpuPeriod = 100_000
        o.cpuBurst = 5
        o.cpuRtPeriod = 1_000_000
        o.cpuRtRuntime = 950_000
        o.cpuIdle = 1
        o.cpusetCpus = "0-1"
        o.cpusetMems = "0"
        o.pidsLimit = 100
        o.blkioWeight = 500
        o.l3CacheSchema = "L3:0=ff"
        o.memBwSchema = "MB:0=70"
        #expect(v == .update(o))

        var share = UpdateOptions(id: "c")
        share.cpuShares = 2
        #expect(verb(["update", "--cpu-share", "2", "c"]) == .update(share))
    }

    @Test func updateErrors() {
        #expect(failure(["update", "--memory", "lots", "c"])
                == "invalid value \"lots\" for flag --memory: expected a size such as 1048576, 512m or 1g, or -1")
        #expect(failure(["update", "--cpu-period", "-5", "c"]) != nil)
        #expect(failure(["update", "--cpu-quota", "1.5", "c"]) != nil)
        #expect(failure(["update", "--blkio-weight", "70000", "c"]) != nil)
        // Like Go's flag package, the word after a valued flag is its value, even the id;
        // the argument count is checked before values, as runc does.
        #expect(failure(["update", "--memory", "c"]) == "\"update\" requires exactly 1 argument(s)")
        #expect(failure(["update", "c", "--memory"]) == "flag needs an argument: --memory")
    }

    @Test func spec() {
        #expect(verb(["spec"]) == .spec(SpecOptions()))
        var o = SpecOptions()
        o.bundle = "/b"
        o.rootless = true
        #expect(verb(["spec", "--rootless", "-b", "/b"]) == .spec(o))
        #expect(failure(["spec", "--rootless", "auto"]) == "\"spec\" requires exactly 0 argument(s)")
    }

    @Test func events() {
        #expect(verb(["events", "c"]) == .events(EventsOptions(id: "c")))
        var o = EventsOptions(id: "c")
        o.interval = Interval(seconds: 1, nanoseconds: 500_000_000)
        o.stats = true
        #expect(verb(["events", "--interval", "1.5s", "--stats", "c"]) == .events(o))
        #expect(failure(["events", "--interval", "0s", "c"]) == "duration interval must be greater than 0")
        #expect(failure(["events", "--interval", "-1s", "c"]) == "duration interval must be greater than 0")
        #expect(failure(["events", "--interval", "5", "c"]) != nil)
    }

    @Test func check() {
        #expect(verb(["check"]) == .check(CheckOptions()))
        var o = CheckOptions()
        o.format = .json
        #expect(verb(["check", "--format", "json"]) == .check(o))
        #expect(failure(["check", "--format", "table"]) != nil)
    }

    @Test func agent() {
        var o = AgentOptions()
        o.socket = "/run/a.sock"
        o.policy = "/etc/p.json"
        o.log = "/var/log/a"
        #expect(verb(["agent", "--socket", "/run/a.sock", "--policy", "/etc/p.json", "--log", "/var/log/a"]) == .agent(o))
        o.logMaxSize = 4 << 20
        #expect(verb(["agent", "--socket", "/run/a.sock", "--policy", "/etc/p.json", "--log", "/var/log/a", "--log-max-size", "4m"]) == .agent(o))
        #expect(failure(["agent", "--socket", "/run/a.sock", "--policy", "/etc/p.json", "--log-max-size", "lots"]) != nil)
    }
}

@Suite struct HelpAndVersion {
    @Test func helpForms() {
        #expect(verb([]) == .help(verb: nil))
        #expect(verb(["--help"]) == .help(verb: nil))
        #expect(verb(["-h"]) == .help(verb: nil))
        #expect(verb(["--root", "/r", "-help"]) == .help(verb: nil))
        #expect(verb(["help"]) == .help(verb: nil))
        #expect(verb(["help", "create"]) == .help(verb: "create"))
        #expect(verb(["h", "kill"]) == .help(verb: "kill"))
        #expect(verb(["create", "--help"]) == .help(verb: "create"))
        #expect(verb(["create", "-h", "--bogus"]) == .help(verb: "create"))
        #expect(verb(["exec", "-h"]) == .help(verb: "exec"))
        #expect(verb(["kill", "c", "--help"]) == .help(verb: "kill"))
        #expect(failure(["help", "bogus"]) == "no help topic for 'bogus'")
    }

    @Test func versionForms() {
        #expect(verb(["--version"]) == .version)
        #expect(verb(["-v"]) == .version)
        #expect(verb(["--root", "/r", "--version", "create", "x"]) == .version)
    }

    @Test func versionText_() {
        #expect(versionText() == "swiftlet version " + swiftletVersion + "\nspec: 1.3.0\n")
        #expect(versionText(commit: "abc", extra: [("libseccomp", "2.5.4")])
                == "swiftlet version " + swiftletVersion + "\ncommit: abc\nspec: 1.3.0\nlibseccomp: 2.5.4\n")
    }

    @Test func generalHelpListsVisibleVerbsAndGlobalFlags() {
        let text = helpText(for: nil)
        #expect(text.contains("USAGE:\n   swiftlet [global options] command"))
        for v in Verbs.all where !v.hidden {
            #expect(text.contains("\n   " + v.name), "missing verb \(v.name)")
        }
        #expect(text.contains("\n   agent"))
        #expect(text.contains("\n   pool"))
        #expect(!text.contains("checkpoint"))
        #expect(text.contains("GLOBAL OPTIONS:"))
        #expect(text.contains("--root DIR"))
        #expect(text.contains("--version, -v"))
        #expect(!text.contains("--criu"))
        #expect(helpText(for: "nonsense") == text)
    }

    @Test func verbHelpShowsUsageAndEveryVisibleFlag() {
        for v in Verbs.all where v.kind != .unsupported {
            let text = helpText(for: v.name)
            #expect(text.hasPrefix("NAME:\n   swiftlet " + v.name + " - " + v.summary + "\n"))
            #expect(text.contains("USAGE:\n   swiftlet " + v.name))
            #expect(text.contains("--help, -h"))
            for f in v.flags {
                #expect(text.contains("--" + f.names[0]) != f.hidden, "\(v.name) --\(f.names[0])")
            }
        }
        let create = helpText(for: "create")
        #expect(create.contains("swiftlet create [command options] <container-id>"))
        #expect(create.contains("--bundle DIR, -b DIR"))
        #expect(!helpText(for: "kill").contains("--all"))
        #expect(helpText(for: "start").contains("--arg ARG"))
    }

    /// Every flag in the help tables must be accepted by the parser under every spelling.
    @Test func everyListedFlagParses() {
        for v in Verbs.all where v.kind != .unsupported && v.kind != .help {
            for f in v.flags {
                for name in f.names {
                    for dashes in ["-", "--"] {
                        var args = [v.name, dashes + name]
                        if !f.isBoolean { args.append(sampleValue(f.key)) }
                        args.append(contentsOf: sampleArguments(v.kind))
                        if let message = failure(args) {
                            Issue.record("\(join(args, " ")): \(message)")
                        }
                    }
                }
            }
        }
        for f in Flags.global {
            for name in f.names {
                var args = ["--" + name]
                if !f.isBoolean { args.append(f.key == .logFormat ? "json" : f.key == .rootless ? "auto" : "/x") }
                args.append("list")
                if let message = failure(args) { Issue.record("\(join(args, " ")): \(message)") }
            }
        }
    }
}

private func sampleValue(_ key: FlagKey) -> String {
    switch key {
    case .format: return "json"
    case .interval: return "2s"
    case .env: return "A=B"
    case .cpus: return "0"
    case .user: return "0:0"
    default: return "1"
    }
}

private func sampleArguments(_ kind: VerbKind) -> [String] {
    switch kind {
    case .list, .spec, .features, .check, .agent, .version, .help: return []
    case .exec: return ["c", "true"]
    case .pool: return ["start", "c"]
    default: return ["c"]
    }
}

@Suite struct PoolCommands {
    @Test func fillStartDrain() throws {
        let fill = try CommandLineParser.parse(["pool", "fill", "--bundle", "/b", "--size", "3", "web"])
        guard case .pool(let f) = fill.verb else { Issue.record("not a pool command"); return }
        #expect(f.action == .fill && f.name == "web" && f.bundle == "/b" && f.size == 3)
        let start = try CommandLineParser.parse(["pool", "start", "--arg", "echo", "--arg", "hi", "--cpus", "1", "web"])
        guard case .pool(let s) = start.verb else { Issue.record("not a pool command"); return }
        #expect(s.action == .start && s.start.args == ["echo", "hi"] && s.start.cpus == "1")
        let drain = try CommandLineParser.parse(["pool", "drain", "web"])
        guard case .pool(let d) = drain.verb else { Issue.record("not a pool command"); return }
        #expect(d.action == .drain)
        let refill = try CommandLineParser.parse(["pool", "refill", "web"])
        guard case .pool(let r) = refill.verb else { Issue.record("not a pool command"); return }
        #expect(r.action == .refill && r.name == "web")
    }

    @Test func badActionAndSize() {
        #expect(throws: SwiftletError.self) { try CommandLineParser.parse(["pool", "fil", "web"]) }
        #expect(throws: SwiftletError.self) { try CommandLineParser.parse(["pool", "fill", "--size", "0", "web"]) }
        #expect(throws: SwiftletError.self) { try CommandLineParser.parse(["pool", "fill"]) }
    }
}

@Suite struct UsageErrors {
    @Test(arguments: [
        (["create", "--x", "id"], "unknown flag: --x"),
        (["create", "-x=1", "id"], "unknown flag: -x"),
        (["create", "id", "--x"], "unknown flag: --x"),
        (["--bogus", "list"], "unknown flag: --bogus"),
        (["create"], "\"create\" requires exactly 1 argument(s)"),
        (["create", "a", "b"], "\"create\" requires exactly 1 argument(s)"),
        (["start"], "\"start\" requires exactly 1 argument(s)"),
        (["state"], "\"state\" requires exactly 1 argument(s)"),
        (["delete", "a", "b"], "\"delete\" requires exactly 1 argument(s)"),
        (["run"], "\"run\" requires exactly 1 argument(s)"),
        (["pause"], "\"pause\" requires exactly 1 argument(s)"),
        (["resume", "a", "b"], "\"resume\" requires exactly 1 argument(s)"),
        (["ps"], "\"ps\" requires a minimum of 1 argument(s)"),
        (["events"], "\"events\" requires exactly 1 argument(s)"),
        (["features", "x"], "\"features\" requires exactly 0 argument(s)"),
        (["create", "--bundle"], "flag needs an argument: --bundle"),
        (["--root"], "flag needs an argument: --root"),
        (["frobnicate"], "unknown command: frobnicate"),
        (["checkpoint", "c"], "\"checkpoint\" is not supported by swiftlet"),
        (["restore", "c"], "\"restore\" is not supported by swiftlet"),
        (["--debug=maybe", "list"], "invalid boolean value \"maybe\" for flag --debug"),
        (["--log-format", "xml", "list"], "invalid log-format: xml"),
        (["--rootless", "sometimes", "list"], "invalid value \"sometimes\" for flag --rootless: expected true, false or auto"),
        (["create", "--preserve-fds", "-1", "id"], "invalid value \"-1\" for flag --preserve-fds: expected a non-negative integer"),
        (["create", "--preserve-fds", "99999999999", "id"], "invalid value \"99999999999\" for flag --preserve-fds: expected a non-negative integer"),
        (["create", "---bundle", "b", "id"], "bad flag syntax: ---bundle"),
        (["create", "--=b", "id"], "bad flag syntax: --=b"),
    ])
    func rejected(args: [String], message: String) {
        #expect(failure(args) == message)
    }

    @Test func errorDescriptionNamesTheStage() {
        do throws(SwiftletError) {
            _ = try CommandLineParser.parse(["create", "--x", "id"])
            Issue.record("parsed")
        } catch {
            #expect(error.description == "usage: unknown flag: --x")
        }
    }

    @Test func loneDashIsAnArgument() {
        #expect(verb(["state", "-"]) == .state(id: "-"))
    }
}
