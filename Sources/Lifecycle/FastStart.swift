import Base
import CLinux
import JSON
import OCISpec
import Process
import Syscalls

/// Fast start: a created container is started with another process than config.json's.
/// Only the process changes — args, env, cwd, user and its CPU placement; namespaces,
/// mounts, cgroup, seccomp, capabilities and rlimits stay as created. `start` validates the
/// replacement and writes it into a memfd the init has held since create (never a file of
/// the host: a created container's init holds nothing that leads there); the init,
/// released through exec.fifo, reads it and empties it.
public struct StartRequest: Sendable {
    public var id: String
    /// A runtime-spec process object, or the short form {"args": [...], "cpu": N}.
    public var processFile: String?
    public var args: [String] = []
    public var env: [String] = []
    public var cwd: String?
    public var cpus: String?

    public init(id: String) { self.id = id }

    public var replacesProcess: Bool {
        processFile != nil || !args.isEmpty || !env.isEmpty || cwd != nil || cpus != nil
    }
}

/// The members of a process object that a fast start may replace (labels too: a replacement
/// that names one must get it, or be refused, never run without it).
let replaceableMembers = ["args", "env", "cwd", "user", "scheduler", "ioPriority", "execCPUAffinity",
                          "apparmorProfile", "selinuxLabel"]

/// Builds process.json's text: config.json's process with the replacement's members over
/// it, checked by the same parser as config.json, plus the CPU list.
func replacementDocument(_ r: StartRequest, configText: String) throws(SwiftletError) -> String {
    let config = Node(try JSON.parse(configText, source: "config.json"), path: "config.json")
    guard let processNode = config["process"], case .object(let configured) = processNode.value else {
        throw config.at("process").error("required")
    }
    var members = configured
    func put(_ key: String, _ value: JSON) {
        if let i = members.firstIndex(where: { $0.key.bytesEqual(key) }) { members[i].value = value } else {
            members.append(JSON.Member(key, value))
        }
    }
    var cpus = r.cpus
    if let file = r.processFile {
        let doc = try JSON.parse(try readTextFile(file, stage: .config), source: file)
        guard case .object(let given) = doc else { throw SwiftletError(.config, file + ": expected a process object") }
        for m in given {
            if replaceableMembers.contains(where: { $0.bytesEqual(m.key) }) {
                put(m.key, m.value)
            } else if m.key.bytesEqual("cpu") {
                let n = try Node(m.value, path: file + ": cpu").uint32()
                cpus = String(n)
            } else if m.key.bytesEqual("cpus") {
                cpus = try Node(m.value, path: file + ": cpus").string()
            }
        }
    }
    if !r.args.isEmpty { put("args", .array(r.args.map { .string($0) })) }
    if let cwd = r.cwd { put("cwd", .string(cwd)) }
    if !r.env.isEmpty {
        // --env adds to the environment, replacing a variable of the same name.
        var env = members.first(where: { $0.key.bytesEqual("env") })?.value.arrayValue ?? []
        for entry in r.env {
            let name = entry.splitOnce(byte: UInt8(ascii: "="))?.0 ?? entry
            env.removeAll { ($0.stringValue?.splitOnce(byte: UInt8(ascii: "="))?.0 ?? "").bytesEqual(name) }
            env.append(.string(entry))
        }
        put("env", .array(env))
    }
    let merged = JSON.object(members)
    let process = try ProcessSpec.parse(Node(merged, path: r.processFile ?? "start"))
    try Labels.check(process, mountLabel: nil, what: r.processFile ?? "start")
    var doc = JSONObjectBuilder()
    doc.add("process", merged)
    doc.add("cpus", cpus)
    return doc.json.serialized()
}

/// What the init takes from process.json.
struct Replacement {
    var process: ProcessSpec
    var cpus: String?

    /// The configured process with the replaceable parts of this one.
    func merged(into configured: ProcessSpec) -> ProcessSpec {
        var p = configured
        p.args = process.args
        p.env = process.env
        p.cwd = process.cwd
        p.user = process.user
        p.scheduler = process.scheduler
        p.ioPriority = process.ioPriority
        p.execCPUAffinity = process.execCPUAffinity
        p.apparmorProfile = process.apparmorProfile
        p.selinuxLabel = process.selinuxLabel
        return p
    }
}

/// Reads and empties the replacement `start` left, if any.
func takeReplacement(_ memfd: FileDescriptor) throws(SwiftletError) -> Replacement? {
    if lseek(memfd.raw, 0, SEEK_SET) != 0 { throw .system(.lifecycle, "rewind the process replacement") }
    let bytes = try memfd.readAll(stage: .lifecycle)
    if ftruncate(memfd.raw, 0) != 0 { throw .system(.lifecycle, "empty the process replacement") }
    if bytes.isEmpty { return nil }
    let text = String(decoding: bytes, as: UTF8.self)
    let doc = Node(try JSON.parse(text, source: "process.json"), path: "process.json")
    return Replacement(process: try ProcessSpec.parse(try doc.required("process")), cpus: try doc["cpus"]?.string())
}

/// Puts `text` (empty: no replacement) where the created init `pid` reads its replacement:
/// its memfd, taken from it with pidfd_getfd (no path leads to it).
func leaveReplacement(_ text: String, record: ContainerRecord, pidfd: FileDescriptor) throws(SwiftletError) {
    guard let target = record.replacementFD else {
        if text.isEmpty { return }
        throw SwiftletError(.lifecycle, "container was created without a process replacement channel", errno: EINVAL)
    }
    let raw = cl_pidfd_getfd(pidfd.raw, target)
    if raw < 0 && cl_errno() == EPERM && isRootless {
        // The init is not dumpable (CVE-2019-5736) and its memory belongs to the host's
        // user namespace, where this user has no CAP_SYS_PTRACE: the replacement cannot be
        // handed over. Nothing can have been left there either (no rootless start gets
        // this far), so a plain start goes on.
        if text.isEmpty { return }
        throw SwiftletError(.lifecycle, "fast start (a replacement process) needs root: a rootless runtime cannot reach the init's replacement fd",
                            errno: EPERM)
    }
    if raw < 0 { throw .system(.lifecycle, "take the init's process replacement fd") }
    let memfd = FileDescriptor(raw)
    defer { memfd.close() }
    var st = stat()
    guard fstat(memfd.raw, &st) == 0, cl_s_isreg(st.st_mode) != 0 else {
        throw SwiftletError(.lifecycle, "the init's process replacement fd is not a file", errno: EBADF)
    }
    if ftruncate(memfd.raw, 0) != 0 || lseek(memfd.raw, 0, SEEK_SET) != 0 {
        throw .system(.lifecycle, "empty the process replacement")
    }
    if !text.isEmpty { try memfd.writeAll(text, stage: .lifecycle) }
}
