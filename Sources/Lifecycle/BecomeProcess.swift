import Base
import Capabilities
import CLinux
import OCISpec
import Process
import Seccomp
import Syscalls

// The one sequence that turns a prepared child, the container's init (create, run, fast
// start) or an exec'd process, into the container's process. Its order is the security
// property, so both callers share it instead of keeping copies that can drift.

/// What the last steps need.
struct ProcessTail {
    var process: ProcessSpec
    var caps: ProcessCapabilities?
    var seccomp: SeccompProgram?
    /// The user namespace's setgroups says "deny" (exec reads it from the init).
    var setgroupsDenied: Bool? = nil
    /// Where a filter's notify fd goes, with the container process state sent beside it
    /// (config-linux.md, "listenerPath").
    var listener: FileDescriptor?
    var listenerState: String
    var preserveFDs: Int
    /// Fds that stay open through execve (close-on-exec: their closing tells the runtime).
    var keep: [Int32]
    /// The init limited the bounding set before it waited for `start`.
    var boundingSetLimited = false
}

/// Enters the working directory and verifies it (CVE-2024-21626: no fd or cwd of the host
/// may survive into the container) while nothing can forbid getcwd yet, before a seccomp
/// filter is loaded. False when only the container's user may enter it: `become` enters and
/// verifies it after the user switch.
func enterWorkingDirectory(_ cwd: String) throws(SwiftletError) -> Bool {
    let entered = try ProcessSetup.changeDirectory(cwd, deferOnPermissionDenied: true)
    if entered { try ProcessSetup.verifyWorkingDirectory() }
    return entered
}

/// umask; seccomp before the user switch when no_new_privs is off (loading a filter then
/// needs CAP_SYS_ADMIN); user and capabilities; a deferred working directory; no_new_privs;
/// seccomp when no_new_privs is on (as late as possible); `beforeExec` (hooks, a foreign
/// executable's route); every fd but the kept ones closed; exec.
func become(_ t: ProcessTail, executable: String, env: [String], inCwd: Bool,
            beforeExec: () throws(SwiftletError) -> Void) throws(SwiftletError) -> Never {
    let process = t.process
    // Before no_new_privs, the filter and the capability drop (see Labels).
    try Labels.applyBeforeExec(process)
    ProcessSetup.setUmask(process.user.umask)
    if let seccomp = t.seccomp, !process.noNewPrivileges { try loadSeccomp(seccomp, t) }
    // Ambient capabilities the kernel refuses (not both permitted and inheritable) are
    // dropped silently, as runc does: the container's stderr belongs to the container.
    _ = try ProcessSetup.switchUserAndCapabilities(user: process.user, caps: t.caps, setgroupsDenied: t.setgroupsDenied,
                                                    boundingSetLimited: t.boundingSetLimited)
    if !inCwd {
        try ProcessSetup.changeDirectory(process.cwd)
        try ProcessSetup.verifyWorkingDirectory()
    }
    if process.noNewPrivileges { try ProcessSetup.setNoNewPrivileges() }
    if let seccomp = t.seccomp, process.noNewPrivileges { try loadSeccomp(seccomp, t) }
    t.listener?.close()
    try beforeExec()
    try ProcessSetup.closeFileDescriptors(preserve: t.preserveFDs, except: t.keep)
    try ProcessSetup.exec(path: executable, args: process.args, env: env)
}

/// Loads the filter; a notify fd goes to the listener with the container's process state.
private func loadSeccomp(_ program: SeccompProgram, _ t: ProcessTail) throws(SwiftletError) {
    guard let notify = try program.load() else { return }
    defer { close(notify) }
    guard let listener = t.listener else {
        throw SwiftletError(.seccomp, "seccomp notify rules need linux.seccomp.listenerPath", errno: EINVAL)
    }
    try sendToListener(socket: listener, notifyFD: notify, processStateJSON: t.listenerState)
}

/// A fresh session keyring keeps the host's keys out; kernels (or policies) without
/// keyrings are fine.
func joinSessionKeyring(_ containerID: String, stage: Stage, what: String) throws(SwiftletError) {
    if cl_join_session_keyring("_ses." + containerID) < 0 {
        let e = cl_errno()
        if e != ENOSYS && e != EACCES && e != EPERM && e != EDQUOT {
            throw SwiftletError(stage, what, errno: e)
        }
    }
}
