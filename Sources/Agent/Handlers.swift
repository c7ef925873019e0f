import Base
import CLinux
import JSON

// The notification handlers: each decides one kind of notified call by the container's
// policy entry and, when allowed, has the container's helper make it. The loop that
// receives the notifications and sends the answers is in Agent.swift (serve).

/// The answer to one notification.
enum Answer {
    case value(Int64)
    case error(Int32)
    case continueCall
    /// The notification is no longer valid (task died, call interrupted): nothing to send.
    case gone
}

/// One decision as logged.
struct Decision {
    var answer: Answer
    var decision: String
    var rule: String? = nil
    var reason: String? = nil
    var path: String? = nil
}

/// One notified call, as the loop hands it to a handler.
struct NotifiedCall {
    let container: AttachedContainer
    let id: UInt64
    let pid: UInt32
    let nr: Int32
    let args: [UInt64]
    /// The container's policy entry; nil: none matches it.
    let entry: ContainerPolicy?
}

/// The notifying task as a handler acts on it, once reached (see withCaller).
struct Caller {
    let task: Task
    let credentials: TaskCredentials
    /// The caller as rule conditions see it.
    let facts: CallerFacts
}

enum Admission {
    case entry(ContainerPolicy)
    case answer(Decision)
}

/// The rules a handler checks its calls against, one kind per handler.
enum RuleKind {
    case mount, umount2, mknod, gpio

    func present(in entry: ContainerPolicy) -> Bool {
        switch self {
        case .mount: return !entry.mounts.isEmpty
        case .umount2: return !entry.umounts.isEmpty
        case .mknod: return !entry.mknods.isEmpty
        case .gpio: return !entry.gpio.isEmpty
        }
    }

    /// As the policy names them.
    var name: String {
        switch self {
        case .mount: return "mount"
        case .umount2: return "umount2"
        case .mknod: return "mknod"
        case .gpio: return "gpio"
        }
    }
}

extension AgentLoop {
    // MARK: The start every handler shares

    /// The answer of `entry`'s generic rule for syscall `nr`, nil without one (the loop
    /// answers calls no handler takes by it too).
    func generic(_ nr: Int32, entry: ContainerPolicy?) -> Decision? {
        guard let rule = entry?.syscallRule(nr) else { return nil }
        switch rule.action {
        case .allow(let v): return Decision(answer: .value(v), decision: "allow", rule: rule.name)
        case .deny(let e): return Decision(answer: .error(e), decision: "deny", rule: rule.name)
        case .continueCall: return Decision(answer: .continueCall, decision: "continue", rule: rule.name)
        }
    }

    /// The policy entry `call` is checked against, or the answer that ends it first, in this
    /// order: without an entry the call is denied; the entry's generic rule for its syscall
    /// answers it (if `byGenericRule`; the policy rejects one that would contradict the
    /// handler's rules); without any rule of the handler's kind it is denied.
    func admit(_ call: NotifiedCall, byGenericRule: Bool = true, rules: RuleKind) -> Admission {
        guard let entry = call.entry else { return .answer(Decision(answer: .error(EPERM), decision: "deny", reason: "no policy entry")) }
        if byGenericRule, let d = generic(call.nr, entry: entry) { return .answer(d) }
        if !rules.present(in: entry) { return .answer(Decision(answer: .error(EPERM), decision: "deny", reason: "no " + rules.name + " rule")) }
        return .entry(entry)
    }

    /// Runs `body` on the task behind `call`, reached through /proc (Task.open: its fds first,
    /// then the notification checked, so a reused pid is never acted upon), with its
    /// credentials and the facts `entry`'s conditions see; closes the task's fds after it.
    /// `userNamespace`: whether to act as root of the task's user namespace; `extra`: the
    /// files beyond those (uid_map is added when the entry's conditions name uids).
    func withCaller(_ call: NotifiedCall, entry: ContainerPolicy, userNamespace: Bool, extra: Task.Extra = [],
                    _ body: (Caller) -> Decision) -> Decision {
        switch reachCaller(call, entry: entry, userNamespace: userNamespace, extra: extra) {
        case .answer(let d):
            return d
        case .caller(let caller):
            defer { caller.task.close() }
            return body(caller)
        }
    }

    enum Reached {
        case caller(Caller)
        case answer(Decision)
    }

    // One copy: withCaller is specialized for each handler's body.
    @inline(never)
    func reachCaller(_ call: NotifiedCall, entry: ContainerPolicy, userNamespace: Bool, extra: Task.Extra) -> Reached {
        let task: Task
        var files = entry.namesUids ? extra.union(.uidMap) : extra
        if call.container.peerUID != nil { files.insert(.userNamespaceIdentity) }
        switch Task.open(pid: call.pid, notifyFD: call.container.notifyFD, id: call.id, withUserNamespace: userNamespace,
                         ownUserNamespace: ownUserNamespace, extra: files, files: call.container.taskFiles,
                         verified: call.container.peerUID != nil ? call.container.verifiedNamespaces : nil) {
        case .task(let t):
            // A rootless runtime's container: the task must live in namespaces its user made.
            if let uid = call.container.peerUID,
               let refusal = userTaskRefusal(pid: t.pid, mountNamespace: t.mountNamespace,
                                             userNamespaceIdentity: t.userNamespaceIdentity, uid: uid,
                                             container: call.container, id: call.id,
                                             mountNamespaceIdentity: t.mountNamespaceIdentity) {
                t.close()
                return .answer(refusal)
            }
            task = t
        case .gone: return .answer(Decision(answer: .gone, decision: "none", reason: "task gone"))
        case .failed(let e): return .answer(Decision(answer: .error(EPERM), decision: "deny", reason: "cannot reach task: " + errnoText(e)))
        }
        guard let creds = task.credentials() else {
            task.close()
            return .answer(Decision(answer: .gone, decision: "none", reason: "task gone"))
        }
        return .caller(Caller(task: task, credentials: creds, facts: callerFacts(task, creds, entry: entry)))
    }

    // MARK: The handlers and what they share

    func handleMount(_ call: NotifiedCall, logArgs: inout JSONObjectBuilder) -> Decision {
        let args = call.args
        logArgs.add("flags", .string("0x" + hex(args[3])))
        let entry: ContainerPolicy
        switch admit(call, rules: .mount) {
        case .entry(let e): entry = e
        case .answer(let d): return d
        }
        let disk = entry.mounts.contains { $0.devices != nil }
        return withCaller(call, entry: entry, userNamespace: entry.userNamespace, extra: disk ? [.cgroup] : []) { caller in
            decideMount(call, caller, entry: entry, logArgs: &logArgs)
        }
    }

    /// handleMount once the task is reached.
    func decideMount(_ call: NotifiedCall, _ caller: Caller, entry: ContainerPolicy, logArgs: inout JSONObjectBuilder) -> Decision {
        let args = call.args, task = caller.task
        // Copied once; everything below checks and uses only these copies.
        let source = task.string(at: args[0])
        let target = task.string(at: args[1])
        let fstype = task.string(at: args[2])
        let data = task.string(at: args[4])
        logArgs.add("source", source.json)
        logArgs.add("target", target.json)
        logArgs.add("fstype", fstype.json)
        logArgs.add("data", data.json)
        let flags = effectiveMountFlags(args[3])
        guard case .text(let targetText, _) = target else { return copyFailure(target) }
        var request = MountRequest(source: nil, target: "", fstype: nil, flags: flags, data: nil)
        switch source { case .text(let s, _): request.source = s; case .null: break; default: return copyFailure(source) }
        switch fstype { case .text(let s, _): request.fstype = s; case .null: break; default: return copyFailure(fstype) }
        switch data { case .text(let s, _): request.data = s; case .null: break; default: return copyFailure(data) }
        request.caller = caller.facts
        let helper = task.userNamespace >= 0 ? call.container.userHelper : call.container.hostHelper
        switch resolve(targetText, task: task, dirfd: AT_FDCWD, helper: helper) {
        case .success(let p): request.target = p
        case .failure(let e): return Decision(answer: .error(e.value), decision: "deny", reason: "cannot resolve target")
        }
        if flags & msBind != 0, let s = request.source {
            switch resolve(s, task: task, dirfd: AT_FDCWD, helper: helper) {
            case .success(let p): request.bindSource = p
            case .failure(let e): return Decision(answer: .error(e.value), decision: "deny", reason: "cannot resolve source")
            }
        }
        // A disk file system's source is never looked up by the kernel in the container:
        // the agent opens it below the task's root without following a symlink, and what
        // it found (a block device, its numbers) is what the rule and the mount use.
        var deviceFD: Int32 = -1
        defer { if deviceFD >= 0 { _ = close(deviceFD) } }
        if flags & msBind == 0, let type = request.fstype, !isPseudoFileSystem(type), let s = request.source {
            switch resolve(s, task: task, dirfd: AT_FDCWD, helper: helper) {
            case .success(let p): request.devicePath = p
            case .failure(let e): return Decision(answer: .error(e.value), decision: "deny", reason: "cannot resolve source")
            }
            deviceFD = cl_agent_open_beneath(task.root, request.devicePath!, O_PATH)
            var major: UInt32 = 0, minor: UInt32 = 0
            if deviceFD >= 0 && cl_agent_block_device(deviceFD, &major, &minor) == 0 {
                request.device = BlockDevice(major: major, minor: minor)
                logArgs.add("device", .string(String(major) + ":" + String(minor)))
            }
        }
        switch checkMount(request, rules: entry.mounts) {
        case .denied(let reason):
            return Decision(answer: .error(EPERM), decision: "deny", reason: reason, path: request.target)
        case .allowed(let rule):
            var procFD: Int32 = -1
            defer { if procFD >= 0 { _ = close(procFD) } }
            if let device = request.device {
                if let refusal = deviceCgroupRefusal(task, device, write: flags & msRdonly == 0) {
                    return Decision(answer: .error(EPERM), decision: "deny", rule: rule, reason: refusal, path: request.target)
                }
                procFD = cl_agent_open_procfs()
                if procFD < 0 {
                    return Decision(answer: .error(EPERM), decision: "deny", rule: rule, reason: "no procfs", path: request.target)
                }
            }
            let dev = request.device.map { cl_makedev($0.major, $0.minor) } ?? 0
            return perform(call, task: task, helper: helper, rule: rule, path: request.target) {
                performMount(task, request, helper: helper, deviceFD: deviceFD, dev: dev, procFD: procFD)
            }
        }
    }

    /// The caller as rule conditions see it.
    func callerFacts(_ task: Task, _ creds: TaskCredentials, entry: ContainerPolicy) -> CallerFacts {
        var uid: UInt32? = nil
        if entry.namesUids, let map = task.read(task.uidMap) { uid = idInNamespace(creds.euid, map: map) }
        return CallerFacts(uid: uid, capabilities: creds.capEff, noNewPrivileges: creds.noNewPrivs)
    }

    /// Why the task's device cgroup would refuse it `device` (read, and write unless
    /// read-only), nil if it grants it. Read from the cgroup v1 devices controller;
    /// without one (a cgroup2-only host, whose eBPF device programs cannot be read back),
    /// or with a list in default-allow mode (whose denials are not listed), refused.
    func deviceCgroupRefusal(_ task: Task, _ device: BlockDevice, write: Bool) -> String? {
        guard let text = task.read(task.cgroup) else { return "cannot read the caller's cgroup" }
        var path: String? = nil
        for line in String(decoding: text, as: UTF8.self).split(byte: 10) {
            // "ID:controllers:path"; the path may hold colons itself.
            let fields = line.split(byte: UInt8(ascii: ":"))
            if fields.count >= 3, fields[1].split(byte: UInt8(ascii: ",")).contains(where: { $0.bytesEqual("devices") }) {
                path = join(Array(fields[2...]), ":")
            }
        }
        guard let path, path.hasBytePrefix("/"), normalizePath(path, cwd: "/")?.bytesEqual(path) == true else {
            return "no cgroup v1 devices controller for the caller: its device cgroup cannot be read"
        }
        let hierarchy = cl_open("/sys/fs/cgroup/devices", O_PATH | O_DIRECTORY | O_CLOEXEC, 0)
        if hierarchy < 0 { return "no cgroup v1 devices hierarchy at /sys/fs/cgroup/devices" }
        defer { _ = close(hierarchy) }
        let list = cl_agent_open_beneath(hierarchy, path + "/devices.list", O_RDONLY)
        if list < 0 { return "cannot read devices.list of the caller's cgroup" }
        defer { _ = close(list) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { CLinux.read(list, $0.baseAddress, $0.count) }
            if n < 0 { return "cannot read devices.list of the caller's cgroup" }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        switch deviceListAllows(String(decoding: bytes, as: UTF8.self), device: device, write: write) {
        case .some(true): return nil
        case .some(false): return "device " + String(device.major) + ":" + String(device.minor) + " refused by the caller's device cgroup"
        case nil: return "the caller's device cgroup allows by default; its exceptions cannot be read"
        }
    }

    func performMount(_ task: Task, _ r: MountRequest, helper: ContainerHelper, deviceFD: Int32, dev: UInt64, procFD: Int32) -> Int32 {
        withOptionalCString(r.source) { source in
            withOptionalCString(r.bindSource) { bindSource in
                withOptionalCString(r.fstype) { fstype in
                    withOptionalCString(r.data) { data in
                        cl_agent_mount(&helper.raw, task.root, r.target, source, bindSource,
                                       fstype, UInt(r.flags), data.map { UnsafeRawPointer($0) },
                                       deviceFD, dev, procFD, helperTimeoutMS)
                    }
                }
            }
        }
    }

    func handleUmount(_ call: NotifiedCall, logArgs: inout JSONObjectBuilder) -> Decision {
        let flags = Int32(truncatingIfNeeded: call.args[1])
        logArgs.add("flags", .string("0x" + hex(UInt64(UInt32(bitPattern: flags)))))
        let entry: ContainerPolicy
        switch admit(call, rules: .umount2) {
        case .entry(let e): entry = e
        case .answer(let d): return d
        }
        return withCaller(call, entry: entry, userNamespace: entry.userNamespace) { caller in
            let task = caller.task
            let target = task.string(at: call.args[0])
            logArgs.add("target", target.json)
            guard case .text(let targetText, _) = target else { return copyFailure(target) }
            let path: String
            let helper = task.userNamespace >= 0 ? call.container.userHelper : call.container.hostHelper
            switch resolve(targetText, task: task, dirfd: AT_FDCWD, helper: helper) {
            case .success(let p): path = p
            case .failure(let e): return Decision(answer: .error(e.value), decision: "deny", reason: "cannot resolve target")
            }
            // UMOUNT_NOFOLLOW is always added by the helper; asking for it is harmless.
            switch checkUmount(target: path, flags: flags & ~8, rules: entry.umounts, caller: caller.facts) {
            case .denied(let reason):
                return Decision(answer: .error(EPERM), decision: "deny", reason: reason, path: path)
            case .allowed(let rule):
                return perform(call, task: task, helper: helper, rule: rule, path: path) {
                    cl_agent_umount(&helper.raw, task.root, path, flags & ~8, helperTimeoutMS)
                }
            }
        }
    }

    func handleMknod(_ call: NotifiedCall, logArgs: inout JSONObjectBuilder) -> Decision {
        let at = call.nr == mknodatNr
        let a = at ? Array(call.args[1...]) : call.args
        let dirfd = at ? Int32(truncatingIfNeeded: call.args[0]) : AT_FDCWD
        let mode = UInt32(truncatingIfNeeded: a[1])
        // The kernel takes a 32-bit dev in its "new" encoding.
        let dev = UInt32(truncatingIfNeeded: a[2])
        let major = (dev & 0xfff00) >> 8
        let minor = (dev & 0xff) | ((dev >> 12) & 0xfff00)
        if at { logArgs.add("dirfd", .int(dirfd)) }
        logArgs.add("mode", .string("0" + octal(mode)))
        logArgs.add("dev", .string(String(major) + ":" + String(minor)))
        let entry: ContainerPolicy
        switch admit(call, rules: .mknod) {
        case .entry(let e): entry = e
        case .answer(let d): return d
        }
        guard let kind = NodeKind(modeBits: mode) else {
            return Decision(answer: .error(EINVAL), decision: "deny", reason: "invalid node type")
        }
        let devMajor = kind.hasDevice ? major : 0, devMinor = kind.hasDevice ? minor : 0
        // Type and device decide most refusals without reading the task at all.
        if case .denied(let reason) = checkMknod(path: nil, kind: kind, major: devMajor, minor: devMinor, rules: entry.mknods) {
            return Decision(answer: .error(EPERM), decision: "deny", reason: reason)
        }
        let host = call.container.hostHelper
        return withCaller(call, entry: entry, userNamespace: false) { caller in
            let task = caller.task, creds = caller.credentials
            let pathArg = task.string(at: a[0])
            logArgs.add("path", pathArg.json)
            guard case .text(let pathText, _) = pathArg else { return copyFailure(pathArg) }
            let path: String
            switch resolve(pathText, task: task, dirfd: dirfd, helper: host) {
            case .success(let p): path = p
            case .failure(let e): return Decision(answer: .error(e.value), decision: "deny", reason: "cannot resolve path")
            }
            switch checkMknod(path: path, kind: kind, major: devMajor, minor: devMinor, rules: entry.mknods, caller: caller.facts) {
            case .denied(let reason):
                return Decision(answer: .error(EPERM), decision: "deny", reason: reason, path: path)
            case .allowed(let rule):
                // Permission bits only (no set-id or sticky bits on nodes made for a container), less the umask.
                let finalMode = kind.modeBits | (mode & 0o777 & ~creds.umask)
                if let made = mknodInAgent(call, task: task, path: path, mode: finalMode,
                                           dev: cl_makedev(devMajor, devMinor), creds: creds, rule: rule) {
                    return made
                }
                let groups = join(creds.groups.map { String($0) }, " ")
                if groups.utf8.count >= 4096 {
                    return Decision(answer: .error(EPERM), decision: "deny", reason: "too many supplementary groups", path: path)
                }
                return perform(call, task: task, helper: host, rule: rule, path: path) {
                    cl_agent_mknod(&host.raw, task.root, path, finalMode, cl_makedev(devMajor, devMinor),
                                   creds.fsuid, creds.fsgid, groups, helperTimeoutMS)
                }
            }
        }
    }

    /// An allowed call, made by `helper`. The helper is made ready first (on a first call
    /// that is a fork), so that the notification's validity is checked right before the call.
    func perform(_ call: NotifiedCall, task: Task, helper: ContainerHelper, rule: String, path: String,
                 _ action: () -> Int32) -> Decision {
        let ready = helper.ready(for: task)
        if cl_agent_notif_id_valid(call.container.notifyFD, call.id) != 0 {
            return Decision(answer: .gone, decision: "allow", rule: rule, reason: "task gone", path: path)
        }
        let e = ready != 0 ? ready : action()
        return Decision(answer: e == 0 ? .value(0) : .error(e), decision: "allow", rule: rule, path: path)
    }

    /// An allowed mknod whose parent directory is on a tmpfs or ramfs (/dev, /tmp), made by the
    /// agent itself as the caller (cl_agent_mknod_here): the helper's round trip is most of a
    /// performed call's time. nil: not such a place, the helper makes it.
    func mknodInAgent(_ call: NotifiedCall, task: Task, path: String, mode: UInt32, dev: UInt64,
                      creds: TaskCredentials, rule: String) -> Decision? {
        let c = call.container
        if cl_agent_notif_id_valid(c.notifyFD, call.id) != 0 {
            return Decision(answer: .gone, decision: "allow", rule: rule, reason: "task gone", path: path)
        }
        var learned: UInt64 = 0
        let e = creds.groups.withUnsafeBufferPointer { groups in
            c.memoryMounts.withUnsafeBufferPointer { known in
                cl_agent_mknod_here(task.root, task.mountNamespace, path, mode, dev, creds.fsuid, creds.fsgid,
                                    groups.baseAddress, groups.count, known.baseAddress, known.count, &learned)
            }
        }
        if learned != 0 {
            if c.memoryMounts.count >= 16 { c.memoryMounts.removeFirst() }
            c.memoryMounts.append(learned)
        }
        if e < 0 { return nil }
        return Decision(answer: e == 0 ? .value(0) : .error(e), decision: "allow", rule: rule, path: path)
    }

    /// A copied path argument as a normalized container path.
    func resolve(_ path: String, task: Task, dirfd: Int32, helper: ContainerHelper) -> Result<String, AgentErrno> {
        if path.isEmpty { return .failure(AgentErrno(ENOENT)) }
        var base = "/"
        if !path.hasBytePrefix("/") {
            switch task.directoryPath(dirfd: dirfd, helper: helper) {
            case .success(let p): base = p
            case .failure(let e): return .failure(e)
            }
        }
        guard let normal = normalizePath(path, cwd: base) else { return .failure(AgentErrno(ENAMETOOLONG)) }
        return .success(normal)
    }

    func copyFailure(_ c: Copied) -> Decision {
        switch c {
        case .tooLong: return Decision(answer: .error(ENAMETOOLONG), decision: "deny", reason: "argument too long")
        case .null: return Decision(answer: .error(EFAULT), decision: "deny", reason: "null argument")
        case .gone: return Decision(answer: .gone, decision: "none", reason: "task gone")
        default: return Decision(answer: .error(EFAULT), decision: "deny", reason: "argument unreadable")
        }
    }
}

func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}
