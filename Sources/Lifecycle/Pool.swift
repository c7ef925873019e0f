import Base
import CLinux
import JSON
import Mounts
import OCISpec
import Syscalls

/// A warm pool: containers created ahead of time from one bundle, `size` of them waiting in
/// `created`, named NAME-<n> (the lowest free n first). Starting one is a fast start; the pool is refilled by a
/// detached child of that same command, so no daemon stays resident. The pool's bundle, size
/// and members live in <root>/.pool-NAME.json. A member is known by that record (its id and
/// creation time), never by its name: a container named NAME-<n> that the pool did not create
/// is never counted, started or deleted by it.
public struct PoolRequest: Sendable {
    public var name: String
    public var bundle: String
    public var size: Int

    public init(name: String, bundle: String, size: Int) {
        self.name = name
        self.bundle = bundle
        self.size = size
    }
}

/// One recorded member: its id and the creation time its state recorded, which a container
/// created later under the same id does not share.
struct PoolMember: Sendable {
    var id: String
    var created: String
}

/// What <root>/.pool-NAME.json holds.
struct PoolRecord: Sendable {
    var request: PoolRequest
    var members: [PoolMember]

    var json: JSON {
        var o = JSONObjectBuilder()
        o.add("bundle", request.bundle)
        o.add("size", Int64(request.size))
        o.add("members", JSON.array(members.map { m in
            var e = JSONObjectBuilder()
            e.add("id", m.id)
            e.add("created", m.created)
            return e.json
        }))
        return o.json
    }
}

extension Runtime {
    func poolFile(_ name: String) -> String { store.root + "/.pool-" + name + ".json" }

    func memberID(_ name: String, _ index: Int) -> String { name + "-" + String(index) }

    /// Records the pool and creates the members that are missing; stopped members are
    /// deleted first (they have been used).
    public func fillPool(_ r: PoolRequest) throws(SwiftletError) {
        try validateContainerID(r.name)
        try validateContainerID(memberID(r.name, r.size - 1))
        try store.ensureRoot()
        let bundle = try realPath(r.bundle, stage: .config)
        let lock = try lockPool(r.name, existing: false)
        defer { lock.close() }
        let members = pathExists(poolFile(r.name)) ? try loadPool(r.name).members : []
        let record = PoolRecord(request: PoolRequest(name: r.name, bundle: bundle, size: r.size), members: members)
        try writeFileAtomically(poolFile(r.name), record.json.serialized(), stage: .state)
        try refillLocked(r.name)
    }

    func loadPool(_ name: String) throws(SwiftletError) -> PoolRecord {
        try validateContainerID(name)
        let text: String
        do throws(SwiftletError) {
            text = try readTextFile(poolFile(name), stage: .state)
        } catch {
            throw SwiftletError(.state, "pool does not exist: " + name + " (create it with pool fill)", errno: ENOENT)
        }
        let n = Node(try JSON.parse(text, source: "pool"), path: "pool")
        var members: [PoolMember] = []
        if let list = n["members"] {
            for item in try list.array() {
                let id = try item.required("id").string()
                try validateContainerID(id)
                members.append(PoolMember(id: id, created: try item.required("created").string()))
            }
        }
        let request = PoolRequest(name: name, bundle: try n.required("bundle").string(), size: try n.required("size").int())
        return PoolRecord(request: request, members: members)
    }

    func poolLockFile(_ name: String) -> String { store.root + "/.pool-" + name + ".lock" }

    /// Serialises the writers of one pool's record (fill, refill, drain) across processes. The
    /// lock file goes with the pool at drain; a waiter that wakes on a removed file retries.
    /// With `existing`, a pool that is gone (drained meanwhile) is an error and leaves no lock file.
    func lockPool(_ name: String, existing: Bool) throws(SwiftletError) -> FileDescriptor {
        let path = poolLockFile(name)
        while true {
            let fd = try FileDescriptor.open(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600, stage: .state)
            while flock(fd.raw, LOCK_EX) != 0 {
                if cl_errno() == EINTR { continue }
                let e = SwiftletError.system(.state, "lock " + path)
                fd.close()
                throw e
            }
            var held = stat()
            var named = stat()
            guard fstat(fd.raw, &held) == 0, lstat(path, &named) == 0, held.st_ino == named.st_ino,
                  held.st_dev == named.st_dev else {
                fd.close()
                continue
            }
            if existing && !pathExists(poolFile(name)) {
                unlink(path)
                fd.close()
                throw SwiftletError(.state, "pool does not exist: " + name + " (create it with pool fill)", errno: ENOENT)
            }
            return fd
        }
    }

    /// The recorded members that still are the containers the pool created, sorted by n.
    func members(_ record: PoolRecord) -> [(index: Int, member: PoolMember, container: Container)] {
        var found: [(index: Int, member: PoolMember, container: Container)] = []
        let prefix = record.request.name + "-"
        for m in record.members where m.id.hasBytePrefix(prefix) {
            guard let n = parseInt(String(m.id.utf8.dropFirst(prefix.utf8.count))!), n >= 0,
                  let c = try? load(m.id), let r = c.record, r.created.bytesEqual(m.created) else { continue }
            found.append((n, m, c))
        }
        return found.sorted { $0.index < $1.index }
    }

    /// Deletes members that have stopped, then creates members at the lowest free indices
    /// until `size` of them wait in `created` (members still running keep their names).
    /// Each new member is recorded as soon as it exists.
    public func refill(_ name: String) throws(SwiftletError) {
        let lock = try lockPool(name, existing: true)
        defer { lock.close() }
        try refillLocked(name)
    }

    private func refillLocked(_ name: String) throws(SwiftletError) {
        var record = try loadPool(name)
        var kept: [PoolMember] = []
        var taken: [Int] = []
        var ready = 0
        for m in members(record) {
            if m.container.status == .stopped {
                try delete(m.member.id, force: true)
                continue
            }
            kept.append(m.member)
            taken.append(m.index)
            if m.container.status == .created { ready += 1 }
        }
        record.members = kept
        try writeFileAtomically(poolFile(name), record.json.serialized(), stage: .state)
        var index = 0
        while ready < record.request.size {
            // An index whose name another container already uses is not the pool's to take.
            while taken.contains(index) || pathExists(store.directory(memberID(name, index))) { index += 1 }
            let id = memberID(name, index)
            let created = try create(CreateRequest(id: id, bundle: record.request.bundle))
            created.signals.restore()
            created.pidfd.close()
            taken.append(index)
            ready += 1
            guard let stamp = (try? load(id))?.record?.created else { continue }
            record.members.append(PoolMember(id: id, created: stamp))
            try writeFileAtomically(poolFile(name), record.json.serialized(), stage: .state)
        }
    }

    /// Starts the first created member with the given replacement and returns its id; then
    /// refills the pool in a detached child so that this call returns at once.
    public func startFromPool(_ name: String, replacement: StartRequest) throws(SwiftletError) -> String {
        let pool = try loadPool(name)
        var chosen: String? = nil
        for m in members(pool) {
            let id = m.member.id
            guard m.container.status == .created else { continue }
            var r = replacement
            r.id = id
            do throws(SwiftletError) {
                try start(r)
                chosen = id
                break
            } catch {
                // A member someone else started meanwhile: try the next one.
                if error.errno == EINVAL, (try? load(id))?.status != .created { continue }
                throw error
            }
        }
        guard let id = chosen else {
            throw SwiftletError(.lifecycle, "pool " + name + " has no created container (pool fill it)", errno: EAGAIN)
        }
        refillInBackground(pool)
        return id
    }

    /// Deletes every member and the pool record.
    public func drainPool(_ name: String) throws(SwiftletError) {
        _ = try loadPool(name)
        let lock = try lockPool(name, existing: true)
        defer { lock.close() }
        for m in members(try loadPool(name)) { try delete(m.member.id, force: true) }
        unlink(poolFile(name))
        unlink(poolLockFile(name))
    }

    func refillInBackground(_ pool: PoolRecord) {
        let pid = fork()
        if pid != 0 { return }
        // The child: its own session, no terminal, nothing of the caller's stdio kept open
        // (a caller reading our output must not wait for the refill).
        _ = setsid()
        let null = cl_open("/dev/null", O_RDWR, 0)
        if null >= 0 {
            dup2(null, 0)
            dup2(null, 1)
            dup2(null, 2)
            if null > 2 { close(null) }
        }
        do throws(SwiftletError) {
            // The members' inits are clones of whatever runs the refill: that must be the
            // read-only image of the runtime, which the re-executed refill runs from. A refill
            // (unlike fill) finds a pool drained meanwhile gone and creates nothing.
            try RuntimeImage.reexec(arguments: [commandName()] + globalArguments + ["pool", "refill", pool.request.name])
        } catch {
            logger.error("pool " + pool.request.name + ": refill: " + error.description)
            _exit(1)
        }
    }
}
