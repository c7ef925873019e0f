import Base
import Capabilities
import CLinux
import Mounts
import Namespaces
import OCISpec
import Syscalls

// Each probe tries the feature for real in a throwaway child (see `inChild`), so the
// answer reflects this kernel, its boot options, any LSM or seccomp policy around us and
// the caller's privileges, not a kernel config that may be absent or lie.

/// The namespaces probed, in the order the report lists them.
let probedNamespaces: [NamespaceKind] = [.mount, .pid, .network, .ipc, .uts, .user, .cgroup, .time]

/// Who runs the check. An unprivileged caller gets namespaces the way a rootless
/// runtime would: inside a new user namespace of its own.
struct Caller {
    var uid: UInt32
    var gid: UInt32
    var euid: UInt32
    var egid: UInt32
    var privileged: Bool

    static func current(effectiveCapabilities: UInt64?) -> Caller {
        let sysAdmin: UInt64 = 1 << 21
        let privileged = effectiveCapabilities.map { $0 & sysAdmin != 0 } ?? (geteuid() == 0)
        return Caller(uid: getuid(), gid: getgid(), euid: geteuid(), egid: getegid(), privileged: privileged)
    }
}

/// "unshare(CLONE_NEWPID)" style detail for a failure: the failing step and its errno.
func describe(_ outcome: ChildOutcome, steps: [String]) -> String {
    switch outcome {
    case .replied(let r):
        let step = r.step >= 0 && Int(r.step) < steps.count ? steps[Int(r.step)] : "step " + String(r.step)
        return r.errno == 0 ? step : step + ": " + errnoText(r.errno)
    case .lost(let why):
        return "probe child " + why
    }
}

func succeeded(_ outcome: ChildOutcome) -> ChildReply? {
    if case .replied(let r) = outcome, r.errno == 0 { return r }
    return nil
}

func failedErrno(_ outcome: ChildOutcome) -> Int32? {
    if case .replied(let r) = outcome, r.errno != 0 { return r.errno }
    return nil
}

// MARK: - Child-side helpers (run only in a probe child)

/// Unshares `flags`; for an unprivileged caller inside a new user namespace that maps
/// the caller to root, as a rootless runtime does. Steps 0 (unshare) and 1 (id maps).
func enterNamespaces(_ flags: Int32, caller: Caller) -> ChildReply? {
    if caller.privileged {
        return unshare(flags) == 0 ? nil : .failed(0)
    }
    if unshare(flags | CLONE_NEWUSER) != 0 { return .failed(0) }
    do throws(SwiftletError) {
        try writeFile("/proc/self/setgroups", "deny")
        try writeFile("/proc/self/uid_map", "0 " + String(caller.euid) + " 1\n")
        try writeFile("/proc/self/gid_map", "0 " + String(caller.egid) + " 1\n")
    } catch {
        return ChildReply(step: 1, errno: error.errno == 0 ? EIO : error.errno)
    }
    return nil
}

/// Directories that exist on any system, for a scratch tmpfs in a private mount namespace.
let scratchCandidates = ["/tmp", "/mnt", "/run", "/var/tmp", "/dev"]

/// A private mount namespace with a fresh tmpfs on a directory that exists on any system
/// (hiding it only in this namespace). Steps 0-1 (namespaces), 2 (making "/" private, so
/// nothing propagates to the host; nothing is mounted if it fails), 3 (no directory), 4 (tmpfs).
func scratchTmpfs(caller: Caller, namespacesEntered: Bool = false) -> (dir: String?, failure: ChildReply?) {
    if !namespacesEntered, let failure = enterNamespaces(CLONE_NEWNS, caller: caller) { return (nil, failure) }
    if mount(nil, "/", nil, MountFlag.recursive | MountFlag.private, nil) != 0 {
        return (nil, .failed(2))
    }
    var dir: String? = nil
    for candidate in scratchCandidates {
        var st = stat()
        if lstat(candidate, &st) == 0 && cl_s_isdir(st.st_mode) != 0 { dir = candidate; break }
    }
    guard let dir else { return (nil, ChildReply(step: 3, errno: ENOENT)) }
    let rc = "mode=0700,size=1m".withCString {
        mount("tmpfs", dir, "tmpfs", MountFlag.noSuid | MountFlag.noDev, UnsafeRawPointer($0))
    }
    if rc != 0 { return (nil, .failed(4)) }
    return (dir, nil)
}

let scratchSteps = ["unshare(CLONE_NEWNS)", "write the user namespace id maps", "make / private",
                    "find a directory for a scratch tmpfs", "create a scratch tmpfs"]

// MARK: - Probes

func probeNamespace(name: String, flag: Int32, flagName: String, caller: Caller) -> Probe {
    let probeName = "namespace." + name
    let direct = inChild { unshare(flag) == 0 ? .ok() : .failed(0) }
    if succeeded(direct) != nil {
        return Probe(name: probeName, available: true, detail: "unshare(" + flagName + ")")
    }
    let directDetail = describe(direct, steps: ["unshare(" + flagName + ")"])
    // Without CAP_SYS_ADMIN only a user namespace of one's own grants the others.
    if !caller.privileged && flag != CLONE_NEWUSER && failedErrno(direct) == EPERM {
        let nested = inChild { unshare(flag | CLONE_NEWUSER) == 0 ? .ok() : .failed(0) }
        if succeeded(nested) != nil {
            return Probe(name: probeName, available: true,
                         detail: "unshare(CLONE_NEWUSER|" + flagName + "), inside a new user namespace")
        }
        return Probe(name: probeName, available: false,
                     detail: describe(nested, steps: ["unshare(CLONE_NEWUSER|" + flagName + ")"]))
    }
    return Probe(name: probeName, available: false, detail: directDetail)
}

func probeUnprivilegedUserNamespace(caller: Caller) -> Probe {
    let nobody: UInt32 = 65534
    let asRoot = caller.uid == 0 || caller.euid == 0
    let outcome = inChild {
        if asRoot {
            if setgroups(0, nil) != 0 { return .failed(0) }
            if setresgid(nobody, nobody, nobody) != 0 { return .failed(1) }
            if setresuid(nobody, nobody, nobody) != 0 { return .failed(2) }
        }
        return unshare(CLONE_NEWUSER) == 0 ? .ok() : .failed(3)
    }
    var facts: [String] = []
    for (file, key) in [("/proc/sys/kernel/unprivileged_userns_clone", "kernel.unprivileged_userns_clone"),
                        ("/proc/sys/user/max_user_namespaces", "user.max_user_namespaces"),
                        ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
                         "kernel.apparmor_restrict_unprivileged_userns")] {
        if let value = try? readTextFile(file) { facts.append(key + "=" + value.trimmed()) }
    }
    let who = asRoot ? "as uid 65534" : "as uid " + String(caller.euid)
    var detail: String
    if succeeded(outcome) != nil {
        detail = "unshare(CLONE_NEWUSER) " + who
    } else {
        detail = describe(outcome, steps: ["setgroups", "setresgid 65534", "setresuid 65534",
                                           "unshare(CLONE_NEWUSER) " + who])
    }
    if !facts.isEmpty { detail += "; " + join(facts, ", ") }
    return Probe(name: "userns.unprivileged", available: succeeded(outcome) != nil, detail: detail)
}

/// One classic BPF instruction (struct sock_filter) in host byte order.
func bpfInstruction(code: UInt16, jt: UInt8 = 0, jf: UInt8 = 0, k: UInt32) -> [UInt8] {
    var bytes: [UInt8] = []
    withUnsafeBytes(of: code) { bytes.append(contentsOf: $0) }
    bytes.append(jt)
    bytes.append(jf)
    withUnsafeBytes(of: k) { bytes.append(contentsOf: $0) }
    return bytes
}

/// `return SECCOMP_RET_ALLOW`: a filter that changes nothing but proves loading works.
let allowAllFilter = bpfInstruction(code: 0x06 /* BPF_RET|BPF_K */, k: UInt32(SECCOMP_RET_ALLOW))

func probeSeccomp() -> Probe {
    let outcome = inChild {
        // An unprivileged caller needs no_new_privs to load a filter; it is harmless here.
        if cl_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 { return .failed(0) }
        let rc = allowAllFilter.withUnsafeBytes { cl_seccomp_install(0, $0.baseAddress, 1) }
        return rc == 0 ? .ok() : .failed(1)
    }
    let ok = succeeded(outcome) != nil
    var detail = ok ? "filter loaded" : describe(outcome, steps: ["prctl(PR_SET_NO_NEW_PRIVS)", "seccomp(SECCOMP_SET_MODE_FILTER)"])
    if ok {
        let actions: [(String, UInt32)] = [
            ("kill_process", UInt32(SECCOMP_RET_KILL_PROCESS)), ("kill_thread", UInt32(SECCOMP_RET_KILL_THREAD)),
            ("trap", UInt32(SECCOMP_RET_TRAP)), ("errno", UInt32(SECCOMP_RET_ERRNO)),
            ("user_notif", UInt32(SECCOMP_RET_USER_NOTIF)), ("trace", UInt32(SECCOMP_RET_TRACE)),
            ("log", UInt32(SECCOMP_RET_LOG)), ("allow", UInt32(SECCOMP_RET_ALLOW)),
        ]
        var available: [String] = []
        for (name, raw) in actions {
            var action = raw
            if cl_seccomp(UInt32(SECCOMP_GET_ACTION_AVAIL), 0, &action) == 0 { available.append(name) }
        }
        detail += "; actions " + join(available, ", ")
    }
    if let mode = statusField("Seccomp"), !mode.bytesEqual("0") {
        detail += "; the caller already runs under seccomp mode " + mode
    }
    return Probe(name: "seccomp", available: ok, detail: detail)
}

func probeSeccompNotify() -> Probe {
    let outcome = inChild {
        if cl_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 { return .failed(0) }
        let fd = allowAllFilter.withUnsafeBytes {
            cl_seccomp_install(UInt32(SECCOMP_FILTER_FLAG_NEW_LISTENER), $0.baseAddress, 1)
        }
        if fd <= 0 { return .failed(1) }
        // A notify fd answers ID_VALID for an unknown id with ENOENT; anything else is not one.
        if cl_seccomp_notify_id_valid(fd, 0) == 0 || cl_errno() != ENOENT {
            return ChildReply(step: 2, errno: cl_errno() == 0 ? EINVAL : cl_errno())
        }
        return .ok()
    }
    let ok = succeeded(outcome) != nil
    return Probe(name: "seccomp.notify", available: ok,
                 detail: ok ? "SECCOMP_FILTER_FLAG_NEW_LISTENER returned a listener"
                    : describe(outcome, steps: ["prctl(PR_SET_NO_NEW_PRIVS)",
                                                "seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER)",
                                                "SECCOMP_IOCTL_NOTIF_ID_VALID on the listener"]))
}

func probeNoNewPrivs() -> Probe {
    let outcome = inChild {
        if cl_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 { return .failed(0) }
        let now = cl_prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
        return now == 1 ? .ok() : ChildReply(step: 1, errno: now < 0 ? cl_errno() : EINVAL)
    }
    let ok = succeeded(outcome) != nil
    var detail = ok ? "prctl(PR_SET_NO_NEW_PRIVS)"
        : describe(outcome, steps: ["prctl(PR_SET_NO_NEW_PRIVS)", "prctl(PR_GET_NO_NEW_PRIVS) is not 1"])
    if let own = statusField("NoNewPrivs"), own.bytesEqual("1") { detail += "; already set on the caller" }
    return Probe(name: "no_new_privs", available: ok, detail: detail)
}

func probePivotRoot(caller: Caller) -> Probe {
    let outcome = inChild {
        let (dir, failure) = scratchTmpfs(caller: caller)
        if let failure { return failure }
        guard let dir else { return ChildReply(step: 3, errno: ENOENT) }
        if chdir(dir) != 0 { return .failed(5) }
        // The runc idiom: stack the old root under the new one, then detach it. Fails with
        // EINVAL when the current root is the initramfs rootfs or a chroot directory.
        if cl_pivot_root(".", ".") != 0 { return .failed(6) }
        if umount2(".", Int32(MNT_DETACH)) != 0 { return .failed(7) }
        return .ok()
    }
    let ok = succeeded(outcome) != nil
    var detail = "pivot_root into a tmpfs in a new mount namespace"
    if !ok {
        detail = describe(outcome, steps: scratchSteps + ["chdir to the scratch tmpfs", "pivot_root", "detach the old root"])
        if failedErrno(outcome) == EINVAL { detail += " (root is the initramfs rootfs or a chroot: use --no-pivot)" }
    }
    return Probe(name: "pivot_root", available: ok, detail: detail)
}

func probeOverlay(caller: Caller) -> Probe {
    let outcome = inChild {
        if !caller.privileged, let failure = enterNamespaces(CLONE_NEWNS, caller: caller) { return failure }
        var reply = detachedOverlay(userXattr: false)
        // In a user namespace overlayfs may need user.* instead of trusted.* xattrs.
        if reply.errno != 0 && reply.step == 6 && !caller.privileged { reply = detachedOverlay(userXattr: true) }
        // Kernels before the mount API (5.2): mount(2) on a scratch tmpfs instead.
        if reply.errno == ENOSYS && reply.step == 4 { reply = attachedOverlay(caller: caller) }
        return reply
    }
    let ok = succeeded(outcome) != nil
    return Probe(name: "overlayfs", available: ok,
                 detail: ok ? "overlay over a scratch tmpfs, file created in the upper layer"
                    : describe(outcome, steps: scratchSteps + ["mkdir the layers", "mount overlay",
                                                               "create a file in the overlay"]))
}

/// overlayfs over layers in a detached tmpfs, all through the mount API: nothing is
/// attached anywhere, so nothing can propagate to the host, and no directory of the
/// host is needed (a chroot works too). Steps 4-7 of `probeOverlay`.
func detachedOverlay(userXattr: Bool) -> ChildReply {
    let tmpfs = detachedTmpfs()
    if tmpfs < 0 { return .failed(4) }
    for layer in ["lower", "upper", "work"] where mkdirat(tmpfs, layer, 0o700) != 0 { return .failed(5) }
    let overlay = cl_fsopen("overlay", MountAPI.fsopenCloexec)
    if overlay < 0 { return .failed(6) }
    let base = "/proc/self/fd/" + String(tmpfs) + "/"
    for (key, layer) in [("lowerdir", "lower"), ("upperdir", "upper"), ("workdir", "work")] {
        if cl_fsconfig(overlay, MountAPI.fsconfigSetString, key, base + layer, 0) != 0 { return .failed(6) }
    }
    if userXattr && cl_fsconfig(overlay, MountAPI.fsconfigSetFlag, "userxattr", nil, 0) != 0 { return .failed(6) }
    if cl_fsconfig(overlay, MountAPI.fsconfigCreate, nil, nil, 0) != 0 { return .failed(6) }
    let merged = cl_fsmount(overlay, MountAPI.fsmountCloexec, 0)
    if merged < 0 { return .failed(6) }
    // Proves the upper layer works: create a file through the overlay.
    let fd = cl_openat(merged, "probe", O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
    if fd < 0 { return .failed(7) }
    return .ok()
}

/// The same with mount(2) on a scratch tmpfs in a private mount namespace.
func attachedOverlay(caller: Caller) -> ChildReply {
    let (dir, failure) = scratchTmpfs(caller: caller, namespacesEntered: !caller.privileged)
    if let failure { return failure }
    guard let dir else { return ChildReply(step: 3, errno: ENOENT) }
    for sub in ["lower", "upper", "work", "merged"] where mkdir(dir + "/" + sub, 0o700) != 0 { return .failed(5) }
    var options = "lowerdir=" + dir + "/lower,upperdir=" + dir + "/upper,workdir=" + dir + "/work"
    if !caller.privileged { options += ",userxattr" }
    let rc = options.withCString { mount("overlay", dir + "/merged", "overlay", 0, UnsafeRawPointer($0)) }
    if rc != 0 { return .failed(6) }
    let fd = cl_open(dir + "/merged/probe", O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
    if fd < 0 { return .failed(7) }
    return .ok()
}

/// A user namespace fd mapping 0-65535 onto 100000-165535 (for an unprivileged caller,
/// already root of its own user namespace: 0 onto that root), made by a grandchild that
/// unshares it and waits until we hold the fd.
/// Returns the fd or -1 with errno set. Runs in a probe child.
func makeMappedUserNamespace(caller: Caller) -> Int32 {
    var report: [Int32] = [-1, -1]
    var release: [Int32] = [-1, -1]
    if pipe2(&report, O_CLOEXEC) != 0 || pipe2(&release, O_CLOEXEC) != 0 { return -1 }
    let pid = fork()
    if pid < 0 { return -1 }
    if pid == 0 {
        close(report[0])
        close(release[1])
        if unshare(CLONE_NEWUSER) != 0 { _exit(1) }
        var byte: UInt8 = 1
        _ = write(report[1], &byte, 1)
        _ = read(release[0], &byte, 1)
        _exit(0)
    }
    close(report[1])
    close(release[0])
    defer {
        close(release[1])
        close(report[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && cl_errno() == EINTR {}
    }
    var byte: UInt8 = 0
    if read(report[0], &byte, 1) != 1 { cl_set_errno(EPERM); return -1 }
    // Our own pid as /proc names it: after a user-namespace-only unshare it is unchanged.
    let proc = "/proc/" + String(pid)
    let map = caller.privileged ? "0 100000 65536\n" : "0 0 1\n"
    do throws(SwiftletError) {
        if !caller.privileged { try writeFile(proc + "/setgroups", "deny") }
        try writeFile(proc + "/uid_map", map)
        try writeFile(proc + "/gid_map", map)
    } catch {
        cl_set_errno(error.errno == 0 ? EIO : error.errno)
        return -1
    }
    return cl_open(proc + "/ns/user", O_RDONLY | O_CLOEXEC, 0)
}

/// A detached tmpfs mount from the new mount API; -1 and errno on failure.
func detachedTmpfs() -> Int32 {
    let fs = cl_fsopen("tmpfs", MountAPI.fsopenCloexec)
    if fs < 0 { return -1 }
    defer { close(fs) }
    if cl_fsconfig(fs, MountAPI.fsconfigCreate, nil, nil, 0) != 0 { return -1 }
    return cl_fsmount(fs, MountAPI.fsmountCloexec, 0)
}

func probeMountAPI(caller: Caller) -> Probe {
    let outcome = inChild {
        if !caller.privileged, let failure = enterNamespaces(CLONE_NEWNS, caller: caller) { return failure }
        let fd = detachedTmpfs()
        return fd >= 0 ? .ok() : .failed(2)
    }
    let ok = succeeded(outcome) != nil
    return Probe(name: "mount_api", available: ok,
                 detail: ok ? "fsopen, fsconfig and fsmount of a detached tmpfs"
                    : describe(outcome, steps: ["unshare(CLONE_NEWNS)", "write the user namespace id maps",
                                                "fsopen/fsconfig/fsmount tmpfs"]))
}

func probeIdmappedMounts(caller: Caller) -> Probe {
    let outcome = inChild {
        if !caller.privileged, let failure = enterNamespaces(CLONE_NEWNS, caller: caller) { return failure }
        let userns = makeMappedUserNamespace(caller: caller)
        if userns < 0 { return .failed(2) }
        // tmpfs (Linux 6.3+) is what a container's own mounts use; the root file system
        // is the fallback that tells "idmapped mounts exist, but not on tmpfs".
        let tmpfs = detachedTmpfs()
        if tmpfs >= 0,
           cl_mount_setattr(tmpfs, "", MountAPI.atEmptyPath, MountAttr.idmap, 0, 0, UInt64(userns)) == 0 {
            return .ok(1)
        }
        let tree = cl_open_tree(AT_FDCWD, "/", MountAPI.openTreeClone | UInt32(O_CLOEXEC))
        if tree < 0 { return .failed(3) }
        if cl_mount_setattr(tree, "", MountAPI.atEmptyPath, MountAttr.idmap, 0, 0, UInt64(userns)) != 0 {
            return .failed(4)
        }
        return .ok(2)
    }
    if let r = succeeded(outcome) {
        return Probe(name: "idmapped_mounts", available: true,
                     detail: r.value == 1 ? "mount_setattr(MOUNT_ATTR_IDMAP) on a detached tmpfs"
                        : "mount_setattr(MOUNT_ATTR_IDMAP) on the root file system only, not on tmpfs")
    }
    return Probe(name: "idmapped_mounts", available: false,
                 detail: describe(outcome, steps: ["unshare(CLONE_NEWNS)", "write the user namespace id maps",
                                                   "create a mapped user namespace", "open_tree(/)",
                                                   "mount_setattr(MOUNT_ATTR_IDMAP)"]))
}

func probeLandlock() -> (Probe, Int?) {
    let outcome = inChild {
        let abi = cl_landlock_abi_version()
        return abi >= 1 ? .ok(abi) : .failed(0)
    }
    if let r = succeeded(outcome) {
        return (Probe(name: "landlock", available: true, detail: "ABI version " + String(r.value)), Int(r.value))
    }
    var detail = describe(outcome, steps: ["landlock_create_ruleset(LANDLOCK_CREATE_RULESET_VERSION)"])
    switch failedErrno(outcome) {
    case ENOSYS: detail += " (not built into this kernel)"
    case EOPNOTSUPP: detail += " (built in but not enabled: add landlock to lsm= at boot)"
    default: break
    }
    return (Probe(name: "landlock", available: false, detail: detail), nil)
}

// MARK: - Facts read from /proc

/// A field of /proc/self/status ("CapEff", "NoNewPrivs", "Seccomp"), trimmed.
func statusField(_ key: String) -> String? {
    guard let text = try? readTextFile("/proc/self/status") else { return nil }
    for line in text.split(byte: 10) {
        guard let (name, value) = line.splitOnce(byte: 58), name.bytesEqual(key) else { continue }
        return value.trimmed()
    }
    return nil
}

func parseHex64(_ s: String) -> UInt64? {
    let bytes = Array(s.utf8)
    guard !bytes.isEmpty, bytes.count <= 16 else { return nil }
    var v: UInt64 = 0
    for b in bytes {
        let d: UInt8
        switch b {
        case 48...57: d = b - 48
        case 97...102: d = b - 87
        case 65...70: d = b - 55
        default: return nil
        }
        v = v << 4 | UInt64(d)
    }
    return v
}

func capabilityName(_ n: Int) -> String {
    Capabilities.capabilityName(Int32(truncatingIfNeeded: n)) ?? "capability " + String(n)
}

/// "all 41", "all 41 but CAP_SYS_RESOURCE", or "12 of 41".
func describeCapabilitySet(_ mask: UInt64, lastCap: Int) -> String {
    let total = lastCap + 1
    var missing: [String] = []
    for n in 0..<min(total, 64) where mask & (UInt64(1) << UInt64(n)) == 0 { missing.append(capabilityName(n)) }
    if missing.isEmpty { return "all " + String(total) }
    if missing.count <= 4 { return "all " + String(total) + " but " + join(missing, ", ") }
    return String(total - missing.count) + " of " + String(total)
}

func probeCapabilities() -> (Probe, Int?, UInt64?, UInt64?) {
    let lastCap = (try? readTextFile("/proc/sys/kernel/cap_last_cap")).flatMap { parseInt($0.trimmed()) }
    let effective = statusField("CapEff").flatMap { parseHex64($0) }
    let bounding = statusField("CapBnd").flatMap { parseHex64($0) }
    guard let lastCap else {
        return (Probe(name: "capabilities", available: false,
                      detail: "cannot read /proc/sys/kernel/cap_last_cap"), nil, effective, bounding)
    }
    var detail = "last " + capabilityName(lastCap) + " (" + String(lastCap) + ")"
    if let effective { detail += "; effective " + describeCapabilitySet(effective, lastCap: lastCap) }
    if let bounding { detail += "; bounding " + describeCapabilitySet(bounding, lastCap: lastCap) }
    return (Probe(name: "capabilities", available: true, detail: detail), lastCap, effective, bounding)
}

/// binfmt_misc: mounted (seen in mountinfo, so an automount is not triggered), enabled,
/// and the qemu-* handlers that let foreign-architecture images run. `directory` is
/// where the mount's files are read (tests point it at a fake tree).
func probeBinfmt(mountinfo: String, mountPoint: String = "/proc/sys/fs/binfmt_misc",
                 directory: String = "/proc/sys/fs/binfmt_misc") -> (Probe, Bool, [BinfmtHandler]) {
    var mounted = false
    var automount = false
    for line in mountinfo.split(byte: 10) {
        let fields = line.split(byte: 32)
        guard fields.count > 4, fields[4].bytesEqual(mountPoint),
              let dash = fields.firstIndex(where: { $0.bytesEqual("-") }), dash + 1 < fields.count else { continue }
        if fields[dash + 1].bytesEqual("binfmt_misc") { mounted = true }
        if fields[dash + 1].bytesEqual("autofs") { automount = true }
    }
    guard mounted else {
        let why = automount ? "not mounted (an automount point waits at " + mountPoint + ")"
            : "not mounted at " + mountPoint
        return (Probe(name: "binfmt_misc", available: false, detail: why), false, [])
    }
    let enabled = (try? readTextFile(directory + "/status")).map { $0.trimmed().bytesEqual("enabled") } ?? false
    var handlers: [BinfmtHandler] = []
    let names = (try? listDirectory(directory)) ?? []
    for name in names.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where name.hasBytePrefix("qemu-") {
        guard let text = try? readTextFile(directory + "/" + name) else { continue }
        var handler = BinfmtHandler(name: name, enabled: false, interpreter: "", flags: "")
        for line in text.split(byte: 10) {
            if line.bytesEqual("enabled") { handler.enabled = true }
            if line.hasBytePrefix("interpreter ") {
                handler.interpreter = String(decoding: line.utf8.dropFirst(12), as: UTF8.self)
            }
            if line.hasBytePrefix("flags: ") { handler.flags = String(decoding: line.utf8.dropFirst(7), as: UTF8.self) }
        }
        handlers.append(handler)
    }
    var detail = "mounted, " + (enabled ? "enabled" : "disabled")
    if handlers.isEmpty {
        detail += "; no qemu handlers"
    } else {
        var parts: [String] = []
        for h in handlers {
            var part = h.name + " -> " + h.interpreter
            if !h.flags.isEmpty { part += " (flags " + h.flags + ")" }
            if !h.enabled { part += " (disabled)" }
            parts.append(part)
        }
        detail += "; " + join(parts, ", ")
    }
    return (Probe(name: "binfmt_misc", available: enabled, detail: detail), true, handlers)
}
