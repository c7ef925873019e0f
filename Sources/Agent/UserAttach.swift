import Base
import CLinux
import JSON
import OCISpec
import Syscalls

// Rootless runtimes attach through the agent's user socket (--user-socket, mode 0666). What
// they claim (id, annotations, metadata) is theirs to choose anyway, as is their config:
// what the agent trusts is the kernel's word on who connected (SO_PEERCRED) and, for every
// call it performs, that the calling task lives in a user namespace and a mount namespace
// that user made. Only policy entries naming that user apply ("match": {"users": [UID]}).

/// The user socket: anyone may connect, the peer's uid decides the rest.
func listenUserSocket(_ path: String) throws(SwiftletError) -> UnixSocket {
    try removeStaleSocket(path)
    let mask = umask(0o111)
    defer { umask(mask) }
    let socket = try UnixSocket.listen(path: path, backlog: 128, stage: .agent)
    if chmod(path, 0o666) != 0 {
        socket.close()
        throw .system(.agent, "chmod 0666 " + path)
    }
    return socket
}

/// The uid of a user-socket peer; root is told to use the root socket.
func userPeer(_ conn: UnixSocket) -> Result<UInt32, AgentErrno> {
    var pid: Int32 = 0, uid: UInt32 = 0
    if cl_agent_peer_credentials(conn.fd.raw, &pid, &uid) != 0 { return .failure(AgentErrno(cl_errno())) }
    if uid == 0 { return .failure(AgentErrno(EPERM)) }
    return .success(uid)
}

/// What a rootless runtime's container process state says: id, annotations and metadata,
/// or why it is refused.
func checkUserAttach(_ root: Node, uid: UInt32, pid: Int32, agentUserNamespace: (UInt64, UInt64)) -> AttachCheck {
    let state: Node
    let annotations: [(String, String)]
    var metadata: String?
    do throws(SwiftletError) {
        state = try root.required("state")
        annotations = try state["annotations"]?.stringMap() ?? []
        metadata = try root["metadata"]?.string()
    } catch {
        return .refused(error.message)
    }
    if metadata?.isEmpty == true { metadata = nil }
    // Checked again for every call; refusing early keeps a host process's fd out.
    if let refusal = foreignNamespaceRefusal(pid: UInt32(bitPattern: pid), mountNamespace: nil, uid: uid,
                                             agentUserNamespace: agentUserNamespace) {
        return .refused(refusal)
    }
    return .accepted(annotations: annotations, metadata: metadata)
}

/// nil when task `pid` is in a user namespace made by `uid` (a child of the agent's own,
/// or below one) and so is its mount namespace (`mountNamespace`, else the task's own);
/// otherwise why not. A task in the host's namespaces, or another user's, is refused: the
/// agent would act with host privilege where that user has none.
func foreignNamespaceRefusal(pid: UInt32, mountNamespace: Int32?, uid: UInt32,
                             agentUserNamespace: (UInt64, UInt64)) -> String? {
    let userNamespace = cl_open("/proc/" + String(pid) + "/ns/user", O_RDONLY | O_CLOEXEC, 0)
    if userNamespace < 0 { return "cannot open the task's user namespace: " + errnoText(cl_errno()) }
    defer { _ = close(userNamespace) }
    var mount = mountNamespace ?? -1
    if mountNamespace == nil {
        mount = cl_open("/proc/" + String(pid) + "/ns/mnt", O_RDONLY | O_CLOEXEC, 0)
        if mount < 0 { return "cannot open the task's mount namespace: " + errnoText(cl_errno()) }
    }
    defer { if mountNamespace == nil { _ = close(mount) } }
    return foreignNamespaceRefusal(userNamespace: userNamespace, mountNamespace: mount, uid: uid,
                                   agentUserNamespace: agentUserNamespace)
}

/// The same for namespaces already open.
func foreignNamespaceRefusal(userNamespace: Int32, mountNamespace: Int32, uid: UInt32,
                             agentUserNamespace: (UInt64, UInt64)) -> String? {
    let mountOwner = cl_agent_ns_owning_userns(mountNamespace)
    if mountOwner < 0 { return "cannot find the owner of the task's mount namespace: " + errnoText(cl_errno()) }
    defer { _ = close(mountOwner) }
    guard let tasks = topUserNamespace(userNamespace, below: agentUserNamespace) else {
        return "the task is not in a user namespace of its own"
    }
    guard tasks.owner == uid else {
        return "the task's user namespace belongs to uid " + String(tasks.owner) + ", not to uid " + String(uid)
    }
    guard let mounts = topUserNamespace(mountOwner, below: agentUserNamespace), mounts.owner == uid,
          mounts.identity == tasks.identity else {
        return "the task's mount namespace is not one of uid " + String(uid) + "'s user namespaces"
    }
    return nil
}

/// The (user, mount) namespace pairs of one rootless container already found to be its
/// user's: what foreignNamespaceRefusal checks are fixed facts of the namespaces, so a
/// task in a known pair needs no new walk. The pairs' fds are held: a living namespace's
/// (st_dev, st_ino) cannot be given to another one, so an identity seen here again is the
/// same namespace. Few pairs (a container rarely makes namespaces); the oldest goes first.
final class VerifiedNamespaces {
    struct Pair {
        let user: (UInt64, UInt64)
        let mount: (UInt64, UInt64)
        let userFD: Int32
        let mountFD: Int32
    }
    private(set) var pairs: [Pair] = []
    static let limit = 8

    func contains(user: (UInt64, UInt64), mount: (UInt64, UInt64)) -> Bool {
        pairs.contains { $0.user == user && $0.mount == mount }
    }

    /// The held fd of the pair's mount namespace (the pair's, not to be closed), nil if unknown.
    func mountFD(user: (UInt64, UInt64), mount: (UInt64, UInt64)) -> Int32? {
        pairs.first { $0.user == user && $0.mount == mount }?.mountFD
    }

    /// Keeps the pair; takes over both fds.
    func add(userFD: Int32, mountFD: Int32) {
        guard let user = fileIdentity(userFD), let mount = fileIdentity(mountFD), !contains(user: user, mount: mount) else {
            _ = close(userFD)
            _ = close(mountFD)
            return
        }
        if pairs.count >= VerifiedNamespaces.limit {
            _ = close(pairs[0].userFD)
            _ = close(pairs[0].mountFD)
            pairs.removeFirst()
        }
        pairs.append(Pair(user: user, mount: mount, userFD: userFD, mountFD: mountFD))
    }

    deinit {
        for p in pairs {
            _ = close(p.userFD)
            _ = close(p.mountFD)
        }
    }
}

/// The ancestor of user namespace `fd` (or itself) whose parent is `agent`'s, with its
/// owner's uid; nil for `agent`'s own namespace or one outside it.
func topUserNamespace(_ fd: Int32, below agent: (UInt64, UInt64)) -> (identity: (UInt64, UInt64), owner: UInt32)? {
    guard let first = fileIdentity(fd), first != agent else { return nil }
    var current = cl_fcntl_int(fd, F_DUPFD_CLOEXEC, 0)
    if current < 0 { return nil }
    defer { _ = close(current) }
    // User namespaces nest at most 32 deep.
    for _ in 0..<33 {
        let parent = cl_agent_ns_parent(current)
        if parent < 0 { return nil }
        guard let parentIdentity = fileIdentity(parent) else { _ = close(parent); return nil }
        if parentIdentity == agent {
            _ = close(parent)
            var owner: UInt32 = 0
            guard let identity = fileIdentity(current), cl_agent_ns_owner_uid(current, &owner) == 0 else { return nil }
            return (identity, owner)
        }
        _ = close(current)
        current = parent
    }
    return nil
}

extension AgentLoop {
    /// Containers (attached, or connections not yet attached) one user may have at once. Each
    /// holds agent fds (its notify fd; for GPIO up to 8 pidfds and 8 chips; up to 8 verified
    /// namespace pairs): without a bound one user could take all of the agent's fds, and root's
    /// containers could then no longer attach.
    static let userContainerLimit = 32

    /// Serves rootless runtimes on `path` as well.
    func serveUsers(on path: String) throws(SwiftletError) {
        // Room for every user's bounded share: the soft fd limit up to the hard one.
        var soft: UInt64 = 0, hard: UInt64 = 0
        if cl_getrlimit_pid(0, 7 /* RLIMIT_NOFILE */, &soft, &hard) == 0 && soft < hard {
            _ = cl_prlimit(0, 7, hard, hard)
        }
        let socket = try listenUserSocket(path)
        if cl_agent_epoll_add(epoll, socket.fd.raw, UInt32(EPOLLIN.rawValue), AgentLoop.userListenerToken) != 0 {
            socket.close()
            _ = unlink(path)
            throw .system(.agent, "epoll_ctl")
        }
        userListener = socket
        userSocketPath = path
    }

    func acceptUserConnection() {
        guard let listener = userListener else { return }
        let conn: UnixSocket
        do throws(SwiftletError) {
            conn = try listener.accept(stage: .agent)
        } catch {
            logError("accept on the user socket", errno: error.errno)
            return
        }
        let uid: UInt32
        switch userPeer(conn) {
        case .success(let u): uid = u
        case .failure(let e):
            logError(e.value == EPERM ? "refused root on the user socket (root uses --socket)" : "cannot read peer credentials",
                     errno: e.value)
            conn.close()
            return
        }
        let held = connections.reduce(0) { $0 + ($1?.peerUID == uid ? 1 : 0) }
            + containers.reduce(0) { $0 + ($1?.peerUID == uid ? 1 : 0) }
        if held >= AgentLoop.userContainerLimit {
            logError("refused uid " + String(uid) + ": it has " + String(AgentLoop.userContainerLimit)
                     + " containers attached or attaching", errno: EMFILE)
            conn.close()
            return
        }
        let slot = freeSlot(&connections)
        let pending = PendingConnection(conn)
        pending.peerUID = uid
        connections[slot] = pending
        if cl_agent_epoll_add(epoll, conn.fd.raw, UInt32(EPOLLIN.rawValue), AgentLoop.connectionKind << 32 | UInt64(slot)) != 0 {
            logError("epoll_ctl connection", errno: cl_errno())
            dropConnection(slot)
        }
    }

    /// For a rootless runtime's container: the denial when the calling task is not in
    /// namespaces of that user (checked after opening, then the notification again, so a
    /// reused pid is never judged in its place). A pair of namespaces found to be the user's
    /// is remembered (VerifiedNamespaces): the task's user namespace, seen by Task.open
    /// before it checked the notification, and the mount namespace it opened.
    /// `mountNamespace` and `userNamespaceIdentity` are the task's, opened (stat'ed) before
    /// the notification was last found valid; `mountNamespaceIdentity`, the mount namespace's
    /// identity when already known (Task.open read it).
    func userTaskRefusal(pid: UInt32, mountNamespace: Int32, userNamespaceIdentity: (UInt64, UInt64)?, uid: UInt32,
                         container: AttachedContainer, id: UInt64,
                         mountNamespaceIdentity: (UInt64, UInt64)? = nil) -> Decision? {
        let notifyFD = container.notifyFD
        guard let mount = mountNamespaceIdentity ?? fileIdentity(mountNamespace) else {
            return Decision(answer: .error(EPERM), decision: "deny", reason: "cannot identify the task's mount namespace")
        }
        if let user = userNamespaceIdentity, container.verifiedNamespaces.contains(user: user, mount: mount) { return nil }
        let userNamespace = cl_open("/proc/" + String(pid) + "/ns/user", O_RDONLY | O_CLOEXEC, 0)
        if userNamespace < 0 {
            if cl_agent_notif_id_valid(notifyFD, id) != 0 { return Decision(answer: .gone, decision: "none", reason: "task gone") }
            return Decision(answer: .error(EPERM), decision: "deny",
                            reason: "cannot open the task's user namespace: " + errnoText(cl_errno()))
        }
        let refusal = foreignNamespaceRefusal(userNamespace: userNamespace, mountNamespace: mountNamespace, uid: uid,
                                              agentUserNamespace: ownUserNamespace)
        if cl_agent_notif_id_valid(notifyFD, id) != 0 {
            _ = close(userNamespace)
            return Decision(answer: .gone, decision: "none", reason: "task gone")
        }
        if let refusal {
            _ = close(userNamespace)
            return Decision(answer: .error(EPERM), decision: "deny", reason: refusal)
        }
        let mountCopy = cl_fcntl_int(mountNamespace, F_DUPFD_CLOEXEC, 0)
        if mountCopy < 0 { _ = close(userNamespace) } else { container.verifiedNamespaces.add(userFD: userNamespace, mountFD: mountCopy) }
        return nil
    }
}
