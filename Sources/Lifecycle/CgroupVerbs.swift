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
        if r.isUML { return try umlProcessIDs(id) }
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
        if try isUMLContainer(id) {
            // Made in the guest from its /proc: there is no ps(1) there to take arguments.
            if !psArgs.isEmpty { throw SwiftletError(.usage, "isolation uml: ps takes no ps(1) arguments", errno: ENOTSUP) }
            let c = try load(id)
            guard c.status != .stopped else { return guestProcessTable([]) }
            return String(decoding: try umlProcesses(id, table: true), as: UTF8.self)
        }
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
    /// Intel RDT schemas (`--l3-cache-schema`, `--mem-bw-schema`) are refused before anything
    /// changes: swiftlet does not manage resctrl, as it refuses linux.intelRdt in config.json.
    public func update(_ id: String, resources: ResourcesSpec, l3CacheSchema: String? = nil,
                       memBwSchema: String? = nil) throws(SwiftletError) {
        if l3CacheSchema != nil || memBwSchema != nil {
            throw SwiftletError(.lifecycle, "update: " + (l3CacheSchema != nil ? "--l3-cache-schema" : "--mem-bw-schema")
                                + ": Intel RDT is not supported", errno: ENOTSUP)
        }
        let (c, lock) = try locked(id)
        defer { lock.unlock() }
        guard c.status != .stopped, let r = c.record else {
            throw SwiftletError(.lifecycle, "cannot update a container that is " + c.status.rawValue, errno: EINVAL)
        }
        let manager = try cgroupManager(r)
        if r.systemdCgroup {
            // systemd rewrites the unit's cgroup files from its properties: tell it first.
            let systemd = try SystemdDriver.connect(try CgroupPath.systemdUnit(r.cgroupsPath, containerID: r.id))
            try systemd.setProperties(resources, unifiedHierarchy: manager.mode == .v2)
        }
        try manager.apply(resources)
    }

    /// `events`: a statistics event every `intervalNanoseconds` (once with `statsOnly`), and
    /// between them an OOM kill within a tenth of a second, each handed to `emit`. Returns
    /// only by throwing (the container is gone) or after the one event of `statsOnly`.
    public func events(_ id: String, intervalNanoseconds: Int64, statsOnly: Bool,
                       emit: (JSON) -> Void) throws(SwiftletError) {
        var oomKills = statsOnly ? 0 : try self.oomKills(id)
        while true {
            emit(try statsEvent(id))
            if statsOnly { return }
            var left = intervalNanoseconds
            while left > 0 {
                let slice = min(left, 100_000_000)
                var delay = timespec(tv_sec: time_t(slice / 1_000_000_000), tv_nsec: Int(slice % 1_000_000_000))
                var rest = timespec()
                while nanosleep(&delay, &rest) != 0 && cl_errno() == EINTR { delay = rest }
                left -= slice
                let now = try self.oomKills(id)
                if now > oomKills { emit(oomEvent(id)) }
                oomKills = now
            }
        }
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
