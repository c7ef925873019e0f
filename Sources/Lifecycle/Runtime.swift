import Base
import CLinux
import JSON
import OCISpec
import Syscalls

/// What every verb needs: where state lives, how to log, and the global flags.
public struct Runtime: Sendable {
    public let store: StateStore
    public let logger: Logger
    public let systemdCgroup: Bool

    public init(root: String, logger: Logger, systemdCgroup: Bool) {
        self.store = StateStore(root: root)
        self.logger = logger
        self.systemdCgroup = systemdCgroup
        _ = isRootless
        _ = inUserNamespace
    }

    /// The global flags that make another invocation act on the same state, log and cgroup driver.
    var globalArguments: [String] {
        var args = ["--root", store.root]
        if let path = logger.path { args += ["--log", path] }
        if logger.format == .json { args += ["--log-format", "json"] }
        if logger.debug { args.append("--debug") }
        if systemdCgroup { args.append("--systemd-cgroup") }
        return args
    }
}

/// argv[0] as this process was started.
func commandName() -> String {
    guard let argv = cl_argv(), let first = argv[0] else { return "swiftlet" }
    return String(cString: first)
}

/// Options of `create` and `run`.
public struct CreateRequest: Sendable {
    public var id: String
    public var bundle: String
    public var pidFile: String?
    public var consoleSocket: String?
    public var noPivot: Bool = false
    public var noNewKeyring: Bool = false
    public var preserveFDs: Int = 0
    /// A foreground `run`: with process.terminal and no console socket, the runtime relays
    /// the container's pty to its own stdio.
    public var foreground: Bool = false

    public init(id: String, bundle: String) {
        self.id = id
        self.bundle = bundle
    }
}

/// Loads and checks a bundle's config.json: what must hold before anything is created.
func loadBundle(_ bundle: String) throws(SwiftletError) -> (spec: Spec, text: String) {
    let text = try readTextFile(bundle + "/config.json", stage: .config)
    let spec = try Spec.parseForCreate(json: try JSON.parse(text, source: "config.json"), source: "config.json")
    return (spec, text)
}

/// The absolute rootfs path: root.path is relative to the bundle unless absolute.
func rootfsPath(_ spec: Spec, bundle: String) throws(SwiftletError) -> String {
    let path = spec.root.path
    let full = path.hasBytePrefix("/") ? path : bundle + "/" + path
    guard isDirectory(full) else {
        throw SwiftletError(.config, "rootfs " + full + " does not exist or is not a directory", errno: ENOENT)
    }
    return try realPath(full, stage: .config)
}
