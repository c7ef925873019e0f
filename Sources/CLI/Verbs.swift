import Base

enum VerbKind: Equatable {
    case create, start, state, kill, delete, run, exec, list, ps, pause, resume, update
    case features, spec, events, check, agent, pool, version, help
    /// runc verbs swiftlet deliberately lacks; named so the error says so.
    case unsupported
}

/// How many positional arguments a verb takes, worded in errors like runc's checkArgs.
enum ArgCount: Equatable {
    case exactly(Int)
    case atLeast(Int)
    case between(Int, Int)
}

/// Everything about one verb: parsing rules and help text from one table, so the
/// help cannot drift from what the parser accepts.
struct VerbSpec {
    let kind: VerbKind
    let name: String
    let summary: String
    let argsUsage: String
    let details: String
    let description: String
    let flags: [FlagSpec]
    let arguments: ArgCount
    /// Flags end at the first positional argument (exec's command, ps's arguments,
    /// kill's signal); otherwise flags may follow positionals, as with runc.
    let flagsEndAtFirstArgument: Bool
    let hidden: Bool

    init(_ kind: VerbKind, _ name: String, summary: String, argsUsage: String = "",
         details: String = "", description: String = "", flags: [FlagSpec] = [],
         arguments: ArgCount, flagsEndAtFirstArgument: Bool = false, hidden: Bool = false) {
        self.kind = kind
        self.name = name
        self.summary = summary
        self.argsUsage = argsUsage
        self.details = details
        self.description = description
        self.flags = flags
        self.arguments = arguments
        self.flagsEndAtFirstArgument = flagsEndAtFirstArgument
        self.hidden = hidden
    }
}

let containerIDNew = """
    Where "<container-id>" is your name for the instance of the container that you
    are starting. The name you provide for the container instance must be unique on
    your host.
    """

let containerIDExisting = "Where \"<container-id>\" is the name for the instance of the container."

enum Verbs {
    /// In the order `help` lists them (alphabetical, like runc).
    static var all: [VerbSpec] {
        [
            VerbSpec(.check, "check", summary: "check that the kernel provides what swiftlet needs",
                     description: """
                     The check command probes the kernel features swiftlet uses (namespaces,
                     cgroups, seccomp, mount API, ...) and reports which are available.
                     """,
                     flags: Flags.check, arguments: .exactly(0)),
            VerbSpec(.create, "create", summary: "create a container",
                     argsUsage: "<container-id>", details: containerIDNew,
                     description: """
                     The create command creates an instance of a container for a bundle. The bundle
                     is a directory with a specification file named "config.json" and a root
                     filesystem. The container's process waits until "swiftlet start" runs it.
                     """,
                     flags: Flags.create, arguments: .exactly(1)),
            VerbSpec(.delete, "delete",
                     summary: "delete any resources held by the container often used with detached container",
                     argsUsage: "<container-id>", details: """
                     \(containerIDExisting)

                     EXAMPLE:
                     If "swiftlet list" shows the status of "ubuntu01" as "stopped", the following
                     deletes the resources held for "ubuntu01":

                            # swiftlet delete ubuntu01
                     """,
                     flags: Flags.delete, arguments: .exactly(1)),
            VerbSpec(.events, "events",
                     summary: "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
                     argsUsage: "<container-id>", details: containerIDExisting,
                     description: """
                     The events command displays information about the container. By default the
                     information is displayed once every 5 seconds.
                     """,
                     flags: Flags.events, arguments: .exactly(1)),
            VerbSpec(.exec, "exec", summary: "execute new process inside the container",
                     argsUsage: "<container-id> <command> [command options]  || -p process.json <container-id>",
                     details: """
                     Where "<container-id>" is the name for the instance of the container and
                     "<command>" is the command to be executed in the container.
                     "<command>" can't be empty unless a "-p" flag provided. Options must come
                     before "<container-id>"; everything after it belongs to the command.

                     EXAMPLE:
                     The following lists the processes running in the container:

                            # swiftlet exec <container-id> ps
                     """,
                     flags: Flags.exec, arguments: .atLeast(1), flagsEndAtFirstArgument: true),
            VerbSpec(.features, "features", summary: "show the enabled features",
                     description: """
                     Show the enabled features, as JSON. See
                     https://github.com/opencontainers/runtime-spec/blob/main/features.md
                     for the type definition.
                     """,
                     arguments: .exactly(0)),
            VerbSpec(.kill, "kill",
                     summary: "kill sends the specified signal (default: SIGTERM) to the container's init process",
                     argsUsage: "<container-id> [signal]", details: """
                     Where "<container-id>" is the name for the instance of the container and
                     "[signal]" is the signal to be sent to the init process: a name with or
                     without the "SIG" prefix (KILL, SIGKILL, RTMIN+3) or a number.

                     EXAMPLE:
                     The following sends a "KILL" signal to the init process of "ubuntu01":

                            # swiftlet kill ubuntu01 KILL
                     """,
                     flags: Flags.kill, arguments: .between(1, 2)),
            VerbSpec(.list, "list", summary: "lists containers started by swiftlet with the given root",
                     details: """
                     Where the given root is specified via the global option "--root".

                     EXAMPLE:
                     To list containers created using a non-default value for "--root":
                            # swiftlet --root value list
                     """,
                     flags: Flags.list, arguments: .exactly(0)),
            VerbSpec(.pause, "pause", summary: "pause suspends all processes inside the container",
                     argsUsage: "<container-id>", details: containerIDExisting,
                     description: """
                     The pause command suspends all processes in the instance of the container.

                     Use swiftlet list to identify instances of containers and their current status.
                     """,
                     arguments: .exactly(1)),
            VerbSpec(.ps, "ps", summary: "ps displays the processes running inside a container",
                     argsUsage: "<container-id> [ps options]", details: """
                     Options must come before "<container-id>"; the arguments after it are passed
                     to ps(1) (default "-ef").
                     """,
                     flags: Flags.ps, arguments: .atLeast(1), flagsEndAtFirstArgument: true),
            VerbSpec(.resume, "resume", summary: "resumes all processes that have been previously paused",
                     argsUsage: "<container-id>", details: containerIDExisting,
                     description: """
                     The resume command resumes all processes in the instance of the container.

                     Use swiftlet list to identify instances of containers and their current status.
                     """,
                     arguments: .exactly(1)),
            VerbSpec(.run, "run", summary: "create and run a container",
                     argsUsage: "<container-id>", details: containerIDNew,
                     description: """
                     The run command creates an instance of a container for a bundle and starts
                     it. The bundle is a directory with a specification file named "config.json"
                     and a root filesystem.
                     """,
                     flags: Flags.run, arguments: .exactly(1)),
            VerbSpec(.spec, "spec", summary: "create a new specification file",
                     description: """
                     The spec command creates a starter specification file named "config.json"
                     for the bundle, running "sh" in "rootfs". Edit it to achieve the desired
                     results. With --rootless the file suits a container run without root
                     privileges (user namespace, no cgroup limits).
                     """,
                     flags: Flags.spec, arguments: .exactly(0)),
            VerbSpec(.start, "start", summary: "executes the user defined process in a created container",
                     argsUsage: "<container-id>", details: containerIDExisting,
                     description: """
                     The start command executes the user defined process in a created container.

                     The options are swiftlet extensions (fast start): they change the process of
                     config.json just before it starts, so that a container can be created ahead
                     of time and given its work later. --process replaces the whole process;
                     --arg, --env, --cwd and --cpus are then applied on top of it. Without them,
                     start behaves like runc's.
                     """,
                     flags: Flags.start, arguments: .exactly(1)),
            VerbSpec(.state, "state", summary: "output the state of a container",
                     argsUsage: "<container-id>", details: containerIDExisting,
                     description: "The state command outputs current state information for the\ninstance of a container.",
                     arguments: .exactly(1)),
            VerbSpec(.update, "update", summary: "update container resource constraints",
                     argsUsage: "<container-id>", details: """
                     Memory sizes accept a unit suffix (k, m, g, t, p; powers of 1024; e.g. 512m,
                     1g) and -1 means unlimited.

                     The --resources file has the form of runtime-spec linux.resources, e.g.
                       {"memory": {"limit": 0, "reservation": 0, "swap": 0},
                        "cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": "", "mems": ""},
                        "blockIO": {"weight": 0}, "pids": {"limit": 0}}
                     """,
                     flags: Flags.update, arguments: .exactly(1)),
            VerbSpec(.pool, "pool", summary: "keep created containers ready and start one of them fast",
                     argsUsage: "fill|refill|start|drain <pool-name>", details: """
                     A warm pool keeps containers created ahead of time from one bundle, named
                     <pool-name>-<n>, with --size of them waiting in the created state.

                       pool fill --bundle DIR --size N NAME   create the members that are missing
                       pool start [start flags] NAME          start one created member (its id is
                                                              printed) and refill the pool in the
                                                              background
                       pool refill NAME                       create the members that are missing
                                                              in an existing pool (never recreates
                                                              a drained one)
                       pool drain NAME                        delete every member and the pool

                     Members that have stopped are deleted when the pool is refilled; members
                     still running keep their names and new ones take the lowest free numbers.
                     pool start takes the fast-start flags of start (--process, --arg, --env,
                     --cwd, --cpus).
                     """,
                     flags: Flags.pool, arguments: .exactly(2)),
            VerbSpec(.agent, "agent", summary: "answer containers' seccomp notifications by policy",
                     details: """
                     The agent listens on --socket for the seccomp notify fds that swiftlet sends
                     to a config's linux.seccomp.listenerPath, and performs or refuses each
                     notified syscall (mount, umount2, mknod, ...) as the --policy file says,
                     per container. The socket is root's alone; a fd is attached only under the
                     container id whose token create wrote in the state directory (--root, which
                     must be the one the containers are created with). With --user-socket, rootless
                     runtimes connect there: the policy entries that name their user (by the
                     socket's peer credentials) apply, and the agent acts only in containers in
                     user and mount namespaces of that user's own. SIGHUP reloads the policy;
                     decisions are logged as JSON lines.
                     """,
                     flags: Flags.agent, arguments: .exactly(0)),
            VerbSpec(.version, "version", summary: "print the version", arguments: .exactly(0), hidden: true),
            VerbSpec(.unsupported, "checkpoint", summary: "not supported", arguments: .atLeast(0), hidden: true),
            VerbSpec(.unsupported, "restore", summary: "not supported", arguments: .atLeast(0), hidden: true),
            VerbSpec(.help, "help", summary: "shows a list of commands or help for one command",
                     argsUsage: "[command]", arguments: .between(0, 1)),
        ]
    }

    static func find(_ name: String) -> VerbSpec? {
        // "h" is urfave/cli's alias of help, which runc users may type.
        if name.bytesEqual("h") { return find("help") }
        for v in all where v.name.bytesEqual(name) { return v }
        return nil
    }
}
