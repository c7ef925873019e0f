import Base
import CLinux
import JSON
import Mounts
import OCISpec
import Syscalls

/// A warm pool: containers created ahead of time from one bundle, `size` of them waiting in
/// `created`, named NAME-<n> (the lowest free n first). Starting one is a fast start; the pool is refilled by a
/// detached child of that same command, so no daemon stays resident. The pool's bundle
/// and size live in <root>/.pool-NAME.json.
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
        var o = JSONObjectBuilder()
        o.add("bundle", bundle)
        o.add("size", Int64(r.size))
        try writeFileAtomically(poolFile(r.name), o.json.serialized(), stage: .state)
        try refill(PoolRequest(name: r.name, bundle: bundle, size: r.size))
    }

    func loadPool(_ name: String) throws(SwiftletError) -> PoolRequest {
        try validateContainerID(name)
        let text: String
        do throws(SwiftletError) {
            text = try readTextFile(poolFile(name), stage: .state)
        } catch {
            throw SwiftletError(.state, "pool does not exist: " + name + " (create it with pool fill)", errno: ENOENT)
        }
        let n = Node(try JSON.parse(text, source: "pool"), path: "pool")
        return PoolRequest(name: name, bundle: try n.required("bundle").string(), size: try n.required("size").int())
    }

    /// The pool's members: NAME-<n> for any n, sorted by n.
    func members(_ name: String) -> [(index: Int, id: String)] {
        var found: [(index: Int, id: String)] = []
        let prefix = name + "-"
        for id in store.ids() where id.hasBytePrefix(prefix) {
            if let n = parseInt(String(id.utf8.dropFirst(prefix.utf8.count))!), n >= 0 { found.append((n, id)) }
        }
        return found.sorted { $0.index < $1.index }
    }

    /// Deletes members that have stopped, then creates members at the lowest free indices
    /// until `size` of them wait in `created` (members still running keep their names).
    func refill(_ pool: PoolRequest) throws(SwiftletError) {
        var taken: [Int] = []
        var ready = 0
        for m in members(pool.name) {
            guard let c = try? load(m.id) else { continue }
            if c.status == .stopped {
                try delete(m.id, force: true)
                continue
            }
            taken.append(m.index)
            if c.status == .created { ready += 1 }
        }
        var index = 0
        while ready < pool.size {
            while taken.contains(index) { index += 1 }
            let created = try create(CreateRequest(id: memberID(pool.name, index), bundle: pool.bundle))
            created.signals.restore()
            created.pidfd.close()
            taken.append(index)
            ready += 1
        }
    }

    /// Starts the first created member with the given replacement and returns its id; then
    /// refills the pool in a detached child so that this call returns at once.
    public func startFromPool(_ name: String, replacement: StartRequest) throws(SwiftletError) -> String {
        let pool = try loadPool(name)
        var chosen: String? = nil
        for m in members(name) {
            let id = m.id
            guard let c = try? load(id), c.status == .created else { continue }
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
        for m in members(name) { try delete(m.id, force: true) }
        unlink(poolFile(name))
    }

    func refillInBackground(_ pool: PoolRequest) {
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
            // read-only image of the runtime, which `pool fill` is started from.
            try RuntimeImage.reexec(arguments: [commandName()] + globalArguments
                                    + ["pool", "fill", "--bundle", pool.bundle, "--size", String(pool.size), pool.name])
        } catch {
            logger.error("pool " + pool.name + ": refill: " + error.description)
            _exit(1)
        }
    }
}
