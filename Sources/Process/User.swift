import Base
import Capabilities
import CLinux
import OCISpec
import Syscalls

extension ProcessSetup {

    /// Becomes process.user with process.capabilities, in the order runc and crun use:
    ///  1. drop from the bounding set everything not in caps.bounding (needs CAP_SETPCAP,
    ///     which we still have);
    ///  2. PR_SET_KEEPCAPS, so the permitted set survives the switch away from uid 0;
    ///  3. hand the stdio fds to the new uid (so a non-root user can use its terminal);
    ///  4. setgroups(additionalGids) — skipped when /proc/self/setgroups says "deny"
    ///     (an unprivileged user namespace) — then setresgid, then setresuid;
    ///  5. clear PR_SET_KEEPCAPS, capset(effective, permitted, inheritable);
    ///  6. clear the ambient set and raise caps.ambient.
    /// With `caps` nil (no process.capabilities) the sets are left as they are and only
    /// the user changes, as in runc. Capabilities this kernel does not have are left out.
    /// Returns warnings: capabilities that could not be granted (the spec asks for a
    /// warning, not a failure, there).
    @discardableResult
    /// `setgroupsDenied` is what /proc/PID/setgroups of the user namespace says; nil reads
    /// the caller's own.
    /// `boundingSetLimited`: step 1 was done already (limitBoundingSet, by a container's init
    /// before it waits for `start`).
    public static func switchUserAndCapabilities(user: User, caps: ProcessCapabilities?,
                                                 setgroupsDenied: Bool? = nil,
                                                 boundingSetLimited: Bool = false) throws(SwiftletError) -> [String] {
        var warnings: [String] = []
        let last = lastCapability()
        if let caps {
            let requested = caps.bounding.bits | caps.effective.bits | caps.permitted.bits
                | caps.inheritable.bits | caps.ambient.bits
            let unsupported = CapabilitySet(bits: requested & ~CapabilitySet.all(upTo: last).bits)
            if !unsupported.isEmpty {
                warnings.append("capabilities not supported by this kernel: " + join(unsupported.names, ", "))
            }
            if !boundingSetLimited { try limitBoundingSet(caps, last: last) }
        }
        try CapabilityOps.setKeepCapabilities(true)
        try fixStdioOwnership(uid: user.uid)
        try setGroups(user.additionalGids, denied: setgroupsDenied ?? setgroupsDeniedIn(pid: getpid()))
        if setresgid(user.gid, user.gid, user.gid) != 0 {
            let e = cl_errno()
            if e == EINVAL {
                throw SwiftletError(.process, "cannot setgid to unmapped gid " + String(user.gid) + " in user namespace", errno: e)
            }
            throw SwiftletError(.process, "setresgid " + String(user.gid), errno: e)
        }
        if setresuid(user.uid, user.uid, user.uid) != 0 {
            let e = cl_errno()
            if e == EINVAL {
                throw SwiftletError(.process, "cannot setuid to unmapped uid " + String(user.uid) + " in user namespace", errno: e)
            }
            throw SwiftletError(.process, "setresuid " + String(user.uid), errno: e)
        }
        try CapabilityOps.setKeepCapabilities(false)
        guard let caps else { return warnings }
        do throws(SwiftletError) {
            try CapabilityOps.set(effective: caps.effective.limited(to: last),
                                  permitted: caps.permitted.limited(to: last),
                                  inheritable: caps.inheritable.limited(to: last))
        } catch {
            throw error.context("unable to apply caps")
        }
        let refused = try CapabilityOps.setAmbient(caps.ambient.limited(to: last), permitted: caps.permitted,
                                                   inheritable: caps.inheritable, last: last)
        if !refused.isEmpty {
            warnings.append("can't raise ambient capabilities (not both permitted and inheritable): " + join(refused, ", "))
        }
        return warnings
    }

    /// Step 1 of switchUserAndCapabilities alone. The bounding set only limits what exec and
    /// capset can grant later, so a container's init applies it before it waits for `start`
    /// (a fast start replaces no capabilities): one system call per capability less on the
    /// way from `start` to the process (a round trip to the guest kernel each in the UML tier).
    public static func limitBoundingSet(_ caps: ProcessCapabilities, last: Int32 = lastCapability()) throws(SwiftletError) {
        do throws(SwiftletError) {
            try CapabilityOps.limitBoundingSet(to: caps.bounding, last: last)
        } catch {
            throw error.context("unable to apply bounding set")
        }
    }

    /// setgroups(2) with exactly `gids` (also when empty: the runtime's own supplementary
    /// groups must not reach the container), unless the user namespace forbids it.
    static func setGroups(_ gids: [UInt32], denied: Bool) throws(SwiftletError) {
        if denied { return }
        let rc = gids.withUnsafeBufferPointer { setgroups($0.count, $0.baseAddress) }
        if rc != 0 { throw .system(.process, "setgroups") }
    }

    /// Whether the user namespace of `pid` (as /proc sees it) forbids setgroups(2).
    public static func setgroupsDeniedIn(pid: Int32, procRoot: String = "/proc") -> Bool {
        guard let text = try? ProcFS.read(String(pid) + "/setgroups", procRoot: procRoot) else { return false }
        return text.trimmed().bytesEqual("deny")
    }

    /// Gives stdin/stdout/stderr to `uid` unless they are /dev/null or already its own,
    /// as runc does. EPERM (owner not mapped in our user namespace) and EROFS are ignored:
    /// better to leave stdio alone than to fail the start.
    public static func fixStdioOwnership(uid: UInt32) throws(SwiftletError) {
        var null = stat()
        let haveNull = stat("/dev/null", &null) == 0 && cl_s_ischr(null.st_mode) != 0
        for fd in Int32(0)...2 {
            var st = stat()
            if fstat(fd, &st) != 0 {
                if cl_errno() == EBADF { continue }   // a closed stdio fd has no owner to fix
                throw .system(.process, "fstat fd " + String(fd))
            }
            if st.st_uid == uid { continue }
            if haveNull && cl_s_ischr(st.st_mode) != 0 && st.st_rdev == null.st_rdev { continue }
            if fchown(fd, uid, UInt32.max) != 0 {
                let e = cl_errno()
                if e == EPERM || e == EROFS || e == EINVAL { continue }
                throw SwiftletError(.process, "fchown fd " + String(fd) + " to uid " + String(uid), errno: e)
            }
        }
    }
}
