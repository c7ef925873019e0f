import Base
import CLinux
import OCISpec
import Syscalls

/// The Linux security modules this host enforces, as far as process and mount labels go.
public struct SecurityModules: Equatable, Sendable {
    public var apparmor: Bool
    public var selinux: Bool

    public init(apparmor: Bool, selinux: Bool) {
        self.apparmor = apparmor
        self.selinux = selinux
    }

    /// Asks the running kernel: AppArmor when its module says it is enabled and its
    /// securityfs directory exists; SELinux when selinuxfs is mounted at /sys/fs/selinux.
    public static func probe() -> SecurityModules {
        var apparmor = false
        if isDirectory("/sys/kernel/security/apparmor"),
           let enabled = try? readTextFile("/sys/module/apparmor/parameters/enabled", stage: .process) {
            apparmor = enabled.hasBytePrefix("Y")
        }
        var selinux = false
        if let dir = try? FileDescriptor.open("/sys/fs/selinux", O_PATH | O_DIRECTORY, stage: .process) {
            var fs = statfs()
            selinux = fstatfs(dir.raw, &fs) == 0 && UInt32(truncatingIfNeeded: fs.f_type) == 0xf97c_ff8c   // SELINUX_MAGIC
            dir.close()
        }
        return SecurityModules(apparmor: apparmor, selinux: selinux)
    }
}

/// process.apparmorProfile, process.selinuxLabel and linux.mountLabel: applied where the
/// host enforces the module, refused (one line, before anything exists) where it does not,
/// never dropped without a word. Empty strings mean "none", as clients send them.
public enum Labels {
    /// The decision for one container or exec: throws when a label is given that this host
    /// cannot apply. `what` names where the process came from ("config.json", "process.json").
    public static func check(apparmorProfile: String?, selinuxLabel: String?, mountLabel: String?,
                             host: SecurityModules, what: String) throws(SwiftletError) {
        if let profile = apparmorProfile, !profile.isEmpty, !host.apparmor {
            throw SwiftletError(.process, what + ": process.apparmorProfile \"" + profile
                                + "\": AppArmor is not enabled on this host, the profile cannot be applied", errno: ENOTSUP)
        }
        if let label = selinuxLabel, !label.isEmpty, !host.selinux {
            throw SwiftletError(.process, what + ": process.selinuxLabel \"" + label
                                + "\": SELinux is not enabled on this host, the label cannot be applied", errno: ENOTSUP)
        }
        if let label = mountLabel, !label.isEmpty, !host.selinux {
            throw SwiftletError(.process, what + ": linux.mountLabel \"" + label
                                + "\": SELinux is not enabled on this host, the label cannot be applied", errno: ENOTSUP)
        }
        for (name, value) in [("process.apparmorProfile", apparmorProfile), ("process.selinuxLabel", selinuxLabel),
                              ("linux.mountLabel", mountLabel)] {
            // They are written to procfs and into mount data: one line, no quote to break out of.
            if let value, value.utf8.contains(where: { $0 < 32 || $0 == 127 || $0 == UInt8(ascii: "\"") }) {
                throw SwiftletError(.process, what + ": " + name + ": invalid label", errno: EINVAL)
            }
        }
    }

    /// `check` for a process (and, at create, the container's mount label) on this host.
    public static func check(_ process: ProcessSpec?, mountLabel: String?, what: String) throws(SwiftletError) {
        let profile = process?.apparmorProfile
        let label = process?.selinuxLabel
        let anything = !(profile ?? "").isEmpty || !(label ?? "").isEmpty || !(mountLabel ?? "").isEmpty
        if !anything { return }
        try check(apparmorProfile: profile, selinuxLabel: label, mountLabel: mountLabel, host: .probe(), what: what)
    }

    /// The container's mounts with linux.mountLabel as their `context=` option: every new
    /// file system except proc, sysfs and cgroups (which carry their own labels) and binds
    /// (which keep the source's). A mount that names its own context keeps it.
    public static func labelledMounts(_ mounts: [MountSpec], mountLabel: String?) -> [MountSpec] {
        guard let label = mountLabel, !label.isEmpty else { return mounts }
        var out = mounts
        for i in out.indices where takesMountLabel(out[i]) {
            out[i].options.append("context=\"" + label + "\"")
        }
        return out
    }

    static func takesMountLabel(_ m: MountSpec) -> Bool {
        let type = m.type ?? ""
        for skipped in ["", "bind", "proc", "sysfs", "cgroup", "cgroup2"] where type.bytesEqual(skipped) { return false }
        for o in m.options where o.bytesEqual("bind") || o.bytesEqual("rbind") || o.hasBytePrefix("context=") { return false }
        return true
    }

    /// Labels the next execve of the calling thread: AppArmor's exec profile, SELinux's exec
    /// context; they wait in the thread's attr files until that execve. Call it in the
    /// container's root as the last step before no_new_privs, the seccomp filter and the
    /// capability drop: AppArmor refuses exec transitions under no_new_privs, and a filter may
    /// forbid the open and write. Writes only through a procfs that is checked to be one (the
    /// container's /proc may not be what it claims). Does nothing for empty labels; `check`
    /// has refused what this host cannot apply.
    public static func applyBeforeExec(_ process: ProcessSpec) throws(SwiftletError) {
        let profile = process.apparmorProfile ?? ""
        let label = process.selinuxLabel ?? ""
        if profile.isEmpty && label.isEmpty { return }
        let proc = try ProcfsHandle.open()
        defer { proc.close() }
        if !profile.isEmpty {
            // The per-module file first (stacked LSMs, Linux 5.1+), then the shared one.
            let file = try proc.openThreadAttr("attr/apparmor/exec", fallback: "attr/exec")
            defer { file.close() }
            try write(file, "exec " + profile, what: "AppArmor profile " + profile)
        }
        if !label.isEmpty {
            let file = try proc.openThreadAttr("attr/exec", fallback: nil)
            defer { file.close() }
            try write(file, label, what: "SELinux label " + label)
        }
    }

    private static func write(_ file: FileDescriptor, _ text: String, what: String) throws(SwiftletError) {
        do throws(SwiftletError) {
            try file.writeAll(text, stage: .process)
        } catch {
            throw SwiftletError(.process, "apply " + what, errno: error.errno)
        }
    }
}

/// The calling thread's attribute files, below a checked /proc (see ProcFS).
struct ProcfsHandle {
    let dir: FileDescriptor

    static func open() throws(SwiftletError) -> ProcfsHandle { ProcfsHandle(dir: try ProcFS.openDirectory("/proc")) }

    func close() { dir.close() }

    /// A file of the calling thread (`relative` below /proc/thread-self) opened for writing.
    /// The thread's directory is what procfs itself says thread-self is; the kernel lets a
    /// thread write only its own attributes, so no other thread's can be reached this way.
    func openThreadAttr(_ relative: String, fallback: String?) throws(SwiftletError) -> FileDescriptor {
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { raw in
            readlinkat(dir.raw, "thread-self", raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
        }
        guard n > 0, n < buffer.count else { throw .system(.process, "readlink /proc/thread-self") }
        let thread = String(decoding: buffer[0..<n], as: UTF8.self)
        do throws(SwiftletError) {
            return try ProcFS.open(thread + "/" + relative, in: dir, flags: O_WRONLY)
        } catch {
            guard error.errno == ENOENT, let fallback else { throw error }
            return try ProcFS.open(thread + "/" + fallback, in: dir, flags: O_WRONLY)
        }
    }
}
