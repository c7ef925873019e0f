import Base
import CLinux
import JSON
import OCISpec
import Syscalls

/// A warm pool: containers created ahead of time from one bundle, waiting in `created`,
/// named NAME-0 ... NAME-(size-1). Starting one is a fast start; the pool is refilled by a
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

    func refill(_ pool: PoolRequest) throws(SwiftletError) {
        for i in 0..<pool.size {
            let id = memberID(pool.name, i)
            if let c = try? load(id) {
                if c.status != .stopped { continue }
                try delete(id, force: true)
            }
            var req = CreateRequest(id: id, bundle: pool.bundle)
            req.noNewKeyring = false
            let created = try create(req)
            created.signals.restore()
            created.pidfd.close()
        }
    }

    /// Starts the first created member with the given replacement and returns its id; then
    /// refills the pool in a detached child so that this call returns at once.
    public func startFromPool(_ name: String, replacement: StartRequest) throws(SwiftletError) -> String {
        let pool = try loadPool(name)
        var chosen: String? = nil
        for i in 0..<pool.size {
            let id = memberID(name, i)
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
        let pool = try loadPool(name)
        for i in 0..<pool.size { try delete(memberID(name, i), force: true) }
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
            try refill(pool)
            _exit(0)
        } catch {
            logger.error("pool " + pool.name + ": refill: " + error.description)
            _exit(1)
        }
    }
}
