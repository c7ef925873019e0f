import Base
import CLinux
import Cgroups
import Hooks
import JSON
import OCISpec
import Process
import Syscalls

extension Runtime {
    /// `pause`: freezes every process of a running container (v1 freezer, v2 cgroup.freeze).
    public func pause(_ id: String) throws(SwiftletError) {
        let (c, lock) = try locked(id)
        defer { lock.unlock() }
        guard c.status == .running, let r = c.record else {
            throw SwiftletError(.lifecycle, "cannot pause a container that is " + c.status.rawValue, errno: EINVAL)
        }
        try cgroupManager(r).freeze()
    }

    /// `resume`: thaws a paused container.
    public func resume(_ id: String) throws(SwiftletError) {
        let (c, lock) = try locked(id)
        defer { lock.unlock() }
        guard c.status == .paused, let r = c.record else {
            throw SwiftletError(.lifecycle, "cannot resume a container that is " + c.status.rawValue, errno: EINVAL)
        }
        try cgroupManager(r).thaw()
    }

    /// `ps`: the host pids of every process in the container's cgroup.
    public func processes(_ id: String) throws(SwiftletError) -> [Int32] {
        let c = try load(id)
        guard let r = c.record, c.status != .stopped else { return [] }
        if !r.hasCgroup && withoutHostCgroups {
            // Exec'd processes are no descendants of the init: with its own pid namespace,
            // the container is what lives there.
            return r.sharesPidNamespace ? processTree(root: r.pid, rootStart: r.pidStartTime)
                                        : try processesInPidNamespace(of: r.pid, start: r.pidStartTime)
        }
        return try cgroupManager(r).pids()
    }

    /// `ps` as a table (runc's): the host's ps(1) run with `psArgs` ("-ef" when none), its
    /// header and the lines whose PID column names a process of the container.
    public func processTable(_ id: String, psArgs: [String]) throws(SwiftletError) -> String {
        let pids = try processes(id)
        let search = ["PATH=" + (environment("PATH") ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")]
        var ps = Hook(path: try ProcessSetup.lookPath("ps", env: search))
        ps.args = ["ps"] + (psArgs.isEmpty ? ["-ef"] : psArgs)
        ps.env = search
        let outcome: Hooks.Outcome
        do throws(SwiftletError) {
            outcome = try Hooks.spawn(ps, state: "", keep: 64 << 20)
        } catch {
            throw SwiftletError(.lifecycle, "ps: " + error.message, errno: error.errno)
        }
        let output = String(decoding: outcome.stdout, as: UTF8.self)
        if cl_wifexited(outcome.status) == 0 || cl_wexitstatus(outcome.status) != 0 {
            throw SwiftletError(.lifecycle, "ps: " + Hooks.describeStatus(outcome.status) + ": "
                                + String(decoding: outcome.stderr, as: UTF8.self).trimmed())
        }
        return try containerLinesOfPs(output, pids: pids)
    }

    /// `update`: applies new resource limits to a created, running or paused container.
    public func update(_ id: String, resources: ResourcesSpec) throws(SwiftletError) {
        let (c, lock) = try locked(id)
        defer { lock.unlock() }
        guard c.status != .stopped, let r = c.record else {
            throw SwiftletError(.lifecycle, "cannot update a container that is " + c.status.rawValue, errno: EINVAL)
        }
        try cgroupManager(r).apply(resources)
    }

    /// `events --stats`: one statistics event in runc's shape.
    public func statsEvent(_ id: String) throws(SwiftletError) -> JSON {
        let c = try load(id)
        guard let r = c.record, c.status != .stopped else {
            throw SwiftletError(.lifecycle, "container is not running: " + id, errno: ESRCH)
        }
        var o = JSONObjectBuilder()
        o.add("type", "stats")
        o.add("id", id)
        o.add("data", try cgroupManager(r).stats())
        return o.json
    }

    /// How many processes of a running container the OOM killer has killed so far; `events`
    /// reports each increase as an "oom" event (as runc does from its OOM notifications).
    public func oomKills(_ id: String) throws(SwiftletError) -> UInt64 {
        let c = try load(id)
        guard let r = c.record, c.status != .stopped else {
            throw SwiftletError(.lifecycle, "container is not running: " + id, errno: ESRCH)
        }
        return try cgroupManager(r).oomKillCount()
    }

    /// `events`: the OOM notification, in runc's shape.
    public func oomEvent(_ id: String) -> JSON {
        var o = JSONObjectBuilder()
        o.add("type", "oom")
        o.add("id", id)
        return o.json
    }

    func locked(_ id: String) throws(SwiftletError) -> (Container, ContainerLock) {
        try validateContainerID(id)
        let dir = store.directory(id)
        guard isDirectory(dir) else { throw SwiftletError(.state, "container does not exist: " + id, errno: ENOENT) }
        let lock = try ContainerLock.acquire(dir)
        do throws(SwiftletError) {
            return (try load(id), lock)
        } catch {
            lock.unlock()
            throw error
        }
    }
}

/// Resources for `update -r FILE` ("-" reads standard input), in runtime-spec form.
public func loadResources(_ path: String) throws(SwiftletError) -> ResourcesSpec {
    let text: String
    if path.bytesEqual("-") {
        text = String(decoding: try FileDescriptor.standardInput.readAll(stage: .config), as: UTF8.self)
    } else {
        text = try readTextFile(path, stage: .config)
    }
    let source = path.bytesEqual("-") ? "resources" : path
    return try ResourcesSpec.parse(Node(try JSON.parse(text, source: source), path: source))
}

/// The header of ps(1) output and the lines whose PID column (found by its title) holds
/// one of `pids`.
public func containerLinesOfPs(_ output: String, pids: [Int32]) throws(SwiftletError) -> String {
    let lines = output.split(byte: 10)
    guard let header = lines.first,
          let column = words(header).firstIndex(where: { $0.bytesEqual("PID") }) else {
        throw SwiftletError(.lifecycle, "ps: couldn't find PID field in ps output")
    }
    var out = header + "\n"
    for line in lines.dropFirst() where !line.isEmpty {
        let fields = words(line)
        guard column < fields.count, let pid = parseInt64(fields[column]) else {
            throw SwiftletError(.lifecycle, "ps: unable to parse pid in line \"" + line + "\"")
        }
        if pids.contains(where: { Int64($0) == pid }) { out += line + "\n" }
    }
    return out
}
