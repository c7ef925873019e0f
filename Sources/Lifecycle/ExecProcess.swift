import Base
import CLinux
import JSON
import OCISpec
import Process
import Syscalls

/// The `exec` flags that shape the process when it is given on the command line rather
/// than by `--process` (runc's getProcess).
public struct ExecProcessOptions: Sendable {
    public var cwd: String? = nil
    public var env: [String] = []
    public var tty: Bool = false
    public var uid: UInt32? = nil
    public var gid: UInt32? = nil
    public var additionalGids: [UInt32] = []
    /// `--cap`: added to the bounding, effective and permitted sets (and ambient when the
    /// base process has inheritable capabilities), as runc does.
    public var capabilities: [String] = []
    /// nil when `--no-new-privs` was not given: the base process decides.
    public var noNewPrivileges: Bool? = nil
    public var apparmorProfile: String? = nil
    public var processLabel: String? = nil

    public init() {}
}

/// The process of an `exec`, as runc builds it: with `file` (`--process`), that
/// process.json alone (the other flags are ignored, as in runc); otherwise `base` (the
/// container's config.json process) with `args` as its command and the flags applied.
/// Non-empty `--apparmor`/`--process-label` set the process's labels, which
/// `Runtime.execProcess` checks against the host like every other label.
public func execProcess(from file: String?, base: ProcessSpec?, args: [String],
                        options: ExecProcessOptions) throws(SwiftletError) -> ProcessSpec {
    if let file {
        let text = try readTextFile(file, stage: .exec)
        return try ProcessSpec.load(text: text, source: "process.json")
    }
    guard var p = base else {
        throw SwiftletError(.exec, "process: required to exec without --process", errno: EINVAL)
    }
    if let profile = options.apparmorProfile, !profile.isEmpty { p.apparmorProfile = profile }
    if let label = options.processLabel, !label.isEmpty { p.selinuxLabel = label }
    if args.isEmpty { throw SwiftletError(.usage, "exec args cannot be empty", errno: EINVAL) }
    p.args = args
    // A commandLine (Windows) would name the config's command, not this one.
    p.commandLine = nil
    if let cwd = options.cwd, !cwd.isEmpty {
        guard cwd.hasBytePrefix("/") else {
            throw SwiftletError(.usage, "--cwd " + cwd + ": must be an absolute path", errno: EINVAL)
        }
        p.cwd = cwd
    }
    if !options.capabilities.isEmpty, var caps = p.capabilities {
        for cap in options.capabilities {
            caps.bounding.append(cap)
            caps.effective.append(cap)
            caps.permitted.append(cap)
            // Ambient needs inheritable too; --cap adds none, so only where some exist.
            if !caps.inheritable.isEmpty { caps.ambient.append(cap) }
        }
        p.capabilities = caps
    }
    for entry in options.env {
        guard let (name, _) = entry.splitOnce(byte: UInt8(ascii: "=")), !name.isEmpty else {
            throw SwiftletError(.usage, "--env " + entry + ": expected NAME=VALUE", errno: EINVAL)
        }
        p.env.append(entry)
    }
    // The config's terminal setting is for the init; an exec gets one only when asked.
    p.terminal = options.tty
    if let nnp = options.noNewPrivileges { p.noNewPrivileges = nnp }
    if let uid = options.uid { p.user.uid = uid }
    if let gid = options.gid { p.user.gid = gid }
    p.user.additionalGids += options.additionalGids
    return p
}

extension Runtime {
    /// `execProcess` with the base process taken from the container's stored config.json
    /// (only read when there is no `--process` file).
    public func execProcess(id: String, from file: String?, args: [String],
                            options: ExecProcessOptions) throws(SwiftletError) -> ProcessSpec {
        let base = file == nil ? try storedConfig(try load(id)).process : nil
        let process = try Lifecycle.execProcess(from: file, base: base, args: args, options: options)
        try Labels.check(process, mountLabel: nil, what: file == nil ? "exec" : "process.json")
        return process
    }

    /// The config.json the container was created with (kept in its state directory).
    func storedConfig(_ c: Container) throws(SwiftletError) -> Spec {
        let text = try readTextFile(c.directory + "/config.json", stage: .state)
        return try Spec.parse(json: try JSON.parse(text, source: "config.json"), source: "config.json")
    }
}
