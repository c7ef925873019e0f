import Base
import CLinux
import Hooks
import Mounts
import Namespaces
import OCISpec
import Syscalls

/// A runtime started by a user other than root: its containers need a user namespace,
/// its state lives in the user's runtime directory, and cgroups are used only where root
/// delegated one. Fixed by the first look (Runtime.init takes it): a rootless exec later
/// joins the container's user namespace, where its user is root.
public let isRootless: Bool = geteuid() != 0

/// Root of a user namespace other than the host's (rootless podman starts its runtime so):
/// privileged over its own namespaces, not over the host's cgroups, and its state belongs
/// in the user's runtime directory too. Fixed by the first look, as isRootless.
public let inUserNamespace: Bool = {
    guard let map = try? readTextFile("/proc/self/uid_map") else { return false }
    let fields = map.split(byte: 10).first?.split(byte: 32).filter { !$0.isEmpty } ?? []
    return !(fields.count == 3 && fields[0] == "0" && fields[1] == "0" && fields[2] == "4294967295")
}()

/// No say over the host's cgroups: unprivileged, or root of a user namespace only.
var withoutHostCgroups: Bool { isRootless || inUserNamespace }

/// The state root when --root is not given: /run/swiftlet for root; for anyone else
/// $XDG_RUNTIME_DIR/swiftlet (runc's rule), or, when that is unset, a directory of the
/// user's own in /tmp, with a note saying so.
public func defaultStateRoot() -> (root: String, note: String?) {
    if !isRootless {
        // Root of a user namespace uses XDG_RUNTIME_DIR only if it is its own (runc's rule):
        // a root shell that kept a user's variable must not write there.
        var st = stat()
        if inUserNamespace, let dir = environment("XDG_RUNTIME_DIR"), dir.hasBytePrefix("/"),
           stat(dir, &st) == 0, st.st_uid == geteuid() {
            return (dir + "/swiftlet", nil)
        }
        return ("/run/swiftlet", nil)
    }
    if let dir = environment("XDG_RUNTIME_DIR"), dir.hasBytePrefix("/") { return (dir + "/swiftlet", nil) }
    let fallback = "/tmp/swiftlet-" + String(geteuid())
    // The re-executed read-only image (see RuntimeImage) runs the same command again: the
    // first image has said it.
    if getenv(RuntimeImage.marker) != nil { return (fallback, nil) }
    return (fallback, "XDG_RUNTIME_DIR is not set: keeping container state in " + fallback
            + " (set XDG_RUNTIME_DIR or pass --root to choose)")
}

/// A state root a rootless runtime may trust: a real directory of its own that nobody
/// else can write (one in a shared directory such as /tmp may have been made by another
/// user to read or plant state).
func checkOwnStateRoot(_ root: String) throws(SwiftletError) {
    var st = stat()
    guard lstat(root, &st) == 0 else { throw .system(.state, "stat " + root) }
    guard cl_s_isdir(st.st_mode) != 0, st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else {
        throw SwiftletError(.state, "state root " + root + " is not a directory of uid " + String(geteuid())
                            + " that only it can write", errno: EPERM)
    }
}

/// Writes the id maps of the init `pid` of a rootless container. The kernel lets a user
/// write one line mapping its own effective id (a gid only after setgroups is denied);
/// anything more goes through the setuid helpers newuidmap/newgidmap, which check the
/// ranges against /etc/subuid and /etc/subgid.
func writeRootlessIDMappings(pid: Int32, uid: [IDMapping], gid: [IDMapping]) throws(SwiftletError) {
    let proc = "/proc/" + String(pid) + "/"
    let ownUID = uid.count == 1 && uid[0].size == 1 && uid[0].hostID == geteuid()
    let ownGID = gid.count == 1 && gid[0].size == 1 && gid[0].hostID == getegid()
    if !uid.isEmpty {
        if ownUID {
            try writeFile(proc + "uid_map", Namespaces.mappingText(uid), stage: .namespaces)
        } else {
            try runIDMapHelper("newuidmap", pid: pid, uid)
        }
    }
    if !gid.isEmpty {
        if ownGID {
            // Without this the kernel refuses an unprivileged gid_map (CVE-2014-8989).
            try writeFile(proc + "setgroups", "deny", stage: .namespaces)
            try writeFile(proc + "gid_map", Namespaces.mappingText(gid), stage: .namespaces)
        } else {
            try runIDMapHelper("newgidmap", pid: pid, gid)
        }
    }
}

/// Runs newuidmap or newgidmap for `pid`; its refusal becomes one line naming the helper,
/// the ranges and what it said.
func runIDMapHelper(_ name: String, pid: Int32, _ maps: [IDMapping]) throws(SwiftletError) {
    var ranges = ""
    var args = [name, String(pid)]
    for m in maps {
        args += [String(m.containerID), String(m.hostID), String(m.size)]
        if !ranges.isEmpty { ranges += ", " }
        ranges += String(m.containerID) + ":" + String(m.hostID) + ":" + String(m.size)
    }
    guard let path = ["/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"].map({ $0 + name }).first(where: { access($0, X_OK) == 0 }) else {
        throw SwiftletError(.namespaces, "map " + ranges + ": " + name + " not found (install uidmap) and only the caller's own id maps without it",
                            errno: ENOENT)
    }
    var hook = Hook(path: path)
    hook.args = args
    hook.env = ["PATH=/usr/bin:/bin"]
    hook.timeout = 10
    let outcome = try Hooks.spawn(hook, state: "")
    guard outcome.status != 0 || outcome.timedOut else { return }
    var said = String(decoding: outcome.stderr, as: UTF8.self)
    // One line: the helper's last non-empty one.
    said = said.split(byte: 10).last(where: { !$0.isEmpty }) ?? ("exit status " + String((outcome.status >> 8) & 0xff))
    throw SwiftletError(.namespaces, name + " refused " + ranges + ": " + said, errno: EPERM)
}
