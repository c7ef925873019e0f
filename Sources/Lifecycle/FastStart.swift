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
    /// The same as processFile's text, given in memory: a UML guest's start frame (so named
    /// in errors).
    public var processText: String?
    public var args: [String] = []
    public var env: [String] = []
    public var cwd: String?
    public var cpus: String?

    public init(id: String) { self.id = id }

    public var replacesProcess: Bool {
        processFile != nil || processText != nil || !args.isEmpty || !env.isEmpty || cwd != nil || cpus != nil
    }
}

/// The members of a process object that a fast start may replace (labels too: a replacement
/// that names one must get it, or be refused, never run without it).
let replaceableMembers = ["args", "env", "cwd", "user", "scheduler", "ioPriority", "execCPUAffinity",
                          "apparmorProfile", "selinuxLabel"]

/// Builds process.json's text: config.json's process with the replacement's members over
/// it, checked whole by the same parser as config.json; written are only the members the
/// init takes from it (Replacement.merged), plus the CPU list: less to write, to parse in
/// the init, and to carry to a UML guest, whose console reads a frame one byte per host
/// system call.
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
    let given: (text: String, name: String)?
    if let text = r.processText { given = (text, "start frame") } else if let file = r.processFile {
        given = (try readTextFile(file, stage: .config), file)
    } else {
        given = nil
    }
    if let (text, file) = given {
        let doc = try JSON.parse(text, source: file)
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
    let name = given?.name ?? "start"
    let process = try ProcessSpec.parse(Node(merged, path: name))
    try Labels.check(process, mountLabel: nil, what: name)
    var doc = JSONObjectBuilder()
    doc.add("process", .object(members.filter { m in replaceableMembers.contains { $0.bytesEqual(m.key) } }))
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

/// The state directory's pipe through which a rootless `start` hands the init its replacement.
let replacementPipeName = "replacement.fifo"

/// What the init holds for `start` to leave a replacement in. Root's runtime: a memfd it
/// later takes from the init with pidfd_getfd. A rootless runtime cannot (the init is not
/// dumpable and its memory belongs to the host's user namespace, where the user has no
/// CAP_SYS_PTRACE): the init holds the read end of a named pipe in the state directory,
/// which only its user (and root) can reach, and `start` writes into it. Either way the
/// init holds nothing that leads to the host's file systems.
func makeReplacementChannel(directory dir: String) throws(SwiftletError) -> FileDescriptor {
    if isRootless {
        let path = dir + "/" + replacementPipeName
        if mkfifo(path, 0o600) != 0 { throw .system(.state, "mkfifo " + replacementPipeName) }
        return try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK, stage: .state)
    }
    let raw = memfd_create("swiftlet-replacement", UInt32(MFD_CLOEXEC))
    if raw < 0 { throw .system(.state, "memfd_create for the process replacement") }
    return FileDescriptor(raw)
}

/// Everything a pipe holds now (its writers have written and closed, or hold it open).
func drainPipe(_ fd: FileDescriptor) throws(SwiftletError) -> [UInt8] {
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 8192)
    while out.count <= replacementLimit {
        let n = chunk.withUnsafeMutableBytes { CLinux.read(fd.raw, $0.baseAddress, $0.count) }
        if n < 0 {
            if cl_errno() == EINTR { continue }
            if cl_errno() == EAGAIN { break }
            throw .system(.lifecycle, "read the process replacement")
        }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return out
}

/// A pipe holds 64 KiB unread: a replacement must fit.
let replacementLimit = 65536

/// Reads and empties the replacement `start` left, if any.
func takeReplacement(_ channel: FileDescriptor) throws(SwiftletError) -> Replacement? {
    var st = stat()
    if fstat(channel.raw, &st) != 0 { throw .system(.lifecycle, "stat the process replacement") }
    let bytes: [UInt8]
    if cl_s_isfifo(st.st_mode) != 0 {
        bytes = try drainPipe(channel)
    } else {
        if lseek(channel.raw, 0, SEEK_SET) != 0 { throw .system(.lifecycle, "rewind the process replacement") }
        bytes = try channel.readAll(stage: .lifecycle)
        if ftruncate(channel.raw, 0) != 0 { throw .system(.lifecycle, "empty the process replacement") }
    }
    if bytes.isEmpty { return nil }
    let text = String(decoding: bytes, as: UTF8.self)
    let doc = Node(try JSON.parse(text, source: "process.json"), path: "process.json")
    return Replacement(process: try ProcessSpec.parse(try doc.required("process")), cpus: try doc["cpus"]?.string())
}

/// Puts `text` (empty: no replacement) where the created init `pid` reads its replacement:
/// its memfd, taken from it with pidfd_getfd (no path leads to it), or for a rootless
/// runtime the pipe in the state directory `dir` (see makeReplacementChannel).
func leaveReplacement(_ text: String, record: ContainerRecord, pidfd: FileDescriptor, directory dir: String) throws(SwiftletError) {
    guard let target = record.replacementFD else {
        if text.isEmpty { return }
        throw SwiftletError(.lifecycle, "container was created without a process replacement channel", errno: EINVAL)
    }
    if isRootless {
        // The pipe's read end is the init's (the write fails with ENXIO without it): what
        // a start that died left is drained first, through a read end of our own.
        let path = dir + "/" + replacementPipeName
        var st = stat()
        guard lstat(path, &st) == 0, cl_s_isfifo(st.st_mode) != 0, st.st_uid == geteuid() else {
            if text.isEmpty { return }
            throw SwiftletError(.lifecycle, "container was created without a process replacement channel", errno: EINVAL)
        }
        let reader = try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW, stage: .lifecycle)
        defer { reader.close() }
        _ = try drainPipe(reader)
        if text.isEmpty { return }
        let bytes = Array(text.utf8)
        guard bytes.count <= replacementLimit else {
            throw SwiftletError(.lifecycle, "the process replacement is larger than " + String(replacementLimit) + " bytes", errno: E2BIG)
        }
        let writer = try FileDescriptor.open(path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW, stage: .lifecycle)
        defer { writer.close() }
        let n = bytes.withUnsafeBytes { CLinux.write(writer.raw, $0.baseAddress, $0.count) }
        if n != bytes.count { throw .system(.lifecycle, "write the process replacement") }
        return
    }
    let raw = cl_pidfd_getfd(pidfd.raw, target)
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
