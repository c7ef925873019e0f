import Base
import CLinux
import Cgroups
import JSON
import OCISpec
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
        return try cgroupManager(r).pids()
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
