import Base
import CLinux
import Syscalls

/// linux.sysctl: only keys that the container's own namespaces isolate may be set, so
/// that a config cannot change the host's kernel (the rules of runc's validator).
public enum Sysctl {

    /// IPC-namespaced keys besides fs.mqueue.*.
    static let ipcKeys = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                          "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]

    /// A key in dotted form. Keys may also be written with slashes
    /// ("net/ipv4/conf/eth0.100/forwarding", needed when a name holds a dot); those have
    /// their dots and slashes swapped, as runc does.
    public static func canonicalKey(_ key: String) -> String {
        guard let firstSeparator = key.utf8.first(where: { $0 == 46 || $0 == 47 }), firstSeparator == 47 else { return key }
        return String(decoding: key.utf8.map { $0 == 46 ? 47 : ($0 == 47 ? 46 : $0) }, as: UTF8.self)
    }

    /// The file below /proc/sys for a dotted key (a "/" in it stands for a dot in a name).
    public static func relativePath(_ canonical: String) -> String {
        String(decoding: canonical.utf8.map { $0 == 46 ? 47 : ($0 == 47 ? 46 : $0) }, as: UTF8.self)
    }

    /// Checks one key; returns its path below /proc/sys.
    /// `hasNetworkNamespace` must be false when the container joins the host's network
    /// namespace by path (the caller knows; runc compares the namespace inodes).
    public static func validate(_ key: String, hasNetworkNamespace: Bool, hasIPCNamespace: Bool,
                                hasUTSNamespace: Bool, hasUserNamespace: Bool = false) throws(SwiftletError) -> String {
        let k = canonicalKey(key)
        // Every component must be a name: not empty, not "." or ".." (written "/" and "//"
        // in dotted form), no white space or control bytes.
        for part in k.split(byte: 46) {
            let bad = part.isEmpty || part.utf8.allSatisfy { $0 == 47 } || part.utf8.contains { $0 <= 32 || $0 == 127 }
            if bad { throw SwiftletError(.process, "sysctl \"" + key + "\" is not a valid sysctl name", errno: EINVAL) }
        }
        if ipcKeys.contains(where: { $0.bytesEqual(k) }) || k.hasBytePrefix("fs.mqueue.") {
            if hasIPCNamespace { return relativePath(k) }
            throw SwiftletError(.process, "sysctl \"" + k + "\" is not allowed in the hosts ipc namespace", errno: EINVAL)
        }
        if k.hasBytePrefix("net.") {
            if hasNetworkNamespace { return relativePath(k) }
            throw SwiftletError(.process, "sysctl \"" + k + "\" not allowed in host network namespace", errno: EINVAL)
        }
        if hasUTSNamespace {
            if k.bytesEqual("kernel.domainname") { return relativePath(k) }
            if k.bytesEqual("kernel.hostname") {
                throw SwiftletError(.process, "sysctl \"" + k + "\" is not allowed as it conflicts with the OCI \"hostname\" field", errno: EINVAL)
            }
        }
        if k.hasBytePrefix("user.") {
            if hasUserNamespace { return relativePath(k) }
            throw SwiftletError(.process, "setting ucounts without a user namespace not allowed: " + k, errno: EINVAL)
        }
        throw SwiftletError(.process, "sysctl \"" + k + "\" is not in a separate kernel namespace", errno: EINVAL)
    }

    /// Validates every entry first (nothing is written if one is refused), then writes
    /// each value to /proc/sys/<key>. Call after the container's /proc is mounted and the
    /// root entered, before /proc/sys is made read-only. The files are opened below a
    /// /proc/sys that is checked to be procfs, refusing symlinks.
    public static func apply(_ entries: [(String, String)], hasNetworkNamespace: Bool, hasIPCNamespace: Bool,
                             hasUTSNamespace: Bool, hasUserNamespace: Bool = false,
                             procSys: String = "/proc/sys") throws(SwiftletError) {
        if entries.isEmpty { return }
        var paths: [String] = []
        for (key, _) in entries {
            paths.append(try validate(key, hasNetworkNamespace: hasNetworkNamespace, hasIPCNamespace: hasIPCNamespace,
                                      hasUTSNamespace: hasUTSNamespace, hasUserNamespace: hasUserNamespace))
        }
        let dir = try ProcFS.openDirectory(procSys)
        defer { dir.close() }
        for (i, (key, value)) in entries.enumerated() {
            let file: FileDescriptor
            do throws(SwiftletError) {
                file = try ProcFS.open(paths[i], in: dir, flags: O_WRONLY | O_TRUNC)
            } catch {
                throw SwiftletError(.process, "open sysctl " + key + " file", errno: error.errno)
            }
            defer { file.close() }
            do throws(SwiftletError) {
                try file.writeAll(value, stage: .process)
            } catch {
                throw SwiftletError(.process, "failed to write sysctl " + key + " = \"" + value + "\"", errno: error.errno)
            }
        }
    }
}
