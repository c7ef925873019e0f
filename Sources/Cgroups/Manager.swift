import Base
import CLinux
import JSON
import OCISpec
import Syscalls

/// The cgroup of one container across every mounted hierarchy: v1 (one directory per
/// hierarchy, name=systemd included), v2 (one directory), or hybrid (both: v1 for the
/// controllers it holds, the cgroup2 mount for the rest, e.g. hugetlb on a fresh Debian).
///
/// All paths derive from the layout, so a layout parsed with a fake fsRoot drives a fake tree.
/// The manager holds no open files or state beyond its paths: `create` and `delete` may run in
/// different processes and rebuild it from the same config.
///
/// Order for a new container: `create()`, `apply(resources)`, then `join(pid:)`, or faster
/// (see `openSelfJoinFiles`): CLONE_INTO_CGROUP into `v2Directory()` and `joinSelf` in the child.
public struct CgroupManager: Sendable {
    public let layout: CgroupLayout
    /// The container's cgroup path, the same in every hierarchy (see `CgroupPath`).
    public let path: String
    let v1Dirs: [V1Member]
    let unifiedDir: CgroupDir?

    struct V1Member: Sendable {
        let hierarchy: CgroupHierarchy
        let dir: CgroupDir
    }

    public init(layout: CgroupLayout, cgroupsPath: String?, containerID: String, systemd: Bool) throws(SwiftletError) {
        self.layout = layout
        path = try CgroupPath.resolve(cgroupsPath, containerID: containerID, systemd: systemd)
        switch layout.mode {
        case .v2:
            guard layout.unified != nil else { throw SwiftletError(.cgroups, "no cgroup2 hierarchy is mounted") }
        case .v1, .hybrid:
            guard !layout.v1.isEmpty else { throw SwiftletError(.cgroups, "no cgroup hierarchy is mounted") }
        }
        let p = path
        v1Dirs = layout.v1.map { V1Member(hierarchy: $0, dir: CgroupDir($0.path + p)) }
        unifiedDir = layout.unified.map { CgroupDir($0.path + p) }
    }

    public var mode: CgroupMode { layout.mode }

    /// The container's cgroup directory in every hierarchy, for the container's
    /// /sys/fs/cgroup: v1 hierarchies by mount directory name ("cpu,cpuacct", "memory",
    /// "systemd"), the cgroup2 one as "unified".
    public var bindSources: [(name: String, hostPath: String)] {
        var out: [(name: String, hostPath: String)] = v1Dirs.map { ($0.hierarchy.name, $0.dir.path) }
        if let u = unifiedDir { out.append(("unified", u.path)) }
        return out
    }

    /// The cgroup2 directory (v2 and hybrid), for clone3(CLONE_INTO_CGROUP). In hybrid mode
    /// that places the child in the cgroup2 hierarchy only; join the v1 ones with
    /// `join(pid:includeUnified: false)`.
    public var v2Path: String? { unifiedDir?.path }

    /// True if the container's cgroup exists in any hierarchy (e.g. left by a failed create).
    public func exists() -> Bool {
        v1Dirs.contains { $0.dir.exists } || (unifiedDir?.exists ?? false)
    }

    // MARK: create

    /// Creates the cgroup in every hierarchy; on v2 enables the available controllers in
    /// each ancestor's cgroup.subtree_control. Existing directories are reused, but one that
    /// already holds processes is refused: it belongs to something else.
    /// In hybrid mode a cgroup2 mount that refuses the directory (read-only, no permission)
    /// is skipped: v1 holds the controllers that matter, and whatever needs cgroup2 later
    /// (hugetlb limits on this kind of host) fails then, by name.
    /// `owner`: the init systemd already placed in the directories it made (systemd driver).
    public func create(owner: Int32? = nil) throws(SwiftletError) {
        for m in v1Dirs {
            try makeV1(m, owner: owner)
        }
        if let u = layout.unified, let dir = unifiedDir {
            if layout.mode == .v2 {
                try makeUnified(u, dir, owner: owner)
            } else {
                do throws(SwiftletError) { try makeUnified(u, dir, owner: owner) } catch {
                    if error.errno != EROFS && error.errno != EACCES && error.errno != EPERM { throw error }
                }
            }
        }
    }

    private func makeV1(_ m: V1Member, owner: Int32?) throws(SwiftletError) {
        let cpuset = m.hierarchy.has("cpuset")
        let leaf = m.dir
        if mkdir(leaf.path, 0o755) == 0 {
            if cpuset { try initCpuset(leaf, base: m.hierarchy.path) }
            return
        }
        let e = cl_errno()
        if e == EEXIST {
            try checkReusable(leaf, owner: owner)
            if cpuset { try initCpuset(leaf, base: m.hierarchy.path) }
            return
        }
        if e != ENOENT { throw SwiftletError(.cgroups, "mkdir " + leaf.path, errno: e) }
        // Missing ancestors: create them top-down (each new cpuset level needs cpus/mems).
        // A delete removing an emptied "/swiftlet" parent at the same moment makes a mkdir
        // fail with ENOENT: start again from the top.
        var attempt = 0
        creating: while true {
            var current = m.hierarchy.path
            for component in path.split(byte: 47) where !component.isEmpty {
                current += "/" + component
                if mkdir(current, 0o755) != 0 && cl_errno() != EEXIST {
                    if cl_errno() == ENOENT && attempt < 3 { attempt += 1; continue creating }
                    throw .system(.cgroups, "mkdir " + current)
                }
            }
            break
        }
        if cpuset { try initCpuset(leaf, base: m.hierarchy.path) }
    }

    /// A new v1 cpuset cgroup starts with empty cpus and mems, and no task can join it until
    /// they are set: copy them from the parent, initialising ancestors first if needed.
    private func initCpuset(_ dir: CgroupDir, base: String) throws(SwiftletError) {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            try initCpusetFile(dir, file, base: base)
        }
    }

    private func initCpusetFile(_ dir: CgroupDir, _ file: String, base: String) throws(SwiftletError) {
        if !(try dir.read(file)).trimmed().isEmpty { return }
        guard dir.path.utf8.count > base.utf8.count, let parentPath = parentDirectory(dir.path) else { return }
        let parent = CgroupDir(parentPath)
        var value = (try parent.read(file)).trimmed()
        if value.isEmpty && parentPath.utf8.count > base.utf8.count {
            try initCpusetFile(parent, file, base: base)
            value = (try parent.read(file)).trimmed()
        }
        try dir.write(file, value)
    }

    private func checkReusable(_ dir: CgroupDir, owner: Int32?) throws(SwiftletError) {
        guard isDirectory(dir.path) else {
            throw SwiftletError(.cgroups, "cgroup " + dir.path + " exists and is not a directory", errno: ENOTDIR)
        }
        let procs = ((try? dir.procs()) ?? []).filter { $0 != owner }
        if !procs.isEmpty {
            throw SwiftletError(.cgroups, "cgroup " + dir.path + " is already in use by " + String(procs.count) + " process(es)")
        }
    }

    private func makeUnified(_ mount: CgroupHierarchy, _ leaf: CgroupDir, owner: Int32?) throws(SwiftletError) {
        if owner != nil && isDirectory(leaf.path) {
            // systemd made it and enabled the controllers its unit needs: its ancestors are
            // systemd's, not ours to change.
            return try checkReusable(leaf, owner: owner)
        }
        if mount.controllers.isEmpty {
            // Nothing to delegate (hybrid layouts where v1 holds every controller).
            if mkdir(leaf.path, 0o755) == 0 { return }
            let e = cl_errno()
            if e == EEXIST { try checkReusable(leaf, owner: owner); return }
            if e != ENOENT { throw SwiftletError(.cgroups, "mkdir " + leaf.path, errno: e) }
            try makeDirectories(leaf.path, stage: .cgroups)
            return
        }
        var dir = CgroupDir(mount.path)
        var available = mount.controllers
        let components = path.split(byte: 47).filter { !$0.isEmpty }
        for (i, component) in components.enumerated() {
            if !available.isEmpty { available = enableControllers(dir, available) }
            dir = dir.child(component)
            if mkdir(dir.path, 0o755) != 0 {
                let e = cl_errno()
                if e != EEXIST { throw SwiftletError(.cgroups, "mkdir " + dir.path, errno: e) }
                if i == components.count - 1 { try checkReusable(dir, owner: owner) }
            }
        }
    }

    /// Makes `wanted` available to the children of `dir`; returns what its children get.
    /// A controller the kernel refuses (e.g. a cgroup with processes, or cpu while an RT
    /// task runs there) is left out, as runc does: limits needing it fail later, by name.
    private func enableControllers(_ dir: CgroupDir, _ wanted: [String]) -> [String] {
        let enabled = words(dir.readIfPresent("cgroup.subtree_control") ?? "")
        let missing = wanted.filter { w in !enabled.contains { $0.bytesEqual(w) } }
        if missing.isEmpty { return wanted }
        if (try? dir.write("cgroup.subtree_control", Base.join(missing.map { "+" + $0 }, " "))) == nil {
            for c in missing { _ = try? dir.write("cgroup.subtree_control", "+" + c) }
        }
        let now = words(dir.readIfPresent("cgroup.subtree_control") ?? "")
        return wanted.filter { w in now.contains { $0.bytesEqual(w) } }
    }

    // MARK: join

    /// A new container's init joins its cgroup without the kernel's global lock.
    ///
    /// Writing another process's pid to cgroup.procs takes cgroup_threadgroup_rwsem for
    /// writing, which waits for an RCU grace period: 5-15 ms per create on a loaded host, the
    /// largest part of cgroup setup. A thread that moves itself ("0" to a v1 `tasks` file)
    /// skips that lock, and clone3's CLONE_INTO_CGROUP places a child in a cgroup2 directory
    /// without it. So the runtime opens the files here (the kernel checks the opener's
    /// credentials, so this works from inside a user namespace too), the init writes "0"
    /// through them before doing anything else (`joinSelf`), and cgroup2 is entered at clone
    /// through `v2Directory()`.
    public func openSelfJoinFiles() throws(SwiftletError) -> [FileDescriptor] {
        var files: [FileDescriptor] = []
        for m in v1Dirs {
            let fd = cl_open(m.dir.file("tasks"), O_WRONLY | O_CLOEXEC, 0)
            if fd < 0 {
                let error = SwiftletError.system(.cgroups, "open " + m.dir.file("tasks"))
                for f in files { f.close() }
                throw error
            }
            files.append(FileDescriptor(fd))
        }
        return files
    }

    /// The init's side of `openSelfJoinFiles`: moves the calling (single-threaded) process.
    public static func joinSelf(through files: [Int32]) throws(SwiftletError) {
        for fd in files {
            while CLinux.write(fd, "0", 1) < 0 {
                if cl_errno() == EINTR { continue }
                throw .system(.cgroups, "join the container's cgroup (write 0 to tasks)")
            }
        }
    }

    /// The cgroup2 directory, opened for clone3's CLONE_INTO_CGROUP; nil without one (or in
    /// hybrid mode when the cgroup2 mount refused the directory).
    public func v2Directory() -> FileDescriptor? {
        guard let u = unifiedDir else { return nil }
        let fd = cl_open(u.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        return fd < 0 ? nil : FileDescriptor(fd)
    }

    /// After a clone that could not use CLONE_INTO_CGROUP: moves `pid` into the cgroup2
    /// directory (v2 and hybrid); a no-op for pure v1.
    public func joinUnified(pid: Int32) throws(SwiftletError) {
        guard let u = unifiedDir else { return }
        do throws(SwiftletError) { try writeProcs(u, pid) } catch {
            // Hybrid: the cgroup2 directory is optional (see create).
            if layout.mode == .v2 || error.errno != ENOENT { throw error }
        }
    }

    /// Moves `pid` (and so its future children) into the cgroup in every hierarchy.
    public func join(pid: Int32, includeUnified: Bool = true) throws(SwiftletError) {
        for m in v1Dirs { try writeProcs(m.dir, pid) }
        if includeUnified { try joinUnified(pid: pid) }
    }

    /// `exec --cgroup`: moves `pid` into the given sub-cgroups of the container's cgroup,
    /// which must exist (as in runc); hierarchies no entry names get the container's cgroup.
    /// In hybrid mode a cgroup2 sub-cgroup that does not exist is not required: the
    /// controllers there are few and the v1 hierarchies are what `--cgroup` means.
    public func join(pid: Int32, sub: SubCgroups) throws(SwiftletError) {
        if sub.isEmpty { return try join(pid: pid) }
        for (c, _) in sub.paths where !c.isEmpty {
            let known = v1Dirs.contains { $0.hierarchy.has(c) }
                || (layout.unified?.controllers.contains { $0.bytesEqual(c) } ?? false)
            if !known { throw SwiftletError(.cgroups, "--cgroup: unknown controller " + c, errno: EINVAL) }
        }
        for m in v1Dirs { try writeSub(m.dir, sub.path(for: m.hierarchy.controllers), pid) }
        if let u = unifiedDir, let mount = layout.unified {
            let wanted = sub.path(for: mount.controllers)
            if layout.mode == .hybrid, let p = wanted, !isDirectory(u.child(p).path) {
                try joinUnified(pid: pid)
            } else {
                try writeSub(u, wanted, pid)
            }
        }
    }

    private func writeSub(_ dir: CgroupDir, _ sub: String?, _ pid: Int32) throws(SwiftletError) {
        guard let sub, !sub.isEmpty else { return try writeProcs(dir, pid) }
        let target = dir.child(sub)
        guard isDirectory(target.path) else {
            throw SwiftletError(.cgroups, "--cgroup: sub-cgroup " + target.path + " does not exist", errno: ENOENT)
        }
        try writeProcs(target, pid)
    }

    private func writeProcs(_ dir: CgroupDir, _ pid: Int32) throws(SwiftletError) {
        var attempt = 0
        while true {
            do throws(SwiftletError) {
                try dir.write("cgroup.procs", String(pid))
                return
            } catch {
                if error.errno == EACCES || error.errno == EPERM, let why = unifiedMoveRefusal(dir, pid) {
                    throw SwiftletError(.cgroups, error.message + ": " + why, errno: error.errno)
                }
                // EINVAL while the task is still being created (TASK_NEW): try again shortly.
                attempt += 1
                if error.errno != EINVAL || attempt >= 5 { throw error }
                sleepMilliseconds(10)
            }
        }
    }

    /// Why cgroup2 refused to move `pid` into `dir` although its cgroup.procs could be
    /// opened (a delegated subtree): the kernel moves a process only for a writer that may
    /// also write cgroup.procs of the common ancestor of both cgroups. nil when that is not it.
    private func unifiedMoveRefusal(_ dir: CgroupDir, _ pid: Int32) -> String? {
        guard let mount = layout.unified, dir.path.hasBytePrefix(mount.path + "/"),
              let text = try? readTextFile("/proc/" + String(pid) + "/cgroup", stage: .cgroups),
              let line = text.split(byte: 10).first(where: { $0.hasBytePrefix("0::/") }) else { return nil }
        let from = String(decoding: Array(line.utf8).dropFirst(3), as: UTF8.self)
        let to = String(decoding: Array(dir.path.utf8).dropFirst(mount.path.utf8.count), as: UTF8.self)
        let ancestor = CgroupPath.commonAncestor(from, to)
        guard access(mount.path + ancestor + (ancestor.bytesEqual("/") ? "" : "/") + "cgroup.procs", W_OK) != 0 else { return nil }
        return "moving it from " + from + " needs write access to cgroup.procs of their common ancestor " + ancestor
            + " (run swiftlet from a cgroup inside the delegated subtree)"
    }

    // MARK: destroy

    /// Removes the cgroup (and any cgroups the container made below it) from every
    /// hierarchy. Missing directories are fine, so a half-created container cleans up. If
    /// processes are still inside (a container that died mid-create, or escaped children),
    /// they are thawed and killed, and removal is retried for about 1.5 s.
    public func destroy() throws(SwiftletError) {
        dropRealtime()
        var pending: [CgroupDir] = []
        for dir in allDirs where !(try removeTree(dir)) { pending.append(dir) }
        if pending.isEmpty { removeEmptySwiftletParents(); releaseRealtime(); return }
        killLeftovers(pending)
        var delay = 5
        for _ in 0..<12 {
            sleepMilliseconds(delay)
            delay = min(delay * 2, 200)
            var still: [CgroupDir] = []
            for dir in pending where !(try removeTree(dir)) { still.append(dir) }
            pending = still
            if pending.isEmpty { removeEmptySwiftletParents(); releaseRealtime(); return }
            killLeftovers(pending)
        }
        throw SwiftletError(.cgroups, "remove cgroup " + pending[0].path, errno: EBUSY)
    }

    /// The parents swiftlet made for relative and default paths ("/swiftlet/...") go when
    /// the last container in them does, so that nothing of swiftlet's stays on the host.
    /// A parent still in use fails rmdir with EBUSY and stays; a create racing with this
    /// recreates it (see makeV1). Parents of absolute paths are the caller's: never touched.
    private func removeEmptySwiftletParents() {
        guard path.hasBytePrefix(CgroupPath.parent + "/") else { return }
        var bases = v1Dirs.map { $0.hierarchy.path }
        if let u = layout.unified, unifiedDir != nil { bases.append(u.path) }
        var parts = path.split(byte: 47).filter { !$0.isEmpty }
        parts.removeLast()
        while !parts.isEmpty {
            let ancestor = "/" + Base.join(parts, "/")
            var removedAll = true
            for base in bases where rmdir(base + ancestor) != 0 && cl_errno() != ENOENT { removedAll = false }
            if !removedAll { return }
            parts.removeLast()
        }
    }

    var allDirs: [CgroupDir] {
        var dirs = v1Dirs.map { $0.dir }
        if let u = unifiedDir { dirs.append(u) }
        return dirs
    }

    /// rmdir bottom-up; false while something is still busy.
    private func removeTree(_ dir: CgroupDir) throws(SwiftletError) -> Bool {
        if rmdir(dir.path) == 0 { return true }
        var e = cl_errno()
        if e == ENOENT { return true }
        if e != EBUSY && e != ENOTEMPTY { throw SwiftletError(.cgroups, "remove cgroup " + dir.path, errno: e) }
        var childrenGone = true
        for sub in dir.subdirectories() where !(try removeTree(sub)) { childrenGone = false }
        if !childrenGone { return false }
        if rmdir(dir.path) == 0 { return true }
        e = cl_errno()
        if e == ENOENT { return true }
        if e == EBUSY || e == ENOTEMPTY { return false }
        throw SwiftletError(.cgroups, "remove cgroup " + dir.path, errno: e)
    }

    private func killLeftovers(_ dirs: [CgroupDir]) {
        _ = try? thaw()
        for dir in dirs {
            for d in dir.walk() {
                for pid in (try? d.procs()) ?? [] where pid > 0 { _ = kill(pid, SIGKILL) }
            }
        }
    }

    // MARK: freezer

    enum Freezer { case v1(CgroupDir), v2(CgroupDir), none }

    var freezer: Freezer {
        if let m = v1Dirs.first(where: { $0.hierarchy.has("freezer") }) { return .v1(m.dir) }
        if let u = unifiedDir { return .v2(u) }
        return .none
    }

    /// Freezes every process of the container (v1 freezer.state, v2 cgroup.freeze) and waits
    /// until the kernel reports the cgroup frozen (about 2 s at most).
    public func freeze() throws(SwiftletError) {
        switch freezer {
        case .v1(let dir):
            try dir.write("freezer.state", "FROZEN")
            for i in 0..<1000 {
                let state = (try dir.read("freezer.state")).trimmed()
                if state.bytesEqual("FROZEN") { return }
                // A freeze can stall on tasks in uninterruptible sleep; asking again helps.
                if i % 100 == 99 { try dir.write("freezer.state", "FROZEN") }
                sleepMilliseconds(i < 10 ? 1 : 2)
            }
            _ = try? dir.write("freezer.state", "THAWED")
            throw SwiftletError(.cgroups, "timed out freezing " + dir.path, errno: EBUSY)
        case .v2(let dir):
            try dir.write("cgroup.freeze", "1")
            for i in 0..<1000 {
                if dir.value("frozen", in: "cgroup.events") == 1 { return }
                sleepMilliseconds(i < 10 ? 1 : 2)
            }
            _ = try? dir.write("cgroup.freeze", "0")
            throw SwiftletError(.cgroups, "timed out freezing " + dir.path, errno: EBUSY)
        case .none:
            throw SwiftletError(.cgroups, "pause requires the freezer controller (v1) or cgroup v2, neither is mounted")
        }
    }

    public func thaw() throws(SwiftletError) {
        switch freezer {
        case .v1(let dir): try dir.write("freezer.state", "THAWED")
        case .v2(let dir): try dir.write("cgroup.freeze", "0")
        case .none:
            throw SwiftletError(.cgroups, "resume requires the freezer controller (v1) or cgroup v2, neither is mounted")
        }
    }

    /// Refuses a cgroup that is frozen or freezing (itself or through an ancestor): the init
    /// would stop as it joins, and create would wait for it forever.
    public func refuseFrozen() throws(SwiftletError) {
        switch freezer {
        case .v1(let dir):
            let state = dir.readIfPresent("freezer.state")?.trimmed() ?? "THAWED"
            if state.bytesEqual("THAWED") { return }
            throw SwiftletError(.cgroups, "cgroup " + dir.path + " is " + state + ": thaw it first", errno: EBUSY)
        case .v2(let dir):
            if dir.value("frozen", in: "cgroup.events") != 1
                && !(dir.readIfPresent("cgroup.freeze")?.trimmed().bytesEqual("1") ?? false) { return }
            throw SwiftletError(.cgroups, "cgroup " + dir.path + " is frozen: thaw it first", errno: EBUSY)
        case .none:
            return
        }
    }

    /// True once the kernel reports the cgroup frozen (not while still freezing).
    public func isFrozen() -> Bool {
        switch freezer {
        case .v1(let dir):
            return dir.readIfPresent("freezer.state")?.trimmed().bytesEqual("FROZEN") ?? false
        case .v2(let dir):
            return dir.value("frozen", in: "cgroup.events") == 1
        case .none:
            return false
        }
    }

    // MARK: processes

    /// The directory whose cgroup.procs lists the container's processes.
    var processDir: CgroupDir {
        if layout.mode == .v2, let u = unifiedDir { return u }
        for name in ["pids", "freezer", "devices", "memory", "cpu"] {
            if let m = v1Dirs.first(where: { $0.hierarchy.has(name) }) { return m.dir }
        }
        return v1Dirs.first?.dir ?? unifiedDir!
    }

    /// Every process in the container's cgroup and the cgroups below it.
    public func pids() throws(SwiftletError) -> [Int32] {
        let top = processDir
        var out = try top.procs()
        for d in top.walk().dropFirst() {
            out.append(contentsOf: (try? d.procs()) ?? [])
        }
        return out
    }

    /// Sends `signal` to every process of the container. SIGKILL on cgroup v2 is one write
    /// to cgroup.kill; otherwise, like runc, the cgroup is frozen so nothing forks while the
    /// pids are read and signalled, then thawed (a paused container stays paused unless the
    /// signal is SIGKILL, which needs the thaw to take effect).
    public func killAll(signal: Int32) throws(SwiftletError) {
        if signal == SIGKILL, layout.mode == .v2, let u = unifiedDir, u.has("cgroup.kill") {
            try u.write("cgroup.kill", "1")
            return
        }
        let wasFrozen = isFrozen()
        var froze = false
        if !wasFrozen {
            froze = (try? freeze()) != nil
        }
        let list: [Int32]
        do throws(SwiftletError) {
            list = try pids()
        } catch {
            if froze { _ = try? thaw() }
            throw error
        }
        for pid in list where pid > 0 {
            if kill(pid, signal) != 0 && cl_errno() != ESRCH {
                let e = SwiftletError.system(.cgroups, "kill " + String(pid))
                if froze { _ = try? thaw() }
                throw e
            }
        }
        if froze || (wasFrozen && signal == SIGKILL) { try thaw() }
    }

    /// How many times the kernel's OOM killer killed a process of the container (for
    /// `events` "oom" notifications).
    public func oomKillCount() -> UInt64 {
        if let m = v1Dirs.first(where: { $0.hierarchy.has("memory") }) {
            return m.dir.value("oom_kill", in: "memory.oom_control") ?? 0
        }
        if let u = unifiedDir, layout.unified?.has("memory") ?? false {
            return u.value("oom_kill", in: "memory.events") ?? 0
        }
        return 0
    }
}

func parentDirectory(_ path: String) -> String? {
    let bytes = Array(path.utf8)
    guard let slash = bytes.lastIndex(of: 47), slash > 0 else { return nil }
    return String(decoding: bytes[..<slash], as: UTF8.self)
}
